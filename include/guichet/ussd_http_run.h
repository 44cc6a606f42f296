/* The USSD callback's insides, shared by its two files: ussd_http.c (the HTTP side: MHD on
 * the loop, which clients and connections are let in and for how long, the secret, the
 * request's form, the answer; the life cycle) and ussd_http_dialogue.c (the dialogue side:
 * sessions by id in the dialogue table, what a request means against its session's history,
 * the sink's screens, the idle deadline). Not for any other module: they see ussd_http.h. */
#ifndef GUICHET_USSD_HTTP_RUN_H
#define GUICHET_USSD_HTTP_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/timer.h>
#include "guichet/log.h"
#include "guichet/ussd_http.h"
#include "guichet/ussd_table.h"


#define SESSION_ID_MAX 64

struct hsess;
struct hreq;

/* Held by the sink while it owes a reply; survives the request, the session and h. */
struct hticket {
	struct llist_head detached;
	struct ussd_http *h;
	struct hsess *s;
	struct hreq *r;
};

/* The transport's side of a dialogue's table entry (e->tp). */
struct hsess {
	struct ussd_dlg *e;	/* its entry in h->t, by key */
	struct ussd_http *h;
	char id[SESSION_ID_MAX + 1];
	char key[SESSION_ID_MAX + 6];	/* "http:<id>" */
	char pseudo[24];	/* log_pseudonym(key) once a line needs it, else "" */
	char *code, *phone;
	char *history;		/* `text` of the last request answered */
	char *next_history;	/* `text` of the request in progress */
	struct hticket *pending;
};

/* One TCP connection (MHD's socket context): how long it may take to send a whole request. */
struct hconn {
	struct llist_head list;
	struct MHD_Connection *conn;
	int64_t deadline_ms;	/* 0 while a request is complete (waiting for the engine) */
};

struct hreq {
	struct ussd_http *h;
	struct MHD_Connection *conn;
	struct MHD_PostProcessor *pp;
	size_t body;
	bool too_big, dispatched, suspended, was_suspended, ready, refused;
	char *f_session, *f_code, *f_phone, *f_text;
	char *reply;		/* "CON ..." / "END ..." once known */
	struct hticket *ticket;
	char sess_id[SESSION_ID_MAX + 1];	/* the session this request continued, if any */
};

struct ussd_http {
	void *ctx;
	struct ussd_http_config cfg;
	char *secret;
	unsigned screen_chars;
	struct ussd_sink sink;
	struct MHD_Daemon *d;
	unsigned port;
	struct mhd_loop *loop;		/* MHD on the osmo loop */
	struct osmo_timer_list sweep;	/* closes connections past their request deadline */
	struct llist_head conns;	/* struct hconn */
	int64_t log_s;			/* rate limit of the lines about refused connections */
	unsigned log_n, log_dropped;
	bool stopping;
	struct llist_head detached;
	struct ussd_table *t;		/* the dialogue table (the sink's, or our own) */
	struct ussd_port uport;		/* our sessions, capped at max_dialogues; counters */
};

/* The pseudonym (an HMAC-SHA-256) is computed when a line is about to be written, not for
 * every session: at notice level most sessions log nothing. */
#define LOGS(s, level, fmt, ...) do { \
	if (log_enabled(GLOG_USSD, level)) \
		glog(GLOG_USSD, level, &(struct log_fields){ \
			.session = ussd_http_sess_pseudo(s), .channel = "ussd" }, \
			fmt, ##__VA_ARGS__); \
	} while (0)
#define LOGH(level, fmt, ...) \
	glog(GLOG_USSD, level, &(struct log_fields){ .channel = "ussd" }, fmt, ##__VA_ARGS__)


/* ussd_http.c */
void ussd_http_kick(struct ussd_http *h);

/* ussd_http_dialogue.c */
const char *ussd_http_sess_pseudo(struct hsess *s);
struct hsess *ussd_http_sess_find(struct ussd_http *h, const char *id);
void ussd_http_sess_end(struct hsess *s, bool abort);
void ussd_http_ticket_detach(struct ussd_http *h, struct hticket *t);
void ussd_http_dispatch(struct hreq *r);

#endif
