/* SPDX-License-Identifier: MIT */
/* The clocks timeouts are measured with: milliseconds of CLOCK_MONOTONIC for intervals, and
 * the CLOCK_REALTIME moment pthread_cond_timedwait takes (it wants a moment, not a wait). */
#ifndef CM_DEADLINE_H
#define CM_DEADLINE_H

#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC: for intervals, which the wall clock's jumps must not move. */
long long cm_monotonic_ms(void);
/* Milliseconds since the epoch (CLOCK_REALTIME). */
long long cm_realtime_ms(void);

/* The CLOCK_REALTIME moment ms milliseconds (>= 0) from now. */
struct timespec cm_realtime_after_ms(long long ms);

#endif
