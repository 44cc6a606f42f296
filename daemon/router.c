/* The router: event -> session -> engine -> actions. The only module that holds the store,
 * the engine and the back-end port together (see include/guichet/router.h). This file: its
 * life cycle, store health, calls, and the iteration's group write (received
 * messages, call outcomes and the outbox's marks in one transaction). A person's session is
 * router_session.c, what goes out router_send.c, the flow sets router_flows.c, the sinks
 * router_sink.c, USSD dialogues ussd_dialogue.c, the outbox outbox.c; router_run.h is what
 * they share. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/flow_stats.h"
#include "guichet/guard.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/outbox.h"
#include "guichet/router_run.h"
#include "guichet/scheduler.h"
#include "guichet/ussd_dialogue.h"

#define PURGE_PERIOD_MS (60 * 1000)
/* How often a host on a shared store looks for the back-end waits of hosts that are gone. */
#define ORPHANS_PERIOD_MS (10 * 1000)
#define MARKS_WAIT_MS 10	/* see flush_soon */
#define GROUP_PERIOD_US 8000	/* see group_add */
#define GROUP_UNITS 16
#define GROUP_YIELD_MIN 4	/* see flush_writes */
#define GROUP_LOW_MAX 3
#define GROUP_PROBE_US 200000

/* A call in flight, keyed back to its session. */
struct pending_call {
	struct router *r;
	enum channel channel;
	char *key;		/* SMS: session key; USSD: dialogue id */
	char *via;
	uint32_t call_id;
	char *op;
};

static const struct rate_ctr_desc router_ctr_desc[] = {
	[ROUTER_CTR_MESSAGES_IN] = { "messages_in", "Messages received (SMS and USSD requests), duplicates excluded" },
	[ROUTER_CTR_DUPLICATES_IN] = { "duplicates_in", "Messages received again and recognised as already stored" },
	[ROUTER_CTR_REPLIES] = { "replies", "Replies the engine produced" },
	[ROUTER_CTR_MESSAGES_OUT] = { "messages_out", "SMS replies handed to a transport and sent" },
	[ROUTER_CTR_PARTS_OUT] = { "parts_out", "SMS parts handed to transports (what the administration pays for)" },
	[ROUTER_CTR_SEND_FAILURES] = { "send_failures", "SMS replies a transport failed to send (retried)" },
	[ROUTER_CTR_CALLS] = { "calls", "Back-end calls started by flows" },
	[ROUTER_CTR_CALL_ERRORS] = { "call_errors", "Back-end calls that took their flow's error way" },
	[ROUTER_CTR_STORE_COMMITS] = { "store_commits", "Store write transactions committed" },
	[ROUTER_CTR_STORE_FAILURES] = { "store_failures", "Store write transactions that failed (retried)" },
};
static const struct rate_ctr_group_desc router_ctrg_desc = {
	.group_name_prefix = "router",
	.group_description = "Messages, replies and back-end calls through the router",
	.num_ctr = _ROUTER_CTR_N,
	.ctr_desc = router_ctr_desc,
};

/* ---- store health ---- */

/* Every write transaction's outcome comes here (what: the write, for the journal). A failed
 * commit is logged once when writes start failing, with its reason, and once when they work
 * again, never once per attempt (a modem retries at each poll, the outbox at each tick);
 * meanwhile router_store_problem() gives the reason for STATUS=. */
void router_store_result(struct router *r, bool ok, const char *what)
{
	rate_ctr_inc2(r->ctrs, ok ? ROUTER_CTR_STORE_COMMITS : ROUTER_CTR_STORE_FAILURES);
	if (ok) {
		if (r->store_failing && !r->store_lost)
			glog(GLOG_STORE, LOGL_NOTICE, NULL, "store: writes succeed again, after %lu "
			     "failed; waiting messages and replies resume", r->store_failures);
		r->store_failing = false;
		r->store_failures = 0;
		return;
	}
	r->store_failures++;
	if (r->store_failing)
		return;
	r->store_failing = true;
	snprintf(r->store_error, sizeof(r->store_error), "%s", store_last_error(r->st));
	if (!r->store_lost)
		glog(GLOG_STORE, LOGL_ERROR, NULL, "store: %s failed: %s. Messages stay with their "
		     "transport unacknowledged and replies wait in the outbox until writes succeed",
		     what, r->store_error);
}

