/* Flow loader: the YAML files of flows/ -> struct flow_set (queries on a loaded set: flow.c).
 *
 * Shape checks only (keys, types, values, required parts); the graph and variable checks are
 * in flow_check.c. Every problem is reported and loading goes on, so an administrator sees
 * all of them in one run; the set is thrown away at the end if any error was found.
 *
 * This file reads documents (a flow, or the common settings), a flow's header and its list
 * of steps, and makes the set; steps are read by flow_load_step.c, branches by
 * flow_load_cond.c, texts and names by flow_load_value.c (flow_load.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_load.h"

#define ARRAY_SIZE(a) FLOW_LOAD_ARRAY_SIZE(a)

#define DEFAULT_TIMEOUT_S (15 * 60)
#define MAX_FLOW_FILES 1000	/* a flows/ directory larger than this is a mistake */

/* ------------------------------------------------------------------------------------------ */
/* Flows and common settings */

static const char *const flow_keys[] = { "flow", "title", "entry", "timeout", "on_timeout",
					 "help", "start", "steps" };

static struct flow *new_flow(struct flow_loader *L)
{
	struct flow_set *fs = L->fs;

	if (fs->n_flows == L->cap_flows) {
		unsigned cap = L->cap_flows ? L->cap_flows * 2 : 8;
		struct flow *nf = talloc_realloc(fs, fs->flows, struct flow, cap);

		if (!nf)
			return NULL;
		fs->flows = nf;
		L->cap_flows = cap;
	}
	memset(&fs->flows[fs->n_flows], 0, sizeof(struct flow));
	return &fs->flows[fs->n_flows++];
}

static void resolve(const struct flow *f, const char *name, int *idx)
{
	*idx = name ? flow_step_index(f, name) : -1;
}

static void resolve_flow(struct flow *f)
{
	unsigned i, j;

	for (i = 0; i < f->n_steps; i++) {
		struct flow_step *st = &f->steps[i];

		resolve(f, st->next, &st->next_idx);
		resolve(f, st->on_fail, &st->on_fail_idx);
		resolve(f, st->on_error, &st->on_error_idx);
		resolve(f, st->else_next, &st->else_idx);
		resolve(f, st->empty_next, &st->empty_idx);
		for (j = 0; j < st->n_options; j++) {
			struct flow_option *o = &st->options[j];

			if (o->next)
				resolve(f, o->next, &o->next_idx);
			else
				o->next_idx = st->next_idx;
		}
		for (j = 0; j < st->n_when; j++)
			resolve(f, st->when[j].next, &st->when[j].next_idx);
	}
}

/* entry: { ussd: "*4321#" } or a list of codes. */
static void parse_ussd_codes(struct flow_loader *L, struct flow *f, yaml_node_t *e)
{
	unsigned i, n = ydoc_is_seq(e) ? ydoc_len(e) : 1;

	f->ussd_codes = talloc_zero_array(L->fs, const char *, n);
	f->ussd_locs = talloc_zero_array(L->fs, struct flow_loc, n);
	if (!ydoc_is_seq(e) && !ydoc_scalar(e)) {
		ydoc_error(L->y, e, "expected a USSD code or a list of them, found %s",
			   ydoc_kind(e));
		return;
	}
	for (i = 0; f->ussd_codes && f->ussd_locs && i < n; i++) {
		yaml_node_t *it = ydoc_is_seq(e) ? ydoc_seq_item(L->y, e, i) : e;
		const char *c = ydoc_scalar(it);
		size_t cl = c ? strlen(c) : 0;

		if (!c || cl < 3 || (c[0] != '*' && c[0] != '#') || c[cl - 1] != '#' ||
		    strspn(c, "0123456789*#") != cl) {
			ydoc_error(L->y, it, "bad USSD code %s%s%s: expected digits between * and "
				   "#, like \"*4321*1#\" (quote it: # starts a comment in YAML)",
				   c ? "`" : "", c ? c : ydoc_kind(it), c ? "`" : "");
			continue;
		}
		f->ussd_locs[f->n_ussd] = flow_load_loc(L, it);
		f->ussd_codes[f->n_ussd++] = flow_load_dup(L, c);
	}
}

