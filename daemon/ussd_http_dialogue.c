/* The USSD callback's dialogue side: sessions by the aggregator's id, what a complete
 * request means against its session's history (a new session, the next input, or refused),
 * the sink's reply turned into a screen, and the idle deadline that forgets a session (the timer of its entry in the dialogue table). The
 * HTTP side is ussd_http.c. */
#include <stdio.h>
#include <string.h>

#include <osmocom/core/linuxlist.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>

#include "guichet/log.h"
#include "guichet/text.h"
#include "guichet/ussd_http_run.h"


const char *ussd_http_sess_pseudo(struct hsess *s)
{
	if (!s->pseudo[0])
		log_pseudonym(s->pseudo, sizeof(s->pseudo), s->key);
	return s->pseudo;
}

struct hsess *ussd_http_sess_find(struct ussd_http *h, const char *id)
{
	char key[SESSION_ID_MAX + 6];
	struct ussd_dlg *e;

	snprintf(key, sizeof(key), "http:%s", id);
	e = ussd_table_find(h->t, key);
	return e && e->port == &h->uport ? e->tp : NULL;
}

static void idle_expired(struct ussd_dlg *e);

static struct hsess *sess_new(struct ussd_http *h, const char *id, const char *code,
			      const char *phone)
{
	struct hsess *s = talloc_zero(h, struct hsess);

	if (!s)
		return NULL;
	s->h = h;
	OSMO_STRLCPY_ARRAY(s->id, id);
	snprintf(s->key, sizeof(s->key), "http:%s", id);
	s->code = talloc_strdup(s, code);
	s->phone = talloc_strdup(s, phone);
	s->history = talloc_strdup(s, "");
	if (!s->code || !s->phone || !s->history) {
		talloc_free(s);
		return NULL;
	}
	s->e = ussd_table_open(h->t, &h->uport, s->key, s);
	if (!s->e) {
		talloc_free(s);
		return NULL;
	}
	return s;
}


void ussd_http_ticket_detach(struct ussd_http *h, struct hticket *t)
{
	if (!t->s && !t->r)
		llist_add(&t->detached, &h->detached);
}

void ussd_http_sess_end(struct hsess *s, bool abort)
{
	struct ussd_http *h = s->h;

	ussd_table_leave_transport(s->e);
	if (s->pending) {
		s->pending->s = NULL;
		ussd_http_ticket_detach(h, s->pending);
		s->pending = NULL;
	}
	if (abort) {
		char key[sizeof(s->key)];

		ussd_port_count(&h->uport, USSD_CTR_ABORTS, 1);
		OSMO_STRLCPY_ARRAY(key, s->key);
		talloc_free(s);
		if (h->sink.abort)
			h->sink.abort(h->sink.data, key);
		return;
	}
	talloc_free(s);
}

static void idle_expired(struct ussd_dlg *e)
{
	struct hsess *s = e->tp;

	LOGS(s, LOGL_INFO, "USSD session idle for %u s: forgotten", s->h->cfg.session_s);
	ussd_http_sess_end(s, true);
}

static bool valid_session_id(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= SESSION_ID_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

/* Cuts utf8 (talloc'd) at a character boundary until it fits one screen. */
static char *fit_screen(struct ussd_http *h, void *ctx, const char *text, bool *cut)
{
	struct text_budget b = text_budget_ussd(h->screen_chars);
	char *s = talloc_strdup(ctx, text ? text : "");
	size_t n;

	*cut = false;
	if (!s)
		return NULL;
	n = strlen(s);
	while (n && !text_fits(s, &b)) {
		*cut = true;
		do
			n--;
		while (n && ((uint8_t)s[n] & 0xc0) == 0x80);
		s[n] = '\0';
	}
	return s;
}

static void reply_cb(void *data, const char *text, bool expects_answer)
{
	struct hticket *t = data;
	struct ussd_http *h = t->h;
	struct hsess *s = t->s;
	struct hreq *r = t->r;
	char *screen;
	bool cut = false;

	if (!h) {
		talloc_free(t);
		return;
	}
	if (!s && !r) {
		ussd_port_count(&h->uport, USSD_CTR_DROPPED, 1);
		llist_del(&t->detached);
		talloc_free(t);
		return;
	}
	talloc_free(t);
	if (s) {
		s->pending = NULL;
		if (r && expects_answer) {
			talloc_free(s->history);
			s->history = s->next_history;
			s->next_history = NULL;
			ussd_table_arm(s->e, h->cfg.session_s * 1000, false, idle_expired);
		} else if (!r) {
			/* The aggregator gave up on this request: the screen is lost, and the
			 * session with it. */
			LOGS(s, LOGL_NOTICE, "USSD reply came after the aggregator left: session "
			     "ended");
			ussd_http_sess_end(s, expects_answer);
		} else {
			ussd_http_sess_end(s, false);
		}
	}
	if (!r) {
		ussd_port_count(&h->uport, USSD_CTR_DROPPED, 1);
		return;
	}
	r->ticket = NULL;
	screen = fit_screen(h, r, text, &cut);
	if (cut) {
		ussd_port_count(&h->uport, USSD_CTR_TRUNCATED, 1);
		LOGH(LOGL_NOTICE, "USSD screen longer than %u characters: cut", h->screen_chars);
	}
	r->reply = talloc_asprintf(r, "%s %s", expects_answer ? "CON" : "END",
				   screen ? screen : "");
	r->ready = true;
	ussd_port_count(&h->uport, USSD_CTR_SCREENS, 1);
	if (!expects_answer)
		ussd_port_count(&h->uport, USSD_CTR_ENDED, 1);
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		ussd_http_kick(h);
	}
}

