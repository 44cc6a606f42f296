/* The cost guard (see include/guichet/guard.h): per-number windows, loop detection, sender
 * patterns, destination prefixes and the daily spend cap. Pure: the time comes in. */
#include <fnmatch.h>
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/stat_item.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"
#include "guichet/metrics.h"

#define WAYS 8			/* entries per bucket: a lookup looks at one cache line or two */
#define TEXT_LETTERS 64		/* letters of a text that its loop hash looks at */
#define LOOP_MIN_LETTERS 4	/* shorter answers (menu digits, OUI) never count as a loop */
#define WARN_PERCENT 80

enum {
	F_NOTICED = 1,		/* the polite text went out for the current block */
	F_DAY_NOTICED = 2,	/* ... for the day limit */
	F_REPLIED = 4,		/* a reply went to this number since its last inbound */
	F_LOGGED_IGNORED = 8,	/* the ignored/refused line was written today */
	F_LOGGED_USSD = 16,	/* the USSD limit line was written this minute */
};

/* A bucket's directory, one cache line: a lookup reads it and then only the entry it finds;
 * on a miss, the least recently seen is found without touching the entries. */
struct guard_bucket {
	uint32_t tag[WAYS];	/* high bits of the key; 0: free */
	uint32_t seen[WAYS];	/* last inbound, dialogue or reply, unix seconds */
};

/* One number. 48 bytes (and 8 in its bucket); times are unix seconds (uint32 holds them until 2106). */
struct guard_entry {
	uint64_t key;		/* hash of the number */
	uint32_t min_start;	/* start of the current one-minute window */
	uint32_t blocked_until;
	uint32_t muted_until;
	uint32_t last_reply;
	uint32_t text_hash;	/* of the last inbound long enough to compare */
	uint32_t ussd_min_start;
	uint16_t day;		/* UTC day, low 16 bits */
	uint16_t min_count, day_count;
	uint16_t ussd_min_count, ussd_day_count;
	uint8_t streak;		/* quick near-identical answers in a row */
	uint8_t flags;
};

struct spend {
	char *via;		/* NULL: the total */
	uint64_t parts, cap;
	bool warned, hit;
	struct osmo_stat_item_group *gauge;	/* per transport: today's parts on /metrics */
};

struct guard {
	struct guard_config cfg;	/* strings owned by the guard */
	struct guard_entry *table;
	struct guard_bucket *buckets;	/* cache-line aligned, inside buckets_mem */
	void *buckets_mem;
	unsigned n_buckets;		/* a power of two */
	struct guard_entry *last;	/* the last entry looked up: the reply's number is
					 * usually the one that just wrote */
	int64_t day;			/* of the spend below */
	struct spend total;
	struct spend *via;
	unsigned n_via;
	struct rate_ctr_group *ctrs;
};

static const struct rate_ctr_desc guard_ctr_desc[] = {
	[GUARD_CTR_LIMITED] = { "limited", "SMS not processed: the number is past the per-number limits" },
	[GUARD_CTR_NOTICES] = { "notices", "Polite `limited` texts sent (one per block of a number)" },
	[GUARD_CTR_MUTED] = { "muted", "SMS not processed: a reply loop with another robot" },
	[GUARD_CTR_LOOPS] = { "loops", "Reply loops recognised and muted" },
	[GUARD_CTR_IGNORED] = { "ignored", "SMS from senders never answered (alphanumeric, short codes, patterns)" },
	[GUARD_CTR_REFUSED] = { "refused_destination", "SMS from, or replies to, numbers outside the allowed destinations" },
	[GUARD_CTR_CAPPED] = { "capped", "SMS not processed or replies not sent: the daily spend cap" },
	[GUARD_CTR_USSD_LIMITED] = { "ussd_limited", "USSD dialogues ended at once: past the per-number rate" },
};
static const struct rate_ctr_group_desc guard_ctrg_desc = {
	.group_name_prefix = "guard",
	.group_description = "What the cost guard stopped",
	.num_ctr = _GUARD_CTR_N,
	.ctr_desc = guard_ctr_desc,
};

/* The day's spend per transport as a gauge, guichet_guard_spend_today_parts{name="via"}:
 * what the cap is compared with, so an operator sees it coming. */
static const struct osmo_stat_item_desc spend_stat_desc[] = {
	{ "spend_today_parts", "SMS parts sent through this transport today (UTC), as counted "
	  "against the spend cap", "parts", 4, 0 },
};
static const struct osmo_stat_item_group_desc spend_statg_desc = {
	.group_name_prefix = "guard",
	.group_description = "The cost guard's spend of the day, per transport",
	.num_items = 1,
	.item_desc = spend_stat_desc,
};

