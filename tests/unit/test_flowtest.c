/* Test dialogues (flowtest): located errors in a dialogue file, a reply that differs shown as
 * a diff, canned answers per dialogue and per step, a time jump past a timeout, a text sent
 * while a call runs, and --update rewriting a file that holds accented text before the
 * replies (libyaml counts characters, the file is bytes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/flowtest.h"
#include "guichet/scheduler.h"
#include "unit_main.h"

static const char *flows_yaml =
	"flow: t\n"
	"title: T\n"
	"entry: { sms: [GO], ussd: \"*1#\" }\n"
	"timeout: 10m\n"
	"steps:\n"
	"  nom:\n"
	"    ask: \"Nom ?\"\n"
	"    expect: { text: 20, retry: \"Un nom.\", tries: 2 }\n"
	"    save: nom\n"
	"    next: appel\n"
	"  appel:\n"
	"    call: svc.hello\n"
	"    with: { nom: \"{{nom}}\" }\n"
	"    save: r\n"
	"    on_error: oups\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"Bonjour {{r.greeting}}\"\n"
	"  oups:\n"
	"    say: \"Oups\"\n";

static void *ctx;
static struct flow_set *fs;
static char dir[64];
static struct flowtest_opts opts;

static const char *write_file(const char *name, const char *text)
{
	char *p = talloc_asprintf(ctx, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static char *read_file(const char *p)
{
	static char buf[8192];
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static bool has_error(const struct diag *d, unsigned line, unsigned col, const char *part)
{
	for (unsigned i = 0; i < d->n; i++)
		if (d->e[i].line == line && d->e[i].col == col && strstr(d->e[i].msg, part))
			return true;
	diag_print(d, stderr);
	return false;
}

/* The dialogue file p, loaded (it must load), run on flows f. */
static struct flowtest_result *run_file(struct flow_set *f, const char *p, struct diag *d)
{
	struct flowtest *t = flowtest_load(ctx, p, d);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	return flowtest_run(ctx, f, t, &opts);
}

/* --update on the dialogue file p, one step of it failing on flows f: n places rewritten;
 * run again, it passes with nothing left to write. Returns the file as rewritten. */
static const char *update_once(struct flow_set *f, const char *p, unsigned n)
{
	struct diag *d = diag_alloc(ctx);
	struct flowtest_result *r = run_file(f, p, d);

	CU_ASSERT_EQUAL(r->n_failed, 1);
	CU_ASSERT_EQUAL(flowtest_update(ctx, r, d), n);
	const char *after = talloc_strdup(ctx, read_file(p));
	r = run_file(f, p, d);
	CU_ASSERT_EQUAL(r->n_failed, 0);
	CU_ASSERT_EQUAL(flowtest_update(ctx, r, d), 0);	/* nothing left to write */
	return after;
}

static int setup(void)
{
	struct diag *d;

	ctx = talloc_named_const(NULL, 0, "test_flowtest");
	snprintf(dir, sizeof(dir), "/tmp/guichet-flowtest.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	d = diag_alloc(ctx);
	fs = flow_set_load_string(ctx, "t.yaml", flows_yaml, NULL, d);
	opts.ro = render_opts_from(NULL);
	return fs ? 0 : 1;
}

static int teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	talloc_free(ctx);
	return 0;
}

static void test_errors_located(void)
{
	struct diag *d = diag_alloc(ctx);
	const char *p = write_file("bad.yaml",
		"channel: sms\n"
		"steps:\n"
		"  - send:\n"
		"  - send: GO\n"
		"    replyy: x\n"
		"  - wait: soon\n"
		"  - send: GO\n"
		"    hurry: true\n");

	CU_ASSERT_PTR_NULL(flowtest_load(ctx, p, d));
	CU_ASSERT_TRUE(has_error(d, 3, 10, "an empty text is written \"\""));
	CU_ASSERT_TRUE(has_error(d, 5, 5, "unknown key `replyy`"));
	CU_ASSERT_TRUE(has_error(d, 6, 11, ""));
	CU_ASSERT_TRUE(has_error(d, 7, 5, "the last step cannot hurry"));
	CU_ASSERT_EQUAL(d->n_errors, 4);	/* no follow-on error for the bad send and wait */
}

