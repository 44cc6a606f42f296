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
	PQclear(q->pre);
	q->pre = NULL;
}

/* The session read ahead with the inbound row (pg_inbound_add), if it is key's: its
 * result, now the caller's; else NULL. */
static PGresult *ahead(struct pg *q, const char *key)
{
	PGresult *r = q->pre;
	ExecStatusType s;

	if (!r || strcmp(q->pre_key, key) != 0)
		return NULL;
	q->pre = NULL;
	s = PQresultStatus(r);
	if (s != PGRES_TUPLES_OK) {
		pg_fail(q, "session_get", r);
		q->pipe_failed = true;
		PQclear(r);
		return NULL;
	}
	return r;
}

int pg_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_text(&p, key);
	if (!(r = ahead(q, key)) && !q->pipe_failed)
		r = pg_run(q, "session_get", pg_session_select, &p, 1);
	if (!r)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 1;
	}
	rc = session_decode(sess, ctx, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	PQclear(r);
	if (rc < 0) {
		snprintf(q->err, sizeof(q->err), "session_get: stored session does not decode");
		return -1;
	}
	return 0;
}

int pg_session_put(struct store *st, const struct session *sess)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	size_t len;
	char *data = session_encode(NULL, sess, &len);
	int n;

	if (!data || len > INT32_MAX) {
		talloc_free(data);
		snprintf(q->err, sizeof(q->err), "session_put: out of memory");
		return -1;
	}
	if (q->pre && !strcmp(q->pre_key, sess->key))
		pg_session_forget_ahead(q);
	pg_inbound_ahead_stale(q, sess->key);
	p_text(&p, sess->key);
	p_bin(&p, data, len);
	p_int(&p, sess->deadline);
	if (sess->state == SESSION_WAITING)
		p_int(&p, sess->call_id);
	else
		p_text(&p, NULL);
	p_int(&p, q->host);
	/* The owner of a wait is the host that started the call: a host that stores the
	 * session again for the same call (it answered a text with "please wait") leaves the
	 * owner as it was. */
	/* Deferred: libpq has copied data into its buffer when pg_defer returns. */
	n = pg_defer(q, "session_put", "INSERT INTO sessions(key, data, deadline, waiting_call,"
		      " owner) VALUES ($1, $2, $3, $4::bigint,"
		      " CASE WHEN $4::bigint IS NULL THEN NULL ELSE $5::bigint END)"
		      " ON CONFLICT (key) DO UPDATE SET data = excluded.data,"
		      " deadline = excluded.deadline, waiting_call = excluded.waiting_call,"
		      " owner = CASE WHEN excluded.waiting_call IS NULL THEN NULL"
		      "  WHEN sessions.waiting_call = excluded.waiting_call"
		      "   AND sessions.owner IS NOT NULL THEN sessions.owner"
		      "  ELSE excluded.owner END", &p);
	talloc_free(data);
	return n < 0 ? -1 : 0;
}

int pg_session_del(struct store *st, const char *key)
{
	struct params p = { .n = 0 };
	int n;

	if (pg_of(st)->pre && !strcmp(pg_of(st)->pre_key, key))
		pg_session_forget_ahead(pg_of(st));
	pg_inbound_ahead_stale(pg_of(st), key);
	p_text(&p, key);
	n = pg_defer(pg_of(st), "session_del", "DELETE FROM sessions WHERE key = $1", &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
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
