/* The flow engine: one event in, the new session and the actions out. Pure: no I/O, no
 * clock, no globals. See include/guichet/engine.h and docs/architecture.md. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/engine.h"
#include "guichet/remind.h"
#include "guichet/template.h"
#include "guichet/text.h"

/* A chain of say/branch steps longer than this without waiting for the person is a loop the
 * checker should have refused; the engine stops rather than spin. */
#define MAX_CHAIN 64
/* Options per menu page: 9 is the "more" key. */
#define PAGE_MAX_OPTIONS 8
/* Kept in the session while a call is in flight: text to say before the call's outcome. */
#define VAR_PENDING "_pending"
/* Root USSD code whose sub-codes are offered as a menu ("*4321#" -> "*4321*1#"...). */
#define VAR_ROOT "_root"
/* The flow a keyword with a typing slip was taken for ("RDB" -> rendez-vous), offered with
 * "Vouliez-vous dire RDV ?": a yes starts it. Kept until the session's deadline. */
#define VAR_SUGGEST "_suggest"
#define SUGGEST_S (15 * 60)
/* The dialogue so far ("> " what the person sent, "< " what was answered), kept during a
 * procedure for a handoff: secret answers are masked, the oldest lines go past the bound. */
#define VAR_TRANSCRIPT "_transcript"
#define TRANSCRIPT_MAX 1500

struct run {
	void *ctx;
	const struct flow_set *fs;
	const struct flow *flow;
	struct session *s;
	const struct engine_input *in;
	struct engine_out *out;
	char *reply;		/* accumulated text, talloc'd under ctx */
	/* options_from: the item being expanded, e.g. "slots.2" */
	const char *item_prefix;
	const char *keyword;	/* {{keyword}} when it is not the flow's own (a suggestion) */
	const char *choices;	/* {{choices}}: the answers a wrong pick could have been */
	char *transcript;	/* the dialogue so far, this event's text included */
	const char *secret_in;	/* this event's text when it answers a secret question */
	bool no_secrets;	/* expanding a text that is stored (receipt, reminder): a secret
				 * answer expands to nothing */
};

/* i in decimal, in buf (12 bytes). */
static const char *utoa(char *buf, unsigned i)
{
	char rev[10];
	int k = 0, n = 0;

	do
		rev[k++] = (char)('0' + i % 10);
	while ((i /= 10) && k < (int)sizeof(rev));
	while (k)
		buf[n++] = rev[--k];
	buf[n] = '\0';
	return buf;
}

/* a, sep and b joined into buf, cut like snprintf when too long: names are built on every
 * lookup of a menu's labels, so this spares printf. */
static const char *join3(char *buf, size_t size, const char *a, char sep, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > size - 1)
		la = size - 1;
	memcpy(buf, a, la);
	if (la < size - 1)
		buf[la++] = sep;
	if (lb > size - 1 - la)
		lb = size - 1 - la;
	memcpy(buf + la, b, lb);
	buf[la + lb] = '\0';
	return buf;
}

/* src into the fixed field dst, cut to fit (as snprintf "%s" would). */
static void copy_name(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len > size - 1)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static bool is_ussd(const struct run *r)
{
	return r->in->channel && r->in->channel->kind == CHANNEL_USSD;
}

/* ---- variables and templates ---- */

static const char *lookup(void *data, const char *name)
{
	struct run *r = data;

	if (r->item_prefix && strncmp(name, "item.", 5) == 0) {
		char full[2 * SESSION_NAME_MAX + 32];
		return vars_get(&r->s->vars, join3(full, sizeof(full), r->item_prefix, '.', name + 5));
	}
	if (strcmp(name, "item") == 0 && r->item_prefix)
		return vars_get(&r->s->vars, r->item_prefix);
	const char *v = vars_get(&r->s->vars, name);
	if (v)
		return r->no_secrets && vars_is_secret(&r->s->vars, name) ? "" : v;
	if (strcmp(name, "contact") == 0) {
		const char *c = flow_text_pick(&r->fs->msg.contact, r->s->lang, is_ussd(r));
		return c ? c : "";
	}
	if (strcmp(name, "channel") == 0)
		return channel_name(r->s->channel);
	if (strcmp(name, "lang") == 0)
		return r->s->lang;
	if (strcmp(name, "phone") == 0)
		return r->s->address;
	if (strcmp(name, "keyword") == 0) {
		if (r->keyword)
			return r->keyword;
		return r->flow && r->flow->n_keywords ? r->flow->keywords[0] : "";
	}
	if (strcmp(name, "choices") == 0)
		return r->choices ? r->choices : "";
	return NULL;
}

/* The expanded text, read-only: a text without {{ }} is the flow's own string (most are, and
 * menus are rendered on every answer). */
static const char *expand(struct run *r, const char *tmpl)
{
	if (!tmpl)
		return NULL;
	if (!strstr(tmpl, "{{"))
		return tmpl;
	char *t = template_expand(r->ctx, tmpl, lookup, r);
	return t ? t : talloc_strdup(r->ctx, "");
}

/* The administrator's text for this person's language and channel, expanded. */
static const char *say_text(struct run *r, const struct flow_text *t)
{
	const char *tmpl = flow_text_pick(t, r->s->lang, is_ussd(r));
	return tmpl ? expand(r, tmpl) : NULL;
}

/* Appends "\n" (unless buf is empty) then "<num> <label>" to a talloc'd string: menus are
 * built line by line on every answer, so this avoids printf for each line. */
static char *add_line(char *buf, unsigned num, const char *label)
{
	size_t len = strlen(buf), l = strlen(label);
	char digits[12];
	int nd = 0;

	if (num) {
		nd = (int)strlen(utoa(digits, num));
		digits[nd++] = ' ';
	}
	char *out = talloc_realloc(NULL, buf, char, len + 1 + nd + l + 1);
	char *p = out + len;

	if (len)
		*p++ = '\n';
	memcpy(p, digits, nd);
	memcpy(p + nd, label, l + 1);
	return out;
}

static void append(struct run *r, const char *text)
{
	if (!text || !*text)
		return;
	r->reply = add_line(r->reply ? r->reply : talloc_strdup(r->ctx, ""), 0, text);
}

