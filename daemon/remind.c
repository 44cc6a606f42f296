/* A reminder's time from its `at:` (remind.h). Days move in local time (mktime, tm_isdst -1),
 * so "-1d" of 09:30 is 09:30 the day before even across a change of summer time; hours,
 * minutes and seconds are elapsed time.
 *
 * Local time is the zone remind_use_zone() named, from its file (tzfile.h): the C
 * library's mktime() looks TZ up in the environment, takes a lock and searches its table on
 * every call, and a reminder's time takes up to two of them and two localtime_r(): a tenth
 * of an engine step. Without a named zone (or when its file cannot be read), the C
 * library's local time, as before. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <osmocom/core/talloc.h>

#include "guichet/remind.h"
#include "guichet/tzfile.h"

#define MAX_OFFSET_DAYS 3660	/* ten years: anything more is a typing slip */

/* Reads n digits at *p into *v; false when they are not all digits. */
static bool digits(const char **p, unsigned n, int *v)
{
	int x = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]" (length len) into tm (local, isdst unknown). */
static bool parse_base(const char *s, size_t len, struct tm *tm)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h = 0, mi = 0, se = 0;

	if (len < 10 || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return false;
	if (p < end) {
		if (*p != 'T' && *p != 't')
			return false;
		p++;
		if (end - p < 5 || !digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return false;
		if (p < end && (*p++ != ':' || end - p < 2 || !digits(&p, 2, &se)))
			return false;
		if (p != end)
			return false;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = se;
	tm->tm_isdst = -1;
	return true;
}

/* "+3d", "-2h", "+30m", "+5s": sign, number, unit. */
static bool parse_offset(const char *s, size_t len, long *n, char *unit)
{
	if (len < 3 || (s[0] != '+' && s[0] != '-') || len > 9)
		return false;
	long v = 0;
	for (size_t i = 1; i + 1 < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*unit = s[len - 1];
	if (!strchr("dhms", *unit))
		return false;
	if (*unit == 'd' && v > MAX_OFFSET_DAYS)
		return false;
	*n = s[0] == '-' ? -v : v;
	return true;
}

static bool parse_clock(const char *s, size_t len, int *h, int *m)
{
	const char *p = s;

	if (len == 4) {		/* 9:00 */
		if (!digits(&p, 1, h))
			return false;
	} else if (len != 5 || !digits(&p, 2, h)) {
		return false;
	}
	return *p++ == ':' && digits(&p, 2, m) && *h < 24 && *m < 60;
}

/* The zone remind_use_zone() read; NULL: the C library's local time. */
static struct tzfile *zone;

static void zone_free(void)
{
	TALLOC_FREE(zone);
}

/* localtime_r in z (the C library's zone when NULL); false when t is out of its range. */
static bool local_of(const struct tzfile *z, int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;

	if (!z)
		return localtime_r(&tt, tm) != NULL;
	tzfile_localtime(z, t, tm);
	return true;
}

/* mktime in z (tm_isdst -1 for the C library's); -1 when out of range. */
static int64_t time_of(const struct tzfile *z, struct tm *tm)
{
	if (!z) {
		tm->tm_isdst = -1;
		return (int64_t)mktime(tm);
	}
	return tzfile_mktime(z, tm);
}

/* The tokens after the base: offsets then an optional clock time. has_base: tm holds the
 * base; otherwise the base is now. */
static int apply(const struct tzfile *z, const char *p, bool has_base, struct tm *base,
		 int64_t now, int64_t *at, const char **err)
{
	int64_t t;
	struct tm tm;
	bool clock = false;
	int ch = 0, cm = 0;
	long days = 0, secs = 0;

	if (has_base)
		tm = *base;
	else if (!local_of(z, now, &tm))
		return *err = "the local time is unknown", -1;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " ");
		long n;
		char unit;

		if (clock)
			return *err = "nothing may follow the time of day (HH:MM comes last)", -1;
		if (parse_offset(p, len, &n, &unit)) {
			switch (unit) {
			case 'd': days += n; break;
			case 'h': secs += n * 3600; break;
			case 'm': secs += n * 60; break;
			default: secs += n; break;
			}
			if (days > MAX_OFFSET_DAYS || days < -MAX_OFFSET_DAYS ||
			    secs > MAX_OFFSET_DAYS * 86400L || secs < -MAX_OFFSET_DAYS * 86400L)
				return *err = "an offset of more than ten years", -1;
		} else if (parse_clock(p, len, &ch, &cm)) {
			clock = true;
		} else {
			return *err = "expected an offset (-1d, -2h, +30m, +5s) or a time of day "
				      "(18:00)", -1;
		}
		p += len;
	}
	/* From now without days, no detour through the local clock: in the hour repeated in
	 * autumn its reading names two instants, and mktime() would pick either. */
	if (!has_base && !days && !clock) {
		*at = now + secs;
		return 0;
	}
	tm.tm_mday += (int)days;
	t = time_of(z, &tm);
	if (t == -1)
		return *err = "the date is out of range", -1;
	t += secs;
	if (clock) {
		if (!local_of(z, t, &tm))
			return *err = "the date is out of range", -1;
		tm.tm_hour = ch;
		tm.tm_min = cm;
		tm.tm_sec = 0;
		t = time_of(z, &tm);
		if (t == -1)
			return *err = "the date is out of range", -1;
	}
	*at = t;
	return 0;
}

int remind_at(const char *spec, int64_t now, int64_t *at, const char **err)
{
	return remind_at_in(zone, spec, now, at, err);
}

int remind_at_in(const struct tzfile *z, const char *spec, int64_t now, int64_t *at,
		 const char **err)
{
	const char *e = NULL;
	struct tm tm;

	if (!err)
		err = &e;
	if (!spec)
		return *err = "no time", -1;
	while (*spec == ' ')
		spec++;
	if (!*spec)
		return *err = "no date (is the variable empty?)", -1;
	size_t len = strcspn(spec, " ");
	if (len == 3 && strncmp(spec, "now", 3) == 0)
		return apply(z, spec + 3, false, NULL, now, at, err);
	if (spec[0] == '+' || spec[0] == '-')
		return apply(z, spec, false, NULL, now, at, err);
	if (!parse_base(spec, len, &tm))
		return *err = "expected a date (AAAA-MM-JJ or AAAA-MM-JJTHH:MM), `now` or an "
			      "offset first", -1;
	return apply(z, spec + len, true, &tm, now, at, err);
}

int remind_spec_check(const char *spec, const char **err)
{
	const char *e = NULL;
	int64_t at;

	if (!err)
		err = &e;
	if (!spec)
		return *err = "no time", -1;
	while (*spec == ' ')
		spec++;
	if (strncmp(spec, "{{", 2) == 0) {
		const char *close = strstr(spec, "}}");
		if (!close)
			return *err = "`{{` without `}}`", -1;
		if (close[2] && close[2] != ' ')
			return *err = "a space must follow the date's `}}`", -1;
		if (strstr(close + 2, "{{"))
			return *err = "only the date may be a variable: offsets and the time of "
				      "day are written out", -1;
		/* Any date stands for the variable's value: the rest is what is checked. */
		char buf[256];
		snprintf(buf, sizeof(buf), "2026-01-15T12:00%s", close + 2);
		return remind_at(buf, 0, &at, err);
	}
	if (strstr(spec, "{{"))
		return *err = "only the date (first) may be a variable", -1;
	return remind_at(spec, 0, &at, err);
}

int remind_use_zone(const char *tz)
{
	if (!tz || !*tz)
		return -1;
	/* glibc reads a bare name ("Europe/Paris") from the tz database, once. */
	if (setenv("TZ", tz, 1) < 0)
		return -1;
	tzset();
	/* The same zone from its file, for remind_at (a name glibc knows but the file reader
	 * does not, ":/etc/localtime", stays with the C library). */
	static bool freed_at_exit;
	char err[256];

	if (!freed_at_exit)
		freed_at_exit = atexit(zone_free) == 0;
	TALLOC_FREE(zone);
	zone = tzfile_load(NULL, tz, err, sizeof(err));
	return 0;
}
