/* The report's texts of a flow: each step as a card (its texts with what they cost, its ways
 * out), and the back-end calls the flow makes (report_page.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/report_page.h"


void report_cost_sms(FILE *f, const struct flow_graph_text *t, unsigned max_parts)
{
	fprintf(f, "<span class=\"cost%s\">%s</span>, <span class=\"cost%s\">%u SMS</span>",
		t->sms_m.coding == TEXT_UCS2 ? " ucs2" : "", report_coding(t->sms_m.coding),
		t->sms_m.parts > max_parts ? " over" : "", t->sms_m.parts);
}


void report_cost_ussd(FILE *f, const struct flow_graph_text *t)
{
	fprintf(f, "<span class=\"cost%s\">%u/%u</span>", t->ussd_fits ? "" : " over",
		t->ussd_m.units, t->ussd_room);
}


/* One row per translation of a text: where, language, the SMS wording (and the USSD one when
 * it differs), its costs. */
void report_text_rows(struct page *p, const char *what, const struct flow_text *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct flow_tr *tr = &t->tr[i];
		struct flow_graph_text m;

		flow_graph_text_measure(p->tmp, tr->text, tr->ussd, &p->o->ro, &m);
		if (!m.sms)
			continue;
		fputs("<tr><td>", p->f);
		report_h(p->f, what);
		fputs("</td><td>", p->f);
		report_h(p->f, tr->lang);
		fputs("</td><td class=\"text\">", p->f);
		report_h(p->f, m.sms);
		if (tr->ussd) {
			fputs("<br><span class=\"muted\">USSD : </span>", p->f);
			report_h(p->f, m.ussd);
		}
		fputs("</td><td>", p->f);
		report_cost_sms(p->f, &m, p->o->ro.max_parts);
		fputs("</td><td>", p->f);
		report_cost_ussd(p->f, &m);
		fprintf(p->f, "%s</td></tr>\n", m.vars ? "<br><span class=\"muted\">+ variables"
						       "</span>" : "");
	}
}


void report_texts_open(FILE *f)
{
	fputs("<div class=\"scroll\"><table class=\"texts\"><thead><tr><th>Texte</th><th>Langue</th>"
	      "<th>Tel que re\u00e7u</th><th>SMS</th><th>USSD</th></tr></thead><tbody>\n", f);
}


void report_texts_close(FILE *f)
{
	fputs("</tbody></table></div>\n", f);
}


/* A step's texts, one row per language, with what each costs. */
static void step_texts(struct page *p, const struct flow_step *st)
{
	if (!st->text.n && !st->n_options && !st->from_label.n && !st->empty.n && !st->retry.n &&
	    !st->help.n && !st->wait.n && !st->receipt.n && !st->n_remind)
		return;
	report_texts_open(p->f);
	report_text_rows(p, st->kind == STEP_MENU ? "titre du menu" : st->kind == STEP_ASK ? "question"
		     : "message", &st->text);
	for (unsigned k = 0; k < st->n_options; k++) {
		char what[32];

		snprintf(what, sizeof(what), "option %u", k + 1);
		report_text_rows(p, what, &st->options[k].label);
	}
	report_text_rows(p, "option (par \u00e9l\u00e9ment de la liste)", &st->from_label);
	report_text_rows(p, "liste vide", &st->empty);
	report_text_rows(p, "apr\u00e8s une mauvaise r\u00e9ponse", &st->retry);
	report_text_rows(p, "aide de l'\u00e9tape", &st->help);
	report_text_rows(p, "attente (USSD)", &st->wait);
	report_text_rows(p, "re\u00e7u (SMS envoy\u00e9 aussit\u00f4t)", &st->receipt);
	for (unsigned k = 0; k < st->n_remind; k++) {
		char *what = talloc_asprintf(p->tmp, "rappel (SMS envoy\u00e9 \u00e0 %s)",
					     st->remind[k].at ? st->remind[k].at : "?");

		report_text_rows(p, what ? what : "rappel", &st->remind[k].text);
	}
	report_texts_close(p->f);
}

/* A step's ways out: each answer or condition, the step it leads to. */
static void step_ways(struct page *p, const struct flow_graph *g, unsigned i)
{
	const struct flow_graph_node *n = &g->nodes[i];
	FILE *f = p->f;

	fputs("<ul class=\"ways\">", f);
	for (unsigned k = g->out[i]; k < g->out[i + 1]; k++) {
		const struct flow_graph_edge *e = &g->edges[k];
		const struct flow_graph_node *to = &g->nodes[e->to];

		fprintf(f, "<li%s>", e->error ? " class=\"err\"" : "");
		if (*e->label) {
			report_h(f, e->label);
			fputs(" \u2192 ", f);
		} else {
			fputs("ensuite \u2192 ", f);
		}
		if (to->kind == FG_STEP) {
			fputs("<a href=\"#etape-", f);
			report_id(f, to->id);
			fputs("\">", f);
			report_h(f, to->title);
			fputs("</a>", f);
		} else {
			fputs("fin : ", f);
			report_h(f, to->title);
			fputs(" (message commun)", f);
		}
		fputs("</li>", f);
	}
	if (n->end)
		fputs("<li>fin de la d\u00e9marche</li>", f);
}

