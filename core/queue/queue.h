/* SPDX-License-Identifier: MIT */
/*
 * The queue between the HTTP front and the sync workers: append durably, claim per
 * repository (coalescing), complete, retry at a time, give up. The local spool is its
 * embedded implementation; another backend (PostgreSQL) is another file behind these ops.
 * Nothing outside a backend knows how jobs are stored.
 */
#ifndef CM_QUEUE_H
#define CM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct cm_event;

/* A unit of sync work: every accepted push for one repository that was pending when it was
 * claimed, merged into one event (cm_event_merge). */
struct cm_job {
    struct cm_event *event; /* merged event, owned by the job */
    char *key;              /* "endpoint/repository", owned */
    uint64_t *ids;          /* the accepted entries it covers, owned */
    size_t n_ids;
    int attempts;          /* failed attempts so far for the oldest entry */
    long long accepted_at; /* when the oldest entry was accepted */
    long long accepted_ms; /* the same in milliseconds since the epoch, for the sync lag */
    char *last_error;      /* from the previous attempt, or NULL; owned */
};

struct cm_queue;

/* How many entries append may leave in the queue; 0 means no limit. An entry counts from the
 * moment append takes it until it is completed or given up, so concurrent appends cannot
 * together pass a limit: the check and the store are one step. */
struct cm_queue_limits {
    size_t max_queued;          /* in the whole queue */
    size_t max_queued_endpoint; /* for each endpoint (an event's CM_FIELD_ENDPOINT) */
};

/* append's answers when a limit stops it (nothing was stored; answer 503 with Retry-After),
 * and claim's when stored entries are unreadable. Outside enum cm_status on purpose: only
 * intake and the workers see them. */
enum cm_queue_status {
    CM_QUEUE_EFULL = -100,          /* max_queued reached */
    CM_QUEUE_EFULL_ENDPOINT = -101, /* max_queued_endpoint reached for an event's endpoint */
    CM_QUEUE_EUNREADABLE = -102     /* claim: stored entries that do not read back (see claim) */
};

/* One file of a sync plugin instance's state, shared by the nodes of a cluster. */
struct cm_state_doc {
    const char *instance; /* the instance's state directory name ("composer", "composer@eu") */
    char *path;           /* relative to that directory; owned by whoever made the array */
    void *body;           /* the content, or NULL: the file was removed; owned likewise */
    size_t len;
    long long version; /* the cluster's version, set by publish */
};

/* Called by pull for each document, oldest version first (body NULL: removed). A non-zero
 * return stops the pull and is returned. */
typedef int (*cm_state_doc_cb)(void *arg, const char *path, const void *body, size_t len,
                               long long version);

/*
 * What a backend shared by several nodes adds: the sync plugins' state directories, kept in
 * the database, so every node serves what any node published (plugin/shared_dir.c keeps the
 * files). One node at a time runs the plugins, under a lock with a lease and a fence, and
 * what it wrote is published in the transaction that completes the job.
 */
struct cm_queue_state_ops {
    /* Wait until this node holds the cluster's plugin-state lock; *fence names the hold, and
     * the lease is renewed until unlock. CM_OK; CM_EAGAIN when the database is away; CM_ERROR
     * when the queue is closing. */
    int (*lock)(struct cm_queue *q, long long *fence);
    void (*unlock)(struct cm_queue *q, long long fence);
    /* Call cb for every document of instance with a version above since. CM_OK, CM_EAGAIN
     * when the database is away, or cb's value. */
    int (*pull)(struct cm_queue *q, const char *instance, long long since, cm_state_doc_cb cb,
                void *arg);
    /* Publish docs (their versions set) and complete job (as complete; NULL: publish only) in
     * one transaction, only while fence still holds the lock. CM_OK; CM_EAGAIN when the lock
     * or the job's lease was lost or the database is away: nothing was published or completed.
     * Frees job either way. */
    int (*publish)(struct cm_queue *q, struct cm_job *job, long long fence,
                   struct cm_state_doc *docs, size_t n);
    /* The cluster's version of instance/path into *version (0: none, or removed) and, when it
     * is not have, its content into *body (malloc'd, *len bytes). CM_OK, CM_EAGAIN, CM_ENOMEM. */
    int (*lookup)(struct cm_queue *q, const char *instance, const char *path, long long have,
                  long long *version, void **body, size_t *len);
    /* Record for every node that endpoint/repository is gone from its host (sync/gone.h);
     * the record lasts until a sync of it completes. CM_OK, CM_EAGAIN (database away). */
    int (*gone_mark)(struct cm_queue *q, const char *endpoint, const char *repository);
    /* CM_ENOENT when a node recorded endpoint/repository gone and no sync of it completed
     * since; CM_OK when none did; CM_EAGAIN when the database is away. */
    int (*gone_check)(struct cm_queue *q, const char *endpoint, const char *repository);
};

