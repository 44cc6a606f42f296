/* The SQLite store's outbound queue (store_sqlite.h): replies and messages sent first wait
 * here for a transport; the SMSC's ids of the parts sent, so that a delivery receipt after a
 * restart finds its message; and the cost guard's daily spend. */
#include <stdio.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_sqlite.h"

enum out_stmt {
	O_ADD, O_DUE, O_TAKEN, O_SENT, O_FAILED, O_DEAD, O_ATTEMPTS,
	O_REMOTE_ADD, O_REMOTE_GET,
	O_SPEND_ADD, O_SPEND_GET,
	O_PURGE_OUT, O_PURGE_REMOTE, O_PURGE_SPEND,
	O_N
};

static const char *const out_sql[O_N] = {
	[O_ADD] = "INSERT INTO outbound(via, recipient, body, coding, parts, attempts,"
		  " not_before_ms, state, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)",
	[O_DUE] = "SELECT id, via, recipient, body, coding, parts, attempts, not_before_ms"
		  " FROM outbound WHERE state = 'queued' AND not_before_ms <= ?2"
		  " AND (?1 IS NULL OR via = ?1) ORDER BY id LIMIT ?3",
	[O_TAKEN] = "UPDATE outbound SET state = 'taken', attempts = attempts + 1"
		    " WHERE id = ?1 AND state = 'queued'",
	[O_SENT] = "UPDATE outbound SET state = 'sent', body = NULL, recipient = NULL"
		   " WHERE id = ?1 AND state IN ('queued', 'taken')",
	[O_FAILED] = "UPDATE outbound SET state = 'queued', not_before_ms = ?2"
		     " WHERE id = ?1 AND state IN ('queued', 'taken')",
	[O_DEAD] = "UPDATE outbound SET state = 'dead'"
		   " WHERE id = ?1 AND state IN ('queued', 'taken')",
	[O_ATTEMPTS] = "SELECT attempts FROM outbound WHERE id = ?1",
	[O_REMOTE_ADD] = "INSERT INTO remote_ids(via, remote, outbound_id, created)"
			 " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (via, remote) DO UPDATE SET"
			 " outbound_id = excluded.outbound_id, created = excluded.created",
	[O_REMOTE_GET] = "SELECT outbound_id FROM remote_ids WHERE via = ?1 AND remote = ?2",
	[O_SPEND_ADD] = "INSERT INTO spend(day, via, parts) VALUES (?1, ?2, ?3)"
			" ON CONFLICT (day, via) DO UPDATE SET parts = parts + excluded.parts",
	[O_SPEND_GET] = "SELECT via, parts FROM spend WHERE day = ?1 ORDER BY via",
	[O_PURGE_OUT] = "DELETE FROM outbound WHERE state IN ('sent', 'dead') AND created < ?1",
	[O_PURGE_REMOTE] = "DELETE FROM remote_ids WHERE created < ?1",
	[O_PURGE_SPEND] = "DELETE FROM spend WHERE day < ?1",
};

_Static_assert(O_N <= SQ_PART_STMTS, "too many outbox statements");

const char sq_schema_outbox[] =
	/* The cost guard's spend, so that a restart does not reset the day's cap. */
	"CREATE TABLE IF NOT EXISTS spend ("
	" day INTEGER NOT NULL,"
	" via TEXT NOT NULL,"
	" parts INTEGER NOT NULL,"
	" PRIMARY KEY (day, via)) WITHOUT ROWID;"
	/* The SMSC's id of each part sent (submit_sm_resp): a delivery receipt that comes after
	 * a restart still finds its message. */
	"CREATE TABLE IF NOT EXISTS remote_ids ("
	" via TEXT NOT NULL,"
	" remote TEXT NOT NULL,"
	" outbound_id INTEGER NOT NULL,"
	" created INTEGER NOT NULL,"
	" PRIMARY KEY (via, remote)) WITHOUT ROWID;";

static sqlite3_stmt *stmt(struct sq *q, enum out_stmt i)
{
	return sq_prepared(q, SQ_OUTBOX, i, out_sql[i]);
}

int sq_outbound_add(struct store *st, struct store_outbound *out)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, O_ADD);

	if (!s)
		return -1;
	sq_bind_text(s, 1, out->via);
	sq_bind_text(s, 2, out->to);
	sq_bind_text(s, 3, out->text);
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

