/* The `backends:` section of the config -> struct backend_config (backend.h).
 *
 *   backends:
 *     agenda:
 *       url: https://127.0.0.1:8443
 *       ca: demo-ca.pem
 *       auth: { bearer: agenda-token }
 *       timeout_ms: 3000
 *       operations:
 *         slots: { method: GET, path: /agenda/slots, query: { service: "{{service}}" } }
 *
 * Every error is reported with its location; parsing goes on to find the others. Files (CA,
 * client certificate and key) are resolved against the config's directory and must be
 * readable now; secrets are only named here and read when the relay starts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend.h"
#include "guichet/template.h"

struct parse {
	void *ctx;
	struct ydoc *y;
	const struct config *c;
	unsigned errors;
};

#define ERR(p, node, ...) do { ydoc_error((p)->y, (node), __VA_ARGS__); (p)->errors++; } while (0)

static bool is_name(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
		     strlen(s);
}

/* A template that template_check accepts; reports the problem at the node otherwise. */
static const char *tmpl_string(struct parse *p, yaml_node_t *n, const char *what)
{
	char err[160];
	size_t off = 0;
	const char *s = ydoc_scalar(n);

	if (!s) {
		ERR(p, n, "%s: expected text, found %s", what, ydoc_kind(n));
		return NULL;
	}
	if (template_check(s, NULL, NULL, err, sizeof(err), &off) < 0) {
		ERR(p, n, "%s: bad template: %s (at byte %zu)", what, err, off);
		return NULL;
	}
	return talloc_strdup(p->ctx, s);
}

/* Required non-empty text at key of map. */
static const char *need_string(struct parse *p, yaml_node_t *map, const char *key,
			       const char *where)
{
	yaml_node_t *n = ydoc_get(p->y, map, key);
	const char *s;

	if (!n) {
		ERR(p, map, "%s: `%s` is missing", where, key);
		return NULL;
	}
	s = ydoc_scalar(n);
	if (!s || !*s || ydoc_is_null(n)) {
		ERR(p, n, "%s: `%s` must be text, found %s", where, key, ydoc_kind(n));
		return NULL;
	}
	return talloc_strdup(p->ctx, s);
}

static char *resolve_path(struct parse *p, const char *f)
{
	if (f[0] == '/' || !p->c || !p->c->dir || !*p->c->dir)
		return talloc_strdup(p->ctx, f);
	return talloc_asprintf(p->ctx, "%s/%s", p->c->dir, f);
}

/* A file that must be readable now (CA, client certificate and key). */
static const char *need_file(struct parse *p, yaml_node_t *n, const char *what)
{
	const char *s = ydoc_scalar(n);
	char *path;

	if (!s || !*s || ydoc_is_null(n)) {
		ERR(p, n, "%s: expected a file name, found %s", what, ydoc_kind(n));
		return NULL;
	}
	path = resolve_path(p, s);
	if (path && access(path, R_OK) < 0) {
		int e = errno;

		ERR(p, n, "%s: cannot read `%s`: %s", what, path, strerror(e));
		return NULL;
	}
	return path;
}

