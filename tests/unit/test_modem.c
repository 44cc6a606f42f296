/* Modem transport, pure parts: UDH concatenation headers, part decoding (8-bit, UCS-2 with
 * surrogate pairs split across parts), reassembly in any order, duplicates, missing parts
 * released after the timeout, the bound on waiting messages, dedup keys, what a status
 * report's TP-ST says, and the `modems:` config section with located errors. */
#include <stdio.h>
#include <string.h>
#include <CUnit/Basic.h>
#include <osmocom/core/talloc.h>

#include <gammu.h>

#include "guichet/config.h"
#include "guichet/diag.h"
#include "guichet/modem.h"
#include "guichet/text.h"
#include "guichet/ydoc.h"
#include "unit_main.h"

static void *ctx;

static struct sms_part mkpart(const char *from, int loc, unsigned ref, unsigned total,
			      unsigned seq, const char *utf8)
{
	struct sms_part p;
	memset(&p, 0, sizeof(p));
	snprintf(p.from, sizeof(p.from), "%s", from);
	p.loc.folder = 1;
	p.loc.location = loc;
	p.smsc_time = 1700000000;
	if (total > 1)
		p.cc = (struct sms_concat){ .present = true, .ref = (uint16_t)ref,
					    .total = (uint8_t)total, .seq = (uint8_t)seq };
	int n = text_utf8_to_ucs2be(utf8, p.ucs2, sizeof(p.ucs2));
	CU_ASSERT_FATAL(n >= 0);
	p.len = (unsigned)n;
	return p;
}

/* The modem's way through sms_parts: its part in, its message out. */
static int add(struct sms_parts *r, const struct sms_part *p, int64_t now_ms, int64_t now_s)
{
	struct sms_part_in in;
	sms_part_input(p, now_s, &in);
	return sms_parts_add(r, &in, now_ms);
}

