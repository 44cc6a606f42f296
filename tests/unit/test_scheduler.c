/* Messages sent first: quiet hours (Europe/Paris from the system tz database, across
 * midnight, Sundays, summer time), the STOP/START words, and the scheduler on the memory
 * store with a router and a fake transport: sent once through the outbox, opt-out refused
 * then sent after START, expired, deferred then sent, paced, destination refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/tzfile.h"

static const char *flows_yaml =
	"flow: t\n"
	"title: T\n"
	"entry: { sms: [GO] }\n"
	"steps:\n"
	"  debut:\n"
	"    say: \"Bonjour\"\n"
	"    set: { date: \"?\" }\n"
	"    next: confirmer\n"
	"  confirmer:\n"
	"    menu: \"RDV du {{date}} maintenu ?\"\n"
	"    options:\n"
	"      - { label: \"Oui\", next: oui }\n"
	"      - { label: \"Non\", next: non }\n"
	"  oui:\n"
	"    say: \"Merci, RDV du {{date}} maintenu.\"\n"
	"    end: true\n"
	"  non:\n"
	"    say: \"RDV annule.\"\n"
	"    end: true\n";

#define S(x) ((int64_t)(x) * 1000)

/* --- quiet hours --- */

static struct quiet_hours paris(void)
{
	struct quiet_hours q = { .start_min = 20 * 60, .end_min = 8 * 60, .days_mask = 1,
				 .tz = "Europe/Paris" };
	return q;
}

static void test_quiet_hours(void)
{
	struct quiet_hours q = paris();

	CU_ASSERT_EQUAL_FATAL(quiet_use_tz("Europe/Paris"), 0);
	CU_ASSERT_EQUAL(quiet_use_tz("Europe/Nowhere"), -1);
	/* Tuesday 10:00: allowed as it is. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796115600) + 123), S(1796115600) + 123);
	/* Tuesday 21:30 (winter, UTC+1) -> Wednesday 08:00, across midnight. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796157000)), S(1796194800));
	/* Tuesday 07:59 -> 08:00 the same morning; 08:00 itself is allowed. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796108340)), S(1796108400));
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796108400)), S(1796108400));
	/* Saturday 22:00 -> Sunday is quiet all day -> Monday 08:00. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796504400)), S(1796626800));
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796554800)), S(1796626800));
	/* Summer (UTC+2): Tuesday 20:30 -> Wednesday 08:00 local. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1783449000)), S(1783490400));
	/* The night summer time begins (a Sunday): Saturday 21:00 -> Monday 08:00 CEST. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1774728000)), S(1774850400));
	/* No quiet hours. */
	struct quiet_hours off = { .tz = "Europe/Paris" };
	CU_ASSERT_EQUAL(quiet_next(&off, S(1796157000)), S(1796157000));
	/* A window within one day (12:00-14:00): 13:00 -> 14:00 (Tuesday 2026-12-01). */
	struct quiet_hours noon = { .start_min = 12 * 60, .end_min = 14 * 60, .tz = "Europe/Paris" };
	CU_ASSERT_EQUAL(quiet_next(&noon, S(1796115600 + 3 * 3600)), S(1796115600 + 4 * 3600));
	/* Every day quiet: no time found, the time given back (never a loop). */
	struct quiet_hours all = { .days_mask = 0x7f, .tz = "Europe/Paris" };
	CU_ASSERT_EQUAL(quiet_next(&all, S(1796115600)), S(1796115600));
}

/* Quiet hours in Paris leave the process's own zone alone: its TZ, and so localtime (the
 * journal's timestamps, the modem threads' logs), are what they were; and the quiet hours
 * are Paris's whatever the process's zone is. */
