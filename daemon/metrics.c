/* Prometheus text from libosmocore's counter registries. See metrics.h. */
#include <ctype.h>
#include <inttypes.h>
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

/* Metric names: [a-zA-Z0-9_] only (osmocom names use ':', '.' and '-'). */
static char *name_append(char *s, const char *part)
{
	const char *p;

	for (p = part; *p; p++)
		s = talloc_asprintf_append_buffer(s, "%c", isalnum((unsigned char)*p) ? *p : '_');
	return s;
}

/* Label values: backslash, double quote and newline escaped, as the format wants. */
static char *label_append(char *s, const struct group_ref *r)
{
	const char *p;

	if (!r->name)
		return talloc_asprintf_append_buffer(s, "{instance=\"%u\"}", r->idx);
	s = talloc_strdup_append_buffer(s, "{name=\"");
	for (p = r->name; *p; p++) {
		if (*p == '\\' || *p == '"')
			s = talloc_asprintf_append_buffer(s, "\\%c", *p);
		else if (*p == '\n')
			s = talloc_strdup_append_buffer(s, "\\n");
		else
			s = talloc_asprintf_append_buffer(s, "%c", *p);
	}
	return talloc_strdup_append_buffer(s, "\"}");
}

/* HELP text: backslash and newline escaped. */
static char *help_append(char *s, const char *help)
{
	const char *p;

	for (p = help ? help : ""; *p; p++) {
		if (*p == '\\')
			s = talloc_strdup_append_buffer(s, "\\\\");
		else if (*p == '\n')
			s = talloc_strdup_append_buffer(s, "\\n");
		else
			s = talloc_asprintf_append_buffer(s, "%c", *p);
	}
	return s;
}

static char *metric_name(void *ctx, const char *prefix, const char *name, const char *suffix)
{
	char *m = talloc_strdup(ctx, "guichet_");

	m = name_append(m, prefix);
	m = talloc_strdup_append_buffer(m, "_");
	m = name_append(m, name);
	return talloc_strdup_append_buffer(m, suffix);
}

static char *header(char *s, const char *metric, const char *help, const char *type)
{
	s = talloc_asprintf_append_buffer(s, "# HELP %s ", metric);
	s = help_append(s, help);
	return talloc_asprintf_append_buffer(s, "\n# TYPE %s %s\n", metric, type);
}

/* Every series of one class (refs[from..to)): for each counter (or item), its HELP and
 * TYPE once, then one line per group. */
static char *render_class(char *s, struct group_ref *refs, unsigned from, unsigned to,
			  bool counters)
{
	const struct rate_ctr_group_desc *cd = refs[from].desc;
	const struct osmo_stat_item_group_desc *sd = refs[from].desc;
	unsigned n = counters ? cd->num_ctr : sd->num_items, k, i;

	for (k = 0; k < n; k++) {
		char *m = counters ? metric_name(s, cd->group_name_prefix, cd->ctr_desc[k].name,
						 "_total")
				   : metric_name(s, sd->group_name_prefix, sd->item_desc[k].name, "");

		s = header(s, m, counters ? cd->ctr_desc[k].description
					  : sd->item_desc[k].description,
			   counters ? "counter" : "gauge");
		for (i = from; i < to; i++) {
			s = talloc_strdup_append_buffer(s, m);
			s = label_append(s, &refs[i]);
			if (counters)
				s = talloc_asprintf_append_buffer(
					s, " %" PRIu64 "\n",
					rate_ctr_group_get_ctr(refs[i].grp, k)->current);
			else
				s = talloc_asprintf_append_buffer(
					s, " %" PRId32 "\n",
					osmo_stat_item_get_last(
						osmo_stat_item_group_get_item(refs[i].grp, k)));
		}
		talloc_free(m);
	}
	return s;
}

static char *render_walk(char *s, struct walk *w, bool counters)
{
	unsigned from = 0, i;

	qsort(w->refs, w->n, sizeof(w->refs[0]), ref_cmp);
	for (i = 1; i <= w->n; i++) {
		if (i == w->n || w->refs[i].desc != w->refs[from].desc) {
			s = render_class(s, w->refs, from, i, counters);
			from = i;
		}
	}
	return s;
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
	char *s = talloc_strdup(ctx, "");

	if (!s)
		return NULL;
	w.refs = talloc_array(s, struct group_ref, MAX_GROUPS);
	if (!w.refs)
		goto fail;
	rate_ctr_for_each_group(collect_ctr, &w);
	s = render_walk(s, &w, true);
	w.n = 0;
	osmo_stat_item_for_each_group(collect_stat, &w);
	s = render_walk(s, &w, false);
	if (!s)
		return NULL;
	talloc_free(w.refs);
	return s;
fail:
	talloc_free(s);
	return NULL;
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
