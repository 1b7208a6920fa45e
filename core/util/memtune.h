/* SPDX-License-Identifier: MIT */
/*
 * How the daemon asks the C library to keep its footprint small (glibc's malloc): bounded
 * arenas, large blocks mapped apart, freed pages handed back after each sync. The only place
 * that names malloc's tunables.
 */
#ifndef CM_MEMTUNE_H
#define CM_MEMTUNE_H

/* Set malloc's process-wide options; call once at start, before any thread. */
void cm_memory_tune(void);

/* Hand the free pages malloc keeps back to the kernel; a worker calls it after each job. */
void cm_memory_release(void);

#endif