/* The store's file was removed or replaced under us: say so loudly, once; from now on the
 * store refuses every transaction, so transports keep what they receive unacknowledged. */
static void store_check(struct router *r)
{
	if (r->store_lost || !r->st->ops->verify || r->st->ops->verify(r->st) == 0)
		return;
	r->store_lost = true;
	r->store_failing = true;
	snprintf(r->store_error, sizeof(r->store_error), "store lost: %s", store_last_error(r->st));
	glog(GLOG_STORE, LOGL_ERROR, NULL, "%s. No message is taken any more (transports keep "
	     "them unacknowledged, new USSD dialogues are refused) until guichetd is restarted, on a "
	     "restored copy or a new empty store", r->store_error);
}

const char *router_store_problem(const struct router *r)
{
	return r->store_failing ? r->store_error : NULL;
}

/* ---- settings ---- */

void router_shift_clock(struct router *r, int64_t seconds)
{
	r->clock_shift_s += seconds;
}

static void spend_loaded(void *data, const char *via, uint64_t parts)
{
	struct router *r = data;

	guard_spend_set(r->guard, guard_day(now_s()), via, parts);
}

void router_set_guard(struct router *r, struct guard *g)
{
	r->guard = g;
	if (!g)
		return;
	/* The day's spend so far (before a restart, or before a reload added a cap). */
	if (r->st->ops->spend_get(r->st, guard_day(now_s()), spend_loaded, r) < 0)
		glog(GLOG_STORE, LOGL_ERROR, NULL, "cannot read the day's spend: %s",
		     store_last_error(r->st));
}

/* ---- starting calls ---- */

static int64_t loop_us(void);

static void call_done(void *data, bool ok, const struct vars *result, const char *error);

void router_start_call(struct router *r, enum channel ch, const char *key, const char *via,
		       const struct engine_call *c, unsigned budget_ms)
{
	struct pending_call *p = talloc_zero(r, struct pending_call);

	p->r = r;
	p->channel = ch;
	p->key = talloc_strdup(p, key);
	p->via = talloc_strdup(p, via ? via : "");
	p->call_id = c->call_id;
	p->op = talloc_strdup(p, c->op);
	rate_ctr_inc2(r->ctrs, ROUTER_CTR_CALLS);
	if (ch == CHANNEL_SMS) {
		r->sms_calls++;
		r->last_call_us = loop_us();
	}
	if (r->calls.call(r->calls.impl, c->op, &c->args, budget_ms, call_done, p) < 0) {
		/* Unknown operation: the flow checker prevents it; fail the call the same way. */
		glog(GLOG_BACKEND, LOGL_ERROR, NULL, "operation %s is not declared", c->op);
		call_done(p, false, NULL, "undeclared operation");
	}
}

/* ---- for the router's other files (router_run.h) ---- */

const struct router_config *router_config(const struct router *r)
{
	return &r->cfg;
}

int64_t router_now(const struct router *r)
{
	return now_s() + r->clock_shift_s;
}

struct guard *router_guard(const struct router *r)
{
	return r->guard;
}

bool router_store_lost(const struct router *r)
{
	return r->store_lost;
}

void router_count(struct router *r, enum router_ctr which)
{
	rate_ctr_inc2(r->ctrs, which);
}

/* ---- received messages (the intake) ---- */

/* Messages handed to router_sms_receive_later, waiting for the iteration's group write. */
struct intake_batch {
	struct llist_head list;
	struct sms_in *msgs;
	unsigned n;
	sms_stored_fn stored;
	void *sdata;
};

static struct store_inbound inbound_of(const struct sms_in *m)
{
	return (struct store_inbound){ .channel = CHANNEL_SMS, .via = m->via, .from = m->from,
				       .text = m->text, .received = m->received, .dedup = m->dedup };
}

/* The messages intake_apply is about to add, in its order, told to the store at once
 * (inbound_ahead: PostgreSQL adds them in one round trip instead of one each). The batches
 * of the list, or msgs[0..n) when list is NULL. 0, or -1: the transaction is lost. */
