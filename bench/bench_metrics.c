/* What one GET /metrics costs guichetd's loop: metrics_render over 200 groups of 8 counters
 * (a large installation: modems, binds and back-ends together), the time being this thread's
 * CPU time. The text grows by doubling and is appended to in runs, so the cost is linear in
 * its length.
 *
 * Prints "figure metrics_render_us: N" (per render) and the text's size. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/metrics.h"

#define GROUPS 200
#define RENDERS 200

static const struct rate_ctr_desc ctr[] = {
	{ "received", "Messages read" }, { "parts_in", "Parts read" },
	{ "sent", "Messages sent" }, { "parts_out", "Parts sent" },
	{ "failures", "Send failures" }, { "resets", "Resets" },
	{ "incomplete", "Released with parts missing" }, { "status_reports", "Status reports" },
};
static const struct rate_ctr_group_desc ctrg = {
	.group_name_prefix = "benchmodem", .group_description = "bench",
	.num_ctr = 8, .ctr_desc = ctr,
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void)
{
	void *ctx = talloc_named_const(NULL, 0, "bench_metrics");
	char name[32];
	size_t len = 0;
	double t0;

	/* libosmocore logs each group it validates: not the subject here. */
	freopen("/dev/null", "w", stderr);
	for (unsigned i = 0; i < GROUPS; i++) {
		snprintf(name, sizeof(name), "modem%03u", i);
		if (!metrics_ctr_group(ctx, &ctrg, name))
			return 1;
	}
	t0 = now_ns();
	for (unsigned k = 0; k < RENDERS; k++) {
		char *text = metrics_render(ctx);

		if (!text)
			return 1;
		len = strlen(text);
		talloc_free(text);
	}
	printf("figure metrics_render_us: %.0f\n", (now_ns() - t0) / RENDERS / 1000);
	printf("  %u groups x %u counters: %zu bytes of text\n", GROUPS, ctrg.num_ctr, len);
	talloc_free(ctx);
	return 0;
}
