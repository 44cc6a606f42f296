/* Pure parts of the back-end relay: building a request (URL, JSON body, headers) from an
 * operation and a call's arguments, and reading an answer into flat vars. No I/O.
 *
 * What a person typed reaches a request only through backend_url_encode() or as a JSON
 * string built by jansson: never spliced into a URL or a JSON text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend.h"
#include "guichet/template.h"

static const char *args_lookup(void *data, const char *name)
{
	return vars_get(data, name);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

char *backend_url_encode(void *ctx, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out = talloc_size(ctx, 3 * n + 1);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (unreserved(c)) {
			out[o++] = c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* End of the {{ ... }} expression starting at p (p points at "{{"): the byte after "}}",
 * skipping quoted strings (a default: "..." may hold braces). NULL when unterminated. */
static const char *expr_end(const char *p)
{
	char quote = 0;

	for (p += 2; *p; p++) {
		if (quote) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (p[0] == '}' && p[1] == '}') {
			return p + 2;
		}
	}
	return NULL;
}

/* Expands tmpl keeping its literal text as written and percent-encoding what each {{...}}
 * expands to, so a value can never add a '/', '?' or '#' to a path. */
static char *expand_encoded_each(void *ctx, const char *tmpl, const struct vars *args, char *err,
				 size_t err_len)
{
	char *out = talloc_strdup(ctx, "");
	const char *p = tmpl;

	while (out && *p) {
		const char *open = strstr(p, "{{"), *end;
		char *expr, *val, *enc;

		if (!open)
			return talloc_strdup_append(out, p);
		out = talloc_strndup_append(out, p, open - p);
		end = expr_end(open);
		if (!end) {
			snprintf(err, err_len, "unterminated {{ in template");
			talloc_free(out);
			return NULL;
		}
		expr = talloc_strndup(ctx, open, end - open);
		val = expr ? template_expand(expr, expr, args_lookup, (void *)args) : NULL;
		if (!val) {
			snprintf(err, err_len, "malformed template");
			talloc_free(expr);
			talloc_free(out);
			return NULL;
		}
		enc = backend_url_encode(expr, val);
		out = enc ? talloc_strdup_append(out, enc) : NULL;
		talloc_free(expr);
		p = end;
	}
	if (!out)
		snprintf(err, err_len, "out of memory");
	return out;
}

static char *expand(void *ctx, const char *tmpl, const struct vars *args, char *err,
		    size_t err_len)
{
	char *v = template_expand(ctx, tmpl, args_lookup, (void *)args);

	if (!v)
		snprintf(err, err_len, "malformed template");
	return v;
}

char *backend_build_url(void *ctx, const struct backend_def *d, const struct backend_op *op,
			const struct vars *args, char *err, size_t err_len)
{
	char *url, *path;
	unsigned i;

	path = expand_encoded_each(ctx, op->path, args, err, err_len);
	if (!path)
		return NULL;
	url = talloc_asprintf(ctx, "%s%s", d->url, path);
	talloc_free(path);
	for (i = 0; url && i < op->n_query; i++) {
		char *v = expand(url, op->query[i].tmpl, args, err, err_len);
		char *ek, *ev;

		if (!v) {
			talloc_free(url);
			return NULL;
		}
		ek = backend_url_encode(url, op->query[i].name);
		ev = backend_url_encode(url, v);
		if (!ek || !ev) {
			talloc_free(url);
			url = NULL;
			break;
		}
		url = talloc_asprintf_append(url, "%c%s=%s", i ? '&' : '?', ek, ev);
		talloc_free(v);
		talloc_free(ek);
		talloc_free(ev);
	}
	if (!url)
		snprintf(err, err_len, "out of memory");
	return url;
}

