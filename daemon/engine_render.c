/* The engine's texts: templates expanded against the session, menus cut into pages that fit
 * the channel, the service lists, and the handoff transcript. Part of the pure engine
 * (include/guichet/engine_run.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine_run.h"
#include "guichet/template.h"
#include "guichet/text.h"

/* i in decimal, in buf (12 bytes). */
const char *engine_utoa(char *buf, unsigned i)
{
	char rev[10];
	int k = 0, n = 0;

	do
		rev[k++] = (char)('0' + i % 10);
	while ((i /= 10) && k < (int)sizeof(rev));
	while (k)
		buf[n++] = rev[--k];
	buf[n] = '\0';
	return buf;
}

/* a, sep and b joined into buf, cut like snprintf when too long: names are built on every
 * lookup of a menu's labels, so this spares printf. */
const char *engine_join3(char *buf, size_t size, const char *a, char sep, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > size - 1)
		la = size - 1;
	memcpy(buf, a, la);
	if (la < size - 1)
		buf[la++] = sep;
	if (lb > size - 1 - la)
		lb = size - 1 - la;
	memcpy(buf + la, b, lb);
	buf[la + lb] = '\0';
	return buf;
}

/* ---- variables and templates ---- */

static const char *lookup_value(struct run *r, const char *name)
{

	if (r->item_prefix && strncmp(name, "item.", 5) == 0) {
		char full[2 * SESSION_NAME_MAX + 32];
		return vars_get(&r->s->vars, engine_join3(full, sizeof(full), r->item_prefix, '.', name + 5));
	}
	if (r->item_prefix && strcmp(name, "item") == 0)
		return vars_get(&r->s->vars, r->item_prefix);
	const struct var *v = vars_get_var(&r->s->vars, name);
	if (v)
		return r->no_secrets && v->secret ? "" : v->value;
	if (strcmp(name, "contact") == 0) {
		const char *c = flow_text_pick(&r->fs->msg.contact, r->s->lang, engine_is_ussd(r));
		return c ? c : "";
	}
	if (strcmp(name, "channel") == 0)
		return channel_name(r->s->channel);
	if (strcmp(name, "lang") == 0)
		return r->s->lang;
	if (strcmp(name, "phone") == 0)
		return r->s->address;
	if (strcmp(name, "keyword") == 0) {
		if (r->keyword)
			return r->keyword;
		return r->flow && r->flow->n_keywords ? r->flow->keywords[0] : "";
	}
	if (strcmp(name, "choices") == 0)
		return r->choices ? r->choices : "";
	return NULL;
}

const char *engine_lookup(void *data, const char *name)
{
	struct run *r = data;
	const char *v = lookup_value(r, name);

	if (r->check_vals && r->vals_gsm7 && v && !text_is_gsm7(v))
		r->vals_gsm7 = false;
	return v;
}

/* The expanded text, read-only: a text without {{ }} is the flow's own string (most are, and
 * menus are rendered on every answer). */
const char *engine_expand(struct run *r, const char *tmpl)
{
	if (!tmpl)
		return NULL;
	if (template_is_literal(tmpl))
		return tmpl;
	char *t = template_expand(r->ctx, tmpl, engine_lookup, r);
	r->fresh = t;
	return t ? t : talloc_strdup(r->ctx, "");
}

const char *engine_expand_view(struct run *r, const char *tmpl)
{
	char name[2 * SESSION_NAME_MAX + 32];

	if (!tmpl)
		return NULL;
	if (template_single_var(tmpl, name, sizeof(name))) {
		const char *v = engine_lookup(r, name);
		if (!v)
			return "";
		if (strlen(v) <= TEMPLATE_EXPAND_MAX)
			return v;
	}
	return engine_expand(r, tmpl);
}

/* The administrator's text for this person's language and channel, expanded. */
const char *engine_say_text(struct run *r, const struct flow_text *t)
{
	const char *tmpl = flow_text_pick(t, r->s->lang, engine_is_ussd(r));
	return tmpl ? engine_expand(r, tmpl) : NULL;
}

const char *engine_say_view(struct run *r, const struct flow_text *t)
{
	const char *tmpl = flow_text_pick(t, r->s->lang, engine_is_ussd(r));
	return tmpl ? engine_expand_view(r, tmpl) : NULL;
}

