/* Messages a flow sends first: remind:, receipt:, reference:, cancel_reminders: loaded and
 * checked (bad times, texts over the SMS parts, a reference with nothing to carry it), the
 * engine's actions (times computed, past reminders skipped, idempotency keys), and the router
 * storing them in the schedule with the step, then the scheduler sending the receipt at once
 * and the reminder at its time, and a cancelling step leaving nothing to send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine.h"
#include "guichet/flow.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"

static const char *flow_yaml =
	"flow: t\n"
	"title: T\n"
	"entry: { sms: [GO] }\n"
	"start: choix\n"
	"steps:\n"
	"  choix:\n"
	"    menu: \"Choix\"\n"
	"    options:\n"
	"      - { label: \"Réserver\", next: reserve }\n"
	"      - { label: \"Annuler\", next: annule }\n"
	"  reserve:\n"
	"    say: \"Réservé {{ref}}.\"\n"
	"    set: { ref: \"R-1\", date: \"2030-01-10T09:30\" }\n"
	"    reference: \"{{ref}}\"\n"
	"    receipt: \"Reçu {{ref}} : le {{date}}.\"\n"
	"    remind:\n"
	"      - { at: \"+5s\", text: \"Rappel {{ref}} bientôt.\" }\n"
	"      - { at: \"{{date}} -1d 18:00\", text: \"Rappel {{ref}} demain.\" }\n"
	"      - { at: \"2001-01-01T10:00\", text: \"Trop tard.\" }\n"
	"    end: true\n"
	"  annule:\n"
	"    say: \"Annulé.\"\n"
	"    cancel_reminders: \"R-1\"\n"
	"    end: true\n";

static unsigned errors_of(const char *yaml, const char *want)
{
	void *ctx = talloc_named_const(NULL, 0, "t");
	struct diag *d = diag_alloc(ctx);
	unsigned n;

	flow_set_load_string(ctx, "t.yaml", yaml, NULL, d);
	n = d->n_errors;
	if (want) {
		bool found = false;
		for (unsigned i = 0; i < d->n; i++)
			if (strstr(d->e[i].msg, want))
				found = true;
		if (!found)
			diag_print(d, stdout);
		CU_ASSERT_TRUE(found);
	}
	talloc_free(ctx);
	return n;
}

static char *with(const char *from, const char *to)
{
	static char buf[4096];
	const char *p = strstr(flow_yaml, from);
	size_t n = (size_t)(p - flow_yaml);

	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)n, flow_yaml, to, p + strlen(from));
	return buf;
}

static void test_load(void)
{
	void *ctx = talloc_named_const(NULL, 0, "t");
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "t.yaml", flow_yaml, NULL, d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	const struct flow *f = flow_find(fs, "t");
	const struct flow_step *st = &f->steps[flow_step_index(f, "reserve")];
	CU_ASSERT_EQUAL(st->n_remind, 3);
	CU_ASSERT_STRING_EQUAL(st->remind[1].at, "{{date}} -1d 18:00");
	CU_ASSERT_EQUAL(st->receipt.n, 1);
	CU_ASSERT_STRING_EQUAL(st->reference, "{{ref}}");
	CU_ASSERT_STRING_EQUAL(f->steps[flow_step_index(f, "annule")].cancel_reminders, "R-1");
	/* guichet check says what a receipt and each reminder cost. */
	bool note = false;
	for (unsigned i = 0; i < d->n; i++)
		if (d->e[i].level == DIAG_NOTE &&
		    strstr(d->e[i].msg, "receipt of step `reserve` (fr) costs 1 SMS part"))
			note = true;
	CU_ASSERT_TRUE(note);
	talloc_free(ctx);
}

