/* demo_phone: a terminal "phone" for the demo. Each line typed is dropped into the dummy
 * modem's inbox (through sms_inject, exactly as a real SMS would arrive); each reply
 * guichetd sends (the modem's sent log) is printed as the phone would show it, with its
 * encoding and parts count. Ctrl-D ends.
 *
 *   demo_phone SMS_INJECT MODEM_DIR SENT_LOG [NUMBER] */
#include <errno.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include <osmocom/core/talloc.h>

#include "guichet/render.h"

extern char **environ;

static int inject(const char *tool, const char *dir, const char *number, const char *text)
{
	char *argv[] = { (char *)tool, (char *)dir, (char *)number, (char *)text, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawn(&pid, tool, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "cannot run %s: %s\n", tool, strerror(rc));
		return -1;
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Prints every complete line appended to the sent log since *offset. */
static void show_replies(void *ctx, const char *log, long *offset, const struct render_opts *ro)
{
	FILE *f = fopen(log, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return;
	fseek(f, *offset, SEEK_SET);
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;	/* half-written: read it next time */
		*offset += n;
		json_t *o = json_loads(line, 0, NULL);
		const char *text = o ? json_string_value(json_object_get(o, "text")) : NULL;
		if (text) {
			printf("\n");
			render_sms_print(ctx, text, ro, stdout);
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	printf("> ");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: demo_phone SMS_INJECT MODEM_DIR SENT_LOG [NUMBER]\n");
		return 2;
	}
	void *ctx = talloc_named_const(NULL, 0, "demo_phone");
	const char *tool = argv[1], *dir = argv[2], *log = argv[3];
	const char *number = argc > 4 ? argv[4] : "+33612345678";
	struct render_opts ro = render_opts_from(NULL);
	long offset = 0;
	FILE *f = fopen(log, "r");

	if (f) {		/* replies from earlier runs are not this conversation's */
		fseek(f, 0, SEEK_END);
		offset = ftell(f);
		fclose(f);
	}
	printf("Téléphone de démonstration (%s). Envoyez RDV, DROITS ou DOSSIER ; Ctrl-D pour "
	       "quitter.\n> ", number);
	fflush(stdout);
	for (;;) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int rc = poll(&p, 1, 200);
		if (rc < 0 && errno != EINTR)
			break;
		struct stat st;
		if (stat(log, &st) == 0 && st.st_size > offset)
			show_replies(ctx, log, &offset, &ro);
		if (rc <= 0)
			continue;
		char *line = NULL;
		size_t cap = 0;
		ssize_t n = getline(&line, &cap, stdin);
		if (n < 0) {
			free(line);
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n > 0 && inject(tool, dir, number, line) < 0)
			printf("(message non déposé)\n");
		free(line);
	}
	printf("\n");
	talloc_free(ctx);
	return 0;
}
