/* The store: one behaviour suite run against the memory store, the SQLite store and
 * PostgreSQL (a server started here: pg_server.h; skipped when none can be), then what only
 * a file can do (modes, reopening, schema versions, damaged rows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>
#include <sqlite3.h>
#include <CUnit/Basic.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/store.h"
#include "guichet/store_pg.h"
#include "pg_server.h"
#include "store_suites.h"

static void *root;
static char tmpdir[] = "/tmp/guichet-test-store.XXXXXX";
static unsigned file_seq;
static char path[512];		/* the current SQLite file */
static char pg_url[512];	/* the current PostgreSQL database */

/* --- helpers --- */

static struct store *store_open(void *ctx)
{
	char err[256];
	struct store *st;

	if (use_pg) {
		if (!pg_new_db(pg_url, sizeof(pg_url)))
			return NULL;
		st = store_pg_open(ctx, pg_url, err, sizeof(err));
		if (!st)
			fprintf(stderr, "open %s: %s\n", pg_url, err);
		return st;
	}
	if (!use_sqlite)
		return store_mem_open(ctx);
	snprintf(path, sizeof(path), "%s/d%u/sub/guichet.db", tmpdir, ++file_seq);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	if (!st)
		fprintf(stderr, "open %s: %s\n", path, err);
	return st;
}

static struct store *store_reopen_file(void *ctx)
{
	char err[256];
	struct store *st = store_sqlite_open(ctx, path, err, sizeof(err));

	if (!st)
		fprintf(stderr, "reopen %s: %s\n", path, err);
	return st;
}

/* What a crash and a restart do, for either store. */
static struct store *store_restart(void *ctx, struct store *st)
{
	if (use_pg) {
		char err[256];

		st->ops->close(st);
		st = store_pg_open(ctx, pg_url, err, sizeof(err));
		if (!st)
			fprintf(stderr, "reopen %s: %s\n", pg_url, err);
		return st;
	}
	if (!use_sqlite) {
		store_mem_simulate_restart(st);
		return st;
	}
	st->ops->close(st);
	return store_reopen_file(ctx);
}

static struct store_counters counters(struct store *st)
{
	struct store_counters c;

	memset(&c, 0xff, sizeof(c));
	CU_ASSERT_EQUAL(st->ops->counters(st, &c), 0);
	return c;
}

static int add_in(struct store *st, const char *via, const char *from, const char *text,
		  int64_t received, const char *dedup, int64_t *id)
{
	struct store_inbound in = {
		.channel = CHANNEL_SMS, .via = via, .from = from, .text = text,
		.received = received, .dedup = dedup,
	};
	int rc = st->ops->inbound_add(st, &in);

	if (id)
		*id = in.id;
	return rc;
}

static int64_t add_out(struct store *st, const char *via, const char *to, const char *text,
		       int64_t not_before)
{
	struct store_outbound out = {
		.via = via, .to = to, .text = text, .coding = TEXT_UCS2, .parts = 2,
		.not_before = not_before,
	};

	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_add(st, &out), 0);
	CU_ASSERT(out.id > 0);
	return out.id;
}

struct seen_in {
	unsigned n;
	int64_t ids[16];
	char texts[16][64];
	char dedups[16][16];
};

static void collect_in(void *data, const struct store_inbound *in)
{
	struct seen_in *s = data;

	if (s->n >= 16)
		return;
	s->ids[s->n] = in->id;
	snprintf(s->texts[s->n], sizeof(s->texts[0]), "%s|%s|%s|%lld", in->via, in->from,
		 in->text, (long long)in->received);
	snprintf(s->dedups[s->n], sizeof(s->dedups[0]), "%s", in->dedup ? in->dedup : "(null)");
	s->n++;
}

/* --- the shared behaviour suite --- */

static void test_inbound(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct seen_in seen = { 0 };
	int64_t a, b, c, d, x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33612345678", "RDV", 1000, "sim:1", &a), 0);
	CU_ASSERT(a > 0);
	/* The same message read twice from the SIM: recognised. */
	x = -7;
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33612345678", "RDV", 1000, "sim:1", &x), 1);
	/* Same transport id on another modem: a different message. */
	CU_ASSERT_EQUAL(add_in(st, "modem1", "+33612345678", "Réponse ✓ «oui»", 1001, "sim:1", &b), 0);
	/* No dedup: never a duplicate. */
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+221770000000", "1", 1002, NULL, &c), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+221770000000", "1", 1002, NULL, &d), 0);
	CU_ASSERT(a < b && b < c && c < d);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 4);

	CU_ASSERT_EQUAL(st->ops->inbound_done(st, a), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, c), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, 999999), 1);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 2);
	/* Done, yet still known: the SIM copy read again is not a new message. */
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33612345678", "RDV", 1000, "sim:1", NULL), 1);

	CU_ASSERT_EQUAL(st->ops->inbound_pending(st, collect_in, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 2);
	CU_ASSERT_EQUAL(seen.ids[0], b);
	CU_ASSERT_EQUAL(seen.ids[1], d);
	CU_ASSERT_STRING_EQUAL(seen.texts[0], "modem1|+33612345678|Réponse ✓ «oui»|1001");
	CU_ASSERT_STRING_EQUAL(seen.dedups[0], "sim:1");
	CU_ASSERT_STRING_EQUAL(seen.texts[1], "modem0|+221770000000|1|1002");
	CU_ASSERT_STRING_EQUAL(seen.dedups[1], "(null)");

	st->ops->close(st);
	talloc_free(ctx);
}

/* A secret answer's body and dedup key (a hash of its text) are forgotten in the transaction
 * that stored it; after a commit nothing of them is read back. */
static void test_inbound_forget(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct seen_in seen = { 0 };
	int64_t a;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33612345678", "4812", 1000, "v1:x:4812", &a), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_forget(st, a), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_forget(st, a + 1000), 1);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_pending(st, collect_in, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT_STRING_EQUAL(seen.texts[0], "modem0|+33612345678||1000");
	CU_ASSERT_STRING_EQUAL(seen.dedups[0], "(null)");
	st->ops->close(st);
	talloc_free(ctx);
}

/* Marks each pending inbound done from inside the callback: the store must allow it. */
static void done_from_callback(void *data, const struct store_inbound *in)
{
	struct store *st = data;

	CU_ASSERT_EQUAL(st->ops->inbound_done(st, in->id), 0);
	add_out(st, in->via, in->from, "reply", 0);
}

static void test_inbound_reentrant(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	unsigned i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	for (i = 0; i < 40; i++)
		CU_ASSERT_EQUAL(add_in(st, "modem0", "+33600000000", "x", 1, NULL, NULL), 0);
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_pending(st, done_from_callback, st), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 0);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 40);
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_outbound(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound o[8];
	int64_t a, b, c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	a = add_out(st, "modem0", "+33611111111", "Votre RDV: mardi 9h30", 0);
	b = add_out(st, "modem1", "+33622222222", "Réponse «B» ✓", 0);
	c = add_out(st, "modem0", "+33633333333", "plus tard", 5000);
	CU_ASSERT(a < b && b < c);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 3);

	/* Oldest first; not_before holds C back. */
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 1000, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[1].id, b);
	CU_ASSERT_STRING_EQUAL(o[0].via, "modem0");
	CU_ASSERT_STRING_EQUAL(o[0].to, "+33611111111");
	CU_ASSERT_STRING_EQUAL(o[0].text, "Votre RDV: mardi 9h30");
	CU_ASSERT_STRING_EQUAL(o[1].text, "Réponse «B» ✓");
	CU_ASSERT_EQUAL(o[1].coding, TEXT_UCS2);
	CU_ASSERT_EQUAL(o[1].parts, 2);
	CU_ASSERT_EQUAL(o[1].attempts, 0);
	/* Per transport. */
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, "modem0", 1000, o, 8, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, "modem0", 5000, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[1].id, c);
	CU_ASSERT_EQUAL(o[1].not_before, 5000);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, "nowhere", 5000, o, 8, ctx), 0);
	/* max */
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 9000, o, 1, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 9000, o, 0, ctx), 0);

	/* Taken: no longer due, still pending. */
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, a), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, a), 1);
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, 424242), 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 9000, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, b);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 3);

	/* Failed: back in the queue after the backoff, one attempt counted. */
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, a, 7000, false), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 6999, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, b);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 7000, o, 8, ctx), 3);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[0].attempts, 1);
	CU_ASSERT_EQUAL(o[0].not_before, 7000);
	/* The attempts, read back by id (the outbox's backoff after a restart). */
	unsigned attempts = 99;
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, a, &attempts), 0);
	CU_ASSERT_EQUAL(attempts, 1);
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, b, &attempts), 0);
	CU_ASSERT_EQUAL(attempts, 0);
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, 424242, &attempts), 1);

	/* Sent: gone from the queue, only once. */
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, b), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_sent(st, b), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_sent(st, b), 1);
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, b, 0, false), 1);
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, b), 1);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 2);

	/* Given up: dead, never due again. */
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, c), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, c, 0, true), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, c, 0, false), 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 99999, o, 8, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 1);
	CU_ASSERT_EQUAL(counters(st).duplicate_sends, 0);

	st->ops->close(st);
	talloc_free(ctx);
}

static void test_restart_taken(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound o[8];
	int64_t a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	a = add_out(st, "modem0", "+33611111111", "un", 0);
	b = add_out(st, "modem0", "+33622222222", "deux", 0);
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, a), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 0, o, 8, ctx), 1);

	st = store_restart(ctx, st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 0, o, 8, ctx), 2);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[0].attempts, 1);
	CU_ASSERT_STRING_EQUAL(o[0].text, "un");
	CU_ASSERT_EQUAL(o[1].id, b);
	CU_ASSERT_EQUAL(counters(st).duplicate_sends, 1);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 2);

	/* A clean restart counts nothing more; the counter itself survives. */
	st = store_restart(ctx, st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(counters(st).duplicate_sends, 1);
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, a), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_taken(st, b), 0);
	st = store_restart(ctx, st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(counters(st).duplicate_sends, 3);
	st->ops->close(st);
	talloc_free(ctx);
}

static void fill_session(struct session *s, void *ctx, const char *key, int64_t deadline)
{
	session_init(s, ctx, key, CHANNEL_SMS, "+33612345678");
	s->state = SESSION_ACTIVE;
	snprintf(s->flow, sizeof(s->flow), "rdv_prefecture");
	s->flow_version = 3;
	snprintf(s->step, sizeof(s->step), "choose_slot");
	s->deadline = deadline;
	s->call_id = 7;
	vars_set(&s->vars, "name", "Aïssatou Ndiaye", false);
	vars_set(&s->vars, "slots.count", "2", false);
	vars_set(&s->vars, "slots.0.label", "mardi 9h30", false);
	vars_set(&s->vars, "pin", "1234", true);
}

struct seen_sess {
	unsigned n;
	char keys[8][SESSION_KEY_MAX];
	char names[8][64];
};

static void collect_sess(void *data, const struct session *s)
{
	struct seen_sess *seen = data;
	const char *name = vars_get(&s->vars, "name");

	if (seen->n >= 8)
		return;
	snprintf(seen->keys[seen->n], sizeof(seen->keys[0]), "%s", s->key);
	snprintf(seen->names[seen->n], sizeof(seen->names[0]), "%s", name ? name : "(none)");
	seen->n++;
}

