/* The graph of a flow: its nodes (kind, text as the phone shows it, sizes), its ways (labels,
 * error ways, merged options, common ends), dead ends, unreachable and stuck steps, and the
 * DOT it gives: escaped, bounded, deterministic. Flows come from strings; a few are altered
 * after loading to make shapes the loader itself refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_graph.h"
#include "unit_main.h"

static void *ctx;

static const char *const ops[] = { "agenda.slots", "agenda.book", "conseil.rappel" };
static const struct flow_env env = { .n_ops = 3, .ops = ops };
static const struct render_opts fold_opts = { 3, true, 128 };

static const char rdv_yaml[] =
	"flow: rdv\n"
	"title: Rendez-vous\n"
	"entry: { sms: [RDV], ussd: \"*1*1#\" }\n"
	"steps:\n"
	"  service:\n"
	"    menu: \"Pour quel service ?\"\n"
	"    options:\n"
	"      - { label: \"Allocations\", set: { service: caf } }\n"
	"      - { label: \"RSA\", set: { service: rsa } }\n"
	"      - { label: \"Aide\", set: { service: x }, next: aide }\n"
	"    next: numero\n"
	"  numero:\n"
	"    ask: { sms: \"Votre numéro, s'il vous plaît ? Être précis.\", ussd: \"Numéro ?\" }\n"
	"    expect: { digits: [7, 13], tries: 2, on_fail: aide }\n"
	"    save: numero\n"
	"    next: creneaux\n"
	"  creneaux:\n"
	"    call: agenda.slots\n"
	"    with: { service: \"{{service}}\" }\n"
	"    save: slots\n"
	"    next: choix\n"
	"  choix:\n"
	"    menu: \"Créneaux :\"\n"
	"    options_from: { list: slots, label: \"{{item.label}}\", empty_next: aide }\n"
	"    next: confirmer\n"
	"  confirmer:\n"
	"    ask: \"Confirmer ?\"\n"
	"    expect: yesno\n"
	"    save: ok\n"
	"    next: decision\n"
	"  decision:\n"
	"    branch:\n"
	"      - when: [ { var: ok, equals: oui }, { var: numero, more: 5 } ]\n"
	"        next: reserver\n"
	"      - when: { var: service, in: [caf, rsa] }\n"
	"        next: choix\n"
	"    else: aide\n"
	"  reserver:\n"
	"    call: agenda.book\n"
	"    with: { slot: x }\n"
	"    save: rdv\n"
	"    on_error: aide\n"
	"    wait: \"Réponse par SMS.\"\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"C'est noté.\"\n"
	"    receipt: \"Reçu.\"\n"
	"    remind: [ { at: \"2026-12-01 -1d 18:00\", text: \"Rappel.\" } ]\n"
	"  aide:\n"
	"    say: \"Appelez le {{contact}}.\"\n"
	"    cancel_reminders: \"{{phone}}\"\n";

static struct flow_set *load_env(const char *yaml, const struct flow_env *e)
{
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "t.yaml", yaml, e, d);

	if (!fs)
		diag_print(d, stderr);
	talloc_free(d);
	return fs;
}

static struct flow_set *load(const char *yaml)
{
	return load_env(yaml, &env);
}

static int node(const struct flow_graph *g, const char *id)
{
	for (unsigned i = 0; i < g->n_nodes; i++)
		if (!strcmp(g->nodes[i].id, id))
			return (int)i;
	return -1;
}

/* The way from -> to of that kind, or NULL. */
static const struct flow_graph_edge *edge(const struct flow_graph *g, const char *from,
					  const char *to, enum flow_graph_edge_kind kind)
{
	int f = node(g, from), t = node(g, to);

	for (unsigned i = 0; i < g->n_edges; i++)
		if ((int)g->edges[i].from == f && (int)g->edges[i].to == t &&
		    g->edges[i].kind == kind)
			return &g->edges[i];
	return NULL;
}

