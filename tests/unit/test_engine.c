/* The engine alone: every step kind, tries, timeouts, global words, call results and
 * failures, paging. No I/O: flows from a string, time passed in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	/* The page's options are kept with the session: the answer is read against them
	 * without cutting the menu a second time. */
	CU_ASSERT_TRUE(s.page_first >= 1 && s.page_first < 12);
	CU_ASSERT_TRUE(s.page_n >= 1 && s.page_first + s.page_n <= 12);
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

/* ---- what people send (issue 12): a set of two flows in files, as in flows/ ---- */

static struct flow_set *fs2;

static const char *text2(const char *t)
{
	struct engine_input in = { .kind = EV_TEXT, .text = t, .now = now,
				   .channel = s.channel == CHANNEL_SMS ? &sms_ch : &ussd_ch };
	CU_ASSERT_EQUAL_FATAL(engine_step(ctx, fs2, &s, &in, &out), 0);
	return out.reply ? out.reply : "";
}

static void write_flow(const char *dir, const char *name, const char *yaml)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return;		/* the load that follows fails and says so */
	fputs(yaml, f);
	fclose(f);
}

static int setup_two_flows(void)
{
	char dir[] = "/tmp/guichet-engine-XXXXXX";
	char path[256];

	if (!mkdtemp(dir))
		return 1;
	write_flow(dir, "dossier.yaml",
		   "flow: dossier\n"
		   "title: Dossier\n"
		   "entry: { sms: [DOSSIER, SUIVI], ussd: \"*9*2#\" }\n"
		   "steps:\n"
		   "  numero:\n"
		   "    ask: \"Numéro ?\"\n"
		   "    expect: { digits: 8, retry: \"8 chiffres.\" }\n"
		   "    save: numero\n"
		   "    next: mois\n"
		   "  mois:\n"
		   "    ask: \"Mois ?\"\n"
		   "    expect: month\n"
		   "    save: mois\n"
		   "    next: jour\n"
		   "  jour:\n"
		   "    ask: \"Jour ?\"\n"
		   "    expect: date\n"
		   "    save: jour\n"
		   "    next: fin\n"
		   "  fin: { say: \"{{numero}} {{mois}} {{jour}}\" }\n");
	write_flow(dir, "rdv.yaml",
		   "flow: rendez-vous\n"
		   "title: RDV\n"
		   "entry: { sms: [RDV, RENDEZVOUS], ussd: \"*9*1#\" }\n"
		   "steps:\n"
		   "  service:\n"
		   "    menu: \"Service ?\"\n"
		   "    options: [ CAF, RSA, CPAM ]\n"
		   "    next: ok\n"
		   "  ok:\n"
		   "    ask: \"Sûr ?\"\n"
		   "    expect: yesno\n"
		   "    save: ok\n"
		   "    next: fin\n"
		   "  fin: { say: \"Fait.\" }\n");
	struct diag *d = diag_alloc(ctx);
	fs2 = flow_set_load(ctx, dir, NULL, d);
	if (!fs2)
		diag_print(d, stderr);
	snprintf(path, sizeof(path), "%s/dossier.yaml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/rdv.yaml", dir);
	unlink(path);
	rmdir(dir);
	return fs2 ? 0 : 1;
}

/* "1.", "1)", "1 !", "*1", " 1 " are 1 at a menu; "un", "A", an emoji are not, and the
 * retry says which numbers are expected. */
