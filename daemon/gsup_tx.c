/* GSUP messages for the HLR in buffers sized for them: see include/guichet/gsup_tx.h. */
#include <osmocom/gsm/gsup.h>

#include "guichet/gsup_tx.h"

/* Every IE a supplementary-service message can carry besides ss_info and the two names
 * (message type, IMSI, cause, session id and state, message class, ...) fits in 64 octets;
 * 128 leaves room for a libosmogsm that adds one or two. */
#define GSUP_TX_FIXED 128

size_t gsup_tx_size(const struct osmo_gsup_message *m)
{
	switch (m->message_type) {
	case OSMO_GSUP_MSGT_PROC_SS_REQUEST:
	case OSMO_GSUP_MSGT_PROC_SS_RESULT:
	case OSMO_GSUP_MSGT_PROC_SS_ERROR:
		break;
	default:
		return 0;
	}
	/* Each variable IE is a TLV with a one-octet length. */
	if (m->ss_info_len > 255 || m->source_name_len > 255 || m->destination_name_len > 255 ||
	    m->an_apdu.data_len)
		return 0;
	return GSUP_TX_HEADROOM + GSUP_TX_FIXED + 2 + m->ss_info_len + 2 + m->source_name_len +
	       2 + m->destination_name_len;
}

struct msgb *gsup_tx_encode(const struct osmo_gsup_message *m)
{
	size_t size = gsup_tx_size(m);
	struct msgb *msg;

	if (!size)
		return NULL;
	msg = msgb_alloc_headroom((uint16_t)size, GSUP_TX_HEADROOM, "GSUP Tx");
	if (!msg)
		return NULL;
	if (osmo_gsup_encode(msg, m) < 0) {
		msgb_free(msg);
		return NULL;
	}
	return msg;
}
