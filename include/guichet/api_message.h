/* One message of the notification API (api_http.h): a JSON object checked and rendered into
 * a struct store_scheduled ready for the store, and the small parsers it needs. Pure: no
 * I/O, no store; the unit tests call it directly. */
#ifndef GUICHET_API_MESSAGE_H
#define GUICHET_API_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "guichet/store.h"

struct flow_set;

#define API_TEXT_MAX_BYTES 2000
#define API_REF_MAX 64
#define API_KEY_MAX 128
#define API_VIA_MAX 63

/* What a message is checked against. */
struct api_message_env {
	const struct flow_set *flows;	/* `flow` + `step` must name a step of them; NULL: none */
	unsigned max_parts;		/* longest text, in SMS parts (0: no limit) */
	bool fold;			/* fold texts to GSM-7 like flow texts */
};

/* Checks and renders one message object o into m (strings under ctx; send_at at least
 * now, in unix ms). 0, or -1 with err set (the caller answers 400 with it). */
int api_message_parse(const struct api_message_env *env, json_t *o, struct store_scheduled *m,
		      void *ctx, int64_t now, char *err, size_t err_len);

/* "+33612345678": + then 8 to 15 digits, the first not 0. */
bool api_number_ok(const char *s);
/* RFC 3339 date-time ("2026-12-01T10:00:00Z", "...+01:00", fractions) -> unix ms; -1 when
 * it is not one. */
int64_t api_parse_time(const char *s);
/* unix ms -> "2026-12-01T10:00:00Z" ("?" when it cannot be written). */
void api_format_time(char *buf, size_t len, int64_t ms);
/* No control character. */
bool api_printable(const char *s);

#endif
