/* An aggregator dialogue's shared history (ussd_share.c): a request must extend it by one
 * input, a secret answer is kept as a mask that matches any one input. */
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include "guichet/session.h"
#include "guichet/store.h"
#include "guichet/ussd_share.h"
#include "unit_main.h"

static void *ctx;

static void test_input(void)
{
	/* The first answer: the whole text, '*' and all (one answer, as ussd_http reads it). */
	CU_ASSERT_STRING_EQUAL(ussd_share_input("", "1"), "1");
	CU_ASSERT_STRING_EQUAL(ussd_share_input("", "1*2"), "1*2");
	CU_ASSERT_PTR_NULL(ussd_share_input("", ""));
	/* Then the text past the history and its '*'. */
	CU_ASSERT_STRING_EQUAL(ussd_share_input("1", "1*Dupont"), "Dupont");
	CU_ASSERT_STRING_EQUAL(ussd_share_input("1*Dupont", "1*Dupont*"), "");
	CU_ASSERT_PTR_NULL(ussd_share_input("1", "1"));		/* replayed */
	CU_ASSERT_PTR_NULL(ussd_share_input("1", "2*X"));	/* forged */
	CU_ASSERT_PTR_NULL(ussd_share_input("1*2", "1*X"));	/* older than the state */
	CU_ASSERT_PTR_NULL(ussd_share_input("1", "11*X"));
	CU_ASSERT_PTR_NULL(ussd_share_input("1*2", "1"));
}

static void test_secret(void)
{
	char *h = ussd_share_extend(ctx, "", "2", false);

	CU_ASSERT_STRING_EQUAL(h, "2");
	h = ussd_share_extend(ctx, h, "9876", true);
	CU_ASSERT_PTR_NULL(strstr(h, "9876"));
	CU_ASSERT_STRING_EQUAL(h, "2*\x1f");
	/* The mask matches whatever one input the person gave. */
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "2*9876*Durand"), "Durand");
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "2*1*Durand"), "Durand");
	CU_ASSERT_PTR_NULL(ussd_share_input(h, "2**Durand"));
	CU_ASSERT_PTR_NULL(ussd_share_input(h, "2*9876"));
	CU_ASSERT_PTR_NULL(ussd_share_input(h, "3*9876*Durand"));
	h = ussd_share_extend(ctx, h, "Durand", false);
	CU_ASSERT_STRING_EQUAL(h, "2*\x1f*Durand");
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "2*0000*Durand*1"), "1");
	/* A first answer that was secret. */
	h = ussd_share_extend(ctx, "", "1234", true);
	CU_ASSERT_STRING_EQUAL(ussd_share_input(h, "1234*5"), "5");
}

/* Two hosts on one store (memory): each dialogue's struct ussd_share and session as the
 * router keeps them. The requests alternate; a host behind takes the row's session; a
 * stale put loses; the secret answer is in neither the history nor the session stored. */
struct host {
	struct ussd_share sh;
	struct session s;
	int64_t swept;
};

static void host_begin(struct host *h, struct store *st)
{
	memset(h, 0, sizeof(*h));
	session_init(&h->s, ctx, "ussd:http:d1", CHANNEL_USSD, "+33611111111");
	ussd_share_begin(&h->sh, ctx, st, 180, "*55#", &h->swept);
}

static int resume(struct host *h, struct store *st, const char *from, const char *code,
		  const char *text, const char **input)
{
	return ussd_share_resume(&h->sh, ctx, st, "http:d1", "http", from, code, text, 1000,
				 &h->s, input);
}

static int screen(struct host *h, struct store *st)
{
	return ussd_share_screen(&h->sh, ctx, st, "http:d1", "http", "+33611111111", &h->s, 1000);
}

