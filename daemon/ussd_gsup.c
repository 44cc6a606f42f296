/* osmo-hlr External USSD Entity: see include/guichet/ussd_gsup.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <osmocom/core/linuxlist.h>
#include <osmocom/core/msgb.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>
#include <osmocom/gsm/gsup.h>
#include <osmocom/gsm/protocol/ipaccess.h>

#include "guichet/gsup_link.h"
#include "guichet/log.h"
#include "guichet/ss_codec.h"
#include "guichet/ussd_gsup.h"
#include "guichet/ussd_table.h"

#define KEY_MAX (OSMO_IMSI_BUF_SIZE + 12)

struct gsup_dlg;

/* What the sink holds while it owes a reply. It outlives the dialogue (d is then NULL) and
 * even the transport (g is then NULL): the reply finds out and is dropped. */
struct gsup_ticket {
	struct llist_head detached;	/* in g->detached once d is gone */
	struct ussd_gsup *g;
	struct gsup_dlg *d;
};

/* The transport's side of a dialogue's table entry (e->tp). */
struct gsup_dlg {
	struct ussd_dlg *e;		/* its entry in g->t, by key */
	struct ussd_gsup *g;
	char imsi[OSMO_IMSI_BUF_SIZE];
	uint32_t sid;
	char key[KEY_MAX];
	char from[OSMO_IMSI_BUF_SIZE];
	char pseudo[24];		/* log_pseudonym(key) once a line needs it, else "" */
	uint8_t invoke0;		/* the phone's processUnstructuredSS-Request */
	uint8_t next_invoke;		/* for our unstructuredSS-Requests */
	struct gsup_ticket *pending;
};

struct ussd_gsup {
	void *ctx;			/* parent of the tickets */
	struct gsup_config cfg;
	unsigned screen_chars;
	struct ussd_sink sink;
	struct gsup_link *gl;		/* batched reads and writes (gsup_link.h) */
	enum { LINK_UNKNOWN, LINK_UP, LINK_DOWN } link;
	bool stopping;
	struct llist_head detached;	/* tickets whose dialogue is gone */
	struct ussd_table *t;		/* the dialogue table (the sink's, or our own) */
	struct ussd_port uport;		/* our dialogues, capped at max_dialogues; counters */
};

static const char *dlg_pseudo(struct gsup_dlg *d)
{
	if (!d->pseudo[0])
		log_pseudonym(d->pseudo, sizeof(d->pseudo), d->key);
	return d->pseudo;
}

/* The pseudonym (an HMAC-SHA-256) is computed when a line is about to be written, not for
 * every dialogue: at notice level most dialogues log nothing. */
#define LOGD(d, level, fmt, ...) do { \
	if (log_enabled(GLOG_USSD, level)) \
		glog(GLOG_USSD, level, &(struct log_fields){ .session = dlg_pseudo(d), \
			.channel = "ussd" }, fmt, ##__VA_ARGS__); \
	} while (0)
