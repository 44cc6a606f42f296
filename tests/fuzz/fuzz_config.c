/* Fuzz target: config/guichet.yaml through config_load(), as guichetd and `guichet check` read
 * it. config_load() takes a path: each input is written to a file in a private directory,
 * which also holds a secret file (mode 0600) the config may name. */
#include <fcntl.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "fuzz.h"
#include "guichet/backend.h"
#include "guichet/config.h"
#include "guichet/diag.h"

static char dir[64], path[96];

static void write_file(const char *p, const void *buf, size_t len, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

static void cleanup(void)
{
	char p[128];

	unlink(path);
	snprintf(p, sizeof(p), "%s/secret", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/open-secret", dir);
	unlink(p);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[128];

	(void)argc; (void)argv;
	snprintf(dir, sizeof(dir), "/tmp/guichet-fuzz-config.XXXXXX");
	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/guichet.yaml", dir);
	snprintf(p, sizeof(p), "%s/secret", dir);
	write_file(p, "s3cret\n", 7, 0600);
	snprintf(p, sizeof(p), "%s/open-secret", dir);
	write_file(p, "s3cret\n", 7, 0644);
	/* Relative names are taken from the config's directory, never from the environment. */
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_config");
	struct diag *d = diag_alloc(ctx);
	struct config *c;

	write_file(path, data, size, 0600);
	c = config_load(ctx, path, d);
	if (getenv("FUZZ_VERBOSE"))
		diag_print(d, stderr);
	FUZZ_ASSERT(!c || d->n_errors == 0);
	FUZZ_ASSERT(c || d->n_errors > 0);
	if (c && c->backends) {
		const char **names = NULL;
		unsigned n = backend_config_ops(c->backends, &names, ctx);

		for (unsigned i = 0; i < n; i++) {
			const struct backend_def *def = NULL;
			FUZZ_ASSERT(backend_config_find(c->backends, names[i], &def) != NULL);
		}
	}
	talloc_free(ctx);
	return 0;
}
