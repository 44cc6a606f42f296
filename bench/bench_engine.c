/* Engine steps per second on one core, and bytes per stored session, on the sample flows.
 *
 *   bench_engine FLOWS_DIR [DIALOGUES]
 *
 * DIALOGUES: run exactly that many dialogues instead of 2 s, for an instruction count that
 * repeats (valgrind --tool=callgrind build/bench/bench_engine flows 2000: engine_step's
 * inclusive count / the steps printed).
 *
 * Runs the rendez-vous dialogue (menu, question, call result, list menu, confirmation,
 * second call, end) again and again through engine_step alone: no store, no I/O.
 *
 * The rate is also given for the fastest quarter-second slice: on a machine shared with
 * other work the whole-run average says more about the neighbours than about one core. And
 * per second of the process's CPU time: what one core does when it runs the engine, whatever
 * share of the machine the neighbours leave it (figure engine_steps_per_cpu_s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine.h"
#include "guichet/remind.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
	/* As guichetd runs (see there): reminders in the notify section's zone, Europe/Paris
	 * by default, read from its file once. */
	remind_use_zone("Europe/Paris");
	void *ctx = talloc_named_const(NULL, 0, "bench_engine");
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load(ctx, argc > 1 ? argv[1] : "flows", NULL, d);
	if (!fs) {
		diag_print(d, stderr);
		return 1;
	}
	struct engine_channel ch = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3), .fold = true };
	struct vars slots, booking;
	vars_init(&slots, ctx);
	vars_init(&booking, ctx);
	vars_set(&slots, "count", "4", false);
	const char *labels[] = { "lun. 7 déc. 9h30", "lun. 7 déc. 11h", "mar. 8 déc. 14h", "mer. 9 déc. 10h15" };
	for (int i = 0; i < 4; i++) {
		char k[32], v[16];
		snprintf(k, sizeof(k), "%d.id", i);
		snprintf(v, sizeof(v), "S%d", i + 1);
		vars_set(&slots, k, v, false);
		snprintf(k, sizeof(k), "%d.label", i);
		vars_set(&slots, k, labels[i], false);
	}
	vars_set(&booking, "reference", "RDV-4821", false);

	const char *inputs[] = { "RDV", "1", "1234567", NULL /* slots */, "2", "oui", NULL /* book */ };
	const unsigned n_inputs = sizeof(inputs) / sizeof(inputs[0]);
	unsigned long steps = 0;
	size_t stored_max = 0, stored_sum = 0, stored_n = 0;
	double t0 = now_s(), elapsed, slice_t0 = t0, best = 0;
	double cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	unsigned long slice_steps = 0;
	unsigned rounds = 0, limit = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
	do {
		for (unsigned k = 0; k < 200 && (!limit || rounds < limit); k++, rounds++) {
			void *tmp = talloc_new(ctx);
			struct session s;
			struct engine_out out;
			session_init(&s, tmp, "sms:+33612345678", CHANNEL_SMS, "+33612345678");
			for (unsigned i = 0; i < n_inputs; i++) {
				struct engine_input in = { .now = 1800000000, .channel = &ch };
				if (inputs[i]) {
					in.kind = EV_TEXT;
					in.text = inputs[i];
				} else {
					in.kind = EV_RESULT;
					in.call_id = s.call_id;
					in.result = i == 3 ? &slots : &booking;
				}
				engine_step(tmp, fs, &s, &in, &out);
				steps++;
				if (rounds == 0) {
					size_t len;
					session_encode(tmp, &s, &len);
					stored_sum += len;
					stored_n++;
					if (len > stored_max)
						stored_max = len;
				}
			}
			talloc_free(tmp);
		}
		double t = now_s();
		elapsed = t - t0;
		if (t - slice_t0 >= 0.25) {
			double rate = (steps - slice_steps) / (t - slice_t0);
			if (rate > best)
				best = rate;
			slice_t0 = t;
			slice_steps = steps;
		}
	} while (limit ? rounds < limit : elapsed < 2.0);

	double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	printf("engine: %.0f steps/s on one core (%lu steps of the rendez-vous dialogue in %.2f s)\n",
	       steps / elapsed, steps, elapsed);
	printf("engine: %.0f steps per second of CPU time (%.2f s of CPU in %.2f s)\n",
	       steps / cpu, cpu, elapsed);
	printf("engine: stored session %zu bytes at most, %zu on average (rendez-vous, 4 slots)\n",
	       stored_max, stored_sum / stored_n);
	printf("figure engine_steps_per_s: %.0f\n", best > 0 ? best : steps / elapsed);
	printf("figure engine_steps_per_cpu_s: %.0f\n", steps / cpu);
	printf("figure session_bytes_max: %zu\n", stored_max);
	talloc_free(ctx);
	return 0;
}
