/* Pure SMPP helpers: deliver_sm decoding (its SAR TLVs; a UDH is read by sms_parts.c's
 * sms_udh_parse, and reassembly is sms_parts.c's too, for both transports), text encoding,
 * status classes, receipts, token bucket. No sockets, no clock: the callers pass the time. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/linuxlist.h>
#include <arpa/inet.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>
#pragma GCC diagnostic pop

#include "guichet/smpp.h"
#include "guichet/text.h"

/* ---- deliver_sm ---- */

/* Skips a C string of at most max bytes (NUL included) at *off. */
static bool skip_cstring(const uint8_t *p, size_t len, size_t *off, size_t max)
{
	size_t i = *off;
	while (i < len && i - *off < max && p[i])
		i++;
	if (i >= len || i - *off >= max)
		return false;
	*off = i + 1;
	return true;
}

/* The optional TLVs of a deliver_sm that Guichet reads, found by deliver_tlvs(). */
struct deliver_tlvs {
	size_t payload_off, payload_len;
	const uint8_t *sref, *stot, *sseq;
};

/* Walks the TLVs from off to len, every length checked: 0, or -1 with why. */
static int deliver_tlvs(const uint8_t *pdu, size_t len, size_t off, struct smpp_deliver *d,
			struct deliver_tlvs *t, char *why, size_t why_len)
{
	while (off < len) {
		if (len - off < 4) {
			snprintf(why, why_len, "%zu stray bytes after the TLVs", len - off);
			return -1;
		}
		uint16_t tag = (uint16_t)(pdu[off] << 8 | pdu[off + 1]);
		size_t l = (size_t)(pdu[off + 2] << 8 | pdu[off + 3]);
		if (l > len - off - 4) {
			snprintf(why, why_len, "TLV 0x%04x of length %zu runs past the PDU (%zu bytes left)",
				 tag, l, len - off - 4);
			return -1;
		}
		const uint8_t *v = pdu + off + 4;
		if (tag == TLVID_message_payload) {
			t->payload_off = off + 4;
			t->payload_len = l;
		} else if (tag == TLVID_sar_msg_ref_num && l == 2) {
			t->sref = v;
		} else if (tag == TLVID_sar_total_segments && l == 1) {
			t->stot = v;
		} else if (tag == TLVID_sar_segment_seqnum && l == 1) {
			t->sseq = v;
		} else if (tag == TLVID_user_message_reference && l == 2) {
			d->user_ref = v[0] << 8 | v[1];
		} else if (tag == TLVID_receipted_message_id && l > 0) {
			size_t n = strnlen((const char *)v, l);
			if (n >= sizeof(d->receipted_id))
				n = sizeof(d->receipted_id) - 1;
			memcpy(d->receipted_id, v, n);
			d->receipted_id[n] = '\0';
		} else if (tag == TLVID_message_state && l == 1) {
			d->message_state = v[0];
		}
		off += 4 + l;
	}
	return 0;
}

/* The mandatory part (mand bytes) through libsmpp34, TLVs cut off: nothing for it to
 * allocate. 0, or -1 with why. */
static int deliver_mandatory(const uint8_t *pdu, size_t mand, struct smpp_deliver *d,
			     char *why, size_t why_len)
{
	uint8_t copy[512];
	struct deliver_sm_t pd;
	if (mand + 1 > sizeof(copy)) {
		snprintf(why, why_len, "mandatory fields of %zu bytes", mand);
		return -1;
	}
	memcpy(copy, pdu, mand);
	copy[mand] = 0;
	uint32_t cl = htonl((uint32_t)mand);
	memcpy(copy, &cl, 4);
	memset(&pd, 0, sizeof(pd));
	if (smpp34_unpack(DELIVER_SM, &pd, copy, (int)mand) != 0 || pd.tlv) {
		snprintf(why, why_len, "mandatory fields refused by libsmpp34");
		return -1;
	}
	d->esm_class = pd.esm_class;
	d->data_coding = pd.data_coding;
	d->source_ton = pd.source_addr_ton;
	if (pd.source_addr_ton == TON_International && pd.source_addr[0] != '+')
		snprintf(d->from, sizeof(d->from), "+%s", (const char *)pd.source_addr);
	else
		snprintf(d->from, sizeof(d->from), "%s", (const char *)pd.source_addr);
	/* short_message lies at the end of the mandatory part, in the caller's PDU. */
	d->udl = pd.sm_length;
	d->ud = pdu + mand - d->udl;
	return 0;
}

