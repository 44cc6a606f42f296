/* Test dialogues (flows/tests/NAME.yaml): loading, playing through the router, comparing,
 * rewriting expectations. See include/guichet/flowtest.h and flows/README.md. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/backend.h"
#include "guichet/flowtest.h"
#include "guichet/store.h"
#include "guichet/ydoc.h"

#define FLOWTEST_MAX_FILES 1000
#define FLOWTEST_MAX_STEPS 500
/* A step whose replies have not all come after this long (real time) fails. Canned answers
 * come at once unless delay_ms says otherwise. */
#define FLOWTEST_STALL_S 10

/* ---- loading ---- */

static const char *const top_keys[] = { "dialogue", "channel", "from", "backend", "steps" };
static const char *const step_keys[] = {
	"send", "wait", "hangup", "backend", "reply", "contains", "replies", "by", "encoding",
	"parts", "end", "no_reply", "hurry",
};
static const char *const reply_keys[] = { "text", "contains", "by", "encoding", "parts", "end" };

#define N_KEYS(a) (sizeof(a) / sizeof((a)[0]))

/* A copy of a scalar without the trailing line breaks a `|` block adds. */
static char *text_copy(void *ctx, const char *s)
{
	char *c = talloc_strdup(ctx, s);
	size_t n = strlen(c);

	while (n && c[n - 1] == '\n')
		c[--n] = '\0';
	return c;
}

static int parse_channel(struct ydoc *y, yaml_node_t *n, int *out)
{
	const char *s = ydoc_string(y, n);

	if (!s)
		return -1;
	if (!strcasecmp(s, "sms"))
		*out = CHANNEL_SMS;
	else if (!strcasecmp(s, "ussd"))
		*out = CHANNEL_USSD;
	else {
		ydoc_error(y, n, "expected sms or ussd, found `%s`", s);
		return -1;
	}
	return 0;
}

static int parse_coding(struct ydoc *y, yaml_node_t *n, int *out)
{
	const char *s = ydoc_string(y, n);

	if (!s)
		return -1;
	if (!strcasecmp(s, "GSM-7") || !strcasecmp(s, "gsm7"))
		*out = TEXT_GSM7;
	else if (!strcasecmp(s, "UCS-2") || !strcasecmp(s, "ucs2"))
		*out = TEXT_UCS2;
	else {
		ydoc_error(y, n, "expected GSM-7 or UCS-2, found `%s`", s);
		return -1;
	}
	return 0;
}

static int parse_contains(void *ctx, struct ydoc *y, yaml_node_t *n, struct flowtest_expect *e)
{
	if (ydoc_is_seq(n)) {
		unsigned len = ydoc_len(n);
		e->contains = talloc_zero_array(ctx, const char *, len ? len : 1);
		for (unsigned i = 0; i < len; i++) {
			const char *s = ydoc_string(y, ydoc_seq_item(y, n, i));
			if (!s)
				return -1;
			e->contains[e->n_contains++] = talloc_strdup(ctx, s);
		}
		return 0;
	}
	const char *s = ydoc_string(y, n);
	if (!s)
		return -1;
	e->contains = talloc_zero_array(ctx, const char *, 1);
	e->contains[e->n_contains++] = talloc_strdup(ctx, s);
	return 0;
}

static void expect_init(struct flowtest_expect *e)
{
	memset(e, 0, sizeof(*e));
	e->by = e->coding = e->parts = e->end = -1;
}

/* The checks that may be written on a step (for its one reply) or on each of `replies`. */
static int parse_checks(void *ctx, struct ydoc *y, yaml_node_t *map, struct flowtest_expect *e)
{
	yaml_node_t *v;
	int rc = 0;
	unsigned u;
	bool b;

	if ((v = ydoc_get(y, map, "contains")) && parse_contains(ctx, y, v, e) < 0)
		rc = -1;
	if ((v = ydoc_get(y, map, "by")) && parse_channel(y, v, &e->by) < 0)
		rc = -1;
	if ((v = ydoc_get(y, map, "encoding")) && parse_coding(y, v, &e->coding) < 0)
		rc = -1;
	if ((v = ydoc_get(y, map, "parts"))) {
		if (ydoc_uint(y, v, &u) < 0)
			rc = -1;
		else
			e->parts = (int)u;
	}
	if ((v = ydoc_get(y, map, "end"))) {
		if (ydoc_bool(y, v, &b) < 0)
			rc = -1;
		else
			e->end = b;
	}
	return rc;
}

