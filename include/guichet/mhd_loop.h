/* libmicrohttpd on the osmo select loop, for every HTTP server inside guichetd.
 *
 * The caller starts its MHD daemon with MHD_USE_EPOLL and no thread of its own; mhd_loop
 * makes MHD's epoll descriptor one osmo_fd and MHD_get_timeout() one osmo_timer, so MHD
 * runs only from the loop and never blocks it. */
#ifndef GUICHET_MHD_LOOP_H
#define GUICHET_MHD_LOOP_H

#include <stdbool.h>
#include <sys/socket.h>

struct MHD_Daemon;
struct mhd_loop;

/* "127.0.0.1" or "::1" and a port -> a socket address for MHD_OPTION_SOCK_ADDR. Returns
 * false for anything but a numeric IPv4 or IPv6 address; *ipv6 says which. */
bool mhd_loop_sockaddr(const char *listen, unsigned port, struct sockaddr_storage *ss,
		       bool *ipv6);
/* Puts d on the loop; NULL when d has no epoll descriptor or the fd cannot be registered
 * (d is then still the caller's to stop). The handle is a talloc child of ctx. */
struct mhd_loop *mhd_loop_attach(void *ctx, struct MHD_Daemon *d);
/* MHD processes resumed connections on its next run: call after MHD_resume_connection()
 * (never from inside one of MHD's own callbacks, so the run happens from the loop). */
void mhd_loop_kick(struct mhd_loop *l);
/* Lets MHD write what is ready (resumed connections' answers) before a stop. */
void mhd_loop_flush(struct mhd_loop *l);
/* The port MHD listens on (the one it picked when 0 was asked). */
unsigned mhd_loop_port(const struct mhd_loop *l);
/* Takes d off the loop, stops it and frees the handle. NULL is accepted. */
void mhd_loop_stop(struct mhd_loop *l);

#endif
