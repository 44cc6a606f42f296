/* GSM 04.80 USSD components: see include/guichet/ss_codec.h. */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/ss_codec.h"
#include "guichet/text.h"

#define TAG_INTEGER 0x02
#define TAG_OCTET_STRING 0x04
#define TAG_SEQUENCE 0x30
#define TAG_LINKED_ID 0x80
#define SEPTET_CR 0x0d
#define SEPTET_ESC 0x1b

/* Septets that stand for the ASCII character of the same code: LF, CR, space to '#', '%' to
 * '?', 'A' to 'Z', 'a' to 'z' (the others are @ £ $ ¥ ... ¤ ¡ Ä Ö Ñ Ü § ¿ ä ö ñ ü à and the
 * escape). */
static bool gsm7_is_ascii(uint8_t v)
{
	return v == 0x0a || v == 0x0d || (v >= 0x20 && v <= 0x23) || (v >= 0x25 && v <= 0x3f) ||
	       (v >= 0x41 && v <= 0x5a) || (v >= 0x61 && v <= 0x7a);
}

int ss_septets_pack(const uint8_t *septets, size_t n, uint8_t *out, size_t max)
{
	size_t total = n, i, o = 0;
	unsigned acc = 0, bits = 0;

	/* 7 spare bits at the end would read as '@': fill them with CR. */
	if (n % 8 == 7)
		total++;
	if ((total * 7 + 7) / 8 > max)
		return -1;
	for (i = 0; i < total; i++) {
		acc |= (unsigned)((i < n ? septets[i] : SEPTET_CR) & 0x7f) << bits;
		bits += 7;
		while (bits >= 8) {
			out[o++] = acc & 0xff;
			acc >>= 8;
			bits -= 8;
		}
	}
	if (bits)
		out[o++] = acc & 0xff;
	return (int)o;
}

size_t ss_septets_unpack(const uint8_t *octets, size_t len, uint8_t *out)
{
	size_t n = len * 8 / 7, i;

	for (i = 0; i < n; i++) {
		size_t bit = i * 7, byte = bit / 8;
		unsigned shift = bit % 8, v = octets[byte] >> shift;

		if (shift > 1 && byte + 1 < len)
			v |= (unsigned)octets[byte + 1] << (8 - shift);
		out[i] = v & 0x7f;
	}
	if (n && n % 8 == 0 && out[n - 1] == SEPTET_CR)
		n--;
	return n;
}

/* s: the text's n septets (text_utf8_to_gsm7), packed up to limit. */
static int encode_gsm7(const uint8_t *s, int n, unsigned limit, uint8_t *out, bool *truncated)
{
	unsigned cut = 0;

	/* Never cut an escape pair. */
	while (cut < (unsigned)n) {
		unsigned w = s[cut] == SEPTET_ESC ? 2 : 1;

		if (cut + w > limit)
			break;
		cut += w;
	}
	*truncated = cut < (unsigned)n;
	return ss_septets_pack(s, cut, out, SS_USSD_MAX_OCTETS);
}

static int encode_ucs2(const char *utf8, size_t ulen, unsigned limit, uint8_t *out,
		       bool *truncated)
{
	uint8_t *b = talloc_size(NULL, ulen * 2 + 2);
	int n;
	unsigned units, cut;

	if (!b)
		return -1;
	n = text_utf8_to_ucs2be(utf8, b, ulen * 2 + 2);
	if (n < 0) {
		talloc_free(b);
		return -1;
	}
	units = (unsigned)n / 2;
	cut = units < limit ? units : limit;
	/* Never leave a high surrogate without its pair. */
	if (cut < units && cut > 0 && (b[(cut - 1) * 2] & 0xfc) == 0xd8)
		cut--;
	*truncated = cut < units;
	memcpy(out, b, cut * 2);
	talloc_free(b);
	return (int)(cut * 2);
}

int ss_ussd_string_encode(const char *utf8, unsigned max_chars, uint8_t *out, uint8_t *dcs,
			  bool *truncated)
{
	/* A screen's septets on the stack (a longer text is cut anyway, but must be read
	 * whole to choose its alphabet): no allocation per screen, and the text is read once
	 * to tell GSM-7 and convert it, not once by text_is_gsm7() and again. */
	uint8_t stack[2 * SS_USSD_MAX_SEPTETS + 64], *s = stack;
	size_t ulen, cap;
	unsigned limit;
	int n, rc;

	*truncated = false;
	if (!utf8 || !*utf8)
		utf8 = " ";
	/* Plain text (a menu of letters, digits and punctuation): its bytes are its septets. */
	for (ulen = 0; utf8[ulen] && gsm7_is_ascii((uint8_t)utf8[ulen]); ulen++)
		;
	if (!utf8[ulen]) {
		*dcs = SS_DCS_GSM7;
		limit = max_chars < SS_USSD_MAX_SEPTETS ? max_chars : SS_USSD_MAX_SEPTETS;
		return encode_gsm7((const uint8_t *)utf8, (int)ulen, limit ? limit : 1, out,
				   truncated);
	}
	ulen += strlen(utf8 + ulen);
	cap = ulen * 2 + 1;
	if (cap > sizeof(stack) && !(s = talloc_size(NULL, cap)))
		return -1;
	n = text_utf8_to_gsm7(utf8, s, cap);	/* < 0: a character GSM-7 lacks */
	if (n >= 0) {
		*dcs = SS_DCS_GSM7;
		limit = max_chars < SS_USSD_MAX_SEPTETS ? max_chars : SS_USSD_MAX_SEPTETS;
		rc = encode_gsm7(s, n, limit ? limit : 1, out, truncated);
	} else {
		*dcs = SS_DCS_UCS2;
		limit = max_chars * 7 / 16;
		if (limit > SS_USSD_MAX_UCS2)
			limit = SS_USSD_MAX_UCS2;
		rc = encode_ucs2(utf8, ulen, limit ? limit : 1, out, truncated);
	}
	if (s != stack)
		talloc_free(s);
	return rc;
}

