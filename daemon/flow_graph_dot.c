/* A flow's graph written as Graphviz DOT (flow_graph_write_dot, flow_graph.h): deterministic,
 * so that the drawings can be compared byte for byte. */
#include <stdio.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flow_graph.h"

#define WRAP_CHARS	36	/* characters per line in a box */

/* ---- DOT ------------------------------------------------------------------------------------- */

/* Writes one HTML-like label character: markup as entities, control characters as spaces. */
static void put_char(FILE *out, unsigned char c)
{
	switch (c) {
	case '&': fputs("&amp;", out); break;
	case '<': fputs("&lt;", out); break;
	case '>': fputs("&gt;", out); break;
	case '"': fputs("&quot;", out); break;
	case '\'': fputs("&#39;", out); break;
	default: fputc(c < 0x20 || c == 0x7F ? ' ' : c, out); break;
	}
}

/* A short string (a name, a word) in an HTML-like label, on one line, at most max bytes. */
static void put_esc(FILE *out, const char *s, size_t max)
{
	char *c = flow_graph_clip(NULL, s, max);

	for (const char *p = c ? c : ""; *p; p++)
		put_char(out, (unsigned char)*p);
	talloc_free(c);
}

/* Writes text for an HTML-like label: markup characters as entities, control characters as
 * spaces, lines wrapped at WRAP_CHARS characters (at a space when there is one), each line
 * ended by a left-aligned break. At most max bytes of text are written. */
static void put_html(FILE *out, const char *s, size_t max)
{
	unsigned col = 0;
	const char *p = s, *end = s + strlen(s);
	bool cut = false;

	if (end - s > (ptrdiff_t)max) {
		/* on a character boundary: Graphviz wants valid UTF-8 */
		end = s + max;
		while (end > s && ((unsigned char)*end & 0xC0) == 0x80)
			end--;
		cut = true;
	}
	while (p < end) {
		/* the next word: up to a space or newline */
		size_t wl = strcspn(p, " \n");
		unsigned wchars = 0;
		const char *q;

		if (p + wl > end)
			wl = end - p;
		for (q = p; q < p + wl; q++)
			wchars += ((unsigned char)*q & 0xC0) != 0x80;
		if (col && col + 1 + wchars > WRAP_CHARS) {
			fputs("<br align=\"left\"/>", out);
			col = 0;
		} else if (col) {
			fputc(' ', out);
			col++;
		}
		for (q = p; q < p + wl; q++) {
			unsigned char c = (unsigned char)*q;

			if ((c & 0xC0) != 0x80 && col >= WRAP_CHARS) {
				fputs("<br align=\"left\"/>", out);
				col = 0;
			}
			put_char(out, c);
			col += (c & 0xC0) != 0x80;
		}
		p += wl;
		if (p < end && *p == '\n') {
			fputs("<br align=\"left\"/>", out);
			col = 0;
		}
		if (p < end)
			p++;	/* the space or newline */
	}
	if (cut) {
		fputs("\u2026", out);
		col++;
	}
	if (col)
		fputs("<br align=\"left\"/>", out);
}

/* Writes s as the inside of a DOT double-quoted string: \ and " escaped, newlines as
 * left-justified line ends, control characters as spaces. */
static void put_quoted(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else
			fputc(c < 0x20 || c == 0x7F ? ' ' : c, out);
	}
}

static const char *coding(const struct text_measure *m)
{
	return m->coding == TEXT_GSM7 ? "GSM-7" : "UCS-2";
}

static void put_sizes(FILE *out, const struct flow_graph_text *t)
{
	fprintf(out, "SMS %s, %u partie%s", coding(&t->sms_m), t->sms_m.parts,
		t->sms_m.parts > 1 ? "s" : "");
	fprintf(out, " &#183; USSD %u/%u%s", t->ussd_m.units, t->ussd_room,
		t->ussd_fits ? "" : " (pages)");
	if (t->vars)
		fputs(" &#183; + variables", out);
}

