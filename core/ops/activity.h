/* SPDX-License-Identifier: MIT */
/*
 * What operators ask the gateway: deliveries and their outcome (GET /api/deliveries, kept
 * durably by ops/delivery_log.c once cm_activity_open_log ran, with their payloads) and each
 * mirror's last sync (GET /api/repositories, in memory).
 */
#ifndef CM_ACTIVITY_H
#define CM_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

struct cm_activity;
struct cm_event;
struct cm_mirror;

/* A store for a daemon whose data directory is data_dir (as configured; it must exist to be
 * recognised by its real path too): paths under it are shown relative to it. */
int cm_activity_new(struct cm_activity **out, const char *data_dir);
void cm_activity_free(struct cm_activity *st);

/* What the delivery log keeps (server.delivery_log_* and payload_* keys). */
struct cm_activity_retention {
    long long max_age;           /* seconds a delivery's record is kept */
    long long max_entries;       /* records kept at most */
    long long payload_max_age;   /* seconds a payload is kept (server.payload_retention) */
    long long payload_max_bytes; /* all payloads together */
};

/* Keep deliveries durably under data_dir (deliveries/log, deliveries/payloads), replaying
 * what an earlier run recorded; before that they are kept in memory only (the latest 256).
 * CM_OK, or an error with one line in err; note (may be "") says what replay skipped, for the
 * caller's log. Call once, before any delivery is recorded. */
int cm_activity_open_log(struct cm_activity *st, const char *data_dir,
                         const struct cm_activity_retention *keep, char *note, size_t notelen,
                         char *err, size_t errlen);

/* Record a delivery: queue id (0 when not queued), its event (may be NULL), the endpoint, the
 * host's delivery id (may be NULL: a sync the gateway queued itself), the state ("queued",
 * "ignored", "duplicate", "rejected") and an error or reason (may be NULL). Its record id
 * (GET /api/deliveries/<record id>), or 0 when it could not be recorded. */
uint64_t cm_activity_delivery(struct cm_activity *st, uint64_t id, const struct cm_event *ev,
                              const char *endpoint, const char *delivery_id, const char *state,
                              const char *error);
/* What the HTTP front knew of a webhook request, for its record (strings borrowed, NULL or 0
 * when unknown). */
struct cm_activity_from {
    int status;         /* the HTTP status it was answered */
    const char *client; /* the sender's address; behind a trusted proxy, the client it named */
    const char *via;    /* the trusted proxy it came through, or NULL */
    int weak;           /* nobody vouches for it (a refusal anyone could cause, an ignored
                         * event): such records hold at most a quarter of the log, so a flood
                         * of them cannot push the others out (ops/delivery_log.h) */
};
/* The same for a webhook request, with what from says ("status", "client", "via" in the
 * record); 0 also when a weak record was left out. */
uint64_t cm_activity_webhook(struct cm_activity *st, uint64_t id, const struct cm_event *ev,
                             const char *endpoint, const char *delivery_id, const char *state,
                             const char *error, const struct cm_activity_from *from);
/* Move queued delivery id to state ("syncing", "done", "retrying", "failed"); "syncing"
 * counts an attempt. */
void cm_activity_delivery_state(struct cm_activity *st, uint64_t id, const char *state,
                                const char *error);

/* The record id of the newest delivery of endpoint/repository still waiting for or in its
 * sync (queued, syncing or retrying), or 0: the one a sync asked for again will answer. */
uint64_t cm_activity_pending(struct cm_activity *st, const char *endpoint, const char *repository);

/* Keep the payload of the delivery recorded as records[0..n) (n > 0): its body and the headers
 * that carry no secret (names[i]: values[i]). Not kept when the log is in memory only, or when
 * it alone is larger than server.payload_max_bytes. */
void cm_activity_payload(struct cm_activity *st, const uint64_t *records, size_t n,
                         const char *const *names, const char *const *values, size_t n_headers,
                         const void *body, size_t len);

/* A sync of repository (endpoint/name) finished: error NULL on success. mirror_path is the
 * mirror on disk (shown relative to the data directory). m may be NULL when the mirror could
 * not be opened; otherwise its branch heads and notes are recorded. */
void cm_activity_repository(struct cm_activity *st, const char *endpoint, const char *repository,
                            const char *mirror_path, const struct cm_mirror *m, long long when,
                            const char *error);

/* The same after a sync that succeeded without changing the mirror's refs (no fetch, no sync
 * plugin ran): the heads and notes recorded last time stand, so they are not read again (that
 * opened the repository once more per job, a sixth of the gateway's CPU under a stream of
 * webhooks); read once when none are recorded yet. */
void cm_activity_repository_same(struct cm_activity *st, const char *endpoint,
                                 const char *repository, const char *mirror_path,
                                 const struct cm_mirror *m, long long when);

/* Drop what is known of endpoint/repository: its mirror moved to another name. */
void cm_activity_forget(struct cm_activity *st, const char *endpoint, const char *repository);

/* A fetch of endpoint/repository is under way and has received received_objects of
 * total_objects, received_bytes in all: shown as its "fetch" in /api/repositories (the
 * repository listed from then on) until cm_activity_fetch_end says the fetch is over. */
void cm_activity_fetch(struct cm_activity *st, const char *endpoint, const char *repository,
                       unsigned received_objects, unsigned total_objects,
                       unsigned long long received_bytes);
void cm_activity_fetch_end(struct cm_activity *st, const char *endpoint, const char *repository);

/* Record every mirror already under data_dir/mirrors (with its heads, and the time its refs
 * last changed as the last sync), so /api/repositories is whole again after a restart. */