/* Reads the current O_DUE row into o, strings under ctx; -1 when memory runs out. */
static int due_row(sqlite3_stmt *s, struct store_outbound *o, void *ctx)
{
	o->id = sqlite3_column_int64(s, 0);
	o->via = sq_col_text_nn(ctx, s, 1);
	o->to = sq_col_text_nn(ctx, s, 2);
	o->text = sq_col_text_nn(ctx, s, 3);
	o->coding = sqlite3_column_int(s, 4) == TEXT_UCS2 ? TEXT_UCS2 : TEXT_GSM7;
	o->parts = (unsigned)sqlite3_column_int64(s, 5);
	o->attempts = (unsigned)sqlite3_column_int64(s, 6);
	o->not_before = sqlite3_column_int64(s, 7);
	return o->via && o->to && o->text ? 0 : -1;
}

struct due_read {
	struct store_outbound *out;
	void *ctx;
};

static int due_read(sqlite3_stmt *s, unsigned i, void *arg)
{
	struct due_read *d = arg;

	return due_row(s, &d->out[i], d->ctx);
}

int sq_outbound_due(struct store *st, const char *via, int64_t now_ms,
		    struct store_outbound *out, unsigned max, void *ctx)
{
	struct sq *q = sq_of(st);
	struct due_read d = { .out = out, .ctx = ctx };
	sqlite3_stmt *s;

	if (max == 0)
		return 0;
	s = stmt(q, O_DUE);
	if (!s)
		return -1;
	sq_bind_text(s, 1, via);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, max);
	return sq_rows(q, s, "outbound_due", max, due_read, &d);
}

/* One of the state changes by id (arg: O_FAILED's not_before). */
static int change(struct store *st, enum out_stmt i, int64_t id, int64_t arg, const char *what)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, i);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (i == O_FAILED)
		sqlite3_bind_int64(s, 2, arg);
	return sq_change(q, s, what);
}

int sq_outbound_taken(struct store *st, int64_t id)
{
	return change(st, O_TAKEN, id, 0, "outbound_taken");
}

int sq_outbound_sent(struct store *st, int64_t id)
{
	return change(st, O_SENT, id, 0, "outbound_sent");
}

int sq_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up)
{
	if (give_up)
		return change(st, O_DEAD, id, 0, "outbound_failed");
	return change(st, O_FAILED, id, not_before_ms, "outbound_failed");
}

static int read_attempts(struct sq *q, sqlite3_stmt *s, void *arg)
{
	(void)q;
	*(unsigned *)arg = (unsigned)sqlite3_column_int64(s, 0);
	return 0;
}

int sq_outbound_attempts(struct store *st, int64_t id, unsigned *n)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, O_ATTEMPTS);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return sq_one(q, s, "outbound_attempts", read_attempts, n);
}

/* --- the SMSC's ids of parts sent --- */

int sq_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, O_REMOTE_ADD);

	if (!s)
		return -1;
	sq_bind_text(s, 1, via);
	sq_bind_text(s, 2, remote);
	sqlite3_bind_int64(s, 3, id);
	sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
	return sq_done(q, s, "outbound_remote") < 0 ? -1 : 0;
}

static int read_id(struct sq *q, sqlite3_stmt *s, void *arg)
{
	(void)q;
	*(int64_t *)arg = sqlite3_column_int64(s, 0);
	return 0;
}

int sq_outbound_by_remote(struct store *st, const char *via, const char *remote, int64_t *id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, O_REMOTE_GET);

	if (!s)
		return -1;
	sq_bind_text(s, 1, via);
	sq_bind_text(s, 2, remote);
	return sq_one(q, s, "outbound_by_remote", read_id, id);
}

/* --- the daily spend --- */

int sq_spend_add(struct store *st, int64_t day, const char *via, unsigned parts)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, O_SPEND_ADD);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, day);
	sq_bind_text(s, 2, via ? via : "");
	sqlite3_bind_int64(s, 3, parts);
	return sq_done(q, s, "spend_add") < 0 ? -1 : 0;
}

int sq_spend_get(struct store *st, int64_t day,
		 void (*fn)(void *data, const char *via, uint64_t parts), void *data)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, O_SPEND_GET);
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

int sq_outbox_purge(struct sq *q, int64_t now, int64_t cutoff)
{
	const struct { enum out_stmt i; int64_t arg; } del[] = {
		{ O_PURGE_OUT, cutoff }, { O_PURGE_REMOTE, cutoff },
		{ O_PURGE_SPEND, now / 86400 - 31 },
	};
	int removed = 0;

	for (size_t k = 0; k < sizeof(del) / sizeof(del[0]); k++) {
		sqlite3_stmt *s = stmt(q, del[k].i);
		int n;

		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, del[k].arg);
		n = sq_done(q, s, "purge");
		if (n < 0)
			return -1;
		if (del[k].i == O_PURGE_OUT)
			removed = n;
	}
	return removed;
}
