/* The mains the unit suites share: the tests of one suite from a CU_TestInfo table (ending
 * with CU_TEST_INFO_NULL), run verbose; each returns the program's exit status, 0 all passed,
 * 1 a failure, 2 CUnit could not start. */
#ifndef GUICHET_TEST_UNIT_MAIN_H
#define GUICHET_TEST_UNIT_MAIN_H

#include <stdio.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

/* A suite whose module allocates with talloc: the tests run with talloc's null tracking on,
 * hanging what they allocate under *ctx ("test_" + suite), and once *ctx is freed any block
 * left over counts as a failure: everything the module returned was freed or hung under ctx. */
static inline int unit_talloc_run(const char *suite, const CU_TestInfo *tests, void **ctx)
{
	CU_pSuite s;
	unsigned failures;

	talloc_enable_null_tracking();
	*ctx = talloc_named(NULL, 0, "test_%s", suite);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite(suite, NULL, NULL);
	if (!s)
		goto fail;
	for (const CU_TestInfo *t = tests; t->pName; t++)
		if (!CU_add_test(s, t->pName, t->pTestFunc))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	talloc_free(*ctx);
	*ctx = NULL;
	if (talloc_total_blocks(NULL) != 1) {
		fprintf(stderr, "talloc leak:\n");
		talloc_report_full(NULL, stderr);
		failures++;
	}
	talloc_disable_null_tracking();	/* frees the null context itself */
	return failures ? 1 : 0;
fail:
	CU_cleanup_registry();
	return 2;
}

/* For suites registered by their own main (several suites, init functions): runs them
 * (verbose); a talloc block left under root, the tests' context, counts as a failure; frees
 * root. Returns the number of failures. */
static inline unsigned unit_root_run(void *root)
{
	unsigned failures;
	size_t leaked;

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();

	leaked = talloc_total_blocks(root) - 1;
	if (leaked) {
		fprintf(stderr, "talloc: %zu blocks left under the test root\n", leaked);
		talloc_report_full(root, stderr);
		failures++;
	}
	talloc_free(root);
	return failures;
}

/* A suite with its own set-up and tear-down (init, clean; NULL for none): a failed assertion,
 * or a set-up or tear-down that failed, fails the run. */
static inline int unit_run(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
			   const CU_TestInfo *tests)
{
	CU_pSuite s;
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite(suite, init, clean);
	if (!s)
		goto fail;
	for (const CU_TestInfo *t = tests; t->pName; t++)
		if (!CU_add_test(s, t->pName, t->pTestFunc))
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
fail:
	CU_cleanup_registry();
	return 2;
}

#endif
