/* The SQLite store's schedule (messages sent first) and consent (store_sqlite.h).
 *
 * The due query and the next-time query run on a partial index of the open messages by
 * send_at: the daemon reads a bounded batch and one time, never the whole schedule, however
 * many messages wait. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_sqlite.h"

enum sched_stmt {
	S_ADD, S_BY_KEY, S_GET, S_DUE, S_NEXT, S_MARK, S_OUT_STATUS, S_CANCEL, S_CANCEL_REF,
	S_OPT_SET, S_OPT_CLEAR, S_OPT_IS, S_PURGE,
	S_N
};

#define SCHED_COLS "id, recipient, body, via, flow, step, vars, send_at, not_after, reference," \
	" idem, origin, status, reason, created, outbound_id"
#define SCHED_OPEN "status IN ('queued', 'deferred')"

static const char *const sched_sql[S_N] = {
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
};

_Static_assert(S_N <= SQ_PART_STMTS, "too many schedule statements");

const char sq_schema_schedule[] =
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
	" since INTEGER NOT NULL) WITHOUT ROWID;";

static sqlite3_stmt *stmt(struct sq *q, enum sched_stmt i)
{
	return sq_prepared(q, SQ_SCHED, i, sched_sql[i]);
}

static int read_id(struct sq *q, sqlite3_stmt *s, void *arg)
{
	(void)q;
	*(int64_t *)arg = sqlite3_column_int64(s, 0);
	return 0;
}

int sq_schedule_add(struct store *st, struct store_scheduled *m)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_ADD);
	int n;

	if (!s)
		return -1;
	sq_bind_text(s, 1, m->to);
	sq_bind_text(s, 2, m->text);
	sq_bind_text(s, 3, m->via);
	sq_bind_text(s, 4, m->flow);
	sq_bind_text(s, 5, m->step);
	sq_bind_text(s, 6, m->vars);
	sqlite3_bind_int64(s, 7, m->send_at);
	sqlite3_bind_int64(s, 8, m->not_after);
	sq_bind_text(s, 9, m->reference);
	sq_bind_text(s, 10, m->idempotency_key);
	sq_bind_text(s, 11, sched_origin_name(m->origin));
	sq_bind_text(s, 12, sched_status_name(m->status));
	sq_bind_text(s, 13, m->reason);
	m->created = (int64_t)time(NULL);
	sqlite3_bind_int64(s, 14, m->created);
	n = sq_done(q, s, "schedule_add");
	if (n < 0)
		return -1;
	if (n > 0) {
		m->id = sqlite3_last_insert_rowid(q->db);
		return 0;
	}
	/* Nothing inserted: the idempotency key is known, its message is the answer. */
	s = stmt(q, S_BY_KEY);
	if (!s)
		return -1;
	sq_bind_text(s, 1, m->idempotency_key);
	switch (sq_one(q, s, "schedule_add: the existing key", read_id, &m->id)) {
	case 0:
		return 1;
	case 1:
		snprintf(q->err, sizeof(q->err), "schedule_add: the existing key: not found");
		return -1;
	default:
		return -1;
	}
}

/* The SCHED_COLS columns that hold text, and where sched_row puts each. */
static const char **text_field(struct store_scheduled *m, int col)
{
	switch (col) {
	case 1: return &m->to;
	case 2: return &m->text;
	case 3: return &m->via;
	case 4: return &m->flow;
	case 5: return &m->step;
	case 6: return &m->vars;
	case 9: return &m->reference;
	case 10: return &m->idempotency_key;
	case 13: return &m->reason;
	default: return NULL;
	}
}

/* Reads the SCHED_COLS of the current row into m, strings under ctx; -1 when memory runs
 * out. */