/* Sets s's gauge to its parts (a transport's spend only; the total is their sum). */
static void spend_publish(const struct spend *s)
{
	if (s && s->gauge)
		osmo_stat_item_set(osmo_stat_item_group_get_item(s->gauge, 0),
				   s->parts > INT32_MAX ? INT32_MAX : (int32_t)s->parts);
}

static void count(struct guard *g, enum guard_ctr which)
{
	rate_ctr_inc2(g->ctrs, which);
}

uint64_t guard_counter(const struct guard *g, enum guard_ctr which)
{
	return rate_ctr_group_get_ctr(g->ctrs, which)->current;
}

int64_t guard_day(int64_t now)
{
	return now >= 0 ? now / 86400 : -1;
}

void guard_config_defaults(struct guard_config *c)
{
	/* French mobiles and the overseas departments' mobile ranges (ARCEP): Réunion 0692/0693,
	 * Mayotte 0639 (country code 262 since 2007; +269 is the Comoros), Guadeloupe, Saint-Martin
	 * and Saint-Barthélemy 0690/0691, Guyane 0694, Martinique 0696/0697, and Saint-Pierre-et-
	 * Miquelon's whole +508 (six-digit plan, few numbers). */
	static const char *allow[] = { "+336", "+337", "+26269", "+262639", "+590690", "+590691",
				       "+594694", "+596696", "+596697", "+508" };
	static const char *ignore[] = { "alphanumeric", "short" };

	*c = (struct guard_config){
		.per_minute = 10, .per_day = 200, .block_s = 3600,
		.ussd_per_minute = 5, .ussd_per_day = 100,
		.loop_window_s = 10, .loop_exchanges = 4, .loop_mute_s = 3600,
		.n_ignore = 2, .ignore = ignore,
		.n_allow = sizeof(allow) / sizeof(allow[0]), .allow = allow,
		.daily_parts = 0, .capped_in_procedure = true, .max_numbers = 65536,
	};
}

/* ---- configuration ---- */

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 1;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

static const char **dup_list(void *ctx, const char *const *l, unsigned n)
{
	const char **d = talloc_zero_array(ctx, const char *, n ? n : 1);

	for (unsigned i = 0; d && i < n; i++)
		d[i] = talloc_strdup(d, l[i]);
	return d;
}

static struct spend *spend_of(struct guard *g, const char *via, bool create)
{
	for (unsigned i = 0; i < g->n_via; i++)
		if (strcmp(g->via[i].via, via) == 0)
			return &g->via[i];
	if (!create)
		return NULL;
	struct spend *n = talloc_realloc(g, g->via, struct spend, g->n_via + 1);
	if (!n)
		return NULL;
	g->via = n;
	n = &g->via[g->n_via++];
	*n = (struct spend){ .via = talloc_strdup(g, via) };
	n->gauge = metrics_stat_group(g, &spend_statg_desc, via);
	for (unsigned i = 0; i < g->cfg.n_caps; i++)
		if (strcmp(g->cfg.caps[i].via, via) == 0)
			n->cap = g->cfg.caps[i].parts;
	return n;
}

