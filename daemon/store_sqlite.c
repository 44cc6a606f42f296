/* The durable store on SQLite: WAL, synchronous=FULL, one file created 0600 in a 0700
 * directory.
 *
 * Every statement is prepared once, on first use, and kept (SQLITE_PREPARE_PERSISTENT): the
 * router runs four of them per message. Readers that hand rows to a callback copy the rows
 * first and reset their statement, so the callback may use the store. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <osmocom/core/talloc.h>

#include "guichet/store.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000

enum sq_stmt {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
	Q_IN_ADD, Q_IN_DONE, Q_IN_FORGET, Q_IN_PENDING,
	Q_OUT_ADD, Q_OUT_DUE, Q_OUT_TAKEN, Q_OUT_SENT, Q_OUT_FAILED, Q_OUT_DEAD,
	Q_SESS_GET, Q_SESS_PUT, Q_SESS_DEL, Q_SESS_EACH,
	Q_PURGE_IN, Q_PURGE_OUT, Q_PURGE_SESS,
	Q_COUNTERS,
	Q_SPEND_ADD, Q_SPEND_GET, Q_PURGE_SPEND,
	Q_N
};

/* The schedule's statements (sq_sched_sql, with its functions below). */
enum sq_sched_stmt {
	S_ADD, S_BY_KEY, S_GET, S_DUE, S_NEXT, S_MARK, S_OUT_STATUS, S_CANCEL, S_CANCEL_REF,
	S_OPT_SET, S_OPT_CLEAR, S_OPT_IS, S_PURGE, S_REMOTE_ADD, S_REMOTE_GET, S_REMOTE_PURGE,
	S_N
};

static const char *const sq_sql[Q_N] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_IN_ADD] = "INSERT INTO inbound(channel, via, sender, body, received, dedup, done)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)"
		     " ON CONFLICT (via, dedup) WHERE dedup IS NOT NULL DO NOTHING",
	[Q_IN_DONE] = "UPDATE inbound SET done = 1 WHERE id = ?1",
	[Q_IN_FORGET] = "UPDATE inbound SET body = NULL, dedup = NULL WHERE id = ?1",
	[Q_IN_PENDING] = "SELECT id, channel, via, sender, body, received, dedup FROM inbound"
			 " WHERE done = 0 ORDER BY id",
	[Q_OUT_ADD] = "INSERT INTO outbound(via, recipient, body, coding, parts, attempts,"
		      " not_before_ms, state, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)",
	[Q_OUT_DUE] = "SELECT id, via, recipient, body, coding, parts, attempts, not_before_ms"
		      " FROM outbound WHERE state = 'queued' AND not_before_ms <= ?2"
		      " AND (?1 IS NULL OR via = ?1) ORDER BY id LIMIT ?3",
	[Q_OUT_TAKEN] = "UPDATE outbound SET state = 'taken', attempts = attempts + 1"
			" WHERE id = ?1 AND state = 'queued'",
	[Q_OUT_SENT] = "UPDATE outbound SET state = 'sent', body = NULL, recipient = NULL"
		       " WHERE id = ?1 AND state IN ('queued', 'taken')",
	[Q_OUT_FAILED] = "UPDATE outbound SET state = 'queued', not_before_ms = ?2"
			 " WHERE id = ?1 AND state IN ('queued', 'taken')",
	[Q_OUT_DEAD] = "UPDATE outbound SET state = 'dead'"
		       " WHERE id = ?1 AND state IN ('queued', 'taken')",
	[Q_SESS_GET] = "SELECT data FROM sessions WHERE key = ?1",
	[Q_SESS_PUT] = "INSERT INTO sessions(key, data, deadline) VALUES (?1, ?2, ?3)"
		       " ON CONFLICT (key) DO UPDATE SET data = excluded.data,"
		       " deadline = excluded.deadline",
	[Q_SESS_DEL] = "DELETE FROM sessions WHERE key = ?1",
	[Q_SESS_EACH] = "SELECT key, data FROM sessions ORDER BY key",
	[Q_PURGE_IN] = "DELETE FROM inbound WHERE done = 1 AND received < ?1",
	[Q_PURGE_OUT] = "DELETE FROM outbound WHERE state IN ('sent', 'dead') AND created < ?1",
	[Q_PURGE_SESS] = "DELETE FROM sessions WHERE deadline > 0 AND deadline < ?1",
	[Q_COUNTERS] = "SELECT (SELECT count(*) FROM inbound WHERE done = 0),"
		       " (SELECT count(*) FROM outbound WHERE state IN ('queued', 'taken')),"
		       " (SELECT count(*) FROM sessions),"
		       " (SELECT value FROM meta WHERE name = 'duplicate_sends')",
	[Q_SPEND_ADD] = "INSERT INTO spend(day, via, parts) VALUES (?1, ?2, ?3)"
			" ON CONFLICT (day, via) DO UPDATE SET parts = parts + excluded.parts",
	[Q_SPEND_GET] = "SELECT via, parts FROM spend WHERE day = ?1 ORDER BY via",
	[Q_PURGE_SPEND] = "DELETE FROM spend WHERE day < ?1",
};

/* The cost guard's spend (added after schema 1; created at open when missing, so that a
 * store written by an older version keeps working). */
static const char schema_spend[] =
	"CREATE TABLE IF NOT EXISTS spend ("
	" day INTEGER NOT NULL,"
	" via TEXT NOT NULL,"
	" parts INTEGER NOT NULL,"
	" PRIMARY KEY (day, via)) WITHOUT ROWID;";