static int sched_row(sqlite3_stmt *s, struct store_scheduled *m, void *ctx)
{
	int st, org;

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(s, 0);
	for (int col = 1; col <= 13; col++) {
		const char **f = text_field(m, col);

		if (!f)
			continue;
		*f = sq_col_text(ctx, s, col);
		if (!*f && sqlite3_column_type(s, col) != SQLITE_NULL)
			return -1;
	}
	m->send_at = sqlite3_column_int64(s, 7);
	m->not_after = sqlite3_column_int64(s, 8);
	org = sched_origin_parse((const char *)sqlite3_column_text(s, 11));
	st = sched_status_parse((const char *)sqlite3_column_text(s, 12));
	m->origin = org < 0 ? SCHED_API : (enum sched_origin)org;
	m->status = st < 0 ? SCHED_FAILED : (enum sched_status)st;
	m->created = sqlite3_column_int64(s, 14);
	m->outbound_id = sqlite3_column_int64(s, 15);
	return 0;
}

struct row_read {
	struct store_scheduled *m;
	void *ctx;
	const char *what;
};

static int read_row(struct sq *q, sqlite3_stmt *s, void *arg)
{
	struct row_read *r = arg;

	if (sched_row(s, r->m, r->ctx) < 0) {
		snprintf(q->err, sizeof(q->err), "%s: out of memory", r->what);
		return -1;
	}
	return 0;
}

int sq_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_GET);
	struct row_read r = { .m = m, .ctx = ctx, .what = "schedule_get" };

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return sq_one(q, s, "schedule_get", read_row, &r);
}

static int due_read(sqlite3_stmt *s, unsigned i, void *arg)
{
	struct row_read *r = arg;

	return sched_row(s, &r->m[i], r->ctx);
}

int sq_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
		    unsigned max, void *ctx)
{
	struct sq *q = sq_of(st);
	struct row_read r = { .m = out, .ctx = ctx, .what = "schedule_due" };
	sqlite3_stmt *s;

	if (max == 0)
		return 0;
	s = stmt(q, S_DUE);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, max);
	return sq_rows(q, s, "schedule_due", max, due_read, &r);
}

int sq_schedule_next(struct store *st, int64_t *when_ms)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_NEXT);

	if (!s)
		return -1;
	return sq_one(q, s, "schedule_next", read_id, when_ms);
}

int sq_schedule_mark(struct store *st, int64_t id, enum sched_status status,
		     const char *reason, int64_t send_at_ms, int64_t outbound_id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_MARK);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sq_bind_text(s, 2, sched_status_name(status));
	sq_bind_text(s, 3, reason);
	sqlite3_bind_int64(s, 4, send_at_ms);
	sqlite3_bind_int64(s, 5, outbound_id);
	return sq_change(q, s, "schedule_mark");
}

int sq_schedule_outbound_status(struct store *st, int64_t outbound_id,
				enum sched_status status, const char *reason)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_OUT_STATUS);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, outbound_id);
	sq_bind_text(s, 2, sched_status_name(status));
	sq_bind_text(s, 3, reason);
	return sq_change(q, s, "schedule_outbound_status");
}

int sq_schedule_cancel(struct store *st, int64_t id)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_CANCEL);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return sq_change(q, s, "schedule_cancel");
}

int sq_schedule_cancel_ref(struct store *st, const char *reference, const char *to)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_CANCEL_REF);

	if (!s)
		return -1;
	sq_bind_text(s, 1, reference);
	sq_bind_text(s, 2, to);
	return sq_done(q, s, "schedule_cancel_ref");
}

/* --- consent --- */

int sq_optout_set(struct store *st, const char *number, int64_t since)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_OPT_SET);

	if (!s)
		return -1;
	sq_bind_text(s, 1, number);
	sqlite3_bind_int64(s, 2, since);
	return sq_done(q, s, "optout_set") < 0 ? -1 : 0;
}

int sq_optout_clear(struct store *st, const char *number)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_OPT_CLEAR);

	if (!s)
		return -1;
	sq_bind_text(s, 1, number);
	return sq_done(q, s, "optout_clear") < 0 ? -1 : 0;
}

int sq_optout_is(struct store *st, const char *number)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = stmt(q, S_OPT_IS);
	int rc;

	if (!s)
		return -1;
	sq_bind_text(s, 1, number);
	rc = sq_one(q, s, "optout_is", NULL, NULL);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

int sq_schedule_purge(struct sq *q, int64_t cutoff)
{
	sqlite3_stmt *s = stmt(q, S_PURGE);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, cutoff);
	return sq_done(q, s, "purge");
}
