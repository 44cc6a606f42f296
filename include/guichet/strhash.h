/* The hash of a name for the tables that look names up (flow steps, YAML keys, USSD
 * dialogues): FNV-1a with a final mix of the high bits into the low ones, so that a table
 * may take the low bits (a power-of-two mask) or a remainder. Not for adversarial keys
 * beyond that: each table bounds its size (max_dialogues, file sizes). */
#ifndef GUICHET_STRHASH_H
#define GUICHET_STRHASH_H

#include <stdint.h>

/* seed: 0, or something the key goes with (a GSUP session id). */
uint32_t strhash(const char *s, uint32_t seed);

#endif
