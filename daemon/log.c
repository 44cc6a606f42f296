/* Logging on libosmocore: our categories and levels, two custom targets.
 *
 * glog() formats the message once, puts the caller's struct log_fields in a thread-local
 * pointer and hands the text to libosmocore (LOGP with "%s"). libosmocore picks the
 * targets by level and calls their raw_output in the same thread, under its own target
 * mutex (log_enable_multithread()), so modem threads may call glog() freely.
 *
 * Debian's libosmocore has no systemd target; ours calls sd_journal_sendv() with
 * MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, GUICHET_CATEGORY and the GUICHET_* fields. The
 * stderr target writes one readable line per event, with one write(2).
 *
 * Numbers: log_mask() and log_pseudonym() (HMAC-SHA-256 under a random key rotated each
 * UTC day; a restart also changes it, which is intended). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <osmocom/core/fsm.h>
#include <osmocom/core/logging.h>
#include <osmocom/core/utils.h>
#include <systemd/sd-journal.h>

#include "guichet/log.h"

#define LOG_LINE_MAX 4096

static const struct log_info_cat glog_cats[_GLOG_N] = {
	[GLOG_MAIN]    = { .name = "DMAIN",    .description = "daemon",            .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_SESSION] = { .name = "DSESSION", .description = "sessions",          .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_BACKEND] = { .name = "DBACKEND", .description = "back-end calls",    .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_MODEM]   = { .name = "DMODEM",   .description = "modems",            .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_USSD]    = { .name = "DUSSD",    .description = "USSD transports",   .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_SMPP]    = { .name = "DSMPP",    .description = "SMPP transport",    .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_STORE]   = { .name = "DSTORE",   .description = "state store",       .enabled = 1, .loglevel = LOGL_INFO },
	[GLOG_CONFIG]  = { .name = "DCONFIG",  .description = "configuration",     .enabled = 1, .loglevel = LOGL_INFO },
};

static const char *const cat_short[_GLOG_N] = {
	[GLOG_MAIN] = "main", [GLOG_SESSION] = "session", [GLOG_BACKEND] = "backend",
	[GLOG_MODEM] = "modem", [GLOG_USSD] = "ussd", [GLOG_SMPP] = "smpp",
	[GLOG_STORE] = "store", [GLOG_CONFIG] = "config",
};

static const struct log_info glog_info = {
	.cat = glog_cats,
	.num_cat = ARRAY_SIZE(glog_cats),
};

static struct log_target *cur_target;
static bool cur_journal;
static _Thread_local const struct log_fields *tl_fields;

int log_level_from_str(const char *name)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "debug", LOGL_DEBUG }, { "info", LOGL_INFO }, { "notice", LOGL_NOTICE },
		{ "error", LOGL_ERROR }, { "fatal", LOGL_FATAL },
	};
	if (!name)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
		if (!strcasecmp(name, levels[i].name))
			return levels[i].level;
	return -1;
}

static const char *level_name(unsigned level)
{
	if (level >= LOGL_FATAL) return "FATAL";
	if (level >= LOGL_ERROR) return "ERROR";
	if (level >= LOGL_NOTICE) return "NOTICE";
	if (level >= LOGL_INFO) return "INFO";
	return "DEBUG";
}

static int level_priority(unsigned level)
{
	if (level >= LOGL_FATAL) return 2;
	if (level >= LOGL_ERROR) return 3;
	if (level >= LOGL_NOTICE) return 5;
	if (level >= LOGL_INFO) return 6;
	return 7;
}

static const char *cat_name(int subsys)
{
	if (subsys >= 0 && subsys < _GLOG_N)
		return cat_short[subsys];
	/* libosmocore's own categories ("DLGLOBAL", ...) */
	const char *n = log_category_name(subsys);
	return n ? n : "osmo";
}

