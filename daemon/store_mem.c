/* The store in memory, for unit tests of the router: the same behaviour as store_sqlite.c
 * (ids, duplicates, states, ordering, purge, counters), nothing durable.
 *
 * All data hangs off one talloc context, the state; a transaction is a deep copy of the state
 * taken at begin, put back by rollback. Sessions are kept encoded, so a test through this
 * store exercises session_encode/session_decode as production does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/store.h"

enum mem_out_state { OUT_QUEUED, OUT_TAKEN, OUT_SENT, OUT_DEAD };

struct mem_in {
	int64_t id;
	enum channel channel;
	char *via, *from, *text, *dedup;
	int64_t received;
	bool done;
};

struct mem_out {
	int64_t id;
	char *via, *to, *text;
	enum text_coding coding;
	unsigned parts, attempts;
	int64_t not_before;
	enum mem_out_state state;
	int64_t created;
};

struct mem_sess {
	char *key;
	char *data;
	size_t len;
	int64_t deadline;
};

struct mem_spend {
	int64_t day;
	char *via;
	uint64_t parts;
};

/* A scheduled message: m's strings live under strs, freed with it. */
struct mem_sched {
	struct store_scheduled m;
	void *strs;
};

struct mem_optout {
	char *number;
	int64_t since;
};

/* The SMSC's id of a part sent (submit_sm_resp), so a delivery receipt after a restart finds
 * its outbox row; (via, remote) is unique, as in the SQLite table. */
struct mem_remote {
	char *via, *remote;
	int64_t outbound_id;
	int64_t created;
};

struct mem_state {
	struct mem_sched *sched;
	size_t n_sched;
	struct mem_optout *optout;
	size_t n_optout;
	struct mem_remote *remote;
	size_t n_remote;
	int64_t last_sched;
	struct mem_spend *spend;
	size_t n_spend;
	struct mem_in *in;
	size_t n_in;
	struct mem_out *out;
	size_t n_out;
	struct mem_sess *sess;
	size_t n_sess;
	int64_t last_in, last_out;
	uint64_t duplicate_sends;
};

struct mem {
	struct mem_state *cur, *snap;
	char err[128];
};

static struct mem *mem_of(struct store *st)
{
	return st->priv;
}

static int mem_fail(struct mem *m, const char *what)
{
	snprintf(m->err, sizeof(m->err), "%s", what);
	return -1;
}

static char *dup_or_null(void *ctx, const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = talloc_strdup(ctx, s);
	if (!d)
		*oom = true;
	return d;
}

/* Grows *arr (of elem_size elements, n in use) by one slot; returns the slot or NULL. */
static void *grow(void *ctx, void **arr, size_t n, size_t elem_size)
{
	char *na = talloc_realloc_size(ctx, *arr, (n + 1) * elem_size);

	if (!na)
		return NULL;
	*arr = na;
	memset(na + n * elem_size, 0, elem_size);
	return na + n * elem_size;
}

static int sched_copy(void *ctx, const struct store_scheduled *r, struct store_scheduled *m);

/* --- transactions --- */

/* Each *_copy below fills d's table from src's (strings under d); false when memory runs
 * out, d then being freed by the caller. */
static bool spend_copy(struct mem_state *d, const struct mem_state *src)
{
	bool oom = false;

	if (!src->n_spend)
		return true;
	d->spend = talloc_array(d, struct mem_spend, src->n_spend);
	if (!d->spend)
		return false;
	for (size_t i = 0; i < src->n_spend; i++) {
		d->spend[i] = src->spend[i];
		d->spend[i].via = dup_or_null(d, src->spend[i].via, &oom);
	}
	d->n_spend = src->n_spend;
	return !oom;
}

static bool sched_table_copy(struct mem_state *d, const struct mem_state *src)
{
	if (!src->n_sched)
		return true;
	d->sched = talloc_array(d, struct mem_sched, src->n_sched);
	if (!d->sched)
		return false;
	for (size_t i = 0; i < src->n_sched; i++) {
		d->sched[i].strs = talloc_named_const(d, 0, "sched");
		if (!d->sched[i].strs ||
		    sched_copy(d->sched[i].strs, &src->sched[i].m, &d->sched[i].m) < 0)
			return false;
	}
	d->n_sched = src->n_sched;
	return true;
}