/* Appends a short-form TL header; the caller has checked len <= 127. */
static size_t put_tl(uint8_t *p, uint8_t tag, size_t len)
{
	p[0] = tag;
	p[1] = (uint8_t)len;
	return 2;
}

int ss_component_encode(uint8_t *out, size_t max, uint8_t ctype, uint8_t invoke_id, uint8_t opcode,
			uint8_t dcs, const uint8_t *data, size_t data_len)
{
	size_t arg = 3 + 2 + data_len;		/* SEQUENCE { dcs, string } contents */
	size_t body, total, o = 0;

	if (!data_len || data_len > SS_USSD_MAX_OCTETS)
		return -1;
	if (ctype == SS_CTYPE_INVOKE)
		body = 3 + 3 + 2 + arg;			/* id, opcode, arg */
	else if (ctype == SS_CTYPE_RETURN_RESULT)
		body = 3 + 2 + (3 + 2 + arg);		/* id, SEQUENCE { opcode, arg } */
	else
		return -1;
	if (body > 127)
		return -1;
	total = 2 + body;
	if (total > max)
		return -1;
	o += put_tl(out + o, ctype, body);
	o += put_tl(out + o, TAG_INTEGER, 1);
	out[o++] = invoke_id;
	if (ctype == SS_CTYPE_RETURN_RESULT)
		o += put_tl(out + o, TAG_SEQUENCE, 3 + 2 + arg);
	o += put_tl(out + o, TAG_INTEGER, 1);
	out[o++] = opcode;
	o += put_tl(out + o, TAG_SEQUENCE, arg);
	o += put_tl(out + o, TAG_OCTET_STRING, 1);
	out[o++] = dcs;
	o += put_tl(out + o, TAG_OCTET_STRING, data_len);
	memcpy(out + o, data, data_len);
	o += data_len;
	return (int)o;
}

int ss_ussd_encode(uint8_t *out, size_t max, uint8_t ctype, uint8_t invoke_id, uint8_t opcode,
		   const char *utf8, unsigned max_chars, bool *truncated)
{
	uint8_t data[SS_USSD_MAX_OCTETS], dcs;
	int n = ss_ussd_string_encode(utf8, max_chars, data, &dcs, truncated);

	if (n < 0)
		return -1;
	return ss_component_encode(out, max, ctype, invoke_id, opcode, dcs, data, (size_t)n);
}

int ss_return_error_encode(uint8_t *out, size_t max, uint8_t invoke_id, uint8_t error_code)
{
	if (max < 8)
		return -1;
	out[0] = SS_CTYPE_RETURN_ERROR;
	out[1] = 6;
	out[2] = TAG_INTEGER;
	out[3] = 1;
	out[4] = invoke_id;
	out[5] = TAG_INTEGER;
	out[6] = 1;
	out[7] = error_code;
	return 8;
}

/* ---- decoding ---- */

struct tlv {
	uint8_t tag;
	const uint8_t *val;
	size_t len;
};

/* Reads one TLV from *p (bounded by end); short and long (up to 2 octets) lengths. */
static int tlv_next(const uint8_t **p, const uint8_t *end, struct tlv *t)
{
	const uint8_t *q = *p;
	size_t len;

	if (end - q < 2)
		return -1;
	t->tag = *q++;
	len = *q++;
	if (len & 0x80) {
		unsigned k = len & 0x7f;

		if (k < 1 || k > 2 || (size_t)(end - q) < k)
			return -1;
		len = 0;
		while (k--)
			len = (len << 8) | *q++;
	}
	if ((size_t)(end - q) < len)
		return -1;
	t->val = q;
	t->len = len;
	*p = q + len;
	return 0;
}

enum alphabet { ALPHA_GSM7, ALPHA_8BIT, ALPHA_UCS2 };