/* entry: { sms: KEYWORD or [KEYWORDS], ussd: "*123#" or [codes] } */
static void parse_entry(struct flow_loader *L, struct flow *f, yaml_node_t *root)
{
	yaml_node_t *v = ydoc_get(L->y, root, "entry"), *e;

	if (!v) {
		ydoc_error(L->y, root, "missing `entry`: the SMS keywords or USSD code that start "
			   "this procedure");
		return;
	}
	if (!ydoc_is_map(v)) {
		ydoc_error(L->y, v, "expected { sms: KEYWORD, ussd: \"*123#\" }, found %s",
			   ydoc_kind(v));
		return;
	}
	ydoc_check_keys(L->y, v, KEYS("sms", "ussd"));
	if ((e = ydoc_get(L->y, v, "sms")))
		flow_load_words(L, e, &f->keywords, &f->n_keywords, &f->keyword_locs, "keyword",
				true);
	if ((e = ydoc_get(L->y, v, "ussd")))
		parse_ussd_codes(L, f, e);
	if (!ydoc_get(L->y, v, "sms") && !ydoc_get(L->y, v, "ussd"))
		ydoc_error(L->y, v, "`entry` needs `sms` keywords or a `ussd` code");
}

/* steps: { name: { ... }, ... } in the order written. */
static void parse_steps(struct flow_loader *L, struct flow *f, yaml_node_t *root)
{
	yaml_node_t *steps = ydoc_get(L->y, root, "steps");
	unsigned i, len;

	if (!steps) {
		ydoc_error(L->y, root, "missing `steps`");
		return;
	}
	if (!ydoc_is_map(steps) || !ydoc_len(steps)) {
		ydoc_error(L->y, steps, "expected steps as a mapping of name: { ... }, found %s",
			   ydoc_is_map(steps) ? "no step" : ydoc_kind(steps));
		return;
	}
	ydoc_check_keys(L->y, steps, NULL, 0);	/* only duplicate names: any name is allowed */
	len = ydoc_len(steps);
	f->steps = talloc_zero_array(L->fs, struct flow_step, len);
	if (!f->steps)
		return;
	for (i = 0; i < len; i++) {
		yaml_node_t *kn = ydoc_map_key(L->y, steps, i);
		const char *sn = ydoc_scalar(kn);

		if (!sn || !flow_load_is_name(sn)) {
			ydoc_error(L->y, kn, "a step name is a word (letters, digits, _ and -), "
				   "found %s%s%s", sn ? "`" : "", sn ? sn : ydoc_kind(kn),
				   sn ? "`" : "");
			continue;
		}
		flow_load_step(L, &f->steps[f->n_steps++], sn, kn, ydoc_map_value(L->y, steps, i));
	}
}

/* start: a step name (default: the first step). */
static void parse_start(struct flow_loader *L, struct flow *f, yaml_node_t *root)
{
	yaml_node_t *v = ydoc_get(L->y, root, "start");
	const char **names, *s, *sg = NULL;
	struct flow_loc sl;
	unsigned i;

	if (!v) {
		if (f->n_steps)
			f->start_idx = 0;
		return;
	}
	s = flow_load_step_ref(L, v, &sl);
	if (!s)
		return;
	f->start_idx = flow_step_index(f, s);
	if (f->start_idx >= 0)
		return;
	names = talloc_array(L->fs, const char *, f->n_steps);
	for (i = 0; names && i < f->n_steps; i++)
		names[i] = f->steps[i].name;
	if (names)
		sg = diag_suggest(s, names, f->n_steps);
	if (sg)
		ydoc_error(L->y, v, "start: no step named `%s` \u2014 did you mean `%s`?", s, sg);
	else
		ydoc_error(L->y, v, "start: no step named `%s`", s);
	talloc_free(names);
}

