/* Unit tests for template.c: expansion, filters, single pass, checking with offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include <guichet/template.h>
#include <guichet/text.h>
#include "unit_main.h"

static void *ctx;

/* A lookup over a NULL-terminated array of name, value pairs. */
static const char *lookup_pairs(void *data, const char *name)
{
	const char *const *kv = data;

	for (; kv[0]; kv += 2) {
		if (!strcmp(kv[0], name))
			return kv[1];
	}
	return NULL;
}

static const char *vars[] = {
	"name", "Aïcha",
	"ville", "Saint-Étienne",
	"rdv", "2026-03-02T09:30",
	"rdv_space", "2026-03-02 09:30",
	"rdv_hour", "2026-03-02T14:00",
	"jour", "2026-03-02",
	"premier", "2026-05-01T08:05",
	"bissextile", "2028-02-29",
	"pas_date", "demain matin",
	"vide", "",
	"inject", "{{name}}",
	"half", "{{",
	"item.label", "Acte de naissance",
	"slots.0.id", "A12",
	"mot", "œuvre été ÿ çà",
	"MOT", "ŒUVRE ÉTÉ Ÿ ÇÀ",
	NULL,
};

static void check_expand(const char *tmpl, const char *expect)
{
	char *out = template_expand(ctx, tmpl, lookup_pairs, vars);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, expect);
	if (strcmp(out, expect))
		fprintf(stderr, "\n  expand(\"%s\") = \"%s\", expected \"%s\"\n", tmpl, out, expect);
	talloc_free(out);
}

static void test_plain(void)
{
	check_expand("", "");
	check_expand("Bonjour", "Bonjour");
	check_expand("Bonjour {{name}} !", "Bonjour Aïcha !");
	check_expand("{{ name }}/{{name}}/{{\tname\n}}", "Aïcha/Aïcha/Aïcha");
	check_expand("{{item.label}} : {{ slots.0.id }}", "Acte de naissance : A12");
	check_expand("[{{inconnu}}]", "[]");
	check_expand("{{name}}{{ville}}", "AïchaSaint-Étienne");
	CU_ASSERT_TRUE(template_is_literal("Bonjour { } }} {x}"));
	CU_ASSERT_FALSE(template_is_literal("a {{b}}"));
	CU_ASSERT_FALSE(template_is_literal("a {{"));
}

static void test_lone_braces(void)
{
	check_expand("{ name }", "{ name }");
	check_expand("a } b }} c {", "a } b }} c {");
	check_expand("{x} {{name}} }", "{x} Aïcha }");
}

static void test_upper_lower(void)
{
	check_expand("{{ mot | upper }}", "ŒUVRE ÉTÉ Ÿ ÇÀ");
	check_expand("{{ MOT | lower }}", "œuvre été ÿ çà");
	check_expand("{{ville|upper}}", "SAINT-ÉTIENNE");
	check_expand("{{ name | upper | lower }}", "aïcha");
	check_expand("{{ inconnu | upper }}", "");
}

static void test_dates(void)
{
	check_expand("{{ rdv | date }}", "lundi 2 mars à 9h30");
	check_expand("{{ rdv_space | date }}", "lundi 2 mars à 9h30");
	check_expand("{{ rdv_hour | date }}", "lundi 2 mars à 14h");
	check_expand("{{ jour | date }}", "lundi 2 mars 2026");
	check_expand("{{ rdv | day }}", "lundi 2 mars");
	check_expand("{{ jour | day }}", "lundi 2 mars");
	check_expand("{{ premier | date }}", "vendredi 1er mai à 8h05");
	check_expand("{{ bissextile | date }}", "mardi 29 février 2028");
	check_expand("{{ rdv | day | upper }}", "LUNDI 2 MARS");
	/* Not a date: left as it is rather than lost. */
	check_expand("{{ pas_date | date }}", "demain matin");
	check_expand("{{ inconnu | date }}", "");
}

static const char *lookup_one(void *data, const char *name)
{
	(void)name;
	return data;
}

static void check_date(const char *value, const char *expect)
{
	char *out = template_expand(ctx, "{{d|date}}", lookup_one, (void *)value);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, expect);
	if (strcmp(out, expect))
		fprintf(stderr, "\n  date(\"%s\") = \"%s\", expected \"%s\"\n", value, out, expect);
	talloc_free(out);
}

