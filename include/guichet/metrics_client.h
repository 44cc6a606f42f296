/* `guichet status`: the operator's view of a running guichetd, read from its /metrics
 * endpoint (metrics_http.h) and printed as a table (metrics_print_table). */
#ifndef GUICHET_METRICS_CLIENT_H
#define GUICHET_METRICS_CLIENT_H

#include <stddef.h>

/* The endpoint a guichet.yaml configures ("http://127.0.0.1:9464/metrics"), read from its
 * `metrics:` section only (secrets and the rest are not needed to read counters). NULL with
 * err set when the file cannot be read or has no `metrics:` section. */
char *metrics_client_url(void *ctx, const char *config_file, char *err, size_t err_len);
/* GET url with a short timeout; the body as a talloc string, or NULL with err set. */
char *metrics_client_fetch(void *ctx, const char *url, char *err, size_t err_len);

#endif
