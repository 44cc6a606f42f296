/* The router's side of the USSD dialogues: one session per dialogue, in memory (the network
 * forgets a dialogue within minutes anyway), hung on the dialogue's one entry in the USSD
 * dialogue table (ussd_table.h), found by the dialogue id the transport gives. Each
 * request runs the engine and owes the network one screen; a back-end call slower than
 * ussd_answer_ms gets the step's wait text and the answer follows by SMS, or the common
 * error. The router owns the table (router_ussd_request/abort forward here) and gives it to
 * the transports in its sink (router_ussd_sink). */
#ifndef GUICHET_USSD_DIALOGUE_H
#define GUICHET_USSD_DIALOGUE_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/router.h"

struct ussd_dialogues;
struct ussd_table;
struct vars;

/* Under ctx, with the table; freeing it stops every dialogue's timer (no screen is sent). */
struct ussd_dialogues *ussd_dialogues_create(void *ctx, struct router *r);
struct ussd_table *ussd_dialogues_table(const struct ussd_dialogues *t);
void ussd_dialogue_request(struct ussd_dialogues *t, const struct ussd_req *req,
			   ussd_reply_fn reply, void *data);
/* The network side is gone; a dialogue whose answer follows by SMS stays until it has. */
void ussd_dialogue_abort(struct ussd_dialogues *t, const char *id);
/* The outcome of the call a dialogue's step started (router_start_call with CHANNEL_USSD):
 * dropped when the dialogue is gone. */
void ussd_dialogue_call_done(struct ussd_dialogues *t, const char *id, uint32_t call_id,
			     bool ok, const struct vars *result, const char *error);
/* Dialogues the router holds a session for. */
unsigned ussd_dialogues_open(const struct ussd_dialogues *t);

#endif
