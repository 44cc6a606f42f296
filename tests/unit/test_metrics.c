/* Unit tests for metrics.c: the Prometheus text of libosmocore counter and stat item groups,
 * stable order, escaping, group lifetime tied to talloc, and the operator's table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <osmocom/core/rate_ctr.h>
#include <osmocom/core/stat_item.h>
#include <osmocom/core/talloc.h>

#include <guichet/metrics.h>
#include <guichet/metrics_http.h>
#include <guichet/ussd_gsup.h>
#include <guichet/ydoc.h>
#include <guichet/ussd_table.h>
#include "unit_main.h"

static void *ctx;

static const struct rate_ctr_desc t_ctr[] = {
	{ "sms:in", "Texts received" },
	{ "parts-out", "Parts sent\nby the modem" },
};
static const struct rate_ctr_group_desc t_ctrg = {
	.group_name_prefix = "tmodem", .group_description = "test", .num_ctr = 2, .ctr_desc = t_ctr,
};
static const struct osmo_stat_item_desc t_item[] = {
	{ "signal", "Signal strength", "%", 0, -1 },
};
static const struct osmo_stat_item_group_desc t_statg = {
	.group_name_prefix = "tmodem", .group_description = "test", .num_items = 1,
	.item_desc = t_item,
};

static const char *after(const char *hay, const char *needle)
{
	const char *p = hay ? strstr(hay, needle) : NULL;

	return p ? p + strlen(needle) : NULL;
}

/* Nothing registered: an empty text, not an unterminated buffer (valgrind's memcheck, in
 * make valgrind, sees the difference). Run first, while the registry is empty. */
static void test_empty_registry(void)
{
	char *text = metrics_render(ctx);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, "");
	talloc_free(text);
}

static void test_counters_rendered(void)
{
	void *c = talloc_new(ctx);
	struct rate_ctr_group *m2 = metrics_ctr_group(c, &t_ctrg, "m2");
	struct rate_ctr_group *m1 = metrics_ctr_group(c, &t_ctrg, "m1");
	struct rate_ctr_group *anon = metrics_ctr_group(c, &t_ctrg, NULL);
	char *text;
	const char *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(anon);
	CU_ASSERT_NOT_EQUAL(m1->idx, m2->idx);	/* a free index each, never a collision */
	CU_ASSERT_NOT_EQUAL(anon->idx, m2->idx);
	rate_ctr_inc2(m1, 0);
	rate_ctr_add(rate_ctr_group_get_ctr(m2, 0), 7);
	rate_ctr_add(rate_ctr_group_get_ctr(m2, 1), 12);
	text = metrics_render(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	/* one HELP and TYPE per metric, then its series sorted by name; names made legal */
	p = after(text, "# HELP guichet_tmodem_sms_in_total Texts received\n"
			"# TYPE guichet_tmodem_sms_in_total counter\n");
	CU_ASSERT_PTR_NOT_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(after(text, "guichet_tmodem_sms_in_total{name=\"m1\"} 1\n"
					   "guichet_tmodem_sms_in_total{name=\"m2\"} 7\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_tmodem_parts_out_total{name=\"m2\"} 12\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# HELP guichet_tmodem_parts_out_total Parts sent\\nby "
				       "the modem\n"));
	/* an unnamed group: its index */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_tmodem_sms_in_total{instance=\""));
	/* HELP appears once per metric whatever the number of groups */
	p = strstr(text, "# HELP guichet_tmodem_sms_in_total");
	CU_ASSERT_PTR_NULL(p ? strstr(p + 1, "# HELP guichet_tmodem_sms_in_total") : "dup");
	talloc_free(c);
	/* freed with their talloc parent: gone from the registry and the text */
	text = metrics_render(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NULL(strstr(text, "guichet_tmodem_"));
	talloc_free(text);
}

/* The journal's counters line for one class: every group by name, from the same counters. */
static void test_counters_line(void)
{
	void *c = talloc_new(ctx);
	struct rate_ctr_group *b = metrics_ctr_group(c, &t_ctrg, "bravo");
	struct rate_ctr_group *a = metrics_ctr_group(c, &t_ctrg, "alpha");
	char *line;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	rate_ctr_add(rate_ctr_group_get_ctr(a, 1), 3);
	rate_ctr_inc2(b, 0);
	line = metrics_counters_line(c, "tmodem");
	CU_ASSERT_PTR_NOT_NULL_FATAL(line);
	CU_ASSERT_STRING_EQUAL(line, "alpha: sms:in 0 parts-out 3; bravo: sms:in 1 parts-out 0");
	CU_ASSERT_PTR_NULL(metrics_counters_line(c, "nosuchprefix"));
	talloc_free(c);
}

/* Many groups: every series once, in order (the text grows in runs, not by the character). */
static void test_many_groups(void)
{
	void *c = talloc_new(ctx);
	char name[16], want[64], *text;
	const char *p;
	int i;

	for (i = 0; i < 300; i++) {
		struct rate_ctr_group *g;

		snprintf(name, sizeof(name), "m%03d", i);
		g = metrics_ctr_group(c, &t_ctrg, name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(g);
		rate_ctr_add(rate_ctr_group_get_ctr(g, 1), i);
	}
	text = metrics_render(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	p = text;
	for (i = 0; i < 300 && p; i++) {
		snprintf(want, sizeof(want), "guichet_tmodem_parts_out_total{name=\"m%03d\"} %d\n",
			 i, i);
		p = strstr(p, want);
	}
	CU_ASSERT_PTR_NOT_NULL(p);
	talloc_free(c);
}

static void test_label_escaped(void)
{
	void *c = talloc_new(ctx);
	struct rate_ctr_group *g = metrics_ctr_group(c, &t_ctrg, "a\"b\\c");
	char *text = metrics_render(c);

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_tmodem_sms_in_total{name=\"a\\\"b\\\\c\"} 0\n"));
	talloc_free(c);
}

static void test_stat_items(void)
{
	void *c = talloc_new(ctx);
	struct osmo_stat_item_group *g = metrics_stat_group(c, &t_statg, "m1");
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	osmo_stat_item_set(osmo_stat_item_group_get_item(g, 0), 54);
	text = metrics_render(c);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# TYPE guichet_tmodem_signal gauge\n"
					    "guichet_tmodem_signal{name=\"m1\"} 54\n"));
	talloc_free(c);
}

