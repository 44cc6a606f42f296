/* The USSD dialogue table: see include/guichet/ussd_table.h. */
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/stat_item.h>
#include <osmocom/core/talloc.h>

#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/strhash.h"
#include "guichet/ussd_table.h"

/* Dialogues by key: two transports may hold 50,000 each (max_dialogues), and every request
 * and every screen looks its dialogue up. */
#define BUCKETS 4096

struct ussd_table {
	struct llist_head buckets[BUCKETS];
	struct llist_head all;
	unsigned n;
};

static const struct rate_ctr_desc ussd_ctr_desc[] = {
	[USSD_CTR_DIALOGUES] = { "dialogues", "USSD dialogues opened" },
	[USSD_CTR_REQUESTS] = { "requests", "USSD requests (a first request or an answer) handed to the router" },
	[USSD_CTR_SCREENS] = { "screens", "USSD screens sent, final ones included" },
	[USSD_CTR_ENDED] = { "ended", "USSD dialogues ended by a final screen" },
	[USSD_CTR_ABORTS] = { "aborts", "USSD dialogues ended by the network, the link or a timer" },
	[USSD_CTR_DROPPED] = { "dropped", "USSD screens whose dialogue had gone" },
	[USSD_CTR_TRUNCATED] = { "truncated", "USSD screens cut to fit" },
	[USSD_CTR_CAPPED] = { "capped", "New USSD dialogues refused at max_dialogues" },
	[USSD_CTR_REFUSED] = { "refused", "USSD HTTP requests refused (secret, unknown or busy session)" },
	[USSD_CTR_INVALID] = { "invalid", "USSD HTTP requests not understood" },
	[USSD_CTR_NOT_ALLOWED] = { "not_allowed", "USSD HTTP connections from an address not allowed" },
	[USSD_CTR_TIMEOUTS] = { "timeouts", "USSD HTTP connections cut at request_timeout" },
};
static const struct rate_ctr_group_desc ussd_ctrg_desc = {
	.group_name_prefix = "ussd",
	.group_description = "One USSD transport",
	.num_ctr = _USSD_CTR_N,
	.ctr_desc = ussd_ctr_desc,
};
static const struct osmo_stat_item_desc ussd_stat_desc[] = {
	{ "open", "USSD dialogues open now", "", 4, 0 },
};
static const struct osmo_stat_item_group_desc ussd_statg_desc = {
	.group_name_prefix = "ussd",
	.group_description = "One USSD transport",
	.num_items = 1,
	.item_desc = ussd_stat_desc,
};

/* ---- the table ---- */

static struct llist_head *bucket_of(const struct ussd_table *t, const char *key)
{
	return (struct llist_head *)&t->buckets[strhash(key, 0) % BUCKETS];
}

/* Freeing the table stops its timers: nothing may fire into freed memory. */
static int table_destroy(struct ussd_table *t)
{
	struct ussd_dlg *e;

	llist_for_each_entry(e, &t->all, list)
		osmo_timer_del(&e->timer);
	return 0;
}

struct ussd_table *ussd_table_create(void *ctx)
{
	struct ussd_table *t = talloc_zero(ctx, struct ussd_table);

	if (!t)
		return NULL;
	INIT_LLIST_HEAD(&t->all);
	for (unsigned i = 0; i < BUCKETS; i++)
		INIT_LLIST_HEAD(&t->buckets[i]);
	talloc_set_destructor(t, table_destroy);
	return t;
}

struct ussd_dlg *ussd_table_find(const struct ussd_table *t, const char *key)
{
	/* Once: llist_for_each_entry() evaluates its head at every turn. */
	struct llist_head *b = bucket_of(t, key);
	struct ussd_dlg *e;

	llist_for_each_entry(e, b, bucket)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

unsigned ussd_table_count_open(const struct ussd_table *t)
{
	return t->n;
}

static void timer_cb(void *data)
{
	struct ussd_dlg *e = data;

	e->expired(e);
}

struct ussd_dlg *ussd_table_add(struct ussd_table *t, const char *key)
{
	struct ussd_dlg *e = talloc_zero(t, struct ussd_dlg);