static void test_weekdays(void)
{
	check_date("2000-01-01", "samedi 1er janvier 2000");
	check_date("2024-02-29", "jeudi 29 février 2024");
	check_date("2025-12-25T00:00", "jeudi 25 décembre à 0h");
	check_date("2026-08-15T23:59:59+01:00", "samedi 15 août à 23h59");
	check_date("2026-06-21T12:07", "dimanche 21 juin à 12h07");
	check_date("2026-07-14", "mardi 14 juillet 2026");
	check_date("2026-04-07", "mardi 7 avril 2026");
	check_date("2026-09-30", "mercredi 30 septembre 2026");
	check_date("2026-10-16", "vendredi 16 octobre 2026");
	check_date("2026-11-11", "mercredi 11 novembre 2026");
	check_date("2026-01-01", "jeudi 1er janvier 2026");
	/* Invalid dates stay as they are. */
	check_date("2026-02-29", "2026-02-29");
	check_date("2026-13-01", "2026-13-01");
	check_date("2026-03-02T25:00", "2026-03-02T25:00");
	check_date("2026-3-2", "2026-3-2");
	check_date("2026-03-02x", "2026-03-02x");
}

static void test_default(void)
{
	check_expand("{{ inconnu | default: \"aucun\" }}", "aucun");
	check_expand("{{ vide | default: \"aucun\" }}", "aucun");
	check_expand("{{ name | default: \"aucun\" }}", "Aïcha");
	check_expand("{{inconnu|default:\"x\"}}", "x");
	check_expand("{{ inconnu | default: \"\" }}", "");
	check_expand("{{ inconnu | default: \"à voir\" | upper }}", "À VOIR");
	check_expand("{{ inconnu | upper | default: \"n/a\" }}", "n/a");
	check_expand("{{ inconnu | default: \"dit \\\"oui\\\" \\\\ }} {{x}}\" }}",
		     "dit \"oui\" \\ }} {{x}}");
	check_expand("{{ inconnu | default: \"2026-03-02\" | date }}", "lundi 2 mars 2026");
}

static void test_single_pass(void)
{
	check_expand("{{inject}}", "{{name}}");
	check_expand("{{ inject | upper }}", "{{NAME}}");
	check_expand("{{half}}name}}", "{{name}}");
	check_expand("{{ inconnu | default: \"{{name}}\" }}", "{{name}}");
}

static void test_expand_malformed(void)
{
	CU_ASSERT_PTR_NULL(template_expand(ctx, "a {{name", lookup_pairs, vars));
	CU_ASSERT_PTR_NULL(template_expand(ctx, "{{ name | capitalize }}", lookup_pairs, vars));
	CU_ASSERT_PTR_NULL(template_expand(ctx, "{{}}", lookup_pairs, vars));
	/* No lookup at all: every variable is unset. */
	{
		char *s = template_expand(ctx, "a{{x}}b", NULL, NULL);

		CU_ASSERT_STRING_EQUAL(s, "ab");
		talloc_free(s);
	}
}

/* Collects reported names as "a,b,c". */
static void collect(void *data, const char *name, size_t len)
{
	char **acc = data;

	*acc = talloc_asprintf_append(*acc, "%s%.*s", **acc ? "," : "", (int)len, name);
}

static void check_ok(const char *tmpl, const char *expect_vars)
{
	char err[128] = "";
	size_t off = 12345;
	char *acc = talloc_strdup(ctx, "");

	CU_ASSERT_EQUAL(template_check(tmpl, collect, &acc, err, sizeof(err), &off), 0);
	CU_ASSERT_STRING_EQUAL(acc, expect_vars);
	if (strcmp(acc, expect_vars) || err[0])
		fprintf(stderr, "\n  check(\"%s\"): vars \"%s\" err \"%s\"\n", tmpl, acc, err);
	talloc_free(acc);
}

