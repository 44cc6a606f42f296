/* Talking to systemd (sd_notify): readiness, one-line status, reload and stop notices, and
 * a watchdog fed from the event loop only while the daemon is really alive.
 *
 * Every function is a no-op returning 0 when not started by systemd ($NOTIFY_SOCKET unset),
 * so tests and foreground runs need no special case. Returns: > 0 sent, 0 not under
 * systemd (or watchdog not enabled), < 0 -errno. Call them from the main thread. */
#ifndef GUICHET_SERVICE_H
#define GUICHET_SERVICE_H

#include <stdbool.h>

/* READY=1: config, flows, store and the configured transports are up. Also sent after a
 * reload (with or without a new set). */
int service_ready(void);
/* STATUS=<one line>, e.g. "2 modems up, 14 sessions, outbox 3, back-ends ok". Newlines
 * are replaced by spaces; long lines are cut at 200 characters. */
int service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 (with MONOTONIC_USEC) on SIGHUP, before re-reading; follow with
 * service_ready() whatever the outcome. */
int service_reloading(void);
/* STOPPING=1 on SIGTERM/SIGINT, before closing transports. */
int service_stopping(void);

/* Returns true while the daemon is healthy (loop turning, modem threads answering). Called
 * from an osmo_timer in the main loop, so it must not block. */
typedef bool (*service_alive_fn)(void *data);

/* Starts feeding the watchdog when systemd asked for one (WatchdogSec=, seen through
 * sd_watchdog_enabled()): every half interval an osmo_timer calls alive(data) and sends
 * WATCHDOG=1 only if it returns true (alive may be NULL: always alive). Returns the interval
 * in microseconds (> 0), 0 when no watchdog is wanted, < 0 on error. The timer lives until
 * service_watchdog_stop(). */
long long service_watchdog_setup(service_alive_fn alive, void *data);
void service_watchdog_stop(void);

#endif
