/* A reminder's time (remind.h) in Europe/Paris from the system tz database: the day before
 * at a clock time, hours before, across the October and March changes of summer time, from
 * now, and the written forms guichet check accepts or refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <CUnit/Basic.h>

#include "guichet/remind.h"

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
	CU_add_test(s, "the zone named, not the system's", test_zone_named);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
