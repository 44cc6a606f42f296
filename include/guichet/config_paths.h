/* What a transport needs from the configuration beyond its own section: a path relative to
 * guichet.yaml and a secret read from a file. Transports include this, not all of config.h
 * (whose struct config and loader are for the programs and config.c). */
#ifndef GUICHET_CONFIG_PATHS_H
#define GUICHET_CONFIG_PATHS_H

#include <stddef.h>

struct config;

/* Resolves a path relative to the config's directory (absolute paths unchanged). */
char *config_path(void *ctx, const struct config *c, const char *p);

/* Reads a secret from a file named name under c->credentials (or an absolute path): the
 * first line, without its newline. Refuses a file readable by group or others. NULL with a
 * message in err otherwise. Never logs the content. */
char *config_read_secret(void *ctx, const struct config *c, const char *name, char *err,
			 size_t err_len);

#endif
