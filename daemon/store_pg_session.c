/* The PostgreSQL store: sessions, one row per person and place, locked (FOR UPDATE) by the
 * transaction that applies a step so that two hosts apply one person's texts in order. A
 * session waiting for a back-end call records the host making it (owner): session_each,
 * which a starting host uses to fail the waits interrupted by its restart, leaves out the
 * waits of other live hosts. */
#include <string.h>
#include <time.h>

#include "guichet/store_pg.h"

/* FOR UPDATE: inside the step's transaction, another host applying a text of the same
 * person waits here until this step is committed (outside one it locks nothing). */
const char pg_session_select[] = "SELECT data FROM sessions WHERE key = $1 FOR UPDATE";

void pg_session_forget_ahead(struct pg *q)
{
	q->pre.set = false;
}

void pg_session_ahead(struct pg *q, const char *key, int row)
{
	q->pre.set = true;
	snprintf(q->pre.key, sizeof(q->pre.key), "%s", key);
	q->pre.row = row;
}

int pg_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r = NULL;
	int row = 0, rc;

	p_text(&p, key);
	if (q->pre.set && !strcmp(q->pre.key, key)) {
		/* Read ahead with the group's texts (pg_inbound_ahead): not read again. */
		row = q->pre.row;
		q->pre.set = false;
	} else if (q->pipe_failed || !(r = pg_run(q, "session_get", pg_session_select, &p, 1))) {
		return -1;
	} else if (PQntuples(r) == 0) {
		row = -1;
	}
	const PGresult *from = r ? r : q->ahead_sessions;
	rc = row < 0 ? 1 : session_decode(sess, ctx, PQgetvalue(from, row, 0),
					  (size_t)PQgetlength(from, row, 0));
	PQclear(r);
	if (rc < 0) {
		snprintf(q->err, sizeof(q->err), "session_get: stored session does not decode");
		return -1;
	}
	return rc;
}

/* Written with the transaction's other writes of sessions (store_pg_batch.c), which says
 * how a wait's owner is kept. */
int pg_session_put(struct store *st, const struct session *sess)
{
	struct pg *q = pg_of(st);
	size_t len;
	char *data = session_encode(NULL, sess, &len);
	int n;

	if (!data || len > INT32_MAX) {
		talloc_free(data);
		snprintf(q->err, sizeof(q->err), "session_put: out of memory");
		return -1;
	}
	if (q->pre.set && !strcmp(q->pre.key, sess->key))
		pg_session_forget_ahead(q);
	pg_inbound_ahead_stale(q, sess->key);
	int64_t call = sess->call_id;
	n = pg_batch_session(q, sess->key, data, len, sess->deadline,
			     sess->state == SESSION_WAITING ? &call : NULL);
	talloc_free(data);
	return n < 0 ? -1 : 0;
}

int pg_session_del(struct store *st, const char *key)
{
	struct pg *q = pg_of(st);
	int n;

	if (q->pre.set && !strcmp(q->pre.key, key))
		pg_session_forget_ahead(q);
	pg_inbound_ahead_stale(q, key);
	/* In a transaction it goes with others (0: as if found); outside one, at once. */
	n = pg_batch_session(q, key, NULL, 0, 0, NULL);
	return n < 0 ? -1 : q->piped || n > 0 ? 0 : 1;
}

int pg_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
		    void *data, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;
	size_t bad = 0;

	/* Hosts gone are out of the hosts table once the leases are checked: a wait of theirs
	 * (or of this host's previous run) is one nobody will answer; the waits of live hosts
	 * are theirs to finish. */
	if (pg_lease(q, true) < 0)
		return -1;
	p_int(&p, q->host);
	r = pg_run(q, "session_each", "SELECT data FROM sessions WHERE owner IS NULL"
		   " OR owner = $1 OR owner NOT IN (SELECT id FROM hosts) ORDER BY key", &p, 1);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		if (session_decode_visit(ctx, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), fn,
					 data) < 0)
			bad++;
	PQclear(r);
	if (bad)
		snprintf(q->err, sizeof(q->err), "session_each: %zu stored sessions do not decode",
			 bad);
	return 0;
}

/* Outside a transaction: the UPDATE claims the rows and commits at once, so that two live
 * hosts sweeping together fail each wait once (the second finds the first as owner). */
int pg_session_orphans(struct store *st, void (*fn)(void *data, const struct session *s),
		       void *data, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;

	if (pg_lease(q, true) < 0)
		return -1;
	p_int(&p, q->host);
	r = pg_run(q, "session_orphans", "UPDATE sessions SET owner = $1"
		   " WHERE waiting_call IS NOT NULL AND owner IS NOT NULL AND owner <> $1"
		   " AND owner NOT IN (SELECT id FROM hosts) RETURNING data", &p, 1);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		session_decode_visit(ctx, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), fn, data);
	PQclear(r);
	return 0;
}