static void test_table(void)
{
	char buf[1024] = "";
	FILE *out = fmemopen(buf, sizeof(buf), "w");

	CU_ASSERT_EQUAL(metrics_print_table(out, "# HELP guichet_x_total Texts in\n"
					    "# TYPE guichet_x_total counter\n"
					    "guichet_x_total{name=\"m1\"} 3\n"
					    "guichet_x_total{name=\"m2\"} 4\n"), 2);
	fclose(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Texts in\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "guichet_x_total{name=\"m2\"} 4"));
	out = fopen("/dev/null", "w");
	CU_ASSERT_EQUAL(metrics_print_table(out, "<html>Not found</html>\n"), -1);
	CU_ASSERT_EQUAL(metrics_print_table(out, NULL), -1);
	fclose(out);
}

/* A USSD transport's share of the dialogue table holds its counters: dialogues, capped and
 * the open gauge move with its entries, and show on /metrics under the transport's name. */
static void test_ussd_counters(void)
{
	void *c = talloc_named_const(ctx, 0, "ussd");
	struct ussd_table *t = ussd_table_create(c);
	struct ussd_port p;
	struct ussd_dlg *a;
	int tp;
	char *text;

	CU_ASSERT_EQUAL_FATAL(ussd_port_init(&p, c, "tu", "test dialogues", 1), 0);
	CU_ASSERT_TRUE(ussd_port_room(&p));
	a = ussd_table_open(t, &p, "k1", &tp);
	CU_ASSERT_FALSE(ussd_port_room(&p));
	ussd_port_count(&p, USSD_CTR_SCREENS, 2);
	text = metrics_render(c);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_ussd_dialogues_total{name=\"tu\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_ussd_capped_total{name=\"tu\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_ussd_screens_total{name=\"tu\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "guichet_ussd_open{name=\"tu\"} 1\n"));
	ussd_table_leave_transport(a);
	CU_ASSERT_TRUE(ussd_port_room(&p));
	ussd_table_open(t, &p, "k2", &tp);
	CU_ASSERT_EQUAL(ussd_port_counter(&p, USSD_CTR_DIALOGUES), 2);
	CU_ASSERT_EQUAL(ussd_port_counter(&p, USSD_CTR_CAPPED), 1);
	talloc_free(c);
}

static bool diag_has(const struct diag *d, unsigned line, const char *needle)
{
	for (unsigned i = 0; i < d->n; i++)
		if (d->e[i].line == line && strstr(d->e[i].msg, needle))
			return true;
	return false;
}

/* listen and port read by the shared ydoc helpers: one wording in every section. */
static void test_listen_port_config(void)
{
	static const char yaml[] =
		"metrics: { listen: localhost, port: 70000 }\n"
		"gsup: { port: 0 }\n"
		"ok: { listen: '::1', port: 0 }\n";
	void *c = talloc_named_const(ctx, 0, "cfg");
	struct diag *d = diag_alloc(c);
	struct ydoc y = { 0 };
	struct metrics_http_config *mc = NULL;
	struct gsup_config *gc = NULL;

	CU_ASSERT_EQUAL_FATAL(ydoc_load_string(&y, c, "guichet.yaml", yaml, d), 0);
	CU_ASSERT_EQUAL(metrics_http_config_parse(c, &y, ydoc_get(&y, ydoc_root(&y), "metrics"),
						  &mc), -1);
	CU_ASSERT(diag_has(d, 1, "listen must be an IPv4 or IPv6 address, found `localhost`"));
	CU_ASSERT(diag_has(d, 1, "port must be between 0 and 65535"));
	CU_ASSERT_EQUAL(gsup_config_parse(c, &y, ydoc_get(&y, ydoc_root(&y), "gsup"), NULL, &gc),
			-1);
	CU_ASSERT(diag_has(d, 2, "port must be between 1 and 65535"));
	CU_ASSERT_EQUAL(metrics_http_config_parse(c, &y, ydoc_get(&y, ydoc_root(&y), "ok"), &mc),
			0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mc);
	CU_ASSERT_STRING_EQUAL(mc->listen, "::1");
	CU_ASSERT_EQUAL(mc->port, 0);
	ydoc_free(&y);
	talloc_free(c);
}

static const CU_TestInfo tests[] = {
	{ "an empty registry", test_empty_registry },
	{ "counters rendered", test_counters_rendered },
	{ "the journal's counters line of a class", test_counters_line },
	{ "300 groups rendered in order", test_many_groups },
	{ "label values escaped", test_label_escaped },
	{ "stat items as gauges", test_stat_items },
	{ "the operator's table", test_table },
	{ "a USSD transport's counters", test_ussd_counters },
	{ "listen and port in the config", test_listen_port_config },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("metrics", tests, &ctx);
}
