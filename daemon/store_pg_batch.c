/* The PostgreSQL store's writes of one kind gathered into one statement per transaction.
 *
 * Inside a transaction, a reply added, a message marked done, a reply marked taken or
 * sent, the SMSC's id of a part and the day's spend are writes nobody waits for, each one
 * row, several per received text. Each statement costs the server its own start (executor, constraints)
 * whatever its size: kept here, they go as one statement per kind over arrays
 * (id = ANY($1), unnest), sent (without waiting, like pg_defer) before the next statement
 * whose result is needed and before the commit, so that every read of the transaction sees
 * them. Sent later than writes of other kinds made after them: these commute with those
 * (other tables, or rows those never touch: a reply is taken or sent only once it exists,
 * and a write of an outbox row by id that is not gathered, outbound_failed, reads its
 * result, so everything gathered goes first). */
#include <string.h>

#include "guichet/store_pg.h"

enum { B_DONE, B_TAKEN, B_SENT, _B_IDS };

/* The bounds ($2, $3) repeat what the array says: without them a table without statistics
 * yet (a new database, before autovacuum's first ANALYZE) gets a generic plan that scans
 * it whole for "id = ANY"; with them the primary key's index is the plan, always. */
static const char *const ids_sql[_B_IDS] = {
	[B_DONE] = "UPDATE inbound SET done = true"
		   " WHERE id = ANY($1::bigint[]) AND id BETWEEN $2 AND $3",
	[B_TAKEN] = "UPDATE outbound SET state = 'taken', attempts = attempts + 1, taken_by = $4"
		    " WHERE id = ANY($1::bigint[]) AND id BETWEEN $2 AND $3 AND state = 'queued'",
	[B_SENT] = "UPDATE outbound SET state = 'sent', body = NULL, recipient = NULL,"
		   " taken_by = NULL WHERE id = ANY($1::bigint[]) AND id BETWEEN $2 AND $3"
		   " AND state IN ('queued', 'taken')",
};
const char *pg_batch_sql(unsigned kind)
{
	return kind < _B_IDS ? ids_sql[kind] : NULL;
}

static const char *const ids_what[_B_IDS] = { "inbound_done", "outbound_taken", "outbound_sent" };

static const char remote_sql[] =
	"INSERT INTO remote_ids(via, remote, outbound_id, created)"
	" SELECT v, r, i, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(v, r, i)"
	" ON CONFLICT (via, remote) DO UPDATE SET outbound_id = excluded.outbound_id,"
	" created = excluded.created";

static const char outbound_sql[] =
	"INSERT INTO outbound(id, via, recipient, body, coding, parts, attempts, not_before_ms,"
	" state, created) SELECT i, v, r, b, c, p, a, n, 'queued', t FROM unnest($1::bigint[],"
	" $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],"
	" $8::bigint[], $9::bigint[]) AS u(i, v, r, b, c, p, a, n, t)";

static const char spend_sql[] =
	"INSERT INTO spend(day, via, host, parts)"
	" SELECT d, v, $4, p FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(d, v, p)"
	" ON CONFLICT (day, via, host) DO UPDATE SET parts = spend.parts + excluded.parts";

/* The owner of a wait is the host that started the call: a host that stores the session
 * again for the same call (it answered a text with "please wait") leaves the owner as it
 * was (store_pg_session.c). */
static const char session_put_sql[] =
	"INSERT INTO sessions(key, data, deadline, waiting_call, owner)"
	" SELECT k, d, t, w, CASE WHEN w IS NULL THEN NULL ELSE $5::bigint END"
	" FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bigint[]) AS u(k, d, t, w)"
	" ON CONFLICT (key) DO UPDATE SET data = excluded.data,"
	" deadline = excluded.deadline, waiting_call = excluded.waiting_call,"
	" owner = CASE WHEN excluded.waiting_call IS NULL THEN NULL"
	"  WHEN sessions.waiting_call = excluded.waiting_call"
	"   AND sessions.owner IS NOT NULL THEN sessions.owner"
	"  ELSE excluded.owner END";

static const char session_del_sql[] = "DELETE FROM sessions WHERE key = ANY($1::text[])";

/* A session stored (data) or removed (data NULL). */
struct pg_row_session {
	const char *key, *waiting;	/* waiting: the call's id as text, or NULL */
	const void *data;
	size_t len;
	int64_t deadline;
};