static void locate(struct flowtest_expect *e, const yaml_node_t *value, const yaml_node_t *key)
{
	e->line = ydoc_line(value);
	e->col = ydoc_col(value);
	e->start = value->start_mark.index;
	e->stop = value->end_mark.index;
	e->key_col = key ? key->start_mark.column : value->start_mark.column;
}

/* Finds the key node of key in map (for locations). */
static yaml_node_t *key_node(struct ydoc *y, yaml_node_t *map, const char *key)
{
	for (unsigned i = 0; i < ydoc_len(map); i++) {
		yaml_node_t *k = ydoc_map_key(y, map, i);
		if (ydoc_scalar(k) && !strcmp(ydoc_scalar(k), key))
			return k;
	}
	return NULL;
}

static int parse_step(struct flowtest *t, struct ydoc *y, yaml_node_t *n, struct flowtest_step *s)
{
	yaml_node_t *v, *k;
	int rc = 0;

	s->line = ydoc_line(n);
	s->col = ydoc_col(n);
	if (!ydoc_is_map(n)) {
		ydoc_error(y, n, "a step is a mapping such as { send: RDV, reply: \"...\" } or "
			   "{ wait: 31m }, found %s", ydoc_kind(n));
		return -1;
	}
	if (ydoc_check_keys(y, n, step_keys, N_KEYS(step_keys)))
		rc = -1;
	if ((v = ydoc_get(y, n, "wait")) && ydoc_duration(y, v, &s->wait_s) < 0)
		rc = -1;
	if ((v = ydoc_get(y, n, "hangup")) && ydoc_bool(y, v, &s->hangup) < 0)
		rc = -1;
	if ((v = ydoc_get(y, n, "hurry"))) {
		if (ydoc_bool(y, v, &s->hurry) < 0)
			rc = -1;
		else if (s->hurry && t->channel != CHANNEL_SMS) {
			ydoc_error(y, v, "`hurry` is for SMS: a USSD screen always waits for its "
				   "answer");
			rc = -1;
		}
	}
	if ((v = ydoc_get(y, n, "send"))) {
		/* `send:` with nothing after it is a mistake, not an empty text: write "" */
		if (ydoc_is_null(v)) {
			ydoc_error(y, v, "`send` needs a text; an empty text is written \"\"");
			rc = -1;
		} else if (!(s->send = ydoc_string(y, v))) {
			rc = -1;
		} else {
			s->send = talloc_strdup(t, s->send);
			k = key_node(y, n, "send");
			if (n->data.mapping.style != YAML_FLOW_MAPPING_STYLE) {
				s->insert_at = v->end_mark.index;
				s->key_col = k->start_mark.column;
			}
		}
	}
	if (!ydoc_get(y, n, "send") && !ydoc_get(y, n, "wait") && !ydoc_get(y, n, "hangup")) {
		ydoc_error(y, n, "a step sends a text (send:), waits (wait: 31m) or hangs up "
			   "(hangup: true)");
		rc = -1;
	}
	if (s->hangup && s->send) {
		ydoc_error(y, n, "a step either sends a text or hangs up, not both");
		rc = -1;
	}
	if ((v = ydoc_get(y, n, "backend"))) {
		s->backend = backend_canned_port_node(t, y, v);
		if (!s->backend.call)
			rc = -1;
	}

	yaml_node_t *reply = ydoc_get(y, n, "reply"), *replies = ydoc_get(y, n, "replies");
	yaml_node_t *no_reply = ydoc_get(y, n, "no_reply");
	bool step_checks = ydoc_get(y, n, "contains") || ydoc_get(y, n, "by") ||
			   ydoc_get(y, n, "encoding") || ydoc_get(y, n, "parts") ||
			   ydoc_get(y, n, "end");
	if (!!reply + !!replies + !!no_reply > 1) {
		ydoc_error(y, n, "give one of reply, replies or no_reply");
		return -1;
	}
	if ((reply || replies || no_reply || step_checks) && !s->send) {
		ydoc_error(y, n, "only a step that sends a text gets replies");
		return -1;
	}
	if (no_reply) {
		bool b = false;
		if (ydoc_bool(y, no_reply, &b) < 0)
			return -1;
		s->checked = b;
		if (step_checks) {
			ydoc_error(y, n, "no_reply: nothing to check the encoding or parts of");
			return -1;
		}
		return rc;
	}
	if (replies) {
		if (step_checks) {
			ydoc_error(y, n, "with `replies`, write contains/by/encoding/parts/end in "
				   "each reply");
			return -1;
		}
		if (!ydoc_is_seq(replies)) {
			ydoc_error(y, replies, "`replies` is a list of texts or of { text: ..., "
				   "parts: ... }, found %s", ydoc_kind(replies));
			return -1;
		}
		s->checked = true;
		s->n_expect = ydoc_len(replies);
		s->expect = talloc_zero_array(t, struct flowtest_expect, s->n_expect ? s->n_expect : 1);
		k = key_node(y, n, "replies");
		s->replies_list = true;
		s->list_start = k->start_mark.index;
		s->list_stop = replies->end_mark.index;
		s->list_key_col = k->start_mark.column;
		for (unsigned i = 0; i < s->n_expect; i++) {
			yaml_node_t *it = ydoc_seq_item(y, replies, i), *tx;
			struct flowtest_expect *e = &s->expect[i];

			expect_init(e);
			if (ydoc_scalar(it)) {
				e->text = text_copy(t, ydoc_scalar(it));
				locate(e, it, NULL);
				continue;
			}
			if (!ydoc_is_map(it)) {
				ydoc_error(y, it, "a reply is a text or { text: ..., parts: ... }, "
					   "found %s", ydoc_kind(it));
				rc = -1;
				continue;
			}
			if (ydoc_check_keys(y, it, reply_keys, N_KEYS(reply_keys)) ||
			    parse_checks(t, y, it, e) < 0)
				rc = -1;
			if ((tx = ydoc_get(y, it, "text"))) {
				const char *txt = ydoc_string(y, tx);
				if (!txt)
					rc = -1;
				else
					e->text = text_copy(t, txt);
				locate(e, tx, key_node(y, it, "text"));
			} else {
				locate(e, it, NULL);
			}
		}
		return rc;
	}
	if (reply || step_checks) {
		struct flowtest_expect *e = talloc_zero(t, struct flowtest_expect);
		expect_init(e);
		s->checked = true;
		s->expect = e;
		s->n_expect = 1;
		if (parse_checks(t, y, n, e) < 0)
			rc = -1;
		if (reply) {
			const char *txt = ydoc_string(y, reply);
			if (!txt)
				rc = -1;
			else
				e->text = text_copy(t, txt);
			k = key_node(y, n, "reply");
			locate(e, reply, k);
			s->list_start = k->start_mark.index;
			s->list_stop = reply->end_mark.index;
			s->list_key_col = k->start_mark.column;
		} else {
			locate(e, n, NULL);
		}
	}
	return rc;
}

