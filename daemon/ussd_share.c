/* An aggregator dialogue's history as shared between hosts (include/guichet/ussd_share.h). */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/ussd_share.h"

char *ussd_share_extend(void *ctx, const char *history, const char *input, bool secret)
{
	const char mask[2] = { USSD_SHARE_MASK, '\0' };
	const char *add = secret ? mask : input ? input : "";

	if (!history || !*history)
		return talloc_strdup(ctx, add);
	return talloc_asprintf(ctx, "%s*%s", history, add);
}

const char *ussd_share_input(const char *history, const char *text)
{
	const char *h = history ? history : "", *t = text ? text : "";

	if (!*h)
		return *t ? t : NULL;	/* an empty text again: replayed */
	while (*h) {
		if (*h == USSD_SHARE_MASK) {
			if (!*t || *t == '*')
				return NULL;
			while (*t && *t != '*')
				t++;
			h++;
		} else if (*h++ != *t++) {
			return NULL;
		}
	}
	return *t == '*' ? t + 1 : NULL;
}