static void refuse_invalid(struct hreq *r, struct hsess *s, const char *why)
{
	struct ussd_http *h = r->h;

	ussd_port_count(&h->uport, USSD_CTR_INVALID, 1);
	if (s) {
		LOGS(s, LOGL_NOTICE, "USSD callback refused (%s): session ended", why);
		ussd_http_sess_end(s, true);
	} else {
		LOGH(LOGL_NOTICE, "USSD callback refused: %s", why);
	}
	r->reply = talloc_asprintf(r, "END %s", ussd_sink_text(&h->sink, USSD_TEXT_INVALID));
	r->ready = true;
}

/* A new session for a request without history; NULL when it was answered here instead
 * (refused, or the table is full). */
static struct hsess *sess_open(struct hreq *r)
{
	struct ussd_http *h = r->h;
	struct hsess *s;

	/* Sharing hosts: the dialogue may have begun on another host (the router reads the
	 * text against the shared state). */
	if (*r->f_text && !h->sink.shares) {
		refuse_invalid(r, NULL, "history for a session not open here");
		return NULL;
	}
	if (!ussd_port_room(&h->uport)) {
		r->reply = talloc_asprintf(r, "END %s", ussd_sink_text(&h->sink, USSD_TEXT_SATURATED));
		r->ready = true;
		return NULL;
	}
	s = sess_new(h, r->f_session, r->f_code, r->f_phone);
	if (!s) {
		refuse_invalid(r, NULL, "out of memory");
		return NULL;
	}
	LOGS(s, LOGL_INFO, *r->f_text ? "USSD session continues here (aggregator)"
				       : "USSD session begins (aggregator)");
	return s;
}

/* What a request to the open session s answers: its text past the history answered so
 * far. NULL when it was refused here. */
static const char *sess_input(struct hreq *r, struct hsess *s)
{
	struct ussd_http *h = r->h;
	size_t hl = strlen(s->history);

	if (s->pending) {
		refuse_invalid(r, s, "a request while the previous one is unanswered");
		return NULL;
	}
	if (strcmp(s->code, r->f_code) || strcmp(s->phone, r->f_phone)) {
		refuse_invalid(r, s, "serviceCode or phoneNumber changed");
		return NULL;
	}
	/* Sharing hosts: the dialogue may have gone on at another host since this one
	 * answered; the router reads the whole text against the shared state instead. */
	if (h->sink.shares && *r->f_text)
		return r->f_text;
	if (!hl) {
		if (!*r->f_text) {
			refuse_invalid(r, s, "history replayed");
			return NULL;
		}
		return r->f_text;
	}
	if (!strncmp(r->f_text, s->history, hl) && r->f_text[hl] == '*')
		return r->f_text + hl + 1;
	refuse_invalid(r, s, "history does not extend the session's");
	return NULL;
}

/* Decides what the complete request means and hands it to the sink. */
void ussd_http_dispatch(struct hreq *r)
{
	struct ussd_http *h = r->h;
	struct hsess *s;
	struct hticket *t;
	struct ussd_req req = { .via = "http" };
	const char *input;
	bool begin;

	r->dispatched = true;
	if (!r->f_session || !r->f_code || !valid_session_id(r->f_session) || !*r->f_code) {
		refuse_invalid(r, NULL, "sessionId or serviceCode missing or malformed");
		return;
	}
	if (!r->f_phone)
		r->f_phone = talloc_strdup(r, "");
	if (!r->f_text)
		r->f_text = talloc_strdup(r, "");
	if (!r->f_phone || !r->f_text) {
		refuse_invalid(r, NULL, "out of memory");
		return;
	}
	s = ussd_http_sess_find(h, r->f_session);
	begin = !s && !*r->f_text;
	if (!s) {
		if (!(s = sess_open(r)))
			return;
		input = begin ? r->f_code : r->f_text;
	} else if (!(input = sess_input(r, s))) {
		return;
	}
	t = talloc_zero(h->ctx, struct hticket);
	talloc_free(s->next_history);
	s->next_history = talloc_strdup(s, r->f_text);
	if (!t || !s->next_history) {
		talloc_free(t);
		refuse_invalid(r, s, "out of memory");
		return;
	}
	ussd_table_disarm(s->e, false);
	OSMO_STRLCPY_ARRAY(r->sess_id, s->id);
	t->h = h;
	t->s = s;
	t->r = r;
	s->pending = t;
	r->ticket = t;
	req.dialogue = s->key;
	req.from = s->phone[0] ? s->phone : s->key;
	req.text = input;
	req.begin = begin;
	req.code = s->code;
	req.resume = h->sink.shares && !begin;
	req.share_s = h->sink.shares ? h->cfg.session_s : 0;
	ussd_port_count(&h->uport, USSD_CTR_REQUESTS, 1);
	h->sink.request(h->sink.data, &req, reply_cb, t);
}