static int load_dialogue(struct flowtest *t, struct ydoc *y)
{
	yaml_node_t *root = ydoc_root(y), *v;
	int rc = 0;

	if (!ydoc_is_map(root)) {
		if (root)
			ydoc_error(y, root, "a test dialogue is a mapping with `steps`, found %s",
				   ydoc_kind(root));
		else
			diag_add(y->diag, DIAG_ERROR, y->file, 1, 1, "the test dialogue is empty");
		return -1;
	}
	if (ydoc_check_keys(y, root, top_keys, N_KEYS(top_keys)))
		rc = -1;
	if ((v = ydoc_get(y, root, "dialogue"))) {
		const char *s = ydoc_string(y, v);
		if (s)
			t->name = talloc_strdup(t, s);
		else
			rc = -1;
	}
	int ch = CHANNEL_SMS;
	if ((v = ydoc_get(y, root, "channel")) && parse_channel(y, v, &ch) < 0)
		rc = -1;
	t->channel = (enum channel)ch;
	if ((v = ydoc_get(y, root, "from"))) {
		const char *s = ydoc_string(y, v);
		if (s && (!*s || strlen(s) >= sizeof(((struct session *)0)->address))) {
			ydoc_error(y, v, "expected a phone number such as \"+33612345678\"");
			rc = -1;
		} else if (s) {
			t->from = talloc_strdup(t, s);
		} else {
			rc = -1;
		}
	}
	t->backend = backend_canned_port_node(t, y, ydoc_get(y, root, "backend"));
	if (!t->backend.call)
		rc = -1;
	v = ydoc_get(y, root, "steps");
	if (!v || !ydoc_is_seq(v) || !ydoc_len(v)) {
		if (v)
			ydoc_error(y, v, "`steps` is a list of steps, found %s",
				   ydoc_is_seq(v) ? "an empty list" : ydoc_kind(v));
		else
			ydoc_error(y, root, "missing `steps`: the list of what is sent and what "
				   "comes back");
		return -1;
	}
	if (ydoc_len(v) > FLOWTEST_MAX_STEPS) {
		ydoc_error(y, v, "more than %u steps", FLOWTEST_MAX_STEPS);
		return -1;
	}
	t->n_steps = ydoc_len(v);
	t->steps = talloc_zero_array(t, struct flowtest_step, t->n_steps);
	for (unsigned i = 0; i < t->n_steps; i++)
		if (parse_step(t, y, ydoc_seq_item(y, v, i), &t->steps[i]) < 0)
			rc = -1;
	if (t->steps[t->n_steps - 1].hurry) {
		diag_add(y->diag, DIAG_ERROR, y->file, t->steps[t->n_steps - 1].line,
			 t->steps[t->n_steps - 1].col, "the last step cannot hurry: no text follows "
			 "it to come before the back-end's answer");
		rc = -1;
	}
	return rc;
}

