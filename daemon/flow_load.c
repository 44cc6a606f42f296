/* Flow loader: the YAML files of flows/ -> struct flow_set (queries on a loaded set: flow.c).
 *
 * Shape checks only (keys, types, values, required parts); the graph and variable checks are
 * in flow_check.c. Every problem is reported and loading goes on, so an administrator sees
 * all of them in one run; the set is thrown away at the end if any error was found. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"
#include "guichet/ydoc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEFAULT_TIMEOUT_S (15 * 60)
#define DEFAULT_TRIES 3
#define MAX_FLOW_FILES 1000	/* a flows/ directory larger than this is a mistake */

struct ld {
	struct flow_set *fs;
	struct diag *d;
	struct ydoc *y;
	const char *file;	/* current file, talloc'd under fs */
	unsigned cap_flows;
	const char *common_file;	/* file holding `common:`, NULL until seen */
	unsigned common_line, common_col;
};

/* ------------------------------------------------------------------------------------------ */
/* Small helpers */

static struct flow_loc loc_of(struct ld *L, const yaml_node_t *n)
{
	struct flow_loc l = { L->file, ydoc_line(n), ydoc_col(n) };

	return l;
}

static char *dup(struct ld *L, const char *s)
{
	return s ? talloc_strdup(L->fs, s) : NULL;
}

#define KEYS(...) (const char *const[]){ __VA_ARGS__ }, ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ }))

/* Flow and step names: letters, digits, '_' and '-'. */
static bool is_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '-')
			return false;
	return true;
}

/* Variable names: dotted segments of letters, digits and '_', the first starting with a letter
 * or '_' ("service", "booking.reference", "slots.0.id"). */
static bool is_var(const char *s)
{
	bool seg_start = true;

	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (seg_start)
				return false;
			seg_start = true;
			continue;
		}
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_')
			return false;
		seg_start = false;
	}
	return !seg_start;
}

/* Variables Guichet fills itself; a flow may read but not write them (`lang` is writable: a
 * menu may switch the language). */
static bool is_reserved_var(const char *v)
{
	static const char *const r[] = { "phone", "channel", "contact", "item" };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(r); i++) {
		size_t n = strlen(r[i]);

		if (!strncmp(v, r[i], n) && (v[n] == '\0' || v[n] == '.'))
			return true;
	}
	return false;
}

/* A scalar naming a step: copied, with its location. */
static const char *step_ref(struct ld *L, yaml_node_t *n, struct flow_loc *loc)
{
	const char *s = ydoc_scalar(n);

	if (!s || ydoc_is_null(n)) {
		ydoc_error(L->y, n, "expected a step name, found %s", ydoc_kind(n));
		return NULL;
	}
	if (!is_name(s)) {
		ydoc_error(L->y, n, "`%s` is not a step name (letters, digits, _ and - only)", s);
		return NULL;
	}
	*loc = loc_of(L, n);
	return dup(L, s);
}

/* A scalar naming a variable. writable: the flow stores into it (set, save). */
static const char *var_ref(struct ld *L, yaml_node_t *n, bool writable, struct flow_loc *loc)
{
	const char *s = ydoc_scalar(n);

	if (!s || ydoc_is_null(n)) {
		ydoc_error(L->y, n, "expected a variable name, found %s", ydoc_kind(n));
		return NULL;
	}
	if (!is_var(s)) {
		ydoc_error(L->y, n, "`%s` is not a variable name (letters, digits and _, parts "
			   "separated by dots)", s);
		return NULL;
	}
	if (writable && is_reserved_var(s)) {
		ydoc_error(L->y, n, "`%s` is filled in by Guichet and cannot be changed", s);
		return NULL;
	}
	if (loc)
		*loc = loc_of(L, n);
	return dup(L, s);
}

/* A template string (any scalar); copied. */
static const char *tmpl(struct ld *L, yaml_node_t *n)
{
	const char *s = ydoc_scalar(n);

	if (!s) {
		ydoc_error(L->y, n, "expected text, found %s", ydoc_kind(n));
		return NULL;
	}
	return dup(L, s);
}

