/* The SMPP pool's insides, shared by its three files: smpp.c (each bind's connection: its
 * socket, PDUs in and out, its osmo_fsm and timers; the pool's life cycle), smpp_out.c
 * (replies: the SMSC's queue of parts, the throughput bucket and throttling, submit_sm and
 * its answers, the message ids kept for receipts) and smpp_in.c (deliver_sm: receipts, parts
 * to reassemble, complete messages handed to the router and answered after its commit).
 * Not for any other module: they see smpp.h. */
#ifndef GUICHET_SMPP_BIND_H
#define GUICHET_SMPP_BIND_H

#include <stdbool.h>
#include <stdint.h>
#include <osmocom/core/fsm.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>
#include "guichet/log.h"
#include "guichet/smpp.h"

#define PDU_MAX		(64 * 1024)	/* larger command_length: the peer is confused */
#define RBUF_SIZE	(PDU_MAX + 16)
#define WBUF_MAX	(4 * 1024 * 1024)
#define RECEIPT_MAX	65536		/* message ids remembered for receipts */
#define RECEIPT_BUCKETS	4096
#define REASM_MAX	1024

/* The states of a bind's osmo_fsm instance (smpp.c has the table: timers, transitions). */
enum bind_state { B_IDLE, B_CONNECTING, B_BINDING, B_BOUND, B_UNBINDING };

struct smpp_pool;
struct smpp_smsc;

/* Each SMSC's counters: a rate_ctr group named after it, on /metrics; smpp_status() sums
 * them for STATUS= and the tests. */
enum smpp_ctr {
	SMPP_CTR_RECEIVED, SMPP_CTR_PARTS_IN, SMPP_CTR_REFUSED, SMPP_CTR_INCOMPLETE,
	SMPP_CTR_SUBMITTED, SMPP_CTR_PARTS_OUT, SMPP_CTR_THROTTLED, SMPP_CTR_RETRIES,
	SMPP_CTR_FAILED, SMPP_CTR_RECEIPTS, SMPP_CTR_RECEIPTS_UNMATCHED, SMPP_CTR_RECONNECTS,
	SMPP_CTR_BINDS, SMPP_CTR_UNBINDS, SMPP_CTR_ENQUIRE_TIMEOUTS,
	_SMPP_CTR_N
};
#define SMPP_COUNT(s, which, n) rate_ctr_add(rate_ctr_group_get_ctr((s)->ctrs, (which)), (int)(n))

struct smpp_bind {
	struct smpp_smsc *smsc;
	uint32_t bind_cmd;		/* BIND_TRANSCEIVER, BIND_TRANSMITTER, BIND_RECEIVER */
	const char *kind;
	bool can_tx, can_rx;
	struct osmo_fsm_inst *fi;	/* fi->state: enum bind_state; its timer: reconnect,
					 * connect and bind deadlines, enquire_link period */
	struct osmo_fd ofd;
	uint8_t *rbuf;
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
	uint32_t seq;
	uint32_t gen;			/* connection generation, in reassembly tokens */
	struct llist_head inflight;	/* struct req, oldest first */
	unsigned n_submits;		/* submit_sm in inflight */
	bool enquire_pending;
	struct osmo_timer_list tick_timer;
	unsigned backoff_s;
	uint32_t last_fail_status;	/* to log a repeated bind failure once */
	char last_fail[128];
	struct sms_parts *reasm;
	/* The deliver_sm being handled: its token and user_message_reference, for the dedup
	 * key of the single-part message it completes at once (smpp_bind_take_ready). */
	uint64_t cur_tok;
	int cur_user_ref;
};

struct out_msg {
	struct llist_head list;		/* smsc->outs */
	struct smpp_smsc *smsc;
	int64_t id;
	char *to;
	unsigned n_parts, acked, live;	/* live: parts still queued or in flight */
	uint8_t dcs;			/* 0 = GSM-7 unpacked, 8 = UCS-2 */
	bool done;
};

struct req {
	struct llist_head list;
	uint32_t cmd, seq;
	int64_t deadline_us;
	struct out_msg *out;		/* submit_sm only */
	struct smpp_bind *bind;		/* where it is in flight, NULL when queued */
	unsigned part;
	struct smpp_part data;
};

