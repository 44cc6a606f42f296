/* modem_probe: runs the modem pool alone, on an osmo select loop, against a stub sink.
 *
 *   modem_probe [-l LEVEL] [-f N] [-n] [-r] CONFIG.yaml
 *     CONFIG   a YAML file with a `modems:` section (other top-level keys are ignored)
 *     -f N     the sink refuses (returns -1) the first N received batches (store failure)
 *     -r       receipts (sink.receipt_later) are not committed until SIGUSR2 (a store that
 *              has not written them yet); without -r, right after the event
 *     -n       no replies
 *     -l LEVEL log level on stderr (default info)
 *
 * Every event is one JSON line on stdout:
 *   {"ev":"ready","via":"m1"}                     a modem can take replies
 *   {"ev":"received","via":..,"from":..,"text":..,"dedup":..,"dup":false}
 *   {"ev":"queued","id":..,"via":..,"coding":"gsm7","parts":N}
 *   {"ev":"sent","id":..} / {"ev":"failed","id":..,"permanent":..,"why":..}
 *   {"ev":"remote_id","id":..,"via":..,"remote":..}  a sent part's message reference
 *   {"ev":"receipt","via":..,"remote":..,"delivered":..,"stat":..}  a status report
 *   {"ev":"receipts_committed","n":..}          receipts told they are written
 *   {"ev":"counters","line":..}                   on SIGUSR1 and at exit
 * Replies (through the modem the text came in on): "long7 N" -> N GSM-7 characters,
 * "longu N" -> N characters needing UCS-2, anything else -> "OK " + the text.
 * A reply a modem cannot take now waits for sink.ready; a temporary failure is retried
 * after 1 s through any modem that is up. SIGTERM/SIGINT stop the pool and exit 0. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>

#include "guichet/config.h"
#include "guichet/diag.h"
#include "guichet/log.h"
#include "guichet/modem.h"
#include "guichet/text.h"
#include "guichet/ydoc.h"

struct reply {
	struct llist_head list;
	struct store_outbound o;
	char *via;
};

static struct {
	void *ctx;
	struct modem_pool *pool;
	struct sms_transport *t[16];
	unsigned nt;
	struct llist_head pending;	/* not taken by a modem yet */
	struct llist_head inflight;	/* taken, waiting for sent/failed */
	struct osmo_timer_list retry;
	int64_t next_id;
	int fail_store;
	bool no_reply, hold_receipts;
	json_t *dedups;
	volatile sig_atomic_t quit, usr1, usr2;
	/* receipts handed with receipt_later, not committed yet */
	struct { sms_stored_fn fn; void *sdata; } held[256];
	unsigned nheld;
	struct osmo_timer_list commit;
} P;

static void out(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
	json_decref(o);
}

static struct sms_transport *transport(const char *via)
{
	for (unsigned i = 0; i < P.nt; i++)
		if (!strcmp(P.t[i]->name, via))
			return P.t[i];
	return NULL;
}

/* Offers pending replies: each through its modem, or any modem that is up. */
static void flush(void)
{
	struct reply *r, *tmp;
	llist_for_each_entry_safe(r, tmp, &P.pending, list) {
		struct sms_transport *t = transport(r->via);
		if (!t || !t->up) {
			for (unsigned i = 0; i < P.nt; i++)
				if (P.t[i]->up) {
					t = P.t[i];
					break;
				}
		}
		if (!t || !t->up)
			continue;
		r->o.via = t->name;
		if (t->send(t, &r->o) != 0)
			continue;
		llist_del(&r->list);
		llist_add_tail(&r->list, &P.inflight);
		out(json_pack("{s:s, s:I, s:s, s:s, s:i}", "ev", "queued", "id", (json_int_t)r->o.id,
			      "via", t->name, "coding", r->o.coding == TEXT_GSM7 ? "gsm7" : "ucs2",
			      "parts", r->o.parts));
	}
}

static void retry_cb(void *data)
{
	(void)data;
	flush();
}

