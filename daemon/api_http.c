/* The notification API (api_http.h): HTTPS on the loop, JSON in and out, every accepted
 * message committed before its 202. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>

#include "guichet/clock.h"
#include "guichet/api_http.h"
#include "guichet/api_message.h"
#include "guichet/log.h"
#include "guichet/mhd_loop.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/store.h"

#define BODY_MAX_ONE (64u * 1024u)
#define BODY_MAX_BATCH (4u * 1024u * 1024u)

struct api_http {
	struct mhd_loop *loop;
	struct api_http_config cfg;
	struct api_http_env env;
	/* Group commit: the requests checked during one loop iteration wait (suspended) for
	 * one transaction, so concurrent clients share each fsync. */
	struct llist_head pending;	/* struct areq */
	struct osmo_timer_list flush;
};

/* One request: its body, gathered up to a bound fixed by the route. */
struct areq {
	struct api_http *a;
	struct MHD_Connection *conn;
	char *body;
	size_t len, max;
	bool too_big;
	bool done;		/* an answer is queued already (refused early) */
	/* waiting for the group commit */
	struct llist_head entry;
	bool queued, batch;
	struct store_scheduled *ms;
	bool *again;		/* per message: its idempotency key was known */
	unsigned n;
	/* its answer, once committed (or not): given to MHD when it runs the request again */
	bool ready;
	unsigned status;
	json_t *resp;
	const char *type;
};

/* ---- answers ---- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
			      json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *resp;
	enum MHD_Result rc;

	json_decref(body);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* RFC 9457 problem details. */
static enum MHD_Result problem(struct MHD_Connection *conn, unsigned status, const char *title,
			       const char *detail)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", title,
			      "status", (int)status, "detail", detail ? detail : title);

	if (status == MHD_HTTP_UNAUTHORIZED) {
		struct MHD_Response *resp;
		char *text = json_dumps(o, JSON_COMPACT);
		enum MHD_Result rc;

		json_decref(o);
		if (!text)
			return MHD_NO;
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/problem+json");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		rc = MHD_queue_response(conn, status, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	return answer(conn, status, "application/problem+json", o);
}

/* ---- authentication ---- */

static bool same_secret(const char *want, const char *got, size_t gl)
{
	size_t wl = strlen(want), i;
	volatile unsigned char diff = (unsigned char)(wl != gl);

	/* Constant in the secret's length whatever the candidate. */
	for (i = 0; i < wl; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
	return diff == 0;
}

static bool token_ok(const struct api_http *a, const char *auth)
{
	bool ok = false;

	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	/* Every token is compared: the time does not tell which one came close. */
	for (unsigned i = 0; i < a->cfg.n_tokens; i++)
		ok |= same_secret(a->cfg.tokens[i], auth, strlen(auth));
	return ok;
}

static bool client_cert_ok(const struct api_http *a, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t tls;
	unsigned status = 1, n = 0;

	if (!a->cfg.client_ca_pem)
		return false;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	tls = (gnutls_session_t)ci->tls_session;
	if (!gnutls_certificate_get_peers(tls, &n) || n == 0)
		return false;
	return gnutls_certificate_verify_peers2(tls, &status) == GNUTLS_E_SUCCESS && status == 0;
}

static json_t *status_json(const struct store_scheduled *m)
{
	json_t *o = json_pack("{s:I, s:s}", "id", (json_int_t)m->id, "status",
			      sched_status_name(m->status));

	if (o && m->reason)
		json_object_set_new(o, "reason", json_string(m->reason));
	return o;
}

/* Adds r's messages inside the open transaction: each opted-out number is refused at once.
 * *again[i] tells a repeated idempotency key. 0, or -1. */
static int store_request(struct store *st, struct areq *r, bool *again)
{
	for (unsigned i = 0; i < r->n; i++) {
		int rc = st->ops->optout_is(st, r->ms[i].to);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			r->ms[i].status = SCHED_REFUSED;
			r->ms[i].reason = "opt-out";
		}
		rc = st->ops->schedule_add(st, &r->ms[i]);
		if (rc < 0)
			return -1;
		again[i] = rc == 1;
	}
	return 0;
}

