/* Concatenated SMS reassembly, part decoding and dedup keys. Pure: no libGammu, no I/O.
 * sms_udh_concat() and sms_part_set_*() run on modem threads (they allocate nothing);
 * the rest runs on the loop. */
#include <inttypes.h>
#include <string.h>
#include <talloc.h>
#include <osmocom/core/linuxlist.h>

#include "guichet/modem.h"
#include "guichet/text.h"

bool sms_udh_concat(const uint8_t *udh, size_t len, unsigned *ref, unsigned *total,
		    unsigned *seq)
{
	if (!udh || len < 1)
		return false;
	size_t end = (size_t)udh[0] + 1;
	if (end > len)
		end = len;
	size_t i = 1;
	while (i + 2 <= end) {
		uint8_t iei = udh[i], iel = udh[i + 1];
		const uint8_t *v = udh + i + 2;
		if (i + 2 + iel > end)
			return false;
		if (iei == 0x00 && iel == 3) {
			if (v[1] == 0 || v[2] == 0 || v[2] > v[1])
				return false;
			*ref = v[0];
			*total = v[1];
			*seq = v[2];
			return true;
		}
		if (iei == 0x08 && iel == 4) {
			if (v[2] == 0 || v[3] == 0 || v[3] > v[2])
				return false;
			*ref = (unsigned)v[0] << 8 | v[1];
			*total = v[2];
			*seq = v[3];
			return true;
		}
		i += 2 + (size_t)iel;
	}
	return false;
}

void sms_part_set_8bit(struct sms_part *p, const uint8_t *data, size_t len)
{
	if (len > sizeof(p->ucs2) / 2)
		len = sizeof(p->ucs2) / 2;
	for (size_t i = 0; i < len; i++) {
		p->ucs2[2 * i] = 0;
		p->ucs2[2 * i + 1] = data[i];
	}
	p->len = (unsigned)(2 * len);
}

