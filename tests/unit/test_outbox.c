/* The outbox through the router's transport entry points, on the memory store and on SQLite:
 * a message that keeps failing is retried later and later, and a restart does not start its
 * backoff again (the store's attempts drive it), then it is given up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/clock.h"
#include "guichet/router.h"

static void *ctx;
static char tmpdir[64];
static unsigned file_seq;
static char path[128];

static unsigned n_sent;
static int64_t last_id;

static int fake_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	last_id = m->id;
	n_sent++;
	return 0;
}

static struct sms_transport modem = { .name = "m1", .send = fake_send, .up = true };

static struct store *store_open(bool sqlite)
{
	char err[256];

	if (!sqlite)
		return store_mem_open(ctx);
	snprintf(path, sizeof(path), "%s/d%u/guichet.db", tmpdir, ++file_seq);
	struct store *st = store_sqlite_open(ctx, path, err, sizeof(err));
	if (!st)
		fprintf(stderr, "open %s: %s\n", path, err);
	return st;
}

/* What a crash and a restart do: a new process opens the same store. */
static struct store *store_restart(struct store *st, bool sqlite)
{
	char err[256];

	if (!sqlite) {
		store_mem_simulate_restart(st);
		return st;
	}
	st->ops->close(st);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	if (!st)
		fprintf(stderr, "reopen %s: %s\n", path, err);
	return st;
}

static struct router *router_start(struct store *st)
{
	struct router_config rc = { .sms = { .kind = CHANNEL_SMS } };
	struct router *r = router_create(ctx, &rc, st, (struct call_port){ 0 });

	router_sms_register(r, &modem);
	return r;
}

/* Due at now + ms? (Time passing, without waiting for it.) */
static int due_within(struct store *st, int64_t ms)
{
	struct store_outbound o[2];
	void *tmp = talloc_new(ctx);
	int n = st->ops->outbound_due(st, NULL, clock_wall_ms() + ms, o, 2, tmp);

	talloc_free(tmp);
	return n;
}

/* The retry time came: the queued message is due now. */
static void wait_retry(struct store *st, int64_t id)
{
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, id, 0, false), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
}

static void fail_once(struct router *r, int64_t id)
{
	router_sms_failed(r, id, false, "no network");
	router_flush(r);
}

