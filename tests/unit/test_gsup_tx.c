/* GSUP messages for the HLR in buffers sized for them (gsup_tx): the largest USSD screen
 * Guichet sends encodes, decodes back the same, leaves room for the IPA headers, and takes a
 * buffer a tenth of libosmo-gsup-client's 4,000 octets; other kinds are refused rather than
 * risk a msgb overflow (an abort in libosmocore). */
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/msgb.h>
#include <osmocom/gsm/gsup.h>
#include <osmocom/gsm/protocol/ipaccess.h>

#include "guichet/gsup_tx.h"
#include "guichet/ss_codec.h"
#include "unit_main.h"

static void check_ss(size_t ss_len, size_t want_max)
{
	uint8_t comp[255];
	struct osmo_gsup_message m = {
		.message_type = OSMO_GSUP_MSGT_PROC_SS_RESULT,
		.session_id = 0xfffffffe,
		.session_state = OSMO_GSUP_SESSION_STATE_END,
		.cause = 0x11,
		.message_class = OSMO_GSUP_MESSAGE_CLASS_USSD,
		.ss_info = comp,
		.ss_info_len = ss_len,
	}, back;
	struct msgb *msg;

	memset(comp, 0xa5, sizeof(comp));
	OSMO_STRLCPY_ARRAY(m.imsi, "001010123456789");
	msg = gsup_tx_encode(&m);
	CU_ASSERT_FATAL(msg != NULL);
	CU_ASSERT(msg->data_len <= want_max);
	CU_ASSERT((size_t)msgb_headroom(msg) >= sizeof(struct ipaccess_head) +
					  sizeof(struct ipaccess_head_ext));
	CU_ASSERT_EQUAL(osmo_gsup_decode(msgb_data(msg), msgb_length(msg), &back), 0);
	CU_ASSERT_EQUAL(back.message_type, m.message_type);
	CU_ASSERT_STRING_EQUAL(back.imsi, m.imsi);
	CU_ASSERT_EQUAL(back.session_id, m.session_id);
	CU_ASSERT_EQUAL(back.session_state, m.session_state);
	CU_ASSERT_EQUAL(back.ss_info_len, ss_len);
	CU_ASSERT(back.ss_info && memcmp(back.ss_info, comp, ss_len) == 0);
	/* The IPA headers go in front (osmo_gsup_client_send does this). */
	msgb_push(msg, sizeof(struct ipaccess_head) + sizeof(struct ipaccess_head_ext));
	msgb_free(msg);
}

static void test_screen(void)
{
	/* The largest component ss_codec makes: a tenth of 4,000 octets at most. */
	check_ss(SS_COMPONENT_MAX, 400);
	check_ss(1, 400);
	/* The largest a TLV can hold still fits (no msgb overflow). */
	check_ss(255, 600);
}

static void test_refused(void)
{
	uint8_t big[300] = { 0 };
	struct osmo_gsup_message m = { .message_type = OSMO_GSUP_MSGT_UPDATE_LOCATION_REQUEST };

	OSMO_STRLCPY_ARRAY(m.imsi, "001010123456789");
	CU_ASSERT_PTR_NULL(gsup_tx_encode(&m));
	CU_ASSERT_EQUAL(gsup_tx_size(&m), 0);
	m.message_type = OSMO_GSUP_MSGT_PROC_SS_REQUEST;
	m.ss_info = big;
	m.ss_info_len = sizeof(big);
	CU_ASSERT_PTR_NULL(gsup_tx_encode(&m));
	/* An IMSI libosmogsm cannot encode. */
	m.ss_info_len = 10;
	OSMO_STRLCPY_ARRAY(m.imsi, "12x");
	CU_ASSERT_PTR_NULL(gsup_tx_encode(&m));
}

static const CU_TestInfo tests[] = {
	{ "USSD screens", test_screen },
	{ "refused", test_refused },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("gsup_tx", NULL, NULL, tests);
}