static int intake_ahead(struct router *r, void *ctx, struct llist_head *list,
			const struct sms_in *msgs, unsigned n)
{
	struct store *st = r->st;
	struct intake_batch *b;
	unsigned k = 0;

	if (!st->ops->inbound_ahead)
		return 0;
	if (list) {
		n = 0;
		llist_for_each_entry(b, list, list)
			n += b->n;
	}
	struct store_inbound *ins = n ? talloc_array(ctx, struct store_inbound, n) : NULL;
	if (!ins)
		return 0;	/* only a saving: inbound_add does without */
	if (!list) {
		for (; k < n; k++)
			ins[k] = inbound_of(&msgs[k]);
	} else {
		llist_for_each_entry(b, list, list)
			for (unsigned i = 0; i < b->n; i++)
				ins[k++] = inbound_of(&b->msgs[i]);
	}
	return st->ops->inbound_ahead(st, ins, n);
}

/* Received messages through the engine, inside the caller's transaction. */
static int intake_apply(struct router *r, void *ctx, const struct sms_in *msgs, unsigned n,
			struct call_req **calls, unsigned *n_calls)
{
	struct store *st = r->st;
	for (unsigned i = 0; i < n; i++) {
		struct store_inbound in = inbound_of(&msgs[i]);
		int rc = st->ops->inbound_add(st, &in);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			rate_ctr_inc2(r->ctrs, ROUTER_CTR_DUPLICATES_IN);
			continue;	/* already stored and answered before a crash */
		}
		rate_ctr_inc2(r->ctrs, ROUTER_CTR_MESSAGES_IN);
		if (router_consent_word(r, msgs[i].from, msgs[i].text) < 0)
			return -1;
		struct engine_input ein = { .kind = EV_TEXT, .text = msgs[i].text,
					    .now = now_s() + r->clock_shift_s };
		bool secret = false;
		rc = router_sms_admit(r, ctx, in.id, msgs[i].via, msgs[i].from, msgs[i].text);
		if (rc < 0 ||
		    (rc == 1 &&
		     router_sms_event(r, ctx, msgs[i].via, msgs[i].from, &ein, NULL, calls, n_calls,
			       &secret) < 0))
			return -1;
		if (st->ops->inbound_done(st, in.id) < 0)
			return -1;
		/* Same transaction: the secret answer never reaches the file. */
		if (secret && st->ops->inbound_forget(st, in.id) < 0)
			return -1;
	}
	return 0;
}

/* A write that lost a conflict with another host's (store_conflict: two hosts locking two
 * people's sessions in opposite order) is run again from the start, this many times in all,
 * before its messages are left unacknowledged. The engine runs again on what the store holds
 * then; the guard counts the messages once more (it errs on the side of less). */
#define CONFLICT_TRIES 3

/* Received messages in one transaction: 0, or -1 rolled back (the caller reports it). */
static int intake_write(struct router *r, const struct sms_in *msgs, unsigned n)
{
	void *ctx = talloc_new(r);
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	struct store *st = r->st;

	if (st->ops->begin(st) < 0)
		goto fail;
	if (intake_ahead(r, ctx, NULL, msgs, n) < 0 ||
	    intake_apply(r, ctx, msgs, n, &calls, &n_calls) < 0)
		goto fail_rollback;
	/* The replies made here leave the outbox in the same transaction (one fsync). */
	struct outbox_taken *tk;
	if (outbox_take(r->ob, ctx, &tk) < 0 || st->ops->commit(st) < 0)
		goto fail_rollback;
	r->group_last_us = loop_us();	/* an fsync too: the group write's period counts it */
	router_store_result(r, true, NULL);
	router_sched_kick(r);
	router_start_calls(r, CHANNEL_SMS, calls, n_calls);
	outbox_send_taken(r->ob, tk);
	talloc_free(ctx);
	outbox_offer(r->ob);
	return 0;

fail_rollback:
	st->ops->rollback(st);
	r->sched_dirty = false;
fail:
	talloc_free(ctx);
	return -1;
}

int router_sms_received(struct router *r, const struct sms_in *msgs, unsigned n)
{
	for (unsigned tries = 1; intake_write(r, msgs, n) < 0; tries++) {
		if (tries >= CONFLICT_TRIES || !store_conflict(r->st)) {
			router_store_result(r, false, "storing received messages");
			return -1;
		}
		glog(GLOG_STORE, LOGL_NOTICE, NULL, "store: storing %u received messages lost a "
		     "conflict with another host (%s); trying again (%u of %u)", n,
		     store_last_error(r->st), tries + 1, CONFLICT_TRIES);
	}
	return 0;
}

/* Now on the clock the loop's timers run on (libosmocore's osmo_gettimeofday, which tests
 * can drive), in microseconds. It may jump: group_add never waits longer for it. */
