/* The PostgreSQL store's statements: fewer round trips and less parsing per message.
 *
 * Inside a transaction the connection is in libpq's pipeline mode. A write whose outcome is
 * not needed at once (a message marked done, a session stored, a reply marked taken or
 * sent: pg_defer) is sent without waiting; the next statement whose result is needed
 * (pg_run), or the commit, flushes them and reads their results first. A deferred write
 * that fails fails the transaction: its message is the one reported, by that next
 * statement or the commit, and the caller rolls back as after any failed write.
 * Outside a transaction statements run one by one, as before.
 *
 * Statements with parameters are prepared once per connection (parsed and planned once):
 * their texts are the modules' string constants, known by their address. */
#include <string.h>

#include "guichet/store_pg.h"

bool pg_sqlstate_conflict(const char *sqlstate)
{
	return sqlstate && (!strcmp(sqlstate, "40P01") || !strcmp(sqlstate, "40001"));
}

int pg_fail(struct pg *q, const char *what, const PGresult *r)
{
	const char *m = r ? PQresultErrorMessage(r) : NULL;
	char *nl;

	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *key = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;

	/* A text another host added since inbound_ahead looked (its unique key): run again,
	 * the transaction finds it stored and answers it as a duplicate. */
	if (pg_sqlstate_conflict(state) ||
	    (state && !strcmp(state, "23505") && key && !strcmp(key, "inbound_dedup")))
		q->conflict = true;
	if (!m || !*m)
		m = PQerrorMessage(q->db);
	snprintf(q->err, sizeof(q->err), "%s: %s", what, m && *m ? m : "no database");
	if ((nl = strchr(q->err, '\n')))
		*nl = '\0';
	return -1;
}

/* The prepared statement for sql ("sN" in name), preparing it now if needed; false: run it
 * unnamed (no parameters, or the cache is full). In a pipeline the PREPARE's own result is
 * one more pending. */
static bool prepared(struct pg *q, const char *sql, const struct params *p, char name[16])
{
	unsigned i;

	if (!p || p->n == 0)
		return false;
	for (i = 0; i < q->n_prepared && q->prepared[i] != sql; i++)
		;
	snprintf(name, 16, "s%u", i);
	if (i < q->n_prepared)
		return true;
	if (i == PG_PREPARED_MAX || (q->piped && q->n_pending == PG_PENDING_MAX))
		return false;
	if (q->piped) {
		if (!PQsendPrepare(q->db, name, sql, p->n, NULL))
			return false;
		q->pending_prep[q->n_pending] = (int)i;
		q->pending_what[q->n_pending++] = "prepare";
	} else {
		PGresult *r = PQprepare(q->db, name, sql, p->n, NULL);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;

		PQclear(r);
		if (!ok)
			return false;
	}
	q->prepared[q->n_prepared++] = sql;
	return true;
}

void pg_exec_reset(struct pg *q)
{
	q->n_prepared = 0;
	q->piped = false;
	q->n_pending = 0;
	q->pipe_failed = false;
	memset(q->pending_keep, 0, sizeof(q->pending_keep));
}

static bool send_stmt(struct pg *q, const char *sql, const struct params *p, int binary)
{
	char name[16];
	int n = p ? p->n : 0;

	if (prepared(q, sql, p, name))
		return PQsendQueryPrepared(q->db, name, n, p->v, p->len, p->fmt, binary);
	return PQsendQueryParams(q->db, sql, n, NULL, n ? p->v : NULL, n ? p->len : NULL,
				 n ? p->fmt : NULL, binary);
}

/* One statement's result in the pipeline (and the NULL that ends it); NULL when the
 * connection gave none. */
static PGresult *read_result(struct pg *q)
{
	PGresult *r = PQgetResult(q->db), *end;

	while (r && (end = PQgetResult(q->db)))
		PQclear(end);	/* only one result per statement here; never more */
	return r;
}

