/* The notification API: HTTPS served by guichetd (libmicrohttpd with GnuTLS, on the loop
 * through mhd_loop.h) for back-ends that want Guichet to send first. TLS always; each
 * request is authenticated by a bearer token (secret files, compared in constant time) or a
 * client certificate signed by client_ca. docs/api.yaml describes it (OpenAPI 3.0):
 *
 *   POST   /v1/messages          {to, text | template+vars | flow+step+vars, send_at?,
 *                                 not_after?, via?, reference?, idempotency_key?}
 *                                 -> 202 {id, status}
 *   POST   /v1/messages:batch    {messages: [...]} -> 202 {messages: [{id, status}]}
 *   GET    /v1/messages/{id}     -> 200 {id, status, reason, ...}
 *   DELETE /v1/messages/{id}     -> 200 cancelled, 409 when it already left
 *
 * A 202 is answered only after the message is committed to the store (a batch in one
 * transaction; the requests checked during one loop iteration wait, suspended, for one
 * group commit, so concurrent clients share each fsync). A number that opted out (STOP) gets its message stored as refused:
 * opt-out, at once.
 *
 *   api:
 *     listen: 127.0.0.1
 *     port: 8443
 *     cert: /etc/guichet/api.pem        # server certificate chain (PEM)
 *     key: /etc/guichet/api.key         # its key (PEM, not readable by others)
 *     tokens: [api-token]               # secret files (credentials directory), or
 *     client_ca: /etc/guichet/clients.pem   # CA of accepted client certificates
 *     max_batch: 1000
 */
#ifndef GUICHET_API_HTTP_H
#define GUICHET_API_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

struct ydoc;
struct config;
struct store;
struct scheduler;
struct router;
struct api_http;

struct api_http_config {
	const char *listen;
	unsigned port;
	char *cert_pem, *key_pem;	/* the files' contents */
	char *client_ca_pem;		/* NULL: no client certificates */
	unsigned n_tokens;
	char **tokens;			/* the secrets themselves */
	unsigned max_batch;
};

/* The `api:` section: files read now (so `guichetd -t` finds a missing one). 0 or -1 with
 * located errors in y. */
int api_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, const struct config *c,
			  struct api_http_config **out);

struct api_http_env {
	struct store *st;
	struct scheduler *sched;	/* kicked after each commit; may be NULL (tests) */
	struct router *router;		/* its flows check `flow` + `step`; NULL: none accepted */
	unsigned max_parts;		/* longest text, in SMS parts */
	bool fold;			/* fold texts to GSM-7 like flow texts */
};

/* Listens; NULL (and a journal line) when it cannot. */
struct api_http *api_http_start(void *ctx, const struct api_http_config *cfg,
				const struct api_http_env *env);
void api_http_stop(struct api_http *a);

/* The pure helpers (api_number_ok, api_parse_time) and one message's checks. */
#include "guichet/api_message.h"

#endif