static int parse_ms(struct parse *p, yaml_node_t *map, const char *key, unsigned *out,
		    unsigned min, unsigned max)
{
	yaml_node_t *n = ydoc_get(p->y, map, key);
	unsigned v;

	if (!n)
		return 0;
	if (ydoc_uint(p->y, n, &v) < 0) {
		p->errors++;
		return -1;
	}
	if (v < min || v > max) {
		ERR(p, n, "`%s` must be between %u and %u", key, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A mapping of names to templates (query, body, headers). */
static void parse_kvs(struct parse *p, yaml_node_t *map, const char *what, bool header,
		      struct backend_kv **out, unsigned *n_out)
{
	unsigned i, n;

	if (!ydoc_is_map(map)) {
		ERR(p, map, "`%s` must be a mapping of names to text, found %s", what,
		    ydoc_kind(map));
		return;
	}
	n = ydoc_len(map);
	*out = talloc_zero_array(p->ctx, struct backend_kv, n ? n : 1);
	*n_out = 0;
	for (i = 0; i < n; i++) {
		yaml_node_t *kn = ydoc_map_key(p->y, map, i);
		yaml_node_t *vn = ydoc_map_value(p->y, map, i);
		const char *k = ydoc_scalar(kn);
		const char *v;
		unsigned j;
		bool dup = false;

		if (!k || !*k) {
			ERR(p, kn, "%s: a name must be text, found %s", what, ydoc_kind(kn));
			continue;
		}
		for (j = 0; j < *n_out; j++)
			dup |= header ? !strcasecmp((*out)[j].name, k) : !strcmp((*out)[j].name, k);
		if (dup) {
			ERR(p, kn, "%s: `%s` appears twice", what, k);
			continue;
		}
		if (header && (!is_name(k) || !strcasecmp(k, "host") ||
			       !strcasecmp(k, "content-length") || !strcasecmp(k, "authorization"))) {
			ERR(p, kn, "%s: `%s` cannot be set here", what, k);
			continue;
		}
		if (!ydoc_scalar(vn)) {
			ERR(p, vn, "%s.%s: expected text (a template), found %s", what, k,
			    ydoc_kind(vn));
			continue;
		}
		v = tmpl_string(p, vn, what);
		if (!v)
			continue;
		if (header && template_is_literal(v) && strpbrk(v, "\r\n")) {
			ERR(p, vn, "%s.%s: a header cannot hold a line break", what, k);
			continue;
		}
		(*out)[*n_out].name = talloc_strdup(p->ctx, k);
		(*out)[*n_out].tmpl = v;
		(*n_out)++;
	}
}

static bool dotted_ok(const char *s)
{
	return *s && s[0] != '.' && s[strlen(s) - 1] != '.' && !strstr(s, "..") &&
	       !strpbrk(s, " \t\r\n");
}

/* method: GET (default), POST, PUT, PATCH or DELETE, any case. */
static void parse_method(struct parse *p, yaml_node_t *map, const char *where,
			 struct backend_op *op)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	yaml_node_t *n;
	const char *s;
	unsigned i;

	op->method = "GET";
	n = ydoc_get(p->y, map, "method");
	if (n) {
		s = ydoc_scalar(n);
		op->method = NULL;
		for (i = 0; s && i < sizeof(methods) / sizeof(methods[0]); i++)
			if (!strcasecmp(s, methods[i]))
				op->method = methods[i];
		if (!op->method) {
			ERR(p, n, "%s: method must be GET, POST, PUT, PATCH or DELETE", where);
			op->method = "GET";
		}
	}
}

/* require: a field name or a list of them, each dotted (data.items). */
static void parse_require(struct parse *p, yaml_node_t *map, const char *where,
			  struct backend_op *op)
{
	yaml_node_t *n;
	const char *s;
	unsigned i;

	n = ydoc_get(p->y, map, "require");
	if (n) {
		if (ydoc_scalar(n) && !ydoc_is_null(n)) {
			op->require = talloc_array(p->ctx, const char *, 1);
			op->require[0] = talloc_strdup(p->ctx, ydoc_scalar(n));
			op->n_require = 1;
		} else if (ydoc_is_seq(n)) {
			unsigned len = ydoc_len(n);

			op->require = talloc_zero_array(p->ctx, const char *, len ? len : 1);
			for (i = 0; i < len; i++) {
				yaml_node_t *it = ydoc_seq_item(p->y, n, i);

				s = ydoc_scalar(it);
				if (!s || !dotted_ok(s)) {
					ERR(p, it, "%s: require: expected a dotted field name, found %s",
					    where, s ? s : ydoc_kind(it));
					continue;
				}
				op->require[op->n_require++] = talloc_strdup(p->ctx, s);
			}
		} else if (!ydoc_is_null(n)) {
			ERR(p, n, "%s: require must be a list of field names, found %s", where,
			    ydoc_kind(n));
		}
	}
}

static void parse_op(struct parse *p, struct backend_def *d, yaml_node_t *kn, yaml_node_t *map,
		     struct backend_op *op)
{
	static const char *const keys[] = { "method", "path", "query", "body", "headers",
		"idempotent", "result", "require", "timeout_ms" };
	const char *where = talloc_asprintf(p->ctx, "%s.%s", d->name, ydoc_scalar(kn));
	yaml_node_t *n;
	const char *s;

	op->name = talloc_strdup(p->ctx, ydoc_scalar(kn));
	op->full = where;
	if (!ydoc_is_map(map)) {
		ERR(p, map ? map : kn, "operation %s: expected a mapping, found %s", where,
		    ydoc_kind(map));
		return;
	}
	p->errors += ydoc_check_keys(p->y, map, keys, sizeof(keys) / sizeof(keys[0]));

	parse_method(p, map, where, op);

	n = ydoc_get(p->y, map, "path");
	if (!n) {
		ERR(p, map, "%s: `path` is missing", where);
	} else if ((op->path = tmpl_string(p, n, "path")) && op->path[0] != '/') {
		ERR(p, n, "%s: path must start with /", where);
	} else if (op->path && strpbrk(op->path, "?# \t\r\n")) {
		ERR(p, n, "%s: path cannot hold ?, # or blanks (use query: for parameters)", where);
	}

	n = ydoc_get(p->y, map, "query");
	if (n && !ydoc_is_null(n))
		parse_kvs(p, n, "query", false, &op->query, &op->n_query);
	n = ydoc_get(p->y, map, "body");
	if (n && !ydoc_is_null(n)) {
		op->has_body = true;
		parse_kvs(p, n, "body", false, &op->body, &op->n_body);
		if (!strcmp(op->method, "GET") || !strcmp(op->method, "DELETE"))
			ERR(p, n, "%s: a %s request cannot have a body", where, op->method);
	}
	n = ydoc_get(p->y, map, "headers");
	if (n && !ydoc_is_null(n))
		parse_kvs(p, n, "headers", true, &op->headers, &op->n_headers);

	n = ydoc_get(p->y, map, "idempotent");
	if (n && ydoc_bool(p->y, n, &op->idempotent) < 0)
		p->errors++;

	n = ydoc_get(p->y, map, "result");
	if (n) {
		s = ydoc_scalar(n);
		if (!s || !dotted_ok(s))
			ERR(p, n, "%s: result must be a dotted field name (slots, data.items)", where);
		else
			op->result = talloc_strdup(p->ctx, s);
	}

	parse_require(p, map, where, op);
	parse_ms(p, map, "timeout_ms", &op->timeout_ms, 1, 600000);
}

static void parse_auth(struct parse *p, struct backend_def *d, yaml_node_t *n)
{
	yaml_node_t *v;

	if (!ydoc_is_map(n) || ydoc_len(n) == 0) {
		ERR(p, n, "%s: auth must be { bearer: SECRET }, { basic: { user: U, password: SECRET } }"
		    " or { cert: FILE, key: FILE }, found %s", d->name, ydoc_kind(n));
		return;
	}
	if ((v = ydoc_get(p->y, n, "bearer"))) {
		static const char *const keys[] = { "bearer" };

		p->errors += ydoc_check_keys(p->y, n, keys, 1);
		d->auth = BACKEND_AUTH_BEARER;
		d->token = need_string(p, n, "bearer", d->name);
	} else if ((v = ydoc_get(p->y, n, "basic"))) {
		static const char *const keys[] = { "basic" };
		static const char *const bkeys[] = { "user", "password" };

		p->errors += ydoc_check_keys(p->y, n, keys, 1);
		d->auth = BACKEND_AUTH_BASIC;
		if (!ydoc_is_map(v)) {
			ERR(p, v, "%s: basic must be { user: U, password: SECRET }, found %s",
			    d->name, ydoc_kind(v));
			return;
		}
		p->errors += ydoc_check_keys(p->y, v, bkeys, 2);
		d->user = need_string(p, v, "user", d->name);
		d->password = need_string(p, v, "password", d->name);
		if (d->user && strchr(d->user, ':'))
			ERR(p, ydoc_get(p->y, v, "user"), "%s: a basic user cannot hold `:`", d->name);
	} else if (ydoc_get(p->y, n, "cert") || ydoc_get(p->y, n, "key")) {
		static const char *const keys[] = { "cert", "key" };

		p->errors += ydoc_check_keys(p->y, n, keys, 2);
		d->auth = BACKEND_AUTH_CERT;
		if (!ydoc_get(p->y, n, "cert"))
			ERR(p, n, "%s: `cert` is missing (client certificate file)", d->name);
		else
			d->cert = need_file(p, ydoc_get(p->y, n, "cert"), "cert");
		if (!ydoc_get(p->y, n, "key"))
			ERR(p, n, "%s: `key` is missing (client key file)", d->name);
		else
			d->key = need_file(p, ydoc_get(p->y, n, "key"), "key");
	} else {
		static const char *const keys[] = { "bearer", "basic", "cert", "key" };

		p->errors += ydoc_check_keys(p->y, n, keys, 4);
	}
}

/* url: https:// and a host, no query nor fragment; kept without trailing slashes. */
static void parse_url(struct parse *p, yaml_node_t *map, struct backend_def *d)
{
	const char *url = need_string(p, map, "url", d->name);
	yaml_node_t *n;

	if (url) {
		n = ydoc_get(p->y, map, "url");
		if (strncasecmp(url, "https://", 8) || !url[8] || url[8] == '/') {
			/* TLS is not optional: plain http would carry a person's data in clear. */
			ERR(p, n, "%s: url must start with https:// and name a host", d->name);
		} else if (strpbrk(url, "?# \t\r\n{}")) {
			ERR(p, n, "%s: url cannot hold ?, #, braces or blanks", d->name);
		} else {
			char *u = talloc_strdup(p->ctx, url);
			size_t l = strlen(u);

			while (l > 8 && u[l - 1] == '/')
				u[--l] = '\0';
			d->url = u;
		}
	}
}

/* operations: { name: { ... }, ... }, each name a word, once. */
static void parse_ops(struct parse *p, yaml_node_t *map, struct backend_def *d)
{
	yaml_node_t *ops;
	unsigned i, len;

	ops = ydoc_get(p->y, map, "operations");
	if (!ops) {
		ERR(p, map, "back-end %s: `operations` is missing", d->name);
		return;
	}
	if (!ydoc_is_map(ops) || ydoc_len(ops) == 0) {
		ERR(p, ops, "back-end %s: operations must be a mapping of names to operations, "
		    "found %s", d->name, ydoc_kind(ops));
		return;
	}
	len = ydoc_len(ops);
	d->ops = talloc_zero_array(p->ctx, struct backend_op, len);
	for (i = 0; i < len; i++) {
		yaml_node_t *okn = ydoc_map_key(p->y, ops, i);
		const char *name = ydoc_scalar(okn);
		unsigned j;
		bool dup = false;

		if (!name || !is_name(name)) {
			ERR(p, okn, "back-end %s: an operation name is a word of letters, digits, _ "
			    "and -", d->name);
			continue;
		}
		for (j = 0; j < d->n_ops; j++)
			dup |= !strcmp(d->ops[j].name, name);
		if (dup) {
			ERR(p, okn, "back-end %s: operation `%s` appears twice", d->name, name);
			continue;
		}
		parse_op(p, d, okn, ydoc_map_value(p->y, ops, i), &d->ops[d->n_ops++]);
	}
}

static void parse_backend(struct parse *p, yaml_node_t *kn, yaml_node_t *map,
			  struct backend_def *d)
{
	static const char *const keys[] = { "url", "ca", "auth", "headers", "timeout_ms",
		"connect_timeout_ms", "max_response", "operations" };
	yaml_node_t *n;

	d->name = talloc_strdup(p->ctx, ydoc_scalar(kn));
	d->timeout_ms = BACKEND_TIMEOUT_DEFAULT_MS;
	d->connect_timeout_ms = BACKEND_CONNECT_TIMEOUT_DEFAULT_MS;
	d->max_response = BACKEND_MAX_RESPONSE_DEFAULT;
	if (!ydoc_is_map(map)) {
		ERR(p, map ? map : kn, "back-end %s: expected a mapping, found %s", d->name,
		    ydoc_kind(map));
		return;
	}
	p->errors += ydoc_check_keys(p->y, map, keys, sizeof(keys) / sizeof(keys[0]));

	parse_url(p, map, d);

	n = ydoc_get(p->y, map, "ca");
	if (n && !ydoc_is_null(n))
		d->ca = need_file(p, n, "ca");
	n = ydoc_get(p->y, map, "auth");
	if (n && !ydoc_is_null(n))
		parse_auth(p, d, n);
	n = ydoc_get(p->y, map, "headers");
	if (n && !ydoc_is_null(n))
		parse_kvs(p, n, "headers", true, &d->headers, &d->n_headers);
	parse_ms(p, map, "timeout_ms", &d->timeout_ms, 1, 600000);
	parse_ms(p, map, "connect_timeout_ms", &d->connect_timeout_ms, 1, 600000);
	parse_ms(p, map, "max_response", &d->max_response, 16, 64u * 1024 * 1024);

	parse_ops(p, map, d);
}

int backend_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
			 struct backend_config **out)
{
	struct parse p = { .y = y, .c = c };
	struct backend_config *bc;
	unsigned i, len;

	*out = NULL;
	bc = talloc_zero(ctx, struct backend_config);
	if (!bc)
		return -1;
	p.ctx = bc;
	if (ydoc_is_null(node)) {
		*out = bc;
		return 0;
	}
	if (!ydoc_is_map(node)) {
		ydoc_error(y, node, "backends must be a mapping of back-end names, found %s",
			   ydoc_kind(node));
		talloc_free(bc);
		return -1;
	}
	len = ydoc_len(node);
	bc->defs = talloc_zero_array(bc, struct backend_def, len ? len : 1);
	for (i = 0; i < len; i++) {
		yaml_node_t *kn = ydoc_map_key(y, node, i);
		const char *name = ydoc_scalar(kn);
		unsigned j;
		bool dup = false;

		if (!name || !is_name(name)) {
			ERR(&p, kn, "a back-end name is a word of letters, digits, _ and -");
			continue;
		}
		for (j = 0; j < bc->n; j++)
			dup |= !strcmp(bc->defs[j].name, name);
		if (dup) {
			ERR(&p, kn, "back-end `%s` appears twice", name);
			continue;
		}
		parse_backend(&p, kn, ydoc_map_value(y, node, i), &bc->defs[bc->n++]);
	}
	if (p.errors) {
		talloc_free(bc);
		return -1;
	}
	*out = bc;
	return 0;
}

unsigned backend_config_ops(const struct backend_config *bc, const char ***names, void *ctx)
{
	unsigned i, j, n = 0, k = 0;

	*names = NULL;
	if (!bc)
		return 0;
	for (i = 0; i < bc->n; i++)
		n += bc->defs[i].n_ops;
	*names = talloc_zero_array(ctx, const char *, n + 1);
	if (!*names)
		return 0;
	for (i = 0; i < bc->n; i++)
		for (j = 0; j < bc->defs[i].n_ops; j++)
			(*names)[k++] = talloc_strdup(*names, bc->defs[i].ops[j].full);
	return k;
}

const struct backend_op *backend_config_find(const struct backend_config *bc, const char *op,
					     const struct backend_def **def)
{
	const char *dot = op ? strchr(op, '.') : NULL;
	unsigned i, j;

	if (!bc || !dot)
		return NULL;
	for (i = 0; i < bc->n; i++) {
		const struct backend_def *d = &bc->defs[i];

		if (strncmp(d->name, op, dot - op) || d->name[dot - op])
			continue;
		for (j = 0; j < d->n_ops; j++) {
			if (!strcmp(d->ops[j].name, dot + 1)) {
				if (def)
					*def = d;
				return &d->ops[j];
			}
		}
	}
	return NULL;
}
