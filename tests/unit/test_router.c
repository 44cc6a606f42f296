/* The router on the memory store: received messages and their replies stored together,
 * duplicates recognised, replies offered to the transport the person used, calls answered
 * later, a transport that refuses, a restart with a session waiting for a call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/router.h"
#include "guichet/ussd_table.h"
#include "unit_main.h"

static const char *flows_yaml =
	"flow: t\n"
	"title: T\n"
	"entry: { sms: [GO], ussd: \"*1*1#\" }\n"
	"steps:\n"
	"  nom:\n"
	"    ask: \"Nom ?\"\n"
	"    expect: text\n"
	"    save: nom\n"
	"    next: appel\n"
	"  appel:\n"
	"    call: svc.hello\n"
	"    with: { nom: \"{{nom}}\" }\n"
	"    save: r\n"
	"    on_error: oups\n"
	"    wait: \"Réponse par SMS.\"\n"
	"    next: fin\n"
	"  fin:\n"
	"    say: \"Bonjour {{r.greeting}}\"\n"
	"  oups:\n"
	"    say: \"Oups\"\n";

/* A call port answering from a timer, like the real relay (never inside call()). */
struct fake_call {
	call_done_fn done;
	void *data;
	struct osmo_timer_list t;
	bool fail;
	char nom[64];
};

static void *calls_ctx;		/* the "relay": dies with the process */
static bool calls_fail;
static unsigned calls_delay_ms = 1;
static unsigned calls_made;

static void fake_fire(void *p)
{
	struct fake_call *fc = p;
	struct vars v;

	vars_init(&v, fc);
	vars_set(&v, "greeting", fc->nom, false);
	fc->done(fc->data, !fc->fail, fc->fail ? NULL : &v, fc->fail ? "HTTP 503" : NULL);
	talloc_free(fc);
}

static int fake_call_destroy(struct fake_call *fc)
{
	osmo_timer_del(&fc->t);
	return 0;
}

static int fake_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		     call_done_fn done, void *data)
{
	(void)budget_ms;
	if (strcmp(op, "svc.hello") != 0)
		return -1;
	(void)impl;
	struct fake_call *fc = talloc_zero(calls_ctx, struct fake_call);
	talloc_set_destructor(fc, fake_call_destroy);
	fc->done = done;
	fc->data = data;
	fc->fail = calls_fail;
	const char *n = vars_get(args, "nom");
	snprintf(fc->nom, sizeof(fc->nom), "%s", n ? n : "?");
	osmo_timer_setup(&fc->t, fake_fire, fc);
	osmo_timer_schedule(&fc->t, calls_delay_ms / 1000, (calls_delay_ms % 1000) * 1000);
	calls_made++;
	return 0;
}

/* A transport that records what it is given and may refuse. */
#define MAX_SENT 32
static char sent_text[MAX_SENT][256];
static char sent_to[MAX_SENT][32];
static int64_t sent_id[MAX_SENT];
static unsigned n_sent;
static bool refuse;

static int fake_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	if (refuse || n_sent == MAX_SENT)
		return -1;
	snprintf(sent_text[n_sent], sizeof(sent_text[0]), "%s", m->text);
	snprintf(sent_to[n_sent], sizeof(sent_to[0]), "%s", m->to);
	sent_id[n_sent] = m->id;
	n_sent++;
	return 0;
}

static void *ctx;
static struct store *st;
static struct router *r;
static struct sms_transport modem = { .name = "m1", .send = fake_send, .up = true };

/* Each round >= 2 ms: marks alone are written 10 ms after they come (MARKS_WAIT_MS). */
static void spin(unsigned rounds)
{
	for (unsigned i = 0; i < rounds; i++) {
		osmo_select_main_ctx(1);
		usleep(2000);
	}
}

/* A router in c on store s with the test flows and transport t (if any) registered, its calls
 * answered by fake_call; a USSD screen waits ussd_answer_ms for a back-end (0: the default). */
static struct router *router_on(void *c, struct store *s, struct sms_transport *t,
				unsigned ussd_answer_ms)
{
	struct diag *d = diag_alloc(c);
	struct flow_set *fs = flow_set_load_string(c, "t.yaml", flows_yaml, NULL, d);
	if (!fs) {
		diag_print(d, stderr);
		abort();
	}
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(3) },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(182) },
		.ussd_answer_ms = ussd_answer_ms,
	};
	struct router *rt = router_create(c, &rc, s, (struct call_port){ fake_call, ctx });
	router_set_flows(rt, fs);
	if (t)
		router_sms_register(rt, t);
	return rt;
}

/* The suite's router, on the suite's store, m1 registered. */
static struct router *make_router(void)
{
	return router_on(ctx, st, &modem, 200);	/* a screen waits 200 ms for a back-end, here */
}

/* The memory store's own ops, and the copy the tests hook (commit, conflict, inbound_ahead). */
static const struct store_ops *real_ops;
static struct store_ops test_ops;

/* A router in c on a fresh memory store whose commits go through commit: test_ops, which the
 * caller may hook further before the first message. */
static struct router *hooked_router(void *c, struct sms_transport *t, int (*commit)(struct store *))
{
	struct store *s = store_mem_open(c);

	real_ops = s->ops;
	test_ops = *s->ops;
	test_ops.commit = commit;
	s->ops = &test_ops;
	return router_on(c, s, t, 0);
}

/* n messages "GO" through via, from prefix (6 characters) followed by six digits (i), dedup
 * letter followed by i; from and dedup hold their text. */
static void people_write(struct sms_in *m, char (*from)[16], char (*dedup)[8], unsigned n,
			 const char *prefix, char letter, const char *via)
{
	for (unsigned i = 0; i < n; i++) {
		snprintf(from[i], sizeof(from[i]), "%s%06u", prefix, i);
		snprintf(dedup[i], sizeof(dedup[i]), "%c%u", letter, i);
		m[i] = (struct sms_in){ .via = via, .from = from[i], .text = "GO", .dedup = dedup[i] };
	}
}

static int setup(void)
{
	ctx = talloc_named_const(NULL, 0, "test_router");
	calls_ctx = talloc_new(ctx);
	st = store_mem_open(ctx);
	r = make_router();
	return 0;
}