struct flowtest *flowtest_load(void *ctx, const char *file, struct diag *d)
{
	struct flowtest *t = talloc_zero(ctx, struct flowtest);
	struct ydoc y;
	unsigned errors = d->n_errors;

	t->file = talloc_strdup(t, file);
	const char *base = strrchr(file, '/');
	t->name = talloc_strdup(t, base ? base + 1 : file);
	t->from = "+33600000000";
	if (ydoc_load_file(&y, t, file, d) == 0)
		load_dialogue(t, &y);
	ydoc_free(&y);
	if (d->n_errors > errors) {
		talloc_free(t);
		return NULL;
	}
	return t;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

unsigned flowtest_load_dir(void *ctx, const char *dir, struct flowtest ***out, struct diag *d)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char **names;
	unsigned n = 0, loaded = 0;

	*out = NULL;
	if (!dh) {
		diag_add(d, DIAG_ERROR, dir, 0, 0, "cannot open: %s", strerror(errno));
		return 0;
	}
	names = talloc_zero_array(ctx, char *, FLOWTEST_MAX_FILES);
	while (names && (de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		if (n == FLOWTEST_MAX_FILES) {
			diag_add(d, DIAG_ERROR, dir, 0, 0, "more than %u test files",
				 FLOWTEST_MAX_FILES);
			break;
		}
		names[n++] = talloc_asprintf(names, "%s/%s", dir, de->d_name);
	}
	closedir(dh);
	if (!names)
		return 0;
	qsort(names, n, sizeof(*names), cmp_names);
	*out = talloc_zero_array(ctx, struct flowtest *, n ? n : 1);
	for (unsigned i = 0; i < n; i++) {
		struct flowtest *t = flowtest_load(*out, names[i], d);
		if (t)
			(*out)[loaded++] = t;
	}
	talloc_free(names);
	return loaded;
}

/* ---- running ---- */

struct ft_run;

/* A call in flight. It lives under the dialogue (as the canned answer that will complete
 * it), not under the run: if the run gives up first, the late answer finds run NULL. */
struct ft_call {
	struct llist_head list;
	struct ft_run *run;
	call_done_fn done;
	void *data;
};

struct ft_run {
	const struct flowtest *t;
	struct flowtest_result *res;
	struct flowtest_step_result *cur;
	struct router *router;
	struct sms_transport sms;
	struct llist_head calls;
	unsigned in_flight;
	bool ussd_owed, ussd_open, stalled;
	unsigned dialogue;
	char dialogue_id[32];
	struct osmo_timer_list stall;
};

static void add_reply(struct ft_run *run, enum channel by, const char *text, bool end)
{
	struct flowtest_step_result *sr = run->cur;

	if (!sr)
		return;		/* a reply outside any step (cannot happen: replies follow inputs) */
	sr->got = talloc_realloc(run->res, sr->got, struct flowtest_reply, sr->n_got + 1);
	struct flowtest_reply *g = &sr->got[sr->n_got++];
	g->by = by;
	g->text = talloc_strdup(run->res, text ? text : "");
	text_measure(g->text, &g->m);
	g->end = end;
	if (by == CHANNEL_SMS) {
		run->res->parts += g->m.parts;
		run->res->sms++;
	} else {
		run->res->screens++;
	}
}

static void step_fail(struct ft_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void step_fail(struct ft_run *run, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!run->cur)
		return;
	va_start(ap, fmt);
	msg = talloc_vasprintf(run->res, fmt, ap);
	va_end(ap);
	run->cur->ok = false;
	run->cur->why = run->cur->why ? talloc_asprintf_append(run->cur->why, "\n%s", msg) : msg;
}

static int ft_sms_send(struct sms_transport *tr, const struct store_outbound *m)
{
	struct ft_run *run = tr->priv;

	add_reply(run, CHANNEL_SMS, m->text, false);
	router_sms_sent(run->router, m->id);
	return 0;
}

static void ft_ussd_reply(void *data, const char *text, bool more)
{
	struct ft_run *run = data;

	add_reply(run, CHANNEL_USSD, text, !more);
	run->ussd_owed = false;
	run->ussd_open = more;
}

static void ft_call_done(void *data, bool ok, const struct vars *result, const char *error)
{
	struct ft_call *c = data;
	struct ft_run *run = c->run;

	llist_del(&c->list);
	if (run) {
		run->in_flight--;
		c->done(c->data, ok, result, error);
	}
	talloc_free(c);
}

static int ft_call(void *impl, const char *op, const struct vars *args, unsigned budget_ms,
		   call_done_fn done, void *data)
{
	struct ft_run *run = impl;
	const struct flowtest_step *st = run->cur ? run->cur->step : NULL;
	const struct call_port *ports[2] = { st ? &st->backend : NULL, &run->t->backend };
	struct ft_call *c = talloc_zero((void *)run->t, struct ft_call);

	c->run = run;
	c->done = done;
	c->data = data;
	llist_add_tail(&c->list, &run->calls);
	for (unsigned i = 0; i < 2; i++) {
		if (!ports[i] || !ports[i]->call)
			continue;
		if (ports[i]->call(ports[i]->impl, op, args, budget_ms, ft_call_done, c) == 0) {
			run->in_flight++;
			return 0;
		}
	}
	llist_del(&c->list);
	talloc_free(c);
	step_fail(run, "the flow calls %s but the dialogue has no answer for it: add it under "
		  "`backend:`", op);
	return -1;
}

static void ft_stall(void *data)
{
	struct ft_run *run = data;

	run->stalled = true;
}

/* Runs the loop until every reply owed for the input has come. */
static void settle(struct ft_run *run)
{
	if (run->cur && run->cur->step->hurry) {
		/* Only what comes at once: calls go on while the next text is sent. */
		router_flush(run->router);
		return;
	}
	run->stalled = false;
	osmo_timer_schedule(&run->stall, FLOWTEST_STALL_S, 0);
	while ((run->in_flight || run->ussd_owed) && !run->stalled)
		osmo_select_main_ctx(0);
	osmo_timer_del(&run->stall);
	if (run->stalled)
		step_fail(run, "no %s after %d s", run->ussd_owed ? "USSD screen" : "call outcome",
			  FLOWTEST_STALL_S);
	router_flush(run->router);
}

static void send_text(struct ft_run *run, const char *text)
{
	if (run->t->channel == CHANNEL_USSD) {
		if (!run->ussd_open)
			snprintf(run->dialogue_id, sizeof(run->dialogue_id), "test-%u",
				 ++run->dialogue);
		struct ussd_req req = { .via = "test", .dialogue = run->dialogue_id,
					.from = run->t->from, .text = text,
					.begin = !run->ussd_open };
		run->ussd_open = true;
		run->ussd_owed = true;
		router_ussd_request(run->router, &req, ft_ussd_reply, run);
	} else {
		struct sms_in m = { .via = "test", .from = run->t->from, .text = text,
				    .received = time(NULL) };
		if (router_sms_received(run->router, &m, 1) < 0)
			step_fail(run, "the in-memory store refused the text");
	}
	settle(run);
}

/* ---- comparing ---- */

static const char *coding_name(int c)
{
	return c == TEXT_GSM7 ? "GSM-7" : "UCS-2";
}

/* A line diff (longest common subsequence) of a and b, "-" expected, "+" got. Texts are a
 * few screens at most. */
static char *line_diff(void *ctx, const char *a, const char *b)
{
	char **la = NULL, **lb = NULL;
	unsigned na = 0, nb = 0;
	char *ca = talloc_strdup(ctx, a), *cb = talloc_strdup(ctx, b), *p, *save;

	for (p = strtok_r(ca, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		la = talloc_realloc(ctx, la, char *, na + 1);
		la[na++] = p;
	}
	for (p = strtok_r(cb, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		lb = talloc_realloc(ctx, lb, char *, nb + 1);
		lb[nb++] = p;
	}
	unsigned *L = talloc_zero_array(ctx, unsigned, (na + 1) * (nb + 1));
#define AT(i, j) L[(i) * (nb + 1) + (j)]
	for (unsigned i = na; i-- > 0;)
		for (unsigned j = nb; j-- > 0;)
			AT(i, j) = !strcmp(la[i], lb[j]) ? AT(i + 1, j + 1) + 1
				 : AT(i + 1, j) > AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
	char *out = talloc_strdup(ctx, "");
	unsigned i = 0, j = 0;
	while (i < na || j < nb) {
		if (i < na && j < nb && !strcmp(la[i], lb[j])) {
			out = talloc_asprintf_append(out, "      %s\n", la[i]);
			i++, j++;
		} else if (j < nb && (i == na || AT(i, j + 1) >= AT(i + 1, j))) {
			out = talloc_asprintf_append(out, "    + %s\n", lb[j++]);
		} else {
			out = talloc_asprintf_append(out, "    - %s\n", la[i++]);
		}
	}
#undef AT
	return out;
}

static void compare_one(struct ft_run *run, unsigned k, const struct flowtest_expect *e,
			const struct flowtest_reply *g)
{
	void *tmp = talloc_new(run->res);
	char *which = run->cur->step->n_expect > 1 ? talloc_asprintf(tmp, "reply %u", k + 1)
						   : talloc_strdup(tmp, "reply");

	if (e->text && strcmp(e->text, g->text))
		step_fail(run, "%s differs (- expected, + got):\n%s", which,
			  line_diff(tmp, e->text, g->text));
	for (unsigned i = 0; i < e->n_contains; i++)
		if (!strstr(g->text, e->contains[i]))
			step_fail(run, "%s does not contain \"%s\":\n%s", which, e->contains[i],
				  line_diff(tmp, "", g->text));
	if (e->by >= 0 && e->by != (int)g->by)
		step_fail(run, "%s came by %s, expected by %s", which, channel_name(g->by),
			  channel_name((enum channel)e->by));
	if (e->coding >= 0 && e->coding != (int)g->m.coding)
		step_fail(run, "%s is %s, expected %s", which, coding_name(g->m.coding),
			  coding_name(e->coding));
	if (e->parts >= 0 && g->by == CHANNEL_SMS && e->parts != (int)g->m.parts)
		step_fail(run, "%s takes %u SMS part(s), expected %d", which, g->m.parts, e->parts);
	if (e->parts >= 0 && g->by != CHANNEL_SMS)
		step_fail(run, "%s is a USSD screen: `parts` is for SMS", which);
	if (e->end >= 0 && g->by == CHANNEL_USSD && e->end != (int)g->end)
		step_fail(run, "%s %s the dialogue, expected it %s", which,
			  g->end ? "ends" : "does not end", e->end ? "to end" : "to go on");
	talloc_free(tmp);
}

static void compare(struct ft_run *run)
{
	struct flowtest_step_result *sr = run->cur;
	const struct flowtest_step *st = sr->step;

	if (!st->checked)
		return;
	if (st->n_expect != sr->n_got) {
		void *tmp = talloc_new(run->res);
		char *a = talloc_strdup(tmp, ""), *b = talloc_strdup(tmp, "");
		for (unsigned i = 0; i < st->n_expect; i++)
			a = talloc_asprintf_append(a, "%s%s\n", i ? "--\n" : "",
						   st->expect[i].text ? st->expect[i].text : "(any)");
		for (unsigned i = 0; i < sr->n_got; i++)
			b = talloc_asprintf_append(b, "%s%s\n", i ? "--\n" : "", sr->got[i].text);
		step_fail(run, "expected %u repl%s, got %u (- expected, + got):\n%s", st->n_expect,
			  st->n_expect == 1 ? "y" : "ies", sr->n_got, line_diff(tmp, a, b));
		talloc_free(tmp);
		return;
	}
	for (unsigned i = 0; i < sr->n_got; i++)
		compare_one(run, i, &st->expect[i], &sr->got[i]);
}

struct flowtest_result *flowtest_run(void *ctx, const struct flow_set *fs,
				     const struct flowtest *t, const struct flowtest_opts *o)
{
	struct flowtest_result *res = talloc_zero(ctx, struct flowtest_result);
	struct ft_run *run = talloc_zero(NULL, struct ft_run);
	struct ft_call *c, *tmpc;

	res->t = t;
	res->n_steps = t->n_steps;
	res->steps = talloc_zero_array(res, struct flowtest_step_result, t->n_steps);
	run->t = t;
	run->res = res;
	INIT_LLIST_HEAD(&run->calls);
	osmo_timer_setup(&run->stall, ft_stall, run);

	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(o->ro.max_parts),
			 .fold = o->ro.fold },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(o->ro.screen),
			  .fold = o->ro.fold },
		.call_budget_ms = o->call_budget_ms ? o->call_budget_ms : 10000,
		.ussd_answer_ms = o->ussd_answer_ms ? o->ussd_answer_ms : 200,
		.sms_followup_via = "test",
	};
	struct store *st = store_mem_open(run);
	run->router = router_create(run, &rc, st, (struct call_port){ ft_call, run });
	/* The router takes the flows it is given; they go back to the caller at the end. */
	struct flow_set *flows = (struct flow_set *)fs;
	void *flows_parent = talloc_parent(flows);
	router_set_flows(run->router, flows);
	run->sms.name = "test";
	run->sms.send = ft_sms_send;
	run->sms.priv = run;
	run->sms.up = true;
	router_sms_register(run->router, &run->sms);

