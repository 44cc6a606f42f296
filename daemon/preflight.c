/* The start-up checks shared by `guichetd -t`, `guichet check --config` and the start (see
 * preflight.h). Each transport and the relay still read their secrets themselves when they
 * start; this reads them once before, with the same function, so that both agree. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "guichet/backend.h"
#include "guichet/modem.h"
#include "guichet/preflight.h"
#include "guichet/smpp.h"
#include "guichet/store.h"

/* SMPP 3.4 bind: password is a C-Octet String of at most 9 octets, NUL included. */
#define SMPP_PASSWORD_MAX 8

struct pf {
	void *ctx;
	const struct config *c;
	struct diag *d;
	unsigned errors;
};

static void pf_add(struct pf *p, enum diag_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pf_add(struct pf *p, enum diag_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(p->d, lvl, p->c->file, 0, 0, fmt, ap);
	va_end(ap);
	if (lvl == DIAG_ERROR)
		p->errors++;
}

/* Reads the secret as its user will; returns its length, or -1 with err set. The copy is
 * wiped before it is freed: this is only a check. */
static long secret_probe(struct pf *p, const char *name, char *err, size_t err_len)
{
	char *s = config_read_secret(p->ctx, p->c, name, err, err_len);
	long len;

	if (!s)
		return -1;
	len = (long)strlen(s);
	memset(s, 0, (size_t)len);
	talloc_free(s);
	return len;
}

static void check_secret(struct pf *p, const char *who, const char *name, enum diag_level lvl,
			 const char *consequence)
{
	char err[300];

	if (name && secret_probe(p, name, err, sizeof(err)) < 0)
		pf_add(p, lvl, "%s: %s%s", who, err, consequence ? consequence : "");
}

/* A certificate file: readable and holding at least one PEM certificate. */
static void check_cert(struct pf *p, const char *who, const char *what, const char *path)
{
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		pf_add(p, DIAG_ERROR, "back-end %s: %s %s: %s", who, what, path, strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		pf_add(p, DIAG_ERROR, "back-end %s: %s %s: %s", who, what, path, strerror(errno));
		return;
	}
	buf[n] = '\0';
	if (!strstr(buf, "-----BEGIN CERTIFICATE-----"))
		pf_add(p, DIAG_ERROR, "back-end %s: %s %s holds no PEM certificate", who, what, path);
}

/* A private key: readable, and by nobody else (the rule of the secret files). */
static void check_key(struct pf *p, const char *who, const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		pf_add(p, DIAG_ERROR, "back-end %s: key %s: %s", who, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	if (sb.st_mode & (S_IRWXG | S_IRWXO))
		pf_add(p, DIAG_ERROR, "back-end %s: key %s is accessible to group or others "
		       "(mode %03o); run chmod 600 on it", who, path, (unsigned)(sb.st_mode & 0777));
}

static void check_backends(struct pf *p)
{
	const struct backend_config *bc = p->c->backends;

	for (unsigned i = 0; bc && i < bc->n; i++) {
		const struct backend_def *b = &bc->defs[i];
		char who[80];

		snprintf(who, sizeof(who), "back-end %s", b->name);
		if (b->auth == BACKEND_AUTH_BEARER)
			check_secret(p, who, b->token, DIAG_ERROR, NULL);
		if (b->auth == BACKEND_AUTH_BASIC)
			check_secret(p, who, b->password, DIAG_ERROR, NULL);
		if (b->ca)
			check_cert(p, b->name, "CA file", b->ca);
		if (b->cert)
			check_cert(p, b->name, "client certificate", b->cert);
		if (b->key)
			check_key(p, b->name, b->key);
	}
}

static void check_smpp(struct pf *p)
{
	for (const struct smpp_config *sc = p->c->smpp; sc; sc = sc->next) {
		char err[300];
		long len = secret_probe(p, sc->password, err, sizeof(err));

		if (len < 0)
			pf_add(p, DIAG_ERROR, "SMSC %s: %s", sc->name, err);
		else if (len > SMPP_PASSWORD_MAX)
			pf_add(p, DIAG_ERROR, "SMSC %s: the password file holds more than the %d "
			       "characters SMPP 3.4 allows in bind", sc->name, SMPP_PASSWORD_MAX);
	}
}

static void check_modems(struct pf *p)
{
	const struct modem_config *mc = p->c->modems;

	for (unsigned i = 0; mc && i < mc->n; i++) {
		const struct modem_def *m = &mc->m[i];
		char who[80];

		snprintf(who, sizeof(who), "modem %s", m->name);
		/* The dummy driver's device is a directory it creates itself. */
		if (strcmp(m->model ? m->model : "", "dummy") != 0 && m->device &&
		    access(m->device, F_OK) < 0)
			pf_add(p, DIAG_WARNING, "%s: device %s: %s (the modem is retried until it "
			       "appears)", who, m->device, strerror(errno));
		check_secret(p, who, m->pin, DIAG_WARNING, " (the modem starts without a PIN)");
	}
}

static void check_store(struct pf *p)
{
	char err[512];

	/* A PostgreSQL store is checked by connecting, at start. */
	if (!store_is_pg(p->c->store) && store_sqlite_check(p->c->store, err, sizeof(err)) < 0)
		pf_add(p, DIAG_ERROR, "store: %s", err);
}

unsigned preflight_check(void *ctx, const struct config *c, struct diag *d)
{
	struct pf p = { .ctx = talloc_new(ctx), .c = c, .d = d };

	check_store(&p);
	check_backends(&p);
	check_smpp(&p);
	check_modems(&p);
	talloc_free(p.ctx);
	return p.errors;
}