static void test_sessions(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct session s, g;
	struct seen_sess seen = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:modem0:+33612345678", &g, ctx), 1);
	fill_session(&s, ctx, "sms:modem0:+33612345678", 5000);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->session_get(st, "sms:modem0:+33612345678", &g, ctx), 0);
	CU_ASSERT_STRING_EQUAL(g.key, s.key);
	CU_ASSERT_STRING_EQUAL(g.address, "+33612345678");
	CU_ASSERT_EQUAL(g.state, SESSION_ACTIVE);
	CU_ASSERT_STRING_EQUAL(g.flow, "rdv_prefecture");
	CU_ASSERT_EQUAL(g.flow_version, 3);
	CU_ASSERT_STRING_EQUAL(g.step, "choose_slot");
	CU_ASSERT_EQUAL(g.deadline, 5000);
	CU_ASSERT_EQUAL(g.call_id, 7);
	CU_ASSERT_STRING_EQUAL(vars_get(&g.vars, "name"), "Aïssatou Ndiaye");
	CU_ASSERT_STRING_EQUAL(vars_get(&g.vars, "slots.0.label"), "mardi 9h30");
	CU_ASSERT_PTR_NULL(vars_get(&g.vars, "pin"));
	vars_clear(&g.vars);

	/* Replaced, not added. */
	snprintf(s.step, sizeof(s.step), "confirm");
	vars_set(&s.vars, "name", "A. Ndiaye", false);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->session_get(st, s.key, &g, ctx), 0);
	CU_ASSERT_STRING_EQUAL(g.step, "confirm");
	CU_ASSERT_STRING_EQUAL(vars_get(&g.vars, "name"), "A. Ndiaye");
	vars_clear(&g.vars);
	CU_ASSERT_EQUAL(counters(st).sessions, 1);

	vars_clear(&s.vars);
	fill_session(&s, ctx, "ussd:42", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
	fill_session(&s, ctx, "sms:modem1:+221770000000", 0);
	vars_set(&s.vars, "name", "Moussa", false);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
	CU_ASSERT_EQUAL(counters(st).sessions, 3);

	CU_ASSERT_EQUAL(st->ops->session_each(st, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 3);
	CU_ASSERT_STRING_EQUAL(seen.keys[0], "sms:modem0:+33612345678");
	CU_ASSERT_STRING_EQUAL(seen.names[0], "A. Ndiaye");
	CU_ASSERT_STRING_EQUAL(seen.keys[1], "sms:modem1:+221770000000");
	CU_ASSERT_STRING_EQUAL(seen.names[1], "Moussa");
	CU_ASSERT_STRING_EQUAL(seen.keys[2], "ussd:42");
	/* session_each frees what it decoded: nothing left under ctx but the store. */
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), talloc_total_blocks(st) + 1);

	CU_ASSERT_EQUAL(st->ops->session_del(st, "ussd:42"), 0);
	CU_ASSERT_EQUAL(st->ops->session_del(st, "ussd:42"), 1);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "ussd:42", &g, ctx), 1);
	CU_ASSERT_EQUAL(counters(st).sessions, 2);

	st->ops->close(st);
	talloc_free(ctx);
}

static void test_purge(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	int64_t t = (int64_t)time(NULL), now = t + 100, in_old, in_new, in_open;
	int64_t o_sent, o_dead, o_queued;
	struct store_outbound o[4];
	struct session s, g;
	struct store_counters c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "old", t - 1000, "1", &in_old), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "new", t + 60, "2", &in_new), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "open", t - 1000, "3", &in_open), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, in_old), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, in_new), 0);
	o_sent = add_out(st, "modem0", "+33611111111", "sent", 0);
	o_dead = add_out(st, "modem0", "+33611111111", "dead", 0);
	o_queued = add_out(st, "modem0", "+33611111111", "queued", 0);
	CU_ASSERT_EQUAL(st->ops->outbound_sent(st, o_sent), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, o_dead, 0, true), 0);
	fill_session(&s, ctx, "expired", now - 1);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
	fill_session(&s, ctx, "live", now + 1000);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
	fill_session(&s, ctx, "forever", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);

	/* Cut-off now - keep = t + 50: "old" inbound, the sent and dead replies (created ~t). */
	CU_ASSERT_EQUAL(st->ops->purge(st, now, 50), 4);
	c = counters(st);
	CU_ASSERT_EQUAL(c.inbound_pending, 1);
	CU_ASSERT_EQUAL(c.outbound_pending, 1);
	CU_ASSERT_EQUAL(c.sessions, 2);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "expired", &g, ctx), 1);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "forever", &g, ctx), 0);
	vars_clear(&g.vars);
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 0, o, 4, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, o_queued);
	/* Purged inbound ids are forgotten; the kept one is still a duplicate. */
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "new", t + 60, "2", NULL), 1);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "old", t - 1000, "1", NULL), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, in_open), 0);
	CU_ASSERT_EQUAL(st->ops->purge(st, now, 50), 1);
	CU_ASSERT_EQUAL(st->ops->purge(st, now, 50), 0);

	st->ops->close(st);
	talloc_free(ctx);
}

static void test_rollback(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct session s, g;
	struct store_counters c;
	int64_t id;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);	/* nothing open: harmless */
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "x", 1, "d1", &id), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, id), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "y", 1, "d2", NULL), 0);
	add_out(st, "modem0", "+33611111111", "reply", 0);
	fill_session(&s, ctx, "k", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);

	c = counters(st);
	CU_ASSERT_EQUAL(c.inbound_pending, 0);
	CU_ASSERT_EQUAL(c.outbound_pending, 0);
	CU_ASSERT_EQUAL(c.sessions, 0);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "k", &g, ctx), 1);
	/* Not remembered as seen either. */
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "x", 1, "d1", NULL), 0);

	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->begin(st), -1);	/* no nesting */
	CU_ASSERT(strlen(store_last_error(st)) > 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	add_out(st, "modem0", "+33611111111", "reply", 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	c = counters(st);
	CU_ASSERT_EQUAL(c.inbound_pending, 1);
	CU_ASSERT_EQUAL(c.outbound_pending, 1);
	CU_ASSERT_EQUAL(c.sessions, 1);
	CU_ASSERT_EQUAL(st->ops->commit(st), -1);	/* nothing open */
	vars_clear(&s.vars);

	st->ops->close(st);
	talloc_free(ctx);
}

/* The SMSC's ids of the parts sent (delivery receipts matched after a restart): every store
 * keeps them, per transport, through a restart, not through a rollback, until purge. */
static void test_remote_ids(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	int64_t o1, o2, id, now = (int64_t)time(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->outbound_remote);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->outbound_by_remote);
	o1 = add_out(st, "smsc0", "+33611111111", "one", 0);
	o2 = add_out(st, "smsc0", "+33611111111", "two", 0);
	CU_ASSERT_EQUAL(st->ops->outbound_remote(st, o1, "smsc0", "A1"), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_remote(st, o1, "smsc0", "A2"), 0);	/* 2nd part */
	CU_ASSERT_EQUAL(st->ops->outbound_remote(st, o2, "smsc0", "B1"), 0);
	id = -5;
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "A2", &id), 0);
	CU_ASSERT_EQUAL(id, o1);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "B1", &id), 0);
	CU_ASSERT_EQUAL(id, o2);
	/* Ids are the SMSC's: another transport's "A1" is another message. */
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc1", "A1", &id), 1);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "nope", &id), 1);
	/* An SMSC that reuses an id: the latest message has it. */
	CU_ASSERT_EQUAL(st->ops->outbound_remote(st, o2, "smsc0", "A1"), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "A1", &id), 0);
	CU_ASSERT_EQUAL(id, o2);

	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_remote(st, o1, "smsc0", "C1"), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "C1", &id), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "C1", &id), 1);

	st = store_restart(ctx, st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "B1", &id), 0);
	CU_ASSERT_EQUAL(id, o2);

	/* Kept as long as the outbox rows; they do not count among the rows purge removes. */
	CU_ASSERT_EQUAL(st->ops->purge(st, now + 5, 100), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "A2", &id), 0);
	CU_ASSERT_EQUAL(st->ops->purge(st, now + 200, 100), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "A2", &id), 1);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", "B1", &id), 1);

	st->ops->close(st);
	talloc_free(ctx);
}

static void test_errors(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_inbound in = { .channel = CHANNEL_SMS, .from = "+3361", .text = "x" };
	struct store_outbound out = { .to = "+3361", .text = "x" };

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	/* A message with no transport is refused, with a reason. */
	CU_ASSERT_EQUAL(st->ops->inbound_add(st, &in), -1);
	CU_ASSERT(strlen(store_last_error(st)) > 0);
	CU_ASSERT_EQUAL(st->ops->outbound_add(st, &out), -1);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 0);
	st->ops->close(st);
	talloc_free(ctx);
}

/* --- SQLite only --- */

static void test_file_mode(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	mode_t old = umask(022);
	struct store *st = store_open(ctx);
	struct stat sb;
	char p[600];

	umask(old);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "x", 1, NULL, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s-wal", path);
	CU_ASSERT_EQUAL_FATAL(stat(p, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s-shm", path);
	if (stat(p, &sb) == 0)
		CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	/* Both directories it had to create. */
	snprintf(p, sizeof(p), "%s", path);
	*strrchr(p, '/') = '\0';
	CU_ASSERT_EQUAL_FATAL(stat(p, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0700);
	*strrchr(p, '/') = '\0';
	CU_ASSERT_EQUAL_FATAL(stat(p, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0700);
	/* An existing file with loose modes is tightened. */
	st->ops->close(st);
	CU_ASSERT_EQUAL(chmod(path, 0644), 0);
	st = store_reopen_file(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	st->ops->close(st);
	talloc_free(ctx);
}

static void test_reopen_keeps(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct session s, g;
	struct store_counters c;
	struct seen_in seen = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "Bonjour é", 10, "a", NULL), 0);
	add_out(st, "modem0", "+33611111111", "reply", 0);
	fill_session(&s, ctx, "sms:modem0:+33611111111", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	/* Autocommit writes are durable on their own. */
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "second", 11, "b", NULL), 0);
	/* An open transaction at close is lost. */
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "lost", 12, "c", NULL), 0);
	st->ops->close(st);

	st = store_reopen_file(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	c = counters(st);
	CU_ASSERT_EQUAL(c.inbound_pending, 2);
	CU_ASSERT_EQUAL(c.outbound_pending, 1);
	CU_ASSERT_EQUAL(c.sessions, 1);
	CU_ASSERT_EQUAL(c.duplicate_sends, 0);
	CU_ASSERT_EQUAL(st->ops->inbound_pending(st, collect_in, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 2);
	CU_ASSERT_STRING_EQUAL(seen.texts[0], "modem0|+33611111111|Bonjour é|10");
	CU_ASSERT_EQUAL_FATAL(st->ops->session_get(st, "sms:modem0:+33611111111", &g, ctx), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&g.vars, "name"), "Aïssatou Ndiaye");
	vars_clear(&g.vars);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "Bonjour é", 10, "a", NULL), 1);
	CU_ASSERT_EQUAL(add_in(st, "modem0", "+33611111111", "lost", 12, "c", NULL), 0);
	st->ops->close(st);
	talloc_free(ctx);
}