/* Appends printf output to buf[*pos..len), truncating quietly. */
static void addf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void addf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	if (*pos >= len)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos = (size_t)n >= len - *pos ? len - 1 : *pos + (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when it is not one (stray
 * continuation, overlong form, surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; min = 0x80; }
	else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; min = 0x800; }
	else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; min = 0x10000; }
	else return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* Appends s to buf[*pos..len) with everything that could break a line or forge one written
 * as an escape: \r \n \t, other C0 controls and DEL as \xHH, each byte of invalid UTF-8
 * as \xHH, C1 controls and U+2028/U+2029 (line breaks to some readers) as \uHHHH. Only
 * whole escapes are written; truncates quietly. Every value a line carries goes through
 * here (the message and every field, on stderr and in the journal): callers need not care
 * what a person typed. */
static void add_escaped(char *buf, size_t len, size_t *pos, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	if (*pos >= len)
		return;
	while (*s) {
		char esc[8];
		const char *out = esc;
		size_t n = 1, k;
		if (*s == '\r')
			out = "\\r";
		else if (*s == '\n')
			out = "\\n";
		else if (*s == '\t')
			out = "\\t";
		else if (*s < 0x20 || *s == 0x7F)
			snprintf(esc, sizeof(esc), "\\x%02X", *s);
		else if ((n = utf8_seq(s)) == 0) {
			n = 1;
			snprintf(esc, sizeof(esc), "\\x%02X", *s);
		} else if (n == 2 && s[0] == 0xC2 && s[1] < 0xA0) {
			snprintf(esc, sizeof(esc), "\\u%04X", s[1]);	/* U+0080..U+009F */
		} else if (n == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) {
			snprintf(esc, sizeof(esc), "\\u%04X", 0x2000 + (s[2] - 0x80));
		} else {
			out = NULL;
		}
		k = out ? strlen(out) : n;
		if (*pos + k >= len)
			break;
		memcpy(buf + *pos, out ? out : (const char *)s, k);
		*pos += k;
		s += n;
	}
	buf[*pos] = '\0';
}

/* "p-3fa9c21b rendez-vous/numero: text [channel=sms modem=usb0]" without the newline. */
static void format_body(char *buf, size_t len, const struct log_fields *f, const char *msg)
{
	size_t pos = 0;
	buf[0] = '\0';
	if (f && f->session) {
		add_escaped(buf, len, &pos, f->session);
		addf(buf, len, &pos, " ");
	}
	if (f && (f->flow || f->step)) {
		add_escaped(buf, len, &pos, f->flow ? f->flow : "-");
		if (f->step) {
			addf(buf, len, &pos, "/");
			add_escaped(buf, len, &pos, f->step);
		}
		addf(buf, len, &pos, ": ");
	}
	add_escaped(buf, len, &pos, msg);
	if (f && (f->channel || f->modem || f->backend || f->smsc || f->guard)) {
		const struct { const char *key, *val; } kv[] = {
			{ "channel", f->channel }, { "modem", f->modem }, { "backend", f->backend },
			{ "smsc", f->smsc }, { "guard", f->guard },
		};
		const char *sep = " [";
		for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
			if (!kv[i].val)
				continue;
			addf(buf, len, &pos, "%s%s=", sep, kv[i].key);
			add_escaped(buf, len, &pos, kv[i].val);
			sep = " ";
		}
		addf(buf, len, &pos, "]");
	}
}