static const char schema_v1[] =
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO meta(name, value) VALUES ('duplicate_sends', 0);"
	"CREATE TABLE inbound ("
	" id INTEGER PRIMARY KEY,"
	" channel INTEGER NOT NULL,"
	" via TEXT NOT NULL,"
	" sender TEXT,"
	" body TEXT,"
	" received INTEGER NOT NULL,"
	" dedup TEXT,"
	" done INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX inbound_dedup ON inbound(via, dedup) WHERE dedup IS NOT NULL;"
	"CREATE INDEX inbound_done ON inbound(done);"
	"CREATE TABLE outbound ("
	" id INTEGER PRIMARY KEY,"
	" via TEXT NOT NULL,"
	" recipient TEXT,"
	" body TEXT,"
	" coding INTEGER NOT NULL,"
	" parts INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" not_before_ms INTEGER NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL CHECK (state IN ('queued', 'taken', 'sent', 'dead')),"
	" created INTEGER NOT NULL);"
	"CREATE INDEX outbound_state ON outbound(state, not_before_ms);"
	"CREATE TABLE sessions ("
	" key TEXT PRIMARY KEY,"
	" data BLOB NOT NULL,"
	" deadline INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX sessions_deadline ON sessions(deadline) WHERE deadline > 0;"
	"PRAGMA user_version = 1;";

struct sq {
	sqlite3 *db;
	sqlite3_stmt *stmt[Q_N];
	sqlite3_stmt *sched[S_N];
	char err[256];
	char *path;
	dev_t dev;		/* the file opened: a file removed or replaced under us differs */
	ino_t ino;
	bool lost;
};

static struct sq *sq_of(struct store *st)
{
	return st->priv;
}

static int sq_fail(struct sq *q, const char *what)
{
	bool full = q->db && (sqlite3_errcode(q->db) & 0xff) == SQLITE_FULL;

	snprintf(q->err, sizeof(q->err), "%s%s: %s", full ? "store full: " : "", what,
		 q->db ? sqlite3_errmsg(q->db) : "no database");
	return -1;
}

static void sq_lost(struct sq *q)
{
	snprintf(q->err, sizeof(q->err), "%s was removed or replaced while in use", q->path);
}

static sqlite3_stmt *sq_stmt(struct sq *q, enum sq_stmt i)
{
	if (!q->stmt[i] &&
	    sqlite3_prepare_v3(q->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->stmt[i], NULL)
	    != SQLITE_OK) {
		sq_fail(q, "prepare");
		q->stmt[i] = NULL;
	}
	return q->stmt[i];
}

/* Runs a statement that returns no rows; returns the number of rows changed or -1. */
static int sq_done(struct sq *q, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE) {
		sq_fail(q, what);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return sqlite3_changes(q->db);
}

static int sq_exec1(struct sq *q, enum sq_stmt i, const char *what)
{
	sqlite3_stmt *s = sq_stmt(q, i);

	if (!s)
		return -1;
	return sq_done(q, s, what) < 0 ? -1 : 0;
}

static int bind_text(sqlite3_stmt *s, int i, const char *t)
{
	return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* --- transactions --- */

static int sq_begin(struct store *st)
{
	struct sq *q = sq_of(st);

	if (q->lost) {
		sq_lost(q);
		return -1;
	}
	return sq_exec1(q, Q_BEGIN, "begin");
}

static int sq_commit(struct store *st)
{
	return sq_exec1(sq_of(st), Q_COMMIT, "commit");
}

static int sq_rollback(struct store *st)
{
	struct sq *q = sq_of(st);

	/* Some errors (disk full, I/O) already rolled the transaction back. */
	if (sqlite3_get_autocommit(q->db))
		return 0;
	return sq_exec1(q, Q_ROLLBACK, "rollback");
}

/* --- inbound --- */

static int sq_inbound_add(struct store *st, struct store_inbound *in)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_IN_ADD);
	int n;

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, in->channel);
	bind_text(s, 2, in->via);
	bind_text(s, 3, in->from);
	bind_text(s, 4, in->text);
	sqlite3_bind_int64(s, 5, in->received);
	bind_text(s, 6, in->dedup);
	n = sq_done(q, s, "inbound_add");
	if (n < 0)
		return -1;
	if (n == 0)
		return 1;
	in->id = sqlite3_last_insert_rowid(q->db);
	return 0;
}

static int sq_inbound_done(struct store *st, int64_t id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_IN_DONE);
	int n;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	n = sq_done(q, s, "inbound_done");
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int sq_inbound_forget(struct store *st, int64_t id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_IN_FORGET);
	int n;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	n = sq_done(q, s, "inbound_forget");
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

/* A copy of column i under ctx; NULL only when the column is NULL. */
static char *col_text(void *ctx, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? talloc_strdup(ctx, (const char *)t) : NULL;
}

/* A copy of column i under ctx, "" for NULL; NULL only when memory runs out. */
static char *col_text_nn(void *ctx, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return talloc_strdup(ctx, t ? (const char *)t : "");
}

static int sq_inbound_pending(struct store *st,
			      void (*fn)(void *data, const struct store_inbound *in), void *data)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_IN_PENDING);
	void *tmp;
	struct store_inbound *rows = NULL;
	size_t n = 0, cap = 0, i;
	int rc;

	if (!s)
		return -1;
	tmp = talloc_named_const(NULL, 0, "inbound_pending");
	if (!tmp)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_inbound *in;

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			rows = talloc_realloc(tmp, rows, struct store_inbound, cap);
			if (!rows) {
				snprintf(q->err, sizeof(q->err), "inbound_pending: out of memory");
				goto fail;
			}
		}
		in = &rows[n++];
		in->id = sqlite3_column_int64(s, 0);
		in->channel = (enum channel)sqlite3_column_int(s, 1);
		in->via = col_text_nn(tmp, s, 2);
		in->from = col_text_nn(tmp, s, 3);
		in->text = col_text_nn(tmp, s, 4);
		in->received = sqlite3_column_int64(s, 5);
		in->dedup = col_text(tmp, s, 6);
		if (!in->via || !in->from || !in->text ||
		    (!in->dedup && sqlite3_column_type(s, 6) != SQLITE_NULL)) {
			snprintf(q->err, sizeof(q->err), "inbound_pending: out of memory");
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		sq_fail(q, "inbound_pending");
		goto fail;
	}
	sqlite3_reset(s);
	for (i = 0; i < n; i++)
		fn(data, &rows[i]);
	talloc_free(tmp);
	return 0;
