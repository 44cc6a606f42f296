/* The PostgreSQL store: sessions, one row per person and place, locked (FOR UPDATE) by the
 * transaction that applies a step so that two hosts apply one person's texts in order. */
#include <string.h>
#include <time.h>

#include "guichet/store_pg.h"

int pg_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_text(&p, key);
	/* FOR UPDATE: inside the step's transaction, another host applying a text of the same
	 * person waits here until this step is committed (outside one it locks nothing). */
	r = pg_run(q, "session_get", "SELECT data FROM sessions WHERE key = $1 FOR UPDATE", &p, 1);
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
	p_text(&p, sess->key);
	p_bin(&p, data, len);
	p_int(&p, sess->deadline);
	n = pg_change(q, "session_put", "INSERT INTO sessions(key, data, deadline)"
		      " VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET data = excluded.data,"
		      " deadline = excluded.deadline", &p);
	talloc_free(data);
	return n < 0 ? -1 : 0;
}

int pg_session_del(struct store *st, const char *key)
{
	struct params p = { .n = 0 };
	int n;

	p_text(&p, key);
	n = pg_change(pg_of(st), "session_del", "DELETE FROM sessions WHERE key = $1", &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

int pg_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
		    void *data, void *ctx)
{
	struct pg *q = pg_of(st);
	PGresult *r = pg_run(q, "session_each", "SELECT data FROM sessions ORDER BY key", NULL, 1);
	int i, n;
	size_t bad = 0;

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
