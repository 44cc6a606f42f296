/* Static checks, screens: every text as people see it (with what is said before it, folded
 * and cut as the engine does) fits a USSD screen or the SMS parts allowed, on each channel a
 * flow uses; reminders and receipts fit and say what they cost (flow_check_run.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_check_run.h"
#include "guichet/remind.h"
#include "guichet/template.h"
#include "guichet/text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------------ */
/* USSD screens */

/* The shortest a template can expand to: its text with every {{ }} removed (an empty value). */
static char *literal_part(void *ctx, const char *tmpl)
{
	char *out = talloc_strdup(ctx, ""), *open;
	const char *p = tmpl;

	while (out && (open = strstr(p, "{{"))) {
		const char *close = strstr(open + 2, "}}");

		out = talloc_strndup_append(out, p, open - p);
		if (!close)
			return out;
		p = close + 2;
	}
	return out ? talloc_strdup_append(out, p) : NULL;
}

/* True when text, with its variables empty and folded to GSM-7 as a channel may do, still
 * cannot fit one screen. */
static bool never_fits_ussd(struct ck *c, const char *text)
{
	char *lit = literal_part(c->tmp, text), *folded;
	struct text_budget b = text_budget_ussd(c->ussd_screen);
	bool fits;

	if (!lit)
		return false;
	folded = text_fold_gsm7(c->tmp, lit);
	fits = text_fits(folded ? folded : lit, &b);
	talloc_free(lit);
	talloc_free(folded);
	return !fits;
}

static unsigned ussd_chars(struct ck *c, const char *text)
{
	char *lit = literal_part(c->tmp, text);
	unsigned n = lit ? text_chars(lit) : 0;

	talloc_free(lit);
	return n;
}

static void check_ussd_text(struct ck *c, const struct flow_text *t, const char *what)
{
	unsigned i;

	for (i = 0; i < t->n; i++) {
		const struct flow_tr *tr = &t->tr[i];
		const char *s = tr->ussd ? tr->ussd : tr->text;

		if (s && never_fits_ussd(c, s))
			flow_check_err(c, tr->ussd ? &tr->ussd_loc : &tr->loc, "%s (%s) is too long for one "
			       "USSD screen: %u characters, at most %u%s", what, tr->lang,
			       ussd_chars(c, s), c->ussd_screen,
			       tr->ussd ? "" : " (add a shorter `ussd:` version)");
	}
}

/* A menu pages its options, but every page shows the title and at least one option. */
static void check_ussd_option(struct ck *c, const struct flow_step *st, const struct flow_text *l,
			      unsigned num)
{
	unsigned i;

	for (i = 0; i < l->n; i++) {
		const struct flow_tr *tr = &l->tr[i];
		const char *lab = tr->ussd ? tr->ussd : tr->text;
		const char *title = flow_text_pick(&st->text, tr->lang, true);
		char *page;

		if (!lab)
			continue;
		page = talloc_asprintf(c->tmp, "%s\n%u %s", title ? title : "", num, lab);
		if (page && never_fits_ussd(c, page))
			flow_check_err(c, tr->ussd ? &tr->ussd_loc : &tr->loc, "option %u of menu `%s` (%s) "
			       "does not fit one USSD screen even alone with the menu title: %u "
			       "characters, at most %u", num, st->name, tr->lang, ussd_chars(c, page),
			       c->ussd_screen);
		talloc_free(page);
	}
}

