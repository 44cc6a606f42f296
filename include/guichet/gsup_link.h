/* The GSUP link to osmo-hlr: IPA over TCP, as libosmo-gsup-client speaks it, but read and
 * written in batches.
 *
 * libosmo-gsup-client reads one IPA frame per wake-up (two recv() calls: header, then body,
 * each into a freshly zeroed msgb) and sends each message at its own wake-up. Under load that
 * was ~6 system calls per USSD screen, half of Guichet's CPU. Here one recv() takes every
 * frame the kernel holds, each GSUP message is handed to rx straight from that buffer, and
 * the answers written meanwhile leave in one send() once the batch is done.
 *
 * The IPA side as osmo-hlr expects from a client: it answers the server's identity request
 * (ID_GET) with the unit's identity, acknowledges ID_ACK, answers PING with PONG, and sends
 * its own PING every GSUP_LINK_PING_S seconds (no PONG by the next one: the link is dropped).
 * The link counts as up once the identity is given (osmo-hlr routes to the EUSE by that
 * name), and down when the TCP connection goes; it then connects again every
 * GSUP_LINK_RECONNECT_S seconds until destroyed. */
#ifndef GUICHET_GSUP_LINK_H
#define GUICHET_GSUP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osmocom/gsm/gsup.h>
#include <osmocom/gsm/ipa.h>
#include <osmocom/gsm/protocol/ipaccess.h>

#define GSUP_LINK_RECONNECT_S 1
#define GSUP_LINK_PING_S 20
/* Answers not yet taken by the kernel: past this the link is dropped (the HLR stopped
 * reading), rather than growing without bound. */
#define GSUP_LINK_WBUF_MAX (4u << 20)

struct gsup_link;

/* One GSUP message (without its IPA headers), valid during the call only. */
typedef void (*gsup_link_rx_fn)(void *data, const uint8_t *gsup, size_t len);
/* The link came up (identity given) or went down. */
typedef void (*gsup_link_updown_fn)(void *data, bool up);

/* Starts connecting to host:port (a name or an address) as dev (copied), under ctx. NULL when
 * memory runs out; a refused connection is retried, not an error. */
struct gsup_link *gsup_link_create(void *ctx, const char *host, uint16_t port,
				   const struct ipaccess_unit *dev, gsup_link_rx_fn rx,
				   gsup_link_updown_fn updown, void *data);

/* Queues m (a supplementary-service message, see gsup_tx.h) for the HLR: sent at the end of
 * the batch being read, or at the next wake-up. 0, -ENOTCONN when the link is not up,
 * -EINVAL when m does not encode. */
int gsup_link_send(struct gsup_link *l, const struct osmo_gsup_message *m);

bool gsup_link_up(const struct gsup_link *l);

/* Closes the connection without calling updown, and frees l. */
void gsup_link_destroy(struct gsup_link *l);

#endif