	for (unsigned i = 0; i < t->n_steps; i++) {
		const struct flowtest_step *s = &t->steps[i];
		run->cur = &res->steps[i];
		run->cur->step = s;
		run->cur->ok = true;
		if (s->wait_s)
			router_shift_clock(run->router, s->wait_s);
		if (s->hangup && t->channel == CHANNEL_USSD && run->ussd_open) {
			router_ussd_abort(run->router, run->dialogue_id);
			run->ussd_open = false;
		} else if (s->hangup) {
			run->ussd_open = false;
		}
		if (s->send) {
			send_text(run, s->send);
			compare(run);
		}
		if (!run->cur->ok)
			res->n_failed++;
	}
	run->cur = NULL;
	/* Late answers (a stalled step) must not reach the freed router. */
	llist_for_each_entry_safe(c, tmpc, &run->calls, list) {
		c->run = NULL;
		llist_del_init(&c->list);
	}
	talloc_steal(flows_parent, flows);
	talloc_free(run);
	return res;
}

/* ---- printing ---- */

void flowtest_print_failures(const struct flowtest_result *r, FILE *out)
{
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		if (sr->ok)
			continue;
		fprintf(out, "%s:%u:%u: step %u", r->t->file, sr->step->line, sr->step->col, i + 1);
		if (sr->step->send)
			fprintf(out, " (send \"%s\")", sr->step->send);
		fprintf(out, ": %s", sr->why ? sr->why : "failed");
		if (!sr->why || sr->why[strlen(sr->why) - 1] != '\n')
			fputc('\n', out);
	}
}