void guard_configure(struct guard *g, const struct guard_config *cfg)
{
	void *old = talloc_new(g);
	unsigned buckets;

	/* The old strings go with the old configuration, once the new one is in place. */
	if (g->cfg.ignore)
		talloc_steal(old, g->cfg.ignore);
	if (g->cfg.allow)
		talloc_steal(old, g->cfg.allow);
	if (g->cfg.caps)
		talloc_steal(old, g->cfg.caps);
	g->cfg = *cfg;
	g->cfg.ignore = dup_list(g, cfg->ignore, cfg->n_ignore);
	g->cfg.allow = dup_list(g, cfg->allow, cfg->n_allow);
	g->cfg.caps = talloc_zero_array(g, struct guard_cap, cfg->n_caps ? cfg->n_caps : 1);
	for (unsigned i = 0; g->cfg.caps && i < cfg->n_caps; i++) {
		g->cfg.caps[i].via = talloc_strdup(g->cfg.caps, cfg->caps[i].via);
		g->cfg.caps[i].parts = cfg->caps[i].parts;
	}
	g->total.cap = cfg->daily_parts;
	for (unsigned i = 0; i < g->n_via; i++) {
		g->via[i].cap = 0;
		for (unsigned j = 0; j < cfg->n_caps; j++)
			if (strcmp(cfg->caps[j].via, g->via[i].via) == 0)
				g->via[i].cap = cfg->caps[j].parts;
	}
	for (unsigned j = 0; j < cfg->n_caps; j++)
		spend_of(g, cfg->caps[j].via, true);

	buckets = pow2_at_least((cfg->max_numbers ? cfg->max_numbers : 1) / WAYS + 1);
	if (buckets != g->n_buckets || !g->table) {
		talloc_free(g->table);
		talloc_free(g->buckets_mem);
		g->last = NULL;
		g->table = talloc_zero_array(g, struct guard_entry, buckets * WAYS);
		g->buckets_mem = talloc_zero_size(g, (size_t)buckets * sizeof(struct guard_bucket) + 64);
		if (!g->table || !g->buckets_mem) {
			talloc_free(g->table);
			talloc_free(g->buckets_mem);
			g->table = NULL;
			g->buckets_mem = NULL;
			g->n_buckets = 0;
		} else {
			uintptr_t a = ((uintptr_t)g->buckets_mem + 63) & ~(uintptr_t)63;
			g->buckets = (struct guard_bucket *)a;
			g->n_buckets = buckets;
		}
	}
	talloc_free(old);
}

struct guard *guard_create(void *ctx, const struct guard_config *cfg)
{
	struct guard *g = talloc_zero(ctx, struct guard);

	if (!g)
		return NULL;
	g->day = -1;
	guard_configure(g, cfg);
	g->ctrs = metrics_ctr_group(g, &guard_ctrg_desc, NULL);
	if (!g->table || !g->ctrs) {
		talloc_free(g);
		return NULL;
	}
	return g;
}

const struct guard_config *guard_config(const struct guard *g)
{
	return &g->cfg;
}

const char *guard_reason_name(enum guard_reason r)
{
	switch (r) {
	case GUARD_OK: return "ok";
	case GUARD_LIMITED: return "limited";
	case GUARD_MUTED: return "muted";
	case GUARD_IGNORED: return "ignored";
	case GUARD_REFUSED: return "refused_destination";
	case GUARD_CAPPED: return "capped";
	}
	return "?";
}

/* ---- numbers ---- */

static uint64_t number_key(const char *number)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)number; *p; p++) {
		if (*p == ' ')
			continue;
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	return h ? h : 1;
}

static bool busy(const struct guard_entry *e, uint32_t now)
{
	return e->blocked_until > now || e->muted_until > now;
}

/* The entry of number, created (evicting the least recently seen of its bucket, preferably
 * one not blocked or muted) when absent; marked seen at now. Never NULL. */
static struct guard_entry *entry_of(struct guard *g, const char *number, uint32_t now)
{
	uint64_t key = number_key(number);
	size_t idx = key & (g->n_buckets - 1);
	struct guard_bucket *b = &g->buckets[idx];
	struct guard_entry *e = &g->table[idx * WAYS];
	uint32_t tag = (uint32_t)(key >> 32) | 1;
	unsigned victim = 0;

	if (g->last && g->last->key == key) {
		b->seen[g->last - e] = now;
		return g->last;
	}
	for (unsigned i = 0; i < WAYS; i++) {
		if (b->tag[i] == tag && e[i].key == key) {
			b->seen[i] = now;
			return g->last = &e[i];
		}
	}
	for (unsigned i = 0; i < WAYS; i++) {
		if (!b->tag[i]) {
			victim = i;
			goto take;
		}
		if (b->seen[i] < b->seen[victim])
			victim = i;
	}
	if (busy(&e[victim], now)) {
		/* Rare: look at the entries for the oldest one neither blocked nor muted. */
		int best = -1;
		for (unsigned i = 0; i < WAYS; i++)
			if (!busy(&e[i], now) && (best < 0 || b->seen[i] < b->seen[best]))
				best = (int)i;
		if (best >= 0)
			victim = (unsigned)best;
	}
take:
	b->tag[victim] = tag;
	b->seen[victim] = now;
	e[victim] = (struct guard_entry){ .key = key };
	return g->last = &e[victim];
}