static int teardown(void)
{
	talloc_free(ctx);
	return 0;
}

static void test_receive_reply_dedup(void)
{
	struct sms_in m = { .via = "m1", .from = "+33611111111", .text = "go", .received = 1,
			    .dedup = "A1" };
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(r, &m, 1), 0);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_STRING_EQUAL(sent_text[0], "Nom ?");
	CU_ASSERT_STRING_EQUAL(sent_to[0], "+33611111111");
	/* the same message again (read twice from the SIM): stored once, answered once */
	CU_ASSERT_EQUAL(router_sms_received(r, &m, 1), 0);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(router_counter(r, ROUTER_CTR_DUPLICATES_IN), 1);
	/* Each message's write transaction counted (the store's series on /metrics). */
	CU_ASSERT(router_counter(r, ROUTER_CTR_STORE_COMMITS) >= 2);
	CU_ASSERT_EQUAL(router_counter(r, ROUTER_CTR_STORE_FAILURES), 0);
	router_sms_sent(r, sent_id[0]);
	spin(10);
	CU_ASSERT_EQUAL(router_outbox_pending(r), 0);
}

static void test_call_then_reply(void)
{
	struct sms_in m = { .via = "m1", .from = "+33611111111", .text = "Zoé {\"&%",
			    .received = 2, .dedup = "A2" };
	n_sent = 0;
	calls_fail = false;
	CU_ASSERT_EQUAL(router_sms_received(r, &m, 1), 0);
	CU_ASSERT_EQUAL(n_sent, 0);	/* nothing until the back-end answers */
	spin(20);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_STRING_EQUAL(sent_text[0], "Bonjour Zoé {\"&%");
	router_sms_sent(r, sent_id[0]);
	spin(10);
}

static void test_call_failure(void)
{
	struct sms_in a = { .via = "m1", .from = "+33622222222", .text = "GO", .dedup = "B1" };
	struct sms_in b = { .via = "m1", .from = "+33622222222", .text = "Léa", .dedup = "B2" };
	n_sent = 0;
	calls_fail = true;
	router_sms_received(r, &a, 1);
	router_sms_received(r, &b, 1);
	spin(20);
	CU_ASSERT_EQUAL(n_sent, 2);
	CU_ASSERT_STRING_EQUAL(sent_text[1], "Oups");
	calls_fail = false;
	router_sms_sent(r, sent_id[0]);
	router_sms_sent(r, sent_id[1]);
	spin(10);
}

static void test_refused_then_ready(void)
{
	struct sms_in m = { .via = "m1", .from = "+33633333333", .text = "GO", .dedup = "C1" };
	n_sent = 0;
	refuse = true;
	router_sms_received(r, &m, 1);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(router_outbox_pending(r), 1);
	refuse = false;
	router_sms_ready(r, &modem);
	CU_ASSERT_EQUAL(n_sent, 1);
	/* a temporary failure: the reply comes back later, not lost */
	router_sms_failed(r, sent_id[0], false, "modem timeout");
	spin(10);
	CU_ASSERT_EQUAL(router_outbox_pending(r), 1);
}

static void test_restart_with_waiting_session(void)
{
	struct sms_in a = { .via = "m1", .from = "+33644444444", .text = "GO", .dedup = "D1" };
	struct sms_in b = { .via = "m1", .from = "+33644444444", .text = "Ana", .dedup = "D2" };
	router_sms_received(r, &a, 1);
	unsigned before = calls_made;
	router_sms_received(r, &b, 1);	/* the call starts; the process "dies" before it ends */
	CU_ASSERT_EQUAL(calls_made, before + 1);
	talloc_free(r);			/* the process dies with its call in flight */
	talloc_free(calls_ctx);
	calls_ctx = talloc_new(ctx);
	n_sent = 0;
	refuse = false;
	r = make_router();
	CU_ASSERT_EQUAL(router_recover(r, 0), 0);
	spin(10);
	/* the waiting person is answered through the flow's error way; the earlier reply
	 * still queued from the previous test is sent too */
	bool oups = false;
	for (unsigned i = 0; i < n_sent; i++)
		oups |= strcmp(sent_text[i], "Oups") == 0 && strcmp(sent_to[i], "+33644444444") == 0;
	CU_ASSERT_TRUE(oups);
}

