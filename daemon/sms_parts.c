/* SMS parts: UDH parsing and reassembly for every SMS transport (see sms_parts.h). */
#include <string.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/linuxlist.h>

#include "guichet/sms_parts.h"
#include "guichet/text.h"

size_t sms_udh_parse(const uint8_t *ud, size_t len, struct sms_concat *cc)
{
	memset(cc, 0, sizeof(*cc));
	if (!ud || len < 1 || (size_t)ud[0] + 1 > len)
		return 0;	/* no header fits: the UDHI flag was wrong, all of it is text */
	size_t end = (size_t)ud[0] + 1, i = 1;
	struct sms_concat found = { 0 };
	while (i + 2 <= end) {
		uint8_t iei = ud[i], iel = ud[i + 1];
		const uint8_t *v = ud + i + 2;
		if (i + 2 + iel > end)
			return end;	/* broken element: header skipped, no concatenation */
		if (!found.present && iei == 0x00 && iel == 3 && v[1] > 0 && v[2] > 0 && v[2] <= v[1])
			found = (struct sms_concat){ .present = true, .ref = v[0], .total = v[1],
						     .seq = v[2] };
		else if (!found.present && iei == 0x08 && iel == 4 && v[2] > 0 && v[3] > 0 &&
			 v[3] <= v[2])
			found = (struct sms_concat){ .present = true, .ref = (uint16_t)(v[0] << 8 | v[1]),
						     .total = v[2], .seq = v[3], .ref16 = true };
		i += 2 + (size_t)iel;
	}
	*cc = found;
	return end;
}

char *sms_text_decode(void *ctx, enum sms_alphabet a, const uint8_t *data, size_t len)
{
	switch (a) {
	case SMS_GSM7: {
		/* Some SMSCs pass septets with bit 7 set; the alphabet is 7-bit. */
		uint8_t *s = talloc_memdup(ctx, len ? data : (const uint8_t *)"", len ? len : 1);
		if (!s)
			return NULL;
		for (size_t i = 0; i < len; i++)
			s[i] &= 0x7F;
		char *out = text_gsm7_to_utf8(ctx, s, len);
		talloc_free(s);
		return out;
	}
	case SMS_UCS2:
		return text_ucs2be_to_utf8(ctx, data, len);
	case SMS_LATIN1:
	default:
		return text_latin1_to_utf8(ctx, data, len);
	}
}

/* ---- reassembly ---- */

/* A handle held, in the table of every handle held (a part or a copy of it). */
struct held {
	struct hlist_node node;
	uint64_t handle;
};

struct part {
	enum sms_alphabet alphabet;
	uint8_t *data;
	size_t len;
	int64_t smsc_time;
	struct held h;
	struct held **dups;		/* the same part seen again, under other handles */
	unsigned n_dups;
};

struct group {
	struct llist_head list;		/* in waiting (by first part) or ready (by readiness) */
	char *from;
	struct sms_concat cc;		/* total 1 for a message on its own */
	unsigned have;
	int64_t first_ms, received;
	struct part **parts;		/* cc.total slots, by seq - 1, NULL until it comes */
};

#define HELD_BUCKETS 4096

struct sms_parts {
	struct llist_head waiting, ready;
	unsigned n_waiting, n_ready, max;
	int64_t timeout_ms;
	/* Every handle held, so that finding one costs the same whatever is held (a scan of
	 * every part of every message cost seconds under a flood of 255-part messages). */
	struct hlist_head held[HELD_BUCKETS];
};

static unsigned held_bucket(uint64_t handle)
{
	return (unsigned)((handle * 0x9E3779B97F4A7C15ULL) >> 52) % HELD_BUCKETS;
}

/* Unlinks the group's handles from the table: a group is always freed through this. */
static int group_destructor(struct group *g)
{
	for (unsigned i = 0; g->parts && i < g->cc.total; i++) {
		struct part *p = g->parts[i];
		if (!p)
			continue;
		hlist_del(&p->h.node);
		for (unsigned k = 0; k < p->n_dups; k++)
			hlist_del(&p->dups[k]->node);
	}
	return 0;
}

static int parts_destructor(struct sms_parts *r)
{
	sms_parts_clear(r);
	return 0;
}

