/* guichetd: the daemon. Reads the config and flows, opens the store, starts the back-end
 * relay and the transports, and runs libosmocore's select loop until SIGTERM.
 *
 *   guichetd -c FILE [-f] [-t]
 *
 * Wiring only: every decision lives in the modules (router, engine, transports). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/clock.h"
#include "guichet/backend.h"
#include "guichet/config.h"
#include "guichet/api_http.h"
#include "guichet/flow.h"
#include "guichet/guard.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/metrics_http.h"
#include "guichet/modem.h"
#include "guichet/reload.h"
#include "guichet/remind.h"
#include "guichet/preflight.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/service.h"
#include "guichet/smpp.h"
#include "guichet/ussd_gsup.h"
#include "guichet/ussd_http.h"
#include "guichet/store.h"
#include "guichet/text.h"

#define TICK_MS 1000
#define SHUTDOWN_GRACE_S 5

struct daemon {
	void *ctx;
	const char *config_file;
	struct config *cfg;
	struct store *store;
	struct backend_relay *relay;
	struct router *router;
	struct guard *guard;
	struct scheduler *scheduler;
	struct api_http *api;
	struct reload *reload;
	struct modem_pool *modems;
	struct smpp_pool *smpp;
	struct ussd_gsup *gsup;
	struct ussd_http *ussd_http;
	struct metrics_http *metrics;
	struct osmo_timer_list tick;
	int64_t last_counters;
	bool stopping;
	int64_t stop_deadline;
	unsigned flows_version;
};

static void usage(FILE *out)
{
	fputs("usage: guichetd -c FILE [-f] [-t]\n"
	      "  -c FILE  configuration (default /etc/guichet/guichet.yaml)\n"
	      "  -f       stay in the foreground and log to stderr even under systemd\n"
	      "  -t       check the configuration and the flows, then exit\n", out);
}

static struct flow_set *load_flows(void *ctx, const struct config *c, struct diag *d)
{
	struct flow_env env = { .ussd_screen = config_ussd_screen(c),
				.sms_parts = c->sms.max_parts, .no_fold = !c->sms.fold };
	const char **ops = NULL;

	env.n_ops = c->backends ? backend_config_ops(c->backends, &ops, ctx) : 0;
	env.ops = ops;
	return flow_set_load(ctx, c->flows, &env, d);
}

/* Each diagnostic as its own journal line, file:line:column first. */
static void log_diag(const struct diag *d, int level)
{
	for (unsigned i = 0; i < d->n; i++) {
		const struct diag_entry *e = &d->e[i];
		/* Notes (what a receipt costs) are for guichet check, not the journal. */
		int lvl = e->level == DIAG_ERROR ? level : e->level == DIAG_NOTE ? LOGL_INFO
										   : LOGL_NOTICE;
		if (e->line)
			glog(GLOG_CONFIG, lvl, NULL, "%s:%u:%u: %s", e->file ? e->file : "?",
			     e->line, e->col, e->msg);
		else
			glog(GLOG_CONFIG, lvl, NULL, "%s: %s", e->file ? e->file : "?", e->msg);
	}
}

static void status_line(struct daemon *dm)
{
	unsigned up = 0, total = 0;
	unsigned nb = backend_relay_count(dm->relay);
	bool backends_ok = true;

	char smpp[48] = "", ussd[48] = "";

	if (dm->modems)
		modem_pool_status(dm->modems, &up, &total);
	if (dm->smpp) {
		struct smpp_status ss;
		smpp_status(dm->smpp, &ss);
		snprintf(smpp, sizeof(smpp), ", %u/%u SMPP binds up", ss.binds_up, ss.binds_total);
	}
	if (dm->gsup)
		snprintf(ussd, sizeof(ussd), ", HLR link %s", ussd_gsup_up(dm->gsup) ? "up" : "down");
	for (unsigned i = 0; i < nb; i++)
		backends_ok &= backend_relay_last_ok(dm->relay, i);
	char cap[96] = "";
	if (dm->guard && *guard_status(dm->guard, time(NULL), cap + 3, sizeof(cap) - 3)) {
		/* First, so that it is never cut off the end of the line. */
		memcpy(cap, "!! ", 3);
		strncat(cap, "; ", sizeof(cap) - strlen(cap) - 1);
	}
	/* A store problem first too: STATUS= is cut at 200 characters. */
	const char *store = router_store_problem(dm->router);
	service_status("%s%s%s%u/%u modems up%s%s, %u sessions, outbox %u, back-ends %s",
		       store ? store : "", store ? "; " : "", cap, up, total,
		       smpp, ussd, router_sessions_active(dm->router),
		       router_outbox_pending(dm->router), backends_ok ? "ok" : "failing");
}

