/* The engine alone: every step kind, tries, timeouts, global words, call results and
 * failures, paging. No I/O: flows from a string, time passed in. */
#include <stdio.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine.h"

static const char *flows_yaml =
	"flow: test\n"
	"title: Test\n"
	"entry: { sms: [TEST, ESSAI], ussd: \"*1*1#\" }\n"
	"timeout: 10m\n"
	"on_timeout: \"Expiré.\"\n"
	"steps:\n"
	"  accueil:\n"
	"    menu: \"Choix ?\"\n"
	"    options:\n"
	"      - { label: \"Un\", set: { choix: un } }\n"
	"      - { label: \"Deux\", set: { choix: deux }, next: date }\n"
	"    next: nombre\n"
	"    tries: 2\n"
	"  nombre:\n"
	"    ask: \"Nombre ?\"\n"
	"    expect: { digits: [1, 3], retry: \"Chiffres !\", tries: 2, on_fail: rate }\n"
	"    save: nombre\n"
	"    next: code\n"
	"  code:\n"
	"    ask: \"Code ?\"\n"
	"    expect: { secret: { digits: 4 } }\n"
	"    save: code\n"
	"    next: appel\n"
	"  appel:\n"
	"    call: svc.op\n"
	"    with: { n: \"{{nombre}}\", c: \"{{code}}\" }\n"
	"    save: res\n"
	"    on_error: erreur\n"
	"    next: liste\n"
	"  liste:\n"
	"    menu: \"Liste :\"\n"
	"    options_from: { list: res.items, label: \"{{item.label}}\", set: { pris: \"{{item.id}}\" } }\n"
	"    next: tri\n"
	"  tri:\n"
	"    branch:\n"
	"      - when: { var: pris, equals: A }\n"
	"        next: fin_a\n"
	"    else: fin_autre\n"
	"  date:\n"
	"    ask: \"Date ?\"\n"
	"    expect: date\n"
	"    save: jour\n"
	"    next: fin_date\n"
	"  fin_date:\n"
	"    say: \"Le {{jour}}.\"\n"
	"    end: true\n"
	"  fin_a:\n"
	"    say: \"A pris, {{nombre}}.\"\n"
	"    end: true\n"
	"  fin_autre:\n"
	"    say: \"Autre : {{pris}}.\"\n"
	"    end: true\n"
	"  erreur:\n"
	"    say: \"Erreur.\"\n"
	"    end: true\n"
	"  rate:\n"
	"    say: \"Raté.\"\n"
	"    end: true\n";

static void *ctx;
static struct flow_set *fs;
static struct session s;
static struct engine_out out;
static struct engine_channel sms_ch, ussd_ch;
static int64_t now = 1000000;

static void fresh(enum channel ch)
{
	session_init(&s, ctx, ch == CHANNEL_SMS ? "sms:+33600000001" : "ussd:x", ch, "+33600000001");
}

static const char *text(const char *t)
{
	struct engine_input in = { .kind = EV_TEXT, .text = t, .now = now,
				   .channel = s.channel == CHANNEL_SMS ? &sms_ch : &ussd_ch };
	CU_ASSERT_EQUAL_FATAL(engine_step(ctx, fs, &s, &in, &out), 0);
	return out.reply ? out.reply : "";
}

static const char *result(struct vars *v)
{
	struct engine_input in = { .kind = v ? EV_RESULT : EV_FAILURE, .result = v,
				   .error = "HTTP 503", .call_id = s.call_id, .now = now,
				   .channel = &sms_ch };
	CU_ASSERT_EQUAL_FATAL(engine_step(ctx, fs, &s, &in, &out), 0);
	return out.reply ? out.reply : "";
}

static int setup(void)
{
	struct diag *d;

	ctx = talloc_named_const(NULL, 0, "test_engine");
	d = diag_alloc(ctx);
	fs = flow_set_load_string(ctx, "test.yaml", flows_yaml, NULL, d);
	if (!fs)
		diag_print(d, stderr);
	sms_ch = (struct engine_channel){ .kind = CHANNEL_SMS, .budget = text_budget_sms(3) };
	ussd_ch = (struct engine_channel){ .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) };
	return fs ? 0 : 1;
}

static int teardown(void)
{
	talloc_free(ctx);
	return 0;
}

