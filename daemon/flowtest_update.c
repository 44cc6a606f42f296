/* Test dialogues, rewriting (guichet test --update): the expected texts of a dialogue file
 * become the replies got, comments and everything else kept (flowtest.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/flowtest.h"
#include "guichet/ydoc.h"

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

/* `scheduled:` with one item per message the step scheduled, the key at column indent. */
static char *yaml_scheduled(void *ctx, const struct flowtest_step_result *sr, unsigned indent)
{
	char *out;

	if (!sr->n_sched)
		return talloc_strdup(ctx, "scheduled: []");
	out = talloc_strdup(ctx, "scheduled:");
	for (unsigned i = 0; i < sr->n_sched; i++) {
		const struct flowtest_scheduled *g = &sr->sched[i];

		out = talloc_asprintf_append(out, "\n%*s- at: \"%s\"\n%*stext: %s", indent + 2, "",
					     flowtest_time(ctx, g->at), indent + 4, "",
					     yaml_text(ctx, g->text, indent + 4));
	}
	return out;
}

/* Replaces [start, stop) (characters, as libyaml counts them); insertions have
 * start == stop. */
struct edit {
	size_t start, stop;
	char *text;
};

/* Edits of one file, and where they come from. */
struct upd {
	void *tmp;
	const struct flowtest_result *r;
	struct diag *d;
	const char *src;
	size_t len;
	struct edit *edits;
	unsigned n;
	int reply_at;		/* the step's reply written in place of its contains (index into
				 * edits), where what is added goes after it; -1 none */
};

/* Last first; at one place, a replacement before an insertion (so that the insertion is not
 * replaced with it). */