static void stderr_line(int subsys, unsigned level, const struct log_fields *f, const char *msg)
{
	char body[LOG_LINE_MAX], line[LOG_LINE_MAX + 64];
	char stamp[32] = "";
	struct tm tm;
	time_t now = time(NULL);

	if (localtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	format_body(body, sizeof(body), f, msg);
	int n = snprintf(line, sizeof(line), "%s %s %s %s\n", stamp, level_name(level),
			 cat_name(subsys), body);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line, so lines from threads and processes do not interleave. */
	ssize_t off = 0;
	while (off < n) {
		ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
}

static void journal_line(int subsys, unsigned level, const struct log_fields *f, const char *msg)
{
	char body[LOG_LINE_MAX];
	char prio[16], cat[64];
	char fld[8][320];
	struct iovec iov[4 + 8];
	int n = 0, nf = 0;

	format_body(body, sizeof(body), f, msg);
	/* Fields carry the same text as "MESSAGE=" plus a prefix; build them in place. */
	char message[LOG_LINE_MAX + 16];
	snprintf(message, sizeof(message), "MESSAGE=%s", body);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", level_priority(level));
	snprintf(cat, sizeof(cat), "GUICHET_CATEGORY=%s", cat_name(subsys));
	iov[n++] = (struct iovec){ message, strlen(message) };
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=guichetd",
				   strlen("SYSLOG_IDENTIFIER=guichetd") };
	iov[n++] = (struct iovec){ cat, strlen(cat) };
	if (f) {
		const struct { const char *key; const char *val; } kv[8] = {
			{ "GUICHET_SESSION", f->session }, { "GUICHET_FLOW", f->flow },
			{ "GUICHET_STEP", f->step }, { "GUICHET_CHANNEL", f->channel },
			{ "GUICHET_MODEM", f->modem }, { "GUICHET_BACKEND", f->backend },
			{ "GUICHET_SMSC", f->smsc }, { "GUICHET_GUARD", f->guard },
		};
		for (int i = 0; i < 8; i++) {
			if (!kv[i].val)
				continue;
			size_t pos = 0;
			addf(fld[nf], sizeof(fld[nf]), &pos, "%s=", kv[i].key);
			add_escaped(fld[nf], sizeof(fld[nf]), &pos, kv[i].val);
			iov[n++] = (struct iovec){ fld[nf], strlen(fld[nf]) };
			nf++;
		}
	}
	if (sd_journal_sendv(iov, n) < 0)
		stderr_line(subsys, level, f, msg);
}

static void target_raw_output(struct log_target *target, int subsys, unsigned int level,
			      const char *file, int line, int cont, const char *format,
			      va_list ap)
{
	char msg[LOG_LINE_MAX];
	(void)file; (void)line; (void)cont;

	vsnprintf(msg, sizeof(msg), format, ap);
	/* libosmocore's own lines may end with a newline; ours never need one. */
	size_t l = strlen(msg);
	while (l && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
		msg[--l] = '\0';
	/* sd_journal is our target type; stderr is the other. */
	if (target->type == LOG_TGT_TYPE_SYSTEMD)
		journal_line(subsys, level, tl_fields, msg);
	else
		stderr_line(subsys, level, tl_fields, msg);
}

static struct log_target *target_create(bool journal, int level)
{
	struct log_target *t = log_target_create();
	if (!t)
		return NULL;
	/* The type only selects our own output path: libosmocore never looks inside. */
	t->type = journal ? LOG_TGT_TYPE_SYSTEMD : LOG_TGT_TYPE_STDERR;
	t->raw_output = target_raw_output;
	log_set_all_filter(t, 1);
	log_set_log_level(t, level);
	return t;
}

void log_setup(void *ctx, bool journal, const char *level)
{
	(void)ctx;
	int lvl = log_level_from_str(level);
	if (lvl < 0)
		lvl = LOGL_INFO;

	if (!osmo_log_info) {
		/* Not osmo_init_logging2(): it adds libosmocore's own stderr target. Logging gets
		 * its own talloc root, not ctx: a program may free ctx and still log on its way
		 * out; log_shutdown() releases it. */
		if (log_init(&glog_info, NULL) < 0) {
			fprintf(stderr, "guichet: cannot initialise logging\n");
			return;
		}
		log_enable_multithread();
		/* osmo_fsm lines (SMPP binds) name an instance by its id, not its address, and
		 * say which timer a state starts: "State change to IDLE (X1, 2s)". */
		osmo_fsm_log_addr(false);
		osmo_fsm_log_timeouts(true);
	}
	if (cur_target && cur_journal == journal) {
		log_set_log_level(cur_target, lvl);
		return;
	}
	struct log_target *t = target_create(journal, lvl);
	if (!t)
		return;
	log_tgt_mutex_lock();
	if (cur_target)
		log_target_destroy(cur_target);	/* also unlinks it */
	log_add_target(t);
	cur_target = t;
	cur_journal = journal;
	log_tgt_mutex_unlock();
}

void log_shutdown(void)
{
	if (!osmo_log_info)
		return;
	log_fini();	/* destroys every target, ours included */
	cur_target = NULL;
}

bool log_enabled(enum glog_cat cat, int level)
{
	if (!osmo_log_info)
		return level >= LOGL_INFO;
	return log_check_level(cat, level);
}

void glog(enum glog_cat cat, int level, const struct log_fields *f, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;

	if (!log_enabled(cat, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!osmo_log_info) {
		stderr_line(cat, level, f, msg);
		return;
	}
	const struct log_fields *saved = tl_fields;
	tl_fields = f;
	LOGP(cat, level, "%s", msg);
	tl_fields = saved;
}

/* ---- Masking ---- */

/* Length of the E.164 country code that starts d (digits only), per ITU zones. */
static size_t country_code_len(const char *d, size_t n)
{
	if (n < 1)
		return 0;
	if (d[0] == '1' || d[0] == '7')
		return 1;
	if (n < 2)
		return n;
	int two = (d[0] - '0') * 10 + (d[1] - '0');
	static const unsigned char cc2[] = {
		20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49,
		51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84,
		86, 90, 91, 92, 93, 94, 95, 98,
	};
	for (size_t i = 0; i < sizeof(cc2); i++)
		if (cc2[i] == two)
			return 2;
	return n < 3 ? n : 3;
}

/* How many leading and trailing characters of an n-character secret may stay visible:
 * at most 1 + 3, and always at least half hidden. */
static void visible(size_t n, size_t *head, size_t *tail)
{
	*head = n >= 4 ? 1 : 0;
	*tail = n >= 8 ? 3 : n >= 6 ? 2 : n >= 4 ? 1 : 0;
}

/* Writes digits d[0..n) masked (keeping keep_head first digits and the visible tail) in
 * pairs from the right, a lone leading digit joining the first pair. */
static void put_grouped(char *out, size_t len, size_t *pos, const char *d, size_t n,
			size_t keep_head, size_t tail)
{
	size_t first = n % 2 ? 3 : 2;
	if (first > n)
		first = n;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (i == first || (i > first && (i - first) % 2 == 0)))
			addf(out, len, pos, " ");
		char c = (i < keep_head || i >= n - tail) ? d[i] : '*';
		addf(out, len, pos, "%c", c);
	}
}

const char *log_mask(char *buf, size_t len, const char *number)
{
	char d[64];
	size_t n = 0, pos = 0, head, tail;
	bool plus = false, numeric = true;

	if (!buf || len == 0)
		return "";
	buf[0] = '\0';
	if (!number) {
		addf(buf, len, &pos, "-");
		return buf;
	}
	const char *p = number;
	if (*p == '+') {
		plus = true;
		p++;
	}
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n + 1 >= sizeof(d)) {
				numeric = false;
				break;
			}
			d[n++] = *p;
		} else if (!strchr(" .-()/", *p)) {
			numeric = false;
			break;
		}
	}
	d[n] = '\0';
	if (!numeric || n == 0) {
		/* Anything else (alphanumeric sender, odd input): same proportions, no grouping. */
		size_t l = strlen(number);
		visible(l, &head, &tail);
		for (size_t i = 0; i < l; i++)
			addf(buf, len, &pos, "%c", (i < head || i >= l - tail) ? number[i] : '*');
		return buf;
	}
	const char *nsn = d;
	size_t nn = n;
	if (plus || (n > 2 && d[0] == '0' && d[1] == '0')) {
		/* International: "+CC" kept, national significant number masked. */
		if (!plus) {
			nsn += 2;
			nn -= 2;
		}
		size_t cc = country_code_len(nsn, nn);
		if (nn - cc < 4)	/* too short to show its country code separately */
			cc = 0;
		addf(buf, len, &pos, "%s%.*s%s", plus ? "+" : "00", (int)cc, nsn, cc ? " " : "");
		nsn += cc;
		nn -= cc;
		visible(nn, &head, &tail);
		put_grouped(buf, len, &pos, nsn, nn, head, tail);
	} else if (d[0] == '0') {
		/* National with trunk prefix: "06 ** ** *5 78". */
		visible(n - 1, &head, &tail);
		put_grouped(buf, len, &pos, d, n, head ? 2 : 1, tail);
	} else {
		/* Bare digits (IMSI, short number): first digit and tail only. */
		visible(n, &head, &tail);
		put_grouped(buf, len, &pos, d, n, head, tail);
	}
	return buf;
}

