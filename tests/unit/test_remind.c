/* A reminder's time (remind.h) in Europe/Paris from the system tz database: the day before
 * at a clock time, hours before, across the October and March changes of summer time, from
 * now, and the written forms guichet check accepts or refuses. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <CUnit/Basic.h>

#include <osmocom/core/talloc.h>

#include "guichet/remind.h"
#include "guichet/tzfile.h"

/* Unix seconds of a UTC date, independent of TZ. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi };
	return (int64_t)timegm(&tm);
}

static int64_t at(const char *spec, int64_t now)
{
	int64_t t = -1;
	const char *err = NULL;

	if (remind_at(spec, now, &t, &err) < 0) {
		printf("\n  %s: %s\n", spec, err);
		return -1;
	}
	return t;
}

static void test_winter(void)
{
	/* 7 Dec 2026 09:30 Paris = 08:30 UTC */
	CU_ASSERT_EQUAL(at("2026-12-07T09:30", 0), utc(2026, 12, 7, 8, 30));
	CU_ASSERT_EQUAL(at("2026-12-07T09:30 -1d 18:00", 0), utc(2026, 12, 6, 17, 0));
	CU_ASSERT_EQUAL(at("2026-12-07T09:30 -2h", 0), utc(2026, 12, 7, 6, 30));
	CU_ASSERT_EQUAL(at("2026-12-07T09:30:00 -30m", 0), utc(2026, 12, 7, 8, 0));
	CU_ASSERT_EQUAL(at("2026-12-07 +1d 9:00", 0), utc(2026, 12, 8, 8, 0));
	CU_ASSERT_EQUAL(at("2026-12-07", 0), utc(2026, 12, 6, 23, 0));
	CU_ASSERT_EQUAL(at("2026-12-07 09:30", 0), utc(2026, 12, 7, 8, 30));
	/* Across a month and a year. */
	CU_ASSERT_EQUAL(at("2027-01-01T10:00 -1d 18:00", 0), utc(2026, 12, 31, 17, 0));
	CU_ASSERT_EQUAL(at("2026-03-01T10:00 -1d", 0), utc(2026, 2, 28, 9, 0));
}

static void test_summer_time(void)
{
	/* Summer time ends on 25 Oct 2026 at 03:00 CEST: days keep the wall-clock time, 10:00
	 * CET (09:00 UTC) on the 25th and 10:00 CEST (08:00 UTC) on the 24th. */
	CU_ASSERT_EQUAL(at("2026-10-26T10:00 -2d", 0), utc(2026, 10, 24, 8, 0));
	CU_ASSERT_EQUAL(at("2026-10-26T10:00 -1d", 0), utc(2026, 10, 25, 9, 0));
	/* Hours are elapsed time: 24h before 10:00 CET on the 26th is 09:00 UTC on the 25th. */
	CU_ASSERT_EQUAL(at("2026-10-26T10:00 -24h", 0), utc(2026, 10, 25, 9, 0));
	/* Summer time starts on 29 Mar 2026: the evening before in winter time. */
	CU_ASSERT_EQUAL(at("2026-03-30T09:00 -1d 18:00", 0), utc(2026, 3, 29, 16, 0));
	CU_ASSERT_EQUAL(at("2026-03-30T09:00 -2d 18:00", 0), utc(2026, 3, 28, 17, 0));
}

static void test_from_now(void)
{
	int64_t now = utc(2026, 11, 30, 9, 0);	/* 10:00 Paris */

	CU_ASSERT_EQUAL(at("+5s", now), now + 5);
	CU_ASSERT_EQUAL(at("now +10m", now), now + 600);
	CU_ASSERT_EQUAL(at("now", now), now);
	CU_ASSERT_EQUAL(at("+1d 08:00", now), utc(2026, 12, 1, 7, 0));
	CU_ASSERT_EQUAL(at("  +1h  -30m ", now), now + 1800);
}

/* From now without days, an instant in the hour repeated on 25 Oct 2026 (02:00-03:00 twice
 * in Paris) is not read back through the clock: "-2h" is two hours before either time. */