static bool optout_copy(struct mem_state *d, const struct mem_state *src)
{
	bool oom = false;

	if (!src->n_optout)
		return true;
	d->optout = talloc_array(d, struct mem_optout, src->n_optout);
	if (!d->optout)
		return false;
	for (size_t i = 0; i < src->n_optout; i++) {
		d->optout[i] = src->optout[i];
		d->optout[i].number = dup_or_null(d, src->optout[i].number, &oom);
	}
	d->n_optout = src->n_optout;
	return !oom;
}

static bool remote_copy(struct mem_state *d, const struct mem_state *src)
{
	bool oom = false;

	if (!src->n_remote)
		return true;
	d->remote = talloc_array(d, struct mem_remote, src->n_remote);
	if (!d->remote)
		return false;
	for (size_t i = 0; i < src->n_remote; i++) {
		d->remote[i] = src->remote[i];
		d->remote[i].via = dup_or_null(d, src->remote[i].via, &oom);
		d->remote[i].remote = dup_or_null(d, src->remote[i].remote, &oom);
	}
	d->n_remote = src->n_remote;
	return !oom;
}

static bool in_copy(struct mem_state *d, const struct mem_state *src)
{
	bool oom = false;

	if (!src->n_in)
		return true;
	d->in = talloc_array(d, struct mem_in, src->n_in);
	if (!d->in)
		return false;
	for (size_t i = 0; i < src->n_in; i++) {
		d->in[i] = src->in[i];
		d->in[i].via = dup_or_null(d, src->in[i].via, &oom);
		d->in[i].from = dup_or_null(d, src->in[i].from, &oom);
		d->in[i].text = dup_or_null(d, src->in[i].text, &oom);
		d->in[i].dedup = dup_or_null(d, src->in[i].dedup, &oom);
	}
	d->n_in = src->n_in;
	return !oom;
}

static bool out_copy(struct mem_state *d, const struct mem_state *src)
{
	bool oom = false;

	if (!src->n_out)
		return true;
	d->out = talloc_array(d, struct mem_out, src->n_out);
	if (!d->out)
		return false;
	for (size_t i = 0; i < src->n_out; i++) {
		d->out[i] = src->out[i];
		d->out[i].via = dup_or_null(d, src->out[i].via, &oom);
		d->out[i].to = dup_or_null(d, src->out[i].to, &oom);
		d->out[i].text = dup_or_null(d, src->out[i].text, &oom);
	}
	d->n_out = src->n_out;
	return !oom;
}

static bool sess_copy(struct mem_state *d, const struct mem_state *src)
{
	bool oom = false;

	if (!src->n_sess)
		return true;
	d->sess = talloc_array(d, struct mem_sess, src->n_sess);
	if (!d->sess)
		return false;
	for (size_t i = 0; i < src->n_sess; i++) {
		d->sess[i] = src->sess[i];
		d->sess[i].key = dup_or_null(d, src->sess[i].key, &oom);
		d->sess[i].data = talloc_memdup(d, src->sess[i].data, src->sess[i].len + 1);
		if (!d->sess[i].data)
			oom = true;
	}
	d->n_sess = src->n_sess;
	return !oom;
}

/* A deep copy of src under ctx (a transaction's snapshot), or NULL. */
static struct mem_state *state_copy(void *ctx, const struct mem_state *src)
{
	struct mem_state *d = talloc_zero(ctx, struct mem_state);

	if (!d)
		return NULL;
	d->last_in = src->last_in;
	d->last_out = src->last_out;
	d->last_sched = src->last_sched;
	d->duplicate_sends = src->duplicate_sends;
	if (!spend_copy(d, src) || !sched_table_copy(d, src) || !optout_copy(d, src) ||
	    !remote_copy(d, src) || !in_copy(d, src) || !out_copy(d, src) || !sess_copy(d, src)) {
		talloc_free(d);
		return NULL;
	}
	return d;
}

static int mem_begin(struct store *st)
{
	struct mem *m = mem_of(st);

	if (m->snap)
		return mem_fail(m, "begin: a transaction is already open");
	m->snap = state_copy(m, m->cur);
	if (!m->snap)
		return mem_fail(m, "begin: out of memory");
	return 0;
}

static int mem_commit(struct store *st)
{
	struct mem *m = mem_of(st);

	if (!m->snap)
		return mem_fail(m, "commit: no transaction is open");
	talloc_free(m->snap);
	m->snap = NULL;
	return 0;
}