static void apply_set(struct run *r, const struct flow_assign *set, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *v = expand(r, set[i].value);
		vars_set(&r->s->vars, set[i].var, v, false);
		if (strcmp(set[i].var, "lang") == 0 && strlen(v) < sizeof(r->s->lang))
			strcpy(r->s->lang, v);
	}
}

/* ---- words ---- */

static bool word_in(const char *folded, const char *const *words, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(folded, words[i]) == 0)
			return true;
	return false;
}

static char *trim(void *ctx, const char *text)
{
	while (*text && isspace((unsigned char)*text))
		text++;
	size_t len = strlen(text);
	while (len && isspace((unsigned char)text[len - 1]))
		len--;
	return talloc_strndup(ctx, text, len);
}

/* ---- session moves ---- */

static const struct flow_step *cur_step(const struct run *r)
{
	if (!r->flow)
		return NULL;
	int i = flow_step_index(r->flow, r->s->step);
	return i < 0 ? NULL : &r->flow->steps[i];
}

static void end_session(struct run *r, enum engine_outcome outcome)
{
	r->out->outcome = outcome;
	session_reset(r->s);
	r->flow = NULL;
}

static void push_history(struct run *r, const char *step)
{
	struct session *s = r->s;

	if (!step[0])
		return;
	if (s->n_history == SESSION_HISTORY) {
		memmove(s->history[0], s->history[1], sizeof(s->history[0]) * (SESSION_HISTORY - 1));
		s->n_history--;
	}
	copy_name(s->history[s->n_history++], SESSION_NAME_MAX, step);
}

static void set_step(struct run *r, const struct flow_step *st)
{
	copy_name(r->s->step, sizeof(r->s->step), st->name);
	r->s->tries = 0;
	r->s->page = 0;
	r->s->page_n = 0;
}

/* ---- menus ---- */


static unsigned menu_count(struct run *r, const struct flow_step *st)
{
	if (!st->from_list)
		return st->n_options;
	char name[SESSION_NAME_MAX + 8];
	const char *c = vars_get(&r->s->vars, join3(name, sizeof(name), st->from_list, '.', "count"));
	long n = c ? strtol(c, NULL, 10) : 0;
	return n < 0 ? 0 : n > 1000 ? 1000 : (unsigned)n;
}

static const char *menu_label(struct run *r, const struct flow_step *st, unsigned i)
{
	if (!st->from_list)
		return say_text(r, &st->options[i].label);
	char prefix[SESSION_NAME_MAX + 16], num[12];
	r->item_prefix = join3(prefix, sizeof(prefix), st->from_list, '.', utoa(num, i));
	const char *label = say_text(r, &st->from_label);
	r->item_prefix = NULL;
	return label;
}

static bool fits(struct run *r, const char *text)
{
	if (!r->in->channel)
		return true;
	if (text_fits(text, &r->in->channel->budget))
		return true;
	/* Folding can turn a UCS-2 text that does not fit into a GSM-7 one that does. */
	return r->in->channel->fold && !text_is_gsm7(text) &&
	       text_fits(text_fold_gsm7(r->ctx, text), &r->in->channel->budget);
}

/* The options of the page just cut, for the answer to it (see answer_menu). */
static void remember_page(struct run *r, unsigned first, unsigned k)
{
	bool keep = first <= UINT16_MAX && k <= PAGE_MAX_OPTIONS;

	r->s->page_first = keep ? (uint16_t)first : 0;
	r->s->page_n = keep ? (uint8_t)k : 0;
}

/* Renders page `page` of a menu and returns its text; *first_out gets the index of its first
 * option and *n_on_page how many it shows. Pages are cut greedily from the first so that the
 * same page always holds the same options. */
static char *menu_page(struct run *r, const struct flow_step *st, unsigned page,
		       unsigned *first_out, unsigned *n_on_page)
{
	unsigned n = menu_count(r, st);
	const char *title = say_text(r, &st->text);
	const char **labels = talloc_array(r->ctx, const char *, n ? n : 1);

	for (unsigned i = 0; i < n; i++)
		labels[i] = menu_label(r, st, i);

	/* The common case: everything on one page. */
	if (n <= PAGE_MAX_OPTIONS) {
		char *all = talloc_strdup(r->ctx, title ? title : "");
		for (unsigned i = 0; i < n; i++)
			all = add_line(all, i + 1, labels[i]);
		if (fits(r, all)) {
			*first_out = 0;
			*n_on_page = n;
			r->s->page = 0;
			remember_page(r, 0, n);
			return all;
		}
	}

	const char *more = flow_text_pick(&r->fs->msg.more, r->s->lang, is_ussd(r));
	const char *more_key = r->fs->words.n_more ? r->fs->words.more[0] : "9";
	char *more_line = talloc_asprintf(r->ctx, "%s %s", more_key, more ? more : "Suite");
	unsigned first = 0, p = 0;
	char *text = NULL;

	for (;;) {
		text = talloc_strdup(r->ctx, title ? title : "");
		unsigned k = 0;
		while (first + k < n && k < PAGE_MAX_OPTIONS) {
			char *candidate = add_line(talloc_strdup(r->ctx, text), k + 1, labels[first + k]);
			bool last = first + k + 1 == n;
			char *with_more = last ? candidate
					       : add_line(talloc_strdup(r->ctx, candidate), 0, more_line);
			/* Always show at least one option, even if it overflows. */
			if (k > 0 && !fits(r, with_more))
				break;
			text = candidate;
			k++;
		}
		if (first + k < n)
			text = add_line(text, 0, more_line);
		if (p == page || first + k >= n) {
			*first_out = first;
			*n_on_page = k;
			r->s->page = p;
			remember_page(r, first, k);
			return text;
		}
		first += k;
		p++;
	}
}

/* ---- running steps ---- */

enum prefix { PREFIX_NONE, PREFIX_RETRY, PREFIX_HELP };

/* The question or the menu page again. After a retry text or the help (prefix), a menu page
 * is cut without them, so that a page always holds the same options; when both do not fit
 * one reply (a USSD screen), the help alone is said (the person answers the menu they have
 * seen), or the menu alone after a retry text: a screen is never cut by the transport. */
