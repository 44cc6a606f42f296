/* guichet status and send: the operator's commands that talk to a running guichetd (cli.h). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/api_client.h"
#include "guichet/cli.h"
#include "guichet/backend.h"
#include "guichet/config.h"
#include "guichet/draw.h"
#include "guichet/guard.h"
#include "guichet/flow.h"
#include "guichet/flow_graph.h"
#include "guichet/flowtest.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/metrics_client.h"
#include "guichet/preflight.h"
#include "guichet/render.h"
#include "guichet/report.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/store.h"
#include "guichet/text.h"

/* guichet status: the counters of the running daemon, from its /metrics endpoint. */
int cli_status(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "url", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *config = "/etc/guichet/guichet.yaml";
	char *url = NULL, *text;
	char err[512];
	int opt, n;

	while ((opt = getopt_long(argc, argv, "c:u:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'u': url = talloc_strdup(ctx, optarg); break;
		case 'h': cli_usage(stdout); return 0;
		default: cli_usage(stderr); return 2;
		}
	}
	if (!url && !(url = metrics_client_url(ctx, config, err, sizeof(err)))) {
		fprintf(stderr, "guichet status: %s\n", err);
		return 1;
	}
	if (!(text = metrics_client_fetch(ctx, url, err, sizeof(err)))) {
		fprintf(stderr, "guichet status: %s\n", err);
		return 1;
	}
	printf("guichetd counters from %s\n", url);
	n = metrics_print_table(stdout, text);
	if (n < 0) {
		fprintf(stderr, "guichet status: %s did not answer with counters\n", url);
		return 1;
	}
	return 0;
}

/* ---- send: one message through the daemon's API (api_client.h says why not the store) ---- */

int cli_send(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "to", required_argument, NULL, 't' },
		{ "text", required_argument, NULL, 'x' }, { "at", required_argument, NULL, 'a' },
		{ "reference", required_argument, NULL, 'r' }, { "key", required_argument, NULL, 'k' },
		{ "token-file", required_argument, NULL, 'T' }, { "ca", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct api_send req = { .config = "/etc/guichet/guichet.yaml" };
	char out[256], err[512];
	int o;

	while ((o = getopt_long(argc, argv, "c:t:x:a:r:k:T:C:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': req.config = optarg; break;
		case 't': req.to = optarg; break;
		case 'x': req.text = optarg; break;
		case 'a': req.at = optarg; break;
		case 'r': req.reference = optarg; break;
		case 'k': req.idempotency_key = optarg; break;
		case 'T': req.token_file = optarg; break;
		case 'C': req.ca = optarg; break;
		case 'h': cli_usage(stdout); return 0;
		default: cli_usage(stderr); return 2;
		}
	}
	if (!req.to || !req.text || optind < argc) {
		cli_usage(stderr);
		return 2;
	}
	if (api_client_send(ctx, &req, out, sizeof(out), err, sizeof(err)) < 0) {
		fprintf(stderr, "guichet send: %s\n", err);
		return 1;
	}
	printf("%s\n", out);
	return 0;
}