static char *replace(void *c, const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	return talloc_asprintf(c, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

static void test_reload_keeps_running_sessions(void)
{
	/* v2 of the flow: other texts, same names */
	char *v2 = replace(ctx, flows_yaml, "Nom ?", "Votre prénom ?");
	v2 = replace(ctx, v2, "Bonjour {{r.greeting}}", "Salut {{r.greeting}}");
	struct diag *d = diag_alloc(ctx);
	struct flow_set *fs2 = flow_set_load_string(ctx, "t.yaml", v2, NULL, d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs2);

	struct sms_in old1 = { .via = "m1", .from = "+33655555555", .text = "GO", .dedup = "E1" };
	struct sms_in old2 = { .via = "m1", .from = "+33655555555", .text = "Jo", .dedup = "E2" };
	struct sms_in new1 = { .via = "m1", .from = "+33666666666", .text = "GO", .dedup = "F1" };
	n_sent = 0;
	router_sms_received(r, &old1, 1);
	CU_ASSERT_STRING_EQUAL(sent_text[0], "Nom ?");
	router_set_flows(r, fs2);
	router_sms_received(r, &new1, 1);
	CU_ASSERT_STRING_EQUAL(sent_text[1], "Votre prénom ?");
	router_sms_received(r, &old2, 1);
	spin(20);
	CU_ASSERT_EQUAL(n_sent, 3);
	CU_ASSERT_STRING_EQUAL(sent_text[2], "Bonjour Jo");	/* finished on the old flow */
}

static unsigned n_sent2;

static int fake_send2(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	(void)m;
	n_sent2++;
	return 0;
}

static void test_group_stands_in_for_a_down_modem(void)
{
	static struct sms_transport m2 = { .name = "m2", .send = fake_send2, .up = true,
					   .group = "modem" };
	struct sms_in m = { .via = "m1", .from = "+33677777777", .text = "GO", .dedup = "G1" };

	modem.group = "modem";
	modem.up = false;
	n_sent = n_sent2 = 0;
	router_sms_received(r, &m, 1);	/* m2 not known yet: the reply waits for m1 */
	CU_ASSERT_EQUAL(n_sent + n_sent2, 0);
	router_sms_register(r, &m2);	/* m2 appears: it takes what m1 cannot send */
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_TRUE(n_sent2 >= 1);
	modem.up = true;
	modem.group = NULL;
}

static unsigned no_room(struct sms_transport *t)
{
	(void)t;
	return 0;
}

static void test_full_modem_spreads_to_another(void)
{
	struct sms_in m = { .via = "m1", .from = "+33699999999", .text = "GO", .dedup = "H1" };

	modem.group = "modem";
	modem.room = no_room;		/* m1 is busy with a burst */
	n_sent = n_sent2 = 0;
	router_sms_received(r, &m, 1);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_TRUE(n_sent2 >= 1);	/* m2 (same group, registered earlier) sends it */
	modem.room = NULL;
	modem.group = NULL;
}

static char ussd_screen[256];
static bool ussd_more;
static unsigned ussd_replies;

static void ussd_reply(void *data, const char *text, bool more)
{
	(void)data;
	snprintf(ussd_screen, sizeof(ussd_screen), "%s", text);
	ussd_more = more;
	ussd_replies++;
}

static void test_ussd_slow_call_answers_by_sms(void)
{
	struct ussd_req begin = { .via = "gsup", .dialogue = "imsi1:7", .from = "+33688888888",
				  .text = "*1*1#", .begin = true };
	struct ussd_req answer = begin;
	answer.text = "Léo";
	answer.begin = false;

	router_ussd_request(r, &begin, ussd_reply, NULL);
	CU_ASSERT_EQUAL(ussd_replies, 1);
	CU_ASSERT_STRING_EQUAL(ussd_screen, "Votre prénom ?");	/* flows v2, since the reload test */
	CU_ASSERT_TRUE(ussd_more);
	/* the back-end takes longer than a screen may wait */
	calls_delay_ms = 600;
	n_sent = 0;
	router_ussd_request(r, &answer, ussd_reply, NULL);
	CU_ASSERT_EQUAL(ussd_replies, 1);	/* the screen waits for the call... */
	for (unsigned i = 0; i < 400 && ussd_replies < 2; i++)
		spin(5);
	CU_ASSERT_EQUAL(ussd_replies, 2);	/* ...then gets the step's wait text, and ends */
	CU_ASSERT_STRING_EQUAL(ussd_screen, "Réponse par SMS.");
	CU_ASSERT_FALSE(ussd_more);
	/* the answer comes by SMS, to the person (other tests' retried replies may go too) */
	bool found = false;
	for (unsigned i = 0; i < 1000 && !found; i++) {
		spin(5);
		for (unsigned j = 0; j < n_sent; j++)
			found |= !strcmp(sent_text[j], "Salut Léo") && !strcmp(sent_to[j], "+33688888888");
	}
	CU_ASSERT_TRUE(found);
	calls_delay_ms = 1;
}

/* A second transport, the short number the person wrote to, registered after m1. */
static char short_text[MAX_SENT][256];
static char short_to[MAX_SENT][32];
static unsigned n_short;

static int short_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	if (n_short == MAX_SENT)
		return -1;
	snprintf(short_text[n_short], sizeof(short_text[0]), "%s", m->text);
	snprintf(short_to[n_short], sizeof(short_to[0]), "%s", m->to);
	n_short++;
	return 0;
}

static void test_restart_answers_through_the_transport_used(void)
{
	static struct sms_transport shortnum = { .name = "court", .send = short_send, .up = true };
	struct sms_in a = { .via = "court", .from = "+33612121212", .text = "GO", .dedup = "K1" };
	struct sms_in b = { .via = "court", .from = "+33612121212", .text = "Eva", .dedup = "K2" };

	router_sms_register(r, &shortnum);
	n_short = 0;
	router_sms_received(r, &a, 1);
	CU_ASSERT_EQUAL(n_short, 1);	/* "Nom ?" went out from the number written to */
	router_sms_received(r, &b, 1);	/* the call starts; the process dies before it ends */
	router_flush(r);
	talloc_free(r);
	talloc_free(calls_ctx);
	calls_ctx = talloc_new(ctx);
	n_sent = n_short = 0;
	r = make_router();		/* m1 is registered first, as the config lists it */
	router_sms_register(r, &shortnum);
	CU_ASSERT_EQUAL(router_recover(r, 0), 0);
	spin(10);
	bool via_short = false, via_m1 = false;
	for (unsigned i = 0; i < n_short; i++)
		via_short |= !strcmp(short_text[i], "Oups") && !strcmp(short_to[i], "+33612121212");
	for (unsigned i = 0; i < n_sent; i++)
		via_m1 |= !strcmp(sent_to[i], "+33612121212");
	CU_ASSERT_TRUE(via_short);
	CU_ASSERT_FALSE(via_m1);
}

/* The screens a USSD transport shows on its own come from the flows' common messages, with
 * {{contact}} expanded; a sink without texts (a test stub) gets the built-in French. */
static void test_ussd_transport_texts(void)
{
	struct ussd_sink sink = router_ussd_sink(r);
	struct ussd_sink stub = { 0 };

	CU_ASSERT_STRING_EQUAL(ussd_sink_text(&sink, USSD_TEXT_INVALID), "Session invalide.");
	CU_ASSERT_STRING_EQUAL(ussd_sink_text(&sink, USSD_TEXT_UNAVAILABLE),
			       "Service indisponible. Réessayez plus tard ou appelez le 3939.");
	CU_ASSERT_STRING_EQUAL(ussd_sink_text(&sink, USSD_TEXT_EXPIRED),
			       "Votre demande a expiré. Recomposez le code pour recommencer.");
	CU_ASSERT_STRING_EQUAL(ussd_sink_text(&stub, USSD_TEXT_EXPIRED), "Session expirée.");
}

/* 20,000 dialogues open at once (a flood of session ids, up to max_dialogues per transport):
 * each is found again by its id, and each one ended leaves the count. */
static void test_ussd_many_dialogues(void)
{
	enum { N = 20000 };
	unsigned before = router_sessions_active(r), bad = 0;
	char id[32];

	ussd_replies = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "imsi%u:%u", i, i % 7);
		struct ussd_req q = { .via = "gsup", .dialogue = id, .from = "+33688888888",
				      .text = "*1*1#", .begin = true };
		router_ussd_request(r, &q, ussd_reply, NULL);
	}
	CU_ASSERT_EQUAL(ussd_replies, N);
	CU_ASSERT_EQUAL(router_sessions_active(r), before + N);
	/* An answer finds its own dialogue: it moves on to the call (no screen yet). */
	for (unsigned i = 0; i < N; i += 2) {
		snprintf(id, sizeof(id), "imsi%u:%u", i, i % 7);
		struct ussd_req q = { .via = "gsup", .dialogue = id, .from = "+33688888888",
				      .text = "Léo", .begin = false };
		unsigned replies = ussd_replies;

		router_ussd_request(r, &q, ussd_reply, NULL);
		bad += ussd_replies != replies;
	}
	CU_ASSERT_EQUAL(bad, 0);
	for (unsigned i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "imsi%u:%u", i, i % 7);
		router_ussd_abort(r, id);
	}
	CU_ASSERT_EQUAL(router_sessions_active(r), before);
	/* An answer for a dialogue no longer open gets the expired text. */
	struct ussd_req late = { .via = "gsup", .dialogue = "imsi1:1", .from = "+33688888888",
				 .text = "1", .begin = false };
	router_ussd_request(r, &late, ussd_reply, NULL);
	CU_ASSERT_FALSE(ussd_more);
	spin(5);
}

