/* The PostgreSQL store: inbound messages, the outbox (claimed with FOR UPDATE SKIP LOCKED
 * so that two hosts never hand the same row to a transport) and the SMSC's ids of the parts
 * sent (delivery receipts after a restart). */
#include <string.h>
#include <time.h>

#include "guichet/store_pg.h"

/* --- inbound --- */

static const char inbound_insert[] =
	"INSERT INTO inbound(channel, via, sender, body, received, dedup)"
	" VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT (via, dedup) WHERE dedup IS NOT NULL DO NOTHING RETURNING id";

static void inbound_params(struct params *p, const struct store_inbound *in)
{
	p->n = 0;
	p_int(p, in->channel);
	p_text(p, in->via);
	p_text(p, in->from);
	p_text(p, in->text);
	p_int(p, in->received);
	p_text(p, in->dedup);
}

/* The key of the session the step that follows in's inbound_add reads, or false when it
 * reads none (only an SMS from a number opens or continues one here). */
static bool inbound_key(const struct store_inbound *in, char key[SESSION_KEY_MAX])
{
	if (in->channel != CHANNEL_SMS || !in->from)
		return false;
	snprintf(key, SESSION_KEY_MAX, "sms:%s", in->from);
	return true;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

void pg_inbound_ahead_reset(struct pg *q)
{
	pg_session_forget_ahead(q);	/* a row of ahead_sessions */
	PQclear(q->ahead_sessions);
	q->ahead_sessions = NULL;
	q->n_ahead = q->ahead_next = 0;
	TALLOC_FREE(q->ahead_ctx);
}

void pg_inbound_ahead_stale(struct pg *q, const char *key)
{
	for (unsigned i = q->ahead_next; i < q->n_ahead; i++)
		if (q->ahead[i].read && !strcmp(q->ahead[i].key, key))
			q->ahead[i].read = false;
}

/* The messages of a group write, checked in one statement: each one's id drawn, and
 * whether it was stored before (its dedup key known). Nothing is written here: the rows are
 * added with the transaction's other writes (store_pg_batch.c), done already when the
 * router answered them by then (it answers each in the transaction that adds it) and, for
 * a secret answer, without its text (inbound_forget): what a person typed there never
 * reaches the database, its WAL or its replicas. Sent after the sessions are locked, it sees the rows
 * of a host that held one of them; two hosts adding one text at once, the second's commit
 * fails on the unique key, a conflict run again (pg_fail). */
/* A lateral probe of the dedup key's index per text: as EXISTS in the select list, the
 * planner may hash the whole table for each statement instead. */
static const char inbound_check_many[] =
	"SELECT nextval('inbound_id_seq'), x.id IS NOT NULL, u.o"
	" FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(v, d, o)"
	" LEFT JOIN LATERAL (SELECT id FROM inbound WHERE inbound.via = u.v"
	" AND inbound.dedup = u.d AND inbound.dedup IS NOT NULL LIMIT 1) x ON true ORDER BY u.o";

/* Their people's sessions (data first, as pg_session_select) read and locked in one
 * statement, in key order: two hosts' group writes lock the sessions they share in the same
 * order, so they wait for each other rather than deadlock. */
static const char session_select_many[] =
	"SELECT data, key FROM sessions WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE";

const char *pg_inbound_check_sql(void)
{
	return inbound_check_many;
}

/* The parameters of inbound_check_many for ins[0..n), under ctx: -1 for want of memory. */
static int inbound_arrays(void *ctx, struct params *p, const struct store_inbound *ins,
			  unsigned n)
{
	size_t z = sizeof(ins[0]);

	p->n = 0;
	p_text(p, pg_array_texts(ctx, &ins[0].via, n, z));
	p_text(p, pg_array_texts(ctx, &ins[0].dedup, n, z));
	return p->v[0] && p->v[1] ? 0 : -1;
}

/* An earlier message of the same batch with the same dedup key: a re-delivery. */
static bool dup_in_batch(const struct pg *q, unsigned i)
{
	const struct pg_ahead *a = &q->ahead[i];

	for (unsigned j = 0; a->dedup && j < i; j++)
		if (q->ahead[j].id && q->ahead[j].dedup && !strcmp(q->ahead[j].dedup, a->dedup) &&
		    same_text(q->ahead[j].via, a->via))
			return true;
	return false;
}

/* Up to PG_AHEAD_MAX received messages added, and their people's sessions read and locked,
 * in one round trip of two statements; the rest go one by one through inbound_add. A
 * person's session is read for their first message here: the step that text applies may
 * change it, and the next one reads it again. */
/* ins[0..n) noted in q->ahead (copies under c), and the keys of the sessions to read (each
 * person's once, for their first message here): their number, or -1 for want of memory. */
static int ahead_note(struct pg *q, void *c, const struct store_inbound *ins, unsigned n,
		      const char **keys)
{
	unsigned n_keys = 0;

	for (unsigned i = 0; i < n; i++) {
		struct pg_ahead *a = &q->ahead[i];

		*a = (struct pg_ahead){ .channel = ins[i].channel, .received = ins[i].received,
					.session_row = -1 };
		a->via = ins[i].via ? talloc_strdup(c, ins[i].via) : NULL;
		a->from = ins[i].from ? talloc_strdup(c, ins[i].from) : NULL;
		a->text = ins[i].text ? talloc_strdup(c, ins[i].text) : NULL;
		a->dedup = ins[i].dedup ? talloc_strdup(c, ins[i].dedup) : NULL;
		if ((ins[i].via && !a->via) || (ins[i].from && !a->from) ||
		    (ins[i].text && !a->text) || (ins[i].dedup && !a->dedup))
			return -1;
		if (!inbound_key(&ins[i], a->key))
			continue;
		unsigned j;
		for (j = 0; j < i && strcmp(q->ahead[j].key, a->key); j++)
			;
		if (j == i) {
			a->read = true;
			keys[n_keys++] = a->key;
		}
	}
	return (int)n_keys;
}

/* The check's answer: each message's id, or 0 when it is a duplicate; the new ones go to
 * the batch. 0, or -1 (the transaction is lost). */
static int ahead_checked(struct pg *q, const struct store_inbound *ins, unsigned n,
			 const PGresult *check)
{
	if (PQntuples(check) != (int)n) {
		q->pipe_failed = true;
		snprintf(q->err, sizeof(q->err), "inbound_add: %d rows answered for %u messages",
			 PQntuples(check), n);
		return -1;
	}
	for (unsigned row = 0; row < n; row++) {
		int64_t o = col_int(check, (int)row, 2);
		if (o < 1 || o > (int64_t)n) {
			q->pipe_failed = true;
			snprintf(q->err, sizeof(q->err), "inbound_add: answer out of order");
			return -1;
		}
		q->ahead[o - 1].id = col_int(check, (int)row, 0);
		q->ahead[o - 1].seen = !strcmp(PQgetvalue(check, (int)row, 1), "t");
	}
	for (unsigned i = 0; i < n; i++) {
		struct pg_ahead *a = &q->ahead[i];

		if (a->seen || dup_in_batch(q, i))
			a->id = 0;	/* stored before, or twice here */
		else if (pg_batch_inbound(q, a->id, &ins[i]) < 0)
			return -1;
	}
	return 0;
}

int pg_inbound_ahead(struct store *st, const struct store_inbound *ins, unsigned n)
{
	struct pg *q = pg_of(st);
	const char *sql[2] = { session_select_many, inbound_check_many };
	const int binary[2] = { 1, 0 };
	struct params p[2];
	PGresult *res[2];
	const char **keys;
	int n_keys;

	if (!q->piped)
		return 0;	/* outside a transaction each is committed alone anyway */
	if (q->pipe_failed)
		return -1;
	pg_inbound_ahead_reset(q);
	if (n > PG_AHEAD_MAX)
		n = PG_AHEAD_MAX;
	if (n == 0)
		return 0;
	void *c = q->ahead_ctx = talloc_named_const(q, 0, "inbound ahead");
	keys = c ? talloc_array(c, const char *, n) : NULL;
	if (!keys || inbound_arrays(c, &p[1], ins, n) < 0 ||
	    (n_keys = ahead_note(q, c, ins, n, keys)) < 0) {
		TALLOC_FREE(q->ahead_ctx);
		return 0;	/* only a saving: inbound_add does without */
	}
	p[0].n = 0;
	p_text(&p[0], pg_array_texts(c, keys, (unsigned)n_keys, sizeof(keys[0])));
	if (!p[0].v[0]) {
		TALLOC_FREE(q->ahead_ctx);
		return 0;
	}
	/* From here on the messages are the transaction's: their inbound_add calls must follow. */
	q->n_ahead = n;
	bool reads = n_keys > 0;
	if (pg_run_many(q, "inbound_add", reads ? 2 : 1, sql + !reads, p + !reads,
			binary + !reads, res + !reads) < 0)
		return -1;
	int rc = ahead_checked(q, ins, n, res[1]);
	PQclear(res[1]);
	if (!reads || rc < 0) {
		PQclear(reads ? res[0] : NULL);
		return rc;
	}
	q->ahead_sessions = res[0];
	for (int row = 0; row < PQntuples(res[0]); row++)
		for (unsigned i = 0; i < n; i++)
			if (q->ahead[i].read && !strcmp(q->ahead[i].key, PQgetvalue(res[0], row, 1)))
				q->ahead[i].session_row = row;
	return 0;
}

/* in's answer when it was added ahead: 0 or 1 as inbound_add's; -1 when it is not the
 * message announced next (the rows added ahead would be left unanswered: the transaction
 * is lost); 2 when nothing was added ahead. */
static int inbound_from_ahead(struct pg *q, struct store_inbound *in)
{
	struct pg_ahead *a;

	if (q->ahead_next >= q->n_ahead)
		return 2;
	a = &q->ahead[q->ahead_next];
	if (a->channel != (int)in->channel || a->received != in->received ||
	    !same_text(a->via, in->via) || !same_text(a->from, in->from) ||
	    !same_text(a->text, in->text) || !same_text(a->dedup, in->dedup)) {
		snprintf(q->err, sizeof(q->err), "inbound_add: not the message announced next"
			 " (inbound_ahead)");
		q->pipe_failed = true;
		return -1;
	}
	q->ahead_next++;
	pg_session_forget_ahead(q);
	if (a->read)
		pg_session_ahead(q, a->key, a->session_row);
	if (!a->id)
		return 1;
	in->id = a->id;
	return 0;
}

int pg_inbound_add(struct store *st, struct store_inbound *in)
{
	struct pg *q = pg_of(st);
	struct params p;
	PGresult *r;
	int n;

	if ((n = inbound_from_ahead(q, in)) != 2)
		return n;
	/* In a transaction, announced alone: added with the transaction's writes (a secret
	 * answer's text never sent). */
	if (q->piped) {
		if (q->pipe_failed || pg_inbound_ahead(st, in, 1) < 0)
			return -1;
		if ((n = inbound_from_ahead(q, in)) != 2)
			return n;
		q->pipe_failed = true;
		snprintf(q->err, sizeof(q->err), "inbound_add: out of memory");
		return -1;
	}
	inbound_params(&p, in);
	if (!(r = pg_run(q, "inbound_add", inbound_insert, &p, 0)))
		return -1;
	n = PQntuples(r);
	if (n > 0)
		in->id = col_int(r, 0, 0);
	PQclear(r);
	return n > 0 ? 0 : 1;
}

int pg_by_id(struct store *st, int64_t id, const char *what, const char *sql)
{
	struct params p = { .n = 0 };
	int n;

	p_int(&p, id);
	n = pg_change(pg_of(st), what, sql, &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

int pg_inbound_done(struct store *st, int64_t id)
{
	struct pg *q = pg_of(st);

	if (pg_batch_inbound_done(q, id))
		return 0;	/* not sent yet: it goes done */
	if (q->piped)
		return pg_batch_done(q, id);
	return pg_by_id(st, id, "inbound_done", "UPDATE inbound SET done = true WHERE id = $1");
}

int pg_inbound_forget(struct store *st, int64_t id)
{
	if (pg_batch_inbound_forget(pg_of(st), id))
		return 0;	/* not sent yet: it goes without the text */
	return pg_by_id(st, id, "inbound_forget",
			"UPDATE inbound SET body = NULL, dedup = NULL WHERE id = $1");
}

int pg_inbound_pending(struct store *st,
		       void (*fn)(void *data, const struct store_inbound *in), void *data)
{
	struct pg *q = pg_of(st);
	PGresult *r = pg_run(q, "inbound_pending",
			     "SELECT id, channel, via, sender, body, received, dedup FROM inbound"
			     " WHERE NOT done ORDER BY id", NULL, 0);
	int i, n;

	if (!r)
		return -1;
	/* The rows are all in r before the first call: fn may use the store. */
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct store_inbound in = {
			.id = col_int(r, i, 0),
			.channel = (enum channel)col_int(r, i, 1),
			.via = PQgetvalue(r, i, 2),
			.from = PQgetvalue(r, i, 3),
			.text = PQgetvalue(r, i, 4),
			.received = col_int(r, i, 5),
			.dedup = PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
		};
		fn(data, &in);
	}
	PQclear(r);
	return 0;
}

/* --- outbound --- */

/* The next outbox id: from the block this host reserved (one nextval of a sequence that
 * counts by PG_OUT_IDS), so that adding a row is a write nobody waits for. Ids left unused
 * (a closed store, a block asked for ahead and not used) are gaps, as after a rolled-back
 * insert. Within a host ids grow with time; between hosts only roughly: "oldest first" is
 * per host.
 *
 * In a transaction the next block is asked for ahead, when a quarter of this one is left:
 * sent in the pipeline without waiting, its answer read with a round trip the transaction
 * makes anyway (the commit's), so that a group write seldom waits for a nextval of its own.
 * A sequence is not transactional: the block is this host's even if the transaction that
 * asked for it rolls back. */
static const char next_block_sql[] = "SELECT nextval('outbound_id_seq')";

/* The block asked for ahead, if its answer came and it is newer than the one in use: true
 * when it is the one in use now. */
static bool take_ahead(struct pg *q)
{
	int64_t v = 0;

	if (!q->out_pre)
		return false;
	if (PQntuples(q->out_pre) > 0)
		v = col_int(q->out_pre, 0, 0);
	PQclear(q->out_pre);
	q->out_pre = NULL;
	if (v < q->out_end)
		return false;
	q->out_next = v;
	q->out_end = v + PG_OUT_IDS;
	return true;
}

static int next_out_id(struct pg *q, int64_t *id)
{
	if (q->out_next >= q->out_end && !take_ahead(q)) {
		PGresult *r = pg_run(q, "outbound_add: ids", next_block_sql, NULL, 0);

		if (!r)
			return -1;
		/* A block asked for ahead and answered by this round trip is older than r's:
		 * it goes first, r's is the next. */
		if (take_ahead(q)) {
			q->out_pre = r;
		} else {
			q->out_next = col_int(r, 0, 0);
			q->out_end = q->out_next + PG_OUT_IDS;
			PQclear(r);
		}
	}
	*id = q->out_next++;
	if (q->piped && !q->out_pre_asked && !q->out_pre &&
	    q->out_end - q->out_next <= PG_OUT_IDS / 4) {
		if (pg_defer_keep(q, "outbound_add: ids", next_block_sql, NULL, &q->out_pre) < 0)
			return -1;
		q->out_pre_asked = true;	/* until the transaction ends */
	}
	return 0;
}

int pg_outbound_add(struct store *st, struct store_outbound *out)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	int64_t id;

	if (next_out_id(q, &id) < 0)
		return -1;
	if (q->piped) {
		if (pg_batch_outbound(q, id, out, (int64_t)time(NULL)) < 0)
			return -1;
		out->id = id;
		pg_note_added(q, out->id);
		return 0;
	}
	p_int(&p, id);
	p_text(&p, out->via);
	p_text(&p, out->to);
	p_text(&p, out->text);
	p_int(&p, out->coding);
	p_int(&p, out->parts);
	p_int(&p, out->attempts);
	p_int(&p, out->not_before);
	p_int(&p, (int64_t)time(NULL));
	if (pg_defer(q, "outbound_add", "INSERT INTO outbound(id, via, recipient, body, coding,"
		     " parts, attempts, not_before_ms, state, created)"
		     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9)", &p) < 0)
		return -1;
	out->id = id;
	pg_note_added(q, out->id);
	return 0;
}

int pg_outbound_due(struct store *st, const char *via, int64_t now_ms,
		    struct store_outbound *out, unsigned max, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int i, n;

	if (max == 0)
		return 0;
	if (pg_lease(q, false) < 0)
		return -1;
	p_text(&p, via);
	p_int(&p, now_ms);
	p_int(&p, max);
	/* SKIP LOCKED: rows another host is handing out right now are not ours to read. */
	r = pg_run(q, "outbound_due",
		   "SELECT id, via, recipient, body, coding, parts, attempts, not_before_ms"
		   " FROM outbound WHERE state = 'queued' AND not_before_ms <= $2"
		   " AND ($1::text IS NULL OR via = $1) ORDER BY id LIMIT $3"
		   " FOR UPDATE SKIP LOCKED", &p, 0);
	if (!r)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct store_outbound *o = &out[i];

		o->id = col_int(r, i, 0);
		o->via = col_text_nn(ctx, r, i, 1);
		o->to = col_text_nn(ctx, r, i, 2);
		o->text = col_text_nn(ctx, r, i, 3);
		o->coding = col_int(r, i, 4) == TEXT_UCS2 ? TEXT_UCS2 : TEXT_GSM7;
		o->parts = (unsigned)col_int(r, i, 5);
		o->attempts = (unsigned)col_int(r, i, 6);
		o->not_before = col_int(r, i, 7);
		if (!o->via || !o->to || !o->text) {
			snprintf(q->err, sizeof(q->err), "outbound_due: out of memory");
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return n;
}

int pg_outbound_taken(struct store *st, int64_t id)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	int n;

	p_int(&p, id);
	p_int(&p, q->host);
	pg_note_taken(q, id);
	if (q->piped)
		return pg_batch_taken(q, id);
	n = pg_change(q, "outbound_taken", "UPDATE outbound SET state = 'taken',"
		      " attempts = attempts + 1, taken_by = $2 WHERE id = $1 AND state = 'queued'", &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

int pg_outbound_sent(struct store *st, int64_t id)
{
	if (pg_of(st)->piped)
		return pg_batch_sent(pg_of(st), id);
	return pg_by_id(st, id, "outbound_sent", "UPDATE outbound SET state = 'sent', body = NULL,"
			" recipient = NULL, taken_by = NULL WHERE id = $1 AND state IN ('queued', 'taken')");
}

int pg_outbound_failed(struct store *st, int64_t id, int64_t not_before_ms, bool give_up)
{
	struct params p = { .n = 0 };
	int n;

	if (give_up)
		return pg_by_id(st, id, "outbound_failed", "UPDATE outbound SET state = 'dead',"
				" taken_by = NULL WHERE id = $1 AND state IN ('queued', 'taken')");
	p_int(&p, id);
	p_int(&p, not_before_ms);
	n = pg_change(pg_of(st), "outbound_failed", "UPDATE outbound SET state = 'queued',"
		      " not_before_ms = $2, taken_by = NULL WHERE id = $1 AND state IN ('queued', 'taken')",
		      &p);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

int pg_outbound_attempts(struct store *st, int64_t id, unsigned *n)
{
	struct params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_int(&p, id);
	r = pg_run(pg_of(st), "outbound_attempts", "SELECT attempts FROM outbound WHERE id = $1",
		   &p, 0);
	if (!r)
		return -1;
	rc = PQntuples(r) ? 0 : 1;
	if (rc == 0)
		*n = (unsigned)col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

/* --- the outbox claimed at commit --- */

/* outbound_due and outbound_taken in one statement: the rows due (SKIP LOCKED: another
 * host's claim in progress is not ours), marked taken by this host, returned as they were
 * before the take. RETURNING follows no order: pg_claims_end sorts them by id. */
static const char claim_sql[] =
	"UPDATE outbound SET state = 'taken', attempts = attempts + 1, taken_by = $4"
	" WHERE id IN (SELECT id FROM outbound WHERE state = 'queued' AND not_before_ms <= $2"
	" AND ($1::text IS NULL OR via = $1) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
	" RETURNING id, via, recipient, body, coding, parts, attempts - 1, not_before_ms";

/* The claim of a transaction that added replies for the transport: the rows queued before
 * go first, as claim_sql takes them; the replies added ($5...$13, in id order) are added by
 * this statement, those the room left allows taken already. A reply added and taken in
 * one transaction is written once instead of twice (added queued, then rewritten taken: a
 * new row version and new index entries, as `state` is in the indexes' conditions). */
static const char claim_sql_new[] =
	"WITH old AS (UPDATE outbound SET state = 'taken', attempts = attempts + 1, taken_by = $4"
	" WHERE id IN (SELECT id FROM outbound WHERE state = 'queued' AND not_before_ms <= $2"
	" AND ($1::text IS NULL OR via = $1) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
	" RETURNING id, via, recipient, body, coding, parts, attempts - 1, not_before_ms),"
	" room AS (SELECT $3 - count(*) AS n FROM old),"
	" new AS (INSERT INTO outbound(id, via, recipient, body, coding, parts, attempts,"
	" not_before_ms, state, taken_by, created) SELECT i, v, r, b, c, p,"
	" a + CASE WHEN k <= room.n THEN 1 ELSE 0 END, nb,"
	" CASE WHEN k <= room.n THEN 'taken' ELSE 'queued' END,"
	" CASE WHEN k <= room.n THEN $4::bigint END, t"
	" FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[],"
	" $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])"
	" WITH ORDINALITY AS u(i, v, r, b, c, p, a, nb, t, k), room"
	" RETURNING id, via, recipient, body, coding, parts, attempts, not_before_ms, state)"
	" SELECT * FROM old UNION ALL SELECT id, via, recipient, body, coding, parts,"
	" attempts - 1, not_before_ms FROM new WHERE state = 'taken'";

const char *pg_claim_sql(void)
{
	return claim_sql;
}

int pg_claims_absorb(struct pg *q)
{
	for (unsigned i = 0; i < q->n_claims; i++) {
		struct pg_claim *c = &q->claims[i];

		c->p.n = 0;
		p_text(&c->p, c->via);
		p_int(&c->p, c->now_ms);
		p_int(&c->p, c->max);
		p_int(&c->p, q->host);
		int n = pg_batch_take_out(q, c->via, c->now_ms, q->claims_ctx, &c->p);
		if (n < 0) {
			snprintf(q->err, sizeof(q->err), "outbound_take_at_commit: out of memory");
			q->pipe_failed = true;
			return -1;
		}
		c->n_new = (unsigned)n;
	}
	return 0;
}

int pg_outbound_take_at_commit(struct store *st, const char *via, int64_t now_ms,
			       struct store_outbound *out, unsigned max, int *n, void *ctx)
{
	struct pg *q = pg_of(st);
	struct pg_claim *c;

	*n = 0;
	if (!q->piped) {
		snprintf(q->err, sizeof(q->err), "outbound_take_at_commit: no transaction open");
		return -1;
	}
	if (q->pipe_failed)
		return -1;
	if (max == 0)
		return 0;
	if (q->n_claims == PG_CLAIM_MAX) {
		snprintf(q->err, sizeof(q->err), "outbound_take_at_commit: more than %d claims",
			 PG_CLAIM_MAX);
		q->pipe_failed = true;
		return -1;
	}
	/* As outbound_due: the lease renewed (and gone hosts' rows back) before claiming. */
	if (pg_lease(q, false) < 0)
		return -1;
	if (!q->claims_ctx && !(q->claims_ctx = talloc_named_const(q, 0, "pg claims")))
		goto oom;
	c = &q->claims[q->n_claims];
	*c = (struct pg_claim){ .now_ms = now_ms, .max = max, .out = out, .n = n, .ctx = ctx };
	if (via && !(c->via = talloc_strdup(q->claims_ctx, via)))
		goto oom;
	q->n_claims++;
	return 0;
oom:
	snprintf(q->err, sizeof(q->err), "outbound_take_at_commit: out of memory");
	q->pipe_failed = true;
	return -1;
}

int pg_claims_send(struct pg *q)
{
	for (unsigned i = 0; i < q->n_claims; i++) {
		struct pg_claim *c = &q->claims[i];

		if (pg_defer_keep(q, "outbound_take_at_commit", c->n_new ? claim_sql_new : claim_sql,
				  &c->p, &c->res) < 0)
			return -1;
	}
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct store_outbound *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* One claim's rows into its caller's out, oldest first: false when out of memory. */
static bool claim_give(struct pg_claim *c)
{
	const PGresult *r = c->res;
	int i, n = r ? PQntuples(r) : 0;

	if (n > (int)c->max)
		n = (int)c->max;	/* LIMIT says so; never more than out holds */
	for (i = 0; i < n; i++) {
		struct store_outbound *o = &c->out[i];

		o->id = col_int(r, i, 0);
		o->via = col_text_nn(c->ctx, r, i, 1);
		o->to = col_text_nn(c->ctx, r, i, 2);
		o->text = col_text_nn(c->ctx, r, i, 3);
		o->coding = col_int(r, i, 4) == TEXT_UCS2 ? TEXT_UCS2 : TEXT_GSM7;
		o->parts = (unsigned)col_int(r, i, 5);
		o->attempts = (unsigned)col_int(r, i, 6);
		o->not_before = col_int(r, i, 7);
		if (!o->via || !o->to || !o->text)
			return false;
	}
	qsort(c->out, (size_t)n, sizeof(c->out[0]), by_id);
	*c->n = n;
	return true;
}

void pg_claims_end(struct pg *q, bool ok)
{
	for (unsigned i = 0; i < q->n_claims; i++) {
		struct pg_claim *c = &q->claims[i];

		/* Committed: the rows are taken whatever happens here. Out of memory, this
		 * claim's are not handed out: they stay taken by this host until its next
		 * start, then come back counted as possible duplicates, as after a crash. */
		if (ok && !claim_give(c)) {
			*c->n = 0;
			ok = false;
			snprintf(q->err, sizeof(q->err), "outbound_take_at_commit: out of memory");
		}
		PQclear(c->res);
		c->res = NULL;
	}
	q->n_claims = 0;
	TALLOC_FREE(q->claims_ctx);
}

/* --- the SMSC's ids of sent parts --- */

int pg_outbound_remote(struct store *st, int64_t id, const char *via, const char *remote)
{
	struct params p = { .n = 0 };

	if (pg_of(st)->piped)
		return pg_batch_remote(pg_of(st), id, via ? via : "", remote ? remote : "",
				       (int64_t)time(NULL));
	p_text(&p, via);
	p_text(&p, remote);
	p_int(&p, id);
	p_int(&p, (int64_t)time(NULL));
	return pg_change(pg_of(st), "outbound_remote", "INSERT INTO remote_ids(via, remote,"
			 " outbound_id, created) VALUES ($1, $2, $3, $4) ON CONFLICT (via, remote)"
			 " DO UPDATE SET outbound_id = excluded.outbound_id, created = excluded.created",
			 &p) < 0 ? -1 : 0;
}

int pg_outbound_by_remote(struct store *st, const char *via, const char *remote,
			  int64_t *id)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_text(&p, via);
	p_text(&p, remote);
	r = pg_run(q, "outbound_by_remote", "SELECT outbound_id FROM remote_ids"
		   " WHERE via = $1 AND remote = $2", &p, 0);
	if (!r)
		return -1;
	rc = PQntuples(r) ? 0 : 1;
	if (rc == 0)
		*id = col_int(r, 0, 0);
	PQclear(r);
	return rc;
}
