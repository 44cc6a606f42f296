/* The `ussd_http:` section of guichet.yaml (an aggregator's USSD callback): see
 * include/guichet/ussd_http.h. Parsed apart from the transport, like the other sections. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>

#include "guichet/config.h"
#include "guichet/ussd_http.h"
#include "guichet/ydoc.h"

static int parse_allow(const char *s, struct ussd_http_allow *a)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->addr) == 1) {
		a->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, a->addr) == 1) {
		a->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	a->prefix = max;
	if (slash) {
		char *end;
		unsigned long p = strtoul(slash, &end, 10);

		if (!*slash || *end || p > max)
			return -1;
		a->prefix = (unsigned)p;
	}
	return 0;
}

/* The sessions' and connections' bounds (session_timeout, max_*, request_timeout). */
static int parse_limits(struct ydoc *y, yaml_node_t *node, struct ussd_http_config *hc)
{
	yaml_node_t *v;
	int rc = 0;

	if ((v = ydoc_get(y, node, "session_timeout"))) {
		if (ydoc_duration(y, v, &hc->session_s))
			rc = -1;
		else if (hc->session_s < 10) {
			ydoc_error(y, v, "session_timeout below 10 s would end sessions while "
				   "people read");
			rc = -1;
		}
	}
	if ((v = ydoc_get(y, node, "max_connections"))) {
		if (ydoc_uint(y, v, &hc->max_conns))
			rc = -1;
		else if (hc->max_conns < 2 || hc->max_conns > 60000) {
			ydoc_error(y, v, "max_connections must be between 2 and 60000");
			rc = -1;
		}
	}
	if ((v = ydoc_get(y, node, "max_connections_per_address"))) {
		if (ydoc_uint(y, v, &hc->max_per_addr))
			rc = -1;
		else if (hc->max_per_addr < 1) {
			ydoc_error(y, v, "max_connections_per_address must be at least 1");
			rc = -1;
		}
	}
	if ((v = ydoc_get(y, node, "request_timeout"))) {
		if (ydoc_duration(y, v, &hc->request_s))
			rc = -1;
		else if (hc->request_s < 1 || hc->request_s > 60) {
			ydoc_error(y, v, "request_timeout must be between 1s and 60s");
			rc = -1;
		}
	}
	if ((v = ydoc_get(y, node, "max_dialogues"))) {
		if (ydoc_uint(y, v, &hc->max_dialogues))
			rc = -1;
		else if (hc->max_dialogues < 1) {
			ydoc_error(y, v, "max_dialogues must be at least 1");
			rc = -1;
		}
	}
	if (!rc && hc->max_per_addr > hc->max_conns) {
		ydoc_error(y, node, "max_connections_per_address (%u) above max_connections (%u)",
			   hc->max_per_addr, hc->max_conns);
		rc = -1;
	}
	return rc;
}

/* allow: the addresses or networks aggregators call from. */
static int parse_allow_list(struct ydoc *y, yaml_node_t *v, struct ussd_http_config *hc)
{
	const char *s;
	int rc = 0;

	if (!ydoc_is_seq(v)) {
		ydoc_error(y, v, "allow must be a list of addresses, found %s", ydoc_kind(v));
		rc = -1;
	} else {
		unsigned i, n = ydoc_len(v);

		hc->allow = talloc_zero_array(hc, struct ussd_http_allow, n ? n : 1);
		for (i = 0; hc->allow && i < n; i++) {
			yaml_node_t *it = ydoc_seq_item(y, v, i);

			if (!(s = ydoc_string(y, it))) {
				rc = -1;
			} else if (parse_allow(s, &hc->allow[hc->n_allow])) {
				ydoc_error(y, it, "`%s` is not an address nor an address/prefix",
					   s);
				rc = -1;
			} else {
				hc->n_allow++;
			}
		}
		if (!n) {
			ydoc_error(y, v, "an empty allow list would refuse every aggregator");
			rc = -1;
		}
	}
	return rc;
}

/* secret: what aggregators must send (X-Guichet-Secret, or ?secret=). */
static int parse_secret(struct ydoc *y, yaml_node_t *v, struct config *c,
			struct ussd_http_config *hc)
{
	const char *s;
	int rc = 0;
	char err[256];

	if (!(s = ydoc_string(y, v))) {
		rc = -1;
	} else if (!(hc->secret = config_read_secret(hc, c, s, err, sizeof(err)))) {
		ydoc_error(y, v, "%s", err);
		rc = -1;
	} else if (!*hc->secret) {
		ydoc_error(y, v, "secret `%s` is empty", s);
		rc = -1;
	}
	return rc;
}

int ussd_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
			   struct ussd_http_config **out)
{
	static const char *const keys[] = { "listen", "port", "secret", "allow", "session_timeout",
					    "max_connections", "max_connections_per_address",
					    "request_timeout", "max_dialogues" };
	struct ussd_http_config *hc;
	yaml_node_t *v;
	const char *s;
	int rc = 0;

	*out = NULL;
	hc = talloc_zero(ctx, struct ussd_http_config);
	if (!hc)
		return -1;
	hc->listen = "127.0.0.1";
	hc->port = 8089;
	hc->session_s = 180;
	hc->max_conns = USSD_HTTP_MAX_CONNECTIONS;
	hc->max_per_addr = USSD_HTTP_MAX_PER_ADDRESS;
	hc->request_s = USSD_HTTP_REQUEST_TIMEOUT;
	hc->max_dialogues = USSD_MAX_DIALOGUES;
	if (ydoc_is_null(node) || !ydoc_is_map(node)) {
		ydoc_error(y, node, "ussd_http must be a mapping (listen, port, secret, allow), "
			   "found %s", ydoc_kind(node));
		talloc_free(hc);
		return -1;
	}
	if (ydoc_check_keys(y, node, keys, ARRAY_SIZE(keys)))
		rc = -1;
	if ((v = ydoc_get(y, node, "listen"))) {
		if ((s = ydoc_listen(y, v)))
			hc->listen = talloc_strdup(hc, s);
		else
			rc = -1;
	}
	if ((v = ydoc_get(y, node, "port")) && ydoc_port(y, v, 0, &hc->port))
		rc = -1;
	if (parse_limits(y, node, hc))
		rc = -1;
	if ((v = ydoc_get(y, node, "allow")) && parse_allow_list(y, v, hc))
		rc = -1;
	if ((v = ydoc_get(y, node, "secret")) && parse_secret(y, v, c, hc))
		rc = -1;
	if (!rc && !hc->secret && !hc->n_allow) {
		ydoc_error(y, node, "ussd_http needs a `secret`, an `allow` list, or both");
		rc = -1;
	}
	if (rc) {
		talloc_free(hc);
		return -1;
	}
	*out = hc;
	return 0;
}
