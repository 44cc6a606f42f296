/* The back-end relay: named operations over HTTPS, on curl's multi socket interface driven
 * by the osmo select loop. Nothing here blocks.
 *
 * A person's values reach a back-end only as JSON strings (jansson) or percent-encoded URL
 * components, never spliced raw. TLS verification is always on. Answers are flattened into
 * vars (objects -> a.b, lists -> a.count, a.0.b). */
#ifndef GUICHET_BACKEND_H
#define GUICHET_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/config.h"
#include "guichet/router.h"
#include "guichet/vars.h"

struct backend_relay;

/* Parses the `backends:` section of the config (see config/guichet.yaml). */
int backend_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
			 struct backend_config **out);
/* "backend.operation" names declared, for the flow checker. */
unsigned backend_config_ops(const struct backend_config *bc, const char ***names, void *ctx);

/* Creates the relay on the current osmo select loop; reads secrets now (NULL + message in
 * err if one is missing or readable by others). */
struct backend_relay *backend_relay_create(void *ctx, const struct config *c, char *err,
					   size_t err_len);
struct call_port backend_relay_port(struct backend_relay *b);
unsigned backend_relay_in_flight(const struct backend_relay *b);
/* Per back-end counters: one rate_ctr group per back-end (label name="<back-end>", prefix
 * "backend") shown on /metrics, and read here for STATUS= and the counters log line. The
 * latency buckets are cumulative, as Prometheus histograms are: a call of 80 ms counts in
 * every latency_le_* from 100 ms up; calls is the total. */
enum backend_ctr {
	BACKEND_CTR_CALLS, BACKEND_CTR_ERRORS, BACKEND_CTR_RETRIES,
	BACKEND_CTR_LE_100MS, BACKEND_CTR_LE_250MS, BACKEND_CTR_LE_500MS, BACKEND_CTR_LE_1000MS,
	BACKEND_CTR_LE_2500MS, BACKEND_CTR_LE_5000MS,
	_BACKEND_CTR_N
};
/* Back-ends in the relay (0 for NULL); i below is 0-based, < that count. */
unsigned backend_relay_count(const struct backend_relay *b);
const char *backend_relay_name(const struct backend_relay *b, unsigned i);
/* False when back-end i's last call failed. */
bool backend_relay_last_ok(const struct backend_relay *b, unsigned i);
uint64_t backend_relay_counter(const struct backend_relay *b, unsigned i, enum backend_ctr which);
void backend_relay_destroy(struct backend_relay *b);

/* Canned answers for `guichet simulate` and unit tests: a YAML fixture file mapping
 * "backend.operation" to a JSON answer (or `error: reason`). */
struct call_port backend_canned_port(void *ctx, const char *fixture_file, struct diag *d);
/* The same from a mapping node of an already loaded document (`guichet test` files); errors
 * located through y. port.call is NULL on error. NULL map: no answers. */
struct call_port backend_canned_port_node(void *ctx, struct ydoc *y, yaml_node_t *map);

/* Pure helpers (tested alone): flatten a JSON text into vars under prefix "". */
int backend_flatten_json(const char *json, size_t len, struct vars *out, char *err, size_t err_len);

/* ---- the parsed `backends:` section (backend_config.c); read-only after parsing ---- */

/* Largest answer body accepted unless a back-end sets max_response. */
#define BACKEND_MAX_RESPONSE_DEFAULT (256u * 1024u)
#define BACKEND_TIMEOUT_DEFAULT_MS 5000u
#define BACKEND_CONNECT_TIMEOUT_DEFAULT_MS 2000u

enum backend_auth { BACKEND_AUTH_NONE, BACKEND_AUTH_BEARER, BACKEND_AUTH_BASIC, BACKEND_AUTH_CERT };

/* A name and a template ("{{service}}"), for query parameters, body fields and headers. */
struct backend_kv {
	const char *name;
	const char *tmpl;
};

struct backend_op {
	const char *name;		/* "slots" */
	const char *full;		/* "agenda.slots" */
	const char *method;		/* GET, POST, PUT, PATCH, DELETE */
	const char *path;		/* template; each {{...}} is percent-encoded */
	struct backend_kv *query;	/* names and expanded values percent-encoded */
	unsigned n_query;
	struct backend_kv *body;	/* a JSON object of strings; has_body false: none */
	unsigned n_body;
	bool has_body;
	struct backend_kv *headers;	/* added to the back-end's headers */
	unsigned n_headers;
	bool idempotent;		/* may be retried on connect errors and 5xx */
	const char *result;		/* dotted path of the part kept, NULL: all */
	const char **require;		/* dotted paths that must exist in the answer */
	unsigned n_require;
	unsigned timeout_ms;		/* one attempt; 0: the back-end's */
};

struct backend_def {
	const char *name;		/* "agenda" */
	const char *url;		/* https://host[:port][/prefix], no trailing slash */
	const char *ca;			/* CA file (absolute), NULL: the system's CAs */
	enum backend_auth auth;
	const char *token;		/* bearer: secret name */
	const char *user;		/* basic */
	const char *password;		/* basic: secret name */
	const char *cert, *key;		/* client certificate and key files (absolute) */
	struct backend_kv *headers;
	unsigned n_headers;
	unsigned timeout_ms, connect_timeout_ms;
	unsigned max_response;		/* bytes */
	struct backend_op *ops;
	unsigned n_ops;
};

struct backend_config {
	struct backend_def *defs;
	unsigned n;
};

/* "agenda.slots" -> its back-end and operation, or NULL. */
const struct backend_op *backend_config_find(const struct backend_config *bc, const char *op,
					     const struct backend_def **def);

/* ---- pure request/answer helpers (backend_request.c), tested alone ---- */

/* Percent-encodes s as one URL component (everything but A-Z a-z 0-9 - . _ ~). */
char *backend_url_encode(void *ctx, const char *s);
/* base URL + path (each {{...}} expanded from args and encoded) + ?query (encoded). NULL with
 * a message in err on a malformed template. */
char *backend_build_url(void *ctx, const struct backend_def *d, const struct backend_op *op,
			const struct vars *args, char *err, size_t err_len);
/* The JSON body (a compact object of strings), or NULL with err set; "" (not NULL) when the
 * operation has no body. */
char *backend_build_body(void *ctx, const struct backend_op *op, const struct vars *args,
			 char *err, size_t err_len);
/* Expands a header template; NULL with err set when it would contain CR, LF or NUL. */
char *backend_build_header(void *ctx, const struct backend_kv *h, const struct vars *args,
			   char *err, size_t err_len);
/* Reads an answer body: JSON required, every `require:` path present, then the `result:`
 * part flattened into out. -1 with a short reason in err ("not JSON", "missing field x");
 * the reason never quotes the body. */
int backend_read_answer(const struct backend_op *op, const char *body, size_t len,
			struct vars *out, char *err, size_t err_len);

/* ---- observing the relay (bench, debugging) ---- */

/* Called after each attempt, just before done (or the retry): curl's own total time. */
typedef void (*backend_timing_fn)(void *data, const char *op, long http_status,
				  double curl_total_s);
void backend_relay_set_timing(struct backend_relay *b, backend_timing_fn fn, void *data);

#endif