int smpp_deliver_decode(const uint8_t *pdu, size_t len, struct smpp_deliver *d, char *why,
			size_t why_len)
{
	static const struct { const char *name; size_t max; size_t fixed_after; } cstr[] = {
		{ "service_type", 6, 2 }, { "source_addr", 21, 2 }, { "destination_addr", 21, 3 },
		{ "schedule_delivery_time", 17, 0 }, { "validity_period", 17, 4 },
	};
	memset(d, 0, sizeof(*d));
	d->message_state = -1;
	d->user_ref = -1;
	uint32_t cl;
	if (len < 16) {
		snprintf(why, why_len, "PDU of %zu bytes", len);
		return -1;
	}
	memcpy(&cl, pdu, 4);
	if (ntohl(cl) != len) {
		snprintf(why, why_len, "command_length %u for %zu bytes", ntohl(cl), len);
		return -1;
	}
	size_t off = 16;
	for (size_t i = 0; i < sizeof(cstr) / sizeof(cstr[0]); i++) {
		if (!skip_cstring(pdu, len, &off, cstr[i].max)) {
			snprintf(why, why_len, "%s unterminated or longer than %zu bytes", cstr[i].name,
				 cstr[i].max - 1);
			return -1;
		}
		off += cstr[i].fixed_after;
	}
	if (off + 1 > len || off + 1 + pdu[off] > len) {
		snprintf(why, why_len, "short_message runs past the PDU");
		return -1;
	}
	size_t mand = off + 1 + pdu[off];
	struct deliver_tlvs t = { 0 };
	if (deliver_tlvs(pdu, len, mand, d, &t, why, why_len) < 0 ||
	    deliver_mandatory(pdu, mand, d, why, why_len) < 0)
		return -1;
	if (d->udl == 0 && t.payload_off) {
		d->ud = pdu + t.payload_off;
		d->udl = t.payload_len;
	}
	if (t.sref && t.stot && t.sseq && t.stot[0] >= 1 && t.sseq[0] >= 1 && t.sseq[0] <= t.stot[0])
		d->sar = (struct sms_concat){ .present = true,
					       .ref = (uint16_t)(t.sref[0] << 8 | t.sref[1]),
					       .ref16 = true, .total = t.stot[0], .seq = t.sseq[0] };
	return 0;
}

/* What tells an SMSC's re-delivery of a message from the person writing the same words
 * again. SMPP's deliver_sm carries no SMSC timestamp (the modems' key has one) and no
 * message id, and an SMSC re-delivering after a lost deliver_sm_resp does so on a new PDU,
 * usually on a new connection: its sequence_number is new too. What it repeats unchanged
 * is what the phone put in the message: the concatenation reference of a long message
 * (8 or 16 bits, new for each long message the phone sends) and the phone's TP-MR, which
 * SMSCs pass as the user_message_reference TLV (new for each SMS the phone sends). With
 * the sender, the text's hash and the day, either identifies one message: the same text
 * from the same phone with the same reference on the same day is a re-delivery. A single
 * part without user_message_reference has nothing of the kind: it gets no key (answering a
 * re-delivery twice is better than ignoring a person who answered "1" twice). */
