/* The durable store on SQLite: WAL, synchronous=FULL, one file created 0600 in a 0700
 * directory. This file opens it (schema, migration, integrity check), runs transactions,
 * purge and counters, and holds the ops table; the tables' own operations are in
 * store_sqlite_{inbound,outbox,sched}.c (store_sqlite.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_sqlite.h"

#define SCHEMA_VERSION 1

enum core_stmt { C_BEGIN, C_COMMIT, C_ROLLBACK, C_COUNTERS, C_N };

static const char *const core_sql[C_N] = {
	[C_BEGIN] = "BEGIN IMMEDIATE",
	[C_COMMIT] = "COMMIT",
	[C_ROLLBACK] = "ROLLBACK",
	[C_COUNTERS] = "SELECT (SELECT count(*) FROM inbound WHERE done = 0),"
		       " (SELECT count(*) FROM outbound WHERE state IN ('queued', 'taken')),"
		       " (SELECT count(*) FROM sessions),"
		       " (SELECT value FROM meta WHERE name = 'duplicate_sends')",
};

static const char schema_v1[] =
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO meta(name, value) VALUES ('duplicate_sends', 0);"
	"CREATE TABLE inbound ("
	" id INTEGER PRIMARY KEY,"
	" channel INTEGER NOT NULL,"
	" via TEXT NOT NULL,"
	" sender TEXT,"
	" body TEXT,"
	" received INTEGER NOT NULL,"
	" dedup TEXT,"
	" done INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX inbound_dedup ON inbound(via, dedup) WHERE dedup IS NOT NULL;"
	"CREATE INDEX inbound_done ON inbound(done);"
	"CREATE TABLE outbound ("
	" id INTEGER PRIMARY KEY,"
	" via TEXT NOT NULL,"
	" recipient TEXT,"
	" body TEXT,"
	" coding INTEGER NOT NULL,"
	" parts INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" not_before_ms INTEGER NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL CHECK (state IN ('queued', 'taken', 'sent', 'dead')),"
	" created INTEGER NOT NULL);"
	"CREATE INDEX outbound_state ON outbound(state, not_before_ms);"
	"CREATE TABLE sessions ("
	" key TEXT PRIMARY KEY,"
	" data BLOB NOT NULL,"
	" deadline INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX sessions_deadline ON sessions(deadline) WHERE deadline > 0;"
	"PRAGMA user_version = 1;";

static void sq_lost(struct sq *q)
{
	snprintf(q->err, sizeof(q->err), "%s was removed or replaced while in use", q->path);
}

static int sq_exec1(struct sq *q, enum core_stmt i, const char *what)
{
	sqlite3_stmt *s = sq_prepared(q, SQ_CORE, i, core_sql[i]);

	if (!s)
		return -1;
	return sq_done(q, s, what) < 0 ? -1 : 0;
}

/* --- transactions --- */

int sq_begin(struct store *st)
{
	struct sq *q = sq_of(st);

	if (q->lost) {
		sq_lost(q);
		return -1;
	}
	return sq_exec1(q, C_BEGIN, "begin");
}

int sq_commit(struct store *st)
{
	return sq_exec1(sq_of(st), C_COMMIT, "commit");
}

int sq_rollback(struct store *st)
{
	struct sq *q = sq_of(st);

	/* Some errors (disk full, I/O) already rolled the transaction back. */
	if (sqlite3_get_autocommit(q->db))
		return 0;
	return sq_exec1(q, C_ROLLBACK, "rollback");
}

/* --- upkeep --- */

/* Copies the WAL into the database and truncates it to zero bytes, so that no old version
 * of a page (a purged message, a secret answer's body before it was erased) stays in the
 * -wal file. A reader holding an old snapshot makes it partial: the next one finishes. */
static void sq_checkpoint(struct sq *q)
{
	if (sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
	    SQLITE_OK)
		sq_fail(q, "checkpoint");
}