/* One dialogue is one entry of the USSD dialogue table, whichever side looks: a transport
 * (here a stand-in using the table as ussd_gsup and ussd_http do) opens it, the router hangs
 * its session on the same entry, the open gauge counts it once, and when the transport's
 * idle deadline aborts it, it is gone for the router too. */
static struct ussd_sink one_sink;

static void one_idle(struct ussd_dlg *e)
{
	char key[32];

	snprintf(key, sizeof(key), "%s", e->key);
	ussd_table_leave_transport(e);
	one_sink.abort(one_sink.data, key);
}

static void test_ussd_one_entry_per_dialogue(void)
{
	struct ussd_table *t;
	struct ussd_port port;
	struct ussd_dlg *e;
	int tp;
	struct ussd_req q = { .via = "gsup", .dialogue = "imsi42:1", .from = "+33688888888",
			      .text = "*1*1#", .begin = true };

	one_sink = router_ussd_sink(r);
	t = one_sink.table;
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL_FATAL(ussd_port_init(&port, ctx, "one", "test dialogues", 10), 0);
	unsigned entries = ussd_table_count_open(t), sessions = router_sessions_active(r);

	e = ussd_table_open(t, &port, q.dialogue, &tp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	ussd_replies = 0;
	one_sink.request(one_sink.data, &q, ussd_reply, NULL);
	CU_ASSERT_EQUAL(ussd_replies, 1);
	CU_ASSERT_TRUE(ussd_more);
	/* The router's side is on the transport's entry: one entry, counted once. */
	CU_ASSERT_PTR_EQUAL(ussd_table_find(t, q.dialogue), e);
	CU_ASSERT_PTR_NOT_NULL(e->rp);
	CU_ASSERT_EQUAL(ussd_table_count_open(t), entries + 1);
	CU_ASSERT_EQUAL(port.open, 1);
	CU_ASSERT_EQUAL(router_sessions_active(r), sessions + 1);
	/* The transport's idle deadline on the entry's one timer ends it for both sides. */
	ussd_table_arm(e, 20, false, one_idle);
	for (unsigned i = 0; i < 200 && ussd_table_find(t, q.dialogue); i++)
		spin(1);
	CU_ASSERT_PTR_NULL(ussd_table_find(t, q.dialogue));
	CU_ASSERT_EQUAL(ussd_table_count_open(t), entries);
	CU_ASSERT_EQUAL(port.open, 0);
	CU_ASSERT_EQUAL(router_sessions_active(r), sessions);
	/* An answer after that belongs to no dialogue: the router says it expired, and ends. */
	q.begin = false;
	q.text = "Léo";
	one_sink.request(one_sink.data, &q, ussd_reply, NULL);
	CU_ASSERT_FALSE(ussd_more);
	CU_ASSERT_EQUAL(ussd_table_count_open(t), entries);
}

/* Commits that fail on demand, like SQLite's on a full disk. */
static bool commits_fail;

static int failing_commit(struct store *s)
{
	return commits_fail ? -1 : real_ops->commit(s);
}

/* Counts the lines of the journal (stderr here) holding needle, written while fn ran. */
static unsigned log_lines(void (*fn)(void *), void *arg, const char *needle)
{
	char path[] = "/tmp/guichet-test-router-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char line[1024];
	unsigned n = 0;
	FILE *f;

	fflush(stderr);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	unlink(path);
	return n;
}

struct offer_run {
	struct router *rt;
	struct sms_transport *t;
	unsigned times;
};

static void offer_times(void *data)
{
	struct offer_run *o = data;

	for (unsigned i = 0; i < o->times; i++)
		router_sms_ready(o->rt, o->t);
}

/* The outbox stalls on a failed commit (offer_to): logged once when it starts, once when it
 * ends, not at every offer; router_store_problem() says why meanwhile. */
static void test_outbox_commit_failure_logged_once(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m2 = { .name = "m2", .send = fake_send, .up = true };
	struct sms_in m = { .via = "m2", .from = "+33655555555", .text = "GO", .dedup = "F1" };
	struct router *rt = hooked_router(c, &m2, failing_commit);

	n_sent = 0;
	refuse = true;
	CU_ASSERT_EQUAL(router_sms_received(rt, &m, 1), 0);
	CU_ASSERT_EQUAL(router_outbox_pending(rt), 1);	/* queued, the transport refused it */
	CU_ASSERT_PTR_NULL(router_store_problem(rt));

	refuse = false;
	commits_fail = true;
	struct offer_run o = { .rt = rt, .t = &m2, .times = 5 };
	CU_ASSERT_EQUAL(log_lines(offer_times, &o, "taking replies out of the outbox failed"), 1);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_PTR_NOT_NULL(router_store_problem(rt));

	commits_fail = false;
	o.times = 2;
	CU_ASSERT_EQUAL(log_lines(offer_times, &o, "writes succeed again"), 1);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_PTR_NULL(router_store_problem(rt));
	talloc_free(rt);
	talloc_free(c);
}

/* A receipt handed with router_sms_receipt_later: its sender is told only once a commit
 * has written it (a modem deletes the status report from the SIM then), not while commits
 * fail; a cancelled sender is not told. */
static unsigned receipt_told, receipt_told_other;

static void receipt_stored(void *sdata, bool ok)
{
	CU_ASSERT(ok);
	if (sdata == &receipt_told)
		receipt_told++;
	else
		receipt_told_other++;
}

static void test_receipt_told_after_commit(void)
{
	void *c = talloc_new(ctx);
	struct router *rt = hooked_router(c, NULL, failing_commit);

	receipt_told = receipt_told_other = 0;
	commits_fail = true;
	CU_ASSERT_EQUAL(router_sms_receipt_later(rt, 0, "m1", "7", true, "DELIVRD", receipt_stored,
						 &receipt_told), 0);
	CU_ASSERT_EQUAL(router_sms_receipt_later(rt, 0, "m1", "8", false, "UNDELIV", receipt_stored,
						 &receipt_told_other), 0);
	CU_ASSERT_EQUAL(receipt_told, 0);	/* never from inside the call */
	spin(20);
	CU_ASSERT_EQUAL(receipt_told, 0);	/* not written: the SIM keeps the report */
	router_sms_receive_cancel(rt, &receipt_told_other);
	commits_fail = false;
	for (unsigned i = 0; i < 1000 && !receipt_told; i++)
		spin(1);	/* the next try, in a second */
	CU_ASSERT_EQUAL(receipt_told, 1);
	CU_ASSERT_EQUAL(receipt_told_other, 0);
	spin(10);
	CU_ASSERT_EQUAL(receipt_told, 1);	/* once */
	talloc_free(rt);
	talloc_free(c);
}

/* Commits counted. */
static unsigned n_commits;

static int counting_commit(struct store *s)
{
	n_commits++;
	return real_ops->commit(s);
}

static unsigned commits_at_send[MAX_SENT];

static int counting_send(struct sms_transport *t, const struct store_outbound *m)
{
	if (n_sent < MAX_SENT)
		commits_at_send[n_sent] = n_commits;
	return fake_send(t, m);
}

/* Ten back-end calls answered in the same loop iteration: their ten outcomes (sessions and
 * replies), the sent marks of that iteration and the replies taken out of the outbox are
 * written in ONE transaction, and each reply reaches the transport only after it committed
 * (before: one commit per outcome, then one per offer). */
static void test_call_outcomes_grouped(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m3 = { .name = "m3", .send = counting_send, .up = true };
	struct sms_in m[10];
	char from[10][16], dedup[10][8];
	struct router *rt = hooked_router(c, &m3, counting_commit);

	calls_fail = false;
	refuse = false;
	people_write(m, from, dedup, 10, "+33660", 'G', "m3");
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(rt, m, 10), 0);	/* "Nom ?" to each */
	CU_ASSERT_EQUAL_FATAL(n_sent, 10);
	for (unsigned i = 0; i < 10; i++) {
		router_sms_sent(rt, sent_id[i]);
		m[i].text = "Zoé";
		dedup[i][0] = 'H';
	}
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_received(rt, m, 10), 0);	/* ten calls start */
	CU_ASSERT_EQUAL(n_sent, 0);
	usleep(20000);		/* every call's answer is due: they come in one iteration */
	unsigned before = n_commits;
	spin(3);
	CU_ASSERT_EQUAL(n_sent, 10);
	/* one group write: the outcomes, the sent marks and the replies taken out of the outbox */
	CU_ASSERT_EQUAL(n_commits - before, 1);
	for (unsigned i = 0; i < n_sent; i++)
		CU_ASSERT(commits_at_send[i] > before);
	for (unsigned i = 0; i < n_sent; i++)
		CU_ASSERT_STRING_EQUAL(sent_text[i], "Bonjour Zoé");
	talloc_free(rt);
	talloc_free(c);
}