const char *engine_pick_gsm7(struct run *r, const struct flow_text *t, bool ussd, bool *flag)
{
	/* One language (most texts): flow_text_pick's answer without the search. */
	if (t && t->n == 1) {
		const struct flow_tr *tr = &t->tr[0];
		bool u = ussd && tr->ussd;

		*flag = u ? tr->ussd_gsm7 : tr->text_gsm7;
		return u ? tr->ussd : tr->text;
	}
	const char *tmpl = flow_text_pick(t, r->s->lang, ussd);

	*flag = false;
	for (unsigned i = 0; tmpl && i < t->n; i++) {
		if (tmpl == t->tr[i].text) {
			*flag = t->tr[i].text_gsm7;
			break;
		}
		if (tmpl == t->tr[i].ussd) {
			*flag = t->tr[i].ussd_gsm7;
			break;
		}
	}
	return tmpl;
}

const char *engine_expand_gsm7(struct run *r, const char *tmpl, bool flag, bool view,
			       bool *gsm7)
{
	*gsm7 = false;
	if (!tmpl)
		return NULL;
	if (!flag)
		return view ? engine_expand_view(r, tmpl) : engine_expand(r, tmpl);
	/* No nesting: a value looked up is never expanded again. */
	r->check_vals = true;
	r->vals_gsm7 = true;
	const char *text = view ? engine_expand_view(r, tmpl) : engine_expand(r, tmpl);
	r->check_vals = false;
	*gsm7 = r->vals_gsm7;
	return text;
}

const char *engine_say_view_gsm7(struct run *r, const struct flow_text *t, bool *gsm7)
{
	bool flag;
	const char *tmpl = engine_pick_gsm7(r, t, engine_is_ussd(r), &flag);

	return engine_expand_gsm7(r, tmpl, flag, true, gsm7);
}

void engine_say(struct run *r, const struct flow_text *t)
{
	bool gsm7;

	r->fresh = NULL;
	const char *text = engine_say_view_gsm7(r, t, &gsm7);

	/* The first text of the reply, just expanded here (nobody else holds it): it becomes
	 * the reply itself rather than being copied into one. */
	if (!r->reply && text && *text && text == r->fresh) {
		if (!gsm7 && !r->reply_maybe_ucs2 && !text_is_gsm7(text))
			r->reply_maybe_ucs2 = true;
		r->reply = r->fresh;
		r->fresh = NULL;
		return;
	}
	engine_append_gsm7(r, text, gsm7);
}

/* Appends "\n" (unless buf is empty) then "<num> <label>" to a talloc'd string: menus are
 * built line by line on every answer, so this avoids printf for each line. */
static char *add_line(char *buf, unsigned num, const char *label)
{
	size_t len = strlen(buf), l = strlen(label);
	char digits[12];
	int nd = 0;

	if (num) {
		nd = (int)strlen(engine_utoa(digits, num));
		digits[nd++] = ' ';
	}
	char *out = talloc_realloc(NULL, buf, char, len + 1 + nd + l + 1);
	char *p = out + len;

	if (len)
		*p++ = '\n';
	memcpy(p, digits, nd);
	memcpy(p + nd, label, l + 1);
	return out;
}

void engine_append(struct run *r, const char *text)
{
	engine_append_gsm7(r, text, false);
}

void engine_append_gsm7(struct run *r, const char *text, bool gsm7)
{
	if (!text || !*text)
		return;
	if (!gsm7 && !r->reply_maybe_ucs2 && !text_is_gsm7(text))
		r->reply_maybe_ucs2 = true;
	r->reply = r->reply ? add_line(r->reply, 0, text) : talloc_strdup(r->ctx, text);
}

/* The title, then "1 label", "2 label"... a line each, in one allocation: the menu is built
 * on every answer to it. As add_line() would make it, line by line. n is at most
 * PAGE_MAX_OPTIONS, so each number is one digit. */
static char *menu_lines(void *ctx, const char *title, const char *const *labels, unsigned n)
{
	size_t tl = strlen(title), size = tl + 1, len[PAGE_MAX_OPTIONS];

	for (unsigned i = 0; i < n; i++)
		size += 3 + (len[i] = strlen(labels[i]));
	char *all = talloc_size(ctx, size), *p = all;
	if (!all)
		return NULL;
	memcpy(p, title, tl);
	p += tl;
	for (unsigned i = 0; i < n; i++) {
		if (p != all)
			*p++ = '\n';
		*p++ = (char)('1' + i);
		*p++ = ' ';
		memcpy(p, labels[i], len[i]);
		p += len[i];
	}
	*p = '\0';
	return all;
}