static void counters_line(struct daemon *dm)
{
	const struct router *r = dm->router;
	char be[256] = "";
	unsigned nb = backend_relay_count(dm->relay);
	size_t off = 0;

	for (unsigned i = 0; i < nb && off < sizeof(be); i++)
		off += snprintf(be + off, sizeof(be) - off, " %s=%llu/%llu",
				backend_relay_name(dm->relay, i),
				(unsigned long long)backend_relay_counter(dm->relay, i, BACKEND_CTR_ERRORS),
				(unsigned long long)backend_relay_counter(dm->relay, i, BACKEND_CTR_CALLS));
	char guard[200] = "";
	if (dm->guard) {
		const struct guard *g = dm->guard;
		snprintf(guard, sizeof(guard), "; guard: limited %llu (notices %llu), muted %llu "
			 "(loops %llu), ignored %llu, refused destination %llu, capped %llu, USSD "
			 "limited %llu, spent today %llu parts",
			 (unsigned long long)guard_counter(g, GUARD_CTR_LIMITED),
			 (unsigned long long)guard_counter(g, GUARD_CTR_NOTICES),
			 (unsigned long long)guard_counter(g, GUARD_CTR_MUTED),
			 (unsigned long long)guard_counter(g, GUARD_CTR_LOOPS),
			 (unsigned long long)guard_counter(g, GUARD_CTR_IGNORED),
			 (unsigned long long)guard_counter(g, GUARD_CTR_REFUSED),
			 (unsigned long long)guard_counter(g, GUARD_CTR_CAPPED),
			 (unsigned long long)guard_counter(g, GUARD_CTR_USSD_LIMITED),
			 (unsigned long long)guard_spent(g, time(NULL)));
	}
	glog(GLOG_MAIN, LOGL_INFO, NULL,
	     "counters: in %lu, out %lu, replies %lu, parts %lu, sessions %u, calls %lu, "
	     "call errors %lu, send failures %lu, store commits %lu, store failures %lu; "
	     "back-end errors/calls:%s%s",
	     (unsigned long)router_counter(r, ROUTER_CTR_MESSAGES_IN),
	     (unsigned long)router_counter(r, ROUTER_CTR_MESSAGES_OUT),
	     (unsigned long)router_counter(r, ROUTER_CTR_REPLIES),
	     (unsigned long)router_counter(r, ROUTER_CTR_PARTS_OUT), router_sessions_active(r),
	     (unsigned long)router_counter(r, ROUTER_CTR_CALLS),
	     (unsigned long)router_counter(r, ROUTER_CTR_CALL_ERRORS),
	     (unsigned long)router_counter(r, ROUTER_CTR_SEND_FAILURES),
	     (unsigned long)router_counter(r, ROUTER_CTR_STORE_COMMITS),
	     (unsigned long)router_counter(r, ROUTER_CTR_STORE_FAILURES),
	     nb ? be : " none", guard);
	if (dm->modems) {
		char *m = modem_pool_counters(dm->ctx, dm->modems);
		glog(GLOG_MODEM, LOGL_INFO, NULL, "modems: %s", m ? m : "?");
		talloc_free(m);
	}
	if (dm->smpp) {
		/* Each bind's counters, the same as its series on /metrics. */
		char *line = metrics_counters_line(dm->ctx, "smpp");
		glog(GLOG_SMPP, LOGL_INFO, NULL, "SMPP: %s", line ? line : "?");
		talloc_free(line);
	}
	if (dm->gsup) {
		struct ussd_gsup_stats st;
		ussd_gsup_stats(dm->gsup, &st);
		glog(GLOG_USSD, LOGL_INFO, NULL, "USSD GSUP: requests %lu, open %u, saturated %lu, "
		     "aborts %lu", st.requests, st.open, st.full, st.aborts);
	}
	if (dm->ussd_http) {
		struct ussd_http_stats st;
		ussd_http_stats(dm->ussd_http, &st);
		glog(GLOG_USSD, LOGL_INFO, NULL, "USSD HTTP: requests %lu, open %u, saturated %lu, "
		     "refused %lu, invalid %lu, not allowed %lu, cut at request_timeout %lu",
		     st.requests, st.open, st.full, st.refused, st.invalid, st.not_allowed,
		     st.timeouts);
	}
}

