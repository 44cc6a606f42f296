/* GSM modems through libGammu: one thread per modem, the loop talks to it through queues.
 * See include/guichet/modem.h for the contract. */
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

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <gammu.h>
#pragma GCC diagnostic pop

#include <jansson.h>
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
#include "guichet/text.h"

/* Parts read per poll before they are handed over (the rest waits for the next poll). */
#define POLL_BATCH 256
/* Messages handed to the sink per call. */
#define DELIVER_BATCH 64
/* Above this many messages waiting for the store, the thread stops reading the SIM. */
#define READY_MAX 1024
/* Concatenated messages waiting for parts, per modem. */
#define REASM_MAX 2048
/* How long a sent part may wait for its status (real modems: 2.5-10 s): at most this, and
 * once the modem has answered a send, STATUS_FACTOR times the longest it took, but not
 * less than STATUS_MIN_MS. A modem that stops answering in the middle of a send is then
 * noticed within seconds, not after 30 s, and a slow network is still waited for. */
#define SEND_STATUS_MS 30000
#define STATUS_FACTOR 3
#define STATUS_MIN_MS 6000
#define SIGNAL_PERIOD_MS 60000
#define BACKOFF_MAX_S 30
/* Consecutive errors that take a modem down (a timeout or a link error does at once). */
#define ERROR_LIMIT 4
/* A command a healthy modem answers at once (reading or deleting messages, signal quality,
 * the prompt of AT+CMGS) that has not returned after this long is aborted and the modem
 * taken down: libGammu's own timeouts wait up to 30 s (the AT+CMGS prompt). The wait for
 * a sent part's status is not bounded by this (the network takes seconds). With the
 * watchdog's 1 s tick, a modem that stops answering is down within ~7 s of its next
 * command, without any traffic added to a healthy modem. */
#define COMMAND_MAX_MS 5000

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
	int refs[GSM_MAX_MULTI_SMS];
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
	/* under mu: the libGammu command in progress, for the loop's watchdog (cmd_watch_cb) */
	GSM_StateMachine *cmd_sm;	/* NULL: none */
	int64_t cmd_since_ms;
	bool cmd_aborted;
	pthread_t watch;		/* cmd_watch_thread */
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

static struct log_fields modem_fields(const struct modem *m)
{
	return (struct log_fields){ .modem = m->def.name, .channel = "sms" };
}

/* ================= modem thread side ================= */

struct mthread {
	struct modem *m;
	GSM_StateMachine *s;
	bool connected, confirmed;	/* confirmed: a poll succeeded since connecting */
	GSM_MultiSMSMessage *in, *out;	/* ~260 KB each: heap, reused */
	int64_t *seen;			/* sorted folder<<32|location handed to the loop */
	unsigned nseen, capseen;
	int unreadable[16];		/* SIM locations already logged as undecodable */
	unsigned n_unreadable;
	struct send_job *job;		/* being sent */
	int part, nparts;
	int64_t next_poll, next_send, next_signal, next_connect;
	int64_t scan_ms;		/* how long the last inbox scan took */
	unsigned backoff_s, errs;
	bool got_status;
	int status, mr;			/* the status callback's: 0 = sent, message reference */
	int refs[GSM_MAX_MULTI_SMS];	/* the job's parts' message references */
	bool aborted;			/* libGammu's abort flag is set on s: replace s */
	int64_t status_max_ms;		/* longest a part's status took (0: none seen yet) */
	char down_why[160];
};

/* A libGammu command starts: the watchdog may abort it after COMMAND_MAX_MS. */
static void cmd_begin(struct mthread *th)
{
	struct modem *m = th->m;

	pthread_mutex_lock(&m->mu);
	m->cmd_sm = th->s;
	m->cmd_since_ms = clock_mono_ms();
	m->cmd_aborted = false;
	pthread_mutex_unlock(&m->mu);
}

/* The command returned err: a command the watchdog aborted counts as a timeout. */
static GSM_Error cmd_end(struct mthread *th, GSM_Error err)
{
	struct modem *m = th->m;

	pthread_mutex_lock(&m->mu);
	bool aborted = m->cmd_aborted;
	m->cmd_sm = NULL;
	m->cmd_aborted = false;
	pthread_mutex_unlock(&m->mu);
	if (!aborted)
		return err;
	/* libGammu never clears its abort flag: every later command on this state machine
	 * would fail at once, so it is replaced when the modem goes down. */
	th->aborted = true;
	return ERR_TIMEOUT;
}

static void post(struct modem *m, struct modem_ev *ev)
{
	pthread_mutex_lock(&m->mu);
	llist_add_tail(&ev->list, &m->events);
	pthread_mutex_unlock(&m->mu);
	uint64_t one = 1;
	if (write(m->ofd.fd, &one, sizeof(one)) < 0) {
		/* eventfd counter saturated: the loop is already woken */
	}
}

