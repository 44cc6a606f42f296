/* GSM 04.80 USSD components: round trips, and agreement with libosmogsm's parser (the one
 * osmo-hlr runs on every component it routes). */
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/msgb.h>
#include <osmocom/core/utils.h>
#include <osmocom/gsm/gsm0480.h>
#include <osmocom/gsm/protocol/gsm_04_80.h>

#include "guichet/ss_codec.h"
#include "guichet/text.h"
#include "unit_main.h"

static void roundtrip(uint8_t ctype, uint8_t opcode, const char *text, uint8_t want_dcs,
		      const char *want_text, bool want_trunc, unsigned max_chars)
{
	uint8_t buf[SS_COMPONENT_MAX];
	struct ss_component c;
	struct ss_request req;
	bool trunc = !want_trunc;
	int n = ss_ussd_encode(buf, sizeof(buf), ctype, 7, opcode, text, max_chars, &trunc);

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT(n <= 129);
	CU_ASSERT(buf[1] <= 127);
	CU_ASSERT_EQUAL(trunc, want_trunc);
	CU_ASSERT_EQUAL(ss_component_decode(buf, (size_t)n, &c), 0);
	CU_ASSERT_EQUAL(c.ctype, ctype);
	CU_ASSERT_EQUAL(c.invoke_id, 7);
	CU_ASSERT_EQUAL(c.opcode, opcode);
	CU_ASSERT_EQUAL(c.dcs, want_dcs);
	CU_ASSERT(c.has_text);
	CU_ASSERT_STRING_EQUAL(c.text, want_text);

	/* osmo-hlr must accept it, and see a USSD operation. */
	memset(&req, 0, sizeof(req));
	CU_ASSERT_EQUAL(gsm0480_parse_facility_ie(buf, (uint16_t)n, &req), 0);
	CU_ASSERT_EQUAL(req.opcode, opcode);
	CU_ASSERT_EQUAL(req.invoke_id, 7);
	CU_ASSERT_EQUAL(req.ussd_data_dcs, want_dcs);
}

static void test_gsm7_prompt(void)
{
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "1. Acte de naissance\n2. Carte d'identite",
		  SS_DCS_GSM7, "1. Acte de naissance\n2. Carte d'identite", false, 128);
}

static void test_gsm7_accents_final(void)
{
	/* é è à ù are in the default alphabet; € and [ ] use the extension table. */
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, "Déjà reçu? Non: payé 5€ [à l'été]",
		  SS_DCS_UCS2, "Déjà reçu? Non: payé 5€ [à l'été]", false, 128);
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, "Payé 5€ [à l'été] où?",
		  SS_DCS_GSM7, "Payé 5€ [à l'été] où?", false, 128);
}

static void test_ucs2(void)
{
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "Votre numéro de tâche ? « oui »",
		  SS_DCS_UCS2, "Votre numéro de tâche ? « oui »", false, 128);
	/* A character outside the BMP survives as a surrogate pair. */
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "Merci \xf0\x9f\x99\x82", SS_DCS_UCS2,
		  "Merci \xf0\x9f\x99\x82", false, 128);
}

static void test_limits(void)
{
	char text[300], want[300];

	/* 128 GSM-7 characters fit exactly; the 129th is cut. */
	memset(text, 'a', 129);
	text[129] = '\0';
	memcpy(want, text, 128);
	want[128] = '\0';
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, want, SS_DCS_GSM7, want, false, 182);
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, text, SS_DCS_GSM7, want, true, 182);
	/* The screen size from the config cuts sooner. */
	want[20] = '\0';
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, text, SS_DCS_GSM7, want, true, 20);
	/* An escape pair is never split: 127 'a' + '€' (2 septets) -> 127 'a'. */
	memset(text, 'a', 127);
	strcpy(text + 127, "€");
	memcpy(want, text, 127);
	want[127] = '\0';
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, text, SS_DCS_GSM7, want, true, 128);
	/* UCS-2: 56 units at most; a surrogate pair is not split. */
	strcpy(text, "ç");
	for (int i = 1; i < 55; i++)
		strcat(text, "x");
	strcpy(want, text);
	strcat(text, "\xf0\x9f\x99\x82");
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, text, SS_DCS_UCS2, want, true, 128);
	/* Empty text becomes one space (libosmogsm refuses an empty string). */
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "", SS_DCS_GSM7, " ", false, 128);
}