static void load_flow(struct flow_loader *L, yaml_node_t *root)
{
	struct flow *f = new_flow(L);
	yaml_node_t *v;
	const char *name;

	if (!f) {
		diag_add(L->d, DIAG_ERROR, L->file, 0, 0, "out of memory");
		return;
	}
	f->file = L->file;
	f->loc = flow_load_loc(L, root);
	f->start_idx = -1;
	f->timeout_s = DEFAULT_TIMEOUT_S;
	ydoc_check_keys(L->y, root, flow_keys, ARRAY_SIZE(flow_keys));

	v = ydoc_get(L->y, root, "flow");
	name = ydoc_scalar(v);
	if (!name || !flow_load_is_name(name))
		ydoc_error(L->y, v, "the flow's name must be a word (letters, digits, _ and -), "
			   "found %s%s%s", name ? "`" : "", name ? name : ydoc_kind(v),
			   name ? "`" : "");
	else
		f->name = flow_load_dup(L, name);
	f->loc = flow_load_loc(L, v);

	if ((v = ydoc_get(L->y, root, "title")))
		flow_load_text(L, v, &f->title);
	else
		ydoc_error(L->y, root, "missing `title`: the name people see in the list of "
			   "services");
	parse_entry(L, f, root);
	if ((v = ydoc_get(L->y, root, "timeout")) && !ydoc_duration(L->y, v, &f->timeout_s) &&
	    !f->timeout_s)
		ydoc_error(L->y, v, "a timeout of 0 would expire every session at once");
	if ((v = ydoc_get(L->y, root, "on_timeout")))
		flow_load_text(L, v, &f->on_timeout);
	if ((v = ydoc_get(L->y, root, "help")))
		flow_load_text(L, v, &f->help);
	parse_steps(L, f, root);
	if (!f->steps)
		return;
	flow_index_steps(L->fs, f);
	parse_start(L, f, root);
	resolve_flow(f);
}

/* Built-in texts, short and in GSM-7 (no ê, ô, ç...), so that each fits one SMS part. */
static const char *const msg_keys[] = { "welcome", "help", "invalid", "too_many_tries",
					"stopped", "expired", "backend_error", "busy", "more",
					"contact", "invalid_session", "pick", "suggest", "saturated",
					"limited" };	/* limited last: see apply_defaults() */
static const char *const msg_defaults[] = {
	"Envoyez le mot-clé d'un service :",
	NULL,	/* built from the words: see apply_defaults() */
	"Réponse non comprise. Réessayez.",
	"Trop d'erreurs. Renvoyez le mot-clé pour recommencer ou appelez le {{contact}}.",
	"Demande annulée.",
	"Votre demande a expiré. Renvoyez le mot-clé pour recommencer.",
	"Service indisponible. Réessayez plus tard ou appelez le {{contact}}.",
	"Un instant, nous traitons votre demande.",
	"Suite",
	"3939",
	"Session invalide.",
	"Répondez {{choices}}.",
	"Vouliez-vous dire {{keyword}} ? Répondez 1 pour oui.",
	"Service saturé. Merci de rappeler dans quelques minutes.",
	"Trop de messages. Réessayez dans une heure.",
};

/* Their USSD versions, where the SMS wording asks for something a keypad cannot send. */
static const char *const msg_defaults_ussd[] = {
	NULL, NULL, NULL,
	"Trop d'erreurs. Recomposez le code ou appelez le {{contact}}.",
	NULL,
	"Votre demande a expiré. Recomposez le code pour recommencer.",
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	"Trop de demandes. Réessayez dans une heure.",
};
_Static_assert(ARRAY_SIZE(msg_defaults_ussd) == ARRAY_SIZE(msg_keys) &&
	       ARRAY_SIZE(msg_defaults) == ARRAY_SIZE(msg_keys), "one default per message");

