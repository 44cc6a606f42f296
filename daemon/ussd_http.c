/* Aggregators' USSD callback over libmicrohttpd: see include/guichet/ussd_http.h. This file
 * is its HTTP side (MHD on the loop, the clients and connections let in and for how long, the
 * secret, the request's form, the answer; the life cycle); the dialogue side (sessions,
 * screens, idle deadlines) is ussd_http_dialogue.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>

#include "guichet/clock.h"
#include "guichet/log.h"
#include "guichet/text.h"
#include "guichet/mhd_loop.h"
#include "guichet/ussd_http.h"
#include "guichet/ussd_http_run.h"
#include "guichet/ussd_table.h"

#define BODY_MAX 4096		/* a USSD callback is a few hundred bytes */
#define FIELD_MAX 1024
/* File descriptors kept for everything else (store, back-end sockets, modems, journal) when
 * the connection limit is derived from RLIMIT_NOFILE. */
#define FD_RESERVE 128

/* ======================= the MHD loop ======================= */

/* After MHD_resume_connection, or when MHD must look at its listening socket again: a run
 * soon, from the loop (never from inside one of its own callbacks). */
void ussd_http_kick(struct ussd_http *h)
{
	if (h->loop)
		mhd_loop_kick(h->loop);
}

/* Lines about connections refused or cut are what an attacker controls the rate of: at most
 * a few a second reach the journal, with how many were left out. */
static void log_limited(struct ussd_http *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_limited(struct ussd_http *h, const char *fmt, ...)
{
	int64_t now = clock_mono_ms() / 1000;
	char line[256];
	va_list ap;

	if (now != h->log_s) {
		if (h->log_dropped)
			LOGH(LOGL_NOTICE, "(%u similar lines left out)", h->log_dropped);
		h->log_s = now;
		h->log_n = 0;
		h->log_dropped = 0;
	}
	if (++h->log_n > 3) {
		h->log_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	LOGH(LOGL_NOTICE, "%s", line);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct ussd_http *h = cls;
	char line[256];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '.'))
		line[--n] = '\0';
	log_limited(h, "libmicrohttpd: %s", line);
}

static bool addr_allowed(const struct ussd_http *h, const struct sockaddr *sa);

/* Before a byte is read: an address not allowed costs one accept() and one close(). */
static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct ussd_http *h = cls;

	(void)addrlen;
	if (addr_allowed(h, addr))
		return MHD_YES;
	ussd_port_count(&h->uport, USSD_CTR_NOT_ALLOWED, 1);
	log_limited(h, "USSD HTTP connection from an address not allowed: closed");
	return MHD_NO;
}

static void conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
		    enum MHD_ConnectionNotificationCode toe)
{
	struct ussd_http *h = cls;
	struct hconn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		c = talloc_zero(h, struct hconn);
		if (!c)
			return;	/* then only MHD's idle timeout bounds it */
		c->conn = conn;
		c->deadline_ms = clock_mono_ms() + (int64_t)h->cfg.request_s * 1000;
		llist_add_tail(&c->list, &h->conns);
		*socket_context = c;
		if (!osmo_timer_pending(&h->sweep))
			osmo_timer_schedule(&h->sweep, 1, 0);
	} else {
		if (c) {
			llist_del(&c->list);
			talloc_free(c);
			*socket_context = NULL;
		}
		/* At the connection limit MHD took its listening socket out of its epoll set;
		 * it puts it back only when it runs again, and with no connection left nothing
		 * would make it run: a run soon, from the loop. */
		ussd_http_kick(h);
	}
}

static struct hconn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Whatever the pace of its bytes, a request not complete by its deadline loses its
 * connection: shutdown() wakes MHD on that socket, which then closes and frees it. */
static void sweep_cb(void *data)
{
	struct ussd_http *h = data;
	struct hconn *c;
	int64_t now = clock_mono_ms();
	unsigned cut = 0;

	llist_for_each_entry(c, &h->conns, list) {
		const union MHD_ConnectionInfo *ci;

		if (!c->deadline_ms || now < c->deadline_ms)
			continue;
		c->deadline_ms = 0;
		ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci && shutdown(ci->connect_fd, SHUT_RDWR) == 0)
			cut++;
	}
	if (cut) {
		ussd_port_count(&h->uport, USSD_CTR_TIMEOUTS, cut);
		log_limited(h, "USSD HTTP: %u connection(s) without a complete request after %u s: "
			    "closed", cut, h->cfg.request_s);
		ussd_http_kick(h);
	}
	if (!llist_empty(&h->conns))
		osmo_timer_schedule(&h->sweep, 1, 0);
}


