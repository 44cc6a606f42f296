/* The dialogues a USSD transport holds: found by key through a hash, counted, and capped at
 * max_dialogues. At the cap a new dialogue is refused: counted, and logged once when the cap
 * is reached and once when it is left. Both transports (ussd_gsup, ussd_http) keep theirs in
 * one, so the cap behaves the same on GSUP and on the aggregator callback.
 *
 * An entry is embedded in the transport's own dialogue structure (container_of); the table
 * allocates nothing. */
#ifndef GUICHET_USSD_TABLE_H
#define GUICHET_USSD_TABLE_H

#include <stdbool.h>
#include <osmocom/core/linuxlist.h>

#define USSD_TABLE_BUCKETS 1024

struct ussd_table_entry {
	struct llist_head bucket;
	const char *key;	/* the owner's string, alive as long as the entry */
};

struct ussd_table {
	struct llist_head buckets[USSD_TABLE_BUCKETS];
	const char *what;	/* "USSD dialogues (GSUP)": the subject of the log lines */
	unsigned open, max;
	bool full;
	unsigned long refused;	/* new dialogues refused at the cap */
};

void ussd_table_init(struct ussd_table *t, const char *what, unsigned max);
struct ussd_table_entry *ussd_table_find(const struct ussd_table *t, const char *key);
/* False when max dialogues are open: the new one is refused (counted, logged once). */
bool ussd_table_room(struct ussd_table *t);
void ussd_table_add(struct ussd_table *t, struct ussd_table_entry *e, const char *key);
void ussd_table_del(struct ussd_table *t, struct ussd_table_entry *e);
/* Any entry, NULL when none: to end them all. */
struct ussd_table_entry *ussd_table_any(const struct ussd_table *t);

#endif