/* No ON CONFLICT: inbound_ahead found the duplicates; a text another host adds at the same
 * moment fails the commit on the unique key, a conflict run again (pg_fail). */
static const char inbound_sql[] =
	"INSERT INTO inbound(id, channel, via, sender, body, received, dedup, done)"
	" SELECT i, c, v, s, b, r, d, n > 0 FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
	" $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])"
	" AS u(i, c, v, s, b, r, d, n)";

struct pg_row_in {
	int64_t id, channel, received, done;	/* done: marked so before it was sent */
	const char *via, *from, *text, *dedup;	/* text, dedup NULL: forgotten */
};

struct pg_row_out {
	int64_t id, coding, parts, attempts, not_before, created;
	const char *via, *to, *text;
};

struct pg_batch {
	void *ctx;		/* the strings below */
	struct pg_row_out out[PG_BATCH_MAX];	/* outbox rows added */
	unsigned n_out;
	int64_t ids[_B_IDS][PG_BATCH_MAX];
	unsigned n_ids[_B_IDS];
	struct { const char *via, *remote; int64_t id; } remote[PG_BATCH_MAX];
	unsigned n_remote;
	int64_t remote_at;
	struct { int64_t day; const char *via; uint64_t parts; } spend[PG_BATCH_MAX];
	unsigned n_spend;
	struct pg_row_session sessions[PG_BATCH_MAX];
	unsigned n_sessions;
	struct pg_row_in in[PG_AHEAD_MAX];	/* received messages added */
	unsigned n_in;
};

void pg_batch_reset(struct pg *q)
{
	struct pg_batch *b = q->batch;

	if (!b)
		return;
	memset(b->n_ids, 0, sizeof(b->n_ids));
	b->n_out = b->n_remote = b->n_spend = b->n_sessions = b->n_in = 0;
	TALLOC_FREE(b->ctx);
}

/* The batch to add to, or NULL when the transaction is lost (out of memory: it is now). */
static struct pg_batch *batch_of(struct pg *q)
{
	if (q->pipe_failed)
		return NULL;
	if (!q->batch)
		q->batch = talloc_zero(q, struct pg_batch);
	if (q->batch && !q->batch->ctx)
		q->batch->ctx = talloc_named_const(q->batch, 0, "pg batch strings");
	if (q->batch && q->batch->ctx)
		return q->batch;
	q->pipe_failed = true;
	snprintf(q->err, sizeof(q->err), "store: out of memory");
	return NULL;
}

/* An array literal of n elements (each at v + i * stride): integers as they are, strings
 * quoted with " and \\ escaped (a number, a transport's name, an SMSC's id or a text may
 * hold , { } " or spaces), bytes as \\x and hex. Sized first, written once: these carry
 * the texts of a whole group write. NULL for want of memory. */
char *pg_array_ints(void *ctx, const int64_t *v, unsigned n, size_t stride)
{
	char *s = talloc_array(ctx, char, 2 + (size_t)n * 21);
	size_t k = 0;

	if (!s)
		return NULL;
	s[k++] = '{';
	for (unsigned i = 0; i < n; i++)
		k += (size_t)sprintf(s + k, "%s%" PRId64, i ? "," : "",
				     *(const int64_t *)((const char *)v + i * stride));
	s[k++] = '}';
	s[k] = '\0';
	return s;
}

char *pg_array_texts(void *ctx, const char *const *v, unsigned n, size_t stride)
{
	size_t len = 3, k = 0;

	for (unsigned i = 0; i < n; i++) {
		const char *t = *(const char *const *)((const char *)v + i * stride);
		len += 6;
		for (; t && *t; t++)
			len += (*t == '"' || *t == '\\') ? 2 : 1;
	}
	char *s = talloc_array(ctx, char, len);
	if (!s)
		return NULL;
	s[k++] = '{';
	for (unsigned i = 0; i < n; i++) {
		const char *t = *(const char *const *)((const char *)v + i * stride);
		if (i)
			s[k++] = ',';
		if (!t) {
			memcpy(s + k, "NULL", 4);
			k += 4;
			continue;
		}
		s[k++] = '"';
		for (; *t; t++) {
			if (*t == '"' || *t == '\\')
				s[k++] = '\\';
			s[k++] = *t;
		}
		s[k++] = '"';
	}
	s[k++] = '}';
	s[k] = '\0';
	return s;
}