fail:
	sqlite3_reset(s);
	talloc_free(tmp);
	return -1;
}

/* --- outbound --- */

static int sq_outbound_add(struct store *st, struct store_outbound *out)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_OUT_ADD);

	if (!s)
		return -1;
	bind_text(s, 1, out->via);
	bind_text(s, 2, out->to);
	bind_text(s, 3, out->text);
	sqlite3_bind_int(s, 4, out->coding);
	sqlite3_bind_int64(s, 5, out->parts);
	sqlite3_bind_int64(s, 6, out->attempts);
	sqlite3_bind_int64(s, 7, out->not_before);
	sqlite3_bind_int64(s, 8, (int64_t)time(NULL));
	if (sq_done(q, s, "outbound_add") < 0)
		return -1;
	out->id = sqlite3_last_insert_rowid(q->db);
	return 0;
}

static int sq_outbound_due(struct store *st, const char *via, int64_t now_ms,
			   struct store_outbound *out, unsigned max, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s;
	unsigned n = 0;
	int rc = SQLITE_DONE;

	if (max == 0)
		return 0;
	s = sq_stmt(q, Q_OUT_DUE);
	if (!s)
		return -1;
	bind_text(s, 1, via);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_outbound *o = &out[n++];

		o->id = sqlite3_column_int64(s, 0);
		o->via = col_text_nn(ctx, s, 1);
		o->to = col_text_nn(ctx, s, 2);
		o->text = col_text_nn(ctx, s, 3);
		o->coding = sqlite3_column_int(s, 4) == TEXT_UCS2 ? TEXT_UCS2 : TEXT_GSM7;
		o->parts = (unsigned)sqlite3_column_int64(s, 5);
		o->attempts = (unsigned)sqlite3_column_int64(s, 6);
		o->not_before = sqlite3_column_int64(s, 7);
		if (!o->via || !o->to || !o->text) {
			snprintf(q->err, sizeof(q->err), "outbound_due: out of memory");
			sqlite3_reset(s);
			return -1;
		}
	}
	if (n < max && rc != SQLITE_DONE) {
		sq_fail(q, "outbound_due");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return (int)n;
}

static int sq_outbound_change(struct store *st, enum sq_stmt i, int64_t id, int64_t arg,
			      const char *what)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, i);
	int n;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (i == Q_OUT_FAILED)
		sqlite3_bind_int64(s, 2, arg);
	n = sq_done(q, s, what);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int sq_outbound_taken(struct store *st, int64_t id)
{
	return sq_outbound_change(st, Q_OUT_TAKEN, id, 0, "outbound_taken");
}

static int sq_outbound_sent(struct store *st, int64_t id)
{
	return sq_outbound_change(st, Q_OUT_SENT, id, 0, "outbound_sent");
}

static int sq_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up)
{
	if (give_up)
		return sq_outbound_change(st, Q_OUT_DEAD, id, 0, "outbound_failed");
	return sq_outbound_change(st, Q_OUT_FAILED, id, not_before_ms, "outbound_failed");
}

/* --- sessions --- */

static int sq_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_SESS_GET);
	int rc;

	if (!s)
		return -1;
	bind_text(s, 1, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		sq_fail(q, "session_get");
		sqlite3_reset(s);
		return -1;
	}
	rc = session_decode(sess, ctx, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	sqlite3_reset(s);
	if (rc < 0) {
		snprintf(q->err, sizeof(q->err), "session_get: stored session does not decode");
		return -1;
	}
	return 0;
}

static int sq_session_put(struct store *st, const struct session *sess)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_SESS_PUT);
	size_t len;
	char *data;
	int rc;

	if (!s)
		return -1;
	data = session_encode(NULL, sess, &len);
	if (!data || len > INT_MAX) {
		talloc_free(data);
		snprintf(q->err, sizeof(q->err), "session_put: out of memory");
		return -1;
	}
	bind_text(s, 1, sess->key);
	sqlite3_bind_blob(s, 2, data, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, sess->deadline);
	rc = sq_done(q, s, "session_put");
	talloc_free(data);
	return rc < 0 ? -1 : 0;
}

static int sq_session_del(struct store *st, const char *key)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_SESS_DEL);
	int n;

	if (!s)
		return -1;
	bind_text(s, 1, key);
	n = sq_done(q, s, "session_del");
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

struct blob {
	char *key;
	void *data;
	size_t len;
};

static int sq_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
			   void *data, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_SESS_EACH);
	struct blob *rows = NULL;
	size_t n = 0, cap = 0, i, bad = 0;
	void *tmp;
	int rc;

	if (!s)
		return -1;
	tmp = talloc_named_const(NULL, 0, "session_each");
	if (!tmp)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct blob *b;

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			rows = talloc_realloc(tmp, rows, struct blob, cap);
			if (!rows)
				goto oom;
		}
		b = &rows[n];
		b->key = col_text(tmp, s, 0);
		b->len = (size_t)sqlite3_column_bytes(s, 1);
		b->data = talloc_memdup(tmp, sqlite3_column_blob(s, 1), b->len ? b->len : 1);
		if (!b->key || !b->data)
			goto oom;
		n++;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(q, "session_each");
		goto fail;
	}
	sqlite3_reset(s);
	for (i = 0; i < n; i++)
		if (session_decode_visit(ctx, rows[i].data, rows[i].len, fn, data) < 0)
			bad++;
	if (bad)
		snprintf(q->err, sizeof(q->err), "session_each: %zu stored sessions do not decode",
			 bad);
	talloc_free(tmp);
	return 0;
oom:
	snprintf(q->err, sizeof(q->err), "session_each: out of memory");
fail:
	sqlite3_reset(s);
	talloc_free(tmp);
	return -1;
}

/* --- the schedule and consent ---
 * Statements of their own (prepared on first use like the others), so this part reads on
 * its own. The due query and the next-time query run on a partial index of the open
 * messages by send_at: the daemon reads a bounded batch and one time, never the whole
 * schedule, however many messages wait. */

