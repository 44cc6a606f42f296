/* Logging and systemd notification: number masking, pseudonyms, the readable stderr line
 * (captured through dup2, and checked for raw numbers), the journal fields (through a fake
 * journal socket, when none exists), sd_notify messages and the liveness-gated watchdog
 * (through a fake $NOTIFY_SOCKET). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/log.h"
#include "guichet/service.h"

static void *ctx;

/* ---- masking ---- */

static void test_mask_formats(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "+33612345578", "+33 6** ** *5 78" },
		{ "+33 6 12 34 55 78", "+33 6** ** *5 78" },
		{ "+33.6.12.34.55.78", "+33 6** ** *5 78" },
		{ "0033612345578", "0033 6** ** *5 78" },
		{ "0612345578", "06 ** ** *5 78" },
		{ "+221771234567", "+221 7** ** *5 67" },	/* Senegal: 3-digit code */
		{ "+14155552671", "+1 4* ** ** *6 71" },	/* NANP: 1-digit code */
		{ "+447911123456", "+44 7* ** ** *4 56" },
		{ "208011234567890", "2** ** ** ** ** *8 90" },	/* IMSI */
		{ "12345", "1** *5" },
		{ "4321", "4* *1" },
		{ "112", "***" },
		{ "ORANGE", "O***GE" },
		{ "alice@example.org", "a*************org" },
		{ "", "" },
		{ NULL, "-" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = log_mask(buf, sizeof(buf), cases[i].in);
		if (strcmp(got, cases[i].out))
			fprintf(stderr, "\nmask(%s) = \"%s\", want \"%s\"\n",
				cases[i].in ? cases[i].in : "NULL", got, cases[i].out);
		CU_ASSERT_STRING_EQUAL(got, cases[i].out);
		CU_ASSERT_PTR_EQUAL(got, buf);
	}
}

static void test_mask_never_leaks(void)
{
	/* Whatever the length, at most 1 + 3 digits stay and at least half are hidden. */
	char in[40], buf[80];
	for (int n = 1; n <= 20; n++) {
		for (int i = 0; i < n; i++)
			in[i] = (char)('1' + i % 9);
		in[n] = '\0';
		log_mask(buf, sizeof(buf), in);
		int shown = 0, hidden = 0;
		for (const char *p = buf; *p; p++) {
			if (*p >= '0' && *p <= '9')
				shown++;
			else if (*p == '*')
				hidden++;
		}
		CU_ASSERT(shown <= 4);
		CU_ASSERT(hidden >= shown);
	}
}

static void test_mask_small_buffer(void)
{
	char buf[6];
	memset(buf, 'x', sizeof(buf));
	const char *got = log_mask(buf, sizeof(buf), "+33612345578");
	CU_ASSERT_EQUAL(strlen(got), sizeof(buf) - 1);
	CU_ASSERT_STRING_EQUAL(got, "+33 6");
	CU_ASSERT_STRING_EQUAL(log_mask(buf, 0, "+33612345578"), "");
}

/* ---- pseudonyms ---- */

static void test_hmac_vector(void)
{
	/* RFC 4231 test case 2. */
	static const unsigned char want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
		0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
		0x64, 0xec, 0x38, 0x43,
	};
	unsigned char out[32];
	log_hmac_sha256((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28, out);
	CU_ASSERT(!memcmp(out, want, 32));

	/* RFC 4231 test case 6: a key longer than the block is hashed first. */
	static const unsigned char want6[32] = {
		0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5,
		0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f,
		0x0e, 0xe3, 0x7f, 0x54,
	};
	unsigned char key[131];
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	memset(key, 0xaa, sizeof(key));
	log_hmac_sha256(key, sizeof(key), msg, strlen(msg), out);
	CU_ASSERT(!memcmp(out, want6, 32));
}

