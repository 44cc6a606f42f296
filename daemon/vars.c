/* Session variables: a flat map of strings in a talloc'd array, insertion order kept.
 *
 * A session holds a few dozen variables at most, so lookups are linear: cheaper than any
 * index at this size, and the order stays stable for serialisation. Each variable keeps its
 * name's hash, so a lookup (several per template, per step) compares a number per variable
 * and a name only when the numbers match. */
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/strhash.h"
#include "guichet/vars.h"

void vars_init(struct vars *vs, void *ctx)
{
	vs->ctx = ctx;
	vs->n = 0;
	vs->cap = 0;
	vs->v = NULL;
}

static int vars_find_hashed(const struct vars *vs, const char *name, uint32_t h)
{
	unsigned i;

	for (i = 0; i < vs->n; i++)
		if (vs->v[i].hash == h && strcmp(vs->v[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int vars_find(const struct vars *vs, const char *name)
{
	return vs->n ? vars_find_hashed(vs, name, strhash(name, 0)) : -1;
}

const char *vars_get(const struct vars *vs, const char *name)
{
	int i = vars_find(vs, name);

	return i < 0 ? NULL : vs->v[i].value;
}

bool vars_is_secret(const struct vars *vs, const char *name)
{
	int i = vars_find(vs, name);

	return i >= 0 && vs->v[i].secret;
}

/* A variable is one allocation: its name, a NUL, its value, a NUL and room for the value to
 * grow (half as much again when it has grown before: the transcript grows every step). One
 * allocation instead of two for each variable set and each freed: the engine sets a dozen
 * a step and a reset frees them all. */
static size_t var_room(const struct var *v)
{
	return talloc_get_size(v->name) - (size_t)(v->value - v->name);
}

/* A new chunk for name = value with room for room bytes of value (NUL included). */
static char *var_chunk(void *ctx, const char *name, size_t nl, const char *value, size_t vl,
		       size_t room)
{
	char *c = talloc_size(ctx, nl + 1 + room);

	if (!c)
		return NULL;
	memcpy(c, name, nl + 1);
	memcpy(c + nl + 1, value, vl + 1);
	return c;
}

/* A secret value is wiped before its memory goes back to the allocator, so it cannot
 * resurface in a later allocation or a core file. */
static void var_free(struct var *v)
{
	if (v->secret && v->value)
		explicit_bzero(v->value, strlen(v->value));
	talloc_free(v->name);
	v->name = NULL;
	v->value = NULL;
}

/* Replaces v's value, which is not big enough, by a new chunk. */
static int var_regrow(struct vars *vs, struct var *v, const char *value, size_t len, bool secret)
{
	size_t nl = strlen(v->name);
	char *c = var_chunk(vs->ctx, v->name, nl, value, len, len + 1 + len / 2);

	if (!c)
		return -1;
	var_free(v);
	v->name = c;
	v->value = c + nl + 1;
	v->secret = secret;
	return 0;
}

int vars_set(struct vars *vs, const char *name, const char *value, bool secret)
{
	uint32_t h = strhash(name, 0);
	int i = vars_find_hashed(vs, name, h);
	struct var *v;

	if (!value)
		value = "";
	size_t len = strlen(value);
	if (i >= 0) {
		v = &vs->v[i];
		/* A new value that fits the old one's room is written over it: no allocation
		 * (the engine rewrites a few variables, the transcript among them, on every
		 * step). What the old value held past the new end is wiped, as a freed secret
		 * would be. */
		if (var_room(v) > len) {
			size_t old = strlen(v->value);

			memmove(v->value, value, len + 1);
			if (old > len)
				explicit_bzero(v->value + len + 1, old - len);
			v->secret = secret;
			return 0;
		}
		return var_regrow(vs, v, value, len, secret);
	}
	if (vs->n >= VARS_MAX)
		return -1;
	if (vs->n == vs->cap) {
		unsigned cap = vs->cap ? vs->cap * 2 : 16;
		struct var *na;

		if (cap > VARS_MAX)
			cap = VARS_MAX;
		na = talloc_realloc(vs->ctx, vs->v, struct var, cap);
		if (!na)
			return -1;
		vs->v = na;
		vs->cap = cap;
	}
	size_t nl = strlen(name);
	char *c = var_chunk(vs->ctx, name, nl, value, len, len + 1);
	if (!c)
		return -1;
	v = &vs->v[vs->n++];
	v->name = c;
	v->value = c + nl + 1;
	v->secret = secret;
	v->hash = h;
	return 0;
}

/* Keeps the variables for which keep() is true, in order. */
static void vars_filter(struct vars *vs, bool (*keep)(const struct var *v, const void *arg),
			const void *arg)
{
	unsigned i, j = 0;

	for (i = 0; i < vs->n; i++) {
		if (keep(&vs->v[i], arg)) {
			if (j != i)
				vs->v[j] = vs->v[i];
			j++;
		} else {
			var_free(&vs->v[i]);
		}
	}
	vs->n = j;
}

static bool keep_outside_tree(const struct var *v, const void *arg)
{
	const char *name = arg;
	size_t len = strlen(name);

	if (strncmp(v->name, name, len) != 0)
		return true;
	return v->name[len] != '\0' && v->name[len] != '.';
}

void vars_unset_tree(struct vars *vs, const char *name)
{
	/* name may be one of the names about to be freed: copied first (on the stack when
	 * short, as names are). */
	char stack[128];
	size_t len = strlen(name);
	char *copy = len < sizeof(stack) ? memcpy(stack, name, len + 1) : talloc_strdup(NULL, name);

	if (!copy)
		return;
	vars_filter(vs, keep_outside_tree, copy);
	if (copy != stack)
		talloc_free(copy);
}

int vars_merge(struct vars *dst, const struct vars *src, const char *prefix)
{
	unsigned i;
	int rc = 0;

	if (dst == src)
		return (prefix && *prefix) ? -1 : 0;
	for (i = 0; i < src->n; i++) {
		const struct var *v = &src->v[i];

		if (prefix && *prefix) {
			/* Names are short: a stack buffer spares an allocation per variable. */
			char buf[128];
			size_t lp = strlen(prefix), ln = strlen(v->name);
			char *name = buf;

			if (lp + 1 + ln < sizeof(buf)) {
				memcpy(buf, prefix, lp);
				buf[lp] = '.';
				memcpy(buf + lp + 1, v->name, ln + 1);
			} else {
				name = talloc_asprintf(NULL, "%s.%s", prefix, v->name);
			}

			if (!name || vars_set(dst, name, v->value, v->secret) < 0)
				rc = -1;
			if (name != buf)
				talloc_free(name);
		} else if (vars_set(dst, v->name, v->value, v->secret) < 0) {
			rc = -1;
		}
	}
	return rc;
}

static bool keep_public(const struct var *v, const void *arg)
{
	(void)arg;
	return !v->secret;
}

void vars_drop_secrets(struct vars *vs)
{
	vars_filter(vs, keep_public, NULL);
}

void vars_clear(struct vars *vs)
{
	unsigned i;

	for (i = 0; i < vs->n; i++)
		var_free(&vs->v[i]);
	talloc_free(vs->v);
	vs->v = NULL;
	vs->n = 0;
	vs->cap = 0;
}