/* A store whose commits lose a conflict with another host's (a deadlock) the next
 * conflicts_left times, or fail for another reason while other_failure is set. */
static unsigned conflicts_left;
static bool other_failure, conflicted;

static int conflict_commit(struct store *s)
{
	n_commits++;
	conflicted = false;
	if (conflicts_left) {
		conflicts_left--;
		conflicted = true;
		real_ops->rollback(s);
		return -1;
	}
	if (other_failure) {
		real_ops->rollback(s);
		return -1;
	}
	return real_ops->commit(s);
}

static bool conflict_flag(struct store *s)
{
	(void)s;
	return conflicted;
}

struct intake_run {
	struct router *rt;
	struct sms_in *m;
	int rc;
};

static void intake_once(void *data)
{
	struct intake_run *ir = data;

	ir->rc = router_sms_received(ir->rt, ir->m, 1);
}

/* Received messages whose write loses a conflict with another host's (PostgreSQL: two hosts
 * locking two people's sessions in opposite order) are written again, a bounded number of
 * times, each retry logged, instead of being left unacknowledged at the first conflict; any
 * other failure is not retried. */
static void test_intake_conflict_retried(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m5 = { .name = "m5", .send = counting_send, .up = true };
	struct sms_in m = { .via = "m5", .from = "+33668000001", .text = "GO", .dedup = "K1" };
	struct router *rt = hooked_router(c, &m5, conflict_commit);

	test_ops.conflict = conflict_flag;
	refuse = false;
	n_sent = 0;

	/* Two conflicts, then the write goes through: one reply, stored once. */
	struct intake_run ir = { .rt = rt, .m = &m };
	conflicts_left = 2;
	n_commits = 0;
	CU_ASSERT_EQUAL(log_lines(intake_once, &ir, "lost a conflict with another host"), 2);
	CU_ASSERT_EQUAL(ir.rc, 0);
	CU_ASSERT_EQUAL(n_commits, 3);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_PTR_NULL(router_store_problem(rt));
	/* Conflicts past the bound: not stored, the transport keeps the message. */
	m.from = "+33668000002";
	m.dedup = "K2";
	conflicts_left = 10;
	n_commits = 0;
	router_sms_received(rt, &m, 1);
	CU_ASSERT_EQUAL(n_commits, 3);
	CU_ASSERT_PTR_NOT_NULL(router_store_problem(rt));
	/* Another failure: no second try. */
	conflicts_left = 0;
	other_failure = true;
	n_commits = 0;
	CU_ASSERT_EQUAL(router_sms_received(rt, &m, 1), -1);
	CU_ASSERT_EQUAL(n_commits, 1);
	other_failure = false;
	CU_ASSERT_EQUAL(router_sms_received(rt, &m, 1), 0);
	CU_ASSERT_EQUAL(n_sent, 2);
	talloc_free(rt);
	talloc_free(c);
}