static int exec_sql(const char *file, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(file, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static void test_sent_forgets_body(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t id;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	id = add_out(st, "modem0", "+33611111111", "Votre code: 4812", 0);
	CU_ASSERT_EQUAL(st->ops->outbound_sent(st, id), 0);
	st->ops->close(st);
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT recipient, body, state FROM outbound",
						 -1, &s, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_step(s), SQLITE_ROW);
	CU_ASSERT_EQUAL(sqlite3_column_type(s, 0), SQLITE_NULL);
	CU_ASSERT_EQUAL(sqlite3_column_type(s, 1), SQLITE_NULL);
	CU_ASSERT_STRING_EQUAL(sqlite3_column_text(s, 2), "sent");
	sqlite3_finalize(s);
	sqlite3_close(db);
	talloc_free(ctx);
}

static void test_schema_and_damage(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct session s, g;
	struct seen_sess seen = { 0 };
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	fill_session(&s, ctx, "good", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
	st->ops->close(st);

	/* A damaged row: get says so, each skips it. */
	CU_ASSERT_EQUAL(exec_sql(path, "INSERT INTO sessions(key, data) VALUES ('bad', x'473132353a')"), 0);
	st = store_reopen_file(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "bad", &g, ctx), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), "decode"));
	CU_ASSERT_EQUAL(st->ops->session_each(st, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT_STRING_EQUAL(seen.keys[0], "good");
	st->ops->close(st);

	/* A database from a newer version is refused, not rewritten. */
	CU_ASSERT_EQUAL(exec_sql(path, "PRAGMA user_version = 99"), 0);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "version 99"));
	if (st)
		st->ops->close(st);

	/* Not a database at all. */
	CU_ASSERT_EQUAL(exec_sql(path, "PRAGMA user_version = 1"), 0);
	{
		FILE *f;
		char junk[600];

		snprintf(junk, sizeof(junk), "%s/junk.db", tmpdir);
		f = fopen(junk, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fputs("this is not an SQLite database, not even close..........................\n", f);
		fclose(f);
		st = store_sqlite_open(ctx, junk, err, sizeof(err));
		CU_ASSERT_PTR_NULL(st);
		CU_ASSERT(strlen(err) > 0);
		if (st)
			st->ops->close(st);
	}
	talloc_free(ctx);
}

/* A page overwritten in the middle of the file: refused at open, with a message naming the
 * file and what to do; store_sqlite_check finds it too, without creating -wal or -shm. */
static void test_damaged_page(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	char err[512], side[600];
	struct stat sb;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	for (int i = 0; i < 200; i++)
		add_in(st, "modem0", "+33611111111", "Bonjour, je voudrais un rendez-vous", i, NULL, NULL);
	st->ops->close(st);
	CU_ASSERT_EQUAL(store_sqlite_check(path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	f = fopen(path, "r+b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, sb.st_size / 2 - 2048, SEEK_SET);
	for (int i = 0; i < 4096; i++)
		fputc(0xaa, f);
	fclose(f);

	err[0] = '\0';
	CU_ASSERT_EQUAL(store_sqlite_check(path, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is damaged"));
	CU_ASSERT_PTR_NULL(strchr(err, '\n'));
	snprintf(side, sizeof(side), "%s-shm", path);
	CU_ASSERT_NOT_EQUAL(access(side, F_OK), 0);
	err[0] = '\0';
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is damaged"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "restore it from a backup"));
	if (st)
		st->ops->close(st);
	talloc_free(ctx);
}

/* The file removed under an open store: verify says so, and no transaction begins any more
 * (a replaced file, restored over it, is a new inode: the same). */
static void test_verify_removed(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	char side[600];

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL(st->ops->verify(st), 0);
	CU_ASSERT_EQUAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	CU_ASSERT_EQUAL(st->ops->verify(st), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), "removed or replaced"));
	CU_ASSERT_EQUAL(st->ops->begin(st), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), path));
	st->ops->close(st);
	talloc_free(ctx);
}

/* --- PostgreSQL only: several hosts on one database --- */

/* Two hosts read the outbox at once: rows one is handing out are skipped by the other,
 * never handed out twice; a host that closes leaves its taken rows to the next host that
 * checks the leases, counted as possible duplicates. */
static void test_pg_two_hosts(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b, *c;
	struct store_outbound o[8];
	char err[256];
	int i, n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	add_out(a, "smsc0", "+33611111111", "un", 0);
	add_out(a, "smsc0", "+33622222222", "deux", 0);
	add_out(b, "smsc0", "+33633333333", "trois", 0);

	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	n = a->ops->outbound_due(a, NULL, 0, o, 2, ctx);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(a->ops->outbound_taken(a, o[i].id), 0);
	/* While a's transaction is open, b sees only the third row. */
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	n = b->ops->outbound_due(b, NULL, 0, o, 8, ctx);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(o[0].text, "trois");
	CU_ASSERT_EQUAL(b->ops->outbound_taken(b, o[0].id), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(b->ops->outbound_due(b, NULL, 0, o, 8, ctx), 0);
	CU_ASSERT_EQUAL(counters(b).duplicate_sends, 0);

	/* a stops with two rows taken: a host that starts puts them back, not b's. */
	a->ops->close(a);
	c = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	n = c->ops->outbound_due(c, NULL, 0, o, 8, ctx);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(counters(c).duplicate_sends, 2);
	CU_ASSERT_EQUAL(counters(c).outbound_pending, 3);
	b->ops->close(b);
	c->ops->close(c);
	talloc_free(ctx);
}

/* A session waiting for a back-end call belongs to the host making the call: a host that
 * starts (session_each, from which it fails the waits its restart interrupted) leaves out
 * the waits of live hosts, and sees those of hosts gone. Storing the session again for the
 * same call from another host (a "please wait" answer) does not change the owner; a new
 * call does. */
static void put_waiting(struct store *st, void *ctx, const char *key, uint32_t call_id)
{
	struct session s;

	fill_session(&s, ctx, key, 0);
	s.state = SESSION_WAITING;
	s.call_id = call_id;
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	vars_clear(&s.vars);
}

static void test_pg_waiting_owner(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b, *c;
	struct seen_sess seen = { 0 };
	struct session s;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	put_waiting(a, ctx, "sms:smsc0:+33611111111", 3);	/* a's call */
	put_waiting(b, ctx, "sms:smsc0:+33611111111", 3);	/* b: "please wait" */
	put_waiting(b, ctx, "sms:smsc0:+33622222222", 4);	/* b's call */
	put_waiting(a, ctx, "sms:smsc0:+33622222222", 5);	/* then a new call, a's */
	put_waiting(b, ctx, "sms:smsc0:+33633333333", 6);	/* b's call */
	put_waiting(b, ctx, "sms:smsc0:+33633333333", 6);
	/* b restarts: a is alive, so only b's wait is left to the new b. */
	b->ops->close(b);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(b->ops->session_each(b, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT_STRING_EQUAL(seen.keys[0], "sms:smsc0:+33633333333");
	/* A session no longer waiting belongs to nobody. */
	fill_session(&s, ctx, "sms:smsc0:+33622222222", 0);
	CU_ASSERT_EQUAL(b->ops->session_put(b, &s), 0);
	vars_clear(&s.vars);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(b->ops->session_each(b, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL(seen.n, 2);
	/* A live host sweeping for the waits of hosts gone takes the old b's, not a's (alive). */
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->ops->session_orphans);
	CU_ASSERT_EQUAL(b->ops->session_orphans(b, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT_STRING_EQUAL(seen.keys[0], "sms:smsc0:+33633333333");
	/* a gone: its wait is anybody's to fail (the old b's is the new b's now)... */
	a->ops->close(a);
	c = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(c->ops->session_each(c, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL(seen.n, 2);
	/* ...and the first live host to sweep takes it over: handled once. */
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(b->ops->session_orphans(b, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT_STRING_EQUAL(seen.keys[0], "sms:smsc0:+33611111111");
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(c->ops->session_orphans(c, collect_sess, &seen, ctx), 0);
	CU_ASSERT_EQUAL(seen.n, 0);
	b->ops->close(b);
	c->ops->close(c);
	talloc_free(ctx);
}

/* Two hosts lock two people's sessions in opposite order: PostgreSQL breaks the deadlock
 * by failing one transaction (SQLSTATE 40P01), which the store reports as a conflict, worth
 * running again; the next begin clears it. The other host is a plain connection here, with a
 * longer deadlock_timeout so that the store's server process is the one that detects it. */
static PGresult *pg_exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	CU_ASSERT(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
	return r;
}

static void test_pg_deadlock(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx);
	struct session s, g;
	PGconn *c;
	PGresult *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->ops->conflict);
	fill_session(&s, ctx, "sms:smsc0:+33611111111", 0);
	CU_ASSERT_EQUAL(a->ops->session_put(a, &s), 0);
	vars_clear(&s.vars);
	fill_session(&s, ctx, "sms:smsc0:+33622222222", 0);
	CU_ASSERT_EQUAL(a->ops->session_put(a, &s), 0);
	vars_clear(&s.vars);
	c = PQconnectdb(pg_url);
	CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
	PQclear(pg_exec_ok(c, "SET deadlock_timeout = '20s'"));
	PQclear(pg_exec_ok(c, "BEGIN"));
	PQclear(pg_exec_ok(c, "SELECT 1 FROM sessions WHERE key = 'sms:smsc0:+33622222222'"
			   " FOR UPDATE"));
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->session_get(a, "sms:smsc0:+33611111111", &g, ctx), 0);
	vars_clear(&g.vars);
	/* c waits for a's lock, then a for c's. */
	CU_ASSERT_EQUAL_FATAL(PQsendQuery(c, "SELECT 1 FROM sessions"
					  " WHERE key = 'sms:smsc0:+33611111111' FOR UPDATE"), 1);
	CU_ASSERT_FALSE(store_conflict(a));
	CU_ASSERT_EQUAL(a->ops->session_get(a, "sms:smsc0:+33622222222", &g, ctx), -1);
	CU_ASSERT_TRUE(store_conflict(a));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(a), "deadlock"));
	CU_ASSERT_EQUAL(a->ops->rollback(a), 0);
	CU_ASSERT_TRUE(store_conflict(a));
	while ((r = PQgetResult(c)))
		PQclear(r);
	PQclear(pg_exec_ok(c, "COMMIT"));
	/* Run again, it goes through. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_FALSE(store_conflict(a));
	CU_ASSERT_EQUAL(a->ops->session_get(a, "sms:smsc0:+33622222222", &g, ctx), 0);
	vars_clear(&g.vars);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	/* Other failures are not conflicts. */
	CU_ASSERT_TRUE(pg_sqlstate_conflict("40001"));
	CU_ASSERT_FALSE(pg_sqlstate_conflict("23505"));
	CU_ASSERT_FALSE(pg_sqlstate_conflict(NULL));
	/* A text without its transport: refused (by the commit, which sends it). */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->inbound_add(a, &(struct store_inbound){ .from = "+3361",
							      .text = "x" }), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), -1);
	CU_ASSERT_EQUAL(a->ops->rollback(a), 0);
	CU_ASSERT_FALSE(store_conflict(a));
	PQfinish(c);
	a->ops->close(a);
	talloc_free(ctx);
}

/* LISTEN/NOTIFY: a host that commits outbox rows it did not take itself (a reply for a
 * transport only another host has), or a scheduled message, wakes the hosts that watch, from
 * their loop; a transaction that takes back the rows it added wakes nobody, and a host is
 * not woken by its own commits. */
static void woken(void *data)
{
	(*(unsigned *)data)++;
}

/* Runs the osmocom loop until *count reaches want or about ms pass. */
static void loop_until(unsigned *count, unsigned want, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10 && *count < want; i++) {
		osmo_select_main(1);
		usleep(10000);
	}
	osmo_select_main(1);
}

static void test_pg_notify(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	struct store_outbound o = { .via = "smsc1", .to = "+33611111111", .text = "un" };
	struct store_scheduled m = { .to = "+33611111111", .text = "plus tard", .send_at = 1,
				     .origin = SCHED_API, .status = SCHED_QUEUED };
	unsigned na = 0, nb = 0;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->ops->watch);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(a->ops->watch(a, woken, &na), 0);
	CU_ASSERT_EQUAL(b->ops->watch(b, woken, &nb), 0);
	/* a queues a reply it cannot send: b is woken, once; a is not. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_add(a, &o), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	loop_until(&nb, 1, 3000);
	CU_ASSERT_EQUAL(nb, 1);
	/* a adds a reply and takes it in the same transaction (its own transport): nobody. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_add(a, &o), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_taken(a, o.id), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	loop_until(&nb, 2, 300);
	CU_ASSERT_EQUAL(nb, 1);
	/* A rolled-back row wakes nobody either. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_add(a, &o), 0);
	CU_ASSERT_EQUAL(a->ops->rollback(a), 0);
	loop_until(&nb, 2, 300);
	CU_ASSERT_EQUAL(nb, 1);
	/* A scheduled message: b is woken (its scheduler may be the one to send it). */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->schedule_add(a, &m), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	loop_until(&nb, 2, 3000);
	CU_ASSERT_EQUAL(nb, 2);
	/* b's own commits wake a, not b. */
	CU_ASSERT_EQUAL(b->ops->outbound_add(b, &o), 0);	/* outside a transaction */
	loop_until(&na, 1, 3000);
	CU_ASSERT_EQUAL(na, 1);
	CU_ASSERT_EQUAL(nb, 2);
	/* Stopped: not woken any more. */
	CU_ASSERT_EQUAL(b->ops->watch(b, NULL, NULL), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_add(a, &o), 0);
	loop_until(&nb, 3, 300);
	CU_ASSERT_EQUAL(nb, 2);
	a->ops->close(a);
	b->ops->close(b);
	talloc_free(ctx);
}

/* Inside a transaction PostgreSQL's writes nobody waits for are pipelined: one that fails
 * (here a reply without a transport, refused by NOT NULL) fails the next statement or the
 * commit with its own message, and nothing of the transaction is kept. */
static void test_pg_pipeline_failure(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound bad = { .to = "+33611111111", .text = "x" };
	struct store_outbound o[4];
	int64_t id = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33611111111", "un", 1, "p1", &id), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_add(st, &bad), 0);	/* sent, not yet answered */
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, id), 0);	/* pipelined too */
	CU_ASSERT_EQUAL(st->ops->commit(st), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), "outbound_add"));
	CU_ASSERT_FALSE(store_conflict(st));
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 0);
	/* A statement whose result is needed reports the failure at once. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_add(st, &bad), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 0, o, 4, ctx), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), "outbound_add"));
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	/* The connection is fine afterwards. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33611111111", "deux", 2, "p2", &id), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);
	/* A transaction that found nothing ends with the next round trip: then a statement
	 * outside a transaction, a transaction, another empty one before the close. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 0, o, 4, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 0, o, 4, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, id), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 0, o, 4, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	st->ops->close(st);
	talloc_free(ctx);
}

/* Two hosts' schedulers at once: a message one is deciding on (in its transaction) is not
 * read by the other, so each scheduled message is sent once. */
