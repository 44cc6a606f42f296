/* Flow loader, steps: one parser per step kind (menu, ask, call, handoff, branch, say), chosen
 * through a table by the key that names the kind; what every step has (set, help, next, the
 * messages it schedules) is read once, before the kind's own keys (flow_load.h). */
#include <regex.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_load.h"

#define ARRAY_SIZE(a) FLOW_LOAD_ARRAY_SIZE(a)
#define DEFAULT_TRIES 3

/* Messages sent first, on any step but a branch (parse_sends). */
#define SEND_KEYS "remind", "receipt", "reference", "cancel_reminders"
static const char *const menu_keys[] = { "menu", "options", "options_from", "retry", "tries",
					 "on_fail", "next", "set", "help", SEND_KEYS };
static const char *const ask_keys[] = { "ask", "expect", "save", "secret", "next", "set",
					"help", SEND_KEYS };
static const char *const call_keys[] = { "call", "with", "save", "on_error", "wait", "next",
					 "set", "help", SEND_KEYS };
static const char *const say_keys[] = { "say", "next", "end", "set", "help", SEND_KEYS };
static const char *const handoff_keys[] = { "handoff", "with", "save", "on_error", "wait",
					    "next", "set", "help", SEND_KEYS };

/* A pair of numbers [min, max] or a single number (single_is_exact: min = max = N; else
 * max = N). */
static bool parse_bounds(struct flow_loader *L, yaml_node_t *n, unsigned *min, unsigned *max,
			 bool single_is_exact)
{
	unsigned a, b;

	if (ydoc_is_seq(n)) {
		if (ydoc_len(n) != 2) {
			ydoc_error(L->y, n, "expected [min, max], a list of two numbers");
			return false;
		}
		if (ydoc_uint(L->y, ydoc_seq_item(L->y, n, 0), &a) ||
		    ydoc_uint(L->y, ydoc_seq_item(L->y, n, 1), &b))
			return false;
		if (a > b) {
			ydoc_error(L->y, n, "minimum %u is larger than maximum %u", a, b);
			return false;
		}
		*min = a;
		*max = b;
		return true;
	}
	if (ydoc_uint(L->y, n, &a))
		return false;
	if (a == 0) {
		ydoc_error(L->y, n, "expected a number of at least 1");
		return false;
	}
	*min = single_is_exact ? a : 1;
	*max = a;
	return true;
}

static int regex_destructor(regex_t *re)
{
	regfree(re);
	return 0;
}

static void compile_pattern(struct flow_loader *L, struct flow_step *st, yaml_node_t *n)
{
	const char *p = ydoc_string(L->y, n);
	char *anchored, err[256];
	regex_t *re;
	int rc;

	if (!p)
		return;
	if (!*p) {
		ydoc_error(L->y, n, "empty pattern");
		return;
	}
	st->pattern = flow_load_dup(L, p);
	/* Anchored so that a pattern describes the whole answer, as administrators expect;
	 * ERE allows ^ and $ inside the group if they wrote them too. */
	anchored = talloc_asprintf(L->fs, "^(%s)$", p);
	re = talloc_zero(L->fs, regex_t);
	if (!anchored || !re)
		return;
	rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
	talloc_free(anchored);
	if (rc) {
		regerror(rc, re, err, sizeof(err));
		ydoc_error(L->y, n, "bad pattern `%s`: %s", p, err);
		talloc_free(re);
		return;
	}
	talloc_set_destructor(re, regex_destructor);
	st->regex = re;
}

/* `date: true` or just `date:` inside an expect mapping. */
static void flag_value(struct flow_loader *L, yaml_node_t *n, const char *key)
{
	bool b;

	if (ydoc_is_null(n))
		return;
	if (!ydoc_scalar(n) || ydoc_bool(L->y, n, &b))
		return;
	if (!b)
		ydoc_error(L->y, n, "`%s: false` means nothing here; remove it or write `%s: true`",
			   key, key);
}

static const char *const expect_kinds[] = { "digits", "text", "pattern", "date", "yesno",
					    "choice", "secret", "month" };