static void render_prompt_after(struct run *r, const struct flow_step *st, enum prefix prefix)
{
	if (st->kind == STEP_MENU) {
		unsigned first, k;
		if (menu_count(r, st) == 0) {
			append(r, say_text(r, &st->text));
			return;
		}
		char *page = menu_page(r, st, r->s->page, &first, &k);
		if (prefix != PREFIX_NONE && r->reply &&
		    !fits(r, talloc_asprintf(r->ctx, "%s\n%s", r->reply, page))) {
			if (prefix == PREFIX_HELP)
				return;
			r->reply = NULL;
		}
		append(r, page);
	} else {
		append(r, say_text(r, &st->text));
	}
}

static void render_prompt(struct run *r, const struct flow_step *st)
{
	render_prompt_after(r, st, PREFIX_NONE);
}

static bool cond_holds(struct run *r, const struct flow_cond *c)
{
	const char *v = lookup(r, c->var);
	const char *want = c->n_values ? c->values[0] : "";

	switch (c->op) {
	case COND_EQUALS:
		return v && strcmp(v, want) == 0;
	case COND_NOT_EQUALS:
		return !v || strcmp(v, want) != 0;
	case COND_IN:
		for (unsigned i = 0; v && i < c->n_values; i++)
			if (strcmp(v, c->values[i]) == 0)
				return true;
		return false;
	case COND_SET:
		return v && *v;
	case COND_EMPTY:
		return !v || !*v;
	case COND_LESS:
	case COND_MORE: {
		if (!v || !*v)
			return false;
		char *end;
		double a = strtod(v, &end);
		if (*end)
			return false;
		double b = strtod(want, NULL);
		return c->op == COND_LESS ? a < b : a > b;
	}
	}
	return false;
}

static int branch_target(struct run *r, const struct flow_step *st)
{
	for (unsigned i = 0; i < st->n_when; i++) {
		const struct flow_when *w = &st->when[i];
		bool all = true;
		for (unsigned j = 0; all && j < w->n_all; j++)
			all = cond_holds(r, &w->all[j]);
		if (all)
			return w->next_idx;
	}
	return st->else_idx;
}

/* ---- the transcript (for a handoff) ---- */

/* Appends "<mark> text" as a line, then drops whole lines from the start past the bound. */
static char *transcript_add(void *ctx, char *t, const char *mark, const char *text)
{
	if (!text || !*text)
		return t;
	/* Appended in place (one realloc, no printf): this runs twice on every step. */
	size_t tl = t ? strlen(t) : 0, ml = strlen(mark), xl = strlen(text);
	size_t sep = tl ? 1 : 0, len = tl + sep + ml + 1 + xl;
	char *n = t ? talloc_realloc(NULL, t, char, len + 1) : talloc_size(ctx, len + 1);
	if (!n)
		return NULL;
	t = n;
	n += tl;
	if (sep)
		*n++ = '\n';
	memcpy(n, mark, ml);
	n[ml] = ' ';
	memcpy(n + ml + 1, text, xl + 1);
	if (len <= TRANSCRIPT_MAX)
		return t;
	const char *cut = t + len - TRANSCRIPT_MAX;
	const char *nl = strchr(cut, '\n');
	return talloc_strdup(ctx, nl ? nl + 1 : cut);
}

/* Before the event: the transcript so far plus the text received (masked when it answers a
 * secret question). */
static void transcript_begin(struct run *r)
{
	const char *prev = r->s->state != SESSION_IDLE ? vars_get(&r->s->vars, VAR_TRANSCRIPT)
							 : NULL;
	r->transcript = prev ? talloc_strdup(r->ctx, prev) : NULL;
	if (r->in->kind != EV_TEXT)
		return;
	const struct flow_step *st = r->s->state == SESSION_ACTIVE ? cur_step(r) : NULL;
	if (st && st->secret)
		r->secret_in = r->in->text;
	r->transcript = transcript_add(r->ctx, r->transcript, ">",
				       st && st->secret ? "(réponse secrète)" : r->in->text);
}

/* text with every occurrence of secret replaced by "***" (a reply that repeats an answer). */
static const char *scrub(void *ctx, const char *text, const char *secret)
{
	char *t;
	const char *p, *hit;
	size_t n;

	if (!text || !secret || !(n = strlen(secret)) || !strstr(text, secret))
		return text;
	t = talloc_strdup(ctx, "");
	for (p = text; (hit = strstr(p, secret)); p = hit + n)
		t = talloc_asprintf_append(t, "%.*s***", (int)(hit - p), p);
	return talloc_strdup_append(t, p);
}

/* After the event: what was answered, kept while a procedure runs. */
static void transcript_end(struct run *r)
{
	if (r->s->state == SESSION_IDLE)
		return;
	const char *reply = scrub(r->ctx, r->reply, r->secret_in);
	for (unsigned i = 0; reply && i < r->s->vars.n; i++)
		if (r->s->vars.v[i].secret)
			reply = scrub(r->ctx, reply, r->s->vars.v[i].value);
	char *t = transcript_add(r->ctx, r->transcript, "<", reply);
	if (t)
		vars_set(&r->s->vars, VAR_TRANSCRIPT, t, false);
}

/* ---- messages sent first: remind:, receipt:, cancel_reminders: ---- */

/* t's SMS wording for the person, expanded and folded as the channel folds. */
static const char *sms_text(struct run *r, const struct flow_text *t)
{
	const char *tmpl = flow_text_pick(t, r->s->lang, false);
	/* Stored in the schedule until sent: never with a secret answer in it. */
	r->no_secrets = true;
	const char *text = tmpl ? expand(r, tmpl) : NULL;
	r->no_secrets = false;

	if (text && r->in->channel && r->in->channel->fold && !text_is_gsm7(text))
		text = text_fold_gsm7(r->ctx, text);
	return text;
}

static void add_send(struct run *r, const struct flow_step *st, bool receipt, unsigned i,
		     int64_t at, const char *text, const char *ref)
{
	struct engine_out *out = r->out;
	struct engine_send *n = talloc_realloc(r->ctx, out->sends, struct engine_send,
					       out->n_sends + 1);

	if (!n || !text || !*text)
		return;
	out->sends = n;
	n = &out->sends[out->n_sends++];
	n->receipt = receipt;
	n->at = at;
	n->text = text;
	n->reference = ref;
	/* The same person, step, message and time (and reference) is the same message. */
	n->key = talloc_asprintf(r->ctx, "flow:%s:%s:%s:%s%u:%lld:%s", r->s->address,
				 r->flow->name, st->name, receipt ? "r" : "m", i, (long long)at,
				 ref ? ref : "");
}

