/* Fuzz target: a stored session record (what the store hands back at start-up or for a
 * person's next message) through session_decode(); a record that decodes must encode again
 * to a record that decodes to the same encoding. */
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/session.h"

static void visit(void *data, const struct session *s)
{
	(void)data;
	FUZZ_ASSERT(s->n_history <= SESSION_HISTORY);
	FUZZ_ASSERT(memchr(s->key, '\0', sizeof(s->key)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_session");
	struct session s, s2;
	size_t len1, len2;

	if (session_decode(&s, ctx, (const char *)data, size) == 0) {
		FUZZ_ASSERT(s.n_history <= SESSION_HISTORY && s.vars.n <= VARS_MAX);
		char *e1 = session_encode(ctx, &s, &len1);
		FUZZ_ASSERT(e1);
		FUZZ_ASSERT(session_decode(&s2, ctx, e1, len1) == 0);
		char *e2 = session_encode(ctx, &s2, &len2);
		FUZZ_ASSERT(e2 && len1 == len2 && !memcmp(e1, e2, len1));
		struct session c;
		session_copy(&c, ctx, &s);
		session_reset(&c);
	}
	session_decode_visit(ctx, (const char *)data, size, visit, NULL);
	talloc_free(ctx);
	return 0;
}
