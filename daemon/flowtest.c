/* Test dialogues (flows/tests/NAME.yaml): playing them through the router, comparing,
 * printing. Loading: flowtest_load.c; rewriting expectations: flowtest_update.c. See
 * include/guichet/flowtest.h and flows/README.md. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/flowtest.h"
#include "guichet/store.h"

/* A step whose replies have not all come after this long (real time) fails. Canned answers
 * come at once unless delay_ms says otherwise. */
#define FLOWTEST_STALL_S 10

/* ---- running ---- */

struct ft_run;

/* A call in flight. It lives under the dialogue (as the canned answer that will complete
 * it), not under the run: if the run gives up first, the late answer finds run NULL. */
struct ft_call {
	struct llist_head list;
	struct ft_run *run;
	call_done_fn done;
	void *data;
};

struct ft_run {
	const struct flowtest *t;
	struct flowtest_result *res;
	struct flowtest_step_result *cur;
	struct router *router;
	struct sms_transport sms;
	struct llist_head calls;
	unsigned in_flight;
	bool ussd_owed, ussd_open, stalled;
	unsigned dialogue;
	char dialogue_id[32];
	struct store *st;
	int64_t last_sched;		/* the store's last scheduled message seen */
	bool comparing_sched;		/* step_fail is about scheduled messages */
	struct osmo_timer_list stall;
};

static void add_reply(struct ft_run *run, enum channel by, const char *text, bool end)
{
	struct flowtest_step_result *sr = run->cur;

	if (!sr)
		return;		/* a reply outside any step (cannot happen: replies follow inputs) */
	sr->got = talloc_realloc(run->res, sr->got, struct flowtest_reply, sr->n_got + 1);
	struct flowtest_reply *g = &sr->got[sr->n_got++];
	g->by = by;
	g->text = talloc_strdup(run->res, text ? text : "");
	text_measure(g->text, &g->m);
	g->end = end;
	if (by == CHANNEL_SMS) {
		run->res->parts += g->m.parts;
		run->res->sms++;
	} else {
		run->res->screens++;
	}
}

static void step_fail(struct ft_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void step_fail(struct ft_run *run, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!run->cur)
		return;
	va_start(ap, fmt);
	msg = talloc_vasprintf(run->res, fmt, ap);
	va_end(ap);
	run->cur->ok = false;
	if (run->comparing_sched)
		run->cur->sched_failed = true;
	else
		run->cur->replies_failed = true;
	run->cur->why = run->cur->why ? talloc_asprintf_append(run->cur->why, "\n%s", msg) : msg;
}

static int ft_sms_send(struct sms_transport *tr, const struct store_outbound *m)
{
	struct ft_run *run = tr->priv;

	add_reply(run, CHANNEL_SMS, m->text, false);
	router_sms_sent(run->router, m->id);
	return 0;
}

static void ft_ussd_reply(void *data, const char *text, bool more)
{
	struct ft_run *run = data;

	add_reply(run, CHANNEL_USSD, text, !more);
	run->ussd_owed = false;
	run->ussd_open = more;
}

static void ft_call_done(void *data, bool ok, const struct vars *result, const char *error)
{
	struct ft_call *c = data;
	struct ft_run *run = c->run;

	llist_del(&c->list);
	if (run) {
		run->in_flight--;
		c->done(c->data, ok, result, error);
	}
	talloc_free(c);
}

static int ft_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		   call_done_fn done, void *data)
{
	struct ft_run *run = impl;
	const struct flowtest_step *st = run->cur ? run->cur->step : NULL;
	const struct call_port *ports[2] = { st ? &st->backend : NULL, &run->t->backend };
	struct ft_call *c = talloc_zero((void *)run->t, struct ft_call);

	c->run = run;
	c->done = done;
	c->data = data;
	llist_add_tail(&c->list, &run->calls);
	for (unsigned i = 0; i < 2; i++) {
		if (!ports[i] || !ports[i]->call)
			continue;
		if (ports[i]->call(ports[i]->impl, op, args, budget_ms, ft_call_done, c) == 0) {
			run->in_flight++;
			return 0;
		}
	}
	llist_del(&c->list);
	talloc_free(c);
	step_fail(run, "the flow calls %s but the dialogue has no answer for it: add it under "
		  "`backend:`", op);
	return -1;
}

static void ft_stall(void *data)
{
	struct ft_run *run = data;

	run->stalled = true;
}