static void tick(void *data)
{
	struct daemon *dm = data;
	int64_t now = clock_wall_ms();

	router_tick(dm->router, now);
	status_line(dm);
	if (dm->cfg->log.counters_s &&
	    now - dm->last_counters >= (int64_t)dm->cfg->log.counters_s * 1000) {
		dm->last_counters = now;
		counters_line(dm);
	}
	osmo_timer_schedule(&dm->tick, TICK_MS / 1000, (TICK_MS % 1000) * 1000);
}

static bool alive(void *data)
{
	struct daemon *dm = data;

	return !dm->modems || modem_pool_alive(dm->modems);
}

/* SIGHUP, on the reload thread (reload.h): pure, everything under res->ctx. */
static void reload_load(struct reload_result *res, const char *config_file)
{
	res->cfg = config_load(res->ctx, config_file, res->diag);
	res->fs = res->cfg ? load_flows(res->ctx, res->cfg, res->diag) : NULL;
}

/* Back on the loop: new flows for new sessions, or the old ones kept with every error
 * logged. */
static void reload_done(void *data, struct reload_result *res)
{
	struct daemon *dm = data;
	struct flow_set *fs = res->fs;
	struct diag *d = res->diag;

	if (dm->stopping)
		return;
	if (!fs) {
		log_diag(d, LOGL_ERROR);
		glog(GLOG_CONFIG, LOGL_ERROR, NULL,
		     "reload refused: %u error(s); the previous flows keep serving", d->n_errors);
	} else {
		log_diag(d, LOGL_NOTICE);
		router_set_flows(dm->router, fs);	/* takes fs out of res->ctx */
		/* The limits apply at once; each number's windows and the day's spend are kept. */
		guard_configure(dm->guard, res->cfg->limits);
		router_set_guard(dm->router, dm->guard);
		/* Quiet hours, pacing, STOP words at once (a new time zone at the next start). */
		scheduler_configure(dm->scheduler, res->cfg->notify);
		glog(GLOG_CONFIG, LOGL_NOTICE, NULL,
		     "reload done: %u flows (version %u), limits applied; sessions in progress "
		     "finish on theirs. Transport and back-end settings take effect at the next "
		     "restart.", fs->n_flows, fs->version);
	}
	service_ready();
}

/* The files are read and checked off the loop: dialogues go on being answered meanwhile. */
static void reload(struct daemon *dm)
{
	service_reloading();
	if (reload_running(dm->reload))
		glog(GLOG_CONFIG, LOGL_NOTICE, NULL,
		     "reload requested while one is loading: another follows it");
	else
		glog(GLOG_CONFIG, LOGL_INFO, NULL, "reload: loading the configuration and flows");
	reload_request(dm->reload);
}

static void stop_check(void *data);

