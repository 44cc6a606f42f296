/* Flow loader and checker: a complete valid flow, then one test per class of error, each
 * asserting the exact line, column and message an administrator would see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"
#include "guichet/ydoc.h"
#include "unit_main.h"

static void *ctx;
static struct diag *d;

static const char *const ops[] = { "agenda.slots", "agenda.book", "caf.status" };
static const struct flow_env env = { .n_ops = 3, .ops = ops };

static struct flow_set *load(const char *yaml)
{
	talloc_free(d);
	d = diag_alloc(ctx);
	return flow_set_load_string(ctx, "t.yaml", yaml, &env, d);
}

/* True when d holds an error at file:line:col whose message contains part; prints all
 * diagnostics otherwise, to see what was found instead. */
static bool has(const char *file, unsigned line, unsigned col, const char *part)
{
	unsigned i;

	for (i = 0; i < d->n; i++) {
		const struct diag_entry *e = &d->e[i];

		if (e->level == DIAG_ERROR && e->line == line && e->col == col &&
		    (!file || (e->file && !strcmp(e->file, file))) && strstr(e->msg, part))
			return true;
	}
	fprintf(stderr, "\nexpected %s:%u:%u: %s; got:\n", file ? file : "*", line, col, part);
	diag_print(d, stderr);
	return false;
}

/* Loads yaml, which must fail, and checks one of its errors. */
static void expect_error(const char *yaml, unsigned line, unsigned col, const char *part)
{
	struct flow_set *fs = load(yaml);

	CU_ASSERT_PTR_NULL(fs);
	talloc_free(fs);
	CU_ASSERT(d->n_errors > 0);
	CU_ASSERT(has("t.yaml", line, col, part));
}

/* ------------------------------------------------------------------------------------------ */

static const char valid_flow[] =
	"flow: rendez-vous\n"							/* 1 */
	"title: { fr: Prendre rendez-vous, en: Book an appointment }\n"
	"entry: { sms: [RDV, Rendez-Vous, rdvé], ussd: [\"*4321*1#\", \"*4321#\"] }\n"
	"timeout: 20m\n"
	"on_timeout: { sms: \"Expiré. Envoyez RDV.\", ussd: \"Expiré.\" }\n"	/* 5 */
	"help: { fr: { sms: \"Aide rendez-vous, longue version.\", ussd: \"Aide RDV\" } }\n"
	"start: service\n"
	"steps:\n"
	"  service:\n"
	"    menu: { fr: \"Pour quel service ?\", en: \"Which service?\" }\n"	/* 10 */
	"    set: { service: aucun }\n"
	"    options:\n"
	"      - { label: \"Allocations familiales\", set: { service: caf }, next: numero }\n"
	"      - { label: { fr: RSA, en: Income support }, set: { service: rsa } }\n"
	"      - Autre\n"
	"    next: numero\n"							/* 15 */
	"    tries: 2\n"
	"    help: \"Choisissez un numéro.\"\n"
	"  numero:\n"
	"    ask: \"Votre numéro d'allocataire (7 chiffres) ?\"\n"
	"    expect: { digits: 7, retry: \"Il faut 7 chiffres.\", tries: 4, on_fail: aide }\n"
	"    save: allocataire\n"
	"    next: code\n"
	"  code:\n"
	"    ask: \"Code secret ?\"\n"
	"    expect: { secret: { digits: [4, 6] } }\n"				/* 25 */
	"    save: pin\n"
	"    next: dossier\n"
	"  dossier:\n"
	"    ask: Dossier ?\n"
	"    expect: { pattern: \"[A-Z0-9]{2}[0-9]{6}\" }\n"		/* 30 */
	"    save: dossier\n"
	"    next: naissance\n"
	"  naissance:\n"
	"    ask: Date de naissance (JJ/MM/AAAA) ?\n"
	"    expect: date\n"							/* 35 */
	"    save: naissance\n"
	"    next: enfants\n"
	"  enfants:\n"
	"    ask: Avez-vous des enfants ?\n"
	"    expect: yesno\n"							/* 40 */
	"    save: enfants\n"
	"    next: logement\n"
	"  logement:\n"
	"    ask: Logement ?\n"
	"    expect: { choice: [locataire, propriétaire, hébergé] }\n"		/* 45 */
	"    save: logement\n"
	"    next: creneaux\n"
	"  creneaux:\n"
	"    call: agenda.slots\n"
	"    with: { service: \"{{service}}\", allocataire: \"{{allocataire}}\", pin: \"{{pin}}\" }\n"
	"    save: slots\n"
	"    on_error: aide\n"
	"    wait: \"Nous vous enverrons la réponse par SMS.\"\n"
	"    next: choix\n"
	"  choix:\n"								/* 55 */
	"    menu: \"Créneaux libres ({{slots.count}}) :\"\n"
	"    options_from: { list: slots, label: \"{{item.label}}\", set: { slot: \"{{item.id}}\", slot_label: \"{{item.label}}\" }, empty: \"Aucun créneau.\", empty_next: aide }\n"
	"    next: orientation\n"
	"  orientation:\n"
	"    set: { etape: orientation }\n"					/* 60 */
	"    branch:\n"
	"      - when: { var: enfants, equals: oui }\n"
	"        next: reserver\n"
	"      - when: [ { var: logement, in: [LOCATAIRE, HEBERGE] }, { var: slots.count, more: 2 } ]\n"
	"        next: reserver\n"						/* 65 */
	"      - when: { var: dossier, set: false }\n"
	"        next: aide\n"
	"    else: reserver\n"
	"  reserver:\n"
	"    call: agenda.book\n"						/* 70 */
	"    with: { slot: \"{{slot}}\" }\n"
	"    save: booking\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: { fr: \"Merci. Référence : {{booking.reference}}. {{slot_label}}\", en: \"Thanks. Ref {{booking.reference}}\" }\n"
	"    end: true\n"
	"  aide:\n"
	"    say: \"Appelez le {{contact}}.\"\n";

