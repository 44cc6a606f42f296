/* The sender of the schedule: messages Guichet sends first (API notifications, reminders,
 * receipts), taken from the store (store.h, the schedule) when due, in bounded batches.
 *
 * For each due message, in one transaction per batch: past not_after → expired; the number
 * opted out (STOP) → refused "opt-out"; a destination the cost guard refuses → refused
 * "destination"; quiet hours → deferred to the next allowed time; pacing (parts per second
 * per transport) → left for later; the day's spend cap → refused "spend cap"; otherwise into
 * the router's outbox (router_notify_queue), so transports, retries and sent marks are the
 * replies'. One osmo timer waits for the next due time: memory does not grow with the
 * schedule. Replies to a person who wrote never come here: they are never deferred. A
 * receipt (origin receipt) answers what the person just did: neither quiet hours, pacing
 * nor their STOP hold it; the guard still applies. */
#ifndef GUICHET_SCHEDULER_H
#define GUICHET_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/store.h"
#include "guichet/ydoc.h"

struct router;

/* Quiet hours: nothing sent first between start and end (minutes after local midnight; end <
 * start crosses midnight; start == end: no quiet hours), nor on the days of days_mask (bit
 * 0 = Sunday ... bit 6 = Saturday), in the time zone tz (system tz database name). */
struct quiet_hours {
	unsigned start_min, end_min;
	unsigned days_mask;
	const char *tz;
};

/* The first time at or after t_ms (unix ms) outside quiet hours, in q->tz (its file read
 * once, tzfile.h; the process's TZ is neither read nor changed). */
int64_t quiet_next(const struct quiet_hours *q, int64_t t_ms);
/* Reads zone tz for quiet_next (guichetd at start, so a zone file that does not read is
 * refused then). It leaves the process's TZ alone: quiet hours never depend on it (guichetd
 * names it for the reminders with remind_use_zone, once, before its threads). 0, or -1 when
 * the tz database has no such zone or its file is not a TZif file. */
int quiet_use_tz(const char *tz);
/* True when the system tz database has tz ("Europe/Paris"). */
bool quiet_tz_known(const char *tz);

struct pace {
	const char *via;	/* transport name */
	unsigned parts_per_s;
};

struct notify_config {
	struct quiet_hours quiet;
	unsigned pace_default;	/* parts per second per transport for messages sent first
				 * (0: no pacing) */
	unsigned n_pace;
	struct pace *pace;	/* per transport */
	unsigned n_stop, n_start;
	const char **stop;	/* words that opt a number out (STOP, ARRÊT), compared without
				 * case or accents */
	const char **start;	/* words that opt it back in (START) */
	const char *via;	/* default transport or group for messages with no via (NULL: the
				 * first registered) */
	unsigned batch;		/* due messages read at once (default 200) */
	const char *status_call;	/* "backend.operation" told of each status the scheduler
					 * gives (id, status, reason, reference, origin; never
					 * the number nor the text), or NULL */
};

/* The defaults: quiet 20:00–08:00 and Sundays in Europe/Paris, pacing 10 parts/s, STOP and
 * ARRÊT / ARRET, START. Strings are static. */
void notify_config_defaults(struct notify_config *c);
/* The `notify:` section (NULL n: the defaults), under ctx; errors go to y's diagnostics. */
struct notify_config *notify_config_parse(void *ctx, struct ydoc *y, yaml_node_t *n);
/* +1 when text is a stop word, -1 a start word, 0 neither (trimmed, any case, accents
 * folded: "Arrêt" = "ARRET"). */
int notify_keyword(const struct notify_config *c, const char *text);

struct scheduler;

/* The scheduler reads st, hands messages to r; neither is owned. cfg is copied. */
struct scheduler *scheduler_create(void *ctx, const struct notify_config *cfg,
				   struct store *st, struct router *r);
void scheduler_configure(struct scheduler *s, const struct notify_config *cfg);
/* Something was scheduled (API, flow): look at the schedule again now. */
void scheduler_kick(struct scheduler *s);
/* One pass at now_ms (the timer calls it; tests call it with their own clock): handles every
 * message due, batch after batch, until none is due or pacing holds the rest. Returns the
 * number of messages whose status changed, or -1 on a store error. */
int scheduler_run(struct scheduler *s, int64_t now_ms);
/* With a fixed clock (tests): scheduler_run uses the given time and the timer is not armed. */
void scheduler_set_manual(struct scheduler *s, bool manual);

enum scheduler_ctr {
	SCHED_CTR_SENT, SCHED_CTR_DEFERRED, SCHED_CTR_REFUSED, SCHED_CTR_EXPIRED,
	_SCHED_CTR_N
};
uint64_t scheduler_counter(const struct scheduler *s, enum scheduler_ctr which);

#endif
