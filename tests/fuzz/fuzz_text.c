/* Fuzz target: UTF-8 -> GSM-7 / UCS-2, measures, SMS parts, folding, and the decoders of what
 * phones send (septets, UCS-2, Latin-1). Checks the documented round trips. */
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/smpp.h"
#include "guichet/ss_codec.h"
#include "guichet/text.h"

/* True when s is well-formed UTF-8 without surrogates or overlongs. */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, n, cp;
		if (c < 0x80) { p++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
		else return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

static void check_split(void *ctx, const char *s, enum text_coding coding)
{
	char **parts = NULL;
	unsigned n = text_split_sms(ctx, s, coding, &parts);

	if (coding == TEXT_GSM7 && !text_is_gsm7(s)) {
		FUZZ_ASSERT(n == 0);
		return;
	}
	FUZZ_ASSERT(n > 0 && parts);
	char *joined = talloc_strdup(ctx, "");
	for (unsigned i = 0; i < n; i++) {
		FUZZ_ASSERT(parts[i]);
		joined = talloc_strdup_append(joined, parts[i]);
	}
	FUZZ_ASSERT(parts[n] == NULL);
	FUZZ_ASSERT(!strcmp(joined, s));
	talloc_free(parts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_text");
	char *s = fuzz_cstr(data, size);
	size_t len = strlen(s);
	struct text_measure m;
	bool gsm7 = text_is_gsm7(s), utf8 = valid_utf8(s);

	text_measure(s, &m);
	FUZZ_ASSERT((m.coding == TEXT_GSM7) == gsm7);
	FUZZ_ASSERT(m.parts >= 1);
	FUZZ_ASSERT(m.chars == text_chars(s));
	/* text_fits answers short texts without measuring: it must say what the measure says. */
	for (unsigned p = 1; p <= 4; p++) {
		struct text_budget b = text_budget_sms(p);
		FUZZ_ASSERT(text_fits(s, &b) == (m.parts <= p));
	}
	struct text_budget ub = text_budget_ussd(size ? data[0] : 182);
	/* (160 septets, 70 units is one SMS's budget, which text_fits counts in parts) */
	FUZZ_ASSERT(text_fits(s, &ub) == (ub.gsm7_units == 160 ? m.parts <= 1 :
		    m.units <= (m.coding == TEXT_GSM7 ? ub.gsm7_units : ub.ucs2_units)));

	check_split(ctx, s, TEXT_GSM7);
	check_split(ctx, s, TEXT_UCS2);

	char *folded = text_fold_gsm7(ctx, s);
	FUZZ_ASSERT(folded);
	if (gsm7)
		FUZZ_ASSERT(!strcmp(folded, s));

	/* UTF-8 -> septets -> UTF-8 gives the text back. */
	uint8_t *sept = talloc_size(ctx, 2 * len + 1);
	int ns = text_utf8_to_gsm7(s, sept, 2 * len + 1);
	FUZZ_ASSERT((ns >= 0) == gsm7);
	if (ns >= 0) {
		char *back = text_gsm7_to_utf8(ctx, sept, (size_t)ns);
		FUZZ_ASSERT(back && !strcmp(back, s));
	}
	/* UTF-8 -> UCS-2 -> UTF-8 gives valid UTF-8 back unchanged. */
	uint8_t *ucs = talloc_size(ctx, 4 * len + 2);
	int nu = text_utf8_to_ucs2be(s, ucs, 4 * len + 2);
	if (utf8) {
		FUZZ_ASSERT(nu >= 0);
		char *back = text_ucs2be_to_utf8(ctx, ucs, (size_t)nu);
		FUZZ_ASSERT(back && !strcmp(back, s));
	}
	/* Raw bytes as a phone may send them. */
	FUZZ_ASSERT(text_gsm7_to_utf8(ctx, data, size));
	FUZZ_ASSERT(text_ucs2be_to_utf8(ctx, data, size));
	FUZZ_ASSERT(text_latin1_to_utf8(ctx, data, size));

	/* The SMPP and USSD encoders on the same text. */
	struct smpp_part *parts = NULL;
	unsigned np = smpp_encode_sms(ctx, s, TEXT_UCS2, (uint8_t)size, &parts);
	if (utf8)
		FUZZ_ASSERT(np > 0);
	np = smpp_encode_sms(ctx, s, TEXT_GSM7, (uint8_t)size, &parts);
	FUZZ_ASSERT((np > 0) == gsm7);
	uint8_t comp[SS_COMPONENT_MAX];
	bool cut;
	int cl = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_RETURN_RESULT, 1,
				SS_OP_PROCESS_USS_REQ, s, size ? data[size - 1] : 182, &cut);
	if (cl > 0) {
		struct ss_component c;
		FUZZ_ASSERT(ss_component_decode(comp, (size_t)cl, &c) == 0);
	}
	talloc_free(ctx);
	free(s);
	return 0;
}