void engine_apply_set(struct run *r, const struct flow_assign *set, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		/* v may be another variable's value: read before anything is set. */
		const char *v = engine_expand_view(r, set[i].value);
		if (strcmp(set[i].var, "lang") == 0 && strlen(v) < sizeof(r->s->lang))
			strcpy(r->s->lang, v);
		vars_set(&r->s->vars, set[i].var, v, false);
	}
}

/* ---- menus ---- */


unsigned engine_menu_count(struct run *r, const struct flow_step *st)
{
	if (!st->from_list)
		return st->n_options;
	char name[SESSION_NAME_MAX + 8];
	const char *c = vars_get(&r->s->vars, engine_join3(name, sizeof(name), st->from_list, '.', "count"));
	long n = c ? strtol(c, NULL, 10) : 0;
	return n < 0 ? 0 : n > 1000 ? 1000 : (unsigned)n;
}

static const char *menu_label(struct run *r, const struct flow_step *st, unsigned i,
			      bool *gsm7)
{
	if (!st->from_list)
		return engine_say_view_gsm7(r, &st->options[i].label, gsm7);
	char prefix[SESSION_NAME_MAX + 16], num[12];
	r->item_prefix = engine_join3(prefix, sizeof(prefix), st->from_list, '.', engine_utoa(num, i));
	const char *label = engine_say_view_gsm7(r, &st->from_label, gsm7);
	r->item_prefix = NULL;
	return label;
}

static bool fits(struct run *r, const char *text)
{
	if (!r->in->channel)
		return true;
	if (text_fits(text, &r->in->channel->budget))
		return true;
	/* Folding can turn a UCS-2 text that does not fit into a GSM-7 one that does. */
	return r->in->channel->fold && !text_is_gsm7(text) &&
	       text_fits(text_fold_gsm7(r->ctx, text), &r->in->channel->budget);
}

/* The options of the page just cut, for the answer to it (see answer_menu). */
static void remember_page(struct run *r, unsigned first, unsigned k)
{
	bool keep = first <= UINT16_MAX && k <= PAGE_MAX_OPTIONS;

	r->s->page_first = keep ? (uint16_t)first : 0;
	r->s->page_n = keep ? (uint8_t)k : 0;
}

/* Renders page `page` of a menu and returns its text; *first_out gets the index of its first
 * option and *n_on_page how many it shows. Pages are cut greedily from the first so that the
 * same page always holds the same options. */
/* The same with the menu's count known (engine_menu_count). */
static char *menu_page_n(struct run *r, const struct flow_step *st, unsigned n, unsigned page,
			 unsigned *first_out, unsigned *n_on_page)
{
	bool gsm7, all_gsm7;
	const char *title = engine_say_view_gsm7(r, &st->text, &all_gsm7);
	const char *few[PAGE_MAX_OPTIONS];
	const char **labels = n <= PAGE_MAX_OPTIONS ? few : talloc_array(r->ctx, const char *, n);

	r->page_gsm7 = false;
	for (unsigned i = 0; i < n; i++) {
		labels[i] = menu_label(r, st, i, &gsm7);
		all_gsm7 = all_gsm7 && gsm7;
	}

	/* The common case: everything on one page. */
	if (n <= PAGE_MAX_OPTIONS) {
		char *all = menu_lines(r->ctx, title ? title : "", labels, n);
		if (all && fits(r, all)) {
			/* Its title, its labels, digits, spaces and "\n": GSM-7 when its parts are. */
			r->page_gsm7 = all_gsm7;
			*first_out = 0;
			*n_on_page = n;
			r->s->page = 0;
			remember_page(r, 0, n);
			return all;
		}
	}

	const char *more = flow_text_pick(&r->fs->msg.more, r->s->lang, engine_is_ussd(r));
	const char *more_key = r->fs->words.n_more ? r->fs->words.more[0] : "9";
	char *more_line = talloc_asprintf(r->ctx, "%s %s", more_key, more ? more : "Suite");
	unsigned first = 0, p = 0;
	char *text = NULL;

	for (;;) {
		text = talloc_strdup(r->ctx, title ? title : "");
		unsigned k = 0;
		while (first + k < n && k < PAGE_MAX_OPTIONS) {
			char *candidate = add_line(talloc_strdup(r->ctx, text), k + 1, labels[first + k]);
			bool last = first + k + 1 == n;
			char *with_more = last ? candidate
					       : add_line(talloc_strdup(r->ctx, candidate), 0, more_line);
			/* Always show at least one option, even if it overflows. */
			if (k > 0 && !fits(r, with_more))
				break;
			text = candidate;
			k++;
		}
		if (first + k < n)
			text = add_line(text, 0, more_line);
		if (p == page || first + k >= n) {
			*first_out = first;
			*n_on_page = k;
			r->s->page = p;
			remember_page(r, first, k);
			return text;
		}
		first += k;
		p++;
	}
}

