/* The cost guard: per-number windows and their day rollover, loop detection, sender patterns,
 * destination prefixes, the daily spend cap (and its counters in both stores, across a
 * reopening), the USSD rate, bounded memory; then through the router on the memory store. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <sqlite3.h>
#include <osmocom/core/talloc.h>

#include "guichet/guard.h"
#include "guichet/metrics.h"
#include "guichet/router.h"
#include "unit_main.h"

#define T0 1800000000	/* a Friday, 2027-01-15 08:00 UTC */

static void *ctx;

static struct guard *make(void (*tweak)(struct guard_config *))
{
	struct guard_config c;

	guard_config_defaults(&c);
	if (tweak)
		tweak(&c);
	return guard_create(ctx, &c);
}

static enum guard_verdict in(struct guard *g, const char *from, const char *text, int64_t now)
{
	return guard_sms_in(g, from, text, now).verdict;
}

static void three_a_minute(struct guard_config *c)
{
	c->per_minute = 3;
	c->per_day = 0;
	c->block_s = 600;
}

static void test_minute_window(void)
{
	struct guard *g = make(three_a_minute);
	const char *n = "+33612345678";

	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(in(g, n, "1", T0 + i), GUARD_PROCESS);
	struct guard_decision d = guard_sms_in(g, n, "1", T0 + 3);
	CU_ASSERT_EQUAL(d.verdict, GUARD_NOTICE);	/* one polite text ... */
	CU_ASSERT_EQUAL(d.reason, GUARD_LIMITED);
	CU_ASSERT_TRUE(d.first);
	d = guard_sms_in(g, n, "1", T0 + 4);
	CU_ASSERT_EQUAL(d.verdict, GUARD_SILENT);	/* ... then silence */
	CU_ASSERT_FALSE(d.first);
	/* A new minute does not lift the block: the notice said "later". */
	CU_ASSERT_EQUAL(in(g, n, "1", T0 + 120), GUARD_SILENT);
	/* Someone else is not affected. */
	CU_ASSERT_EQUAL(in(g, "+33687654321", "1", T0 + 5), GUARD_PROCESS);
	/* After the block: served again, and a later burst gets its own single notice. */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(in(g, n, "1", T0 + 700 + i), GUARD_PROCESS);
	CU_ASSERT_EQUAL(in(g, n, "1", T0 + 703), GUARD_NOTICE);
	CU_ASSERT_EQUAL(in(g, n, "1", T0 + 704), GUARD_SILENT);
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_NOTICES), 2);
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_LIMITED), 5);
	talloc_free(g);
}

static void five_a_day(struct guard_config *c)
{
	c->per_minute = 0;
	c->per_day = 5;
	c->block_s = 60;
}

static void test_day_window_and_rollover(void)
{
	struct guard *g = make(five_a_day);
	const char *n = "+33712345678";
	int64_t t = T0 + 3600 * 10;	/* 18:00 UTC */

	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(in(g, n, "1", t + i * 600), GUARD_PROCESS);
	CU_ASSERT_EQUAL(in(g, n, "1", t + 3000), GUARD_NOTICE);
	CU_ASSERT_EQUAL(in(g, n, "1", t + 3001), GUARD_SILENT);
	/* The block (60 s) is over but the day is not: still over the day's limit, and the
	 * day's notice was given already. */
	CU_ASSERT_EQUAL(in(g, n, "1", t + 3200), GUARD_SILENT);
	/* Next UTC day: a fresh count. */
	int64_t next = (T0 / 86400 + 1) * 86400 + 10;
	CU_ASSERT_EQUAL(in(g, n, "1", next), GUARD_PROCESS);
	talloc_free(g);
}

