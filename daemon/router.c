/* The router: event -> session -> engine -> actions. The only module that holds the store,
 * the engine and the back-end port together (see include/guichet/router.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/clock.h"
#include "guichet/guard.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/outbox.h"
#include "guichet/router_run.h"
#include "guichet/scheduler.h"
#include "guichet/ussd_dialogue.h"

#define PURGE_PERIOD_MS (60 * 1000)
#define MARKS_WAIT_MS 10	/* see flush_soon */

struct flowset_entry {
	struct llist_head list;
	struct flow_set *fs;
	int64_t last_used;	/* unix seconds: retired once no session can still be on it */
};

/* A call in flight, keyed back to its session. */
struct pending_call {
	struct router *r;
	enum channel channel;
	char *key;		/* SMS: session key; USSD: dialogue id */
	char *via;
	uint32_t call_id;
	char *op;
};

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
	bool flush_now;		/* flush_timer is due after this iteration, not MARKS_WAIT_MS */
	struct llist_head results;	/* struct call_result, SMS calls answered, not yet written */
	struct llist_head intake;	/* struct intake_batch, received, not yet written */
	struct llist_head intake_told;	/* written, their senders being told (intake_done) */
	int64_t last_purge_ms;
	int64_t last_offer_ms;		/* router_tick's last unprompted outbox offer */
	int64_t clock_shift_s;	/* added to the time the engine is given (guichet test's wait:) */
	struct rate_ctr_group *ctrs;
	char *ussd_text;	/* the last transport screen handed out (ussd_sink_text) */
	struct guard *guard;	/* NULL: no limits (tests, guichet simulate) */
	const struct notify_config *notify;	/* STOP/START words; NULL: none */
	struct scheduler *sched;	/* told when a flow scheduled something; NULL: none */
	bool sched_dirty;		/* a flow scheduled or cancelled in this transaction */
	/* Store health, for one journal line per change and STATUS= (store_result). */
	bool store_failing;	/* the last write failed */
	bool store_lost;	/* its file was removed or replaced: nothing is taken any more */
	unsigned long store_failures;	/* failed writes since the last success */
	char store_error[200];
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

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- store health ---- */

/* Every write transaction's outcome comes here (what: the write, for the journal). A failed
 * commit is logged once when writes start failing, with its reason, and once when they work
 * again, never once per attempt (a modem retries at each poll, the outbox at each tick);
 * meanwhile router_store_problem() gives the reason for STATUS=. */
static void store_result(struct router *r, bool ok, const char *what)
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

/* ---- flow sets ---- */

const struct flow_set *router_flows_for(struct router *r, const struct session *s)
{
	struct flowset_entry *e;

	if (s->state == SESSION_IDLE)
		return r->flows;
	llist_for_each_entry(e, &r->flowsets, list) {
		if (e->fs->version == s->flow_version) {
			e->last_used = now_s();
			return e->fs;
		}
	}
	return r->flows;	/* after a restart: the current set, by flow and step names */
}

static unsigned longest_timeout(const struct flow_set *fs)
{
	unsigned t = 15 * 60;

	for (unsigned i = 0; i < fs->n_flows; i++)
		if (fs->flows[i].timeout_s > t)
			t = fs->flows[i].timeout_s;
	return t;
}

static void retire_flowsets(struct router *r, int64_t now)
{
	struct flowset_entry *e, *tmp;

	llist_for_each_entry_safe(e, tmp, &r->flowsets, list) {
		if (e->fs == r->flows)
			continue;
		if (now - e->last_used > (int64_t)longest_timeout(e->fs) + 60) {
			llist_del(&e->list);
			talloc_free(e->fs);
			talloc_free(e);
		}
	}
}

void router_set_flows(struct router *r, struct flow_set *fs)
{
	struct flowset_entry *e = talloc_zero(r, struct flowset_entry);

	talloc_steal(e, fs);
	e->fs = fs;
	e->last_used = now_s();
	if (r->flows) {
		struct flowset_entry *old;
		llist_for_each_entry(old, &r->flowsets, list)
			if (old->fs == r->flows)
				old->last_used = now_s();
		if (fs->version <= r->flows->version)
			fs->version = r->flows->version + 1;
	}
	llist_add_tail(&e->list, &r->flowsets);
	r->flows = fs;
}

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

const struct flow_set *router_flows(const struct router *r)
{
	return r->flows;
}

/* ---- logging ---- */

/* Where a session was before a step, for log_outcome: only the names (a whole session_copy
 * per step, variables and all, was a good part of a USSD screen's CPU). */
struct step_before {
	char flow[SESSION_NAME_MAX];
	char step[SESSION_NAME_MAX];
};

