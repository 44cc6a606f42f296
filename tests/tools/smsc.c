/* A test SMSC speaking SMPP 3.4 (libsmpp34), on loopback, for the integration tests and the
 * benchmark. Single-threaded, poll().
 *
 *   smsc --port-file F [--port P] [--control FIFO] [--log FILE] [--system-id ID]
 *        [--password PW] [--window N] [--receipts 0|1] [--nodelay 0|1]
 *
 * --nodelay 0: the SMSC's sockets keep Nagle's algorithm (and the kernel's delayed ACKs), as
 * many SMSCs do; an ESME that does not set TCP_NODELAY itself then sees its small PDUs held
 * ~40 ms whenever it has nothing else to send (2-part messages: bursts every ~50 ms).
 *
 * Commands, one per line on the control FIFO:
 *   deliver MODE FROM TO TEXT...   MODE: single (GSM-7 or UCS-2 as the text needs), ucs2,
 *                                  latin1, udh8, udh16, sar, payload, partial (part 1 of 2 only),
 *                                  badtlv (single, then a TLV 0x0424 claiming 5000 bytes and
 *                                  carrying 5: malformed), badudh (UDHI set, UDH length 0x7F
 *                                  past the data: malformed). Single parts carry a
 *                                  user_message_reference TLV (the phone's TP-MR), counting
 *                                  up per message as a phone's does
 *   throttle PCT | qfull PCT | error PCT STATUS   answers to submit_sm (percentages)
 *   ratelimit X                    accepts X submit_sm per second (a bucket of X/10 parts,
 *                                  at least 1), answers ESME_RTHROTTLED above; 0: no limit
 *   receipts 0|1                   delivery receipts for submits asking for them
 *   receipt MSGID STAT TO ESME     one receipt now (stat DELIVRD, UNDELIV...) for message
 *                                  MSGID sent to TO from ESME's address (a late receipt)
 *   drop                           closes every ESME connection
 *   unbind                         sends an unbind on every bound connection
 *   refuse_binds N                 answers the next N binds ESME_RBINDFAIL
 *   mute_enquire 0|1               stop answering enquire_link
 *   hang 0|1                       stop answering anything
 *   hold 0|1                       leave submit_sm unanswered (logged "held")
 *   window N                       deliver_sm outstanding per connection
 *   bench N TO TEXT                N messages from N numbers; logs the MO->reply rate once a
 *                                  submit_sm has come back (ROK) to each of them. A text
 *                                  that is not GSM-7 goes as UCS-2; one longer than a part
 *                                  goes as concatenated parts (8-bit reference UDH)
 *   pace R                         the next benches offer R messages per second (message i
 *                                  due at i/R s), window permitting; 0: as fast as it allows
 *   redeliver                      the last person's message acknowledged, delivered again as
 *                                  it was (an SMSC whose deliver_sm_resp got lost retrying)
 *   stats                          logs counters
 * Log (JSON lines): {"event":"submit",...} per submit_sm, {"event":"message",...} per complete
 * accepted reply (parts joined), {"event":"bind"...}, {"event":"mo_ack",...}, {"event":"bench"...}. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <osmocom/core/talloc.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>
#pragma GCC diagnostic pop

#include "guichet/smpp.h"
#include "guichet/text.h"
#include "json_str.h"

#define MAX_CONN 16
#define RBUF 262144

struct mo {
	struct mo *next;
	uint8_t esm_class, dcs;
	char from[21], to[21];
	uint8_t sm[256];
	unsigned sm_len;
	uint8_t payload[1024];
	unsigned payload_len;
	bool sar;
	uint16_t sar_ref;
	uint8_t sar_total, sar_seq;
	char receipt_id[66];		/* receipts: receipted_message_id */
	int user_ref;			/* user_message_reference TLV, -1: none */
	uint8_t junk[16];		/* raw bytes after the packed PDU (malformed TLVs) */
	unsigned junk_len;
	uint32_t seq;			/* while outstanding */
	double not_before;
	int bench_idx;			/* -1 unless a bench message */
};

struct conn {
	int fd;
	bool bound, tx, rx;
	char system_id[16];
	uint8_t *rbuf;
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint32_t seq;
	struct mo *outstanding;		/* deliver_sm waiting for deliver_sm_resp */
	unsigned n_out;
};

/* A reply being reassembled from its submitted parts. */
struct mt {
	struct mt *next;
	char to[24];
	unsigned ref, total, have;
	char *parts[256];
};

static struct {
	int lfd, ctl;
	FILE *log;
	const char *system_id, *password;
	struct conn conns[MAX_CONN];
	struct mo *queue, **qtail;
	unsigned window;
	unsigned throttle, qfull, errpct;
	double rl_rate, rl_tokens, rl_last;	/* ratelimit: bucket of accepted submits */
	double pace;			/* bench messages offered per second, 0: unpaced */
	uint32_t errstatus;
	bool receipts, mute_enquire, hang, hold, nagle;
	unsigned refuse_binds;
	uint64_t msg_ids;
	struct mt *mts;
	struct mo last_acked;		/* for redeliver */
	bool have_last;
	char ctlbuf[65536];
	size_t ctllen;
	/* bench */
	int bench_n, bench_done;
	bool *bench_got;
	double bench_t0;
	char bench_prefix[16];
	uint64_t submits, submits_ok, delivers, delivers_acked;
} g;

