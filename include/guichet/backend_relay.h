/* The back-end relay's insides, shared by its three files: backend.c (a call's life:
 * admission under the handshake cap, attempts, retries, the answer, counters; the relay's
 * life cycle), backend_loop.c (curl's multi socket interface on the osmo loop: sockets,
 * its timer, finished transfers) and backend_easy.c (a call's easy handle: the back-end's
 * constant options, reuse of finished calls' handles, the request's URL, body and headers).
 * Not for any other module: they see backend.h. */
#ifndef GUICHET_BACKEND_RELAY_H
#define GUICHET_BACKEND_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/timer.h>
#include "guichet/backend.h"


/* Idle easy handles kept per back-end for the next calls (struct rt_backend). */
#define EASY_POOL 64

struct rt_backend {
	const struct backend_def *def;
	char *token;			/* bearer */
	char *password;			/* basic */
	struct rate_ctr_group *ctrs;	/* enum backend_ctr, named after the back-end */
	struct rate_ctr_group **op_ctrs;	/* the same per operation, as def->ops */
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

/* backend_loop.c */
void backend_schedule_ms(struct osmo_timer_list *t, int64_t ms);
int backend_loop_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
int backend_loop_timer_cb(CURLM *multi, long timeout_ms, void *userp);
void backend_loop_timer_fired(void *data);

/* backend.c */
void backend_call_connected(struct relay_call *c);
void backend_call_attempt_done(struct relay_call *c, CURLcode rc);

/* backend_easy.c */
int backend_easy_setup(struct relay_call *c, const struct vars *args, char *err, size_t err_len);
void backend_easy_give_back(struct relay_call *c);

#endif
