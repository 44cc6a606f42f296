/* Inside the SQLite store (store.h's store_sqlite_open): what its files share. Not for the
 * rest of the daemon, which sees only struct store and its ops.
 *
 *   store_sqlite.c          opening, schema and migration, integrity check, transactions,
 *                           purge, counters, the ops table
 *   store_sqlite_stmt.c     prepared statements and the one-row step helpers
 *   store_sqlite_inbound.c  inbound messages and sessions
 *   store_sqlite_outbox.c   the outbound queue, the SMSC's remote ids, the daily spend
 *   store_sqlite_sched.c    the schedule (messages sent first) and consent
 *
 * Each part keeps its SQL beside its functions, in its own table of statements, prepared
 * once on first use and kept (SQLITE_PREPARE_PERSISTENT): the router runs four of them per
 * message. Readers that hand rows to a callback copy the rows first and reset their
 * statement, so the callback may use the store. */
#ifndef GUICHET_STORE_SQLITE_H
#define GUICHET_STORE_SQLITE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sqlite3.h>

#include "guichet/store.h"

#define SQ_BUSY_TIMEOUT_MS 5000

/* The parts that own statements; each has at most SQ_PART_STMTS of them. */
enum sq_part { SQ_CORE, SQ_INBOUND, SQ_OUTBOX, SQ_SCHED, SQ_PART_N };
#define SQ_PART_STMTS 24

struct sq {
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ_PART_N][SQ_PART_STMTS];
	char err[256];
	char *path;
	dev_t dev;		/* the file opened: a file removed or replaced under us differs */
	ino_t ino;
	bool lost;
};

static inline struct sq *sq_of(struct store *st)
{
	return st->priv;
}

/* Sets the last error to what, with SQLite's message (and "store full: " first when the
 * disk or the database is full); returns -1. */
int sq_fail(struct sq *q, const char *what);
/* Statement i of part, prepared from sql on first use; NULL (error set) when it does not
 * prepare. */
sqlite3_stmt *sq_prepared(struct sq *q, enum sq_part part, unsigned i, const char *sql);
/* Runs a statement that returns no rows and resets it: the number of rows changed, or -1. */
int sq_done(struct sq *q, sqlite3_stmt *s, const char *what);
/* The same for an update of one row by its key: 0 changed, 1 no such row, -1 error. */
int sq_change(struct sq *q, sqlite3_stmt *s, const char *what);
/* Steps a statement that returns at most one row, then resets it. When there is a row,
 * read (may be NULL) is called on it first and its result returned (0, or -1 with the
 * error set by read). Otherwise 1 when there is none, -1 (error set) when the step fails. */
int sq_one(struct sq *q, sqlite3_stmt *s, const char *what,
	   int (*read)(struct sq *q, sqlite3_stmt *s, void *arg), void *arg);
/* Steps a statement for up to max rows, calling read(s, i, arg) on row i (0, or -1 when
 * memory runs out), then resets it: the number of rows read, or -1 with the error set. */
int sq_rows(struct sq *q, sqlite3_stmt *s, const char *what, unsigned max,
	    int (*read)(sqlite3_stmt *s, unsigned i, void *arg), void *arg);
/* Binds t, or NULL when t is NULL; t must outlive the step (SQLITE_STATIC). */
int sq_bind_text(sqlite3_stmt *s, int i, const char *t);
/* A copy of column i under ctx; NULL only when the column is NULL (or out of memory: check
 * the column's type to tell). */
char *sq_col_text(void *ctx, sqlite3_stmt *s, int i);
/* A copy of column i under ctx, "" for NULL; NULL only when memory runs out. */
char *sq_col_text_nn(void *ctx, sqlite3_stmt *s, int i);

/* store_sqlite.c: transactions (purge runs in its own when none is open). */
int sq_begin(struct store *st);
int sq_commit(struct store *st);
int sq_rollback(struct store *st);

/* store_sqlite_inbound.c */
int sq_inbound_add(struct store *st, struct store_inbound *in);
int sq_inbound_done(struct store *st, int64_t id);
int sq_inbound_forget(struct store *st, int64_t id);
int sq_inbound_pending(struct store *st, void (*fn)(void *data, const struct store_inbound *in),
		       void *data);
int sq_session_get(struct store *st, const char *key, struct session *sess, void *ctx);
int sq_session_put(struct store *st, const struct session *sess);
int sq_session_del(struct store *st, const char *key);
int sq_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
		    void *data, void *ctx);
/* Part of purge, in its transaction: rows removed, or -1. */
int sq_inbound_purge(struct sq *q, int64_t now, int64_t cutoff);

/* store_sqlite_outbox.c */
int sq_outbound_add(struct store *st, struct store_outbound *out);
int sq_outbound_due(struct store *st, const char *via, int64_t now_ms,
		    struct store_outbound *out, unsigned max, void *ctx);
int sq_outbound_taken(struct store *st, int64_t id);
int sq_outbound_sent(struct store *st, int64_t id);
int sq_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up);
int sq_outbound_attempts(struct store *st, int64_t id, unsigned *n);
int sq_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote);
int sq_outbound_by_remote(struct store *st, const char *via, const char *remote, int64_t *id);
int sq_spend_add(struct store *st, int64_t day, const char *via, unsigned parts);
int sq_spend_get(struct store *st, int64_t day,
		 void (*fn)(void *data, const char *via, uint64_t parts), void *data);
/* The spend and remote-id tables (added after schema 1, created at open when missing). */
extern const char sq_schema_outbox[];
/* Part of purge, in its transaction: outbox rows removed (remote ids and old spend go
 * too, uncounted), or -1. */
int sq_outbox_purge(struct sq *q, int64_t now, int64_t cutoff);

/* store_sqlite_sched.c */
/* The schedule's and consent's tables (added after schema 1, created at open when
 * missing). */
extern const char sq_schema_schedule[];
int sq_schedule_add(struct store *st, struct store_scheduled *m);
int sq_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx);
int sq_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
		    unsigned max, void *ctx);
int sq_schedule_next(struct store *st, int64_t *when_ms);
int sq_schedule_mark(struct store *st, int64_t id, enum sched_status status,
		     const char *reason, int64_t send_at_ms, int64_t outbound_id);
int sq_schedule_outbound_status(struct store *st, int64_t outbound_id,
				enum sched_status status, const char *reason);
int sq_schedule_cancel(struct store *st, int64_t id);
int sq_schedule_cancel_ref(struct store *st, const char *reference, const char *to);
int sq_optout_set(struct store *st, const char *number, int64_t since);
int sq_optout_clear(struct store *st, const char *number);
int sq_optout_is(struct store *st, const char *number);
/* Part of purge, in its transaction: scheduled messages that lost their data, or -1. */
int sq_schedule_purge(struct sq *q, int64_t cutoff);

#endif
