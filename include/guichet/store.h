/* The durable store: inbound messages, the outbound queue, sessions.
 *
 * An interface with two implementations: SQLite (store_sqlite.c, production: WAL,
 * synchronous=FULL, file created 0600) and memory (store_mem.c, unit tests). Writes made
 * between store_begin() and store_commit() become durable together at the commit, which is
 * how the router batches many messages into one fsync.
 *
 * PostgreSQL (store_pg.c) pipelines the writes whose outcome nobody waits for inside a
 * transaction: inbound_done, outbound_taken, outbound_sent, outbound_remote, session_put,
 * session_del and spend_add return 0 there without waiting, and one that fails makes the
 * next operation or the commit fail (outside a transaction they answer as described). */
#ifndef GUICHET_STORE_H
#define GUICHET_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/session.h"
#include "guichet/text.h"

struct store;

struct store_inbound {
	int64_t id;		/* assigned by the store */
	enum channel channel;
	const char *via;	/* transport instance: modem or SMSC name */
	const char *from;	/* the person's number */
	const char *text;
	int64_t received;	/* unix seconds */
	const char *dedup;	/* transport's identity of the message (may be NULL): a second
				 * inbound with the same via+dedup is recognised, not stored */
};

struct store_outbound {
	int64_t id;
	const char *via;	/* transport to send through */
	const char *to;
	const char *text;
	enum text_coding coding;
	unsigned parts;
	unsigned attempts;
	int64_t not_before;	/* unix ms: retry backoff */
};

/* A message to send first (not a reply): from the notification API, a flow's reminder or
 * receipt. The schedule holds it until send_at; the scheduler (scheduler.h) then applies
 * consent, the cost guard, quiet hours and pacing, and hands it to the outbox. */
enum sched_origin { SCHED_API, SCHED_REMIND, SCHED_RECEIPT, SCHED_NOTIFY, _SCHED_ORIGIN_N };
enum sched_status {
	SCHED_QUEUED,		/* waiting for send_at */
	SCHED_DEFERRED,		/* waiting for the end of quiet hours (send_at moved) */
	SCHED_SENT,		/* handed to the outbox (outbound_id) */
	SCHED_DELIVERED,	/* the network says it reached the phone */
	SCHED_FAILED,		/* the outbox gave up */
	SCHED_EXPIRED,		/* not_after passed before it could go */
	SCHED_REFUSED,		/* opt-out, limits, destination: reason says which */
	SCHED_CANCELLED,
	_SCHED_STATUS_N
};

struct store_scheduled {
	int64_t id;		/* assigned by the store */
	const char *to;		/* E.164; NULL once purged */
	const char *text;	/* rendered; NULL for a flow opening (flow+step), or once purged */
	const char *via;	/* transport or group; NULL: the default */
	const char *flow, *step;	/* a procedure to open with the person, or NULL */
	const char *vars;	/* its variables as a JSON object, or NULL */
	int64_t send_at;	/* unix ms */
	int64_t not_after;	/* unix ms; 0: no limit */
	const char *reference;	/* the caller's (ANNULER <ref>), or NULL */
	const char *idempotency_key;	/* unique among all scheduled messages, or NULL */
	enum sched_origin origin;
	enum sched_status status;
	const char *reason;	/* why refused, failed, deferred..., or NULL */
	int64_t created;	/* unix seconds */
	int64_t outbound_id;	/* the outbox row once sent, else 0 */
};

const char *sched_status_name(enum sched_status s);
const char *sched_origin_name(enum sched_origin o);
/* -1 when the name is none of them. */
int sched_status_parse(const char *name);
int sched_origin_parse(const char *name);
/* Queued and deferred messages may still change; the others are final. */
static inline bool sched_status_open(enum sched_status s)
{
	return s == SCHED_QUEUED || s == SCHED_DEFERRED;
}

/* A USSD aggregator dialogue's state, shared by the hosts of one database (the ussd_* ops)
 * so that a request a load balancer sends to another host continues the dialogue there.
 * GSUP dialogues are not shared: the HLR talks to one host for the whole dialogue. */
struct store_ussd {
	const char *id;		/* the dialogue ("http:<sessionId>") */
	const char *via;	/* the transport that holds it ("http") */
	const char *from;	/* the person's number: personal data, never logged raw */
	const char *code;	/* the service code dialled */
	const char *history;	/* the aggregator's `text` of the last request answered */
	const char *session;	/* session_encode() of the router's session: like a stored
				 * SMS session, it never holds a secret answer */
	size_t session_len;
	int64_t step;		/* screens sent in the dialogue: a put stores one more than
				 * the state it continued (1 for the first screen) */
	int64_t expires_at;	/* unix seconds: from then on the row is as if absent */
};