static struct modem_ev *ev_new(enum ev_kind kind)
{
	struct modem_ev *ev = calloc(1, sizeof(*ev));
	if (ev)
		ev->kind = kind;
	return ev;
}

static void post_simple(struct modem *m, enum ev_kind kind, int64_t id, bool permanent,
			int value, const char *why)
{
	struct modem_ev *ev = ev_new(kind);
	if (!ev)
		return;		/* out of memory in a thread: nothing sensible to do */
	ev->id = id;
	ev->permanent = permanent;
	ev->value = value;
	if (why)
		snprintf(ev->why, sizeof(ev->why), "%s", why);
	post(m, ev);
}

static int64_t loc_key(struct sms_loc l)
{
	return (int64_t)(uint32_t)l.folder << 32 | (uint32_t)l.location;
}

static long seen_find(const struct mthread *th, int64_t k, bool *found)
{
	long lo = 0, hi = (long)th->nseen;
	while (lo < hi) {
		long mid = (lo + hi) / 2;
		if (th->seen[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < (long)th->nseen && th->seen[lo] == k;
	return lo;
}

static bool seen_add(struct mthread *th, int64_t k)
{
	bool found;
	long at = seen_find(th, k, &found);
	if (found)
		return true;
	if (th->nseen == th->capseen) {
		unsigned cap = th->capseen ? 2 * th->capseen : 256;
		int64_t *n = realloc(th->seen, cap * sizeof(*n));
		if (!n)
			return false;
		th->seen = n;
		th->capseen = cap;
	}
	memmove(th->seen + at + 1, th->seen + at, (th->nseen - (size_t)at) * sizeof(*th->seen));
	th->seen[at] = k;
	th->nseen++;
	return true;
}

static void seen_del(struct mthread *th, int64_t k)
{
	bool found;
	long at = seen_find(th, k, &found);
	if (!found)
		return;
	memmove(th->seen + at, th->seen + at + 1, (th->nseen - (size_t)at - 1) * sizeof(*th->seen));
	th->nseen--;
}

static bool link_error(GSM_Error e)
{
	switch (e) {
	case ERR_DEVICEOPENERROR:
	case ERR_DEVICELOCKED:
	case ERR_DEVICENOTEXIST:
	case ERR_DEVICEBUSY:
	case ERR_DEVICENOPERMISSION:
	case ERR_DEVICENODRIVER:
	case ERR_DEVICENOTWORK:
	case ERR_DEVICEDTRRTSERROR:
	case ERR_DEVICECHANGESPEEDERROR:
	case ERR_DEVICEWRITEERROR:
	case ERR_DEVICEREADERROR:
	case ERR_DEVICEPARITYERROR:
	case ERR_NOTCONNECTED:
		return true;
	default:
		return false;
	}
}

static void fail_job(struct mthread *th, struct send_job *j, bool permanent, const char *why)
{
	post_simple(th->m, EV_FAILED, j->id, permanent, 0, why);
	free(j);
}

static void go_down(struct mthread *th, const char *why)
{
	struct modem *m = th->m;
	if (th->connected)
		GSM_TerminateConnection(th->s);
	if (th->aborted) {
		GSM_FreeStateMachine(th->s);
		th->s = GSM_AllocStateMachine();	/* NULL: do_connect tries again */
		th->aborted = false;
	}
	bool was_up = th->confirmed;
	th->connected = th->confirmed = false;
	th->errs = 0;
	if (th->job) {
		fail_job(th, th->job, false, "modem down");
		th->job = NULL;
	}
	/* Queued replies go back to the router, which may send them through another modem. */
	LLIST_HEAD(drop);
	pthread_mutex_lock(&m->mu);
	llist_splice_init(&m->sends, &drop);
	pthread_mutex_unlock(&m->mu);
	struct send_job *j, *tmp;
	llist_for_each_entry_safe(j, tmp, &drop, list) {
		llist_del(&j->list);
		fail_job(th, j, false, "modem down");
	}
	if (was_up)
		post_simple(m, EV_DOWN, 0, false, 0, why);
	snprintf(th->down_why, sizeof(th->down_why), "%s", why);
	th->backoff_s = 1;
	th->next_connect = clock_mono_ms() + 1000;
}

/* Counts an error from a libGammu call; a link error, a timeout or a few errors in a row
 * take the modem down. */
static void health_error(struct mthread *th, GSM_Error e, const char *what)
{
	char why[160];
	snprintf(why, sizeof(why), "%s: %s", what, GSM_ErrorString(e));
	/* A modem that answered before and now lets a command time out has stalled: waiting
	 * for a second timeout would cost another long libGammu wait. */
	if (link_error(e) || e == ERR_TIMEOUT)
		th->errs = ERROR_LIMIT;
	else
		th->errs++;
	if (th->errs >= ERROR_LIMIT)
		go_down(th, why);
}

static void status_cb(GSM_StateMachine *s, int status, int mr, void *user)
{
	(void)s;
	struct mthread *th = user;
	th->status = status;
	th->mr = mr;
	th->got_status = true;
}

static void unicode_from_ascii(unsigned char *dst, size_t max_units, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < max_units; i++) {
		dst[2 * i] = 0;
		dst[2 * i + 1] = (unsigned char)s[i];
	}
	dst[2 * i] = dst[2 * i + 1] = 0;
}

static void ascii_from_unicode(char *dst, size_t max, const unsigned char *u)
{
	size_t o = 0;
	for (size_t i = 0; (u[2 * i] || u[2 * i + 1]) && o + 1 < max; i++)
		if (u[2 * i] == 0 && u[2 * i + 1] >= 0x20 && u[2 * i + 1] < 0x7f)
			dst[o++] = (char)u[2 * i + 1];
	dst[o] = 0;
}

static int64_t smsc_unix(const GSM_DateTime *d)
{
	if (d->Year < 1970 || d->Month < 1 || d->Day < 1)
		return 0;
	struct tm tm = {
		.tm_year = d->Year - 1900, .tm_mon = d->Month - 1, .tm_mday = d->Day,
		.tm_hour = d->Hour, .tm_min = d->Minute, .tm_sec = d->Second,
	};
	return (int64_t)timegm(&tm) - d->Timezone;
}

void sms_part_from_gammu(struct sms_part *p, const GSM_SMSMessage *sms)
{
	memset(p, 0, offsetof(struct sms_part, ucs2));
	p->loc.folder = sms->Folder;
	p->loc.location = sms->Location;
	ascii_from_unicode(p->from, sizeof(p->from), sms->Number);
	p->smsc_time = smsc_unix(&sms->DateTime);
	if (sms->UDH.Type != UDH_NoUDH && sms->UDH.Length > 0) {
		sms_udh_parse(sms->UDH.Text, (size_t)sms->UDH.Length, &p->cc);
	} else if ((sms->UDH.Type == UDH_ConcatenatedMessages ||
		    sms->UDH.Type == UDH_ConcatenatedMessages16bit) &&
		   sms->UDH.AllParts > 0 && sms->UDH.AllParts <= 255 && sms->UDH.PartNumber > 0 &&
		   sms->UDH.PartNumber <= sms->UDH.AllParts) {
		bool r16 = sms->UDH.Type == UDH_ConcatenatedMessages16bit;
		p->cc = (struct sms_concat){ .present = true, .ref16 = r16,
					     .ref = (uint16_t)(r16 ? sms->UDH.ID16bit : sms->UDH.ID8bit),
					     .total = (uint8_t)sms->UDH.AllParts,
					     .seq = (uint8_t)sms->UDH.PartNumber };
	}
	if (sms->Coding == SMS_Coding_8bit) {
		size_t len = sms->Length > 0 ? (size_t)sms->Length : 0;
		sms_part_set_8bit(p, sms->Text, len);
	} else {
		sms_part_set_ucs2(p, sms->Text, UnicodeLength(sms->Text));
	}
}

void sms_part_set_8bit(struct sms_part *p, const uint8_t *data, size_t len)
{
	if (len > sizeof(p->ucs2) / 2)
		len = sizeof(p->ucs2) / 2;
	for (size_t i = 0; i < len; i++) {
		p->ucs2[2 * i] = 0;
		p->ucs2[2 * i + 1] = data[i];
	}
	p->len = (unsigned)(2 * len);
}

void sms_part_set_ucs2(struct sms_part *p, const uint8_t *ucs2, size_t units)
{
	size_t bytes = 2 * units;
	if (bytes > sizeof(p->ucs2))
		bytes = sizeof(p->ucs2);
	memcpy(p->ucs2, ucs2, bytes);
	p->len = (unsigned)bytes;
}

uint64_t sms_loc_handle(struct sms_loc loc)
{
	return (uint64_t)(uint32_t)loc.folder << 32 | (uint32_t)loc.location;
}

struct sms_loc sms_handle_loc(uint64_t h)
{
	return (struct sms_loc){ .folder = (int)(uint32_t)(h >> 32), .location = (int)(uint32_t)h };
}

void sms_part_input(const struct sms_part *p, int64_t received, struct sms_part_in *in)
{
	*in = (struct sms_part_in){ .from = p->from, .cc = p->cc, .alphabet = SMS_UCS2,
				    .data = p->ucs2, .len = p->len, .handle = sms_loc_handle(p->loc),
				    .smsc_time = p->smsc_time, .received = received };
}

char *sms_dedup_key(void *ctx, const struct sms_parts_msg *m)
{
	char *k = talloc_asprintf(ctx, "v1:%s:%" PRId64 ":%u/%u:%016" PRIx64, m->from, m->smsc_time,
				  m->total > 1 ? m->ref : 0, m->total, m->first_hash);
	if (k && m->smsc_time == 0) {
		struct sms_loc l = sms_handle_loc(m->first_handle);
		k = talloc_asprintf_append(k, ":@%d.%d", l.folder, l.location);
	}
	return k;
}

struct sms_msg *sms_msg_from_parts(void *ctx, const struct sms_parts_msg *pm)
{
	struct sms_msg *m = talloc_zero(ctx, struct sms_msg);
	if (!m)
		return NULL;
	m->from = talloc_strdup(m, pm->from);
	m->text = talloc_strdup(m, pm->text);
	m->dedup = sms_dedup_key(m, pm);
	m->locs = talloc_array(m, struct sms_loc, pm->n_handles ? pm->n_handles : 1);
	if (!m->from || !m->text || !m->dedup || !m->locs) {
		talloc_free(m);
		return NULL;
	}
	for (unsigned i = 0; i < pm->n_handles; i++)
		m->locs[m->nloc++] = sms_handle_loc(pm->handles[i]);
	m->smsc_time = pm->smsc_time;
	m->received = pm->received;
	m->have = pm->have;
	m->total = pm->total;
	return m;
}

/* While replies wait, the inbox is scanned at most this often, in multiples of the last
 * scan's duration: scanning then takes at most 1/(N+1) of the thread's time. (A scan can
 * cost far more than a send: libGammu's dummy driver probes 50,000 paths to end one.) */
#define POLL_SCAN_RATIO_BUSY 3

static void unreadable_log(struct mthread *th, int location, GSM_Error e)
{
	for (unsigned i = 0; i < th->n_unreadable; i++)
		if (th->unreadable[i] == location)
			return;
	if (th->n_unreadable < sizeof(th->unreadable) / sizeof(th->unreadable[0]))
		th->unreadable[th->n_unreadable++] = location;
	struct log_fields f = modem_fields(th->m);
	glog(GLOG_MODEM, LOGL_NOTICE, &f, "message at SIM location %d cannot be decoded (%s): "
	     "left on the SIM, skipped", location, GSM_ErrorString(e));
}

/* What one inbox scan found and has not handed over yet (malloc'd, POLL_BATCH each). */
struct scan {
	struct sms_part *parts;
	struct sms_report *reports;
	unsigned n, nrep;
};

/* Copies sms into the scan unless it was handed over already. False when out of memory. */
static bool scan_take(struct mthread *th, struct scan *sc, const GSM_SMSMessage *sms)
{
	struct sms_loc loc = { sms->Folder, sms->Location };
	bool found;
	seen_find(th, loc_key(loc), &found);
	if (found)
		return true;
	if (sms->PDU == SMS_Status_Report) {
		if (!sc->reports && !(sc->reports = malloc(POLL_BATCH * sizeof(*sc->reports))))
			return false;
		if (!seen_add(th, loc_key(loc)))
			return false;
		sc->reports[sc->nrep++] = (struct sms_report){ .loc = loc,
			.ref = sms->MessageReference, .status = sms->DeliveryStatus };
		return true;
	}
	if (!sc->parts && !(sc->parts = malloc(POLL_BATCH * sizeof(*sc->parts))))
		return false;
	if (!seen_add(th, loc_key(loc)))
		return false;
	sms_part_from_gammu(&sc->parts[sc->n++], sms);
	return true;
}

/* Posts what the scan found to the loop. Without memory for an event, what it held is
 * forgotten as handed over, so the next scan reads it again. */
static void scan_post(struct mthread *th, struct scan *sc)
{
	struct modem_ev *ev;
	if (sc->n && (ev = ev_new(EV_PARTS))) {
		ev->n = sc->n;
		ev->parts = sc->parts;
		sc->parts = NULL;
		post(th->m, ev);
	}
	if (sc->nrep && (ev = ev_new(EV_REPORTS))) {
		ev->n = sc->nrep;
		ev->reports = sc->reports;
		sc->reports = NULL;
		post(th->m, ev);
	}
	for (unsigned i = 0; sc->parts && i < sc->n; i++)
		seen_del(th, loc_key(sc->parts[i].loc));
	for (unsigned i = 0; sc->reports && i < sc->nrep; i++)
		seen_del(th, loc_key(sc->reports[i].loc));
	free(sc->parts);
	free(sc->reports);
}

/* Reads the inbox once; hands every part and status report not handed yet to the loop. */
static void do_poll(struct mthread *th)
{
	struct modem *m = th->m;
	int64_t started = clock_mono_ms();
	GSM_MultiSMSMessage *in = th->in;
	struct scan sc = { 0 };
	bool start = true, more = false;
	unsigned skipped = 0;
	GSM_Error err;
	for (;;) {
		in->Number = 0;
		if (start) {
			in->SMS[0].Folder = 0;
			in->SMS[0].Location = 0;
		}
		cmd_begin(th);
		err = cmd_end(th, GSM_GetNextSMS(th->s, in, start));
		if (err == ERR_EMPTY) {
			err = ERR_NONE;
			break;
		}
		if (err != ERR_NONE && !link_error(err) && err != ERR_TIMEOUT &&
		    in->SMS[0].Location > 0 && skipped++ < 256) {
			/* A PDU libGammu cannot decode (its location is set): go on with the next
			 * one, or every message stored after it would wait forever. It stays on
			 * the SIM; it is skipped again at each scan, logged once. */
			unreadable_log(th, in->SMS[0].Location, err);
			start = false;
			continue;
		}
		if (err != ERR_NONE)
			break;
		start = false;
		for (int i = 0; i < in->Number && i < GSM_MAX_MULTI_SMS; i++) {
			const GSM_SMSMessage *sms = &in->SMS[i];
			if ((sms->PDU == SMS_Deliver || sms->PDU == SMS_Status_Report) &&
			    !scan_take(th, &sc, sms))
				break;
		}
		if (sc.n >= POLL_BATCH - GSM_MAX_MULTI_SMS ||
		    sc.nrep >= POLL_BATCH - GSM_MAX_MULTI_SMS) {
			more = true;
			break;
		}
	}
	if (err != ERR_NONE) {
		health_error(th, err, "reading the inbox");
	} else {
		th->errs = 0;
		if (!th->confirmed) {
			th->confirmed = true;
			th->backoff_s = 1;
			post_simple(m, EV_UP, 0, false, 0, NULL);
		}
	}
	scan_post(th, &sc);
	int64_t end = clock_mono_ms();
	th->scan_ms = end - started;
	int64_t gap = m->def.poll_ms;
	pthread_mutex_lock(&m->mu);
	bool sending = th->job || !llist_empty(&m->sends);
	pthread_mutex_unlock(&m->mu);
	if (sending && gap < POLL_SCAN_RATIO_BUSY * th->scan_ms)
		gap = POLL_SCAN_RATIO_BUSY * th->scan_ms;
	th->next_poll = more ? end : end + gap;
}

static void do_deletes(struct mthread *th, struct llist_head *dels)
{
	struct del_job *d, *tmp;
	llist_for_each_entry_safe(d, tmp, dels, list) {
		while (d->n > 0 && th->connected) {
			GSM_SMSMessage *sms = &th->in->SMS[0];
			struct sms_loc l = d->loc[d->n - 1];
			sms->Folder = l.folder;
			sms->Location = l.location;
			cmd_begin(th);
			GSM_Error err = cmd_end(th, GSM_DeleteSMS(th->s, sms));
			if (err == ERR_NONE || err == ERR_EMPTY || err == ERR_INVALIDLOCATION) {
				seen_del(th, loc_key(l));
				d->n--;
				continue;
			}
			health_error(th, err, "deleting a message");
			break;
		}
		if (d->n == 0) {
			llist_del(&d->list);
			free(d);
		}
	}
}

static void write_sent_log(struct mthread *th, const struct send_job *j)
{
	if (!th->m->def.sent_log)
		return;
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:I}", "modem", th->m->def.name,
			      "id", (json_int_t)j->id, "to", j->to, "text", j->text, "coding",
			      j->coding == TEXT_GSM7 ? "gsm7" : "ucs2", "parts", th->nparts, "time",
			      (json_int_t)time(NULL));
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	FILE *f = line ? fopen(th->m->def.sent_log, "a") : NULL;
	if (f) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
	free(line);
}

