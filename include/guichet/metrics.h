/* One place for statistics: every counter in guichetd is a libosmocore rate_ctr in a group
 * (per transport, modem, bind, back-end, flow...), every level an osmo_stat_item. This
 * module renders all of them, whoever registered them, for the operator:
 *   - Prometheus text exposition (format 0.0.4) for the /metrics endpoint (metrics_http.h):
 *     a counter is guichet_<group prefix>_<counter name>_total, a stat item
 *     guichet_<group prefix>_<item name>; a group's name (rate_ctr_group_set_name) becomes
 *     the label name="...", an unnamed group's index the label instance="N";
 *   - a short table for `guichet status`, from that same text.
 * Output order is stable (groups sorted by prefix, then name or index). */
#ifndef GUICHET_METRICS_H
#define GUICHET_METRICS_H

#include <stdio.h>

struct rate_ctr_group;
struct rate_ctr_group_desc;
struct osmo_stat_item_group;
struct osmo_stat_item_group_desc;

/* A counter group (or stat item group) of desc's class at the first free index, named
 * `name` when not NULL (the label name="..."); a talloc child of ctx, freed with it. Modules
 * allocate theirs here so that two instances (two routers in a test, two binds) never
 * collide on an index. */
struct rate_ctr_group *metrics_ctr_group(void *ctx, const struct rate_ctr_group_desc *desc,
					 const char *name);
struct osmo_stat_item_group *metrics_stat_group(void *ctx,
						const struct osmo_stat_item_group_desc *desc,
						const char *name);

/* The Prometheus text of every registered rate_ctr group and stat item group, a talloc
 * string child of ctx (NULL on allocation failure). */
char *metrics_render(void *ctx);
/* The counters of every group of one class (its prefix: "smpp", "modem"...) on one line
 * for the journal's counters line, from the same counters as /metrics:
 * "opx: binds 1 unbinds 0 ...; opy: ...". A talloc string child of ctx; NULL when no
 * group has that prefix, or memory runs out. */
char *metrics_counters_line(void *ctx, const char *prefix);
/* Prints a Prometheus text (as served by /metrics) as a table an operator reads at a
 * terminal: one line per series, "name{labels}  value", grouped by metric, HELP as a
 * heading. Returns the number of series printed, -1 when the text is not Prometheus text. */
int metrics_print_table(FILE *out, const char *text);

#endif
