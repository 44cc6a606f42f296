/* The SMPP transport alone: an osmo loop, smpp_start() and a stub sink standing in for the
 * router. Every received text is answered "echo: <text>" through the transport; replies
 * failed-temporary are offered again, like the router's outbox does.
 *
 *   smpp_probe --config FILE [--received FILE] [--status FILE] [--fail-store PCT]
 *              [--hold-receipts 1]
 *
 * FILE holds an `smpp:` list as in guichet.yaml (secrets next to it). --received gets a JSON
 * line per message handed to the sink and per reply sent or dead; --status is rewritten every
 * 200 ms: {"binds_up":..,"binds_total":..,"outbox":..,"sent":..,...}.
 * --hold-receipts 1: the sink takes final receipts with receipt_later ({"event":"receipt"} on
 * --received) and commits them only on SIGUSR2 ({"event":"receipts_committed","n":..}). */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>
#include "guichet/config.h"
#include "guichet/log.h"
#include "guichet/smpp.h"
#include "guichet/text.h"
#include "guichet/ydoc.h"
#include "json_str.h"

struct reply {
	struct llist_head list;
	int64_t id;
	char *to, *text;
	enum text_coding coding;
	bool taken;
	int64_t not_before_ms;
	unsigned attempts;
};

static struct {
	void *ctx;
	FILE *rx;
	const char *status_path;
	unsigned fail_store;
	struct sms_transport *t;
	struct llist_head outbox;
	unsigned outbox_n;
	int64_t next_id;
	uint64_t received, refused, sent, failed_temp, dead;
	struct osmo_timer_list offer_timer, status_timer;
	struct smpp_pool *pool;
	/* --hold-receipts: receipts handed with receipt_later, not committed yet */
	struct { sms_stored_fn fn; void *sdata; } held[256];
	unsigned nheld;
} P;

static volatile sig_atomic_t stop_flag, usr2_flag;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void schedule_offer(int64_t in_ms)
{
	if (in_ms < 0)
		in_ms = 0;
	if (osmo_timer_pending(&P.offer_timer)) {
		struct timeval rem;
		if (osmo_timer_remaining(&P.offer_timer, NULL, &rem) == 0 &&
		    rem.tv_sec * 1000 + rem.tv_usec / 1000 <= in_ms)
			return;
	}
	osmo_timer_schedule(&P.offer_timer, (int)(in_ms / 1000), (int)(in_ms % 1000) * 1000);
}

/* Offers due replies until the transport says it cannot take more. */
static void offer_cb(void *data)
{
	(void)data;
	int64_t now = now_ms(), next = INT64_MAX;
	if (!P.t || !P.t->up)
		return;
	struct reply *r;
	llist_for_each_entry(r, &P.outbox, list) {
		if (r->taken)
			continue;
		if (r->not_before_ms > now) {
			if (r->not_before_ms < next)
				next = r->not_before_ms;
			continue;
		}
		struct store_outbound m = { .id = r->id, .via = P.t->name, .to = r->to, .text = r->text,
					    .coding = r->coding, .attempts = r->attempts };
		if (P.t->send(P.t, &m) != 0)
			return;	/* ready() comes later */
		r->taken = true;
		r->attempts++;
	}
	if (next != INT64_MAX)
		schedule_offer(next - now);
}

static struct reply *reply_find(int64_t id)
{
	struct reply *r;
	llist_for_each_entry(r, &P.outbox, list)
		if (r->id == id)
			return r;
	return NULL;
}

