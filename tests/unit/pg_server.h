/* A throw-away PostgreSQL server for the store suites: initdb and pg_ctl from Debian's
 * postgresql package (PG_BIN, else the newest /usr/lib/postgresql/N/bin) in a temporary
 * directory, listening only on a unix socket in that directory, fsync off. PostgreSQL
 * refuses to run as root: under root (CI) it runs as nobody. pg_server_start returns false
 * (with the reason printed) when no server can be started; the suite is then skipped. */
#ifndef GUICHET_TEST_PG_SERVER_H
#define GUICHET_TEST_PG_SERVER_H

#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>

static char pg_dir[] = "/tmp/guichet-test-pg.XXXXXX";
static char pg_bin[256];
static bool pg_running;
static unsigned pg_db_seq;

/* Runs cmd as the server's user (nobody under root). */
static int pg_as_user(const char *cmd)
{
	char line[2048];

	/* From the server's directory: initdb fails when the current one is not readable by
	 * the user it runs as (CI's checkout under /root). */
	if (geteuid() == 0)
		snprintf(line, sizeof(line), "runuser -u nobody -- sh -c 'cd %s && %s' >>%s/setup.log"
			 " 2>&1", pg_dir, cmd, pg_dir);
	else
		snprintf(line, sizeof(line), "sh -c 'cd %s && %s' >>%s/setup.log 2>&1", pg_dir, cmd,
			 pg_dir);
	return system(line);
}

static bool pg_server_start(void)
{
	char cmd[1024];
	glob_t g;

	if (getenv("PG_BIN")) {
		snprintf(pg_bin, sizeof(pg_bin), "%s", getenv("PG_BIN"));
	} else if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) == 0) {
		/* glob sorts: the last is the newest version (one digit or two: 15 after 9). */
		snprintf(pg_bin, sizeof(pg_bin), "%s", g.gl_pathv[g.gl_pathc - 1]);
		*strrchr(pg_bin, '/') = '\0';
		globfree(&g);
	} else {
		printf("skip: PostgreSQL store suite: no /usr/lib/postgresql/*/bin/pg_ctl"
		       " (Debian package postgresql)\n");
		return false;
	}
	if (!mkdtemp(pg_dir)) {
		perror("mkdtemp");
		return false;
	}
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown nobody %s", pg_dir);
		if (system(cmd) != 0)
			return false;
	}
	snprintf(cmd, sizeof(cmd), "%s/initdb -D %s/data -U guichet -A trust --no-sync -E UTF8",
		 pg_bin, pg_dir);
	if (pg_as_user(cmd) != 0) {
		printf("skip: PostgreSQL store suite: initdb failed (see %s/setup.log)\n", pg_dir);
		return false;
	}
	snprintf(cmd, sizeof(cmd), "%s/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-k %s"
		 " -c listen_addresses= -c fsync=off -c max_connections=40\" start",
		 pg_bin, pg_dir, pg_dir, pg_dir);
	if (pg_as_user(cmd) != 0) {
		printf("skip: PostgreSQL store suite: the server did not start (see %s)\n", pg_dir);
		return false;
	}
	pg_running = true;
	return true;
}

/* A fresh database for one test: its URL in url. */
static bool pg_new_db(char *url, size_t len)
{
	char admin[512], sql[64];
	PGconn *c;
	PGresult *r;
	bool ok;

	snprintf(admin, sizeof(admin), "postgresql:///postgres?host=%s&user=guichet", pg_dir);
	c = PQconnectdb(admin);
	snprintf(sql, sizeof(sql), "CREATE DATABASE g%u", ++pg_db_seq);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	snprintf(url, len, "postgresql:///g%u?host=%s&user=guichet", pg_db_seq, pg_dir);
	return ok;
}

static void pg_server_stop(void)
{
	char cmd[1024];

	if (pg_running) {
		snprintf(cmd, sizeof(cmd), "%s/pg_ctl -D %s/data -m immediate -w stop", pg_bin,
			 pg_dir);
		pg_as_user(cmd);
		pg_running = false;
	}
	if (strchr(pg_dir, 'X') == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", pg_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", pg_dir);
	}
}

#endif