char *pg_array_bytea(void *ctx, const void *const *data, const size_t *len, unsigned n)
{
	static const char hex[] = "0123456789abcdef";
	size_t size = 3, k = 0;

	for (unsigned i = 0; i < n; i++)
		size += 6 + 2 * len[i];
	char *s = talloc_array(ctx, char, size);
	if (!s)
		return NULL;
	s[k++] = '{';
	for (unsigned i = 0; i < n; i++) {
		const unsigned char *d = data[i];
		/* "\\x..." in the literal: the array's quoting takes one backslash. */
		memcpy(s + k, i ? ",\"\\\\x" : "\"\\\\x", i ? 5 : 4);
		k += i ? 5 : 4;
		for (size_t j = 0; j < len[i]; j++) {
			s[k++] = hex[d[j] >> 4];
			s[k++] = hex[d[j] & 15];
		}
		s[k++] = '"';
	}
	s[k++] = '}';
	s[k] = '\0';
	return s;
}

/* Sends one gathered statement without waiting (pg_defer); its strings are in libpq's
 * buffer when that returns. 0 or -1; outside a transaction it runs at once: the number of
 * rows changed, or -1. */
static int send_batch(struct pg *q, const char *what, const char *sql, struct params *p)
{
	for (int i = 0; i < p->n; i++) {
		if (!p->v[i] && p->fmt[i] == 0 && p->len[i] == -1) {
			q->pipe_failed = q->piped;
			snprintf(q->err, sizeof(q->err), "%s: out of memory", what);
			return -1;
		}
	}
	int n = pg_defer(q, what, sql, p);	/* outside a transaction: pg_change's */

	return n < 0 ? -1 : q->piped ? 0 : n;
}

/* A string parameter that may be NULL for want of memory: marked so that send_batch
 * refuses it (len -1) rather than send a NULL array. */
static void p_arr(struct params *p, const char *s)
{
	p_text(p, s);
	if (!s)
		p->len[p->n - 1] = -1;
}

/* The sessions stored, then those removed: a key is in one of them at most (batch_session),
 * so the two statements commute. In a transaction they are sent without waiting (0 or -1);
 * outside one they run at once (the rows changed, or -1). */
static int write_sessions(struct pg *q, void *ctx, const struct pg_row_session *rows,
			  unsigned n_rows)
{
	const char *keys[PG_BATCH_MAX], *waiting[PG_BATCH_MAX];
	const void *data[PG_BATCH_MAX];
	size_t len[PG_BATCH_MAX];
	int64_t deadline[PG_BATCH_MAX];
	unsigned n = 0, n_del = 0;
	int rc = 0;

	for (unsigned i = 0; i < n_rows; i++) {
		if (!rows[i].data)
			continue;
		keys[n] = rows[i].key;
		data[n] = rows[i].data;
		len[n] = rows[i].len;
		deadline[n] = rows[i].deadline;
		waiting[n++] = rows[i].waiting;
	}
	if (n) {
		struct params p = { .n = 0 };

		p_arr(&p, pg_array_texts(ctx, keys, n, sizeof(keys[0])));
		p_arr(&p, pg_array_bytea(ctx, data, len, n));
		p_arr(&p, pg_array_ints(ctx, deadline, n, sizeof(deadline[0])));
		p_arr(&p, pg_array_texts(ctx, waiting, n, sizeof(waiting[0])));
		p_int(&p, q->host);
		rc = send_batch(q, "session_put", session_put_sql, &p);
	}
	for (unsigned i = 0; i < n_rows; i++)
		if (!rows[i].data)
			keys[n_del++] = rows[i].key;
	if (rc >= 0 && n_del) {
		struct params p = { .n = 0 };

		p_arr(&p, pg_array_texts(ctx, keys, n_del, sizeof(keys[0])));
		rc = send_batch(q, "session_del", session_del_sql, &p);
	}
	return rc;
}

/* The nine arrays of outbound rows (id, via, recipient, body, coding, parts, attempts,
 * not_before_ms, created) appended to p, under ctx. */
static void out_arrays(void *ctx, struct params *p, const struct pg_row_out *o, unsigned n)
{
	size_t z = sizeof(*o);

	p_arr(p, pg_array_ints(ctx, &o->id, n, z));
	p_arr(p, pg_array_texts(ctx, &o->via, n, z));
	p_arr(p, pg_array_texts(ctx, &o->to, n, z));
	p_arr(p, pg_array_texts(ctx, &o->text, n, z));
	p_arr(p, pg_array_ints(ctx, &o->coding, n, z));
	p_arr(p, pg_array_ints(ctx, &o->parts, n, z));
	p_arr(p, pg_array_ints(ctx, &o->attempts, n, z));
	p_arr(p, pg_array_ints(ctx, &o->not_before, n, z));
	p_arr(p, pg_array_ints(ctx, &o->created, n, z));
}