void flow_check_ussd(struct ck *c, const struct flow *f)
{
	unsigned i, j;

	check_ussd_text(c, &f->title, "the title");
	check_ussd_text(c, &f->help, "the help");
	check_ussd_text(c, &f->on_timeout, "on_timeout");
	for (i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		check_ussd_text(c, &st->text, "this text");
		check_ussd_text(c, &st->help, "the help");
		check_ussd_text(c, &st->retry, "the retry text");
		check_ussd_text(c, &st->wait, "the wait text");
		check_ussd_text(c, &st->empty, "the empty text");
		for (j = 0; j < st->n_options; j++)
			check_ussd_option(c, st, &st->options[j].label, j + 1);
		if (st->from_list)
			check_ussd_option(c, st, &st->from_label, 1);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Screens as people see them: a text with what is said before it, on each channel
 *
 * The engine says the retry (or the help) and then the question or the menu again in one
 * reply, and the common messages and lists of services on their own. Each such screen is
 * measured as shown with its variables empty, except {{contact}}, {{keyword}} and
 * {{choices}}, which are known: on USSD against one screen, on SMS against the parts a reply
 * may take. */

struct shown_ctx {
	struct ck *c;
	const struct flow *f;
	const char *lang;
	bool ussd;
	const char *choices;
};

static const char *shown_lookup(void *data, const char *name)
{
	struct shown_ctx *x = data;

	if (!strcmp(name, "contact"))
		return flow_text_pick(&x->c->fs->msg.contact, x->lang, x->ussd);
	if (!strcmp(name, "keyword"))
		return x->f && x->f->n_keywords ? x->f->keywords[0] : NULL;
	if (!strcmp(name, "choices"))
		return x->choices;
	return NULL;
}

/* t in lang on the channel, expanded as shown at the least and folded as the channel does;
 * NULL when t has no text. */
static char *shown(struct ck *c, const struct flow *f, const struct flow_text *t, const char *lang,
		   bool ussd, const char *choices)
{
	struct shown_ctx x = { c, f, lang, ussd, choices };
	const char *tmpl = flow_text_pick(t, lang, ussd);
	char *out;

	if (!tmpl)
		return NULL;
	out = template_expand(c->tmp, tmpl, shown_lookup, &x);
	if (out && !(c->env && c->env->no_fold) && !text_is_gsm7(out))
		out = text_fold_gsm7(c->tmp, out);
	return out;
}

static struct text_budget budget(const struct ck *c, bool ussd)
{
	return ussd ? text_budget_ussd(c->ussd_screen) : text_budget_sms(c->sms_parts);
}

/* "131 characters, at most 128" / "3 SMS parts, at most 2"; NULL when text fits. */
static char *overflow(struct ck *c, const char *text, bool ussd)
{
	struct text_budget b = budget(c, ussd);
	struct text_measure m;

	if (!text || text_fits(text, &b))
		return NULL;
	text_measure(text, &m);
	if (ussd)
		return talloc_asprintf(c->tmp, "%u characters, at most %u%s", m.units,
				       m.coding == TEXT_GSM7 ? b.gsm7_units : b.ucs2_units,
				       m.coding == TEXT_GSM7 ? "" : " (UCS-2)");
	return talloc_asprintf(c->tmp, "%u SMS parts, at most %u", m.parts, c->sms_parts);
}

static const char *where_screen(bool ussd)
{
	return ussd ? "one USSD screen" : "the SMS parts a reply may take";
}

static char *join(struct ck *c, const char *a, const char *b)
{
	if (!a || !*a)
		return b ? talloc_strdup(c->tmp, b) : NULL;
	if (!b || !*b)
		return talloc_strdup(c->tmp, a);
	return talloc_asprintf(c->tmp, "%s\n%s", a, b);
}

/* Where a text of t in lang was written (its ussd: version on USSD), else fallback. */
const struct flow_loc *flow_check_text_loc(const struct flow_text *t, const char *lang, bool ussd,
					    const struct flow_loc *fallback)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct flow_tr *tr = &t->tr[i];

		if (strcmp(tr->lang, lang) && i + 1 < t->n)
			continue;
		if (strcmp(tr->lang, lang))
			tr = &t->tr[0];
		if (ussd && tr->ussd)
			return &tr->ussd_loc;
		return tr->loc.file ? &tr->loc : fallback;
	}
	return fallback;
}

/* The first page of a menu as the engine cuts it (greedy, at least one option, the more
 * line when options are left), for the options' labels as shown. */
static char *menu_first_page(struct ck *c, const char *title, char **labels, unsigned n,
			     const char *more_line, bool ussd)
{
	struct text_budget b = budget(c, ussd);
	char *page = talloc_strdup(c->tmp, title ? title : "");
	unsigned k = 0;

	while (k < n && k < 8) {
		char *cand = talloc_asprintf(c->tmp, "%s%s%u %s", page, *page ? "\n" : "", k + 1,
					     labels[k]);
		char *with_more = k + 1 == n ? cand : join(c, cand, more_line);

		if (k > 0 && !text_fits(with_more, &b))
			break;
		page = cand;
		k++;
	}
	return k < n ? join(c, page, more_line) : page;
}