static int sq_purge(struct store *st, int64_t now, unsigned keep_s)
{
	struct sq *q = sq_of(st);
	bool own = sqlite3_get_autocommit(q->db) != 0;
	int64_t cutoff = now - (int64_t)keep_s;
	int in, out, sched;

	if (own && sq_begin(st) < 0)
		return -1;
	if ((in = sq_inbound_purge(q, now, cutoff)) < 0 ||
	    (out = sq_outbox_purge(q, now, cutoff)) < 0 ||
	    (sched = sq_schedule_purge(q, cutoff)) < 0 ||
	    (own && sq_commit(st) < 0))
		goto fail;
	/* What was deleted is zeroed in the database (secure_delete), but older copies of its
	 * pages stay in the WAL until it is rewritten: empty it now. */
	if (own)
		sq_checkpoint(q);
	return in + out + sched;
fail:
	if (own)
		sq_rollback(st);
	return -1;
}

static int read_counters(struct sq *q, sqlite3_stmt *s, void *arg)
{
	struct store_counters *c = arg;

	(void)q;
	c->inbound_pending = (uint64_t)sqlite3_column_int64(s, 0);
	c->outbound_pending = (uint64_t)sqlite3_column_int64(s, 1);
	c->sessions = (uint64_t)sqlite3_column_int64(s, 2);
	c->duplicate_sends = (uint64_t)sqlite3_column_int64(s, 3);
	return 0;
}

static int sq_counters(struct store *st, struct store_counters *c)
{
	struct sq *q = sq_of(st);
	sqlite3_stmt *s = sq_prepared(q, SQ_CORE, C_COUNTERS, core_sql[C_COUNTERS]);
	int rc;

	if (!s)
		return -1;
	rc = sq_one(q, s, "counters", read_counters, c);
	if (rc == 1)
		sq_fail(q, "counters");
	return rc == 0 ? 0 : -1;
}

static int sq_verify(struct store *st)
{
	struct sq *q = sq_of(st);
	struct stat sb;

	if (!q->lost && (stat(q->path, &sb) < 0 || sb.st_dev != q->dev || sb.st_ino != q->ino))
		q->lost = true;
	if (q->lost) {
		sq_lost(q);
		return -1;
	}
	return 0;
}

static const char *sq_last_error(struct store *st)
{
	return sq_of(st)->err;
}

static int sq_destructor(struct sq *q)
{
	unsigned i;

	for (unsigned p = 0; p < SQ_PART_N; p++)
		for (i = 0; i < SQ_PART_STMTS; i++) {
			sqlite3_finalize(q->stmt[p][i]);
			q->stmt[p][i] = NULL;
		}
	if (q->db && sqlite3_get_autocommit(q->db))
		sq_checkpoint(q);
	if (q->db)
		sqlite3_close(q->db);
	q->db = NULL;
	return 0;
}

static void sq_close(struct store *st)
{
	talloc_free(st);
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.inbound_add = sq_inbound_add,
	.inbound_done = sq_inbound_done,
	.inbound_forget = sq_inbound_forget,
	.inbound_pending = sq_inbound_pending,
	.outbound_add = sq_outbound_add,
	.outbound_due = sq_outbound_due,
	.outbound_taken = sq_outbound_taken,
	.outbound_sent = sq_outbound_sent,
	.outbound_failed = sq_outbound_failed,
	.outbound_attempts = sq_outbound_attempts,
	.session_get = sq_session_get,
	.session_put = sq_session_put,
	.session_del = sq_session_del,
	.session_each = sq_session_each,
	.purge = sq_purge,
	.counters = sq_counters,
	.spend_add = sq_spend_add,
	.spend_get = sq_spend_get,
	.schedule_add = sq_schedule_add,
	.schedule_get = sq_schedule_get,
	.schedule_due = sq_schedule_due,
	.schedule_next = sq_schedule_next,
	.schedule_mark = sq_schedule_mark,
	.schedule_outbound_status = sq_schedule_outbound_status,
	.outbound_remote = sq_outbound_remote,
	.outbound_by_remote = sq_outbound_by_remote,
	.schedule_cancel = sq_schedule_cancel,
	.schedule_cancel_ref = sq_schedule_cancel_ref,
	.optout_set = sq_optout_set,
	.optout_clear = sq_optout_clear,
	.optout_is = sq_optout_is,
	.verify = sq_verify,
	.close = sq_close,
	.last_error = sq_last_error,
};