static void test_valid_flow(void)
{
	const struct flow_step *st;
	const struct flow *f;
	struct flow_set *fs = load(valid_flow);

	if (!fs)
		diag_print(d, stderr);
	CU_ASSERT_FATAL(fs != NULL);
	CU_ASSERT_EQUAL(d->n_errors, 0);
	CU_ASSERT_EQUAL(fs->n_flows, 1);
	f = flow_find(fs, "rendez-vous");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_PTR_NULL(flow_find(fs, "autre"));
	CU_ASSERT_STRING_EQUAL(f->file, "t.yaml");

	/* entry points, folded */
	CU_ASSERT_EQUAL(f->n_keywords, 3);
	CU_ASSERT_STRING_EQUAL(f->keywords[1], "RENDEZ-VOUS");
	CU_ASSERT_STRING_EQUAL(f->keywords[2], "RDVE");
	CU_ASSERT_EQUAL(f->keyword_locs[1].line, 3);
	CU_ASSERT_EQUAL(f->keyword_locs[1].col, 21);
	CU_ASSERT_PTR_EQUAL(flow_by_keyword(fs, "  rdv caf"), f);
	CU_ASSERT_PTR_EQUAL(flow_by_keyword(fs, "Rdvé"), f);
	CU_ASSERT_PTR_NULL(flow_by_keyword(fs, "RDVX"));
	CU_ASSERT_PTR_NULL(flow_by_keyword(fs, ""));
	CU_ASSERT_EQUAL(f->n_ussd, 2);
	CU_ASSERT_PTR_EQUAL(flow_by_ussd(fs, "*4321#"), f);
	CU_ASSERT_PTR_NULL(flow_by_ussd(fs, "*4321*2#"));
	CU_ASSERT_EQUAL(f->timeout_s, 1200);

	/* texts and translations */
	CU_ASSERT_EQUAL(f->title.n, 2);
	CU_ASSERT_STRING_EQUAL(f->title.tr[0].lang, "fr");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&f->title, "en", false), "Book an appointment");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&f->title, "de", false), "Prendre rendez-vous");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&f->help, "fr", true), "Aide RDV");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&f->help, "en", false),
			       "Aide rendez-vous, longue version.");
	CU_ASSERT_PTR_NULL(flow_text_pick(&f->steps[0].retry, "fr", false));
	CU_ASSERT_EQUAL(f->help.tr[0].ussd_loc.line, 6);

	CU_ASSERT_EQUAL(f->n_steps, 13);
	CU_ASSERT_EQUAL(f->start_idx, 0);

	st = &f->steps[flow_step_index(f, "service")];
	CU_ASSERT_EQUAL(st->kind, STEP_MENU);
	CU_ASSERT_EQUAL(st->n_options, 3);
	CU_ASSERT_EQUAL(st->options[0].next_idx, flow_step_index(f, "numero"));
	CU_ASSERT_PTR_NULL(st->options[1].next);
	CU_ASSERT_EQUAL(st->options[1].next_idx, flow_step_index(f, "numero"));
	CU_ASSERT_STRING_EQUAL(st->options[1].set[0].var, "service");
	CU_ASSERT_STRING_EQUAL(st->options[1].set[0].value, "rsa");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&st->options[2].label, "fr", false), "Autre");
	CU_ASSERT_EQUAL(st->tries, 2);
	CU_ASSERT_EQUAL(st->loc.line, 9);
	CU_ASSERT_EQUAL(st->loc.col, 3);

	st = &f->steps[flow_step_index(f, "numero")];
	CU_ASSERT_EQUAL(st->kind, STEP_ASK);
	CU_ASSERT_EQUAL(st->expect, EXPECT_DIGITS);
	CU_ASSERT_EQUAL(st->min_len, 7);
	CU_ASSERT_EQUAL(st->max_len, 7);
	CU_ASSERT_EQUAL(st->tries, 4);
	CU_ASSERT_EQUAL(st->on_fail_idx, flow_step_index(f, "aide"));
	CU_ASSERT_STRING_EQUAL(st->save, "allocataire");
	CU_ASSERT_FALSE(st->secret);

	st = &f->steps[flow_step_index(f, "code")];
	CU_ASSERT_EQUAL(st->expect, EXPECT_DIGITS);
	CU_ASSERT(st->secret);
	CU_ASSERT_EQUAL(st->min_len, 4);
	CU_ASSERT_EQUAL(st->max_len, 6);
	CU_ASSERT_EQUAL(st->tries, 3);

	st = &f->steps[flow_step_index(f, "dossier")];
	CU_ASSERT_EQUAL(st->expect, EXPECT_PATTERN);
	CU_ASSERT_FATAL(st->regex != NULL);
	CU_ASSERT_EQUAL(regexec(st->regex, "AB123456", 0, NULL, 0), 0);
	CU_ASSERT_NOT_EQUAL(regexec(st->regex, "xAB123456", 0, NULL, 0), 0);	/* anchored */

	CU_ASSERT_EQUAL(f->steps[flow_step_index(f, "naissance")].expect, EXPECT_DATE);
	CU_ASSERT_EQUAL(f->steps[flow_step_index(f, "enfants")].expect, EXPECT_YESNO);
	st = &f->steps[flow_step_index(f, "logement")];
	CU_ASSERT_EQUAL(st->expect, EXPECT_CHOICE);
	CU_ASSERT_EQUAL(st->n_choices, 3);
	CU_ASSERT_STRING_EQUAL(st->choices[1], "PROPRIETAIRE");

	st = &f->steps[flow_step_index(f, "creneaux")];
	CU_ASSERT_EQUAL(st->kind, STEP_CALL);
	CU_ASSERT_STRING_EQUAL(st->op, "agenda.slots");
	CU_ASSERT_EQUAL(st->n_with, 3);
	CU_ASSERT_STRING_EQUAL(st->with[0].var, "service");
	CU_ASSERT_STRING_EQUAL(st->with[0].value, "{{service}}");
	CU_ASSERT_EQUAL(st->on_error_idx, flow_step_index(f, "aide"));
	CU_ASSERT_EQUAL(st->wait.n, 1);

	st = &f->steps[flow_step_index(f, "choix")];
	CU_ASSERT_EQUAL(st->kind, STEP_MENU);
	CU_ASSERT_STRING_EQUAL(st->from_list, "slots");
	CU_ASSERT_EQUAL(st->n_from_set, 2);
	CU_ASSERT_EQUAL(st->empty_idx, flow_step_index(f, "aide"));
	CU_ASSERT_EQUAL(st->next_idx, flow_step_index(f, "orientation"));

	st = &f->steps[flow_step_index(f, "orientation")];
	CU_ASSERT_EQUAL(st->kind, STEP_BRANCH);
	CU_ASSERT_EQUAL(st->n_set, 1);
	CU_ASSERT_EQUAL(st->n_when, 3);
	CU_ASSERT_EQUAL(st->when[0].all[0].op, COND_EQUALS);
	CU_ASSERT_EQUAL(st->when[1].n_all, 2);
	CU_ASSERT_EQUAL(st->when[1].all[0].op, COND_IN);
	CU_ASSERT_EQUAL(st->when[1].all[0].n_values, 2);
	CU_ASSERT_EQUAL(st->when[1].all[1].op, COND_MORE);
	CU_ASSERT_STRING_EQUAL(st->when[1].all[1].values[0], "2");
	CU_ASSERT_EQUAL(st->when[2].all[0].op, COND_EMPTY);	/* set: false */
	CU_ASSERT_EQUAL(st->when[2].next_idx, flow_step_index(f, "aide"));
	CU_ASSERT_EQUAL(st->else_idx, flow_step_index(f, "reserver"));

	st = &f->steps[flow_step_index(f, "fin")];
	CU_ASSERT_EQUAL(st->kind, STEP_SAY);
	CU_ASSERT(st->end);
	CU_ASSERT_EQUAL(st->next_idx, -1);
	CU_ASSERT_EQUAL(st->text.n, 2);
	CU_ASSERT(f->steps[flow_step_index(f, "aide")].end);

	/* common words and messages: built-in defaults */
	CU_ASSERT_EQUAL(fs->words.n_stop, 2);
	CU_ASSERT_STRING_EQUAL(fs->words.stop[1], "ARRET");
	CU_ASSERT_STRING_EQUAL(fs->words.back[0], "0");
	CU_ASSERT_STRING_EQUAL(fs->words.restart[0], "00");
	CU_ASSERT_STRING_EQUAL(fs->words.more[0], "9");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&fs->msg.contact, "fr", false), "3939");
	CU_ASSERT(strstr(flow_text_pick(&fs->msg.help, "fr", false), "00 pour recommencer") != NULL);
	CU_ASSERT(fs->msg.welcome.n && fs->msg.invalid.n && fs->msg.too_many_tries.n &&
		  fs->msg.stopped.n && fs->msg.expired.n && fs->msg.backend_error.n &&
		  fs->msg.busy.n && fs->msg.more.n);
	talloc_free(fs);
}

