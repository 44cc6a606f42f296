/* The store in memory, for unit tests of the router: the same behaviour as store_sqlite.c
 * (ids, duplicates, states, ordering, purge, counters), nothing durable.
 *
 * All data hangs off one talloc context, the state; a transaction is a deep copy of the state
 * taken at begin, put back by rollback. Sessions are kept encoded, so a test through this
 * store exercises session_encode/session_decode as production does. This file holds the
 * state and its transactions; the tables' operations are in store_mem_msgs.c and
 * store_mem_sched.c (store_mem.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_mem.h"

int mem_fail(struct mem *m, const char *what)
{
	snprintf(m->err, sizeof(m->err), "%s", what);
	return -1;
}

char *mem_strdup(void *ctx, const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = talloc_strdup(ctx, s);
	if (!d)
		*oom = true;
	return d;
}

void *mem_grow(void *ctx, void **arr, size_t n, size_t elem_size)
{
	char *na = talloc_realloc_size(ctx, *arr, (n + 1) * elem_size);

	if (!na)
		return NULL;
	*arr = na;
	memset(na + n * elem_size, 0, elem_size);
	return na + n * elem_size;
}


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
		d->spend[i].via = mem_strdup(d, src->spend[i].via, &oom);
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
		    mem_sched_copy(d->sched[i].strs, &src->sched[i].m, &d->sched[i].m) < 0)
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
		d->optout[i].number = mem_strdup(d, src->optout[i].number, &oom);
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
		d->remote[i].via = mem_strdup(d, src->remote[i].via, &oom);
		d->remote[i].remote = mem_strdup(d, src->remote[i].remote, &oom);
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
		d->in[i].via = mem_strdup(d, src->in[i].via, &oom);
		d->in[i].from = mem_strdup(d, src->in[i].from, &oom);
		d->in[i].text = mem_strdup(d, src->in[i].text, &oom);
		d->in[i].dedup = mem_strdup(d, src->in[i].dedup, &oom);
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
		d->out[i].via = mem_strdup(d, src->out[i].via, &oom);
		d->out[i].to = mem_strdup(d, src->out[i].to, &oom);
		d->out[i].text = mem_strdup(d, src->out[i].text, &oom);
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
		d->sess[i].key = mem_strdup(d, src->sess[i].key, &oom);
		d->sess[i].data = talloc_memdup(d, src->sess[i].data, src->sess[i].len + 1);
		if (!d->sess[i].data)
			oom = true;
	}
	d->n_sess = src->n_sess;
	return !oom;
}

struct mem_state *mem_state_copy(void *ctx, const struct mem_state *src)
{
	struct mem_state *d = talloc_zero(ctx, struct mem_state);

	if (!d)
		return NULL;
	d->last_in = src->last_in;
	d->last_out = src->last_out;
	d->last_sched = src->last_sched;
	d->duplicate_sends = src->duplicate_sends;
	if (!spend_copy(d, src) || !sched_table_copy(d, src) || !optout_copy(d, src) ||
	    !remote_copy(d, src) || !in_copy(d, src) || !out_copy(d, src) || !sess_copy(d, src) ||
	    !mem_ussd_copy(d, src)) {
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
	m->snap = mem_state_copy(m, m->cur);
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
			mem_sess_remove(s, i);
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
	.outbound_attempts = mem_outbound_attempts,
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
	.ussd_put = mem_ussd_put,
	.ussd_get = mem_ussd_get,
	.ussd_drop = mem_ussd_drop,
	.ussd_sweep = mem_ussd_sweep,
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

