/* SMPP 3.4 binds on the osmo select loop.
 *
 * Per SMSC: one transceiver bind, or a transmitter bind plus a receiver bind. Each bind is an
 * osmo_fsm instance (the table below) with its own socket, read and write buffers, sequence
 * numbers and list of requests waiting for an answer. The SMSC owns
 * the outbound side shared by its binds: the queue of parts waiting for a token of the
 * throughput bucket, the message being sent, the map of SMSC message ids for receipts.
 *
 * Ownership (talloc): pool -> smsc -> {binds, outbound messages -> their parts}. A part
 * (struct req) is on exactly one list at a time (the SMSC's queue or a bind's in-flight
 * list) and unlinks itself when freed.
 *
 * This file: each bind's connection (socket, PDUs in and out, state machine, timers) and the
 * pool's life cycle; smpp_out.c the replies, smpp_in.c the deliver_sm (smpp_bind.h). */
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
#include <osmocom/core/fsm.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/select.h>
#include <osmocom/core/socket.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>

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
/* ---- a bind's connection life: one osmo_fsm instance per bind ----
 *
 *  state       its timer (osmo_fsm's own)                      at its expiry          leaves to
 *  IDLE        X1 reconnect: reconnect_min, doubled after each   connect              CONNECTING,
 *              failure up to reconnect_max, + <250 ms; none                           IDLE
 *              at start (connects at once) and at stop
 *  CONNECTING  X2 response_timeout                               drop                 BINDING, IDLE
 *  BINDING     X3 response_timeout                               drop                 BOUND, IDLE,
 *                                                                                     UNBINDING
 *  BOUND       X4 enquire_link, re-armed at each expiry          send an enquire_link UNBINDING,
 *                                                                                     IDLE
 *  UNBINDING   none: closed once our unbind_resp is written                           IDLE
 *
 * A drop (error, timeout, refused bind, the SMSC closing) leads to IDLE from any state. The
 * answers to enquire_link and submit_sm have deadlines on the tick (in flight, several at a
 * time): not states. libosmocore logs each transition and expiry at debug in the smpp
 * category ("smpp_bind(opx-transceiver){BINDING}: State change to BOUND (X4, 30s)"); the
 * lines an operator reads (bound, bind refused, link down) are ours, at notice and error. */
enum { X_RECONNECT = -1, X_CONNECT = -2, X_BIND = -3, X_ENQUIRE = -4 };
#define S(x) (1u << (x))
static const struct osmo_fsm_state bind_states[] = {
	[B_IDLE] = { .name = "IDLE", .out_state_mask = S(B_IDLE) | S(B_CONNECTING) },
	[B_CONNECTING] = { .name = "CONNECTING", .out_state_mask = S(B_IDLE) | S(B_BINDING) },
	[B_BINDING] = { .name = "BINDING", .out_state_mask = S(B_IDLE) | S(B_BOUND) | S(B_UNBINDING) },
	[B_BOUND] = { .name = "BOUND", .out_state_mask = S(B_IDLE) | S(B_UNBINDING) },
	[B_UNBINDING] = { .name = "UNBINDING", .out_state_mask = S(B_IDLE) | S(B_UNBINDING) },
};
static const struct value_string no_events[] = { { 0, NULL } };	/* timers drive it */
static int bind_timer_cb(struct osmo_fsm_inst *fi);
static struct osmo_fsm bind_fsm = {
	.name = "smpp_bind",
	.states = bind_states,
	.num_states = ARRAY_SIZE(bind_states),
	.event_names = no_events,
	.timer_cb = bind_timer_cb,
	.log_subsys = GLOG_SMPP,
};

static __attribute__((constructor)) void bind_fsm_register(void)
{
	OSMO_ASSERT(osmo_fsm_register(&bind_fsm) == 0);
}

