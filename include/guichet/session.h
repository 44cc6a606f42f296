/* A session: where one person is in one procedure. Small plain data, stored between inputs.
 *
 * The key says who and where: "sms:<modem-or-smsc>:<number>" or "ussd:<dialogue id>". Step
 * names (not indices) are kept so that a stored session survives a restart that reloads
 * flows. */
#ifndef GUICHET_SESSION_H
#define GUICHET_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/vars.h"

#define SESSION_KEY_MAX 96
#define SESSION_NAME_MAX 48
#define SESSION_HISTORY 8

enum channel { CHANNEL_SMS, CHANNEL_USSD };

enum session_state {
	SESSION_IDLE,		/* no procedure running: the next text picks one */
	SESSION_ACTIVE,		/* waiting for the person's answer at step */
	SESSION_WAITING,	/* waiting for the back-end call call_id */
};

struct session {
	char key[SESSION_KEY_MAX];
	char address[32];	/* the person's number (or IMSI), personal data: never logged raw */
	char via[32];		/* SMS: the transport (modem, SMSC) the person last wrote to;
				 * replies go back through it, after a restart too */
	enum channel channel;
	enum session_state state;
	char flow[SESSION_NAME_MAX];
	unsigned flow_version;	/* flow set the session started on */
	char step[SESSION_NAME_MAX];
	uint8_t tries;		/* wrong answers at this step */
	uint8_t page;		/* menu page shown (0-based) */
	/* The options that page shows: the first one's index and how many (page_n 0: not
	 * known, the engine cuts the page again). Kept so that an answer is read against the
	 * page the person saw without rendering the menu a second time. */
	uint16_t page_first;
	uint8_t page_n;
	uint8_t n_history;
	char history[SESSION_HISTORY][SESSION_NAME_MAX];	/* steps to go back to with "0" */
	uint32_t call_id;	/* the call in flight when WAITING; increases per call */
	int64_t started;	/* unix seconds */
	int64_t deadline;	/* unix seconds after which the session has expired; 0 = none */
	char lang[8];		/* "fr" unless the flow sets the variable lang */
	struct vars vars;
};

/* Initialises s as an idle session for key under ctx (vars' strings live under ctx). */
void session_init(struct session *s, void *ctx, const char *key, enum channel ch,
		  const char *address);
/* Copies src into dst (dst's vars under ctx). */
void session_copy(struct session *dst, void *ctx, const struct session *src);
/* Ends the procedure: back to idle, variables dropped. */
void session_reset(struct session *s);

/* Compact, versioned serialisation for the store. Secret variables are never serialised.
 * session_encode returns a talloc'd NUL-terminated string (length in *len). */
char *session_encode(void *ctx, const struct session *s, size_t *len);
int session_decode(struct session *s, void *ctx, const char *data, size_t len);
/* For stores walking their sessions: decodes one record under a child of ctx, hands it to fn,
 * then frees it (fn copies what it keeps). Returns 0, or -1 when the record does not decode
 * (fn is then not called). */
int session_decode_visit(void *ctx, const char *data, size_t len,
			 void (*fn)(void *data, const struct session *s), void *fn_data);

const char *channel_name(enum channel ch);

#endif
