/* What people send over SMPP: each deliver_sm decoded, a receipt handed over, a part given to
 * reassembly; the messages complete in one read handed to the router together, each
 * deliver_sm answered once the router committed them (or refused when it could not). */
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
		if ((uint32_t)(tok >> 32) != b->gen || b->fi->state != B_BOUND)
			continue;	/* from a former connection: the SMSC will deliver it again */
		smpp_bind_send_header(b, DELIVER_SM_RESP, ok ? ESME_ROK : ESME_RX_T_APPN, (uint32_t)tok);
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
void smpp_batch_flush(struct smpp_bind *b, struct mo_batch *bt)
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

/* A final receipt handed to the sink's receipt_later: its deliver_sm answered once the
 * receipt is committed, like a message's. Freed with its bind before that: the sink forgets
 * it, the SMSC delivers the receipt again. */
struct receipt_ack {
	struct smpp_bind *b;
	uint64_t tok;
	bool pending;		/* the sink still holds it */
};

static int receipt_ack_destructor(struct receipt_ack *a)
{
	struct smpp_pool *p = a->b->smsc->pool;
	if (a->pending && p->sink.received_cancel)
		p->sink.received_cancel(p->sink.data, a);
	return 0;
}

static void receipt_ack_stored(void *sdata, bool ok)
{
	struct receipt_ack *a = sdata;
	struct smpp_bind *b = a->b;
	a->pending = false;
	/* From a former connection: the SMSC will deliver it again. */
	if ((uint32_t)(a->tok >> 32) == b->gen && b->fi->state == B_BOUND)
		smpp_bind_send_header(b, DELIVER_SM_RESP, ok ? ESME_ROK : ESME_RX_T_APPN,
				      (uint32_t)a->tok);
	talloc_free(a);
}

/* Hands a receipt to the sink and answers its deliver_sm (seq): after the receipt's commit
 * when the sink can say (receipt_later), else at once; a receipt that could not be kept
 * with ESME_RX_T_APPN, so that the SMSC delivers it again. */
static void on_receipt(struct smpp_bind *b, const struct smpp_deliver *d, uint32_t seq)
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
	struct receipt_ent *e = smpp_receipt_find(s, id);
	/* Final states only: delivered, or failed for good (ENROUTE, ACCEPTD say nothing yet). */
	bool delivered = strcmp(stat, "DELIVRD") == 0;
	bool final = delivered || !strcmp(stat, "UNDELIV") || !strcmp(stat, "REJECTD") ||
		     !strcmp(stat, "EXPIRED") || !strcmp(stat, "DELETED");
	struct smpp_pool *p = s->pool;
	int64_t out_id = e ? e->out_id : 0;
	if (final && p->sink.receipt_later && id[0]) {
		struct receipt_ack *a = talloc_zero(b, struct receipt_ack);
		if (a) {
			*a = (struct receipt_ack){ .b = b, .tok = (uint64_t)b->gen << 32 | seq };
			talloc_set_destructor(a, receipt_ack_destructor);
		}
		if (!a || p->sink.receipt_later(p->sink.data, out_id, s->t.name, id, delivered,
						stat, receipt_ack_stored, a) != 0) {
			talloc_free(a);
			LOGB(b, LOGL_ERROR, "receipt %s not kept (out of memory): answering "
			     "ESME_RX_T_APPN so the SMSC retries", stat);
			smpp_bind_send_header(b, DELIVER_SM_RESP, ESME_RX_T_APPN, seq);
			return;
		}
		a->pending = true;
	} else {
		if (final && p->sink.receipt && id[0])
			p->sink.receipt(p->sink.data, out_id, s->t.name, id, delivered, stat);
		smpp_bind_send_header(b, DELIVER_SM_RESP, ESME_ROK, seq);
	}
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
void smpp_bind_take_ready(struct smpp_bind *b, struct mo_batch *bt)
{
	struct smpp_smsc *s = b->smsc;
	struct sms_parts_msg *out[16];
	unsigned n;
	while ((n = sms_parts_take(b->reasm, bt->ctx, smpp_now_us() / 1000, out, 16)) > 0) {
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

void smpp_on_deliver_sm(struct smpp_bind *b, const uint8_t *pdu, uint32_t len, uint32_t seq,
			  struct mo_batch *bt)
{
	struct smpp_smsc *s = b->smsc;
	struct smpp_deliver d;
	char why[128];
	if (smpp_deliver_decode(pdu, len, &d, why, sizeof(why)) != 0) {
		/* why names fields and lengths only: never the PDU's content (numbers). */
		LOGB(b, LOGL_ERROR, "undecodable deliver_sm refused (ESME_RX_P_APPN): %s", why);
		smpp_bind_send_header(b, DELIVER_SM_RESP, ESME_RX_P_APPN, seq);
		return;
	}
	smpp_number_international(d.from, sizeof(d.from), d.source_ton, s->sc->country_code);
	if (d.esm_class & 0x3C) {	/* receipt, SME ack, intermediate notification */
		on_receipt(b, &d, seq);
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
	int rc = sms_parts_add(b->reasm, &part, smpp_now_us() / 1000);
	if (rc < 0) {
		smpp_bind_send_header(b, DELIVER_SM_RESP, ESME_RX_T_APPN, seq);
		return;
	}
	/* rc 1: the same sequence number while the first is unanswered: answered with it. */
	b->cur_tok = tok;
	b->cur_user_ref = d.user_ref;
	smpp_bind_take_ready(b, bt);
	b->cur_user_ref = -1;
}