char *backend_build_body(void *ctx, const struct backend_op *op, const struct vars *args,
			 char *err, size_t err_len)
{
	json_t *obj;
	char *text, *out = NULL;
	unsigned i;

	if (!op->has_body)
		return talloc_strdup(ctx, "");
	obj = json_object();
	if (!obj)
		goto oom;
	for (i = 0; i < op->n_body; i++) {
		char *v = expand(ctx, op->body[i].tmpl, args, err, err_len);
		json_t *s;

		if (!v) {
			json_decref(obj);
			return NULL;
		}
		/* json_string refuses invalid UTF-8: a person's bytes are passed on only as
		 * valid text. */
		s = json_string(v);
		talloc_free(v);
		if (!s) {
			snprintf(err, err_len, "body field %s: not valid UTF-8", op->body[i].name);
			json_decref(obj);
			return NULL;
		}
		if (json_object_set_new(obj, op->body[i].name, s) < 0) {
			json_decref(obj);
			goto oom;
		}
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		goto oom;
	out = talloc_strdup(ctx, text);
	free(text);
	if (out)
		return out;
oom:
	snprintf(err, err_len, "out of memory");
	return NULL;
}

char *backend_build_header(void *ctx, const struct backend_kv *h, const struct vars *args,
			   char *err, size_t err_len)
{
	char *v = expand(ctx, h->tmpl, args, err, err_len);
	char *line;

	if (!v)
		return NULL;
	if (strpbrk(v, "\r\n")) {
		snprintf(err, err_len, "header %s: value contains a line break", h->name);
		talloc_free(v);
		return NULL;
	}
	line = talloc_asprintf(ctx, "%s: %s", h->name, v);
	talloc_free(v);
	if (!line)
		snprintf(err, err_len, "out of memory");
	return line;
}

/* ---- answers ---- */

/* The value at a dotted path ("a.b.0.c"): object keys, or list indexes. NULL if absent. */
static json_t *json_at(json_t *root, const char *path)
{
	char buf[256];
	const char *p = path;
	json_t *v = root;

	while (v && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= sizeof(buf))
			return NULL;
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (json_is_object(v)) {
			v = json_object_get(v, buf);
		} else if (json_is_array(v) && n && strspn(buf, "0123456789") == n) {
			v = json_array_get(v, strtoul(buf, NULL, 10));
		} else {
			return NULL;
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return v;
}

static int flatten_set(struct vars *out, const char *name, const char *value, char *err,
		       size_t err_len)
{
	if (vars_set(out, name, value, false) < 0) {
		snprintf(err, err_len, "answer has too many values (at most %u)", VARS_MAX);
		return -1;
	}
	return 0;
}

static int flatten(void *ctx, json_t *v, const char *name, struct vars *out, char *err,
		   size_t err_len)
{
	char num[64];
	const char *key;
	json_t *item;
	size_t i;
	char *child, *text;
	int rc = 0;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach(v, key, item) {
			child = *name ? talloc_asprintf(ctx, "%s.%s", name, key)
				      : talloc_strdup(ctx, key);
			if (!child || flatten(ctx, item, child, out, err, err_len) < 0)
				rc = -1;
			talloc_free(child);
			if (rc)
				break;
		}
		return rc;
	case JSON_ARRAY:
		snprintf(num, sizeof(num), "%zu", json_array_size(v));
		child = *name ? talloc_asprintf(ctx, "%s.count", name) : talloc_strdup(ctx, "count");
		rc = child ? flatten_set(out, child, num, err, err_len) : -1;
		talloc_free(child);
		json_array_foreach(v, i, item) {
			if (rc)
				break;
			child = *name ? talloc_asprintf(ctx, "%s.%zu", name, i)
				      : talloc_asprintf(ctx, "%zu", i);
			if (!child || flatten(ctx, item, child, out, err, err_len) < 0)
				rc = -1;
			talloc_free(child);
		}
		return rc;
	case JSON_STRING:
		return flatten_set(out, *name ? name : "value", json_string_value(v), err, err_len);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return flatten_set(out, *name ? name : "value", num, err, err_len);
	case JSON_REAL:
		/* jansson prints the shortest text that reads back as the same double. */
		text = json_dumps(v, JSON_ENCODE_ANY);
		if (!text)
			return -1;
		rc = flatten_set(out, *name ? name : "value", text, err, err_len);
		free(text);
		return rc;
	case JSON_TRUE:
		return flatten_set(out, *name ? name : "value", "true", err, err_len);
	case JSON_FALSE:
		return flatten_set(out, *name ? name : "value", "false", err, err_len);
	case JSON_NULL:
	default:
		return flatten_set(out, *name ? name : "value", "", err, err_len);
	}
}

static int flatten_value(json_t *v, struct vars *out, char *err, size_t err_len)
{
	void *tmp = talloc_new(NULL);
	int rc;

	err[0] = '\0';
	rc = flatten(tmp, v, "", out, err, err_len);
	if (rc < 0 && !err[0])
		snprintf(err, err_len, "out of memory");
	talloc_free(tmp);
	return rc;
}

int backend_flatten_json(const char *json, size_t len, struct vars *out, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
	int rc;

	if (!root) {
		snprintf(err, err_len, "answer is not JSON (line %d, column %d)", jerr.line,
			 jerr.column);
		return -1;
	}
	rc = flatten_value(root, out, err, err_len);
	json_decref(root);
	return rc;
}

int backend_read_answer(const struct backend_op *op, const char *body, size_t len,
			struct vars *out, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root, *part;
	unsigned i;
	int rc = -1;

	root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (!root) {
		snprintf(err, err_len, "answer is not JSON (line %d, column %d)", jerr.line,
			 jerr.column);
		return -1;
	}
	for (i = 0; i < op->n_require; i++) {
		if (!json_at(root, op->require[i])) {
			snprintf(err, err_len, "missing field %s", op->require[i]);
			goto out;
		}
	}
	part = op->result ? json_at(root, op->result) : root;
	if (!part) {
		snprintf(err, err_len, "missing field %s", op->result);
		goto out;
	}
	rc = flatten_value(part, out, err, err_len);
out:
	json_decref(root);
	return rc;
}
