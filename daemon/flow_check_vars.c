/* Static checks, variables: each one used is set on every path that reaches its use, and every
 * template is well formed (flow_check_run.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_check_run.h"
#include "guichet/remind.h"
#include "guichet/template.h"
#include "guichet/text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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
			n = flow_check_step_edges(st, e, ARRAY_SIZE(e));
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
			flow_check_err(u->c, u->loc, "`%.*s` only exists inside `options_from` (label and "
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
	flow_check_err(u->c, u->loc, "variable `%.*s` is used in %s before it is set on every path "
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
		flow_check_err(u->c, loc, "bad template at character %zu: %s", off + 1, err);
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

void flow_check_vars(struct ck *c, const struct flow *f, const bool *reach)
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

/* The common messages: templates well formed, no variable but those Guichet fills; the
 * contact inserted as it is. */
void flow_check_common(struct ck *c)
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
			flow_check_err(c, &m->contact.tr[j].loc, "the `contact` message is inserted for "
			       "{{contact}} and cannot hold variables itself");
}
