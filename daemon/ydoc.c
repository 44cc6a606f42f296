/* YAML documents with locations, over libyaml's document API (yaml_parser_load). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <osmocom/core/talloc.h>

#include "guichet/ydoc.h"
#include "guichet/strhash.h"

/* Line and column (1-based, column in characters like libyaml's marks) of byte offset off. */
static void offset_to_linecol(const char *text, size_t len, size_t off, unsigned *line,
			      unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		unsigned char c = text[i];

		if (c == '\n') {
			(*line)++;
			*col = 1;
		} else if ((c & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* Byte offset of the character index idx (libyaml's marks count characters). */
static size_t char_to_byte(const char *text, size_t len, size_t idx)
{
	size_t i = 0;

	while (i < len && idx--) {
		i++;
		while (i < len && ((unsigned char)text[i] & 0xc0) == 0x80)
			i++;
	}
	return i;
}

/* An unquoted USSD code (`ussd: *4321*4#`) is read by YAML as an alias (`*name`), and
 * libyaml's words for it say nothing of USSD: recognise it and say what to write. Returns
 * true when reported. */
static bool report_unquoted_code(struct ydoc *y, const yaml_mark_t *at, const char *text,
				 size_t len)
{
	size_t b = char_to_byte(text, len, at->index), e = b;

	if (b >= len || text[b] != '*')
		return false;
	while (e < len && !strchr(" \t\r\n,]}", text[e]))
		e++;
	diag_add(y->diag, DIAG_ERROR, y->file, at->line + 1, at->column + 1,
		 "YAML reads a value starting with * as an alias: quote USSD codes: \"%.*s\"",
		 (int)(e - b), text + b);
	return true;
}

static void report_parser_error(struct ydoc *y, const yaml_parser_t *p, const char *text,
				size_t len)
{
	unsigned line, col;

	if (p->context && !strcmp(p->context, "while scanning an alias") &&
	    report_unquoted_code(y, &p->context_mark, text, len))
		return;
	if (p->problem && !strcmp(p->problem, "found undefined alias") &&
	    report_unquoted_code(y, &p->problem_mark, text, len))
		return;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		diag_add(y->diag, DIAG_ERROR, y->file, 0, 0, "out of memory while reading YAML");
		return;
	case YAML_READER_ERROR:
		offset_to_linecol(text, len, p->problem_offset, &line, &col);
		diag_add(y->diag, DIAG_ERROR, y->file, line, col, "YAML syntax error: %s",
			 p->problem ? p->problem : "unreadable text");
		return;
	default:
		break;
	}
	line = p->problem_mark.line + 1;
	col = p->problem_mark.column + 1;
	if (p->context && (p->context_mark.line != p->problem_mark.line ||
			   p->context_mark.column != p->problem_mark.column))
		diag_add(y->diag, DIAG_ERROR, y->file, line, col,
			 "YAML syntax error: %s (%s at line %zu, column %zu)",
			 p->problem ? p->problem : "invalid YAML", p->context,
			 p->context_mark.line + 1, p->context_mark.column + 1);
	else if (p->context)
		diag_add(y->diag, DIAG_ERROR, y->file, line, col, "YAML syntax error: %s (%s)",
			 p->problem ? p->problem : "invalid YAML", p->context);
	else
		diag_add(y->diag, DIAG_ERROR, y->file, line, col, "YAML syntax error: %s",
			 p->problem ? p->problem : "invalid YAML");
}

static int load_buffer(struct ydoc *y, const char *text, size_t len)
{
	yaml_parser_t parser;
	int rc = 0;

	if (!yaml_parser_initialize(&parser)) {
		diag_add(y->diag, DIAG_ERROR, y->file, 0, 0, "out of memory while reading YAML");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &y->doc)) {
		report_parser_error(y, &parser, text, len);
		rc = -1;
	} else {
		y->loaded = true;
	}
	yaml_parser_delete(&parser);
	return rc;
}

static void ydoc_init(struct ydoc *y, void *ctx, const char *name, struct diag *d)
{
	memset(y, 0, sizeof(*y));
	y->file = talloc_strdup(ctx, name ? name : "<string>");
	y->diag = d;
}

int ydoc_load_string(struct ydoc *y, void *ctx, const char *name, const char *text, struct diag *d)
{
	size_t len;

	ydoc_init(y, ctx, name, d);
	len = text ? strlen(text) : 0;
	if (len > YDOC_MAX_BYTES) {
		diag_add(d, DIAG_ERROR, y->file, 0, 0, "file too large (more than %u bytes)",
			 YDOC_MAX_BYTES);
		return -1;
	}
	return load_buffer(y, text ? text : "", len);
}

int ydoc_load_file(struct ydoc *y, void *ctx, const char *path, struct diag *d)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	ydoc_init(y, ctx, path, d);
	f = fopen(path, "rb");
	if (!f) {
		diag_add(d, DIAG_ERROR, y->file, 0, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	buf = talloc_size(ctx, YDOC_MAX_BYTES + 1);
	if (!buf) {
		diag_add(d, DIAG_ERROR, y->file, 0, 0, "out of memory");
		goto out;
	}
	len = fread(buf, 1, YDOC_MAX_BYTES + 1, f);
	if (ferror(f)) {
		diag_add(d, DIAG_ERROR, y->file, 0, 0, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (len > YDOC_MAX_BYTES) {
		diag_add(d, DIAG_ERROR, y->file, 0, 0, "file too large (more than %u bytes)",
			 YDOC_MAX_BYTES);
		goto out;
	}
	rc = load_buffer(y, buf, len);
out:
	talloc_free(buf);
	fclose(f);
	return rc;
}

void ydoc_free(struct ydoc *y)
{
	if (!y)
		return;
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = false;
	talloc_free(y->file);
	y->file = NULL;
}

yaml_node_t *ydoc_root(struct ydoc *y)
{
	if (!y->loaded)
		return NULL;
	return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *ydoc_get(struct ydoc *y, yaml_node_t *map, const char *key)
{
	unsigned i, n;

	if (!ydoc_is_map(map))
		return NULL;
	n = ydoc_len(map);
	for (i = 0; i < n; i++) {
		const char *k = ydoc_scalar(ydoc_map_key(y, map, i));

		if (k && !strcmp(k, key))
			return ydoc_map_value(y, map, i);
	}
	return NULL;
}

const char *ydoc_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool ydoc_is_map(const yaml_node_t *n)
{
	return n && n->type == YAML_MAPPING_NODE;
}

bool ydoc_is_seq(const yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE;
}

bool ydoc_is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = ydoc_scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

const char *ydoc_kind(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return ydoc_is_null(n) ? "nothing" : "text";
	default:
		return "nothing";
	}
}

unsigned ydoc_line(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

unsigned ydoc_col(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.column + 1 : 0;
}

unsigned ydoc_len(const yaml_node_t *n)
{
	if (ydoc_is_map(n))
		return n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (ydoc_is_seq(n))
		return n->data.sequence.items.top - n->data.sequence.items.start;
	return 0;
}

yaml_node_t *ydoc_map_key(struct ydoc *y, yaml_node_t *map, unsigned i)
{
	if (!ydoc_is_map(map) || i >= ydoc_len(map))
		return NULL;
	return yaml_document_get_node(&y->doc, map->data.mapping.pairs.start[i].key);
}

yaml_node_t *ydoc_map_value(struct ydoc *y, yaml_node_t *map, unsigned i)
{
	if (!ydoc_is_map(map) || i >= ydoc_len(map))
		return NULL;
	return yaml_document_get_node(&y->doc, map->data.mapping.pairs.start[i].value);
}

yaml_node_t *ydoc_seq_item(struct ydoc *y, yaml_node_t *seq, unsigned i)
{
	if (!ydoc_is_seq(seq) || i >= ydoc_len(seq))
		return NULL;
	return yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i]);
}

static void ydoc_vreport(struct ydoc *y, enum diag_level lvl, const yaml_node_t *at,
			 const char *fmt, va_list ap)
{
	diag_vadd(y->diag, lvl, y->file, ydoc_line(at), ydoc_col(at), fmt, ap);
}

void ydoc_error(struct ydoc *y, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ydoc_vreport(y, DIAG_ERROR, at, fmt, ap);
	va_end(ap);
}

void ydoc_warning(struct ydoc *y, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ydoc_vreport(y, DIAG_WARNING, at, fmt, ap);
	va_end(ap);
}

static void dup_error(struct ydoc *y, yaml_node_t *kn, yaml_node_t *prev, const char *k)
{
	ydoc_error(y, kn, "duplicate key `%s` (first at line %u, column %u)", k, ydoc_line(prev),
		   ydoc_col(prev));
}

/* Duplicates are found through a hash of the keys seen when the map is large (a flow's
 * `steps:` may hold thousands): linear in the map's size, not quadratic. */
unsigned ydoc_check_keys(struct ydoc *y, yaml_node_t *map, const char *const *allowed, unsigned n)
{
	unsigned i, j, len, bad = 0;
	uint32_t *seen = NULL, mask = 0;

	if (!ydoc_is_map(map))
		return 0;
	len = ydoc_len(map);
	if (len > 16) {
		uint32_t size = 32;

		while (size < 2 * len)
			size *= 2;
		seen = calloc(size, sizeof(*seen));
		mask = size - 1;
	}
	for (i = 0; i < len; i++) {
		yaml_node_t *kn = ydoc_map_key(y, map, i);
		const char *k = ydoc_scalar(kn);
		const char *sugg;
		bool known = false;

		if (!k) {
			ydoc_error(y, kn, "a key must be a plain word, found %s", ydoc_kind(kn));
			bad++;
			continue;
		}
		if (seen) {
			/* Open addressing: a slot holds 1 + the position of the first key with
			 * that hash chain's name. */
			uint32_t hh = strhash(k, 0) & mask;

			for (; seen[hh]; hh = (hh + 1) & mask) {
				yaml_node_t *prev = ydoc_map_key(y, map, seen[hh] - 1);

				if (!strcmp(ydoc_scalar(prev), k)) {
					dup_error(y, kn, prev, k);
					bad++;
					break;
				}
			}
			if (!seen[hh])
				seen[hh] = i + 1;
		} else {
			for (j = 0; j < i; j++) {
				yaml_node_t *prev = ydoc_map_key(y, map, j);
				const char *pk = ydoc_scalar(prev);

				if (pk && !strcmp(pk, k)) {
					dup_error(y, kn, prev, k);
					bad++;
					break;
				}
			}
		}
		for (j = 0; j < n; j++) {
			if (!strcmp(allowed[j], k)) {
				known = true;
				break;
			}
		}
		if (known || !allowed)
			continue;
		bad++;
		sugg = diag_suggest(k, allowed, n);
		if (sugg) {
			ydoc_error(y, kn, "unknown key `%s` \u2014 did you mean `%s`?", k, sugg);
		} else {
			char *list = talloc_strdup(y->diag, "");

			for (j = 0; j < n && list; j++)
				list = talloc_asprintf_append(list, "%s%s", j ? ", " : "", allowed[j]);
			ydoc_error(y, kn, "unknown key `%s` (expected one of: %s)", k,
				   list ? list : "?");
			talloc_free(list);
		}
	}
	free(seen);
	return bad;
}

int ydoc_uint(struct ydoc *y, yaml_node_t *n, unsigned *out)
{
	const char *s = ydoc_scalar(n);
	unsigned long v;
	char *end;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s)) {
		if (s)
			ydoc_error(y, n, "expected a whole number, found `%s`", s);
		else
			ydoc_error(y, n, "expected a whole number, found %s", ydoc_kind(n));
		return -1;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v > UINT_MAX) {
		ydoc_error(y, n, "number `%s` is too large", s);
		return -1;
	}
	*out = v;
	return 0;
}

int ydoc_bool(struct ydoc *y, yaml_node_t *n, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	const char *s = ydoc_scalar(n);
	unsigned i;

	for (i = 0; s && i < 3; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	if (s)
		ydoc_error(y, n, "expected true or false, found `%s`", s);
	else
		ydoc_error(y, n, "expected true or false, found %s", ydoc_kind(n));
	return -1;
}

int ydoc_duration(struct ydoc *y, yaml_node_t *n, unsigned *seconds)
{
	const char *s = ydoc_scalar(n);
	unsigned long long v = 0, mult = 1;
	const char *p;

	if (!s || !*s)
		goto bad;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT_MAX)
			goto bad;
	}
	if (p == s)
		goto bad;
	switch (*p) {
	case '\0':
		break;
	case 's':
		p++;
		break;
	case 'm':
		mult = 60;
		p++;
		break;
	case 'h':
		mult = 3600;
		p++;
		break;
	case 'd':
		mult = 86400;
		p++;
		break;
	default:
		goto bad;
	}
	if (*p || v * mult > UINT_MAX)
		goto bad;
	*seconds = (unsigned)(v * mult);
	return 0;
bad:
	if (s)
		ydoc_error(y, n, "bad duration `%s`: expected a number of seconds, or a number "
			   "followed by s, m, h or d (90s, 15m, 2h, 1d)", s);
	else
		ydoc_error(y, n, "expected a duration (90s, 15m, 2h, 1d), found %s", ydoc_kind(n));
	return -1;
}

const char *ydoc_string(struct ydoc *y, yaml_node_t *n)
{
	const char *s = ydoc_scalar(n);

	if (!s && n)
		ydoc_error(y, n, "expected text, found %s", ydoc_kind(n));
	return s;
}

int ydoc_port(struct ydoc *y, yaml_node_t *n, unsigned min, unsigned *out)
{
	unsigned v;

	if (ydoc_uint(y, n, &v))
		return -1;
	if (v < min || v > 65535) {
		ydoc_error(y, n, "port must be between %u and 65535", min);
		return -1;
	}
	*out = v;
	return 0;
}

const char *ydoc_listen(struct ydoc *y, yaml_node_t *n)
{
	unsigned char tmp[16];
	const char *s = ydoc_string(y, n);

	if (!s)
		return NULL;
	if (inet_pton(AF_INET, s, tmp) != 1 && inet_pton(AF_INET6, s, tmp) != 1) {
		ydoc_error(y, n, "listen must be an IPv4 or IPv6 address, found `%s`", s);
		return NULL;
	}
	return s;
}