static void test_pg_schedule_once(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	struct store_scheduled m1 = { .to = "+33611111111", .text = "un", .send_at = 1,
				      .origin = SCHED_API, .status = SCHED_QUEUED }, m2 = m1, due[4];
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	m2.text = "deux";
	m2.send_at = 2;
	CU_ASSERT_EQUAL(a->ops->schedule_add(a, &m1), 0);
	CU_ASSERT_EQUAL(a->ops->schedule_add(a, &m2), 0);
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL_FATAL(a->ops->schedule_due(a, 10, due, 1, ctx), 1);
	CU_ASSERT_EQUAL(due[0].id, m1.id);
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL_FATAL(b->ops->schedule_due(b, 10, due, 4, ctx), 1);
	CU_ASSERT_EQUAL(due[0].id, m2.id);
	CU_ASSERT_EQUAL(b->ops->schedule_mark(b, m2.id, SCHED_SENT, NULL, 0, 7), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_EQUAL(a->ops->schedule_mark(a, m1.id, SCHED_SENT, NULL, 0, 8), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(b->ops->schedule_due(b, 10, due, 4, ctx), 0);
	a->ops->close(a);
	b->ops->close(b);
	talloc_free(ctx);
}

/* Whether another connection can lock person key's session row now (NOWAIT). */
static bool session_free(PGconn *c, const char *key)
{
	char sql[160];
	PGresult *r;
	bool ok;

	PQclear(PQexec(c, "BEGIN"));
	snprintf(sql, sizeof(sql), "SELECT 1 FROM sessions WHERE key = '%s' FOR UPDATE NOWAIT", key);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	PQclear(PQexec(c, "ROLLBACK"));
	return ok;
}

static long count_rows(PGconn *c, const char *table)
{
	char sql[96];
	PGresult *r;
	long n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	r = PQexec(c, sql);
	n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

/* A group write's received messages announced at once (inbound_ahead): all added, and all
 * their people's sessions read and locked, before the first inbound_add (one round trip);
 * each inbound_add then answers as alone (id, duplicate), a session read ahead is the one
 * session_get returns, and a person's second text reads the session their first one
 * stored. Each is answered (inbound_done) in that transaction, as the router does: they
 * are added done, and none is left pending. An inbound_add other than the one announced
 * fails the transaction. */
static void test_pg_inbound_ahead(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct session s, got;
	int64_t id[5] = { 0 }, old = 0;
	PGconn *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->inbound_ahead);
	c = PQconnectdb(pg_url);
	fill_session(&s, ctx, "sms:+33611111111", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	fill_session(&s, ctx, "sms:+33622222222", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33633333333", "vieux", 1, "d0", &old), 0);

	struct store_inbound ins[5] = {
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33611111111", .text = "un",
		  .received = 2, .dedup = "d1" },
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33622222222", .text = "deux",
		  .received = 2, .dedup = "d2" },
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33633333333", .text = "vieux",
		  .received = 1, .dedup = "d0" },	/* already stored */
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33611111111", .text = "trois",
		  .received = 3, .dedup = NULL },	/* the same person again */
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33644444444", .text = "quatre",
		  .received = 3, .dedup = "d4" },	/* no session yet */
	};
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->inbound_ahead(st, ins, 5), 0);
	/* Both sessions locked already, before any inbound_add. */
	CU_ASSERT_FALSE(session_free(c, "sms:+33611111111"));
	CU_ASSERT_FALSE(session_free(c, "sms:+33622222222"));
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33611111111", "un", 2, "d1", &id[0]), 0);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:+33611111111", &got, ctx), 0);
	CU_ASSERT_STRING_EQUAL(got.step, "choose_slot");
	snprintf(got.step, sizeof(got.step), "confirm");
	CU_ASSERT_EQUAL(st->ops->session_put(st, &got), 0);
	vars_clear(&got.vars);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33622222222", "deux", 2, "d2", &id[1]), 0);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:+33622222222", &got, ctx), 0);
	CU_ASSERT_STRING_EQUAL(got.step, "choose_slot");
	CU_ASSERT_EQUAL(st->ops->session_del(st, "sms:+33622222222"), 0);
	vars_clear(&got.vars);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33633333333", "vieux", 1, "d0", &id[2]), 1);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33611111111", "trois", 3, NULL, &id[3]), 0);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:+33611111111", &got, ctx), 0);
	CU_ASSERT_STRING_EQUAL(got.step, "confirm");	/* as the first text left it */
	vars_clear(&got.vars);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33644444444", "quatre", 3, "d4", &id[4]), 0);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:+33644444444", &got, ctx), 1);
	for (int i = 0; i < 5; i++)
		if (i != 2)
			CU_ASSERT_EQUAL(st->ops->inbound_done(st, id[i]), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT(id[0] > old && id[1] > id[0] && id[3] > id[1] && id[4] > id[3]);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);	/* old: added alone, not done */
	CU_ASSERT_EQUAL(counters(st).sessions, 1);
	CU_ASSERT_TRUE(session_free(c, "sms:+33611111111"));

	/* Not the message announced: the transaction is lost, nothing of it stays. */
	ins[0].dedup = "d5";
	ins[1].dedup = "d6";
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_ahead(st, ins, 2), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33622222222", "deux", 2, "d6", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), "announced"));
	CU_ASSERT_EQUAL(st->ops->commit(st), -1);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);
	CU_ASSERT_EQUAL(count_rows(c, "inbound"), 5);
	/* Once the announced ones are added, the next goes alone, as without the announce
	 * (and is pending until marked done). */
	ins[0].dedup = "d7";
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_ahead(st, ins, 2), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33611111111", "un", 2, "d7", &id[0]), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33622222222", "deux", 2, "d6", &id[1]), 0);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33611111111", "un", 2, "d7", NULL), 1);
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33655555555", "cinq", 4, "d8", &id[2]), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(st->ops->inbound_done(st, id[i]), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);
	CU_ASSERT_EQUAL(count_rows(c, "inbound"), 8);
	/* Texts whose quotes, backslashes, braces, commas and accents an array literal must
	 * carry, one without a dedup key: stored as received. */
	struct store_inbound odd[2] = {
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33666666666",
		  .text = "a \"b\" \\c {d}, NULL é", .received = 5, .dedup = NULL },
		{ .channel = CHANNEL_SMS, .via = "smsc,0", .from = "+33677777777", .text = "",
		  .received = 5, .dedup = "d\"9" },
	};
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_ahead(st, odd, 2), 0);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(st->ops->inbound_add(st, &odd[i]), 0);
		CU_ASSERT_EQUAL(st->ops->inbound_done(st, odd[i].id), 0);
	}
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	PGresult *r = PQexec(c, "SELECT body, via, dedup FROM inbound ORDER BY id DESC LIMIT 2");
	CU_ASSERT_EQUAL_FATAL(PQntuples(r), 2);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 0), odd[0].text);
	CU_ASSERT_TRUE(PQgetisnull(r, 1, 2));
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), "");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 1), "smsc,0");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 2), "d\"9");
	PQclear(r);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* A secret answer forgotten in the transaction that adds it never reaches the server: the
 * row goes without its text and key (a row trigger records every text written to inbound;
 * the old code inserted it, then erased it, and its WAL kept it). Announced with others or
 * added alone, the same. */
