/* Static checks over a loaded flow set: the step graph, variables, operations, entry points
 * and USSD screen sizes. Everything is reported at the place the administrator wrote it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"
#include "guichet/remind.h"
#include "guichet/template.h"
#include "guichet/text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DEFAULT_USSD_SCREEN 182
#define DEFAULT_SMS_PARTS 3

struct ck {
	void *tmp;			/* scratch talloc context, freed at the end */
	const struct flow_set *fs;
	const struct flow_env *env;
	struct diag *d;
	unsigned errors;
	unsigned ussd_screen;
	unsigned sms_parts;
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
	for (i = 0; i < st->n_remind; i++) {
		check_tmpl(&u, st->remind[i].at, &st->remind[i].at_loc);
		check_text_vars(&u, &st->remind[i].text);
	}
	check_text_vars(&u, &st->receipt);
	check_tmpl(&u, st->reference, &st->reference_loc);
	check_tmpl(&u, st->cancel_reminders, &st->cancel_loc);
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
/* Screens as people see them: a text with what is said before it, on each channel
 *
 * The engine says the retry (or the help) and then the question or the menu again in one
 * reply, and the common messages and lists of services on their own. Each such screen is
 * measured as shown with its variables empty, except {{contact}}, {{keyword}} and
 * {{choices}}, which are known: on USSD against one screen, on SMS against the parts a reply
 * may take. */

struct shown_ctx {
	struct ck *c;
	const struct flow *f;
	const char *lang;
	bool ussd;
	const char *choices;
};

static const char *shown_lookup(void *data, const char *name)
{
	struct shown_ctx *x = data;

	if (!strcmp(name, "contact"))
		return flow_text_pick(&x->c->fs->msg.contact, x->lang, x->ussd);
	if (!strcmp(name, "keyword"))
		return x->f && x->f->n_keywords ? x->f->keywords[0] : NULL;
	if (!strcmp(name, "choices"))
		return x->choices;
	return NULL;
}

/* t in lang on the channel, expanded as shown at the least and folded as the channel does;
 * NULL when t has no text. */
static char *shown(struct ck *c, const struct flow *f, const struct flow_text *t, const char *lang,
		   bool ussd, const char *choices)
{
	struct shown_ctx x = { c, f, lang, ussd, choices };
	const char *tmpl = flow_text_pick(t, lang, ussd);
	char *out;

	if (!tmpl)
		return NULL;
	out = template_expand(c->tmp, tmpl, shown_lookup, &x);
	if (out && !(c->env && c->env->no_fold) && !text_is_gsm7(out))
		out = text_fold_gsm7(c->tmp, out);
	return out;
}

static struct text_budget budget(const struct ck *c, bool ussd)
{
	return ussd ? text_budget_ussd(c->ussd_screen) : text_budget_sms(c->sms_parts);
}

/* "131 characters, at most 128" / "3 SMS parts, at most 2"; NULL when text fits. */
static char *overflow(struct ck *c, const char *text, bool ussd)
{
	struct text_budget b = budget(c, ussd);
	struct text_measure m;

	if (!text || text_fits(text, &b))
		return NULL;
	text_measure(text, &m);
	if (ussd)
		return talloc_asprintf(c->tmp, "%u characters, at most %u%s", m.units,
				       m.coding == TEXT_GSM7 ? b.gsm7_units : b.ucs2_units,
				       m.coding == TEXT_GSM7 ? "" : " (UCS-2)");
	return talloc_asprintf(c->tmp, "%u SMS parts, at most %u", m.parts, c->sms_parts);
}

static const char *where_screen(bool ussd)
{
	return ussd ? "one USSD screen" : "the SMS parts a reply may take";
}

static char *join(struct ck *c, const char *a, const char *b)
{
	if (!a || !*a)
		return b ? talloc_strdup(c->tmp, b) : NULL;
	if (!b || !*b)
		return talloc_strdup(c->tmp, a);
	return talloc_asprintf(c->tmp, "%s\n%s", a, b);
}

/* Where a text of t in lang was written (its ussd: version on USSD), else fallback. */
static const struct flow_loc *text_loc(const struct flow_text *t, const char *lang, bool ussd,
				       const struct flow_loc *fallback)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct flow_tr *tr = &t->tr[i];

		if (strcmp(tr->lang, lang) && i + 1 < t->n)
			continue;
		if (strcmp(tr->lang, lang))
			tr = &t->tr[0];
		if (ussd && tr->ussd)
			return &tr->ussd_loc;
		return tr->loc.file ? &tr->loc : fallback;
	}
	return fallback;
}

