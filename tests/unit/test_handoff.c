/* handoff: a call to a human's call-back service that also gets the person's number and the
 * transcript so far: secret answers masked, bounded, kept when a CONSEILLER flow is started
 * in the middle of another, reached by on_fail after too many wrong answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine.h"
#include "guichet/flow.h"
#include "unit_main.h"

static const char *dossier_yaml =
	"flow: dossier\n"
	"title: Dossier\n"
	"entry: { sms: [DOSSIER] }\n"
	"start: numero\n"
	"steps:\n"
	"  numero:\n"
	"    ask: \"Numéro ?\"\n"
	"    expect: { digits: 8, retry: \"8 chiffres.\", tries: 2, on_fail: humain }\n"
	"    save: numero\n"
	"    next: code\n"
	"  code:\n"
	"    ask: \"Code secret ?\"\n"
	"    expect: { secret: { digits: 4 }, retry: \"4 chiffres.\" }\n"
	"    save: code\n"
	"    next: encore\n"
	"  encore:\n"
	"    ask: \"Code {{code}} noté. Autre chose ?\"\n"
	"    receipt: \"Demande {{numero}} code {{code}}.\"\n"
	"    reference: \"{{numero}}-{{code}}\"\n"
	"    save: autre\n"
	"    next: humain\n"
	"  humain:\n"
	"    handoff: conseil.rappel\n"
	"    with: { motif: dossier }\n"
	"    save: rappel\n"
	"    on_error: desole\n"
	"    next: dit\n"
	"  dit:\n"
	"    say: \"{{rappel.qui}} vous rappellera {{rappel.quand}}.\"\n"
	"  desole:\n"
	"    say: \"Appelez le {{contact}}.\"\n";

static void *ctx;
static struct flow_set *fs;
static struct session s;
static struct engine_out out;
static struct engine_channel ch = { .kind = CHANNEL_SMS, .budget = { 0 }, .fold = false };

static void send_text(const char *text)
{
	struct engine_input in = { .kind = EV_TEXT, .text = text, .now = 1000, .channel = &ch };
	CU_ASSERT_EQUAL(engine_step(ctx, fs, &s, &in, &out), 0);
}

static int setup(void)
{
	ctx = talloc_named_const(NULL, 0, "t");
	struct diag *d = diag_alloc(ctx);
	ch.budget = text_budget_sms(3);
	fs = flow_set_load_string(ctx, "dossier.yaml", dossier_yaml, NULL, d);
	if (!fs)
		diag_print(d, stderr);
	return fs ? 0 : 1;
}

static int teardown(void)
{
	talloc_free(ctx);
	return 0;
}

static void test_loaded(void)
{
	const struct flow *f = flow_find(fs, "dossier");
	const struct flow_step *st = &f->steps[flow_step_index(f, "humain")];
	CU_ASSERT_EQUAL(st->kind, STEP_CALL);
	CU_ASSERT_TRUE(st->handoff);
	CU_ASSERT_STRING_EQUAL(st->op, "conseil.rappel");
}

static void test_transcript_without_secret(void)
{
	session_init(&s, ctx, "sms:+33612345678", CHANNEL_SMS, "+33612345678");
	send_text("DOSSIER");
	send_text("12345678");
	send_text("4321");
	CU_ASSERT_FALSE(out.has_call);
	/* A receipt stored in the schedule never holds the secret answer. */
	CU_ASSERT_EQUAL_FATAL(out.n_sends, 1);
	CU_ASSERT_STRING_EQUAL(out.sends[0].text, "Demande 12345678 code .");
	CU_ASSERT_STRING_EQUAL(out.sends[0].reference, "12345678-");
	/* Its idempotency key: person, flow, step, kind and number, time, reference. */
	CU_ASSERT_STRING_EQUAL(out.sends[0].key, "flow:+33612345678:dossier:encore:r0:1000:12345678-");
	send_text("Je ne comprends pas le courrier");
	CU_ASSERT_TRUE_FATAL(out.has_call);
	CU_ASSERT_STRING_EQUAL(out.call.op, "conseil.rappel");
	CU_ASSERT_STRING_EQUAL(vars_get(&out.call.args, "phone"), "+33612345678");
	CU_ASSERT_STRING_EQUAL(vars_get(&out.call.args, "motif"), "dossier");
	const char *t = vars_get(&out.call.args, "transcript");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "> DOSSIER\n< Numéro ?\n> 12345678\n< Code secret ?\n"));
	/* Nor the transcript, even where a reply repeated it. */
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "> (réponse secrète)\n< Code *** noté. Autre chose ?\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "> Je ne comprends pas le courrier"));
	CU_ASSERT_PTR_NULL(strstr(t, "4321"));
	/* The answer says who will call back and when. */
	struct vars res;
	vars_init(&res, ctx);
	vars_set(&res, "qui", "Une conseillère CAF", false);
	vars_set(&res, "quand", "demain matin", false);
	struct engine_input in = { .kind = EV_RESULT, .result = &res, .call_id = out.call.call_id,
				   .now = 1001, .channel = &ch };
	CU_ASSERT_EQUAL(engine_step(ctx, fs, &s, &in, &out), 0);
	CU_ASSERT_STRING_EQUAL(out.reply, "Une conseillère CAF vous rappellera demain matin.");
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
	CU_ASSERT_PTR_NULL(vars_get(&s.vars, "_transcript"));
}

