/* Test dialogues (flows/tests/NAME.yaml), loading: a file into struct flowtest, every problem
 * reported at its place. Playing them: flowtest.c; rewriting their expectations:
 * flowtest_update.c. See include/guichet/flowtest.h and flows/README.md. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend.h"
#include "guichet/flowtest.h"
#include "guichet/remind.h"
#include "guichet/ydoc.h"

#define FLOWTEST_MAX_FILES 1000
#define FLOWTEST_MAX_STEPS 500

static const char *const top_keys[] = { "dialogue", "channel", "from", "clock", "backend",
					 "steps" };
static const char *const step_keys[] = {
	"send", "wait", "hangup", "backend", "reply", "contains", "replies", "by", "encoding",
	"parts", "end", "no_reply", "hurry", "scheduled",
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

/* What a step does: send, wait, hangup, hurry, and its own canned back-end answers. */
static int parse_input(struct flowtest *t, struct ydoc *y, yaml_node_t *n, struct flowtest_step *s)
{
	yaml_node_t *v, *k;
	int rc = 0;

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
	return rc;
}

/* One item of `replies:`: a text, or { text: ..., parts: ... }. */
static int parse_reply_item(struct flowtest *t, struct ydoc *y, yaml_node_t *it,
			    struct flowtest_expect *e)
{
	yaml_node_t *tx;
	int rc = 0;

	expect_init(e);
	if (ydoc_scalar(it)) {
		e->text = text_copy(t, ydoc_scalar(it));
		locate(e, it, NULL);
		return 0;
	}
	if (!ydoc_is_map(it)) {
		ydoc_error(y, it, "a reply is a text or { text: ..., parts: ... }, found %s",
			   ydoc_kind(it));
		return -1;
	}
	if (ydoc_check_keys(y, it, reply_keys, N_KEYS(reply_keys)) || parse_checks(t, y, it, e) < 0)
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
	return rc;
}