static unsigned take(struct sms_parts *r, int64_t now_ms, struct sms_msg **out, unsigned max)
{
	struct sms_parts_msg *pm[64];
	unsigned n = sms_parts_take(r, ctx, now_ms, pm, max < 64 ? max : 64);
	for (unsigned i = 0; i < n; i++) {
		out[i] = sms_msg_from_parts(ctx, pm[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out[i]);
		talloc_free(pm[i]);
	}
	return n;
}

/* libGammu's message -> our part: the UDH read by sms_udh_parse, as for SMPP. */
static void test_udh(void)
{
	GSM_SMSMessage *sms = talloc_zero(ctx, GSM_SMSMessage);
	struct sms_part p;
	EncodeUnicode(sms->Number, "+33611111111", 12);
	EncodeUnicode(sms->Text, "hi", 2);
	sms->Coding = SMS_Coding_Default_No_Compression;
	sms->UDH.Type = UDH_UserUDH;
	const uint8_t u16[] = { 6, 0x08, 4, 0x12, 0x34, 2, 1 };
	memcpy(sms->UDH.Text, u16, sizeof(u16));
	sms->UDH.Length = sizeof(u16);
	sms_part_from_gammu(&p, sms);
	CU_ASSERT(p.cc.present && p.cc.ref16 && p.cc.ref == 0x1234 && p.cc.total == 2 && p.cc.seq == 1);
	CU_ASSERT_STRING_EQUAL(p.from, "+33611111111");
	/* A broken element: no concatenation (libGammu's own reading is not used then). */
	const uint8_t broken[] = { 5, 0x00, 3, 7, 2 };
	memcpy(sms->UDH.Text, broken, sizeof(broken));
	sms->UDH.Length = sizeof(broken);
	sms->UDH.Type = UDH_ConcatenatedMessages;
	sms->UDH.AllParts = 2;
	sms->UDH.PartNumber = 1;
	sms_part_from_gammu(&p, sms);
	CU_ASSERT(!p.cc.present);
	/* No raw header kept: libGammu's reading stands in. */
	sms->UDH.Length = 0;
	sms->UDH.ID8bit = 7;
	sms_part_from_gammu(&p, sms);
	CU_ASSERT(p.cc.present && !p.cc.ref16 && p.cc.ref == 7 && p.cc.total == 2 && p.cc.seq == 1);
	talloc_free(sms);
}

static void test_decode(void)
{
	struct sms_part p;
	memset(&p, 0, sizeof(p));
	const uint8_t latin1[] = { 'c', 'a', 'f', 0xe9 };
	sms_part_set_8bit(&p, latin1, sizeof(latin1));
	char *s = text_ucs2be_to_utf8(ctx, p.ucs2, p.len);
	CU_ASSERT_STRING_EQUAL(s, "café");
	const uint8_t ucs2[] = { 0x00, 0xe7, 0x00, 0x61, 0x20, 0xac };
	sms_part_set_ucs2(&p, ucs2, 3);
	s = text_ucs2be_to_utf8(ctx, p.ucs2, p.len);
	CU_ASSERT_STRING_EQUAL(s, "ça€");
}

static void test_reassembly_order(void)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 60 * 1000, 100);
	struct sms_part a = mkpart("+33611111111", 3, 9, 3, 3, "ô fin");
	struct sms_part b = mkpart("+33611111111", 1, 9, 3, 1, "Début ");
	struct sms_part c = mkpart("+33611111111", 2, 9, 3, 2, "milieu ");
	struct sms_part other = mkpart("+33622222222", 4, 9, 3, 1, "autre ");
	struct sms_msg *out[4];
	CU_ASSERT_EQUAL(add(r, &a, 1000, 1), 0);
	CU_ASSERT_EQUAL(add(r, &other, 1000, 1), 0);
	CU_ASSERT_EQUAL(add(r, &b, 1100, 1), 0);
	CU_ASSERT_EQUAL(take(r, 1100, out, 4), 0);
	CU_ASSERT_EQUAL(add(r, &b, 1150, 1), 1);	/* same location again */
	struct sms_part b2 = b;
	b2.loc.location = 9;
	CU_ASSERT_EQUAL(add(r, &b2, 1150, 1), 0);	/* same part, another location: kept to delete */
	CU_ASSERT_EQUAL(add(r, &c, 1200, 1), 0);
	CU_ASSERT_EQUAL(sms_parts_pending(r), 2);
	CU_ASSERT_EQUAL(take(r, 1200, out, 4), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "Début milieu ô fin");
	CU_ASSERT_STRING_EQUAL(out[0]->from, "+33611111111");
	CU_ASSERT_EQUAL(out[0]->have, 3);
	CU_ASSERT_EQUAL(out[0]->total, 3);
	CU_ASSERT_EQUAL(out[0]->nloc, 4);
	CU_ASSERT_EQUAL(out[0]->locs[0].location, 1);
	CU_ASSERT_EQUAL(out[0]->locs[1].location, 9);
	CU_ASSERT_EQUAL(out[0]->locs[3].location, 3);
	CU_ASSERT_EQUAL(sms_parts_pending(r), 1);
	talloc_free(r);
}

static void test_reassembly_timeout(void)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 10 * 1000, 100);
	struct sms_part p1 = mkpart("+33611111111", 1, 5, 4, 1, "un ");
	struct sms_part p3 = mkpart("+33611111111", 3, 5, 4, 3, "trois");
	struct sms_part single = mkpart("+33611111111", 7, 0, 1, 1, "seul");
	struct sms_msg *out[4];
	add(r, &p1, 0, 100);
	add(r, &p3, 5000, 105);
	CU_ASSERT_EQUAL(sms_parts_next_deadline(r), 10000);
	CU_ASSERT_EQUAL(take(r, 9999, out, 4), 0);
	add(r, &single, 9999, 110);
	CU_ASSERT_EQUAL(sms_parts_next_deadline(r), 0);	/* complete: due now */
	CU_ASSERT_EQUAL(take(r, 9999, out, 4), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "seul");
	CU_ASSERT_EQUAL(take(r, 10000, out, 4), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "un trois");
	CU_ASSERT_EQUAL(out[0]->have, 2);
	CU_ASSERT_EQUAL(out[0]->total, 4);
	CU_ASSERT_EQUAL(out[0]->received, 100);
	CU_ASSERT_EQUAL(sms_parts_next_deadline(r), -1);
	/* a late sibling starts a new message of its own */
	struct sms_part p2 = mkpart("+33611111111", 2, 5, 4, 2, "deux ");
	CU_ASSERT_EQUAL(add(r, &p2, 20000, 120), 0);
	CU_ASSERT_EQUAL(sms_parts_pending(r), 1);
	talloc_free(r);
}