/* Sets st->expect from a kind key (index into expect_kinds) and its value. */
static void parse_expect_kind(struct flow_loader *L, struct flow_step *st, unsigned kind,
			      yaml_node_t *v, bool in_secret)
{
	switch (kind) {
	case 0:
		st->expect = EXPECT_DIGITS;
		st->min_len = 1;
		if (v && !ydoc_is_null(v))
			parse_bounds(L, v, &st->min_len, &st->max_len, true);
		break;
	case 1:
		st->expect = EXPECT_TEXT;
		st->min_len = 1;
		if (v && !ydoc_is_null(v))
			parse_bounds(L, v, &st->min_len, &st->max_len, false);
		break;
	case 2:
		st->expect = EXPECT_PATTERN;
		if (!v || ydoc_is_null(v))
			ydoc_error(L->y, v, "`pattern` needs a regular expression");
		else
			compile_pattern(L, st, v);
		break;
	case 3:
		st->expect = EXPECT_DATE;
		flag_value(L, v, "date");
		break;
	case 4:
		st->expect = EXPECT_YESNO;
		flag_value(L, v, "yesno");
		break;
	case 5:
		st->expect = EXPECT_CHOICE;
		if (!v || !ydoc_is_seq(v) || !ydoc_len(v)) {
			ydoc_error(L->y, v, "expected a list of choices ([oui, non]), found %s",
				   ydoc_kind(v));
			break;
		}
		flow_load_words(L, v, &st->choices, &st->n_choices, NULL, "choice", false);
		break;
	case 6:
		if (in_secret) {
			ydoc_error(L->y, v, "`secret` inside `secret`");
			break;
		}
		st->secret = true;
		st->expect = EXPECT_SECRET;
		st->min_len = 1;
		if (!v || ydoc_is_null(v))
			break;
		if (ydoc_is_map(v)) {
			/* secret: { digits: 4 } keeps the inner kind, flagged secret */
			unsigned n = 0, j;

			ydoc_check_keys(L->y, v, KEYS("digits", "text"));
			for (j = 0; j < 2; j++) {
				yaml_node_t *iv = ydoc_get(L->y, v, expect_kinds[j]);

				if (iv) {
					parse_expect_kind(L, st, j, iv, true);
					n++;
				}
			}
			if (n != 1)
				ydoc_error(L->y, v, "a secret is either `digits` or `text`");
			break;
		}
		flag_value(L, v, "secret");
		break;
	case 7:
		st->expect = EXPECT_MONTH;
		flag_value(L, v, "month");
		break;
	}
}

/* retry:, tries:, on_fail: — after a wrong answer (a menu's, or inside an ask's expect). */
static void parse_retry(struct flow_loader *L, struct flow_step *st, yaml_node_t *n)
{
	yaml_node_t *v;

	if ((v = ydoc_get(L->y, n, "retry")))
		flow_load_text(L, v, &st->retry);
	if ((v = ydoc_get(L->y, n, "tries")) && !ydoc_uint(L->y, v, &st->tries) && !st->tries)
		ydoc_error(L->y, v, "`tries` must be at least 1");
	if ((v = ydoc_get(L->y, n, "on_fail")))
		st->on_fail = flow_load_step_ref(L, v, &st->on_fail_loc);
}