static bool get_bool(struct ld *L, yaml_node_t *n, bool *out)
{
	return ydoc_bool(L->y, n, out) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Texts */

static bool is_lang_code(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 2 || n > 3)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

/* One translation: a string, or { sms: "...", ussd: "..." }. */
static bool parse_tr(struct ld *L, yaml_node_t *n, const char *lang, struct flow_tr *tr)
{
	tr->lang = dup(L, lang);
	tr->loc = loc_of(L, n);
	if (ydoc_is_map(n)) {
		yaml_node_t *sms = ydoc_get(L->y, n, "sms"), *ussd = ydoc_get(L->y, n, "ussd");

		ydoc_check_keys(L->y, n, KEYS("sms", "ussd"));
		if (!sms) {
			ydoc_error(L->y, n, "missing `sms`: the full text (`ussd` is only a shorter "
				   "version for USSD screens)");
			return false;
		}
		tr->text = tmpl(L, sms);
		tr->loc = loc_of(L, sms);
		if (ussd) {
			tr->ussd = tmpl(L, ussd);
			tr->ussd_loc = loc_of(L, ussd);
		}
		return tr->text != NULL;
	}
	if (!ydoc_scalar(n) || ydoc_is_null(n)) {
		ydoc_error(L->y, n, "expected a text, found %s", ydoc_kind(n));
		return false;
	}
	tr->text = dup(L, ydoc_scalar(n));
	return true;
}

/* A text: "string", { sms, ussd }, or { fr: ..., en: ... } where each value is either form.
 * French always comes first (tr[0]). */
static bool parse_text(struct ld *L, yaml_node_t *n, struct flow_text *t)
{
	unsigned i, len, k;
	yaml_node_t *fr;

	memset(t, 0, sizeof(*t));
	t->loc = loc_of(L, n);
	if (!ydoc_is_map(n) || ydoc_get(L->y, n, "sms") || ydoc_get(L->y, n, "ussd")) {
		if (!ydoc_is_map(n) && !ydoc_scalar(n)) {
			ydoc_error(L->y, n, "expected a text (a string, or translations like "
				   "{ fr: \"...\", en: \"...\" }), found %s", ydoc_kind(n));
			return false;
		}
		t->tr = talloc_zero_array(L->fs, struct flow_tr, 1);
		if (!t->tr || !parse_tr(L, n, "fr", &t->tr[0]))
			return false;
		t->n = 1;
		return true;
	}
	len = ydoc_len(n);
	fr = ydoc_get(L->y, n, "fr");
	if (!fr) {
		ydoc_error(L->y, n, "a text needs its French version: `fr:`");
		return false;
	}
	t->tr = talloc_zero_array(L->fs, struct flow_tr, len);
	if (!t->tr)
		return false;
	if (!parse_tr(L, fr, "fr", &t->tr[0]))
		return false;
	k = 1;
	for (i = 0; i < len; i++) {
		yaml_node_t *kn = ydoc_map_key(L->y, n, i);
		const char *lang = ydoc_scalar(kn);

		if (lang && !strcmp(lang, "fr"))
			continue;
		if (!lang || !is_lang_code(lang)) {
			static const char *const hints[] = { "fr", "en", "sms", "ussd" };
			const char *s = diag_suggest(lang, hints, ARRAY_SIZE(hints));

			if (s)
				ydoc_error(L->y, kn, "unknown key `%s` \u2014 did you mean `%s`?",
					   lang ? lang : "?", s);
			else
				ydoc_error(L->y, kn, "unknown key `%s`: a text's keys are language "
					   "codes (fr, en, ar, ...) or sms/ussd", lang ? lang : "?");
			continue;
		}
		if (parse_tr(L, ydoc_map_value(L->y, n, i), lang, &t->tr[k]))
			k++;
	}
	t->n = k;
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Lists and assignments */

/* A word or a list of words, folded. */
static void parse_words(struct ld *L, yaml_node_t *n, const char ***out, unsigned *count,
			struct flow_loc **locs, const char *what, bool one_word)
{
	unsigned i, len = ydoc_is_seq(n) ? ydoc_len(n) : 1;

	*out = talloc_zero_array(L->fs, const char *, len);
	if (locs)
		*locs = talloc_zero_array(L->fs, struct flow_loc, len);
	*count = 0;
	if (!*out || (locs && !*locs))
		return;
	if (!ydoc_is_seq(n) && !ydoc_scalar(n)) {
		ydoc_error(L->y, n, "expected %s or a list of them, found %s", what, ydoc_kind(n));
		return;
	}
	for (i = 0; i < len; i++) {
		yaml_node_t *it = ydoc_is_seq(n) ? ydoc_seq_item(L->y, n, i) : n;
		const char *s = ydoc_scalar(it);
		char *w;

		if (!s) {
			ydoc_error(L->y, it, "expected a list of %ss, found %s in it", what,
				   ydoc_kind(it));
			continue;
		}
		w = flow_fold_word(L->fs, s);
		if (!w || !*w) {
			ydoc_error(L->y, it, "empty %s", what);
			continue;
		}
		if (one_word && strchr(w, ' ')) {
			ydoc_error(L->y, it, "`%s` has a space: %s is a single word (people send it "
				   "as the first word of their text)", s, what);
			continue;
		}
		if (locs)
			(*locs)[*count] = loc_of(L, it);
		(*out)[(*count)++] = w;
	}
}

/* set: { var: "template" }, or with: { arg: "template" } (writable false: names of back-end
 * arguments, not variables). */
static void parse_assigns(struct ld *L, yaml_node_t *n, struct flow_assign **out, unsigned *count,
			  bool writable)
{
	unsigned i, len, k = 0;

	*count = 0;
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected a mapping of %s, found %s",
			   writable ? "variables to values ({ service: caf })"
				    : "arguments to values ({ service: \"{{service}}\" })",
			   ydoc_kind(n));
		return;
	}
	len = ydoc_len(n);
	*out = talloc_zero_array(L->fs, struct flow_assign, len);
	if (!*out)
		return;
	ydoc_check_keys(L->y, n, NULL, 0);	/* duplicates only */
	for (i = 0; i < len; i++) {
		yaml_node_t *kn = ydoc_map_key(L->y, n, i), *vn = ydoc_map_value(L->y, n, i);
		const char *name;

		if (writable) {
			name = var_ref(L, kn, true, NULL);
		} else {
			name = ydoc_scalar(kn);
			if (!name || !*name) {
				ydoc_error(L->y, kn, "expected an argument name, found %s",
					   ydoc_kind(kn));
				continue;
			}
			name = dup(L, name);
		}
		if (!name)
			continue;
		if (!ydoc_scalar(vn)) {
			ydoc_error(L->y, vn, "expected text for `%s`, found %s", name, ydoc_kind(vn));
			continue;
		}
		(*out)[k].var = name;
		(*out)[k].value = dup(L, ydoc_scalar(vn));
		(*out)[k].loc = loc_of(L, vn);
		k++;
	}
	*count = k;
}

/* ------------------------------------------------------------------------------------------ */
/* Steps */

/* handoff is a call (to a human's call-back service) that also sends the transcript. */
enum { K_MENU, K_ASK, K_CALL, K_BRANCH, K_SAY, K_HANDOFF, K_N };
static const char *const kind_keys[K_N] = { "menu", "ask", "call", "branch", "say", "handoff" };

/* Messages sent first, on any step but a branch (parse_sends). */
#define SEND_KEYS "remind", "receipt", "reference", "cancel_reminders"
static const char *const menu_keys[] = { "menu", "options", "options_from", "retry", "tries",
					 "on_fail", "next", "set", "help", SEND_KEYS };
static const char *const ask_keys[] = { "ask", "expect", "save", "secret", "next", "set",
					"help", SEND_KEYS };
static const char *const call_keys[] = { "call", "with", "save", "on_error", "wait", "next",
					 "set", "help", SEND_KEYS };
static const char *const say_keys[] = { "say", "next", "end", "set", "help", SEND_KEYS };
static const char *const handoff_keys[] = { "handoff", "with", "save", "on_error", "wait", "next",
					    "set", "help", SEND_KEYS };
static const char *const all_step_keys[] = {
	"menu", "ask", "call", "branch", "say", "options", "options_from", "retry", "tries",
	"on_fail", "next", "set", "help", "expect", "save", "secret", "with", "on_error", "wait",
	"else", "end", "handoff", SEND_KEYS,
};

/* A pair of numbers [min, max] or a single number (single_is_exact: min = max = N; else
 * max = N). */
