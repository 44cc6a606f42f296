/* Quiet hours: the first moment a message sent first may go, in the quiet hours' zone
 * (Europe/Paris has summer time).
 *
 * The zone is NOT the process's: setting TZ (setenv + tzset), even under a lock and put
 * back, changes localtime for every thread while it is set, and the modem threads and the
 * journal's timestamps read it at any moment; a daemon whose clock is UTC would log in
 * Paris time. Instead the zone's file is read once (tzfile.h: its transitions and its rule
 * for later years) and each local time computed from its offset, on the loop, with no
 * global state but the table of zones already read. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "guichet/scheduler.h"
#include "guichet/tzfile.h"

#define ZONES_MAX 8

/* Zones read once and kept for the life of the process: immutable, so read without the
 * lock once found; the lock only guards adding one. A zone file upgraded under a running
 * daemon is read at its next start. */
static pthread_mutex_t zones_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *name;
	struct tzfile *z;
} zones[ZONES_MAX];

/* At exit: the zones given back, so that a leak checker sees nothing left. */
static void zones_free(void)
{
	for (int i = 0; i < ZONES_MAX; i++) {
		TALLOC_FREE(zones[i].z);
		zones[i].name = NULL;
	}
}

/* The zone called name, read on first use; NULL when there is none (or no room left). */
static const struct tzfile *zone_of(const char *name)
{
	const struct tzfile *z = NULL;
	char err[256];
	int i;

	if (!name)
		return NULL;
	pthread_mutex_lock(&zones_lock);
	for (i = 0; i < ZONES_MAX && zones[i].name; i++)
		if (strcmp(zones[i].name, name) == 0)
			break;
	if (i < ZONES_MAX && zones[i].name) {
		z = zones[i].z;
	} else if (i < ZONES_MAX && quiet_tz_known(name) &&
		   (zones[i].z = tzfile_load(NULL, name, err, sizeof(err)))) {
		zones[i].name = talloc_strdup(zones[i].z, name);
		if (zones[i].name)
			z = zones[i].z;
		else
			TALLOC_FREE(zones[i].z);
		if (i == 0 && z)
			atexit(zones_free);
	}
	pthread_mutex_unlock(&zones_lock);
	return z;
}

bool quiet_tz_known(const char *tz)
{
	char path[256];
	const char *dir = getenv("TZDIR");

	/* glibc silently takes an unknown zone for UTC: look for its file. */
	if (!tz || !*tz || tz[0] == '/' || strstr(tz, ".."))
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", tz);
	return access(path, R_OK) == 0;
}

int quiet_use_tz(const char *tz)
{
	return zone_of(tz) ? 0 : -1;
}

static bool in_window(const struct quiet_hours *q, unsigned m)
{
	if (q->start_min == q->end_min)
		return false;
	if (q->start_min < q->end_min)
		return m >= q->start_min && m < q->end_min;
	return m >= q->start_min || m < q->end_min;
}

/* The local time of t in z, and back (UTC when the zone could not be read). */
static void local_of(const struct tzfile *z, int64_t t, struct tm *tm)
{
	time_t secs = (time_t)t;

	if (z)
		tzfile_localtime(z, t, tm);
	else
		gmtime_r(&secs, tm);
}

static int64_t time_of(const struct tzfile *z, struct tm *tm)
{
	return z ? tzfile_mktime(z, tm) : (int64_t)timegm(tm);
}

int64_t quiet_next(const struct quiet_hours *q, int64_t t_ms)
{
	const struct tzfile *z = zone_of(q->tz);
	int64_t t = t_ms;

	/* Each turn moves to the end of a window or the next midnight: a week of quiet days
	 * and windows is crossed in well under 16 turns; past that, everything is quiet. */
	for (int turn = 0; turn < 16; turn++) {
		struct tm tm;

		local_of(z, t / 1000, &tm);
		unsigned m = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
		bool day_quiet = q->days_mask & (1u << tm.tm_wday);

		if (!day_quiet && !in_window(q, m))
			return t;
		if (day_quiet) {
			/* The next local midnight. */
			tm.tm_mday += 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else {
			/* The end of this window: today, or tomorrow when it began this evening. */
			if (q->start_min > q->end_min && m >= q->start_min)
				tm.tm_mday += 1;
			tm.tm_hour = (int)(q->end_min / 60);
			tm.tm_min = (int)(q->end_min % 60);
			tm.tm_sec = 0;
		}
		int64_t next = time_of(z, &tm);
		if (next * 1000 <= t)
			return t_ms;
		t = next * 1000;
	}
	return t_ms;
}
