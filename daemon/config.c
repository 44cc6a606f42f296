/* config/guichet.yaml: the top level here, each section in the module it configures. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/config.h"
#include "guichet/store.h"
#include "guichet/api_http.h"
#include "guichet/backend.h"
#include "guichet/guard.h"
#include "guichet/modem.h"
#include "guichet/smpp.h"
#include "guichet/ussd_gsup.h"
#include "guichet/metrics_http.h"
#include "guichet/scheduler.h"
#include "guichet/ussd_http.h"

static const char *const top_keys[] = {
	"flows", "store", "credentials", "retention", "sms", "ussd", "call_budget_ms", "log",
	"backends", "modems", "smpp", "gsup", "ussd_http", "limits", "metrics",
	"notify", "api", "outbox_poll",
};

static void parse_sms(struct ydoc *y, yaml_node_t *n, struct config *c)
{
	static const char *const keys[] = { "max_parts", "fold" };
	yaml_node_t *v;

	if (!ydoc_is_map(n)) {
		ydoc_error(y, n, "`sms` expects a mapping: { max_parts: 3, fold: true }");
		return;
	}
	ydoc_check_keys(y, n, keys, 2);
	if ((v = ydoc_get(y, n, "max_parts"))) {
		if (ydoc_uint(y, v, &c->sms.max_parts) == 0 &&
		    (c->sms.max_parts < 1 || c->sms.max_parts > 10))
			ydoc_error(y, v, "`max_parts` must be between 1 and 10");
	}
	if ((v = ydoc_get(y, n, "fold")))
		ydoc_bool(y, v, &c->sms.fold);
}

static void parse_ussd(struct ydoc *y, yaml_node_t *n, struct config *c)
{
	static const char *const keys[] = { "screen", "answer_ms" };
	yaml_node_t *v;

	if (!ydoc_is_map(n)) {
		ydoc_error(y, n, "`ussd` expects a mapping: { screen: 182, answer_ms: 4000 }");
		return;
	}
	ydoc_check_keys(y, n, keys, 2);
	if ((v = ydoc_get(y, n, "screen"))) {
		if (ydoc_uint(y, v, &c->ussd.screen) == 0 &&
		    (c->ussd.screen < 40 || c->ussd.screen > 182))
			ydoc_error(y, v, "`screen` must be between 40 and 182 characters");
	}
	if ((v = ydoc_get(y, n, "answer_ms")))
		ydoc_uint(y, v, &c->ussd.answer_ms);
}

static void parse_log(struct ydoc *y, yaml_node_t *n, struct config *c)
{
	static const char *const keys[] = { "level", "counters" };
	static const char *const levels[] = { "debug", "info", "notice", "error" };
	yaml_node_t *v;

	if (!ydoc_is_map(n)) {
		ydoc_error(y, n, "`log` expects a mapping: { level: info, counters: 5m }");
		return;
	}
	ydoc_check_keys(y, n, keys, 2);
	if ((v = ydoc_get(y, n, "level"))) {
		const char *l = ydoc_string(y, v);
		bool ok = false;
		for (unsigned i = 0; l && i < 4; i++)
			ok |= strcmp(l, levels[i]) == 0;
		if (l && !ok)
			ydoc_error(y, v, "unknown log level `%s` (debug, info, notice or error)", l);
		else if (l)
			c->log.level = l;
	}
	if ((v = ydoc_get(y, n, "counters")))
		ydoc_duration(y, v, &c->log.counters_s);
}

static int ydoc_destructor(struct ydoc *y)
{
	ydoc_free(y);
	return 0;
}

/* Where things are: the flows, the store, the credentials (the unit's directories first). */
static void parse_paths(struct ydoc *y, yaml_node_t *root, struct config *c)
{
	yaml_node_t *v;

	const char *s;
	if ((v = ydoc_get(y, root, "flows")) && (s = ydoc_string(y, v)))
		c->flows = config_path(c, c, s);
	else
		c->flows = config_path(c, c, "flows");
	if ((v = ydoc_get(y, root, "store")) && (s = ydoc_string(y, v)))
		/* postgresql://... names a shared database, not a file beside the config. */
		c->store = store_is_pg(s) ? talloc_strdup(c, s) : config_path(c, c, s);
	else if (getenv("STATE_DIRECTORY"))
		c->store = talloc_asprintf(c, "%s/guichet.db", getenv("STATE_DIRECTORY"));
	else
		c->store = config_path(c, c, "guichet.db");
	if (getenv("CREDENTIALS_DIRECTORY"))
		c->credentials = talloc_strdup(c, getenv("CREDENTIALS_DIRECTORY"));
	else if ((v = ydoc_get(y, root, "credentials")) && (s = ydoc_string(y, v)))
		c->credentials = config_path(c, c, s);
	else
		c->credentials = talloc_strdup(c, c->dir);
}

