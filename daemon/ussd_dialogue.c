/* The router's USSD dialogues (include/guichet/ussd_dialogue.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"
#include "guichet/log.h"
#include "guichet/router_run.h"
#include "guichet/ussd_dialogue.h"
#include "guichet/ussd_table.h"
#include "guichet/ussd_share.h"

/* The router's side of a table entry (e->rp): the person's session and the screen owed. */
struct ussd_dialogue {
	struct ussd_dlg *e;
	struct ussd_dialogues *t;
	char *via;
	char *from;
	struct session s;
	ussd_reply_fn reply;	/* set while a screen is owed to the network */
	void *reply_data;
	const char *wait_text;
	bool followup_sms;	/* the screen was answered with the wait text: reply by SMS */
	struct ussd_share share;	/* aggregator dialogues on a shared store (ussd_share.h) */
};

struct ussd_dialogues {
	struct router *r;
	struct ussd_table *table;	/* shared with the transports (router_ussd_sink) */
	unsigned open;			/* entries with a router side */
	int64_t swept;		/* when expired shared dialogues were last swept */
};

static struct ussd_dialogue *dialogue_find(struct ussd_dialogues *t, const char *id)
{
	struct ussd_dlg *e = ussd_table_find(t->table, id);

	return e ? e->rp : NULL;
}

static void dialogue_free(struct ussd_dialogue *d)
{
	struct ussd_dlg *e = d->e;

	d->t->open--;
	talloc_free(d);
	ussd_table_leave_router(e);
}

static void dialogue_answer(struct ussd_dialogue *d, const char *text, bool more)
{
	ussd_reply_fn reply = d->reply;
	void *data = d->reply_data;

	d->reply = NULL;
	ussd_table_disarm(d->e, true);
	if (reply)
		reply(data, text ? text : "", more);
}

/* The common message msg of fs (fs->msg's expired, backend_error) for USSD, under ctx. */
static const char *common_text(struct router *r, void *ctx, const struct flow_set *fs,
			       const struct flow_text *msg, const char *lang)
{
	const char *t = engine_message(ctx, fs, msg, lang, &router_config(r)->ussd);

	return t ? t : "";
}

/* The back-end is slow: the screen cannot wait. Say the step's wait text and follow up by
 * SMS if the flow says so, or end with the common error. */
static void answer_timeout(struct ussd_dlg *e)
{
	struct ussd_dialogue *d = e->rp;
	struct router *r = d->t->r;
	const struct flow_set *fs = router_flows_for(r, &d->s);

	/* Either way the screen closes the dialogue for the network. */
	ussd_share_end(&d->share, r->st, d->e->key);
	if (d->wait_text && router_sms_via(r, NULL)) {
		d->followup_sms = true;
		dialogue_answer(d, d->wait_text, false);
		return;
	}
	void *ctx = talloc_new(d->t);
	dialogue_answer(d, common_text(r, ctx, fs, &fs->msg.backend_error, d->s.lang), false);
	talloc_free(ctx);
	/* The person has gone: the late result will find no dialogue. */
	session_reset(&d->s);
	dialogue_free(d);
}

/* The dialogue went on at another host while this one answered from its older state: the
 * screen must not go (the person would see a step they already passed); refused as an
 * unknown session, and forgotten here. */
static void ussd_stale(struct ussd_dialogue *d, void *ctx)
{
	struct router *r = d->t->r;
	const struct flow_set *fs = router_flows_for(r, &d->s);
	char pseudo[32];

	glog(GLOG_USSD, LOGL_NOTICE, &(struct log_fields){ .channel = "ussd",
	     .session = log_pseudonym(pseudo, sizeof(pseudo), d->s.key) },
	     "USSD dialogue went on at another host: this request, from an older state, refused");
	dialogue_answer(d, common_text(r, ctx, fs, &fs->msg.invalid_session, d->s.lang), false);
	dialogue_free(d);
}

/* One engine step for d and what it says: a screen now, a call first (with the answer timer
 * armed), or, once the screen was closed with the wait text, the answer by SMS. */
