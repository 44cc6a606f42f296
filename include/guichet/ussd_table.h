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
#include <stdint.h>
#include <osmocom/core/linuxlist.h>

#define USSD_TABLE_BUCKETS 1024

struct ussd_table_entry {
	struct llist_head bucket;
	const char *key;	/* the owner's string, alive as long as the entry */
};

/* The counters of one USSD transport: a rate_ctr group (prefix "ussd", label name="gsup" or
 * "http") held by its table, on /metrics; the table counts dialogues and capped itself,
 * the transport the rest. A counter one transport has no use for stays 0 there. Open
 * dialogues are the gauge guichet_ussd_open. */
enum ussd_ctr {
	USSD_CTR_DIALOGUES,	/* dialogues opened */
	USSD_CTR_REQUESTS,	/* requests (a BEGIN or an answer) handed to the router */
	USSD_CTR_SCREENS,	/* screens sent, final ones included */
	USSD_CTR_ENDED,		/* dialogues ended by a final screen */
	USSD_CTR_ABORTS,	/* dialogues ended by the network, the link or a timer */
	USSD_CTR_DROPPED,	/* screens whose dialogue had gone */
	USSD_CTR_TRUNCATED,	/* screens cut to fit */
	USSD_CTR_CAPPED,	/* new dialogues refused at max_dialogues */
	USSD_CTR_REFUSED,	/* HTTP: requests refused (bad secret, unknown or busy session) */
	USSD_CTR_INVALID,	/* HTTP: requests not understood */
	USSD_CTR_NOT_ALLOWED,	/* HTTP: connections from an address not allowed */
	USSD_CTR_TIMEOUTS,	/* HTTP: connections cut at request_timeout */
	_USSD_CTR_N
};

struct rate_ctr_group;
struct osmo_stat_item_group;

struct ussd_table {
	struct llist_head buckets[USSD_TABLE_BUCKETS];
	const char *what;	/* "USSD dialogues (GSUP)": the subject of the log lines */
	unsigned open, max;
	bool full;
	struct rate_ctr_group *ctrs;		/* enum ussd_ctr */
	struct osmo_stat_item_group *stats;	/* open */
};

/* Its counters are talloc children of ctx, named name ("gsup", "http"). -1: no memory. */
int ussd_table_init(struct ussd_table *t, void *ctx, const char *name, const char *what,
		    unsigned max);
void ussd_table_count(struct ussd_table *t, enum ussd_ctr which, unsigned n);
uint64_t ussd_table_counter(const struct ussd_table *t, enum ussd_ctr which);
struct ussd_table_entry *ussd_table_find(const struct ussd_table *t, const char *key);
/* False when max dialogues are open: the new one is refused (counted, logged once). */
bool ussd_table_room(struct ussd_table *t);
void ussd_table_add(struct ussd_table *t, struct ussd_table_entry *e, const char *key);
void ussd_table_del(struct ussd_table *t, struct ussd_table_entry *e);
/* Any entry, NULL when none: to end them all. */
struct ussd_table_entry *ussd_table_any(const struct ussd_table *t);

#endif
