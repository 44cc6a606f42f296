/* Session variables and the stored form of a session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/session.h"
#include "unit_main.h"

static void *root;

/* --- vars --- */

static void test_vars_basic(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;

	vars_init(&vs, ctx);
	CU_ASSERT_PTR_NULL(vars_get(&vs, "a"));
	CU_ASSERT_FALSE(vars_is_secret(&vs, "a"));
	CU_ASSERT_EQUAL(vars_set(&vs, "a", "1", false), 0);
	CU_ASSERT_EQUAL(vars_set(&vs, "b", "deux é", false), 0);
	CU_ASSERT_EQUAL(vars_set(&vs, "pin", "4812", true), 0);
	CU_ASSERT_EQUAL(vs.n, 3);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "b"), "deux é");
	CU_ASSERT_TRUE(vars_is_secret(&vs, "pin"));
	CU_ASSERT_FALSE(vars_is_secret(&vs, "a"));
	/* Replaced in place, the order kept, the secret flag follows the new value. */
	CU_ASSERT_EQUAL(vars_set(&vs, "a", "un", false), 0);
	CU_ASSERT_EQUAL(vs.n, 3);
	CU_ASSERT_STRING_EQUAL(vs.v[0].name, "a");
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "a"), "un");
	CU_ASSERT_EQUAL(vars_set(&vs, "pin", "0000", false), 0);
	CU_ASSERT_FALSE(vars_is_secret(&vs, "pin"));
	/* A NULL value is the empty string, a value is copied. */
	CU_ASSERT_EQUAL(vars_set(&vs, "empty", NULL, false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "empty"), "");
	{
		char buf[8] = "abc";

		CU_ASSERT_EQUAL(vars_set(&vs, "copy", buf, false), 0);
		buf[0] = 'X';
		CU_ASSERT_STRING_EQUAL(vars_get(&vs, "copy"), "abc");
	}
	vars_clear(&vs);
	CU_ASSERT_EQUAL(vs.n, 0);
	CU_ASSERT_PTR_NULL(vars_get(&vs, "a"));
	/* Usable again after a clear. */
	CU_ASSERT_EQUAL(vars_set(&vs, "a", "again", false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "a"), "again");
	vars_clear(&vs);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

/* A value replaced by a shorter one is rewritten in the old one's memory (no allocation):
 * the old bytes past the new end must not survive, a secret's least of all; the value read
 * back is the new one, a value taken from the variable itself included. */
static void test_vars_replace_in_place(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;

	vars_init(&vs, ctx);
	CU_ASSERT_EQUAL(vars_set(&vs, "pin", "12345678", true), 0);
	const char *mem = vars_get(&vs, "pin");
	CU_ASSERT_EQUAL(vars_set(&vs, "pin", "ok", false), 0);
	const char *now = vars_get(&vs, "pin");
	CU_ASSERT_STRING_EQUAL(now, "ok");
	CU_ASSERT_FALSE(vars_is_secret(&vs, "pin"));
	if (now == mem)	/* rewritten in place: nothing of the secret left after "ok" */
		for (size_t i = 3; i < 9; i++)
			CU_ASSERT_EQUAL(now[i], 0);
	CU_ASSERT_EQUAL(vars_set(&vs, "pin", now + 1, false), 0);	/* overlapping */
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "pin"), "k");
	CU_ASSERT_EQUAL(vars_set(&vs, "pin", "a longer value than before", false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "pin"), "a longer value than before");
	vars_clear(&vs);
	talloc_free(ctx);
}

/* A variable's name and value share one allocation with room to grow: a value that grows
 * step after step (the transcript) keeps its name and its neighbours intact, a value set
 * from itself survives the move, and a lookup still finds every name. */