static void backoff_survives_restart(bool sqlite)
{
	struct store *st = store_open(sqlite);
	int64_t id = 0;
	const char *why = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	struct router *r = router_start(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33611111111", "Bonjour", &id, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	n_sent = 0;
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(last_id, id);

	/* Three failures: each retry waits longer than the one before (1 s, 2 s, 4 s). */
	for (int i = 1; i <= 3; i++) {
		fail_once(r, id);
		CU_ASSERT_EQUAL(due_within(st, 0), 0);
		CU_ASSERT_EQUAL(due_within(st, (1000 << (i - 1)) - 300), 0);
		CU_ASSERT_EQUAL(due_within(st, (1000 << (i - 1)) + 300), 1);
		if (i < 3) {
			wait_retry(st, id);
			router_sms_ready(r, NULL);
			CU_ASSERT_EQUAL(n_sent, (unsigned)i + 1);
		}
	}

	/* A restart, then the fourth attempt fails too: it waits 8 s, not 1 s as a first
	 * failure would. */
	talloc_free(r);
	st = store_restart(st, sqlite);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	wait_retry(st, id);
	r = router_start(st);
	CU_ASSERT_EQUAL(n_sent, 4);
	fail_once(r, id);
	CU_ASSERT_EQUAL(due_within(st, 2000), 0);
	CU_ASSERT_EQUAL(due_within(st, 7000), 0);
	CU_ASSERT_EQUAL(due_within(st, 8300), 1);

	/* The eighth attempt is the last one, however many restarts came between. */
	for (int i = 5; i <= 8; i++) {
		if (i == 6) {
			talloc_free(r);
			st = store_restart(st, sqlite);
			CU_ASSERT_PTR_NOT_NULL_FATAL(st);
		}
		wait_retry(st, id);
		if (i == 6)
			r = router_start(st);
		else
			router_sms_ready(r, NULL);
		CU_ASSERT_EQUAL(n_sent, (unsigned)i);
		fail_once(r, id);
	}
	CU_ASSERT_EQUAL(due_within(st, 24 * 3600 * 1000), 0);
	CU_ASSERT_EQUAL(router_outbox_pending(r), 0);
	talloc_free(r);
	st->ops->close(st);
}

static void test_backoff_mem(void)
{
	backoff_survives_restart(false);
}

static void test_backoff_sqlite(void)
{
	backoff_survives_restart(true);
}

/* A permanent failure is given up at once, a success forgets nothing it should not. */
static void test_permanent_and_sent(void)
{
	struct store *st = store_open(true);
	int64_t a = 0, b = 0;
	const char *why = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	struct router *r = router_start(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33611111111", "Un", &a, &why), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33622222222", "Deux", &b, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	n_sent = 0;
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 2);
	router_sms_failed(r, a, true, "unknown subscriber");
	router_sms_sent(r, b);
	router_flush(r);
	CU_ASSERT_EQUAL(due_within(st, 24 * 3600 * 1000), 0);
	CU_ASSERT_EQUAL(router_outbox_pending(r), 0);
	CU_ASSERT_EQUAL(router_counter(r, ROUTER_CTR_MESSAGES_OUT), 1);
	CU_ASSERT_EQUAL(router_counter(r, ROUTER_CTR_SEND_FAILURES), 1);
	talloc_free(r);
	st->ops->close(st);
}

/* ---- a store that counts what the outbox asks of it ---- */

static struct store *inner;
static struct store_ops counted_ops;
static unsigned n_begin, n_due;

static int counted_begin(struct store *st)
{
	(void)st;
	n_begin++;
	return inner->ops->begin(inner);
}

static int counted_due(struct store *st, const char *via, int64_t now_ms,
		       struct store_outbound *out, unsigned max, void *octx)
{
	(void)st;
	n_due++;
	return inner->ops->outbound_due(inner, via, now_ms, out, max, octx);
}

/* The store's other operations see the same private state through the wrapper. */
static struct store *counting_store(struct store *st)
{
	static struct store wrap;

	inner = st;
	counted_ops = *st->ops;
	counted_ops.begin = counted_begin;
	counted_ops.outbound_due = counted_due;
	wrap.ops = &counted_ops;
	wrap.priv = st->priv;
	return &wrap;
}

/* Nothing queued between two offers: the second searches nothing (on PostgreSQL an empty
 * claim is BEGIN, SELECT, ROLLBACK). What is queued, a row another host added (found at the
 * wake its NOTIFY brings, or at the poll) and a retry time are still found. */
static void test_no_claim_when_nothing_queued(void)
{
	struct store *st = counting_store(store_open(true));
	int64_t a = 0, b = 0, c = 0;
	const char *why = NULL;

	struct router *r = router_start(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33611111111", "Un", &a, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	n_sent = 0;
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 1);

	/* Sent: the mark is written; nothing was queued since the last offer. */
	n_begin = n_due = 0;
	router_sms_sent(r, a);
	router_flush(r);
	CU_ASSERT_EQUAL(n_due, 0);
	CU_ASSERT_EQUAL(n_begin, 1);	/* the mark's write, no claim */
	router_flush(r);
	CU_ASSERT_EQUAL(n_due, 0);
	CU_ASSERT_EQUAL(n_begin, 1);

	/* A row another host added (straight into the store): found at the wake. */
	struct store_outbound o = { .via = "m1", .to = "+33622222222", .text = "Deux",
				    .parts = 1 };
	CU_ASSERT_EQUAL_FATAL(inner->ops->begin(inner), 0);
	CU_ASSERT_EQUAL(inner->ops->outbound_add(inner, &o), 0);
	CU_ASSERT_EQUAL_FATAL(inner->ops->commit(inner), 0);
	b = o.id;
	router_flush(r);
	CU_ASSERT_EQUAL(n_sent, 1);	/* no event said so: waits for the poll */
	router_tick(r, clock_wall_ms());
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT_EQUAL(last_id, b);

	/* Queued here: taken in the same transaction's search, no empty offer after it. */
	router_sms_sent(r, b);
	router_flush(r);
	n_begin = n_due = 0;
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33633333333", "Trois", &c, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 3);
	CU_ASSERT_EQUAL(last_id, c);
	unsigned due_after_send = n_due;
	router_sms_sent(r, c);
	router_flush(r);
	CU_ASSERT_EQUAL(n_due, due_after_send);

	/* A failure: retried once its time comes (here: made due at once), at the latest at
	 * the poll. */
	int64_t d = 0;
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33644444444", "Quatre", &d, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 4);
	router_sms_failed(r, d, false, "no network");
	router_flush(r);
	wait_retry(st, d);
	router_tick(r, clock_wall_ms());
	CU_ASSERT_EQUAL(n_sent, 5);
	CU_ASSERT_EQUAL(last_id, d);
	talloc_free(r);
	inner->ops->close(inner);
}

/* ---- a store that claims the outbox at commit (as PostgreSQL does), over SQLite ---- */

static struct store *ac_inner;
static struct store_ops ac_ops;
static struct {
	const char *via;
	int64_t now;
	struct store_outbound *out;
	unsigned max;
	int *n;
	void *ctx;
} claims[8];
static unsigned n_claims, n_takes, n_claim_due;
static bool fail_commit;

static int ac_take(struct store *st, const char *via, int64_t now_ms, struct store_outbound *out,
		   unsigned max, int *n, void *octx)
{
	(void)st;
	*n = 0;
	n_takes++;
	CU_ASSERT_FATAL(n_claims < 8);
	claims[n_claims].via = via;
	claims[n_claims].now = now_ms;
	claims[n_claims].out = out;
	claims[n_claims].max = max;
	claims[n_claims].n = n;
	claims[n_claims].ctx = octx;
	n_claims++;
	return 0;
}

/* The claims run last in the transaction; their rows are given once it committed. */
static int ac_commit(struct store *st)
{
	int got[8];
	unsigned k = n_claims;

	(void)st;
	n_claims = 0;
	if (fail_commit)
		return -1;	/* the transaction is lost: the caller rolls back */
	for (unsigned i = 0; i < k; i++) {
		got[i] = ac_inner->ops->outbound_due(ac_inner, claims[i].via, claims[i].now,
						     claims[i].out, claims[i].max, claims[i].ctx);
		if (got[i] < 0)
			return -1;
		for (int j = 0; j < got[i]; j++)
			ac_inner->ops->outbound_taken(ac_inner, claims[i].out[j].id);
	}
	if (ac_inner->ops->commit(ac_inner) < 0)
		return -1;
	for (unsigned i = 0; i < k; i++)
		*claims[i].n = got[i];
	return 0;
}

static int ac_rollback(struct store *st)
{
	(void)st;
	n_claims = 0;
	return ac_inner->ops->rollback(ac_inner);
}

static int ac_due(struct store *st, const char *via, int64_t now_ms, struct store_outbound *out,
		  unsigned max, void *octx)
{
	(void)st;
	n_claim_due++;
	return ac_inner->ops->outbound_due(ac_inner, via, now_ms, out, max, octx);
}

static struct store *claiming_store(struct store *st)
{
	static struct store wrap;

	ac_inner = st;
	ac_ops = *st->ops;
	ac_ops.outbound_take_at_commit = ac_take;
	ac_ops.commit = ac_commit;
	ac_ops.rollback = ac_rollback;
	ac_ops.outbound_due = ac_due;
	wrap.ops = &ac_ops;
	wrap.priv = st->priv;
	n_claims = n_takes = n_claim_due = 0;
	fail_commit = false;
	return &wrap;
}

static unsigned room_left = 32;

static unsigned fake_room(struct sms_transport *t)
{
	(void)t;
	return room_left;
}

/* A store that claims at commit: the outbox searches through it (never outbound_due) in the
 * group write and in its own offers, hands the rows once the commit gave them, and a commit
 * that fails hands nothing and leaves them queued. */
static void test_take_at_commit(void)
{
	struct store *st = claiming_store(store_open(true));
	int64_t a = 0, b = 0, c = 0;
	const char *why = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ac_inner);
	struct router *r = router_start(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33611111111", "Un", &a, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	n_sent = 0;
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(last_id, a);

	/* The group write (a mark to write) takes what was queued since, at its commit. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33622222222", "Deux", &b, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	unsigned takes = n_takes;
	router_sms_sent(r, a);
	router_flush(r);
	CU_ASSERT(n_takes > takes);
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT_EQUAL(last_id, b);
	CU_ASSERT_EQUAL(n_claim_due, 0);

	/* A commit that fails: nothing handed, the row still queued; handed once later. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33633333333", "Trois", &c, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	fail_commit = true;
	router_sms_sent(r, b);
	router_flush(r);
	router_tick(r, clock_wall_ms());
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT_EQUAL(due_within(ac_inner, 0), 1);
	fail_commit = false;
	router_tick(r, clock_wall_ms());
	router_flush(r);
	CU_ASSERT_EQUAL(n_sent, 3);
	CU_ASSERT_EQUAL(last_id, c);
	CU_ASSERT_EQUAL(due_within(ac_inner, 0), 0);
	router_flush(r);
	CU_ASSERT_EQUAL(n_sent, 3);
	CU_ASSERT_EQUAL(n_claim_due, 0);
	talloc_free(r);
	ac_inner->ops->close(ac_inner);
}

/* Whether a claim at commit emptied the queue is known after the commit: a transport given
 * all it had room for may have more waiting, searched again at once. */
static void test_take_at_commit_room(void)
{
	struct store *st = claiming_store(store_open(true));
	struct sms_transport narrow = { .name = "m1", .send = fake_send, .room = fake_room,
					.up = true };
	struct router_config rc = { .sms = { .kind = CHANNEL_SMS } };
	int64_t a = 0, b = 0, c = 0;
	const char *why = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ac_inner);
	struct router *r = router_create(ctx, &rc, st, (struct call_port){ 0 });
	router_sms_register(r, &narrow);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33611111111", "Un", &a, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	n_sent = 0;
	router_sms_ready(r, NULL);
	CU_ASSERT_EQUAL(n_sent, 1);
	/* Room for one at a time: the group write takes one, the offer after it the other. */
	room_left = 1;
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33622222222", "Deux", &b, &why), 0);
	CU_ASSERT_EQUAL(router_notify_queue(r, "m1", "+33633333333", "Trois", &c, &why), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	router_sms_sent(r, a);
	router_flush(r);
	CU_ASSERT_EQUAL(n_sent, 3);
	CU_ASSERT_EQUAL(last_id, c);
	CU_ASSERT_EQUAL(due_within(ac_inner, 0), 0);
	room_left = 32;
	talloc_free(r);
	ac_inner->ops->close(ac_inner);
}

int main(void)
{
	ctx = talloc_named_const(NULL, 0, "test_outbox");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_outbox.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite su = CU_add_suite("outbox", NULL, NULL);
	CU_add_test(su, "backoff kept across a restart (memory store)", test_backoff_mem);
	CU_add_test(su, "backoff kept across a restart (SQLite)", test_backoff_sqlite);
	CU_add_test(su, "permanent failure given up, sent marked", test_permanent_and_sent);
	CU_add_test(su, "no claim when nothing was queued", test_no_claim_when_nothing_queued);
	CU_add_test(su, "a store that claims at commit: handed after it, none when it fails",
		    test_take_at_commit);
	CU_add_test(su, "a claim at commit that filled the room searches again",
		    test_take_at_commit_room);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	talloc_free(ctx);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return failed ? 1 : 0;
}
