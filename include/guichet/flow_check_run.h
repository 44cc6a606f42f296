/* Inside the static checker (flow_check.c, flow_check_vars.c, flow_check_screen.c,
 * flow_check_keypad.c); the public surface is flow_check() in flow.h. */
#ifndef GUICHET_FLOW_CHECK_RUN_H
#define GUICHET_FLOW_CHECK_RUN_H

#include <stdbool.h>

#include "guichet/flow.h"

/* One check of a set. */
struct ck {
	void *tmp;			/* scratch talloc context, freed at the end */
	const struct flow_set *fs;
	const struct flow_env *env;
	struct diag *d;
	unsigned errors;
	unsigned ussd_screen;
	unsigned sms_parts;
};

/* An error at l (NULL: no location), counted. */
void flow_check_err(struct ck *c, const struct flow_loc *l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Successors of a step, each with what the edge itself defines (see the variables' dataflow in
 * flow_check_vars.c). */
enum edge_gen { GEN_NONE, GEN_OPTION, GEN_FROM, GEN_SAVE };

struct edge {
	int to;
	enum edge_gen gen;
	unsigned option;	/* GEN_OPTION: index into options */
};

/* Fills e with at most max successors of st; returns how many. */
unsigned flow_check_step_edges(const struct flow_step *st, struct edge *e, unsigned max);
/* Room enough for every successor of st. */
unsigned flow_check_max_edges(const struct flow_step *st);

/* flow_check_vars.c: variables set before use and template syntax, in flow f (reach: which
 * steps can be reached from the start). */
void flow_check_vars(struct ck *c, const struct flow *f, const bool *reach);
/* ... and in the common messages. */
void flow_check_common(struct ck *c);

/* flow_check_screen.c */
void flow_check_ussd(struct ck *c, const struct flow *f);	/* USSD text sizes of f */
void flow_check_screens(struct ck *c);		/* every screen of the set, as shown */
void flow_check_sends(struct ck *c, const struct flow *f);	/* reminders and receipts */
/* Where a text of t in lang was written (its ussd: version on USSD), else fallback. */
const struct flow_loc *flow_check_text_loc(const struct flow_text *t, const char *lang, bool ussd,
					    const struct flow_loc *fallback);

/* flow_check_keypad.c: what f asks people to type on USSD. */
void flow_check_keypad(struct ck *c, const struct flow *f);
/* A text shown on USSD (what: how to name it; fb: where, when t has no location) that asks to
 * type a word a keypad cannot type. */
void flow_check_keypad_text(struct ck *c, const struct flow_text *t, const struct flow_loc *fb,
			    const char *what);

#endif
