/* The GSUP link (gsup_link) against an IPA server played by the test on a loopback socket:
 * the identity given on ID_GET makes the link up; every frame the kernel holds is handled in
 * ONE wake-up of the select loop, and the answers written meanwhile are all on the wire when
 * that wake-up returns (libosmo-gsup-client took one wake-up per frame and another per
 * answer); PING is answered, a frame split in two is joined, a closed connection makes the
 * link down and it connects again by itself. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <osmocom/core/msgb.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>

#include "guichet/gsup_link.h"
#include "unit_main.h"

#define BATCH 50

static struct gsup_link *L;
static int ups, downs, rxs;

static void rx_cb(void *data, const uint8_t *gsup, size_t len)
{
	struct osmo_gsup_message m, r = { .message_type = OSMO_GSUP_MSGT_PROC_SS_RESULT };
	static uint8_t comp[] = { 0xa2, 0x03, 0x02, 0x01, 0x01 };

	(void)data;
	rxs++;
	if (osmo_gsup_decode(gsup, len, &m) < 0)
		return;
	OSMO_STRLCPY_ARRAY(r.imsi, m.imsi);
	r.session_id = m.session_id;
	r.session_state = OSMO_GSUP_SESSION_STATE_END;
	r.ss_info = comp;
	r.ss_info_len = sizeof(comp);
	CU_ASSERT_EQUAL(gsup_link_send(L, &r), 0);
}

static void updown_cb(void *data, bool up)
{
	(void)data;
	if (up)
		ups++;
	else
		downs++;
}

static void pump_once(void)
{
	osmo_select_main(1);	/* polling: handles what is ready, never blocks */
}

/* Pumps until cond holds (or ~3 s). */
#define PUMP_UNTIL(cond) do { \
	for (int i_ = 0; i_ < 3000 && !(cond); i_++) { \
		pump_once(); \
		usleep(1000); \
	} \
} while (0)

static void put_frame(int fd, uint8_t proto, const uint8_t *p, size_t len)
{
	uint8_t h[3] = { (uint8_t)(len >> 8), (uint8_t)len, proto };

	CU_ASSERT_EQUAL(write(fd, h, 3), 3);
	CU_ASSERT_EQUAL(write(fd, p, len), (ssize_t)len);
}

/* Reads every frame available on fd now (fd non-blocking); returns how many had proto and,
 * when first is not NULL, the first such frame's payload. */
