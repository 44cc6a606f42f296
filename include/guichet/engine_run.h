/* Inside the engine (engine.c, engine_input.c, engine_render.c): the state of one event's run
 * and the verbs the three files share. Not for other modules: they use guichet/engine.h. */
#ifndef GUICHET_ENGINE_RUN_H
#define GUICHET_ENGINE_RUN_H

#include "guichet/engine.h"

/* A chain of say/branch steps longer than this without waiting for the person is a loop the
 * checker should have refused; the engine stops rather than spin. */
#define MAX_CHAIN 64
/* Options per menu page: 9 is the "more" key. */
#define PAGE_MAX_OPTIONS 8
/* Kept in the session while a call is in flight: text to say before the call's outcome. */
#define VAR_PENDING "_pending"
/* Root USSD code whose sub-codes are offered as a menu ("*4321#" -> "*4321*1#"...). */
#define VAR_ROOT "_root"
/* The root code ("*4321*") whose menu started the procedure: "back" at its first step shows
 * that menu again. Kept through a restart of the same procedure. */
#define VAR_FROM_ROOT "_from_root"
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
	/* The dialogue so far (engine_transcript()): before the event it is the session's
	 * (tr_prev), with the text received to add (tr_in); once kept, it is transcript. */
	const char *tr_prev;
	const char *tr_in;
	char *transcript;
	bool tr_kept;
	const char *secret_in;	/* this event's text when it answers a secret question */
	const char *answer;	/* this event's text folded as an answer (event_answer()) */
	const struct flow_step *valid_st;	/* validate() ran for this step ... */
	char *valid;		/* ... and gave this (NULL: not a valid answer) */
	bool no_secrets;	/* expanding a text that is stored (receipt, reminder): a secret
				 * answer expands to nothing */
	/* engine_cur_step()'s last answer, for the flow it was looked up in: the same step
	 * is asked for several times an event (a name lookup each, 3 % of a step). */
	const struct flow *cur_flow;
	const struct flow_step *cur_st;
	/* GSM-7, checked by parts: the whole reply is checked at the end of the event only
	 * when a part appended to it (engine_append_gsm7) was not known to be GSM-7. Parts are
	 * whole characters joined by "\n", so all GSM-7 makes the reply GSM-7. Never reset:
	 * a reply dropped and started again is then checked whole, as before. */
	bool reply_maybe_ucs2;
	/* While a text flagged at load (flow_tr text_gsm7) is expanded: engine_lookup checks
	 * each value it gives, and vals_gsm7 stays true while all are GSM-7. */
	bool check_vals;
	bool vals_gsm7;
	bool page_gsm7;		/* the page menu_page_n() just cut is GSM-7 */
	/* engine_expand's last new string (talloc'd under ctx): engine_say takes it as the
	 * reply when it is its first text, without a copy. */
	char *fresh;
};

static inline bool engine_is_ussd(const struct run *r)
{
	return r->in->channel && r->in->channel->kind == CHANNEL_USSD;
}

/* engine.c: moving the session */
const struct flow_step *engine_cur_step(struct run *r);
void engine_end_session(struct run *r, enum engine_outcome outcome);
void engine_set_step(struct run *r, const struct flow_step *st);
/* Enters step idx and runs until the session waits for the person or a back-end, or ends.
 * prev: the interactive step we leave (history for "back"), or NULL. */
void engine_run_from(struct run *r, int idx, const char *prev);
void engine_start_flow(struct run *r, const struct flow *f);

/* engine_input.c: what the person sent */
char *engine_trim(void *ctx, const char *text);
void engine_on_text(struct run *r);

/* engine_render.c: texts, menus and the transcript */
/* i in decimal, in buf (12 bytes). */
const char *engine_utoa(char *buf, unsigned i);
/* a, sep and b joined into buf of size bytes, cut like snprintf when too long. */
const char *engine_join3(char *buf, size_t size, const char *a, char sep, const char *b);
enum prefix { PREFIX_NONE, PREFIX_RETRY, PREFIX_HELP };

const char *engine_lookup(void *data, const char *name);
/* The expanded text, read-only: a text without {{ }} is the flow's own string. */
const char *engine_expand(struct run *r, const char *tmpl);
/* As engine_expand, but a template that is one {{ variable }} gives the value itself, not a
 * copy: read it before any variable changes. */
const char *engine_expand_view(struct run *r, const char *tmpl);
/* The administrator's text for this person's language and channel, expanded. */
const char *engine_say_text(struct run *r, const struct flow_text *t);
/* The same as a view (engine_expand_view). */
const char *engine_say_view(struct run *r, const struct flow_text *t);
/* Adds the text to the reply (engine_say_view, then engine_append). */
void engine_say(struct run *r, const struct flow_text *t);
/* engine_say_view, and *gsm7 true when the text is known to be GSM-7 (a flow text flagged
 * at load whose values all are); false when it was not checked. */
const char *engine_say_view_gsm7(struct run *r, const struct flow_text *t, bool *gsm7);
/* t's text picked for language and channel (flow_text_pick) with its load-time flag. */
const char *engine_pick_gsm7(struct run *r, const struct flow_text *t, bool ussd, bool *flag);
/* Expands tmpl (engine_expand, or engine_expand_view when view); *gsm7 as above, from the
 * load-time flag of tmpl. */
const char *engine_expand_gsm7(struct run *r, const char *tmpl, bool flag, bool view,
			       bool *gsm7);
/* Adds text as a line of the reply. */
void engine_append(struct run *r, const char *text);
/* The same, for a text already known to be GSM-7 when gsm7 (not checked again). */
void engine_append_gsm7(struct run *r, const char *text, bool gsm7);
void engine_apply_set(struct run *r, const struct flow_assign *set, unsigned n);
unsigned engine_menu_count(struct run *r, const struct flow_step *st);
char *engine_menu_page(struct run *r, const struct flow_step *st, unsigned page,
		       unsigned *first_out, unsigned *n_on_page);
void engine_render_prompt_after(struct run *r, const struct flow_step *st, enum prefix prefix);
void engine_render_prompt(struct run *r, const struct flow_step *st);
const char *engine_choices_text(struct run *r, unsigned n, const char *more_key);
void engine_welcome(struct run *r);
bool engine_ussd_root_menu(struct run *r, const char *code);
const char *engine_root_choices(struct run *r, const char *code);
void engine_transcript_begin(struct run *r);
/* The transcript so far, the text received included (what a handoff sends). */
const char *engine_transcript(struct run *r);
/* Copies the transcript so far out of the session, which is about to be reset: it is stored
 * again, with the reply, at the end of the event. */
void engine_transcript_keep(struct run *r);
void engine_transcript_end(struct run *r);

#endif
