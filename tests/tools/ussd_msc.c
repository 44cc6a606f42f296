/* ussd_msc: a test "MSC" for osmo-hlr's USSD routing. A GSUP client like any MSC/VLR: it
 * plays the phones' side of USSD dialogues, scripted or as a load generator.
 *
 *   ussd_msc [options] STEP...        (or -f FILE, one step per line, # comments)
 * Steps:
 *   dial IMSI CODE     BEGIN a dialogue (processUnstructuredSS-Request CODE), new session id
 *   sid N              the next dial uses session id N (reuse one on purpose)
 *   msisdn NUMBER      the dials after it carry this MSISDN (as an MSC does)
 *   answer TEXT        CONTINUE: ReturnResult to the last prompt with TEXT
 *   expect con|end|err|none [TEXT]
 *                      wait (-t seconds) for the next screen of the current dialogue and
 *                      check its kind and that it contains TEXT; `none` = nothing may come
 *   wait SECONDS       stop answering: just wait, printing what arrives
 *   end [TEXT]         END from the phone (with a USSD component, which osmo-hlr 1.5
 *                      needs to forward it; TEXT defaults to "0")
 *   end-bare           END without any component (osmo-hlr 1.5 does not forward it)
 *   sleep SECONDS      pause
 * Every screen received is printed as `CON <text>` / `END <text>` / `ERR <code>` / `REJ`
 * (ERR: a ReturnError component, or a GSUP PROC_SS_ERROR with its cause)
 * (newlines shown as \n). Exit 0 when every expect held, 1 otherwise, 2 on usage errors.
 *
 * Bench mode: --bench -c CONCURRENT -m SCREENS -d SECONDS [--code C] [--answer A]
 *   [--imsis K]: keeps CONCURRENT dialogues in flight over K subscribers; each dials C and
 *   answers A until it has seen SCREENS screens (then sends END) or gets an END; prints
 *   screens/s and the latency of each screen (request sent -> screen received) p50/p99. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <osmocom/core/application.h>
#include <osmocom/core/logging.h>
#include <osmocom/core/msgb.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/core/utils.h>
#include <osmocom/gsm/gsup.h>
#include <osmocom/gsm/protocol/ipaccess.h>
#include <osmocom/gsupclient/gsup_client.h>

#include "guichet/ss_codec.h"

static struct {
	const char *host, *serno;
	unsigned port;
	double timeout;
	bool bench, quiet;
	unsigned conc, screens, imsis, dur;
	const char *code, *answer, *imsi_base;
} opt = {
	.host = "127.0.0.1", .serno = "MSC-test", .port = 4222, .timeout = 5,
	.conc = 50, .screens = 5, .imsis = 100, .dur = 5,
	.code = "*4321*9#", .answer = "1", .imsi_base = "001010000000001",
};

static struct osmo_gsup_client *gc;
static bool link_up, ready;
static struct osmo_timer_list ready_timer;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The MSISDN the next BEGIN carries (script verb msisdn), 04.08 BCD as an MSC sends it. */
static uint8_t msisdn_enc[12];
static size_t msisdn_len;

static void set_msisdn(const char *num)
{
	bool intl = num[0] == '+';
	size_t o = 1, k = 0;

	memset(msisdn_enc, 0xff, sizeof(msisdn_enc));
	msisdn_enc[0] = intl ? 0x91 : 0x81;
	for (const char *p = num + intl; *p && o < sizeof(msisdn_enc); p++, k++) {
		uint8_t d = (uint8_t)(*p - '0');
		if (k % 2 == 0)
			msisdn_enc[o] = 0xf0 | d;
		else
			msisdn_enc[o] = (uint8_t)((msisdn_enc[o] & 0x0f) | (d << 4)), o++;
	}
	msisdn_len = o + (k % 2);
}

static int send_ss(const char *imsi, uint32_t sid, enum osmo_gsup_session_state st,
		   uint8_t *comp, size_t len)
{
	struct osmo_gsup_message m = {
		.message_type = OSMO_GSUP_MSGT_PROC_SS_REQUEST,
		.session_id = sid,
		.session_state = st,
		.ss_info = comp,
		.ss_info_len = len,
	};

	OSMO_STRLCPY_ARRAY(m.imsi, imsi);
	if (st == OSMO_GSUP_SESSION_STATE_BEGIN && msisdn_len) {
		m.msisdn_enc = msisdn_enc;
		m.msisdn_enc_len = msisdn_len;
	}
	return osmo_gsup_client_enc_send(gc, &m);
}