static void test_loop_detection(void)
{
	struct guard *g = make(NULL);	/* 4 quick near-identical answers in a row */
	const char *robot = "+33698765432";
	int64_t t = T0;
	int answered = 0;
	struct guard_decision d = { 0 };

	/* The robot answers each reply within 2 s, its text varying only in digits. */
	for (int i = 0; i < 10; i++, t += 2) {
		char text[64];
		snprintf(text, sizeof(text), "Message automatique n°%d : je suis absent.", i);
		d = guard_sms_in(g, robot, text, t);
		if (d.verdict != GUARD_PROCESS)
			break;
		answered++;
		CU_ASSERT_EQUAL(guard_reply(g, "m1", robot, 1, false, t + 1, NULL), GUARD_OK);
	}
	CU_ASSERT_EQUAL(d.verdict, GUARD_SILENT);
	CU_ASSERT_EQUAL(d.reason, GUARD_MUTED);
	CU_ASSERT_TRUE(d.first);
	CU_ASSERT_TRUE(answered <= 4);
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_LOOPS), 1);
	d = guard_sms_in(g, robot, "Message automatique : je suis absent.", t + 3);
	CU_ASSERT_EQUAL(d.reason, GUARD_MUTED);
	CU_ASSERT_FALSE(d.first);	/* one journal line per loop */
	CU_ASSERT_EQUAL(in(g, robot, "Message automatique : je suis absent.", t + 3700),
			GUARD_PROCESS);	/* the mute ends */

	/* A person answering a menu quickly with digits is never taken for a robot. */
	const char *person = "+33611223344";
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(in(g, person, "9", T0 + 10 * i), GUARD_PROCESS);
		guard_reply(g, "m1", person, 1, true, T0 + 10 * i + 1, NULL);
	}
	/* Nor someone repeating the same words slowly. */
	const char *slow = "+33611223355";
	for (int i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL(in(g, slow, "rendez vous", T0 + 30 * i), GUARD_PROCESS);
		guard_reply(g, "m1", slow, 1, true, T0 + 30 * i + 1, NULL);
	}
	talloc_free(g);
}

static void glob_too(struct guard_config *c)
{
	static const char *ignore[] = { "alphanumeric", "short", "+3389*" };
	c->ignore = ignore;
	c->n_ignore = 3;
}

static void test_sender_patterns(void)
{
	struct guard *g = make(glob_too);

	CU_ASSERT_TRUE(guard_sender_ignored(g, "ORANGE"));
	CU_ASSERT_TRUE(guard_sender_ignored(g, "Info-Caf"));
	CU_ASSERT_TRUE(guard_sender_ignored(g, "38123"));	/* a short code */
	CU_ASSERT_TRUE(guard_sender_ignored(g, "+33890123456"));
	CU_ASSERT_TRUE(guard_sender_ignored(g, ""));
	CU_ASSERT_FALSE(guard_sender_ignored(g, "+33612345678"));
	CU_ASSERT_FALSE(guard_sender_ignored(g, "0612345678"));
	struct guard_decision d = guard_sms_in(g, "ORANGE", "Votre forfait", T0);
	CU_ASSERT_EQUAL(d.verdict, GUARD_SILENT);
	CU_ASSERT_EQUAL(d.reason, GUARD_IGNORED);
	CU_ASSERT_TRUE(d.first);
	CU_ASSERT_FALSE(guard_sms_in(g, "ORANGE", "Votre forfait", T0 + 1).first);
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_IGNORED), 2);
	talloc_free(g);
}

static void test_destination_prefixes(void)
{
	struct guard *g = make(NULL);
	const char *yes[] = { "+33612345678", "+33712345678", "+262692123456", "+262693123456",
			      "+262639123456", "+590690123456", "+590691123456", "+594694123456",
			      "+596696123456", "+596697123456", "+508551234" };
	const char *no[] = { "+33123456789", "+33899123456", "+269639123456", "+447700900123",
			     "+262262123456", "0612345678", "", "+33" };

	for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CU_ASSERT_TRUE(guard_destination_allowed(g, yes[i]));
	for (unsigned i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CU_ASSERT_FALSE(guard_destination_allowed(g, no[i]));
	struct guard_decision d = guard_sms_in(g, "+447700900123", "hello there", T0);
	CU_ASSERT_EQUAL(d.verdict, GUARD_SILENT);
	CU_ASSERT_EQUAL(d.reason, GUARD_REFUSED);
	CU_ASSERT_EQUAL(guard_reply(g, "m1", "+33123456789", 1, true, T0, NULL), GUARD_REFUSED);
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_REFUSED), 2);
	talloc_free(g);
}

static struct guard_cap m1_cap[] = { { "m1", 3 } };

