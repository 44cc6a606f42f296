/* Static checks over a loaded flow set: the step graph, variables, operations, entry points
 * and USSD screen sizes. Everything is reported at the place the administrator wrote it. */
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"
#include "guichet/template.h"
#include "guichet/text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DEFAULT_USSD_SCREEN 182

struct ck {
	void *tmp;			/* scratch talloc context, freed at the end */
	const struct flow_set *fs;
	const struct flow_env *env;
	struct diag *d;
	unsigned errors;
	unsigned ussd_screen;
};

static void err_at(struct ck *c, const struct flow_loc *l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void err_at(struct ck *c, const struct flow_loc *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(c->d, DIAG_ERROR, l ? l->file : NULL, l ? l->line : 0, l ? l->col : 0, fmt, ap);
	va_end(ap);
	c->errors++;
}

/* ------------------------------------------------------------------------------------------ */
/* Step graph */

/* Calls fn for every successor reference of step st: its name, resolved index, location. */
typedef void (*edge_fn)(void *data, const char *name, int idx, const struct flow_loc *loc);

static void each_ref(const struct flow_step *st, edge_fn fn, void *data)
{
	unsigned i;

	fn(data, st->next, st->next_idx, &st->next_loc);
	fn(data, st->on_fail, st->on_fail_idx, &st->on_fail_loc);
	fn(data, st->on_error, st->on_error_idx, &st->on_error_loc);
	fn(data, st->else_next, st->else_idx, &st->else_loc);
	fn(data, st->empty_next, st->empty_idx, &st->empty_loc);
	for (i = 0; i < st->n_options; i++)
		if (st->options[i].next)
			fn(data, st->options[i].next, st->options[i].next_idx,
			   &st->options[i].next_loc);
	for (i = 0; i < st->n_when; i++)
		fn(data, st->when[i].next, st->when[i].next_idx, &st->when[i].next_loc);
}

struct dangling_ctx {
	struct ck *c;
	const struct flow *f;
};

static void check_dangling_ref(void *data, const char *name, int idx, const struct flow_loc *loc)
{
	struct dangling_ctx *dc = data;
	const struct flow *f = dc->f;
	const char **names;
	const char *sg = NULL;
	unsigned i;

	if (!name || idx >= 0)
		return;
	names = talloc_array(dc->c->tmp, const char *, f->n_steps);
	for (i = 0; names && i < f->n_steps; i++)
		names[i] = f->steps[i].name;
	if (names)
		sg = diag_suggest(name, names, f->n_steps);
	if (sg)
		err_at(dc->c, loc, "no step named `%s` in flow `%s` \u2014 did you mean `%s`?",
		       name, f->name ? f->name : "?", sg);
	else
		err_at(dc->c, loc, "no step named `%s` in flow `%s`", name, f->name ? f->name : "?");
	talloc_free(names);
}

/* Successors of a step, each with what the edge itself defines (see the dataflow below). */
enum edge_gen { GEN_NONE, GEN_OPTION, GEN_FROM, GEN_SAVE };

struct edge {
	int to;
	enum edge_gen gen;
	unsigned option;	/* GEN_OPTION: index into options */
};

static unsigned step_edges(const struct flow_step *st, struct edge *e, unsigned max)
{
	unsigned n = 0, i;

#define ADD(t, g, o) do { if ((t) >= 0 && n < max) { e[n].to = (t); e[n].gen = (g); \
			 e[n].option = (o); n++; } } while (0)
	switch (st->kind) {
	case STEP_MENU:
		for (i = 0; i < st->n_options; i++)
			ADD(st->options[i].next_idx, GEN_OPTION, i);
		if (st->from_list) {
			ADD(st->next_idx, GEN_FROM, 0);
			ADD(st->empty_idx, GEN_NONE, 0);
		}
		ADD(st->on_fail_idx, GEN_NONE, 0);
		break;
	case STEP_ASK:
		ADD(st->next_idx, GEN_SAVE, 0);
		ADD(st->on_fail_idx, GEN_NONE, 0);
		break;
	case STEP_CALL:
		ADD(st->next_idx, GEN_SAVE, 0);
		ADD(st->on_error_idx, GEN_NONE, 0);
		break;
	case STEP_BRANCH:
		for (i = 0; i < st->n_when; i++)
			ADD(st->when[i].next_idx, GEN_NONE, 0);
		ADD(st->else_idx, GEN_NONE, 0);
		break;
	case STEP_SAY:
		ADD(st->next_idx, GEN_NONE, 0);
		break;
	}