static void ussd_run(struct ussd_dialogue *d, const struct engine_input *in)
{
	struct router *r = d->t->r;
	const struct router_config *cfg = router_config(r);
	struct engine_out out;
	void *ctx = talloc_new(d->t);

	router_step(r, ctx, &d->s, in, &out);
	/* The first request's text is the code dialled: it adds nothing to the history. */
	if (in->kind == EV_TEXT)
		ussd_share_answered(&d->share, d, d->share.step ? in->text : NULL, out.input_secret);
	/* Reminders and receipts go by SMS to the number behind the dialogue, as a follow-up
	 * does. */
	router_sends_write(r, &d->s, &out, d->from);

	if (d->followup_sms) {
		/* The USSD screen was closed with the wait text: the answer goes by SMS. */
		const char *via = router_sms_via(r, NULL);
		if (out.reply && via)
			router_followup_write(r, via, d->from, out.reply);
		if (!out.has_call) {
			dialogue_free(d);
			talloc_free(ctx);
			return;
		}
	} else if (out.has_call) {
		d->wait_text = out.wait_text ? talloc_strdup(d, out.wait_text) : NULL;
		ussd_table_arm(d->e, cfg->ussd_answer_ms, true, answer_timeout);
	} else {
		if (out.expects_answer && ussd_share_screen(&d->share, ctx, r->st, d->e->key, d->via,
							    d->from, &d->s, (int64_t)time(NULL)) == 1) {
			ussd_stale(d, ctx);
			talloc_free(ctx);
			return;
		}
		dialogue_answer(d, out.reply, out.expects_answer);
		if (!out.expects_answer) {
			ussd_share_end(&d->share, r->st, d->e->key);
			dialogue_free(d);
			talloc_free(ctx);
			return;
		}
	}
	if (out.has_call) {
		/* A screen said before the call comes back with its outcome (engine's pending). */
		unsigned budget = d->wait_text ? cfg->call_budget_ms : cfg->ussd_answer_ms;
		router_start_call(r, CHANNEL_USSD, d->e->key, d->via, &out.call, budget);
	}
	talloc_free(ctx);
}

/* A request that opens no dialogue: the store is lost, the dialogue is unknown, or the
 * person is past the USSD limits. True when it was answered (and ended) here. */
static bool ussd_refused(struct ussd_dialogues *t, const struct ussd_req *req,
			 ussd_reply_fn reply, void *data)
{
	struct router *r = t->r;
	const struct flow_set *fs = router_flows(r);
	const char *text = NULL;
	void *ctx = talloc_new(t);

	if (router_store_lost(r)) {
		/* Not taking messages any more (store_check): say so and end. */
		text = common_text(r, ctx, fs, &fs->msg.backend_error, "fr");
	} else if (!req->begin) {
		text = common_text(r, ctx, fs, &fs->msg.expired, "fr");
	} else if (router_guard(r)) {
		struct guard_decision g = guard_ussd_begin(router_guard(r), req->from, (int64_t)time(NULL));
		if (g.verdict != GUARD_PROCESS) {
			if (g.first) {
				char masked[48];
				struct log_fields f = { .guard = "limited", .channel = "ussd" };
				glog(GLOG_USSD, LOGL_NOTICE, &f, "dialogue from %s ended at once: past "
				     "the per-number USSD limits",
				     log_mask(masked, sizeof(masked), req->from ? req->from : "?"));
			}
			router_count(r, ROUTER_CTR_MESSAGES_IN);
			text = router_limited_text(r, ctx, true);
		}
	}
	if (text)
		reply(data, text, false);
	talloc_free(ctx);
	return text != NULL;
}

/* The router's side of dialogue req->dialogue, on the transport's entry or, when the router
 * runs alone, one of its own. NULL: no memory. */
static struct ussd_dialogue *dialogue_new(struct ussd_dialogues *t, const struct ussd_req *req)
{
	struct ussd_dlg *e = ussd_table_find(t->table, req->dialogue);
	struct ussd_dialogue *d;
	char key[SESSION_KEY_MAX];

	if (!e)
		e = ussd_table_add(t->table, req->dialogue);
	d = e ? talloc_zero(t, struct ussd_dialogue) : NULL;
	if (!d) {
		if (e)
			ussd_table_leave_router(e);
		return NULL;
	}
	d->e = e;
	e->rp = d;
	d->t = t;
	t->open++;
	d->via = talloc_strdup(d, req->via ? req->via : "ussd");
	d->from = talloc_strdup(d, req->from ? req->from : "");
	snprintf(key, sizeof(key), "ussd:%s", req->dialogue);
	session_init(&d->s, d, key, CHANNEL_USSD, d->from);
	router_count(t->r, ROUTER_CTR_MESSAGES_IN);
	ussd_share_begin(&d->share, d, t->r->st, req->share_s, req->code, &t->swept);
	return d;
}