void flowtest_print_transcript(void *ctx, const struct flowtest_result *r,
			       const struct render_opts *ro, FILE *out)
{
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		unsigned w = sr->step->wait_s;
		if (w && w % 3600 == 0)
			fprintf(out, "(%u h plus tard)\n", w / 3600);
		else if (w && w % 60 == 0)
			fprintf(out, "(%u min plus tard)\n", w / 60);
		else if (w)
			fprintf(out, "(%u s plus tard)\n", w);
		if (sr->step->hangup)
			fprintf(out, "(raccroche)\n");
		if (sr->step->send)
			fprintf(out, "> %s\n", sr->step->send);
		for (unsigned k = 0; k < sr->n_got; k++) {
			if (sr->got[k].by == CHANNEL_SMS)
				render_sms_print(ctx, sr->got[k].text, ro, out);
			else
				render_ussd_print(ctx, sr->got[k].text, !sr->got[k].end, ro, out);
		}
	}
}

/* ---- rewriting expectations ---- */

static bool block_safe(const char *s)
{
	if (!*s || *s == ' ' || strchr(s, '\t') || strchr(s, '\r'))
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && (p[1] == ' ' || p[1] == '\n' || !p[1]))
			return false;
		if (*p == ' ' && (p[1] == '\n' || !p[1]))
			return false;
	}
	return true;
}