static int send_dial(const char *imsi, uint32_t sid, const char *code)
{
	uint8_t comp[SS_COMPONENT_MAX];
	bool trunc;
	int n = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_INVOKE, 1, SS_OP_PROCESS_USS_REQ,
			       code, 182, &trunc);

	return n < 0 ? -1 : send_ss(imsi, sid, OSMO_GSUP_SESSION_STATE_BEGIN, comp, (size_t)n);
}

static int send_answer(const char *imsi, uint32_t sid, uint8_t invoke, const char *text, bool end)
{
	uint8_t comp[SS_COMPONENT_MAX];
	bool trunc;
	int n = ss_ussd_encode(comp, sizeof(comp), SS_CTYPE_RETURN_RESULT, invoke,
			       SS_OP_USS_REQUEST, text, 182, &trunc);

	return n < 0 ? -1 : send_ss(imsi, sid, end ? OSMO_GSUP_SESSION_STATE_END :
				    OSMO_GSUP_SESSION_STATE_CONTINUE, comp, (size_t)n);
}

/* A screen as received. */
struct screen {
	char imsi[OSMO_IMSI_BUF_SIZE];
	uint32_t sid;
	bool end, gsup_error;
	struct ss_component c;
	bool decoded;
};

static int decode_screen(const struct osmo_gsup_message *m, struct screen *s)
{
	OSMO_STRLCPY_ARRAY(s->imsi, m->imsi);
	s->sid = m->session_id;
	s->end = m->session_state == OSMO_GSUP_SESSION_STATE_END ||
		 m->message_type == OSMO_GSUP_MSGT_PROC_SS_ERROR;
	s->gsup_error = m->message_type == OSMO_GSUP_MSGT_PROC_SS_ERROR;
	s->decoded = m->ss_info && !ss_component_decode(m->ss_info, m->ss_info_len, &s->c);
	if (s->gsup_error && !s->decoded)
		s->c.error_code = m->cause;
	return 0;
}

static const char *kind_of(const struct screen *s)
{
	if (s->gsup_error || (s->decoded && s->c.ctype == SS_CTYPE_RETURN_ERROR))
		return "err";
	if (s->decoded && s->c.ctype == SS_CTYPE_REJECT)
		return "rej";
	return s->end ? "end" : "con";
}

static void print_screen(const struct screen *s)
{
	const char *k = kind_of(s);

	if (!strcmp(k, "err")) {
		printf("ERR 0x%02x\n", s->c.error_code);
	} else if (!strcmp(k, "rej")) {
		printf("REJ\n");
	} else {
		printf("%s ", s->end ? "END" : "CON");
		for (const char *p = s->decoded ? s->c.text : "(undecodable)"; *p; p++) {
			if (*p == '\n')
				fputs("\\n", stdout);
			else if (*p != '\r')
				putchar(*p);
		}
		putchar('\n');
	}
	fflush(stdout);
}

/* ======================= scripted mode ======================= */

static char **steps;
static unsigned n_steps, step;
static int failures;
static char cur_imsi[OSMO_IMSI_BUF_SIZE];
static uint32_t cur_sid, next_sid;
static bool forced_sid;
static uint8_t last_invoke;
static struct screen inbox[64];
static unsigned inbox_n;
static enum { IDLE, EXPECTING, WAITING } wstate;
static char want_kind[8], want_text[256];
static struct osmo_timer_list step_timer;
static bool done;

static void run_steps(void);

static void step_fail(const char *fmt, const char *a)
{
	printf("FAIL step %u (%s): ", step, steps[step]);
	printf(fmt, a);
	putchar('\n');
	failures++;
}

/* Checks the oldest queued screen of the current dialogue against the expectation. */
static bool try_expect(void)
{
	unsigned i;

	for (i = 0; i < inbox_n; i++) {
		struct screen *s = &inbox[i];

		if (strcmp(s->imsi, cur_imsi) || s->sid != cur_sid)
			continue;
		if (!strcmp(want_kind, "none")) {
			step_fail("a screen came: %s", kind_of(s));
		} else {
			if (strcmp(kind_of(s), want_kind))
				step_fail("got a screen of kind %s", kind_of(s));
			if (want_text[0] && (!s->decoded || !strstr(s->c.text, want_text)))
				step_fail("screen lacks \"%s\"", want_text);
		}
		memmove(&inbox[i], &inbox[i + 1], (inbox_n - i - 1) * sizeof(inbox[0]));
		inbox_n--;
		return true;
	}
	return false;
}

