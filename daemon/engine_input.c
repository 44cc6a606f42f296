/* The engine's reading of what the person sent: answers checked against the question
 * (digits, dates, yes/no, choices), menu picks, the global words (help, back, restart,
 * stop), keywords, and the idle texts that start a procedure. Part of the pure engine
 * (include/guichet/engine_run.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine_run.h"
#include "guichet/text.h"

/* ---- words ---- */

/* The first bytes compared here: every text is looked for in the global words (stop, help,
 * restart, back) and the yes/no words, and differs from nearly all of them there, so the
 * call to strcmp() is made only for the few that may match. */
static bool word_in(const char *folded, const char *const *words, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (folded[0] == words[i][0] && strcmp(folded, words[i]) == 0)
			return true;
	return false;
}

char *engine_trim(void *ctx, const char *text)
{
	while (*text && isspace((unsigned char)*text))
		text++;
	size_t len = strlen(text);
	while (len && isspace((unsigned char)text[len - 1]))
		len--;
	return talloc_strndup(ctx, text, len);
}

/* A wrong answer: count it, say the retry text and ask again, or give up. The retry text
 * says what is expected: the step's own, else the valid numbers (a menu, a yes/no, a
 * choice), else the common `invalid`. */
static void wrong_answer(struct run *r, const struct flow_step *st)
{
	unsigned tries = st->tries ? st->tries : 3;

	if (++r->s->tries >= tries) {
		if (st->on_fail_idx >= 0) {
			engine_run_from(r, st->on_fail_idx, NULL);
			return;
		}
		engine_say(r, &r->fs->msg.too_many_tries);
		engine_end_session(r, OUTCOME_FAILED);
		return;
	}
	const struct flow_text *retry = &r->fs->msg.invalid;
	if (st->retry.n) {
		retry = &st->retry;
	} else if (st->kind == STEP_MENU || (st->kind == STEP_ASK && (st->expect == EXPECT_YESNO ||
									st->expect == EXPECT_CHOICE))) {
		if (!r->choices)
			r->choices = engine_choices_text(r, st->expect == EXPECT_CHOICE ? st->n_choices : 2,
						  NULL);
		retry = &r->fs->msg.pick;
	}
	engine_say(r, retry);
	engine_render_prompt_after(r, st, PREFIX_RETRY);
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* JJ/MM/AAAA, JJ-MM-AAAA, JJ.MM.AAAA, JJ MM AAAA, JJ*MM*AAAA (a keypad) or JJMMAAAA ->
 * "AAAA-MM-JJ". */
static char *parse_date(void *ctx, const char *in)
{
	int d, m, y, n = 0;
	char digits[16];
	size_t k = 0;

	for (const char *p = in; *p && k < sizeof(digits) - 1; p++)
		if (isdigit((unsigned char)*p))
			digits[k++] = *p;
	digits[k] = 0;
	if (sscanf(in, "%d%*[/.* -]%d%*[/.* -]%d%n", &d, &m, &y, &n) == 3 && in[n] == 0) {
		/* separated form */
	} else if (k == 8 && text_is_digits(in)) {
		d = (digits[0] - '0') * 10 + digits[1] - '0';
		m = (digits[2] - '0') * 10 + digits[3] - '0';
		y = atoi(digits + 4);
	} else {
		return NULL;
	}
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 100)
		y += y < 50 ? 2000 : 1900;
	if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1)
		return NULL;
	if (d > mdays[m - 1] + (m == 2 && leap(y)))
		return NULL;
	return talloc_asprintf(ctx, "%04d-%02d-%02d", y, m, d);
}