int64_t smpp_now_us(void)
{
	struct timespec ts;
	osmo_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void smpp_timer_us(struct osmo_timer_list *t, int64_t us)
{
	if (us < 0)
		us = 0;
	osmo_timer_schedule(t, (int)(us / 1000000), (int)(us % 1000000));
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
int smpp_bind_send_pdu(struct smpp_bind *b, uint32_t cmd, void *pdu)
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
int smpp_bind_send_header(struct smpp_bind *b, uint32_t cmd, uint32_t status, uint32_t seq)
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

uint32_t smpp_bind_next_seq(struct smpp_bind *b)
{
	if (++b->seq > 0x7FFFFFFF)
		b->seq = 1;
	return b->seq;
}

void smpp_bind_track(struct smpp_bind *b, struct req *r)
{
	r->bind = b;
	r->deadline_us = smpp_now_us() + (int64_t)b->smsc->sc->response_timeout_s * 1000000;
	llist_add_tail(&r->list, &b->inflight);
	if (!osmo_timer_pending(&b->tick_timer))
		osmo_timer_schedule(&b->tick_timer, 0, 500000);
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
		smpp_bind_drop(b, NULL);
		return;
	}
	osmo_fsm_inst_state_chg(b->fi, B_BOUND, s->sc->enquire_link_s, X_ENQUIRE);
	SMPP_COUNT(s, SMPP_CTR_BINDS, 1);
	b->backoff_s = 0;
	b->last_fail[0] = '\0';
	b->last_fail_status = 0;
	LOGS(s, LOGL_NOTICE, "bound as %s (system_id %s)", b->kind, s->sc->system_id);
	if (b->can_tx) {
		s->t.up = true;
		s->want_ready = true;
		smpp_smsc_pump(s);
		smpp_smsc_maybe_ready(s);
	}
}

/* The SMSC could not read a PDU of ours: a submit fails (temporarily), a bind is refused. */
static void on_generic_nack(struct smpp_bind *b, uint32_t status, uint32_t seq)
{
	struct req *r = smpp_inflight_take(b, seq);
	char nb[16];
	LOGB(b, LOGL_NOTICE, "generic_nack %s for sequence %u",
	     smpp_status_name(status, nb, sizeof(nb)), seq);
	if (r && r->cmd == SUBMIT_SM) {
		struct out_msg *o = r->out;
		talloc_free(r);
		smpp_out_fail(o, false, "SMSC answered generic_nack");
		smpp_out_maybe_free(o);
	} else if (b->fi->state == B_BINDING) {	/* the bind is all we have sent */
		talloc_free(r);
		on_bind_resp(b, status ? status : ESME_RBINDFAIL);
	} else {
		talloc_free(r);
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
	case BIND_RECEIVER_RESP:
		if (b->fi->state == B_BINDING)
			on_bind_resp(b, status);
		break;
	case SUBMIT_SM_RESP: {
		char id[66] = "";
		if (status == ESME_ROK && len > 16) {
			size_t n = len - 16 < sizeof(id) - 1 ? len - 16 : sizeof(id) - 1;
			memcpy(id, pdu + 16, n);
			id[n] = '\0';
		}
		smpp_on_submit_resp(b, seq, status, id);
		break;
	}
	case DELIVER_SM:
		if (b->fi->state != B_BOUND || !b->can_rx) {
			smpp_bind_send_header(b, DELIVER_SM_RESP, ESME_RINVBNDSTS, seq);
			break;
		}
		smpp_on_deliver_sm(b, pdu, len, seq, bt);
		break;
	case ENQUIRE_LINK:
		smpp_bind_send_header(b, ENQUIRE_LINK_RESP, ESME_ROK, seq);
		break;
	case ENQUIRE_LINK_RESP: {
		struct req *r = smpp_inflight_take(b, seq);
		talloc_free(r);
		b->enquire_pending = false;
		break;
	}
	case UNBIND:
		smpp_bind_send_header(b, UNBIND_RESP, ESME_ROK, seq);
		LOGB(b, LOGL_NOTICE, "the SMSC unbinds");
		SMPP_COUNT(b->smsc, SMPP_CTR_UNBINDS, 1);
		osmo_fsm_inst_state_chg(b->fi, B_UNBINDING, 0, 0);	/* closed once written */
		break;
	case UNBIND_RESP:
		smpp_bind_drop(b, NULL);
		break;
	case GENERIC_NACK:
		on_generic_nack(b, status, seq);
		break;
	case DATA_SM:
	case ALERT_NOTIFICATION:
	default:
		if (cmd & 0x80000000)
			break;	/* an answer we did not ask for */
		if (cmd != ALERT_NOTIFICATION)
			smpp_bind_send_header(b, GENERIC_NACK, ESME_RINVCMDID, seq);
		break;
	}
}

/* ---- socket ---- */

/* To IDLE, connecting again after the backoff (not when the pool stops). */
static void bind_idle(struct smpp_bind *b)
{
	const struct smpp_config *sc = b->smsc->sc;
	if (b->smsc->pool->stopping) {
		osmo_fsm_inst_state_chg(b->fi, B_IDLE, 0, 0);
		return;
	}
	if (b->backoff_s == 0)
		b->backoff_s = sc->reconnect_min_s;
	else if (b->backoff_s < sc->reconnect_max_s)
		b->backoff_s = b->backoff_s * 2 > sc->reconnect_max_s ? sc->reconnect_max_s : b->backoff_s * 2;
	osmo_fsm_inst_state_chg(b->fi, B_IDLE, b->backoff_s, X_RECONNECT);
	/* A little jitter so that many binds do not all come back at the same instant. Set on
	 * the fsm's timer itself: libosmocore 1.7's state_chg_ms reads milliseconds as µs. */
	osmo_timer_schedule(&b->fi->timer, (int)b->backoff_s, (rand() % 250) * 1000);
}

/* Closes the connection; every part in flight on it, and every queued part when it was the
 * transmitting bind, is reported failed-temporary so the router queues it again. why: logged
 * (NULL: already logged). */
void smpp_bind_drop(struct smpp_bind *b, const char *why)
{
	struct smpp_smsc *s = b->smsc;
	if (why)
		LOGB(b, b->fi->state == B_BOUND ? LOGL_NOTICE : LOGL_INFO, "link down (%s): %s",
		     osmo_fsm_inst_state_name(b->fi), why);
	if (b->ofd.fd >= 0) {
		osmo_fd_unregister(&b->ofd);
		close(b->ofd.fd);
		b->ofd.fd = -1;
	}
	bool was_bound = b->fi->state == B_BOUND || b->fi->state == B_UNBINDING;
	bind_idle(b);
	b->rlen = b->wlen = b->woff = 0;
	b->gen++;
	b->enquire_pending = false;
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
			smpp_out_fail(o, false, reason);
			smpp_out_maybe_free(o);
		}
	}
	b->n_submits = 0;
	if (b == s->tx) {
		s->t.up = false;
		struct out_msg *o, *otmp;
		llist_for_each_entry_safe(o, otmp, &s->outs, list) {
			smpp_out_fail(o, false, reason);
			smpp_out_maybe_free(o);
		}
		osmo_timer_del(&s->send_timer);
	}
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
			smpp_bind_drop(b, why);
			return -1;
		}
		b->woff += (size_t)n;
	}
	b->woff = b->wlen = 0;
	osmo_fd_write_disable(&b->ofd);
	if (b->fi->state == B_UNBINDING) {
		smpp_bind_drop(b, "unbound");
		return -1;
	}
	return 0;
}

