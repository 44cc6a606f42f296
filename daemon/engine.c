/* The flow engine: one event in, the new session and the actions out. Pure: no I/O, no
 * clock, no globals. See include/guichet/engine.h and docs/architecture.md.
 *
 * This file moves the session through steps (calls, branches, sends, the outcome of a call);
 * engine_input.c reads what the person sent, engine_render.c builds texts and menus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine_run.h"
#include "guichet/remind.h"
#include "guichet/text.h"

/* src into the fixed field dst, cut to fit (as snprintf "%s" would). */
static void copy_name(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len > size - 1)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* ---- session moves ---- */

const struct flow_step *engine_cur_step(struct run *r)
{
	if (!r->flow)
		return NULL;
	/* The last answer stands while the flow and the session's step name are those it was
	 * looked up for: a lookup of the same name in the same flow gives the same step. */
	if (r->cur_st && r->cur_flow == r->flow && !strcmp(r->cur_st->name, r->s->step))
		return r->cur_st;
	int i = flow_step_index(r->flow, r->s->step);
	r->cur_flow = r->flow;
	r->cur_st = i < 0 ? NULL : &r->flow->steps[i];
	return r->cur_st;
}

void engine_end_session(struct run *r, enum engine_outcome outcome)
{
	r->out->outcome = outcome;
	engine_transcript_keep(r);
	session_reset(r->s);
	r->flow = NULL;
}

static void push_history(struct run *r, const char *step)
{
	struct session *s = r->s;

	if (!step[0])
		return;
	if (s->n_history == SESSION_HISTORY) {
		memmove(s->history[0], s->history[1], sizeof(s->history[0]) * (SESSION_HISTORY - 1));
		s->n_history--;
	}
	copy_name(s->history[s->n_history++], SESSION_NAME_MAX, step);
}

void engine_set_step(struct run *r, const struct flow_step *st)
{
	copy_name(r->s->step, sizeof(r->s->step), st->name);
	/* What engine_cur_step() would find: step names are unique in a flow (YAML keys). */
	r->cur_flow = r->flow;
	r->cur_st = st;
	r->s->tries = 0;
	r->s->page = 0;
	r->s->page_n = 0;
}


static bool cond_holds(struct run *r, const struct flow_cond *c)
{
	const char *v = engine_lookup(r, c->var);
	const char *want = c->n_values ? c->values[0] : "";

	switch (c->op) {
	case COND_EQUALS:
		return v && strcmp(v, want) == 0;
	case COND_NOT_EQUALS:
		return !v || strcmp(v, want) != 0;
	case COND_IN:
		for (unsigned i = 0; v && i < c->n_values; i++)
			if (strcmp(v, c->values[i]) == 0)
				return true;
		return false;
	case COND_SET:
		return v && *v;
	case COND_EMPTY:
		return !v || !*v;
	case COND_LESS:
	case COND_MORE: {
		if (!v || !*v)
			return false;
		char *end;
		double a = strtod(v, &end);
		if (*end)
			return false;
		double b = strtod(want, NULL);
		return c->op == COND_LESS ? a < b : a > b;
	}
	}
	return false;
}

static int branch_target(struct run *r, const struct flow_step *st)
{
	for (unsigned i = 0; i < st->n_when; i++) {
		const struct flow_when *w = &st->when[i];
		bool all = true;
		for (unsigned j = 0; all && j < w->n_all; j++)
			all = cond_holds(r, &w->all[j]);
		if (all)
			return w->next_idx;
	}
	return st->else_idx;
}

/* ---- messages sent first: remind:, receipt:, cancel_reminders: ---- */

/* t's SMS wording for the person, expanded and folded as the channel folds. */
static const char *sms_text(struct run *r, const struct flow_text *t)
{
	bool flag, gsm7;
	const char *tmpl = engine_pick_gsm7(r, t, false, &flag);
	/* Stored in the schedule until sent: never with a secret answer in it. */
	r->no_secrets = true;
	const char *text = engine_expand_gsm7(r, tmpl, flag, false, &gsm7);
	r->no_secrets = false;

	if (text && r->in->channel && r->in->channel->fold && !gsm7 && !text_is_gsm7(text))
		text = text_fold_gsm7(r->ctx, text);
	return text;
}