#undef ADD
	return n;
}

static unsigned max_edges(const struct flow_step *st)
{
	return st->n_options + st->n_when + 6;
}

static void check_reachable(struct ck *c, const struct flow *f, bool *reach)
{
	unsigned *stack, top = 0, i;

	memset(reach, 0, f->n_steps * sizeof(*reach));
	if (f->start_idx < 0 || (unsigned)f->start_idx >= f->n_steps)
		return;
	stack = talloc_array(c->tmp, unsigned, f->n_steps);
	if (!stack)
		return;
	reach[f->start_idx] = true;
	stack[top++] = f->start_idx;
	while (top) {
		const struct flow_step *st = &f->steps[stack[--top]];
		unsigned m = max_edges(st), n, j;
		struct edge *e = talloc_array(c->tmp, struct edge, m);

		n = e ? step_edges(st, e, m) : 0;
		for (j = 0; j < n; j++) {
			if (!reach[e[j].to]) {
				reach[e[j].to] = true;
				stack[top++] = e[j].to;
			}
		}
		talloc_free(e);
	}
	talloc_free(stack);
	for (i = 0; i < f->n_steps; i++)
		if (!reach[i])
			err_at(c, &f->steps[i].loc, "step `%s` can never be reached from the start "
			       "(`%s`): no next, option, branch, on_fail or on_error leads to it",
			       f->steps[i].name, f->steps[f->start_idx].name);
}

/* A loop of branch and say steps never waits for the person: the engine would spin. */
static bool waits(const struct flow_step *st)
{
	return st->kind == STEP_MENU || st->kind == STEP_ASK || st->kind == STEP_CALL;
}

static void check_loops(struct ck *c, const struct flow *f)
{
	/* colour: 0 new, 1 on the current path, 2 done; path holds the current DFS path */
	unsigned char *colour = talloc_zero_array(c->tmp, unsigned char, f->n_steps);
	unsigned *path = talloc_array(c->tmp, unsigned, f->n_steps);
	unsigned *next_edge = talloc_zero_array(c->tmp, unsigned, f->n_steps);
	bool *reported = talloc_zero_array(c->tmp, bool, f->n_steps);
	unsigned root;

	if (!colour || !path || !next_edge || !reported)
		goto out;
	for (root = 0; root < f->n_steps; root++) {
		unsigned depth = 0;

		if (colour[root] || waits(&f->steps[root]))
			continue;
		path[depth++] = root;
		colour[root] = 1;
		while (depth) {
			unsigned cur = path[depth - 1];
			const struct flow_step *st = &f->steps[cur];
			struct edge e[FLOW_MAX_CHOICES + 8];
			unsigned n = step_edges(st, e, ARRAY_SIZE(e));

			if (next_edge[cur] >= n) {
				colour[cur] = 2;
				depth--;
				continue;
			}
			{
				int to = e[next_edge[cur]++].to;
				unsigned k, start;
				char *chain;

				if (waits(&f->steps[to]) || colour[to] == 2)
					continue;
				if (colour[to] == 0) {
					colour[to] = 1;
					path[depth++] = to;
					continue;
				}
				/* back edge: a cycle path[start..depth-1] -> to */
				for (start = 0; path[start] != (unsigned)to; start++)
					;
				if (reported[to])
					continue;
				chain = talloc_strdup(c->tmp, "");
				for (k = start; k < depth && chain; k++) {
					chain = talloc_asprintf_append(chain, "`%s` \u2192 ",
								       f->steps[path[k]].name);
					reported[path[k]] = true;
				}
				err_at(c, &f->steps[to].loc, "steps %s`%s` loop forever without "
				       "waiting for an answer: put a menu, ask or call in the loop",
				       chain ? chain : "", f->steps[to].name);
				talloc_free(chain);
			}
		}
	}
out:
	talloc_free(colour);
	talloc_free(path);
	talloc_free(next_edge);
	talloc_free(reported);
}

