/* SMS parts: the one UDH parser and reassembly both transports use. Malformed headers give
 * the same result whether a modem (through libGammu) or an SMSC (a deliver_sm) brought them;
 * reassembly order, duplicates, expiry, the bound, characters split across parts. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>
#include <gammu.h>

#include "guichet/modem.h"
#include "guichet/smpp.h"
#include "guichet/sms_parts.h"
#include "unit_main.h"

static void *ctx;

static void test_udh(void)
{
	struct sms_concat cc;
	const uint8_t u8[] = { 5, 0x00, 3, 0x42, 3, 2, 'h', 'i' };
	CU_ASSERT_EQUAL(sms_udh_parse(u8, sizeof(u8), &cc), 6);
	CU_ASSERT(cc.present && !cc.ref16 && cc.ref == 0x42 && cc.total == 3 && cc.seq == 2);

	const uint8_t u16[] = { 6, 0x08, 4, 0x12, 0x34, 2, 1, 'x' };
	CU_ASSERT_EQUAL(sms_udh_parse(u16, sizeof(u16), &cc), 7);
	CU_ASSERT(cc.present && cc.ref16 && cc.ref == 0x1234 && cc.total == 2 && cc.seq == 1);

	/* Port addressing before the concatenation element. */
	const uint8_t mixed[] = { 11, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x00, 3, 7, 2, 2, 'z' };
	CU_ASSERT_EQUAL(sms_udh_parse(mixed, sizeof(mixed), &cc), 12);
	CU_ASSERT(cc.present && cc.ref == 7 && cc.seq == 2);

	/* An invalid concatenation element is skipped: the next valid one counts. */
	const uint8_t seq0[] = { 10, 0x00, 3, 1, 2, 0, 0x00, 3, 9, 2, 1 };
	CU_ASSERT_EQUAL(sms_udh_parse(seq0, sizeof(seq0), &cc), 11);
	CU_ASSERT(cc.present && cc.ref == 9 && cc.seq == 1);
	const uint8_t bad_seq[] = { 5, 0x00, 3, 1, 2, 3 };
	CU_ASSERT_EQUAL(sms_udh_parse(bad_seq, sizeof(bad_seq), &cc), 6);
	CU_ASSERT(!cc.present);
	const uint8_t none[] = { 4, 0x05, 2, 1, 2 };
	CU_ASSERT_EQUAL(sms_udh_parse(none, sizeof(none), &cc), 5);
	CU_ASSERT(!cc.present);

	/* Malformed: a header longer than the data is no header; an element longer than the
	 * header: header skipped, no concatenation. */
	const uint8_t over[] = { 9, 0x00, 3, 1, 2, 1 };
	CU_ASSERT_EQUAL(sms_udh_parse(over, sizeof(over), &cc), 0);
	CU_ASSERT(!cc.present);
	const uint8_t ie_over[] = { 3, 0x00, 3, 1, 'a' };
	CU_ASSERT_EQUAL(sms_udh_parse(ie_over, sizeof(ie_over), &cc), 4);
	CU_ASSERT(!cc.present);
	CU_ASSERT_EQUAL(sms_udh_parse(u8, 0, &cc), 0);
	CU_ASSERT_EQUAL(sms_udh_parse(NULL, 0, &cc), 0);
}

/* ---- the same malformed header through both transports ---- */

/* A deliver_sm with UDHI set, data_coding 0 (GSM-7 unpacked, so the bytes are ASCII here). */
static size_t build_deliver(uint8_t *buf, const uint8_t *ud, size_t udl)
{
	size_t n = 16;
	const uint8_t head[] = { 0, 1, 1, '3', '3', '6', '1', '1', '1', '1', '1', '1', '1', '1', 0,
				 0, 0, '3', '8', '1', '2', '3', 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0 };
	memcpy(buf + n, head, sizeof(head));
	n += sizeof(head);
	buf[n++] = (uint8_t)udl;
	memcpy(buf + n, ud, udl);
	n += udl;
	const uint32_t h[4] = { htonl((uint32_t)n), htonl(0x00000005), 0, htonl(3) };
	memcpy(buf, h, 16);
	return n;
}

/* What a transport's part becomes once reassembled alone: the text, or "(waiting)". */
static char *through(const struct sms_part_in *in)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 1000, 8);
	struct sms_parts_msg *m = NULL;
	CU_ASSERT_EQUAL(sms_parts_add(r, in, 0), 0);
	char *out = sms_parts_take(r, ctx, 0, &m, 1) == 1 ? talloc_strdup(ctx, m->text)
							   : talloc_strdup(ctx, "(waiting)");
	talloc_free(m);
	talloc_free(r);
	return out;
}

