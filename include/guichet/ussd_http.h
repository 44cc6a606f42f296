/* USSD through an aggregator: the HTTP callback model (Africa's Talking and the like).
 *
 * libmicrohttpd without threads of its own, on the osmo select loop: its epoll descriptor
 * is one osmo_fd and MHD_get_timeout() drives one osmo_timer; a request waiting for the
 * engine (a back-end call) is suspended (MHD_suspend_connection) and resumed when the reply
 * comes. libmicrohttpd: packaged by Debian, maintained (GNU), made to be embedded in
 * another program's loop, and a small surface; nothing else needed (TLS is the reverse
 * proxy's or the aggregator tunnel's job; keep `listen` on loopback).
 *
 * Protocol: POST, application/x-www-form-urlencoded (or multipart), fields sessionId,
 * serviceCode, phoneNumber, text (every input of the session so far, joined by '*').
 *   - text empty, session unknown   -> a new dialogue: request(begin, text = serviceCode)
 *   - session known, text = H*X where H is the text of the previous request of the session
 *     (empty H: text = X)           -> request(answer X)
 *   - anything else (unknown session with a history, a history that does not extend the
 *     recorded one, a different serviceCode or phoneNumber, a request while the previous
 *     one is unanswered)            -> "END " + the common `invalid_session` message
 *                                    (ussd_sink_text) and the dialogue is aborted.
 *   Several hosts on one store (the sink's `shares`: PostgreSQL): a non-empty text, for a
 *   session held here or not, goes to the router whole (request(resume)), which reads it
 *   against the dialogue's shared state (ussd_share.h) and refuses it the same way when it
 *   does not extend it; another host may have answered the previous requests.
 * Reply: 200, text/plain; charset=utf-8, "CON <screen>" or "END <screen>"; a screen longer
 * than screen_chars is cut (with a notice in the journal).
 * Access: the remote address must be in `allow` (when given) and the shared secret (when
 * given) must come in the X-Guichet-Secret header or, for aggregators that cannot set
 * headers, the `secret` query parameter; compared in constant time; 403 otherwise.
 * Dialogues are "http:<sessionId>"; a session idle for session_timeout is forgotten (and
 * aborted). An aggregator that closes its connection while a reply is awaited: the prompt
 * is not sent and the session is aborted (a request completes before we wait, so an EOF on
 * the suspended socket means the aggregator left). */
#ifndef GUICHET_USSD_HTTP_H
#define GUICHET_USSD_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include "guichet/config_paths.h"
#include "guichet/ydoc.h"
#include "guichet/router.h"

struct ussd_http_allow {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;	/* bits */
};

/* The `ussd_http:` section:
 *   ussd_http:
 *     listen: 127.0.0.1       # address to listen on (IPv4 or IPv6)
 *     port: 8089
 *     secret: ussd-secret     # secret file (config_read_secret); optional
 *     allow: [127.0.0.1]      # remote addresses or CIDR prefixes; optional
 *     session_timeout: 180s   # an idle session is forgotten after this
 *     max_connections: 1000   # open connections at most (lowered to fit RLIMIT_NOFILE)
 *     max_connections_per_address: 250
 *     request_timeout: 5s     # a connection gets this long to send a whole request
 *     max_dialogues: 50000    # beyond: "END " + the common `saturated` message
 * At least one of secret and allow must be given.
 *
 * Slow or hostile clients (slowloris): an address not in `allow` is closed at accept time,
 * before a byte is read; each address holds at most max_connections_per_address; a request
 * (headers and body) not complete request_timeout after the connection opened, or after the
 * previous request on it ended, gets its connection closed, however slowly it trickles. */
#define USSD_HTTP_MAX_CONNECTIONS 1000
#define USSD_HTTP_MAX_PER_ADDRESS 250
#define USSD_HTTP_REQUEST_TIMEOUT 5
/* Dialogues open at once per USSD transport, by default: ~3 KB each with the router's
 * session, so 50,000 is ~150 MB at worst, far above what an operator routes to one service. */
#ifndef USSD_MAX_DIALOGUES
#define USSD_MAX_DIALOGUES 50000
#endif
struct ussd_http_config {
	const char *listen;
	unsigned port;
	char *secret;		/* the secret itself (read at parse time), NULL when none */
	struct ussd_http_allow *allow;
	unsigned n_allow;
	unsigned session_s;
	unsigned max_conns, max_per_addr, request_s, max_dialogues;
};

int ussd_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
			   struct ussd_http_config **out);

struct ussd_http;

/* Listens on the current osmo loop. NULL (with a journal line) when the address cannot be
 * bound. */
struct ussd_http *ussd_http_start(void *ctx, const struct ussd_http_config *cfg,
				  unsigned screen_chars, struct ussd_sink sink);
/* Answers requests still waiting with "END" and a short notice, aborts every dialogue,
 * stops listening and frees h. Replies owed by the sink are then dropped safely. */
void ussd_http_stop(struct ussd_http *h);
/* The port actually bound (useful with port 0 in tests). */
unsigned ussd_http_port(const struct ussd_http *h);

struct ussd_http_stats {
	unsigned long requests, replies, refused, invalid, aborts, dropped, truncated;
	unsigned long full;		/* new sessions refused at max_dialogues */
	unsigned long timeouts;		/* connections closed at request_timeout */
	unsigned long not_allowed;	/* connections closed at accept: address not allowed */
	unsigned open;		/* sessions open now */
};
void ussd_http_stats(const struct ussd_http *h, struct ussd_http_stats *st);

#endif