static bool is_pseudonym(const char *s)
{
	if (strlen(s) != 10 || strncmp(s, "p-", 2))
		return false;
	for (int i = 2; i < 10; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static void test_pseudonym(void)
{
	unsigned char k1[32], k2[32];
	char a[16], b[16], c[16];

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));

	/* Random key of the day: stable from call to call. */
	log_pseudonym_rekey(NULL);
	log_pseudonym(a, sizeof(a), "+33612345578");
	log_pseudonym(b, sizeof(b), "+33612345578");
	CU_ASSERT(is_pseudonym(a));
	CU_ASSERT_STRING_EQUAL(a, b);
	log_pseudonym(c, sizeof(c), "+33612345579");
	CU_ASSERT_STRING_NOT_EQUAL(a, c);

	/* Fixed keys: deterministic, and different across keys. */
	log_pseudonym_rekey(k1);
	log_pseudonym(a, sizeof(a), "+33612345578");
	log_pseudonym_rekey(k2);
	log_pseudonym(b, sizeof(b), "+33612345578");
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	log_pseudonym_rekey(k1);
	log_pseudonym(c, sizeof(c), "+33612345578");
	CU_ASSERT_STRING_EQUAL(a, c);

	/* It is the first 4 bytes of HMAC-SHA-256(key, number), in hex. */
	unsigned char mac[32];
	char want[16];
	log_hmac_sha256(k1, 32, "+33612345578", 12, mac);
	snprintf(want, sizeof(want), "p-%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3]);
	CU_ASSERT_STRING_EQUAL(a, want);

	/* A new random key changes every pseudonym (restart or new day). */
	log_pseudonym_rekey(NULL);
	log_pseudonym(b, sizeof(b), "+33612345578");
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	CU_ASSERT_STRING_EQUAL(log_pseudonym(a, 0, "x"), "");
	log_pseudonym_rekey(NULL);
}

static void test_levels(void)
{
	CU_ASSERT_EQUAL(log_level_from_str("debug"), LOGL_DEBUG);
	CU_ASSERT_EQUAL(log_level_from_str("INFO"), LOGL_INFO);
	CU_ASSERT_EQUAL(log_level_from_str("notice"), LOGL_NOTICE);
	CU_ASSERT_EQUAL(log_level_from_str("error"), LOGL_ERROR);
	CU_ASSERT_EQUAL(log_level_from_str("fatal"), LOGL_FATAL);
	CU_ASSERT_EQUAL(log_level_from_str("verbose"), -1);
	CU_ASSERT_EQUAL(log_level_from_str(NULL), -1);
}

/* ---- stderr ---- */

/* Runs fn with stderr redirected to a temporary file; returns the text written (free it). */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/test_log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *text = NULL;

	if (fd < 0 || saved < 0)
		return NULL;
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	off_t len = lseek(fd, 0, SEEK_END);
	text = calloc(1, (size_t)len + 1);
	if (text && pread(fd, text, (size_t)len, 0) != len) {
		free(text);
		text = NULL;
	}
	close(fd);
	return text;
}

static void log_some(void)
{
	char masked[32], pseudo[16];
	const char *number = "+33612345578";
	struct log_fields f = {
		.session = log_pseudonym(pseudo, sizeof(pseudo), number),
		.flow = "rendez-vous", .step = "numero", .channel = "sms", .modem = "usb0",
	};

	log_setup(ctx, false, "info");
	glog(GLOG_SESSION, LOGL_INFO, &f, "session started from %s",
	     log_mask(masked, sizeof(masked), number));
	glog(GLOG_SESSION, LOGL_DEBUG, &f, "debug line not shown at info");
	glog(GLOG_BACKEND, LOGL_ERROR, &(struct log_fields){ .backend = "agenda" },
	     "back-end failure: %s", "timeout");
	LOG_MAIN(LOGL_NOTICE, "reload refused");
	log_setup(ctx, false, "debug");
	glog(GLOG_MODEM, LOGL_DEBUG, NULL, "debug line shown at debug");
	log_setup(ctx, false, "info");
}

static bool line_like(const char *line, const char *tail)
{
	/* "YYYY-MM-DD HH:MM:SS " then tail. */
	if (strlen(line) < 20)
		return false;
	for (int i = 0; i < 19; i++) {
		char c = line[i];
		bool digit = c >= '0' && c <= '9';
		if ((i == 4 || i == 7) ? c != '-' : i == 10 ? c != ' ' :
		    (i == 13 || i == 16) ? c != ':' : !digit)
			return false;
	}
	return line[19] == ' ' && !strncmp(line + 20, tail, strlen(tail));
}

