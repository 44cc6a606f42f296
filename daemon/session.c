/* Sessions: initialisation, copying, and the stored form.
 *
 * Stored form, version 3 ("G3"): a flat sequence of fields, each either a number written in
 * decimal and ended by ',' (an optional '-' for signed fields) or a string written as its
 * byte length, ':', then the bytes. No field can contain a NUL, so the result is also a C
 * string. Variable names share prefixes with the previous name ("slots.0.id",
 * "slots.0.label" ...), so each name is stored as the length of the prefix it shares plus
 * the rest:
 *
 *   "G3" key address channel, state, flow flow_version, step tries, page, n_history,
 *   history[n_history]... call_id, started, deadline, lang n_vars,
 *   (shared, name_rest value)[n_vars] via page_first, page_n,
 *
 * Version 2 ("G2", before the menu page's options were kept) is the same without the
 * trailing page_first and page_n; version 1 ("G1", before the transport was kept) also
 * lacks via. Both still decode (empty via, page layout unknown), so sessions stored by an
 * older guichetd survive.
 *
 * The decoder reads bytes from disk: every length is checked against what remains and
 * against the field it fills, and anything left over or missing is an error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/session.h"

#define SESSION_MAGIC "G3"
#define SESSION_MAGIC_V2 "G2"
#define SESSION_MAGIC_V1 "G1"
/* A menu page never shows more options than this (the engine's PAGE_MAX_OPTIONS). */
#define PAGE_N_MAX 8

static void copy_field(char *dst, size_t size, const char *src)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= size)
		len = size - 1;
	if (len)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

void session_init(struct session *s, void *ctx, const char *key, enum channel ch,
		  const char *address)
{
	memset(s, 0, sizeof(*s));
	copy_field(s->key, sizeof(s->key), key);
	copy_field(s->address, sizeof(s->address), address);
	s->channel = ch;
	s->state = SESSION_IDLE;
	copy_field(s->lang, sizeof(s->lang), "fr");
	vars_init(&s->vars, ctx);
}

/* dst is treated as uninitialised: whatever vars it held are not freed. */
void session_copy(struct session *dst, void *ctx, const struct session *src)
{
	if (dst == src)
		return;
	memcpy(dst, src, sizeof(*dst));
	vars_init(&dst->vars, ctx);
	/* Out of memory leaves dst with fewer variables; the next step of the flow then sees
	 * what a missing answer looks like, never a dangling pointer. */
	vars_merge(&dst->vars, &src->vars, "");
}

/* The key, number, language, call counter and deadline survive: call_id keeps growing so a
 * late answer to an abandoned call is never taken for a new one, and the deadline is the
 * router's to set. */
void session_reset(struct session *s)
{
	s->state = SESSION_IDLE;
	s->flow[0] = '\0';
	s->flow_version = 0;
	s->step[0] = '\0';
	s->tries = 0;
	s->page = 0;
	s->page_first = s->page_n = 0;
	s->n_history = 0;
	memset(s->history, 0, sizeof(s->history));
	s->started = 0;
	vars_clear(&s->vars);
}

const char *channel_name(enum channel ch)
{
	switch (ch) {
	case CHANNEL_SMS:
		return "sms";
	case CHANNEL_USSD:
		return "ussd";
	}
	return "?";
}

/* --- encoding --- */

struct enc {
	void *ctx;
	char *buf;
	size_t len, cap;
	bool fail;
};

static void enc_put(struct enc *e, const char *p, size_t n)
{
	if (e->fail)
		return;
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 512;
		char *nb;

		while (e->len + n + 1 > cap)
			cap *= 2;
		nb = talloc_realloc_size(e->ctx, e->buf, cap);
		if (!nb) {
			e->fail = true;
			return;
		}
		e->buf = nb;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	e->buf[e->len] = '\0';
}

static void enc_uint(struct enc *e, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64 ",", v);

	enc_put(e, tmp, (size_t)n);
}

static void enc_int(struct enc *e, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64 ",", v);

	enc_put(e, tmp, (size_t)n);
}

static void enc_strn(struct enc *e, const char *s, size_t len)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%zu:", len);

	enc_put(e, tmp, (size_t)n);
	enc_put(e, s, len);
}

static void enc_str(struct enc *e, const char *s)
{
	enc_strn(e, s, strlen(s));
}

static size_t shared_prefix(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	return i;
}