/* The choices a wrong pick names, as the engine writes them ("1, 2 ou 3", "1 à 8 ou 9"). */
static char *choices_of(struct ck *c, unsigned n, bool more, const char *lang)
{
	bool en = lang && !strcmp(lang, "en");
	const char *more_key = c->fs->words.n_more ? c->fs->words.more[0] : "9";
	char *t;

	if (n > 4) {
		t = talloc_asprintf(c->tmp, "1 %s %u", en ? "to" : "\u00e0", n);
	} else {
		t = talloc_strdup(c->tmp, "1");
		for (unsigned i = 2; i <= n; i++) {
			if (i == n && !more)
				t = talloc_asprintf_append(t, " %s %u", en ? "or" : "ou", i);
			else
				t = talloc_asprintf_append(t, ", %u", i);
		}
	}
	if (more)
		t = talloc_asprintf_append(t, " %s %s", en ? "or" : "ou", more_key);
	return t;
}

static void screen_error(struct ck *c, const struct flow_loc *loc, const char *what,
			 const char *lang, bool ussd, const char *size)
{
	flow_check_err(c, loc, "%s (%s) does not fit %s: %s", what, lang, where_screen(ussd), size);
}

/* The question, or the first page of the menu, of st as shown in lang; *choices gets what a
 * wrong pick would name (NULL for other questions). NULL for steps that ask nothing. */
static char *prompt_of(struct ck *c, const struct flow *f, const struct flow_step *st,
		       const char *lang, bool ussd, char **choices)
{
	const struct flow_messages *m = &c->fs->msg;

	*choices = NULL;
	if (st->kind == STEP_MENU) {
		unsigned n = st->from_list ? 2 : st->n_options;
		char **labels = talloc_array(c->tmp, char *, n ? n : 1);
		const char *more = flow_text_pick(&m->more, lang, ussd);
		char *more_line = talloc_asprintf(c->tmp, "%s %s", c->fs->words.n_more ?
						  c->fs->words.more[0] : "9", more ? more : "Suite");

		for (unsigned j = 0; j < n; j++) {
			labels[j] = shown(c, f, st->from_list ? &st->from_label : &st->options[j].label,
					  lang, ussd, NULL);
			if (!labels[j])
				labels[j] = "";
		}
		*choices = choices_of(c, n > 8 ? 8 : n, n > 8 || st->from_list, lang);
		return menu_first_page(c, shown(c, f, &st->text, lang, ussd, NULL), labels, n,
				       more_line, ussd);
	}
	if (st->kind == STEP_ASK) {
		if (st->expect == EXPECT_YESNO || st->expect == EXPECT_CHOICE)
			*choices = choices_of(c, st->expect == EXPECT_CHOICE ? st->n_choices : 2,
					      false, lang);
		return shown(c, f, &st->text, lang, ussd, NULL);
	}
	return NULL;
}

/* The screens of one question or menu: itself, after the retry text, after the help. */
static void check_step_screens(struct ck *c, const struct flow *f, const struct flow_step *st,
			       bool ussd)
{
	const struct flow_messages *m = &c->fs->msg;

	for (unsigned i = 0; i < st->text.n; i++) {
		const char *lang = st->text.tr[i].lang;
		char *choices, *size;
		char *prompt = prompt_of(c, f, st, lang, ussd, &choices);

		if (!prompt)
			continue;
		/* alone: a question on SMS (USSD has its own check, with the option rule) */
		if (!ussd && (size = overflow(c, prompt, false)))
			screen_error(c, flow_check_text_loc(&st->text, lang, false, &st->loc), "this question",
				     lang, false, size);

		/* after a wrong answer */
		const struct flow_text *retry = st->retry.n ? &st->retry : choices ? &m->pick
									 : &m->invalid;
		char *r = shown(c, f, retry, lang, ussd, choices);
		if ((size = overflow(c, join(c, r, prompt), ussd)))
			flow_check_err(c, st->retry.n ? flow_check_text_loc(&st->retry, lang, ussd, &st->loc) : &st->loc,
			       "step `%s` after a wrong answer (%s): %s then the %s again does not "
			       "fit %s: %s", st->name, lang, st->retry.n ? "its retry text" :
			       choices ? "the common `pick` message" : "the common `invalid` message",
			       st->kind == STEP_MENU ? "menu" : "question", where_screen(ussd), size);

		/* after the help word */
		const struct flow_text *help = st->help.n ? &st->help : f->help.n ? &f->help
								   : &m->help;
		char *h = shown(c, f, help, lang, ussd, NULL);
		if ((size = overflow(c, join(c, h, prompt), ussd)))
			flow_check_err(c, st->help.n ? flow_check_text_loc(&st->help, lang, ussd, &st->loc) :
			       f->help.n ? flow_check_text_loc(&f->help, lang, ussd, &f->loc) : &st->loc,
			       "step `%s` after the help word (%s): %s then the %s again does not "
			       "fit %s: %s", st->name, lang, st->help.n ? "its help" : f->help.n ?
			       "the flow's help" : "the common `help` message",
			       st->kind == STEP_MENU ? "menu" : "question", where_screen(ussd), size);
	}
}

