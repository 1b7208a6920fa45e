/* SPDX-License-Identifier: MIT */
/*
 * The local spool's state, shared by its files: spool.c (open, close, the looking ops),
 * spool_append.c (append, group commit), spool_claim.c (claims and hand-backs), spool_index.c
 * (the index in memory) and spool_journal.c (the journal on disk). Private to them.
 */
#ifndef CM_SPOOL_STATE_H
#define CM_SPOOL_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"
#include "queue/spool_util.h"

/* Rewrite the journal once it is this big and four times its size after the last rewrite. */
#define CM_SPOOL_COMPACT_MIN (1u << 20)
/* Delivery ids remembered at most, whatever their age. */
#define CM_SPOOL_DEDUPE_MAX 100000

/* One accepted event. */
struct cm_spool_entry {
    struct cm_spool_link link;   /* repo's pending or claimed list, or a batch's new entries */
    struct cm_spool_hnode by_id; /* sp->ids, once durable */
    struct cm_spool_repo *repo;  /* borrowed */
    uint64_t id;
    long long accepted_at, not_before;
    long long accepted_ms; /* accepted_at in milliseconds: the journal keeps seconds only */
    int attempts;
    char *error; /* of the last attempt, or NULL; owned */
    char *json;  /* the event's JSON form, owned */
    char *dkey;  /* dedupe key while its batch is being written, owned */
    /* cm_event_changes_key of json, owned: taken from the append that staged the entry, or,
     * for one read back from the journal, made when its repository is first compared (a
     * JSON parse each, which start-up need not pay). NULL until then, or when json does not
     * read back (never equal to anything). */
    char *ckey;
    struct cm_spool_hnode by_ckey; /* sp->ckeys, while pending with a ckey */
    int ckey_state;                /* enum cm_spool_ckey_state */
};

/* Where an entry stands with sp->ckeys, the index sp_covered looks in. Only pending entries
 * are in it: one whose sync has started may fetch before a push that repeats its changes (a
 * branch moved back and forth), so it cannot stand for that push. */
enum cm_spool_ckey_state {
    CM_SPOOL_CKEY_NONE,      /* not pending (a claimed one may keep its ckey for its return),
                              * or pending with its ckey not made yet (counted in its
                              * repository's n_unkeyed) */
    CM_SPOOL_CKEY_INDEXED,   /* pending, in sp->ckeys */
    CM_SPOOL_CKEY_UNREADABLE /* json does not read back: in no index, never made again */
};

/* The entries of one endpoint that count against its limit; kept while the spool is open
 * (there are as many as configured endpoints). */
struct cm_spool_ep {
    struct cm_spool_hnode node;
    size_t live; /* entries being stored, pending or claimed */
    char name[];
};

/* The entries of one repository: at most one job (the claimed list) at a time. */
struct cm_spool_repo {
    struct cm_spool_hnode node;
    struct cm_spool_ep *ep;     /* borrowed */
    struct cm_spool_link ready; /* in sp->ready: has pending entries and nobody holds it */
    struct cm_spool_link pending, claimed;
    size_t n_pending, n_inflight;
    size_t n_unkeyed; /* pending entries whose ckey is not made yet */
    int held, in_ready;
    long long not_before;
    long long settle_until_ms; /* after a sync, webhooks wait until then to be merged into one */
    char key[];
};

/* A remembered delivery id; batch is the journal batch that stores it (0: durable at open). */
struct cm_spool_dkey {
    struct cm_spool_hnode node;
    struct cm_spool_link fifo;
    long long at;
    uint64_t batch;
    char key[];
};

/* A caller waiting for its records to be durable. Its own condition, so the writer wakes only
 * the callers of the batch it wrote, and one caller of the next batch to write that. */
struct cm_spool_ticket {
    struct cm_spool_ticket *next;
    pthread_cond_t cv;
    int rc, done;
};

struct cm_spool_batch {
    uint64_t no;
    struct cm_buf buf;
    struct cm_spool_link entries;
    struct cm_spool_ticket *tickets;
};

struct cm_spool {
    struct cm_queue q; /* first, so the ops find the spool */
    pthread_mutex_t mu;
    pthread_cond_t commit_cv; /* a batch is settled (done_no moved): for sp_wait_dups */
    pthread_cond_t claim_cv;
    char *journal, *journal_new, *failed_log; /* paths, owned */
    int dir_fd, fd, failed_fd;
    long long max_age;
    size_t max_refs; /* changes a claimed job's event keeps; 0: all */
    int coalesce_ms; /* how long a repository rests after a sync (cm_spool_set_coalesce) */
    struct cm_spool_htab repos, ids, dkeys, eps;
    /* Pending entries by repository and changes key (entries' by_ckey), so that
     * whether an append is covered costs one look-up, not a walk of the repository's entries:
     * with a rest after each sync (coalesce_ms) hundreds may wait per repository. */
    struct cm_spool_htab ckeys;
    struct cm_spool_link ready, fifo;
    size_t depth;
    size_t live; /* entries being stored, pending or claimed: what the limits count */
    uint64_t next_id, done_no;
    struct cm_spool_batch open; /* filled by callers, written by the next leader */
    int committing, closing;
    int torn;         /* a failed batch may have left a partial line (leader only) */
    int dir_unsynced; /* a rewrite's rename is not yet durable: sync the directory before the
                       * next batch is written (leader only) */
    uint64_t compact_at;
    struct cm_spool_stats stats;
};

