/* SMPP 3.4 binds on the osmo select loop.
 *
 * Per SMSC: one transceiver bind, or a transmitter bind plus a receiver bind. Each bind is a
 * small state machine (idle -> connecting -> binding -> bound) with its own socket, read and
 * write buffers, sequence numbers and list of requests waiting for an answer. The SMSC owns
 * the outbound side shared by its binds: the queue of parts waiting for a token of the
 * throughput bucket, the message being sent, the map of SMSC message ids for receipts.
 *
 * Ownership (talloc): pool -> smsc -> {binds, outbound messages -> their parts}. A part
 * (struct req) is on exactly one list at a time (the SMSC's queue or a bind's in-flight
 * list) and unlinks itself when freed. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/select.h>
#include <osmocom/core/socket.h>
#include <osmocom/core/timer.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>
#pragma GCC diagnostic pop

#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/smpp.h"
#include "guichet/strhash.h"

#define PDU_MAX		(64 * 1024)	/* larger command_length: the peer is confused */
#define RBUF_SIZE	(PDU_MAX + 16)
#define WBUF_MAX	(4 * 1024 * 1024)
#define RECEIPT_MAX	65536		/* message ids remembered for receipts */
#define RECEIPT_BUCKETS	4096
#define REASM_MAX	1024

enum bind_state { B_IDLE, B_CONNECTING, B_BINDING, B_BOUND, B_UNBINDING };
static const char *const state_names[] = { "idle", "connecting", "binding", "bound", "unbinding" };

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
static const struct rate_ctr_desc smpp_ctr_desc[] = {
	[SMPP_CTR_RECEIVED] = { "received", "Complete texts received and stored" },
	[SMPP_CTR_PARTS_IN] = { "parts_in", "deliver_sm carrying a person's text" },
	[SMPP_CTR_REFUSED] = { "refused", "deliver_sm answered with an error (the store failed): the SMSC retries" },
	[SMPP_CTR_INCOMPLETE] = { "incomplete", "Texts released early with parts missing: too many waited" },
	[SMPP_CTR_SUBMITTED] = { "submitted", "Replies taken for sending" },
	[SMPP_CTR_PARTS_OUT] = { "parts_out", "Parts the SMSC accepted (submit_sm_resp ROK)" },
	[SMPP_CTR_THROTTLED] = { "throttled", "Parts answered ESME_RTHROTTLED or ESME_RMSGQFUL, resent" },
	[SMPP_CTR_RETRIES] = { "retries", "Replies failed temporarily: the outbox sends them again" },
	[SMPP_CTR_FAILED] = { "failed", "Replies failed permanently" },
	[SMPP_CTR_RECEIPTS] = { "receipts", "Delivery receipts received" },
	[SMPP_CTR_RECEIPTS_UNMATCHED] = { "receipts_unmatched", "Delivery receipts for no known part" },
	[SMPP_CTR_RECONNECTS] = { "reconnects", "Binds lost after having been bound" },
	[SMPP_CTR_BINDS] = { "binds", "Successful binds" },
	[SMPP_CTR_UNBINDS] = { "unbinds", "Unbinds, from the SMSC or at stop" },
	[SMPP_CTR_ENQUIRE_TIMEOUTS] = { "enquire_link_timeouts", "Binds dropped for an enquire_link left unanswered" },
};
static const struct rate_ctr_group_desc smpp_ctrg_desc = {
	.group_name_prefix = "smpp",
	.group_description = "One SMSC",
	.num_ctr = _SMPP_CTR_N,
	.ctr_desc = smpp_ctr_desc,
};
#define SMPP_COUNT(s, which, n) rate_ctr_add(rate_ctr_group_get_ctr((s)->ctrs, (which)), (int)(n))