static void before_keep(struct step_before *b, const struct session *s)
{
	memcpy(b->flow, s->flow, sizeof(b->flow));
	memcpy(b->step, s->step, sizeof(b->step));
}

static void log_outcome(const struct step_before *before, const struct session *after,
			const struct engine_out *out)
{
	char pseudo[32];
	int level = out->outcome == OUTCOME_FAILED ? LOGL_NOTICE : LOGL_INFO;

	/* Most steps neither start nor end a session, and INFO is often off: the pseudonym
	 * (an HMAC-SHA-256) only when a line is written. */
	if ((!out->started && out->outcome == OUTCOME_NONE) ||
	    !log_enabled(GLOG_SESSION, out->started ? LOGL_INFO : level))
		return;
	struct log_fields f = {
		.session = log_pseudonym(pseudo, sizeof(pseudo), after->key),
		.flow = out->flow ? out->flow : before->flow[0] ? before->flow : NULL,
		.step = out->step,
		.channel = channel_name(after->channel),
	};

	if (out->started)
		glog(GLOG_SESSION, LOGL_INFO, &f, "session started");
	if (out->outcome != OUTCOME_NONE) {
		f.flow = before->flow[0] ? before->flow : f.flow;
		f.step = before->step[0] ? before->step : NULL;
		glog(GLOG_SESSION, level, &f, "session ended: %s",
		     engine_outcome_name(out->outcome));
	}
}

/* What the person typed, at debug only, and never the answer to a secret question. */
static void log_input(const struct session *s, const struct engine_input *in,
		      const struct engine_out *out)
{
	char pseudo[32];
	struct log_fields f = { .channel = channel_name(s->channel) };

	if (in->kind != EV_TEXT || !log_enabled(GLOG_SESSION, LOGL_DEBUG))
		return;
	f.session = log_pseudonym(pseudo, sizeof(pseudo), s->key);
	f.flow = out->flow;
	f.step = out->step;
	if (out->input_secret)
		glog(GLOG_SESSION, LOGL_DEBUG, &f, "text: (answer to a secret question, not logged)");
	else
		glog(GLOG_SESSION, LOGL_DEBUG, &f, "text: %s", in->text ? in->text : "");
}

/* ---- messages a flow sends first (remind:, receipt:, cancel_reminders:) ---- */

/* Inside the caller's transaction, with the step that decided them: a crash either keeps
 * both or neither, and the idempotency keys make a replay schedule nothing twice. to: the
 * person's number; via: the transport they wrote to (NULL: the default). */
static int flow_sends(struct router *r, const struct session *s, const struct engine_out *out,
		      const char *to, const char *via)
{
	struct store *st = r->st;
	struct log_fields f = { .flow = out->flow, .step = out->step,
				.channel = channel_name(s->channel) };
	char pseudo[32];

	if (!out->n_sends && !out->n_cancels && !out->n_skipped)
		return 0;
	f.session = log_pseudonym(pseudo, sizeof(pseudo), s->key);
	if (!to || !*to || !st->ops->schedule_add) {
		glog(GLOG_SESSION, LOGL_NOTICE, &f, "%u reminder(s)/receipt(s) not scheduled: no "
		     "number to send them to", out->n_sends);
		return 0;
	}
	for (unsigned i = 0; i < out->n_cancels; i++) {
		int n = st->ops->schedule_cancel_ref(st, out->cancels[i], to);
		if (n < 0)
			return -1;
		glog(GLOG_SESSION, LOGL_INFO, &f, "%d scheduled message(s) cancelled", n);
		r->sched_dirty = true;
	}
	for (unsigned i = 0; i < out->n_sends; i++) {
		const struct engine_send *e = &out->sends[i];
		struct store_scheduled m = {
			.to = to, .text = e->text, .via = via && *via ? via : NULL,
			.send_at = e->at * 1000, .reference = e->reference,
			.idempotency_key = e->key,
			.origin = e->receipt ? SCHED_RECEIPT : SCHED_REMIND,
			.status = SCHED_QUEUED,
		};
		int rc = st->ops->schedule_add(st, &m);
		if (rc < 0)
			return -1;
		if (rc == 0)
			glog(GLOG_SESSION, LOGL_INFO, &f, "%s %lld scheduled", e->receipt ?
			     "receipt" : "reminder", (long long)m.id);
		r->sched_dirty = true;
	}
	if (out->n_skipped)
		glog(GLOG_SESSION, LOGL_NOTICE, &f, "%u reminder(s) not scheduled: their time is "
		     "past or not a time", out->n_skipped);
	return 0;
}

/* After a commit: the scheduler looks again (a receipt is due now). */
static void sched_kick(struct router *r)
{
	if (r->sched_dirty && r->sched)
		scheduler_kick(r->sched);
	r->sched_dirty = false;
}