int pg_batch_take_out(struct pg *q, const char *via, int64_t now_ms, void *ctx,
		      struct params *p)
{
	struct pg_batch *b = q->batch;
	unsigned n = 0, kept = 0;

	if (!b || !b->n_out)
		return 0;
	struct pg_row_out *mine = talloc_array(ctx, struct pg_row_out, b->n_out);
	if (!mine)
		return -1;
	for (unsigned i = 0; i < b->n_out; i++) {
		const struct pg_row_out *o = &b->out[i];

		if (o->not_before <= now_ms && o->via && (!via || !strcmp(o->via, via)))
			mine[n++] = *o;
		else
			b->out[kept++] = *o;
	}
	if (n == 0)
		return 0;
	b->n_out = kept;
	out_arrays(ctx, p, mine, n);
	for (int k = 0; k < p->n; k++)
		if (p->len[k] == -1)
			return -1;
	return (int)n;
}

int pg_batch_flush(struct pg *q)
{
	struct pg_batch *b = q->batch;
	int rc = 0;

	if (!b || !q->piped || !b->ctx)
		return 0;
	if (q->pipe_failed) {
		pg_batch_reset(q);
		return -1;
	}
	if (b->n_in) {
		struct params p = { .n = 0 };
		const struct pg_row_in *x = b->in;
		size_t z = sizeof(*x);

		p_arr(&p, pg_array_ints(b->ctx, &x->id, b->n_in, z));
		p_arr(&p, pg_array_ints(b->ctx, &x->channel, b->n_in, z));
		p_arr(&p, pg_array_texts(b->ctx, &x->via, b->n_in, z));
		p_arr(&p, pg_array_texts(b->ctx, &x->from, b->n_in, z));
		p_arr(&p, pg_array_texts(b->ctx, &x->text, b->n_in, z));
		p_arr(&p, pg_array_ints(b->ctx, &x->received, b->n_in, z));
		p_arr(&p, pg_array_texts(b->ctx, &x->dedup, b->n_in, z));
		p_arr(&p, pg_array_ints(b->ctx, &x->done, b->n_in, z));
		rc = send_batch(q, "inbound_add", inbound_sql, &p);
	}
	/* Replies added first: the others may be about them. */
	if (rc == 0 && b->n_out) {
		struct params p = { .n = 0 };

		out_arrays(b->ctx, &p, b->out, b->n_out);
		rc = send_batch(q, "outbound_add", outbound_sql, &p);
	}
	/* Taken before sent: the order in which one reply goes through them. */
	for (int k = 0; rc == 0 && k < _B_IDS; k++) {
		struct params p = { .n = 0 };

		if (!b->n_ids[k])
			continue;
		int64_t lo = b->ids[k][0], hi = lo;
		for (unsigned i = 1; i < b->n_ids[k]; i++) {
			lo = b->ids[k][i] < lo ? b->ids[k][i] : lo;
			hi = b->ids[k][i] > hi ? b->ids[k][i] : hi;
		}
		p_arr(&p, pg_array_ints(b->ctx, b->ids[k], b->n_ids[k], sizeof(int64_t)));
		p_int(&p, lo);
		p_int(&p, hi);
		if (k == B_TAKEN)
			p_int(&p, q->host);
		rc = send_batch(q, ids_what[k], ids_sql[k], &p);
	}
	if (rc == 0 && b->n_remote) {
		struct params p = { .n = 0 };

		p_arr(&p, pg_array_texts(b->ctx, &b->remote[0].via, b->n_remote, sizeof(b->remote[0])));
		p_arr(&p, pg_array_texts(b->ctx, &b->remote[0].remote, b->n_remote,
				      sizeof(b->remote[0])));
		p_arr(&p, pg_array_ints(b->ctx, &b->remote[0].id, b->n_remote, sizeof(b->remote[0])));
		p_int(&p, b->remote_at);
		rc = send_batch(q, "outbound_remote", remote_sql, &p);
	}
	if (rc == 0 && b->n_spend) {
		struct params p = { .n = 0 };
		int64_t parts[PG_BATCH_MAX];

		for (unsigned i = 0; i < b->n_spend; i++)
			parts[i] = (int64_t)b->spend[i].parts;
		p_arr(&p, pg_array_ints(b->ctx, &b->spend[0].day, b->n_spend, sizeof(b->spend[0])));
		p_arr(&p, pg_array_texts(b->ctx, &b->spend[0].via, b->n_spend, sizeof(b->spend[0])));
		p_arr(&p, pg_array_ints(b->ctx, parts, b->n_spend, sizeof(int64_t)));
		p_int(&p, q->host);
		rc = send_batch(q, "spend_add", spend_sql, &p);
	}
	if (rc == 0 && b->n_sessions)
		rc = write_sessions(q, b->ctx, b->sessions, b->n_sessions) < 0 ? -1 : 0;
	pg_batch_reset(q);
	return rc;
}

