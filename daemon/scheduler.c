/* The sender of the schedule (scheduler.h). One timer, set to the next due time the store
 * gives; at each run, due messages are read in bounded batches and each batch's outcome
 * (sent to the outbox, deferred, refused, expired) is one transaction. */
#include <string.h>
#include <time.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <jansson.h>

#include "guichet/clock.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/text.h"
#include "guichet/vars.h"

/* The timer never sleeps longer than this: a clock set forward, or a transport that was
 * down, is noticed within a minute even if nobody kicks. */
#define MAX_SLEEP_MS 60000
/* No transport registered yet: look again after this. */
#define NO_TRANSPORT_MS 5000
#define MAX_BUCKETS 32
/* A person in a procedure is not interrupted by another one: asked again after this. */
#define BUSY_RETRY_MS (5 * 60 * 1000)

#define STATUS_CALL_MS 10000

struct change;

/* Pacing: a token bucket of SMS parts per transport, filled at parts_per_s, holding at most
 * one second's worth. */
struct bucket {
	char via[64];
	double tokens;
	int64_t last_ms;
};

struct scheduler {
	struct notify_config cfg;
	void *cfg_ctx;
	struct store *st;
	struct router *r;
	struct osmo_timer_list timer;
	struct bucket buckets[MAX_BUCKETS];
	unsigned n_buckets;
	bool manual;
	struct rate_ctr_group *ctrs;
	struct change *changes;	/* status call-backs of the batch being decided */
	unsigned n_changes, cap_changes;
	bool status_call_warned;
};

static const struct rate_ctr_desc sched_ctr_desc[] = {
	[SCHED_CTR_SENT] = { "sent", "Messages sent first handed to the outbox" },
	[SCHED_CTR_DEFERRED] = { "deferred", "Messages sent first deferred by quiet hours" },
	[SCHED_CTR_REFUSED] = { "refused", "Messages sent first refused (opt-out, destination, spend cap)" },
	[SCHED_CTR_EXPIRED] = { "expired", "Messages sent first past their not_after" },
};
static const struct rate_ctr_group_desc sched_ctrg_desc = {
	.group_name_prefix = "scheduler",
	.group_description = "Messages Guichet sends first: notifications, reminders, receipts",
	.num_ctr = _SCHED_CTR_N,
	.ctr_desc = sched_ctr_desc,
};

static unsigned pace_of(const struct scheduler *s, const char *via)
{
	for (unsigned i = 0; i < s->cfg.n_pace; i++)
		if (strcmp(s->cfg.pace[i].via, via) == 0)
			return s->cfg.pace[i].parts_per_s;
	return s->cfg.pace_default;
}

static struct bucket *bucket_of(struct scheduler *s, const char *via, int64_t now, unsigned pps)
{
	struct bucket *b = NULL;

	for (unsigned i = 0; i < s->n_buckets; i++)
		if (strcmp(s->buckets[i].via, via) == 0)
			b = &s->buckets[i];
	if (!b) {
		/* More transports than slots: the last slot is shared (pacing errs slower). */
		b = &s->buckets[s->n_buckets < MAX_BUCKETS ? s->n_buckets++ : MAX_BUCKETS - 1];
		snprintf(b->via, sizeof(b->via), "%s", via);
		b->tokens = pps;
		b->last_ms = now;
	}
	if (now > b->last_ms) {
		b->tokens += (double)(now - b->last_ms) * pps / 1000.0;
		if (b->tokens > pps)
			b->tokens = pps;
		b->last_ms = now;
	}
	return b;
}

static void arm(struct scheduler *s, int64_t delay_ms)
{
	if (s->manual)
		return;
	if (delay_ms < 0)
		delay_ms = 0;
	if (delay_ms > MAX_SLEEP_MS)
		delay_ms = MAX_SLEEP_MS;
	osmo_timer_schedule(&s->timer, delay_ms / 1000, (delay_ms % 1000) * 1000);
}