static void test_reassembly_bound(void)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 3600 * 1000, 2);
	struct sms_msg *out[8];
	for (int i = 0; i < 3; i++) {
		struct sms_part p = mkpart("+33611111111", i + 1, (unsigned)i, 2, 1, "x");
		add(r, &p, i, 1);
	}
	CU_ASSERT_EQUAL(take(r, 10, out, 8), 1);	/* the oldest pushed out */
	CU_ASSERT_EQUAL(out[0]->locs[0].location, 1);
	CU_ASSERT_EQUAL(sms_parts_pending(r), 2);
	talloc_free(r);

	/* Many first-of-two parts with distinct references, no take in between (the store is
	 * failing): never more than the bound wait for parts; the rest is pushed out, and
	 * comes out at the next takes, each part once, none lost. */
	enum { N = 3000, MAX = 256 };
	r = sms_parts_alloc(ctx, 3600 * 1000, MAX);
	unsigned most = 0;
	for (unsigned i = 0; i < N; i++) {
		struct sms_part p = mkpart("+33611111111", (int)i + 1, i & 0xFFFF, 2, 1, "x");
		CU_ASSERT_EQUAL(add(r, &p, 100, 1), 0);
		if (sms_parts_waiting(r) > most)
			most = sms_parts_waiting(r);
	}
	CU_ASSERT(most <= MAX);
	CU_ASSERT_EQUAL(sms_parts_waiting(r), MAX);
	unsigned got = 0, k;
	int next = 1;
	void *tmp = talloc_new(ctx);
	while ((k = take(r, 200, out, 8)) > 0) {
		for (unsigned j = 0; j < k; j++) {
			CU_ASSERT(out[j]->have == 1 && out[j]->total == 2 && out[j]->nloc == 1);
			CU_ASSERT_EQUAL(out[j]->locs[0].location, next);
			next++;
			got++;
		}
		talloc_free_children(tmp);
	}
	CU_ASSERT_EQUAL(got, N - MAX);
	CU_ASSERT_EQUAL(sms_parts_pending(r), MAX);
	talloc_free(tmp);
	talloc_free(r);
}

static void test_surrogates_across_parts(void)
{
	/* 😀 = D83D DE00, split between two parts */
	struct sms_parts *r = sms_parts_alloc(ctx, 60 * 1000, 10);
	struct sms_part a = mkpart("+1", 1, 1, 2, 1, "a");
	struct sms_part b = mkpart("+1", 2, 1, 2, 2, "b");
	a.ucs2[2] = 0xd8; a.ucs2[3] = 0x3d; a.len = 4;
	b.ucs2[0] = 0xde; b.ucs2[1] = 0x00; b.ucs2[2] = 0x00; b.ucs2[3] = 'b'; b.len = 4;
	add(r, &a, 0, 0);
	add(r, &b, 0, 0);
	struct sms_msg *out[1];
	CU_ASSERT_EQUAL(take(r, 0, out, 1), 1);
	CU_ASSERT_STRING_EQUAL(out[0]->text, "a😀b");
	talloc_free(r);
}

/* The dedup key of p read alone. */
static const char *key(const struct sms_part *p)
{
	struct sms_parts *r = sms_parts_alloc(ctx, 60000, 10);
	struct sms_msg *m = NULL;
	CU_ASSERT_EQUAL(add(r, p, 0, 0), 0);
	CU_ASSERT_EQUAL_FATAL(take(r, 0, &m, 1), 1);
	talloc_free(r);
	return m->dedup;
}

