/* The store under the router's load: per message one inbound insert, one session put (a
 * typical session, encoded), one outbound insert and inbound_done, in transactions of 1, 10
 * and 100 messages, on an SQLite file (WAL, synchronous=FULL: every commit is an fsync).
 *
 * bench_store [dir]: the file goes in a fresh directory under dir ($TMPDIR, else /var/tmp),
 * so run it on the file system the daemon will use. Prints "store: batch=N M msg/s". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <sys/stat.h>
#include <osmocom/core/talloc.h>

#include "guichet/store.h"

#define RUN_SECONDS 2.0
#define MAX_MESSAGES 200000
#define PEOPLE 1000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void typical_session(struct session *s, void *ctx, unsigned person)
{
	char key[64], num[24], name[32], val[64];
	unsigned i;

	snprintf(num, sizeof(num), "+22177%07u", person);
	snprintf(key, sizeof(key), "sms:modem0:%s", num);
	session_init(s, ctx, key, CHANNEL_SMS, num);
	s->state = SESSION_ACTIVE;
	snprintf(s->flow, sizeof(s->flow), "rdv_carte_identite");
	snprintf(s->step, sizeof(s->step), "choisir_creneau");
	s->n_history = 2;
	snprintf(s->history[0], sizeof(s->history[0]), "accueil");
	snprintf(s->history[1], sizeof(s->history[1]), "demander_nom");
	s->started = time(NULL);
	s->deadline = s->started + 3600;
	vars_set(&s->vars, "nom", "Ndiaye", false);
	vars_set(&s->vars, "prenom", "Aïssatou", false);
	vars_set(&s->vars, "commune", "Pikine", false);
	vars_set(&s->vars, "date_naissance", "12/03/1987", false);
	vars_set(&s->vars, "motif", "renouvellement", false);
	vars_set(&s->vars, "dossier", "CNI-2024-0041872", false);
	vars_set(&s->vars, "slots.count", "5", false);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "slots.%u.id", i);
		snprintf(val, sizeof(val), "c-8f3a%04u", i);
		vars_set(&s->vars, name, val, false);
		snprintf(name, sizeof(name), "slots.%u.label", i);
		snprintf(val, sizeof(val), "Mardi 14 mai, %02uh30 - Guichet %u", 8 + i, i % 3 + 1);
		vars_set(&s->vars, name, val, false);
	}
}

static int one_message(struct store *st, struct session *sessions, unsigned seq)
{
	struct session *s = &sessions[seq % PEOPLE];
	struct store_inbound in = {
		.channel = CHANNEL_SMS, .via = "modem0", .from = s->address,
		.text = "2", .received = time(NULL),
	};
	struct store_outbound out = {
		.via = "modem0", .to = s->address, .coding = TEXT_GSM7, .parts = 1,
		.text = "Votre RDV: Mardi 14 mai, 09h30, guichet 2. Apportez l'ancienne carte. "
			"Repondez 0 pour annuler.",
	};
	char dedup[32];

	snprintf(dedup, sizeof(dedup), "sim:%u", seq);
	in.dedup = dedup;
	s->tries = (uint8_t)seq;
	if (st->ops->inbound_add(st, &in) != 0 || st->ops->session_put(st, s) < 0 ||
	    st->ops->outbound_add(st, &out) < 0 || st->ops->inbound_done(st, in.id) != 0)
		return -1;
	return 0;
}

static int run(void *ctx, const char *dir, unsigned batch, struct session *sessions)
{
	char path[700], err[256];
	struct store *st;
	unsigned n = 0, i;
	double t0, t;

	snprintf(path, sizeof(path), "%s/batch%u.db", dir, batch);
	st = store_sqlite_open(ctx, path, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "bench_store: %s\n", err);
		return -1;
	}
	t0 = now_s();
	do {
		if (st->ops->begin(st) < 0)
			goto fail;
		for (i = 0; i < batch; i++, n++)
			if (one_message(st, sessions, n) < 0)
				goto fail;
		if (st->ops->commit(st) < 0)
			goto fail;
		t = now_s() - t0;
	} while (t < RUN_SECONDS && n < MAX_MESSAGES);
	printf("store: batch=%u %.0f msg/s (%u messages in %.2f s)\n", batch, n / t, n, t);
	fflush(stdout);
	st->ops->close(st);
	return 0;
fail:
	fprintf(stderr, "bench_store: batch=%u: %s\n", batch, store_last_error(st));
	st->ops->close(st);
	return -1;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(int argc, char **argv)
{
	static const unsigned batches[] = { 1, 10, 100 };
	const char *base = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	void *ctx = talloc_named_const(NULL, 0, "bench_store");
	struct session *sessions = talloc_array(ctx, struct session, PEOPLE);
	char dir[600];
	size_t len;
	char *enc;
	unsigned i;
	int rc = 0;

	if (!sessions)
		return 1;
	snprintf(dir, sizeof(dir), "%s/guichet-bench-store.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	for (i = 0; i < PEOPLE; i++)
		typical_session(&sessions[i], ctx, i);
	enc = session_encode(ctx, &sessions[0], &len);
	printf("store: session %zu bytes encoded, file in %s\n", len, base);
	talloc_free(enc);
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++)
		if (run(ctx, dir, batches[i], sessions) < 0)
			rc = 1;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	talloc_free(ctx);
	return rc;
}