/* The first page of a menu as the engine cuts it (greedy, at least one option, the more
 * line when options are left), for the options' labels as shown. */
static char *menu_first_page(struct ck *c, const char *title, char **labels, unsigned n,
			     const char *more_line, bool ussd)
{
	struct text_budget b = budget(c, ussd);
	char *page = talloc_strdup(c->tmp, title ? title : "");
	unsigned k = 0;

	while (k < n && k < 8) {
		char *cand = talloc_asprintf(c->tmp, "%s%s%u %s", page, *page ? "\n" : "", k + 1,
					     labels[k]);
		char *with_more = k + 1 == n ? cand : join(c, cand, more_line);

		if (k > 0 && !text_fits(with_more, &b))
			break;
		page = cand;
		k++;
	}
	return k < n ? join(c, page, more_line) : page;
}

/* The choices a wrong pick names, as the engine writes them ("1, 2 ou 3", "1 à 8 ou 9"). */
static char *choices_of(struct ck *c, unsigned n, bool more, const char *lang)
{
	bool en = lang && !strcmp(lang, "en");
	const char *more_key = c->fs->words.n_more ? c->fs->words.more[0] : "9";
	char *t;

	if (n > 4) {
		t = talloc_asprintf(c->tmp, "1 %s %u", en ? "to" : "\u00e0", n);
	} else {
		t = talloc_strdup(c->tmp, "1");
		for (unsigned i = 2; i <= n; i++) {
			if (i == n && !more)
				t = talloc_asprintf_append(t, " %s %u", en ? "or" : "ou", i);
			else
				t = talloc_asprintf_append(t, ", %u", i);
		}
	}
	if (more)
		t = talloc_asprintf_append(t, " %s %s", en ? "or" : "ou", more_key);
	return t;
}

static void screen_error(struct ck *c, const struct flow_loc *loc, const char *what,
			 const char *lang, bool ussd, const char *size)
{
	err_at(c, loc, "%s (%s) does not fit %s: %s", what, lang, where_screen(ussd), size);
}

/* The question, or the first page of the menu, of st as shown in lang; *choices gets what a
 * wrong pick would name (NULL for other questions). NULL for steps that ask nothing. */
static char *prompt_of(struct ck *c, const struct flow *f, const struct flow_step *st,
		       const char *lang, bool ussd, char **choices)
{
	const struct flow_messages *m = &c->fs->msg;

	*choices = NULL;
	if (st->kind == STEP_MENU) {
		unsigned n = st->from_list ? 2 : st->n_options;
		char **labels = talloc_array(c->tmp, char *, n ? n : 1);
		const char *more = flow_text_pick(&m->more, lang, ussd);
		char *more_line = talloc_asprintf(c->tmp, "%s %s", c->fs->words.n_more ?
						  c->fs->words.more[0] : "9", more ? more : "Suite");

		for (unsigned j = 0; j < n; j++) {
			labels[j] = shown(c, f, st->from_list ? &st->from_label : &st->options[j].label,
					  lang, ussd, NULL);
			if (!labels[j])
				labels[j] = "";
		}
		*choices = choices_of(c, n > 8 ? 8 : n, n > 8 || st->from_list, lang);
		return menu_first_page(c, shown(c, f, &st->text, lang, ussd, NULL), labels, n,
				       more_line, ussd);
	}
	if (st->kind == STEP_ASK) {
		if (st->expect == EXPECT_YESNO || st->expect == EXPECT_CHOICE)
			*choices = choices_of(c, st->expect == EXPECT_CHOICE ? st->n_choices : 2,
					      false, lang);
		return shown(c, f, &st->text, lang, ussd, NULL);
	}
	return NULL;
}

