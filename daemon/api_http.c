/* The notification API (api_http.h): HTTPS on the loop, JSON in and out, every accepted
 * message committed before its 202. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>

#include "guichet/clock.h"
#include "guichet/api_http.h"
#include "guichet/config.h"
#include "guichet/log.h"
#include "guichet/flow.h"
#include "guichet/mhd_loop.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/store.h"
#include "guichet/template.h"
#include "guichet/text.h"
#include "guichet/ydoc.h"

#define BODY_MAX_ONE (64u * 1024u)
#define BODY_MAX_BATCH (4u * 1024u * 1024u)
#define TEXT_MAX_BYTES 2000
#define REF_MAX 64
#define KEY_MAX 128
#define VIA_MAX 63
#define PEM_MAX (256u * 1024u)

struct api_http {
	struct mhd_loop *loop;
	struct api_http_config cfg;
	struct api_http_env env;
	/* Group commit: the requests checked during one loop iteration wait (suspended) for
	 * one transaction, so concurrent clients share each fsync. */
	struct llist_head pending;	/* struct areq */
	struct osmo_timer_list flush;
};

/* One request: its body, gathered up to a bound fixed by the route. */
struct areq {
	struct api_http *a;
	struct MHD_Connection *conn;
	char *body;
	size_t len, max;
	bool too_big;
	bool done;		/* an answer is queued already (refused early) */
	/* waiting for the group commit */
	struct llist_head entry;
	bool queued, batch;
	struct store_scheduled *ms;
	bool *again;		/* per message: its idempotency key was known */
	unsigned n;
	/* its answer, once committed (or not): given to MHD when it runs the request again */
	bool ready;
	unsigned status;
	json_t *resp;
	const char *type;
};

/* ---- configuration ---- */

