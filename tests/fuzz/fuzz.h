/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): an invariant that must hold on any
 * input, reported as a crash so libFuzzer keeps the input. */
#ifndef GUICHET_FUZZ_H
#define GUICHET_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* A NUL-terminated copy of the input (malloc'd), cut at its first NUL byte. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