/* ======================= requests ======================= */

static bool secret_ok(const char *want, const char *got)
{
	size_t wl = strlen(want), gl = got ? strlen(got) : 0, i;
	volatile unsigned char diff = (unsigned char)(wl != gl);

	if (!got)
		got = "";
	/* Constant in the secret's length whatever the candidate. */
	for (i = 0; i < wl; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
	return diff == 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool addr_allowed(const struct ussd_http *h, const struct sockaddr *sa)
{
	uint8_t v4[4], v6[16];
	bool has4 = false, has6 = false;
	unsigned i;

	if (!h->cfg.n_allow)
		return true;
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		has4 = true;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		memcpy(v6, a6, 16);
		has6 = true;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
	}
	for (i = 0; i < h->cfg.n_allow; i++) {
		const struct ussd_http_allow *a = &h->cfg.allow[i];

		if (a->family == AF_INET && has4 && prefix_match(a->addr, v4, a->prefix))
			return true;
		if (a->family == AF_INET6 && has6 && prefix_match(a->addr, v6, a->prefix))
			return true;
	}
	return false;
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
								     MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	struct hreq *r = cls;
	char **f = NULL;
	size_t have;

	(void)kind; (void)filename; (void)content_type; (void)transfer_encoding; (void)off;
	if (!key)
		return MHD_YES;		/* a multipart part without a name (found by fuzzing) */
	if (!strcmp(key, "sessionId"))
		f = &r->f_session;
	else if (!strcmp(key, "serviceCode"))
		f = &r->f_code;
	else if (!strcmp(key, "phoneNumber"))
		f = &r->f_phone;
	else if (!strcmp(key, "text"))
		f = &r->f_text;
	else
		return MHD_YES;		/* networkCode and the like: not ours */
	if (!*f)
		*f = talloc_strdup(r, "");
	have = *f ? strlen(*f) : 0;
	if (!*f || have + size > FIELD_MAX) {
		r->too_big = true;
		return MHD_NO;
	}
	*f = talloc_strndup_append(*f, data, size);
	return *f ? MHD_YES : MHD_NO;
}

/* True when the client has closed its side while its request was suspended (MHD does not
 * watch suspended connections): the request is complete, so a readable EOF means gone. */
static bool peer_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;

	if (!ci)
		return false;
	return recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The first call for a request: the client's address and secret checked, a POST with a
 * form expected. A refused request is answered at once. */
static enum MHD_Result req_begin(struct ussd_http *h, struct MHD_Connection *conn,
				 const char *method, void **con_cls)
{
	struct hreq *r;
	const union MHD_ConnectionInfo *ci;
	const char *sec;

	r = talloc_zero(h, struct hreq);
	if (!r)
		return MHD_NO;
	r->h = h;
	r->conn = conn;
	*con_cls = r;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!addr_allowed(h, ci ? ci->client_addr : NULL)) {
		ussd_port_count(&h->uport, USSD_CTR_REFUSED, 1);
		r->refused = true;
		LOGH(LOGL_NOTICE, "USSD callback from an address not allowed: refused");
		return queue_text(conn, MHD_HTTP_FORBIDDEN, "Forbidden\n");
	}
	if (h->secret) {
		sec = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Guichet-Secret");
		if (!sec)
			sec = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "secret");
		if (!secret_ok(h->secret, sec)) {
			ussd_port_count(&h->uport, USSD_CTR_REFUSED, 1);
			r->refused = true;
			LOGH(LOGL_NOTICE, "USSD callback without the right secret: refused");
			return queue_text(conn, MHD_HTTP_FORBIDDEN, "Forbidden\n");
		}
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST)) {
		r->refused = true;
		return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
	}
	r->pp = MHD_create_post_processor(conn, 1024, post_iter, r);
	if (!r->pp) {
		r->refused = true;
		return queue_text(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				  "application/x-www-form-urlencoded expected\n");
	}
	return MHD_YES;
}

/* The screen for a request whose reply is ready, unless the client left meanwhile. */
static enum MHD_Result req_answer(struct hreq *r)
{
	struct ussd_http *h = r->h;
	struct MHD_Connection *conn = r->conn;

