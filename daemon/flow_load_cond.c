/* Flow loader, branches: a branch's cases ({ when: ..., next: step }) and their conditions
 * ({ var: age, less: 25 }), see flow_load.h. */
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_load.h"

#define ARRAY_SIZE(a) FLOW_LOAD_ARRAY_SIZE(a)

/* In the order of enum flow_cond_op. */
static const char *const cond_ops[] = { "equals", "not_equals", "in", "set", "empty", "less",
					"more" };

/* One value for equals/not_equals (any scalar) or less/more (a number). */
static bool parse_cond_one(struct flow_loader *L, struct flow_cond *c, yaml_node_t *v,
			   bool number)
{
	const char *s = ydoc_scalar(v);
	char *end;

	if (!number && !s) {
		ydoc_error(L->y, v, "expected a value, found %s", ydoc_kind(v));
		return false;
	}
	if (number && (!s || !*s || (strtod(s, &end), *end))) {
		ydoc_error(L->y, v, "`%s` expects a number, found %s%s%s", cond_ops[c->op],
			   s ? "`" : "", s ? s : ydoc_kind(v), s ? "`" : "");
		return false;
	}
	c->values = talloc_array(L->fs, const char *, 1);
	if (!c->values)
		return false;
	c->values[0] = flow_load_dup(L, s);
	c->n_values = 1;
	return true;
}

/* in: [a, b, ...] */
static bool parse_cond_in(struct flow_loader *L, struct flow_cond *c, yaml_node_t *v)
{
	unsigned j, len = ydoc_len(v);
	bool ok = true;

	if (!ydoc_is_seq(v) || !len) {
		ydoc_error(L->y, v, "`in` expects a list of values, found %s", ydoc_kind(v));
		return false;
	}
	c->values = talloc_zero_array(L->fs, const char *, len);
	if (!c->values)
		return false;
	for (j = 0; j < len; j++) {
		yaml_node_t *it = ydoc_seq_item(L->y, v, j);

		if (!ydoc_scalar(it)) {
			ydoc_error(L->y, it, "expected a list of values, found %s in it",
				   ydoc_kind(it));
			ok = false;
			continue;
		}
		c->values[c->n_values++] = flow_load_dup(L, ydoc_scalar(it));
	}
	return ok;
}

/* The test's value, for c->op already set from its key. */
static bool parse_cond_value(struct flow_loader *L, struct flow_cond *c, yaml_node_t *v)
{
	bool b;

	switch (c->op) {
	case COND_EQUALS:
	case COND_NOT_EQUALS:
		return parse_cond_one(L, c, v, false);
	case COND_LESS:
	case COND_MORE:
		return parse_cond_one(L, c, v, true);
	case COND_IN:
		return parse_cond_in(L, c, v);
	case COND_SET:
	case COND_EMPTY:
		/* set: false is empty: true, and the other way round */
		if (!flow_load_bool(L, v, &b))
			return false;
		if (!b)
			c->op = c->op == COND_SET ? COND_EMPTY : COND_SET;
		return true;
	}
	return false;
}

static bool parse_cond(struct flow_loader *L, struct flow_cond *c, yaml_node_t *n)
{
	static const char *const keys[] = { "var", "equals", "not_equals", "in", "set", "empty",
					    "less", "more" };
	unsigned i, found = 0;
	yaml_node_t *v;
	bool ok = true;

	c->loc = flow_load_loc(L, n);
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected a condition like { var: age, less: 25 }, found %s",
			   ydoc_kind(n));
		return false;
	}
	ydoc_check_keys(L->y, n, keys, ARRAY_SIZE(keys));
	if ((v = ydoc_get(L->y, n, "var"))) {
		c->var = flow_load_var_ref(L, v, false, &c->loc);
		ok = c->var != NULL;
	} else {
		ydoc_error(L->y, n, "a condition needs `var`: the variable it tests");
		ok = false;
	}
	for (i = 0; i < ARRAY_SIZE(cond_ops); i++) {
		v = ydoc_get(L->y, n, cond_ops[i]);
		if (!v)
			continue;
		if (found++) {
			ydoc_error(L->y, v, "a condition tests one thing; `%s` is a second test "
				   "(use a list of conditions to combine them)", cond_ops[i]);
			ok = false;
			continue;
		}
		c->op = (enum flow_cond_op)i;
		if (!parse_cond_value(L, c, v))
			ok = false;
	}
	if (!found) {
		ydoc_error(L->y, n, "a condition needs a test: equals, not_equals, in, set, empty, "
			   "less or more");
		ok = false;
	}
	return ok;
}

static void parse_when(struct flow_loader *L, struct flow_when *w, yaml_node_t *n)
{
	yaml_node_t *v;

	w->loc = flow_load_loc(L, n);
	w->next_idx = -1;
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected { when: ..., next: step }, found %s", ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, KEYS("when", "next"));
	if ((v = ydoc_get(L->y, n, "next")))
		w->next = flow_load_step_ref(L, v, &w->next_loc);
	else
		ydoc_error(L->y, n, "missing `next`: the step to go to when the condition holds");
	v = ydoc_get(L->y, n, "when");
	if (!v) {
		ydoc_error(L->y, n, "missing `when`: the condition to test");
		return;
	}
	if (ydoc_is_seq(v)) {
		unsigned i, len = ydoc_len(v);

		if (!len) {
			ydoc_error(L->y, v, "empty list of conditions");
			return;
		}
		w->all = talloc_zero_array(L->fs, struct flow_cond, len);
		if (!w->all)
			return;
		for (i = 0; i < len; i++)
			if (parse_cond(L, &w->all[w->n_all], ydoc_seq_item(L->y, v, i)))
				w->n_all++;
		return;
	}
	w->all = talloc_zero_array(L->fs, struct flow_cond, 1);
	if (w->all && parse_cond(L, &w->all[0], v))
		w->n_all = 1;
}

void flow_load_cases(struct flow_loader *L, struct flow_step *st, yaml_node_t *b)
{
	unsigned i, len = ydoc_len(b);

	if (!ydoc_is_seq(b) || !len) {
		ydoc_error(L->y, b, "expected a list of { when: ..., next: ... }, found %s",
			   ydoc_is_seq(b) ? "an empty list" : ydoc_kind(b));
		return;
	}
	if (len > FLOW_MAX_CHOICES) {
		ydoc_error(L->y, b, "%u cases: at most %u in one branch", len, FLOW_MAX_CHOICES);
		len = FLOW_MAX_CHOICES;
	}
	st->when = talloc_zero_array(L->fs, struct flow_when, len);
	if (!st->when)
		return;
	for (i = 0; i < len; i++)
		parse_when(L, &st->when[i], ydoc_seq_item(L->y, b, i));
	st->n_when = len;
}