#define SCHED_COLS "id, recipient, body, via, flow, step, vars, send_at, not_after, reference," \
	" idem, origin, status, reason, created, outbound_id"
#define SCHED_OPEN "status IN ('queued', 'deferred')"

static const char *const sq_sched_sql[S_N] = {
	[S_ADD] = "INSERT INTO scheduled(recipient, body, via, flow, step, vars, send_at, not_after,"
		  " reference, idem, origin, status, reason, created, outbound_id)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0)"
		  " ON CONFLICT (idem) WHERE idem IS NOT NULL DO NOTHING",
	[S_BY_KEY] = "SELECT id FROM scheduled WHERE idem = ?1",
	[S_GET] = "SELECT " SCHED_COLS " FROM scheduled WHERE id = ?1",
	[S_DUE] = "SELECT " SCHED_COLS " FROM scheduled WHERE " SCHED_OPEN " AND send_at <= ?1"
		  " ORDER BY send_at, id LIMIT ?2",
	[S_NEXT] = "SELECT send_at FROM scheduled WHERE " SCHED_OPEN " ORDER BY send_at LIMIT 1",
	[S_MARK] = "UPDATE scheduled SET status = ?2, reason = ?3,"
		   " send_at = CASE WHEN ?4 > 0 THEN ?4 ELSE send_at END,"
		   " outbound_id = CASE WHEN ?5 > 0 THEN ?5 ELSE outbound_id END"
		   " WHERE id = ?1 AND " SCHED_OPEN,
	[S_OUT_STATUS] = "UPDATE scheduled SET status = ?2, reason = ?3"
			 " WHERE outbound_id = ?1 AND outbound_id > 0 AND status IN ('sent', 'delivered')",
	[S_CANCEL] = "UPDATE scheduled SET status = 'cancelled', reason = NULL"
		     " WHERE id = ?1 AND " SCHED_OPEN,
	[S_CANCEL_REF] = "UPDATE scheduled SET status = 'cancelled', reason = NULL"
			 " WHERE reference = ?1 AND (?2 IS NULL OR recipient = ?2) AND " SCHED_OPEN,
	[S_OPT_SET] = "INSERT INTO optout(number, since) VALUES (?1, ?2)"
		      " ON CONFLICT (number) DO NOTHING",
	[S_OPT_CLEAR] = "DELETE FROM optout WHERE number = ?1",
	[S_OPT_IS] = "SELECT 1 FROM optout WHERE number = ?1",
	[S_PURGE] = "UPDATE scheduled SET recipient = NULL, body = NULL, vars = NULL"
		    " WHERE status NOT IN ('queued', 'deferred') AND created < ?1"
		    " AND (recipient IS NOT NULL OR body IS NOT NULL OR vars IS NOT NULL)",
	[S_REMOTE_ADD] = "INSERT INTO remote_ids(via, remote, outbound_id, created)"
			 " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (via, remote) DO UPDATE SET"
			 " outbound_id = excluded.outbound_id, created = excluded.created",
	[S_REMOTE_GET] = "SELECT outbound_id FROM remote_ids WHERE via = ?1 AND remote = ?2",
	[S_REMOTE_PURGE] = "DELETE FROM remote_ids WHERE created < ?1",
};

/* Added after schema 1, created at open when missing (like spend). */
static const char schema_schedule[] =
	"CREATE TABLE IF NOT EXISTS scheduled ("
	" id INTEGER PRIMARY KEY,"
	" recipient TEXT,"
	" body TEXT,"
	" via TEXT,"
	" flow TEXT,"
	" step TEXT,"
	" vars TEXT,"
	" send_at INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL DEFAULT 0,"
	" reference TEXT,"
	" idem TEXT,"
	" origin TEXT NOT NULL CHECK (origin IN ('api', 'remind', 'receipt', 'notify')),"
	" status TEXT NOT NULL CHECK (status IN ('queued', 'deferred', 'sent', 'delivered',"
	"  'failed', 'expired', 'refused', 'cancelled')),"
	" reason TEXT,"
	" created INTEGER NOT NULL,"
	" outbound_id INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX IF NOT EXISTS scheduled_idem ON scheduled(idem) WHERE idem IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS scheduled_due ON scheduled(send_at) WHERE " SCHED_OPEN ";"
	"CREATE INDEX IF NOT EXISTS scheduled_ref ON scheduled(reference) WHERE reference IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS scheduled_out ON scheduled(outbound_id) WHERE outbound_id > 0;"
	"CREATE TABLE IF NOT EXISTS optout ("
	" number TEXT PRIMARY KEY,"
	" since INTEGER NOT NULL) WITHOUT ROWID;"
	/* The SMSC's id of each part sent (submit_sm_resp): a delivery receipt that comes after
	 * a restart still finds its message. */
	"CREATE TABLE IF NOT EXISTS remote_ids ("
	" via TEXT NOT NULL,"
	" remote TEXT NOT NULL,"
	" outbound_id INTEGER NOT NULL,"
	" created INTEGER NOT NULL,"
	" PRIMARY KEY (via, remote)) WITHOUT ROWID;";

static sqlite3_stmt *sq_sched_stmt(struct sq *q, enum sq_sched_stmt i)
{
	if (!q->sched[i] &&
	    sqlite3_prepare_v3(q->db, sq_sched_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->sched[i],
			       NULL) != SQLITE_OK) {
		sq_fail(q, "prepare");
		q->sched[i] = NULL;
	}
	return q->sched[i];
}