char *smpp_dedup_key(void *ctx, const struct sms_parts_msg *m, int user_ref)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *c = (const unsigned char *)m->text; *c; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	int64_t day = m->received / 86400;
	if (m->total > 1)
		return talloc_asprintf(ctx, "smpp1:%s:c%s%u/%u:%016" PRIx64 ":%" PRId64, m->from,
				       m->ref16 ? "16." : "", m->ref, m->total, h, day);
	if (user_ref >= 0)
		return talloc_asprintf(ctx, "smpp1:%s:u%d:%016" PRIx64 ":%" PRId64, m->from,
				       user_ref, h, day);
	return NULL;
}

enum sms_alphabet smpp_dcs_alphabet(uint8_t dcs)
{
	if (dcs == 0x00)
		return SMS_GSM7;
	if (dcs == 0x08)
		return SMS_UCS2;
	if ((dcs & 0xF0) == 0xF0)
		return (dcs & 0x04) ? SMS_LATIN1 : SMS_GSM7;
	if ((dcs & 0xC0) == 0x00 && !(dcs & 0x20) && (dcs & 0x0C) == 0x08)
		return SMS_UCS2;	/* general data coding group, UCS-2 alphabet */
	return SMS_LATIN1;		/* 1 = IA5, 3 = Latin-1, and anything else */
}

char *smpp_decode_text(void *ctx, uint8_t dcs, const uint8_t *ud, size_t len)
{
	return sms_text_decode(ctx, smpp_dcs_alphabet(dcs), ud, len);
}

void smpp_deliver_part(const struct smpp_deliver *d, uint64_t handle, int64_t received,
		       struct sms_part_in *p)
{
	size_t h = 0;
	memset(p, 0, sizeof(*p));
	if (d->esm_class & SMPP34_UDHI_IND)
		h = sms_udh_parse(d->ud, d->udl, &p->cc);
	if (!p->cc.present)
		p->cc = d->sar;
	p->from = d->from;
	p->alphabet = smpp_dcs_alphabet(d->data_coding);
	p->data = d->ud + h;
	p->len = d->udl - h;
	p->handle = handle;
	p->received = received;
}

unsigned smpp_encode_sms(void *ctx, const char *utf8, enum text_coding coding, uint8_t ref,
			 struct smpp_part **parts_out)
{
	char **texts = NULL;
	unsigned n = text_split_sms(ctx, utf8, coding, &texts);
	*parts_out = NULL;
	if (n == 0 || n > 255) {
		talloc_free(texts);
		return 0;
	}
	struct smpp_part *parts = talloc_zero_array(ctx, struct smpp_part, n);
	if (!parts)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		struct smpp_part *p = &parts[i];
		size_t off = 0;
		if (n > 1) {
			p->data[0] = 5;
			p->data[1] = 0x00;
			p->data[2] = 3;
			p->data[3] = ref;
			p->data[4] = (uint8_t)n;
			p->data[5] = (uint8_t)(i + 1);
			off = 6;
		}
		int k;
		if (coding == TEXT_GSM7)
			k = text_utf8_to_gsm7(texts[i], p->data + off, sizeof(p->data) - off);
		else
			k = text_utf8_to_ucs2be(texts[i], p->data + off, sizeof(p->data) - off);
		if (k < 0 || off + (size_t)k > (coding == TEXT_GSM7 ? 160u : 140u))
			goto fail;
		p->len = (uint8_t)(off + (size_t)k);
	}
	talloc_free(texts);
	*parts_out = parts;
	return n;
fail:
	talloc_free(parts);
	talloc_free(texts);
	return 0;
}

/* ---- command status ---- */

