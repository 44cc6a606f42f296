/* GSM modems through libGammu, the loop side: the transport the router sees (send, room),
 * the events from each modem's thread (parts to reassemble and hand to the sink, status
 * reports, send results, up and down), the counters, and the pool that starts and stops
 * the threads. modem_thread.c is the other side; modem.h the contract. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <osmocom/core/talloc.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/stat_item.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>

#include "guichet/clock.h"
#include "guichet/config.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/modem.h"
#include "guichet/modem_thread.h"

/* Messages handed to the sink per call. */
#define DELIVER_BATCH 64
/* Above this many messages waiting for the store, the thread stops reading the SIM. */
#define READY_MAX 1024
/* Concatenated messages waiting for parts, per modem. */
#define REASM_MAX 2048

/* Counted on the loop only (rate_ctr is not thread-safe): /metrics and the counters line. */
enum modem_ctr {
	MODEM_CTR_PARTS_IN, MODEM_CTR_RECEIVED, MODEM_CTR_SENT, MODEM_CTR_PARTS_OUT,
	MODEM_CTR_FAILURES, MODEM_CTR_RESETS, MODEM_CTR_INCOMPLETE, MODEM_CTR_REPORTS,
	_MODEM_CTR_N
};
static const struct rate_ctr_desc modem_ctr_desc[] = {
	[MODEM_CTR_PARTS_IN] = { "parts_in", "SMS parts read from the SIM" },
	[MODEM_CTR_RECEIVED] = { "received", "Messages read (parts reassembled) and handed on" },
	[MODEM_CTR_SENT] = { "sent", "Messages sent" },
	[MODEM_CTR_PARTS_OUT] = { "parts_out", "SMS parts sent" },
	[MODEM_CTR_FAILURES] = { "failures", "Messages the modem failed to send" },
	[MODEM_CTR_RESETS] = { "resets", "Times the modem went down after having been up" },
	[MODEM_CTR_INCOMPLETE] = { "incomplete", "Messages released with parts missing" },
	[MODEM_CTR_REPORTS] = { "status_reports", "Status reports read from the SIM" },
};
static const struct rate_ctr_group_desc modem_ctrg_desc = {
	.group_name_prefix = "modem",
	.group_description = "One GSM modem",
	.num_ctr = _MODEM_CTR_N,
	.ctr_desc = modem_ctr_desc,
};
enum modem_stat { MODEM_STAT_SIGNAL, MODEM_STAT_UP, _MODEM_STAT_N };
static const struct osmo_stat_item_desc modem_stat_desc[] = {
	[MODEM_STAT_SIGNAL] = { "signal", "Signal strength in percent, -1 when unknown", "%", 4, -1 },
	[MODEM_STAT_UP] = { "up", "1 while the modem is connected", "", 4, 0 },
};
static const struct osmo_stat_item_group_desc modem_statg_desc = {
	.group_name_prefix = "modem",
	.group_description = "One GSM modem",
	.num_items = _MODEM_STAT_N,
	.item_desc = modem_stat_desc,
};

static void modem_count(struct modem *m, enum modem_ctr which, uint64_t n)
{
	rate_ctr_add(rate_ctr_group_get_ctr(m->ctrs, which), (int)n);
}

static uint64_t modem_counter(const struct modem *m, enum modem_ctr which)
{
	return rate_ctr_group_get_ctr(m->ctrs, which)->current;
}

struct modem_pool {
	struct sms_sink sink;
	unsigned n;
	struct modem **m;
};