static char *reply_text(void *ctx, const char *in)
{
	unsigned n;
	if (sscanf(in, "long7 %u", &n) == 1 || sscanf(in, "longu %u", &n) == 1) {
		bool u = in[4] == 'u';
		char *s = talloc_strdup(ctx, "");
		for (unsigned i = 0; s && i < n; i++) {
			if (i % 10 == 9)
				s = talloc_strdup_append(s, " ");
			else if (u && i % 10 == 0)
				s = talloc_strdup_append(s, "ç");
			else
				s = talloc_asprintf_append(s, "%c", 'a' + (int)(i % 26));
		}
		return s;
	}
	return talloc_asprintf(ctx, "OK %s", in);
}

static int sink_received(void *data, const struct sms_in *msgs, unsigned n)
{
	(void)data;
	if (P.fail_store > 0) {
		P.fail_store--;
		out(json_pack("{s:s, s:i}", "ev", "store_refused", "n", (int)n));
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct sms_in *m = &msgs[i];
		bool dup = m->dedup && json_object_get(P.dedups, m->dedup);
		if (m->dedup)
			json_object_set_new(P.dedups, m->dedup, json_true());
		out(json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:I}", "ev", "received", "via", m->via,
			      "from", m->from, "text", m->text, "dedup", m->dedup, "dup", dup,
			      "received", (json_int_t)m->received));
		if (P.no_reply || dup)
			continue;
		struct reply *r = talloc_zero(P.ctx, struct reply);
		r->via = talloc_strdup(r, m->via);
		char *text = reply_text(r, m->text);
		struct text_measure tm;
		text_measure(text, &tm);
		r->o = (struct store_outbound){ .id = ++P.next_id, .via = r->via,
						.to = talloc_strdup(r, m->from), .text = text,
						.coding = tm.coding, .parts = tm.parts };
		llist_add_tail(&r->list, &P.pending);
	}
	if (!llist_empty(&P.pending))
		osmo_timer_schedule(&P.retry, 0, 0);
	return 0;
}

static struct reply *inflight(int64_t id)
{
	struct reply *r;
	llist_for_each_entry(r, &P.inflight, list)
		if (r->o.id == id)
			return r;
	return NULL;
}

static void sink_sent(void *data, int64_t id)
{
	(void)data;
	struct reply *r = inflight(id);
	out(json_pack("{s:s, s:I, s:i}", "ev", "sent", "id", (json_int_t)id, "parts",
		      r ? (int)r->o.parts : -1));
	if (r) {
		llist_del(&r->list);
		talloc_free(r);
	}
}

static void sink_failed(void *data, int64_t id, bool permanent, const char *why)
{
	(void)data;
	out(json_pack("{s:s, s:I, s:b, s:s}", "ev", "failed", "id", (json_int_t)id, "permanent",
		      permanent, "why", why));
	struct reply *r = inflight(id);
	if (!r)
		return;
	llist_del(&r->list);
	if (permanent) {
		talloc_free(r);
		return;
	}
	llist_add_tail(&r->list, &P.pending);
	osmo_timer_schedule(&P.retry, 1, 0);
}

static void sink_remote_id(void *data, int64_t id, const char *via, const char *remote)
{
	(void)data;
	out(json_pack("{s:s, s:I, s:s, s:s}", "ev", "remote_id", "id", (json_int_t)id, "via", via,
		      "remote", remote));
}

static void sink_receipt(void *data, int64_t id, const char *via, const char *remote,
			 bool delivered, const char *stat)
{
	(void)data;
	(void)id;
	out(json_pack("{s:s, s:s, s:s, s:b, s:s}", "ev", "receipt", "via", via, "remote", remote,
		      "delivered", delivered, "stat", stat ? stat : ""));
}

/* The receipts waiting are "committed": their senders told. */
static void commit_receipts(void *data)
{
	(void)data;
	unsigned n = P.nheld;
	P.nheld = 0;
	for (unsigned i = 0; i < n; i++)
		if (P.held[i].fn)
			P.held[i].fn(P.held[i].sdata, true);
	out(json_pack("{s:s, s:i}", "ev", "receipts_committed", "n", (int)n));
}

static int sink_receipt_later(void *data, int64_t id, const char *via, const char *remote,
			      bool delivered, const char *stat, sms_stored_fn fn, void *sdata)
{
	if (P.nheld == sizeof(P.held) / sizeof(P.held[0]))
		return -1;
	sink_receipt(data, id, via, remote, delivered, stat);
	P.held[P.nheld].fn = fn;
	P.held[P.nheld++].sdata = sdata;
	if (!P.hold_receipts)
		osmo_timer_schedule(&P.commit, 0, 0);
	return 0;
}

