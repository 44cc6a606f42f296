/* Logging: one line per meaningful event, to the journal with structured fields
 * (GUICHET_SESSION, GUICHET_FLOW, ...) or to stderr in a readable form.
 *
 * Phone numbers never appear raw: log_mask() ("+33 6** ** *5 78") or log_pseudonym() (a
 * keyed hash stable within a day). Message bodies and secret inputs only at debug, and
 * secret inputs not even there. Built on libosmocore's logging (categories and levels). */
#ifndef GUICHET_LOG_H
#define GUICHET_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <osmocom/core/logging.h>

enum glog_cat {
	GLOG_MAIN, GLOG_SESSION, GLOG_BACKEND, GLOG_MODEM, GLOG_USSD, GLOG_SMPP, GLOG_STORE,
	GLOG_CONFIG, _GLOG_N
};

/* Structured fields; any may be NULL. session is a pseudonym, never a number. */
struct log_fields {
	const char *session, *flow, *step, *channel, *modem, *backend, *smsc;
	const char *guard;	/* the cost guard's reason: limited, muted, capped... */
};

/* May be called again (reload: new level; or switching target). ctx is not used: logging
 * keeps its own talloc root until log_shutdown(), so freeing ctx first is safe.
 * journal: send to the journal (when running under systemd, i.e. $JOURNAL_STREAM set, or
 * forced); otherwise stderr. level: "debug", "info", "notice", "error". */
void log_setup(void *ctx, bool journal, const char *level);
void glog(enum glog_cat cat, int level, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "+33612345578" -> "+33 6** ** *5 78" into buf; returns buf. */
const char *log_mask(char *buf, size_t len, const char *number);
/* Keyed pseudonym of a number or session key, stable within a UTC day: "p-3fa9c21b". */
const char *log_pseudonym(char *buf, size_t len, const char *key);

/* Additions (operations). */

/* Level name ("debug", "info", "notice", "error", "fatal") -> LOGL_*; -1 if unknown, so
 * that config checking can refuse a bad log.level. */
int log_level_from_str(const char *name);
/* True when a line of this category and level would be written (skip costly formatting). */
bool log_enabled(enum glog_cat cat, int level);
/* Releases libosmocore's logging (talloc-clean test exit); glog() then writes to stderr. */
void log_shutdown(void);
/* Sets the 32-byte pseudonym key (tests: pseudonyms then never rotate), or with NULL draws
 * a new random one. Normally the key is random and rotated when the UTC day changes. */
void log_pseudonym_rekey(const unsigned char *key);
/* HMAC-SHA-256 (RFC 2104), exposed for tests. */
void log_hmac_sha256(const unsigned char *key, size_t key_len, const void *msg, size_t len,
		     unsigned char out[32]);

#define LOG_MAIN(level, fmt, ...) glog(GLOG_MAIN, level, NULL, fmt, ##__VA_ARGS__)

#endif
