/* at_modem: a fake GSM modem on a pseudo-terminal, speaking enough AT (PDU mode) for
 * libGammu's AT driver, with faults that can be switched on.
 *
 *   at_modem -i INBOX [-l LINK] [-s SENT.jsonl] [-c CONTROL] [-d MS_PER_PART] [-n NAME]
 *     -i INBOX   directory watched for incoming messages: one file per message (names
 *                starting with '.' are ignored, so write then rename), in the form
 *                    from: +33612345678
 *                    time: 20261123T101500        (optional SMSC time, UTC)
 *                    <empty line>
 *                    the text, UTF-8
 *                A long text becomes concatenated parts (UCS-2, 67 units, UDH 050003),
 *                each at its own SIM index; a short ASCII text goes as GSM-7.
 *                The file is removed once all its parts are on the "SIM".
 *                A file whose first line is "pdu: HEX [LEN]" puts that PDU (SMSC prefix
 *                included) on the SIM as it is, announced with TPDU length LEN (default:
 *                what the hex holds): malformed PDUs for the fault tests.
 *     -l LINK    symlink made to the pty's slave (replaced when the line is dropped)
 *     -s FILE    every submitted PDU, decoded, as a JSON line {"to","text","udh","pdu",...,
 *                "mr" (the reference answered), "srr" (a status report was requested)}
 *     -c FILE    control file, re-read every 100 ms: "ok" (or absent), "stall" (read
 *                commands, answer nothing), "error" (answer ERROR to everything), "drop"
 *                (close the pty and open a new one, once per write of the file), "junk"
 *                (unsolicited lines between and inside answers, on one occasion out of
 *                three: RING, +CMTI for slots that hold nothing, +CMT and +CDS with broken
 *                PDUs, vendor URCs, binary noise)
 *     -d MS      delay before answering each AT+CMGS (default 0; real modems 2500)
 * Prints the slave path on stdout. SIGTERM/SIGINT: exit 0. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <gammu.h>
#pragma GCC diagnostic pop
#include <jansson.h>
#include <osmocom/core/talloc.h>
#include <osmocom/gsm/gsm_utils.h>

#include "guichet/text.h"

#define SIM_SLOTS 100

struct slot {
	bool used, read;
	char pdu[800];		/* hex TPDU with SMSC prefix */
	unsigned tpdu_len;	/* octets, without the SMSC */
};

