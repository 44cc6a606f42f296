/* The `api:` section of guichet.yaml (api_http.h): where to listen, the certificate and key,
 * who may come in (bearer tokens from secret files, a client CA). Files are read at parse
 * time, so `guichetd -t` reports a missing or too readable one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>

#include "guichet/api_http.h"
#include "guichet/config.h"
#include "guichet/ydoc.h"

#define PEM_MAX (256u * 1024u)

static char *read_file(void *ctx, const char *path, bool secret, char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");
	struct stat sb;
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > (off_t)PEM_MAX) {
		snprintf(err, err_len, "%s: not a regular file of at most %u bytes", path, PEM_MAX);
		goto out;
	}
	if (secret && (sb.st_mode & 077)) {
		snprintf(err, err_len, "%s: readable by others (mode %o): chmod 600 it", path,
			 (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	buf = talloc_size(ctx, (size_t)sb.st_size + 1);
	if (!buf) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	n = fread(buf, 1, (size_t)sb.st_size, f);
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static char *config_file(void *ctx, struct ydoc *y, yaml_node_t *v, const struct config *c,
			 bool secret)
{
	const char *s = ydoc_string(y, v);
	char err[300], *path, *text;

	if (!s)
		return NULL;
	path = config_path(ctx, c, s);
	text = path ? read_file(ctx, path, secret, err, sizeof(err)) : NULL;
	if (path && !text)
		ydoc_error(y, v, "%s", err);
	talloc_free(path);
	return text;
}

int api_http_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, const struct config *c,
			  struct api_http_config **out)
{
	static const char *const keys[] = { "listen", "port", "cert", "key", "tokens",
					    "client_ca", "max_batch" };
	struct api_http_config *ac;
	yaml_node_t *v;
	const char *s;
	unsigned errors = y->diag ? y->diag->n_errors : 0;

	*out = NULL;
	if (!ydoc_is_map(node)) {
		ydoc_error(y, node, "api must be a mapping: { listen: 127.0.0.1, port: 8443, cert: "
			   "FILE, key: FILE, tokens: [SECRET] }, found %s", ydoc_kind(node));
		return -1;
	}
	ac = talloc_zero(ctx, struct api_http_config);
	if (!ac)
		return -1;
	ac->listen = "127.0.0.1";
	ac->port = 8443;
	ac->max_batch = 1000;
	ydoc_check_keys(y, node, keys, ARRAY_SIZE(keys));
	if ((v = ydoc_get(y, node, "listen")) && (s = ydoc_listen(y, v)))
		ac->listen = talloc_strdup(ac, s);
	if ((v = ydoc_get(y, node, "port")))
		(void)ydoc_port(y, v, 0, &ac->port);
	if ((v = ydoc_get(y, node, "max_batch")) && ydoc_uint(y, v, &ac->max_batch) == 0 &&
	    (ac->max_batch == 0 || ac->max_batch > 100000))
		ydoc_error(y, v, "max_batch must be between 1 and 100000");
	if ((v = ydoc_get(y, node, "cert")))
		ac->cert_pem = config_file(ac, y, v, c, false);
	else
		ydoc_error(y, node, "api needs `cert`: the server certificate (PEM); TLS is always on");
	if ((v = ydoc_get(y, node, "key")))
		ac->key_pem = config_file(ac, y, v, c, true);
	else
		ydoc_error(y, node, "api needs `key`: the server certificate's key (PEM)");
	if ((v = ydoc_get(y, node, "client_ca")))
		ac->client_ca_pem = config_file(ac, y, v, c, false);
	if ((v = ydoc_get(y, node, "tokens"))) {
		if (!ydoc_is_seq(v)) {
			ydoc_error(y, v, "tokens: a list of secret file names, found %s", ydoc_kind(v));
		} else {
			unsigned n = ydoc_len(v);
			ac->tokens = talloc_zero_array(ac, char *, n ? n : 1);
			for (unsigned i = 0; ac->tokens && i < n; i++) {
				yaml_node_t *it = ydoc_seq_item(y, v, i);
				char err[256];
				char *t;
				if (!(s = ydoc_string(y, it)))
					continue;
				if (!(t = config_read_secret(ac, c, s, err, sizeof(err))))
					ydoc_error(y, it, "%s", err);
				else if (strlen(t) < 16)
					ydoc_error(y, it, "token `%s` is shorter than 16 characters", s);
				else
					ac->tokens[ac->n_tokens++] = t;
			}
		}
	}
	if (!ydoc_get(y, node, "tokens") && !ydoc_get(y, node, "client_ca"))
		ydoc_error(y, node, "api needs `tokens` (secret files), `client_ca`, or both: "
			   "nobody could be let in");
	if (y->diag && y->diag->n_errors > errors) {
		talloc_free(ac);
		return -1;
	}
	*out = ac;
	return 0;
}