static void parse_expect(struct flow_loader *L, struct flow_step *st, yaml_node_t *n)
{
	static const char *const keys[] = { "digits", "text", "pattern", "date", "yesno",
					    "choice", "secret", "month", "retry", "tries",
					    "on_fail" };
	unsigned i, found = 0;
	yaml_node_t *v;

	if (ydoc_scalar(n) && !ydoc_is_null(n)) {
		const char *s = ydoc_scalar(n);

		for (i = 0; i < ARRAY_SIZE(expect_kinds); i++) {
			if (!strcmp(s, expect_kinds[i])) {
				if (i == 2 || i == 5) {
					ydoc_error(L->y, n, "`%s` needs a value: { %s: ... }", s, s);
					return;
				}
				parse_expect_kind(L, st, i, NULL, false);
				return;
			}
		}
		{
			const char *sg = diag_suggest(s, expect_kinds, ARRAY_SIZE(expect_kinds));

			if (sg)
				ydoc_error(L->y, n, "unknown answer type `%s` \u2014 did you mean "
					   "`%s`?", s, sg);
			else
				ydoc_error(L->y, n, "unknown answer type `%s` (expected digits, text, "
					   "pattern, date, month, yesno, choice or secret)", s);
		}
		return;
	}
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected an answer type (digits, text, date, month, yesno, secret) "
			   "or a mapping like { digits: 7, retry: \"...\" }, found %s", ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, keys, ARRAY_SIZE(keys));
	for (i = 0; i < ARRAY_SIZE(expect_kinds); i++) {
		v = ydoc_get(L->y, n, expect_kinds[i]);
		if (!v)
			continue;
		if (found++) {
			ydoc_error(L->y, v, "`expect` takes one answer type; `%s` is a second one",
				   expect_kinds[i]);
			continue;
		}
		parse_expect_kind(L, st, i, v, false);
	}
	if (!found)
		ydoc_error(L->y, n, "`expect` needs an answer type: digits, text, pattern, date, "
			   "month, yesno, choice or secret");
	parse_retry(L, st, n);
}

