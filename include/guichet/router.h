/* The router: the one place where transports, the store, the engine and the back-end relay
 * meet. A transport hands it an event; it loads the session, runs the engine, stores the new
 * session and the replies, and hands the actions out (replies to the outbox or the USSD
 * dialogue, calls to the back-end). Transports never call the engine themselves. */
#ifndef GUICHET_ROUTER_H
#define GUICHET_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/engine.h"
#include "guichet/store.h"

struct router;

/* ---- the back-end port: how the router makes calls (real relay or canned fixtures) ---- */

/* Called once per call, on the loop. ok=false: error is a short reason for the journal
 * (never containing a person's input). result is valid only during the callback. */
typedef void (*call_done_fn)(void *data, bool ok, const struct vars *result, const char *error);

struct call_port {
	/* Starts op ("backend.operation") with args; done is called exactly once, later (never
	 * from inside call()). budget_ms bounds the whole call, retries included. Returns 0, or
	 * -1 when op is unknown (done is then not called). */
	int (*call)(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		    call_done_fn done, void *data);
	void *impl;
};

/* ---- SMS transports (modem pool, SMPP binds) ---- */

struct sms_in {
	const char *via;	/* the transport instance the person wrote to */
	const char *from;
	const char *text;	/* complete (reassembled), UTF-8 */
	int64_t received;	/* unix seconds */
	const char *dedup;	/* the transport's identity for this message, or NULL */
};

struct sms_transport {
	const char *name;	/* modem or SMSC name, as in the config ("via") */
	/* Offer one queued reply. Returns 0 when taken (the transport later calls
	 * router_sms_sent or router_sms_failed with m->id), -1 when it cannot take more now
	 * (it calls router_sms_ready when it can). */
	int (*send)(struct sms_transport *t, const struct store_outbound *m);
	/* Optional: how many more replies send() would take now. The router takes no more
	 * than that out of the queue, so replies are not marked taken only to come back. */
	unsigned (*room)(struct sms_transport *t);
	/* Optional: transports of one group ("modem") stand in for each other: replies due
	 * through one that is down go out through another of its group that is up. */
	const char *group;
	void *priv;
	bool up;		/* may be offered replies */
};

/* Hands n received messages to the router, which stores them and their replies durably in
 * one transaction before it returns. Returns 0 once they are committed: the transport may
 * then delete them from the SIM / acknowledge them to the SMSC; -1 when the store failed
 * (do not delete anything then; hand them again later). */
int router_sms_received(struct router *r, const struct sms_in *msgs, unsigned n);
/* Called once messages handed to router_sms_receive_later are committed (ok), or could not
 * be (ok false: acknowledge nothing, the sender hands them again). */
typedef void (*sms_stored_fn)(void *sdata, bool ok);
/* Like router_sms_received, but the messages (copied) join those every transport hands in
 * this loop iteration and the iteration's other writes (call outcomes, sent marks): one
 * transaction, one fsync, committed after the iteration. stored(sdata, ok) is called once
 * they are committed: with the group (ok), or, when the group write failed, in a
 * transaction of their own (ok: whether that one committed). Never before, and never from
 * inside this call. 0, or -1 when nothing was kept (out of memory: answer as for a failed
 * store). */
int router_sms_receive_later(struct router *r, const struct sms_in *msgs, unsigned n,
			     sms_stored_fn stored, void *sdata);
/* Forgets the messages handed with sdata and not written yet (their sender is going away
 * without acknowledging them: its SMSC delivers them again), and their stored callback. */
void router_sms_receive_cancel(struct router *r, void *sdata);
void router_sms_register(struct router *r, struct sms_transport *t);
/* Forgets t: the router never touches it again (offers, group stand-ins). A transport calls
 * this before it frees t; replies due through it stay queued for its next registration. */
void router_sms_unregister(struct router *r, struct sms_transport *t);
void router_sms_ready(struct router *r, struct sms_transport *t);
void router_sms_sent(struct router *r, int64_t id);
/* Delivery status, written with the next batch of sent marks. The SMSC's id (remote) for a
 * part of reply id sent through via: kept in the store, so that a receipt after a restart
 * finds it. A delivery receipt: id > 0 when the transport still knows the message, else 0
 * and it is found by via + remote; a message sent first (the schedule) becomes delivered
 * or failed (stat, e.g. UNDELIV, as the reason). */
void router_sms_remote_id(struct router *r, int64_t id, const char *via, const char *remote);
void router_sms_receipt(struct router *r, int64_t id, const char *via, const char *remote,
			bool delivered, const char *stat);
/* Like router_sms_receipt, for a transport that must keep the receipt until it is written
 * (a status report on the SIM, a deliver_sm not answered yet): stored(sdata, true) is called
 * once a commit has written it, never before and never from inside this call (a write that
 * fails waits for the next one). 0, or -1 when nothing was kept (out of memory: keep the
 * receipt, hand it again later). router_sms_receive_cancel(sdata) forgets the callback. */