static void test_from_now_repeated_hour(void)
{
	int64_t first = utc(2026, 10, 25, 0, 30), second = utc(2026, 10, 25, 1, 30);

	CU_ASSERT_EQUAL(at("-2h", first), first - 7200);
	CU_ASSERT_EQUAL(at("-2h", second), second - 7200);
	CU_ASSERT_EQUAL(at("now +5s", first), first + 5);
	CU_ASSERT_EQUAL(at("now +5s", second), second + 5);
	/* With days, the clock: 02:30 the next day is summer time no longer. */
	CU_ASSERT_EQUAL(at("+1d", second), utc(2026, 10, 26, 1, 30));
}

static void test_refused(void)
{
	static const char *const bad[] = {
		"", "   ", "demain", "07/12/2026", "2026-13-01", "2026-12-07T25:00",
		"2026-12-07 -1j", "2026-12-07 -1d 18h", "2026-12-07 18:00 -1d", "2026-12-07 1d",
		"+99999d", "2026-12-07T09:30 -1d 18:00 19:00",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t;
		const char *err = NULL;
		CU_ASSERT_EQUAL(remind_at(bad[i], 0, &t, &err), -1);
		CU_ASSERT_PTR_NOT_NULL(err);
	}
}

/* A server in UTC (the usual case) still reminds at the person's 18:00: the zone is named
 * after the notify section's, not taken from the system. */
static void test_zone_named(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	CU_ASSERT_EQUAL(at("2026-12-07T09:30 -1d 18:00", 0), utc(2026, 12, 6, 18, 0));
	CU_ASSERT_EQUAL(remind_use_zone("Europe/Paris"), 0);
	CU_ASSERT_EQUAL(at("2026-12-07T09:30 -1d 18:00", 0), utc(2026, 12, 6, 17, 0));
	CU_ASSERT_EQUAL(at("2026-07-07T09:30 -1d 18:00", 0), utc(2026, 7, 6, 16, 0));
	CU_ASSERT_EQUAL(remind_use_zone(""), -1);
}

/* remind_at reads the named zone from its file (tzfile.c) instead of calling mktime(): the
 * same instants as the C library's local time in that zone, every three hours and a bit
 * over years with changes of summer time (in the file's table, and past it by the file's
 * rule), for zones with summer time north and south, a negative one (Dublin), a half-hour
 * one (Lord Howe) and one that dropped it (São Paulo). Clock times are those reminders
 * use (18:00, 9:00, 2:30). Readings within an hour of a change are left out: one the change
 * repeats is the first instant from the file, and either from mktime(), depending on its
 * previous calls; one it skips reads as that many minutes after the change from the file
 * (test_scheduler.c), and mktime() goes back instead in a zone whose winter is the "summer
 * time" (Dublin). */
static bool near_change(const struct tzfile *z, int64_t t)
{
	return tzfile_offset(z, t - 3600) != tzfile_offset(z, t + 3600);
}