static struct {
	const char *inbox, *link, *sent, *ctl, *name;
	unsigned delay_ms;
	int master, slave;
	char slave_path[128];
	bool echo;
	struct slot sim[SIM_SLOTS + 1];	/* 1-based */
	char line[8192];
	size_t nline;
	bool pdu_mode_input;	/* after the CMGS prompt */
	unsigned mr;
	char fault[16];
	struct timespec ctl_mtime;
	int64_t answer_at;	/* delayed CMGS answer, ms; 0: none */
	char pending_answer[128];
	volatile sig_atomic_t quit;
} M = { .echo = true, .master = -1, .slave = -1, .name = "at_modem" };

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", M.name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void put(const char *s)
{
	size_t n = strlen(s);
	unsigned waits = 0;
	while (n > 0 && M.master >= 0) {
		ssize_t w = write(M.master, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* Nobody reads the line (the client closed it): after 0.2 s the rest is
			 * lost, as on a real serial line, rather than the modem hanging. */
			if (errno == EAGAIN && waits++ < 200) {
				usleep(1000);
				continue;
			}
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void putf(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	put(buf);
}

/* ---- the pty ---- */

static int open_pty(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return -1;
	const char *p = ptsname(m);
	if (!p)
		return -1;
	snprintf(M.slave_path, sizeof(M.slave_path), "%s", p);
	/* Holding the slave open keeps reads on the master from failing while no client is
	 * connected; raw mode so the line discipline neither echoes nor edits. */
	int s = open(p, O_RDWR | O_NOCTTY);
	if (s < 0)
		return -1;
	struct termios t;
	if (tcgetattr(s, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(s, TCSANOW, &t);
	}
	fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
	M.master = m;
	M.slave = s;
	if (M.link) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", M.link);
		unlink(tmp);
		if (symlink(p, tmp) < 0 || rename(tmp, M.link) < 0) {
			perror(M.link);
			return -1;
		}
	}
	M.echo = true;
	M.nline = 0;
	M.pdu_mode_input = false;
	M.answer_at = 0;
	return 0;
}

static void close_pty(void)
{
	if (M.master >= 0)
		close(M.master);
	if (M.slave >= 0)
		close(M.slave);
	M.master = M.slave = -1;
}

/* ---- the inbox: files -> SIM slots of deliver PDUs ---- */

static void semi_octets(char *out, const char *digits)
{
	size_t n = strlen(digits), o = 0;
	for (size_t i = 0; i < n; i += 2) {
		out[o++] = i + 1 < n ? digits[i + 1] : 'F';
		out[o++] = digits[i];
	}
	out[o] = 0;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", b[i]);
	out[2 * n] = 0;
}

static unsigned bcd(unsigned v)
{
	return (v % 10) << 4 | (v / 10 % 10);
}

/* Builds "SMSC + TPDU" hex for one part. ud: user data (UCS-2 bytes or packed septets);
 * udl: octets (UCS-2) or septets (GSM-7), UDH included. */
static int make_deliver(struct slot *sl, const char *from, const struct tm *tm, int dcs,
			const uint8_t *udh, size_t udhlen, const uint8_t *ud, size_t udlen,
			unsigned udl)
{
	uint8_t t[400];
	size_t k = 0;
	char digits[32], so[40];
	snprintf(digits, sizeof(digits), "%s", from[0] == '+' ? from + 1 : from);
	t[k++] = 0x04 | (udhlen ? 0x40 : 0);
	t[k++] = (uint8_t)strlen(digits);
	t[k++] = from[0] == '+' ? 0x91 : 0x81;
	semi_octets(so, digits);
	for (size_t i = 0; so[i]; i += 2) {
		unsigned v;
		sscanf(so + i, "%2x", &v);
		t[k++] = (uint8_t)v;
	}
	t[k++] = 0x00;
	t[k++] = (uint8_t)dcs;
	t[k++] = (uint8_t)bcd((unsigned)tm->tm_year % 100);
	t[k++] = (uint8_t)bcd((unsigned)tm->tm_mon + 1);
	t[k++] = (uint8_t)bcd((unsigned)tm->tm_mday);
	t[k++] = (uint8_t)bcd((unsigned)tm->tm_hour);
	t[k++] = (uint8_t)bcd((unsigned)tm->tm_min);
	t[k++] = (uint8_t)bcd((unsigned)tm->tm_sec);
	t[k++] = 0x00;
	t[k++] = (uint8_t)udl;
	if (k + udhlen + udlen > sizeof(t))
		return -1;
	if (udhlen)
		memcpy(t + k, udh, udhlen);
	k += udhlen;
	memcpy(t + k, ud, udlen);
	k += udlen;
	char smsc[40];
	semi_octets(smsc, "33609001390");
	snprintf(sl->pdu, sizeof(sl->pdu), "0791%s", smsc);
	hex(sl->pdu + strlen(sl->pdu), t, k);
	sl->tpdu_len = (unsigned)k;
	sl->used = true;
	sl->read = false;
	return 0;
}

static unsigned free_slots(void)
{
	unsigned n = 0;
	for (int i = 1; i <= SIM_SLOTS; i++)
		n += !M.sim[i].used;
	return n;
}

static struct slot *free_slot(void)
{
	for (int i = 1; i <= SIM_SLOTS; i++)
		if (!M.sim[i].used)
			return &M.sim[i];
	return NULL;
}

static bool plain_ascii(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(" .,!?:-", *s)))
			return false;
	return true;
}

static int load_message(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char from[64] = "", stamp[32] = "", buf[8192];
	size_t tl = 0;
	char *text = NULL;
	bool body = false;
	if (fgets(buf, sizeof(buf), f) && !strncmp(buf, "pdu:", 4)) {
		char hexpdu[sizeof(M.sim[0].pdu)] = "";
		unsigned len = 0;
		int k = sscanf(buf + 4, " %799s %u", hexpdu, &len);
		struct slot *sl = free_slot();
		fclose(f);
		if (k < 1 || !sl)
			return k < 1 ? 0 : -1;
		snprintf(sl->pdu, sizeof(sl->pdu), "%s", hexpdu);
		/* The TPDU length the modem announces: what follows the SMSC address. */
		unsigned smsc = 0;
		sscanf(hexpdu, "%2x", &smsc);
		size_t hl = strlen(hexpdu) / 2;
		sl->tpdu_len = k == 2 ? len : (unsigned)(hl > smsc + 1 ? hl - smsc - 1 : 0);
		sl->used = true;
		sl->read = false;
		return 0;
	}
	rewind(f);
	while (fgets(buf, sizeof(buf), f)) {
		if (!body) {
			buf[strcspn(buf, "\r\n")] = 0;
			if (!buf[0])
				body = true;
			else if (!strncmp(buf, "from:", 5))
				sscanf(buf + 5, " %63s", from);
			else if (!strncmp(buf, "time:", 5))
				sscanf(buf + 5, " %31s", stamp);
			continue;
		}
		size_t l = strlen(buf);
		text = realloc(text, tl + l + 1);
		memcpy(text + tl, buf, l + 1);
		tl += l;
	}
	fclose(f);
	if (!text)
		text = strdup("");
	while (tl > 0 && text[tl - 1] == '\n')
		text[--tl] = 0;
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	if (stamp[0] && sscanf(stamp, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			       &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
	}
	int rc = -1;
	void *ctx = talloc_new(NULL);
	if (!from[0]) {
		logf_("%s: no from: line, ignored", path);
		rc = 0;
		goto out;
	}
	if (plain_ascii(text) && strlen(text) <= 160) {
		uint8_t ud[160];
		int oct = 0;
		int sept = gsm_7bit_encode_n(ud, sizeof(ud), text, &oct);
		struct slot *sl = free_slot();
		if (!sl)
			goto out;
		rc = make_deliver(sl, from, &tm, 0x00, NULL, 0, ud, (size_t)oct, (unsigned)sept);
		goto out;
	}
	char **parts;
	unsigned n = text_split_sms(ctx, text, TEXT_UCS2, &parts);
	if (n == 0 || n > free_slots())
		goto out;	/* SIM full: the file waits */
	static unsigned ref = 0x40;
	ref = (ref + 1) & 0xff;
	for (unsigned i = 0; i < n; i++) {
		uint8_t ud[200];
		int len = text_utf8_to_ucs2be(parts[i], ud, sizeof(ud));
		uint8_t udh[6] = { 0x05, 0x00, 0x03, (uint8_t)ref, (uint8_t)n, (uint8_t)(i + 1) };
		if (len < 0)
			goto out;
		rc = make_deliver(free_slot(), from, &tm, 0x08, udh, n > 1 ? 6 : 0, ud, (size_t)len,
				  (unsigned)len + (n > 1 ? 6 : 0));
		if (rc < 0)
			goto out;
	}
out:
	talloc_free(ctx);
	free(text);
	return rc;
}

static void scan_inbox(void)
{
	DIR *d = opendir(M.inbox);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", M.inbox, e->d_name);
		if (load_message(path) == 0) {
			unlink(path);
			logf_("message %s on the SIM", e->d_name);
		}
	}
	closedir(d);
}

/* ---- sent PDUs ---- */

static void record_submit(const char *pduhex, unsigned mr)
{
	size_t n = strlen(pduhex) / 2;
	uint8_t *b = malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(pduhex + 2 * i, "%2x", &v);
		b[i] = (uint8_t)v;
	}
	GSM_SMSMessage *sms = calloc(1, sizeof(*sms));
	size_t pos = 0;
	char to[256] = "", text[4096] = "", udh[300] = "";
	const char *coding = "?";
	bool srr = false;
	GSM_Error err = GSM_DecodePDUFrame(GSM_GetGlobalDebug(), sms, b, n, &pos, TRUE);
	if (err == ERR_NONE) {
		EncodeUTF8(to, sms->Number);
		/* TP-SRR, bit 5 of the first octet after the SMSC address */
		srr = n > (size_t)b[0] + 1 && (b[b[0] + 1] & 0x20);
		if (sms->Coding != SMS_Coding_8bit)
			EncodeUTF8(text, sms->Text);
		if (sms->UDH.Type != UDH_NoUDH)
			hex(udh, sms->UDH.Text, (size_t)sms->UDH.Length);
		coding = sms->Coding == SMS_Coding_Unicode_No_Compression ? "ucs2"
			 : sms->Coding == SMS_Coding_8bit		     ? "8bit"
									     : "gsm7";
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:b}", "to", to, "text", text,
			      "udh", udh, "coding", coding, "pdu", pduhex, "time",
			      (json_int_t)time(NULL), "mr", (int)mr, "srr", srr);
	char *line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (M.sent && line) {
		FILE *f = fopen(M.sent, "a");
		if (f) {
			fprintf(f, "%s\n", line);
			fclose(f);
		}
	}
	free(line);
	free(sms);
	free(b);
}

