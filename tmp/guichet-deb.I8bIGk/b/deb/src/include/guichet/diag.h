/* Located diagnostics for administrators: "file:line:column: what is wrong".
 *
 * Loaders collect every error they find (not only the first) so that one run of
 * `guichet check` shows them all. */
#ifndef GUICHET_DIAG_H
#define GUICHET_DIAG_H

#include <stdarg.h>
#include <stdio.h>

enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

struct diag_entry {
	enum diag_level level;
	char *file;
	unsigned line, col;	/* 1-based; 0 when unknown */
	char *msg;
};

struct diag {
	void *ctx;
	unsigned n, n_errors, n_warnings, cap;
	struct diag_entry *e;
};

struct diag *diag_alloc(void *ctx);
void diag_add(struct diag *d, enum diag_level lvl, const char *file, unsigned line, unsigned col,
	      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void diag_vadd(struct diag *d, enum diag_level lvl, const char *file, unsigned line, unsigned col,
	       const char *fmt, va_list ap);
/* Prints each entry as "file:line:col: error: msg" (gcc style, so editors can jump to it). */
void diag_print(const struct diag *d, FILE *out);
/* Closest candidate to word by edit distance, or NULL if none is close enough. */
const char *diag_suggest(const char *word, const char *const *candidates, unsigned n);

#endif