static unsigned edges_between(const struct flow_graph *g, const char *from, const char *to)
{
	int f = node(g, from), t = node(g, to);
	unsigned n = 0;

	for (unsigned i = 0; i < g->n_edges; i++)
		n += (int)g->edges[i].from == f && (int)g->edges[i].to == t;
	return n;
}

static char *dot_of(const struct flow_graph *g)
{
	char *buf = NULL, *out;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(flow_graph_write_dot(g, m) == 0);
	fclose(m);
	out = talloc_strdup(ctx, buf);
	free(buf);
	return out;
}

/* ------------------------------------------------------------------------------------------ */

static void test_nodes(void)
{
	struct flow_set *fs = load(rdv_yaml);
	struct flow_graph *g;
	const struct flow_graph_node *n;

	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	/* 9 steps, and the common "too many tries" end (choix and confirmer have no on_fail);
	 * every call has an on_error except creneaux: the common back-end error end too. */
	CU_ASSERT_EQUAL(g->n_nodes, 11);
	CU_ASSERT(node(g, "#essais") == 9 || node(g, "#essais") == 10);
	CU_ASSERT(node(g, "#erreur") == 9 || node(g, "#erreur") == 10);

	n = &g->nodes[node(g, "service")];
	CU_ASSERT(n->start);
	CU_ASSERT_STRING_EQUAL(n->kind_name, "menu");
	CU_ASSERT_STRING_EQUAL(n->text.sms, "Pour quel service ?\n1 Allocations\n2 RSA\n3 Aide");
	CU_ASSERT_EQUAL(n->text.sms_m.coding, TEXT_GSM7);
	CU_ASSERT_EQUAL(n->text.sms_m.parts, 1);
	CU_ASSERT_EQUAL(n->text.ussd_room, 128);
	CU_ASSERT(n->text.ussd_fits);
	CU_ASSERT(!n->end);

	/* Folded as the phone receives it (ê -> e, î -> i), the USSD wording apart. */
	n = &g->nodes[node(g, "numero")];
	CU_ASSERT_STRING_EQUAL(n->kind_name, "question");
	CU_ASSERT_STRING_EQUAL(n->text.sms, "Votre numéro, s'il vous plait ? Etre précis.");
	CU_ASSERT_STRING_EQUAL(n->text.ussd, "Numéro ?");
	CU_ASSERT_EQUAL(n->text.ussd_m.units, 8);
	CU_ASSERT_STRING_EQUAL(n->detail, "attend 7 à 13 chiffres \u2192 numero");

	n = &g->nodes[node(g, "choix")];
	CU_ASSERT(strstr(n->text.sms, "1 {{item.label}}") != NULL);
	CU_ASSERT(n->text.vars);
	CU_ASSERT(!n->end);	/* empty_next: an empty list goes on to aide */

	n = &g->nodes[node(g, "creneaux")];
	CU_ASSERT_STRING_EQUAL(n->kind_name, "appel");
	CU_ASSERT_PTR_NULL(n->text.sms);	/* a call says nothing itself without wait */
	CU_ASSERT_STRING_EQUAL(n->detail, "agenda.slots(service) \u2192 slots");
	CU_ASSERT_STRING_EQUAL(g->nodes[node(g, "reserver")].text.sms, "Réponse par SMS.");

	CU_ASSERT(g->nodes[node(g, "fin")].end);
	/* what the step sends besides its text */
	CU_ASSERT_STRING_EQUAL(g->nodes[node(g, "fin")].detail,
			       "fin de la démarche ; + reçu par SMS ; + 1 rappel par SMS");
	CU_ASSERT_STRING_EQUAL(g->nodes[node(g, "aide")].detail,
			       "fin de la démarche ; annule les rappels en cours");
	CU_ASSERT(g->nodes[node(g, "aide")].end);
	CU_ASSERT_STRING_EQUAL(g->nodes[node(g, "decision")].kind_name, "aiguillage");
	CU_ASSERT_EQUAL(g->n_unreachable + g->n_dead_ends + g->n_stuck, 0);
	for (unsigned i = 0; i < g->n_nodes; i++)
		CU_ASSERT(!g->nodes[i].unreachable && !g->nodes[i].dead_end && !g->nodes[i].stuck);

	/* Without folding, one ê makes the whole text UCS-2. */
	{
		struct render_opts raw = { 3, false, 182 };
		struct flow_graph *g2 = flow_graph_build(ctx, fs, &fs->flows[0], &raw);

		n = &g2->nodes[node(g2, "numero")];
		CU_ASSERT_EQUAL(n->text.sms_m.coding, TEXT_UCS2);
		CU_ASSERT(strstr(n->text.sms, "plaît") != NULL);
		talloc_free(g2);
	}
	talloc_free(g);
	talloc_free(fs);
}