static struct flow_text *msg_slot(struct flow_messages *m, unsigned i)
{
	struct flow_text *slots[] = { &m->welcome, &m->help, &m->invalid, &m->too_many_tries,
				      &m->stopped, &m->expired, &m->backend_error, &m->busy,
				      &m->more, &m->contact, &m->invalid_session, &m->pick,
				      &m->suggest, &m->saturated, &m->limited };

	return slots[i];
}

static const char *const word_keys[] = { "help", "back", "restart", "stop", "more" };

static void word_slot(struct flow_words *w, unsigned i, const char ****list, unsigned **n)
{
	switch (i) {
	case 0: *list = &w->help; *n = &w->n_help; break;
	case 1: *list = &w->back; *n = &w->n_back; break;
	case 2: *list = &w->restart; *n = &w->n_restart; break;
	case 3: *list = &w->stop; *n = &w->n_stop; break;
	default: *list = &w->more; *n = &w->n_more; break;
	}
}

static void load_common(struct flow_loader *L, yaml_node_t *root)
{
	yaml_node_t *c = ydoc_get(L->y, root, "common"), *v, *ck = NULL;
	unsigned i;

	for (i = 0; i < ydoc_len(root) && !ck; i++)
		if (ydoc_map_value(L->y, root, i) == c)
			ck = ydoc_map_key(L->y, root, i);

	ydoc_check_keys(L->y, root, KEYS("common"));
	if (L->common_file) {
		ydoc_error(L->y, ck, "common settings again: they are already in %s:%u:%u (only one "
			   "file may hold `common:`)", L->common_file, L->common_line,
			   L->common_col);
		return;
	}
	L->common_file = L->file;
	L->common_line = ydoc_line(ck);
	L->common_col = ydoc_col(ck);
	if (ydoc_is_null(c))
		return;
	if (!ydoc_is_map(c)) {
		ydoc_error(L->y, c, "expected { words: ..., messages: ... }, found %s", ydoc_kind(c));
		return;
	}
	ydoc_check_keys(L->y, c, KEYS("words", "messages"));
	if ((v = ydoc_get(L->y, c, "words"))) {
		if (!ydoc_is_map(v)) {
			ydoc_error(L->y, v, "expected a mapping like { stop: [STOP, ARRET] }, found %s",
				   ydoc_kind(v));
		} else {
			ydoc_check_keys(L->y, v, word_keys, ARRAY_SIZE(word_keys));
			for (i = 0; i < ARRAY_SIZE(word_keys); i++) {
				yaml_node_t *wn = ydoc_get(L->y, v, word_keys[i]);
				const char ***list;
				unsigned *n;

				if (!wn)
					continue;
				word_slot(&L->fs->words, i, &list, &n);
				flow_load_words(L, wn, list, n, NULL, "word", true);
			}
		}
	}
	if ((v = ydoc_get(L->y, c, "messages"))) {
		if (!ydoc_is_map(v)) {
			ydoc_error(L->y, v, "expected a mapping like { stopped: \"...\" }, found %s",
				   ydoc_kind(v));
		} else {
			ydoc_check_keys(L->y, v, msg_keys, ARRAY_SIZE(msg_keys));
			for (i = 0; i < ARRAY_SIZE(msg_keys); i++) {
				yaml_node_t *mn = ydoc_get(L->y, v, msg_keys[i]);

				if (mn)
					flow_load_text(L, mn, msg_slot(&L->fs->msg, i));
			}
		}
	}
}

