/* Static checks, keypads: on USSD, a question's pattern, a choice or a text that asks to type
 * a word must be answerable with digits, * and # (flow_check_run.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_check_run.h"
#include "guichet/remind.h"
#include "guichet/template.h"
#include "guichet/text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What a POSIX extended pattern needs that a keypad cannot type: a literal character or a
 * bracket expression with no digit, * or #, that is not optional. NULL when a keypad can
 * answer (or when the pattern has alternatives: then it is not judged). Returns a
 * description, talloc'd under c->tmp. */
static const char *pattern_needs(struct ck *c, const char *p)
{
	if (strchr(p, '|'))
		return NULL;
	while (*p) {
		const char *el = p;
		char lit = 0;
		bool keypad = true;

		if (*p == '\\' && p[1]) {
			lit = p[1];
			p += 2;
		} else if (*p == '[') {
			const char *q = p + 1;
			bool neg = *q == '^';

			if (neg)
				q++;
			if (*q == ']')
				q++;
			q = strchr(q, ']');
			if (!q)
				return NULL;
			keypad = neg;
			for (const char *k = p + 1; k < q && !keypad; k++)
				keypad = (*k >= '0' && *k <= '9') || *k == '*' || *k == '#' ||
					 !strncmp(k, ":digit:", 7) || !strncmp(k, ":alnum:", 7) ||
					 !strncmp(k, ":print:", 7) || !strncmp(k, ":graph:", 7) ||
					 !strncmp(k, ":punct:", 7);
			/* a range around the digits (!-~) counts as holding them */
			for (const char *k = p + 1; k + 2 < q && !keypad; k++)
				keypad = k[1] == '-' && k[0] <= '0' && k[2] >= '9';
			p = q + 1;
		} else if (strchr("^$.()", *p)) {
			p++;
			continue;
		} else if (strchr("*+?{", *p)) {
			if (*p == '{')
				p += strcspn(p, "}");
			if (*p)
				p++;
			continue;
		} else {
			lit = *p++;
		}
		if (lit)
			keypad = (lit >= '0' && lit <= '9') || lit == '*' || lit == '#' || lit == '+';
		if (keypad)
			continue;
		/* optional: ?, * or {0 after it */
		if (*p == '?' || *p == '*' || !strncmp(p, "{0", 2))
			continue;
		return lit ? talloc_asprintf(c->tmp, "`%c`", lit)
			   : talloc_asprintf(c->tmp, "`%.*s`", (int)(p - el), el);
	}
	return NULL;
}

/* A text shown on USSD that asks to type a word a keypad cannot type (AIDE, STOP, RDV, or
 * "?" after "Envoyez" or in quotes). Words are taken as written in capitals. */
static bool keypad_typable(const char *w)
{
	return w[strspn(w, "0123456789*#+")] == '\0';
}

static const char *letters_word(const struct ck *c, const char *tok, size_t len,
				const char *prev, bool quoted)
{
	const struct flow_words *w = &c->fs->words;
	const char *const *lists[] = { w->help, w->back, w->restart, w->stop, w->more };
	unsigned ns[] = { w->n_help, w->n_back, w->n_restart, w->n_stop, w->n_more };
	bool caps = false;

	for (size_t i = 0; i < len; i++) {
		if (tok[i] >= 'a' && tok[i] <= 'z')
			return NULL;	/* as written in a sentence, not a word to type */
		caps |= tok[i] >= 'A' && tok[i] <= 'Z';
	}
	for (unsigned i = 0; i < 5; i++) {
		for (unsigned j = 0; j < ns[i]; j++) {
			const char *word = lists[i][j];

			if (strlen(word) != len || strncmp(word, tok, len) || keypad_typable(word))
				continue;
			if (caps || quoted || (prev && (!strcasecmp(prev, "envoyez") ||
						       !strcasecmp(prev, "renvoyez") ||
						       !strcasecmp(prev, "tapez") ||
						       !strcasecmp(prev, "send"))))
				return word;
		}
	}
	/* a keyword may be named ("Aide RDV"); it is asked for after a verb or in quotes */
	if (!quoted && !(prev && (!strcasecmp(prev, "envoyez") || !strcasecmp(prev, "renvoyez") ||
				  !strcasecmp(prev, "tapez") || !strcasecmp(prev, "send"))))
		return NULL;
	for (unsigned i = 0; caps && i < c->fs->n_flows; i++)
		for (unsigned j = 0; j < c->fs->flows[i].n_keywords; j++)
			if (strlen(c->fs->flows[i].keywords[j]) == len &&
			    !strncmp(c->fs->flows[i].keywords[j], tok, len))
				return c->fs->flows[i].keywords[j];
	return NULL;
}

