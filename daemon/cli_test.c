/* guichet test: the test dialogues of flows/tests played, compared, rewritten (cli.h,
 * flowtest.h). */
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
#include "guichet/remind.h"
#include "guichet/render.h"
#include "guichet/report.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/store.h"
#include "guichet/text.h"

/* --export: the dialogue as the transcript scripts of the transport tests read it, NAME.in
 * (one text a line, the code dialled first on USSD) and NAME.ok (what simulate prints).
 * Only dialogues a live daemon can be given line by line: no time jump, hang-up, hurry,
 * empty text, nor answers for one step. */
static int export_transcript(void *ctx, const struct flowtest_result *r,
			     const struct render_opts *ro, const char *dir)
{
	const struct flowtest *t = r->t;
	const char *base = strrchr(t->file, '/');
	char *name = talloc_strdup(ctx, base ? base + 1 : t->file);
	size_t l = strlen(name);

	if (l > 5 && !strcmp(name + l - 5, ".yaml"))
		name[l - 5] = '\0';
	l = strlen(name);
	if (t->channel == CHANNEL_USSD && !(l > 5 && !strcmp(name + l - 5, ".ussd")))
		name = talloc_asprintf_append(name, ".ussd");
	for (unsigned i = 0; i < t->n_steps; i++) {
		const struct flowtest_step *s = &t->steps[i];
		if (s->wait_s || s->hangup || s->hurry || s->backend.call || !s->send || !*s->send ||
		    strchr(s->send, '\n')) {
			fprintf(stderr, "%s:%u:%u: cannot be exported as a transcript (a time jump, "
				"hang-up, hurry, empty text or answers for one step)\n", t->file,
				s->line, s->col);
			return -1;
		}
	}
	char *in = talloc_asprintf(ctx, "%s/%s.in", dir, name);
	char *ok = talloc_asprintf(ctx, "%s/%s.ok", dir, name);
	FILE *fi = fopen(in, "w"), *fo = fopen(ok, "w");
	int rc = fi && fo ? 0 : -1;
	if (fi)
		fprintf(fi, "# %s (from %s)\n", t->name, t->file);
	for (unsigned i = 0; fi && i < t->n_steps; i++)
		fprintf(fi, "%s\n", t->steps[i].send);
	if (fo)
		flowtest_print_transcript(ctx, r, ro, fo);
	if ((fi && fclose(fi) != 0) || (fo && fclose(fo) != 0))
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "%s: cannot write %s or %s: %s\n", t->file, in, ok, strerror(errno));
	return rc;
}

struct test_run {
	bool quiet, verbose, update;
	const char *config_file, *export_dir;
	unsigned steps, steps_failed, failed, updated;
};

/* The dialogues named (argv[first..argc-1]), else every one of FLOWS/tests. -1 when there is
 * no tests directory. */
static int load_tests(void *ctx, const char *path, int argc, char **argv, int first,
		      struct flowtest ***tests, struct diag *td)
{
	unsigned n = 0;

	if (first < argc) {
		*tests = talloc_zero_array(ctx, struct flowtest *, argc - first);
		for (int i = first; i < argc; i++) {
			struct flowtest *t = flowtest_load(*tests, argv[i], td);
			if (t)
				(*tests)[n++] = t;
		}
		return (int)n;
	}
	char *dir = cli_tests_dir(ctx, path);
	if (!dir) {
		fprintf(stderr, "%s: no tests directory (write the dialogues in %s/tests/, "
			"see guichet-flows(5))\n", path, path);
		return -1;
	}
	return (int)flowtest_load_dir(ctx, dir, tests, td);
}

/* Plays one dialogue; prints its line, its failures or transcript, and rewrites it with
 * --update. */
