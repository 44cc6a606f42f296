/* See include/guichet/flow_stats.h. */
#include <string.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_stats.h"
#include "guichet/metrics.h"

static const struct rate_ctr_desc flow_ctr_desc[] = {
	[FLOW_CTR_STARTED] = { "started", "Procedures begun" },
	[FLOW_CTR_STEPS] = { "steps", "Events handled inside a procedure (answers, call outcomes, timers)" },
	[FLOW_CTR_COMPLETED] = { "completed", "Procedures that reached an end step" },
	[FLOW_CTR_STOPPED] = { "stopped", "Procedures the person stopped (STOP)" },
	[FLOW_CTR_EXPIRED] = { "expired", "Procedures left unanswered past their timeout" },
	[FLOW_CTR_FAILED] = { "failed", "Procedures ended by too many tries or a back-end failure" },
};
static const struct rate_ctr_group_desc flow_ctrg_desc = {
	.group_name_prefix = "flow",
	.group_description = "One procedure (flow), all its versions",
	.num_ctr = _FLOW_CTR_N,
	.ctr_desc = flow_ctr_desc,
};

struct flow_counters {
	struct llist_head list;
	char *name;
	struct rate_ctr_group *ctrs;
};

/* A list, not a hash: a service has tens of procedures, and the one just used is moved to
 * the front. */
struct flow_stats {
	struct llist_head flows;
};

struct flow_stats *flow_stats_alloc(void *ctx)
{
	struct flow_stats *fs = talloc_zero(ctx, struct flow_stats);

	if (fs)
		INIT_LLIST_HEAD(&fs->flows);
	return fs;
}

static struct rate_ctr_group *counters_of(struct flow_stats *fs, const char *flow)
{
	struct flow_counters *fc;

	llist_for_each_entry(fc, &fs->flows, list) {
		if (!strcmp(fc->name, flow)) {
			llist_move(&fc->list, &fs->flows);
			return fc->ctrs;
		}
	}
	fc = talloc_zero(fs, struct flow_counters);
	if (!fc || !(fc->name = talloc_strdup(fc, flow)) ||
	    !(fc->ctrs = metrics_ctr_group(fc, &flow_ctrg_desc, flow))) {
		talloc_free(fc);
		return NULL;
	}
	llist_add(&fc->list, &fs->flows);
	return fc->ctrs;
}

static void count(struct flow_stats *fs, const char *flow, enum flow_ctr which)
{
	struct rate_ctr_group *ctrs;

	if (flow && flow[0] && (ctrs = counters_of(fs, flow)))
		rate_ctr_inc2(ctrs, which);
}

void flow_stats_count(struct flow_stats *fs, const char *before_flow, const struct engine_out *out)
{
	static const enum flow_ctr by_outcome[] = {
		[OUTCOME_COMPLETED] = FLOW_CTR_COMPLETED,
		[OUTCOME_STOPPED] = FLOW_CTR_STOPPED,
		[OUTCOME_EXPIRED] = FLOW_CTR_EXPIRED,
		[OUTCOME_FAILED] = FLOW_CTR_FAILED,
	};
	/* A procedure that ends with the event that began it (a single screen) ends itself;
	 * otherwise the ending belongs to the procedure the person was in. */
	const char *ended = out->started || !before_flow || !before_flow[0] ? out->flow : before_flow;

	if (!fs)
		return;
	if (out->started)
		count(fs, out->flow, FLOW_CTR_STARTED);
	else if (before_flow && before_flow[0])
		count(fs, before_flow, FLOW_CTR_STEPS);
	if (out->outcome != OUTCOME_NONE && out->outcome < sizeof(by_outcome) / sizeof(by_outcome[0]))
		count(fs, ended, by_outcome[out->outcome]);
}