/* The sections each module parses (transports, back-ends, limits, metrics, notify, api). */
static void parse_sections(struct ydoc *y, yaml_node_t *root, struct config *c)
{
	yaml_node_t *v;

	if ((v = ydoc_get(y, root, "backends")))
		backend_config_parse(c, y, v, c, &c->backends);
	if ((v = ydoc_get(y, root, "modems")))
		modem_config_parse(c, y, v, c, &c->modems);
	if ((v = ydoc_get(y, root, "smpp")))
		smpp_config_parse(c, y, v, c, &c->smpp);
	if ((v = ydoc_get(y, root, "gsup")))
		gsup_config_parse(c, y, v, c, &c->gsup);
	if ((v = ydoc_get(y, root, "ussd_http")))
		ussd_http_config_parse(c, y, v, c, &c->ussd_http);
	c->limits = guard_config_parse(c, y, ydoc_get(y, root, "limits"));
	if ((v = ydoc_get(y, root, "metrics")))
		metrics_http_config_parse(c, y, v, &c->metrics);
	c->notify = notify_config_parse(c, y, ydoc_get(y, root, "notify"));
	if ((v = ydoc_get(y, root, "api")))
		api_http_config_parse(c, y, v, c, &c->api);
}

struct config *config_load(void *ctx, const char *path, struct diag *d)
{
	struct config *c = talloc_zero(ctx, struct config);
	/* The document lives as long as the config: sections keep pointers into it. */
	struct ydoc *y = talloc_zero(c, struct ydoc);
	talloc_set_destructor(y, ydoc_destructor);
	unsigned errors_before = d->n_errors;
	yaml_node_t *root, *v;

	c->file = talloc_strdup(c, path);
	char *dup = talloc_strdup(c, path);
	c->dir = talloc_strdup(c, dirname(dup));
	c->sms.max_parts = 3;
	c->sms.fold = true;
	c->ussd.screen = 182;
	c->ussd.answer_ms = 4000;
	c->call_budget_ms = 10000;
	c->retention_s = 3600;
	c->outbox_poll_s = 1;
	c->log.level = "info";
	c->log.counters_s = 300;

	if (ydoc_load_file(y, y, path, d) < 0)
		goto fail;
	root = ydoc_root(y);
	if (!root) {
		diag_add(d, DIAG_ERROR, path, 1, 1, "the configuration is empty");
		goto fail;
	}
	if (!ydoc_is_map(root)) {
		ydoc_error(y, root, "the configuration must be a mapping of settings");
		goto fail;
	}
	ydoc_check_keys(y, root, top_keys, sizeof(top_keys) / sizeof(top_keys[0]));

	parse_paths(y, root, c);
	if ((v = ydoc_get(y, root, "retention")))
		ydoc_duration(y, v, &c->retention_s);
	if ((v = ydoc_get(y, root, "call_budget_ms")))
		ydoc_uint(y, v, &c->call_budget_ms);
	if ((v = ydoc_get(y, root, "outbox_poll")) && ydoc_duration(y, v, &c->outbox_poll_s) == 0 &&
	    c->outbox_poll_s == 0)
		ydoc_error(y, v, "outbox_poll must be at least 1s");
	if ((v = ydoc_get(y, root, "sms")))
		parse_sms(y, v, c);
	if ((v = ydoc_get(y, root, "ussd")))
		parse_ussd(y, v, c);
	if ((v = ydoc_get(y, root, "log")))
		parse_log(y, v, c);
	if (c->log.level)
		c->log.level = talloc_strdup(c, c->log.level);

	parse_sections(y, root, c);

	if (d->n_errors > errors_before) {
		talloc_free(c);
		return NULL;
	}
	return c;
fail:
	talloc_free(c);
	return NULL;
}

unsigned config_ussd_screen(const struct config *c)
{
	if (c->gsup && c->ussd.screen > CONFIG_GSUP_SCREEN)
		return CONFIG_GSUP_SCREEN;
	return c->ussd.screen;
}
