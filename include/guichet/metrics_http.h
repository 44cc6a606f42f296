/* The operator's metrics endpoint: GET /metrics in Prometheus text (metrics.h), served by
 * libmicrohttpd on the loop (mhd_loop.h). Plain HTTP, so keep it on loopback (the default)
 * or behind the host's firewall: it shows counts, never a number or a text.
 *
 *   metrics:
 *     listen: 127.0.0.1      # IPv4 or IPv6 address
 *     port: 9464             # 0: any free port (tests)
 */
#ifndef GUICHET_METRICS_HTTP_H
#define GUICHET_METRICS_HTTP_H

#include <yaml.h>

struct ydoc;
struct metrics_http;

struct metrics_http_config {
	const char *listen;
	unsigned port;
};

/* The `metrics:` section; 0 or -1 with located errors in y. *out is a talloc child of ctx. */
int metrics_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node,
			      struct metrics_http_config **out);
/* Listens; NULL (and a journal line) when it cannot. */
struct metrics_http *metrics_http_start(void *ctx, const struct metrics_http_config *cfg);
void metrics_http_stop(struct metrics_http *m);

#endif
