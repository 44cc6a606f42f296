/* The memory store's schedule (messages sent first), consent and the cost guard's daily
 * spend (store_mem.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_mem.h"

/* --- the schedule and consent --- */

static struct mem_sched *find_sched(struct mem_state *s, int64_t id)
{
	for (size_t i = 0; i < s->n_sched; i++)
		if (s->sched[i].m.id == id)
			return &s->sched[i];
	return NULL;
}

int mem_schedule_add(struct store *st, struct store_scheduled *m)
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
	r = mem_grow(s, (void **)&s->sched, s->n_sched, sizeof(*r));
	if (!r) {
		talloc_free(strs);
		return mem_fail(mm, "schedule_add: out of memory");
	}
	m->created = (int64_t)time(NULL);
	r->m = *m;
	r->strs = strs;
	r->m.to = mem_strdup(strs, m->to, &oom);
	r->m.text = mem_strdup(strs, m->text, &oom);
	r->m.via = mem_strdup(strs, m->via, &oom);
	r->m.flow = mem_strdup(strs, m->flow, &oom);
	r->m.step = mem_strdup(strs, m->step, &oom);
	r->m.vars = mem_strdup(strs, m->vars, &oom);
	r->m.reference = mem_strdup(strs, m->reference, &oom);
	r->m.idempotency_key = mem_strdup(strs, m->idempotency_key, &oom);
	r->m.reason = mem_strdup(strs, m->reason, &oom);
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
int mem_sched_copy(void *ctx, const struct store_scheduled *r, struct store_scheduled *m)
{
	bool oom = false;

	*m = *r;
	m->to = mem_strdup(ctx, r->to, &oom);
	m->text = mem_strdup(ctx, r->text, &oom);
	m->via = mem_strdup(ctx, r->via, &oom);
	m->flow = mem_strdup(ctx, r->flow, &oom);
	m->step = mem_strdup(ctx, r->step, &oom);
	m->vars = mem_strdup(ctx, r->vars, &oom);
	m->reference = mem_strdup(ctx, r->reference, &oom);
	m->idempotency_key = mem_strdup(ctx, r->idempotency_key, &oom);
	m->reason = mem_strdup(ctx, r->reason, &oom);
	return oom ? -1 : 0;
}

int mem_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx)
{
	struct mem_sched *r = find_sched(mem_of(st)->cur, id);

	if (!r)
		return 1;
	if (mem_sched_copy(ctx, &r->m, m) < 0)
		return mem_fail(mem_of(st), "schedule_get: out of memory");
	return 0;
}

static bool sched_before(const struct store_scheduled *a, const struct store_scheduled *b)
{
	return a->send_at < b->send_at || (a->send_at == b->send_at && a->id < b->id);
}

/* A linear scan per batch: the memory store is for tests, the SQLite one has the index. */
int mem_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
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
		if (mem_sched_copy(ctx, best, &out[n]) < 0)
			return mem_fail(mem_of(st), "schedule_due: out of memory");
		last = best;
	}
	return (int)n;
}

int mem_schedule_next(struct store *st, int64_t *when_ms)
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

int mem_schedule_mark(struct store *st, int64_t id, enum sched_status status,
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

int mem_schedule_outbound_status(struct store *st, int64_t outbound_id,
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

int mem_schedule_cancel(struct store *st, int64_t id)
{
	return mem_schedule_mark(st, id, SCHED_CANCELLED, NULL, 0, 0);
}

int mem_schedule_cancel_ref(struct store *st, const char *reference, const char *to)
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

int mem_optout_set(struct store *st, const char *number, int64_t since)
{
	struct mem_state *s = mem_of(st)->cur;
	struct mem_optout *r;

	if (!number)
		return mem_fail(mem_of(st), "optout_set: no number");
	if (find_optout(s, number))
		return 0;
	r = mem_grow(s, (void **)&s->optout, s->n_optout, sizeof(*r));
	if (!r || !(r->number = talloc_strdup(s, number)))
		return mem_fail(mem_of(st), "optout_set: out of memory");
	r->since = since;
	s->n_optout++;
	return 0;
}

int mem_optout_clear(struct store *st, const char *number)
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

int mem_optout_is(struct store *st, const char *number)
{
	return number && find_optout(mem_of(st)->cur, number) ? 1 : 0;
}

/* Part of mem_purge: the number of messages that lost their data. */
int mem_schedule_purge(struct mem_state *s, int64_t cutoff)
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

int mem_spend_add(struct store *st, int64_t day, const char *via, unsigned parts)
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
	r = mem_grow(s, (void **)&s->spend, s->n_spend, sizeof(*r));
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

int mem_spend_get(struct store *st, int64_t day,
			 void (*fn)(void *data, const char *via, uint64_t parts), void *data)
{
	struct mem_state *s = mem_of(st)->cur;

	for (size_t i = 0; i < s->n_spend; i++)
		if (s->spend[i].day == day)
			fn(data, s->spend[i].via, s->spend[i].parts);
	return 0;
}