struct store_counters {
	uint64_t inbound_pending, outbound_pending, sessions, duplicate_sends;
};

struct store_ops {
	const char *name;
	int (*begin)(struct store *st);
	int (*commit)(struct store *st);
	int (*rollback)(struct store *st);

	/* 0 = stored (id set), 1 = already known (duplicate of via+dedup), -1 = error */
	int (*inbound_add)(struct store *st, struct store_inbound *in);
	/* 0, 1 when no inbound has that id, -1 on error. */
	int (*inbound_done)(struct store *st, int64_t id);
	/* The inbound's text answered a secret question: its body is erased, and its dedup key
	 * too (it holds a hash of the text, from which a short code is found by trying them
	 * all). Called in the transaction that added it, the text never reaches the file. The
	 * price: a re-read of that one message after a crash at that moment is not recognised.
	 * 0, 1 when no inbound has that id, -1 on error. */
	int (*inbound_forget)(struct store *st, int64_t id);
	/* Calls fn for every inbound not yet done, oldest first (after a restart). The rows are
	 * read before the first call, so fn may use the store (mark done, add replies); in is
	 * valid only during the call. */
	int (*inbound_pending)(struct store *st, void (*fn)(void *data, const struct store_inbound *in),
			       void *data);

	int (*outbound_add)(struct store *st, struct store_outbound *out);
	/* Up to max messages due at now_ms for via (NULL: any), oldest first, not handed out
	 * to a transport. At open, messages left "taken" by a crash become due again and are
	 * counted in duplicate_sends (the modem may have sent them before the crash). */
	int (*outbound_due)(struct store *st, const char *via, int64_t now_ms,
			    struct store_outbound *out, unsigned max, void *ctx);
	/* taken: handed to a transport (durable at the next commit), attempts + 1; sent: done
	 * (the row loses its body and number); failed: back in the queue at not_before_ms, or
	 * dead when give_up. Each returns 0, 1 when no message has that id in a state that
	 * allows the change (taken: queued; sent, failed: queued or taken), -1 on error.
	 * outbound_due returns the number of messages written to out (strings under ctx). */
	int (*outbound_taken)(struct store *st, int64_t id);
	int (*outbound_sent)(struct store *st, int64_t id);
	int (*outbound_failed)(struct store *st, int64_t id, int64_t not_before_ms, bool give_up);
	/* How many times message id was taken (attempts, kept across restarts): 0 with *n set,
	 * 1 when no message has that id, -1 on error. The outbox's retry delay grows with it. */
	int (*outbound_attempts)(struct store *st, int64_t id, unsigned *n);

	/* get, del: 0 = found, 1 = none, -1 = error. Session vars are decoded under ctx. */
	int (*session_get)(struct store *st, const char *key, struct session *s, void *ctx);
	int (*session_put)(struct store *st, const struct session *s);
	int (*session_del)(struct store *st, const char *key);
	/* Calls fn for each stored session (after a restart, to re-arm timers or resume), in key
	 * order. Each session's vars live under a child of ctx freed after fn returns: fn copies
	 * (session_copy) what it keeps. Rows are read before the first call, so fn may use the
	 * store. A row that does not decode is skipped (store_last_error says so). A store
	 * shared by several hosts (PostgreSQL) leaves out the sessions waiting for a back-end
	 * call that another live host is making: that host applies the answer. */
	int (*session_each)(struct store *st, void (*fn)(void *data, const struct session *s),
			    void *data, void *ctx);