/* Encodes th->job into th->out. Returns 0, or -1 after failing the job (permanently). */
static int encode_job(struct mthread *th)
{
	struct send_job *j = th->job;
	if (j->coding == TEXT_GSM7 && !text_is_gsm7(j->text)) {
		fail_job(th, j, true, "text is not GSM-7 but was queued as GSM-7");
		th->job = NULL;
		return -1;
	}
	size_t cap = 2 * strlen(j->text) + 4;
	unsigned char *buf = malloc(cap);
	int len = buf ? text_utf8_to_ucs2be(j->text, buf, cap - 2) : -1;
	if (len < 0) {
		free(buf);
		fail_job(th, j, true, buf ? "text cannot be encoded" : "out of memory");
		th->job = NULL;
		return -1;
	}
	buf[len] = buf[len + 1] = 0;
	GSM_MultiPartSMSInfo info;
	GSM_ClearMultiPartSMSInfo(&info);
	info.Class = -1;
	info.EntriesNum = 1;
	info.UnicodeCoding = j->coding == TEXT_UCS2;
	info.Entries[0].ID = SMS_ConcatenatedTextLong;
	info.Entries[0].Buffer = buf;
	th->out->Number = 0;
	GSM_Error err = GSM_EncodeMultiPartSMS(GSM_GetDebug(th->s), &info, th->out);
	free(buf);
	if (err != ERR_NONE || th->out->Number < 1) {
		char why[160];
		snprintf(why, sizeof(why), "encoding: %s", GSM_ErrorString(err));
		fail_job(th, j, true, why);
		th->job = NULL;
		return -1;
	}
	for (int i = 0; i < th->out->Number; i++) {
		GSM_SMSMessage *sms = &th->out->SMS[i];
		/* libGammu's way of setting TP-SRR in a submit. */
		sms->PDU = th->m->def.status_reports ? SMS_Status_Report : SMS_Submit;
		sms->SMSC.Location = 1;
		unicode_from_ascii(sms->Number, GSM_MAX_NUMBER_LENGTH, j->to);
	}
	th->part = 0;
	th->nparts = th->out->Number;
	return 0;
}

