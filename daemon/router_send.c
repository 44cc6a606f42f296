/* The router's outgoing side (router_run.h): replies and messages sent first queued in the
 * outbox under the cost guard's say, what a flow schedules (reminders, receipts), a flow
 * opened with a person (the notification API), calls outside any session. */
#include <stdio.h>
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"
#include "guichet/log.h"
#include "guichet/outbox.h"
#include "guichet/router_run.h"
#include "guichet/scheduler.h"

/* One journal line for something the cost guard decided; the number masked. */
void router_guard_log(int level, const char *number, enum guard_reason why, const char *fmt,
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

int router_queue_reply(struct router *r, const char *via, const char *to, const char *text,
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
	/* The next take or offer searches (a rollback only makes it search for nothing). */
	outbox_wake(r->ob);
	if (id)
		*id = out.id;
	else
		rate_ctr_inc2(r->ctrs, ROUTER_CTR_REPLIES);
	return 0;
}

/* Inside the caller's transaction, with the step that decided them: a crash either keeps
 * both or neither, and the idempotency keys make a replay schedule nothing twice. to: the
 * person's number; via: the transport they wrote to (NULL: the default). */
int router_flow_sends(struct router *r, const struct session *s, const struct engine_out *out,
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
void router_sched_kick(struct router *r)
{
	if (r->sched_dirty && r->sched_kick)
		r->sched_kick(r->sched_kick_data);
	r->sched_dirty = false;
}

void router_set_sched_kick(struct router *r, void (*kick)(void *data), void *data)
{
	r->sched_kick = kick;
	r->sched_kick_data = data;
}

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
	router_before_keep(&before, &s);
	struct engine_input ein = { .kind = EV_OPEN, .flow = flow, .text = step,
				    .now = now_s() + r->clock_shift_s, .channel = &r->cfg.sms };
	engine_step(ctx, r->flows, &s, &ein, &out);
	router_observe_step(r, &before, &s, &out);
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

void router_sends_write(struct router *r, const struct session *s, const struct engine_out *out,
			const char *to)
{
	if (!out->n_sends && !out->n_cancels && !out->n_skipped)
		return;
	if (r->st->ops->begin(r->st) == 0 && router_flow_sends(r, s, out, to, NULL) == 0 &&
	    r->st->ops->commit(r->st) == 0) {
		router_store_result(r, true, NULL);
		router_sched_kick(r);
	} else {
		r->st->ops->rollback(r->st);
		r->sched_dirty = false;
		router_store_result(r, false, "scheduling a USSD dialogue's reminders");
	}
}

void router_followup_write(struct router *r, const char *via, const char *to, const char *text)
{
	if (r->st->ops->begin(r->st) == 0 && router_queue_reply(r, via, to, text, true) == 0 &&
	    r->st->ops->commit(r->st) == 0) {
		router_store_result(r, true, NULL);
		outbox_offer(r->ob);
	} else {
		r->st->ops->rollback(r->st);
		router_store_result(r, false, "queueing a USSD follow-up by SMS");
	}
}