static void test_fold_word(void)
{
	char *s;

	s = flow_fold_word(ctx, "  arrêt\u00a0 maïs  Œuvre ");
	CU_ASSERT_STRING_EQUAL(s, "ARRET MAIS OEUVRE");
	talloc_free(s);
	s = flow_fold_word(ctx, "Ça, ÉTÉ, straße, Łódź");
	CU_ASSERT_STRING_EQUAL(s, "CA, ETE, STRASSE, LODZ");
	talloc_free(s);
	s = flow_fold_word(ctx, "");
	CU_ASSERT_STRING_EQUAL(s, "");
	talloc_free(s);
}

static const char common_file[] =
	"common:\n"
	"  words: { help: [AIDE, \"?\"], stop: [STOP, ARRÊT, Fin] }\n"
	"  messages:\n"
	"    contact: \"01 23 45 67 89\"\n"
	"    stopped: { fr: \"C'est fini.\", en: Stopped. }\n";

static void test_common(void)
{
	struct flow_set *fs = load(common_file);

	/* a set with only common settings has no flow: an error */
	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has(NULL, 0, 0, "no flow found"));
}

/* ------------------------------------------------------------------------------------------ */
/* Errors */

static void test_unknown_key(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    say: Bonjour\n"
		     "    nxt: a\n",
		     7, 5, "unknown key `nxt` \u2014 did you mean `next`?");
	/* without a close candidate: the keys allowed here are listed */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T, zzz: 1 }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     3, 18, "unknown key `zzz` (expected one of: sms, ussd)");
	/* in an expect, in an option, at the top */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    ask: Num ?\n"
		     "    expect: { digits: 7, retyr: Encore }\n"
		     "    save: n\n"
		     "    next: b\n"
		     "  b: { say: Fin }\n",
		     7, 26, "unknown key `retyr` \u2014 did you mean `retry`?");
	expect_error("flow: t\n"
		     "titel: T\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     2, 1, "did you mean `title`?");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { say: { fr: Bonjour, smss: Hi } } }\n",
		     4, 35, "unknown key `smss` \u2014 did you mean `sms`?");
}

static void test_duplicate_key(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a: { say: Bonjour }\n"
		     "  a: { say: Encore }\n",
		     6, 3, "duplicate key `a` (first at line 5, column 3)");
}

/* A flow of n chained steps q0 -> q1 -> ... (asks), the last one a say; dup >= 0 repeats
 * the name of step dup at the end. Step i is written on line 5 + i. */
static char *chain_yaml(unsigned n, int dup)
{
	char *y = talloc_strdup(ctx, "flow: grand\ntitle: Grand\nentry: { sms: GRAND }\nsteps:\n");
	unsigned i;

	for (i = 0; y && i + 1 < n; i++)
		y = talloc_asprintf_append_buffer(y, "  q%u: { ask: \"Q%u ?\", save: r, next: q%u }\n",
						  i, i, i + 1);
	if (y)
		y = talloc_asprintf_append_buffer(y, "  q%u: { say: Fin., end: true }\n", n - 1);
	if (y && dup >= 0)
		y = talloc_asprintf_append_buffer(y, "  q%d: { say: Encore }\n", dup);
	return y;
}

/* 20,000 chained steps (the loader was quadratic in them: name lookups, duplicate keys):
 * every step there, in order, each next resolved to the following one, lookups by name. */
