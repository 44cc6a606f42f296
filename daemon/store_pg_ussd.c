/* The PostgreSQL store: USSD aggregator dialogues shared by the hosts of one database
 * (store.h's ussd_* ops), one row per dialogue in ussd_dialogues (store_pg_schema.c).
 *
 * A row carries a step, the number of screens sent: a put stores the state only if it goes
 * further than the row (or the row has expired, or it is a dialogue's first screen), in one
 * statement, so that two hosts continuing the same state race and one of them loses (1)
 * instead of both answering from it. Expired rows are left out by get and put, and deleted
 * by sweep. Each statement commits on its own outside a transaction: the row is in the
 * database before the screen is sent, so the next request, on whichever host, finds it.
 * The table is UNLOGGED (migration 7): no WAL and no fsync per screen; a crash of the
 * database or a failover to a standby loses the dialogues in flight, which are refused. */
#include <string.h>

#include "guichet/store_pg.h"

static const char ussd_put_sql[] =
	"INSERT INTO ussd_dialogues(id, via, sender, code, history, session, step, expires_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	" ON CONFLICT (id) DO UPDATE SET via = excluded.via, sender = excluded.sender,"
	" code = excluded.code, history = excluded.history, session = excluded.session,"
	" step = excluded.step, expires_at = excluded.expires_at"
	" WHERE excluded.step = 1 OR ussd_dialogues.step < excluded.step"
	"  OR ussd_dialogues.expires_at <= $9";

int pg_ussd_put(struct store *st, const struct store_ussd *u, int64_t now)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };

	if (!u->id || !*u->id || u->session_len > INT32_MAX) {
		snprintf(q->err, sizeof(q->err), "ussd_put: no dialogue id, or state too large");
		return -1;
	}
	p_text(&p, u->id);
	p_text(&p, u->via ? u->via : "");
	p_text(&p, u->from ? u->from : "");
	p_text(&p, u->code ? u->code : "");
	p_text(&p, u->history ? u->history : "");
	p_bin(&p, u->session ? u->session : "", u->session_len);
	p_int(&p, u->step);
	p_int(&p, u->expires_at);
	p_int(&p, now);
	/* Not deferred: whether it was refused is the answer. */
	return changed(pg_change(q, "ussd_put", ussd_put_sql, &p));
}

/* Binary results (for the session's bytes): the numbers are read as text. */
static const char ussd_get_sql[] =
	"SELECT via, sender, code, history, session, step::text, expires_at::text"
	" FROM ussd_dialogues WHERE id = $1 AND expires_at > $2";

int pg_ussd_get(struct store *st, const char *id, int64_t now, struct store_ussd *u, void *ctx)
{
	struct pg *q = pg_of(st);
	struct params p = { .n = 0 };
	PGresult *r;
	char *session;
	size_t len;

	p_text(&p, id);
	p_int(&p, now);
	if (!(r = pg_run(q, "ussd_get", ussd_get_sql, &p, 1)))
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 1;
	}
	len = (size_t)PQgetlength(r, 0, 4);
	/* One byte more, always NUL, as session_decode's other callers give it. */
	session = talloc_zero_size(ctx, len + 1);
	*u = (struct store_ussd){
		.id = talloc_strdup(ctx, id),
		.via = col_text_nn(ctx, r, 0, 0),
		.from = col_text_nn(ctx, r, 0, 1),
		.code = col_text_nn(ctx, r, 0, 2),
		.history = col_text_nn(ctx, r, 0, 3),
		.session = session,
		.session_len = len,
		.step = col_int(r, 0, 5),
		.expires_at = col_int(r, 0, 6),
	};
	if (session)
		memcpy(session, PQgetvalue(r, 0, 4), len);
	PQclear(r);
	if (!u->id || !u->via || !u->from || !u->code || !u->history || !session) {
		snprintf(q->err, sizeof(q->err), "ussd_get: out of memory");
		return -1;
	}
	return 0;
}

int pg_ussd_drop(struct store *st, const char *id, int64_t step)
{
	struct params p = { .n = 0 };

	p_text(&p, id);
	p_int(&p, step);
	return changed(pg_change(pg_of(st), "ussd_drop",
				 "DELETE FROM ussd_dialogues WHERE id = $1 AND step <= $2", &p));
}

int pg_ussd_sweep(struct store *st, int64_t now)
{
	struct params p = { .n = 0 };

	p_int(&p, now);
	return pg_change(pg_of(st), "ussd_sweep",
			 "DELETE FROM ussd_dialogues WHERE expires_at <= $1", &p);
}