/* ------------------------------------------------------------------------------------------ */
/* Variables: defined on every path from the start.
 *
 * A forward "must" dataflow: in[s] is the intersection over every edge p -> s of what p and
 * the edge define, so a variable counts as set only if every path to s sets it. What an edge
 * defines depends on which way the step was left: an ask's `save` only on its `next` (not on
 * `on_fail`), a call's `save` only on `next` (not `on_error`), an option's `set` only on that
 * option's edge. A call's save defines a tree: `slots` covers `slots.count`, `slots.0.id`... */

struct vdef {
	const char *name;
	bool tree;
};

struct vtab {
	unsigned n, cap;
	struct vdef *v;
};

static int vtab_add(struct ck *c, struct vtab *t, const char *name, bool tree)
{
	unsigned i;

	if (!name)
		return -1;
	for (i = 0; i < t->n; i++)
		if (t->v[i].tree == tree && !strcmp(t->v[i].name, name))
			return (int)i;
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		struct vdef *nv = talloc_realloc(c->tmp, t->v, struct vdef, cap);

		if (!nv)
			return -1;
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n].name = name;
	t->v[t->n].tree = tree;
	return (int)t->n++;
}

static void collect_defs(struct ck *c, const struct flow *f, struct vtab *t)
{
	unsigned i, j, k;

	for (i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		for (j = 0; j < st->n_set; j++)
			vtab_add(c, t, st->set[j].var, false);
		for (j = 0; j < st->n_options; j++)
			for (k = 0; k < st->options[j].n_set; k++)
				vtab_add(c, t, st->options[j].set[k].var, false);
		for (j = 0; j < st->n_from_set; j++)
			vtab_add(c, t, st->from_set[j].var, false);
		if (st->save)
			vtab_add(c, t, st->save, st->kind == STEP_CALL);
	}
}

static void mark(const struct vtab *t, bool *set, const char *name, bool tree)
{
	unsigned i;

	for (i = 0; name && i < t->n; i++)
		if (t->v[i].tree == tree && !strcmp(t->v[i].name, name))
			set[i] = true;
}

static void mark_assigns(const struct vtab *t, bool *set, const struct flow_assign *a, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		mark(t, set, a[i].var, false);
}

/* What holds inside step st: in[st] plus its own `set:` (applied on entry). */
static void step_base(const struct vtab *t, const struct flow_step *st, const bool *in, bool *out)
{
	memcpy(out, in, t->n * sizeof(bool));
	mark_assigns(t, out, st->set, st->n_set);
}

static void edge_out(const struct vtab *t, const struct flow_step *st, const struct edge *e,
		     const bool *base, bool *out)
{
	memcpy(out, base, t->n * sizeof(bool));
	switch (e->gen) {
	case GEN_OPTION:
		mark_assigns(t, out, st->options[e->option].set, st->options[e->option].n_set);
		break;
	case GEN_FROM:
		mark_assigns(t, out, st->from_set, st->n_from_set);
		break;
	case GEN_SAVE:
		mark(t, out, st->save, st->kind == STEP_CALL);
		break;
	case GEN_NONE:
		break;
	}
}

