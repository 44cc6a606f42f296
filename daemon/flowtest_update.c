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
