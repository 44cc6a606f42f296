/* A modem's thread side: the only caller of libGammu for its modem (every call blocks; a
 * GSM_StateMachine is never shared). It connects with backoff, polls the SIM, deletes what
 * the loop has stored, sends part by part, reads the signal, and takes the modem down on
 * timeouts and repeated errors. It talks to the loop only through modem_thread.h's
 * records; it never touches talloc, the sink or the counters. A watchdog thread per modem
 * aborts a command that hangs. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <gammu.h>
#pragma GCC diagnostic pop

#include "guichet/clock.h"
#include "guichet/log.h"
#include "guichet/modem.h"
#include "guichet/modem_thread.h"
#include "guichet/text.h"

_Static_assert(MODEM_MAX_PARTS >= GSM_MAX_MULTI_SMS, "modem_ev.refs holds a message's parts");

/* Parts read per poll before they are handed over (the rest waits for the next poll). */
#define POLL_BATCH 256
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
		sms_report_from_gammu(&sc->reports[sc->nrep++], sms);
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
	modem_sent_log_write(th->m, th->job, th->nparts);
	struct modem_ev *ev = ev_new(EV_SENT);
	if (ev) {	/* out of memory: the reply stays "taken" until the next start */
		ev->id = th->job->id;
		ev->value = th->nparts;
		ev->nrefs = (unsigned)th->nparts;
		memcpy(ev->refs, th->refs, (size_t)th->nparts * sizeof(th->refs[0]));
		snprintf(ev->to, sizeof(ev->to), "%s", th->job->to);
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

/* A connection attempt, when the backoff allows one. The loop hears of the first failure
 * only: after that, of the modem's return. */
static void thread_connect(struct mthread *th, bool *first)
{
	struct modem *m = th->m;
	GSM_Error err = do_connect(th);
	if (err != ERR_NONE) {
		char why[160];
		snprintf(why, sizeof(why), "connecting to %s: %s", m->def.device,
			 GSM_ErrorString(err));
		if (*first)
			post_simple(m, EV_DOWN, 0, false, 0, why);
		snprintf(th->down_why, sizeof(th->down_why), "%s", why);
		th->next_connect = clock_mono_ms() + (int64_t)th->backoff_s * 1000;
		th->backoff_s = th->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : th->backoff_s * 2;
	}
	*first = false;
}

/* Sleeps until the next due thing or until the loop hands work over (m->work), waking at
 * least every second to keep the heartbeat fresh. */
static void thread_sleep(struct mthread *th)
{
	struct modem *m = th->m;
	int64_t until = th->connected ? th->next_poll : th->next_connect;
	if (th->connected && th->next_signal < until)
		until = th->next_signal;
	pthread_mutex_lock(&m->mu);
	bool have_send = th->job || !llist_empty(&m->sends);
	if (th->connected && th->confirmed && have_send && th->next_send < until)
		until = th->next_send;
	if (th->connected && !llist_empty(&m->dels))
		until = 0;
	while (!m->stop && !m->work && clock_mono_ms() < until) {
		int64_t wait = until - clock_mono_ms();
		if (wait > 1000)
			wait = 1000;
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

void *modem_thread(void *arg)
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
			/* Replies waiting fail at once: the router sends them elsewhere. */
			if (have_send)
				go_down(&th, th.down_why[0] ? th.down_why : "not connected");
			if (now >= th.next_connect) {
				thread_connect(&th, &first);
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
		thread_sleep(&th);
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
void *modem_watch_thread(void *arg)
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