int router_sms_receipt_later(struct router *r, int64_t id, const char *via, const char *remote,
			     bool delivered, const char *stat, sms_stored_fn stored, void *sdata);
void router_sms_failed(struct router *r, int64_t id, bool permanent, const char *why);

/* ---- USSD dialogues (osmo-hlr EUSE, aggregator callbacks) ---- */

/* reply: one screen; expects_answer: CONTINUE vs END. Called exactly once per request. */
typedef void (*ussd_reply_fn)(void *data, const char *text, bool expects_answer);

struct ussd_req {
	const char *via;	/* "gsup", "http" */
	const char *dialogue;	/* unique dialogue id (e.g. IMSI + session id) */
	const char *from;	/* MSISDN when known (for an SMS follow-up), else IMSI */
	const char *text;	/* the dialled code at begin, then each answer */
	bool begin;
	/* Aggregator dialogues on a store shared by several hosts (ussd_sink.shares): */
	const char *code;	/* the service code dialled */
	unsigned share_s;	/* > 0: the dialogue's state is shared, kept this long after
				 * each screen (the transport's idle timeout) */
	bool resume;		/* text is the aggregator's whole text, to be read against
				 * the shared state: the dialogue may have gone on elsewhere */
};

void router_ussd_request(struct router *r, const struct ussd_req *req, ussd_reply_fn reply,
			 void *data);
/* The network side is gone (END from the phone, link lost, guard timeout). */
void router_ussd_abort(struct router *r, const char *dialogue);

/* ---- sinks: what a transport is given instead of the router itself ----
 * Transports call these function pointers, so they can be tested against a stub and stay
 * ignorant of flows. router_sms_sink()/router_ussd_sink() give the router's own. */

struct sms_sink {
	int (*received)(void *data, const struct sms_in *msgs, unsigned n);
	void (*sent)(void *data, int64_t id);
	void (*failed)(void *data, int64_t id, bool permanent, const char *why);
	void (*ready)(void *data, struct sms_transport *t);
	void (*registered)(void *data, struct sms_transport *t);
	void (*unregistered)(void *data, struct sms_transport *t);	/* before t is freed */
	/* Optional: delivery status (router_sms_remote_id, router_sms_receipt). */
	void (*remote_id)(void *data, int64_t id, const char *via, const char *remote);
	void (*receipt)(void *data, int64_t id, const char *via, const char *remote,
			bool delivered, const char *stat);
	/* Optional: router_sms_receive_later and router_sms_receive_cancel (a transport that
	 * acknowledges from a callback, like SMPP; without them, received is used). */
	int (*received_later)(void *data, const struct sms_in *msgs, unsigned n,
			      sms_stored_fn stored, void *sdata);
	void (*received_cancel)(void *data, void *sdata);
	/* Optional: router_sms_receipt_later (forgotten with received_cancel). */
	int (*receipt_later)(void *data, int64_t id, const char *via, const char *remote,
			     bool delivered, const char *stat, sms_stored_fn stored, void *sdata);
	void *data;
};

/* Screens a USSD transport shows on its own, not as the answer to a request. Their words are
 * the flows' common messages, so they are translated and measured like every other text. */
enum ussd_text {
	USSD_TEXT_EXPIRED,	/* the dialogue was silent too long (`expired`) */
	USSD_TEXT_INVALID,	/* a request that belongs to no dialogue (`invalid_session`) */
	USSD_TEXT_UNAVAILABLE,	/* the service is stopping (`backend_error`) */
	USSD_TEXT_SATURATED,	/* a new dialogue past max_dialogues (`saturated`) */
};

struct ussd_table;

struct ussd_sink {
	void (*request)(void *data, const struct ussd_req *req, ussd_reply_fn reply, void *rdata);
	void (*abort)(void *data, const char *dialogue);
	/* Optional: the text of a transport's own screen (see ussd_sink_text). */
	const char *(*text)(void *data, enum ussd_text which);
	void *data;
	/* Optional: the USSD dialogue table the sink looks dialogues up in (ussd_table.h): the
	 * transport opens each dialogue's one entry there. NULL (a test stub): its own. */
	struct ussd_table *table;
	/* The router shares aggregator dialogues with the other hosts of its store
	 * (PostgreSQL): a request that continues a dialogue is the router's to read against
	 * the shared state (resume), not against the history the transport holds, which
	 * another host may have gone past; one the transport does not hold may continue too. */
	bool shares;
};

/* The screen `which` for a transport: the sink's text (the common messages, French, the
 * USSD version), or a built-in French one when the sink has none (test stubs). Valid until
 * the transport returns to the loop: copy or send it at once. */
const char *ussd_sink_text(const struct ussd_sink *sink, enum ussd_text which);

struct sms_sink router_sms_sink(struct router *r);
struct ussd_sink router_ussd_sink(struct router *r);

/* ---- life cycle ---- */