static bool parse_bounds(struct ld *L, yaml_node_t *n, unsigned *min, unsigned *max,
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

static void compile_pattern(struct ld *L, struct flow_step *st, yaml_node_t *n)
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
	st->pattern = dup(L, p);
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
static void flag_value(struct ld *L, yaml_node_t *n, const char *key)
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
static void parse_expect_kind(struct ld *L, struct flow_step *st, unsigned kind, yaml_node_t *v,
			      bool in_secret)
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
		parse_words(L, v, &st->choices, &st->n_choices, NULL, "choice", false);
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

static void parse_expect(struct ld *L, struct flow_step *st, yaml_node_t *n)
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
	if ((v = ydoc_get(L->y, n, "retry")))
		parse_text(L, v, &st->retry);
	if ((v = ydoc_get(L->y, n, "tries")) && !ydoc_uint(L->y, v, &st->tries) && !st->tries)
		ydoc_error(L->y, v, "`tries` must be at least 1");
	if ((v = ydoc_get(L->y, n, "on_fail")))
		st->on_fail = step_ref(L, v, &st->on_fail_loc);
}

static void parse_option(struct ld *L, struct flow_option *o, yaml_node_t *n)
{
	yaml_node_t *v;

	o->loc = loc_of(L, n);
	o->next_idx = -1;
	if (ydoc_scalar(n) && !ydoc_is_null(n)) {
		/* - "Oui": a label alone */
		parse_text(L, n, &o->label);
		return;
	}
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected an option ({ label: \"...\", next: step }), found %s",
			   ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, KEYS("label", "set", "next"));
	if ((v = ydoc_get(L->y, n, "label")))
		parse_text(L, v, &o->label);
	else
		ydoc_error(L->y, n, "an option needs a `label`");
	if ((v = ydoc_get(L->y, n, "set")))
		parse_assigns(L, v, &o->set, &o->n_set, true);
	if ((v = ydoc_get(L->y, n, "next")))
		o->next = step_ref(L, v, &o->next_loc);
}

static void parse_options_from(struct ld *L, struct flow_step *st, yaml_node_t *n)
{
	yaml_node_t *v;

	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected a mapping like { list: slots, label: "
			   "\"{{item.label}}\" }, found %s", ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, KEYS("list", "label", "set", "empty", "empty_next"));
	if ((v = ydoc_get(L->y, n, "list")))
		st->from_list = var_ref(L, v, false, &st->from_loc);
	else
		ydoc_error(L->y, n, "`options_from` needs `list`: the variable holding the list");
	if ((v = ydoc_get(L->y, n, "label")))
		parse_text(L, v, &st->from_label);
	else
		ydoc_error(L->y, n, "`options_from` needs `label`, e.g. \"{{item.label}}\"");
	if ((v = ydoc_get(L->y, n, "set")))
		parse_assigns(L, v, &st->from_set, &st->n_from_set, true);
	if ((v = ydoc_get(L->y, n, "empty")))
		parse_text(L, v, &st->empty);
	if ((v = ydoc_get(L->y, n, "empty_next")))
		st->empty_next = step_ref(L, v, &st->empty_loc);
}

static const char *const cond_ops[] = { "equals", "not_equals", "in", "set", "empty", "less",
					"more" };

static bool parse_cond(struct ld *L, struct flow_cond *c, yaml_node_t *n)
{
	static const char *const keys[] = { "var", "equals", "not_equals", "in", "set", "empty",
					    "less", "more" };
	unsigned i, found = 0;
	yaml_node_t *v;
	bool ok = true;

	c->loc = loc_of(L, n);
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected a condition like { var: age, less: 25 }, found %s",
			   ydoc_kind(n));
		return false;
	}
	ydoc_check_keys(L->y, n, keys, ARRAY_SIZE(keys));
	if ((v = ydoc_get(L->y, n, "var"))) {
		c->var = var_ref(L, v, false, &c->loc);
		ok = c->var != NULL;
	} else {
		ydoc_error(L->y, n, "a condition needs `var`: the variable it tests");
		ok = false;
	}
	for (i = 0; i < ARRAY_SIZE(cond_ops); i++) {
		bool b;

		v = ydoc_get(L->y, n, cond_ops[i]);
		if (!v)
			continue;
		if (found++) {
			ydoc_error(L->y, v, "a condition tests one thing; `%s` is a second test "
				   "(use a list of conditions to combine them)", cond_ops[i]);
			ok = false;
			continue;
		}
		c->op = (enum flow_cond_op)i;
		switch (c->op) {
		case COND_EQUALS:
		case COND_NOT_EQUALS:
			if (!ydoc_scalar(v)) {
				ydoc_error(L->y, v, "expected a value, found %s", ydoc_kind(v));
				ok = false;
				break;
			}
			c->values = talloc_array(L->fs, const char *, 1);
			if (!c->values)
				return false;
			c->values[0] = dup(L, ydoc_scalar(v));
			c->n_values = 1;
			break;
		case COND_LESS:
		case COND_MORE: {
			const char *s = ydoc_scalar(v);
			char *end;

			if (!s || !*s || (strtod(s, &end), *end)) {
				ydoc_error(L->y, v, "`%s` expects a number, found %s%s%s",
					   cond_ops[i], s ? "`" : "", s ? s : ydoc_kind(v),
					   s ? "`" : "");
				ok = false;
				break;
			}
			c->values = talloc_array(L->fs, const char *, 1);
			if (!c->values)
				return false;
			c->values[0] = dup(L, s);
			c->n_values = 1;
			break;
		}
		case COND_IN: {
			unsigned j, len = ydoc_len(v);

			if (!ydoc_is_seq(v) || !len) {
				ydoc_error(L->y, v, "`in` expects a list of values, found %s",
					   ydoc_kind(v));
				ok = false;
				break;
			}
			c->values = talloc_zero_array(L->fs, const char *, len);
			if (!c->values)
				return false;
			for (j = 0; j < len; j++) {
				yaml_node_t *it = ydoc_seq_item(L->y, v, j);

				if (!ydoc_scalar(it)) {
					ydoc_error(L->y, it, "expected a list of values, found %s "
						   "in it", ydoc_kind(it));
					ok = false;
					continue;
				}
				c->values[c->n_values++] = dup(L, ydoc_scalar(it));
			}
			break;
		}
		case COND_SET:
		case COND_EMPTY:
			/* set: false is empty: true, and the other way round */
			if (!get_bool(L, v, &b)) {
				ok = false;
				break;
			}
			if (!b)
				c->op = c->op == COND_SET ? COND_EMPTY : COND_SET;
			break;
		}
	}
	if (!found) {
		ydoc_error(L->y, n, "a condition needs a test: equals, not_equals, in, set, empty, "
			   "less or more");
		ok = false;
	}
	return ok;
}

