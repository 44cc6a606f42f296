/* The flow set: every procedure loaded from flows/ (one YAML file per procedure), immutable once loaded.
 *
 * A reload builds a new set, which the router gives a higher version (the loader keeps no state:
 * every set it makes is version 1); sessions keep a reference to the set they
 * started on, so nothing here is ever modified after flow_set_load() returns. Everything is
 * talloc'd under the set: one talloc_free() releases it all. The language is documented for
 * administrators in flows/README.md. */
#ifndef GUICHET_FLOW_H
#define GUICHET_FLOW_H

#include <stdbool.h>
#include <regex.h>
#include "guichet/diag.h"

/* Most options in a menu and most cases in a branch: more is a mistake on a phone screen. */
#define FLOW_MAX_CHOICES 50

struct flow_loc {
	const char *file;
	unsigned line, col;
};

/* One translation of a text: the SMS wording and an optional shorter USSD wording. */
struct flow_tr {
	const char *lang;	/* "fr", "en", ... */
	const char *text;	/* template, may hold {{var | filter}} */
	const char *ussd;	/* NULL: use text on USSD too */
	struct flow_loc loc, ussd_loc;	/* where text and ussd were written */
	/* template_gsm7_but_values() of text and of ussd, set at load: the engine then checks
	 * only the values of the expanded text for GSM-7 (false: the whole text is checked). */
	bool text_gsm7, ussd_gsm7;
};

/* Sets tr's text_gsm7 and ussd_gsm7 from its strings (the loader, once a text is read). */
void flow_tr_mark_gsm7(struct flow_tr *tr);

/* A text an administrator wrote: French first (tr[0]), other languages after. */
struct flow_text {
	unsigned n;		/* 0 when the key was absent */
	struct flow_tr *tr;
	struct flow_loc loc;
};

struct flow_assign {		/* set: { var: "template" } */
	const char *var;
	const char *value;	/* template */
	struct flow_loc loc;	/* of the value */
};

/* remind: one message sent later, at a time computed from a date variable (remind.h). */
struct flow_remind {
	const char *at;		/* "{{rdv.start}} -1d 18:00", a template */
	struct flow_text text;	/* the SMS wording is sent, whatever the channel */
	struct flow_loc loc, at_loc;
};

struct flow_option {
	struct flow_text label;
	unsigned n_set;
	struct flow_assign *set;
	const char *next;	/* NULL: the step's next */
	int next_idx;		/* resolved index into flow->steps, -1 when none; an option
				 * without its own next gets the step's next_idx */
	struct flow_loc loc;
	struct flow_loc next_loc;	/* of the next value (file NULL when absent) */
};

enum flow_step_kind {
	STEP_MENU,		/* numbered options, static or from a list variable */
	STEP_ASK,		/* a question with validation, answer saved into a variable */
	STEP_CALL,		/* a back-end operation; the session waits for its result */
	STEP_BRANCH,		/* pick the next step from conditions on variables */
	STEP_SAY,		/* a message, then next step or the end */
};

enum flow_expect {
	EXPECT_TEXT,		/* free text, min_len..max_len characters */
	EXPECT_DIGITS,		/* only digits, min_len..max_len of them */
	EXPECT_PATTERN,		/* POSIX extended regex, anchored */
	EXPECT_DATE,		/* JJ/MM/AAAA (or JJMMAAAA); saved as AAAA-MM-JJ */
	EXPECT_YESNO,		/* oui/non/o/n/1/2 (and yes/no); saved as "oui" or "non" */
	EXPECT_CHOICE,		/* one of choices[], case- and accent-insensitive */
	EXPECT_SECRET,		/* like TEXT or DIGITS, never logged, dropped after the next call */
	EXPECT_MONTH,		/* MM/AAAA (or MMAAAA, MM*AAAA, M*AAAA); saved as AAAA-MM */
};

enum flow_cond_op {
	COND_EQUALS, COND_NOT_EQUALS, COND_IN, COND_SET, COND_EMPTY,
	COND_LESS, COND_MORE,	/* numeric */
};

struct flow_cond {
	const char *var;
	enum flow_cond_op op;
	unsigned n_values;
	const char **values;	/* one for EQUALS/NOT_EQUALS/LESS/MORE, several for IN */
	struct flow_loc loc;
};

struct flow_when {
	unsigned n_all;		/* all conditions must hold */
	struct flow_cond *all;
	const char *next;
	int next_idx;
	struct flow_loc loc;
	struct flow_loc next_loc;
};

struct flow_step {
	const char *name;
	enum flow_step_kind kind;
	struct flow_loc loc;
	struct flow_text text;	/* menu title, question, or message */
	struct flow_text help;	/* optional: answer to the help word at this step */
	const char *next;
	int next_idx;		/* -1: none (a SAY without next ends the session) */
	unsigned n_set;		/* set: applied when the step is entered */
	struct flow_assign *set;