enum smpp_status_class smpp_status_classify(uint32_t st)
{
	switch (st) {
	case 0x00:
		return SMPP_ST_OK;
	case 0x58:	/* ESME_RTHROTTLED */
	case 0x14:	/* ESME_RMSGQFUL */
		return SMPP_ST_THROTTLE;
	case 0x04:	/* ESME_RINVBNDSTS: bind state, a new bind will do */
	case 0x08:	/* ESME_RSYSERR */
	case 0x45:	/* ESME_RSUBMITFAIL */
	case 0x64:	/* ESME_RX_T_APPN */
	case 0xFE:	/* ESME_RDELIVERYFAILURE */
	case 0xFF:	/* ESME_RUNKNOWNERR */
		return SMPP_ST_TEMP;
	}
	/* Vendor-specific codes can mean anything: retry them, the router bounds attempts. */
	if (st >= 0x400)
		return SMPP_ST_TEMP;
	return SMPP_ST_PERM;
}

static const struct {
	uint32_t st;
	const char *name;
} status_names[] = {
	{ 0x00, "ESME_ROK" }, { 0x01, "ESME_RINVMSGLEN" }, { 0x02, "ESME_RINVCMDLEN" },
	{ 0x03, "ESME_RINVCMDID" }, { 0x04, "ESME_RINVBNDSTS" }, { 0x05, "ESME_RALYBND" },
	{ 0x06, "ESME_RINVPRTFLG" }, { 0x07, "ESME_RINVREGDLVFLG" }, { 0x08, "ESME_RSYSERR" },
	{ 0x0A, "ESME_RINVSRCADR" }, { 0x0B, "ESME_RINVDSTADR" }, { 0x0C, "ESME_RINVMSGID" },
	{ 0x0D, "ESME_RBINDFAIL" }, { 0x0E, "ESME_RINVPASWD" }, { 0x0F, "ESME_RINVSYSID" },
	{ 0x14, "ESME_RMSGQFUL" }, { 0x15, "ESME_RINVSERTYP" }, { 0x43, "ESME_RINVESMCLASS" },
	{ 0x45, "ESME_RSUBMITFAIL" }, { 0x48, "ESME_RINVSRCTON" }, { 0x49, "ESME_RINVSRCNPI" },
	{ 0x50, "ESME_RINVDSTTON" }, { 0x51, "ESME_RINVDSTNPI" }, { 0x53, "ESME_RINVSYSTYP" },
	{ 0x58, "ESME_RTHROTTLED" }, { 0x61, "ESME_RINVSCHED" }, { 0x62, "ESME_RINVEXPIRY" },
	{ 0x64, "ESME_RX_T_APPN" }, { 0x65, "ESME_RX_P_APPN" }, { 0x66, "ESME_RX_R_APPN" },
	{ 0xC0, "ESME_RINVOPTPARSTREAM" }, { 0xC1, "ESME_ROPTPARNOTALLWD" },
	{ 0xC2, "ESME_RINVPARLEN" }, { 0xC3, "ESME_RMISSINGOPTPARAM" },
	{ 0xC4, "ESME_RINVOPTPARAMVAL" }, { 0xFE, "ESME_RDELIVERYFAILURE" },
	{ 0xFF, "ESME_RUNKNOWNERR" },
};

const char *smpp_status_name(uint32_t st, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].st == st)
			return status_names[i].name;
	snprintf(buf, len, "0x%08x", st);
	return buf;
}

/* ---- receipts ---- */

/* Copies the value after key (up to a space) into out. */
static bool receipt_field(const char *text, size_t len, const char *key, char *out, size_t out_len)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl <= len; i++) {
		if ((i == 0 || text[i - 1] == ' ') && strncasecmp(text + i, key, kl) == 0) {
			size_t j = i + kl, k = 0;
			while (j < len && text[j] != ' ' && text[j] != '\0' && k + 1 < out_len)
				out[k++] = text[j++];
			out[k] = '\0';
			return true;
		}
	}
	return false;
}

int smpp_receipt_parse(const char *text, size_t len, char *id, size_t id_len, char *stat,
		       size_t stat_len)
{
	if (id_len)
		id[0] = '\0';
	if (stat_len)
		stat[0] = '\0';
	if (!receipt_field(text, len, "id:", id, id_len) || !id[0])
		return -1;
	receipt_field(text, len, "stat:", stat, stat_len);
	return 0;
}

