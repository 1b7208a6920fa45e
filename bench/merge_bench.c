/* SPDX-License-Identifier: MIT */
/*
 * Coalescing pushes to one repository: DELIVERIES events of REFS refs each (each sliding on
 * by a tenth of its refs, so some refs are new and most repeat) merged into one, with the
 * merge as it was (a linear search of the merged refs for each incoming ref) and with
 * cm_event_merge (an index of refs), and the ratio of the two CPU times.
 * Usage: merge_bench [DELIVERIES] [REFS]   (defaults 12 and 7800)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/event.h"

static double mb_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The merge before the index: the peer being measured against. */
static int mb_old_merge(struct cm_event *dst, const struct cm_event *src)
{
    if (!src->complete)
        dst->complete = 0;
    for (size_t i = 0; i < src->n_changes; i++) {
        const struct cm_change *s = &src->changes[i];
        struct cm_change *d = NULL;
        for (size_t k = 0; k < dst->n_changes && !d; k++)
            if (!strcmp(dst->changes[k].ref, s->ref))
                d = &dst->changes[k];
        if (!d) {
            if (cm_event_add_change(dst, s->ref, s->old_id, s->new_id, s->forced) != CM_OK)
                return CM_ENOMEM;
            continue;
        }
        free(d->new_id);
        d->new_id = s->new_id ? strdup(s->new_id) : NULL;
        if (s->forced == 1 || d->forced != s->forced)
            d->forced = s->forced == 1 ? 1 : -1;
    }
    return CM_OK;
}

static struct cm_event *mb_event(size_t first, size_t n, unsigned gen)
{
    struct cm_event *ev;
    char ref[48], old_id[41], new_id[41];

    if (cm_event_new(&ev) != CM_OK)
        return NULL;
    for (size_t i = first; i < first + n; i++) {
        snprintf(ref, sizeof(ref), "refs/heads/b%zu", i);
        snprintf(old_id, sizeof(old_id), "%08x%032zx", gen, i);
        snprintf(new_id, sizeof(new_id), "%08x%032zx", gen + 1, i);
        if (cm_event_add_change(ev, ref, old_id, new_id, 0) != CM_OK) {
            cm_event_free(ev);
            return NULL;
        }
    }
    return ev;
}

/* CPU seconds to merge the events into the first with old (1) or cm_event_merge (0); the
 * merged event's change count into *n. */
static double mb_run(struct cm_event **evs, int k, size_t refs, int old, size_t *n)
{
    struct cm_event *dst = mb_event(0, refs, 0);
    double t0 = mb_cpu();

    for (int i = 1; dst && i < k; i++)
        if ((old ? mb_old_merge(dst, evs[i]) : cm_event_merge(dst, evs[i], 0)) != CM_OK)
            break;
    t0 = mb_cpu() - t0;
    *n = dst ? dst->n_changes : 0;
    cm_event_free(dst);
    return t0;
}

int main(int argc, char **argv)
{
    int k = argc > 1 ? atoi(argv[1]) : 12;
    size_t refs = argc > 2 ? (size_t)atol(argv[2]) : 7800, n_old, n_new;
    struct cm_event **evs = calloc((size_t)(k > 0 ? k : 1), sizeof(*evs));

    if (k < 2 || !refs || !evs) {
        fprintf(stderr, "usage: merge_bench [DELIVERIES >= 2] [REFS > 0]\n");
        return 2;
    }
    for (int i = 0; i < k; i++)
        if (!(evs[i] = mb_event((size_t)i * (refs / 10), refs, (unsigned)i))) {
            fprintf(stderr, "merge_bench: out of memory\n");
            return 1;
        }
    double t_new = mb_run(evs, k, refs, 0, &n_new);
    double t_old = mb_run(evs, k, refs, 1, &n_old);
    printf("%d deliveries of %zu refs, %zu refs merged\n", k, refs, n_new);
    printf("linear search (before): %8.3f s CPU\n", t_old);
    printf("ref index (now):        %8.3f s CPU\n", t_new);
    printf("ratio: %.0fx\n", t_new > 0 ? t_old / t_new : 0.0);
    for (int i = 0; i < k; i++)
        cm_event_free(evs[i]);
    free(evs);
    return n_old == n_new ? 0 : 1;
}