/* Sends the next part of th->job (taking a new job when none is in progress). */
static void do_send(struct mthread *th)
{
	struct modem *m = th->m;
	if (!th->job) {
		pthread_mutex_lock(&m->mu);
		if (!llist_empty(&m->sends)) {
			th->job = llist_first_entry(&m->sends, struct send_job, list);
			llist_del(&th->job->list);
		}
		pthread_mutex_unlock(&m->mu);
		if (!th->job || encode_job(th) < 0)
			return;
	}
	GSM_SMSMessage *sms = &th->out->SMS[th->part];
	th->got_status = false;
	th->status = th->mr = -1;
	GSM_SetSendSMSStatusCallback(th->s, status_cb, th);
	cmd_begin(th);
	GSM_Error err = cmd_end(th, GSM_SendSMS(th->s, sms));
	int64_t sent_at = clock_mono_ms(), limit = SEND_STATUS_MS;
	if (th->status_max_ms) {
		limit = th->status_max_ms * STATUS_FACTOR;
		limit = limit < STATUS_MIN_MS ? STATUS_MIN_MS : limit > SEND_STATUS_MS ? SEND_STATUS_MS
											: limit;
	}
	int64_t deadline = sent_at + limit;
	while (err == ERR_NONE && !th->got_status) {
		if (clock_mono_ms() > deadline) {
			err = ERR_TIMEOUT;
			break;
		}
		atomic_store(&m->beat_ms, clock_mono_ms());
		if (GSM_ReadDevice(th->s, TRUE) <= 0)
			usleep(10000);	/* it returns at once when the line is quiet */
		if (!GSM_IsConnected(th->s))
			err = ERR_NOTCONNECTED;
	}
	if (m->def.rate)
		th->next_send = clock_mono_ms() + 60000 / m->def.rate;
	if (err != ERR_NONE) {
		char why[160];
		snprintf(why, sizeof(why), "sending part %d/%d: %s", th->part + 1, th->nparts,
			 GSM_ErrorString(err));
		struct send_job *j = th->job;
		th->job = NULL;
		fail_job(th, j, false, why);
		health_error(th, err, "sending");
		return;
	}
	th->errs = 0;
	if (clock_mono_ms() - sent_at > th->status_max_ms)
		th->status_max_ms = clock_mono_ms() - sent_at;
	if (th->status != 0) {
		char why[160];
		snprintf(why, sizeof(why), "part %d/%d refused (status %d)", th->part + 1,
			 th->nparts, th->status);
		fail_job(th, th->job, false, why);
		th->job = NULL;
		return;
	}
	th->refs[th->part] = th->mr;
	if (++th->part < th->nparts)
		return;
	write_sent_log(th, th->job);
	struct modem_ev *ev = ev_new(EV_SENT);
	if (ev) {	/* out of memory: the reply stays "taken" until the next start */
		ev->id = th->job->id;
		ev->value = th->nparts;
		ev->nrefs = (unsigned)th->nparts;
		memcpy(ev->refs, th->refs, (size_t)th->nparts * sizeof(th->refs[0]));
		post(m, ev);
	}
	free(th->job);
	th->job = NULL;
}