char *engine_menu_page(struct run *r, const struct flow_step *st, unsigned page,
		       unsigned *first_out, unsigned *n_on_page)
{
	return menu_page_n(r, st, engine_menu_count(r, st), page, first_out, n_on_page);
}

/* ---- running steps ---- */

/* The question or the menu page again. After a retry text or the help (prefix), a menu page
 * is cut without them, so that a page always holds the same options; when both do not fit
 * one reply (a USSD screen), the help alone is said (the person answers the menu they have
 * seen), or the menu alone after a retry text: a screen is never cut by the transport. */
void engine_render_prompt_after(struct run *r, const struct flow_step *st, enum prefix prefix)
{
	if (st->kind == STEP_MENU) {
		unsigned first, k, n = engine_menu_count(r, st);
		if (n == 0) {
			engine_say(r, &st->text);
			return;
		}
		char *page = menu_page_n(r, st, n, r->s->page, &first, &k);
		if (prefix != PREFIX_NONE && r->reply &&
		    !fits(r, talloc_asprintf(r->ctx, "%s\n%s", r->reply, page))) {
			if (prefix == PREFIX_HELP)
				return;
			r->reply = NULL;
		}
		engine_append_gsm7(r, page, r->page_gsm7);
	} else {
		engine_say(r, &st->text);
	}
}

void engine_render_prompt(struct run *r, const struct flow_step *st)
{
	engine_render_prompt_after(r, st, PREFIX_NONE);
}
/* ---- the transcript (for a handoff) ---- */

/* The transcript is built once, at the end of the event, from what it was before (still in
 * the session), the line received and the line answered; it is copied earlier only when the
 * session is about to be reset (a flow starts or ends) or a handoff sends it. */

/* Appends "<mark> text" (xl bytes) as a line to the len bytes at t (room enough). Returns
 * the length. */
static size_t line_add(char *t, size_t len, char mark, const char *text, size_t xl)
{
	if (len)
		t[len++] = '\n';
	t[len] = mark;
	t[len + 1] = ' ';
	memcpy(t + len + 2, text, xl);
	return len + 2 + xl;
}

/* Room line_add() takes for text (none for an empty or absent one). */
static size_t line_room(const char *text)
{
	return text && *text ? 3 + strlen(text) : 0;
}

/* base, then "> in", then "< reply" (each line when there is text), into buf of size room +
 * 1, cut at the first line that leaves at most TRANSCRIPT_MAX bytes (mid-line when no line
 * does). Returns the start, NUL-terminated, or NULL when there is nothing. */
static const char *transcript_make(char *buf, const char *base, const char *in, const char *reply)
{
	size_t len = base ? strlen(base) : 0;

	memcpy(buf, base ? base : "", len);
	if (in && *in)
		len = line_add(buf, len, '>', in, strlen(in));
	if (reply && *reply)
		len = line_add(buf, len, '<', reply, strlen(reply));
	buf[len] = '\0';
	if (!len && !base)
		return NULL;
	if (len <= TRANSCRIPT_MAX)
		return buf;
	const char *cut = buf + len - TRANSCRIPT_MAX;
	const char *nl = strchr(cut, '\n');
	return nl ? nl + 1 : cut;
}

/* The transcript before the event (the session's, when a procedure was running). */
static const char *transcript_before(const struct run *r)
{
	return r->transcript ? r->transcript : r->tr_prev;
}

/* Before the event: notes the transcript so far and the text received (masked when it
 * answers a secret question); nothing is copied yet. */
