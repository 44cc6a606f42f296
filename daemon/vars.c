/* Session variables: a flat map of strings in a talloc'd array, insertion order kept; the
 * names and values in a few blocks (vars.h).
 *
 * A session holds a few dozen variables at most, so lookups are linear: cheaper than any
 * index at this size, and the order stays stable for serialisation. Each variable keeps its
 * name's hash, so a lookup (several per template, per step) compares a number per variable
 * and a name only when the numbers match. */
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/vars.h"

void vars_init(struct vars *vs, void *ctx)
{
	vs->ctx = ctx;
	vs->n = 0;
	vs->cap = 0;
	vs->v = NULL;
	vs->blocks = NULL;
	vs->dead = 0;
}

/* The hash a variable keeps of its name (vars' own: never stored, never compared with
 * another table's). Names are short ("slots.0.label"): read eight bytes at a time, the
 * last eight overlapping the ones before, where strhash() takes a multiply per byte and a
 * lookup hashes its name every time (a few dozen times a step). */
static uint32_t name_hash(const char *s)
{
	size_t len = strlen(s), i;
	uint64_t h = (uint64_t)len * 0x9e3779b97f4a7c15u, w;

	if (len < 8) {
		for (i = 0; i < len; i++)
			h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
	} else {
		for (i = 0; i + 8 < len; i += 8) {
			memcpy(&w, s + i, 8);
			h = (h ^ w) * 0xff51afd7ed558ccdu;
			h ^= h >> 32;
		}
		memcpy(&w, s + len - 8, 8);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	}
	return (uint32_t)(h ^ (h >> 29));
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
	return vs->n ? vars_find_hashed(vs, name, name_hash(name)) : -1;
}

const char *vars_get(const struct vars *vs, const char *name)
{
	int i = vars_find(vs, name);

	return i < 0 ? NULL : vs->v[i].value;
}

const struct var *vars_get_var(const struct vars *vs, const char *name)
{
	int i = vars_find(vs, name);

	return i < 0 ? NULL : &vs->v[i];
}

bool vars_is_secret(const struct vars *vs, const char *name)
{
	int i = vars_find(vs, name);

	return i >= 0 && vs->v[i].secret;
}

/* ---- the blocks names and values are cut from ---- */

/* The engine sets a dozen variables a step and a reset frees them all: one allocation each
 * was a sixth of a step. A block holds many; all are this size (a value that does not fit
 * gets a block of its own size), which the C library's per-thread cache serves without
 * a search, talloc's header included. */
#define BLOCK_SIZE 896

struct vars_block {
	struct vars_block *prev;
	size_t size, used;
	char data[];
};

/* n bytes from the newest block, or a new block; NULL when memory runs out. */
static char *vars_alloc(struct vars *vs, size_t n)
{
	struct vars_block *b = vs->blocks;

	if (!b || b->size - b->used < n) {
		size_t size = n > BLOCK_SIZE ? n : BLOCK_SIZE;

		b = talloc_size(vs->ctx, sizeof(*b) + size);
		if (!b)
			return NULL;
		talloc_set_name_const(b, "vars_block");
		b->prev = vs->blocks;
		b->size = size;
		b->used = 0;
		vs->blocks = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static void blocks_free(struct vars_block *b)
{
	while (b) {
		struct vars_block *prev = b->prev;

		talloc_free(b);
		b = prev;
	}
}

/* Bytes a variable's name and value take in its block. */
static size_t var_size(const struct var *v)
{
	return (size_t)(v->value - v->name) + v->room;
}

/* name = value in a new chunk with room for room bytes of value (NUL included); v gets it. */
static int var_place(struct vars *vs, struct var *v, const char *name, size_t nl,
		     const char *value, size_t vl, size_t room)
{
	char *c = vars_alloc(vs, nl + 1 + room);

	if (!c)
		return -1;
	memcpy(c, name, nl + 1);
	memcpy(c + nl + 1, value, vl + 1);
	v->name = c;
	v->value = c + nl + 1;
	v->room = (uint32_t)room;
	return 0;
}

/* The variable's chunk is given up: a secret value is wiped at once, so it cannot
 * resurface in a core file or the stored form of a later value. */
static void var_free(struct vars *vs, struct var *v)
{
	if (v->secret && v->value)
		explicit_bzero(v->value, strlen(v->value));
	vs->dead += var_size(v);
	v->name = NULL;
	v->value = NULL;
}

/* Replaces v's value, which is not big enough, by a new chunk with room for room bytes. The
 * old chunk is read before it is given up: value may be in it. */
static int var_regrow(struct vars *vs, struct var *v, const char *value, size_t len,
		      size_t room, bool secret)
{
	struct var old = *v;

	if (var_place(vs, v, old.name, strlen(old.name), value, len, room) < 0)
		return -1;
	var_free(vs, &old);
	v->secret = secret;
	return 0;
}

/* Adds name (nl bytes, hash h), which vs does not hold, at the end. */
static int var_add(struct vars *vs, const char *name, size_t nl, uint32_t h, const char *value,
		   size_t len, bool secret)
{
	struct var *v;

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
	if (var_place(vs, v, name, nl, value, len, len + 1) < 0)
		return -1;
	vs->n++;
	v->secret = secret;
	v->hash = h;
	return 0;
}

int vars_set(struct vars *vs, const char *name, const char *value, bool secret)
{
	uint32_t h = name_hash(name);
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
		if (v->room > len) {
			size_t old = strlen(v->value);

			memmove(v->value, value, len + 1);
			if (old > len)
				explicit_bzero(v->value + len + 1, old - len);
			v->secret = secret;
			return 0;
		}
		/* Half as much again to grow into: the transcript grows every step. */
		return var_regrow(vs, v, value, len, len + 1 + len / 2, secret);
	}
	return var_add(vs, name, strlen(name), h, value, len, secret);
}

char *vars_room(struct vars *vs, const char *name, size_t size)
{
	int i = vars_find(vs, name);
	struct var *v;

	if (i < 0) {
		if (vars_set(vs, name, "", false) < 0)
			return NULL;
		i = (int)vs->n - 1;
	}
	v = &vs->v[i];
	if (v->room < size &&
	    var_regrow(vs, v, v->value, strlen(v->value), 2 * size, v->secret) < 0)
		return NULL;
	return v->value;
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
			var_free(vs, &vs->v[i]);
		}
	}
	vs->n = j;
}

