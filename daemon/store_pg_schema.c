/* The PostgreSQL store's schema: created and migrated at open, under an advisory lock so
 * that hosts starting together migrate once. schema_version holds the version,
 * migrations[] the ordered steps. */
#include <string.h>
#include <time.h>

#include "guichet/store_pg.h"

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
	/* 3: a session waiting for a back-end call records the call and the host making it,
	 * so that a host starting fails only the waits of hosts that are gone (its own
	 * previous run included), not those another live host will answer. */
	/* One migration of two statements: parentheses tell clang the concatenation is meant
	 * (-Wstring-concatenation, an error in the fuzz build). */
	("ALTER TABLE sessions ADD COLUMN waiting_call BIGINT;"
	 "ALTER TABLE sessions ADD COLUMN owner BIGINT;"),
	/* 4: one nextval reserves a block of PG_OUT_IDS outbox ids for a host, which then adds
	 * rows without waiting for their id (store_pg_queue.c). */
	"ALTER SEQUENCE outbound_id_seq INCREMENT BY 64;",
	/* 5: USSD aggregator dialogues shared between hosts (store_pg_ussd.c). */
	("CREATE TABLE ussd_dialogues ("
	 " id TEXT PRIMARY KEY,"
	 " via TEXT NOT NULL,"
	 " sender TEXT NOT NULL,"
	 " code TEXT NOT NULL,"
	 " history TEXT NOT NULL,"
	 " session BYTEA NOT NULL,"
	 " step BIGINT NOT NULL,"
	 " expires_at BIGINT NOT NULL);"
	 "CREATE INDEX ussd_dialogues_expiry ON ussd_dialogues(expires_at);"),
	/* 6: the day's spend in one row per host (spend_get adds them up): one shared row per
	 * transport made every reply's transaction wait for the other hosts' to commit. */
	("ALTER TABLE spend ADD COLUMN host BIGINT NOT NULL DEFAULT 0;"
	 "ALTER TABLE spend DROP CONSTRAINT spend_pkey;"
	 "ALTER TABLE spend ADD PRIMARY KEY (day, via, host);"),
	/* 7: the USSD dialogues' state lives minutes and a lost row only ends a dialogue (the
	 * next request is refused, as after a single host's restart): no WAL, so a screen costs
	 * no fsync of the database (2.5-4x faster per request here, bench/bench_pg_ussd.sh);
	 * the price is that the rows are not on standbys and a crash of PostgreSQL empties the
	 * table. */
	"ALTER TABLE ussd_dialogues SET UNLOGGED;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Creates or migrates the schema, in one transaction under an advisory lock: hosts that
 * start together wait for the first, then find the schema current. A database newer than
 * this program is refused. */
int pg_migrate(struct pg *q, char *err, size_t err_len)
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
