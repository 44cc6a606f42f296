/* Templates: {{ name | filter | default: "texte" }}, expanded in a single pass.
 *
 * One parser serves the checker and the expander, so what template_check accepts is exactly
 * what template_expand can expand. Values are copied into the output and never scanned
 * again: a person typing "{{pin}}" into a reply gets those characters back, nothing more. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <osmocom/core/talloc.h>

#include <guichet/template.h>
#include <guichet/text.h>

#define TAG_FILTERS_MAX	8	/* more in one tag is a mistake, not a need */

enum filter_kind { FILTER_UPPER, FILTER_LOWER, FILTER_DATE, FILTER_DAY, FILTER_DEFAULT };

struct filter {
	enum filter_kind kind;
	const char *arg;	/* default: the quoted text without quotes, escapes still in */
	size_t arg_len;
};

/* One parsed {{ ... }}. Pointers refer into the template. */
struct tag {
	const char *name;
	size_t name_len;
	struct filter filters[TAG_FILTERS_MAX];
	unsigned n_filters;
	size_t end;		/* offset just past the closing }} */
};

struct parse_error {
	char msg[96];
	size_t off;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* [A-Za-z0-9_.-], one load a byte: names are read at every expansion (a menu's labels, a
 * step's set: and with:), where five range tests a character cost more. */
static const unsigned char name_chars[256] = {
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
	['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
	['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['_'] = 1, ['.'] = 1,
	['-'] = 1
};

static bool is_name_char(char c)
{
	return name_chars[(unsigned char)c];
}

static bool is_filter_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static size_t skip_space(const char *s, size_t i)
{
	while (is_space(s[i]))
		i++;
	return i;
}

static int parse_fail(struct parse_error *e, size_t off, const char *msg)
{
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	e->off = off;
	return -1;
}

/* Parses the default filter's argument at s + i (just past "default"): ':' then a text in
 * double quotes, where \" and \\ stand for themselves. Returns the offset past it or -1. */
static long parse_default_arg(const char *s, size_t i, struct filter *f, struct parse_error *e)
{
	size_t start;

	i = skip_space(s, i);
	if (s[i] != ':')
		return parse_fail(e, i, "default needs a text: default: \"...\"");
	i = skip_space(s, i + 1);
	if (s[i] != '"')
		return parse_fail(e, i, "default text must be in double quotes");
	start = ++i;
	while (s[i] && s[i] != '"') {
		if (s[i] == '\\' && (s[i + 1] == '"' || s[i + 1] == '\\'))
			i++;
		i++;
	}
	if (!s[i])
		return parse_fail(e, start - 1, "unterminated quoted text");
	f->arg = s + start;
	f->arg_len = i - start;
	return (long)(i + 1);
}

/* Parses the tag whose "{{" is at s + open into t. Returns 0, or -1 with e filled. */
/* locate: look for the closing }} first, to say where an unclosed tag opens; the expander,
 * which only needs to know that a tag is wrong, does without that scan of the rest of the
 * text (an unclosed tag fails anyway when the parse reaches the end). */
static int tag_parse(const char *s, size_t open, struct tag *t, struct parse_error *e,
		     bool locate)
{
	size_t i = skip_space(s, open + 2), start;

	t->n_filters = 0;	/* the filters are written as they are read */
	/* Said first, and at the {{, since every later error would only be a symptom of it. */
	if (locate && !strstr(s + open + 2, "}}"))
		return parse_fail(e, open, "unclosed {{");
	start = i;
	while (is_name_char(s[i]))
		i++;
	if (i == start) {
		if (!s[i])
			return parse_fail(e, open, "unclosed {{");
		return parse_fail(e, i, "empty variable name");
	}
	t->name = s + start;
	t->name_len = i - start;

	for (;;) {
		struct filter *f;
		size_t fstart;
		long next;

		i = skip_space(s, i);
		if (s[i] == '}' && s[i + 1] == '}')
			break;
		if (!s[i])
			return parse_fail(e, open, "unclosed {{");
		if (s[i] != '|')
			return parse_fail(e, i, "expected '|' or '}}'");
		fstart = i = skip_space(s, i + 1);
		while (is_filter_char(s[i]))
			i++;
		if (i == fstart)
			return s[i] ? parse_fail(e, fstart, "empty filter name") :
				      parse_fail(e, open, "unclosed {{");
		if (t->n_filters == TAG_FILTERS_MAX)
			return parse_fail(e, fstart, "too many filters");
		f = &t->filters[t->n_filters++];
#define IS_FILTER(lit) (i - fstart == sizeof(lit) - 1 && !memcmp(s + fstart, lit, i - fstart))
		if (IS_FILTER("upper")) {
			f->kind = FILTER_UPPER;
		} else if (IS_FILTER("lower")) {
			f->kind = FILTER_LOWER;
		} else if (IS_FILTER("date")) {
			f->kind = FILTER_DATE;
		} else if (IS_FILTER("day")) {
			f->kind = FILTER_DAY;
		} else if (IS_FILTER("default")) {
			f->kind = FILTER_DEFAULT;
			next = parse_default_arg(s, i, f, e);
			if (next < 0)
				return -1;
			i = (size_t)next;
			continue;
		} else {
			char msg[64];

			snprintf(msg, sizeof(msg), "unknown filter '%.*s'",
				 (int)(i - fstart > 32 ? 32 : i - fstart), s + fstart);
			return parse_fail(e, fstart, msg);
		}
#undef IS_FILTER
		if (s[skip_space(s, i)] == ':')
			return parse_fail(e, skip_space(s, i), "this filter takes no argument");
	}
	t->end = i + 2;
	return 0;
}

/* The first "{{" in s, or NULL: strchr() for each '{' (a text has few) rather than strstr(),
 * which costs more to set up than most texts are long; templates are searched at every
 * expansion. */
static const char *find_open(const char *s)
{
	while ((s = strchr(s, '{')) && s[1] != '{')
		s++;
	return s;
}

bool template_single_var(const char *tmpl, char *name, size_t size)
{
	size_t i, start;

	if (tmpl[0] != '{' || tmpl[1] != '{')
		return false;
	i = start = skip_space(tmpl, 2);
	while (is_name_char(tmpl[i]))
		i++;
	if (i == start || i - start >= size)
		return false;
	size_t end = skip_space(tmpl, i);
	if (tmpl[end] != '}' || tmpl[end + 1] != '}' || tmpl[end + 2])
		return false;
	memcpy(name, tmpl + start, i - start);
	name[i - start] = '\0';
	return true;
}

bool template_is_literal(const char *tmpl)
{
	return find_open(tmpl) == NULL;
}

bool template_gsm7_but_values(const char *tmpl)
{
	const char *open;
	size_t i = 0;

	while ((open = find_open(tmpl + i))) {
		struct parse_error e;
		struct tag t;

		if (tag_parse(tmpl, (size_t)(open - tmpl), &t, &e, false) < 0)
			return false;
		for (unsigned k = 0; k < t.n_filters; k++)
			if (t.filters[k].kind != FILTER_DEFAULT)
				return false;
		i = t.end;
	}
	/* Every value unset: what is left is the text between tags and the default texts
	 * (escapes read), each made of whole characters (a tag's braces cut none). */
	char *bare = template_expand(NULL, tmpl, NULL, NULL);
	bool gsm7 = bare && text_is_gsm7(bare);

	talloc_free(bare);
	return gsm7;
}

int template_check(const char *tmpl, template_var_fn each_var, void *data,
		   char *err, size_t err_len, size_t *err_off)
{
	const char *open;
	size_t i = 0;

	while ((open = find_open(tmpl + i))) {
		struct parse_error e;
		struct tag t;

		if (tag_parse(tmpl, (size_t)(open - tmpl), &t, &e, true) < 0) {
			if (err && err_len)
				snprintf(err, err_len, "%s", e.msg);
			if (err_off)
				*err_off = e.off;
			return -1;
		}
		if (each_var)
			each_var(data, t.name, t.name_len);
		i = t.end;
	}
	return 0;
}

/* ---- Output buffer -------------------------------------------------------------------- */

/* Growable output with a ceiling fixed at creation. It starts in a buffer on the stack
 * (most texts are a line or two) and moves to the heap only when it outgrows it: the
 * result is copied once, at the end, instead of reallocated as it grows. */
#define OUTBUF_STACK 512
struct outbuf {
	void *ctx;
	char *s;
	size_t len, cap;
	bool failed;
	char stack[OUTBUF_STACK];
};

static void out_add(struct outbuf *o, const char *p, size_t n)
{
	if (o->failed)
		return;
	if (n > TEMPLATE_EXPAND_MAX - o->len) {
		o->failed = true;
		return;
	}
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 64;
		char *s;

		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > TEMPLATE_EXPAND_MAX + 1)
			cap = TEMPLATE_EXPAND_MAX + 1;
		if (!o->s && cap <= sizeof(o->stack)) {
			s = o->stack;
			cap = sizeof(o->stack);
		} else if (o->s == o->stack) {
			s = talloc_size(o->ctx, cap);
			if (s)
				memcpy(s, o->stack, o->len + 1);
		} else {
			s = talloc_realloc(o->ctx, o->s, char, cap);
		}
		if (!s) {
			o->failed = true;
			return;
		}
		o->s = s;
		o->cap = cap;
	}
	memcpy(o->s + o->len, p, n);
	o->len += n;
	o->s[o->len] = '\0';
}

/* ---- Case mapping --------------------------------------------------------------------- */

/* Decodes one UTF-8 code point; an invalid byte is returned as itself with *len 1 so the
 * case filters copy what they do not understand. */
static uint32_t utf8_decode(const unsigned char *s, size_t *len)
{
	unsigned n, i;
	uint32_t cp;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 1;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 2;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 3;
		cp = s[0] & 0x07;
	} else {
		goto invalid;
	}
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto invalid;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	*len = n + 1;
	return cp;
invalid:
	*len = 1;
	return 0xFFFFFFFF;
}

static size_t utf8_encode(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Upper case of cp for Latin (French first), Greek and Cyrillic; cp itself otherwise. */
static uint32_t cp_upper(uint32_t cp)
{
	if (cp >= 'a' && cp <= 'z')
		return cp - 32;
	if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)	/* à..þ, not ÷ */
		return cp - 0x20;
	if (cp == 0xFF)
		return 0x178;				/* ÿ -> Ÿ */
	if (cp >= 0x100 && cp <= 0x17F) {		/* Latin Extended-A: pairs */
		if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
			return (cp & 1) ? cp : cp - 1;
		if (cp != 0x131 && cp != 0x138 && cp != 0x149 && cp != 0x178 && cp != 0x17F)
			return (cp & 1) ? cp - 1 : cp;
		return cp;
	}
	if (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2)
		return cp - 0x20;
	if (cp >= 0x430 && cp <= 0x44F)
		return cp - 0x20;
	if (cp >= 0x450 && cp <= 0x45F)
		return cp - 0x50;
	return cp;
}

static uint32_t cp_lower(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)	/* À..Þ, not × */
		return cp + 0x20;
	if (cp == 0x178)
		return 0xFF;				/* Ÿ -> ÿ */
	if (cp >= 0x100 && cp <= 0x17F) {
		if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
			return (cp & 1) ? cp + 1 : cp;
		if (cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149 && cp != 0x17F)
			return (cp & 1) ? cp : cp + 1;
		return cp;
	}
	if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
		return cp + 0x20;
	if (cp >= 0x410 && cp <= 0x42F)
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 0x50;
	return cp;
}