static void cap_of_five(struct guard_config *c)
{
	c->daily_parts = 5;
	c->caps = m1_cap;
	c->n_caps = 1;
}

static void test_spend_cap(void)
{
	struct guard *g = make(cap_of_five);
	struct guard_note note;
	char num[32];

	/* Through m1 (its own cap 3): three 1-part replies, the third reaching its cap. */
	for (int i = 0; i < 3; i++) {
		snprintf(num, sizeof(num), "+3361000000%d", i);
		CU_ASSERT_EQUAL(guard_reply(g, "m1", num, 1, false, T0, &note), GUARD_OK);
	}
	CU_ASSERT_EQUAL(note.kind, GUARD_NOTE_HIT);
	CU_ASSERT_STRING_EQUAL(note.scope, "m1");
	CU_ASSERT_TRUE(guard_capped(g, "m1", false, T0));
	CU_ASSERT_FALSE(guard_capped(g, "m2", false, T0));
	CU_ASSERT_EQUAL(guard_reply(g, "m1", "+33610000009", 1, false, T0, NULL), GUARD_CAPPED);
	/* The total (5): 80 % is 4 parts. */
	CU_ASSERT_EQUAL(guard_reply(g, "m2", "+33610000010", 1, false, T0, &note), GUARD_OK);
	CU_ASSERT_EQUAL(note.kind, GUARD_NOTE_WARN);
	CU_ASSERT_PTR_NULL(note.scope);
	/* A 2-part reply does not fit in what is left (1): refused, the cap is hit. */
	CU_ASSERT_EQUAL(guard_reply(g, "m2", "+33610000011", 2, false, T0, &note), GUARD_CAPPED);
	CU_ASSERT_EQUAL(note.kind, GUARD_NOTE_HIT);
	CU_ASSERT_EQUAL(guard_reply(g, "m2", "+33610000011", 1, false, T0, NULL), GUARD_OK);
	CU_ASSERT_EQUAL(guard_spent(g, T0), 5);
	CU_ASSERT_TRUE(guard_capped(g, "m2", false, T0));
	/* People already in a procedure still get their replies. */
	CU_ASSERT_FALSE(guard_capped(g, "m2", true, T0));
	CU_ASSERT_EQUAL(guard_reply(g, "m2", "+33610000012", 1, true, T0, NULL), GUARD_OK);
	char buf[96];
	CU_ASSERT_PTR_NOT_NULL(strstr(guard_status(g, T0, buf, sizeof(buf)), "6/5"));
	/* The next UTC day starts from zero. */
	CU_ASSERT_FALSE(guard_capped(g, "m1", false, T0 + 86400));
	CU_ASSERT_STRING_EQUAL(guard_status(g, T0 + 86400, buf, sizeof(buf)), "");
	talloc_free(g);

	/* A restart: the day's spend read back from the store. */
	g = make(cap_of_five);
	guard_spend_set(g, guard_day(T0), "m2", 4);
	CU_ASSERT_FALSE(guard_capped(g, "m2", false, T0));
	CU_ASSERT_EQUAL(guard_reply(g, "m2", "+33610000013", 1, false, T0, &note), GUARD_OK);
	CU_ASSERT_EQUAL(note.kind, GUARD_NOTE_HIT);	/* 80 % was already passed: no warning again */
	CU_ASSERT_TRUE(guard_capped(g, "m2", false, T0));
	talloc_free(g);
}

/* The value of via's spend gauge in /metrics, e.g. "3", or "none" when there is none. */
static const char *spend_gauge(void *c, const char *via)
{
	char *text = metrics_render(c), *p, want[96];

	snprintf(want, sizeof(want), "guichet_guard_spend_today_parts{name=\"%s\"} ", via);
	p = text ? strstr(text, want) : NULL;
	if (!p)
		return "none";
	p += strlen(want);
	return talloc_strndup(c, p, strcspn(p, "\n"));
}

/* The day's spend per transport on /metrics: as replies go, read back after a restart,
 * back to 0 on the next UTC day. */
