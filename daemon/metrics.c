/* Prometheus text from libosmocore's counter registries. See metrics.h. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/stat_item.h>
#include <osmocom/core/talloc.h>

#include "guichet/metrics.h"

#define MAX_GROUPS 4096		/* bounds the walk: far above any configuration */

struct group_ref {
	const char *prefix, *name;
	unsigned idx;
	const void *desc;	/* groups of one class share it */
	void *grp;
};

struct walk {
	struct group_ref *refs;
	unsigned n;
};

static int collect_ctr(struct rate_ctr_group *g, void *data)
{
	struct walk *w = data;

	if (w->n < MAX_GROUPS)
		w->refs[w->n++] = (struct group_ref){ g->desc->group_name_prefix, g->name, g->idx,
						      g->desc, g };
	return 0;
}

static int collect_stat(struct osmo_stat_item_group *g, void *data)
{
	struct walk *w = data;

	if (w->n < MAX_GROUPS)
		w->refs[w->n++] = (struct group_ref){ g->desc->group_name_prefix, g->name, g->idx,
						      g->desc, g };
	return 0;
}

static int ref_cmp(const void *a, const void *b)
{
	const struct group_ref *x = a, *y = b;
	int c = strcmp(x->prefix, y->prefix);

	if (c)
		return c;
	if (x->desc != y->desc)		/* two classes with one prefix: keep them apart */
		return x->desc < y->desc ? -1 : 1;
	if (x->name && y->name && (c = strcmp(x->name, y->name)))
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The text being rendered: one talloc buffer grown by doubling, appended to in runs (a
 * name, a label value, a line) rather than a character at a time, so rendering is linear in
 * its length. oom sticks: after a failed growth nothing more is appended. */
struct out {
	char *s;
	size_t len, cap;
	bool oom;
};

static bool out_room(struct out *o, size_t n)
{
	size_t cap;
	char *ns;

	if (o->oom)
		return false;
	if (o->len + n + 1 <= o->cap)
		return true;
	for (cap = o->cap ? o->cap : 4096; cap < o->len + n + 1; cap *= 2)
		;
	ns = talloc_realloc_size(NULL, o->s, cap);
	if (!ns) {
		o->oom = true;
		return false;
	}
	o->s = ns;
	o->cap = cap;
	o->s[o->len] = '\0';	/* a string even before the first append (no group at all) */
	return true;
}

static void out_add(struct out *o, const char *p, size_t n)
{
	if (!n || !out_room(o, n))
		return;
	memcpy(o->s + o->len, p, n);
	o->len += n;
	o->s[o->len] = '\0';
}

static void out_str(struct out *o, const char *p)
{
	out_add(o, p, strlen(p));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0 || !out_room(o, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(o->s + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* Appends p: the runs of characters keep() accepts copied whole, each other character
 * replaced by esc(c). */
static void out_escaped(struct out *o, const char *p, bool (*keep)(char c),
			const char *(*esc)(char c))
{
	while (*p) {
		const char *run = p;

		while (*p && keep(*p))
			p++;
		out_add(o, run, (size_t)(p - run));
		if (*p) {
			out_str(o, esc(*p));
			p++;
		}
	}
}

/* Metric names: [a-zA-Z0-9_] only (osmocom names use ':', '.' and '-'). */
static bool name_keep(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static const char *name_esc(char c)
{
	(void)c;
	return "_";
}

/* Label values: backslash, double quote and newline escaped, as the format wants; HELP
 * text: backslash and newline. */
static bool label_keep(char c)
{
	return c != '\\' && c != '"' && c != '\n';
}

static bool help_keep(char c)
{
	return c != '\\' && c != '\n';
}

static const char *text_esc(char c)
{
	return c == '\\' ? "\\\\" : c == '"' ? "\\\"" : "\\n";
}

static void label_append(struct out *o, const struct group_ref *r)
{
	if (!r->name) {
		out_printf(o, "{instance=\"%u\"}", r->idx);
		return;
	}
	out_str(o, "{name=\"");
	out_escaped(o, r->name, label_keep, text_esc);
	out_str(o, "\"}");
}

/* guichet_<prefix>_<name><suffix>, written into o. */
static void metric_name(struct out *o, const char *prefix, const char *name, const char *suffix)
{
	out_str(o, "guichet_");
	out_escaped(o, prefix, name_keep, name_esc);
	out_str(o, "_");
	out_escaped(o, name, name_keep, name_esc);
	out_str(o, suffix);
}

static void header(struct out *o, const char *metric, const char *help, const char *type)
{
	out_printf(o, "# HELP %s ", metric);
	out_escaped(o, help ? help : "", help_keep, text_esc);
	out_printf(o, "\n# TYPE %s %s\n", metric, type);
}

/* Every series of one class (refs[from..to)): for each counter (or item), its HELP and
 * TYPE once, then one line per group. */
static void render_class(struct out *o, struct group_ref *refs, unsigned from, unsigned to,
			 bool counters)
{
	const struct rate_ctr_group_desc *cd = refs[from].desc;
	const struct osmo_stat_item_group_desc *sd = refs[from].desc;
	unsigned n = counters ? cd->num_ctr : sd->num_items, k, i;
	struct out name = { 0 };

	for (k = 0; k < n && !o->oom; k++) {
		name.len = 0;
		if (counters)
			metric_name(&name, cd->group_name_prefix, cd->ctr_desc[k].name, "_total");
		else
			metric_name(&name, sd->group_name_prefix, sd->item_desc[k].name, "");
		if (name.oom) {
			o->oom = true;
			break;
		}
		header(o, name.s, counters ? cd->ctr_desc[k].description
					   : sd->item_desc[k].description,
		       counters ? "counter" : "gauge");
		for (i = from; i < to; i++) {
			out_add(o, name.s, name.len);
			label_append(o, &refs[i]);
			if (counters)
				out_printf(o, " %" PRIu64 "\n",
					   rate_ctr_group_get_ctr(refs[i].grp, k)->current);
			else
				out_printf(o, " %" PRId32 "\n",
					   osmo_stat_item_get_last(
						   osmo_stat_item_group_get_item(refs[i].grp, k)));
		}
	}
	talloc_free(name.s);
}

static void render_walk(struct out *o, struct walk *w, bool counters)
{
	unsigned from = 0, i;

	qsort(w->refs, w->n, sizeof(w->refs[0]), ref_cmp);
	for (i = 1; i <= w->n; i++) {
		if (i == w->n || w->refs[i].desc != w->refs[from].desc) {
			render_class(o, w->refs, from, i, counters);
			from = i;
		}
	}
}

/* libosmocore keeps groups in talloc contexts of its own; tie the group's life to ctx. */
static int ctr_group_free(struct rate_ctr_group **g)
{
	rate_ctr_group_free(*g);
	return 0;
}

static int stat_group_free(struct osmo_stat_item_group **g)
{
	osmo_stat_item_group_free(*g);
	return 0;
}

struct rate_ctr_group *metrics_ctr_group(void *ctx, const struct rate_ctr_group_desc *desc,
					 const char *name)
{
	struct rate_ctr_group **holder;
	unsigned idx = 0;

	while (rate_ctr_get_group_by_name_idx(desc->group_name_prefix, idx))
		idx++;
	holder = talloc(ctx, struct rate_ctr_group *);
	if (!holder || !(*holder = rate_ctr_group_alloc(NULL, desc, idx))) {
		talloc_free(holder);
		return NULL;
	}
	if (name)
		rate_ctr_group_set_name(*holder, name);
	talloc_set_destructor(holder, ctr_group_free);
	return *holder;
}

struct osmo_stat_item_group *metrics_stat_group(void *ctx,
						const struct osmo_stat_item_group_desc *desc,
						const char *name)
{
	struct osmo_stat_item_group **holder;
	unsigned idx = 0;

	while (osmo_stat_item_get_group_by_name_idx(desc->group_name_prefix, idx))
		idx++;
	holder = talloc(ctx, struct osmo_stat_item_group *);
	if (!holder || !(*holder = osmo_stat_item_group_alloc(NULL, desc, idx))) {
		talloc_free(holder);
		return NULL;
	}
	if (name)
		osmo_stat_item_group_set_name(*holder, name);
	talloc_set_destructor(holder, stat_group_free);
	return *holder;
}

char *metrics_render(void *ctx)
{
	struct walk w = { 0 };
	struct out o = { 0 };

	w.refs = talloc_array(NULL, struct group_ref, MAX_GROUPS);
	if (!w.refs || !out_room(&o, 0))
		goto fail;
	rate_ctr_for_each_group(collect_ctr, &w);
	render_walk(&o, &w, true);
	w.n = 0;
	osmo_stat_item_for_each_group(collect_stat, &w);
	render_walk(&o, &w, false);
	if (o.oom)
		goto fail;
	talloc_free(w.refs);
	return talloc_steal(ctx, o.s);
fail:
	talloc_free(w.refs);
	talloc_free(o.s);
	return NULL;
}

struct line_walk {
	const char *prefix;
	struct walk w;
};

static int collect_prefix(struct rate_ctr_group *g, void *data)
{
	struct line_walk *lw = data;

	if (strcmp(g->desc->group_name_prefix, lw->prefix) == 0)
		collect_ctr(g, &lw->w);
	return 0;
}

char *metrics_counters_line(void *ctx, const char *prefix)
{
	struct line_walk lw = { .prefix = prefix };
	struct out o = { 0 };

	lw.w.refs = talloc_array(NULL, struct group_ref, MAX_GROUPS);
	if (!lw.w.refs)
		return NULL;
	rate_ctr_for_each_group(collect_prefix, &lw);
	qsort(lw.w.refs, lw.w.n, sizeof(lw.w.refs[0]), ref_cmp);
	for (unsigned i = 0; i < lw.w.n; i++) {
		const struct group_ref *r = &lw.w.refs[i];
		const struct rate_ctr_group_desc *d = r->desc;

		if (r->name)
			out_printf(&o, "%s%s:", i ? "; " : "", r->name);
		else
			out_printf(&o, "%s%u:", i ? "; " : "", r->idx);
		for (unsigned k = 0; k < d->num_ctr; k++)
			out_printf(&o, " %s %" PRIu64, d->ctr_desc[k].name,
				   rate_ctr_group_get_ctr(r->grp, k)->current);
	}
	talloc_free(lw.w.refs);
	if (o.oom || !o.s) {
		talloc_free(o.s);
		return NULL;
	}
	return talloc_steal(ctx, o.s);
}

int metrics_print_table(FILE *out, const char *text)
{
	const char *line = text, *nl;
	int series = 0;

	if (!text)
		return -1;
	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		int len;

		nl = strchr(line, '\n');
		len = nl ? (int)(nl - line) : (int)strlen(line);
		if (len == 0)
			continue;
		if (!strncmp(line, "# HELP ", 7)) {
			const char *help = memchr(line + 7, ' ', (size_t)len - 7);

			if (help)
				fprintf(out, "\n%.*s\n", (int)(line + len - help - 1), help + 1);
			continue;
		}
		if (line[0] == '#')
			continue;
		if (!isalpha((unsigned char)line[0]) && line[0] != '_')
			return -1;
		fprintf(out, "  %.*s\n", len, line);
		series++;
	}
	return series;
}