/* MM/AAAA, M/AAAA, MM-AAAA, MM AAAA, MM*AAAA, M*AAAA (a keypad) or MMAAAA -> "AAAA-MM". */
static char *parse_month(void *ctx, const char *in)
{
	int m, y, n = 0;

	if (sscanf(in, "%d%*[/.* -]%d%n", &m, &y, &n) == 2 && in[n] == 0 &&
	    strspn(in, "0123456789") <= 2) {
		/* separated form */
	} else if (strlen(in) == 6 && text_is_digits(in)) {
		m = (in[0] - '0') * 10 + in[1] - '0';
		y = atoi(in + 2);
	} else {
		return NULL;
	}
	if (y < 1900 || y > 2100 || m < 1 || m > 12)
		return NULL;
	return talloc_asprintf(ctx, "%04d-%02d", y, m);
}

/* Digits as people type them: spaces and dots inside ("12 34 567"), and the letters O and
 * I/L for 0 and 1 beside real digits ("O6 12", "2O26"). A letter alone is no digit: "O" may
 * mean oui, "l" nothing. Returns NULL when the answer is not digits. */
static char *plain_number(void *ctx, const char *answer)
{
	char *d = talloc_strdup(ctx, answer);
	size_t k = 0;
	bool real = false;

	for (const char *p = answer; *p; p++) {
		char c = *p;
		if (c == ' ' || c == '.')
			continue;
		if (c == 'O')
			c = '0';
		else if (c == 'I' || c == 'L')
			c = '1';
		else if (isdigit((unsigned char)c))
			real = true;
		else
			return NULL;
		d[k++] = c;
	}
	d[k] = 0;
	return real ? d : NULL;
}

/* The event's text folded as an answer ("STOP.", " 1 " -> "STOP", "1"), once per event: the
 * global words, the menu and the question all read it. Folding drops the spaces around a
 * text, so trimming first would change nothing. */
static const char *event_answer(struct run *r)
{
	if (!r->answer)
		r->answer = flow_fold_answer(r->ctx, r->in->text ? r->in->text : "");
	return r->answer ? r->answer : "";
}

static char *check_answer(struct run *r, const struct flow_step *st, const char *raw);

/* Returns the value to save, or NULL when the event's text is not a valid answer to st.
 * Asked up to three times an event (back, keyword, the answer itself): checked once. */
static char *validate(struct run *r, const struct flow_step *st)
{
	if (r->valid_st != st) {
		r->valid = check_answer(r, st, r->in->text ? r->in->text : "");
		r->valid_st = st;
	}
	return r->valid;
}

static char *check_answer(struct run *r, const struct flow_step *st, const char *raw)
{
	char *a;
	unsigned len;

	switch (st->expect) {
	case EXPECT_DIGITS: {
		char *d = plain_number(r->ctx, event_answer(r));
		size_t k = d ? strlen(d) : 0;
		if (!d || (st->min_len && k < st->min_len) || (st->max_len && k > st->max_len))
			return NULL;
		return d;
	}
	case EXPECT_TEXT:
	case EXPECT_SECRET:
		a = engine_trim(r->ctx, raw);
		len = text_chars(a);
		if (!len || (st->min_len && len < st->min_len) || (st->max_len && len > st->max_len))
			return NULL;
		return a;
	case EXPECT_PATTERN:
		a = engine_trim(r->ctx, raw);
		if (!st->regex || regexec(st->regex, a, 0, NULL, 0) != 0)
			return NULL;
		return a;
	case EXPECT_DATE:
		return parse_date(r->ctx, event_answer(r));
	case EXPECT_MONTH:
		return parse_month(r->ctx, event_answer(r));
	case EXPECT_YESNO: {
		const char *f = event_answer(r);
		static const char *const yes[] = { "OUI", "O", "1", "YES", "Y", "SI", "D'ACCORD", "OK" };
		static const char *const no[] = { "NON", "N", "2", "NO" };
		if (word_in(f, yes, sizeof(yes) / sizeof(yes[0])))
			return talloc_strdup(r->ctx, "oui");
		if (word_in(f, no, sizeof(no) / sizeof(no[0])))
			return talloc_strdup(r->ctx, "non");
		return NULL;
	}
	case EXPECT_CHOICE: {
		const char *f = event_answer(r);
		for (unsigned i = 0; i < st->n_choices; i++)
			if (strcmp(f, flow_fold_answer(r->ctx, st->choices[i])) == 0)
				return talloc_strdup(r->ctx, st->choices[i]);
		/* The n-th choice by its number, as in a menu. */
		if (text_is_digits(f)) {
			long n = strtol(f, NULL, 10);
			if (n >= 1 && (unsigned long)n <= st->n_choices)
				return talloc_strdup(r->ctx, st->choices[n - 1]);
		}
		return NULL;
	}
	}
	return NULL;
}

