/* guichet, the administrators' tool: one function per command (cli_flows.c: check, draw,
 * report; cli_test.c: test; cli_simulate.c: simulate; cli_ops.c: status, send), called by
 * main() in guichet.c with argv[0] the command's name, returning the exit status; and what
 * they share (cli.c). */
#ifndef GUICHET_CLI_H
#define GUICHET_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include "guichet/config.h"
#include "guichet/flow.h"
#include "guichet/flowtest.h"

int cli_check(void *ctx, int argc, char **argv);
int cli_draw(void *ctx, int argc, char **argv);
int cli_report(void *ctx, int argc, char **argv);
int cli_test(void *ctx, int argc, char **argv);
int cli_simulate(void *ctx, int argc, char **argv);
int cli_status(void *ctx, int argc, char **argv);
int cli_send(void *ctx, int argc, char **argv);

void cli_usage(FILE *out);
/* The operations declared in the config c (may be NULL), for the flow checker. */
void cli_flow_env(void *ctx, const struct config *c, struct flow_env *env);
/* config_load, its errors printed; NULL on any. */
struct config *cli_load_config(void *ctx, const char *path, struct diag *d);
/* The config given with --config (config_file), else the one found beside the flows
 * (flows_arg, default flows/): NULL when none. *failed: the one given does not load. */
struct config *cli_config_for(void *ctx, const char *config_file, const char *flows_arg,
			      bool quiet, bool *failed);
/* Loads the flows exactly as `check` does (same configuration, same located errors); NULL
 * after printing them. *cp: the configuration used, or NULL. */
struct flow_set *cli_load_checked(void *ctx, const char *config_file, const char *arg,
				  struct config **cp);
struct flowtest_opts cli_test_opts(const struct config *c);
/* The test dialogues of a flows directory: FLOWS/tests, talloc'd; NULL when it has none. */
char *cli_tests_dir(void *ctx, const char *flows);
bool cli_is_dir(const char *p);

#endif