static int sq_schedule_add(struct store *st, struct store_scheduled *m)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_ADD);
	int n, rc;

	if (!s)
		return -1;
	bind_text(s, 1, m->to);
	bind_text(s, 2, m->text);
	bind_text(s, 3, m->via);
	bind_text(s, 4, m->flow);
	bind_text(s, 5, m->step);
	bind_text(s, 6, m->vars);
	sqlite3_bind_int64(s, 7, m->send_at);
	sqlite3_bind_int64(s, 8, m->not_after);
	bind_text(s, 9, m->reference);
	bind_text(s, 10, m->idempotency_key);
	bind_text(s, 11, sched_origin_name(m->origin));
	bind_text(s, 12, sched_status_name(m->status));
	bind_text(s, 13, m->reason);
	m->created = (int64_t)time(NULL);
	sqlite3_bind_int64(s, 14, m->created);
	n = sq_done(q, s, "schedule_add");
	if (n < 0)
		return -1;
	if (n > 0) {
		m->id = sqlite3_last_insert_rowid(q->db);
		return 0;
	}
	s = sq_sched_stmt(q, S_BY_KEY);
	if (!s)
		return -1;
	bind_text(s, 1, m->idempotency_key);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sq_fail(q, "schedule_add: the existing key");
		sqlite3_reset(s);
		return -1;
	}
	m->id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 1;
}

/* Reads the SCHED_COLS of the current row into m, strings under ctx. */
static int sched_row(sqlite3_stmt *s, struct store_scheduled *m, void *ctx)
{
	int st, org;

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(s, 0);
	m->to = col_text(ctx, s, 1);
	m->text = col_text(ctx, s, 2);
	m->via = col_text(ctx, s, 3);
	m->flow = col_text(ctx, s, 4);
	m->step = col_text(ctx, s, 5);
	m->vars = col_text(ctx, s, 6);
	m->send_at = sqlite3_column_int64(s, 7);
	m->not_after = sqlite3_column_int64(s, 8);
	m->reference = col_text(ctx, s, 9);
	m->idempotency_key = col_text(ctx, s, 10);
	org = sched_origin_parse((const char *)sqlite3_column_text(s, 11));
	st = sched_status_parse((const char *)sqlite3_column_text(s, 12));
	m->origin = org < 0 ? SCHED_API : (enum sched_origin)org;
	m->status = st < 0 ? SCHED_FAILED : (enum sched_status)st;
	m->reason = col_text(ctx, s, 13);
	m->created = sqlite3_column_int64(s, 14);
	m->outbound_id = sqlite3_column_int64(s, 15);
	if ((sqlite3_column_type(s, 1) != SQLITE_NULL && !m->to) ||
	    (sqlite3_column_type(s, 2) != SQLITE_NULL && !m->text) ||
	    (sqlite3_column_type(s, 3) != SQLITE_NULL && !m->via) ||
	    (sqlite3_column_type(s, 4) != SQLITE_NULL && !m->flow) ||
	    (sqlite3_column_type(s, 5) != SQLITE_NULL && !m->step) ||
	    (sqlite3_column_type(s, 6) != SQLITE_NULL && !m->vars) ||
	    (sqlite3_column_type(s, 9) != SQLITE_NULL && !m->reference) ||
	    (sqlite3_column_type(s, 10) != SQLITE_NULL && !m->idempotency_key) ||
	    (sqlite3_column_type(s, 13) != SQLITE_NULL && !m->reason))
		return -1;
	return 0;
}

static int sq_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_GET);
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		sq_fail(q, "schedule_get");
		sqlite3_reset(s);
		return -1;
	}
	rc = sched_row(s, m, ctx);
	sqlite3_reset(s);
	if (rc < 0) {
		snprintf(q->err, sizeof(q->err), "schedule_get: out of memory");
		return -1;
	}
	return 0;
}

static int sq_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
			   unsigned max, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s;
	unsigned n = 0;
	int rc = SQLITE_DONE;

	if (max == 0)
		return 0;
	s = sq_sched_stmt(q, S_DUE);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sched_row(s, &out[n++], ctx) < 0) {
			snprintf(q->err, sizeof(q->err), "schedule_due: out of memory");
			sqlite3_reset(s);
			return -1;
		}
	}
	if (n < max && rc != SQLITE_DONE) {
		sq_fail(q, "schedule_due");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return (int)n;
}

static int sq_schedule_next(struct store *st, int64_t *when_ms)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_NEXT);
	int rc;

	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*when_ms = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		sq_fail(q, "schedule_next");
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* Runs an update of the schedule; 0 when it changed a row, 1 when none, -1 on error. */
static int sched_change(struct sq *q, sqlite3_stmt *s, const char *what)
{
	int n = sq_done(q, s, what);

	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int sq_schedule_mark(struct store *st, int64_t id, enum sched_status status,
			    const char *reason, int64_t send_at_ms, int64_t outbound_id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_MARK);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, sched_status_name(status));
	bind_text(s, 3, reason);
	sqlite3_bind_int64(s, 4, send_at_ms);
	sqlite3_bind_int64(s, 5, outbound_id);
	return sched_change(q, s, "schedule_mark");
}

static int sq_schedule_outbound_status(struct store *st, int64_t outbound_id,
				       enum sched_status status, const char *reason)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_OUT_STATUS);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, outbound_id);
	bind_text(s, 2, sched_status_name(status));
	bind_text(s, 3, reason);
	return sched_change(q, s, "schedule_outbound_status");
}

static int sq_schedule_cancel(struct store *st, int64_t id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_CANCEL);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return sched_change(q, s, "schedule_cancel");
}

static int sq_schedule_cancel_ref(struct store *st, const char *reference, const char *to)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_CANCEL_REF);

	if (!s)
		return -1;
	bind_text(s, 1, reference);
	bind_text(s, 2, to);
	return sq_done(q, s, "schedule_cancel_ref");
}

static int sq_optout_set(struct store *st, const char *number, int64_t since)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_OPT_SET);

	if (!s)
		return -1;
	bind_text(s, 1, number);
	sqlite3_bind_int64(s, 2, since);
	return sq_done(q, s, "optout_set") < 0 ? -1 : 0;
}

static int sq_optout_clear(struct store *st, const char *number)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_OPT_CLEAR);

	if (!s)
		return -1;
	bind_text(s, 1, number);
	return sq_done(q, s, "optout_clear") < 0 ? -1 : 0;
}