static void test_keyword_starts_menu(void)
{
	fresh(CHANNEL_SMS);
	CU_ASSERT_STRING_EQUAL(text("  essai "), "Choix ?\n1 Un\n2 Deux");
	CU_ASSERT_TRUE(out.started);
	CU_ASSERT_EQUAL(s.state, SESSION_ACTIVE);
	CU_ASSERT_STRING_EQUAL(s.step, "accueil");
	CU_ASSERT_TRUE(out.expects_answer);
	CU_ASSERT_EQUAL(s.deadline, now + 600);
}

static void test_unknown_text_lists_services(void)
{
	fresh(CHANNEL_SMS);
	const char *r = text("bonjour");
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "TEST : Test"));
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
}

static void test_menu_tries_then_fail(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	const char *r = text("7");
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Choix ?"));
	CU_ASSERT_EQUAL(s.tries, 1);
	text("x");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_FAILED);
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
}

static void test_ask_retry_and_on_fail(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	text("1");
	CU_ASSERT_STRING_EQUAL(s.step, "nombre");
	CU_ASSERT_STRING_EQUAL(text("abc"), "Chiffres !\nNombre ?");
	CU_ASSERT_STRING_EQUAL(text("12345"), "Raté.");
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
}

static void test_secret_call_list_branch(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	text("1");
	text("42");
	CU_ASSERT_TRUE(out.expects_answer);
	text("1234");
	CU_ASSERT_TRUE(out.input_secret);
	CU_ASSERT_TRUE(out.has_call);
	CU_ASSERT_STRING_EQUAL(out.call.op, "svc.op");
	CU_ASSERT_STRING_EQUAL(vars_get(&out.call.args, "c"), "1234");
	CU_ASSERT_STRING_EQUAL(vars_get(&out.call.args, "n"), "42");
	CU_ASSERT_TRUE(vars_is_secret(&out.call.args, "c"));
	/* the secret is gone from the session once the call is made */
	CU_ASSERT_PTR_NULL(vars_get(&s.vars, "code"));
	CU_ASSERT_EQUAL(s.state, SESSION_WAITING);

	/* a text while waiting: told to wait, still waiting */
	CU_ASSERT_PTR_NOT_NULL(strstr(text("allo"), "instant"));
	CU_ASSERT_EQUAL(s.state, SESSION_WAITING);

	struct vars v;
	vars_init(&v, ctx);
	vars_set(&v, "items.count", "2", false);
	vars_set(&v, "items.0.id", "A", false);
	vars_set(&v, "items.0.label", "Lundi", false);
	vars_set(&v, "items.1.id", "B", false);
	vars_set(&v, "items.1.label", "Mardi", false);
	CU_ASSERT_STRING_EQUAL(result(&v), "Liste :\n1 Lundi\n2 Mardi");
	CU_ASSERT_STRING_EQUAL(text("1"), "A pris, 42.");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_COMPLETED);
}

static void test_call_failure_on_error(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	text("1");
	text("42");
	text("1234");
	uint32_t id = s.call_id;
	/* a stale answer (another call id) changes nothing */
	struct engine_input in = { .kind = EV_RESULT, .call_id = id + 7, .now = now,
				   .channel = &sms_ch };
	engine_step(ctx, fs, &s, &in, &out);
	CU_ASSERT_EQUAL(s.state, SESSION_WAITING);
	CU_ASSERT_STRING_EQUAL(result(NULL), "Erreur.");
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
}

static void test_date_and_option_next(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	CU_ASSERT_STRING_EQUAL(text("2"), "Date ?");
	CU_ASSERT_PTR_NOT_NULL(strstr(text("31/02/2026"), "Date ?"));	/* no such day */
	CU_ASSERT_STRING_EQUAL(text("29/02/2028"), "Le 2028-02-29.");
}

static void test_global_words(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	text("1");
	/* at a question, "0" that is a valid answer is an answer, not "back" */
	text("0");
	CU_ASSERT_STRING_EQUAL(s.step, "code");
	/* where it is not valid, it is "back": the previous question again */
	CU_ASSERT_STRING_EQUAL(text("0"), "Nombre ?");
	CU_ASSERT_STRING_EQUAL(s.step, "nombre");
	/* help: the help text then the question again */
	const char *r = text("aide");
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Nombre ?"));
	CU_ASSERT_STRING_EQUAL(s.step, "nombre");
	/* restart */
	CU_ASSERT_STRING_EQUAL(text("00"), "Choix ?\n1 Un\n2 Deux");
	/* stop, accents and case folded */
	text("Arrêt");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_STOPPED);
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
}