static char *read_file(void *ctx, const char *path, bool secret, char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");
	struct stat sb;
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > (off_t)PEM_MAX) {
		snprintf(err, err_len, "%s: not a regular file of at most %u bytes", path, PEM_MAX);
		goto out;
	}
	if (secret && (sb.st_mode & 077)) {
		snprintf(err, err_len, "%s: readable by others (mode %o): chmod 600 it", path,
			 (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	buf = talloc_size(ctx, (size_t)sb.st_size + 1);
	if (!buf) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	n = fread(buf, 1, (size_t)sb.st_size, f);
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static char *config_file(void *ctx, struct ydoc *y, yaml_node_t *v, const struct config *c,
			 bool secret)
{
	const char *s = ydoc_string(y, v);
	char err[300], *path, *text;

	if (!s)
		return NULL;
	path = config_path(ctx, c, s);
	text = path ? read_file(ctx, path, secret, err, sizeof(err)) : NULL;
	if (path && !text)
		ydoc_error(y, v, "%s", err);
	talloc_free(path);
	return text;
}

int api_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, const struct config *c,
			  struct api_http_config **out)
{
	static const char *const keys[] = { "listen", "port", "cert", "key", "tokens",
					    "client_ca", "max_batch" };
	struct api_http_config *ac;
	yaml_node_t *v;
	const char *s;
	unsigned errors = y->diag ? y->diag->n_errors : 0;

	*out = NULL;
	if (!ydoc_is_map(node)) {
		ydoc_error(y, node, "api must be a mapping: { listen: 127.0.0.1, port: 8443, cert: "
			   "FILE, key: FILE, tokens: [SECRET] }, found %s", ydoc_kind(node));
		return -1;
	}
	ac = talloc_zero(ctx, struct api_http_config);
	if (!ac)
		return -1;
	ac->listen = "127.0.0.1";
	ac->port = 8443;
	ac->max_batch = 1000;
	ydoc_check_keys(y, node, keys, ARRAY_SIZE(keys));
	if ((v = ydoc_get(y, node, "listen")) && (s = ydoc_listen(y, v)))
		ac->listen = talloc_strdup(ac, s);
	if ((v = ydoc_get(y, node, "port")))
		(void)ydoc_port(y, v, 0, &ac->port);
	if ((v = ydoc_get(y, node, "max_batch")) && ydoc_uint(y, v, &ac->max_batch) == 0 &&
	    (ac->max_batch == 0 || ac->max_batch > 100000))
		ydoc_error(y, v, "max_batch must be between 1 and 100000");
	if ((v = ydoc_get(y, node, "cert")))
		ac->cert_pem = config_file(ac, y, v, c, false);
	else
		ydoc_error(y, node, "api needs `cert`: the server certificate (PEM); TLS is always on");
	if ((v = ydoc_get(y, node, "key")))
		ac->key_pem = config_file(ac, y, v, c, true);
	else
		ydoc_error(y, node, "api needs `key`: the server certificate's key (PEM)");
	if ((v = ydoc_get(y, node, "client_ca")))
		ac->client_ca_pem = config_file(ac, y, v, c, false);
	if ((v = ydoc_get(y, node, "tokens"))) {
		if (!ydoc_is_seq(v)) {
			ydoc_error(y, v, "tokens: a list of secret file names, found %s", ydoc_kind(v));
		} else {
			unsigned n = ydoc_len(v);
			ac->tokens = talloc_zero_array(ac, char *, n ? n : 1);
			for (unsigned i = 0; ac->tokens && i < n; i++) {
				yaml_node_t *it = ydoc_seq_item(y, v, i);
				char err[256];
				char *t;
				if (!(s = ydoc_string(y, it)))
					continue;
				if (!(t = config_read_secret(ac, c, s, err, sizeof(err))))
					ydoc_error(y, it, "%s", err);
				else if (strlen(t) < 16)
					ydoc_error(y, it, "token `%s` is shorter than 16 characters", s);
				else
					ac->tokens[ac->n_tokens++] = t;
			}
		}
	}
	if (!ydoc_get(y, node, "tokens") && !ydoc_get(y, node, "client_ca"))
		ydoc_error(y, node, "api needs `tokens` (secret files), `client_ca`, or both: "
			   "nobody could be let in");
	if (y->diag && y->diag->n_errors > errors) {
		talloc_free(ac);
		return -1;
	}
	*out = ac;
	return 0;
}

/* ---- pure helpers ---- */

bool api_number_ok(const char *s)
{
	size_t n;

	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	for (n = 1; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n - 1 >= 8 && n - 1 <= 15;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int64_t api_parse_time(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, ms = 0, off = 0;
	const char *p;

	if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec > 59 ? 59 : sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return ((int64_t)t - (int64_t)off * 60) * 1000 + ms;
}

static void format_time(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

/* ---- answers ---- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
			      json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *resp;
	enum MHD_Result rc;

	json_decref(body);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* RFC 9457 problem details. */
static enum MHD_Result problem(struct MHD_Connection *conn, unsigned status, const char *title,
			       const char *detail)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", title,
			      "status", (int)status, "detail", detail ? detail : title);

	if (status == MHD_HTTP_UNAUTHORIZED) {
		struct MHD_Response *resp;
		char *text = json_dumps(o, JSON_COMPACT);
		enum MHD_Result rc;

		json_decref(o);
		if (!text)
			return MHD_NO;
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/problem+json");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		rc = MHD_queue_response(conn, status, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	return answer(conn, status, "application/problem+json", o);
}

/* ---- authentication ---- */

static bool same_secret(const char *want, const char *got, size_t gl)
{
	size_t wl = strlen(want), i;
	volatile unsigned char diff = (unsigned char)(wl != gl);

	/* Constant in the secret's length whatever the candidate. */
	for (i = 0; i < wl; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
	return diff == 0;
}

static bool token_ok(const struct api_http *a, const char *auth)
{
	bool ok = false;

	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	/* Every token is compared: the time does not tell which one came close. */
	for (unsigned i = 0; i < a->cfg.n_tokens; i++)
		ok |= same_secret(a->cfg.tokens[i], auth, strlen(auth));
	return ok;
}

static bool client_cert_ok(const struct api_http *a, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t tls;
	unsigned status = 1, n = 0;

	if (!a->cfg.client_ca_pem)
		return false;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	tls = (gnutls_session_t)ci->tls_session;
	if (!gnutls_certificate_get_peers(tls, &n) || n == 0)
		return false;
	return gnutls_certificate_verify_peers2(tls, &status) == GNUTLS_E_SUCCESS && status == 0;
}

/* ---- one message ---- */

struct json_vars {
	json_t *vars;
	char num[32];
};

static const char *lookup_var(void *data, const char *name)
{
	struct json_vars *jv = data;
	json_t *v = jv->vars ? json_object_get(jv->vars, name) : NULL;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(jv->num, sizeof(jv->num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return jv->num;
	}
	return NULL;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* An optional string member: NULL when absent; err set when present but wrong. */
static const char *opt_string(json_t *o, const char *key, size_t max, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		snprintf(err, err_len, "`%s` must be a string", key);
		return NULL;
	}
	if (json_string_length(v) == 0 || json_string_length(v) > max ||
	    !printable(json_string_value(v))) {
		snprintf(err, err_len, "`%s` must be 1 to %zu printable characters", key, max);
		return NULL;
	}
	return json_string_value(v);
}

/* `flow` + `step` (+ `vars`): a procedure Guichet opens with the person. The flow and step
 * must exist in the flows now loaded; vars is an object of strings and integers. */
static int parse_opening(const struct api_http *a, json_t *o, struct store_scheduled *m,
			 void *ctx, char *err, size_t err_len)
{
	json_t *f = json_object_get(o, "flow"), *st = json_object_get(o, "step");
	json_t *vars = json_object_get(o, "vars"), *val;
	const struct flow_set *fs = a->env.router ? router_flows(a->env.router) : NULL;
	const struct flow *fl;
	const char *k;

	if (json_object_get(o, "text") || json_object_get(o, "template")) {
		snprintf(err, err_len, "a procedure (`flow` + `step`) says its own text: no `text` "
			 "nor `template`");
		return -1;
	}
	if (!json_is_string(f) || !json_is_string(st)) {
		snprintf(err, err_len, "`flow` and `step` must both be given, as strings");
		return -1;
	}
	fl = fs ? flow_find(fs, json_string_value(f)) : NULL;
	if (!fl || flow_step_index(fl, json_string_value(st)) < 0) {
		snprintf(err, err_len, "no step `%.48s` in a flow `%.48s`", json_string_value(st),
			 json_string_value(f));
		return -1;
	}
	if (vars && !json_is_object(vars)) {
		snprintf(err, err_len, "`vars` must be an object of strings");
		return -1;
	}
	json_object_foreach(vars, k, val) {
		if ((!json_is_string(val) && !json_is_integer(val)) || strlen(k) > 48 ||
		    (json_is_string(val) && json_string_length(val) > 512)) {
			snprintf(err, err_len, "`vars.%.40s` must be a string (at most 512 bytes) or "
				 "an integer", k);
			return -1;
		}
	}
	m->flow = talloc_strdup(ctx, json_string_value(f));
	m->step = talloc_strdup(ctx, json_string_value(st));
	if (vars) {
		char *j = json_dumps(vars, JSON_COMPACT);
		m->vars = j ? talloc_strdup(ctx, j) : NULL;
		free(j);
		if (!m->vars) {
			snprintf(err, err_len, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Checks and renders one message object into m (strings under ctx). 0, or -1 with err (a
 * 400). */
static int parse_message(const struct api_http *a, json_t *o, struct store_scheduled *m,
			 void *ctx, int64_t now, char *err, size_t err_len)
{
	static const char *const allowed[] = { "to", "text", "template", "vars", "send_at",
					       "not_after", "via", "reference", "idempotency_key",
					       "flow", "step" };
	const char *key, *s;
	json_t *v;
	char *text = NULL;

	err[0] = '\0';
	memset(m, 0, sizeof(*m));
	if (!json_is_object(o)) {
		snprintf(err, err_len, "a message must be a JSON object");
		return -1;
	}
	json_object_foreach(o, key, v) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(allowed); i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i == ARRAY_SIZE(allowed)) {
			snprintf(err, err_len, "unknown member `%.40s`", key);
			return -1;
		}
	}
	v = json_object_get(o, "to");
	if (!json_is_string(v) || !api_number_ok(json_string_value(v))) {
		snprintf(err, err_len, "`to` must be a number in E.164 form, like \"+33612345678\"");
		return -1;
	}
	m->to = talloc_strdup(ctx, json_string_value(v));
	if (json_object_get(o, "flow") || json_object_get(o, "step")) {
		if (parse_opening(a, o, m, ctx, err, err_len) < 0)
			return -1;
		goto when;
	}
	v = json_object_get(o, "text");
	json_t *tmpl = json_object_get(o, "template");
	if ((v != NULL) == (tmpl != NULL)) {
		snprintf(err, err_len, "give either `text` or `template` (with `vars`)");
		return -1;
	}
	if (v) {
		if (!json_is_string(v)) {
			snprintf(err, err_len, "`text` must be a string");
			return -1;
		}
		text = talloc_strdup(ctx, json_string_value(v));
		if (json_object_get(o, "vars")) {
			snprintf(err, err_len, "`vars` goes with `template`, not `text`");
			return -1;
		}
	} else {
		struct json_vars jv = { .vars = json_object_get(o, "vars") };
		char terr[128];
		if (!json_is_string(tmpl) || json_string_length(tmpl) > TEXT_MAX_BYTES) {
			snprintf(err, err_len, "`template` must be a string of at most %u bytes",
				 TEXT_MAX_BYTES);
			return -1;
		}
		if (jv.vars && !json_is_object(jv.vars)) {
			snprintf(err, err_len, "`vars` must be an object of strings");
			return -1;
		}
		if (template_check(json_string_value(tmpl), NULL, NULL, terr, sizeof(terr), NULL)) {
			snprintf(err, err_len, "`template`: %s", terr);
			return -1;
		}
		text = template_expand(ctx, json_string_value(tmpl), lookup_var, &jv);
	}
	if (!text || !*text || strlen(text) > TEXT_MAX_BYTES) {
		snprintf(err, err_len, "the text must hold 1 to %u bytes", TEXT_MAX_BYTES);
		return -1;
	}
	if (a->env.fold)
		text = text_fold_gsm7(ctx, text);
	struct text_measure tm;
	text_measure(text, &tm);
	if (a->env.max_parts && tm.parts > a->env.max_parts) {
		snprintf(err, err_len, "the text takes %u SMS parts; at most %u are sent", tm.parts,
			 a->env.max_parts);
		return -1;
	}
	m->text = text;
when:
	m->send_at = now;
	if ((v = json_object_get(o, "send_at"))) {
		if (!json_is_string(v) || (m->send_at = api_parse_time(json_string_value(v))) < 0) {
			snprintf(err, err_len, "`send_at` must be an RFC 3339 date-time, like "
				 "\"2026-12-01T09:30:00+01:00\"");
			return -1;
		}
		if (m->send_at < now)
			m->send_at = now;
	}
	if ((v = json_object_get(o, "not_after"))) {
		if (!json_is_string(v) || (m->not_after = api_parse_time(json_string_value(v))) < 0) {
			snprintf(err, err_len, "`not_after` must be an RFC 3339 date-time");
			return -1;
		}
		if (m->not_after <= m->send_at) {
			snprintf(err, err_len, "`not_after` must come after `send_at`");
			return -1;
		}
	}
	m->via = opt_string(o, "via", VIA_MAX, err, err_len);
	if (!*err)
		m->reference = opt_string(o, "reference", REF_MAX, err, err_len);
	if (!*err)
		m->idempotency_key = opt_string(o, "idempotency_key", KEY_MAX, err, err_len);
	if (*err)
		return -1;
	/* Copies: the JSON body is gone before the group commit stores them. */
	m->via = m->via ? talloc_strdup(ctx, m->via) : NULL;
	m->reference = m->reference ? talloc_strdup(ctx, m->reference) : NULL;
	m->idempotency_key = m->idempotency_key ? talloc_strdup(ctx, m->idempotency_key) : NULL;
	if ((s = m->via))
		for (; *s; s++)
			if (!(*s == '_' || *s == '-' || *s == '.' || (*s >= '0' && *s <= '9') ||
			      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
				snprintf(err, err_len, "`via` must name a transport or group");
				return -1;
			}
	m->origin = SCHED_API;
	m->status = SCHED_QUEUED;
	return 0;
}

static json_t *status_json(const struct store_scheduled *m)
{
	json_t *o = json_pack("{s:I, s:s}", "id", (json_int_t)m->id, "status",
			      sched_status_name(m->status));

	if (o && m->reason)
		json_object_set_new(o, "reason", json_string(m->reason));
	return o;
}

/* Adds r's messages inside the open transaction: each opted-out number is refused at once.
 * *again[i] tells a repeated idempotency key. 0, or -1. */
static int store_request(struct store *st, struct areq *r, bool *again)
{
	for (unsigned i = 0; i < r->n; i++) {
		int rc = st->ops->optout_is(st, r->ms[i].to);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			r->ms[i].status = SCHED_REFUSED;
			r->ms[i].reason = "opt-out";
		}
		rc = st->ops->schedule_add(st, &r->ms[i]);
		if (rc < 0)
			return -1;
		again[i] = rc == 1;
	}
	return 0;
}

static json_t *problem_json(unsigned status, const char *title, const char *detail)
{
	return json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", title,
			 "status", (int)status, "detail", detail ? detail : title);
}

/* The group commit: every waiting request's messages in one transaction, then each answer
 * (202 with the ids, or 503 for all when the store failed: nothing was accepted). */
static void flush_pending(void *data)
{
	struct api_http *a = data;
	struct store *st = a->env.st;
	struct areq *r, *tmp;
	bool ok;

	if (llist_empty(&a->pending))
		return;
	ok = st->ops->begin(st) == 0;
	llist_for_each_entry(r, &a->pending, entry) {
		r->again = talloc_zero_array(r, bool, r->n);
		if (!ok || !r->again || store_request(st, r, r->again) < 0) {
			ok = false;
			break;
		}
	}
	if (ok && st->ops->commit(st) < 0)
		ok = false;
	if (!ok) {
		st->ops->rollback(st);
		glog(GLOG_STORE, LOGL_ERROR, NULL, "api: %s", store_last_error(st));
	}
	llist_for_each_entry_safe(r, tmp, &a->pending, entry) {
		bool *again = r->again;
		json_t *list = NULL;

		llist_del(&r->entry);
		r->queued = false;
		r->again = NULL;
		if (ok) {
			if (r->batch)
				list = json_array();
			for (unsigned i = 0; i < r->n; i++) {
				if (again && again[i])
					st->ops->schedule_get(st, r->ms[i].id, &r->ms[i], r);
				if (list)
					json_array_append_new(list, status_json(&r->ms[i]));
			}
			r->status = MHD_HTTP_ACCEPTED;
			r->type = "application/json";
			r->resp = r->batch ? json_pack("{s:o}", "messages", list)
					   : status_json(&r->ms[0]);
		} else {
			r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
			r->type = "application/problem+json";
			r->resp = problem_json(r->status, "Store unavailable", "the messages could "
					       "not be stored; nothing was accepted: retry later");
		}
		talloc_free(again);
		r->ready = true;
		MHD_resume_connection(r->conn);
	}
	mhd_loop_kick(a->loop);
	if (ok && a->env.sched)
		scheduler_kick(a->env.sched);
}

/* ---- routes ---- */

static enum MHD_Result store_error(struct MHD_Connection *conn, struct api_http *a)
{
	glog(GLOG_STORE, LOGL_ERROR, NULL, "api: %s", store_last_error(a->env.st));
	return problem(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Store unavailable",
		       "the message could not be stored; nothing was accepted: retry later");
}

static enum MHD_Result post_messages(struct api_http *a, struct MHD_Connection *conn,
				     json_t *body, bool batch, struct areq *r, void *ctx)
{
	char err[256];
	int64_t now = clock_wall_ms();
	json_t *list = body;
	unsigned n, i;
	struct store_scheduled *ms;

	if (batch) {
		list = json_is_object(body) ? json_object_get(body, "messages") : NULL;
		if (!json_is_array(list) || json_object_size(body) != 1)
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request",
				       "a batch is {\"messages\": [ ... ]}");
		n = (unsigned)json_array_size(list);
		if (n == 0 || n > a->cfg.max_batch) {
			snprintf(err, sizeof(err), "a batch holds 1 to %u messages", a->cfg.max_batch);
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", err);
		}
	} else {
		n = 1;
	}
	ms = talloc_array(ctx, struct store_scheduled, n);
	if (!ms)
		return MHD_NO;
	for (i = 0; i < n; i++) {
		int rc = parse_message(a, batch ? json_array_get(list, i) : body, &ms[i], ctx, now,
				       err, sizeof(err));
		if (rc < 0) {
			char detail[300];
			if (batch)
				snprintf(detail, sizeof(detail), "messages[%u]: %s", i, err);
			else
				snprintf(detail, sizeof(detail), "%s", err);
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", detail);
		}
	}
	if (!batch) {
		const char *hk = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
		if (hk && ms[0].idempotency_key && strcmp(hk, ms[0].idempotency_key) != 0)
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request",
				       "the Idempotency-Key header and `idempotency_key` differ");
		if (hk && !ms[0].idempotency_key) {
			if (!*hk || strlen(hk) > KEY_MAX || !printable(hk))
				return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request",
					       "Idempotency-Key: 1 to 128 printable characters");
			ms[0].idempotency_key = talloc_strdup(ctx, hk);
		}
	}
	/* Checked: it waits for the group commit at the end of this loop iteration. */
	r->ms = ms;
	r->n = n;
	r->batch = batch;
	r->queued = true;
	llist_add_tail(&r->entry, &a->pending);
	MHD_suspend_connection(conn);
	if (!osmo_timer_pending(&a->flush))
		osmo_timer_schedule(&a->flush, 0, 0);
	return MHD_YES;
}

static enum MHD_Result one_message(struct api_http *a, struct MHD_Connection *conn,
				   const char *method, const char *idstr, void *ctx)
{
	struct store *st = a->env.st;
	struct store_scheduled m;
	char *end;
	long long id;
	int rc;

	errno = 0;
	id = strtoll(idstr, &end, 10);
	if (!*idstr || *end || errno || id <= 0)
		return problem(conn, MHD_HTTP_NOT_FOUND, "Not found", "no such message");
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0) {
		rc = st->ops->schedule_cancel(st, id);
		if (rc < 0)
			return store_error(conn, a);
	}
	rc = st->ops->schedule_get(st, id, &m, ctx);
	if (rc < 0)
		return store_error(conn, a);
	if (rc == 1)
		return problem(conn, MHD_HTTP_NOT_FOUND, "Not found", "no such message");
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0 && m.status != SCHED_CANCELLED) {
		char detail[96];
		snprintf(detail, sizeof(detail), "the message is %s: it cannot be cancelled",
			 sched_status_name(m.status));
		return problem(conn, MHD_HTTP_CONFLICT, "Conflict", detail);
	}
	json_t *o = status_json(&m);
	char t[40];
	format_time(t, sizeof(t), m.send_at);
	json_object_set_new(o, "send_at", json_string(t));
	if (m.not_after) {
		format_time(t, sizeof(t), m.not_after);
		json_object_set_new(o, "not_after", json_string(t));
	}
	format_time(t, sizeof(t), m.created * 1000);
	json_object_set_new(o, "created", json_string(t));
	json_object_set_new(o, "origin", json_string(sched_origin_name(m.origin)));
	if (m.reference)
		json_object_set_new(o, "reference", json_string(m.reference));
	return answer(conn, MHD_HTTP_OK, "application/json", o);
}

static enum MHD_Result route(struct api_http *a, struct MHD_Connection *conn, const char *url,
			     const char *method, struct areq *r)
{
	void *ctx = talloc_new(r);	/* the messages live in it until the group commit */
	enum MHD_Result rc;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	if (strcmp(url, "/v1/messages") == 0 || strcmp(url, "/v1/messages:batch") == 0) {
		json_error_t jerr;
		json_t *body;
		if (!post) {
			rc = problem(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "POST");
			goto out;
		}
		body = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
		if (!body) {
			char detail[256];
			snprintf(detail, sizeof(detail), "the body is not JSON: %s",
				 r->len ? jerr.text : "empty");
			rc = problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", detail);
			goto out;
		}
		rc = post_messages(a, conn, body, url[12] == ':', r, ctx);
		json_decref(body);
	} else if (strncmp(url, "/v1/messages/", 13) == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_DELETE))
			rc = problem(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed",
				     "GET or DELETE");
		else if (r->len)
			rc = problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", "no body here");
		else
			rc = one_message(a, conn, method, url + 13, ctx);
	} else {
		rc = problem(conn, MHD_HTTP_NOT_FOUND, "Not found", "see docs/api.yaml");
	}
out:
	if (!r->queued)
		talloc_free(ctx);
	return rc;
}