/* in[] is n_steps rows of t->n flags; rows of unreachable steps stay "everything". */
static bool *compute_in(struct ck *c, const struct flow *f, const struct vtab *t, const bool *reach)
{
	unsigned nv = t->n ? t->n : 1, i, j;
	bool *in = talloc_array(c->tmp, bool, f->n_steps * nv);
	bool *base = talloc_array(c->tmp, bool, nv), *out = talloc_array(c->tmp, bool, nv);
	bool changed = true;
	unsigned rounds = 0;

	if (!in || !base || !out)
		return NULL;
	for (i = 0; i < f->n_steps * nv; i++)
		in[i] = true;
	if (f->start_idx >= 0)
		memset(in + f->start_idx * nv, 0, nv * sizeof(bool));
	/* Intersections only ever clear flags, so this ends after at most steps*vars rounds. */
	while (changed && rounds++ <= f->n_steps * nv + 1) {
		changed = false;
		for (i = 0; i < f->n_steps; i++) {
			const struct flow_step *st = &f->steps[i];
			struct edge e[FLOW_MAX_CHOICES + 8];
			unsigned n, k;

			if (!reach[i])
				continue;
			n = step_edges(st, e, ARRAY_SIZE(e));
			step_base(t, st, in + i * nv, base);
			for (k = 0; k < n; k++) {
				bool *dst = in + e[k].to * nv;

				edge_out(t, st, &e[k], base, out);
				for (j = 0; j < t->n; j++) {
					if (dst[j] && !out[j]) {
						dst[j] = false;
						changed = true;
					}
				}
			}
		}
	}
	talloc_free(base);
	talloc_free(out);
	return in;
}

/* ------------------------------------------------------------------------------------------ */
/* Templates */

struct use_ctx {
	struct ck *c;
	const struct vtab *t;
	const bool *defined;	/* NULL: only the built-in variables */
	bool item_ok;		/* inside options_from */
	const struct flow_loc *loc;
	const char *where;	/* "step `x`", "flow `y`", "common messages" */
};

static bool name_is(const char *name, size_t len, const char *v)
{
	size_t n = strlen(v);

	return len >= n && !strncmp(name, v, n) && (len == n || name[n] == '.');
}

static void use_var(void *data, const char *name, size_t len)
{
	static const char *const builtin[] = { "lang", "channel", "contact", "phone", "keyword",
					       "choices" };
	struct use_ctx *u = data;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(builtin); i++)
		if (name_is(name, len, builtin[i]))
			return;
	if (name_is(name, len, "item")) {
		if (!u->item_ok)
			err_at(u->c, u->loc, "`%.*s` only exists inside `options_from` (label and "
			       "set), for the item being listed", (int)len, name);
		return;
	}
	if (u->defined) {
		for (i = 0; i < u->t->n; i++) {
			const struct vdef *v = &u->t->v[i];
			size_t vl = strlen(v->name);

			if (!u->defined[i])
				continue;
			if (vl == len && !strncmp(v->name, name, len))
				return;
			if (v->tree && len > vl && !strncmp(v->name, name, vl) && name[vl] == '.')
				return;
		}
	}
	err_at(u->c, u->loc, "variable `%.*s` is used in %s before it is set on every path "
	       "leading here (set it with `set:`, or with `save:` of an earlier ask or call)",
	       (int)len, name, u->where);
}

/* Checks one template: syntax, and every variable it uses. */
static void check_tmpl(struct use_ctx *u, const char *tmpl, const struct flow_loc *loc)
{
	char err[128];
	size_t off = 0;

	if (!tmpl)
		return;
	u->loc = loc;
	if (template_check(tmpl, use_var, u, err, sizeof(err), &off) < 0)
		err_at(u->c, loc, "bad template at character %zu: %s", off + 1, err);
}

static void check_text_vars(struct use_ctx *u, const struct flow_text *t)
{
	unsigned i;

	for (i = 0; i < t->n; i++) {
		check_tmpl(u, t->tr[i].text, &t->tr[i].loc);
		if (t->tr[i].ussd)
			check_tmpl(u, t->tr[i].ussd, &t->tr[i].ussd_loc);
	}
}

static void check_assign_vars(struct use_ctx *u, const struct flow_assign *a, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		check_tmpl(u, a[i].value, &a[i].loc);
}

/* A plain variable name used outside a template (branch conditions, options_from list). */
static void check_name_use(struct use_ctx *u, const char *name, const struct flow_loc *loc)
{
	if (!name)
		return;
	u->loc = loc;
	use_var(u, name, strlen(name));
}