static void test_on_fail(void)
{
	session_init(&s, ctx, "sms:+33612345679", CHANNEL_SMS, "+33612345679");
	send_text("DOSSIER");
	send_text("12");
	CU_ASSERT_FALSE(out.has_call);
	send_text("34");
	/* Too many wrong answers: a human, not a dead end. */
	CU_ASSERT_TRUE_FATAL(out.has_call);
	CU_ASSERT_STRING_EQUAL(out.call.op, "conseil.rappel");
	CU_ASSERT_PTR_NOT_NULL(strstr(vars_get(&out.call.args, "transcript"), "> 12\n< 8 chiffres."));
}

static void test_bounded(void)
{
	char big[400];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* Wrong answers of 400 characters, again and again: the transcript stays bounded. */
	session_init(&s, ctx, "sms:+33612345671", CHANNEL_SMS, "+33612345671");
	send_text("DOSSIER");
	send_text("12345678");
	send_text("1");	/* a wrong code */
	send_text("1234");
	size_t longest = 0;
	for (int i = 0; i < 3 && s.state != SESSION_IDLE; i++) {
		send_text(big);
		const char *t = vars_get(&s.vars, "_transcript");
		if (t && strlen(t) > longest)
			longest = strlen(t);
	}
	CU_ASSERT(longest <= 1500);
	CU_ASSERT(longest > 1000);
}

/* The transcript is built at the end of each event from the session's; a keyword that
 * starts the procedure again mid-way resets the session, and the dialogue so far must
 * survive it, word for word. Cut past its bound, it starts at a whole line. */
static void test_transcript_across_restart(void)
{
	session_init(&s, ctx, "sms:+33612345672", CHANNEL_SMS, "+33612345672");
	send_text("DOSSIER");
	send_text("12345678");
	CU_ASSERT_STRING_EQUAL(vars_get(&s.vars, "_transcript"),
			       "> DOSSIER\n< Numéro ?\n> 12345678\n< Code secret ?");
	send_text("dossier");
	CU_ASSERT_TRUE(out.started);
	CU_ASSERT_STRING_EQUAL(vars_get(&s.vars, "_transcript"),
			       "> DOSSIER\n< Numéro ?\n> 12345678\n< Code secret ?\n"
			       "> (réponse secrète)\n< Numéro ?");
	char big[700];
	bool cut = false;
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 8 && s.state != SESSION_IDLE; i++) {
		send_text(big);	/* wrong twice, then the call to a human is waited for */
		const char *tr = vars_get(&s.vars, "_transcript");
		if (s.state == SESSION_IDLE)
			break;
		CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
		cut |= strlen(tr) > 1400;
		CU_ASSERT(strlen(tr) <= 1500);
		CU_ASSERT(tr[0] == '>' || tr[0] == '<');
	}
	CU_ASSERT_TRUE(cut);
}

static const CU_TestInfo tests[] = {
	{ "handoff: is a call with the transcript", test_loaded },
	{ "number and transcript, the secret answer masked", test_transcript_without_secret },
	{ "on_fail leads to a human", test_on_fail },
	{ "the transcript is bounded", test_bounded },
	{ "the transcript survives a restart, cut at a line", test_transcript_across_restart },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("handoff", setup, teardown, tests);
}