void cm_activity_scan_mirrors(struct cm_activity *st, const char *data_dir);

/* The API's readers. Errors, notes and the mirror's place show a path under the data
 * directory relative to it and any other absolute path by its last part. Each returns CM_OK
 * with a malloc'd JSON document in *out; CM_ENOENT (nothing of that name); CM_ENOMEM; or
 * CM_EAGAIN when the cluster's store (cm_activity_set_cluster) cannot be read, with a
 * one-line reason in err: an answer from this node alone would pass for the cluster's. */
/* The newest deliveries (at most 256), or NULL; for tests and tools. */
char *cm_activity_deliveries_json(struct cm_activity *st);
/* One page of deliveries, newest first: at most limit with a record id below before (0: from
 * the newest) whose endpoint, repository and state are those given (NULL: any), as
 * {"deliveries": [...]}; *next_cursor: the record id to pass as before, or 0 at the end. */
int cm_activity_deliveries_page(struct cm_activity *st, uint64_t before, size_t limit,
                                const char *endpoint, const char *repository, const char *state,
                                char **out, uint64_t *next_cursor, char *err, size_t errlen);
/* Record id's document with its payload ("payload": the JSON as received, or base64 with
 * "payload_encoding": "base64"; null with "payload_expired": true once dropped or never kept;
 * null with "payload_node" naming the node that keeps it when that is another gateway). */
int cm_activity_delivery_json(struct cm_activity *st, uint64_t record, char **out, char *err,
                              size_t errlen);

/* The payload kept for record id, for a replay: *headers (an object) and *body (NUL added,
 * *len bytes), the caller's. CM_OK, CM_ENOENT (unknown record, payload gone, or kept by
 * another node), CM_ENOMEM, CM_EAGAIN (the cluster's store cannot be read). */
struct json_t;
int cm_activity_delivery_payload(struct cm_activity *st, uint64_t record, struct json_t **headers,
                                 char **body, size_t *len);
/* {"repositories": [...]}: every mirror, of the whole cluster when it is set. */
int cm_activity_repositories_json(struct cm_activity *st, char **out, char *err, size_t errlen);
/* The document of endpoint/repository as /api/repositories lists it. */
int cm_activity_repository_json(struct cm_activity *st, const char *endpoint,
                                const char *repository, char **out, char *err, size_t errlen);

/* Where records go and are read from besides this node: a store the gateways of a cluster
 * share (core/queue/pg_activity.c). The writers run after the local record or update, on the
 * caller's thread, and must not wait for anything slow (queue or drop); the readers answer
 * for the whole cluster. Documents are those this node records, as jansson objects. */
struct cm_activity_cluster {
    void *arg;        /* passed to every function */
    const char *node; /* this gateway's name, as the records carry it (borrowed) */
    /* A delivery recorded here as doc (stolen; its "record_id" is this node's) for queue
     * entry queue_id (0: not queued). */
    void (*delivery)(void *arg, uint64_t queue_id, struct json_t *doc);
    /* Queue entry queue_id moved to state (error: NULL or as the API shows it); attempt 1
     * counts an attempt. Whichever node syncs it says so. */
    void (*state)(void *arg, uint64_t queue_id, const char *state, const char *error, int attempt);
    /* The repository's document after a sync at when (doc stolen, no "fetch" in it). */
    void (*repository)(void *arg, const char *endpoint, const char *repository, long long when,
                       struct json_t *doc);
    void (*forget)(void *arg, const char *endpoint, const char *repository);
    /* Readers: CM_OK with *out (the caller's), CM_ENOENT, CM_ENOMEM, CM_EAGAIN (err says why).
     * list: a JSON array of records, newest first, *more when older matches remain; each
     * record as this node shows it, with "record_id" the cluster's, "node" the gateway that
     * received it and "node_record_id" its record id there. */
    int (*list)(void *arg, uint64_t before, size_t limit, const char *endpoint,
                const char *repository, const char *state, struct json_t **out, int *more,
                char *err, size_t errlen);
    int (*get)(void *arg, uint64_t record, struct json_t **out, char *err, size_t errlen);
    /* The cluster's record id of the record node keeps as node_record (its id there, as that
     * node's 202 answers give it): CM_OK with *record, CM_ENOENT (not written yet, or gone),
     * CM_EAGAIN. */
    int (*find)(void *arg, const char *node, uint64_t node_record, uint64_t *record, char *err,
                size_t errlen);
    /* repositories: an array of every repository (endpoint and repository NULL), or the one
     * named (an object). Each with "node": the gateway that synced it last. */
    int (*repositories)(void *arg, const char *endpoint, const char *repository,
                        struct json_t **out, char *err, size_t errlen);
};

/* Use cluster (borrowed, outlives st; NULL: this node alone) from now on. Set once, before
 * any other thread uses st, and cleared only after they stopped. */
void cm_activity_set_cluster(struct cm_activity *st, const struct cm_activity_cluster *cluster);
/* This gateway's name in the cluster's records, or NULL alone: a record id this node hands
 * out in a 202 (resync, import, replay) is its own, GET /api/deliveries/<id>?node=<name>. */
const char *cm_activity_node(const struct cm_activity *st);
/* The record id GET /api/deliveries/<id> takes for the record node keeps as node_record:
 * node_record itself alone or for this node; the cluster's otherwise. CM_OK, CM_ENOENT,
 * CM_EAGAIN (err says why). */
int cm_activity_record_of(struct cm_activity *st, const char *node, uint64_t node_record,
                          uint64_t *record, char *err, size_t errlen);

#endif