static int64_t loop_us(void)
{
	struct timeval tv;
	osmo_gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The group write runs after this loop iteration, with the marks waiting (flush_soon). */
static void flush_now(struct router *r)
{
	int64_t now = loop_us();
	if (osmo_timer_pending(&r->flush_timer) && r->flush_now && r->flush_at_us <= now)
		return;	/* due already */
	osmo_timer_schedule(&r->flush_timer, 0, 0);
	r->flush_now = true;
	r->flush_at_us = now;
}

/* n writes that answer someone join the group write: received messages (their senders
 * acknowledge them once committed) or a call's outcome (its reply leaves once committed).
 * Each commit is an fsync, and a message whose flow calls a back-end brings two such writes
 * a millisecond or two apart (its intake, then the call's outcome): written as they come,
 * that is one to two fsyncs per message at 1,000 messages/s, when loop iterations are
 * short. So while SMS calls are out or were started in the last period (the traffic makes
 * calls: outcomes are coming), the group write runs at most once per GROUP_PERIOD_US: what
 * comes sooner after the last commit waits for the next, with company (at most that long:
 * the only delay added to an acknowledgement or a reply). GROUP_UNITS waiting are written
 * at once (enough company: at full speed, a window of deliver_sms and some outcomes), and
 * so is everything when no call is expected: messages whose flows call nothing are
 * answered in the same commit, and waiting would only hold the SMSC's window (at window 10,
 * 10 messages per period). A router quiet for a period writes at once. */
static void group_add(struct router *r, unsigned n)
{
	int64_t now = loop_us();
	int64_t due = r->group_last_us + GROUP_PERIOD_US;

	bool calls = r->sms_calls || now - r->last_call_us < GROUP_PERIOD_US;
	/* Waits that brought no company lately: not waiting, but trying again now and then. */
	bool hold = r->group_low < GROUP_LOW_MAX || now >= r->group_probe_us;

	r->group_units += n ? n : 1;
	if (!calls || !hold || due <= now || due > now + GROUP_PERIOD_US ||
	    r->group_units >= GROUP_UNITS) {
		flush_now(r);
		return;
	}
	r->group_waited = true;
	if (osmo_timer_pending(&r->flush_timer) && r->flush_now && r->flush_at_us <= due)
		return;	/* due then already, or sooner */
	/* A wait for marks alone (flush_soon) is replaced: marks answer nobody. */
	osmo_timer_schedule(&r->flush_timer, (int)((due - now) / 1000000),
			    (int)((due - now) % 1000000));
	r->flush_now = true;
	r->flush_at_us = due;
}

/* A receipt handed to router_sms_receipt_later: its sender is told once it is written. */
struct receipt_wait {
	struct llist_head list;
	sms_stored_fn stored;
	void *sdata;
};

int router_sms_receive_later(struct router *r, const struct sms_in *msgs, unsigned n,
			     sms_stored_fn stored, void *sdata)
{
	struct intake_batch *b = talloc_zero(r, struct intake_batch);
	if (!b || !(b->msgs = talloc_array(b, struct sms_in, n ? n : 1)))
		goto oom;
	for (unsigned i = 0; i < n; i++) {
		struct sms_in *m = &b->msgs[i];
		*m = msgs[i];
		m->via = talloc_strdup(b, msgs[i].via ? msgs[i].via : "");
		m->from = talloc_strdup(b, msgs[i].from);
		m->text = talloc_strdup(b, msgs[i].text);
		m->dedup = msgs[i].dedup ? talloc_strdup(b, msgs[i].dedup) : NULL;
		if (!m->via || !m->from || !m->text || (msgs[i].dedup && !m->dedup))
			goto oom;
	}
	b->n = n;
	b->stored = stored;
	b->sdata = sdata;
	llist_add_tail(&b->list, &r->intake);
	group_add(r, n);
	return 0;
oom:
	talloc_free(b);
	return -1;
}

void router_sms_receive_cancel(struct router *r, void *sdata)
{
	struct intake_batch *b, *tmp;
	llist_for_each_entry_safe(b, tmp, &r->intake, list) {
		if (b->sdata == sdata) {
			llist_del(&b->list);
			talloc_free(b);
		}
	}
	llist_for_each_entry(b, &r->intake_told, list)
		if (b->sdata == sdata)
			b->stored = NULL;	/* written already: only the callback goes */
	struct receipt_wait *w;
	llist_for_each_entry(w, &r->receipts, list)
		if (w->sdata == sdata)
			w->stored = NULL;
	llist_for_each_entry(w, &r->receipts_told, list)
		if (w->sdata == sdata)
			w->stored = NULL;
}

/* After the group write: each batch's sender told (ok), or, when the group write failed,
 * each batch written alone and its sender told how that went. The list is moved aside
 * first: a sender's callback may hand more messages (they wait for the next write) or
 * cancel another sender's (router_sms_receive_cancel looks there too). */
static void intake_done(struct router *r, bool group_ok)
{
	llist_splice_init(&r->intake, &r->intake_told);
	while (!llist_empty(&r->intake_told)) {
		struct intake_batch *b = llist_first_entry(&r->intake_told, struct intake_batch, list);
		bool ok = group_ok || router_sms_received(r, b->msgs, b->n) == 0;
		llist_del(&b->list);
		if (b->stored)
			b->stored(b->sdata, ok);
		talloc_free(b);
	}
}

/* ---- call outcomes ---- */

/* An SMS call's outcome waiting for the iteration's group write (flush_writes). */
struct call_result {
	struct llist_head list;
	struct pending_call *p;
	bool ok;
	struct vars result;
	char *error;
};


/* One call outcome through the engine, inside the caller's transaction. */
static int result_apply(struct router *r, void *ctx, struct call_result *cr,
			struct call_req **calls, unsigned *n_calls)
{
	struct engine_input ein = {
		.kind = cr->ok ? EV_RESULT : EV_FAILURE, .result = cr->ok ? &cr->result : NULL,
		.error = cr->error, .call_id = cr->p->call_id, .now = now_s() + r->clock_shift_s,
	};
	return router_sms_event(r, ctx, cr->p->via, NULL, &ein, cr->p->key, calls, n_calls, NULL);
}

/* A call outcome alone in its transaction (when the group write failed). */
static void result_write_alone(struct router *r, struct call_result *cr)
{
	void *ctx = talloc_new(r);
	struct call_req *calls = NULL;
	unsigned n_calls = 0;

	if (r->st->ops->begin(r->st) < 0 || result_apply(r, ctx, cr, &calls, &n_calls) < 0 ||
	    r->st->ops->commit(r->st) < 0) {
		r->st->ops->rollback(r->st);
		r->sched_dirty = false;
		glog(GLOG_STORE, LOGL_NOTICE, NULL, "the outcome of %s is lost: %s", cr->p->op,
		     store_last_error(r->st));
		router_store_result(r, false, "storing a call's outcome");
	} else {
		router_store_result(r, true, NULL);
		router_sched_kick(r);
		router_start_calls(r, CHANNEL_SMS, calls, n_calls);
	}
	talloc_free(ctx);
}

/* An SMS call's outcome is kept (result copied) for this iteration's group write: the
 * outcomes of every call answered in one loop iteration, with the sent marks, go into one
 * transaction (flush_writes). Nothing is acknowledged to anyone before it commits: the
 * reply it makes is offered to a transport only after. */
static void call_done(void *data, bool ok, const struct vars *result, const char *error)
{
	struct pending_call *p = data;
	struct router *r = p->r;

	if (!ok)
		rate_ctr_inc2(r->ctrs, ROUTER_CTR_CALL_ERRORS);
	if (p->channel == CHANNEL_USSD) {
		ussd_dialogue_call_done(r->dlg, p->key, p->call_id, ok, result, error);
		talloc_free(p);
		return;
	}
	r->sms_calls--;
	struct call_result *cr = talloc_zero(r, struct call_result);
	if (cr) {
		vars_init(&cr->result, cr);
		cr->p = talloc_steal(cr, p);
		cr->ok = ok;
		cr->error = error ? talloc_strdup(cr, error) : NULL;
	}
	if (!cr || (error && !cr->error) || (ok && result && vars_merge(&cr->result, result, "") < 0)) {
		glog(GLOG_STORE, LOGL_NOTICE, NULL, "the outcome of %s is lost: out of memory", p->op);
		talloc_free(cr ? (void *)cr : (void *)p);
		return;
	}
	llist_add_tail(&cr->list, &r->results);
	group_add(r, 1);
}

/* ---- the outbox's transports and marks (outbox.h) ---- */

void router_sms_register(struct router *r, struct sms_transport *t)
{
	outbox_register(r->ob, t);
}

void router_sms_unregister(struct router *r, struct sms_transport *t)
{
	outbox_unregister(r->ob, t);
}

void router_sms_ready(struct router *r, struct sms_transport *t)
{
	/* A transport up or with room again, or messages queued (the scheduler's, t NULL). */
	outbox_ready(r->ob, t);
	/* A group write is due (after this iteration, or within a period): the replies leave
	 * the outbox with it (outbox_take) instead of in a transaction of their own. At full
	 * speed an SMSC transport gets room again after every few submit_sm_resp: each offer
	 * was an fsync. */
	if (osmo_timer_pending(&r->flush_timer) && r->flush_now)
		return;
	outbox_offer(r->ob);
}

void router_sms_sent(struct router *r, int64_t id)
{
	outbox_sent(r->ob, id);
}

void router_sms_failed(struct router *r, int64_t id, bool permanent, const char *why)
{
	outbox_failed(r->ob, id, permanent, why);
}

void router_sms_remote_id(struct router *r, int64_t id, const char *via, const char *remote)
{
	outbox_remote_id(r->ob, id, via, remote);
}

void router_sms_receipt(struct router *r, int64_t id, const char *via, const char *remote,
			bool delivered, const char *stat)
{
	outbox_receipt(r->ob, id, via, remote, delivered, stat);
}

static void flush_soon(void *data);

int router_sms_receipt_later(struct router *r, int64_t id, const char *via, const char *remote,
			     bool delivered, const char *stat, sms_stored_fn stored, void *sdata)
{
	struct receipt_wait *w = talloc_zero(r, struct receipt_wait);

	if (!w)
		return -1;
	w->stored = stored;
	w->sdata = sdata;
	outbox_receipt(r->ob, id, via, remote, delivered, stat);
	llist_add_tail(&w->list, &r->receipts);
	flush_soon(r);
	return 0;
}

/* The receipts the flush began with are written: their senders told. The list is kept in
 * the router meanwhile: a callback may cancel another sender's. */
static void receipts_done(struct router *r)
{
	while (!llist_empty(&r->receipts_told)) {
		struct receipt_wait *w = llist_first_entry(&r->receipts_told, struct receipt_wait,
							   list);
		llist_del(&w->list);
		if (w->stored)
			w->stored(w->sdata, true);
		talloc_free(w);
	}
}

/* This iteration's group write: every message received (router_sms_receive_later), every
 * call outcome and every sent/failed mark in one transaction. If it fails, the received
 * batches and the outcomes are written one by one (an outcome that cannot be written is
 * lost, as before: the person's session waits and times out) and the marks stay for the
 * next flush. Then the calls the outcomes started, and the replies they made go out. */
static void flush_writes(void *data)
{
	struct router *r = data;
	r->flush_now = false;
	/* A write that waited for company: did it come? A sender that waits for each answer
	 * (an SMSC with a window of 1) brings none: after GROUP_LOW_MAX such waits in a row the
	 * router stops waiting (each would cost it a period per message), and tries once per
	 * GROUP_PROBE_US whether company comes again. */
	if (r->group_waited) {
		if (r->group_units >= GROUP_YIELD_MIN) {
			r->group_low = 0;
		} else if (++r->group_low >= GROUP_LOW_MAX) {
			r->group_low = GROUP_LOW_MAX;
			r->group_probe_us = loop_us() + GROUP_PROBE_US;
		}
	}
	r->group_waited = false;
	r->group_units = 0;
	struct call_result *cr, *tmp;
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	bool ok;

	if (!outbox_marks_pending(r->ob) && llist_empty(&r->results) && llist_empty(&r->intake) &&
	    llist_empty(&r->receipts)) {
		outbox_offer(r->ob);	/* a transport's room may have waited for this write */
		return;
	}
	r->group_last_us = loop_us();
	/* The receipts handed so far: their marks are among those this flush writes. */
	llist_splice_init(&r->receipts, &r->receipts_told);
	void *ctx = talloc_new(r);
	ok = r->st->ops->begin(r->st) == 0 && intake_ahead(r, ctx, &r->intake, NULL, 0) == 0;
	struct intake_batch *ib;
	llist_for_each_entry(ib, &r->intake, list) {
		if (!ok)
			break;
		ok = intake_apply(r, ctx, ib->msgs, ib->n, &calls, &n_calls) == 0;
	}
	llist_for_each_entry(cr, &r->results, list) {
		if (!ok)
			break;
		ok = result_apply(r, ctx, cr, &calls, &n_calls) == 0;
	}
	if (ok)
		ok = outbox_marks_apply(r->ob) == 0;
	/* The replies due now, these outcomes' among them, leave the outbox in the same
	 * transaction: one fsync for the iteration. */
	struct outbox_taken *tk = NULL;
	if (ok)
		ok = outbox_take(r->ob, ctx, &tk) == 0;
	if (ok && r->st->ops->commit(r->st) == 0) {
		router_store_result(r, true, NULL);
		router_sched_kick(r);
		outbox_marks_done(r->ob);
		router_start_calls(r, CHANNEL_SMS, calls, n_calls);
		outbox_send_taken(r->ob, tk);
		intake_done(r, true);
		receipts_done(r);
	} else {
		r->st->ops->rollback(r->st);
		r->sched_dirty = false;
		/* Each received batch alone: its sender acknowledges what commits, nothing else. */
		intake_done(r, false);
		/* Calls the rolled-back outcomes would have started: not started. */
		llist_for_each_entry(cr, &r->results, list)
			result_write_alone(r, cr);
		bool marks = outbox_marks_pending(r->ob);
		if (marks && r->st->ops->begin(r->st) == 0) {
			if (outbox_marks_apply(r->ob) == 0 && r->st->ops->commit(r->st) == 0) {
				outbox_marks_done(r->ob);
				router_store_result(r, true, NULL);
				receipts_done(r);
			} else {
				r->st->ops->rollback(r->st);
				router_store_result(r, false, "marking replies sent");
			}
		} else if (marks) {
			router_store_result(r, false, "marking replies sent");	/* kept: next flush */
		} else {
			receipts_done(r);	/* their marks were lost (out of memory) */
		}
		/* Receipts not written: they wait for the next flush, first in line; a quiet
		 * router tries again in a second (their senders keep them until then). */
		llist_splice_init(&r->receipts_told, &r->receipts);
		if (!llist_empty(&r->receipts) && !osmo_timer_pending(&r->flush_timer)) {
			osmo_timer_schedule(&r->flush_timer, 1, 0);
			r->flush_now = false;
			r->flush_at_us = loop_us() + 1000000;
		}
	}
	llist_for_each_entry_safe(cr, tmp, &r->results, list) {
		llist_del(&cr->list);
		talloc_free(cr);
	}
	talloc_free(ctx);
	outbox_offer(r->ob);
}

/* The marks' wait is over: the group write goes after the rest of this iteration (the
 * timers due with it, an outcome among them, then the sockets), not before it. */
static void flush_timer_cb(void *data)
{
	struct router *r = data;
	if (!r->flush_now) {
		flush_now(r);
		return;
	}
	flush_writes(r);
}

void router_flush(struct router *r)
{
	osmo_timer_del(&r->flush_timer);
	flush_writes(r);
}

/* ---- USSD (ussd_dialogue.h) ---- */

void router_ussd_request(struct router *r, const struct ussd_req *req, ussd_reply_fn reply,
			 void *data)
{
	ussd_dialogue_request(r->dlg, req, reply, data);
}

void router_ussd_abort(struct router *r, const char *dialogue)
{
	ussd_dialogue_abort(r->dlg, dialogue);
}

/* ---- life cycle ---- */

static void outbox_result(void *data, bool ok, const char *what)
{
	router_store_result(data, ok, what);
}

/* The outbox has marks to write (sent, failed, SMSC ids, receipts). They answer nobody:
 * they wait up to MARKS_WAIT_MS for a group write that does (flush_now), so that under load
 * they ride along with received messages and call outcomes instead of costing an fsync of
 * their own; a quiet router writes them MARKS_WAIT_MS later. (A crash in between sends
 * those replies again at restart, as a crash before any mark does: the window grows by
 * that much, against a submit's round trip.) */
static void flush_soon(void *data)
{
	struct router *r = data;

	if (!osmo_timer_pending(&r->flush_timer)) {
		osmo_timer_schedule(&r->flush_timer, 0, MARKS_WAIT_MS * 1000);
		r->flush_now = false;
		r->flush_at_us = loop_us() + MARKS_WAIT_MS * 1000;
	}
}

/* Another host committed work this one may do (store_ops.watch): replies for its
 * transports, scheduled messages. */
static void store_woken(void *data)
{
	struct router *r = data;

	outbox_wake(r->ob);
	outbox_offer(r->ob);
	if (r->sched_kick)
		r->sched_kick(r->sched_kick_data);
}

/* Freeing the router stops its timers: nothing may fire into freed memory. */
static int router_destroy(struct router *r)
{
	osmo_timer_del(&r->flush_timer);
	return 0;
}

struct router *router_create(void *ctx, const struct router_config *cfg, struct store *st,
			     struct call_port calls)
{
	struct router *r = talloc_zero(ctx, struct router);

	r->ctx = ctx;
	r->cfg = *cfg;
	if (!r->cfg.call_budget_ms)
		r->cfg.call_budget_ms = 10000;
	if (!r->cfg.ussd_answer_ms)
		r->cfg.ussd_answer_ms = 4000;
	if (cfg->sms_followup_via)
		r->cfg.sms_followup_via = talloc_strdup(r, cfg->sms_followup_via);
	r->st = st;
	r->calls = calls;
	INIT_LLIST_HEAD(&r->flowsets);
	INIT_LLIST_HEAD(&r->results);
	INIT_LLIST_HEAD(&r->intake);
	INIT_LLIST_HEAD(&r->intake_told);
	INIT_LLIST_HEAD(&r->receipts);
	INIT_LLIST_HEAD(&r->receipts_told);
	osmo_timer_setup(&r->flush_timer, flush_timer_cb, r);
	r->group_last_us = loop_us() - GROUP_PERIOD_US;
	r->ctrs = metrics_ctr_group(r, &router_ctrg_desc, NULL);
	r->flow_ctrs = flow_stats_alloc(r);
	if (r->ctrs) {
		struct outbox_env env = { .st = st, .ctrs = r->ctrs, .store_result = outbox_result,
					  .kick = flush_soon, .data = r };
		r->ob = outbox_create(r, &env);
	}
	r->dlg = ussd_dialogues_create(r, r);
	if (!r->ctrs || !r->ob || !r->dlg) {
		talloc_free(r);
		return NULL;
	}
	talloc_set_destructor(r, router_destroy);
	/* The store is closed before the router is freed (it stops watching then). */
	if (st->ops->watch && st->ops->watch(st, store_woken, r) < 0)
		glog(GLOG_STORE, LOGL_NOTICE, NULL, "store: other hosts' work is found by polling "
		     "only (every outbox_poll): %s", store_last_error(st));
	return r;
}

void router_tick(struct router *r, int64_t now)
{
	store_check(r);
	if (now - r->last_purge_ms >= PURGE_PERIOD_MS) {
		/* Expired sessions are kept a little longer than their deadline so that a person
		 * coming back is told the procedure expired instead of getting the welcome. */
		unsigned keep = r->cfg.retention_s ? r->cfg.retention_s : 3600;
		unsigned grace = keep < 3600 ? keep : 3600;
		r->last_purge_ms = now;
		if (r->st->ops->purge(r->st, now / 1000 - grace, keep - grace) < 0)
			router_store_result(r, false, "purging old messages");
		router_retire_flowsets(r, now / 1000);
	}
	if (now - r->last_offer_ms >= (int64_t)r->cfg.outbox_poll_ms) {
		r->last_offer_ms = now;
		/* The poll: whatever no event announced (another host's row without a NOTIFY
		 * heard, a retry time) is found here. */
		outbox_wake(r->ob);
		outbox_offer(r->ob);
	}
	if (r->st->ops->session_orphans && now - r->last_orphans_ms >= ORPHANS_PERIOD_MS) {
		r->last_orphans_ms = now;
		router_recover_orphans(r);
	}
}

unsigned router_sessions_active(const struct router *r)
{
	struct store_counters c = { 0 };
	unsigned n = 0;
	if (r->st->ops->counters(r->st, &c) == 0)
		n = (unsigned)c.sessions;
	return n + ussd_dialogues_open(r->dlg);
}

uint64_t router_counter(const struct router *r, enum router_ctr which)
{
	return rate_ctr_group_get_ctr(r->ctrs, which)->current;
}

unsigned router_outbox_pending(const struct router *r)
{
	struct store_counters c = { 0 };

	if (r->st->ops->counters(r->st, &c) < 0)
		return 0;
	return (unsigned)c.outbound_pending;
}
