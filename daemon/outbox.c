/* The outbox: queued messages offered to the SMS transports, their marks, the retry backoff
 * (see include/guichet/outbox.h). */
#include <stdio.h>
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>

#include "guichet/clock.h"
#include "guichet/log.h"
#include "guichet/outbox.h"

#define MAX_SMS_TRANSPORTS 32
#define OFFER_BATCH 32
/* A failed send is retried with a delay that doubles with each attempt (1 s, 2 s, 4 s ...
 * 10 min), and given up (dead-lettered) after SEND_MAX_ATTEMPTS. The attempts are the store's
 * (each take counts one), so a restart neither shortens the delay nor grants more attempts. */
#define SEND_RETRY_BASE_MS 1000
#define SEND_RETRY_MAX_MS (10 * 60 * 1000)
#define SEND_MAX_ATTEMPTS 8

enum { MARK_SENT, MARK_FAILED, MARK_REMOTE, MARK_DELIVERED, MARK_UNDELIVERED };

struct mark {
	int64_t id;
	int kind;
	const char *via, *remote, *stat;	/* SMSC ids and receipts, under marks_ctx */
	/* MARK_FAILED: what the transport said; what marks_apply decided, for the journal */
	bool permanent, give_up;
	unsigned attempts;
	int64_t delay_ms;
	const char *why;
};

struct outbox {
	struct outbox_env env;
	struct store *st;
	struct sms_transport *sms[MAX_SMS_TRANSPORTS];
	unsigned n_sms;
	struct mark *marks;
	unsigned n_marks, cap_marks;
	void *marks_ctx;	/* the marks' strings */
	/* Something may be due (outbox_wake): a message queued here, another host's NOTIFY, a
	 * transport up or with room again, the poll, or an offer that did not empty the queue.
	 * Without it an offer opens no transaction: on PostgreSQL an empty claim is a round
	 * trip and a transaction for nothing. */
	bool maybe_due;
	unsigned wake_gen;	/* outbox_wake's count: a take clears maybe_due if none came since */
	/* The last search skipped a transport that was down: its coming up is a wake. */
	bool down_seen;
	/* The earliest retry of a failed send this process put back (0: none). */
	int64_t retry_at_ms;
};

