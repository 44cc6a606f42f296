/* A reload off the loop: the configuration and the flows are loaded and checked on a thread
 * of their own (thousands of steps, many files: it can take seconds, and USSD screens must
 * be answered within a few), then the result is handed back to the loop through an eventfd
 * (an osmo_fd), where done() applies it: the only step that touches the loop's state.
 *
 * The load function runs on the other thread: it must be pure, allocating only under
 * res->ctx (a talloc context of its own, not under the daemon's) and reading nothing the
 * loop changes. A request while a load runs is remembered: one more load follows it (the
 * files may have changed again since it began). */
#ifndef GUICHET_RELOAD_H
#define GUICHET_RELOAD_H

#include <stdbool.h>
#include "guichet/config.h"
#include "guichet/diag.h"
#include "guichet/flow.h"

struct reload_result {
	void *ctx;		/* all of the below; freed after done() returns (steal to keep) */
	struct diag *diag;	/* every problem found, file:line:column */
	struct config *cfg;	/* NULL when the configuration did not load */
	struct flow_set *fs;	/* NULL on any error */
};

typedef void (*reload_load_fn)(struct reload_result *res, const char *config_file);
typedef void (*reload_done_fn)(void *data, struct reload_result *res);

struct reload;

/* NULL when the eventfd cannot be had. Freeing it (talloc_free, or its parent) drops a load
 * in progress without waiting for it: a stop is not delayed by a big flow set. */
struct reload *reload_create(void *ctx, const char *config_file, reload_load_fn load,
			     reload_done_fn done, void *data);
/* Starts a load, or queues one after the load in progress. Returns false when no thread
 * could be started: the load then ran on the loop, and done() was called, before this
 * returns. */
bool reload_request(struct reload *rl);
bool reload_running(const struct reload *rl);

#endif