struct receipt_ent {
	struct llist_head fifo;
	struct hlist_node hash;
	char *msg_id;
	int64_t out_id;
	uint8_t part, parts;
};

struct smpp_smsc {
	struct llist_head list;
	struct smpp_pool *pool;
	const struct smpp_config *sc;
	char *password;
	struct log_fields lf;
	struct sms_transport t;
	struct smpp_bind *binds[2];
	unsigned n_binds;
	struct smpp_bind *tx;
	struct llist_head queue;	/* struct req waiting to be sent */
	unsigned queued;
	struct llist_head outs;
	bool want_ready;
	struct smpp_bucket bucket;
	double rate;			/* current rate (lowered by throttling), 0: unlimited */
	int64_t pause_until_us;
	unsigned throttle_ms;		/* pause after a streak of throttles, 0: none */
	unsigned thr_streak;		/* throttles in a row, no success between */
	struct smpp_adapt adapt;
	struct osmo_timer_list send_timer, ready_timer;
	uint8_t next_ref;
	struct llist_head receipts;
	unsigned n_receipts;
	struct hlist_head rbuckets[RECEIPT_BUCKETS];
	struct rate_ctr_group *ctrs;	/* enum smpp_ctr */
};

struct smpp_pool {
	struct sms_sink sink;
	const struct config *c;
	struct llist_head smscs;
	bool stopping;
};

/* A complete inbound message waiting for sink.received(), with the deliver_sm to answer. */
struct mo_batch {
	void *ctx;
	unsigned n, cap;
	struct sms_in *msgs;
	unsigned n_tokens, tok_cap;
	uint64_t *tokens;
};

#define LOGS(s, lvl, fmt, ...) glog(GLOG_SMPP, lvl, &(s)->lf, "smsc %s: " fmt, (s)->sc->name, ##__VA_ARGS__)
#define LOGB(b, lvl, fmt, ...) LOGS((b)->smsc, lvl, "%s: " fmt, (b)->kind, ##__VA_ARGS__)

/* smpp.c: the clock, the connection */
int64_t smpp_now_us(void);
void smpp_timer_us(struct osmo_timer_list *t, int64_t us);
int smpp_bind_send_pdu(struct smpp_bind *b, uint32_t cmd, void *pdu);
int smpp_bind_send_header(struct smpp_bind *b, uint32_t cmd, uint32_t status, uint32_t seq);
uint32_t smpp_bind_next_seq(struct smpp_bind *b);
void smpp_bind_track(struct smpp_bind *b, struct req *r);
void smpp_bind_drop(struct smpp_bind *b, const char *why);

/* smpp_out.c: replies */
struct req *smpp_req_alloc(void *ctx, uint32_t cmd);
struct receipt_ent *smpp_receipt_find(struct smpp_smsc *s, const char *msg_id);
void smpp_out_maybe_free(struct out_msg *o);
void smpp_out_fail(struct out_msg *o, bool permanent, const char *why);
void smpp_smsc_ready_cb(void *data);
void smpp_smsc_maybe_ready(struct smpp_smsc *s);
unsigned smpp_smsc_room(struct sms_transport *t);
int smpp_smsc_send(struct sms_transport *t, const struct store_outbound *m);
void smpp_smsc_pump(struct smpp_smsc *s);
void smpp_send_timer_cb(void *data);
void smpp_smsc_unthrottle(struct smpp_smsc *s);
struct req *smpp_inflight_take(struct smpp_bind *b, uint32_t seq);
void smpp_on_submit_resp(struct smpp_bind *b, uint32_t seq, uint32_t status, const char *msg_id);

/* smpp_in.c: what people send */
void smpp_batch_flush(struct smpp_bind *b, struct mo_batch *bt);
void smpp_bind_take_ready(struct smpp_bind *b, struct mo_batch *bt);
void smpp_on_deliver_sm(struct smpp_bind *b, const uint8_t *pdu, uint32_t len, uint32_t seq,
			  struct mo_batch *bt);

#endif