static void test_answers_with_noise(void)
{
	static const char *const ones[] = { "1.", "1)", "1 !", "*1", " 1 ", "(1)", "1#",
					    "1\xef\xb8\x8f\xe2\x83\xa3" /* keycap 1 */ };
	for (unsigned i = 0; i < sizeof(ones) / sizeof(ones[0]); i++) {
		fresh(CHANNEL_SMS);
		text2("RDV");
		CU_ASSERT_STRING_EQUAL(text2(ones[i]), "Sûr ?");
	}
	static const char *const wrong[] = { "un", "A", "\xf0\x9f\x91\x8d", "1.5", "4" };
	for (unsigned i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		fresh(CHANNEL_SMS);
		text2("RDV");
		CU_ASSERT_STRING_EQUAL(text2(wrong[i]), "Répondez 1, 2 ou 3.\nService ?\n1 CAF\n2 RSA\n3 CPAM");
		CU_ASSERT_STRING_EQUAL(s.step, "service");
	}
	/* a yes/no question without its own retry says 1 or 2; "Oui !" is oui */
	fresh(CHANNEL_SMS);
	text2("RDV");
	text2("2");
	CU_ASSERT_STRING_EQUAL(text2("peut-être"), "Répondez 1 ou 2.\nSûr ?");
	CU_ASSERT_STRING_EQUAL(text2("Oui !"), "Fait.");
	/* global words with noise: "STOP." stops */
	fresh(CHANNEL_SMS);
	text2("RDV");
	text2("STOP.");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_STOPPED);
}

/* Keywords with punctuation, spaces or hyphens inside start their flow. */
static void test_keywords_as_typed(void)
{
	static const char *const rdv[] = { "RDV!", "rdv.", "RDV ?", "Rdv ?!", "RENDEZ VOUS",
					   "Rendez-vous", "rendez - vous", "R.D.V", "« RDV »",
					   "RDV caf" };
	for (unsigned i = 0; i < sizeof(rdv) / sizeof(rdv[0]); i++) {
		fresh(CHANNEL_SMS);
		CU_ASSERT_STRING_EQUAL(text2(rdv[i]), "Service ?\n1 CAF\n2 RSA\n3 CPAM");
		CU_ASSERT_TRUE(out.started);
	}
	CU_ASSERT_PTR_EQUAL(flow_by_keyword(fs2, "suivi..."), &fs2->flows[0]);
	CU_ASSERT_PTR_NULL(flow_by_keyword(fs2, "RENDEZ"));
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, "RDV caf", true));
	CU_ASSERT_PTR_NOT_NULL(flow_match_keyword(fs2, "RDV !", true));
	/* Texts are turned down on their first character when no keyword starts with it;
	 * noise before it (and before a keyword) is skipped first. */
	const struct flow *rdv_flow = flow_by_keyword(fs2, "RDV");
	CU_ASSERT_PTR_NOT_NULL(rdv_flow);
	CU_ASSERT_PTR_EQUAL(flow_match_keyword(fs2, "\u2026 \u00ab rdv \u00bb", true), rdv_flow);
	CU_ASSERT_PTR_EQUAL(flow_match_keyword(fs2, "  ...dossier ?", true), &fs2->flows[0]);
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, "1", true));
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, "oui", false));
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, " ... ", false));
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, "", false));
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, "R2D2", false));
	CU_ASSERT_PTR_EQUAL(flow_match_keyword(fs2, "s.u.i.v.i", false), &fs2->flows[0]);
	CU_ASSERT_PTR_EQUAL(flow_match_keyword(fs2, "\t-rdv", true), rdv_flow);
	CU_ASSERT_PTR_EQUAL(flow_match_keyword(fs2, "\u00a0\u2019rdv", true), rdv_flow);
	CU_ASSERT_PTR_NULL(flow_match_keyword(fs2, "\u00e9rdv", false));
}

/* One letter off a keyword (RDB, DOSIER, DOSSEIR): "Vouliez-vous dire RDV ?", and 1 starts
 * it; anything else is taken as it is. */
