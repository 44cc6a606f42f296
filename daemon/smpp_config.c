/* The `smpp:` section of the config: one mapping per SMSC. */
#include <string.h>
#include <osmocom/core/talloc.h>
#include "guichet/smpp.h"
#include "guichet/text.h"

static const char *const smpp_keys[] = {
	"name", "host", "port", "system_id", "password", "system_type", "bind", "source",
	"source_ton", "source_npi", "country_code", "parts_per_second", "window", "enquire_link",
	"response_timeout", "reconnect_min", "reconnect_max", "reassembly", "tls",
};

/* Reads an optional string; returns false after reporting an error. */
static bool opt_string(void *ctx, struct ydoc *y, yaml_node_t *map, const char *key,
		       const char **out)
{
	yaml_node_t *n = ydoc_get(y, map, key);
	if (!n)
		return true;
	if (ydoc_is_null(n) && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		*out = "";
		return true;
	}
	const char *s = ydoc_string(y, n);
	if (!s)
		return false;
	/* The document goes away after loading: keep a copy. */
	*out = talloc_strdup(ctx, s);
	return *out != NULL;
}

static bool opt_uint(struct ydoc *y, yaml_node_t *map, const char *key, unsigned *out)
{
	yaml_node_t *n = ydoc_get(y, map, key);
	return !n || ydoc_uint(y, n, out) == 0;
}

static bool opt_duration(struct ydoc *y, yaml_node_t *map, const char *key, unsigned *out)
{
	yaml_node_t *n = ydoc_get(y, map, key);
	return !n || ydoc_duration(y, n, out) == 0;
}

/* The keys of one SMSC into sc (defaults set); *bind: the `bind` value, or NULL. */
static void read_keys(struct smpp_config *sc, struct ydoc *y, yaml_node_t *map, const char **bind,
		      bool *ok)
{
	*ok &= opt_string(sc, y, map, "name", &sc->name);
	*ok &= opt_string(sc, y, map, "host", &sc->host);
	*ok &= opt_string(sc, y, map, "system_id", &sc->system_id);
	*ok &= opt_string(sc, y, map, "password", &sc->password);
	*ok &= opt_string(sc, y, map, "system_type", &sc->system_type);
	*ok &= opt_string(sc, y, map, "bind", bind);
	*ok &= opt_string(sc, y, map, "source", &sc->source);
	*ok &= opt_string(sc, y, map, "country_code", &sc->country_code);
	*ok &= opt_uint(y, map, "port", &sc->port);
	*ok &= opt_uint(y, map, "source_ton", &sc->source_ton);
	*ok &= opt_uint(y, map, "source_npi", &sc->source_npi);
	*ok &= opt_uint(y, map, "parts_per_second", &sc->parts_per_second);
	*ok &= opt_uint(y, map, "window", &sc->window);
	*ok &= opt_duration(y, map, "enquire_link", &sc->enquire_link_s);
	*ok &= opt_duration(y, map, "response_timeout", &sc->response_timeout_s);
	*ok &= opt_duration(y, map, "reconnect_min", &sc->reconnect_min_s);
	*ok &= opt_duration(y, map, "reconnect_max", &sc->reconnect_max_s);
	*ok &= opt_duration(y, map, "reassembly", &sc->reassembly_s);
	yaml_node_t *n = ydoc_get(y, map, "tls");
	if (n && ydoc_bool(y, n, &sc->tls) != 0)
		*ok = false;
}

/* The values read: lengths SMPP 3.4 allows, ranges, the bind mode (*ok false when one is
 * wrong; the reconnect delays made consistent). */
