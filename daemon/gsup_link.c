/* The GSUP link to osmo-hlr, read and written in batches: see include/guichet/gsup_link.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <osmocom/core/msgb.h>
#include <osmocom/core/select.h>
#include <osmocom/core/socket.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/gsm/ipa.h>

#include "guichet/gsup_link.h"
#include "guichet/gsup_tx.h"
#include "guichet/log.h"

#define IPA_HDR 3			/* length (2, big-endian), protocol */
#define RBUF (IPA_HDR + 65535 + 4096)	/* a whole frame of the largest length, and more */
#define TXMSG 1024			/* one encoded message, reused (gsup_tx_size bounds it) */

struct gsup_link {
	char *host;
	uint16_t port;
	struct ipaccess_unit *dev;
	gsup_link_rx_fn rx;
	gsup_link_updown_fn updown;
	void *data;
	struct osmo_fd ofd;		/* fd -1 while not connected */
	bool connecting, up, ping_out, in_batch;
	struct osmo_timer_list reconnect, ping;
	uint8_t *rbuf;
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, wcap;
	struct msgb *txmsg;
};

#define LOGL(level, fmt, ...) \
	glog(GLOG_USSD, level, &(struct log_fields){ .channel = "ussd" }, fmt, ##__VA_ARGS__)

static void link_connect(struct gsup_link *l);

static void link_close(struct gsup_link *l)
{
	if (l->ofd.fd >= 0)
		osmo_fd_close(&l->ofd);
	l->ofd.fd = -1;
	l->connecting = l->ping_out = false;
	l->rlen = l->wlen = 0;
	osmo_timer_del(&l->ping);
}

/* The connection is gone: say so once, and connect again later. */
static void link_lost(struct gsup_link *l)
{
	bool was_up = l->up;

	link_close(l);
	l->up = false;
	osmo_timer_schedule(&l->reconnect, GSUP_LINK_RECONNECT_S, 0);
	if (was_up)
		l->updown(l->data, false);
}

/* Appends one IPA frame (proto, then ext if >= 0, then len octets of p) to the output. */
static int wbuf_add(struct gsup_link *l, uint8_t proto, int ext, const uint8_t *p, size_t len)
{
	size_t body = len + (ext >= 0), need = l->wlen + IPA_HDR + body;
	uint8_t *w;

	if (body > 65535)
		return -EINVAL;
	if (need > GSUP_LINK_WBUF_MAX)
		return -ENOBUFS;
	if (need > l->wcap) {
		size_t cap = l->wcap ? l->wcap : 4096;

		while (cap < need)
			cap *= 2;
		if (!(w = talloc_realloc_size(l, l->wbuf, cap)))
			return -ENOMEM;
		l->wbuf = w;
		l->wcap = cap;
	}
	w = l->wbuf + l->wlen;
	w[0] = (uint8_t)(body >> 8);
	w[1] = (uint8_t)body;
	w[2] = proto;
	w += IPA_HDR;
	if (ext >= 0)
		*w++ = (uint8_t)ext;
	memcpy(w, p, len);
	l->wlen = need;
	return 0;
}

/* Sends what the kernel takes now; the rest waits for the socket to be writable. False when
 * the link was lost. */
static bool flush(struct gsup_link *l)
{
	size_t off = 0;

	while (off < l->wlen) {
		ssize_t n = send(l->ofd.fd, l->wbuf + off, l->wlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			LOGL(LOGL_NOTICE, "GSUP link to osmo-hlr %s:%u: send: %s", l->host, l->port,
			     strerror(errno));
			link_lost(l);
			return false;
		}
		off += (size_t)n;
	}
	if (off) {
		memmove(l->wbuf, l->wbuf + off, l->wlen - off);
		l->wlen -= off;
	}
	if (l->wlen)
		osmo_fd_write_enable(&l->ofd);
	else
		osmo_fd_write_disable(&l->ofd);
	return true;
}

/* Queues a frame and, outside a read batch, asks for a wake-up to send it. */
static int queue(struct gsup_link *l, uint8_t proto, int ext, const uint8_t *p, size_t len)
{
	int rc = wbuf_add(l, proto, ext, p, len);

	if (rc == -ENOBUFS) {
		LOGL(LOGL_ERROR, "GSUP link to osmo-hlr %s:%u: %u octets not taken: dropped",
		     l->host, l->port, (unsigned)l->wlen);
		link_lost(l);
		return -ENOTCONN;
	}
	if (!rc && !l->in_batch)
		osmo_fd_write_enable(&l->ofd);
	return rc;
}

static void ccm_send(struct gsup_link *l, uint8_t type)
{
	queue(l, IPAC_PROTO_IPACCESS, -1, &type, 1);
}

static void ping_cb(void *data)
{
	struct gsup_link *l = data;

	if (l->ping_out) {
		LOGL(LOGL_NOTICE, "GSUP link to osmo-hlr %s:%u: no PONG in %d s", l->host, l->port,
		     GSUP_LINK_PING_S);
		link_lost(l);
		return;
	}
	l->ping_out = true;
	ccm_send(l, IPAC_MSGT_PING);
	osmo_timer_schedule(&l->ping, GSUP_LINK_PING_S, 0);
}

/* One IPA frame of the server's. */
static void frame(struct gsup_link *l, uint8_t proto, const uint8_t *p, size_t len)
{
	if (proto == IPAC_PROTO_OSMO) {
		if (len >= 1 && p[0] == IPAC_PROTO_EXT_GSUP)
			l->rx(l->data, p + 1, len - 1);
		return;
	}
	if (proto != IPAC_PROTO_IPACCESS || len < 1)
		return;
	switch (p[0]) {
	case IPAC_MSGT_PING:
		ccm_send(l, IPAC_MSGT_PONG);
		break;
	case IPAC_MSGT_PONG:
		l->ping_out = false;
		break;
	case IPAC_MSGT_ID_ACK:
		ccm_send(l, IPAC_MSGT_ID_ACK);
		break;
	case IPAC_MSGT_ID_GET: {
		/* The answer comes with its IPA header. */
		struct msgb *m = ipa_ccm_make_id_resp_from_req(l->dev, p + 1, (unsigned)(len - 1));

		if (!m || msgb_length(m) < IPA_HDR) {
			msgb_free(m);
			break;
		}
		queue(l, IPAC_PROTO_IPACCESS, -1, msgb_data(m) + IPA_HDR, msgb_length(m) - IPA_HDR);
		msgb_free(m);
		if (!l->up) {
			l->up = true;
			osmo_timer_schedule(&l->ping, GSUP_LINK_PING_S, 0);
			l->updown(l->data, true);
		}
		break;
	}
	default:
		break;
	}
}

/* Reads what the kernel holds and handles every whole frame in it. False when the link was
 * lost. */
static bool read_batch(struct gsup_link *l)
{
	for (;;) {
		size_t room = RBUF - l->rlen, off = 0;
		ssize_t n = recv(l->ofd.fd, l->rbuf + l->rlen, room, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			LOGL(LOGL_NOTICE, "GSUP link to osmo-hlr %s:%u: %s", l->host, l->port,
			     n ? strerror(errno) : "closed by the peer");
			link_lost(l);
			return false;
		}
		l->connecting = false;
		l->rlen += (size_t)n;
		l->in_batch = true;
		while (l->rlen - off >= IPA_HDR) {
			const uint8_t *h = l->rbuf + off;
			size_t len = (size_t)h[0] << 8 | h[1];

			if (l->rlen - off < IPA_HDR + len)
				break;
			frame(l, h[2], h + IPA_HDR, len);
			off += IPA_HDR + len;
			if (l->ofd.fd < 0)	/* lost while handling it */
				break;
		}
		l->in_batch = false;
		if (l->ofd.fd < 0)
			return false;
		memmove(l->rbuf, l->rbuf + off, l->rlen - off);
		l->rlen -= off;
		/* A full read may have left more behind; otherwise the kernel is empty. */
		if ((size_t)n < room)
			return true;
	}
}

static int fd_cb(struct osmo_fd *ofd, unsigned int what)
{
	struct gsup_link *l = ofd->data;

	if (l->connecting && (what & OSMO_FD_WRITE)) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(ofd->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			link_lost(l);
			return 0;
		}
		l->connecting = false;
	}
	if ((what & OSMO_FD_READ) && !read_batch(l))
		return 0;
	/* The answers written during the batch (or since the last wake-up) leave now. */
	if (!l->connecting && l->wlen)
		flush(l);
	else if (!l->connecting)
		osmo_fd_write_disable(ofd);
	return 0;
}