static int sq_optout_is(struct store *st, const char *number)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_OPT_IS);
	int rc;

	if (!s)
		return -1;
	bind_text(s, 1, number);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sq_fail(q, "optout_is");
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Part of sq_purge, in its transaction: the number of rows that lost their data, or -1. */
static int sq_schedule_purge(struct sq *q, int64_t cutoff)
{
	sqlite3_stmt *s = sq_sched_stmt(q, S_PURGE);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, cutoff);
	int n = sq_done(q, s, "purge");
	sqlite3_stmt *r = n < 0 ? NULL : sq_sched_stmt(q, S_REMOTE_PURGE);
	if (!r)
		return -1;
	sqlite3_bind_int64(r, 1, cutoff);
	return sq_done(q, r, "purge") < 0 ? -1 : n;
}

static int sq_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_REMOTE_ADD);

	if (!s)
		return -1;
	bind_text(s, 1, via);
	bind_text(s, 2, remote);
	sqlite3_bind_int64(s, 3, id);
	sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
	return sq_done(q, s, "outbound_remote") < 0 ? -1 : 0;
}

static int sq_outbound_by_remote(struct store *st, const char *via, const char *remote,
				 int64_t *id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_sched_stmt(q, S_REMOTE_GET);
	int rc;

	if (!s)
		return -1;
	bind_text(s, 1, via);
	bind_text(s, 2, remote);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(q, "outbound_by_remote");
	return rc == SQLITE_ROW ? 0 : 1;
}

/* --- upkeep --- */

/* Copies the WAL into the database and truncates it to zero bytes, so that no old version
 * of a page (a purged message, a secret answer's body before it was erased) stays in the
 * -wal file. A reader holding an old snapshot makes it partial: the next one finishes. */
static void sq_checkpoint(struct sq *q)
{
	if (sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
	    SQLITE_OK)
		sq_fail(q, "checkpoint");
}

static int sq_purge(struct store *st, int64_t now, unsigned keep_s)
{
	struct sq *q = sq_of(st);
	bool own = sqlite3_get_autocommit(q->db) != 0;
	const enum sq_stmt del[] = { Q_PURGE_IN, Q_PURGE_OUT, Q_PURGE_SESS };
	int total = 0;
	size_t i;

	if (own && sq_begin(st) < 0)
		return -1;
	for (i = 0; i < sizeof(del) / sizeof(del[0]); i++) {
		sqlite3_stmt *s = sq_stmt(q, del[i]);
		int n;

		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, del[i] == Q_PURGE_SESS ? now : now - (int64_t)keep_s);
		n = sq_done(q, s, "purge");
		if (n < 0)
			goto fail;
		total += n;
	}
	{
		sqlite3_stmt *s = sq_stmt(q, Q_PURGE_SPEND);
		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, now / 86400 - 31);
		if (sq_done(q, s, "purge") < 0)
			goto fail;
	}
	{
		int n = sq_schedule_purge(q, now - (int64_t)keep_s);
		if (n < 0)
			goto fail;
		total += n;
	}
	if (own && sq_commit(st) < 0)
		goto fail;
	/* What was deleted is zeroed in the database (secure_delete), but older copies of its
	 * pages stay in the WAL until it is rewritten: empty it now. */
	if (own)
		sq_checkpoint(q);
	return total;
fail:
	if (own)
		sq_rollback(st);
	return -1;
}

static int sq_counters(struct store *st, struct store_counters *c)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_COUNTERS);

	if (!s)
		return -1;
	if (sqlite3_step(s) != SQLITE_ROW) {
		sq_fail(q, "counters");
		sqlite3_reset(s);
		return -1;
	}
	c->inbound_pending = (uint64_t)sqlite3_column_int64(s, 0);
	c->outbound_pending = (uint64_t)sqlite3_column_int64(s, 1);
	c->sessions = (uint64_t)sqlite3_column_int64(s, 2);
	c->duplicate_sends = (uint64_t)sqlite3_column_int64(s, 3);
	sqlite3_reset(s);
	return 0;
}

static int sq_spend_add(struct store *st, int64_t day, const char *via, unsigned parts)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_SPEND_ADD);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, day);
	bind_text(s, 2, via ? via : "");
	sqlite3_bind_int64(s, 3, parts);
	return sq_done(q, s, "spend_add") < 0 ? -1 : 0;
}

static int sq_spend_get(struct store *st, int64_t day,
			void (*fn)(void *data, const char *via, uint64_t parts), void *data)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_stmt(q, Q_SPEND_GET);
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, day);
	/* A handful of rows (one per transport); fn only records them. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(data, (const char *)sqlite3_column_text(s, 0),
		   (uint64_t)sqlite3_column_int64(s, 1));
	if (rc != SQLITE_DONE) {
		sq_fail(q, "spend_get");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

static int sq_verify(struct store *st)
{
	struct sq *q = sq_of(st);
	struct stat sb;

	if (!q->lost && (stat(q->path, &sb) < 0 || sb.st_dev != q->dev || sb.st_ino != q->ino))
		q->lost = true;
	if (q->lost) {
		sq_lost(q);
		return -1;
	}
	return 0;
}

static const char *sq_last_error(struct store *st)
{
	return sq_of(st)->err;
}

static int sq_destructor(struct sq *q)
{
	unsigned i;

	for (i = 0; i < Q_N; i++) {
		sqlite3_finalize(q->stmt[i]);
		q->stmt[i] = NULL;
	}
	for (i = 0; i < S_N; i++) {
		sqlite3_finalize(q->sched[i]);
		q->sched[i] = NULL;
	}
	if (q->db && sqlite3_get_autocommit(q->db))
		sq_checkpoint(q);
	if (q->db)
		sqlite3_close(q->db);
	q->db = NULL;
	return 0;
}

static void sq_close(struct store *st)
{
	talloc_free(st);
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.inbound_add = sq_inbound_add,
	.inbound_done = sq_inbound_done,
	.inbound_forget = sq_inbound_forget,
	.inbound_pending = sq_inbound_pending,
	.outbound_add = sq_outbound_add,
	.outbound_due = sq_outbound_due,
	.outbound_taken = sq_outbound_taken,
	.outbound_sent = sq_outbound_sent,
	.outbound_failed = sq_outbound_failed,
	.session_get = sq_session_get,
	.session_put = sq_session_put,
	.session_del = sq_session_del,
	.session_each = sq_session_each,
	.purge = sq_purge,
	.counters = sq_counters,
	.spend_add = sq_spend_add,
	.spend_get = sq_spend_get,
	.schedule_add = sq_schedule_add,
	.schedule_get = sq_schedule_get,
	.schedule_due = sq_schedule_due,
	.schedule_next = sq_schedule_next,
	.schedule_mark = sq_schedule_mark,
	.schedule_outbound_status = sq_schedule_outbound_status,
	.outbound_remote = sq_outbound_remote,
	.outbound_by_remote = sq_outbound_by_remote,
	.schedule_cancel = sq_schedule_cancel,
	.schedule_cancel_ref = sq_schedule_cancel_ref,
	.optout_set = sq_optout_set,
	.optout_clear = sq_optout_clear,
	.optout_is = sq_optout_is,
	.verify = sq_verify,
	.close = sq_close,
	.last_error = sq_last_error,
};

/* --- opening --- */