static void step_timeout(void *data)
{
	(void)data;
	if (wstate == EXPECTING && strcmp(want_kind, "none"))
		step_fail("no screen within the timeout%s", "");
	wstate = IDLE;
	step++;
	run_steps();
}

static void script_rx(const struct screen *s)
{
	print_screen(s);
	if (s->decoded && s->c.ctype == SS_CTYPE_INVOKE)
		last_invoke = s->c.invoke_id;
	if (inbox_n < ARRAY_SIZE(inbox))
		inbox[inbox_n++] = *s;
	if (wstate == EXPECTING && try_expect()) {
		osmo_timer_del(&step_timer);
		wstate = IDLE;
		step++;
		run_steps();
	}
}

static void arm(double seconds)
{
	osmo_timer_schedule(&step_timer, (long)seconds, (long)((seconds - (long)seconds) * 1e6));
}

static void run_steps(void)
{
	while (step < n_steps && wstate == IDLE) {
		char *line = steps[step], verb[16] = "", a1[256] = "", a2[256] = "";
		int n = sscanf(line, "%15s %255s %255[^\n]", verb, a1, a2);

		if (n < 1 || verb[0] == '#') {
			step++;
			continue;
		}
		printf("> %s\n", line);
		fflush(stdout);
		if (!strcmp(verb, "dial") && n >= 3) {
			OSMO_STRLCPY_ARRAY(cur_imsi, a1);
			cur_sid = forced_sid ? cur_sid : ++next_sid;
			forced_sid = false;
			inbox_n = 0;
			if (send_dial(cur_imsi, cur_sid, a2) < 0)
				step_fail("cannot send%s", "");
		} else if (!strcmp(verb, "msisdn") && n >= 2) {
			set_msisdn(a1);
		} else if (!strcmp(verb, "sid") && n >= 2) {
			cur_sid = (uint32_t)strtoul(a1, NULL, 0);
			forced_sid = true;
		} else if (!strcmp(verb, "answer") && n >= 2) {
			char text[512];

			snprintf(text, sizeof(text), "%s%s%s", a1, n >= 3 ? " " : "", n >= 3 ? a2 : "");
			if (send_answer(cur_imsi, cur_sid, last_invoke, text, false) < 0)
				step_fail("cannot send%s", "");
		} else if (!strcmp(verb, "end")) {
			if (send_answer(cur_imsi, cur_sid, last_invoke, n >= 2 ? a1 : "0", true) < 0)
				step_fail("cannot send%s", "");
		} else if (!strcmp(verb, "end-bare")) {
			if (send_ss(cur_imsi, cur_sid, OSMO_GSUP_SESSION_STATE_END, NULL, 0) < 0)
				step_fail("cannot send%s", "");
		} else if (!strcmp(verb, "expect") && n >= 2) {
			OSMO_STRLCPY_ARRAY(want_kind, a1);
			OSMO_STRLCPY_ARRAY(want_text, n >= 3 ? a2 : "");
			wstate = EXPECTING;
			if (try_expect()) {
				wstate = IDLE;
			} else {
				arm(opt.timeout);
				return;
			}
		} else if ((!strcmp(verb, "wait") || !strcmp(verb, "sleep")) && n >= 2) {
			wstate = WAITING;
			arm(atof(a1));
			return;
		} else {
			printf("bad step: %s\n", line);
			exit(2);
		}
		step++;
	}
	if (step >= n_steps)
		done = true;
}

/* ======================= bench mode ======================= */

struct bdlg {
	char imsi[OSMO_IMSI_BUF_SIZE];
	uint32_t sid;
	unsigned seen;
	double sent_at;
	bool active;
};

static struct bdlg *bd;
static uint32_t *lat_us;
static size_t lat_n, lat_cap;
static unsigned long b_screens, b_dialogues, b_errors, b_ends_early;
static uint32_t b_sid = 1;
static double b_start, b_stop;
static bool b_running;

static void bench_begin(unsigned i)
{
	struct bdlg *d = &bd[i];
	unsigned long long base = strtoull(opt.imsi_base, NULL, 10);

	snprintf(d->imsi, sizeof(d->imsi), "%0*llu", (int)strlen(opt.imsi_base),
		 base + (b_sid % opt.imsis));
	d->sid = b_sid++;
	d->seen = 0;
	d->active = true;
	d->sent_at = now_s();
	if (send_dial(d->imsi, d->sid, opt.code) < 0)
		b_errors++;
}

