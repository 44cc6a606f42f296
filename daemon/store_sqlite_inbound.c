/* The SQLite store's inbound messages and sessions (store_sqlite.h): what people sent, and
 * where each of them is in a flow. */
#include <limits.h>
#include <stdio.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_sqlite.h"

enum in_stmt {
	I_ADD, I_DONE, I_FORGET, I_PENDING,
	I_SESS_GET, I_SESS_PUT, I_SESS_DEL, I_SESS_EACH,
	I_PURGE_IN, I_PURGE_SESS,
	I_N
};

static const char *const in_sql[I_N] = {
	[I_ADD] = "INSERT INTO inbound(channel, via, sender, body, received, dedup, done)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)"
		  " ON CONFLICT (via, dedup) WHERE dedup IS NOT NULL DO NOTHING",
	[I_DONE] = "UPDATE inbound SET done = 1 WHERE id = ?1",
	[I_FORGET] = "UPDATE inbound SET body = NULL, dedup = NULL WHERE id = ?1",
	[I_PENDING] = "SELECT id, channel, via, sender, body, received, dedup FROM inbound"
		      " WHERE done = 0 ORDER BY id",
	[I_SESS_GET] = "SELECT data FROM sessions WHERE key = ?1",
	[I_SESS_PUT] = "INSERT INTO sessions(key, data, deadline) VALUES (?1, ?2, ?3)"
		       " ON CONFLICT (key) DO UPDATE SET data = excluded.data,"
		       " deadline = excluded.deadline",
	[I_SESS_DEL] = "DELETE FROM sessions WHERE key = ?1",
	[I_SESS_EACH] = "SELECT key, data FROM sessions ORDER BY key",
	[I_PURGE_IN] = "DELETE FROM inbound WHERE done = 1 AND received < ?1",
	[I_PURGE_SESS] = "DELETE FROM sessions WHERE deadline > 0 AND deadline < ?1",
};

_Static_assert(I_N <= SQ_PART_STMTS, "too many inbound statements");

static sqlite3_stmt *stmt(struct sq *q, enum in_stmt i)
{
	return sq_prepared(q, SQ_INBOUND, i, in_sql[i]);
}

/* One of the updates by id: 0, 1 when no row has that id, -1. */
static int by_id(struct store *st, enum in_stmt i, int64_t id, const char *what)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, i);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return sq_change(q, s, what);
}

/* --- inbound --- */

int sq_inbound_add(struct store *st, struct store_inbound *in)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, I_ADD);
	int n;

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, in->channel);
	sq_bind_text(s, 2, in->via);
	sq_bind_text(s, 3, in->from);
	sq_bind_text(s, 4, in->text);
	sqlite3_bind_int64(s, 5, in->received);
	sq_bind_text(s, 6, in->dedup);
	n = sq_done(q, s, "inbound_add");
	if (n < 0)
		return -1;
	if (n == 0)
		return 1;
	in->id = sqlite3_last_insert_rowid(q->db);
	return 0;
}

int sq_inbound_done(struct store *st, int64_t id)
{
	return by_id(st, I_DONE, id, "inbound_done");
}

int sq_inbound_forget(struct store *st, int64_t id)
{
	return by_id(st, I_FORGET, id, "inbound_forget");
}

/* Reads the current I_PENDING row into in, strings under tmp; -1 when memory runs out. */
static int pending_row(sqlite3_stmt *s, struct store_inbound *in, void *tmp)
{
	in->id = sqlite3_column_int64(s, 0);
	in->channel = (enum channel)sqlite3_column_int(s, 1);
	in->via = sq_col_text_nn(tmp, s, 2);
	in->from = sq_col_text_nn(tmp, s, 3);
	in->text = sq_col_text_nn(tmp, s, 4);
	in->received = sqlite3_column_int64(s, 5);
	in->dedup = sq_col_text(tmp, s, 6);
	if (!in->via || !in->from || !in->text ||
	    (!in->dedup && sqlite3_column_type(s, 6) != SQLITE_NULL))
		return -1;
	return 0;
}

int sq_inbound_pending(struct store *st, void (*fn)(void *data, const struct store_inbound *in),
		       void *data)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, I_PENDING);
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
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			rows = talloc_realloc(tmp, rows, struct store_inbound, cap);
			if (!rows)
				goto oom;
		}
		if (pending_row(s, &rows[n++], tmp) < 0)
			goto oom;
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
oom:
	snprintf(q->err, sizeof(q->err), "inbound_pending: out of memory");
fail:
	sqlite3_reset(s);
	talloc_free(tmp);
	return -1;
}

/* --- sessions --- */

struct sess_read {
	struct session *sess;
	void *ctx;
};

static int sess_decode(struct sq *q, sqlite3_stmt *s, void *arg)
{
	struct sess_read *r = arg;

	if (session_decode(r->sess, r->ctx, sqlite3_column_blob(s, 0),
			   (size_t)sqlite3_column_bytes(s, 0)) < 0) {
		snprintf(q->err, sizeof(q->err), "session_get: stored session does not decode");
		return -1;
	}
	return 0;
}

int sq_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, I_SESS_GET);
	struct sess_read r = { .sess = sess, .ctx = ctx };

	if (!s)
		return -1;
	sq_bind_text(s, 1, key);
	return sq_one(q, s, "session_get", sess_decode, &r);
}

int sq_session_put(struct store *st, const struct session *sess)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, I_SESS_PUT);
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
	sq_bind_text(s, 1, sess->key);
	sqlite3_bind_blob(s, 2, data, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, sess->deadline);
	rc = sq_done(q, s, "session_put");
	talloc_free(data);
	return rc < 0 ? -1 : 0;
}

int sq_session_del(struct store *st, const char *key)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, I_SESS_DEL);

	if (!s)
		return -1;
	sq_bind_text(s, 1, key);
	return sq_change(q, s, "session_del");
}

struct blob {
	char *key;
	void *data;
	size_t len;
};

int sq_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
		    void *data, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, I_SESS_EACH);
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
		b->key = sq_col_text(tmp, s, 0);
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

int sq_inbound_purge(struct sq *q, int64_t now, int64_t cutoff)
{
	sqlite3_stmt *in = stmt(q, I_PURGE_IN), *sess;
	int a, b;

	if (!in)
		return -1;
	sqlite3_bind_int64(in, 1, cutoff);
	a = sq_done(q, in, "purge");
	sess = a < 0 ? NULL : stmt(q, I_PURGE_SESS);
	if (!sess)
		return -1;
	sqlite3_bind_int64(sess, 1, now);
	b = sq_done(q, sess, "purge");
	return b < 0 ? -1 : a + b;
}
