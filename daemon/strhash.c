/* See include/guichet/strhash.h. */
#include "guichet/strhash.h"

uint32_t strhash(const char *s, uint32_t seed)
{
	uint32_t h = 2166136261u ^ seed;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h ^ (h >> 15);
}
