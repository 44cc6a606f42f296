/* Reminders at scale: N messages scheduled in the SQLite store (WAL, synchronous=FULL),
 * spread over a few seconds, sent by the scheduler through the router's outbox to a fake
 * transport that takes everything at once (a modem with rate 0). Every message's lateness
 * is measured against its send_at, and the process's peak memory after 10,000 and after
 * 100,000 (the store drives the schedule: memory should not follow the count).
 *
 * bench_schedule [dir]: the store goes in a fresh directory under dir ($TMPDIR, else
 * /var/tmp). Prints `figure reminders_100k_max_late_ms: N` and the memory figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <sys/resource.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/router.h"
#include "guichet/scheduler.h"

static struct router *r;
static int64_t max_late, sum_late;
static unsigned n_sent;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The outbox row carries the text "R<send_at ms>": lateness needs no lookup. */
static int fake_send(struct sms_transport *t, const struct store_outbound *m)
{
	int64_t due = strtoll(m->text + 1, NULL, 10), late = wall_ms() - due;

	(void)t;
	if (late > max_late)
		max_late = late;
	sum_late += late;
	n_sent++;
	router_sms_sent(r, m->id);
	return 0;
}

static struct sms_transport modem = { .name = "m0", .send = fake_send, .up = true };

static int no_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		   call_done_fn done, void *data)
{
	(void)impl; (void)op; (void)args; (void)budget_ms; (void)done; (void)data;
	return -1;
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

/* Schedules n messages spread evenly over spread_ms from start, then runs the loop until
 * all are sent. Returns the max lateness in ms. */
static int64_t run(struct store *st, struct scheduler *s, unsigned n, int64_t start,
		   int64_t spread_ms)
{
	char text[32], to[20];
	unsigned i;

	max_late = sum_late = 0;
	n_sent = 0;
	for (i = 0; i < n; i++) {
		if (i % 1000 == 0 && st->ops->begin(st) < 0)
			exit(1);
		struct store_scheduled m = { .to = to, .text = text, .origin = SCHED_REMIND };
		m.send_at = start + (int64_t)i * spread_ms / n;
		snprintf(text, sizeof(text), "R%lld", (long long)m.send_at);
		snprintf(to, sizeof(to), "+3361%07u", i % 1000000);
		if (st->ops->schedule_add(st, &m) < 0)
			exit(1);
		if ((i % 1000 == 999 || i == n - 1) && st->ops->commit(st) < 0)
			exit(1);
	}
	scheduler_kick(s);
	while (n_sent < n)
		osmo_select_main_ctx(0);
	return max_late;
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	char dir[512], path[600], err[256];
	void *ctx = talloc_named_const(NULL, 0, "bench_schedule");
	struct notify_config nc;

	snprintf(dir, sizeof(dir), "%s/guichet-bench-schedule.XXXXXX", base);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/guichet.db", dir);
	struct store *st = store_sqlite_open(ctx, path, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3) },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) },
	};
	r = router_create(ctx, &rc, st, (struct call_port){ .call = no_call });
	router_sms_register(r, &modem);
	notify_config_defaults(&nc);
	nc.quiet.start_min = nc.quiet.end_min = 0;
	nc.quiet.days_mask = 0;
	nc.pace_default = 0;
	quiet_use_tz("UTC");
	struct scheduler *s = scheduler_create(ctx, &nc, st, r);

	/* 10,000 over 2 s, then 100,000 over 20 s (5,000 a second), both starting 3 s ahead
	 * so that scheduling is over before the first is due. */
	int64_t late10 = run(st, s, 10000, wall_ms() + 3000, 2000);
	long rss10 = peak_rss_kb();
	int64_t late100 = run(st, s, 100000, wall_ms() + 8000, 20000);
	long rss100 = peak_rss_kb();

	printf("reminders: 10k max late %lld ms, peak RSS %ld KiB; 100k mean late %.1f ms, "
	       "peak RSS %ld KiB\n", (long long)late10, rss10, (double)sum_late / 100000, rss100);
	printf("figure reminders_100k_max_late_ms: %lld\n", (long long)late100);
	printf("figure reminders_rss_growth_10k_to_100k_kb: %ld\n", rss100 - rss10);
	talloc_free(ctx);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