	/* STEP_MENU */
	unsigned n_options;
	struct flow_option *options;
	const char *from_list;	/* options_from.list: a list variable (NAME.count, NAME.i.x) */
	struct flow_text from_label;	/* template over item.x */
	unsigned n_from_set;
	struct flow_assign *from_set;	/* templates over item.x */
	struct flow_text empty;	/* options_from.empty: said when the list is empty */
	const char *empty_next;
	int empty_idx;

	/* STEP_ASK (and the tries of STEP_MENU) */
	enum flow_expect expect;
	unsigned min_len, max_len;	/* characters/digits; 0 = no bound */
	const char *pattern;
	regex_t *regex;		/* compiled pattern, NULL when none */
	unsigned n_choices;
	const char **choices;
	bool secret;		/* EXPECT_SECRET, or `secret: true` on another kind */
	const char *save;	/* variable receiving the answer (ASK) or the result (CALL) */
	struct flow_text retry;	/* said after a wrong answer; default from common messages */
	unsigned tries;		/* wrong answers allowed before on_fail; default 3 */
	const char *on_fail;	/* NULL: the common "too many tries" end */
	int on_fail_idx;

	/* STEP_CALL */
	const char *op;		/* "backend.operation", declared in config */
	unsigned n_with;
	struct flow_assign *with;	/* arguments, templates */
	const char *on_error;
	int on_error_idx;	/* -1: the common back-end error message, then end */
	struct flow_text wait;	/* optional: USSD screen when the answer will come later by SMS */
	bool handoff;		/* written `handoff:`: the call also gets `phone` and `transcript`
				 * (the dialogue so far, secret answers masked) */

	/* STEP_BRANCH */
	unsigned n_when;
	struct flow_when *when;
	const char *else_next;
	int else_idx;

	/* STEP_SAY */
	bool end;		/* end the session after this message */

	/* Messages sent first, decided when the step is entered (any kind but branch): stored
	 * in the schedule with the step's transaction (store.h). */
	unsigned n_remind;
	struct flow_remind *remind;
	struct flow_text receipt;	/* an SMS proof sent at once (after USSD too) */
	const char *reference;	/* template: the reference reminders and receipt carry */
	const char *cancel_reminders;	/* template: cancels the person's open messages with
					 * that reference (ANNULER <ref>) */
	struct flow_loc reference_loc, cancel_loc;

	/* Where each step name and variable name above was written (file NULL when absent),
	 * so that flow_check() can point at the value itself. */
	struct flow_loc next_loc, on_fail_loc, on_error_loc, else_loc, empty_loc;
	struct flow_loc op_loc, from_loc, save_loc;
};

struct flow {
	const char *name;
	const char *file;
	struct flow_loc loc;
	struct flow_text title;
	unsigned n_keywords;
	const char **keywords;	/* folded: upper case, no accents */
	unsigned n_ussd;
	const char **ussd_codes;	/* "*4321*1#" */
	struct flow_loc *keyword_locs;	/* parallel to keywords[] */
	struct flow_loc *ussd_locs;	/* parallel to ussd_codes[] */
	unsigned timeout_s;	/* idle time before the session expires; default 15 min */
	struct flow_text on_timeout;	/* said when the person comes back after expiry */
	struct flow_text help;	/* flow-level help */
	unsigned n_steps;
	struct flow_step *steps;
	int start_idx;
	struct flow_index *step_index;	/* step name -> position (flow_step_index) */
};

/* Global words, valid at every step, in folded form (upper case, no accents). */
struct flow_words {
	unsigned n_help, n_back, n_restart, n_stop, n_more;
	const char **help, **back, **restart, **stop, **more;
};

/* Shared messages (common: messages: in flows/, built-in French defaults otherwise). */
struct flow_messages {
	struct flow_text welcome;	/* header of the service list sent for unknown texts */
	struct flow_text help;		/* global help: words and the human contact */
	struct flow_text invalid;	/* default retry text */
	struct flow_text too_many_tries;/* default end after the last try */
	struct flow_text stopped;	/* after STOP */
	struct flow_text expired;	/* default for a flow without on_timeout */
	struct flow_text backend_error;	/* default on a failed call without on_error */
	struct flow_text busy;		/* a text received while a call is in flight */
	struct flow_text more;		/* label of the "next page" option, e.g. "Suite" */
	struct flow_text contact;	/* how to reach a human, {{contact}} in other texts */
	struct flow_text invalid_session;/* USSD: a request that belongs to no dialogue */
	struct flow_text saturated;	/* USSD: a new dialogue past max_dialogues */
	struct flow_text pick;		/* wrong menu pick: "Répondez {{choices}}." */
	struct flow_text suggest;	/* a keyword with a slip: "Vouliez-vous dire {{keyword}} ?" */
	struct flow_text limited;	/* the cost guard's one notice to a number past its limits */
};

