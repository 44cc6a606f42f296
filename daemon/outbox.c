/* The outbox: queued messages offered to the SMS transports, their marks, the retry backoff
 * (see include/guichet/outbox.h). */
#include <stdio.h>
#include <string.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/clock.h"
#include "guichet/log.h"
#include "guichet/outbox.h"

#define MAX_SMS_TRANSPORTS 32
#define OFFER_BATCH 32
/* A failed send is retried with a growing delay, then given up (dead-lettered). */
#define SEND_RETRY_BASE_MS 1000
#define SEND_RETRY_MAX_MS (10 * 60 * 1000)
#define SEND_MAX_ATTEMPTS 8

enum { MARK_SENT, MARK_RETRY, MARK_DEAD, MARK_REMOTE, MARK_DELIVERED, MARK_UNDELIVERED };

struct mark {
	int64_t id;
	int kind;
	int64_t not_before;
	const char *via, *remote, *stat;	/* SMSC ids and receipts, under marks_ctx */
};

struct outbox {
	struct outbox_env env;
	struct store *st;
	struct sms_transport *sms[MAX_SMS_TRANSPORTS];
	unsigned n_sms;
	struct mark *marks;
	unsigned n_marks, cap_marks;
	void *marks_ctx;
	struct llist_head failures;	/* struct send_failure */
};

/* Replies taken out of the queue inside a transaction, sent once it committed. */
struct outbox_taken {
	unsigned n;
	struct {
		struct sms_transport *t;
		struct store_outbound *due;
		int n;
	} by[MAX_SMS_TRANSPORTS];
};

static void store_result(struct outbox *ob, bool ok, const char *what)
{
	if (ob->env.store_result)
		ob->env.store_result(ob->env.data, ok, what);
}

struct outbox *outbox_create(void *ctx, const struct outbox_env *env)
{
	struct outbox *ob = talloc_zero(ctx, struct outbox);

	if (!ob)
		return NULL;
	ob->env = *env;
	ob->st = env->st;
	INIT_LLIST_HEAD(&ob->failures);
	return ob;
}

/* ---- transports ---- */

void outbox_register(struct outbox *ob, struct sms_transport *t)
{
	for (unsigned i = 0; i < ob->n_sms; i++)
		if (ob->sms[i] == t)
			return;
	if (ob->n_sms < MAX_SMS_TRANSPORTS)
		ob->sms[ob->n_sms++] = t;
	outbox_offer(ob);
}

void outbox_unregister(struct outbox *ob, struct sms_transport *t)
{
	for (unsigned i = 0; i < ob->n_sms; i++) {
		if (ob->sms[i] == t) {
			memmove(ob->sms + i, ob->sms + i + 1,
				(ob->n_sms - i - 1) * sizeof(ob->sms[0]));
			ob->n_sms--;
			return;
		}
	}
}

struct sms_transport *outbox_find(const struct outbox *ob, const char *name)
{
	for (unsigned i = 0; name && i < ob->n_sms; i++)
		if (strcmp(ob->sms[i]->name, name) == 0)
			return ob->sms[i];
	return NULL;
}

struct sms_transport *outbox_first(const struct outbox *ob)
{
	return ob->n_sms ? ob->sms[0] : NULL;
}

const char *outbox_via(const struct outbox *ob, const char *want)
{
	const struct sms_transport *t = outbox_find(ob, want);

	if (t)
		return t->name;
	/* A group: one of its transports that is up (the outbox spreads the rest). */
	for (unsigned i = 0; i < ob->n_sms; i++)
		if (ob->sms[i]->group && strcmp(ob->sms[i]->group, want) == 0 && ob->sms[i]->up)
			return ob->sms[i]->name;
	for (unsigned i = 0; i < ob->n_sms; i++)
		if (ob->sms[i]->group && strcmp(ob->sms[i]->group, want) == 0)
			return ob->sms[i]->name;
	return NULL;
}

/* ---- offering ---- */

