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
	char *value;		/* follows name's NUL, with room for `room` bytes (NUL included) */
	uint32_t room;
	uint32_t hash;		/* of name (vars.c): a lookup compares names only when it matches */
	bool secret;		/* typed into a secret question: never logged, dropped after use */
};

struct vars_block;

struct vars {
	void *ctx;		/* talloc parent of the array and the blocks */
	unsigned n, cap;
	struct var *v;		/* grows (talloc) up to VARS_MAX */
	/* Names and values are cut from blocks, newest first, freed together by vars_clear:
	 * a variable set costs no allocation of its own. What a variable no longer uses
	 * (replaced by a longer value, unset) stays dead in its block until vars_compact or
	 * vars_clear. */
	struct vars_block *blocks;
	size_t dead;		/* bytes of the blocks no variable uses */
};

void vars_init(struct vars *vs, void *ctx);
const char *vars_get(const struct vars *vs, const char *name);
bool vars_is_secret(const struct vars *vs, const char *name);
/* name's variable (its value and whether it is secret in one lookup), or NULL. */
const struct var *vars_get_var(const struct vars *vs, const char *name);
/* Sets name to a copy of value; returns 0, or -1 when the map is full. value may be a
 * variable's own (vars_get): it is read before anything of it is given up. */
int vars_set(struct vars *vs, const char *name, const char *value, bool secret);
/* name's value made writable with room for size bytes (its NUL included; when it moves,
 * twice that, to grow into), what it holds kept (an unset name is set to ""): the caller writes the new value, NUL-terminated, in
 * place, before anything else reads or changes vs. NULL when out of memory or full. For a
 * value that grows a little at a time (the transcript) without being copied whole. */
char *vars_room(struct vars *vs, const char *name, size_t size);
/* Removes name itself and every name that starts with "name.". */
void vars_unset_tree(struct vars *vs, const char *name);
/* Copies every variable of src under prefix ("" keeps names): "id" -> "prefix.id". */
int vars_merge(struct vars *dst, const struct vars *src, const char *prefix);
/* vars_unset_tree(dst, prefix) then vars_merge(dst, src, prefix) (src
 * may be NULL), without looking each new name up: a call's result saved under its name. */
int vars_replace_tree(struct vars *dst, const struct vars *src, const char *prefix);
void vars_drop_secrets(struct vars *vs);
void vars_clear(struct vars *vs);
/* When most of the blocks' bytes are dead, moves every variable into one new block: a
 * long-lived map (a USSD dialogue's session) stays the size of what it holds. Every
 * pointer read from vs before (vars_get) is then invalid: call it where none is held. */
void vars_compact(struct vars *vs);

#endif
