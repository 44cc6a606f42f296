/* Queries on a loaded flow set (lookups by name, keyword, USSD code; text choice) and the
 * word folding shared by the loader, the checker and the engine. Nothing here loads or
 * checks: see flow_load.c and flow_check.c. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"
#include "guichet/strhash.h"

/* ------------------------------------------------------------------------------------------ */
/* Word folding */

/* Base letters of U+00C0..U+00FF and U+0100..U+017F; '*' marks the ligatures handled apart
 * (Æ æ Þ þ ß Ĳ ĳ Œ œ) and '\0' what is not a letter (× ÷). */
static const char latin1_base[64 + 1] =
	"AAAAAA*CEEEEIIIIDNOOOOO\0OUUUUY**AAAAAA*CEEEEIIIIDNOOOOO\0OUUUUY*Y";
static const char latin_ext_a[128 + 1] =
	"AAAAAACCCCCCCCDDDDEEEEEEEEEEGGGGGGGGHHHHIIIIIIIIII**JJKKKLLLLLLL"
	"LLLNNNNNNNNNOOOOOO**RRRRRRSSSSSSSSTTTTTTUUUUUUUUUUUUWWYYYZZZZZZS";

static const char *fold_ligature(unsigned cp)
{
	switch (cp) {
	case 0xc6: case 0xe6: return "AE";
	case 0xde: case 0xfe: return "TH";
	case 0xdf: return "SS";
	case 0x132: case 0x133: return "IJ";
	case 0x152: case 0x153: return "OE";
	default: return NULL;
	}
}

/* Decodes one UTF-8 sequence at s (len bytes left); returns its length, *cp = U+FFFD on a bad
 * sequence (length 1). */
static unsigned utf8_next(const unsigned char *s, size_t len, unsigned *cp)
{
	unsigned n, c, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		goto bad;
	}
	if (len < n)
		goto bad;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	*cp = c;
	return n;
bad:
	*cp = 0xfffd;
	return 1;
}

static bool is_fold_space(unsigned cp)
{
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
	       cp == 0xa0 || cp == 0x202f || cp == 0x2009;
}

/* Folds the len bytes at in into out (room for len + 1 bytes: folding never grows a text,
 * a 2-byte letter giving at most 2 ASCII letters). */
