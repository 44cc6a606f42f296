/* Static checks over a loaded flow set. This file: the step graph (references, reachability,
 * loops), operations and entry points across flows, and flow_check() itself, which runs the
 * others: variables (flow_check_vars.c), what people see on screens and what is sent first
 * (flow_check_screen.c), what a keypad can type (flow_check_keypad.c). Everything is reported
 * at the place the administrator wrote it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_check_run.h"
#include "guichet/remind.h"
#include "guichet/template.h"
#include "guichet/text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DEFAULT_USSD_SCREEN 182
#define DEFAULT_SMS_PARTS 3

void flow_check_err(struct ck *c, const struct flow_loc *l, const char *fmt, ...)
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
		flow_check_err(dc->c, loc, "no step named `%s` in flow `%s` \u2014 did you mean `%s`?",
		       name, f->name ? f->name : "?", sg);
	else
		flow_check_err(dc->c, loc, "no step named `%s` in flow `%s`", name, f->name ? f->name : "?");
	talloc_free(names);
}

unsigned flow_check_step_edges(const struct flow_step *st, struct edge *e, unsigned max)
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

unsigned flow_check_max_edges(const struct flow_step *st)
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
		unsigned m = flow_check_max_edges(st), n, j;
		struct edge *e = talloc_array(c->tmp, struct edge, m);

		n = e ? flow_check_step_edges(st, e, m) : 0;
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
			flow_check_err(c, &f->steps[i].loc, "step `%s` can never be reached from the start "
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
			unsigned n = flow_check_step_edges(st, e, ARRAY_SIZE(e));

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
				flow_check_err(c, &f->steps[to].loc, "steps %s`%s` loop forever without "
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
				flow_check_err(c, &fa->loc, "flow `%s` is already defined in %s:%u", fa->name,
				       fb->file, fb->loc.line);
		}
		for (i = 0; i < fa->n_keywords; i++) {
			const char *k = fa->keywords[i];
			const struct flow_loc *l = fa->keyword_locs ? &fa->keyword_locs[i] : &fa->loc;
			bool dup = false;

			if (is_global_word(&fs->words, k))
				flow_check_err(c, l, "keyword `%s` of flow `%s` is also a common word (help, "
				       "back, restart, stop or more)", k, fname(fa));
			for (b = 0; b <= a && !dup; b++) {
				const struct flow *fb = &fs->flows[b];

				for (j = 0; j < (b == a ? i : fb->n_keywords) && !dup; j++) {
					const struct flow_loc *o = fb->keyword_locs ?
						&fb->keyword_locs[j] : &fb->loc;

					if (strcmp(fb->keywords[j], k))
						continue;
					dup = true;
					flow_check_err(c, l, "keyword `%s` of flow `%s` (%s) is already used "
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
					flow_check_err(c, l, "USSD code `%s` of flow `%s` (%s) is already used "
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
			flow_check_err(c, &st->op_loc, "unknown operation `%s` \u2014 did you mean `%s`?",
			       st->op, sg);
		else
			flow_check_err(c, &st->op_loc, "unknown operation `%s`: no back-end in the "
			       "configuration declares it", st->op);
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
		flow_check_vars(&c, f, reach);
		check_ops(&c, f);
		flow_check_sends(&c, f);
		if (f->n_ussd)
			flow_check_ussd(&c, f);
		talloc_free(reach);
	}
	check_entries(&c);
	flow_check_common(&c);
	flow_check_screens(&c);
	talloc_free(c.tmp);
	return c.errors;
}