/* A text said alone (say, wait, empty, on_timeout, messages) on one channel. */
static void check_alone(struct ck *c, const struct flow *f, const struct flow_text *t,
			const struct flow_loc *fallback, const char *what, bool ussd)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *lang = t->tr[i].lang;
		char *size = overflow(c, shown(c, f, t, lang, ussd, NULL), ussd);

		if (size)
			screen_error(c, flow_check_text_loc(t, lang, ussd, fallback), what, lang, ussd, size);
	}
}

static void check_flow_screens(struct ck *c, const struct flow *f, bool ussd)
{
	for (unsigned i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		/* Once per step: a question whose wrong answers get a text that says nothing of
		 * what is expected (menus, yesno and choice name their numbers by themselves). */
		if ((!ussd || !f->n_keywords) && st->kind == STEP_ASK && !st->retry.n &&
		    st->expect != EXPECT_YESNO &&
		    st->expect != EXPECT_CHOICE && !(st->expect == EXPECT_TEXT && st->min_len <= 1 &&
						     !st->max_len))
			diag_add(c->d, DIAG_WARNING, st->loc.file, st->loc.line, st->loc.col,
				 "question `%s` has no `retry`: a wrong answer gets the common "
				 "`invalid` message, which does not say what is expected", st->name);

		check_step_screens(c, f, st, ussd);
		if (!ussd && st->kind == STEP_SAY)
			check_alone(c, f, &st->text, &st->loc, "this text", false);
		/* a message that goes on at once: said with the next question, in one reply */
		if (st->kind == STEP_SAY && !st->end && st->next_idx >= 0) {
			const struct flow_step *nx = &f->steps[st->next_idx];

			for (unsigned l = 0; l < st->text.n; l++) {
				const char *lang = st->text.tr[l].lang;
				char *choices, *size;
				char *prompt = prompt_of(c, f, nx, lang, ussd, &choices);

				if (prompt && (size = overflow(c, join(c, shown(c, f, &st->text, lang,
										ussd, NULL),
								       prompt), ussd)))
					flow_check_err(c, flow_check_text_loc(&st->text, lang, ussd, &st->loc), "this text "
					       "(%s) and step `%s` after it, said in one reply, do not fit "
					       "%s: %s", lang, nx->name, where_screen(ussd), size);
			}
		}
		if (!ussd)
			check_alone(c, f, &st->empty, &st->loc, "the empty text", false);
	}
	/* on USSD, on_timeout alone is checked with the other texts of a USSD flow */
	if (!ussd || !f->on_timeout.n)
		check_alone(c, f, f->on_timeout.n ? &f->on_timeout : &c->fs->msg.expired, &f->loc,
			    f->on_timeout.n ? "on_timeout" : "the common `expired` message", ussd);
}

/* The lists of services: for a text Guichet does not know (SMS: keywords; USSD: codes) and
 * each USSD root menu ("*4321#" listing "*4321*1#", "*4321*2#"), alone and after a wrong
 * pick. */
