/* guichet: the administrators' tool.
 *
 *   guichet check [-q] [--config FILE] [FLOWS]
 *   guichet simulate [--sms|--ussd] [--config FILE] [--fixtures FILE] [--from NUMBER]
 *                    [--script FILE] [FLOWS]
 *   guichet test [-q] [-v] [--update] [--export DIR] [--config FILE] [FLOWS [TEST...]]
 *   guichet draw [--config FILE] [-o DIR] [--format svg|png|dot] [FLOWS]
 *   guichet report [--config FILE] [-o DIR] [FLOWS]
 *
 * simulate runs the real router, engine and renderer on an in-memory store, with back-end
 * calls answered from a fixture file or, with --config, by the real HTTPS relay; test plays
 * the dialogues of FLOWS/tests the same way (flowtest.c). Without --config, check and test
 * use a guichet.yaml found beside the flows directory or above it. */
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

static void usage(FILE *out)
{
	fputs("usage: guichet check [-q] [--config FILE] [FLOWS]\n"
	      "       guichet simulate [--sms|--ussd] [--config FILE] [--fixtures FILE]\n"
	      "                        [--from NUMBER] [--script FILE] [FLOWS]\n"
	      "       guichet test [-q] [-v] [--update] [--export DIR] [--config FILE]\n"
	      "                    [FLOWS [TEST...]]\n"
	      "       guichet status [--config FILE | --url URL]\n"
	      "       guichet send [--config FILE] --to NUMBER --text TEXT [--at TIME]\n"
	      "                    [--reference REF] [--key KEY] [--token-file FILE] [--ca FILE]\n"
	      "       guichet draw [--config FILE] [-o DIR] [--format svg|png|dot] [FLOWS]\n"
	      "       guichet report [--config FILE] [-o DIR] [FLOWS]\n"
	      "FLOWS is a directory of flow files or one file (default: the config's, or flows/).\n",
	      out);
}

/* The operations declared in the config, for the flow checker. */
static void flow_env_from(void *ctx, const struct config *c, struct flow_env *env)
{
	const char **names = NULL;

	memset(env, 0, sizeof(*env));
	if (!c)
		return;
	env->n_ops = c->backends ? backend_config_ops(c->backends, &names, ctx) : 0;
	env->ops = names;
	env->ussd_screen = config_ussd_screen(c);
	env->sms_parts = c->sms.max_parts;
	env->no_fold = !c->sms.fold;
}

static struct config *load_config(void *ctx, const char *path, struct diag *d)
{
	struct config *c = config_load(ctx, path, d);

	if (!c)
		diag_print(d, stderr);
	return c;
}

/* The configuration that goes with a flows directory when none is given: a guichet.yaml
 * beside it (/etc/guichet/guichet.yaml for /etc/guichet/flows) or up to two levels above.
 * Returns a talloc'd path, or NULL. */
static char *find_config(void *ctx, const char *flows)
{
	char real[PATH_MAX];
	struct stat sb;

	if (!realpath(flows, real))
		return NULL;
	if (stat(real, &sb) == 0 && !S_ISDIR(sb.st_mode))
		dirname(real);			/* one flow file: its directory */
	for (int up = 0; up < 3 && strcmp(real, "/") != 0; up++) {
		dirname(real);
		char *p = talloc_asprintf(ctx, "%s%sguichet.yaml", real,
					  strcmp(real, "/") ? "/" : "");
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			return p;
		talloc_free(p);
	}
	return NULL;
}

/* The config given with --config, else the one found beside the flows. A found one that
 * does not load is left aside with a note (the flows are still checked, without it). */
static struct config *config_for(void *ctx, const char *config_file, const char *flows_arg,
				 bool quiet, bool *failed)
{
	struct diag *d = diag_alloc(ctx);

	*failed = false;
	if (config_file) {
		struct config *c = load_config(ctx, config_file, d);
		*failed = !c;
		return c;
	}
	char *found = find_config(ctx, flows_arg ? flows_arg : "flows");
	if (!found)
		return NULL;
	struct config *c = config_load(ctx, found, d);
	if (!c && !quiet)
		fprintf(stderr, "note: %s has %u error(s) and is not used "
			"(guichet check --config %s shows them)\n", found, d->n_errors, found);
	return c;
}

/* ---- check ---- */

