/* What the router's own files share (router.c and ussd_dialogue.c); transports use
 * router.h, never this. Each function works on the router's store, flows and clock. */
#ifndef GUICHET_ROUTER_RUN_H
#define GUICHET_ROUTER_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/timer.h>
#include "guichet/clock.h"
#include "guichet/engine.h"
#include "guichet/guard.h"
#include "guichet/router.h"

struct flow_stats;
struct guard;
struct rate_ctr_group;
struct outbox;
struct ussd_dialogues;

struct router {
	void *ctx;
	struct router_config cfg;
	struct store *st;
	struct call_port calls;
	struct flow_set *flows;
	struct llist_head flowsets;
	struct ussd_dialogues *dlg;	/* the USSD dialogues (ussd_dialogue.h) */
	struct outbox *ob;	/* the SMS transports and the queue they take from */
	/* The outbox's marks and SMS call outcomes are written together once per loop
	 * iteration: one transaction, one fsync for all (flush_writes) */
	struct osmo_timer_list flush_timer;
	bool flush_now;		/* flush_timer is due for something that answers someone (after
				 * this iteration, or group_add's wait), not for marks alone */
	int64_t flush_at_us;	/* when flush_timer is due (osmo_gettimeofday) */
	/* The writes that answer someone waiting for the group write (group_add), and when
	 * the last commit of received messages or of a group write was (osmo_gettimeofday). */
	unsigned group_units;
	int64_t group_last_us;
	int64_t last_call_us;	/* when the last SMS call started (osmo_gettimeofday) */
	bool group_waited;	/* the writes waiting were held for company (group_add) */
	unsigned group_low;	/* waits in a row that brought less than GROUP_YIELD_MIN */
	int64_t group_probe_us;	/* not waiting: when to try again (flush_writes) */
	unsigned sms_calls;	/* SMS calls started, their outcome not back yet */
	struct llist_head results;	/* struct call_result, SMS calls answered, not yet written */
	struct llist_head intake;	/* struct intake_batch, received, not yet written */
	struct llist_head intake_told;	/* written, their senders being told (intake_done) */
	/* struct receipt_wait: receipts handed with router_sms_receipt_later, waiting for a
	 * commit (receipts); those the current flush writes (receipts_told). */
	struct llist_head receipts, receipts_told;
	int64_t last_purge_ms;
	int64_t last_offer_ms;		/* router_tick's last unprompted outbox offer */
	int64_t last_orphans_ms;	/* router_tick's last look for gone hosts' waits */
	int64_t clock_shift_s;	/* added to the time the engine is given (guichet test's wait:) */
	struct rate_ctr_group *ctrs;	/* enum router_ctr */
	struct flow_stats *flow_ctrs;	/* per procedure (flow_stats.h) */
	char *ussd_text;	/* the last transport screen handed out (ussd_sink_text) */
	struct guard *guard;	/* NULL: no limits (tests, guichet simulate) */
	const struct notify_config *notify;	/* STOP/START words; NULL: none */
	void (*sched_kick)(void *data);	/* told when a flow scheduled something; NULL: none */
	void *sched_kick_data;
	bool sched_dirty;		/* a flow scheduled or cancelled in this transaction */
	/* Store health, for one journal line per change and STATUS= (store_result). */
	bool store_failing;	/* the last write failed */
	bool store_lost;	/* its file was removed or replaced: nothing is taken any more */
	unsigned long store_failures;	/* failed writes since the last success */
	char store_error[200];
};

/* On the clock the scheduler compares send_at with (clock_wall_ms), not time(): glibc's
 * time() reads the coarse clock, which can still say the last second a few milliseconds
 * into the next, and a reminder "+5s" would then come due a second early. */
static inline int64_t now_s(void)
{
	return clock_wall_ms() / 1000;
}


/* ---- shared by router.c, router_send.c, router_session.c, router_sink.c ---- */

/* Where a session was before a step, for log_outcome: only the names (a whole session_copy
 * per step, variables and all, was a good part of a USSD screen's CPU). */