/* Runs the loop until every reply owed for the input has come. */
static void settle(struct ft_run *run)
{
	if (run->cur && run->cur->step->hurry) {
		/* Only what comes at once: calls go on while the next text is sent. */
		router_flush(run->router);
		return;
	}
	run->stalled = false;
	osmo_timer_schedule(&run->stall, FLOWTEST_STALL_S, 0);
	while ((run->in_flight || run->ussd_owed) && !run->stalled)
		osmo_select_main_ctx(0);
	osmo_timer_del(&run->stall);
	if (run->stalled)
		step_fail(run, "no %s after %d s", run->ussd_owed ? "USSD screen" : "call outcome",
			  FLOWTEST_STALL_S);
	router_flush(run->router);
}

static void send_text(struct ft_run *run, const char *text)
{
	if (run->t->channel == CHANNEL_USSD) {
		if (!run->ussd_open)
			snprintf(run->dialogue_id, sizeof(run->dialogue_id), "test-%u",
				 ++run->dialogue);
		struct ussd_req req = { .via = "test", .dialogue = run->dialogue_id,
					.from = run->t->from, .text = text,
					.begin = !run->ussd_open };
		run->ussd_open = true;
		run->ussd_owed = true;
		router_ussd_request(run->router, &req, ft_ussd_reply, run);
	} else {
		struct sms_in m = { .via = "test", .from = run->t->from, .text = text,
				    .received = time(NULL) };
		if (router_sms_received(run->router, &m, 1) < 0)
			step_fail(run, "the in-memory store refused the text");
	}
	settle(run);
}

/* ---- comparing ---- */

static const char *coding_name(int c)
{
	return c == TEXT_GSM7 ? "GSM-7" : "UCS-2";
}

/* A line diff (longest common subsequence) of a and b, "-" expected, "+" got. Texts are a
 * few screens at most. */