static void test_keyword_typo(void)
{
	fresh(CHANNEL_SMS);
	CU_ASSERT_STRING_EQUAL(text2("RDB"), "Vouliez-vous dire RDV ? Répondez 1 pour oui.");
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
	CU_ASSERT_STRING_EQUAL(text2("1"), "Service ?\n1 CAF\n2 RSA\n3 CPAM");
	CU_ASSERT_TRUE(out.started);

	fresh(CHANNEL_SMS);
	CU_ASSERT_STRING_EQUAL(text2("dosier"), "Vouliez-vous dire DOSSIER ? Répondez 1 pour oui.");
	CU_ASSERT_STRING_EQUAL(text2("oui"), "Numéro ?");
	fresh(CHANNEL_SMS);
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("DOSSEIR"), "DOSSIER ?"));
	/* not a yes: the suggestion is dropped and the text taken as it is */
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("bonjour"), "RDV : RDV"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("1"), "RDV : RDV"));
	/* a yes long after is not taken */
	fresh(CHANNEL_SMS);
	text2("RDB");
	now += 16 * 60;
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("1"), "RDV : RDV"));
	/* too far, too short, or a common word: the list */
	fresh(CHANNEL_SMS);
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("RBB"), "RDV : RDV"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("RD"), "RDV : RDV"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("AIDE"), "RDV : RDV"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text2("1234"), "RDV : RDV"));
	/* the keyword found is the one close to the word */
	const char *kw = NULL;
	CU_ASSERT_PTR_EQUAL(flow_keyword_near(fs2, "SUIVU", &kw), &fs2->flows[0]);
	CU_ASSERT_STRING_EQUAL(kw, "SUIVI");
}

/* The keyword again in the middle of its flow starts it again; another's starts that one. */
static void test_keyword_restarts(void)
{
	fresh(CHANNEL_SMS);
	text2("RDV");
	text2("1");
	CU_ASSERT_STRING_EQUAL(s.step, "ok");
	CU_ASSERT_STRING_EQUAL(text2("RDV"), "Service ?\n1 CAF\n2 RSA\n3 CPAM");
	CU_ASSERT_TRUE(out.started);
	CU_ASSERT_EQUAL(s.tries, 0);
	CU_ASSERT_STRING_EQUAL(text2("dossier !"), "Numéro ?");
	CU_ASSERT_STRING_EQUAL(s.flow, "dossier");
}

/* After a timeout: a keyword starts its flow at once; anything else is told how to start
 * again, with the flow's keyword in the common message. */
static void test_timeout_names_keyword(void)
{
	fresh(CHANNEL_SMS);
	text2("RDV");
	now += 16 * 60;
	CU_ASSERT_STRING_EQUAL(text2("2"), "Votre demande a expiré. Renvoyez le mot-clé pour recommencer.");
	fresh(CHANNEL_SMS);
	text2("RDV");
	now += 16 * 60;
	CU_ASSERT_STRING_EQUAL(text2("dossier."), "Numéro ?");
	CU_ASSERT_EQUAL(out.outcome, OUTCOME_EXPIRED);
	/* {{keyword}} names the flow that expired */
	struct flow_text t = fs2->msg.expired;
	struct flow_tr tr = t.tr[0];
	tr.text = "Expiré. Envoyez {{keyword}} pour recommencer.";
	fs2->msg.expired.tr = &tr;
	now += 16 * 60;
	CU_ASSERT_STRING_EQUAL(text2("1"), "Expiré. Envoyez DOSSIER pour recommencer.");
	fs2->msg.expired = t;
}

/* Dates and months in keypad forms; digits with look-alike letters beside real digits. */
static void test_keypad_forms(void)
{
	static const char *const months[] = { "03/2026", "032026", "03*2026", "3*2026", "3/2026",
					      "03 2026", "03-2026", "03.2026" };
	for (unsigned i = 0; i < sizeof(months) / sizeof(months[0]); i++) {
		fresh(CHANNEL_USSD);
		text2("*9*2#");
		text2("12345678");
		CU_ASSERT_STRING_EQUAL(text2(months[i]), "Jour ?");
		CU_ASSERT_STRING_EQUAL(vars_get(&s.vars, "mois"), "2026-03");
	}
	static const char *const bad_months[] = { "13/2026", "2026", "3", "032", "03*20*26" };
	for (unsigned i = 0; i < sizeof(bad_months) / sizeof(bad_months[0]); i++) {
		fresh(CHANNEL_USSD);
		text2("*9*2#");
		text2("12345678");
		CU_ASSERT_PTR_NOT_NULL(strstr(text2(bad_months[i]), "Mois ?"));
		CU_ASSERT_STRING_EQUAL(s.step, "mois");
	}
	static const char *const days[] = { "01122026", "1*12*2026", "01*12*2026", "1/12/2026" };
	for (unsigned i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		fresh(CHANNEL_USSD);
		text2("*9*2#");
		text2("12345678");
		text2("032026");
		CU_ASSERT_STRING_EQUAL(text2(days[i]), "12345678 2026-03 2026-12-01");
	}
	/* O and l beside digits are 0 and 1; alone they are not digits */
	fresh(CHANNEL_SMS);
	text2("DOSSIER");
	CU_ASSERT_STRING_EQUAL(text2("O6 l2 34 56"), "Mois ?");
	CU_ASSERT_STRING_EQUAL(vars_get(&s.vars, "numero"), "06123456");
	fresh(CHANNEL_SMS);
	text2("DOSSIER");
	CU_ASSERT_STRING_EQUAL(text2("OOOOOOOO"), "8 chiffres.\nNuméro ?");
}