static void bench_rx(const struct screen *s)
{
	double t = now_s();
	unsigned i;
	struct bdlg *d;

	/* Find the slot by session id (sids are unique, slots are few). */
	for (i = 0; i < opt.conc; i++)
		if (bd[i].active && bd[i].sid == s->sid && !strcmp(bd[i].imsi, s->imsi))
			break;
	if (i == opt.conc)
		return;
	d = &bd[i];
	if (lat_n < lat_cap)
		lat_us[lat_n++] = (uint32_t)((t - d->sent_at) * 1e6);
	b_screens++;
	d->seen++;
	if (!strcmp(kind_of(s), "err") || !strcmp(kind_of(s), "rej"))
		b_errors++;
	if (s->end || d->seen >= opt.screens) {
		if (!s->end) {
			send_answer(d->imsi, d->sid, s->decoded ? s->c.invoke_id : 0, "0", true);
		} else if (d->seen < opt.screens) {
			b_ends_early++;
		}
		b_dialogues++;
		d->active = false;
		if (b_running)
			bench_begin(i);
		return;
	}
	d->sent_at = t;
	if (send_answer(d->imsi, d->sid, s->decoded ? s->c.invoke_id : 0, opt.answer, false) < 0)
		b_errors++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static struct osmo_timer_list bench_timer;

static void bench_report(void)
{
	double el = b_stop - b_start;

	qsort(lat_us, lat_n, sizeof(lat_us[0]), cmp_u32);
	printf("screens=%lu dialogues=%lu errors=%lu early_ends=%lu seconds=%.2f\n", b_screens,
	       b_dialogues, b_errors, b_ends_early, el);
	printf("screens_per_s=%.0f\n", el > 0 ? b_screens / el : 0);
	if (lat_n)
		printf("latency_us p50=%u p99=%u max=%u\n", lat_us[lat_n / 2],
		       lat_us[(size_t)(lat_n * 0.99)], lat_us[lat_n - 1]);
	fflush(stdout);
}

static void bench_tick(void *data)
{
	(void)data;
	if (b_running) {
		b_running = false;
		b_stop = now_s();
		/* Let the dialogues in flight finish or end them. */
		osmo_timer_schedule(&bench_timer, 1, 0);
		return;
	}
	for (unsigned i = 0; i < opt.conc; i++)
		if (bd[i].active)
			send_answer(bd[i].imsi, bd[i].sid, 0, "0", true);
	bench_report();
	done = true;
}

static void bench_start(void)
{
	bd = calloc(opt.conc, sizeof(*bd));
	lat_cap = 20u * 1000 * 1000;
	lat_us = malloc(lat_cap * sizeof(*lat_us));
	if (!bd || !lat_us) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	b_running = true;
	b_start = now_s();
	osmo_timer_setup(&bench_timer, bench_tick, NULL);
	osmo_timer_schedule(&bench_timer, opt.dur, 0);
	for (unsigned i = 0; i < opt.conc; i++)
		bench_begin(i);
}

/* ======================= GSUP ======================= */

static int read_cb(struct osmo_gsup_client *c, struct msgb *msg)
{
	struct osmo_gsup_message m;
	struct screen s;

	(void)c;
	if (osmo_gsup_decode(msgb_l2(msg), msgb_l2len(msg), &m) >= 0 &&
	    (m.message_type == OSMO_GSUP_MSGT_PROC_SS_REQUEST ||
	     m.message_type == OSMO_GSUP_MSGT_PROC_SS_RESULT ||
	     m.message_type == OSMO_GSUP_MSGT_PROC_SS_ERROR)) {
		decode_screen(&m, &s);
		if (opt.bench)
			bench_rx(&s);
		else
			script_rx(&s);
	}
	msgb_free(msg);
	return 0;
}

static void ready_cb(void *data)
{
	(void)data;
	ready = true;
	if (opt.bench)
		bench_start();
	else
		run_steps();
}

static bool up_down_cb(struct osmo_gsup_client *c, bool up)
{
	(void)c;
	if (up && !link_up) {
		link_up = true;
		/* osmo-hlr routes answers to us by our IPA name: let the exchange finish. */
		osmo_timer_setup(&ready_timer, ready_cb, NULL);
		osmo_timer_schedule(&ready_timer, 0, 300000);
	} else if (!up && link_up) {
		link_up = false;
		if (!opt.quiet)
			printf("LINK DOWN\n");
	}
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: ussd_msc [-H host] [-p port] [-n serno] [-t timeout] "
		"[-f script] [step...]\n"
		"       ussd_msc --bench [-c concurrent] [-m screens] [-d seconds] [--code C] "
		"[--answer A] [--imsis K] [--imsi-base I]\n");
	exit(2);
}