static void do_signal(struct mthread *th)
{
	GSM_SignalQuality sq;
	memset(&sq, 0, sizeof(sq));
	cmd_begin(th);
	GSM_Error err = cmd_end(th, GSM_GetSignalQuality(th->s, &sq));
	th->next_signal = clock_mono_ms() + SIGNAL_PERIOD_MS;
	if (err == ERR_NONE)
		post_simple(th->m, EV_SIGNAL, 0, false, sq.SignalPercent, NULL);
	else if (err == ERR_NOTSUPPORTED || err == ERR_NOTIMPLEMENTED)
		th->next_signal = INT64_MAX;
	else
		health_error(th, err, "reading signal quality");
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static GSM_Error do_connect(struct mthread *th)
{
	struct modem *m = th->m;
	if (!th->s && !(th->s = GSM_AllocStateMachine()))
		return ERR_MOREMEMORY;
	GSM_Config *cfg = GSM_GetConfig(th->s, 0);
	free(cfg->Device);
	free(cfg->Connection);
	free(cfg->DebugFile);
	cfg->Device = dup_or_null(m->def.device);
	cfg->Connection = dup_or_null(m->def.connection);
	snprintf(cfg->Model, sizeof(cfg->Model), "%s", m->def.model ? m->def.model : "");
	const char *dbg = getenv("GUICHET_GAMMU_DEBUG");	/* a file: libGammu's own trace */
	cfg->DebugFile = dbg && dbg[0] ? strdup(dbg) : NULL;
	snprintf(cfg->DebugLevel, sizeof(cfg->DebugLevel), "%s", cfg->DebugFile ? "textall" : "");
	cfg->UseGlobalDebugFile = FALSE;
	cfg->LockDevice = FALSE;
	cfg->StartInfo = FALSE;
	cfg->SyncTime = FALSE;
	GSM_SetConfigNum(th->s, 1);
	GSM_Error err = GSM_InitConnection(th->s, 1);
	if (err != ERR_NONE) {
		if (GSM_IsConnected(th->s))
			GSM_TerminateConnection(th->s);
		return err;
	}
	if (m->pin) {
		GSM_SecurityCodeType st;
		if (GSM_GetSecurityStatus(th->s, &st) == ERR_NONE && st == SEC_Pin) {
			GSM_SecurityCode code;
			memset(&code, 0, sizeof(code));
			code.Type = SEC_Pin;
			snprintf(code.Code, sizeof(code.Code), "%s", m->pin);
			err = GSM_EnterSecurityCode(th->s, &code);
			if (err != ERR_NONE) {
				GSM_TerminateConnection(th->s);
				return err;
			}
		}
	}
	GSM_SetSendSMSStatusCallback(th->s, status_cb, th);
	th->connected = true;
	th->confirmed = false;
	th->errs = 0;
	int64_t now = clock_mono_ms();
	th->next_poll = now;
	th->next_signal = now;
	return ERR_NONE;
}

static void *modem_thread(void *arg)
{
	struct mthread th;
	memset(&th, 0, sizeof(th));
	th.m = arg;
	struct modem *m = th.m;
	th.s = GSM_AllocStateMachine();
	th.in = malloc(sizeof(*th.in));
	th.out = malloc(sizeof(*th.out));
	LLIST_HEAD(dels);
	bool first = true;
	if (!th.s || !th.in || !th.out) {
		post_simple(m, EV_DOWN, 0, false, 0, "out of memory");
		goto wait_stop;
	}
	th.backoff_s = 1;
	for (;;) {
		int64_t now = clock_mono_ms();
		atomic_store(&m->beat_ms, now);
		pthread_mutex_lock(&m->mu);
		bool stop = m->stop;
		llist_splice_init(&m->dels, &dels);
		bool have_send = th.job || !llist_empty(&m->sends);
		pthread_mutex_unlock(&m->mu);
		if (stop)
			break;

		if (!th.connected) {
			if (have_send)
				go_down(&th, th.down_why[0] ? th.down_why : "not connected");
			if (now >= th.next_connect) {
				GSM_Error err = do_connect(&th);
				if (err != ERR_NONE) {
					char why[160];
					snprintf(why, sizeof(why), "connecting to %s: %s",
						 m->def.device, GSM_ErrorString(err));
					if (first)	/* the loop hears of the first failure */
						post_simple(m, EV_DOWN, 0, false, 0, why);
					snprintf(th.down_why, sizeof(th.down_why), "%s", why);
					th.next_connect = clock_mono_ms() + (int64_t)th.backoff_s * 1000;
					th.backoff_s = th.backoff_s * 2 > BACKOFF_MAX_S
							       ? BACKOFF_MAX_S : th.backoff_s * 2;
				}
				first = false;
				continue;
			}
		} else {
			if (!llist_empty(&dels))
				do_deletes(&th, &dels);
			if (th.connected && now >= th.next_poll && !atomic_load(&m->hold))
				do_poll(&th);
			if (th.connected && th.confirmed && have_send && clock_mono_ms() >= th.next_send)
				do_send(&th);
			if (th.connected && clock_mono_ms() >= th.next_signal)
				do_signal(&th);
			if (!th.connected)
				continue;
		}

		/* Sleep until the next due thing or until the loop hands work over. */
		int64_t until = th.connected ? th.next_poll : th.next_connect;
		if (th.connected && th.next_signal < until)
			until = th.next_signal;
		pthread_mutex_lock(&m->mu);
		have_send = th.job || !llist_empty(&m->sends);
		if (th.connected && th.confirmed && have_send && th.next_send < until)
			until = th.next_send;
		if (th.connected && !llist_empty(&m->dels))
			until = 0;
		while (!m->stop && !m->work && clock_mono_ms() < until) {
			int64_t wait = until - clock_mono_ms();
			if (wait > 1000)
				wait = 1000;	/* keeps the heartbeat fresh */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
			atomic_store(&m->beat_ms, clock_mono_ms());
		}
		m->work = false;
		pthread_mutex_unlock(&m->mu);
	}
	if (th.connected)
		GSM_TerminateConnection(th.s);
	goto out;
wait_stop:
	pthread_mutex_lock(&m->mu);
	while (!m->stop)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
out:
	free(th.job);
	struct del_job *d, *dt;
	llist_for_each_entry_safe(d, dt, &dels, list) {
		llist_del(&d->list);
		free(d);
	}
	if (th.s)
		GSM_FreeStateMachine(th.s);
	free(th.in);
	free(th.out);
	free(th.seen);
	return NULL;
}

/* The modem's watchdog thread (the loop never calls libGammu): every second, aborts a
 * libGammu command that has run for more than COMMAND_MAX_MS; the modem thread then takes
 * the modem down. GSM_AbortOperation only sets a flag that libGammu's wait loop reads
 * every 10 ms; mu keeps the state machine from being freed meanwhile. */
static void *cmd_watch_thread(void *arg)
{
	struct modem *m = arg;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		if (m->cmd_sm && !m->cmd_aborted && clock_mono_ms() - m->cmd_since_ms > COMMAND_MAX_MS) {
			GSM_AbortOperation(m->cmd_sm);
			m->cmd_aborted = true;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&m->watch_cv, &m->mu, &ts);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ================= loop side ================= */

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


int sms_report_outcome(int status, char *stat, size_t len)
{
	/* 3GPP TS 23.040 9.2.3.15: 0x00-0x1F the transaction is completed (received,
	 * forwarded, replaced), 0x20-0x3F the SMSC still tries, 0x40-0x5F a permanent error,
	 * 0x60-0x7F a temporary error the SMSC no longer retries, 0x80-0xFF reserved. */
	if (status >= 0 && status < 0x20) {
		snprintf(stat, len, "DELIVRD");
		return 1;
	}
	if (status >= 0x40 && status < 0x80) {
		snprintf(stat, len, "%s 0x%02X", status == 0x46 || status == 0x65 ? "EXPIRED"
						 : "UNDELIV", (unsigned)status);
		return 0;
	}
	snprintf(stat, len, "0x%02X", (unsigned)status & 0xff);
	return -1;
}

/* Status reports read from the SIM: each final one to the sink (the store finds its message
 * by modem and reference), then all deleted, pending ones too (a final one follows). */
static void modem_reports(struct modem *m, const struct sms_report *r, unsigned n)
{
	struct sms_sink *sink = &m->pool->sink;
	struct log_fields f = modem_fields(m);
	struct del_job *d = malloc(sizeof(*d) + n * sizeof(struct sms_loc));
	if (d)
		d->n = 0;
	for (unsigned i = 0; i < n; i++) {
		char stat[24], ref[8];
		int outcome = sms_report_outcome(r[i].status, stat, sizeof(stat));
		modem_count(m, MODEM_CTR_REPORTS, 1);
		snprintf(ref, sizeof(ref), "%d", r[i].ref);
		glog(GLOG_MODEM, outcome == 0 ? LOGL_NOTICE : LOGL_DEBUG, &f,
		     "status report for reference %s: %s", ref, stat);
		if (outcome >= 0 && sink->receipt)
			sink->receipt(sink->data, 0, m->def.name, ref, outcome == 1, stat);
		if (d)
			d->loc[d->n++] = r[i].loc;
	}
	/* Without memory for the delete job the reports stay on the SIM; read again at the
	 * next start, they only say the same again. */
	if (d)
		to_thread(m, &d->list, &m->dels);
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
			char ref[8];
			if (ev->refs[i] < 0 || ev->refs[i] > 255)
				continue;
			snprintf(ref, sizeof(ref), "%d", ev->refs[i]);
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
		rc = pthread_create(&m->watch, NULL, cmd_watch_thread, m);
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