static void bind_send_bind(struct smpp_bind *b)
{
	struct smpp_smsc *s = b->smsc;
	struct bind_transceiver_t pdu;
	memset(&pdu, 0, sizeof(pdu));
	pdu.command_id = b->bind_cmd;
	pdu.sequence_number = smpp_bind_next_seq(b);
	snprintf((char *)pdu.system_id, sizeof(pdu.system_id), "%s", s->sc->system_id);
	snprintf((char *)pdu.password, sizeof(pdu.password), "%s", s->password);
	snprintf((char *)pdu.system_type, sizeof(pdu.system_type), "%s", s->sc->system_type);
	pdu.interface_version = SMPP_VERSION;
	if (smpp_bind_send_pdu(b, b->bind_cmd, &pdu) != 0) {
		smpp_bind_drop(b, "cannot encode the bind");
		return;
	}
	osmo_fsm_inst_state_chg(b->fi, B_BINDING, s->sc->response_timeout_s, X_BIND);
}

static void bind_read(struct smpp_bind *b)
{
	ssize_t n = read(b->ofd.fd, b->rbuf + b->rlen, RBUF_SIZE - b->rlen);
	if (n == 0) {
		smpp_bind_drop(b, "closed by the SMSC");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		char why[96];
		snprintf(why, sizeof(why), "read: %s", strerror(errno));
		smpp_bind_drop(b, why);
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
			smpp_batch_flush(b, &bt);
			smpp_bind_drop(b, "invalid command_length");
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
		smpp_batch_flush(b, &bt);
	}
	talloc_free(tmp);
	if (b->gen == gen && b->fi->state == B_BOUND && b->can_tx)
		smpp_smsc_pump(b->smsc);
}

static int bind_fd_cb(struct osmo_fd *ofd, unsigned int what)
{
	struct smpp_bind *b = ofd->data;
	uint32_t gen = b->gen;

	if (b->fi->state == B_CONNECTING) {
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
			smpp_bind_drop(b, NULL);
			return 0;
		}
		osmo_fd_write_disable(ofd);
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
		smpp_smsc_maybe_ready(b->smsc);
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
		bind_idle(b);
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
		bind_idle(b);
		return;
	}
	osmo_fsm_inst_state_chg(b->fi, B_CONNECTING, sc->response_timeout_s, X_CONNECT);
}

/* One enquire_link at a time: its answer has a deadline on the tick. */
static void bind_enquire(struct smpp_bind *b)
{
	struct req *r = b->enquire_pending ? NULL : smpp_req_alloc(b, ENQUIRE_LINK);
	if (!r)
		return;
	r->seq = smpp_bind_next_seq(b);
	if (smpp_bind_send_header(b, ENQUIRE_LINK, 0, r->seq) == 0) {
		smpp_bind_track(b, r);
		b->enquire_pending = true;
	} else {
		talloc_free(r);
	}
}