/* replies: [ ... ], one expectation per reply. */
static int parse_replies(struct flowtest *t, struct ydoc *y, yaml_node_t *n,
			 yaml_node_t *replies, struct flowtest_step *s)
{
	yaml_node_t *k;
	int rc = 0;

	if (!ydoc_is_seq(replies)) {
		ydoc_error(y, replies, "`replies` is a list of texts or of { text: ..., parts: ... }, "
			   "found %s", ydoc_kind(replies));
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
	for (unsigned i = 0; i < s->n_expect; i++)
		if (parse_reply_item(t, y, ydoc_seq_item(y, replies, i), &s->expect[i]) < 0)
			rc = -1;
	return rc;
}

/* reply: "...", and the checks written on the step itself (contains, parts...). */
static int parse_reply(struct flowtest *t, struct ydoc *y, yaml_node_t *n, yaml_node_t *reply,
		       struct flowtest_step *s)
{
	struct flowtest_expect *e = talloc_zero(t, struct flowtest_expect);
	yaml_node_t *k;
	int rc = 0;

	expect_init(e);
	s->checked = true;
	s->expect = e;
	s->n_expect = 1;
	if (parse_checks(t, y, n, e) < 0)
		rc = -1;
	if (!reply) {
		locate(e, n, NULL);
		return rc;
	}
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
	return rc;
}

/* A date and time ("2026-12-06 18:00", "2026-12-06T18:00") into unix seconds, in the
 * process's time zone; -1 (reported) when it is not one. */
static int parse_time(struct ydoc *y, yaml_node_t *v, int64_t *out)
{
	const char *s = ydoc_string(y, v), *why = NULL;

	if (!s)
		return -1;
	if (!(*s >= '0' && *s <= '9') || remind_at(s, 0, out, &why) < 0) {
		ydoc_error(y, v, "expected a date and time such as \"2026-12-06 18:00\"%s%s",
			   why ? ": " : "", why ? why : "");
		return -1;
	}
	return 0;
}

/* One item of `scheduled:`: a text, or { text: ..., contains: ..., at: ... }. */
static int parse_sched_item(struct flowtest *t, struct ydoc *y, yaml_node_t *it,
			    struct flowtest_sched_expect *e)
{
	static const char *const keys[] = { "text", "contains", "at" };
	struct flowtest_expect c;
	yaml_node_t *v;
	int rc = 0;

	e->line = ydoc_line(it);
	e->col = ydoc_col(it);
	if (ydoc_scalar(it) && !ydoc_is_null(it)) {
		e->text = text_copy(t, ydoc_scalar(it));
		return 0;
	}
	if (!ydoc_is_map(it)) {
		ydoc_error(y, it, "a scheduled message is a text or { text: ..., at: \"2026-12-06 "
			   "18:00\" }, found %s", ydoc_kind(it));
		return -1;
	}
	if (ydoc_check_keys(y, it, keys, N_KEYS(keys)))
		rc = -1;
	if ((v = ydoc_get(y, it, "text"))) {
		const char *s = ydoc_string(y, v);
		if (s)
			e->text = text_copy(t, s);
		else
			rc = -1;
	}
	expect_init(&c);
	if ((v = ydoc_get(y, it, "contains"))) {
		if (parse_contains(t, y, v, &c) < 0)
			rc = -1;
		e->contains = c.contains;
		e->n_contains = c.n_contains;
	}
	if ((v = ydoc_get(y, it, "at"))) {
		if (parse_time(y, v, &e->at) < 0)
			rc = -1;
		else
			e->has_at = true;
	}
	return rc;
}

/* scheduled: [ ... ], the messages (reminders, receipts) the step schedules, in order;
 * `scheduled: []` says it schedules none. */
static int parse_scheduled(struct flowtest *t, struct ydoc *y, yaml_node_t *n, yaml_node_t *v,
			   struct flowtest_step *s)
{
	yaml_node_t *k = key_node(y, n, "scheduled");
	int rc = 0;

	if (!s->send) {
		ydoc_error(y, v, "only a step that sends a text schedules messages");
		return -1;
	}
	if (!ydoc_is_seq(v)) {
		ydoc_error(y, v, "`scheduled` is a list of texts or of { text: ..., at: ... } "
			   "([] for none), found %s", ydoc_kind(v));
		return -1;
	}
	s->sched_checked = true;
	s->n_sched = ydoc_len(v);
	s->sched = talloc_zero_array(t, struct flowtest_sched_expect, s->n_sched ? s->n_sched : 1);
	s->sched_start = k->start_mark.index;
	s->sched_stop = v->end_mark.index;
	s->sched_key_col = k->start_mark.column;
	for (unsigned i = 0; i < s->n_sched; i++)
		if (parse_sched_item(t, y, ydoc_seq_item(y, v, i), &s->sched[i]) < 0)
			rc = -1;
	return rc;
}

static int parse_step(struct flowtest *t, struct ydoc *y, yaml_node_t *n, struct flowtest_step *s)
{
	yaml_node_t *v;
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
	if (parse_input(t, y, n, s) < 0)
		rc = -1;
	if ((v = ydoc_get(y, n, "scheduled")) && parse_scheduled(t, y, n, v, s) < 0)
		rc = -1;
	if ((v = ydoc_get(y, n, "contains"))) {
		s->contains_start = key_node(y, n, "contains")->start_mark.index;
		s->contains_stop = v->end_mark.index;
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
	if (replies && step_checks) {
		ydoc_error(y, n, "with `replies`, write contains/by/encoding/parts/end in each reply");
		return -1;
	}
	if (replies)
		return parse_replies(t, y, n, replies, s) < 0 ? -1 : rc;
	if ((reply || step_checks) && parse_reply(t, y, n, reply, s) < 0)
		rc = -1;
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
	if ((v = ydoc_get(y, root, "clock")) && parse_time(y, v, &t->clock) < 0)
		rc = -1;
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
	if (remind_at(FLOWTEST_CLOCK, 0, &t->clock, NULL) < 0)
		t->clock = 0;
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