static void test_stderr_lines(void)
{
	char *out = capture_stderr(log_some);
	char pseudo[16], want[128];

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NULL(strstr(out, "+33612345578"));
	CU_ASSERT_PTR_NULL(strstr(out, "612345578"));
	CU_ASSERT_PTR_NULL(strstr(out, "not shown"));

	char *save = NULL, *l1 = strtok_r(out, "\n", &save), *l2 = strtok_r(NULL, "\n", &save),
	     *l3 = strtok_r(NULL, "\n", &save), *l4 = strtok_r(NULL, "\n", &save),
	     *l5 = strtok_r(NULL, "\n", &save);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l4);
	snprintf(want, sizeof(want), "INFO session %s rendez-vous/numero: session started from "
		 "+33 6** ** *5 78 [channel=sms modem=usb0]",
		 log_pseudonym(pseudo, sizeof(pseudo), "+33612345578"));
	if (!line_like(l1, want))
		fprintf(stderr, "\ngot  %s\nwant ... %s\n", l1, want);
	CU_ASSERT(line_like(l1, want));
	CU_ASSERT(line_like(l2, "ERROR backend back-end failure: timeout [backend=agenda]"));
	CU_ASSERT(line_like(l3, "NOTICE main reload refused"));
	CU_ASSERT(line_like(l4, "DEBUG modem debug line shown at debug"));
	CU_ASSERT_PTR_NULL(l5);
	free(out);
}

/* What a person types reaches the log (at debug) as one line: control characters and
 * invalid UTF-8 escaped, in the message and in every field. */
static void log_forged(void)
{
	struct log_fields f = { .flow = "rdv\nFAKE", .step = "a\rb", .modem = "m\x1b[2J",
				.channel = "sms" };
	log_setup(ctx, false, "debug");
	glog(GLOG_SESSION, LOGL_DEBUG, &f, "text: %s",
	     "RDV\r\n2026-01-01 00:00:00 NOTICE main forged\ttab\x01\x7f \xff\xc3( é \xc2\x85 \xe2\x80\xa8 \xed\xa0\x80 end");
	glog(GLOG_MAIN, LOGL_INFO, NULL, "after");
	log_setup(ctx, false, "info");
}

static void test_forging(void)
{
	char *out = capture_stderr(log_forged);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	char *save = NULL, *l1 = strtok_r(out, "\n", &save), *l2 = strtok_r(NULL, "\n", &save),
	     *l3 = strtok_r(NULL, "\n", &save);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
	CU_ASSERT_PTR_NULL(l3);
	CU_ASSERT(line_like(l2, "INFO main after"));
	const char *want = "DEBUG session rdv\\nFAKE/a\\rb: text: RDV\\r\\n2026-01-01 00:00:00 NOTICE "
			   "main forged\\ttab\\x01\\x7F \\xFF\\xC3( é \\u0085 \\u2028 \\xED\\xA0\\x80 end "
			   "[channel=sms modem=m\\x1B[2J]";
	if (!line_like(l1, want))
		fprintf(stderr, "\ngot  %s\nwant ... %s\n", l1, want);
	CU_ASSERT(line_like(l1, want));
	CU_ASSERT_PTR_NULL(strchr(l1, '\r'));
	CU_ASSERT_PTR_NULL(strchr(l1, '\x1b'));
	free(out);
}

#define THREADS 4
#define PER_THREAD 300

static void *thread_logger(void *arg)
{
	char modem[16];
	snprintf(modem, sizeof(modem), "m%d", (int)(intptr_t)arg);
	struct log_fields f = { .modem = modem };
	for (int i = 0; i < PER_THREAD; i++)
		glog(GLOG_MODEM, LOGL_INFO, &f, "poll %d of thread %s", i, modem);
	return NULL;
}

static void log_threads(void)
{
	pthread_t t[THREADS];
	log_setup(ctx, false, "info");
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, thread_logger, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
}

static void test_threads(void)
{
	char *out = capture_stderr(log_threads);
	int lines = 0, good = 0;
	char *save = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		int i, m, m2;
		lines++;
		/* Each line intact and its fields from its own thread. */
		if (sscanf(l + 20, "INFO modem poll %d of thread m%d [modem=m%d]", &i, &m, &m2) == 3 &&
		    m == m2)
			good++;
	}
	CU_ASSERT_EQUAL(lines, THREADS * PER_THREAD);
	CU_ASSERT_EQUAL(good, THREADS * PER_THREAD);
	free(out);
}