static void begin_stop(struct daemon *dm)
{
	/* Nothing more is sent first while stopping: what is due waits for the next start. */
	if (dm->scheduler)
		scheduler_set_manual(dm->scheduler, true);
	api_http_stop(dm->api);
	dm->api = NULL;
	if (dm->stopping)
		return;
	dm->stopping = true;
	service_stopping();
	glog(GLOG_MAIN, LOGL_NOTICE, NULL, "stopping: no new messages; calls in flight get %u s",
	     SHUTDOWN_GRACE_S);
	/* Stop taking work first: what a modem has not handed over stays on its SIM. */
	if (dm->modems) {
		modem_pool_stop(dm->modems);
		dm->modems = NULL;
	}
	if (dm->smpp) {
		smpp_stop(dm->smpp);
		dm->smpp = NULL;
	}
	if (dm->gsup) {
		ussd_gsup_stop(dm->gsup);
		dm->gsup = NULL;
	}
	if (dm->ussd_http) {
		ussd_http_stop(dm->ussd_http);
		dm->ussd_http = NULL;
	}
	dm->stop_deadline = clock_wall_ms() + SHUTDOWN_GRACE_S * 1000;
	osmo_timer_del(&dm->tick);
	osmo_timer_setup(&dm->tick, stop_check, dm);
	osmo_timer_schedule(&dm->tick, 0, 100000);
}

static void stop_check(void *data)
{
	struct daemon *dm = data;

	if ((dm->relay && backend_relay_in_flight(dm->relay) > 0) && clock_wall_ms() < dm->stop_deadline) {
		osmo_timer_schedule(&dm->tick, 0, 100000);
		return;
	}
	osmo_select_shutdown_request();
}

static void on_signal(struct osmo_signalfd *osfd, const struct signalfd_siginfo *si)
{
	struct daemon *dm = osfd->data;

	switch (si->ssi_signo) {
	case SIGHUP:
		reload(dm);
		break;
	case SIGTERM:
	case SIGINT:
		begin_stop(dm);
		break;
	case SIGUSR1:
		talloc_report_full(dm->ctx, stderr);
		break;
	}
}

/* Blocked before any thread exists (modem threads, libcurl's resolver, libraries' own):
 * every thread inherits the mask, so the signals wait for the loop's signalfd instead of
 * killing the process with their default action in some other thread. */
static void block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGHUP);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	/* A peer gone mid-write (osmo-hlr killed, an SMSC dropping the link: libosmo-abis and
	 * smpp.c write() to sockets) must be an EPIPE the transport handles, not the end. */
	signal(SIGPIPE, SIG_IGN);
}

/* The configuration, the flows and the start-up checks. NULL when the daemon must not go
 * on: *exit_code says with what (the report printed); else the flows, and in *diag the
 * warnings to log once the journal is set up. */
static struct flow_set *load_and_check(struct daemon *dm, bool check_only, struct diag **diag,
				       int *exit_code)
{
	struct diag *d = *diag = diag_alloc(dm->ctx);
	struct flow_set *fs;

	dm->cfg = config_load(dm->ctx, dm->config_file, d);
	fs = dm->cfg ? load_flows(dm->ctx, dm->cfg, d) : NULL;
	/* The same checks for -t as for a start: a check that passes means a start that does
	 * not refuse (secrets, certificates, store, devices). */
	if (dm->cfg)
		preflight_check(dm->ctx, dm->cfg, d);
	if (check_only || !fs || d->n_errors) {
		diag_print(d, stderr);
		if (fs && !d->n_errors)
			printf("%s: configuration, %u flows and start-up checks OK\n", dm->config_file,
			       fs->n_flows);
		else if (!check_only)
			fprintf(stderr, "%s: not started: %u error(s)\n", dm->config_file,
				d->n_errors);
		*exit_code = fs && !d->n_errors ? 0 : 1;
		return NULL;
	}
	return fs;
}