/* The screens of one question or menu: itself, after the retry text, after the help. */
static void check_step_screens(struct ck *c, const struct flow *f, const struct flow_step *st,
			       bool ussd)
{
	const struct flow_messages *m = &c->fs->msg;

	for (unsigned i = 0; i < st->text.n; i++) {
		const char *lang = st->text.tr[i].lang;
		char *choices, *size;
		char *prompt = prompt_of(c, f, st, lang, ussd, &choices);

		if (!prompt)
			continue;
		/* alone: a question on SMS (USSD has its own check, with the option rule) */
		if (!ussd && (size = overflow(c, prompt, false)))
			screen_error(c, text_loc(&st->text, lang, false, &st->loc), "this question",
				     lang, false, size);

		/* after a wrong answer */
		const struct flow_text *retry = st->retry.n ? &st->retry : choices ? &m->pick
									 : &m->invalid;
		char *r = shown(c, f, retry, lang, ussd, choices);
		if ((size = overflow(c, join(c, r, prompt), ussd)))
			err_at(c, st->retry.n ? text_loc(&st->retry, lang, ussd, &st->loc) : &st->loc,
			       "step `%s` after a wrong answer (%s): %s then the %s again does not "
			       "fit %s: %s", st->name, lang, st->retry.n ? "its retry text" :
			       choices ? "the common `pick` message" : "the common `invalid` message",
			       st->kind == STEP_MENU ? "menu" : "question", where_screen(ussd), size);

		/* after the help word */
		const struct flow_text *help = st->help.n ? &st->help : f->help.n ? &f->help
								   : &m->help;
		char *h = shown(c, f, help, lang, ussd, NULL);
		if ((size = overflow(c, join(c, h, prompt), ussd)))
			err_at(c, st->help.n ? text_loc(&st->help, lang, ussd, &st->loc) :
			       f->help.n ? text_loc(&f->help, lang, ussd, &f->loc) : &st->loc,
			       "step `%s` after the help word (%s): %s then the %s again does not "
			       "fit %s: %s", st->name, lang, st->help.n ? "its help" : f->help.n ?
			       "the flow's help" : "the common `help` message",
			       st->kind == STEP_MENU ? "menu" : "question", where_screen(ussd), size);
	}
}

/* A text said alone (say, wait, empty, on_timeout, messages) on one channel. */
static void check_alone(struct ck *c, const struct flow *f, const struct flow_text *t,
			const struct flow_loc *fallback, const char *what, bool ussd)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *lang = t->tr[i].lang;
		char *size = overflow(c, shown(c, f, t, lang, ussd, NULL), ussd);

		if (size)
			screen_error(c, text_loc(t, lang, ussd, fallback), what, lang, ussd, size);
	}
}

static void check_flow_screens(struct ck *c, const struct flow *f, bool ussd)
{
	for (unsigned i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		/* Once per step: a question whose wrong answers get a text that says nothing of
		 * what is expected (menus, yesno and choice name their numbers by themselves). */
		if ((!ussd || !f->n_keywords) && st->kind == STEP_ASK && !st->retry.n &&
		    st->expect != EXPECT_YESNO &&
		    st->expect != EXPECT_CHOICE && !(st->expect == EXPECT_TEXT && st->min_len <= 1 &&
						     !st->max_len))
			diag_add(c->d, DIAG_WARNING, st->loc.file, st->loc.line, st->loc.col,
				 "question `%s` has no `retry`: a wrong answer gets the common "
				 "`invalid` message, which does not say what is expected", st->name);

		check_step_screens(c, f, st, ussd);
		if (!ussd && st->kind == STEP_SAY)
			check_alone(c, f, &st->text, &st->loc, "this text", false);
		/* a message that goes on at once: said with the next question, in one reply */
		if (st->kind == STEP_SAY && !st->end && st->next_idx >= 0) {
			const struct flow_step *nx = &f->steps[st->next_idx];

			for (unsigned l = 0; l < st->text.n; l++) {
				const char *lang = st->text.tr[l].lang;
				char *choices, *size;
				char *prompt = prompt_of(c, f, nx, lang, ussd, &choices);

				if (prompt && (size = overflow(c, join(c, shown(c, f, &st->text, lang,
										ussd, NULL),
								       prompt), ussd)))
					err_at(c, text_loc(&st->text, lang, ussd, &st->loc), "this text "
					       "(%s) and step `%s` after it, said in one reply, do not fit "
					       "%s: %s", lang, nx->name, where_screen(ussd), size);
			}
		}
		if (!ussd)
			check_alone(c, f, &st->empty, &st->loc, "the empty text", false);
	}
	/* on USSD, on_timeout alone is checked with the other texts of a USSD flow */
	if (!ussd || !f->on_timeout.n)
		check_alone(c, f, f->on_timeout.n ? &f->on_timeout : &c->fs->msg.expired, &f->loc,
			    f->on_timeout.n ? "on_timeout" : "the common `expired` message", ussd);
}