struct flow_set {
	unsigned version;	/* 1 when loaded; router_set_flows() makes it grow with each reload */
	unsigned n_flows;
	struct flow *flows;
	struct flow_words words;
	struct flow_messages msg;
	unsigned refs;		/* sessions still on this set (owned by the router) */
	struct flow_index *flow_index;	/* flow name -> position (flow_find) */
};

/* Names the loader needs from the config: the declared back-end operations. */
struct flow_env {
	unsigned n_ops;
	const char *const *ops;	/* "backend.operation" */
	unsigned ussd_screen;	/* characters a USSD screen may hold; 0 = 182 */
	unsigned sms_parts;	/* SMS parts a reply may take; 0 = 3 */
	bool no_fold;		/* texts are sent as written, not folded to GSM-7 (sms.fold false) */
};

/* Loads every *.yaml in dir (sorted by name) or a single file. Every problem found goes into
 * d; returns NULL when any error was found. env may be NULL (then calls are not checked). */
struct flow_set *flow_set_load(void *ctx, const char *path, const struct flow_env *env,
			       struct diag *d);
/* Same for a YAML text in memory (tests). */
struct flow_set *flow_set_load_string(void *ctx, const char *name, const char *yaml,
				      const struct flow_env *env, struct diag *d);

/* Static checks on a loaded set (called by flow_set_load): dangling next, unreachable steps,
 * variables used before set, unknown operations, duplicate keywords/codes; every screen a
 * person can be shown (a text, with the retry or help said before it, the common messages,
 * the list of services) measured against the SMS parts and USSD screen of env; on USSD,
 * questions a keypad cannot answer and texts asking to type letters. Returns the number of
 * errors added to d (warnings: a list of services over one SMS part). */
unsigned flow_check(const struct flow_set *fs, const struct flow_env *env, struct diag *d);

/* Name lookups go through a hash built by the loader once a flow's steps, then the set's
 * flows, are final (flow_index_steps, flow_index_flows): a flow of 20,000 steps loads in
 * linear time. Without an index (a set built by hand) they fall back to a linear search. The
 * first of duplicate names wins, as with the linear search. */
struct flow_index;
void flow_index_steps(void *ctx, struct flow *f);
void flow_index_flows(void *ctx, struct flow_set *fs);
const struct flow *flow_find(const struct flow_set *fs, const char *name);
int flow_step_index(const struct flow *f, const char *name);
/* A keyword (and a word people send first, such as STOP) is at most this many bytes, its
 * terminating NUL included, once folded: the matcher reads that much of each word. */
#define FLOW_KEYWORD_MAX 64

/* Flow whose keyword starts text, or NULL. Case, accents, punctuation around the keyword and
 * spaces, hyphens or dots inside it do not matter: "rdv ?", "RDV!", "R.D.V" match RDV, and
 * "RENDEZ VOUS", "Rendez-vous" match RENDEZVOUS (up to 3 words joined). What follows is free
 * ("RDV caf"), unless whole: then the text must be the keyword alone (noise aside). */
const struct flow *flow_match_keyword(const struct flow_set *fs, const char *text, bool whole);
/* flow_match_keyword(fs, text, false). */
const struct flow *flow_by_keyword(const struct flow_set *fs, const char *text);
/* The one flow with a keyword a typing slip away from the start of text (one letter changed,
 * added or dropped, or two neighbours swapped: RDB, DOSIER), *keyword set to it; NULL when
 * no flow or more than one is that close, for words under 3 letters or made of digits, and
 * when the first word is a common word (AIDE is help, not a slip on AIDES). */
const struct flow *flow_keyword_near(const struct flow_set *fs, const char *text,
				     const char **keyword);
/* Flow whose USSD code is code (exact, "*4321*1#"), or NULL. */
const struct flow *flow_by_ussd(const struct flow_set *fs, const char *code);
/* The text for lang (falling back to French) and channel. NULL when the text is absent. */
const char *flow_text_pick(const struct flow_text *t, const char *lang, bool ussd);

/* Upper case without accents, spaces trimmed and collapsed: "  Rdv " -> "RDV", "arrêt" ->
 * "ARRET". Used for keywords, global words and choices. */
char *flow_fold_word(void *ctx, const char *utf8);
/* An answer as people type it, folded like a word and without the noise around it: "1.",
 * " 1 !", "1)", "*1", "(1)", "1#" -> "1", "Oui !" -> "OUI"; keycap emoji and full-width
 * digits become digits. Punctuation alone folds to "". */
char *flow_fold_answer(void *ctx, const char *utf8);

#endif
