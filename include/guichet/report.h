/* `guichet report`: the flows as a static HTML site, for people who review procedures without
 * reading YAML. An index of the flows with their entries; a page per flow with its drawing
 * (inline SVG), every text with its encoding and cost, its back-end calls, and its test
 * dialogues (flowtest) as phone screens with the parts a person receives.
 *
 * Self-contained: no script, no font, style sheet or image fetched from anywhere (CSS inline,
 * SVG inline and beside the pages), so it opens the same from a file:// URL, a web server or
 * paper (print styles). French, like the flows. Everything taken from the flows and the
 * dialogues is HTML-escaped. */
#ifndef GUICHET_REPORT_H
#define GUICHET_REPORT_H

#include <stdbool.h>
#include "guichet/backend.h"
#include "guichet/diag.h"
#include "guichet/flow.h"
#include "guichet/flowtest.h"
#include "guichet/render.h"

struct report_opts {
	struct render_opts ro;		/* SMS parts, folding, USSD screen: the configured ones */
	struct flowtest_opts to;	/* how dialogues are played */
	const char *tests_dir;		/* the test dialogues (FLOWS/tests), NULL for none */
	const char *flows_path;		/* shown on the index */
	bool only_flows;		/* only the dialogues that start one of the flows (the
					 * flows are one file of a directory) */
	const struct backend_config *backends;	/* the configuration's, NULL: calls by name */
};

/* Writes dir/index.html and, per flow, dir/FLOW.html, dir/FLOW.svg and dir/FLOW.dot (dir must
 * exist). A drawing that cannot be laid out (no Graphviz) or a dialogue file with errors is
 * told in d as a warning and in the pages; the rest is written all the same. Returns 0, or -1
 * with a message in err when a file cannot be written. */
int report_write(void *ctx, const struct flow_set *fs, const struct report_opts *o,
		 const char *dir, struct diag *d, char *err, size_t err_len);

#endif