static void check_values(struct smpp_config *sc, struct ydoc *y, yaml_node_t *map,
			 const char *bind, bool *ok)
{
	if (sc->name && !*sc->name) {
		ydoc_error(y, ydoc_get(y, map, "name"), "an SMSC name cannot be empty");
		*ok = false;
	}
	if (sc->system_id && strlen(sc->system_id) > 15) {
		ydoc_error(y, ydoc_get(y, map, "system_id"), "system_id is at most 15 characters in SMPP 3.4");
		*ok = false;
	}
	if (sc->system_type && strlen(sc->system_type) > 12) {
		ydoc_error(y, ydoc_get(y, map, "system_type"), "system_type is at most 12 characters in SMPP 3.4");
		*ok = false;
	}
	if (sc->source && (!*sc->source || strlen(sc->source) > 20)) {
		ydoc_error(y, ydoc_get(y, map, "source"), "source must be 1 to 20 characters");
		*ok = false;
	}
	if (bind) {
		if (strcmp(bind, "transceiver") == 0)
			sc->bind = SMPP_BIND_TRX;
		else if (strcmp(bind, "transmitter+receiver") == 0)
			sc->bind = SMPP_BIND_TX_RX;
		else {
			ydoc_error(y, ydoc_get(y, map, "bind"),
				   "bind must be `transceiver` or `transmitter+receiver`, not `%s`", bind);
			*ok = false;
		}
	}
	if (sc->port == 0 || sc->port > 65535) {
		ydoc_error(y, ydoc_get(y, map, "port"), "port must be 1 to 65535");
		*ok = false;
	}
	if (sc->window == 0 || sc->window > 1000) {
		ydoc_error(y, ydoc_get(y, map, "window"), "window must be 1 to 1000");
		*ok = false;
	}
	if (sc->enquire_link_s == 0 || sc->response_timeout_s == 0) {
		ydoc_error(y, map, "enquire_link and response_timeout must be at least 1s");
		*ok = false;
	}
	if (sc->reconnect_min_s == 0)
		sc->reconnect_min_s = 1;
	if (sc->reconnect_max_s < sc->reconnect_min_s)
		sc->reconnect_max_s = sc->reconnect_min_s;
	if (sc->tls) {
		ydoc_error(y, ydoc_get(y, map, "tls"),
			   "SMPP over TLS is not supported by this build: set `tls: false` and "
			   "put a TLS tunnel (stunnel) in front of the SMSC");
		*ok = false;
	}
	if ((sc->source_ton != 99 && sc->source_ton > 6) || (sc->source_npi != 99 && sc->source_npi > 18)) {
		ydoc_error(y, map, "source_ton is 0 to 6 and source_npi 0 to 18");
		*ok = false;
	}
}

/* The source address's type and numbering plan, when not given: alphanumeric, a short code,
 * or an international number. */
static void default_ton_npi(struct smpp_config *sc)
{
	if (sc->source && sc->source_ton == 99) {
		size_t l = strlen(sc->source);
		if (!text_is_digits(sc->source))
			sc->source_ton = 5;	/* alphanumeric */
		else if (l <= 8)
			sc->source_ton = 3;	/* short code */
		else
			sc->source_ton = 1;
	}
	if (sc->source_npi == 99)
		sc->source_npi = sc->source_ton == 1 ? 1 : 0;
}

static struct smpp_config *parse_one(void *ctx, struct ydoc *y, yaml_node_t *map, bool *ok)
{
	struct smpp_config *sc = talloc_zero(ctx, struct smpp_config);
	if (!sc) {
		*ok = false;
		return NULL;
	}
	*sc = (struct smpp_config){
		.port = 2775, .system_type = "", .bind = SMPP_BIND_TRX, .parts_per_second = 10,
		.window = 10, .enquire_link_s = 30, .response_timeout_s = 10,
		.reconnect_min_s = 1, .reconnect_max_s = 60, .reassembly_s = 60,
		.source_ton = 99, .source_npi = 99, .country_code = "33",
	};
	if (ydoc_check_keys(y, map, smpp_keys, sizeof(smpp_keys) / sizeof(smpp_keys[0])))
		*ok = false;

	static const char *const required[] = { "name", "host", "system_id", "password", "source" };
	for (unsigned i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!ydoc_get(y, map, required[i])) {
			ydoc_error(y, map, "SMSC without `%s`", required[i]);
			*ok = false;
		}

	const char *bind = NULL;
	read_keys(sc, y, map, &bind, ok);
	check_values(sc, y, map, bind, ok);
	default_ton_npi(sc);
	return sc;
}

int smpp_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
		      struct smpp_config **out)
{
	(void)c;
	*out = NULL;
	if (ydoc_is_null(node))
		return 0;
	if (!ydoc_is_seq(node)) {
		ydoc_error(y, node, "expected a list of SMSCs, found %s", ydoc_kind(node));
		return -1;
	}
	bool ok = true;
	struct smpp_config **tail = out;
	for (unsigned i = 0; i < ydoc_len(node); i++) {
		yaml_node_t *item = ydoc_seq_item(y, node, i);
		if (!ydoc_is_map(item)) {
			ydoc_error(y, item, "expected an SMSC (a mapping), found %s", ydoc_kind(item));
			ok = false;
			continue;
		}
		struct smpp_config *sc = parse_one(ctx, y, item, &ok);
		if (!sc)
			return -1;
		for (struct smpp_config *o = *out; o && sc->name; o = o->next)
			if (o->name && strcmp(o->name, sc->name) == 0) {
				ydoc_error(y, ydoc_get(y, item, "name"), "a second SMSC named `%s`", sc->name);
				ok = false;
			}
		*tail = sc;
		tail = &sc->next;
	}
	return ok ? 0 : -1;
}
