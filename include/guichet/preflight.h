/* What guichetd checks before it serves, beyond the configuration and the flows themselves
 * (config_load, flow_set_load): secrets present and private, certificate files usable, the
 * store's directory writable and its file sound, modem devices present.
 *
 * One function for `guichetd -t`, `guichet check --config` and the start itself, so that a
 * check that passes means a start that does not refuse for any of these reasons. */
#ifndef GUICHET_PREFLIGHT_H
#define GUICHET_PREFLIGHT_H

#include "guichet/config.h"
#include "guichet/diag.h"

/* Adds each problem to d, under the config file's name: errors for what the start refuses,
 * warnings for what it survives (a modem device absent: it may be plugged in later; a PIN
 * file unreadable: the modem starts without). Creates and changes nothing; secrets read are
 * wiped and freed before return. Returns the number of errors added. */
unsigned preflight_check(void *ctx, const struct config *c, struct diag *d);

#endif
