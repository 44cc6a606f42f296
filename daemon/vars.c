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

/* A secret value is wiped before its memory goes back to the allocator, so it cannot
 * resurface in a later allocation or a core file. */
static void var_free_value(struct var *v)
{
	if (v->secret && v->value)
		explicit_bzero(v->value, strlen(v->value));
	talloc_free(v->value);
	v->value = NULL;
}

static void var_free(struct var *v)
{
	var_free_value(v);
	talloc_free(v->name);
	v->name = NULL;
}

int vars_set(struct vars *vs, const char *name, const char *value, bool secret)
{
	uint32_t h = strhash(name, 0);
	int i = vars_find_hashed(vs, name, h);
	struct var *v;
	char *nv;

	if (!value)
		value = "";
	if (i >= 0) {
		v = &vs->v[i];
		size_t len = strlen(value);
		/* A new value that fits the old one's memory is written over it: no allocation
		 * (the engine rewrites a few variables, the transcript among them, on every
		 * step). What the old value held past the new end is wiped, as a freed secret
		 * would be. */
		if (v->value && v->value != value && talloc_get_size(v->value) > len) {
			size_t old = strlen(v->value);

			memmove(v->value, value, len + 1);
			if (old > len)
				explicit_bzero(v->value + len + 1, old - len);
			v->secret = secret;
			return 0;
		}
		nv = talloc_strdup(vs->ctx, value);
		if (!nv)
			return -1;
		var_free_value(v);
		v->value = nv;
		v->secret = secret;
		return 0;
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
	v = &vs->v[vs->n];
	v->name = talloc_strdup(vs->ctx, name);
	v->value = talloc_strdup(vs->ctx, value);
	v->secret = secret;
	v->hash = h;
	if (!v->name || !v->value) {
		var_free(v);
		return -1;
	}
	vs->n++;
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
	/* name may be one of the names about to be freed. */
	char *copy = talloc_strdup(NULL, name);

	if (!copy)
		return;
	vars_filter(vs, keep_outside_tree, copy);
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