static void test_many_steps(void)
{
	const unsigned n = 20000;
	char *y = chain_yaml(n, -1);
	struct flow_set *fs = load(y);
	const struct flow *f;
	unsigned i, bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_EQUAL(d->n_errors, 0);
	f = flow_find(fs, "grand");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NULL(flow_find(fs, "petit"));
	CU_ASSERT_EQUAL(f->n_steps, n);
	CU_ASSERT_EQUAL(f->start_idx, 0);
	for (i = 0; i + 1 < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "q%u", i);
		bad += strcmp(f->steps[i].name, name) != 0 || f->steps[i].next_idx != (int)i + 1 ||
		       flow_step_index(f, name) != (int)i;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(f->steps[n - 1].kind, STEP_SAY);
	CU_ASSERT(f->steps[n - 1].end);
	CU_ASSERT_EQUAL(flow_step_index(f, "q19999"), 19999);
	CU_ASSERT_EQUAL(flow_step_index(f, "q20000"), -1);
	CU_ASSERT_EQUAL(flow_step_index(f, "q"), -1);
	/* The USSD transports' screen past max_dialogues, a common message with a default. */
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&fs->msg.saturated, "fr", true),
			       "Service saturé. Merci de rappeler dans quelques minutes.");
	talloc_free(fs);
	talloc_free(y);

	/* A duplicate step name among hundreds (found through the hash) is still reported
	 * where it is. */
	y = chain_yaml(300, 123);
	expect_error(y, 5 + 300, 3, "duplicate key `q123` (first at line 128, column 3)");
	talloc_free(y);
}

static void test_bad_type(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    menu: Choix\n"
		     "    options: Oui\n"
		     "    next: a\n",
		     7, 14, "expected a list of options, found text");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: [T, { a: 1 }] }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     3, 19, "expected a list of keywords, found a mapping in it");
	expect_error("flow: t\n"
		     "title: [T]\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     2, 8, "expected a text (a string, or translations");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { ask: Age ?, expect: { digits: deux }, save: age, next: b }, "
		     "b: { say: Fin } }\n",
		     4, 45, "expected a whole number, found `deux`");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { menu: M, options: [ { label: L, set: [x] } ], next: a } }\n",
		     4, 52, "expected a mapping of variables to values");
	expect_error("flow: t\n"
		     "title: { en: T }\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     2, 8, "a text needs its French version: `fr:`");
	/* a step that is two things at once, and one that is nothing */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a: { say: Bonjour }\n"
		     "  b: { help: Aide }\n",
		     6, 3, "step `b` needs one of menu, ask, call, branch, say or handoff");
}

static void test_missing_next(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  debut:\n"
		     "    say: Bonjour\n"
		     "    next: fni\n"
		     "  fin:\n"
		     "    say: Au revoir\n",
		     7, 11, "no step named `fni` in flow `t` \u2014 did you mean `fin`?");
	/* in an option and a branch, located at the value */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    menu: Choix\n"
		     "    options:\n"
		     "      - { label: Oui, next: nulle_part }\n"
		     "    next: a\n",
		     8, 29, "no step named `nulle_part`");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    branch:\n"
		     "      - { when: { var: phone, set: true }, next: b }\n"
		     "    else: zz\n"
		     "  b: { say: Fin }\n",
		     8, 11, "no step named `zz`");
	/* an ask with no next at all */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a: { ask: Nom ?, save: nom }\n",
		     5, 3, "ask `a` needs `next`");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "start: debt\n"
		     "steps:\n"
		     "  debut: { say: Fin }\n",
		     4, 8, "start: no step named `debt` \u2014 did you mean `debut`?");
}

static void test_unreachable(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    say: Bonjour\n"
		     "    end: true\n"
		     "  orphelin:\n"
		     "    say: Jamais dit\n",
		     8, 3, "step `orphelin` can never be reached");
}

static void test_var_before_set(void)
{
	/* set on one option only: not on every path */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    menu: Service ?\n"
		     "    options:\n"
		     "      - { label: CAF, set: { service: caf } }\n"
		     "      - { label: Autre }\n"
		     "    next: b\n"
		     "  b:\n"
		     "    say: \"Service {{service}}, merci.\"\n",
		     12, 10, "variable `service` is used in step `b` before it is set");
	/* an ask's answer is not set on its on_fail path */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    ask: Nom ?\n"
		     "    expect: { text: 40, on_fail: b }\n"
		     "    save: nom\n"
		     "    next: b\n"
		     "  b:\n"
		     "    call: caf.status\n"
		     "    with: { nom: \"{{nom}}\" }\n"
		     "    next: c\n"
		     "  c: { say: Fin }\n",
		     12, 18, "variable `nom` is used in step `b`");
	/* a branch condition */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    branch: [ { when: { var: age, less: 25 }, next: b } ]\n"
		     "    else: b\n"
		     "  b: { say: Fin }\n",
		     6, 30, "variable `age` is used in step `a`");
	/* item outside options_from */
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a: { say: \"{{item.label}}\" }\n",
		     5, 13, "`item.label` only exists inside `options_from`");
	/* and the paths that do set it are accepted, including a call's whole result tree */
	{
		struct flow_set *fs = load("flow: t\n"
					   "title: T\n"
					   "entry: { sms: T }\n"
					   "steps:\n"
					   "  a:\n"
					   "    menu: Service ?\n"
					   "    options:\n"
					   "      - { label: CAF, set: { service: caf } }\n"
					   "      - { label: Autre, set: { service: autre } }\n"
					   "    next: b\n"
					   "  b:\n"
					   "    call: caf.status\n"
					   "    with: { s: \"{{service}} {{phone}} {{lang}}\" }\n"
					   "    save: st\n"
					   "    next: c\n"
					   "  c: { say: \"{{st.dossier.etat}} ({{contact}}, {{channel}})\" }\n");

		if (!fs)
			diag_print(d, stderr);
		CU_ASSERT_PTR_NOT_NULL(fs);
		talloc_free(fs);
	}
}

static void test_unknown_op(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    call: agenda.slot\n"
		     "    next: b\n"
		     "  b: { say: Fin }\n",
		     6, 11, "unknown operation `agenda.slot` \u2014 did you mean `agenda.slots`?");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    call: impots.avis\n"
		     "    next: b\n"
		     "  b: { say: Fin }\n",
		     6, 11, "unknown operation `impots.avis`: no back-end");
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void remove_files(void)
{
	static const char *const names[] = { "a.yaml", "b.yaml", "common.yaml", "notes.txt" };
	char path[128];
	unsigned i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
}