#define LOGG(level, fmt, ...) \
	glog(GLOG_USSD, level, &(struct log_fields){ .channel = "ussd" }, fmt, ##__VA_ARGS__)

/* ---- dialogues ---- */

/* key = "IMSI:SID", the dialogue's name in the table. By hand: snprintf() for every GSUP
 * message was 8 % of Guichet's instructions per screen. */
static void dlg_key(char key[KEY_MAX], const char *imsi, uint32_t sid)
{
	char digits[10];
	size_t n = strnlen(imsi, OSMO_IMSI_BUF_SIZE - 1), k = 0;

	memcpy(key, imsi, n);
	key[n++] = ':';
	do {
		digits[k++] = (char)('0' + sid % 10);
		sid /= 10;
	} while (sid);
	while (k)
		key[n++] = digits[--k];
	key[n] = '\0';
}

static struct gsup_dlg *dlg_find(struct ussd_gsup *g, const char *imsi, uint32_t sid)
{
	char key[KEY_MAX];
	struct ussd_dlg *e;

	dlg_key(key, imsi, sid);
	e = ussd_table_find(g->t, key);
	return e && e->port == &g->uport ? e->tp : NULL;
}

static void guard_expired(struct ussd_dlg *e);

static struct gsup_dlg *dlg_new(struct ussd_gsup *g, const char *imsi, uint32_t sid)
{
	struct gsup_dlg *d = talloc_zero(g, struct gsup_dlg);

	if (!d)
		return NULL;
	d->g = g;
	OSMO_STRLCPY_ARRAY(d->imsi, imsi);
	d->sid = sid;
	dlg_key(d->key, imsi, sid);
	d->e = ussd_table_open(g->t, &g->uport, d->key, d);
	if (!d->e) {
		talloc_free(d);
		return NULL;
	}
	return d;
}

/* Forgets d. abort: tell the sink the network side is gone. */
static void dlg_end(struct gsup_dlg *d, bool abort)
{
	struct ussd_gsup *g = d->g;

	ussd_table_leave_transport(d->e);
	if (d->pending) {
		d->pending->d = NULL;
		llist_add(&d->pending->detached, &g->detached);
		d->pending = NULL;
	}
	if (abort) {
		char key[KEY_MAX];

		ussd_port_count(&g->uport, USSD_CTR_ABORTS, 1);
		/* The sink may look the dialogue up again: hand it a copy that survives. */
		OSMO_STRLCPY_ARRAY(key, d->key);
		talloc_free(d);
		if (g->sink.abort)
			g->sink.abort(g->sink.data, key);
		return;
	}
	talloc_free(d);
}

static void dlg_arm(struct gsup_dlg *d)
{
	ussd_table_arm(d->e, d->g->cfg.guard_s * 1000, false, guard_expired);
}

/* ---- sending ---- */

static int send_ss(struct ussd_gsup *g, const char *imsi, uint32_t sid, bool final,
		   uint8_t *comp, size_t len)
{
	struct osmo_gsup_message m = {
		.message_type = OSMO_GSUP_MSGT_PROC_SS_RESULT,
		.session_id = sid,
		.session_state = final ? OSMO_GSUP_SESSION_STATE_END : OSMO_GSUP_SESSION_STATE_CONTINUE,
		.ss_info = comp,
		.ss_info_len = len,
	};

	if (g->link != LINK_UP || !g->gl)
		return -ENOTCONN;
	OSMO_STRLCPY_ARRAY(m.imsi, imsi);
	return gsup_link_send(g->gl, &m);
}

/* END with a ReturnError: for requests we cannot take (malformed, no dialogue). The HLR
 * parses it, answers the phone and releases its session. */
static void send_error_end(struct ussd_gsup *g, const char *imsi, uint32_t sid, uint8_t invoke_id)
{
	uint8_t comp[16];
	int n = ss_return_error_encode(comp, sizeof(comp), invoke_id, SS_ERR_SYSTEM_FAILURE);

	if (n > 0)
		send_ss(g, imsi, sid, true, comp, (size_t)n);
}

static void guard_expired(struct ussd_dlg *e)
{
	struct gsup_dlg *d = e->tp;
	uint8_t comp[SS_COMPONENT_MAX];
	bool trunc;
	int n;

	LOGD(d, LOGL_NOTICE, "USSD dialogue silent for %u s: ended", d->g->cfg.guard_s);
	/* In case the HLR still holds it (its guard may be longer than ours). */
	n = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_RETURN_RESULT, d->invoke0,
			   SS_OP_PROCESS_USS_REQ, ussd_sink_text(&d->g->sink, USSD_TEXT_EXPIRED),
			   d->g->screen_chars, &trunc);
	if (n > 0)
		send_ss(d->g, d->imsi, d->sid, true, comp, (size_t)n);
	dlg_end(d, true);
}

