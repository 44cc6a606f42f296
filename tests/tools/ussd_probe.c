/* ussd_probe: the USSD transports (ussd_gsup, ussd_http) on an osmo loop with a stub sink
 * serving a tiny fixed menu, so the transports can be tested without the router.
 *
 *   ussd_probe -c probe.yaml [-s screen_chars] [-D delay_ms]
 * probe.yaml holds `gsup:` and/or `ussd_http:` sections (as in config/guichet.yaml); secrets
 * are read from the file's directory. -D answers every request that much later (a back-end
 * call). Every event is printed on stdout: REQ, ABORT, and on SIGTERM/SIGINT the transports'
 * counters and a talloc leak check ("LEAKS n", 0 expected), then exit.
 *
 * Menu (codes are what the phone dials, or the aggregator's serviceCode):
 *   *4321#     CON "Guichet\n1. Acte de naissance\n2. Rendez-vous\n3. Votre avis"
 *     1 -> CON "Numéro de dossier ?" -> X -> END "Demande X enregistrée. Merci."
 *     2 -> END "Rendez-vous : mardi 10h, mairie annexe."
 *     3 -> CON "Votre avis ? « oui » ou « non »" (UCS-2) -> X -> END "Reçu : X"
 *     other -> CON "Choix invalide.\n1. Acte\n2. Rendez-vous\n3. Avis"
 *   *4321*9#   endless: CON "Écran N" for every answer (bench)
 *   *4321*7#   END with a 300-character text (cut to a screen)
 *   other      END "Code inconnu." */
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osmocom/core/linuxlist.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>

#include "guichet/config.h"
#include "guichet/log.h"
#include "guichet/ussd_gsup.h"
#include "guichet/ussd_http.h"
#include "guichet/ydoc.h"

struct dlg {
	struct llist_head list;
	char *key;
	int state;		/* 0 root, 1 dossier, 2 avis, 9 bench */
	unsigned n;
};

struct later {
	struct osmo_timer_list t;
	ussd_reply_fn reply;
	void *rdata;
	char *text;
	bool con;
};

static void *ctx;
static LLIST_HEAD(dlgs);
static unsigned delay_ms;
static bool quit, quiet;

static struct dlg *dlg_find(const char *key)
{
	struct dlg *d;

	llist_for_each_entry(d, &dlgs, list)
		if (!strcmp(d->key, key))
			return d;
	return NULL;
}

static void dlg_free(struct dlg *d)
{
	llist_del(&d->list);
	talloc_free(d);
}

static void later_cb(void *data)
{
	struct later *l = data;

	l->reply(l->rdata, l->text, l->con);
	talloc_free(l);
}

