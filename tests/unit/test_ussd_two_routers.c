/* Two routers on one store with the ussd ops (memory here; PostgreSQL in production and in
 * tests/integration/pg_ussd_two_hosts.sh): an aggregator dialogue whose requests alternate
 * between them continues on each from the shared state, and when both answer the same
 * request from the same state (an aggregator that retried on the other host while a call
 * was out), one screen goes and the other host refuses: never two answers from one state. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/diag.h"
#include "guichet/flow.h"
#include "guichet/router.h"
#include "guichet/store.h"
#include "unit_main.h"

static const char *flows_yaml =
	"flow: d\n"
	"title: D\n"
	"entry: { ussd: \"*2#\" }\n"
	"steps:\n"
	"  prenom:\n"
	"    ask: \"Prénom ?\"\n"
	"    save: prenom\n"
	"    next: appel\n"
	"  appel:\n"
	"    call: svc.hello\n"
	"    with: { nom: \"{{prenom}}\" }\n"
	"    save: r\n"
	"    on_error: oups\n"
	"    next: nom\n"
	"  nom:\n"
	"    ask: \"Nom, {{r.greeting}} ?\"\n"
	"    save: nom\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"Merci {{prenom}} {{nom}}.\"\n"
	"  oups:\n"
	"    say: \"Oups\"\n";

static void *ctx;

/* A back-end answering from a timer, as the relay does. */
struct fake_call {
	call_done_fn done;
	void *data;
	struct osmo_timer_list t;
	char nom[64];
};

static void fake_fire(void *p)
{
	struct fake_call *fc = p;
	struct vars v;

	vars_init(&v, fc);
	vars_set(&v, "greeting", fc->nom, false);
	fc->done(fc->data, true, &v, NULL);
	talloc_free(fc);
}

static int fake_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		     call_done_fn done, void *data)
{
	struct fake_call *fc = talloc_zero(impl, struct fake_call);
	const char *n = vars_get(args, "nom");

	(void)op;
	(void)budget_ms;
	fc->done = done;
	fc->data = data;
	snprintf(fc->nom, sizeof(fc->nom), "%s", n ? n : "?");
	osmo_timer_setup(&fc->t, fake_fire, fc);
	osmo_timer_schedule(&fc->t, 0, 5000);
	return 0;
}

/* What one host's aggregator connection received. */
struct screen {
	char text[128];
	bool more;
	unsigned n;
};

static void got(void *data, const char *text, bool more)
{
	struct screen *s = data;

	snprintf(s->text, sizeof(s->text), "%s", text);
	s->more = more;
	s->n++;
}

static struct router *host(struct store *st)
{
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs = flow_set_load_string(ctx, "d.yaml", flows_yaml, NULL, d);
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3) },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) },
		.ussd_answer_ms = 2000,
	};
	struct router *r;

	if (!fs) {
		diag_print(d, stderr);
		return NULL;
	}
	r = router_create(ctx, &rc, st, (struct call_port){ fake_call, ctx });
	router_set_flows(r, fs);
	return r;
}

/* The aggregator's request for dialogue id: the first (text empty: the code dialled), or
 * a later one with its whole text. */
static void ask(struct router *r, const char *id, const char *text, struct screen *s)
{
	struct ussd_req q = {
		.via = "http", .dialogue = id, .from = "+33611111111", .code = "*2#",
		.share_s = 180, .begin = !*text, .resume = *text != '\0',
		.text = *text ? text : "*2#",
	};

	router_ussd_request(r, &q, got, s);
}

static void wait_for(struct screen *a, unsigned na, struct screen *b, unsigned nb)
{
	for (unsigned i = 0; i < 2000 && (a->n < na || (b && b->n < nb)); i++) {
		osmo_select_main_ctx(1);
		usleep(500);
	}
}

static void test_alternate(void)
{
	struct store *st = store_mem_open(ctx);
	struct router *a = host(st), *b = host(st);
	struct screen sa = { 0 }, sb = { 0 };
	struct store_ussd u;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	ask(a, "http:s1", "", &sa);
	CU_ASSERT_EQUAL(sa.n, 1);
	CU_ASSERT_STRING_EQUAL(sa.text, "Prénom ?");
	CU_ASSERT_TRUE(sa.more);
	ask(b, "http:s1", "Ana", &sb);
	wait_for(&sb, 1, NULL, 0);
	CU_ASSERT_STRING_EQUAL(sb.text, "Nom, Ana ?");
	CU_ASSERT_TRUE(sb.more);
	ask(a, "http:s1", "Ana*Diaz", &sa);
	CU_ASSERT_EQUAL(sa.n, 2);
	CU_ASSERT_STRING_EQUAL(sa.text, "Merci Ana Diaz.");
	CU_ASSERT_FALSE(sa.more);
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:s1", 0, &u, ctx), 1);
	/* Ended: a request for it is refused on either host. */
	ask(b, "http:s1", "Ana*Diaz*1", &sb);
	CU_ASSERT_STRING_EQUAL(sb.text, "Session invalide.");
	CU_ASSERT_FALSE(sb.more);
	/* A history that does not extend the shared one is refused where the dialogue is not. */
	ask(a, "http:s2", "", &sa);
	ask(b, "http:s2", "Ana", &sb);
	wait_for(&sb, 3, NULL, 0);
	CU_ASSERT_STRING_EQUAL(sb.text, "Nom, Ana ?");
	ask(a, "http:s2", "Léo*Diaz", &sa);
	CU_ASSERT_STRING_EQUAL(sa.text, "Session invalide.");
	talloc_free(a);
	talloc_free(b);
	st->ops->close(st);
}

static void test_same_state_twice(void)
{
	struct store *st = store_mem_open(ctx);
	struct router *a = host(st), *b = host(st);
	struct screen sa = { 0 }, sb = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	ask(a, "http:s3", "", &sa);
	/* The answer reaches a, whose back-end call is slow; the aggregator sends it again to
	 * b, which reads the same state. */
	ask(a, "http:s3", "Léo", &sa);
	ask(b, "http:s3", "Léo", &sb);
	CU_ASSERT_EQUAL(sa.n, 1);
	CU_ASSERT_EQUAL(sb.n, 0);
	wait_for(&sa, 2, &sb, 1);
	CU_ASSERT_EQUAL(sa.n, 2);
	CU_ASSERT_EQUAL(sb.n, 1);
	/* One of them shows the next screen, the other refuses. */
	CU_ASSERT_EQUAL(!strcmp(sa.text, "Nom, Léo ?") + !strcmp(sb.text, "Nom, Léo ?"), 1);
	CU_ASSERT_EQUAL(!strcmp(sa.text, "Session invalide.") +
			!strcmp(sb.text, "Session invalide."), 1);
	talloc_free(a);
	talloc_free(b);
	st->ops->close(st);
}

static const CU_TestInfo tests[] = {
	{ "requests alternating between two hosts continue one dialogue", test_alternate },
	{ "the same state answered on two hosts: one screen, one refusal", test_same_state_twice },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("ussd_two_routers", tests, &ctx);
}