/* Case-maps value into a new string under ctx, never longer than value: a character whose
 * other case takes a different number of UTF-8 bytes is kept as it is. */
static char *case_map(void *ctx, const char *value, bool upper)
{
	size_t len = strlen(value), i = 0, n = 0;
	char *out = talloc_size(ctx, len + 1);

	if (!out)
		return NULL;
	while (value[i]) {
		size_t clen;
		uint32_t cp = utf8_decode((const unsigned char *)value + i, &clen);
		uint32_t m;
		char enc[4];
		size_t elen;

		if (cp == 0xFFFFFFFF) {
			out[n++] = value[i++];
			continue;
		}
		m = upper ? cp_upper(cp) : cp_lower(cp);
		elen = utf8_encode(enc, m);
		if (m == cp || elen != clen) {
			memcpy(out + n, value + i, clen);
			n += clen;
		} else {
			memcpy(out + n, enc, elen);
			n += elen;
		}
		i += clen;
	}
	out[n] = '\0';
	return out;
}

/* ---- Dates ---------------------------------------------------------------------------- */

static const char *const fr_weekdays[7] = {
	"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi",
};

static const char *const fr_months[12] = {
	"janvier", "février", "mars", "avril", "mai", "juin",
	"juillet", "août", "septembre", "octobre", "novembre", "décembre",
};