/* --- opening --- */

/* A new directory entry survives a crash only once its directory is synced. */
static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* Copies the directory part of path ("." when there is none) into a talloc'd string. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return talloc_strdup(NULL, ".");
	if (slash == path)
		return talloc_strdup(NULL, "/");
	return talloc_strndup(NULL, path, (size_t)(slash - path));
}

/* Creates the missing directories of path's parent, each 0700. Existing ones are left as
 * they are: the path may well sit in a directory we do not own. */
static int make_parent(const char *path, char *err, size_t err_len)
{
	char *dir = talloc_strdup(NULL, path);
	char *p;
	int rc = -1;

	if (!dir) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	p = strrchr(dir, '/');
	if (!p || p == dir) {
		rc = 0;
		goto out;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == 0) {
			char *parent = dir_of(dir);
			int synced = parent ? fsync_dir(parent) : -1;

			talloc_free(parent);
			if (chmod(dir, 0700) < 0 || synced < 0) {
				snprintf(err, err_len, "%s: %s", dir, strerror(errno));
				goto out;
			}
		} else if (errno != EEXIST) {
			snprintf(err, err_len, "%s: %s", dir, strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	rc = 0;
out:
	talloc_free(dir);
	return rc;
}

/* Runs a pragma; when want is set, its one result must equal want. */
static int sq_pragma(struct sq *q, const char *sql, const char *want)
{
	sqlite3_stmt *s;
	int rc, ok;

	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(q, sql);
	rc = sqlite3_step(s);
	if (want) {
		const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;

		ok = t && strcasecmp((const char *)t, want) == 0;
	} else {
		ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
	}
	sqlite3_finalize(s);
	if (!ok) {
		snprintf(q->err, sizeof(q->err), "%s: not applied", sql);
		return -1;
	}
	return 0;
}

static int sq_user_version(struct sq *q, int *v)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return sq_fail(q, "user_version");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(s, 0);
	else
		sq_fail(q, "user_version");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Creates or checks the schema, then requeues what a crash left "taken", in one
 * transaction. */
static int sq_prepare_db(struct store *st)
{
	struct sq *q = sq_of(st);
	int version = 0, taken;
	char *errmsg = NULL;
	char sql[160];

	if (sq_begin(st) < 0)
		return -1;
	if (sq_user_version(q, &version) < 0)
		goto fail;
	if (version == 0) {
		if (sqlite3_exec(q->db, schema_v1, NULL, NULL, &errmsg) != SQLITE_OK) {
			snprintf(q->err, sizeof(q->err), "creating the schema: %s",
				 errmsg ? errmsg : "?");
			sqlite3_free(errmsg);
			goto fail;
		}
	} else if (version != SCHEMA_VERSION) {
		snprintf(q->err, sizeof(q->err), "schema version %d, this program knows %d",
			 version, SCHEMA_VERSION);
		goto fail;
	}
	if (sqlite3_exec(q->db, sq_schema_outbox, NULL, NULL, &errmsg) != SQLITE_OK) {
		snprintf(q->err, sizeof(q->err), "creating the spend table: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		goto fail;
	}
	if (sqlite3_exec(q->db, sq_schema_schedule, NULL, NULL, &errmsg) != SQLITE_OK) {
		snprintf(q->err, sizeof(q->err), "creating the schedule: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		goto fail;
	}
	if (sqlite3_exec(q->db, "UPDATE outbound SET state = 'queued' WHERE state = 'taken'",
			 NULL, NULL, NULL) != SQLITE_OK) {
		sq_fail(q, "requeueing taken messages");
		goto fail;
	}
	taken = sqlite3_changes(q->db);
	if (taken > 0) {
		snprintf(sql, sizeof(sql),
			 "UPDATE meta SET value = value + %d WHERE name = 'duplicate_sends'", taken);
		if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			sq_fail(q, "counting duplicate sends");
			goto fail;
		}
	}
	return sq_commit(st);
fail:
	sq_rollback(st);
	return -1;
}

/* SQLite's quick_check (the structure of every page and index, in O(N)): 0 when the file
 * is sound, 1 with what is wrong in why when it is damaged, -1 when it could not run. */
static int quick_check(sqlite3 *db, char *why, size_t why_len)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL);

	if (why_len)
		why[0] = '\0';	/* "ok" writes nothing in it, and the loop below reads it */
	int out = -1;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		const char *m = t ? (const char *)t : "?";
		static const char schema_hdr[] = "*** in database main ***\n";

		out = strcmp(m, "ok") == 0 ? 0 : 1;
		if (strncmp(m, schema_hdr, sizeof(schema_hdr) - 1) == 0)
			m += sizeof(schema_hdr) - 1;
		if (out)
			snprintf(why, why_len, "%s", m);
		/* One journal line: the finding may span several. */
		for (char *p = why; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	} else {
		int code = sqlite3_errcode(db) & 0xff;

		snprintf(why, why_len, "%s", sqlite3_errmsg(db));
		out = code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? 1 : -1;
	}
	sqlite3_finalize(s);
	return out;
}

/* What an operator reads when the store is damaged: the file, the finding, what to do. */
static void damaged(char *err, size_t err_len, const char *path, const char *why)
{
	snprintf(err, err_len, "%s is damaged (%s): restore it from a backup, or move it aside "
		 "together with its -wal and -shm files to start with an empty store", path, why);
}

static void chmod_if_exists(const char *path, const char *suffix)
{
	char *p = talloc_asprintf(NULL, "%s%s", path, suffix);

	if (p)
		chmod(p, 0600);
	talloc_free(p);
}

/* Creates path's missing directories and opens (or creates) the file 0600, under the
 * umask the caller set; records which file it is (sq_verify). 0 or -1 with err set. */
static int open_file(struct sq *q, const char *path, char *err, size_t err_len)
{
	struct stat sb;
	int rc;

	if (make_parent(path, err, err_len) < 0)
		return -1;
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", path,
			 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		return -1;
	}
	q->path = talloc_strdup(q, path);
	if (chmod(path, 0600) < 0 || stat(path, &sb) < 0 || !q->path) {
		snprintf(err, err_len, "%s: %s", path, q->path ? strerror(errno) : "out of memory");
		return -1;
	}
	q->dev = sb.st_dev;
	q->ino = sb.st_ino;
	sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);
	return 0;
}