static void test_vars_grow(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;
	char buf[2048] = "";

	vars_init(&vs, ctx);
	CU_ASSERT_EQUAL(vars_set(&vs, "a", "1", false), 0);
	CU_ASSERT_EQUAL(vars_set(&vs, "_transcript", "", false), 0);
	CU_ASSERT_EQUAL(vars_set(&vs, "b", "2", false), 0);
	for (int i = 0; i < 60; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, "> line %d\n", i);
		CU_ASSERT_EQUAL(vars_set(&vs, "_transcript", buf, false), 0);
		CU_ASSERT_STRING_EQUAL(vars_get(&vs, "_transcript"), buf);
		/* the same value again, from the variable's own memory */
		CU_ASSERT_EQUAL(vars_set(&vs, "_transcript", vars_get(&vs, "_transcript"), false), 0);
		CU_ASSERT_STRING_EQUAL(vars_get(&vs, "_transcript"), buf);
	}
	CU_ASSERT_STRING_EQUAL(vs.v[1].name, "_transcript");
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "a"), "1");
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "b"), "2");
	/* a value taken from the middle of the variable itself, then longer than any room */
	CU_ASSERT_EQUAL(vars_set(&vs, "_transcript", vars_get(&vs, "_transcript") + 5, false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "_transcript"), buf + 5);
	memset(buf, 'x', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	CU_ASSERT_EQUAL(vars_set(&vs, "b", buf, true), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "b"), buf);
	CU_ASSERT_TRUE(vars_is_secret(&vs, "b"));
	CU_ASSERT_EQUAL(vars_set(&vs, "b", "3", false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "b"), "3");
	CU_ASSERT_PTR_NULL(vars_get(&vs, "c"));
	vars_clear(&vs);
	talloc_free(ctx);
}

/* Names and values live in blocks: a map whose values are replaced again and again (a
 * USSD dialogue kept in memory, a call's result saved at every turn of a loop) stays the
 * size of what it holds once compacted, keeps every name, value and flag, and wipes a
 * secret's old copy. */
static void test_vars_compact(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;
	char name[32], value[64];

	vars_init(&vs, ctx);
	vars_set(&vs, "keep", "1", false);
	vars_set(&vs, "pin", "4812", true);
	for (int turn = 0; turn < 200; turn++) {
		vars_unset_tree(&vs, "slots");
		for (int i = 0; i < 4; i++) {
			snprintf(name, sizeof(name), "slots.%d.label", i);
			snprintf(value, sizeof(value), "créneau %d du tour %d", i, turn);
			CU_ASSERT_EQUAL(vars_set(&vs, name, value, false), 0);
		}
		snprintf(value, sizeof(value), "%*d", turn % 50, turn);
		CU_ASSERT_EQUAL(vars_set(&vs, "grows", value, false), 0);
		vars_compact(&vs);
	}
	size_t bytes = talloc_total_size(ctx);
	CU_ASSERT(bytes < 4096);
	CU_ASSERT_EQUAL(vs.n, 7);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "keep"), "1");
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "pin"), "4812");
	CU_ASSERT_TRUE(vars_is_secret(&vs, "pin"));
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "slots.3.label"), "créneau 3 du tour 199");
	CU_ASSERT_STRING_EQUAL(vs.v[0].name, "keep");
	CU_ASSERT_STRING_EQUAL(vs.v[1].name, "pin");
	/* Values keep their room to grow in place after the move. */
	CU_ASSERT_EQUAL(vars_set(&vs, "keep", "22", false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "keep"), "22");
	CU_ASSERT_EQUAL(vars_set(&vs, "keep", "a value longer than any room it had", false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "keep"), "a value longer than any room it had");
	vars_clear(&vs);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

/* vars_room: the value made writable with room enough, what it held kept, an unset name
 * created; the neighbours untouched. */
static void test_vars_room(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;
	char *t;

	vars_init(&vs, ctx);
	vars_set(&vs, "a", "1", false);
	t = vars_room(&vs, "_transcript", 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(t, "");
	strcpy(t, "> RDV");
	for (int i = 0; i < 50; i++) {
		size_t len = strlen(vars_get(&vs, "_transcript"));
		t = vars_room(&vs, "_transcript", len + 12);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(strncmp(t, "> RDV", 5), 0);
		CU_ASSERT_EQUAL(strlen(t), len);
		memcpy(t + len, "\n< menu ..", 11);	/* 10 bytes and the NUL */
	}
	CU_ASSERT_EQUAL(strlen(vars_get(&vs, "_transcript")), 5 + 50 * 10);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "a"), "1");
	CU_ASSERT_EQUAL(vs.n, 2);
	vars_clear(&vs);
	talloc_free(ctx);
}