static void answer_ask(struct run *r, const struct flow_step *st, char *valid)
{
	if (!valid) {
		wrong_answer(r, st);
		return;
	}
	if (st->save)
		vars_set(&r->s->vars, st->save, valid, st->secret || st->expect == EXPECT_SECRET);
	engine_run_from(r, st->next_idx, st->name);
}

/* answer: the text folded as an answer (flow_fold_answer): "1." is 1. */
static void answer_menu(struct run *r, const struct flow_step *st, const char *answer)
{
	unsigned first, k;
	bool more = r->fs->words.n_more ? word_in(answer, r->fs->words.more, r->fs->words.n_more)
					: strcmp(answer, "9") == 0;
	unsigned n = engine_menu_count(r, st);
	/* The page the person answers was cut when it was shown; cut it again only when that
	 * was not kept (a session stored by an older guichetd) or no longer matches. */
	if (r->s->page_n && r->s->flow_version == r->fs->version &&
	    r->s->page_first + r->s->page_n <= n) {
		first = r->s->page_first;
		k = r->s->page_n;
	} else {
		(void)engine_menu_page(r, st, r->s->page, &first, &k);
	}

	if (more && first + k < n) {
		r->s->page++;
		engine_render_prompt(r, st);
		return;
	}
	char *end;
	long pick = strtol(answer, &end, 10);
	if (!*answer || *end || !isdigit((unsigned char)*answer) || pick < 1 ||
	    (unsigned long)pick > k) {
		const char *more_key = r->fs->words.n_more ? r->fs->words.more[0] : "9";
		r->choices = engine_choices_text(r, k, first + k < n ? more_key : NULL);
		wrong_answer(r, st);
		return;
	}
	unsigned i = first + (unsigned)pick - 1;
	int next = st->next_idx;
	if (st->from_list) {
		char prefix[2 * SESSION_NAME_MAX + 32], num[12];
		r->item_prefix = strlen(st->from_list) < SESSION_NAME_MAX + 40
				 ? engine_join3(prefix, sizeof(prefix), st->from_list, '.',
						engine_utoa(num, i))
				 : talloc_asprintf(r->ctx, "%s.%u", st->from_list, i);
		engine_apply_set(r, st->from_set, st->n_from_set);
		r->item_prefix = NULL;
	} else {
		const struct flow_option *o = &st->options[i];
		engine_apply_set(r, o->set, o->n_set);
		if (o->next_idx >= 0)
			next = o->next_idx;
	}
	engine_run_from(r, next, st->name);
}

/* "Back" at a procedure's first step: out of it, to where the person came from. On USSD
 * from a root menu, that menu again (a pick there starts the picked procedure); on SMS, the
 * list of services. A procedure dialled by its own code has nowhere to go back to: the
 * step again. */
static void back_out(struct run *r, const struct flow_step *st)
{
	const char *root = vars_get(&r->s->vars, VAR_FROM_ROOT);

	if (engine_is_ussd(r)) {
		char *code = root ? talloc_asprintf(r->ctx, "%.*s#", (int)strlen(root) - 1, root) : NULL;
		if (!code || !*engine_root_choices(r, code)) {
			engine_render_prompt(r, st);
			return;
		}
		engine_end_session(r, OUTCOME_STOPPED);
		engine_ussd_root_menu(r, code);
		r->out->expects_answer = true;
		return;
	}
	engine_end_session(r, OUTCOME_STOPPED);
	engine_welcome(r);
}