/* ---- journal (fake /run/systemd/journal/socket) ---- */

#define JOURNAL_DIR "/run/systemd/journal"
#define JOURNAL_SOCK JOURNAL_DIR "/socket"

static void test_journal_fields(void)
{
	struct stat st;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool made_run_systemd = false;
	char buf[8192];

	if (stat(JOURNAL_DIR, &st) == 0 || (stat("/run", &st) != 0)) {
		fprintf(stderr, "(journal test skipped: a journal exists or no /run) ");
		return;
	}
	if (stat("/run/systemd", &st) != 0) {
		if (mkdir("/run/systemd", 0755) != 0) {
			fprintf(stderr, "(journal test skipped: cannot create /run/systemd) ");
			return;
		}
		made_run_systemd = true;
	}
	if (mkdir(JOURNAL_DIR, 0755) != 0) {
		fprintf(stderr, "(journal test skipped: cannot create " JOURNAL_DIR ") ");
		goto out;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, JOURNAL_SOCK);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	log_setup(ctx, true, "info");
	struct log_fields f = { .session = "p-0011aabb", .flow = "rendez-vous", .step = "numero",
				.channel = "ussd", .backend = "agenda", .smsc = "smsc1" };
	glog(GLOG_BACKEND, LOGL_ERROR, &f, "back-end failure");
	glog(GLOG_SESSION, LOGL_DEBUG, &f, "not sent at info");
	LOG_MAIN(LOGL_INFO, "counters in=%d", 3);
	struct log_fields ff = { .flow = "x\nGUICHET_SESSION=forged", .channel = "sms" };
	glog(GLOG_SESSION, LOGL_NOTICE, &ff, "typed: %s", "a\nMESSAGE=forged");

	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "MESSAGE=p-0011aabb rendez-vous/numero: back-end failure"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nPRIORITY=3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nSYSLOG_IDENTIFIER=guichetd\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_CATEGORY=backend\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_SESSION=p-0011aabb\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_FLOW=rendez-vous\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_STEP=numero\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_CHANNEL=ussd\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_BACKEND=agenda\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_SMSC=smsc1\n"));
	CU_ASSERT_PTR_NULL(strstr(buf, "GUICHET_MODEM="));

	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "MESSAGE=counters in=3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nPRIORITY=6\n"));
	CU_ASSERT_PTR_NULL(strstr(buf, "GUICHET_SESSION"));

	/* Newlines in a value or the message: escaped, no field forged. */
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "MESSAGE=x\\nGUICHET_SESSION=forged: typed: a\\nMESSAGE=forged [channel=sms]\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nGUICHET_FLOW=x\\nGUICHET_SESSION=forged\n"));
	CU_ASSERT_PTR_NULL(strstr(buf, "\nGUICHET_SESSION="));
	CU_ASSERT_PTR_NULL(strstr(buf, "\nMESSAGE=forged"));
	CU_ASSERT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0);

	log_setup(ctx, false, "info");
	close(fd);
	unlink(JOURNAL_SOCK);
	rmdir(JOURNAL_DIR);
out:
	if (made_run_systemd)
		rmdir("/run/systemd");
}

/* ---- sd_notify ---- */

static char notify_path[64];
static int notify_fd = -1;

static int notify_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(notify_path, sizeof(notify_path), "/tmp/test_log_notify.%d", (int)getpid());
	unlink(notify_path);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, notify_path);
	if (notify_fd < 0 || bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	setenv("NOTIFY_SOCKET", notify_path, 1);
	return 0;
}

static void notify_close(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(notify_fd);
	unlink(notify_path);
}