void engine_transcript_begin(struct run *r)
{
	r->tr_prev = r->s->state != SESSION_IDLE ? vars_get(&r->s->vars, VAR_TRANSCRIPT) : NULL;
	if (r->in->kind != EV_TEXT)
		return;
	const struct flow_step *st = r->s->state == SESSION_ACTIVE ? engine_cur_step(r) : NULL;
	if (st && st->secret)
		r->secret_in = r->in->text;
	r->tr_in = st && st->secret ? "(réponse secrète)" : r->in->text;
}

const char *engine_transcript(struct run *r)
{
	if (r->tr_kept)
		return r->transcript ? r->transcript : "";
	const char *prev = transcript_before(r);
	char *buf = talloc_size(r->ctx, (prev ? strlen(prev) : 0) + line_room(r->tr_in) + 1);
	const char *t = buf ? transcript_make(buf, prev, r->tr_in, NULL) : NULL;

	/* From now on r->transcript is the transcript so far, the text received included. */
	r->transcript = t ? (char *)t : NULL;
	r->tr_in = NULL;
	r->tr_kept = true;
	return t ? t : "";
}

void engine_transcript_keep(struct run *r)
{
	(void)engine_transcript(r);
}

/* text with every occurrence of secret replaced by "***" (a reply that repeats an answer). */
static const char *scrub(void *ctx, const char *text, const char *secret)
{
	char *t;
	const char *p, *hit;
	size_t n;

	if (!text || !secret || !(n = strlen(secret)) || !strstr(text, secret))
		return text;
	t = talloc_strdup(ctx, "");
	for (p = text; (hit = strstr(p, secret)); p = hit + n)
		t = talloc_asprintf_append(t, "%.*s***", (int)(hit - p), p);
	return talloc_strdup_append(t, p);
}

/* After the event: what was answered, kept while a procedure runs. The lines are written
 * straight after the session's transcript, in the variable's own memory (vars_room): the
 * transcript, up to TRANSCRIPT_MAX bytes, is not copied whole at every step. */
void engine_transcript_end(struct run *r)
{
	if (r->s->state == SESSION_IDLE)
		return;
	const char *reply = scrub(r->ctx, r->reply, r->secret_in);
	for (unsigned i = 0; reply && i < r->s->vars.n; i++)
		if (r->s->vars.v[i].secret)
			reply = scrub(r->ctx, reply, r->s->vars.v[i].value);
	/* Each length measured once, for the room and the copy. */
	size_t in_room = line_room(r->tr_in), reply_room = line_room(reply);
	size_t lines = in_room + reply_room;
	/* Nothing said either way: the session's transcript stands as it is. */
	if (!lines && !r->transcript)
		return;
	/* Kept apart (the session was reset, or a handoff took it): it is the base. Else the
	 * base is the variable itself, which vars_room keeps. */
	const char *kept = r->transcript;
	size_t len = kept ? strlen(kept) : r->tr_prev ? strlen(r->tr_prev) : 0;
	char *t = vars_room(&r->s->vars, VAR_TRANSCRIPT, len + lines + 1);
	if (!t)
		return;
	if (kept)
		memcpy(t, kept, len);
	if (in_room)
		len = line_add(t, len, '>', r->tr_in, in_room - 3);
	if (reply_room)
		len = line_add(t, len, '<', reply, reply_room - 3);
	t[len] = '\0';
	if (len > TRANSCRIPT_MAX) {
		/* The oldest lines go: from the first line that leaves at most TRANSCRIPT_MAX
		 * bytes (mid-line when no line does). */
		const char *cut = t + len - TRANSCRIPT_MAX, *nl = strchr(cut, '\n');
		const char *from = nl ? nl + 1 : cut;

		memmove(t, from, len - (size_t)(from - t) + 1);
	}
}


/* "1", "1 ou 2", "1, 2 ou 3" ... "1 à 8 ou 9": the answers a person could have given, in
 * the words of the session's language (French unless English). */