/* Global words: help, back, restart, stop. Returns true when the text was one. */
static bool global_word(struct run *r, const struct flow_step *st, const char *text)
{
	const struct flow_words *w = &r->fs->words;
	struct session *s = r->s;
	/* "STOP.", "Aide ?", "0 !": the word without the noise around it ("?" stays "?"). */
	const char *folded = event_answer(r);
	if (!*folded)
		folded = flow_fold_word(r->ctx, text);

	if (word_in(folded, w->stop, w->n_stop)) {
		engine_say(r, &r->fs->msg.stopped);
		engine_end_session(r, OUTCOME_STOPPED);
		return true;
	}
	if (word_in(folded, w->help, w->n_help)) {
		const struct flow_text *h = st->help.n ? &st->help
					    : r->flow->help.n ? &r->flow->help : &r->fs->msg.help;
		engine_say(r, h);
		engine_render_prompt_after(r, st, PREFIX_HELP);
		return true;
	}
	if (word_in(folded, w->restart, w->n_restart)) {
		engine_start_flow(r, r->flow);
		return true;
	}
	/* At a question, a valid answer wins over "back": "0 enfant" must stay possible. */
	if (word_in(folded, w->back, w->n_back) && !(st->kind == STEP_ASK && validate(r, st))) {
		if (st->kind == STEP_MENU && s->page > 0) {
			s->page--;
			engine_render_prompt(r, st);
			return true;
		}
		if (s->n_history == 0) {
			back_out(r, st);
			return true;
		}
		const char *prev = s->history[--s->n_history];
		int idx = flow_step_index(r->flow, prev);
		if (idx < 0) {
			engine_render_prompt(r, st);
			return true;
		}
		engine_set_step(r, &r->flow->steps[idx]);
		s->state = SESSION_ACTIVE;
		engine_render_prompt(r, &r->flow->steps[idx]);
		return true;
	}
	return false;
}

static bool is_yes(const char *answer)
{
	static const char *const yes[] = { "1", "OUI", "O", "YES", "Y", "OK", "SI" };

	return word_in(answer, yes, sizeof(yes) / sizeof(yes[0]));
}

/* SMS, no procedure running: a keyword starts its flow; a keyword with a typing slip is
 * offered ("Vouliez-vous dire RDV ?") and a yes to that starts it; anything else gets the
 * list of services. */
static void idle_sms(struct run *r, const char *text)
{
	struct session *s = r->s;
	const char *suggested = vars_get(&s->vars, VAR_SUGGEST);
	const struct flow *f = flow_by_keyword(r->fs, text);
	const char *kw = NULL;

	if (suggested) {
		const struct flow *sf = flow_find(r->fs, suggested);
		bool fresh = !s->deadline || r->in->now <= s->deadline;
		vars_unset_tree(&s->vars, VAR_SUGGEST);
		if (!f && sf && fresh && is_yes(event_answer(r)))
			f = sf;
	}
	if (f) {
		engine_start_flow(r, f);
		return;
	}
	if ((f = flow_keyword_near(r->fs, text, &kw))) {
		r->keyword = kw;
		engine_say(r, &r->fs->msg.suggest);
		vars_set(&s->vars, VAR_SUGGEST, f->name, false);
		s->deadline = r->in->now + SUGGEST_S;
		return;
	}
	engine_welcome(r);
}