static char *quoted(void *ctx, const char *s)
{
	char *out = talloc_strdup(ctx, "\"");

	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			out = talloc_asprintf_append(out, "\\%c", *p);
		else if (*p == '\n')
			out = talloc_asprintf_append(out, "\\n");
		else if (*p == '\t')
			out = talloc_asprintf_append(out, "\\t");
		else
			out = talloc_asprintf_append(out, "%c", *p);
	}
	return talloc_asprintf_append(out, "\"");
}

/* A YAML value for text whose key sits at column indent: a quoted line, or a `|-` block
 * whose lines are indented two more. */
static char *yaml_text(void *ctx, const char *text, unsigned indent)
{
	if (!strchr(text, '\n') || !block_safe(text))
		return quoted(ctx, text);
	char *out = talloc_strdup(ctx, "|-");
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, "\n");
		out = talloc_asprintf_append(out, "\n%*s%.*s", indent + 2, "", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
	return out;
}

/* `reply: ...` or `replies:` with one item per reply, the key at column indent. */
static char *yaml_replies(void *ctx, const struct flowtest_step_result *sr, enum channel ch,
			  unsigned indent)
{
	if (sr->n_got == 1 && sr->got[0].by == ch)
		return talloc_asprintf(ctx, "reply: %s", yaml_text(ctx, sr->got[0].text, indent));
	if (sr->n_got == 0)
		return talloc_strdup(ctx, "no_reply: true");
	char *out = talloc_strdup(ctx, "replies:");
	for (unsigned i = 0; i < sr->n_got; i++) {
		const struct flowtest_reply *g = &sr->got[i];
		if (g->by == ch)
			out = talloc_asprintf_append(out, "\n%*s- %s", indent + 2, "",
						     yaml_text(ctx, g->text, indent + 2));
		else
			out = talloc_asprintf_append(out, "\n%*s- by: %s\n%*stext: %s", indent + 2,
						     "", channel_name(g->by), indent + 4, "",
						     yaml_text(ctx, g->text, indent + 4));
	}
	return out;
}

