/* A reminder's time from its `at:` (remind.h). Days move in local time (mktime, tm_isdst -1),
 * so "-1d" of 09:30 is 09:30 the day before even across a change of summer time; hours,
 * minutes and seconds are elapsed time. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guichet/remind.h"

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

/* The tokens after the base: offsets then an optional clock time. has_base: tm holds the
 * base; otherwise the base is now. */
static int apply(const char *p, bool has_base, struct tm *base, int64_t now, int64_t *at,
		 const char **err)
{
	time_t t = (time_t)now;
	struct tm tm;
	bool clock = false;
	int ch = 0, cm = 0;
	long days = 0, secs = 0;

	if (has_base)
		tm = *base;
	else if (!localtime_r(&t, &tm))
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
	tm.tm_mday += (int)days;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return *err = "the date is out of range", -1;
	t += secs;
	if (clock) {
		if (!localtime_r(&t, &tm))
			return *err = "the date is out of range", -1;
		tm.tm_hour = ch;
		tm.tm_min = cm;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t == (time_t)-1)
			return *err = "the date is out of range", -1;
	}
	*at = (int64_t)t;
	return 0;
}

int remind_at(const char *spec, int64_t now, int64_t *at, const char **err)
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
		return apply(spec + 3, false, NULL, now, at, err);
	if (spec[0] == '+' || spec[0] == '-')
		return apply(spec, false, NULL, now, at, err);
	if (!parse_base(spec, len, &tm))
		return *err = "expected a date (AAAA-MM-JJ or AAAA-MM-JJTHH:MM), `now` or an "
			      "offset first", -1;
	return apply(spec + len, true, &tm, now, at, err);
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
	return 0;
}
