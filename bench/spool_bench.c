/* SPDX-License-Identifier: MIT */
/*
 * Appends per second into the spool from concurrent threads, with group commit (the spool
 * as it is) and with one fdatasync per append (the same threads forced to take turns), and
 * the ratio of the two. Usage: spool_bench [DIR] [THREADS] [SECONDS]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "intake/event.h"
#include "queue/queue.h"

struct bench {
    struct cm_queue *q;
    pthread_mutex_t turn; /* held around each append in the one-sync-per-append run */
    int serial;
    double until;
    unsigned long count;
    unsigned long long seq; /* pushes made so far: each append names its own */
    int failed;
};

static int bn_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static double bn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each append names a push of its own (a fresh "after" id): the same changes twice while the
 * first waits would be answered as covered, not stored. */
static void *bn_worker(void *arg)
{
    struct bench *b = arg;
    const char *dk[1] = {NULL};
    unsigned long n = 0;
    uint64_t id;
    char after[41];

    while (bn_now() < b->until) {
        struct cm_event *ev = NULL;
        unsigned long long seq = __atomic_add_fetch(&b->seq, 1, __ATOMIC_RELAXED);
        snprintf(after, sizeof(after), "%040llx", seq);
        if (cm_event_new(&ev) != CM_OK || cm_event_set(ev, CM_FIELD_ENDPOINT, "bench") != CM_OK ||
            cm_event_set(ev, CM_FIELD_REPOSITORY, "acme/library") != CM_OK ||
            cm_event_add_change(ev, "refs/heads/main", "1111111111111111111111111111111111111111",
                                after, 0) != CM_OK) {
            cm_event_free(ev);
            __atomic_store_n(&b->failed, 1, __ATOMIC_RELAXED);
            break;
        }
        if (b->serial)
            pthread_mutex_lock(&b->turn);
        int rc = b->q->ops->append(b->q, &ev, dk, 1, NULL, &id);
        if (b->serial)
            pthread_mutex_unlock(&b->turn);
        cm_event_free(ev);
        if (rc != CM_OK) {
            __atomic_store_n(&b->failed, 1, __ATOMIC_RELAXED);
            break;
        }
        n++;
    }
    __atomic_add_fetch(&b->count, n, __ATOMIC_RELAXED);
    return NULL;
}

static int bn_run(const char *dir, int threads, double seconds, int serial, double *rate,
                  double *per_sync)
{
    struct bench b = {.serial = serial};
    struct cm_spool_stats s0, s1;
    pthread_t *t = calloc((size_t)threads, sizeof(*t));
    char err[512];

    if (!t || cm_spool_open(&b.q, dir, 3600, 0, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "spool_bench: %s\n", t ? err : "out of memory");
        free(t);
        return 1;
    }
    pthread_mutex_init(&b.turn, NULL);
    cm_spool_stats(b.q, &s0);
    double start = bn_now();
    b.until = start + seconds;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, bn_worker, &b);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double took = bn_now() - start;
    cm_spool_stats(b.q, &s1);
    *rate = (double)b.count / took;
    *per_sync = s1.syncs > s0.syncs ? (double)b.count / (double)(s1.syncs - s0.syncs) : 0;
    b.q->ops->shutdown(b.q);
    b.q->ops->close(b.q);
    pthread_mutex_destroy(&b.turn);
    free(t);
    if (b.failed)
        fprintf(stderr, "spool_bench: an append failed (disk full?)\n");
    return b.failed;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/cm-spool-bench-XXXXXX", dir1[600], dir2[600];
    const char *base = argc > 1 && *argv[1] ? argv[1] : NULL;
    int threads = argc > 2 ? atoi(argv[2]) : 16;
    double seconds = argc > 3 ? atof(argv[3]) : 3.0, group, serial, ps_group, ps_serial;

    if (!base && !(base = mkdtemp(tmpl))) {
        perror("spool_bench: mkdtemp");
        return 1;
    }
    if (threads < 1 || seconds <= 0) {
        fprintf(stderr, "usage: spool_bench [DIR] [THREADS >= 1] [SECONDS > 0]\n");
        return 2;
    }
    snprintf(dir1, sizeof(dir1), "%s/group", base);
    snprintf(dir2, sizeof(dir2), "%s/serial", base);
    int failed = bn_run(dir1, threads, seconds, 0, &group, &ps_group) ||
                 bn_run(dir2, threads, seconds, 1, &serial, &ps_serial);
    if (base == tmpl)
        nftw(tmpl, bn_rm, 16, FTW_DEPTH | FTW_PHYS);
    if (failed)
        return 1;
    printf("threads %d, %.1f s each, spool under %s%s\n", threads, seconds, base,
           base == tmpl ? " (removed)" : "");
    printf("group commit:           %10.0f appends/s (%.1f appends per fdatasync)\n", group,
           ps_group);
    printf("one fdatasync / append: %10.0f appends/s (%.1f appends per fdatasync)\n", serial,
           ps_serial);
    printf("ratio: %.1fx\n", serial > 0 ? group / serial : 0.0);
    return 0;
}
