/* Fuzz target: GSM 04.80 components as osmo-hlr forwards them in GSUP's ss_info, through
 * ss_component_decode() (BER, DCS, 7-bit unpacking, UCS-2 and Latin-1); a decoded USSD
 * string encoded again must decode to the same text. */
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/ss_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ss_component c, c2;
	uint8_t out[SS_COMPONENT_MAX];
	uint8_t *sept;
	bool cut;

	if (ss_component_decode(data, size, &c) == 0) {
		FUZZ_ASSERT(!c.has_text || memchr(c.text, '\0', sizeof(c.text)));
		if (c.has_text) {
			int n = ss_ussd_encode(out, sizeof(out), SS_CTYPE_RETURN_RESULT, c.invoke_id,
					       SS_OP_PROCESS_USS_REQ, c.text, 182, &cut);
			FUZZ_ASSERT(n > 0);
			FUZZ_ASSERT(ss_component_decode(out, (size_t)n, &c2) == 0);
			FUZZ_ASSERT(c2.has_text && c2.invoke_id == c.invoke_id);
			/* A trailing CR is the 7-bit padding's own ambiguity (03.38 6.1.2.3.1); the
			 * empty string is sent as one space. */
			size_t l = strlen(c.text);
			if (!cut && l && c.text[l - 1] != '\r')
				FUZZ_ASSERT(!strcmp(c2.text, c.text));
		}
	}
	sept = malloc(size * 8 / 7 + 1);
	size_t ns = ss_septets_unpack(data, size, sept);
	FUZZ_ASSERT(ns <= size * 8 / 7);
	free(sept);
	int n = ss_return_error_encode(out, sizeof(out), size ? data[0] : 0, SS_ERR_SYSTEM_FAILURE);
	FUZZ_ASSERT(n == 8 && ss_component_decode(out, 8, &c) == 0);
	return 0;
}