static void test_spend_gauge(void)
{
	void *c = talloc_new(ctx);
	struct guard *g = make(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_STRING_EQUAL(spend_gauge(c, "gm1"), "none");	/* nothing spent yet */
	CU_ASSERT_EQUAL(guard_reply(g, "gm1", "+33610000001", 2, false, T0, NULL), GUARD_OK);
	CU_ASSERT_EQUAL(guard_reply(g, "gm1", "+33610000002", 1, false, T0, NULL), GUARD_OK);
	CU_ASSERT_EQUAL(guard_reply(g, "gm2", "+33610000003", 4, false, T0, NULL), GUARD_OK);
	CU_ASSERT_STRING_EQUAL(spend_gauge(c, "gm1"), "3");
	CU_ASSERT_STRING_EQUAL(spend_gauge(c, "gm2"), "4");
	char buf[96];
	guard_status(g, T0 + 86400, buf, sizeof(buf));	/* the tick, the next day */
	CU_ASSERT_STRING_EQUAL(spend_gauge(c, "gm1"), "0");
	talloc_free(g);
	CU_ASSERT_STRING_EQUAL(spend_gauge(c, "gm1"), "none");	/* gone with its guard */

	g = make(NULL);
	guard_spend_set(g, guard_day(T0), "gm1", 7);	/* a restart: read from the store */
	CU_ASSERT_STRING_EQUAL(spend_gauge(c, "gm1"), "7");
	talloc_free(g);
	talloc_free(c);
}

static void two_dialogues(struct guard_config *c)
{
	c->ussd_per_minute = 2;
}

static void test_ussd_rate(void)
{
	struct guard *g = make(two_dialogues);

	CU_ASSERT_EQUAL(guard_ussd_begin(g, "+33612345678", T0).verdict, GUARD_PROCESS);
	CU_ASSERT_EQUAL(guard_ussd_begin(g, "+33612345678", T0 + 1).verdict, GUARD_PROCESS);
	struct guard_decision d = guard_ussd_begin(g, "+33612345678", T0 + 2);
	CU_ASSERT_EQUAL(d.verdict, GUARD_NOTICE);
	CU_ASSERT_TRUE(d.first);
	d = guard_ussd_begin(g, "+33612345678", T0 + 3);
	CU_ASSERT_EQUAL(d.verdict, GUARD_NOTICE);	/* every screen is answered, with END */
	CU_ASSERT_FALSE(d.first);
	CU_ASSERT_EQUAL(guard_ussd_begin(g, "+33612345678", T0 + 70).verdict, GUARD_PROCESS);
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_USSD_LIMITED), 2);
	talloc_free(g);
}

static void small_table(struct guard_config *c)
{
	c->max_numbers = 64;
	c->per_minute = 2;
}

static void test_bounded_memory(void)
{
	struct guard *g = make(small_table);
	size_t before = talloc_total_size(g);
	char num[32];

	/* A limited number ... */
	for (int i = 0; i < 3; i++)
		in(g, "+33600000001", "1", T0);
	CU_ASSERT_EQUAL(in(g, "+33600000001", "1", T0 + 1), GUARD_SILENT);
	/* ... 20,000 others later: the table has not grown, the blocked number is remembered. */
	for (int i = 0; i < 20000; i++) {
		snprintf(num, sizeof(num), "+3361%07d", i);
		in(g, num, "1", T0 + 2 + i / 1000);
	}
	CU_ASSERT_EQUAL(talloc_total_size(g), before);
	CU_ASSERT_EQUAL(in(g, "+33600000001", "1", T0 + 30), GUARD_SILENT);
	talloc_free(g);
}

static void test_reconfigure_keeps_state(void)
{
	struct guard *g = make(three_a_minute);
	struct guard_config c;

	for (int i = 0; i < 4; i++)
		in(g, "+33612345678", "1", T0);
	guard_config_defaults(&c);
	c.per_minute = 3;
	c.block_s = 600;
	c.daily_parts = 10;
	guard_configure(g, &c);
	CU_ASSERT_EQUAL(in(g, "+33612345678", "1", T0 + 1), GUARD_SILENT);
	CU_ASSERT_EQUAL(guard_config(g)->daily_parts, 10);
	talloc_free(g);
}

/* ---- the spend in both stores ---- */