/* What router_sms_receive_later's callback was told, per sender. */
struct told {
	unsigned calls;
	bool ok;
	unsigned commits_then;	/* commits seen when told */
};

static void told_fn(void *sdata, bool ok)
{
	struct told *t = sdata;
	t->calls++;
	t->ok = ok;
	t->commits_then = n_commits;
}

static bool intake_commits_fail;

static int intake_commit(struct store *s)
{
	n_commits++;
	return intake_commits_fail ? -1 : real_ops->commit(s);
}

/* What the router announced to the store (inbound_ahead) before adding them. */
static unsigned ahead_calls, ahead_n;
static char ahead_from[4][16];

static int record_ahead(struct store *s, const struct store_inbound *ins, unsigned n)
{
	(void)s;
	ahead_calls++;
	ahead_n = n;
	for (unsigned i = 0; i < n && i < 4; i++)
		snprintf(ahead_from[i], sizeof(ahead_from[i]), "%s", ins[i].from);
	return 0;
}

/* Messages handed by several transports in one loop iteration: one transaction for all,
 * each sender told only after it committed (its deliver_sm_resp goes then), never from
 * inside the call; a failed commit tells each sender "not stored" (no positive answer: the
 * SMSC delivers again); a sender going away is never called back and its messages are not
 * stored (unacknowledged, they come again). */
static void test_intake_grouped_after_commit(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m4 = { .name = "m4", .send = counting_send, .up = true };
	struct router *rt = hooked_router(c, &m4, intake_commit);

	test_ops.inbound_ahead = record_ahead;
	ahead_calls = 0;
	refuse = false;
	n_sent = 0;

	struct told t[3] = { { 0 } };
	struct sms_in in[3];
	char from[3][16], dedup[3][8];
	people_write(in, from, dedup, 3, "+33670", 'I', "m4");
	for (unsigned i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(router_sms_receive_later(rt, &in[i], 1, told_fn, &t[i]), 0);
		/* copied: the caller's message and its texts may go */
		snprintf(from[i], sizeof(from[i]), "garbage");
		memset(&in[i], 0, sizeof(in[i]));
	}
	unsigned before = n_commits;
	CU_ASSERT_EQUAL(t[0].calls + t[1].calls + t[2].calls, 0);	/* never before the commit */
	spin(2);
	CU_ASSERT_EQUAL(n_commits - before, 1);		/* one transaction for the three */
	/* Announced to the store together, in the order they are added (PostgreSQL adds
	 * them in one round trip). */
	CU_ASSERT_EQUAL(ahead_calls, 1);
	CU_ASSERT_EQUAL(ahead_n, 3);
	CU_ASSERT_STRING_EQUAL(ahead_from[0], "+33670000000");
	CU_ASSERT_STRING_EQUAL(ahead_from[2], "+33670000002");
	for (unsigned i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(t[i].calls, 1);
		CU_ASSERT(t[i].ok);
		CU_ASSERT(t[i].commits_then > before);
	}
	CU_ASSERT_EQUAL(n_sent, 3);				/* "Nom ?" to each */
	CU_ASSERT_EQUAL(router_counter(rt, ROUTER_CTR_MESSAGES_IN), 3);

	/* A failed commit: told "not stored", nothing answered. */
	struct told f = { 0 };
	struct sms_in m = { .via = "m4", .from = "+33670000009", .text = "GO", .dedup = "I9" };
	intake_commits_fail = true;
	n_sent = 0;
	CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m, 1, told_fn, &f), 0);
	spin(2);
	CU_ASSERT_EQUAL(f.calls, 1);
	CU_ASSERT(!f.ok);
	CU_ASSERT_EQUAL(n_sent, 0);
	intake_commits_fail = false;

	/* Cancelled before the write: never told, not stored; handed again later, stored. */
	struct told g = { 0 };
	CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m, 1, told_fn, &g), 0);
	router_sms_receive_cancel(rt, &g);
	spin(2);
	CU_ASSERT_EQUAL(g.calls, 0);
	CU_ASSERT_EQUAL(n_sent, 0);
	CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m, 1, told_fn, &g), 0);
	spin(2);
	CU_ASSERT_EQUAL(g.calls, 1);
	CU_ASSERT(g.ok);
	CU_ASSERT_EQUAL(n_sent, 1);
	CU_ASSERT_EQUAL(router_counter(rt, ROUTER_CTR_DUPLICATES_IN), 0);
	talloc_free(rt);
	talloc_free(c);
}

/* The loop's clock (libosmocore's osmo_gettimeofday, overridden below), in milliseconds. */
static int64_t loop_ms(void)
{
	struct timeval tv;
	osmo_gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Scripted time: ms milliseconds pass, a loop iteration after each. */
static void advance_ms(unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		osmo_gettimeofday_override_add(0, 1000);
		for (int k = 0; k < 3; k++)
			osmo_select_main_ctx(1);
	}
}

/* What the group-write tests start from: hooked_router's, with the loop's clock scripted
 * from sec, calls answered in 1 ms. */
static struct router *scripted_router(void *c, struct sms_transport *t, time_t sec,
				      int (*commit)(struct store *))
{
	osmo_gettimeofday_override_time = (struct timeval){ .tv_sec = sec };
	osmo_gettimeofday_override = true;
	struct router *rt = hooked_router(c, t, commit);
	calls_fail = false;
	calls_delay_ms = 1;
	return rt;
}