static int areq_destroy(struct areq *r)
{
	if (r->queued)
		llist_del(&r->entry);
	json_decref(r->ready ? r->resp : NULL);
	return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct api_http *a = cls;
	struct areq *r = *con_cls;

	(void)version;
	if (!r) {
		r = talloc_zero(a, struct areq);
		if (!r)
			return MHD_NO;
		r->a = a;
		r->conn = conn;
		INIT_LLIST_HEAD(&r->entry);
		talloc_set_destructor(r, areq_destroy);
		*con_cls = r;
		r->max = strcmp(url, "/v1/messages:batch") == 0 ? BODY_MAX_BATCH : BODY_MAX_ONE;
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								MHD_HTTP_HEADER_AUTHORIZATION);
		if (auth ? !token_ok(a, auth) : !client_cert_ok(a, conn)) {
			r->done = true;
			glog(GLOG_MAIN, LOGL_NOTICE, NULL, "api: %s %s refused: %s", method, url,
			     auth ? "wrong token" : "no token and no accepted client certificate");
			return problem(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       "a bearer token or an accepted client certificate is needed");
		}
		return MHD_YES;
	}
	if (r->ready) {
		json_t *b = r->resp;

		r->ready = false;
		r->resp = NULL;
		return answer(conn, r->status, r->type, b);
	}
	if (r->done) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->too_big || r->len + *upload_size > r->max) {
			r->too_big = true;
		} else {
			char *nb = talloc_realloc(r, r->body, char, r->len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + r->len, upload, *upload_size);
			r->body = nb;
			r->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	r->done = true;
	if (r->too_big) {
		char detail[64];
		snprintf(detail, sizeof(detail), "the body is larger than %zu bytes", r->max);
		return problem(conn, MHD_HTTP_CONTENT_TOO_LARGE, "Content too large", detail);
	}
	return route(a, conn, url, method, r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)conn; (void)toe;
	talloc_free(*con_cls);
	*con_cls = NULL;
}