/* Replies taken out of the queue inside a transaction, sent once it committed. */
struct outbox_taken {
	unsigned n;
	/* Every transport's queue searched and emptied (none full, no group's member down):
	 * after the commit nothing is due unless a wake came since (gen). */
	bool drained;
	unsigned gen;
	struct {
		struct sms_transport *t;
		struct store_outbound *due;
		int n;		/* with outbound_take_at_commit: set by the commit */
		unsigned room;	/* what was asked for: n == room may leave some */
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
	/* Rows left by a previous run or by other hosts: the first offer searches. */
	ob->maybe_due = true;
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
	outbox_wake(ob);
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
 * down) go back in the queue, due now. True when t took them all. A refused take still
 * counts as an attempt in the store (attempts grow at the take); room() keeps that rare:
 * no more is taken than the transport said it would accept. */
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
	/* Put back due now: the next offer (the transport calls router_sms_ready) finds them. */
	outbox_wake(ob);
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
 * at restart; a reply the transport refuses goes straight back to the queue. True when the
 * queue for via was searched and emptied; false when some may be left (t full, a refusal, a
 * store error). */
static bool offer_to(struct outbox *ob, struct sms_transport *t, const char *via, void *ctx)
{
	struct store_outbound due[OFFER_BATCH];
	struct store *st = ob->st;
	int64_t now = clock_wall_ms();

	for (;;) {
		unsigned room = room_of(t);
		if (room == 0)
			return false;
		if (st->ops->begin(st) < 0) {
			store_result(ob, false, "taking replies out of the outbox");
			return false;
		}
		int n = 0;
		if (st->ops->outbound_take_at_commit) {
			/* One round trip on PostgreSQL (BEGIN, the claim, COMMIT), whether it
			 * finds some or none. */
			if (st->ops->outbound_take_at_commit(st, via, now, due, room, &n, ctx) < 0)
				n = -1;
		} else {
			n = st->ops->outbound_due(st, via, now, due, room, ctx);
			for (int i = 0; i < n; i++)
				st->ops->outbound_taken(st, due[i].id);
			if (n == 0) {
				st->ops->rollback(st);
				return true;
			}
		}
		if (n < 0 || st->ops->commit(st) < 0) {
			st->ops->rollback(st);
			store_result(ob, false, "taking replies out of the outbox");
			return false;
		}
		if (n == 0)
			return true;	/* an empty search, counted as before: not a write */
		store_result(ob, true, NULL);
		if (!hand_over(ob, t, due, n))
			return false;
		if ((unsigned)n < room)
			return true;
	}
}

void outbox_wake(struct outbox *ob)
{
	ob->maybe_due = true;
	ob->wake_gen++;
}

void outbox_ready(struct outbox *ob, struct sms_transport *t)
{
	/* Room again after being full: the search that found it full left maybe_due set.
	 * Up again: what was queued for it while it was down is searched again. */
	if (!t || ob->down_seen)
		outbox_wake(ob);
}

/* Whether a search may find something at now; a retry time reached counts as a wake. */
static bool due_maybe(struct outbox *ob, int64_t now)
{
	if (ob->retry_at_ms && now >= ob->retry_at_ms) {
		ob->retry_at_ms = 0;
		outbox_wake(ob);
	}
	return ob->maybe_due;
}

void outbox_offer(struct outbox *ob)
{
	if (!due_maybe(ob, clock_wall_ms()))
		return;
	/* Cleared before searching: what this offer leaves behind sets it again. */
	ob->maybe_due = false;
	ob->down_seen = false;

	void *ctx = talloc_new(ob);
	bool left = false;

	for (unsigned i = 0; i < ob->n_sms; i++) {
		/* A transport that is down calls router_sms_ready when it is up again; its
		 * group's others are offered its replies below. */
		if (ob->sms[i]->up)
			left |= !offer_to(ob, ob->sms[i], ob->sms[i]->name, ctx);
		else
			ob->down_seen = true;
	}
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
				left |= !offer_to(ob, t, down->name, ctx);
		}
	}
	talloc_free(ctx);
	if (left)
		ob->maybe_due = true;
}

int outbox_take(struct outbox *ob, void *ctx, struct outbox_taken **out)
{
	int64_t now = clock_wall_ms();
	struct outbox_taken *tk = NULL;

	bool drained = true;

	*out = NULL;
	if (!due_maybe(ob, now))
		return 0;
	for (unsigned i = 0; i < ob->n_sms; i++) {
		struct sms_transport *t = ob->sms[i];
		unsigned room = t->up ? room_of(t) : 0;

		if (room == 0) {
			/* Full, or down with a group whose others outbox_offer spreads to. */
			if (t->up || t->group)
				drained = false;
			if (!t->up)
				ob->down_seen = true;
			continue;
		}
		if (!tk && !(tk = talloc_zero(ctx, struct outbox_taken)))
			return -1;
		struct store_outbound *due = talloc_array(tk, struct store_outbound, room);
		if (!due)
			return -1;
		tk->by[tk->n].t = t;
		tk->by[tk->n].due = due;
		tk->by[tk->n].room = room;
		if (ob->st->ops->outbound_take_at_commit) {
			/* Claimed by the commit (one round trip less on PostgreSQL): how many,
			 * and whether that drained the queue, is known after it. */
			if (ob->st->ops->outbound_take_at_commit(ob->st, t->name, now, due, room,
								 &tk->by[tk->n].n, tk) < 0)
				return -1;
			tk->n++;
			continue;
		}
		int n = ob->st->ops->outbound_due(ob->st, t->name, now, due, room, tk);
		if (n < 0)
			return -1;
		for (int j = 0; j < n; j++)
			if (ob->st->ops->outbound_taken(ob->st, due[j].id) < 0)
				return -1;
		if (n > 0) {
			tk->by[tk->n].n = n;
			tk->n++;
		}
	}
	if (tk) {
		tk->drained = drained;
		tk->gen = ob->wake_gen;
	}
	*out = tk;
	return 0;
}

