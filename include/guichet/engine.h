/* The flow engine: pure. (flows, session, one event, the time) -> (new session, actions).
 *
 * No I/O, no clock, no globals: everything it needs comes in, everything it decides goes out.
 * Texts come out final for the channel: folded to GSM-7 when asked, menus paged to fit the
 * channel's budget. */
#ifndef GUICHET_ENGINE_H
#define GUICHET_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/flow.h"
#include "guichet/session.h"
#include "guichet/text.h"

enum engine_event {
	EV_TEXT,		/* the person sent text (for USSD, the first text is the dialled code) */
	EV_RESULT,		/* the call call_id answered; result holds its flattened values */
	EV_FAILURE,		/* the call call_id failed (error says why, for the log only) */
	EV_TIMEOUT,		/* the session's deadline passed with no answer (USSD, or a sweep) */
	EV_OPEN,		/* Guichet speaks first: flow `flow` begins at step `text`, with the
				 * variables already in the session (the notification API) */
};

/* What the channel can carry, decided by the transport's configuration. */
struct engine_channel {
	enum channel kind;
	struct text_budget budget;	/* one reply: SMS max parts, or one USSD screen */
	bool fold;			/* fold texts to GSM-7 (ê->e, ’->') to stay 7-bit */
};

struct engine_input {
	enum engine_event kind;
	const char *text;		/* EV_TEXT, UTF-8; EV_OPEN: the step */
	const char *flow;		/* EV_OPEN */
	const struct vars *result;	/* EV_RESULT */
	const char *error;		/* EV_FAILURE */
	uint32_t call_id;		/* EV_RESULT / EV_FAILURE */
	int64_t now;			/* unix seconds */
	const struct engine_channel *channel;
};

/* How a procedure ended, for the journal. */
enum engine_outcome {
	OUTCOME_NONE,		/* still running (or no procedure) */
	OUTCOME_COMPLETED,	/* reached an end step */
	OUTCOME_STOPPED,	/* the person sent STOP */
	OUTCOME_EXPIRED,	/* timeout */
	OUTCOME_FAILED,		/* too many tries, or a back-end failure without on_error */
};

struct engine_call {
	const char *op;			/* "backend.operation" */
	uint32_t call_id;
	struct vars args;		/* expanded `with:` (secret flag kept for the logs) */
};

/* A message sent first that a step decided (remind:, receipt:): the router stores it in the
 * schedule with the step's transaction. Always by SMS, to the person. */
struct engine_send {
	bool receipt;			/* a receipt (at = now), else a reminder */
	int64_t at;			/* unix seconds */
	const char *text;		/* final: SMS wording, expanded, folded when the channel folds */
	const char *reference;		/* the step's reference, or NULL */
	const char *key;		/* idempotency key: entering the step again (back, a
					 * replay after a crash) schedules nothing twice */
};

struct engine_out {
	const char *reply;		/* text to send, or NULL; for USSD one screen */
	bool expects_answer;		/* USSD: CONTINUE (true) or END (false) */
	bool started;			/* a procedure began with this event */
	enum engine_outcome outcome;	/* set when the procedure ended with this event */
	bool has_call;
	struct engine_call call;
	const char *wait_text;		/* the step's `wait:`: said on USSD if the call is slow */
	const char *flow;		/* flow and step after the event, for logs */
	const char *step;
	bool input_secret;		/* the text answered a secret question: never log it */
	unsigned n_sends;		/* reminders and receipts to schedule */
	struct engine_send *sends;
	unsigned n_cancels;		/* references whose open messages to this person are
					 * cancelled (cancel_reminders:) */
	const char **cancels;
	unsigned n_skipped;		/* reminders not scheduled: their time was already past
					 * or did not read as a time (for the log) */
};

/* Applies one event to *s (updated in place to its new state) with flows fs. out's strings
 * live under ctx or are fs's own (a text without {{ }} such as wait_text, the flow and step
 * names): read them while both are alive. Returns 0 in every case, callers may ignore it:
 * a session whose flow is gone is reset and starts afresh, and what goes wrong inside a flow
 * is a reply in out. */
int engine_step(void *ctx, const struct flow_set *fs, struct session *s,
		const struct engine_input *in, struct engine_out *out);

/* A common message said outside any procedure (by the router or a transport): t in lang
 * (French when there is none) for the channel, with {{contact}} and the other built-in
 * variables expanded, folded to GSM-7 when the channel folds. talloc'd under ctx; NULL when
 * t is absent. */
const char *engine_message(void *ctx, const struct flow_set *fs, const struct flow_text *t,
			   const char *lang, const struct engine_channel *ch);

const char *engine_outcome_name(enum engine_outcome o);

#endif
