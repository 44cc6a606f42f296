/* Located diagnostics: collected in a talloc'd array, printed gcc-style. */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <osmocom/core/talloc.h>

#include "guichet/diag.h"

/* A broken flow directory can produce thousands of follow-on errors; past this many we only
 * count them, so a bad file cannot grow the list without bound. */
#define DIAG_MAX_ENTRIES 1000

struct diag *diag_alloc(void *ctx)
{
	struct diag *d = talloc_zero(ctx, struct diag);

	if (!d)
		return NULL;
	d->ctx = d;
	return d;
}

void diag_vadd(struct diag *d, enum diag_level lvl, const char *file, unsigned line, unsigned col,
	       const char *fmt, va_list ap)
{
	struct diag_entry *e;

	if (!d)
		return;
	if (lvl == DIAG_ERROR)
		d->n_errors++;
	else if (lvl == DIAG_WARNING)
		d->n_warnings++;
	if (d->n >= DIAG_MAX_ENTRIES)
		return;
	if (d->n == d->cap) {
		unsigned cap = d->cap ? d->cap * 2 : 16;
		struct diag_entry *ne;

		if (cap > DIAG_MAX_ENTRIES)
			cap = DIAG_MAX_ENTRIES;
		ne = talloc_realloc(d, d->e, struct diag_entry, cap);
		if (!ne)
			return;
		d->e = ne;
		d->cap = cap;
	}
	e = &d->e[d->n];
	e->level = lvl;
	e->file = file ? talloc_strdup(d, file) : NULL;
	e->line = line;
	e->col = line ? col : 0;
	e->msg = talloc_vasprintf(d, fmt, ap);
	if (!e->msg)
		return;
	d->n++;
}

void diag_add(struct diag *d, enum diag_level lvl, const char *file, unsigned line, unsigned col,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, lvl, file, line, col, fmt, ap);
	va_end(ap);
}

static const char *level_name(enum diag_level l)
{
	switch (l) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return "warning";
	default:
		return "note";
	}
}

/* Sort key: file, then line, then column, then the order found (qsort is not stable). */
static int entry_cmp(const void *a, const void *b)
{
	const struct diag_entry *x = *(const struct diag_entry *const *)a;
	const struct diag_entry *y = *(const struct diag_entry *const *)b;
	int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x < y ? -1 : (x > y);
}

void diag_print(const struct diag *d, FILE *out)
{
	const struct diag_entry **v;
	unsigned i;

	if (!d || !d->n)
		return;
	v = talloc_array(NULL, const struct diag_entry *, d->n);
	if (v) {
		for (i = 0; i < d->n; i++)
			v[i] = &d->e[i];
		qsort(v, d->n, sizeof(*v), entry_cmp);
	}
	for (i = 0; i < d->n; i++) {
		const struct diag_entry *e = v ? v[i] : &d->e[i];

		if (e->file && e->line)
			fprintf(out, "%s:%u:%u: ", e->file, e->line, e->col ? e->col : 1);
		else if (e->file)
			fprintf(out, "%s: ", e->file);
		fprintf(out, "%s: %s\n", level_name(e->level), e->msg);
	}
	if (d->n_errors + d->n_warnings > d->n)
		fprintf(out, "(%u more not shown)\n", d->n_errors + d->n_warnings - d->n);
	talloc_free(v);
}

/* Optimal string alignment distance (Levenshtein plus adjacent transposition), case-blind:
 * "nxet" is one typo away from "next", as a person would count it. */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	unsigned *base, *row0, *row1, *row2, r;

	if (la > 64 || lb > 64)
		return 1000;
	base = calloc(3 * (lb + 1), sizeof(unsigned));
	if (!base)
		return 1000;
	row0 = base;
	row1 = row0 + lb + 1;	/* previous row */
	row2 = row1 + lb + 1;	/* current row; row0 is the one before previous */
	for (j = 0; j <= lb; j++)
		row1[j] = j;
	for (i = 1; i <= la; i++) {
		unsigned *t;

		row2[0] = i;
		for (j = 1; j <= lb; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			unsigned v = row1[j] + 1;

			if (row2[j - 1] + 1 < v)
				v = row2[j - 1] + 1;
			if (row1[j - 1] + cost < v)
				v = row1[j - 1] + cost;
			if (i > 1 && j > 1 &&
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
			    row0[j - 2] + 1 < v)
				v = row0[j - 2] + 1;
			row2[j] = v;
		}
		t = row0;
		row0 = row1;
		row1 = row2;
		row2 = t;
	}
	r = row1[lb];
	free(base);
	return r;
}

/* Up to 2 edits for words of 4 letters or more, 1 for shorter ones: "to" is not a typo of
 * "no" in any useful sense. */
const char *diag_suggest(const char *word, const char *const *candidates, unsigned n)
{
	const char *best = NULL;
	unsigned best_d = 1000, i, max;
	size_t len;

	if (!word)
		return NULL;
	len = strlen(word);
	max = len >= 4 ? 2 : 1;
	for (i = 0; i < n; i++) {
		unsigned dist;

		if (!candidates[i])
			continue;
		dist = edit_distance(word, candidates[i]);
		if (dist < best_d) {
			best_d = dist;
			best = candidates[i];
		}
	}
	return best_d <= max ? best : NULL;
}
