/* The report's dialogues: each test dialogue drawn as a phone's conversation, SMS bubbles and
 * USSD screens with their sizes (report_page.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/report_page.h"


void report_duration(FILE *f, unsigned s)
{
	if (s >= 86400 && !(s % 86400))
		fprintf(f, "%u jour%s", s / 86400, s >= 172800 ? "s" : "");
	else if (s >= 3600 && !(s % 3600))
		fprintf(f, "%u h", s / 3600);
	else if (s >= 60 && !(s % 60))
		fprintf(f, "%u min", s / 60);
	else
		fprintf(f, "%u s", s);
}


static void reply_html(struct page *p, const struct flowtest *t, const struct flowtest_reply *r)
{
	FILE *f = p->f;

	if (r->by == CHANNEL_USSD) {
		struct text_budget b = text_budget_ussd(p->o->ro.screen);
		struct text_measure m;
		unsigned room;

		text_measure(r->text, &m);
		room = m.coding == TEXT_GSM7 ? b.gsm7_units : b.ucs2_units;
		/* A feature phone's line is about 26 characters; the screen's size is the
		 * configured one, shown as a gauge. */
		fputs("<div class=\"screen\">", f);
		report_h(f, r->text);
		fprintf(f, "<span class=\"meta\"><meter min=\"0\" max=\"%u\" value=\"%u\"></meter> "
			"\u00e9cran USSD %s, %u/%u caract\u00e8res%s \u00b7 %s</span></div>\n", room,
			m.units > room ? room : m.units, report_coding(m.coding), m.units, room,
			m.units > room ? " (trop long)" : "",
			r->end ? "fin du dialogue" : "r\u00e9ponse attendue");
		return;
	}
	fputs("<div class=\"bubble them\">", f);
	report_h(f, r->text);
	fprintf(f, "<span class=\"meta\">%sSMS %s, %u partie%s</span></div>\n",
		t->channel == CHANNEL_USSD ? "par " : "", report_coding(r->m.coding), r->m.parts,
		r->m.parts > 1 ? "s" : "");
}


void report_dialogue(struct page *p, const struct flowtest_result *r)
{
	const struct flowtest *t = r->t;
	const char *base = strrchr(t->file, '/');
	FILE *f = p->f;

	fprintf(f, "<article class=\"dialogue%s\" data-channel=\"%s\"><h3>", r->n_failed ? " fail"
		: "", t->channel == CHANNEL_USSD ? "ussd" : "sms");
	report_h(f, t->name);
	fputs("</h3>\n<p class=\"muted\">", f);
	report_h(f, base ? base + 1 : t->file);
	fprintf(f, " \u00b7 par %s</p>\n", t->channel == CHANNEL_USSD ? "USSD" : "SMS");
	fputs("<div class=\"phone\">\n", f);
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		const struct flowtest_step *s = sr->step;

		if (!s)
			continue;
		if (s->wait_s) {
			fputs("<p class=\"event\">", f);
			report_duration(f, s->wait_s);
			fputs(" plus tard</p>\n", f);
		}
		if (s->hangup)
			fputs("<p class=\"event\">la personne raccroche</p>\n", f);
		if (s->send) {
			fputs(t->channel == CHANNEL_USSD ? "<div class=\"bubble me dial\">"
							 : "<div class=\"bubble me\">", f);
			if (*s->send)
				report_h(f, s->send);
			else
				fputs("<i>(message vide)</i>", f);
			fputs("</div>\n", f);
			if (!sr->n_got)
				fputs("<p class=\"event\">pas de r\u00e9ponse</p>\n", f);
		}
		for (unsigned k = 0; k < sr->n_got; k++)
			reply_html(p, t, &sr->got[k]);
	}
	fputs("</div>\n<p class=\"total\">", f);
	if (t->channel == CHANNEL_USSD) {
		fprintf(f, "Re\u00e7u : %u \u00e9cran%s USSD", r->screens, r->screens > 1 ? "s" : "");
		if (r->sms)
			fprintf(f, " et %u SMS (%u partie%s)", r->sms, r->parts,
				r->parts > 1 ? "s" : "");
	} else {
		fprintf(f, "Re\u00e7u : %u SMS, %u partie%s en tout", r->sms, r->parts,
			r->parts > 1 ? "s" : "");
	}
	fputs(".</p>\n", f);
	if (r->n_failed) {
		fprintf(f, "<div class=\"alert\">Ce dialogue ne passe plus (%u \u00e9tape%s) : "
			"<code>guichet test</code> le montre.", r->n_failed, r->n_failed > 1 ? "s" : "");
		for (unsigned i = 0; i < r->n_steps; i++)
			if (r->steps[i].why) {
				fputs("<pre>", f);
				report_h(f, r->steps[i].why);
				fputs("</pre>", f);
			}
		fputs("</div>\n", f);
	}
	fputs("</article>\n", f);
}
