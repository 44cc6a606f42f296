/* SMS reassembly (sms_parts.c) under a flood: first parts of 255-part messages with distinct
 * references, as an SMSC or a modem would hand them in, the transport taking what the bound
 * pushes out after each part (as smpp.c does). Before the handle table, finding whether a
 * handle was held scanned every slot of every message: 20,000 such parts cost ~17 s of CPU
 * on the loop. Also the ordinary case: two-part messages completed at once.
 * CPU time of this thread, so that a busy machine does not count against it.
 *
 * Prints "figure sms_parts_flood_us_per_part: N", "figure sms_parts_flood_kb_held: N" (the memory
 * the bound lets a flood hold) and "figure sms_parts_pair_us_per_msg: N". */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/sms_parts.h"

#define FLOOD 20000
#define PAIRS 200000

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void drain(struct sms_parts *r, void *ctx)
{
	struct sms_parts_msg *out[64];
	unsigned n;
	while ((n = sms_parts_take(r, ctx, 1000, out, 64)) > 0)
		for (unsigned k = 0; k < n; k++)
			talloc_free(out[k]);
}

int main(void)
{
	void *ctx = talloc_named_const(NULL, 0, "bench_sms_parts");
	struct sms_parts *r = sms_parts_alloc(ctx, 60000, 1024);
	static const uint8_t text[] = "Bonjour, voici la premiere partie d'un long message";
	struct sms_part_in p = { .from = "+33612345678", .alphabet = SMS_GSM7, .data = text,
				 .len = sizeof(text) - 1 };

	double t0 = now_us();
	for (unsigned i = 0; i < FLOOD; i++) {
		p.handle = i;
		p.cc = (struct sms_concat){ .present = true, .ref = (uint16_t)i, .ref16 = true,
					    .total = 255, .seq = 1 };
		sms_parts_add(r, &p, 1000);
		drain(r, ctx);
	}
	double flood = (now_us() - t0) / FLOOD;
	size_t held = talloc_total_size(r);	/* 1,024 messages waiting for 254 parts each */
	sms_parts_clear(r);

	t0 = now_us();
	for (unsigned i = 0; i < PAIRS; i++) {
		for (unsigned seq = 1; seq <= 2; seq++) {
			p.handle = (uint64_t)i * 2 + seq;
			p.cc = (struct sms_concat){ .present = true, .ref = (uint16_t)i, .total = 2,
						    .seq = (uint8_t)seq };
			sms_parts_add(r, &p, 1000);
		}
		drain(r, ctx);
	}
	double pair = (now_us() - t0) / PAIRS;
	printf("figure sms_parts_flood_us_per_part: %.1f\n", flood);
	printf("figure sms_parts_flood_kb_held: %zu\n", held / 1024);
	printf("figure sms_parts_pair_us_per_msg: %.2f\n", pair);
	talloc_free(ctx);
	return 0;
}