static int batch_id(struct pg *q, int kind, int64_t id)
{
	struct pg_batch *b = batch_of(q);

	if (!b)
		return -1;
	if (b->n_ids[kind] == PG_BATCH_MAX && pg_batch_flush(q) < 0)
		return -1;
	if (!(b = batch_of(q)))
		return -1;
	b->ids[kind][b->n_ids[kind]++] = id;
	return 0;
}

int pg_batch_done(struct pg *q, int64_t id)
{
	return batch_id(q, B_DONE, id);
}

int pg_batch_taken(struct pg *q, int64_t id)
{
	return batch_id(q, B_TAKEN, id);
}

int pg_batch_sent(struct pg *q, int64_t id)
{
	return batch_id(q, B_SENT, id);
}

int pg_batch_outbound(struct pg *q, int64_t id, const struct store_outbound *out,
		      int64_t created)
{
	struct pg_batch *b = batch_of(q);

	if (!b)
		return -1;
	if (b->n_out == PG_BATCH_MAX && (pg_batch_flush(q) < 0 || !(b = batch_of(q))))
		return -1;
	struct pg_row_out *o = &b->out[b->n_out];
	*o = (struct pg_row_out){ .id = id, .coding = out->coding, .parts = out->parts,
				  .attempts = out->attempts, .not_before = out->not_before,
				  .created = created };
	o->via = out->via ? talloc_strdup(b->ctx, out->via) : NULL;
	o->to = out->to ? talloc_strdup(b->ctx, out->to) : NULL;
	o->text = out->text ? talloc_strdup(b->ctx, out->text) : NULL;
	if ((out->via && !o->via) || (out->to && !o->to) || (out->text && !o->text)) {
		q->pipe_failed = true;
		snprintf(q->err, sizeof(q->err), "outbound_add: out of memory");
		return -1;
	}
	b->n_out++;
	return 0;
}

int pg_batch_remote(struct pg *q, int64_t id, const char *via, const char *remote, int64_t now)
{
	struct pg_batch *b = batch_of(q);
	unsigned i;

	if (!b)
		return -1;
	/* One statement cannot change a row twice (ON CONFLICT): the same id again (an
	 * SMSC reusing ids) replaces the one gathered. */
	for (i = 0; i < b->n_remote; i++)
		if (!strcmp(b->remote[i].via, via) && !strcmp(b->remote[i].remote, remote))
			break;
	if (i == PG_BATCH_MAX) {
		if (pg_batch_flush(q) < 0 || !(b = batch_of(q)))
			return -1;
		i = 0;
	}
	if (i == b->n_remote) {
		b->remote[i].via = talloc_strdup(b->ctx, via);
		b->remote[i].remote = talloc_strdup(b->ctx, remote);
		if (!b->remote[i].via || !b->remote[i].remote) {
			q->pipe_failed = true;
			snprintf(q->err, sizeof(q->err), "outbound_remote: out of memory");
			return -1;
		}
		b->n_remote++;
	}
	b->remote[i].id = id;
	b->remote_at = now;
	return 0;
}

