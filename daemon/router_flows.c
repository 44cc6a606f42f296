/* The flow sets the router keeps (router_run.h): the current one, which new sessions start
 * on, and the older ones until no session can still be running on them (a reload never
 * changes a procedure under someone's feet). */
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/talloc.h>

#include "guichet/router_run.h"

struct flowset_entry {
	struct llist_head list;
	struct flow_set *fs;
	int64_t last_used;	/* unix seconds: retired once no session can still be on it */
};

const struct flow_set *router_flows_for(struct router *r, const struct session *s)
{
	struct flowset_entry *e;

	if (s->state == SESSION_IDLE)
		return r->flows;
	llist_for_each_entry(e, &r->flowsets, list) {
		if (e->fs->version == s->flow_version) {
			e->last_used = now_s();
			return e->fs;
		}
	}
	return r->flows;	/* after a restart: the current set, by flow and step names */
}

static unsigned longest_timeout(const struct flow_set *fs)
{
	unsigned t = 15 * 60;

	for (unsigned i = 0; i < fs->n_flows; i++)
		if (fs->flows[i].timeout_s > t)
			t = fs->flows[i].timeout_s;
	return t;
}

void router_retire_flowsets(struct router *r, int64_t now)
{
	struct flowset_entry *e, *tmp;

	llist_for_each_entry_safe(e, tmp, &r->flowsets, list) {
		if (e->fs == r->flows)
			continue;
		if (now - e->last_used > (int64_t)longest_timeout(e->fs) + 60) {
			llist_del(&e->list);
			talloc_free(e->fs);
			talloc_free(e);
		}
	}
}

void router_set_flows(struct router *r, struct flow_set *fs)
{
	struct flowset_entry *e = talloc_zero(r, struct flowset_entry);

	talloc_steal(e, fs);
	e->fs = fs;
	e->last_used = now_s();
	if (r->flows) {
		struct flowset_entry *old;
		llist_for_each_entry(old, &r->flowsets, list)
			if (old->fs == r->flows)
				old->last_used = now_s();
		if (fs->version <= r->flows->version)
			fs->version = r->flows->version + 1;
	}
	llist_add_tail(&e->list, &r->flowsets);
	r->flows = fs;
}

const struct flow_set *router_flows(const struct router *r)
{
	return r->flows;
}