/* Next datagram or "" when none is waiting. */
static const char *notify_next(char *buf, size_t len)
{
	ssize_t n = recv(notify_fd, buf, len - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int notify_count(const char *what)
{
	char buf[512];
	int n = 0;
	while (*notify_next(buf, sizeof(buf)))
		if (!strcmp(buf, what))
			n++;
	return n;
}

static void test_notify(void)
{
	char buf[512];

	unsetenv("NOTIFY_SOCKET");
	CU_ASSERT_EQUAL(service_ready(), 0);
	CU_ASSERT_EQUAL(service_status("x"), 0);
	CU_ASSERT_EQUAL(service_watchdog_setup(NULL, NULL), 0);

	CU_ASSERT_FATAL(notify_open() == 0);
	CU_ASSERT_EQUAL(service_ready(), 1);
	CU_ASSERT_STRING_EQUAL(notify_next(buf, sizeof(buf)), "READY=1");
	CU_ASSERT_EQUAL(service_status("%d modems up,\n%d sessions", 2, 14), 1);
	CU_ASSERT_STRING_EQUAL(notify_next(buf, sizeof(buf)), "STATUS=2 modems up, 14 sessions");
	CU_ASSERT_EQUAL(service_reloading(), 1);
	CU_ASSERT(!strncmp(notify_next(buf, sizeof(buf)), "RELOADING=1\nMONOTONIC_USEC=", 27));
	CU_ASSERT_EQUAL(service_stopping(), 1);
	CU_ASSERT_STRING_EQUAL(notify_next(buf, sizeof(buf)), "STOPPING=1");
	/* Watchdog not asked for (no WATCHDOG_USEC): nothing armed. */
	CU_ASSERT_EQUAL(service_watchdog_setup(NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(notify_next(buf, sizeof(buf)), "");
	notify_close();
}

static bool alive_flag;
static int alive_calls;

static bool alive(void *data)
{
	CU_ASSERT_PTR_EQUAL(data, &alive_flag);
	alive_calls++;
	return alive_flag;
}

static void run_loop_ms(int ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		osmo_select_main(0);	/* returns at each timer expiry */
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void quiet(void)
{
	log_setup(ctx, false, "fatal");
}

static void test_watchdog(void)
{
	char pid[16];

	CU_ASSERT_FATAL(notify_open() == 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_USEC", "100000", 1);	/* 100 ms: a tick every 50 ms */
	setenv("WATCHDOG_PID", pid, 1);

	alive_flag = true;
	CU_ASSERT_EQUAL(service_watchdog_setup(alive, &alive_flag), 100000);
	run_loop_ms(300);
	int fed = notify_count("WATCHDOG=1");
	CU_ASSERT(fed >= 4 && fed <= 8);	/* 1 at setup + ~6 ticks */
	CU_ASSERT(alive_calls >= 3);

	/* A hung modem thread: no more keep-alives (and one error line). */
	char *out = capture_stderr(quiet);
	free(out);
	alive_flag = false;
	run_loop_ms(250);
	CU_ASSERT_EQUAL(notify_count("WATCHDOG=1"), 0);

	alive_flag = true;
	run_loop_ms(150);
	CU_ASSERT(notify_count("WATCHDOG=1") >= 2);

	service_watchdog_stop();
	osmo_select_main(1);	/* no timer left to fire */
	CU_ASSERT_EQUAL(notify_count("WATCHDOG=1"), 0);
	notify_close();
	log_setup(ctx, false, "info");
}

int main(void)
{
	CU_pSuite s;
	unsigned failures;

	ctx = talloc_named_const(NULL, 0, "test_log");
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("log", NULL, NULL);
	if (!s ||
	    !CU_add_test(s, "mask formats", test_mask_formats) ||
	    !CU_add_test(s, "mask never leaks", test_mask_never_leaks) ||
	    !CU_add_test(s, "mask small buffer", test_mask_small_buffer) ||
	    !CU_add_test(s, "HMAC-SHA-256 vectors", test_hmac_vector) ||
	    !CU_add_test(s, "pseudonyms", test_pseudonym) ||
	    !CU_add_test(s, "level names", test_levels) ||
	    !CU_add_test(s, "stderr lines", test_stderr_lines) ||
	    !CU_add_test(s, "threads", test_threads) ||
	    !CU_add_test(s, "control characters escaped", test_forging) ||
	    !CU_add_test(s, "journal fields", test_journal_fields) ||
	    !CU_add_test(s, "sd_notify", test_notify) ||
	    !CU_add_test(s, "watchdog", test_watchdog)) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();

	log_shutdown();
	if (talloc_total_blocks(ctx) != 1) {
		talloc_report_full(ctx, stderr);
		failures++;
	}
	talloc_free(ctx);
	return failures ? 1 : 0;
}