/* v in decimal, in buf (24 bytes). */
static const char *i64toa(char *buf, int64_t v)
{
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char rev[20];
	int k = 0, n = 0;

	do
		rev[k++] = (char)('0' + u % 10);
	while ((u /= 10) && k < (int)sizeof(rev));
	if (v < 0)
		buf[n++] = '-';
	while (k)
		buf[n++] = rev[--k];
	buf[n] = '\0';
	return buf;
}

/* The n strings joined, talloc'd under ctx. */
static char *join_all(void *ctx, const char *const *parts, unsigned n)
{
	size_t len[16], size = 1;

	for (unsigned k = 0; k < n; k++)
		size += len[k] = strlen(parts[k]);
	char *s = talloc_size(ctx, size), *p = s;
	if (!s)
		return NULL;
	for (unsigned k = 0; k < n; k++) {
		memcpy(p, parts[k], len[k]);
		p += len[k];
	}
	*p = '\0';
	return s;
}

static void add_send(struct run *r, const struct flow_step *st, bool receipt, unsigned i,
		     int64_t at, const char *text, const char *ref)
{
	struct engine_out *out = r->out;
	struct engine_send *n = talloc_realloc(r->ctx, out->sends, struct engine_send,
					       out->n_sends + 1);

	if (!n || !text || !*text)
		return;
	out->sends = n;
	n = &out->sends[out->n_sends++];
	n->receipt = receipt;
	n->at = at;
	n->text = text;
	n->reference = ref;
	/* The same person, step, message and time (and reference) is the same message:
	 * "flow:<address>:<flow>:<step>:<r|m><i>:<at>:<reference>", joined without printf. */
	char num[12], when[24];
	const char *parts[] = { "flow:", r->s->address, ":", r->flow->name, ":", st->name,
				receipt ? ":r" : ":m", engine_utoa(num, i), ":", i64toa(when, at), ":",
				ref ? ref : "" };
	n->key = join_all(r->ctx, parts, sizeof(parts) / sizeof(parts[0]));
}

static void step_sends(struct run *r, const struct flow_step *st)
{
	const char *ref = NULL;

	if (st->cancel_reminders) {
		const char *c = engine_expand_view(r, st->cancel_reminders);
		char *t = c ? engine_trim(r->ctx, c) : NULL;
		if (t && *t) {
			const char **n = talloc_realloc(r->ctx, r->out->cancels, const char *,
							r->out->n_cancels + 1);
			if (n) {
				r->out->cancels = n;
				n[r->out->n_cancels++] = t;
			}
		}
	}
	if (!st->n_remind && !st->receipt.n)
		return;
	if (st->reference) {
		r->no_secrets = true;
		char *t = engine_trim(r->ctx, engine_expand_view(r, st->reference));
		r->no_secrets = false;
		ref = t && *t ? t : NULL;
	}
	if (st->receipt.n)
		add_send(r, st, true, 0, r->in->now, sms_text(r, &st->receipt), ref);
	for (unsigned i = 0; i < st->n_remind; i++) {
		int64_t at;
		/* A reminder already past (a booking for tomorrow morning and "-1d 18:00") or
		 * without a date is not sent: late, it would mislead. */
		if (remind_at(engine_expand_view(r, st->remind[i].at), r->in->now, &at, NULL) < 0 ||
		    at <= r->in->now) {
			r->out->n_skipped++;
			continue;
		}
		add_send(r, st, false, i, at, sms_text(r, &st->remind[i].text), ref);
	}
}

static void start_call(struct run *r, const struct flow_step *st)
{
	struct engine_out *out = r->out;
	struct engine_call *c = &out->call;

	out->has_call = true;
	c->op = st->op;		/* the flow set's own, as engine.h allows */
	c->call_id = ++r->s->call_id;
	vars_init(&c->args, r->ctx);
	for (unsigned i = 0; i < st->n_with; i++) {
		const struct flow_assign *a = &st->with[i];
		/* An argument built from a secret is secret too (for the logs). */
		bool secret = false;
		for (unsigned j = 0; j < r->s->vars.n; j++)
			if (r->s->vars.v[j].secret && strstr(a->value, r->s->vars.v[j].name))
				secret = true;
		vars_set(&c->args, a->var, engine_expand_view(r, a->value), secret);
	}
	if (st->handoff) {
		/* Who to call back and what was said: the human does not ask again. */
		vars_set(&c->args, "phone", r->s->address, false);
		vars_set(&c->args, "transcript", engine_transcript(r), false);
	}
	/* The secret has been used: it is not kept a moment longer. */
	vars_drop_secrets(&r->s->vars);
	if (st->wait.n)
		out->wait_text = engine_say_text(r, &st->wait);
	/* What was said before the call is said with its outcome, in one message. */
	if (r->reply)
		vars_set(&r->s->vars, VAR_PENDING, r->reply, false);
	r->reply = NULL;
	r->s->state = SESSION_WAITING;
	engine_set_step(r, st);
}

