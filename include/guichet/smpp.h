/* SMPP 3.4: short numbers through an operator's or aggregator's SMSC.
 *
 * A pool of binds (one transceiver, or a transmitter plus a receiver, per SMSC) on the osmo
 * select loop, PDUs packed and unpacked with libsmpp34. The pool knows nothing of flows: it
 * hands complete inbound texts to sink.received() and registers one struct sms_transport per
 * SMSC through sink.registered() (name = the SMSC's name, the "via" of its messages).
 *
 * Durability: a deliver_sm (every part of a concatenated one) is acknowledged only after
 * sink.received() returned 0; otherwise it is answered ESME_RX_T_APPN so the SMSC retries.
 * A submit whose connection drops before every part was acknowledged is reported with
 * sink.failed(id, false, ...) so the router queues it again. */
#ifndef GUICHET_SMPP_H
#define GUICHET_SMPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>
#include "guichet/config_paths.h"
#include "guichet/ydoc.h"
#include "guichet/router.h"
#include "guichet/sms_parts.h"
#include "guichet/ydoc.h"

enum smpp_bind_mode { SMPP_BIND_TRX, SMPP_BIND_TX_RX };

/* One SMSC, as in the `smpp:` list of the config. Strings live under the config. */
struct smpp_config {
	struct smpp_config *next;
	const char *name;
	const char *host;
	unsigned port;			/* default 2775 */
	const char *system_id;		/* at most 15 characters */
	const char *password;		/* name of the secret file (config_read_secret) */
	const char *system_type;	/* default "" */
	enum smpp_bind_mode bind;	/* default transceiver */
	const char *source;		/* source address of replies: the short number */
	unsigned source_ton, source_npi;	/* default: 3 digits..8 digits -> 3/0 (network
						 * specific, "short code"), else 1/1 */
	unsigned parts_per_second;	/* 0: unlimited (default 10) */
	unsigned window;		/* outstanding submit_sm per bind (default 10) */
	unsigned enquire_link_s;	/* keep-alive period (default 30) */
	unsigned response_timeout_s;	/* an answer not received in this time drops the link
					 * (default 10) */
	unsigned reconnect_min_s, reconnect_max_s;	/* backoff bounds (default 1, 60) */
	unsigned reassembly_s;		/* a concatenated message missing parts is released
					 * with what arrived after this (default 60) */
	const char *country_code;	/* a sender in national form (TON national, or unknown
					 * with one leading 0) is this country's: "0612345678" ->
					 * "+33612345678" (default "33") */
	bool tls;			/* must be false: refused by the parser for now */
};

/* Parses the `smpp:` section (node: the list). Reports every error located through y; *out is
 * the list (NULL for an empty list). Returns 0, or -1 when an error was reported. */
int smpp_config_parse(void *ctx, struct ydoc *y, yaml_node_t *node, struct config *c,
		      struct smpp_config **out);

struct smpp_pool;

/* Starts one connection (or two) per SMSC of the list sc and registers their transports with
 * sink.registered() (down until bound). Passwords are read with config_read_secret(c, ...).
 * sc and c must outlive the pool. NULL (logged) when a secret cannot be read. */
struct smpp_pool *smpp_start(void *ctx, const struct smpp_config *sc, const struct config *c,
			     struct sms_sink sink);
/* Unregisters every transport (sink.unregistered) first, then unbinds politely where
 * possible, closes every connection and frees the pool. Messages still outstanding are
 * reported failed (temporary) before return. */
void smpp_stop(struct smpp_pool *p);

struct smpp_status {
	unsigned binds_up, binds_total;
	uint64_t mo_messages;		/* complete texts handed to sink.received() */
	uint64_t mo_parts;		/* deliver_sm carrying person-originated text */
	uint64_t mo_refused;		/* deliver_sm answered with an error (store failed) */
	uint64_t mo_pushed_out;		/* incomplete messages released early: too many waited */
	uint64_t mt_messages, mt_parts;	/* taken by send(), submit_sm acknowledged ROK */
	uint64_t mt_throttled;		/* ESME_RTHROTTLED / ESME_RMSGQFUL answers */
	uint64_t mt_failed_temp, mt_failed_perm;
	uint64_t receipts, receipts_unmatched;
	uint64_t reconnects;
};
void smpp_status(const struct smpp_pool *p, struct smpp_status *st);

/* ---- pure helpers (smpp_pdu.c), exported for the unit tests and the test SMSC ---- */

/* A deliver_sm, decoded by smpp_deliver_decode(). ud points into the PDU given. */
struct smpp_deliver {
	char from[32];			/* source_addr, "+"-prefixed when its TON is international */
	uint8_t source_ton;
	uint8_t esm_class, data_coding;
	const uint8_t *ud;		/* short_message, or message_payload when that is empty */
	size_t udl;
	struct sms_concat sar;		/* from the sar_* TLVs, when all three are consistent */
	char receipted_id[72];		/* receipted_message_id TLV, "" when absent */
	int message_state;		/* message_state TLV, -1 when absent */
	int user_ref;			/* user_message_reference TLV (the phone's TP-MR), -1
					 * when absent */
};

