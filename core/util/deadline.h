/* SPDX-License-Identifier: MIT */
/* Deadlines for pthread_cond_timedwait, which takes a CLOCK_REALTIME moment, not a wait. */
#ifndef CM_DEADLINE_H
#define CM_DEADLINE_H

#include <time.h>

/* The CLOCK_REALTIME moment ms milliseconds (>= 0) from now. */
struct timespec cm_realtime_after_ms(long long ms);

#endif
