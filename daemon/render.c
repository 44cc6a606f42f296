/* Replies as the phone shows them: encoding, parts, characters. */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/render.h"
#include "guichet/template.h"
#include "guichet/text.h"

struct render_opts render_opts_from(const struct config *c)
{
	struct render_opts o = { .max_parts = 3, .fold = true, .screen = 182 };

	if (c) {
		o.max_parts = c->sms.max_parts;
		o.fold = c->sms.fold;
		o.screen = config_ussd_screen(c);
	}
	return o;
}

static const char *coding_name(enum text_coding c)
{
	return c == TEXT_GSM7 ? "GSM-7" : "UCS-2";
}

static void print_indented(const char *text, FILE *out)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n");
		fprintf(out, "  %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

void render_sms_print(void *ctx, const char *text, const struct render_opts *o, FILE *out)
{
	struct text_measure m;
	(void)ctx;

	text_measure(text, &m);
	unsigned room = m.parts <= 1 ? (m.coding == TEXT_GSM7 ? 160 : 70)
				     : m.parts * (m.coding == TEXT_GSM7 ? 153 : 67);
	fprintf(out, "< [SMS %s, %u partie%s, %u/%u%s]%s\n", coding_name(m.coding), m.parts,
		m.parts > 1 ? "s" : "", m.units, room, m.coding == TEXT_GSM7 ? " septets" : " car.",
		m.parts > o->max_parts ? " TROP LONG" : "");
	print_indented(text, out);
}

void render_ussd_print(void *ctx, const char *text, bool more, const struct render_opts *o,
		       FILE *out)
{
	struct text_budget b = text_budget_ussd(o->screen);
	struct text_measure m;
	(void)ctx;

	text_measure(text, &m);
	unsigned room = m.coding == TEXT_GSM7 ? b.gsm7_units : b.ucs2_units;
	fprintf(out, "< [USSD %s, %u/%u car., %s]%s\n", coding_name(m.coding), m.units, room,
		more ? "réponse attendue" : "fin", text_fits(text, &b) ? "" : " TROP LONG");
	print_indented(text, out);
}

/* The screen a step shows on USSD, in language i of its text: the text, and for a menu with
 * written options each "N label" line (options from a list are counted empty). */
static const char *ussd_screen(void *ctx, const struct flow_step *st, unsigned i)
{
	const struct flow_tr *tr = &st->text.tr[i];
	char *s = talloc_strdup(ctx, tr->ussd ? tr->ussd : tr->text);

	for (unsigned k = 0; st->kind == STEP_MENU && k < st->n_options; k++) {
		const struct flow_text *l = &st->options[k].label;
		const char *lt = flow_text_pick(l, tr->lang, true);
		s = talloc_asprintf_append(s, "\n%u %s", k + 1, lt ? lt : "");
	}
	return s;
}

static void report_text(void *ctx, const char *what, const struct flow_step *st, bool ussd,
			const struct render_opts *o, FILE *out)
{
	const struct flow_text *t = &st->text;
	struct text_budget b = text_budget_ussd(o->screen);

	for (unsigned i = 0; i < t->n; i++) {
		const char *s = o->fold ? text_fold_gsm7(ctx, t->tr[i].text) : t->tr[i].text;
		struct text_measure m;
		text_measure(s, &m);
		fprintf(out, "    %-22s %s %s, %u SMS%s%s", what, t->tr[i].lang,
			coding_name(m.coding), m.parts, template_is_literal(s) ? "" : " (+ variables)",
			m.parts > o->max_parts ? " — plus long que sms.max_parts" : "");
		if (ussd) {
			/* The screen as measured by the checker's USSD rules: same fold, same limit. */
			const char *u = ussd_screen(ctx, st, i);
			if (o->fold)
				u = text_fold_gsm7(ctx, u);
			text_measure(u, &m);
			unsigned room = m.coding == TEXT_GSM7 ? b.gsm7_units : b.ucs2_units;
			fprintf(out, "; USSD %u/%u car.%s%s", m.units, room,
				template_is_literal(u) ? "" : " (+ variables)",
				text_fits(u, &b) ? "" : " — plus long qu'un écran USSD");
		}
		fputc('\n', out);
	}
}

void render_flow_report(void *ctx, const struct flow_set *fs, const struct render_opts *o,
			FILE *out)
{
	static const char *const kinds[] = { "menu", "ask", "call", "branch", "say" };

	for (unsigned i = 0; i < fs->n_flows; i++) {
		const struct flow *f = &fs->flows[i];
		fprintf(out, "%s (%s): %u steps", f->name, f->file, f->n_steps);
		for (unsigned k = 0; k < f->n_keywords; k++)
			fprintf(out, "%s%s", k ? ", " : "; SMS ", f->keywords[k]);
		for (unsigned k = 0; k < f->n_ussd; k++)
			fprintf(out, "%s%s", k ? ", " : "; USSD ", f->ussd_codes[k]);
		fprintf(out, "\n");
		for (unsigned j = 0; j < f->n_steps; j++) {
			const struct flow_step *st = &f->steps[j];
			char *what = talloc_asprintf(ctx, "%s (%s)", st->name, kinds[st->kind]);
			if (st->text.n)
				report_text(ctx, what, st, f->n_ussd > 0, o, out);
		}
	}
}
