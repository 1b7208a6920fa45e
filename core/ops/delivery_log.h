/* SPDX-License-Identifier: MIT */
/*
 * The durable delivery log (delivery_log.c): every delivery's record (endpoint, repository,
 * refs, state, attempts, last error) in memory and in an append-only journal under the data
 * directory, fsync'd in batches in the background and compacted when it grows.
 */
#ifndef CM_DELIVERY_LOG_H
#define CM_DELIVERY_LOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cm_dlog;
struct cm_payloads;

struct cm_dlog_limits {
    long long max_age;  /* seconds a record is kept (server.delivery_log_max_age) */
    size_t max_entries; /* records kept at most (server.delivery_log_max_entries) */
};

/* What replay found at open, for the caller's log line. */
struct cm_dlog_report {
    size_t loaded;        /* records live after replay */
    size_t skipped;       /* lines that did not check out (corrupt), torn tail excluded */
    size_t first_skipped; /* line number of the first of them, 0 when none */
    int torn;             /* the file ended in a partial line, cut off */
};

/* A log in memory only (path NULL: tests, `parse`), or one kept in the file path, replayed now
 * and appended to from then on; a background thread syncs it every flush_ms milliseconds and
 * compacts it. CM_OK, CM_ENOMEM, CM_ERROR with the reason in err. */
int cm_dlog_open(struct cm_dlog **out, const char *path, const struct cm_dlog_limits *lim,
                 int flush_ms, struct cm_dlog_report *rep, char *err, size_t errlen);
/* Stop the thread, sync what is left, free. */
void cm_dlog_free(struct cm_dlog *dl);
/* Attach the payload store (borrowed, outlives dl) expired by the background thread. */
void cm_dlog_set_payloads(struct cm_dlog *dl, struct cm_payloads *p);

/* Add a record: doc (stolen; "record_id" is set here), for queue id queue_id (0: none). The
 * record id (> 0), or 0 when out of memory. Written to the file before it returns (not
 * synced: that is the thread's). */
uint64_t cm_dlog_add(struct cm_dlog *dl, json_t *doc, uint64_t queue_id, long long now);
/* The same for a record nobody vouches for (a refusal anyone could cause: a bad signature, a
 * source outside allow_from, an unknown endpoint...; never a queued delivery): such records
 * hold at most a quarter of max_entries, so a flood of them cannot push the others out. Past
 * that, 0: not recorded (counted, and said once per spell in the log). */
uint64_t cm_dlog_add_weak(struct cm_dlog *dl, json_t *doc, long long now);
/* Set key to value (stolen) in the record of queue id queue_id; attempt 1 counts an attempt.
 * 1, or 0 (nothing done) when no record has that queue id. */
int cm_dlog_update(struct cm_dlog *dl, uint64_t queue_id, const char *state, json_t *error,
                   int attempt, long long now);
/* Note that record's payload is stored as payload id. */
void cm_dlog_set_payload(struct cm_dlog *dl, uint64_t record, uint64_t payload);

/* Records newest first, as a JSON array (the caller's): at most limit of those with a record
 * id below before (0: from the newest) whose endpoint, repository and state equal the ones
 * given (NULL: any). *more says whether older matches remain. */
json_t *cm_dlog_list(struct cm_dlog *dl, uint64_t before, size_t limit, const char *endpoint,
                     const char *repository, const char *state, int *more);
/* A copy of record's document (the caller's) and its payload id (0: none), or NULL. */
json_t *cm_dlog_get(struct cm_dlog *dl, uint64_t record, uint64_t *payload);

/* Sync the file now (the thread does it every flush_ms). CM_OK or CM_ERROR. */
int cm_dlog_sync(struct cm_dlog *dl);

#endif