static void run_one(void *ctx, struct test_run *tr, const struct flow_set *fs,
		    const struct flowtest *t, const struct flowtest_opts *to)
{
	struct flowtest_result *r = flowtest_run(ctx, fs, t, to);

	tr->steps += r->n_steps;
	tr->steps_failed += r->n_failed;
	tr->failed += r->n_failed > 0;
	if (!tr->quiet || r->n_failed) {
		printf("%-4s %s: %u step%s, ", r->n_failed ? "FAIL" : "ok", t->file,
		       r->n_steps, r->n_steps == 1 ? "" : "s");
		if (t->channel == CHANNEL_USSD)
			printf("%u USSD screen%s%s", r->screens, r->screens == 1 ? "" : "s",
			       r->sms ? ", " : "\n");
		if (t->channel == CHANNEL_SMS || r->sms)
			printf("%u SMS part%s received\n", r->parts, r->parts == 1 ? "" : "s");
	}
	if (tr->verbose)
		flowtest_print_transcript(ctx, r, &to->ro, stdout);
	if (r->n_failed && !tr->update)
		flowtest_print_failures(r, stdout);
	if (tr->export_dir && export_transcript(ctx, r, &to->ro, tr->export_dir) < 0)
		tr->failed++;
	if (tr->update) {
		struct diag *ud = diag_alloc(ctx);
		int k = flowtest_update(ctx, r, ud);
		diag_print(ud, stderr);
		if (k > 0) {
			printf("     %s: %d step%s rewritten\n", t->file, k, k == 1 ? "" : "s");
			tr->updated++;
		}
	}
	fflush(stdout);
}

/* Options into tr; -1 after printing the usage (*rc: the exit status). */
static int test_options(struct test_run *tr, int argc, char **argv, int *rc)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "update", no_argument, NULL, 'u' },
		{ "export", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "qvuc:e:h", opts, NULL)) != -1) {
		switch (o) {
		case 'q': tr->quiet = true; break;
		case 'v': tr->verbose = true; break;
		case 'u': tr->update = true; break;
		case 'e': tr->export_dir = optarg; break;
		case 'c': tr->config_file = optarg; break;
		case 'h': cli_usage(stdout); *rc = 0; return -1;
		default: cli_usage(stderr); *rc = 2; return -1;
		}
	}
	return 0;
}

int cli_test(void *ctx, int argc, char **argv)
{
	struct test_run tr = { 0 };
	int rc;

	if (test_options(&tr, argc, argv, &rc) < 0)
		return rc;
	/* FLOWS, then test files; a lone test file names its flows by where it sits
	 * (FLOWS/tests/NAME.yaml). */
	const char *flows_arg = NULL;
	int first_test = optind;
	if (optind < argc && cli_is_dir(argv[optind])) {
		flows_arg = argv[optind];
		first_test = optind + 1;
	} else if (optind < argc) {
		char *dup = talloc_strdup(ctx, argv[optind]);
		flows_arg = dirname(dirname(dup));
	}
	bool bad_config;
	struct config *c = cli_config_for(ctx, tr.config_file, flows_arg, tr.quiet, &bad_config);
	if (bad_config)
		return 1;
	const char *path = flows_arg ? flows_arg : c ? c->flows : "flows";
	struct diag *d = diag_alloc(ctx);
	struct flow_env env;
	cli_flow_env(ctx, c, &env);
	struct flow_set *fs = flow_set_load(ctx, path, c ? &env : NULL, d);
	if (!fs) {
		diag_print(d, stderr);
		fprintf(stderr, "%s: %u error(s) in the flows\n", path, d->n_errors);
		return 1;
	}
	/* The times of scheduled messages are read and written in the zone guichetd uses. */
	const char *tz = c ? c->notify->quiet.tz : "Europe/Paris";
	if (quiet_use_tz(tz) < 0)
		fprintf(stderr, "guichet: time zone %s is not installed: scheduled times are in the "
			"system's\n", tz);
	else
		remind_use_zone(tz);

	struct flowtest **tests = NULL;
	struct diag *td = diag_alloc(ctx);
	int n = load_tests(ctx, path, argc, argv, first_test, &tests, td);
	if (n < 0)
		return 1;
	diag_print(td, stderr);
	struct flowtest_opts to = cli_test_opts(c);
	for (int i = 0; i < n; i++)
		run_one(ctx, &tr, fs, tests[i], &to);
	printf("%d dialogue%s, %u step%s: %u passed, %u failed", n, n == 1 ? "" : "s", tr.steps,
	       tr.steps == 1 ? "" : "s", tr.steps - tr.steps_failed, tr.steps_failed);
	if (td->n_errors)
		printf("; %u error(s) in the test files", td->n_errors);
	if (tr.update)
		printf("; %u file%s rewritten (review with git diff)", tr.updated,
		       tr.updated == 1 ? "" : "s");
	printf("\n");
	if (td->n_errors)
		return 1;
	return tr.failed && !tr.update ? 1 : 0;
}