/* Names that differ in one byte anywhere, short or long (the lookup hashes names eight bytes
 * at a time): each finds its own value. */
static void test_vars_names_alike(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;
	char name[64], value[16];
	unsigned n = 0;

	vars_init(&vs, ctx);
	for (unsigned len = 1; len <= 40; len += 3)
		for (unsigned pos = 0; pos < len; pos += 4) {
			memset(name, 'a', len);
			name[len] = '\0';
			name[pos] = 'b';
			snprintf(value, sizeof(value), "%u.%u", len, pos);
			CU_ASSERT_EQUAL_FATAL(vars_set(&vs, name, value, false), 0);
			n++;
		}
	CU_ASSERT_EQUAL(vs.n, n);
	for (unsigned len = 1; len <= 40; len += 3)
		for (unsigned pos = 0; pos < len; pos += 4) {
			memset(name, 'a', len);
			name[len] = '\0';
			name[pos] = 'b';
			snprintf(value, sizeof(value), "%u.%u", len, pos);
			CU_ASSERT_STRING_EQUAL(vars_get(&vs, name), value);
			name[pos] = 'a';
			CU_ASSERT_PTR_NULL(vars_get(&vs, name));
		}
	vars_clear(&vs);
	talloc_free(ctx);
}

/* vars_replace_tree gives what unset_tree then merge give: the same names, values, flags
 * and order, the old tree gone, the rest kept. */
static void test_vars_replace_tree(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars a, b, res;

	vars_init(&a, ctx);
	vars_init(&b, ctx);
	vars_init(&res, ctx);
	vars_set(&res, "count", "2", false);
	vars_set(&res, "0.id", "S1", false);
	vars_set(&res, "token", "t0k", true);
	for (int k = 0; k < 2; k++) {
		struct vars *v = k ? &b : &a;
		vars_set(v, "service", "caf", false);
		vars_set(v, "slots", "old", false);
		vars_set(v, "slots.count", "9", false);
		vars_set(v, "slotsx", "keep", false);
		vars_set(v, "slots.8.id", "S9", false);
	}
	CU_ASSERT_EQUAL(vars_replace_tree(&a, &res, "slots"), 0);
	vars_unset_tree(&b, "slots");
	CU_ASSERT_EQUAL(vars_merge(&b, &res, "slots"), 0);
	CU_ASSERT_EQUAL_FATAL(a.n, b.n);
	for (unsigned i = 0; i < a.n; i++) {
		CU_ASSERT_STRING_EQUAL(a.v[i].name, b.v[i].name);
		CU_ASSERT_STRING_EQUAL(a.v[i].value, b.v[i].value);
		CU_ASSERT_EQUAL(a.v[i].secret, b.v[i].secret);
		CU_ASSERT_STRING_EQUAL(vars_get(&a, b.v[i].name), b.v[i].value);
	}
	CU_ASSERT_PTR_NULL(vars_get(&a, "slots.8.id"));
	/* No result: the tree is only removed. */
	CU_ASSERT_EQUAL(vars_replace_tree(&a, NULL, "slots"), 0);
	CU_ASSERT_EQUAL(a.n, 2);
	/* No prefix: the names as they are, as vars_merge(dst, src, "") sets them. */
	CU_ASSERT_EQUAL(vars_replace_tree(&a, &res, ""), 0);
	CU_ASSERT_EQUAL(a.n, 5);
	CU_ASSERT_STRING_EQUAL(vars_get(&a, "0.id"), "S1");
	CU_ASSERT_TRUE(vars_is_secret(&a, "token"));
	vars_clear(&a);
	vars_clear(&b);
	vars_clear(&res);
	talloc_free(ctx);
}