static void fold_into(const char *in, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0;
	bool pending_space = false;

	while (i < len) {
		unsigned cp, n = utf8_next(s + i, len - i, &cp);
		const char *lig;

		if (is_fold_space(cp)) {
			pending_space = o > 0;
			i += n;
			continue;
		}
		if (pending_space) {
			out[o++] = ' ';
			pending_space = false;
		}
		if (cp < 0x80) {
			out[o++] = (cp >= 'a' && cp <= 'z') ? (char)(cp - 'a' + 'A') : (char)cp;
		} else if ((lig = fold_ligature(cp))) {
			out[o++] = lig[0];
			out[o++] = lig[1];
		} else if (cp >= 0xc0 && cp <= 0xff && latin1_base[cp - 0xc0]) {
			out[o++] = latin1_base[cp - 0xc0];
		} else if (cp >= 0x100 && cp <= 0x17f) {
			out[o++] = latin_ext_a[cp - 0x100];
		} else {
			memcpy(out + o, s + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
}

char *flow_fold_word(void *ctx, const char *utf8)
{
	size_t len;
	char *out;

	if (!utf8)
		return NULL;
	len = strlen(utf8);
	out = talloc_size(ctx, len + 1);
	if (!out)
		return NULL;
	fold_into(utf8, len, out);
	return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups */

struct flow_slot {
	const char *name;	/* NULL: free */
	int idx;
};

struct flow_index {
	uint32_t mask;
	struct flow_slot *slot;
};

static struct flow_index *index_new(void *ctx, unsigned n)
{
	struct flow_index *ix = talloc_zero(ctx, struct flow_index);
	uint32_t size = 16;

	if (!ix)
		return NULL;
	while (size < 2 * (uint32_t)n)
		size *= 2;
	ix->slot = talloc_zero_array(ix, struct flow_slot, size);
	if (!ix->slot) {
		talloc_free(ix);
		return NULL;
	}
	ix->mask = size - 1;
	return ix;
}

/* Keeps the first of duplicate names. */
static void index_put(struct flow_index *ix, const char *name, int idx)
{
	uint32_t h;

	if (!name)
		return;
	for (h = strhash(name, 0) & ix->mask; ix->slot[h].name; h = (h + 1) & ix->mask)
		if (!strcmp(ix->slot[h].name, name))
			return;
	ix->slot[h].name = name;
	ix->slot[h].idx = idx;
}

static int index_get(const struct flow_index *ix, const char *name)
{
	uint32_t h;

	for (h = strhash(name, 0) & ix->mask; ix->slot[h].name; h = (h + 1) & ix->mask)
		if (!strcmp(ix->slot[h].name, name))
			return ix->slot[h].idx;
	return -1;
}

void flow_index_steps(void *ctx, struct flow *f)
{
	unsigned i;

	talloc_free(f->step_index);
	f->step_index = index_new(ctx, f->n_steps);
	for (i = 0; f->step_index && i < f->n_steps; i++)
		index_put(f->step_index, f->steps[i].name, (int)i);
}

void flow_index_flows(void *ctx, struct flow_set *fs)
{
	unsigned i;

	talloc_free(fs->flow_index);
	fs->flow_index = index_new(ctx, fs->n_flows);
	for (i = 0; fs->flow_index && i < fs->n_flows; i++)
		index_put(fs->flow_index, fs->flows[i].name, (int)i);
}

const struct flow *flow_find(const struct flow_set *fs, const char *name)
{
	unsigned i;

	if (!fs || !name)
		return NULL;
	if (fs->flow_index) {
		int k = index_get(fs->flow_index, name);

		return k < 0 ? NULL : &fs->flows[k];
	}
	for (i = 0; i < fs->n_flows; i++)
		if (fs->flows[i].name && !strcmp(fs->flows[i].name, name))
			return &fs->flows[i];
	return NULL;
}

int flow_step_index(const struct flow *f, const char *name)
{
	unsigned i;

	if (!f || !name)
		return -1;
	if (f->step_index)
		return index_get(f->step_index, name);
	for (i = 0; i < f->n_steps; i++)
		if (f->steps[i].name && !strcmp(f->steps[i].name, name))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Keywords and answers as people type them */

/* Characters around or inside a word that are noise, not a different word: ASCII
 * punctuation and the typographic marks phones insert (« » ’ ‘ “ ” … – —). Returns the
 * length of the mark at s, 0 when s is not one. */
static size_t noise_len(const char *s)
{
	static const char *const marks[] = { "\u00ab", "\u00bb", "\u2019", "\u2018", "\u201c",
					     "\u201d", "\u2026", "\u2013", "\u2014", "\u00a1",
					     "\u00bf", "\ufe0f" };
	unsigned char c = (unsigned char)*s;

	/* ASCII punctuation and spaces, as ispunct() and isspace() in the C locale, without a
	 * call: this runs on every byte of every keyword and answer. */
	if (c && c < 0x80)
		return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
		       (c >= '{' && c <= '~') || c == ' ' || (c >= '\t' && c <= '\r');
	/* Every mark starts with one of these bytes. */
	if (c != 0xc2 && c != 0xe2 && c != 0xef)
		return 0;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (!strncmp(s, marks[i], strlen(marks[i])))
			return strlen(marks[i]);
	return 0;
}

/* Keycap emoji (1️⃣ = "1" U+FE0F U+20E3) and full-width digits are digits typed on a
 * phone; they become ASCII digits, written to out (room for strlen(in) + 1). */
static void plain_digits(char *out, const char *in)
{
	char *o = out;

	while (*in) {
		const unsigned char *u = (const unsigned char *)in;

		if (u[0] == 0xef && u[1] == 0xbc && u[2] >= 0x90 && u[2] <= 0x99) {
			*o++ = (char)('0' + u[2] - 0x90);	/* U+FF10..U+FF19 */
			in += 3;
		} else if (!strncmp(in, "\ufe0f", 3) || !strncmp(in, "\u20e3", 3)) {
			in += 3;
		} else {
			*o++ = *in++;
		}
	}
	*o = '\0';
}

char *flow_fold_answer(void *ctx, const char *utf8)
{
	char stack[256], *digits, *out;
	size_t len, start = 0, n;

	if (!utf8)
		return NULL;
	/* Answers are short: the digits step on the stack, one allocation for the result. */
	len = strlen(utf8);
	digits = len < sizeof(stack) ? stack : talloc_size(ctx, len + 1);
	if (!digits)
		return NULL;
	plain_digits(digits, utf8);
	len = strlen(digits);
	out = talloc_size(ctx, len + 1);
	if (out)
		fold_into(digits, len, out);
	if (digits != stack)
		talloc_free(digits);
	if (!out)
		return NULL;
	while (out[start] && (n = noise_len(out + start)))
		start += n;
	memmove(out, out + start, strlen(out + start) + 1);
	/* Trailing noise: cut after the last character that is not noise. */
	len = 0;
	for (size_t i = 0; out[i]; i += n ? n : 1) {
		n = noise_len(out + i);
		if (!n)
			len = i + 1;
	}
	out[len] = '\0';
	return out;
}

/* A word without its noise ("R.D.V." -> "RDV", "RENDEZ-VOUS" -> "RENDEZVOUS"), appended to
 * out (room: max bytes with the NUL); false when it does not fit. */
static bool squeeze_append(char *out, size_t max, const char *word, size_t len)
{
	size_t o = strlen(out), i = 0, n;

	while (i < len) {
		if ((n = noise_len(word + i))) {
			i += n;
			continue;
		}
		if (o + 1 >= max)
			return false;
		out[o++] = word[i++];
	}
	out[o] = '\0';
	return true;
}

#define KEYWORD_WORDS 3		/* "RENDEZ - VOUS": words joined to make one keyword */
#define KEYWORD_MAX FLOW_KEYWORD_MAX

#define KEYWORD_FOLDED 256

/* text folded as keyword_candidates() reads it, in folded (KEYWORD_FOLDED bytes). */
static void keyword_fold(const char *text, char *folded)
{
	size_t len = strlen(text);

	if (len >= KEYWORD_FOLDED)
		len = KEYWORD_FOLDED - 1;
	fold_into(text, len, folded);	/* may cut a character: the first words are enough */
}

/* s's first character that is not noise ('\0' when there is none): every candidate of a
 * text, and a keyword squeezed, begin with it. */
static char first_not_noise(const char *s)
{
	size_t n;

	while (*s && (n = noise_len(s)))
		s += n;
	return *s;
}

/* The first words of a folded text (keyword_fold()), squeezed: cand[k] joins the first k + 1 words that
 * are not noise alone. Returns how many candidates were built; rest[k] is true when text
 * holds more words than candidate k used. One pass over the folded text, each word squeezed
 * straight into its candidate (this runs on every text in the middle of a procedure). */
static unsigned keyword_candidates(const char *folded, char cand[KEYWORD_WORDS][KEYWORD_MAX],
				   bool rest[KEYWORD_WORDS])
{
	unsigned k = 0, words = 0;
	bool building = true;
	const char *p = folded;

	cand[0][0] = '\0';
	/* Past the last candidate, words are only counted, up to one more than it used. */
	while (*p && (building || words <= k)) {
		size_t wl = strcspn(p, " "), i = 0, n;

		/* The first character that is not noise; a word counts as a word when it lies
		 * within its first KEYWORD_MAX - 1 bytes. */
		while (i < wl && (n = noise_len(p + i)))
			i += n;
		if (i < wl && i < KEYWORD_MAX - 1)
			words++;
		if (building && i < wl) {
			/* cand[k] = cand[k - 1] and this word, squeezed; too long ends the
			 * candidates (a word too long alone is too long joined). */
			size_t o = 0;

			if (k) {
				o = strlen(cand[k - 1]);
				memcpy(cand[k], cand[k - 1], o);
			}
			while (i < wl) {
				if ((n = noise_len(p + i))) {
					i += n;
					continue;
				}
				if (o + 1 >= KEYWORD_MAX)
					break;
				cand[k][o++] = p[i++];
			}
			cand[k][o] = '\0';
			if (i < wl)
				building = false;
			else if (++k == KEYWORD_WORDS)
				building = false;
		}
		p += wl;
		while (*p == ' ')
			p++;
	}
	for (unsigned j = 0; j < k; j++)
		rest[j] = words > j + 1;
	return k;
}

/* keyword, squeezed as squeeze_append() would (and no longer than it allows), is cand:
 * compared as it is squeezed, without a copy, since it runs for every keyword on every text. */
static bool keyword_is(const char *keyword, const char *cand)
{
	size_t o = 0, n;

	while (*keyword) {
		if ((n = noise_len(keyword))) {
			keyword += n;
			continue;
		}
		if (o + 1 >= KEYWORD_MAX || cand[o] != *keyword)
			return false;
		o++;
		keyword++;
	}
	return cand[o] == '\0';
}

const struct flow *flow_match_keyword(const struct flow_set *fs, const char *text, bool whole)
{
	char cand[KEYWORD_WORDS][KEYWORD_MAX];
	bool rest[KEYWORD_WORDS];
	unsigned n, i, j;
	int k;

	char folded[KEYWORD_FOLDED], c;
	bool some = false, is_folded = false;
	const unsigned char *u = (const unsigned char *)text;

	if (!fs || !text)
		return NULL;
	/* Most texts in a procedure ("1", "oui", a date) start with no keyword's first
	 * character: they are turned down before their candidates are built. That character
	 * is read from the text itself when it and the noise before it are ASCII (folding
	 * keeps ASCII noise and drops spaces, which are noise, and upper-cases letters);
	 * otherwise from the folded text. */
	while (*u && *u < 0x80 && noise_len((const char *)u))
		u++;
	if (*u < 0x80) {
		c = *u >= 'a' && *u <= 'z' ? (char)(*u - 'a' + 'A') : (char)*u;
	} else {
		keyword_fold(text, folded);
		is_folded = true;
		c = first_not_noise(folded);
	}
	if (!c)
		return NULL;
	for (i = 0; i < fs->n_flows && !some; i++)
		for (j = 0; j < fs->flows[i].n_keywords && !some; j++)
			some = first_not_noise(fs->flows[i].keywords[j]) == c;
	if (!some)
		return NULL;
	if (!is_folded)
		keyword_fold(text, folded);
	n = keyword_candidates(folded, cand, rest);
	/* The longest join first: "RENDEZ VOUS" is RENDEZVOUS before it is RENDEZ. */
	for (k = (int)n - 1; k >= 0; k--) {
		if (whole && rest[k])
			continue;
		for (i = 0; i < fs->n_flows; i++)
			for (j = 0; j < fs->flows[i].n_keywords; j++)
				if (keyword_is(fs->flows[i].keywords[j], cand[k]))
					return &fs->flows[i];
	}
	return NULL;
}

const struct flow *flow_by_keyword(const struct flow_set *fs, const char *text)
{
	return flow_match_keyword(fs, text, false);
}

/* Optimal string alignment distance, capped: 0, 1, or 2 meaning "2 or more". */
static unsigned distance_upto1(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (!strcmp(a, b))
		return 0;
	if (la == lb) {
		size_t i = 0;

		while (a[i] == b[i])
			i++;
		/* one letter changed, or two neighbours swapped */
		if (!strcmp(a + i + 1, b + i + 1))
			return 1;
		if (i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] && !strcmp(a + i + 2, b + i + 2))
			return 1;
		return 2;
	}
	if (la + 1 == lb || lb + 1 == la) {
		const char *s = la < lb ? a : b, *l = la < lb ? b : a;
		size_t i = 0;

		while (s[i] && s[i] == l[i])
			i++;
		return !strcmp(s + i, l + i + 1) ? 1 : 2;	/* one letter added or dropped */
	}
	return 2;
}

static bool is_word_of(const struct flow_words *w, const char *cand)
{
	const char *const *lists[] = { w->help, w->back, w->restart, w->stop, w->more };
	unsigned ns[] = { w->n_help, w->n_back, w->n_restart, w->n_stop, w->n_more };

	for (unsigned i = 0; i < 5; i++)
		for (unsigned j = 0; j < ns[i]; j++)
			if (keyword_is(lists[i][j], cand))
				return true;
	return false;
}

const struct flow *flow_keyword_near(const struct flow_set *fs, const char *text,
				     const char **keyword)
{
	char cand[KEYWORD_WORDS][KEYWORD_MAX];
	bool rest[KEYWORD_WORDS];
	const struct flow *found = NULL;
	const char *kw = NULL;
	unsigned n, i, j, k;

	char folded[KEYWORD_FOLDED];

	if (!fs || !text)
		return NULL;
	keyword_fold(text, folded);
	n = keyword_candidates(folded, cand, rest);
	if (n && is_word_of(&fs->words, cand[0]))
		return NULL;	/* AIDE is help, not a slip on AIDES */
	for (k = 0; k < n; k++) {
		bool digits = true;

		for (const char *c = cand[k]; *c; c++)
			digits &= *c >= '0' && *c <= '9';
		if (strlen(cand[k]) < 3 || digits)
			continue;
		for (i = 0; i < fs->n_flows; i++) {
			for (j = 0; j < fs->flows[i].n_keywords; j++) {
				char kc[KEYWORD_MAX] = "";
				const char *kwj = fs->flows[i].keywords[j];

				squeeze_append(kc, sizeof(kc), kwj, strlen(kwj));
				if (strlen(kc) < 3 || distance_upto1(kc, cand[k]) != 1)
					continue;
				if (found && found != &fs->flows[i])
					return NULL;	/* two flows that close: no guess */
				if (!found) {
					found = &fs->flows[i];
					kw = kwj;
				}
			}
		}
	}
	if (found && keyword)
		*keyword = kw;
	return found;
}

const struct flow *flow_by_ussd(const struct flow_set *fs, const char *code)
{
	unsigned i, j;

	if (!fs || !code)
		return NULL;
	for (i = 0; i < fs->n_flows; i++)
		for (j = 0; j < fs->flows[i].n_ussd; j++)
			if (!strcmp(fs->flows[i].ussd_codes[j], code))
				return &fs->flows[i];
	return NULL;
}

const char *flow_text_pick(const struct flow_text *t, const char *lang, bool ussd)
{
	const struct flow_tr *tr;
	unsigned i;

	if (!t || !t->n)
		return NULL;
	tr = &t->tr[0];
	/* One language (most texts): it is the one, whatever lang asks. */
	for (i = 0; lang && t->n > 1 && i < t->n; i++) {
		if (t->tr[i].lang && !strcasecmp(t->tr[i].lang, lang)) {
			tr = &t->tr[i];
			break;
		}
	}
	return ussd && tr->ussd ? tr->ussd : tr->text;
}
