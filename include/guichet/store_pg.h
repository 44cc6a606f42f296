/* The PostgreSQL store's modules (daemon/store_pg*.c): what they share. Not for the rest
 * of the daemon, which sees the store only through store.h. Their functions are named pg_*.
 *
 * store_pg.c          the connection, transactions, the hosts' leases, upkeep, opening
 * store_pg_schema.c   the schema and its migrations
 * store_pg_queue.c    inbound, the outbox, the SMSC's ids of sent parts
 * store_pg_session.c  sessions
 * store_pg_sched.c    the schedule, consent, the cost guard's spend
 * store_pg_ussd.c     USSD aggregator dialogues shared between hosts
 * store_pg_batch.c    a transaction's writes of one kind gathered into one statement */
#ifndef GUICHET_STORE_PG_H
#define GUICHET_STORE_PG_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <libpq-fe.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/store.h"

#define LEASE_S 60		/* a host silent that long is dead: its taken rows return */
#define RENEW_S 10		/* how often a host renews its lease (at most) */
#define PG_NOTE_MAX 64		/* outbox rows a transaction tracks for NOTIFY, one by one */
#define PG_PENDING_MAX 256	/* deferred statements sent before their results are read */
#define PG_PREPARED_MAX 96	/* prepared statements per connection */
#define PG_OUT_IDS 64		/* outbox ids reserved at once (the sequence's increment) */
#define PG_BATCH_MAX 128	/* writes of one kind gathered into one statement */
#define PG_AHEAD_MAX 48		/* received messages added in one round trip (inbound_ahead) */
#define PG_CLAIM_MAX 32		/* outbox claims sent with one commit (one per transport) */

/* Parameters as text, built on the stack. */
#define PMAX 16
struct params {
	const char *v[PMAX];
	int len[PMAX], fmt[PMAX];
	char buf[PMAX][24];
	int n;
};

/* A received message added ahead of its inbound_add (pg_inbound_ahead), with its answer. */
struct pg_ahead {
	int channel;
	int64_t received;
	char *via, *from, *text, *dedup;	/* to recognise its inbound_add (under ahead_ctx) */
	int64_t id;			/* its row, or 0: a duplicate */
	bool seen;			/* stored before (its dedup key found) */
	bool read;			/* its person's session read and locked with it (and not
					 * stored since): row session_row of ahead_sessions, or
					 * none when session_row < 0 */
	int session_row;
	char key[SESSION_KEY_MAX];
};

/* A session read ahead (and locked) for the session_get that follows: row `row` of
 * ahead_sessions, or none when row < 0. */
struct pg_pre {
	bool set;
	char key[SESSION_KEY_MAX];
	int row;
};

/* An outbox claim sent with the commit (pg_outbound_take_at_commit): its rows given to out
 * and *n once the commit succeeded. */
struct pg_claim {
	char *via;			/* under claims_ctx; NULL: any transport */
	int64_t now_ms;
	unsigned max;
	struct store_outbound *out;	/* the caller's */
	int *n;
	void *ctx;
	PGresult *res;			/* its rows, read at the commit's sync */
	/* The replies this transaction added for via, not sent yet: the claim adds them
	 * itself, those it has room for taken already (claim_sql_new). */
	unsigned n_new;
	struct params p;
};

