/* The flows as a static HTML site (see report.h): the pages, their frame and the files;
 * a step's card in report_step.c, a dialogue in report_dialogue.c (report_page.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "guichet/draw.h"
#include "guichet/flow_graph.h"
#include "guichet/report_page.h"
#include "guichet/template.h"

/* A drawing bigger than this is linked, not inlined: a page must stay readable on a phone. */
#define INLINE_SVG_MAX	(2 * 1024 * 1024)

/* One style sheet, inlined in every page: pages open alone, from anywhere. */
static const char css[] =
	":root{--ink:#1d1d1f;--muted:#5f6368;--line:#d9d9de;--accent:#1f5fa8;--warn:#b3261e;"
	"--ucs2:#a15c00;--bg:#fff;--soft:#f5f6f8}"
	"*{box-sizing:border-box}"
	"body{margin:0 auto;max-width:64rem;padding:1rem;font:16px/1.45 system-ui,-apple-system,"
	"'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:var(--bg)}"
	"a{color:var(--accent)}"
	"h1{font-size:1.6rem;margin:.2rem 0 .4rem}h2{font-size:1.25rem;margin:2rem 0 .6rem;"
	"border-bottom:2px solid var(--line);padding-bottom:.2rem}h3{font-size:1.05rem;margin:0 0 .4rem}"
	"nav{font-size:.95rem;margin-bottom:.6rem}"
	".muted{color:var(--muted);font-size:.9rem}"
	"kbd{font:inherit;font-weight:600;background:var(--soft);border:1px solid var(--line);"
	"border-radius:4px;padding:0 .3rem;white-space:nowrap}"
	".cards{list-style:none;padding:0;display:grid;gap:.8rem;"
	"grid-template-columns:repeat(auto-fill,minmax(16rem,1fr))}"
	".card,.step,.dialogue{border:1px solid var(--line);border-radius:8px;padding:.8rem;"
	"background:#fff}"
	".step,.dialogue{margin:.8rem 0}"
	".kind{font-size:.8rem;font-weight:500;color:var(--muted);border:1px solid var(--line);"
	"border-radius:1rem;padding:0 .5rem;margin-left:.3rem;vertical-align:middle}"
	".alert{color:var(--warn);font-weight:600}"
	"figure.drawing{margin:0;overflow:auto;border:1px solid var(--line);border-radius:8px;"
	"padding:.5rem;background:#fff}"
	"figure.drawing svg{max-width:100%;height:auto}"
	".scroll{overflow-x:auto}"
	"table{border-collapse:collapse;width:100%;font-size:.92rem}"
	"th,td{text-align:left;vertical-align:top;border-bottom:1px solid var(--line);"
	"padding:.35rem .4rem}"
	"th{font-weight:600;color:var(--muted)}"
	".text{white-space:pre-wrap;overflow-wrap:anywhere}"
	".cost{white-space:nowrap}.ucs2{color:var(--ucs2);font-weight:600}"
	".over{color:var(--warn);font-weight:600}"
	".ways{margin:.4rem 0 0;padding-left:1.2rem;font-size:.92rem}.ways li{white-space:pre-line}"
	".ways .err{color:var(--warn)}"
	".phone{max-width:23rem;margin:.6rem 0;padding:.8rem .7rem;border:2px solid #c9ccd3;"
	"border-radius:1.4rem;background:var(--soft)}"
	".bubble{width:fit-content;max-width:85%;margin:.35rem 0;padding:.45rem .65rem;border-radius:1rem;"
	"white-space:pre-wrap;overflow-wrap:anywhere}"
	".bubble.me{margin-left:auto;background:#1f5fa8;color:#fff;border-bottom-right-radius:.3rem}"
	".bubble.them{background:#fff;border:1px solid var(--line);border-bottom-left-radius:.3rem}"
	".bubble .meta,.screen .meta{display:block;font-size:.75rem;color:var(--muted);"
	"margin-top:.25rem;white-space:normal}"
	".bubble.me .meta{color:#dbe7f5}"
	".screen{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
	"font-size:.9rem;background:#10261b;color:#c8f7d4;border-radius:6px;padding:.6rem;"
	"margin:.35rem 0;white-space:pre-wrap;overflow-wrap:anywhere;max-width:28ch}"
	".screen .meta{color:#8fc7a0}"
	".dial{font-family:ui-monospace,monospace;text-align:right;margin:.35rem 0}"
	".event{text-align:center;font-size:.8rem;color:var(--muted);margin:.4rem 0}"
	".fail{border-color:var(--warn)}.fail pre{white-space:pre-wrap;font-size:.8rem}"
	".total{font-weight:600}"
	"footer{margin-top:2rem;font-size:.85rem;color:var(--muted)}"
	"@media (max-width:40rem){body{padding:.6rem;font-size:15px}h1{font-size:1.35rem}"
	"th,td{padding:.3rem .25rem}.phone{max-width:100%}"
	/* on a phone, each text is a block: its wording gets the whole width */
	".texts thead{display:none}.texts tr{display:block;border-bottom:1px solid var(--line);"
	"padding:.3rem 0}.texts td{display:inline;border:0;padding:0 .5rem 0 0}"
	".texts td.text{display:block;padding:.15rem 0}"
	".texts td:first-child{font-weight:600}}"
	"@media print{nav,.noprint{display:none}body{max-width:none;padding:0;font-size:11pt}"
	"a{color:inherit;text-decoration:none}h2{break-after:avoid}"
	".step,.dialogue,.card,figure.drawing,tr{break-inside:avoid}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
	".phone{border-color:#999}}";