static void check_test_costs(void *ctx, const struct flow_set *fs, const struct config *c,
			     const char *flows);

static int cmd_check(void *ctx, int argc, char **argv)
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	struct diag *d = diag_alloc(ctx);
	bool bad_config;
	struct config *c = config_for(ctx, config_file, optind < argc ? argv[optind] : NULL,
				      quiet, &bad_config);
	if (bad_config)
		return 1;
	const char *path = optind < argc ? argv[optind] : c ? c->flows : "flows";
	struct flow_env env;
	flow_env_from(ctx, c, &env);
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

/* ---- draw ---- */

/* Loads the flows exactly as `check` does (same configuration, same located errors); NULL
 * after printing them. */
static struct flow_set *load_checked(void *ctx, const char *config_file, const char *arg,
				     struct config **cp)
{
	struct diag *d = diag_alloc(ctx);
	bool bad_config;
	struct config *c = config_for(ctx, config_file, arg, false, &bad_config);
	struct flow_env env;
	struct flow_set *fs;
	const char *path;

	*cp = c;
	if (bad_config)
		return NULL;
	path = arg ? arg : c ? c->flows : "flows";
	flow_env_from(ctx, c, &env);
	fs = flow_set_load(ctx, path, c ? &env : NULL, d);
	diag_print(d, stderr);
	if (!fs)
		fprintf(stderr, "%s: %u error(s)\n", path, d->n_errors);
	return fs;
}

static int cmd_draw(void *ctx, int argc, char **argv)
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!strcmp(dir, "-") && fmt != DRAW_DOT) {
		fprintf(stderr, "guichet draw: -o - (standard output) is for --format dot\n");
		return 2;
	}
	struct flow_set *fs = load_checked(ctx, config_file, optind < argc ? argv[optind] : NULL, &c);
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

/* ---- test ---- */

static struct flowtest_opts test_opts(const struct config *c)
{
	struct flowtest_opts o = { .ro = render_opts_from(c) };

	o.call_budget_ms = c ? c->call_budget_ms : 10000;
	return o;
}

/* The test dialogues of a flows directory: FLOWS/tests. NULL when it has none. */
static char *tests_dir(void *ctx, const char *flows)
{
	struct stat sb;
	char *dir = talloc_asprintf(ctx, "%s/tests", flows);

	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return dir;
	talloc_free(dir);
	return NULL;
}