static void step_sends(struct run *r, const struct flow_step *st)
{
	const char *ref = NULL;

	if (st->cancel_reminders) {
		const char *c = expand(r, st->cancel_reminders);
		char *t = c ? trim(r->ctx, c) : NULL;
		if (t && *t) {
			const char **n = talloc_realloc(r->ctx, r->out->cancels, const char *,
							r->out->n_cancels + 1);
			if (n) {
				r->out->cancels = n;
				n[r->out->n_cancels++] = t;
			}
		}
	}
	if (!st->n_remind && !st->receipt.n)
		return;
	if (st->reference) {
		r->no_secrets = true;
		char *t = trim(r->ctx, expand(r, st->reference));
		r->no_secrets = false;
		ref = t && *t ? t : NULL;
	}
	if (st->receipt.n)
		add_send(r, st, true, 0, r->in->now, sms_text(r, &st->receipt), ref);
	for (unsigned i = 0; i < st->n_remind; i++) {
		int64_t at;
		/* A reminder already past (a booking for tomorrow morning and "-1d 18:00") or
		 * without a date is not sent: late, it would mislead. */
		if (remind_at(expand(r, st->remind[i].at), r->in->now, &at, NULL) < 0 ||
		    at <= r->in->now) {
			r->out->n_skipped++;
			continue;
		}
		add_send(r, st, false, i, at, sms_text(r, &st->remind[i].text), ref);
	}
}

static void start_call(struct run *r, const struct flow_step *st)
{
	struct engine_out *out = r->out;
	struct engine_call *c = &out->call;

	out->has_call = true;
	c->op = talloc_strdup(r->ctx, st->op);
	c->call_id = ++r->s->call_id;
	vars_init(&c->args, r->ctx);
	for (unsigned i = 0; i < st->n_with; i++) {
		const struct flow_assign *a = &st->with[i];
		/* An argument built from a secret is secret too (for the logs). */
		bool secret = false;
		for (unsigned j = 0; j < r->s->vars.n; j++)
			if (r->s->vars.v[j].secret && strstr(a->value, r->s->vars.v[j].name))
				secret = true;
		vars_set(&c->args, a->var, expand(r, a->value), secret);
	}
	if (st->handoff) {
		/* Who to call back and what was said: the human does not ask again. */
		vars_set(&c->args, "phone", r->s->address, false);
		vars_set(&c->args, "transcript", r->transcript ? r->transcript : "", false);
	}
	/* The secret has been used: it is not kept a moment longer. */
	vars_drop_secrets(&r->s->vars);
	if (st->wait.n)
		out->wait_text = say_text(r, &st->wait);
	/* What was said before the call is said with its outcome, in one message. */
	if (r->reply)
		vars_set(&r->s->vars, VAR_PENDING, r->reply, false);
	r->reply = NULL;
	r->s->state = SESSION_WAITING;
	set_step(r, st);
}

/* Enters step idx and runs until the session waits for the person or a back-end, or ends.
 * prev: the interactive step we leave (history for "back"), or NULL. */
static void run_from(struct run *r, int idx, const char *prev)
{
	if (prev)
		push_history(r, prev);
	for (unsigned guard = 0; guard < MAX_CHAIN; guard++) {
		if (idx < 0 || (unsigned)idx >= r->flow->n_steps) {
			end_session(r, OUTCOME_COMPLETED);
			return;
		}
		const struct flow_step *st = &r->flow->steps[idx];
		apply_set(r, st->set, st->n_set);
		step_sends(r, st);
		switch (st->kind) {
		case STEP_SAY:
			append(r, say_text(r, &st->text));
			if (st->end || st->next_idx < 0) {
				end_session(r, OUTCOME_COMPLETED);
				return;
			}
			idx = st->next_idx;
			continue;
		case STEP_BRANCH:
			idx = branch_target(r, st);
			continue;
		case STEP_CALL:
			start_call(r, st);
			return;
		case STEP_MENU:
			set_step(r, st);
			r->s->state = SESSION_ACTIVE;
			if (menu_count(r, st) == 0 && st->from_list) {
				append(r, say_text(r, &st->empty));
				if (st->empty_idx >= 0) {
					idx = st->empty_idx;
					continue;
				}
				end_session(r, OUTCOME_COMPLETED);
				return;
			}
			render_prompt(r, st);
			return;
		case STEP_ASK:
			set_step(r, st);
			r->s->state = SESSION_ACTIVE;
			render_prompt(r, st);
			return;
		}
	}
	/* A loop without a question: refuse to spin. */
	append(r, say_text(r, &r->fs->msg.backend_error));
	end_session(r, OUTCOME_FAILED);
}

static void start_flow(struct run *r, const struct flow *f)
{
	struct session *s = r->s;
	char lang[sizeof(s->lang)];

	snprintf(lang, sizeof(lang), "%s", s->lang[0] ? s->lang : "fr");
	session_reset(s);
	snprintf(s->lang, sizeof(s->lang), "%s", lang);
	snprintf(s->flow, sizeof(s->flow), "%s", f->name);
	/* The dialogue so far stays in r->transcript (and is stored again at the end of the
	 * event): a flow started in the middle of another (CONSEILLER after a few questions)
	 * hands it to its human. */
	s->flow_version = r->fs->version;
	s->started = r->in->now;
	s->n_history = 0;
	r->flow = f;
	r->out->started = true;
	run_from(r, f->start_idx, NULL);
}

/* EV_OPEN: like start_flow, at a given step and keeping the variables the opener set (the
 * date of the appointment to confirm). An unknown flow or step leaves the session idle,
 * with no reply: the caller checked them when it accepted the request. */
static void open_flow(struct run *r)
{
	const struct flow *f = flow_find(r->fs, r->in->flow ? r->in->flow : "");
	int idx = f && r->in->text ? flow_step_index(f, r->in->text) : -1;
	struct session *s = r->s;

	if (idx < 0)
		return;
	snprintf(s->flow, sizeof(s->flow), "%s", f->name);
	s->flow_version = r->fs->version;
	s->started = r->in->now;
	s->n_history = 0;
	s->tries = s->page = 0;
	r->flow = f;
	r->out->started = true;
	run_from(r, idx, NULL);
}