struct step_before {
	char flow[SESSION_NAME_MAX];
	char step[SESSION_NAME_MAX];
};

/* A call to start once the transaction that asked for it committed. */
struct call_req {
	char *key, *via;
	struct engine_call call;
};

/* Every write transaction's outcome (what: the write, for the journal): logged once per
 * change, for STATUS=. */
void router_store_result(struct router *r, bool ok, const char *what);
/* On a shared store: the sessions waiting for a call of a host that is gone take the flow's
 * error way here, as this host's own do after its restart (store_ops.session_orphans). */
void router_recover_orphans(struct router *r);
/* After a commit: the scheduler looks again when a flow scheduled something. */
void router_sched_kick(struct router *r);
void router_start_calls(struct router *r, enum channel ch, struct call_req *calls, unsigned n);
void router_before_keep(struct step_before *b, const struct session *s);
/* After each engine step: the journal's "session started/ended" lines and the per-flow
 * counters. */
void router_observe_step(struct router *r, const struct step_before *before,
			 const struct session *after, const struct engine_out *out);
/* A journal line for something the cost guard decided about number (masked). */
void router_guard_log(int level, const char *number, enum guard_reason why, const char *fmt,
		      const char *detail);
/* Inside the caller's transaction: the reply for an SMS session (1: the guard refused it,
 * nothing stored), and what a step scheduled or cancelled (to: the person's number). */
int router_queue_reply(struct router *r, const char *via, const char *to, const char *text,
		       bool in_procedure);
int router_flow_sends(struct router *r, const struct session *s, const struct engine_out *out,
		      const char *to, const char *via);
/* Inside the caller's transaction: STOP/START remembered; the guard's say on inbound in_id
 * (1: the engine may run, 0: stored and done, -1: store error); one SMS event for a
 * session (key_in NULL: "sms:<from>"), the calls to start after the commit added to *calls,
 * *secret set when the text answered a secret question. 0 or -1. */
int router_consent_word(struct router *r, const char *from, const char *text);
int router_sms_admit(struct router *r, void *ctx, int64_t in_id, const char *via,
		     const char *from, const char *text);
int router_sms_event(struct router *r, void *ctx, const char *via, const char *from,
		     const struct engine_input *in, const char *key_in, struct call_req **calls,
		     unsigned *n_calls, bool *secret);

const struct router_config *router_config(const struct router *r);
/* The time the engine is given: now, moved by router_shift_clock. Unix seconds. */
int64_t router_now(const struct router *r);
/* The flow set a session runs on (the one it started on, if still kept). */
const struct flow_set *router_flows_for(struct router *r, const struct session *s);
/* Frees the flow sets no session can still be on (now: unix seconds). */
void router_retire_flowsets(struct router *r, int64_t now);
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

/* ---- the group write (router_group.c) and the intake (router_intake.c) ---- */

/* Now, in microseconds, on the clock the loop's timers run on (osmo_gettimeofday, which
 * tests can drive). */
int64_t router_loop_us(void);
/* The group write's timer, at router creation. */
void router_group_init(struct router *r);
/* n writes that answer someone (received messages, a call's outcome) wait for the group
 * write: it runs after this iteration or, while calls are coming back, at most once per
 * period (router_group.c says why). */
void router_group_add(struct router *r, unsigned n);
/* The outbox has marks to write: they ride along with the next group write, or go on their
 * own a little later (the outbox's kick). */
void router_flush_soon(void *r);
/* A receipts sender going away: its pending receipts are written, nobody is told. */
void router_receipts_cancel(struct router *r, void *sdata);
/* Inside the group write's transaction: every message waiting in r->intake through the
 * engine. 0, or -1: the transaction is lost. */
int router_intake_apply_waiting(struct router *r, void *ctx, struct call_req **calls,
				unsigned *n_calls);
/* After the group write: each waiting batch's sender told (group_ok), or each batch
 * written alone and its sender told how that went. */
void router_intake_done(struct router *r, bool group_ok);

#endif
