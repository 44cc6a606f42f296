/* The PostgreSQL store: the schedule (messages sent first; due ones read with FOR UPDATE
 * SKIP LOCKED so that each is sent by one host), consent (opt-out) and the cost guard's
 * daily spend. */
#include <string.h>
#include <time.h>

#include "guichet/store_pg.h"

#define SCHED_COLS "id, recipient, body, via, flow, step, vars, send_at, not_after, reference," \
	" idem, origin, status, reason, created, outbound_id"
#define SCHED_OPEN "status IN ('queued', 'deferred')"

int pg_schedule_add(struct store *st, struct store_scheduled *m)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int n;

	m->created = (int64_t)time(NULL);
	p_text(&p, m->to);
	p_text(&p, m->text);
	p_text(&p, m->via);
	p_text(&p, m->flow);
	p_text(&p, m->step);
	p_text(&p, m->vars);
	p_int(&p, m->send_at);
	p_int(&p, m->not_after);
	p_text(&p, m->reference);
	p_text(&p, m->idempotency_key);
	p_text(&p, sched_origin_name(m->origin));
	p_text(&p, sched_status_name(m->status));
	p_text(&p, m->reason);
	p_int(&p, m->created);
	r = pg_run(q, "schedule_add", "INSERT INTO scheduled(recipient, body, via, flow, step, vars,"
		   " send_at, not_after, reference, idem, origin, status, reason, created, outbound_id)"
		   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0)"
		   " ON CONFLICT (idem) WHERE idem IS NOT NULL DO NOTHING RETURNING id", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	if (n > 0) {
		m->id = col_int(r, 0, 0);
		PQclear(r);
		/* Another host's scheduler may be the one to send it (this one gone by then). */
		if (sched_status_open(m->status))
			pg_note_all(q);
		return 0;
	}
	PQclear(r);
	p.n = 0;
	p_text(&p, m->idempotency_key);
	r = pg_run(q, "schedule_add: the existing key", "SELECT id FROM scheduled WHERE idem = $1",
		   &p, 0);
	if (!r)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		snprintf(q->err, sizeof(q->err), "schedule_add: the existing key is gone");
		return -1;
	}
	m->id = col_int(r, 0, 0);
	PQclear(r);
	return 1;
}

static int sched_row(const PGresult *r, int i, struct store_scheduled *m, void *ctx)
{
	int st, org;
	static const int strs[] = { 1, 2, 3, 4, 5, 6, 9, 10, 13 };
	const char **dst[] = { &m->to, &m->text, &m->via, &m->flow, &m->step, &m->vars,
			       &m->reference, &m->idempotency_key, &m->reason };
	unsigned k;

	memset(m, 0, sizeof(*m));
	m->id = col_int(r, i, 0);
	for (k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
		*dst[k] = col_text(ctx, r, i, strs[k]);
		if (!*dst[k] && !PQgetisnull(r, i, strs[k]))
			return -1;
	}
	m->send_at = col_int(r, i, 7);
	m->not_after = col_int(r, i, 8);
	org = sched_origin_parse(PQgetvalue(r, i, 11));
	st = sched_status_parse(PQgetvalue(r, i, 12));
	m->origin = org < 0 ? SCHED_API : (enum sched_origin)org;
	m->status = st < 0 ? SCHED_FAILED : (enum sched_status)st;
	m->created = col_int(r, i, 14);
	m->outbound_id = col_int(r, i, 15);
	return 0;
}

int pg_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_int(&p, id);
	r = pg_run(q, "schedule_get", "SELECT " SCHED_COLS " FROM scheduled WHERE id = $1", &p, 0);
	if (!r)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 1;
	}
	rc = sched_row(r, 0, m, ctx);
	PQclear(r);
	if (rc < 0) {
		snprintf(q->err, sizeof(q->err), "schedule_get: out of memory");
		return -1;
	}
	return 0;
}

int pg_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
		    unsigned max, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;

	if (max == 0)
		return 0;
	p_int(&p, now_ms);
	p_int(&p, max);
	/* SKIP LOCKED: inside a transaction, a message another host is marking is not read
	 * twice (each is sent once). */
	r = pg_run(q, "schedule_due", "SELECT " SCHED_COLS " FROM scheduled WHERE " SCHED_OPEN
		   " AND send_at <= $1 ORDER BY send_at, id LIMIT $2 FOR UPDATE SKIP LOCKED", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		if (sched_row(r, i, &out[i], ctx) < 0) {
			PQclear(r);
			snprintf(q->err, sizeof(q->err), "schedule_due: out of memory");
			return -1;
		}
	PQclear(r);
	return n;
}