/* "1", "1 ou 2", "1, 2 ou 3" ... "1 à 8 ou 9": the answers a person could have given, in
 * the words of the session's language (French unless English). */
static const char *choices_text(struct run *r, unsigned n, const char *more_key)
{
	bool en = !strcmp(r->s->lang, "en");
	const char *or = en ? "or" : "ou", *to = en ? "to" : "\u00e0";
	char *t;

	if (n == 0)
		return more_key ? talloc_strdup(r->ctx, more_key) : "";
	if (n > 4) {
		t = talloc_asprintf(r->ctx, "1 %s %u", to, n);
	} else {
		t = talloc_strdup(r->ctx, "1");
		for (unsigned i = 2; i <= n; i++) {
			if (i == n && !more_key)
				t = talloc_asprintf_append(t, " %s %u", or, i);
			else
				t = talloc_asprintf_append(t, ", %u", i);
		}
	}
	if (more_key)
		t = talloc_asprintf_append(t, " %s %s", or, more_key);
	return t;
}

/* A wrong answer: count it, say the retry text and ask again, or give up. The retry text
 * says what is expected: the step's own, else the valid numbers (a menu, a yes/no, a
 * choice), else the common `invalid`. */
static void wrong_answer(struct run *r, const struct flow_step *st)
{
	unsigned tries = st->tries ? st->tries : 3;

	if (++r->s->tries >= tries) {
		if (st->on_fail_idx >= 0) {
			run_from(r, st->on_fail_idx, NULL);
			return;
		}
		append(r, say_text(r, &r->fs->msg.too_many_tries));
		end_session(r, OUTCOME_FAILED);
		return;
	}
	const struct flow_text *retry = &r->fs->msg.invalid;
	if (st->retry.n) {
		retry = &st->retry;
	} else if (st->kind == STEP_MENU || (st->kind == STEP_ASK && (st->expect == EXPECT_YESNO ||
									st->expect == EXPECT_CHOICE))) {
		if (!r->choices)
			r->choices = choices_text(r, st->expect == EXPECT_CHOICE ? st->n_choices : 2,
						  NULL);
		retry = &r->fs->msg.pick;
	}
	append(r, say_text(r, retry));
	render_prompt_after(r, st, PREFIX_RETRY);
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* JJ/MM/AAAA, JJ-MM-AAAA, JJ.MM.AAAA, JJ MM AAAA, JJ*MM*AAAA (a keypad) or JJMMAAAA ->
 * "AAAA-MM-JJ". */
static char *parse_date(void *ctx, const char *in)
{
	int d, m, y, n = 0;
	char digits[16];
	size_t k = 0;

	for (const char *p = in; *p && k < sizeof(digits) - 1; p++)
		if (isdigit((unsigned char)*p))
			digits[k++] = *p;
	digits[k] = 0;
	if (sscanf(in, "%d%*[/.* -]%d%*[/.* -]%d%n", &d, &m, &y, &n) == 3 && in[n] == 0) {
		/* separated form */
	} else if (k == 8 && all_digits(in)) {
		d = (digits[0] - '0') * 10 + digits[1] - '0';
		m = (digits[2] - '0') * 10 + digits[3] - '0';
		y = atoi(digits + 4);
	} else {
		return NULL;
	}
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 100)
		y += y < 50 ? 2000 : 1900;
	if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1)
		return NULL;
	if (d > mdays[m - 1] + (m == 2 && leap(y)))
		return NULL;
	return talloc_asprintf(ctx, "%04d-%02d-%02d", y, m, d);
}

/* MM/AAAA, M/AAAA, MM-AAAA, MM AAAA, MM*AAAA, M*AAAA (a keypad) or MMAAAA -> "AAAA-MM". */
static char *parse_month(void *ctx, const char *in)
{
	int m, y, n = 0;

	if (sscanf(in, "%d%*[/.* -]%d%n", &m, &y, &n) == 2 && in[n] == 0 &&
	    strspn(in, "0123456789") <= 2) {
		/* separated form */
	} else if (strlen(in) == 6 && all_digits(in)) {
		m = (in[0] - '0') * 10 + in[1] - '0';
		y = atoi(in + 2);
	} else {
		return NULL;
	}
	if (y < 1900 || y > 2100 || m < 1 || m > 12)
		return NULL;
	return talloc_asprintf(ctx, "%04d-%02d", y, m);
}

/* Digits as people type them: spaces and dots inside ("12 34 567"), and the letters O and
 * I/L for 0 and 1 beside real digits ("O6 12", "2O26"). A letter alone is no digit: "O" may
 * mean oui, "l" nothing. Returns NULL when the answer is not digits. */
static char *plain_number(void *ctx, const char *answer)
{
	char *d = talloc_strdup(ctx, answer);
	size_t k = 0;
	bool real = false;

	for (const char *p = answer; *p; p++) {
		char c = *p;
		if (c == ' ' || c == '.')
			continue;
		if (c == 'O')
			c = '0';
		else if (c == 'I' || c == 'L')
			c = '1';
		else if (isdigit((unsigned char)c))
			real = true;
		else
			return NULL;
		d[k++] = c;
	}
	d[k] = 0;
	return real ? d : NULL;
}

