/* The `modems:` section of the configuration. */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/config.h"
#include "guichet/modem.h"
#include "guichet/ydoc.h"

static const char *const modem_keys[] = {
	"name", "device", "connection", "model", "pin", "rate", "poll_ms",
	"reassembly_timeout", "sent_log", "status_reports",
};

/* Relative paths are taken from the config's directory (as config_path() does). */
static const char *resolve(void *ctx, const struct config *c, const char *p)
{
	if (!p || p[0] == '/' || !c || !c->dir || !c->dir[0])
		return talloc_strdup(ctx, p);
	return talloc_asprintf(ctx, "%s/%s", c->dir, p);
}

static const char *opt_string(void *ctx, struct ydoc *y, yaml_node_t *map, const char *key,
			      const char *dflt, int *errs)
{
	yaml_node_t *n = ydoc_get(y, map, key);
	if (!n)
		return dflt ? talloc_strdup(ctx, dflt) : NULL;
	if (ydoc_is_null(n))
		return talloc_strdup(ctx, "");
	const char *s = ydoc_string(y, n);
	if (!s) {
		(*errs)++;
		return NULL;
	}
	return talloc_strdup(ctx, s);
}

static void opt_uint(struct ydoc *y, yaml_node_t *map, const char *key, unsigned *out,
		     unsigned min, unsigned max, int *errs)
{
	yaml_node_t *n = ydoc_get(y, map, key);
	if (!n)
		return;
	unsigned v;
	if (ydoc_uint(y, n, &v) < 0) {
		(*errs)++;
		return;
	}
	if (v < min || v > max) {
		ydoc_error(y, n, "`%s` must be between %u and %u", key, min, max);
		(*errs)++;
		return;
	}
	*out = v;
}

int modem_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
		       struct modem_config **out)
{
	*out = NULL;
	if (ydoc_is_null(node))
		return 0;
	if (!ydoc_is_seq(node)) {
		ydoc_error(y, node, "`modems` must be a list of modems, found %s", ydoc_kind(node));
		return -1;
	}
	struct modem_config *mc = talloc_zero(ctx, struct modem_config);
	unsigned n = ydoc_len(node);
	if (!mc || !(mc->m = talloc_zero_array(mc, struct modem_def, n ? n : 1)))
		return -1;
	int errs = 0;
	for (unsigned i = 0; i < n; i++) {
		yaml_node_t *it = ydoc_seq_item(y, node, i);
		if (!ydoc_is_map(it)) {
			ydoc_error(y, it, "a modem must be a mapping, found %s", ydoc_kind(it));
			errs++;
			continue;
		}
		if (ydoc_check_keys(y, it, modem_keys, sizeof(modem_keys) / sizeof(modem_keys[0])))
			errs++;
		struct modem_def *d = &mc->m[mc->n];
		d->name = opt_string(mc, y, it, "name", NULL, &errs);
		const char *dev = opt_string(mc, y, it, "device", NULL, &errs);
		d->model = opt_string(mc, y, it, "model", "", &errs);
		bool dummy = d->model && !strcmp(d->model, "dummy");
		d->connection = opt_string(mc, y, it, "connection", dummy ? "none" : "at", &errs);
		d->pin = opt_string(mc, y, it, "pin", NULL, &errs);
		const char *sl = opt_string(mc, y, it, "sent_log", NULL, &errs);
		d->rate = 12;
		d->poll_ms = 1000;
		d->reassembly_timeout_s = 600;
		opt_uint(y, it, "rate", &d->rate, 0, 6000, &errs);
		opt_uint(y, it, "poll_ms", &d->poll_ms, 10, 600000, &errs);
		yaml_node_t *rt = ydoc_get(y, it, "reassembly_timeout");
		if (rt && ydoc_duration(y, rt, &d->reassembly_timeout_s) < 0)
			errs++;
		d->status_reports = true;
		yaml_node_t *sr = ydoc_get(y, it, "status_reports");
		if (sr && ydoc_bool(y, sr, &d->status_reports) < 0)
			errs++;

		if (!d->name || !d->name[0]) {
			ydoc_error(y, it, "a modem needs a `name`");
			errs++;
		} else {
			for (unsigned j = 0; j < mc->n; j++)
				if (mc->m[j].name && !strcmp(mc->m[j].name, d->name)) {
					ydoc_error(y, ydoc_get(y, it, "name"),
						   "modem name `%s` is used twice", d->name);
					errs++;
				}
		}
		if (!dev || !dev[0]) {
			ydoc_error(y, it, "modem `%s` needs a `device`", d->name ? d->name : "?");
			errs++;
		} else {
			d->device = resolve(mc, c, dev);
		}
		if (d->pin && !d->pin[0])
			d->pin = NULL;
		d->sent_log = sl && sl[0] ? resolve(mc, c, sl) : NULL;
		mc->n++;
	}
	if (errs) {
		talloc_free(mc);
		return -1;
	}
	*out = mc;
	return 0;
}
