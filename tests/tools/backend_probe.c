/* backend_probe: the real back-end relay on an osmo select loop, from a config file.
 *
 *   backend_probe -c CONFIG [-n N] [-r ROUNDS] [-b BUDGET_MS] [-q] [-t] OP[,OP...] [name=value|name=@file]...
 *
 * Several OPs, comma-separated: round r calls the (r mod count)th (one relay, its handles
 * and connections reused from one operation to the next).
 * Reads the `backends:` section of CONFIG (a guichet.yaml or a file holding only that
 * section; secrets from the file's directory unless $CREDENTIALS_DIRECTORY is set), then
 * makes N calls of OP at once, ROUNDS times, and prints each result (or only a summary with
 * -q). -t adds latency figures: the relay's own time per call (wall time from call() to done
 * minus curl's CURLINFO_TOTAL_TIME), p50/p99/max. Exit status: 0 when every call succeeded,
 * 1 when some failed, 2 on a usage or setup error. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend.h"
#include "guichet/config.h"
#include "guichet/log.h"

struct probe_call {
	unsigned idx;
	double t_start, t_done, curl_total;
	bool finished, ok;
	char *error;
	struct vars result;
};

static void *ctx;
static unsigned finished_calls;
static double last_curl_total;
static bool quiet;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_timing(void *data, const char *op, long status, double curl_total_s)
{
	(void)data;
	(void)op;
	(void)status;
	last_curl_total = curl_total_s;
}

static void on_done(void *data, bool ok, const struct vars *result, const char *error)
{
	struct probe_call *pc = data;
	unsigned i;

	pc->t_done = now_s();
	pc->curl_total = last_curl_total;
	last_curl_total = -1;
	pc->finished = true;
	pc->ok = ok;
	if (error)
		pc->error = talloc_strdup(ctx, error);
	if (result)
		for (i = 0; i < result->n; i++)
			vars_set(&pc->result, result->v[i].name, result->v[i].value, false);
	finished_calls++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Prints a value on one line: newlines and backslashes escaped, UTF-8 kept. */
static void print_value(const char *v)
{
	for (; *v; v++) {
		if (*v == '\n')
			fputs("\\n", stdout);
		else if (*v == '\r')
			fputs("\\r", stdout);
		else if (*v == '\\')
			fputs("\\\\", stdout);
		else
			putchar(*v);
	}
}

