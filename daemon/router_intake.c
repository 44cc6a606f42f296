/* The router's intake: received messages through the engine, in one transaction of their
 * own (router_sms_received) or waiting for the iteration's group write (router_group.c)
 * with their senders told after its commit (router_sms_receive_later). A message is never
 * acknowledged before the transaction that stores it commits. */
#include <string.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/log.h"
#include "guichet/outbox.h"
#include "guichet/router_run.h"

/* Messages handed to router_sms_receive_later, waiting for the iteration's group write. */
struct intake_batch {
	struct llist_head list;
	struct sms_in *msgs;
	unsigned n;
	sms_stored_fn stored;
	void *sdata;
};

static struct store_inbound inbound_of(const struct sms_in *m)
{
	return (struct store_inbound){ .channel = CHANNEL_SMS, .via = m->via, .from = m->from,
				       .text = m->text, .received = m->received, .dedup = m->dedup };
}

/* The messages intake_apply is about to add, in its order, told to the store at once
 * (inbound_ahead: PostgreSQL adds them in one round trip instead of one each). The batches
 * of the list, or msgs[0..n) when list is NULL. 0, or -1: the transaction is lost. */
static int intake_ahead(struct router *r, void *ctx, struct llist_head *list,
			const struct sms_in *msgs, unsigned n)
{
	struct store *st = r->st;
	struct intake_batch *b;
	unsigned k = 0;

	if (!st->ops->inbound_ahead)
		return 0;
	if (list) {
		n = 0;
		llist_for_each_entry(b, list, list)
			n += b->n;
	}
	struct store_inbound *ins = n ? talloc_array(ctx, struct store_inbound, n) : NULL;
	if (!ins)
		return 0;	/* only a saving: inbound_add does without */
	if (!list) {
		for (; k < n; k++)
			ins[k] = inbound_of(&msgs[k]);
	} else {
		llist_for_each_entry(b, list, list)
			for (unsigned i = 0; i < b->n; i++)
				ins[k++] = inbound_of(&b->msgs[i]);
	}
	return st->ops->inbound_ahead(st, ins, n);
}

/* Received messages through the engine, inside the caller's transaction. */
static int intake_apply(struct router *r, void *ctx, const struct sms_in *msgs, unsigned n,
			struct call_req **calls, unsigned *n_calls)
{
	struct store *st = r->st;
	for (unsigned i = 0; i < n; i++) {
		struct store_inbound in = inbound_of(&msgs[i]);
		int rc = st->ops->inbound_add(st, &in);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			rate_ctr_inc2(r->ctrs, ROUTER_CTR_DUPLICATES_IN);
			continue;	/* already stored and answered before a crash */
		}
		rate_ctr_inc2(r->ctrs, ROUTER_CTR_MESSAGES_IN);
		if (router_consent_word(r, msgs[i].from, msgs[i].text) < 0)
			return -1;
		struct engine_input ein = { .kind = EV_TEXT, .text = msgs[i].text,
					    .now = now_s() + r->clock_shift_s };
		bool secret = false;
		rc = router_sms_admit(r, ctx, in.id, msgs[i].via, msgs[i].from, msgs[i].text);
		if (rc < 0 ||
		    (rc == 1 &&
		     router_sms_event(r, ctx, msgs[i].via, msgs[i].from, &ein, NULL, calls, n_calls,
			       &secret) < 0))
			return -1;
		if (st->ops->inbound_done(st, in.id) < 0)
			return -1;
		/* Same transaction: the secret answer never reaches the file. */
		if (secret && st->ops->inbound_forget(st, in.id) < 0)
			return -1;
	}
	return 0;
}

/* A write that lost a conflict with another host's (store_conflict: two hosts locking two
 * people's sessions in opposite order) is run again from the start, this many times in all,
 * before its messages are left unacknowledged. The engine runs again on what the store holds
 * then; the guard counts the messages once more (it errs on the side of less). */
#define CONFLICT_TRIES 3

