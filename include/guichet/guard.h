/* The cost guard: what keeps Guichet from being turned into an SMS cannon.
 *
 * Pure policy, no I/O and no clock (the time comes in): the router asks it before the engine
 * runs on an inbound message (process it, send one polite notice, or stay silent) and before
 * a reply goes to the outbox (destination allowed, daily spend cap). It holds
 *  - per number: inbound windows (per minute, per UTC day), USSD dialogues begun, and what
 *    loop detection needs, in a fixed-size table of hashed numbers (bounded memory: the least
 *    recently seen number gives its slot up; numbers themselves are not kept);
 *  - the day's spend in SMS parts, in total and per transport (the router keeps it in the
 *    store too, so that it survives a restart: guard_spend_set at start).
 * Everything it stops is counted (guard_counter: a rate_ctr group, so /metrics has it too). */
#ifndef GUICHET_GUARD_H
#define GUICHET_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "guichet/ydoc.h"

struct guard;

struct guard_cap {
	const char *via;	/* transport name, as in the config */
	unsigned parts;		/* SMS parts a UTC day through it */
};

struct guard_config {
	unsigned per_minute;		/* inbound SMS per number and minute (0: no limit) */
	unsigned per_day;		/* ... and per UTC day */
	unsigned block_s;		/* a number past a limit is not served for this long */
	unsigned ussd_per_minute;	/* USSD dialogues a number may begin per minute */
	unsigned ussd_per_day;
	unsigned loop_window_s;		/* an answer this soon after our reply looks automatic */
	unsigned loop_exchanges;	/* this many such near-identical answers in a row: a loop
					 * (0: loop detection off) */
	unsigned loop_mute_s;		/* a loop is muted for this long */
	unsigned n_ignore;
	const char **ignore;		/* senders never answered: "alphanumeric", "short", or
					 * a glob ("+3389*") */
	unsigned n_allow;
	const char **allow;		/* destination prefixes replies may go to ("+336");
					 * "*" allows any */
	unsigned daily_parts;		/* total spend cap a UTC day, in parts (0: none) */
	unsigned n_caps;
	struct guard_cap *caps;		/* per transport */
	bool capped_in_procedure;	/* at the cap, people already in a procedure still get
					 * their replies (new procedures get nothing) */
	unsigned max_numbers;		/* numbers tracked at once */
};

/* The defaults documented in guichet.yaml(5); strings are static. */
void guard_config_defaults(struct guard_config *c);
/* The `limits:` section (guard_config.c): the defaults with what n sets, under ctx; errors
 * go to y's diagnostics. n may be NULL (no section: the defaults). */
struct guard_config *guard_config_parse(void *ctx, struct ydoc *y, yaml_node_t *n);

/* The guard owns a copy of cfg. */
struct guard *guard_create(void *ctx, const struct guard_config *cfg);
/* A new configuration (reload): windows, counters and the day's spend are kept (the table is
 * rebuilt empty only if max_numbers changed). */
void guard_configure(struct guard *g, const struct guard_config *cfg);
const struct guard_config *guard_config(const struct guard *g);

enum guard_verdict {
	GUARD_PROCESS,		/* let the engine run */
	GUARD_NOTICE,		/* do not run the engine; send the polite `limited` text once */
	GUARD_SILENT,		/* do not run the engine, send nothing */
};

enum guard_reason {
	GUARD_OK,
	GUARD_LIMITED,		/* past the per-number limits */
	GUARD_MUTED,		/* a reply loop with another robot */
	GUARD_IGNORED,		/* alphanumeric sender, short code, configured pattern */
	GUARD_REFUSED,		/* destination outside the allowed prefixes */
	GUARD_CAPPED,		/* the day's spend cap is reached */
};

struct guard_decision {
	enum guard_verdict verdict;
	enum guard_reason reason;
	bool first;		/* the first time for this number and reason (block, mute, day):
				 * worth one journal line; later ones only count */
};

/* An inbound SMS from `from` with `text` at `now` (unix seconds). Counts it in every case. */
struct guard_decision guard_sms_in(struct guard *g, const char *from, const char *text,
				   int64_t now);
/* A USSD dialogue begins. GUARD_NOTICE: end it at once with the `limited` text. */
struct guard_decision guard_ussd_begin(struct guard *g, const char *from, int64_t now);

/* Something the guard has to tell about the spend, for one journal line (and STATUS=). */
struct guard_note {
	enum { GUARD_NOTE_NONE, GUARD_NOTE_WARN, GUARD_NOTE_HIT } kind;
	const char *scope;	/* NULL: the total; else the transport */
	uint64_t spent, cap;
};

/* Before a reply of `parts` SMS parts to `to` goes into the outbox of `via`: GUARD_OK (the
 * parts are then counted as spent: write them to the store in the same transaction),
 * GUARD_REFUSED or GUARD_CAPPED. in_procedure: the person was already in a procedure.
 * note (may be NULL) is set when the 80 % line or the cap was just crossed. */
enum guard_reason guard_reply(struct guard *g, const char *via, const char *to, unsigned parts,
			      bool in_procedure, int64_t now, struct guard_note *note);
/* True when a new procedure through via would get no reply (the cap is reached); with
 * in_procedure, whether a person in a procedure would get none. Counts nothing. */
bool guard_capped(struct guard *g, const char *via, bool in_procedure, int64_t now);
/* Counts an inbound not processed because of the cap (the router decided with guard_capped). */
void guard_count_capped(struct guard *g);

/* The UTC day of now, the key of the spend in the store. */
int64_t guard_day(int64_t now);
/* At start (from the store): parts already spent through via on day. */
void guard_spend_set(struct guard *g, int64_t day, const char *via, uint64_t parts);
/* Parts spent today in total. */
uint64_t guard_spent(const struct guard *g, int64_t now);

/* True when the destination may receive a reply. */
bool guard_destination_allowed(const struct guard *g, const char *number);
/* True when the sender matches an `ignore` pattern. */
bool guard_sender_ignored(const struct guard *g, const char *number);

/* Since start: the guard's rate_ctr group (prefix "guard", metrics.h), for /metrics and the
 * counters line. */
enum guard_ctr {
	GUARD_CTR_LIMITED,	/* inbound SMS not processed: past the per-number limits */
	GUARD_CTR_NOTICES,	/* `limited` texts sent (one per block) */
	GUARD_CTR_MUTED,	/* inbound SMS not processed: a reply loop */
	GUARD_CTR_LOOPS,	/* reply loops recognised */
	GUARD_CTR_IGNORED,	/* inbound SMS from senders never answered */
	GUARD_CTR_REFUSED,	/* inbound SMS and replies to numbers outside the destinations */
	GUARD_CTR_CAPPED,	/* inbound SMS not processed and replies not sent: the spend cap */
	GUARD_CTR_USSD_LIMITED,	/* USSD dialogues ended at once: past the per-number rate */
	_GUARD_CTR_N
};
uint64_t guard_counter(const struct guard *g, enum guard_ctr which);

/* "spend cap reached: 500/500 parts" (for STATUS=), or "" when no cap is reached. */
const char *guard_status(struct guard *g, int64_t now, char *buf, size_t len);
/* The effective limits, one per line, as `guichet check --config` shows them. */
void guard_config_print(const struct guard_config *c, FILE *out);

const char *guard_reason_name(enum guard_reason r);

#endif
