/* TZif files and POSIX TZ rules (tzfile.h). Only the version 2+ 64-bit data block is read
 * (every tz database file since 2005 has one); leap-second records are skipped, as the
 * system's "right/" zones are not what people's clocks show. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/tzfile.h"

#define TZIF_MAX (1u << 20)	/* the largest zone file is under 4 KB */

/* One date of a POSIX rule: Jn (1-365, no 29 February), n (0-365) or Mm.w.d, at secs after
 * local midnight (may be negative or past 24 h). */
struct tz_date {
	char kind;		/* 'J', 'D' (n), 'M' */
	int n, m, w, d;
	int32_t secs;
};

struct tzfile {
	int64_t *at;		/* transitions, ascending */
	uint8_t *type;		/* the type from each transition on */
	size_t n_at;
	int32_t *utoff;		/* per type */
	uint8_t *isdst;
	size_t n_types;
	/* the footer, for times past the last transition (or for all of them when there are
	 * none): std offset only, or a std/dst pair switching on two dates a year */
	bool has_rule, has_dst;
	int32_t std_off, dst_off;
	struct tz_date start, end;
};

/* ---- calendar ---- */

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_of(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* floor(a / b) and the remainder that goes with it, for b > 0: times before 1970 too. */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/* The date of day `days` since 1970-01-01 (Hinnant's civil_from_days). */
static void civil_of(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* gmtime_r by arithmetic (tm_isdst 0, tm_gmtoff and tm_zone left as they are): the C
 * library's takes its time-zone lock and costs several times more, and a reminder's time
 * takes a few of these. */
static void utc_tm(int64_t t, struct tm *tm)
{
	int64_t days = floor_div(t, 86400), y;
	int secs = (int)(t - days * 86400), m, d;

	civil_of(days, &y, &m, &d);
	tm->tm_year = (int)(y - 1900);
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	tm->tm_hour = secs / 3600;
	tm->tm_min = secs / 60 % 60;
	tm->tm_sec = secs % 60;
	tm->tm_wday = (int)((days % 7 + 11) % 7);	/* 1970-01-01 was a Thursday */
	tm->tm_yday = (int)(days - days_of(y, 1, 1));
	tm->tm_isdst = 0;
}

/* timegm by arithmetic: fields out of range (32 December, minute -30) count on. */
static int64_t utc_time(const struct tm *tm)
{
	int64_t mon = tm->tm_mon, y = (int64_t)tm->tm_year + 1900 + floor_div(mon, 12);
	int64_t days = days_of(y, (int)(mon - floor_div(mon, 12) * 12) + 1, 1) + tm->tm_mday - 1;

	return days * 86400 + (int64_t)tm->tm_hour * 3600 + (int64_t)tm->tm_min * 60 + tm->tm_sec;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : md[m - 1];
}

/* The day (days since the epoch) of date d in year y. */
static int64_t rule_day(const struct tz_date *d, int64_t y)
{
	int64_t jan1 = days_of(y, 1, 1);

	if (d->kind == 'J')
		return jan1 + d->n - 1 + (leap(y) && d->n >= 60);
	if (d->kind == 'D')
		return jan1 + d->n;
	/* Mm.w.d: day d (0 = Sunday) of week w (5 = the last) of month m. */
	int64_t first = days_of(y, d->m, 1);
	int wd = (int)(((first + 4) % 7 + 7) % 7);	/* 1970-01-01 was a Thursday */
	int day = 1 + (d->d - wd + 7) % 7 + (d->w - 1) * 7;

	while (day > month_days(y, d->m))
		day -= 7;
	return first + day - 1;
}

/* ---- the POSIX TZ footer ---- */

static const char *parse_name(const char *p)
{
	if (*p == '<') {
		while (*p && *p != '>')
			p++;
		return *p ? p + 1 : NULL;
	}
	const char *s = p;
	while (isalpha((unsigned char)*p))
		p++;
	return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into *secs; NULL when it is not one. */
static const char *parse_time(const char *p, int32_t *secs)
{
	int sign = 1, part[3] = { 0, 0, 0 };

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	for (int i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)*p))
			return NULL;
		while (isdigit((unsigned char)*p))
			part[i] = part[i] * 10 + (*p++ - '0');
		if (part[i] > 167 || i == 2 || *p != ':')
			break;
		p++;
	}
	*secs = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	return p;
}

