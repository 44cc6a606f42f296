/* Queries on a loaded flow set (lookups by name, keyword, USSD code; text choice) and the
 * word folding shared by the loader, the checker and the engine. Nothing here loads or
 * checks: see flow_load.c and flow_check.c. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow.h"

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

const struct flow *flow_find(const struct flow_set *fs, const char *name)
{
	unsigned i;

	if (!fs || !name)
		return NULL;
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
	for (i = 0; i < f->n_steps; i++)
		if (f->steps[i].name && !strcmp(f->steps[i].name, name))
			return (int)i;
	return -1;
}

const struct flow *flow_by_keyword(const struct flow_set *fs, const char *text)
{
	char word[128];
	size_t len;
	unsigned i, j;

	if (!fs || !text)
		return NULL;
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	len = strcspn(text, " \t\r\n");
	if (!len || len >= sizeof(word))
		return NULL;
	fold_into(text, len, word);
	for (i = 0; i < fs->n_flows; i++)
		for (j = 0; j < fs->flows[i].n_keywords; j++)
			if (!strcmp(fs->flows[i].keywords[j], word))
				return &fs->flows[i];
	return NULL;
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
	for (i = 0; lang && i < t->n; i++) {
		if (t->tr[i].lang && !strcasecmp(t->tr[i].lang, lang)) {
			tr = &t->tr[i];
			break;
		}
	}
	return ussd && tr->ussd ? tr->ussd : tr->text;
}