static void test_zone_file_same_as_libc(void)
{
	static const char *const zones[] = { "Europe/Paris", "America/New_York", "Europe/Dublin",
					     "Australia/Lord_Howe", "America/Sao_Paulo" };
	static const char *const rel[] = { "+1d 18:00", "-1d 18:00", "+2d", "-2h", "now +30m",
					   "+1d 9:00", "+7d", "+1d 2:30" };
	static const char *const after_base[] = { " -1d 18:00", " -2h", "", " +1d 9:00", " -3d" };
	static const int64_t spans[][2] = { { 1704067200, 1861920000 },	/* 2024 - 2029 */
					    { 2114380800, 2240611200 } };	/* 2037 - 2041 */
	unsigned diffs = 0, n = 0;

	for (unsigned zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		char err[256];
		struct tzfile *z = tzfile_load(NULL, zones[zi], err, sizeof(err));

		CU_ASSERT_PTR_NOT_NULL_FATAL(z);
		setenv("TZ", zones[zi], 1);
		tzset();
		for (unsigned si = 0; si < 2; si++)
			for (int64_t now = spans[si][0]; now < spans[si][1]; now += 3 * 3600 + 421) {
				struct tm tm;
				time_t tt = (time_t)now;
				char base[64];
				int64_t a, b;

				for (unsigned k = 0; k < sizeof(rel) / sizeof(rel[0]); k++) {
					int ra = remind_at_in(NULL, rel[k], now, &a, NULL);
					int rb = remind_at_in(z, rel[k], now, &b, NULL);
					if (rb == 0 && near_change(z, b))
						continue;
					n++;
					if (ra != rb || (ra == 0 && a != b && diffs++ < 5))
						printf("\n  %s now %lld %s: %lld / %lld", zones[zi],
						       (long long)now, rel[k], (long long)a, (long long)b);
				}
				/* The same instant written as a local date (a back-end's rdv.start). */
				localtime_r(&tt, &tm);
				for (unsigned k = 0; k < sizeof(after_base) / sizeof(after_base[0]); k++) {
					snprintf(base, sizeof(base), "%04d-%02d-%02dT%02d:%02d%s",
						 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
						 tm.tm_min, after_base[k]);
					int ra = remind_at_in(NULL, base, 0, &a, NULL);
					int rb = remind_at_in(z, base, 0, &b, NULL);
					if (rb == 0 && (near_change(z, b) || near_change(z, now)))
						continue;
					n++;
					if (ra != rb || (ra == 0 && a != b && diffs++ < 5))
						printf("\n  %s %s: %lld / %lld", zones[zi], base,
						       (long long)a, (long long)b);
				}
			}
		talloc_free(z);
	}
	CU_ASSERT(n > 100000);
	CU_ASSERT_EQUAL(diffs, 0);
	setenv("TZ", "Europe/Paris", 1);
	tzset();
}

static void test_spec_check(void)
{
	const char *err = NULL;

	CU_ASSERT_EQUAL(remind_spec_check("{{rdv.start}} -1d 18:00", &err), 0);
	CU_ASSERT_EQUAL(remind_spec_check("{{ rdv.start }} -2h", &err), 0);
	CU_ASSERT_EQUAL(remind_spec_check("{{rdv.start}}", &err), 0);
	CU_ASSERT_EQUAL(remind_spec_check("+5s", &err), 0);
	CU_ASSERT_EQUAL(remind_spec_check("2026-12-07 -1d", &err), 0);
	CU_ASSERT_EQUAL(remind_spec_check("{{rdv.start}} -1 jour", &err), -1);
	CU_ASSERT_EQUAL(remind_spec_check("{{rdv.start}}-1d", &err), -1);
	CU_ASSERT_EQUAL(remind_spec_check("{{rdv.start}} -{{n}}d", &err), -1);
	CU_ASSERT_EQUAL(remind_spec_check("{{rdv.start", &err), -1);
	CU_ASSERT_EQUAL(remind_spec_check("le {{rdv.start}}", &err), -1);
}

int main(void)
{
	CU_pSuite s;
	unsigned failures;

	setenv("TZ", "Europe/Paris", 1);
	tzset();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("remind", NULL, NULL);
	CU_add_test(s, "winter dates, a day before at 18:00, hours before", test_winter);
	CU_add_test(s, "across changes of summer time", test_summer_time);
	CU_add_test(s, "from now", test_from_now);
	CU_add_test(s, "malformed times refused", test_refused);
	CU_add_test(s, "written forms with a variable", test_spec_check);
	CU_add_test(s, "the zone's file gives the C library's times", test_zone_file_same_as_libc);
	CU_add_test(s, "from now in the hour repeated in autumn", test_from_now_repeated_hour);
	CU_add_test(s, "the zone named, not the system's", test_zone_named);
	/* From here on, the zone named: read from its file. */
	CU_add_test(s, "winter dates, the zone from its file", test_winter);
	CU_add_test(s, "summer time, the zone from its file", test_summer_time);
	CU_add_test(s, "from now, the zone from its file", test_from_now);
	CU_add_test(s, "the repeated hour, the zone from its file", test_from_now_repeated_hour);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
