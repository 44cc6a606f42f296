/* Fuzz target: a back-end's answer body through backend_read_answer() (JSON, require:,
 * result:, flattening into vars), as the relay reads every answer; then the variables it
 * gave are fed to the request builders, as a later call's arguments would be. Checks that
 * what a back-end sends can never put CR/LF into a header or break the URL or the body. */
#include <jansson.h>
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/backend.h"
#include "guichet/vars.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *req1[] = { "reference" };
	static const char *req2[] = { "status", "label", "a.b" };
	static struct backend_kv query[] = { { "service", "{{service}}" }, { "q", "{{0.id}}" } };
	static struct backend_kv body[] = { { "slot", "{{slot}}" }, { "all", "{{label}}-{{x}}" } };
	static struct backend_kv hdr = { "X-Trace", "{{label}}" };
	static const struct backend_def def = { .name = "agenda", .url = "https://127.0.0.1:8443" };
	struct backend_op op = {
		.name = "slots", .full = "agenda.slots", .method = "POST",
		.path = "/slots/{{service}}/{{count}}", .query = query, .n_query = 2,
		.body = body, .n_body = 2, .has_body = true,
	};
	void *ctx = talloc_named_const(NULL, 0, "fuzz_backend");
	struct vars out;
	char err[160];

	if (size < 1)
		goto done;
	switch (data[0] % 4) {
	case 1: op.result = "slots"; break;
	case 2: op.require = req1; op.n_require = 1; break;
	case 3: op.require = req2; op.n_require = 3; op.result = "a"; break;
	}
	vars_init(&out, ctx);
	if (backend_read_answer(&op, (const char *)data + 1, size - 1, &out, err, sizeof(err)) < 0) {
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)));
		goto done;
	}
	FUZZ_ASSERT(out.n <= VARS_MAX);
	char *url = backend_build_url(ctx, &def, &op, &out, err, sizeof(err));
	if (url)
		FUZZ_ASSERT(!strpbrk(url, " \r\n\"<>\\^`{|}"));
	char *b = backend_build_body(ctx, &op, &out, err, sizeof(err));
	if (b) {
		json_t *j = json_loads(b, 0, NULL);
		FUZZ_ASSERT(j && json_is_object(j));
		json_decref(j);
	}
	char *h = backend_build_header(ctx, &hdr, &out, err, sizeof(err));
	if (h)
		FUZZ_ASSERT(!strpbrk(h, "\r\n"));
	struct vars flat;
	vars_init(&flat, ctx);
	backend_flatten_json((const char *)data + 1, size - 1, &flat, err, sizeof(err));
done:
	talloc_free(ctx);
	return 0;
}
