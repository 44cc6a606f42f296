/* A person's session through the router (router_run.h): one engine step with its journal
 * lines, an SMS event in the caller's transaction (the guard's say, consent words, the
 * reply queued, the session stored), and what a restart resumes. */
#include <stdio.h>
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_stats.h"
#include "guichet/guard.h"
#include "guichet/log.h"
#include "guichet/outbox.h"
#include "guichet/router_run.h"
#include "guichet/scheduler.h"

void router_before_keep(struct step_before *b, const struct session *s)
{
	memcpy(b->flow, s->flow, sizeof(b->flow));
	memcpy(b->step, s->step, sizeof(b->step));
}

void router_observe_step(struct router *r, const struct step_before *before,
			 const struct session *after, const struct engine_out *out)
{
	char pseudo[32];
	int level = out->outcome == OUTCOME_FAILED ? LOGL_NOTICE : LOGL_INFO;

	flow_stats_count(r->flow_ctrs, before->flow, out);
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

void router_step(struct router *r, void *ctx, struct session *s, const struct engine_input *in,
		 struct engine_out *out)
{
	struct step_before before;

	router_before_keep(&before, s);
	engine_step(ctx, router_flows_for(r, s), s, in, out);
	log_input(s, in, out);
	if (out->started)
		s->flow_version = r->flows->version;
	router_observe_step(r, &before, s, out);
}

/* STOP / START from a person, in the transaction that stores the message: remembered for
 * messages sent first; the message itself is served like any other (they asked). */
int router_consent_word(struct router *r, const char *from, const char *text)
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
int router_sms_admit(struct router *r, void *ctx, int64_t in_id, const char *via,
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
			router_guard_log(d.reason == GUARD_IGNORED ? LOGL_INFO : LOGL_NOTICE, from, d.reason,
				  what[d.reason], "");
	}
	if (d.reason != GUARD_IGNORED && d.reason != GUARD_REFUSED &&
	    at_secret_step(r, ctx, from) && r->st->ops->inbound_forget(r->st, in_id) < 0)
		return -1;
	if (d.verdict == GUARD_NOTICE && via && *via) {
		const char *t = router_limited_text(r, ctx, false);
		if (t && router_queue_reply(r, via, from, t, false) < 0)
			return -1;
	}
	return 0;
}

/* One SMS event for a person's session, inside the caller's transaction. Calls to start
 * after the commit are added to *calls. *secret (when secret is not NULL) tells whether the
 * text answered a secret question: the caller then has the store forget it. */
int router_sms_event(struct router *r, void *ctx, const char *via, const char *from,
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
	router_before_keep(&before, &s);
	const struct flow_set *fs = router_flows_for(r, &s);
	struct engine_input ein = *in;
	ein.channel = &r->cfg.sms;
	engine_step(ctx, fs, &s, &ein, &out);
	log_input(&s, in, &out);
	if (secret)
		*secret = in->kind == EV_TEXT && out.input_secret;
	if (s.state != SESSION_IDLE && out.started)
		s.flow_version = fs == r->flows ? r->flows->version : s.flow_version;
	router_observe_step(r, &before, &s, &out);

	const char *reply_via = via && *via ? via : NULL;
	if (out.reply && reply_via) {
		int q = router_queue_reply(r, reply_via, from, out.reply, in_procedure);
		if (q < 0)
			return -1;
		/* Refused (a reply longer than what is left of the cap): a text changes nothing
		 * the person was not told about. */
		if (q == 1 && in->kind == EV_TEXT)
			return 0;
	}
	if (router_flow_sends(r, &s, &out, from, s.via[0] ? s.via : via) < 0)
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

void router_start_calls(struct router *r, enum channel ch, struct call_req *calls, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		router_start_call(r, ch, calls[i].key, calls[i].via, &calls[i].call, r->cfg.call_budget_ms);
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
	    (admit = router_sms_admit(r, ctx, in->id, m.via, m.from, m.text)) >= 0 &&
	    (admit == 0 ||
	     router_sms_event(r, ctx, m.via, m.from, &ein, NULL, &calls, &n_calls, &secret) == 0) &&
	    r->st->ops->inbound_done(r->st, in->id) == 0 &&
	    (!secret || r->st->ops->inbound_forget(r->st, in->id) == 0) &&
	    r->st->ops->commit(r->st) == 0) {
		router_store_result(r, true, NULL);
		router_start_calls(r, CHANNEL_SMS, calls, n_calls);
	} else {
		r->st->ops->rollback(r->st);
		router_store_result(r, false, "answering a message stored before the restart");
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
	    router_sms_event(r, ctx, via, s->address, &ein, s->key, &calls, &n_calls, NULL) == 0 &&
	    r->st->ops->commit(r->st) == 0) {
		router_store_result(r, true, NULL);
		router_start_calls(r, CHANNEL_SMS, calls, n_calls);
	} else {
		r->st->ops->rollback(r->st);
		router_store_result(r, false, "resuming a session interrupted by the restart");
	}
	talloc_free(ctx);
}

void router_recover_orphans(struct router *r)
{
	void *ctx = talloc_new(r);

	if (r->st->ops->session_orphans(r->st, recover_session, r, ctx) < 0)
		router_store_result(r, false, "looking for the waits of hosts that are gone");
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
	outbox_wake(r->ob);
	outbox_offer(r->ob);
	return rc < 0 ? -1 : 0;
}