struct smpp_bind {
	struct smpp_smsc *smsc;
	uint32_t bind_cmd;		/* BIND_TRANSCEIVER, BIND_TRANSMITTER, BIND_RECEIVER */
	const char *kind;
	bool can_tx, can_rx;
	enum bind_state state;
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
	struct osmo_timer_list reconnect_timer, enquire_timer, tick_timer;
	unsigned backoff_s;
	uint32_t last_fail_status;	/* to log a repeated bind failure once */
	char last_fail[128];
	struct sms_parts *reasm;
	bool was_bound;
	/* The deliver_sm being handled: its token and user_message_reference, for the dedup
	 * key of the single-part message it completes at once (bind_take_ready). */
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

static void bind_drop(struct smpp_bind *b, const char *why);
static void smsc_pump(struct smpp_smsc *s);

static int64_t now_us(void)
{
	struct timespec ts;
	osmo_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void timer_us(struct osmo_timer_list *t, int64_t us)
{
	if (us < 0)
		us = 0;
	osmo_timer_schedule(t, (int)(us / 1000000), (int)(us % 1000000));
}

static int req_destructor(struct req *r)
{
	llist_del(&r->list);
	if (r->out)
		r->out->live--;
	return 0;
}

static struct req *req_alloc(void *ctx, uint32_t cmd)
{
	struct req *r = talloc_zero(ctx, struct req);
	if (!r)
		return NULL;
	INIT_LLIST_HEAD(&r->list);
	r->cmd = cmd;
	talloc_set_destructor(r, req_destructor);
	return r;
}

/* ---- receipts map ---- */

static unsigned receipt_hash(const char *id)
{
	return strhash(id, 0) % RECEIPT_BUCKETS;
}

static void receipt_remember(struct smpp_smsc *s, const char *msg_id, int64_t out_id,
			     unsigned part, unsigned parts)
{
	struct receipt_ent *e;
	if (!*msg_id)
		return;
	if (s->n_receipts >= RECEIPT_MAX) {
		e = llist_first_entry(&s->receipts, struct receipt_ent, fifo);
		llist_del(&e->fifo);
		hlist_del(&e->hash);
		talloc_free(e);
		s->n_receipts--;
	}
	e = talloc_zero(s, struct receipt_ent);
	if (!e)
		return;
	e->msg_id = talloc_strdup(e, msg_id);
	if (!e->msg_id) {
		talloc_free(e);
		return;
	}
	e->out_id = out_id;
	e->part = (uint8_t)part;
	e->parts = (uint8_t)parts;
	llist_add_tail(&e->fifo, &s->receipts);
	hlist_add_head(&e->hash, &s->rbuckets[receipt_hash(msg_id)]);
	s->n_receipts++;
}

static struct receipt_ent *receipt_find(struct smpp_smsc *s, const char *msg_id)
{
	struct receipt_ent *e;
	hlist_for_each_entry(e, &s->rbuckets[receipt_hash(msg_id)], hash)
		if (strcmp(e->msg_id, msg_id) == 0)
			return e;
	/* Some SMSCs give the id in hex in submit_sm_resp and in decimal in receipts. */
	char *end;
	unsigned long long v = strtoull(msg_id, &end, 10);
	if (*msg_id && !*end) {
		char hex[32];
		snprintf(hex, sizeof(hex), "%llx", v);
		hlist_for_each_entry(e, &s->rbuckets[receipt_hash(hex)], hash)
			if (strcasecmp(e->msg_id, hex) == 0)
				return e;
	}
	return NULL;
}

/* ---- output buffer ---- */

static uint8_t *wbuf_reserve(struct smpp_bind *b, size_t n)
{
	if (b->woff > 0 && b->woff == b->wlen)
		b->woff = b->wlen = 0;
	if (b->wlen + n > b->wcap) {
		if (b->woff > 0) {
			memmove(b->wbuf, b->wbuf + b->woff, b->wlen - b->woff);
			b->wlen -= b->woff;
			b->woff = 0;
		}
		if (b->wlen + n > b->wcap) {
			size_t cap = b->wcap ? b->wcap * 2 : 16384;
			while (cap < b->wlen + n)
				cap *= 2;
			if (cap > WBUF_MAX)
				return NULL;
			uint8_t *nb = talloc_realloc_size(b, b->wbuf, cap);
			if (!nb)
				return NULL;
			b->wbuf = nb;
			b->wcap = cap;
		}
	}
	return b->wbuf + b->wlen;
}

/* Packs pdu (a libsmpp34 struct whose header is filled but for the length) and queues it. */
static int bind_send_pdu(struct smpp_bind *b, uint32_t cmd, void *pdu)
{
	const int room = 2048;
	uint8_t *p = wbuf_reserve(b, room);
	int len = 0;
	if (!p) {
		LOGB(b, LOGL_ERROR, "output buffer full");
		return -1;
	}
	if (smpp34_pack(cmd, p, room, &len, pdu) != 0) {
		/* Not smpp34_strerror: libsmpp34's dump of the fields holds the number. */
		LOGB(b, LOGL_ERROR, "cannot pack PDU 0x%08x: a field was refused by libsmpp34", cmd);
		return -1;
	}
	b->wlen += (size_t)len;
	osmo_fd_write_enable(&b->ofd);
	return 0;
}

/* A PDU with nothing but a header (enquire_link, unbind, their responses, generic_nack). */
static int bind_send_header(struct smpp_bind *b, uint32_t cmd, uint32_t status, uint32_t seq)
{
	uint8_t *p = wbuf_reserve(b, 16);
	if (!p)
		return -1;
	uint32_t v[4] = { htonl(16), htonl(cmd), htonl(status), htonl(seq) };
	memcpy(p, v, 16);
	b->wlen += 16;
	osmo_fd_write_enable(&b->ofd);
	return 0;
}

static uint32_t bind_next_seq(struct smpp_bind *b)
{
	if (++b->seq > 0x7FFFFFFF)
		b->seq = 1;
	return b->seq;
}

static void bind_track(struct smpp_bind *b, struct req *r)
{
	r->bind = b;
	r->deadline_us = now_us() + (int64_t)b->smsc->sc->response_timeout_s * 1000000;
	llist_add_tail(&r->list, &b->inflight);
	if (!osmo_timer_pending(&b->tick_timer))
		osmo_timer_schedule(&b->tick_timer, 0, 500000);
}

/* ---- outbound messages ---- */

static void out_maybe_free(struct out_msg *o)
{
	if (o->done && o->live == 0) {
		llist_del(&o->list);
		talloc_free(o);
	}
}

/* Ends o as failed (once) and drops its parts still waiting in the queue. */
static void out_fail(struct out_msg *o, bool permanent, const char *why)
{
	struct smpp_smsc *s = o->smsc;
	struct smpp_pool *p = s->pool;
	if (o->done)
		return;
	o->done = true;
	struct req *r, *tmp;
	llist_for_each_entry_safe(r, tmp, &s->queue, list) {
		if (r->out == o) {
			s->queued--;
			talloc_free(r);
		}
	}
	if (permanent)
		SMPP_COUNT(s, SMPP_CTR_FAILED, 1);
	else
		SMPP_COUNT(s, SMPP_CTR_RETRIES, 1);
	LOGS(s, permanent ? LOGL_NOTICE : LOGL_INFO, "reply %" PRId64 " failed (%s): %s", o->id,
	     permanent ? "permanent" : "will retry", why);
	if (p->sink.failed)
		p->sink.failed(p->sink.data, o->id, permanent, why);
	s->want_ready = true;
}

static void smsc_ready_cb(void *data)
{
	struct smpp_smsc *s = data;
	struct smpp_pool *p = s->pool;
	if (s->want_ready && s->t.up && s->queued < s->sc->window) {
		s->want_ready = false;
		if (p->sink.ready)
			p->sink.ready(p->sink.data, &s->t);
	}
}

/* Tells the router, from the loop (never from inside send()), that replies may come. */
static void smsc_maybe_ready(struct smpp_smsc *s)
{
	if (s->want_ready && s->t.up && s->queued < s->sc->window &&
	    !osmo_timer_pending(&s->ready_timer))
		osmo_timer_schedule(&s->ready_timer, 0, 0);
}

static unsigned smsc_room(struct sms_transport *t)
{
	struct smpp_smsc *s = t->priv;
	if (!t->up || !s->tx || s->tx->state != B_BOUND || s->queued >= s->sc->window) {
		s->want_ready = true;
		return 0;
	}
	return s->sc->window - s->queued;
}

static int smsc_send(struct sms_transport *t, const struct store_outbound *m)
{
	struct smpp_smsc *s = t->priv;
	if (!t->up || !s->tx || s->tx->state != B_BOUND || s->queued >= s->sc->window) {
		s->want_ready = true;
		return -1;
	}
	struct out_msg *o = talloc_zero(s, struct out_msg);
	if (!o)
		return -1;
	o->smsc = s;
	o->id = m->id;
	o->to = talloc_strdup(o, m->to);
	struct smpp_part *parts = NULL;
	uint8_t ref = s->next_ref++;
	unsigned n = smpp_encode_sms(o, m->text, m->coding, ref, &parts);
	o->dcs = m->coding == TEXT_UCS2 ? 8 : 0;
	if (n == 0 && m->coding == TEXT_GSM7) {	/* the renderer said GSM-7 but it is not */
		n = smpp_encode_sms(o, m->text, TEXT_UCS2, ref, &parts);
		o->dcs = 8;
	}
	if (n == 0 || !o->to) {
		talloc_free(o);
		return -1;
	}
	o->n_parts = n;
	for (unsigned i = 0; i < n; i++) {
		struct req *r = req_alloc(o, SUBMIT_SM);
		if (!r) {
			talloc_free(o);
			return -1;
		}
		r->out = o;
		o->live++;
		r->part = i;
		r->data = parts[i];
		llist_add_tail(&r->list, &s->queue);
		s->queued++;
	}
	talloc_free(parts);
	llist_add_tail(&o->list, &s->outs);
	SMPP_COUNT(s, SMPP_CTR_SUBMITTED, 1);
	if (!osmo_timer_pending(&s->send_timer))
		osmo_timer_schedule(&s->send_timer, 0, 0);
	return 0;
}

/* Packs one part as a submit_sm on the transmitting bind. */
static int submit_part(struct smpp_bind *b, struct req *r)
{
	const struct smpp_config *sc = b->smsc->sc;
	struct submit_sm_t pdu;
	memset(&pdu, 0, sizeof(pdu));
	r->seq = bind_next_seq(b);
	pdu.command_id = SUBMIT_SM;
	pdu.sequence_number = r->seq;
	pdu.source_addr_ton = (uint8_t)sc->source_ton;
	pdu.source_addr_npi = (uint8_t)sc->source_npi;
	snprintf((char *)pdu.source_addr, sizeof(pdu.source_addr), "%s", sc->source);
	const char *to = r->out->to;
	if (to[0] == '+') {
		pdu.dest_addr_ton = TON_International;
		pdu.dest_addr_npi = NPI_ISDN_E163_E164;
		to++;
	} else {
		pdu.dest_addr_ton = TON_Unknown;
		pdu.dest_addr_npi = NPI_ISDN_E163_E164;
	}
	snprintf((char *)pdu.destination_addr, sizeof(pdu.destination_addr), "%s", to);
	if (r->out->n_parts > 1)
		pdu.esm_class = SMPP34_UDHI_IND;
	pdu.registered_delivery = SMPP34_DELIVERY_RECEIPT_ON;
	pdu.data_coding = r->out->dcs;
	pdu.sm_length = r->data.len;
	memcpy(pdu.short_message, r->data.data, r->data.len);
	return bind_send_pdu(b, SUBMIT_SM, &pdu);
}

/* Sends queued parts while the window, the bucket and any throttling pause allow. */
static void smsc_pump(struct smpp_smsc *s)
{
	struct smpp_bind *b = s->tx;
	if (!b || b->state != B_BOUND)
		return;
	int64_t now = now_us();
	if (now < s->pause_until_us) {
		timer_us(&s->send_timer, s->pause_until_us - now);
		return;
	}
	while (!llist_empty(&s->queue) && b->n_submits < s->sc->window) {
		int64_t wait = smpp_bucket_take(&s->bucket, now);
		if (wait > 0) {
			timer_us(&s->send_timer, wait);
			break;
		}
		struct req *r = llist_first_entry(&s->queue, struct req, list);
		llist_del_init(&r->list);
		s->queued--;
		if (submit_part(b, r) != 0) {
			/* Cannot pack (a bad address): nothing to retry. */
			out_fail(r->out, true, "submit_sm cannot be encoded");
			struct out_msg *o = r->out;
			talloc_free(r);
			out_maybe_free(o);
			continue;
		}
		bind_track(b, r);
		b->n_submits++;
	}
	smsc_maybe_ready(s);
}

static void send_timer_cb(void *data)
{
	smsc_pump(data);
}

static void smsc_set_rate(struct smpp_smsc *s, double rate)
{
	s->rate = rate;
	smpp_bucket_set_rate(&s->bucket, rate);
}

/* Throttling (see smpp_adapt in smpp.h): a throttled part is resent first and the window
 * stays open; the rate follows what the SMSC accepts. Only a streak of throttles as long as
 * the window (everything refused) pauses sending: 50 ms, doubling up to 1 s, never a stall. */
#define THROTTLE_PAUSE_MAX_MS 1000u

static void smsc_adapt(struct smpp_smsc *s, bool throttled)
{
	double before = s->adapt.rate;
	unsigned ok = s->adapt.ok + !throttled, thr = s->adapt.thr + throttled;
	if (smpp_adapt_answer(&s->adapt, throttled, now_us())) {
		LOGS(s, LOGL_INFO, "%u of %u parts throttled: rate %.0f -> %.0f parts/s%s", thr,
		     ok + thr, before, s->adapt.rate, s->adapt.rate == 0 ? " (unlimited)" : "");
		smsc_set_rate(s, s->adapt.rate);
	}
}

/* Throttled: resend r first; pause only when the whole window came back throttled. */
static void smsc_throttled(struct smpp_smsc *s, struct req *r, uint32_t status)
{
	char nb[16];
	SMPP_COUNT(s, SMPP_CTR_THROTTLED, 1);
	if (++s->thr_streak >= s->sc->window) {
		s->thr_streak = 0;
		s->throttle_ms = s->throttle_ms ? s->throttle_ms * 2 : 50;
		if (s->throttle_ms > THROTTLE_PAUSE_MAX_MS)
			s->throttle_ms = THROTTLE_PAUSE_MAX_MS;
		s->pause_until_us = now_us() + (int64_t)s->throttle_ms * 1000;
		LOGS(s, LOGL_INFO, "%s on a whole window: pause %u ms",
		     smpp_status_name(status, nb, sizeof(nb)), s->throttle_ms);
	}
	r->bind = NULL;
	llist_add(&r->list, &s->queue);
	s->queued++;
	smsc_adapt(s, true);
}

static void smsc_unthrottle(struct smpp_smsc *s)
{
	s->thr_streak = 0;
	s->throttle_ms = 0;
	smsc_adapt(s, false);
}

static struct req *inflight_take(struct smpp_bind *b, uint32_t seq)
{
	struct req *r;
	llist_for_each_entry(r, &b->inflight, list) {
		if (r->seq == seq) {
			llist_del_init(&r->list);
			r->bind = NULL;
			if (r->cmd == SUBMIT_SM)
				b->n_submits--;
			return r;
		}
	}
	return NULL;
}

static void on_submit_resp(struct smpp_bind *b, uint32_t seq, uint32_t status, const char *msg_id)
{
	struct smpp_smsc *s = b->smsc;
	struct smpp_pool *p = s->pool;
	char nb[16];
	struct req *r = inflight_take(b, seq);
	if (!r) {
		LOGB(b, LOGL_NOTICE, "submit_sm_resp for unknown sequence %u", seq);
		return;
	}
	struct out_msg *o = r->out;
	enum smpp_status_class cls = smpp_status_classify(status);
	if (o->done) {
		talloc_free(r);
		out_maybe_free(o);
		return;
	}
	switch (cls) {
	case SMPP_ST_OK:
		SMPP_COUNT(s, SMPP_CTR_PARTS_OUT, 1);
		receipt_remember(s, msg_id, o->id, r->part + 1, o->n_parts);
		/* Kept in the store too: a receipt after a restart still finds its message. */
		if (p->sink.remote_id && msg_id[0])
			p->sink.remote_id(p->sink.data, o->id, s->t.name, msg_id);
		talloc_free(r);
		smsc_unthrottle(s);
		if (++o->acked == o->n_parts) {
			o->done = true;
			if (p->sink.sent)
				p->sink.sent(p->sink.data, o->id);
			s->want_ready = true;
		}
		break;
	case SMPP_ST_THROTTLE:
		smsc_throttled(s, r, status);
		break;
	case SMPP_ST_TEMP:
	case SMPP_ST_PERM: {
		char why[64];
		snprintf(why, sizeof(why), "SMSC answered %s", smpp_status_name(status, nb, sizeof(nb)));
		talloc_free(r);
		out_fail(o, cls == SMPP_ST_PERM, why);
		break;
	}
	}
	out_maybe_free(o);
}

/* ---- inbound ---- */

static void batch_add(struct mo_batch *bt, const char *via, const struct sms_parts_msg *pm,
		      const char *dedup)
{
	if (bt->n == bt->cap) {
		unsigned cap = bt->cap ? bt->cap * 2 : 16;
		struct sms_in *m = talloc_realloc(bt->ctx, bt->msgs, struct sms_in, cap);
		if (!m)
			return;	/* not acknowledged: the SMSC delivers it again */
		bt->msgs = m;
		bt->cap = cap;
	}
	const uint64_t *tokens = pm->handles;
	unsigned n_tokens = pm->n_handles;
	if (bt->n_tokens + n_tokens > bt->tok_cap) {
		unsigned cap = bt->tok_cap ? bt->tok_cap * 2 : 32;
		while (cap < bt->n_tokens + n_tokens)
			cap *= 2;
		uint64_t *t = talloc_realloc(bt->ctx, bt->tokens, uint64_t, cap);
		if (!t)
			return;
		bt->tokens = t;
		bt->tok_cap = cap;
	}
	bt->msgs[bt->n++] = (struct sms_in){
		.via = via, .from = talloc_strdup(bt->ctx, pm->from),
		.text = talloc_strdup(bt->ctx, pm->text), .received = time(NULL), .dedup = dedup,
	};
	memcpy(bt->tokens + bt->n_tokens, tokens, n_tokens * sizeof(*tokens));
	bt->n_tokens += n_tokens;
}

/* Answers the deliver_sm of n stored (ok) or refused messages: tokens carry each one's
 * connection generation and sequence number. */
static void batch_answer(struct smpp_bind *b, const uint64_t *tokens, unsigned n_tokens,
			 unsigned n, bool ok)
{
	struct smpp_smsc *s = b->smsc;
	if (ok) {
		SMPP_COUNT(s, SMPP_CTR_RECEIVED, n);
	} else {
		SMPP_COUNT(s, SMPP_CTR_REFUSED, n_tokens);
		LOGB(b, LOGL_ERROR, "%u messages not stored: answering ESME_RX_T_APPN so the SMSC retries",
		     n);
	}
	for (unsigned i = 0; i < n_tokens; i++) {
		uint64_t tok = tokens[i];
		if ((uint32_t)(tok >> 32) != b->gen || b->state != B_BOUND)
			continue;	/* from a former connection: the SMSC will deliver it again */
		bind_send_header(b, DELIVER_SM_RESP, ok ? ESME_ROK : ESME_RX_T_APPN, (uint32_t)tok);
	}
}

/* A batch handed to the sink's received_later, waiting for its commit to be answered. */
struct mo_ack {
	struct smpp_bind *b;
	unsigned n, n_tokens;
	uint64_t *tokens;
	bool pending;		/* the sink still holds it */
};

/* Freed with its bind (smpp_stop) before the sink answered: the sink forgets it, the
 * messages stay unacknowledged and the SMSC delivers them again. */
static int mo_ack_destructor(struct mo_ack *a)
{
	struct smpp_pool *p = a->b->smsc->pool;
	if (a->pending && p->sink.received_cancel)
		p->sink.received_cancel(p->sink.data, a);
	return 0;
}

static void mo_ack_stored(void *sdata, bool ok)
{
	struct mo_ack *a = sdata;
	a->pending = false;
	batch_answer(a->b, a->tokens, a->n_tokens, a->n, ok);
	talloc_free(a);
}

/* Hands the batch to the sink, then answers each deliver_sm it holds: after the sink's
 * commit of this loop iteration (received_later, shared with every bind and the other
 * writes: one fsync), or at once (received). Never before the messages are stored. */
static void batch_flush(struct smpp_bind *b, struct mo_batch *bt)
{
	struct smpp_pool *p = b->smsc->pool;
	if (bt->n == 0)
		return;
	if (p->sink.received_later) {
		struct mo_ack *a = talloc_zero(b, struct mo_ack);
		if (a && (a->tokens = talloc_memdup(a, bt->tokens, bt->n_tokens * sizeof(*bt->tokens)))) {
			a->b = b;
			a->n = bt->n;
			a->n_tokens = bt->n_tokens;
			if (p->sink.received_later(p->sink.data, bt->msgs, bt->n, mo_ack_stored, a) == 0) {
				a->pending = true;
				talloc_set_destructor(a, mo_ack_destructor);
				bt->n = bt->n_tokens = 0;
				return;
			}
		}
		talloc_free(a);
		batch_answer(b, bt->tokens, bt->n_tokens, bt->n, false);
	} else {
		int rc = p->sink.received ? p->sink.received(p->sink.data, bt->msgs, bt->n) : -1;
		batch_answer(b, bt->tokens, bt->n_tokens, bt->n, rc == 0);
	}
	bt->n = bt->n_tokens = 0;
}

static void on_receipt(struct smpp_bind *b, const struct smpp_deliver *d)
{
	struct smpp_smsc *s = b->smsc;
	char id[72] = "", stat[16] = "";
	smpp_receipt_parse((const char *)d->ud, d->udl, id, sizeof(id), stat, sizeof(stat));
	if (d->receipted_id[0])
		snprintf(id, sizeof(id), "%s", d->receipted_id);
	if (!stat[0] && d->message_state >= 0) {
		static const char *const states[] = { "SCHEDULED", "ENROUTE", "DELIVRD", "EXPIRED",
			"DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD" };
		unsigned v = (unsigned)d->message_state;
		snprintf(stat, sizeof(stat), "%s", v < 9 ? states[v] : "UNKNOWN");
	}
	SMPP_COUNT(s, SMPP_CTR_RECEIPTS, 1);
	struct receipt_ent *e = receipt_find(s, id);
	/* Final states only: delivered, or failed for good (ENROUTE, ACCEPTD say nothing yet). */
	bool delivered = strcmp(stat, "DELIVRD") == 0;
	bool final = delivered || !strcmp(stat, "UNDELIV") || !strcmp(stat, "REJECTD") ||
		     !strcmp(stat, "EXPIRED") || !strcmp(stat, "DELETED");
	struct smpp_pool *p = s->pool;
	if (final && p->sink.receipt && id[0])
		p->sink.receipt(p->sink.data, e ? e->out_id : 0, s->t.name, id, delivered, stat);
	if (!e) {
		/* Not in memory (sent before a restart): the store may know it (the router). */
		SMPP_COUNT(s, SMPP_CTR_RECEIPTS_UNMATCHED, 1);
		LOGB(b, LOGL_INFO, "receipt %s for a message id not in memory", stat[0] ? stat : "?");
		return;
	}
	LOGB(b, strcmp(stat, "DELIVRD") == 0 ? LOGL_DEBUG : LOGL_NOTICE,
	     "receipt for reply %" PRId64 " part %u/%u: %s", e->out_id, e->part, e->parts,
	     stat[0] ? stat : "?");
}

/* Moves the messages reassembly has ready (complete, expired, or pushed out by the bound)
 * into the batch: stored, then every deliver_sm they hold answered. */
static void bind_take_ready(struct smpp_bind *b, struct mo_batch *bt)
{
	struct smpp_smsc *s = b->smsc;
	struct sms_parts_msg *out[16];
	unsigned n;
	while ((n = sms_parts_take(b->reasm, bt->ctx, now_us() / 1000, out, 16)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct sms_parts_msg *m = out[i];
			char mb[48];
			if (m->have < m->total && sms_parts_waiting(b->reasm) >= REASM_MAX) {
				/* One line per thousand: a flood must not flood the journal too. */
				uint64_t pushed = rate_ctr_group_get_ctr(s->ctrs, SMPP_CTR_INCOMPLETE)->current;
				int lvl = pushed % 1000 ? LOGL_DEBUG : LOGL_NOTICE;
				SMPP_COUNT(s, SMPP_CTR_INCOMPLETE, 1);
				LOGB(b, lvl, "message from %s released with parts missing: %u messages "
				     "already wait for parts (%" PRIu64 " released so)",
				     log_mask(mb, sizeof(mb), m->from), REASM_MAX, pushed + 1);
			} else if (m->have < m->total) {
				LOGB(b, LOGL_NOTICE, "message from %s released with %u of %u parts",
				     log_mask(mb, sizeof(mb), m->from), m->have, m->total);
			}
			/* A single part is complete as it arrives: the deliver_sm being handled. */
			int user_ref = m->total <= 1 && m->n_handles == 1 &&
				       m->handles[0] == b->cur_tok ? b->cur_user_ref : -1;
			batch_add(bt, b->smsc->sc->name, m, smpp_dedup_key(bt->ctx, m, user_ref));
		}
	}
	if (sms_parts_pending(b->reasm) && !osmo_timer_pending(&b->tick_timer))
		osmo_timer_schedule(&b->tick_timer, 0, 500000);
}

static void on_deliver_sm(struct smpp_bind *b, const uint8_t *pdu, uint32_t len, uint32_t seq,
			  struct mo_batch *bt)
{
	struct smpp_smsc *s = b->smsc;
	struct smpp_deliver d;
	char why[128];
	if (smpp_deliver_decode(pdu, len, &d, why, sizeof(why)) != 0) {
		/* why names fields and lengths only: never the PDU's content (numbers). */
		LOGB(b, LOGL_ERROR, "undecodable deliver_sm refused (ESME_RX_P_APPN): %s", why);
		bind_send_header(b, DELIVER_SM_RESP, ESME_RX_P_APPN, seq);
		return;
	}
	smpp_number_international(d.from, sizeof(d.from), d.source_ton, s->sc->country_code);
	if (d.esm_class & 0x3C) {	/* receipt, SME ack, intermediate notification */
		on_receipt(b, &d);
		bind_send_header(b, DELIVER_SM_RESP, ESME_ROK, seq);
		return;
	}
	uint64_t tok = (uint64_t)b->gen << 32 | seq;
	struct sms_part_in part;
	char mb[48];
	smpp_deliver_part(&d, tok, time(NULL), &part);
	SMPP_COUNT(s, SMPP_CTR_PARTS_IN, 1);
	if (part.cc.present && part.cc.total > 1)
		LOGB(b, LOGL_DEBUG, "part %u/%u (ref %u) from %s", part.cc.seq, part.cc.total,
		     part.cc.ref, log_mask(mb, sizeof(mb), d.from));
	else
		LOGB(b, LOGL_DEBUG, "message from %s", log_mask(mb, sizeof(mb), d.from));
	int rc = sms_parts_add(b->reasm, &part, now_us() / 1000);
	if (rc < 0) {
		bind_send_header(b, DELIVER_SM_RESP, ESME_RX_T_APPN, seq);
		return;
	}
	/* rc 1: the same sequence number while the first is unanswered: answered with it. */
	b->cur_tok = tok;
	b->cur_user_ref = d.user_ref;
	bind_take_ready(b, bt);
	b->cur_user_ref = -1;
}

static void on_bind_resp(struct smpp_bind *b, uint32_t status)
{
	struct smpp_smsc *s = b->smsc;
	char nb[16];
	if (status != ESME_ROK) {
		char why[96];
		snprintf(why, sizeof(why), "bind %s refused: %s (0x%08x)", b->kind,
			 smpp_status_name(status, nb, sizeof(nb)), status);
		if (status != b->last_fail_status || strcmp(why, b->last_fail) != 0)
			LOGS(s, LOGL_ERROR, "%s (system_id %s)", why, s->sc->system_id);
		b->last_fail_status = status;
		snprintf(b->last_fail, sizeof(b->last_fail), "%s", why);
		bind_drop(b, NULL);
		return;
	}
	b->state = B_BOUND;
	b->was_bound = true;
	SMPP_COUNT(s, SMPP_CTR_BINDS, 1);
	b->backoff_s = 0;
	b->last_fail[0] = '\0';
	b->last_fail_status = 0;
	LOGS(s, LOGL_NOTICE, "bound as %s (system_id %s)", b->kind, s->sc->system_id);
	osmo_timer_schedule(&b->enquire_timer, (int)s->sc->enquire_link_s, 0);
	if (b->can_tx) {
		s->t.up = true;
		s->want_ready = true;
		smsc_pump(s);
		smsc_maybe_ready(s);
	}
}

static void bind_handle_pdu(struct smpp_bind *b, const uint8_t *pdu, uint32_t len,
			    struct mo_batch *bt)
{
	uint32_t h[4];
	memcpy(h, pdu, 16);
	uint32_t cmd = ntohl(h[1]), status = ntohl(h[2]), seq = ntohl(h[3]);

	switch (cmd) {
	case BIND_TRANSCEIVER_RESP:
	case BIND_TRANSMITTER_RESP:
	case BIND_RECEIVER_RESP: {
		struct req *r = inflight_take(b, seq);
		talloc_free(r);
		if (b->state == B_BINDING)
			on_bind_resp(b, status);
		break;
	}
	case SUBMIT_SM_RESP: {
		char id[66] = "";
		if (status == ESME_ROK && len > 16) {
			size_t n = len - 16 < sizeof(id) - 1 ? len - 16 : sizeof(id) - 1;
			memcpy(id, pdu + 16, n);
			id[n] = '\0';
		}
		on_submit_resp(b, seq, status, id);
		break;
	}
	case DELIVER_SM:
		if (b->state != B_BOUND || !b->can_rx) {
			bind_send_header(b, DELIVER_SM_RESP, ESME_RINVBNDSTS, seq);
			break;
		}
		on_deliver_sm(b, pdu, len, seq, bt);
		break;
	case ENQUIRE_LINK:
		bind_send_header(b, ENQUIRE_LINK_RESP, ESME_ROK, seq);
		break;
	case ENQUIRE_LINK_RESP: {
		struct req *r = inflight_take(b, seq);
		talloc_free(r);
		b->enquire_pending = false;
		break;
	}
	case UNBIND:
		bind_send_header(b, UNBIND_RESP, ESME_ROK, seq);
		LOGB(b, LOGL_NOTICE, "the SMSC unbinds");
		SMPP_COUNT(b->smsc, SMPP_CTR_UNBINDS, 1);
		b->state = B_UNBINDING;	/* closed once the answer is written */
		break;
	case UNBIND_RESP:
		bind_drop(b, NULL);
		break;
	case GENERIC_NACK: {
		struct req *r = inflight_take(b, seq);
		char nb[16];
		LOGB(b, LOGL_NOTICE, "generic_nack %s for sequence %u",
		     smpp_status_name(status, nb, sizeof(nb)), seq);
		if (r && r->cmd == SUBMIT_SM) {
			struct out_msg *o = r->out;
			talloc_free(r);
			out_fail(o, false, "SMSC answered generic_nack");
			out_maybe_free(o);
		} else if (r && (r->cmd == BIND_TRANSCEIVER || r->cmd == BIND_TRANSMITTER ||
				 r->cmd == BIND_RECEIVER)) {
			talloc_free(r);
			on_bind_resp(b, status ? status : ESME_RBINDFAIL);
		} else {
			talloc_free(r);
		}
		break;
	}
	case DATA_SM:
	case ALERT_NOTIFICATION:
	default:
		if (cmd & 0x80000000)
			break;	/* an answer we did not ask for */
		if (cmd != ALERT_NOTIFICATION)
			bind_send_header(b, GENERIC_NACK, ESME_RINVCMDID, seq);
		break;
	}
}

/* ---- socket ---- */

static void bind_schedule_reconnect(struct smpp_bind *b)
{
	const struct smpp_config *sc = b->smsc->sc;
	if (b->smsc->pool->stopping)
		return;
	if (b->backoff_s == 0)
		b->backoff_s = sc->reconnect_min_s;
	else if (b->backoff_s < sc->reconnect_max_s)
		b->backoff_s = b->backoff_s * 2 > sc->reconnect_max_s ? sc->reconnect_max_s : b->backoff_s * 2;
	/* A little jitter so that many binds do not all come back at the same instant. */
	unsigned jitter_ms = (unsigned)(rand() % 250);
	osmo_timer_schedule(&b->reconnect_timer, (int)b->backoff_s, (int)jitter_ms * 1000);
}

/* Closes the connection; every part in flight on it, and every queued part when it was the
 * transmitting bind, is reported failed-temporary so the router queues it again. why: logged
 * (NULL: already logged). */
static void bind_drop(struct smpp_bind *b, const char *why)
{
	struct smpp_smsc *s = b->smsc;
	if (why)
		LOGB(b, b->state == B_BOUND ? LOGL_NOTICE : LOGL_INFO, "link down (%s): %s",
		     state_names[b->state], why);
	if (b->ofd.fd >= 0) {
		osmo_fd_unregister(&b->ofd);
		close(b->ofd.fd);
		b->ofd.fd = -1;
	}
	bool was_bound = b->state == B_BOUND || b->state == B_UNBINDING;
	b->state = B_IDLE;
	b->rlen = b->wlen = b->woff = 0;
	b->gen++;
	b->enquire_pending = false;
	osmo_timer_del(&b->enquire_timer);
	osmo_timer_del(&b->tick_timer);
	sms_parts_clear(b->reasm);
	if (was_bound)
		SMPP_COUNT(s, SMPP_CTR_RECONNECTS, 1);
	if (b == s->tx)
		s->t.up = false;

	const char *reason = why ? why : "link down";
	struct req *r, *tmp;
	llist_for_each_entry_safe(r, tmp, &b->inflight, list) {
		struct out_msg *o = r->out;
		talloc_free(r);
		if (o) {
			out_fail(o, false, reason);
			out_maybe_free(o);
		}
	}
	b->n_submits = 0;
	if (b == s->tx) {
		s->t.up = false;
		struct out_msg *o, *otmp;
		llist_for_each_entry_safe(o, otmp, &s->outs, list) {
			out_fail(o, false, reason);
			out_maybe_free(o);
		}
		osmo_timer_del(&s->send_timer);
	}
	bind_schedule_reconnect(b);
}

static int bind_write(struct smpp_bind *b)
{
	while (b->woff < b->wlen) {
		ssize_t n = write(b->ofd.fd, b->wbuf + b->woff, b->wlen - b->woff);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			char why[96];
			snprintf(why, sizeof(why), "write: %s", strerror(errno));
			bind_drop(b, why);
			return -1;
		}
		b->woff += (size_t)n;
	}
	b->woff = b->wlen = 0;
	osmo_fd_write_disable(&b->ofd);
	if (b->state == B_UNBINDING) {
		bind_drop(b, "unbound");
		return -1;
	}
	return 0;
}

static void bind_send_bind(struct smpp_bind *b)
{
	struct smpp_smsc *s = b->smsc;
	struct bind_transceiver_t pdu;
	memset(&pdu, 0, sizeof(pdu));
	struct req *r = req_alloc(b, b->bind_cmd);
	if (!r) {
		bind_drop(b, "out of memory");
		return;
	}
	r->seq = bind_next_seq(b);
	pdu.command_id = b->bind_cmd;
	pdu.sequence_number = r->seq;
	snprintf((char *)pdu.system_id, sizeof(pdu.system_id), "%s", s->sc->system_id);
	snprintf((char *)pdu.password, sizeof(pdu.password), "%s", s->password);
	snprintf((char *)pdu.system_type, sizeof(pdu.system_type), "%s", s->sc->system_type);
	pdu.interface_version = SMPP_VERSION;
	if (bind_send_pdu(b, b->bind_cmd, &pdu) != 0) {
		talloc_free(r);
		bind_drop(b, "cannot encode the bind");
		return;
	}
	b->state = B_BINDING;
	bind_track(b, r);
}

static void bind_read(struct smpp_bind *b)
{
	ssize_t n = read(b->ofd.fd, b->rbuf + b->rlen, RBUF_SIZE - b->rlen);
	if (n == 0) {
		bind_drop(b, "closed by the SMSC");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		char why[96];
		snprintf(why, sizeof(why), "read: %s", strerror(errno));
		bind_drop(b, why);
		return;
	}
	b->rlen += (size_t)n;

	void *tmp = talloc_new(b);
	struct mo_batch bt = { .ctx = tmp };
	uint32_t gen = b->gen;
	size_t off = 0;
	while (b->rlen - off >= 16 && b->gen == gen) {
		uint32_t len;
		memcpy(&len, b->rbuf + off, 4);
		len = ntohl(len);
		if (len < 16 || len > PDU_MAX) {
			batch_flush(b, &bt);
			bind_drop(b, "invalid command_length");
			talloc_free(tmp);
			return;
		}
		if (b->rlen - off < len)
			break;
		bind_handle_pdu(b, b->rbuf + off, len, &bt);
		off += len;
	}
	if (b->gen == gen) {
		memmove(b->rbuf, b->rbuf + off, b->rlen - off);
		b->rlen -= off;
		/* One store transaction for everything this read brought. */
		batch_flush(b, &bt);
	}
	talloc_free(tmp);
	if (b->gen == gen && b->state == B_BOUND && b->can_tx)
		smsc_pump(b->smsc);
}

static int bind_fd_cb(struct osmo_fd *ofd, unsigned int what)
{
	struct smpp_bind *b = ofd->data;
	uint32_t gen = b->gen;

	if (b->state == B_CONNECTING) {
		if (!(what & OSMO_FD_WRITE))
			return 0;
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(ofd->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err) {
			char why[128];
			snprintf(why, sizeof(why), "connect to %s:%u: %s", b->smsc->sc->host,
				 b->smsc->sc->port, strerror(err));
			if (strcmp(why, b->last_fail) != 0)
				LOGB(b, LOGL_ERROR, "%s", why);
			snprintf(b->last_fail, sizeof(b->last_fail), "%s", why);
			bind_drop(b, NULL);
			return 0;
		}
		osmo_fd_write_disable(ofd);
		struct req *r, *tmp;
		llist_for_each_entry_safe(r, tmp, &b->inflight, list)
			if (r->cmd == 0)	/* the connect deadline */
				talloc_free(r);
		bind_send_bind(b);
		return 0;
	}
	if (what & OSMO_FD_READ)
		bind_read(b);
	/* What the read made (deliver_sm_resp once stored, submits) is written now rather than
	 * at the next select: with a window of 10 the SMSC waits for those answers. */
	if (b->gen == gen && b->ofd.fd >= 0 && ((what & OSMO_FD_WRITE) || b->woff < b->wlen))
		bind_write(b);
	if (b->gen == gen)
		smsc_maybe_ready(b->smsc);
	return 0;
}

static void bind_connect(struct smpp_bind *b)
{
	const struct smpp_config *sc = b->smsc->sc;
	int fd = osmo_sock_init2(AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, NULL, 0, sc->host,
				 (uint16_t)sc->port, OSMO_SOCK_F_CONNECT | OSMO_SOCK_F_NONBLOCK);
	if (fd < 0) {
		char why[128];
		snprintf(why, sizeof(why), "cannot connect to %s:%u", sc->host, sc->port);
		if (strcmp(why, b->last_fail) != 0)
			LOGB(b, LOGL_ERROR, "%s", why);
		snprintf(b->last_fail, sizeof(b->last_fail), "%s", why);
		bind_schedule_reconnect(b);
		return;
	}
	/* Without TCP_NODELAY a small PDU written while an earlier one is unacknowledged waits for
	 * the peer's delayed ACK (~40 ms): answers and submits left in bursts every ~50 ms. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	osmo_fd_setup(&b->ofd, fd, OSMO_FD_READ | OSMO_FD_WRITE, bind_fd_cb, b, 0);
	if (osmo_fd_register(&b->ofd) != 0) {
		close(fd);
		b->ofd.fd = -1;
		bind_schedule_reconnect(b);
		return;
	}
	b->state = B_CONNECTING;
	/* A connect that hangs is caught by the tick: give it a deadline too. */
	struct req *r = req_alloc(b, 0);
	if (r) {
		r->seq = 0;
		bind_track(b, r);
	}
}

static void reconnect_cb(void *data)
{
	struct smpp_bind *b = data;
	if (b->state == B_IDLE)
		bind_connect(b);
}

static void enquire_cb(void *data)
{
	struct smpp_bind *b = data;
	if (b->state != B_BOUND)
		return;
	if (!b->enquire_pending) {
		struct req *r = req_alloc(b, ENQUIRE_LINK);
		if (r) {
			r->seq = bind_next_seq(b);
			if (bind_send_header(b, ENQUIRE_LINK, 0, r->seq) == 0) {
				bind_track(b, r);
				b->enquire_pending = true;
			} else {
				talloc_free(r);
			}
		}
	}
	osmo_timer_schedule(&b->enquire_timer, (int)b->smsc->sc->enquire_link_s, 0);
}

/* Every half second while something waits for an answer: an SMSC that stopped answering is
 * dropped; concatenated messages missing parts for too long are released. */
static void tick_cb(void *data)
{
	struct smpp_bind *b = data;
	int64_t now = now_us();
	if (!llist_empty(&b->inflight)) {
		struct req *oldest = llist_first_entry(&b->inflight, struct req, list);
		if (oldest->deadline_us <= now) {
			char why[96];
			snprintf(why, sizeof(why), "no answer to %s in %us",
				 oldest->cmd == 0 ? "connect" :
				 oldest->cmd == ENQUIRE_LINK ? "enquire_link" :
				 oldest->cmd == SUBMIT_SM ? "submit_sm" : "bind",
				 b->smsc->sc->response_timeout_s);
			if (oldest->cmd == ENQUIRE_LINK)
				SMPP_COUNT(b->smsc, SMPP_CTR_ENQUIRE_TIMEOUTS, 1);
			bind_drop(b, why);
			return;
		}
	}
	if (b->reasm && sms_parts_pending(b->reasm) && b->state == B_BOUND) {
		void *tmp = talloc_new(b);
		struct mo_batch bt = { .ctx = tmp };
		bind_take_ready(b, &bt);
		batch_flush(b, &bt);
		talloc_free(tmp);
	}
	if (!llist_empty(&b->inflight) || (b->reasm && sms_parts_pending(b->reasm)))
		osmo_timer_schedule(&b->tick_timer, 0, 500000);
}

/* ---- life cycle ---- */

static struct smpp_bind *bind_alloc(struct smpp_smsc *s, uint32_t cmd, const char *kind,
				    bool tx, bool rx)
{
	struct smpp_bind *b = talloc_zero(s, struct smpp_bind);
	if (!b)
		return NULL;
	b->smsc = s;
	b->bind_cmd = cmd;
	b->kind = kind;
	b->can_tx = tx;
	b->can_rx = rx;
	b->ofd.fd = -1;
	b->cur_user_ref = -1;
	b->rbuf = talloc_size(b, RBUF_SIZE);
	b->reasm = sms_parts_alloc(b, (int64_t)s->sc->reassembly_s * 1000, REASM_MAX);
	if (!b->rbuf || !b->reasm) {
		talloc_free(b);
		return NULL;
	}
	INIT_LLIST_HEAD(&b->inflight);
	osmo_timer_setup(&b->reconnect_timer, reconnect_cb, b);
	osmo_timer_setup(&b->enquire_timer, enquire_cb, b);
	osmo_timer_setup(&b->tick_timer, tick_cb, b);
	return b;
}

struct smpp_pool *smpp_start(void *ctx, const struct smpp_config *sc, const struct config *c,
			     struct sms_sink sink)
{
	struct smpp_pool *p = talloc_zero(ctx, struct smpp_pool);
	if (!p)
		return NULL;
	p->sink = sink;
	p->c = c;
	INIT_LLIST_HEAD(&p->smscs);