/* What a POSIX extended pattern needs that a keypad cannot type: a literal character or a
 * bracket expression with no digit, * or #, that is not optional. NULL when a keypad can
 * answer (or when the pattern has alternatives: then it is not judged). Returns a
 * description, talloc'd under c->tmp. */
static const char *pattern_needs(struct ck *c, const char *p)
{
	if (strchr(p, '|'))
		return NULL;
	while (*p) {
		const char *el = p;
		char lit = 0;
		bool keypad = true;

		if (*p == '\\' && p[1]) {
			lit = p[1];
			p += 2;
		} else if (*p == '[') {
			const char *q = p + 1;
			bool neg = *q == '^';

			if (neg)
				q++;
			if (*q == ']')
				q++;
			q = strchr(q, ']');
			if (!q)
				return NULL;
			keypad = neg;
			for (const char *k = p + 1; k < q && !keypad; k++)
				keypad = (*k >= '0' && *k <= '9') || *k == '*' || *k == '#' ||
					 !strncmp(k, ":digit:", 7) || !strncmp(k, ":alnum:", 7) ||
					 !strncmp(k, ":print:", 7) || !strncmp(k, ":graph:", 7) ||
					 !strncmp(k, ":punct:", 7);
			/* a range around the digits (!-~) counts as holding them */
			for (const char *k = p + 1; k + 2 < q && !keypad; k++)
				keypad = k[1] == '-' && k[0] <= '0' && k[2] >= '9';
			p = q + 1;
		} else if (strchr("^$.()", *p)) {
			p++;
			continue;
		} else if (strchr("*+?{", *p)) {
			if (*p == '{')
				p += strcspn(p, "}");
			if (*p)
				p++;
			continue;
		} else {
			lit = *p++;
		}
		if (lit)
			keypad = (lit >= '0' && lit <= '9') || lit == '*' || lit == '#' || lit == '+';
		if (keypad)
			continue;
		/* optional: ?, * or {0 after it */
		if (*p == '?' || *p == '*' || !strncmp(p, "{0", 2))
			continue;
		return lit ? talloc_asprintf(c->tmp, "`%c`", lit)
			   : talloc_asprintf(c->tmp, "`%.*s`", (int)(p - el), el);
	}
	return NULL;
}

/* A text shown on USSD that asks to type a word a keypad cannot type (AIDE, STOP, RDV, or
 * "?" after "Envoyez" or in quotes). Words are taken as written in capitals. */
static bool keypad_typable(const char *w)
{
	return w[strspn(w, "0123456789*#+")] == '\0';
}

static const char *letters_word(const struct ck *c, const char *tok, size_t len,
				const char *prev, bool quoted)
{
	const struct flow_words *w = &c->fs->words;
	const char *const *lists[] = { w->help, w->back, w->restart, w->stop, w->more };
	unsigned ns[] = { w->n_help, w->n_back, w->n_restart, w->n_stop, w->n_more };
	bool caps = false;

	for (size_t i = 0; i < len; i++) {
		if (tok[i] >= 'a' && tok[i] <= 'z')
			return NULL;	/* as written in a sentence, not a word to type */
		caps |= tok[i] >= 'A' && tok[i] <= 'Z';
	}
	for (unsigned i = 0; i < 5; i++) {
		for (unsigned j = 0; j < ns[i]; j++) {
			const char *word = lists[i][j];

			if (strlen(word) != len || strncmp(word, tok, len) || keypad_typable(word))
				continue;
			if (caps || quoted || (prev && (!strcasecmp(prev, "envoyez") ||
						       !strcasecmp(prev, "renvoyez") ||
						       !strcasecmp(prev, "tapez") ||
						       !strcasecmp(prev, "send"))))
				return word;
		}
	}
	/* a keyword may be named ("Aide RDV"); it is asked for after a verb or in quotes */
	if (!quoted && !(prev && (!strcasecmp(prev, "envoyez") || !strcasecmp(prev, "renvoyez") ||
				  !strcasecmp(prev, "tapez") || !strcasecmp(prev, "send"))))
		return NULL;
	for (unsigned i = 0; caps && i < c->fs->n_flows; i++)
		for (unsigned j = 0; j < c->fs->flows[i].n_keywords; j++)
			if (strlen(c->fs->flows[i].keywords[j]) == len &&
			    !strncmp(c->fs->flows[i].keywords[j], tok, len))
				return c->fs->flows[i].keywords[j];
	return NULL;
}