static void reply_cb(void *data, const char *text, bool expects_answer)
{
	struct gsup_ticket *t = data;
	struct gsup_dlg *d = t->d;
	struct ussd_gsup *g = t->g;
	uint8_t comp[SS_COMPONENT_MAX];
	bool trunc = false;
	int n, rc;

	if (!d) {
		if (g) {
			ussd_port_count(&g->uport, USSD_CTR_DROPPED, 1);
			llist_del(&t->detached);
		}
		talloc_free(t);
		return;
	}
	talloc_free(t);
	d->pending = NULL;
	if (expects_answer) {
		if (++d->next_invoke == d->invoke0)
			++d->next_invoke;
		n = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_INVOKE, d->next_invoke,
				   SS_OP_USS_REQUEST, text, g->screen_chars, &trunc);
	} else {
		n = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_RETURN_RESULT, d->invoke0,
				   SS_OP_PROCESS_USS_REQ, text, g->screen_chars, &trunc);
	}
	if (trunc) {
		ussd_port_count(&g->uport, USSD_CTR_TRUNCATED, 1);
		LOGD(d, LOGL_NOTICE, "USSD screen longer than %u characters: cut", g->screen_chars);
	}
	if (n < 0) {
		LOGD(d, LOGL_ERROR, "USSD screen could not be encoded: dialogue ended");
		send_error_end(g, d->imsi, d->sid, d->invoke0);
		dlg_end(d, true);
		return;
	}
	rc = send_ss(g, d->imsi, d->sid, !expects_answer, comp, (size_t)n);
	if (rc < 0) {
		LOGD(d, LOGL_NOTICE, "USSD screen not sent (%s): dialogue ended", strerror(-rc));
		dlg_end(d, true);
		return;
	}
	if (expects_answer) {
		ussd_port_count(&g->uport, USSD_CTR_SCREENS, 1);
		dlg_arm(d);
	} else {
		ussd_port_count(&g->uport, USSD_CTR_SCREENS, 1);
		ussd_port_count(&g->uport, USSD_CTR_ENDED, 1);
		dlg_end(d, false);
	}
}

/* Hands text to the sink for d. d may be gone when this returns (a synchronous reply). */
static void dlg_request(struct gsup_dlg *d, const char *text, bool begin)
{
	struct ussd_gsup *g = d->g;
	struct gsup_ticket *t = talloc_zero(g->ctx, struct gsup_ticket);
	struct ussd_req req = {
		.via = "gsup",
		.dialogue = d->key,
		.from = d->from[0] ? d->from : d->imsi,
		.text = text,
		.begin = begin,
	};

	if (!t) {
		send_error_end(g, d->imsi, d->sid, d->invoke0);
		dlg_end(d, !begin);
		return;
	}
	t->g = g;
	t->d = d;
	d->pending = t;
	ussd_port_count(&g->uport, USSD_CTR_REQUESTS, 1);
	dlg_arm(d);
	g->sink.request(g->sink.data, &req, reply_cb, t);
}

/* ---- receiving ---- */

/* GSUP carries the MSISDN as 04.08 BCD: TON/NPI octet, then digits. */
static void msisdn_decode(const uint8_t *enc, size_t len, char *out, size_t max)
{
	size_t i, o = 0;

	out[0] = '\0';
	if (len < 2 || max < 3)
		return;
	if ((enc[0] & 0x70) == 0x10)
		out[o++] = '+';
	for (i = 1; i < len; i++) {
		uint8_t lo = enc[i] & 0x0f, hi = enc[i] >> 4;

		if (lo > 9 || o + 1 >= max)
			break;
		out[o++] = (char)('0' + lo);
		if (hi > 9 || o + 1 >= max)
			break;
		out[o++] = (char)('0' + hi);
	}
	out[o] = '\0';
	if (o < 4)
		out[0] = '\0';
}