/* The USSD root menu: a wrong pick says which numbers to dial. */
static void test_root_menu_pick(void)
{
	fresh(CHANNEL_USSD);
	CU_ASSERT_STRING_EQUAL(text2("*9#"), "Envoyez le mot-clé d'un service :\n1 RDV\n2 Dossier");
	CU_ASSERT_STRING_EQUAL(text2("7"), "Répondez 1 ou 2.\nEnvoyez le mot-clé d'un service :\n1 RDV\n2 Dossier");
	CU_ASSERT_STRING_EQUAL(text2("2#"), "Numéro ?");
}

/* Help or a retry text and the menu page that do not fit one screen together: the help alone
 * (the menu is the one shown), or the menu alone; never a screen the transport would cut. */
static void test_prefix_and_menu_overflow(void)
{
	struct engine_channel saved = ussd_ch;

	ussd_ch.budget = text_budget_ussd(40);
	fresh(CHANNEL_USSD);
	CU_ASSERT_STRING_EQUAL(text2("*9*1#"), "Service ?\n1 CAF\n2 RSA\n3 CPAM");
	CU_ASSERT_STRING_EQUAL(text2("AIDE"), "0 retour, 00 recommencer. Conseiller : 3939");
	CU_ASSERT_STRING_EQUAL(text2("7"), "Service ?\n1 CAF\n2 RSA\n3 CPAM");
	CU_ASSERT_STRING_EQUAL(text2("2"), "Sûr ?");
	ussd_ch = saved;
	/* with room for both, both */
	fresh(CHANNEL_USSD);
	text2("*9*1#");
	CU_ASSERT_STRING_EQUAL(text2("7"), "Répondez 1, 2 ou 3.\nService ?\n1 CAF\n2 RSA\n3 CPAM");
}


/* ---- GSM-7 checked by parts: a reply is folded exactly when its whole text is not GSM-7 ---- */