/* ---- escaping --------------------------------------------------------------------------------- */

/* Writes s HTML-escaped: markup characters as entities, control characters but newline and
 * tab as spaces. Safe in text and in double-quoted attributes. */
void report_h(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			fputc(c < 0x20 && c != '\n' && c != '\t' ? ' ' : c == 0x7F ? ' ' : c, f);
		}
	}
}

/* An id attribute's value from a step name (letters, digits, _ and -: the loader's rule);
 * anything else becomes '_'. */
void report_id(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		fputc((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' ? c : '_', f);
	}
}

const char *report_fr(const struct flow_text *t)
{
	return flow_text_pick(t, "fr", false);
}

const char *report_coding(enum text_coding c)
{
	return c == TEXT_GSM7 ? "GSM-7" : "UCS-2";
}

static void head(struct page *p, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"guichet report\">\n<title>", p->f);
	report_h(p->f, title);
	fprintf(p->f, " \u2014 Guichet</title>\n<style>%s</style>\n</head>\n<body>\n", css);
}

static void foot(struct page *p)
{
	const struct flow_words *w = &p->fs->words;
	const struct { const char *what; const char *const *l; unsigned n; } words[] = {
		{ "aide", w->help, w->n_help }, { "question pr\u00e9c\u00e9dente", w->back, w->n_back },
		{ "recommencer", w->restart, w->n_restart }, { "arr\u00eater", w->stop, w->n_stop },
		{ "page suivante", w->more, w->n_more },
	};

	fputs("<footer><p>Mots compris \u00e0 chaque \u00e9tape : ", p->f);
	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		for (unsigned j = 0; j < words[i].n; j++) {
			fputs(j ? ", " : i ? " ; " : "", p->f);
			fputs("<kbd>", p->f);
			report_h(p->f, words[i].l[j]);
			fputs("</kbd>", p->f);
		}
		if (words[i].n)
			fprintf(p->f, " %s", words[i].what);
	}
	fprintf(p->f, ".</p><p>Tailles mesur\u00e9es comme le t\u00e9l\u00e9phone les re\u00e7oit : "
		"%s ; SMS de %u partie%s au plus ; \u00e9cran USSD de %u caract\u00e8res. "
		"Page produite par <code>guichet report</code> \u00e0 partir des fichiers YAML des "
		"d\u00e9marches : elle dit ce qu'ils disent.</p></footer>\n</body>\n</html>\n",
		p->o->ro.fold ? "textes ramen\u00e9s \u00e0 l'alphabet GSM (\u00ea \u2192 e, "
		"\u2019 \u2192 ')" : "textes envoy\u00e9s tels quels", p->o->ro.max_parts,
		p->o->ro.max_parts > 1 ? "s" : "", p->o->ro.screen);
}

