/* How a reply looks on the phone, for people reading transcripts: `guichet simulate`,
 * `guichet check` and the demo phone show each text with its encoding and size. */
#ifndef GUICHET_RENDER_H
#define GUICHET_RENDER_H

#include <stdbool.h>
#include <stdio.h>
#include "guichet/config.h"
#include "guichet/flow.h"

struct render_opts {
	unsigned max_parts;	/* SMS parts a reply may take */
	bool fold;		/* fold to GSM-7 */
	unsigned screen;	/* USSD characters per screen */
};

/* Defaults (3 parts, folding, 182) or the config's values; c may be NULL. */
struct render_opts render_opts_from(const struct config *c);
/* "< [SMS GSM-7, 1 partie, 87/160 car.]" then the text, indented. */
void render_sms_print(void *ctx, const char *text, const struct render_opts *o, FILE *out);
/* "< [USSD GSM-7, 95/182 car., réponse attendue]" then the screen, indented. */
void render_ussd_print(void *ctx, const char *text, bool more, const struct render_opts *o,
		       FILE *out);
/* For `guichet check`: every flow and step text with its encoding and SMS parts, and in
 * flows with a USSD code the size of its screen (a menu with its options) against the
 * screen size. */
void render_flow_report(void *ctx, const struct flow_set *fs, const struct render_opts *o,
			FILE *out);

#endif