/* Hands due[0..n) to t while it takes them; the ones it refuses (queue full or transport
 * down) go back in the queue, due now. True when t took them all. */
static bool hand_over(struct outbox *ob, struct sms_transport *t, struct store_outbound *due,
		      int n)
{
	struct store *st = ob->st;
	int i = 0;

	for (; i < n && t->up; i++) {
		if (t->send(t, &due[i]) < 0)
			break;
		rate_ctr_add(rate_ctr_group_get_ctr(ob->env.ctrs, ROUTER_CTR_PARTS_OUT),
			     (int)due[i].parts);
	}
	if (i == n)
		return true;
	int64_t now = clock_wall_ms();
	bool ok = st->ops->begin(st) == 0;
	for (int j = i; ok && j < n; j++)
		st->ops->outbound_failed(st, due[j].id, now, false);
	if (ok && st->ops->commit(st) < 0) {
		st->ops->rollback(st);
		ok = false;
	}
	/* Not written: they come back as "taken" after a restart, counted as possible
	 * duplicates, which they are not; nothing is lost. */
	store_result(ob, ok, "putting refused replies back in the outbox");
	return false;
}

static unsigned room_of(struct sms_transport *t)
{
	unsigned room = t->room ? t->room(t) : OFFER_BATCH;

	return room > OFFER_BATCH ? OFFER_BATCH : room;
}

/* Hands replies due through via to t. Each is marked "taken" and committed *before* the
 * transport sees it, so that a crash after a send is always counted as a possible duplicate
 * at restart; a reply the transport refuses goes straight back to the queue. */
static void offer_to(struct outbox *ob, struct sms_transport *t, const char *via, void *ctx)
{
	struct store_outbound due[OFFER_BATCH];
	struct store *st = ob->st;
	int64_t now = clock_wall_ms();

	for (;;) {
		unsigned room = room_of(t);
		if (room == 0)
			return;
		if (st->ops->begin(st) < 0) {
			store_result(ob, false, "taking replies out of the outbox");
			return;
		}
		int n = st->ops->outbound_due(st, via, now, due, room, ctx);
		for (int i = 0; i < n; i++)
			st->ops->outbound_taken(st, due[i].id);
		if (n == 0) {
			st->ops->rollback(st);
			return;
		}
		if (n < 0 || st->ops->commit(st) < 0) {
			st->ops->rollback(st);
			store_result(ob, false, "taking replies out of the outbox");
			return;
		}
		store_result(ob, true, NULL);
		if (!hand_over(ob, t, due, n) || (unsigned)n < room)
			return;
	}
}

void outbox_offer(struct outbox *ob)
{
	void *ctx = talloc_new(ob);

	for (unsigned i = 0; i < ob->n_sms; i++)
		if (ob->sms[i]->up)
			offer_to(ob, ob->sms[i], ob->sms[i]->name, ctx);
	/* Replies waiting for a transport that is down, or full (a burst on one modem while
	 * another idles): another of its group with room takes them. The person's own modem
	 * had the first pick above; this only spreads what it cannot take now. */
	for (unsigned i = 0; i < ob->n_sms; i++) {
		struct sms_transport *down = ob->sms[i];
		if (!down->group || (down->up && (!down->room || down->room(down) > 0)))
			continue;
		for (unsigned j = 0; j < ob->n_sms; j++) {
			struct sms_transport *t = ob->sms[j];
			if (t != down && t->up && t->group && strcmp(t->group, down->group) == 0)
				offer_to(ob, t, down->name, ctx);
		}
	}
	talloc_free(ctx);
}

