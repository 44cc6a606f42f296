/* SMPP transport, pure parts: UDH parsing, data_coding decoding, encoding and splitting of
 * replies, the part a deliver_sm carries, status classes, receipts, token bucket, config. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>
#include <arpa/inet.h>

#include "guichet/config.h"
#include "guichet/diag.h"
#include "guichet/smpp.h"
#include "guichet/text.h"
#include "guichet/ydoc.h"
#include "unit_main.h"

static void *ctx;

/* A deliver_sm laid out by hand: header, mandatory fields, then tlv (raw) as given. */
static size_t build_deliver(uint8_t *buf, const char *src, uint8_t ton, uint8_t esm,
			    const char *sm, const uint8_t *tlv, size_t tlv_len)
{
	size_t n = 16;
	buf[n++] = 0;				/* service_type "" */
	buf[n++] = ton;
	buf[n++] = 1;
	memcpy(buf + n, src, strlen(src) + 1);
	n += strlen(src) + 1;
	buf[n++] = 0;
	buf[n++] = 0;
	memcpy(buf + n, "38123", 6);
	n += 6;
	buf[n++] = esm;
	buf[n++] = 0;				/* protocol_id */
	buf[n++] = 0;				/* priority */
	buf[n++] = 0;				/* schedule_delivery_time "" */
	buf[n++] = 0;				/* validity_period "" */
	buf[n++] = 0;				/* registered_delivery */
	buf[n++] = 0;				/* replace_if_present */
	buf[n++] = 1;				/* data_coding: IA5 */
	buf[n++] = 0;				/* sm_default_msg_id */
	buf[n++] = (uint8_t)strlen(sm);
	memcpy(buf + n, sm, strlen(sm));
	n += strlen(sm);
	memcpy(buf + n, tlv, tlv_len);
	n += tlv_len;
	const uint32_t h[4] = { htonl((uint32_t)n), htonl(0x00000005), 0, htonl(7) };
	memcpy(buf, h, 16);
	return n;
}

/* A sender in national form is spelt internationally, so that the reply, the cost guard's
 * destinations and the session all see one person. */
static void test_number_international(void)
{
	/* TON: 0 unknown, 1 international, 2 national, 5 alphanumeric (SMPP 3.4, 5.2.5) */
	static const struct { unsigned ton; const char *in, *want; } cases[] = {
		{ 2, "0612345678", "+33612345678" },
		{ 2, "612345678", "+33612345678" },
		{ 0, "0612345678", "+33612345678" },
		{ 0, "0033612345678", "+33612345678" },
		{ 0, "+33612345678", "+33612345678" },
		{ 1, "+262692123456", "+262692123456" },
		{ 0, "36180", "36180" },		/* a short code stays one */
		{ 5, "ORANGE", "ORANGE" },
		{ 0, "06 12", "06 12" },		/* not a number: as it is */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char num[32];

		snprintf(num, sizeof(num), "%s", cases[i].in);
		smpp_number_international(num, sizeof(num), cases[i].ton, "33");
		CU_ASSERT_STRING_EQUAL(num, cases[i].want);
	}
}

