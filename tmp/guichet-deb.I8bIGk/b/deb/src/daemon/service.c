/* sd_notify wrappers and the watchdog timer (see service.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <osmocom/core/timer.h>
#include <systemd/sd-daemon.h>

#include "guichet/log.h"
#include "guichet/service.h"

#define STATUS_MAX 200

static struct {
	struct osmo_timer_list timer;
	bool armed;
	unsigned long period_us;
	service_alive_fn alive;
	void *data;
	bool last_alive;
} wd;

static bool under_systemd(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	return s && *s;
}

static int notify(const char *state)
{
	if (!under_systemd())
		return 0;
	int rc = sd_notify(0, state);
	return rc < 0 ? rc : 1;
}

int service_ready(void)
{
	return notify("READY=1");
}

int service_status(const char *fmt, ...)
{
	char line[STATUS_MAX + 1], msg[sizeof("STATUS=") + STATUS_MAX];
	va_list ap;

	if (!under_systemd())
		return 0;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	snprintf(msg, sizeof(msg), "STATUS=%s", line);
	return notify(msg);
}

int service_reloading(void)
{
	struct timespec ts;
	char msg[64];

	/* MONOTONIC_USEC lets systemd ≥ 253 (Type=notify-reload) match the reload; older
	 * versions ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	return notify(msg);
}

int service_stopping(void)
{
	return notify("STOPPING=1");
}

static void wd_schedule(void)
{
	osmo_timer_schedule(&wd.timer, wd.period_us / 1000000, wd.period_us % 1000000);
}

static void wd_tick(void *data)
{
	(void)data;
	bool alive = !wd.alive || wd.alive(wd.data);
	if (alive)
		notify("WATCHDOG=1");
	if (alive != wd.last_alive) {
		/* One line per change, not per tick. */
		if (alive)
			glog(GLOG_MAIN, LOGL_NOTICE, NULL, "liveness restored: feeding the watchdog again");
		else
			glog(GLOG_MAIN, LOGL_ERROR, NULL,
			     "liveness check failed: not feeding the watchdog (systemd will restart us)");
		wd.last_alive = alive;
	}
	wd_schedule();
}

long long service_watchdog_setup(service_alive_fn alive, void *data)
{
	uint64_t usec = 0;

	if (!under_systemd())
		return 0;
	int rc = sd_watchdog_enabled(0, &usec);
	if (rc <= 0)
		return rc;
	service_watchdog_stop();
	wd.alive = alive;
	wd.data = data;
	wd.last_alive = true;
	/* Half the interval, as sd_watchdog_enabled(3) recommends; never busier than 10 ms. */
	wd.period_us = usec / 2 < 10000 ? 10000 : (unsigned long)(usec / 2);
	osmo_timer_setup(&wd.timer, wd_tick, NULL);
	wd.armed = true;
	/* The caller is running the loop setup right now: that is alive enough for a first
	 * keep-alive, before the modem threads may even exist. */
	notify("WATCHDOG=1");
	wd_schedule();
	return (long long)usec;
}

void service_watchdog_stop(void)
{
	if (wd.armed)
		osmo_timer_del(&wd.timer);
	wd.armed = false;
}
