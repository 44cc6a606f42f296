/* Texts as a phone receives them: GSM 03.38 7-bit, UCS-2/UTF-16BE, parts, folding.
 *
 * libosmocore's GSM-7 helpers map ASCII only (bytes >= 0x80 pass through raw), so the
 * UTF-8 <-> GSM 03.38 table is written out here; packing septets into octets stays with
 * gsm_septet_pack() at the modem/USSD edge. Measuring and fitting run on every reply: they
 * are one linear pass and allocate nothing. */
#include <limits.h>
#include <string.h>

#include <osmocom/core/talloc.h>

#include <guichet/text.h>

#define GSM7_ESC	0x1B
#define SMS_GSM7_SINGLE	160
#define SMS_GSM7_PART	153	/* 160 minus the 6-byte concatenation header, in septets */
#define SMS_UCS2_SINGLE	70
#define SMS_UCS2_PART	67
#define CP_REPLACEMENT	0xFFFD

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Decodes one code point at *sp and advances past it. An invalid or truncated sequence
 * yields U+FFFD and consumes its maximal valid prefix (at least one byte), as Unicode
 * recommends, so a cut multi-byte character counts once. Stops safely at the NUL: 0x00 is
 * never a continuation byte. The caller must not call it at the terminating NUL. */
static uint32_t utf8_next(const char **sp)
{
	const unsigned char *s = (const unsigned char *)*sp;
	unsigned c = s[0], n, i;
	unsigned lo = 0x80, hi = 0xBF;
	uint32_t cp;

	if (c < 0x80) {
		*sp = (const char *)s + 1;
		return c;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 1;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 2;
		cp = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;	/* overlong */
		if (c == 0xED)
			hi = 0x9F;	/* UTF-16 surrogates are not characters */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 3;
		cp = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;	/* overlong */
		if (c == 0xF4)
			hi = 0x8F;	/* beyond U+10FFFF */
	} else {
		*sp = (const char *)s + 1;
		return CP_REPLACEMENT;
	}
	s++;
	for (i = 0; i < n; i++, s++) {
		if (*s < lo || *s > hi) {
			*sp = (const char *)s;
			return CP_REPLACEMENT;
		}
		cp = (cp << 6) | (*s & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*sp = (const char *)s;
	return cp;
}

/* Writes cp as UTF-8 at out (room for 4 bytes) and returns the byte count. */
static size_t utf8_put(char *out, uint32_t cp)
{
	if (cp >= 0xD800 && cp <= 0xDFFF)
		cp = CP_REPLACEMENT;
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
	if (cp > 0x10FFFF)
		return utf8_put(out, CP_REPLACEMENT);
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

unsigned text_chars(const char *utf8)
{
	unsigned n = 0;

	while (*utf8) {
		utf8_next(&utf8);
		n++;
	}
	return n;
}

/* ---- GSM 03.38 table ------------------------------------------------------------------ */

/* Default alphabet, septet -> code point. 0x1B is the escape to the extension table. */
static const uint16_t gsm7_to_cp[128] = {
	'@', 0x00A3, '$', 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC,
	0x00F2, 0x00C7, '\n', 0x00D8, 0x00F8, '\r', 0x00C5, 0x00E5,
	0x0394, '_', 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
	0x03A3, 0x0398, 0x039E, ' ' /* escape, never looked up */, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
	' ', '!', '"', '#', 0x00A4, '%', '&', '\'',
	'(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7',
	'8', '9', ':', ';', '<', '=', '>', '?',
	0x00A1, 'A', 'B', 'C', 'D', 'E', 'F', 'G',
	'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W',
	'X', 'Y', 'Z', 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
	0x00BF, 'a', 'b', 'c', 'd', 'e', 'f', 'g',
	'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w',
	'x', 'y', 'z', 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

#define GSM7_NONE	0xFF
#define GSM7_EXT	0x80	/* flag: escape + (code & 0x7F) */

/* ASCII -> septet. Entries are 0x100 | code so that 0, the default, means "not in the
 * alphabet" (controls other than LF, CR, FF; the backquote). */
#define D(code)	(0x100 | (code))
#define X(code)	(0x100 | GSM7_EXT | (code))
static const uint16_t ascii_to_gsm7[128] = {
	['\n'] = D(0x0A), ['\r'] = D(0x0D), ['\f'] = X(0x0A),
	[' '] = D(0x20), ['!'] = D(0x21), ['"'] = D(0x22), ['#'] = D(0x23), ['$'] = D(0x02),
	['%'] = D(0x25), ['&'] = D(0x26), ['\''] = D(0x27), ['('] = D(0x28), [')'] = D(0x29),
	['*'] = D(0x2A), ['+'] = D(0x2B), [','] = D(0x2C), ['-'] = D(0x2D), ['.'] = D(0x2E),
	['/'] = D(0x2F),
	['0'] = D(0x30), ['1'] = D(0x31), ['2'] = D(0x32), ['3'] = D(0x33), ['4'] = D(0x34),
	['5'] = D(0x35), ['6'] = D(0x36), ['7'] = D(0x37), ['8'] = D(0x38), ['9'] = D(0x39),
	[':'] = D(0x3A), [';'] = D(0x3B), ['<'] = D(0x3C), ['='] = D(0x3D), ['>'] = D(0x3E),
	['?'] = D(0x3F), ['@'] = D(0x00),
	['A'] = D(0x41), ['B'] = D(0x42), ['C'] = D(0x43), ['D'] = D(0x44), ['E'] = D(0x45),
	['F'] = D(0x46), ['G'] = D(0x47), ['H'] = D(0x48), ['I'] = D(0x49), ['J'] = D(0x4A),
	['K'] = D(0x4B), ['L'] = D(0x4C), ['M'] = D(0x4D), ['N'] = D(0x4E), ['O'] = D(0x4F),
	['P'] = D(0x50), ['Q'] = D(0x51), ['R'] = D(0x52), ['S'] = D(0x53), ['T'] = D(0x54),
	['U'] = D(0x55), ['V'] = D(0x56), ['W'] = D(0x57), ['X'] = D(0x58), ['Y'] = D(0x59),
	['Z'] = D(0x5A),
	['['] = X(0x3C), ['\\'] = X(0x2F), [']'] = X(0x3E), ['^'] = X(0x14), ['_'] = D(0x11),
	['a'] = D(0x61), ['b'] = D(0x62), ['c'] = D(0x63), ['d'] = D(0x64), ['e'] = D(0x65),
	['f'] = D(0x66), ['g'] = D(0x67), ['h'] = D(0x68), ['i'] = D(0x69), ['j'] = D(0x6A),
	['k'] = D(0x6B), ['l'] = D(0x6C), ['m'] = D(0x6D), ['n'] = D(0x6E), ['o'] = D(0x6F),
	['p'] = D(0x70), ['q'] = D(0x71), ['r'] = D(0x72), ['s'] = D(0x73), ['t'] = D(0x74),
	['u'] = D(0x75), ['v'] = D(0x76), ['w'] = D(0x77), ['x'] = D(0x78), ['y'] = D(0x79),
	['z'] = D(0x7A),
	['{'] = X(0x28), ['|'] = X(0x40), ['}'] = X(0x29), ['~'] = X(0x3D),
};
#undef D
#undef X

/* Code point -> septet (GSM7_EXT flag for the extension table), GSM7_NONE when absent. */
static uint8_t gsm7_code(uint32_t cp)
{
	if (cp < 0x80)
		return ascii_to_gsm7[cp] ? ascii_to_gsm7[cp] & 0xFF : GSM7_NONE;
	switch (cp) {
	case 0x00A3: return 0x01;	/* £ */
	case 0x00A5: return 0x03;	/* ¥ */
	case 0x00E8: return 0x04;	/* è */
	case 0x00E9: return 0x05;	/* é */
	case 0x00F9: return 0x06;	/* ù */
	case 0x00EC: return 0x07;	/* ì */
	case 0x00F2: return 0x08;	/* ò */
	case 0x00C7: return 0x09;	/* Ç */
	case 0x00D8: return 0x0B;	/* Ø */
	case 0x00F8: return 0x0C;	/* ø */
	case 0x00C5: return 0x0E;	/* Å */
	case 0x00E5: return 0x0F;	/* å */
	case 0x0394: return 0x10;	/* Δ */
	case 0x03A6: return 0x12;	/* Φ */
	case 0x0393: return 0x13;	/* Γ */
	case 0x039B: return 0x14;	/* Λ */
	case 0x03A9: return 0x15;	/* Ω */
	case 0x03A0: return 0x16;	/* Π */
	case 0x03A8: return 0x17;	/* Ψ */
	case 0x03A3: return 0x18;	/* Σ */
	case 0x0398: return 0x19;	/* Θ */
	case 0x039E: return 0x1A;	/* Ξ */
	case 0x00C6: return 0x1C;	/* Æ */
	case 0x00E6: return 0x1D;	/* æ */
	case 0x00DF: return 0x1E;	/* ß */
	case 0x00C9: return 0x1F;	/* É */
	case 0x00A4: return 0x24;	/* ¤ */
	case 0x00A1: return 0x40;	/* ¡ */
	case 0x00C4: return 0x5B;	/* Ä */
	case 0x00D6: return 0x5C;	/* Ö */
	case 0x00D1: return 0x5D;	/* Ñ */
	case 0x00DC: return 0x5E;	/* Ü */
	case 0x00A7: return 0x5F;	/* § */
	case 0x00BF: return 0x60;	/* ¿ */
	case 0x00E4: return 0x7B;	/* ä */
	case 0x00F6: return 0x7C;	/* ö */
	case 0x00F1: return 0x7D;	/* ñ */
	case 0x00FC: return 0x7E;	/* ü */
	case 0x00E0: return 0x7F;	/* à */
	case 0x20AC: return GSM7_EXT | 0x65;	/* € */
	default: return GSM7_NONE;
	}
}

/* Extension table code -> code point, 0 when the code is not assigned. */
static uint32_t gsm7_ext_to_cp(uint8_t code)
{
	switch (code) {
	case 0x0A: return '\f';
	case 0x14: return '^';
	case 0x28: return '{';
	case 0x29: return '}';
	case 0x2F: return '\\';
	case 0x3C: return '[';
	case 0x3D: return '~';
	case 0x3E: return ']';
	case 0x40: return '|';
	case 0x65: return 0x20AC;
	default: return 0;
	}
}

/* Septets cp takes in GSM-7: 1, 2 (extension table) or 0 when it cannot be sent. */
static unsigned gsm7_cost(uint32_t cp)
{
	uint8_t c = gsm7_code(cp);

	if (c == GSM7_NONE)
		return 0;
	return (c & GSM7_EXT) ? 2 : 1;
}

/* UTF-16 code units of cp: emoji and other astral characters take a surrogate pair. */
static unsigned ucs2_cost(uint32_t cp)
{
	return cp > 0xFFFF ? 2 : 1;
}

/* ---- Measuring ------------------------------------------------------------------------ */

/* Greedy filling of fixed-size parts: a character that does not fit in what is left of a
 * part opens the next one, so an escape or surrogate pair never straddles two parts. */
struct part_fill {
	unsigned parts;
	unsigned fill;
};

static void part_fill_add(struct part_fill *pf, unsigned cost, unsigned part_size)
{
	if (pf->fill + cost > part_size) {
		pf->parts++;
		pf->fill = cost;
	} else {
		pf->fill += cost;
	}
}

void text_measure(const char *utf8, struct text_measure *m)
{
	struct part_fill g = { 1, 0 }, u = { 1, 0 };
	unsigned septets = 0, units = 0, chars = 0;
	bool gsm7 = true;

	while (*utf8) {
		unsigned char c = (unsigned char)*utf8;

		/* ASCII, most of every text, straight from the table. */
		if (c < 0x80) {
			utf8++;
			chars++;
			units++;
			part_fill_add(&u, 1, SMS_UCS2_PART);
			if (gsm7) {
				unsigned gc = !ascii_to_gsm7[c] ? 0 : ascii_to_gsm7[c] & GSM7_EXT ? 2 : 1;

				if (gc == 0) {
					gsm7 = false;
				} else {
					septets += gc;
					part_fill_add(&g, gc, SMS_GSM7_PART);
				}
			}
			continue;
		}
		uint32_t cp = utf8_next(&utf8);
		unsigned uc = ucs2_cost(cp);

		chars++;
		units += uc;
		part_fill_add(&u, uc, SMS_UCS2_PART);
		if (gsm7) {
			unsigned gc = gsm7_cost(cp);

			if (gc == 0) {
				gsm7 = false;
			} else {
				septets += gc;
				part_fill_add(&g, gc, SMS_GSM7_PART);
			}
		}
	}
	m->chars = chars;
	if (gsm7) {
		m->coding = TEXT_GSM7;
		m->units = septets;
		m->parts = septets <= SMS_GSM7_SINGLE ? 1 : g.parts;
	} else {
		m->coding = TEXT_UCS2;
		m->units = units;
		m->parts = units <= SMS_UCS2_SINGLE ? 1 : u.parts;
	}
}

/* The bytes of w that need a look in the table, each flagged by its high bit: all but ASCII
 * from ' ' to '~' other than '`' (bytes >= 0x80, controls, '`' and DEL). The lowest flag
 * is always right; one above it may be a borrow's mistake, which only the lowest is
 * trusted not to be. */
static uint64_t word_needs_look(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t below_space = (w - ones * 0x20) & ~w & highs;	/* a byte < 0x20 */
	uint64_t bq = w ^ (ones * '`'), del = w ^ (ones * 0x7f);

	return (w & highs) | below_space | ((bq - ones) & ~bq & highs) | ((del - ones) & ~del & highs);
}

/* How many bytes at the start of w (as read from memory) are plain, given its flags. */
static unsigned plain_bytes(uint64_t flags)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (unsigned)__builtin_ctzll(flags) / 8;
#else
	(void)flags;
	return 0;	/* the first byte is read one character at a time */
#endif
}

bool text_is_gsm7(const char *utf8)
{
	/* Replies are checked whole before they leave: plain ASCII is skipped 8 bytes at a
	 * time, within the text's length, and up to the first byte that needs a look; that
	 * character alone is read, then the next 8 bytes again (a French text has an accent
	 * every few words, not runs of them). */
	const char *const start = utf8, *end = utf8 + strlen(utf8);

	while (utf8 < end) {
		uint64_t w, flags;
		size_t left = (size_t)(end - utf8);

		if (left >= 8) {
			memcpy(&w, utf8, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		} else if ((size_t)(end - start) >= 8) {
			/* The text's last 8 bytes, those already read shifted out and spaces in
			 * their place: one fixed-size read, cheaper than a copy of left bytes. */
			memcpy(&w, end - 8, 8);
			w = w >> (8 * (8 - left)) | 0x2020202020202020u << (8 * left);
#endif
		} else {
			/* The tail, padded with spaces (plain, never flagged, so the lowest flag
			 * is in the text): a value or a reply ends in a few plain bytes more often
			 * than not, read then in one word, not one by one. */
			memset(&w, ' ', 8);
			memcpy(&w, utf8, left);
		}
		flags = word_needs_look(w);
		if (!flags) {
			if (left <= 8)
				return true;
			utf8 += 8;
			continue;
		}
		utf8 += plain_bytes(flags);
		/* c2: the NUL at worst, utf8 being before end. */
		unsigned char c = (unsigned char)utf8[0], c2 = (unsigned char)utf8[1];

		if (c < 0x80) {
			if (!ascii_to_gsm7[c])
				return false;
			utf8++;
		} else if ((c == 0xc2 || c == 0xc3) && (c2 & 0xc0) == 0x80) {
			/* U+0080..U+00FF, the accents of French: decoded here. */
			if (gsm7_code(((uint32_t)(c & 0x1f) << 6) | (c2 & 0x3f)) == GSM7_NONE)
				return false;
			utf8 += 2;
		} else if (gsm7_cost(utf8_next(&utf8)) == 0) {
			return false;
		}
	}
	return true;
}

struct text_budget text_budget_sms(unsigned max_parts)
{
	struct text_budget b = { 0, 0 };

	if (max_parts == 1) {
		b.gsm7_units = SMS_GSM7_SINGLE;
		b.ucs2_units = SMS_UCS2_SINGLE;
	} else if (max_parts > 1) {
		b.gsm7_units = max_parts * SMS_GSM7_PART;
		b.ucs2_units = max_parts * SMS_UCS2_PART;
	}
	return b;
}

struct text_budget text_budget_ussd(unsigned screen_chars)
{
	struct text_budget b;

	b.gsm7_units = screen_chars;
	/* Same octets: screen_chars septets are screen_chars * 7 bits, a unit is 16 bits. */
	b.ucs2_units = screen_chars * 7 / 16;
	return b;
}

/* Parts an SMS budget stands for, 0 when b is not shaped like text_budget_sms(n). Multi-part
 * budgets are checked in parts rather than units, because an escape or surrogate pair
 * pushed to the next part leaves a unit unused and n * 153 septets may then need n + 1. */
static unsigned budget_sms_parts(const struct text_budget *b)
{
	unsigned n;

	if (b->gsm7_units == SMS_GSM7_SINGLE && b->ucs2_units == SMS_UCS2_SINGLE)
		return 1;
	if (b->gsm7_units == 0 || b->gsm7_units % SMS_GSM7_PART != 0)
		return 0;
	n = b->gsm7_units / SMS_GSM7_PART;
	if (n < 2 || b->ucs2_units != n * SMS_UCS2_PART)
		return 0;
	return n;
}

bool text_fits(const char *utf8, const struct text_budget *b)
{
	struct text_measure m;
	unsigned sms_parts = budget_sms_parts(b);
	size_t len = strlen(utf8);

	/* Short texts fit without measuring (menus are checked on every answer): a byte is at
	 * most one UTF-16 unit or two septets, and a part left by the greedy fill wastes at most
	 * one unit (66 of 67) or septet (152 of 153). */
	if (sms_parts == 1 && len <= SMS_UCS2_SINGLE)
		return true;
	if (sms_parts > 1 && len <= sms_parts * (SMS_UCS2_PART - 1))
		return true;
	if (!sms_parts && len <= b->ucs2_units && 2 * len <= b->gsm7_units)
		return true;
	text_measure(utf8, &m);
	if (sms_parts)
		return m.parts <= sms_parts;
	return m.units <= (m.coding == TEXT_GSM7 ? b->gsm7_units : b->ucs2_units);
}

/* ---- Folding -------------------------------------------------------------------------- */

/* The GSM-7 replacement for cp, or NULL when cp is fine as it is or has no sensible fold. */
static const char *gsm7_fold(uint32_t cp)
{
	switch (cp) {
	case 0x00E2: case 0x00E1: case 0x00E3: case 0x0101:	/* â á ã ā */
		return "a";
	case 0x00C0: case 0x00C2: case 0x00C1: case 0x00C3: case 0x0100: /* À Â Á Ã Ā */
		return "A";
	case 0x00EA: case 0x00EB: case 0x0113:	/* ê ë ē */
		return "e";
	case 0x00C8: case 0x00CA: case 0x00CB: case 0x0112:	/* È Ê Ë Ē */
		return "E";
	case 0x00EE: case 0x00EF: case 0x00ED:	/* î ï í */
		return "i";
	case 0x00CC: case 0x00CE: case 0x00CF: case 0x00CD:	/* Ì Î Ï Í */
		return "I";
	case 0x00F4: case 0x00F3: case 0x00F5:	/* ô ó õ */
		return "o";
	case 0x00D2: case 0x00D4: case 0x00D3: case 0x00D5:	/* Ò Ô Ó Õ */
		return "O";
	case 0x00FB: case 0x00FA:	/* û ú */
		return "u";
	case 0x00D9: case 0x00DB: case 0x00DA:	/* Ù Û Ú */
		return "U";
	case 0x00FF: case 0x00FD:	/* ÿ ý */
		return "y";
	case 0x0178: case 0x00DD:	/* Ÿ Ý */
		return "Y";
	case 0x00E7:	/* ç: lowercase reads better than the Ç the alphabet has */
		return "c";
	case 0x0153:	/* œ */
		return "oe";
	case 0x0152:	/* Œ */
		return "OE";
	case 0x2019: case 0x2018: case 0x201A: case 0x2032: case '`': case 0x00B4:
		return "'";
	case 0x201C: case 0x201D: case 0x201E: case 0x00AB: case 0x00BB: case 0x2033:
		return "\"";
	case 0x2039:	/* ‹ */
		return "<";
	case 0x203A:	/* › */
		return ">";
	case 0x2026:	/* … */
		return "...";
	case 0x00A0: case 0x202F: case 0x2009: case 0x2007: case 0x2002: case 0x2003:
	case '\t':
		return " ";
	case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2212:
		return "-";
	case 0x00B0: case 0x00BA:	/* ° º */
		return "o";
	case 0x00AA:	/* ª */
		return "a";
	case 0x2022: case 0x00B7:	/* • · */
		return "-";
	default:
		return NULL;
	}
}

char *text_fold_gsm7(void *ctx, const char *utf8)
{
	/* A fold never makes a valid character longer; only an invalid byte grows, to the
	 * 3-byte U+FFFD, which bounds the result at three times the input. */
	size_t cap = strlen(utf8) * 3 + 1, n = 0;
	char *out = talloc_size(ctx, cap), *shrunk;

	if (!out)
		return NULL;
	while (*utf8) {
		const char *start = utf8;
		uint32_t cp = utf8_next(&utf8);
		const char *fold = gsm7_cost(cp) ? NULL : gsm7_fold(cp);
		size_t len;

		if (fold) {
			len = strlen(fold);
			memcpy(out + n, fold, len);
			n += len;
		} else if (cp == CP_REPLACEMENT) {
			/* Normalise invalid bytes, so the result is valid UTF-8. */
			n += utf8_put(out + n, cp);
		} else {
			len = (size_t)(utf8 - start);
			memcpy(out + n, start, len);
			n += len;
		}
	}
	out[n] = '\0';
	shrunk = talloc_realloc(ctx, out, char, n + 1);
	return shrunk ? shrunk : out;
}

/* ---- Conversions ---------------------------------------------------------------------- */

int text_utf8_to_gsm7(const char *utf8, uint8_t *septets, size_t max)
{
	size_t n = 0;

	if (max > INT_MAX)
		max = INT_MAX;	/* the count must fit the int returned */
	while (*utf8) {
		uint8_t c = gsm7_code(utf8_next(&utf8));

		if (c == GSM7_NONE)
			return -1;
		if (c & GSM7_EXT) {
			if (max - n < 2)
				return -1;
			septets[n++] = GSM7_ESC;
			septets[n++] = c & 0x7F;
		} else {
			if (n >= max)
				return -1;
			septets[n++] = c;
		}
	}
	return (int)n;
}

char *text_gsm7_to_utf8(void *ctx, const uint8_t *septets, size_t n)
{
	/* The widest septet (U+FFFD for a stray high bit) is 3 UTF-8 bytes; € is 3 from 2. */
	char *out = talloc_size(ctx, n * 3 + 1), *shrunk;
	size_t i, len = 0;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		uint8_t s = septets[i];
		uint32_t cp;

		if (s > 0x7F) {
			cp = CP_REPLACEMENT;
		} else if (s == GSM7_ESC) {
			if (i + 1 >= n)
				break;	/* a trailing lone escape carries no character */
			cp = gsm7_ext_to_cp(septets[++i] & 0x7F);
			/* 03.38: an unknown extension shows the default-alphabet character. */
			if (!cp)
				cp = septets[i] == GSM7_ESC ? ' ' : gsm7_to_cp[septets[i] & 0x7F];
		} else {
			cp = gsm7_to_cp[s];
		}
		len += utf8_put(out + len, cp);
	}
	out[len] = '\0';
	shrunk = talloc_realloc(ctx, out, char, len + 1);
	return shrunk ? shrunk : out;
}

int text_utf8_to_ucs2be(const char *utf8, uint8_t *out, size_t max)
{
	size_t n = 0;

	if (max > INT_MAX)
		max = INT_MAX;	/* the count must fit the int returned */
	while (*utf8) {
		uint32_t cp = utf8_next(&utf8);

		if (cp > 0xFFFF) {
			uint32_t v = cp - 0x10000;
			uint16_t hi = (uint16_t)(0xD800 | (v >> 10)), lo = (uint16_t)(0xDC00 | (v & 0x3FF));

			if (max - n < 4)
				return -1;
			out[n++] = hi >> 8;
			out[n++] = hi & 0xFF;
			out[n++] = lo >> 8;
			out[n++] = lo & 0xFF;
		} else {
			if (max - n < 2)
				return -1;
			out[n++] = (uint8_t)(cp >> 8);
			out[n++] = cp & 0xFF;
		}
	}
	return (int)n;
}

char *text_ucs2be_to_utf8(void *ctx, const uint8_t *bytes, size_t len)
{
	/* A unit gives at most 3 bytes, a surrogate pair (2 units) 4, an odd last byte 3. */
	char *out = talloc_size(ctx, len / 2 * 3 + 3 + 1), *shrunk;
	size_t i = 0, n = 0;

	if (!out)
		return NULL;
	while (i + 1 < len) {
		uint32_t cp = (uint32_t)bytes[i] << 8 | bytes[i + 1];

		i += 2;
		if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < len) {
			uint32_t lo = (uint32_t)bytes[i] << 8 | bytes[i + 1];

			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				i += 2;
			}
		}
		if (cp == 0)
			continue;	/* NUL padding would cut the C string */
		n += utf8_put(out + n, cp);	/* lone surrogates become U+FFFD */
	}
	if (i < len)
		n += utf8_put(out + n, CP_REPLACEMENT);
	out[n] = '\0';
	shrunk = talloc_realloc(ctx, out, char, n + 1);
	return shrunk ? shrunk : out;
}

char *text_latin1_to_utf8(void *ctx, const uint8_t *bytes, size_t len)
{
	char *out = talloc_size(ctx, len * 2 + 1), *shrunk;
	size_t i, n = 0;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (bytes[i] == 0)
			continue;	/* NUL would cut the C string */
		n += utf8_put(out + n, bytes[i]);
	}
	out[n] = '\0';
	shrunk = talloc_realloc(ctx, out, char, n + 1);
	return shrunk ? shrunk : out;
}

