/* The back-end relay: named operations over HTTPS on curl's multi *socket* interface, driven
 * by libosmocore's select loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION -> one osmo_fd each) and when
 * to wake it (CURLMOPT_TIMERFUNCTION -> one osmo_timer); we hand every event back with
 * curl_multi_socket_action() and collect finished transfers with curl_multi_info_read(). No
 * call ever blocks the loop, so one slow back-end delays nobody else.
 *
 * A call owns (talloc) its URL, body, answer buffer, retry timer and easy handle; finishing it
 * calls done once and frees the lot. done always runs from the loop (a curl event or a timer),
 * never from inside call(). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/clock.h"
#include "guichet/backend.h"
#include "guichet/log.h"
#include "guichet/metrics.h"

#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS 2000u
#define MAX_ATTEMPTS 5u
#define BACKEND_MAX_IDLE_CONNECTIONS 256
/* Connections open at once to one back-end host: a burst of people is served over this many
 * kept-alive connections, calls beyond it wait their turn in curl's queue (within their
 * budget) instead of all opening a TLS connection at once and timing out together. */
#define BACKEND_MAX_HOST_CONNECTIONS 256
/* New connections (TCP + TLS handshake) being set up at once to one back-end host: calls
 * beyond wait in our queue and start as earlier ones get their connection. A burst of
 * hundreds of calls to a cold back-end, or to one that handshakes one connection at a time,
 * so never has hundreds of handshakes queued there until they all time out; over HTTP/2 the
 * calls share one multiplexed connection anyway (PIPEWAIT). "Connecting" ends when curl is
 * about to send the request (CURLOPT_PREREQFUNCTION), which on a warm connection is at once. */
#define BACKEND_MAX_CONNECTING 32	/* 16 slowed a cold burst to an HTTP/1.1 back-end by ~0.6 s */
/* Idle easy handles kept per back-end for the next calls (struct rt_backend). */
#define EASY_POOL 64
/* A retry is not worth starting with less time than this left in the budget. */
#define RETRY_MIN_LEFT_MS 100u

struct rt_backend {
	const struct backend_def *def;
	char *token;			/* bearer */
	char *password;			/* basic */
	struct rate_ctr_group *ctrs;	/* enum backend_ctr, named after the back-end */
	bool last_ok;			/* for STATUS=: the last call's outcome */
	unsigned connecting;		/* calls in curl not yet past their connection */
	struct llist_head waiting;	/* calls waiting for connecting < BACKEND_MAX_CONNECTING */
	/* Its last request went over HTTP/2: new calls wait for the multiplexed connection
	 * (PIPEWAIT) rather than open their own, so the handshake cap does not hold them. */
	bool h2;
	/* Easy handles of finished calls, their constant options set (easy_constant): a
	 * call takes one instead of creating and configuring one (curl_easy_init allocates
	 * its buffers, each option copies its string). */
	CURL *idle[EASY_POOL];
	unsigned n_idle;
};

struct backend_relay {
	const struct config *cfg;
	CURLM *multi;
	CURLSH *share;
	struct osmo_timer_list curl_timer;
	struct rt_backend *bk;
	unsigned n_bk;
	struct llist_head calls;
	unsigned in_flight;
	struct osmo_timer_list admit_timer;
	backend_timing_fn timing;
	void *timing_data;
};