static void entries(struct page *p, const struct flow *f)
{
	if (f->n_keywords) {
		fputs("SMS : ", p->f);
		for (unsigned i = 0; i < f->n_keywords; i++) {
			fputs(i ? ", <kbd>" : "<kbd>", p->f);
			report_h(p->f, f->keywords[i]);
			fputs("</kbd>", p->f);
		}
	}
	if (f->n_ussd) {
		fputs(f->n_keywords ? " \u00b7 USSD : " : "USSD : ", p->f);
		for (unsigned i = 0; i < f->n_ussd; i++) {
			fputs(i ? ", <kbd>" : "<kbd>", p->f);
			report_h(p->f, f->ussd_codes[i]);
			fputs("</kbd>", p->f);
		}
	}
}

/* ---- a flow's page ------------------------------------------------------------------------------ */

/* The SVG file's content from its <svg ...> on (no XML prolog nor DOCTYPE inside HTML). */
static char *svg_inline(void *ctx, const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf, *start;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > INLINE_SVG_MAX ||
	    fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return NULL;
	}
	buf = talloc_size(ctx, (size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		talloc_free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	start = strstr(buf, "<svg");
	return start ? talloc_strdup(ctx, start) : NULL;
}

/* ---- dialogues ---------------------------------------------------------------------------------- */

/* The flow a dialogue is about: the one its first text starts. NULL for the welcome message,
 * the USSD menu of services, and anything else no flow answers to. */
static const struct flow *dialogue_flow(const struct flow_set *fs, const struct flowtest *t)
{
	for (unsigned i = 0; i < t->n_steps; i++) {
		const char *s = t->steps[i].send;

		if (!s)
			continue;
		return t->channel == CHANNEL_USSD ? flow_by_ussd(fs, s) : flow_by_keyword(fs, s);
	}
	return NULL;
}

/* ---- files -------------------------------------------------------------------------------------- */

struct out {
	char *path, *tmp;
};

static FILE *open_out(void *ctx, const char *dir, const char *name, struct out *o,
		      char *err, size_t err_len)
{
	FILE *f;

	o->path = talloc_asprintf(ctx, "%s/%s", dir, name);
	o->tmp = talloc_asprintf(ctx, "%s/.%s.tmp", dir, name);
	f = o->tmp ? fopen(o->tmp, "w") : NULL;
	if (!f)
		snprintf(err, err_len, "%s: %s", o->tmp ? o->tmp : name, strerror(errno));
	return f;
}

/* Written under a temporary name and renamed: a page is complete or absent. */
static int close_out(FILE *f, struct out *o, char *err, size_t err_len)
{
	bool bad = ferror(f);

	if (fclose(f) || bad || rename(o->tmp, o->path) < 0) {
		snprintf(err, err_len, "%s: %s", o->path, strerror(errno ? errno : EIO));
		unlink(o->tmp);
		return -1;
	}
	return 0;
}

struct dialogues {
	unsigned n;
	struct flowtest_result **r;
	const struct flow **flow;
	unsigned errors;		/* errors in the dialogue files (those files left out) */
};

/* A flow page's head: its title, how it starts, its file and timeout, the page's links. */
static void flow_header(struct page *p, const struct flow *fl, const char *title, unsigned nd)
{
	head(p, title ? title : fl->name);
	fputs("<nav><a href=\"index.html\">\u2190 Toutes les d\u00e9marches</a></nav>\n<header>"
	      "<h1>", p->f);
	report_h(p->f, title ? title : fl->name);
	fputs("</h1>\n<p>", p->f);
	entries(p, fl);
	fputs("</p>\n<p class=\"muted\">D\u00e9marche <code>", p->f);
	report_h(p->f, fl->name);
	fputs("</code>, fichier <code>", p->f);
	report_h(p->f, strrchr(fl->file, '/') ? strrchr(fl->file, '/') + 1 : fl->file);
	fprintf(p->f, "</code> \u00b7 %u \u00e9tape%s \u00b7 expire apr\u00e8s ", fl->n_steps,
		fl->n_steps > 1 ? "s" : "");
	report_duration(p->f, fl->timeout_s);
	fputs(" sans r\u00e9ponse</p>\n", p->f);
	fprintf(p->f, "<p class=\"noprint\"><a href=\"#dessin\">Le parcours</a> \u00b7 <a "
		"href=\"#etapes\">Les \u00e9tapes et leurs textes</a> \u00b7 <a href=\"#appels\">"
		"Appels aux services</a> \u00b7 <a href=\"#dialogues\">Dialogues de test (%u)</a>"
		"</p>\n</header>\n<main>\n", nd);
}

/* The drawing, inlined (or linked when it is too big or could not be made). */
static void drawing_section(struct page *p, const struct flow *fl, const struct flow_graph *g,
			    const char *svg, const char *derr)
{
	fputs("<section id=\"dessin\"><h2>Le parcours</h2>\n", p->f);
	if (g->n_unreachable || g->n_dead_ends || g->n_stuck)
		fprintf(p->f, "<p class=\"alert\">%u \u00e9tape(s) inaccessible(s), %u impasse(s), "
			"%u \u00e9tape(s) d'o\u00f9 aucune fin n'est atteignable : encadr\u00e9es en "
			"rouge.</p>\n", g->n_unreachable, g->n_dead_ends, g->n_stuck);
	if (svg) {
		fputs("<figure class=\"drawing\">", p->f);
		fputs(svg, p->f);
		fputs("</figure>\n<p class=\"muted\">Chaque bo\u00eete est une \u00e9tape, avec son "
		      "texte tel que le t\u00e9l\u00e9phone l'affiche ; chaque fl\u00e8che, une "
		      "r\u00e9ponse ou une condition ; en pointill\u00e9 rouge, les erreurs. "
		      "<a href=\"", p->f);
		report_h(p->f, fl->name);
		fputs(".svg\">Le dessin seul</a> \u00b7 <a href=\"", p->f);
		report_h(p->f, fl->name);
		fputs(".dot\">sa source Graphviz</a>.</p>\n", p->f);
	} else {
		fputs("<p class=\"alert\">Pas de dessin : ", p->f);
		report_h(p->f, *derr ? derr : "le dessin est trop grand pour \u00eatre int\u00e9gr\u00e9");
		fputs(". <a href=\"", p->f);
		report_h(p->f, fl->name);
		fputs(".dot\">Source Graphviz</a>.</p>\n", p->f);
	}
	fputs("</section>\n", p->f);
}

static int flow_page(struct page *p, const struct flow *fl, const struct dialogues *dl,
		     const char *dir, struct diag *d, char *err, size_t err_len)
{
	struct flow_graph *g = flow_graph_build(p->tmp, p->fs, fl, &p->o->ro);
	char *svg_path = talloc_asprintf(p->tmp, "%s/%s.svg", dir, fl->name);
	char *dot_path = talloc_asprintf(p->tmp, "%s/%s.dot", dir, fl->name);
	char *svg = NULL, derr[512] = "";
	const char *title = report_fr(&fl->title);
	struct out o;
	unsigned nd = 0, k;

	if (!g) {
		snprintf(err, err_len, "%s: out of memory", fl->name);
		return -1;
	}
	if (draw_write(p->tmp, g, DRAW_DOT, dot_path, err, err_len) < 0)
		return -1;
	if (draw_write(p->tmp, g, DRAW_SVG, svg_path, derr, sizeof(derr)) < 0)
		diag_add(d, DIAG_WARNING, fl->file, 0, 0, "no drawing in the report: %s", derr);
	else
		svg = svg_inline(p->tmp, svg_path);

	p->f = open_out(p->tmp, dir, talloc_asprintf(p->tmp, "%s.html", fl->name), &o, err,
			err_len);
	if (!p->f)
		return -1;
	for (k = 0; k < dl->n; k++)
		nd += dl->flow[k] == fl;
	flow_header(p, fl, title, nd);
	drawing_section(p, fl, g, svg, derr);

	fputs("<section id=\"etapes\"><h2>Les \u00e9tapes et leurs textes</h2>\n", p->f);
	if (fl->title.n || fl->on_timeout.n || fl->help.n) {
		report_texts_open(p->f);
		report_text_rows(p, "titre", &fl->title);
		report_text_rows(p, "apr\u00e8s expiration", &fl->on_timeout);
		report_text_rows(p, "aide de la d\u00e9marche", &fl->help);
		report_texts_close(p->f);
	}
	for (k = 0; k < fl->n_steps; k++)
		report_step_card(p, g, k);
	fputs("</section>\n", p->f);

	report_calls(p, fl);

	fputs("<section id=\"dialogues\"><h2>Dialogues de test</h2>\n", p->f);
	if (!nd)
		fputs("<p>Aucun dialogue de test pour cette d\u00e9marche (voir <code>guichet test"
		      "</code>).</p>\n", p->f);
	for (k = 0; k < dl->n; k++)
		if (dl->flow[k] == fl)
			report_dialogue(p, dl->r[k]);
	fputs("</section>\n</main>\n", p->f);
	foot(p);
	return close_out(p->f, &o, err, err_len);
}

/* The index's card for each flow: its title, how it starts, its dialogues' cost. */
static void flow_cards(struct page *p, const struct dialogues *dl)
{
	const struct flow_set *fs = p->fs;

	for (unsigned i = 0; i < fs->n_flows; i++) {
		const struct flow *f = &fs->flows[i];
		const char *title = report_fr(&f->title);
		unsigned nd = 0, parts = 0, screens = 0;

		for (unsigned k = 0; k < dl->n; k++)
			if (dl->flow[k] == f) {
				nd++;
				parts += dl->r[k]->parts;
				screens += dl->r[k]->screens;
			}
		fputs("<li class=\"card\" id=\"demarche-", p->f);
		report_id(p->f, f->name);
		fputs("\"><h3><a href=\"", p->f);
		report_h(p->f, f->name);
		fputs(".html\">", p->f);
		report_h(p->f, title ? title : f->name);
		fputs("</a></h3>\n<p>", p->f);
		entries(p, f);
		fprintf(p->f, "</p>\n<p class=\"muted\">%u \u00e9tape%s \u00b7 %u dialogue%s de test",
			f->n_steps, f->n_steps > 1 ? "s" : "", nd, nd > 1 ? "s" : "");
		if (nd)
			fprintf(p->f, " (re\u00e7u en tout : %u partie%s SMS, %u \u00e9cran%s USSD)",
				parts, parts > 1 ? "s" : "", screens, screens > 1 ? "s" : "");
		fputs("</p></li>\n", p->f);
	}
}

/* The common messages' texts, with what each costs. */
static void common_messages(struct page *p)
{
	fputs("<section id=\"messages\"><h2>Messages communs</h2>\n", p->f);
	report_texts_open(p->f);
	{
		const struct flow_messages *m = &p->fs->msg;
		const struct { const char *what; const struct flow_text *t; } msgs[] = {
			{ "accueil (welcome)", &m->welcome }, { "aide (help)", &m->help },
			{ "r\u00e9ponse non comprise (invalid)", &m->invalid },
			{ "trop d'essais (too_many_tries)", &m->too_many_tries },
			{ "arr\u00eat (stopped)", &m->stopped }, { "expiration (expired)", &m->expired },
			{ "service en panne (backend_error)", &m->backend_error },
			{ "occup\u00e9 (busy)", &m->busy }, { "page suivante (more)", &m->more },
			{ "contact", &m->contact },
			{ "USSD hors dialogue (invalid_session)", &m->invalid_session },
			{ "USSD satur\u00e9 (saturated)", &m->saturated },
			{ "mauvais num\u00e9ro de menu (pick)", &m->pick },
			{ "mot-cl\u00e9 mal tap\u00e9 (suggest)", &m->suggest },
			{ "limite atteinte (limited)", &m->limited },
		};

		for (unsigned i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
			report_text_rows(p, msgs[i].what, msgs[i].t);
	}
	report_texts_close(p->f);
	fputs("</section>\n", p->f);
}

static int index_page(struct page *p, const struct dialogues *dl, const char *dir, char *err,
		      size_t err_len)
{
	const struct flow_set *fs = p->fs;
	struct out o;
	unsigned others = 0;

	p->f = open_out(p->tmp, dir, "index.html", &o, err, err_len);
	if (!p->f)
		return -1;
	head(p, "Les d\u00e9marches");
	fputs("<header><h1>Les d\u00e9marches</h1>\n<p class=\"muted\">", p->f);
	fprintf(p->f, "%u d\u00e9marche%s", fs->n_flows, fs->n_flows > 1 ? "s" : "");
	if (p->o->flows_path) {
		fputs(" lues dans <code>", p->f);
		report_h(p->f, p->o->flows_path);
		fputs("</code>", p->f);
	}
	fprintf(p->f, ", %u dialogue%s de test.", dl->n, dl->n > 1 ? "s" : "");
	if (dl->errors)
		fprintf(p->f, " <span class=\"alert\">%u erreur%s dans les fichiers de dialogue "
			"(laiss\u00e9s de c\u00f4t\u00e9) : <code>guichet test</code> les montre.</span>",
			dl->errors, dl->errors > 1 ? "s" : "");
	fputs("</p></header>\n<main>\n<ul class=\"cards\">\n", p->f);
	flow_cards(p, dl);
	fputs("</ul>\n", p->f);
	for (unsigned k = 0; k < dl->n; k++)
		others += !dl->flow[k];
	if (others) {
		fputs("<section id=\"accueil\"><h2>Avant toute d\u00e9marche</h2>\n<p>Ce qu'une "
		      "personne re\u00e7oit quand son message ne lance aucune d\u00e9marche, ou "
		      "quand elle compose le code USSD du menu des services.</p>\n", p->f);
		for (unsigned k = 0; k < dl->n; k++)
			if (!dl->flow[k])
				report_dialogue(p, dl->r[k]);
		fputs("</section>\n", p->f);
	}
	common_messages(p);
	fputs("</main>\n", p->f);
	foot(p);
	return close_out(p->f, &o, err, err_len);
}

int report_write(void *ctx, const struct flow_set *fs, const struct report_opts *o,
		 const char *dir, struct diag *d, char *err, size_t err_len)
{
	struct page p = { .o = o, .fs = fs, .tmp = talloc_new(ctx) };
	struct dialogues dl = { 0 };
	struct flowtest **tests = NULL;
	int rc = -1;

	if (!p.tmp) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	if (o->tests_dir) {
		struct diag *td = diag_alloc(p.tmp);
		unsigned n = flowtest_load_dir(p.tmp, o->tests_dir, &tests, td);

		/* A broken dialogue file is guichet test's business: the report says so and
		 * shows the others. */
		dl.errors = td->n_errors;
		if (td->n_errors)
			diag_add(d, DIAG_WARNING, o->tests_dir, 0, 0, "%u error(s) in the test "
				 "dialogues: left out of the report (guichet test shows them)",
				 td->n_errors);
		dl.r = talloc_zero_array(p.tmp, struct flowtest_result *, n ? n : 1);
		dl.flow = talloc_zero_array(p.tmp, const struct flow *, n ? n : 1);
		for (unsigned i = 0; dl.r && dl.flow && i < n; i++) {
			const struct flow *f = dialogue_flow(fs, tests[i]);

			if (!f && o->only_flows)
				continue;
			dl.r[dl.n] = flowtest_run(p.tmp, fs, tests[i], &o->to);
			dl.flow[dl.n] = f;
			dl.n++;
		}
	}
	for (unsigned i = 0; i < fs->n_flows; i++)
		if (flow_page(&p, &fs->flows[i], &dl, dir, d, err, err_len) < 0)
			goto out;
	rc = index_page(&p, &dl, dir, err, err_len);
out:
	talloc_free(p.tmp);
	return rc;
}
