/* See include/guichet/ussd_table.h. */
#include <string.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/stat_item.h>

#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/strhash.h"
#include "guichet/ussd_table.h"

static struct llist_head *bucket_of(const struct ussd_table *t, const char *key)
{
	return (struct llist_head *)&t->buckets[strhash(key, 0) % USSD_TABLE_BUCKETS];
}

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

int ussd_table_init(struct ussd_table *t, void *ctx, const char *name, const char *what,
		    unsigned max)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < USSD_TABLE_BUCKETS; i++)
		INIT_LLIST_HEAD(&t->buckets[i]);
	t->what = what;
	t->max = max;
	t->ctrs = metrics_ctr_group(ctx, &ussd_ctrg_desc, name);
	t->stats = metrics_stat_group(ctx, &ussd_statg_desc, name);
	return t->ctrs && t->stats ? 0 : -1;
}

void ussd_table_count(struct ussd_table *t, enum ussd_ctr which, unsigned n)
{
	rate_ctr_add(rate_ctr_group_get_ctr(t->ctrs, which), (int)n);
}

uint64_t ussd_table_counter(const struct ussd_table *t, enum ussd_ctr which)
{
	return rate_ctr_group_get_ctr(t->ctrs, which)->current;
}

static void open_changed(struct ussd_table *t)
{
	osmo_stat_item_set(osmo_stat_item_group_get_item(t->stats, 0), (int32_t)t->open);
}

struct ussd_table_entry *ussd_table_find(const struct ussd_table *t, const char *key)
{
	struct ussd_table_entry *e;

	llist_for_each_entry(e, bucket_of(t, key), bucket)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

bool ussd_table_room(struct ussd_table *t)
{
	if (t->open < t->max) {
		if (t->full)
			glog(GLOG_USSD, LOGL_NOTICE, NULL, "%s below the limit again: new ones "
			     "accepted", t->what);
		t->full = false;
		return true;
	}
	if (!t->full)
		glog(GLOG_USSD, LOGL_ERROR, NULL, "%s at the limit (max_dialogues %u): new ones "
		     "refused with an END screen", t->what, t->max);
	t->full = true;
	ussd_table_count(t, USSD_CTR_CAPPED, 1);
	return false;
}

void ussd_table_add(struct ussd_table *t, struct ussd_table_entry *e, const char *key)
{
	e->key = key;
	llist_add(&e->bucket, bucket_of(t, key));
	t->open++;
	ussd_table_count(t, USSD_CTR_DIALOGUES, 1);
	open_changed(t);
}

void ussd_table_del(struct ussd_table *t, struct ussd_table_entry *e)
{
	llist_del(&e->bucket);
	t->open--;
	open_changed(t);
}

struct ussd_table_entry *ussd_table_any(const struct ussd_table *t)
{
	for (unsigned i = 0; i < USSD_TABLE_BUCKETS; i++)
		if (!llist_empty(&t->buckets[i]))
			return llist_first_entry(&t->buckets[i], struct ussd_table_entry, bucket);
	return NULL;
}