struct civil_time {
	int year, month, day, hour, minute;
	bool has_time;
};

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* 0 = Sunday. Sakamoto's method: proleptic Gregorian, no clock or locale involved. */
static int weekday(int y, int m, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };

	if (m < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* Reads exactly n digits at *s. */
static bool read_digits(const char **s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		*v = *v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	return true;
}

/* Parses "YYYY-MM-DD", optionally followed by 'T' or ' ' and "HH:MM". Seconds, fractions
 * and a zone may follow and are ignored: the back end already speaks local time. */
static bool date_parse(const char *s, struct civil_time *t)
{
	memset(t, 0, sizeof(*t));
	while (*s == ' ')
		s++;
	if (!read_digits(&s, 4, &t->year) || *s++ != '-' || !read_digits(&s, 2, &t->month) ||
	    *s++ != '-' || !read_digits(&s, 2, &t->day))
		return false;
	if (t->year < 1 || t->month < 1 || t->month > 12 || t->day < 1 ||
	    t->day > month_days(t->year, t->month))
		return false;
	if ((*s == 'T' || *s == ' ') && s[1] >= '0' && s[1] <= '9') {
		s++;
		if (!read_digits(&s, 2, &t->hour) || *s++ != ':' || !read_digits(&s, 2, &t->minute))
			return false;
		if (t->hour > 23 || t->minute > 59)
			return false;
		t->has_time = true;
		return true;
	}
	while (*s == ' ')
		s++;
	return *s == '\0';
}

/* "lundi 2 mars" (+ " à 9h30" or " 2026" for the date filter). The first of the month
 * is "1er", as French writes it. Returns NULL when value is not a date: the caller then
 * keeps the value as it is rather than showing nothing. */
static char *date_format(void *ctx, const char *value, bool with_time_or_year)
{
	struct civil_time t;
	char day[8];

	if (!date_parse(value, &t))
		return NULL;
	if (t.day == 1)
		snprintf(day, sizeof(day), "1er");
	else
		snprintf(day, sizeof(day), "%d", t.day);
	if (!with_time_or_year)
		return talloc_asprintf(ctx, "%s %s %s", fr_weekdays[weekday(t.year, t.month, t.day)],
				       day, fr_months[t.month - 1]);
	if (!t.has_time)
		return talloc_asprintf(ctx, "%s %s %s %d",
				       fr_weekdays[weekday(t.year, t.month, t.day)], day,
				       fr_months[t.month - 1], t.year);
	if (t.minute == 0)
		return talloc_asprintf(ctx, "%s %s %s à %dh",
				       fr_weekdays[weekday(t.year, t.month, t.day)], day,
				       fr_months[t.month - 1], t.hour);
	return talloc_asprintf(ctx, "%s %s %s à %dh%02d",
			       fr_weekdays[weekday(t.year, t.month, t.day)], day,
			       fr_months[t.month - 1], t.hour, t.minute);
}

/* ---- Expansion ------------------------------------------------------------------------ */

/* Copies the default text with its \" and \\ escapes resolved. */
static char *default_text(void *ctx, const struct filter *f)
{
	char *out = talloc_size(ctx, f->arg_len + 1);
	size_t i, n = 0;

	if (!out)
		return NULL;
	for (i = 0; i < f->arg_len; i++) {
		if (f->arg[i] == '\\' && i + 1 < f->arg_len)
			i++;
		out[n++] = f->arg[i];
	}
	out[n] = '\0';
	return out;
}

/* Runs the filters left to right. value may be NULL (unset); upper, lower, date and day
 * keep NULL as NULL so a later default still applies. Returns false when memory runs out. */
static bool tag_value(void *tmp, const struct tag *t, const char *value, const char **result)
{
	unsigned k;

	for (k = 0; k < t->n_filters; k++) {
		const struct filter *f = &t->filters[k];
		char *v = NULL;

		if (f->kind == FILTER_DEFAULT) {
			if (value && *value)
				continue;
			v = default_text(tmp, f);
		} else if (!value) {
			continue;
		} else if (f->kind == FILTER_UPPER || f->kind == FILTER_LOWER) {
			v = case_map(tmp, value, f->kind == FILTER_UPPER);
		} else {
			v = date_format(tmp, value, f->kind == FILTER_DATE);
			if (!v)
				continue;	/* not a date (or no memory): keep the value */
		}
		if (!v)
			return false;
		value = v;
	}
	*result = value ? value : "";
	return true;
}

char *template_expand(void *ctx, const char *tmpl, template_lookup_fn lookup, void *data)
{
	struct outbuf o = { .ctx = ctx };
	void *tmp = NULL;	/* for the filters' results, made when a tag has filters */
	const char *open;
	size_t i = 0;
	char *res;

	while ((open = find_open(tmpl + i))) {
		size_t at = (size_t)(open - tmpl);
		struct parse_error e;
		struct tag t;
		const char *value = NULL;
		char stack_name[128], *name = stack_name;

		out_add(&o, tmpl + i, at - i);
		/* A plain {{ name }} (most tags) read here, as tag_parse would read it; any
		 * other tag, or a wrong one, by tag_parse. */
		size_t ns = skip_space(tmpl, at + 2), ne = ns, close;
		while (is_name_char(tmpl[ne]))
			ne++;
		close = skip_space(tmpl, ne);
		if (ne > ns && tmpl[close] == '}' && tmpl[close + 1] == '}') {
			t.name = tmpl + ns;
			t.name_len = ne - ns;
			t.n_filters = 0;
			t.end = close + 2;
		} else if (tag_parse(tmpl, at, &t, &e, false) < 0) {
			goto fail;
		}
		if (t.n_filters && !tmp && !(tmp = talloc_new(NULL)))
			goto fail;
		/* The lookup wants a terminated name; tmp is emptied after every tag. */
		if (t.name_len < sizeof(stack_name)) {
			memcpy(stack_name, t.name, t.name_len);
			stack_name[t.name_len] = '\0';
		} else if (!(name = talloc_strndup(NULL, t.name, t.name_len))) {
			goto fail;
		}
		value = lookup ? lookup(data, name) : NULL;
		if (name != stack_name)
			talloc_free(name);
		if (t.n_filters && !tag_value(tmp, &t, value, &value))
			goto fail;
		if (!value)
			value = "";
		out_add(&o, value, strlen(value));
		if (tmp)
			talloc_free_children(tmp);
		i = t.end;
	}
	out_add(&o, tmpl + i, strlen(tmpl + i));
	if (o.failed)
		goto fail;
	if (!o.s || o.s == o.stack)
		res = talloc_strndup(ctx, o.s ? o.s : "", o.len);
	else
		res = o.s;
	talloc_free(tmp);
	return res;
fail:
	if (o.s != o.stack)
		talloc_free(o.s);
	talloc_free(tmp);
	return NULL;
}