static int take_frames(int fd, uint8_t proto, uint8_t *first, size_t *first_len)
{
	static uint8_t buf[65536];
	size_t len = 0, off = 0;
	ssize_t n;
	int count = 0;

	while ((n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	while (len - off >= 3) {
		size_t fl = (size_t)buf[off] << 8 | buf[off + 1];

		if (len - off < 3 + fl)
			break;
		if (buf[off + 2] == proto) {
			if (first && !count) {
				memcpy(first, buf + off + 3, fl);
				*first_len = fl;
			}
			count++;
		}
		off += 3 + fl;
	}
	return count;
}

static size_t gsup_request(uint8_t *out, size_t max, uint32_t sid)
{
	static uint8_t comp[] = { 0xa1, 0x0e, 0x02, 0x01, 0x01, 0x02, 0x01, 0x3b, 0x30,
					0x06, 0x04, 0x01, 0x0f, 0x04, 0x01, 0x2a };
	struct osmo_gsup_message m = {
		.message_type = OSMO_GSUP_MSGT_PROC_SS_REQUEST,
		.session_id = sid,
		.session_state = OSMO_GSUP_SESSION_STATE_BEGIN,
		.ss_info = comp,
		.ss_info_len = sizeof(comp),
	};
	struct msgb *msg = msgb_alloc(512, "test");
	size_t n;

	OSMO_STRLCPY_ARRAY(m.imsi, "001010000000001");
	out[0] = IPAC_PROTO_EXT_GSUP;
	osmo_gsup_encode(msg, &m);
	n = msgb_length(msg);
	CU_ASSERT_FATAL(n + 1 <= max);
	memcpy(out + 1, msgb_data(msg), n);
	msgb_free(msg);
	return n + 1;
}

static int accept_one(int srv)
{
	int fd = -1;

	PUMP_UNTIL((fd = accept(srv, NULL, NULL)) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK));
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void identify(int peer)
{
	/* Asks for the serial number and the unit name (IPAC_IDTAG_SERNR, _UNITNAME). */
	static const uint8_t id_get[] = { IPAC_MSGT_ID_GET, 0x01, 0x00, 0x01, 0x01 };
	uint8_t resp[256];
	size_t rl = 0;
	int before = ups;

	put_frame(peer, IPAC_PROTO_IPACCESS, id_get, sizeof(id_get));
	PUMP_UNTIL(ups > before);
	CU_ASSERT_EQUAL(ups, before + 1);
	CU_ASSERT(gsup_link_up(L));
	CU_ASSERT_EQUAL(take_frames(peer, IPAC_PROTO_IPACCESS, resp, &rl), 1);
	CU_ASSERT(rl > 1 && resp[0] == IPAC_MSGT_ID_RESP);
	CU_ASSERT(rl > 1 && memmem(resp, rl, "EUSE-test", 9) != NULL);
}

static void test_link(void)
{
	void *ctx = talloc_named_const(NULL, 0, "test_gsup_link");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct ipaccess_unit dev = { .unit_name = "EUSE-test", .serno = "EUSE-test",
				     .swversion = "test" };
	static uint8_t batch[BATCH * 128];
	size_t blen = 0;
	uint8_t one[128], pong[8];
	size_t ol, pl = 0;
	int srv = socket(AF_INET, SOCK_STREAM, 0), peer;
	struct osmo_gsup_message none = { .message_type = OSMO_GSUP_MSGT_PROC_SS_RESULT };

	CU_ASSERT_FATAL(srv >= 0);
	CU_ASSERT_FATAL(bind(srv, (struct sockaddr *)&a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(listen(srv, 4) == 0);
	CU_ASSERT_FATAL(getsockname(srv, (struct sockaddr *)&a, &al) == 0);
	fcntl(srv, F_SETFL, O_NONBLOCK);

	L = gsup_link_create(ctx, "127.0.0.1", ntohs(a.sin_port), &dev, rx_cb, updown_cb, NULL);
	CU_ASSERT_FATAL(L != NULL);
	CU_ASSERT(!gsup_link_up(L));
	OSMO_STRLCPY_ARRAY(none.imsi, "001010000000001");
	CU_ASSERT_EQUAL(gsup_link_send(L, &none), -ENOTCONN);
	peer = accept_one(srv);
	CU_ASSERT_FATAL(peer >= 0);
	identify(peer);

	/* BATCH requests in one write: one wake-up handles them all, and their answers are all
	 * on the wire when it returns. */
	for (int i = 0; i < BATCH; i++) {
		uint8_t g[128];
		size_t gl = gsup_request(g, sizeof(g), 100 + (uint32_t)i);

		batch[blen++] = (uint8_t)(gl >> 8);
		batch[blen++] = (uint8_t)gl;
		batch[blen++] = IPAC_PROTO_OSMO;
		memcpy(batch + blen, g, gl);
		blen += gl;
	}
	CU_ASSERT_EQUAL(write(peer, batch, blen), (ssize_t)blen);
	rxs = 0;
	pump_once();
	CU_ASSERT_EQUAL(rxs, BATCH);
	CU_ASSERT_EQUAL(take_frames(peer, IPAC_PROTO_OSMO, NULL, NULL), BATCH);

	/* PING is answered with PONG. */
	put_frame(peer, IPAC_PROTO_IPACCESS, (const uint8_t[]){ IPAC_MSGT_PING }, 1);
	PUMP_UNTIL(take_frames(peer, IPAC_PROTO_IPACCESS, pong, &pl) > 0);
	CU_ASSERT(pl == 1 && pong[0] == IPAC_MSGT_PONG);

	/* A frame in two writes is handled once whole. */
	ol = gsup_request(one + 3, sizeof(one) - 3, 7);
	one[0] = (uint8_t)(ol >> 8);
	one[1] = (uint8_t)ol;
	one[2] = IPAC_PROTO_OSMO;
	rxs = 0;
	CU_ASSERT_EQUAL(write(peer, one, 10), 10);
	pump_once();
	CU_ASSERT_EQUAL(rxs, 0);
	CU_ASSERT_EQUAL(write(peer, one + 10, ol + 3 - 10), (ssize_t)(ol + 3 - 10));
	PUMP_UNTIL(rxs == 1);
	CU_ASSERT_EQUAL(rxs, 1);
	PUMP_UNTIL(take_frames(peer, IPAC_PROTO_OSMO, NULL, NULL) == 1);

	/* The server goes: down once, then a new connection and identity by itself. */
	close(peer);
	PUMP_UNTIL(downs == 1);
	CU_ASSERT_EQUAL(downs, 1);
	CU_ASSERT(!gsup_link_up(L));
	CU_ASSERT_EQUAL(gsup_link_send(L, &none), -ENOTCONN);
	peer = accept_one(srv);
	CU_ASSERT_FATAL(peer >= 0);
	identify(peer);
	CU_ASSERT_EQUAL(ups, 2);

	gsup_link_destroy(L);
	close(peer);
	close(srv);
	CU_ASSERT_EQUAL(talloc_total_blocks(ctx), 1);
	talloc_free(ctx);
}

static const CU_TestInfo tests[] = {
	{ "batches, identity, ping, split frames, reconnection", test_link },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_run("gsup_link", NULL, NULL, tests);
}
