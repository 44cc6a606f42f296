/* sms_inject: drops an incoming SMS into libGammu's dummy driver inbox, exactly as a phone's
 * message would arrive (the demo "phone" and the tests share it).
 *
 *   sms_inject [options] DIR NUMBER TEXT
 *     DIR      the dummy driver's directory (device); the message goes to DIR/sms/1/<N>
 *     -p N     write only part N (1-based) of a concatenated message (repeatable)
 *     -r REF   concatenation reference (default: random)
 *     -u       force UCS-2 (default: GSM-7 when every character fits, as a phone does)
 *     -t TIME  SMSC timestamp YYYYMMDDTHHMMSS (default: now, UTC); "-" for none
 *
 * A text longer than one SMS is split into parts of 153 septets / 67 UCS-2 units with a
 * concatenation UDH (050003RRTTNN). Each part is written in gammu's smsbackup format under a
 * temporary name, then linked to the first free number (never overwriting) and the
 * temporary name removed. Prints the number of parts and the file names. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <osmocom/core/talloc.h>

#include "guichet/text.h"

static int mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sms_inject [-u] [-p PART]... [-r REF] [-t TIME|-] DIR NUMBER TEXT\n");
	exit(2);
}

static int write_part(const char *inbox, const char *number, const char *part,
		      enum text_coding coding, unsigned ref, unsigned total, unsigned seq,
		      const char *stamp)
{
	uint8_t ucs2[2048];
	int n = text_utf8_to_ucs2be(part, ucs2, sizeof(ucs2));
	if (n < 0) {
		fprintf(stderr, "sms_inject: part %u cannot be encoded\n", seq);
		return -1;
	}
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s/.inject-%ld-%u", inbox, (long)getpid(), seq);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		return -1;
	}
	fprintf(f, "[SMSBackup000]\n");
	fprintf(f, "PDU = Deliver\nState = UnRead\n");
	fprintf(f, "Number = \"%s\"\n", number);
	fprintf(f, "Coding = %s\n",
		coding == TEXT_GSM7 ? "Default_No_Compression" : "Unicode_No_Compression");
	if (stamp) {
		fprintf(f, "DateTime = %s\n", stamp);
		fprintf(f, "Sent = %s\n", stamp);
	}
	if (total > 1)
		fprintf(f, "UDH = 050003%02X%02X%02X\n", ref & 0xff, total, seq);
	fprintf(f, "Text00 = ");
	for (int i = 0; i < n; i++)
		fprintf(f, "%02X", ucs2[i]);
	fprintf(f, "\nFolder = 1\nClass = -1\n");
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
		perror(tmp);
		unlink(tmp);
		return -1;
	}
	for (unsigned i = 1; i <= 10000; i++) {
		char dst[4200];
		snprintf(dst, sizeof(dst), "%s/%u", inbox, i);
		if (link(tmp, dst) == 0) {
			unlink(tmp);
			printf("%s\n", dst);
			return 0;
		}
		if (errno != EEXIST) {
			perror(dst);
			break;
		}
	}
	unlink(tmp);
	fprintf(stderr, "sms_inject: inbox full\n");
	return -1;
}

int main(int argc, char **argv)
{
	int opt;
	bool force_ucs2 = false;
	unsigned only[64], nonly = 0;
	long ref = -1;
	const char *stamp_arg = NULL;
	while ((opt = getopt(argc, argv, "up:r:t:h")) != -1) {
		switch (opt) {
		case 'u':
			force_ucs2 = true;
			break;
		case 'p':
			if (nonly < 64)
				only[nonly++] = (unsigned)atoi(optarg);
			break;
		case 'r':
			ref = strtol(optarg, NULL, 0);
			break;
		case 't':
			stamp_arg = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3)
		usage();
	const char *dir = argv[optind], *number = argv[optind + 1], *text = argv[optind + 2];
	void *ctx = talloc_new(NULL);
	char *inbox = talloc_asprintf(ctx, "%s/sms/1", dir);
	if (mkdirs(inbox) < 0) {
		perror(inbox);
		return 1;
	}
	char stamp[32];
	const char *st = stamp;
	if (stamp_arg && !strcmp(stamp_arg, "-")) {
		st = NULL;
	} else if (stamp_arg) {
		snprintf(stamp, sizeof(stamp), "%s", stamp_arg);
	} else {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	}
	enum text_coding coding = force_ucs2 || !text_is_gsm7(text) ? TEXT_UCS2 : TEXT_GSM7;
	char **parts;
	unsigned n = text_split_sms(ctx, text, coding, &parts);
	if (n == 0) {
		fprintf(stderr, "sms_inject: cannot split the text\n");
		return 1;
	}
	if (ref < 0) {
		srand((unsigned)(time(NULL) ^ getpid()));
		ref = rand() & 0xff;
	}
	printf("%u part%s %s\n", n, n > 1 ? "s" : "", coding == TEXT_GSM7 ? "gsm7" : "ucs2");
	int rc = 0;
	for (unsigned i = 0; i < n; i++) {
		bool want = nonly == 0;
		for (unsigned k = 0; k < nonly; k++)
			want |= only[k] == i + 1;
		if (want && write_part(inbox, number, parts[i], coding, (unsigned)ref, n, i + 1, st) < 0)
			rc = 1;
	}
	talloc_free(ctx);
	return rc;
}