/* A request whose whole text is read against the shared state (req->resume): d is this
 * host's dialogue (NULL: none); the dialogue to run with *text its input, the row's session
 * taken when the dialogue went on elsewhere; NULL when refused (d then forgotten). */
static struct ussd_dialogue *ussd_resume(struct ussd_dialogues *t, const struct ussd_req *req,
					 struct ussd_dialogue *d, const char **text)
{
	/* A screen owed, or an answer to follow by SMS: not a request to continue from. */
	if (d && (d->reply || d->followup_sms))
		return NULL;
	if (!d && (router_store_lost(t->r) || !(d = dialogue_new(t, req))))
		return NULL;
	if (ussd_share_resume(&d->share, d, t->r->st, d->e->key, d->via, req->from, req->code,
			      req->text, (int64_t)time(NULL), &d->s, text) != 0) {
		dialogue_free(d);
		return NULL;
	}
	return d;
}

void ussd_dialogue_request(struct ussd_dialogues *t, const struct ussd_req *req,
			   ussd_reply_fn reply, void *data)
{
	struct router *r = t->r;
	struct ussd_dialogue *d = dialogue_find(t, req->dialogue);
	struct engine_input in = { .kind = EV_TEXT, .text = req->text, .now = router_now(r),
				   .channel = &router_config(r)->ussd };

	if (req->begin && d) {
		/* A reused dialogue id: the old dialogue is over. */
		dialogue_answer(d, "", false);
		dialogue_free(d);
		d = NULL;
	}
	if (req->resume && !(d = ussd_resume(t, req, d, &in.text))) {
		void *ctx = talloc_new(t);
		const struct flow_set *fs = router_flows(r);

		reply(data, common_text(r, ctx, fs, &fs->msg.invalid_session, "fr"), false);
		talloc_free(ctx);
		return;
	}
	if (!d && ussd_refused(t, req, reply, data))
		return;
	if (!d) {
		d = dialogue_new(t, req);
		if (!d) {
			reply(data, "", false);
			return;
		}
	} else if (d->reply) {
		/* The network asks again before we answered: the older screen is lost. */
		dialogue_answer(d, "", false);
	}
	d->reply = reply;
	d->reply_data = data;
	ussd_run(d, &in);
}

void ussd_dialogue_call_done(struct ussd_dialogues *t, const char *id, uint32_t call_id,
			     bool ok, const struct vars *result, const char *error)
{
	struct ussd_dialogue *d = dialogue_find(t, id);
	struct engine_input in = {
		.kind = ok ? EV_RESULT : EV_FAILURE, .result = result, .error = error,
		.call_id = call_id, .now = router_now(t->r), .channel = &router_config(t->r)->ussd,
	};

	if (!d)
		return;		/* the network side is gone */
	ussd_run(d, &in);
}

void ussd_dialogue_abort(struct ussd_dialogues *t, const char *id)
{
	struct ussd_dialogue *d = dialogue_find(t, id);

	if (!d || d->followup_sms)
		return;		/* a follow-up by SMS still owes the person an answer */
	if (d->s.state != SESSION_IDLE && log_enabled(GLOG_SESSION, LOGL_INFO)) {
		char pseudo[32];
		struct log_fields f = { .session = log_pseudonym(pseudo, sizeof(pseudo), d->s.key),
					.flow = d->s.flow, .step = d->s.step, .channel = "ussd" };
		glog(GLOG_SESSION, LOGL_INFO, &f, "session ended: aborted by the network");
	}
	ussd_share_end(&d->share, d->t->r->st, d->e->key);
	dialogue_answer(d, "", false);
	dialogue_free(d);
}

unsigned ussd_dialogues_open(const struct ussd_dialogues *t)
{
	return t->open;
}

struct ussd_table *ussd_dialogues_table(const struct ussd_dialogues *t)
{
	return t->table;
}

struct ussd_dialogues *ussd_dialogues_create(void *ctx, struct router *r)
{
	struct ussd_dialogues *t = talloc_zero(ctx, struct ussd_dialogues);

	if (!t)
		return NULL;
	t->r = r;
	t->table = ussd_table_create(t);
	if (!t->table) {
		talloc_free(t);
		return NULL;
	}
	return t;
}