/* Decodes the deliver_sm pdu (len bytes, header included). Every length (C strings,
 * short_message, each TLV) is checked against the PDU before anything is read, and the
 * TLVs are walked here: libsmpp34 only sees the mandatory fields, so it allocates nothing
 * (it leaked a TLV on each malformed one). Returns 0, or -1 with a reason in why that holds
 * no byte of the PDU's content (it is logged: never libsmpp34's dump, which holds numbers). */
int smpp_deliver_decode(const uint8_t *pdu, size_t len, struct smpp_deliver *d, char *why,
			size_t why_len);
/* The key under which the store recognises an SMSC's re-delivery of message m (via +
 * key, store.h): "smpp1:<from>:<reference>:<hash of the text>:<day>", where the reference
 * is m's concatenation reference, or user_ref (the single part's user_message_reference,
 * -1: none). NULL when m has neither (nothing tells a re-delivery from the same words sent
 * again), or when memory runs out. See smpp_pdu.c for why. */
char *smpp_dedup_key(void *ctx, const struct sms_parts_msg *m, int user_ref);
/* A sender's number in international form, so that replies, the cost guard's destinations
 * and sessions all see one spelling of a person: TON national "0612345678" or "612345678"
 * and TON unknown "0612345678" become "+33612345678" (cc "33"), TON unknown "0033…" becomes
 * "+33…"; anything else (already "+…", short codes, alphanumeric senders) is left as it
 * is. num holds len bytes. */
void smpp_number_international(char *num, size_t len, unsigned ton, const char *cc);

/* The part a decoded deliver_sm carries, for sms_parts_add(): its UDH parsed when esm_class
 * says there is one (sms_udh_parse: a malformed one is handled there, as for modems), else
 * the sar_* TLVs; the user data after the UDH in its alphabet. Pointers into d. */
void smpp_deliver_part(const struct smpp_deliver *d, uint64_t handle, int64_t received,
		       struct sms_part_in *p);

/* The alphabet of data_coding dcs: 0 = GSM-7 unpacked (one septet per byte), 1 = IA5/ASCII,
 * 3 = Latin-1, 8 = UCS-2 BE; 0xF0..0xFF by its alphabet bit; anything else Latin-1. */
enum sms_alphabet smpp_dcs_alphabet(uint8_t dcs);
/* Decodes user data (without UDH) in data_coding dcs to UTF-8 under ctx; NULL when memory
 * runs out. */
char *smpp_decode_text(void *ctx, uint8_t dcs, const uint8_t *ud, size_t len);

/* One encoded SMS part ready for short_message. */
struct smpp_part {
	uint8_t data[160];		/* UDH (6 bytes when split) + user data */
	uint8_t len;
};

/* Encodes utf8 for submit_sm in coding (GSM-7 -> unpacked septets, data_coding 0; UCS-2 ->
 * data_coding 8), split with a UDH carrying the 8-bit ref when it needs more than one part.
 * Returns the number of parts (array talloc'd under ctx in *parts), 0 on error (a character
 * GSM-7 cannot carry, or out of memory). */
unsigned smpp_encode_sms(void *ctx, const char *utf8, enum text_coding coding, uint8_t ref,
			 struct smpp_part **parts);

/* Classes of command_status for a submit_sm_resp. */
enum smpp_status_class { SMPP_ST_OK, SMPP_ST_THROTTLE, SMPP_ST_TEMP, SMPP_ST_PERM };
enum smpp_status_class smpp_status_classify(uint32_t command_status);
/* "ESME_RTHROTTLED" and the like, or "0x000000NN" in buf for unknown ones. */
const char *smpp_status_name(uint32_t command_status, char *buf, size_t len);

/* Delivery receipt text ("id:X sub:001 dlvr:001 submit date:... stat:DELIVRD err:000 ..."):
 * copies the id and the stat into the buffers. Returns 0, -1 when id: is missing. */
int smpp_receipt_parse(const char *text, size_t len, char *id, size_t id_len, char *stat,
		       size_t stat_len);

/* Token bucket in parts per second (rate 0: unlimited). */
struct smpp_bucket {
	double rate, tokens, burst;
	int64_t last_us;
};
void smpp_bucket_init(struct smpp_bucket *b, double rate, int64_t now_us);
/* Takes one token if available; otherwise returns the microseconds to wait for it. */
int64_t smpp_bucket_take(struct smpp_bucket *b, int64_t now_us);
void smpp_bucket_set_rate(struct smpp_bucket *b, double rate);

/* The sending rate under SMSC throttling, adapted per period (>= 250 ms and 20 answers, or
 * 1 s) from what the SMSC accepted. An SMSC throttles because it limits parts per second
 * (sending slower helps) or sheds a share of submits whatever the rate (sending slower only
 * loses throughput). So: more than 35 % of a period throttled -> the accepted rate + 5 % (at
 * least half the former rate); a period without a throttle -> +25 % up to the configured
 * rate (cfg 0: unlimited, reached again past 100,000/s); anything between -> unchanged. A
 * rate limit X is held at ~1.05 X; random throttling under a third changes nothing. */
struct smpp_adapt {
	double cfg, rate;	/* configured and current parts/s, 0: unlimited */
	int64_t start_us;
	unsigned ok, thr;
};
void smpp_adapt_init(struct smpp_adapt *a, double cfg, int64_t now_us);
/* One submit_sm answer (throttled or accepted); true when a->rate changed. */
bool smpp_adapt_answer(struct smpp_adapt *a, bool throttled, int64_t now_us);

#endif
