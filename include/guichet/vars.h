/* Session variables: a small flat map of strings.
 *
 * Structured values from back-ends are flattened into it: an object under NAME becomes
 * NAME.key, a list becomes NAME.count and NAME.0.key, NAME.1.key, ... Flat strings keep a
 * session plain data, cheap to copy and to store. */
#ifndef GUICHET_VARS_H
#define GUICHET_VARS_H

#include <stdbool.h>
#include <stdint.h>

#define VARS_MAX 256		/* a session never holds more; refusing beats growing */

struct var {
	char *name;
	char *value;
	bool secret;		/* typed into a secret question: never logged, dropped after use */
	uint32_t hash;		/* strhash(name): a lookup compares names only when it matches */
};

struct vars {
	void *ctx;		/* talloc parent of every name and value */
	unsigned n, cap;
	struct var *v;		/* grows (talloc) up to VARS_MAX */
};

void vars_init(struct vars *vs, void *ctx);
const char *vars_get(const struct vars *vs, const char *name);
bool vars_is_secret(const struct vars *vs, const char *name);
/* Sets name to a copy of value; returns 0, or -1 when the map is full. */
int vars_set(struct vars *vs, const char *name, const char *value, bool secret);
/* Removes name itself and every name that starts with "name.". */
void vars_unset_tree(struct vars *vs, const char *name);
/* Copies every variable of src under prefix ("" keeps names): "id" -> "prefix.id". */
int vars_merge(struct vars *dst, const struct vars *src, const char *prefix);
void vars_drop_secrets(struct vars *vs);
void vars_clear(struct vars *vs);

#endif