void router_set_scheduler(struct router *r, struct scheduler *s)
{
	r->sched = s;
}

/* ---- SMS ---- */

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
	if (r->calls.call(r->calls.impl, c->op, &c->args, budget_ms, call_done, p) < 0) {
		/* Unknown operation: the flow checker prevents it; fail the call the same way. */
		glog(GLOG_BACKEND, LOGL_ERROR, NULL, "operation %s is not declared", c->op);
		call_done(p, false, NULL, "undeclared operation");
	}
}

/* One journal line for something the cost guard decided; the number masked. */
static void guard_log(int level, const char *number, enum guard_reason why, const char *fmt,
		      const char *detail)
{
	char masked[48];
	struct log_fields f = { .guard = guard_reason_name(why), .channel = "sms" };

	glog(GLOG_MAIN, level, &f, fmt, log_mask(masked, sizeof(masked), number ? number : "?"),
	     detail);
}

static void guard_note_log(const struct guard_note *n)
{
	struct log_fields f = { .guard = "capped" };

	if (n->kind == GUARD_NOTE_WARN)
		glog(GLOG_MAIN, LOGL_NOTICE, &f, "spend at 80%% of the daily cap%s%s: %llu/%llu parts",
		     n->scope ? " of " : "", n->scope ? n->scope : "", (unsigned long long)n->spent,
		     (unsigned long long)n->cap);
	else if (n->kind == GUARD_NOTE_HIT)
		glog(GLOG_MAIN, LOGL_ERROR, &f, "daily spend cap%s%s reached: %llu/%llu parts; "
		     "new procedures get no reply until midnight UTC", n->scope ? " of " : "",
		     n->scope ? n->scope : "", (unsigned long long)n->spent,
		     (unsigned long long)n->cap);
}

/* Stores the reply for an SMS session and counts it. With a guard: 1 when the guard
 * refuses it (destination, spend cap), nothing stored; the parts it allows are added to the
 * day's spend in the same transaction. */
static int queue_out(struct router *r, const char *via, const char *to, const char *text,
		     bool in_procedure, int64_t *id, enum guard_reason *refused);

static int queue_reply(struct router *r, const char *via, const char *to, const char *text,
		       bool in_procedure)
{
	return queue_out(r, via, to, text, in_procedure, NULL, NULL);
}