/* The store, the back-end relay, the router with its flows and the cost guard. */
static int start_core(struct daemon *dm, struct flow_set *fs)
{
	const struct config *c = dm->cfg;
	char err[256];

	dm->store = store_is_pg(c->store) ? store_pg_open(dm->ctx, c->store, err, sizeof(err)) :
		store_sqlite_open(dm->ctx, c->store, err, sizeof(err));
	if (!dm->store) {
		glog(GLOG_STORE, LOGL_FATAL, NULL, "cannot open the store %s: %s", c->store, err);
		return -1;
	}
	dm->relay = backend_relay_create(dm->ctx, dm->cfg, err, sizeof(err));
	if (!dm->relay) {
		glog(GLOG_BACKEND, LOGL_FATAL, NULL, "%s", err);
		return -1;
	}
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(c->sms.max_parts),
			 .fold = c->sms.fold },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(config_ussd_screen(c)),
			  .fold = c->sms.fold },
		.call_budget_ms = c->call_budget_ms,
		.ussd_answer_ms = c->ussd.answer_ms,
		.retention_s = c->retention_s,
		.outbox_poll_ms = c->outbox_poll_s * 1000,
	};
	dm->router = router_create(dm->ctx, &rc, dm->store, backend_relay_port(dm->relay));
	router_set_flows(dm->router, fs);
	dm->guard = guard_create(dm->ctx, c->limits);
	if (!dm->guard) {
		glog(GLOG_MAIN, LOGL_FATAL, NULL, "cannot allocate the cost guard");
		return -1;
	}
	router_set_guard(dm->router, dm->guard);
	/* The quiet hours' zone read now, so a bad file stops the start (the process's TZ,
	 * and so the journal's times, stay the system's). */
	if (quiet_use_tz(c->notify->quiet.tz) < 0) {
		glog(GLOG_MAIN, LOGL_FATAL, NULL, "unknown time zone %s", c->notify->quiet.tz);
		return -1;
	}
	/* Reminders' "-1d 18:00" are the person's clock, not the server's (often UTC). Before
	 * any modem thread exists: the environment is not thread-safe. */
	remind_use_zone(c->notify->quiet.tz);
	return 0;
}

/* Modems, SMPP binds, the GSUP link, the USSD callback: each hands what it receives to the
 * router's sinks. */
static int start_transports(struct daemon *dm)
{
	const struct config *c = dm->cfg;

	if (c->modems) {
		dm->modems = modem_pool_start(dm->ctx, c->modems, c, router_sms_sink(dm->router));
		if (!dm->modems) {
			glog(GLOG_MODEM, LOGL_FATAL, NULL, "cannot start the modems");
			return -1;
		}
	}
	if (c->smpp && !(dm->smpp = smpp_start(dm->ctx, c->smpp, c, router_sms_sink(dm->router)))) {
		glog(GLOG_SMPP, LOGL_FATAL, NULL, "cannot start the SMPP binds");
		return -1;
	}
	if (c->gsup && !(dm->gsup = ussd_gsup_start(dm->ctx, c->gsup, c->ussd.screen,
						     router_ussd_sink(dm->router)))) {
		glog(GLOG_USSD, LOGL_FATAL, NULL, "cannot start the GSUP client");
		return -1;
	}
	if (c->ussd_http && !(dm->ussd_http = ussd_http_start(dm->ctx, c->ussd_http, c->ussd.screen,
							       router_ussd_sink(dm->router)))) {
		glog(GLOG_USSD, LOGL_FATAL, NULL, "cannot start the USSD HTTP callback");
		return -1;
	}
	return 0;
}

static void kick_scheduler(void *data)
{
	scheduler_kick(data);
}

/* After the transports registered: stored replies recovered, then what is sent first (the
 * scheduler, the notification API) and the metrics endpoint. */