static int mem_rollback(struct store *st)
{
	struct mem *m = mem_of(st);

	if (!m->snap)
		return 0;
	talloc_free(m->cur);
	m->cur = m->snap;
	m->snap = NULL;
	return 0;
}

/* --- inbound --- */

static int mem_inbound_add(struct store *st, struct store_inbound *in)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_in *r;
	bool oom = false;
	size_t i;

	if (!in->via)
		return mem_fail(m, "inbound_add: no via");
	if (in->dedup)
		for (i = 0; i < s->n_in; i++)
			if (s->in[i].dedup && strcmp(s->in[i].dedup, in->dedup) == 0 &&
			    strcmp(s->in[i].via, in->via) == 0)
				return 1;
	r = grow(s, (void **)&s->in, s->n_in, sizeof(*r));
	if (!r)
		return mem_fail(m, "inbound_add: out of memory");
	r->channel = in->channel;
	r->via = dup_or_null(s, in->via, &oom);
	r->from = dup_or_null(s, in->from, &oom);
	r->text = dup_or_null(s, in->text, &oom);
	r->dedup = dup_or_null(s, in->dedup, &oom);
	r->received = in->received;
	if (oom) {
		talloc_free(r->via);
		talloc_free(r->from);
		talloc_free(r->text);
		talloc_free(r->dedup);
		return mem_fail(m, "inbound_add: out of memory");
	}
	r->id = ++s->last_in;
	s->n_in++;
	in->id = r->id;
	return 0;
}

static struct mem_in *find_in(struct mem_state *s, int64_t id)
{
	size_t i;

	for (i = 0; i < s->n_in; i++)
		if (s->in[i].id == id)
			return &s->in[i];
	return NULL;
}

static int mem_inbound_done(struct store *st, int64_t id)
{
	struct mem_in *r = find_in(mem_of(st)->cur, id);

	if (!r)
		return 1;
	r->done = true;
	return 0;
}

static int mem_inbound_forget(struct store *st, int64_t id)
{
	struct mem_in *r = find_in(mem_of(st)->cur, id);

	if (!r)
		return 1;
	talloc_free(r->text);
	talloc_free(r->dedup);
	r->text = NULL;
	r->dedup = NULL;
	return 0;
}

static int mem_inbound_pending(struct store *st,
			       void (*fn)(void *data, const struct store_inbound *in), void *data)
{
	struct mem *m = mem_of(st);
	struct mem_state *copy;
	size_t i;

	/* A copy, since fn may change the store (and move the array). */
	copy = state_copy(NULL, m->cur);
	if (!copy)
		return mem_fail(m, "inbound_pending: out of memory");
	for (i = 0; i < copy->n_in; i++) {
		const struct mem_in *r = &copy->in[i];
		struct store_inbound in = {
			.id = r->id, .channel = r->channel, .via = r->via, .from = r->from,
			.text = r->text ? r->text : "", .received = r->received, .dedup = r->dedup,
		};

		if (!r->done)
			fn(data, &in);
	}
	talloc_free(copy);
	return 0;
}

/* --- outbound --- */

static int mem_outbound_add(struct store *st, struct store_outbound *out)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_out *r;
	bool oom = false;

	if (!out->via)
		return mem_fail(m, "outbound_add: no via");
	r = grow(s, (void **)&s->out, s->n_out, sizeof(*r));
	if (!r)
		return mem_fail(m, "outbound_add: out of memory");
	r->via = dup_or_null(s, out->via, &oom);
	r->to = dup_or_null(s, out->to, &oom);
	r->text = dup_or_null(s, out->text, &oom);
	if (oom) {
		talloc_free(r->via);
		talloc_free(r->to);
		talloc_free(r->text);
		return mem_fail(m, "outbound_add: out of memory");
	}
	r->coding = out->coding;
	r->parts = out->parts;
	r->attempts = out->attempts;
	r->not_before = out->not_before;
	r->state = OUT_QUEUED;
	r->created = (int64_t)time(NULL);
	r->id = ++s->last_out;
	s->n_out++;
	out->id = r->id;
	return 0;
}

