/* GET /metrics on the loop. See metrics_http.h. */
#include <arpa/inet.h>
#include <string.h>
#include <microhttpd.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>

#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/metrics_http.h"
#include "guichet/mhd_loop.h"
#include "guichet/ydoc.h"

struct metrics_http {
	struct mhd_loop *loop;
	char *listen;
};

int metrics_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node,
			      struct metrics_http_config **out)
{
	static const char *const keys[] = { "listen", "port" };
	struct metrics_http_config *mc;
	yaml_node_t *v;
	const char *s;
	int rc = 0;

	*out = NULL;
	if (!ydoc_is_map(node)) {
		ydoc_error(y, node, "metrics must be a mapping: { listen: 127.0.0.1, port: 9464 }, "
			   "found %s", ydoc_kind(node));
		return -1;
	}
	mc = talloc_zero(ctx, struct metrics_http_config);
	if (!mc)
		return -1;
	mc->listen = "127.0.0.1";
	mc->port = 9464;
	if (ydoc_check_keys(y, node, keys, ARRAY_SIZE(keys)))
		rc = -1;
	if ((v = ydoc_get(y, node, "listen"))) {
		if ((s = ydoc_listen(y, v)))
			mc->listen = talloc_strdup(mc, s);
		else
			rc = -1;
	}
	if ((v = ydoc_get(y, node, "port")) && ydoc_port(y, v, 0, &mc->port))
		rc = -1;
	if (rc) {
		talloc_free(mc);
		return -1;
	}
	*out = mc;
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
								     MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	enum MHD_Result rc;
	char *text;

	(void)cls; (void)version; (void)upload; (void)con_cls;
	if (*upload_size)
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain", "No body here\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "Try /metrics\n");
	text = metrics_render(NULL);
	if (!text)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "Out of memory\n");
	rc = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
	talloc_free(text);
	return rc;
}

struct metrics_http *metrics_http_start(void *ctx, const struct metrics_http_config *cfg)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	struct metrics_http *m;
	bool ipv6;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (!cfg || !mhd_loop_sockaddr(cfg->listen, cfg->port, &ss, &ipv6)) {
		LOG_MAIN(LOGL_ERROR, "metrics: bad listen address");
		return NULL;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	/* Scrapers are few and quick: a small connection budget and a short timeout keep a
	 * stuck client from holding anything. */
	d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, access_cb, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)5,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)8,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
			     MHD_OPTION_END);
	if (!d) {
		LOG_MAIN(LOGL_ERROR, "metrics: cannot listen on %s port %u", cfg->listen, cfg->port);
		return NULL;
	}
	m = talloc_zero(ctx, struct metrics_http);
	if (!m || !(m->loop = mhd_loop_attach(m, d))) {
		MHD_stop_daemon(d);
		talloc_free(m);
		LOG_MAIN(LOGL_ERROR, "metrics: cannot run the endpoint on the loop");
		return NULL;
	}
	m->listen = talloc_strdup(m, cfg->listen);
	LOG_MAIN(LOGL_NOTICE, "metrics: http://%s:%u/metrics", cfg->listen,
		 mhd_loop_port(m->loop));
	return m;
}

void metrics_http_stop(struct metrics_http *m)
{
	if (!m)
		return;
	mhd_loop_stop(m->loop);
	talloc_free(m);
}
