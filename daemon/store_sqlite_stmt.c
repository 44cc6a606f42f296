/* The SQLite store's statements: prepared once and kept, and the step-check-reset sequence
 * every one-row read and every update repeats, written once (store_sqlite.h). */
#include <stdio.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_sqlite.h"

int sq_fail(struct sq *q, const char *what)
{
	bool full = q->db && (sqlite3_errcode(q->db) & 0xff) == SQLITE_FULL;

	snprintf(q->err, sizeof(q->err), "%s%s: %s", full ? "store full: " : "", what,
		 q->db ? sqlite3_errmsg(q->db) : "no database");
	return -1;
}

sqlite3_stmt *sq_prepared(struct sq *q, enum sq_part part, unsigned i, const char *sql)
{
	sqlite3_stmt **slot;

	if (part >= SQ_PART_N || i >= SQ_PART_STMTS) {
		snprintf(q->err, sizeof(q->err), "prepare: no slot for statement %u", i);
		return NULL;
	}
	slot = &q->stmt[part][i];
	if (!*slot &&
	    sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
		sq_fail(q, "prepare");
		*slot = NULL;
	}
	return *slot;
}

int sq_done(struct sq *q, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	/* The message first: a reset may replace it. */
	if (rc != SQLITE_DONE)
		sq_fail(q, what);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? sqlite3_changes(q->db) : -1;
}

int sq_change(struct sq *q, sqlite3_stmt *s, const char *what)
{
	int n = sq_done(q, s, what);

	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

int sq_one(struct sq *q, sqlite3_stmt *s, const char *what,
	   int (*read)(struct sq *q, sqlite3_stmt *s, void *arg), void *arg)
{
	int rc = sqlite3_step(s), out;

	if (rc == SQLITE_ROW)
		out = read ? read(q, s, arg) : 0;
	else if (rc == SQLITE_DONE)
		out = 1;
	else
		out = sq_fail(q, what);
	sqlite3_reset(s);
	return out;
}

int sq_rows(struct sq *q, sqlite3_stmt *s, const char *what, unsigned max,
	    int (*read)(sqlite3_stmt *s, unsigned i, void *arg), void *arg)
{
	unsigned n = 0;
	int rc = SQLITE_DONE;

	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (read(s, n++, arg) < 0) {
			snprintf(q->err, sizeof(q->err), "%s: out of memory", what);
			sqlite3_reset(s);
			return -1;
		}
	}
	if (n < max && rc != SQLITE_DONE) {
		sq_fail(q, what);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return (int)n;
}

int sq_bind_text(sqlite3_stmt *s, int i, const char *t)
{
	return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

char *sq_col_text(void *ctx, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? talloc_strdup(ctx, (const char *)t) : NULL;
}

char *sq_col_text_nn(void *ctx, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return talloc_strdup(ctx, t ? (const char *)t : "");
}