static void test_quiet_keeps_process_tz(void)
{
	struct quiet_hours q = paris();
	time_t t = (time_t)1796157000;	/* Tuesday 2026-12-01 21:30 in Paris, 15:30 in New York */
	struct tm before, after;
	const char *tz;

	CU_ASSERT_EQUAL_FATAL(setenv("TZ", "America/New_York", 1), 0);
	tzset();
	CU_ASSERT_PTR_NOT_NULL_FATAL(localtime_r(&t, &before));
	CU_ASSERT_EQUAL(quiet_use_tz("Europe/Paris"), 0);
	/* 21:30 in Paris (quiet) -> Wednesday 08:00 Paris, not New York's evening or morning. */
	CU_ASSERT_EQUAL(quiet_next(&q, S(1796157000)), S(1796194800));
	/* A zone the process never had: Asia/Tokyo 20:00-08:00 at 21:30 Paris = 05:30 Tokyo. */
	struct quiet_hours tokyo = { .start_min = 20 * 60, .end_min = 8 * 60, .tz = "Asia/Tokyo" };
	CU_ASSERT_EQUAL(quiet_next(&tokyo, S(1796157000)), S(1796157000 + 150 * 60));
	tz = getenv("TZ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(tz);
	CU_ASSERT_STRING_EQUAL(tz, "America/New_York");
	CU_ASSERT_PTR_NOT_NULL_FATAL(localtime_r(&t, &after));
	CU_ASSERT_EQUAL(after.tm_hour, before.tm_hour);
	CU_ASSERT_EQUAL(after.tm_hour, 15);
	CU_ASSERT_EQUAL(after.tm_gmtoff, -5 * 3600);
	unsetenv("TZ");
	tzset();
}

/* The zone's rule past the file's last transition (2037 in a "fat" file), and the local
 * times a change of offset skips or repeats. */
static void test_zone_file(void)
{
	char err[256];
	struct tzfile *z = tzfile_load(NULL, "Europe/Paris", err, sizeof(err));
	struct tm tm;

	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	CU_ASSERT_EQUAL(tzfile_offset(z, 1796157000), 3600);		/* December 2026 */
	CU_ASSERT_EQUAL(tzfile_offset(z, 1783449000), 7200);		/* July 2026 */
	/* 2050-07-01 12:00 UTC (summer, from the footer rule) and 2050-12-01. */
	CU_ASSERT_EQUAL(tzfile_offset(z, 2540376000LL), 7200);
	CU_ASSERT_EQUAL(tzfile_offset(z, 2553595200LL), 3600);
	/* 2026-03-29: 02:30 does not exist in Paris (02:00 -> 03:00): 03:30 CEST, 01:30 UTC. */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 126; tm.tm_mon = 2; tm.tm_mday = 29; tm.tm_hour = 2; tm.tm_min = 30;
	CU_ASSERT_EQUAL(tzfile_mktime(z, &tm), 1774747800);
	CU_ASSERT_EQUAL(tm.tm_hour, 3);
	/* 2026-10-25: 02:30 happens twice: the first (CEST, 00:30 UTC). */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 126; tm.tm_mon = 9; tm.tm_mday = 25; tm.tm_hour = 2; tm.tm_min = 30;
	CU_ASSERT_EQUAL(tzfile_mktime(z, &tm), 1792888200);
	/* Out-of-range fields normalised like mktime: 32 December 2026 00:00 = 1 January 2027. */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 126; tm.tm_mon = 11; tm.tm_mday = 32;
	CU_ASSERT_EQUAL(tzfile_mktime(z, &tm), 1798758000);
	CU_ASSERT_EQUAL(tm.tm_mon, 0);
	tzfile_localtime(z, 1796157000, &tm);
	CU_ASSERT_EQUAL(tm.tm_hour, 21);
	CU_ASSERT_EQUAL(tm.tm_wday, 2);
	talloc_free(z);
	CU_ASSERT_PTR_NULL(tzfile_load(NULL, "Europe/Nowhere", err, sizeof(err)));
	CU_ASSERT_PTR_NULL(tzfile_load(NULL, "../etc/passwd", err, sizeof(err)));
}

static void test_keywords(void)
{
	struct notify_config c;

	notify_config_defaults(&c);
	CU_ASSERT_EQUAL(notify_keyword(&c, "STOP"), 1);
	CU_ASSERT_EQUAL(notify_keyword(&c, " stop \n"), 1);
	CU_ASSERT_EQUAL(notify_keyword(&c, "Arrêt"), 1);
	CU_ASSERT_EQUAL(notify_keyword(&c, "ARRET!"), 1);
	CU_ASSERT_EQUAL(notify_keyword(&c, "start"), -1);
	CU_ASSERT_EQUAL(notify_keyword(&c, "stop les messages"), 0);
	CU_ASSERT_EQUAL(notify_keyword(&c, ""), 0);
	CU_ASSERT_EQUAL(notify_keyword(NULL, "STOP"), 0);
}

static void test_config(void)
{
	void *ctx = talloc_named_const(NULL, 0, "cfg");
	struct diag *d = diag_alloc(ctx);
	struct ydoc y = { 0 };
	const char *text =
		"notify:\n"
		"  quiet_hours: { from: \"21:30\", to: \"07:00\", days: [saturday, sunday] }\n"
		"  pacing: { default: 5, sms0: 50 }\n"
		"  stop: [STOP, STOPPER]\n";
	CU_ASSERT_EQUAL_FATAL(ydoc_load_string(&y, ctx, "g.yaml", text, d), 0);
	struct notify_config *c = notify_config_parse(ctx, &y, ydoc_get(&y, ydoc_root(&y), "notify"));
	CU_ASSERT_EQUAL(d->n_errors, 0);
	CU_ASSERT_EQUAL(c->quiet.start_min, 21 * 60 + 30);
	CU_ASSERT_EQUAL(c->quiet.end_min, 7 * 60);
	CU_ASSERT_EQUAL(c->quiet.days_mask, 0x41);
	CU_ASSERT_STRING_EQUAL(c->quiet.tz, "Europe/Paris");
	CU_ASSERT_EQUAL(c->pace_default, 5);
	CU_ASSERT_EQUAL_FATAL(c->n_pace, 1);
	CU_ASSERT_EQUAL(c->pace[0].parts_per_s, 50);
	CU_ASSERT_EQUAL(notify_keyword(c, "stopper"), 1);
	CU_ASSERT_EQUAL(notify_keyword(c, "arrêt"), 0);
	ydoc_free(&y);

	struct ydoc y2 = { 0 };
	CU_ASSERT_EQUAL_FATAL(ydoc_load_string(&y2, ctx, "g.yaml",
		"notify: { quiet_hours: { from: \"25:00\" }, pacing: lots }\n", d), 0);
	notify_config_parse(ctx, &y2, ydoc_get(&y2, ydoc_root(&y2), "notify"));
	CU_ASSERT_EQUAL(d->n_errors, 2);
	ydoc_free(&y2);
	talloc_free(ctx);
}

/* --- the scheduler --- */

#define MAX_SENT 64
static char sent_text[MAX_SENT][256];
static char sent_to[MAX_SENT][32];
static int64_t sent_id[MAX_SENT];
static unsigned n_sent;

static int fake_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	if (n_sent == MAX_SENT)
		return -1;
	snprintf(sent_text[n_sent], sizeof(sent_text[0]), "%s", m->text);
	snprintf(sent_to[n_sent], sizeof(sent_to[0]), "%s", m->to);
	sent_id[n_sent] = m->id;
	n_sent++;
	return 0;
}

