/* YAML documents with locations: a thin layer over libyaml's document API shared by the flow
 * loader and the config loader, so both report errors the same way (file:line:column). */
#ifndef GUICHET_YDOC_H
#define GUICHET_YDOC_H

#include <stdbool.h>
#include <yaml.h>
#include "guichet/diag.h"

/* Largest YAML file accepted; bigger ones are refused with a located error. */
#define YDOC_MAX_BYTES (1024u * 1024u)

struct ydoc {
	yaml_document_t doc;
	char *file;		/* talloc'd copy of the path, used in every diagnostic */
	struct diag *diag;
	bool loaded;
};

/* Loads the first document of path. A syntax error is reported with its location and
 * returns -1; an empty file loads as an empty document (root NULL). */
int ydoc_load_file(struct ydoc *y, void *ctx, const char *path, struct diag *d);
/* Same from a string (tests); name stands for the file name in diagnostics. */
int ydoc_load_string(struct ydoc *y, void *ctx, const char *name, const char *text, struct diag *d);
void ydoc_free(struct ydoc *y);

yaml_node_t *ydoc_root(struct ydoc *y);
/* Value of key in a mapping node, or NULL. */
yaml_node_t *ydoc_get(struct ydoc *y, yaml_node_t *map, const char *key);
/* Scalar text of n, or NULL if n is not a scalar. */
const char *ydoc_scalar(const yaml_node_t *n);
bool ydoc_is_map(const yaml_node_t *n);
bool ydoc_is_seq(const yaml_node_t *n);
/* True for a missing node and for an empty/~/null plain scalar (`key:` with no value). */
bool ydoc_is_null(const yaml_node_t *n);
/* "a mapping", "a list", "text" or "nothing": for "expected X, found Y" messages. */
const char *ydoc_kind(const yaml_node_t *n);
unsigned ydoc_line(const yaml_node_t *n);	/* 1-based */
unsigned ydoc_col(const yaml_node_t *n);	/* 1-based */

/* Iteration helpers: i-th key/value of a mapping, i-th item of a sequence (NULL past the end). */
unsigned ydoc_len(const yaml_node_t *n);
yaml_node_t *ydoc_map_key(struct ydoc *y, yaml_node_t *map, unsigned i);
yaml_node_t *ydoc_map_value(struct ydoc *y, yaml_node_t *map, unsigned i);
yaml_node_t *ydoc_seq_item(struct ydoc *y, yaml_node_t *seq, unsigned i);

void ydoc_error(struct ydoc *y, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ydoc_warning(struct ydoc *y, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reports every key of map not in allowed[] as "unknown key `nxt` — did you mean `next`?"
 * (the suggestion only when one is close; otherwise the allowed keys are listed), and every
 * duplicate key. With allowed NULL any key is accepted and only duplicates are reported.
 * Returns the number of keys reported. */
unsigned ydoc_check_keys(struct ydoc *y, yaml_node_t *map, const char *const *allowed, unsigned n);

/* Typed scalars; each reports a located error and returns -1 on a wrong value. */
int ydoc_uint(struct ydoc *y, yaml_node_t *n, unsigned *out);
int ydoc_bool(struct ydoc *y, yaml_node_t *n, bool *out);
/* "90", "90s", "15m", "2h", "1d" -> seconds. */
int ydoc_duration(struct ydoc *y, yaml_node_t *n, unsigned *seconds);
/* A scalar, or a located error "expected text". Result lives as long as the document. */
const char *ydoc_string(struct ydoc *y, yaml_node_t *n);

/* Options every listening or connecting section shares, one wording for all of them. */
/* A TCP port from min (0: "pick one", 1: a port to connect to) to 65535. */
int ydoc_port(struct ydoc *y, yaml_node_t *n, unsigned min, unsigned *out);
/* A numeric IPv4 or IPv6 address to listen on (no names: no resolver at start); NULL with a
 * located error otherwise. Lives as long as the document. */
const char *ydoc_listen(struct ydoc *y, yaml_node_t *n);

#endif