/* ---- AT commands ---- */

/* "junk" fault: what some modems say unasked, at any moment. */
static void junk(void)
{
	static const char *const lines[] = {
		"\r\nRING\r\n", "\r\n+CMTI: \"SM\",99\r\n", "\r\n+CMTI: \"ME\",-1\r\n",
		"\r\n^BOOT:12345678,0,0,0,72\r\n", "\r\n+CREG: 1\r\n", "\r\n^RSSI:14\r\n",
		"\r\n+CDS: 25\r\n07913396050066F006\r\n", "\r\n+CMT: ,23\r\n0011000B91\r\n",
		"\r\n\xff\xfe\x01\x02 noise\r\n", "\r\n+CUSD: 2\r\n", "\r\n\r\n\r\n",
		"\r\n^MODE:5,4\r\n", "\r\n+CIEV: 2,3\r\n",
	};
	static unsigned k, calls;
	/* Every third occasion: a modem that says nothing sensible at all is a dead modem,
	 * which other faults cover. */
	if (strcmp(M.fault, "junk") || calls++ % 3)
		return;
	put(lines[k++ % (sizeof(lines) / sizeof(lines[0]))]);
}

static void ok(void) { put("\r\nOK\r\n"); }
static void at_error(void) { put("\r\nERROR\r\n"); }