static struct sms_transport modem = { .name = "m1", .send = fake_send, .up = true,
				      .group = "modem" };

static unsigned n_status_calls;
static char status_call_args[256];

/* Only the status call-back exists; it records its arguments (and never answers: the
 * scheduler does not wait for it). */
static int fake_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		     call_done_fn done, void *data)
{
	(void)impl; (void)budget_ms; (void)done; (void)data;
	if (strcmp(op, "svc.status") != 0)
		return -1;
	n_status_calls++;
	snprintf(status_call_args, sizeof(status_call_args), "%s %s %s %s %s to=%s",
		 vars_get(args, "id"), vars_get(args, "status"), vars_get(args, "reason"),
		 vars_get(args, "reference"), vars_get(args, "origin"),
		 vars_get(args, "to") ? vars_get(args, "to") : "(none)");
	return 0;
}

static void *ctx;
static struct store *st;
static struct router *r;
static struct scheduler *sch;
static struct guard *guard;
/* A Tuesday, 10:00 in Paris: outside quiet hours. */
static const int64_t T0 = S(1796115600);

static int setup(void)
{
	struct diag *d;
	struct flow_set *fs;
	struct notify_config nc;
	struct guard_config gc;
	static const char *allow[] = { "+336", "+337" };

	ctx = talloc_named_const(NULL, 0, "test_scheduler");
	d = diag_alloc(ctx);
	fs = flow_set_load_string(ctx, "t.yaml", flows_yaml, NULL, d);
	if (!fs || quiet_use_tz("Europe/Paris") < 0)
		return 1;
	st = store_mem_open(ctx);
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3) },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) },
	};
	r = router_create(ctx, &rc, st, (struct call_port){ .call = fake_call });
	router_set_flows(r, fs);
	guard_config_defaults(&gc);
	gc.allow = allow;
	gc.n_allow = 2;
	guard = guard_create(ctx, &gc);
	router_set_guard(r, guard);
	router_sms_register(r, &modem);
	notify_config_defaults(&nc);
	nc.pace_default = 0;
	sch = scheduler_create(ctx, &nc, st, r);
	scheduler_set_manual(sch, true);
	return sch ? 0 : 1;
}

