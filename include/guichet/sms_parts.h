/* SMS parts: the concatenation header (UDH) and reassembly, one module and one behaviour for
 * every SMS transport (modems and SMPP binds). Pure: no I/O, no clock (callers pass the time).
 *
 * A transport turns each part it receives into a struct sms_part_in (sender, concatenation
 * info, raw user data in its alphabet, its own handle for the part: a SIM location, a
 * deliver_sm token) and adds it; it takes out messages that are ready (complete, expired, or
 * pushed out by the bound), stores them, then acknowledges or deletes every handle listed.
 *
 * Malformed headers, the same way whichever transport brought them (never refused, never
 * lost):
 *  - a UDH length running past the user data: there is no header (the UDHI flag was wrong),
 *    the whole user data is text, the message stands alone;
 *  - an information element running past the header: the header is skipped, the message
 *    stands alone;
 *  - a concatenation element with total 0, seq 0 or seq > total is ignored (the first valid
 *    one counts); none: the message stands alone.
 * Duplicates: a part whose handle is held already is ignored; a second part with the same
 * sequence number keeps the first one's text and adds its handle (both acknowledged); a part
 * seen SMS_PARTS_MAX_COPIES more times makes its message ready at once, as it is. */
#ifndef GUICHET_SMS_PARTS_H
#define GUICHET_SMS_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Concatenation info from a UDH (IEI 0x00, 8-bit ref, or 0x08, 16-bit) or sar_* TLVs. */
struct sms_concat {
	bool present;
	uint16_t ref;
	uint8_t total, seq;		/* seq 1-based, 1 <= seq <= total */
	bool ref16;
};

/* Parses the UDH at the start of ud (len bytes, ud[0] = UDHL) as described above. Returns
 * the number of bytes the header takes (0 when there is none), and fills cc. */
size_t sms_udh_parse(const uint8_t *ud, size_t len, struct sms_concat *cc);

enum sms_alphabet {
	SMS_GSM7,			/* unpacked septets, one per byte (bit 7 ignored) */
	SMS_LATIN1,			/* also IA5/ASCII and 8-bit data */
	SMS_UCS2,			/* UCS-2 / UTF-16 big-endian */
};

/* Decodes len bytes of user data in alphabet a to UTF-8 under ctx; NULL if out of memory. */
char *sms_text_decode(void *ctx, enum sms_alphabet a, const uint8_t *data, size_t len);

/* One received part, as a transport hands it in (copied: the caller keeps its buffers). */
struct sms_part_in {
	const char *from;
	struct sms_concat cc;		/* not present (or total 1): a message on its own */
	enum sms_alphabet alphabet;
	const uint8_t *data;		/* user data after the UDH */
	size_t len;
	uint64_t handle;		/* the transport's, unique per part it holds */
	int64_t smsc_time;		/* unix seconds, 0 when unknown */
	int64_t received;		/* unix seconds */
};

/* A message ready for the store, talloc'd under the ctx given to sms_parts_take. */
struct sms_parts_msg {
	char *from;
	char *text;			/* UTF-8; the parts in order, missing ones left out */
	unsigned have, total;		/* parts */
	uint16_t ref;
	bool ref16;
	unsigned n_handles;
	uint64_t *handles;		/* every part that went into it, duplicates included */
	/* Of the first part held (lowest sequence number): for a stable identity. */
	int64_t smsc_time;
	uint64_t first_handle;
	uint64_t first_hash;		/* FNV-1a 64 of its user data */
	int64_t received;		/* of the first part added */
};

struct sms_parts;

#define SMS_PARTS_MAX_COPIES 16

/* timeout_ms: an incomplete message is released that long after its first part was added.
 * max_waiting: bound on messages waiting for parts; a part starting one more pushes the
 * oldest out, released (incomplete) by the next take whatever its age. */
struct sms_parts *sms_parts_alloc(void *ctx, int64_t timeout_ms, unsigned max_waiting);
/* Adds p at now_ms (any monotonic clock, the same as in take). Returns 0, 1 when p's handle
 * is held already (p ignored), -1 when out of memory (p not held: the transport keeps it
 * unacknowledged). */
int sms_parts_add(struct sms_parts *r, const struct sms_part_in *p, int64_t now_ms);
/* Moves up to max ready messages into out[]: pushed out first, then complete or expired
 * ones by age of their first part. Returns their number. */
unsigned sms_parts_take(struct sms_parts *r, void *ctx, int64_t now_ms,
			struct sms_parts_msg **out, unsigned max);
/* When the next message becomes ready (same clock; 0 when one is ready now), or -1 when
 * nothing is held. */
int64_t sms_parts_next_deadline(const struct sms_parts *r);
/* Messages held: waiting for parts, plus ready ones not taken yet. */
unsigned sms_parts_pending(const struct sms_parts *r);
/* Messages waiting for parts: never more than max_waiting. */
unsigned sms_parts_waiting(const struct sms_parts *r);
/* Forgets everything (an SMPP link dropped: the SMSC delivers unacknowledged parts again). */
void sms_parts_clear(struct sms_parts *r);

#endif