int pg_batch_spend(struct pg *q, int64_t day, const char *via, unsigned parts)
{
	struct pg_batch *b = batch_of(q);
	unsigned i;

	if (!b)
		return -1;
	for (i = 0; i < b->n_spend; i++)
		if (b->spend[i].day == day && !strcmp(b->spend[i].via, via))
			break;
	if (i == PG_BATCH_MAX) {
		if (pg_batch_flush(q) < 0 || !(b = batch_of(q)))
			return -1;
		i = 0;
	}
	if (i == b->n_spend) {
		b->spend[i].day = day;
		b->spend[i].via = talloc_strdup(b->ctx, via);
		b->spend[i].parts = 0;
		if (!b->spend[i].via) {
			q->pipe_failed = true;
			snprintf(q->err, sizeof(q->err), "spend_add: out of memory");
			return -1;
		}
		b->n_spend++;
	}
	b->spend[i].parts += parts;
	return 0;
}

/* In a transaction, a second write of the same session sends what is gathered first: the
 * owner of a wait depends on the row as the write before left it. Outside one the write
 * runs at once. data NULL: removed. */
int pg_batch_session(struct pg *q, const char *key, const void *data, size_t len,
		     int64_t deadline, const int64_t *waiting)
{
	char call[24];

	if (!q->piped) {
		if (waiting)
			snprintf(call, sizeof(call), "%" PRId64, *waiting);
		struct pg_row_session row = { .key = key, .data = data, .len = len,
					      .deadline = deadline, .waiting = waiting ? call : NULL };
		void *ctx = talloc_named_const(q, 0, "session write");
		int n = ctx ? write_sessions(q, ctx, &row, 1) : -1;
		talloc_free(ctx);
		if (!ctx)
			snprintf(q->err, sizeof(q->err), "session_put: out of memory");
		return n;
	}
	struct pg_batch *b = batch_of(q);
	if (!b)
		return -1;
	for (unsigned i = 0; i < b->n_sessions; i++) {
		if (!strcmp(b->sessions[i].key, key)) {
			if (pg_batch_flush(q) < 0 || !(b = batch_of(q)))
				return -1;
			break;
		}
	}
	if (b->n_sessions == PG_BATCH_MAX && (pg_batch_flush(q) < 0 || !(b = batch_of(q))))
		return -1;
	struct pg_row_session *x = &b->sessions[b->n_sessions];
	*x = (struct pg_row_session){ .key = talloc_strdup(b->ctx, key), .len = len,
				      .deadline = deadline };
	x->data = data ? talloc_memdup(b->ctx, data, len) : NULL;
	x->waiting = waiting ? talloc_asprintf(b->ctx, "%" PRId64, *waiting) : NULL;
	if (!x->key || (data && !x->data) || (waiting && !x->waiting)) {
		q->pipe_failed = true;
		snprintf(q->err, sizeof(q->err), "session_put: out of memory");
		return -1;
	}
	b->n_sessions++;
	return 0;
}

int pg_batch_inbound(struct pg *q, int64_t id, const struct store_inbound *in)
{
	struct pg_batch *b = batch_of(q);

	if (!b)
		return -1;
	if (b->n_in == PG_AHEAD_MAX && (pg_batch_flush(q) < 0 || !(b = batch_of(q))))
		return -1;
	struct pg_row_in *x = &b->in[b->n_in];
	*x = (struct pg_row_in){ .id = id, .channel = in->channel, .received = in->received };
	x->via = in->via ? talloc_strdup(b->ctx, in->via) : NULL;
	x->from = in->from ? talloc_strdup(b->ctx, in->from) : NULL;
	x->text = in->text ? talloc_strdup(b->ctx, in->text) : NULL;
	x->dedup = in->dedup ? talloc_strdup(b->ctx, in->dedup) : NULL;
	if ((in->via && !x->via) || (in->from && !x->from) || (in->text && !x->text) ||
	    (in->dedup && !x->dedup)) {
		q->pipe_failed = true;
		snprintf(q->err, sizeof(q->err), "inbound_add: out of memory");
		return -1;
	}
	b->n_in++;
	return 0;
}

static struct pg_row_in *pending_in(struct pg *q, int64_t id)
{
	struct pg_batch *b = q->batch;

	for (unsigned i = 0; b && q->piped && i < b->n_in; i++)
		if (b->in[i].id == id)
			return &b->in[i];
	return NULL;
}

bool pg_batch_inbound_forget(struct pg *q, int64_t id)
{
	struct pg_row_in *x = pending_in(q, id);

	if (x)
		x->text = x->dedup = NULL;
	return x != NULL;
}

bool pg_batch_inbound_done(struct pg *q, int64_t id)
{
	struct pg_row_in *x = pending_in(q, id);

	if (x)
		x->done = 1;
	return x != NULL;
}
