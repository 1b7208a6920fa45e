/* SPDX-License-Identifier: MIT */
/*
 * An operator's resync of one mirror (POST /api/repositories/<endpoint>/<repository>/resync,
 * and a replay whose payload expired): a sync of every ref, queued like a webhook's.
 */
#ifndef CM_RESYNC_H
#define CM_RESYNC_H

#include <stddef.h>
#include <stdint.h>

struct cm_daemon;

/* Queue an event of type "resync" for endpoint/repository, with no change list (incomplete),
 * so the worker fetches every ref and each sync plugin looks at every ref again (the Composer
 * plugin re-reads and republishes every version). why names it in the delivery id
 * ("resync-..." or "replay-<record>-..."). *queue_id and *record_id (the delivery log's) are
 * set on CM_OK (both 0 when the same sync of every ref is already queued or running: it is
 * not queued twice). CM_ENOENT: the endpoint is not configured or the repository was never
 * mirrored; CM_EINVAL: no fetch URL (err says why, fit for an operator); CM_EAGAIN: queue
 * full; CM_ERROR: not stored; CM_ENOMEM. */
int cm_resync_queue(struct cm_daemon *d, const char *endpoint, const char *repository,
                    const char *why, uint64_t *queue_id, uint64_t *record_id, char *err,
                    size_t errlen);

#endif