static void test_refused(void)
{
	CU_ASSERT_EQUAL(errors_of(with("-1d 18:00", "-1 jour"), "reminder 2 of step `reserve`"),
			1);
	CU_ASSERT(errors_of(with("{{date}} -1d", "{{jamais}} -1d"), "`jamais`") >= 1);
	CU_ASSERT(errors_of(with(", text: \"Rappel {{ref}} demain.\"", ""),
			    "a reminder needs `text`") >= 1);
	CU_ASSERT(errors_of(with("    receipt: \"Reçu {{ref}} : le {{date}}.\"\n", ""), NULL) == 0);
	CU_ASSERT_EQUAL(errors_of(with("    cancel_reminders: \"R-1\"\n",
				       "    reference: \"R-1\"\n"), "no `remind` or `receipt`"), 1);
	CU_ASSERT(errors_of(with("Trop tard.", "Trop tard. Trop tard. Trop tard. Trop tard. Trop "
		"tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. "
		"Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop "
		"tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. "
		"Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop "
		"tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. "
		"Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard. Trop tard."),
		"it goes by SMS") >= 1);
	CU_ASSERT(errors_of(with("    remind:\n", "    remind: demain\n    x:\n"), NULL) >= 1);
}

/* 30 Nov 2026, 10:00 Paris. */
#define NOW 1796029200

static void test_engine(void)
{
	void *ctx = talloc_named_const(NULL, 0, "t");
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "t.yaml", flow_yaml, NULL, d);
	struct engine_channel ch = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3),
				     .fold = true };
	struct session s;
	struct engine_out out;
	struct engine_input in = { .kind = EV_TEXT, .text = "GO", .now = NOW, .channel = &ch };

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	session_init(&s, ctx, "sms:+33600000001", CHANNEL_SMS, "+33600000001");
	CU_ASSERT_EQUAL(engine_step(ctx, fs, &s, &in, &out), 0);
	CU_ASSERT_EQUAL(out.n_sends, 0);
	in.text = "1";
	CU_ASSERT_EQUAL(engine_step(ctx, fs, &s, &in, &out), 0);
	CU_ASSERT_EQUAL_FATAL(out.n_sends, 3);
	CU_ASSERT_EQUAL(out.n_skipped, 1);	/* 2001: past */
	CU_ASSERT_TRUE(out.sends[0].receipt);
	CU_ASSERT_EQUAL(out.sends[0].at, NOW);
	CU_ASSERT_STRING_EQUAL(out.sends[0].text, "Recu R-1 : le 2030-01-10T09:30.");
	CU_ASSERT_STRING_EQUAL(out.sends[0].reference, "R-1");
	CU_ASSERT_FALSE(out.sends[1].receipt);
	CU_ASSERT_EQUAL(out.sends[1].at, NOW + 5);
	CU_ASSERT_STRING_EQUAL(out.sends[1].text, "Rappel R-1 bientot.");
	/* 9 Jan 2030 18:00 Paris = 17:00 UTC */
	CU_ASSERT_EQUAL(out.sends[2].at, 1894208400);
	CU_ASSERT_STRING_NOT_EQUAL(out.sends[1].key, out.sends[2].key);
	CU_ASSERT_EQUAL(out.n_cancels, 0);

	in.text = "GO";
	engine_step(ctx, fs, &s, &in, &out);
	in.text = "2";
	CU_ASSERT_EQUAL(engine_step(ctx, fs, &s, &in, &out), 0);
	CU_ASSERT_EQUAL(out.n_sends, 0);
	CU_ASSERT_EQUAL_FATAL(out.n_cancels, 1);
	CU_ASSERT_STRING_EQUAL(out.cancels[0], "R-1");
	talloc_free(ctx);
}

/* --- through the router, the memory store and the scheduler --- */

static char sent[8][128];
static unsigned n_sent;

static int fake_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	if (n_sent < 8)
		snprintf(sent[n_sent], sizeof(sent[0]), "%s", m->text);
	n_sent++;
	return 0;
}

static int fake_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		     call_done_fn done, void *data)
{
	(void)impl; (void)op; (void)args; (void)budget_ms; (void)done; (void)data;
	return -1;
}