#define PACED_N 24
static int64_t paced_told_ms[PACED_N], paced_sent_ms[MAX_SENT];

static void paced_told(void *sdata, bool ok)
{
	int64_t *at = sdata;
	*at = ok ? loop_ms() : -1;
}

static int paced_send(struct sms_transport *t, const struct store_outbound *m)
{
	if (n_sent < MAX_SENT)
		paced_sent_ms[n_sent] = loop_ms();
	return fake_send(t, m);
}

/* 1,000 messages/s over SMPP, one per loop iteration, each starting a back-end call answered
 * a millisecond later: written as they come, every intake and every outcome was a commit of
 * its own (one to two fsyncs per message). They now wait for company, at most one group
 * period after the last commit: 24 messages and their 24 outcomes in a handful of commits,
 * each sender still told only after its commit and within the period (8 ms), each reply
 * within two periods and the call. Messages whose flow calls nothing are written at once.
 * The script runs on libosmocore's overridden clock (osmo_gettimeofday): the router's
 * timers, the fake back-end's and the script share it, whatever the machine's load. */
static void test_group_write_paced(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m6 = { .name = "m6", .send = paced_send, .up = true };
	char from[PACED_N][16], dedup[PACED_N][8];
	struct sms_in m[PACED_N];
	struct router *rt = scripted_router(c, &m6, 100, counting_commit);

	refuse = false;
	n_sent = 0;
	/* Messages whose step calls nothing ("GO": "Nom ?"), one per millisecond: no outcome
	 * is coming, each is written in the next iteration, as before (waiting would only hold
	 * the SMSC's window). */
	unsigned before = n_commits;
	people_write(m, from, dedup, PACED_N, "+33671", 'P', "m6");
	for (unsigned i = 0; i < PACED_N; i++) {
		int64_t told = 0, handed = loop_ms();
		CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m[i], 1, paced_told, &told), 0);
		osmo_select_main_ctx(1);
		CU_ASSERT_EQUAL(told, handed);
		advance_ms(1);
		m[i].text = "Zoé";
		dedup[i][0] = 'Q';
	}
	CU_ASSERT_EQUAL(n_commits - before, PACED_N);
	CU_ASSERT_EQUAL_FATAL(n_sent, PACED_N);	/* "Nom ?" to each */
	advance_ms(1000);	/* quiet */

	/* One message per millisecond. */
	int64_t t0 = loop_ms();
	before = n_commits;
	n_sent = 0;
	for (unsigned i = 0; i < PACED_N; i++) {
		paced_told_ms[i] = 0;
		CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m[i], 1, paced_told, &paced_told_ms[i]),
				0);
		advance_ms(1);
	}
	for (unsigned ms = 0; ms < 100 && n_sent < PACED_N; ms++)
		advance_ms(1);
	unsigned commits = n_commits - before;
	CU_ASSERT_EQUAL(n_sent, PACED_N);
	/* Old code: a commit per iteration that received a message (25 here). Now: 24 intakes
	 * and 24 outcomes over ~30 ms, one commit per 8 ms. */
	CU_ASSERT(commits >= 1 && commits <= 6);
	for (unsigned i = 0; i < PACED_N; i++) {
		int64_t at = t0 + i;	/* when message i was handed */
		CU_ASSERT(paced_told_ms[i] > 0);	/* stored and told ok */
		CU_ASSERT(paced_told_ms[i] - at <= 9);
	}
	for (unsigned i = 0; i < n_sent; i++) {
		CU_ASSERT_STRING_EQUAL(sent_text[i], "Bonjour Zoé");
		/* Its message was handed at t0 + j: the intake's wait, the call, the outcome's. */
		unsigned j = (unsigned)atoi(sent_to[i] + strlen(sent_to[i]) - 2);
		CU_ASSERT(paced_sent_ms[i] - (t0 + j) <= 2 * 9 + 1);
	}
	fprintf(stderr, "(%u commits for %u messages and their outcomes) ", commits, PACED_N);
	talloc_free(rt);
	talloc_free(c);
	osmo_gettimeofday_override = false;
}

static unsigned w1_sent;

static int w1_send(struct sms_transport *t, const struct store_outbound *m)
{
	(void)t;
	(void)m;
	w1_sent++;
	return 0;
}

/* An SMSC with a window of 1 hands the next message only once the last one is answered:
 * holding a message for company brings none (only its predecessor's call outcome), and
 * would cost a group period (8 ms) per message: ~12 messages in 100 ms. After three such
 * waits the router stops waiting (trying again every 200 ms): here ~1 message per
 * millisecond, one per loop iteration of the script, as before the group period. */
static void test_group_write_window_one(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m9 = { .name = "m9", .send = w1_send, .up = true };
	enum { N = 100 };
	char from[N][16], dedup[N][8];
	struct sms_in m[N];
	struct router *rt = scripted_router(c, &m9, 200, counting_commit);

	people_write(m, from, dedup, N, "+33673", 'W', "m9");
	for (unsigned i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(router_sms_received(rt, &m[i], 1), 0);	/* "Nom ?" */
		m[i].text = "Zoé";
		dedup[i][0] = 'X';
	}
	advance_ms(1000);

	/* 100 ms: the next message once the last is told, at most one per millisecond. */
	int64_t told[N] = { 0 };
	unsigned handed = 0;
	for (unsigned ms = 0; ms < 100; ms++) {
		if (handed == 0 || (handed < N && told[handed - 1])) {
			CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m[handed], 1, paced_told,
								 &told[handed]), 0);
			handed++;
		}
		advance_ms(1);
	}
	unsigned n_told = 0;
	for (unsigned i = 0; i < N; i++)
		n_told += told[i] > 0;
	fprintf(stderr, "(%u messages told in 100 ms) ", n_told);
	CU_ASSERT(n_told >= 50);
	advance_ms(100);
	talloc_free(rt);
	talloc_free(c);
	osmo_gettimeofday_override = false;
}

/* Two-part texts over an SMSC window of 10: the SMSC hands five messages, then nothing until
 * all five are answered. Once their calls' outcomes are in, nothing more can join the group
 * write; holding it to the end of the group period (8 ms) capped such a sender at five
 * messages a period (~60 in 100 ms). It now goes GROUP_IDLE_US after the last outcome. */
