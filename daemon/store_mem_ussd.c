/* The memory store: USSD aggregator dialogues shared between hosts (store.h's ussd_* ops),
 * with the same rules as the PostgreSQL table (store_pg_ussd.c): a put that does not go
 * further than the stored step is refused, expired rows are as if absent. For the unit
 * tests of the USSD code and the store suite; one process shares nothing in production. */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/store_mem.h"

static struct mem_ussd *find(struct mem_state *s, const char *id)
{
	for (size_t i = 0; i < s->n_ussd; i++)
		if (!strcmp(s->ussd[i].id, id))
			return &s->ussd[i];
	return NULL;
}

static void row_free(struct mem_ussd *r)
{
	talloc_free(r->id);
	talloc_free(r->via);
	talloc_free(r->from);
	talloc_free(r->code);
	talloc_free(r->history);
	talloc_free(r->session);
}

static void row_remove(struct mem_state *s, struct mem_ussd *r)
{
	size_t i = (size_t)(r - s->ussd);

	row_free(r);
	memmove(&s->ussd[i], &s->ussd[i + 1], (s->n_ussd - i - 1) * sizeof(s->ussd[0]));
	s->n_ussd--;
}

/* d (zeroed or freed) becomes a copy of the row u under ctx; false when memory runs out. */
static bool row_set(void *ctx, struct mem_ussd *d, const struct store_ussd *u)
{
	bool oom = false;

	d->id = mem_strdup(ctx, u->id, &oom);
	d->via = mem_strdup(ctx, u->via ? u->via : "", &oom);
	d->from = mem_strdup(ctx, u->from ? u->from : "", &oom);
	d->code = mem_strdup(ctx, u->code ? u->code : "", &oom);
	d->history = mem_strdup(ctx, u->history ? u->history : "", &oom);
	/* One byte more, always NUL: what session_decode is given elsewhere. */
	d->session = talloc_zero_size(ctx, u->session_len + 1);
	if (!d->session)
		oom = true;
	else if (u->session_len)
		memcpy(d->session, u->session, u->session_len);
	d->session_len = u->session_len;
	d->step = u->step;
	d->expires_at = u->expires_at;
	return !oom;
}

int mem_ussd_put(struct store *st, const struct store_ussd *u, int64_t now)
{
	struct mem *m = mem_of(st);
	struct mem_state *s = m->cur;
	struct mem_ussd *r;

	if (!u->id || !*u->id)
		return mem_fail(m, "ussd_put: no dialogue id");
	r = find(s, u->id);
	if (r && u->step != 1 && r->step >= u->step && r->expires_at > now)
		return 1;
	if (r) {
		row_free(r);
	} else {
		r = mem_grow(s, (void **)&s->ussd, s->n_ussd, sizeof(s->ussd[0]));
		if (!r)
			return mem_fail(m, "ussd_put: out of memory");
		s->n_ussd++;
	}
	memset(r, 0, sizeof(*r));
	if (!row_set(s, r, u)) {
		row_remove(s, r);
		return mem_fail(m, "ussd_put: out of memory");
	}
	return 0;
}

int mem_ussd_get(struct store *st, const char *id, int64_t now, struct store_ussd *u, void *ctx)
{
	struct mem *m = mem_of(st);
	struct mem_ussd *r = find(m->cur, id);
	struct mem_ussd c = { 0 };

	if (!r || r->expires_at <= now)
		return 1;
	if (!row_set(ctx, &c, &(struct store_ussd){
		.id = r->id, .via = r->via, .from = r->from, .code = r->code,
		.history = r->history, .session = r->session, .session_len = r->session_len,
		.step = r->step, .expires_at = r->expires_at })) {
		row_free(&c);
		return mem_fail(m, "ussd_get: out of memory");
	}
	*u = (struct store_ussd){
		.id = c.id, .via = c.via, .from = c.from, .code = c.code, .history = c.history,
		.session = c.session, .session_len = c.session_len, .step = c.step,
		.expires_at = c.expires_at,
	};
	return 0;
}

int mem_ussd_drop(struct store *st, const char *id, int64_t step)
{
	struct mem_state *s = mem_of(st)->cur;
	struct mem_ussd *r = find(s, id);

	if (!r || r->step > step)
		return 1;
	row_remove(s, r);
	return 0;
}

int mem_ussd_sweep(struct store *st, int64_t now)
{
	struct mem_state *s = mem_of(st)->cur;
	int n = 0;

	for (size_t i = 0; i < s->n_ussd; ) {
		if (s->ussd[i].expires_at <= now) {
			row_remove(s, &s->ussd[i]);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

bool mem_ussd_copy(struct mem_state *d, const struct mem_state *src)
{
	if (!src->n_ussd)
		return true;
	d->ussd = talloc_zero_array(d, struct mem_ussd, src->n_ussd);
	if (!d->ussd)
		return false;
	d->n_ussd = src->n_ussd;
	for (size_t i = 0; i < src->n_ussd; i++) {
		const struct mem_ussd *r = &src->ussd[i];

		if (!row_set(d, &d->ussd[i], &(struct store_ussd){
			.id = r->id, .via = r->via, .from = r->from, .code = r->code,
			.history = r->history, .session = r->session,
			.session_len = r->session_len, .step = r->step,
			.expires_at = r->expires_at }))
			return false;
	}
	return true;
}