struct router_config {
	struct engine_channel sms, ussd;
	unsigned call_budget_ms;	/* bound on a call for an SMS reply */
	unsigned ussd_answer_ms;	/* after this, a USSD screen gets the step's wait text */
	const char *sms_followup_via;	/* SMS transport for USSD follow-ups; NULL: the first registered */
	unsigned retention_s;
	/* router_tick offers the outbox at most this often (0: at every tick): for replies no
	 * event announces (a retry's backoff over; without store_ops.watch, another host's). */
	unsigned outbox_poll_ms;
};

struct router *router_create(void *ctx, const struct router_config *cfg, struct store *st,
			     struct call_port calls);
/* The cost guard asked before the engine and before the outbox (guard.h); NULL for none.
 * The router does not own it. Reads the day's spend from the store into it: call again after
 * guard_configure (a reload) so that new caps see what was already spent. */
struct guard;
void router_set_guard(struct router *r, struct guard *g);
/* Installs a new flow set; sessions already running keep theirs. */
void router_set_flows(struct router *r, struct flow_set *fs);
/* The flow set new sessions start on (the last installed). */
const struct flow_set *router_flows(const struct router *r);
/* Moves the clock the engine sees forward by seconds (timeouts), for `guichet test`'s time
 * jumps; the daemon never calls it. */
void router_shift_clock(struct router *r, int64_t seconds);
/* After a restart: replays inbound messages stored but not answered, resumes sessions. */
int router_recover(struct router *r, int64_t now);
/* Periodic work on the loop: expire sessions, purge, offer due replies. */
void router_tick(struct router *r, int64_t now_ms);
/* Writes what waits for the group write now: received messages (router_sms_receive_later),
 * call outcomes, the sent/failed marks (batched per loop iteration; marks alone wait up to
 * 10 ms for something else to write with). */
void router_flush(struct router *r);
/* ---- messages sent first (the scheduler, scheduler.h) ---- */

/* The transport a message for want (a transport or group name; NULL: the default) goes out
 * through now, or NULL when there is none. */
const char *router_sms_via(const struct router *r, const char *want);
/* Inside the caller's transaction: the cost guard's say on the spend (the parts are added to
 * the day's spend), then the outbox row through via. 0 with *id set, 1 when the guard
 * refuses it (*why: "destination", "spend cap"), -1 on a store error. After the commit,
 * router_sms_ready(r, NULL) offers it. */
int router_notify_queue(struct router *r, const char *via, const char *to, const char *text,
			int64_t *id, const char **why);
/* Inside the caller's transaction: Guichet opens flow at step with the person `to`, as if
 * they had started it (their answer continues it), with vars (may be NULL), and queues the
 * step's text through via like router_notify_queue. 0 with *id the outbox row (0 when the
 * step said nothing), 1 refused by the guard (*why), 2 when the person is in a procedure
 * now (not interrupted: try later), 3 when flow or step is unknown, -1 on a store error. */
int router_open_flow(struct router *r, const char *via, const char *to, const char *flow,
		     const char *step, const struct vars *vars, int64_t *id, const char **why);
bool router_destination_allowed(const struct router *r, const char *to);
/* Calls op on the back-end port the flows use, outside any session (a status call-back).
 * done may be NULL. 0, or -1 when op is unknown. */
int router_call(struct router *r, const char *op, const struct vars *args, unsigned budget_ms,
		call_done_fn done, void *data);
/* The STOP/START words (notify_keyword): a person who writes one is opted out / back in,
 * in the transaction that stores the message, and served as usual. NULL: none. Not owned. */
struct notify_config;
void router_set_notify(struct router *r, const struct notify_config *c);
/* Who to tell when a flow has scheduled a reminder or a receipt (after the commit), or when
 * another host has committed scheduled work: guichetd passes scheduler_kick. A callback
 * rather than the scheduler itself, because the scheduler sends through the router and the
 * router must not call back up into it. kick NULL: none (the rows wait in the store). */
void router_set_sched_kick(struct router *r, void (*kick)(void *data), void *data);
unsigned router_sessions_active(const struct router *r);
/* NULL while the store works; else why it does not, for STATUS= ("store full: commit:
 * database or disk is full", "store lost: ... was removed or replaced while in use"). Each
 * change is logged once; router_tick() also checks that the store's file is still there. */
const char *router_store_problem(const struct router *r);
unsigned router_outbox_pending(const struct router *r);

/* Since start: the router's rate_ctr group (prefix "router", metrics.h), for /metrics, the
 * counters line and the status. */
enum router_ctr {
	ROUTER_CTR_MESSAGES_IN, ROUTER_CTR_DUPLICATES_IN, ROUTER_CTR_REPLIES,
	ROUTER_CTR_MESSAGES_OUT, ROUTER_CTR_PARTS_OUT, ROUTER_CTR_SEND_FAILURES,
	ROUTER_CTR_CALLS, ROUTER_CTR_CALL_ERRORS,
	ROUTER_CTR_STORE_COMMITS, ROUTER_CTR_STORE_FAILURES,	/* write transactions */
	_ROUTER_CTR_N
};
uint64_t router_counter(const struct router *r, enum router_ctr which);

#endif