static void roll_windows(struct guard_entry *e, uint32_t now)
{
	uint16_t day = (uint16_t)(now / 86400);

	if (e->day != day) {
		e->day = day;
		e->day_count = 0;
		e->ussd_day_count = 0;
		e->flags &= (uint8_t)~(F_DAY_NOTICED | F_LOGGED_IGNORED);
	}
	if (now - e->min_start >= 60 || now < e->min_start) {
		e->min_start = now;
		e->min_count = 0;
	}
	if (now - e->ussd_min_start >= 60 || now < e->ussd_min_start) {
		e->ussd_min_start = now;
		e->ussd_min_count = 0;
		e->flags &= (uint8_t)~F_LOGGED_USSD;
	}
}

static void bump(uint16_t *c)
{
	if (*c < UINT16_MAX)
		(*c)++;
}

/* A hash of what the text says, ignoring digits, punctuation, spaces and case, so that
 * "Code 4812, merci" and "code 4813 merci !" look the same. 0 when it has too few letters
 * to tell a robot from a person answering a menu. */
static uint32_t text_hash(const char *text)
{
	uint32_t h = 2166136261u;
	unsigned letters = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p && letters < TEXT_LETTERS;
	     p++) {
		unsigned char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || c >= 0x80) {
			if (c < 0x80 || c >= 0xc0)
				letters++;	/* an ASCII letter or the first byte of a UTF-8 one */
			h ^= c;
			h *= 16777619u;
		}
	}
	if (letters < LOOP_MIN_LETTERS)
		return 0;
	return h ? h : 1;
}

/* ---- patterns ---- */

static bool is_alphanumeric(const char *s)
{
	for (; *s; s++)
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
			return true;
	return false;
}

/* A short code: digits only, no '+', at most 8 of them (French SMS short numbers have 5). */
static bool is_short(const char *s)
{
	size_t n = 0;

	if (!*s)
		return true;	/* no sender at all: nobody to answer */
	for (; *s; s++, n++)
		if (*s < '0' || *s > '9')
			return false;
	return n <= 8;
}

bool guard_sender_ignored(const struct guard *g, const char *number)
{
	if (!number)
		return true;
	for (unsigned i = 0; i < g->cfg.n_ignore; i++) {
		const char *p = g->cfg.ignore[i];
		if (strcmp(p, "alphanumeric") == 0) {
			if (is_alphanumeric(number))
				return true;
		} else if (strcmp(p, "short") == 0) {
			if (is_short(number))
				return true;
		} else if (fnmatch(p, number, 0) == 0) {
			return true;
		}
	}
	return false;
}

bool guard_destination_allowed(const struct guard *g, const char *number)
{
	if (!number || !*number)
		return false;
	for (unsigned i = 0; i < g->cfg.n_allow; i++) {
		const char *p = g->cfg.allow[i];
		if (p[0] == '*' && !p[1])
			return true;
		if (strncmp(number, p, strlen(p)) == 0)
			return true;
	}
	return false;
}

/* ---- inbound ---- */

struct guard_decision guard_sms_in(struct guard *g, const char *from, const char *text,
				   int64_t now_s)
{
	struct guard_decision d = { GUARD_PROCESS, GUARD_OK, false };
	uint32_t now = (uint32_t)now_s;
	bool ignored = guard_sender_ignored(g, from);
	bool refused = !ignored && !guard_destination_allowed(g, from);
	struct guard_entry *e = entry_of(g, from ? from : "", now);

	roll_windows(e, now);
	bump(&e->min_count);
	bump(&e->day_count);
	bool replied = e->flags & F_REPLIED;
	e->flags &= (uint8_t)~F_REPLIED;

	if (ignored || refused) {
		d.verdict = GUARD_SILENT;
		d.reason = ignored ? GUARD_IGNORED : GUARD_REFUSED;
		d.first = !(e->flags & F_LOGGED_IGNORED);
		e->flags |= F_LOGGED_IGNORED;
		if (ignored)
			count(g, GUARD_CTR_IGNORED);
		else
			count(g, GUARD_CTR_REFUSED);
		return d;
	}
	if (e->muted_until > now) {
		count(g, GUARD_CTR_MUTED);
		return (struct guard_decision){ GUARD_SILENT, GUARD_MUTED, false };
	}

	/* Another robot: it answers each of our replies within seconds, saying the same. */
	uint32_t h = text ? text_hash(text) : 0;
	if (h && g->cfg.loop_exchanges) {
		bool quick = replied && now - e->last_reply <= g->cfg.loop_window_s;
		if (quick && h == e->text_hash) {
			if (e->streak < UINT8_MAX)
				e->streak++;
		} else {
			e->streak = 0;
		}
		e->text_hash = h;
		if (e->streak >= g->cfg.loop_exchanges) {
			e->streak = 0;
			e->muted_until = now + g->cfg.loop_mute_s;
			count(g, GUARD_CTR_LOOPS);
			count(g, GUARD_CTR_MUTED);
			return (struct guard_decision){ GUARD_SILENT, GUARD_MUTED, true };
		}
	}

	bool over_min = g->cfg.per_minute && e->min_count > g->cfg.per_minute;
	bool over_day = g->cfg.per_day && e->day_count > g->cfg.per_day;
	if (e->blocked_until > now || over_min || over_day) {
		count(g, GUARD_CTR_LIMITED);
		d.verdict = GUARD_SILENT;
		d.reason = GUARD_LIMITED;
		if (e->blocked_until <= now) {
			/* A new block: one notice for it (and one a day for the day limit). */
			e->blocked_until = now + (g->cfg.block_s ? g->cfg.block_s : 60);
			e->flags &= (uint8_t)~F_NOTICED;
			d.first = true;
		}
		bool noticed = e->flags & F_NOTICED || (over_day && e->flags & F_DAY_NOTICED);
		if (!noticed) {
			e->flags |= F_NOTICED | (over_day ? F_DAY_NOTICED : 0);
			d.verdict = GUARD_NOTICE;
			count(g, GUARD_CTR_NOTICES);
		}
		return d;
	}
	return d;
}