static void test_both_transports(void)
{
	static const struct {
		const char *what;
		uint8_t udh[12];
		size_t udh_len;
		bool concat;
	} cases[] = {
		{ "valid", { 5, 0x00, 3, 7, 2, 1 }, 6, true },
		{ "element past the header", { 3, 0x00, 3, 7 }, 4, false },
		{ "seq 0", { 5, 0x00, 3, 7, 2, 0 }, 6, false },
		{ "seq past total", { 5, 0x00, 3, 7, 2, 3 }, 6, false },
		{ "total 0", { 5, 0x00, 3, 7, 0, 0 }, 6, false },
		{ "16-bit element too short", { 5, 0x08, 3, 7, 2, 1 }, 6, false },
		{ "an empty header", { 0 }, 1, false },
	};
	GSM_SMSMessage *sms = talloc_zero(ctx, GSM_SMSMessage);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* SMPP: the header then "hello" in short_message. */
		uint8_t ud[64], pdu[256];
		memcpy(ud, cases[i].udh, cases[i].udh_len);
		memcpy(ud + cases[i].udh_len, "hello", 5);
		size_t n = build_deliver(pdu, ud, cases[i].udh_len + 5);
		struct smpp_deliver d;
		char why[128];
		CU_ASSERT_EQUAL_FATAL(smpp_deliver_decode(pdu, n, &d, why, sizeof(why)), 0);
		struct sms_part_in a;
		smpp_deliver_part(&d, 1, 0, &a);

		/* Modem: libGammu hands the raw header and the text apart. */
		struct sms_part mp;
		memset(sms->UDH.Text, 0, sizeof(sms->UDH.Text));
		memcpy(sms->UDH.Text, cases[i].udh, cases[i].udh_len);
		sms->UDH.Length = (int)cases[i].udh_len;
		sms->UDH.Type = UDH_UserUDH;
		EncodeUnicode(sms->Number, "+33611111111", 12);
		EncodeUnicode(sms->Text, "hello", 5);
		sms->Coding = SMS_Coding_Default_No_Compression;
		sms_part_from_gammu(&mp, sms);
		struct sms_part_in b;
		sms_part_input(&mp, 0, &b);

		if (a.cc.present != cases[i].concat || b.cc.present != cases[i].concat)
			fprintf(stderr, "\n%s: smpp %d modem %d\n", cases[i].what, a.cc.present,
				b.cc.present);
		CU_ASSERT_EQUAL(a.cc.present, cases[i].concat);
		CU_ASSERT_EQUAL(b.cc.present, cases[i].concat);
		CU_ASSERT(!memcmp(&a.cc, &b.cc, sizeof(a.cc)));
		char *ta = through(&a), *tb = through(&b);
		CU_ASSERT_STRING_EQUAL(ta, tb);
		CU_ASSERT_STRING_EQUAL(ta, cases[i].concat ? "(waiting)" : "hello");
	}
	talloc_free(sms);

	/* A header longer than the message: over SMPP there is no header then, all of it is
	 * text (never refused: the message is not lost); the modem path cannot carry it. */
	const uint8_t ud[] = { 0x7F, 'h', 'i' };
	uint8_t pdu[64];
	size_t n = build_deliver(pdu, ud, sizeof(ud));
	struct smpp_deliver d;
	char why[128];
	CU_ASSERT_EQUAL_FATAL(smpp_deliver_decode(pdu, n, &d, why, sizeof(why)), 0);
	struct sms_part_in a;
	smpp_deliver_part(&d, 1, 0, &a);
	CU_ASSERT(!a.cc.present);
	CU_ASSERT_EQUAL(a.len, 3);
}

/* ---- reassembly ---- */

static struct sms_part_in part(const char *from, uint16_t ref, bool ref16, uint8_t total,
			       uint8_t seq, const char *text, uint64_t handle)
{
	return (struct sms_part_in){
		.from = from, .alphabet = SMS_LATIN1, .data = (const uint8_t *)text,
		.len = strlen(text), .handle = handle, .received = 100 + (int64_t)handle,
		.cc = { .present = total > 1, .ref = ref, .ref16 = ref16, .total = total, .seq = seq },
	};
}

