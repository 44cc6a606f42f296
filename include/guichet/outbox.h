/* The outbox: replies and messages sent first wait in the store's outbound queue until an SMS
 * transport takes them. This module offers them to the transports registered with it (the
 * person's own first, then another of its group), writes what the transports report (sent,
 * failed, the SMSC's ids, delivery receipts) as marks in the router's group write, and puts a
 * failed message back with a delay that grows with its attempts (the store's durable count,
 * so that a restart keeps the backoff).
 *
 * The router owns one and forwards the transports' calls (router_sms_*) to it; it never runs
 * the engine nor opens a session. */
#ifndef GUICHET_OUTBOX_H
#define GUICHET_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/router.h"
#include "guichet/store.h"

struct outbox;
struct rate_ctr_group;

struct outbox_env {
	struct store *st;
	/* The router's counters (router.h's enum router_ctr): parts_out, messages_out and
	 * send_failures are counted here. */
	struct rate_ctr_group *ctrs;
	/* Every write transaction's outcome (what: the write, for the journal). */
	void (*store_result)(void *data, bool ok, const char *what);
	/* Marks are waiting: have the group write (outbox_marks_apply) run soon. */
	void (*kick)(void *data);
	void *data;
};

struct outbox *outbox_create(void *ctx, const struct outbox_env *env);

/* Transports (at most 32; more are ignored). register offers what is due at once;
 * unregister: the outbox never touches t again (call it before freeing t). */
void outbox_register(struct outbox *ob, struct sms_transport *t);
void outbox_unregister(struct outbox *ob, struct sms_transport *t);
/* The registered transport called name, or NULL. */
struct sms_transport *outbox_find(const struct outbox *ob, const char *name);
/* The first transport registered, or NULL. */
struct sms_transport *outbox_first(const struct outbox *ob);
/* The transport a message for want (a transport or a group name) goes out through now: the
 * transport, else one of the group that is up, else one of the group; NULL when none. */
const char *outbox_via(const struct outbox *ob, const char *want);

/* Offers the due messages to the transports that are up, each in its own transaction
 * (marked taken and committed before the transport sees them). It searches the store only
 * when something may be due: after outbox_wake, a retry time reached, or a search that left
 * some behind; otherwise it opens no transaction. */
void outbox_offer(struct outbox *ob);
/* Something may be due: a message queued (by this process, in a transaction not yet
 * committed is fine), another host's NOTIFY, a transport up or with room, the poll. The next
 * offer or take searches. */
void outbox_wake(struct outbox *ob);
/* A transport says it can take replies (router_sms_ready; t NULL: messages were queued):
 * a wake when it was down at the last search or t is NULL. When it was full, the search
 * that found it so already left the outbox awake. */
void outbox_ready(struct outbox *ob, struct sms_transport *t);

/* Messages taken out of the queue inside the caller's transaction (with the writes that made
 * them: one fsync), handed to their transports once it committed. outbox_take: 0 with *tk
 * set (under ctx; NULL when nothing is due), -1 on a store error (roll back). A store that
 * claims at commit (outbound_take_at_commit) says only then what was taken: outbox_send_taken
 * hands what it gave, nothing if the commit failed (then it is not called). */
struct outbox_taken;
int outbox_take(struct outbox *ob, void *ctx, struct outbox_taken **tk);
void outbox_send_taken(struct outbox *ob, struct outbox_taken *tk);

/* What the transports report, kept in memory as marks until the next group write. */
void outbox_sent(struct outbox *ob, int64_t id);
void outbox_failed(struct outbox *ob, int64_t id, bool permanent, const char *why);
void outbox_remote_id(struct outbox *ob, int64_t id, const char *via, const char *remote);
void outbox_receipt(struct outbox *ob, int64_t id, const char *via, const char *remote,
		    bool delivered, const char *stat);

/* The group write: outbox_marks_apply writes the marks inside the caller's transaction (0,
 * or -1 on a store error: roll back); after the commit, outbox_marks_done forgets them. A
 * rolled-back group keeps them for the next write. */
bool outbox_marks_pending(const struct outbox *ob);
int outbox_marks_apply(struct outbox *ob);
void outbox_marks_done(struct outbox *ob);

#endif