static const char *parse_date(const char *p, struct tz_date *d)
{
	char *end;

	d->secs = 2 * 3600;
	if (*p == 'M') {
		d->kind = 'M';
		d->m = (int)strtol(p + 1, &end, 10);
		if (*end != '.')
			return NULL;
		d->w = (int)strtol(end + 1, &end, 10);
		if (*end != '.')
			return NULL;
		d->d = (int)strtol(end + 1, &end, 10);
		if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d < 0 || d->d > 6)
			return NULL;
	} else {
		d->kind = *p == 'J' ? 'J' : 'D';
		if (*p == 'J')
			p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		d->n = (int)strtol(p, &end, 10);
		if (d->n > 365 || (d->kind == 'J' && d->n < 1))
			return NULL;
	}
	p = end;
	if (*p == '/' && !(p = parse_time(p + 1, &d->secs)))
		return NULL;
	return p;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": offsets are west of Greenwich in POSIX, east in utoff. */
static bool parse_rule(struct tzfile *z, const char *p)
{
	int32_t off;

	if (!(p = parse_name(p)) || !(p = parse_time(p, &off)))
		return false;
	z->std_off = -off;
	z->has_rule = true;
	if (!*p)
		return true;
	if (!(p = parse_name(p)))
		return false;
	z->dst_off = z->std_off + 3600;
	if (*p && *p != ',') {
		if (!(p = parse_time(p, &off)))
			return false;
		z->dst_off = -off;
	}
	if (*p != ',' || !(p = parse_date(p + 1, &z->start)) || *p != ',' ||
	    !(p = parse_date(p + 1, &z->end)) || *p)
		return false;
	z->has_dst = true;
	return true;
}

static int32_t rule_offset(const struct tzfile *z, int64_t t, bool *dst)
{
	*dst = false;
	if (!z->has_dst)
		return z->std_off;
	int64_t y;
	int m, d;

	civil_of(floor_div(t + z->std_off, 86400), &y, &m, &d);
	/* The switch to summer time happens at a standard local time, the switch back at a
	 * summer local time. */
	int64_t on = rule_day(&z->start, y) * 86400 + z->start.secs - z->std_off;
	int64_t off = rule_day(&z->end, y) * 86400 + z->end.secs - z->dst_off;

	*dst = on < off ? t >= on && t < off : !(t >= off && t < on);
	return *dst ? z->dst_off : z->std_off;
}

/* ---- the file ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The six counts of a header at p: isut, isstd, leap, time, type, char. */
static bool header(const unsigned char *p, size_t len, uint32_t c[6])
{
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return false;
	for (int i = 0; i < 6; i++)
		c[i] = be32(p + 20 + 4 * i);
	return c[4] > 0 && c[3] < 100000 && c[4] < 256 && c[1] <= c[4] && c[0] <= c[4];
}

static size_t block_len(const uint32_t c[6], unsigned tsize)
{
	return (size_t)c[3] * tsize + c[3] + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * (tsize + 4) +
	       c[1] + c[0];
}

/* The version 2+ data block at p (counts c) and the footer after it. */
static bool parse_v2(struct tzfile *z, const unsigned char *p, size_t len, const uint32_t c[6])
{
	size_t need = block_len(c, 8);

	if (len < need)
		return false;
	z->n_at = c[3];
	z->n_types = c[4];
	z->at = talloc_array(z, int64_t, z->n_at ? z->n_at : 1);
	z->type = talloc_array(z, uint8_t, z->n_at ? z->n_at : 1);
	z->utoff = talloc_array(z, int32_t, z->n_types);
	z->isdst = talloc_array(z, uint8_t, z->n_types);
	if (!z->at || !z->type || !z->utoff || !z->isdst)
		return false;
	for (size_t i = 0; i < z->n_at; i++) {
		z->at[i] = be64(p + 8 * i);
		if (i && z->at[i] <= z->at[i - 1])
			return false;
	}
	p += 8 * z->n_at;
	for (size_t i = 0; i < z->n_at; i++)
		if ((z->type[i] = p[i]) >= z->n_types)
			return false;
	p += z->n_at;
	for (size_t i = 0; i < z->n_types; i++, p += 6) {
		z->utoff[i] = (int32_t)be32(p);
		z->isdst[i] = p[4];
		if (z->utoff[i] < -25 * 3600 || z->utoff[i] > 26 * 3600)
			return false;
	}
	p += need - (size_t)c[3] * 9 - (size_t)c[4] * 6;
	len -= need;
	/* The footer: "\nTZ\n" (empty when the table says it all). */
	if (len >= 2 && p[0] == '\n') {
		const unsigned char *nl = memchr(p + 1, '\n', len - 1);
		char rule[128];

		if (nl && nl - p > 1 && (size_t)(nl - p - 1) < sizeof(rule)) {
			memcpy(rule, p + 1, (size_t)(nl - p - 1));
			rule[nl - p - 1] = '\0';
			if (!parse_rule(z, rule))
				return false;
		}
	}
	return true;
}