static int teardown(void)
{
	talloc_free(ctx);
	return 0;
}

static int64_t schedule(const char *to, const char *text, int64_t at, int64_t not_after)
{
	struct store_scheduled m = { .to = to, .text = text, .send_at = at,
				     .not_after = not_after, .origin = SCHED_API };

	CU_ASSERT_EQUAL(st->ops->schedule_add(st, &m), 0);
	return m.id;
}

static enum sched_status status_of(int64_t id, char *reason, size_t len)
{
	struct store_scheduled m;
	void *tmp = talloc_new(ctx);
	enum sched_status s = _SCHED_STATUS_N;

	if (st->ops->schedule_get(st, id, &m, tmp) == 0) {
		s = m.status;
		if (reason)
			snprintf(reason, len, "%s", m.reason ? m.reason : "");
	}
	talloc_free(tmp);
	return s;
}

/* The transport says every message it was given went out. */
static void all_sent(void)
{
	for (unsigned i = 0; i < n_sent; i++)
		router_sms_sent(r, sent_id[i]);
	router_flush(r);
}

static void test_sent_once(void)
{
	int64_t a, b;

	n_sent = 0;
	a = schedule("+33611111111", "Votre dossier est prêt", T0 + 500, 0);
	b = schedule("+33622222222", "Rappel: RDV demain", T0 + 5000, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 0);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 500), 1);
	CU_ASSERT_EQUAL_FATAL(n_sent, 1);
	CU_ASSERT_STRING_EQUAL(sent_text[0], "Votre dossier est prêt");
	CU_ASSERT_STRING_EQUAL(sent_to[0], "+33611111111");
	CU_ASSERT_EQUAL(status_of(a, NULL, 0), SCHED_SENT);
	CU_ASSERT_EQUAL(status_of(b, NULL, 0), SCHED_QUEUED);
	/* Run again: nothing sent twice. */
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 600), 0);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 5000), 1);
	CU_ASSERT_EQUAL(n_sent, 2);
	all_sent();
	CU_ASSERT_EQUAL(router_outbox_pending(r), 0);
	CU_ASSERT_EQUAL(scheduler_counter(sch, SCHED_CTR_SENT), 2);
}