int outbox_take(struct outbox *ob, void *ctx, struct outbox_taken **out)
{
	int64_t now = clock_wall_ms();
	struct outbox_taken *tk = NULL;

	*out = NULL;
	for (unsigned i = 0; i < ob->n_sms; i++) {
		struct sms_transport *t = ob->sms[i];
		unsigned room = t->up ? room_of(t) : 0;

		if (room == 0)
			continue;
		if (!tk && !(tk = talloc_zero(ctx, struct outbox_taken)))
			return -1;
		struct store_outbound *due = talloc_array(tk, struct store_outbound, room);
		if (!due)
			return -1;
		int n = ob->st->ops->outbound_due(ob->st, t->name, now, due, room, tk);
		if (n < 0)
			return -1;
		for (int j = 0; j < n; j++)
			if (ob->st->ops->outbound_taken(ob->st, due[j].id) < 0)
				return -1;
		if (n > 0) {
			tk->by[tk->n].t = t;
			tk->by[tk->n].due = due;
			tk->by[tk->n].n = n;
			tk->n++;
		}
	}
	*out = tk;
	return 0;
}

void outbox_send_taken(struct outbox *ob, struct outbox_taken *tk)
{
	for (unsigned x = 0; tk && x < tk->n; x++)
		hand_over(ob, tk->by[x].t, tk->by[x].due, tk->by[x].n);
}

/* ---- marks ---- */

static struct mark *add_mark(struct outbox *ob, int64_t id, int kind, int64_t not_before)
{
	if (ob->n_marks == ob->cap_marks) {
		unsigned cap = ob->cap_marks ? ob->cap_marks * 2 : 64;
		struct mark *m = talloc_realloc(ob, ob->marks, struct mark, cap);
		if (!m) {
			glog(GLOG_STORE, LOGL_ERROR, NULL, "message %lld: its mark is lost: out of "
			     "memory", (long long)id);
			return NULL;
		}
		ob->marks = m;
		ob->cap_marks = cap;
	}
	struct mark *m = &ob->marks[ob->n_marks++];
	*m = (struct mark){ .id = id, .kind = kind, .not_before = not_before };
	if (ob->env.kick)
		ob->env.kick(ob->env.data);
	return m;
}

/* A mark carrying the SMSC's id (and a receipt's status), written with the next flush. */
static void add_remote_mark(struct outbox *ob, int64_t id, int kind, const char *via,
			    const char *remote, const char *stat)
{
	if (!via || !remote || !*remote)
		return;
	if (!ob->marks_ctx)
		ob->marks_ctx = talloc_named_const(ob, 0, "marks");
	struct mark *m = add_mark(ob, id, kind, 0);
	if (!m)
		return;
	m->via = talloc_strdup(ob->marks_ctx, via);
	m->remote = talloc_strdup(ob->marks_ctx, remote);
	m->stat = stat ? talloc_strdup(ob->marks_ctx, stat) : NULL;
}

void outbox_remote_id(struct outbox *ob, int64_t id, const char *via, const char *remote)
{
	add_remote_mark(ob, id, MARK_REMOTE, via, remote, NULL);
}

void outbox_receipt(struct outbox *ob, int64_t id, const char *via, const char *remote,
		    bool delivered, const char *stat)
{
	add_remote_mark(ob, id, delivered ? MARK_DELIVERED : MARK_UNDELIVERED, via, remote, stat);
}

/* Temporary send failures per reply, in memory: the delay grows with each failure of *that*
 * reply (1 s, 2 s, 4 s ... 5 min), and a reply that failed SEND_MAX_ATTEMPTS times is given
 * up. After a restart the count starts again, which only means a few more attempts. */
struct send_failure {
	struct llist_head list;
	int64_t id;
	unsigned count;
};

static void forget_failures(struct outbox *ob, int64_t id)
{
	struct send_failure *f;

	llist_for_each_entry(f, &ob->failures, list) {
		if (f->id == id) {
			llist_del(&f->list);
			talloc_free(f);
			return;
		}
	}
}

static unsigned count_failure(struct outbox *ob, int64_t id)
{
	struct send_failure *f;

	llist_for_each_entry(f, &ob->failures, list)
		if (f->id == id)
			return ++f->count;
	f = talloc_zero(ob, struct send_failure);
	f->id = id;
	f->count = 1;
	llist_add(&f->list, &ob->failures);
	return 1;
}