static void parse_when(struct ld *L, struct flow_when *w, yaml_node_t *n)
{
	yaml_node_t *v;

	w->loc = loc_of(L, n);
	w->next_idx = -1;
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "expected { when: ..., next: step }, found %s", ydoc_kind(n));
		return;
	}
	ydoc_check_keys(L->y, n, KEYS("when", "next"));
	if ((v = ydoc_get(L->y, n, "next")))
		w->next = step_ref(L, v, &w->next_loc);
	else
		ydoc_error(L->y, n, "missing `next`: the step to go to when the condition holds");
	v = ydoc_get(L->y, n, "when");
	if (!v) {
		ydoc_error(L->y, n, "missing `when`: the condition to test");
		return;
	}
	if (ydoc_is_seq(v)) {
		unsigned i, len = ydoc_len(v);

		if (!len) {
			ydoc_error(L->y, v, "empty list of conditions");
			return;
		}
		w->all = talloc_zero_array(L->fs, struct flow_cond, len);
		if (!w->all)
			return;
		for (i = 0; i < len; i++)
			if (parse_cond(L, &w->all[w->n_all], ydoc_seq_item(L->y, v, i)))
				w->n_all++;
		return;
	}
	w->all = talloc_zero_array(L->fs, struct flow_cond, 1);
	if (w->all && parse_cond(L, &w->all[0], v))
		w->n_all = 1;
}

/* remind: [{ at: "{{rdv.start}} -1d 18:00", text: "..." }, ...] */
static void parse_remind(struct ld *L, struct flow_step *st, yaml_node_t *n)
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

		m->loc = loc_of(L, it);
		if (!ydoc_is_map(it)) {
			ydoc_error(L->y, it, "expected { at: ..., text: ... }, found %s",
				   ydoc_kind(it));
			continue;
		}
		ydoc_check_keys(L->y, it, KEYS("at", "text"));
		if ((v = ydoc_get(L->y, it, "at"))) {
			m->at = tmpl(L, v);
			m->at_loc = loc_of(L, v);
		} else {
			ydoc_error(L->y, it, "a reminder needs `at`: when to send it, e.g. "
				   "\"{{rdv.start}} -1d 18:00\"");
		}
		if ((v = ydoc_get(L->y, it, "text")))
			parse_text(L, v, &m->text);
		else
			ydoc_error(L->y, it, "a reminder needs `text`");
		if (m->at && m->text.n)
			st->n_remind++;
	}
}

/* remind:, receipt:, reference:, cancel_reminders: — what a step sends later or cancels. */
static void parse_sends(struct ld *L, struct flow_step *st, yaml_node_t *n)
{
	yaml_node_t *v;

	if ((v = ydoc_get(L->y, n, "remind")))
		parse_remind(L, st, v);
	if ((v = ydoc_get(L->y, n, "receipt")))
		parse_text(L, v, &st->receipt);
	if ((v = ydoc_get(L->y, n, "reference"))) {
		st->reference = tmpl(L, v);
		st->reference_loc = loc_of(L, v);
	}
	if ((v = ydoc_get(L->y, n, "cancel_reminders"))) {
		st->cancel_reminders = tmpl(L, v);
		st->cancel_loc = loc_of(L, v);
	}
}