static void test_pg_secret_never_sent(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	PGconn *c = PQconnectdb(pg_url);
	struct store_inbound ins[2] = {
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33611111111", .text = "4711",
		  .received = 1, .dedup = "k4711" },
		{ .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33622222222", .text = "bonjour",
		  .received = 1, .dedup = "kb" },
	};
	struct store_inbound alone = { .channel = CHANNEL_SMS, .via = "smsc0",
				       .from = "+33633333333", .text = "8080", .received = 2 };
	PGresult *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	PQclear(pg_exec_ok(c, "CREATE TABLE written (body TEXT, dedup TEXT);"
			   "CREATE FUNCTION keep_body() RETURNS trigger LANGUAGE plpgsql AS"
			   " $$BEGIN INSERT INTO written VALUES (NEW.body, NEW.dedup); RETURN NEW;"
			   " END$$;"
			   "CREATE TRIGGER w1 BEFORE INSERT OR UPDATE ON inbound FOR EACH ROW"
			   " EXECUTE FUNCTION keep_body();"));
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_ahead(st, ins, 2), 0);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(st->ops->inbound_add(st, &ins[i]), 0);
		if (i == 0)
			CU_ASSERT_EQUAL(st->ops->inbound_forget(st, ins[i].id), 0);
		CU_ASSERT_EQUAL(st->ops->inbound_done(st, ins[i].id), 0);
	}
	CU_ASSERT_EQUAL(st->ops->inbound_add(st, &alone), 0);	/* not announced */
	CU_ASSERT_EQUAL(st->ops->inbound_forget(st, alone.id), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, alone.id), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	r = pg_exec_ok(c, "SELECT count(*) FILTER (WHERE body IN ('4711', '8080')"
		       " OR dedup = 'k4711'), count(*) FILTER (WHERE body = 'bonjour'),"
		       " (SELECT count(*) FROM inbound) FROM written");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), "0");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 1), "1");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 2), "3");
	PQclear(r);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 0);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* From the outside: more texts announced than one check takes (PG_AHEAD_MAX), one
 * delivered twice in the same group, an oversized text and one made of the array literal's
 * own syntax. Every new text is stored once, done, as received; the repeat is a duplicate. */
static void test_pg_inbound_ahead_oversized(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	enum { N = 60 };
	struct store_inbound ins[N];
	char from[N][16], dedup[N][16], *big = talloc_array(ctx, char, 1601);
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	memset(big, 'e', 1600);
	big[1600] = '\0';
	for (int i = 0; i < N; i++) {
		snprintf(from[i], sizeof(from[i]), "+336%08d", i);
		snprintf(dedup[i], sizeof(dedup[i]), "k%d", i == 11 ? 10 : i);
		ins[i] = (struct store_inbound){ .channel = CHANNEL_SMS, .via = "smsc0",
						 .from = from[i], .text = "1", .received = 7,
						 .dedup = dedup[i] };
	}
	ins[11].from = from[10];	/* the SMSC delivering #10 again */
	ins[20].text = big;
	ins[21].text = "{\"NULL\"},\\";
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_ahead(st, ins, N), 0);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(st->ops->inbound_add(st, &ins[i]), i == 11 ? 1 : 0);
		if (i != 11)
			CU_ASSERT_EQUAL(st->ops->inbound_done(st, ins[i].id), 0);
	}
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	r = pg_exec_ok(c, "SELECT count(*), count(*) FILTER (WHERE done),"
		       " count(*) FILTER (WHERE length(body) = 1600),"
		       " count(*) FILTER (WHERE body = '{\"NULL\"},\\') FROM inbound");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), "59");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 1), "59");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 2), "1");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 3), "1");
	PQclear(r);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* Two hosts adding one text at the same moment (an SMSC delivering it again through the
 * other bind): the second's commit fails on the unique key, a conflict; run again, it finds
 * the text stored and answers it as a duplicate. */
static void test_pg_inbound_race(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	char err[256];
	struct store_inbound in = { .channel = CHANNEL_SMS, .via = "smsc0", .from = "+33611111111",
				    .text = "1", .received = 1, .dedup = "twice" };
	struct store_inbound inb = in;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->inbound_ahead(a, &in, 1), 0);
	CU_ASSERT_EQUAL(a->ops->inbound_add(a, &in), 0);
	CU_ASSERT_EQUAL(a->ops->inbound_done(a, in.id), 0);
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL(b->ops->inbound_ahead(b, &inb, 1), 0);
	CU_ASSERT_EQUAL(b->ops->inbound_add(b, &inb), 0);	/* a's is not committed yet */
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), -1);
	CU_ASSERT_TRUE(store_conflict(b));
	CU_ASSERT_EQUAL(b->ops->rollback(b), 0);
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL(b->ops->inbound_ahead(b, &inb, 1), 0);
	CU_ASSERT_EQUAL(b->ops->inbound_add(b, &inb), 1);	/* stored: a duplicate */
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_EQUAL(counters(a).inbound_pending, 0);
	b->ops->close(b);
	a->ops->close(a);
	talloc_free(ctx);
}

static void spend_by_via(void *data, const char *via, uint64_t parts)
{
	uint64_t *n = data;

	n[strcmp(via, "m1") == 0 ? 0 : 1] += parts;
}

/* Counts, in the table `counted`, the statements (or rows) the triggers fire for: each of
 * on[] is "AFTER <event> ON <table> FOR EACH STATEMENT|ROW". */
static void count_on(PGconn *c, const char *const *on, unsigned n)
{
	char sql[256];

	PQclear(pg_exec_ok(c, "CREATE TABLE counted (n INTEGER NOT NULL);"
			   "INSERT INTO counted VALUES (0);"
			   "CREATE FUNCTION count_one() RETURNS trigger LANGUAGE plpgsql AS"
			   " $$BEGIN UPDATE counted SET n = n + 1; RETURN NULL; END$$;"));
	for (unsigned i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "CREATE TRIGGER c%u %s EXECUTE FUNCTION count_one()",
			 i, on[i]);
		PQclear(pg_exec_ok(c, sql));
	}
}

static long counted(PGconn *c)
{
	PGresult *r = pg_exec_ok(c, "SELECT n FROM counted");
	long n = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	return n;
}

/* A transaction's writes of one kind (replies added, messages done, replies taken, replies
 * sent, SMSC ids, the day's spend) go as one statement each, counted here by a statement trigger, and each
 * does what it did alone: read back within the transaction and after it; strings with
 * quotes, commas, braces and backslashes kept as they are. */