static int sink_received(void *data, const struct sms_in *msgs, unsigned n)
{
	(void)data;
	if (P.fail_store && (unsigned)(rand() % 100) < P.fail_store) {
		P.refused += n;
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		fprintf(P.rx, "{\"event\":\"received\",\"via\":");
		json_str(P.rx, msgs[i].via);
		fprintf(P.rx, ",\"from\":");
		json_str(P.rx, msgs[i].from);
		fprintf(P.rx, ",\"text\":");
		json_str(P.rx, msgs[i].text);
		fputs("}\n", P.rx);
		struct reply *r = talloc_zero(P.ctx, struct reply);
		r->id = ++P.next_id;
		r->to = talloc_strdup(r, msgs[i].from);
		r->text = talloc_asprintf(r, "echo: %s", msgs[i].text);
		r->coding = text_is_gsm7(r->text) ? TEXT_GSM7 : TEXT_UCS2;
		llist_add_tail(&r->list, &P.outbox);
		P.outbox_n++;
	}
	fflush(P.rx);
	P.received += n;
	schedule_offer(0);
	return 0;
}

static void sink_sent(void *data, int64_t id)
{
	(void)data;
	struct reply *r = reply_find(id);
	if (!r) {
		fprintf(stderr, "probe: sent() for unknown id %" PRId64 "\n", id);
		return;
	}
	fprintf(P.rx, "{\"event\":\"sent\",\"id\":%" PRId64 ",\"attempts\":%u}\n", id, r->attempts);
	fflush(P.rx);
	llist_del(&r->list);
	talloc_free(r);
	P.outbox_n--;
	P.sent++;
}

static void sink_failed(void *data, int64_t id, bool permanent, const char *why)
{
	(void)data;
	struct reply *r = reply_find(id);
	if (!r || !r->taken) {
		fprintf(stderr, "probe: failed() for unknown or untaken id %" PRId64 "\n", id);
		return;
	}
	r->taken = false;
	if (permanent) {
		fprintf(P.rx, "{\"event\":\"dead\",\"id\":%" PRId64 ",\"why\":", id);
		json_str(P.rx, why);
		fputs("}\n", P.rx);
		fflush(P.rx);
		llist_del(&r->list);
		talloc_free(r);
		P.outbox_n--;
		P.dead++;
		return;
	}
	P.failed_temp++;
	r->not_before_ms = now_ms() + 200;
	schedule_offer(200);
}

static void sink_ready(void *data, struct sms_transport *t)
{
	(void)data;
	(void)t;
	schedule_offer(0);
}

static void sink_registered(void *data, struct sms_transport *t)
{
	(void)data;
	P.t = t;
}

static void write_status(void)
{
	if (!P.status_path || !P.pool)
		return;
	struct smpp_status st;
	smpp_status(P.pool, &st);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", P.status_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "{\"binds_up\":%u,\"binds_total\":%u,\"outbox\":%u,\"received\":%" PRIu64
		",\"refused\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"failed_temp\":%" PRIu64
		",\"dead\":%" PRIu64 ",\"mo_parts\":%" PRIu64 ",\"mt_parts\":%" PRIu64
		",\"throttled\":%" PRIu64 ",\"receipts\":%" PRIu64 ",\"receipts_unmatched\":%" PRIu64
		",\"reconnects\":%" PRIu64 "}\n",
		st.binds_up, st.binds_total, P.outbox_n, P.received, P.refused, P.sent, P.failed_temp,
		P.dead, st.mo_parts, st.mt_parts, st.mt_throttled, st.receipts, st.receipts_unmatched,
		st.reconnects);
	fclose(f);
	rename(tmp, P.status_path);
}

static void status_cb(void *data)
{
	(void)data;
	write_status();
	if (stop_flag) {
		osmo_select_shutdown_request();
		return;
	}
	osmo_timer_schedule(&P.status_timer, 0, 200000);
}

static void on_signal(int sig)
{
	if (sig == SIGUSR2)
		usr2_flag = 1;
	else
		stop_flag = 1;
}

static int sink_receipt_later(void *data, int64_t id, const char *via, const char *remote,
			      bool delivered, const char *stat, sms_stored_fn fn, void *sdata)
{
	(void)data;
	(void)id;
	(void)delivered;
	if (P.nheld == sizeof(P.held) / sizeof(P.held[0]))
		return -1;
	fprintf(P.rx, "{\"event\":\"receipt\",\"via\":");
	json_str(P.rx, via);
	fprintf(P.rx, ",\"remote\":");
	json_str(P.rx, remote);
	fprintf(P.rx, ",\"stat\":");
	json_str(P.rx, stat ? stat : "");
	fprintf(P.rx, "}\n");
	fflush(P.rx);
	P.held[P.nheld].fn = fn;
	P.held[P.nheld++].sdata = sdata;
	return 0;
}

