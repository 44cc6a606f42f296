/* GSUP messages for the HLR in buffers sized for them.
 *
 * libosmo-gsup-client's osmo_gsup_client_enc_send() takes a 4,000-octet msgb for every
 * message, and libosmocore zeroes all of it: for a USSD screen of at most ~300 octets that
 * was a fifth of Guichet's instructions per screen. gsup_tx_encode() encodes into a msgb
 * sized from the message itself, with the headroom the IPA headers need, for
 * osmo_gsup_client_send() (which takes it). */
#ifndef GUICHET_GSUP_TX_H
#define GUICHET_GSUP_TX_H

#include <osmocom/core/msgb.h>
#include <osmocom/gsm/gsup.h>

/* Octets in front of the GSUP message for the IPA header and its OSMO extension. */
#define GSUP_TX_HEADROOM 16

/* m, encoded into a new msgb (libosmocore's msgb context) with GSUP_TX_HEADROOM free in
 * front, or NULL when m is not a supplementary-service message (PROC_SS_*: the only kind whose
 * size is bounded here), does not encode, or memory runs out. The caller owns the msgb. */
struct msgb *gsup_tx_encode(const struct osmo_gsup_message *m);

/* The msgb size gsup_tx_encode() allocates for m (headroom included), 0 if it refuses m. */
size_t gsup_tx_size(const struct osmo_gsup_message *m);

#endif