static int answer(struct dlg *d, ussd_reply_fn reply, void *rdata, bool con, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int answer(struct dlg *d, ussd_reply_fn reply, void *rdata, bool con, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = talloc_vasprintf(ctx, fmt, ap);
	va_end(ap);
	if (!con && d)
		dlg_free(d);
	if (!delay_ms) {
		reply(rdata, text, con);
		talloc_free(text);
		return 0;
	}
	struct later *l = talloc_zero(ctx, struct later);
	l->reply = reply;
	l->rdata = rdata;
	l->text = talloc_steal(l, text);
	l->con = con;
	osmo_timer_setup(&l->t, later_cb, l);
	osmo_timer_schedule(&l->t, delay_ms / 1000, (delay_ms % 1000) * 1000);
	return 0;
}

#define ROOT "Guichet\n1. Acte de naissance\n2. Rendez-vous\n3. Votre avis"

static int menu(const struct ussd_req *req, ussd_reply_fn reply, void *rdata)
{
	struct dlg *d = dlg_find(req->dialogue);

	if (!quiet)
		printf("REQ %s %s %s %s\n", req->via, req->dialogue, req->begin ? "begin" : "answer",
		       req->text);
	if (req->begin) {
		if (d)
			dlg_free(d);
		d = talloc_zero(ctx, struct dlg);
		d->key = talloc_strdup(d, req->dialogue);
		llist_add(&d->list, &dlgs);
		if (!strcmp(req->text, "*4321#"))
			return answer(d, reply, rdata, true, ROOT);
		if (!strcmp(req->text, "*4321*9#")) {
			d->state = 9;
			return answer(d, reply, rdata, true, "Écran %u", ++d->n);
		}
		if (!strcmp(req->text, "*4321*7#")) {
			char long_text[301];

			memset(long_text, 'x', 300);
			long_text[300] = '\0';
			memcpy(long_text, "Long:", 5);
			return answer(d, reply, rdata, false, "%s", long_text);
		}
		return answer(d, reply, rdata, false, "Code inconnu.");
	}
	if (!d)
		return answer(NULL, reply, rdata, false, "Session inconnue.");
	switch (d->state) {
	case 0:
		if (!strcmp(req->text, "1")) {
			d->state = 1;
			return answer(d, reply, rdata, true, "Numéro de dossier ?");
		}
		if (!strcmp(req->text, "2"))
			return answer(d, reply, rdata, false, "Rendez-vous : mardi 10h, mairie annexe.");
		if (!strcmp(req->text, "3")) {
			d->state = 2;
			return answer(d, reply, rdata, true, "Votre avis ? « oui » ou « non »");
		}
		return answer(d, reply, rdata, true, "Choix invalide.\n1. Acte\n2. Rendez-vous\n3. Avis");
	case 1:
		return answer(d, reply, rdata, false, "Demande %s enregistrée. Merci.", req->text);
	case 2:
		return answer(d, reply, rdata, false, "Reçu : %s", req->text);
	default:
		return answer(d, reply, rdata, true, "Écran %u", ++d->n);
	}
}

static void stub_request(void *data, const struct ussd_req *req, ussd_reply_fn reply, void *rdata)
{
	(void)data;
	menu(req, reply, rdata);
}

static void stub_abort(void *data, const char *dialogue)
{
	struct dlg *d = dlg_find(dialogue);

	(void)data;
	if (!quiet)
		printf("ABORT %s%s\n", dialogue, d ? "" : " (unknown)");
	if (d)
		dlg_free(d);
}

static void on_signal(int sig)
{
	(void)sig;
	quit = true;
}

int main(int argc, char **argv)
{
	const char *cfg_path = NULL;
	unsigned screen = 128;
	struct diag *dg;
	struct ydoc y;
	struct config c = { 0 };
	struct gsup_config *gc = NULL;
	struct ussd_http_config *hc = NULL;
	struct ussd_gsup *g = NULL;
	struct ussd_http *h = NULL;
	struct ussd_sink sink = { .request = stub_request, .abort = stub_abort };
	yaml_node_t *root, *v;
	void *tall;
	int opt;

	tall = talloc_named_const(NULL, 0, "ussd_probe");
	ctx = talloc_named_const(tall, 0, "probe");
	while ((opt = getopt(argc, argv, "c:s:D:q")) != -1) {
		switch (opt) {
		case 'c': cfg_path = optarg; break;
		case 's': screen = (unsigned)atoi(optarg); break;
		case 'D': delay_ms = (unsigned)atoi(optarg); break;
		case 'q': quiet = true; break;
		default:
			fprintf(stderr, "usage: ussd_probe -c probe.yaml [-s screen] [-D delay_ms] [-q]\n");
			return 2;
		}
	}
	if (!cfg_path) {
		fprintf(stderr, "usage: ussd_probe -c probe.yaml [-s screen] [-D delay_ms] [-q]\n");
		return 2;
	}
	log_setup(tall, false, getenv("PROBE_LOG") ? getenv("PROBE_LOG") : "info");
	setvbuf(stdout, NULL, _IOLBF, 0);

	dg = diag_alloc(tall);
	if (ydoc_load_file(&y, tall, cfg_path, dg) < 0 || !(root = ydoc_root(&y))) {
		diag_print(dg, stderr);
		return 2;
	}
	c.file = cfg_path;
	c.dir = talloc_strdup(tall, cfg_path);
	if (strrchr(c.dir, '/'))
		*strrchr((char *)c.dir, '/') = '\0';
	else
		c.dir = ".";
	c.credentials = c.dir;
	if ((v = ydoc_get(&y, root, "gsup")))
		gsup_config_parse(tall, &y, v, &c, &gc);
	if ((v = ydoc_get(&y, root, "ussd_http")))
		ussd_http_config_parse(tall, &y, v, &c, &hc);
	if (dg->n_errors) {
		diag_print(dg, stderr);
		return 2;
	}
	ydoc_free(&y);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (gc && !(g = ussd_gsup_start(ctx, gc, screen, sink)))
		return 1;
	if (hc && !(h = ussd_http_start(ctx, hc, screen, sink)))
		return 1;
	if (h)
		printf("HTTP port %u\n", ussd_http_port(h));
	printf("READY\n");
	while (!quit)
		osmo_select_main(0);

	if (g) {
		struct ussd_gsup_stats st;

		ussd_gsup_stats(g, &st);
		printf("GSUP requests=%lu prompts=%lu finals=%lu aborts=%lu dropped=%lu "
		       "truncated=%lu full=%lu open=%u\n", st.requests, st.prompts, st.finals,
		       st.aborts, st.dropped, st.truncated, st.full, st.open);
		ussd_gsup_stop(g);
	}
	if (h) {
		struct ussd_http_stats st;

		ussd_http_stats(h, &st);
		printf("HTTP requests=%lu replies=%lu refused=%lu invalid=%lu aborts=%lu "
		       "dropped=%lu truncated=%lu full=%lu timeouts=%lu not_allowed=%lu open=%u\n",
		       st.requests, st.replies, st.refused, st.invalid, st.aborts, st.dropped,
		       st.truncated, st.full, st.timeouts, st.not_allowed, st.open);
		ussd_http_stop(h);
	}
	/* Replies still scheduled: deliver them (they must be dropped safely). */
	osmo_select_main(1);
	while (!llist_empty(&dlgs))
		dlg_free(llist_first_entry(&dlgs, struct dlg, list));
	printf("LEAKS %zu\n", talloc_total_blocks(ctx) - 1);
	if (talloc_total_blocks(ctx) > 1)
		talloc_report_full(ctx, stderr);
	talloc_free(tall);	/* the configuration and diagnostics: LeakSanitizer looks too */
	log_shutdown();
	return 0;
}
