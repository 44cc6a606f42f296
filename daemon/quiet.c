/* Quiet hours: the first moment a message sent first may go. The local time comes from the
 * system tz database (Europe/Paris has summer time), through the process's TZ, which
 * guichetd sets once at start (quiet_use_tz) before any thread runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guichet/scheduler.h"

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
	if (!quiet_tz_known(tz) || setenv("TZ", tz, 1) < 0)
		return -1;
	tzset();
	return 0;
}

static bool in_window(const struct quiet_hours *q, unsigned m)
{
	if (q->start_min == q->end_min)
		return false;
	if (q->start_min < q->end_min)
		return m >= q->start_min && m < q->end_min;
	return m >= q->start_min || m < q->end_min;
}

int64_t quiet_next(const struct quiet_hours *q, int64_t t_ms)
{
	int64_t t = t_ms;

	/* Each turn moves to the end of a window or the next midnight: a week of quiet days
	 * and windows is crossed in well under 16 turns; past that, everything is quiet. */
	for (int turn = 0; turn < 16; turn++) {
		time_t secs = (time_t)(t / 1000);
		struct tm tm;

		if (!localtime_r(&secs, &tm))
			return t_ms;
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
		tm.tm_isdst = -1;
		time_t next = mktime(&tm);
		if (next == (time_t)-1 || (int64_t)next * 1000 <= t)
			return t_ms;
		t = (int64_t)next * 1000;
	}
	return t_ms;
}
