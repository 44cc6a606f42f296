/* Fuzz target: the aggregator's USSD callback (ussd_http.c) as the daemon runs it: requests
 * over a real loopback connection to libmicrohttpd on the osmo loop, form fields decoded by
 * its post processor into post_iter(), then dispatch(): session ids, the `text` history that
 * must extend the session's, replies cut to a screen, sessions ended and aborted.
 *
 * Input: up to 8 requests separated by NUL bytes. A request starting with an HTTP method is
 * sent as it is (then the write side is closed); anything else is a form body, wrapped in a
 * well-formed POST with the shared secret. A fresh server per input, so that a crash replays.
 *
 * The stand-in router answers each request once, at once or one loop turn later: CON with the
 * answer repeated (long answers get cut), END when it holds a '0'. With the last input byte
 * odd, the server stops with replies still owed, which arrive after the stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/select.h>
#include <osmocom/core/timer.h>

#include "fuzz.h"
#include "guichet/log.h"
#include "guichet/ussd_http.h"

#define MAX_OWED 64

struct owed {
	ussd_reply_fn fn;
	void *data;
	char *text;
	bool con;
};

static struct owed owed[MAX_OWED];
static unsigned n_owed;
static void *owed_ctx;

static void pay_owed(void)
{
	unsigned n = n_owed;

	n_owed = 0;
	for (unsigned i = 0; i < n; i++)
		owed[i].fn(owed[i].data, owed[i].text, owed[i].con);
	talloc_free_children(owed_ctx);
}

static void sink_request(void *data, const struct ussd_req *req, ussd_reply_fn reply, void *rdata)
{
	size_t len = strlen(req->text);
	char *text = talloc_strdup(owed_ctx, "");
	bool con = !strchr(req->text, '0');

	(void)data;
	FUZZ_ASSERT(req->dialogue && req->from && !strcmp(req->via, "http"));
	for (size_t i = 0; i <= len % 5; i++)
		text = talloc_asprintf_append(text, "%s \xc3\xa9 ", req->text);
	if (len % 2 == 0 || n_owed == MAX_OWED) {
		reply(rdata, text, con);
		talloc_free(text);
		return;
	}
	owed[n_owed++] = (struct owed){ reply, rdata, text, con };
}

static void sink_abort(void *data, const char *dialogue)
{
	(void)data;
	FUZZ_ASSERT(!strncmp(dialogue, "http:", 5));
}

struct client {
	struct osmo_fd ofd;
	struct osmo_timer_list deadline;
	bool done;
};

static int client_cb(struct osmo_fd *ofd, unsigned what)
{
	struct client *c = ofd->data;
	char buf[4096];
	ssize_t n;

	(void)what;
	n = read(ofd->fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN))
		c->done = true;
	else if (n > 0 && getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "<< %.*s\n", (int)n, buf);
	return 0;
}

static void deadline_cb(void *data)
{
	/* A request libmicrohttpd still waits to complete (it would time out in 30 s). */
	((struct client *)data)->done = true;
}

/* Sends one request and runs the loop until the server has closed the connection. */
static void one_request(unsigned port, const uint8_t *req, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	bool raw = (len >= 4 && !memcmp(req, "GET ", 4)) || (len >= 5 && !memcmp(req, "POST ", 5)) ||
		   (len >= 4 && !memcmp(req, "PUT ", 4));
	char head[256];
	struct client c = { .done = false };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	FUZZ_ASSERT(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_ASSERT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	if (!raw) {
		int hl = snprintf(head, sizeof(head), "POST /ussd HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Content-Type: application/x-www-form-urlencoded\r\n"
				  "X-Guichet-Secret: s3cret\r\nConnection: close\r\n"
				  "Content-Length: %zu\r\n\r\n", len);
		FUZZ_ASSERT(write(fd, head, (size_t)hl) == hl);
	}
	if (len)
		FUZZ_ASSERT(write(fd, req, len) == (ssize_t)len);
	if (raw)
		shutdown(fd, SHUT_WR);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	osmo_fd_setup(&c.ofd, fd, OSMO_FD_READ, client_cb, &c, 0);
	FUZZ_ASSERT(osmo_fd_register(&c.ofd) == 0);
	osmo_timer_setup(&c.deadline, deadline_cb, &c);
	osmo_timer_schedule(&c.deadline, 0, 30000);
	while (!c.done) {
		osmo_select_main(n_owed ? 1 : 0);
		pay_owed();
	}
	osmo_timer_del(&c.deadline);
	osmo_fd_unregister(&c.ofd);
	/* Close by reset: an orderly close leaves the pair in TIME_WAIT for a minute, and at
	 * thousands of inputs a second the fuzzer would run out of loopback ports (connect
	 * failing with EADDRNOTAVAIL) long before it runs out of inputs. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
		   sizeof(struct linger));
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	log_setup(NULL, false, getenv("FUZZ_VERBOSE") ? "debug" : "fatal");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *ctx = talloc_named_const(NULL, 0, "fuzz_ussd_http");
	struct ussd_http_allow allow = { .family = AF_INET, .addr = { 127, 0, 0, 1 }, .prefix = 8 };
	struct ussd_http_config cfg = { .listen = "127.0.0.1", .port = 0, .secret = "s3cret",
					.allow = &allow, .n_allow = 1, .session_s = 60 };
	struct ussd_sink sink = { .request = sink_request, .abort = sink_abort };
	struct ussd_http *h = ussd_http_start(ctx, &cfg, 128, sink);
	struct ussd_http_stats st;
	size_t off = 0;

	FUZZ_ASSERT(h);
	owed_ctx = talloc_named_const(ctx, 0, "owed replies");
	for (unsigned k = 0; k < 8 && off <= size; k++) {
		const uint8_t *end = size ? memchr(data + off, 0, size - off) : NULL;
		size_t len = end ? (size_t)(end - (data + off)) : size - off;
		one_request(ussd_http_port(h), data + off, len);
		off += len + 1;
	}
	ussd_http_stats(h, &st);
	FUZZ_ASSERT(st.replies <= st.requests);
	if (size && (data[size - 1] & 1)) {
		ussd_http_stop(h);
		pay_owed();
	} else {
		pay_owed();
		ussd_http_stop(h);
	}
	talloc_free(ctx);
	return 0;
}