static void test_vars_tree(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs;

	vars_init(&vs, ctx);
	vars_set(&vs, "slots", "x", false);
	vars_set(&vs, "slot", "keep", false);
	vars_set(&vs, "slots.count", "2", false);
	vars_set(&vs, "slotsx", "keep", false);
	vars_set(&vs, "slots.0.id", "A", false);
	vars_set(&vs, "name", "keep", false);
	vars_set(&vs, "slots.1.label", "B", false);
	vars_set(&vs, "other.slots", "keep", false);
	vars_unset_tree(&vs, "slots");
	CU_ASSERT_EQUAL_FATAL(vs.n, 4);
	CU_ASSERT_STRING_EQUAL(vs.v[0].name, "slot");
	CU_ASSERT_STRING_EQUAL(vs.v[1].name, "slotsx");
	CU_ASSERT_STRING_EQUAL(vs.v[2].name, "name");
	CU_ASSERT_STRING_EQUAL(vs.v[3].name, "other.slots");
	vars_unset_tree(&vs, "absent");
	CU_ASSERT_EQUAL(vs.n, 4);
	vars_unset_tree(&vs, "other");
	CU_ASSERT_EQUAL(vs.n, 3);
	/* The name to remove may be the variable's own name. */
	vars_unset_tree(&vs, vs.v[0].name);
	CU_ASSERT_EQUAL_FATAL(vs.n, 2);
	CU_ASSERT_STRING_EQUAL(vs.v[0].name, "slotsx");
	vars_clear(&vs);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

static void test_vars_merge_secrets(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars a, b;

	vars_init(&a, ctx);
	vars_init(&b, ctx);
	vars_set(&b, "id", "42", false);
	vars_set(&b, "token", "s3cr3t", true);
	vars_set(&a, "id", "old", false);
	vars_set(&a, "r.id", "old", false);
	CU_ASSERT_EQUAL(vars_merge(&a, &b, "r"), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&a, "r.id"), "42");
	CU_ASSERT_STRING_EQUAL(vars_get(&a, "r.token"), "s3cr3t");
	CU_ASSERT_TRUE(vars_is_secret(&a, "r.token"));
	CU_ASSERT_STRING_EQUAL(vars_get(&a, "id"), "old");
	CU_ASSERT_EQUAL(vars_merge(&a, &b, ""), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&a, "id"), "42");
	CU_ASSERT_EQUAL(vars_merge(&a, &b, NULL), 0);
	CU_ASSERT_EQUAL(a.n, 4);
	/* src untouched */
	CU_ASSERT_EQUAL(b.n, 2);
	vars_drop_secrets(&a);
	CU_ASSERT_EQUAL(a.n, 2);
	CU_ASSERT_PTR_NULL(vars_get(&a, "token"));
	CU_ASSERT_PTR_NULL(vars_get(&a, "r.token"));
	CU_ASSERT_STRING_EQUAL(a.v[0].name, "id");
	CU_ASSERT_STRING_EQUAL(a.v[1].name, "r.id");
	vars_clear(&a);
	vars_clear(&b);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

static void test_vars_max(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct vars vs, big;
	char name[16];
	unsigned i;

	vars_init(&vs, ctx);
	for (i = 0; i < VARS_MAX; i++) {
		snprintf(name, sizeof(name), "v%u", i);
		CU_ASSERT_EQUAL_FATAL(vars_set(&vs, name, "x", false), 0);
	}
	CU_ASSERT_EQUAL(vs.n, VARS_MAX);
	CU_ASSERT(vs.cap <= VARS_MAX);
	CU_ASSERT_EQUAL(vars_set(&vs, "one_more", "x", false), -1);
	CU_ASSERT_PTR_NULL(vars_get(&vs, "one_more"));
	/* Full, yet replacing still works. */
	CU_ASSERT_EQUAL(vars_set(&vs, "v7", "y", false), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&vs, "v7"), "y");
	/* A merge that does not fit says so. */
	vars_init(&big, ctx);
	vars_set(&big, "new", "x", false);
	CU_ASSERT_EQUAL(vars_merge(&vs, &big, "p"), -1);
	vars_clear(&big);
	vars_clear(&vs);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

/* --- sessions --- */