struct guard_decision guard_ussd_begin(struct guard *g, const char *from, int64_t now_s)
{
	uint32_t now = (uint32_t)now_s;
	struct guard_entry *e = entry_of(g, from ? from : "", now);

	roll_windows(e, now);
	bump(&e->ussd_min_count);
	bump(&e->ussd_day_count);
	if ((g->cfg.ussd_per_minute && e->ussd_min_count > g->cfg.ussd_per_minute) ||
	    (g->cfg.ussd_per_day && e->ussd_day_count > g->cfg.ussd_per_day)) {
		bool first = !(e->flags & F_LOGGED_USSD);
		e->flags |= F_LOGGED_USSD;
		count(g, GUARD_CTR_USSD_LIMITED);
		/* A screen is owed to the network anyway, and a USSD screen costs no SMS part. */
		return (struct guard_decision){ GUARD_NOTICE, GUARD_LIMITED, first };
	}
	return (struct guard_decision){ GUARD_PROCESS, GUARD_OK, false };
}

/* ---- spend ---- */

static void roll_day(struct guard *g, int64_t now)
{
	int64_t day = guard_day(now);

	if (day == g->day)
		return;
	g->day = day;
	g->total.parts = 0;
	g->total.warned = g->total.hit = false;
	for (unsigned i = 0; i < g->n_via; i++) {
		g->via[i].parts = 0;
		g->via[i].warned = g->via[i].hit = false;
		spend_publish(&g->via[i]);
	}
}

void guard_spend_set(struct guard *g, int64_t day, const char *via, uint64_t parts)
{
	if (day != g->day) {
		roll_day(g, day * 86400);
		if (day != g->day)
			return;
	}
	struct spend *s = spend_of(g, via, true);
	if (!s)
		return;
	s->parts = parts;
	spend_publish(s);
	g->total.parts = 0;
	for (unsigned i = 0; i < g->n_via; i++)
		g->total.parts += g->via[i].parts;
	/* Already past the lines before the restart: say nothing again. */
	s->warned = s->cap && s->parts * 100 >= s->cap * WARN_PERCENT;
	s->hit = s->cap && s->parts >= s->cap;
	g->total.warned = g->total.cap && g->total.parts * 100 >= g->total.cap * WARN_PERCENT;
	g->total.hit = g->total.cap && g->total.parts >= g->total.cap;
}

uint64_t guard_spent(const struct guard *g, int64_t now)
{
	return guard_day(now) == g->day ? g->total.parts : 0;
}

static bool over(const struct spend *s, unsigned parts)
{
	return s && s->cap && s->parts + parts > s->cap;
}

bool guard_capped(struct guard *g, const char *via, bool in_procedure, int64_t now)
{
	roll_day(g, now);
	if (in_procedure && g->cfg.capped_in_procedure)
		return false;
	return over(&g->total, 1) || over(via ? spend_of(g, via, false) : NULL, 1);
}

void guard_count_capped(struct guard *g)
{
	count(g, GUARD_CTR_CAPPED);
}

