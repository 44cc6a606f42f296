/* Counters per procedure, for the administrator who asks "is anyone using RDV, and how many
 * finish it?": one rate_ctr group per flow name (prefix "flow", the label name="<flow>"),
 * created the first time that flow runs and kept across reloads (a count belongs to the
 * procedure, not to one version of its file). Served with the others on /metrics and by
 * `guichet status` (metrics.h).
 *
 * Counted when the engine steps, inside the transaction that stores the step: a step whose
 * transaction fails and is run again counts twice, like the other step counters. */
#ifndef GUICHET_FLOW_STATS_H
#define GUICHET_FLOW_STATS_H

#include "guichet/engine.h"

enum flow_ctr {
	FLOW_CTR_STARTED,	/* the procedure began */
	FLOW_CTR_STEPS,		/* events handled inside it: answers, call outcomes, timers */
	FLOW_CTR_COMPLETED,	/* reached an end step */
	FLOW_CTR_STOPPED,	/* the person sent STOP */
	FLOW_CTR_EXPIRED,	/* left unanswered past its timeout */
	FLOW_CTR_FAILED,	/* too many tries, or a back-end failure with no on_error */
	_FLOW_CTR_N
};

struct flow_stats;

/* An empty table, a talloc child of ctx; NULL when memory runs out. */
struct flow_stats *flow_stats_alloc(void *ctx);

/* Counts one engine step: before_flow is the session's flow before it ("" when none), out
 * what engine_step said. fs may be NULL (nothing counted). */
void flow_stats_count(struct flow_stats *fs, const char *before_flow, const struct engine_out *out);

#endif