/* The entry whose link is l. */
#define CM_SPOOL_ENTRY(l) CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link)

static inline struct cm_spool *cm_spool_of(struct cm_queue *q)
{
    return (struct cm_spool *)q; /* q is the spool's first member */
}

/* The in-memory index; every function here runs with sp->mu held (or before the spool is
 * shared). */

/* Empty lists and tables for a zeroed sp. CM_OK or CM_ENOMEM (then cm_spool_state_free). */
int cm_spool_state_init(struct cm_spool *sp);
/* Free every entry, repository, delivery id and table, and the open batch's buffer. */
void cm_spool_state_free(struct cm_spool *sp);
void cm_spool_entry_free(struct cm_spool_entry *e);
/* Make a durable entry pending for its repository and findable by id. */
void cm_spool_publish(struct cm_spool *sp, struct cm_spool_entry *e);
/* Drop a durable entry: done, given up, or replayed as such. was_pending: it is pending (and
 * so in the changes-key index), not claimed. */
void cm_spool_entry_drop(struct cm_spool *sp, struct cm_spool_entry *e, int was_pending);
/* Whether a pending entry of r has changes key ckey; first makes the keys of r's pending
 * entries read back from the journal. */
int cm_spool_ckey_held(struct cm_spool *sp, struct cm_spool_repo *r, const char *ckey);
/* Entry e of a repository became pending (published, or handed back from a claim): index its
 * ckey, or count it as not made yet. */
void cm_spool_ckey_enter(struct cm_spool *sp, struct cm_spool_entry *e);
/* Entry e stops being pending (claimed, or dropped): out of the index and the count. */
void cm_spool_ckey_leave(struct cm_spool *sp, struct cm_spool_entry *e);
/* The repository of key, or NULL. */
struct cm_spool_repo *cm_spool_repo_find(struct cm_spool *sp, const char *key);
/* The repository of key ("endpoint/repository"), created when missing; NULL when out of
 * memory. */
struct cm_spool_repo *cm_spool_repo_get(struct cm_spool *sp, const char *key);
/* The endpoint called name (the part of a repository key before its first '/'; len bytes of
 * it), or NULL when it holds no entries. */
struct cm_spool_ep *cm_spool_ep_find(struct cm_spool *sp, const char *name, size_t len);
/* An entry of r was taken (delta 1) or left the queue (delta -1): the limits' counts. */
void cm_spool_count(struct cm_spool *sp, struct cm_spool_repo *r, int delta);
/* Put r where claim() looks, or free it when nothing refers to it any more. */
void cm_spool_repo_settle(struct cm_spool *sp, struct cm_spool_repo *r);
struct cm_spool_dkey *cm_spool_dkey_find(struct cm_spool *sp, const char *key);
/* The entry with id, pending or claimed, or NULL. */
struct cm_spool_entry *cm_spool_entry_find(struct cm_spool *sp, uint64_t id);
/* Remember delivery id key, stored by journal batch (0: already durable). CM_OK, CM_ENOMEM. */
int cm_spool_dkey_add(struct cm_spool *sp, const char *key, long long at, uint64_t batch);
void cm_spool_dkey_del(struct cm_spool *sp, struct cm_spool_dkey *d);
/* Forget delivery ids past the window, and the oldest beyond the bound. */
void cm_spool_dkey_expire(struct cm_spool *sp, long long now);

/* Hand records rec (and the entries they accept, or NULL) to the open batch and wait until
 * they are written, becoming the writer when nobody is. Lock held; rec is consumed. CM_OK,
 * CM_ENOMEM or CM_EAGAIN. */
int cm_spool_commit(struct cm_spool *sp, struct cm_buf *rec, struct cm_spool_link *entries);

/* The queue operations (struct cm_queue_ops) of spool_append.c and spool_claim.c. */
int cm_spool_op_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                       size_t n, const struct cm_queue_limits *limits, uint64_t *ids_out);
int cm_spool_op_queued(struct cm_queue *q, const char *endpoint, const char *repository);
int cm_spool_op_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms);
int cm_spool_op_complete(struct cm_queue *q, struct cm_job *job);
int cm_spool_op_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error);
int cm_spool_op_give_up(struct cm_queue *q, struct cm_job *job, const char *error);

#endif
