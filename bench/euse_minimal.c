/* euse_minimal: the smallest EUSE that can stand behind osmo-hlr, for bench_ussd.sh to put
 * Guichet's figures next to: a GSUP client that answers every USSD request with one fixed
 * screen, from memory, with no dialogue state, no router, no engine, no store, no logs.
 *
 *   euse_minimal HOST [PORT] [NAME]       (defaults 4222, "guichet": EUSE-NAME)
 *
 * The screen is the one bench/flows/boucle.yaml shows ("Mesure. Encore un tour ?" and two
 * options), sent the way a dialogue's middle screen goes: an unstructuredSS-Request Invoke
 * (CONTINUE) answering a BEGIN or a CONTINUE; an END from the phone ends nothing here.
 * Not a benchmark itself: bench/run.sh runs only bench_* binaries. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osmocom/core/application.h>
#include <osmocom/core/logging.h>
#include <osmocom/core/msgb.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/utils.h>
#include <osmocom/gsm/gsup.h>
#include <osmocom/gsupclient/gsup_client.h>

#include "guichet/ss_codec.h"

#define SCREEN "Mesure. Encore un tour ?\n1 Encore\n2 Fin"

static uint8_t screen[SS_USSD_MAX_OCTETS + 8], screen_dcs;
static size_t screen_len;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int read_cb(struct osmo_gsup_client *gc, struct msgb *msg)
{
	struct osmo_gsup_message m, r = { .message_type = OSMO_GSUP_MSGT_PROC_SS_RESULT };
	struct ss_component c;
	uint8_t comp[SS_COMPONENT_MAX];
	int n;

	if (osmo_gsup_decode(msgb_l2(msg), msgb_l2len(msg), &m) < 0 ||
	    m.message_type != OSMO_GSUP_MSGT_PROC_SS_REQUEST ||
	    (m.session_state != OSMO_GSUP_SESSION_STATE_BEGIN &&
	     m.session_state != OSMO_GSUP_SESSION_STATE_CONTINUE) ||
	    !m.ss_info || ss_component_decode(m.ss_info, m.ss_info_len, &c) < 0)
		goto out;
	/* Our Invoke takes the next invoke id: the phone answers it with a ReturnResult. */
	n = ss_component_encode(comp, sizeof(comp), SS_CTYPE_INVOKE, (uint8_t)(c.invoke_id + 1),
				SS_OP_USS_REQUEST, screen_dcs, screen, screen_len);
	if (n < 0)
		goto out;
	OSMO_STRLCPY_ARRAY(r.imsi, m.imsi);
	r.session_id = m.session_id;
	r.session_state = OSMO_GSUP_SESSION_STATE_CONTINUE;
	r.ss_info = comp;
	r.ss_info_len = (size_t)n;
	osmo_gsup_client_enc_send(gc, &r);
out:
	msgb_free(msg);
	return 0;
}

static const struct log_info log_info = { 0 };

int main(int argc, char **argv)
{
	void *ctx = talloc_named_const(NULL, 0, "euse_minimal");
	struct ipaccess_unit dev = { 0 };
	char name[64];
	bool trunc;

	if (argc < 2) {
		fprintf(stderr, "usage: euse_minimal HOST [PORT] [NAME]\n");
		return 2;
	}
	osmo_init_logging2(ctx, &log_info);
	log_set_print_category(osmo_stderr_target, 0);
	log_set_log_level(osmo_stderr_target, LOGL_ERROR);
	int len = ss_ussd_string_encode(SCREEN, 182, screen, &screen_dcs, &trunc);
	if (len <= 0)
		return 1;
	screen_len = (size_t)len;
	snprintf(name, sizeof(name), "EUSE-%s", argc > 3 ? argv[3] : "guichet");
	dev.unit_name = name;
	dev.serno = name;
	dev.swversion = "euse_minimal";
	struct osmo_gsup_client_config cc = {
		.ipa_dev = &dev,
		.ip_addr = argv[1],
		.tcp_port = argc > 2 ? (unsigned)atoi(argv[2]) : 4222,
		.read_cb = read_cb,
	};
	struct osmo_gsup_client *gc = osmo_gsup_client_create3(ctx, &cc);
	if (!gc) {
		fprintf(stderr, "euse_minimal: cannot create the GSUP client\n");
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "euse_minimal: EUSE %s towards %s:%u\n", name, cc.ip_addr, cc.tcp_port);
	while (!stop)
		osmo_select_main(0);
	osmo_gsup_client_destroy(gc);
	talloc_free(ctx);
	return 0;
}