static void check_error(const char *tmpl, size_t expect_off, const char *expect_in_msg)
{
	char err[128] = "";
	size_t off = 12345;

	CU_ASSERT_EQUAL(template_check(tmpl, NULL, NULL, err, sizeof(err), &off), -1);
	CU_ASSERT_EQUAL(off, expect_off);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, expect_in_msg));
	if (off != expect_off || !strstr(err, expect_in_msg))
		fprintf(stderr, "\n  check(\"%s\"): off %zu err \"%s\", expected %zu \"%s\"\n",
			tmpl, off, err, expect_off, expect_in_msg);
	/* What the checker refuses, the expander refuses. */
	CU_ASSERT_PTR_NULL(template_expand(ctx, tmpl, lookup_pairs, vars));
}

static void test_check_vars(void)
{
	check_ok("", "");
	check_ok("Bonjour", "");
	check_ok("{{item.label}} le {{ slots.0.id | date }} {{item.label}}",
		 "item.label,slots.0.id,item.label");
	check_ok("{{ a-b_c.D9 | default: \"{{x}}\" | upper }} { y }", "a-b_c.D9");
	/* Everything reported when err and err_off are not wanted. */
	CU_ASSERT_EQUAL(template_check("{{a}}", NULL, NULL, NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(template_check("{{a", NULL, NULL, NULL, 0, NULL), -1);
}

static void test_check_errors(void)
{
	check_error("Bonjour {{name", 8, "unclosed");
	check_error("Bonjour {{name |", 8, "unclosed");
	check_error("Bonjour {{name | upper", 8, "unclosed");
	check_error("ab {{", 3, "unclosed");
	check_error("{{}}", 2, "empty variable name");
	check_error("x {{  | upper }}", 6, "empty variable name");
	check_error("{{ name | capitalize }}", 10, "unknown filter 'capitalize'");
	check_error("{{ a }} {{ name | upper | titre }}", 26, "unknown filter 'titre'");
	check_error("{{ name | }}", 10, "empty filter name");
	check_error("{{ name | default }}", 18, "default");
	check_error("{{ name | default: aucun }}", 19, "double quotes");
	check_error("{{ name | default: \"aucun }}", 19, "unterminated");
	check_error("{{ name | upper: \"x\" }}", 15, "no argument");
	check_error("{{ first name }}", 9, "expected '|' or '}}'");
	check_error("{{ name@ }}", 7, "expected '|' or '}}'");
	check_error("{{ name }", 0, "unclosed");
	check_error("{{ é }}", 3, "empty variable name");
	check_error("{{ a|upper|upper|upper|upper|upper|upper|upper|upper|upper }}", 53,
		    "too many filters");
}

static void test_check_truncated_err(void)
{
	char err[8];
	size_t off;

	CU_ASSERT_EQUAL(template_check("{{ x | nope }}", NULL, NULL, err, sizeof(err), &off), -1);
	CU_ASSERT_EQUAL(strlen(err), sizeof(err) - 1);
	CU_ASSERT_EQUAL(off, 7);
}

static void test_expand_limit(void)
{
	/* Each {{big}} inserts 4 KiB; 20 of them exceed TEMPLATE_EXPAND_MAX. */
	char *big = talloc_size(ctx, 4097), *tmpl = talloc_strdup(ctx, ""), *out;
	unsigned i;

	memset(big, 'a', 4096);
	big[4096] = '\0';
	for (i = 0; i < 15; i++)
		tmpl = talloc_strdup_append(tmpl, "{{big}}");
	out = template_expand(ctx, tmpl, lookup_one, big);
	CU_ASSERT_PTR_NOT_NULL(out);
	CU_ASSERT_EQUAL(strlen(out), 15 * 4096);
	talloc_free(out);
	for (i = 0; i < 5; i++)
		tmpl = talloc_strdup_append(tmpl, "{{big}}");
	CU_ASSERT_PTR_NULL(template_expand(ctx, tmpl, lookup_one, big));
	talloc_free(tmpl);
	talloc_free(big);
}

/* A template that is one variable and nothing else is recognised (the engine then uses the
 * value without a copy); anything more is not: text around, a filter, a second tag, a name
 * that does not fit. */
static void test_single_var(void)
{
	char name[16];

	CU_ASSERT_TRUE(template_single_var("{{item.label}}", name, sizeof(name)));
	CU_ASSERT_STRING_EQUAL(name, "item.label");
	CU_ASSERT_TRUE(template_single_var("{{ slot_label }}", name, sizeof(name)));
	CU_ASSERT_STRING_EQUAL(name, "slot_label");
	CU_ASSERT_FALSE(template_single_var("{{a}} ", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var(" {{a}}", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var("{{a | upper}}", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var("{{a}}{{b}}", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var("{{a}", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var("{{}}", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var("plain", name, sizeof(name)));
	CU_ASSERT_FALSE(template_single_var("{{a_name_of_sixteen}}", name, sizeof(name)));
}


/* template_gsm7_but_values: a template it accepts expands to GSM-7 whenever all the values
 * it inserts are GSM-7 (the engine then checks only the values). Random templates of text,
 * tags, filters and defaults, random values; and it accepts the plain cases it is for. */
static const char *pick_lookup_v;
static const char *lookup_random(void *data, const char *name)
{
	(void)data;
	(void)name;
	return pick_lookup_v;
}

static void test_gsm7_but_values(void)
{
	static const char *const text[] = { "Bonjour ", "é", "à ", "€", "œ", "Ù", "ù", "`", "{",
					    "}", " : ", "\n", "Réf. ", "ÿ", "{ x }" };
	static const char *const tag[] = { "{{v}}", "{{ v }}", "{{v | upper}}", "{{v | lower}}",
					   "{{v | date}}", "{{v | day}}", "{{v | default: \"é\"}}",
					   "{{v | default: \"œ\"}}", "{{v|default:\"\\\"x\\\\\"}}",
					   "{{v | default: \"a\" | upper}}", "{{v", "{{ }}" };
	static const char *const value[] = { "", "Zoé", "ù", "Ù", "œ", "2026-08-03T09:30",
					     "2026-12-01", "abc", "€", "\xc3", "a`b", "lun. 7 déc." };
	unsigned seed = 4242, accepted = 0, rejected = 0;

	for (int n = 0; n < 20000; n++) {
		char t[256] = "";
		size_t len = 0;
		unsigned k = ((seed = seed * 1103515245u + 12345u) >> 16) % 6;

		for (unsigned i = 0; i < k; i++) {
			unsigned r = (seed = seed * 1103515245u + 12345u) >> 16;
			const char *b = r & 1 ? tag[(r >> 1) % (sizeof(tag) / sizeof(tag[0]))]
					      : text[(r >> 1) % (sizeof(text) / sizeof(text[0]))];
			if (len + strlen(b) < sizeof(t)) {
				strcpy(t + len, b);
				len += strlen(b);
			}
		}
		bool flag = template_gsm7_but_values(t);
		accepted += flag;
		rejected += !flag;
		for (unsigned j = 0; flag && j < sizeof(value) / sizeof(value[0]); j++) {
			pick_lookup_v = value[j];
			char *out = template_expand(ctx, t, lookup_random, NULL);
			if (text_is_gsm7(value[j]))
				CU_ASSERT_TRUE(!out || text_is_gsm7(out));
			talloc_free(out);
		}
	}
	CU_ASSERT_TRUE(accepted > 1000 && rejected > 1000);
	CU_ASSERT_TRUE(template_gsm7_but_values("Rendez-vous le {{slot_label}}. Référence {{ref}}."));
	CU_ASSERT_TRUE(template_gsm7_but_values("Créneaux libres :"));
	CU_ASSERT_TRUE(template_gsm7_but_values("{{a | default: \"à voir\"}} €"));
	CU_ASSERT_TRUE(template_gsm7_but_values(""));
	CU_ASSERT_FALSE(template_gsm7_but_values("Bonjour {{nom | upper}}"));
	CU_ASSERT_FALSE(template_gsm7_but_values("Le {{rdv | date}}"));
	CU_ASSERT_FALSE(template_gsm7_but_values("Œuvre {{x}}"));
	CU_ASSERT_FALSE(template_gsm7_but_values("{{x | default: \"œ\"}}"));
	CU_ASSERT_FALSE(template_gsm7_but_values("{{x"));
}

/* A name's characters are [A-Za-z0-9_.-] (a table since issue 14): every byte tried in the
 * middle of a name, by the expander, the checker and template_single_var alike. */
static void test_name_chars(void)
{
	for (unsigned c = 1; c < 256; c++) {
		bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		char t[16], name[16];

		snprintf(t, sizeof(t), "{{a%cb}}", (char)c);
		CU_ASSERT_EQUAL(template_single_var(t, name, sizeof(name)), want);
		CU_ASSERT_EQUAL(template_check(t, NULL, NULL, NULL, 0, NULL) == 0, want);
		char *out = template_expand(ctx, t, lookup_random, NULL);
		CU_ASSERT_EQUAL(out != NULL, want);
		talloc_free(out);
	}
}

/* The expander reads a plain {{ name }} itself and leaves any other tag to the parser: over
 * random templates of text, lone braces, plain tags with blanks, tags with filters or a
 * default, unset names and broken tags, the expansion is what each piece alone gives, and
 * NULL exactly when a piece is broken (as template_check says). */
static const char *lookup_fixed(void *data, const char *name)
{
	(void)data;
	if (!strcmp(name, "x"))
		return "Xv";
	if (!strcmp(name, "item.label"))
		return "libellé";
	if (!strcmp(name, "y"))
		return "";
	return NULL;
}

static void test_plain_tags(void)
{
	static const struct { const char *piece, *want; } pieces[] = {
		{ "Bonjour ", "Bonjour " }, { "a{b", "a{b" }, { "c}d", "c}d" }, { "é", "é" },
		{ "{{x}}", "Xv" }, { "{{ x }}", "Xv" }, { "{{\tx\n}}", "Xv" }, { "{{x }}", "Xv" },
		{ "{{item.label}}", "libellé" }, { "{{ y }}", "" }, { "{{nope}}", "" },
		{ "{{ x | upper }}", "XV" }, { "{{x|lower}}", "xv" },
		{ "{{ nope | default: \"d\" }}", "d" }, { "{{y|default:\"e\"}}", "e" },
		{ "{{ }}", NULL }, { "{{x", NULL }, { "{{x y}}", NULL }, { "{{x | nada}}", NULL },
		{ "{{-}}", "" },
	};
	const unsigned np = sizeof(pieces) / sizeof(pieces[0]);
	unsigned seed = 99, broken = 0;

	for (int n = 0; n < 20000; n++) {
		char t[256] = "", want[256] = "";
		bool ok = true;
		unsigned k = ((seed = seed * 1103515245u + 12345u) >> 16) % 6;

		for (unsigned i = 0; i < k; i++) {
			unsigned r = ((seed = seed * 1103515245u + 12345u) >> 16) % np;
			strcat(t, pieces[r].piece);
			if (pieces[r].want)
				strcat(want, pieces[r].want);
			else
				ok = false;
		}
		char *out = template_expand(ctx, t, lookup_fixed, NULL);
		if (ok) {
			CU_ASSERT_PTR_NOT_NULL(out);
			CU_ASSERT_STRING_EQUAL(out ? out : "(null)", want);
		} else {
			CU_ASSERT_PTR_NULL(out);
			broken++;
		}
		CU_ASSERT_EQUAL(template_check(t, NULL, NULL, NULL, 0, NULL) == 0, ok);
		talloc_free(out);
	}
	CU_ASSERT_TRUE(broken > 1000 && broken < 19000);
}

static const CU_TestInfo tests[] = {
	{ "plain variables", test_plain },
	{ "lone braces are literal", test_lone_braces },
	{ "upper, lower", test_upper_lower },
	{ "date, day", test_dates },
	{ "weekdays and invalid dates", test_weekdays },
	{ "default", test_default },
	{ "single pass", test_single_pass },
	{ "expand refuses malformed", test_expand_malformed },
	{ "check reports variables", test_check_vars },
	{ "check errors and offsets", test_check_errors },
	{ "check truncates its message", test_check_truncated_err },
	{ "expansion limit", test_expand_limit },
	{ "one variable alone", test_single_var },
	{ "GSM-7 but for the values", test_gsm7_but_values },
	{ "a name's characters", test_name_chars },
	{ "plain tags read by the expander", test_plain_tags },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("template", tests, &ctx);
}