/* ---- Splitting ------------------------------------------------------------------------ */

/* Cost of cp in coding, 0 when GSM-7 cannot carry it. */
static unsigned coding_cost(uint32_t cp, enum text_coding coding)
{
	return coding == TEXT_GSM7 ? gsm7_cost(cp) : ucs2_cost(cp);
}

unsigned text_split_sms(void *ctx, const char *utf8, enum text_coding coding, char ***parts)
{
	unsigned single = coding == TEXT_GSM7 ? SMS_GSM7_SINGLE : SMS_UCS2_SINGLE;
	unsigned part_size = coding == TEXT_GSM7 ? SMS_GSM7_PART : SMS_UCS2_PART;
	struct part_fill pf = { 1, 0 };
	unsigned total = 0, n, i;
	const char *p = utf8, *start;
	char **arr;

	*parts = NULL;
	/* First pass: the count, so the array is allocated once and exactly. */
	while (*p) {
		unsigned c = coding_cost(utf8_next(&p), coding);

		if (c == 0)
			return 0;
		total += c;
		part_fill_add(&pf, c, part_size);
	}
	n = total <= single ? 1 : pf.parts;
	arr = talloc_zero_array(ctx, char *, n + 1);
	if (!arr)
		return 0;
	if (n == 1) {
		arr[0] = talloc_strdup(arr, utf8);
		if (!arr[0])
			goto fail;
		*parts = arr;
		return 1;
	}
	/* Second pass: the same greedy filling, cutting where a part is closed. */
	p = start = utf8;
	pf.fill = 0;
	i = 0;
	while (*p) {
		const char *before = p;
		unsigned c = coding_cost(utf8_next(&p), coding);

		if (pf.fill + c > part_size) {
			arr[i] = talloc_strndup(arr, start, (size_t)(before - start));
			if (!arr[i++])
				goto fail;
			start = before;
			pf.fill = 0;
		}
		pf.fill += c;
	}
	arr[i] = talloc_strdup(arr, start);
	if (!arr[i++])
		goto fail;
	*parts = arr;
	return i;
fail:
	talloc_free(arr);
	return 0;
}

bool text_is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}