static void test_pg_batched_writes(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	static const char *const remote[3] = { "r{1}", "r,\"2\"", "r\\3 x" };
	const char *via = "sm,sc \"0\"";
	int64_t in[3], out[3], id;
	uint64_t spent[2] = { 0, 0 };
	unsigned n;
	PGconn *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	for (int i = 0; i < 3; i++) {
		char from[16];

		snprintf(from, sizeof(from), "+3361111111%d", i);
		CU_ASSERT_EQUAL(add_in(st, "smsc0", from, "x", 1, NULL, &in[i]), 0);
		out[i] = add_out(st, via, from, "y", 0);
	}
	c = PQconnectdb(pg_url);
	static const char *const on[] = {
		"AFTER UPDATE ON inbound FOR EACH STATEMENT",
		"AFTER UPDATE ON outbound FOR EACH STATEMENT",
		"AFTER INSERT ON remote_ids FOR EACH STATEMENT",
		"AFTER INSERT ON spend FOR EACH STATEMENT",
		"AFTER INSERT ON outbound FOR EACH STATEMENT",
	};
	count_on(c, on, 5);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	static const char *const body[3] = { "un \"deux\", {trois}", "a\\b\nc", "NULL" };
	int64_t added[3];
	for (int i = 0; i < 3; i++) {
		struct store_outbound o = { .via = "m9", .to = "+33699999999", .text = body[i],
					    .coding = TEXT_GSM7, .parts = 1 };
		CU_ASSERT_EQUAL(st->ops->outbound_add(st, &o), 0);
		added[i] = o.id;
	}
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(st->ops->inbound_done(st, in[i]), 0);
		CU_ASSERT_EQUAL(st->ops->outbound_taken(st, out[i]), 0);
		CU_ASSERT_EQUAL(st->ops->spend_add(st, 100, i < 2 ? "m1" : "m2", 2), 0);
	}
	/* A read in the transaction sees what was gathered before it. */
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, out[0], &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(st->ops->outbound_sent(st, out[i]), 0);
		CU_ASSERT_EQUAL(st->ops->outbound_remote(st, out[i], via, remote[i]), 0);
	}
	CU_ASSERT_EQUAL(st->ops->outbound_remote(st, out[0], via, remote[1]), 0);	/* again */
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, via, remote[2], &id), 0);
	CU_ASSERT_EQUAL(id, out[2]);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	/* Before the read: added, done, taken, spend; after it: sent, the SMSC ids. */
	CU_ASSERT_EQUAL(counted(c), 6);
	struct store_outbound due[4];
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, "m9", 0, due, 4, ctx), 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(due[i].id, added[i]);
		CU_ASSERT_STRING_EQUAL(due[i].text, body[i]);
		CU_ASSERT_STRING_EQUAL(due[i].to, "+33699999999");
	}
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 0);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 3);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, via, remote[0], &id), 0);
	CU_ASSERT_EQUAL(id, out[0]);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, via, remote[1], &id), 0);
	CU_ASSERT_EQUAL(id, out[0]);
	CU_ASSERT_EQUAL(st->ops->outbound_by_remote(st, "smsc0", remote[0], &id), 1);
	CU_ASSERT_EQUAL(st->ops->spend_get(st, 100, spend_by_via, spent), 0);
	CU_ASSERT_EQUAL(spent[0], 4);
	CU_ASSERT_EQUAL(spent[1], 2);

	/* Rolled back: none of it. */
	CU_ASSERT_EQUAL(add_in(st, "smsc0", "+33622222222", "x", 1, NULL, &in[0]), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->inbound_done(st, in[0]), 0);
	CU_ASSERT_EQUAL(st->ops->spend_add(st, 100, "m1", 5), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(counters(st).inbound_pending, 1);
	spent[0] = spent[1] = 0;
	CU_ASSERT_EQUAL(st->ops->spend_get(st, 100, spend_by_via, spent), 0);
	CU_ASSERT_EQUAL(spent[0], 4);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

static char *session_owner(PGconn *c, const char *key, char *out, size_t len)
{
	char sql[128];
	PGresult *r;

	snprintf(sql, sizeof(sql), "SELECT coalesce(owner::text, '-') FROM sessions WHERE key = '%s'",
		 key);
	r = pg_exec_ok(c, sql);
	snprintf(out, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "none");
	PQclear(r);
	return out;
}

/* A transaction's sessions stored go as one statement, and those removed as another
 * (counted by statement triggers); a read sees what was written before it; a session
 * written twice keeps the owner of its wait as when each write went alone: the host that
 * started the call, until the session waits no more. */
static void test_pg_batched_sessions(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx), *b;
	struct session s, got;
	char err[256], o1[24], o2[24];
	PGconn *c = PQconnectdb(pg_url);

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	fill_session(&s, ctx, "sms:c", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	static const char *const on[] = { "AFTER INSERT ON sessions FOR EACH STATEMENT",
					  "AFTER DELETE ON sessions FOR EACH STATEMENT" };
	count_on(c, on, 2);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	fill_session(&s, ctx, "sms:a", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	fill_session(&s, ctx, "sms:b", 5);
	snprintf(s.step, sizeof(s.step), "b\"{,}");
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	CU_ASSERT_EQUAL(st->ops->session_del(st, "sms:c"), 0);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:b", &got, ctx), 0);	/* sends them */
	CU_ASSERT_STRING_EQUAL(got.step, "b\"{,}");
	CU_ASSERT_STRING_EQUAL(vars_get(&got.vars, "name"), "Aïssatou Ndiaye");
	vars_clear(&got.vars);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:c", &got, ctx), 1);
	fill_session(&s, ctx, "sms:d", 0);
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	CU_ASSERT_EQUAL(st->ops->session_del(st, "sms:a"), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	/* Before the read: stored, removed; at the commit: stored, removed. */
	CU_ASSERT_EQUAL(counted(c), 4);
	CU_ASSERT_EQUAL(counters(st).sessions, 2);	/* b, d */
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:a", &got, ctx), 1);
	CU_ASSERT_EQUAL(st->ops->session_get(st, "sms:d", &got, ctx), 0);
	vars_clear(&got.vars);

	/* A wait stored by this host; another host stores it again for the same call, then
	 * (in the same transaction) for a new one: the owner is this host, then the other. */
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	fill_session(&s, ctx, "sms:w", 0);
	s.state = SESSION_WAITING;
	s.call_id = 7;
	CU_ASSERT_EQUAL(st->ops->session_put(st, &s), 0);
	session_owner(c, "sms:w", o1, sizeof(o1));
	CU_ASSERT_STRING_NOT_EQUAL(o1, "-");
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL(b->ops->session_put(b, &s), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_STRING_EQUAL(session_owner(c, "sms:w", o2, sizeof(o2)), o1);
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL(b->ops->session_put(b, &s), 0);
	s.call_id = 8;
	CU_ASSERT_EQUAL(b->ops->session_put(b, &s), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_STRING_NOT_EQUAL(session_owner(c, "sms:w", o2, sizeof(o2)), o1);
	CU_ASSERT_STRING_NOT_EQUAL(o2, "-");
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	s.state = SESSION_ACTIVE;
	CU_ASSERT_EQUAL(b->ops->session_put(b, &s), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_STRING_EQUAL(session_owner(c, "sms:w", o2, sizeof(o2)), "-");
	b->ops->close(b);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* The gathered writes by id go through the primary key even in a database without
 * statistics yet (a new one, before autovacuum's first ANALYZE), where "id = ANY($1)" alone
 * gets a generic plan that reads the whole table. */
static void test_pg_batched_plan(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	PGconn *c;
	PGresult *r;
	char sql[1024];

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	c = PQconnectdb(pg_url);
	PQclear(pg_exec_ok(c, "INSERT INTO inbound(channel, via, sender, body, received)"
			   " SELECT 0, 'opx', '+33', 'x', 1 FROM generate_series(1, 3000);"
			   "INSERT INTO outbound(via, recipient, body, coding, parts, state, created)"
			   " SELECT 'opx', '+33', 'x', 0, 1, 'queued', 1 FROM generate_series(1, 3000);"
			   "SET plan_cache_mode = force_generic_plan"));
	for (unsigned k = 0; k < 3; k++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(pg_batch_sql(k));
		snprintf(sql, sizeof(sql), "PREPARE b%u AS %s", k, pg_batch_sql(k));
		PQclear(pg_exec_ok(c, sql));
		snprintf(sql, sizeof(sql), "EXPLAIN EXECUTE b%u('{7,9}', 7, 9%s)", k,
			 k == 1 ? ", 1" : "");
		r = pg_exec_ok(c, sql);
		bool seq = false, index = false;
		for (int i = 0; i < PQntuples(r); i++) {
			seq |= strstr(PQgetvalue(r, i, 0), "Seq Scan") != NULL;
			index |= strstr(PQgetvalue(r, i, 0), "Index Scan") != NULL;
		}
		CU_ASSERT_FALSE(seq);
		CU_ASSERT_TRUE(index);
		PQclear(r);
	}
	CU_ASSERT_PTR_NULL(pg_batch_sql(3));
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* The outbox claimed by the commit (outbound_take_at_commit): what outbound_due and
 * outbound_taken do, the replies the transaction added among the rows taken, given only once
 * the commit succeeded (oldest first, attempts as they were before the take); a rollback or
 * a failed commit takes and gives none. */
static void test_pg_take_at_commit(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound bad = { .to = "+33611111111", .text = "x" };
	struct store_outbound o[8], m[8];
	int64_t a, b, c, d;
	unsigned att = 99;
	int n = -1, nm = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->outbound_take_at_commit);
	a = add_out(st, "smsc0", "+33611111111", "un", 0);	/* committed already */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	b = add_out(st, "smsc0", "+33622222222", "Réponse «deux»", 0);
	c = add_out(st, "smsc1", "+33633333333", "trois", 0);
	d = add_out(st, "smsc0", "+33644444444", "plus tard", 5000);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 1000, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(n, 0);	/* known at the commit */
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc1", 1000, m, 8, &nm, ctx), 0);
	CU_ASSERT_EQUAL(nm, 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[1].id, b);
	CU_ASSERT_STRING_EQUAL(o[1].via, "smsc0");
	CU_ASSERT_STRING_EQUAL(o[1].to, "+33622222222");
	CU_ASSERT_STRING_EQUAL(o[1].text, "Réponse «deux»");
	CU_ASSERT_EQUAL(o[1].coding, TEXT_UCS2);
	CU_ASSERT_EQUAL(o[1].parts, 2);
	CU_ASSERT_EQUAL(o[1].attempts, 0);
	CU_ASSERT_EQUAL(o[1].not_before, 0);
	CU_ASSERT_EQUAL_FATAL(nm, 1);
	CU_ASSERT_EQUAL(m[0].id, c);
	/* Taken: no longer due, one attempt each, still pending until sent. */
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 9000, o, 8, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, d);
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, a, &att), 0);
	CU_ASSERT_EQUAL(att, 1);
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, c, &att), 0);
	CU_ASSERT_EQUAL(att, 1);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 4);

	/* Rolled back: nothing taken, nothing given. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 9000, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 9000, m, 8, ctx), 1);
	/* A write of the transaction that fails fails the commit: nothing taken either. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_add(st, &bad), 0);	/* refused at the commit */
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 9000, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_last_error(st), "outbound_add"));
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, d, &att), 0);
	CU_ASSERT_EQUAL(att, 0);

	/* attempts as outbound_due gives them: before this take. max is kept. */
	CU_ASSERT_EQUAL(st->ops->outbound_failed(st, a, 0, false), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, NULL, 9000, o, 1, &n, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(o[0].id, a);
	CU_ASSERT_EQUAL(o[0].attempts, 1);
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, a, &att), 0);
	CU_ASSERT_EQUAL(att, 2);
	/* Nothing due: a commit that takes none. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc1", 9000, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL(n, 0);
	/* Only inside a transaction. */
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, NULL, 9000, o, 8, &n, ctx), -1);
	CU_ASSERT_EQUAL(st->ops->outbound_due(st, NULL, 9000, o, 8, ctx), 1);
	CU_ASSERT_EQUAL(counters(st).duplicate_sends, 0);
	st->ops->close(st);
	talloc_free(ctx);
}

/* A reply added and taken in one transaction is written once, taken already: the claim
 * adds it. Rows queued before go first; what the room leaves stays queued. Counted by a
 * row trigger on UPDATE: the old code added the replies queued and rewrote them taken. */
static void test_pg_take_at_commit_added_taken(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound o[8];
	int64_t old, added[3];
	unsigned att = 99;
	int n = -1;
	PGconn *c = PQconnectdb(pg_url);

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	old = add_out(st, "smsc0", "+33611111111", "avant", 0);
	static const char *const on[] = { "AFTER UPDATE ON outbound FOR EACH ROW" };
	count_on(c, on, 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	for (int i = 0; i < 3; i++)
		added[i] = add_out(st, "smsc0", "+33622222222", i == 1 ? "« deux »" : "x", 0);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 1000, o, 3, &n, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(o[0].id, old);
	CU_ASSERT_EQUAL(o[1].id, added[0]);
	CU_ASSERT_EQUAL(o[2].id, added[1]);
	CU_ASSERT_STRING_EQUAL(o[2].text, "« deux »");
	CU_ASSERT_STRING_EQUAL(o[2].to, "+33622222222");
	CU_ASSERT_EQUAL(o[2].attempts, 0);
	CU_ASSERT_EQUAL(o[2].coding, TEXT_UCS2);
	CU_ASSERT_EQUAL(counted(c), 1);	/* the row queued before */
	CU_ASSERT_EQUAL(st->ops->outbound_attempts(st, added[1], &att), 0);
	CU_ASSERT_EQUAL(att, 1);
	/* The third stays queued, for the next take; the taken ones are sent as before. */
	CU_ASSERT_EQUAL_FATAL(st->ops->outbound_due(st, NULL, 9000, o, 8, ctx), 1);
	CU_ASSERT_EQUAL(o[0].id, added[2]);
	CU_ASSERT_EQUAL(o[0].attempts, 0);
	CU_ASSERT_EQUAL(st->ops->outbound_sent(st, added[0]), 0);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 3);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* The rows a claim returns come in no particular order (the server's): given oldest first
 * all the same. The oldest row rewritten (a failed send put back) sits last in the table. */
static void test_pg_take_at_commit_order(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound o[40];
	int64_t first = 0;
	int n = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->outbound_take_at_commit);
	for (int i = 0; i < 40; i++) {
		int64_t id = add_out(st, "smsc0", "+33611111111", "x", 0);
		if (!first)
			first = id;
	}
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(st->ops->outbound_failed(st, first + 2 * i, 0, false), 0);
	}
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 0, o, 40, &n, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	CU_ASSERT_EQUAL_FATAL(n, 40);
	for (int i = 1; i < n; i++)
		CU_ASSERT(o[i - 1].id < o[i].id);
	CU_ASSERT_EQUAL(o[0].id, first);
	st->ops->close(st);
	talloc_free(ctx);
}

/* Two hosts claiming at commit never take the same row: one another host's claim holds
 * (locked) is skipped, and two claims prepared at once each take what the other left. */
