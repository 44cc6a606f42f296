/* Inside the report (report.c, report_step.c, report_dialogue.c): the page being written and
 * the HTML helpers they share. The public surface is report_write() in report.h. */
#ifndef GUICHET_REPORT_PAGE_H
#define GUICHET_REPORT_PAGE_H

#include <stdio.h>

#include "guichet/flow_graph.h"
#include "guichet/flowtest.h"
#include "guichet/report.h"
#include "guichet/text.h"

struct page {
	FILE *f;
	const struct report_opts *o;
	const struct flow_set *fs;
	void *tmp;
};

/* Writes s HTML-escaped: markup characters as entities, control characters but newline and
 * tab as spaces. Safe in text and in double-quoted attributes. */
void report_h(FILE *f, const char *s);
/* Writes s as an id fragment (letters, digits, - and _ kept, the rest as -). */
void report_id(FILE *f, const char *s);
const char *report_coding(enum text_coding c);
/* A text's French SMS wording (flow_text_pick), NULL when absent. */
const char *report_fr(const struct flow_text *t);

/* report_step.c */
void report_cost_sms(FILE *f, const struct flow_graph_text *t, unsigned max_parts);
void report_cost_ussd(FILE *f, const struct flow_graph_text *t);
/* The rows of a texts table for t, one per language (what: which text it is). */
void report_text_rows(struct page *p, const char *what, const struct flow_text *t);
void report_texts_open(FILE *f);
void report_texts_close(FILE *f);
/* Step i of g: its texts with their costs, its ways out. */
void report_step_card(struct page *p, const struct flow_graph *g, unsigned i);
/* The back-end calls flow f makes, with their arguments and what they save. */
void report_calls(struct page *p, const struct flow *f);

/* report_dialogue.c: a test dialogue's run, as a phone shows it. */
void report_dialogue(struct page *p, const struct flowtest_result *r);
/* "3 jours", "2 h", "31 min", "45 s". */
void report_duration(FILE *f, unsigned s);

#endif
