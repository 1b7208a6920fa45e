/* SPDX-License-Identifier: MIT */
/*
 * An operator's resync of one mirror (POST /api/repositories/<endpoint>/<repository>/resync,
 * and a replay whose payload expired) or import of a repository (.../import): a sync of every
 * ref, queued like a webhook's.
 */
#ifndef CM_RESYNC_H
#define CM_RESYNC_H

#include <stddef.h>
#include <stdint.h>

struct cm_daemon;
struct cm_endpoint;
struct cm_event;

/* A new event for endpoint ep's mirror of repository, as a webhook would have made it: type
 * ("reconcile", "resync") and delivery_id are the gateway's, stored_url (the URL the last sync
 * recorded, or "") is offered as its clone URL, and the fetch-URL policy decides on it afresh
 * into url, so a changed configuration is obeyed. CM_OK; CM_EINVAL with why (fit for a
 * caller) and detail (for the log) when the policy gives no URL, or for a field the event
 * refuses (why then ""); CM_ENOMEM. */
int cm_sync_event_new(const struct cm_endpoint *ep, int prefer_ssh, const char *repository,
                      const char *stored_url, const char *type, const char *delivery_id,
                      struct cm_event **out, char *url, size_t urllen, char *why, size_t whylen,
                      char *detail, size_t detaillen);

/* The URL to fetch endpoint ep's repository from by its name alone, as a resync or an import
 * would: the one its mirror at path recorded, else clone_url or the provider's clone path; the
 * fetch-URL policy decides on it afresh. CM_OK with url; CM_EINVAL (err says why) or
 * CM_ENOMEM. */
int cm_sync_url_by_name(const struct cm_endpoint *ep, int prefer_ssh, const char *repository,
                        const char *path, char *url, size_t urllen, char *err, size_t errlen);

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

/* Queue an event of type "import" for endpoint/repository, as cm_resync_queue does, for a
 * repository that need not be mirrored yet: it must pass the repository-name floor and the
 * endpoint's repositories list, and is fetched from the URL its mirror recorded, else from
 * the one cm_fetch_url_import builds. When the same sync of every ref is already queued or
 * running, *queue_id is 0 and *record_id that delivery's (0 when none is found). CM_ENOENT:
 * the endpoint is not configured; CM_EINVAL: the name is refused, outside the list, or no
 * fetch URL (err says what to change); CM_EAGAIN, CM_ERROR, CM_ENOMEM as cm_resync_queue. */
int cm_import_queue(struct cm_daemon *d, const char *endpoint, const char *repository,
                    uint64_t *queue_id, uint64_t *record_id, char *err, size_t errlen);

#endif