static void test_optout_stop_start(void)
{
	char why[64];
	struct sms_in stop = { .via = "m1", .from = "+33633333333", .text = "Stop",
			       .received = 1, .dedup = "S1" };
	struct sms_in start = { .via = "m1", .from = "+33633333333", .text = "START",
				.received = 2, .dedup = "S2" };
	int64_t a, b;

	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(r, &stop, 1), 0);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33633333333"), 1);
	all_sent();
	n_sent = 0;
	a = schedule("+33633333333", "Campagne", T0, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(status_of(a, why, sizeof(why)), SCHED_REFUSED);
	CU_ASSERT_STRING_EQUAL(why, "opt-out");
	CU_ASSERT_EQUAL(router_sms_received(r, &start, 1), 0);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33633333333"), 0);
	all_sent();
	n_sent = 0;
	b = schedule("+33633333333", "Campagne 2", T0, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(status_of(b, NULL, 0), SCHED_SENT);
	all_sent();
}

static void test_expired_destination(void)
{
	char why[64];
	int64_t a, b;

	n_sent = 0;
	a = schedule("+33644444444", "trop tard", T0 - 10000, T0 - 1);
	b = schedule("+33144444444", "fixe", T0, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 2);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(status_of(a, NULL, 0), SCHED_EXPIRED);
	CU_ASSERT_EQUAL(status_of(b, why, sizeof(why)), SCHED_REFUSED);
	CU_ASSERT_STRING_EQUAL(why, "destination");
}

static void test_quiet_deferred(void)
{
	char why[64];
	/* Tuesday 21:30 in Paris; Wednesday 08:00. */
	const int64_t evening = S(1796157000), morning = S(1796194800);
	int64_t a;

	n_sent = 0;
	a = schedule("+33655555555", "Rappel", evening, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, evening), 1);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(status_of(a, why, sizeof(why)), SCHED_DEFERRED);
	CU_ASSERT_STRING_EQUAL(why, "quiet hours");
	CU_ASSERT_EQUAL(scheduler_run(sch, morning - 1), 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, morning), 1);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(status_of(a, NULL, 0), SCHED_SENT);
	all_sent();
}

/* A receipt answers the person: sent at once at night and after STOP. */
static void test_receipt_solicited(void)
{
	const int64_t evening = S(1796157000);
	struct store_scheduled m = { .to = "+33612121212", .text = "Recu: RDV 3/12",
				     .send_at = evening, .origin = SCHED_RECEIPT };

	n_sent = 0;
	CU_ASSERT_EQUAL(st->ops->optout_set(st, "+33612121212", 1), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &m), 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, evening), 1);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(status_of(m.id, NULL, 0), SCHED_SENT);
	CU_ASSERT_EQUAL(st->ops->optout_clear(st, "+33612121212"), 0);
	all_sent();
}

static void test_paced(void)
{
	struct notify_config nc;
	int64_t ids[5];

	notify_config_defaults(&nc);
	nc.pace_default = 0;
	nc.n_pace = 1;
	nc.pace = &(struct pace){ .via = "m1", .parts_per_s = 2 };
	scheduler_configure(sch, &nc);
	n_sent = 0;
	for (int i = 0; i < 5; i++)
		ids[i] = schedule("+33666666666", "campagne", T0 + 100000, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 100000), 2);
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT_EQUAL(status_of(ids[2], NULL, 0), SCHED_QUEUED);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 100500), 1);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 101500), 2);
	CU_ASSERT_EQUAL(n_sent, 5);
	CU_ASSERT_EQUAL(status_of(ids[4], NULL, 0), SCHED_SENT);
	all_sent();
	nc.n_pace = 0;
	scheduler_configure(sch, &nc);
}

/* A batch larger than the scheduler's: all of it goes in one run, batch after batch. */
static void test_many(void)
{
	struct notify_config nc;

	notify_config_defaults(&nc);
	nc.pace_default = 0;
	nc.batch = 16;
	scheduler_configure(sch, &nc);
	n_sent = 0;
	for (int i = 0; i < 50; i++)
		schedule("+33677777777", "x", T0 + 200000 + i, 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0 + 300000), 50);
	CU_ASSERT_EQUAL(n_sent, 50);
	all_sent();
}

/* The notification API's flow + step: the person gets the step's question, and their
 * answer continues the flow; a person already in a procedure is not interrupted. */
