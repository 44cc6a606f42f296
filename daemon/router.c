/* The router: event -> session -> engine -> actions. The only module that holds the store,
 * the engine and the back-end port together (see include/guichet/router.h). This file: its
 * life cycle, store health and the periodic work. Received messages are router_intake.c,
 * back-end calls and the iteration's group write (received messages, call outcomes and the
 * outbox's marks in one transaction) router_group.c, a person's session router_session.c,
 * what goes out router_send.c, the flow sets router_flows.c, the sinks router_sink.c, USSD
 * dialogues ussd_dialogue.c, the outbox outbox.c; router_run.h is what they share. */
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
	router_group_init(r);
	r->ctrs = metrics_ctr_group(r, &router_ctrg_desc, NULL);
	r->flow_ctrs = flow_stats_alloc(r);
	if (r->ctrs) {
		struct outbox_env env = { .st = st, .ctrs = r->ctrs, .store_result = outbox_result,
					  .kick = router_flush_soon, .data = r };
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