	/* Drops message bodies and numbers older than keep_s and sessions past their
	 * deadline; returns the number of rows removed or -1. Removed: done inbound received
	 * before now - keep_s, sent or dead outbound created before now - keep_s, sessions with
	 * 0 < deadline < now. Scheduled messages in a final status created before now - keep_s
	 * lose their number, text and vars (the status row stays, for GET and idempotency). */
	int (*purge)(struct store *st, int64_t now, unsigned keep_s);
	/* The cost guard's daily spend in SMS parts per transport, kept across restarts.
	 * spend_add adds parts to (day, via), inside the caller's transaction (no commit of its
	 * own); spend_get calls fn for each transport with a spend on day. Days older than 31
	 * before now are dropped by purge. 0 or -1. */
	int (*spend_add)(struct store *st, int64_t day, const char *via, unsigned parts);
	int (*spend_get)(struct store *st, int64_t day,
			 void (*fn)(void *data, const char *via, uint64_t parts), void *data);
	/* ---- the schedule (messages sent first) and consent ----
	 * schedule_add: 0 = stored (m->id set), 1 = a message with the same idempotency_key
	 * exists (m->id set to it, nothing changed), -1 = error. status is stored as given
	 * (queued, or refused at once); created is set by the store. */
	int (*schedule_add)(struct store *st, struct store_scheduled *m);
	/* 0 = found (strings under ctx), 1 = no such id, -1 = error. */
	int (*schedule_get)(struct store *st, int64_t id, struct store_scheduled *m, void *ctx);
	/* Up to max messages queued or deferred with send_at <= now_ms, earliest first (then
	 * by id), strings under ctx. Nothing changes: the caller marks each one. Returns the
	 * number written to out, or -1. */
	int (*schedule_due)(struct store *st, int64_t now_ms, struct store_scheduled *out,
			    unsigned max, void *ctx);
	/* The earliest send_at of a queued or deferred message: 0 with *when_ms set, 1 when
	 * there is none, -1 on error. The scheduler sets its one timer to it. */
	int (*schedule_next)(struct store *st, int64_t *when_ms);
	/* Moves an open (queued/deferred) message to status with reason (may be NULL);
	 * send_at_ms > 0 also moves its time (deferred), outbound_id > 0 links it to the
	 * outbox row (sent). 0, 1 when no open message has that id, -1 on error. */
	int (*schedule_mark)(struct store *st, int64_t id, enum sched_status status,
			     const char *reason, int64_t send_at_ms, int64_t outbound_id);
	/* The outcome of the outbox row a message went out as (delivered, failed): 0, 1 when
	 * no sent message is linked to that outbound id, -1 on error. */
	int (*schedule_outbound_status)(struct store *st, int64_t outbound_id,
					enum sched_status status, const char *reason);
	/* Optional (NULL: receipts match only while the transport remembers the ids). The id
	 * the SMSC gave a part of outbound row id (submit_sm_resp) through via, kept like the
	 * outbox rows (purge), so that a delivery receipt after a restart finds its message:
	 * outbound_remote 0 or -1; outbound_by_remote 0 with *id set, 1 unknown, -1 error. */
	int (*outbound_remote)(struct store *st, int64_t id, const char *via, const char *remote);
	int (*outbound_by_remote)(struct store *st, const char *via, const char *remote,
				  int64_t *id);
	/* Cancels an open message: 0, 1 when none is open with that id, -1. */
	int (*schedule_cancel)(struct store *st, int64_t id);
	/* Cancels the open messages with that reference (and to that number when to is not
	 * NULL): the number cancelled, or -1. */
	int (*schedule_cancel_ref)(struct store *st, const char *reference, const char *to);
	/* Consent: STOP remembered per number until START. optout_set keeps the first since;
	 * optout_is: 1 opted out, 0 not, -1 error. */
	int (*optout_set)(struct store *st, const char *number, int64_t since);
	int (*optout_clear)(struct store *st, const char *number);
	int (*optout_is)(struct store *st, const char *number);
	int (*counters)(struct store *st, struct store_counters *c);
	/* Optional (NULL: nothing to check). 0 while the store is still the one opened; -1
	 * once its file was removed or replaced under it (rm guichet.db*, a restore over it):
	 * from then on begin() fails with that reason, so nothing more is acknowledged that
	 * could only go to a file nobody will read. Cheap (one stat): call it periodically. */
	int (*verify)(struct store *st);
	void (*close)(struct store *st);
	/* The message of the last failed operation (for SQLite, sqlite3_errmsg at the time),
	 * beginning with "store full: " when the disk or the database is full. */
	const char *(*last_error)(struct store *st);
	/* Optional (NULL: never). Whether the transaction that just failed lost a conflict
	 * with another host's (PostgreSQL: deadlock detected or serialization failure, SQLSTATE
	 * 40P01 or 40001), so that the same work run again from begin() may well succeed.
	 * Valid from the failure until the next begin(). */
	bool (*conflict)(struct store *st);
	/* Optional (NULL: the store is this host's alone). fn(data) is called from the loop
	 * when another host committed work this host may do (outbox rows, scheduled messages):
	 * PostgreSQL's LISTEN/NOTIFY, the connection's socket on the osmocom loop. fn NULL stops
	 * it. 0 or -1. */
	int (*watch)(struct store *st, void (*fn)(void *data), void *data);
	/* Optional (NULL: a store of one host, whose restart does this through session_each).
	 * The sessions waiting for a back-end call of a host that is gone (PostgreSQL: its
	 * connection closed or its lease ended), each taken over by this host (so that one host
	 * handles it) and given to fn as session_each does. 0 or -1. */
	int (*session_orphans)(struct store *st,
			       void (*fn)(void *data, const struct session *s), void *data,
			       void *ctx);
	/* ---- USSD aggregator dialogues shared between hosts (struct store_ussd) ----
	 * Optional: NULL where one host holds all its dialogues in memory. SQLite leaves them
	 * NULL on purpose: one machine needs no shared state, and a screen must not cost an
	 * fsync. PostgreSQL and the memory store (for tests) have them. Outside a transaction
	 * each is committed when it returns (the state is shared before the screen it goes
	 * with is sent); inside one it is part of it. now: unix seconds.
	 * ussd_put: 0 stored; 1 refused, nothing changed: the stored row, not expired, has a
	 * step >= u->step (another host continued the dialogue: this host's state is stale).
	 * Step 1 replaces any row (a dialogue id used again begins anew). -1 on error. */
	int (*ussd_put)(struct store *st, const struct store_ussd *u, int64_t now);
	/* 0 with *u filled (its strings and session under ctx), 1 when none or expired, -1. */
	int (*ussd_get)(struct store *st, const char *id, int64_t now, struct store_ussd *u,
			void *ctx);
	/* Ends the shared state of dialogue id if its step is at most step (a host ends only
	 * the state it knows; one another host stored since stays): 0, 1 when none went, -1. */
	int (*ussd_drop)(struct store *st, const char *id, int64_t step);
	/* Removes the rows expired at now (dialogues nobody ended: a host gone, an aggregator
	 * that stopped asking): their number, or -1. */
	int (*ussd_sweep)(struct store *st, int64_t now);
	/* Optional (NULL: nothing to gain). Inside a transaction, just before inbound_add is
	 * called for each of ins[0..n) in this order (the router's group write): a store whose
	 * every answer is a round trip to a server (PostgreSQL) adds them all, and reads their
	 * people's sessions, in one round trip; the inbound_add and session_get calls that
	 * follow take their answers from it. The caller marks each one added done in the same
	 * transaction (the router answers a message in the transaction that stores it), so the
	 * store may add them done at once. An inbound_add other than the next one announced
	 * fails the transaction. 0, or -1 (the transaction is lost: roll it back). */
	int (*inbound_ahead)(struct store *st, const struct store_inbound *ins, unsigned n);
	/* Optional (NULL: outbound_due, then outbound_taken for each row, whose answers cost
	 * nothing). Inside a transaction, what those two do for up to max messages due at
	 * now_ms for via (NULL: any), done by the commit: a store whose every answer is a
	 * round trip to a server (PostgreSQL) claims the rows in the commit's round trip,
	 * after every other write of the transaction (the replies it added are among them).
	 * 0 with *n set to 0 at the call; a commit() that succeeds then sets *n and
	 * out[0..*n) as outbound_due would (oldest first, attempts before this take, strings
	 * under ctx); a commit that fails or a rollback takes nothing and leaves *n 0. out, n
	 * and ctx must outlive the commit or rollback. Several per transaction (one per
	 * transport). -1: the transaction is lost (roll it back). */
	int (*outbound_take_at_commit)(struct store *st, const char *via, int64_t now_ms,
				       struct store_outbound *out, unsigned max, int *n,
				       void *ctx);
};