/* Returns the value to save, or NULL when the answer is not valid for the question. */
static char *validate(struct run *r, const struct flow_step *st, const char *raw)
{
	char *a = trim(r->ctx, raw);
	unsigned len = text_chars(a);

	switch (st->expect) {
	case EXPECT_DIGITS: {
		char *d = plain_number(r->ctx, flow_fold_answer(r->ctx, a));
		size_t k = d ? strlen(d) : 0;
		if (!d || (st->min_len && k < st->min_len) || (st->max_len && k > st->max_len))
			return NULL;
		return d;
	}
	case EXPECT_TEXT:
	case EXPECT_SECRET:
		if (!len || (st->min_len && len < st->min_len) || (st->max_len && len > st->max_len))
			return NULL;
		return a;
	case EXPECT_PATTERN:
		if (!st->regex || regexec(st->regex, a, 0, NULL, 0) != 0)
			return NULL;
		return a;
	case EXPECT_DATE:
		return parse_date(r->ctx, flow_fold_answer(r->ctx, a));
	case EXPECT_MONTH:
		return parse_month(r->ctx, flow_fold_answer(r->ctx, a));
	case EXPECT_YESNO: {
		char *f = flow_fold_answer(r->ctx, a);
		static const char *const yes[] = { "OUI", "O", "1", "YES", "Y", "SI", "D'ACCORD", "OK" };
		static const char *const no[] = { "NON", "N", "2", "NO" };
		if (word_in(f, yes, sizeof(yes) / sizeof(yes[0])))
			return talloc_strdup(r->ctx, "oui");
		if (word_in(f, no, sizeof(no) / sizeof(no[0])))
			return talloc_strdup(r->ctx, "non");
		return NULL;
	}
	case EXPECT_CHOICE: {
		char *f = flow_fold_answer(r->ctx, a);
		for (unsigned i = 0; i < st->n_choices; i++)
			if (strcmp(f, flow_fold_answer(r->ctx, st->choices[i])) == 0)
				return talloc_strdup(r->ctx, st->choices[i]);
		/* The n-th choice by its number, as in a menu. */
		if (all_digits(f)) {
			long n = strtol(f, NULL, 10);
			if (n >= 1 && (unsigned long)n <= st->n_choices)
				return talloc_strdup(r->ctx, st->choices[n - 1]);
		}
		return NULL;
	}
	}
	return NULL;
}

static void answer_ask(struct run *r, const struct flow_step *st, char *valid)
{
	if (!valid) {
		wrong_answer(r, st);
		return;
	}
	if (st->save)
		vars_set(&r->s->vars, st->save, valid, st->secret || st->expect == EXPECT_SECRET);
	run_from(r, st->next_idx, st->name);
}

/* answer: the text folded as an answer (flow_fold_answer): "1." is 1. */
static void answer_menu(struct run *r, const struct flow_step *st, const char *answer)
{
	unsigned first, k;
	bool more = r->fs->words.n_more ? word_in(answer, r->fs->words.more, r->fs->words.n_more)
					: strcmp(answer, "9") == 0;
	unsigned n = menu_count(r, st);
	/* The page the person answers was cut when it was shown; cut it again only when that
	 * was not kept (a session stored by an older guichetd) or no longer matches. */
	if (r->s->page_n && r->s->flow_version == r->fs->version &&
	    r->s->page_first + r->s->page_n <= n) {
		first = r->s->page_first;
		k = r->s->page_n;
	} else {
		(void)menu_page(r, st, r->s->page, &first, &k);
	}

	if (more && first + k < n) {
		r->s->page++;
		render_prompt(r, st);
		return;
	}
	char *end;
	long pick = strtol(answer, &end, 10);
	if (!*answer || *end || !isdigit((unsigned char)*answer) || pick < 1 ||
	    (unsigned long)pick > k) {
		const char *more_key = r->fs->words.n_more ? r->fs->words.more[0] : "9";
		r->choices = choices_text(r, k, first + k < n ? more_key : NULL);
		wrong_answer(r, st);
		return;
	}
	unsigned i = first + (unsigned)pick - 1;
	int next = st->next_idx;
	if (st->from_list) {
		r->item_prefix = talloc_asprintf(r->ctx, "%s.%u", st->from_list, i);
		apply_set(r, st->from_set, st->n_from_set);
		r->item_prefix = NULL;
	} else {
		const struct flow_option *o = &st->options[i];
		apply_set(r, o->set, o->n_set);
		if (o->next_idx >= 0)
			next = o->next_idx;
	}
	run_from(r, next, st->name);
}

/* Global words: help, back, restart, stop. Returns true when the text was one. */
static bool global_word(struct run *r, const struct flow_step *st, const char *folded,
			const char *text)
{
	const struct flow_words *w = &r->fs->words;
	struct session *s = r->s;
	/* "STOP.", "Aide ?", "0 !": the word without the noise around it ("?" stays "?"). */
	char *answer = flow_fold_answer(r->ctx, text);
	if (answer && *answer)
		folded = answer;

	if (word_in(folded, w->stop, w->n_stop)) {
		append(r, say_text(r, &r->fs->msg.stopped));
		end_session(r, OUTCOME_STOPPED);
		return true;
	}
	if (word_in(folded, w->help, w->n_help)) {
		const struct flow_text *h = st->help.n ? &st->help
					    : r->flow->help.n ? &r->flow->help : &r->fs->msg.help;
		append(r, say_text(r, h));
		render_prompt_after(r, st, PREFIX_HELP);
		return true;
	}
	if (word_in(folded, w->restart, w->n_restart)) {
		start_flow(r, r->flow);
		return true;
	}
	/* At a question, a valid answer wins over "back": "0 enfant" must stay possible. */
	if (word_in(folded, w->back, w->n_back) && !(st->kind == STEP_ASK && validate(r, st, text))) {
		if (st->kind == STEP_MENU && s->page > 0) {
			s->page--;
			render_prompt(r, st);
			return true;
		}
		if (s->n_history == 0) {
			render_prompt(r, st);
			return true;
		}
		const char *prev = s->history[--s->n_history];
		int idx = flow_step_index(r->flow, prev);
		if (idx < 0) {
			render_prompt(r, st);
			return true;
		}
		set_step(r, &r->flow->steps[idx]);
		s->state = SESSION_ACTIVE;
		render_prompt(r, &r->flow->steps[idx]);
		return true;
	}
	return false;
}

/* The list of services, for a text that starts nothing. */
static void welcome(struct run *r)
{
	append(r, say_text(r, &r->fs->msg.welcome));
	for (unsigned i = 0; i < r->fs->n_flows; i++) {
		const struct flow *f = &r->fs->flows[i];
		const char *title = flow_text_pick(&f->title, r->s->lang, is_ussd(r));
		if (is_ussd(r) && f->n_ussd)
			append(r, talloc_asprintf(r->ctx, "%s %s", f->ussd_codes[0], title ? title : f->name));
		else if (!is_ussd(r) && f->n_keywords)
			append(r, talloc_asprintf(r->ctx, "%s : %s", f->keywords[0], title ? title : f->name));
	}
}

/* USSD: "*4321#" when flows use "*4321*1#", "*4321*2#": a menu of those flows, in the
 * order of their sub-codes. */