static json_t *problem_json(unsigned status, const char *title, const char *detail)
{
	return json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", title,
			 "status", (int)status, "detail", detail ? detail : title);
}

/* The group commit: every waiting request's messages in one transaction, then each answer
 * (202 with the ids, or 503 for all when the store failed: nothing was accepted). */
static void flush_pending(void *data)
{
	struct api_http *a = data;
	struct store *st = a->env.st;
	struct areq *r, *tmp;
	bool ok;

	if (llist_empty(&a->pending))
		return;
	ok = st->ops->begin(st) == 0;
	llist_for_each_entry(r, &a->pending, entry) {
		r->again = talloc_zero_array(r, bool, r->n);
		if (!ok || !r->again || store_request(st, r, r->again) < 0) {
			ok = false;
			break;
		}
	}
	if (ok && st->ops->commit(st) < 0)
		ok = false;
	if (!ok) {
		st->ops->rollback(st);
		glog(GLOG_STORE, LOGL_ERROR, NULL, "api: %s", store_last_error(st));
	}
	llist_for_each_entry_safe(r, tmp, &a->pending, entry) {
		bool *again = r->again;
		json_t *list = NULL;

		llist_del(&r->entry);
		r->queued = false;
		r->again = NULL;
		if (ok) {
			if (r->batch)
				list = json_array();
			for (unsigned i = 0; i < r->n; i++) {
				if (again && again[i])
					st->ops->schedule_get(st, r->ms[i].id, &r->ms[i], r);
				if (list)
					json_array_append_new(list, status_json(&r->ms[i]));
			}
			r->status = MHD_HTTP_ACCEPTED;
			r->type = "application/json";
			r->resp = r->batch ? json_pack("{s:o}", "messages", list)
					   : status_json(&r->ms[0]);
		} else {
			r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
			r->type = "application/problem+json";
			r->resp = problem_json(r->status, "Store unavailable", "the messages could "
					       "not be stored; nothing was accepted: retry later");
		}
		talloc_free(again);
		r->ready = true;
		MHD_resume_connection(r->conn);
	}
	mhd_loop_kick(a->loop);
	if (ok && a->env.sched)
		scheduler_kick(a->env.sched);
}

/* ---- routes ---- */

static enum MHD_Result store_error(struct MHD_Connection *conn, struct api_http *a)
{
	glog(GLOG_STORE, LOGL_ERROR, NULL, "api: %s", store_last_error(a->env.st));
	return problem(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Store unavailable",
		       "the message could not be stored; nothing was accepted: retry later");
}

static enum MHD_Result post_messages(struct api_http *a, struct MHD_Connection *conn,
				     json_t *body, bool batch, struct areq *r, void *ctx)
{
	char err[256];
	int64_t now = clock_wall_ms();
	json_t *list = body;
	unsigned n, i;
	struct store_scheduled *ms;
	/* The flows now loaded: a reload between two requests changes what `flow` may name. */
	const struct api_message_env env = {
		.flows = a->env.router ? router_flows(a->env.router) : NULL,
		.max_parts = a->env.max_parts, .fold = a->env.fold,
	};

	if (batch) {
		list = json_is_object(body) ? json_object_get(body, "messages") : NULL;
		if (!json_is_array(list) || json_object_size(body) != 1)
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request",
				       "a batch is {\"messages\": [ ... ]}");
		n = (unsigned)json_array_size(list);
		if (n == 0 || n > a->cfg.max_batch) {
			snprintf(err, sizeof(err), "a batch holds 1 to %u messages", a->cfg.max_batch);
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", err);
		}
	} else {
		n = 1;
	}
	ms = talloc_array(ctx, struct store_scheduled, n);
	if (!ms)
		return MHD_NO;
	for (i = 0; i < n; i++) {
		int rc = api_message_parse(&env, batch ? json_array_get(list, i) : body, &ms[i],
					   ctx, now, err, sizeof(err));
		if (rc < 0) {
			char detail[300];
			if (batch)
				snprintf(detail, sizeof(detail), "messages[%u]: %s", i, err);
			else
				snprintf(detail, sizeof(detail), "%s", err);
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", detail);
		}
	}
	if (!batch) {
		const char *hk = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
		if (hk && ms[0].idempotency_key && strcmp(hk, ms[0].idempotency_key) != 0)
			return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request",
				       "the Idempotency-Key header and `idempotency_key` differ");
		if (hk && !ms[0].idempotency_key) {
			if (!*hk || strlen(hk) > API_KEY_MAX || !api_printable(hk))
				return problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request",
					       "Idempotency-Key: 1 to 128 printable characters");
			ms[0].idempotency_key = talloc_strdup(ctx, hk);
		}
	}
	/* Checked: it waits for the group commit at the end of this loop iteration. */
	r->ms = ms;
	r->n = n;
	r->batch = batch;
	r->queued = true;
	llist_add_tail(&r->entry, &a->pending);
	MHD_suspend_connection(conn);
	if (!osmo_timer_pending(&a->flush))
		osmo_timer_schedule(&a->flush, 0, 0);
	return MHD_YES;
}