static void sink_received_cancel(void *data, void *sdata)
{
	(void)data;
	for (unsigned i = 0; i < P.nheld; i++)
		if (P.held[i].sdata == sdata)
			P.held[i].fn = NULL;
}

static void sink_ready(void *data, struct sms_transport *t)
{
	(void)data;
	out(json_pack("{s:s, s:s}", "ev", "ready", "via", t->name));
	flush();
}

static void sink_registered(void *data, struct sms_transport *t)
{
	(void)data;
	if (P.nt < 16)
		P.t[P.nt++] = t;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		P.usr1 = 1;
	else if (sig == SIGUSR2)
		P.usr2 = 1;
	else
		P.quit = 1;
}

static void counters(void)
{
	char *line = modem_pool_counters(P.ctx, P.pool);
	unsigned up, total;
	modem_pool_status(P.pool, &up, &total);
	out(json_pack("{s:s, s:s, s:i, s:i, s:b}", "ev", "counters", "line", line ? line : "",
		      "up", (int)up, "total", (int)total, "alive", modem_pool_alive(P.pool)));
	talloc_free(line);
}

int main(int argc, char **argv)
{
	const char *level = "info";
	int opt;
	while ((opt = getopt(argc, argv, "f:nrl:")) != -1) {
		switch (opt) {
		case 'f':
			P.fail_store = atoi(optarg);
			break;
		case 'n':
			P.no_reply = true;
			break;
		case 'r':
			P.hold_receipts = true;
			break;
		case 'l':
			level = optarg;
			break;
		default:
			fprintf(stderr, "usage: modem_probe [-f N] [-n] [-r] [-l LEVEL] CONFIG.yaml\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: modem_probe [-f N] [-n] [-r] [-l LEVEL] CONFIG.yaml\n");
		return 2;
	}
	const char *file = argv[optind];
	P.ctx = talloc_named_const(NULL, 0, "modem_probe");
	log_setup(P.ctx, false, level);
	INIT_LLIST_HEAD(&P.pending);
	INIT_LLIST_HEAD(&P.inflight);
	osmo_timer_setup(&P.retry, retry_cb, NULL);
	osmo_timer_setup(&P.commit, commit_receipts, NULL);
	P.dedups = json_object();

	struct diag *d = diag_alloc(P.ctx);
	struct ydoc y;
	if (ydoc_load_file(&y, P.ctx, file, d) < 0) {
		diag_print(d, stderr);
		return 1;
	}
	struct config c = { .file = file };
	char *dir = talloc_strdup(P.ctx, file);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		dir = talloc_strdup(P.ctx, ".");
	c.dir = dir;
	c.credentials = dir;
	struct modem_config *mc = NULL;
	yaml_node_t *root = ydoc_root(&y);
	if (!root || modem_config_parse(P.ctx, &y, ydoc_get(&y, root, "modems"), &c, &mc) < 0 ||
	    !mc) {
		diag_print(d, stderr);
		fprintf(stderr, "modem_probe: no usable `modems:` in %s\n", file);
		return 1;
	}
	struct sms_sink sink = { .received = sink_received, .sent = sink_sent,
				 .failed = sink_failed, .ready = sink_ready,
				 .registered = sink_registered, .remote_id = sink_remote_id,
				 .receipt = sink_receipt, .receipt_later = sink_receipt_later,
				 .received_cancel = sink_received_cancel };
	P.pool = modem_pool_start(P.ctx, mc, &c, sink);
	if (!P.pool) {
		fprintf(stderr, "modem_probe: cannot start the modems\n");
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!P.quit) {
		osmo_select_main_ctx(0);
		if (P.usr1) {
			P.usr1 = 0;
			counters();
		}
		if (P.usr2) {
			P.usr2 = 0;
			commit_receipts(NULL);
		}
	}
	counters();
	modem_pool_stop(P.pool);
	osmo_timer_del(&P.retry);
	osmo_timer_del(&P.commit);
	ydoc_free(&y);
	json_decref(P.dedups);
	out(json_pack("{s:s}", "ev", "stopped"));
	talloc_free(P.ctx);
	return 0;
}