static char *line_diff(void *ctx, const char *a, const char *b)
{
	char **la = NULL, **lb = NULL;
	unsigned na = 0, nb = 0;
	char *ca = talloc_strdup(ctx, a), *cb = talloc_strdup(ctx, b), *p, *save;

	for (p = strtok_r(ca, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		la = talloc_realloc(ctx, la, char *, na + 1);
		la[na++] = p;
	}
	for (p = strtok_r(cb, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		lb = talloc_realloc(ctx, lb, char *, nb + 1);
		lb[nb++] = p;
	}
	unsigned *L = talloc_zero_array(ctx, unsigned, (na + 1) * (nb + 1));
#define AT(i, j) L[(i) * (nb + 1) + (j)]
	for (unsigned i = na; i-- > 0;)
		for (unsigned j = nb; j-- > 0;)
			AT(i, j) = !strcmp(la[i], lb[j]) ? AT(i + 1, j + 1) + 1
				 : AT(i + 1, j) > AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
	char *out = talloc_strdup(ctx, "");
	unsigned i = 0, j = 0;
	while (i < na || j < nb) {
		if (i < na && j < nb && !strcmp(la[i], lb[j])) {
			out = talloc_asprintf_append(out, "      %s\n", la[i]);
			i++, j++;
		} else if (j < nb && (i == na || AT(i, j + 1) >= AT(i + 1, j))) {
			out = talloc_asprintf_append(out, "    + %s\n", lb[j++]);
		} else {
			out = talloc_asprintf_append(out, "    - %s\n", la[i++]);
		}
	}
#undef AT
	return out;
}

static void compare_one(struct ft_run *run, unsigned k, const struct flowtest_expect *e,
			const struct flowtest_reply *g)
{
	void *tmp = talloc_new(run->res);
	char *which = run->cur->step->n_expect > 1 ? talloc_asprintf(tmp, "reply %u", k + 1)
						   : talloc_strdup(tmp, "reply");

	if (e->text && strcmp(e->text, g->text))
		step_fail(run, "%s differs (- expected, + got):\n%s", which,
			  line_diff(tmp, e->text, g->text));
	for (unsigned i = 0; i < e->n_contains; i++)
		if (!strstr(g->text, e->contains[i]))
			step_fail(run, "%s does not contain \"%s\":\n%s", which, e->contains[i],
				  line_diff(tmp, "", g->text));
	if (e->by >= 0 && e->by != (int)g->by)
		step_fail(run, "%s came by %s, expected by %s", which, channel_name(g->by),
			  channel_name((enum channel)e->by));
	if (e->coding >= 0 && e->coding != (int)g->m.coding)
		step_fail(run, "%s is %s, expected %s", which, coding_name(g->m.coding),
			  coding_name(e->coding));
	if (e->parts >= 0 && g->by == CHANNEL_SMS && e->parts != (int)g->m.parts)
		step_fail(run, "%s takes %u SMS part(s), expected %d", which, g->m.parts, e->parts);
	if (e->parts >= 0 && g->by != CHANNEL_SMS)
		step_fail(run, "%s is a USSD screen: `parts` is for SMS", which);
	if (e->end >= 0 && g->by == CHANNEL_USSD && e->end != (int)g->end)
		step_fail(run, "%s %s the dialogue, expected it %s", which,
			  g->end ? "ends" : "does not end", e->end ? "to end" : "to go on");
	talloc_free(tmp);
}

static void compare(struct ft_run *run)
{
	struct flowtest_step_result *sr = run->cur;
	const struct flowtest_step *st = sr->step;

	if (!st->checked)
		return;
	if (st->n_expect != sr->n_got) {
		void *tmp = talloc_new(run->res);
		char *a = talloc_strdup(tmp, ""), *b = talloc_strdup(tmp, "");
		for (unsigned i = 0; i < st->n_expect; i++)
			a = talloc_asprintf_append(a, "%s%s\n", i ? "--\n" : "",
						   st->expect[i].text ? st->expect[i].text : "(any)");
		for (unsigned i = 0; i < sr->n_got; i++)
			b = talloc_asprintf_append(b, "%s%s\n", i ? "--\n" : "", sr->got[i].text);
		step_fail(run, "expected %u repl%s, got %u (- expected, + got):\n%s", st->n_expect,
			  st->n_expect == 1 ? "y" : "ies", sr->n_got, line_diff(tmp, a, b));
		talloc_free(tmp);
		return;
	}
	for (unsigned i = 0; i < sr->n_got; i++)
		compare_one(run, i, &st->expect[i], &sr->got[i]);
}

/* The messages the store got scheduled since the last look (its ids grow by one), into the
 * current step's result. */
static void collect_sched(struct ft_run *run)
{
	struct flowtest_step_result *sr = run->cur;
	struct store_scheduled m;

	while (run->st->ops->schedule_get(run->st, run->last_sched + 1, &m, run->res) == 0) {
		struct flowtest_scheduled *g;

		run->last_sched++;
		sr->sched = talloc_realloc(run->res, sr->sched, struct flowtest_scheduled,
					   sr->n_sched + 1);
		if (!sr->sched)
			return;
		g = &sr->sched[sr->n_sched++];
		g->receipt = m.origin == SCHED_RECEIPT;
		g->at = m.send_at / 1000;
		g->text = m.text ? m.text : "";
		g->reference = m.reference;
	}
}

/* "2026-12-06 18:00" in the process's time zone, under ctx. */
char *flowtest_time(void *ctx, int64_t at)
{
	time_t tt = (time_t)at;
	struct tm tm;
	char buf[32];

	if (!localtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm))
		return talloc_asprintf(ctx, "@%lld", (long long)at);
	return talloc_strdup(ctx, buf);
}

static char *sched_list(void *ctx, const struct flowtest_step_result *sr)
{
	char *s = talloc_strdup(ctx, "");

	for (unsigned i = 0; i < sr->n_sched; i++)
		s = talloc_asprintf_append(s, "%s%s %s\n", i ? "--\n" : "",
					   flowtest_time(ctx, sr->sched[i].at), sr->sched[i].text);
	return s;
}

static void compare_sched_one(struct ft_run *run, void *tmp, unsigned k,
			      const struct flowtest_sched_expect *e, const struct flowtest_scheduled *g)
{
	if (e->text && strcmp(e->text, g->text))
		step_fail(run, "scheduled message %u differs (- expected, + got):\n%s", k + 1,
			  line_diff(tmp, e->text, g->text));
	for (unsigned i = 0; i < e->n_contains; i++)
		if (!strstr(g->text, e->contains[i]))
			step_fail(run, "scheduled message %u does not contain \"%s\":\n%s", k + 1,
				  e->contains[i], line_diff(tmp, "", g->text));
	/* to the minute: a receipt is due "now", a few real milliseconds after the clock */
	if (e->has_at && e->at / 60 != g->at / 60)
		step_fail(run, "scheduled message %u is due at %s, expected at %s", k + 1,
			  flowtest_time(tmp, g->at), flowtest_time(tmp, e->at));
}

static void compare_sched(struct ft_run *run)
{
	struct flowtest_step_result *sr = run->cur;
	const struct flowtest_step *st = sr->step;
	void *tmp;

	if (!st->sched_checked)
		return;
	tmp = talloc_new(run->res);
	run->comparing_sched = true;
	if (st->n_sched != sr->n_sched) {
		char *a = talloc_strdup(tmp, "");

		for (unsigned i = 0; i < st->n_sched; i++) {
			const struct flowtest_sched_expect *e = &st->sched[i];

			a = talloc_asprintf_append(a, "%s%s %s%s%s\n", i ? "--\n" : "",
						   e->has_at ? flowtest_time(tmp, e->at) : "(any time)",
						   e->text ? "" : "...", e->text ? e->text :
						   e->n_contains ? e->contains[0] : "",
						   e->text ? "" : "...");
		}
		step_fail(run, "expected %u scheduled message%s, got %u (- expected, + got):\n%s",
			  st->n_sched, st->n_sched == 1 ? "" : "s", sr->n_sched,
			  line_diff(tmp, a, sched_list(tmp, sr)));
	} else {
		for (unsigned i = 0; i < sr->n_sched; i++)
			compare_sched_one(run, tmp, i, &st->sched[i], &sr->sched[i]);
	}
	run->comparing_sched = false;
	talloc_free(tmp);
}

struct flowtest_result *flowtest_run(void *ctx, const struct flow_set *fs,
				     const struct flowtest *t, const struct flowtest_opts *o)
{
	struct flowtest_result *res = talloc_zero(ctx, struct flowtest_result);
	struct ft_run *run = talloc_zero(NULL, struct ft_run);
	struct ft_call *c, *tmpc;

	res->t = t;
	res->n_steps = t->n_steps;
	res->steps = talloc_zero_array(res, struct flowtest_step_result, t->n_steps);
	run->t = t;
	run->res = res;
	INIT_LLIST_HEAD(&run->calls);
	osmo_timer_setup(&run->stall, ft_stall, run);

	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(o->ro.max_parts),
			 .fold = o->ro.fold },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(o->ro.screen),
			  .fold = o->ro.fold },
		.call_budget_ms = o->call_budget_ms ? o->call_budget_ms : 10000,
		.ussd_answer_ms = o->ussd_answer_ms ? o->ussd_answer_ms : 200,
		.sms_followup_via = "test",
	};
	run->st = store_mem_open(run);
	run->router = router_create(run, &rc, run->st, (struct call_port){ ft_call, run });
	/* The dialogue's fixed clock: what the flow schedules is due at the same times on
	 * every run. */
	if (t->clock)
		router_shift_clock(run->router, t->clock - (int64_t)time(NULL));
	/* The router takes the flows it is given; they go back to the caller at the end. */
	struct flow_set *flows = (struct flow_set *)fs;
	void *flows_parent = talloc_parent(flows);
	router_set_flows(run->router, flows);
	run->sms.name = "test";
	run->sms.send = ft_sms_send;
	run->sms.priv = run;
	run->sms.up = true;
	router_sms_register(run->router, &run->sms);

	for (unsigned i = 0; i < t->n_steps; i++) {
		const struct flowtest_step *s = &t->steps[i];
		run->cur = &res->steps[i];
		run->cur->step = s;
		run->cur->ok = true;
		if (s->wait_s)
			router_shift_clock(run->router, s->wait_s);
		if (s->hangup && t->channel == CHANNEL_USSD && run->ussd_open) {
			router_ussd_abort(run->router, run->dialogue_id);
			run->ussd_open = false;
		} else if (s->hangup) {
			run->ussd_open = false;
		}
		if (s->send) {
			send_text(run, s->send);
			compare(run);
		}
		collect_sched(run);
		compare_sched(run);
		if (!run->cur->ok)
			res->n_failed++;
	}
	run->cur = NULL;
	/* Late answers (a stalled step) must not reach the freed router. */
	llist_for_each_entry_safe(c, tmpc, &run->calls, list) {
		c->run = NULL;
		llist_del_init(&c->list);
	}
	talloc_steal(flows_parent, flows);
	talloc_free(run);
	return res;
}