static int mem_outbound_due(struct store *st, const char *via, int64_t now_ms,
			    struct store_outbound *out, unsigned max, void *ctx)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	unsigned n = 0;
	size_t i;

	/* Ids grow with the array, so array order is id order. */
	for (i = 0; i < s->n_out && n < max; i++) {
		const struct mem_out *r = &s->out[i];
		struct store_outbound *o;

		if (r->state != OUT_QUEUED || r->not_before > now_ms ||
		    (via && strcmp(via, r->via) != 0))
			continue;
		o = &out[n++];
		o->id = r->id;
		o->via = talloc_strdup(ctx, r->via);
		o->to = talloc_strdup(ctx, r->to ? r->to : "");
		o->text = talloc_strdup(ctx, r->text ? r->text : "");
		o->coding = r->coding;
		o->parts = r->parts;
		o->attempts = r->attempts;
		o->not_before = r->not_before;
		if (!o->via || !o->to || !o->text)
			return mem_fail(m, "outbound_due: out of memory");
	}
	return (int)n;
}

static struct mem_out *find_out(struct mem_state *s, int64_t id)
{
	size_t i;

	for (i = 0; i < s->n_out; i++)
		if (s->out[i].id == id)
			return &s->out[i];
	return NULL;
}

static int mem_outbound_taken(struct store *st, int64_t id)
{
	struct mem_out *r = find_out(mem_of(st)->cur, id);

	if (!r || r->state != OUT_QUEUED)
		return 1;
	r->state = OUT_TAKEN;
	r->attempts++;
	return 0;
}

static int mem_outbound_sent(struct store *st, int64_t id)
{
	struct mem_out *r = find_out(mem_of(st)->cur, id);

	if (!r || (r->state != OUT_QUEUED && r->state != OUT_TAKEN))
		return 1;
	r->state = OUT_SENT;
	TALLOC_FREE(r->to);
	TALLOC_FREE(r->text);
	return 0;
}

static int mem_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up)
{
	struct mem_out *r = find_out(mem_of(st)->cur, id);

	if (!r || (r->state != OUT_QUEUED && r->state != OUT_TAKEN))
		return 1;
	if (give_up) {
		r->state = OUT_DEAD;
	} else {
		r->state = OUT_QUEUED;
		r->not_before = not_before_ms;
	}
	return 0;
}

void store_mem_simulate_restart(struct store *st)
{
	struct mem_state *s = mem_of(st)->cur;
	size_t i;

	for (i = 0; i < s->n_out; i++)
		if (s->out[i].state == OUT_TAKEN) {
			s->out[i].state = OUT_QUEUED;
			s->duplicate_sends++;
		}
}

/* --- sessions --- */

static struct mem_sess *find_sess(struct mem_state *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n_sess; i++)
		if (strcmp(s->sess[i].key, key) == 0)
			return &s->sess[i];
	return NULL;
}

static int mem_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct mem *m = mem_of(st);
	struct mem_sess *r = find_sess(m->cur, key);

	if (!r)
		return 1;
	if (session_decode(sess, ctx, r->data, r->len) < 0)
		return mem_fail(m, "session_get: stored session does not decode");
	return 0;
}

static int mem_session_put(struct store *st, const struct session *sess)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_sess *r = find_sess(s, sess->key);
	size_t len;
	char *data = session_encode(s, sess, &len);

	if (!data)
		return mem_fail(m, "session_put: out of memory");
	if (!r) {
		char *key = talloc_strdup(s, sess->key);

		r = key ? grow(s, (void **)&s->sess, s->n_sess, sizeof(*r)) : NULL;
		if (!r) {
			talloc_free(key);
			talloc_free(data);
			return mem_fail(m, "session_put: out of memory");
		}
		r->key = key;
		s->n_sess++;
	}
	talloc_free(r->data);
	r->data = data;
	r->len = len;
	r->deadline = sess->deadline;
	return 0;
}

static void sess_remove(struct mem_state *s, size_t i)
{
	talloc_free(s->sess[i].key);
	talloc_free(s->sess[i].data);
	memmove(&s->sess[i], &s->sess[i + 1], (s->n_sess - i - 1) * sizeof(s->sess[0]));
	s->n_sess--;
}

static int mem_session_del(struct store *st, const char *key)
{
	struct mem_state *s = mem_of(st)->cur;
	struct mem_sess *r = find_sess(s, key);

	if (!r)
		return 1;
	sess_remove(s, (size_t)(r - s->sess));
	return 0;
}

static int cmp_sess(const void *a, const void *b)
{
	return strcmp(((const struct mem_sess *)a)->key, ((const struct mem_sess *)b)->key);
}