static void check_keypad_text(struct ck *c, const struct flow_text *t, const struct flow_loc *fb,
			      const char *what)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *s = t->tr[i].ussd ? t->tr[i].ussd : t->tr[i].text;
		char prev[32] = "";

		while (s && *s) {
			size_t sp = strspn(s, " \n\t"), len;
			bool quoted;
			const char *word;

			s += sp;
			len = strcspn(s, " \n\t");
			if (!len)
				break;
			{
				const char *tok = s;
				size_t tl = len;

				/* quotes and punctuation around a word ("AIDE", « STOP », RDV.) */
				quoted = false;
				while (tl && strchr("\"'(", *tok)) {
					quoted = true;
					tok++;
					tl--;
				}
				if (tl >= 2 && (!strncmp(tok, "\u00ab", 2) || !strncmp(tok, "\u00bb", 2))) {
					quoted = true;
					tok += 2;
					tl -= 2;
				}
				while (tl > 1 && strchr("\"').,;:!", tok[tl - 1])) {
					quoted |= tok[tl - 1] == '"' || tok[tl - 1] == '\'';
					tl--;
				}
				if (tl > 2 && !strncmp(tok + tl - 2, "\u00bb", 2)) {
					quoted = true;
					tl -= 2;
				}
				if (tl == 0 && !strncmp(s, "\u00bb", 2))
					quoted = true;
				word = tl ? letters_word(c, tok, tl, prev, quoted) : NULL;
				if (word) {
					err_at(c, text_loc(t, t->tr[i].lang, true, fb), "%s (%s) asks to "
					       "type `%s`, which a USSD keypad cannot: offer a digit in a "
					       "`ussd:` version", what, t->tr[i].lang, word);
					break;
				}
				snprintf(prev, sizeof(prev), "%.*s", (int)(tl < 31 ? tl : 31), tok);
			}
			s += len;
		}
	}
}

static void check_flow_keypad(struct ck *c, const struct flow *f)
{
	check_keypad_text(c, &f->on_timeout, &f->loc, "on_timeout");
	check_keypad_text(c, &f->help, &f->loc, "the help");
	for (unsigned i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		check_keypad_text(c, &st->text, &st->loc, "this text");
		check_keypad_text(c, &st->help, &st->loc, "the help");
		check_keypad_text(c, &st->retry, &st->loc, "the retry text");
		check_keypad_text(c, &st->wait, &st->loc, "the wait text");
		check_keypad_text(c, &st->empty, &st->loc, "the empty text");
		for (unsigned j = 0; j < st->n_options; j++)
			check_keypad_text(c, &st->options[j].label, &st->options[j].loc, "this option");
		if (st->kind == STEP_ASK && st->expect == EXPECT_PATTERN && st->pattern) {
			const char *bad = pattern_needs(c, st->pattern);

			if (bad)
				err_at(c, &st->loc, "question `%s` is reachable over USSD but its "
				       "pattern needs %s, which a keypad (digits, * and #) cannot type: "
				       "accept digits too, or use `date`, `month` or `digits`",
				       st->name, bad);
		}
	}
}

/* The lists of services: for a text Guichet does not know (SMS: keywords; USSD: codes) and
 * each USSD root menu ("*4321#" listing "*4321*1#", "*4321*2#"), alone and after a wrong
 * pick. */
