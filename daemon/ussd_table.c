/* See include/guichet/ussd_table.h. */
#include <string.h>

#include "guichet/log.h"
#include "guichet/strhash.h"
#include "guichet/ussd_table.h"

static struct llist_head *bucket_of(const struct ussd_table *t, const char *key)
{
	return (struct llist_head *)&t->buckets[strhash(key, 0) % USSD_TABLE_BUCKETS];
}

void ussd_table_init(struct ussd_table *t, const char *what, unsigned max)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < USSD_TABLE_BUCKETS; i++)
		INIT_LLIST_HEAD(&t->buckets[i]);
	t->what = what;
	t->max = max;
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
	t->refused++;
	return false;
}

void ussd_table_add(struct ussd_table *t, struct ussd_table_entry *e, const char *key)
{
	e->key = key;
	llist_add(&e->bucket, bucket_of(t, key));
	t->open++;
}

void ussd_table_del(struct ussd_table *t, struct ussd_table_entry *e)
{
	llist_del(&e->bucket);
	t->open--;
}

struct ussd_table_entry *ussd_table_any(const struct ussd_table *t)
{
	for (unsigned i = 0; i < USSD_TABLE_BUCKETS; i++)
		if (!llist_empty(&t->buckets[i]))
			return llist_first_entry(&t->buckets[i], struct ussd_table_entry, bucket);
	return NULL;
}
