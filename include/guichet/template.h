/* Templates: "Votre rendez-vous : {{slot_label}} ({{date | date}})".
 *
 * {{name}} inserts a variable; filters follow bars: {{name | upper}}, {{name | lower}},
 * {{name | date}} (ISO "2026-03-02T09:30" -> "lundi 2 mars à 9h30"), {{name | day}}
 * ("lundi 2 mars"), {{name | default: "texte"}}. Expansion is single-pass: a value is inserted
 * as it is and never expanded again, so what a person typed cannot inject template syntax.
 *
 * Names are [A-Za-z0-9_.-]+ ("item.label", "slots.0.id"); blanks are allowed inside the
 * braces; a lone { or } is literal text. Filters run left to right. default applies when the
 * value is unset or empty; its text is in double quotes, \" and \\ inside stand for " and \.
 * upper and lower map Latin (all French letters: é <-> É, œ <-> Œ, ÿ <-> Ÿ), Greek and
 * Cyrillic. date: "2026-03-02T09:30" or "2026-03-02 09:30" -> "lundi 2 mars à 9h30",
 * "... 09:00" -> "... à 9h", "2026-03-02" -> "lundi 2 mars 2026"; day: "lundi 2 mars". The
 * first of a month is written "1er". Seconds and a zone after HH:MM are ignored; a value
 * that is not such a date is left as it is. */
#ifndef GUICHET_TEMPLATE_H
#define GUICHET_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/* An expansion never grows beyond this many bytes. */
#define TEMPLATE_EXPAND_MAX	65536

/* Returns the value of name, or NULL when unset. */
typedef const char *(*template_lookup_fn)(void *data, const char *name);

/* Expands tmpl into a talloc'd string under ctx. An unset variable without a default
 * expands to "". Returns NULL only on a malformed template (the checker rejects those), a
 * result longer than TEMPLATE_EXPAND_MAX or no memory. */
char *template_expand(void *ctx, const char *tmpl, template_lookup_fn lookup, void *data);

/* Validates tmpl and reports every variable name it uses through each_var (may be NULL).
 * On a syntax error or unknown filter returns -1 with a message in err and the byte offset
 * of the problem in *err_off (err and err_off may be NULL). Returns 0 when valid. Each use of a
 * variable is reported, in order, repeats included; name points into tmpl (not terminated).
 * Variables before an error are reported too. */
typedef void (*template_var_fn)(void *data, const char *name, size_t name_len);
int template_check(const char *tmpl, template_var_fn each_var, void *data,
		   char *err, size_t err_len, size_t *err_off);

/* True when tmpl is one {{ name }} and nothing else, no filter: its expansion is the value
 * itself (or "" when unset), which a caller may then use without a copy. name (size bytes)
 * gets the name; false too when it does not fit. */
bool template_single_var(const char *tmpl, char *name, size_t size);
/* True when tmpl contains no {{ }} at all. */
bool template_is_literal(const char *tmpl);

/* True when tmpl expands to GSM-7 whenever every value its tags insert is GSM-7: its text
 * between tags and its default texts are GSM-7, and no tag has a filter that changes a value
 * (upper, lower, date, day: "ù" | upper is "Ù", a date may write "août"). Computed once at
 * load, so that the engine checks only the values of a reply, not its whole text. False
 * for a malformed template. */
bool template_gsm7_but_values(const char *tmpl);

#endif