static char *read_whole(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = talloc_size(ctx, 65537);
	n = fread(buf, 1, 65536, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void usage(void)
{
	fprintf(stderr, "usage: backend_probe -c CONFIG [-n N] [-r ROUNDS] [-b BUDGET_MS] [-q] [-t] "
		"OP [name=value|name=@file]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *cfg_path = NULL, *op;
	unsigned n = 1, rounds = 1, budget = 10000, i, r, ok = 0, failed = 0, nover = 0;
	bool timing = false;
	struct diag *d;
	struct ydoc y = { 0 };
	struct config c = { 0 };
	struct backend_relay *relay;
	struct call_port port;
	struct vars args;
	struct probe_call *calls;
	double *over, *round_ms, t0, wall, max_wall = 0;
	struct rusage ru0, ru1;
	char err[512];
	int opt;

	ctx = talloc_named_const(NULL, 0, "backend_probe");
	while ((opt = getopt(argc, argv, "c:n:r:b:qt")) != -1) {
		switch (opt) {
		case 'c': cfg_path = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'r': rounds = strtoul(optarg, NULL, 10); break;
		case 'b': budget = strtoul(optarg, NULL, 10); break;
		case 'q': quiet = true; break;
		case 't': timing = true; break;
		default: usage();
		}
	}
	if (!cfg_path || optind >= argc || !n || !rounds)
		usage();
	op = argv[optind++];
	const char *ops[16];
	unsigned n_ops = 0;
	for (char *save = NULL, *o = strtok_r(talloc_strdup(ctx, op), ",", &save); o && n_ops < 16;
	     o = strtok_r(NULL, ",", &save))
		ops[n_ops++] = o;
	if (!n_ops)
		usage();
	log_setup(ctx, false, getenv("PROBE_LOG_LEVEL") ? getenv("PROBE_LOG_LEVEL") : "info");

	vars_init(&args, ctx);
	for (; optind < argc; optind++) {
		char *eq = strchr(argv[optind], '=');
		const char *val;

		if (!eq)
			usage();
		*eq = '\0';
		val = eq + 1;
		if (*val == '@' && !(val = read_whole(val + 1))) {
			fprintf(stderr, "backend_probe: cannot read %s\n", eq + 2);
			return 2;
		}
		vars_set(&args, argv[optind], val, false);
	}

	d = diag_alloc(ctx);
	c.file = cfg_path;
	c.dir = talloc_strdup(ctx, dirname(talloc_strdup(ctx, cfg_path)));
	c.credentials = getenv("CREDENTIALS_DIRECTORY") ? getenv("CREDENTIALS_DIRECTORY") : c.dir;
	if (ydoc_load_file(&y, ctx, cfg_path, d) < 0 ||
	    backend_config_parse(ctx, &y, ydoc_get(&y, ydoc_root(&y), "backends"), &c,
				 &c.backends) < 0 || d->n_errors) {
		diag_print(d, stderr);
		return 2;
	}
	ydoc_free(&y);
	relay = backend_relay_create(ctx, &c, err, sizeof(err));
	if (!relay) {
		fprintf(stderr, "backend_probe: %s\n", err);
		return 2;
	}
	backend_relay_set_timing(relay, on_timing, NULL);
	port = backend_relay_port(relay);
	calls = talloc_zero_array(ctx, struct probe_call, n * rounds);
	over = talloc_zero_array(ctx, double, n * rounds);
	round_ms = talloc_zero_array(ctx, double, rounds);
	getrusage(RUSAGE_SELF, &ru0);

	t0 = now_s();
	for (r = 0; r < rounds; r++) {
		double rt0 = now_s(), deadline;

		finished_calls = 0;
		for (i = 0; i < n; i++) {
			struct probe_call *pc = &calls[r * n + i];

			pc->idx = r * n + i;
			vars_init(&pc->result, ctx);
			pc->t_start = now_s();
			if (port.call(port.impl, ops[r % n_ops], &args, budget, on_done, pc) < 0) {
				fprintf(stderr, "backend_probe: unknown operation %s\n", ops[r % n_ops]);
				return 2;
			}
			if (pc->finished) {
				fprintf(stderr, "backend_probe: done called inside call()\n");
				return 2;
			}
		}
		deadline = rt0 + budget / 1000.0 + 5;
		while (finished_calls < n && now_s() < deadline)
			osmo_select_main(0);
		if (finished_calls < n) {
			fprintf(stderr, "backend_probe: %u calls never finished\n", n - finished_calls);
			return 2;
		}
		round_ms[r] = (now_s() - rt0) * 1000;
		if (now_s() - rt0 > max_wall)
			max_wall = now_s() - rt0;
	}
	wall = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru1);

	for (i = 0; i < n * rounds; i++) {
		struct probe_call *pc = &calls[i];
		unsigned j;

		if (pc->ok) {
			ok++;
			if (pc->curl_total >= 0)
				over[nover++] = (pc->t_done - pc->t_start - pc->curl_total) * 1000;
		} else {
			failed++;
		}
		if (quiet && (pc->ok || failed > 3))
			continue;
		if (pc->ok) {
			printf("ok %s (%.0f ms)\n", op, (pc->t_done - pc->t_start) * 1000);
			for (j = 0; j < pc->result.n; j++) {
				printf("  %s = ", pc->result.v[j].name);
				print_value(pc->result.v[j].value);
				putchar('\n');
			}
		} else {
			printf("error %s (%.0f ms)\n", pc->error ? pc->error : "?",
			       (pc->t_done - pc->t_start) * 1000);
		}
	}
	printf("summary: %u calls (%u at once x %u), %u ok, %u failed, wall %.0f ms, "
	       "slowest round %.0f ms\n", n * rounds, n, rounds, ok, failed, wall * 1000,
	       max_wall * 1000);
	if (timing && nover) {
		qsort(over, nover, sizeof(double), cmp_double);
		printf("overhead: relay's own time per call (wall - curl total), %u calls: "
		       "p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", nover,
		       over[nover / 2], over[(nover * 99) / 100 < nover ? (nover * 99) / 100 : nover - 1],
		       over[nover - 1]);
	}
	if (timing) {
		double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec +
			      ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e3 +
			     (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec +
			      ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e3;

		printf("rounds (ms):");
		for (r = 0; r < rounds && r < 20; r++)
			printf(" %.0f", round_ms[r]);
		printf("%s\n", rounds > 20 ? " ..." : "");
		printf("cpu: %.1f ms for %u calls (%.1f us per call, TLS included)\n", cpu,
		       n * rounds, cpu * 1000 / (n * rounds));
	}
	backend_relay_destroy(relay);
	talloc_free(ctx);
	return failed ? 1 : 0;
}
