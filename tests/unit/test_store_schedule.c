/* The schedule and consent parts of the store (store.h): the same suite against the memory
 * store, the SQLite store and PostgreSQL (a server started here, pg_server.h; skipped when
 * none can be), then what only a file does (kept across a reopen). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/store.h"
#include "pg_server.h"
#include "store_suites.h"

static void *root;
static char tmpdir[] = "/tmp/guichet-test-sched.XXXXXX";
static unsigned file_seq;
static char path[512];

static struct store *store_open(void *ctx)
{
	char err[256];
	struct store *st;

	if (use_pg) {
		char url[512];

		if (!pg_new_db(url, sizeof(url)))
			return NULL;
		st = store_pg_open(ctx, url, err, sizeof(err));
		if (!st)
			fprintf(stderr, "open %s: %s\n", url, err);
		return st;
	}
	if (!use_sqlite)
		return store_mem_open(ctx);
	snprintf(path, sizeof(path), "%s/d%u/guichet.db", tmpdir, ++file_seq);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	if (!st)
		fprintf(stderr, "open %s: %s\n", path, err);
	return st;
}

static int64_t add(struct store *st, const char *to, const char *text, int64_t send_at,
		   const char *ref, const char *key, int *rc)
{
	struct store_scheduled m = {
		.to = to, .text = text, .send_at = send_at, .reference = ref,
		.idempotency_key = key, .origin = SCHED_API, .status = SCHED_QUEUED,
	};

	*rc = st->ops->schedule_add(st, &m);
	return m.id;
}

static void test_add_get_idempotent(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_scheduled m = {
		.to = "+33611111111", .text = "Votre dossier est prêt", .via = "modem",
		.send_at = 5000, .not_after = 9000, .reference = "D-42", .idempotency_key = "k1",
		.origin = SCHED_REMIND, .status = SCHED_QUEUED,
	}, g;
	int64_t id;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_add(st, &m), 0);
	id = m.id;
	CU_ASSERT(id > 0);
	CU_ASSERT(m.created > 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	/* The same key again: the first message's id, nothing added. */
	m.id = 0;
	m.text = "autre chose";
	CU_ASSERT_EQUAL(st->ops->schedule_add(st, &m), 1);
	CU_ASSERT_EQUAL(m.id, id);
	/* Without a key, every add is a new message. */
	CU_ASSERT(add(st, "+33622222222", "a", 1, NULL, NULL, &rc) > id);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(add(st, "+33622222222", "a", 1, NULL, NULL, &rc) > id + 1);

	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, id, &g, ctx), 0);
	CU_ASSERT_EQUAL(g.id, id);
	CU_ASSERT_STRING_EQUAL(g.to, "+33611111111");
	CU_ASSERT_STRING_EQUAL(g.text, "Votre dossier est prêt");
	CU_ASSERT_STRING_EQUAL(g.via, "modem");
	CU_ASSERT_PTR_NULL(g.flow);
	CU_ASSERT_EQUAL(g.send_at, 5000);
	CU_ASSERT_EQUAL(g.not_after, 9000);
	CU_ASSERT_STRING_EQUAL(g.reference, "D-42");
	CU_ASSERT_STRING_EQUAL(g.idempotency_key, "k1");
	CU_ASSERT_EQUAL(g.origin, SCHED_REMIND);
	CU_ASSERT_EQUAL(g.status, SCHED_QUEUED);
	CU_ASSERT_PTR_NULL(g.reason);
	CU_ASSERT_EQUAL(g.outbound_id, 0);
	CU_ASSERT_EQUAL(st->ops->schedule_get(st, 424242, &g, ctx), 1);

	/* A flow opening carries flow, step and vars, no text. */
	{
		struct store_scheduled f = {
			.to = "+33633333333", .flow = "rdv", .step = "confirm",
			.vars = "{\"date\":\"3/12\"}", .send_at = 1, .origin = SCHED_API,
		};

		CU_ASSERT_EQUAL_FATAL(st->ops->schedule_add(st, &f), 0);
		CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, f.id, &g, ctx), 0);
		CU_ASSERT_PTR_NULL(g.text);
		CU_ASSERT_STRING_EQUAL(g.flow, "rdv");
		CU_ASSERT_STRING_EQUAL(g.step, "confirm");
		CU_ASSERT_STRING_EQUAL(g.vars, "{\"date\":\"3/12\"}");
	}
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_due_next_mark(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_scheduled o[8];
	int64_t a, b, c, d, when = 0;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->schedule_next(st, &when), 1);
	c = add(st, "+33633333333", "c", 3000, NULL, NULL, &rc);
	a = add(st, "+33611111111", "a", 1000, NULL, NULL, &rc);
	b = add(st, "+33622222222", "b", 1000, NULL, NULL, &rc);
	d = add(st, "+33644444444", "d", 9000, NULL, NULL, &rc);
	CU_ASSERT_EQUAL(st->ops->schedule_next(st, &when), 0);
	CU_ASSERT_EQUAL(when, 1000);

	/* By time, then id; bounded. */
	CU_ASSERT_EQUAL(st->ops->schedule_due(st, 999, o, 8, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 3000, o, 8, ctx), 3);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[1].id, b);
	CU_ASSERT_EQUAL(o[2].id, c);
	CU_ASSERT_STRING_EQUAL(o[2].to, "+33633333333");
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 99999, o, 2, ctx), 2);
	CU_ASSERT_EQUAL(o[1].id, b);
	CU_ASSERT_EQUAL(st->ops->schedule_due(st, 99999, o, 0, ctx), 0);

	/* Deferred: later, still open, with its reason. */
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, a, SCHED_DEFERRED, "quiet hours", 8000, 0), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 3000, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, b);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 8000, o, 8, ctx), 3);
	CU_ASSERT_EQUAL(o[2].id, a);
	CU_ASSERT_EQUAL(o[2].status, SCHED_DEFERRED);
	CU_ASSERT_STRING_EQUAL(o[2].reason, "quiet hours");

	/* Sent: linked to its outbox row, no longer due; final states do not change. */
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, b, SCHED_SENT, NULL, 0, 77), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, b, SCHED_REFUSED, "x", 0, 0), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, 424242, SCHED_SENT, NULL, 0, 1), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_next(st, &when), 0);
	CU_ASSERT_EQUAL(when, 3000);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, b, &o[0], ctx), 0);
	CU_ASSERT_EQUAL(o[0].status, SCHED_SENT);
	CU_ASSERT_EQUAL(o[0].outbound_id, 77);
	CU_ASSERT_EQUAL(o[0].send_at, 1000);
	/* The outbox's outcome reaches it through the outbound id. */
	CU_ASSERT_EQUAL(st->ops->schedule_outbound_status(st, 77, SCHED_DELIVERED, NULL), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_outbound_status(st, 78, SCHED_DELIVERED, NULL), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_outbound_status(st, 0, SCHED_FAILED, NULL), 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, b, &o[0], ctx), 0);
	CU_ASSERT_EQUAL(o[0].status, SCHED_DELIVERED);

	/* Refused with the reason. */
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, c, SCHED_REFUSED, "opt-out", 0, 0), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, c, &o[0], ctx), 0);
	CU_ASSERT_EQUAL(o[0].status, SCHED_REFUSED);
	CU_ASSERT_STRING_EQUAL(o[0].reason, "opt-out");
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 99999, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[1].id, d);
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_cancel(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_scheduled o[8];
	int64_t a, b, c, d;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	a = add(st, "+33611111111", "a", 1000, "R1", NULL, &rc);
	b = add(st, "+33611111111", "b", 2000, "R1", NULL, &rc);
	c = add(st, "+33622222222", "c", 2000, "R1", NULL, &rc);
	d = add(st, "+33611111111", "d", 2000, "R2", NULL, &rc);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel(st, a), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel(st, a), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel(st, 424242), 1);
	/* By reference, only that number's. */
	CU_ASSERT_EQUAL(st->ops->schedule_cancel_ref(st, "R1", "+33611111111"), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel_ref(st, "R1", "+33611111111"), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel_ref(st, "nope", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 99999, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, c);
	CU_ASSERT_EQUAL(o[1].id, d);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, b, &o[0], ctx), 0);
	CU_ASSERT_EQUAL(o[0].status, SCHED_CANCELLED);
	/* A sent message is not cancelled. */
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, d, SCHED_SENT, NULL, 0, 5), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel(st, d), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel_ref(st, "R1", NULL), 1);
	CU_ASSERT_EQUAL(st->ops->schedule_due(st, 99999, o, 8, ctx), 0);
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_optout(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33611111111"), 0);
	CU_ASSERT_EQUAL(st->ops->optout_set(st, "+33611111111", 100), 0);
	CU_ASSERT_EQUAL(st->ops->optout_set(st, "+33611111111", 200), 0);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33611111111"), 1);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33622222222"), 0);
	/* A rolled-back STOP is not remembered. */
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->optout_set(st, "+33622222222", 100), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33622222222"), 0);
	CU_ASSERT_EQUAL(st->ops->optout_clear(st, "+33611111111"), 0);
	CU_ASSERT_EQUAL(st->ops->optout_clear(st, "+33611111111"), 0);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33611111111"), 0);
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_purge_rollback(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_scheduled g;
	int64_t now = (int64_t)time(NULL), a, b, c;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	a = add(st, "+33611111111", "sent long ago", 1000, NULL, "ka", &rc);
	b = add(st, "+33622222222", "still waiting", 1000, NULL, NULL, &rc);
	CU_ASSERT_EQUAL(st->ops->schedule_mark(st, a, SCHED_SENT, NULL, 0, 3), 0);
	/* Within retention: kept. */
	CU_ASSERT_EQUAL(st->ops->purge(st, now, 3600), 0);
	/* Past it: the sent one loses its number and text, its status and key stay; the
	 * open one keeps everything. */
	CU_ASSERT_EQUAL(st->ops->purge(st, now + 10, 0), 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, a, &g, ctx), 0);
	CU_ASSERT_PTR_NULL(g.to);
	CU_ASSERT_PTR_NULL(g.text);
	CU_ASSERT_EQUAL(g.status, SCHED_SENT);
	CU_ASSERT_STRING_EQUAL(g.idempotency_key, "ka");
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, b, &g, ctx), 0);
	CU_ASSERT_STRING_EQUAL(g.to, "+33622222222");
	CU_ASSERT_EQUAL(st->ops->purge(st, now + 10, 0), 0);

	/* Rolled back: the message and its key are gone. */
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	c = add(st, "+33633333333", "x", 1, NULL, "kc", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(st->ops->schedule_cancel(st, b), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(st->ops->schedule_get(st, c, &g, ctx), 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_get(st, b, &g, ctx), 0);
	CU_ASSERT_EQUAL(g.status, SCHED_QUEUED);
	CU_ASSERT(add(st, "+33633333333", "x", 1, NULL, "kc", &rc) > 0);
	CU_ASSERT_EQUAL(rc, 0);
	st->ops->close(st);
	talloc_free(ctx);
}

/* Only a file: what was committed is there after a reopen (the crash case). */
static void test_reopen(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_scheduled o[4];
	char err[256];
	int64_t a;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	a = add(st, "+33611111111", "a", 1000, "R", "k", &rc);
	CU_ASSERT_EQUAL(st->ops->optout_set(st, "+33699999999", 1), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	st->ops->close(st);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->schedule_due(st, 1000, o, 4, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(st->ops->optout_is(st, "+33699999999"), 1);
	CU_ASSERT_EQUAL(add(st, "+33611111111", "a", 1000, "R", "k", &rc), a);
	CU_ASSERT_EQUAL(rc, 1);
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_names(void)
{
	for (int i = 0; i < _SCHED_STATUS_N; i++)
		CU_ASSERT_EQUAL(sched_status_parse(sched_status_name(i)), i);
	for (int i = 0; i < _SCHED_ORIGIN_N; i++)
		CU_ASSERT_EQUAL(sched_origin_parse(sched_origin_name(i)), i);
	CU_ASSERT_EQUAL(sched_status_parse("nope"), -1);
	CU_ASSERT_EQUAL(sched_status_parse(NULL), -1);
	CU_ASSERT(sched_status_open(SCHED_DEFERRED));
	CU_ASSERT(!sched_status_open(SCHED_SENT));
}

#define SHARED_TESTS(s) do {							\
	CU_add_test(s, "add, get, idempotency key", test_add_get_idempotent);	\
	CU_add_test(s, "due, next, mark", test_due_next_mark);			\
	CU_add_test(s, "cancel, cancel by reference", test_cancel);		\
	CU_add_test(s, "opt-out", test_optout);					\
	CU_add_test(s, "purge keeps status rows; rollback", test_purge_rollback); \
} while (0)

int main(void)
{
	CU_pSuite s;

	root = talloc_named_const(NULL, 0, "test_store_schedule");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("names", NULL, NULL);
	CU_add_test(s, "status and origin names", test_names);
	s = CU_add_suite("schedule_mem", suite_mem, NULL);
	SHARED_TESTS(s);
	s = CU_add_suite("schedule_sqlite", suite_sqlite, NULL);
	SHARED_TESTS(s);
	CU_add_test(s, "reopen keeps the schedule and opt-outs", test_reopen);
	s = CU_add_suite("schedule_pg", suite_pg, suite_pg_end);
	SHARED_TESTS(s);
	return store_suites_run(s, root, tmpdir);
}