/* Received messages in one transaction: 0, or -1 rolled back (the caller reports it). */
static int intake_write(struct router *r, const struct sms_in *msgs, unsigned n)
{
	void *ctx = talloc_new(r);
	struct call_req *calls = NULL;
	unsigned n_calls = 0;
	struct store *st = r->st;

	if (st->ops->begin(st) < 0)
		goto fail;
	if (intake_ahead(r, ctx, NULL, msgs, n) < 0 ||
	    intake_apply(r, ctx, msgs, n, &calls, &n_calls) < 0)
		goto fail_rollback;
	/* The replies made here leave the outbox in the same transaction (one fsync). */
	struct outbox_taken *tk;
	if (outbox_take(r->ob, ctx, &tk) < 0 || st->ops->commit(st) < 0)
		goto fail_rollback;
	r->group_last_us = router_loop_us();	/* an fsync too: the group write's period counts it */
	router_store_result(r, true, NULL);
	router_sched_kick(r);
	router_start_calls(r, CHANNEL_SMS, calls, n_calls);
	outbox_send_taken(r->ob, tk);
	talloc_free(ctx);
	outbox_offer(r->ob);
	return 0;

fail_rollback:
	st->ops->rollback(st);
	r->sched_dirty = false;
fail:
	talloc_free(ctx);
	return -1;
}

int router_sms_received(struct router *r, const struct sms_in *msgs, unsigned n)
{
	for (unsigned tries = 1; intake_write(r, msgs, n) < 0; tries++) {
		if (tries >= CONFLICT_TRIES || !store_conflict(r->st)) {
			router_store_result(r, false, "storing received messages");
			return -1;
		}
		glog(GLOG_STORE, LOGL_NOTICE, NULL, "store: storing %u received messages lost a "
		     "conflict with another host (%s); trying again (%u of %u)", n,
		     store_last_error(r->st), tries + 1, CONFLICT_TRIES);
	}
	return 0;
}

int router_sms_receive_later(struct router *r, const struct sms_in *msgs, unsigned n,
			     sms_stored_fn stored, void *sdata)
{
	struct intake_batch *b = talloc_zero(r, struct intake_batch);
	if (!b || !(b->msgs = talloc_array(b, struct sms_in, n ? n : 1)))
		goto oom;
	for (unsigned i = 0; i < n; i++) {
		struct sms_in *m = &b->msgs[i];
		*m = msgs[i];
		m->via = talloc_strdup(b, msgs[i].via ? msgs[i].via : "");
		m->from = talloc_strdup(b, msgs[i].from);
		m->text = talloc_strdup(b, msgs[i].text);
		m->dedup = msgs[i].dedup ? talloc_strdup(b, msgs[i].dedup) : NULL;
		if (!m->via || !m->from || !m->text || (msgs[i].dedup && !m->dedup))
			goto oom;
	}
	b->n = n;
	b->stored = stored;
	b->sdata = sdata;
	llist_add_tail(&b->list, &r->intake);
	router_group_add(r, n);
	return 0;
oom:
	talloc_free(b);
	return -1;
}

void router_sms_receive_cancel(struct router *r, void *sdata)
{
	struct intake_batch *b, *tmp;
	llist_for_each_entry_safe(b, tmp, &r->intake, list) {
		if (b->sdata == sdata) {
			llist_del(&b->list);
			talloc_free(b);
		}
	}
	llist_for_each_entry(b, &r->intake_told, list)
		if (b->sdata == sdata)
			b->stored = NULL;	/* written already: only the callback goes */
	router_receipts_cancel(r, sdata);
}

/* After the group write: each batch's sender told (ok), or, when the group write failed,
 * each batch written alone and its sender told how that went. The list is moved aside
 * first: a sender's callback may hand more messages (they wait for the next write) or
 * cancel another sender's (router_sms_receive_cancel looks there too). */
void router_intake_done(struct router *r, bool group_ok)
{
	llist_splice_init(&r->intake, &r->intake_told);
	while (!llist_empty(&r->intake_told)) {
		struct intake_batch *b = llist_first_entry(&r->intake_told, struct intake_batch, list);
		bool ok = group_ok || router_sms_received(r, b->msgs, b->n) == 0;
		llist_del(&b->list);
		if (b->stored)
			b->stored(b->sdata, ok);
		talloc_free(b);
	}
}

int router_intake_apply_waiting(struct router *r, void *ctx, struct call_req **calls,
				unsigned *n_calls)
{
	struct intake_batch *b;

	if (intake_ahead(r, ctx, &r->intake, NULL, 0) < 0)
		return -1;
	llist_for_each_entry(b, &r->intake, list)
		if (intake_apply(r, ctx, b->msgs, b->n, calls, n_calls) < 0)
			return -1;
	return 0;
}
