/* USSD through an Osmocom network: Guichet as osmo-hlr's External USSD Entity (EUSE).
 *
 * A GSUP client (libosmo-gsup-client, IPA serial number "EUSE-<name>") on the osmo select
 * loop. It reconnects by itself and logs each change of the link state once.
 *
 * Mapping (3GPP TS 24.090, see ss_codec.h for the components):
 *   PROC_SS_REQUEST BEGIN, processUnstructuredSS-Request "code"  -> sink.request(begin, code)
 *   CONTINUE, ReturnResult to our prompt "answer"                -> sink.request(answer)
 *   END or PROC_SS_ERROR from the network                        -> sink.abort
 *   reply(text, expects_answer=true)  -> PROC_SS_RESULT CONTINUE, Invoke unstructuredSS-Request
 *   reply(text, expects_answer=false) -> PROC_SS_RESULT END, ReturnResult processUSS-Request
 * A dialogue is "<imsi>:<session id>". Screens are cut to the screen size (and to what the
 * HLR can carry: 128 GSM-7 characters or 56 UCS-2 units) with a notice in the journal.
 *
 * Decisions:
 *   - A BEGIN reusing the session id of a dialogue still open here means the network has
 *     forgotten the old one (osmo-hlr drops a BEGIN that collides with a session *it* still
 *     has): the old dialogue is aborted (sink.abort) and the new one starts.
 *   - osmo-hlr 1.5 neither tells the EUSE about its guard timeout nor forwards an END that
 *     carries no USSD component, so each dialogue has a guard deadline (guard_timeout, on
 *     its dialogue table entry's timer, ussd_table.h), re-armed by every message either way
 *     (while a back-end call is out, the router's shorter answer deadline stands in): on
 *     expiry the dialogue is aborted and an END is sent in case the HLR still holds it.
 *   - Link lost: every open dialogue is aborted; replies that come later are dropped.
 *   - An answer arriving while the previous one is still being processed is ignored. */
#ifndef GUICHET_USSD_GSUP_H
#define GUICHET_USSD_GSUP_H

#include <stdbool.h>
#include "guichet/config_paths.h"
#include "guichet/ydoc.h"
#include "guichet/router.h"

/* The `gsup:` section:
 *   gsup:
 *     host: 127.0.0.1      # osmo-hlr's GSUP address (GSUP has no authentication: keep it
 *     port: 4222           #   on loopback or a private network)
 *     name: guichet        # EUSE name, as in osmo-hlr's `euse guichet`
 *     guard_timeout: 40s   # a dialogue silent this long is ended (keep it above the HLR's
 *                          #   ncss-guard-timeout, 30 s by default)
 *     max_dialogues: 50000 # open at once; beyond, a BEGIN gets the common
 *                          #   `saturated` message as its END screen */
#ifndef USSD_MAX_DIALOGUES
#define USSD_MAX_DIALOGUES 50000	/* see ussd_http.h */
#endif
struct gsup_config {
	const char *host;
	unsigned port;
	const char *name;
	unsigned guard_s;
	unsigned max_dialogues;
};

int gsup_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
		      struct gsup_config **out);

struct ussd_gsup;

/* Connects (and keeps reconnecting) on the current osmo loop. screen_chars: GSM-7 characters
 * per screen (config ussd.screen). The sink's request() must call reply exactly once, now or
 * later. NULL on a configuration or memory error. */
struct ussd_gsup *ussd_gsup_start(void *ctx, const struct gsup_config *gc, unsigned screen_chars,
				  struct ussd_sink sink);
/* Aborts every open dialogue (sink.abort), closes the link and frees g. Replies still owed by
 * the sink stay safe to deliver: they are dropped. */
void ussd_gsup_stop(struct ussd_gsup *g);
bool ussd_gsup_up(const struct ussd_gsup *g);

struct ussd_gsup_stats {
	unsigned long requests;		/* BEGIN and answers handed to the sink */
	unsigned long prompts, finals;	/* screens sent */
	unsigned long aborts;		/* dialogues ended by the network, link or guard timer */
	unsigned long dropped;		/* replies whose dialogue had gone */
	unsigned long truncated;
	unsigned long full;		/* BEGINs refused at max_dialogues */
	unsigned open;			/* dialogues open now */
};
void ussd_gsup_stats(const struct ussd_gsup *g, struct ussd_gsup_stats *st);

#endif