static int mem_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
			    void *data, void *ctx)
{
	struct mem *m = mem_of(st);
	struct mem_state *copy = state_copy(NULL, m->cur);
	size_t i, bad = 0;

	if (!copy)
		return mem_fail(m, "session_each: out of memory");
	if (copy->n_sess)
		qsort(copy->sess, copy->n_sess, sizeof(copy->sess[0]), cmp_sess);
	for (i = 0; i < copy->n_sess; i++)
		if (session_decode_visit(ctx, copy->sess[i].data, copy->sess[i].len, fn, data) < 0)
			bad++;
	if (bad)
		snprintf(m->err, sizeof(m->err), "session_each: %zu stored sessions do not decode",
			 bad);
	talloc_free(copy);
	return 0;
}

/* --- the schedule and consent --- */

static struct mem_sched *find_sched(struct mem_state *s, int64_t id)
{
	for (size_t i = 0; i < s->n_sched; i++)
		if (s->sched[i].m.id == id)
			return &s->sched[i];
	return NULL;
}

static int mem_schedule_add(struct store *st, struct store_scheduled *m)
{
	struct mem *mm = mem_of(st);
	struct mem_state *s = mm->cur;
	struct mem_sched *r;
	void *strs;
	bool oom = false;

	if (m->idempotency_key)
		for (size_t i = 0; i < s->n_sched; i++)
			if (s->sched[i].m.idempotency_key &&
			    strcmp(s->sched[i].m.idempotency_key, m->idempotency_key) == 0) {
				m->id = s->sched[i].m.id;
				return 1;
			}
	strs = talloc_named_const(s, 0, "sched");
	if (!strs)
		return mem_fail(mm, "schedule_add: out of memory");
	r = grow(s, (void **)&s->sched, s->n_sched, sizeof(*r));
	if (!r) {
		talloc_free(strs);
		return mem_fail(mm, "schedule_add: out of memory");
	}
	m->created = (int64_t)time(NULL);
	r->m = *m;
	r->strs = strs;
	r->m.to = dup_or_null(strs, m->to, &oom);
	r->m.text = dup_or_null(strs, m->text, &oom);
	r->m.via = dup_or_null(strs, m->via, &oom);
	r->m.flow = dup_or_null(strs, m->flow, &oom);
	r->m.step = dup_or_null(strs, m->step, &oom);
	r->m.vars = dup_or_null(strs, m->vars, &oom);
	r->m.reference = dup_or_null(strs, m->reference, &oom);
	r->m.idempotency_key = dup_or_null(strs, m->idempotency_key, &oom);
	r->m.reason = dup_or_null(strs, m->reason, &oom);
	r->m.outbound_id = 0;
	if (oom) {
		talloc_free(strs);
		return mem_fail(mm, "schedule_add: out of memory");
	}
	r->m.id = m->id = ++s->last_sched;
	s->n_sched++;
	return 0;
}

/* A copy of r's message with its strings under ctx; -1 when memory runs out. */
static int sched_copy(void *ctx, const struct store_scheduled *r, struct store_scheduled *m)
{
	bool oom = false;

	*m = *r;
	m->to = dup_or_null(ctx, r->to, &oom);
	m->text = dup_or_null(ctx, r->text, &oom);
	m->via = dup_or_null(ctx, r->via, &oom);
	m->flow = dup_or_null(ctx, r->flow, &oom);
	m->step = dup_or_null(ctx, r->step, &oom);
	m->vars = dup_or_null(ctx, r->vars, &oom);
	m->reference = dup_or_null(ctx, r->reference, &oom);
	m->idempotency_key = dup_or_null(ctx, r->idempotency_key, &oom);
	m->reason = dup_or_null(ctx, r->reason, &oom);
	return oom ? -1 : 0;
}

static int mem_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx)
{
	struct mem_sched *r = find_sched(mem_of(st)->cur, id);

	if (!r)
		return 1;
	if (sched_copy(ctx, &r->m, m) < 0)
		return mem_fail(mem_of(st), "schedule_get: out of memory");
	return 0;
}

static bool sched_before(const struct store_scheduled *a, const struct store_scheduled *b)
{
	return a->send_at < b->send_at || (a->send_at == b->send_at && a->id < b->id);
}