struct root_entry {
	const char *sub;
	int sub_len;
	const char *title;
};

static int root_entry_cmp(const void *a, const void *b)
{
	const struct root_entry *x = a, *y = b;

	if (x->sub_len != y->sub_len)
		return x->sub_len - y->sub_len;
	return strncmp(x->sub, y->sub, x->sub_len);
}

static bool ussd_root_menu(struct run *r, const char *code)
{
	size_t len = strlen(code);
	if (len < 2 || code[len - 1] != '#')
		return false;
	char *prefix = talloc_asprintf(r->ctx, "%.*s*", (int)(len - 1), code);
	struct root_entry *e = NULL;
	unsigned n = 0;
	for (unsigned i = 0; i < r->fs->n_flows; i++) {
		const struct flow *f = &r->fs->flows[i];
		for (unsigned j = 0; j < f->n_ussd; j++) {
			const char *c = f->ussd_codes[j];
			if (strncmp(c, prefix, strlen(prefix)) != 0)
				continue;
			const char *title = flow_text_pick(&f->title, r->s->lang, true);
			e = talloc_realloc(r->ctx, e, struct root_entry, n + 1);
			e[n].sub = c + strlen(prefix);
			e[n].sub_len = (int)strcspn(e[n].sub, "*#");
			e[n].title = title ? title : f->name;
			n++;
		}
	}
	if (!n)
		return false;
	qsort(e, n, sizeof(*e), root_entry_cmp);
	append(r, say_text(r, &r->fs->msg.welcome));
	for (unsigned i = 0; i < n; i++)
		append(r, talloc_asprintf(r->ctx, "%.*s %s", e[i].sub_len, e[i].sub, e[i].title));
	vars_set(&r->s->vars, VAR_ROOT, prefix, false);
	return true;
}

/* The sub-codes the root menu of code offers, as {{choices}}: "1, 2 ou 3". */
static const char *root_choices(struct run *r, const char *code)
{
	size_t len = strlen(code);
	char *prefix = talloc_asprintf(r->ctx, "%.*s*", (int)(len - 1), code);
	struct root_entry *e = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < r->fs->n_flows; i++) {
		const struct flow *f = &r->fs->flows[i];
		for (unsigned j = 0; j < f->n_ussd; j++) {
			const char *c = f->ussd_codes[j];
			if (strncmp(c, prefix, strlen(prefix)) != 0)
				continue;
			e = talloc_realloc(r->ctx, e, struct root_entry, n + 1);
			e[n].sub = c + strlen(prefix);
			e[n].sub_len = (int)strcspn(e[n].sub, "*#");
			e[n].title = NULL;
			n++;
		}
	}
	if (!n)
		return "";
	qsort(e, n, sizeof(*e), root_entry_cmp);
	bool en = !strcmp(r->s->lang, "en");
	char *t = talloc_strdup(r->ctx, "");
	for (unsigned i = 0; i < n; i++)
		t = talloc_asprintf_append(t, "%s%.*s", i == 0 ? "" : i + 1 == n ?
					   (en ? " or " : " ou ") : ", ", e[i].sub_len, e[i].sub);
	return t;
}

static bool is_yes(const char *answer)
{
	static const char *const yes[] = { "1", "OUI", "O", "YES", "Y", "OK", "SI" };

	return word_in(answer, yes, sizeof(yes) / sizeof(yes[0]));
}

/* SMS, no procedure running: a keyword starts its flow; a keyword with a typing slip is
 * offered ("Vouliez-vous dire RDV ?") and a yes to that starts it; anything else gets the
 * list of services. */
static void idle_sms(struct run *r, const char *text)
{
	struct session *s = r->s;
	const char *suggested = vars_get(&s->vars, VAR_SUGGEST);
	const struct flow *f = flow_by_keyword(r->fs, text);
	const char *kw = NULL;

	if (suggested) {
		const struct flow *sf = flow_find(r->fs, suggested);
		bool fresh = !s->deadline || r->in->now <= s->deadline;
		vars_unset_tree(&s->vars, VAR_SUGGEST);
		if (!f && sf && fresh && is_yes(flow_fold_answer(r->ctx, text)))
			f = sf;
	}
	if (f) {
		start_flow(r, f);
		return;
	}
	if ((f = flow_keyword_near(r->fs, text, &kw))) {
		r->keyword = kw;
		append(r, say_text(r, &r->fs->msg.suggest));
		vars_set(&s->vars, VAR_SUGGEST, f->name, false);
		s->deadline = r->in->now + SUGGEST_S;
		return;
	}
	welcome(r);
}

static void idle_text(struct run *r, const char *text)
{
	const struct flow *f = NULL;
	char *t = trim(r->ctx, text);

	if (!is_ussd(r)) {
		idle_sms(r, t);
		return;
	}
	const char *root = vars_get(&r->s->vars, VAR_ROOT);
	if (root)
		f = flow_by_ussd(r->fs, talloc_asprintf(r->ctx, "%s%s#", root,
							flow_fold_answer(r->ctx, t)));
	else
		f = flow_by_ussd(r->fs, t);
	if (!f && !root && ussd_root_menu(r, t)) {
		r->out->expects_answer = true;
		return;
	}
	if (!f && root) {
		/* A wrong pick in the root menu: say what to answer and show the menu again. */
		char *code = talloc_asprintf(r->ctx, "%.*s#", (int)strlen(root) - 1, root);
		vars_unset_tree(&r->s->vars, VAR_ROOT);
		char *menu = NULL;
		r->reply = NULL;
		if (ussd_root_menu(r, code)) {
			menu = r->reply;
			r->reply = NULL;
			r->choices = root_choices(r, code);
			append(r, say_text(r, &r->fs->msg.pick));
			append(r, menu);
			r->out->expects_answer = true;
			return;
		}
	}
	if (f) {
		start_flow(r, f);
		return;
	}
	welcome(r);
}

