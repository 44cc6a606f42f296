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
 * Statements are each short (bounded by an index) and the loop waits for their answers as
 * it waits for SQLite's fsync; inside a transaction they go in libpq's pipeline mode
 * (store_pg_exec.c): a group write's received texts in one round trip (inbound_ahead), the
 * writes nobody waits for gathered by kind into one statement each (store_pg_batch.c). The
 * schema is created and migrated at open (store_pg_schema.c); include/guichet/store_pg.h
 * lists the other modules. */
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "guichet/store_pg.h"

bool pg_in_tx(struct pg *q)
{
	PGTransactionStatusType t = PQtransactionStatus(q->db);

	return q->piped || t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* A connection lost (PostgreSQL restarted, network) is reopened at the next begin; nothing
 * is acknowledged meanwhile since begin fails. */
static int pg_begin(struct store *st)
{
	struct pg *q = pg_of(st);

	if (PQstatus(q->db) != CONNECTION_OK) {
		PQreset(q->db);
		if (PQstatus(q->db) != CONNECTION_OK)
			return pg_fail(q, "begin: reconnect", NULL);
		q->renewed = 0;		/* a new server process: say so at once */
		pg_exec_reset(q);
		if (pg_watch_reconnected(q) < 0)
			return -1;
	}
	if (pg_in_tx(q)) {
		snprintf(q->err, sizeof(q->err), "begin: a transaction is already open");
		return -1;
	}
	q->conflict = false;
	pg_note_reset(q);
	if (pg_pipe_begin(q) < 0) {
		pg_pipe_abort(q);
		return -1;
	}
	/* A host that only receives renews its lease too. */
	if (pg_lease(q, false) < 0) {
		pg_pipe_abort(q);
		if (pg_in_tx(q))
			PQclear(PQexec(q->db, "ROLLBACK"));
		return -1;
	}
	return 0;
}

static int pg_commit(struct store *st)
{
	struct pg *q = pg_of(st);

	if (!q->piped) {
		snprintf(q->err, sizeof(q->err), "commit: no transaction open");
		return -1;
	}
	/* Work left for other hosts: NOTIFY, in the same round trip as the COMMIT. */
	return pg_pipe_commit(q, pg_note_due(q));
}

static int pg_rollback(struct store *st)
{
	struct pg *q = pg_of(st);
	PGresult *r;

	if (q->piped)
		pg_pipe_abort(q);
	if (!pg_in_tx(q))
		return 0;
	r = pg_run(q, "rollback", "ROLLBACK", NULL, 0);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/* --- the hosts' leases --- */

/* Puts back in the queue what hosts that are gone had taken (sql selects the hosts), and
 * counts those rows as possible duplicates; the other hosts are told. Own transaction
 * unless one is open. 0 or -1. */
static int pg_requeue(struct pg *q, const char *sql, const struct params *p)
{
	PGresult *r = pg_run(q, "requeue", sql, p, 0);

	if (!r)
		return -1;
	if (PQntuples(r) > 0 && col_int(r, 0, 0) > 0)
		pg_note_all(q);
	PQclear(r);
	return 0;
}

static const char requeue_expired[] =
	"WITH gone AS (DELETE FROM hosts WHERE seen < $1"
	"  OR (pid IS NOT NULL AND pid NOT IN (SELECT pid FROM pg_stat_activity)) RETURNING id),"
	" back AS (UPDATE outbound SET state = 'queued', taken_by = NULL"
	"  WHERE state = 'taken' AND (taken_by IS NULL OR taken_by IN (SELECT id FROM gone)"
	"   OR taken_by NOT IN (SELECT id FROM hosts)) RETURNING id)"
	" UPDATE meta SET value = value + (SELECT count(*) FROM back)"
	" WHERE name = 'duplicate_sends' RETURNING (SELECT count(*) FROM back)";

/* Renews this host's lease and returns expired hosts' rows, at most every RENEW_S. */
int pg_lease(struct pg *q, bool force)
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

static const char *pg_last_error(struct store *st)
{
	return pg_of(st)->err;
}

static bool pg_conflict(struct store *st)
{
	return pg_of(st)->conflict;
}

static int pg_destructor(struct pg *q)
{
	if (q->db && PQstatus(q->db) == CONNECTION_OK) {
		struct params p = { .n = 0 };
		PGresult *r;

		/* A clean close ends this host's lease now: what it had taken and not sent
		 * returns to the queue at the next open or lease check, like after a crash. */
		pg_watch_stop(q);
		if (q->piped)
			pg_pipe_abort(q);
		if (pg_in_tx(q))
			PQclear(PQexec(q->db, "ROLLBACK"));
		p_int(&p, q->host);
		r = PQexecParams(q->db, "DELETE FROM hosts WHERE id = $1", 1, NULL, p.v, NULL, NULL, 0);
		PQclear(r);
	}
	pg_watch_stop(q);
	PQclear(q->out_pre);
	q->out_pre = NULL;
	pg_session_forget_ahead(q);
	pg_inbound_ahead_reset(q);
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
	.inbound_ahead = pg_inbound_ahead,
	.inbound_done = pg_inbound_done,
	.inbound_forget = pg_inbound_forget,
	.inbound_pending = pg_inbound_pending,
	.outbound_add = pg_outbound_add,
	.outbound_due = pg_outbound_due,
	.outbound_taken = pg_outbound_taken,
	.outbound_sent = pg_outbound_sent,
	.outbound_failed = pg_outbound_failed,
	.outbound_attempts = pg_outbound_attempts,
	.outbound_take_at_commit = pg_outbound_take_at_commit,
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
	.conflict = pg_conflict,
	.watch = pg_watch,
	.session_orphans = pg_session_orphans,
	.ussd_put = pg_ussd_put,
	.ussd_get = pg_ussd_get,
	.ussd_drop = pg_ussd_drop,
	.ussd_sweep = pg_ussd_sweep,
};

/* --- opening --- */

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
	pg_watch_init(q);
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
