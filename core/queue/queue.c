/* SPDX-License-Identifier: MIT */
/*
 * What every queue backend shares: freeing a job. Kept apart from the spool so another
 * backend (PostgreSQL) links it without the spool.
 */
#include <stdlib.h>

#include "intake/event.h"
#include "queue/queue.h"

void cm_job_free(struct cm_job *job)
{
    if (!job)
        return;
    cm_event_free(job->event);
    free(job->key);
    free(job->ids);
    free(job->last_error);
    free(job);
}
