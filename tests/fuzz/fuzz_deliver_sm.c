/* Fuzz target: a deliver_sm from the SMSC, decoded as the daemon does (on_deliver_sm in
 * smpp.c): libsmpp34's unpacking of the PDU, then the receipt fields or the UDH, the sar_*
 * TLVs, message_payload and the text in its data_coding (smpp_pdu.c). Leaks count: a PDU
 * libsmpp34 refuses must not leave what it allocated behind.
 *
 * Input: the PDU body; the 16-byte header (command_length, DELIVER_SM, 0, seq) is added. */
#include <arpa/inet.h>
#include <talloc.h>

#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>

#include "fuzz.h"
#include "guichet/smpp.h"

#define PDU_MAX 65536

static const tlv_t *tlv_find(const tlv_t *head, uint16_t tag)
{
	for (const tlv_t *t = head; t; t = t->next)
		if (t->tag == tag)
			return t;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PDU_MAX - 16)
		return 0;
	void *ctx = talloc_named_const(NULL, 0, "fuzz_deliver_sm");
	uint32_t len = (uint32_t)size + 16;
	/* libsmpp34 reads C strings with strlen(): the daemon gives it a NUL after the PDU. */
	uint8_t *copy = talloc_zero_size(ctx, len + 1);
	struct deliver_sm_t *d = talloc_zero(ctx, struct deliver_sm_t);
	uint32_t h[4] = { htonl(len), htonl(DELIVER_SM), 0, htonl(1) };

	memcpy(copy, h, 16);
	memcpy(copy + 16, data, size);
	if (smpp34_unpack(DELIVER_SM, d, copy, (int)len) != 0) {
		destroy_tlv(d->tlv);
		goto done;
	}
	if (d->esm_class & 0x3C) {	/* a receipt */
		char id[72] = "", stat[16] = "";
		smpp_receipt_parse((const char *)d->short_message, d->sm_length, id, sizeof(id), stat,
				   sizeof(stat));
		FUZZ_ASSERT(memchr(id, '\0', sizeof(id)) && memchr(stat, '\0', sizeof(stat)));
		const tlv_t *t = tlv_find(d->tlv, TLVID_receipted_message_id);
		if (t) {
			size_t l = t->length < sizeof(id) - 1 ? t->length : sizeof(id) - 1;
			memcpy(id, t->value.octet, l);
			id[l] = '\0';
		}
		destroy_tlv(d->tlv);
		goto done;
	}
	const uint8_t *ud = d->short_message;
	size_t udl = d->sm_length;
	FUZZ_ASSERT(udl <= sizeof(d->short_message));
	const tlv_t *pl = tlv_find(d->tlv, TLVID_message_payload);
	if (pl && udl == 0) {
		ud = pl->value.octet;
		udl = pl->length;
	}
	struct smpp_concat cc = { 0 };
	if (d->esm_class & SMPP34_UDHI_IND) {
		int hl = smpp_udh_parse(ud, udl, &cc);
		if (hl < 0) {
			destroy_tlv(d->tlv);
			goto done;
		}
		FUZZ_ASSERT((size_t)hl <= udl);
		FUZZ_ASSERT(!cc.present || (cc.seq >= 1 && cc.seq <= cc.total));
		ud += hl;
		udl -= (size_t)hl;
	}
	const tlv_t *sref = tlv_find(d->tlv, TLVID_sar_msg_ref_num);
	const tlv_t *stot = tlv_find(d->tlv, TLVID_sar_total_segments);
	const tlv_t *sseq = tlv_find(d->tlv, TLVID_sar_segment_seqnum);
	if (!cc.present && sref && stot && sseq && stot->value.val08 >= 1 && sseq->value.val08 >= 1 &&
	    sseq->value.val08 <= stot->value.val08)
		cc = (struct smpp_concat){ .present = true, .ref = sref->value.val16, .ref16 = true,
					   .total = stot->value.val08, .seq = sseq->value.val08 };
	char *text = smpp_decode_text(ctx, d->data_coding, ud, udl);
	FUZZ_ASSERT(text);
	char from[32];
	snprintf(from, sizeof(from), "%s", (const char *)d->source_addr);
	destroy_tlv(d->tlv);
	if (cc.present && cc.total > 1) {
		struct smpp_reasm *r = smpp_reasm_alloc(ctx, 4);
		struct smpp_reasm_msg *m = smpp_reasm_add(r, ctx, from, &cc, text, 1, 0);
		if (!m)
			m = smpp_reasm_expire(r, ctx, 1);
		FUZZ_ASSERT(m && m->n_tokens == 1 && m->tokens[0] == 1);
	}
done:
	talloc_free(ctx);
	return 0;
}
