/* Fuzz target: concatenated SMS reassembly, as a sequence of parts in any order, repeated,
 * from several senders, with time passing: the modem side (sms_reasm) and the SMPP side
 * (smpp_reasm) receive the same parts. Checks that nothing is lost or duplicated: every part
 * taken in comes out exactly once (its SIM location or its deliver_sm token), and that the
 * number of messages waiting stays bounded once the expiry ran.
 *
 * Input: records of 6 bytes + text: [flags][ref hi][ref lo][total][seq][len] text[len].
 * flags: bits 0-1 sender, bit 2 16-bit ref, bit 3 raw UDH (the text starts with a UDH parsed
 * by sms_udh_concat / smpp_udh_parse instead of the header's ref/total/seq), bits 4-7 seconds
 * passing before the part. */
#include <talloc.h>

#include "fuzz.h"
#include "guichet/modem.h"
#include "guichet/smpp.h"

#define TIMEOUT_S 30
#define MAX_GROUPS 4
#define MAX_PARTS 512

static const char *const senders[] = { "+33612345678", "+33700000001", "0612", "" };

struct tally {
	uint8_t modem_in[MAX_PARTS], modem_out[MAX_PARTS];
	uint8_t smpp_in[MAX_PARTS], smpp_out[MAX_PARTS];
};

static void modem_take(struct sms_reasm *r, void *ctx, int64_t now_ms, struct tally *t)
{
	struct sms_msg *out[8];
	unsigned n;

	while ((n = sms_reasm_take(r, ctx, now_ms, out, 8)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			FUZZ_ASSERT(out[i]->text && out[i]->from && out[i]->dedup);
			FUZZ_ASSERT(out[i]->have == out[i]->nloc && out[i]->have <= out[i]->total);
			for (unsigned k = 0; k < out[i]->nloc; k++) {
				int loc = out[i]->locs[k].location;
				FUZZ_ASSERT(loc >= 0 && loc < MAX_PARTS && t->modem_in[loc]);
				FUZZ_ASSERT(!t->modem_out[loc]);
				t->modem_out[loc] = 1;
			}
			talloc_free(out[i]);
		}
	}
}

static void smpp_got(struct smpp_reasm_msg *m, struct tally *t)
{
	if (!m)
		return;
	FUZZ_ASSERT(m->text && m->from);
	for (unsigned k = 0; k < m->n_tokens; k++) {
		uint64_t tok = m->tokens[k];
		FUZZ_ASSERT(tok < MAX_PARTS && t->smpp_in[tok] && !t->smpp_out[tok]);
		t->smpp_out[tok] = 1;
	}
	talloc_free(m);
}

static void smpp_expire(struct smpp_reasm *r, void *ctx, int64_t older_than, struct tally *t)
{
	struct smpp_reasm_msg *m;

	while ((m = smpp_reasm_expire(r, ctx, older_than)))
		smpp_got(m, t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_reassembly");
	struct sms_reasm *mr = sms_reasm_alloc(ctx, TIMEOUT_S, MAX_GROUPS);
	struct smpp_reasm *sr = smpp_reasm_alloc(ctx, MAX_GROUPS);
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

		/* The modem side: a part as the modem thread copies it out of libGammu. */
		struct sms_part p;
		memset(&p, 0, sizeof(p));
		p.loc = (struct sms_loc){ .folder = 1, .location = (int)n };
		snprintf(p.from, sizeof(p.from), "%s", senders[h[0] & 3]);
		p.ref = h[0] & 4 ? (unsigned)h[1] << 8 | h[2] : h[2];
		p.total = h[3];
		p.seq = h[4];
		if (h[0] & 8) {
			unsigned ref, total, seq;
			if (sms_udh_concat(txt, len, &ref, &total, &seq)) {
				p.ref = ref;
				p.total = total;
				p.seq = seq;
			}
		}
		sms_part_set_8bit(&p, txt, len);
		int rc = sms_reasm_add(mr, &p, now_ms, now_ms / 1000);
		FUZZ_ASSERT(rc == 0 || rc == 1);
		if (rc == 0)
			t->modem_in[n] = 1;
		modem_take(mr, ctx, now_ms, t);
		FUZZ_ASSERT(sms_reasm_pending(mr) <= MAX_GROUPS);

		/* The SMPP side: the same part as on_deliver_sm hands it over. */
		/* Like sar_* TLVs, checked as on_deliver_sm checks them. */
		struct smpp_concat cc = { .present = h[3] >= 1 && h[4] >= 1 && h[4] <= h[3],
					  .ref = (uint16_t)p.ref, .ref16 = h[0] & 4,
					  .total = h[3], .seq = h[4] };
		const uint8_t *ud = txt;
		size_t udl = len;
		if (h[0] & 8) {
			memset(&cc, 0, sizeof(cc));
			int hl = smpp_udh_parse(txt, len, &cc);
			if (hl < 0)
				goto next;
			FUZZ_ASSERT((size_t)hl <= len);
			ud += hl;
			udl -= (size_t)hl;
		}
		char *text = smpp_decode_text(ctx, h[1], ud, udl);
		FUZZ_ASSERT(text);
		if (cc.present && cc.total > 1) {
			t->smpp_in[n] = 1;
			smpp_got(smpp_reasm_add(sr, ctx, p.from, &cc, text, n, now_ms), t);
			/* The daemon's tick: what started before the timeout goes out. */
			if (h[0] & 0x10)
				smpp_expire(sr, ctx, now_ms - TIMEOUT_S * 1000, t);
		}
		talloc_free(text);
next:
		n++;
	}
	smpp_expire(sr, ctx, now_ms - TIMEOUT_S * 1000, t);
	FUZZ_ASSERT(smpp_reasm_pending(sr) <= MAX_GROUPS);

	/* Long after the last part, everything has come out, each part once. */
	now_ms += (TIMEOUT_S + 1) * 1000;
	modem_take(mr, ctx, now_ms, t);
	smpp_expire(sr, ctx, now_ms - TIMEOUT_S * 1000, t);
	FUZZ_ASSERT(sms_reasm_pending(mr) == 0 && smpp_reasm_pending(sr) == 0);
	FUZZ_ASSERT(!memcmp(t->modem_in, t->modem_out, sizeof(t->modem_in)));
	FUZZ_ASSERT(!memcmp(t->smpp_in, t->smpp_out, sizeof(t->smpp_in)));
	talloc_free(ctx);
	return 0;
}