static bool is(const char *cmd, const char *s) { return !strcasecmp(cmd, s); }
static bool starts(const char *cmd, const char *p) { return !strncasecmp(cmd, p, strlen(p)); }

static unsigned used_slots(void)
{
	return SIM_SLOTS - free_slots();
}

static void command(char *cmd)
{
	if (M.echo) {
		put(cmd);
		put("\r");
	}
	junk();
	if (!strcmp(M.fault, "error")) {
		at_error();
		return;
	}
	if (is(cmd, "AT") || is(cmd, "ATZ") || starts(cmd, "AT&F") || is(cmd, "AT+CMEE=1") ||
	    starts(cmd, "AT+CFUN=") || is(cmd, "AT+CMGF=0") || starts(cmd, "AT+CSCS=\"") ||
	    starts(cmd, "AT+CNMI=") || starts(cmd, "ATV1") || starts(cmd, "AT+CSMS=") ||
	    starts(cmd, "AT+CSDH="))
		return ok();
	if (is(cmd, "ATE1") || is(cmd, "ATE0")) {
		M.echo = cmd[3] == '1';
		return ok();
	}
	if (is(cmd, "AT+CMGF=1"))
		return at_error();	/* PDU mode only */
	if (is(cmd, "AT+CMGF=?"))
		return put("\r\n+CMGF: (0)\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CMGF?"))
		return put("\r\n+CMGF: 0\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CSCS?"))
		return put("\r\n+CSCS: \"GSM\"\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CSCS=?"))
		return put("\r\n+CSCS: (\"GSM\",\"UCS2\",\"IRA\")\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CGMM") || is(cmd, "AT+GMM"))
		return put("\r\nGUICHET-FAKE\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CGMI") || is(cmd, "AT+GMI"))
		return put("\r\nGuichet\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CGMR") || is(cmd, "AT+GMR"))
		return put("\r\n1.0\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CGSN") || is(cmd, "AT+GSN"))
		return put("\r\n356938035643809\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CIMI"))
		return put("\r\n208011234567890\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CPIN?"))
		return put("\r\n+CPIN: READY\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CFUN?"))
		return put("\r\n+CFUN: 1\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CSQ"))
		return put("\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CREG?"))
		return put("\r\n+CREG: 0,1\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CNMI=?"))
		return put("\r\n+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CPMS=?"))
		return put("\r\n+CPMS: (\"SM\"),(\"SM\"),(\"SM\")\r\n\r\nOK\r\n");
	if (is(cmd, "AT+CPMS?"))
		return putf("\r\n+CPMS: \"SM\",%u,%u,\"SM\",%u,%u,\"SM\",%u,%u\r\n\r\nOK\r\n",
			    used_slots(), SIM_SLOTS, used_slots(), SIM_SLOTS, used_slots(), SIM_SLOTS);
	if (starts(cmd, "AT+CPMS=\"SM\""))
		return putf("\r\n+CPMS: %u,%u,%u,%u,%u,%u\r\n\r\nOK\r\n", used_slots(), SIM_SLOTS,
			    used_slots(), SIM_SLOTS, used_slots(), SIM_SLOTS);
	if (starts(cmd, "AT+CPMS="))
		return put("\r\n+CMS ERROR: 302\r\n");
	if (is(cmd, "AT+CSCA?"))
		return put("\r\n+CSCA: \"+33609001390\",145\r\n\r\nOK\r\n");
	if (starts(cmd, "AT+CMGL")) {
		put("\r\n");
		for (int i = 1; i <= SIM_SLOTS; i++) {
			struct slot *s = &M.sim[i];
			if (!s->used)
				continue;
			putf("+CMGL: %d,%d,,%u\r\n%s\r\n", i, s->read ? 1 : 0, s->tpdu_len, s->pdu);
			s->read = true;
		}
		return put("\r\nOK\r\n");
	}
	if (starts(cmd, "AT+CMGR=")) {
		int i = atoi(cmd + 8);
		if (i < 1 || i > SIM_SLOTS)
			return put("\r\n+CMS ERROR: 321\r\n");
		struct slot *s = &M.sim[i];
		if (!s->used)	/* an empty slot reads as nothing */
			return put("\r\n+CMS ERROR: 321\r\n");
		putf("\r\n+CMGR: %d,,%u\r\n%s\r\n\r\nOK\r\n", s->read ? 1 : 0, s->tpdu_len, s->pdu);
		s->read = true;
		return;
	}
	if (starts(cmd, "AT+CMGD=")) {
		int i = atoi(cmd + 8);
		if (i >= 1 && i <= SIM_SLOTS) {
			if (M.sim[i].used)
				logf_("SIM index %d deleted", i);
			M.sim[i].used = false;
		}
		return ok();
	}
	if (starts(cmd, "AT+CMGS=")) {
		put("\r\n> ");
		M.pdu_mode_input = true;
		return;
	}
	at_error();
}