static void check_step_vars(struct ck *c, const struct flow *f, const struct flow_step *st,
			    const struct vtab *t, const bool *in)
{
	bool *base = talloc_array(c->tmp, bool, t->n ? t->n : 1);
	char *where = talloc_asprintf(c->tmp, "step `%s`", st->name);
	struct use_ctx u = { c, t, base, false, NULL, where ? where : "this step" };
	unsigned i, j;

	if (!base)
		return;
	(void)f;
	/* `set:` values see only what came before the step; everything else sees them too */
	memcpy(base, in, t->n * sizeof(bool));
	check_assign_vars(&u, st->set, st->n_set);
	step_base(t, st, in, base);

	check_text_vars(&u, &st->text);
	check_text_vars(&u, &st->help);
	check_text_vars(&u, &st->retry);
	check_text_vars(&u, &st->wait);
	check_text_vars(&u, &st->empty);
	check_assign_vars(&u, st->with, st->n_with);
	for (i = 0; i < st->n_options; i++) {
		check_text_vars(&u, &st->options[i].label);
		check_assign_vars(&u, st->options[i].set, st->options[i].n_set);
	}
	for (i = 0; i < st->n_when; i++)
		for (j = 0; j < st->when[i].n_all; j++)
			check_name_use(&u, st->when[i].all[j].var, &st->when[i].all[j].loc);
	check_name_use(&u, st->from_list, &st->from_loc);
	u.item_ok = true;
	check_text_vars(&u, &st->from_label);
	check_assign_vars(&u, st->from_set, st->n_from_set);
	talloc_free(base);
	talloc_free(where);
}

static void check_flow_vars(struct ck *c, const struct flow *f, const bool *reach)
{
	struct vtab t = { 0 };
	unsigned nv, i;
	bool *in;
	struct use_ctx u = { c, &t, NULL, false, NULL, NULL };
	char *where = talloc_asprintf(c->tmp, "flow `%s` (title, help or on_timeout, which "
				      "any step may show)", f->name ? f->name : "?");

	u.where = where ? where : "the flow";
	check_text_vars(&u, &f->title);
	check_text_vars(&u, &f->help);
	check_text_vars(&u, &f->on_timeout);
	talloc_free(where);

	collect_defs(c, f, &t);
	in = compute_in(c, f, &t, reach);
	if (!in)
		return;
	nv = t.n ? t.n : 1;
	for (i = 0; i < f->n_steps; i++)
		if (reach[i])
			check_step_vars(c, f, &f->steps[i], &t, in + i * nv);
	talloc_free(in);
	talloc_free(t.v);
}

/* ------------------------------------------------------------------------------------------ */
/* USSD screens */

/* The shortest a template can expand to: its text with every {{ }} removed (an empty value). */
static char *literal_part(void *ctx, const char *tmpl)
{
	char *out = talloc_strdup(ctx, ""), *open;
	const char *p = tmpl;

	while (out && (open = strstr(p, "{{"))) {
		const char *close = strstr(open + 2, "}}");

		out = talloc_strndup_append(out, p, open - p);
		if (!close)
			return out;
		p = close + 2;
	}
	return out ? talloc_strdup_append(out, p) : NULL;
}

/* True when text, with its variables empty and folded to GSM-7 as a channel may do, still
 * cannot fit one screen. */
static bool never_fits_ussd(struct ck *c, const char *text)
{
	char *lit = literal_part(c->tmp, text), *folded;
	struct text_budget b = text_budget_ussd(c->ussd_screen);
	bool fits;

	if (!lit)
		return false;
	folded = text_fold_gsm7(c->tmp, lit);
	fits = text_fits(folded ? folded : lit, &b);
	talloc_free(lit);
	talloc_free(folded);
	return !fits;
}

static unsigned ussd_chars(struct ck *c, const char *text)
{
	char *lit = literal_part(c->tmp, text);
	unsigned n = lit ? text_chars(lit) : 0;

	talloc_free(lit);
	return n;
}

static void check_ussd_text(struct ck *c, const struct flow_text *t, const char *what)
{
	unsigned i;

	for (i = 0; i < t->n; i++) {
		const struct flow_tr *tr = &t->tr[i];
		const char *s = tr->ussd ? tr->ussd : tr->text;

		if (s && never_fits_ussd(c, s))
			err_at(c, tr->ussd ? &tr->ussd_loc : &tr->loc, "%s (%s) is too long for one "
			       "USSD screen: %u characters, at most %u%s", what, tr->lang,
			       ussd_chars(c, s), c->ussd_screen,
			       tr->ussd ? "" : " (add a shorter `ussd:` version)");
	}
}