static int queue_out(struct router *r, const char *via, const char *to, const char *text,
		     bool in_procedure, int64_t *id, enum guard_reason *refused)
{
	struct text_measure m;
	struct store_outbound out = { .via = via, .to = to, .text = text };

	text_measure(text, &m);
	out.coding = m.coding;
	out.parts = m.parts;
	if (r->guard) {
		struct guard_note note;
		int64_t now = now_s();
		enum guard_reason why = guard_reply(r->guard, via, to, m.parts, in_procedure, now,
						    &note);
		guard_note_log(&note);
		if (why != GUARD_OK) {
			if (refused)
				*refused = why;
			return 1;
		}
		/* A rollback after this leaves the guard counting parts never queued: it errs on
		 * the side of spending less. */
		if (r->st->ops->spend_add(r->st, guard_day(now), via, m.parts) < 0)
			return -1;
	}
	if (r->st->ops->outbound_add(r->st, &out) < 0)
		return -1;
	if (id)
		*id = out.id;
	else
		rate_ctr_inc2(r->ctrs, ROUTER_CTR_REPLIES);
	return 0;
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

void router_step(struct router *r, void *ctx, struct session *s, const struct engine_input *in,
		 struct engine_out *out)
{
	struct step_before before;

	before_keep(&before, s);
	engine_step(ctx, router_flows_for(r, s), s, in, out);
	log_input(s, in, out);
	if (out->started)
		s->flow_version = r->flows->version;
	log_outcome(&before, s, out);
}

void router_sends_write(struct router *r, const struct session *s, const struct engine_out *out,
			const char *to)
{
	if (!out->n_sends && !out->n_cancels && !out->n_skipped)
		return;
	if (r->st->ops->begin(r->st) == 0 && flow_sends(r, s, out, to, NULL) == 0 &&
	    r->st->ops->commit(r->st) == 0) {
		store_result(r, true, NULL);
		sched_kick(r);
	} else {
		r->st->ops->rollback(r->st);
		r->sched_dirty = false;
		store_result(r, false, "scheduling a USSD dialogue's reminders");
	}
}

void router_followup_write(struct router *r, const char *via, const char *to, const char *text)
{
	if (r->st->ops->begin(r->st) == 0 && queue_reply(r, via, to, text, true) == 0 &&
	    r->st->ops->commit(r->st) == 0) {
		store_result(r, true, NULL);
		outbox_offer(r->ob);
	} else {
		r->st->ops->rollback(r->st);
		store_result(r, false, "queueing a USSD follow-up by SMS");
	}
}

/* ---- messages sent first (scheduler.h) ---- */

const char *router_sms_via(const struct router *r, const char *want)
{
	if (want && *want)
		return outbox_via(r->ob, want);
	if (r->cfg.sms_followup_via)
		return r->cfg.sms_followup_via;
	return outbox_first(r->ob) ? outbox_first(r->ob)->name : NULL;
}

int router_notify_queue(struct router *r, const char *via, const char *to, const char *text,
			int64_t *id, const char **why)
{
	enum guard_reason g = GUARD_OK;
	int rc = queue_out(r, via, to, text, false, id, &g);

	if (rc == 1 && why)
		*why = g == GUARD_REFUSED ? "destination" : g == GUARD_CAPPED ? "spend cap" :
		       guard_reason_name(g);
	return rc;
}

int router_open_flow(struct router *r, const char *via, const char *to, const char *flow,
		     const char *step, const struct vars *vars, int64_t *id, const char **why)
{
	void *ctx = talloc_new(r);
	char key[SESSION_KEY_MAX];
	struct session s;
	struct step_before before;
	struct engine_out out;
	const struct flow *f = r->flows ? flow_find(r->flows, flow) : NULL;
	int rc;

	*id = 0;
	if (!f || flow_step_index(f, step) < 0) {
		rc = 3;
		goto out;
	}
	snprintf(key, sizeof(key), "sms:%s", to);
	rc = r->st->ops->session_get(r->st, key, &s, ctx);
	if (rc < 0)
		goto out;
	if (rc == 0 && s.state != SESSION_IDLE) {
		rc = 2;		/* in a procedure now: not interrupted */
		goto out;
	}
	session_init(&s, ctx, key, CHANNEL_SMS, to);
	snprintf(s.via, sizeof(s.via), "%s", via);
	if (vars && vars_merge(&s.vars, vars, "") < 0) {
		rc = -1;
		goto out;
	}
	before_keep(&before, &s);
	struct engine_input ein = { .kind = EV_OPEN, .flow = flow, .text = step,
				    .now = now_s() + r->clock_shift_s, .channel = &r->cfg.sms };
	engine_step(ctx, r->flows, &s, &ein, &out);
	log_outcome(&before, &s, &out);
	if (out.reply) {
		rc = router_notify_queue(r, via, to, out.reply, id, why);
		if (rc != 0)
			goto out;
	}
	if (s.state == SESSION_IDLE && !s.vars.n)
		rc = r->st->ops->session_del(r->st, key) < 0 ? -1 : 0;
	else
		rc = r->st->ops->session_put(r->st, &s) < 0 ? -1 : 0;
	/* Started now, answered later on the loop: by then the caller has committed. */
	if (rc == 0 && out.has_call)
		router_start_call(r, CHANNEL_SMS, key, via, &out.call, r->cfg.call_budget_ms);
out:
	talloc_free(ctx);
	return rc;
}

static void ignore_done(void *data, bool ok, const struct vars *result, const char *error)
{
	(void)data; (void)ok; (void)result; (void)error;
}

int router_call(struct router *r, const char *op, const struct vars *args, unsigned budget_ms,
		call_done_fn done, void *data)
{
	if (!r->calls.call)
		return -1;
	return r->calls.call(r->calls.impl, op, args, budget_ms, done ? done : ignore_done, data);
}

bool router_destination_allowed(const struct router *r, const char *to)
{
	return !r->guard || guard_destination_allowed(r->guard, to);
}

void router_set_notify(struct router *r, const struct notify_config *c)
{
	r->notify = c;
}

/* STOP / START from a person, in the transaction that stores the message: remembered for
 * messages sent first; the message itself is served like any other (they asked). */
static int consent_word(struct router *r, const char *from, const char *text)
{
	int k = r->notify ? notify_keyword(r->notify, text) : 0;
	char masked[48];

	if (!k || !from)
		return 0;
	glog(GLOG_MAIN, LOGL_INFO, NULL, "%s opts %s notifications", log_mask(masked,
	     sizeof(masked), from), k > 0 ? "out of" : "back in to");
	return k > 0 ? r->st->ops->optout_set(r->st, from, now_s())
		     : r->st->ops->optout_clear(r->st, from);
}

/* The common `limited` message for the channel, {{contact}} filled in. */
const char *router_limited_text(struct router *r, void *ctx, bool ussd)
{
	const char *t = engine_message(ctx, r->flows, &r->flows->msg.limited, "fr",
				       ussd ? &r->cfg.ussd : &r->cfg.sms);

	return t ? t : ussd ? "" : NULL;
}

/* True when the person's session waits for the answer to a secret question, as the engine
 * would tell (engine_out.input_secret) if it ran. */
static bool at_secret_step(struct router *r, void *ctx, const char *from)
{
	char key[SESSION_KEY_MAX];
	struct session s;

	snprintf(key, sizeof(key), "sms:%s", from ? from : "");
	if (r->st->ops->session_get(r->st, key, &s, ctx) != 0 || s.state != SESSION_ACTIVE)
		return false;
	const struct flow *f = flow_find(router_flows_for(r, &s), s.flow);
	int i = f ? flow_step_index(f, s.step) : -1;
	if (i < 0)
		return false;
	const struct flow_step *st = &f->steps[i];
	return st->kind == STEP_ASK && (st->secret || st->expect == EXPECT_SECRET);
}

/* The guard's say on inbound in_id, inside the caller's transaction: 1 when the engine may
 * run. Otherwise (0) the message stays stored (and done), its text forgotten if it may be
 * the answer to a secret question, and, once per block, the number gets the `limited` text.
 * -1 on a store error. */
static int sms_admit(struct router *r, void *ctx, int64_t in_id, const char *via,
		     const char *from, const char *text)
{
	if (!r->guard)
		return 1;
	struct guard_decision d = guard_sms_in(r->guard, from, text, now_s());
	if (d.verdict == GUARD_PROCESS)
		return 1;
	if (d.first) {
		static const char *const what[] = {
			[GUARD_LIMITED] = "message from %s%s: past the per-number limits; not "
					  "processed for a while",
			[GUARD_MUTED] = "message from %s%s: answers each reply at once with the same "
					"text (another robot?); muted for a while",
			[GUARD_IGNORED] = "message from %s%s stored, not answered: the sender matches "
					  "`limits: ignore`",
			[GUARD_REFUSED] = "message from %s%s stored, not answered: not an allowed "
					  "destination (`limits: destinations`)",
		};
		if (d.reason < sizeof(what) / sizeof(what[0]) && what[d.reason])
			guard_log(d.reason == GUARD_IGNORED ? LOGL_INFO : LOGL_NOTICE, from, d.reason,
				  what[d.reason], "");
	}
	if (d.reason != GUARD_IGNORED && d.reason != GUARD_REFUSED &&
	    at_secret_step(r, ctx, from) && r->st->ops->inbound_forget(r->st, in_id) < 0)
		return -1;
	if (d.verdict == GUARD_NOTICE && via && *via) {
		const char *t = router_limited_text(r, ctx, false);
		if (t && queue_reply(r, via, from, t, false) < 0)
			return -1;
	}
	return 0;
}

/* One SMS event for a person's session, inside the caller's transaction. Calls to start
 * after the commit are added to *calls. *secret (when secret is not NULL) tells whether the
 * text answered a secret question: the caller then has the store forget it. */
struct call_req {
	char *key, *via;
	struct engine_call call;
};

static int sms_event(struct router *r, void *ctx, const char *via, const char *from,
		     const struct engine_input *in, const char *key_in, struct call_req **calls,
		     unsigned *n_calls, bool *secret)
{
	struct session s;
	struct step_before before;
	struct engine_out out;
	char key[SESSION_KEY_MAX];
	int rc;

	if (key_in)
		snprintf(key, sizeof(key), "%s", key_in);
	else
		snprintf(key, sizeof(key), "sms:%s", from);
	rc = r->st->ops->session_get(r->st, key, &s, ctx);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (in->kind != EV_TEXT)
			return 0;	/* a late result for a session already gone */
		session_init(&s, ctx, key, CHANNEL_SMS, from);
	}
	if (!from)
		from = s.address;
	bool in_procedure = in->kind != EV_TEXT || s.state != SESSION_IDLE;
	if (r->guard && in->kind == EV_TEXT &&
	    guard_capped(r->guard, via && *via ? via : NULL, in_procedure, now_s())) {
		/* Nothing would be answered: the procedure does not start (or go on). */
		guard_count_capped(r->guard);
		return 0;
	}
	/* The transport the person wrote to is kept: after a restart the answer still goes out
	 * from the number they wrote to (a short number, not another modem's long one). */
	if (in->kind == EV_TEXT && via && *via)
		snprintf(s.via, sizeof(s.via), "%s", via);
	before_keep(&before, &s);
	const struct flow_set *fs = router_flows_for(r, &s);
	struct engine_input ein = *in;
	ein.channel = &r->cfg.sms;
	engine_step(ctx, fs, &s, &ein, &out);
	log_input(&s, in, &out);
	if (secret)
		*secret = in->kind == EV_TEXT && out.input_secret;
	if (s.state != SESSION_IDLE && out.started)
		s.flow_version = fs == r->flows ? r->flows->version : s.flow_version;
	log_outcome(&before, &s, &out);

	const char *reply_via = via && *via ? via : NULL;
	if (out.reply && reply_via) {
		int q = queue_reply(r, reply_via, from, out.reply, in_procedure);
		if (q < 0)
			return -1;
		/* Refused (a reply longer than what is left of the cap): a text changes nothing
		 * the person was not told about. */
		if (q == 1 && in->kind == EV_TEXT)
			return 0;
	}
	if (flow_sends(r, &s, &out, from, s.via[0] ? s.via : via) < 0)
		return -1;
	if (s.state == SESSION_IDLE && !s.vars.n)
		rc = r->st->ops->session_del(r->st, key);
	else
		rc = r->st->ops->session_put(r->st, &s);
	if (rc < 0)
		return -1;
	if (out.has_call) {
		*calls = talloc_realloc(ctx, *calls, struct call_req, *n_calls + 1);
		struct call_req *c = &(*calls)[(*n_calls)++];
		c->key = talloc_strdup(ctx, key);
		c->via = talloc_strdup(ctx, via ? via : "");
		c->call = out.call;
	}
	return 0;
}