static void say(struct router *r, const char *text)
{
	struct sms_in m = { .via = "m1", .from = "+33600000001", .text = text,
			    .received = time(NULL) };
	CU_ASSERT_EQUAL(router_sms_received(r, &m, 1), 0);
}

static int due(struct store *st, int64_t at_ms)
{
	struct store_scheduled m[8];
	void *ctx = talloc_new(NULL);
	int n = st->ops->schedule_due(st, at_ms, m, 8, ctx);
	talloc_free(ctx);
	return n;
}

static bool was_sent(const char *text)
{
	for (unsigned i = 0; i < n_sent && i < 8; i++)
		if (strstr(sent[i], text))
			return true;
	return false;
}

static void kick_scheduler(void *data)
{
	scheduler_kick(data);
}

static void test_router(void)
{
	void *ctx = talloc_named_const(NULL, 0, "t");
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "t.yaml", flow_yaml, NULL, d);
	struct store *st = store_mem_open(ctx);
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3) },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) },
	};
	struct router *r = router_create(ctx, &rc, st, (struct call_port){ .call = fake_call });
	struct sms_transport modem = { .name = "m1", .send = fake_send, .up = true };
	struct notify_config nc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	router_set_flows(r, fs);
	router_sms_register(r, &modem);
	notify_config_defaults(&nc);
	nc.pace_default = 0;
	nc.quiet.start_min = nc.quiet.end_min = 0;	/* the test runs at any hour */
	nc.quiet.days_mask = 0;
	struct scheduler *sch = scheduler_create(ctx, &nc, st, r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sch);
	scheduler_set_manual(sch, true);
	router_set_sched_kick(r, kick_scheduler, sch);
	say(r, "GO");
	say(r, "1");
	/* Read after the booking: its times come from the clock when "1" was handled, and a
	 * slow run (valgrind, ASan) may cross a second or two between here and there. */
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	CU_ASSERT(was_sent("R-1."));
	/* Receipt now, a reminder in 5 s, one in 2030; the 2001 one is not stored. */
	CU_ASSERT_EQUAL(due(st, now_ms + 2000), 1);
	CU_ASSERT_EQUAL(due(st, now_ms + 7000), 2);
	CU_ASSERT_EQUAL(due(st, INT64_MAX / 2), 3);
	n_sent = 0;
	CU_ASSERT_EQUAL(scheduler_run(sch, now_ms + 2000), 1);
	router_flush(r);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT(was_sent("R-1 : le 2030"));
	CU_ASSERT_EQUAL(scheduler_run(sch, now_ms + 7000), 1);
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT(was_sent("Rappel R-1 bient"));
	CU_ASSERT_EQUAL(scheduler_run(sch, now_ms + 8000), 0);
	CU_ASSERT_EQUAL(due(st, INT64_MAX / 2), 1);
	/* Booking again the same way schedules nothing twice (same keys). */
	say(r, "GO");
	say(r, "1");
	CU_ASSERT_EQUAL(due(st, INT64_MAX / 2), 1);
	/* ANNULER: the 2030 reminder is cancelled. */
	say(r, "GO");
	say(r, "2");
	CU_ASSERT(was_sent("Annul"));
	CU_ASSERT_EQUAL(due(st, INT64_MAX / 2), 0);
	talloc_free(ctx);
}

int main(void)
{
	CU_pSuite s;
	unsigned failures;

	setenv("TZ", "Europe/Paris", 1);
	tzset();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("flow sends", NULL, NULL);
	CU_add_test(s, "remind, receipt, reference, cancel_reminders loaded", test_load);
	CU_add_test(s, "bad times, texts and references refused", test_refused);
	CU_add_test(s, "engine: times, past reminders skipped, cancels", test_engine);
	CU_add_test(s, "router: stored with the step, sent at their time, cancelled",
		    test_router);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