struct tree {
	const char *name;
	size_t len;
};

static bool keep_outside_tree(const struct var *v, const void *arg)
{
	const struct tree *t = arg;

	if (v->name[0] != t->name[0] || strncmp(v->name, t->name, t->len) != 0)
		return true;
	return v->name[t->len] != '\0' && v->name[t->len] != '.';
}

void vars_unset_tree(struct vars *vs, const char *name)
{
	/* name may be one of the names given up: their bytes stay until vars_compact. */
	struct tree t = { name, strlen(name) };

	vars_filter(vs, keep_outside_tree, &t);
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

int vars_replace_tree(struct vars *dst, const struct vars *src, const char *prefix)
{
	size_t lp = strlen(prefix);
	int rc = 0;

	vars_unset_tree(dst, prefix);
	if (!src || src == dst)
		return 0;
	if (!lp)	/* no tree: names as they are, each looked up (vars_merge) */
		return vars_merge(dst, src, "");
	for (unsigned i = 0; i < src->n; i++) {
		const struct var *v = &src->v[i];
		size_t ln = strlen(v->name);
		char buf[128], *name = lp + 1 + ln < sizeof(buf) ? buf : talloc_size(NULL, lp + 2 + ln);

		if (!name) {
			rc = -1;
			continue;
		}
		memcpy(name, prefix, lp);
		name[lp] = '.';
		memcpy(name + lp + 1, v->name, ln + 1);
		/* No name under prefix is left, and src's names are all different: each is
		 * added without a lookup. */
		if (var_add(dst, name, lp + 1 + ln, name_hash(name), v->value, strlen(v->value),
			    v->secret) < 0)
			rc = -1;
		if (name != buf)
			talloc_free(name);
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
		var_free(vs, &vs->v[i]);
	blocks_free(vs->blocks);
	vs->blocks = NULL;
	vs->dead = 0;
	talloc_free(vs->v);
	vs->v = NULL;
	vs->n = 0;
	vs->cap = 0;
}

/* Dead bytes beyond which, when they outnumber the live ones, vars_compact moves. */
#define COMPACT_DEAD 2048

void vars_compact(struct vars *vs)
{
	struct vars_block *b, *old = vs->blocks;
	size_t total = 0, live;
	unsigned i;

	for (b = old; b; b = b->prev)
		total += b->used;
	live = total - vs->dead;
	if (vs->dead < COMPACT_DEAD || vs->dead < live)
		return;
	/* One block with the live bytes and as much again, each value keeping its room. */
	vs->blocks = NULL;
	vs->dead = 0;
	if (live && !vars_alloc(vs, 2 * live)) {
		vs->blocks = old;	/* no memory: stay as it was */
		return;
	}
	if (vs->blocks)
		vs->blocks->used = 0;
	for (i = 0; i < vs->n; i++) {
		struct var *v = &vs->v[i];
		size_t size = var_size(v);
		char *c = vars_alloc(vs, size);

		memcpy(c, v->name, size);
		if (v->secret)
			explicit_bzero(v->value, v->room);
		v->value = c + (v->value - v->name);
		v->name = c;
	}
	blocks_free(old);
}