static const struct rate_ctr_desc backend_ctr_desc[] = {
	[BACKEND_CTR_CALLS] = { "calls", "Calls to this back-end (finished, retries included in one)" },
	[BACKEND_CTR_ERRORS] = { "errors", "Calls that failed after their last attempt" },
	[BACKEND_CTR_RETRIES] = { "retries", "Attempts started again after a failed one" },
	[BACKEND_CTR_LE_100MS] = { "latency_le_100ms", "Calls finished within 100 ms (cumulative)" },
	[BACKEND_CTR_LE_250MS] = { "latency_le_250ms", "Calls finished within 250 ms (cumulative)" },
	[BACKEND_CTR_LE_500MS] = { "latency_le_500ms", "Calls finished within 500 ms (cumulative)" },
	[BACKEND_CTR_LE_1000MS] = { "latency_le_1000ms", "Calls finished within 1 s (cumulative)" },
	[BACKEND_CTR_LE_2500MS] = { "latency_le_2500ms", "Calls finished within 2.5 s (cumulative)" },
	[BACKEND_CTR_LE_5000MS] = { "latency_le_5000ms", "Calls finished within 5 s (cumulative)" },
};
static const struct rate_ctr_group_desc backend_ctrg_desc = {
	.group_name_prefix = "backend",
	.group_description = "Calls to one back-end",
	.num_ctr = _BACKEND_CTR_N,
	.ctr_desc = backend_ctr_desc,
};
/* The upper bound of each latency bucket, in the order of enum backend_ctr. */
static const int64_t latency_le_ms[] = { 100, 250, 500, 1000, 2500, 5000 };

/* One socket curl asked us to watch. */
struct relay_sock {
	struct osmo_fd ofd;
	struct backend_relay *r;
};

struct relay_call {
	struct llist_head entry;
	struct backend_relay *r;
	struct rt_backend *b;
	const struct backend_op *op;
	char *url, *body;
	struct curl_slist *headers;
	CURL *easy;
	bool in_multi;
	bool connecting;		/* counted in b->connecting */
	bool waiting;			/* in b->waiting */
	struct llist_head wait_entry;
	char *resp;
	size_t resp_len, resp_cap;
	bool too_big;
	call_done_fn done;
	void *data;
	int64_t start_ms, deadline_ms;	/* monotonic */
	unsigned attempt;
	struct osmo_timer_list timer;	/* retry backoff, or a failure known before any I/O */
	char *fail;			/* that failure */
	char errbuf[CURL_ERROR_SIZE];
};

static void schedule_ms(struct osmo_timer_list *t, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	osmo_timer_schedule(t, ms / 1000, (ms % 1000) * 1000);
}

static void process_done(struct backend_relay *r);

/* ---- curl <-> osmo select loop ---- */

static int sock_event(struct osmo_fd *ofd, unsigned int what)
{
	struct backend_relay *r = ofd->data;
	int ev = 0, running;

	if (what & OSMO_FD_READ)
		ev |= CURL_CSELECT_IN;
	if (what & OSMO_FD_WRITE)
		ev |= CURL_CSELECT_OUT;
	if (what & OSMO_FD_EXCEPT)
		ev |= CURL_CSELECT_ERR;
	/* ofd may be freed inside (CURL_POLL_REMOVE): do not touch it afterwards. */
	curl_multi_socket_action(r->multi, ofd->fd, ev, &running);
	process_done(r);
	return 0;
}

