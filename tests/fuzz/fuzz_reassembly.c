/* Fuzz target: SMS reassembly (sms_parts, the one module both transports use) as a sequence
 * of parts in any order, repeated, from several senders, with time passing. Checks that
 * nothing is lost or duplicated: every part taken in comes out exactly once (its handle: a
 * SIM location, a deliver_sm token), that no more than the bound ever wait for parts, and
 * that everything is out once the expiry has run.
 *
 * Input: records of 6 bytes + text: [flags][ref hi][ref lo][total][seq][len] text[len].
 * flags: bits 0-1 sender, bit 2 16-bit ref, bit 3 raw UDH (the text starts with a UDH parsed
 * by sms_udh_parse instead of the header's ref/total/seq), bits 4-7 seconds passing before
 * the part; bit 4 also: take now (the daemon's tick). ref lo also picks the alphabet. */
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/sms_parts.h"

#define TIMEOUT_MS 30000
#define MAX_GROUPS 4
#define MAX_PARTS 512

static const char *const senders[] = { "+33612345678", "+33700000001", "0612", "" };

struct tally {
	uint8_t in[MAX_PARTS], out[MAX_PARTS];
};

static void take(struct sms_parts *r, void *ctx, int64_t now_ms, struct tally *t)
{
	struct sms_parts_msg *out[8];
	unsigned n;

	while ((n = sms_parts_take(r, ctx, now_ms, out, 8)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct sms_parts_msg *m = out[i];
			FUZZ_ASSERT(m->text && m->from);
			FUZZ_ASSERT(m->have >= 1 && m->have <= m->total && m->n_handles >= m->have);
			for (unsigned k = 0; k < m->n_handles; k++) {
				uint64_t h = m->handles[k];
				FUZZ_ASSERT(h < MAX_PARTS && t->in[h] && !t->out[h]);
				t->out[h] = 1;
			}
			talloc_free(m);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_reassembly");
	struct sms_parts *r = sms_parts_alloc(ctx, TIMEOUT_MS, MAX_GROUPS);
	struct tally *t = talloc_zero(ctx, struct tally);
	int64_t now_ms = 1000000;
	size_t off = 0;
	unsigned n = 0;

	while (off + 6 <= size && n < MAX_PARTS) {
		const uint8_t *h = data + off;
		size_t len = h[5];
		if (off + 6 + len > size)
			len = size - off - 6;
		const uint8_t *txt = h + 6;
		off += 6 + len;
		now_ms += (h[0] >> 4) * 1000;

		struct sms_part_in p = {
			.from = senders[h[0] & 3], .alphabet = (enum sms_alphabet)(h[2] % 3),
			.data = txt, .len = len, .handle = n, .received = now_ms / 1000,
			.cc = { .present = true, .ref = h[0] & 4 ? (uint16_t)(h[1] << 8 | h[2]) : h[2],
				.ref16 = h[0] & 4, .total = h[3], .seq = h[4] },
		};
		if (h[0] & 8) {
			size_t hl = sms_udh_parse(txt, len, &p.cc);
			FUZZ_ASSERT(hl <= len);
			FUZZ_ASSERT(!p.cc.present || (p.cc.seq >= 1 && p.cc.seq <= p.cc.total));
			p.data += hl;
			p.len -= hl;
		}
		/* A handle seen twice (h[1] bit 7: reuse the previous one) is ignored. */
		if ((h[1] & 0x80) && n > 0 && t->in[n - 1] && !t->out[n - 1]) {
			p.handle = n - 1;
			FUZZ_ASSERT(sms_parts_add(r, &p, now_ms) == 1);
		} else {
			FUZZ_ASSERT(sms_parts_add(r, &p, now_ms) == 0);
			t->in[n] = 1;
		}
		FUZZ_ASSERT(sms_parts_waiting(r) <= MAX_GROUPS);
		if (h[0] & 0x10)
			take(r, ctx, now_ms, t);
		n++;
	}
	/* Long after the last part, everything has come out, each part once. */
	now_ms += TIMEOUT_MS;
	take(r, ctx, now_ms, t);
	FUZZ_ASSERT(sms_parts_pending(r) == 0 && sms_parts_next_deadline(r) == -1);
	FUZZ_ASSERT(!memcmp(t->in, t->out, sizeof(t->in)));
	talloc_free(ctx);
	return 0;
}