static void check_lists(struct ck *c, bool ussd)
{
	const struct flow_set *fs = c->fs;
	const struct flow_text *wt = &fs->msg.welcome;

	for (unsigned l = 0; l < (wt->n ? wt->n : 1); l++) {
		const char *lang = wt->n ? wt->tr[l].lang : "fr";
		char *list = shown(c, NULL, wt, lang, ussd, NULL);
		struct text_measure m;
		char *size;

		for (unsigned i = 0; i < fs->n_flows; i++) {
			const struct flow *f = &fs->flows[i];
			const char *title = flow_text_pick(&f->title, lang, ussd);

			if (ussd && f->n_ussd)
				list = join(c, list, talloc_asprintf(c->tmp, "%s %s", f->ussd_codes[0],
								     title ? title : f->name));
			else if (!ussd && f->n_keywords)
				list = join(c, list, talloc_asprintf(c->tmp, "%s : %s", f->keywords[0],
								     title ? title : f->name));
		}
		if (list && !(c->env && c->env->no_fold) && !text_is_gsm7(list))
			list = text_fold_gsm7(c->tmp, list);
		if ((size = overflow(c, list, ussd)))
			err_at(c, text_loc(wt, lang, ussd, NULL), "the list of services (the "
			       "`welcome` message and every flow's %s and title, %s) does not fit "
			       "%s: %s", ussd ? "code" : "keyword", lang, where_screen(ussd), size);
		else if (!ussd && list && (text_measure(list, &m), m.parts > 1))
			diag_add(c->d, DIAG_WARNING, NULL, 0, 0, "the list of services (%s) takes %u "
				 "SMS parts: shorten the `welcome` message or the flows' titles so "
				 "that it fits one", lang, m.parts);
		if (!ussd)
			continue;
		/* root menus: one per code that heads others */
		for (unsigned i = 0; i < fs->n_flows; i++) {
			for (unsigned j = 0; j < fs->flows[i].n_ussd; j++) {
				const char *code = fs->flows[i].ussd_codes[j];
				const char *star = strrchr(code, '*');
				char *prefix, *menu;
				unsigned n = 0;
				bool first = true;

				if (!star || star == code)
					continue;
				prefix = talloc_strndup(c->tmp, code, star - code + 1);
				/* each root once: at its first code */
				for (unsigned a = 0; a <= i && first; a++)
					for (unsigned b = 0; b < fs->flows[a].n_ussd && first; b++)
						if ((a < i || b < j) && !strncmp(fs->flows[a].ussd_codes[b],
									    prefix, strlen(prefix)))
							first = false;
				if (!first)
					continue;
				menu = shown(c, NULL, wt, lang, true, NULL);
				for (unsigned a = 0; a < fs->n_flows; a++) {
					for (unsigned b = 0; b < fs->flows[a].n_ussd; b++) {
						const char *cd = fs->flows[a].ussd_codes[b];
						const char *title = flow_text_pick(&fs->flows[a].title,
										   lang, true);
						if (strncmp(cd, prefix, strlen(prefix)))
							continue;
						menu = join(c, menu, talloc_asprintf(c->tmp, "%.*s %s",
							(int)strcspn(cd + strlen(prefix), "*#"),
							cd + strlen(prefix), title ? title : fs->flows[a].name));
						n++;
					}
				}
				if (menu && !(c->env && c->env->no_fold) && !text_is_gsm7(menu))
					menu = text_fold_gsm7(c->tmp, menu);
				if ((size = overflow(c, join(c, shown(c, NULL, &fs->msg.pick, lang, true,
								   choices_of(c, n, false, lang)),
							 menu), true)))
					err_at(c, text_loc(wt, lang, true, NULL), "the USSD menu of "
					       "%.*s# (the `welcome` message and the titles, %s), after a "
					       "wrong pick, does not fit one USSD screen: %s",
					       (int)strlen(prefix) - 1, prefix, lang, size);
			}
		}
	}
}

/* The common messages said alone, on the channels some flow uses. */
static void check_messages(struct ck *c, bool ussd)
{
	const struct flow_messages *m = &c->fs->msg;
	const struct flow_text *alone[] = { &m->too_many_tries, &m->stopped, &m->expired,
					    &m->backend_error, &m->busy, &m->limited,
					    ussd ? &m->saturated : &m->suggest,
					    ussd ? &m->invalid_session : &m->suggest };
	static const char *const names[] = { "too_many_tries", "stopped", "expired",
					     "backend_error", "busy", "limited", NULL, NULL };
	const struct flow *longest = NULL;

	/* suggest names a keyword: measured with the longest */
	for (unsigned i = 0; i < c->fs->n_flows; i++)
		if (c->fs->flows[i].n_keywords && (!longest || strlen(c->fs->flows[i].keywords[0]) >
						   strlen(longest->keywords[0])))
			longest = &c->fs->flows[i];
	for (unsigned i = 0; i < ARRAY_SIZE(alone); i++) {
		const char *name = names[i] ? names[i] : !ussd ? "suggest" :
				   alone[i] == &m->saturated ? "saturated" : "invalid_session";
		char *what;

		if (i + 1 < ARRAY_SIZE(alone) && alone[i] == alone[i + 1])
			continue;	/* suggest, listed twice for SMS */
		what = talloc_asprintf(c->tmp, "the common `%s` message", name);

		check_alone(c, longest, alone[i], NULL, what, ussd);
		if (ussd)
			check_keypad_text(c, alone[i], NULL, what);
	}
	if (ussd) {
		check_keypad_text(c, &m->help, NULL, "the common `help` message");
		check_keypad_text(c, &m->pick, NULL, "the common `pick` message");
		check_keypad_text(c, &m->invalid, NULL, "the common `invalid` message");
	}
}