static void test_diff_and_canned_answers(void)
{
	struct diag *d = diag_alloc(ctx);
	const char *p = write_file("diff.yaml",
		"backend:\n"
		"  svc.hello: { answer: { greeting: Zoé } }\n"
		"steps:\n"
		"  - send: GO\n"
		"    reply: \"Nom ?\"\n"
		"  - send: Zoé\n"
		"    reply: \"Bonjour Zoe\"\n"
		"  - send: GO\n"
		"  - send: Léa\n"
		"    backend: { svc.hello: { error: HTTP 503 } }\n"
		"    reply: Oups\n");
	struct flowtest_result *r = run_file(fs, p, d);

	CU_ASSERT_EQUAL(r->n_failed, 1);
	CU_ASSERT_TRUE(r->steps[0].ok);
	CU_ASSERT_FALSE_FATAL(r->steps[1].ok);
	CU_ASSERT_PTR_NOT_NULL(strstr(r->steps[1].why, "    - Bonjour Zoe\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r->steps[1].why, "    + Bonjour Zoé\n"));
	CU_ASSERT_TRUE(r->steps[3].ok);		/* the step's own answer: an error */
	CU_ASSERT_EQUAL(r->parts, 4);
	CU_ASSERT_EQUAL(r->sms, 4);
}

static void test_timeout_and_hurry(void)
{
	struct diag *d = diag_alloc(ctx);
	const char *p = write_file("time.yaml",
		"backend:\n"
		"  svc.hello: { answer: { greeting: Ana }, delay_ms: 50 }\n"
		"steps:\n"
		"  - send: GO\n"
		"  - wait: 11m\n"
		"  - send: Ana\n"
		"    contains: expir\n"
		"  - send: GO\n"
		"  - send: Ana\n"
		"    hurry: true\n"
		"    no_reply: true\n"
		"  - send: encore\n"
		"    replies: [\"Un instant, nous traitons votre demande.\", \"Bonjour Ana\"]\n");
	struct flowtest_result *r = run_file(fs, p, d);

	for (unsigned i = 0; i < r->n_steps; i++)
		if (!r->steps[i].ok)
			fprintf(stderr, "\nstep %u: %s\n", i + 1, r->steps[i].why);
	CU_ASSERT_EQUAL(r->n_failed, 0);
}

static void test_update_after_accents(void)
{
	/* Accented characters before the replies: character and byte offsets differ. */
	const char *p = write_file("upd.yaml",
		"# Dialogue d'essai : réponses à réécrire, éèàù\n"
		"backend: { svc.hello: { answer: { greeting: Élise } } }\n"
		"steps:\n"
		"  - send: GO      # le mot-clé\n"
		"  - send: Élise\n"
		"    reply: |-\n"
		"      Bonjour\n"
		"      personne\n"
		"  - send: GO\n"
		"    parts: 1\n");

	CU_ASSERT_STRING_EQUAL(update_once(fs, p, 3),
		"# Dialogue d'essai : réponses à réécrire, éèàù\n"
		"backend: { svc.hello: { answer: { greeting: Élise } } }\n"
		"steps:\n"
		"  - send: GO      # le mot-clé\n"
		"    reply: \"Nom ?\"\n"
		"  - send: Élise\n"
		"    reply: \"Bonjour Élise\"\n"
		"  - send: GO\n"
		"    reply: \"Nom ?\"\n"
		"    parts: 1\n");
}

/* ---- scheduled: reminders and receipts a step schedules ---- */

static const char *remind_yaml =
	"flow: r\n"
	"title: R\n"
	"entry: { sms: [RAP] }\n"
	"steps:\n"
	"  ok:\n"
	"    say: \"Noté.\"\n"
	"    set: { rdv: \"2026-12-07T09:30\" }\n"
	"    reference: R-1\n"
	"    receipt: \"Recu R-1.\"\n"
	"    remind:\n"
	"      - { at: \"{{rdv}} -1d 18:00\", text: \"Demain 9h30.\" }\n"
	"%s";
static const char *second_reminder =
	"      - { at: \"{{rdv}} -2h\", text: \"Dans 2 heures.\" }\n";

static const char *sched_dialogue =
	"clock: \"2026-12-01 09:00\"\n"
	"steps:\n"
	"  - send: RAP\n"
	"    reply: \"Noté.\"\n"
	"    scheduled:\n"
	"      - { at: \"2026-12-01 09:00\", text: \"Recu R-1.\" }\n"
	"      - { at: \"2026-12-06 18:00\", text: \"Demain 9h30.\" }\n"
	"      - { at: \"2026-12-07 07:30\", contains: \"2 heures\" }\n";

static struct flow_set *remind_flows(bool both)
{
	struct diag *d = diag_alloc(ctx);
	char *y = talloc_asprintf(ctx, remind_yaml, both ? second_reminder : "");
	struct flow_set *r = flow_set_load_string(ctx, "r.yaml", y, NULL, d);

	if (!r)
		diag_print(d, stderr);
	return r;
}

/* The reminders and the receipt, with their times from the dialogue's clock; a reminder
 * the flow no longer schedules, or at another time, fails the step. */
static void test_scheduled(void)
{
	struct diag *d = diag_alloc(ctx);
	struct flow_set *both = remind_flows(true), *one = remind_flows(false);
	struct flowtest_result *r;

	CU_ASSERT_EQUAL_FATAL(quiet_use_tz("Europe/Paris"), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(both);
	CU_ASSERT_PTR_NOT_NULL_FATAL(one);
	struct flowtest *t = flowtest_load(ctx, write_file("sched.yaml", sched_dialogue), d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	r = flowtest_run(ctx, both, t, &opts);
	if (r->n_failed)
		fprintf(stderr, "\n%s\n", r->steps[0].why);
	CU_ASSERT_EQUAL(r->n_failed, 0);
	CU_ASSERT_EQUAL(r->steps[0].n_sched, 3);

	/* a reminder missing */
	r = flowtest_run(ctx, one, t, &opts);
	CU_ASSERT_EQUAL(r->n_failed, 1);
	CU_ASSERT_TRUE(r->steps[0].sched_failed);
	CU_ASSERT_FALSE(r->steps[0].replies_failed);
	CU_ASSERT_PTR_NOT_NULL(r->steps[0].why &&
			       strstr(r->steps[0].why, "expected 3 scheduled messages, got 2"));

	/* another time */
	char *late = talloc_strdup(ctx, sched_dialogue);
	memcpy(strstr(late, "07:30"), "08:30", 5);
	t = flowtest_load(ctx, write_file("late.yaml", late), d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	r = flowtest_run(ctx, both, t, &opts);
	CU_ASSERT_EQUAL(r->n_failed, 1);
	CU_ASSERT_PTR_NOT_NULL(r->steps[0].why && strstr(r->steps[0].why, "scheduled message 3 "
			       "is due at 2026-12-07 07:30, expected at 2026-12-07 08:30"));

	/* located errors */
	struct diag *e = diag_alloc(ctx);
	CU_ASSERT_PTR_NULL(flowtest_load(ctx, write_file("bad-sched.yaml",
		"clock: demain\n"
		"steps:\n"
		"  - wait: 1m\n"
		"    scheduled: []\n"
		"  - send: RAP\n"
		"    scheduled: [{ at: bientôt }]\n"), e));
	CU_ASSERT(has_error(e, 1, 8, "expected a date and time"));
	CU_ASSERT(has_error(e, 4, 16, "only a step that sends a text schedules messages"));
	CU_ASSERT(has_error(e, 6, 23, "expected a date and time"));
}

/* --update writes what a step scheduled, and turns a failing `contains:` into the text. */
static void test_update_scheduled_and_contains(void)
{
	struct diag *d = diag_alloc(ctx);
	struct flow_set *both = remind_flows(true);
	const char *p = write_file("upd-sched.yaml",
		"steps:\n"
		"  - send: RAP\n"
		"    contains: Pas ça\n"
		"    parts: 1\n");
	struct flowtest_result *r;

	CU_ASSERT_EQUAL_FATAL(quiet_use_tz("Europe/Paris"), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(both);
	CU_ASSERT_STRING_EQUAL(update_once(both, p, 1),
		"steps:\n"
		"  - send: RAP\n"
		"    reply: \"Noté.\"\n"
		"    scheduled:\n"
		"      - at: \"2026-12-01 09:00\"\n"
		"        text: \"Recu R-1.\"\n"
		"      - at: \"2026-12-06 18:00\"\n"
		"        text: \"Demain 9h30.\"\n"
		"      - at: \"2026-12-07 07:30\"\n"
		"        text: \"Dans 2 heures.\"\n"
		"    parts: 1\n");

	/* a failing scheduled: is rewritten in place */
	char *wrong = talloc_strdup(ctx, read_file(p));
	memcpy(strstr(wrong, "Demain"), "Lundi!", 6);
	write_file("upd-sched.yaml", wrong);
	const char *fixed = update_once(both, p, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(fixed, "text: \"Demain 9h30.\""));
	CU_ASSERT_PTR_NULL(strstr(fixed, "Lundi!"));

	/* written on one line: left for a fix by hand, with a warning */
	static const char flow_style[] =
		"steps:\n"
		"  - { send: RAP, contains: Pas ça, scheduled: [] }\n";
	p = write_file("upd-flow.yaml", flow_style);
	r = run_file(both, p, d);
	CU_ASSERT_EQUAL(r->n_failed, 1);
	unsigned warnings = d->n_warnings;
	CU_ASSERT_EQUAL(flowtest_update(ctx, r, d), 0);
	CU_ASSERT_EQUAL(d->n_warnings, warnings + 2);
	CU_ASSERT_STRING_EQUAL(read_file(p), flow_style);
}

/* A list rewritten by --update ends where the next step starts: that step's line stays
 * whole (it used to be glued to the last reply). */
static void test_update_list_before_next_step(void)
{
	const char *p = write_file("upd-list.yaml",
		"steps:\n"
		"  - send: GO\n"
		"    replies:\n"
		"      - \"faux\"\n"
		"  - send: Paul\n"
		"    backend: { svc.hello: { answer: { greeting: Paul } } }\n"
		"    reply: \"Bonjour Paul\"\n");

	CU_ASSERT_STRING_EQUAL(update_once(fs, p, 1),
		"steps:\n"
		"  - send: GO\n"
		"    reply: \"Nom ?\"\n"
		"  - send: Paul\n"
		"    backend: { svc.hello: { answer: { greeting: Paul } } }\n"
		"    reply: \"Bonjour Paul\"\n");
}

static const CU_TestInfo tests[] = {
	{ "errors in a dialogue file are located", test_errors_located },
	{ "a changed reply is a diff; canned answers per dialogue and step",
	  test_diff_and_canned_answers },
	{ "a time jump expires; a hurried text gets the busy message", test_timeout_and_hurry },
	{ "--update rewrites after accented text", test_update_after_accents },
	{ "scheduled: reminders and receipts, a missing one fails", test_scheduled },
	{ "--update writes scheduled: and rewrites contains:", test_update_scheduled_and_contains },
	{ "--update of a list keeps the next step's line", test_update_list_before_next_step },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("flowtest", setup, teardown, tests);
}