/* Crossing the 80 % line or reaching the cap: one note each a day. */
static bool note_of(struct spend *s, struct guard_note *note)
{
	if (!s->cap)
		return false;
	if (!s->hit && s->parts >= s->cap) {
		s->hit = s->warned = true;
		*note = (struct guard_note){ GUARD_NOTE_HIT, s->via, s->parts, s->cap };
		return true;
	}
	if (!s->warned && s->parts * 100 >= s->cap * WARN_PERCENT) {
		s->warned = true;
		*note = (struct guard_note){ GUARD_NOTE_WARN, s->via, s->parts, s->cap };
		return true;
	}
	return false;
}

enum guard_reason guard_reply(struct guard *g, const char *via, const char *to, unsigned parts,
			      bool in_procedure, int64_t now, struct guard_note *note)
{
	struct guard_note dummy;
	struct spend *s;

	if (!note)
		note = &dummy;
	note->kind = GUARD_NOTE_NONE;
	if (!guard_destination_allowed(g, to)) {
		count(g, GUARD_CTR_REFUSED);
		return GUARD_REFUSED;
	}
	roll_day(g, now);
	s = via ? spend_of(g, via, true) : NULL;
	if ((over(&g->total, parts) || over(s, parts)) &&
	    !(in_procedure && g->cfg.capped_in_procedure)) {
		count(g, GUARD_CTR_CAPPED);
		/* Refused before reaching the cap exactly (a long reply): the cap is hit too. */
		struct spend *which = over(s, parts) ? s : &g->total;
		if (!which->hit) {
			which->hit = which->warned = true;
			*note = (struct guard_note){ GUARD_NOTE_HIT, which->via, which->parts,
						     which->cap };
		}
		return GUARD_CAPPED;
	}
	g->total.parts += parts;
	if (s) {
		s->parts += parts;
		spend_publish(s);
	}
	if (!(s && note_of(s, note)))
		note_of(&g->total, note);
	if (to) {
		struct guard_entry *e = entry_of(g, to, (uint32_t)now);
		e->last_reply = (uint32_t)now;
		e->flags |= F_REPLIED;
	}
	return GUARD_OK;
}

const char *guard_status(struct guard *g, int64_t now, char *buf, size_t len)
{
	roll_day(g, now);
	buf[0] = '\0';
	if (g->total.cap && g->total.parts >= g->total.cap) {
		snprintf(buf, len, "spend cap reached: %llu/%llu parts",
			 (unsigned long long)g->total.parts, (unsigned long long)g->total.cap);
		return buf;
	}
	for (unsigned i = 0; i < g->n_via; i++)
		if (g->via[i].cap && g->via[i].parts >= g->via[i].cap) {
			snprintf(buf, len, "spend cap of %s reached: %llu/%llu parts", g->via[i].via,
				 (unsigned long long)g->via[i].parts,
				 (unsigned long long)g->via[i].cap);
			break;
		}
	return buf;
}

void guard_config_print(const struct guard_config *c, FILE *out)
{
	fprintf(out, "limits:\n");
	fprintf(out, "  per_minute: %u\n  per_day: %u\n  block: %us\n", c->per_minute, c->per_day,
		c->block_s);
	fprintf(out, "  ussd_per_minute: %u\n  ussd_per_day: %u\n", c->ussd_per_minute,
		c->ussd_per_day);
	fprintf(out, "  loop: { exchanges: %u, window: %us, mute: %us }\n", c->loop_exchanges,
		c->loop_window_s, c->loop_mute_s);
	fprintf(out, "  ignore: [");
	for (unsigned i = 0; i < c->n_ignore; i++)
		fprintf(out, "%s\"%s\"", i ? ", " : "", c->ignore[i]);
	fprintf(out, "]\n  destinations: [");
	for (unsigned i = 0; i < c->n_allow; i++)
		fprintf(out, "%s\"%s\"", i ? ", " : "", c->allow[i]);
	fprintf(out, "]\n  daily_parts: { total: %u", c->daily_parts);
	for (unsigned i = 0; i < c->n_caps; i++)
		fprintf(out, ", %s: %u", c->caps[i].via, c->caps[i].parts);
	fprintf(out, " }%s\n", c->daily_parts || c->n_caps ? "" : "    # 0: no cap");
	fprintf(out, "  when_capped: %s\n", c->capped_in_procedure ? "finish_procedures" : "silence");
	fprintf(out, "  max_numbers: %u\n", c->max_numbers);
}