int pg_schedule_next(struct store *st, int64_t *when_ms)
{
	struct pg *q = pg_of(st);
	PGresult *r = pg_run(q, "schedule_next", "SELECT send_at FROM scheduled WHERE " SCHED_OPEN
			     " ORDER BY send_at LIMIT 1", NULL, 0);
	int rc;

	if (!r)
		return -1;
	rc = PQntuples(r) ? 0 : 1;
	if (rc == 0)
		*when_ms = col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int pg_schedule_mark(struct store *st, int64_t id, enum sched_status status,
		     const char *reason, int64_t send_at_ms, int64_t outbound_id)
{
	struct params p = { .n = 0 };

	p_int(&p, id);
	p_text(&p, sched_status_name(status));
	p_text(&p, reason);
	p_int(&p, send_at_ms);
	p_int(&p, outbound_id);
	return changed(pg_change(pg_of(st), "schedule_mark", "UPDATE scheduled SET status = $2,"
				 " reason = $3, send_at = CASE WHEN $4::bigint > 0 THEN $4 ELSE send_at END,"
				 " outbound_id = CASE WHEN $5::bigint > 0 THEN $5 ELSE outbound_id END"
				 " WHERE id = $1 AND " SCHED_OPEN, &p));
}

int pg_schedule_outbound_status(struct store *st, int64_t outbound_id,
				enum sched_status status, const char *reason)
{
	struct params p = { .n = 0 };

	p_int(&p, outbound_id);
	p_text(&p, sched_status_name(status));
	p_text(&p, reason);
	return changed(pg_change(pg_of(st), "schedule_outbound_status",
				 "UPDATE scheduled SET status = $2, reason = $3 WHERE outbound_id = $1"
				 " AND outbound_id > 0 AND status IN ('sent', 'delivered')", &p));
}

int pg_schedule_cancel(struct store *st, int64_t id)
{
	return pg_by_id(st, id, "schedule_cancel", "UPDATE scheduled SET status = 'cancelled',"
			" reason = NULL WHERE id = $1 AND " SCHED_OPEN);
}

int pg_schedule_cancel_ref(struct store *st, const char *reference, const char *to)
{
	struct params p = { .n = 0 };

	p_text(&p, reference);
	p_text(&p, to);
	return pg_change(pg_of(st), "schedule_cancel_ref", "UPDATE scheduled SET status = 'cancelled',"
			 " reason = NULL WHERE reference = $1 AND ($2::text IS NULL OR recipient = $2)"
			 " AND " SCHED_OPEN, &p);
}

int pg_optout_set(struct store *st, const char *number, int64_t since)
{
	struct params p = { .n = 0 };

	p_text(&p, number);
	p_int(&p, since);
	return pg_change(pg_of(st), "optout_set", "INSERT INTO optout(number, since)"
			 " VALUES ($1, $2) ON CONFLICT (number) DO NOTHING", &p) < 0 ? -1 : 0;
}

int pg_optout_clear(struct store *st, const char *number)
{
	struct params p = { .n = 0 };

	p_text(&p, number);
	return pg_change(pg_of(st), "optout_clear", "DELETE FROM optout WHERE number = $1",
			 &p) < 0 ? -1 : 0;
}

int pg_optout_is(struct store *st, const char *number)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int n;

	p_text(&p, number);
	r = pg_run(q, "optout_is", "SELECT 1 FROM optout WHERE number = $1", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	PQclear(r);
	return n > 0 ? 1 : 0;
}

/* Each host adds to its own row of the day: a row shared by the hosts would be locked by
 * one host's transaction from its first reply to its commit, and every other host's reply
 * would wait for that commit (the hosts' writes in turn instead of together). */
int pg_spend_add(struct store *st, int64_t day, const char *via, unsigned parts)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };

	if (q->piped)
		return pg_batch_spend(q, day, via ? via : "", parts);
	p_int(&p, day);
	p_text(&p, via ? via : "");
	p_int(&p, q->host);
	p_int(&p, parts);
	return pg_change(q, "spend_add", "INSERT INTO spend(day, via, host, parts)"
			 " VALUES ($1, $2, $3, $4) ON CONFLICT (day, via, host) DO UPDATE SET"
			 " parts = spend.parts + excluded.parts", &p) < 0 ? -1 : 0;
}

int pg_spend_get(struct store *st, int64_t day,
		 void (*fn)(void *data, const char *via, uint64_t parts), void *data)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;

	p_int(&p, day);
	r = pg_run(q, "spend_get", "SELECT via, sum(parts) FROM spend WHERE day = $1"
		   " GROUP BY via ORDER BY via", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		fn(data, PQgetvalue(r, i, 0), (uint64_t)col_int(r, i, 1));
	PQclear(r);
	return 0;
}