/* For `check`: what each test dialogue costs the person, when the flows have tests. */
static void check_test_costs(void *ctx, const struct flow_set *fs, const struct config *c,
			     const char *flows)
{
	void *tmp = talloc_new(ctx);
	char *dir = tests_dir(tmp, flows);
	struct flowtest **tests;
	struct diag *d = diag_alloc(tmp);

	if (!dir) {
		talloc_free(tmp);
		return;
	}
	unsigned n = flowtest_load_dir(tmp, dir, &tests, d);
	struct flowtest_opts o = test_opts(c);
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

static bool is_dir(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmd_test(void *ctx, int argc, char **argv)
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
	bool quiet = false, verbose = false, update = false;
	const char *config_file = NULL, *export_dir = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "qvuc:e:h", opts, NULL)) != -1) {
		switch (o) {
		case 'q': quiet = true; break;
		case 'v': verbose = true; break;
		case 'u': update = true; break;
		case 'e': export_dir = optarg; break;
		case 'c': config_file = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* FLOWS, then test files; a lone test file names its flows by where it sits
	 * (FLOWS/tests/NAME.yaml). */
	const char *flows_arg = NULL;
	int first_test = optind;
	if (optind < argc && is_dir(argv[optind])) {
		flows_arg = argv[optind];
		first_test = optind + 1;
	} else if (optind < argc) {
		char *dup = talloc_strdup(ctx, argv[optind]);
		flows_arg = dirname(dirname(dup));
	}
	bool bad_config;
	struct config *c = config_for(ctx, config_file, flows_arg, quiet, &bad_config);
	if (bad_config)
		return 1;
	const char *path = flows_arg ? flows_arg : c ? c->flows : "flows";
	struct diag *d = diag_alloc(ctx);
	struct flow_env env;
	flow_env_from(ctx, c, &env);
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

	struct flowtest **tests = NULL;
	unsigned n = 0;
	struct diag *td = diag_alloc(ctx);
	if (first_test < argc) {
		tests = talloc_zero_array(ctx, struct flowtest *, argc - first_test);
		for (int i = first_test; i < argc; i++) {
			struct flowtest *t = flowtest_load(tests, argv[i], td);
			if (t)
				tests[n++] = t;
		}
	} else {
		char *dir = tests_dir(ctx, path);
		if (!dir) {
			fprintf(stderr, "%s: no tests directory (write the dialogues in %s/tests/, "
				"see guichet-flows(5))\n", path, path);
			return 1;
		}
		n = flowtest_load_dir(ctx, dir, &tests, td);
	}
	diag_print(td, stderr);

	struct flowtest_opts to = test_opts(c);
	unsigned steps = 0, steps_failed = 0, failed = 0, updated = 0;
	for (unsigned i = 0; i < n; i++) {
		struct flowtest_result *r = flowtest_run(ctx, fs, tests[i], &to);
		steps += r->n_steps;
		steps_failed += r->n_failed;
		failed += r->n_failed > 0;
		if (!quiet || r->n_failed) {
			printf("%-4s %s: %u step%s, ", r->n_failed ? "FAIL" : "ok", tests[i]->file,
			       r->n_steps, r->n_steps == 1 ? "" : "s");
			if (tests[i]->channel == CHANNEL_USSD)
				printf("%u USSD screen%s%s", r->screens, r->screens == 1 ? "" : "s",
				       r->sms ? ", " : "\n");
			if (tests[i]->channel == CHANNEL_SMS || r->sms)
				printf("%u SMS part%s received\n", r->parts,
				       r->parts == 1 ? "" : "s");
		}
		if (verbose)
			flowtest_print_transcript(ctx, r, &to.ro, stdout);
		if (r->n_failed && !update)
			flowtest_print_failures(r, stdout);
		if (export_dir && export_transcript(ctx, r, &to.ro, export_dir) < 0)
			failed++;
		if (update) {
			struct diag *ud = diag_alloc(ctx);
			int k = flowtest_update(ctx, r, ud);
			diag_print(ud, stderr);
			if (k > 0) {
				printf("     %s: %d step%s rewritten\n", tests[i]->file, k,
				       k == 1 ? "" : "s");
				updated++;
			}
		}
		fflush(stdout);
	}
	printf("%u dialogue%s, %u step%s: %u passed, %u failed", n, n == 1 ? "" : "s", steps,
	       steps == 1 ? "" : "s", steps - steps_failed, steps_failed);
	if (td->n_errors)
		printf("; %u error(s) in the test files", td->n_errors);
	if (update)
		printf("; %u file%s rewritten (review with git diff)", updated,
		       updated == 1 ? "" : "s");
	printf("\n");
	if (td->n_errors)
		return 1;
	return failed && !update ? 1 : 0;
}

/* ---- simulate ---- */

struct sim {
	void *ctx;
	struct router *router;
	struct sms_transport sms;
	bool ussd;
	const char *from;
	FILE *in;
	bool echo;		/* scripted: show the person's lines in the transcript */
	bool busy;		/* a reply is owed for the last line */
	bool eof;
	bool ussd_open;		/* a USSD dialogue is running */
	unsigned dialogue;
	struct osmo_timer_list pump, give_up;
	struct osmo_fd stdin_fd;
	char *pending_line;
	struct render_opts ro;
	bool done;
};

static void sim_pump(void *data);

static void sim_schedule(struct sim *s)
{
	if (!osmo_timer_pending(&s->pump))
		osmo_timer_schedule(&s->pump, 0, 0);
}

static int sim_sms_send(struct sms_transport *t, const struct store_outbound *m)
{
	struct sim *s = t->priv;

	render_sms_print(s->ctx, m->text, &s->ro, stdout);
	fflush(stdout);
	router_sms_sent(s->router, m->id);
	s->busy = false;
	osmo_timer_del(&s->give_up);
	sim_schedule(s);
	return 0;
}

static void sim_ussd_reply(void *data, const char *text, bool more)
{
	struct sim *s = data;

	render_ussd_print(s->ctx, text, more, &s->ro, stdout);
	fflush(stdout);
	s->ussd_open = more;
	s->busy = false;
	osmo_timer_del(&s->give_up);
	sim_schedule(s);
}

static void sim_give_up(void *data)
{
	struct sim *s = data;

	printf("(pas de réponse)\n");
	s->busy = false;
	sim_schedule(s);
}

static void sim_send_line(struct sim *s, const char *line)
{
	if (s->echo)
		printf("> %s\n", line);
	s->busy = true;
	osmo_timer_schedule(&s->give_up, 30, 0);
	if (s->ussd) {
		char id[32];
		if (!s->ussd_open)
			s->dialogue++;
		snprintf(id, sizeof(id), "sim-%u", s->dialogue);
		struct ussd_req req = { .via = "simulate", .dialogue = id, .from = s->from,
					.text = line, .begin = !s->ussd_open };
		s->ussd_open = true;
		router_ussd_request(s->router, &req, sim_ussd_reply, s);
	} else {
		struct sms_in m = { .via = "simulate", .from = s->from, .text = line,
				    .received = time(NULL) };
		if (router_sms_received(s->router, &m, 1) < 0) {
			printf("(erreur du stockage)\n");
			s->busy = false;
		}
	}
}

static char *sim_read_line(struct sim *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, s->in);

	if (n < 0) {
		free(line);
		s->eof = true;
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	char *t = talloc_strdup(s->ctx, line);
	free(line);
	return t;
}

/* A line holding only "" is an empty text (blank lines are skipped, as in scripts). */
static const char *sim_text(const char *line)
{
	return strcmp(line, "\"\"") == 0 ? "" : line;
}

static void sim_prompt(struct sim *s)
{
	if (!s->echo && isatty(fileno(s->in))) {
		printf("> ");
		fflush(stdout);
	}
}

static void sim_pump(void *data)
{
	struct sim *s = data;

	if (s->busy)
		return;
	if (s->pending_line) {
		char *l = s->pending_line;
		s->pending_line = NULL;
		sim_send_line(s, sim_text(l));
		talloc_free(l);
		return;
	}
	if (s->eof) {
		s->done = true;
		return;
	}
	/* Scripted input is read here, one line per reply; a terminal through stdin_fd. */
	if (s->stdin_fd.fd < 0) {
		char *l = sim_read_line(s);
		if (!l) {
			s->done = true;
			return;
		}
		if (!*l || l[0] == '#') {	/* blank lines and comments in scripts */
			talloc_free(l);
			sim_schedule(s);
			return;
		}
		sim_send_line(s, sim_text(l));
		talloc_free(l);
	} else {
		sim_prompt(s);
	}
}

static int sim_stdin_cb(struct osmo_fd *ofd, unsigned what)
{
	struct sim *s = ofd->data;
	(void)what;

	if (s->busy)
		return 0;	/* read it once the reply is in */
	char *l = sim_read_line(s);
	if (!l) {
		osmo_fd_unregister(ofd);
		ofd->fd = -1;
		s->eof = true;
		s->done = !s->busy;
		return 0;
	}
	if (!*l) {
		sim_prompt(s);
		return 0;
	}
	s->pending_line = l;
	sim_schedule(s);
	return 0;
}

static int cmd_simulate(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sms", no_argument, NULL, 's' },
		{ "ussd", no_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ "fixtures", required_argument, NULL, 'x' },
		{ "from", required_argument, NULL, 'f' },
		{ "script", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sim *s = talloc_zero(ctx, struct sim);
	const char *config_file = NULL, *fixtures = NULL, *script = NULL;
	int o;

	s->ctx = s;
	s->from = "+33600000000";
	while ((o = getopt_long(argc, argv, "suc:x:f:i:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': s->ussd = false; break;
		case 'u': s->ussd = true; break;
		case 'c': config_file = optarg; break;
		case 'x': fixtures = optarg; break;
		case 'f': s->from = optarg; break;
		case 'i': script = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	struct diag *d = diag_alloc(ctx);
	struct config *c = NULL;
	if (config_file && !(c = load_config(ctx, config_file, d)))
		return 1;
	const char *path = optind < argc ? argv[optind] : c ? c->flows : "flows";
	struct flow_env env;
	flow_env_from(ctx, c, &env);
	struct flow_set *fs = flow_set_load(ctx, path, c ? &env : NULL, d);
	diag_print(d, stderr);
	if (!fs)
		return 1;

	struct call_port port;
	struct backend_relay *relay = NULL;
	if (fixtures || !c || !c->backends) {
		/* No fixtures and no back-ends: every call fails (the flows' on_error ways). */
		port = fixtures ? backend_canned_port(ctx, fixtures, d)
				: backend_canned_port_node(ctx, NULL, NULL);
		if (d->n_errors) {
			diag_print(d, stderr);
			return 1;
		}
	} else {
		char err[256];
		relay = backend_relay_create(ctx, c, err, sizeof(err));
		if (!relay) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		port = backend_relay_port(relay);
	}

	s->ro = render_opts_from(c);
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(s->ro.max_parts),
			 .fold = s->ro.fold },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(s->ro.screen),
			  .fold = s->ro.fold },
		.call_budget_ms = c ? c->call_budget_ms : 10000,
		.ussd_answer_ms = c ? c->ussd.answer_ms : 4000,
		.sms_followup_via = "simulate",
	};
	struct store *st = store_mem_open(ctx);
	s->router = router_create(ctx, &rc, st, port);
	router_set_flows(s->router, fs);
	s->sms.name = "simulate";
	s->sms.send = sim_sms_send;
	s->sms.priv = s;
	s->sms.up = true;
	router_sms_register(s->router, &s->sms);

	osmo_timer_setup(&s->pump, sim_pump, s);
	osmo_timer_setup(&s->give_up, sim_give_up, s);
	s->stdin_fd.fd = -1;
	if (script) {
		s->in = fopen(script, "r");
		if (!s->in) {
			fprintf(stderr, "%s: %s\n", script, strerror(errno));
			return 1;
		}
		s->echo = true;
	} else {
		s->in = stdin;
		s->echo = !isatty(STDIN_FILENO);
		if (!s->echo) {
			printf("Guichet — simulation %s depuis %s. Tapez comme sur un téléphone "
			       "(\"\" : un texte vide) ; Ctrl-D pour finir.\n",
			       s->ussd ? "USSD (composez un code, ex. *4321#)" : "SMS (ex. RDV)",
			       s->from);
			osmo_fd_setup(&s->stdin_fd, STDIN_FILENO, OSMO_FD_READ, sim_stdin_cb, s, 0);
			osmo_fd_register(&s->stdin_fd);
		}
	}
	sim_schedule(s);
	while (!s->done)
		osmo_select_main_ctx(0);
	if (script)
		fclose(s->in);
	if (relay)
		backend_relay_destroy(relay);
	return 0;
}

/* guichet status: the counters of the running daemon, from its /metrics endpoint. */
static int cmd_status(void *ctx, int argc, char **argv)
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
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

static int cmd_send(void *ctx, int argc, char **argv)
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!req.to || !req.text || optind < argc) {
		usage(stderr);
		return 2;
	}
	if (api_client_send(ctx, &req, out, sizeof(out), err, sizeof(err)) < 0) {
		fprintf(stderr, "guichet send: %s\n", err);
		return 1;
	}
	printf("%s\n", out);
	return 0;
}