void sms_part_set_ucs2(struct sms_part *p, const uint8_t *ucs2, size_t units)
{
	size_t bytes = 2 * units;
	if (bytes > sizeof(p->ucs2))
		bytes = sizeof(p->ucs2);
	memcpy(p->ucs2, ucs2, bytes);
	p->len = (unsigned)bytes;
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

char *sms_dedup_key(void *ctx, const char *from, int64_t smsc_time, unsigned ref,
		    unsigned total, const struct sms_part *first)
{
	char *k = talloc_asprintf(ctx, "v1:%s:%" PRId64 ":%u/%u:%016" PRIx64, from, smsc_time,
				  ref, total, fnv1a64(first->ucs2, first->len));
	if (k && smsc_time == 0)
		k = talloc_asprintf_append(k, ":@%d.%d", first->loc.folder, first->loc.location);
	return k;
}

/* ---- reassembly ---- */

struct group {
	struct llist_head list;		/* in sms_reasm.groups, oldest first */
	char *from;
	unsigned ref, total, have;
	int64_t first_ms, first_s;
	struct sms_part **parts;	/* total slots, by seq - 1 */
};

struct sms_reasm {
	struct llist_head groups;	/* waiting for parts, at most max */
	struct llist_head due;		/* pushed out by the bound: released at the next take */
	unsigned n, n_due, timeout_s, max;
};

static int reasm_destructor(struct sms_reasm *r)
{
	struct group *g, *tmp;
	llist_for_each_entry_safe(g, tmp, &r->groups, list)
		llist_del(&g->list);
	llist_for_each_entry_safe(g, tmp, &r->due, list)
		llist_del(&g->list);
	return 0;
}

struct sms_reasm *sms_reasm_alloc(void *ctx, unsigned timeout_s, unsigned max_groups)
{
	struct sms_reasm *r = talloc_zero(ctx, struct sms_reasm);
	if (!r)
		return NULL;
	INIT_LLIST_HEAD(&r->groups);
	INIT_LLIST_HEAD(&r->due);
	r->timeout_s = timeout_s;
	r->max = max_groups ? max_groups : 1;
	talloc_set_destructor(r, reasm_destructor);
	return r;
}

static bool list_holds_location(const struct llist_head *l, struct sms_loc loc)
{
	const struct group *g;
	llist_for_each_entry(g, l, list)
		for (unsigned i = 0; i < g->total; i++)
			if (g->parts[i] && g->parts[i]->loc.folder == loc.folder &&
			    g->parts[i]->loc.location == loc.location)
				return true;
	return false;
}

static bool holds_location(const struct sms_reasm *r, struct sms_loc loc)
{
	return list_holds_location(&r->groups, loc) || list_holds_location(&r->due, loc);
}

int sms_reasm_add(struct sms_reasm *r, const struct sms_part *p, int64_t now_ms, int64_t now_s)
{
	if (holds_location(r, p->loc))
		return 1;
	unsigned total = p->total ? p->total : 1;
	unsigned seq = p->seq ? p->seq : 1;
	if (seq > total) {
		total = 1;
		seq = 1;
	}
	struct group *g = NULL;
	if (total > 1) {
		struct group *it;
		llist_for_each_entry(it, &r->groups, list)
			if (it->total == total && it->ref == p->ref && !strcmp(it->from, p->from)) {
				g = it;
				break;
			}
	}
	if (g && g->parts[seq - 1])
		return 1;	/* the same part twice (resent by the network): keep the first */
	if (!g) {
		if (r->n >= r->max) {
			/* Full: the oldest goes out as it is at the next take (its parts deleted
			 * once stored, nothing lost), so no more than max wait for parts. */
			struct group *old = llist_first_entry(&r->groups, struct group, list);
			llist_del(&old->list);
			llist_add_tail(&old->list, &r->due);
			r->n--;
			r->n_due++;
		}
		g = talloc_zero(r, struct group);
		if (!g)
			return -1;
		g->from = talloc_strdup(g, p->from);
		g->parts = talloc_zero_array(g, struct sms_part *, total);
		if (!g->from || !g->parts) {
			talloc_free(g);
			return -1;
		}
		g->total = total;
		g->ref = total > 1 ? p->ref : 0;
		g->first_ms = now_ms;
		g->first_s = now_s;
		llist_add_tail(&g->list, &r->groups);
		r->n++;
	}
	struct sms_part *c = talloc_memdup(g, p, sizeof(*p));
	if (!c)
		return -1;
	c->total = total;
	c->seq = seq;
	g->parts[seq - 1] = c;
	g->have++;
	return 0;
}

static struct sms_msg *group_release(void *ctx, struct group *g)
{
	struct sms_msg *m = talloc_zero(ctx, struct sms_msg);
	if (!m)
		return NULL;
	size_t len = 0;
	const struct sms_part *first = NULL;
	for (unsigned i = 0; i < g->total; i++)
		if (g->parts[i]) {
			len += g->parts[i]->len;
			if (!first)
				first = g->parts[i];
		}
	uint8_t *buf = talloc_size(m, len ? len : 1);
	m->locs = talloc_array(m, struct sms_loc, g->have);
	if (!buf || !m->locs)
		goto fail;
	size_t off = 0;
	for (unsigned i = 0; i < g->total; i++) {
		const struct sms_part *p = g->parts[i];
		if (!p)
			continue;
		memcpy(buf + off, p->ucs2, p->len);
		off += p->len;
		m->locs[m->nloc++] = p->loc;
	}
	m->text = text_ucs2be_to_utf8(m, buf, len);
	m->from = talloc_strdup(m, g->from);
	m->smsc_time = first->smsc_time;
	m->dedup = sms_dedup_key(m, g->from, first->smsc_time, g->ref, g->total, first);
	m->received = g->first_s;
	m->have = g->have;
	m->total = g->total;
	talloc_free(buf);
	if (!m->text || !m->from || !m->dedup)
		goto fail;
	return m;
fail:
	talloc_free(m);
	return NULL;
}

unsigned sms_reasm_take(struct sms_reasm *r, void *ctx, int64_t now_ms, struct sms_msg **out,
			unsigned max)
{
	unsigned k = 0;
	struct group *g, *tmp;
	llist_for_each_entry_safe(g, tmp, &r->due, list) {
		if (k >= max)
			return k;
		struct sms_msg *m = group_release(ctx, g);
		if (!m)
			return k;	/* out of memory: leave it for the next round */
		out[k++] = m;
		llist_del(&g->list);
		r->n_due--;
		talloc_free(g);
	}
	llist_for_each_entry_safe(g, tmp, &r->groups, list) {
		if (k >= max)
			break;
		bool due = g->have == g->total ||
			   now_ms >= g->first_ms + (int64_t)r->timeout_s * 1000;
		if (!due)
			continue;
		struct sms_msg *m = group_release(ctx, g);
		if (!m)
			break;	/* out of memory: leave it for the next round */
		out[k++] = m;
		llist_del(&g->list);
		r->n--;
		talloc_free(g);
	}
	return k;
}

int64_t sms_reasm_next_deadline(const struct sms_reasm *r)
{
	int64_t best = -1;
	const struct group *g;
	if (!llist_empty(&r->due))
		return llist_first_entry(&r->due, struct group, list)->first_ms;
	llist_for_each_entry(g, &r->groups, list) {
		int64_t d = g->have == g->total ? g->first_ms
						: g->first_ms + (int64_t)r->timeout_s * 1000;
		if (best < 0 || d < best)
			best = d;
	}
	return best;
}

unsigned sms_reasm_pending(const struct sms_reasm *r)
{
	return r->n + r->n_due;
}

unsigned sms_reasm_waiting(const struct sms_reasm *r)
{
	return r->n;
}
