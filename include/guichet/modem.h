/* GSM modems through libGammu: the SMS transport Guichet is built around.
 *
 * Each modem is owned by one thread that alone calls libGammu (every call blocks; a
 * GSM_StateMachine is never shared). The thread and the loop exchange small malloc'd
 * records through two queues: loop -> thread (replies to send, locations to delete) under a
 * mutex and condition variable, thread -> loop (parts read, send results, health) under a
 * mutex with an eventfd registered as an osmo_fd. Everything that touches talloc, the sink
 * or the log runs on the loop.
 *
 * Receiving: the thread polls the SIM every poll_ms, copies each new part out at once
 * (sender, SMSC time, concatenation header, text as UCS-2) and hands the batch over. The
 * loop reassembles concatenated messages (sms_parts.h), hands complete texts to
 * sink.received() in batches, and only when that returns 0 asks the thread to delete their
 * locations. A location handed over is never handed again until it is deleted.
 *
 * Sending: each modem registers one struct sms_transport. send() copies the reply to the
 * thread's queue (MODEM_SEND_QUEUE deep); the thread encodes it as the renderer decided
 * (GSM-7 or UCS-2, never a substitution), splits it, sends part by part at the configured
 * rate while still polling between parts, and the loop reports sink.sent / sink.failed.
 *
 * Delivery status: with status_reports, each part is sent asking for an SMS-STATUS-REPORT;
 * the message reference (TP-MR) the modem gives each part becomes its remote id
 * (sink.remote_id: via = the modem's name, remote = the reference in decimal), kept in the
 * store. A status report read from the SIM is handed to sink.receipt with id 0, so the store
 * finds the message by modem and reference, after a restart too; it is then deleted. The
 * reference is one octet: the newest part sent with it wins.
 *
 * Health: timeouts and repeated errors take a modem down (logged once), the thread
 * terminates the connection and reconnects with backoff (logged once when back); replies
 * queued to a down modem fail as temporary so the router can retry them elsewhere. */
#ifndef GUICHET_MODEM_H
#define GUICHET_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>
#include "guichet/router.h"
#include "guichet/sms_parts.h"

struct config;
struct ydoc;

/* Replies a modem accepts ahead of the one it is sending. */
#define MODEM_SEND_QUEUE 4
/* A modem thread whose heartbeat is older than this is considered hung. */
#define MODEM_HEARTBEAT_MAX_S 90

/* ---- configuration: the `modems:` section ---- */

struct modem_def {
	const char *name;
	const char *device;		/* resolved against the config directory */
	const char *connection;		/* gammu connection: "at", "at115200", "none" ... */
	const char *model;		/* "" (auto) or "dummy" */
	const char *pin;		/* secret file name (config_read_secret), or NULL */
	const char *sent_log;		/* JSON lines of every sent reply, or NULL */
	unsigned rate;			/* parts per minute, 0: as fast as the modem goes */
	unsigned poll_ms;		/* inbox poll period */
	unsigned reassembly_timeout_s;	/* release incomplete concatenated messages after */
	bool status_reports;		/* ask the network for a status report of each part */
};

struct modem_config {
	unsigned n;
	struct modem_def *m;		/* n entries, talloc'd under the config */
};

/* Parses the value of `modems:` (a list of mappings) into *out (talloc'd under ctx). Every
 * error is reported through y, located. Returns 0, or -1 when an error was found. */
int modem_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
		       struct modem_config **out);

/* ---- the pool ---- */

struct modem_pool;

/* Starts one thread per modem (the loop must be osmo_select_main's). Each modem registers
 * its transport through sink.registered() before this returns; it goes up later, when its
 * thread has connected (sink.ready() is then called). A PIN file that cannot be read is
 * logged and the modem starts without one. NULL when mc is empty or on a system error. */
struct modem_pool *modem_pool_start(void *ctx, const struct modem_config *mc,
				    const struct config *c, struct sms_sink sink);
/* Unregisters every modem (sink.unregistered), stops and joins every thread (a thread
 * blocked in libGammu finishes its call first), then
 * frees the pool. Messages read but not yet stored stay on the SIM and are read again at the
 * next start; replies queued but not sent are not reported. */
