/* Inside the memory store (store.h's store_mem_open): what its files share. Not for the
 * rest of the daemon, which sees only struct store and its ops.
 *
 *   store_mem.c        the state, transactions (a deep copy taken at begin), purge,
 *                      counters, the ops table
 *   store_mem_msgs.c   inbound and outbound messages, the SMSC's remote ids, sessions
 *   store_mem_sched.c  the schedule, consent, the daily spend
 *   store_mem_ussd.c   USSD aggregator dialogues shared between hosts
 *
 * All data hangs off one talloc context, the state; rollback puts back the copy. */
#ifndef GUICHET_STORE_MEM_H
#define GUICHET_STORE_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "guichet/store.h"

enum mem_out_state { OUT_QUEUED, OUT_TAKEN, OUT_SENT, OUT_DEAD };

struct mem_in {
	int64_t id;
	enum channel channel;
	char *via, *from, *text, *dedup;
	int64_t received;
	bool done;
};

struct mem_out {
	int64_t id;
	char *via, *to, *text;
	enum text_coding coding;
	unsigned parts, attempts;
	int64_t not_before;
	enum mem_out_state state;
	int64_t created;
};

struct mem_sess {
	char *key;
	char *data;
	size_t len;
	int64_t deadline;
};

struct mem_spend {
	int64_t day;
	char *via;
	uint64_t parts;
};

/* A scheduled message: m's strings live under strs, freed with it. */
struct mem_sched {
	struct store_scheduled m;
	void *strs;
};

struct mem_optout {
	char *number;
	int64_t since;
};

/* The SMSC's id of a part sent (submit_sm_resp), so a delivery receipt after a restart finds
 * its outbox row; (via, remote) is unique, as in the SQLite table. */
struct mem_remote {
	char *via, *remote;
	int64_t outbound_id;
	int64_t created;
};

/* A USSD dialogue's shared state (store.h's struct store_ussd), strings under the state. */
struct mem_ussd {
	char *id, *via, *from, *code, *history, *session;
	size_t session_len;
	int64_t step, expires_at;
};

struct mem_state {
	struct mem_ussd *ussd;
	size_t n_ussd;
	struct mem_sched *sched;
	size_t n_sched;
	struct mem_optout *optout;
	size_t n_optout;
	struct mem_remote *remote;
	size_t n_remote;
	int64_t last_sched;
	struct mem_spend *spend;
	size_t n_spend;
	struct mem_in *in;
	size_t n_in;
	struct mem_out *out;
	size_t n_out;
	struct mem_sess *sess;
	size_t n_sess;
	int64_t last_in, last_out;
	uint64_t duplicate_sends;
};

struct mem {
	struct mem_state *cur, *snap;
	char err[128];
};


static inline struct mem *mem_of(struct store *st)
{
	return st->priv;
}

/* store_mem.c */
/* Sets the last error to what; returns -1. */
int mem_fail(struct mem *m, const char *what);
/* A copy of s under ctx (NULL for NULL); sets *oom when memory runs out. */
char *mem_strdup(void *ctx, const char *s, bool *oom);
/* Grows *arr (of elem_size elements, n in use) by one zeroed slot; returns it or NULL. */
void *mem_grow(void *ctx, void **arr, size_t n, size_t elem_size);
/* A deep copy of src under ctx (a transaction's snapshot, or rows read before a callback
 * that may change the store), or NULL. */
struct mem_state *mem_state_copy(void *ctx, const struct mem_state *src);

/* store_mem_msgs.c */
int mem_inbound_add(struct store *st, struct store_inbound *in);
int mem_inbound_done(struct store *st, int64_t id);
int mem_inbound_forget(struct store *st, int64_t id);
int mem_outbound_add(struct store *st, struct store_outbound *out);
int mem_outbound_due(struct store *st, const char *via, int64_t now_ms,
		     struct store_outbound *out, unsigned max, void *ctx);
int mem_outbound_taken(struct store *st, int64_t id);
int mem_outbound_sent(struct store *st, int64_t id);
int mem_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up);
int mem_outbound_attempts(struct store *st, int64_t id, unsigned *n);
int mem_session_get(struct store *st, const char *key, struct session *sess, void *ctx);
int mem_session_put(struct store *st, const struct session *sess);
/* Removes session i (purge). */
void mem_sess_remove(struct mem_state *s, size_t i);
int mem_session_del(struct store *st, const char *key);
int mem_session_each(struct store *st, void (*fn)(void *data, const struct session *s),
		     void *data, void *ctx);
int mem_inbound_pending(struct store *st, void (*fn)(void *data, const struct store_inbound *in),
			void *data);
int mem_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote);
int mem_outbound_by_remote(struct store *st, const char *via, const char *remote, int64_t *id);
/* Part of purge: remote ids older than cutoff go (not counted). */
void mem_remote_purge(struct mem_state *s, int64_t cutoff);

/* store_mem_sched.c */
int mem_schedule_add(struct store *st, struct store_scheduled *m);
/* A copy of r with its strings under ctx; -1 when memory runs out. */
int mem_sched_copy(void *ctx, const struct store_scheduled *r, struct store_scheduled *m);
int mem_schedule_get(struct store *st, int64_t id, struct store_scheduled *m, void *ctx);
int mem_schedule_due(struct store *st, int64_t now_ms, struct store_scheduled *out,
		     unsigned max, void *ctx);
int mem_schedule_next(struct store *st, int64_t *when_ms);
int mem_schedule_mark(struct store *st, int64_t id, enum sched_status status,
		      const char *reason, int64_t send_at_ms, int64_t outbound_id);
int mem_schedule_outbound_status(struct store *st, int64_t outbound_id,
				 enum sched_status status, const char *reason);
int mem_schedule_cancel(struct store *st, int64_t id);
int mem_schedule_cancel_ref(struct store *st, const char *reference, const char *to);
int mem_optout_set(struct store *st, const char *number, int64_t since);
int mem_optout_clear(struct store *st, const char *number);
int mem_optout_is(struct store *st, const char *number);
/* Part of purge: the number of messages that lost their data. */
int mem_schedule_purge(struct mem_state *s, int64_t cutoff);
int mem_spend_add(struct store *st, int64_t day, const char *via, unsigned parts);
int mem_spend_get(struct store *st, int64_t day,
		  void (*fn)(void *data, const char *via, uint64_t parts), void *data);

/* store_mem_ussd.c */
int mem_ussd_put(struct store *st, const struct store_ussd *u, int64_t now);
int mem_ussd_get(struct store *st, const char *id, int64_t now, struct store_ussd *u, void *ctx);
int mem_ussd_drop(struct store *st, const char *id, int64_t step);
int mem_ussd_sweep(struct store *st, int64_t now);
/* Fills d's dialogues from src's (a transaction's snapshot); false when memory runs out. */
bool mem_ussd_copy(struct mem_state *d, const struct mem_state *src);

#endif