static void link_connect(struct gsup_link *l)
{
	int fd = osmo_sock_init(AF_INET, SOCK_STREAM, IPPROTO_TCP, l->host, l->port,
				OSMO_SOCK_F_CONNECT | OSMO_SOCK_F_NONBLOCK);

	if (fd < 0) {
		osmo_timer_schedule(&l->reconnect, GSUP_LINK_RECONNECT_S, 0);
		return;
	}
	osmo_fd_setup(&l->ofd, fd, OSMO_FD_READ | OSMO_FD_WRITE, fd_cb, l, 0);
	if (osmo_fd_register(&l->ofd) < 0) {
		close(fd);
		l->ofd.fd = -1;
		osmo_timer_schedule(&l->reconnect, GSUP_LINK_RECONNECT_S, 0);
		return;
	}
	l->connecting = true;
}

static void reconnect_cb(void *data)
{
	link_connect(data);
}

static int link_destructor(struct gsup_link *l)
{
	link_close(l);
	osmo_timer_del(&l->reconnect);
	return 0;
}

struct gsup_link *gsup_link_create(void *ctx, const char *host, uint16_t port,
				   const struct ipaccess_unit *dev, gsup_link_rx_fn rx,
				   gsup_link_updown_fn updown, void *data)
{
	struct gsup_link *l = talloc_zero(ctx, struct gsup_link);

	if (!l)
		return NULL;
	l->ofd.fd = -1;
	l->port = port;
	l->rx = rx;
	l->updown = updown;
	l->data = data;
	osmo_timer_setup(&l->reconnect, reconnect_cb, l);
	osmo_timer_setup(&l->ping, ping_cb, l);
	talloc_set_destructor(l, link_destructor);
	l->host = talloc_strdup(l, host);
	l->dev = talloc_zero(l, struct ipaccess_unit);
	l->rbuf = talloc_size(l, RBUF);
	l->txmsg = msgb_alloc_c(l, TXMSG, "GSUP Tx");
	if (!l->host || !l->dev || !l->rbuf || !l->txmsg)
		goto fail;
	*l->dev = *dev;		/* ids and MAC address; the strings are ours below */
	l->dev->unit_name = dev->unit_name ? talloc_strdup(l->dev, dev->unit_name) : NULL;
	l->dev->equipvers = dev->equipvers ? talloc_strdup(l->dev, dev->equipvers) : NULL;
	l->dev->swversion = dev->swversion ? talloc_strdup(l->dev, dev->swversion) : NULL;
	l->dev->location1 = dev->location1 ? talloc_strdup(l->dev, dev->location1) : NULL;
	l->dev->location2 = dev->location2 ? talloc_strdup(l->dev, dev->location2) : NULL;
	l->dev->serno = dev->serno ? talloc_strdup(l->dev, dev->serno) : NULL;
	link_connect(l);
	return l;
fail:
	talloc_free(l);
	return NULL;
}

int gsup_link_send(struct gsup_link *l, const struct osmo_gsup_message *m)
{
	size_t size = gsup_tx_size(m);

	if (!l->up)
		return -ENOTCONN;
	if (!size || size > TXMSG)
		return -EINVAL;
	/* One msgb for every message: not allocated (nor zeroed) per screen. */
	msgb_reset(l->txmsg);
	if (osmo_gsup_encode(l->txmsg, m) < 0)
		return -EINVAL;
	return queue(l, IPAC_PROTO_OSMO, IPAC_PROTO_EXT_GSUP, msgb_data(l->txmsg),
		     msgb_length(l->txmsg));
}

bool gsup_link_up(const struct gsup_link *l)
{
	return l && l->up;
}

void gsup_link_destroy(struct gsup_link *l)
{
	talloc_free(l);
}
