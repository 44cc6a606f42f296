/* Flow loader, values: names, variables, texts, word lists and assignments — the pieces every
 * part of a flow file is made of (flow_load.h). */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_load.h"
#include "guichet/template.h"

#define ARRAY_SIZE(a) FLOW_LOAD_ARRAY_SIZE(a)

/* ------------------------------------------------------------------------------------------ */
/* Small helpers */

struct flow_loc flow_load_loc(struct flow_loader *L, const yaml_node_t *n)
{
	struct flow_loc l = { L->file, ydoc_line(n), ydoc_col(n) };

	return l;
}

char *flow_load_dup(struct flow_loader *L, const char *s)
{
	return s ? talloc_strdup(L->fs, s) : NULL;
}

/* Flow and step names: letters, digits, '_' and '-'. */
bool flow_load_is_name(const char *s)
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
const char *flow_load_step_ref(struct flow_loader *L, yaml_node_t *n, struct flow_loc *loc)
{
	const char *s = ydoc_scalar(n);

	if (!s || ydoc_is_null(n)) {
		ydoc_error(L->y, n, "expected a step name, found %s", ydoc_kind(n));
		return NULL;
	}
	if (!flow_load_is_name(s)) {
		ydoc_error(L->y, n, "`%s` is not a step name (letters, digits, _ and - only)", s);
		return NULL;
	}
	*loc = flow_load_loc(L, n);
	return flow_load_dup(L, s);
}

/* A scalar naming a variable. writable: the flow stores into it (set, save). */
const char *flow_load_var_ref(struct flow_loader *L, yaml_node_t *n, bool writable,
			      struct flow_loc *loc)
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
		*loc = flow_load_loc(L, n);
	return flow_load_dup(L, s);
}

/* A template string (any scalar); copied. */
const char *flow_load_tmpl(struct flow_loader *L, yaml_node_t *n)
{
	const char *s = ydoc_scalar(n);

	if (!s) {
		ydoc_error(L->y, n, "expected text, found %s", ydoc_kind(n));
		return NULL;
	}
	return flow_load_dup(L, s);
}

bool flow_load_bool(struct flow_loader *L, yaml_node_t *n, bool *out)
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

void flow_tr_mark_gsm7(struct flow_tr *tr)
{
	tr->text_gsm7 = tr->text && template_gsm7_but_values(tr->text);
	tr->ussd_gsm7 = tr->ussd && template_gsm7_but_values(tr->ussd);
}

/* One translation: a string, or { sms: "...", ussd: "..." }. */
static bool parse_tr_strings(struct flow_loader *L, yaml_node_t *n, const char *lang,
			     struct flow_tr *tr)
{
	tr->lang = flow_load_dup(L, lang);
	tr->loc = flow_load_loc(L, n);
	if (ydoc_is_map(n)) {
		yaml_node_t *sms = ydoc_get(L->y, n, "sms"), *ussd = ydoc_get(L->y, n, "ussd");

		ydoc_check_keys(L->y, n, KEYS("sms", "ussd"));
		if (!sms) {
			ydoc_error(L->y, n, "missing `sms`: the full text (`ussd` is only a shorter "
				   "version for USSD screens)");
			return false;
		}
		tr->text = flow_load_tmpl(L, sms);
		tr->loc = flow_load_loc(L, sms);
		if (ussd) {
			tr->ussd = flow_load_tmpl(L, ussd);
			tr->ussd_loc = flow_load_loc(L, ussd);
		}
		return tr->text != NULL;
	}
	if (!ydoc_scalar(n) || ydoc_is_null(n)) {
		ydoc_error(L->y, n, "expected a text, found %s", ydoc_kind(n));
		return false;
	}
	tr->text = flow_load_dup(L, ydoc_scalar(n));
	return true;
}

static bool parse_tr(struct flow_loader *L, yaml_node_t *n, const char *lang,
		     struct flow_tr *tr)
{
	if (!parse_tr_strings(L, n, lang, tr))
		return false;
	flow_tr_mark_gsm7(tr);
	return true;
}

/* A text: "string", { sms, ussd }, or { fr: ..., en: ... } where each value is either form.
 * French always comes first (tr[0]). */
bool flow_load_text(struct flow_loader *L, yaml_node_t *n, struct flow_text *t)
{
	unsigned i, len, k;
	yaml_node_t *fr;

	memset(t, 0, sizeof(*t));
	t->loc = flow_load_loc(L, n);
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
void flow_load_words(struct flow_loader *L, yaml_node_t *n, const char ***out, unsigned *count,
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
		if (one_word && strlen(w) >= FLOW_KEYWORD_MAX) {
			ydoc_error(L->y, it, "`%.20s...` is too long: a %s has at most %d characters "
				   "(people have to type it)", s, what, FLOW_KEYWORD_MAX - 1);
			continue;
		}
		if (locs)
			(*locs)[*count] = flow_load_loc(L, it);
		(*out)[(*count)++] = w;
	}
}

/* set: { var: "template" }, or with: { arg: "template" } (writable false: names of back-end
 * arguments, not variables). */
void flow_load_assigns(struct flow_loader *L, yaml_node_t *n, struct flow_assign **out,
		       unsigned *count, bool writable)
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
			name = flow_load_var_ref(L, kn, true, NULL);
		} else {
			name = ydoc_scalar(kn);
			if (!name || !*name) {
				ydoc_error(L->y, kn, "expected an argument name, found %s",
					   ydoc_kind(kn));
				continue;
			}
			name = flow_load_dup(L, name);
		}
		if (!name)
			continue;
		if (!ydoc_scalar(vn)) {
			ydoc_error(L->y, vn, "expected text for `%s`, found %s", name, ydoc_kind(vn));
			continue;
		}
		(*out)[k].var = name;
		(*out)[k].value = flow_load_dup(L, ydoc_scalar(vn));
		(*out)[k].loc = flow_load_loc(L, vn);
		k++;
	}
	*count = k;
}
