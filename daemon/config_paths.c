/* What a transport needs from the configuration beyond its own section (config_paths.h): a
 * path relative to guichet.yaml, and secrets (tokens, passwords) read from files: a systemd
 * credentials directory ($CREDENTIALS_DIRECTORY), the config's `credentials:` directory, or
 * the config's own directory. A file that group or others may read is refused, like OpenSMTPD's
 * check_file_secrecy(): a secret that leaked is no longer one. The content is never logged
 * nor quoted in a message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <osmocom/core/talloc.h>

#include "guichet/config.h"
#include "guichet/config_paths.h"

#define SECRET_MAX 4096

char *config_path(void *ctx, const struct config *c, const char *p)
{
	if (!p)
		return NULL;
	if (p[0] == '/' || !c->dir)
		return talloc_strdup(ctx, p);
	return talloc_asprintf(ctx, "%s/%s", c->dir, p);
}

static char *secret_path(void *ctx, const struct config *c, const char *name)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (name[0] == '/')
		return talloc_strdup(ctx, name);
	if (!dir || !*dir) {
		/* config_load already made c->credentials relative to the config's directory */
		dir = c ? c->credentials : NULL;
	}
	if (!dir || !*dir)
		dir = c && c->dir && *c->dir ? c->dir : ".";
	return talloc_asprintf(ctx, "%s/%s", dir, name);
}

char *config_read_secret(void *ctx, const struct config *c, const char *name, char *err,
			 size_t err_len)
{
	char buf[SECRET_MAX + 1];
	struct stat st;
	char *path, *out = NULL, *nl;
	ssize_t n;
	size_t len = 0;
	int fd = -1;

	if (!name || !*name) {
		snprintf(err, err_len, "no secret file named");
		return NULL;
	}
	if (strstr(name, "..")) {
		snprintf(err, err_len, "secret `%s`: a secret name cannot hold `..`", name);
		return NULL;
	}
	path = secret_path(ctx, c, name);
	if (!path) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, err_len, "secret `%s`: cannot open %s: %s", name, path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, err_len, "secret `%s`: cannot stat %s: %s", name, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "secret `%s`: %s is not a regular file", name, path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, err_len, "secret `%s`: %s is accessible to group or others (mode %03o); "
			 "run chmod 600 on it", name, path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, err_len, "secret `%s`: cannot read %s: %s", name, path,
				 strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	else if (len == sizeof(buf) - 1) {
		snprintf(err, err_len, "secret `%s`: first line of %s is longer than %u bytes", name,
			 path, SECRET_MAX);
		goto out;
	}
	if (strlen(buf) && buf[strlen(buf) - 1] == '\r')
		buf[strlen(buf) - 1] = '\0';
	if (!buf[0] || strlen(buf) != strcspn(buf, "\r")) {
		snprintf(err, err_len, "secret `%s`: %s is empty or malformed", name, path);
		goto out;
	}
	out = talloc_strdup(ctx, buf);
	if (!out)
		snprintf(err, err_len, "out of memory");
out:
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	talloc_free(path);
	return out;
}