static int sock_free(struct relay_sock *rs)
{
	if (rs->ofd.fd >= 0)
		osmo_fd_unregister(&rs->ofd);
	return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct backend_relay *r = userp;
	struct relay_sock *rs = socketp;
	unsigned when = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (rs) {
			curl_multi_assign(r->multi, s, NULL);
			talloc_free(rs);	/* sock_free unregisters it */
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		when |= OSMO_FD_READ;
	if (what & CURL_POLL_OUT)
		when |= OSMO_FD_WRITE;
	if (!rs) {
		rs = talloc_zero(r, struct relay_sock);
		if (!rs)
			return -1;
		rs->r = r;
		osmo_fd_setup(&rs->ofd, s, when, sock_event, r, 0);
		if (osmo_fd_register(&rs->ofd) < 0) {
			talloc_free(rs);
			return -1;
		}
		talloc_set_destructor(rs, sock_free);
		curl_multi_assign(r->multi, s, rs);
	} else {
		osmo_fd_update_when(&rs->ofd, 0, when);
	}
	return 0;
}

static void curl_timer_fired(void *data)
{
	struct backend_relay *r = data;
	int running;

	curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	process_done(r);
}

/* curl asks to be woken after timeout_ms (0: as soon as possible, from the loop; -1: never).
 * Acting here directly would re-enter curl, hence the timer even for 0. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct backend_relay *r = userp;

	(void)multi;
	if (timeout_ms < 0)
		osmo_timer_del(&r->curl_timer);
	else
		schedule_ms(&r->curl_timer, timeout_ms);
	return 0;
}

/* ---- calls ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct relay_call *c = userdata;
	size_t n = size * nmemb, max = c->b->def->max_response;

	if (n > max - c->resp_len) {
		c->too_big = true;
		return 0;	/* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if (c->resp_len + n + 1 > c->resp_cap) {
		size_t cap = c->resp_cap ? c->resp_cap * 2 : 4096;
		char *p;

		while (cap < c->resp_len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		p = talloc_realloc_size(c, c->resp, cap);
		if (!p)
			return 0;
		c->resp = p;
		c->resp_cap = cap;
	}
	memcpy(c->resp + c->resp_len, ptr, n);
	c->resp_len += n;
	c->resp[c->resp_len] = '\0';
	return n;
}

/* The call no longer counts as setting up a connection: its place goes to a waiting call
 * (from a timer: curl must not be re-entered from its own callbacks). */
static void call_connected(struct relay_call *c)
{
	if (!c->connecting)
		return;
	c->connecting = false;
	c->b->connecting--;
	if (!llist_empty(&c->b->waiting) && !osmo_timer_pending(&c->r->admit_timer))
		osmo_timer_schedule(&c->r->admit_timer, 0, 0);
}

static int prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	struct relay_call *c = clientp;
	long v = 0;
	curl_easy_getinfo(c->easy, CURLINFO_HTTP_VERSION, &v);
	c->b->h2 = v == CURL_HTTP_VERSION_2_0;
	call_connected(c);
	return CURL_PREREQFUNC_OK;
}

/* Ends a call: one journal line when it failed, counters, then done, then frees it. */
static void call_finish(struct relay_call *c, bool ok, const struct vars *result,
			const char *reason)
{
	struct backend_relay *r = c->r;
	char *error = NULL;

	osmo_timer_del(&c->timer);
	if (c->in_multi) {
		curl_multi_remove_handle(r->multi, c->easy);
		c->in_multi = false;
	}
	call_connected(c);
	llist_del(&c->entry);
	r->in_flight--;
	int64_t took = clock_mono_ms() - c->start_ms;
	rate_ctr_inc2(c->b->ctrs, BACKEND_CTR_CALLS);
	for (unsigned i = 0; i < sizeof(latency_le_ms) / sizeof(latency_le_ms[0]); i++)
		if (took <= latency_le_ms[i])
			rate_ctr_inc2(c->b->ctrs, BACKEND_CTR_LE_100MS + i);
	c->b->last_ok = ok;
	if (!ok) {
		rate_ctr_inc2(c->b->ctrs, BACKEND_CTR_ERRORS);
		error = talloc_asprintf(c, "%s: %s", c->op->full, reason);
		/* Which back-end, which operation, what failed: never an argument nor a body. */
		glog(GLOG_BACKEND, LOGL_ERROR, &(struct log_fields){ .backend = c->b->def->name },
		     "back-end %s, operation %s %s: %s (%u attempt%s, %lld ms)", c->b->def->name,
		     c->op->name, c->op->method, reason, c->attempt, c->attempt == 1 ? "" : "s",
		     (long long)took);
	} else {
		glog(GLOG_BACKEND, LOGL_DEBUG, &(struct log_fields){ .backend = c->b->def->name },
		     "back-end %s, operation %s: ok in %lld ms", c->b->def->name, c->op->name,
		     (long long)took);
	}
	c->done(c->data, ok, result, ok ? NULL : (error ? error : reason));
	talloc_free(c);
}

static void call_fail_now(void *data)
{
	struct relay_call *c = data;

	call_finish(c, false, NULL, c->fail);
}

static void call_start_attempt(struct relay_call *c);

static void call_retry(void *data)
{
	struct relay_call *c = data;

	rate_ctr_inc2(c->b->ctrs, BACKEND_CTR_RETRIES);
	call_start_attempt(c);
}