static void test_duplicate_keyword(void)
{
	char fa[128], fb[128], want[512];
	struct flow_set *fs;

	snprintf(fa, sizeof(fa), "%s/a.yaml", tmpdir);
	snprintf(fb, sizeof(fb), "%s/b.yaml", tmpdir);
	write_file("a.yaml", "flow: a\n"
			     "title: A\n"
			     "entry: { sms: [ACTE, NAISSANCE], ussd: \"*11#\" }\n"
			     "steps: { s: { say: A } }\n");
	write_file("b.yaml", "flow: b\n"
			     "title: B\n"
			     "entry:\n"
			     "  sms: [Naissance]\n"
			     "  ussd: \"*11#\"\n"
			     "steps: { s: { say: B } }\n");
	write_file("notes.txt", "not yaml: [\n");
	talloc_free(d);
	d = diag_alloc(ctx);
	fs = flow_set_load(ctx, tmpdir, &env, d);
	CU_ASSERT_PTR_NULL(fs);
	talloc_free(fs);
	snprintf(want, sizeof(want), "keyword `NAISSANCE` of flow `b` (%s) is already used by "
		 "flow `a` at %s:3:22", fb, fa);
	CU_ASSERT(has(fb, 4, 9, want));
	snprintf(want, sizeof(want), "USSD code `*11#` of flow `b` (%s) is already used by flow "
		 "`a` at %s:3:40", fb, fa);
	CU_ASSERT(has(fb, 5, 9, want));
	CU_ASSERT_EQUAL(d->n_errors, 2);

	/* the same directory with a common file and no clash loads, in name order */
	write_file("b.yaml", "flow: b\n"
			     "title: B\n"
			     "entry: { sms: DECES }\n"
			     "steps: { s: { say: \"B {{contact}}\" } }\n");
	write_file("common.yaml", common_file);
	talloc_free(d);
	d = diag_alloc(ctx);
	fs = flow_set_load(ctx, tmpdir, &env, d);
	if (!fs)
		diag_print(d, stderr);
	CU_ASSERT_FATAL(fs != NULL);
	CU_ASSERT_EQUAL(fs->n_flows, 2);
	CU_ASSERT_STRING_EQUAL(fs->flows[0].name, "a");
	CU_ASSERT_STRING_EQUAL(fs->flows[1].name, "b");
	CU_ASSERT_EQUAL(fs->words.n_stop, 3);
	CU_ASSERT_STRING_EQUAL(fs->words.stop[1], "ARRET");
	CU_ASSERT_STRING_EQUAL(fs->words.stop[2], "FIN");
	CU_ASSERT_STRING_EQUAL(fs->words.help[1], "?");
	CU_ASSERT_STRING_EQUAL(fs->words.back[0], "0");	/* not given: default */
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&fs->msg.contact, "fr", false), "01 23 45 67 89");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&fs->msg.stopped, "en", false), "Stopped.");
	CU_ASSERT_STRING_EQUAL(flow_text_pick(&fs->msg.invalid, "fr", false),
			       "Réponse non comprise. Réessayez.");
	CU_ASSERT_PTR_EQUAL(flow_by_keyword(fs, "deces"), &fs->flows[1]);
	talloc_free(fs);

	/* a second common file */
	write_file("b.yaml", common_file);
	talloc_free(d);
	d = diag_alloc(ctx);
	fs = flow_set_load(ctx, tmpdir, &env, d);
	CU_ASSERT_PTR_NULL(fs);
	snprintf(want, sizeof(want), "already in %s:1:1", fb);
	{
		char fc[128];

		snprintf(fc, sizeof(fc), "%s/common.yaml", tmpdir);
		CU_ASSERT(has(fc, 1, 1, want));
	}
	talloc_free(fs);
	remove_files();
}

/* A keyword longer than the matcher reads (FLOW_KEYWORD_MAX - 1 bytes) could never be
 * found: refused where it is written. The longest one allowed is found. (Found by the
 * flow fuzzer.) */
static void test_keyword_too_long(void)
{
	char y[512], kw[FLOW_KEYWORD_MAX + 1];
	struct flow_set *fs;

	memset(kw, 'K', FLOW_KEYWORD_MAX);
	kw[FLOW_KEYWORD_MAX] = '\0';
	snprintf(y, sizeof(y), "flow: t\ntitle: T\nentry: { sms: [OK, %s] }\nsteps:\n"
		 "  a: { say: \"x\", end: true }\n", kw);
	expect_error(y, 3, 20, "is too long: a keyword has at most 63 characters");
	kw[FLOW_KEYWORD_MAX - 1] = '\0';
	snprintf(y, sizeof(y), "flow: t\ntitle: T\nentry: { sms: [OK, %s] }\nsteps:\n"
		 "  a: { say: \"x\", end: true }\n", kw);
	fs = load(y);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_PTR_NOT_NULL(flow_by_keyword(fs, kw));
	talloc_free(fs);
}

static void test_keyword_is_common_word(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: [T, Stop] }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     3, 19, "keyword `STOP` of flow `t` is also a common word");
}

static void test_ussd_too_long(void)
{
	char yaml[2048], label[200];

	memset(label, 'x', 170);
	label[170] = '\0';
	snprintf(yaml, sizeof(yaml),
		 "flow: t\n"
		 "title: T\n"
		 "entry: { sms: T, ussd: \"*1#\" }\n"
		 "steps:\n"
		 "  a:\n"
		 "    menu: \"Choisissez votre service :\"\n"
		 "    options:\n"
		 "      - { label: Court }\n"
		 "      - { label: %s }\n"
		 "    next: b\n"
		 "  b:\n"
		 "    say: { sms: \"%s%s\", ussd: Court }\n",
		 label, label, label);
	expect_error(yaml, 9, 18, "option 2 of menu `a` (fr) does not fit one USSD screen even "
		     "alone with the menu title: 199 characters, at most 182");
	/* the long SMS text has a short USSD version: not reported */
	CU_ASSERT_EQUAL(d->n_errors, 1);

	snprintf(yaml, sizeof(yaml),
		 "flow: t\n"
		 "title: T\n"
		 "entry: { ussd: \"*1#\" }\n"
		 "steps:\n"
		 "  a:\n"
		 "    say: \"%s{{x | default: \\\"a\\\"}}%s\"\n",
		 label, label);
	expect_error(yaml, 6, 10, "this text (fr) is too long for one USSD screen: 340 "
		     "characters, at most 182 (add a shorter `ussd:` version)");
	/* the same on an SMS-only flow is fine */
	snprintf(yaml, sizeof(yaml),
		 "flow: t\n"
		 "title: T\n"
		 "entry: { sms: T }\n"
		 "steps:\n"
		 "  a:\n"
		 "    say: \"%s%s\"\n",
		 label, label);
	{
		struct flow_set *fs = load(yaml);

		CU_ASSERT_PTR_NOT_NULL(fs);
		talloc_free(fs);
	}
}

