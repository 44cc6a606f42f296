/* The back-end relay on the osmo loop: curl's multi *socket* interface tells us which sockets
 * to watch (CURLMOPT_SOCKETFUNCTION -> one osmo_fd each) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> one osmo_timer); every event goes back to curl with
 * curl_multi_socket_action() and finished transfers, collected with curl_multi_info_read(),
 * go to their call (backend.c). */
#include <curl/curl.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/backend_relay.h"


/* One socket curl asked us to watch. */
struct relay_sock {
	struct osmo_fd ofd;
	struct backend_relay *r;
};

void backend_schedule_ms(struct osmo_timer_list *t, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	osmo_timer_schedule(t, ms / 1000, (ms % 1000) * 1000);
}

static void process_done(struct backend_relay *r)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(r->multi, &left))) {
		struct relay_call *c = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c)
			backend_call_attempt_done(c, m->data.result);
	}
}

static int sock_event(struct osmo_fd *ofd, unsigned int what)
{
	struct backend_relay *r = ofd->data;
	int ev = 0, running;

	if (what & OSMO_FD_READ)
		ev |= CURL_CSELECT_IN;
	if (what & OSMO_FD_WRITE)
		ev |= CURL_CSELECT_OUT;
	if (what & OSMO_FD_EXCEPT)
		ev |= CURL_CSELECT_ERR;
	/* ofd may be freed inside (CURL_POLL_REMOVE): do not touch it afterwards. */
	curl_multi_socket_action(r->multi, ofd->fd, ev, &running);
	process_done(r);
	return 0;
}

static int sock_free(struct relay_sock *rs)
{
	if (rs->ofd.fd >= 0)
		osmo_fd_unregister(&rs->ofd);
	return 0;
}

int backend_loop_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
			   void *socketp)
{
	struct backend_relay *r = userp;
	struct relay_sock *rs = socketp;
	unsigned when = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (rs) {
			curl_multi_assign(r->multi, s, NULL);
			talloc_free(rs);	/* sock_free unregisters it */
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		when |= OSMO_FD_READ;
	if (what & CURL_POLL_OUT)
		when |= OSMO_FD_WRITE;
	if (!rs) {
		rs = talloc_zero(r, struct relay_sock);
		if (!rs)
			return -1;
		rs->r = r;
		osmo_fd_setup(&rs->ofd, s, when, sock_event, r, 0);
		if (osmo_fd_register(&rs->ofd) < 0) {
			talloc_free(rs);
			return -1;
		}
		talloc_set_destructor(rs, sock_free);
		curl_multi_assign(r->multi, s, rs);
	} else {
		osmo_fd_update_when(&rs->ofd, 0, when);
	}
	return 0;
}

void backend_loop_timer_fired(void *data)
{
	struct backend_relay *r = data;
	int running;

	curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	process_done(r);
}

/* curl asks to be woken after timeout_ms (0: as soon as possible, from the loop; -1: never).
 * Acting here directly would re-enter curl, hence the timer even for 0. */
int backend_loop_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct backend_relay *r = userp;

	(void)multi;
	if (timeout_ms < 0)
		osmo_timer_del(&r->curl_timer);
	else
		backend_schedule_ms(&r->curl_timer, timeout_ms);
	return 0;
}
