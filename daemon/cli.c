/* guichet, what its commands share: the usage text, the configuration that goes with a
 * flows directory, loading flows as `check` does, the options of test dialogues (cli.h). */
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

void cli_usage(FILE *out)
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
void cli_flow_env(void *ctx, const struct config *c, struct flow_env *env)
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

struct config *cli_load_config(void *ctx, const char *path, struct diag *d)
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
struct config *cli_config_for(void *ctx, const char *config_file, const char *flows_arg,
				 bool quiet, bool *failed)
{
	struct diag *d = diag_alloc(ctx);

	*failed = false;
	if (config_file) {
		struct config *c = cli_load_config(ctx, config_file, d);
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

/* Loads the flows exactly as `check` does (same configuration, same located errors); NULL
 * after printing them. */
struct flow_set *cli_load_checked(void *ctx, const char *config_file, const char *arg,
				     struct config **cp)
{
	struct diag *d = diag_alloc(ctx);
	bool bad_config;
	struct config *c = cli_config_for(ctx, config_file, arg, false, &bad_config);
	struct flow_env env;
	struct flow_set *fs;
	const char *path;

	*cp = c;
	if (bad_config)
		return NULL;
	path = arg ? arg : c ? c->flows : "flows";
	cli_flow_env(ctx, c, &env);
	fs = flow_set_load(ctx, path, c ? &env : NULL, d);
	diag_print(d, stderr);
	if (!fs)
		fprintf(stderr, "%s: %u error(s)\n", path, d->n_errors);
	return fs;
}

struct flowtest_opts cli_test_opts(const struct config *c)
{
	struct flowtest_opts o = { .ro = render_opts_from(c) };

	o.call_budget_ms = c ? c->call_budget_ms : 10000;
	return o;
}

/* The test dialogues of a flows directory: FLOWS/tests. NULL when it has none. */
char *cli_tests_dir(void *ctx, const char *flows)
{
	struct stat sb;
	char *dir = talloc_asprintf(ctx, "%s/tests", flows);

	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return dir;
	talloc_free(dir);
	return NULL;
}

bool cli_is_dir(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
