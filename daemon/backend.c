/* The back-end relay: named operations over HTTPS on curl's multi *socket* interface, driven
 * by libosmocore's select loop (backend_loop.c). No call ever blocks the loop, so one slow
 * back-end delays nobody else. This file is a call's life: admission under the handshake cap,
 * attempts, retries, the answer, counters; and the relay's life cycle. A call's easy handle
 * and request are backend_easy.c's.
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
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/clock.h"
#include "guichet/backend.h"
#include "guichet/backend_relay.h"
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
/* A retry is not worth starting with less time than this left in the budget. */
#define RETRY_MIN_LEFT_MS 100u

static const struct rate_ctr_desc backend_ctr_desc[] = {
	[BACKEND_CTR_CALLS] = { "calls", "Calls finished (the retries of one call count once)" },
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
/* The same counters per operation ("agenda.slots"): which call is slow or failing. */
static const struct rate_ctr_group_desc backend_op_ctrg_desc = {
	.group_name_prefix = "backend_operation",
	.group_description = "Calls of one back-end operation",
	.num_ctr = _BACKEND_CTR_N,
	.ctr_desc = backend_ctr_desc,
};

/* Counts for the call's back-end and for its operation. */
static void call_count(const struct relay_call *c, enum backend_ctr which)
{
	rate_ctr_inc2(c->b->ctrs, which);
	rate_ctr_inc2(c->b->op_ctrs[c->op - c->b->def->ops], which);
}
/* The upper bound of each latency bucket, in the order of enum backend_ctr. */
static const int64_t latency_le_ms[] = { 100, 250, 500, 1000, 2500, 5000 };

/* ---- calls ---- */

/* The call no longer counts as setting up a connection: its place goes to a waiting call
 * (from a timer: curl must not be re-entered from its own callbacks). */
void backend_call_connected(struct relay_call *c)
{
	if (!c->connecting)
		return;
	c->connecting = false;
	c->b->connecting--;
	if (!llist_empty(&c->b->waiting) && !osmo_timer_pending(&c->r->admit_timer))
		osmo_timer_schedule(&c->r->admit_timer, 0, 0);
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
	backend_call_connected(c);
	llist_del(&c->entry);
	r->in_flight--;
	int64_t took = clock_mono_ms() - c->start_ms;
	call_count(c, BACKEND_CTR_CALLS);
	for (unsigned i = 0; i < sizeof(latency_le_ms) / sizeof(latency_le_ms[0]); i++)
		if (took <= latency_le_ms[i])
			call_count(c, BACKEND_CTR_LE_100MS + i);
	c->b->last_ok = ok;
	if (!ok) {
		call_count(c, BACKEND_CTR_ERRORS);
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

	call_count(c, BACKEND_CTR_RETRIES);
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
		backend_schedule_ms(&c->timer, 0);
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
	backend_schedule_ms(&c->timer, backoff);
	return true;
}

/* A finished attempt: decides success, failure or a retry. */
void backend_call_attempt_done(struct relay_call *c, CURLcode rc)
{
	long status = 0;
	double total = 0, connect_t = 0;
	bool retryable = false;
	char reason[CURL_ERROR_SIZE + 96];
	struct vars result;

	curl_multi_remove_handle(c->r->multi, c->easy);
	c->in_multi = false;
	backend_call_connected(c);
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

static int call_free(struct relay_call *c)
{
	if (c->in_multi)
		curl_multi_remove_handle(c->r->multi, c->easy);
	if (c->waiting)
		llist_del(&c->wait_entry);
	if (c->connecting)
		c->b->connecting--;
	if (c->easy)
		backend_easy_give_back(c);
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
	if (backend_easy_setup(c, args, err, sizeof(err)) < 0) {
		c->fail = talloc_strdup(c, err);
		osmo_timer_setup(&c->timer, call_fail_now, c);
		backend_schedule_ms(&c->timer, 0);
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
	/* Closes the cached connections: backend_loop_socket_cb unregisters their osmo_fds. */
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
	osmo_timer_setup(&r->curl_timer, backend_loop_timer_fired, r);
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
		if (!(b->ctrs = metrics_ctr_group(r, &backend_ctrg_desc, d->name)) ||
		    !(b->op_ctrs = talloc_zero_array(r, struct rate_ctr_group *, d->n_ops ? d->n_ops : 1)))
			goto oom;
		for (unsigned k = 0; k < d->n_ops; k++)
			if (!(b->op_ctrs[k] = metrics_ctr_group(r, &backend_op_ctrg_desc, d->ops[k].full)))
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
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, backend_loop_socket_cb);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, backend_loop_timer_cb);
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