static void call_start_attempt(struct relay_call *c)
{
	const struct backend_def *d = c->b->def;
	int64_t left = c->deadline_ms - clock_mono_ms();
	long timeout = c->op->timeout_ms ? c->op->timeout_ms : d->timeout_ms;
	long connect = d->connect_timeout_ms;
	CURLMcode mc;

	if (!c->b->h2 && c->b->connecting >= BACKEND_MAX_CONNECTING) {
		llist_add_tail(&c->wait_entry, &c->b->waiting);
		c->waiting = true;
		return;
	}
	if (left <= 0) {
		c->fail = talloc_strdup(c, "no time left in the call's budget");
		call_finish(c, false, NULL, c->fail);
		return;
	}
	if (timeout > left)
		timeout = left;
	if (connect > timeout)
		connect = timeout;
	c->attempt++;
	c->resp_len = 0;
	c->too_big = false;
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, connect);
	mc = curl_multi_add_handle(c->r->multi, c->easy);
	if (mc != CURLM_OK) {
		c->fail = talloc_asprintf(c, "cannot start: %s", curl_multi_strerror(mc));
		/* Not from here: call_start_attempt may run inside call(). */
		osmo_timer_setup(&c->timer, call_fail_now, c);
		schedule_ms(&c->timer, 0);
		return;
	}
	c->in_multi = true;
	c->connecting = true;
	c->b->connecting++;
}

/* Starts waiting calls while their back-end has room for new connections. */
static void admit_cb(void *data)
{
	struct backend_relay *r = data;

	for (unsigned i = 0; i < r->n_bk; i++) {
		struct rt_backend *b = &r->bk[i];

		while ((b->h2 || b->connecting < BACKEND_MAX_CONNECTING) &&
		       !llist_empty(&b->waiting)) {
			struct relay_call *c = llist_first_entry(&b->waiting, struct relay_call,
								 wait_entry);
			llist_del(&c->wait_entry);
			c->waiting = false;
			call_start_attempt(c);
		}
	}
}

static bool is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
		return true;
	default:
		return false;
	}
}

/* Why an attempt that did not bring an answer failed (reason), and whether another attempt
 * may do better (*retryable). */
static void attempt_reason(struct relay_call *c, CURLcode rc, double total, double connect_t,
			   char *reason, size_t len, bool *retryable)
{
	switch (rc) {
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (c->too_big || rc == CURLE_FILESIZE_EXCEEDED)
			snprintf(reason, len, "answer larger than %u bytes", c->b->def->max_response);
		else
			snprintf(reason, len, "out of memory reading the answer");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_t <= 0) {
			snprintf(reason, len, "cannot connect: timeout");
			*retryable = true;
		} else {
			snprintf(reason, len, "timeout: no complete answer within %lld ms",
				 (long long)(total * 1000 + 0.5));
		}
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(reason, len, "cannot connect: %s",
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		*retryable = true;
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		snprintf(reason, len, "connection lost: %s", curl_easy_strerror(rc));
		*retryable = true;
		break;
	default:
		if (is_tls_error(rc))
			/* curl's text names the certificate problem and holds no request data. */
			snprintf(reason, len, "TLS failure: %s",
				 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		else
			snprintf(reason, len, "%s", curl_easy_strerror(rc));
		break;
	}
}

/* A failed attempt of an idempotent operation: tried again after a backoff when the budget
 * leaves room. true when a retry is scheduled. */
static bool attempt_retry(struct relay_call *c, const char *reason)
{
	const struct backend_def *d = c->b->def;
	unsigned backoff = BACKOFF_FIRST_MS << (c->attempt - 1);

	if (!c->op->idempotent || c->attempt >= MAX_ATTEMPTS)
		return false;
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	if (clock_mono_ms() + backoff + RETRY_MIN_LEFT_MS >= c->deadline_ms)
		return false;
	glog(GLOG_BACKEND, LOGL_DEBUG, &(struct log_fields){ .backend = d->name },
	     "back-end %s, operation %s: %s, retrying in %u ms", d->name, c->op->name, reason,
	     backoff);
	osmo_timer_setup(&c->timer, call_retry, c);
	schedule_ms(&c->timer, backoff);
	return true;
}

/* A finished attempt: decides success, failure or a retry. */
static void call_attempt_done(struct relay_call *c, CURLcode rc)
{
	long status = 0;
	double total = 0, connect_t = 0;
	bool retryable = false;
	char reason[CURL_ERROR_SIZE + 96];
	struct vars result;

	curl_multi_remove_handle(c->r->multi, c->easy);
	c->in_multi = false;
	call_connected(c);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &total);
	curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME, &connect_t);
	if (c->r->timing)
		c->r->timing(c->r->timing_data, c->op->full, status, total);

	if (rc == CURLE_OK && status >= 200 && status < 300) {
		vars_init(&result, c);
		if (backend_read_answer(c->op, c->resp ? c->resp : "", c->resp_len, &result, reason,
					sizeof(reason)) == 0) {
			call_finish(c, true, &result, NULL);
			return;
		}
	} else if (rc == CURLE_OK) {
		snprintf(reason, sizeof(reason), "HTTP %ld", status);
		retryable = status >= 500;
	} else {
		attempt_reason(c, rc, total, connect_t, reason, sizeof(reason), &retryable);
	}
	if (retryable && attempt_retry(c, reason))
		return;
	call_finish(c, false, NULL, reason);
}