static void idle_text(struct run *r, const char *text)
{
	const struct flow *f = NULL;
	char *t = engine_trim(r->ctx, text);

	if (!engine_is_ussd(r)) {
		idle_sms(r, t);
		return;
	}
	/* A copy: starting a flow clears the session's variables. */
	const char *root = vars_get(&r->s->vars, VAR_ROOT);
	root = root ? talloc_strdup(r->ctx, root) : NULL;
	if (root)
		f = flow_by_ussd(r->fs, talloc_asprintf(r->ctx, "%s%s#", root,
							event_answer(r)));
	else
		f = flow_by_ussd(r->fs, t);
	if (!f && !root && engine_ussd_root_menu(r, t)) {
		r->out->expects_answer = true;
		return;
	}
	if (!f && root) {
		/* A wrong pick in the root menu: say what to answer and show the menu again. */
		char *code = talloc_asprintf(r->ctx, "%.*s#", (int)strlen(root) - 1, root);
		vars_unset_tree(&r->s->vars, VAR_ROOT);
		char *menu = NULL;
		r->reply = NULL;
		if (engine_ussd_root_menu(r, code)) {
			menu = r->reply;
			r->reply = NULL;
			r->choices = engine_root_choices(r, code);
			engine_say(r, &r->fs->msg.pick);
			engine_append(r, menu);
			r->out->expects_answer = true;
			return;
		}
	}
	if (f) {
		engine_start_flow(r, f);
		if (root && r->s->state != SESSION_IDLE)
			vars_set(&r->s->vars, VAR_FROM_ROOT, root, false);
		return;
	}
	engine_welcome(r);
}

void engine_on_text(struct run *r)
{
	struct session *s = r->s;
	const char *text = r->in->text ? r->in->text : "";

	if (s->state != SESSION_IDLE && s->deadline && r->in->now > s->deadline) {
		/* Back after the timeout: a keyword starts afresh, anything else is told why and
		 * how to start again (the texts may name the flow's {{keyword}}). */
		const struct flow *old = r->flow;
		const struct flow *f = engine_is_ussd(r) ? NULL : flow_by_keyword(r->fs, text);
		engine_end_session(r, OUTCOME_EXPIRED);
		if (f) {
			engine_start_flow(r, f);
			r->out->outcome = OUTCOME_EXPIRED;
			return;
		}
		const struct flow_text *t = old && old->on_timeout.n ? &old->on_timeout
								   : &r->fs->msg.expired;
		r->flow = old;
		engine_say(r, t);
		r->flow = NULL;
		return;
	}
	if (s->state == SESSION_IDLE || !r->flow) {
		if (s->state != SESSION_IDLE) {
			engine_transcript_keep(r);
			session_reset(s);
		}
		idle_text(r, text);
		return;
	}

	const struct flow_step *st = engine_cur_step(r);
	if (!st) {
		/* The step vanished (flows changed under a stored session): start over. */
		engine_start_flow(r, r->flow);
		return;
	}
	if (s->state == SESSION_WAITING) {
		char *folded = flow_fold_word(r->ctx, text);
		if (word_in(folded, r->fs->words.stop, r->fs->words.n_stop) ||
		    word_in(event_answer(r), r->fs->words.stop, r->fs->words.n_stop)) {
			engine_say(r, &r->fs->msg.stopped);
			engine_end_session(r, OUTCOME_STOPPED);
		} else {
			engine_say(r, &r->fs->msg.busy);
		}
		return;
	}
	r->out->input_secret = st->kind == STEP_ASK && (st->secret || st->expect == EXPECT_SECRET);
	if (global_word(r, st, text))
		return;
	/* A keyword alone, in the middle of a procedure, starts that procedure again (or the
	 * other one it names), unless it is a valid answer to the question asked. */
	if (!engine_is_ussd(r)) {
		const struct flow *f = flow_match_keyword(r->fs, text, true);
		if (f && !(st->kind == STEP_ASK && validate(r, st))) {
			engine_start_flow(r, f);
			return;
		}
	}
	if (st->kind == STEP_MENU)
		answer_menu(r, st, event_answer(r));
	else if (st->kind == STEP_ASK)
		answer_ask(r, st, validate(r, st));
	else
		engine_render_prompt(r, st);
}