static void parse_option(struct flow_loader *L, struct flow_option *o, yaml_node_t *n)
{
	yaml_node_t *v;

	o->loc = flow_load_loc(L, n);
	o->next_idx = -1;
	if (ydoc_scalar(n) && !ydoc_is_null(n)) {
		/* - "Oui": a label alone */
		flow_load_text(L, n, &o->label);
		return;
	}
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected an option ({ label: \"...\", next: step }), found %s",
			   ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, KEYS("label", "set", "next"));
	if ((v = ydoc_get(L->y, n, "label")))
		flow_load_text(L, v, &o->label);
	else
		ydoc_error(L->y, n, "an option needs a `label`");
	if ((v = ydoc_get(L->y, n, "set")))
		flow_load_assigns(L, v, &o->set, &o->n_set, true);
	if ((v = ydoc_get(L->y, n, "next")))
		o->next = flow_load_step_ref(L, v, &o->next_loc);
}

static void parse_options_from(struct flow_loader *L, struct flow_step *st, yaml_node_t *n)
{
	yaml_node_t *v;

	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected a mapping like { list: slots, label: "
			   "\"{{item.label}}\" }, found %s", ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, KEYS("list", "label", "set", "empty", "empty_next"));
	if ((v = ydoc_get(L->y, n, "list")))
		st->from_list = flow_load_var_ref(L, v, false, &st->from_loc);
	else
		ydoc_error(L->y, n, "`options_from` needs `list`: the variable holding the list");
	if ((v = ydoc_get(L->y, n, "label")))
		flow_load_text(L, v, &st->from_label);
	else
		ydoc_error(L->y, n, "`options_from` needs `label`, e.g. \"{{item.label}}\"");
	if ((v = ydoc_get(L->y, n, "set")))
		flow_load_assigns(L, v, &st->from_set, &st->n_from_set, true);
	if ((v = ydoc_get(L->y, n, "empty")))
		flow_load_text(L, v, &st->empty);
	if ((v = ydoc_get(L->y, n, "empty_next")))
		st->empty_next = flow_load_step_ref(L, v, &st->empty_loc);
}

/* remind: [{ at: "{{rdv.start}} -1d 18:00", text: "..." }, ...] */
static void parse_remind(struct flow_loader *L, struct flow_step *st, yaml_node_t *n)
{
	if (!ydoc_is_seq(n) || !ydoc_len(n)) {
		ydoc_error(L->y, n, "expected a list of { at: \"{{date}} -1d 18:00\", text: ... }, "
			   "found %s", ydoc_is_seq(n) ? "an empty list" : ydoc_kind(n));
		return;
	}
	unsigned len = ydoc_len(n);
	if (len > FLOW_MAX_CHOICES) {
		ydoc_error(L->y, n, "%u reminders on one step: at most %u", len, FLOW_MAX_CHOICES);
		len = FLOW_MAX_CHOICES;
	}
	st->remind = talloc_zero_array(L->fs, struct flow_remind, len);
	if (!st->remind)
		return;
	for (unsigned i = 0; i < len; i++) {
		yaml_node_t *it = ydoc_seq_item(L->y, n, i), *v;
		struct flow_remind *m = &st->remind[st->n_remind];

		m->loc = flow_load_loc(L, it);
		if (!ydoc_is_map(it)) {
			ydoc_error(L->y, it, "expected { at: ..., text: ... }, found %s",
				   ydoc_kind(it));
			continue;
		}
		ydoc_check_keys(L->y, it, KEYS("at", "text"));
		if ((v = ydoc_get(L->y, it, "at"))) {
			m->at = flow_load_tmpl(L, v);
			m->at_loc = flow_load_loc(L, v);
		} else {
			ydoc_error(L->y, it, "a reminder needs `at`: when to send it, e.g. "
				   "\"{{rdv.start}} -1d 18:00\"");
		}
		if ((v = ydoc_get(L->y, it, "text")))
			flow_load_text(L, v, &m->text);
		else
			ydoc_error(L->y, it, "a reminder needs `text`");
		if (m->at && m->text.n)
			st->n_remind++;
	}
}

/* remind:, receipt:, reference:, cancel_reminders: — what a step sends later or cancels. */
static void parse_sends(struct flow_loader *L, struct flow_step *st, yaml_node_t *n)
{
	yaml_node_t *v;

	if ((v = ydoc_get(L->y, n, "remind")))
		parse_remind(L, st, v);
	if ((v = ydoc_get(L->y, n, "receipt")))
		flow_load_text(L, v, &st->receipt);
	if ((v = ydoc_get(L->y, n, "reference"))) {
		st->reference = flow_load_tmpl(L, v);
		st->reference_loc = flow_load_loc(L, v);
	}
	if ((v = ydoc_get(L->y, n, "cancel_reminders"))) {
		st->cancel_reminders = flow_load_tmpl(L, v);
		st->cancel_loc = flow_load_loc(L, v);
	}
}


/* ------------------------------------------------------------------------------------------ */
/* One parser per kind. Each gets the kind's own node (kv: the value of `menu:`, `ask:`...),
 * the step's name node (kn, where "needs ..." errors point) and the whole step (n). */

struct step_kind;
typedef void step_parser(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
			 yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n);

struct step_kind {
	const char *key;		/* the key that names the kind */
	enum flow_step_kind kind;
	const char *const *keys;	/* every key a step of this kind may have */
	unsigned n_keys;
	const char *no_next;		/* NULL: `next:` allowed; else why it is not */
	step_parser *parse;
};

/* options: [ "label", { label: ..., set: ..., next: ... }, ... ] */
static void parse_menu_options(struct flow_loader *L, struct flow_step *st, yaml_node_t *opts)
{
	unsigned i, len;

	if (!ydoc_is_seq(opts)) {
		ydoc_error(L->y, opts, "expected a list of options, found %s", ydoc_kind(opts));
		return;
	}
	len = ydoc_len(opts);
	if (!len)
		ydoc_error(L->y, opts, "a menu needs at least one option");
	if (len > FLOW_MAX_CHOICES) {
		ydoc_error(L->y, opts, "%u options: at most %u fit a menu", len, FLOW_MAX_CHOICES);
		len = FLOW_MAX_CHOICES;
	}
	st->options = talloc_zero_array(L->fs, struct flow_option, len);
	if (st->options) {
		for (i = 0; i < len; i++)
			parse_option(L, &st->options[i], ydoc_seq_item(L->y, opts, i));
		st->n_options = len;
	}
	for (i = 0; i < st->n_options; i++)
		if (!st->options[i].next && !st->next)
			diag_add(L->d, DIAG_ERROR, L->file, st->options[i].loc.line,
				 st->options[i].loc.col, "option %u of `%s` has no `next`, and the "
				 "step has none either", i + 1, st->name);
}

static void parse_menu(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
		       yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n)
{
	yaml_node_t *opts = ydoc_get(L->y, n, "options");
	yaml_node_t *from = ydoc_get(L->y, n, "options_from");

	(void)k;
	flow_load_text(L, kv, &st->text);
	if (opts && from)
		ydoc_error(L->y, from, "a menu has either `options` or `options_from`, not both");
	else if (!opts && !from)
		ydoc_error(L->y, kn, "menu `%s` needs `options` (a list) or `options_from`",
			   st->name);
	if (opts)
		parse_menu_options(L, st, opts);
	if (from) {
		parse_options_from(L, st, from);
		if (!st->next)
			ydoc_error(L->y, kn, "menu `%s` with `options_from` needs `next`: the step "
				   "after a choice", st->name);
	}
	parse_retry(L, st, n);
}

static void parse_ask(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
		      yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n)
{
	yaml_node_t *v;

	(void)k;
	flow_load_text(L, kv, &st->text);
	st->expect = EXPECT_TEXT;
	st->min_len = 1;
	if ((v = ydoc_get(L->y, n, "expect")))
		parse_expect(L, st, v);
	if ((v = ydoc_get(L->y, n, "secret"))) {
		bool b = false;

		if (flow_load_bool(L, v, &b) && b)
			st->secret = true;
	}
	if ((v = ydoc_get(L->y, n, "save")))
		st->save = flow_load_var_ref(L, v, true, &st->save_loc);
	else
		ydoc_error(L->y, kn, "ask `%s` needs `save`: the variable that keeps the answer",
			   st->name);
	if (!st->next)
		ydoc_error(L->y, kn, "ask `%s` needs `next`: the step after the answer", st->name);
}

static void parse_call(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
		       yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n)
{
	const char *op = ydoc_string(L->y, kv);
	yaml_node_t *v;

	if (op && (!strchr(op, '.') || op[0] == '.' || op[strlen(op) - 1] == '.')) {
		ydoc_error(L->y, kv, "`%s` is not an operation: write backend.operation, e.g. "
			   "agenda.slots", op);
	} else if (op) {
		st->op = flow_load_dup(L, op);
		st->op_loc = flow_load_loc(L, kv);
	}
	if ((v = ydoc_get(L->y, n, "with")))
		flow_load_assigns(L, v, &st->with, &st->n_with, false);
	if ((v = ydoc_get(L->y, n, "save")))
		st->save = flow_load_var_ref(L, v, true, &st->save_loc);
	if ((v = ydoc_get(L->y, n, "on_error")))
		st->on_error = flow_load_step_ref(L, v, &st->on_error_loc);
	if ((v = ydoc_get(L->y, n, "wait")))
		flow_load_text(L, v, &st->wait);
	if (!st->next)
		ydoc_error(L->y, kn, "%s `%s` needs `next`: the step after the answer", k->key,
			   st->name);
}

/* handoff is a call (to a human's call-back service) that also sends the transcript. */
static void parse_handoff(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
			  yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n)
{
	st->handoff = true;
	parse_call(L, st, k, kv, kn, n);
}

static void parse_branch(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
			 yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n)
{
	yaml_node_t *v;

	(void)k;
	flow_load_cases(L, st, kv);
	if ((v = ydoc_get(L->y, n, "else")))
		st->else_next = flow_load_step_ref(L, v, &st->else_loc);
	else
		ydoc_error(L->y, kn, "branch `%s` needs `else`: the step when no condition holds",
			   st->name);
}

static void parse_say(struct flow_loader *L, struct flow_step *st, const struct step_kind *k,
		      yaml_node_t *kv, yaml_node_t *kn, yaml_node_t *n)
{
	yaml_node_t *e = ydoc_get(L->y, n, "end");
	bool end = false;

	(void)k;
	(void)kn;
	flow_load_text(L, kv, &st->text);
	if (e && !flow_load_bool(L, e, &end))
		return;
	if (e && end && st->next)
		ydoc_error(L->y, e, "`end: true` and `next` together: the procedure either ends "
			   "here or goes on");
	else if (e && !end && !st->next)
		ydoc_error(L->y, e, "`end: false` needs a `next` step");
	st->end = !st->next;
}

/* `next` is among a branch's keys so that it is reported once, with no_next's clearer
 * message. */
static const char *const branch_keys[] = { "branch", "else", "set", "help", "next" };

static const struct step_kind step_kinds[] = {
	{ "menu", STEP_MENU, menu_keys, ARRAY_SIZE(menu_keys), NULL, parse_menu },
	{ "ask", STEP_ASK, ask_keys, ARRAY_SIZE(ask_keys), NULL, parse_ask },
	{ "call", STEP_CALL, call_keys, ARRAY_SIZE(call_keys), NULL, parse_call },
	{ "branch", STEP_BRANCH, branch_keys, ARRAY_SIZE(branch_keys),
	  "a branch goes on with `else:` when no condition holds, not with `next:`",
	  parse_branch },
	{ "say", STEP_SAY, say_keys, ARRAY_SIZE(say_keys), NULL, parse_say },
	{ "handoff", STEP_CALL, handoff_keys, ARRAY_SIZE(handoff_keys), NULL, parse_handoff },
};

/* Every key any step may have: checked against when the kind is missing, for suggestions. */
static const char *const all_step_keys[] = {
	"menu", "ask", "call", "branch", "say", "options", "options_from", "retry", "tries",
	"on_fail", "next", "set", "help", "expect", "save", "secret", "with", "on_error", "wait",
	"else", "end", "handoff", SEND_KEYS,
};

/* The kind named by one of the step's keys; NULL (reported) when none or several. */
static const struct step_kind *step_kind_of(struct flow_loader *L, const char *name,
					    yaml_node_t *kn, yaml_node_t *n)
{
	const struct step_kind *k = NULL;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(step_kinds); i++) {
		if (!ydoc_get(L->y, n, step_kinds[i].key))
			continue;
		if (k) {
			ydoc_error(L->y, ydoc_map_key(L->y, n, 0), "step `%s` has both `%s` and "
				   "`%s`: a step does one thing", name, k->key, step_kinds[i].key);
			continue;
		}
		k = &step_kinds[i];
	}
	if (!k) {
		ydoc_check_keys(L->y, n, all_step_keys, ARRAY_SIZE(all_step_keys));
		ydoc_error(L->y, kn, "step `%s` needs one of menu, ask, call, branch, say or "
			   "handoff", name);
	}
	return k;
}