static enum MHD_Result one_message(struct api_http *a, struct MHD_Connection *conn,
				   const char *method, const char *idstr, void *ctx)
{
	struct store *st = a->env.st;
	struct store_scheduled m;
	char *end;
	long long id;
	int rc;

	errno = 0;
	id = strtoll(idstr, &end, 10);
	if (!*idstr || *end || errno || id <= 0)
		return problem(conn, MHD_HTTP_NOT_FOUND, "Not found", "no such message");
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0) {
		rc = st->ops->schedule_cancel(st, id);
		if (rc < 0)
			return store_error(conn, a);
	}
	rc = st->ops->schedule_get(st, id, &m, ctx);
	if (rc < 0)
		return store_error(conn, a);
	if (rc == 1)
		return problem(conn, MHD_HTTP_NOT_FOUND, "Not found", "no such message");
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0 && m.status != SCHED_CANCELLED) {
		char detail[96];
		snprintf(detail, sizeof(detail), "the message is %s: it cannot be cancelled",
			 sched_status_name(m.status));
		return problem(conn, MHD_HTTP_CONFLICT, "Conflict", detail);
	}
	json_t *o = status_json(&m);
	char t[40];
	api_format_time(t, sizeof(t), m.send_at);
	json_object_set_new(o, "send_at", json_string(t));
	if (m.not_after) {
		api_format_time(t, sizeof(t), m.not_after);
		json_object_set_new(o, "not_after", json_string(t));
	}
	api_format_time(t, sizeof(t), m.created * 1000);
	json_object_set_new(o, "created", json_string(t));
	json_object_set_new(o, "origin", json_string(sched_origin_name(m.origin)));
	if (m.reference)
		json_object_set_new(o, "reference", json_string(m.reference));
	return answer(conn, MHD_HTTP_OK, "application/json", o);
}

static enum MHD_Result route(struct api_http *a, struct MHD_Connection *conn, const char *url,
			     const char *method, struct areq *r)
{
	void *ctx = talloc_new(r);	/* the messages live in it until the group commit */
	enum MHD_Result rc;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	if (strcmp(url, "/v1/messages") == 0 || strcmp(url, "/v1/messages:batch") == 0) {
		json_error_t jerr;
		json_t *body;
		if (!post) {
			rc = problem(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "POST");
			goto out;
		}
		body = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
		if (!body) {
			char detail[256];
			snprintf(detail, sizeof(detail), "the body is not JSON: %s",
				 r->len ? jerr.text : "empty");
			rc = problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", detail);
			goto out;
		}
		rc = post_messages(a, conn, body, url[12] == ':', r, ctx);
		json_decref(body);
	} else if (strncmp(url, "/v1/messages/", 13) == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_DELETE))
			rc = problem(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed",
				     "GET or DELETE");
		else if (r->len)
			rc = problem(conn, MHD_HTTP_BAD_REQUEST, "Bad request", "no body here");
		else
			rc = one_message(a, conn, method, url + 13, ctx);
	} else {
		rc = problem(conn, MHD_HTTP_NOT_FOUND, "Not found", "see docs/api.yaml");
	}
out:
	if (!r->queued)
		talloc_free(ctx);
	return rc;
}