struct store {
	const struct store_ops *ops;
	void *priv;
};

/* path: the SQLite file (created 0600 with its directory). NULL and a message on error; a
 * damaged file (PRAGMA quick_check) is refused with a message naming it and what to do. */
struct store *store_sqlite_open(void *ctx, const char *path, char *err, size_t err_len);
/* What store_sqlite_open would refuse, found without creating or changing anything: the
 * nearest existing directory of path not writable, the file not a writable regular file, or
 * damaged. 0 (a missing file is fine: it is created at start), or -1 with err set. */
int store_sqlite_check(const char *path, char *err, size_t err_len);
/* url: postgresql://... (libpq's URI: host, dbname, sslmode, sslrootcert, sslcert, passfile;
 * PGPASSFILE works too). The schema is created or migrated. NULL and a message on error. */
struct store *store_pg_open(void *ctx, const char *url, char *err, size_t err_len);
/* Whether the store setting names a PostgreSQL database rather than an SQLite file. */
bool store_is_pg(const char *where);
struct store *store_mem_open(void *ctx);
/* Does to a memory store what reopening does to an SQLite one after a crash: messages left
 * "taken" are queued again and counted in duplicate_sends. For tests of recovery. */
void store_mem_simulate_restart(struct store *st);

/* Why the last operation returned -1; never NULL. */
static inline const char *store_last_error(struct store *st)
{
	const char *e = st && st->ops->last_error ? st->ops->last_error(st) : NULL;

	return e ? e : "unknown store error";
}

/* The last failed transaction lost a conflict with another host's: worth running again. */
static inline bool store_conflict(struct store *st)
{
	return st && st->ops->conflict && st->ops->conflict(st);
}

#endif