static void start_calls(struct router *r, enum channel ch, struct call_req *calls, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		router_start_call(r, ch, calls[i].key, calls[i].via, &calls[i].call, r->cfg.call_budget_ms);
}

/* Received messages through the engine, inside the caller's transaction. */
static int intake_apply(struct router *r, void *ctx, const struct sms_in *msgs, unsigned n,
			struct call_req **calls, unsigned *n_calls)
{
	struct store *st = r->st;
	for (unsigned i = 0; i < n; i++) {
		struct store_inbound in = {
			.channel = CHANNEL_SMS, .via = msgs[i].via, .from = msgs[i].from,
			.text = msgs[i].text, .received = msgs[i].received, .dedup = msgs[i].dedup,
		};
		int rc = st->ops->inbound_add(st, &in);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			rate_ctr_inc2(r->ctrs, ROUTER_CTR_DUPLICATES_IN);
			continue;	/* already stored and answered before a crash */
		}
		rate_ctr_inc2(r->ctrs, ROUTER_CTR_MESSAGES_IN);
		if (consent_word(r, msgs[i].from, msgs[i].text) < 0)
			return -1;
		struct engine_input ein = { .kind = EV_TEXT, .text = msgs[i].text,
					    .now = now_s() + r->clock_shift_s };
		bool secret = false;
		rc = sms_admit(r, ctx, in.id, msgs[i].via, msgs[i].from, msgs[i].text);
		if (rc < 0 ||
		    (rc == 1 &&
		     sms_event(r, ctx, msgs[i].via, msgs[i].from, &ein, NULL, calls, n_calls,
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
	if (intake_apply(r, ctx, msgs, n, &calls, &n_calls) < 0)
		goto fail_rollback;
	/* The replies made here leave the outbox in the same transaction (one fsync). */
	struct outbox_taken *tk;
	if (outbox_take(r->ob, ctx, &tk) < 0 || st->ops->commit(st) < 0)
		goto fail_rollback;
	store_result(r, true, NULL);
	sched_kick(r);
	start_calls(r, CHANNEL_SMS, calls, n_calls);
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
			store_result(r, false, "storing received messages");
			return -1;
		}
		glog(GLOG_STORE, LOGL_NOTICE, NULL, "store: storing %u received messages lost a "
		     "conflict with another host (%s); trying again (%u of %u)", n,
		     store_last_error(r->st), tries + 1, CONFLICT_TRIES);
	}
	return 0;
}

/* Something that answers someone (received messages, a call's outcome) waits: the group
 * write runs after this loop iteration, with the marks waiting (flush_soon). */
static void flush_now(struct router *r)
{
	if (osmo_timer_pending(&r->flush_timer) && r->flush_now)
		return;
	osmo_timer_schedule(&r->flush_timer, 0, 0);
	r->flush_now = true;
}

/* Messages handed to router_sms_receive_later, waiting for the iteration's group write. */
struct intake_batch {
	struct llist_head list;
	struct sms_in *msgs;
	unsigned n;
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
	flush_now(r);
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

/* ---- calls ---- */

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
	return sms_event(r, ctx, cr->p->via, NULL, &ein, cr->p->key, calls, n_calls, NULL);
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
		store_result(r, false, "storing a call's outcome");
	} else {
		store_result(r, true, NULL);
		sched_kick(r);
		start_calls(r, CHANNEL_SMS, calls, n_calls);
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
	flush_now(r);
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
	(void)t;
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

/* This iteration's group write: every message received (router_sms_receive_later), every
 * call outcome and every sent/failed mark in one transaction. If it fails, the received
 * batches and the outcomes are written one by one (an outcome that cannot be written is
 * lost, as before: the person's session waits and times out) and the marks stay for the
 * next flush. Then the calls the outcomes started, and the replies they made go out. */
static void flush_writes(void *data)
{
	struct router *r = data;
	r->flush_now = false;
	struct call_result *cr, *tmp;
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	bool ok;

	if (!outbox_marks_pending(r->ob) && llist_empty(&r->results) && llist_empty(&r->intake))
		return;
	void *ctx = talloc_new(r);
	ok = r->st->ops->begin(r->st) == 0;
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
		store_result(r, true, NULL);
		sched_kick(r);
		outbox_marks_done(r->ob);
		start_calls(r, CHANNEL_SMS, calls, n_calls);
		outbox_send_taken(r->ob, tk);
		intake_done(r, true);
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
				store_result(r, true, NULL);
			} else {
				r->st->ops->rollback(r->st);
				store_result(r, false, "marking replies sent");
			}
		} else if (marks) {
			store_result(r, false, "marking replies sent");	/* kept: next flush */
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

/* ---- sinks ---- */

static int sink_received(void *data, const struct sms_in *msgs, unsigned n)
{
	return router_sms_received(data, msgs, n);
}

static int sink_received_later(void *data, const struct sms_in *msgs, unsigned n,
			       sms_stored_fn stored, void *sdata)
{
	return router_sms_receive_later(data, msgs, n, stored, sdata);
}

static void sink_received_cancel(void *data, void *sdata)
{
	router_sms_receive_cancel(data, sdata);
}

static void sink_sent(void *data, int64_t id)
{
	router_sms_sent(data, id);
}

static void sink_failed(void *data, int64_t id, bool permanent, const char *why)
{
	router_sms_failed(data, id, permanent, why);
}

static void sink_ready(void *data, struct sms_transport *t)
{
	router_sms_ready(data, t);
}

static void sink_registered(void *data, struct sms_transport *t)
{
	router_sms_register(data, t);
}

static void sink_unregistered(void *data, struct sms_transport *t)
{
	router_sms_unregister(data, t);
}

static void sink_remote_id(void *data, int64_t id, const char *via, const char *remote)
{
	router_sms_remote_id(data, id, via, remote);
}

static void sink_receipt(void *data, int64_t id, const char *via, const char *remote,
			 bool delivered, const char *stat)
{
	router_sms_receipt(data, id, via, remote, delivered, stat);
}

struct sms_sink router_sms_sink(struct router *r)
{
	return (struct sms_sink){ .received = sink_received, .sent = sink_sent,
				  .failed = sink_failed, .ready = sink_ready,
				  .registered = sink_registered,
				  .unregistered = sink_unregistered,
				  .remote_id = sink_remote_id, .receipt = sink_receipt,
				  .received_later = sink_received_later,
				  .received_cancel = sink_received_cancel, .data = r };
}

static void sink_ussd_request(void *data, const struct ussd_req *req, ussd_reply_fn reply,
			      void *rdata)
{
	router_ussd_request(data, req, reply, rdata);
}

static void sink_ussd_abort(void *data, const char *dialogue)
{
	router_ussd_abort(data, dialogue);
}

static const char *sink_ussd_text(void *data, enum ussd_text which)
{
	struct router *r = data;

	if (!r->flows)
		return NULL;
	const struct flow_messages *m = &r->flows->msg;
	const struct flow_text *t = which == USSD_TEXT_EXPIRED ? &m->expired
				  : which == USSD_TEXT_INVALID ? &m->invalid_session
				  : which == USSD_TEXT_SATURATED ? &m->saturated
				  : &m->backend_error;
	void *ctx = talloc_new(r);
	const char *text = engine_message(ctx, r->flows, t, "fr", &r->cfg.ussd);
	talloc_free(r->ussd_text);
	r->ussd_text = text ? talloc_strdup(r, text) : NULL;
	talloc_free(ctx);
	return r->ussd_text;
}

struct ussd_sink router_ussd_sink(struct router *r)
{
	return (struct ussd_sink){ .request = sink_ussd_request, .abort = sink_ussd_abort,
				   .text = sink_ussd_text, .data = r };
}

const char *ussd_sink_text(const struct ussd_sink *sink, enum ussd_text which)
{
	static const char *const builtin[] = {
		[USSD_TEXT_EXPIRED] = "Session expirée.",
		[USSD_TEXT_INVALID] = "Session invalide.",
		[USSD_TEXT_UNAVAILABLE] = "Service interrompu.",
		[USSD_TEXT_SATURATED] = "Service saturé. Merci de rappeler dans quelques minutes.",
	};
	const char *t = sink && sink->text ? sink->text(sink->data, which) : NULL;

	return t ? t : builtin[which];
}

/* ---- life cycle ---- */

static void outbox_result(void *data, bool ok, const char *what)
{
	store_result(data, ok, what);
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
	}
}

/* Another host committed work this one may do (store_ops.watch): replies for its
 * transports, scheduled messages. */
static void store_woken(void *data)
{
	struct router *r = data;

	outbox_offer(r->ob);
	if (r->sched)
		scheduler_kick(r->sched);
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
	osmo_timer_setup(&r->flush_timer, flush_timer_cb, r);
	r->ctrs = metrics_ctr_group(r, &router_ctrg_desc, NULL);
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

static void recover_inbound(void *data, const struct store_inbound *in)
{
	struct router *r = data;
	struct sms_in m = { .via = in->via, .from = in->from, .text = in->text,
			    .received = in->received, .dedup = NULL };
	/* Stored but not answered: answer now. The inbound row stays; mark it done. */
	void *ctx = talloc_new(r);
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	struct engine_input ein = { .kind = EV_TEXT, .text = m.text, .now = now_s() + r->clock_shift_s };
	bool secret = false;
	int admit = -1;
	if (r->st->ops->begin(r->st) == 0 &&
	    (admit = sms_admit(r, ctx, in->id, m.via, m.from, m.text)) >= 0 &&
	    (admit == 0 ||
	     sms_event(r, ctx, m.via, m.from, &ein, NULL, &calls, &n_calls, &secret) == 0) &&
	    r->st->ops->inbound_done(r->st, in->id) == 0 &&
	    (!secret || r->st->ops->inbound_forget(r->st, in->id) == 0) &&
	    r->st->ops->commit(r->st) == 0) {
		store_result(r, true, NULL);
		start_calls(r, CHANNEL_SMS, calls, n_calls);
	} else {
		r->st->ops->rollback(r->st);
		store_result(r, false, "answering a message stored before the restart");
	}
	talloc_free(ctx);
}

/* The transport a recovered session is answered through: the one the person wrote to (if
 * it is down, the outbox lets another of its group stand in). A session stored before the
 * transport was kept, or whose transport is no longer configured, goes out through the first
 * one registered. */
static const char *recovery_via(const struct router *r, const struct session *s)
{
	const struct sms_transport *t = outbox_find(r->ob, s->via);
	const struct sms_transport *first = outbox_first(r->ob);

	if (t)
		return t->name;
	if (s->via[0]) {
		char pseudo[32];
		struct log_fields f = { .session = log_pseudonym(pseudo, sizeof(pseudo), s->key),
					.flow = s->flow, .step = s->step, .channel = "sms" };
		glog(GLOG_SESSION, LOGL_NOTICE, &f, "transport %s is gone: answering through %s",
		     s->via, first ? first->name : "(none)");
	}
	return first ? first->name : NULL;
}

static void recover_session(void *data, const struct session *s)
{
	struct router *r = data;

	if (s->state != SESSION_WAITING || s->channel != CHANNEL_SMS)
		return;
	/* Its call died with the previous process (its arguments, secrets included, were
	 * never stored): take the flow's error way so the person is not left waiting. */
	void *ctx = talloc_new(r);
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	struct engine_input ein = { .kind = EV_FAILURE, .error = "interrupted by a restart",
				    .call_id = s->call_id, .now = now_s() + r->clock_shift_s };
	const char *via = recovery_via(r, s);
	if (r->st->ops->begin(r->st) == 0 &&
	    sms_event(r, ctx, via, s->address, &ein, s->key, &calls, &n_calls, NULL) == 0 &&
	    r->st->ops->commit(r->st) == 0) {
		store_result(r, true, NULL);
		start_calls(r, CHANNEL_SMS, calls, n_calls);
	} else {
		r->st->ops->rollback(r->st);
		store_result(r, false, "resuming a session interrupted by the restart");
	}
	talloc_free(ctx);
}

int router_recover(struct router *r, int64_t now)
{
	void *ctx = talloc_new(r);
	(void)now;
	int rc = r->st->ops->inbound_pending(r->st, recover_inbound, r);
	if (rc >= 0)
		rc = r->st->ops->session_each(r->st, recover_session, r, ctx);
	talloc_free(ctx);
	outbox_offer(r->ob);
	return rc < 0 ? -1 : 0;
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
			store_result(r, false, "purging old messages");
		retire_flowsets(r, now / 1000);
	}
	if (now - r->last_offer_ms >= (int64_t)r->cfg.outbox_poll_ms) {
		r->last_offer_ms = now;
		outbox_offer(r->ob);
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