	if (r->was_suspended && peer_gone(conn)) {
		struct hsess *s = r->sess_id[0] ? ussd_http_sess_find(h, r->sess_id) : NULL;

		/* A prompt the person will never see: the session cannot go on. */
		if (s && !s->pending) {
			LOGS(s, LOGL_NOTICE, "USSD aggregator left before the screen: "
			     "session ended");
			ussd_http_sess_end(s, true);
		}
		ussd_port_count(&h->uport, USSD_CTR_DROPPED, 1);
		return MHD_NO;
	}
	if (!r->reply)
		r->reply = talloc_asprintf(r, "END %s",
					   ussd_sink_text(&h->sink, USSD_TEXT_INVALID));
	return queue_text(conn, MHD_HTTP_OK, r->reply);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct ussd_http *h = cls;
	struct hreq *r = *con_cls;

	(void)url; (void)version;
	if (!r)
		return req_begin(h, conn, method, con_cls);
	if (r->refused)
		return MHD_YES;
	if (*upload_size) {
		r->body += *upload_size;
		if (r->body > BODY_MAX || r->too_big) {
			r->too_big = true;
		} else if (MHD_post_process(r->pp, upload, *upload_size) != MHD_YES) {
			r->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big) {
		r->refused = true;
		return queue_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "Request too large\n");
	}
	if (!r->dispatched) {
		struct hconn *c = conn_of(conn);

		if (c)
			c->deadline_ms = 0;	/* complete: the engine's own timers take over */
		ussd_http_dispatch(r);
	}
	if (r->ready)
		return req_answer(r);
	if (!r->suspended) {
		r->suspended = true;
		r->was_suspended = true;
		MHD_suspend_connection(conn);
	}
	return MHD_YES;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ussd_http *h = cls;
	struct hreq *r = *con_cls;

	(void)toe;
	if (conn && !h->stopping) {
		struct hconn *c = conn_of(conn);

		/* Kept alive: the next request gets as long as the first one did. */
		if (c)
			c->deadline_ms = clock_mono_ms() + (int64_t)h->cfg.request_s * 1000;
	}
	if (!r)
		return;
	*con_cls = NULL;
	if (r->ticket) {
		/* Gone before its reply: the reply will find no request. */
		r->ticket->r = NULL;
		ussd_http_ticket_detach(h, r->ticket);
	}
	if (r->pp)
		MHD_destroy_post_processor(r->pp);
	talloc_free(r);
}

/* ======================= life cycle ======================= */

/* Connections MHD may hold so that the process never runs out of descriptors because of
 * them: the soft RLIMIT_NOFILE less what the rest of the daemon needs. */
static unsigned fit_fd_limit(unsigned want)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return want;
	room = rl.rlim_cur > 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE : rl.rlim_cur / 2;
	return room < want ? (unsigned)(room ? room : 1) : want;
}

/* h's own copy of cfg, the secret kept apart (h->secret), zeros replaced by the defaults. */
static void keep_config(struct ussd_http *h, const struct ussd_http_config *cfg)
{
	h->cfg = *cfg;
	h->cfg.listen = talloc_strdup(h, cfg->listen ? cfg->listen : "127.0.0.1");
	h->cfg.allow = cfg->n_allow ? talloc_memdup(h, cfg->allow,
						    cfg->n_allow * sizeof(cfg->allow[0])) : NULL;
	h->secret = cfg->secret ? talloc_strdup(h, cfg->secret) : NULL;
	h->cfg.secret = NULL;
	if (!h->cfg.session_s)
		h->cfg.session_s = 180;
	if (!h->cfg.max_conns)
		h->cfg.max_conns = USSD_HTTP_MAX_CONNECTIONS;
	if (!h->cfg.max_per_addr)
		h->cfg.max_per_addr = USSD_HTTP_MAX_PER_ADDRESS;
	if (!h->cfg.request_s)
		h->cfg.request_s = USSD_HTTP_REQUEST_TIMEOUT;
	if (!h->cfg.max_dialogues)
		h->cfg.max_dialogues = USSD_MAX_DIALOGUES;
}