void flow_check_keypad_text(struct ck *c, const struct flow_text *t, const struct flow_loc *fb,
			     const char *what)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *s = t->tr[i].ussd ? t->tr[i].ussd : t->tr[i].text;
		char prev[32] = "";

		while (s && *s) {
			size_t sp = strspn(s, " \n\t"), len;
			bool quoted;
			const char *word;

			s += sp;
			len = strcspn(s, " \n\t");
			if (!len)
				break;
			{
				const char *tok = s;
				size_t tl = len;

				/* quotes and punctuation around a word ("AIDE", « STOP », RDV.) */
				quoted = false;
				while (tl && strchr("\"'(", *tok)) {
					quoted = true;
					tok++;
					tl--;
				}
				if (tl >= 2 && (!strncmp(tok, "\u00ab", 2) || !strncmp(tok, "\u00bb", 2))) {
					quoted = true;
					tok += 2;
					tl -= 2;
				}
				while (tl > 1 && strchr("\"').,;:!", tok[tl - 1])) {
					quoted |= tok[tl - 1] == '"' || tok[tl - 1] == '\'';
					tl--;
				}
				if (tl > 2 && !strncmp(tok + tl - 2, "\u00bb", 2)) {
					quoted = true;
					tl -= 2;
				}
				if (tl == 0 && !strncmp(s, "\u00bb", 2))
					quoted = true;
				word = tl ? letters_word(c, tok, tl, prev, quoted) : NULL;
				if (word) {
					flow_check_err(c, flow_check_text_loc(t, t->tr[i].lang, true, fb), "%s (%s) asks to "
					       "type `%s`, which a USSD keypad cannot: offer a digit in a "
					       "`ussd:` version", what, t->tr[i].lang, word);
					break;
				}
				snprintf(prev, sizeof(prev), "%.*s", (int)(tl < 31 ? tl : 31), tok);
			}
			s += len;
		}
	}
}

void flow_check_keypad(struct ck *c, const struct flow *f)
{
	flow_check_keypad_text(c, &f->on_timeout, &f->loc, "on_timeout");
	flow_check_keypad_text(c, &f->help, &f->loc, "the help");
	for (unsigned i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		flow_check_keypad_text(c, &st->text, &st->loc, "this text");
		flow_check_keypad_text(c, &st->help, &st->loc, "the help");
		flow_check_keypad_text(c, &st->retry, &st->loc, "the retry text");
		flow_check_keypad_text(c, &st->wait, &st->loc, "the wait text");
		flow_check_keypad_text(c, &st->empty, &st->loc, "the empty text");
		for (unsigned j = 0; j < st->n_options; j++)
			flow_check_keypad_text(c, &st->options[j].label, &st->options[j].loc, "this option");
		if (st->kind == STEP_ASK && st->expect == EXPECT_PATTERN && st->pattern) {
			const char *bad = pattern_needs(c, st->pattern);

			if (bad)
				flow_check_err(c, &st->loc, "question `%s` is reachable over USSD but its "
				       "pattern needs %s, which a keypad (digits, * and #) cannot type: "
				       "accept digits too, or use `date`, `month` or `digits`",
				       st->name, bad);
		}
	}
}

