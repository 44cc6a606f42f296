/* An aggregator dialogue's shared history (ussd_share.c): a request must extend it by one
 * input, a secret answer is kept as a mask that matches any one input. */
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/ussd_share.h"

static void *ctx;

static void test_input(void)
{
	/* The first answer: the whole text, '*' and all (one answer, as ussd_http reads it). */
	CU_ASSERT_STRING_EQUAL(ussd_share_input("", "1"), "1");
	CU_ASSERT_STRING_EQUAL(ussd_share_input("", "1*2"), "1*2");
	CU_ASSERT_PTR_NULL(ussd_share_input("", ""));
	/* Then the text past the history and its '*'. */
	CU_ASSERT_STRING_EQUAL(ussd_share_input("1", "1*Dupont"), "Dupont");
	CU_ASSERT_STRING_EQUAL(ussd_share_input("1*Dupont", "1*Dupont*"), "");
	CU_ASSERT_PTR_NULL(ussd_share_input("1", "1"));		/* replayed */
	CU_ASSERT_PTR_NULL(ussd_share_input("1", "2*X"));	/* forged */
	CU_ASSERT_PTR_NULL(ussd_share_input("1*2", "1*X"));	/* older than the state */
	CU_ASSERT_PTR_NULL(ussd_share_input("1", "11*X"));
	CU_ASSERT_PTR_NULL(ussd_share_input("1*2", "1"));
}

static void test_secret(void)
{
	char *h = ussd_share_extend(ctx, "", "2", false);

	CU_ASSERT_STRING_EQUAL(h, "2");
	h = ussd_share_extend(ctx, h, "9876", true);
	CU_ASSERT_PTR_NULL(strstr(h, "9876"));
	CU_ASSERT_STRING_EQUAL(h, "2*\x1f");
	/* The mask matches whatever one input the person gave. */
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "2*9876*Durand"), "Durand");
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "2*1*Durand"), "Durand");
	CU_ASSERT_PTR_NULL(ussd_share_input(h, "2**Durand"));
	CU_ASSERT_PTR_NULL(ussd_share_input(h, "2*9876"));
	CU_ASSERT_PTR_NULL(ussd_share_input(h, "3*9876*Durand"));
	h = ussd_share_extend(ctx, h, "Durand", false);
	CU_ASSERT_STRING_EQUAL(h, "2*\x1f*Durand");
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "2*0000*Durand*1"), "1");
	/* A first answer that was secret. */
	h = ussd_share_extend(ctx, "", "1234", true);
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "1234*5"), "5");
}

int main(void)
{
	CU_pSuite s;
	unsigned failures;

	ctx = talloc_named_const(NULL, 0, "test_ussd_share");
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("ussd_share", NULL, NULL);
	CU_add_test(s, "a request extends the shared history by one input", test_input);
	CU_add_test(s, "a secret answer is shared as a mask", test_secret);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	talloc_free(ctx);
	return failures ? 1 : 0;
}