	if (!e || !(e->key = talloc_strdup(e, key))) {
		talloc_free(e);
		return NULL;
	}
	e->t = t;
	INIT_LLIST_HEAD(&e->port_list);
	osmo_timer_setup(&e->timer, timer_cb, e);
	llist_add(&e->bucket, bucket_of(t, key));
	llist_add_tail(&e->list, &t->all);
	t->n++;
	return e;
}

/* The one place an entry is freed: when neither side holds it any more. */
static void free_if_unheld(struct ussd_dlg *e)
{
	if (e->tp || e->rp)
		return;
	osmo_timer_del(&e->timer);
	llist_del(&e->bucket);
	llist_del(&e->list);
	e->t->n--;
	talloc_free(e);
}

void ussd_table_leave_router(struct ussd_dlg *e)
{
	ussd_table_disarm(e, true);
	e->rp = NULL;
	free_if_unheld(e);
}

/* ---- the transport side ---- */

int ussd_port_init(struct ussd_port *p, void *ctx, const char *name, const char *what,
		   unsigned max)
{
	memset(p, 0, sizeof(*p));
	INIT_LLIST_HEAD(&p->dialogues);
	p->what = what;
	p->max = max;
	p->ctrs = metrics_ctr_group(ctx, &ussd_ctrg_desc, name);
	p->stats = metrics_stat_group(ctx, &ussd_statg_desc, name);
	return p->ctrs && p->stats ? 0 : -1;
}

void ussd_port_count(struct ussd_port *p, enum ussd_ctr which, unsigned n)
{
	rate_ctr_add(rate_ctr_group_get_ctr(p->ctrs, which), (int)n);
}

uint64_t ussd_port_counter(const struct ussd_port *p, enum ussd_ctr which)
{
	return rate_ctr_group_get_ctr(p->ctrs, which)->current;
}

static void open_changed(struct ussd_port *p)
{
	osmo_stat_item_set(osmo_stat_item_group_get_item(p->stats, 0), (int32_t)p->open);
}

bool ussd_port_room(struct ussd_port *p)
{
	if (p->open < p->max) {
		if (p->full)
			glog(GLOG_USSD, LOGL_NOTICE, NULL, "%s below the limit again: new ones "
			     "accepted", p->what);
		p->full = false;
		return true;
	}
	if (!p->full)
		glog(GLOG_USSD, LOGL_ERROR, NULL, "%s at the limit (max_dialogues %u): new ones "
		     "refused with an END screen", p->what, p->max);
	p->full = true;
	ussd_port_count(p, USSD_CTR_CAPPED, 1);
	return false;
}

struct ussd_dlg *ussd_table_open(struct ussd_table *t, struct ussd_port *p, const char *key,
				 void *tp)
{
	struct ussd_dlg *e = ussd_table_find(t, key);

	/* An entry only the router holds (an answer owed by SMS) under a key the network has
	 * reused: the transport takes it, and the router sees a BEGIN on a dialogue it has. */
	if (e && e->tp)
		return NULL;
	if (!e && !(e = ussd_table_add(t, key)))
		return NULL;
	e->port = p;
	e->tp = tp;
	llist_add(&e->port_list, &p->dialogues);
	p->open++;
	ussd_port_count(p, USSD_CTR_DIALOGUES, 1);
	open_changed(p);
	return e;
}

void ussd_table_leave_transport(struct ussd_dlg *e)
{
	struct ussd_port *p = e->port;

	ussd_table_disarm(e, false);
	if (p) {
		llist_del_init(&e->port_list);
		p->open--;
		open_changed(p);
		e->port = NULL;
	}
	e->tp = NULL;
	free_if_unheld(e);
}

struct ussd_dlg *ussd_port_first(const struct ussd_port *p)
{
	return llist_empty(&p->dialogues) ? NULL
		: llist_first_entry(&p->dialogues, struct ussd_dlg, port_list);
}

/* ---- the timer ---- */

void ussd_table_arm(struct ussd_dlg *e, unsigned ms, bool router, ussd_expired_fn fn)
{
	e->expired = fn;
	e->timer_router = router;
	osmo_timer_schedule(&e->timer, ms / 1000, (ms % 1000) * 1000);
}

void ussd_table_disarm(struct ussd_dlg *e, bool router)
{
	if (e->timer_router == router)
		osmo_timer_del(&e->timer);
}
