/* Fuzz target: templates. Input: the template, then NUL-separated values; a variable's value
 * is picked by a hash of its name among them (or unset). */
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/template.h"

struct values {
	const char *v[8];
	unsigned n;
};

static const char *lookup(void *data, const char *name)
{
	const struct values *vs = data;
	unsigned h = 0;

	for (const char *p = name; *p; p++)
		h = h * 31 + (unsigned char)*p;
	if (!vs->n || h % (vs->n + 1) == vs->n)
		return NULL;
	return vs->v[h % (vs->n + 1)];
}

static void each_var(void *data, const char *name, size_t len)
{
	(void)data;
	FUZZ_ASSERT(len > 0 && name[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_template");
	char *buf = malloc(size + 2);
	struct values vs = { .n = 0 };
	char err[128];
	size_t off = 0, i;
	int rc;

	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	const char *tmpl = buf;
	for (i = strlen(buf) + 1; i <= size && vs.n < 8; i += strlen(buf + i) + 1)
		vs.v[vs.n++] = buf + i;

	rc = template_check(tmpl, each_var, NULL, err, sizeof(err), &off);
	if (rc < 0)
		FUZZ_ASSERT(off <= strlen(tmpl));
	char *out = template_expand(ctx, tmpl, lookup, &vs);
	/* One parser: what the checker refuses, the expander refuses too. */
	if (rc < 0)
		FUZZ_ASSERT(!out);
	if (rc == 0 && template_is_literal(tmpl))
		FUZZ_ASSERT(out && !strcmp(out, tmpl));
	if (out)
		FUZZ_ASSERT(strlen(out) <= TEMPLATE_EXPAND_MAX);
	talloc_free(ctx);
	free(buf);
	return 0;
}
