/* The router's back-end calls and its group write. A call's outcome, like a received message
 * waiting in router_intake.c, answers someone; what answers someone in one loop iteration,
 * with the outbox's marks (sent, failed, SMSC ids, receipts), goes into one transaction: one
 * fsync for all of it (flush_writes). Nothing is acknowledged, and no reply leaves, before
 * that transaction commits. */
#include <string.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/log.h"
#include "guichet/outbox.h"
#include "guichet/router_run.h"
#include "guichet/ussd_dialogue.h"

#define MARKS_WAIT_MS 10	/* see router_flush_soon */
#define GROUP_PERIOD_US 8000	/* see router_group_add */
#define GROUP_UNITS 16
#define GROUP_IDLE_US 2000	/* see router_group_add */
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

/* ---- back-end calls ---- */

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
		r->last_call_us = router_loop_us();
	}
	if (r->calls.call(r->calls.impl, c->op, &c->args, budget_ms, call_done, p) < 0) {
		/* Unknown operation: the flow checker prevents it; fail the call the same way. */
		glog(GLOG_BACKEND, LOGL_ERROR, NULL, "operation %s is not declared", c->op);
		call_done(p, false, NULL, "undeclared operation");
	}
}

/* Now on the clock the loop's timers run on (libosmocore's osmo_gettimeofday, which tests
 * can drive), in microseconds. It may jump: group_add never waits longer for it. */
int64_t router_loop_us(void)
{
	struct timeval tv;
	osmo_gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The group write runs after this loop iteration, with the marks waiting (flush_soon). */
static void flush_now(struct router *r)
{
	int64_t now = router_loop_us();
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
void router_group_add(struct router *r, unsigned n)
{
	int64_t now = router_loop_us();
	int64_t end = r->group_last_us + GROUP_PERIOD_US;

	bool calls = r->sms_calls || now - r->last_call_us < GROUP_PERIOD_US;
	/* Waits that brought no company lately: not waiting, but trying again now and then. */
	bool hold = r->group_low < GROUP_LOW_MAX || now >= r->group_probe_us;

	r->group_units += n ? n : 1;
	if (!calls || !hold || end <= now || end > now + GROUP_PERIOD_US ||
	    r->group_units >= GROUP_UNITS) {
		flush_now(r);
		return;
	}
	r->group_waited = true;
	if (osmo_timer_pending(&r->flush_timer) && r->flush_now && r->flush_at_us <= now)
		return;	/* due at once already */
	/* While calls are out their outcomes are sure to come: the wait lasts to the period's
	 * end. Once every outcome is in, only new messages can join, and they come while they
	 * keep coming: the wait ends GROUP_IDLE_US after the last write joined it. A sender
	 * held by its window (an SMSC whose window is full of messages waiting for this
	 * commit: two-part texts at window 10 are five) sends nothing more until the commit;
	 * waiting out the period would cap it at one window per period. */
	int64_t due = !r->sms_calls && now + GROUP_IDLE_US < end ? now + GROUP_IDLE_US : end;
	/* A wait for marks alone (flush_soon) is replaced: marks answer nobody. */
	osmo_timer_schedule(&r->flush_timer, (int)((due - now) / 1000000),
			    (int)((due - now) % 1000000));
	r->flush_now = true;
	r->flush_at_us = due;
}

/* The outbox has marks to write (sent, failed, SMSC ids, receipts). They answer nobody:
 * they wait up to MARKS_WAIT_MS for a group write that does (flush_now), so that under load
 * they ride along with received messages and call outcomes instead of costing an fsync of
 * their own; a quiet router writes them MARKS_WAIT_MS later. (A crash in between sends
 * those replies again at restart, as a crash before any mark does: the window grows by
 * that much, against a submit's round trip.) */
void router_flush_soon(void *data)
{
	struct router *r = data;

	if (!osmo_timer_pending(&r->flush_timer)) {
		osmo_timer_schedule(&r->flush_timer, 0, MARKS_WAIT_MS * 1000);
		r->flush_now = false;
		r->flush_at_us = router_loop_us() + MARKS_WAIT_MS * 1000;
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
	router_group_add(r, 1);
}

/* ---- receipts ---- */

/* A receipt handed to router_sms_receipt_later: its sender is told once it is written. */
struct receipt_wait {
	struct llist_head list;
	sms_stored_fn stored;
	void *sdata;
};



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
	router_flush_soon(r);
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
static void group_write_failed(struct router *r);

/* A write that waited for company: did it come? A sender that waits for each answer (an
 * SMSC with a window of 1) brings none: after GROUP_LOW_MAX such waits in a row the router
 * stops waiting (each would cost it a period per message), and tries once per
 * GROUP_PROBE_US whether company comes again. */
static void group_note_company(struct router *r)
{
	if (r->group_waited) {
		if (r->group_units >= GROUP_YIELD_MIN) {
			r->group_low = 0;
		} else if (++r->group_low >= GROUP_LOW_MAX) {
			r->group_low = GROUP_LOW_MAX;
			r->group_probe_us = router_loop_us() + GROUP_PROBE_US;
		}
	}
	r->group_waited = false;
	r->group_units = 0;
}

static void flush_writes(void *data)
{
	struct router *r = data;
	r->flush_now = false;
	group_note_company(r);
	struct call_result *cr, *tmp;
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	bool ok;

	if (!outbox_marks_pending(r->ob) && llist_empty(&r->results) && llist_empty(&r->intake) &&
	    llist_empty(&r->receipts)) {
		outbox_offer(r->ob);	/* a transport's room may have waited for this write */
		return;
	}
	r->group_last_us = router_loop_us();
	/* The receipts handed so far: their marks are among those this flush writes. */
	llist_splice_init(&r->receipts, &r->receipts_told);
	void *ctx = talloc_new(r);
	ok = r->st->ops->begin(r->st) == 0 &&
	     router_intake_apply_waiting(r, ctx, &calls, &n_calls) == 0;
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
		router_intake_done(r, true);
		receipts_done(r);
	} else {
		group_write_failed(r);
	}
	llist_for_each_entry_safe(cr, tmp, &r->results, list) {
		llist_del(&cr->list);
		talloc_free(cr);
	}
	talloc_free(ctx);
	outbox_offer(r->ob);
}

/* The group write rolled back: each received batch and each call outcome written alone,
 * the marks in a transaction of their own; what still fails waits for the next flush. */
static void group_write_failed(struct router *r)
{
	struct call_result *cr;

	r->st->ops->rollback(r->st);
	r->sched_dirty = false;
	/* Each received batch alone: its sender acknowledges what commits, nothing else. */
	router_intake_done(r, false);
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
	/* Receipts not written: they wait for the next flush, first in line; a quiet router
	 * tries again in a second (their senders keep them until then). */
	llist_splice_init(&r->receipts_told, &r->receipts);
	if (!llist_empty(&r->receipts) && !osmo_timer_pending(&r->flush_timer)) {
		osmo_timer_schedule(&r->flush_timer, 1, 0);
		r->flush_now = false;
		r->flush_at_us = router_loop_us() + 1000000;
	}
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

void router_receipts_cancel(struct router *r, void *sdata)
{
	struct receipt_wait *w;

	llist_for_each_entry(w, &r->receipts, list)
		if (w->sdata == sdata)
			w->stored = NULL;
	llist_for_each_entry(w, &r->receipts_told, list)
		if (w->sdata == sdata)
			w->stored = NULL;
}

void router_group_init(struct router *r)
{
	osmo_timer_setup(&r->flush_timer, flush_timer_cb, r);
	r->group_last_us = router_loop_us() - GROUP_PERIOD_US;
}
