/* config/guichet.yaml -> struct config.
 *
 * config.c reads the top level; each section belongs to the module it configures and is
 * parsed by that module's *_config_parse(), so a module's settings sit beside its code.
 * Errors are located (file:line:column) through ydoc, like flow errors. */
#ifndef GUICHET_CONFIG_H
#define GUICHET_CONFIG_H

#include <stdbool.h>
#include "guichet/config_paths.h"
#include "guichet/diag.h"
#include "guichet/ydoc.h"

struct backend_config;		/* backend.h */
struct modem_config;		/* modem.h */
struct smpp_config;		/* smpp.h */
struct gsup_config;		/* ussd_gsup.h */
struct ussd_http_config;	/* ussd_http.h */
struct guard_config;		/* guard.h */
struct metrics_http_config;	/* metrics_http.h */
struct notify_config;		/* scheduler.h */
struct api_http_config;		/* api_http.h */

struct config {
	const char *file;
	const char *dir;		/* directory of file: relative paths are taken from here */
	const char *flows;		/* directory or file of flows */
	const char *store;		/* SQLite file */
	const char *credentials;	/* where secret files are read: $CREDENTIALS_DIRECTORY,
					 * else this setting, else the config directory */
	unsigned retention_s;		/* message bodies and numbers kept this long */
	struct {
		unsigned max_parts;	/* longest reply, in SMS parts (default 3) */
		bool fold;		/* fold to GSM-7 to stay 7-bit (default true) */
	} sms;
	struct {
		unsigned screen;	/* characters per screen (default 182; 128 via osmo-hlr) */
		unsigned answer_ms;	/* time a screen may wait for a back-end (default 4000) */
	} ussd;
	unsigned call_budget_ms;	/* bound on a back-end call for SMS (default 10000) */
	unsigned outbox_poll_s;		/* how often the outbox is searched unprompted (default 1) */
	struct {
		const char *level;	/* "info" by default */
		unsigned counters_s;	/* period of the counters line (default 300) */
	} log;

	struct backend_config *backends;
	struct modem_config *modems;
	struct smpp_config *smpp;
	struct gsup_config *gsup;
	struct ussd_http_config *ussd_http;
	struct guard_config *limits;	/* never NULL: the defaults when there is no section */
	struct metrics_http_config *metrics;	/* NULL: no /metrics endpoint */
	struct notify_config *notify;	/* never NULL: quiet hours, pacing, STOP words */
	struct api_http_config *api;	/* NULL: no notification API */
};

/* Loads path; every error goes to d. NULL when any error was found. */
struct config *config_load(void *ctx, const char *path, struct diag *d);
/* Characters a USSD screen may hold with this config: ussd.screen, and no more than the 128
 * an osmo-hlr (1.5) link carries when `gsup:` is configured. */
unsigned config_ussd_screen(const struct config *c);
#define CONFIG_GSUP_SCREEN 128

#endif