static void submit_done(char *pdu)
{
	if (!strcmp(M.fault, "error")) {
		at_error();
		return;
	}
	M.mr = (M.mr + 1) & 0xff;
	record_submit(pdu, M.mr);
	snprintf(M.pending_answer, sizeof(M.pending_answer), "\r\n+CMGS: %u\r\n\r\nOK\r\n", M.mr);
	M.answer_at = now_ms() + M.delay_ms;
	logf_("part submitted (mr %u)", M.mr);
}

static void input(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (M.pdu_mode_input) {
			if (c == 0x1a || c == 0x1b) {
				M.line[M.nline] = 0;
				M.pdu_mode_input = false;
				if (M.echo)
					put(M.line);
				if (c == 0x1a)
					submit_done(M.line);
				else
					ok();
				M.nline = 0;
			} else if (c != '\r' && c != '\n' && M.nline + 1 < sizeof(M.line)) {
				M.line[M.nline++] = c;
			}
			continue;
		}
		if (c == '\r') {
			M.line[M.nline] = 0;
			char *cmd = M.line;
			while (*cmd == '\n' || *cmd == ' ')
				cmd++;
			if (*cmd)
				command(cmd);
			M.nline = 0;
		} else if (c != '\n' && M.nline + 1 < sizeof(M.line)) {
			M.line[M.nline++] = c;
		}
	}
}