static int areq_destroy(struct areq *r)
{
	if (r->queued)
		llist_del(&r->entry);
	json_decref(r->ready ? r->resp : NULL);
	return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct api_http *a = cls;
	struct areq *r = *con_cls;

	(void)version;
	if (!r) {
		r = talloc_zero(a, struct areq);
		if (!r)
			return MHD_NO;
		r->a = a;
		r->conn = conn;
		INIT_LLIST_HEAD(&r->entry);
		talloc_set_destructor(r, areq_destroy);
		*con_cls = r;
		r->max = strcmp(url, "/v1/messages:batch") == 0 ? BODY_MAX_BATCH : BODY_MAX_ONE;
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								MHD_HTTP_HEADER_AUTHORIZATION);
		if (auth ? !token_ok(a, auth) : !client_cert_ok(a, conn)) {
			r->done = true;
			glog(GLOG_MAIN, LOGL_NOTICE, NULL, "api: %s %s refused: %s", method, url,
			     auth ? "wrong token" : "no token and no accepted client certificate");
			return problem(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       "a bearer token or an accepted client certificate is needed");
		}
		return MHD_YES;
	}
	if (r->ready) {
		json_t *b = r->resp;

		r->ready = false;
		r->resp = NULL;
		return answer(conn, r->status, r->type, b);
	}
	if (r->done) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->too_big || r->len + *upload_size > r->max) {
			r->too_big = true;
		} else {
			char *nb = talloc_realloc(r, r->body, char, r->len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + r->len, upload, *upload_size);
			r->body = nb;
			r->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	r->done = true;
	if (r->too_big) {
		char detail[64];
		snprintf(detail, sizeof(detail), "the body is larger than %zu bytes", r->max);
		return problem(conn, MHD_HTTP_CONTENT_TOO_LARGE, "Content too large", detail);
	}
	return route(a, conn, url, method, r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)conn; (void)toe;
	talloc_free(*con_cls);
	*con_cls = NULL;
}

struct api_http *api_http_start(void *ctx, const struct api_http_config *cfg,
				const struct api_http_env *env)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	struct api_http *a;
	bool ipv6;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (!cfg || !cfg->cert_pem || !cfg->key_pem ||
	    !mhd_loop_sockaddr(cfg->listen, cfg->port, &ss, &ipv6)) {
		LOG_MAIN(LOGL_ERROR, "api: incomplete configuration");
		return NULL;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	a = talloc_zero(ctx, struct api_http);
	if (!a)
		return NULL;
	a->cfg = *cfg;
	a->env = *env;
	INIT_LLIST_HEAD(&a->pending);
	osmo_timer_setup(&a->flush, flush_pending, a);
	/* Client certificates only when a CA says which: MHD then asks the client for one
	 * and GnuTLS checks it against that CA (client_cert_ok). */
	struct MHD_OptionItem trust[] = {
		{ cfg->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
		  cfg->client_ca_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, access_cb, a,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem,
			     MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem,
			     MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
			     MHD_OPTION_NOTIFY_COMPLETED, completed_cb, a,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
			     MHD_OPTION_ARRAY, trust,
			     MHD_OPTION_END);
	if (!d) {
		LOG_MAIN(LOGL_ERROR, "api: cannot listen on %s port %u (TLS)", cfg->listen,
			 cfg->port);
		talloc_free(a);
		return NULL;
	}
	if (!(a->loop = mhd_loop_attach(a, d))) {
		MHD_stop_daemon(d);
		talloc_free(a);
		LOG_MAIN(LOGL_ERROR, "api: cannot run on the loop");
		return NULL;
	}
	LOG_MAIN(LOGL_NOTICE, "api: https://%s:%u/v1/messages (%u token(s)%s)", cfg->listen,
		 mhd_loop_port(a->loop), cfg->n_tokens,
		 cfg->client_ca_pem ? ", client certificates" : "");
	return a;
}

void api_http_stop(struct api_http *a)
{
	if (!a)
		return;
	/* What was checked is committed and answered before the server goes. */
	osmo_timer_del(&a->flush);
	flush_pending(a);
	mhd_loop_stop(a->loop);
	a->loop = NULL;
	talloc_free(a);
}