static void check_screens(struct ck *c)
{
	bool any_sms = false, any_ussd = false;

	for (unsigned i = 0; i < c->fs->n_flows; i++) {
		const struct flow *f = &c->fs->flows[i];

		if (f->n_keywords) {
			check_flow_screens(c, f, false);
			any_sms = true;
		}
		if (f->n_ussd) {
			check_flow_screens(c, f, true);
			check_flow_keypad(c, f);
			any_ussd = true;
		}
	}
	if (any_sms) {
		check_messages(c, false);
		check_lists(c, false);
	}
	if (any_ussd) {
		check_messages(c, true);
		check_lists(c, true);
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
					  &m->suggest, &m->limited, &m->saturated };
	struct use_ctx u = { c, NULL, NULL, false, NULL, "a common message" };
	unsigned i, j;

	for (i = 0; i < ARRAY_SIZE(all); i++)
		check_text_vars(&u, all[i]);
	for (j = 0; j < m->contact.n; j++)
		if (m->contact.tr[j].text && !template_is_literal(m->contact.tr[j].text))
			err_at(c, &m->contact.tr[j].loc, "the `contact` message is inserted for "
			       "{{contact}} and cannot hold variables itself");
}

/* ------------------------------------------------------------------------------------------ */
/* Messages sent first: reminders and receipts */

/* A reminder or receipt goes by SMS whatever the channel: it must fit the parts a reply may
 * take, and what it costs is said (a note), as shown with its variables empty. */
static void check_send_text(struct ck *c, const struct flow *f, const struct flow_step *st,
			    const struct flow_text *t, const char *what)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *lang = t->tr[i].lang;
		char *text = shown(c, f, t, lang, false, NULL);
		struct text_measure m;
		char *over;

		if (!text)
			continue;
		if ((over = overflow(c, text, false))) {
			err_at(c, &t->tr[i].loc, "the %s of step `%s` (%s) takes %s: it goes by SMS, "
			       "shorten it", what, st->name, lang, over);
			continue;
		}
		text_measure(text, &m);
		diag_add(c->d, DIAG_NOTE, t->tr[i].loc.file, t->tr[i].loc.line, t->tr[i].loc.col,
			 "the %s of step `%s` (%s) costs %u SMS part%s, with its variables empty",
			 what, st->name, lang, m.parts, m.parts > 1 ? "s" : "");
	}
}

static void check_sends(struct ck *c, const struct flow *f)
{
	for (unsigned s = 0; s < f->n_steps; s++) {
		const struct flow_step *st = &f->steps[s];

		for (unsigned i = 0; i < st->n_remind; i++) {
			const char *why = NULL;

			if (remind_spec_check(st->remind[i].at, &why) < 0)
				err_at(c, &st->remind[i].at_loc, "reminder %u of step `%s`: `at: %s`: "
				       "%s", i + 1, st->name, st->remind[i].at, why);
			check_send_text(c, f, st, &st->remind[i].text, "reminder");
		}
		check_send_text(c, f, st, &st->receipt, "receipt");
		if (st->reference && !st->n_remind && !st->receipt.n)
			err_at(c, &st->reference_loc, "step `%s` has a `reference` but no `remind` "
			       "or `receipt` to carry it", st->name);
	}
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
	c.sms_parts = env && env->sms_parts ? env->sms_parts : DEFAULT_SMS_PARTS;
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
		check_sends(&c, f);
		if (f->n_ussd)
			check_flow_ussd(&c, f);
		talloc_free(reach);
	}
	check_entries(&c);
	check_common(&c);
	check_screens(&c);
	talloc_free(c.tmp);
	return c.errors;
}
