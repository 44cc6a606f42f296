/* The modem's sent_log (modem_thread.h): one JSON line per message sent, for the demo's
 * terminal phone and the tests to read what left. Not for production: it holds numbers and
 * texts in clear. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <jansson.h>

#include "guichet/clock.h"
#include "guichet/modem_thread.h"

void modem_sent_log_write(const struct modem *m, const struct send_job *j, unsigned nparts)
{
	if (!m->def.sent_log)
		return;
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:I}", "modem", m->def.name,
			      "id", (json_int_t)j->id, "to", j->to, "text", j->text, "coding",
			      j->coding == TEXT_GSM7 ? "gsm7" : "ucs2", "parts", (int)nparts, "time",
			      (json_int_t)(clock_wall_ms() / 1000));
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	FILE *f = line ? fopen(m->def.sent_log, "a") : NULL;
	if (f) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
	free(line);
}
