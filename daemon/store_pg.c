/* The durable store on PostgreSQL (libpq), for several guichetd sharing one database.
 *
 * Same behaviour as store_sqlite.c, operation for operation (the same unit suite runs on
 * both). What differs because several hosts share the rows:
 * - the outbox is read with FOR UPDATE SKIP LOCKED inside the caller's transaction (the
 *   router reads due rows and marks them taken in one transaction), so two hosts never
 *   hand the same row to a transport;
 * - a row marked taken records the host that took it (taken_by, a random id per open
 *   store). Each host renews its lease in the hosts table (with its server process id);
 *   rows taken by a host that is gone go back to the queue and count as possible duplicate
 *   sends, as a crash does with SQLite. Gone: its connection ended (killed, or the
 *   database restarted: its server process is not in pg_stat_activity), its lease expired
 *   (LEASE_S: silent), or it closed its store. Checked at open and every RENEW_S;
 * - session_get locks the person's session row (FOR UPDATE) in the transaction that
 *   applies a step, so two hosts receiving two texts of one person apply them in order.
 *
 * Statements are synchronous (PQexecParams) and each one short (single-row or bounded by
 * an index): the loop waits for the database as it waits for SQLite's fsync. The schema
 * is created and migrated at open, under an advisory lock so that hosts starting together
 * migrate once: schema_version holds the version, migrations[] the ordered steps. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <osmocom/core/talloc.h>

#include "guichet/store.h"

#define LEASE_S 60		/* a host silent that long is dead: its taken rows return */
#define RENEW_S 10		/* how often a host renews its lease (at most) */

/* Ordered: migrations[i] brings the schema from version i to i + 1. Never edit one that
 * was released; append. */
static const char *const migrations[] = {
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
	"INSERT INTO meta(name, value) VALUES ('duplicate_sends', 0);"
	"CREATE TABLE hosts (id BIGINT PRIMARY KEY, seen BIGINT NOT NULL);"
	"CREATE TABLE inbound ("
	" id BIGSERIAL PRIMARY KEY,"
	" channel INTEGER NOT NULL,"
	" via TEXT NOT NULL,"
	" sender TEXT,"
	" body TEXT,"
	" received BIGINT NOT NULL,"
	" dedup TEXT,"
	" done BOOLEAN NOT NULL DEFAULT false);"
	"CREATE UNIQUE INDEX inbound_dedup ON inbound(via, dedup) WHERE dedup IS NOT NULL;"
	"CREATE INDEX inbound_pending ON inbound(id) WHERE NOT done;"
	"CREATE TABLE outbound ("
	" id BIGSERIAL PRIMARY KEY,"
	" via TEXT NOT NULL,"
	" recipient TEXT,"
	" body TEXT,"
	" coding INTEGER NOT NULL,"
	" parts INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" not_before_ms BIGINT NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL CHECK (state IN ('queued', 'taken', 'sent', 'dead')),"
	" taken_by BIGINT,"
	" created BIGINT NOT NULL);"
	"CREATE INDEX outbound_queued ON outbound(not_before_ms, id) WHERE state = 'queued';"
	"CREATE INDEX outbound_taken ON outbound(taken_by) WHERE state = 'taken';"
	"CREATE TABLE sessions ("
	" key TEXT PRIMARY KEY,"
	" data BYTEA NOT NULL,"
	" deadline BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX sessions_deadline ON sessions(deadline) WHERE deadline > 0;"
	"CREATE TABLE spend ("
	" day BIGINT NOT NULL,"
	" via TEXT NOT NULL,"
	" parts BIGINT NOT NULL,"
	" PRIMARY KEY (day, via));"
	"CREATE TABLE scheduled ("
	" id BIGSERIAL PRIMARY KEY,"
	" recipient TEXT,"
	" body TEXT,"
	" via TEXT,"
	" flow TEXT,"
	" step TEXT,"
	" vars TEXT,"
	" send_at BIGINT NOT NULL,"
	" not_after BIGINT NOT NULL DEFAULT 0,"
	" reference TEXT,"
	" idem TEXT,"
	" origin TEXT NOT NULL CHECK (origin IN ('api', 'remind', 'receipt', 'notify')),"
	" status TEXT NOT NULL CHECK (status IN ('queued', 'deferred', 'sent', 'delivered',"
	"  'failed', 'expired', 'refused', 'cancelled')),"
	" reason TEXT,"
	" created BIGINT NOT NULL,"
	" outbound_id BIGINT NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX scheduled_idem ON scheduled(idem) WHERE idem IS NOT NULL;"
	"CREATE INDEX scheduled_due ON scheduled(send_at, id) WHERE status IN ('queued', 'deferred');"
	"CREATE INDEX scheduled_ref ON scheduled(reference) WHERE reference IS NOT NULL;"
	"CREATE INDEX scheduled_out ON scheduled(outbound_id) WHERE outbound_id > 0;"
	"CREATE TABLE optout (number TEXT PRIMARY KEY, since BIGINT NOT NULL);"
	"CREATE TABLE remote_ids ("
	" via TEXT NOT NULL,"
	" remote TEXT NOT NULL,"
	" outbound_id BIGINT NOT NULL,"
	" created BIGINT NOT NULL,"
	" PRIMARY KEY (via, remote));",
	/* 2: the host's server process, so that a host killed is known gone at once (its
	 * connection ends) rather than after LEASE_S. */
	"ALTER TABLE hosts ADD COLUMN pid INTEGER;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct pg {
	PGconn *db;
	int64_t host;		/* this open store's id in hosts and outbound.taken_by */
	int64_t renewed;	/* when the lease was last renewed (unix s) */
	char err[256];
};

