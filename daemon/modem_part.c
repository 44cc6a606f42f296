/* The modem's parts, pure: libGammu's message copied into a small sms_part, its text and
 * location as sms_parts.h takes them, the message handed on and its dedup key, and what a
 * status report says. No thread, no I/O: tests call them directly. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <gammu.h>
#pragma GCC diagnostic pop

#include <osmocom/core/talloc.h>

#include "guichet/modem.h"

static void ascii_from_unicode(char *dst, size_t max, const unsigned char *u)
{
	size_t o = 0;
	for (size_t i = 0; (u[2 * i] || u[2 * i + 1]) && o + 1 < max; i++)
		if (u[2 * i] == 0 && u[2 * i + 1] >= 0x20 && u[2 * i + 1] < 0x7f)
			dst[o++] = (char)u[2 * i + 1];
	dst[o] = 0;
}

static int64_t smsc_unix(const GSM_DateTime *d)
{
	if (d->Year < 1970 || d->Month < 1 || d->Day < 1)
		return 0;
	struct tm tm = {
		.tm_year = d->Year - 1900, .tm_mon = d->Month - 1, .tm_mday = d->Day,
		.tm_hour = d->Hour, .tm_min = d->Minute, .tm_sec = d->Second,
	};
	return (int64_t)timegm(&tm) - d->Timezone;
}

void sms_part_from_gammu(struct sms_part *p, const GSM_SMSMessage *sms)
{
	memset(p, 0, offsetof(struct sms_part, ucs2));
	p->loc.folder = sms->Folder;
	p->loc.location = sms->Location;
	ascii_from_unicode(p->from, sizeof(p->from), sms->Number);
	p->smsc_time = smsc_unix(&sms->DateTime);
	if (sms->UDH.Type != UDH_NoUDH && sms->UDH.Length > 0) {
		sms_udh_parse(sms->UDH.Text, (size_t)sms->UDH.Length, &p->cc);
	} else if ((sms->UDH.Type == UDH_ConcatenatedMessages ||
		    sms->UDH.Type == UDH_ConcatenatedMessages16bit) &&
		   sms->UDH.AllParts > 0 && sms->UDH.AllParts <= 255 && sms->UDH.PartNumber > 0 &&
		   sms->UDH.PartNumber <= sms->UDH.AllParts) {
		bool r16 = sms->UDH.Type == UDH_ConcatenatedMessages16bit;
		p->cc = (struct sms_concat){ .present = true, .ref16 = r16,
					     .ref = (uint16_t)(r16 ? sms->UDH.ID16bit : sms->UDH.ID8bit),
					     .total = (uint8_t)sms->UDH.AllParts,
					     .seq = (uint8_t)sms->UDH.PartNumber };
	}
	if (sms->Coding == SMS_Coding_8bit) {
		size_t len = sms->Length > 0 ? (size_t)sms->Length : 0;
		sms_part_set_8bit(p, sms->Text, len);
	} else {
		sms_part_set_ucs2(p, sms->Text, UnicodeLength(sms->Text));
	}
}

void sms_part_set_8bit(struct sms_part *p, const uint8_t *data, size_t len)
{
	if (len > sizeof(p->ucs2) / 2)
		len = sizeof(p->ucs2) / 2;
	for (size_t i = 0; i < len; i++) {
		p->ucs2[2 * i] = 0;
		p->ucs2[2 * i + 1] = data[i];
	}
	p->len = (unsigned)(2 * len);
}

void sms_part_set_ucs2(struct sms_part *p, const uint8_t *ucs2, size_t units)
{
	size_t bytes = 2 * units;
	if (bytes > sizeof(p->ucs2))
		bytes = sizeof(p->ucs2);
	memcpy(p->ucs2, ucs2, bytes);
	p->len = (unsigned)bytes;
}

uint64_t sms_loc_handle(struct sms_loc loc)
{
	return (uint64_t)(uint32_t)loc.folder << 32 | (uint32_t)loc.location;
}

struct sms_loc sms_handle_loc(uint64_t h)
{
	return (struct sms_loc){ .folder = (int)(uint32_t)(h >> 32), .location = (int)(uint32_t)h };
}

void sms_part_input(const struct sms_part *p, int64_t received, struct sms_part_in *in)
{
	*in = (struct sms_part_in){ .from = p->from, .cc = p->cc, .alphabet = SMS_UCS2,
				    .data = p->ucs2, .len = p->len, .handle = sms_loc_handle(p->loc),
				    .smsc_time = p->smsc_time, .received = received };
}

char *sms_dedup_key(void *ctx, const struct sms_parts_msg *m)
{
	char *k = talloc_asprintf(ctx, "v1:%s:%" PRId64 ":%u/%u:%016" PRIx64, m->from, m->smsc_time,
				  m->total > 1 ? m->ref : 0, m->total, m->first_hash);
	if (k && m->smsc_time == 0) {
		struct sms_loc l = sms_handle_loc(m->first_handle);
		k = talloc_asprintf_append(k, ":@%d.%d", l.folder, l.location);
	}
	return k;
}

struct sms_msg *sms_msg_from_parts(void *ctx, const struct sms_parts_msg *pm)
{
	struct sms_msg *m = talloc_zero(ctx, struct sms_msg);
	if (!m)
		return NULL;
	m->from = talloc_strdup(m, pm->from);
	m->text = talloc_strdup(m, pm->text);
	m->dedup = sms_dedup_key(m, pm);
	m->locs = talloc_array(m, struct sms_loc, pm->n_handles ? pm->n_handles : 1);
	if (!m->from || !m->text || !m->dedup || !m->locs) {
		talloc_free(m);
		return NULL;
	}
	for (unsigned i = 0; i < pm->n_handles; i++)
		m->locs[m->nloc++] = sms_handle_loc(pm->handles[i]);
	m->smsc_time = pm->smsc_time;
	m->received = pm->received;
	m->have = pm->have;
	m->total = pm->total;
	return m;
}


void sms_report_from_gammu(struct sms_report *r, const GSM_SMSMessage *sms)
{
	*r = (struct sms_report){ .loc = { sms->Folder, sms->Location },
				  .ref = sms->MessageReference, .status = sms->DeliveryStatus };
	ascii_from_unicode(r->to, sizeof(r->to), sms->Number);
}

void sms_report_key(char *buf, size_t len, int ref, const char *to)
{
	enum { TAIL = 8 };
	char digits[TAIL + 1];
	size_t n = 0;

	/* The last TAIL digits, read from the end. */
	for (size_t i = to ? strlen(to) : 0; i > 0 && n < TAIL; i--)
		if (to[i - 1] >= '0' && to[i - 1] <= '9')
			digits[TAIL - 1 - n++] = to[i - 1];
	digits[TAIL] = '\0';
	snprintf(buf, len, "%d:%s", ref, digits + TAIL - n);
}

int sms_report_outcome(int status, char *stat, size_t len)
{
	/* 3GPP TS 23.040 9.2.3.15: 0x00-0x1F the transaction is completed (received,
	 * forwarded, replaced), 0x20-0x3F the SMSC still tries, 0x40-0x5F a permanent error,
	 * 0x60-0x7F a temporary error the SMSC no longer retries, 0x80-0xFF reserved. */
	if (status >= 0 && status < 0x20) {
		snprintf(stat, len, "DELIVRD");
		return 1;
	}
	if (status >= 0x40 && status < 0x80) {
		snprintf(stat, len, "%s 0x%02X", status == 0x46 || status == 0x65 ? "EXPIRED"
						 : "UNDELIV", (unsigned)status);
		return 0;
	}
	snprintf(stat, len, "0x%02X", (unsigned)status & 0xff);
	return -1;
}
