/* SMPP replies: the parts of each message queued per SMSC, paced by the throughput bucket and
 * the rate throttling leaves, sent as submit_sm within each bind's window; their answers
 * (accepted, throttled, failed), and the SMSC's message ids kept for delivery receipts. */
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
#include "guichet/smpp_bind.h"
#include "guichet/strhash.h"


static int req_destructor(struct req *r)
{
	llist_del(&r->list);
	if (r->out)
		r->out->live--;
	return 0;
}

struct req *smpp_req_alloc(void *ctx, uint32_t cmd)
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

struct receipt_ent *smpp_receipt_find(struct smpp_smsc *s, const char *msg_id)
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

/* ---- outbound messages ---- */

void smpp_out_maybe_free(struct out_msg *o)
{
	if (o->done && o->live == 0) {
		llist_del(&o->list);
		talloc_free(o);
	}
}

/* Ends o as failed (once) and drops its parts still waiting in the queue. */
void smpp_out_fail(struct out_msg *o, bool permanent, const char *why)
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

void smpp_smsc_ready_cb(void *data)
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
void smpp_smsc_maybe_ready(struct smpp_smsc *s)
{
	if (s->want_ready && s->t.up && s->queued < s->sc->window &&
	    !osmo_timer_pending(&s->ready_timer))
		osmo_timer_schedule(&s->ready_timer, 0, 0);
}

unsigned smpp_smsc_room(struct sms_transport *t)
{
	struct smpp_smsc *s = t->priv;
	if (!t->up || !s->tx || s->tx->fi->state != B_BOUND || s->queued >= s->sc->window) {
		s->want_ready = true;
		return 0;
	}
	return s->sc->window - s->queued;
}

int smpp_smsc_send(struct sms_transport *t, const struct store_outbound *m)
{
	struct smpp_smsc *s = t->priv;
	if (!t->up || !s->tx || s->tx->fi->state != B_BOUND || s->queued >= s->sc->window) {
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
		struct req *r = smpp_req_alloc(o, SUBMIT_SM);
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
	r->seq = smpp_bind_next_seq(b);
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
	return smpp_bind_send_pdu(b, SUBMIT_SM, &pdu);
}

/* Sends queued parts while the window, the bucket and any throttling pause allow. */
void smpp_smsc_pump(struct smpp_smsc *s)
{
	struct smpp_bind *b = s->tx;
	if (!b || b->fi->state != B_BOUND)
		return;
	int64_t now = smpp_now_us();
	if (now < s->pause_until_us) {
		smpp_timer_us(&s->send_timer, s->pause_until_us - now);
		return;
	}
	while (!llist_empty(&s->queue) && b->n_submits < s->sc->window) {
		int64_t wait = smpp_bucket_take(&s->bucket, now);
		if (wait > 0) {
			smpp_timer_us(&s->send_timer, wait);
			break;
		}
		struct req *r = llist_first_entry(&s->queue, struct req, list);
		llist_del_init(&r->list);
		s->queued--;
		if (submit_part(b, r) != 0) {
			/* Cannot pack (a bad address): nothing to retry. */
			smpp_out_fail(r->out, true, "submit_sm cannot be encoded");
			struct out_msg *o = r->out;
			talloc_free(r);
			smpp_out_maybe_free(o);
			continue;
		}
		smpp_bind_track(b, r);
		b->n_submits++;
	}
	smpp_smsc_maybe_ready(s);
}

void smpp_send_timer_cb(void *data)
{
	smpp_smsc_pump(data);
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
	if (smpp_adapt_answer(&s->adapt, throttled, smpp_now_us())) {
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
		s->pause_until_us = smpp_now_us() + (int64_t)s->throttle_ms * 1000;
		LOGS(s, LOGL_INFO, "%s on a whole window: pause %u ms",
		     smpp_status_name(status, nb, sizeof(nb)), s->throttle_ms);
	}
	r->bind = NULL;
	llist_add(&r->list, &s->queue);
	s->queued++;
	smsc_adapt(s, true);
}

void smpp_smsc_unthrottle(struct smpp_smsc *s)
{
	s->thr_streak = 0;
	s->throttle_ms = 0;
	smsc_adapt(s, false);
}

struct req *smpp_inflight_take(struct smpp_bind *b, uint32_t seq)
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

void smpp_on_submit_resp(struct smpp_bind *b, uint32_t seq, uint32_t status, const char *msg_id)
{
	struct smpp_smsc *s = b->smsc;
	struct smpp_pool *p = s->pool;
	char nb[16];
	struct req *r = smpp_inflight_take(b, seq);
	if (!r) {
		LOGB(b, LOGL_NOTICE, "submit_sm_resp for unknown sequence %u", seq);
		return;
	}
	struct out_msg *o = r->out;
	enum smpp_status_class cls = smpp_status_classify(status);
	if (o->done) {
		talloc_free(r);
		smpp_out_maybe_free(o);
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
		smpp_smsc_unthrottle(s);
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
		smpp_out_fail(o, cls == SMPP_ST_PERM, why);
		break;
	}
	}
	smpp_out_maybe_free(o);
}