static void test_reasm(void)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 1000, 8);
	struct sms_parts_msg *out[4];
	struct sms_part_in c3 = part("+331", 9, false, 3, 3, "C", 13);
	CU_ASSERT_EQUAL(sms_parts_add(r, &c3, 0), 0);
	/* Same ref from another number, and a 16-bit ref of the same value: separate. */
	struct sms_part_in o = part("+332", 9, false, 3, 1, "x", 21);
	struct sms_part_in o16 = part("+331", 9, true, 3, 1, "y", 31);
	CU_ASSERT_EQUAL(sms_parts_add(r, &o, 0), 0);
	CU_ASSERT_EQUAL(sms_parts_add(r, &o16, 0), 0);
	struct sms_part_in c1 = part("+331", 9, false, 3, 1, "A", 11);
	CU_ASSERT_EQUAL(sms_parts_add(r, &c1, 0), 0);
	CU_ASSERT_EQUAL(sms_parts_add(r, &c1, 0), 1);	/* the same handle again: ignored */
	struct sms_part_in dup = part("+331", 9, false, 3, 1, "Z", 111);
	CU_ASSERT_EQUAL(sms_parts_add(r, &dup, 0), 0);	/* resent: first text kept, both handles */
	CU_ASSERT_EQUAL(sms_parts_take(r, ctx, 0, out, 4), 0);
	CU_ASSERT_EQUAL(sms_parts_pending(r), 3);
	struct sms_part_in c2 = part("+331", 9, false, 3, 2, "B", 12);
	CU_ASSERT_EQUAL(sms_parts_add(r, &c2, 10), 0);
	CU_ASSERT_EQUAL(sms_parts_next_deadline(r), 0);
	CU_ASSERT_EQUAL_FATAL(sms_parts_take(r, ctx, 10, out, 4), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "ABC");
	CU_ASSERT_STRING_EQUAL(out[0]->from, "+331");
	CU_ASSERT(out[0]->have == 3 && out[0]->total == 3 && out[0]->ref == 9);
	CU_ASSERT_EQUAL_FATAL(out[0]->n_handles, 4);
	CU_ASSERT(out[0]->handles[0] == 11 && out[0]->handles[1] == 111 &&
		  out[0]->handles[2] == 12 && out[0]->handles[3] == 13);
	CU_ASSERT_EQUAL(out[0]->first_handle, 11);
	CU_ASSERT_EQUAL(out[0]->received, 113);	/* of the first part added */
	CU_ASSERT_EQUAL(sms_parts_pending(r), 2);

	/* Expiry releases what arrived, oldest first. */
	CU_ASSERT_EQUAL(sms_parts_next_deadline(r), 1000);
	CU_ASSERT_EQUAL(sms_parts_take(r, ctx, 999, out, 4), 0);
	CU_ASSERT_EQUAL_FATAL(sms_parts_take(r, ctx, 1000, out, 4), 2);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "x");
	CU_ASSERT(out[0]->have == 1 && out[0]->total == 3 && out[0]->handles[0] == 21);
	CU_ASSERT_STRING_EQUAL(out[1]->text, "y");
	CU_ASSERT_EQUAL(sms_parts_pending(r), 0);
	CU_ASSERT_EQUAL(sms_parts_next_deadline(r), -1);

	/* A message on its own is ready at once; so is a "concatenated" one of one part. */
	struct sms_part_in solo = part("+334", 0, false, 1, 1, "solo", 5);
	CU_ASSERT_EQUAL(sms_parts_add(r, &solo, 0), 0);
	struct sms_part_in one = part("+334", 1, false, 1, 1, "one", 6);
	one.cc.present = true;
	CU_ASSERT_EQUAL(sms_parts_add(r, &one, 0), 0);
	CU_ASSERT_EQUAL_FATAL(sms_parts_take(r, ctx, 0, out, 4), 2);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "solo");
	CU_ASSERT(out[0]->total == 1 && out[0]->ref == 0);
	/* A handle is known while its message is held, ready or not, and forgotten once it
	 * is taken (a location deleted, then reused, is a new part). */
	struct sms_part_in w = part("+335", 3, false, 2, 1, "w", 40);
	CU_ASSERT_EQUAL(sms_parts_add(r, &w, 0), 0);
	CU_ASSERT_EQUAL(sms_parts_add(r, &solo, 0), 0);		/* ready, not taken */
	CU_ASSERT_EQUAL(sms_parts_add(r, &solo, 0), 1);
	CU_ASSERT_EQUAL(sms_parts_add(r, &w, 0), 1);
	CU_ASSERT_EQUAL_FATAL(sms_parts_take(r, ctx, 0, out, 4), 1);
	CU_ASSERT_EQUAL(sms_parts_add(r, &solo, 0), 0);
	CU_ASSERT_EQUAL(sms_parts_take(r, ctx, 0, out, 4), 1);
	/* The same part resent over and over: released once it has SMS_PARTS_MAX_COPIES
	 * copies, every copy's handle with it. */
	for (unsigned i = 0; i <= SMS_PARTS_MAX_COPIES; i++) {
		struct sms_part_in cp = part("+336", 4, false, 2, 1, "again", 500 + i);
		CU_ASSERT_EQUAL(sms_parts_add(r, &cp, 0), 0);
		CU_ASSERT_EQUAL(sms_parts_take(r, ctx, 0, out, 4), i == SMS_PARTS_MAX_COPIES);
	}
	CU_ASSERT_STRING_EQUAL(out[0]->text, "again");
	CU_ASSERT_EQUAL(out[0]->n_handles, SMS_PARTS_MAX_COPIES + 1);
	CU_ASSERT(out[0]->have == 1 && out[0]->total == 2);
	/* Cleared (a link dropped): nothing held. */
	CU_ASSERT_EQUAL(sms_parts_add(r, &c1, 0), 0);
	sms_parts_clear(r);
	CU_ASSERT_EQUAL(sms_parts_pending(r), 0);
	CU_ASSERT_EQUAL(sms_parts_add(r, &c1, 0), 0);	/* forgotten with it */
	CU_ASSERT_EQUAL(sms_parts_add(r, &w, 0), 0);
	talloc_free(r);
}

