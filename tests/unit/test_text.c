/* Unit tests for text.c: GSM-7 / UCS-2 coding, parts, budgets, folding, conversions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>
#include <osmocom/gsm/gsm_utils.h>

#include <guichet/text.h>
#include "unit_main.h"

static void *ctx;

/* n copies of unit (a UTF-8 string) in a talloc'd string. */
static char *rep(const char *unit, unsigned n)
{
	size_t ul = strlen(unit);
	char *s = talloc_size(ctx, ul * n + 1);
	unsigned i;

	for (i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

static char *cat(const char *a, const char *b)
{
	return talloc_asprintf(ctx, "%s%s", a, b);
}

static void check_measure(const char *s, enum text_coding coding, unsigned units,
			  unsigned parts)
{
	struct text_measure m;

	text_measure(s, &m);
	CU_ASSERT_EQUAL(m.coding, coding);
	CU_ASSERT_EQUAL(m.units, units);
	CU_ASSERT_EQUAL(m.parts, parts);
	if (m.coding != coding || m.units != units || m.parts != parts)
		fprintf(stderr, "\n  measure(\"%.40s...\"): coding %d units %u parts %u, "
			"expected %d %u %u\n", s, m.coding, m.units, m.parts, coding, units, parts);
}

/* Splits s in coding, checks the part count, that parts re-join to s, and that each part
 * fits a part's size. */
static void check_split(const char *s, enum text_coding coding, unsigned expect_parts)
{
	char **parts = NULL, *joined = talloc_strdup(ctx, "");
	unsigned n = text_split_sms(ctx, s, coding, &parts), i;
	unsigned limit = coding == TEXT_GSM7 ? (n == 1 ? 160 : 153) : (n == 1 ? 70 : 67);

	CU_ASSERT_EQUAL(n, expect_parts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(parts);
	for (i = 0; i < n; i++) {
		uint8_t buf[160 * 4];
		int units;

		CU_ASSERT_PTR_NOT_NULL_FATAL(parts[i]);
		/* A part is sized in the coding of the whole message, not its own. */
		if (coding == TEXT_GSM7)
			units = text_utf8_to_gsm7(parts[i], buf, sizeof(buf));
		else
			units = text_utf8_to_ucs2be(parts[i], buf, sizeof(buf)) / 2;
		CU_ASSERT(units >= 0 && (unsigned)units <= limit);
		/* Only the last part may be empty, and only when the message is. */
		CU_ASSERT(units > 0 || n == 1);
		joined = talloc_strdup_append(joined, parts[i]);
	}
	CU_ASSERT_PTR_NULL(parts[n]);
	CU_ASSERT_STRING_EQUAL(joined, s);
	talloc_free(parts);
	talloc_free(joined);
}

/* ---- Coding choice -------------------------------------------------------------------- */

static void test_french_gsm7(void)
{
	const char *s = "Votre rendez-vous à la mairie est confirmé. Où ? Rue Émile-Zola, "
			"près de l'école. Ça ira !";

	CU_ASSERT_TRUE(text_is_gsm7(s));
	CU_ASSERT_TRUE(text_is_gsm7("é è à ù ì ò É Ç Ä Ö Ñ Ü ä ö ñ ü ß Å å Æ æ Ø ø"));
	CU_ASSERT_TRUE(text_is_gsm7("@£$¥¤§¡¿_ΔΦΓΛΩΠΨΣΘΞ\r\n"));
	check_measure("é", TEXT_GSM7, 1, 1);
	check_measure("", TEXT_GSM7, 0, 1);
	check_measure(s, TEXT_GSM7, text_chars(s), 1);
}

static void test_french_ucs2(void)
{
	const char *bad[] = {
		"fenêtre", "l’état", "garçon", "cœur", "« oui »", "attendez…", "20°C",
		"10\xc2\xa0h", "Noël", "maïs", "`", "tab\there", "Œuvre", "pâte", "île", "hôtel",
		"sûr", "L'HAY-LES-ROSES — 2", NULL,
	};
	unsigned i;

	for (i = 0; bad[i]; i++) {
		struct text_measure m;

		CU_ASSERT_FALSE(text_is_gsm7(bad[i]));
		text_measure(bad[i], &m);
		CU_ASSERT_EQUAL(m.coding, TEXT_UCS2);
		CU_ASSERT_EQUAL(m.units, text_chars(bad[i]));
	}
	/* One ê in 100 GSM-7 characters: the whole message goes UCS-2 and takes 2 parts. */
	check_measure(cat(rep("a", 99), "ê"), TEXT_UCS2, 100, 2);
	check_measure(rep("a", 100), TEXT_GSM7, 100, 1);
}

static void test_emoji(void)
{
	struct text_measure m;

	text_measure("Merci 🙂", &m);
	CU_ASSERT_EQUAL(m.coding, TEXT_UCS2);
	CU_ASSERT_EQUAL(m.units, 8);	/* 6 + a surrogate pair */
	CU_ASSERT_EQUAL(m.chars, 7);
	CU_ASSERT_EQUAL(m.parts, 1);
	check_measure(rep("🙂", 35), TEXT_UCS2, 70, 1);
	check_measure(rep("🙂", 36), TEXT_UCS2, 72, 2);
	/* 33 emoji = 66 units per part: the 34th does not fit the last unit of a part. */
	check_measure(rep("🙂", 67), TEXT_UCS2, 134, 3);
	check_measure(cat("a", rep("🙂", 66)), TEXT_UCS2, 133, 2);
}

static void test_invalid_utf8(void)
{
	struct text_measure m;

	text_measure("abc\xff", &m);
	CU_ASSERT_EQUAL(m.coding, TEXT_UCS2);
	CU_ASSERT_EQUAL(m.units, 4);
	CU_ASSERT_EQUAL(m.chars, 4);
	CU_ASSERT_FALSE(text_is_gsm7("\xc3"));
	/* A truncated 3-byte sequence is one U+FFFD, the next ASCII byte survives. */
	CU_ASSERT_EQUAL(text_chars("\xe2\x80" "a"), 2);
	/* Overlong and surrogate encodings are invalid too. */
	CU_ASSERT_FALSE(text_is_gsm7("\xc0\xaf"));
	CU_ASSERT_FALSE(text_is_gsm7("\xed\xa0\x80"));
	CU_ASSERT_EQUAL(text_chars("h\xc3\xa9llo"), 5);
}

/* ---- Parts ---------------------------------------------------------------------------- */

static void test_parts_gsm7(void)
{
	check_measure(rep("a", 160), TEXT_GSM7, 160, 1);
	check_measure(rep("a", 161), TEXT_GSM7, 161, 2);
	check_measure(rep("a", 306), TEXT_GSM7, 306, 2);
	check_measure(rep("a", 307), TEXT_GSM7, 307, 3);
	check_measure(rep("a", 459), TEXT_GSM7, 459, 3);
	check_measure(rep("a", 460), TEXT_GSM7, 460, 4);
}

static void test_parts_ucs2(void)
{
	check_measure(rep("ê", 70), TEXT_UCS2, 70, 1);
	check_measure(rep("ê", 71), TEXT_UCS2, 71, 2);
	check_measure(rep("ê", 134), TEXT_UCS2, 134, 2);
	check_measure(rep("ê", 135), TEXT_UCS2, 135, 3);
}

static void test_extension_table(void)
{
	check_measure("€", TEXT_GSM7, 2, 1);
	check_measure("[]{}~\\^|\f€", TEXT_GSM7, 20, 1);
	CU_ASSERT_EQUAL(text_chars("[]{}~\\^|\f€"), 10);
	check_measure(rep("€", 80), TEXT_GSM7, 160, 1);
	check_measure(cat(rep("€", 80), "a"), TEXT_GSM7, 161, 2);
	/* 152 septets then €: the escape pair would straddle septets 153/154, so € opens part
	 * 2. 306 septets in all, yet 3 parts. */
	check_measure(cat(cat(rep("a", 152), "€"), rep("a", 152)), TEXT_GSM7, 306, 3);
	/* Without the straddle the same length takes 2. */
	check_measure(cat(cat(rep("a", 151), "€"), rep("a", 153)), TEXT_GSM7, 306, 2);
	check_measure(cat(rep("€", 76), rep("a", 154)), TEXT_GSM7, 306, 2);
}

static void test_split(void)
{
	char **parts;
	unsigned n;

	check_split("", TEXT_GSM7, 1);
	check_split("Bonjour", TEXT_GSM7, 1);
	check_split(rep("a", 160), TEXT_GSM7, 1);
	check_split(rep("a", 161), TEXT_GSM7, 2);
	check_split(rep("a", 306), TEXT_GSM7, 2);
	check_split(rep("a", 307), TEXT_GSM7, 3);
	check_split(rep("é", 400), TEXT_GSM7, 3);
	check_split(rep("ê", 70), TEXT_UCS2, 1);
	check_split(rep("ê", 71), TEXT_UCS2, 2);
	check_split(rep("🙂", 100), TEXT_UCS2, 4);
	check_split(cat("x", rep("🙂", 100)), TEXT_UCS2, 4);
	check_split("abc\xff\xfe", TEXT_UCS2, 1);

	/* The escape straddling the boundary goes whole into part 2. */
	n = text_split_sms(ctx, cat(cat(rep("a", 152), "€"), rep("b", 10)), TEXT_GSM7, &parts);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(parts[0], rep("a", 152));
	CU_ASSERT_STRING_EQUAL(parts[1], cat("€", rep("b", 10)));
	talloc_free(parts);

	/* The surrogate pair straddling unit 67/68 goes whole into part 2. */
	n = text_split_sms(ctx, cat(rep("ê", 66), rep("🙂", 3)), TEXT_UCS2, &parts);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(parts[0], rep("ê", 66));
	CU_ASSERT_STRING_EQUAL(parts[1], rep("🙂", 3));
	talloc_free(parts);

	/* GSM-7 cannot carry ê: no parts rather than a silent substitution. */
	parts = (char **)1;
	CU_ASSERT_EQUAL(text_split_sms(ctx, "fenêtre", TEXT_GSM7, &parts), 0);
	CU_ASSERT_PTR_NULL(parts);

	/* A long French text, measured and split the same way. */
	{
		const char *para = "Votre demande d'acte de naissance a été enregistrée ; "
				   "vous serez prévenu(e) par SMS dès qu'il sera prêt. ";
		char *s = rep(para, 6);
		struct text_measure m;

		text_measure(s, &m);
		check_split(s, m.coding, m.parts);
	}
}

/* ---- Budgets -------------------------------------------------------------------------- */

static void test_budgets(void)
{
	struct text_budget b = text_budget_sms(1), u;

	CU_ASSERT_EQUAL(b.gsm7_units, 160);
	CU_ASSERT_EQUAL(b.ucs2_units, 70);
	b = text_budget_sms(3);
	CU_ASSERT_EQUAL(b.gsm7_units, 459);
	CU_ASSERT_EQUAL(b.ucs2_units, 201);
	b = text_budget_sms(0);
	CU_ASSERT_EQUAL(b.gsm7_units, 0);
	CU_ASSERT_FALSE(text_fits("a", &b));

	b = text_budget_sms(1);
	CU_ASSERT_TRUE(text_fits(rep("a", 160), &b));
	CU_ASSERT_FALSE(text_fits(rep("a", 161), &b));
	CU_ASSERT_TRUE(text_fits(rep("ê", 70), &b));
	CU_ASSERT_FALSE(text_fits(rep("ê", 71), &b));
	CU_ASSERT_FALSE(text_fits(cat(rep("a", 159), "€"), &b));
	CU_ASSERT_TRUE(text_fits(rep("🙂", 35), &b));
	CU_ASSERT_FALSE(text_fits(cat(rep("🙂", 35), "a"), &b));

	b = text_budget_sms(2);
	CU_ASSERT_TRUE(text_fits(rep("a", 306), &b));
	CU_ASSERT_FALSE(text_fits(rep("a", 307), &b));
	/* 306 septets that need 3 parts because of a straddling escape do not fit 2. */
	CU_ASSERT_FALSE(text_fits(cat(cat(rep("a", 152), "€"), rep("a", 152)), &b));
	CU_ASSERT_TRUE(text_fits(cat(cat(rep("a", 151), "€"), rep("a", 153)), &b));
	CU_ASSERT_TRUE(text_fits(rep("ê", 134), &b));
	CU_ASSERT_FALSE(text_fits(rep("ê", 135), &b));

	/* USSD through osmo-hlr: 128 GSM-7 characters, 56 UCS-2 units. */
	u = text_budget_ussd(128);
	CU_ASSERT_EQUAL(u.gsm7_units, 128);
	CU_ASSERT_EQUAL(u.ucs2_units, 56);
	CU_ASSERT_TRUE(text_fits(rep("a", 128), &u));
	CU_ASSERT_FALSE(text_fits(rep("a", 129), &u));
	CU_ASSERT_TRUE(text_fits(cat(rep("a", 126), "€"), &u));
	CU_ASSERT_FALSE(text_fits(cat(rep("a", 127), "€"), &u));
	CU_ASSERT_TRUE(text_fits(rep("ô", 56), &u));
	CU_ASSERT_FALSE(text_fits(rep("ô", 57), &u));
	CU_ASSERT_TRUE(text_fits("1. Acte de naissance\n2. Rendez-vous mairie\n3. Déclarer un décès\n"
				 "0. Retour", &u));
	u = text_budget_ussd(182);
	CU_ASSERT_EQUAL(u.gsm7_units, 182);
	CU_ASSERT_EQUAL(u.ucs2_units, 79);
}

/* ---- Folding -------------------------------------------------------------------------- */

static void check_fold(const char *in, const char *expect)
{
	char *out = text_fold_gsm7(ctx, in);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, expect);
	if (strcmp(out, expect))
		fprintf(stderr, "\n  fold(\"%s\") = \"%s\", expected \"%s\"\n", in, out, expect);
	talloc_free(out);
}

/* text_fits answers short texts without measuring them: over random texts of every size
 * around the bounds (ASCII, escapes, accents outside GSM-7, emoji, broken bytes), it must
 * agree with the full measure, for SMS budgets of 1 to 4 parts and USSD screens. */
static bool fits_by_measure(const char *t, const struct text_budget *b, unsigned sms_parts)
{
	struct text_measure m;

	text_measure(t, &m);
	if (sms_parts)
		return m.parts <= sms_parts;
	return m.units <= (m.coding == TEXT_GSM7 ? b->gsm7_units : b->ucs2_units);
}

static void test_fits_short_cut(void)
{
	static const char *const units[] = { "a", "{", "\u00e9", "\u00ea", "\U0001F600", "\xff",
					     "\u20ac", " " };
	unsigned seed = 14;

	for (unsigned round = 0; round < 3000; round++) {
		char buf[600];
		size_t len = 0, want = 40 + round % 260;

		while (len < want) {
			seed = seed * 1103515245u + 12345u;
			unsigned pick = (seed >> 16) % 64;
			/* Mostly ASCII with a rare character outside GSM-7: a byte per unit, the
			 * tightest case for the shortcut. */
			const char *u = round % 3 == 0 ? units[pick % 8] : round % 3 == 1 ? units[pick % 2]
				      : pick ? "a" : "\u00ea";
			size_t ul = strlen(u);
			if (len + ul >= sizeof(buf))
				break;
			memcpy(buf + len, u, ul);
			len += ul;
		}
		buf[len] = '\0';
		for (unsigned n = 1; n <= 4; n++) {
			struct text_budget b = text_budget_sms(n);
			CU_ASSERT_EQUAL(text_fits(buf, &b), fits_by_measure(buf, &b, n));
		}
		struct text_budget u1 = text_budget_ussd(182), u2 = text_budget_ussd(128);
		CU_ASSERT_EQUAL(text_fits(buf, &u1), fits_by_measure(buf, &u1, 0));
		CU_ASSERT_EQUAL(text_fits(buf, &u2), fits_by_measure(buf, &u2, 0));
	}
}

/* text_is_gsm7 skips plain ASCII 8 bytes at a time: every ASCII byte, at every place in and
 * around such a block, and accents beside it, must give what the full measure says. */
static void test_is_gsm7_every_byte(void)
{
	for (unsigned c = 1; c < 0x80; c++) {
		for (unsigned at = 0; at < 20; at++) {
			char s[32];
			memset(s, 'a', 20);
			s[20] = '\0';
			s[at] = (char)c;
			struct text_measure m;
			text_measure(s, &m);
			CU_ASSERT_EQUAL(text_is_gsm7(s), m.coding == TEXT_GSM7);
		}
	}
	static const char *const mixed[] = { "abcdefgh\u00e9ijklmnop", "abcdefgh\u00eaijklmnop",
					     "abcdefghijklmno\u20ac", "abcdefghijklmnop`",
					     "abcdefg\x7fhijklmnop", "abcdefgh\nijklmnop\r",
					     "abcdefghijklmnop\xff", "abc\xc3(defghijkl",
					     "abcdefghijklmno\xc3", "\xc2\xa3 abcdefghij",
					     "abcdefgh\xc2\xa0ijklmnop" };
	for (unsigned i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
		struct text_measure m;
		text_measure(mixed[i], &m);
		CU_ASSERT_EQUAL(text_is_gsm7(mixed[i]), m.coding == TEXT_GSM7);
	}
}

/* A text's last bytes (fewer than 8) are read with the 8 before its end, those already read
 * shifted out: an accent, a sign outside GSM-7 or a broken byte at every place of texts of
 * every length up to 24, so that every tail follows every kind of character. */
static void test_is_gsm7_tails(void)
{
	static const char *const marks[] = { "\u00e9", "\u20ac", "\u0153", "`", "\xc3", "\n",
					     "{", "\u00e0\u00e9" };

	for (unsigned m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
		for (unsigned len = 0; len <= 24; len++) {
			for (unsigned at = 0; at <= len; at++) {
				char s[40];
				memset(s, 'x', at);
				strcpy(s + at, marks[m]);
				memset(s + strlen(s), 'y', len - at);
				s[strlen(marks[m]) + len] = '\0';
				struct text_measure t;
				text_measure(s, &t);
				CU_ASSERT_EQUAL(text_is_gsm7(s), t.coding == TEXT_GSM7);
			}
		}
	}
}

/* The same, for 20,000 random texts of French words, accents, signs outside GSM-7 and
 * broken bytes, at every alignment: text_is_gsm7 reads only the character after a plain
 * run, then words again. */
static void test_is_gsm7_random(void)
{
	static const char *const bits[] = { "a", "bc", "défg", " ", "é", "à", "€", "ê", "œ", "`",
					    "\n", "\x7f", "\xc3", "\xff", "Ç", "ù", "{", "€uro",
					    "Rendez-vous ", "\xe2\x82", "12345678" };
	unsigned seed = 12345;

	for (int n = 0; n < 20000; n++) {
		char s[160];
		size_t len = 0;
		unsigned k = (seed = seed * 1103515245u + 12345u) >> 16 & 15;

		s[0] = '\0';
		for (unsigned i = 0; i < k; i++) {
			const char *b = bits[((seed = seed * 1103515245u + 12345u) >> 16) %
					     (sizeof(bits) / sizeof(bits[0]))];
			/* mostly plain text: a rare bit from the end of the table */
			if (((seed >> 8) & 3) && strlen(b) > 2)
				b = "abcdefgh";
			if (len + strlen(b) < sizeof(s)) {
				strcpy(s + len, b);
				len += strlen(b);
			}
		}
		struct text_measure m;
		text_measure(s, &m);
		CU_ASSERT_EQUAL(text_is_gsm7(s), m.coding == TEXT_GSM7);
	}
}

static void test_fold(void)
{
	check_fold("fenêtre château île hôtel sûr Noël maïs L'Haÿ", "fenetre chateau ile hotel sur "
		   "Noel mais L'Hay");
	check_fold("garçon GARÇON", "garcon GARÇON");
	check_fold("cœur Œuvre", "coeur OEuvre");
	check_fold("l’état ‘a’", "l'état 'a'");
	check_fold("« oui » “non”", "\" oui \" \"non\"");
	check_fold("attendez…", "attendez...");
	check_fold("10\xc2\xa0h 10\xe2\x80\xaf%", "10 h 10 %");
	check_fold("a – b — c", "a - b - c");
	check_fold("20°C", "20oC");
	check_fold("ÂÊÎÔÛ ÀÈÙ", "AEIOU AEU");
	/* Already GSM-7: untouched. */
	check_fold("é è à ù ì ò É Ç €[]", "é è à ù ì ò É Ç €[]");
	/* No sensible fold: the emoji stays, so the text stays UCS-2. */
	check_fold("Merci 🙂", "Merci 🙂");
	/* Invalid bytes become U+FFFD, keeping the result valid UTF-8. */
	check_fold("a\xff" "b", "a\xef\xbf\xbd" "b");
	check_fold("", "");
}

static void test_fold_restores_gsm7(void)
{
	const char *s = "Votre dossier n°42 est prêt : présentez-vous à l’accueil « État civil » "
			"avec votre pièce d’identité… Merci de votre coopération — la mairie.";
	struct text_measure before, after;
	char *f;

	text_measure(s, &before);
	CU_ASSERT_EQUAL(before.coding, TEXT_UCS2);
	CU_ASSERT_EQUAL(before.parts, 3);
	f = text_fold_gsm7(ctx, s);
	CU_ASSERT_TRUE(text_is_gsm7(f));
	text_measure(f, &after);
	CU_ASSERT_EQUAL(after.coding, TEXT_GSM7);
	CU_ASSERT_EQUAL(after.parts, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(f, "présentez-vous à l'accueil \" État civil \""));
	talloc_free(f);
}

/* ---- Conversions ---------------------------------------------------------------------- */

static void test_gsm7_roundtrip(void)
{
	const char *s = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
			"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
			"\f^{}\\[~]|€";
	uint8_t sept[256];
	int n = text_utf8_to_gsm7(s, sept, sizeof(sept));
	char *back;
	unsigned i;

	/* 128 - escape = 127 characters of the default alphabet, 10 extensions of 2. */
	CU_ASSERT_EQUAL(n, 127 + 20);
	/* The default alphabet in order: septet i is at position i (escape skipped). */
	for (i = 0; i < 127; i++)
		CU_ASSERT_EQUAL(sept[i], i < 0x1B ? i : i + 1);
	back = text_gsm7_to_utf8(ctx, sept, (size_t)n);
	CU_ASSERT_STRING_EQUAL(back, s);
	talloc_free(back);

	n = text_utf8_to_gsm7("a€", sept, sizeof(sept));
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(sept[0], 0x61);
	CU_ASSERT_EQUAL(sept[1], 0x1B);
	CU_ASSERT_EQUAL(sept[2], 0x65);

	CU_ASSERT_EQUAL(text_utf8_to_gsm7("fenêtre", sept, sizeof(sept)), -1);
	CU_ASSERT_EQUAL(text_utf8_to_gsm7("abc", sept, 2), -1);
	CU_ASSERT_EQUAL(text_utf8_to_gsm7("ab€", sept, 3), -1);	/* escape pair does not fit */
	CU_ASSERT_EQUAL(text_utf8_to_gsm7("ab€", sept, 4), 4);
	CU_ASSERT_EQUAL(text_utf8_to_gsm7("", sept, 0), 0);
}

/* On ASCII, where libosmocore's table is right, our septets packed by gsm_septet_pack()
 * must be the octets gsm_7bit_encode_n() produces and decode back through it. */
static void test_gsm7_agrees_with_libosmocore(void)
{
	const char *s = "Hello @home: 100$ _ok_ [a] {b} ~c\\ ^|\nfin";
	uint8_t sept[128], ours[128], theirs[128];
	char dec[128];
	int n = text_utf8_to_gsm7(s, sept, sizeof(sept)), octets = 0, their_septets;
	int our_octets;

	CU_ASSERT_FATAL(n > 0);
	our_octets = gsm_septet_pack(ours, sept, (size_t)n, 0);
	their_septets = gsm_7bit_encode_n(theirs, sizeof(theirs), s, &octets);
	CU_ASSERT_EQUAL(their_septets, n);
	CU_ASSERT_EQUAL(our_octets, octets);
	CU_ASSERT_EQUAL(memcmp(ours, theirs, (size_t)octets), 0);
	gsm_7bit_decode_n(dec, sizeof(dec), ours, (uint8_t)n);
	CU_ASSERT_STRING_EQUAL(dec, s);
}

static void test_gsm7_decode_edges(void)
{
	const uint8_t unknown_ext[] = { 0x1B, 0x41, 'b' - 'a' + 0x61 };
	const uint8_t trailing_esc[] = { 0x61, 0x1B };
	const uint8_t high[] = { 0x61, 0x80 };
	char *s;

	s = text_gsm7_to_utf8(ctx, unknown_ext, sizeof(unknown_ext));
	CU_ASSERT_STRING_EQUAL(s, "Ab");
	s = text_gsm7_to_utf8(ctx, trailing_esc, sizeof(trailing_esc));
	CU_ASSERT_STRING_EQUAL(s, "a");
	s = text_gsm7_to_utf8(ctx, high, sizeof(high));
	CU_ASSERT_STRING_EQUAL(s, "a\xef\xbf\xbd");
	s = text_gsm7_to_utf8(ctx, high, 0);
	CU_ASSERT_STRING_EQUAL(s, "");
}

static void test_ucs2_roundtrip(void)
{
	const char *s = "Aé€ê’🙂😀 fin";
	uint8_t buf[64];
	int n = text_utf8_to_ucs2be(s, buf, sizeof(buf));
	char *back;

	/* A é € ê ’ = 5 units, 2 emoji = 4 units, " fin" = 4 units. */
	CU_ASSERT_EQUAL(n, 2 * 13);
	CU_ASSERT_EQUAL(buf[0], 0x00);
	CU_ASSERT_EQUAL(buf[1], 0x41);
	CU_ASSERT_EQUAL(buf[4], 0x20);	/* € U+20AC */
	CU_ASSERT_EQUAL(buf[5], 0xAC);
	/* 🙂 U+1F642 = D83D DE42 */
	CU_ASSERT_EQUAL(buf[10], 0xD8);
	CU_ASSERT_EQUAL(buf[11], 0x3D);
	CU_ASSERT_EQUAL(buf[12], 0xDE);
	CU_ASSERT_EQUAL(buf[13], 0x42);
	back = text_ucs2be_to_utf8(ctx, buf, (size_t)n);
	CU_ASSERT_STRING_EQUAL(back, s);
	talloc_free(back);

	CU_ASSERT_EQUAL(text_utf8_to_ucs2be("ab", buf, 3), -1);
	CU_ASSERT_EQUAL(text_utf8_to_ucs2be("a🙂", buf, 5), -1);	/* pair does not fit */
	CU_ASSERT_EQUAL(text_utf8_to_ucs2be("a🙂", buf, 6), 6);
}

static void test_ucs2_decode_edges(void)
{
	const uint8_t lone_hi[] = { 0xD8, 0x3D, 0x00, 0x61 };
	const uint8_t lone_lo[] = { 0xDE, 0x42 };
	const uint8_t odd[] = { 0x00, 0x61, 0x00 };
	const uint8_t padded[] = { 0x00, 0x61, 0x00, 0x00 };
	char *s;

	s = text_ucs2be_to_utf8(ctx, lone_hi, sizeof(lone_hi));
	CU_ASSERT_STRING_EQUAL(s, "\xef\xbf\xbd" "a");
	s = text_ucs2be_to_utf8(ctx, lone_lo, sizeof(lone_lo));
	CU_ASSERT_STRING_EQUAL(s, "\xef\xbf\xbd");
	s = text_ucs2be_to_utf8(ctx, odd, sizeof(odd));
	CU_ASSERT_STRING_EQUAL(s, "a\xef\xbf\xbd");
	s = text_ucs2be_to_utf8(ctx, padded, sizeof(padded));
	CU_ASSERT_STRING_EQUAL(s, "a");
}

static void test_latin1(void)
{
	const uint8_t in[] = { 'F', 0xEA, 't', 'e', ' ', 0xE0, ' ', 0xAB, 0xA0, 0xBB, 0xFF };
	uint8_t all[255];
	char *s;
	unsigned i;

	s = text_latin1_to_utf8(ctx, in, sizeof(in));
	CU_ASSERT_STRING_EQUAL(s, "Fête à «\xc2\xa0»ÿ");
	/* Every byte but NUL round-trips: each is the code point of the same value. */
	for (i = 0; i < 255; i++)
		all[i] = (uint8_t)(i + 1);
	s = text_latin1_to_utf8(ctx, all, sizeof(all));
	CU_ASSERT_EQUAL(text_chars(s), 255);
	{
		uint8_t be[512];
		int n = text_utf8_to_ucs2be(s, be, sizeof(be));

		CU_ASSERT_EQUAL_FATAL(n, 510);
		for (i = 0; i < 255; i++) {
			CU_ASSERT_EQUAL(be[2 * i], 0);
			CU_ASSERT_EQUAL(be[2 * i + 1], i + 1);
		}
	}
}

static const CU_TestInfo tests[] = {
	{ "French stays GSM-7", test_french_gsm7 },
	{ "text_is_gsm7 against the full measure, random texts", test_is_gsm7_random },
	{ "French outside GSM-7 goes UCS-2", test_french_ucs2 },
	{ "emoji", test_emoji },
	{ "invalid UTF-8", test_invalid_utf8 },
	{ "GSM-7 parts", test_parts_gsm7 },
	{ "UCS-2 parts", test_parts_ucs2 },
	{ "extension table", test_extension_table },
	{ "split", test_split },
	{ "budgets", test_budgets },
	{ "short texts fit as measured", test_fits_short_cut },
	{ "GSM-7 or not, byte by byte", test_is_gsm7_every_byte },
	{ "GSM-7 or not, every tail", test_is_gsm7_tails },
	{ "fold", test_fold },
	{ "fold restores GSM-7", test_fold_restores_gsm7 },
	{ "GSM-7 round trip", test_gsm7_roundtrip },
	{ "GSM-7 agrees with libosmocore on ASCII", test_gsm7_agrees_with_libosmocore },
	{ "GSM-7 decode edges", test_gsm7_decode_edges },
	{ "UCS-2 round trip", test_ucs2_roundtrip },
	{ "UCS-2 decode edges", test_ucs2_decode_edges },
	{ "Latin-1", test_latin1 },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("text", tests, &ctx);
}
