/* The memory store's inbound and outbound messages, the SMSC's remote ids of parts sent,
 * and sessions (store_mem.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_mem.h"

/* --- inbound --- */

int mem_inbound_add(struct store *st, struct store_inbound *in)
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
	r = mem_grow(s, (void **)&s->in, s->n_in, sizeof(*r));
	if (!r)
		return mem_fail(m, "inbound_add: out of memory");
	r->channel = in->channel;
	r->via = mem_strdup(s, in->via, &oom);
	r->from = mem_strdup(s, in->from, &oom);
	r->text = mem_strdup(s, in->text, &oom);
	r->dedup = mem_strdup(s, in->dedup, &oom);
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

int mem_inbound_done(struct store *st, int64_t id)
{
	struct mem_in *r = find_in(mem_of(st)->cur, id);

	if (!r)
		return 1;
	r->done = true;
	return 0;
}

int mem_inbound_forget(struct store *st, int64_t id)
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

int mem_inbound_pending(struct store *st,
			       void (*fn)(void *data, const struct store_inbound *in), void *data)
{
	struct mem *m = mem_of(st);
	struct mem_state *copy;
	size_t i;

	/* A copy, since fn may change the store (and move the array). */
	copy = mem_state_copy(NULL, m->cur);
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

int mem_outbound_add(struct store *st, struct store_outbound *out)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_out *r;
	bool oom = false;

	if (!out->via)
		return mem_fail(m, "outbound_add: no via");
	r = mem_grow(s, (void **)&s->out, s->n_out, sizeof(*r));
	if (!r)
		return mem_fail(m, "outbound_add: out of memory");
	r->via = mem_strdup(s, out->via, &oom);
	r->to = mem_strdup(s, out->to, &oom);
	r->text = mem_strdup(s, out->text, &oom);
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

int mem_outbound_due(struct store *st, const char *via, int64_t now_ms,
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

int mem_outbound_taken(struct store *st, int64_t id)
{
	struct mem_out *r = find_out(mem_of(st)->cur, id);

	if (!r || r->state != OUT_QUEUED)
		return 1;
	r->state = OUT_TAKEN;
	r->attempts++;
	return 0;
}

int mem_outbound_sent(struct store *st, int64_t id)
{
	struct mem_out *r = find_out(mem_of(st)->cur, id);

	if (!r || (r->state != OUT_QUEUED && r->state != OUT_TAKEN))
		return 1;
	r->state = OUT_SENT;
	TALLOC_FREE(r->to);
	TALLOC_FREE(r->text);
	return 0;
}

int mem_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up)
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

int mem_outbound_attempts(struct store *st, int64_t id, unsigned *n)
{
	struct mem_out *r = find_out(mem_of(st)->cur, id);

	if (!r)
		return 1;
	*n = r->attempts;
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

int mem_session_get(struct store *st, const char *key, struct session *sess, void *ctx)
{
	struct mem *m = mem_of(st);
	struct mem_sess *r = find_sess(m->cur, key);

	if (!r)
		return 1;
	if (session_decode(sess, ctx, r->data, r->len) < 0)
		return mem_fail(m, "session_get: stored session does not decode");
	return 0;
}

int mem_session_put(struct store *st, const struct session *sess)
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

		r = key ? mem_grow(s, (void **)&s->sess, s->n_sess, sizeof(*r)) : NULL;
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

void mem_sess_remove(struct mem_state *s, size_t i)
{
	talloc_free(s->sess[i].key);
	talloc_free(s->sess[i].data);
	memmove(&s->sess[i], &s->sess[i + 1], (s->n_sess - i - 1) * sizeof(s->sess[0]));
	s->n_sess--;
}

int mem_session_del(struct store *st, const char *key)
{
	struct mem_state *s = mem_of(st)->cur;
	struct mem_sess *r = find_sess(s, key);

	if (!r)
		return 1;
	mem_sess_remove(s, (size_t)(r - s->sess));
	return 0;
}

static int cmp_sess(const void *a, const void *b)
{
	return strcmp(((const struct mem_sess *)a)->key, ((const struct mem_sess *)b)->key);
}

int mem_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
			    void *data, void *ctx)
{
	struct mem *m = mem_of(st);
	struct mem_state *copy = mem_state_copy(NULL, m->cur);
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

/* --- the SMSC's ids of parts sent --- */

static struct mem_remote *find_remote(struct mem_state *s, const char *via, const char *remote)
{
	for (size_t i = 0; i < s->n_remote; i++)
		if (strcmp(s->remote[i].via, via) == 0 && strcmp(s->remote[i].remote, remote) == 0)
			return &s->remote[i];
	return NULL;
}

int mem_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_remote *r;

	if (!via || !remote)
		return mem_fail(m, "outbound_remote: no via or id");
	r = find_remote(s, via, remote);
	if (!r) {
		char *v = talloc_strdup(s, via), *rem = talloc_strdup(s, remote);

		r = v && rem ? mem_grow(s, (void **)&s->remote, s->n_remote, sizeof(*r)) : NULL;
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

int mem_outbound_by_remote(struct store *st, const char *via, const char *remote,
				  int64_t *id)
{
	struct mem_remote *r = via && remote ? find_remote(mem_of(st)->cur, via, remote) : NULL;

	if (!r)
		return 1;
	*id = r->outbound_id;
	return 0;
}

/* Part of mem_purge: ids kept as long as the outbox rows; not counted as removed rows. */
void mem_remote_purge(struct mem_state *s, int64_t cutoff)
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