static void test_bad_regex(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a:\n"
		     "    ask: Dossier ?\n"
		     "    expect: { pattern: \"[A-Z{2\" }\n"
		     "    save: dossier\n"
		     "    next: b\n"
		     "  b: { say: Fin }\n",
		     7, 24, "bad pattern `[A-Z{2`:");
}

static void test_bad_duration(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "timeout: 15 min\n"
		     "steps: { a: { say: Bonjour } }\n",
		     4, 10, "bad duration `15 min`");
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "timeout: 0\n"
		     "steps: { a: { say: Bonjour } }\n",
		     4, 10, "a timeout of 0");
}

static void test_syntax_error(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: [T, U }\n"
		     "steps: { a: { say: Bonjour } }\n",
		     3, 21, "YAML syntax error: did not find expected ',' or ']'");
	expect_error("flow: t\n"
		     "steps:\n"
		     "  a:\n"
		     "    say: Bonjour\n"
		     "   next: b\n",
		     5, 4, "YAML syntax error: did not find expected key (while parsing a block "
		     "mapping at line 3, column 3)");
}

static void test_loop_without_input(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps:\n"
		     "  a: { say: Un, next: b }\n"
		     "  b:\n"
		     "    branch: [ { when: { var: phone, set: true }, next: a } ]\n"
		     "    else: c\n"
		     "  c: { ask: Nom ?, save: n, next: a }\n",
		     5, 3, "steps `a` \u2192 `b` \u2192 `a` loop forever without waiting");
}

static void test_template_syntax(void)
{
	expect_error("flow: t\n"
		     "title: T\n"
		     "entry: { sms: T }\n"
		     "steps: { a: { say: \"Bonjour {{phone | majuscule}}\" } }\n",
		     4, 20, "bad template at character");
}

static void test_everything_reported(void)
{
	struct flow_set *fs = load("flow: t\n"
				   "title: T\n"
				   "entry: { sms: T }\n"
				   "timeout: 3x\n"
				   "steps:\n"
				   "  a:\n"
				   "    say: Bonjour\n"
				   "    nxt: b\n"
				   "  b:\n"
				   "    ask: Age ?\n"
				   "    expect: { digts: 2 }\n"
				   "    save: age\n"
				   "    next: z\n");

	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has("t.yaml", 4, 10, "bad duration"));
	CU_ASSERT(has("t.yaml", 8, 5, "did you mean `next`?"));
	CU_ASSERT(has("t.yaml", 11, 15, "did you mean `digits`?"));
	CU_ASSERT(has("t.yaml", 13, 11, "no step named `z`"));
	CU_ASSERT(has("t.yaml", 9, 3, "step `b` can never be reached"));
	talloc_free(fs);
}

/* ------------------------------------------------------------------------------------------ */
/* Screens as shown, keypads (issue 12) */

static struct flow_set *load_env(const char *yaml, const struct flow_env *e)
{
	talloc_free(d);
	d = diag_alloc(ctx);
	return flow_set_load_string(ctx, "t.yaml", yaml, e, d);
}

/* The help said before a menu or a question: measured together against the configured
 * screen, as the engine sends them (the sample RDV `?` was 157 on a 128 screen). */
static void test_help_then_prompt_overflow(void)
{
	static const char yaml[] =
		"flow: t\n"
		"title: T\n"
		"entry: { sms: T, ussd: \"*1#\" }\n"
		"help: \"Envoyez 0 pour revenir, 00 pour recommencer. Conseiller : 3939 (appel gratuit)\"\n"
		"steps:\n"
		"  service:\n"
		"    menu: \"Rendez-vous. Pour quel service ?\"\n"
		"    options: [ Allocations familiales, RSA, Assurance maladie ]\n"
		"    next: code\n"
		"  code:\n"
		"    ask: \"Code secret reçu par courrier (4 chiffres) ?\"\n"
		"    expect: { digits: 4, retry: \"Le code a 4 chiffres.\" }\n"
		"    help: \"Le code est sur le courrier de confirmation. Perdu ? Appelez le 3939 (appel gratuit).\"\n"
		"    save: code\n"
		"    next: fin\n"
		"  fin: { say: Fin }\n";
	struct flow_env e128 = { .n_ops = 3, .ops = ops, .ussd_screen = 128 };
	struct flow_set *fs = load_env(yaml, &e128);

	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has("t.yaml", 4, 7, "step `service` after the help word (fr): the flow's help "
		      "then the menu again does not fit one USSD screen: 162 characters, at most 128"));
	CU_ASSERT(has("t.yaml", 13, 11, "step `code` after the help word (fr): its help then the "
		      "question again does not fit one USSD screen: 130 characters, at most 128"));
	CU_ASSERT_EQUAL(d->n_errors, 2);
	talloc_free(fs);
	/* the same on the 182 characters of an aggregator: fine */
	fs = load_env(yaml, &env);
	CU_ASSERT_PTR_NOT_NULL(fs);
	talloc_free(fs);
}