static void test_timeout(void)
{
	fresh(CHANNEL_SMS);
	text("TEST");
	now += 601;
	CU_ASSERT_STRING_EQUAL(text("1"), "Expiré.");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_EXPIRED);
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
	/* coming back late with a keyword starts afresh */
	text("TEST");
	now += 601;
	CU_ASSERT_STRING_EQUAL(text("TEST"), "Choix ?\n1 Un\n2 Deux");
	CU_ASSERT_EQUAL(s.state, SESSION_ACTIVE);
	/* an explicit timeout event (USSD) ends it silently */
	struct engine_input in = { .kind = EV_TIMEOUT, .now = now, .channel = &sms_ch };
	engine_step(ctx, fs, &s, &in, &out);
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_EXPIRED);
	CU_ASSERT_PTR_NULL(out.reply);
}

static void test_ussd_code_and_paging(void)
{
	fresh(CHANNEL_USSD);
	CU_ASSERT_STRING_EQUAL(text("*1*1#"), "Choix ?\n1 Un\n2 Deux");
	CU_ASSERT_TRUE(out.expects_answer);
	text("1");
	text("1");
	text("1234");
	struct vars v;
	vars_init(&v, ctx);
	char name[32], label[80];
	vars_set(&v, "items.count", "30", false);
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "items.%d.label", i);
		snprintf(label, sizeof(label), "Créneau numéro %d du mois", i);
		vars_set(&v, name, label, false);
		snprintf(name, sizeof(name), "items.%d.id", i);
		vars_set(&v, name, label, false);
	}
	struct engine_input in = { .kind = EV_RESULT, .result = &v, .call_id = s.call_id,
				   .now = now, .channel = &ussd_ch };
	engine_step(ctx, fs, &s, &in, &out);
	/* the first page fits one screen and offers more */
	CU_ASSERT_TRUE(text_fits(out.reply, &ussd_ch.budget));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reply, "9 Suite"));
	char first_page[512];
	snprintf(first_page, sizeof(first_page), "%s", out.reply);
	const char *p2 = text("9");
	CU_ASSERT_TRUE(text_fits(p2, &ussd_ch.budget));
	CU_ASSERT_STRING_NOT_EQUAL(p2, first_page);
	CU_ASSERT_EQUAL(s.page, 1);
	/* option 1 of page 2 is the first item of that page */
	text("1");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_COMPLETED);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.reply, "Autre : Créneau numéro"));
	CU_ASSERT_PTR_NULL(strstr(out.reply, "numéro 0 "));
	CU_ASSERT_FALSE(out.expects_answer);
}

static void test_fold_to_gsm7(void)
{
	struct engine_channel folded = sms_ch;
	folded.fold = true;
	fresh(CHANNEL_SMS);
	struct engine_input in = { .kind = EV_TEXT, .text = "TEST", .now = now, .channel = &folded };
	engine_step(ctx, fs, &s, &in, &out);
	in.text = "arrêt";
	engine_step(ctx, fs, &s, &in, &out);
	CU_ASSERT_TRUE(text_is_gsm7(out.reply));
}

int main(void)
{
	CU_pSuite su;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	su = CU_add_suite("engine", setup, teardown);
	CU_add_test(su, "keyword starts the flow's menu", test_keyword_starts_menu);
	CU_add_test(su, "unknown text lists services", test_unknown_text_lists_services);
	CU_add_test(su, "menu tries then failure", test_menu_tries_then_fail);
	CU_add_test(su, "ask retry then on_fail", test_ask_retry_and_on_fail);
	CU_add_test(su, "secret, call, list menu, branch", test_secret_call_list_branch);
	CU_add_test(su, "call failure takes on_error", test_call_failure_on_error);
	CU_add_test(su, "date validation and option next", test_date_and_option_next);
	CU_add_test(su, "global words", test_global_words);
	CU_add_test(su, "timeouts", test_timeout);
	CU_add_test(su, "USSD code and paging", test_ussd_code_and_paging);
	CU_add_test(su, "folding keeps GSM-7", test_fold_to_gsm7);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
