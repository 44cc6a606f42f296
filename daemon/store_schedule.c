/* Names of the schedule's statuses and origins, shared by both stores, the API and the
 * tools: the words stored in SQLite and shown by GET /v1/messages/{id}. */
#include <string.h>

#include "guichet/store.h"

static const char *const status_names[_SCHED_STATUS_N] = {
	[SCHED_QUEUED] = "queued", [SCHED_DEFERRED] = "deferred", [SCHED_SENT] = "sent",
	[SCHED_DELIVERED] = "delivered", [SCHED_FAILED] = "failed", [SCHED_EXPIRED] = "expired",
	[SCHED_REFUSED] = "refused", [SCHED_CANCELLED] = "cancelled",
};

static const char *const origin_names[_SCHED_ORIGIN_N] = {
	[SCHED_API] = "api", [SCHED_REMIND] = "remind", [SCHED_RECEIPT] = "receipt",
	[SCHED_NOTIFY] = "notify",
};

const char *sched_status_name(enum sched_status s)
{
	return (unsigned)s < _SCHED_STATUS_N ? status_names[s] : "?";
}

const char *sched_origin_name(enum sched_origin o)
{
	return (unsigned)o < _SCHED_ORIGIN_N ? origin_names[o] : "?";
}

int sched_status_parse(const char *name)
{
	for (int i = 0; name && i < _SCHED_STATUS_N; i++)
		if (strcmp(name, status_names[i]) == 0)
			return i;
	return -1;
}

int sched_origin_parse(const char *name)
{
	for (int i = 0; name && i < _SCHED_ORIGIN_N; i++)
		if (strcmp(name, origin_names[i]) == 0)
			return i;
	return -1;
}