struct api_http *api_http_start(void *ctx, const struct api_http_config *cfg,
				const struct api_http_env *env)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	struct api_http *a;
	bool ipv6;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (!cfg || !cfg->cert_pem || !cfg->key_pem ||
	    !mhd_loop_sockaddr(cfg->listen, cfg->port, &ss, &ipv6)) {
		LOG_MAIN(LOGL_ERROR, "api: incomplete configuration");
		return NULL;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	a = talloc_zero(ctx, struct api_http);
	if (!a)
		return NULL;
	a->cfg = *cfg;
	a->env = *env;
	INIT_LLIST_HEAD(&a->pending);
	osmo_timer_setup(&a->flush, flush_pending, a);
	/* Client certificates only when a CA says which: MHD then asks the client for one
	 * and GnuTLS checks it against that CA (client_cert_ok). */
	struct MHD_OptionItem trust[] = {
		{ cfg->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
		  cfg->client_ca_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, access_cb, a,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem,
			     MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem,
			     MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
			     MHD_OPTION_NOTIFY_COMPLETED, completed_cb, a,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
			     MHD_OPTION_ARRAY, trust,
			     MHD_OPTION_END);
	if (!d) {
		LOG_MAIN(LOGL_ERROR, "api: cannot listen on %s port %u (TLS)", cfg->listen,
			 cfg->port);
		talloc_free(a);
		return NULL;
	}
	if (!(a->loop = mhd_loop_attach(a, d))) {
		MHD_stop_daemon(d);
		talloc_free(a);
		LOG_MAIN(LOGL_ERROR, "api: cannot run on the loop");
		return NULL;
	}
	LOG_MAIN(LOGL_NOTICE, "api: https://%s:%u/v1/messages (%u token(s)%s)", cfg->listen,
		 mhd_loop_port(a->loop), cfg->n_tokens,
		 cfg->client_ca_pem ? ", client certificates" : "");
	return a;
}

void api_http_stop(struct api_http *a)
{
	if (!a)
		return;
	/* What was checked is committed and answered before the server goes. */
	osmo_timer_del(&a->flush);
	flush_pending(a);
	mhd_loop_stop(a->loop);
	a->loop = NULL;
	talloc_free(a);
}