static void to_thread(struct modem *m, struct llist_head *item, struct llist_head *list)
{
	pthread_mutex_lock(&m->mu);
	llist_add_tail(item, list);
	m->work = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static void maybe_ready(struct modem *m)
{
	if (m->want_ready && m->t.up && m->queued < MODEM_SEND_QUEUE) {
		m->want_ready = false;
		if (m->pool->sink.ready)
			m->pool->sink.ready(m->pool->sink.data, &m->t);
	}
}

static unsigned modem_room(struct sms_transport *t)
{
	struct modem *m = t->priv;
	if (!m->t.up || m->queued >= MODEM_SEND_QUEUE) {
		m->want_ready = true;
		return 0;
	}
	return MODEM_SEND_QUEUE - m->queued;
}

static int modem_send(struct sms_transport *t, const struct store_outbound *o)
{
	struct modem *m = t->priv;
	if (!m->t.up || m->queued >= MODEM_SEND_QUEUE) {
		m->want_ready = true;
		return -1;
	}
	size_t lto = strlen(o->to), ltext = strlen(o->text);
	struct send_job *j = malloc(sizeof(*j) + lto + ltext + 2);
	if (!j) {
		m->want_ready = true;
		return -1;
	}
	j->id = o->id;
	j->coding = o->coding;
	j->to = j->buf;
	j->text = j->buf + lto + 1;
	memcpy(j->to, o->to, lto + 1);
	memcpy(j->text, o->text, ltext + 1);
	m->queued++;
	to_thread(m, &j->list, &m->sends);
	return 0;
}

static void schedule(struct modem *m)
{
	int64_t now = clock_mono_ms();
	int64_t at = sms_parts_next_deadline(m->reasm);
	if (m->retry_at_ms && (at < 0 || m->retry_at_ms < at))
		at = m->retry_at_ms;
	if (at < 0) {
		osmo_timer_del(&m->timer);
		return;
	}
	int64_t d = at > now ? at - now : 0;
	osmo_timer_schedule(&m->timer, d / 1000, (d % 1000) * 1000);
}

/* The thread stops reading the SIM while too much waits for the store (ready here, or
 * pushed out of reassembly by its bound and not taken yet): what it has not read stays on
 * the SIM, so memory stays bounded and nothing is lost. */
static void update_hold(struct modem *m)
{
	unsigned pushed_out = sms_parts_pending(m->reasm) - sms_parts_waiting(m->reasm);
	atomic_store(&m->hold, m->nready >= READY_MAX / 2 || pushed_out >= READY_MAX / 2);
}

/* Moves up to max messages reassembly has ready into m->ready. */
static unsigned take_ready(struct modem *m, int64_t now, unsigned max)
{
	struct sms_parts_msg *pm[DELIVER_BATCH];
	unsigned k = 0;
	while (k < max) {
		unsigned want = max - k < DELIVER_BATCH ? max - k : DELIVER_BATCH;
		unsigned n = sms_parts_take(m->reasm, m, now, pm, want);
		for (unsigned i = 0; i < n; i++) {
			struct sms_msg *s = sms_msg_from_parts(m, pm[i]);
			talloc_free(pm[i]);
			if (s) {
				m->ready[m->nready + k++] = s;
			} else {
				/* Its parts stay on the SIM: read again at the next start. */
				struct log_fields f = modem_fields(m);
				glog(GLOG_MODEM, LOGL_ERROR, &f, "out of memory: a message stays on the SIM");
			}
		}
		if (n < want)
			break;
	}
	return k;
}

/* Hands ready messages to the sink, oldest first, and has their parts deleted once the
 * sink has stored them. */
static void modem_deliver(struct modem *m)
{
	struct sms_sink *sink = &m->pool->sink;
	int64_t now = clock_mono_ms();
	if (m->retry_at_ms && now < m->retry_at_ms) {
		update_hold(m);
		schedule(m);
		return;
	}
	m->retry_at_ms = 0;
	if (m->nready < READY_MAX)
		m->nready += take_ready(m, now, READY_MAX - m->nready);
	while (m->nready > 0) {
		unsigned n = m->nready < DELIVER_BATCH ? m->nready : DELIVER_BATCH;
		struct sms_in in[DELIVER_BATCH];
		unsigned nloc = 0;
		for (unsigned i = 0; i < n; i++) {
			const struct sms_msg *s = m->ready[i];
			in[i] = (struct sms_in){ .via = m->def.name, .from = s->from, .text = s->text,
						 .received = s->received, .dedup = s->dedup };
			nloc += s->nloc;
		}
		if (!sink->received || sink->received(sink->data, in, n) != 0) {
			if (!m->store_failing) {
				struct log_fields f = modem_fields(m);
				glog(GLOG_MODEM, LOGL_ERROR, &f,
				     "could not store %u received messages; they stay on the SIM, "
				     "retrying", m->nready);
			}
			m->store_failing = true;
			m->retry_at_ms = now + 1000;
			break;
		}
		if (m->store_failing) {
			struct log_fields f = modem_fields(m);
			glog(GLOG_MODEM, LOGL_NOTICE, &f, "received messages stored again");
		}
		m->store_failing = false;
		struct del_job *d = malloc(sizeof(*d) + nloc * sizeof(struct sms_loc));
		if (d)
			d->n = 0;
		for (unsigned i = 0; i < n; i++) {
			struct sms_msg *s = m->ready[i];
			struct log_fields f = modem_fields(m);
			char masked[64];
			log_mask(masked, sizeof(masked), s->from);
			if (s->have < s->total) {
				modem_count(m, MODEM_CTR_INCOMPLETE, 1);
				glog(GLOG_MODEM, LOGL_NOTICE, &f,
				     "message from %s released with %u of %u parts", masked, s->have,
				     s->total);
			} else {
				glog(GLOG_MODEM, LOGL_INFO, &f, "message from %s, %u part%s", masked,
				     s->total, s->total > 1 ? "s" : "");
			}
			/* No text here, not even at debug: only the router knows whether it
			 * answers a secret question (it logs the others at debug). */
			modem_count(m, MODEM_CTR_RECEIVED, 1);
			if (d) {
				memcpy(d->loc + d->n, s->locs, s->nloc * sizeof(struct sms_loc));
				d->n += s->nloc;
			}
			talloc_free(s);
		}
		/* Without memory for the delete job the parts stay on the SIM; the next start
		 * reads them again and the store recognises them by their dedup key. */
		if (d)
			to_thread(m, &d->list, &m->dels);
		memmove(m->ready, m->ready + n, (m->nready - n) * sizeof(*m->ready));
		m->nready -= n;
		if (m->nready < READY_MAX / 2) {
			m->nready += take_ready(m, now, READY_MAX - m->nready);
		}
	}
	update_hold(m);
	schedule(m);
}

static void modem_timer_cb(void *data)
{
	modem_deliver(data);
}


/* A final status report handed to the sink's receipt_later: deleted from the SIM once its
 * receipt is committed (report_stored). Freed with the modem: the sink forgets it then. */
struct report_wait {
	struct modem *m;
	struct sms_loc loc;
	void (*cancel)(void *data, void *sdata);
	void *data;
};

static int report_wait_destructor(struct report_wait *w)
{
	if (w->cancel)
		w->cancel(w->data, w);
	return 0;
}

static void report_stored(void *sdata, bool ok)
{
	struct report_wait *w = sdata;
	struct del_job *d = ok ? malloc(sizeof(*d) + sizeof(struct sms_loc)) : NULL;

	/* Not written, or no memory for the delete job: the report stays on the SIM and is
	 * read again at the next start, to say the same again. */
	if (d) {
		d->n = 1;
		d->loc[0] = w->loc;
		to_thread(w->m, &d->list, &w->m->dels);
	}
	w->cancel = NULL;	/* the sink is done with it */
	talloc_free(w);
}

/* Status reports read from the SIM: each final one to the sink (the store finds its message
 * by modem and reference), deleted once the sink has committed it, as received messages are
 * deleted once stored; a pending one at once (a final one follows). */
static void modem_reports(struct modem *m, const struct sms_report *r, unsigned n)
{
	struct sms_sink *sink = &m->pool->sink;
	struct log_fields f = modem_fields(m);
	struct del_job *d = malloc(sizeof(*d) + n * sizeof(struct sms_loc));
	if (d)
		d->n = 0;
	for (unsigned i = 0; i < n; i++) {
		char stat[24], ref[16];
		int outcome = sms_report_outcome(r[i].status, stat, sizeof(stat));
		modem_count(m, MODEM_CTR_REPORTS, 1);
		sms_report_key(ref, sizeof(ref), r[i].ref, r[i].to);
		glog(GLOG_MODEM, outcome == 0 ? LOGL_NOTICE : LOGL_DEBUG, &f,
		     "status report for reference %s: %s", ref, stat);
		if (outcome >= 0 && sink->receipt_later) {
			struct report_wait *w = talloc_zero(m, struct report_wait);
			if (w) {
				*w = (struct report_wait){ .m = m, .loc = r[i].loc };
				talloc_set_destructor(w, report_wait_destructor);
			}
			if (!w || sink->receipt_later(sink->data, 0, m->def.name, ref, outcome == 1,
						      stat, report_stored, w) != 0) {
				glog(GLOG_MODEM, LOGL_ERROR, &f, "out of memory: the status report "
				     "for reference %s stays on the SIM until the next start", ref);
				talloc_free(w);
				continue;
			}
			w->cancel = sink->received_cancel;
			w->data = sink->data;
			continue;
		}
		if (outcome >= 0 && sink->receipt)
			sink->receipt(sink->data, 0, m->def.name, ref, outcome == 1, stat);
		if (d)
			d->loc[d->n++] = r[i].loc;
	}
	/* Without memory for the delete job the reports stay on the SIM; read again at the
	 * next start, they only say the same again. */
	if (d && d->n)
		to_thread(m, &d->list, &m->dels);
	else
		free(d);
}

static void handle_event(struct modem *m, struct modem_ev *ev)
{
	struct sms_sink *sink = &m->pool->sink;
	struct log_fields f = modem_fields(m);
	int64_t now = clock_mono_ms();
	switch (ev->kind) {
	case EV_PARTS:
		for (unsigned i = 0; i < ev->n; i++) {
			modem_count(m, MODEM_CTR_PARTS_IN, 1);
			struct sms_part_in in;
			sms_part_input(&ev->parts[i], (int64_t)time(NULL), &in);
			if (sms_parts_add(m->reasm, &in, now) < 0)
				glog(GLOG_MODEM, LOGL_ERROR, &f,
				     "out of memory: a part stays on the SIM until the next start");
		}
		break;
	case EV_REPORTS:
		modem_reports(m, ev->reports, ev->n);
		break;
	case EV_SENT:
		m->queued--;
		modem_count(m, MODEM_CTR_SENT, 1);
		modem_count(m, MODEM_CTR_PARTS_OUT, (unsigned)ev->value);
		/* Before the sent mark: the router writes both in one batch, in this order. */
		for (unsigned i = 0; m->def.status_reports && sink->remote_id && i < ev->nrefs; i++) {
			char ref[16];
			if (ev->refs[i] < 0 || ev->refs[i] > 255)
				continue;
			sms_report_key(ref, sizeof(ref), ev->refs[i], ev->to);
			sink->remote_id(sink->data, ev->id, m->def.name, ref);
		}
		if (sink->sent)
			sink->sent(sink->data, ev->id);
		break;
	case EV_FAILED:
		m->queued--;
		modem_count(m, MODEM_CTR_FAILURES, 1);
		glog(GLOG_MODEM, ev->permanent ? LOGL_ERROR : LOGL_NOTICE, &f,
		     "reply %" PRId64 " not sent: %s", ev->id, ev->why);
		if (sink->failed)
			sink->failed(sink->data, ev->id, ev->permanent, ev->why);
		break;
	case EV_UP:
		m->t.up = true;
		osmo_stat_item_set(osmo_stat_item_group_get_item(m->stats, MODEM_STAT_UP), 1);
		if (m->ever_up)
			glog(GLOG_MODEM, LOGL_NOTICE, &f, "modem back after %" PRId64 " s",
			     (now - m->down_since_ms) / 1000);
		else
			glog(GLOG_MODEM, LOGL_NOTICE, &f, "modem connected (%s)", m->def.device);
		m->ever_up = true;
		m->want_ready = true;
		break;
	case EV_DOWN:
		m->t.up = false;
		osmo_stat_item_set(osmo_stat_item_group_get_item(m->stats, MODEM_STAT_UP), 0);
		m->down_since_ms = now;
		if (m->ever_up)
			modem_count(m, MODEM_CTR_RESETS, 1);
		glog(GLOG_MODEM, LOGL_ERROR, &f, "modem down: %s; reconnecting", ev->why);
		break;
	case EV_SIGNAL:
		m->signal = ev->value;
		osmo_stat_item_set(osmo_stat_item_group_get_item(m->stats, MODEM_STAT_SIGNAL),
				   m->signal);
		break;
	}
}

static int modem_fd_cb(struct osmo_fd *ofd, unsigned int what)
{
	(void)what;
	struct modem *m = ofd->data;
	uint64_t cnt;
	if (read(ofd->fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return 0;
	LLIST_HEAD(evs);
	pthread_mutex_lock(&m->mu);
	llist_splice_init(&m->events, &evs);
	pthread_mutex_unlock(&m->mu);
	bool parts = false;
	struct modem_ev *ev, *tmp;
	llist_for_each_entry_safe(ev, tmp, &evs, list) {
		llist_del(&ev->list);
		handle_event(m, ev);
		parts |= ev->kind == EV_PARTS;
		free(ev->parts);
		free(ev->reports);
		free(ev);
	}
	if (parts)
		modem_deliver(m);
	maybe_ready(m);
	return 0;
}

static void free_records(struct modem *m)
{
	struct send_job *j, *jt;
	llist_for_each_entry_safe(j, jt, &m->sends, list) {
		llist_del(&j->list);
		free(j);
	}
	struct del_job *d, *dt;
	llist_for_each_entry_safe(d, dt, &m->dels, list) {
		llist_del(&d->list);
		free(d);
	}
	struct modem_ev *ev, *et;
	llist_for_each_entry_safe(ev, et, &m->events, list) {
		llist_del(&ev->list);
		free(ev->parts);
		free(ev->reports);
		free(ev);
	}
}

static int modem_destructor(struct modem *m)
{
	osmo_timer_del(&m->timer);
	if (m->ofd.fd >= 0) {
		osmo_fd_unregister(&m->ofd);
		close(m->ofd.fd);
		m->ofd.fd = -1;
	}
	free_records(m);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	pthread_cond_destroy(&m->watch_cv);
	return 0;
}

static struct modem *modem_create(struct modem_pool *p, const struct modem_def *d,
				  const struct config *c)
{
	struct modem *m = talloc_zero(p, struct modem);
	if (!m)
		return NULL;
	m->pool = p;
	m->def = *d;
	m->def.name = talloc_strdup(m, d->name);
	m->def.device = talloc_strdup(m, d->device);
	m->def.connection = talloc_strdup(m, d->connection ? d->connection : "at");
	m->def.model = talloc_strdup(m, d->model ? d->model : "");
	m->def.sent_log = d->sent_log ? talloc_strdup(m, d->sent_log) : NULL;
	m->def.pin = NULL;
	if (!m->def.poll_ms)
		m->def.poll_ms = 1000;
	m->signal = -1;
	m->ofd.fd = -1;
	m->ctrs = metrics_ctr_group(m, &modem_ctrg_desc, m->def.name);
	m->stats = metrics_stat_group(m, &modem_statg_desc, m->def.name);
	if (!m->ctrs || !m->stats) {
		talloc_free(m);
		return NULL;
	}
	INIT_LLIST_HEAD(&m->sends);
	INIT_LLIST_HEAD(&m->dels);
	INIT_LLIST_HEAD(&m->events);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, &ca);
	pthread_cond_init(&m->watch_cv, &ca);
	pthread_condattr_destroy(&ca);
	talloc_set_destructor(m, modem_destructor);
	atomic_store(&m->beat_ms, clock_mono_ms());
	osmo_timer_setup(&m->timer, modem_timer_cb, m);

	struct log_fields f = modem_fields(m);
	if (d->pin && c) {
		char err[200];
		m->pin = config_read_secret(m, c, d->pin, err, sizeof(err));
		if (!m->pin)
			glog(GLOG_MODEM, LOGL_ERROR, &f, "PIN not read, starting without: %s", err);
	}
	m->reasm = sms_parts_alloc(m, (int64_t)d->reassembly_timeout_s * 1000, REASM_MAX);
	m->ready = talloc_array(m, struct sms_msg *, READY_MAX);
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!m->def.name || !m->def.device || !m->reasm || !m->ready || fd < 0) {
		if (fd >= 0)
			close(fd);
		talloc_free(m);
		return NULL;
	}
	osmo_fd_setup(&m->ofd, fd, OSMO_FD_READ, modem_fd_cb, m, 0);
	if (osmo_fd_register(&m->ofd) < 0) {
		close(fd);
		m->ofd.fd = -1;
		talloc_free(m);
		return NULL;
	}
	m->t.name = m->def.name;
	m->t.send = modem_send;
	m->t.room = modem_room;
	m->t.group = "modem";
	m->t.priv = m;
	m->t.up = false;
	return m;
}

struct modem_pool *modem_pool_start(void *ctx, const struct modem_config *mc,
				    const struct config *c, struct sms_sink sink)
{
	if (!mc || !mc->n)
		return NULL;
	struct modem_pool *p = talloc_zero(ctx, struct modem_pool);
	if (!p)
		return NULL;
	p->sink = sink;
	p->m = talloc_zero_array(p, struct modem *, mc->n);
	if (!p->m)
		goto fail;
	for (unsigned i = 0; i < mc->n; i++) {
		struct modem *m = modem_create(p, &mc->m[i], c);
		if (!m)
			goto fail;
		p->m[p->n++] = m;
		if (sink.registered)
			sink.registered(sink.data, &m->t);
	}
	/* Modem threads take no signal, whatever the caller blocked: a process-directed
	 * signal would otherwise be delivered to whichever thread has it unblocked, and its
	 * default action (SIGHUP, SIGUSR1, SIGTERM: terminate) kill the daemon. */
	sigset_t all, old;
	sigfillset(&all);
	/* Faults stay deliverable: they concern the thread that caused them. */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < p->n; i++) {
		struct modem *m = p->m[i];
		int rc = pthread_create(&m->thread, NULL, modem_thread, m);
		if (rc != 0) {
			struct log_fields f = modem_fields(m);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			glog(GLOG_MODEM, LOGL_ERROR, &f, "cannot start the modem thread: %s",
			     strerror(rc));
			goto fail;
		}
		m->started = true;
		rc = pthread_create(&m->watch, NULL, modem_watch_thread, m);
		if (rc != 0) {
			struct log_fields f = modem_fields(m);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			glog(GLOG_MODEM, LOGL_ERROR, &f, "cannot start the modem watchdog: %s",
			     strerror(rc));
			goto fail;
		}
		m->watch_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
fail:
	modem_pool_stop(p);
	return NULL;
}

void modem_pool_stop(struct modem_pool *p)
{
	if (!p)
		return;
	/* The router must never offer to (or reach through its timers) a modem freed below. */
	for (unsigned i = 0; i < p->n; i++) {
		p->m[i]->t.up = false;
		if (p->sink.unregistered)
			p->sink.unregistered(p->sink.data, &p->m[i]->t);
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct modem *m = p->m[i];
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_cond_signal(&m->cv);
		pthread_cond_signal(&m->watch_cv);
		pthread_mutex_unlock(&m->mu);
	}
	for (unsigned i = 0; i < p->n; i++) {
		if (p->m[i]->started)
			pthread_join(p->m[i]->thread, NULL);
		if (p->m[i]->watch_started)
			pthread_join(p->m[i]->watch, NULL);
	}
	talloc_free(p);
}

void modem_pool_status(const struct modem_pool *p, unsigned *up, unsigned *total)
{
	unsigned u = 0;
	for (unsigned i = 0; p && i < p->n; i++)
		u += p->m[i]->t.up;
	*up = u;
	*total = p ? p->n : 0;
}

bool modem_pool_alive(const struct modem_pool *p)
{
	int64_t now = clock_mono_ms();
	for (unsigned i = 0; p && i < p->n; i++)
		if (now - atomic_load(&p->m[i]->beat_ms) > (int64_t)MODEM_HEARTBEAT_MAX_S * 1000)
			return false;
	return true;
}

char *modem_pool_counters(void *ctx, const struct modem_pool *p)
{
	char *s = talloc_strdup(ctx, "");
	for (unsigned i = 0; s && p && i < p->n; i++) {
		const struct modem *m = p->m[i];
		char sig[16];
		if (m->signal >= 0)
			snprintf(sig, sizeof(sig), "%d%%", m->signal);
		else
			snprintf(sig, sizeof(sig), "?");
		s = talloc_asprintf_append(s, "%s%s %s sig %s in %" PRIu64 "/%" PRIu64 " out %" PRIu64
					   "/%" PRIu64 " fail %" PRIu64 " resets %" PRIu64
					   " incomplete %" PRIu64 " queued %u",
					   i ? "; " : "", m->def.name, m->t.up ? "up" : "down", sig,
					   modem_counter(m, MODEM_CTR_RECEIVED),
					   modem_counter(m, MODEM_CTR_PARTS_IN),
					   modem_counter(m, MODEM_CTR_SENT),
					   modem_counter(m, MODEM_CTR_PARTS_OUT),
					   modem_counter(m, MODEM_CTR_FAILURES),
					   modem_counter(m, MODEM_CTR_RESETS),
					   modem_counter(m, MODEM_CTR_INCOMPLETE), m->queued);
	}
	return s;
}