/* Reads the deferred statements' results: -1 when one failed (q->err says which). */
static int drain(struct pg *q)
{
	for (unsigned i = 0; i < q->n_pending; i++) {
		PGresult *r = read_result(q);
		ExecStatusType s = PQresultStatus(r);

		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
			/* A PREPARE skipped after a failure did not happen: prepare it again
			 * next time (under a new name; this slot stays unused). */
			if (q->pending_prep[i] >= 0)
				q->prepared[q->pending_prep[i]] = NULL;
			if (!q->pipe_failed)
				pg_fail(q, q->pending_what[i], r);
			q->pipe_failed = true;
		} else if (q->pending_keep[i]) {
			*q->pending_keep[i] = r;	/* its owner reads it */
			r = NULL;
		}
		q->pending_prep[i] = -1;
		q->pending_keep[i] = NULL;
		PQclear(r);
	}
	q->n_pending = 0;
	return q->pipe_failed ? -1 : 0;
}

static int flush_and_drain(struct pg *q)
{
	if (!PQsendFlushRequest(q->db) || PQflush(q->db) != 0) {
		q->pipe_failed = true;
		return pg_fail(q, "flush", NULL);
	}
	return drain(q);
}

PGresult *pg_run(struct pg *q, const char *what, const char *sql, const struct params *p,
		 int binary)
{
	PGresult *r;
	ExecStatusType s;
	char name[16];

	if (q->piped) {
		/* What was gathered first: this statement may read it. */
		if (pg_batch_flush(q) < 0 || q->pipe_failed)
			return NULL;	/* q->err holds the failure that lost the transaction */
		if (!send_stmt(q, sql, p, binary)) {
			pg_fail(q, what, NULL);
			q->pipe_failed = true;
			return NULL;
		}
		/* Ours is read after the deferred ones, sent before it. */
		if (flush_and_drain(q) < 0) {
			PQclear(read_result(q));
			return NULL;
		}
		r = read_result(q);
	} else if (prepared(q, sql, p, name)) {
		r = PQexecPrepared(q->db, name, p->n, p->v, p->len, p->fmt, binary);
	} else {
		r = PQexecParams(q->db, sql, p ? p->n : 0, NULL, p ? p->v : NULL,
				 p ? p->len : NULL, p ? p->fmt : NULL, binary);
	}
	s = PQresultStatus(r);
	if (q->wake)
		pg_notes_drain(q);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		pg_fail(q, what, r);
		if (q->piped)
			q->pipe_failed = true;
		PQclear(r);
		return NULL;
	}
	return r;
}

int pg_run_many(struct pg *q, const char *what, unsigned n, const char *const *sql,
		const struct params *p, const int *binary, PGresult **res)
{
	char name[16];
	unsigned i;

	for (i = 0; i < n; i++)
		res[i] = NULL;
	if (!q->piped || pg_batch_flush(q) < 0 || q->pipe_failed)
		return -1;
	/* Room among the pending results for the PREPAREs, read before these, and for these
	 * if sending fails half-way. */
	if (2 * n > PG_PENDING_MAX) {
		q->pipe_failed = true;
		return pg_fail(q, what, NULL);
	}
	if (q->n_pending + 2 * n > PG_PENDING_MAX && flush_and_drain(q) < 0)
		return -1;
	/* Every PREPARE needed goes before the first statement: the pending results are read
	 * in the order they were sent. */
	for (i = 0; i < n; i++)
		prepared(q, sql[i], &p[i], name);
	for (i = 0; i < n; i++) {
		if (!send_stmt(q, sql[i], &p[i], binary[i])) {
			pg_fail(q, what, NULL);
			q->pipe_failed = true;
			/* What was sent is read at the sync that ends the transaction. */
			while (i--) {
				q->pending_prep[q->n_pending] = -1;
				q->pending_what[q->n_pending++] = what;
			}
			return -1;
		}
	}
	bool failed = flush_and_drain(q) < 0;
	for (i = 0; i < n; i++) {
		res[i] = read_result(q);
		ExecStatusType s = PQresultStatus(res[i]);
		if (!failed && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
			pg_fail(q, what, res[i]);
			q->pipe_failed = failed = true;
		}
	}
	if (q->wake)
		pg_notes_drain(q);
	if (!failed)
		return 0;
	for (i = 0; i < n; i++) {
		PQclear(res[i]);
		res[i] = NULL;
	}
	return -1;
}

int pg_change(struct pg *q, const char *what, const char *sql, const struct params *p)
{
	PGresult *r = pg_run(q, what, sql, p, 0);
	int n;

	if (!r)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	return n;
}