static void log_status(const struct store_scheduled *m, enum sched_status st, const char *why)
{
	char masked[48];

	glog(GLOG_MAIN, st == SCHED_SENT ? LOGL_DEBUG : LOGL_INFO, NULL,
	     "message %lld to %s (%s): %s%s%s", (long long)m->id,
	     log_mask(masked, sizeof(masked), m->to ? m->to : "?"), sched_origin_name(m->origin),
	     sched_status_name(st), why ? ": " : "", why ? why : "");
}

/* Status call-backs: the changes of a batch are kept until its commit, then each is told
 * to the configured operation (not durable: a crash between the two loses the call-back,
 * never the message; GET /v1/messages/{id} always has the status). */
struct change {
	int64_t id;
	enum sched_status status;
	enum sched_origin origin;
	char reason[48], reference[72];
};

static void note_change(struct scheduler *s, const struct store_scheduled *m,
			enum sched_status to, const char *why)
{
	struct change *c;

	if (s->n_changes == s->cap_changes) {
		unsigned cap = s->cap_changes ? s->cap_changes * 2 : 64;
		struct change *n = talloc_realloc(s, s->changes, struct change, cap);
		if (!n)
			return;
		s->changes = n;
		s->cap_changes = cap;
	}
	c = &s->changes[s->n_changes++];
	c->id = m->id;
	c->status = to;
	c->origin = m->origin;
	snprintf(c->reason, sizeof(c->reason), "%s", why ? why : "");
	snprintf(c->reference, sizeof(c->reference), "%s", m->reference ? m->reference : "");
}

static void tell_changes(struct scheduler *s)
{
	for (unsigned i = 0; i < s->n_changes; i++) {
		const struct change *c = &s->changes[i];
		void *ctx = talloc_new(s);
		struct vars v;
		char id[24];

		vars_init(&v, ctx);
		snprintf(id, sizeof(id), "%lld", (long long)c->id);
		vars_set(&v, "id", id, false);
		vars_set(&v, "status", sched_status_name(c->status), false);
		vars_set(&v, "reason", c->reason, false);
		vars_set(&v, "reference", c->reference, false);
		vars_set(&v, "origin", sched_origin_name(c->origin), false);
		if (router_call(s->r, s->cfg.status_call, &v, STATUS_CALL_MS, NULL, NULL) < 0 &&
		    !s->status_call_warned) {
			s->status_call_warned = true;
			glog(GLOG_MAIN, LOGL_ERROR, NULL, "notify: status_call %s is not a "
			     "configured back-end operation: no status call-backs",
			     s->cfg.status_call);
		}
		talloc_free(ctx);
	}
	s->n_changes = 0;
}

/* A procedure opened with the person (router_open_flow), its variables from the stored
 * JSON object. Same returns as router_open_flow; 2 moves *send_at a little later. */
static int open_flow(struct scheduler *s, const struct store_scheduled *m, const char *via,
		     int64_t now, int64_t *out_id, int64_t *send_at, const char **why)
{
	void *ctx = talloc_new(s);
	struct vars v;
	json_t *o = m->vars ? json_loads(m->vars, 0, NULL) : NULL;
	const char *k;
	json_t *val;
	int rc;

	vars_init(&v, ctx);
	json_object_foreach(o, k, val) {
		char num[32];
		if (json_is_string(val))
			vars_set(&v, k, json_string_value(val), false);
		else if (json_is_integer(val) &&
			 snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(val)) > 0)
			vars_set(&v, k, num, false);
	}
	json_decref(o);
	rc = router_open_flow(s->r, via, m->to, m->flow, m->step ? m->step : "", &v, out_id, why);
	if (rc == 2) {
		*send_at = now + BUSY_RETRY_MS;
		*why = "in a procedure";
	} else if (rc == 3) {
		*why = "unknown flow or step";
	}
	talloc_free(ctx);
	return rc;
}

/* Decides one due message inside the batch's transaction. Returns 1 when its status
 * changed, 0 when it stays (pacing), 2 when pacing holds everything after it on the same
 * transport (*wait_ms set), -1 on a store error. */
