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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/cli.h"
#include "guichet/log.h"

int main(int argc, char **argv)
{
	void *ctx = talloc_named_const(NULL, 0, "guichet");
	int rc;

	if (argc < 2) {
		cli_usage(stderr);
		return 2;
	}
	log_setup(ctx, false, getenv("GUICHET_LOG_LEVEL") ? getenv("GUICHET_LOG_LEVEL") : "error");
	if (strcmp(argv[1], "check") == 0)
		rc = cli_check(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "simulate") == 0)
		rc = cli_simulate(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "draw") == 0)
		rc = cli_draw(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "report") == 0)
		rc = cli_report(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "test") == 0)
		rc = cli_test(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "status") == 0)
		rc = cli_status(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "send") == 0)
		rc = cli_send(ctx, argc - 1, argv + 1);
	else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		cli_usage(stdout);
		rc = 0;
	} else {
		fprintf(stderr, "guichet: unknown command `%s`\n", argv[1]);
		cli_usage(stderr);
		rc = 2;
	}
	talloc_free(ctx);
	log_shutdown();
	return rc;
}

