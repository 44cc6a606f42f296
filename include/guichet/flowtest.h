/* Test dialogues: what a person sends, what the back-ends answer, what comes back.
 *
 * A dialogue is one YAML file beside the flows (flows/tests/NAME.yaml, format in
 * flows/README.md, "Testing a procedure"). flowtest_run plays it through the real router,
 * engine and renderer on an in-memory store, as `guichet simulate` does, with canned
 * back-end answers and a fixed clock, and records every reply with its encoding and size,
 * and every message a step schedules (receipts, reminders) with its time, so that
 * `guichet test` can compare them, `guichet check` can count their cost, and a report can
 * draw them as phone screens. */
#ifndef GUICHET_FLOWTEST_H
#define GUICHET_FLOWTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "guichet/diag.h"
#include "guichet/flow.h"
#include "guichet/render.h"
#include "guichet/router.h"
#include "guichet/session.h"
#include "guichet/text.h"

/* The time a dialogue starts when it has no `clock:`, in the flows' time zone (guichet test
 * sets the process's to the notify section's, Europe/Paris by default): replies do not
 * depend on it, the times of the messages a flow schedules do. */
#define FLOWTEST_CLOCK "2026-12-01 09:00"

/* One expected reply. Unset checks are not made. */
struct flowtest_expect {
	const char *text;		/* the exact text, or NULL */
	const char **contains;		/* texts the reply must contain */
	unsigned n_contains;
	int by;				/* -1 any; CHANNEL_SMS or CHANNEL_USSD (a USSD dialogue's
					 * answer may come by SMS) */
	int coding;			/* -1 any; TEXT_GSM7 or TEXT_UCS2 */
	int parts;			/* -1 any; SMS parts */
	int end;			/* -1 any; USSD: 1 the screen ends the dialogue */
	/* Where the expected text is written (for messages and --update): byte range of its
	 * YAML value in the file, 1-based line and column, indentation of its key. */
	unsigned line, col, key_col;
	size_t start, stop;
};

/* One message a step is expected to schedule (scheduled:): a reminder or a receipt. */
struct flowtest_sched_expect {
	const char *text;		/* the exact text, or NULL */
	const char **contains;		/* texts it must contain */
	unsigned n_contains;
	bool has_at;
	int64_t at;			/* unix seconds, compared to the minute */
	unsigned line, col;
};

struct flowtest_step {
	unsigned line, col;		/* the step in the file */
	unsigned wait_s;		/* time jump before the text (wait: 31m) */
	const char *send;		/* the text sent, NULL for a step that only waits */
	bool hangup;			/* USSD: the person ends the dialogue (no text) */
	bool hurry;			/* SMS: the next text goes before this one's calls have
					 * answered (their replies come with the next step's) */
	struct call_port backend;	/* answers for calls made during this step (call NULL:
					 * the dialogue's) */
	bool checked;			/* replies are compared (reply/contains/replies/no_reply) */
	struct flowtest_expect *expect;
	unsigned n_expect;
	/* Where expectations may be added by --update: after the send's value, at the
	 * step's key column; 0 when the step is written in flow style ({ send: x }). */
	size_t insert_at;
	unsigned key_col;
	/* Byte range of the whole reply/replies value when written, for --update. */
	bool replies_list;
	size_t list_start, list_stop;
	unsigned list_key_col;
	/* A step-level `contains:` (byte range from its key to the end of its value), which
	 * --update replaces with the texts got. 0, 0 when absent. */
	size_t contains_start, contains_stop;
	/* scheduled: the messages the step schedules, in order, compared when written. */
	bool sched_checked;
	struct flowtest_sched_expect *sched;
	unsigned n_sched;
	size_t sched_start, sched_stop;	/* its key to the end of its value, for --update */
	unsigned sched_key_col;
};

struct flowtest {
	const char *file;
	const char *name;		/* `dialogue:`, else the file name */
	enum channel channel;
	const char *from;
	struct call_port backend;	/* the dialogue's canned answers */
	int64_t clock;			/* unix seconds when the dialogue starts (clock:, default
					 * FLOWTEST_CLOCK), read in the process's time zone */
	struct flowtest_step *steps;
	unsigned n_steps;
};

/* One reply as the person gets it. */
struct flowtest_reply {
	enum channel by;
	const char *text;
	struct text_measure m;		/* for SMS: coding, septets/units, parts */
	bool end;			/* USSD: the dialogue ends with this screen */
};

/* One message a step scheduled (a reminder or a receipt), as the store holds it. */
struct flowtest_scheduled {
	bool receipt;
	int64_t at;			/* unix seconds */
	const char *text;
	const char *reference;		/* or NULL */
};

struct flowtest_step_result {
	const struct flowtest_step *step;
	struct flowtest_reply *got;
	unsigned n_got;
	struct flowtest_scheduled *sched;	/* scheduled during the step, in order */
	unsigned n_sched;
	bool ok;
	bool replies_failed;		/* the replies were not as expected (or never came) */
	bool sched_failed;		/* the scheduled messages were not as expected */
	char *why;			/* what failed, with a diff of expected vs got; NULL if ok */
};

struct flowtest_result {
	const struct flowtest *t;
	struct flowtest_step_result *steps;
	unsigned n_steps, n_failed;
	unsigned parts;			/* SMS parts the person received in the whole dialogue */
	unsigned screens;		/* USSD screens shown */
	unsigned sms;			/* SMS replies */
};

struct flowtest_opts {
	struct render_opts ro;		/* SMS parts, folding, USSD screen size */
	unsigned call_budget_ms;	/* default 10000 */
	unsigned ussd_answer_ms;	/* a screen waits this long for a back-end (default 200: a
					 * canned answer with a larger delay_ms is "slow") */
};

/* Loads one dialogue file; every error goes to d, located. NULL on any error. */
struct flowtest *flowtest_load(void *ctx, const char *file, struct diag *d);
/* Loads every *.yaml of dir, in name order, into a talloc'd array (*out). Returns how many
 * loaded; errors (including a missing directory) go to d. */
unsigned flowtest_load_dir(void *ctx, const char *dir, struct flowtest ***out, struct diag *d);

/* Plays t against fs. The result lives under ctx. Never fails: a dialogue that cannot be
 * played (no canned answer for a call, a reply that never comes) fails its step. */
struct flowtest_result *flowtest_run(void *ctx, const struct flow_set *fs,
				     const struct flowtest *t, const struct flowtest_opts *o);

/* at as the dialogues write it, "2026-12-06 18:00" in the process's time zone, under ctx. */
char *flowtest_time(void *ctx, int64_t at);

/* "file:line:col: step N: why" for each failed step, with the diff. */
void flowtest_print_failures(const struct flowtest_result *r, FILE *out);
/* The dialogue as it ran, replies rendered like `guichet simulate`. */
void flowtest_print_transcript(void *ctx, const struct flowtest_result *r,
			       const struct render_opts *ro, FILE *out);

/* Rewrites the file of r so that its expected texts are the replies got: failing exact
 * texts are replaced, a failing `contains:` becomes the exact text got, steps without
 * expectations get a `reply:` (or `replies:`); a failing `scheduled:` is rewritten, and a
 * step that scheduled messages without saying so gets one. Comments and everything else
 * stay. Returns the number of steps changed, -1 when the file cannot be written; steps it
 * cannot rewrite (flow-style steps) are told in d as warnings. */
int flowtest_update(void *ctx, const struct flowtest_result *r, struct diag *d);

#endif