/* Parameters as text, built on the stack. */
#define PMAX 16
struct params {
	const char *v[PMAX];
	int len[PMAX], fmt[PMAX];
	char buf[PMAX][24];
	int n;
};

static void p_int(struct params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static void p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static void p_bin(struct params *p, const void *d, size_t len)
{
	p->v[p->n] = d;
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = 1;
}

static struct pg *pg_of(struct store *st)
{
	return st->priv;
}

static int pg_fail(struct pg *q, const char *what, const PGresult *r)
{
	const char *m = r ? PQresultErrorMessage(r) : NULL;
	char *nl;

	if (!m || !*m)
		m = PQerrorMessage(q->db);
	snprintf(q->err, sizeof(q->err), "%s: %s", what, m && *m ? m : "no database");
	if ((nl = strchr(q->err, '\n')))
		*nl = '\0';
	return -1;
}

/* Runs sql; the result on success (PQclear it), NULL with q->err set. binary: results in
 * binary format (only for the session rows). */
static PGresult *pg_run(struct pg *q, const char *what, const char *sql, const struct params *p,
			int binary)
{
	PGresult *r = PQexecParams(q->db, sql, p ? p->n : 0, NULL, p ? p->v : NULL,
				   p ? p->len : NULL, p ? p->fmt : NULL, binary);
	ExecStatusType s = PQresultStatus(r);

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		pg_fail(q, what, r);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* Runs a change: the number of rows changed, or -1. */
static int pg_change(struct pg *q, const char *what, const char *sql, const struct params *p)
{
	PGresult *r = pg_run(q, what, sql, p, 0);
	int n;

	if (!r)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	return n;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *col_text(void *ctx, const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : talloc_strdup(ctx, PQgetvalue(r, row, col));
}

static char *col_text_nn(void *ctx, const PGresult *r, int row, int col)
{
	return talloc_strdup(ctx, PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* --- transactions --- */

static int pg_lease(struct pg *q, bool force);

static bool pg_in_tx(struct pg *q)
{
	PGTransactionStatusType t = PQtransactionStatus(q->db);

	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* A connection lost (PostgreSQL restarted, network) is reopened at the next begin; nothing
 * is acknowledged meanwhile since begin fails. */
static int pg_begin(struct store *st)
{
	struct pg *q = pg_of(st);
	PGresult *r;

	if (PQstatus(q->db) != CONNECTION_OK) {
		PQreset(q->db);
		if (PQstatus(q->db) != CONNECTION_OK)
			return pg_fail(q, "begin: reconnect", NULL);
		q->renewed = 0;		/* a new server process: say so at once */
	}
	if (pg_in_tx(q)) {
		snprintf(q->err, sizeof(q->err), "begin: a transaction is already open");
		return -1;
	}
	r = pg_run(q, "begin", "BEGIN", NULL, 0);
	if (!r)
		return -1;
	PQclear(r);
	/* A host that only receives renews its lease too. */
	if (pg_lease(q, false) < 0) {
		PQclear(PQexec(q->db, "ROLLBACK"));
		return -1;
	}
	return 0;
}

static int pg_commit(struct store *st)
{
	struct pg *q = pg_of(st);
	PGresult *r;

	if (!pg_in_tx(q)) {
		snprintf(q->err, sizeof(q->err), "commit: no transaction open");
		return -1;
	}
	if (PQtransactionStatus(q->db) == PQTRANS_INERROR) {
		r = PQexec(q->db, "ROLLBACK");
		PQclear(r);
		snprintf(q->err, sizeof(q->err), "commit: the transaction failed and was rolled back");
		return -1;
	}
	r = pg_run(q, "commit", "COMMIT", NULL, 0);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

static int pg_rollback(struct store *st)
{
	struct pg *q = pg_of(st);
	PGresult *r;

	if (!pg_in_tx(q))
		return 0;
	r = pg_run(q, "rollback", "ROLLBACK", NULL, 0);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/* --- inbound --- */

static int pg_inbound_add(struct store *st, struct store_inbound *in)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int n;

	p_int(&p, in->channel);
	p_text(&p, in->via);
	p_text(&p, in->from);
	p_text(&p, in->text);
	p_int(&p, in->received);
	p_text(&p, in->dedup);
	r = pg_run(q, "inbound_add",
		   "INSERT INTO inbound(channel, via, sender, body, received, dedup)"
		   " VALUES ($1, $2, $3, $4, $5, $6)"
		   " ON CONFLICT (via, dedup) WHERE dedup IS NOT NULL DO NOTHING RETURNING id",
		   &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	if (n > 0)
		in->id = col_int(r, 0, 0);
	PQclear(r);
	return n > 0 ? 0 : 1;
}

static int pg_by_id(struct store *st, int64_t id, const char *what, const char *sql)
{
	struct params p = { .n = 0 };
	int n;

	p_int(&p, id);
	n = pg_change(pg_of(st), what, sql, &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int pg_inbound_done(struct store *st, int64_t id)
{
	return pg_by_id(st, id, "inbound_done", "UPDATE inbound SET done = true WHERE id = $1");
}

static int pg_inbound_forget(struct store *st, int64_t id)
{
	return pg_by_id(st, id, "inbound_forget",
			"UPDATE inbound SET body = NULL, dedup = NULL WHERE id = $1");
}

static int pg_inbound_pending(struct store *st,
			      void (*fn)(void *data, const struct store_inbound *in), void *data)
{
	struct pg *q = pg_of(st);
	PGresult *r = pg_run(q, "inbound_pending",
			     "SELECT id, channel, via, sender, body, received, dedup FROM inbound"
			     " WHERE NOT done ORDER BY id", NULL, 0);
	int i, n;

	if (!r)
		return -1;
	/* The rows are all in r before the first call: fn may use the store. */
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct store_inbound in = {
			.id = col_int(r, i, 0),
			.channel = (enum channel)col_int(r, i, 1),
			.via = PQgetvalue(r, i, 2),
			.from = PQgetvalue(r, i, 3),
			.text = PQgetvalue(r, i, 4),
			.received = col_int(r, i, 5),
			.dedup = PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
		};
		fn(data, &in);
	}
	PQclear(r);
	return 0;
}

/* --- outbound --- */

static int pg_outbound_add(struct store *st, struct store_outbound *out)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;

	p_text(&p, out->via);
	p_text(&p, out->to);
	p_text(&p, out->text);
	p_int(&p, out->coding);
	p_int(&p, out->parts);
	p_int(&p, out->attempts);
	p_int(&p, out->not_before);
	p_int(&p, (int64_t)time(NULL));
	r = pg_run(q, "outbound_add",
		   "INSERT INTO outbound(via, recipient, body, coding, parts, attempts,"
		   " not_before_ms, state, created) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8)"
		   " RETURNING id", &p, 0);
	if (!r)
		return -1;
	out->id = col_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/* Puts back in the queue what hosts that are gone had taken (sql selects the hosts), and
 * counts those rows as possible duplicates. Own transaction unless one is open. */
static int pg_requeue(struct pg *q, const char *sql, const struct params *p)
{
	return pg_change(q, "requeue", sql, p);
}

static const char requeue_expired[] =
	"WITH gone AS (DELETE FROM hosts WHERE seen < $1"
	"  OR (pid IS NOT NULL AND pid NOT IN (SELECT pid FROM pg_stat_activity)) RETURNING id),"
	" back AS (UPDATE outbound SET state = 'queued', taken_by = NULL"
	"  WHERE state = 'taken' AND (taken_by IS NULL OR taken_by IN (SELECT id FROM gone)"
	"   OR taken_by NOT IN (SELECT id FROM hosts)) RETURNING id)"
	" UPDATE meta SET value = value + (SELECT count(*) FROM back)"
	" WHERE name = 'duplicate_sends'";

/* Renews this host's lease and returns expired hosts' rows, at most every RENEW_S. */
static int pg_lease(struct pg *q, bool force)
{
	int64_t now = (int64_t)time(NULL);
	struct params p = { .n = 0 };

	if (!force && now - q->renewed < RENEW_S)
		return 0;
	p_int(&p, q->host);
	p_int(&p, now);
	if (pg_change(q, "lease", "INSERT INTO hosts(id, seen, pid) VALUES ($1, $2, pg_backend_pid())"
		      " ON CONFLICT (id) DO UPDATE SET seen = excluded.seen, pid = excluded.pid", &p) < 0)
		return -1;
	p.n = 0;
	p_int(&p, now - LEASE_S);
	if (pg_requeue(q, requeue_expired, &p) < 0)
		return -1;
	q->renewed = now;
	return 0;
}

static int pg_outbound_due(struct store *st, const char *via, int64_t now_ms,
			   struct store_outbound *out, unsigned max, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;

	if (max == 0)
		return 0;
	if (pg_lease(q, false) < 0)
		return -1;
	p_text(&p, via);
	p_int(&p, now_ms);
	p_int(&p, max);
	/* SKIP LOCKED: rows another host is handing out right now are not ours to read. */
	r = pg_run(q, "outbound_due",
		   "SELECT id, via, recipient, body, coding, parts, attempts, not_before_ms"
		   " FROM outbound WHERE state = 'queued' AND not_before_ms <= $2"
		   " AND ($1::text IS NULL OR via = $1) ORDER BY id LIMIT $3"
		   " FOR UPDATE SKIP LOCKED", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct store_outbound *o = &out[i];

		o->id = col_int(r, i, 0);
		o->via = col_text_nn(ctx, r, i, 1);
		o->to = col_text_nn(ctx, r, i, 2);
		o->text = col_text_nn(ctx, r, i, 3);
		o->coding = col_int(r, i, 4) == TEXT_UCS2 ? TEXT_UCS2 : TEXT_GSM7;
		o->parts = (unsigned)col_int(r, i, 5);
		o->attempts = (unsigned)col_int(r, i, 6);
		o->not_before = col_int(r, i, 7);
		if (!o->via || !o->to || !o->text) {
			snprintf(q->err, sizeof(q->err), "outbound_due: out of memory");
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return n;
}

static int pg_outbound_taken(struct store *st, int64_t id)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	int n;

	p_int(&p, id);
	p_int(&p, q->host);
	n = pg_change(q, "outbound_taken", "UPDATE outbound SET state = 'taken',"
		      " attempts = attempts + 1, taken_by = $2 WHERE id = $1 AND state = 'queued'", &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int pg_outbound_sent(struct store *st, int64_t id)
{
	return pg_by_id(st, id, "outbound_sent", "UPDATE outbound SET state = 'sent', body = NULL,"
			" recipient = NULL, taken_by = NULL WHERE id = $1 AND state IN ('queued', 'taken')");
}

static int pg_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up)
{
	struct params p = { .n = 0 };
	int n;

	if (give_up)
		return pg_by_id(st, id, "outbound_failed", "UPDATE outbound SET state = 'dead',"
				" taken_by = NULL WHERE id = $1 AND state IN ('queued', 'taken')");
	p_int(&p, id);
	p_int(&p, not_before_ms);
	n = pg_change(pg_of(st), "outbound_failed", "UPDATE outbound SET state = 'queued',"
		      " not_before_ms = $2, taken_by = NULL WHERE id = $1 AND state IN ('queued', 'taken')",
		      &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

/* --- sessions --- */

static int pg_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
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

static int pg_session_put(struct store *st, const struct session *sess)
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

static int pg_session_del(struct store *st, const char *key)
{
	struct params p = { .n = 0 };
	int n;

	p_text(&p, key);
	n = pg_change(pg_of(st), "session_del", "DELETE FROM sessions WHERE key = $1", &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int pg_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
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

/* --- the schedule and consent --- */

#define SCHED_COLS "id, recipient, body, via, flow, step, vars, send_at, not_after, reference," \
	" idem, origin, status, reason, created, outbound_id"
#define SCHED_OPEN "status IN ('queued', 'deferred')"

static int pg_schedule_add(struct store *st, struct store_scheduled *m)
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

static int pg_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx)
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

static int pg_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
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

static int pg_schedule_next(struct store *st, int64_t *when_ms)
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

static int changed(int n)
{
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

static int pg_schedule_mark(struct store *st, int64_t id, enum sched_status status,
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

static int pg_schedule_outbound_status(struct store *st, int64_t outbound_id,
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

static int pg_schedule_cancel(struct store *st, int64_t id)
{
	return pg_by_id(st, id, "schedule_cancel", "UPDATE scheduled SET status = 'cancelled',"
			" reason = NULL WHERE id = $1 AND " SCHED_OPEN);
}

static int pg_schedule_cancel_ref(struct store *st, const char *reference, const char *to)
{
	struct params p = { .n = 0 };

	p_text(&p, reference);
	p_text(&p, to);
	return pg_change(pg_of(st), "schedule_cancel_ref", "UPDATE scheduled SET status = 'cancelled',"
			 " reason = NULL WHERE reference = $1 AND ($2::text IS NULL OR recipient = $2)"
			 " AND " SCHED_OPEN, &p);
}

static int pg_optout_set(struct store *st, const char *number, int64_t since)
{
	struct params p = { .n = 0 };

	p_text(&p, number);
	p_int(&p, since);
	return pg_change(pg_of(st), "optout_set", "INSERT INTO optout(number, since)"
			 " VALUES ($1, $2) ON CONFLICT (number) DO NOTHING", &p) < 0 ? -1 : 0;
}

static int pg_optout_clear(struct store *st, const char *number)
{
	struct params p = { .n = 0 };

	p_text(&p, number);
	return pg_change(pg_of(st), "optout_clear", "DELETE FROM optout WHERE number = $1",
			 &p) < 0 ? -1 : 0;
}

static int pg_optout_is(struct store *st, const char *number)
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

static int pg_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote)
{
	struct params p = { .n = 0 };

	p_text(&p, via);
	p_text(&p, remote);
	p_int(&p, id);
	p_int(&p, (int64_t)time(NULL));
	return pg_change(pg_of(st), "outbound_remote", "INSERT INTO remote_ids(via, remote,"
			 " outbound_id, created) VALUES ($1, $2, $3, $4) ON CONFLICT (via, remote)"
			 " DO UPDATE SET outbound_id = excluded.outbound_id, created = excluded.created",
			 &p) < 0 ? -1 : 0;
}

static int pg_outbound_by_remote(struct store *st, const char *via, const char *remote,
				 int64_t *id)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_text(&p, via);
	p_text(&p, remote);
	r = pg_run(q, "outbound_by_remote", "SELECT outbound_id FROM remote_ids"
		   " WHERE via = $1 AND remote = $2", &p, 0);
	if (!r)
		return -1;
	rc = PQntuples(r) ? 0 : 1;
	if (rc == 0)
		*id = col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

/* --- upkeep --- */

static int pg_purge(struct store *st, int64_t now, unsigned keep_s)
{
	struct pg *q = pg_of(st);
	bool own = !pg_in_tx(q);
	int64_t cutoff = now - (int64_t)keep_s;
	static const char *const sql[] = {
		"DELETE FROM inbound WHERE done AND received < $1",
		"DELETE FROM outbound WHERE state IN ('sent', 'dead') AND created < $1",
		"DELETE FROM sessions WHERE deadline > 0 AND deadline < $1",
		"DELETE FROM spend WHERE day < $1",
		"UPDATE scheduled SET recipient = NULL, body = NULL, vars = NULL"
		" WHERE status NOT IN ('queued', 'deferred') AND created < $1"
		" AND (recipient IS NOT NULL OR body IS NOT NULL OR vars IS NOT NULL)",
		"DELETE FROM remote_ids WHERE created < $1",
	};
	const int64_t arg[] = { cutoff, cutoff, now, now / 86400 - 31, cutoff, cutoff };
	const bool counted[] = { true, true, true, false, true, false };
	int total = 0;
	size_t i;

	if (own && pg_begin(st) < 0)
		return -1;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		struct params p = { .n = 0 };
		int n;

		p_int(&p, arg[i]);
		n = pg_change(q, "purge", sql[i], &p);
		if (n < 0)
			goto fail;
		if (counted[i])
			total += n;
	}
	if (own && pg_commit(st) < 0)
		goto fail;
	return total;
fail:
	if (own)
		pg_rollback(st);
	return -1;
}

static int pg_counters(struct store *st, struct store_counters *c)
{
	struct pg *q = pg_of(st);
	PGresult *r = pg_run(q, "counters",
			     "SELECT (SELECT count(*) FROM inbound WHERE NOT done),"
			     " (SELECT count(*) FROM outbound WHERE state IN ('queued', 'taken')),"
			     " (SELECT count(*) FROM sessions),"
			     " (SELECT value FROM meta WHERE name = 'duplicate_sends')", NULL, 0);

	if (!r)
		return -1;
	c->inbound_pending = (uint64_t)col_int(r, 0, 0);
	c->outbound_pending = (uint64_t)col_int(r, 0, 1);
	c->sessions = (uint64_t)col_int(r, 0, 2);
	c->duplicate_sends = (uint64_t)col_int(r, 0, 3);
	PQclear(r);
	return 0;
}

static int pg_spend_add(struct store *st, int64_t day, const char *via, unsigned parts)
{
	struct params p = { .n = 0 };

	p_int(&p, day);
	p_text(&p, via ? via : "");
	p_int(&p, parts);
	return pg_change(pg_of(st), "spend_add", "INSERT INTO spend(day, via, parts)"
			 " VALUES ($1, $2, $3) ON CONFLICT (day, via) DO UPDATE SET"
			 " parts = spend.parts + excluded.parts", &p) < 0 ? -1 : 0;
}

static int pg_spend_get(struct store *st, int64_t day,
			void (*fn)(void *data, const char *via, uint64_t parts), void *data)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;

	p_int(&p, day);
	r = pg_run(q, "spend_get", "SELECT via, parts FROM spend WHERE day = $1 ORDER BY via", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		fn(data, PQgetvalue(r, i, 0), (uint64_t)col_int(r, i, 1));
	PQclear(r);
	return 0;
}

static const char *pg_last_error(struct store *st)
{
	return pg_of(st)->err;
}

static int pg_destructor(struct pg *q)
{
	if (q->db && PQstatus(q->db) == CONNECTION_OK) {
		struct params p = { .n = 0 };
		PGresult *r;

		/* A clean close ends this host's lease now: what it had taken and not sent
		 * returns to the queue at the next open or lease check, like after a crash. */
		if (pg_in_tx(q))
			PQclear(PQexec(q->db, "ROLLBACK"));
		p_int(&p, q->host);
		r = PQexecParams(q->db, "DELETE FROM hosts WHERE id = $1", 1, NULL, p.v, NULL, NULL, 0);
		PQclear(r);
	}
	if (q->db)
		PQfinish(q->db);
	q->db = NULL;
	return 0;
}

static void pg_close(struct store *st)
{
	talloc_free(st);
}

static const struct store_ops pg_ops = {
	.name = "postgresql",
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.inbound_add = pg_inbound_add,
	.inbound_done = pg_inbound_done,
	.inbound_forget = pg_inbound_forget,
	.inbound_pending = pg_inbound_pending,
	.outbound_add = pg_outbound_add,
	.outbound_due = pg_outbound_due,
	.outbound_taken = pg_outbound_taken,
	.outbound_sent = pg_outbound_sent,
	.outbound_failed = pg_outbound_failed,
	.session_get = pg_session_get,
	.session_put = pg_session_put,
	.session_del = pg_session_del,
	.session_each = pg_session_each,
	.purge = pg_purge,
	.counters = pg_counters,
	.spend_add = pg_spend_add,
	.spend_get = pg_spend_get,
	.schedule_add = pg_schedule_add,
	.schedule_get = pg_schedule_get,
	.schedule_due = pg_schedule_due,
	.schedule_next = pg_schedule_next,
	.schedule_mark = pg_schedule_mark,
	.schedule_outbound_status = pg_schedule_outbound_status,
	.outbound_remote = pg_outbound_remote,
	.outbound_by_remote = pg_outbound_by_remote,
	.schedule_cancel = pg_schedule_cancel,
	.schedule_cancel_ref = pg_schedule_cancel_ref,
	.optout_set = pg_optout_set,
	.optout_clear = pg_optout_clear,
	.optout_is = pg_optout_is,
	.close = pg_close,
	.last_error = pg_last_error,
};

/* --- opening --- */

/* Creates or migrates the schema, in one transaction under an advisory lock: hosts that
 * start together wait for the first, then find the schema current. A database newer than
 * this program is refused. */
static int pg_migrate(struct pg *q, char *err, size_t err_len)
{
	PGresult *r;
	int v = 0, i;

	if (!(r = pg_run(q, "migrate", "BEGIN", NULL, 0)))
		goto fail;
	PQclear(r);
	if (!(r = pg_run(q, "migrate", "SELECT pg_advisory_xact_lock(" "1735747939" ")", NULL, 0)))
		goto fail;
	PQclear(r);
	if (!(r = pg_run(q, "migrate", "CREATE TABLE IF NOT EXISTS schema_version"
			 " (version INTEGER NOT NULL)", NULL, 0)))
		goto fail;
	PQclear(r);
	if (!(r = pg_run(q, "migrate", "SELECT version FROM schema_version", NULL, 0)))
		goto fail;
	if (PQntuples(r) > 0)
		v = (int)col_int(r, 0, 0);
	i = PQntuples(r);
	PQclear(r);
	if (i == 0 && pg_change(q, "migrate", "INSERT INTO schema_version VALUES (0)", NULL) < 0)
		goto fail;
	if (v > SCHEMA_VERSION) {
		snprintf(err, err_len, "the database has schema version %d, newer than this guichetd"
			 " (%d): upgrade guichetd", v, SCHEMA_VERSION);
		PQclear(PQexec(q->db, "ROLLBACK"));
		return -1;
	}
	for (i = v; i < SCHEMA_VERSION; i++) {
		struct params p = { .n = 0 };

		/* Several statements: PQexec (PQexecParams takes one). */
		r = PQexec(q->db, migrations[i]);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			pg_fail(q, "migrate", r);
			PQclear(r);
			goto fail;
		}
		PQclear(r);
		p_int(&p, i + 1);
		if (pg_change(q, "migrate", "UPDATE schema_version SET version = $1", &p) < 0)
			goto fail;
	}
	if (!(r = pg_run(q, "migrate", "COMMIT", NULL, 0)))
		goto fail;
	PQclear(r);
	return 0;
fail:
	snprintf(err, err_len, "%s", q->err);
	PQclear(PQexec(q->db, "ROLLBACK"));
	return -1;
}

bool store_is_pg(const char *where)
{
	return where && (!strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11));
}

struct store *store_pg_open(void *ctx, const char *url, char *err, size_t err_len)
{
	struct store *st = talloc_zero(ctx, struct store);
	struct pg *q = st ? talloc_zero(st, struct pg) : NULL;
	uint64_t id;

	if (!q) {
		snprintf(err, err_len, "out of memory");
		talloc_free(st);
		return NULL;
	}
	st->ops = &pg_ops;
	st->priv = q;
	talloc_set_destructor(q, pg_destructor);
	/* The URL carries the server, sslmode and sslrootcert/sslcert (TLS as the server
	 * requires) and passfile; PGPASSFILE works too. */
	q->db = PQconnectdb(url);
	if (PQstatus(q->db) != CONNECTION_OK) {
		snprintf(err, err_len, "%s", PQerrorMessage(q->db));
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		talloc_free(st);
		return NULL;
	}
	PQclear(PQexec(q->db, "SET client_min_messages = warning"));
	if (pg_migrate(q, err, err_len) < 0) {
		talloc_free(st);
		return NULL;
	}
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	q->host = (int64_t)(id >> 1);
	/* Registers this host and returns the rows of hosts that are gone (closed, or silent
	 * for LEASE_S) to the queue. */
	if (pg_lease(q, true) < 0) {
		snprintf(err, err_len, "%s", q->err);
		talloc_free(st);
		return NULL;
	}
	return st;
}
