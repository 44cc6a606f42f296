/* Drawings as files: DOT, or SVG/PNG laid out by Graphviz's `dot` in a child process. */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "guichet/draw.h"

int draw_format_parse(const char *s, enum draw_format *f)
{
	if (!strcmp(s, "dot"))
		*f = DRAW_DOT;
	else if (!strcmp(s, "svg"))
		*f = DRAW_SVG;
	else if (!strcmp(s, "png"))
		*f = DRAW_PNG;
	else
		return -1;
	return 0;
}

const char *draw_format_ext(enum draw_format f)
{
	return f == DRAW_SVG ? "svg" : f == DRAW_PNG ? "png" : "dot";
}

char *draw_dot(void *ctx, const struct flow_graph *g, size_t *len)
{
	char *buf = NULL, *out;
	size_t n = 0;
	FILE *mem = open_memstream(&buf, &n);
	int rc;

	if (!mem)
		return NULL;
	rc = flow_graph_write_dot(g, mem);
	if (fclose(mem) || rc) {
		free(buf);
		return NULL;
	}
	out = talloc_memdup(ctx, buf, n + 1);
	free(buf);
	if (out && len)
		*len = n;
	return out;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Runs `dot -T<fmt> -o out` with the DOT text on its standard input. */
static int run_dot(const char *dot, size_t len, enum draw_format f, const char *out, char *err,
		   size_t err_len)
{
	const char *prog = getenv("GUICHET_DOT") ? getenv("GUICHET_DOT") : "dot";
	char tflag[8];
	int fds[2], status;
	pid_t pid;
	void (*old_pipe)(int);

	snprintf(tflag, sizeof(tflag), "-T%s", draw_format_ext(f));
	if (pipe(fds) < 0) {
		snprintf(err, err_len, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, err_len, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* A layout that runs away is killed by the kernel, not waited for. */
		struct rlimit cpu = { DRAW_LAYOUT_CPU_S, DRAW_LAYOUT_CPU_S + 1 };

		setrlimit(RLIMIT_CPU, &cpu);
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp(prog, prog, tflag, "-o", out, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	/* dot may die before reading everything: a write error then, not a signal. */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	write_all(fds[1], dot, len);
	close(fds[1]);
	signal(SIGPIPE, old_pipe);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, err_len, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(err, err_len, "cannot run `%s`: Graphviz is needed for %s drawings "
			 "(Debian: apt-get install graphviz); --format dot needs nothing", prog,
			 draw_format_ext(f));
	else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
		snprintf(err, err_len, "`%s` took more than %u s to lay out the drawing: use "
			 "--format dot", prog, DRAW_LAYOUT_CPU_S);
	else if (WIFSIGNALED(status))
		snprintf(err, err_len, "`%s` was killed by signal %d", prog, WTERMSIG(status));
	else
		snprintf(err, err_len, "`%s` failed (exit status %d)", prog, WEXITSTATUS(status));
	return -1;
}

int draw_write(void *ctx, const struct flow_graph *g, enum draw_format f, const char *path,
	       char *err, size_t err_len)
{
	size_t len = 0;
	char *dot = draw_dot(ctx, g, &len);
	char *tmp = talloc_asprintf(ctx, "%s.tmp", path);
	int rc = -1;

	if (!dot || !tmp) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	if (f != DRAW_DOT && g->n_nodes > DRAW_LAYOUT_MAX_NODES) {
		snprintf(err, err_len, "%u steps: too many to lay out (at most %u); use --format dot",
			 g->flow->n_steps, DRAW_LAYOUT_MAX_NODES);
		goto out;
	}
	/* Written under a temporary name and renamed: a drawing is complete or absent. */
	if (f == DRAW_DOT) {
		FILE *fp = fopen(tmp, "w");
		bool ok = fp && fwrite(dot, 1, len, fp) == len;

		if (fp && fclose(fp))
			ok = false;
		if (!ok) {
			snprintf(err, err_len, "%s: %s", tmp, strerror(errno));
			goto out;
		}
	} else if (run_dot(dot, len, f, tmp, err, err_len) < 0) {
		goto out;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc && tmp)
		unlink(tmp);
	talloc_free(dot);
	talloc_free(tmp);
	return rc;
}
