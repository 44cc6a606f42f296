/* The shape of one flow, for people who will never read its YAML: a graph of its steps (each
 * with its text as the phone shows it) and of the ways from one step to the next (each
 * labelled with the answer or condition that takes it), written out as Graphviz DOT.
 *
 * Pure: no I/O but the FILE the DOT goes to. Building is linear in the size of the flow, and
 * every text or label kept is bounded, so a huge flow gives a big graph, never a slow one.
 * The DOT is deterministic: the same flow gives the same bytes (steps in the order written,
 * ways in a fixed order, nothing from the clock or from addresses), so drawings can be
 * committed and diffed. Labels are in French, the flows' language. */
#ifndef GUICHET_FLOW_GRAPH_H
#define GUICHET_FLOW_GRAPH_H

#include <stdbool.h>
#include <stdio.h>
#include "guichet/flow.h"
#include "guichet/render.h"
#include "guichet/text.h"

/* Most bytes of a text kept in a box, and of a label kept on an arrow; longer ones end in
 * "…" (their sizes are measured on the whole text). */
#define FLOW_GRAPH_TEXT_MAX	480
#define FLOW_GRAPH_LABEL_MAX	60

/* A text as the phone shows it: folded to GSM-7 when the channel folds, its encoding and
 * cost on each channel. A template's variables are measured as written ({{name}}). */
struct flow_graph_text {
	const char *sms;		/* NULL when the step says nothing itself */
	const char *ussd;		/* the USSD wording (the `ussd:` version, else sms) */
	struct text_measure sms_m;	/* coding and parts of sms */
	struct text_measure ussd_m;
	unsigned ussd_room;		/* units one USSD screen holds in ussd_m's coding */
	bool ussd_fits;			/* ussd fits one screen */
	bool vars;			/* holds {{...}}: the real size depends on the values */
};

/* Measures a template as the phone would show it; ussd may be NULL (then sms is used). Strings
 * in t are talloc'd under ctx and not truncated. */
void flow_graph_text_measure(void *ctx, const char *sms, const char *ussd,
			     const struct render_opts *o, struct flow_graph_text *t);

enum flow_graph_node_kind {
	FG_STEP,		/* a step of the flow */
	FG_END_TRIES,		/* the common `too_many_tries` message, then the end */
	FG_END_BACKEND,		/* the common `backend_error` message, then the end */
};

struct flow_graph_node {
	enum flow_graph_node_kind kind;
	const char *id;		/* DOT id: the step name, or "#essais" / "#erreur" */
	const char *title;	/* the step name, or what the common end is about */
	int step;		/* index into flow->steps, -1 for a common end */
	enum flow_step_kind kind_step;	/* the step's kind (FG_STEP only) */
	const char *kind_name;	/* "menu", "question", "appel", "aiguillage", "message", "fin" */
	struct flow_graph_text text;	/* French; a menu with its numbered options */
	const char *detail;	/* bounded: the expected answer, the operation called, ... */
	bool start;		/* the flow's first step */
	bool end;		/* the procedure can end here normally (a final say, an empty list) */
	bool unreachable;	/* no way from the start leads here */
	bool dead_end;		/* no way out but errors, and not an end */
	bool stuck;		/* reachable, but no end can be reached from here except by an error */
};

enum flow_graph_edge_kind {
	FGE_NEXT,		/* next: after a say, a valid answer, a call's answer */
	FGE_OPTION,		/* a menu option: label "N text" */
	FGE_LIST,		/* an option of options_from */
	FGE_EMPTY,		/* options_from's list is empty: empty_next */
	FGE_WHEN,		/* a branch case: label the condition */
	FGE_ELSE,		/* a branch's else */
	FGE_ON_FAIL,		/* too many wrong answers */
	FGE_ON_ERROR,		/* the back-end failed or did not answer */
};

struct flow_graph_edge {
	unsigned from, to;	/* node indices */
	enum flow_graph_edge_kind kind;
	const char *label;	/* bounded; "" when the way needs no words */
	bool error;		/* on_fail / on_error: the way taken when something went wrong */
	bool implicit;		/* not written: the default on_fail / on_error (a common end) */
};

struct flow_graph {
	const struct flow_set *fs;
	const struct flow *flow;
	unsigned n_nodes, n_edges;
	struct flow_graph_node *nodes;	/* steps first, in the order written, then common ends */
	struct flow_graph_edge *edges;	/* grouped by their step, in a fixed order */
	unsigned *out;		/* node i's ways are edges[out[i]] to edges[out[i + 1] - 1] */
	unsigned n_unreachable, n_dead_ends, n_stuck;
};

/* Builds the graph of flow f (one of fs's flows) under ctx, with the channel settings o
 * (folding, USSD screen). Works on any flow, even one the checker would refuse: unresolved
 * names are simply no way. Returns NULL when memory runs out. */
struct flow_graph *flow_graph_build(void *ctx, const struct flow_set *fs, const struct flow *f,
				    const struct render_opts *o);

/* Writes g as a Graphviz digraph: boxes by kind, error ways dashed red, the common words of
 * fs as a legend, unreachable steps, dead ends and steps with no end highlighted. Returns 0,
 * or -1 on a write error. */
int flow_graph_write_dot(const struct flow_graph *g, FILE *out);

/* A branch condition in words ("ressources < 650 et situation = chomage"), under ctx,
 * bounded by FLOW_GRAPH_LABEL_MAX. */
/* s cut to at most max bytes on a character boundary, with "…" when cut; talloc'd. */
char *flow_graph_clip(void *ctx, const char *s, size_t max);
char *flow_graph_condition(void *ctx, const struct flow_when *w);

/* What an ask expects, in words ("7 à 13 chiffres", "oui ou non", "une date"). */
char *flow_graph_expect(void *ctx, const struct flow_step *st);

#endif