static int decide(struct scheduler *s, const struct store_scheduled *m, int64_t now,
		  int64_t *wait_ms)
{
	struct store *st = s->st;
	enum sched_status to = SCHED_SENT;
	const char *why = NULL;
	int64_t send_at = 0, out_id = 0;
	int rc;

	/* A receipt answers what the person just did (the proof of a USSD dialogue): like a
	 * reply, it is neither held by quiet hours and pacing nor refused by their STOP. */
	bool solicited = m->origin == SCHED_RECEIPT;

	if (m->not_after > 0 && now > m->not_after) {
		to = SCHED_EXPIRED;
	} else if (!m->to || (!m->text && !m->flow)) {
		to = SCHED_FAILED;	/* purged */
		why = "no number or text";
	} else if (!solicited && (rc = st->ops->optout_is(st, m->to)) != 0) {
		if (rc < 0)
			return -1;
		to = SCHED_REFUSED;
		why = "opt-out";
	} else if (!router_destination_allowed(s->r, m->to)) {
		to = SCHED_REFUSED;
		why = "destination";
	} else if (!solicited && (send_at = quiet_next(&s->cfg.quiet, now)) > now) {
		to = SCHED_DEFERRED;
		why = "quiet hours";
	} else {
		const char *via = router_sms_via(s->r, m->via ? m->via : s->cfg.via);
		struct text_measure tm;

		send_at = 0;
		if (!via) {
			*wait_ms = NO_TRANSPORT_MS;
			return 2;
		}
		text_measure(m->text ? m->text : "", &tm);
		unsigned pps = solicited ? 0 : pace_of(s, via);
		if (pps) {
			struct bucket *b = bucket_of(s, via, now, pps);
			if (b->tokens < 1) {
				*wait_ms = (int64_t)((1 - b->tokens) * 1000 / pps) + 1;
				return 2;
			}
			/* A long message may take the bucket below zero: the next waits longer. */
			b->tokens -= tm.parts;
		}
		rc = m->flow ? open_flow(s, m, via, now, &out_id, &send_at, &why)
			     : router_notify_queue(s->r, via, m->to, m->text, &out_id, &why);
		if (rc < 0)
			return -1;
		if (rc == 1)
			to = SCHED_REFUSED;
		else if (rc == 2)
			to = SCHED_DEFERRED;
		else if (rc == 3)
			to = SCHED_FAILED;
	}
	if (st->ops->schedule_mark(st, m->id, to, why, send_at, out_id) < 0)
		return -1;
	if (s->cfg.status_call)
		note_change(s, m, to, why);
	rate_ctr_inc2(s->ctrs, to == SCHED_SENT ? SCHED_CTR_SENT : to == SCHED_DEFERRED ?
		      SCHED_CTR_DEFERRED : to == SCHED_EXPIRED ? SCHED_CTR_EXPIRED : SCHED_CTR_REFUSED);
	log_status(m, to, why);
	return 1;
}

int scheduler_run(struct scheduler *s, int64_t now)
{
	struct store *st = s->st;
	unsigned batch = s->cfg.batch ? s->cfg.batch : 200;
	int changed = 0;
	int64_t wait_ms = -1;

	for (;;) {
		void *ctx = talloc_new(s);
		struct store_scheduled *due = talloc_array(ctx, struct store_scheduled, batch);
		int n, i, done = 0;
		bool held = false;

		if (!due || st->ops->begin(st) < 0) {
			talloc_free(ctx);
			arm(s, NO_TRANSPORT_MS);
			return -1;
		}
		n = st->ops->schedule_due(st, now, due, batch, ctx);
		for (i = 0; i < n; i++) {
			int rc = decide(s, &due[i], now, &wait_ms);
			if (rc < 0)
				break;
			if (rc == 2) {
				held = true;
				break;
			}
			done += rc;
		}
		if (n < 0 || (i < n && !held) || st->ops->commit(st) < 0) {
			st->ops->rollback(st);
			s->n_changes = 0;
			glog(GLOG_STORE, LOGL_ERROR, NULL, "schedule: %s", store_last_error(st));
			talloc_free(ctx);
			arm(s, NO_TRANSPORT_MS);
			return -1;
		}
		talloc_free(ctx);
		tell_changes(s);
		changed += done;
		if (done)
			router_sms_ready(s->r, NULL);
		if (held || n < (int)batch)
			break;
	}
	if (wait_ms < 0) {
		int64_t next = 0;
		int rc = st->ops->schedule_next(st, &next);
		wait_ms = rc == 0 ? next - now : rc == 1 ? MAX_SLEEP_MS : NO_TRANSPORT_MS;
	}
	arm(s, wait_ms);
	return changed;
}