static void test_deliver_decode(void)
{
	uint8_t pdu[2048];
	struct smpp_deliver d;
	char why[128];

	/* sar TLVs, a receipt id and a state. */
	const uint8_t tlv[] = { 0x02, 0x0C, 0, 2, 0x12, 0x34, 0x02, 0x0E, 0, 1, 3, 0x02, 0x0F, 0, 1, 2,
				0x00, 0x1E, 0, 4, 'a', 'b', 'c', 0, 0x04, 0x27, 0, 1, 2 };
	size_t n = build_deliver(pdu, "33612345678", 1, 0, "hello", tlv, sizeof(tlv));
	CU_ASSERT_EQUAL_FATAL(smpp_deliver_decode(pdu, n, &d, why, sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(d.from, "+33612345678");
	CU_ASSERT_EQUAL(d.udl, 5);
	CU_ASSERT(d.udl == 5 && memcmp(d.ud, "hello", 5) == 0);
	CU_ASSERT(d.sar.present && d.sar.ref16);
	CU_ASSERT_EQUAL(d.sar.ref, 0x1234);
	CU_ASSERT_EQUAL(d.sar.total, 3);
	CU_ASSERT_EQUAL(d.sar.seq, 2);
	CU_ASSERT_STRING_EQUAL(d.receipted_id, "abc");
	CU_ASSERT_EQUAL(d.message_state, 2);
	CU_ASSERT_EQUAL(d.user_ref, -1);

	/* user_message_reference: the phone's TP-MR, for the dedup key. */
	const uint8_t umr[] = { 0x02, 0x04, 0, 2, 0x00, 0x2A };
	n = build_deliver(pdu, "33612345678", 1, 0, "1", umr, sizeof(umr));
	CU_ASSERT_EQUAL_FATAL(smpp_deliver_decode(pdu, n, &d, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(d.user_ref, 42);

	/* message_payload stands for an empty short_message; a national number stays as is. */
	const uint8_t pl[] = { 0x04, 0x24, 0, 3, 'a', 'b', 'c' };
	n = build_deliver(pdu, "0612345678", 0, 0, "", pl, sizeof(pl));
	CU_ASSERT_EQUAL_FATAL(smpp_deliver_decode(pdu, n, &d, why, sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(d.from, "0612345678");
	CU_ASSERT(d.udl == 3 && memcmp(d.ud, "abc", 3) == 0);
	CU_ASSERT(!d.sar.present);

	/* A TLV claiming 5000 bytes with 5 there: refused, many times, and nothing leaks
	 * (libsmpp34 lost ~1 KB each time: valgrind and LeakSanitizer see it at exit; the
	 * allocator's own count sees it here on a plain build). */
	const uint8_t bad[] = { 0x04, 0x24, 0x13, 0x88, 'a', 'b', 'c', 'd', 'e' };
	n = build_deliver(pdu, "33612345678", 1, 0, "hello", bad, sizeof(bad));
	struct mallinfo2 before = mallinfo2();
	for (int i = 0; i < 20000; i++)
		CU_ASSERT_EQUAL(smpp_deliver_decode(pdu, n, &d, why, sizeof(why)), -1);
	struct mallinfo2 after = mallinfo2();
	CU_ASSERT(after.uordblks < before.uordblks + 65536);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "0x0424"));
	CU_ASSERT_PTR_NULL(strstr(why, "3361"));

	/* Every truncation and every single-byte corruption of a valid PDU (command_length
	 * following the cut): decoded or refused, never read past the end, and a reason that
	 * never holds the number. */
	n = build_deliver(pdu, "33612345678", 1, 0x40, "\x05\x00\x03\x01\x02\x01hi", tlv, sizeof(tlv));
	uint8_t cut[2048];
	for (size_t l = 0; l <= n; l++) {
		uint8_t *c = talloc_memdup(ctx, pdu, l ? l : 1);
		if (l >= 4) {
			uint32_t cl = htonl((uint32_t)l);
			memcpy(c, &cl, 4);
		}
		why[0] = '\0';
		if (smpp_deliver_decode(c, l, &d, why, sizeof(why)) != 0)
			CU_ASSERT(why[0] && !strstr(why, "3361"));
		talloc_free(c);
	}
	for (size_t i = 4; i < n; i++) {
		for (unsigned v = 0; v < 256; v += 51) {
			memcpy(cut, pdu, n);
			cut[i] = (uint8_t)v;
			uint8_t *c = talloc_memdup(ctx, cut, n);
			if (smpp_deliver_decode(c, n, &d, why, sizeof(why)) != 0)
				CU_ASSERT(!strstr(why, "3361"));
			talloc_free(c);
		}
	}
}

/* The key that recognises an SMSC's re-delivery: the same for the same message delivered
 * again, different for the same words sent again (a new reference), none when the message
 * carries no reference to tell the two apart. */
static void test_dedup_key(void)
{
	struct sms_parts_msg m = { .from = "+33612345678", .text = "1", .total = 1,
				   .received = 1764500000 };
	char *a = smpp_dedup_key(ctx, &m, 42), *b = smpp_dedup_key(ctx, &m, 42);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_STRING_EQUAL(a, b);
	m.received += 600;	/* re-delivered ten minutes later: still the same message */
	CU_ASSERT_STRING_EQUAL(smpp_dedup_key(ctx, &m, 42), a);
	CU_ASSERT_STRING_NOT_EQUAL(smpp_dedup_key(ctx, &m, 43), a);	/* sent again */
	CU_ASSERT_PTR_NULL(smpp_dedup_key(ctx, &m, -1));
	m.text = "2";
	CU_ASSERT_STRING_NOT_EQUAL(smpp_dedup_key(ctx, &m, 42), a);
	m.from = "+33612345679";
	m.text = "1";
	CU_ASSERT_STRING_NOT_EQUAL(smpp_dedup_key(ctx, &m, 42), a);
	/* A long message: its concatenation reference, whatever the TLV. */
	struct sms_parts_msg l = { .from = "+33612345678", .text = "un long texte", .total = 2,
				   .have = 2, .ref = 7, .received = 1764500000 };
	char *c = smpp_dedup_key(ctx, &l, -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	l.ref = 8;
	CU_ASSERT_STRING_NOT_EQUAL(smpp_dedup_key(ctx, &l, -1), c);
	CU_ASSERT_PTR_NULL(strstr(c, "un long"));	/* the text itself is not in the key */
}

static void test_decode(void)
{
	/* GSM-7 unpacked: "é€!" = 0x05, ESC 0x65, 0x21; bit 7 set by a sloppy SMSC is ignored. */
	const uint8_t g7[] = { 0x05, 0x1B, 0x65, 0x21, 'a' | 0x80 };
	char *s = smpp_decode_text(ctx, 0, g7, sizeof(g7));
	CU_ASSERT_STRING_EQUAL(s, "é€!a");
	/* UCS-2 BE with French accents and an emoji (surrogate pair). */
	const uint8_t u2[] = { 0x00, 0xC7, 0x00, 'a', 0x00, ' ', 0x00, 0xEA, 0xD8, 0x3D, 0xDE, 0x00 };
	s = smpp_decode_text(ctx, 8, u2, sizeof(u2));
	CU_ASSERT_STRING_EQUAL(s, "Ça ê😀");
	const uint8_t l1[] = { 'd', 0xE9, 'j', 0xE0 };
	s = smpp_decode_text(ctx, 3, l1, sizeof(l1));
	CU_ASSERT_STRING_EQUAL(s, "déjà");
	/* 0xF0 class: GSM-7; 0xF4: 8-bit. */
	const uint8_t hi[] = { 'H', 'i' };
	CU_ASSERT_STRING_EQUAL(smpp_decode_text(ctx, 0xF0, hi, 2), "Hi");
	CU_ASSERT_STRING_EQUAL(smpp_decode_text(ctx, 0x01, hi, 2), "Hi");
	CU_ASSERT_STRING_EQUAL(smpp_decode_text(ctx, 0, hi, 0), "");
}

/* Decodes the parts back and joins them. */
static char *join_parts(const struct smpp_part *p, unsigned n, uint8_t dcs)
{
	char *all = talloc_strdup(ctx, "");
	for (unsigned i = 0; i < n; i++) {
		size_t off = 0;
		if (n > 1) {
			struct sms_concat cc;
			size_t h = sms_udh_parse(p[i].data, p[i].len, &cc);
			CU_ASSERT_EQUAL(h, 6);
			CU_ASSERT(cc.present && cc.total == n && cc.seq == i + 1 && cc.ref == 0x77);
			off = h;
		}
		all = talloc_strdup_append(all, smpp_decode_text(ctx, dcs, p[i].data + off, p[i].len - off));
	}
	return all;
}

static void test_encode(void)
{
	struct smpp_part *p;
	unsigned n = smpp_encode_sms(ctx, "Bonjour é", TEXT_GSM7, 0x77, &p);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(p[0].len, 9);
	CU_ASSERT_EQUAL(p[0].data[8], 0x05);	/* é */

	char long_gsm[400];
	memset(long_gsm, 'a', 320);
	long_gsm[320] = '\0';
	n = smpp_encode_sms(ctx, long_gsm, TEXT_GSM7, 0x77, &p);
	CU_ASSERT_EQUAL(n, 3);			/* 153 + 153 + 14 */
	CU_ASSERT_EQUAL(p[0].len, 6 + 153);
	CU_ASSERT_EQUAL(p[2].len, 6 + 14);
	CU_ASSERT_STRING_EQUAL(join_parts(p, n, 0), long_gsm);

	/* Exactly 160 septets: one part; an escape counts two. */
	memset(long_gsm, 'b', 160);
	long_gsm[160] = '\0';
	CU_ASSERT_EQUAL(smpp_encode_sms(ctx, long_gsm, TEXT_GSM7, 0x77, &p), 1);
	strcpy(long_gsm + 159, "€");
	n = smpp_encode_sms(ctx, long_gsm, TEXT_GSM7, 0x77, &p);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_STRING_EQUAL(join_parts(p, n, 0), long_gsm);

	/* UCS-2: 67 units per part, French text with ç, œ, an emoji never cut in two. */
	char *fr = talloc_strdup(ctx, "");
	for (int i = 0; i < 10; i++)
		fr = talloc_strdup_append(fr, "Reçu, cœur 😀 ");
	n = smpp_encode_sms(ctx, fr, TEXT_UCS2, 0x77, &p);
	CU_ASSERT(n >= 3);
	for (unsigned i = 0; i < n; i++)
		CU_ASSERT(p[i].len <= 6 + 134);
	CU_ASSERT_STRING_EQUAL(join_parts(p, n, 8), fr);

	/* GSM-7 asked for a text GSM-7 cannot carry: refused (the caller falls back). */
	CU_ASSERT_EQUAL(smpp_encode_sms(ctx, "garçon", TEXT_GSM7, 1, &p), 0);
	CU_ASSERT_PTR_NULL(p);
}

static void test_status(void)
{
	char b[16];
	CU_ASSERT_EQUAL(smpp_status_classify(0), SMPP_ST_OK);
	CU_ASSERT_EQUAL(smpp_status_classify(0x58), SMPP_ST_THROTTLE);
	CU_ASSERT_EQUAL(smpp_status_classify(0x14), SMPP_ST_THROTTLE);
	CU_ASSERT_EQUAL(smpp_status_classify(0x08), SMPP_ST_TEMP);
	CU_ASSERT_EQUAL(smpp_status_classify(0x64), SMPP_ST_TEMP);
	CU_ASSERT_EQUAL(smpp_status_classify(0x0B), SMPP_ST_PERM);
	CU_ASSERT_EQUAL(smpp_status_classify(0x65), SMPP_ST_PERM);
	CU_ASSERT_EQUAL(smpp_status_classify(0x401), SMPP_ST_TEMP);
	CU_ASSERT_STRING_EQUAL(smpp_status_name(0x58, b, sizeof(b)), "ESME_RTHROTTLED");
	CU_ASSERT_STRING_EQUAL(smpp_status_name(0x123, b, sizeof(b)), "0x00000123");
}

static void test_receipt(void)
{
	char id[66], stat[16];
	const char *t = "id:1a2B sub:001 dlvr:001 submit date:2601011200 done date:2601011201 "
			"stat:UNDELIV err:001 text:hello";
	CU_ASSERT_EQUAL(smpp_receipt_parse(t, strlen(t), id, sizeof(id), stat, sizeof(stat)), 0);
	CU_ASSERT_STRING_EQUAL(id, "1a2B");
	CU_ASSERT_STRING_EQUAL(stat, "UNDELIV");
	/* Not NUL-terminated, cut before stat: */
	CU_ASSERT_EQUAL(smpp_receipt_parse(t, 8, id, sizeof(id), stat, sizeof(stat)), 0);
	CU_ASSERT_STRING_EQUAL(id, "1a2B");
	CU_ASSERT_STRING_EQUAL(stat, "");
	CU_ASSERT_EQUAL(smpp_receipt_parse("hello", 5, id, sizeof(id), stat, sizeof(stat)), -1);
}

static void test_bucket(void)
{
	struct smpp_bucket b;
	smpp_bucket_init(&b, 10, 0);
	CU_ASSERT_EQUAL(smpp_bucket_take(&b, 0), 0);
	int64_t w = smpp_bucket_take(&b, 0);
	CU_ASSERT(w > 90000 && w <= 100001);
	CU_ASSERT_EQUAL(smpp_bucket_take(&b, 100001), 0);
	/* 100 per second, for one second: about 100 taken, never much more. */
	smpp_bucket_init(&b, 100, 0);
	unsigned taken = 0;
	for (int64_t t = 0; t < 1000000; t += 1000)
		while (smpp_bucket_take(&b, t) == 0)
			taken++;
	CU_ASSERT(taken >= 99 && taken <= 111);
	smpp_bucket_init(&b, 0, 0);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(smpp_bucket_take(&b, 0), 0);
}

/* A sender able to submit `cap` parts/s, paced by the controller, against an SMSC model:
 * `rand_pct` % of submits throttled at random, or a bucket of `limit` parts/s (0: none), or
 * everything throttled (limit < 0). Simulated time, 1 ms steps; returns the parts accepted
 * in [from_s, to_s) and the lowest count accepted in one second of that span. */
struct sim {
	struct smpp_adapt a;
	int64_t t_us;
	double credit, tokens, rl_last;
	unsigned seed;
};

static unsigned sim_run(struct sim *m, double cap, unsigned rand_pct, double limit, int to_s,
			unsigned *min_per_s, double *max_rate)
{
	unsigned accepted = 0, this_s = 0, min_s = ~0u;
	int64_t end = (int64_t)to_s * 1000000, next_s = m->t_us + 1000000;
	for (; m->t_us < end; m->t_us += 1000) {
		double r = m->a.rate > 0 && m->a.rate < cap ? m->a.rate : cap;
		m->credit += r / 1000;
		if (limit > 0) {
			m->tokens += limit / 1000;
			if (m->tokens > limit / 10)
				m->tokens = limit / 10;
		}
		while (m->credit >= 1) {
			m->credit -= 1;
			bool thr;
			if (limit < 0)
				thr = true;
			else if (limit > 0)
				thr = m->tokens < 1 ? true : (m->tokens -= 1, false);
			else
				thr = (unsigned)(rand_r(&m->seed) % 100) < rand_pct;
			if (!thr)
				this_s++;
			smpp_adapt_answer(&m->a, thr, m->t_us);
			if (max_rate && m->a.rate > *max_rate)
				*max_rate = m->a.rate;
		}
		if (m->t_us + 1000 >= next_s) {
			accepted += this_s;
			if (this_s < min_s)
				min_s = this_s;
			this_s = 0;
			next_s += 1000000;
		}
	}
	if (min_per_s)
		*min_per_s = min_s;
	return accepted;
}

static void test_throttle_adapt(void)
{
	struct sim m = { .seed = 7 };
	unsigned min_s;
	/* 20 % throttled at random: sending slower does not help, the rate is left alone and
	 * 80 % of the submits are accepted, every second (the old halving kept ~5 %). */
	smpp_adapt_init(&m.a, 0, 0);
	unsigned acc = sim_run(&m, 1000, 20, 0, 10, &min_s, NULL);
	CU_ASSERT_EQUAL(m.a.rate, 0);
	CU_ASSERT(acc >= 7700);
	CU_ASSERT(min_s >= 750);
	/* A limit of 300/s: settles within 3 s, then >= 90 % of it every second (no
	 * oscillation), without sending more than ~1.6 times the limit. */
	memset(&m, 0, sizeof(m));
	smpp_adapt_init(&m.a, 0, 0);
	sim_run(&m, 1000, 0, 300, 3, NULL, NULL);
	double max_rate = 0;
	acc = sim_run(&m, 1000, 0, 300, 13, &min_s, &max_rate);
	CU_ASSERT(min_s >= 270);
	CU_ASSERT(acc >= 2700);
	CU_ASSERT(max_rate > 0 && max_rate <= 480);
	/* Everything throttled for 5 s, then the limit again: never a stall, back to >= 90 %
	 * within 5 s; then the limit lifted: unlimited again within 10 s. */
	sim_run(&m, 1000, 0, -1, 18, NULL, NULL);
	CU_ASSERT(m.a.rate >= 1);
	sim_run(&m, 1000, 0, 300, 23, NULL, NULL);
	sim_run(&m, 1000, 0, 300, 26, &min_s, NULL);
	CU_ASSERT(min_s >= 270);
	acc = sim_run(&m, 1000, 0, 0, 36, NULL, NULL);
	CU_ASSERT_EQUAL(m.a.rate, 0);
	/* A configured rate is never exceeded, and comes back after throttling. */
	memset(&m, 0, sizeof(m));
	smpp_adapt_init(&m.a, 200, 0);
	max_rate = 0;
	sim_run(&m, 1000, 0, 100, 5, NULL, &max_rate);
	CU_ASSERT(max_rate <= 200);
	CU_ASSERT(m.a.rate > 0 && m.a.rate < 200);
	sim_run(&m, 1000, 0, 0, 15, NULL, NULL);
	CU_ASSERT_EQUAL(m.a.rate, 200);
}

static int parse(const char *yaml, struct smpp_config **out, struct diag **dp)
{
	struct ydoc y;
	struct diag *d = diag_alloc(ctx);
	struct config *c = talloc_zero(ctx, struct config);
	*dp = d;
	if (ydoc_load_string(&y, ctx, "test.yaml", yaml, d) != 0)
		return -2;
	int rc = smpp_config_parse(ctx, &y, ydoc_get(&y, ydoc_root(&y), "smpp"), c, out);
	ydoc_free(&y);
	return rc;
}

static void test_config(void)
{
	struct smpp_config *sc;
	struct diag *d;
	int rc = parse("smpp:\n"
		       "  - name: opx\n"
		       "    host: 127.0.0.1\n"
		       "    port: 2775\n"
		       "    system_id: guichet\n"
		       "    password: opx-password\n"
		       "    system_type: \"\"\n"
		       "    bind: transceiver\n"
		       "    source: \"38123\"\n"
		       "    parts_per_second: 10\n"
		       "    window: 10\n"
		       "    enquire_link: 30s\n"
		       "    tls: false\n"
		       "  - name: agg\n"
		       "    host: smsc.example\n"
		       "    system_id: g2\n"
		       "    password: agg-pw\n"
		       "    bind: transmitter+receiver\n"
		       "    source: Mairie\n"
		       "    enquire_link: 1m\n", &sc, &d);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
	CU_ASSERT_STRING_EQUAL(sc->name, "opx");
	CU_ASSERT_EQUAL(sc->port, 2775);
	CU_ASSERT_STRING_EQUAL(sc->system_type, "");
	CU_ASSERT_EQUAL(sc->bind, SMPP_BIND_TRX);
	CU_ASSERT_EQUAL(sc->source_ton, 3);	/* short code */
	CU_ASSERT_EQUAL(sc->enquire_link_s, 30);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sc->next);
	CU_ASSERT_EQUAL(sc->next->bind, SMPP_BIND_TX_RX);
	CU_ASSERT_EQUAL(sc->next->source_ton, 5);	/* alphanumeric */
	CU_ASSERT_EQUAL(sc->next->enquire_link_s, 60);
	CU_ASSERT_EQUAL(sc->next->window, 10);
	CU_ASSERT_PTR_NULL(sc->next->next);

	rc = parse("smpp:\n"
		   "  - name: opx\n"
		   "    host: 127.0.0.1\n"
		   "    system_id: a-system-id-too-long\n"
		   "    password: pw\n"
		   "    bind: both\n"
		   "    windw: 3\n"
		   "    tls: true\n"
		   "    source: \"1\"\n"
		   "  - name: opx\n"
		   "    host: h\n"
		   "    system_id: s\n"
		   "    password: p\n"
		   "  - 42\n", &sc, &d);
	CU_ASSERT_EQUAL(rc, -1);
	/* too long, bind, unknown key, tls, second opx, missing source, not a mapping */
	CU_ASSERT(d->n_errors >= 7);
	bool saw_line = false;
	for (unsigned i = 0; i < d->n; i++)
		if (d->e[i].line == 6 && strstr(d->e[i].msg, "transceiver"))
			saw_line = true;
	CU_ASSERT(saw_line);

	rc = parse("smpp: {}\n", &sc, &d);
	CU_ASSERT_EQUAL(rc, -1);
	rc = parse("smpp:\n", &sc, &d);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NULL(sc);
}

static const CU_TestInfo tests[] = {
	{ "deliver_sm decoding", test_deliver_decode },
	{ "senders in international form", test_number_international },
	{ "decode", test_decode },
	{ "dedup key", test_dedup_key },
	{ "encode and split", test_encode },
	{ "status classes", test_status },
	{ "receipts", test_receipt },
	{ "token bucket", test_bucket },
	{ "rate under throttling", test_throttle_adapt },
	{ "config", test_config },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("smpp", tests, &ctx);
}
