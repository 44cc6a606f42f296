/* A call port with canned answers, for `guichet simulate` and tests: no network.
 *
 * The fixture is a YAML mapping of "backend.operation" to what that operation answers:
 *
 *   agenda.slots:   { json: '{"slots":[{"id":"S1","label":"lun. 7 déc. 9h30"}]}' }
 *   agenda.book:    { answer: { reference: RDV-0001 } }     # a YAML value, as JSON
 *   dossier.status: { error: "HTTP 503" }
 *   agenda.slow:    { json: '{}', delay_ms: 2000 }
 *
 * Answers are flattened like the relay's (backend_flatten_json) once, at load. They are
 * delivered from a timer (zero delay unless delay_ms), never from inside call(). */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <osmocom/core/linuxlist.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/backend.h"

struct canned_answer {
	const char *op;
	const char *error;	/* NULL: success with vars */
	struct vars vars;
	unsigned delay_ms;
};

struct canned {
	struct canned_answer *a;
	unsigned n;
};

struct canned_call {
	struct canned *cn;
	const struct canned_answer *a;
	call_done_fn done;
	void *data;
	struct osmo_timer_list timer;
};

static json_t *yaml_to_json(struct ydoc *y, yaml_node_t *n, unsigned depth)
{
	json_t *out;
	unsigned i, len;

	if (!n || depth > 64)
		return NULL;
	switch (n->type) {
	case YAML_MAPPING_NODE:
		out = json_object();
		len = ydoc_len(n);
		for (i = 0; out && i < len; i++) {
			const char *k = ydoc_scalar(ydoc_map_key(y, n, i));
			json_t *v = yaml_to_json(y, ydoc_map_value(y, n, i), depth + 1);

			if (!k || !v || json_object_set_new(out, k, v) < 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	case YAML_SEQUENCE_NODE:
		out = json_array();
		len = ydoc_len(n);
		for (i = 0; out && i < len; i++) {
			json_t *v = yaml_to_json(y, ydoc_seq_item(y, n, i), depth + 1);

			if (!v || json_array_append_new(out, v) < 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	case YAML_SCALAR_NODE:
		/* Flattened values are text anyway: 3 and "3" read the same. */
		return ydoc_is_null(n) ? json_null() : json_string(ydoc_scalar(n));
	default:
		return NULL;
	}
}

static int load_answer(struct ydoc *y, struct canned *cn, yaml_node_t *kn, yaml_node_t *vn,
		       struct canned_answer *a)
{
	static const char *const keys[] = { "json", "answer", "error", "delay_ms" };
	const char *op = ydoc_scalar(kn);
	yaml_node_t *n;
	char err[200];
	unsigned kinds = 0;

	if (!op || !strchr(op, '.')) {
		ydoc_error(y, kn, "expected an operation name like agenda.slots");
		return -1;
	}
	if (!ydoc_is_map(vn)) {
		ydoc_error(y, vn ? vn : kn, "%s: expected { json: ... }, { answer: ... } or "
			   "{ error: ... }, found %s", op, ydoc_kind(vn));
		return -1;
	}
	if (ydoc_check_keys(y, vn, keys, 4))
		return -1;
	a->op = talloc_strdup(cn, op);
	vars_init(&a->vars, cn);
	kinds = !!ydoc_get(y, vn, "json") + !!ydoc_get(y, vn, "answer") + !!ydoc_get(y, vn, "error");
	if (kinds != 1) {
		ydoc_error(y, vn, "%s: give exactly one of json, answer or error", op);
		return -1;
	}
	n = ydoc_get(y, vn, "delay_ms");
	if (n && ydoc_uint(y, n, &a->delay_ms) < 0)
		return -1;
	if ((n = ydoc_get(y, vn, "error"))) {
		const char *e = ydoc_string(y, n);

		if (!e)
			return -1;
		a->error = talloc_asprintf(cn, "%s: %s", op, e);
		return 0;
	}
	if ((n = ydoc_get(y, vn, "json"))) {
		const char *j = ydoc_string(y, n);

		if (!j)
			return -1;
		if (backend_flatten_json(j, strlen(j), &a->vars, err, sizeof(err)) < 0) {
			ydoc_error(y, n, "%s: %s", op, err);
			return -1;
		}
		return 0;
	}
	n = ydoc_get(y, vn, "answer");
	{
		json_t *v = yaml_to_json(y, n, 0);
		char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
		int rc = -1;

		if (!text)
			ydoc_error(y, n, "%s: cannot turn this answer into JSON", op);
		else if (backend_flatten_json(text, strlen(text), &a->vars, err, sizeof(err)) < 0)
			ydoc_error(y, n, "%s: %s", op, err);
		else
			rc = 0;
		free(text);
		json_decref(v);
		return rc;
	}
}

static int canned_call_free(struct canned_call *cc)
{
	osmo_timer_del(&cc->timer);
	return 0;
}

static void canned_deliver(void *data)
{
	struct canned_call *cc = data;

	if (cc->a->error)
		cc->done(cc->data, false, NULL, cc->a->error);
	else
		cc->done(cc->data, true, &cc->a->vars, NULL);
	talloc_free(cc);
}

static int canned_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		       call_done_fn done, void *data)
{
	struct canned *cn = impl;
	struct canned_call *cc;
	unsigned i;

	(void)args;
	(void)budget_ms;
	for (i = 0; i < cn->n; i++)
		if (!strcmp(cn->a[i].op, op))
			break;
	if (i == cn->n)
		return -1;
	cc = talloc_zero(cn, struct canned_call);
	if (!cc)
		return -1;
	cc->cn = cn;
	cc->a = &cn->a[i];
	cc->done = done;
	cc->data = data;
	osmo_timer_setup(&cc->timer, canned_deliver, cc);
	talloc_set_destructor(cc, canned_call_free);
	osmo_timer_schedule(&cc->timer, cc->a->delay_ms / 1000, (cc->a->delay_ms % 1000) * 1000);
	return 0;
}

/* Loads the answers of mapping root (NULL or null: none) into a new canned port under ctx;
 * every error is reported through y. */
static struct canned *canned_load(void *ctx, struct ydoc *y, yaml_node_t *root)
{
	struct canned *cn;
	unsigned i, len, bad = 0;

	cn = talloc_zero(ctx, struct canned);
	if (!cn)
		return NULL;
	if (!ydoc_is_null(root) && !ydoc_is_map(root)) {
		ydoc_error(y, root, "expected a mapping of operations to answers, found %s",
			   ydoc_kind(root));
		goto fail;
	}
	len = ydoc_is_null(root) ? 0 : ydoc_len(root);
	cn->a = talloc_zero_array(cn, struct canned_answer, len ? len : 1);
	for (i = 0; cn->a && i < len; i++) {
		if (load_answer(y, cn, ydoc_map_key(y, root, i), ydoc_map_value(y, root, i),
				&cn->a[cn->n]) < 0)
			bad++;
		else
			cn->n++;
	}
	if (bad || !cn->a)
		goto fail;
	return cn;
fail:
	talloc_free(cn);
	return NULL;
}

struct call_port backend_canned_port(void *ctx, const char *fixture_file, struct diag *d)
{
	struct call_port port = { 0 };
	struct ydoc y = { 0 };
	struct canned *cn = NULL;
	void *tmp = talloc_new(ctx);

	if (ydoc_load_file(&y, tmp, fixture_file, d) == 0)
		cn = canned_load(ctx, &y, ydoc_root(&y));
	ydoc_free(&y);
	talloc_free(tmp);
	if (cn) {
		port.call = canned_call;
		port.impl = cn;
	}
	return port;
}

struct call_port backend_canned_port_node(void *ctx, struct ydoc *y, yaml_node_t *map)
{
	struct call_port port = { 0 };
	struct canned *cn = canned_load(ctx, y, map);

	if (cn) {
		port.call = canned_call;
		port.impl = cn;
	}
	return port;
}
