/* Back-end relay, pure parts: flattening answers, building URLs and JSON bodies from a
 * person's input (encoded, never spliced), the `backends:` config with located errors,
 * secrets, and the canned port (answers from the loop, never inside call()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <CUnit/Basic.h>
#include <jansson.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend.h"
#include "guichet/config.h"
#include "guichet/metrics.h"
#include "guichet/vars.h"

static void *ctx;
static char tmpdir[] = "/tmp/test_backend.XXXXXX";

/* A person's input with everything that breaks naive splicing. */
static const char *const TRICKY = "a\"b'c{d}e&f=g%h\ni/j?k#l é€ 😀 \\ +;";

static void put_file(const char *name, const char *text, mode_t mode)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* ---- flattening ---- */

static void test_flatten_nested(void)
{
	struct vars v;
	char err[128];
	const char *json = "{\"a\":{\"b\":{\"c\":\"deep\"},\"n\":42,\"r\":1.5,\"neg\":-7,"
			   "\"t\":true,\"f\":false,\"z\":null},"
			   "\"slots\":[{\"id\":\"S1\",\"label\":\"lun. 7 d\\u00e9c. 9h30\"},"
			   "{\"id\":\"S2\",\"label\":\"\xe2\x82\xac \\ud83d\\ude00\"}],"
			   "\"empty\":[],\"nums\":[1,2]}";

	vars_init(&v, ctx);
	CU_ASSERT_EQUAL_FATAL(backend_flatten_json(json, strlen(json), &v, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.b.c"), "deep");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.n"), "42");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.r"), "1.5");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.neg"), "-7");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.t"), "true");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.f"), "false");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "a.z"), "");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "slots.count"), "2");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "slots.0.id"), "S1");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "slots.0.label"), "lun. 7 d\xc3\xa9" "c. 9h30");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "slots.1.label"), "\xe2\x82\xac \xf0\x9f\x98\x80");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "empty.count"), "0");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "nums.count"), "2");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "nums.1"), "2");
	CU_ASSERT_PTR_NULL(vars_get(&v, "a"));
	vars_clear(&v);
}

