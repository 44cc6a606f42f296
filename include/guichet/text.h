/* Texts as a phone receives them: GSM 03.38 7-bit or UCS-2, parts, folding, USSD screens.
 *
 * Everything here is pure and takes UTF-8. The renderer, not libGammu, decides the coding:
 * GSM-7 when every character is in the default alphabet or its extension table (2 septets
 * each), UCS-2 otherwise; never a silent substitution. */
#ifndef GUICHET_TEXT_H
#define GUICHET_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum text_coding { TEXT_GSM7, TEXT_UCS2 };

struct text_measure {
	enum text_coding coding;
	unsigned units;		/* septets (escapes count 2) or UTF-16 code units */
	unsigned chars;		/* Unicode code points */
	unsigned parts;		/* SMS parts: 160/153 septets, 70/67 units */
};

/* What a channel can carry in one reply. */
struct text_budget {
	unsigned gsm7_units;	/* septets */
	unsigned ucs2_units;	/* UTF-16 code units */
};

/* Measures utf8 as an SMS: coding, units, parts. Invalid UTF-8 bytes count as U+FFFD (one
 * per maximal invalid sequence), which forces UCS-2. The empty text is one part. Linear,
 * allocates nothing. */
void text_measure(const char *utf8, struct text_measure *m);
/* True when utf8 can be sent in GSM-7 (default alphabet + extension table). */
bool text_is_gsm7(const char *utf8);
/* True when s is not empty and only ASCII digits (a short code, a date's digits). */
bool text_is_digits(const char *s);
/* Budget of an SMS reply of at most max_parts parts (1 -> 160/70, n -> n*153 / n*67). */
struct text_budget text_budget_sms(unsigned max_parts);
/* Budget of one USSD screen holding at most screen_chars GSM-7 characters (UCS-2: the same
 * octets, i.e. screen_chars * 7 / 16 units). */
struct text_budget text_budget_ussd(unsigned screen_chars);
/* True when utf8, in the coding it would take, fits the budget. A budget made by
 * text_budget_sms(n) is checked in parts, since an escape or surrogate pair never straddles
 * two parts and n * 153 septets may then need n + 1 parts; any other budget in units.
 * Linear, allocates nothing. */
bool text_fits(const char *utf8, const struct text_budget *b);

/* Folds characters outside GSM-7 to close GSM-7 ones (ê->e, ç->c (or Ç), œ->oe, ’->', « »->",
 * …->..., non-breaking space->space). Characters with no sensible fold (emoji) stay. Returns a
 * talloc'd string under ctx. */
char *text_fold_gsm7(void *ctx, const char *utf8);

/* Conversions. Septet arrays are unpacked (one septet per byte, escapes as 0x1B + code). */
/* Returns the number of septets written, or -1 if a character is not in GSM-7 or max is hit. */
int text_utf8_to_gsm7(const char *utf8, uint8_t *septets, size_t max);
/* An unknown extension code shows as the default-alphabet character; a trailing lone escape
 * is dropped; a septet above 0x7F becomes U+FFFD. */
char *text_gsm7_to_utf8(void *ctx, const uint8_t *septets, size_t n);
/* Big-endian UCS-2/UTF-16 bytes (as in SMS and USSD) <-> UTF-8. Returns bytes written or -1. */
int text_utf8_to_ucs2be(const char *utf8, uint8_t *out, size_t max);
/* Lone surrogates and an odd last byte become U+FFFD; U+0000 (padding) is dropped. */
char *text_ucs2be_to_utf8(void *ctx, const uint8_t *bytes, size_t len);
/* NUL bytes are dropped. */
char *text_latin1_to_utf8(void *ctx, const uint8_t *bytes, size_t len);

/* Splits utf8 into SMS parts of the given coding (153 septets / 67 units each, or a single
 * part when it fits 160/70), never cutting an escape pair or a surrogate pair. Returns the
 * number of parts and a talloc'd, NULL-terminated array under ctx whose strings are its
 * children (one talloc_free releases all). The parts joined give utf8 back byte for byte.
 * Returns 0 and sets *parts to NULL when coding is TEXT_GSM7 and utf8 holds a character
 * GSM-7 cannot carry, or when memory runs out. */
unsigned text_split_sms(void *ctx, const char *utf8, enum text_coding coding, char ***parts);

/* Number of code points in utf8. */
unsigned text_chars(const char *utf8);

#endif