static void load_document(struct flow_loader *L, struct ydoc *y)
{
	yaml_node_t *root = ydoc_root(y);
	bool is_flow, is_common;

	L->y = y;
	L->file = talloc_strdup(L->fs, y->file);
	if (!root || ydoc_is_null(root)) {
		diag_add(L->d, DIAG_WARNING, L->file, 0, 0, "empty file, ignored");
		return;
	}
	if (!ydoc_is_map(root)) {
		ydoc_error(y, root, "expected `flow:` (a procedure) or `common:` (shared words and "
			   "messages) at the top of the file, found %s", ydoc_kind(root));
		return;
	}
	is_flow = ydoc_get(y, root, "flow") != NULL;
	is_common = ydoc_get(y, root, "common") != NULL;
	if (is_flow && is_common) {
		ydoc_error(y, ydoc_get(y, root, "common"), "`common:` goes in a file of its own, "
			   "not in a flow");
		is_common = false;
	}
	if (is_flow) {
		load_flow(L, root);
	} else if (is_common) {
		load_common(L, root);
	} else {
		static const char *const top[] = { "flow", "common" };
		unsigned i, len = ydoc_len(root);
		const char *sg = NULL;

		for (i = 0; i < len && !sg; i++)
			sg = diag_suggest(ydoc_scalar(ydoc_map_key(y, root, i)), top, 2);
		if (sg)
			ydoc_error(y, ydoc_map_key(y, root, i - 1), "unknown key `%s` \u2014 did you "
				   "mean `%s`?", ydoc_scalar(ydoc_map_key(y, root, i - 1)), sg);
		else
			ydoc_error(y, root, "a flow file starts with `flow:` (a procedure) or "
				   "`common:` (shared words and messages)");
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Defaults and the set */

/* ussd: a USSD version, NULL when the text says nothing a keypad cannot do. */
static void default_text(struct flow_set *fs, struct flow_text *t, const char *text,
			 const char *ussd)
{
	if (t->n)
		return;
	t->tr = talloc_zero_array(fs, struct flow_tr, 1);
	if (!t->tr)
		return;
	t->tr[0].lang = "fr";
	t->tr[0].text = talloc_strdup(fs, text);
	t->tr[0].ussd = ussd ? talloc_strdup(fs, ussd) : NULL;
	flow_tr_mark_gsm7(&t->tr[0]);
	t->n = 1;
}

static void default_words(struct flow_set *fs, unsigned i, const char *const *w, unsigned n)
{
	const char ***list;
	unsigned *count, j;

	word_slot(&fs->words, i, &list, &count);
	if (*count)
		return;
	*list = talloc_array(fs, const char *, n);
	if (!*list)
		return;
	for (j = 0; j < n; j++)
		(*list)[j] = talloc_strdup(fs, w[j]);
	*count = n;
}

static void apply_defaults(struct flow_set *fs)
{
	static const char *const help[] = { "AIDE", "HELP" };
	static const char *const back[] = { "0" };
	static const char *const restart[] = { "00" };
	static const char *const stop[] = { "STOP", "ARRET" };
	static const char *const more[] = { "9" };
	unsigned i;

	default_words(fs, 0, help, ARRAY_SIZE(help));
	default_words(fs, 1, back, ARRAY_SIZE(back));
	default_words(fs, 2, restart, ARRAY_SIZE(restart));
	default_words(fs, 3, stop, ARRAY_SIZE(stop));
	default_words(fs, 4, more, ARRAY_SIZE(more));
	/* A dialled code is a request, not a message: its own default screen. */
	if (!fs->msg.limited.n) {
		default_text(fs, &fs->msg.limited, msg_defaults[ARRAY_SIZE(msg_keys) - 1],
			     msg_defaults_ussd[ARRAY_SIZE(msg_keys) - 1]);
	}
	for (i = 0; i < ARRAY_SIZE(msg_keys); i++) {
		if (!msg_defaults[i])
			continue;
		default_text(fs, msg_slot(&fs->msg, i), msg_defaults[i], msg_defaults_ussd[i]);
	}
	/* The help text names the words actually in use, so it stays true when an
	 * administrator changes them. */
	if (!fs->msg.help.n && fs->words.n_back && fs->words.n_restart && fs->words.n_stop) {
		char *h = talloc_asprintf(fs, "Envoyez %s pour revenir, %s pour recommencer, %s "
					  "pour finir. Conseiller : {{contact}}",
					  fs->words.back[0], fs->words.restart[0], fs->words.stop[0]);
		/* A keypad cannot type STOP; hanging up ends a USSD dialogue anyway. */
		char *u = talloc_asprintf(fs, "%s retour, %s recommencer. Conseiller : {{contact}}",
					  fs->words.back[0], fs->words.restart[0]);

		if (h && u)
			default_text(fs, &fs->msg.help, h, u);
		talloc_free(h);
		talloc_free(u);
	}
}

/* Every set starts at version 1: the loader keeps nothing between loads (two loads of the same
 * files give equal sets), and the router, which holds the sets in use, numbers reloads
 * (router_set_flows). */
static struct flow_set *new_set(void *ctx)
{
	struct flow_set *fs = talloc_zero(ctx, struct flow_set);

	if (fs)
		fs->version = 1;
	return fs;
}

/* Defaults, cross checks, then keep the set only if no error was added. */
static struct flow_set *finish(struct flow_loader *L, const char *where,
			       const struct flow_env *env, unsigned errors_before)
{
	if (!L->fs->n_flows && L->d->n_errors == errors_before)
		diag_add(L->d, DIAG_ERROR, where, 0, 0, "no flow found (a flow file starts with "
			 "`flow:`)");
	apply_defaults(L->fs);
	flow_index_flows(L->fs, L->fs);
	flow_check(L->fs, env, L->d);
	if (L->d->n_errors != errors_before) {
		talloc_free(L->fs);
		return NULL;
	}
	return L->fs;
}

struct flow_set *flow_set_load_string(void *ctx, const char *name, const char *yaml,
				      const struct flow_env *env, struct diag *d)
{
	struct flow_loader L = { .d = d };
	unsigned errors_before = d->n_errors;
	struct ydoc y;

	L.fs = new_set(ctx);
	if (!L.fs)
		return NULL;
	if (ydoc_load_string(&y, L.fs, name, yaml, d) == 0)
		load_document(&L, &y);
	ydoc_free(&y);
	return finish(&L, name, env, errors_before);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".yaml");
}

struct flow_set *flow_set_load(void *ctx, const char *path, const struct flow_env *env,
			       struct diag *d)
{
	struct flow_loader L = { .d = d };
	unsigned errors_before = d->n_errors, n = 0, i;
	struct stat sb;
	char **names = NULL;
	DIR *dir;
	struct dirent *de;

	L.fs = new_set(ctx);
	if (!L.fs)
		return NULL;
	if (stat(path, &sb) < 0) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
		talloc_free(L.fs);
		return NULL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		struct ydoc y;

		if (ydoc_load_file(&y, L.fs, path, d) == 0)
			load_document(&L, &y);
		ydoc_free(&y);
		return finish(&L, path, env, errors_before);
	}
	dir = opendir(path);
	if (!dir) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
		talloc_free(L.fs);
		return NULL;
	}
	names = talloc_array(L.fs, char *, MAX_FLOW_FILES);
	while (names && (de = readdir(dir))) {
		if (!is_yaml_name(de->d_name))
			continue;
		if (n == MAX_FLOW_FILES) {
			diag_add(d, DIAG_ERROR, path, 0, 0, "more than %u flow files",
				 MAX_FLOW_FILES);
			break;
		}
		names[n++] = talloc_asprintf(names, "%s/%s", path, de->d_name);
	}
	closedir(dir);
	if (!names) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "out of memory");
		talloc_free(L.fs);
		return NULL;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		struct ydoc y;

		if (!names[i])
			continue;
		if (ydoc_load_file(&y, L.fs, names[i], d) == 0)
			load_document(&L, &y);
		ydoc_free(&y);
	}
	talloc_free(names);
	return finish(&L, path, env, errors_before);
}