static uint64_t got_m1, got_m2;
static void spend_row(void *data, const char *via, uint64_t parts)
{
	(void)data;
	if (!strcmp(via, "m1"))
		got_m1 = parts;
	if (!strcmp(via, "m2"))
		got_m2 = parts;
}

static void check_spend(struct store *st)
{
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->spend_add(st, 100, "m1", 2), 0);
	CU_ASSERT_EQUAL(st->ops->spend_add(st, 100, "m1", 3), 0);
	CU_ASSERT_EQUAL(st->ops->spend_add(st, 100, "m2", 1), 0);
	CU_ASSERT_EQUAL(st->ops->spend_add(st, 99, "m1", 50), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	/* Rolled back: not counted. */
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->spend_add(st, 100, "m1", 7), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	got_m1 = got_m2 = 0;
	CU_ASSERT_EQUAL(st->ops->spend_get(st, 100, spend_row, NULL), 0);
	CU_ASSERT_EQUAL(got_m1, 5);
	CU_ASSERT_EQUAL(got_m2, 1);
	/* Old days go with the purge. */
	CU_ASSERT_TRUE(st->ops->purge(st, 131 * 86400, 3600) >= 0);
	got_m1 = got_m2 = 0;
	CU_ASSERT_EQUAL(st->ops->spend_get(st, 99, spend_row, NULL), 0);
	CU_ASSERT_EQUAL(got_m1, 0);
	CU_ASSERT_EQUAL(st->ops->spend_get(st, 100, spend_row, NULL), 0);
	CU_ASSERT_EQUAL(got_m1, 5);
}

/* A SQLite store in a new directory made from the template dir: path gets its file, dir/g.db. */
static struct store *sqlite_in(char *dir, char *path, size_t size)
{
	char err[256];
	struct store *st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, size, "%s/g.db", dir);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	return st;
}

/* Removes what a closed SQLite store left in dir (sqlite_in's): its file, WAL and shared
 * memory, then dir. */
static void sqlite_remove(const char *dir)
{
	static const char *const files[] = { "g.db", "g.db-wal", "g.db-shm" };
	char path[64];

	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void test_store_spend(void)
{
	char dir[] = "/tmp/guichet-guard.XXXXXX", path[64], err[256];

	check_spend(store_mem_open(ctx));
	struct store *st = sqlite_in(dir, path, sizeof(path));
	check_spend(st);
	st->ops->close(st);
	st = store_sqlite_open(ctx, path, err, sizeof(err));	/* reopened: still there */
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	got_m1 = 0;
	st->ops->spend_get(st, 100, spend_row, NULL);
	CU_ASSERT_EQUAL(got_m1, 5);
	st->ops->close(st);
	sqlite_remove(dir);
}

/* ---- through the router ---- */

static const char *flows_yaml =
	"flow: t\n"
	"title: T\n"
	"entry: { sms: [GO], ussd: \"*1#\" }\n"
	"steps:\n"
	"  nom:\n"
	"    ask: \"Nom ?\"\n"
	"    expect: text\n"
	"    save: nom\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"Merci {{nom}}\"\n";

#define MAX_SENT 256
static char sent_text[MAX_SENT][160];
static char sent_to[MAX_SENT][32];
static unsigned n_sent;

static int fake_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	if (n_sent < MAX_SENT) {
		snprintf(sent_text[n_sent], sizeof(sent_text[0]), "%s", m->text);
		snprintf(sent_to[n_sent], sizeof(sent_to[0]), "%s", m->to);
	}
	n_sent++;
	return 0;
}

static struct sms_transport modem = { .name = "m1", .send = fake_send, .up = true };

static int no_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		   call_done_fn done, void *data)
{
	(void)impl; (void)op; (void)args; (void)budget_ms; (void)done; (void)data;
	return -1;
}

/* A router on st with guard g, the flows of yaml, m1 registered; no back-end. */
static struct router *router_with(struct store *st, struct guard *g, const char *yaml)
{
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "t.yaml", yaml, NULL, d);
	if (!fs) {
		diag_print(d, stderr);
		abort();
	}
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3) },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) },
	};
	struct router *rt = router_create(ctx, &rc, st, (struct call_port){ no_call, NULL });
	router_set_flows(rt, fs);
	router_set_guard(rt, g);
	router_sms_register(rt, &modem);
	return rt;
}

