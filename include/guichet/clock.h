/* The two clocks of guichetd, in milliseconds, one helper each instead of a copy per file:
 *   - clock_wall_ms(): CLOCK_REALTIME, for times that are stored or compared with stored
 *     ones (the store's timestamps, send_at, session deadlines);
 *   - clock_mono_ms(): CLOCK_MONOTONIC, for durations and timeouts that must not jump with
 *     the wall clock (a back-end call's budget, a modem's heartbeat, an HTTP deadline).
 * Both are safe from any thread. */
#ifndef GUICHET_CLOCK_H
#define GUICHET_CLOCK_H

#include <stdint.h>

int64_t clock_wall_ms(void);
int64_t clock_mono_ms(void);

#endif