char *session_encode(void *ctx, const struct session *s, size_t *len)
{
	struct enc e = { .ctx = ctx };
	const char *prev = "";
	unsigned i, n_vars = 0, n_hist;

	enc_put(&e, SESSION_MAGIC, strlen(SESSION_MAGIC));
	enc_str(&e, s->key);
	enc_str(&e, s->address);
	enc_uint(&e, s->channel);
	enc_uint(&e, s->state);
	enc_str(&e, s->flow);
	enc_uint(&e, s->flow_version);
	enc_str(&e, s->step);
	enc_uint(&e, s->tries);
	enc_uint(&e, s->page);
	n_hist = s->n_history > SESSION_HISTORY ? SESSION_HISTORY : s->n_history;
	enc_uint(&e, n_hist);
	for (i = 0; i < n_hist; i++)
		enc_str(&e, s->history[i]);
	enc_uint(&e, s->call_id);
	enc_int(&e, s->started);
	enc_int(&e, s->deadline);
	enc_str(&e, s->lang);
	for (i = 0; i < s->vars.n; i++)
		if (!s->vars.v[i].secret)
			n_vars++;
	enc_uint(&e, n_vars);
	for (i = 0; i < s->vars.n; i++) {
		const struct var *v = &s->vars.v[i];
		size_t sh;

		if (v->secret)
			continue;
		sh = shared_prefix(prev, v->name);
		enc_uint(&e, sh);
		enc_str(&e, v->name + sh);
		enc_str(&e, v->value);
		prev = v->name;
	}
	enc_str(&e, s->via);
	enc_uint(&e, s->page_first);
	enc_uint(&e, s->page_n);
	if (e.fail) {
		talloc_free(e.buf);
		return NULL;
	}
	if (len)
		*len = e.len;
	return e.buf;
}

/* --- decoding --- */

struct dec {
	const char *p, *end;
};

static int dec_uint(struct dec *d, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned digits = 0;

	while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
		unsigned c = (unsigned)(*d->p - '0');

		if (v > (UINT64_MAX - c) / 10)
			return -1;
		v = v * 10 + c;
		d->p++;
		digits++;
	}
	if (!digits || d->p >= d->end || *d->p != ',' || v > max)
		return -1;
	d->p++;
	*out = v;
	return 0;
}

static int dec_int(struct dec *d, int64_t *out)
{
	bool neg = false;
	uint64_t v;

	if (d->p < d->end && *d->p == '-') {
		neg = true;
		d->p++;
	}
	if (dec_uint(d, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v) < 0)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Points *s at the next string's bytes (not NUL-terminated) and sets *n. */
static int dec_strn(struct dec *d, const char **s, size_t *n)
{
	uint64_t len = 0;
	unsigned digits = 0;

	while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
		len = len * 10 + (uint64_t)(*d->p - '0');
		d->p++;
		if (++digits > 9)
			return -1;
	}
	if (!digits || d->p >= d->end || *d->p != ':')
		return -1;
	d->p++;
	if (len > (uint64_t)(d->end - d->p))
		return -1;
	if (memchr(d->p, '\0', (size_t)len))
		return -1;
	*s = d->p;
	*n = (size_t)len;
	d->p += len;
	return 0;
}

