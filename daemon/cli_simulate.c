/* guichet simulate: a person typing to the real router, engine and renderer on an in-memory
 * store, back-end calls answered from fixtures or by the real relay (cli.h). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>

#include "guichet/api_client.h"
#include "guichet/cli.h"
#include "guichet/backend.h"
#include "guichet/config.h"
#include "guichet/draw.h"
#include "guichet/guard.h"
#include "guichet/flow.h"
#include "guichet/flow_graph.h"
#include "guichet/flowtest.h"
#include "guichet/log.h"
#include "guichet/metrics.h"
#include "guichet/metrics_client.h"
#include "guichet/preflight.h"
#include "guichet/render.h"
#include "guichet/report.h"
#include "guichet/router.h"
#include "guichet/scheduler.h"
#include "guichet/store.h"
#include "guichet/text.h"

struct sim {
	void *ctx;
	struct router *router;
	struct sms_transport sms;
	bool ussd;
	const char *from;
	FILE *in;
	bool echo;		/* scripted: show the person's lines in the transcript */
	bool busy;		/* a reply is owed for the last line */
	bool eof;
	bool ussd_open;		/* a USSD dialogue is running */
	unsigned dialogue;
	struct osmo_timer_list pump, give_up;
	struct osmo_fd stdin_fd;
	char *pending_line;
	struct render_opts ro;
	bool done;
};

static void sim_pump(void *data);

static void sim_schedule(struct sim *s)
{
	if (!osmo_timer_pending(&s->pump))
		osmo_timer_schedule(&s->pump, 0, 0);
}

static int sim_sms_send(struct sms_transport *t, const struct store_outbound *m)
{
	struct sim *s = t->priv;

	render_sms_print(s->ctx, m->text, &s->ro, stdout);
	fflush(stdout);
	router_sms_sent(s->router, m->id);
	s->busy = false;
	osmo_timer_del(&s->give_up);
	sim_schedule(s);
	return 0;
}

static void sim_ussd_reply(void *data, const char *text, bool more)
{
	struct sim *s = data;

	render_ussd_print(s->ctx, text, more, &s->ro, stdout);
	fflush(stdout);
	s->ussd_open = more;
	s->busy = false;
	osmo_timer_del(&s->give_up);
	sim_schedule(s);
}

static void sim_give_up(void *data)
{
	struct sim *s = data;

	printf("(pas de réponse)\n");
	s->busy = false;
	sim_schedule(s);
}

static void sim_send_line(struct sim *s, const char *line)
{
	if (s->echo)
		printf("> %s\n", line);
	s->busy = true;
	osmo_timer_schedule(&s->give_up, 30, 0);
	if (s->ussd) {
		char id[32];
		if (!s->ussd_open)
			s->dialogue++;
		snprintf(id, sizeof(id), "sim-%u", s->dialogue);
		struct ussd_req req = { .via = "simulate", .dialogue = id, .from = s->from,
					.text = line, .begin = !s->ussd_open };
		s->ussd_open = true;
		router_ussd_request(s->router, &req, sim_ussd_reply, s);
	} else {
		struct sms_in m = { .via = "simulate", .from = s->from, .text = line,
				    .received = time(NULL) };
		if (router_sms_received(s->router, &m, 1) < 0) {
			printf("(erreur du stockage)\n");
			s->busy = false;
		}
	}
}

static char *sim_read_line(struct sim *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, s->in);

	if (n < 0) {
		free(line);
		s->eof = true;
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	char *t = talloc_strdup(s->ctx, line);
	free(line);
	return t;
}

/* A line holding only "" is an empty text (blank lines are skipped, as in scripts). */
static const char *sim_text(const char *line)
{
	return strcmp(line, "\"\"") == 0 ? "" : line;
}

static void sim_prompt(struct sim *s)
{
	if (!s->echo && isatty(fileno(s->in))) {
		printf("> ");
		fflush(stdout);
	}
}

static void sim_pump(void *data)
{
	struct sim *s = data;

	if (s->busy)
		return;
	if (s->pending_line) {
		char *l = s->pending_line;
		s->pending_line = NULL;
		sim_send_line(s, sim_text(l));
		talloc_free(l);
		return;
	}
	if (s->eof) {
		s->done = true;
		return;
	}
	/* Scripted input is read here, one line per reply; a terminal through stdin_fd. */
	if (s->stdin_fd.fd < 0) {
		char *l = sim_read_line(s);
		if (!l) {
			s->done = true;
			return;
		}
		if (!*l || l[0] == '#') {	/* blank lines and comments in scripts */
			talloc_free(l);
			sim_schedule(s);
			return;
		}
		sim_send_line(s, sim_text(l));
		talloc_free(l);
	} else {
		sim_prompt(s);
	}
}