static void test_dedup(void)
{
	struct sms_part p = mkpart("+33611111111", 12, 0, 1, 1, "OUI");
	const char *k1 = key(&p);
	struct sms_part q = p;
	q.loc.location = 13;	/* re-read at another location: same SMSC time, same key */
	CU_ASSERT_STRING_EQUAL(k1, key(&q));
	/* the format stored keys were made with */
	CU_ASSERT_EQUAL(strncmp(k1, "v1:+33611111111:1700000000:0/1:", 31), 0);
	q.smsc_time++;		/* the same text a second later is another message */
	CU_ASSERT_STRING_NOT_EQUAL(k1, key(&q));
	struct sms_part o = mkpart("+33611111111", 12, 0, 1, 1, "NON");
	CU_ASSERT_STRING_NOT_EQUAL(k1, key(&o));
	/* no SMSC time: the location stands in */
	p.smsc_time = 0;
	q = p;
	q.loc.location = 13;
	CU_ASSERT_STRING_NOT_EQUAL(key(&p), key(&q));
	CU_ASSERT_PTR_NOT_NULL(strstr(key(&p), ":@1.12"));
	/* a reassembled message keeps its key when read again */
	struct sms_parts *r = sms_parts_alloc(ctx, 60 * 1000, 10);
	struct sms_part a = mkpart("+2", 1, 4, 2, 1, "x"), b = mkpart("+2", 2, 4, 2, 2, "y");
	struct sms_msg *m1, *m2;
	add(r, &b, 0, 0);
	add(r, &a, 0, 0);
	take(r, 0, &m1, 1);
	add(r, &a, 0, 0);
	add(r, &b, 0, 0);
	take(r, 0, &m2, 1);
	CU_ASSERT_STRING_EQUAL(m1->dedup, m2->dedup);
	talloc_free(r);
}

/* TP-ST (23.040 9.2.3.15) -> delivered / failed for good / nothing yet. */
static void test_report_outcome(void)
{
	char stat[24];
	CU_ASSERT_EQUAL(sms_report_outcome(0x00, stat, sizeof(stat)), 1);
	CU_ASSERT_STRING_EQUAL(stat, "DELIVRD");
	CU_ASSERT_EQUAL(sms_report_outcome(0x02, stat, sizeof(stat)), 1);	/* replaced */
	CU_ASSERT_EQUAL(sms_report_outcome(0x20, stat, sizeof(stat)), -1);	/* congestion */
	CU_ASSERT_EQUAL(sms_report_outcome(0x25, stat, sizeof(stat)), -1);
	CU_ASSERT_EQUAL(sms_report_outcome(0x41, stat, sizeof(stat)), 0);	/* incompatible */
	CU_ASSERT_STRING_EQUAL(stat, "UNDELIV 0x41");
	CU_ASSERT_EQUAL(sms_report_outcome(0x46, stat, sizeof(stat)), 0);	/* validity over */
	CU_ASSERT_STRING_EQUAL(stat, "EXPIRED 0x46");
	CU_ASSERT_EQUAL(sms_report_outcome(0x62, stat, sizeof(stat)), 0);	/* SC gave up */
	CU_ASSERT_EQUAL(sms_report_outcome(0x80, stat, sizeof(stat)), -1);	/* reserved */
	CU_ASSERT_EQUAL(sms_report_outcome(0xff, stat, sizeof(stat)), -1);
}

/* TP-MR is one octet: the 257th part reuses a reference. A report names its recipient, in
 * whatever form the network writes it; the key must tell two recipients apart and be the
 * same for one recipient in every form. */
static void test_report_key(void)
{
	char a[16], b[16];

	sms_report_key(a, sizeof(a), 17, "+33612345671");
	CU_ASSERT_STRING_EQUAL(a, "17:12345671");
	sms_report_key(b, sizeof(b), 17, "0612345671");
	CU_ASSERT_STRING_EQUAL(a, b);
	sms_report_key(b, sizeof(b), 17, "33612345671");
	CU_ASSERT_STRING_EQUAL(a, b);
	sms_report_key(b, sizeof(b), 17, "+33612345672");
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	sms_report_key(b, sizeof(b), 18, "+33612345671");
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	sms_report_key(b, sizeof(b), 5, "38123");	/* a short number: all its digits */
	CU_ASSERT_STRING_EQUAL(b, "5:38123");
	sms_report_key(b, sizeof(b), 5, NULL);
	CU_ASSERT_STRING_EQUAL(b, "5:");
}

