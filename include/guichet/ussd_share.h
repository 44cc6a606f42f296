/* An aggregator dialogue's history as the hosts sharing a store keep it (store.h's struct
 * store_ussd): the `text` the aggregator sent with the last request answered, every input
 * joined by '*', except that an answer to a secret question is replaced by one mask byte,
 * so that no secret answer reaches the database. A host that did not answer the previous
 * request checks the next one against that history: the request must extend it by one
 * input, as ussd_http checks against the history it holds in memory.
 *
 * The price of the mask: a secret answer that itself holds a '*' makes the next request
 * look forged (refused, as a history that does not match). */
#ifndef GUICHET_USSD_SHARE_H
#define GUICHET_USSD_SHARE_H

#include <stdbool.h>
#include <stdint.h>

struct session;
struct store;

/* Stands for one secret answer in a shared history: a control character a phone's keypad
 * does not send. */
#define USSD_SHARE_MASK '\x1f'

/* history (as shared) extended by the request's input, or by the mask when the input
 * answered a secret question; talloc'd under ctx (NULL: no memory). */
char *ussd_share_extend(void *ctx, const char *history, const char *input, bool secret);
/* The input a request's text adds to history (as shared): text past history and its '*',
 * or text itself when history is empty. NULL when text does not extend history (forged,
 * replayed, or a state older or newer than this request). A mask in history matches one
 * input: one or more characters other than '*'. */
const char *ussd_share_input(const char *history, const char *text);

/* One dialogue's shared state as its host knows it: embedded in the router's dialogue.
 * The row in the store (store_ussd) is put when a screen that expects an answer is sent,
 * with step one more than the state the host continued: a host whose state is stale (the
 * dialogue went on elsewhere) loses the put and refuses the request. */
struct ussd_share {
	unsigned expire_s;	/* the row lives this long after each screen; 0: not shared */
	int64_t step;		/* screens sent, as far as this host knows */
	char *code;		/* the service code */
	char *history;		/* as shared, after the last screen */
	char *next;		/* as it will be once the screen owed now is sent */
	int64_t *swept;		/* when expired rows were last swept (the host's, shared) */
};

/* A dialogue that begins here: shared when expire_s > 0 and the store has the ussd ops.
 * Strings under ctx. */
void ussd_share_begin(struct ussd_share *sh, void *ctx, struct store *st, unsigned expire_s,
		      const char *code, int64_t *swept);
/* A request whose text is the aggregator's whole text, for dialogue id, read against the
 * shared row: 0 with *input set (in text) when the text extends the row's history and the
 * number, code and transport are the row's. When the row is further than sh (another host
 * answered since), *s is replaced by the row's session (vars under owner) and sh follows
 * the row. 1 when nothing shared matches (no row, expired, another number, a history not
 * extended): the request is refused. -1 on a store error (journal line; refused too). */
int ussd_share_resume(struct ussd_share *sh, void *owner, struct store *st, const char *id,
		      const char *via, const char *from, const char *code, const char *text,
		      int64_t now, struct session *s, const char **input);
/* The request in progress answered input (secret: a secret question; NULL input: the
 * dialogue's first request, which adds nothing to the history). */
void ussd_share_answered(struct ussd_share *sh, void *ctx, const char *input, bool secret);
/* A screen expecting an answer is about to be sent: the row is put (s as it is now).
 * 0 stored (or not shared); 1 stale: another host went further, the screen must not go;
 * -1 store error (journal line): the screen goes, the dialogue then stays on this host. */
int ussd_share_screen(struct ussd_share *sh, void *ctx, struct store *st, const char *id,
		      const char *via, const char *from, const struct session *s, int64_t now);
/* The dialogue ended here (last screen, abort, timeout): its row goes, unless another host
 * has gone further since. */
void ussd_share_end(struct ussd_share *sh, struct store *st, const char *id);

#endif