void flow_load_step(struct flow_loader *L, struct flow_step *st, const char *name,
		    yaml_node_t *kn, yaml_node_t *n)
{
	const struct step_kind *k;
	yaml_node_t *v;

	st->name = flow_load_dup(L, name);
	st->loc = flow_load_loc(L, kn);
	st->next_idx = st->on_fail_idx = st->on_error_idx = st->else_idx = st->empty_idx = -1;
	st->tries = DEFAULT_TRIES;
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "step `%s`: expected a mapping (menu:, ask:, call:, branch: or "
			   "say: with its keys), found %s", name, ydoc_kind(n));
		return;
	}
	k = step_kind_of(L, name, kn, n);
	if (!k)
		return;
	st->kind = k->kind;
	if (k->no_next && (v = ydoc_get(L->y, n, "next")))
		ydoc_error(L->y, v, "%s", k->no_next);
	ydoc_check_keys(L->y, n, k->keys, k->n_keys);

	if ((v = ydoc_get(L->y, n, "set")))
		flow_load_assigns(L, v, &st->set, &st->n_set, true);
	if ((v = ydoc_get(L->y, n, "help")))
		flow_load_text(L, v, &st->help);
	if (!k->no_next && (v = ydoc_get(L->y, n, "next")))
		st->next = flow_load_step_ref(L, v, &st->next_loc);
	if (!k->no_next)
		parse_sends(L, st, n);
	k->parse(L, st, k, ydoc_get(L->y, n, k->key), kn, n);
}
