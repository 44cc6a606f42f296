/* The `limits:` section of guichet.yaml -> struct guard_config (see guard.h and
 * guichet.yaml(5)). Anything left out keeps its default. */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"

static const char *const limit_keys[] = {
	"per_minute", "per_day", "block", "ussd_per_minute", "ussd_per_day", "loop", "ignore",
	"destinations", "daily_parts", "when_capped", "max_numbers",
};
static const char *const loop_keys[] = { "exchanges", "window", "mute" };

/* "+262 69" -> "+26269"; NULL (after an error) unless it is "*" or [+]digits. */
static const char *parse_prefix(void *ctx, struct ydoc *y, yaml_node_t *n)
{
	const char *s = ydoc_string(y, n);
	char *d, *o;

	if (!s)
		return NULL;
	if (strcmp(s, "*") == 0)
		return "*";
	d = o = talloc_strdup(ctx, s);
	for (const char *p = s; *p; p++) {
		if (*p == ' ')
			continue;
		if (!(*p >= '0' && *p <= '9') && !(*p == '+' && p == s)) {
			ydoc_error(y, n, "a destination is a prefix of digits, optionally after +, "
				   "like \"+336\" (or \"*\" for any), not `%s`", s);
			return NULL;
		}
		*o++ = *p;
	}
	*o = '\0';
	if (!*d || strcmp(d, "+") == 0) {
		ydoc_error(y, n, "an empty destination prefix: write \"*\" to allow any number");
		return NULL;
	}
	return d;
}

/* A list of strings into *list (under ctx); each goes through check when given. */
static void parse_list(void *ctx, struct ydoc *y, yaml_node_t *n, const char ***list,
		       unsigned *count, const char *(*check)(void *, struct ydoc *, yaml_node_t *))
{
	unsigned len;

	if (!ydoc_is_seq(n)) {
		ydoc_error(y, n, "expected a list, found %s", ydoc_kind(n));
		return;
	}
	len = ydoc_len(n);
	*list = talloc_zero_array(ctx, const char *, len ? len : 1);
	*count = 0;
	for (unsigned i = 0; *list && i < len; i++) {
		yaml_node_t *it = ydoc_seq_item(y, n, i);
		const char *s = check ? check(ctx, y, it) : ydoc_string(y, it);
		if (!s)
			continue;
		if (!*s) {
			ydoc_error(y, it, "an empty pattern");
			continue;
		}
		(*list)[(*count)++] = check ? s : talloc_strdup(ctx, s);
	}
}

static void parse_caps(void *ctx, struct ydoc *y, yaml_node_t *n, struct guard_config *c)
{
	if (!ydoc_is_map(n)) {
		ydoc_uint(y, n, &c->daily_parts);
		return;
	}
	ydoc_check_keys(y, n, NULL, 0);
	unsigned len = ydoc_len(n);
	c->caps = talloc_zero_array(ctx, struct guard_cap, len ? len : 1);
	c->n_caps = 0;
	for (unsigned i = 0; c->caps && i < len; i++) {
		const char *k = ydoc_string(y, ydoc_map_key(y, n, i));
		unsigned v;
		if (!k || ydoc_uint(y, ydoc_map_value(y, n, i), &v) < 0)
			continue;
		if (strcmp(k, "total") == 0) {
			c->daily_parts = v;
			continue;
		}
		c->caps[c->n_caps].via = talloc_strdup(ctx, k);
		c->caps[c->n_caps].parts = v;
		c->n_caps++;
	}
}

struct guard_config *guard_config_parse(void *ctx, struct ydoc *y, yaml_node_t *n)
{
	struct guard_config *c = talloc_zero(ctx, struct guard_config);
	yaml_node_t *v;

	if (!c)
		return NULL;
	guard_config_defaults(c);
	if (!n || ydoc_is_null(n))
		return c;
	if (!ydoc_is_map(n)) {
		ydoc_error(y, n, "`limits` expects a mapping: { per_minute: 10, per_day: 200 }");
		return c;
	}
	ydoc_check_keys(y, n, limit_keys, sizeof(limit_keys) / sizeof(limit_keys[0]));
	if ((v = ydoc_get(y, n, "per_minute")))
		ydoc_uint(y, v, &c->per_minute);
	if ((v = ydoc_get(y, n, "per_day")))
		ydoc_uint(y, v, &c->per_day);
	if ((v = ydoc_get(y, n, "block")))
		ydoc_duration(y, v, &c->block_s);
	if ((v = ydoc_get(y, n, "ussd_per_minute")))
		ydoc_uint(y, v, &c->ussd_per_minute);
	if ((v = ydoc_get(y, n, "ussd_per_day")))
		ydoc_uint(y, v, &c->ussd_per_day);
	if ((v = ydoc_get(y, n, "max_numbers"))) {
		if (ydoc_uint(y, v, &c->max_numbers) == 0 &&
		    (c->max_numbers < 64 || c->max_numbers > 16777216))
			ydoc_error(y, v, "`max_numbers` must be between 64 and 16777216");
	}
	if ((v = ydoc_get(y, n, "loop"))) {
		yaml_node_t *w;
		if (!ydoc_is_map(v)) {
			ydoc_error(y, v, "`loop` expects a mapping: { exchanges: 3, window: 10s, "
				   "mute: 1h }");
		} else {
			ydoc_check_keys(y, v, loop_keys, 3);
			if ((w = ydoc_get(y, v, "exchanges")))
				ydoc_uint(y, w, &c->loop_exchanges);
			if ((w = ydoc_get(y, v, "window")))
				ydoc_duration(y, w, &c->loop_window_s);
			if ((w = ydoc_get(y, v, "mute")))
				ydoc_duration(y, w, &c->loop_mute_s);
			if (c->loop_exchanges > 255)
				ydoc_error(y, w ? w : v, "`exchanges` must be at most 255");
		}
	}
	if ((v = ydoc_get(y, n, "ignore")))
		parse_list(c, y, v, &c->ignore, &c->n_ignore, NULL);
	if ((v = ydoc_get(y, n, "destinations"))) {
		parse_list(c, y, v, &c->allow, &c->n_allow, parse_prefix);
		if (ydoc_is_seq(v) && !ydoc_len(v))
			ydoc_warning(y, v, "no destination allowed: Guichet will answer nobody");
	}
	if ((v = ydoc_get(y, n, "daily_parts")))
		parse_caps(c, y, v, c);
	if ((v = ydoc_get(y, n, "when_capped"))) {
		const char *s = ydoc_string(y, v);
		if (s && strcmp(s, "finish_procedures") == 0)
			c->capped_in_procedure = true;
		else if (s && strcmp(s, "silence") == 0)
			c->capped_in_procedure = false;
		else if (s)
			ydoc_error(y, v, "`when_capped` is `finish_procedures` or `silence`, not `%s`",
				   s);
	}
	return c;
}