static void test_flatten_top_level(void)
{
	struct vars v;
	char err[128];

	vars_init(&v, ctx);
	CU_ASSERT_EQUAL(backend_flatten_json("[{\"x\":1},{\"x\":2}]", 17, &v, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "count"), "2");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "1.x"), "2");
	vars_clear(&v);
	CU_ASSERT_EQUAL(backend_flatten_json("\"hello\"", 7, &v, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "value"), "hello");
	vars_clear(&v);
	CU_ASSERT_EQUAL(backend_flatten_json("<html>", 6, &v, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not JSON"));
	CU_ASSERT_PTR_NULL(strstr(err, "html"));	/* never quotes the body */
	vars_clear(&v);
}

static void test_flatten_too_many(void)
{
	struct vars v;
	char err[128];
	char *json = talloc_strdup(ctx, "[");
	unsigned i;

	for (i = 0; i < 300; i++)
		json = talloc_asprintf_append(json, "%s%u", i ? "," : "", i);
	json = talloc_strdup_append(json, "]");
	vars_init(&v, ctx);
	CU_ASSERT_EQUAL(backend_flatten_json(json, strlen(json), &v, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too many"));
	vars_clear(&v);
	talloc_free(json);
}

static void test_read_answer(void)
{
	const char *req[] = { "reference", "who.name" };
	struct backend_op op = { .name = "book", .full = "agenda.book", .require = req,
				 .n_require = 2 };
	struct vars v;
	char err[128];
	const char *ok = "{\"reference\":\"RDV-1\",\"who\":{\"name\":\"A\"},\"n\":[5]}";
	const char *missing = "{\"reference\":\"RDV-1\",\"who\":{}}";

	vars_init(&v, ctx);
	CU_ASSERT_EQUAL(backend_read_answer(&op, ok, strlen(ok), &v, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "reference"), "RDV-1");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "n.0"), "5");
	vars_clear(&v);
	CU_ASSERT_EQUAL(backend_read_answer(&op, missing, strlen(missing), &v, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "missing field who.name");
	op.n_require = 0;
	op.result = "n";
	CU_ASSERT_EQUAL(backend_read_answer(&op, ok, strlen(ok), &v, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "count"), "1");
	CU_ASSERT_STRING_EQUAL(vars_get(&v, "0"), "5");
	vars_clear(&v);
	op.result = "who.age";
	CU_ASSERT_EQUAL(backend_read_answer(&op, ok, strlen(ok), &v, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "missing field who.age");
	CU_ASSERT_EQUAL(backend_read_answer(&op, "", 0, &v, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not JSON"));
	vars_clear(&v);
}

/* ---- requests ---- */

static void test_url_encode(void)
{
	char *e = backend_url_encode(ctx, TRICKY);

	CU_ASSERT_STRING_EQUAL(e, "a%22b%27c%7Bd%7De%26f%3Dg%25h%0Ai%2Fj%3Fk%23l%20%C3%A9%E2%82%AC"
			       "%20%F0%9F%98%80%20%5C%20%2B%3B");
	talloc_free(e);
	e = backend_url_encode(ctx, "AZaz09-._~");
	CU_ASSERT_STRING_EQUAL(e, "AZaz09-._~");
	talloc_free(e);
}

static void test_build_url(void)
{
	struct backend_kv q[] = { { "service", "{{service}}" }, { "q&x", "pre {{v}} post" },
				  { "none", "{{unset}}" } };
	struct backend_def d = { .name = "agenda", .url = "https://127.0.0.1:8443/api" };
	struct backend_op op = { .name = "slots", .full = "agenda.slots", .method = "GET",
				 .path = "/agenda/{{v}}/slots/{{service | upper}}", .query = q,
				 .n_query = 3 };
	struct vars args;
	char err[128];
	char *url;

	vars_init(&args, ctx);
	vars_set(&args, "service", "caf", false);
	vars_set(&args, "v", TRICKY, false);
	url = backend_build_url(ctx, &d, &op, &args, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(url);
	CU_ASSERT_STRING_EQUAL(url,
		"https://127.0.0.1:8443/api/agenda/"
		"a%22b%27c%7Bd%7De%26f%3Dg%25h%0Ai%2Fj%3Fk%23l%20%C3%A9%E2%82%AC%20%F0%9F%98%80%20%5C%20%2B%3B"
		"/slots/CAF?service=caf&q%26x=pre%20"
		"a%22b%27c%7Bd%7De%26f%3Dg%25h%0Ai%2Fj%3Fk%23l%20%C3%A9%E2%82%AC%20%F0%9F%98%80%20%5C%20%2B%3B"
		"%20post&none=");
	talloc_free(url);
	vars_clear(&args);
}

static void test_build_body(void)
{
	struct backend_kv b[] = { { "slot", "{{slot}}" }, { "note", "« {{v}} »" },
				  { "quote\"key", "{{missing | default: \"d\"}}" } };
	struct backend_op op = { .name = "book", .full = "agenda.book", .method = "POST",
				 .path = "/b", .body = b, .n_body = 3, .has_body = true };
	struct vars args;
	char err[128];
	json_error_t jerr;
	json_t *j;
	char *body;

	vars_init(&args, ctx);
	vars_set(&args, "slot", "S1\"}, \"admin\": true, {\"", false);
	vars_set(&args, "v", TRICKY, false);
	body = backend_build_body(ctx, &op, &args, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	j = json_loads(body, 0, &jerr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(json_object_size(j), 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "slot")),
			       "S1\"}, \"admin\": true, {\"");
	CU_ASSERT_PTR_NULL(json_object_get(j, "admin"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "note")),
			       talloc_asprintf(body, "« %s »", TRICKY));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "quote\"key")), "d");
	json_decref(j);
	talloc_free(body);

	/* Invalid UTF-8 from a person is refused, not passed on. */
	vars_set(&args, "v", "\xff\xfe", false);
	CU_ASSERT_PTR_NULL(backend_build_body(ctx, &op, &args, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "UTF-8"));

	op.has_body = false;
	body = backend_build_body(ctx, &op, &args, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(body, "");
	talloc_free(body);
	vars_clear(&args);
}

static void test_build_header(void)
{
	struct backend_kv h = { "X-Ref", "ref-{{v}}" };
	struct vars args;
	char err[128];
	char *line;

	vars_init(&args, ctx);
	vars_set(&args, "v", "abc", false);
	line = backend_build_header(ctx, &h, &args, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(line, "X-Ref: ref-abc");
	talloc_free(line);
	vars_set(&args, "v", "abc\r\nX-Evil: 1", false);
	CU_ASSERT_PTR_NULL(backend_build_header(ctx, &h, &args, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "line break"));
	vars_clear(&args);
}

/* ---- config ---- */

static struct backend_config *parse(const char *yaml, struct diag **dout)
{
	struct config c = { .file = "guichet.yaml", .dir = tmpdir };
	struct backend_config *bc = NULL;
	struct diag *d = diag_alloc(ctx);
	struct ydoc y = { 0 };
	yaml_node_t *root;

	CU_ASSERT_EQUAL_FATAL(ydoc_load_string(&y, ctx, "guichet.yaml", yaml, d), 0);
	root = ydoc_root(&y);
	backend_config_parse(ctx, &y, ydoc_get(&y, root, "backends"), &c, &bc);
	ydoc_free(&y);
	*dout = d;
	return bc;
}

static bool has_diag(const struct diag *d, unsigned line, unsigned col, const char *needle)
{
	unsigned i;

	for (i = 0; i < d->n; i++)
		if (d->e[i].line == line && (!col || d->e[i].col == col) &&
		    strstr(d->e[i].msg, needle))
			return true;
	return false;
}

static const char GOOD[] =
	"backends:\n"
	"  agenda:\n"
	"    url: https://127.0.0.1:8443/\n"
	"    ca: demo-ca.pem\n"
	"    auth: { bearer: agenda-token }\n"
	"    timeout_ms: 3000\n"
	"    operations:\n"
	"      slots:\n"
	"        method: GET\n"
	"        path: /agenda/slots\n"
	"        query: { service: \"{{service}}\" }\n"
	"        idempotent: true\n"
	"        result: slots\n"
	"      book:\n"
	"        method: post\n"
	"        path: /agenda/bookings\n"
	"        body: { slot: \"{{slot}}\", service: \"{{service}}\", allocataire: \"{{allocataire}}\" }\n"
	"        require: [reference]\n"
	"  dossier:\n"
	"    url: https://dossiers.example.org/api\n"
	"    auth: { basic: { user: guichet, password: dossier-password } }\n"
	"    operations:\n"
	"      status: { method: POST, path: /dossiers/status, body: { numero: \"{{numero}}\" } }\n";

static void test_config_good(void)
{
	struct diag *d;
	struct backend_config *bc = parse(GOOD, &d);
	const struct backend_def *def = NULL;
	const struct backend_op *op;
	const char **names;
	char *want_ca = talloc_asprintf(ctx, "%s/demo-ca.pem", tmpdir);

	CU_ASSERT_EQUAL(d->n_errors, 0);
	if (d->n_errors)
		diag_print(d, stderr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bc);
	CU_ASSERT_EQUAL(bc->n, 2);
	op = backend_config_find(bc, "agenda.book", &def);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	CU_ASSERT_STRING_EQUAL(def->url, "https://127.0.0.1:8443");
	CU_ASSERT_STRING_EQUAL(def->ca, want_ca);
	CU_ASSERT_EQUAL(def->auth, BACKEND_AUTH_BEARER);
	CU_ASSERT_STRING_EQUAL(def->token, "agenda-token");
	CU_ASSERT_EQUAL(def->timeout_ms, 3000);
	CU_ASSERT_EQUAL(def->max_response, BACKEND_MAX_RESPONSE_DEFAULT);
	CU_ASSERT_STRING_EQUAL(op->method, "POST");
	CU_ASSERT(op->has_body);
	CU_ASSERT_EQUAL(op->n_body, 3);
	CU_ASSERT_EQUAL(op->n_require, 1);
	CU_ASSERT_FALSE(op->idempotent);
	op = backend_config_find(bc, "agenda.slots", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	CU_ASSERT(op->idempotent);
	CU_ASSERT_STRING_EQUAL(op->result, "slots");
	CU_ASSERT_EQUAL(op->n_query, 1);
	op = backend_config_find(bc, "dossier.status", &def);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	CU_ASSERT_EQUAL(def->auth, BACKEND_AUTH_BASIC);
	CU_ASSERT_STRING_EQUAL(def->user, "guichet");
	CU_ASSERT_PTR_NULL(def->ca);
	CU_ASSERT_PTR_NULL(backend_config_find(bc, "agenda.nope", NULL));
	CU_ASSERT_PTR_NULL(backend_config_find(bc, "agend.slots", NULL));
	CU_ASSERT_PTR_NULL(backend_config_find(bc, "agenda", NULL));
	CU_ASSERT_EQUAL(backend_config_ops(bc, &names, ctx), 3);
	CU_ASSERT_STRING_EQUAL(names[0], "agenda.slots");
	CU_ASSERT_STRING_EQUAL(names[2], "dossier.status");
	talloc_free(names);
	talloc_free(bc);
	talloc_free(d);
}

static void test_config_errors(void)
{
	static const char bad[] =
		"backends:\n"					/* 1 */
		"  agenda:\n"					/* 2 */
		"    url: http://127.0.0.1:8443\n"		/* 3 */
		"    ca: nowhere.pem\n"				/* 4 */
		"    auth: { bearer: [x] }\n"			/* 5 */
		"    timout_ms: 3000\n"				/* 6 */
		"    operations:\n"				/* 7 */
		"      slots:\n"				/* 8 */
		"        method: FETCH\n"			/* 9 */
		"        path: agenda/slots\n"			/* 10 */
		"        query: { service: \"{{service\" }\n"	/* 11 */
		"        idempotent: maybe\n"			/* 12 */
		"      book:\n"					/* 13 */
		"        method: GET\n"				/* 14 */
		"        body: { slot: \"{{slot}}\" }\n"	/* 15 */
		"        require: [reference, ..bad]\n"		/* 16 */
		"  dossier:\n"					/* 17 */
		"    url: https://x.example\n"			/* 18 */
		"    auth: { token: t }\n";			/* 19 */
	struct diag *d;
	struct backend_config *bc = parse(bad, &d);

	CU_ASSERT_PTR_NULL(bc);
	CU_ASSERT(has_diag(d, 3, 10, "https://"));
	CU_ASSERT(has_diag(d, 4, 9, "cannot read"));
	CU_ASSERT(has_diag(d, 5, 21, "must be text"));
	CU_ASSERT(has_diag(d, 6, 5, "did you mean `timeout_ms`"));
	CU_ASSERT(has_diag(d, 9, 17, "method must be"));
	CU_ASSERT(has_diag(d, 10, 15, "must start with /"));
	CU_ASSERT(has_diag(d, 11, 27, "bad template"));
	CU_ASSERT(has_diag(d, 12, 21, "true or false"));
	CU_ASSERT(has_diag(d, 13, 0, "`path` is missing") || has_diag(d, 14, 0, "`path` is missing"));
	CU_ASSERT(has_diag(d, 15, 15, "cannot have a body"));
	CU_ASSERT(has_diag(d, 16, 30, "dotted field name"));
	CU_ASSERT(has_diag(d, 17, 0, "`operations` is missing") ||
		  has_diag(d, 18, 0, "`operations` is missing"));
	CU_ASSERT(has_diag(d, 19, 13, "token"));
	if (d->n_errors != 13)
		diag_print(d, stderr);
	CU_ASSERT_EQUAL(d->n_errors, 13);
	talloc_free(d);
}

/* ---- secrets ---- */

static void test_secret(void)
{
	struct config c = { .dir = tmpdir, .credentials = tmpdir };
	char err[256], path[512];
	char *s;

	unsetenv("CREDENTIALS_DIRECTORY");
	put_file("tok-ok", "s3cret-token\nsecond line\n", 0600);
	put_file("tok-group", "s3cret\n", 0640);
	put_file("tok-empty", "\n", 0600);
	s = config_read_secret(ctx, &c, "tok-ok", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "s3cret-token");
	talloc_free(s);
	snprintf(path, sizeof(path), "%s/tok-ok", tmpdir);
	s = config_read_secret(ctx, NULL, path, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(s, "s3cret-token");
	talloc_free(s);
	CU_ASSERT_PTR_NULL(config_read_secret(ctx, &c, "tok-group", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "group or others"));
	CU_ASSERT_PTR_NULL(strstr(err, "s3cret"));
	CU_ASSERT_PTR_NULL(config_read_secret(ctx, &c, "tok-empty", err, sizeof(err)));
	CU_ASSERT_PTR_NULL(config_read_secret(ctx, &c, "tok-none", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "tok-none"));
	CU_ASSERT_PTR_NULL(config_read_secret(ctx, &c, "../etc/shadow", err, sizeof(err)));
	/* $CREDENTIALS_DIRECTORY (systemd) wins. */
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	c.credentials = "/nonexistent";
	s = config_read_secret(ctx, &c, "tok-ok", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(s);
	talloc_free(s);
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* ---- canned port ---- */

struct got {
	int calls;
	bool ok;
	char error[128];
	char label[128];
	char count[16];
};

static void got_done(void *data, bool ok, const struct vars *result, const char *error)
{
	struct got *g = data;
	const char *v;

	g->calls++;
	g->ok = ok;
	snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
	v = result ? vars_get(result, "slots.1.label") : NULL;
	snprintf(g->label, sizeof(g->label), "%s", v ? v : "");
	v = result ? vars_get(result, "slots.count") : NULL;
	snprintf(g->count, sizeof(g->count), "%s", v ? v : "");
}

static void run_until(int *calls, int want)
{
	int i;

	for (i = 0; i < 100 && *calls < want; i++)
		osmo_select_main(0);
}

static void test_canned(void)
{
	struct diag *d = diag_alloc(ctx);
	struct got a = { 0 }, b = { 0 }, c = { 0 };
	struct vars args;
	struct call_port p;
	char path[512];

	put_file("fixture.yaml",
		 "\"agenda.slots\": { json: '{\"slots\":[{\"id\":\"S1\"},{\"id\":\"S2\",\"label\":\"mar. 8\"}]}' }\n"
		 "\"agenda.book\": { answer: { slots: [ { id: A }, { id: B, label: \"lun. é\" } ] } }\n"
		 "\"dossier.status\": { error: \"HTTP 503\" }\n", 0644);
	snprintf(path, sizeof(path), "%s/fixture.yaml", tmpdir);
	p = backend_canned_port(ctx, path, d);
	if (d->n)
		diag_print(d, stderr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.call);
	vars_init(&args, ctx);
	CU_ASSERT_EQUAL(p.call(p.impl, "agenda.nope", &args, 1000, got_done, &a), -1);
	CU_ASSERT_EQUAL(p.call(p.impl, "agenda.slots", &args, 1000, got_done, &a), 0);
	CU_ASSERT_EQUAL(p.call(p.impl, "agenda.book", &args, 1000, got_done, &b), 0);
	CU_ASSERT_EQUAL(p.call(p.impl, "dossier.status", &args, 1000, got_done, &c), 0);
	CU_ASSERT_EQUAL(a.calls + b.calls + c.calls, 0);	/* never inside call() */
	run_until(&c.calls, 1);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT(a.ok);
	CU_ASSERT_STRING_EQUAL(a.label, "mar. 8");
	CU_ASSERT_STRING_EQUAL(a.count, "2");
	CU_ASSERT(b.ok);
	CU_ASSERT_STRING_EQUAL(b.label, "lun. \xc3\xa9");
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_FALSE(c.ok);
	CU_ASSERT_STRING_EQUAL(c.error, "dossier.status: HTTP 503");
	talloc_free(p.impl);

	/* A broken fixture: located errors, no port. */
	put_file("bad.yaml", "\"agenda.slots\": { json: '{nope' }\nnodot: { error: x }\n", 0644);
	snprintf(path, sizeof(path), "%s/bad.yaml", tmpdir);
	talloc_free(d);
	d = diag_alloc(ctx);
	p = backend_canned_port(ctx, path, d);
	CU_ASSERT_PTR_NULL(p.call);
	CU_ASSERT_EQUAL(d->n_errors, 2);
	CU_ASSERT(has_diag(d, 1, 25, "not JSON"));
	CU_ASSERT(has_diag(d, 2, 1, "operation name"));
	talloc_free(d);
}

/* ---- the relay without a network: errors known before any I/O come later, from the loop ---- */

static void test_relay_deferred_failure(void)
{
	static const char yaml[] =
		"backends:\n"
		"  agenda:\n"
		"    url: https://127.0.0.1:1\n"
		"    operations:\n"
		"      h: { path: /x, headers: { X-V: \"{{v}}\" } }\n";
	struct diag *d;
	struct backend_config *bc = parse(yaml, &d);
	struct config c = { .dir = tmpdir, .backends = bc };
	struct backend_relay *r;
	struct got g = { 0 };
	struct call_port p;
	struct vars args;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(bc);
	r = backend_relay_create(ctx, &c, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	p = backend_relay_port(r);
	vars_init(&args, ctx);
	vars_set(&args, "v", "a\nb", false);
	CU_ASSERT_EQUAL(p.call(p.impl, "agenda.nope", &args, 500, got_done, &g), -1);
	CU_ASSERT_EQUAL(p.call(p.impl, "agenda.h", &args, 500, got_done, &g), 0);
	CU_ASSERT_EQUAL(g.calls, 0);
	CU_ASSERT_EQUAL(backend_relay_in_flight(r), 1);
	run_until(&g.calls, 1);
	CU_ASSERT_EQUAL(g.calls, 1);
	CU_ASSERT_FALSE(g.ok);
	CU_ASSERT_STRING_EQUAL(g.error, "agenda.h: header X-V: value contains a line break");
	CU_ASSERT_EQUAL(backend_relay_in_flight(r), 0);
	CU_ASSERT_EQUAL(backend_relay_count(r), 1);
	CU_ASSERT_STRING_EQUAL(backend_relay_name(r, 0), "agenda");
	CU_ASSERT_EQUAL(backend_relay_counter(r, 0, BACKEND_CTR_CALLS), 1);
	CU_ASSERT_EQUAL(backend_relay_counter(r, 0, BACKEND_CTR_ERRORS), 1);
	CU_ASSERT_EQUAL(backend_relay_counter(r, 0, BACKEND_CTR_RETRIES), 0);
	CU_ASSERT_EQUAL(backend_relay_counter(r, 0, BACKEND_CTR_LE_5000MS), 1);
	CU_ASSERT_FALSE(backend_relay_last_ok(r, 0));
	/* The same, per operation, as an operator reads it. */
	char *m = metrics_render(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "\nguichet_backend_operation_calls_total{name=\"agenda.h\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "\nguichet_backend_operation_errors_total{name=\"agenda.h\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "\nguichet_backend_operation_retries_total{name=\"agenda.h\"} 0\n"));
	talloc_free(m);
	backend_relay_destroy(r);
	talloc_free(bc);
	talloc_free(d);
	vars_clear(&args);
}

static void test_relay_missing_secret(void)
{
	static const char yaml[] =
		"backends:\n"
		"  agenda:\n"
		"    url: https://127.0.0.1:1\n"
		"    auth: { bearer: no-such-token }\n"
		"    operations: { h: { path: /x } }\n";
	struct diag *d;
	struct backend_config *bc = parse(yaml, &d);
	struct config c = { .dir = tmpdir, .credentials = tmpdir, .backends = bc };
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(bc);
	CU_ASSERT_PTR_NULL(backend_relay_create(ctx, &c, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "agenda"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no-such-token"));
	talloc_free(bc);
	talloc_free(d);
}

static int suite_init(void)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/demo-ca.pem", tmpdir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("not a real CA, only needs to be readable\n", f);
	return fclose(f);
}

int main(void)
{
	CU_pSuite s;
	unsigned failed;
	char cmd[600];

	ctx = talloc_named_const(NULL, 0, "test_backend");
	if (!mkdtemp(tmpdir))
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("backend", suite_init, NULL);
	CU_add_test(s, "flatten nested", test_flatten_nested);
	CU_add_test(s, "flatten top level", test_flatten_top_level);
	CU_add_test(s, "flatten too many", test_flatten_too_many);
	CU_add_test(s, "read answer", test_read_answer);
	CU_add_test(s, "url encode", test_url_encode);
	CU_add_test(s, "build url", test_build_url);
	CU_add_test(s, "build body", test_build_body);
	CU_add_test(s, "build header", test_build_header);
	CU_add_test(s, "config good", test_config_good);
	CU_add_test(s, "config errors", test_config_errors);
	CU_add_test(s, "secret", test_secret);
	CU_add_test(s, "canned", test_canned);
	CU_add_test(s, "relay deferred failure", test_relay_deferred_failure);
	CU_add_test(s, "relay missing secret", test_relay_missing_secret);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	talloc_free(ctx);
	return failed ? 1 : 0;
}