static void parse_step(struct ld *L, struct flow_step *st, const char *name, yaml_node_t *kn,
		       yaml_node_t *n)
{
	yaml_node_t *kv[K_N], *v;
	unsigned i, kind = K_N, n_kinds = 0;

	st->name = dup(L, name);
	st->loc = loc_of(L, kn);
	st->next_idx = st->on_fail_idx = st->on_error_idx = st->else_idx = st->empty_idx = -1;
	st->tries = DEFAULT_TRIES;
	if (!ydoc_is_map(n)) {
		ydoc_error(L->y, n, "step `%s`: expected a mapping (menu:, ask:, call:, branch: or "
			   "say: with its keys), found %s", name, ydoc_kind(n));
		return;
	}
	for (i = 0; i < K_N; i++) {
		kv[i] = ydoc_get(L->y, n, kind_keys[i]);
		if (!kv[i])
			continue;
		if (n_kinds++) {
			ydoc_error(L->y, ydoc_map_key(L->y, n, 0), "step `%s` has both `%s` and "
				   "`%s`: a step does one thing", name, kind_keys[kind],
				   kind_keys[i]);
			continue;
		}
		kind = i;
	}
	if (kind == K_N) {
		ydoc_check_keys(L->y, n, all_step_keys, ARRAY_SIZE(all_step_keys));
		ydoc_error(L->y, kn, "step `%s` needs one of menu, ask, call, branch, say or handoff", name);
		return;
	}
	st->kind = kind == K_HANDOFF ? STEP_CALL : (enum flow_step_kind)kind;
	switch (kind) {
	case K_HANDOFF:
		ydoc_check_keys(L->y, n, handoff_keys, ARRAY_SIZE(handoff_keys));
		st->handoff = true;
		break;
	case K_MENU:
		ydoc_check_keys(L->y, n, menu_keys, ARRAY_SIZE(menu_keys));
		break;
	case K_ASK:
		ydoc_check_keys(L->y, n, ask_keys, ARRAY_SIZE(ask_keys));
		break;
	case K_CALL:
		ydoc_check_keys(L->y, n, call_keys, ARRAY_SIZE(call_keys));
		break;
	case K_BRANCH:
		if ((v = ydoc_get(L->y, n, "next"))) {
			ydoc_error(L->y, v, "a branch goes on with `else:` when no condition "
				   "holds, not with `next:`");
		}
		{
			/* `next` is reported above with a clearer message */
			static const char *const keys[] = { "branch", "else", "set", "help",
							    "next" };

			ydoc_check_keys(L->y, n, keys, ARRAY_SIZE(keys));
		}
		break;
	case K_SAY:
		ydoc_check_keys(L->y, n, say_keys, ARRAY_SIZE(say_keys));
		break;
	}

	if ((v = ydoc_get(L->y, n, "set")))
		parse_assigns(L, v, &st->set, &st->n_set, true);
	if ((v = ydoc_get(L->y, n, "help")))
		parse_text(L, v, &st->help);
	if (kind != K_BRANCH && (v = ydoc_get(L->y, n, "next")))
		st->next = step_ref(L, v, &st->next_loc);
	if (kind != K_BRANCH)
		parse_sends(L, st, n);

	switch (kind) {
	case K_MENU: {
		yaml_node_t *opts = ydoc_get(L->y, n, "options");
		yaml_node_t *from = ydoc_get(L->y, n, "options_from");

		parse_text(L, kv[K_MENU], &st->text);
		if (opts && from)
			ydoc_error(L->y, from, "a menu has either `options` or `options_from`, not "
				   "both");
		else if (!opts && !from)
			ydoc_error(L->y, kn, "menu `%s` needs `options` (a list) or `options_from`",
				   name);
		if (opts && !ydoc_is_seq(opts)) {
			ydoc_error(L->y, opts, "expected a list of options, found %s",
				   ydoc_kind(opts));
		} else if (opts) {
			unsigned len = ydoc_len(opts);

			if (!len)
				ydoc_error(L->y, opts, "a menu needs at least one option");
			if (len > FLOW_MAX_CHOICES) {
				ydoc_error(L->y, opts, "%u options: at most %u fit a menu", len,
					   FLOW_MAX_CHOICES);
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
						 st->options[i].loc.col, "option %u of `%s` has no "
						 "`next`, and the step has none either", i + 1, name);
		}
		if (from) {
			parse_options_from(L, st, from);
			if (!st->next)
				ydoc_error(L->y, kn, "menu `%s` with `options_from` needs `next`: the "
					   "step after a choice", name);
		}
		if ((v = ydoc_get(L->y, n, "retry")))
			parse_text(L, v, &st->retry);
		if ((v = ydoc_get(L->y, n, "tries")) && !ydoc_uint(L->y, v, &st->tries) &&
		    !st->tries)
			ydoc_error(L->y, v, "`tries` must be at least 1");
		if ((v = ydoc_get(L->y, n, "on_fail")))
			st->on_fail = step_ref(L, v, &st->on_fail_loc);
		break;
	}
	case K_ASK:
		parse_text(L, kv[K_ASK], &st->text);
		st->expect = EXPECT_TEXT;
		st->min_len = 1;
		if ((v = ydoc_get(L->y, n, "expect")))
			parse_expect(L, st, v);
		if ((v = ydoc_get(L->y, n, "secret"))) {
			bool b = false;

			if (get_bool(L, v, &b) && b)
				st->secret = true;
		}
		if ((v = ydoc_get(L->y, n, "save")))
			st->save = var_ref(L, v, true, &st->save_loc);
		else
			ydoc_error(L->y, kn, "ask `%s` needs `save`: the variable that keeps the "
				   "answer", name);
		if (!st->next)
			ydoc_error(L->y, kn, "ask `%s` needs `next`: the step after the answer", name);
		break;
	case K_CALL:
	case K_HANDOFF: {
		yaml_node_t *opn = kv[kind];
		const char *op = ydoc_string(L->y, opn);

		if (op && (!strchr(op, '.') || op[0] == '.' || op[strlen(op) - 1] == '.'))
			ydoc_error(L->y, opn, "`%s` is not an operation: write "
				   "backend.operation, e.g. agenda.slots", op);
		else if (op) {
			st->op = dup(L, op);
			st->op_loc = loc_of(L, opn);
		}
		if ((v = ydoc_get(L->y, n, "with")))
			parse_assigns(L, v, &st->with, &st->n_with, false);
		if ((v = ydoc_get(L->y, n, "save")))
			st->save = var_ref(L, v, true, &st->save_loc);
		if ((v = ydoc_get(L->y, n, "on_error")))
			st->on_error = step_ref(L, v, &st->on_error_loc);
		if ((v = ydoc_get(L->y, n, "wait")))
			parse_text(L, v, &st->wait);
		if (!st->next)
			ydoc_error(L->y, kn, "%s `%s` needs `next`: the step after the answer",
				   kind_keys[kind], name);
		break;
	}
	case K_BRANCH: {
		yaml_node_t *b = kv[K_BRANCH];

		if (!ydoc_is_seq(b) || !ydoc_len(b)) {
			ydoc_error(L->y, b, "expected a list of { when: ..., next: ... }, found %s",
				   ydoc_is_seq(b) ? "an empty list" : ydoc_kind(b));
		} else {
			unsigned len = ydoc_len(b);

			if (len > FLOW_MAX_CHOICES) {
				ydoc_error(L->y, b, "%u cases: at most %u in one branch", len,
					   FLOW_MAX_CHOICES);
				len = FLOW_MAX_CHOICES;
			}
			st->when = talloc_zero_array(L->fs, struct flow_when, len);
			if (st->when) {
				for (i = 0; i < len; i++)
					parse_when(L, &st->when[i], ydoc_seq_item(L->y, b, i));
				st->n_when = len;
			}
		}
		if ((v = ydoc_get(L->y, n, "else")))
			st->else_next = step_ref(L, v, &st->else_loc);
		else
			ydoc_error(L->y, kn, "branch `%s` needs `else`: the step when no condition "
				   "holds", name);
		break;
	}
	case K_SAY: {
		bool end = false;
		yaml_node_t *e = ydoc_get(L->y, n, "end");

		parse_text(L, kv[K_SAY], &st->text);
		if (e && !get_bool(L, e, &end))
			break;
		if (e && end && st->next)
			ydoc_error(L->y, e, "`end: true` and `next` together: the procedure either "
				   "ends here or goes on");
		else if (e && !end && !st->next)
			ydoc_error(L->y, e, "`end: false` needs a `next` step");
		st->end = !st->next;
		break;
	}
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Flows and common settings */

static const char *const flow_keys[] = { "flow", "title", "entry", "timeout", "on_timeout",
					 "help", "start", "steps" };

static struct flow *new_flow(struct ld *L)
{
	struct flow_set *fs = L->fs;

	if (fs->n_flows == L->cap_flows) {
		unsigned cap = L->cap_flows ? L->cap_flows * 2 : 8;
		struct flow *nf = talloc_realloc(fs, fs->flows, struct flow, cap);

		if (!nf)
			return NULL;
		fs->flows = nf;
		L->cap_flows = cap;
	}
	memset(&fs->flows[fs->n_flows], 0, sizeof(struct flow));
	return &fs->flows[fs->n_flows++];
}

static void resolve(const struct flow *f, const char *name, int *idx)
{
	*idx = name ? flow_step_index(f, name) : -1;
}

static void resolve_flow(struct flow *f)
{
	unsigned i, j;

	for (i = 0; i < f->n_steps; i++) {
		struct flow_step *st = &f->steps[i];

		resolve(f, st->next, &st->next_idx);
		resolve(f, st->on_fail, &st->on_fail_idx);
		resolve(f, st->on_error, &st->on_error_idx);
		resolve(f, st->else_next, &st->else_idx);
		resolve(f, st->empty_next, &st->empty_idx);
		for (j = 0; j < st->n_options; j++) {
			struct flow_option *o = &st->options[j];

			if (o->next)
				resolve(f, o->next, &o->next_idx);
			else
				o->next_idx = st->next_idx;
		}
		for (j = 0; j < st->n_when; j++)
			resolve(f, st->when[j].next, &st->when[j].next_idx);
	}
}

static void load_flow(struct ld *L, yaml_node_t *root)
{
	struct flow *f = new_flow(L);
	yaml_node_t *v, *steps;
	const char *name;
	unsigned i, len;

	if (!f) {
		diag_add(L->d, DIAG_ERROR, L->file, 0, 0, "out of memory");
		return;
	}
	f->file = L->file;
	f->loc = loc_of(L, root);
	f->start_idx = -1;
	f->timeout_s = DEFAULT_TIMEOUT_S;
	ydoc_check_keys(L->y, root, flow_keys, ARRAY_SIZE(flow_keys));

	v = ydoc_get(L->y, root, "flow");
	name = ydoc_scalar(v);
	if (!name || !is_name(name))
		ydoc_error(L->y, v, "the flow's name must be a word (letters, digits, _ and -), "
			   "found %s%s%s", name ? "`" : "", name ? name : ydoc_kind(v),
			   name ? "`" : "");
	else
		f->name = dup(L, name);
	f->loc = loc_of(L, v);

	if ((v = ydoc_get(L->y, root, "title")))
		parse_text(L, v, &f->title);
	else
		ydoc_error(L->y, root, "missing `title`: the name people see in the list of "
			   "services");
	if ((v = ydoc_get(L->y, root, "entry"))) {
		yaml_node_t *e;

		if (!ydoc_is_map(v)) {
			ydoc_error(L->y, v, "expected { sms: KEYWORD, ussd: \"*123#\" }, found %s",
				   ydoc_kind(v));
		} else {
			ydoc_check_keys(L->y, v, KEYS("sms", "ussd"));
			if ((e = ydoc_get(L->y, v, "sms")))
				parse_words(L, e, &f->keywords, &f->n_keywords, &f->keyword_locs,
					    "keyword", true);
			if ((e = ydoc_get(L->y, v, "ussd"))) {
				unsigned n = ydoc_is_seq(e) ? ydoc_len(e) : 1;

				f->ussd_codes = talloc_zero_array(L->fs, const char *, n);
				f->ussd_locs = talloc_zero_array(L->fs, struct flow_loc, n);
				if (!ydoc_is_seq(e) && !ydoc_scalar(e))
					ydoc_error(L->y, e, "expected a USSD code or a list of them, "
						   "found %s", ydoc_kind(e));
				for (i = 0; f->ussd_codes && f->ussd_locs && i < n &&
					    (ydoc_is_seq(e) || ydoc_scalar(e)); i++) {
					yaml_node_t *it = ydoc_is_seq(e) ? ydoc_seq_item(L->y, e, i) : e;
					const char *c = ydoc_scalar(it);
					size_t cl = c ? strlen(c) : 0;

					if (!c || cl < 3 || (c[0] != '*' && c[0] != '#') ||
					    c[cl - 1] != '#' || strspn(c, "0123456789*#") != cl) {
						ydoc_error(L->y, it, "bad USSD code %s%s%s: expected "
							   "digits between * and #, like \"*4321*1#\" "
							   "(quote it: # starts a comment in YAML)",
							   c ? "`" : "", c ? c : ydoc_kind(it),
							   c ? "`" : "");
						continue;
					}
					f->ussd_locs[f->n_ussd] = loc_of(L, it);
					f->ussd_codes[f->n_ussd++] = dup(L, c);
				}
			}
			if (!ydoc_get(L->y, v, "sms") && !ydoc_get(L->y, v, "ussd"))
				ydoc_error(L->y, v, "`entry` needs `sms` keywords or a `ussd` code");
		}
	} else {
		ydoc_error(L->y, root, "missing `entry`: the SMS keywords or USSD code that start "
			   "this procedure");
	}
	if ((v = ydoc_get(L->y, root, "timeout")) && !ydoc_duration(L->y, v, &f->timeout_s) &&
	    !f->timeout_s)
		ydoc_error(L->y, v, "a timeout of 0 would expire every session at once");
	if ((v = ydoc_get(L->y, root, "on_timeout")))
		parse_text(L, v, &f->on_timeout);
	if ((v = ydoc_get(L->y, root, "help")))
		parse_text(L, v, &f->help);

	steps = ydoc_get(L->y, root, "steps");
	if (!steps) {
		ydoc_error(L->y, root, "missing `steps`");
		return;
	}
	if (!ydoc_is_map(steps) || !ydoc_len(steps)) {
		ydoc_error(L->y, steps, "expected steps as a mapping of name: { ... }, found %s",
			   ydoc_is_map(steps) ? "no step" : ydoc_kind(steps));
		return;
	}
	ydoc_check_keys(L->y, steps, NULL, 0);	/* only duplicate names: any name is allowed */
	len = ydoc_len(steps);
	f->steps = talloc_zero_array(L->fs, struct flow_step, len);
	if (!f->steps)
		return;
	for (i = 0; i < len; i++) {
		yaml_node_t *kn = ydoc_map_key(L->y, steps, i);
		const char *sn = ydoc_scalar(kn);

		if (!sn || !is_name(sn)) {
			ydoc_error(L->y, kn, "a step name is a word (letters, digits, _ and -), "
				   "found %s%s%s", sn ? "`" : "", sn ? sn : ydoc_kind(kn),
				   sn ? "`" : "");
			continue;
		}
		parse_step(L, &f->steps[f->n_steps++], sn, kn, ydoc_map_value(L->y, steps, i));
	}

	flow_index_steps(L->fs, f);
	if ((v = ydoc_get(L->y, root, "start"))) {
		struct flow_loc sl;
		const char *s = step_ref(L, v, &sl);

		if (s) {
			f->start_idx = flow_step_index(f, s);
			if (f->start_idx < 0) {
				const char **names = talloc_array(L->fs, const char *, f->n_steps);
				const char *sg = NULL;

				for (i = 0; names && i < f->n_steps; i++)
					names[i] = f->steps[i].name;
				if (names)
					sg = diag_suggest(s, names, f->n_steps);
				if (sg)
					ydoc_error(L->y, v, "start: no step named `%s` \u2014 did you "
						   "mean `%s`?", s, sg);
				else
					ydoc_error(L->y, v, "start: no step named `%s`", s);
				talloc_free(names);
			}
		}
	} else if (f->n_steps) {
		f->start_idx = 0;
	}
	resolve_flow(f);
}

/* Built-in texts, short and in GSM-7 (no ê, ô, ç...), so that each fits one SMS part. */
static const char *const msg_keys[] = { "welcome", "help", "invalid", "too_many_tries",
					"stopped", "expired", "backend_error", "busy", "more",
					"contact", "invalid_session", "pick", "suggest", "saturated",
					"limited" };	/* limited last: see apply_defaults() */
static const char *const msg_defaults[] = {
	"Envoyez le mot-clé d'un service :",
	NULL,	/* built from the words: see apply_defaults() */
	"Réponse non comprise. Réessayez.",
	"Trop d'erreurs. Renvoyez le mot-clé pour recommencer ou appelez le {{contact}}.",
	"Demande annulée.",
	"Votre demande a expiré. Renvoyez le mot-clé pour recommencer.",
	"Service indisponible. Réessayez plus tard ou appelez le {{contact}}.",
	"Un instant, nous traitons votre demande.",
	"Suite",
	"3939",
	"Session invalide.",
	"Répondez {{choices}}.",
	"Vouliez-vous dire {{keyword}} ? Répondez 1 pour oui.",
	"Service saturé. Merci de rappeler dans quelques minutes.",
	"Trop de messages. Réessayez dans une heure.",
};

/* Their USSD versions, where the SMS wording asks for something a keypad cannot send. */
static const char *const msg_defaults_ussd[] = {
	NULL, NULL, NULL,
	"Trop d'erreurs. Recomposez le code ou appelez le {{contact}}.",
	NULL,
	"Votre demande a expiré. Recomposez le code pour recommencer.",
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	"Trop de demandes. Réessayez dans une heure.",
};
_Static_assert(ARRAY_SIZE(msg_defaults_ussd) == ARRAY_SIZE(msg_keys) &&
	       ARRAY_SIZE(msg_defaults) == ARRAY_SIZE(msg_keys), "one default per message");

static struct flow_text *msg_slot(struct flow_messages *m, unsigned i)
{
	struct flow_text *slots[] = { &m->welcome, &m->help, &m->invalid, &m->too_many_tries,
				      &m->stopped, &m->expired, &m->backend_error, &m->busy,
				      &m->more, &m->contact, &m->invalid_session, &m->pick,
				      &m->suggest, &m->saturated, &m->limited };

	return slots[i];
}

static const char *const word_keys[] = { "help", "back", "restart", "stop", "more" };

static void word_slot(struct flow_words *w, unsigned i, const char ****list, unsigned **n)
{
	switch (i) {
	case 0: *list = &w->help; *n = &w->n_help; break;
	case 1: *list = &w->back; *n = &w->n_back; break;
	case 2: *list = &w->restart; *n = &w->n_restart; break;
	case 3: *list = &w->stop; *n = &w->n_stop; break;
	default: *list = &w->more; *n = &w->n_more; break;
	}
}

static void load_common(struct ld *L, yaml_node_t *root)
{
	yaml_node_t *c = ydoc_get(L->y, root, "common"), *v, *ck = NULL;
	unsigned i;

	for (i = 0; i < ydoc_len(root) && !ck; i++)
		if (ydoc_map_value(L->y, root, i) == c)
			ck = ydoc_map_key(L->y, root, i);

	ydoc_check_keys(L->y, root, KEYS("common"));
	if (L->common_file) {
		ydoc_error(L->y, ck, "common settings again: they are already in %s:%u:%u (only one "
			   "file may hold `common:`)", L->common_file, L->common_line,
			   L->common_col);
		return;
	}
	L->common_file = L->file;
	L->common_line = ydoc_line(ck);
	L->common_col = ydoc_col(ck);
	if (ydoc_is_null(c))
		return;
	if (!ydoc_is_map(c)) {
		ydoc_error(L->y, c, "expected { words: ..., messages: ... }, found %s", ydoc_kind(c));
		return;
	}
	ydoc_check_keys(L->y, c, KEYS("words", "messages"));
	if ((v = ydoc_get(L->y, c, "words"))) {
		if (!ydoc_is_map(v)) {
			ydoc_error(L->y, v, "expected a mapping like { stop: [STOP, ARRET] }, found %s",
				   ydoc_kind(v));
		} else {
			ydoc_check_keys(L->y, v, word_keys, ARRAY_SIZE(word_keys));
			for (i = 0; i < ARRAY_SIZE(word_keys); i++) {
				yaml_node_t *wn = ydoc_get(L->y, v, word_keys[i]);
				const char ***list;
				unsigned *n;

				if (!wn)
					continue;
				word_slot(&L->fs->words, i, &list, &n);
				parse_words(L, wn, list, n, NULL, "word", true);
			}
		}
	}
	if ((v = ydoc_get(L->y, c, "messages"))) {
		if (!ydoc_is_map(v)) {
			ydoc_error(L->y, v, "expected a mapping like { stopped: \"...\" }, found %s",
				   ydoc_kind(v));
		} else {
			ydoc_check_keys(L->y, v, msg_keys, ARRAY_SIZE(msg_keys));
			for (i = 0; i < ARRAY_SIZE(msg_keys); i++) {
				yaml_node_t *mn = ydoc_get(L->y, v, msg_keys[i]);

				if (mn)
					parse_text(L, mn, msg_slot(&L->fs->msg, i));
			}
		}
	}
}

static void load_document(struct ld *L, struct ydoc *y)
{
	yaml_node_t *root = ydoc_root(y);
	bool is_flow, is_common;

	L->y = y;
	L->file = talloc_strdup(L->fs, y->file);
	if (!root || ydoc_is_null(root)) {
		diag_add(L->d, DIAG_WARNING, L->file, 0, 0, "empty file, ignored");
		return;
	}
	if (!ydoc_is_map(root)) {
		ydoc_error(y, root, "expected `flow:` (a procedure) or `common:` (shared words and "
			   "messages) at the top of the file, found %s", ydoc_kind(root));
		return;
	}
	is_flow = ydoc_get(y, root, "flow") != NULL;
	is_common = ydoc_get(y, root, "common") != NULL;
	if (is_flow && is_common) {
		ydoc_error(y, ydoc_get(y, root, "common"), "`common:` goes in a file of its own, "
			   "not in a flow");
		is_common = false;
	}
	if (is_flow) {
		load_flow(L, root);
	} else if (is_common) {
		load_common(L, root);
	} else {
		static const char *const top[] = { "flow", "common" };
		unsigned i, len = ydoc_len(root);
		const char *sg = NULL;

		for (i = 0; i < len && !sg; i++)
			sg = diag_suggest(ydoc_scalar(ydoc_map_key(y, root, i)), top, 2);
		if (sg)
			ydoc_error(y, ydoc_map_key(y, root, i - 1), "unknown key `%s` \u2014 did you "
				   "mean `%s`?", ydoc_scalar(ydoc_map_key(y, root, i - 1)), sg);
		else
			ydoc_error(y, root, "a flow file starts with `flow:` (a procedure) or "
				   "`common:` (shared words and messages)");
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Defaults and the set */

/* ussd: a USSD version, NULL when the text says nothing a keypad cannot do. */
static void default_text(struct flow_set *fs, struct flow_text *t, const char *text,
			 const char *ussd)
{
	if (t->n)
		return;
	t->tr = talloc_zero_array(fs, struct flow_tr, 1);
	if (!t->tr)
		return;
	t->tr[0].lang = "fr";
	t->tr[0].text = talloc_strdup(fs, text);
	t->tr[0].ussd = ussd ? talloc_strdup(fs, ussd) : NULL;
	t->n = 1;
}

static void default_words(struct flow_set *fs, unsigned i, const char *const *w, unsigned n)
{
	const char ***list;
	unsigned *count, j;

	word_slot(&fs->words, i, &list, &count);
	if (*count)
		return;
	*list = talloc_array(fs, const char *, n);
	if (!*list)
		return;
	for (j = 0; j < n; j++)
		(*list)[j] = talloc_strdup(fs, w[j]);
	*count = n;
}

static void apply_defaults(struct flow_set *fs)
{
	static const char *const help[] = { "AIDE", "HELP" };
	static const char *const back[] = { "0" };
	static const char *const restart[] = { "00" };
	static const char *const stop[] = { "STOP", "ARRET" };
	static const char *const more[] = { "9" };
	unsigned i;

	default_words(fs, 0, help, ARRAY_SIZE(help));
	default_words(fs, 1, back, ARRAY_SIZE(back));
	default_words(fs, 2, restart, ARRAY_SIZE(restart));
	default_words(fs, 3, stop, ARRAY_SIZE(stop));
	default_words(fs, 4, more, ARRAY_SIZE(more));
	/* A dialled code is a request, not a message: its own default screen. */
	if (!fs->msg.limited.n) {
		default_text(fs, &fs->msg.limited, msg_defaults[ARRAY_SIZE(msg_keys) - 1],
			     msg_defaults_ussd[ARRAY_SIZE(msg_keys) - 1]);
	}
	for (i = 0; i < ARRAY_SIZE(msg_keys); i++) {
		if (!msg_defaults[i])
			continue;
		default_text(fs, msg_slot(&fs->msg, i), msg_defaults[i], msg_defaults_ussd[i]);
	}
	/* The help text names the words actually in use, so it stays true when an
	 * administrator changes them. */
	if (!fs->msg.help.n && fs->words.n_back && fs->words.n_restart && fs->words.n_stop) {
		char *h = talloc_asprintf(fs, "Envoyez %s pour revenir, %s pour recommencer, %s "
					  "pour finir. Conseiller : {{contact}}",
					  fs->words.back[0], fs->words.restart[0], fs->words.stop[0]);
		/* A keypad cannot type STOP; hanging up ends a USSD dialogue anyway. */
		char *u = talloc_asprintf(fs, "%s retour, %s recommencer. Conseiller : {{contact}}",
					  fs->words.back[0], fs->words.restart[0]);

		if (h && u)
			default_text(fs, &fs->msg.help, h, u);
		talloc_free(h);
		talloc_free(u);
	}
}

static struct flow_set *new_set(void *ctx)
{
	/* Each set gets a new version, so that sessions can tell a reloaded set apart. */
	static unsigned next_version;	/* atomic: a reload loads on a thread of its own */
	struct flow_set *fs = talloc_zero(ctx, struct flow_set);

	if (fs)
		fs->version = __atomic_add_fetch(&next_version, 1, __ATOMIC_RELAXED);
	return fs;
}

/* Defaults, cross checks, then keep the set only if no error was added. */
static struct flow_set *finish(struct ld *L, const char *where, const struct flow_env *env,
			       unsigned errors_before)
{
	if (!L->fs->n_flows && L->d->n_errors == errors_before)
		diag_add(L->d, DIAG_ERROR, where, 0, 0, "no flow found (a flow file starts with "
			 "`flow:`)");
	apply_defaults(L->fs);
	flow_index_flows(L->fs, L->fs);
	flow_check(L->fs, env, L->d);
	if (L->d->n_errors != errors_before) {
		talloc_free(L->fs);
		return NULL;
	}
	return L->fs;
}

struct flow_set *flow_set_load_string(void *ctx, const char *name, const char *yaml,
				      const struct flow_env *env, struct diag *d)
{
	struct ld L = { .d = d };
	unsigned errors_before = d->n_errors;
	struct ydoc y;

	L.fs = new_set(ctx);
	if (!L.fs)
		return NULL;
	if (ydoc_load_string(&y, L.fs, name, yaml, d) == 0)
		load_document(&L, &y);
	ydoc_free(&y);
	return finish(&L, name, env, errors_before);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".yaml");
}

struct flow_set *flow_set_load(void *ctx, const char *path, const struct flow_env *env,
			       struct diag *d)
{
	struct ld L = { .d = d };
	unsigned errors_before = d->n_errors, n = 0, i;
	struct stat sb;
	char **names = NULL;
	DIR *dir;
	struct dirent *de;

	L.fs = new_set(ctx);
	if (!L.fs)
		return NULL;
	if (stat(path, &sb) < 0) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
		talloc_free(L.fs);
		return NULL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		struct ydoc y;

		if (ydoc_load_file(&y, L.fs, path, d) == 0)
			load_document(&L, &y);
		ydoc_free(&y);
		return finish(&L, path, env, errors_before);
	}
	dir = opendir(path);
	if (!dir) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
		talloc_free(L.fs);
		return NULL;
	}
	names = talloc_array(L.fs, char *, MAX_FLOW_FILES);
	while (names && (de = readdir(dir))) {
		if (!is_yaml_name(de->d_name))
			continue;
		if (n == MAX_FLOW_FILES) {
			diag_add(d, DIAG_ERROR, path, 0, 0, "more than %u flow files",
				 MAX_FLOW_FILES);
			break;
		}
		names[n++] = talloc_asprintf(names, "%s/%s", path, de->d_name);
	}
	closedir(dir);
	if (!names) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "out of memory");
		talloc_free(L.fs);
		return NULL;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		struct ydoc y;

		if (!names[i])
			continue;
		if (ydoc_load_file(&y, L.fs, names[i], d) == 0)
			load_document(&L, &y);
		ydoc_free(&y);
	}
	talloc_free(names);
	return finish(&L, path, env, errors_before);
}