static unsigned char *read_all(void *ctx, const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	unsigned char *buf;

	if (!f)
		return NULL;
	buf = talloc_size(ctx, TZIF_MAX);
	*len = buf ? fread(buf, 1, TZIF_MAX, f) : 0;
	fclose(f);
	return buf;
}

struct tzfile *tzfile_load(void *ctx, const char *name, char *err, size_t err_len)
{
	const char *dir = getenv("TZDIR");
	struct tzfile *z;
	unsigned char *buf;
	size_t len = 0, v1;
	uint32_t c[6];
	char *path;

	if (!name || !*name || name[0] == '/' || strstr(name, "..")) {
		snprintf(err, err_len, "`%s` is not a time zone name", name ? name : "");
		return NULL;
	}
	z = talloc_zero(ctx, struct tzfile);
	path = z ? talloc_asprintf(z, "%s/%s", dir ? dir : "/usr/share/zoneinfo", name) : NULL;
	if (!path) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	if (!(buf = read_all(z, path, &len))) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* Skip the version 1 block (32-bit times) to the version 2 header. */
	if (!header(buf, len, c) || buf[4] < '2' || (v1 = 44 + block_len(c, 4)) > len ||
	    !header(buf + v1, len - v1, c) || !parse_v2(z, buf + v1 + 44, len - v1 - 44, c)) {
		snprintf(err, err_len, "%s: not a version 2+ TZif file", path);
		goto fail;
	}
	talloc_free(buf);
	talloc_free(path);
	return z;
fail:
	talloc_free(z);
	return NULL;
}

static int32_t offset_of(const struct tzfile *z, int64_t t, bool *dst)
{
	size_t lo = 0, hi = z->n_at;

	if (z->has_rule && (z->n_at == 0 || t >= z->at[z->n_at - 1]))
		return rule_offset(z, t, dst);
	if (z->n_at == 0 || t < z->at[0]) {
		*dst = z->isdst[0];
		return z->utoff[0];
	}
	/* The last transition at or before t. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	*dst = z->isdst[z->type[lo]];
	return z->utoff[z->type[lo]];
}

int32_t tzfile_offset(const struct tzfile *z, int64_t t)
{
	bool dst;

	return offset_of(z, t, &dst);
}

void tzfile_localtime(const struct tzfile *z, int64_t t, struct tm *tm)
{
	bool dst;
	int64_t local = t + offset_of(z, t, &dst);

	memset(tm, 0, sizeof(*tm));
	utc_tm(local, tm);
	tm->tm_isdst = dst;
}

int64_t tzfile_mktime(const struct tzfile *z, struct tm *tm)
{
	int64_t local = utc_time(tm), t;	/* the fields normalised, as if it were UTC */

	/* Two candidates: the offset of the day before and of the day after (the same but
	 * around a change). Each is right when the offset at its instant is the one assumed;
	 * both in the hour repeated in autumn (the first wins), neither in the hour skipped in
	 * spring (the offset before applies: 02:30 reads as 03:30). */
	int32_t before = tzfile_offset(z, local - 86400), after = tzfile_offset(z, local + 86400);
	int64_t c1 = local - before, c2 = local - after;

	if (before == after) {
		t = c1;		/* no change within a day of it: one candidate (most days) */
	} else {
		bool ok1 = tzfile_offset(z, c1) == before, ok2 = tzfile_offset(z, c2) == after;

		t = ok1 && ok2 ? (c1 < c2 ? c1 : c2) : ok2 ? c2 : c1;
	}
	tzfile_localtime(z, t, tm);
	return t;
}