/* Characters cut between two parts survive: parts are joined before decoding. */
static void test_split_characters(void)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 1000, 8);
	struct sms_parts_msg *out[2];
	/* 😀 = D83D DE00 across UCS-2 parts */
	const uint8_t u1[] = { 0, 'a', 0xD8, 0x3D }, u2[] = { 0xDE, 0x00, 0, 'b' };
	struct sms_part_in a = part("+1", 1, false, 2, 1, "", 1), b = part("+1", 1, false, 2, 2, "", 2);
	a.alphabet = b.alphabet = SMS_UCS2;
	a.data = u1, a.len = 4, b.data = u2, b.len = 4;
	sms_parts_add(r, &b, 0);
	sms_parts_add(r, &a, 0);
	CU_ASSERT_EQUAL_FATAL(sms_parts_take(r, ctx, 0, out, 2), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "a😀b");
	/* € = ESC 0x65 across GSM-7 parts */
	const uint8_t g1[] = { 'x', 0x1B }, g2[] = { 0x65, 'y' };
	a = part("+1", 2, false, 2, 1, "", 3), b = part("+1", 2, false, 2, 2, "", 4);
	a.alphabet = b.alphabet = SMS_GSM7;
	a.data = g1, a.len = 2, b.data = g2, b.len = 2;
	sms_parts_add(r, &a, 0);
	sms_parts_add(r, &b, 0);
	CU_ASSERT_EQUAL_FATAL(sms_parts_take(r, ctx, 0, out, 2), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "x€y");
	talloc_free(r);
}

/* 20,000 first-of-two parts with distinct references (each an unanswered deliver_sm, or a
 * part on the SIM): never more than the bound wait for parts; the oldest are pushed out
 * and come out first, in order, each part once. */
static void test_bound(void)
{
	enum { N = 20000, MAX = 1024 };
	struct sms_parts *r = sms_parts_alloc(ctx, 3600 * 1000, MAX);
	void *tmp = talloc_new(ctx);
	struct sms_parts_msg *out[16];
	unsigned most = 0, got = 0;
	for (unsigned i = 0; i < N; i++) {
		struct sms_part_in p = part("+33612345678", (uint16_t)i, true, 2, 1, "p", i);
		CU_ASSERT_EQUAL(sms_parts_add(r, &p, 1000), 0);
		if (sms_parts_waiting(r) > most)
			most = sms_parts_waiting(r);
		if (i % 7 == 0) {	/* the transport takes now and then, as it runs */
			unsigned n;
			while ((n = sms_parts_take(r, tmp, 1000, out, 16)) > 0)
				for (unsigned k = 0; k < n; k++, got++)
					CU_ASSERT(out[k]->have == 1 && out[k]->handles[0] == got);
			talloc_free_children(tmp);
		}
	}
	unsigned n;
	while ((n = sms_parts_take(r, tmp, 1000, out, 16)) > 0)
		for (unsigned k = 0; k < n; k++, got++)
			CU_ASSERT(out[k]->have == 1 && out[k]->handles[0] == got);
	CU_ASSERT(most <= MAX);
	CU_ASSERT_EQUAL(got, N - MAX);
	CU_ASSERT_EQUAL(sms_parts_pending(r), MAX);
	talloc_free(tmp);
	talloc_free(r);
}

static const CU_TestInfo tests[] = {
	{ "udh", test_udh },
	{ "malformed UDH: same through both transports", test_both_transports },
	{ "reassembly", test_reasm },
	{ "characters split across parts", test_split_characters },
	{ "bound", test_bound },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("sms_parts", tests, &ctx);
}