static void check_lists(struct ck *c, bool ussd)
{
	const struct flow_set *fs = c->fs;
	const struct flow_text *wt = &fs->msg.welcome;

	for (unsigned l = 0; l < (wt->n ? wt->n : 1); l++) {
		const char *lang = wt->n ? wt->tr[l].lang : "fr";
		char *list = shown(c, NULL, wt, lang, ussd, NULL);
		struct text_measure m;
		char *size;

		for (unsigned i = 0; i < fs->n_flows; i++) {
			const struct flow *f = &fs->flows[i];
			const char *title = flow_text_pick(&f->title, lang, ussd);

			if (ussd && f->n_ussd)
				list = join(c, list, talloc_asprintf(c->tmp, "%s %s", f->ussd_codes[0],
								     title ? title : f->name));
			else if (!ussd && f->n_keywords)
				list = join(c, list, talloc_asprintf(c->tmp, "%s : %s", f->keywords[0],
								     title ? title : f->name));
		}
		if (list && !(c->env && c->env->no_fold) && !text_is_gsm7(list))
			list = text_fold_gsm7(c->tmp, list);
		if ((size = overflow(c, list, ussd)))
			flow_check_err(c, flow_check_text_loc(wt, lang, ussd, NULL), "the list of services (the "
			       "`welcome` message and every flow's %s and title, %s) does not fit "
			       "%s: %s", ussd ? "code" : "keyword", lang, where_screen(ussd), size);
		else if (!ussd && list && (text_measure(list, &m), m.parts > 1))
			diag_add(c->d, DIAG_WARNING, NULL, 0, 0, "the list of services (%s) takes %u "
				 "SMS parts: shorten the `welcome` message or the flows' titles so "
				 "that it fits one", lang, m.parts);
		if (!ussd)
			continue;
		/* root menus: one per code that heads others */
		for (unsigned i = 0; i < fs->n_flows; i++) {
			for (unsigned j = 0; j < fs->flows[i].n_ussd; j++) {
				const char *code = fs->flows[i].ussd_codes[j];
				const char *star = strrchr(code, '*');
				char *prefix, *menu;
				unsigned n = 0;
				bool first = true;

				if (!star || star == code)
					continue;
				prefix = talloc_strndup(c->tmp, code, star - code + 1);
				/* each root once: at its first code */
				for (unsigned a = 0; a <= i && first; a++)
					for (unsigned b = 0; b < fs->flows[a].n_ussd && first; b++)
						if ((a < i || b < j) && !strncmp(fs->flows[a].ussd_codes[b],
									    prefix, strlen(prefix)))
							first = false;
				if (!first)
					continue;
				menu = shown(c, NULL, wt, lang, true, NULL);
				for (unsigned a = 0; a < fs->n_flows; a++) {
					for (unsigned b = 0; b < fs->flows[a].n_ussd; b++) {
						const char *cd = fs->flows[a].ussd_codes[b];
						const char *title = flow_text_pick(&fs->flows[a].title,
										   lang, true);
						if (strncmp(cd, prefix, strlen(prefix)))
							continue;
						menu = join(c, menu, talloc_asprintf(c->tmp, "%.*s %s",
							(int)strcspn(cd + strlen(prefix), "*#"),
							cd + strlen(prefix), title ? title : fs->flows[a].name));
						n++;
					}
				}
				if (menu && !(c->env && c->env->no_fold) && !text_is_gsm7(menu))
					menu = text_fold_gsm7(c->tmp, menu);
				if ((size = overflow(c, join(c, shown(c, NULL, &fs->msg.pick, lang, true,
								   choices_of(c, n, false, lang)),
							 menu), true)))
					flow_check_err(c, flow_check_text_loc(wt, lang, true, NULL), "the USSD menu of "
					       "%.*s# (the `welcome` message and the titles, %s), after a "
					       "wrong pick, does not fit one USSD screen: %s",
					       (int)strlen(prefix) - 1, prefix, lang, size);
			}
		}
	}
}