static int cmp_edits(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? 1 : -1;
	return x->stop < y->stop ? 1 : x->stop > y->stop ? -1 : 0;
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

static void warn(struct upd *u, const struct flowtest_step *s, unsigned i, const char *why)
{
	diag_add(u->d, DIAG_WARNING, u->r->t->file, s->line, s->col, "step %u: %s", i + 1, why);
}

/* Replaces the value written from key to end (characters) with text. */
static void replace(struct upd *u, size_t start, size_t stop, char *text)
{
	struct edit *e = &u->edits[u->n++];

	e->start = byte_offset(u->src, u->len, start);
	e->stop = byte_offset(u->src, u->len, stop);
	e->text = text;
	/* a block sequence ends where the next key or item starts: after the indentation of the
	 * next line, which stays with that line */
	size_t b = e->stop;
	while (b > e->start && u->src[b - 1] == ' ')
		b--;
	if (b > e->start && u->src[b - 1] == '\n')
		e->stop = b;
	/* a block value ends after its line break: keep one */
	if (e->stop > 0 && u->src[e->stop - 1] == '\n')
		e->text = talloc_asprintf_append(e->text, "\n");
}

/* Removes the line(s) of the key written from start to stop, when nothing else is on them. */
static bool remove_lines(struct upd *u, size_t start, size_t stop)
{
	size_t a = byte_offset(u->src, u->len, start), b = byte_offset(u->src, u->len, stop);

	while (a > 0 && u->src[a - 1] == ' ')
		a--;
	if (a > 0 && u->src[a - 1] != '\n')
		return false;
	while (b < u->len && u->src[b - 1] != '\n')
		b++;
	u->edits[u->n++] = (struct edit){ a, b, talloc_strdup(u->tmp, "") };
	return true;
}

/* Column of the character at offset chars: where a key written there starts. */
static unsigned column_of(const struct upd *u, size_t chars)
{
	size_t b = byte_offset(u->src, u->len, chars), a = b;

	while (a > 0 && u->src[a - 1] != '\n')
		a--;
	return (unsigned)(b - a);
}

/* A failing step-level `contains:` becomes the exact text got (reply:, or replies: when the
 * step has no other step-level check). */
static void contains_edits(struct upd *u, const struct flowtest_step_result *sr, unsigned i)
{
	const struct flowtest_step *s = sr->step;
	const struct flowtest_expect *e = &s->expect[0];
	enum channel ch = u->r->t->channel;
	bool one = sr->n_got == 1 && sr->got[0].by == ch;

	if (!s->insert_at) {
		warn(u, s, i, "written { on one line }: fix its `contains:` by hand");
		return;
	}
	if (!one && (e->by >= 0 || e->coding >= 0 || e->parts >= 0 || e->end >= 0)) {
		warn(u, s, i, "its `contains:` fails and it has other checks for one reply, but "
		     "it got several: fix it by hand");
		return;
	}
	if (s->list_stop) {
		if (!remove_lines(u, s->contains_start, s->contains_stop)) {
			warn(u, s, i, "`contains:` shares its line with another key: fix it by hand");
			return;
		}
		replace(u, s->list_start, s->list_stop,
			yaml_replies(u->tmp, sr, ch, s->list_key_col));
		return;
	}
	u->reply_at = (int)u->n;
	replace(u, s->contains_start, s->contains_stop,
		yaml_replies(u->tmp, sr, ch, column_of(u, s->contains_start)));
}

/* The replies of step i: edits, or text to insert after its send line (*ins). */
static void reply_edits(struct upd *u, const struct flowtest_step_result *sr, unsigned i,
			char **ins)
{
	const struct flowtest_step *s = sr->step;
	enum channel ch = u->r->t->channel;
	bool texts_only = true;

	for (unsigned k = 0; k < s->n_expect; k++)
		texts_only &= s->expect[k].n_contains == 0;
	/* A step checked only for its size or end gets its text too. */
	bool written = s->list_stop != 0, no_reply = s->checked && !s->n_expect;
	bool add = !written && texts_only && !no_reply && s->insert_at;

	if (s->checked && !sr->replies_failed && !add)
		return;
	if (s->contains_stop && !s->replies_list) {
		contains_edits(u, sr, i);
		return;
	}
	if (s->checked && !add && !written) {
		warn(u, s, i, "only `reply:`, `replies:` and `contains:` are rewritten; fix this "
		     "one by hand");
		return;
	}
	if (!s->checked && !s->insert_at) {
		warn(u, s, i, "written { on one line }: add its reply by hand");
		return;
	}
	if (written) {
		replace(u, s->list_start, s->list_stop,
			yaml_replies(u->tmp, sr, ch, s->list_key_col));
		return;
	}
	*ins = talloc_asprintf_append(*ins, "%*s%s\n", s->key_col, "",
				      yaml_replies(u->tmp, sr, ch, s->key_col));
}

/* Text inserted after the line where the value ending at chars ends. */
static void insert_after(struct upd *u, size_t chars, const char *text)
{
	size_t at = byte_offset(u->src, u->len, chars);
	struct edit *e = &u->edits[u->n++];

	while (at < u->len && u->src[at - 1] != '\n')
		at++;
	e->start = e->stop = at;
	e->text = talloc_asprintf(u->tmp, "%s%s", at == u->len && u->src[u->len - 1] != '\n' ?
				  "\n" : "", text);
}

/* The messages step i scheduled: a failing `scheduled:` rewritten, a missing one added. */
static void sched_edits(struct upd *u, const struct flowtest_step_result *sr, unsigned i,
			char **ins)
{
	const struct flowtest_step *s = sr->step;

	if (s->sched_checked && sr->sched_failed && !s->insert_at) {
		warn(u, s, i, "written { on one line }: fix its `scheduled:` by hand");
	} else if (s->sched_checked && sr->sched_failed) {
		replace(u, s->sched_start, s->sched_stop,
			yaml_scheduled(u->tmp, sr, s->sched_key_col));
	} else if (!s->sched_checked && sr->n_sched) {
		char *text = talloc_asprintf(u->tmp, "%*s%s\n", s->key_col, "",
					     yaml_scheduled(u->tmp, sr, s->key_col));

		if (!s->insert_at)
			warn(u, s, i, "written { on one line }: add its `scheduled:` by hand");
		else if (s->list_stop > s->insert_at && !s->contains_stop)
			insert_after(u, s->list_stop, text);	/* after the written reply */
		else
			*ins = talloc_asprintf_append(*ins, "%s", text);
	}
}

/* Lines (text, ending with a line break) after what edit e writes, so that the reply comes
 * first. */
static void add_after(struct upd *u, struct edit *e, const char *text)
{
	size_t n = strlen(e->text);

	if (n && e->text[n - 1] == '\n')
		e->text = talloc_asprintf(u->tmp, "%s%s", e->text, text);
	else
		e->text = talloc_asprintf(u->tmp, "%s\n%.*s", e->text, (int)strlen(text) - 1, text);
}

static int write_file(struct upd *u, const char *file)
{
	char *src = talloc_strdup(u->tmp, u->src);

	qsort(u->edits, u->n, sizeof(*u->edits), cmp_edits);
	for (unsigned i = 0; i < u->n; i++)
		src = talloc_asprintf(u->tmp, "%.*s%s%s", (int)u->edits[i].start, src,
				      u->edits[i].text, src + u->edits[i].stop);
	char *tmpname = talloc_asprintf(u->tmp, "%s.tmp", file);
	FILE *f = fopen(tmpname, "wb");
	if (!f || fputs(src, f) < 0 || fclose(f) != 0 || rename(tmpname, file) < 0) {
		diag_add(u->d, DIAG_ERROR, file, 0, 0, "cannot write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int flowtest_update(void *ctx, const struct flowtest_result *r, struct diag *d)
{
	const struct flowtest *t = r->t;
	struct upd u = { .tmp = talloc_new(ctx), .r = r, .d = d };
	int changed = 0, rc = -1;
	char *src = read_all(u.tmp, t->file, &u.len);

	if (!src) {
		diag_add(d, DIAG_ERROR, t->file, 0, 0, "cannot read: %s", strerror(errno));
		goto out;
	}
	u.src = src;
	/* at most: the reply, a contains removed, the scheduled, one insertion */
	u.edits = talloc_zero_array(u.tmp, struct edit, 4 * t->n_steps + 1);
	for (unsigned i = 0; i < r->n_steps; i++) {
		const struct flowtest_step_result *sr = &r->steps[i];
		unsigned before = u.n;
		char *ins = talloc_strdup(u.tmp, "");

		u.reply_at = -1;

		if (!sr->step->send)
			continue;
		reply_edits(&u, sr, i, &ins);
		sched_edits(&u, sr, i, &ins);
		if (*ins && u.reply_at >= 0)
			add_after(&u, &u.edits[u.reply_at], ins);
		else if (*ins)
			insert_after(&u, sr->step->insert_at, ins);
		changed += u.n > before;
	}
	rc = changed;
	if (changed && write_file(&u, t->file) < 0)
		rc = -1;
out:
	talloc_free(u.tmp);
	return rc;
}
