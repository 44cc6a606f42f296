/* The graph of a flow: its steps and labelled ways, and what can be reached (see
 * flow_graph.h for the contract); written as DOT by flow_graph_dot.c. */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_graph.h"
#include "guichet/template.h"

#define DEFAULT_SCREEN	182

/* ---- bounded strings ----------------------------------------------------------------------- */

char *flow_graph_clip(void *ctx, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return talloc_strdup(ctx, s);
	while (max && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return talloc_asprintf(ctx, "%.*s\u2026", (int)max, s);
}

/* Appends to a string that may not grow past max bytes (then "…" ends it once). */
struct sbuf {
	char *s;
	size_t max;
	bool full;
};

static void sb_add(struct sbuf *b, const char *text)
{
	size_t have, room, n;

	if (!b->s || b->full || !text)
		return;
	have = strlen(b->s);
	room = b->max > have ? b->max - have : 0;
	n = strlen(text);
	if (n > room) {
		char *c = flow_graph_clip(NULL, text, room);

		b->s = c ? talloc_strdup_append(b->s, c) : b->s;
		talloc_free(c);
		b->full = true;
		return;
	}
	b->s = talloc_strdup_append(b->s, text);
}

/* ---- texts ----------------------------------------------------------------------------------- */

void flow_graph_text_measure(void *ctx, const char *sms, const char *ussd,
			     const struct render_opts *o, struct flow_graph_text *t)
{
	struct text_budget b = text_budget_ussd(o && o->screen ? o->screen : DEFAULT_SCREEN);
	bool fold = !o || o->fold;

	memset(t, 0, sizeof(*t));
	if (!sms)
		return;
	if (!ussd)
		ussd = sms;
	t->sms = fold ? text_fold_gsm7(ctx, sms) : talloc_strdup(ctx, sms);
	t->ussd = fold ? text_fold_gsm7(ctx, ussd) : talloc_strdup(ctx, ussd);
	if (!t->sms || !t->ussd) {
		t->sms = t->ussd = NULL;
		return;
	}
	text_measure(t->sms, &t->sms_m);
	text_measure(t->ussd, &t->ussd_m);
	t->ussd_room = t->ussd_m.coding == TEXT_GSM7 ? b.gsm7_units : b.ucs2_units;
	t->ussd_fits = text_fits(t->ussd, &b);
	t->vars = !template_is_literal(sms) || !template_is_literal(ussd);
}

static const char *fr(const struct flow_text *t, bool ussd)
{
	return flow_text_pick(t, "fr", ussd);
}

/* A menu as the engine shows it on one page: the title, then "N label" per option. */
static char *menu_text(void *ctx, const struct flow_step *st, bool ussd)
{
	const char *title = fr(&st->text, ussd);
	char *s = talloc_strdup(ctx, title ? title : "");
	unsigned i;

	if (st->from_list) {
		const char *l = fr(&st->from_label, ussd);

		return talloc_asprintf_append(s, "%s1 %s\n2 \u2026", *s ? "\n" : "", l ? l : "");
	}
	for (i = 0; s && i < st->n_options; i++) {
		const char *l = fr(&st->options[i].label, ussd);

		s = talloc_asprintf_append(s, "%s%u %s", *s ? "\n" : "", i + 1, l ? l : "");
	}
	return s;
}

/* ---- words for conditions and answers ---------------------------------------------------------- */

char *flow_graph_condition(void *ctx, const struct flow_when *w)
{
	struct sbuf b = { talloc_strdup(ctx, ""), FLOW_GRAPH_LABEL_MAX, false };
	unsigned i, j;

	for (i = 0; i < w->n_all; i++) {
		const struct flow_cond *c = &w->all[i];
		const char *v0 = c->n_values ? c->values[0] : "";
		bool yes = !strcmp(v0, "true") || !strcmp(v0, "oui") || !strcmp(v0, "yes");

		if (i)
			sb_add(&b, " et ");
		sb_add(&b, c->var ? c->var : "?");
		switch (c->op) {
		case COND_EQUALS: sb_add(&b, " = "); sb_add(&b, v0); break;
		case COND_NOT_EQUALS: sb_add(&b, " \u2260 "); sb_add(&b, v0); break;
		case COND_LESS: sb_add(&b, " < "); sb_add(&b, v0); break;
		case COND_MORE: sb_add(&b, " > "); sb_add(&b, v0); break;
		case COND_SET: sb_add(&b, yes ? " renseign\u00e9" : " vide"); break;
		case COND_EMPTY: sb_add(&b, yes ? " vide" : " renseign\u00e9"); break;
		case COND_IN:
			sb_add(&b, " parmi ");
			for (j = 0; j < c->n_values; j++) {
				if (j)
					sb_add(&b, ", ");
				sb_add(&b, c->values[j]);
			}
			break;
		}
	}
	return b.s;
}

static char *range(void *ctx, unsigned lo, unsigned hi, const char *unit)
{
	if (lo && hi && lo == hi)
		return talloc_asprintf(ctx, "%u %s", lo, unit);
	if (lo && hi)
		return talloc_asprintf(ctx, "%u \u00e0 %u %s", lo, hi, unit);
	if (hi)
		return talloc_asprintf(ctx, "%u %s au plus", hi, unit);
	if (lo > 1)
		return talloc_asprintf(ctx, "%u %s au moins", lo, unit);
	return talloc_strdup(ctx, unit);
}

char *flow_graph_expect(void *ctx, const struct flow_step *st)
{
	struct sbuf b = { NULL, FLOW_GRAPH_LABEL_MAX, false };
	unsigned i;

	switch (st->expect) {
	case EXPECT_DIGITS:
		return range(ctx, st->min_len, st->max_len, "chiffres");
	case EXPECT_TEXT:
		return range(ctx, st->min_len, st->max_len, "caract\u00e8res");
	case EXPECT_SECRET: {
		char *r = range(ctx, st->min_len, st->max_len, "caract\u00e8res");

		return talloc_asprintf(ctx, "secret : %s", r ? r : "");
	}
	case EXPECT_PATTERN:
		return flow_graph_clip(ctx, talloc_asprintf(ctx, "motif %s", st->pattern ?
							    st->pattern : ""), FLOW_GRAPH_LABEL_MAX);
	case EXPECT_DATE:
		return talloc_strdup(ctx, "une date JJ/MM/AAAA");
	case EXPECT_MONTH:
		return talloc_strdup(ctx, "un mois MM/AAAA");
	case EXPECT_YESNO:
		return talloc_strdup(ctx, "oui ou non");
	case EXPECT_CHOICE:
		b.s = talloc_strdup(ctx, "");
		for (i = 0; i < st->n_choices; i++) {
			if (i)
				sb_add(&b, ", ");
			sb_add(&b, st->choices[i]);
		}
		return b.s;
	}
	return talloc_strdup(ctx, "");
}

/* ---- building -------------------------------------------------------------------------------- */

static const char *const kind_names[] = {
	[STEP_MENU] = "menu", [STEP_ASK] = "question", [STEP_CALL] = "appel",
	[STEP_BRANCH] = "aiguillage", [STEP_SAY] = "message",
};

struct build {
	struct flow_graph *g;
	const struct render_opts *o;
	unsigned cap_edges;
	int end_tries, end_backend;	/* node index of each common end, -1 until needed */
	bool failed;
};

static bool valid_idx(const struct flow *f, int idx)
{
	return idx >= 0 && (unsigned)idx < f->n_steps;
}

static struct flow_graph_edge *add_edge(struct build *b, unsigned from, int to,
					enum flow_graph_edge_kind kind, const char *label)
{
	struct flow_graph *g = b->g;
	struct flow_graph_edge *e;

	if (to < 0 || b->failed)
		return NULL;
	if (g->n_edges == b->cap_edges) {
		unsigned cap = b->cap_edges ? b->cap_edges * 2 : 64;
		struct flow_graph_edge *ne = talloc_realloc(g, g->edges, struct flow_graph_edge, cap);

		if (!ne) {
			b->failed = true;
			return NULL;
		}
		g->edges = ne;
		b->cap_edges = cap;
	}
	e = &g->edges[g->n_edges++];
	e->from = from;
	e->to = (unsigned)to;
	e->kind = kind;
	e->label = label ? flow_graph_clip(g, label, FLOW_GRAPH_LABEL_MAX) : "";
	e->error = kind == FGE_ON_FAIL || kind == FGE_ON_ERROR;
	e->implicit = false;
	if (!e->label)
		b->failed = true;
	return e;
}

/* The node of a common end, made the first time a step needs it. */
static int common_end(struct build *b, enum flow_graph_node_kind kind)
{
	struct flow_graph *g = b->g;
	int *slot = kind == FG_END_TRIES ? &b->end_tries : &b->end_backend;
	const struct flow_text *t = kind == FG_END_TRIES ? &g->fs->msg.too_many_tries
							 : &g->fs->msg.backend_error;
	struct flow_graph_node *n;

	if (*slot >= 0)
		return *slot;
	n = &g->nodes[g->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->id = kind == FG_END_TRIES ? "#essais" : "#erreur";
	n->title = kind == FG_END_TRIES ? "trop d'essais" : "service en panne";
	n->step = -1;
	n->kind_name = "fin";
	n->detail = kind == FG_END_TRIES ? "message commun too_many_tries, puis fin"
					 : "message commun backend_error, puis fin";
	n->end = true;
	flow_graph_text_measure(g, fr(t, false), fr(t, true), b->o, &n->text);
	*slot = (int)g->n_nodes++;
	return *slot;
}

/* A menu's options, one way per target: options leading to the same step share an arrow
 * whose label lists them, one per line, in their order. */
static void option_edges(struct build *b, unsigned from, const struct flow_step *st)
{
	const struct flow *f = b->g->flow;
	unsigned first = b->g->n_edges, i, k;

	for (i = 0; i < st->n_options; i++) {
		const struct flow_option *op = &st->options[i];
		int to = op->next ? op->next_idx : st->next_idx;
		const char *l = fr(&op->label, false);
		char *line = flow_graph_clip(b->g, talloc_asprintf(b->g, "%u %s", i + 1, l ? l : ""),
				  FLOW_GRAPH_LABEL_MAX);
		struct flow_graph_edge *e = NULL;

		if (!valid_idx(f, to) || !line)
			continue;
		for (k = first; k < b->g->n_edges; k++)
			if (b->g->edges[k].to == (unsigned)to) {
				e = &b->g->edges[k];
				break;
			}
		if (e) {
			char *l2 = talloc_asprintf(b->g, "%s\n%s", e->label, line);

			if (l2)
				e->label = l2;
		} else
			add_edge(b, from, to, FGE_OPTION, line);
	}
}

static void fail_edge(struct build *b, unsigned from, const struct flow_step *st)
{
	const struct flow *f = b->g->flow;
	unsigned tries = st->tries ? st->tries : 3;
	char *label = talloc_asprintf(b->g, "%u r\u00e9ponse%s invalide%s", tries,
				      tries > 1 ? "s" : "", tries > 1 ? "s" : "");
	struct flow_graph_edge *e;

	/* Free text with no bound takes any answer: it cannot fail. */
	if (st->kind == STEP_ASK && st->expect == EXPECT_TEXT && st->min_len <= 1 && !st->max_len)
		return;
	if (st->on_fail) {
		if (valid_idx(f, st->on_fail_idx))
			add_edge(b, from, st->on_fail_idx, FGE_ON_FAIL, label);
		return;
	}
	e = add_edge(b, from, common_end(b, FG_END_TRIES), FGE_ON_FAIL, label);
	if (e)
		e->implicit = true;
}

static void step_edges(struct build *b, unsigned i)
{
	const struct flow *f = b->g->flow;
	const struct flow_step *st = &f->steps[i];
	unsigned k;

#define TO(idx) (valid_idx(f, (idx)) ? (idx) : -1)
	switch (st->kind) {
	case STEP_MENU:
		if (st->from_list) {
			add_edge(b, i, TO(st->next_idx), FGE_LIST, "choix dans la liste");
			add_edge(b, i, TO(st->empty_idx), FGE_EMPTY, "liste vide");
		} else {
			option_edges(b, i, st);
		}
		fail_edge(b, i, st);
		break;
	case STEP_ASK:
		add_edge(b, i, TO(st->next_idx), FGE_NEXT,
			 talloc_asprintf(b->g, "r\u00e9ponse : %s", flow_graph_expect(b->g, st)));
		fail_edge(b, i, st);
		break;
	case STEP_CALL: {
		struct flow_graph_edge *e;

		add_edge(b, i, TO(st->next_idx), FGE_NEXT, "r\u00e9ponse du service");
		if (st->on_error) {
			add_edge(b, i, TO(st->on_error_idx), FGE_ON_ERROR, "erreur du service");
		} else if ((e = add_edge(b, i, common_end(b, FG_END_BACKEND), FGE_ON_ERROR,
					 "erreur du service"))) {
			e->implicit = true;
		}
		break;
	}
	case STEP_BRANCH:
		for (k = 0; k < st->n_when; k++)
			add_edge(b, i, TO(st->when[k].next_idx), FGE_WHEN,
				 talloc_asprintf(b->g, "%u : %s", k + 1,
						 flow_graph_condition(b->g, &st->when[k])));
		add_edge(b, i, TO(st->else_idx), FGE_ELSE, "sinon");
		break;
	case STEP_SAY:
		if (!st->end)
			add_edge(b, i, TO(st->next_idx), FGE_NEXT, "");
		break;
	}
#undef TO
}

static char *step_detail(void *ctx, const struct flow_step *st)
{
	struct sbuf b = { talloc_strdup(ctx, ""), FLOW_GRAPH_LABEL_MAX * 4, false };
	unsigned i;

	switch (st->kind) {
	case STEP_ASK:
		sb_add(&b, "attend ");
		sb_add(&b, flow_graph_expect(ctx, st));
		if (st->save) {
			sb_add(&b, " \u2192 ");
			sb_add(&b, st->save);
		}
		if (st->secret || st->expect == EXPECT_SECRET)
			sb_add(&b, " (jamais journalis\u00e9)");
		break;
	case STEP_CALL:
		sb_add(&b, st->op ? st->op : "?");
		sb_add(&b, "(");
		for (i = 0; i < st->n_with; i++) {
			if (i)
				sb_add(&b, ", ");
			sb_add(&b, st->with[i].var);
		}
		sb_add(&b, ")");
		if (st->handoff)	/* what reviewers must see: personal data leaves */
			sb_add(&b, " + num\u00e9ro et conversation (secrets masqu\u00e9s)");
		if (st->save) {
			sb_add(&b, " \u2192 ");
			sb_add(&b, st->save);
		}
		if (st->wait.n)
			sb_add(&b, " ; texte ci-dessus : sur USSD si la r\u00e9ponse tarde, qui "
			       "arrive alors par SMS");
		break;
	case STEP_MENU:
		if (st->from_list) {
			sb_add(&b, "une option par \u00e9l\u00e9ment de ");
			sb_add(&b, st->from_list);
			if (st->empty_idx < 0)
				sb_add(&b, " ; liste vide : fin");
		}
		break;
	case STEP_SAY:
		if (st->end)
			sb_add(&b, "fin de la d\u00e9marche");
		break;
	case STEP_BRANCH:
		sb_add(&b, "le premier cas vrai d\u00e9cide");
		break;
	}
	/* Messages the step sends besides its text, later or at once. */
	if (st->receipt.n)
		sb_add(&b, *b.s ? " ; + re\u00e7u par SMS" : "+ re\u00e7u par SMS");
	if (st->n_remind) {
		char n[48];

		snprintf(n, sizeof(n), "%s+ %u rappel%s par SMS", *b.s ? " ; " : "", st->n_remind,
			 st->n_remind > 1 ? "s" : "");
		sb_add(&b, n);
	}
	if (st->cancel_reminders)
		sb_add(&b, *b.s ? " ; annule les rappels en cours" : "annule les rappels en cours");
	return b.s;
}

static void step_node(struct build *b, unsigned i)
{
	struct flow_graph *g = b->g;
	const struct flow_step *st = &g->flow->steps[i];
	struct flow_graph_node *n = &g->nodes[i];

	n->kind = FG_STEP;
	n->id = n->title = st->name ? st->name : "?";
	n->step = (int)i;
	n->kind_step = st->kind;
	n->kind_name = kind_names[st->kind];
	n->start = (int)i == g->flow->start_idx;
	n->end = (st->kind == STEP_SAY && st->end) ||
		 (st->kind == STEP_MENU && st->from_list && st->empty_idx < 0);
	if (st->kind == STEP_MENU)
		flow_graph_text_measure(g, menu_text(g, st, false), menu_text(g, st, true), b->o,
					&n->text);
	else if (st->kind == STEP_CALL && st->wait.n)
		flow_graph_text_measure(g, fr(&st->wait, false), fr(&st->wait, true), b->o,
					&n->text);
	else if (st->kind != STEP_CALL && st->kind != STEP_BRANCH)
		flow_graph_text_measure(g, fr(&st->text, false), fr(&st->text, true), b->o,
					&n->text);
	n->detail = step_detail(g, st);
}

/* ---- analysis: reachability both ways, in linear time ------------------------------------------ */

/* Forward, over every way (errors too), from the start: seen[]. The edges are grouped by
 * their step, so each step's ways are a contiguous run found by one pass; g->out keeps
 * where each run starts. */
static bool reach_forward(struct flow_graph *g, bool *seen, unsigned *stack)
{
	unsigned nn = g->n_nodes, i, top = 0;
	unsigned *fstart = talloc_zero_array(g, unsigned, nn + 1);

	if (!fstart)
		return false;
	for (i = 0; i < g->n_edges; i++)
		fstart[g->edges[i].from + 1]++;
	for (i = 0; i < nn; i++)
		fstart[i + 1] += fstart[i];
	if (valid_idx(g->flow, g->flow->start_idx)) {
		seen[g->flow->start_idx] = true;
		stack[top++] = (unsigned)g->flow->start_idx;
	}
	while (top) {
		unsigned v = stack[--top], k;

		for (k = fstart[v]; k < fstart[v + 1]; k++) {
			unsigned to = g->edges[k].to;

			if (!seen[to]) {
				seen[to] = true;
				stack[top++] = to;
			}
		}
	}
	g->out = fstart;	/* kept: callers walk a node's ways without a scan */
	return true;
}

/* Backward, over ways that are not errors, from every normal end: ends[], the steps from
 * which an end can be reached. */
static bool reach_backward(struct flow_graph *g, bool *ends, unsigned *stack)
{
	unsigned nn = g->n_nodes, i, top = 0;
	unsigned *rstart = talloc_zero_array(g, unsigned, nn + 1);
	unsigned *radj = talloc_array(g, unsigned, g->n_edges + 1);
	unsigned *fill = talloc_array(g, unsigned, nn + 1);
	bool ok = rstart && radj && fill;

	if (!ok)
		goto out;
	for (i = 0; i < g->n_edges; i++)
		if (!g->edges[i].error)
			rstart[g->edges[i].to + 1]++;
	for (i = 0; i < nn; i++)
		rstart[i + 1] += rstart[i];
	memcpy(fill, rstart, nn * sizeof(*fill));
	for (i = 0; i < g->n_edges; i++)
		if (!g->edges[i].error)
			radj[fill[g->edges[i].to]++] = g->edges[i].from;
	for (i = 0; i < nn; i++) {
		if (g->nodes[i].kind == FG_STEP && g->nodes[i].end) {
			ends[i] = true;
			stack[top++] = i;
		}
	}
	while (top) {
		unsigned v = stack[--top], k;

		for (k = rstart[v]; k < rstart[v + 1]; k++) {
			if (!ends[radj[k]]) {
				ends[radj[k]] = true;
				stack[top++] = radj[k];
			}
		}
	}
out:
	talloc_free(rstart);
	talloc_free(radj);
	talloc_free(fill);
	return ok;
}

/* Each step: unreachable, a dead end (no way on that is not an error), or stuck (reached,
 * but no end reachable from it). */
static bool mark_steps(struct flow_graph *g, const bool *seen, const bool *ends)
{
	unsigned nn = g->n_nodes, i;
	bool *out_ok = talloc_zero_array(g, bool, nn + 1);

	if (!out_ok)
		return false;
	for (i = 0; i < g->n_edges; i++)
		if (!g->edges[i].error)
			out_ok[g->edges[i].from] = true;
	for (i = 0; i < nn; i++) {
		struct flow_graph_node *n = &g->nodes[i];

		if (n->kind != FG_STEP)
			continue;
		n->unreachable = !seen[i];
		n->dead_end = !n->end && !out_ok[i];
		n->stuck = seen[i] && !ends[i] && !n->dead_end;
		g->n_unreachable += n->unreachable;
		g->n_dead_ends += n->dead_end;
		g->n_stuck += n->stuck;
	}
	talloc_free(out_ok);
	return true;
}

static bool analyse(struct flow_graph *g)
{
	unsigned nn = g->n_nodes;
	unsigned *stack = talloc_array(g, unsigned, nn + 1);
	bool *seen = talloc_zero_array(g, bool, nn + 1), *ends = talloc_zero_array(g, bool, nn + 1);
	bool ok = stack && seen && ends && reach_forward(g, seen, stack) &&
		  reach_backward(g, ends, stack) && mark_steps(g, seen, ends);

	talloc_free(stack);
	talloc_free(seen);
	talloc_free(ends);
	return ok;
}

struct flow_graph *flow_graph_build(void *ctx, const struct flow_set *fs, const struct flow *f,
				    const struct render_opts *o)
{
	struct flow_graph *g = talloc_zero(ctx, struct flow_graph);
	struct build b = { .g = g, .o = o, .end_tries = -1, .end_backend = -1 };
	unsigned i;

	if (!g)
		return NULL;
	g->fs = fs;
	g->flow = f;
	/* Two more nodes than steps: the common ends. */
	g->nodes = talloc_zero_array(g, struct flow_graph_node, f->n_steps + 2);
	if (!g->nodes)
		goto fail;
	for (i = 0; i < f->n_steps; i++)
		step_node(&b, i);
	g->n_nodes = f->n_steps;
	for (i = 0; i < f->n_steps && !b.failed; i++)
		step_edges(&b, i);
	if (b.failed || !analyse(g))
		goto fail;
	return g;
fail:
	talloc_free(g);
	return NULL;
}
