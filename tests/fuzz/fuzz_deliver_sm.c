/* Fuzz target: a deliver_sm from the SMSC, decoded as the daemon does (on_deliver_sm in
 * smpp.c): smpp_deliver_decode (every length checked, TLVs walked, libsmpp34 for the
 * mandatory fields only), then the receipt fields, or the part it carries
 * (smpp_deliver_part: UDH or sar_* TLVs, message_payload) through sms_parts. Leaks count: a
 * refused PDU must leave nothing allocated behind; a refusal reason never holds the PDU's
 * bytes.
 *
 * Input: the PDU body; the 16-byte header (command_length, DELIVER_SM, 0, seq) is added. */
#include <arpa/inet.h>
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/smpp.h"
#include "guichet/sms_parts.h"

#define PDU_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PDU_MAX - 16)
		return 0;
	void *ctx = talloc_named_const(NULL, 0, "fuzz_deliver_sm");
	uint32_t len = (uint32_t)size + 16;
	uint8_t *pdu = talloc_size(ctx, len);
	uint32_t h[4] = { htonl(len), htonl(0x00000005), 0, htonl(1) };
	struct smpp_deliver d;
	char why[128];

	memcpy(pdu, h, 16);
	memcpy(pdu + 16, data, size);
	if (smpp_deliver_decode(pdu, len, &d, why, sizeof(why)) != 0) {
		FUZZ_ASSERT(memchr(why, '\0', sizeof(why)) && why[0]);
		goto done;
	}
	FUZZ_ASSERT(d.ud >= pdu && d.ud + d.udl <= pdu + len);
	FUZZ_ASSERT(memchr(d.from, '\0', sizeof(d.from)));
	if (d.esm_class & 0x3C) {	/* a receipt */
		char id[72] = "", stat[16] = "";
		smpp_receipt_parse((const char *)d.ud, d.udl, id, sizeof(id), stat, sizeof(stat));
		FUZZ_ASSERT(memchr(id, '\0', sizeof(id)) && memchr(stat, '\0', sizeof(stat)));
		FUZZ_ASSERT(memchr(d.receipted_id, '\0', sizeof(d.receipted_id)));
		goto done;
	}
	struct sms_part_in p;
	smpp_deliver_part(&d, 1, 0, &p);
	FUZZ_ASSERT(p.data >= d.ud && p.data + p.len == d.ud + d.udl);
	FUZZ_ASSERT(!p.cc.present || (p.cc.seq >= 1 && p.cc.seq <= p.cc.total));
	struct sms_parts *r = sms_parts_alloc(ctx, 1000, 4);
	FUZZ_ASSERT(sms_parts_add(r, &p, 0) == 0);
	struct sms_parts_msg *m = NULL;
	/* On its own: out at once; one of several: out at expiry. */
	if (sms_parts_take(r, ctx, 0, &m, 1) == 0)
		FUZZ_ASSERT(sms_parts_take(r, ctx, 1000, &m, 1) == 1);
	FUZZ_ASSERT(m && m->text && m->n_handles == 1 && m->handles[0] == 1);
done:
	talloc_free(ctx);
	return 0;
}