static void sink_cancel(void *data, void *sdata)
{
	(void)data;
	for (unsigned i = 0; i < P.nheld; i++)
		if (P.held[i].sdata == sdata)
			P.held[i].fn = NULL;
}

static void commit_receipts(void)
{
	unsigned n = P.nheld;
	P.nheld = 0;
	for (unsigned i = 0; i < n; i++)
		if (P.held[i].fn)
			P.held[i].fn(P.held[i].sdata, true);
	fprintf(P.rx, "{\"event\":\"receipts_committed\",\"n\":%u}\n", n);
	fflush(P.rx);
}

int main(int argc, char **argv)
{
	const char *cfg_path = NULL, *rx_path = "/dev/null";
	bool hold_receipts = false;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--config") == 0)
			cfg_path = argv[i + 1];
		else if (strcmp(argv[i], "--received") == 0)
			rx_path = argv[i + 1];
		else if (strcmp(argv[i], "--status") == 0)
			P.status_path = argv[i + 1];
		else if (strcmp(argv[i], "--fail-store") == 0)
			P.fail_store = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--hold-receipts") == 0)
			hold_receipts = atoi(argv[i + 1]) != 0;
	}
	if (!cfg_path) {
		fprintf(stderr, "usage: smpp_probe --config FILE [--received FILE] [--status FILE] "
			"[--fail-store PCT] [--hold-receipts 1]\n");
		return 2;
	}
	P.ctx = talloc_named_const(NULL, 0, "smpp_probe");
	INIT_LLIST_HEAD(&P.outbox);
	osmo_timer_setup(&P.offer_timer, offer_cb, NULL);
	osmo_timer_setup(&P.status_timer, status_cb, NULL);
	log_setup(P.ctx, false, getenv("PROBE_LOG_LEVEL") ? getenv("PROBE_LOG_LEVEL") : "info");
	P.rx = fopen(rx_path, "a");
	if (!P.rx) {
		perror(rx_path);
		return 1;
	}

	struct diag *d = diag_alloc(P.ctx);
	struct ydoc y;
	struct config *c = talloc_zero(P.ctx, struct config);
	char *dup = talloc_strdup(P.ctx, cfg_path);
	c->file = cfg_path;
	c->dir = talloc_strdup(c, dirname(dup));
	struct smpp_config *sc = NULL;
	if (ydoc_load_file(&y, P.ctx, cfg_path, d) != 0 || !ydoc_is_map(ydoc_root(&y)) ||
	    smpp_config_parse(c, &y, ydoc_get(&y, ydoc_root(&y), "smpp"), c, &sc) != 0 || !sc) {
		diag_print(d, stderr);
		fprintf(stderr, "probe: no usable smpp section in %s\n", cfg_path);
		return 1;
	}
	ydoc_free(&y);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR2, on_signal);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)time(NULL));
	struct sms_sink sink = { .received = sink_received, .sent = sink_sent, .failed = sink_failed,
				 .ready = sink_ready, .registered = sink_registered };
	if (hold_receipts) {
		sink.receipt_later = sink_receipt_later;
		sink.received_cancel = sink_cancel;
	}
	P.pool = smpp_start(P.ctx, sc, c, sink);
	if (!P.pool)
		return 1;
	osmo_timer_schedule(&P.status_timer, 0, 0);
	while (!osmo_select_shutdown_done()) {
		osmo_select_main_ctx(0);
		if (usr2_flag) {
			usr2_flag = 0;
			commit_receipts();
		}
	}
	smpp_stop(P.pool);
	P.pool = NULL;
	fclose(P.rx);
	osmo_timer_del(&P.offer_timer);
	talloc_free(P.ctx);
	return 0;
}