static const char *fill_of(const struct flow_graph_node *n)
{
	if (n->unreachable)
		return "#e0e0e0";
	if (n->kind != FG_STEP)
		return "#fde8e6";
	switch (n->step >= 0 ? n->kind_step : STEP_SAY) {
	case STEP_MENU: return "#dbe9f6";
	case STEP_ASK: return "#e2f0dc";
	case STEP_CALL: return "#fbefd2";
	case STEP_BRANCH: return "#ece3f5";
	case STEP_SAY: return "#f2f2f2";
	}
	return "#ffffff";
}

static void put_node(FILE *out, const struct flow_graph_node *n)
{
	const char *warn[3] = { n->unreachable ? "inaccessible depuis le d\u00e9but" : NULL,
				n->dead_end ? "impasse : aucune suite" : NULL,
				n->stuck ? "aucune fin atteignable d'ici" : NULL };
	bool alarm = n->dead_end || n->stuck || n->unreachable;

	fputs("  \"", out);
	put_quoted(out, n->id);
	fprintf(out, "\" [fillcolor=\"%s\"", fill_of(n));
	if (n->kind != FG_STEP)
		fputs(", style=\"rounded,filled,dashed\"", out);
	else if (n->unreachable)
		fputs(", style=\"filled,dashed\"", out);
	if (alarm)
		fputs(", color=\"#c62828\", penwidth=3", out);
	if (n->end && n->kind == FG_STEP)
		fputs(", peripheries=2", out);
	fputs(", label=<<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"2\">"
	      "<tr><td align=\"left\"><b>", out);
	put_esc(out, n->title, FLOW_GRAPH_LABEL_MAX);
	fprintf(out, "</b> <font point-size=\"9\">%s</font>", n->kind_name);
	fputs("</td></tr>", out);
	for (unsigned i = 0; i < 3; i++)
		if (warn[i])
			fprintf(out, "<tr><td align=\"left\"><font color=\"#c62828\"><b>%s</b>"
				"</font></td></tr>", warn[i]);
	if (n->text.sms) {
		fputs("<tr><td align=\"left\" balign=\"left\">", out);
		put_html(out, n->text.sms, FLOW_GRAPH_TEXT_MAX);
		fputs("</td></tr><tr><td align=\"left\"><font point-size=\"9\" "
		      "color=\"#555555\">", out);
		put_sizes(out, &n->text);
		fputs("</font></td></tr>", out);
	}
	if (n->detail && *n->detail) {
		fputs("<tr><td align=\"left\" balign=\"left\"><font point-size=\"9\"><i>", out);
		put_html(out, n->detail, FLOW_GRAPH_TEXT_MAX);
		fputs("</i></font></td></tr>", out);
	}
	fputs("</table>>];\n", out);
}

static void put_edge(FILE *out, const struct flow_graph *g, const struct flow_graph_edge *e)
{
	fputs("  \"", out);
	put_quoted(out, g->nodes[e->from].id);
	fputs("\" -> \"", out);
	put_quoted(out, g->nodes[e->to].id);
	fputs("\" [label=\"", out);
	put_quoted(out, e->label);
	fputc('"', out);
	if (e->error)
		fputs(", color=\"#c62828\", fontcolor=\"#c62828\", style=dashed", out);
	fputs("];\n", out);
}

static void put_words(FILE *out, const char *what, const char *const *w, unsigned n)
{
	unsigned i;

	if (!n)
		return;
	fputs("<tr><td align=\"left\"><b>", out);
	for (i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		put_esc(out, w[i], FLOW_GRAPH_LABEL_MAX);
	}
	fprintf(out, "</b></td><td align=\"left\">%s</td></tr>", what);
}

/* The way in (keywords and codes) and the legend: words valid at every step, drawn once
 * rather than as an arrow from every step. */