static void rx_ss(struct ussd_gsup *g, const struct osmo_gsup_message *m)
{
	struct ss_component c;
	struct gsup_dlg *d = dlg_find(g, m->imsi, m->session_id);
	bool have = m->ss_info && m->ss_info_len &&
		    !ss_component_decode(m->ss_info, m->ss_info_len, &c);

	if (m->message_type == OSMO_GSUP_MSGT_PROC_SS_ERROR) {
		if (d) {
			LOGD(d, LOGL_NOTICE, "USSD dialogue ended by a network error");
			dlg_end(d, true);
		}
		return;
	}
	switch (m->session_state) {
	case OSMO_GSUP_SESSION_STATE_BEGIN:
		if (d) {
			LOGD(d, LOGL_NOTICE, "USSD session id reused: previous dialogue ended");
			dlg_end(d, true);
		}
		if (!have || c.ctype != SS_CTYPE_INVOKE || !c.has_text) {
			LOGG(LOGL_NOTICE, "USSD BEGIN without a USSD request: refused");
			send_error_end(g, m->imsi, m->session_id, have ? c.invoke_id : 0);
			return;
		}
		if (!ussd_port_room(&g->uport)) {
			uint8_t comp[SS_COMPONENT_MAX];
			bool trunc;
			int n = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_RETURN_RESULT,
					       c.invoke_id, SS_OP_PROCESS_USS_REQ,
					       ussd_sink_text(&g->sink, USSD_TEXT_SATURATED),
					       g->screen_chars, &trunc);

			if (n > 0)
				send_ss(g, m->imsi, m->session_id, true, comp, (size_t)n);
			else
				send_error_end(g, m->imsi, m->session_id, c.invoke_id);
			return;
		}
		d = dlg_new(g, m->imsi, m->session_id);
		if (!d) {
			send_error_end(g, m->imsi, m->session_id, c.invoke_id);
			return;
		}
		d->invoke0 = c.invoke_id;
		d->next_invoke = c.invoke_id;
		if (m->msisdn_enc)
			msisdn_decode(m->msisdn_enc, m->msisdn_enc_len, d->from, sizeof(d->from));
		LOGD(d, LOGL_INFO, "USSD dialogue begins");
		dlg_request(d, c.text, true);
		return;
	case OSMO_GSUP_SESSION_STATE_CONTINUE:
		if (!d) {
			LOGG(LOGL_NOTICE, "USSD answer for a dialogue not open here: ended");
			send_error_end(g, m->imsi, m->session_id, have ? c.invoke_id : 0);
			return;
		}
		if (d->pending) {
			LOGD(d, LOGL_NOTICE, "USSD answer while the previous one is in progress: "
			     "ignored");
			return;
		}
		if (!have || !c.has_text) {
			LOGD(d, LOGL_NOTICE, "USSD answer without text: dialogue ended");
			send_error_end(g, d->imsi, d->sid, d->invoke0);
			dlg_end(d, true);
			return;
		}
		dlg_request(d, c.text, false);
		return;
	case OSMO_GSUP_SESSION_STATE_END:
		if (d) {
			LOGD(d, LOGL_INFO, "USSD dialogue ended by the phone");
			dlg_end(d, true);
		}
		return;
	default:
		return;
	}
}

static void read_cb(void *data, const uint8_t *gsup, size_t len)
{
	struct ussd_gsup *g = data;
	struct osmo_gsup_message m;
	int rc = osmo_gsup_decode(gsup, len, &m);

	if (rc < 0) {
		LOGG(LOGL_NOTICE, "undecodable GSUP message from the HLR (%d)", rc);
	} else {
		switch (m.message_type) {
		case OSMO_GSUP_MSGT_PROC_SS_REQUEST:
		case OSMO_GSUP_MSGT_PROC_SS_RESULT:
		case OSMO_GSUP_MSGT_PROC_SS_ERROR:
			rx_ss(g, &m);
			break;
		default:
			break;
		}
	}
}

static void abort_all(struct ussd_gsup *g)
{
	struct ussd_dlg *e;

	while ((e = ussd_port_first(&g->uport)))
		dlg_end(e->tp, true);
}

static void up_down_cb(void *data, bool up)
{
	struct ussd_gsup *g = data;

	if (g->stopping)
		return;
	if (up && g->link != LINK_UP) {
		LOGG(LOGL_NOTICE, "GSUP link to osmo-hlr %s:%u up (EUSE-%s)", g->cfg.host,
		     g->cfg.port, g->cfg.name);
		g->link = LINK_UP;
	} else if (!up && g->link != LINK_DOWN) {
		LOGG(LOGL_ERROR, "GSUP link to osmo-hlr %s:%u down: retrying every %d s",
		     g->cfg.host, g->cfg.port, GSUP_LINK_RECONNECT_S);
		g->link = LINK_DOWN;
		abort_all(g);
	}
}

