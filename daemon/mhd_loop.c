/* libmicrohttpd on the osmo select loop: MHD's epoll fd as one osmo_fd, its timeout as
 * one osmo_timer. See mhd_loop.h. */
#include <arpa/inet.h>
#include <string.h>
#include <microhttpd.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/mhd_loop.h"

struct mhd_loop {
	struct MHD_Daemon *d;
	struct osmo_fd ofd;
	struct osmo_timer_list timer;
	unsigned port;
	bool kicked;		/* MHD must run again at once (mhd_loop_kick) */
};

bool mhd_loop_sockaddr(const char *listen, unsigned port, struct sockaddr_storage *ss,
		       bool *ipv6)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!listen || port > 65535)
		return false;
	if (inet_pton(AF_INET, listen, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*ipv6 = false;
		return true;
	}
	if (inet_pton(AF_INET6, listen, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*ipv6 = true;
		return true;
	}
	return false;
}

static void schedule(struct mhd_loop *l)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (l->kicked)
		osmo_timer_schedule(&l->timer, 0, 0);
	else if (MHD_get_timeout(l->d, &ms) == MHD_YES)
		osmo_timer_schedule(&l->timer, (long)(ms / 1000), (long)(ms % 1000) * 1000);
	else
		osmo_timer_del(&l->timer);
}

static void run(struct mhd_loop *l)
{
	l->kicked = false;
	MHD_run(l->d);
	schedule(l);
}

static int fd_cb(struct osmo_fd *ofd, unsigned what)
{
	(void)what;
	run(ofd->data);
	return 0;
}

static void timer_cb(void *data)
{
	run(data);
}

struct mhd_loop *mhd_loop_attach(void *ctx, struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *di;
	struct mhd_loop *l;

	if (!d || !(di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)))
		return NULL;
	l = talloc_zero(ctx, struct mhd_loop);
	if (!l)
		return NULL;
	l->d = d;
	osmo_timer_setup(&l->timer, timer_cb, l);
	osmo_fd_setup(&l->ofd, di->epoll_fd, OSMO_FD_READ, fd_cb, l, 0);
	if (osmo_fd_register(&l->ofd) < 0) {
		talloc_free(l);
		return NULL;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	l->port = di ? di->port : 0;
	schedule(l);
	return l;
}

void mhd_loop_kick(struct mhd_loop *l)
{
	/* Called from inside one of MHD's callbacks, a plain reschedule would be overwritten
	 * by the schedule that ends the run (MHD's own timeout, maybe none): the flag keeps
	 * the kick. */
	l->kicked = true;
	osmo_timer_schedule(&l->timer, 0, 0);
}

void mhd_loop_flush(struct mhd_loop *l)
{
	if (!l)
		return;
	for (int i = 0; i < 3; i++)
		MHD_run(l->d);
}

unsigned mhd_loop_port(const struct mhd_loop *l)
{
	return l->port;
}

void mhd_loop_stop(struct mhd_loop *l)
{
	if (!l)
		return;
	osmo_fd_unregister(&l->ofd);
	/* Stopping closes the connections left, and their callbacks may kick: the timer goes
	 * last. */
	MHD_stop_daemon(l->d);
	osmo_timer_del(&l->timer);
	talloc_free(l);
}
