/* Inside the modem transport: what its loop side (modem.c) and its thread side
 * (modem_thread.c) share. Nothing else includes this; the transport's contract is modem.h.
 *
 * The loop hands the thread malloc'd records (send_job, del_job) on lists under mu and
 * signals cv; the thread hands the loop modem_ev records on `events` under mu and writes
 * the eventfd the loop watches (ofd). Fields are marked by who may touch them. */
#ifndef GUICHET_MODEM_THREAD_H
#define GUICHET_MODEM_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>

#include "guichet/log.h"
#include "guichet/modem.h"
#include "guichet/text.h"

struct _GSM_StateMachine;	/* libGammu's; only the thread side includes gammu.h */

/* Parts of one message (libGammu's GSM_MAX_MULTI_SMS; modem_thread.c checks). */
#define MODEM_MAX_PARTS 50

/* ---- records crossing threads (malloc'd, never talloc) ---- */

struct send_job {
	struct llist_head list;
	int64_t id;
	enum text_coding coding;
	char *to, *text;	/* into buf */
	char buf[];
};

struct del_job {
	struct llist_head list;
	unsigned n;
	struct sms_loc loc[];
};

enum ev_kind { EV_PARTS, EV_REPORTS, EV_SENT, EV_FAILED, EV_UP, EV_DOWN, EV_SIGNAL };

struct modem_ev {
	struct llist_head list;
	enum ev_kind kind;
	int64_t id;
	bool permanent;
	int value;		/* EV_SIGNAL: percent; EV_SENT: parts */
	char why[160];
	unsigned n;
	struct sms_part *parts;	/* EV_PARTS: n parts, malloc'd */
	struct sms_report *reports;	/* EV_REPORTS: n reports, malloc'd */
	unsigned nrefs;		/* EV_SENT: the message reference of each part, -1 unknown */
	int refs[MODEM_MAX_PARTS];
	char to[24];		/* EV_SENT: the recipient */
};

struct modem {
	struct modem_pool *pool;
	struct modem_def def;		/* strings talloc'd under the modem, read-only */
	char *pin;			/* NULL: none */
	struct sms_transport t;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	struct llist_head sends, dels, events;
	bool stop, work;
	/* lock-free */
	atomic_int_least64_t beat_ms;
	atomic_bool hold;		/* loop -> thread: too much waits for the store */
	/* under mu: the libGammu command in progress, for the watchdog (modem_watch_thread) */
	struct _GSM_StateMachine *cmd_sm;	/* NULL: none */
	int64_t cmd_since_ms;
	bool cmd_aborted;
	pthread_t watch;		/* modem_watch_thread */
	bool watch_started;
	pthread_cond_t watch_cv;	/* signalled on stop */

	struct osmo_fd ofd;

	/* loop only */
	unsigned queued;
	bool want_ready, ever_up, store_failing;
	int64_t down_since_ms;
	struct sms_parts *reasm;
	struct sms_msg **ready;
	unsigned nready;
	struct osmo_timer_list timer;
	int64_t retry_at_ms;		/* store retry, 0: none */
	int signal;
	struct rate_ctr_group *ctrs;		/* enum modem_ctr, named after the modem */
	struct osmo_stat_item_group *stats;	/* enum modem_stat */
};


static inline struct log_fields modem_fields(const struct modem *m)
{
	return (struct log_fields){ .modem = m->def.name, .channel = "sms" };
}

/* The modem's thread: connects, polls, deletes, sends until m->stop; the only caller of
 * libGammu for this modem (m is the thread's argument). */
void *modem_thread(void *m);
/* modem_sent_log.c: appends a sent message (raw number and text, as JSON) to the modem's
 * sent_log, if it has one. A demo and test aid (config/demo.yaml, the tests), never set in
 * the production example: it holds personal data. Thread side. */
void modem_sent_log_write(const struct modem *m, const struct send_job *j, unsigned nparts);
/* The modem's watchdog thread: aborts a libGammu command that runs too long (see
 * modem_thread.c), until m->stop (signalled on watch_cv). */
void *modem_watch_thread(void *m);

#endif