static void read_control(void)
{
	if (!M.ctl)
		return;
	struct stat st;
	if (stat(M.ctl, &st) < 0) {
		M.fault[0] = 0;
		return;
	}
	bool changed = st.st_mtim.tv_sec != M.ctl_mtime.tv_sec ||
		       st.st_mtim.tv_nsec != M.ctl_mtime.tv_nsec;
	if (!changed)
		return;
	M.ctl_mtime = st.st_mtim;
	char buf[32] = "";
	FILE *f = fopen(M.ctl, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\r\n ")] = 0;
	if (!strcmp(buf, "drop")) {
		logf_("fault: dropping the line");
		close_pty();
		if (open_pty() < 0) {
			logf_("cannot reopen a pty");
			exit(1);
		}
		logf_("new line %s", M.slave_path);
		M.fault[0] = 0;
		return;
	}
	snprintf(M.fault, sizeof(M.fault), "%s", !strcmp(buf, "ok") ? "" : buf);
	if (!strcmp(M.fault, "stall"))
		M.answer_at = 0;	/* a stalled modem forgets what it was about to say */
	logf_("fault: %s", M.fault[0] ? M.fault : "none");
}

static void on_signal(int sig)
{
	(void)sig;
	M.quit = 1;
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "i:l:s:c:d:n:")) != -1) {
		switch (opt) {
		case 'i': M.inbox = optarg; break;
		case 'l': M.link = optarg; break;
		case 's': M.sent = optarg; break;
		case 'c': M.ctl = optarg; break;
		case 'd': M.delay_ms = (unsigned)atoi(optarg); break;
		case 'n': M.name = optarg; break;
		default:
			fprintf(stderr, "usage: at_modem -i INBOX [-l LINK] [-s SENT] [-c CTL] [-d MS] [-n NAME]\n");
			return 2;
		}
	}
	if (!M.inbox) {
		fprintf(stderr, "at_modem: -i INBOX is required\n");
		return 2;
	}
	mkdir(M.inbox, 0755);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (open_pty() < 0) {
		perror("at_modem: pty");
		return 1;
	}
	printf("%s\n", M.slave_path);
	fflush(stdout);
	int64_t next_scan = 0;
	while (!M.quit) {
		int64_t now = now_ms();
		if (now >= next_scan) {
			read_control();
			scan_inbox();
			junk();
			next_scan = now + 100;
		}
		if (M.answer_at && now >= M.answer_at && strcmp(M.fault, "stall")) {
			put(M.pending_answer);
			M.answer_at = 0;
		}
		struct pollfd p = { .fd = M.master, .events = POLLIN };
		int timeout = 100;
		if (M.answer_at) {
			int64_t d = M.answer_at - now;
			timeout = d < 0 ? 0 : d < 100 ? (int)d : 100;
		}
		if (poll(&p, 1, timeout) <= 0)
			continue;
		char buf[4096];
		ssize_t r = read(M.master, buf, sizeof(buf));
		if (r <= 0)
			continue;
		if (!strcmp(M.fault, "stall"))
			continue;	/* swallowed: a modem that stopped answering */
		input(buf, (size_t)r);
	}
	close_pty();
	if (M.link)
		unlink(M.link);
	return 0;
}