/* A flow with a handful of answers and a list of five slots, as a back end returns it. */
static void typical_session(struct session *s, void *ctx)
{
	static const char *const labels[5] = {
		"Mardi 14 mai, 09h30 - Guichet 2",
		"Mardi 14 mai, 10h15 - Guichet 1",
		"Mercredi 15 mai, 14h00 - Guichet 3",
		"Jeudi 16 mai, 08h45 - Guichet 2",
		"Vendredi 17 mai, 11h30 - Guichet 1",
	};
	char name[32], id[32];
	unsigned i;

	session_init(s, ctx, "sms:modem-orange-0:+221771234567", CHANNEL_SMS, "+221771234567");
	s->state = SESSION_ACTIVE;
	snprintf(s->flow, sizeof(s->flow), "rdv_carte_identite");
	s->flow_version = 12;
	snprintf(s->step, sizeof(s->step), "choisir_creneau");
	s->n_history = 3;
	snprintf(s->history[0], sizeof(s->history[0]), "accueil");
	snprintf(s->history[1], sizeof(s->history[1]), "demander_nom");
	snprintf(s->history[2], sizeof(s->history[2]), "choisir_commune");
	s->tries = 1;
	s->call_id = 3;
	s->started = 1747200000;
	s->deadline = 1747203600;
	vars_set(&s->vars, "nom", "Ndiaye", false);
	vars_set(&s->vars, "prenom", "Aïssatou", false);
	vars_set(&s->vars, "commune", "Pikine", false);
	vars_set(&s->vars, "date_naissance", "12/03/1987", false);
	vars_set(&s->vars, "motif", "renouvellement", false);
	vars_set(&s->vars, "dossier", "CNI-2024-0041872", false);
	vars_set(&s->vars, "slots.count", "5", false);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "slots.%u.id", i);
		snprintf(id, sizeof(id), "c-8f3a%04u", i * 37);
		vars_set(&s->vars, name, id, false);
		snprintf(name, sizeof(name), "slots.%u.label", i);
		vars_set(&s->vars, name, labels[i], false);
	}
	vars_set(&s->vars, "code_secret", "482913", true);
}

static void assert_same(const struct session *a, const struct session *b)
{
	unsigned i;

	CU_ASSERT_STRING_EQUAL(a->key, b->key);
	CU_ASSERT_STRING_EQUAL(a->address, b->address);
	CU_ASSERT_EQUAL(a->channel, b->channel);
	CU_ASSERT_EQUAL(a->state, b->state);
	CU_ASSERT_STRING_EQUAL(a->flow, b->flow);
	CU_ASSERT_EQUAL(a->flow_version, b->flow_version);
	CU_ASSERT_STRING_EQUAL(a->step, b->step);
	CU_ASSERT_EQUAL(a->tries, b->tries);
	CU_ASSERT_EQUAL(a->page, b->page);
	CU_ASSERT_EQUAL_FATAL(a->n_history, b->n_history);
	for (i = 0; i < a->n_history; i++)
		CU_ASSERT_STRING_EQUAL(a->history[i], b->history[i]);
	CU_ASSERT_EQUAL(a->call_id, b->call_id);
	CU_ASSERT_EQUAL(a->started, b->started);
	CU_ASSERT_EQUAL(a->deadline, b->deadline);
	CU_ASSERT_STRING_EQUAL(a->lang, b->lang);
	CU_ASSERT_STRING_EQUAL(a->via, b->via);
}

