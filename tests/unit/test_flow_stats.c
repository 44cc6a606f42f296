/* Unit tests for flow_stats.c: per-procedure counters as the router feeds them after each
 * engine step, read back the way an operator does (the /metrics text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include <guichet/flow_stats.h>
#include <guichet/metrics.h>
#include "unit_main.h"

static void *ctx;

/* The value of series NAME{name="FLOW"} in the /metrics text, -1 when absent. */
static long series(const char *name, const char *flow)
{
	char *text = metrics_render(ctx);
	char key[160];
	const char *p;
	long v = -1;

	snprintf(key, sizeof(key), "\n%s{name=\"%s\"} ", name, flow);
	if (text && (p = strstr(text, key)))
		v = strtol(p + strlen(key), NULL, 10);
	talloc_free(text);
	return v;
}

static void test_a_dialogue_counted(void)
{
	struct flow_stats *fs = flow_stats_alloc(ctx);
	struct engine_out start = { .started = true, .flow = "rdv" };
	struct engine_out answer = { .flow = "rdv" };
	struct engine_out end = { .flow = NULL, .outcome = OUTCOME_COMPLETED };

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_EQUAL(series("guichet_flow_started_total", "rdv"), -1);
	flow_stats_count(fs, "", &start);
	flow_stats_count(fs, "rdv", &answer);
	flow_stats_count(fs, "rdv", &answer);
	flow_stats_count(fs, "rdv", &end);
	CU_ASSERT_EQUAL(series("guichet_flow_started_total", "rdv"), 1);
	CU_ASSERT_EQUAL(series("guichet_flow_steps_total", "rdv"), 3);
	CU_ASSERT_EQUAL(series("guichet_flow_completed_total", "rdv"), 1);
	CU_ASSERT_EQUAL(series("guichet_flow_failed_total", "rdv"), 0);
	talloc_free(fs);
	CU_ASSERT_EQUAL(series("guichet_flow_started_total", "rdv"), -1);
}

static void test_endings_go_to_the_right_flow(void)
{
	struct flow_stats *fs = flow_stats_alloc(ctx);
	/* A single-screen procedure: begun and ended by one text. */
	struct engine_out info = { .started = true, .flow = "info", .outcome = OUTCOME_COMPLETED };
	/* STOP inside "rdv": the ending is rdv's, whatever out->flow says after it. */
	struct engine_out stop = { .flow = NULL, .outcome = OUTCOME_STOPPED };
	struct engine_out expire = { .flow = NULL, .outcome = OUTCOME_EXPIRED };
	struct engine_out outside = { .flow = NULL };	/* a text outside any procedure */

	flow_stats_count(fs, "", &info);
	flow_stats_count(fs, "rdv", &stop);
	flow_stats_count(fs, "droits", &expire);
	flow_stats_count(fs, "", &outside);
	flow_stats_count(NULL, "rdv", &stop);	/* no table: nothing, no crash */
	CU_ASSERT_EQUAL(series("guichet_flow_started_total", "info"), 1);
	CU_ASSERT_EQUAL(series("guichet_flow_completed_total", "info"), 1);
	CU_ASSERT_EQUAL(series("guichet_flow_steps_total", "info"), 0);
	CU_ASSERT_EQUAL(series("guichet_flow_stopped_total", "rdv"), 1);
	CU_ASSERT_EQUAL(series("guichet_flow_started_total", "rdv"), 0);
	CU_ASSERT_EQUAL(series("guichet_flow_expired_total", "droits"), 1);
	talloc_free(fs);
}

static const CU_TestInfo tests[] = {
	{ "a dialogue: started, steps, completed", test_a_dialogue_counted },
	{ "endings counted for the flow they end", test_endings_go_to_the_right_flow },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("flow_stats", tests, &ctx);
}