/* ---- life cycle ---- */

struct ussd_gsup *ussd_gsup_start(void *ctx, const struct gsup_config *gc, unsigned screen_chars,
				  struct ussd_sink sink)
{
	struct ussd_gsup *g;
	struct ipaccess_unit *dev;

	if (!gc || !sink.request || !screen_chars)
		return NULL;
	g = talloc_zero(ctx, struct ussd_gsup);
	if (!g)
		return NULL;
	g->ctx = ctx;
	g->cfg.host = talloc_strdup(g, gc->host ? gc->host : "127.0.0.1");
	g->cfg.port = gc->port ? gc->port : 4222;
	g->cfg.name = talloc_strdup(g, gc->name ? gc->name : "guichet");
	g->cfg.guard_s = gc->guard_s ? gc->guard_s : 40;
	g->cfg.max_dialogues = gc->max_dialogues ? gc->max_dialogues : USSD_MAX_DIALOGUES;
	g->screen_chars = screen_chars;
	g->sink = sink;
	INIT_LLIST_HEAD(&g->detached);
	g->t = sink.table ? sink.table : ussd_table_create(g);
	int trc = g->t ? ussd_port_init(&g->uport, g, "gsup", "USSD dialogues (GSUP)",
					g->cfg.max_dialogues) : -1;
	dev = talloc_zero(g, struct ipaccess_unit);
	if (trc < 0 || !g->cfg.host || !g->cfg.name || !dev)
		goto fail;
	dev->unit_name = talloc_asprintf(dev, "EUSE-%s", g->cfg.name);
	dev->serno = talloc_asprintf(dev, "EUSE-%s", g->cfg.name);
	dev->swversion = talloc_strdup(dev, "guichet");
	if (!dev->unit_name || !dev->serno || !dev->swversion)
		goto fail;
	g->gl = gsup_link_create(g, g->cfg.host, (uint16_t)g->cfg.port, dev, read_cb, up_down_cb, g);
	if (!g->gl) {
		LOGG(LOGL_ERROR, "cannot create the GSUP client towards %s:%u", g->cfg.host,
		     g->cfg.port);
		goto fail;
	}
	return g;
fail:
	talloc_free(g);
	return NULL;
}

void ussd_gsup_stop(struct ussd_gsup *g)
{
	struct gsup_ticket *t, *tmp;

	if (!g)
		return;
	g->stopping = true;
	abort_all(g);
	/* Replies still owed by the sink must not reach g once it is freed. */
	llist_for_each_entry_safe(t, tmp, &g->detached, detached) {
		llist_del(&t->detached);
		t->g = NULL;
	}
	if (g->gl) {
		gsup_link_destroy(g->gl);
		g->gl = NULL;
	}
	talloc_free(g);
}

bool ussd_gsup_up(const struct ussd_gsup *g)
{
	return g && g->link == LINK_UP;
}

void ussd_gsup_stats(const struct ussd_gsup *g, struct ussd_gsup_stats *st)
{
	const struct ussd_port *t = &g->uport;

	*st = (struct ussd_gsup_stats){
		.requests = ussd_port_counter(t, USSD_CTR_REQUESTS),
		.prompts = ussd_port_counter(t, USSD_CTR_SCREENS) - ussd_port_counter(t, USSD_CTR_ENDED),
		.finals = ussd_port_counter(t, USSD_CTR_ENDED),
		.aborts = ussd_port_counter(t, USSD_CTR_ABORTS),
		.dropped = ussd_port_counter(t, USSD_CTR_DROPPED),
		.truncated = ussd_port_counter(t, USSD_CTR_TRUNCATED),
		.full = ussd_port_counter(t, USSD_CTR_CAPPED),
		.open = t->open,
	};
}