static void test_pg_take_at_commit_two_hosts(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	struct store_outbound oa[8], ob[8];
	int64_t id[4];
	char err[256], sql[128];
	int na = -1, nb = -1;
	PGconn *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->ops->outbound_take_at_commit);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (int i = 0; i < 4; i++)
		id[i] = add_out(a, "smsc0", "+33611111111", "x", 0);	/* ids in order: one host's */
	/* A third host's claim in progress holds the oldest row. */
	c = PQconnectdb(pg_url);
	CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
	PQclear(pg_exec_ok(c, "BEGIN"));
	snprintf(sql, sizeof(sql), "SELECT id FROM outbound WHERE id = %lld FOR UPDATE",
		 (long long)id[0]);
	PQclear(pg_exec_ok(c, sql));
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_take_at_commit(a, "smsc0", 0, oa, 2, &na, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL_FATAL(na, 2);
	CU_ASSERT_EQUAL(oa[0].id, id[1]);
	CU_ASSERT_EQUAL(oa[1].id, id[2]);
	PQclear(pg_exec_ok(c, "ROLLBACK"));
	PQfinish(c);
	/* Both prepared, then committed one after the other: the second takes what is left. */
	add_out(a, "smsc0", "+33622222222", "y", 0);
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL(a->ops->outbound_take_at_commit(a, "smsc0", 0, oa, 8, &na, ctx), 0);
	CU_ASSERT_EQUAL(b->ops->outbound_take_at_commit(b, "smsc0", 0, ob, 1, &nb, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(b->ops->commit(b), 0);
	CU_ASSERT_EQUAL_FATAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL_FATAL(nb, 1);
	CU_ASSERT_EQUAL(ob[0].id, id[0]);
	CU_ASSERT_EQUAL_FATAL(na, 2);
	CU_ASSERT_EQUAL(oa[0].id, id[3]);
	CU_ASSERT(oa[1].id > id[3]);
	CU_ASSERT_EQUAL(counters(a).outbound_pending, 5);
	CU_ASSERT_EQUAL(a->ops->outbound_due(a, NULL, 0, oa, 8, ctx), 0);
	a->ops->close(a);
	b->ops->close(b);
	talloc_free(ctx);
}

/* NOTIFY with a claim at commit: decided on the server, after the claims. A host that
 * takes fewer rows than it added wakes the other; one that takes all it added wakes
 * nobody; a row for a transport it did not claim for wakes the other; never itself. */
static void test_pg_take_at_commit_notify(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	struct store_outbound o[8];
	unsigned na = 0, nb = 0;
	char err[256];
	int n = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->ops->outbound_take_at_commit);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(a->ops->watch(a, woken, &na), 0);
	CU_ASSERT_EQUAL(b->ops->watch(b, woken, &nb), 0);
	/* Two added, room for one: the other is left for b. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	add_out(a, "smsc0", "+33611111111", "un", 0);
	add_out(a, "smsc0", "+33622222222", "deux", 0);
	CU_ASSERT_EQUAL(a->ops->outbound_take_at_commit(a, "smsc0", 0, o, 1, &n, ctx), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(n, 1);
	loop_until(&nb, 1, 3000);
	CU_ASSERT_EQUAL(nb, 1);
	/* One added, all taken (with the one left before): nobody. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	add_out(a, "smsc0", "+33633333333", "trois", 0);
	CU_ASSERT_EQUAL(a->ops->outbound_take_at_commit(a, "smsc0", 0, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(n, 2);
	loop_until(&nb, 2, 300);
	CU_ASSERT_EQUAL(nb, 1);
	/* For a transport a claims nothing for: b is woken. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	add_out(a, "smsc1", "+33644444444", "quatre", 0);
	CU_ASSERT_EQUAL(a->ops->outbound_take_at_commit(a, "smsc0", 0, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(n, 0);
	loop_until(&nb, 2, 3000);
	CU_ASSERT_EQUAL(nb, 2);
	/* Rolled back: nobody. */
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	add_out(a, "smsc1", "+33655555555", "cinq", 0);
	CU_ASSERT_EQUAL(a->ops->outbound_take_at_commit(a, "smsc0", 0, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL(a->ops->rollback(a), 0);
	loop_until(&nb, 3, 300);
	CU_ASSERT_EQUAL(nb, 2);
	CU_ASSERT_EQUAL(na, 0);
	a->ops->close(a);
	b->ops->close(b);
	talloc_free(ctx);
}

/* The round trips a transaction costs: the flushes and syncs the client sent (PQtrace). */
static unsigned trips_of(const char *trace)
{
	unsigned n = 0;

	for (const char *l = trace; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char name[16] = "";

		if (sscanf(l, "F\t%*d\t%15[A-Za-z]", name) == 1 &&
		    (!strcmp(name, "Sync") || !strcmp(name, "Flush")))
			n++;
	}
	return n;
}

/* The claim at commit costs no round trip of its own: a transaction that adds replies and
 * claims them is the commit's one, where reading the due rows (outbound_due) is another. */
static void test_pg_take_at_commit_trips(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound o[8];
	char *trace = NULL;
	size_t len = 0;
	FILE *f;
	int n = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->outbound_take_at_commit);
	PGconn *db = pg_of(st)->db;
	add_out(st, "smsc0", "+33600000000", "ids reserved", 0);	/* a round trip of its own */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, NULL, 0, o, 8, &n, ctx), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	for (int claim = 1; claim >= 0; claim--) {
		f = open_memstream(&trace, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		PQtrace(db, f);
		PQsetTraceFlags(db, PQTRACE_SUPPRESS_TIMESTAMPS);
		CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
		add_out(st, "smsc0", "+33611111111", "un", 0);
		add_out(st, "smsc0", "+33622222222", "deux", 0);
		if (claim) {
			CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 0, o, 8, &n,
									 ctx), 0);
		} else {
			n = st->ops->outbound_due(st, "smsc0", 0, o, 8, ctx);
			for (int i = 0; i < n; i++)
				CU_ASSERT_EQUAL(st->ops->outbound_taken(st, o[i].id), 0);
		}
		CU_ASSERT_EQUAL(st->ops->commit(st), 0);
		CU_ASSERT_EQUAL(n, 2);
		PQuntrace(db);
		fclose(f);
		CU_ASSERT_EQUAL(trips_of(trace), claim ? 1 : 2);
		free(trace);
		trace = NULL;
	}
	st->ops->close(st);
	talloc_free(ctx);
}

/* A host's outbox ids come in blocks (one nextval each); in a transaction the next block
 * is asked for ahead, its answer read with the commit's round trip: group writes that add
 * replies past the end of a block wait for no nextval of their own. Ids keep growing, also
 * when one transaction uses up a block and the one asked for ahead. */
static void test_pg_outbound_ids_ahead(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_outbound o[16];
	char *trace = NULL;
	size_t len = 0;
	int64_t last, id;
	int n = -1;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->outbound_take_at_commit);
	PGconn *db = pg_of(st)->db;
	last = add_out(st, "smsc0", "+33600000000", "ids reserved", 0);
	f = open_memstream(&trace, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	PQtrace(db, f);
	PQsetTraceFlags(db, PQTRACE_SUPPRESS_TIMESTAMPS);
	/* 8 group writes of 10 replies each: past the first block of 64. */
	for (int w = 0; w < 8; w++) {
		CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
		for (int i = 0; i < 10; i++) {
			id = add_out(st, "smsc0", "+33611111111", "x", 0);
			CU_ASSERT(id > last);
			last = id;
		}
		CU_ASSERT_EQUAL(st->ops->outbound_take_at_commit(st, "smsc0", 0, o, 16, &n, ctx), 0);
		CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
		CU_ASSERT_EQUAL(n, w ? 10 : 11);
	}
	PQuntrace(db);
	fclose(f);
	CU_ASSERT_EQUAL(trips_of(trace), 8);
	free(trace);
	/* One transaction using up more than a block and the one asked for ahead. */
	for (int w = 0; w < 2; w++) {
		CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
		for (int i = 0; i < 150; i++) {
			id = add_out(st, "smsc0", "+33611111111", "x", 0);
			CU_ASSERT(id > last);
			last = id;
		}
		CU_ASSERT_EQUAL_FATAL(st->ops->commit(st), 0);
	}
	/* A rolled-back transaction keeps the block it asked for: ids still grow. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	for (int i = 0; i < 60; i++)
		add_out(st, "smsc0", "+33611111111", "x", 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT(add_out(st, "smsc0", "+33611111111", "x", 0) > last);
	CU_ASSERT_EQUAL(counters(st).outbound_pending, 1 + 80 + 300 + 1);
	st->ops->close(st);
	talloc_free(ctx);
}

/* The claim, the conditional NOTIFY and the check of received texts go through indexes
 * even before any ANALYZE (a new database: generic plans without statistics). */
static void test_pg_take_at_commit_plan(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	PGconn *c;
	PGresult *r;
	char sql[1024];

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	c = PQconnectdb(pg_url);
	PQclear(pg_exec_ok(c, "INSERT INTO outbound(via, recipient, body, coding, parts, state,"
			   " created) SELECT 'opx', '+33', 'x', 0, 1, CASE WHEN g < 2990 THEN 'sent'"
			   " ELSE 'queued' END, 1 FROM generate_series(1, 3000) g;"
			   "SET plan_cache_mode = force_generic_plan"));
	snprintf(sql, sizeof(sql), "PREPARE claim AS %s", pg_claim_sql());
	PQclear(pg_exec_ok(c, sql));
	r = pg_exec_ok(c, "EXPLAIN EXECUTE claim('opx', 0, 10, 1)");
	bool seq = false, index = false;
	for (int i = 0; i < PQntuples(r); i++) {
		seq |= strstr(PQgetvalue(r, i, 0), "Seq Scan") != NULL;
		index |= strstr(PQgetvalue(r, i, 0), "Index Scan") != NULL;
	}
	CU_ASSERT_FALSE(seq);
	CU_ASSERT_TRUE(index);
	PQclear(r);
	/* The check of received texts probes the dedup key's index (as EXISTS in the select
	 * list it read the whole table: a hashed subplan). */
	PQclear(pg_exec_ok(c, "INSERT INTO inbound(channel, via, sender, body, received, dedup,"
			   " done) SELECT 1, 'opx', '+33', 'x', 1, 'k' || g, true"
			   " FROM generate_series(1, 3000) g"));
	snprintf(sql, sizeof(sql), "PREPARE check_in AS %s", pg_inbound_check_sql());
	PQclear(pg_exec_ok(c, sql));
	r = pg_exec_ok(c, "EXPLAIN EXECUTE check_in('{opx,opx}', '{k1,new}')");
	seq = index = false;
	for (int i = 0; i < PQntuples(r); i++) {
		seq |= strstr(PQgetvalue(r, i, 0), "Seq Scan") != NULL;
		index |= strstr(PQgetvalue(r, i, 0), "Index Scan using inbound_dedup") != NULL;
	}
	CU_ASSERT_FALSE(seq);
	CU_ASSERT_TRUE(index);
	PQclear(r);
	PQfinish(c);
	st->ops->close(st);
	talloc_free(ctx);
}

/* The day's spend added up over the hosts (spend_get's callback). */
static void spend_sum(void *data, const char *via, uint64_t parts)
{
	CU_ASSERT_STRING_EQUAL(via, "m1");
	*(uint64_t *)data += parts;
}

static uint64_t spend_of(struct store *st, int64_t day)
{
	uint64_t n = 0;

	CU_ASSERT_EQUAL(st->ops->spend_get(st, day, spend_sum, &n), 0);
	return n;
}

/* Two hosts add to the day's spend of one transport in transactions open at once: neither
 * waits for the other's commit (a row per host), and the day's spend is their sum. A
 * database from before (one row per day and transport) keeps its figures. */
static void test_pg_spend_two_hosts(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	char err[256];
	PGconn *db;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	/* Waiting for a's row would be waiting forever here (one thread): fail instead. */
	PQclear(PQexec(pg_of(b)->db, "SET lock_timeout = '1s'"));
	CU_ASSERT_EQUAL_FATAL(a->ops->begin(a), 0);
	CU_ASSERT_EQUAL(a->ops->spend_add(a, 100, "m1", 2), 0);
	CU_ASSERT_EQUAL(spend_of(a, 100), 2);	/* a's row written, a's transaction open */
	CU_ASSERT_EQUAL_FATAL(b->ops->begin(b), 0);
	CU_ASSERT_EQUAL(b->ops->spend_add(b, 100, "m1", 3), 0);
	CU_ASSERT_EQUAL(b->ops->commit(b), 0);
	CU_ASSERT_EQUAL(a->ops->commit(a), 0);
	CU_ASSERT_EQUAL(spend_of(a, 100), 5);
	CU_ASSERT_EQUAL(spend_of(b, 100), 5);
	CU_ASSERT_EQUAL(a->ops->spend_add(a, 100, "m1", 1), 0);	/* outside a transaction */
	CU_ASSERT_EQUAL(spend_of(b, 100), 6);
	CU_ASSERT_EQUAL(spend_of(b, 99), 0);
	a->ops->close(a);
	b->ops->close(b);

	/* Schema version 5: one row per day and transport. */
	db = PQconnectdb(pg_url);
	PQclear(PQexec(db, "DROP TABLE spend"));
	PQclear(PQexec(db, "CREATE TABLE spend (day BIGINT NOT NULL, via TEXT NOT NULL,"
		       " parts BIGINT NOT NULL, PRIMARY KEY (day, via))"));
	PQclear(PQexec(db, "INSERT INTO spend VALUES (100, 'm1', 40)"));
	PQclear(PQexec(db, "UPDATE schema_version SET version = 5"));
	PQfinish(db);
	a = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(spend_of(a, 100), 40);
	CU_ASSERT_EQUAL(a->ops->spend_add(a, 100, "m1", 2), 0);
	CU_ASSERT_EQUAL(spend_of(a, 100), 42);
	a->ops->close(a);
	talloc_free(ctx);
}

/* A database written by a newer guichetd is refused with a reason. */
static void test_pg_schema_newer(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	char err[256];
	PGconn *db;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	st->ops->close(st);
	db = PQconnectdb(pg_url);
	PQclear(PQexec(db, "UPDATE schema_version SET version = version + 1"));
	PQfinish(db);
	st = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "newer"));
	talloc_free(ctx);
}

