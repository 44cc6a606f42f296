/* One message of the notification API (api_message.h): which members, then the text (given,
 * or a template rendered with vars, or a procedure to open), the times and the options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>

#include "guichet/api_message.h"
#include "guichet/flow.h"
#include "guichet/template.h"
#include "guichet/text.h"

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

void api_format_time(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

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

bool api_printable(const char *s)
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
	    !api_printable(json_string_value(v))) {
		snprintf(err, err_len, "`%s` must be 1 to %zu printable characters", key, max);
		return NULL;
	}
	return json_string_value(v);
}

/* `flow` + `step` (+ `vars`): a procedure Guichet opens with the person. The flow and step
 * must exist in the flows now loaded; vars is an object of strings and integers. */
static int parse_opening(const struct api_message_env *env, json_t *o, struct store_scheduled *m,
			 void *ctx, char *err, size_t err_len)
{
	json_t *f = json_object_get(o, "flow"), *st = json_object_get(o, "step");
	json_t *vars = json_object_get(o, "vars"), *val;
	const struct flow_set *fs = env->flows;
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

/* Only the members the API knows: a misspelt one is an error, not silently ignored. */
static int check_members(json_t *o, char *err, size_t err_len)
{
	static const char *const allowed[] = { "to", "text", "template", "vars", "send_at",
					       "not_after", "via", "reference", "idempotency_key",
					       "flow", "step" };
	const char *key;
	json_t *v;

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
	return 0;
}

/* `template` + `vars` rendered like a flow's text into *text (under ctx; NULL when it
 * renders to nothing, which the length check refuses). 0, or -1 with err. */
static int render_template(json_t *o, json_t *tmpl, void *ctx, char **text, char *err,
			   size_t err_len)
{
	struct json_vars jv = { .vars = json_object_get(o, "vars") };
	char terr[128];

	if (!json_is_string(tmpl) || json_string_length(tmpl) > API_TEXT_MAX_BYTES) {
		snprintf(err, err_len, "`template` must be a string of at most %u bytes",
			 API_TEXT_MAX_BYTES);
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
	*text = template_expand(ctx, json_string_value(tmpl), lookup_var, &jv);
	return 0;
}

/* `text`, or `template` + `vars`: the text to send into m->text, folded and measured. */
static int parse_text(const struct api_message_env *env, json_t *o, struct store_scheduled *m,
		      void *ctx, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, "text"), *tmpl = json_object_get(o, "template");
	struct text_measure tm;
	char *text = NULL;

	if ((v != NULL) == (tmpl != NULL)) {
		snprintf(err, err_len, "give either `text` or `template` (with `vars`)");
		return -1;
	}
	if (v) {
		if (!json_is_string(v)) {
			snprintf(err, err_len, "`text` must be a string");
			return -1;
		}
		if (json_object_get(o, "vars")) {
			snprintf(err, err_len, "`vars` goes with `template`, not `text`");
			return -1;
		}
		text = talloc_strdup(ctx, json_string_value(v));
	} else if (render_template(o, tmpl, ctx, &text, err, err_len) < 0) {
		return -1;
	}
	if (!text || !*text || strlen(text) > API_TEXT_MAX_BYTES) {
		snprintf(err, err_len, "the text must hold 1 to %u bytes", API_TEXT_MAX_BYTES);
		return -1;
	}
	if (env->fold)
		text = text_fold_gsm7(ctx, text);
	text_measure(text, &tm);
	if (env->max_parts && tm.parts > env->max_parts) {
		snprintf(err, err_len, "the text takes %u SMS parts; at most %u are sent", tm.parts,
			 env->max_parts);
		return -1;
	}
	m->text = text;
	return 0;
}

/* `send_at` (never before now) and `not_after` (after send_at). */
static int parse_times(json_t *o, struct store_scheduled *m, int64_t now, char *err,
		       size_t err_len)
{
	json_t *v;

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
	return 0;
}

/* `via`, `reference`, `idempotency_key`: copied under ctx, since the JSON body is gone
 * before the group commit stores them. */
static int parse_options(json_t *o, struct store_scheduled *m, void *ctx, char *err,
			 size_t err_len)
{
	const char *s;

	m->via = opt_string(o, "via", API_VIA_MAX, err, err_len);
	if (!*err)
		m->reference = opt_string(o, "reference", API_REF_MAX, err, err_len);
	if (!*err)
		m->idempotency_key = opt_string(o, "idempotency_key", API_KEY_MAX, err, err_len);
	if (*err)
		return -1;
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
	return 0;
}

int api_message_parse(const struct api_message_env *env, json_t *o, struct store_scheduled *m,
		      void *ctx, int64_t now, char *err, size_t err_len)
{
	json_t *v;

	err[0] = '\0';
	memset(m, 0, sizeof(*m));
	if (check_members(o, err, err_len) < 0)
		return -1;
	v = json_object_get(o, "to");
	if (!json_is_string(v) || !api_number_ok(json_string_value(v))) {
		snprintf(err, err_len, "`to` must be a number in E.164 form, like \"+33612345678\"");
		return -1;
	}
	m->to = talloc_strdup(ctx, json_string_value(v));
	if (json_object_get(o, "flow") || json_object_get(o, "step")) {
		if (parse_opening(env, o, m, ctx, err, err_len) < 0)
			return -1;
	} else if (parse_text(env, o, m, ctx, err, err_len) < 0) {
		return -1;
	}
	if (parse_times(o, m, now, err, err_len) < 0 || parse_options(o, m, ctx, err, err_len) < 0)
		return -1;
	m->origin = SCHED_API;
	m->status = SCHED_QUEUED;
	return 0;
}