/* A retry, a common message and the list of services are measured too. */
static void test_messages_and_lists_measured(void)
{
	char yaml[2048], longer[200];

	memset(longer, 'x', 150);
	longer[150] = '\0';
	snprintf(yaml, sizeof(yaml),
		 "flow: t\n"
		 "title: T\n"
		 "entry: { sms: T, ussd: \"*1*1#\" }\n"
		 "on_timeout: \"%s\"\n"
		 "steps:\n"
		 "  q:\n"
		 "    ask: \"%.100s ?\"\n"
		 "    expect: { digits: 4, retry: \"Il faut 4 chiffres, par exemple 1234, sans espace.\" }\n"
		 "    save: q\n"
		 "    next: fin\n"
		 "  fin: { say: Fin }\n", longer, longer);
	struct flow_env e128 = { .n_ops = 3, .ops = ops, .ussd_screen = 128 };
	struct flow_set *fs = load_env(yaml, &e128);

	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has("t.yaml", 4, 13, "on_timeout (fr) is too long for one USSD screen: 150 "
		      "characters, at most 128"));
	CU_ASSERT(has("t.yaml", 8, 33, "step `q` after a wrong answer (fr): its retry text then "
		      "the question again does not fit one USSD screen: 153 characters, at most 128"));
	CU_ASSERT(has("t.yaml", 6, 3, "step `q` after the help word (fr): the common `help` "
		      "message then the question again does not fit one USSD screen: 146"));
	talloc_free(fs);

	/* SMS: a text over the parts a reply may take; the list of services over one part is a
	 * warning */
	char big[700];
	memset(big, 'y', 600);
	big[600] = '\0';
	snprintf(yaml, sizeof(yaml),
		 "flow: t\n"
		 "title: \"%.150s\"\n"
		 "entry: { sms: T }\n"
		 "steps:\n"
		 "  fin: { say: \"%s\" }\n", big, big);
	struct flow_env e2 = { .n_ops = 3, .ops = ops, .sms_parts = 2 };
	fs = load_env(yaml, &e2);
	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has("t.yaml", 5, 15, "this text (fr) does not fit the SMS parts a reply may "
		      "take: 4 SMS parts, at most 2"));
	bool warned = false;
	for (unsigned i = 0; i < d->n; i++)
		warned |= d->e[i].level == DIAG_WARNING && strstr(d->e[i].msg, "the list of "
								    "services (fr) takes 2 SMS parts");
	CU_ASSERT_TRUE(warned);
	talloc_free(fs);
}

/* The sample flows, as shipped: no error and no warning on osmo-hlr's 128-character screens
 * and 3 SMS parts (run from the source tree, as make check does). */
static void test_sample_flows_fit(void)
{
	static const char *const sample_ops[] = { "agenda.slots", "agenda.book", "dossier.status" };
	struct flow_env e = { .n_ops = 3, .ops = sample_ops, .ussd_screen = 128, .sms_parts = 3 };
	const char *root = getenv("GUICHET_ROOT");
	char path[512];
	struct flow_set *fs;

	snprintf(path, sizeof(path), "%s/flows", root ? root : ".");
	if (access(path, R_OK) != 0)
		return;		/* not run from the source tree */
	talloc_free(d);
	d = diag_alloc(ctx);
	fs = flow_set_load(ctx, path, &e, d);
	if (!fs || d->n_errors || d->n_warnings)
		diag_print(d, stderr);
	CU_ASSERT_PTR_NOT_NULL(fs);
	/* Notes (what a receipt or a reminder costs) are information, not problems. */
	CU_ASSERT_EQUAL(d->n_errors, 0);
	CU_ASSERT_EQUAL(d->n_warnings, 0);
	talloc_free(fs);
}

/* A message that goes on at once is said with the next question, in one reply. */
static void test_say_then_question_measured(void)
{
	static const char yaml[] =
		"flow: t\n"
		"title: T\n"
		"entry: { ussd: \"*1#\" }\n"
		"steps:\n"
		"  info:\n"
		"    say: \"Les horaires d'ouverture ont changé : du lundi au vendredi de 9h à 17h, le samedi de 9h à 12h.\"\n"
		"    next: service\n"
		"  service:\n"
		"    menu: \"Pour quel service ?\"\n"
		"    options: [ Allocations familiales, RSA ]\n"
		"    next: fin\n"
		"  fin: { say: Fin }\n";
	struct flow_env e128 = { .n_ops = 3, .ops = ops, .ussd_screen = 128 };
	struct flow_set *fs = load_env(yaml, &e128);

	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has("t.yaml", 6, 10, "this text (fr) and step `service` after it, said in one "
		      "reply, do not fit one USSD screen: 145 characters, at most 128"));
	talloc_free(fs);
	fs = load_env(yaml, &env);
	CU_ASSERT_PTR_NOT_NULL(fs);
	talloc_free(fs);
}

/* The transports' own screens are common messages, measured like the rest. */
static void test_transport_messages_measured(void)
{
	char dir[] = "/tmp/guichet-msg-XXXXXX", path[128];
	struct flow_env e128 = { .n_ops = 3, .ops = ops, .ussd_screen = 128 };
	struct flow_set *fs;
	FILE *f;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("flow: a\ntitle: A\nentry: { ussd: \"*1*1#\" }\nsteps: { s: { say: A } }\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("common:\n  messages:\n    saturated: \"Le service est saturé en ce moment, car "
	      "beaucoup de personnes appellent. Merci de rappeler dans quelques minutes, ou "
	      "demain matin.\"\n", f);
	fclose(f);
	talloc_free(d);
	d = diag_alloc(ctx);
	fs = flow_set_load(ctx, dir, &e128, d);
	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT(has(path, 3, 16, "the common `saturated` message (fr) does not fit one USSD "
		      "screen: 130 characters, at most 128"));
	talloc_free(fs);
	unlink(path);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	unlink(path);
	rmdir(dir);
}