static void test_two_hosts(void)
{
	struct store *st = store_mem_open(ctx);
	struct host a, b;
	struct store_ussd u;
	const char *in = NULL;

	host_begin(&a, st);
	host_begin(&b, st);
	/* a: the first screen. */
	ussd_share_answered(&a.sh, ctx, NULL, false);
	vars_set(&a.s.vars, "seen", "a", false);
	CU_ASSERT_EQUAL(screen(&a, st), 0);
	CU_ASSERT_EQUAL(a.sh.step, 1);
	/* b: never saw it; takes the row. */
	CU_ASSERT_EQUAL(resume(&b, st, "+33611111111", "*55#", "2", &in), 0);
	CU_ASSERT_STRING_EQUAL(in, "2");
	CU_ASSERT_EQUAL(b.sh.step, 1);
	CU_ASSERT_STRING_EQUAL(vars_get(&b.s.vars, "seen"), "a");
	ussd_share_answered(&b.sh, ctx, in, false);
	vars_set(&b.s.vars, "seen", "b", false);
	CU_ASSERT_EQUAL(screen(&b, st), 0);
	/* a: behind by one screen; takes the row again, the secret answer given there. */
	CU_ASSERT_EQUAL(resume(&a, st, "+33611111111", "*55#", "2*9876", &in), 0);
	CU_ASSERT_STRING_EQUAL(in, "9876");
	CU_ASSERT_STRING_EQUAL(vars_get(&a.s.vars, "seen"), "b");
	ussd_share_answered(&a.sh, ctx, in, true);
	vars_set(&a.s.vars, "code", "9876", true);
	CU_ASSERT_EQUAL(screen(&a, st), 0);
	CU_ASSERT_EQUAL(a.sh.step, 3);
	CU_ASSERT_EQUAL_FATAL(st->ops->ussd_get(st, "http:d1", 1000, &u, ctx), 0);
	CU_ASSERT_PTR_NULL(strstr(u.history, "9876"));
	CU_ASSERT_PTR_NULL(memmem(u.session, u.session_len, "9876", 4));
	CU_ASSERT_EQUAL(u.step, 3);
	/* b, behind, answers a request from its own stale state: its screen must not go. */
	ussd_share_answered(&b.sh, ctx, "X", false);
	CU_ASSERT_EQUAL(screen(&b, st), 1);
	/* Refused: another number, another code, a history that does not extend the row's. */
	CU_ASSERT_EQUAL(resume(&b, st, "+33622222222", "*55#", "2*1*N", &in), 1);
	CU_ASSERT_EQUAL(resume(&b, st, "+33611111111", "*56#", "2*1*N", &in), 1);
	CU_ASSERT_EQUAL(resume(&b, st, "+33611111111", "*55#", "3*1*N", &in), 1);
	CU_ASSERT_EQUAL(resume(&b, st, "+33611111111", "*55#", "2*1", &in), 1);
	CU_ASSERT_EQUAL(resume(&b, st, "+33611111111", "*55#", "2*0000*Durand", &in), 0);
	CU_ASSERT_STRING_EQUAL(in, "Durand");
	CU_ASSERT_EQUAL(b.sh.step, 3);
	/* b ends what it knew (step 3) after a went on to step 4: the row stays; a's end drops it. */
	ussd_share_answered(&a.sh, ctx, "Nom", false);
	CU_ASSERT_EQUAL(resume(&a, st, "+33611111111", "*55#", "2*1*Nom", &in), 0);
	CU_ASSERT_EQUAL(screen(&a, st), 0);
	ussd_share_end(&b.sh, st, "http:d1");
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:d1", 1000, &u, ctx), 0);
	ussd_share_end(&a.sh, st, "http:d1");
	CU_ASSERT_EQUAL(st->ops->ussd_get(st, "http:d1", 1000, &u, ctx), 1);
	CU_ASSERT_EQUAL(resume(&b, st, "+33611111111", "*55#", "2*1*Nom*1", &in), 1);
	vars_clear(&a.s.vars);
	vars_clear(&b.s.vars);
	st->ops->close(st);
}

/* A store without the ops (SQLite): nothing shared, nothing refused for that reason. */
static void test_not_shared(void)
{
	struct store st_none = { 0 };
	struct store_ops none = { .name = "none" };
	struct host a;
	const char *in = NULL;

	st_none.ops = &none;
	host_begin(&a, &st_none);
	CU_ASSERT_EQUAL(a.sh.expire_s, 0);
	ussd_share_answered(&a.sh, ctx, NULL, false);
	CU_ASSERT_EQUAL(screen(&a, &st_none), 0);
	CU_ASSERT_EQUAL(resume(&a, &st_none, "+33611111111", "*55#", "1", &in), 1);
	ussd_share_end(&a.sh, &st_none, "http:d1");
	vars_clear(&a.s.vars);
}

static const CU_TestInfo tests[] = {
	{ "a request extends the shared history by one input", test_input },
	{ "a secret answer is shared as a mask", test_secret },
	{ "two hosts continue one dialogue; a stale one loses", test_two_hosts },
	{ "a store without the ops shares nothing", test_not_shared },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("ussd_share", tests, &ctx);
}