struct edit {
	size_t start, stop;
	char *text;
};

static int cmp_edits(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	return x->start < y->start ? 1 : x->start > y->start ? -1 : 0;
}

static char *read_all(void *ctx, const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	char *buf;

	if (!f)
		return NULL;
	buf = talloc_size(ctx, YDOC_MAX_BYTES + 1);
	*len = buf ? fread(buf, 1, YDOC_MAX_BYTES, f) : 0;
	fclose(f);
	if (buf)
		buf[*len] = '\0';
	return buf;
}

/* libyaml's marks count characters; edits need bytes. */
static size_t byte_offset(const char *src, size_t len, size_t chars)
{
	size_t i = 0;

	while (i < len && chars--) {
		i++;
		while (i < len && ((unsigned char)src[i] & 0xc0) == 0x80)
			i++;
	}
	return i;
}

int flowtest_update(void *ctx, const struct flowtest_result *r, struct diag *d)
{
	void *tmp = talloc_new(ctx);
	const struct flowtest *t = r->t;
	struct edit *edits = talloc_zero_array(tmp, struct edit, t->n_steps + 1);
	unsigned n = 0;
	size_t len;
	char *src = read_all(tmp, t->file, &len);
	int rc = -1;

	if (!src) {
		diag_add(d, DIAG_ERROR, t->file, 0, 0, "cannot read: %s", strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		const struct flowtest_step *s = sr->step;
		bool texts_only = true;
		for (unsigned k = 0; k < s->n_expect; k++)
			texts_only &= s->expect[k].n_contains == 0;
		/* A step checked only for its size or end gets its text too. */
		bool written = s->list_stop != 0, no_reply = s->checked && !s->n_expect;
		bool add = s->send && !written && texts_only && !no_reply && s->insert_at;
		if (!s->send || (s->checked && sr->ok && !add))
			continue;
		if (s->checked && !add && !(written && texts_only)) {
			diag_add(d, DIAG_WARNING, t->file, s->line, s->col,
				 "step %u: only `reply:` and `replies:` texts are rewritten; "
				 "fix this one by hand", i + 1);
			continue;
		}
		if (!s->checked && !s->insert_at) {
			diag_add(d, DIAG_WARNING, t->file, s->line, s->col,
				 "step %u: written { on one line }: add its reply by hand", i + 1);
			continue;
		}
		struct edit *e = &edits[n++];
		if (written) {
			e->start = byte_offset(src, len, s->list_start);
			e->stop = byte_offset(src, len, s->list_stop);
			e->text = yaml_replies(tmp, sr, t->channel, s->list_key_col);
			/* a block value ends after its line break: keep one */
			if (e->stop > 0 && src[e->stop - 1] == '\n')
				e->text = talloc_asprintf_append(e->text, "\n");
		} else {
			size_t at = byte_offset(src, len, s->insert_at);
			while (at < len && src[at - 1] != '\n')
				at++;
			e->start = e->stop = at;
			e->text = talloc_asprintf(tmp, "%s%*s%s\n",
						  at == len && src[len - 1] != '\n' ? "\n" : "",
						  s->key_col, "",
						  yaml_replies(tmp, sr, t->channel, s->key_col));
		}
	}
	rc = (int)n;
	if (!n)
		goto out;
	qsort(edits, n, sizeof(*edits), cmp_edits);
	for (unsigned i = 0; i < n; i++) {
		char *next = talloc_asprintf(tmp, "%.*s%s%s", (int)edits[i].start, src,
					     edits[i].text, src + edits[i].stop);
		src = next;
	}
	char *tmpname = talloc_asprintf(tmp, "%s.tmp", t->file);
	FILE *f = fopen(tmpname, "wb");
	if (!f || fputs(src, f) < 0 || fclose(f) != 0 || rename(tmpname, t->file) < 0) {
		diag_add(d, DIAG_ERROR, t->file, 0, 0, "cannot write: %s", strerror(errno));
		rc = -1;
	}
out:
	talloc_free(tmp);
	return rc;
}