static void test_group_write_window_bound(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m9 = { .name = "m9", .send = w1_send, .up = true };
	enum { N = 300, W = 5 };
	static char from[N][16], dedup[N][8];
	static struct sms_in m[N];
	static int64_t told[N];
	struct router *rt = scripted_router(c, &m9, 300, counting_commit);

	people_write(m, from, dedup, N, "+33674", 'V', "m9");
	for (unsigned i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(router_sms_received(rt, &m[i], 1), 0);	/* "Nom ?" */
		m[i].text = "Zoé";
		dedup[i][0] = 'Y';
		told[i] = 0;
	}
	advance_ms(1000);

	/* 100 ms: the next window of W once every message of the last one is told. */
	unsigned handed = 0;
	for (unsigned ms = 0; ms < 100; ms++) {
		bool all_told = true;
		for (unsigned i = handed >= W ? handed - W : 0; i < handed; i++)
			all_told = all_told && told[i];
		if (all_told && handed + W <= N) {
			for (unsigned i = handed; i < handed + W; i++)
				CU_ASSERT_EQUAL(router_sms_receive_later(rt, &m[i], 1, paced_told,
									 &told[i]), 0);
			handed += W;
		}
		advance_ms(1);
	}
	unsigned n_told = 0;
	for (unsigned i = 0; i < N; i++)
		n_told += told[i] > 0;
	fprintf(stderr, "(%u messages told in 100 ms) ", n_told);
	CU_ASSERT(n_told >= 100);
	advance_ms(100);
	talloc_free(rt);
	talloc_free(c);
	osmo_gettimeofday_override = false;
}

static unsigned room8;

static unsigned room8_of(struct sms_transport *t)
{
	(void)t;
	return room8;
}

/* A transport with room again while a group write is due: the replies waiting leave the
 * outbox with that write (one commit), not in a transaction of their own first (before:
 * two commits, an fsync per "room again" at full speed); each still reaches the transport
 * only after the commit that took it. With no group write due, they are offered at once,
 * as before. */
static void test_ready_joins_group_write(void)
{
	void *c = talloc_new(ctx);
	struct sms_transport m8 = { .name = "m8", .send = counting_send, .room = room8_of,
				    .up = true };
	struct router *rt = hooked_router(c, &m8, counting_commit);

	refuse = false;
	n_sent = 0;

	/* Two people, room for one reply: the other's waits in the outbox. */
	struct sms_in x = { .via = "m8", .from = "+33672000001", .text = "GO", .dedup = "R1" };
	struct sms_in y = { .via = "m8", .from = "+33672000002", .text = "GO", .dedup = "R2" };
	room8 = 1;
	CU_ASSERT_EQUAL(router_sms_received(rt, &x, 1), 0);
	room8 = 0;
	CU_ASSERT_EQUAL(router_sms_received(rt, &y, 1), 0);
	CU_ASSERT_EQUAL_FATAL(n_sent, 1);

	/* A third person's message waits for the group write; then room again. */
	struct told t = { 0 };
	struct sms_in z = { .via = "m8", .from = "+33672000003", .text = "GO", .dedup = "R3" };
	unsigned before = n_commits;
	CU_ASSERT_EQUAL(router_sms_receive_later(rt, &z, 1, told_fn, &t), 0);
	room8 = 5;
	router_sms_ready(rt, &m8);
	CU_ASSERT_EQUAL(n_sent, 1);		/* nothing before the commit */
	spin(2);
	CU_ASSERT_EQUAL(n_commits - before, 1);	/* Y's waiting reply and Z's, one commit */
	CU_ASSERT_EQUAL(n_sent, 3);
	for (unsigned i = 1; i < n_sent; i++)
		CU_ASSERT(commits_at_send[i] > before);
	CU_ASSERT_EQUAL(t.calls, 1);

	/* No group write due: offered at once, as before. */
	struct sms_in w = { .via = "m8", .from = "+33672000004", .text = "GO", .dedup = "R4" };
	room8 = 0;
	CU_ASSERT_EQUAL(router_sms_received(rt, &w, 1), 0);
	CU_ASSERT_EQUAL(n_sent, 3);
	room8 = 5;
	router_sms_ready(rt, &m8);
	CU_ASSERT_EQUAL(n_sent, 4);
	talloc_free(rt);
	talloc_free(c);
}

static const CU_TestInfo tests[] = {
	{ "received, replied, duplicate recognised", test_receive_reply_dedup },
	{ "call then reply, input intact", test_call_then_reply },
	{ "call failure takes on_error", test_call_failure },
	{ "refused reply waits, then goes", test_refused_then_ready },
	{ "restart with a session waiting", test_restart_with_waiting_session },
	{ "reload: running sessions keep their flows", test_reload_keeps_running_sessions },
	{ "a modem of the group stands in for one down", test_group_stands_in_for_a_down_modem },
	{ "USSD: a slow call answers by SMS", test_ussd_slow_call_answers_by_sms },
	{ "a full modem's replies spread to another", test_full_modem_spreads_to_another },
	{ "restart: answered through the transport the person used",
	  test_restart_answers_through_the_transport_used },
	{ "USSD transport screens are common messages", test_ussd_transport_texts },
	{ "USSD: 20,000 dialogues open at once", test_ussd_many_dialogues },
	{ "USSD: one table entry per dialogue, for the transport and the router",
	  test_ussd_one_entry_per_dialogue },
	{ "outbox commit failure logged once per change", test_outbox_commit_failure_logged_once },
	{ "call outcomes of one iteration: one transaction", test_call_outcomes_grouped },
	{ "a receipt's sender told once it is committed, not before",
	  test_receipt_told_after_commit },
	{ "received messages: a write lost to another host's is retried",
	  test_intake_conflict_retried },
	{ "messages of one iteration: one transaction, told after it",
	  test_intake_grouped_after_commit },
	{ "1,000 messages/s with calls: a commit per group period, not per write",
	  test_group_write_paced },
	{ "room again while a group write is due: the replies join it",
	  test_ready_joins_group_write },
	{ "an SMSC with a window of 1: no period per message", test_group_write_window_one },
	{ "a sender held by its window: not a period per window", test_group_write_window_bound },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("router", setup, teardown, tests);
}