/* ---- printing ---- */

void flowtest_print_failures(const struct flowtest_result *r, FILE *out)
{
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		if (sr->ok)
			continue;
		fprintf(out, "%s:%u:%u: step %u", r->t->file, sr->step->line, sr->step->col, i + 1);
		if (sr->step->send)
			fprintf(out, " (send \"%s\")", sr->step->send);
		fprintf(out, ": %s", sr->why ? sr->why : "failed");
		if (!sr->why || sr->why[strlen(sr->why) - 1] != '\n')
			fputc('\n', out);
	}
}

void flowtest_print_transcript(void *ctx, const struct flowtest_result *r,
			       const struct render_opts *ro, FILE *out)
{
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		unsigned w = sr->step->wait_s;
		if (w && w % 3600 == 0)
			fprintf(out, "(%u h plus tard)\n", w / 3600);
		else if (w && w % 60 == 0)
			fprintf(out, "(%u min plus tard)\n", w / 60);
		else if (w)
			fprintf(out, "(%u s plus tard)\n", w);
		if (sr->step->hangup)
			fprintf(out, "(raccroche)\n");
		if (sr->step->send)
			fprintf(out, "> %s\n", sr->step->send);
		for (unsigned k = 0; k < sr->n_got; k++) {
			if (sr->got[k].by == CHANNEL_SMS)
				render_sms_print(ctx, sr->got[k].text, ro, out);
			else
				render_ussd_print(ctx, sr->got[k].text, !sr->got[k].end, ro, out);
		}
	}
}