static void put_entry_legend(FILE *out, const struct flow_graph *g)
{
	const struct flow *f = g->flow;
	const struct flow_words *w = &g->fs->words;
	unsigned i;

	fputs("  \"#entree\" [shape=plaintext, style=\"\", label=<<table border=\"0\" "
	      "cellborder=\"0\" cellspacing=\"0\"><tr><td align=\"left\"><b>", out);
	put_esc(out, f->name ? f->name : "?", FLOW_GRAPH_LABEL_MAX);
	fputs("</b></td></tr>", out);
	if (f->n_keywords) {
		fputs("<tr><td align=\"left\">SMS : ", out);
		for (i = 0; i < f->n_keywords; i++) {
			if (i)
				fputs(", ", out);
			put_esc(out, f->keywords[i], FLOW_GRAPH_LABEL_MAX);
		}
		fputs("</td></tr>", out);
	}
	if (f->n_ussd) {
		fputs("<tr><td align=\"left\">USSD : ", out);
		for (i = 0; i < f->n_ussd; i++) {
			if (i)
				fputs(", ", out);
			put_esc(out, f->ussd_codes[i], FLOW_GRAPH_LABEL_MAX);
		}
		fputs("</td></tr>", out);
	}
	fputs("</table>>];\n", out);
	fputs("  \"#mots\" [shape=note, fillcolor=\"#fffde7\", fontsize=9, label=<<table "
	      "border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\"><tr><td "
	      "colspan=\"2\" align=\"left\"><b>\u00c0 chaque \u00e9tape (sans fl\u00e8che)</b>"
	      "</td></tr>", out);
	put_words(out, "aide", w->help, w->n_help);
	put_words(out, "question pr\u00e9c\u00e9dente", w->back, w->n_back);
	put_words(out, "recommencer", w->restart, w->n_restart);
	put_words(out, "arr\u00eater", w->stop, w->n_stop);
	put_words(out, "page suivante d'un menu", w->more, w->n_more);
	fputs("<tr><td colspan=\"2\" align=\"left\"><font color=\"#c62828\">- - &#8594; "
	      "erreur : r\u00e9ponses invalides, service en panne</font></td></tr>"
	      "<tr><td colspan=\"2\" align=\"left\">double cadre : fin de la d\u00e9marche</td>"
	      "</tr><tr><td colspan=\"2\" align=\"left\"><font color=\"#c62828\">cadre rouge "
	      "\u00e9pais : inaccessible, impasse ou sans fin</font></td></tr></table>>];\n", out);
	fputs("  { rank=min; \"#entree\"; \"#mots\"; }\n", out);
	if (f->start_idx >= 0 && (unsigned)f->start_idx < f->n_steps) {
		fputs("  \"#entree\" -> \"", out);
		put_quoted(out, g->nodes[f->start_idx].id);
		fputs("\" [penwidth=2];\n", out);
	}
}

int flow_graph_write_dot(const struct flow_graph *g, FILE *out)
{
	unsigned i;

	const char *file = g->flow->file ? g->flow->file : "?";

	/* The file's name only: the same flow drawn from another directory gives the same bytes. */
	if (strrchr(file, '/'))
		file = strrchr(file, '/') + 1;
	fputs("// Drawn by `guichet draw` from ", out);
	put_quoted(out, file);
	fputs(": do not edit, draw again.\ndigraph \"", out);
	put_quoted(out, g->flow->name ? g->flow->name : "?");
	fputs("\" {\n"
	      "  graph [rankdir=TB, nodesep=0.3, ranksep=0.45, fontname=\"Helvetica,Arial,"
	      "sans-serif\", charset=\"UTF-8\"];\n"
	      "  node [shape=box, style=filled, fontname=\"Helvetica,Arial,sans-serif\", "
	      "fontsize=11, margin=\"0.1,0.05\"];\n"
	      "  edge [fontname=\"Helvetica,Arial,sans-serif\", fontsize=9, color=\"#333333\"];\n",
	      out);
	put_entry_legend(out, g);
	for (i = 0; i < g->n_nodes; i++)
		put_node(out, &g->nodes[i]);
	for (i = 0; i < g->n_edges; i++)
		put_edge(out, g, &g->edges[i]);
	fputs("}\n", out);
	return ferror(out) ? -1 : 0;
}
