/* SPDX-License-Identifier: MIT */
/*
 * glibc malloc tuned for a daemon whose memory comes in bursts (a sync of a package with
 * thousands of versions, a stream of webhooks on 16 HTTP threads) between long quiet spells.
 * Measured with bench/composer_tags.sh at 2,000 tags: peak RSS 33-35 MB with the defaults,
 * 30 MB with these (bench/README.md, "Memory").
 */
#include "util/memtune.h"

#include <malloc.h>

void cm_memory_tune(void)
{
#ifdef __GLIBC__
    /* glibc gives each thread that contends its own arena (up to 8 per core), and each arena
     * keeps what was freed in it: with ~20 threads that is the largest share of a busy
     * daemon's footprint. Two arenas serve 2-core machines; threads still have tcaches. */
    mallopt(M_ARENA_MAX, 2);
    /* A block of 128 KiB or more (a p2 document, a state file, a payload) is mapped on its
     * own and unmapped when freed. glibc otherwise raises this threshold after each large free,
     * so those blocks end up inside the heap and pin it. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

void cm_memory_release(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