static void on_text(struct run *r)
{
	struct session *s = r->s;
	const char *text = r->in->text ? r->in->text : "";

	if (s->state != SESSION_IDLE && s->deadline && r->in->now > s->deadline) {
		/* Back after the timeout: a keyword starts afresh, anything else is told why and
		 * how to start again (the texts may name the flow's {{keyword}}). */
		const struct flow *old = r->flow;
		const struct flow *f = is_ussd(r) ? NULL : flow_by_keyword(r->fs, text);
		end_session(r, OUTCOME_EXPIRED);
		if (f) {
			start_flow(r, f);
			r->out->outcome = OUTCOME_EXPIRED;
			return;
		}
		const struct flow_text *t = old && old->on_timeout.n ? &old->on_timeout
								   : &r->fs->msg.expired;
		r->flow = old;
		append(r, say_text(r, t));
		r->flow = NULL;
		return;
	}
	if (s->state == SESSION_IDLE || !r->flow) {
		if (s->state != SESSION_IDLE)
			session_reset(s);
		idle_text(r, text);
		return;
	}

	char *folded = flow_fold_word(r->ctx, text);
	const struct flow_step *st = cur_step(r);
	if (!st) {
		/* The step vanished (flows changed under a stored session): start over. */
		start_flow(r, r->flow);
		return;
	}
	if (s->state == SESSION_WAITING) {
		char *answer = flow_fold_answer(r->ctx, text);
		if (word_in(folded, r->fs->words.stop, r->fs->words.n_stop) ||
		    word_in(answer, r->fs->words.stop, r->fs->words.n_stop)) {
			append(r, say_text(r, &r->fs->msg.stopped));
			end_session(r, OUTCOME_STOPPED);
		} else {
			append(r, say_text(r, &r->fs->msg.busy));
		}
		return;
	}
	r->out->input_secret = st->kind == STEP_ASK && (st->secret || st->expect == EXPECT_SECRET);
	if (global_word(r, st, folded, text))
		return;
	/* A keyword alone, in the middle of a procedure, starts that procedure again (or the
	 * other one it names), unless it is a valid answer to the question asked. */
	if (!is_ussd(r)) {
		const struct flow *f = flow_match_keyword(r->fs, text, true);
		if (f && !(st->kind == STEP_ASK && validate(r, st, text))) {
			start_flow(r, f);
			return;
		}
	}
	if (st->kind == STEP_MENU)
		answer_menu(r, st, flow_fold_answer(r->ctx, text));
	else if (st->kind == STEP_ASK)
		answer_ask(r, st, validate(r, st, text));
	else
		render_prompt(r, st);
}

static void on_call_outcome(struct run *r, bool ok)
{
	struct session *s = r->s;
	const struct flow_step *st = cur_step(r);

	if (s->state != SESSION_WAITING || r->in->call_id != s->call_id || !st ||
	    st->kind != STEP_CALL)
		return;		/* a late answer to a call the person has moved past */
	const char *pending = vars_get(&s->vars, VAR_PENDING);
	if (pending) {
		append(r, pending);
		vars_unset_tree(&s->vars, VAR_PENDING);
	}
	if (ok) {
		if (st->save) {
			vars_unset_tree(&s->vars, st->save);
			if (r->in->result)
				vars_merge(&s->vars, r->in->result, st->save);
		}
		run_from(r, st->next_idx, NULL);
		return;
	}
	if (st->on_error_idx >= 0) {
		run_from(r, st->on_error_idx, NULL);
		return;
	}
	append(r, say_text(r, &r->fs->msg.backend_error));
	end_session(r, OUTCOME_FAILED);
}

int engine_step(void *ctx, const struct flow_set *fs, struct session *s,
		const struct engine_input *in, struct engine_out *out)
{
	struct run r = { .ctx = ctx, .fs = fs, .s = s, .in = in, .out = out };

	memset(out, 0, sizeof(*out));
	if (!s->lang[0])
		strcpy(s->lang, "fr");
	if (s->state != SESSION_IDLE) {
		r.flow = flow_find(fs, s->flow);
		if (!r.flow)
			session_reset(s);	/* its flow is gone: the person starts afresh */
	}

	transcript_begin(&r);
	switch (in->kind) {
	case EV_TEXT:
		on_text(&r);
		break;
	case EV_RESULT:
		on_call_outcome(&r, true);
		break;
	case EV_FAILURE:
		on_call_outcome(&r, false);
		break;
	case EV_TIMEOUT:
		if (s->state != SESSION_IDLE)
			end_session(&r, OUTCOME_EXPIRED);
		break;
	case EV_OPEN:
		if (s->state == SESSION_IDLE)
			open_flow(&r);
		break;
	}

	if (s->state != SESSION_IDLE && r.flow)
		s->deadline = in->now + (r.flow->timeout_s ? r.flow->timeout_s : 15 * 60);
	else if (!vars_get(&s->vars, VAR_ROOT) && !vars_get(&s->vars, VAR_SUGGEST))
		s->deadline = 0;
	if (s->state == SESSION_ACTIVE)
		out->expects_answer = true;
	if (r.reply && in->channel && in->channel->fold && !text_is_gsm7(r.reply))
		r.reply = text_fold_gsm7(ctx, r.reply);
	transcript_end(&r);
	out->reply = r.reply;
	out->flow = r.flow ? talloc_strdup(ctx, r.flow->name) : NULL;
	out->step = s->state != SESSION_IDLE ? talloc_strdup(ctx, s->step) : NULL;
	return 0;
}

const char *engine_message(void *ctx, const struct flow_set *fs, const struct flow_text *t,
			   const char *lang, const struct engine_channel *ch)
{
	struct session s;
	struct engine_input in = { .kind = EV_TEXT, .channel = ch };
	struct engine_out out;
	struct run r = { .ctx = ctx, .fs = fs, .s = &s, .in = &in, .out = &out };

	session_init(&s, ctx, "", ch ? ch->kind : CHANNEL_SMS, "");
	snprintf(s.lang, sizeof(s.lang), "%s", lang && *lang ? lang : "fr");
	const char *text = say_text(&r, t);
	if (text && ch && ch->fold && !text_is_gsm7(text))
		text = text_fold_gsm7(ctx, text);
	return text;
}

const char *engine_outcome_name(enum engine_outcome o)
{
	switch (o) {
	case OUTCOME_NONE: return "none";
	case OUTCOME_COMPLETED: return "completed";
	case OUTCOME_STOPPED: return "stopped";
	case OUTCOME_EXPIRED: return "expired";
	case OUTCOME_FAILED: return "failed";
	}
	return "?";
}
