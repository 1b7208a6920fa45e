/* SPDX-License-Identifier: MIT */
/*
 * What operators ask the gateway: recent deliveries and their outcome (GET /api/deliveries)
 * and each mirror's last sync (GET /api/repositories). In memory; the spool is the record.
 */
#ifndef CM_ACTIVITY_H
#define CM_ACTIVITY_H

#include <stdint.h>

struct cm_activity;
struct cm_event;
struct cm_mirror;

/* A store for a daemon whose data directory is data_dir (as configured; it must exist to be
 * recognised by its real path too): paths under it are shown relative to it. */
int cm_activity_new(struct cm_activity **out, const char *data_dir);
void cm_activity_free(struct cm_activity *st);

/* Record a delivery: queue id (0 when not queued), its event (may be NULL), the endpoint, the
 * host's delivery id (may be NULL), the state ("queued", "ignored", "duplicate", "rejected")
 * and an error or reason (may be NULL). */
void cm_activity_delivery(struct cm_activity *st, uint64_t id, const struct cm_event *ev,
                          const char *endpoint, const char *delivery_id, const char *state,
                          const char *error);
/* Move queued delivery id to state ("syncing", "done", "retrying", "failed"). */
void cm_activity_delivery_state(struct cm_activity *st, uint64_t id, const char *state,
                                const char *error);

/* A sync of repository (endpoint/name) finished: error NULL on success. mirror_path is the
 * mirror on disk (shown relative to the data directory). m may be NULL when the mirror could
 * not be opened; otherwise its branch heads and notes are recorded. */
void cm_activity_repository(struct cm_activity *st, const char *endpoint, const char *repository,
                            const char *mirror_path, const struct cm_mirror *m, long long when,
                            const char *error);

/* Record every mirror already under data_dir/mirrors (with its heads, and the time its refs
 * last changed as the last sync), so /api/repositories is whole again after a restart. */
void cm_activity_scan_mirrors(struct cm_activity *st, const char *data_dir);

/* JSON documents for the API, malloc'd. Errors, notes and the mirror's place show a path
 * under the data directory relative to it and any other absolute path by its last part. */
char *cm_activity_deliveries_json(struct cm_activity *st);
char *cm_activity_repositories_json(struct cm_activity *st);

#endif
