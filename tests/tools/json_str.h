/* The test peers' JSON-lines logs (smsc, smpp_probe): a string written as a JSON string,
 * quoted and escaped, for the scripts that read those logs with Python's json. */
#ifndef GUICHET_TEST_TOOLS_JSON_STR_H
#define GUICHET_TEST_TOOLS_JSON_STR_H

#include <stdio.h>

static inline void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

#endif