struct sms_parts *sms_parts_alloc(void *ctx, int64_t timeout_ms, unsigned max_waiting)
{
	struct sms_parts *r = talloc_zero(ctx, struct sms_parts);
	if (!r)
		return NULL;
	INIT_LLIST_HEAD(&r->waiting);
	INIT_LLIST_HEAD(&r->ready);
	for (unsigned i = 0; i < HELD_BUCKETS; i++)
		INIT_HLIST_HEAD(&r->held[i]);
	r->timeout_ms = timeout_ms;
	r->max = max_waiting ? max_waiting : 1;
	talloc_set_destructor(r, parts_destructor);
	return r;
}

void sms_parts_clear(struct sms_parts *r)
{
	struct group *g, *tmp;
	llist_for_each_entry_safe(g, tmp, &r->waiting, list) {
		llist_del(&g->list);
		talloc_free(g);
	}
	llist_for_each_entry_safe(g, tmp, &r->ready, list) {
		llist_del(&g->list);
		talloc_free(g);
	}
	r->n_waiting = r->n_ready = 0;
}

unsigned sms_parts_pending(const struct sms_parts *r)
{
	return r->n_waiting + r->n_ready;
}

unsigned sms_parts_waiting(const struct sms_parts *r)
{
	return r->n_waiting;
}

static bool holds(const struct sms_parts *r, uint64_t handle)
{
	const struct held *h;
	hlist_for_each_entry(h, &r->held[held_bucket(handle)], node)
		if (h->handle == handle)
			return true;
	return false;
}

static void make_ready(struct sms_parts *r, struct group *g)
{
	llist_del(&g->list);
	llist_add_tail(&g->list, &r->ready);
	r->n_waiting--;
	r->n_ready++;
}

int sms_parts_add(struct sms_parts *r, const struct sms_part_in *in, int64_t now_ms)
{
	if (holds(r, in->handle))
		return 1;
	struct sms_concat cc = in->cc;
	if (!cc.present || cc.total < 2 || cc.seq < 1 || cc.seq > cc.total)
		cc = (struct sms_concat){ .present = false, .total = 1, .seq = 1 };
	struct group *g = NULL;
	if (cc.total > 1) {
		struct group *it;
		llist_for_each_entry(it, &r->waiting, list) {
			if (it->cc.ref == cc.ref && it->cc.ref16 == cc.ref16 &&
			    it->cc.total == cc.total && strcmp(it->from, in->from) == 0) {
				g = it;
				break;
			}
		}
	}
	if (!g) {
		g = talloc_zero(r, struct group);
		if (!g)
			return -1;
		talloc_set_destructor(g, group_destructor);
		g->from = talloc_strdup(g, in->from);
		g->parts = talloc_zero_array(g, struct part *, cc.total);
		if (!g->from || !g->parts) {
			talloc_free(g);
			return -1;
		}
		if (r->n_waiting >= r->max)
			/* Full: the oldest goes out as it is at the next take (its parts
			 * acknowledged once stored, nothing lost). */
			make_ready(r, llist_first_entry(&r->waiting, struct group, list));
		g->cc = cc;
		g->first_ms = now_ms;
		g->received = in->received;
		llist_add_tail(&g->list, &r->waiting);
		r->n_waiting++;
	}
	struct part *p = g->parts[cc.seq - 1];
	if (p) {
		/* The same part again (resent): first text kept, both acknowledged. */
		struct held **d = talloc_realloc(g, p->dups, struct held *, p->n_dups + 1);
		if (!d)
			return -1;
		p->dups = d;
		struct held *h = talloc_zero(g, struct held);
		if (!h)
			return -1;
		h->handle = in->handle;
		hlist_add_head(&h->node, &r->held[held_bucket(h->handle)]);
		p->dups[p->n_dups++] = h;
		/* Resent again and again: released as it is, so that copies do not pile up
		 * unanswered (each is a deliver_sm or a SIM location). */
		if (p->n_dups >= SMS_PARTS_MAX_COPIES)
			make_ready(r, g);
		return 0;
	}
	p = talloc_zero(g, struct part);
	if (p)
		p->data = talloc_memdup(p, in->len ? in->data : (const uint8_t *)"",
					in->len ? in->len : 1);
	if (!p || !p->data) {
		talloc_free(p);
		if (g->have == 0) {	/* a message with no part must not wait */
			llist_del(&g->list);
			r->n_waiting--;
			talloc_free(g);
		}
		return -1;
	}
	g->parts[cc.seq - 1] = p;
	p->len = in->len;
	p->alphabet = in->alphabet;
	p->smsc_time = in->smsc_time;
	p->h.handle = in->handle;
	hlist_add_head(&p->h.node, &r->held[held_bucket(in->handle)]);
	if (++g->have == g->cc.total)
		make_ready(r, g);
	return 0;
}

