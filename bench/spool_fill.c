/* SPDX-License-Identifier: MIT */
/*
 * Fills DATA_DIR/spool with N pending entries through the spool's own append (100 events per
 * group commit), spread over REPOS repositories of an endpoint the daemon does not serve, so
 * bench/restart.sh can time a restart with a full queue. Usage: spool_fill DATA_DIR N [REPOS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "intake/event.h"
#include "queue/queue.h"

#define SF_BATCH 100

static int sf_event(struct cm_event **out, unsigned long i, unsigned long repos)
{
    char repo[64], id[41];
    int rc = cm_event_new(out);

    snprintf(repo, sizeof(repo), "acme/library-%lu", i % repos);
    snprintf(id, sizeof(id), "%040lx", i + 1);
    if (rc == CM_OK)
        rc = cm_event_set(*out, CM_FIELD_ENDPOINT, "bench");
    if (rc == CM_OK)
        rc = cm_event_set(*out, CM_FIELD_REPOSITORY, repo);
    if (rc == CM_OK)
        rc = cm_event_set(*out, CM_FIELD_CLONE_URL_HTTP, "https://github.com/acme/library.git");
    if (rc == CM_OK)
        rc = cm_event_add_change(*out, "refs/heads/main",
                                 "1111111111111111111111111111111111111111", id, 0);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
    unsigned long repos = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
    struct cm_event *evs[SF_BATCH] = {0};
    const char *dk[SF_BATCH] = {0};
    uint64_t ids[SF_BATCH];
    struct cm_queue *q = NULL;
    char err[512];
    int rc = 1;

    if (argc < 3 || !n || !repos) {
        fprintf(stderr, "usage: spool_fill DATA_DIR N [REPOS]\n");
        return 2;
    }
    if (cm_spool_open(&q, argv[1], 3600, 0, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "spool_fill: %s\n", err);
        return 1;
    }
    for (unsigned long done = 0; done < n;) {
        size_t k = 0;
        for (; k < SF_BATCH && done + k < n; k++)
            if (sf_event(&evs[k], done + k, repos) != CM_OK)
                goto out;
        if (q->ops->append(q, evs, dk, k, NULL, ids) != CM_OK) {
            fprintf(stderr, "spool_fill: an append failed (disk full?)\n");
            goto out;
        }
        for (size_t j = 0; j < k; j++) {
            cm_event_free(evs[j]);
            evs[j] = NULL;
        }
        done += k;
    }
    rc = 0;
out:
    for (size_t j = 0; j < SF_BATCH; j++)
        cm_event_free(evs[j]);
    q->ops->shutdown(q);
    q->ops->close(q);
    return rc;
}