static struct router *make_router(struct store *st, struct guard *g)
{
	return router_with(st, g, flows_yaml);
}

static void test_router_burst(void)
{
	struct store *st = store_mem_open(ctx);
	struct guard *g = make(NULL);	/* 10 a minute */
	struct router *r = make_router(st, g);
	struct sms_in m[60];
	char dedup[60][16];

	for (int i = 0; i < 60; i++) {
		snprintf(dedup[i], sizeof(dedup[i]), "b%d", i);
		m[i] = (struct sms_in){ .via = "m1", .from = "+33612000001", .text = "GO",
					.dedup = dedup[i] };
	}
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(r, m, 60), 0);
	CU_ASSERT_EQUAL(router_counter(r, ROUTER_CTR_MESSAGES_IN), 60);	/* all stored */
	CU_ASSERT_TRUE(n_sent <= 10 + 1);
	CU_ASSERT_EQUAL(router_outbox_pending(r), n_sent);
	unsigned notices = 0;
	for (unsigned i = 0; i < n_sent && i < MAX_SENT; i++)
		notices += strstr(sent_text[i], "Trop de messages") != NULL;
	CU_ASSERT_TRUE(notices <= 1);

	/* A foreign number and an alphanumeric sender: stored, not answered. */
	struct sms_in x[2] = {
		{ .via = "m1", .from = "+447700900123", .text = "GO", .dedup = "x1" },
		{ .via = "m1", .from = "BANQUE", .text = "Code 1234", .dedup = "x2" },
	};
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(r, x, 2), 0);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(router_counter(r, ROUTER_CTR_MESSAGES_IN), 62);

	talloc_free(r);
	talloc_free(g);
}

static char ussd_text[160];
static bool ussd_more;
static void ussd_reply(void *data, const char *text, bool more)
{
	(void)data;
	snprintf(ussd_text, sizeof(ussd_text), "%s", text);
	ussd_more = more;
}

static void test_router_ussd(void)
{
	struct store *st = store_mem_open(ctx);
	struct guard *g = make(two_dialogues);
	struct router *r = make_router(st, g);
	char id[16];

	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		struct ussd_req q = { .via = "gsup", .dialogue = id, .from = "+33612000002",
				      .text = "*1#", .begin = true };
		router_ussd_request(r, &q, ussd_reply, NULL);
		if (i < 2) {
			CU_ASSERT_STRING_EQUAL(ussd_text, "Nom ?");
			router_ussd_abort(r, id);
		}
	}
	CU_ASSERT_STRING_EQUAL(ussd_text, "Trop de demandes. Réessayez dans une heure.");
	CU_ASSERT_FALSE(ussd_more);
	talloc_free(r);
	talloc_free(g);
}

static void cap_of_three(struct guard_config *c)
{
	c->daily_parts = 3;
}

/* The cap stops new procedures exactly at it, and still after a restart (the spend is in the
 * store); people in a procedure finish it. */