static const char *parts_yaml =
	"flow: plis\n"
	"title: Plis\n"
	"entry: { sms: [PLI] }\n"
	"steps:\n"
	"  appel:\n"
	"    call: svc.op\n"
	"    save: res\n"
	"    on_error: erreur\n"
	"    next: liste\n"
	"  liste:\n"
	"    menu: \"Créneaux {{res.titre}} :\"\n"
	"    options_from: { list: res.items, label: \"{{item.label}}\", set: { pris: \"{{item.label}}\" } }\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"Pris : {{pris}}, {{res.titre | default: \\\"à voir\\\"}} ({{res.titre | upper}}).\"\n"
	"    receipt: \"Reçu {{pris}}.\"\n"
	"    end: true\n"
	"  erreur:\n"
	"    say: \"Erreur.\"\n"
	"    end: true\n";

/* One dialogue through the channel; the replies (and the receipt) joined into buf. */
static void parts_dialogue(struct flow_set *pfs, const struct engine_channel *ch,
			   struct vars *res, char *buf, size_t size)
{
	struct session ps;
	struct engine_out o;
	struct engine_input in = { .kind = EV_TEXT, .text = "PLI", .now = now, .channel = ch };

	session_init(&ps, ctx, "sms:+33600000009", CHANNEL_SMS, "+33600000009");
	buf[0] = '\0';
	for (int i = 0; i < 3; i++) {
		if (i == 1) {
			in = (struct engine_input){ .kind = EV_RESULT, .result = res,
						    .call_id = ps.call_id, .now = now, .channel = ch };
		} else if (i == 2) {
			in = (struct engine_input){ .kind = EV_TEXT, .text = "1", .now = now,
						    .channel = ch };
		}
		CU_ASSERT_EQUAL_FATAL(engine_step(ctx, pfs, &ps, &in, &o), 0);
		snprintf(buf + strlen(buf), size - strlen(buf), "%s|", o.reply ? o.reply : "-");
		for (unsigned k = 0; k < o.n_sends; k++)
			snprintf(buf + strlen(buf), size - strlen(buf), "%s|", o.sends[k].text);
	}
}

static void test_gsm7_by_parts(void)
{
	static const char *const bits[] = { "a", "é", "ù", "Ù", "œ", "€", "`", " ", "12", "\xc3",
					    "lun. 7 déc.", "Zoë" };
	const unsigned nb = sizeof(bits) / sizeof(bits[0]);
	struct diag *d = diag_alloc(ctx);
	struct flow_set *pfs = flow_set_load_string(ctx, "plis.yaml", parts_yaml, NULL, d);
	struct engine_channel plain = sms_ch, folded = sms_ch;
	unsigned seed = 777, kept = 0, changed = 0;

	if (!pfs)
		diag_print(d, stderr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pfs);
	folded.fold = true;
	plain.fold = false;
	for (int n = 0; n < 2000; n++) {
		struct vars res;
		char v[64], want[2048], got[2048], *w;

		vars_init(&res, ctx);
		for (int j = 0; j < 3; j++) {
			v[0] = '\0';
			for (unsigned b = 0; b < 3; b++) {
				seed = seed * 1103515245u + 12345u;
				strcat(v, bits[(seed >> 16) % nb]);
			}
			vars_set(&res, j == 0 ? "titre" : j == 1 ? "items.0.label" : "items.1.label",
				 v, false);
		}
		vars_set(&res, "items.count", "2", false);
		/* The full computation: each text unfolded, then folded when not GSM-7. */
		parts_dialogue(pfs, &plain, &res, want, sizeof(want));
		char ref[4096] = "";
		for (char *t = strtok_r(want, "|", &w); t; t = strtok_r(NULL, "|", &w)) {
			const char *f = !strcmp(t, "-") || text_is_gsm7(t) ? t : text_fold_gsm7(ctx, t);
			snprintf(ref + strlen(ref), sizeof(ref) - strlen(ref), "%s|", f);
			changed += f != t;
			kept += f == t;
		}
		parts_dialogue(pfs, &folded, &res, got, sizeof(got));
		CU_ASSERT_STRING_EQUAL(got, ref);
	}
	CU_ASSERT_TRUE(kept > 1000 && changed > 1000);
}

int main(void)
{
	CU_pSuite su;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	su = CU_add_suite("engine", setup, NULL);
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
	CU_add_test(su, "GSM-7 checked by parts: folded as the whole text says",
		    test_gsm7_by_parts);
	su = CU_add_suite("what people send", setup_two_flows, teardown);
	CU_add_test(su, "answers with punctuation and spaces", test_answers_with_noise);
	CU_add_test(su, "keywords as people type them", test_keywords_as_typed);
	CU_add_test(su, "a keyword with a typing slip is offered", test_keyword_typo);
	CU_add_test(su, "a keyword mid-flow starts again", test_keyword_restarts);
	CU_add_test(su, "after a timeout", test_timeout_names_keyword);
	CU_add_test(su, "keypad forms of dates, months, digits", test_keypad_forms);
	CU_add_test(su, "USSD root menu: a wrong pick", test_root_menu_pick);
	CU_add_test(su, "help or retry and a menu over one screen", test_prefix_and_menu_overflow);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
