/* The back-end relay: named operations over HTTPS, on curl's multi socket interface driven
 * by the osmo select loop. Nothing here blocks.
 *
 * A person's values reach a back-end only as JSON strings (jansson) or percent-encoded URL
 * components, never spliced raw. TLS verification is always on. Answers are flattened into
 * vars (objects -> a.b, lists -> a.count, a.0.b). */
#ifndef GUICHET_BACKEND_H
#define GUICHET_BACKEND_H

#include <stdbool.h>
#include "guichet/config.h"
#include "guichet/router.h"

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
/* Per back-end counters for the status line and the counters log line. */
struct backend_stats {
	const char *name;
	unsigned long calls, errors;
	bool last_ok;
};
unsigned backend_relay_stats(const struct backend_relay *b, struct backend_stats *out, unsigned max);
void backend_relay_destroy(struct backend_relay *b);

/* Canned answers for `guichet simulate` and unit tests: a YAML fixture file mapping
 * "backend.operation" to a JSON answer (or `error: reason`). */
struct call_port backend_canned_port(void *ctx, const char *fixture_file, struct diag *d);

/* Pure helpers (tested alone): flatten a JSON text into vars under prefix "". */
int backend_flatten_json(const char *json, size_t len, struct vars *out, char *err, size_t err_len);

#endif