	for (; sc; sc = sc->next) {
		struct smpp_smsc *s = talloc_zero(p, struct smpp_smsc);
		if (!s)
			goto fail;
		s->pool = p;
		s->sc = sc;
		s->lf.smsc = sc->name;
		if (!(s->ctrs = metrics_ctr_group(s, &smpp_ctrg_desc, sc->name))) {
			talloc_free(s);
			goto fail;
		}
		INIT_LLIST_HEAD(&s->queue);
		INIT_LLIST_HEAD(&s->outs);
		INIT_LLIST_HEAD(&s->receipts);
		for (unsigned i = 0; i < RECEIPT_BUCKETS; i++)
			INIT_HLIST_HEAD(&s->rbuckets[i]);
		llist_add_tail(&s->list, &p->smscs);
		char err[256] = "";
		s->password = config_read_secret(s, c, sc->password, err, sizeof(err));
		if (!s->password) {
			LOGS(s, LOGL_ERROR, "cannot read the password: %s", err);
			goto fail;
		}
		if (strlen(s->password) > 8) {
			LOGS(s, LOGL_ERROR, "the password file holds more than the 8 characters SMPP 3.4 "
			     "allows in bind");
			goto fail;
		}
		s->next_ref = (uint8_t)(rand() & 0xFF);
		s->rate = sc->parts_per_second;
		smpp_bucket_init(&s->bucket, s->rate, now_us());
		smpp_adapt_init(&s->adapt, s->rate, now_us());
		osmo_timer_setup(&s->send_timer, send_timer_cb, s);
		osmo_timer_setup(&s->ready_timer, smsc_ready_cb, s);
		s->t = (struct sms_transport){ .name = sc->name, .send = smsc_send, .room = smsc_room, .priv = s, .up = false };
		if (sc->bind == SMPP_BIND_TRX) {
			s->binds[s->n_binds++] = bind_alloc(s, BIND_TRANSCEIVER, "transceiver", true, true);
		} else {
			s->binds[s->n_binds++] = bind_alloc(s, BIND_TRANSMITTER, "transmitter", true, false);
			s->binds[s->n_binds++] = bind_alloc(s, BIND_RECEIVER, "receiver", false, true);
		}
		for (unsigned i = 0; i < s->n_binds; i++)
			if (!s->binds[i])
				goto fail;
		s->tx = s->binds[0];
	}
	struct smpp_smsc *s;
	llist_for_each_entry(s, &p->smscs, list) {
		if (sink.registered)
			sink.registered(sink.data, &s->t);
		for (unsigned i = 0; i < s->n_binds; i++)
			bind_connect(s->binds[i]);
	}
	return p;
fail:
	p->stopping = true;
	smpp_stop(p);
	return NULL;
}

void smpp_stop(struct smpp_pool *p)
{
	if (!p)
		return;
	p->stopping = true;
	struct smpp_smsc *s;
	llist_for_each_entry(s, &p->smscs, list) {
		/* First: the router must never offer to (or reach through its timers) a transport
		 * freed below. */
		s->t.up = false;
		if (p->sink.unregistered)
			p->sink.unregistered(p->sink.data, &s->t);
		for (unsigned i = 0; i < s->n_binds; i++) {
			struct smpp_bind *b = s->binds[i];
			if (!b)
				continue;
			if (b->state == B_BOUND) {
				/* Best effort: an unbind written without waiting for its answer. */
				bind_send_header(b, UNBIND, 0, bind_next_seq(b));
				SMPP_COUNT(s, SMPP_CTR_UNBINDS, 1);
				if (b->ofd.fd >= 0)
					(void)!write(b->ofd.fd, b->wbuf + b->woff, b->wlen - b->woff);
			}
			bind_drop(b, NULL);
			osmo_timer_del(&b->reconnect_timer);
		}
		osmo_timer_del(&s->send_timer);
		osmo_timer_del(&s->ready_timer);
		/* Parts still queued (the transmitter may have been down already). */
		struct out_msg *o, *tmp;
		llist_for_each_entry_safe(o, tmp, &s->outs, list) {
			out_fail(o, false, "stopping");
			out_maybe_free(o);
		}
	}
	talloc_free(p);
}

void smpp_status(const struct smpp_pool *p, struct smpp_status *st)
{
	const struct smpp_smsc *s;

	*st = (struct smpp_status){ 0 };
	llist_for_each_entry(s, &p->smscs, list) {
#define C(which) rate_ctr_group_get_ctr(s->ctrs, (which))->current
		st->mo_messages += C(SMPP_CTR_RECEIVED);
		st->mo_parts += C(SMPP_CTR_PARTS_IN);
		st->mo_refused += C(SMPP_CTR_REFUSED);
		st->mo_pushed_out += C(SMPP_CTR_INCOMPLETE);
		st->mt_messages += C(SMPP_CTR_SUBMITTED);
		st->mt_parts += C(SMPP_CTR_PARTS_OUT);
		st->mt_throttled += C(SMPP_CTR_THROTTLED);
		st->mt_failed_temp += C(SMPP_CTR_RETRIES);
		st->mt_failed_perm += C(SMPP_CTR_FAILED);
		st->receipts += C(SMPP_CTR_RECEIPTS);
		st->receipts_unmatched += C(SMPP_CTR_RECEIPTS_UNMATCHED);
		st->reconnects += C(SMPP_CTR_RECONNECTS);
#undef C
		for (unsigned i = 0; i < s->n_binds; i++) {
			st->binds_total++;
			if (s->binds[i] && s->binds[i]->state == B_BOUND)
				st->binds_up++;
		}
	}
}