/* A new directory entry survives a crash only once its directory is synced. */
static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* Copies the directory part of path ("." when there is none) into a talloc'd string. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return talloc_strdup(NULL, ".");
	if (slash == path)
		return talloc_strdup(NULL, "/");
	return talloc_strndup(NULL, path, (size_t)(slash - path));
}

/* Creates the missing directories of path's parent, each 0700. Existing ones are left as
 * they are: the path may well sit in a directory we do not own. */
static int make_parent(const char *path, char *err, size_t err_len)
{
	char *dir = talloc_strdup(NULL, path);
	char *p;
	int rc = -1;

	if (!dir) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	p = strrchr(dir, '/');
	if (!p || p == dir) {
		rc = 0;
		goto out;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == 0) {
			char *parent = dir_of(dir);
			int synced = parent ? fsync_dir(parent) : -1;

			talloc_free(parent);
			if (chmod(dir, 0700) < 0 || synced < 0) {
				snprintf(err, err_len, "%s: %s", dir, strerror(errno));
				goto out;
			}
		} else if (errno != EEXIST) {
			snprintf(err, err_len, "%s: %s", dir, strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	rc = 0;
out:
	talloc_free(dir);
	return rc;
}

/* Runs a pragma; when want is set, its one result must equal want. */
static int sq_pragma(struct sq *q, const char *sql, const char *want)
{
	sqlite3_stmt *s;
	int rc, ok;

	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(q, sql);
	rc = sqlite3_step(s);
	if (want) {
		const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;

		ok = t && strcasecmp((const char *)t, want) == 0;
	} else {
		ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
	}
	sqlite3_finalize(s);
	if (!ok) {
		snprintf(q->err, sizeof(q->err), "%s: not applied", sql);
		return -1;
	}
	return 0;
}

static int sq_user_version(struct sq *q, int *v)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return sq_fail(q, "user_version");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(s, 0);
	else
		sq_fail(q, "user_version");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Creates or checks the schema, then requeues what a crash left "taken", in one
 * transaction. */
static int sq_prepare_db(struct store *st)
{
	struct sq *q = sq_of(st);
	int version = 0, taken;
	char *errmsg = NULL;
	char sql[160];

	if (sq_begin(st) < 0)
		return -1;
	if (sq_user_version(q, &version) < 0)
		goto fail;
	if (version == 0) {
		if (sqlite3_exec(q->db, schema_v1, NULL, NULL, &errmsg) != SQLITE_OK) {
			snprintf(q->err, sizeof(q->err), "creating the schema: %s",
				 errmsg ? errmsg : "?");
			sqlite3_free(errmsg);
			goto fail;
		}
	} else if (version != SCHEMA_VERSION) {
		snprintf(q->err, sizeof(q->err), "schema version %d, this program knows %d",
			 version, SCHEMA_VERSION);
		goto fail;
	}
	if (sqlite3_exec(q->db, schema_spend, NULL, NULL, &errmsg) != SQLITE_OK) {
		snprintf(q->err, sizeof(q->err), "creating the spend table: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		goto fail;
	}
	if (sqlite3_exec(q->db, schema_schedule, NULL, NULL, &errmsg) != SQLITE_OK) {
		snprintf(q->err, sizeof(q->err), "creating the schedule: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		goto fail;
	}
	if (sqlite3_exec(q->db, "UPDATE outbound SET state = 'queued' WHERE state = 'taken'",
			 NULL, NULL, NULL) != SQLITE_OK) {
		sq_fail(q, "requeueing taken messages");
		goto fail;
	}
	taken = sqlite3_changes(q->db);
	if (taken > 0) {
		snprintf(sql, sizeof(sql),
			 "UPDATE meta SET value = value + %d WHERE name = 'duplicate_sends'", taken);
		if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			sq_fail(q, "counting duplicate sends");
			goto fail;
		}
	}
	return sq_commit(st);
fail:
	sq_rollback(st);
	return -1;
}

/* SQLite's quick_check (the structure of every page and index, in O(N)): 0 when the file
 * is sound, 1 with what is wrong in why when it is damaged, -1 when it could not run. */
static int quick_check(sqlite3 *db, char *why, size_t why_len)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL);

	if (why_len)
		why[0] = '\0';	/* "ok" writes nothing in it, and the loop below reads it */
	int out = -1;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		const char *m = t ? (const char *)t : "?";
		static const char schema_hdr[] = "*** in database main ***\n";

		out = strcmp(m, "ok") == 0 ? 0 : 1;
		if (strncmp(m, schema_hdr, sizeof(schema_hdr) - 1) == 0)
			m += sizeof(schema_hdr) - 1;
		if (out)
			snprintf(why, why_len, "%s", m);
		/* One journal line: the finding may span several. */
		for (char *p = why; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	} else {
		int code = sqlite3_errcode(db) & 0xff;

		snprintf(why, why_len, "%s", sqlite3_errmsg(db));
		out = code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? 1 : -1;
	}
	sqlite3_finalize(s);
	return out;
}

/* What an operator reads when the store is damaged: the file, the finding, what to do. */
static void damaged(char *err, size_t err_len, const char *path, const char *why)
{
	snprintf(err, err_len, "%s is damaged (%s): restore it from a backup, or move it aside "
		 "together with its -wal and -shm files to start with an empty store", path, why);
}

static void chmod_if_exists(const char *path, const char *suffix)
{
	char *p = talloc_asprintf(NULL, "%s%s", path, suffix);

	if (p)
		chmod(p, 0600);
	talloc_free(p);
}

struct store *store_sqlite_open(void *ctx, const char *path, char *err, size_t err_len)
{
	struct store *st;
	struct sq *q;
	mode_t old_mask;
	int rc;

	if (err && err_len)
		err[0] = '\0';
	st = talloc_zero(ctx, struct store);
	if (!st) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	q = talloc_zero(st, struct sq);
	if (!q) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	talloc_set_destructor(q, sq_destructor);
	st->ops = &sq_ops;
	st->priv = q;

	/* The umask covers the file and SQLite's -wal and -shm, created at first use below. */
	old_mask = umask(077);
	if (make_parent(path, err, err_len) < 0) {
		umask(old_mask);
		goto fail;
	}
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		umask(old_mask);
		snprintf(err, err_len, "%s: %s", path,
			 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto fail;
	}
	{
		struct stat sb;

		q->path = talloc_strdup(q, path);
		if (chmod(path, 0600) < 0 || stat(path, &sb) < 0 || !q->path) {
			umask(old_mask);
			snprintf(err, err_len, "%s: %s", path, q->path ? strerror(errno) : "out of memory");
			goto fail;
		}
		q->dev = sb.st_dev;
		q->ino = sb.st_ino;
	}
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	/* A damaged file refused now, not after READY with an error every second. */
	{
		char why[160];

		rc = quick_check(q->db, why, sizeof(why));
		if (rc != 0) {
			umask(old_mask);
			if (rc > 0)
				damaged(err, err_len, path, why);
			else
				snprintf(err, err_len, "%s: checking it: %s", path, why);
			goto fail;
		}
	}
	if (sq_pragma(q, "PRAGMA journal_mode = WAL", "wal") < 0 ||
	    sq_pragma(q, "PRAGMA synchronous = FULL", NULL) < 0 ||
	    sq_pragma(q, "PRAGMA synchronous", "2") < 0 ||
	    sq_pragma(q, "PRAGMA secure_delete = ON", "1") < 0 ||
	    sq_pragma(q, "PRAGMA journal_size_limit = 4194304", NULL) < 0 ||
	    sq_prepare_db(st) < 0) {
		umask(old_mask);
		snprintf(err, err_len, "%s: %s", path, q->err);
		goto fail;
	}
	umask(old_mask);
	chmod_if_exists(path, "-wal");
	chmod_if_exists(path, "-shm");
	{
		char *dir = dir_of(path);
		int synced = dir ? fsync_dir(dir) : -1;

		talloc_free(dir);
		if (synced < 0) {
			snprintf(err, err_len, "%s: syncing its directory: %s", path, strerror(errno));
			goto fail;
		}
	}
	return st;
fail:
	talloc_free(st);
	return NULL;
}

/* The nearest existing directory on the way to path's parent must be writable for
 * store_sqlite_open to create what is missing (the parent, the file, -wal, -shm). */
static int check_dir(const char *path, char *err, size_t err_len)
{
	char *dir = dir_of(path);
	struct stat sb;
	int rc = -1;

	if (!dir) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (;;) {
		if (stat(dir, &sb) == 0)
			break;
		if (errno != ENOENT) {
			snprintf(err, err_len, "%s: %s", dir, strerror(errno));
			goto out;
		}
		char *up = dir_of(dir);
		if (!up || strcmp(up, dir) == 0) {
			talloc_free(up);
			snprintf(err, err_len, "%s: no existing directory on its path", path);
			goto out;
		}
		talloc_free(dir);
		dir = up;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, err_len, "%s: %s is not a directory", path, dir);
		goto out;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, err_len, "%s: directory %s is not writable: %s", path, dir,
			 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	talloc_free(dir);
	return rc;
}

static bool exists(const char *path, const char *suffix)
{
	char *p = talloc_asprintf(NULL, "%s%s", path, suffix);
	bool yes = p && access(p, F_OK) == 0;

	talloc_free(p);
	return yes;
}

int store_sqlite_check(const char *path, char *err, size_t err_len)
{
	struct stat sb;
	sqlite3 *db = NULL;
	char *uri;
	char why[160];
	int rc;

	if (check_dir(path, err, err_len) < 0)
		return -1;
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;	/* created at start */
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, err_len, "%s is not a regular file", path);
		return -1;
	}
	if (access(path, R_OK | W_OK) < 0) {
		snprintf(err, err_len, "%s is not writable: %s", path, strerror(errno));
		return -1;
	}
	/* Read without creating anything: a check run as root must not leave root-owned -wal
	 * or -shm files beside a store the daemon opens as another user. Without them (a
	 * clean stop) the file alone is the database; with them (running, or a crash) they
	 * are read as they are. */
	uri = sqlite3_mprintf("file:%s?%s", path,
			      exists(path, "-wal") || exists(path, "-shm") ? "mode=ro" : "immutable=1");
	if (!uri) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	sqlite3_free(uri);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	rc = quick_check(db, why, sizeof(why));
	sqlite3_close(db);
	if (rc > 0)
		damaged(err, err_len, path, why);
	else if (rc < 0)
		snprintf(err, err_len, "%s: checking it: %s", path, why);
	return rc == 0 ? 0 : -1;
}
