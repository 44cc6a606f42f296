/* Flow loading time: one flow of 20,000 chained steps (ask -> ask -> ... -> say), loaded and
 * checked as `guichet check` and a reload do.
 *
 *   bench_flow_load
 *
 * Prints `figure flow_load_20k_steps_ms: N` (the best of 5 loads). */
#include <stdio.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void)
{
	const unsigned n = 20000;
	void *ctx = talloc_named_const(NULL, 0, "bench_flow_load");
	char *y = talloc_strdup(ctx, "flow: grand\ntitle: Grand\nentry: { sms: GRAND }\nsteps:\n");
	double best = 1e12;

	for (unsigned i = 0; y && i + 1 < n; i++)
		y = talloc_asprintf_append_buffer(y, "  q%u: { ask: \"Q%u ?\", save: r, next: q%u }\n",
						  i, i, i + 1);
	if (y)
		y = talloc_asprintf_append_buffer(y, "  q%u: { say: Fin., end: true }\n", n - 1);
	if (!y)
		return 1;
	for (int round = 0; round < 5; round++) {
		struct diag *d = diag_alloc(ctx);
		double t0 = now_ms();
		struct flow_set *fs = flow_set_load_string(ctx, "grand.yaml", y, NULL, d);
		double t = now_ms() - t0;

		if (!fs || fs->flows[0].n_steps != n) {
			diag_print(d, stderr);
			return 1;
		}
		if (t < best)
			best = t;
		talloc_free(fs);
		talloc_free(d);
	}
	printf("figure flow_load_20k_steps_ms: %.0f\n", best);
	talloc_free(ctx);
	return 0;
}