static void process_done(struct backend_relay *r)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(r->multi, &left))) {
		struct relay_call *c = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c)
			call_attempt_done(c, m->data.result);
	}
}

static struct rt_backend *find_backend(struct backend_relay *r, const char *op,
				       const struct backend_op **o)
{
	const struct backend_def *d = NULL;
	unsigned i;

	*o = backend_config_find(r->cfg ? r->cfg->backends : NULL, op, &d);
	if (!*o)
		return NULL;
	for (i = 0; i < r->n_bk; i++)
		if (r->bk[i].def == d)
			return &r->bk[i];
	return NULL;
}

/* The options every call to back-end b has: set once per easy handle. */
static void easy_constant(struct backend_relay *r, struct rt_backend *b, CURL *e)
{
	const struct backend_def *d = b->def;

	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, r->share);
	/* HTTP/2 when the back-end offers it (ALPN), and then wait for the one multiplexed
	 * connection instead of opening one per call while it is being set up. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)d->max_response);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "guichet/1");
	/* Verification is always on; there is deliberately no setting to turn it off. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (d->ca) {
		/* Only the configured CA: not the system's as well. */
		curl_easy_setopt(e, CURLOPT_CAINFO, d->ca);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	switch (d->auth) {
	case BACKEND_AUTH_BEARER:
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, b->token);
		break;
	case BACKEND_AUTH_BASIC:
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, d->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, b->password);
		break;
	case BACKEND_AUTH_CERT:
		curl_easy_setopt(e, CURLOPT_SSLCERT, d->cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, d->key);
		break;
	case BACKEND_AUTH_NONE:
		break;
	}
}

/* An easy handle for c: an idle one of its back-end, or a new one. */
static CURL *easy_take(struct relay_call *c)
{
	struct rt_backend *b = c->b;
	CURL *e;

	if (b->n_idle)
		return b->idle[--b->n_idle];
	e = curl_easy_init();
	if (e)
		easy_constant(c->r, b, e);
	return e;
}

/* c's handle back to its back-end's idle ones (or freed when they are enough): nothing in
 * it may point into c any more. */
static void easy_give_back(struct relay_call *c)
{
	struct rt_backend *b = c->b;
	CURL *e = c->easy;

	c->easy = NULL;
	if (b->n_idle >= EASY_POOL) {
		curl_easy_cleanup(e);
		return;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, NULL);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
	b->idle[b->n_idle++] = e;
}