static uint64_t fnv1a64(const uint8_t *b, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The text of g: runs of parts in one alphabet joined before decoding, so that a character
 * split across two parts (a UTF-16 surrogate pair, a GSM-7 escape) survives. */
static char *group_text(void *ctx, const struct group *g)
{
	char *text = talloc_strdup(ctx, "");
	for (unsigned i = 0; text && i < g->cc.total;) {
		if (!g->parts[i]) {
			i++;
			continue;
		}
		enum sms_alphabet a = g->parts[i]->alphabet;
		size_t len = 0;
		unsigned j = i;
		for (; j < g->cc.total && g->parts[j] && g->parts[j]->alphabet == a; j++)
			len += g->parts[j]->len;
		uint8_t *buf = talloc_size(ctx, len ? len : 1);
		if (!buf)
			goto fail;
		size_t off = 0;
		for (unsigned k = i; k < j; k++) {
			memcpy(buf + off, g->parts[k]->data, g->parts[k]->len);
			off += g->parts[k]->len;
		}
		char *run = sms_text_decode(ctx, a, buf, len);
		talloc_free(buf);
		if (!run)
			goto fail;
		text = talloc_strdup_append_buffer(text, run);
		talloc_free(run);
		i = j;
	}
	return text;
fail:
	talloc_free(text);
	return NULL;
}

static struct sms_parts_msg *group_release(void *ctx, const struct group *g)
{
	struct sms_parts_msg *m = talloc_zero(ctx, struct sms_parts_msg);
	if (!m)
		return NULL;
	unsigned nh = 0;
	const struct part *first = NULL;
	for (unsigned i = 0; i < g->cc.total; i++) {
		if (!g->parts[i])
			continue;
		nh += 1 + g->parts[i]->n_dups;
		if (!first)
			first = g->parts[i];
	}
	m->from = talloc_strdup(m, g->from);
	m->text = group_text(m, g);
	m->handles = talloc_array(m, uint64_t, nh ? nh : 1);
	if (!m->from || !m->text || !m->handles || !first) {
		talloc_free(m);
		return NULL;
	}
	for (unsigned i = 0; i < g->cc.total; i++) {
		const struct part *p = g->parts[i];
		if (!p)
			continue;
		m->handles[m->n_handles++] = p->h.handle;
		for (unsigned k = 0; k < p->n_dups; k++)
			m->handles[m->n_handles++] = p->dups[k]->handle;
	}
	m->have = g->have;
	m->total = g->cc.total;
	m->ref = g->cc.ref;
	m->ref16 = g->cc.ref16;
	m->smsc_time = first->smsc_time;
	m->first_handle = first->h.handle;
	m->first_hash = fnv1a64(first->data, first->len);
	m->received = g->received;
	return m;
}

unsigned sms_parts_take(struct sms_parts *r, void *ctx, int64_t now_ms,
			struct sms_parts_msg **out, unsigned max)
{
	unsigned k = 0;
	struct group *g, *tmp;
	llist_for_each_entry_safe(g, tmp, &r->waiting, list) {
		if (now_ms < g->first_ms + r->timeout_ms)
			break;	/* oldest first: the rest is younger */
		make_ready(r, g);
	}
	llist_for_each_entry_safe(g, tmp, &r->ready, list) {
		if (k >= max)
			break;
		struct sms_parts_msg *m = group_release(ctx, g);
		if (!m)
			break;	/* out of memory: left for the next round */
		out[k++] = m;
		llist_del(&g->list);
		r->n_ready--;
		talloc_free(g);
	}
	return k;
}

int64_t sms_parts_next_deadline(const struct sms_parts *r)
{
	if (!llist_empty(&r->ready))
		return 0;	/* now: any time of that clock is later */
	if (llist_empty(&r->waiting))
		return -1;
	const struct group *g = llist_first_entry(&r->waiting, struct group, list);
	return g->first_ms + r->timeout_ms;
}