static void test_edges(void)
{
	struct flow_set *fs = load(rdv_yaml);
	struct flow_graph *g;
	const struct flow_graph_edge *e;

	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);

	/* Options to the same step share one arrow listing them. */
	CU_ASSERT_EQUAL(edges_between(g, "service", "numero"), 1);
	e = edge(g, "service", "numero", FGE_OPTION);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_STRING_EQUAL(e->label, "1 Allocations\n2 RSA");
	CU_ASSERT(!e->error);
	e = edge(g, "service", "aide", FGE_OPTION);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_STRING_EQUAL(e->label, "3 Aide");
	/* The menu has no on_fail: the common end, an implicit error way. */
	e = edge(g, "service", "#essais", FGE_ON_FAIL);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT(e->error && e->implicit);
	CU_ASSERT_STRING_EQUAL(e->label, "3 réponses invalides");

	e = edge(g, "numero", "creneaux", FGE_NEXT);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_STRING_EQUAL(e->label, "réponse : 7 à 13 chiffres");
	e = edge(g, "numero", "aide", FGE_ON_FAIL);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT(e->error && !e->implicit);
	CU_ASSERT_STRING_EQUAL(e->label, "2 réponses invalides");

	e = edge(g, "creneaux", "#erreur", FGE_ON_ERROR);
	CU_ASSERT(e && e->error && e->implicit);
	e = edge(g, "reserver", "aide", FGE_ON_ERROR);
	CU_ASSERT(e && e->error && !e->implicit);
	CU_ASSERT(e && !strcmp(e->label, "erreur du service"));
	e = edge(g, "reserver", "fin", FGE_NEXT);
	CU_ASSERT(e && !e->error);

	CU_ASSERT(edge(g, "choix", "confirmer", FGE_LIST) != NULL);
	e = edge(g, "choix", "aide", FGE_EMPTY);
	CU_ASSERT(e && !strcmp(e->label, "liste vide"));

	e = edge(g, "decision", "reserver", FGE_WHEN);
	CU_ASSERT(e && !strcmp(e->label, "1 : ok = oui et numero > 5"));
	e = edge(g, "decision", "choix", FGE_WHEN);
	CU_ASSERT(e && !strcmp(e->label, "2 : service parmi caf, rsa"));
	e = edge(g, "decision", "aide", FGE_ELSE);
	CU_ASSERT(e && !strcmp(e->label, "sinon"));

	/* A say that ends has no way out; one with next has an unlabelled one. */
	for (unsigned i = 0; i < g->n_edges; i++)
		CU_ASSERT(g->edges[i].from != (unsigned)node(g, "fin"));
	/* Edges are grouped by step, in the order the steps are written; out[] finds them. */
	for (unsigned i = 1; i < g->n_edges; i++)
		CU_ASSERT(g->edges[i - 1].from <= g->edges[i].from);
	for (unsigned n = 0; n < g->n_nodes; n++)
		for (unsigned i = g->out[n]; i < g->out[n + 1]; i++)
			CU_ASSERT(g->edges[i].from == n);
	CU_ASSERT_EQUAL(g->out[g->n_nodes], g->n_edges);
	talloc_free(g);
	talloc_free(fs);
}