/* The expiry of a state's timer (the table above). */
static int bind_timer_cb(struct osmo_fsm_inst *fi)
{
	struct smpp_bind *b = fi->priv;
	const struct smpp_config *sc = b->smsc->sc;
	char why[64];
	switch (fi->state) {
	case B_IDLE:
		bind_connect(b);
		break;
	case B_CONNECTING:
	case B_BINDING:
		snprintf(why, sizeof(why), "no answer to %s in %us",
			 fi->state == B_CONNECTING ? "connect" : "bind", sc->response_timeout_s);
		smpp_bind_drop(b, why);
		break;
	case B_BOUND:
		bind_enquire(b);
		osmo_timer_schedule(&fi->timer, (int)sc->enquire_link_s, 0);
		break;
	}
	return 0;
}

/* Every half second while something waits for an answer: an SMSC that stopped answering is
 * dropped; concatenated messages missing parts for too long are released. */
static void tick_cb(void *data)
{
	struct smpp_bind *b = data;
	int64_t now = smpp_now_us();
	if (!llist_empty(&b->inflight)) {
		struct req *oldest = llist_first_entry(&b->inflight, struct req, list);
		if (oldest->deadline_us <= now) {
			char why[96];
			snprintf(why, sizeof(why), "no answer to %s in %us",
				 oldest->cmd == ENQUIRE_LINK ? "enquire_link" : "submit_sm",
				 b->smsc->sc->response_timeout_s);
			if (oldest->cmd == ENQUIRE_LINK)
				SMPP_COUNT(b->smsc, SMPP_CTR_ENQUIRE_TIMEOUTS, 1);
			smpp_bind_drop(b, why);
			return;
		}
	}
	if (b->reasm && sms_parts_pending(b->reasm) && b->fi->state == B_BOUND) {
		void *tmp = talloc_new(b);
		struct mo_batch bt = { .ctx = tmp };
		smpp_bind_take_ready(b, &bt);
		smpp_batch_flush(b, &bt);
		talloc_free(tmp);
	}
	if (!llist_empty(&b->inflight) || (b->reasm && sms_parts_pending(b->reasm)))
		osmo_timer_schedule(&b->tick_timer, 0, 500000);
}

/* ---- life cycle ---- */

static int bind_destroy(struct smpp_bind *b)
{
	if (b->fi)
		osmo_fsm_inst_free(b->fi);	/* also unlinks it from libosmocore's list */
	return 0;
}

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
	char id[128];
	snprintf(id, sizeof(id), "%s-%s", s->sc->name, kind);
	osmo_identifier_sanitize_buf(id, NULL, '-');	/* an SMSC's name may hold anything */
	b->fi = osmo_fsm_inst_alloc(&bind_fsm, b, b, LOGL_DEBUG, id);
	talloc_set_destructor(b, bind_destroy);
	if (!b->rbuf || !b->reasm || !b->fi) {
		talloc_free(b);
		return NULL;
	}
	INIT_LLIST_HEAD(&b->inflight);
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
		smpp_bucket_init(&s->bucket, s->rate, smpp_now_us());
		smpp_adapt_init(&s->adapt, s->rate, smpp_now_us());
		osmo_timer_setup(&s->send_timer, smpp_send_timer_cb, s);
		osmo_timer_setup(&s->ready_timer, smpp_smsc_ready_cb, s);
		s->t = (struct sms_transport){ .name = sc->name, .send = smpp_smsc_send, .room = smpp_smsc_room, .priv = s, .up = false };
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
			if (b->fi->state == B_BOUND) {
				/* Best effort: an unbind written without waiting for its answer. */
				smpp_bind_send_header(b, UNBIND, 0, smpp_bind_next_seq(b));
				SMPP_COUNT(s, SMPP_CTR_UNBINDS, 1);
				if (b->ofd.fd >= 0)
					(void)!write(b->ofd.fd, b->wbuf + b->woff, b->wlen - b->woff);
			}
			smpp_bind_drop(b, NULL);
		}
		osmo_timer_del(&s->send_timer);
		osmo_timer_del(&s->ready_timer);
		/* Parts still queued (the transmitter may have been down already). */
		struct out_msg *o, *tmp;
		llist_for_each_entry_safe(o, tmp, &s->outs, list) {
			smpp_out_fail(o, false, "stopping");
			smpp_out_maybe_free(o);
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
			if (s->binds[i] && s->binds[i]->fi->state == B_BOUND)
				st->binds_up++;
		}
	}
}