/* Enters step idx and runs until the session waits for the person or a back-end, or ends.
 * prev: the interactive step we leave (history for "back"), or NULL. */
void engine_run_from(struct run *r, int idx, const char *prev)
{
	if (prev)
		push_history(r, prev);
	for (unsigned guard = 0; guard < MAX_CHAIN; guard++) {
		if (idx < 0 || (unsigned)idx >= r->flow->n_steps) {
			engine_end_session(r, OUTCOME_COMPLETED);
			return;
		}
		const struct flow_step *st = &r->flow->steps[idx];
		engine_apply_set(r, st->set, st->n_set);
		step_sends(r, st);
		switch (st->kind) {
		case STEP_SAY:
			engine_say(r, &st->text);
			if (st->end || st->next_idx < 0) {
				engine_end_session(r, OUTCOME_COMPLETED);
				return;
			}
			idx = st->next_idx;
			continue;
		case STEP_BRANCH:
			idx = branch_target(r, st);
			continue;
		case STEP_CALL:
			start_call(r, st);
			return;
		case STEP_MENU:
			engine_set_step(r, st);
			r->s->state = SESSION_ACTIVE;
			if (engine_menu_count(r, st) == 0 && st->from_list) {
				engine_say(r, &st->empty);
				if (st->empty_idx >= 0) {
					idx = st->empty_idx;
					continue;
				}
				engine_end_session(r, OUTCOME_COMPLETED);
				return;
			}
			engine_render_prompt(r, st);
			return;
		case STEP_ASK:
			engine_set_step(r, st);
			r->s->state = SESSION_ACTIVE;
			engine_render_prompt(r, st);
			return;
		}
	}
	/* A loop without a question: refuse to spin. */
	engine_say(r, &r->fs->msg.backend_error);
	engine_end_session(r, OUTCOME_FAILED);
}

void engine_start_flow(struct run *r, const struct flow *f)
{
	struct session *s = r->s;
	char lang[sizeof(s->lang)];

	copy_name(lang, sizeof(lang), s->lang[0] ? s->lang : "fr");
	const char *from_root = r->flow == f ? vars_get(&s->vars, VAR_FROM_ROOT) : NULL;
	from_root = from_root ? talloc_strdup(r->ctx, from_root) : NULL;
	engine_transcript_keep(r);
	session_reset(s);
	copy_name(s->lang, sizeof(s->lang), lang);
	if (from_root)
		vars_set(&s->vars, VAR_FROM_ROOT, from_root, false);
	copy_name(s->flow, sizeof(s->flow), f->name);
	/* The dialogue so far was kept (it is stored again at the end of the event): a flow
	 * started in the middle of another (CONSEILLER after a few questions) hands it to its
	 * human. */
	s->flow_version = r->fs->version;
	s->started = r->in->now;
	s->n_history = 0;
	r->flow = f;
	r->out->started = true;
	engine_run_from(r, f->start_idx, NULL);
}

/* EV_OPEN: like start_flow, at a given step and keeping the variables the opener set (the
 * date of the appointment to confirm). An unknown flow or step leaves the session idle,
 * with no reply: the caller checked them when it accepted the request. */