void report_step_card(struct page *p, const struct flow_graph *g, unsigned i)
{
	const struct flow_step *st = &g->flow->steps[i];
	const struct flow_graph_node *n = &g->nodes[i];
	FILE *f = p->f;

	fputs("<article class=\"step\" id=\"etape-", f);
	report_id(f, st->name);
	fputs("\"><h3>", f);
	report_h(f, st->name);
	fprintf(f, "<span class=\"kind\">%s</span>%s</h3>\n", n->kind_name,
		n->start ? " <span class=\"muted\">premi\u00e8re \u00e9tape</span>" : "");
	if (n->unreachable)
		fputs("<p class=\"alert\">Inaccessible : aucun chemin depuis le d\u00e9but n'y "
		      "m\u00e8ne.</p>\n", f);
	if (n->dead_end)
		fputs("<p class=\"alert\">Impasse : aucune suite, et ce n'est pas une fin.</p>\n", f);
	if (n->stuck)
		fputs("<p class=\"alert\">D'ici, aucune fin n'est atteignable autrement que par une "
		      "erreur.</p>\n", f);
	if (n->detail && *n->detail) {
		fputs("<p class=\"muted\">", f);
		report_h(f, n->detail);
		fputs("</p>\n", f);
	}
	if (n->text.sms && st->kind == STEP_MENU) {
		/* The whole screen as the phone shows it, before the texts it is made of. */
		fputs("<div class=\"phone\"><div class=\"bubble them\">", f);
		report_h(f, n->text.sms);
		fputs("<span class=\"meta\">", f);
		report_cost_sms(f, &n->text, p->o->ro.max_parts);
		fputs(" \u00b7 USSD ", f);
		report_cost_ussd(f, &n->text);
		fputs("</span></div></div>\n", f);
	}
	step_texts(p, st);
	step_ways(p, g, i);
	fputs("</ul>\n</article>\n", f);
}


void report_calls(struct page *p, const struct flow *f)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->n_steps; i++)
		n += f->steps[i].kind == STEP_CALL;
	fputs("<section id=\"appels\"><h2>Appels aux services</h2>\n", p->f);
	if (!n) {
		fputs("<p>Cette d\u00e9marche n'appelle aucun service.</p></section>\n", p->f);
		return;
	}
	fputs("<div class=\"scroll\"><table><thead><tr><th>\u00c9tape</th><th>Op\u00e9ration</th>"
	      "<th>Envoie</th><th>Garde la r\u00e9ponse dans</th><th>Si le service \u00e9choue"
	      "</th></tr></thead><tbody>\n", p->f);
	for (unsigned i = 0; i < f->n_steps; i++) {
		const struct flow_step *st = &f->steps[i];

		if (st->kind != STEP_CALL)
			continue;
		fputs("<tr><td><a href=\"#etape-", p->f);
		report_id(p->f, st->name);
		fputs("\">", p->f);
		report_h(p->f, st->name);
		fputs("</a></td><td><code>", p->f);
		report_h(p->f, st->op);
		fputs("</code>", p->f);
		if (p->o->backends) {
			const struct backend_def *def = NULL;
			const struct backend_op *op = backend_config_find(p->o->backends, st->op, &def);

			/* What the configuration makes of it: the request, as text (never a link). */
			if (op && def) {
				fputs("<br><span class=\"muted\">", p->f);
				report_h(p->f, op->method);
				fputs(" ", p->f);
				report_h(p->f, def->url);
				report_h(p->f, op->path);
				fprintf(p->f, "%s</span>", op->idempotent ? " (r\u00e9essay\u00e9e si "
					"besoin)" : "");
			}
		}
		fputs("</td><td>", p->f);
		for (unsigned k = 0; k < st->n_with; k++) {
			fputs(k ? "<br><code>" : "<code>", p->f);
			report_h(p->f, st->with[k].var);
			fputs("</code> = <code>", p->f);
			report_h(p->f, st->with[k].value);
			fputs("</code>", p->f);
		}
		if (st->handoff)
			fprintf(p->f, "%s<strong>le num\u00e9ro de la personne et la conversation "
				"jusqu'ici</strong> (r\u00e9ponses secr\u00e8tes masqu\u00e9es)",
				st->n_with ? "<br>" : "");
		fputs("</td><td>", p->f);
		if (st->save) {
			fputs("<code>", p->f);
			report_h(p->f, st->save);
			fputs("</code>", p->f);
		}
		fputs("</td><td>", p->f);
		if (st->on_error) {
			fputs("\u00e9tape <a href=\"#etape-", p->f);
			report_id(p->f, st->on_error);
			fputs("\">", p->f);
			report_h(p->f, st->on_error);
			fputs("</a>", p->f);
		} else {
			fputs("message commun \u00ab ", p->f);
			report_h(p->f, report_fr(&p->fs->msg.backend_error));
			fputs(" \u00bb, puis fin", p->f);
		}
		fputs("</td></tr>\n", p->f);
	}
	fputs("</tbody></table></div></section>\n", p->f);
}