/* The request's headers: the fixed ones, then the back-end's and the operation's. */
static struct curl_slist *build_headers(struct relay_call *c, const struct vars *args,
					char *err, size_t err_len)
{
	const struct backend_def *d = c->b->def;
	const struct backend_op *op = c->op;
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");

	if (h && op->has_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (h)
		h = curl_slist_append(h, "Expect:");
	for (unsigned i = 0; h && i < d->n_headers + op->n_headers; i++) {
		const struct backend_kv *kv = i < d->n_headers ? &d->headers[i]
							       : &op->headers[i - d->n_headers];
		char *line = backend_build_header(c, kv, args, err, err_len);

		if (!line) {
			curl_slist_free_all(h);
			return NULL;
		}
		struct curl_slist *n = curl_slist_append(h, line);
		talloc_free(line);
		if (!n)
			curl_slist_free_all(h);
		h = n;
	}
	if (!h && !err[0])
		snprintf(err, err_len, "out of memory");
	return h;
}

static int setup_easy(struct relay_call *c, const struct vars *args, char *err, size_t err_len)
{
	const struct backend_op *op = c->op;
	CURL *e;

	err[0] = '\0';
	c->url = backend_build_url(c, c->b->def, op, args, err, err_len);
	if (!c->url)
		return -1;
	c->body = backend_build_body(c, op, args, err, err_len);
	if (!c->body)
		return -1;
	c->headers = build_headers(c, args, err, err_len);
	if (!c->headers)
		return -1;
	e = c->easy = easy_take(c);
	if (!e) {
		snprintf(err, err_len, "cannot create a curl handle");
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	/* A handle may come from a call with another method: back to GET first. */
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(op->method, "GET")) {
		if (strcmp(op->method, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, op->method);
		if (op->has_body || strcmp(op->method, "DELETE")) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
		}
	}
	return 0;
}

static int call_free(struct relay_call *c)
{
	if (c->in_multi)
		curl_multi_remove_handle(c->r->multi, c->easy);
	if (c->waiting)
		llist_del(&c->wait_entry);
	if (c->connecting)
		c->b->connecting--;
	if (c->easy)
		easy_give_back(c);
	curl_slist_free_all(c->headers);
	return 0;
}

static int relay_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		      call_done_fn done, void *data)
{
	struct backend_relay *r = impl;
	const struct backend_op *o;
	struct rt_backend *b = find_backend(r, op, &o);
	struct relay_call *c;
	char err[256];

	if (!b)
		return -1;
	c = talloc_zero(r, struct relay_call);
	if (!c)
		return -1;
	talloc_set_destructor(c, call_free);
	c->r = r;
	c->b = b;
	c->op = o;
	c->done = done;
	c->data = data;
	c->start_ms = clock_mono_ms();
	/* No budget: one attempt's timeout, and retries within twice that. */
	c->deadline_ms = c->start_ms +
			 (budget_ms ? budget_ms
				    : 2 * (o->timeout_ms ? o->timeout_ms : b->def->timeout_ms));
	llist_add_tail(&c->entry, &r->calls);
	r->in_flight++;
	if (setup_easy(c, args, err, sizeof(err)) < 0) {
		c->fail = talloc_strdup(c, err);
		osmo_timer_setup(&c->timer, call_fail_now, c);
		schedule_ms(&c->timer, 0);
		return 0;
	}
	call_start_attempt(c);
	return 0;
}

/* ---- life cycle ---- */

static int relay_free(struct backend_relay *r)
{
	struct relay_call *c, *tmp;
	unsigned i;

	llist_for_each_entry_safe(c, tmp, &r->calls, entry) {
		osmo_timer_del(&c->timer);
		llist_del(&c->entry);
		talloc_free(c);
	}
	osmo_timer_del(&r->curl_timer);
	osmo_timer_del(&r->admit_timer);
	for (i = 0; i < r->n_bk; i++)
		while (r->bk[i].n_idle)
			curl_easy_cleanup(r->bk[i].idle[--r->bk[i].n_idle]);
	/* Closes the cached connections: curl_socket_cb unregisters their osmo_fds. */
	if (r->multi)
		curl_multi_cleanup(r->multi);
	if (r->share)
		curl_share_cleanup(r->share);
	for (i = 0; i < r->n_bk; i++) {
		if (r->bk[i].token)
			explicit_bzero(r->bk[i].token, strlen(r->bk[i].token));
		if (r->bk[i].password)
			explicit_bzero(r->bk[i].password, strlen(r->bk[i].password));
	}
	return 0;
}