void outbox_send_taken(struct outbox *ob, struct outbox_taken *tk)
{
	/* A transport given all it had room for may have more waiting. */
	for (unsigned x = 0; tk && x < tk->n; x++)
		if ((unsigned)tk->by[x].n == tk->by[x].room)
			tk->drained = false;
	/* Committed: what the take searched is out of the queue (a refusal below puts some
	 * back and wakes the outbox again). */
	if (tk && tk->drained && tk->gen == ob->wake_gen)
		ob->maybe_due = false;
	for (unsigned x = 0; tk && x < tk->n; x++)
		if (tk->by[x].n > 0)
			hand_over(ob, tk->by[x].t, tk->by[x].due, tk->by[x].n);
}

/* ---- marks ---- */

static struct mark *add_mark(struct outbox *ob, int64_t id, int kind)
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
	if (!ob->marks_ctx)
		ob->marks_ctx = talloc_named_const(ob, 0, "marks");
	struct mark *m = &ob->marks[ob->n_marks++];
	*m = (struct mark){ .id = id, .kind = kind };
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
	struct mark *m = add_mark(ob, id, kind);
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

void outbox_sent(struct outbox *ob, int64_t id)
{
	rate_ctr_inc2(ob->env.ctrs, ROUTER_CTR_MESSAGES_OUT);
	add_mark(ob, id, MARK_SENT);
}

void outbox_failed(struct outbox *ob, int64_t id, bool permanent, const char *why)
{
	struct mark *m = add_mark(ob, id, MARK_FAILED);

	rate_ctr_inc2(ob->env.ctrs, ROUTER_CTR_SEND_FAILURES);
	if (!m)
		return;
	m->permanent = permanent;
	m->why = talloc_strdup(ob->marks_ctx, why ? why : "?");
}

/* A failed send back in the queue after its delay, or given up, inside the caller's
 * transaction: the delay from the attempts the store counted (this one included). -1 when
 * they cannot be read. */
static int mark_failed(struct outbox *ob, struct mark *m)
{
	struct store *st = ob->st;
	unsigned n = 1;

	if (!m->permanent && st->ops->outbound_attempts &&
	    st->ops->outbound_attempts(st, m->id, &n) < 0)
		return -1;
	if (n == 0)
		n = 1;
	m->attempts = n;
	m->give_up = m->permanent || n >= SEND_MAX_ATTEMPTS;
	m->delay_ms = SEND_RETRY_BASE_MS << (n > 10 ? 10 : n - 1);
	if (m->delay_ms > SEND_RETRY_MAX_MS)
		m->delay_ms = SEND_RETRY_MAX_MS;
	int64_t at = clock_wall_ms() + m->delay_ms;
	st->ops->outbound_failed(st, m->id, at, m->give_up);
	/* The first offer at or after that time searches (a rolled-back write only makes it
	 * search for nothing). */
	if (!m->give_up && (!ob->retry_at_ms || at < ob->retry_at_ms))
		ob->retry_at_ms = at;
	/* A message sent first that the outbox gave up: its schedule row says so. */
	if (m->give_up && st->ops->schedule_outbound_status)
		st->ops->schedule_outbound_status(st, m->id, SCHED_FAILED, "send failed");
	return 0;
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
		struct mark *m = &ob->marks[i];

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
		else if (mark_failed(ob, m) < 0)
			return -1;
	}
	return 0;
}

void outbox_marks_done(struct outbox *ob)
{
	/* Once written: a failure is told with what became of it. */
	for (unsigned i = 0; i < ob->n_marks; i++) {
		const struct mark *m = &ob->marks[i];

		if (m->kind != MARK_FAILED)
			continue;
		if (m->give_up)
			glog(GLOG_MAIN, LOGL_ERROR, NULL, "reply %lld given up after %u attempt(s): %s",
			     (long long)m->id, m->attempts, m->why ? m->why : "?");
		else
			glog(GLOG_MAIN, LOGL_NOTICE, NULL, "reply %lld will be retried in %lld s: %s",
			     (long long)m->id, (long long)(m->delay_ms / 1000), m->why ? m->why : "?");
	}
	ob->n_marks = 0;
	TALLOC_FREE(ob->marks_ctx);
}