static void test_open_flow(void)
{
	char why[64];
	struct sms_in one = { .via = "m1", .from = "+33688888888", .text = "1", .received = 5,
			      .dedup = "O1" };
	struct sms_in go = { .via = "m1", .from = "+33699999999", .text = "GO", .received = 6,
			     .dedup = "O2" };
	struct store_scheduled m = { .to = "+33688888888", .flow = "t", .step = "confirmer",
				     .vars = "{\"date\":\"3/12\"}", .send_at = T0,
				     .origin = SCHED_API };
	int64_t busy;

	n_sent = 0;
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &m), 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL_FATAL(n_sent, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(sent_text[0], "RDV du 3/12 maintenu ?"));
	CU_ASSERT_EQUAL(status_of(m.id, NULL, 0), SCHED_SENT);
	all_sent();
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(r, &one, 1), 0);
	CU_ASSERT_EQUAL_FATAL(n_sent, 1);
	CU_ASSERT_STRING_EQUAL(sent_text[0], "Merci, RDV du 3/12 maintenu.");
	all_sent();

	/* In a procedure of their own: the opening waits. */
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(r, &go, 1), 0);
	all_sent();
	n_sent = 0;
	struct store_scheduled b = { .to = "+33699999999", .flow = "t", .step = "confirmer",
				     .send_at = T0, .origin = SCHED_API };
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &b), 0);
	busy = b.id;
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(status_of(busy, why, sizeof(why)), SCHED_DEFERRED);
	CU_ASSERT_STRING_EQUAL(why, "in a procedure");
	/* An unknown step (the flows changed since): failed, with the reason. */
	struct store_scheduled u = { .to = "+33677777777", .flow = "t", .step = "disparu",
				     .send_at = T0, .origin = SCHED_API };
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &u), 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL(status_of(u.id, why, sizeof(why)), SCHED_FAILED);
	CU_ASSERT_STRING_EQUAL(why, "unknown flow or step");
}

/* Each status the scheduler gives is told to the configured operation, without the number
 * or the text. */
static void test_status_call(void)
{
	struct notify_config nc;
	struct store_scheduled m = { .to = "+33611112222", .text = "x", .send_at = T0,
				     .reference = "D-9", .origin = SCHED_REMIND };
	struct store_scheduled e = { .to = "+33611113333", .text = "y", .send_at = T0 - 5,
				     .not_after = T0 - 1, .origin = SCHED_API };
	char want[128];

	notify_config_defaults(&nc);
	nc.pace_default = 0;
	nc.status_call = "svc.status";
	scheduler_configure(sch, &nc);
	n_sent = n_status_calls = 0;
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &m), 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL(n_status_calls, 1);
	snprintf(want, sizeof(want), "%lld sent  D-9 remind to=(none)", (long long)m.id);
	CU_ASSERT_STRING_EQUAL(status_call_args, want);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &e), 0);
	CU_ASSERT_EQUAL(scheduler_run(sch, T0), 1);
	CU_ASSERT_EQUAL(n_status_calls, 2);
	snprintf(want, sizeof(want), "%lld expired   api to=(none)", (long long)e.id);
	CU_ASSERT_STRING_EQUAL(status_call_args, want);
	all_sent();
	nc.status_call = NULL;
	scheduler_configure(sch, &nc);
}

int main(void)
{
	CU_pSuite s;
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("pure", NULL, NULL);
	CU_add_test(s, "quiet hours, Europe/Paris", test_quiet_hours);
	CU_add_test(s, "quiet hours leave the process's TZ and localtime alone",
		    test_quiet_keeps_process_tz);
	CU_add_test(s, "zone files: footer rule, skipped and repeated hours", test_zone_file);
	CU_add_test(s, "STOP and START words", test_keywords);
	CU_add_test(s, "notify: section", test_config);
	s = CU_add_suite("scheduler", setup, teardown);
	CU_add_test(s, "due messages sent once through the outbox", test_sent_once);
	CU_add_test(s, "STOP refuses, START lets through", test_optout_stop_start);
	CU_add_test(s, "expired, destination refused", test_expired_destination);
	CU_add_test(s, "deferred by quiet hours, sent in the morning", test_quiet_deferred);
	CU_add_test(s, "a receipt is not held by quiet hours nor STOP", test_receipt_solicited);
	CU_add_test(s, "paced per transport", test_paced);
	CU_add_test(s, "more than one batch", test_many);
	CU_add_test(s, "a procedure opened first, continued by the answer", test_open_flow);
	CU_add_test(s, "status call-back", test_status_call);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
