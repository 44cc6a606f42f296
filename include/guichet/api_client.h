/* `guichet send`: one message through the daemon's notification API, as a back-end would
 * send it (api_http.h). Through the API rather than into the store: the daemon is the store's
 * only writer, and the API is the one door that validates, renders, checks consent at once,
 * applies idempotency and wakes the scheduler; an operator's message is treated exactly like
 * a back-end's. */
#ifndef GUICHET_API_CLIENT_H
#define GUICHET_API_CLIENT_H

#include <stddef.h>

struct api_send {
	const char *config;	/* guichet.yaml: where the API listens, its certificate, a token */
	const char *to, *text;
	const char *at;		/* RFC 3339, or NULL: now */
	const char *reference, *idempotency_key;	/* or NULL */
	const char *token_file;	/* NULL: the config's first token */
	const char *ca;		/* NULL: trust the API's own certificate from the config */
};

/* Sends; 0 with the answer ("id 12: queued") in out, or -1 with why in err. */
int api_client_send(void *ctx, const struct api_send *req, char *out, size_t out_len, char *err,
		    size_t err_len);

#endif