void modem_pool_stop(struct modem_pool *p);
void modem_pool_status(const struct modem_pool *p, unsigned *up, unsigned *total);
/* True when every modem thread's heartbeat is fresh (for the systemd watchdog). */
bool modem_pool_alive(const struct modem_pool *p);
/* Each modem's counters (received, sent, parts_in, parts_out, failures, resets, incomplete)
 * are a rate_ctr group named after it and its signal and up a stat item group, shown on
 * /metrics; this is the same, as one line for the counters log: "m1 up sig 54% in 3/4 out 2/5 fail 0 resets 1; m2 ...". */
char *modem_pool_counters(void *ctx, const struct modem_pool *p);

/* ---- parts (pure; exposed for tests): reassembly itself is sms_parts.h ---- */

struct sms_loc {
	int folder, location;
};

/* One SMS part as read from one location, copied out of libGammu by the modem thread. */
struct sms_part {
	struct sms_loc loc;
	char from[48];
	int64_t smsc_time;	/* unix seconds of the SMSC timestamp, 0: unknown */
	struct sms_concat cc;	/* from its UDH (sms_udh_parse), not present: on its own */
	unsigned len;		/* bytes in ucs2 */
	uint8_t ucs2[1300];	/* the text as UCS-2/UTF-16 big-endian */
};

#ifdef __gammu_gammu_h
/* Copies libGammu's message into p (thread side): its UDH read by sms_udh_parse, as SMPP's
 * is; libGammu's own reading of it only when it kept no raw header. */
void sms_part_from_gammu(struct sms_part *p, const GSM_SMSMessage *sms);
#endif
/* Sets p's text from 8-bit data (taken as Latin-1, as phones show it). */
void sms_part_set_8bit(struct sms_part *p, const uint8_t *data, size_t len);
/* Sets p's text from gammu's unicode string (UCS-2 BE, n code units). */
void sms_part_set_ucs2(struct sms_part *p, const uint8_t *ucs2, size_t units);
/* p as sms_parts_add() takes it (pointers into p; the handle is its location). */
void sms_part_input(const struct sms_part *p, int64_t received, struct sms_part_in *in);
uint64_t sms_loc_handle(struct sms_loc loc);
struct sms_loc sms_handle_loc(uint64_t handle);

/* A status report read from one location (thread side, copied out of libGammu). */
struct sms_report {
	struct sms_loc loc;
	int ref;		/* TP-MR of the part it is about, 0..255 */
	int status;		/* TP-ST (3GPP TS 23.040 9.2.3.15) */
	char to[24];		/* TP-RA: the recipient of that part */
};

#ifdef __gammu_gammu_h
/* r from a status report libGammu read (thread side). */
void sms_report_from_gammu(struct sms_report *r, const GSM_SMSMessage *sms);
#endif

/* The remote id a modem's part is known by, for its status report to find it:
 * "<TP-MR>:<the last 8 digits of the recipient>". TP-MR is one octet, so after 256 parts a
 * modem gives the same reference again: a late report (a phone off for hours) must not be
 * taken for a newer message's. The recipient's last digits tell them apart whatever the
 * form the network writes it in (+33612345678, 33612345678, 0612345678). */
void sms_report_key(char *buf, size_t len, int ref, const char *to);

/* What a status report's TP-ST says about its part: 1 delivered, 0 failed for good (the
 * SMSC gave up; stat, e.g. "UNDELIV 0x41", becomes the message's reason), -1 not final
 * (the SMSC still tries, or a reserved value): nothing to record. */
int sms_report_outcome(int status, char *stat, size_t len);

/* A message ready for the sink: complete, or released incomplete (timeout, bound). */
struct sms_msg {
	char *from;
	char *text;		/* UTF-8; parts joined in order, missing parts left out */
	char *dedup;		/* stable identity, see sms_dedup_key() */
	int64_t smsc_time;
	int64_t received;	/* unix seconds when the first part was read */
	unsigned have, total;	/* parts */
	unsigned nloc;
	struct sms_loc *locs;	/* where its parts are, to delete them once stored */
};

/* m (from sms_parts_take) as the modem hands it on, under ctx; NULL when out of memory. */
struct sms_msg *sms_msg_from_parts(void *ctx, const struct sms_parts_msg *m);

/* "v1:<from>:<smsc_time>:<ref>/<total>:<fnv-1a 64 of the first held part's UCS-2>" and, when
 * the SMSC time is unknown, ":@<folder>.<location>" of that part. Stable over re-reads. */
char *sms_dedup_key(void *ctx, const struct sms_parts_msg *m);

#endif