/* USSD aggregator dialogues shared between hosts: a put goes only further than the stored
 * step (a stale host loses), expired rows are as if absent and swept, a host drops only the
 * state it knows. SQLite has none of it (one host needs no shared state). */
static int ussd_put(struct store *st, const char *id, const char *history, int64_t step,
		    int64_t expires_at, int64_t now)
{
	/* Bytes, a NUL among them: the session blob is stored as it is. */
	static const char blob[] = { 'S', 0, 'x', (char)0xff, 'y' };
	struct store_ussd u = {
		.id = id, .via = "http", .from = "+33611111111", .code = "*123#",
		.history = history, .session = blob, .session_len = sizeof(blob),
		.step = step, .expires_at = expires_at,
	};

	return st->ops->ussd_put(st, &u, now);
}

static void test_ussd_shared(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *st = store_open(ctx);
	struct store_ussd u;
	const int64_t now = 1700000000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	if (use_sqlite) {
		CU_ASSERT_PTR_NULL(st->ops->ussd_put);
		CU_ASSERT_PTR_NULL(st->ops->ussd_get);
		st->ops->close(st);
		talloc_free(ctx);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(st->ops->ussd_put);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s1", now, &u, ctx), 1);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "", 1, now + 180, now), 0);
	CU_ASSERT_EQUAL_FATAL(st->ops->ussd_get(st, "http:s1", now, &u, ctx), 0);
	CU_ASSERT_STRING_EQUAL(u.id, "http:s1");
	CU_ASSERT_STRING_EQUAL(u.via, "http");
	CU_ASSERT_STRING_EQUAL(u.from, "+33611111111");
	CU_ASSERT_STRING_EQUAL(u.code, "*123#");
	CU_ASSERT_STRING_EQUAL(u.history, "");
	CU_ASSERT_EQUAL_FATAL(u.session_len, 5);
	CU_ASSERT_EQUAL(memcmp(u.session, "S\0x\xffy", 5), 0);
	CU_ASSERT_EQUAL(u.session[5], '\0');
	CU_ASSERT_EQUAL(u.step, 1);
	CU_ASSERT_EQUAL(u.expires_at, now + 180);

	/* Step 2 from the state of step 1, then another host's step 2 from the same state:
	 * refused, the first one stays. */
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "1", 2, now + 190, now + 10), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "2", 2, now + 190, now + 10), 1);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "", 1, now + 190, now + 10), 0);
	/* ... which was a dialogue id used again: it begins anew at step 1. */
	CU_ASSERT_EQUAL_FATAL(st->ops->ussd_get(st, "http:s1", now + 10, &u, ctx), 0);
	CU_ASSERT_EQUAL(u.step, 1);
	CU_ASSERT_STRING_EQUAL(u.history, "");
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "1", 2, now + 190, now + 10), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "1*4", 3, now + 200, now + 20), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s1", "2", 2, now + 200, now + 20), 1);
	CU_ASSERT_EQUAL_FATAL(st->ops->ussd_get(st, "http:s1", now + 20, &u, ctx), 0);
	CU_ASSERT_EQUAL(u.step, 3);
	CU_ASSERT_STRING_EQUAL(u.history, "1*4");

	/* A host that knew step 2 ends only what it knew: step 3 stays. */
	CU_ASSERT_EQUAL(st->ops->ussd_drop(st, "http:s1", 2), 1);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s1", now + 20, &u, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->ussd_drop(st, "http:s1", 3), 0);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s1", now + 20, &u, ctx), 1);
	CU_ASSERT_EQUAL(st->ops->ussd_drop(st, "http:s1", 3), 1);

	/* Expired: as if absent, for get and for a put that does not go further. */
	CU_ASSERT_EQUAL(ussd_put(st, "http:s2", "1*2", 4, now + 50, now), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s3", "", 1, now + 500, now), 0);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s2", now + 49, &u, ctx), 0);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s2", now + 50, &u, ctx), 1);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s2", "9", 2, now + 40, now + 20), 1);
	CU_ASSERT_EQUAL(st->ops->ussd_sweep(st, now + 50), 1);
	CU_ASSERT_EQUAL(st->ops->ussd_sweep(st, now + 50), 0);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s3", now + 50, &u, ctx), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s3", "1", 2, now + 40, now + 30), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s3", "2", 2, now + 600, now + 40), 0);

	/* Inside a transaction it is part of it. */
	CU_ASSERT_EQUAL_FATAL(st->ops->begin(st), 0);
	CU_ASSERT_EQUAL(ussd_put(st, "http:s4", "", 1, now + 100, now), 0);
	CU_ASSERT_EQUAL(st->ops->rollback(st), 0);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s4", now, &u, ctx), 1);
	st->ops->close(st);
	talloc_free(ctx);
}

/* Two hosts: what one puts outside a transaction the other gets at once; the one that
 * continues from a state the other has gone past is refused. */
static void test_pg_ussd_two_hosts(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct store *a = store_open(ctx), *b;
	struct store_ussd u;
	char err[256];
	const int64_t now = 1700000000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = store_pg_open(ctx, pg_url, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(ussd_put(a, "http:s1", "", 1, now + 180, now), 0);
	CU_ASSERT_EQUAL_FATAL(b->ops->ussd_get(b, "http:s1", now, &u, ctx), 0);
	CU_ASSERT_EQUAL(u.step, 1);
	CU_ASSERT_EQUAL(ussd_put(b, "http:s1", "1", 2, now + 180, now), 0);
	CU_ASSERT_EQUAL(ussd_put(a, "http:s1", "2", 2, now + 180, now), 1);
	CU_ASSERT_EQUAL_FATAL(a->ops->ussd_get(a, "http:s1", now, &u, ctx), 0);
	CU_ASSERT_STRING_EQUAL(u.history, "1");
	CU_ASSERT_EQUAL(a->ops->ussd_drop(a, "http:s1", 2), 0);
	CU_ASSERT_EQUAL(b->ops->ussd_get(b, "http:s1", now, &u, ctx), 1);
	a->ops->close(a);
	b->ops->close(b);
	talloc_free(ctx);
}

/* --- running --- */

#define SHARED_TESTS(s) do {							\
	CU_add_test(s, "inbound add, duplicate, done, pending", test_inbound);	\
	CU_add_test(s, "inbound pending callback uses the store", test_inbound_reentrant); \
	CU_add_test(s, "inbound forget: a secret answer's body and key", test_inbound_forget); \
	CU_add_test(s, "outbound due, taken, sent, failed, give up", test_outbound); \
	CU_add_test(s, "restart requeues taken, counts duplicates", test_restart_taken); \
	CU_add_test(s, "sessions put, get, del, each", test_sessions);		\
	CU_add_test(s, "purge", test_purge);					\
	CU_add_test(s, "rollback leaves nothing", test_rollback);		\
	CU_add_test(s, "errors", test_errors);					\
	CU_add_test(s, "SMSC remote ids: per transport, restart, rollback, purge", \
		    test_remote_ids);						\
	CU_add_test(s, "USSD dialogues shared: steps, expiry, drop, sweep", test_ussd_shared); \
} while (0)

int main(void)
{
	CU_pSuite s;

	root = talloc_named_const(NULL, 0, "test_store");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("store_mem", suite_mem, NULL);
	SHARED_TESTS(s);
	s = CU_add_suite("store_sqlite", suite_sqlite, NULL);
	SHARED_TESTS(s);
	CU_add_test(s, "file and directory modes", test_file_mode);
	CU_add_test(s, "reopen keeps what was committed", test_reopen_keeps);
	CU_add_test(s, "sent forgets body and number", test_sent_forgets_body);
	CU_add_test(s, "schema version and damaged rows", test_schema_and_damage);
	CU_add_test(s, "damaged page refused at open and by the check", test_damaged_page);
	CU_add_test(s, "file removed under an open store", test_verify_removed);
	s = CU_add_suite("store_pg", suite_pg, suite_pg_end);
	SHARED_TESTS(s);
	CU_add_test(s, "two hosts: outbox claimed once, a stopped host's rows return",
		    test_pg_two_hosts);
	CU_add_test(s, "two hosts: each scheduled message read by one", test_pg_schedule_once);
	CU_add_test(s, "two hosts: a restart leaves a live host's waits alone; a gone host's "
		    "are swept once",
		    test_pg_waiting_owner);
	CU_add_test(s, "two hosts: a deadlock is a conflict, worth running again",
		    test_pg_deadlock);
	CU_add_test(s, "two hosts: work left for the other host wakes it (NOTIFY)",
		    test_pg_notify);
	CU_add_test(s, "a pipelined write that fails fails the transaction",
		    test_pg_pipeline_failure);
	CU_add_test(s, "a group write's received messages added in one round trip",
		    test_pg_inbound_ahead);
	CU_add_test(s, "a secret answer never reaches the server", test_pg_secret_never_sent);
	CU_add_test(s, "more texts than one check, one twice, oversized, literal syntax",
		    test_pg_inbound_ahead_oversized);
	CU_add_test(s, "two hosts adding one text at once: a conflict, then a duplicate",
		    test_pg_inbound_race);
	CU_add_test(s, "a reply added and taken in one transaction is written once",
		    test_pg_take_at_commit_added_taken);
	CU_add_test(s, "a transaction's sessions written in one statement per kind",
		    test_pg_batched_sessions);
	CU_add_test(s, "a transaction's writes of one kind in one statement",
		    test_pg_batched_writes);
	CU_add_test(s, "writes gathered by id use the primary key before any ANALYZE",
		    test_pg_batched_plan);
	CU_add_test(s, "two hosts: the day's spend adds up without waiting for each other",
		    test_pg_spend_two_hosts);
	CU_add_test(s, "the outbox claimed by the commit: taken and given after it, none at a "
		    "rollback", test_pg_take_at_commit);
	CU_add_test(s, "the outbox claimed by the commit: given oldest first",
		    test_pg_take_at_commit_order);
	CU_add_test(s, "two hosts: the outbox claimed by their commits, each row once",
		    test_pg_take_at_commit_two_hosts);
	CU_add_test(s, "two hosts: a claim at commit leaving rows queued wakes the other",
		    test_pg_take_at_commit_notify);
	CU_add_test(s, "the claim at commit costs no round trip of its own",
		    test_pg_take_at_commit_trips);
	CU_add_test(s, "outbox ids: the next block asked for ahead, no round trip of its own",
		    test_pg_outbound_ids_ahead);
	CU_add_test(s, "the claim at commit uses the indexes before any ANALYZE",
		    test_pg_take_at_commit_plan);
	CU_add_test(s, "schema newer than the program refused", test_pg_schema_newer);
	CU_add_test(s, "two hosts: a USSD dialogue's state, shared; a stale host refused",
		    test_pg_ussd_two_hosts);
	return store_suites_run(s, root, tmpdir);
}