/* The common messages said alone, on the channels some flow uses. */
static void check_messages(struct ck *c, bool ussd)
{
	const struct flow_messages *m = &c->fs->msg;
	const struct flow_text *alone[] = { &m->too_many_tries, &m->stopped, &m->expired,
					    &m->backend_error, &m->busy, &m->limited,
					    ussd ? &m->saturated : &m->suggest,
					    ussd ? &m->invalid_session : &m->suggest };
	static const char *const names[] = { "too_many_tries", "stopped", "expired",
					     "backend_error", "busy", "limited", NULL, NULL };
	const struct flow *longest = NULL;

	/* suggest names a keyword: measured with the longest */
	for (unsigned i = 0; i < c->fs->n_flows; i++)
		if (c->fs->flows[i].n_keywords && (!longest || strlen(c->fs->flows[i].keywords[0]) >
						   strlen(longest->keywords[0])))
			longest = &c->fs->flows[i];
	for (unsigned i = 0; i < ARRAY_SIZE(alone); i++) {
		const char *name = names[i] ? names[i] : !ussd ? "suggest" :
				   alone[i] == &m->saturated ? "saturated" : "invalid_session";
		char *what;

		if (i + 1 < ARRAY_SIZE(alone) && alone[i] == alone[i + 1])
			continue;	/* suggest, listed twice for SMS */
		what = talloc_asprintf(c->tmp, "the common `%s` message", name);

		check_alone(c, longest, alone[i], NULL, what, ussd);
		if (ussd)
			flow_check_keypad_text(c, alone[i], NULL, what);
	}
	if (ussd) {
		flow_check_keypad_text(c, &m->help, NULL, "the common `help` message");
		flow_check_keypad_text(c, &m->pick, NULL, "the common `pick` message");
		flow_check_keypad_text(c, &m->invalid, NULL, "the common `invalid` message");
	}
}

void flow_check_screens(struct ck *c)
{
	bool any_sms = false, any_ussd = false;

	for (unsigned i = 0; i < c->fs->n_flows; i++) {
		const struct flow *f = &c->fs->flows[i];

		if (f->n_keywords) {
			check_flow_screens(c, f, false);
			any_sms = true;
		}
		if (f->n_ussd) {
			check_flow_screens(c, f, true);
			flow_check_keypad(c, f);
			any_ussd = true;
		}
	}
	if (any_sms) {
		check_messages(c, false);
		check_lists(c, false);
	}
	if (any_ussd) {
		check_messages(c, true);
		check_lists(c, true);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Messages sent first: reminders and receipts */

/* A reminder or receipt goes by SMS whatever the channel: it must fit the parts a reply may
 * take, and what it costs is said (a note), as shown with its variables empty. */
static void check_send_text(struct ck *c, const struct flow *f, const struct flow_step *st,
			    const struct flow_text *t, const char *what)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *lang = t->tr[i].lang;
		char *text = shown(c, f, t, lang, false, NULL);
		struct text_measure m;
		char *over;

		if (!text)
			continue;
		if ((over = overflow(c, text, false))) {
			flow_check_err(c, &t->tr[i].loc, "the %s of step `%s` (%s) takes %s: it goes by SMS, "
			       "shorten it", what, st->name, lang, over);
			continue;
		}
		text_measure(text, &m);
		diag_add(c->d, DIAG_NOTE, t->tr[i].loc.file, t->tr[i].loc.line, t->tr[i].loc.col,
			 "the %s of step `%s` (%s) costs %u SMS part%s, with its variables empty",
			 what, st->name, lang, m.parts, m.parts > 1 ? "s" : "");
	}
}

void flow_check_sends(struct ck *c, const struct flow *f)
{
	for (unsigned s = 0; s < f->n_steps; s++) {
		const struct flow_step *st = &f->steps[s];

		for (unsigned i = 0; i < st->n_remind; i++) {
			const char *why = NULL;

			if (remind_spec_check(st->remind[i].at, &why) < 0)
				flow_check_err(c, &st->remind[i].at_loc, "reminder %u of step `%s`: `at: %s`: "
				       "%s", i + 1, st->name, st->remind[i].at, why);
			check_send_text(c, f, st, &st->remind[i].text, "reminder");
		}
		check_send_text(c, f, st, &st->receipt, "receipt");
		if (st->reference && !st->n_remind && !st->receipt.n)
			flow_check_err(c, &st->reference_loc, "step `%s` has a `reference` but no `remind` "
			       "or `receipt` to carry it", st->name);
	}
}