static void test_router_cap_across_restart(void)
{
	char dir[] = "/tmp/guichet-guard.XXXXXX", path[64], err[256], num[32], dd[32];
	struct store *st = sqlite_in(dir, path, sizeof(path));
	struct guard *g = make(cap_of_three);
	struct router *r = make_router(st, g);
	unsigned k = 0;

	n_sent = 0;
	for (int i = 0; i < 2; i++, k++) {
		snprintf(num, sizeof(num), "+336130000%02u", k);
		snprintf(dd, sizeof(dd), "c%u", k);
		struct sms_in m = { .via = "m1", .from = num, .text = "GO", .dedup = dd };
		router_sms_received(r, &m, 1);
	}
	CU_ASSERT_EQUAL(n_sent, 2);
	router_flush(r);
	talloc_free(r);
	talloc_free(g);
	st->ops->close(st);

	st = store_sqlite_open(ctx, path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	g = make(cap_of_three);
	r = make_router(st, g);
	CU_ASSERT_EQUAL(guard_spent(g, time(NULL)), 2);
	n_sent = 0;
	for (int i = 0; i < 3; i++, k++) {
		snprintf(num, sizeof(num), "+336130000%02u", k);
		snprintf(dd, sizeof(dd), "c%u", k);
		struct sms_in m = { .via = "m1", .from = num, .text = "GO", .dedup = dd };
		router_sms_received(r, &m, 1);
	}
	CU_ASSERT_EQUAL(n_sent, 1);	/* exactly one more new procedure: 3 in all */
	CU_ASSERT_EQUAL(guard_counter(g, GUARD_CTR_CAPPED), 2);
	/* The first person, already in the procedure, gets its end. */
	struct sms_in m = { .via = "m1", .from = "+33613000000", .text = "Eva", .dedup = "c99" };
	router_sms_received(r, &m, 1);
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT_STRING_EQUAL(sent_text[1], "Merci Eva");
	router_flush(r);
	talloc_free(r);
	talloc_free(g);
	st->ops->close(st);
	sqlite_remove(dir);
}

static const char *secret_yaml =
	"flow: s\n"
	"title: S\n"
	"entry: { sms: [CODE] }\n"
	"steps:\n"
	"  code:\n"
	"    ask: \"Code ?\"\n"
	"    expect: secret\n"
	"    save: code\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"Merci\"\n";

static void one_a_minute(struct guard_config *c)
{
	c->per_minute = 1;
}

/* A text the guard stops while the person's session waits on a secret question is kept as a
 * row (counted) but without its text: it may be the secret, and no engine ran to say so. */
static void test_router_stopped_secret_not_stored(void)
{
	char dir[] = "/tmp/guichet-guard.XXXXXX", path[64];
	struct store *st = sqlite_in(dir, path, sizeof(path));
	struct guard *g = make(one_a_minute);
	struct router *r = router_with(st, g, secret_yaml);

	struct sms_in m[2] = {
		{ .via = "m1", .from = "+33614000001", .text = "CODE", .dedup = "s1" },
		{ .via = "m1", .from = "+33614000001", .text = "4321", .dedup = "s2" },
	};
	n_sent = 0;
	router_sms_received(r, &m[0], 1);	/* "Code ?" */
	router_sms_received(r, &m[1], 1);	/* past 1 a minute: stopped */
	CU_ASSERT_EQUAL(n_sent, 2);		/* the question and the notice */
	router_flush(r);

	sqlite3 *db;
	sqlite3_stmt *q;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "SELECT count(*), sum(body = '4321'), "
					   "sum(body = 'CODE') FROM inbound", -1, &q, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
	CU_ASSERT_EQUAL(sqlite3_column_int(q, 0), 2);	/* both stored (counted) */
	CU_ASSERT_EQUAL(sqlite3_column_int(q, 1), 0);	/* the secret's text is not */
	CU_ASSERT_EQUAL(sqlite3_column_int(q, 2), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	talloc_free(r);
	talloc_free(g);
	st->ops->close(st);
	sqlite_remove(dir);
}

static int setup(void)
{
	ctx = talloc_named_const(NULL, 0, "test_guard");
	return 0;
}

static int teardown(void)
{
	talloc_free(ctx);
	return 0;
}

static const CU_TestInfo tests[] = {
	{ "per-minute window: one notice, then silence", test_minute_window },
	{ "per-day window and the day rollover", test_day_window_and_rollover },
	{ "loop detection: a robot muted, people not", test_loop_detection },
	{ "senders never answered", test_sender_patterns },
	{ "destination prefixes", test_destination_prefixes },
	{ "daily spend cap: total, per transport, 80 %, next day", test_spend_cap },
	{ "the day's spend per transport as a gauge", test_spend_gauge },
	{ "USSD dialogues per number", test_ussd_rate },
	{ "bounded memory", test_bounded_memory },
	{ "reload keeps windows", test_reconfigure_keeps_state },
	{ "spend in both stores", test_store_spend },
	{ "router: a burst, a foreign number, an alphanumeric sender", test_router_burst },
	{ "router: USSD past the rate ends at once", test_router_ussd },
	{ "router: the cap, exactly, across a restart", test_router_cap_across_restart },
	{ "router: a stopped answer to a secret question is not stored",
	  test_router_stopped_secret_not_stored },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("guard", setup, teardown, tests);
}
