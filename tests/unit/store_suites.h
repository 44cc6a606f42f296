/* What the store suites share (test_store.c, test_store_schedule.c): the same tests run
 * against the memory store, SQLite and PostgreSQL, the suite's init function telling each
 * file's store_open which (use_sqlite, use_pg); and the end of their main. Include after
 * pg_server.h. */
#ifndef GUICHET_TEST_STORE_SUITES_H
#define GUICHET_TEST_STORE_SUITES_H

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "unit_main.h"

static bool use_sqlite, use_pg;

static int suite_mem(void)
{
	use_sqlite = false;
	return 0;
}

static int suite_sqlite(void)
{
	use_sqlite = true;
	return 0;
}

static int suite_pg(void)
{
	use_sqlite = false;
	use_pg = true;
	return 0;
}

static int suite_pg_end(void)
{
	use_pg = false;
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Runs the registered suites, pg (the PostgreSQL one) skipped, not failed, when no server can
 * be started (no postgresql package, or it cannot start); a talloc block left under root
 * counts as a failure. Then frees root, stops the server and removes tmpdir. Returns the
 * program's exit status. */
static int store_suites_run(CU_pSuite pg, void *root, const char *tmpdir)
{
	unsigned failures;

	CU_set_fail_on_inactive(CU_FALSE);
	if (!pg_server_start())
		CU_set_suite_active(pg, CU_FALSE);
	failures = unit_root_run(root);
	pg_server_stop();
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failures ? 1 : 0;
}

#endif