struct pg {
	PGconn *db;
	int64_t host;		/* this open store's id in hosts and outbound.taken_by */
	int64_t renewed;	/* when the lease was last renewed (unix s) */
	bool conflict;		/* this transaction lost a deadlock or serialization conflict */
	char err[256];
	/* Notifications (store_pg_notify.c): outbox rows this transaction added and did not
	 * take (note_all: too many, or other work), and the watcher told of other hosts'. */
	int64_t added[PG_NOTE_MAX];
	unsigned n_added;
	bool note_all;
	void (*wake)(void *data);
	void *wake_data;
	struct osmo_fd ofd;
	struct osmo_timer_list wake_timer;
	/* Statements (store_pg_exec.c): the pipeline of a transaction, and what is prepared. */
	bool piped;			/* in pipeline mode: a transaction is open */
	bool pipe_failed;		/* a statement in it failed: the transaction is lost */
	unsigned n_pending;		/* deferred statements whose results are not read yet */
	const char *pending_what[PG_PENDING_MAX];
	int pending_prep[PG_PENDING_MAX];	/* a PREPARE's slot in prepared[], else -1 */
	PGresult **pending_keep[PG_PENDING_MAX];	/* where its result goes, else NULL */
	unsigned n_prepared;
	const char *prepared[PG_PREPARED_MAX];	/* "s<i>" prepares prepared[i] */
	int64_t out_next, out_end;	/* outbox ids reserved and not used yet */
	PGresult *out_pre;		/* the next block, asked for ahead (store_pg_queue.c) */
	bool out_pre_asked;		/* in this transaction (its answer may be pending) */
	/* The session of the person whose text was just added, read (and locked) with the
	 * group's texts, for the session_get that follows (store_pg_session.c). */
	struct pg_pre pre;
	/* The received messages of this transaction added ahead (store_pg_queue.c): the next
	 * inbound_add is ahead[ahead_next]'s. */
	struct pg_ahead ahead[PG_AHEAD_MAX];
	unsigned n_ahead, ahead_next;
	void *ahead_ctx;
	PGresult *ahead_sessions;	/* their people's sessions, one row each found */
	/* Writes of one kind gathered into one statement (store_pg_batch.c). */
	struct pg_batch *batch;
	/* The outbox claims this transaction's commit sends (store_pg_queue.c). */
	struct pg_claim claims[PG_CLAIM_MAX];
	unsigned n_claims;
	void *claims_ctx;
};