/* A linear scan per batch: the memory store is for tests, the SQLite one has the index. */
static int mem_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
			    unsigned max, void *ctx)
{
	struct mem_state *s = mem_of(st)->cur;
	const struct store_scheduled *last = NULL;
	unsigned n;

	for (n = 0; n < max; n++) {
		const struct store_scheduled *best = NULL;

		for (size_t i = 0; i < s->n_sched; i++) {
			const struct store_scheduled *r = &s->sched[i].m;

			if (!sched_status_open(r->status) || r->send_at > now_ms ||
			    (last && !sched_before(last, r)))
				continue;
			if (!best || sched_before(r, best))
				best = r;
		}
		if (!best)
			break;
		if (sched_copy(ctx, best, &out[n]) < 0)
			return mem_fail(mem_of(st), "schedule_due: out of memory");
		last = best;
	}
	return (int)n;
}

static int mem_schedule_next(struct store *st, int64_t *when_ms)
{
	struct mem_state *s = mem_of(st)->cur;
	bool any = false;

	for (size_t i = 0; i < s->n_sched; i++) {
		const struct store_scheduled *r = &s->sched[i].m;

		if (sched_status_open(r->status) && (!any || r->send_at < *when_ms)) {
			*when_ms = r->send_at;
			any = true;
		}
	}
	return any ? 0 : 1;
}

/* Replaces r's reason (NULL allowed). */
static int sched_set_reason(struct mem_sched *r, const char *reason)
{
	char *d = NULL;

	if (reason && !(d = talloc_strdup(r->strs, reason)))
		return -1;
	talloc_free((char *)r->m.reason);
	r->m.reason = d;
	return 0;
}

static int mem_schedule_mark(struct store *st, int64_t id, enum sched_status status,
			     const char *reason, int64_t send_at_ms, int64_t outbound_id)
{
	struct mem_sched *r = find_sched(mem_of(st)->cur, id);

	if (!r || !sched_status_open(r->m.status))
		return 1;
	if (sched_set_reason(r, reason) < 0)
		return mem_fail(mem_of(st), "schedule_mark: out of memory");
	r->m.status = status;
	if (send_at_ms > 0)
		r->m.send_at = send_at_ms;
	if (outbound_id > 0)
		r->m.outbound_id = outbound_id;
	return 0;
}

static int mem_schedule_outbound_status(struct store *st, int64_t outbound_id,
					enum sched_status status, const char *reason)
{
	struct mem_state *s = mem_of(st)->cur;
	int rc = 1;

	for (size_t i = 0; outbound_id > 0 && i < s->n_sched; i++) {
		struct mem_sched *r = &s->sched[i];

		if (r->m.outbound_id != outbound_id ||
		    (r->m.status != SCHED_SENT && r->m.status != SCHED_DELIVERED))
			continue;
		if (sched_set_reason(r, reason) < 0)
			return mem_fail(mem_of(st), "schedule_outbound_status: out of memory");
		r->m.status = status;
		rc = 0;
	}
	return rc;
}

static int mem_schedule_cancel(struct store *st, int64_t id)
{
	return mem_schedule_mark(st, id, SCHED_CANCELLED, NULL, 0, 0);
}

static int mem_schedule_cancel_ref(struct store *st, const char *reference, const char *to)
{
	struct mem_state *s = mem_of(st)->cur;
	int n = 0;

	for (size_t i = 0; reference && i < s->n_sched; i++) {
		struct mem_sched *r = &s->sched[i];

		if (!sched_status_open(r->m.status) || !r->m.reference ||
		    strcmp(r->m.reference, reference) != 0 ||
		    (to && (!r->m.to || strcmp(r->m.to, to) != 0)))
			continue;
		sched_set_reason(r, NULL);
		r->m.status = SCHED_CANCELLED;
		n++;
	}
	return n;
}

static struct mem_optout *find_optout(struct mem_state *s, const char *number)
{
	for (size_t i = 0; i < s->n_optout; i++)
		if (strcmp(s->optout[i].number, number) == 0)
			return &s->optout[i];
	return NULL;
}

static int mem_optout_set(struct store *st, const char *number, int64_t since)
{
	struct mem_state *s = mem_of(st)->cur;
	struct mem_optout *r;

	if (!number)
		return mem_fail(mem_of(st), "optout_set: no number");
	if (find_optout(s, number))
		return 0;
	r = grow(s, (void **)&s->optout, s->n_optout, sizeof(*r));
	if (!r || !(r->number = talloc_strdup(s, number)))
		return mem_fail(mem_of(st), "optout_set: out of memory");
	r->since = since;
	s->n_optout++;
	return 0;
}