static int parse(const char *yaml, struct modem_config **mc, struct diag **d)
{
	*d = diag_alloc(ctx);
	struct ydoc y;
	if (ydoc_load_string(&y, ctx, "guichet.yaml", yaml, *d) < 0)
		return -2;
	struct config c = { .file = "/etc/guichet/guichet.yaml", .dir = "/etc/guichet" };
	int rc = modem_config_parse(ctx, &y, ydoc_get(&y, ydoc_root(&y), "modems"), &c, mc);
	ydoc_free(&y);	/* the config's strings are its own */
	return rc;
}

static void test_config(void)
{
	struct modem_config *mc;
	struct diag *d;
	CU_ASSERT_EQUAL(parse("modems:\n"
			      "  - name: m1\n"
			      "    device: /dev/ttyUSB0\n"
			      "    pin: m1-pin\n"
			      "    rate: 20\n"
			      "  - name: demo\n"
			      "    model: dummy\n"
			      "    device: modem\n"
			      "    poll_ms: 50\n"
			      "    reassembly_timeout: 10m\n"
			      "    sent_log: sent.jsonl\n", &mc, &d), 0);
	CU_ASSERT_FATAL(mc != NULL);
	CU_ASSERT_EQUAL(mc->n, 2);
	CU_ASSERT_STRING_EQUAL(mc->m[0].connection, "at");
	CU_ASSERT_STRING_EQUAL(mc->m[0].pin, "m1-pin");
	CU_ASSERT_EQUAL(mc->m[0].rate, 20);
	CU_ASSERT_EQUAL(mc->m[0].poll_ms, 1000);
	CU_ASSERT_EQUAL(mc->m[0].reassembly_timeout_s, 600);
	CU_ASSERT_PTR_NULL(mc->m[0].sent_log);
	CU_ASSERT_STRING_EQUAL(mc->m[1].connection, "none");
	CU_ASSERT_STRING_EQUAL(mc->m[1].device, "/etc/guichet/modem");
	CU_ASSERT_STRING_EQUAL(mc->m[1].sent_log, "/etc/guichet/sent.jsonl");
	CU_ASSERT_EQUAL(mc->m[1].poll_ms, 50);
	CU_ASSERT(mc->m[0].status_reports);	/* asked for by default, as SMPP does */
	CU_ASSERT_EQUAL(parse("modems:\n"
			      "  - name: m1\n"
			      "    device: /dev/ttyUSB0\n"
			      "    status_reports: false\n", &mc, &d), 0);
	CU_ASSERT_FATAL(mc != NULL);
	CU_ASSERT(!mc->m[0].status_reports);
	CU_ASSERT_EQUAL(parse("modems:\n"
			      "  - name: m1\n"
			      "    device: /dev/ttyUSB0\n"
			      "    status_reports: often\n", &mc, &d), -1);

	CU_ASSERT_EQUAL(parse("modems:\n"
			      "  - name: m1\n"
			      "    devise: /dev/ttyUSB0\n"
			      "    rate: lots\n"
			      "  - name: m1\n"
			      "    device: /dev/ttyUSB1\n"
			      "  - just text\n", &mc, &d), -1);
	CU_ASSERT(d->n_errors >= 4);
	bool located = false, twice = false;
	for (unsigned i = 0; i < d->n; i++) {
		if (strstr(d->e[i].msg, "devise") && d->e[i].line == 3)
			located = true;
		if (strstr(d->e[i].msg, "used twice") && d->e[i].line == 5)
			twice = true;
	}
	CU_ASSERT(located);
	CU_ASSERT(twice);

	CU_ASSERT_EQUAL(parse("modems: {name: m1}\n", &mc, &d), -1);
	CU_ASSERT_EQUAL(parse("other: 1\n", &mc, &d), 0);
	CU_ASSERT_PTR_NULL(mc);
}

static const CU_TestInfo tests[] = {
	{ "udh", test_udh },
	{ "decode", test_decode },
	{ "reassembly order", test_reassembly_order },
	{ "reassembly timeout", test_reassembly_timeout },
	{ "reassembly bound", test_reassembly_bound },
	{ "surrogates across parts", test_surrogates_across_parts },
	{ "dedup", test_dedup },
	{ "config", test_config },
	{ "status report outcome", test_report_outcome },
	{ "status report key: reference and recipient", test_report_key },
	CU_TEST_INFO_NULL,
};

int main(void)
{
	return unit_talloc_run("modem", tests, &ctx);
}