/* USSD: a pattern a keypad cannot type, and texts asking to type letters. */
static void test_keypad_checks(void)
{
	static const char yaml[] =
		"flow: t\n"
		"title: T\n"
		"entry: { sms: T, ussd: \"*1#\" }\n"
		"steps:\n"
		"  mois:\n"
		"    ask: \"Mois (MM/AAAA) ?\"\n"
		"    expect: { pattern: \"^[0-9]{2}/[0-9]{4}$\", retry: \"Exemple : 03/2026\" }\n"
		"    save: mois\n"
		"    next: ref\n"
		"  ref:\n"
		"    ask: \"Référence ?\"\n"
		"    expect: { pattern: \"^[A-Z]{2}[0-9]{6}$\" }\n"
		"    save: ref\n"
		"    next: ok\n"
		"  ok:\n"
		"    ask: \"Numéro ?\"\n"
		"    expect: { pattern: \"^[0-9]{6}/?[0-9]*$\", retry: \"6 chiffres\" }\n"
		"    save: n\n"
		"    next: fin\n"
		"  fin:\n"
		"    say: \"Merci. Envoyez AIDE ou tapez ? pour de l'aide, STOP pour finir.\"\n";

	expect_error(yaml, 5, 3, "question `mois` is reachable over USSD but its pattern needs "
		     "`/`, which a keypad (digits, * and #) cannot type");
	CU_ASSERT(has("t.yaml", 10, 3, "question `ref` is reachable over USSD but its pattern "
		      "needs `[A-Z]`"));
	CU_ASSERT(has("t.yaml", 21, 10, "this text (fr) asks to type `AIDE`, which a USSD keypad "
		      "cannot: offer a digit in a `ussd:` version"));
	CU_ASSERT_EQUAL(d->n_errors, 3);	/* `ok` is fine: its `/` is optional */
	bool warned = false;
	for (unsigned i = 0; i < d->n; i++)
		warned |= d->e[i].level == DIAG_WARNING && d->e[i].line == 10 &&
			  strstr(d->e[i].msg, "question `ref` has no `retry`");
	CU_ASSERT_TRUE(warned);

	/* with a ussd: version that offers digits, and on SMS alone: fine */
	static const char fixed[] =
		"flow: t\n"
		"title: T\n"
		"entry: { sms: T }\n"
		"steps:\n"
		"  mois:\n"
		"    ask: \"Mois (MM/AAAA) ?\"\n"
		"    expect: { pattern: \"^[0-9]{2}/[0-9]{4}$\" }\n"
		"    save: mois\n"
		"    next: fin\n"
		"  fin:\n"
		"    say: \"Merci. Envoyez AIDE pour de l'aide.\"\n";
	struct flow_set *fs = load(fixed);
	CU_ASSERT_PTR_NOT_NULL(fs);
	talloc_free(fs);
	static const char ussd_ok[] =
		"flow: t\n"
		"title: T\n"
		"entry: { sms: T, ussd: \"*1#\" }\n"
		"steps:\n"
		"  mois:\n"
		"    ask: \"Mois ?\"\n"
		"    expect: month\n"
		"    save: mois\n"
		"    next: fin\n"
		"  fin:\n"
		"    say: { sms: \"Merci. Envoyez AIDE pour de l'aide.\", ussd: \"Merci. Aide : *1#\" }\n";
	fs = load(ussd_ok);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_EQUAL(fs->flows[0].steps[0].expect, EXPECT_MONTH);
	talloc_free(fs);
}

/* Keywords and answers as people type them. */
static void test_keywords_and_answers_folded(void)
{
	struct flow_set *fs = load(valid_flow);
	const char *kw = NULL;
	char *a;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_PTR_NOT_NULL(flow_by_keyword(fs, "rendez vous"));
	CU_ASSERT_PTR_NOT_NULL(flow_by_keyword(fs, "RENDEZVOUS!"));
	CU_ASSERT_PTR_NOT_NULL(flow_by_keyword(fs, "Rdv ?"));
	CU_ASSERT_PTR_NULL(flow_by_keyword(fs, "RDVX"));
	CU_ASSERT_PTR_NOT_NULL(flow_keyword_near(fs, "RDVX", &kw));
	CU_ASSERT_STRING_EQUAL(kw, "RDV");
	CU_ASSERT_PTR_NOT_NULL(flow_keyword_near(fs, "RENDEZVOSU", &kw));
	CU_ASSERT_PTR_NULL(flow_keyword_near(fs, "XYZW", &kw));
	a = flow_fold_answer(ctx, " (1) ! ");
	CU_ASSERT_STRING_EQUAL(a, "1");
	talloc_free(a);
	a = flow_fold_answer(ctx, "« oui » …");
	CU_ASSERT_STRING_EQUAL(a, "OUI");
	talloc_free(a);
	a = flow_fold_answer(ctx, "?");
	CU_ASSERT_STRING_EQUAL(a, "");
	talloc_free(a);
	a = flow_fold_answer(ctx, "\xef\xbc\x93");	/* full-width 3 */
	CU_ASSERT_STRING_EQUAL(a, "3");
	talloc_free(a);
	talloc_free(fs);
}

/* The loader keeps nothing between loads (no counter of its own): the same files load into
 * equal sets, both at version 1; the router numbers the sets it holds. */
static void test_loader_is_pure(void)
{
	struct flow_set *a = load(valid_flow), *b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = load(valid_flow);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(a->version, 1);
	CU_ASSERT_EQUAL(b->version, a->version);
	CU_ASSERT_EQUAL(b->n_flows, a->n_flows);
	CU_ASSERT_EQUAL(b->flows[0].n_steps, a->flows[0].n_steps);
	talloc_free(a);
	talloc_free(b);
}

/* ------------------------------------------------------------------------------------------ */

static const CU_TestInfo tests[] = {
	{ "valid flow, every step kind, translations", test_valid_flow },
	{ "fold words", test_fold_word },
	{ "common alone is not enough", test_common },
	{ "unknown key with suggestion", test_unknown_key },
	{ "duplicate key", test_duplicate_key },
	{ "20,000 chained steps", test_many_steps },
	{ "bad type", test_bad_type },
	{ "missing next target", test_missing_next },
	{ "unreachable step", test_unreachable },
	{ "variable used before set", test_var_before_set },
	{ "unknown operation", test_unknown_op },
	{ "duplicate keyword across files", test_duplicate_keyword },
	{ "keyword is a common word", test_keyword_is_common_word },
	{ "a keyword too long to be matched", test_keyword_too_long },
	{ "USSD text too long", test_ussd_too_long },
	{ "bad regex", test_bad_regex },
	{ "bad duration", test_bad_duration },
	{ "YAML syntax error", test_syntax_error },
	{ "loop without input", test_loop_without_input },
	{ "template syntax", test_template_syntax },
	{ "every error reported", test_everything_reported },
	{ "help then prompt measured", test_help_then_prompt_overflow },
	{ "messages and lists measured", test_messages_and_lists_measured },
	{ "USSD keypad checks", test_keypad_checks },
	{ "transport messages measured", test_transport_messages_measured },
	{ "say then question measured", test_say_then_question_measured },
	{ "sample flows fit 128-character screens", test_sample_flows_fit },
	{ "keywords and answers folded", test_keywords_and_answers_folded },
	{ "the loader keeps no state between loads", test_loader_is_pure },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/guichet-flow-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 2;
	rc = unit_talloc_run("flow_load", tests, &ctx);
	rmdir(tmpdir);
	return rc;
}
