/* The USSD dialogue table: ONE entry per dialogue, whoever holds it. A dialogue has two
 * sides and both hang off the same entry:
 *   - the transport side (ussd_gsup, ussd_http): how to reach the network for it (tp), and
 *     the transport's counters and cap (port: max_dialogues, the ussd_* series);
 *   - the router side (ussd_dialogue.c): the person's session and the screen owed (rp).
 * The transport opens the entry (ussd_table_open) and hands the request to the sink with the
 * entry's key; the router finds the same entry (ussd_table_find) and hangs its side on it.
 * Callers without a transport (guichet simulate/test, unit tests) let the router open the
 * entry itself (ussd_table_add, no port).
 *
 * Each side lets go on its own (ussd_table_leave_transport / _router); the entry is freed
 * once, when the last side has let go. A transport that aborts still tells the router through
 * its sink (sink.abort): the router then lets go too, unless it still owes the person an
 * answer by SMS (the network side is already closed then).
 *
 * One timer per entry, one policy: while a screen is owed and a back-end call is out, the
 * router's answer deadline (ussd_answer_ms); while the person has the screen, the transport's
 * idle deadline (GSUP guard_timeout, HTTP session_s). Arming replaces what was armed; a side
 * letting go stops the timer it armed.
 *
 * One table per process (the router's, given to transports in struct ussd_sink); a transport
 * given a sink without one (a test stub) makes its own. The table outlives the transports
 * that use it (transports stop before the router is freed). */
#ifndef GUICHET_USSD_TABLE_H
#define GUICHET_USSD_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/timer.h>

/* The counters of one USSD transport: a rate_ctr group (prefix "ussd", label name="gsup" or
 * "http") held by its port, on /metrics; the table counts dialogues and capped itself,
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
struct ussd_table;

/* One transport's share of the table: its open dialogues, their cap, its counters. */
struct ussd_port {
	struct llist_head dialogues;	/* its entries (struct ussd_dlg.port_list) */
	const char *what;	/* "USSD dialogues (GSUP)": the subject of the log lines */
	unsigned open, max;
	bool full;
	struct rate_ctr_group *ctrs;		/* enum ussd_ctr */
	struct osmo_stat_item_group *stats;	/* open */
};

struct ussd_dlg;
typedef void (*ussd_expired_fn)(struct ussd_dlg *e);

struct ussd_dlg {
	struct llist_head bucket;	/* in the table, by key */
	struct llist_head list;		/* every entry of the table */
	struct llist_head port_list;	/* in port->dialogues while the transport holds it */
	struct ussd_table *t;
	char *key;			/* "<imsi>:<session id>", "http:<id>", a test's id */
	struct ussd_port *port;		/* the transport's share; NULL without a transport */
	void *tp;			/* the transport's side; NULL once it let go */
	void *rp;			/* the router's side; NULL when none */
	struct osmo_timer_list timer;	/* the one timer (see above) */
	ussd_expired_fn expired;
	bool timer_router;		/* the router armed it (else the transport) */
};

/* Under ctx; freeing it stops every entry's timer (no side is called). */
struct ussd_table *ussd_table_create(void *ctx);
struct ussd_dlg *ussd_table_find(const struct ussd_table *t, const char *key);
/* Entries in the table (dialogues either side holds). */
unsigned ussd_table_count_open(const struct ussd_table *t);

/* ---- the transport side ---- */
/* Its counters are talloc children of ctx, named name ("gsup", "http"). -1: no memory. */
int ussd_port_init(struct ussd_port *p, void *ctx, const char *name, const char *what,
		   unsigned max);
void ussd_port_count(struct ussd_port *p, enum ussd_ctr which, unsigned n);
uint64_t ussd_port_counter(const struct ussd_port *p, enum ussd_ctr which);
/* False when max dialogues are open: the new one is refused (counted, logged once). */
bool ussd_port_room(struct ussd_port *p);
/* A new dialogue held by the transport tp (counted on p). NULL: no memory, or key taken. */
struct ussd_dlg *ussd_table_open(struct ussd_table *t, struct ussd_port *p, const char *key,
				 void *tp);
/* The transport's side is done; frees the entry if the router holds no side. */
void ussd_table_leave_transport(struct ussd_dlg *e);
/* One of p's dialogues, NULL when none: to end them all. */
struct ussd_dlg *ussd_port_first(const struct ussd_port *p);

/* ---- the router side ---- */
/* A new entry without transport (a caller that runs the router alone). NULL: no memory. */
struct ussd_dlg *ussd_table_add(struct ussd_table *t, const char *key);
/* The router's side is done; frees the entry if no transport holds it. */
void ussd_table_leave_router(struct ussd_dlg *e);

/* ---- the timer ---- */
/* Arms the entry's one timer for the router (true) or the transport, replacing what was
 * armed; fn is called once at expiry. */
void ussd_table_arm(struct ussd_dlg *e, unsigned ms, bool router, ussd_expired_fn fn);
/* Stops the timer if that side armed it: a side never stops the other's deadline. */
void ussd_table_disarm(struct ussd_dlg *e, bool router);

#endif