struct backend_relay *backend_relay_create(void *ctx, const struct config *c, char *err,
					   size_t err_len)
{
	static bool curl_ready;
	const struct backend_config *bc = c ? c->backends : NULL;
	struct backend_relay *r;
	unsigned i;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, err_len, "cannot initialise libcurl");
			return NULL;
		}
		curl_ready = true;
	}
	r = talloc_zero(ctx, struct backend_relay);
	if (!r)
		goto oom;
	r->cfg = c;
	INIT_LLIST_HEAD(&r->calls);
	osmo_timer_setup(&r->curl_timer, curl_timer_fired, r);
	osmo_timer_setup(&r->admit_timer, admit_cb, r);
	talloc_set_destructor(r, relay_free);
	r->n_bk = bc ? bc->n : 0;
	r->bk = talloc_zero_array(r, struct rt_backend, r->n_bk ? r->n_bk : 1);
	if (!r->bk)
		goto oom;
	for (i = 0; i < r->n_bk; i++) {
		const struct backend_def *d = &bc->defs[i];
		struct rt_backend *b = &r->bk[i];
		char e[300];

		b->def = d;
		INIT_LLIST_HEAD(&b->waiting);
		b->last_ok = true;
		if (!(b->ctrs = metrics_ctr_group(r, &backend_ctrg_desc, d->name)))
			goto oom;
		if (d->auth == BACKEND_AUTH_BEARER &&
		    !(b->token = config_read_secret(r, c, d->token, e, sizeof(e)))) {
			snprintf(err, err_len, "back-end %s: %s", d->name, e);
			goto fail;
		}
		if (d->auth == BACKEND_AUTH_BASIC &&
		    !(b->password = config_read_secret(r, c, d->password, e, sizeof(e)))) {
			snprintf(err, err_len, "back-end %s: %s", d->name, e);
			goto fail;
		}
	}
	r->share = curl_share_init();
	r->multi = curl_multi_init();
	if (!r->share || !r->multi)
		goto oom;
	/* One thread: sharing needs no locks. */
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
	/* Keep enough idle connections for a burst to find them warm next time: a new TLS
	 * connection costs a few milliseconds of CPU at both ends. */
	curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)BACKEND_MAX_IDLE_CONNECTIONS);
	curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)BACKEND_MAX_HOST_CONNECTIONS);
	/* As many streams on one HTTP/2 connection as the back-end allows (its SETTINGS; nginx:
	 * 128), not curl's default 100: a burst beyond that waits for a second connection. */
	curl_multi_setopt(r->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
	curl_multi_setopt(r->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return r;
oom:
	snprintf(err, err_len, "out of memory");
fail:
	talloc_free(r);
	return NULL;
}

struct call_port backend_relay_port(struct backend_relay *b)
{
	return (struct call_port){ .call = relay_call, .impl = b };
}

unsigned backend_relay_in_flight(const struct backend_relay *b)
{
	return b ? b->in_flight : 0;
}

unsigned backend_relay_count(const struct backend_relay *b)
{
	return b ? b->n_bk : 0;
}

const char *backend_relay_name(const struct backend_relay *b, unsigned i)
{
	return b->bk[i].def->name;
}

bool backend_relay_last_ok(const struct backend_relay *b, unsigned i)
{
	return b->bk[i].last_ok;
}

uint64_t backend_relay_counter(const struct backend_relay *b, unsigned i, enum backend_ctr which)
{
	return rate_ctr_group_get_ctr(b->bk[i].ctrs, which)->current;
}

void backend_relay_set_timing(struct backend_relay *b, backend_timing_fn fn, void *data)
{
	b->timing = fn;
	b->timing_data = data;
}

void backend_relay_destroy(struct backend_relay *b)
{
	talloc_free(b);
}
