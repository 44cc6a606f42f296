/* Fuzz target: a flow file (YAML) through the loader and the static checker, as `guichet check`
 * and a reload read it; then the look-ups the router makes on a loaded set. */
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/diag.h"
#include "guichet/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ops[] = { "agenda.slots", "agenda.book", "dossier.status" };
	const struct flow_env env = { .n_ops = 3, .ops = ops, .ussd_screen = 128 };
	void *ctx = talloc_named_const(NULL, 0, "fuzz_flow");
	char *text = fuzz_cstr(data, size);
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "fuzz.yaml", text, &env, d);
	if (getenv("FUZZ_VERBOSE"))
		diag_print(d, stderr);

	FUZZ_ASSERT(!fs || d->n_errors == 0);
	FUZZ_ASSERT(fs || d->n_errors > 0);
	if (fs) {
		for (unsigned i = 0; i < fs->n_flows; i++) {
			const struct flow *f = &fs->flows[i];

			FUZZ_ASSERT(flow_find(fs, f->name) != NULL);
			for (unsigned k = 0; k < f->n_keywords; k++)
				FUZZ_ASSERT(flow_by_keyword(fs, f->keywords[k]) != NULL);
			for (unsigned k = 0; k < f->n_ussd; k++)
				FUZZ_ASSERT(flow_by_ussd(fs, f->ussd_codes[k]) == f);
			for (unsigned s = 0; s < f->n_steps; s++) {
				FUZZ_ASSERT(flow_step_index(f, f->steps[s].name) == (int)s);
				flow_text_pick(&f->steps[s].text, "en", true);
				flow_text_pick(&f->steps[s].text, "fr", false);
			}
		}
		flow_by_keyword(fs, text);
	}
	talloc_free(ctx);
	free(text);
	return 0;
}