struct ussd_http *ussd_http_start(void *ctx, const struct ussd_http_config *cfg,
				  unsigned screen_chars, struct ussd_sink sink)
{
	struct ussd_http *h;
	struct sockaddr_storage ss;
	bool ipv6;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned max_conns;

	if (!cfg || !sink.request || !screen_chars)
		return NULL;
	h = talloc_zero(ctx, struct ussd_http);
	if (!h)
		return NULL;
	h->ctx = ctx;
	keep_config(h, cfg);
	max_conns = fit_fd_limit(h->cfg.max_conns);
	if (max_conns < h->cfg.max_conns)
		LOGH(LOGL_NOTICE, "USSD HTTP: at most %u connections (max_connections %u does not "
		     "fit the limit of open files)", max_conns, h->cfg.max_conns);
	h->screen_chars = screen_chars;
	h->sink = sink;
	INIT_LLIST_HEAD(&h->detached);
	INIT_LLIST_HEAD(&h->conns);
	h->t = sink.table ? sink.table : ussd_table_create(h);
	if (!h->t || ussd_port_init(&h->uport, h, "http", "USSD HTTP sessions",
				    h->cfg.max_dialogues) < 0)
		goto fail;
	osmo_timer_setup(&h->sweep, sweep_cb, h);
	if (!h->cfg.listen || (cfg->n_allow && !h->cfg.allow) || (cfg->secret && !h->secret))
		goto fail;

	if (!mhd_loop_sockaddr(h->cfg.listen, cfg->port, &ss, &ipv6)) {
		LOGH(LOGL_ERROR, "USSD HTTP: bad listen address");
		goto fail;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, accept_cb, h, access_cb, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
				MHD_OPTION_NOTIFY_CONNECTION, conn_cb, h,
				/* idle time: a kept-alive connection, a reader that stalls */
				MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.request_s,
				MHD_OPTION_CONNECTION_LIMIT, max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->cfg.max_per_addr,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512,
				MHD_OPTION_END);
	if (!h->d) {
		LOGH(LOGL_ERROR, "USSD HTTP: cannot listen on %s port %u", h->cfg.listen, cfg->port);
		goto fail;
	}
	if (!(h->loop = mhd_loop_attach(h, h->d))) {
		LOGH(LOGL_ERROR, "USSD HTTP: cannot run libmicrohttpd on the loop (no epoll?)");
		goto fail;
	}
	h->port = mhd_loop_port(h->loop) ? mhd_loop_port(h->loop) : cfg->port;
	LOGH(LOGL_NOTICE, "USSD HTTP callback listening on %s port %u", h->cfg.listen, h->port);
	return h;
fail:
	if (h->d)
		MHD_stop_daemon(h->d);
	talloc_free(h);
	return NULL;
}

unsigned ussd_http_port(const struct ussd_http *h)
{
	return h ? h->port : 0;
}

void ussd_http_stop(struct ussd_http *h)
{
	struct hticket *t, *tmp;
	struct ussd_dlg *e;

	if (!h)
		return;
	h->stopping = true;
	/* Every session: requests waiting get a last screen, then the dialogue is aborted. */
	while ((e = ussd_port_first(&h->uport))) {
		struct hsess *s = e->tp;
		struct hreq *r = s->pending ? s->pending->r : NULL;

		if (r) {
			r->ticket->r = NULL;
			r->ticket = NULL;
			r->reply = talloc_asprintf(r, "END %s",
						   ussd_sink_text(&h->sink, USSD_TEXT_UNAVAILABLE));
			r->ready = true;
			if (r->suspended) {
				r->suspended = false;
				MHD_resume_connection(r->conn);
			}
		}
		ussd_http_sess_end(s, true);
	}
	if (h->loop) {
		mhd_loop_flush(h->loop);
		mhd_loop_stop(h->loop);	/* stops h->d too */
		h->loop = NULL;
		h->d = NULL;
	}
	osmo_timer_del(&h->sweep);
	llist_for_each_entry_safe(t, tmp, &h->detached, detached) {
		llist_del(&t->detached);
		t->h = NULL;
	}
	talloc_free(h);
}

void ussd_http_stats(const struct ussd_http *h, struct ussd_http_stats *st)
{
	const struct ussd_port *t = &h->uport;

	*st = (struct ussd_http_stats){
		.requests = ussd_port_counter(t, USSD_CTR_REQUESTS),
		.replies = ussd_port_counter(t, USSD_CTR_SCREENS),
		.refused = ussd_port_counter(t, USSD_CTR_REFUSED),
		.invalid = ussd_port_counter(t, USSD_CTR_INVALID),
		.aborts = ussd_port_counter(t, USSD_CTR_ABORTS),
		.dropped = ussd_port_counter(t, USSD_CTR_DROPPED),
		.truncated = ussd_port_counter(t, USSD_CTR_TRUNCATED),
		.full = ussd_port_counter(t, USSD_CTR_CAPPED),
		.timeouts = ussd_port_counter(t, USSD_CTR_TIMEOUTS),
		.not_allowed = ussd_port_counter(t, USSD_CTR_NOT_ALLOWED),
		.open = t->open,
	};
}