/* Texts longer than the septets the encoder keeps on its stack are still read whole: the
 * alphabet is chosen from the last character too. */
static void test_long_texts(void)
{
	char text[1100], want[200];

	memset(text, 'b', 1000);
	text[1000] = '\0';
	memset(want, 'b', 128);
	want[128] = '\0';
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, text, SS_DCS_GSM7, want, true, 182);
	/* A character GSM-7 lacks at the very end: UCS-2 from the start. */
	strcpy(text + 1000, "\xc5\x93");	/* oe ligature */
	memset(want, 'b', 56);
	want[56] = '\0';
	roundtrip(SS_CTYPE_RETURN_RESULT, SS_OP_PROCESS_USS_REQ, text, SS_DCS_UCS2, want, true, 128);
	/* Around the stack's size, with escapes (each euro sign is 2 septets): 60 fit, 64 of
	 * 260 are kept. */
	text[0] = '\0';
	for (int i = 0; i < 60; i++)
		strcat(text, "\xe2\x82\xac");
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, text, SS_DCS_GSM7, text, false, 128);
	for (int i = 0; i < 200; i++)
		strcat(text, "\xe2\x82\xac");
	memcpy(want, text, 64 * 3);
	want[64 * 3] = '\0';
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, text, SS_DCS_GSM7, want, true, 128);
}

static void test_cr_padding(void)
{
	/* 7 characters leave 7 spare bits: padded with CR, which the decoder drops. */
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "1234567", SS_DCS_GSM7, "1234567", false, 128);
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "12345678", SS_DCS_GSM7, "12345678", false, 128);
	roundtrip(SS_CTYPE_INVOKE, SS_OP_USS_REQUEST, "*4321*1#", SS_DCS_GSM7, "*4321*1#", false, 128);
}

/* What libosmocore builds must decode here (final answers, phone requests). */
static void test_against_libosmocore(void)
{
	struct msgb *m = gsm0480_gen_ussd_resp_7bit(3, "Bonjour, votre demande est prise.");
	struct ss_component c;

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(ss_component_decode(msgb_data(m), msgb_length(m), &c), 0);
	CU_ASSERT_EQUAL(c.ctype, SS_CTYPE_RETURN_RESULT);
	CU_ASSERT_EQUAL(c.invoke_id, 3);
	CU_ASSERT_EQUAL(c.opcode, SS_OP_PROCESS_USS_REQ);
	CU_ASSERT_STRING_EQUAL(c.text, "Bonjour, votre demande est prise.");
	msgb_free(m);

	m = gsm0480_gen_return_error(9, SS_ERR_SYSTEM_FAILURE);
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(ss_component_decode(msgb_data(m), msgb_length(m), &c), 0);
	CU_ASSERT_EQUAL(c.ctype, SS_CTYPE_RETURN_ERROR);
	CU_ASSERT_EQUAL(c.invoke_id, 9);
	CU_ASSERT_EQUAL(c.error_code, SS_ERR_SYSTEM_FAILURE);
	msgb_free(m);

	{
		uint8_t buf[16];
		int n = ss_return_error_encode(buf, sizeof(buf), 4, SS_ERR_SYSTEM_FAILURE);
		struct ss_request req = {0};

		CU_ASSERT_EQUAL(n, 8);
		CU_ASSERT_EQUAL(gsm0480_parse_facility_ie(buf, (uint16_t)n, &req), 0);
	}
}

static void test_malformed(void)
{
	static const uint8_t bad[][12] = {
		{ 0xa1, 0x20, 0x02, 0x01 },		/* length past the end */
		{ 0xa1, 0x03, 0x02, 0x01, 0x01 },	/* invoke without opcode */
		{ 0xa2, 0x05, 0x02, 0x01, 0x01, 0x31, 0x00 },
		{ 0x55, 0x00 },
		{ 0xa1, 0x84, 0xff, 0xff, 0xff, 0xff },
	};
	static const size_t lens[] = { 4, 5, 7, 2, 6 };
	struct ss_component c;
	uint8_t data[SS_USSD_MAX_OCTETS + 1] = { 0 }, out[200];

	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		CU_ASSERT_EQUAL(ss_component_decode(bad[i], lens[i], &c), -1);
	CU_ASSERT_EQUAL(ss_component_decode(NULL, 0, &c), -1);
	/* Too long for short-form lengths, empty, or a buffer too small: refused. */
	CU_ASSERT_EQUAL(ss_component_encode(out, sizeof(out), SS_CTYPE_RETURN_RESULT, 1,
					    SS_OP_PROCESS_USS_REQ, SS_DCS_GSM7, data,
					    SS_USSD_MAX_OCTETS + 1), -1);
	CU_ASSERT_EQUAL(ss_component_encode(out, sizeof(out), SS_CTYPE_INVOKE, 1,
					    SS_OP_USS_REQUEST, SS_DCS_GSM7, data, 0), -1);
	CU_ASSERT_EQUAL(ss_component_encode(out, 20, SS_CTYPE_INVOKE, 1, SS_OP_USS_REQUEST,
					    SS_DCS_GSM7, data, 40), -1);
}