/* 3GPP TS 23.038 section 5 (CBS/USSD data coding scheme). */
static enum alphabet dcs_alphabet(uint8_t dcs)
{
	switch (dcs >> 4) {
	case 0x0: case 0x2: case 0x3:
		return ALPHA_GSM7;
	case 0x1:
		return dcs == 0x11 ? ALPHA_UCS2 : ALPHA_GSM7;
	case 0x4: case 0x5: case 0x6: case 0x7: case 0x9:
		switch ((dcs >> 2) & 3) {
		case 1: return ALPHA_8BIT;
		case 2: return ALPHA_UCS2;
		default: return ALPHA_GSM7;
		}
	case 0xf:
		return dcs & 0x04 ? ALPHA_8BIT : ALPHA_GSM7;
	default:
		return ALPHA_GSM7;
	}
}

static int decode_string(struct ss_component *c, const uint8_t *data, size_t len)
{
	char *s = NULL;

	if (len > 160)
		return -1;
	switch (dcs_alphabet(c->dcs)) {
	case ALPHA_GSM7: {
		uint8_t sept[183];
		size_t n = ss_septets_unpack(data, len, sept), i;

		/* What a phone types (digits, *, #, plain letters) reads as ASCII: copied as it
		 * is, without the conversion's allocation. */
		for (i = 0; i < n && gsm7_is_ascii(sept[i]); i++)
			c->text[i] = (char)sept[i];
		if (i == n) {
			c->text[n] = '\0';
			c->has_text = true;
			return 0;
		}
		s = text_gsm7_to_utf8(NULL, sept, n);
		break;
	}
	case ALPHA_UCS2:
		s = text_ucs2be_to_utf8(NULL, data, len);
		break;
	case ALPHA_8BIT:
		s = text_latin1_to_utf8(NULL, data, len);
		break;
	}
	if (!s)
		return -1;
	if (strlen(s) >= sizeof(c->text)) {
		talloc_free(s);
		return -1;
	}
	strcpy(c->text, s);
	talloc_free(s);
	c->has_text = true;
	return 0;
}

/* USSD-Arg / USSD-Res: SEQUENCE { dcs OCTET STRING (1), string OCTET STRING, ... } */
static int decode_ussd_arg(struct ss_component *c, const struct tlv *seq)
{
	const uint8_t *p = seq->val, *end = seq->val + seq->len;
	struct tlv dcs, str;

	if (seq->tag != TAG_SEQUENCE || tlv_next(&p, end, &dcs) || dcs.tag != TAG_OCTET_STRING ||
	    dcs.len != 1 || tlv_next(&p, end, &str) || str.tag != TAG_OCTET_STRING)
		return -1;
	c->dcs = dcs.val[0];
	return decode_string(c, str.val, str.len);
}

static int read_small_int(const struct tlv *t, uint8_t *v)
{
	if (t->tag != TAG_INTEGER || t->len != 1)
		return -1;
	*v = t->val[0];
	return 0;
}

int ss_component_decode(const uint8_t *buf, size_t len, struct ss_component *c)
{
	const uint8_t *p = buf, *end = buf + len, *q, *qend;
	struct tlv comp, t;

	memset(c, 0, sizeof(*c));
	if (!buf || tlv_next(&p, end, &comp))
		return -1;
	c->ctype = comp.tag;
	q = comp.val;
	qend = comp.val + comp.len;
	switch (comp.tag) {
	case SS_CTYPE_INVOKE:
		if (tlv_next(&q, qend, &t) || read_small_int(&t, &c->invoke_id))
			return -1;
		if (tlv_next(&q, qend, &t))
			return -1;
		if (t.tag == TAG_LINKED_ID && tlv_next(&q, qend, &t))
			return -1;
		if (read_small_int(&t, &c->opcode))
			return -1;
		if (q == qend)
			return 0;
		if (tlv_next(&q, qend, &t))
			return -1;
		return decode_ussd_arg(c, &t);
	case SS_CTYPE_RETURN_RESULT:
		if (tlv_next(&q, qend, &t) || read_small_int(&t, &c->invoke_id))
			return -1;
		if (q == qend)
			return 0;	/* a result without parameters */
		if (tlv_next(&q, qend, &t) || t.tag != TAG_SEQUENCE)
			return -1;
		q = t.val;
		qend = t.val + t.len;
		if (tlv_next(&q, qend, &t) || read_small_int(&t, &c->opcode))
			return -1;
		if (q == qend)
			return 0;
		if (tlv_next(&q, qend, &t))
			return -1;
		return decode_ussd_arg(c, &t);
	case SS_CTYPE_RETURN_ERROR:
		if (tlv_next(&q, qend, &t) || read_small_int(&t, &c->invoke_id) ||
		    tlv_next(&q, qend, &t) || read_small_int(&t, &c->error_code))
			return -1;
		return 0;
	case SS_CTYPE_REJECT:
		if (tlv_next(&q, qend, &t))
			return -1;
		if (t.tag == TAG_INTEGER && t.len == 1)
			c->invoke_id = t.val[0];
		return 0;
	default:
		return -1;
	}
}