/* A damaged file refused now, not after READY with an error every second; then the
 * durability settings, the schema and the recovery of a crash. 0 or -1 with err set. */
static int check_and_prepare(struct store *st, const char *path, char *err, size_t err_len)
{
	struct sq *q = sq_of(st);
	char why[160];
	int rc = quick_check(q->db, why, sizeof(why));

	if (rc != 0) {
		if (rc > 0)
			damaged(err, err_len, path, why);
		else
			snprintf(err, err_len, "%s: checking it: %s", path, why);
		return -1;
	}
	if (sq_pragma(q, "PRAGMA journal_mode = WAL", "wal") < 0 ||
	    sq_pragma(q, "PRAGMA synchronous = FULL", NULL) < 0 ||
	    sq_pragma(q, "PRAGMA synchronous", "2") < 0 ||
	    sq_pragma(q, "PRAGMA secure_delete = ON", "1") < 0 ||
	    sq_pragma(q, "PRAGMA journal_size_limit = 4194304", NULL) < 0 ||
	    sq_prepare_db(st) < 0) {
		snprintf(err, err_len, "%s: %s", path, q->err);
		return -1;
	}
	return 0;
}

/* The new file's directory entry (and the -wal, -shm ones) made durable. */
static int sync_entries(const char *path, char *err, size_t err_len)
{
	char *dir = dir_of(path);
	int synced = dir ? fsync_dir(dir) : -1;

	talloc_free(dir);
	if (synced < 0) {
		snprintf(err, err_len, "%s: syncing its directory: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct store *store_sqlite_open(void *ctx, const char *path, char *err, size_t err_len)
{
	struct store *st;
	struct sq *q;
	mode_t old_mask;
	int rc;

	if (err && err_len)
		err[0] = '\0';
	st = talloc_zero(ctx, struct store);
	q = st ? talloc_zero(st, struct sq) : NULL;
	if (!q) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	talloc_set_destructor(q, sq_destructor);
	st->ops = &sq_ops;
	st->priv = q;

	/* The umask covers the file and SQLite's -wal and -shm, created at first use below. */
	old_mask = umask(077);
	rc = open_file(q, path, err, err_len);
	if (rc == 0)
		rc = check_and_prepare(st, path, err, err_len);
	umask(old_mask);
	if (rc < 0)
		goto fail;
	chmod_if_exists(path, "-wal");
	chmod_if_exists(path, "-shm");
	if (sync_entries(path, err, err_len) < 0)
		goto fail;
	return st;
fail:
	talloc_free(st);
	return NULL;
}

/* The nearest existing directory on the way to path's parent must be writable for
 * store_sqlite_open to create what is missing (the parent, the file, -wal, -shm). */
static int check_dir(const char *path, char *err, size_t err_len)
{
	char *dir = dir_of(path);
	struct stat sb;
	int rc = -1;

	if (!dir) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (;;) {
		if (stat(dir, &sb) == 0)
			break;
		if (errno != ENOENT) {
			snprintf(err, err_len, "%s: %s", dir, strerror(errno));
			goto out;
		}
		char *up = dir_of(dir);
		if (!up || strcmp(up, dir) == 0) {
			talloc_free(up);
			snprintf(err, err_len, "%s: no existing directory on its path", path);
			goto out;
		}
		talloc_free(dir);
		dir = up;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, err_len, "%s: %s is not a directory", path, dir);
		goto out;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, err_len, "%s: directory %s is not writable: %s", path, dir,
			 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	talloc_free(dir);
	return rc;
}

static bool exists(const char *path, const char *suffix)
{
	char *p = talloc_asprintf(NULL, "%s%s", path, suffix);
	bool yes = p && access(p, F_OK) == 0;

	talloc_free(p);
	return yes;
}

int store_sqlite_check(const char *path, char *err, size_t err_len)
{
	struct stat sb;
	sqlite3 *db = NULL;
	char *uri;
	char why[160];
	int rc;

	if (check_dir(path, err, err_len) < 0)
		return -1;
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;	/* created at start */
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, err_len, "%s is not a regular file", path);
		return -1;
	}
	if (access(path, R_OK | W_OK) < 0) {
		snprintf(err, err_len, "%s is not writable: %s", path, strerror(errno));
		return -1;
	}
	/* Read without creating anything: a check run as root must not leave root-owned -wal
	 * or -shm files beside a store the daemon opens as another user. Without them (a
	 * clean stop) the file alone is the database; with them (running, or a crash) they
	 * are read as they are. */
	uri = sqlite3_mprintf("file:%s?%s", path,
			      exists(path, "-wal") || exists(path, "-shm") ? "mode=ro" : "immutable=1");
	if (!uri) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	sqlite3_free(uri);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, SQ_BUSY_TIMEOUT_MS);
	rc = quick_check(db, why, sizeof(why));
	sqlite3_close(db);
	if (rc > 0)
		damaged(err, err_len, path, why);
	else if (rc < 0)
		snprintf(err, err_len, "%s: checking it: %s", path, why);
	return rc == 0 ? 0 : -1;
}
