/* GSM 04.80 components carrying a USSD string, as they travel in GSUP's ss_info.
 *
 * Pure: no I/O, no libosmocore state. What the network side of an MS-initiated USSD dialogue
 * sends (3GPP TS 24.090):
 *   - the phone opens with Invoke(id0, processUnstructuredSS-Request 0x3b, string);
 *   - a prompt expecting an answer is Invoke(new id, unstructuredSS-Request 0x3c, string) in a
 *     CONTINUE; the phone answers with ReturnResult(that id, 0x3c, string);
 *   - the final screen is ReturnResult(id0, 0x3b, string) in an END.
 *
 * Every BER length is kept in the short form (<= 127 octets): libosmogsm's parser (which
 * osmo-hlr runs on every component, in both directions) reads one length octet only. That
 * bounds the USSD string to SS_USSD_MAX_OCTETS, i.e. 128 GSM-7 characters or 56 UCS-2 units. */
#ifndef GUICHET_SS_CODEC_H
#define GUICHET_SS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ss_ctype {
	SS_CTYPE_INVOKE = 0xa1,
	SS_CTYPE_RETURN_RESULT = 0xa2,
	SS_CTYPE_RETURN_ERROR = 0xa3,
	SS_CTYPE_REJECT = 0xa4,
};

enum ss_opcode {
	SS_OP_PROCESS_USS_REQ = 0x3b,	/* processUnstructuredSS-Request: the phone's request */
	SS_OP_USS_REQUEST = 0x3c,	/* unstructuredSS-Request: the network's prompt */
	SS_OP_USS_NOTIFY = 0x3d,
};

#define SS_DCS_GSM7 0x0f		/* GSM 7-bit default alphabet, language unspecified */
#define SS_DCS_UCS2 0x48		/* UCS-2 (16-bit), class-less */
#define SS_ERR_SYSTEM_FAILURE 0x22	/* GSM 04.80 error code */

/* Longest USSD string whose ReturnResult still has short-form lengths. */
#define SS_USSD_MAX_OCTETS 112
#define SS_USSD_MAX_SEPTETS 128		/* 112 octets packed */
#define SS_USSD_MAX_UCS2 56		/* UTF-16 code units */
/* Room for any component this module builds. */
#define SS_COMPONENT_MAX 130
/* UTF-8 room for any decoded string: 160 octets = 182 septets, 3 bytes each at most. */
#define SS_TEXT_MAX (182 * 3 + 1)

/* A decoded component. text is NUL-terminated UTF-8 when has_text; empty otherwise. */
struct ss_component {
	uint8_t ctype;		/* enum ss_ctype */
	uint8_t invoke_id;
	uint8_t opcode;		/* 0 when the component carries none */
	uint8_t dcs;
	uint8_t error_code;	/* ReturnError only */
	bool has_text;
	char text[SS_TEXT_MAX];
};

/* Packs septets (one per byte, values < 0x80) into octets with the USSD rule of 03.38
 * 6.1.2.3.1 (a CR fills 7 spare bits so they are not read as '@'). Returns octets written or
 * -1 when out is too small. */
int ss_septets_pack(const uint8_t *septets, size_t n, uint8_t *out, size_t max);
/* Unpacks len octets; drops the CR padding septet. Returns the number of septets (at most
 * len * 8 / 7) written to out, which must hold that many. */
size_t ss_septets_unpack(const uint8_t *octets, size_t len, uint8_t *out);

/* Encodes utf8 as a USSD string: GSM-7 packed (DCS 0x0F) when every character is in GSM 03.38
 * (escapes included), else UCS-2 (DCS 0x48). The empty text is sent as one space (a USSD
 * string may not be empty for libosmogsm). The text is cut at a character boundary to fit
 * max_chars characters (GSM-7 septets; UCS-2 gets the same octets, max_chars * 7 / 16 units)
 * and SS_USSD_MAX_OCTETS; *truncated tells whether it was. Returns the octet count written
 * to out (>= SS_USSD_MAX_OCTETS bytes) and sets *dcs, or -1 when memory runs out. */
int ss_ussd_string_encode(const char *utf8, unsigned max_chars, uint8_t *out, uint8_t *dcs,
			  bool *truncated);

/* Builds one component carrying a USSD string: ctype SS_CTYPE_INVOKE or
 * SS_CTYPE_RETURN_RESULT, with opcode, invoke id and the (already encoded) string. Returns
 * its length, or -1 when data_len is over SS_USSD_MAX_OCTETS, is 0, or out is too small. */
int ss_component_encode(uint8_t *out, size_t max, uint8_t ctype, uint8_t invoke_id, uint8_t opcode,
			uint8_t dcs, const uint8_t *data, size_t data_len);
/* Convenience: ss_ussd_string_encode + ss_component_encode. */
int ss_ussd_encode(uint8_t *out, size_t max, uint8_t ctype, uint8_t invoke_id, uint8_t opcode,
		   const char *utf8, unsigned max_chars, bool *truncated);
/* ReturnError(invoke_id, error_code). Returns its length (8) or -1. */
int ss_return_error_encode(uint8_t *out, size_t max, uint8_t invoke_id, uint8_t error_code);

/* Decodes the first component of a Facility IE value (short and long BER lengths accepted).
 * A USSD string in DCS 0x0F (or any 7-bit language group 0x0X/0x1X with 0x10 and 0x11
 * excepted) is unpacked and converted to UTF-8; 0x48 / 0x11 (UCS-2) converted from UTF-16;
 * 0x44 (8-bit) read as Latin-1. Returns 0, or -1 on a malformed component. */
int ss_component_decode(const uint8_t *buf, size_t len, struct ss_component *c);

#endif