static void timer_cb(void *data)
{
	struct scheduler *s = data;

	scheduler_run(s, clock_wall_ms());
}

void scheduler_kick(struct scheduler *s)
{
	if (!s->manual)
		osmo_timer_schedule(&s->timer, 0, 0);
}

void scheduler_set_manual(struct scheduler *s, bool manual)
{
	s->manual = manual;
	if (manual)
		osmo_timer_del(&s->timer);
}

void scheduler_configure(struct scheduler *s, const struct notify_config *cfg)
{
	void *c = talloc_new(s);
	unsigned i;

	s->cfg = *cfg;
	s->cfg.pace = talloc_array(c, struct pace, cfg->n_pace ? cfg->n_pace : 1);
	s->cfg.stop = talloc_array(c, const char *, cfg->n_stop ? cfg->n_stop : 1);
	s->cfg.start = talloc_array(c, const char *, cfg->n_start ? cfg->n_start : 1);
	for (i = 0; s->cfg.pace && i < cfg->n_pace; i++) {
		s->cfg.pace[i].via = talloc_strdup(c, cfg->pace[i].via);
		s->cfg.pace[i].parts_per_s = cfg->pace[i].parts_per_s;
	}
	for (i = 0; s->cfg.stop && i < cfg->n_stop; i++)
		s->cfg.stop[i] = talloc_strdup(c, cfg->stop[i]);
	for (i = 0; s->cfg.start && i < cfg->n_start; i++)
		s->cfg.start[i] = talloc_strdup(c, cfg->start[i]);
	s->cfg.quiet.tz = cfg->quiet.tz ? talloc_strdup(c, cfg->quiet.tz) : NULL;
	s->cfg.via = cfg->via ? talloc_strdup(c, cfg->via) : NULL;
	s->cfg.status_call = cfg->status_call ? talloc_strdup(c, cfg->status_call) : NULL;
	s->status_call_warned = false;
	talloc_free(s->cfg_ctx);
	s->cfg_ctx = c;
	router_set_notify(s->r, &s->cfg);
	scheduler_kick(s);
}

static int scheduler_destroy(struct scheduler *s)
{
	/* The router is not told: at exit it may already be gone, and it reads the words only
	 * while messages arrive, which stopped before. */
	osmo_timer_del(&s->timer);
	return 0;
}

struct scheduler *scheduler_create(void *ctx, const struct notify_config *cfg,
				   struct store *st, struct router *r)
{
	struct scheduler *s = talloc_zero(ctx, struct scheduler);

	if (!s)
		return NULL;
	s->st = st;
	s->r = r;
	osmo_timer_setup(&s->timer, timer_cb, s);
	s->ctrs = metrics_ctr_group(s, &sched_ctrg_desc, NULL);
	if (!s->ctrs) {
		talloc_free(s);
		return NULL;
	}
	talloc_set_destructor(s, scheduler_destroy);
	scheduler_configure(s, cfg);
	return s;
}

uint64_t scheduler_counter(const struct scheduler *s, enum scheduler_ctr which)
{
	return rate_ctr_group_get_ctr(s->ctrs, which)->current;
}