static void test_pack(void)
{
	uint8_t s[16], o[16], back[20];
	size_t n;

	/* "hellohello" from 03.38 examples: E8 32 9B FD 46 97 D9 EC 37 */
	memcpy(s, "hellohello", 10);
	CU_ASSERT_EQUAL(ss_septets_pack(s, 10, o, sizeof(o)), 9);
	CU_ASSERT_EQUAL(o[0], 0xe8);
	CU_ASSERT_EQUAL(o[8], 0x37);
	n = ss_septets_unpack(o, 9, back);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(memcmp(back, s, 10), 0);
	CU_ASSERT_EQUAL(ss_septets_pack(s, 10, o, 8), -1);
}

/* Every septet between two letters decodes as text_gsm7_to_utf8 reads it (the decoder copies
 * the ASCII-looking ones itself). */
static void test_decode_each_septet(void)
{
	for (unsigned v = 0; v < 128; v++) {
		uint8_t sept[3] = { 'a', (uint8_t)v, 'b' }, packed[8], comp[SS_COMPONENT_MAX];
		struct ss_component c;
		char *want;
		int n, k;

		if (v == 0x1b)
			continue;	/* an escape needs its pair */
		n = ss_septets_pack(sept, 3, packed, sizeof(packed));
		CU_ASSERT_FATAL(n > 0);
		k = ss_component_encode(comp, sizeof(comp), SS_CTYPE_INVOKE, 1,
					SS_OP_PROCESS_USS_REQ, SS_DCS_GSM7, packed, (size_t)n);
		CU_ASSERT_FATAL(k > 0);
		CU_ASSERT_EQUAL_FATAL(ss_component_decode(comp, (size_t)k, &c), 0);
		want = text_gsm7_to_utf8(NULL, sept, 3);
		CU_ASSERT_FATAL(want != NULL);
		CU_ASSERT(c.has_text);
		CU_ASSERT_STRING_EQUAL(c.text, want);
		talloc_free(want);
	}
}

/* Every ASCII character between two letters encodes as text_utf8_to_gsm7 converts it (the
 * encoder takes the ASCII-looking ones as they are). */
static void test_encode_each_ascii(void)
{
	for (unsigned ch = 1; ch < 128; ch++) {
		char text[4] = { 'a', (char)ch, 'b', 0 };
		uint8_t got[SS_USSD_MAX_OCTETS], sept[8], want[8], dcs;
		bool trunc;
		int n = ss_ussd_string_encode(text, 128, got, &dcs, &trunc);
		int k = text_utf8_to_gsm7(text, sept, sizeof(sept));

		if (k < 0) {
			CU_ASSERT_EQUAL(dcs, SS_DCS_UCS2);	/* no GSM-7 for it */
			continue;
		}
		CU_ASSERT_EQUAL(dcs, SS_DCS_GSM7);
		k = ss_septets_pack(sept, (size_t)k, want, sizeof(want));
		CU_ASSERT_FATAL(k > 0);
		CU_ASSERT_EQUAL(n, k);
		CU_ASSERT(n == k && memcmp(got, want, (size_t)k) == 0);
	}
}

static const CU_TestInfo tests[] = {
	{ "GSM-7 prompt", test_gsm7_prompt },
	{ "GSM-7 accents, final", test_gsm7_accents_final },
	{ "UCS-2", test_ucs2 },
	{ "limits and truncation", test_limits },
	{ "long texts", test_long_texts },
	{ "each septet decoded", test_decode_each_septet },
	{ "each ASCII character encoded", test_encode_each_ascii },
	{ "CR padding", test_cr_padding },
	{ "against libosmocore", test_against_libosmocore },
	{ "malformed", test_malformed },
	{ "septet packing", test_pack },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("ss_codec", NULL, NULL, tests);
}
