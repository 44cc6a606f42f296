/* The flow loader's inside, shared by its files (nothing else includes this; the public
 * surface is flow_set_load() in flow.h):
 *   flow_load.c       documents, flows, common settings, defaults, the set;
 *   flow_load_value.c names, variables, texts, word lists, assignments;
 *   flow_load_step.c  one parser per step kind (menu, ask, call, handoff, branch, say);
 *   flow_load_cond.c  a branch's cases and their conditions.
 *
 * Every function reports what is wrong through ydoc_error() at the node that is wrong and
 * carries on, so that one run shows every problem. Everything is talloc'd under the set. The
 * loader keeps no state between loads: two loads of the same files give equal sets. */
#ifndef GUICHET_FLOW_LOAD_H
#define GUICHET_FLOW_LOAD_H

#include <stdbool.h>

#include "guichet/flow.h"
#include "guichet/ydoc.h"

#define FLOW_LOAD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A key list for ydoc_check_keys(): KEYS("sms", "ussd") expands to the array and its length. */
#define KEYS(...) (const char *const[]){ __VA_ARGS__ }, \
	FLOW_LOAD_ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ }))

/* One load in progress. */
struct flow_loader {
	struct flow_set *fs;
	struct diag *d;
	struct ydoc *y;
	const char *file;	/* current file, talloc'd under fs */
	unsigned cap_flows;
	const char *common_file;	/* file holding `common:`, NULL until seen */
	unsigned common_line, common_col;
};

/* flow_load_value.c */
struct flow_loc flow_load_loc(struct flow_loader *L, const yaml_node_t *n);
char *flow_load_dup(struct flow_loader *L, const char *s);
bool flow_load_is_name(const char *s);
/* A scalar naming a step, copied; *loc set. NULL (reported) when it is not a name. */
const char *flow_load_step_ref(struct flow_loader *L, yaml_node_t *n, struct flow_loc *loc);
/* A scalar naming a variable, copied. writable: the flow stores into it (set, save), so a
 * variable Guichet fills is refused. loc may be NULL. */
const char *flow_load_var_ref(struct flow_loader *L, yaml_node_t *n, bool writable,
			      struct flow_loc *loc);
/* A template string (any scalar), copied. */
const char *flow_load_tmpl(struct flow_loader *L, yaml_node_t *n);
bool flow_load_bool(struct flow_loader *L, yaml_node_t *n, bool *out);
/* A text: "string", { sms, ussd }, or { fr: ..., en: ... }; French first (tr[0]). */
bool flow_load_text(struct flow_loader *L, yaml_node_t *n, struct flow_text *t);
/* A word or a list of words, folded (what: "keyword", "word", "choice" in messages;
 * one_word: a space is an error). locs may be NULL. */
void flow_load_words(struct flow_loader *L, yaml_node_t *n, const char ***out, unsigned *count,
		     struct flow_loc **locs, const char *what, bool one_word);
/* set: { var: "template" } (writable), or with: { arg: "template" } (argument names). */
void flow_load_assigns(struct flow_loader *L, yaml_node_t *n, struct flow_assign **out,
		       unsigned *count, bool writable);

/* flow_load_step.c: step `name` (key node kn, value n) into *st. */
void flow_load_step(struct flow_loader *L, struct flow_step *st, const char *name,
		    yaml_node_t *kn, yaml_node_t *n);

/* flow_load_cond.c: a branch's `branch:` list (b) into st->when. */
void flow_load_cases(struct flow_loader *L, struct flow_step *st, yaml_node_t *b);

#endif