static void test_session_init_copy_reset(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s, c;

	session_init(&s, ctx, "ussd:77", CHANNEL_USSD, "+221770000000");
	CU_ASSERT_STRING_EQUAL(s.key, "ussd:77");
	CU_ASSERT_STRING_EQUAL(s.address, "+221770000000");
	CU_ASSERT_EQUAL(s.channel, CHANNEL_USSD);
	CU_ASSERT_EQUAL(s.state, SESSION_IDLE);
	CU_ASSERT_STRING_EQUAL(s.lang, "fr");
	CU_ASSERT_EQUAL(s.vars.n, 0);
	CU_ASSERT_STRING_EQUAL(channel_name(CHANNEL_SMS), "sms");
	CU_ASSERT_STRING_EQUAL(channel_name(CHANNEL_USSD), "ussd");

	typical_session(&s, ctx);
	session_copy(&c, ctx, &s);
	assert_same(&s, &c);
	CU_ASSERT_EQUAL(c.vars.n, s.vars.n);
	CU_ASSERT_PTR_NOT_EQUAL(c.vars.v, s.vars.v);
	CU_ASSERT_TRUE(vars_is_secret(&c.vars, "code_secret"));
	vars_set(&s.vars, "nom", "Changed", false);
	CU_ASSERT_STRING_EQUAL(vars_get(&c.vars, "nom"), "Ndiaye");

	c.call_id = 9;
	session_reset(&c);
	CU_ASSERT_EQUAL(c.state, SESSION_IDLE);
	CU_ASSERT_STRING_EQUAL(c.flow, "");
	CU_ASSERT_STRING_EQUAL(c.step, "");
	CU_ASSERT_EQUAL(c.n_history, 0);
	CU_ASSERT_EQUAL(c.tries, 0);
	CU_ASSERT_EQUAL(c.vars.n, 0);
	CU_ASSERT_STRING_EQUAL(c.key, s.key);
	CU_ASSERT_STRING_EQUAL(c.address, s.address);
	CU_ASSERT_EQUAL(c.call_id, 9);	/* never reused */

	vars_clear(&s.vars);
	vars_clear(&c.vars);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

static void test_encode_roundtrip(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s, d;
	size_t len = 0, len2 = 0;
	char *e, *e2;
	unsigned i, n_public = 0;

	typical_session(&s, ctx);
	s.page = 2;
	s.started = -5;			/* signed fields survive */
	snprintf(s.via, sizeof(s.via), "smpp-court");	/* the transport, for a restart */
	vars_set(&s.vars, "tricky", "12:34,56\n\"quoted\" ✓ 😀", false);
	vars_set(&s.vars, "empty", "", false);
	e = session_encode(ctx, &s, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(strlen(e), len);
	CU_ASSERT_EQUAL_FATAL(session_decode(&d, ctx, e, len), 0);
	assert_same(&s, &d);
	for (i = 0; i < s.vars.n; i++) {
		const struct var *v = &s.vars.v[i];

		if (v->secret)
			continue;
		n_public++;
		CU_ASSERT_PTR_NOT_NULL_FATAL(vars_get(&d.vars, v->name));
		CU_ASSERT_STRING_EQUAL(vars_get(&d.vars, v->name), v->value);
		CU_ASSERT_FALSE(vars_is_secret(&d.vars, v->name));
	}
	CU_ASSERT_EQUAL(d.vars.n, n_public);
	/* Order kept, so encoding is stable. */
	e2 = session_encode(ctx, &d, &len2);
	CU_ASSERT_EQUAL_FATAL(len2, len);
	CU_ASSERT_EQUAL(memcmp(e, e2, len), 0);

	/* The empty session too. */
	vars_clear(&d.vars);
	session_init(&d, ctx, "", CHANNEL_SMS, "");
	talloc_free(e2);
	e2 = session_encode(ctx, &d, &len2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e2);
	CU_ASSERT_EQUAL(session_decode(&d, ctx, e2, len2), 0);
	CU_ASSERT_STRING_EQUAL(d.key, "");
	CU_ASSERT_STRING_EQUAL(d.lang, "fr");

	vars_clear(&s.vars);
	vars_clear(&d.vars);
	talloc_free(e);
	talloc_free(e2);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

static void test_encode_no_secrets(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s;
	size_t len;
	char *e;

	typical_session(&s, ctx);
	vars_set(&s.vars, "otp", "hunter2-unique", true);
	e = session_encode(ctx, &s, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NULL(memmem(e, len, "482913", 6));
	CU_ASSERT_PTR_NULL(memmem(e, len, "code_secret", 11));
	CU_ASSERT_PTR_NULL(memmem(e, len, "hunter2", 7));
	CU_ASSERT_PTR_NULL(memmem(e, len, "otp", 3));
	/* and nothing else went missing */
	CU_ASSERT_PTR_NOT_NULL(memmem(e, len, "Pikine", 6));
	vars_clear(&s.vars);
	talloc_free(ctx);
}

static void test_typical_size(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s;
	size_t len;
	char *e;

	typical_session(&s, ctx);
	e = session_encode(ctx, &s, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	printf("\n    typical session (%u vars, 3 history steps): %zu bytes\n    ", s.vars.n, len);
	CU_ASSERT(len < 1024);
	vars_clear(&s.vars);
	talloc_free(ctx);
}

static int decode_str(void *ctx, const char *data)
{
	struct session d;
	int rc = session_decode(&d, ctx, data, strlen(data));

	if (rc == 0)
		vars_clear(&d.vars);
	return rc;
}

/* The options of the menu page shown survive the store; a session stored before they were
 * kept (G2) decodes with them unknown, so the engine cuts the page again. */
static void test_page_layout(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s, d;
	size_t len;
	char *e;

	session_init(&s, ctx, "sms:m1:+33612345678", CHANNEL_SMS, "+33612345678");
	s.state = SESSION_ACTIVE;
	s.page = 1;
	s.page_first = 300;
	s.page_n = 5;
	e = session_encode(ctx, &s, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(memcmp(e, "G3", 2), 0);
	CU_ASSERT_EQUAL_FATAL(session_decode(&d, ctx, e, len), 0);
	CU_ASSERT_EQUAL(d.page, 1);
	CU_ASSERT_EQUAL(d.page_first, 300);
	CU_ASSERT_EQUAL(d.page_n, 5);
	/* the same without the trailing layout, as a G2 */
	char *old = talloc_strndup(ctx, e, len);
	old[1] = '2';
	old[len - strlen("300,5,")] = '\0';
	CU_ASSERT_EQUAL_FATAL(session_decode(&d, ctx, old, strlen(old)), 0);
	CU_ASSERT_EQUAL(d.page, 1);
	CU_ASSERT_EQUAL(d.page_n, 0);
	/* more than a page's options is corruption */
	char *bad = talloc_asprintf(ctx, "%.*s300,9,", (int)(len - strlen("300,5,")), e);
	CU_ASSERT_EQUAL(session_decode(&d, ctx, bad, strlen(bad)), -1);
	talloc_free(ctx);
}

/* Starts from a small valid encoding and changes one thing at a time. */
static void test_decode_rejects(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s, d;
	size_t len, i;
	char *e;

	/* The reference, which must decode. */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:10,1:y0:"), 0);

	CU_ASSERT_EQUAL(session_decode(&d, ctx, NULL, 0), -1);
	CU_ASSERT_EQUAL(session_decode(&d, ctx, "", 0), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G21:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:10,1:y0:"), -1);
	/* trailing byte */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:10,1:y0:x"), -1);
	/* one var missing */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr3,0,1:x1:10,1:y0:"), -1);
	/* channel, state out of range */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a2,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:10,1:y0:"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,3,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:10,1:y0:"), -1);
	/* tries > 255 */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s256,0,1,1:h5,-1,0,2:fr2,0,1:x1:10,1:y0:"), -1);
	/* history longer than SESSION_HISTORY */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,9,1:h1:h1:h1:h1:h1:h1:h1:h1:h5,-1,0,2:fr0,"), -1);
	/* a string longer than what remains */
	CU_ASSERT_EQUAL(decode_str(ctx, "G199:k"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G199999999999999999999:k"), -1);
	/* a number that overflows */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,99999999999999999999,0,2:fr0,"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-9223372036854775809,0,2:fr0,"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-9223372036854775808,0,2:fr0,"), 0);
	/* lang too long for its field */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,8:abcdefgh0,"), -1);
	/* shared prefix longer than the previous name, then a repeated name */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:12,1:y0:"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr2,0,1:x1:11,0:0:"), -1);
	/* an empty name */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr1,0,0:1:1"), -1);
	/* too many vars */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr257,"), -1);
	/* signs and spaces where digits belong */
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a-0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr0,"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G11:k1:a 0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr0,"), -1);
	CU_ASSERT_EQUAL(decode_str(ctx, "G1:k1:a0,1,1:f2,1:s0,0,1,1:h5,-1,0,2:fr0,"), -1);
	/* a key of 95 bytes fits SESSION_KEY_MAX, 96 does not */
	{
		char k[SESSION_KEY_MAX + 1], enc[SESSION_KEY_MAX + 64];

		memset(k, 'k', sizeof(k));
		k[SESSION_KEY_MAX - 1] = '\0';
		snprintf(enc, sizeof(enc), "G1%zu:%s1:a0,1,1:f2,1:s0,0,0,5,-1,0,2:fr0,", strlen(k), k);
		CU_ASSERT_EQUAL(decode_str(ctx, enc), 0);
		k[SESSION_KEY_MAX - 1] = 'k';
		k[SESSION_KEY_MAX] = '\0';
		snprintf(enc, sizeof(enc), "G1%zu:%s1:a0,1,1:f2,1:s0,0,0,5,-1,0,2:fr0,", strlen(k), k);
		CU_ASSERT_EQUAL(decode_str(ctx, enc), -1);
	}
	/* embedded NUL inside a string */
	{
		static const char nul[] = "G11:k1:a0,1,1:f2,1:s0,0,0,5,-1,0,2:f\0" "0,";

		CU_ASSERT_EQUAL(session_decode(&d, ctx, nul, sizeof(nul) - 1), -1);
	}

	/* Every truncation of a real session. */
	typical_session(&s, ctx);
	e = session_encode(ctx, &s, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	for (i = 0; i < len; i++)
		if (session_decode(&d, ctx, e, i) == 0) {
			CU_FAIL("a truncated session decoded");
			vars_clear(&d.vars);
		}
	CU_ASSERT_EQUAL_FATAL(session_decode(&d, ctx, e, len), 0);
	vars_clear(&d.vars);
	vars_clear(&s.vars);
	talloc_free(e);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

/* Random bytes, and a real session with bytes changed: never a crash; whatever decodes
 * encodes again. */
static void test_decode_garbage(void)
{
	void *ctx = talloc_named_const(root, 0, "test");
	struct session s, d;
	unsigned seed = 12345, round, accepted = 0;
	char buf[1500];
	size_t len, i;
	char *e;

	for (round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));

		for (i = 0; i < n; i++)
			buf[i] = (char)rand_r(&seed);
		if (round & 1 && n >= 2) {
			buf[0] = 'G';
			buf[1] = '1';
		}
		CU_ASSERT_EQUAL(session_decode(&d, ctx, buf, n), -1);
	}
	typical_session(&s, ctx);
	e = session_encode(ctx, &s, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	for (round = 0; round < 20000; round++) {
		unsigned k, flips = 1 + (unsigned)rand_r(&seed) % 3;

		memcpy(buf, e, len);
		for (k = 0; k < flips; k++) {
			size_t at = (size_t)rand_r(&seed) % len;
			static const char pick[] = "0123456789:,-G\xff";

			buf[at] = (rand_r(&seed) & 1) ? (char)rand_r(&seed) :
				  pick[(unsigned)rand_r(&seed) % (sizeof(pick) - 1)];
		}
		if (session_decode(&d, ctx, buf, len) == 0) {
			size_t l2;
			char *e2 = session_encode(ctx, &d, &l2);

			accepted++;
			CU_ASSERT_PTR_NOT_NULL(e2);
			talloc_free(e2);
			vars_clear(&d.vars);
		}
	}
	printf("\n    mutated sessions still valid: %u of 20000\n    ", accepted);
	vars_clear(&s.vars);
	talloc_free(e);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

int main(void)
{
	CU_pSuite s;

	root = talloc_named_const(NULL, 0, "test_session");
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("vars", NULL, NULL);
	CU_add_test(s, "get, set, replace, clear", test_vars_basic);
	CU_add_test(s, "unset_tree", test_vars_tree);
	CU_add_test(s, "a shorter value rewritten in place, old bytes wiped", test_vars_replace_in_place);
	CU_add_test(s, "a growing value keeps its name and neighbours", test_vars_grow);
	CU_add_test(s, "merge and drop_secrets", test_vars_merge_secrets);
	CU_add_test(s, "compacted: the size of what it holds", test_vars_compact);
	CU_add_test(s, "room to write a value in place", test_vars_room);
	CU_add_test(s, "names alike, short and long", test_vars_names_alike);
	CU_add_test(s, "replace_tree as unset_tree then merge", test_vars_replace_tree);
	CU_add_test(s, "VARS_MAX", test_vars_max);
	s = CU_add_suite("session", NULL, NULL);
	CU_add_test(s, "init, copy, reset", test_session_init_copy_reset);
	CU_add_test(s, "encode/decode round trip", test_encode_roundtrip);
	CU_add_test(s, "secrets never encoded", test_encode_no_secrets);
	CU_add_test(s, "typical session under 1 KiB", test_typical_size);
	CU_add_test(s, "malformed and truncated data rejected", test_decode_rejects);
	CU_add_test(s, "menu page layout kept, G2 still decodes", test_page_layout);
	CU_add_test(s, "garbage rejected without a crash", test_decode_garbage);
	return unit_root_run(root) ? 1 : 0;
}