/* ---- report ---- */

static int cmd_report(void *ctx, int argc, char **argv)
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	const char *arg = optind < argc ? argv[optind] : NULL;
	struct flow_set *fs = load_checked(ctx, config_file, arg, &c);
	if (!fs)
		return 1;
	const char *path = arg ? arg : c ? c->flows : "flows";
	struct report_opts ro = {
		.ro = render_opts_from(c),
		.to = test_opts(c),
		/* one flow file: the dialogues beside it that are about its flows */
		.tests_dir = tests_dir(ctx, is_dir(path) ? path
					     : dirname(talloc_strdup(ctx, path))),
		.only_flows = !is_dir(path),
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

int main(int argc, char **argv)
{
	void *ctx = talloc_named_const(NULL, 0, "guichet");
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	log_setup(ctx, false, getenv("GUICHET_LOG_LEVEL") ? getenv("GUICHET_LOG_LEVEL") : "error");
	if (strcmp(argv[1], "check") == 0)
		rc = cmd_check(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "simulate") == 0)
		rc = cmd_simulate(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "draw") == 0)
		rc = cmd_draw(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "report") == 0)
		rc = cmd_report(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "test") == 0)
		rc = cmd_test(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "status") == 0)
		rc = cmd_status(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "send") == 0)
		rc = cmd_send(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		rc = 0;
	} else {
		fprintf(stderr, "guichet: unknown command `%s`\n", argv[1]);
		usage(stderr);
		rc = 2;
	}
	talloc_free(ctx);
	log_shutdown();
	return rc;
}
