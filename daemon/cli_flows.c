/* guichet check, draw and report: the flows checked, drawn, and reported on (cli.h). */
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

/* For `check`: what each test dialogue costs the person, when the flows have tests. */
static void check_test_costs(void *ctx, const struct flow_set *fs, const struct config *c,
			     const char *flows)
{
	void *tmp = talloc_new(ctx);
	char *dir = cli_tests_dir(tmp, flows);
	struct flowtest **tests;
	struct diag *d = diag_alloc(tmp);

	if (!dir) {
		talloc_free(tmp);
		return;
	}
	unsigned n = flowtest_load_dir(tmp, dir, &tests, d);
	struct flowtest_opts o = cli_test_opts(c);
	printf("test dialogues (%s), as received:\n", dir);
	for (unsigned i = 0; i < n; i++) {
		struct flowtest_result *r = flowtest_run(tmp, fs, tests[i], &o);
		const char *base = strrchr(tests[i]->file, '/');
		if (tests[i]->channel == CHANNEL_SMS)
			printf("    %-38s SMS: %u repl%s, %u part%s", base ? base + 1 : tests[i]->file,
			       r->sms, r->sms == 1 ? "y" : "ies", r->parts, r->parts == 1 ? "" : "s");
		else
			printf("    %-38s USSD: %u screen%s", base ? base + 1 : tests[i]->file,
			       r->screens, r->screens == 1 ? "" : "s");
		if (tests[i]->channel == CHANNEL_USSD && r->sms)
			printf(" + %u SMS part%s", r->parts, r->parts == 1 ? "" : "s");
		printf("%s\n", r->n_failed ? " (fails: see guichet test)" : "");
	}
	if (d->n_errors)
		printf("    %u error(s) in the test files: see guichet test\n", d->n_errors);
	talloc_free(tmp);
}

int cli_check(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool quiet = false;
	const char *config_file = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "qc:h", opts, NULL)) != -1) {
		switch (o) {
		case 'q': quiet = true; break;
		case 'c': config_file = optarg; break;
		case 'h': cli_usage(stdout); return 0;
		default: cli_usage(stderr); return 2;
		}
	}
	struct diag *d = diag_alloc(ctx);
	bool bad_config;
	struct config *c = cli_config_for(ctx, config_file, optind < argc ? argv[optind] : NULL,
				      quiet, &bad_config);
	if (bad_config)
		return 1;
	const char *path = optind < argc ? argv[optind] : c ? c->flows : "flows";
	struct flow_env env;
	cli_flow_env(ctx, c, &env);
	struct flow_set *fs = flow_set_load(ctx, path, c ? &env : NULL, d);
	/* With a configuration given: also what guichetd checks before it starts. One found
	 * beside the flows only names the operations (its secrets may not be readable by the
	 * administrator checking flows). */
	if (c && config_file)
		preflight_check(ctx, c, d);
	diag_print(d, stderr);
	if (!fs || d->n_errors) {
		if (!quiet)
			fprintf(stderr, "%s: %u error(s)\n", path, d->n_errors);
		return 1;
	}
	if (!quiet) {
		struct render_opts ro = render_opts_from(c);
		render_flow_report(ctx, fs, &ro, stdout);
		check_test_costs(ctx, fs, c, path);
		if (c)	/* what the cost guard will enforce, defaults included */
			guard_config_print(c->limits, stdout);
		printf("%s: %u flow(s), no error", path, fs->n_flows);
		if (d->n_warnings)
			printf(", %u warning(s)", d->n_warnings);
		if (c)
			printf("; calls checked against %s", c->file);
		else
			printf("; calls not checked against back-end operations (no guichet.yaml "
			       "beside the flows: use --config)");
		printf("\n");
	}
	return 0;
}

int cli_draw(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config_file = NULL, *dir = ".";
	enum draw_format fmt = DRAW_SVG;
	struct config *c = NULL;
	int o, rc = 0;

	while ((o = getopt_long(argc, argv, "c:o:f:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config_file = optarg; break;
		case 'o': dir = optarg; break;
		case 'f':
			if (draw_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "guichet draw: format `%s`: svg, png or dot\n", optarg);
				return 2;
			}
			break;
		case 'h': cli_usage(stdout); return 0;
		default: cli_usage(stderr); return 2;
		}
	}
	if (!strcmp(dir, "-") && fmt != DRAW_DOT) {
		fprintf(stderr, "guichet draw: -o - (standard output) is for --format dot\n");
		return 2;
	}
	struct flow_set *fs = cli_load_checked(ctx, config_file, optind < argc ? argv[optind] : NULL, &c);
	if (!fs)
		return 1;
	if (strcmp(dir, "-") && mkdir(dir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return 1;
	}
	struct render_opts ro = render_opts_from(c);
	for (unsigned i = 0; i < fs->n_flows; i++) {
		const struct flow *f = &fs->flows[i];
		struct flow_graph *g = flow_graph_build(ctx, fs, f, &ro);
		char err[512];

		if (!g) {
			fprintf(stderr, "%s: out of memory\n", f->name);
			return 1;
		}
		if (!strcmp(dir, "-")) {
			if (flow_graph_write_dot(g, stdout) < 0)
				rc = 1;
		} else {
			char *path = talloc_asprintf(ctx, "%s/%s.%s", dir, f->name,
						     draw_format_ext(fmt));
			if (draw_write(ctx, g, fmt, path, err, sizeof(err)) < 0) {
				fprintf(stderr, "%s: %s\n", path, err);
				rc = 1;
			} else {
				printf("%s", path);
				if (g->n_unreachable || g->n_dead_ends || g->n_stuck)
					printf(" (%u inaccessible(s), %u impasse(s), %u sans fin)",
					       g->n_unreachable, g->n_dead_ends, g->n_stuck);
				printf("\n");
			}
			talloc_free(path);
		}
		talloc_free(g);
	}
	return rc;
}

int cli_report(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config_file = NULL, *dir = "report";
	struct config *c = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config_file = optarg; break;
		case 'o': dir = optarg; break;
		case 'h': cli_usage(stdout); return 0;
		default: cli_usage(stderr); return 2;
		}
	}
	const char *arg = optind < argc ? argv[optind] : NULL;
	struct flow_set *fs = cli_load_checked(ctx, config_file, arg, &c);
	if (!fs)
		return 1;
	const char *path = arg ? arg : c ? c->flows : "flows";
	struct report_opts ro = {
		.ro = render_opts_from(c),
		.to = cli_test_opts(c),
		/* one flow file: the dialogues beside it that are about its flows */
		.tests_dir = cli_tests_dir(ctx, cli_is_dir(path) ? path
					     : dirname(talloc_strdup(ctx, path))),
		.only_flows = !cli_is_dir(path),
		.flows_path = path,
		.backends = c ? c->backends : NULL,
	};
	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return 1;
	}
	struct diag *d = diag_alloc(ctx);
	char err[512];
	int rc = report_write(ctx, fs, &ro, dir, d, err, sizeof(err));
	diag_print(d, stderr);
	if (rc < 0) {
		fprintf(stderr, "guichet report: %s\n", err);
		return 1;
	}
	printf("%s/index.html: %u flow(s)\n", dir, fs->n_flows);
	return 0;
}