static int mem_optout_clear(struct store *st, const char *number)
{
	struct mem_state *s = mem_of(st)->cur;
	struct mem_optout *r = number ? find_optout(s, number) : NULL;

	if (r) {
		size_t i = (size_t)(r - s->optout);

		talloc_free(r->number);
		memmove(r, r + 1, (s->n_optout - i - 1) * sizeof(*r));
		s->n_optout--;
	}
	return 0;
}

static int mem_optout_is(struct store *st, const char *number)
{
	return number && find_optout(mem_of(st)->cur, number) ? 1 : 0;
}

/* Part of mem_purge: the number of messages that lost their data. */
static int mem_schedule_purge(struct mem_state *s, int64_t cutoff)
{
	int n = 0;

	for (size_t i = 0; i < s->n_sched; i++) {
		struct store_scheduled *m = &s->sched[i].m;

		if (sched_status_open(m->status) || m->created >= cutoff ||
		    (!m->to && !m->text && !m->vars))
			continue;
		talloc_free((char *)m->to);
		talloc_free((char *)m->text);
		talloc_free((char *)m->vars);
		m->to = m->text = m->vars = NULL;
		n++;
	}
	return n;
}

/* --- the SMSC's ids of parts sent --- */

static struct mem_remote *find_remote(struct mem_state *s, const char *via, const char *remote)
{
	for (size_t i = 0; i < s->n_remote; i++)
		if (strcmp(s->remote[i].via, via) == 0 && strcmp(s->remote[i].remote, remote) == 0)
			return &s->remote[i];
	return NULL;
}

static int mem_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_remote *r;

	if (!via || !remote)
		return mem_fail(m, "outbound_remote: no via or id");
	r = find_remote(s, via, remote);
	if (!r) {
		char *v = talloc_strdup(s, via), *rem = talloc_strdup(s, remote);

		r = v && rem ? grow(s, (void **)&s->remote, s->n_remote, sizeof(*r)) : NULL;
		if (!r) {
			talloc_free(v);
			talloc_free(rem);
			return mem_fail(m, "outbound_remote: out of memory");
		}
		r->via = v;
		r->remote = rem;
		s->n_remote++;
	}
	/* An SMSC that reuses an id: the latest message has it (SQLite's ON CONFLICT). */
	r->outbound_id = id;
	r->created = (int64_t)time(NULL);
	return 0;
}

static int mem_outbound_by_remote(struct store *st, const char *via, const char *remote,
				  int64_t *id)
{
	struct mem_remote *r = via && remote ? find_remote(mem_of(st)->cur, via, remote) : NULL;

	if (!r)
		return 1;
	*id = r->outbound_id;
	return 0;
}

/* Part of mem_purge: ids kept as long as the outbox rows; not counted as removed rows. */
static void mem_remote_purge(struct mem_state *s, int64_t cutoff)
{
	size_t i, j;

	for (i = j = 0; i < s->n_remote; i++) {
		if (s->remote[i].created < cutoff) {
			talloc_free(s->remote[i].via);
			talloc_free(s->remote[i].remote);
		} else {
			s->remote[j++] = s->remote[i];
		}
	}
	s->n_remote = j;
}

/* --- upkeep --- */