struct cm_queue_ops {
    /* Store events durably (on disk, fsync'd) before returning; ids_out[i] gets each one's id.
     * dedupe_keys[i] (may be NULL) is "endpoint/delivery-id": an entry already seen within the
     * dedupe window is not stored and its ids_out is 0, and the call returns CM_EIGNORE when
     * every event was such a duplicate. The rest is stored whole or not at all: when it would
     * take the queue past limits (NULL: none), CM_QUEUE_EFULL or CM_QUEUE_EFULL_ENDPOINT.
     * CM_EAGAIN when storage failed (disk full, read-only): nothing was stored, answer 503.
     * Safe from many threads; concurrent callers share fsyncs. */
    int (*append)(struct cm_queue *q, struct cm_event *const *events,
                  const char *const *dedupe_keys, size_t n, const struct cm_queue_limits *limits,
                  uint64_t *ids_out);
    /* 1 when entries for endpoint/repository are in the queue (pending, claimed, or being
     * stored), else 0. Intake asks it to tell a new repository from a known one. */
    int (*queued)(struct cm_queue *q, const char *endpoint, const char *repository);
    /* Wait up to timeout_ms for a job whose repository is not claimed by anyone and whose
     * retry time has come; *out is the caller's until complete/retry/give_up. Its event lists
     * at most the max_refs the backend was opened with (else none, and it is incomplete).
     * CM_OK; CM_EAGAIN on timeout; CM_QUEUE_EUNREADABLE with *out a job that covers only the
     * stored entries that no longer read back as events (event NULL, last_error says why):
     * give it up, and the repository's other entries are claimed next; CM_ENOMEM (nothing
     * claimed: back off and claim again). CM_ERROR only when the queue is closing: the one
     * answer on which a worker stops. */
    int (*claim)(struct cm_queue *q, struct cm_job **out, int timeout_ms);
    /* The job's entries are done and leave the queue (durably). Frees job. */
    int (*complete)(struct cm_queue *q, struct cm_job *job);
    /* Try again not before at (epoch seconds); error is remembered for the next attempt and
     * for operators. Entries appended for the repository meanwhile are merged in. Frees job. */
    int (*retry)(struct cm_queue *q, struct cm_job *job, long long at, const char *error);
    /* Stop trying: the entries leave the queue, recorded as failed with error. Frees job.
     * CM_EAGAIN when the record could not be written: the job is then retried in a minute. */
    int (*give_up)(struct cm_queue *q, struct cm_job *job, const char *error);
    /* Number of entries not yet completed or given up. */
    size_t (*depth)(struct cm_queue *q);
    /* How long the oldest due job has waited for a worker at now (epoch seconds): over the
     * repositories nobody is syncing whose retry time has come, the seconds since that time
     * (or since acceptance, when later); 0 when there is none. A job waiting out a retry is
     * not due: a git host that is down is not a stall of the gateway, and a health check
     * that fails for it would take the gateway out of a load balancer for every host.
     * What /healthz compares with server.healthz_max_due_age. */
    long long (*oldest_age)(struct cm_queue *q, long long now);
    /* Wake every claim() with CM_ERROR; later claims fail at once. */
    void (*shutdown)(struct cm_queue *q);
    /* Free the queue (after shutdown and after every claimed job was handed back). */
    void (*close)(struct cm_queue *q);
    /* Shared plugin state (above); NULL in a backend of one node, whose files are the truth. */
    const struct cm_queue_state_ops *state;
};

struct cm_queue {
    const struct cm_queue_ops *ops;
};

/* Free a job without touching the queue (backends use it when they are done with one). */
void cm_job_free(struct cm_job *job);

/* The local spool under data_dir/spool: a journal with group commit, replayed on open so
 * every accepted but unfinished entry is queued again. dedupe_max_age in seconds; max_refs
 * caps the changes of a claimed job's merged event (0: no cap). */
int cm_spool_open(struct cm_queue **out, const char *data_dir, long long dedupe_max_age,
                  size_t max_refs, char *err, size_t errlen);

/* After a repository's sync completes, its next one waits ms milliseconds (0: none), so the
 * webhooks of a burst that arrive meanwhile cost one sync, not one each; a push after a quiet
 * spell is synced at once. Set before workers claim. q must come from cm_spool_open. */
void cm_spool_set_coalesce(struct cm_queue *q, int ms);

/* Counters of a queue opened by cm_spool_open, for tests, the benchmark and /metrics. */
struct cm_spool_stats {
    uint64_t appended;      /* entries stored since open */
    uint64_t syncs;         /* fdatasync calls on the journal (group commit: fewer than appends) */
    uint64_t compactions;   /* journal rewrites, the one at open included */
    uint64_t journal_bytes; /* current size of the journal */
};

/* Fill *out. q must come from cm_spool_open. Thread-safe. */
void cm_spool_stats(struct cm_queue *q, struct cm_spool_stats *out);

#endif