/* ---- token bucket ---- */

void smpp_bucket_init(struct smpp_bucket *b, double rate, int64_t now_us)
{
	b->last_us = now_us;
	smpp_bucket_set_rate(b, rate);
	b->tokens = b->burst;
}

void smpp_bucket_set_rate(struct smpp_bucket *b, double rate)
{
	b->rate = rate;
	/* A tenth of a second's worth, so a burst never breaks a per-second limit. */
	b->burst = rate > 10 ? rate / 10 : 1;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
}

int64_t smpp_bucket_take(struct smpp_bucket *b, int64_t now_us)
{
	if (b->rate <= 0)
		return 0;
	if (now_us > b->last_us) {
		b->tokens += (double)(now_us - b->last_us) * b->rate / 1e6;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_us = now_us;
	}
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 0;
	}
	int64_t wait = (int64_t)((1 - b->tokens) * 1e6 / b->rate) + 1;
	return wait > 0 ? wait : 1;
}

#define ADAPT_MIN_US 250000
#define ADAPT_MAX_US 1000000
#define ADAPT_MIN_ANSWERS 20u
#define ADAPT_DECREASE_SHARE 0.35

void smpp_adapt_init(struct smpp_adapt *a, double cfg, int64_t now_us)
{
	*a = (struct smpp_adapt){ .cfg = cfg, .rate = cfg, .start_us = now_us };
}

bool smpp_adapt_answer(struct smpp_adapt *a, bool throttled, int64_t now_us)
{
	if (throttled)
		a->thr++;
	else
		a->ok++;
	int64_t el = now_us - a->start_us;
	unsigned n = a->ok + a->thr;
	if (el < ADAPT_MAX_US && (el < ADAPT_MIN_US || n < ADAPT_MIN_ANSWERS))
		return false;
	double secs = el > 0 ? el / 1e6 : 1e-6, share = (double)a->thr / n;
	double rate = a->rate;
	/* Nothing accepted at all says nothing of a rate: the transport pauses instead. */
	if (share > ADAPT_DECREASE_SHARE && n >= 10 && a->ok > 0) {
		double base = a->rate > 0 ? a->rate : n / secs;
		rate = a->ok / secs * 1.05;
		if (rate < base / 2)
			rate = base / 2;
		if (rate < 1)
			rate = 1;
		if (a->cfg > 0 && rate > a->cfg)
			rate = a->cfg;
	} else if (a->thr == 0 && a->rate > 0 && a->rate != a->cfg) {
		rate = a->rate * 1.25;
		if (a->cfg > 0 && rate >= a->cfg)
			rate = a->cfg;
		else if (a->cfg == 0 && rate >= 100000)
			rate = 0;
	}
	a->start_us = now_us;
	a->ok = a->thr = 0;
	bool changed = rate != a->rate;
	a->rate = rate;
	return changed;
}

void smpp_number_international(char *num, size_t len, unsigned ton, const char *cc)
{
	char out[32];
	size_t n;

	if (!num || !cc || !*cc || !text_is_digits(num))
		return;		/* "+…" already, or an alphanumeric sender */
	n = strlen(num);
	if (ton == TON_Unknown && n > 4 && num[0] == '0' && num[1] == '0')
		snprintf(out, sizeof(out), "+%s", num + 2);			/* 0033 6… */
	else if (ton == TON_National && n > 4)
		snprintf(out, sizeof(out), "+%s%s", cc, num[0] == '0' ? num + 1 : num);
	else if (ton == TON_Unknown && n >= 9 && num[0] == '0')
		snprintf(out, sizeof(out), "+%s%s", cc, num + 1);		/* 06 12 … */
	else
		return;		/* short codes, and what cannot be told */
	snprintf(num, len, "%s", out);
}
