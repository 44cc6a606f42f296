/* The `gsup:` section of guichet.yaml (osmo-hlr's External USSD Entity link): see
 * include/guichet/ussd_gsup.h. Parsed apart from the transport, like the other sections. */
#include <string.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>

#include "guichet/ussd_gsup.h"
#include "guichet/ydoc.h"

int gsup_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
		      struct gsup_config **out)
{
	static const char *const keys[] = { "host", "port", "name", "guard_timeout",
					    "max_dialogues" };
	struct gsup_config *gc;
	yaml_node_t *v;
	const char *s;
	int rc = 0;

	(void)c;
	*out = NULL;
	gc = talloc_zero(ctx, struct gsup_config);
	if (!gc)
		return -1;
	gc->host = "127.0.0.1";
	gc->port = 4222;
	gc->name = "guichet";
	gc->guard_s = 40;
	gc->max_dialogues = USSD_MAX_DIALOGUES;
	if (!ydoc_is_null(node)) {
		if (!ydoc_is_map(node)) {
			ydoc_error(y, node, "gsup must be a mapping (host, port, name), found %s",
				   ydoc_kind(node));
			talloc_free(gc);
			return -1;
		}
		if (ydoc_check_keys(y, node, keys, ARRAY_SIZE(keys)))
			rc = -1;
		if ((v = ydoc_get(y, node, "host"))) {
			if ((s = ydoc_string(y, v)) && *s)
				gc->host = talloc_strdup(gc, s);
			else
				rc = -1;
		}
		if ((v = ydoc_get(y, node, "port")) && ydoc_port(y, v, 1, &gc->port))
			rc = -1;
		if ((v = ydoc_get(y, node, "name"))) {
			s = ydoc_string(y, v);
			if (!s)
				rc = -1;
			else if (!*s || strlen(s) > 60 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
					"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(s)) {
				ydoc_error(y, v, "name is the EUSE name of osmo-hlr's `euse NAME`: "
					   "letters, digits, `_`, `-`, `.`, at most 60");
				rc = -1;
			} else {
				gc->name = talloc_strdup(gc, s);
			}
		}
		if ((v = ydoc_get(y, node, "max_dialogues"))) {
			if (ydoc_uint(y, v, &gc->max_dialogues))
				rc = -1;
			else if (gc->max_dialogues < 1) {
				ydoc_error(y, v, "max_dialogues must be at least 1");
				rc = -1;
			}
		}
		if ((v = ydoc_get(y, node, "guard_timeout"))) {
			if (ydoc_duration(y, v, &gc->guard_s))
				rc = -1;
			else if (gc->guard_s < 5) {
				ydoc_error(y, v, "guard_timeout below 5 s would end dialogues while "
					   "people read");
				rc = -1;
			}
		}
	}
	if (rc) {
		talloc_free(gc);
		return -1;
	}
	*out = gc;
	return 0;
}