/* Reads a string into a fixed field of size bytes (NUL included). */
static int dec_field(struct dec *d, char *dst, size_t size)
{
	const char *s;
	size_t n;

	if (dec_strn(d, &s, &n) < 0 || n >= size)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* The fixed fields, from the key to the language. */
static int dec_fixed(struct dec *d, struct session *t)
{
	uint64_t u, i;

	if (dec_field(d, t->key, sizeof(t->key)) < 0 ||
	    dec_field(d, t->address, sizeof(t->address)) < 0)
		return -1;
	if (dec_uint(d, CHANNEL_USSD, &u) < 0)
		return -1;
	t->channel = (enum channel)u;
	if (dec_uint(d, SESSION_WAITING, &u) < 0)
		return -1;
	t->state = (enum session_state)u;
	if (dec_field(d, t->flow, sizeof(t->flow)) < 0)
		return -1;
	if (dec_uint(d, UINT32_MAX, &u) < 0)
		return -1;
	t->flow_version = (unsigned)u;
	if (dec_field(d, t->step, sizeof(t->step)) < 0)
		return -1;
	if (dec_uint(d, UINT8_MAX, &u) < 0)
		return -1;
	t->tries = (uint8_t)u;
	if (dec_uint(d, UINT8_MAX, &u) < 0)
		return -1;
	t->page = (uint8_t)u;
	if (dec_uint(d, SESSION_HISTORY, &u) < 0)
		return -1;
	t->n_history = (uint8_t)u;
	for (i = 0; i < t->n_history; i++)
		if (dec_field(d, t->history[i], sizeof(t->history[i])) < 0)
			return -1;
	if (dec_uint(d, UINT32_MAX, &u) < 0)
		return -1;
	t->call_id = (uint32_t)u;
	if (dec_int(d, &t->started) < 0 || dec_int(d, &t->deadline) < 0)
		return -1;
	return dec_field(d, t->lang, sizeof(t->lang));
}

/* The variables: each name is stored as the length it shares with the previous one and the
 * rest, so the names are rebuilt in one growing buffer. */
static int dec_vars(struct dec *d, struct vars *vars)
{
	uint64_t n_vars, i;
	char *name = NULL;
	size_t name_len = 0;
	int rc = -1;

	if (dec_uint(d, VARS_MAX, &n_vars) < 0)
		return -1;
	for (i = 0; i < n_vars; i++) {
		const char *rest, *value;
		size_t rest_len, value_len;
		uint64_t sh;
		char *nn, *val;

		if (dec_uint(d, name_len, &sh) < 0 || dec_strn(d, &rest, &rest_len) < 0 ||
		    dec_strn(d, &value, &value_len) < 0 || sh + rest_len == 0)
			goto out;
		nn = talloc_realloc_size(NULL, name, sh + rest_len + 1);
		if (!nn)
			goto out;
		name = nn;
		memcpy(name + sh, rest, rest_len);
		name_len = sh + rest_len;
		name[name_len] = '\0';
		val = talloc_strndup(NULL, value, value_len);
		if (!val)
			goto out;
		/* A name seen twice is corruption, not an update. */
		int set = vars_get(vars, name) ? -1 : vars_set(vars, name, val, false);
		talloc_free(val);
		if (set < 0)
			goto out;
	}
	rc = 0;
out:
	talloc_free(name);
	return rc;
}

/* Decodes into s; on error s is left as it was and -1 returned. s's previous vars are not
 * freed (s is treated as uninitialised). */
int session_decode(struct session *s, void *ctx, const char *data, size_t len)
{
	struct session tmp;
	struct dec d = { data, data + len };
	uint64_t u;
	bool v1, v2;

	if (!data || len < strlen(SESSION_MAGIC))
		return -1;
	v1 = memcmp(data, SESSION_MAGIC_V1, strlen(SESSION_MAGIC_V1)) == 0;
	v2 = memcmp(data, SESSION_MAGIC_V2, strlen(SESSION_MAGIC_V2)) == 0;
	if (!v1 && !v2 && memcmp(data, SESSION_MAGIC, strlen(SESSION_MAGIC)) != 0)
		return -1;
	d.p += strlen(SESSION_MAGIC);
	memset(&tmp, 0, sizeof(tmp));
	vars_init(&tmp.vars, ctx);

	if (dec_fixed(&d, &tmp) < 0 || dec_vars(&d, &tmp.vars) < 0)
		goto fail;
	if (!v1 && dec_field(&d, tmp.via, sizeof(tmp.via)) < 0)
		goto fail;
	if (!v1 && !v2) {
		if (dec_uint(&d, UINT16_MAX, &u) < 0)
			goto fail;
		tmp.page_first = (uint16_t)u;
		if (dec_uint(&d, PAGE_N_MAX, &u) < 0)
			goto fail;
		tmp.page_n = (uint8_t)u;
	}
	if (d.p != d.end)
		goto fail;
	memcpy(s, &tmp, sizeof(*s));
	return 0;
fail:
	vars_clear(&tmp.vars);
	return -1;
}

int session_decode_visit(void *ctx, const char *data, size_t len,
			 void (*fn)(void *data, const struct session *s), void *fn_data)
{
	void *sctx = talloc_named_const(ctx, 0, "session_each item");
	struct session sess;

	if (!sctx || session_decode(&sess, sctx, data, len) < 0) {
		talloc_free(sctx);
		return -1;
	}
	fn(fn_data, &sess);
	talloc_free(sctx);
	return 0;
}