static void open_flow(struct run *r)
{
	const struct flow *f = flow_find(r->fs, r->in->flow ? r->in->flow : "");
	int idx = f && r->in->text ? flow_step_index(f, r->in->text) : -1;
	struct session *s = r->s;

	if (idx < 0)
		return;
	copy_name(s->flow, sizeof(s->flow), f->name);
	s->flow_version = r->fs->version;
	s->started = r->in->now;
	s->n_history = 0;
	s->tries = s->page = 0;
	r->flow = f;
	r->out->started = true;
	engine_run_from(r, idx, NULL);
}
static void on_call_outcome(struct run *r, bool ok)
{
	struct session *s = r->s;
	const struct flow_step *st = engine_cur_step(r);

	if (s->state != SESSION_WAITING || r->in->call_id != s->call_id || !st ||
	    st->kind != STEP_CALL)
		return;		/* a late answer to a call the person has moved past */
	const char *pending = vars_get(&s->vars, VAR_PENDING);
	if (pending) {
		engine_append(r, pending);
		vars_unset_tree(&s->vars, VAR_PENDING);
	}
	if (ok) {
		if (st->save)
			vars_replace_tree(&s->vars, r->in->result, st->save);
		engine_run_from(r, st->next_idx, NULL);
		return;
	}
	if (st->on_error_idx >= 0) {
		engine_run_from(r, st->on_error_idx, NULL);
		return;
	}
	engine_say(r, &r->fs->msg.backend_error);
	engine_end_session(r, OUTCOME_FAILED);
}

int engine_step(void *ctx, const struct flow_set *fs, struct session *s,
		const struct engine_input *in, struct engine_out *out)
{
	struct run r = { .ctx = ctx, .fs = fs, .s = s, .in = in, .out = out };

	memset(out, 0, sizeof(*out));
	/* Before any variable is read: a session kept in memory between events (USSD) gives
	 * back what its replaced values left behind. */
	vars_compact(&s->vars);
	if (!s->lang[0])
		strcpy(s->lang, "fr");
	if (s->state != SESSION_IDLE) {
		r.flow = flow_find(fs, s->flow);
		if (!r.flow)
			session_reset(s);	/* its flow is gone: the person starts afresh */
	}

	engine_transcript_begin(&r);
	switch (in->kind) {
	case EV_TEXT:
		engine_on_text(&r);
		break;
	case EV_RESULT:
		on_call_outcome(&r, true);
		break;
	case EV_FAILURE:
		on_call_outcome(&r, false);
		break;
	case EV_TIMEOUT:
		if (s->state != SESSION_IDLE)
			engine_end_session(&r, OUTCOME_EXPIRED);
		break;
	case EV_OPEN:
		if (s->state == SESSION_IDLE)
			open_flow(&r);
		break;
	}

	if (s->state != SESSION_IDLE && r.flow)
		s->deadline = in->now + (r.flow->timeout_s ? r.flow->timeout_s : 15 * 60);
	else if (!vars_get(&s->vars, VAR_ROOT) && !vars_get(&s->vars, VAR_SUGGEST))
		s->deadline = 0;
	if (s->state == SESSION_ACTIVE)
		out->expects_answer = true;
	if (r.reply && in->channel && in->channel->fold && r.reply_maybe_ucs2 &&
	    !text_is_gsm7(r.reply))
		r.reply = text_fold_gsm7(ctx, r.reply);
	engine_transcript_end(&r);
	out->reply = r.reply;
	/* Names for the logs, the flow set's own when it has them (as engine.h allows). */
	const struct flow_step *st = s->state != SESSION_IDLE ? engine_cur_step(&r) : NULL;
	out->flow = r.flow ? r.flow->name : NULL;
	out->step = st ? st->name : s->state != SESSION_IDLE ? talloc_strdup(ctx, s->step) : NULL;
	return 0;
}

const char *engine_message(void *ctx, const struct flow_set *fs, const struct flow_text *t,
			   const char *lang, const struct engine_channel *ch)
{
	struct session s;
	struct engine_input in = { .kind = EV_TEXT, .channel = ch };
	struct engine_out out;
	struct run r = { .ctx = ctx, .fs = fs, .s = &s, .in = &in, .out = &out };

	session_init(&s, ctx, "", ch ? ch->kind : CHANNEL_SMS, "");
	snprintf(s.lang, sizeof(s.lang), "%s", lang && *lang ? lang : "fr");
	const char *text = engine_say_text(&r, t);
	if (text && ch && ch->fold && !text_is_gsm7(text))
		text = text_fold_gsm7(ctx, text);
	return text;
}

const char *engine_outcome_name(enum engine_outcome o)
{
	switch (o) {
	case OUTCOME_NONE: return "none";
	case OUTCOME_COMPLETED: return "completed";
	case OUTCOME_STOPPED: return "stopped";
	case OUTCOME_EXPIRED: return "expired";
	case OUTCOME_FAILED: return "failed";
	}
	return "?";
}