static int mem_purge(struct store *st, int64_t now, unsigned keep_s)
{
	struct mem_state *s = mem_of(st)->cur;
	int64_t cutoff = now - (int64_t)keep_s;
	size_t i, j;
	int removed = 0;

	for (i = j = 0; i < s->n_in; i++) {
		struct mem_in *r = &s->in[i];

		if (r->done && r->received < cutoff) {
			talloc_free(r->via);
			talloc_free(r->from);
			talloc_free(r->text);
			talloc_free(r->dedup);
			removed++;
		} else {
			s->in[j++] = *r;
		}
	}
	s->n_in = j;
	for (i = j = 0; i < s->n_out; i++) {
		struct mem_out *r = &s->out[i];

		if ((r->state == OUT_SENT || r->state == OUT_DEAD) && r->created < cutoff) {
			talloc_free(r->via);
			talloc_free(r->to);
			talloc_free(r->text);
			removed++;
		} else {
			s->out[j++] = *r;
		}
	}
	s->n_out = j;
	for (i = j = 0; i < s->n_spend; i++) {
		if (s->spend[i].day < now / 86400 - 31)
			talloc_free(s->spend[i].via);
		else
			s->spend[j++] = s->spend[i];
	}
	s->n_spend = j;
	removed += mem_schedule_purge(s, cutoff);
	mem_remote_purge(s, cutoff);
	for (i = 0; i < s->n_sess; ) {
		if (s->sess[i].deadline > 0 && s->sess[i].deadline < now) {
			sess_remove(s, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

static int mem_counters(struct store *st, struct store_counters *c)
{
	struct mem_state *s = mem_of(st)->cur;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < s->n_in; i++)
		if (!s->in[i].done)
			c->inbound_pending++;
	for (i = 0; i < s->n_out; i++)
		if (s->out[i].state == OUT_QUEUED || s->out[i].state == OUT_TAKEN)
			c->outbound_pending++;
	c->sessions = s->n_sess;
	c->duplicate_sends = s->duplicate_sends;
	return 0;
}

static int mem_spend_add(struct store *st, int64_t day, const char *via, unsigned parts)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_spend *r;

	if (!via)
		via = "";
	for (size_t i = 0; i < s->n_spend; i++) {
		if (s->spend[i].day == day && strcmp(s->spend[i].via, via) == 0) {
			s->spend[i].parts += parts;
			return 0;
		}
	}
	r = grow(s, (void **)&s->spend, s->n_spend, sizeof(*r));
	if (!r)
		return mem_fail(m, "spend_add: out of memory");
	r->day = day;
	r->via = talloc_strdup(s, via);
	r->parts = parts;
	if (!r->via)
		return mem_fail(m, "spend_add: out of memory");
	s->n_spend++;
	return 0;
}

static int mem_spend_get(struct store *st, int64_t day,
			 void (*fn)(void *data, const char *via, uint64_t parts), void *data)
{
	struct mem_state *s = mem_of(st)->cur;

	for (size_t i = 0; i < s->n_spend; i++)
		if (s->spend[i].day == day)
			fn(data, s->spend[i].via, s->spend[i].parts);
	return 0;
}

static const char *mem_last_error(struct store *st)
{
	return mem_of(st)->err;
}

static void mem_close(struct store *st)
{
	talloc_free(st);
}

static const struct store_ops mem_ops = {
	.name = "mem",
	.begin = mem_begin,
	.commit = mem_commit,
	.rollback = mem_rollback,
	.inbound_add = mem_inbound_add,
	.inbound_done = mem_inbound_done,
	.inbound_forget = mem_inbound_forget,
	.inbound_pending = mem_inbound_pending,
	.outbound_add = mem_outbound_add,
	.outbound_due = mem_outbound_due,
	.outbound_taken = mem_outbound_taken,
	.outbound_sent = mem_outbound_sent,
	.outbound_failed = mem_outbound_failed,
	.session_get = mem_session_get,
	.session_put = mem_session_put,
	.session_del = mem_session_del,
	.session_each = mem_session_each,
	.purge = mem_purge,
	.counters = mem_counters,
	.spend_add = mem_spend_add,
	.spend_get = mem_spend_get,
	.schedule_add = mem_schedule_add,
	.schedule_get = mem_schedule_get,
	.schedule_due = mem_schedule_due,
	.schedule_next = mem_schedule_next,
	.schedule_mark = mem_schedule_mark,
	.schedule_outbound_status = mem_schedule_outbound_status,
	.outbound_remote = mem_outbound_remote,
	.outbound_by_remote = mem_outbound_by_remote,
	.schedule_cancel = mem_schedule_cancel,
	.schedule_cancel_ref = mem_schedule_cancel_ref,
	.optout_set = mem_optout_set,
	.optout_clear = mem_optout_clear,
	.optout_is = mem_optout_is,
	.close = mem_close,
	.last_error = mem_last_error,
};

struct store *store_mem_open(void *ctx)
{
	struct store *st = talloc_zero(ctx, struct store);
	struct mem *m;

	if (!st)
		return NULL;
	m = talloc_zero(st, struct mem);
	if (!m)
		goto fail;
	m->cur = talloc_zero(m, struct mem_state);
	if (!m->cur)
		goto fail;
	st->ops = &mem_ops;
	st->priv = m;
	return st;
fail:
	talloc_free(st);
	return NULL;
}