/* Bounded copy that always terminates (truncation is fine for test addresses). */
static void scopy(void *dst, size_t n, const char *src)
{
	size_t l = strnlen(src, n - 1);
	memcpy(dst, src, l);
	((char *)dst)[l] = '\0';
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void logj(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logj(const char *fmt, ...)
{
	if (!g.log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(g.log, fmt, ap);
	va_end(ap);
	fflush(g.log);
}

/* ---- output ---- */

static uint8_t *out_reserve(struct conn *c, size_t n)
{
	if (c->wlen + n > c->wcap) {
		size_t cap = c->wcap ? c->wcap : 65536;
		while (cap < c->wlen + n)
			cap *= 2;
		c->wbuf = realloc(c->wbuf, cap);
		if (!c->wbuf)
			abort();
		c->wcap = cap;
	}
	return c->wbuf + c->wlen;
}

static void send_pdu(struct conn *c, uint32_t cmd, void *pdu)
{
	uint8_t *p = out_reserve(c, 4096);
	int len = 0;
	if (smpp34_pack(cmd, p, 4096, &len, pdu) != 0) {
		fprintf(stderr, "smsc: pack 0x%08x failed: %s\n", cmd, smpp34_strerror);
		return;
	}
	c->wlen += (size_t)len;
}

static void send_header(struct conn *c, uint32_t cmd, uint32_t status, uint32_t seq)
{
	uint8_t *p = out_reserve(c, 16);
	uint32_t v[4] = { htonl(16), htonl(cmd), htonl(status), htonl(seq) };
	memcpy(p, v, 16);
	c->wlen += 16;
}

static uint32_t next_seq(struct conn *c)
{
	if (++c->seq > 0x7FFFFFFF)
		c->seq = 1;
	return c->seq;
}

/* ---- MO queue ---- */

static void mo_enqueue(struct mo *m, bool front)
{
	if (front) {
		m->next = g.queue;
		g.queue = m;
		if (g.qtail == &g.queue)
			g.qtail = &m->next;
		return;
	}
	m->next = NULL;
	*g.qtail = m;
	g.qtail = &m->next;
}

static void conn_close(struct conn *c, const char *why)
{
	if (c->fd < 0)
		return;
	logj("{\"event\":\"close\",\"why\":\"%s\",\"outstanding\":%u}\n", why, c->n_out);
	close(c->fd);
	c->fd = -1;
	c->bound = false;
	/* Not acknowledged: delivered again to the next bind. */
	struct mo *m = c->outstanding;
	while (m) {
		struct mo *n = m->next;
		m->not_before = 0;
		mo_enqueue(m, true);
		m = n;
	}
	c->outstanding = NULL;
	c->n_out = 0;
	c->rlen = c->wlen = 0;
}

static void send_deliver(struct conn *c, struct mo *m)
{
	struct deliver_sm_t d;
	tlv_t tl[5];
	memset(&d, 0, sizeof(d));
	memset(tl, 0, sizeof(tl));
	d.command_id = DELIVER_SM;
	m->seq = d.sequence_number = next_seq(c);
	const char *from = m->from;
	if (from[0] == '+') {
		d.source_addr_ton = TON_International;
		d.source_addr_npi = NPI_ISDN_E163_E164;
		from++;
	}
	scopy((char *)d.source_addr, sizeof(d.source_addr), from);
	scopy((char *)d.destination_addr, sizeof(d.destination_addr), m->to);
	d.esm_class = m->esm_class;
	d.data_coding = m->dcs;
	d.sm_length = (uint8_t)m->sm_len;
	memcpy(d.short_message, m->sm, m->sm_len);
	tlv_t *head = NULL;
	int k = 0;
	if (m->sar) {
		tl[k].tag = TLVID_sar_msg_ref_num; tl[k].length = 2; tl[k].value.val16 = m->sar_ref;
		tl[k].next = head; head = &tl[k++];
		tl[k].tag = TLVID_sar_total_segments; tl[k].length = 1; tl[k].value.val08 = m->sar_total;
		tl[k].next = head; head = &tl[k++];
		tl[k].tag = TLVID_sar_segment_seqnum; tl[k].length = 1; tl[k].value.val08 = m->sar_seq;
		tl[k].next = head; head = &tl[k++];
	}
	if (m->payload_len) {
		tl[k].tag = TLVID_message_payload; tl[k].length = (uint16_t)m->payload_len;
		memcpy(tl[k].value.octet, m->payload, m->payload_len);
		tl[k].next = head; head = &tl[k++];
	}
	if (m->user_ref >= 0) {
		tl[k].tag = TLVID_user_message_reference; tl[k].length = 2;
		tl[k].value.val16 = (uint16_t)m->user_ref;
		tl[k].next = head; head = &tl[k++];
	}
	if (m->receipt_id[0]) {
		tl[k].tag = TLVID_receipted_message_id;
		tl[k].length = (uint16_t)(strlen(m->receipt_id) + 1);
		memcpy(tl[k].value.octet, m->receipt_id, tl[k].length);
		tl[k].next = head; head = &tl[k++];
	}
	d.tlv = head;
	size_t start = c->wlen;
	send_pdu(c, DELIVER_SM, &d);
	if (m->junk_len && c->wlen > start) {
		uint8_t *p = out_reserve(c, m->junk_len);
		memcpy(p, m->junk, m->junk_len);
		c->wlen += m->junk_len;
		uint32_t l = htonl((uint32_t)(c->wlen - start));
		memcpy(c->wbuf + start, &l, 4);
	}
	m->next = c->outstanding;
	c->outstanding = m;
	c->n_out++;
	g.delivers++;
}

/* Hands queued MO messages to receiving binds, round robin, within the window. */
static void dispatch(void)
{
	static unsigned rr;
	double now = now_s();
	if (g.hang)
		return;
	struct mo **pp = &g.queue;
	while (*pp) {
		struct mo *m = *pp;
		if (m->not_before > now) {
			pp = &m->next;
			continue;
		}
		struct conn *c = NULL;
		for (unsigned i = 0; i < MAX_CONN; i++) {
			struct conn *x = &g.conns[(rr + i) % MAX_CONN];
			if (x->fd >= 0 && x->bound && x->rx && x->n_out < g.window) {
				c = x;
				rr = (rr + i + 1) % MAX_CONN;
				break;
			}
		}
		if (!c)
			break;
		*pp = m->next;
		if (g.qtail == &m->next)
			g.qtail = pp;
		send_deliver(c, m);
	}
}

static struct mo *mo_new(const char *from, const char *to)
{
	struct mo *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	scopy(m->from, sizeof(m->from), from);
	scopy(m->to, sizeof(m->to), to);
	m->bench_idx = -1;
	m->user_ref = -1;
	return m;
}

/* Encodes text in coding into bytes (unpacked septets or UCS-2 BE). */
static int encode(const char *text, enum text_coding coding, uint8_t *out, size_t max)
{
	return coding == TEXT_GSM7 ? text_utf8_to_gsm7(text, out, max) : text_utf8_to_ucs2be(text, out, max);
}

static void cmd_deliver(const char *mode, const char *from, const char *to, const char *text)
{
	enum text_coding coding = text_is_gsm7(text) ? TEXT_GSM7 : TEXT_UCS2;
	if (strcmp(mode, "ucs2") == 0)
		coding = TEXT_UCS2;
	if (strcmp(mode, "single") == 0 || strcmp(mode, "ucs2") == 0 || strcmp(mode, "latin1") == 0 ||
	    strcmp(mode, "payload") == 0 || strcmp(mode, "badtlv") == 0 ||
	    strcmp(mode, "badudh") == 0) {
		struct mo *m = mo_new(from, to);
		static unsigned tp_mr;
		m->user_ref = (int)(tp_mr++ & 0xFF);
		if (strcmp(mode, "badtlv") == 0) {
			static const uint8_t j[] = { 0x04, 0x24, 0x13, 0x88, 'a', 'b', 'c', 'd', 'e' };
			memcpy(m->junk, j, sizeof(j));
			m->junk_len = sizeof(j);
		}
		uint8_t buf[1024];
		int n;
		if (strcmp(mode, "latin1") == 0) {
			/* UTF-8 -> Latin-1 for the characters it has. */
			n = 0;
			for (const unsigned char *s = (const unsigned char *)text; *s && n < 1000;) {
				if (*s < 0x80) {
					buf[n++] = *s++;
				} else if ((*s & 0xE0) == 0xC0 && s[1]) {
					unsigned cp = (unsigned)((s[0] & 0x1F) << 6 | (s[1] & 0x3F));
					buf[n++] = cp < 256 ? (uint8_t)cp : '?';
					s += 2;
				} else {
					buf[n++] = '?';
					s++;
					while ((*s & 0xC0) == 0x80)
						s++;
				}
			}
			m->dcs = 3;
		} else {
			n = encode(text, coding, buf, sizeof(buf));
			m->dcs = coding == TEXT_GSM7 ? 0 : 8;
		}
		if (n < 0) {
			fprintf(stderr, "smsc: cannot encode\n");
			free(m);
			return;
		}
		if (strcmp(mode, "payload") == 0) {
			memcpy(m->payload, buf, (size_t)n);
			m->payload_len = (unsigned)n;
		} else {
			if (n > 254)
				n = 254;
			memcpy(m->sm, buf, (size_t)n);
			m->sm_len = (unsigned)n;
			if (strcmp(mode, "badudh") == 0) {
				m->esm_class = SMPP34_UDHI_IND;
				m->sm[0] = 0x7F;	/* claims 127 bytes of header */
			}
		}
		mo_enqueue(m, false);
		return;
	}
	/* Concatenated: the text's parts, at least two. */
	char **parts = NULL;
	void *tmp = talloc_new(NULL);
	unsigned np = text_split_sms(tmp, text, coding, &parts);
	if (np == 1) {
		size_t l = strlen(text), half = l / 2;
		while (half > 0 && ((unsigned char)text[half] & 0xC0) == 0x80)
			half--;
		parts = talloc_array(tmp, char *, 3);
		parts[0] = talloc_strndup(tmp, text, half);
		parts[1] = talloc_strdup(tmp, text + half);
		parts[2] = NULL;
		np = 2;
	}
	bool partial = strcmp(mode, "partial") == 0;
	static unsigned ref = 1;
	ref = (ref + 1) & 0xFFFF;
	for (unsigned i = 0; i < np; i++) {
		if (partial && i > 0)
			break;
		struct mo *m = mo_new(from, to);
		m->dcs = coding == TEXT_GSM7 ? 0 : 8;
		size_t off = 0;
		if (strcmp(mode, "udh8") == 0 || partial) {
			uint8_t h[] = { 5, 0, 3, (uint8_t)ref, (uint8_t)np, (uint8_t)(i + 1) };
			memcpy(m->sm, h, sizeof(h));
			off = sizeof(h);
			m->esm_class = SMPP34_UDHI_IND;
		} else if (strcmp(mode, "udh16") == 0) {
			uint8_t h[] = { 6, 8, 4, (uint8_t)(ref >> 8), (uint8_t)ref, (uint8_t)np, (uint8_t)(i + 1) };
			memcpy(m->sm, h, sizeof(h));
			off = sizeof(h);
			m->esm_class = SMPP34_UDHI_IND;
		} else if (strcmp(mode, "sar") == 0) {
			m->sar = true;
			m->sar_ref = (uint16_t)ref;
			m->sar_total = (uint8_t)np;
			m->sar_seq = (uint8_t)(i + 1);
		} else {
			fprintf(stderr, "smsc: unknown mode %s\n", mode);
			free(m);
			break;
		}
		int n = encode(parts[i], coding, m->sm + off, sizeof(m->sm) - off - 2);
		if (n < 0) {
			free(m);
			break;
		}
		m->sm_len = (unsigned)(off + (size_t)n);
		mo_enqueue(m, false);
	}
	talloc_free(tmp);
}

static void cmd_bench(int n, const char *to, const char *text)
{
	free(g.bench_got);
	g.bench_got = calloc((size_t)n, sizeof(bool));
	g.bench_n = n;
	g.bench_done = 0;
	double t0 = now_s();
	snprintf(g.bench_prefix, sizeof(g.bench_prefix), "3369");
	enum text_coding coding = text_is_gsm7(text) ? TEXT_GSM7 : TEXT_UCS2;
	void *tmp = talloc_new(NULL);
	char **parts = NULL;
	unsigned np = text_split_sms(tmp, text, coding, &parts);
	if (np == 0 || np > 8) {
		fprintf(stderr, "smsc: bench text cannot be split into 1 to 8 parts\n");
		talloc_free(tmp);
		return;
	}
	uint8_t buf[8][256];
	int len[8];
	for (unsigned k = 0; k < np; k++) {
		len[k] = encode(parts[k], coding, buf[k], sizeof(buf[k]) - 8);
		if (len[k] < 0) {
			fprintf(stderr, "smsc: bench text cannot be encoded\n");
			talloc_free(tmp);
			return;
		}
	}
	talloc_free(tmp);
	for (int i = 0; i < n; i++) {
		char from[24];
		snprintf(from, sizeof(from), "+%s%07d", g.bench_prefix, i);
		for (unsigned k = 0; k < np; k++) {
			struct mo *m = mo_new(from, to);
			m->dcs = coding == TEXT_GSM7 ? 0 : 8;
			size_t off = 0;
			if (np > 1) {
				uint8_t h[] = { 5, 0, 3, (uint8_t)i, (uint8_t)np, (uint8_t)(k + 1) };
				memcpy(m->sm, h, sizeof(h));
				off = sizeof(h);
				m->esm_class = SMPP34_UDHI_IND;
			}
			memcpy(m->sm + off, buf[k], (size_t)len[k]);
			m->sm_len = (unsigned)(off + (size_t)len[k]);
			m->bench_idx = i;
			if (g.pace > 0)
				m->not_before = t0 + i / g.pace;
			mo_enqueue(m, false);
		}
	}
	g.bench_t0 = g.pace > 0 ? t0 : now_s();
}

static void bench_reply(const char *to)
{
	if (!g.bench_got || g.bench_done >= g.bench_n)
		return;
	if (to[0] == '+')
		to++;
	size_t pl = strlen(g.bench_prefix);
	if (strncmp(to, g.bench_prefix, pl) != 0 || strlen(to) != pl + 7)
		return;
	int i = atoi(to + pl);
	if (i < 0 || i >= g.bench_n || g.bench_got[i])
		return;
	g.bench_got[i] = true;
	if (++g.bench_done == g.bench_n) {
		double secs = now_s() - g.bench_t0;
		logj("{\"event\":\"bench\",\"n\":%d,\"secs\":%.3f,\"rate\":%.1f}\n", g.bench_n, secs,
		     g.bench_n / secs);
		fprintf(stderr, "smsc: bench %d messages in %.3f s: %.1f msg/s\n", g.bench_n, secs,
			g.bench_n / secs);
	}
}

static void queue_receipt_stat(const char *esme_addr, const char *to, const char *msg_id,
			       const char *stat);

static void control_line(char *line)
{
	char *save = NULL, *w = strtok_r(line, " \t", &save);
	if (!w)
		return;
	char *a1 = strtok_r(NULL, " \t", &save);
	if (strcmp(w, "deliver") == 0 || strcmp(w, "bench") == 0) {
		char *a2 = strtok_r(NULL, " \t", &save);
		char *a3 = (strcmp(w, "deliver") == 0) ? strtok_r(NULL, " \t", &save) : NULL;
		char *rest = save ? save : (char *)"";
		if (strcmp(w, "deliver") == 0 && a1 && a2 && a3)
			cmd_deliver(a1, a2, a3, rest);
		else if (strcmp(w, "bench") == 0 && a1 && a2)
			cmd_bench(atoi(a1), a2, rest);
		else
			fprintf(stderr, "smsc: bad command\n");
	} else if (strcmp(w, "receipt") == 0 && a1) {
		/* receipt MSGID STAT TO ESME_ADDR: a receipt sent later (after a restart) */
		char *st = strtok_r(NULL, " \t", &save), *to = strtok_r(NULL, " \t", &save);
		char *esme = strtok_r(NULL, " \t", &save);
		if (st && to && esme)
			queue_receipt_stat(esme, to, a1, st);
		else
			fprintf(stderr, "smsc: bad command\n");
	} else if (strcmp(w, "throttle") == 0 && a1) {
		g.throttle = (unsigned)atoi(a1);
	} else if (strcmp(w, "pace") == 0 && a1) {
		g.pace = atof(a1);
	} else if (strcmp(w, "ratelimit") == 0 && a1) {
		g.rl_rate = atof(a1);
		g.rl_tokens = g.rl_rate / 10 < 1 ? 1 : g.rl_rate / 10;
		g.rl_last = now_s();
	} else if (strcmp(w, "qfull") == 0 && a1) {
		g.qfull = (unsigned)atoi(a1);
	} else if (strcmp(w, "error") == 0 && a1) {
		char *a2 = strtok_r(NULL, " \t", &save);
		g.errpct = (unsigned)atoi(a1);
		g.errstatus = a2 ? (uint32_t)strtoul(a2, NULL, 0) : ESME_RSYSERR;
	} else if (strcmp(w, "receipts") == 0 && a1) {
		g.receipts = atoi(a1) != 0;
	} else if (strcmp(w, "mute_enquire") == 0 && a1) {
		g.mute_enquire = atoi(a1) != 0;
	} else if (strcmp(w, "hold") == 0 && a1) {
		g.hold = atoi(a1) != 0;
	} else if (strcmp(w, "hang") == 0 && a1) {
		g.hang = atoi(a1) != 0;
	} else if (strcmp(w, "window") == 0 && a1) {
		g.window = (unsigned)atoi(a1);
	} else if (strcmp(w, "refuse_binds") == 0 && a1) {
		g.refuse_binds = (unsigned)atoi(a1);
	} else if (strcmp(w, "unbind") == 0) {
		for (unsigned i = 0; i < MAX_CONN; i++)
			if (g.conns[i].fd >= 0 && g.conns[i].bound) {
				send_header(&g.conns[i], UNBIND, 0, next_seq(&g.conns[i]));
				g.conns[i].bound = false;
			}
	} else if (strcmp(w, "drop") == 0) {
		for (unsigned i = 0; i < MAX_CONN; i++)
			conn_close(&g.conns[i], "drop command");
	} else if (strcmp(w, "redeliver") == 0) {
		if (g.have_last) {
			struct mo *m = malloc(sizeof(*m));
			if (!m)
				abort();
			*m = g.last_acked;
			m->next = NULL;
			m->not_before = 0;
			mo_enqueue(m, false);
		}
	} else if (strcmp(w, "stats") == 0) {
		unsigned q = 0;
		for (struct mo *m = g.queue; m; m = m->next)
			q++;
		logj("{\"event\":\"stats\",\"submits\":%" PRIu64 ",\"submits_ok\":%" PRIu64
		     ",\"delivers\":%" PRIu64 ",\"delivers_acked\":%" PRIu64 ",\"mo_queued\":%u}\n",
		     g.submits, g.submits_ok, g.delivers, g.delivers_acked, q);
	} else {
		fprintf(stderr, "smsc: unknown command %s\n", w);
	}
}

/* ---- submits ---- */

static void mt_add(const char *to, unsigned ref, unsigned total, unsigned seq, const char *text)
{
	struct mt *m;
	for (m = g.mts; m; m = m->next)
		if (m->ref == ref && m->total == total && strcmp(m->to, to) == 0)
			break;
	if (!m) {
		m = calloc(1, sizeof(*m));
		scopy(m->to, sizeof(m->to), to);
		m->ref = ref;
		m->total = total;
		m->next = g.mts;
		g.mts = m;
	}
	if (seq < 1 || seq > total || seq > 255)
		return;
	if (!m->parts[seq - 1])
		m->have++;
	free(m->parts[seq - 1]);
	m->parts[seq - 1] = strdup(text);
	if (m->have < m->total)
		return;
	size_t l = 1;
	for (unsigned i = 0; i < total; i++)
		l += strlen(m->parts[i]);
	char *all = calloc(1, l);
	for (unsigned i = 0; i < total; i++) {
		strcat(all, m->parts[i]);
		free(m->parts[i]);
	}
	logj("{\"event\":\"message\",\"to\":");
	if (g.log) {
		json_str(g.log, to);
		fprintf(g.log, ",\"parts\":%u,\"text\":", total);
		json_str(g.log, all);
		fputs("}\n", g.log);
		fflush(g.log);
	}
	free(all);
	struct mt **pp;
	for (pp = &g.mts; *pp != m; pp = &(*pp)->next)
		;
	*pp = m->next;
	free(m);
}

static void queue_receipt_stat(const char *esme_addr, const char *to, const char *msg_id,
			       const char *stat)
{
	struct mo *m = mo_new(to, esme_addr);
	m->esm_class = SMPP34_DELIVERY_RECEIPT;
	scopy(m->receipt_id, sizeof(m->receipt_id), msg_id);
	int n = snprintf((char *)m->sm, sizeof(m->sm),
			 "id:%s sub:001 dlvr:001 submit date:2601011200 done date:2601011200 "
			 "stat:%s err:000 text:", msg_id, stat);
	m->sm_len = (unsigned)n;
	mo_enqueue(m, false);
}

static void queue_receipt(const char *esme_addr, const char *to, const char *msg_id)
{
	queue_receipt_stat(esme_addr, to, msg_id, "DELIVRD");
}

static void on_submit(struct conn *c, const uint8_t *pdu, uint32_t len, uint32_t seq)
{
	struct submit_sm_t s;
	memset(&s, 0, sizeof(s));
	uint8_t *copy = calloc(1, len + 1);
	memcpy(copy, pdu, len);
	int rc = smpp34_unpack(SUBMIT_SM, &s, copy, (int)len);
	free(copy);
	if (rc != 0) {
		fprintf(stderr, "smsc: bad submit_sm: %s\n", smpp34_strerror);
		send_header(c, GENERIC_NACK, ESME_RINVCMDLEN, seq);
		return;
	}
	g.submits++;
	uint32_t status = ESME_ROK;
	unsigned r = (unsigned)(rand() % 100);
	if (r < g.throttle)
		status = ESME_RTHROTTLED;
	else if (r < g.throttle + g.qfull)
		status = ESME_RMSGQFUL;
	else if (r < g.throttle + g.qfull + g.errpct)
		status = g.errstatus;
	if (status == ESME_ROK && g.rl_rate > 0) {
		/* A token bucket of X/10 parts refilled at X per second: what a rate-limited
		 * SMSC accepts; the rest is throttled. */
		double t = now_s(), cap = g.rl_rate / 10 < 1 ? 1 : g.rl_rate / 10;
		g.rl_tokens += (t - g.rl_last) * g.rl_rate;
		g.rl_last = t;
		if (g.rl_tokens > cap)
			g.rl_tokens = cap;
		if (g.rl_tokens >= 1)
			g.rl_tokens -= 1;
		else
			status = ESME_RTHROTTLED;
	}
	const uint8_t *ud = s.short_message;
	size_t udl = s.sm_length;
	const tlv_t *pl = NULL;
	for (const tlv_t *t = s.tlv; t; t = t->next)
		if (t->tag == TLVID_message_payload)
			pl = t;
	if (pl && udl == 0) {
		ud = pl->value.octet;
		udl = pl->length;
	}
	struct sms_concat cc = { 0 };
	if (s.esm_class & SMPP34_UDHI_IND) {
		size_t h = sms_udh_parse(ud, udl, &cc);
		ud += h;
		udl -= h;
	}
	void *tmp = talloc_new(NULL);
	char *text = smpp_decode_text(tmp, s.data_coding, ud, udl);
	char to[32];
	snprintf(to, sizeof(to), "%s%s", s.dest_addr_ton == TON_International ? "+" : "",
		 (char *)s.destination_addr);
	char msg_id[32] = "";
	if (status == ESME_ROK)
		snprintf(msg_id, sizeof(msg_id), "%" PRIx64, ++g.msg_ids);
	if (g.log) {
		fprintf(g.log, "{\"event\":\"submit\",\"to\":");
		json_str(g.log, to);
		fprintf(g.log, ",\"from\":");
		json_str(g.log, (char *)s.source_addr);
		fprintf(g.log, ",\"dcs\":%u,\"esm_class\":%u,\"registered_delivery\":%u,\"part\":%u,"
			"\"parts\":%u,\"ref\":%u,\"status\":%u,\"msg_id\":\"%s\",\"text\":",
			s.data_coding, s.esm_class, s.registered_delivery, cc.present ? cc.seq : 1,
			cc.present ? cc.total : 1, cc.ref, status, msg_id);
		json_str(g.log, text ? text : "");
		fputs("}\n", g.log);
		fflush(g.log);
	}
	struct submit_sm_resp_t resp;
	memset(&resp, 0, sizeof(resp));
	resp.command_id = SUBMIT_SM_RESP;
	resp.command_status = status;
	resp.sequence_number = seq;
	scopy((char *)resp.message_id, sizeof(resp.message_id), msg_id);
	send_pdu(c, SUBMIT_SM_RESP, &resp);
	if (status == ESME_ROK) {
		g.submits_ok++;
		mt_add(to, cc.present ? cc.ref : 0, cc.present ? cc.total : 1, cc.present ? cc.seq : 1,
		       text ? text : "");
		if (cc.seq <= 1)
			bench_reply(to);
		if (g.receipts && (s.registered_delivery & 1))
			queue_receipt((char *)s.source_addr, to, msg_id);
	}
	destroy_tlv(s.tlv);
	talloc_free(tmp);
}

static void on_bind(struct conn *c, uint32_t cmd, const uint8_t *pdu, uint32_t len, uint32_t seq)
{
	struct bind_transceiver_t b;
	memset(&b, 0, sizeof(b));
	uint8_t *copy = calloc(1, len + 1);
	memcpy(copy, pdu, len);
	int rc = smpp34_unpack(cmd, &b, copy, (int)len);
	free(copy);
	uint32_t status = ESME_ROK;
	if (rc != 0)
		status = ESME_RSYSERR;
	else if (g.system_id && strcmp((char *)b.system_id, g.system_id) != 0)
		status = ESME_RINVSYSID;
	else if (g.password && strcmp((char *)b.password, g.password) != 0)
		status = ESME_RINVPASWD;
	else if (c->bound)
		status = ESME_RALYBND;
	else if (g.refuse_binds > 0) {
		g.refuse_binds--;
		status = ESME_RBINDFAIL;
	}
	uint32_t rcmd = cmd | 0x80000000;
	logj("{\"event\":\"bind\",\"kind\":%u,\"system_id\":\"%s\",\"status\":%u}\n", cmd,
	     rc == 0 ? (char *)b.system_id : "?", status);
	struct bind_transceiver_resp_t r;
	memset(&r, 0, sizeof(r));
	r.command_id = rcmd;
	r.command_status = status;
	r.sequence_number = seq;
	snprintf((char *)r.system_id, sizeof(r.system_id), "testsmsc");
	if (status != ESME_ROK) {
		send_header(c, rcmd, status, seq);
		return;
	}
	send_pdu(c, rcmd, &r);
	c->bound = true;
	c->tx = cmd != BIND_RECEIVER;
	c->rx = cmd != BIND_TRANSMITTER;
	scopy(c->system_id, sizeof(c->system_id), (char *)b.system_id);
}

static void on_deliver_resp(struct conn *c, uint32_t seq, uint32_t status)
{
	struct mo **pp = &c->outstanding;
	while (*pp && (*pp)->seq != seq)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	struct mo *m = *pp;
	*pp = m->next;
	c->n_out--;
	if (status == ESME_ROK) {
		g.delivers_acked++;
		if (m->bench_idx < 0)
			logj("{\"event\":\"mo_ack\",\"seq\":%u,\"receipt\":%s}\n", seq,
			     m->esm_class & SMPP34_DELIVERY_RECEIPT ? "true" : "false");
		if (m->bench_idx < 0 && !(m->esm_class & SMPP34_DELIVERY_RECEIPT)) {
			g.last_acked = *m;
			g.have_last = true;
		}
		free(m);
		return;
	}
	logj("{\"event\":\"mo_nack\",\"seq\":%u,\"status\":%u}\n", seq, status);
	if (status == ESME_RX_P_APPN || status == ESME_RX_R_APPN) {
		free(m);
		return;
	}
	m->not_before = now_s() + 1;	/* the SMSC retries later */
	mo_enqueue(m, false);
}

static void handle_pdu(struct conn *c, const uint8_t *pdu, uint32_t len)
{
	uint32_t h[4];
	memcpy(h, pdu, 16);
	uint32_t cmd = ntohl(h[1]), status = ntohl(h[2]), seq = ntohl(h[3]);
	if (g.hang)
		return;
	switch (cmd) {
	case BIND_TRANSCEIVER:
	case BIND_TRANSMITTER:
	case BIND_RECEIVER:
		on_bind(c, cmd, pdu, len, seq);
		break;
	case SUBMIT_SM:
		if (!c->bound || !c->tx)
			send_header(c, SUBMIT_SM_RESP, ESME_RINVBNDSTS, seq);
		else if (g.hold)
			logj("{\"event\":\"held\",\"seq\":%u}\n", seq);
		else
			on_submit(c, pdu, len, seq);
		break;
	case DELIVER_SM_RESP:
		on_deliver_resp(c, seq, status);
		break;
	case ENQUIRE_LINK:
		if (!g.mute_enquire)
			send_header(c, ENQUIRE_LINK_RESP, 0, seq);
		break;
	case UNBIND:
		send_header(c, UNBIND_RESP, 0, seq);
		c->bound = false;
		break;
	case ENQUIRE_LINK_RESP:
	case UNBIND_RESP:
	case GENERIC_NACK:
		break;
	default:
		send_header(c, GENERIC_NACK, ESME_RINVCMDID, seq);
	}
}

static void conn_read(struct conn *c)
{
	ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c, "peer closed");
		return;
	}
	c->rlen += (size_t)n;
	size_t off = 0;
	while (c->rlen - off >= 16) {
		uint32_t len;
		memcpy(&len, c->rbuf + off, 4);
		len = ntohl(len);
		if (len < 16 || len > 65536) {
			conn_close(c, "bad length");
			return;
		}
		if (c->rlen - off < len)
			break;
		handle_pdu(c, c->rbuf + off, len);
		if (c->fd < 0)
			return;
		off += len;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void conn_write(struct conn *c)
{
	size_t off = 0;
	while (off < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + off, c->wlen - off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c, "write error");
			return;
		}
		off += (size_t)n;
	}
	memmove(c->wbuf, c->wbuf + off, c->wlen - off);
	c->wlen -= off;
}

static void control_read(void)
{
	ssize_t n = read(g.ctl, g.ctlbuf + g.ctllen, sizeof(g.ctlbuf) - 1 - g.ctllen);
	if (n <= 0)
		return;
	g.ctllen += (size_t)n;
	g.ctlbuf[g.ctllen] = '\0';
	char *start = g.ctlbuf, *nl;
	while ((nl = strchr(start, '\n'))) {
		*nl = '\0';
		control_line(start);
		start = nl + 1;
	}
	g.ctllen = strlen(start);
	memmove(g.ctlbuf, start, g.ctllen + 1);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	unsigned port = 0;
	const char *port_file = NULL, *ctl = NULL, *logf = NULL;
	g.window = 10;
	g.qtail = &g.queue;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "smsc: %s needs a value\n", a);
			return 2;
		}
		if (strcmp(a, "--port") == 0)
			port = (unsigned)atoi(v);
		else if (strcmp(a, "--port-file") == 0)
			port_file = v;
		else if (strcmp(a, "--control") == 0)
			ctl = v;
		else if (strcmp(a, "--log") == 0)
			logf = v;
		else if (strcmp(a, "--system-id") == 0)
			g.system_id = v;
		else if (strcmp(a, "--password") == 0)
			g.password = v;
		else if (strcmp(a, "--window") == 0)
			g.window = (unsigned)atoi(v);
		else if (strcmp(a, "--receipts") == 0)
			g.receipts = atoi(v) != 0;
		else if (strcmp(a, "--nodelay") == 0)
			g.nagle = atoi(v) == 0;
		else {
			fprintf(stderr, "smsc: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	srand((unsigned)getpid());
	if (logf && !(g.log = fopen(logf, "a"))) {
		perror(logf);
		return 1;
	}
	for (unsigned i = 0; i < MAX_CONN; i++)
		g.conns[i].fd = -1;
	g.ctl = -1;
	if (ctl) {
		if (mkfifo(ctl, 0600) != 0 && errno != EEXIST) {
			perror(ctl);
			return 1;
		}
		/* O_RDWR: the FIFO never reads EOF when a writer goes away. */
		g.ctl = open(ctl, O_RDWR | O_NONBLOCK);
		if (g.ctl < 0) {
			perror(ctl);
			return 1;
		}
	}
	g.lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(g.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (bind(g.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(g.lfd, 64) != 0 ||
	    getsockname(g.lfd, (struct sockaddr *)&sa, &sl) != 0) {
		perror("smsc: listen");
		return 1;
	}
	fcntl(g.lfd, F_SETFL, O_NONBLOCK);
	if (port_file) {
		char tmpf[4096];
		snprintf(tmpf, sizeof(tmpf), "%s.tmp", port_file);
		FILE *f = fopen(tmpf, "w");
		if (!f) {
			perror(tmpf);
			return 1;
		}
		fprintf(f, "%u\n", ntohs(sa.sin_port));
		fclose(f);
		rename(tmpf, port_file);
	}
	fprintf(stderr, "smsc: listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));

	while (!stop) {
		struct pollfd pf[MAX_CONN + 2];
		int map[MAX_CONN + 2];
		nfds_t n = 0;
		pf[n] = (struct pollfd){ .fd = g.lfd, .events = POLLIN };
		map[n++] = -1;
		if (g.ctl >= 0) {
			pf[n] = (struct pollfd){ .fd = g.ctl, .events = POLLIN };
			map[n++] = -2;
		}
		for (int i = 0; i < MAX_CONN; i++) {
			struct conn *c = &g.conns[i];
			if (c->fd < 0)
				continue;
			pf[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN | (c->wlen ? POLLOUT : 0) };
			map[n++] = i;
		}
		/* Woken when the next delayed message is due (a retry, a paced bench). */
		int timeout = 1000;
		double now = now_s();
		for (struct mo *m = g.queue; m; m = m->next) {
			if (m->not_before <= now)
				continue;	/* due: waits for the window (a deliver_sm_resp) */
			double ms = (m->not_before - now) * 1000;
			int t = ms >= 1000 ? 1000 : (int)ms + 1;
			if (t < timeout)
				timeout = t;
		}
		int rc = poll(pf, n, timeout);
		if (rc < 0 && errno != EINTR)
			break;
		for (nfds_t i = 0; i < n && rc > 0; i++) {
			if (!pf[i].revents)
				continue;
			if (map[i] == -1) {
				int fd = accept(g.lfd, NULL, NULL);
				if (fd < 0)
					continue;
				int slot = -1;
				for (int k = 0; k < MAX_CONN; k++)
					if (g.conns[k].fd < 0) {
						slot = k;
						break;
					}
				if (slot < 0) {
					close(fd);
					continue;
				}
				fcntl(fd, F_SETFL, O_NONBLOCK);
				if (!g.nagle)
					setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
				struct conn *c = &g.conns[slot];
				uint8_t *rb = c->rbuf, *wb = c->wbuf;
				size_t wc = c->wcap;
				memset(c, 0, sizeof(*c));
				c->fd = fd;
				c->rbuf = rb ? rb : malloc(RBUF);
				c->wbuf = wb;
				c->wcap = wc;
				logj("{\"event\":\"connect\"}\n");
			} else if (map[i] == -2) {
				control_read();
			} else {
				struct conn *c = &g.conns[map[i]];
				if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
					conn_read(c);
				if (c->fd >= 0 && (pf[i].revents & POLLOUT))
					conn_write(c);
			}
		}
		dispatch();
		for (int i = 0; i < MAX_CONN; i++)
			if (g.conns[i].fd >= 0 && g.conns[i].wlen)
				conn_write(&g.conns[i]);
	}
	if (g.log)
		fclose(g.log);
	return 0;
}
