/* The notification API's pure checks: E.164 numbers and RFC 3339 date-times. */
#include <CUnit/Basic.h>

#include "guichet/api_http.h"
#include "unit_main.h"

static void test_numbers(void)
{
	CU_ASSERT(api_number_ok("+33612345678"));
	CU_ASSERT(api_number_ok("+26269123456"));
	CU_ASSERT(api_number_ok("+12345678"));
	CU_ASSERT(api_number_ok("+123456789012345"));
	CU_ASSERT(!api_number_ok("+1234567890123456"));	/* 16 digits */
	CU_ASSERT(!api_number_ok("+1234567"));
	CU_ASSERT(!api_number_ok("0612345678"));
	CU_ASSERT(!api_number_ok("+0612345678"));
	CU_ASSERT(!api_number_ok("+33 6 12 34 56 78"));
	CU_ASSERT(!api_number_ok("+3361234567a"));
	CU_ASSERT(!api_number_ok(""));
	CU_ASSERT(!api_number_ok(NULL));
}

static void test_times(void)
{
	CU_ASSERT_EQUAL(api_parse_time("1970-01-01T00:00:00Z"), 0);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T10:00:00Z"), 1796119200000LL);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T11:00:00+01:00"), 1796119200000LL);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T06:30:00-03:30"), 1796119200000LL);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01t10:00:00.25z"), 1796119200250LL);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T10:00:00.123456Z"), 1796119200123LL);
	CU_ASSERT_EQUAL(api_parse_time("2028-02-29T00:00:00Z") > 0, 1);
	CU_ASSERT_EQUAL(api_parse_time("2027-02-29T00:00:00Z"), -1);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T10:00:00"), -1);	/* no zone */
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01 10:00:00Z"), -1);
	CU_ASSERT_EQUAL(api_parse_time("2026-13-01T10:00:00Z"), -1);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T24:00:00Z"), -1);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T10:00:00.Z"), -1);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T10:00:00+0100"), -1);
	CU_ASSERT_EQUAL(api_parse_time("2026-12-01T10:00:00Zjunk"), -1);
	CU_ASSERT_EQUAL(api_parse_time("demain"), -1);
	CU_ASSERT_EQUAL(api_parse_time(NULL), -1);
}

static const CU_TestInfo tests[] = {
	{ "E.164 numbers", test_numbers },
	{ "RFC 3339 date-times", test_times },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("api", NULL, NULL, tests);
}