static int sim_stdin_cb(struct osmo_fd *ofd, unsigned what)
{
	struct sim *s = ofd->data;
	(void)what;

	if (s->busy)
		return 0;	/* read it once the reply is in */
	char *l = sim_read_line(s);
	if (!l) {
		osmo_fd_unregister(ofd);
		ofd->fd = -1;
		s->eof = true;
		s->done = !s->busy;
		return 0;
	}
	if (!*l) {
		sim_prompt(s);
		return 0;
	}
	s->pending_line = l;
	sim_schedule(s);
	return 0;
}

/* Back-end calls answered from fixtures, by the real relay (a config with back-ends and no
 * fixtures), or failing (neither: the flows' on_error ways). -1 after printing why. */
static int sim_port(void *ctx, const struct config *c, const char *fixtures, struct diag *d,
		    struct call_port *port, struct backend_relay **relay)
{
	char err[256];

	if (fixtures || !c || !c->backends) {
		*port = fixtures ? backend_canned_port(ctx, fixtures, d)
				 : backend_canned_port_node(ctx, NULL, NULL);
		if (d->n_errors) {
			diag_print(d, stderr);
			return -1;
		}
		return 0;
	}
	*relay = backend_relay_create(ctx, c, err, sizeof(err));
	if (!*relay) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*port = backend_relay_port(*relay);
	return 0;
}

/* The person's lines: a script (echoed in the transcript), piped input (the same), or a
 * terminal read through the loop. */
static int sim_input(struct sim *s, const char *script)
{
	s->stdin_fd.fd = -1;
	if (script) {
		s->in = fopen(script, "r");
		if (!s->in) {
			fprintf(stderr, "%s: %s\n", script, strerror(errno));
			return -1;
		}
		s->echo = true;
		return 0;
	}
	s->in = stdin;
	s->echo = !isatty(STDIN_FILENO);
	if (!s->echo) {
		printf("Guichet — simulation %s depuis %s. Tapez comme sur un téléphone "
		       "(\"\" : un texte vide) ; Ctrl-D pour finir.\n",
		       s->ussd ? "USSD (composez un code, ex. *4321#)" : "SMS (ex. RDV)", s->from);
		osmo_fd_setup(&s->stdin_fd, STDIN_FILENO, OSMO_FD_READ, sim_stdin_cb, s, 0);
		osmo_fd_register(&s->stdin_fd);
	}
	return 0;
}

int cli_simulate(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sms", no_argument, NULL, 's' },
		{ "ussd", no_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ "fixtures", required_argument, NULL, 'x' },
		{ "from", required_argument, NULL, 'f' },
		{ "script", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sim *s = talloc_zero(ctx, struct sim);
	const char *config_file = NULL, *fixtures = NULL, *script = NULL;
	int o;

	s->ctx = s;
	s->from = "+33600000000";
	while ((o = getopt_long(argc, argv, "suc:x:f:i:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': s->ussd = false; break;
		case 'u': s->ussd = true; break;
		case 'c': config_file = optarg; break;
		case 'x': fixtures = optarg; break;
		case 'f': s->from = optarg; break;
		case 'i': script = optarg; break;
		case 'h': cli_usage(stdout); return 0;
		default: cli_usage(stderr); return 2;
		}
	}
	struct diag *d = diag_alloc(ctx);
	struct config *c = NULL;
	if (config_file && !(c = cli_load_config(ctx, config_file, d)))
		return 1;
	const char *path = optind < argc ? argv[optind] : c ? c->flows : "flows";
	struct flow_env env;
	cli_flow_env(ctx, c, &env);
	struct flow_set *fs = flow_set_load(ctx, path, c ? &env : NULL, d);
	diag_print(d, stderr);
	if (!fs)
		return 1;

	struct call_port port;
	struct backend_relay *relay = NULL;
	if (sim_port(ctx, c, fixtures, d, &port, &relay) < 0)
		return 1;

	s->ro = render_opts_from(c);
	struct router_config rc = {
		.sms = { .kind = CHANNEL_SMS, .budget = text_budget_sms(s->ro.max_parts),
			 .fold = s->ro.fold },
		.ussd = { .kind = CHANNEL_USSD, .budget = text_budget_ussd(s->ro.screen),
			  .fold = s->ro.fold },
		.call_budget_ms = c ? c->call_budget_ms : 10000,
		.ussd_answer_ms = c ? c->ussd.answer_ms : 4000,
		.sms_followup_via = "simulate",
	};
	struct store *st = store_mem_open(ctx);
	s->router = router_create(ctx, &rc, st, port);
	router_set_flows(s->router, fs);
	s->sms.name = "simulate";
	s->sms.send = sim_sms_send;
	s->sms.priv = s;
	s->sms.up = true;
	router_sms_register(s->router, &s->sms);

	osmo_timer_setup(&s->pump, sim_pump, s);
	osmo_timer_setup(&s->give_up, sim_give_up, s);
	if (sim_input(s, script) < 0)
		return 1;
	sim_schedule(s);
	while (!s->done)
		osmo_select_main_ctx(0);
	if (script)
		fclose(s->in);
	if (relay)
		backend_relay_destroy(relay);
	return 0;
}