void outbox_sent(struct outbox *ob, int64_t id)
{
	rate_ctr_inc2(ob->env.ctrs, ROUTER_CTR_MESSAGES_OUT);
	if (!llist_empty(&ob->failures))
		forget_failures(ob, id);
	add_mark(ob, id, MARK_SENT, 0);
}

void outbox_failed(struct outbox *ob, int64_t id, bool permanent, const char *why)
{
	unsigned n = permanent ? SEND_MAX_ATTEMPTS : count_failure(ob, id);
	bool give_up = n >= SEND_MAX_ATTEMPTS;
	int64_t delay = SEND_RETRY_BASE_MS << (n > 9 ? 9 : n - 1);

	if (delay > SEND_RETRY_MAX_MS)
		delay = SEND_RETRY_MAX_MS;
	rate_ctr_inc2(ob->env.ctrs, ROUTER_CTR_SEND_FAILURES);
	glog(GLOG_MAIN, give_up ? LOGL_ERROR : LOGL_NOTICE, NULL, "reply %lld %s: %s",
	     (long long)id, give_up ? "given up" : "will be retried", why ? why : "?");
	if (give_up)
		forget_failures(ob, id);
	add_mark(ob, id, give_up ? MARK_DEAD : MARK_RETRY, clock_wall_ms() + delay);
}

/* A delivery receipt: the message it is about (known to the transport, else found by the
 * SMSC's id in the store), and its schedule row's status if it was sent first. */
static void mark_receipt(struct outbox *ob, const struct mark *m)
{
	struct store *st = ob->st;
	int64_t id = m->id;
	char pseudo[24];

	if (id <= 0 && (!st->ops->outbound_by_remote ||
			st->ops->outbound_by_remote(st, m->via, m->remote, &id) != 0)) {
		glog(GLOG_STORE, LOGL_INFO, NULL, "delivery receipt %s for an unknown message id",
		     m->stat ? m->stat : "?");
		return;
	}
	bool ok = m->kind == MARK_DELIVERED;
	snprintf(pseudo, sizeof(pseudo), "%lld", (long long)id);
	int rc = st->ops->schedule_outbound_status ?
		 st->ops->schedule_outbound_status(st, id, ok ? SCHED_DELIVERED : SCHED_FAILED,
						   ok ? NULL : m->stat) : 1;
	/* Replies are many and their receipts say little: only messages sent first are logged
	 * above debug. */
	glog(GLOG_STORE, rc != 0 ? LOGL_DEBUG : ok ? LOGL_INFO : LOGL_NOTICE, NULL,
	     "delivery receipt for message %s: %s%s", pseudo, m->stat ? m->stat : "?",
	     rc == 0 ? (ok ? " (delivered)" : " (failed)") : "");
}

bool outbox_marks_pending(const struct outbox *ob)
{
	return ob->n_marks > 0;
}

int outbox_marks_apply(struct outbox *ob)
{
	struct store *st = ob->st;

	for (unsigned i = 0; i < ob->n_marks; i++) {
		const struct mark *m = &ob->marks[i];

		if (m->kind == MARK_REMOTE) {
			if (st->ops->outbound_remote)
				st->ops->outbound_remote(st, m->id, m->via, m->remote);
			continue;
		}
		if (m->kind == MARK_DELIVERED || m->kind == MARK_UNDELIVERED) {
			mark_receipt(ob, m);
			continue;
		}
		if (m->kind == MARK_SENT)
			st->ops->outbound_sent(st, m->id);
		else
			st->ops->outbound_failed(st, m->id, m->not_before, m->kind == MARK_DEAD);
		/* A message sent first that the outbox gave up: its schedule row says so. */
		if (m->kind == MARK_DEAD && st->ops->schedule_outbound_status)
			st->ops->schedule_outbound_status(st, m->id, SCHED_FAILED, "send failed");
	}
	return 0;
}

void outbox_marks_done(struct outbox *ob)
{
	ob->n_marks = 0;
	TALLOC_FREE(ob->marks_ctx);
}
