/* The `notify:` section of guichet.yaml -> struct notify_config (scheduler.h,
 * guichet.yaml(5)): quiet hours, pacing, the opt-out words. Anything left out keeps its
 * default. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/scheduler.h"

static const char *default_stop[] = { "STOP", "ARRET" };
static const char *default_start[] = { "START" };
static const char *const day_names[7] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
};
static const char *const notify_keys[] = { "quiet_hours", "pacing", "stop", "start", "via",
					   "batch", "status_call" };
static const char *const quiet_keys[] = { "from", "to", "days", "tz" };

void notify_config_defaults(struct notify_config *c)
{
	memset(c, 0, sizeof(*c));
	c->quiet.start_min = 20 * 60;
	c->quiet.end_min = 8 * 60;
	c->quiet.days_mask = 1u << 0;	/* Sunday */
	c->quiet.tz = "Europe/Paris";
	c->pace_default = 10;
	c->stop = default_stop;
	c->n_stop = 2;
	c->start = default_start;
	c->n_start = 1;
	c->batch = 200;
}

/* "08:00" -> 480; -1 after a located error. */
static int parse_hhmm(struct ydoc *y, yaml_node_t *n)
{
	const char *s = ydoc_string(y, n);
	unsigned h, m;
	char tail;

	if (!s)
		return -1;
	if (sscanf(s, "%u:%u%c", &h, &m, &tail) != 2 || h > 23 || m > 59) {
		ydoc_error(y, n, "expected a time of day like \"20:00\", not `%s`", s);
		return -1;
	}
	return (int)(h * 60 + m);
}

static void parse_quiet(struct ydoc *y, yaml_node_t *n, struct notify_config *c)
{
	yaml_node_t *v;
	bool off;

	if (!ydoc_is_map(n)) {
		if (ydoc_bool(y, n, &off) == 0 && !off) {
			c->quiet.start_min = c->quiet.end_min = 0;
			c->quiet.days_mask = 0;
		} else if (off) {
			ydoc_error(y, n, "quiet_hours: write `off`, or a mapping { from: \"20:00\", "
				   "to: \"08:00\", days: [sunday], tz: Europe/Paris }");
		}
		return;
	}
	ydoc_check_keys(y, n, quiet_keys, sizeof(quiet_keys) / sizeof(quiet_keys[0]));
	if ((v = ydoc_get(y, n, "from"))) {
		int m = parse_hhmm(y, v);
		if (m >= 0)
			c->quiet.start_min = (unsigned)m;
	}
	if ((v = ydoc_get(y, n, "to"))) {
		int m = parse_hhmm(y, v);
		if (m >= 0)
			c->quiet.end_min = (unsigned)m;
	}
	if ((v = ydoc_get(y, n, "tz")) && (c->quiet.tz = ydoc_string(y, v)) &&
	    !quiet_tz_known(c->quiet.tz))
		ydoc_error(y, v, "tz: `%s` is not in the system's time zone database "
			   "(/usr/share/zoneinfo), e.g. Europe/Paris", c->quiet.tz);
	if ((v = ydoc_get(y, n, "days"))) {
		if (!ydoc_is_seq(v)) {
			ydoc_error(y, v, "days: expected a list like [saturday, sunday], found %s",
				   ydoc_kind(v));
			return;
		}
		c->quiet.days_mask = 0;
		for (unsigned i = 0; i < ydoc_len(v); i++) {
			yaml_node_t *it = ydoc_seq_item(y, v, i);
			const char *d = ydoc_string(y, it);
			int k;
			for (k = 0; d && k < 7; k++)
				if (strcasecmp(d, day_names[k]) == 0)
					break;
			if (d && k == 7)
				ydoc_error(y, it, "`%s` is not a day (monday ... sunday)", d);
			else if (d)
				c->quiet.days_mask |= 1u << k;
		}
	}
}

static void parse_pacing(void *ctx, struct ydoc *y, yaml_node_t *n, struct notify_config *c)
{
	if (!ydoc_is_map(n)) {
		ydoc_uint(y, n, &c->pace_default);
		return;
	}
	ydoc_check_keys(y, n, NULL, 0);
	unsigned len = ydoc_len(n);
	c->pace = talloc_zero_array(ctx, struct pace, len ? len : 1);
	for (unsigned i = 0; c->pace && i < len; i++) {
		const char *k = ydoc_string(y, ydoc_map_key(y, n, i));
		unsigned v;
		if (!k || ydoc_uint(y, ydoc_map_value(y, n, i), &v) < 0)
			continue;
		if (strcmp(k, "default") == 0) {
			c->pace_default = v;
			continue;
		}
		c->pace[c->n_pace].via = talloc_strdup(ctx, k);
		c->pace[c->n_pace].parts_per_s = v;
		c->n_pace++;
	}
}

