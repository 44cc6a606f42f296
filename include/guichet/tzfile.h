/* Local time in a named zone without touching the process's TZ: the zone's TZif file (RFC
 * 8536, from the system tz database) read once into a table of transitions plus its
 * POSIX-TZ footer rule for the years after the table. The C library offers no localtime
 * with an explicit zone, and setting TZ (setenv + tzset) would change every thread's
 * localtime (the journal's timestamps, the modem thread's logs): quiet hours in
 * Europe/Paris must not move the clock of a daemon running in UTC.
 *
 * Pure once loaded: a zone is immutable, so any thread may read it. */
#ifndef GUICHET_TZFILE_H
#define GUICHET_TZFILE_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

struct tzfile;

/* Reads zone name ("Europe/Paris") from $TZDIR or /usr/share/zoneinfo; a talloc child of
 * ctx. NULL with err set when there is no such zone or its file is not TZif. */
struct tzfile *tzfile_load(void *ctx, const char *name, char *err, size_t err_len);
/* The offset from UTC in seconds at unix time t (3600 for Paris in winter). */
int32_t tzfile_offset(const struct tzfile *z, int64_t t);
/* localtime_r in z: tm filled (tm_isdst: whether the offset is summer time; tm_gmtoff and
 * tm_zone not set). */
void tzfile_localtime(const struct tzfile *z, int64_t t, struct tm *tm);
/* mktime in z: the unix time of the local time tm (its fields may be out of range, as for
 * mktime: 32 December is 1 January; tm_isdst is ignored). A local time that does not exist
 * (in the hour skipped in spring) gives the instant as many seconds after the skip; one that
 * happens twice (in autumn), the first. */
int64_t tzfile_mktime(const struct tzfile *z, struct tm *tm);

#endif