/* A menu pages its options, but every page shows the title and at least one option. */
static void check_ussd_option(struct ck *c, const struct flow_step *st, const struct flow_text *l,
			      unsigned num)
{
	unsigned i;

	for (i = 0; i < l->n; i++) {
		const struct flow_tr *tr = &l->tr[i];
		const char *lab = tr->ussd ? tr->ussd : tr->text;
		const char *title = flow_text_pick(&st->text, tr->lang, true);
		char *page;

		if (!lab)
			continue;
		page = talloc_asprintf(c->tmp, "%s\n%u %s", title ? title : "", num, lab);
		if (page && never_fits_ussd(c, page))
			err_at(c, tr->ussd ? &tr->ussd_loc : &tr->loc, "option %u of menu `%s` (%s) "
			       "does not fit one USSD screen even alone with the menu title: %u "
			       "characters, at most %u", num, st->name, tr->lang, ussd_chars(c, page),
			       c->ussd_screen);
		talloc_free(page);
	}
}

static void check_flow_ussd(struct ck *c, const struct flow *f)
{
	unsigned i, j;

	check_ussd_text(c, &f->title, "the title");
	check_ussd_text(c, &f->help, "the help");
	check_ussd_text(c, &f->on_timeout, "on_timeout");
	for (i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		check_ussd_text(c, &st->text, "this text");
		check_ussd_text(c, &st->help, "the help");
		check_ussd_text(c, &st->retry, "the retry text");
		check_ussd_text(c, &st->wait, "the wait text");
		check_ussd_text(c, &st->empty, "the empty text");
		for (j = 0; j < st->n_options; j++)
			check_ussd_option(c, st, &st->options[j].label, j + 1);
		if (st->from_list)
			check_ussd_option(c, st, &st->from_label, 1);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Across flows */

static bool is_global_word(const struct flow_words *w, const char *k)
{
	const char *const *lists[] = { w->help, w->back, w->restart, w->stop, w->more };
	unsigned ns[] = { w->n_help, w->n_back, w->n_restart, w->n_stop, w->n_more };
	unsigned i, j;

	for (i = 0; i < ARRAY_SIZE(ns); i++)
		for (j = 0; j < ns[i]; j++)
			if (!strcmp(lists[i][j], k))
				return true;
	return false;
}

static const char *fname(const struct flow *f)
{
	return f->name ? f->name : "?";
}

static void check_entries(struct ck *c)
{
	const struct flow_set *fs = c->fs;
	unsigned a, b, i, j;

	for (a = 0; a < fs->n_flows; a++) {
		const struct flow *fa = &fs->flows[a];

		for (b = 0; b < a; b++) {
			const struct flow *fb = &fs->flows[b];

			if (fa->name && fb->name && !strcmp(fa->name, fb->name))
				err_at(c, &fa->loc, "flow `%s` is already defined in %s:%u", fa->name,
				       fb->file, fb->loc.line);
		}
		for (i = 0; i < fa->n_keywords; i++) {
			const char *k = fa->keywords[i];
			const struct flow_loc *l = fa->keyword_locs ? &fa->keyword_locs[i] : &fa->loc;
			bool dup = false;

			if (is_global_word(&fs->words, k))
				err_at(c, l, "keyword `%s` of flow `%s` is also a common word (help, "
				       "back, restart, stop or more)", k, fname(fa));
			for (b = 0; b <= a && !dup; b++) {
				const struct flow *fb = &fs->flows[b];

				for (j = 0; j < (b == a ? i : fb->n_keywords) && !dup; j++) {
					const struct flow_loc *o = fb->keyword_locs ?
						&fb->keyword_locs[j] : &fb->loc;

					if (strcmp(fb->keywords[j], k))
						continue;
					dup = true;
					err_at(c, l, "keyword `%s` of flow `%s` (%s) is already used "
					       "by flow `%s` at %s:%u:%u", k, fname(fa), fa->file,
					       fname(fb), fb->file, o->line, o->col);
				}
			}
		}
		for (i = 0; i < fa->n_ussd; i++) {
			const char *k = fa->ussd_codes[i];
			const struct flow_loc *l = fa->ussd_locs ? &fa->ussd_locs[i] : &fa->loc;
			bool dup = false;

			for (b = 0; b <= a && !dup; b++) {
				const struct flow *fb = &fs->flows[b];

				for (j = 0; j < (b == a ? i : fb->n_ussd) && !dup; j++) {
					const struct flow_loc *o = fb->ussd_locs ?
						&fb->ussd_locs[j] : &fb->loc;

					if (strcmp(fb->ussd_codes[j], k))
						continue;
					dup = true;
					err_at(c, l, "USSD code `%s` of flow `%s` (%s) is already used "
					       "by flow `%s` at %s:%u:%u", k, fname(fa), fa->file,
					       fname(fb), fb->file, o->line, o->col);
				}
			}
		}
	}
}

static void check_ops(struct ck *c, const struct flow *f)
{
	unsigned i, j;

	if (!c->env)
		return;
	for (i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];
		const char *sg;
		bool found = false;

		if (st->kind != STEP_CALL || !st->op)
			continue;
		for (j = 0; c->env->ops && j < c->env->n_ops && !found; j++)
			found = !strcmp(c->env->ops[j], st->op);
		if (found)
			continue;
		sg = c->env->ops ? diag_suggest(st->op, c->env->ops, c->env->n_ops) : NULL;
		if (sg)
			err_at(c, &st->op_loc, "unknown operation `%s` \u2014 did you mean `%s`?",
			       st->op, sg);
		else
			err_at(c, &st->op_loc, "unknown operation `%s`: no back-end in the "
			       "configuration declares it", st->op);
	}
}

static void check_common(struct ck *c)
{
	const struct flow_messages *m = &c->fs->msg;
	const struct flow_text *all[] = { &m->welcome, &m->help, &m->invalid, &m->too_many_tries,
					  &m->stopped, &m->expired, &m->backend_error, &m->busy,
					  &m->more, &m->contact, &m->invalid_session, &m->pick,
					  &m->suggest, &m->limited };
	struct use_ctx u = { c, NULL, NULL, false, NULL, "a common message" };
	unsigned i, j;

	for (i = 0; i < ARRAY_SIZE(all); i++)
		check_text_vars(&u, all[i]);
	for (j = 0; j < m->contact.n; j++)
		if (m->contact.tr[j].text && !template_is_literal(m->contact.tr[j].text))
			err_at(c, &m->contact.tr[j].loc, "the `contact` message is inserted for "
			       "{{contact}} and cannot hold variables itself");
}

unsigned flow_check(const struct flow_set *fs, const struct flow_env *env, struct diag *d)
{
	struct ck c = { .fs = fs, .env = env, .d = d };
	unsigned i;

	if (!fs)
		return 0;
	c.tmp = talloc_named_const(NULL, 0, "flow_check");
	if (!c.tmp)
		return 0;
	c.ussd_screen = env && env->ussd_screen ? env->ussd_screen : DEFAULT_USSD_SCREEN;
	for (i = 0; i < fs->n_flows; i++) {
		const struct flow *f = &fs->flows[i];
		struct dangling_ctx dc = { &c, f };
		bool *reach;
		unsigned s;

		if (!f->n_steps)
			continue;
		for (s = 0; s < f->n_steps; s++)
			each_ref(&f->steps[s], check_dangling_ref, &dc);
		reach = talloc_array(c.tmp, bool, f->n_steps);
		if (!reach)
			break;
		check_reachable(&c, f, reach);
		check_loops(&c, f);
		check_flow_vars(&c, f, reach);
		check_ops(&c, f);
		if (f->n_ussd)
			check_flow_ussd(&c, f);
		talloc_free(reach);
	}
	check_entries(&c);
	check_common(&c);
	talloc_free(c.tmp);
	return c.errors;
}