static void parse_words(void *ctx, struct ydoc *y, yaml_node_t *n, const char ***list,
			unsigned *count)
{
	if (!ydoc_is_seq(n)) {
		ydoc_error(y, n, "expected a list of words, found %s", ydoc_kind(n));
		return;
	}
	unsigned len = ydoc_len(n);
	*list = talloc_zero_array(ctx, const char *, len ? len : 1);
	*count = 0;
	for (unsigned i = 0; *list && i < len; i++) {
		const char *s = ydoc_string(y, ydoc_seq_item(y, n, i));
		if (s && *s)
			(*list)[(*count)++] = talloc_strdup(ctx, s);
	}
}

struct notify_config *notify_config_parse(void *ctx, struct ydoc *y, yaml_node_t *n)
{
	struct notify_config *c = talloc_zero(ctx, struct notify_config);
	yaml_node_t *v;

	if (!c)
		return NULL;
	notify_config_defaults(c);
	if (!n || ydoc_is_null(n))
		return c;
	if (!ydoc_is_map(n)) {
		ydoc_error(y, n, "`notify` expects a mapping: { quiet_hours: ..., pacing: 10 }");
		return c;
	}
	ydoc_check_keys(y, n, notify_keys, sizeof(notify_keys) / sizeof(notify_keys[0]));
	if ((v = ydoc_get(y, n, "quiet_hours")))
		parse_quiet(y, v, c);
	if ((v = ydoc_get(y, n, "pacing")))
		parse_pacing(ctx, y, v, c);
	if ((v = ydoc_get(y, n, "stop")))
		parse_words(ctx, y, v, &c->stop, &c->n_stop);
	if ((v = ydoc_get(y, n, "start")))
		parse_words(ctx, y, v, &c->start, &c->n_start);
	if ((v = ydoc_get(y, n, "via")))
		c->via = ydoc_string(y, v);
	if ((v = ydoc_get(y, n, "status_call")) && (c->status_call = ydoc_string(y, v)) &&
	    !strchr(c->status_call, '.'))
		ydoc_error(y, v, "status_call: a back-end operation, like \"agenda.status\"");
	if ((v = ydoc_get(y, n, "batch")) && ydoc_uint(y, v, &c->batch) == 0 &&
	    (c->batch == 0 || c->batch > 10000)) {
		ydoc_error(y, v, "batch: between 1 and 10000");
		c->batch = 200;
	}
	return c;
}

/* Upper-case ASCII with the French accented vowels folded, trimmed; NULL when too long to
 * be a keyword. */
static char *keyword_norm(char *out, size_t len, const char *s)
{
	size_t o = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char c = (char)*p;

		if (p[0] == 0xc3 && p[1]) {
			unsigned char b = p[1] & ~0x20;	/* é -> É */
			p++;
			c = b >= 0x80 && b <= 0x86 ? 'A' : b == 0x87 ? 'C' :
			    b >= 0x88 && b <= 0x8b ? 'E' : b >= 0x8c && b <= 0x8f ? 'I' :
			    b >= 0x92 && b <= 0x96 ? 'O' : b >= 0x99 && b <= 0x9c ? 'U' : '?';
		} else {
			c = (char)toupper((unsigned char)c);
		}
		if (o + 1 >= len)
			return NULL;
		out[o++] = c;
	}
	while (o && (out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\n' ||
		     out[o - 1] == '\r' || out[o - 1] == '.' || out[o - 1] == '!'))
		o--;
	out[o] = '\0';
	return out;
}

static bool in_words(const char *const *words, unsigned n, const char *norm)
{
	char w[64];

	for (unsigned i = 0; i < n; i++)
		if (keyword_norm(w, sizeof(w), words[i]) && strcmp(w, norm) == 0)
			return true;
	return false;
}

int notify_keyword(const struct notify_config *c, const char *text)
{
	char t[64];

	if (!c || !text || !keyword_norm(t, sizeof(t), text) || !*t)
		return 0;
	if (in_words(c->stop, c->n_stop, t))
		return 1;
	if (in_words(c->start, c->n_start, t))
		return -1;
	return 0;
}