static inline void p_int(struct params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static inline void p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static inline void p_bin(struct params *p, const void *d, size_t len)
{
	p->v[p->n] = d;
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = 1;
}

static inline struct pg *pg_of(struct store *st)
{
	return st->priv;
}


static inline int64_t col_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static inline char *col_text(void *ctx, const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : talloc_strdup(ctx, PQgetvalue(r, row, col));
}

static inline char *col_text_nn(void *ctx, const PGresult *r, int row, int col)
{
	return talloc_strdup(ctx, PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* 0 when a row changed, 1 when none did, -1 on error (n from pg_change). */
static inline int changed(int n)
{
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

/* Sets q->err to "what: the server's message" (r's, else the connection's), and
 * q->conflict when r lost a conflict with another transaction; returns -1. */
int pg_fail(struct pg *q, const char *what, const PGresult *r);
/* Whether a failed statement's SQLSTATE says it lost a conflict with another transaction
 * (deadlock detected, serialization failure): the transaction run again may succeed. */
bool pg_sqlstate_conflict(const char *sqlstate);
/* Runs sql; the result on success (PQclear it), NULL with q->err set. binary: results in
 * binary format (only for the session rows). */
PGresult *pg_run(struct pg *q, const char *what, const char *sql, const struct params *p,
		 int binary);
/* Runs a change: the number of rows changed, or -1. */
int pg_change(struct pg *q, const char *what, const char *sql, const struct params *p);
/* A change whose outcome is not needed now: inside a transaction it is sent without
 * waiting (1 returned, as if one row changed; a failure fails the next statement or the
 * commit), outside one it runs as pg_change. -1 when the transaction is lost already. */
int pg_defer(struct pg *q, const char *what, const char *sql, const struct params *p);
/* pg_defer whose result is kept: inside a transaction, *keep gets the statement's result
 * when the pending results are read (at the latest at the commit's sync), and stays NULL
 * when it failed. Outside one, -1. */
int pg_defer_keep(struct pg *q, const char *what, const char *sql, const struct params *p,
		  PGresult **keep);
/* The transaction's pipeline (store_pg_exec.c): BEGIN sent; COMMIT (after NOTIFY when
 * notify) with every result read, 0 or -1; abandoned (the caller then rolls back). */
int pg_pipe_begin(struct pg *q);
int pg_pipe_commit(struct pg *q, bool notify);
void pg_pipe_abort(struct pg *q);
/* A new connection: nothing prepared, no pipeline. */
void pg_exec_reset(struct pg *q);
/* In a transaction: sql[i] with p[i] (results in binary when binary[i]) for i < n, sent
 * together after the deferred statements, in one round trip; res[i] their results, each
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK (PQclear them). -1 when one failed or the
 * transaction was lost already (q->err says why; res all NULL). n at most
 * PG_PENDING_MAX / 2. */
int pg_run_many(struct pg *q, const char *what, unsigned n, const char *const *sql,
		const struct params *p, const int *binary, PGresult **res);
/* store_pg_batch.c: in a transaction, writes nobody waits for gathered by kind, each kind
 * sent as one statement (without waiting) by pg_batch_flush: before any statement whose
 * result is needed and before the commit (store_pg_exec.c). 0, or -1 when the transaction
 * is lost. pg_batch_reset forgets them (the transaction ended). */
int pg_batch_outbound(struct pg *q, int64_t id, const struct store_outbound *out,
		      int64_t created);
int pg_batch_done(struct pg *q, int64_t id);
int pg_batch_taken(struct pg *q, int64_t id);
int pg_batch_sent(struct pg *q, int64_t id);
int pg_batch_remote(struct pg *q, int64_t id, const char *via, const char *remote, int64_t now);
int pg_batch_spend(struct pg *q, int64_t day, const char *via, unsigned parts);
/* A session stored (data, len: its encoding; waiting: the call it waits for, or NULL) or,
 * with data NULL, removed. */
int pg_batch_session(struct pg *q, const char *key, const void *data, size_t len,
		     int64_t deadline, const int64_t *waiting);
int pg_batch_flush(struct pg *q);
/* A received message found new by inbound_ahead, added with the transaction's other writes.
 * Marked done (true) or forgotten before they are sent, it is added so: done without an
 * UPDATE, a secret answer without its text and dedup key (they never reach the server). */
int pg_batch_inbound(struct pg *q, int64_t id, const struct store_inbound *in);
bool pg_batch_inbound_done(struct pg *q, int64_t id);
bool pg_batch_inbound_forget(struct pg *q, int64_t id);
/* The replies gathered for via (NULL: any), due at now_ms, moved out of the batch into nine
 * arrays appended to p (under ctx; pg_batch_flush then leaves them alone): the outbox claim
 * that takes them adds them (store_pg_queue.c). Their number, or -1 for want of memory. */
int pg_batch_take_out(struct pg *q, const char *via, int64_t now_ms, void *ctx,
		      struct params *p);
/* Array literals for the statements over arrays (unnest, = ANY) of store_pg_batch.c and
 * pg_inbound_ahead: n integers or strings found every stride bytes from v (a NULL string is
 * NULL), or n byte strings; under ctx, NULL for want of memory. */
char *pg_array_ints(void *ctx, const int64_t *v, unsigned n, size_t stride);
char *pg_array_texts(void *ctx, const char *const *v, unsigned n, size_t stride);
char *pg_array_bytea(void *ctx, const void *const *data, const size_t *len, unsigned n);
/* The statement of writes by id of kind 0 (done), 1 (taken), 2 (sent), else NULL: for the
 * tests of its plan. */
const char *pg_batch_sql(unsigned kind);
void pg_batch_reset(struct pg *q);
/* The received messages added ahead (store_pg_queue.c): forgotten at the end of the
 * transaction; a session stored or removed makes its read ahead stale. */
void pg_inbound_ahead_reset(struct pg *q);
void pg_inbound_ahead_stale(struct pg *q, const char *key);
/* The session read ahead (store_pg_session.c): the statement; key's session as row `row`
 * of ahead_sessions (none: row < 0) for the session_get that follows; dropping it. */
extern const char pg_session_select[];
void pg_session_ahead(struct pg *q, const char *key, int row);
void pg_session_forget_ahead(struct pg *q);
/* The outbox claims of the transaction (store_pg_queue.c): sent by the commit after the
 * gathered writes, before NOTIFY and COMMIT (0, or -1: the transaction is lost); ended by
 * the commit's sync: ok (committed) gives each its rows, else none. */
int pg_claims_send(struct pg *q);
/* Before the batch is sent: each claim takes the replies gathered for its transport out of
 * it, to add them itself (pg_batch_take_out). 0, or -1: the transaction is lost. */
int pg_claims_absorb(struct pg *q);
void pg_claims_end(struct pg *q, bool ok);
/* The claim's statement: for the tests of its plan. */
const char *pg_claim_sql(void);
/* inbound_ahead's check of a group's texts: for the test of its plan. */
const char *pg_inbound_check_sql(void);
/* Runs sql, a change of the row with id $1: 0, 1 when none changed, -1. */
int pg_by_id(struct store *st, int64_t id, const char *what, const char *sql);
bool pg_in_tx(struct pg *q);
/* Renews this host's lease and returns gone hosts' rows to the queue, at most every
 * RENEW_S unless force. 0 or -1. */
int pg_lease(struct pg *q, bool force);
/* Creates or migrates the schema (store_pg_schema.c). 0, or -1 with err set. */
int pg_migrate(struct pg *q, char *err, size_t err_len);

/* store_pg_notify.c: what a transaction leaves for other hosts (an outbox row added, one
 * taken back by this host, other work), whether its commit NOTIFYs, and the watcher. */
void pg_note_reset(struct pg *q);
void pg_note_added(struct pg *q, int64_t id);
void pg_note_taken(struct pg *q, int64_t id);
void pg_note_all(struct pg *q);
bool pg_note_due(const struct pg *q);
/* The commit's NOTIFY (pg_note_due): plain, or, when the transaction claims rows at commit
 * (it cannot know which before the commit), sent by the server only if a row it added is
 * still queued after the claims. Sent without waiting; 0 or -1. */
int pg_note_send(struct pg *q);
/* Notifications libpq has read: another host's wake the watcher (from the loop, soon). */
void pg_notes_drain(struct pg *q);
void pg_watch_init(struct pg *q);
int pg_watch_reconnected(struct pg *q);
void pg_watch_stop(struct pg *q);
int pg_watch(struct store *st, void (*fn)(void *data), void *data);

/* The operations of store.h, by module. */
int pg_inbound_add(struct store *st, struct store_inbound *in);
int pg_inbound_ahead(struct store *st, const struct store_inbound *ins, unsigned n);
int pg_inbound_done(struct store *st, int64_t id);
int pg_inbound_forget(struct store *st, int64_t id);
int pg_inbound_pending(struct store *st, void (*fn)(void *data, const struct store_inbound *in),
		       void *data);
int pg_outbound_add(struct store *st, struct store_outbound *out);
int pg_outbound_due(struct store *st, const char *via, int64_t now_ms,
		    struct store_outbound *out, unsigned max, void *ctx);
int pg_outbound_taken(struct store *st, int64_t id);
int pg_outbound_sent(struct store *st, int64_t id);
int pg_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up);
int pg_outbound_attempts(struct store *st, int64_t id, unsigned *n);
int pg_outbound_take_at_commit(struct store *st, const char *via, int64_t now_ms,
			       struct store_outbound *out, unsigned max, int *n, void *ctx);
int pg_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote);
int pg_outbound_by_remote(struct store *st, const char *via, const char *remote, int64_t *id);

int pg_session_get(struct store *st, const char *key, struct session *s, void *ctx);
int pg_session_put(struct store *st, const struct session *s);
int pg_session_del(struct store *st, const char *key);
int pg_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
		    void *data, void *ctx);
int pg_session_orphans(struct store *st, void (*fn)(void *data, const struct session *s),
		       void *data, void *ctx);

int pg_schedule_add(struct store *st, struct store_scheduled *m);
int pg_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx);
int pg_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
		    unsigned max, void *ctx);
int pg_schedule_next(struct store *st, int64_t *when_ms);
int pg_schedule_mark(struct store *st, int64_t id, enum sched_status status,
		     const char *reason, int64_t send_at_ms, int64_t outbound_id);
int pg_schedule_outbound_status(struct store *st, int64_t outbound_id,
				enum sched_status status, const char *reason);
int pg_schedule_cancel(struct store *st, int64_t id);
int pg_schedule_cancel_ref(struct store *st, const char *reference, const char *to);
int pg_optout_set(struct store *st, const char *number, int64_t since);
int pg_optout_clear(struct store *st, const char *number);
int pg_optout_is(struct store *st, const char *number);
int pg_spend_add(struct store *st, int64_t day, const char *via, unsigned parts);
int pg_spend_get(struct store *st, int64_t day,
		 void (*fn)(void *data, const char *via, uint64_t parts), void *data);

int pg_ussd_put(struct store *st, const struct store_ussd *u, int64_t now);
int pg_ussd_get(struct store *st, const char *id, int64_t now, struct store_ussd *u, void *ctx);
int pg_ussd_drop(struct store *st, const char *id, int64_t step);
int pg_ussd_sweep(struct store *st, int64_t now);

#endif