/* Shapes the loader refuses, made by altering a loaded flow: the graph still finds them. */
static void test_dead_end_unreachable(void)
{
	struct flow_set *fs = load(rdv_yaml);
	struct flow *f;
	struct flow_graph *g;
	int aide, fin, res;

	CU_ASSERT_FATAL(fs != NULL);
	f = &fs->flows[0];
	aide = flow_step_index(f, "aide");
	fin = flow_step_index(f, "fin");
	res = flow_step_index(f, "reserver");
	/* fin no longer ends but leads nowhere: a dead end. */
	f->steps[fin].end = false;
	f->steps[fin].next_idx = -1;
	/* reserver's answer goes to aide instead: fin cannot be reached any more. */
	f->steps[res].next_idx = aide;
	g = flow_graph_build(ctx, fs, f, &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT(g->nodes[fin].dead_end);
	CU_ASSERT(g->nodes[fin].unreachable);
	CU_ASSERT(!g->nodes[fin].stuck);	/* stuck is for steps people can reach */
	CU_ASSERT_EQUAL(g->n_dead_ends, 1);
	CU_ASSERT_EQUAL(g->n_unreachable, 1);
	CU_ASSERT(!g->nodes[aide].dead_end && !g->nodes[aide].unreachable);
	{
		char *dot = dot_of(g);

		CU_ASSERT(strstr(dot, "impasse") != NULL);
		CU_ASSERT(strstr(dot, "inaccessible") != NULL);
		talloc_free(dot);
	}
	talloc_free(g);

	/* A menu whose options lead nowhere: its only way out is the error one. */
	f->steps[0].next_idx = -1;
	for (unsigned i = 0; i < f->steps[0].n_options; i++)
		f->steps[0].options[i].next_idx = -1;
	f->steps[0].options[2].next = NULL;
	g = flow_graph_build(ctx, fs, f, &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT(g->nodes[0].dead_end);
	CU_ASSERT(edge(g, "service", "#essais", FGE_ON_FAIL) != NULL);
	CU_ASSERT(g->nodes[flow_step_index(f, "numero")].unreachable);
	talloc_free(g);
	talloc_free(fs);
}

/* A valid flow where people go round forever: only errors or the stop word get them out. */
static void test_stuck(void)
{
	struct flow_set *fs = load(
		"flow: boucle\n"
		"title: Boucle\n"
		"entry: { sms: BOUCLE }\n"
		"steps:\n"
		"  debut:\n"
		"    menu: \"Choix ?\"\n"
		"    options: [ { label: Un, next: q }, { label: Fin, next: fin } ]\n"
		"  q:\n"
		"    ask: \"Nom ?\"\n"
		"    save: nom\n"
		"    next: m\n"
		"  m:\n"
		"    menu: \"Encore ?\"\n"
		"    options: [ Oui, Non ]\n"
		"    next: q\n"
		"  fin:\n"
		"    say: \"Au revoir.\"\n");
	struct flow_graph *g;

	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT(!g->nodes[node(g, "debut")].stuck);
	CU_ASSERT(g->nodes[node(g, "q")].stuck);
	CU_ASSERT(g->nodes[node(g, "m")].stuck);
	CU_ASSERT(!g->nodes[node(g, "q")].dead_end);
	CU_ASSERT_EQUAL(g->n_stuck, 2);
	/* Free text with no bound cannot be answered wrongly: no error way from q. */
	CU_ASSERT_PTR_NULL(edge(g, "q", "#essais", FGE_ON_FAIL));
	CU_ASSERT_EQUAL(edges_between(g, "m", "q"), 1);
	{
		char *dot = dot_of(g);

		CU_ASSERT(strstr(dot, "aucune fin atteignable") != NULL);
		CU_ASSERT(strstr(dot, "penwidth=3") != NULL);
		talloc_free(dot);
	}
	talloc_free(g);
	talloc_free(fs);
}

static void test_dot(void)
{
	struct flow_set *fs = load(
		"flow: esc\n"
		"title: Esc\n"
		"entry: { sms: ESC }\n"
		"steps:\n"
		"  m:\n"
		"    menu: \"<b>Gras</b> & \\\"cité\\\" \\\\ fin\"\n"
		"    options: [ { label: \"Dit \\\"oui\\\" \\\\ <i>\", next: s } ]\n"
		"  s:\n"
		"    say: \"Ok.\"\n");
	struct flow_graph *g;
	char *a, *b;

	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	a = dot_of(g);
	b = dot_of(g);
	CU_ASSERT_STRING_EQUAL(a, b);	/* deterministic */
	/* In the box (an HTML-like label): markup characters as entities. */
	CU_ASSERT(strstr(a, "&lt;b&gt;Gras&lt;/b&gt; &amp; &quot;cité&quot; \\ fin") != NULL);
	CU_ASSERT(strstr(a, "<b>Gras") == NULL);
	/* On the arrow (a quoted string): quote and backslash escaped. */
	CU_ASSERT(strstr(a, "[label=\"1 Dit \\\"oui\\\" \\\\ <i>\"]") != NULL);
	/* The common words as a legend, not as arrows. */
	CU_ASSERT(strstr(a, "\"#mots\" [shape=note") != NULL);
	CU_ASSERT(strstr(a, "<b>STOP, ARRET</b>") != NULL);
	CU_ASSERT(strstr(a, "\"#entree\" -> \"m\"") != NULL);
	CU_ASSERT(strstr(a, "-> \"#mots\"") == NULL);
	CU_ASSERT(strstr(a, "\"#mots\" ->") == NULL);
	CU_ASSERT(strncmp(a, "// Drawn by `guichet draw` from t.yaml", 38) == 0);
	talloc_free(a);
	talloc_free(b);
	talloc_free(g);
	talloc_free(fs);
}

/* Long texts and labels are cut in the drawing, measured whole. */
static void test_bounded(void)
{
	char *yaml, *longtext = talloc_zero_size(ctx, 3001), *dot;
	struct flow_set *fs;
	struct flow_graph *g;
	const struct flow_graph_edge *e;

	memset(longtext, 'a', 3000);
	for (unsigned i = 7; i < 3000; i += 8)
		longtext[i] = ' ';
	yaml = talloc_asprintf(ctx,
		"flow: long\n"
		"title: Long\n"
		"entry: { sms: LONG }\n"
		"steps:\n"
		"  m:\n"
		"    menu: \"%s\"\n"
		"    options: [ { label: \"%s\", next: s } ]\n"
		"  s:\n"
		"    say: \"Ok.\"\n", longtext, longtext);
	{
		/* the checker refuses texts longer than the parts allowed: allow plenty */
		static const struct flow_env roomy = { .sms_parts = 100 };

		fs = load_env(yaml, &roomy);
	}
	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT_EQUAL(g->nodes[0].text.sms_m.parts, 40);	/* 6003 septets */
	e = edge(g, "m", "s", FGE_OPTION);
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT(strlen(e->label) <= FLOW_GRAPH_LABEL_MAX + 3);
	dot = dot_of(g);
	/* The box holds at most FLOW_GRAPH_TEXT_MAX bytes of text plus markup. */
	CU_ASSERT(strlen(dot) < 5000);
	talloc_free(dot);
	talloc_free(g);
	talloc_free(fs);
	talloc_free(yaml);
	talloc_free(longtext);
}

/* A long text of two-byte characters is cut between characters, never inside one. */
static void test_bounded_utf8(void)
{
	char *text = talloc_strdup(ctx, "a"), *yaml, *dot;
	struct flow_set *fs;
	struct flow_graph *g;
	static const struct flow_env roomy = { .sms_parts = 100 };

	for (unsigned i = 0; i < 400; i++)
		text = talloc_strdup_append(text, i % 20 == 19 ? "é " : "é");
	yaml = talloc_asprintf(ctx, "flow: u\ntitle: U\nentry: { sms: U }\nsteps:\n"
			       "  s:\n    say: \"%s\"\n", text);
	fs = load_env(yaml, &roomy);
	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	dot = dot_of(g);
	for (const unsigned char *p = (const unsigned char *)dot; *p; p++)
		if (*p == 0xC3)
			CU_ASSERT(p[1] >= 0x80 && p[1] <= 0xBF);
	CU_ASSERT(strstr(dot, "\u2026") != NULL);
	talloc_free(dot);
	talloc_free(g);
	talloc_free(fs);
	talloc_free(yaml);
	talloc_free(text);
}

/* A handoff sends the number and the conversation: the drawing says so. */
static void test_handoff(void)
{
	struct flow_set *fs = load(
		"flow: conseiller\n"
		"title: Conseiller\n"
		"entry: { sms: CONSEILLER }\n"
		"steps:\n"
		"  humain:\n"
		"    handoff: conseil.rappel\n"
		"    save: rappel\n"
		"    on_error: desole\n"
		"    next: dit\n"
		"  dit:\n"
		"    say: \"On vous rappelle.\"\n"
		"  desole:\n"
		"    say: \"Le service ne répond pas.\"\n");
	struct flow_graph *g;

	CU_ASSERT_FATAL(fs != NULL);
	g = flow_graph_build(ctx, fs, &fs->flows[0], &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT_STRING_EQUAL(g->nodes[0].kind_name, "appel");
	CU_ASSERT_STRING_EQUAL(g->nodes[0].detail, "conseil.rappel() + numéro et conversation "
			       "(secrets masqués) \u2192 rappel");
	CU_ASSERT(edge(g, "humain", "desole", FGE_ON_ERROR) != NULL);
	talloc_free(g);
	talloc_free(fs);
}

/* 20,000 steps built by hand (the loader is not under test here): every node and way is
 * there and the analysis gives the right answers; it runs in linear time, so this is quick. */
static void test_huge(void)
{
	enum { N = 20000 };
	struct flow_set *fs = load("flow: h\ntitle: H\nentry: { sms: H }\nsteps:\n  a:\n    say: A\n");
	struct flow *f;
	struct flow_graph *g;

	CU_ASSERT_FATAL(fs != NULL);
	f = &fs->flows[0];
	f->steps = talloc_zero_array(fs, struct flow_step, N);
	f->n_steps = N;
	for (unsigned i = 0; i < N; i++) {
		struct flow_step *st = &f->steps[i];

		st->name = talloc_asprintf(fs, "s%u", i);
		st->kind = i % 2 ? STEP_SAY : STEP_BRANCH;
		st->next_idx = st->else_idx = st->on_fail_idx = st->on_error_idx = -1;
		st->empty_idx = -1;
		if (st->kind == STEP_SAY) {
			st->next_idx = i + 1 < N ? (int)i + 1 : -1;
			st->next = st->next_idx >= 0 ? "x" : NULL;
			st->end = st->next_idx < 0;
		} else {
			st->else_idx = (int)i + 1;
			st->else_next = "x";
		}
	}
	f->start_idx = 0;
	g = flow_graph_build(ctx, fs, f, &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT_EQUAL(g->n_nodes, N);
	CU_ASSERT_EQUAL(g->n_edges, N - 1);
	CU_ASSERT_EQUAL(g->n_unreachable + g->n_dead_ends + g->n_stuck, 0);
	/* Cut the chain in the middle: everything after is unreachable, everything before stuck. */
	f->steps[N / 2 + 1].next_idx = -1;
	f->steps[N / 2 + 1].end = false;
	talloc_free(g);
	g = flow_graph_build(ctx, fs, f, &fold_opts);
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT_EQUAL(g->n_dead_ends, 1);
	CU_ASSERT_EQUAL(g->n_unreachable, N - (N / 2 + 2));
	CU_ASSERT_EQUAL(g->n_stuck, N / 2 + 1);
	talloc_free(g);
	talloc_free(fs);
}

static const CU_TestInfo tests[] = {
	{ "nodes: kinds, texts as shown, sizes", test_nodes },
	{ "edges: labels, errors, common ends", test_edges },
	{ "dead ends and unreachable steps", test_dead_end_unreachable },
	{ "steps with no end reachable", test_stuck },
	{ "DOT: escaped, legend, deterministic", test_dot },
	{ "bounded labels", test_bounded },
	{ "bounded texts cut between characters", test_bounded_utf8 },
	{ "handoff", test_handoff },
	{ "20,000 steps", test_huge },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("flow_graph", tests, &ctx);
}
