/* What the router's own files share (router.c and ussd_dialogue.c); transports use
 * router.h, never this. Each function works on the router's store, flows and clock. */
#ifndef GUICHET_ROUTER_RUN_H
#define GUICHET_ROUTER_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/engine.h"
#include "guichet/router.h"

struct guard;

const struct router_config *router_config(const struct router *r);
/* The time the engine is given: now, moved by router_shift_clock. Unix seconds. */
int64_t router_now(const struct router *r);
/* The flow set a session runs on (the one it started on, if still kept). */
const struct flow_set *router_flows_for(struct router *r, const struct session *s);
/* NULL: no cost guard. */
struct guard *router_guard(const struct router *r);
/* The store's file was removed or replaced: nothing new is taken. */
bool router_store_lost(const struct router *r);
void router_count(struct router *r, enum router_ctr which);

/* One engine step on s, with its journal lines (the input at debug, a start or an end). */
void router_step(struct router *r, void *ctx, struct session *s, const struct engine_input *in,
		 struct engine_out *out);
/* Writes what the step scheduled (reminders, receipts) for to, in a transaction of its own. */
void router_sends_write(struct router *r, const struct session *s, const struct engine_out *out,
			const char *to);
/* Queues text for to through via in a transaction of its own, then offers it. */
void router_followup_write(struct router *r, const char *via, const char *to, const char *text);
/* Starts the call the step asked for; its outcome comes back to the session key (SMS) or
 * the dialogue (USSD, ussd_dialogue_call_done). */
void router_start_call(struct router *r, enum channel ch, const char *key, const char *via,
		       const struct engine_call *c, unsigned budget_ms);
/* The common `limited` message for the channel (USSD or SMS), {{contact}} filled in, under
 * ctx: "" for USSD, NULL for SMS when there is none. */
const char *router_limited_text(struct router *r, void *ctx, bool ussd);

#endif