static int start_sending_first(struct daemon *dm)
{
	const struct config *c = dm->cfg;

	router_recover(dm->router, time(NULL));
	dm->scheduler = scheduler_create(dm->ctx, c->notify, dm->store, dm->router);
	if (!dm->scheduler) {
		glog(GLOG_MAIN, LOGL_FATAL, NULL, "cannot start the scheduler");
		return -1;
	}
	router_set_sched_kick(dm->router, kick_scheduler, dm->scheduler);
	if (c->api) {
		struct api_http_env env = { .st = dm->store, .sched = dm->scheduler,
					    .router = dm->router,
					    .max_parts = c->sms.max_parts, .fold = c->sms.fold };
		if (!(dm->api = api_http_start(dm->ctx, c->api, &env))) {
			glog(GLOG_MAIN, LOGL_FATAL, NULL, "cannot start the notification API");
			return -1;
		}
	}
	if (c->metrics && !(dm->metrics = metrics_http_start(dm->ctx, c->metrics))) {
		glog(GLOG_MAIN, LOGL_FATAL, NULL, "cannot start the metrics endpoint");
		return -1;
	}
	return 0;
}

/* SIGHUP reloads, SIGTERM stops, the tick, the watchdog; then READY=1. */
static int start_control(struct daemon *dm, sigset_t sigs, const struct flow_set *fs)
{
	dm->reload = reload_create(dm->ctx, dm->config_file, reload_load, reload_done, dm);
	if (!dm->reload) {
		glog(GLOG_MAIN, LOGL_FATAL, NULL, "cannot set up reloading (eventfd)");
		return -1;
	}
	if (!osmo_signalfd_setup(dm->ctx, sigs, on_signal, dm)) {
		glog(GLOG_MAIN, LOGL_FATAL, NULL, "cannot set up the signal descriptor");
		return -1;
	}
	osmo_timer_setup(&dm->tick, tick, dm);
	osmo_timer_schedule(&dm->tick, 0, 0);
	dm->last_counters = clock_wall_ms();
	service_watchdog_setup(alive, dm);
	glog(GLOG_MAIN, LOGL_NOTICE, NULL, "guichetd started: %u flows, store %s", fs->n_flows,
	     dm->cfg->store);
	service_ready();
	status_line(dm);
	return 0;
}

/* After the loop: what is queued flushed, calls ended, the store closed. */
static void shut_down(struct daemon *dm)
{
	service_watchdog_stop();
	metrics_http_stop(dm->metrics);
	router_flush(dm->router);
	backend_relay_destroy(dm->relay);
	dm->store->ops->close(dm->store);
	glog(GLOG_MAIN, LOGL_NOTICE, NULL, "guichetd stopped");
}

int main(int argc, char **argv)
{
	void *ctx = talloc_named_const(NULL, 0, "guichetd");
	struct daemon *dm = talloc_zero(ctx, struct daemon);
	bool foreground = false, check_only = false;
	struct flow_set *fs;
	struct diag *d;
	sigset_t sigs;
	int o, rc = 0;

	/* Without TZ, glibc's mktime() reads /etc/localtime's status again on every call (a
	 * reminder's time takes three); named once, the zone is read once. Until the start
	 * names the notify zone (remind_use_zone), it is the system's. */
	if (!getenv("TZ"))
		setenv("TZ", ":/etc/localtime", 0);
	block_signals(&sigs);
	dm->ctx = ctx;
	dm->config_file = "/etc/guichet/guichet.yaml";
	while ((o = getopt(argc, argv, "c:fth")) != -1) {
		switch (o) {
		case 'c': dm->config_file = optarg; break;
		case 'f': foreground = true; break;
		case 't': check_only = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!(fs = load_and_check(dm, check_only, &d, &rc))) {
		talloc_free(ctx);
		return rc;
	}
	log_setup(ctx, !foreground && getenv("JOURNAL_STREAM"), dm->cfg->log.level);
	log_diag(d, LOGL_NOTICE);
	if (start_core(dm, fs) < 0 || start_transports(dm) < 0 || start_sending_first(dm) < 0 ||
	    start_control(dm, sigs, fs) < 0)
		return 1;
	while (!osmo_select_shutdown_done())
		osmo_select_main_ctx(0);
	shut_down(dm);
	talloc_free(ctx);
	log_shutdown();
	return 0;
}
