/* The PostgreSQL store: hosts telling each other that there is work, instead of each
 * finding it by polling.
 *
 * A transaction that leaves outbox rows queued (added and not taken by the host itself in
 * the same transaction: replies for a transport another host has), adds scheduled messages
 * or puts back a dead host's rows sends NOTIFY guichet with its COMMIT (one round trip;
 * PostgreSQL delivers it only if the transaction commits). A transaction that claims
 * rows at commit (outbound_take_at_commit) learns which it took only after the COMMIT: its
 * NOTIFY goes through the server, which sends it if a row it added is still queued. A host that watches (the router,
 * through store_ops.watch) LISTENs on its connection, whose socket is an osmo_fd on the
 * daemon's loop: a notification from another host calls the watcher from the loop at once
 * (through a zero timer, never from inside a store operation), and it offers its outbox.
 * Notifications libpq reads while waiting for a statement's result are picked up after it. */
#include <string.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>

#include "guichet/store_pg.h"

#define CHANNEL "guichet"

void pg_note_reset(struct pg *q)
{
	q->n_added = 0;
	q->note_all = false;
}

/* Outside a transaction (autocommit), the row is committed already: tell the others now. */
static void note_now(struct pg *q)
{
	if (!pg_in_tx(q))
		PQclear(PQexec(q->db, "NOTIFY " CHANNEL));
}

void pg_note_added(struct pg *q, int64_t id)
{
	if (q->n_added < PG_NOTE_MAX)
		q->added[q->n_added++] = id;
	else
		q->note_all = true;
	note_now(q);
}

void pg_note_taken(struct pg *q, int64_t id)
{
	for (unsigned i = 0; i < q->n_added; i++)
		if (q->added[i] == id) {
			q->added[i] = q->added[--q->n_added];
			return;
		}
}

void pg_note_all(struct pg *q)
{
	q->note_all = true;
	note_now(q);
}

bool pg_note_due(const struct pg *q)
{
	return q->note_all || q->n_added > 0;
}

/* After the claims: whether a row this transaction added is still queued is known on the
 * server only. The bounds repeat the array, for the primary key's index (store_pg_batch.c
 * says why). */
static const char note_left_sql[] =
	"SELECT pg_notify('" CHANNEL "', '') WHERE EXISTS (SELECT 1 FROM outbound"
	" WHERE id = ANY($1::bigint[]) AND id BETWEEN $2 AND $3 AND state = 'queued')";

int pg_note_send(struct pg *q)
{
	char ids[PG_NOTE_MAX * 21 + 3];
	struct params p = { .n = 0 };
	size_t len = 0;
	int64_t lo, hi;

	if (q->note_all || q->n_claims == 0 || q->n_added == 0)
		return pg_defer(q, "commit: notify", "NOTIFY " CHANNEL, NULL) < 0 ? -1 : 0;
	lo = hi = q->added[0];
	ids[len++] = '{';
	for (unsigned i = 0; i < q->n_added; i++) {
		len += (size_t)snprintf(ids + len, sizeof(ids) - len, "%s%" PRId64, i ? "," : "",
					q->added[i]);
		lo = q->added[i] < lo ? q->added[i] : lo;
		hi = q->added[i] > hi ? q->added[i] : hi;
	}
	snprintf(ids + len, sizeof(ids) - len, "}");
	p_text(&p, ids);
	p_int(&p, lo);
	p_int(&p, hi);
	return pg_defer(q, "commit: notify", note_left_sql, &p) < 0 ? -1 : 0;
}

static void wake_fire(void *data)
{
	struct pg *q = data;

	if (q->wake)
		q->wake(q->wake_data);
}

void pg_notes_drain(struct pg *q)
{
	PGnotify *n;
	bool others = false;

	while ((n = PQnotifies(q->db))) {
		/* Our own commits wake nobody: this host knows what it did. */
		if (n->be_pid != PQbackendPID(q->db))
			others = true;
		PQfreemem(n);
	}
	if (others && q->wake && !osmo_timer_pending(&q->wake_timer))
		osmo_timer_schedule(&q->wake_timer, 0, 0);
}

static void unwatch_fd(struct pg *q)
{
	if (q->ofd.fd >= 0) {
		osmo_fd_unregister(&q->ofd);
		q->ofd.fd = -1;
	}
}

static int sock_event(struct osmo_fd *ofd, unsigned int what)
{
	struct pg *q = ofd->data;

	(void)what;
	/* A connection that broke reads as readable for ever: leave it to the reconnection at
	 * the next begin (pg_watch_reconnected). */
	if (!PQconsumeInput(q->db)) {
		unwatch_fd(q);
		return 0;
	}
	pg_notes_drain(q);
	return 0;
}

/* LISTEN and the socket on the loop, for the connection as it is now. */
static int watch_conn(struct pg *q)
{
	PGresult *r;
	int fd = PQsocket(q->db);

	unwatch_fd(q);
	if (!q->wake)
		return 0;
	if (fd < 0)
		return pg_fail(q, "watch: no socket", NULL);
	if (!(r = pg_run(q, "watch", "LISTEN " CHANNEL, NULL, 0)))
		return -1;
	PQclear(r);
	osmo_fd_setup(&q->ofd, fd, OSMO_FD_READ, sock_event, q, 0);
	if (osmo_fd_register(&q->ofd) < 0) {
		q->ofd.fd = -1;
		snprintf(q->err, sizeof(q->err), "watch: cannot register the connection's socket");
		return -1;
	}
	return 0;
}

void pg_watch_init(struct pg *q)
{
	q->ofd.fd = -1;
	osmo_timer_setup(&q->wake_timer, wake_fire, q);
}

int pg_watch_reconnected(struct pg *q)
{
	return q->wake ? watch_conn(q) : 0;
}

void pg_watch_stop(struct pg *q)
{
	unwatch_fd(q);
	osmo_timer_del(&q->wake_timer);
	q->wake = NULL;
}

int pg_watch(struct store *st, void (*fn)(void *data), void *data)
{
	struct pg *q = pg_of(st);
	PGresult *r;

	if (!fn) {
		if (q->wake && PQstatus(q->db) == CONNECTION_OK &&
		    (r = PQexec(q->db, "UNLISTEN " CHANNEL)))
			PQclear(r);
		pg_watch_stop(q);
		return 0;
	}
	q->wake = fn;
	q->wake_data = data;
	return watch_conn(q);
}