static void read_script(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char line[1024];

	if (!f) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		steps = realloc(steps, (n_steps + 1) * sizeof(*steps));
		steps[n_steps++] = strdup(line);
	}
	if (f != stdin)
		fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "bench", no_argument, NULL, 'B' }, { "code", required_argument, NULL, 'C' },
		{ "answer", required_argument, NULL, 'A' }, { "imsis", required_argument, NULL, 'K' },
		{ "imsi-base", required_argument, NULL, 'I' }, { NULL, 0, NULL, 0 },
	};
	static const struct log_info_cat cats[] = {
		{ .name = "DMAIN", .enabled = 1, .loglevel = LOGL_ERROR },
	};
	static const struct log_info li = { .cat = cats, .num_cat = ARRAY_SIZE(cats) };
	void *ctx = talloc_named_const(NULL, 0, "ussd_msc");
	struct osmo_gsup_client_config cc = { 0 };
	struct ipaccess_unit *dev;
	int c;

	/* osmo-hlr killed under load (fault tests): a write to it is an EPIPE, not our end. */
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "H:p:n:t:f:c:m:d:q", lo, NULL)) != -1) {
		switch (c) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = (unsigned)atoi(optarg); break;
		case 'n': opt.serno = optarg; break;
		case 't': opt.timeout = atof(optarg); break;
		case 'f': read_script(optarg); break;
		case 'c': opt.conc = (unsigned)atoi(optarg); break;
		case 'm': opt.screens = (unsigned)atoi(optarg); break;
		case 'd': opt.dur = (unsigned)atoi(optarg); break;
		case 'q': opt.quiet = true; break;
		case 'B': opt.bench = true; break;
		case 'C': opt.code = optarg; break;
		case 'A': opt.answer = optarg; break;
		case 'K': opt.imsis = (unsigned)atoi(optarg); break;
		case 'I': opt.imsi_base = optarg; break;
		default: usage();
		}
	}
	for (; optind < argc; optind++) {
		steps = realloc(steps, (n_steps + 1) * sizeof(*steps));
		steps[n_steps++] = strdup(argv[optind]);
	}
	if (!opt.bench && !n_steps)
		usage();
	if (opt.conc < 1 || opt.screens < 1 || opt.imsis < 1)
		usage();
	osmo_init_logging2(ctx, &li);
	log_set_print_category(osmo_stderr_target, 1);
	log_set_log_level(osmo_stderr_target, LOGL_ERROR);
	{
		/* Session ids unique across runs: osmo-hlr keeps a session until its guard
		 * timeout even after refusing it. */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		next_sid = ((uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 20)) & 0x7ffff000u;
		b_sid = next_sid | 1;
	}
	osmo_timer_setup(&step_timer, step_timeout, NULL);

	dev = talloc_zero(ctx, struct ipaccess_unit);
	dev->unit_name = talloc_strdup(dev, opt.serno);
	dev->serno = talloc_strdup(dev, opt.serno);
	dev->swversion = talloc_strdup(dev, "ussd_msc");
	cc.ipa_dev = dev;
	cc.ip_addr = opt.host;
	cc.tcp_port = opt.port;
	cc.read_cb = read_cb;
	cc.up_down_cb = up_down_cb;
	gc = osmo_gsup_client_create3(ctx, &cc);
	if (!gc) {
		fprintf(stderr, "cannot create the GSUP client\n");
		return 2;
	}
	{
		double give_up = now_s() + 10;

		while (!done) {
			osmo_select_main(0);
			if (!ready && now_s() > give_up) {
				fprintf(stderr, "no GSUP link to %s:%u\n", opt.host, opt.port);
				return 2;
			}
		}
	}
	{
		/* The last message (an END) may still sit in the link's write queue: let it
		 * leave before the client goes, or it is lost (and leaked). */
		double flush_until = now_s() + 0.2;

		while (now_s() < flush_until) {
			osmo_select_main(1);
			usleep(2000);
		}
	}
	osmo_gsup_client_destroy(gc);
	if (!opt.bench)
		printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
	return failures ? 1 : 0;
}
