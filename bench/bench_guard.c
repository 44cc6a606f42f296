/* The cost guard's cost per message: what the router adds to each inbound SMS and its reply
 * (guard_sms_in + guard_reply, the default limits and a spend cap), with numbers drawn from
 * more people than the table holds (so entries are evicted as in an attack from many
 * numbers), and with one number bursting (limited). Goal (issue 11): under 2 µs. The time
 * is this thread's CPU time, so that a busy machine does not count against the guard.
 *
 * Prints "figure guard_ns_per_msg: N" (the mixed workload) and the parts of it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"

#define MESSAGES 2000000
#define PEOPLE 200000		/* more than max_numbers below: eviction on every miss */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char (*numbers)[16];

/* Runs n messages: person i % people (or always the first when burst) writes, the guard is
 * asked, and a reply is counted when the engine would have run. ns per message. */
static double run(struct guard *g, unsigned n, unsigned people, bool burst, unsigned *replied)
{
	static const char *const texts[] = { "RDV", "1", "Bonjour je voudrais un rendez-vous",
					     "2", "DROITS", "Martin" };
	int64_t t = 1800000000;
	unsigned ok = 0;
	double t0 = now_ns();

	for (unsigned i = 0; i < n; i++) {
		const char *from = numbers[burst ? 0 : (i * 2654435761u) % people];
		if (i % 4096 == 0)
			t++;	/* the clock moves on during the run */
		struct guard_decision d = guard_sms_in(g, from, texts[i % 6], t);
		if (d.verdict == GUARD_PROCESS &&
		    guard_reply(g, "m1", from, 1, i & 1, t, NULL) == GUARD_OK)
			ok++;
	}
	double ns = (now_ns() - t0) / n;
	if (replied)
		*replied = ok;
	return ns;
}

int main(void)
{
	void *ctx = talloc_named_const(NULL, 0, "bench_guard");
	struct guard_config c;
	unsigned replied;

	numbers = talloc_size(ctx, PEOPLE * sizeof(numbers[0]));
	for (unsigned i = 0; i < PEOPLE; i++)
		snprintf(numbers[i], sizeof(numbers[i]), "+336%08u", i * 7919u % 100000000u);
	guard_config_defaults(&c);
	c.daily_parts = 1000000;

	struct guard *g = guard_create(ctx, &c);
	run(g, MESSAGES / 10, PEOPLE, false, NULL);	/* warm up */
	double mixed = run(g, MESSAGES, PEOPLE, false, &replied);
	talloc_free(g);

	g = guard_create(ctx, &c);
	double few = run(g, MESSAGES, 1000, false, NULL);
	talloc_free(g);

	g = guard_create(ctx, &c);
	double burst = run(g, MESSAGES, 1, true, NULL);
	talloc_free(g);

	printf("guard: %u messages, %u people, table %u numbers: %.0f ns/message (%u replies "
	       "allowed)\n", MESSAGES, PEOPLE, c.max_numbers, mixed, replied);
	printf("guard: 1,000 people (no eviction): %.0f ns/message\n", few);
	printf("guard: one number bursting (limited): %.0f ns/message\n", burst);
	printf("figure guard_ns_per_msg: %.0f\n", mixed > few ? mixed : few);
	talloc_free(ctx);
	return 0;
}
