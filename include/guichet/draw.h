/* Drawings of flows as files: DOT written by flow_graph, laid out as SVG or PNG by Graphviz's
 * `dot` program run as a child process.
 *
 * Why a child and not libgvc: the drawing is a tool's job, not the daemon's, and DOT itself
 * needs nothing; running `dot` keeps libguichet and guichetd free of Graphviz and its
 * plugins, and a layout that runs away is bounded by a CPU limit on the child instead of
 * hanging the tool. */
#ifndef GUICHET_DRAW_H
#define GUICHET_DRAW_H

#include <stddef.h>
#include "guichet/flow_graph.h"

enum draw_format { DRAW_DOT, DRAW_SVG, DRAW_PNG };

/* Graphs with more nodes than this are not laid out (a DOT file is still written). */
#define DRAW_LAYOUT_MAX_NODES	2000
/* CPU seconds `dot` may use for one drawing before it is killed. */
#define DRAW_LAYOUT_CPU_S	60

/* "dot", "svg" or "png"; returns -1 for anything else. */
int draw_format_parse(const char *s, enum draw_format *f);
const char *draw_format_ext(enum draw_format f);

/* g as DOT text, talloc'd under ctx; *len gets its length. NULL when memory runs out. */
char *draw_dot(void *ctx, const struct flow_graph *g, size_t *len);

/* Writes the drawing of g in format f to path (DOT directly; SVG/PNG through `dot`, whose
 * program name is $GUICHET_DOT or "dot"). Returns 0, or -1 with a message in err. */
int draw_write(void *ctx, const struct flow_graph *g, enum draw_format f, const char *path,
	       char *err, size_t err_len);

#endif