const char *engine_choices_text(struct run *r, unsigned n, const char *more_key)
{
	bool en = !strcmp(r->s->lang, "en");
	const char *or = en ? "or" : "ou", *to = en ? "to" : "\u00e0";
	char *t;

	if (n == 0)
		return more_key ? talloc_strdup(r->ctx, more_key) : "";
	if (n > 4) {
		t = talloc_asprintf(r->ctx, "1 %s %u", to, n);
	} else {
		t = talloc_strdup(r->ctx, "1");
		for (unsigned i = 2; i <= n; i++) {
			if (i == n && !more_key)
				t = talloc_asprintf_append(t, " %s %u", or, i);
			else
				t = talloc_asprintf_append(t, ", %u", i);
		}
	}
	if (more_key)
		t = talloc_asprintf_append(t, " %s %s", or, more_key);
	return t;
}

/* The list of services, for a text that starts nothing. */
void engine_welcome(struct run *r)
{
	engine_say(r, &r->fs->msg.welcome);
	for (unsigned i = 0; i < r->fs->n_flows; i++) {
		const struct flow *f = &r->fs->flows[i];
		const char *title = flow_text_pick(&f->title, r->s->lang, engine_is_ussd(r));
		if (engine_is_ussd(r) && f->n_ussd)
			engine_append(r, talloc_asprintf(r->ctx, "%s %s", f->ussd_codes[0], title ? title : f->name));
		else if (!engine_is_ussd(r) && f->n_keywords)
			engine_append(r, talloc_asprintf(r->ctx, "%s : %s", f->keywords[0], title ? title : f->name));
	}
}

/* USSD: "*4321#" when flows use "*4321*1#", "*4321*2#": a menu of those flows, in the
 * order of their sub-codes. */
struct root_entry {
	const char *sub;
	int sub_len;
	const char *title;
};

static int root_entry_cmp(const void *a, const void *b)
{
	const struct root_entry *x = a, *y = b;

	if (x->sub_len != y->sub_len)
		return x->sub_len - y->sub_len;
	return strncmp(x->sub, y->sub, x->sub_len);
}

/* The flows whose USSD codes start with prefix ("*4321*"), by sub-code, sorted; *n of them
 * (NULL when none). */
static struct root_entry *root_entries(struct run *r, const char *prefix, unsigned *n)
{
	size_t plen = strlen(prefix);
	struct root_entry *e = NULL;

	*n = 0;
	for (unsigned i = 0; i < r->fs->n_flows; i++) {
		const struct flow *f = &r->fs->flows[i];
		for (unsigned j = 0; j < f->n_ussd; j++) {
			const char *c = f->ussd_codes[j];
			if (strncmp(c, prefix, plen) != 0)
				continue;
			const char *title = flow_text_pick(&f->title, r->s->lang, true);
			e = talloc_realloc(r->ctx, e, struct root_entry, *n + 1);
			e[*n].sub = c + plen;
			e[*n].sub_len = (int)strcspn(e[*n].sub, "*#");
			e[*n].title = title ? title : f->name;
			(*n)++;
		}
	}
	if (*n)
		qsort(e, *n, sizeof(*e), root_entry_cmp);
	return e;
}

bool engine_ussd_root_menu(struct run *r, const char *code)
{
	size_t len = strlen(code);
	if (len < 2 || code[len - 1] != '#')
		return false;
	char *prefix = talloc_asprintf(r->ctx, "%.*s*", (int)(len - 1), code);
	unsigned n;
	struct root_entry *e = root_entries(r, prefix, &n);
	if (!n)
		return false;
	engine_say(r, &r->fs->msg.welcome);
	for (unsigned i = 0; i < n; i++)
		engine_append(r, talloc_asprintf(r->ctx, "%.*s %s", e[i].sub_len, e[i].sub, e[i].title));
	vars_set(&r->s->vars, VAR_ROOT, prefix, false);
	return true;
}

/* The sub-codes the root menu of code offers, as {{choices}}: "1, 2 ou 3". */
const char *engine_root_choices(struct run *r, const char *code)
{
	size_t len = strlen(code);
	char *prefix = talloc_asprintf(r->ctx, "%.*s*", (int)(len - 1), code);
	unsigned n;
	struct root_entry *e = root_entries(r, prefix, &n);

	if (!n)
		return "";
	bool en = !strcmp(r->s->lang, "en");
	char *t = talloc_strdup(r->ctx, "");
	for (unsigned i = 0; i < n; i++)
		t = talloc_asprintf_append(t, "%s%.*s", i == 0 ? "" : i + 1 == n ?
					   (en ? " or " : " ou ") : ", ", e[i].sub_len, e[i].sub);
	return t;
}