/* ---- Pseudonyms: HMAC-SHA-256 (FIPS 180-4, RFC 2104) ---- */

struct sha256 {
	uint32_t h[8];
	uint64_t total;
	unsigned char buf[64];
	size_t used;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
			      sha256_k[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(s->h, iv, sizeof(iv));
	s->total = 0;
	s->used = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	s->total += len;
	while (len) {
		size_t take = 64 - s->used < len ? 64 - s->used : len;
		memcpy(s->buf + s->used, p, take);
		s->used += take;
		p += take;
		len -= take;
		if (s->used == 64) {
			sha256_block(s, s->buf);
			s->used = 0;
		}
	}
}

static void sha256_final(struct sha256 *s, unsigned char out[32])
{
	uint64_t bits = s->total * 8;
	unsigned char pad = 0x80, zero = 0, lenb[8];
	sha256_update(s, &pad, 1);
	while (s->used != 56)
		sha256_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(s, lenb, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(s->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)s->h[i];
	}
}

void log_hmac_sha256(const unsigned char *key, size_t key_len, const void *msg, size_t len,
		     unsigned char out[32])
{
	unsigned char k[64] = { 0 }, pad[64], inner[32];
	struct sha256 s;

	if (key_len > 64) {
		sha256_init(&s);
		sha256_update(&s, key, key_len);
		sha256_final(&s, k);
	} else {
		memcpy(k, key, key_len);
	}
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	sha256_update(&s, msg, len);
	sha256_final(&s, inner);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	sha256_update(&s, inner, 32);
	sha256_final(&s, out);
	memset(k, 0, sizeof(k));
	memset(pad, 0, sizeof(pad));
}

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char pseudo_key[32];
static long pseudo_day = -1;	/* UTC day the key belongs to; -1: no key yet */
static bool pseudo_fixed;	/* set by log_pseudonym_rekey(key): never rotated */

static long utc_day(void)
{
	return (long)(time(NULL) / 86400);
}

/* Caller holds key_lock. */
static void new_random_key(void)
{
	size_t got = 0;
	while (got < sizeof(pseudo_key)) {
		ssize_t r = getrandom(pseudo_key + got, sizeof(pseudo_key) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* No entropy source at all: better a weak key than a crash. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			for (size_t i = got; i < sizeof(pseudo_key); i++)
				pseudo_key[i] = (unsigned char)(ts.tv_nsec >> (i % 4 * 8)) ^
						(unsigned char)getpid() ^ (unsigned char)i;
			break;
		}
		got += (size_t)r;
	}
}

void log_pseudonym_rekey(const unsigned char *key)
{
	pthread_mutex_lock(&key_lock);
	if (key) {
		memcpy(pseudo_key, key, sizeof(pseudo_key));
		pseudo_fixed = true;
	} else {
		new_random_key();
		pseudo_fixed = false;
	}
	pseudo_day = utc_day();
	pthread_mutex_unlock(&key_lock);
}

const char *log_pseudonym(char *buf, size_t len, const char *key)
{
	unsigned char mac[32];

	if (!buf || len == 0)
		return "";
	if (!key)
		key = "";
	pthread_mutex_lock(&key_lock);
	long day = utc_day();
	if (pseudo_day != day && !pseudo_fixed) {
		new_random_key();
		pseudo_day = day;
	}
	log_hmac_sha256(pseudo_key, sizeof(pseudo_key), key, strlen(key), mac);
	pthread_mutex_unlock(&key_lock);
	snprintf(buf, len, "p-%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3]);
	return buf;
}