int pg_defer(struct pg *q, const char *what, const char *sql, const struct params *p)
{
	if (!q->piped)
		return pg_change(q, what, sql, p);
	if (q->pipe_failed)
		return -1;
	if (q->n_pending + 2 > PG_PENDING_MAX && flush_and_drain(q) < 0)
		return -1;
	if (!send_stmt(q, sql, p, 0)) {
		q->pipe_failed = true;
		return pg_fail(q, what, NULL);
	}
	q->pending_prep[q->n_pending] = -1;
	q->pending_what[q->n_pending++] = what;
	return 1;
}

int pg_defer_keep(struct pg *q, const char *what, const char *sql, const struct params *p,
		  PGresult **keep)
{
	*keep = NULL;
	if (!q->piped) {
		snprintf(q->err, sizeof(q->err), "%s: no transaction open", what);
		return -1;
	}
	if (pg_defer(q, what, sql, p) < 0)
		return -1;
	/* pg_defer read what was pending before sending, if it had to: ours is the last. */
	q->pending_keep[q->n_pending - 1] = keep;
	return 0;
}

int pg_pipe_begin(struct pg *q)
{
	if (!PQenterPipelineMode(q->db))
		return pg_fail(q, "begin: pipeline", NULL);
	q->piped = true;
	q->pipe_failed = false;
	q->n_pending = 0;
	memset(q->pending_keep, 0, sizeof(q->pending_keep));
	q->out_pre_asked = false;	/* the last transaction's answer is in, or lost */
	pg_batch_reset(q);
	pg_claims_end(q, false);
	return pg_defer(q, "begin", "BEGIN", NULL) < 0 ? -1 : 0;
}

/* Ends the pipeline at a sync point: every result read, the mode left. */
static void pipe_end(struct pg *q)
{
	PGresult *r;
	unsigned guard = 0;

	drain(q);
	pg_session_forget_ahead(q);	/* read in this transaction: not valid after it */
	pg_inbound_ahead_reset(q);
	pg_batch_reset(q);
	/* The sync's own result; NULLs before it only if the connection broke. */
	while (guard++ < 4 && PQstatus(q->db) == CONNECTION_OK) {
		if (!(r = PQgetResult(q->db)))
			continue;
		ExecStatusType s = PQresultStatus(r);
		PQclear(r);
		if (s == PGRES_PIPELINE_SYNC)
			break;
	}
	PQexitPipelineMode(q->db);
	q->piped = false;
}

int pg_pipe_commit(struct pg *q, bool notify)
{
	/* The replies a claim will take leave the batch first: the claim adds them. */
	bool ok = pg_claims_absorb(q) == 0 && pg_batch_flush(q) == 0 && !q->pipe_failed;

	/* The outbox claims last: they take the replies every write before them added, and
	 * their rows are read at the sync, in the same round trip as the COMMIT. */
	if (ok)
		ok = pg_claims_send(q) == 0;
	if (ok && notify)
		ok = pg_note_send(q) == 0;
	if (ok)
		ok = pg_defer(q, "commit", "COMMIT", NULL) >= 0;
	if (!PQpipelineSync(q->db)) {
		pg_fail(q, "commit: sync", NULL);
		q->pipe_failed = true;
		ok = false;
	}
	pipe_end(q);
	ok = ok && !q->pipe_failed;
	/* Committed: the claims' rows are the caller's; else none was taken. */
	pg_claims_end(q, ok);
	q->pipe_failed = false;
	if (q->wake)
		pg_notes_drain(q);
	return ok ? 0 : -1;
}

void pg_pipe_abort(struct pg *q)
{
	char err[sizeof(q->err)];

	/* The failure that lost the transaction stays the one reported. A ROLLBACK in the
	 * pipeline ends a transaction that did not fail in the same round trip (one that
	 * failed skips it: the caller's ROLLBACK after the sync ends it). */
	memcpy(err, q->err, sizeof(err));
	pg_batch_reset(q);
	if (!q->pipe_failed)
		pg_defer(q, "rollback", "ROLLBACK", NULL);
	if (PQpipelineSync(q->db))
		pipe_end(q);
	else {
		PQexitPipelineMode(q->db);
		q->piped = false;
	}
	pg_claims_end(q, false);	/* rolled back: nothing taken */
	q->pipe_failed = false;
	memcpy(q->err, err, sizeof(err));
}
