/* When a flow's reminder is due: "<date> <offset>... [HH:MM]" -> unix seconds. Pure apart
 * from the C library's local time zone, which guichetd and `guichet test` name once at start
 * (remind_use_zone) after the notify section's zone, Europe/Paris by default, so days and
 * clock times are the person's wall clock across summer time whatever the system's zone.
 *
 *   "2026-12-07T09:30 -1d 18:00"  the day before at 18:00
 *   "2026-12-07T09:30 -2h"        two hours before (07:30)
 *   "2026-12-07 +1d 09:00"        a bare date is its midnight
 *   "+5s", "now +10m"             from the time of the step
 *
 * Offsets: a sign, a number and d (calendar days, same wall-clock time), h, m or s; several
 * may follow each other. The optional HH:MM, last, sets the time of day once moved. */
#ifndef GUICHET_REMIND_H
#define GUICHET_REMIND_H

#include <stdint.h>

struct tzfile;

/* Names the zone reminders are computed in: TZ=tz, read once (tzset), and its file read
 * for remind_at. Call before any thread starts (the environment is not thread-safe); tz
 * must be installed (quiet_use_tz checks). The journal's own timestamps are not affected;
 * the times written on stderr are then in that zone too. 0, or -1 when tz is empty. */
int remind_use_zone(const char *tz);
/* 0 with *at set (unix seconds), or -1 with *err saying what is wrong with spec (static).
 * In the zone remind_use_zone() named (read from its file), else the C library's. */
int remind_at(const char *spec, int64_t now, int64_t *at, const char **err);
/* The same in zone z, or in the C library's local time when z is NULL. */
int remind_at_in(const struct tzfile *z, const char *spec, int64_t now, int64_t *at,
		 const char **err);
/* The written form, before its templates are expanded: a leading {{...}} stands for a date,
 * the rest is checked as remind_at would. 0, or -1 with *err set. */
int remind_spec_check(const char *spec, const char **err);

#endif
