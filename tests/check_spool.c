/* SPDX-License-Identifier: MIT */
/*
 * The local spool through the queue interface: durability across reopen, claim/complete/
 * retry/give up, dedupe window, per-repository coalescing, group commit, a torn journal
 * tail, a full disk (RLIMIT_FSIZE), a kill -9 in the middle of appends, the limits (queue
 * depth in total and per endpoint, refs of a merged job), a record that no longer reads back
 * as an event, a failed directory fsync after a compaction's rename, and the covered rule
 * against a model over random steps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "intake/event.h"
#include "queue/queue.h"
#include "queue/spool_journal.h" /* the record writer and the directory-fsync fault hook */

#define DAY (24LL * 3600)

static char tdir[64];
static char data_dir[128];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/cm-spool-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
    snprintf(data_dir, sizeof(data_dir), "%s/var", tdir);
}

static void teardown(void)
{
    nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct cm_queue *open_q(long long max_age)
{
    struct cm_queue *q = NULL;
    char err[512] = "";
    int rc = cm_spool_open(&q, data_dir, max_age, 0, err, sizeof(err));
    ck_assert_msg(rc == CM_OK, "open: %d %s", rc, err);
    return q;
}

static void close_q(struct cm_queue *q)
{
    q->ops->shutdown(q);
    q->ops->close(q);
}

static void hex_id(char *buf, unsigned long long n)
{
    snprintf(buf, 41, "%040llx", n + 1);
}

/* A push of ref from commit number from to number to, to endpoint "gh", repository repo. No
 * check asserts here: the kill -9 child uses it, and check's messages must not come from that
 * process. */
static struct cm_event *make_move_raw(const char *repo, const char *ref, unsigned long long from,
                                      unsigned long long to)
{
    struct cm_event *ev;
    char old_id[41], new_id[41];

    if (cm_event_new(&ev) != CM_OK)
        return NULL;
    cm_event_set(ev, CM_FIELD_PROVIDER, "github");
    cm_event_set(ev, CM_FIELD_ENDPOINT, "gh");
    cm_event_set(ev, CM_FIELD_REPOSITORY, repo);
    cm_event_set(ev, CM_FIELD_CLONE_URL_HTTP, "https://github.com/acme/some-library.git");
    hex_id(old_id, from);
    hex_id(new_id, to);
    if (cm_event_add_change(ev, ref, old_id, new_id, 0) != CM_OK) {
        cm_event_free(ev);
        return NULL;
    }
    return ev;
}

/* A push of one ref; n picks the ids (no two n share one). */
static struct cm_event *make_event_raw(const char *repo, const char *ref, unsigned long long n)
{
    return make_move_raw(repo, ref, n * 2, n * 2 + 1);
}

static struct cm_event *make_event(const char *repo, const char *ref, unsigned long long n)
{
    struct cm_event *ev = make_event_raw(repo, ref, n);
    ck_assert_ptr_nonnull(ev);
    return ev;
}

static int append1(struct cm_queue *q, const char *repo, const char *ref, unsigned long long n,
                   const char *dkey, uint64_t *id)
{
    struct cm_event *ev = make_event_raw(repo, ref, n);
    const char *dk[1] = {dkey};
    uint64_t tmp;
    int rc = ev ? q->ops->append(q, &ev, dk, 1, NULL, id ? id : &tmp) : CM_ENOMEM;
    cm_event_free(ev);
    return rc;
}

START_TEST(reopen_keeps_pending)
{
    struct cm_queue *q = open_q(DAY);
    const char *repos[] = {"acme/a", "acme/b", "acme/c", "acme/a", "acme/a"};
    char *json_b = NULL;
    uint64_t id;

    for (int i = 0; i < 5; i++) {
        struct cm_event *ev = make_event(repos[i], "refs/heads/main", (unsigned)i);
        const char *dk[1] = {NULL};
        ck_assert_int_eq(q->ops->append(q, &ev, dk, 1, NULL, &id), CM_OK);
        ck_assert_uint_eq(id, (uint64_t)i + 1);
        if (i == 1)
            json_b = strdup(cm_event_json(ev));
        cm_event_free(ev);
    }
    close_q(q);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 5);
    int seen = 0;
    struct cm_job *job;
    while (q->ops->claim(q, &job, 0) == CM_OK) {
        if (!strcmp(job->key, "gh/acme/a")) {
            ck_assert_uint_eq(job->n_ids, 3);
            ck_assert_uint_eq(job->ids[0], 1);
            ck_assert_uint_eq(job->ids[2], 5);
            /* merged: earliest old, latest new */
            char want_old[41], want_new[41];
            hex_id(want_old, 0);
            hex_id(want_new, 4 * 2 + 1);
            ck_assert_str_eq(cm_event_change_get(job->event, 0, CM_CHANGE_OLD), want_old);
            ck_assert_str_eq(cm_event_change_get(job->event, 0, CM_CHANGE_NEW), want_new);
        } else if (!strcmp(job->key, "gh/acme/b")) {
            ck_assert_str_eq(cm_event_json(job->event), json_b);
        }
        seen++;
        ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    }
    ck_assert_int_eq(seen, 3);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
    free(json_b);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    ck_assert_int_eq(append1(q, "acme/z", "refs/heads/main", 9, NULL, &id), CM_OK);
    ck_assert_uint_gt(id, 5); /* ids are not reused */
    close_q(q);
}
END_TEST

START_TEST(complete_is_durable)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job;

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    ck_assert_int_eq(append1(q, "acme/b", "refs/heads/main", 2, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_str_eq(job->key, "gh/acme/a");
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_str_eq(job->key, "gh/acme/b");
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(retry_waits_for_its_time)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job;

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_int_eq(job->attempts, 0);
    ck_assert_ptr_null(job->last_error);
    long long at = (long long)time(NULL) + 2;
    ck_assert_int_eq(q->ops->retry(q, job, at, "fetch: connection refused"), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_EAGAIN);
    close_q(q);

    q = open_q(DAY);
    ck_assert_int_eq(q->ops->claim(q, &job, 100), CM_EAGAIN);
    double t0 = now_s();
    ck_assert_int_eq(q->ops->claim(q, &job, 5000), CM_OK);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt); /* the clock claim() uses; time() may lag a tick */
    ck_assert_int_ge((long long)rt.tv_sec, at);
    ck_assert(now_s() - t0 < 4.0);
    ck_assert_int_eq(job->attempts, 1);
    ck_assert_str_eq(job->last_error, "fetch: connection refused");
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

START_TEST(give_up_records_failure)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job;
    char path[256], buf[4096] = "";

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_int_eq(q->ops->give_up(q, job, "repository \"acme/a\" not found"), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_EAGAIN);
    close_q(q);

    snprintf(path, sizeof(path), "%s/spool/failed.log", data_dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "\"id\":1,"));
    ck_assert_ptr_nonnull(strstr(buf, "\"repository\":\"gh/acme/a\""));
    ck_assert_ptr_nonnull(strstr(buf, "repository \\\"acme/a\\\" not found"));
    ck_assert_ptr_nonnull(strstr(buf, "\"event\":{"));

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

START_TEST(dedupe_window)
{
    struct cm_queue *q = open_q(DAY);
    uint64_t id, ids[2];

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, "gh/d-1", &id), CM_OK);
    ck_assert_uint_gt(id, 0);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, "gh/d-1", &id), CM_EIGNORE);
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(q->ops->depth(q), 1);

    struct cm_event *evs[2] = {make_event("acme/a", "refs/heads/x", 2),
                               make_event("acme/b", "refs/heads/x", 3)};
    const char *dks[2] = {"gh/d-1", "gh/d 2%"};
    ck_assert_int_eq(q->ops->append(q, evs, dks, 2, NULL, ids), CM_OK);
    ck_assert_uint_eq(ids[0], 0);
    ck_assert_uint_gt(ids[1], 0);
    cm_event_free(evs[0]);
    cm_event_free(evs[1]);
    close_q(q);

    q = open_q(DAY);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, "gh/d-1", &id), CM_EIGNORE);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, "gh/d 2%", &id), CM_EIGNORE);
    ck_assert_uint_eq(q->ops->depth(q), 2);
    close_q(q);

    /* A one-second window: forgotten in memory, and on replay. */
    q = open_q(1);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, "gh/d-1", &id), CM_EIGNORE);
    ck_assert_int_eq(append1(q, "acme/c", "refs/heads/main", 1, "gh/short", &id), CM_OK);
    /* Another push under the id, polled until the window forgets it (deadline 10 s); while
     * remembered it is a duplicate and changes nothing. */
    int rc = CM_EIGNORE;
    for (int i = 0; i < 100 && rc == CM_EIGNORE; i++) {
        rc = append1(q, "acme/c", "refs/heads/main", 2, "gh/short", &id);
        if (rc == CM_EIGNORE)
            usleep(100 * 1000);
    }
    ck_assert_int_eq(rc, CM_OK);
    close_q(q);
    q = open_q(1);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 7, "gh/d 2%", &id), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 5);
    close_q(q);
}
END_TEST

/* A captured delivery replayed under fresh (unsigned) delivery ids is the push already waiting:
 * a duplicate, not a new entry, so replays cannot fill the queue. Once its sync has started it
 * covers nothing (that fetch may predate the push): the first replay is stored for the next
 * sync and covers the others. After its sync the same push is stored again (a branch moved
 * back and forth). */
START_TEST(replay_covered)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job;
    uint64_t id;
    char dk[32];

    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-0", &id), CM_OK);
    for (int i = 1; i <= 50; i++) {
        snprintf(dk, sizeof(dk), "gh/r-%d", i);
        ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, dk, &id), CM_EIGNORE);
    }
    ck_assert_uint_eq(q->ops->depth(q), 1);
    /* While its sync runs: stored once, for the next sync. */
    ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-51", &id), CM_OK);
    ck_assert_uint_gt(id, 0);
    for (int i = 52; i <= 60; i++) {
        snprintf(dk, sizeof(dk), "gh/r-%d", i);
        ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, dk, &id), CM_EIGNORE);
    }
    /* Another push of the same repository is new. */
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 6, "gh/r-61", &id), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 3);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
    ck_assert_uint_eq(job->n_ids, 2);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-62", &id), CM_OK);
    close_q(q);
    /* Entries read back from the journal are compared too. */
    q = open_q(DAY);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-63", &id), CM_EIGNORE);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    close_q(q);
}
END_TEST

/* Covered survives a restart: entries read back from the journal are compared before anything
 * else touches them, and after a claim and a retry hand them back before any append compared
 * them (their keys are made then); claimed, they cover nothing; the same changes for another
 * repository are not covered; and once synced the push is stored again, and covers the next
 * replay. */
START_TEST(replay_covered_after_reopen)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job;
    uint64_t id;

    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-0", &id), CM_OK);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 6, "gh/r-1", &id), CM_OK);
    close_q(q);

    q = open_q(DAY);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-2", &id), CM_EIGNORE);
    close_q(q);

    /* Claimed before any append compared them, and handed back. */
    q = open_q(DAY);
    ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
    ck_assert_uint_eq(job->n_ids, 2);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 7, "gh/r-3", &id), CM_OK);
    ck_assert_int_eq(append1(q, "acme/s", "refs/heads/main", 5, "gh/s-0", &id), CM_OK);
    ck_assert_int_eq(q->ops->retry(q, job, 0, "try again"), CM_OK);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-4", &id), CM_EIGNORE);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 6, "gh/r-5", &id), CM_EIGNORE);
    ck_assert_uint_eq(q->ops->depth(q), 4);

    /* Claimed with their keys made: a sync started, so the same push is stored again. */
    for (int found = 0; !found;) {
        ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
        if (!(found = !strcmp(job->key, "gh/acme/r")))
            ck_assert_int_eq(q->ops->retry(q, job, (long long)time(NULL) + DAY, "later"), CM_OK);
    }
    ck_assert_uint_eq(job->n_ids, 3);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-4b", &id), CM_OK);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-5b", &id), CM_EIGNORE);
    ck_assert_int_eq(q->ops->retry(q, job, 0, "try again"), CM_OK);
    /* Handed back: the claimed entries and the push stored meanwhile all wait again. */
    ck_assert_uint_eq(q->ops->depth(q), 5);

    /* Synced: nothing waits for it any more. */
    for (int done = 0; !done;) {
        ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
        done = !strcmp(job->key, "gh/acme/r");
        ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    }
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-6", &id), CM_OK);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 5, "gh/r-7", &id), CM_EIGNORE);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 6, "gh/r-8", &id), CM_OK);
    close_q(q);

    q = open_q(DAY);
    ck_assert_int_eq(append1(q, "acme/r", "refs/heads/main", 6, "gh/r-9", &id), CM_EIGNORE);
    close_q(q);
}
END_TEST

/* A push that repeats the changes of an entry whose sync has started is not covered by it: main
 * moves 1->2 (A), back to 1 (B), a worker claims both and fetches, and main moves 1->2 again.
 * That fetch may have seen main at 1, so the last push is stored and synced next. */
START_TEST(claimed_covers_nothing)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_event *ev;
    struct cm_job *job;
    const char *dk[1] = {NULL};
    uint64_t id_a, id_b, id_c;
    char want[41];

    ev = make_move_raw("acme/aba", "refs/heads/main", 1, 2);
    ck_assert_int_eq(q->ops->append(q, &ev, dk, 1, NULL, &id_a), CM_OK);
    cm_event_free(ev);
    ev = make_move_raw("acme/aba", "refs/heads/main", 2, 1);
    ck_assert_int_eq(q->ops->append(q, &ev, dk, 1, NULL, &id_b), CM_OK);
    cm_event_free(ev);
    ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
    ck_assert_uint_eq(job->n_ids, 2);

    ev = make_move_raw("acme/aba", "refs/heads/main", 1, 2);
    ck_assert_int_eq(q->ops->append(q, &ev, dk, 1, NULL, &id_c), CM_OK);
    cm_event_free(ev);
    ck_assert_uint_gt(id_c, id_b);
    ck_assert_uint_eq(q->ops->depth(q), 3);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);

    ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_OK);
    ck_assert_str_eq(job->key, "gh/acme/aba");
    ck_assert_uint_eq(job->n_ids, 1);
    ck_assert_uint_eq(job->ids[0], id_c);
    ck_assert_ptr_nonnull(job->event);
    hex_id(want, 2);
    ck_assert_str_eq(cm_event_change_get(job->event, 0, CM_CHANGE_NEW), want);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

/* --- a model of the covered rule -------------------------------------------------------- */

/* Random steps over a few repositories and a few changes each, so that appends collide often,
 * checked at every step against a model that only knows lists: an append is covered exactly
 * when its repository has a pending entry with its changes, whatever claims, hand-backs and
 * reopens came before (the spool answers from an index it must keep in step with the lists). */
#define MODEL_REPOS 3
#define MODEL_STEPS 400

/* The changes a step may push; all four have different changes keys. */
static const struct {
    const char *ref;
    unsigned long long from, to;
} model_changes[] = {
    {"refs/heads/main", 1, 2},
    {"refs/heads/main", 2, 1},
    {"refs/heads/dev", 1, 2},
    {"refs/heads/main", 1, 3},
};
#define MODEL_CHANGES (sizeof(model_changes) / sizeof(model_changes[0]))

struct model_entry {
    uint64_t id;
    size_t change; /* index in model_changes */
};

/* What one repository should hold, oldest first; job is the claim the test holds, or NULL. */
struct model_repo {
    struct model_entry pending[MODEL_STEPS], claimed[MODEL_STEPS];
    size_t n_pending, n_claimed;
    struct cm_job *job;
};

struct model {
    unsigned seed;
    int step;
    uint64_t rng;
    struct cm_queue *q;
    uint64_t last_id;
    struct model_repo repos[MODEL_REPOS];
    char dkeys[MODEL_STEPS][32]; /* every delivery id used so far */
    unsigned char dkey_stored[MODEL_STEPS];
    size_t n_dkeys;
    int trace; /* CM_SPOOL_MODEL_TRACE set: each step on stderr, to replay a failing seed */
};

/* A number below n (n > 0), from a generator of our own, so a seed means the same everywhere. */
static size_t model_rnd(struct model *m, size_t n)
{
    m->rng = m->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (size_t)((m->rng >> 33) % n);
}

static void model_name(size_t r, char *repo, size_t len)
{
    snprintf(repo, len, "acme/m%zu", r);
}

static int model_covers(const struct model_repo *mr, size_t change)
{
    for (size_t i = 0; i < mr->n_pending; i++)
        if (mr->pending[i].change == change)
            return 1;
    return 0;
}

static size_t model_depth(const struct model *m)
{
    size_t n = 0;
    for (size_t r = 0; r < MODEL_REPOS; r++)
        n += m->repos[r].n_pending + m->repos[r].n_claimed;
    return n;
}

static void model_append(struct model *m)
{
    size_t r = model_rnd(m, MODEL_REPOS), c = model_rnd(m, MODEL_CHANGES);
    size_t how = model_rnd(m, 10), d = SIZE_MAX;
    struct model_repo *mr = &m->repos[r];
    char repo[32];
    uint64_t id = 1;

    /* No delivery id, a fresh one, or one used before (a duplicate once it was stored). */
    if (how >= 4 && how < 9) {
        d = m->n_dkeys++;
        snprintf(m->dkeys[d], sizeof(m->dkeys[d]), "gh/m%u-%zu", m->seed, d);
    } else if (how == 9 && m->n_dkeys) {
        d = model_rnd(m, m->n_dkeys);
    }
    const char *dk[1] = {d == SIZE_MAX ? NULL : m->dkeys[d]};
    int dup = d != SIZE_MAX && m->dkey_stored[d], covered = model_covers(mr, c);
    int want = dup || covered ? CM_EIGNORE : CM_OK;

    model_name(r, repo, sizeof(repo));
    struct cm_event *ev =
        make_move_raw(repo, model_changes[c].ref, model_changes[c].from, model_changes[c].to);
    ck_assert_ptr_nonnull(ev);
    int rc = m->q->ops->append(m->q, &ev, dk, 1, NULL, &id);
    cm_event_free(ev);
    if (m->trace)
        fprintf(stderr, "seed %u step %d: append %s change %zu delivery %s: %d\n", m->seed, m->step,
                repo, c, dk[0] ? dk[0] : "-", rc);
    ck_assert_msg(rc == want,
                  "seed %u step %d: append of change %zu to %s (delivery %s, %s, %s) gave %d, "
                  "want %d",
                  m->seed, m->step, c, repo, dk[0] ? dk[0] : "none", dup ? "stored before" : "new",
                  covered ? "covered" : "not covered", rc, want);
    if (rc != CM_OK) {
        ck_assert_msg(id == 0, "seed %u step %d: refused append has id %llu", m->seed, m->step,
                      (unsigned long long)id);
        return;
    }
    ck_assert_msg(id > m->last_id, "seed %u step %d: id %llu after %llu", m->seed, m->step,
                  (unsigned long long)id, (unsigned long long)m->last_id);
    m->last_id = id;
    mr->pending[mr->n_pending++] = (struct model_entry){id, c};
    if (d != SIZE_MAX)
        m->dkey_stored[d] = 1;
}

/* Claim whatever is due: any repository with pending entries that no job holds, and all of
 * them, oldest first. */
static void model_claim(struct model *m)
{
    struct cm_job *job = NULL;
    size_t claimable = 0, r;
    char key[40];

    for (r = 0; r < MODEL_REPOS; r++)
        claimable += m->repos[r].n_pending && !m->repos[r].job;
    int rc = m->q->ops->claim(m->q, &job, 0);
    if (m->trace)
        fprintf(stderr, "seed %u step %d: claim: %d %s (%zu ids)\n", m->seed, m->step, rc,
                job ? job->key : "-", job ? job->n_ids : 0);
    if (!claimable) {
        ck_assert_msg(rc == CM_EAGAIN, "seed %u step %d: claim with nothing due gave %d", m->seed,
                      m->step, rc);
        return;
    }
    ck_assert_msg(rc == CM_OK, "seed %u step %d: claim with %zu repositories due gave %d", m->seed,
                  m->step, claimable, rc);
    for (r = 0; r < MODEL_REPOS; r++) {
        snprintf(key, sizeof(key), "gh/acme/m%zu", r);
        if (!strcmp(job->key, key))
            break;
    }
    ck_assert_msg(r < MODEL_REPOS, "seed %u step %d: claimed unknown %s", m->seed, m->step,
                  job->key);
    struct model_repo *mr = &m->repos[r];
    ck_assert_msg(mr->n_pending && !mr->job, "seed %u step %d: claimed %s, which is not due",
                  m->seed, m->step, job->key);
    ck_assert_msg(job->n_ids == mr->n_pending, "seed %u step %d: claim of %s covers %zu, want %zu",
                  m->seed, m->step, job->key, job->n_ids, mr->n_pending);
    for (size_t i = 0; i < job->n_ids; i++)
        ck_assert_msg(job->ids[i] == mr->pending[i].id,
                      "seed %u step %d: claim of %s: id %zu is %llu, want %llu", m->seed, m->step,
                      job->key, i, (unsigned long long)job->ids[i],
                      (unsigned long long)mr->pending[i].id);
    ck_assert_ptr_nonnull(job->event);
    memcpy(mr->claimed, mr->pending, mr->n_pending * sizeof(mr->pending[0]));
    mr->n_claimed = mr->n_pending;
    mr->n_pending = 0;
    mr->job = job;
}

/* Hand back a held job: 'T' retry (due at once), 'D' complete, 'F' give up. */
static void model_hand_back(struct model *m, size_t r, char how)
{
    struct model_repo *mr = &m->repos[r];
    int rc;

    if (how == 'T')
        rc = m->q->ops->retry(m->q, mr->job, (long long)time(NULL), "model: try again");
    else if (how == 'D')
        rc = m->q->ops->complete(m->q, mr->job);
    else
        rc = m->q->ops->give_up(m->q, mr->job, "model: given up");
    if (m->trace)
        fprintf(stderr, "seed %u step %d: %c acme/m%zu: %d\n", m->seed, m->step, how, r, rc);
    ck_assert_msg(rc == CM_OK, "seed %u step %d: hand-back %c of acme/m%zu gave %d", m->seed,
                  m->step, how, r, rc);
    mr->job = NULL;
    if (how == 'T') {
        /* Back ahead of what was appended meanwhile: ids stay in order. */
        memmove(mr->pending + mr->n_claimed, mr->pending, mr->n_pending * sizeof(mr->pending[0]));
        memcpy(mr->pending, mr->claimed, mr->n_claimed * sizeof(mr->claimed[0]));
        mr->n_pending += mr->n_claimed;
    }
    mr->n_claimed = 0;
}

static void model_check(struct model *m)
{
    char repo[32];

    ck_assert_msg(m->q->ops->depth(m->q) == model_depth(m), "seed %u step %d: depth %zu, want %zu",
                  m->seed, m->step, m->q->ops->depth(m->q), model_depth(m));
    for (size_t r = 0; r < MODEL_REPOS; r++) {
        int want = m->repos[r].n_pending + m->repos[r].n_claimed > 0;
        model_name(r, repo, sizeof(repo));
        ck_assert_msg(m->q->ops->queued(m->q, "gh", repo) == want,
                      "seed %u step %d: queued(%s) is not %d", m->seed, m->step, repo, want);
    }
}

static void model_reopen(struct model *m)
{
    if (m->trace)
        fprintf(stderr, "seed %u step %d: reopen\n", m->seed, m->step);
    close_q(m->q);
    m->q = open_q(DAY);
    cm_spool_set_coalesce(m->q, 0);
}

/* One random step among those that make sense now. */
static void model_step(struct model *m)
{
    size_t held[MODEL_REPOS], n_held = 0;

    for (size_t r = 0; r < MODEL_REPOS; r++)
        if (m->repos[r].job)
            held[n_held++] = r;
    for (;;) {
        size_t roll = model_rnd(m, 100);
        if (roll < 45) {
            model_append(m);
        } else if (roll < 65) {
            model_claim(m);
        } else if (roll < 92) {
            if (!n_held)
                continue;
            size_t r = held[model_rnd(m, n_held)];
            model_hand_back(m, r, roll < 77 ? 'T' : roll < 87 ? 'D' : 'F');
        } else {
            if (n_held)
                continue;
            model_reopen(m);
        }
        return;
    }
}

static void model_run(unsigned seed)
{
    struct model *m = calloc(1, sizeof(*m));

    ck_assert_ptr_nonnull(m);
    m->seed = seed;
    m->rng = seed;
    m->trace = getenv("CM_SPOOL_MODEL_TRACE") != NULL;
    snprintf(data_dir, sizeof(data_dir), "%s/var-%u", tdir, seed);
    m->q = open_q(DAY);
    cm_spool_set_coalesce(m->q, 0);
    for (m->step = 0; m->step < MODEL_STEPS; m->step++) {
        model_step(m);
        model_check(m);
    }
    /* Drain: whatever is left is claimed as the model says, and then nothing is. */
    for (size_t r = 0; r < MODEL_REPOS; r++)
        if (m->repos[r].job)
            model_hand_back(m, r, 'D');
    while (model_depth(m)) {
        model_claim(m);
        for (size_t r = 0; r < MODEL_REPOS; r++)
            if (m->repos[r].job)
                model_hand_back(m, r, 'D');
        model_check(m);
    }
    model_claim(m);
    close_q(m->q);
    free(m);
}

START_TEST(covered_model)
{
    static const unsigned seeds[] = {1, 7, 20240607};

    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        model_run(seeds[i]);
}
END_TEST

START_TEST(coalesce_while_claimed)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job, *job2;
    char ref[64], want[41];

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1000, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "refs/heads/b%d", i % 5);
        ck_assert_int_eq(append1(q, "acme/a", ref, (unsigned)i, NULL, NULL), CM_OK);
    }
    ck_assert_uint_eq(q->ops->depth(q), 41);
    /* at most one fetch per repository at a time */
    ck_assert_int_eq(q->ops->claim(q, &job2, 200), CM_EAGAIN);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);

    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_uint_eq(job->n_ids, 40);
    ck_assert_uint_eq(job->event->n_changes, 5);
    for (size_t c = 0; c < 5; c++) {
        /* ref b<c>'s last push was i = 35 + c */
        hex_id(want, (35 + c) * 2 + 1);
        ck_assert_str_eq(cm_event_change_get(job->event, c, CM_CHANGE_NEW), want);
        hex_id(want, c * 2);
        ck_assert_str_eq(cm_event_change_get(job->event, c, CM_CHANGE_OLD), want);
    }
    ck_assert_int_eq(q->ops->claim(q, &job2, 0), CM_EAGAIN);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job2, 0), CM_EAGAIN);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

/* After a repository's sync, its next waits server.sync_coalesce_ms: a burst's webhooks that
 * arrive meanwhile are merged into one job. Other repositories are not held back, and a
 * repository whose queue emptied starts afresh. The rest is long (1 s) against the short
 * claims (100 ms), so a slow machine cannot make the test pass or fail by timing. */
START_TEST(coalesce_rests_after_sync)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job, *other;

    cm_spool_set_coalesce(q, 1000);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK); /* quiet before: at once */
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 2, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    for (unsigned long long n = 3; n < 10; n++)
        ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", n, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 100), CM_EAGAIN); /* resting */
    ck_assert_int_eq(append1(q, "acme/b", "refs/heads/main", 50, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &other, 100), CM_OK); /* another repository: at once */
    ck_assert_str_eq(cm_event_get(other->event, CM_FIELD_REPOSITORY), "acme/b");
    ck_assert_int_eq(q->ops->complete(q, other), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 5000), CM_OK); /* after the rest: all as one */
    ck_assert_str_eq(cm_event_get(job->event, CM_FIELD_REPOSITORY), "acme/a");
    ck_assert_uint_eq(job->n_ids, 8);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

struct claimer {
    struct cm_queue *q;
    struct cm_job *job;
    int rc;
};

static void *claim_thread(void *arg)
{
    struct claimer *c = arg;
    c->rc = c->q->ops->claim(c->q, &c->job, 3000);
    return NULL;
}

START_TEST(two_repos_two_workers)
{
    struct cm_queue *q = open_q(DAY);
    struct claimer c[2] = {{.q = q}, {.q = q}};
    pthread_t t[2];
    struct cm_job *job;

    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, claim_thread, &c[i]), 0);
    usleep(50 * 1000); /* both are waiting before anything is there */
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    ck_assert_int_eq(append1(q, "acme/b", "refs/heads/main", 2, NULL, NULL), CM_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(c[0].rc, CM_OK);
    ck_assert_int_eq(c[1].rc, CM_OK);
    ck_assert_str_ne(c[0].job->key, c[1].job->key);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_EAGAIN);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(q->ops->complete(q, c[i].job), CM_OK);

    /* shutdown wakes a waiting claim with CM_ERROR */
    ck_assert_int_eq(pthread_create(&t[0], NULL, claim_thread, &c[0]), 0);
    usleep(50 * 1000);
    q->ops->shutdown(q);
    pthread_join(t[0], NULL);
    ck_assert_int_eq(c[0].rc, CM_ERROR);
    q->ops->close(q);
}
END_TEST

#define GC_THREADS 8
#define GC_EACH 200

static void *append_thread(void *arg)
{
    struct claimer *c = arg;
    char repo[32];
    snprintf(repo, sizeof(repo), "acme/t%p", (void *)c);
    for (int i = 0; i < GC_EACH; i++)
        if (append1(c->q, repo, "refs/heads/main", (unsigned)i, NULL, NULL) != CM_OK)
            c->rc = CM_ERROR;
    return NULL;
}

START_TEST(group_commit_shares_syncs)
{
    struct cm_queue *q = open_q(DAY);
    struct claimer c[GC_THREADS];
    pthread_t t[GC_THREADS];
    struct cm_spool_stats before, after;

    cm_spool_stats(q, &before);
    for (int i = 0; i < GC_THREADS; i++) {
        c[i] = (struct claimer){.q = q};
        ck_assert_int_eq(pthread_create(&t[i], NULL, append_thread, &c[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(c[i].rc, CM_OK);
    }
    cm_spool_stats(q, &after);
    uint64_t syncs = after.syncs - before.syncs;
    ck_assert_uint_eq(after.appended, GC_THREADS * GC_EACH);
    ck_assert_uint_eq(q->ops->depth(q), GC_THREADS * GC_EACH);
    ck_assert_msg(syncs < GC_THREADS * GC_EACH, "%llu syncs for %d appends",
                  (unsigned long long)syncs, GC_THREADS * GC_EACH);
    close_q(q);
    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), GC_THREADS * GC_EACH);
    close_q(q);
}
END_TEST

START_TEST(torn_tail_is_dropped)
{
    struct cm_queue *q = open_q(DAY);
    char path[256], zeros[300] = {0};
    const char *torn = "97 0badf00d A 4 1700000000 gh/acme%2Fx - {\"provider\":\"git";
    const char *bad_line = "12 00000000 D 1\n";

    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", (unsigned)i, NULL, NULL), CM_OK);
    close_q(q);

    snprintf(path, sizeof(path), "%s/spool/journal", data_dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bad_line, strlen(bad_line)), (ssize_t)strlen(bad_line));
    ck_assert_int_eq(write(fd, zeros, 100), 100);
    ck_assert_int_eq(write(fd, torn, strlen(torn)), (ssize_t)strlen(torn));
    ck_assert_int_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
    close(fd);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 3);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 7, NULL, NULL), CM_OK);
    close_q(q);
    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 4);
    struct cm_job *job;
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_uint_eq(job->n_ids, 4);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

/* RLIMIT_FSIZE makes every write that would grow the journal fail (EFBIG), as a full disk
 * would, without mounting anything. */
START_TEST(full_disk_is_eagain)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_spool_stats st;
    struct rlimit old, lim;
    uint64_t id = 99;

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    cm_spool_stats(q, &st);
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)st.journal_bytes + 10; /* a write may start but not finish */
    /* The limit also binds check's own message file, so no assertion runs while it is set. */
    struct cm_job *job = NULL;
    int rc_set = setrlimit(RLIMIT_FSIZE, &lim);
    int rc_append = append1(q, "acme/b", "refs/heads/main", 2, "gh/full", &id);
    size_t depth = q->ops->depth(q);
    int rc_claim = q->ops->claim(q, &job, 0);
    int rc_retry = job ? q->ops->retry(q, job, 0, "later") : CM_ERROR;
    int rc_reset = setrlimit(RLIMIT_FSIZE, &old);

    ck_assert_int_eq(rc_set, 0);
    ck_assert_int_eq(rc_reset, 0);
    ck_assert_int_eq(rc_append, CM_EAGAIN);
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(depth, 1);
    ck_assert_int_eq(rc_claim, CM_OK);
    ck_assert_int_eq(rc_retry, CM_EAGAIN);

    /* not remembered as a delivery: the host's redelivery is stored */
    ck_assert_int_eq(append1(q, "acme/b", "refs/heads/main", 2, "gh/full", &id), CM_OK);
    ck_assert_uint_gt(id, 0);
    ck_assert_uint_eq(q->ops->depth(q), 2);
    close_q(q);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 2);
    ck_assert_int_eq(append1(q, "acme/b", "refs/heads/main", 2, "gh/full", &id), CM_EIGNORE);
    close_q(q);
}
END_TEST

START_TEST(open_errors_say_what)
{
    struct cm_queue *q = NULL, *q2 = NULL;
    char err[512] = "", path[256];

    snprintf(path, sizeof(path), "%s/file", tdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_ne(cm_spool_open(&q, path, DAY, 0, err, sizeof(err)), CM_OK);
    ck_assert_ptr_null(q);
    ck_assert_ptr_nonnull(strstr(err, path));

    q = open_q(DAY);
    ck_assert_int_ne(cm_spool_open(&q2, data_dir, DAY, 0, err, sizeof(err)), CM_OK);
    ck_assert_ptr_nonnull(strstr(err, "in use"));
    close_q(q);
}
END_TEST

#define K9_THREADS 4

struct k9 {
    struct cm_queue *q;
    int fd, n;
};

static void *k9_thread(void *arg)
{
    struct k9 *k = arg;
    char repo[32];
    snprintf(repo, sizeof(repo), "acme/k%d", k->n);
    for (unsigned i = 0;; i++) {
        uint64_t id;
        if (append1(k->q, repo, "refs/heads/main", i, NULL, &id) != CM_OK)
            _exit(3);
        if (write(k->fd, &id, sizeof(id)) != sizeof(id))
            _exit(4);
    }
    return NULL;
}

START_TEST(kill9_loses_nothing_acknowledged)
{
    int pfd[2];
    uint64_t acked[20000];
    size_t n_acked = 0;

    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct k9 k[K9_THREADS];
        pthread_t t;
        char err[256];
        struct cm_queue *q;
        close(pfd[0]);
        if (cm_spool_open(&q, data_dir, DAY, 0, err, sizeof(err)) != CM_OK)
            _exit(2);
        for (int i = 0; i < K9_THREADS; i++) {
            k[i] = (struct k9){.q = q, .fd = pfd[1], .n = i};
            pthread_create(&t, NULL, k9_thread, &k[i]);
        }
        for (;;)
            pause();
    }
    close(pfd[1]);
    double t0 = now_s();
    while (n_acked < 1500 && now_s() - t0 < 3.0) {
        ssize_t r = read(pfd[0], &acked[n_acked], sizeof(acked[0]));
        ck_assert_int_eq(r, sizeof(acked[0]));
        n_acked++;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
    ssize_t r;
    while (n_acked < 20000 && (r = read(pfd[0], &acked[n_acked], sizeof(acked[0]))) > 0)
        n_acked++;
    close(pfd[0]);
    ck_assert_uint_gt(n_acked, 10);

    struct cm_queue *q = open_q(DAY);
    size_t depth = q->ops->depth(q);
    ck_assert_uint_ge(depth, n_acked);
    uint8_t *seen = calloc(depth + 64, 1);
    struct cm_job *job;
    uint64_t max_id = 0;
    while (q->ops->claim(q, &job, 0) == CM_OK) {
        for (size_t i = 0; i < job->n_ids; i++) {
            ck_assert_uint_lt(job->ids[i], depth + 64);
            seen[job->ids[i]] = 1;
            max_id = job->ids[i] > max_id ? job->ids[i] : max_id;
        }
        ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    }
    for (size_t i = 0; i < n_acked; i++)
        ck_assert_msg(acked[i] < depth + 64 && seen[acked[i]], "acknowledged id %llu lost",
                      (unsigned long long)acked[i]);
    free(seen);
    close_q(q);
}
END_TEST

START_TEST(compaction_keeps_state)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_spool_stats st;
    struct cm_event *evs[100];
    const char *dks[100] = {NULL};
    uint64_t ids[100], id;
    struct cm_job *job;

    ck_assert_int_eq(append1(q, "acme/keep", "refs/heads/main", 1, "gh/keep", &id), CM_OK);
    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < 100; i++) {
            char repo[32];
            snprintf(repo, sizeof(repo), "acme/r%d", i % 7);
            evs[i] = make_event(repo, "refs/heads/main", (unsigned)(round * 100 + i));
        }
        ck_assert_int_eq(q->ops->append(q, evs, dks, 100, NULL, ids), CM_OK);
        for (int i = 0; i < 100; i++)
            cm_event_free(evs[i]);
        struct cm_job *jobs[16];
        size_t n = 0;
        while (n < 16 && q->ops->claim(q, &jobs[n], 0) == CM_OK)
            n++;
        for (size_t j = 0; j < n; j++)
            if (strcmp(jobs[j]->key, "gh/acme/keep"))
                ck_assert_int_eq(q->ops->complete(q, jobs[j]), CM_OK);
            else
                ck_assert_int_eq(q->ops->retry(q, jobs[j], 1, "not yet"), CM_OK);
    }
    cm_spool_stats(q, &st);
    ck_assert_uint_ge(st.compactions, 2);
    ck_assert_uint_lt(st.journal_bytes, 1u << 20);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    ck_assert_int_eq(append1(q, "acme/keep", "refs/heads/main", 1, "gh/keep", &id), CM_EIGNORE);
    close_q(q);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    ck_assert_int_eq(append1(q, "acme/keep", "refs/heads/main", 1, "gh/keep", &id), CM_EIGNORE);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_int_eq(job->attempts, 30);
    ck_assert_str_eq(job->last_error, "not yet");
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

/* --- limits ------------------------------------------------------------------------------ */

/* append1 for endpoint ep, under limits lim. */
static int append_to(struct cm_queue *q, const char *ep, const char *repo, unsigned long long n,
                     const char *dkey, const struct cm_queue_limits *lim)
{
    struct cm_event *ev = make_event(repo, "refs/heads/main", n);
    const char *dk[1] = {dkey};
    uint64_t id;
    int rc;

    cm_event_set(ev, CM_FIELD_ENDPOINT, ep);
    rc = q->ops->append(q, &ev, dk, 1, lim, &id);
    if (rc != CM_OK)
        ck_assert_uint_eq(id, 0);
    cm_event_free(ev);
    return rc;
}

START_TEST(limits_refuse_past_depth)
{
    struct cm_queue *q = open_q(DAY);
    const struct cm_queue_limits lim = {.max_queued = 5, .max_queued_endpoint = 3};
    struct cm_job *job;

    /* Per endpoint: the fourth of "gh" is refused, and says which limit stopped it. */
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(append_to(q, "gh", i ? "acme/a" : "acme/b", i, NULL, &lim), CM_OK);
    ck_assert_int_eq(append_to(q, "gh", "acme/c", 9, NULL, &lim), CM_QUEUE_EFULL_ENDPOINT);
    /* A redelivery of what is stored is still a duplicate, not a refusal. */
    ck_assert_int_eq(append_to(q, "gh", "acme/d", 1, "gh/d1", NULL), CM_OK);
    ck_assert_int_eq(append_to(q, "gh", "acme/d", 1, "gh/d1", &lim), CM_EIGNORE);
    /* Another endpoint still has room, until the whole queue is full. */
    ck_assert_int_eq(append_to(q, "gl", "acme/a", 1, NULL, &lim), CM_OK);
    ck_assert_int_eq(append_to(q, "gl", "acme/a", 2, NULL, &lim), CM_QUEUE_EFULL);
    ck_assert_uint_eq(q->ops->depth(q), 5);
    /* A claimed job still counts; a completed one makes room. */
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_int_eq(append_to(q, "gl", "acme/b", 3, NULL, &lim), CM_QUEUE_EFULL);
    size_t freed = job->n_ids;
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 5 - freed);
    ck_assert_int_eq(append_to(q, "gl", "acme/b", 3, NULL, &lim), CM_OK);
    /* No limits: no refusal. */
    ck_assert_int_eq(append_to(q, "gh", "acme/c", 9, NULL, NULL), CM_OK);
    close_q(q);

    /* Replayed entries count as well. */
    q = open_q(DAY);
    ck_assert_int_eq(append_to(q, "gl", "acme/z", 4, NULL, &lim), CM_QUEUE_EFULL);
    close_q(q);
}
END_TEST

START_TEST(limits_whole_delivery)
{
    struct cm_queue *q = open_q(DAY);
    const struct cm_queue_limits lim = {.max_queued_endpoint = 3};
    struct cm_event *evs[3];
    const char *dks[3] = {NULL, NULL, NULL};
    uint64_t ids[3];

    ck_assert_int_eq(append_to(q, "gh", "acme/a", 1, NULL, &lim), CM_OK);
    for (int i = 0; i < 3; i++)
        evs[i] = make_event(i == 1 ? "acme/b" : "acme/c", "refs/heads/main", (unsigned)i);
    /* Three more would be four: none is stored. */
    ck_assert_int_eq(q->ops->append(q, evs, dks, 3, &lim, ids), CM_QUEUE_EFULL_ENDPOINT);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/b"), 0);
    ck_assert_int_eq(q->ops->append(q, evs, dks, 2, &lim, ids), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 3);
    for (int i = 0; i < 3; i++)
        cm_event_free(evs[i]);
    close_q(q);
}
END_TEST

#define LT_THREADS 8
#define LT_EACH 10
#define LT_LIMIT 25

struct limit_thread {
    struct cm_queue *q;
    int ok, full;
};

static void *limit_append_thread(void *arg)
{
    struct limit_thread *t = arg;
    const struct cm_queue_limits lim = {.max_queued_endpoint = LT_LIMIT};
    char repo[64];

    for (int i = 0; i < LT_EACH; i++) {
        const char *dk[1] = {NULL};
        uint64_t id;
        snprintf(repo, sizeof(repo), "acme/t%p-%d", (void *)t, i);
        struct cm_event *ev = make_event_raw(repo, "refs/heads/main", (unsigned)i);
        int rc = ev ? t->q->ops->append(t->q, &ev, dk, 1, &lim, &id) : CM_ENOMEM;
        t->ok += rc == CM_OK;
        t->full += rc == CM_QUEUE_EFULL_ENDPOINT;
        cm_event_free(ev);
    }
    return NULL;
}

/* Many appends at once pass the limit by none: the check and the store are one step. */
START_TEST(limits_hold_under_concurrency)
{
    struct cm_queue *q = open_q(DAY);
    struct limit_thread c[LT_THREADS];
    pthread_t t[LT_THREADS];
    int ok = 0, full = 0;

    for (int i = 0; i < LT_THREADS; i++) {
        c[i] = (struct limit_thread){.q = q};
        ck_assert_int_eq(pthread_create(&t[i], NULL, limit_append_thread, &c[i]), 0);
    }
    for (int i = 0; i < LT_THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].ok;
        full += c[i].full;
    }
    ck_assert_int_eq(ok, LT_LIMIT);
    ck_assert_int_eq(full, LT_THREADS * LT_EACH - LT_LIMIT);
    ck_assert_uint_eq(q->ops->depth(q), LT_LIMIT);
    close_q(q);
}
END_TEST

START_TEST(queued_tells_known_repositories)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_job *job;

    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/a"), 0);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/a"), 1);
    ck_assert_int_eq(q->ops->queued(q, "gl", "acme/a"), 0);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme"), 0);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/a"), 1); /* being synced */
    ck_assert_int_eq(q->ops->retry(q, job, 0, "later"), CM_OK);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/a"), 1);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/a"), 0);
    close_q(q);
}
END_TEST

/* An event of n refs refs/heads/<prefix>0..n-1 for repository acme/a. */
static struct cm_event *many_refs(const char *prefix, int n, unsigned long long ids)
{
    struct cm_event *ev = make_event("acme/a", "refs/heads/main", ids);
    char ref[64], old_id[41], new_id[41];

    for (int i = 0; i < n; i++) {
        snprintf(ref, sizeof(ref), "refs/heads/%s%d", prefix, i);
        hex_id(old_id, ids * 1000 + (unsigned)i);
        hex_id(new_id, ids * 1000 + (unsigned)i + 500);
        ck_assert_int_eq(cm_event_add_change(ev, ref, old_id, new_id, 0), CM_OK);
    }
    return ev;
}

/* The merged event of a claim lists at most max_refs changes, else none and is incomplete. */
START_TEST(claim_caps_merged_refs)
{
    struct cm_queue *q;
    struct cm_job *job;
    char err[512];
    const char *dk[1] = {NULL};
    uint64_t id;

    for (int round = 0; round < 2; round++) {
        size_t max_refs = round ? 7 : 20;
        ck_assert_int_eq(cm_spool_open(&q, data_dir, DAY, max_refs, err, sizeof(err)), CM_OK);
        for (int k = 0; k < 2; k++) {
            struct cm_event *ev = many_refs(k ? "x" : "y", 5, (unsigned)k + 1);
            ck_assert_int_eq(q->ops->append(q, &ev, dk, 1, NULL, &id), CM_OK);
            cm_event_free(ev);
        }
        ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
        /* main plus five x and five y: 11 refs. */
        ck_assert_uint_eq(job->event->n_changes, round ? 0 : 11);
        ck_assert_int_eq(job->event->complete, !round);
        ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
        close_q(q);
    }
    /* A single entry past the cap (stored under a larger one) is capped too. */
    ck_assert_int_eq(cm_spool_open(&q, data_dir, DAY, 0, err, sizeof(err)), CM_OK);
    struct cm_event *ev = many_refs("z", 9, 3);
    ck_assert_int_eq(q->ops->append(q, &ev, dk, 1, NULL, &id), CM_OK);
    cm_event_free(ev);
    close_q(q);
    ck_assert_int_eq(cm_spool_open(&q, data_dir, DAY, 4, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_uint_eq(job->event->n_changes, 0);
    ck_assert_int_eq(job->event->complete, 0);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

/* --- faults: a poisoned record, a failed directory fsync --------------------------------- */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* A record whose checksum is right but whose event is not (written with the spool's own record
 * writer): claim hands it out alone as unreadable, give_up records it in failed.log, and the
 * repository's good entries, older and newer, are claimed next. Before, claim handed the
 * entries back untouched and every worker stopped on it in turn. */
START_TEST(poisoned_record_is_given_up)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_buf rec = {0};
    struct cm_job *job;
    char path[256];
    uint64_t id;

    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, &id), CM_OK);
    ck_assert_uint_eq(id, 1);
    close_q(q);
    ck_assert_int_eq(cm_spool_rec_accept(&rec, 2, (long long)time(NULL), "gh/acme/a", NULL,
                                         "{\"endpoint\":\"gh\",\"repository\":\"acme/a\","
                                         "\"changes\":\"oops\"}"),
                     CM_OK);
    snprintf(path, sizeof(path), "%s/spool/journal", data_dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, rec.p, rec.len), (ssize_t)rec.len);
    close(fd);
    free(rec.p);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 2);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 3, NULL, &id), CM_OK);
    ck_assert_uint_eq(id, 3);
    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_QUEUE_EUNREADABLE);
    ck_assert_ptr_null(job->event);
    ck_assert_uint_eq(job->n_ids, 1);
    ck_assert_uint_eq(job->ids[0], 2);
    ck_assert_ptr_nonnull(strstr(job->last_error, "\"changes\" is not an array"));
    /* Held while unreadable: the good entries wait for the give-up, not for a retry time. */
    struct cm_job *other;
    ck_assert_int_eq(q->ops->claim(q, &other, 0), CM_EAGAIN);
    /* Pending again (no sync of them started), they cover replays again. */
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 1, NULL, &id), CM_EIGNORE);
    ck_assert_int_eq(append1(q, "acme/a", "refs/heads/main", 3, NULL, &id), CM_EIGNORE);
    ck_assert_int_eq(q->ops->give_up(q, job, job->last_error), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 2);

    ck_assert_int_eq(q->ops->claim(q, &job, 0), CM_OK);
    ck_assert_ptr_nonnull(job->event);
    ck_assert_uint_eq(job->n_ids, 2);
    ck_assert_uint_eq(job->ids[0], 1);
    ck_assert_uint_eq(job->ids[1], 3);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);

    snprintf(path, sizeof(path), "%s/spool/failed.log", data_dir);
    char *log = read_all(path);
    ck_assert_ptr_nonnull(strstr(log, "\"id\":2,"));
    ck_assert_ptr_nonnull(strstr(log, "does not read back as an event"));
    ck_assert_ptr_null(strstr(log, "\"id\":1,"));
    free(log);
    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

static int dir_fsync_fail, dir_fsync_calls;

static int failing_dir_fsync(int fd)
{
    dir_fsync_calls++;
    if (dir_fsync_fail) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

/* A compaction that cannot write journal.new (here a directory stands in its way, as a full
 * disk would) leaves the journal as it was: appends go on being acknowledged into it, the
 * compaction is tried again later, and a reopen finds every acknowledged entry. */
START_TEST(rewrite_failure_keeps_old_journal)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_event *evs[100];
    const char *dks[100] = {NULL};
    size_t n_acked = 0;
    uint64_t ids[100];
    struct cm_spool_stats st, st0;
    char path[256];

    cm_spool_stats(q, &st0); /* opening compacts once */
    snprintf(path, sizeof(path), "%s/spool/journal.new", data_dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    for (int round = 0; round < 80; round++) {
        if (round == 60) { /* the way is clear again: the next compaction goes through */
            cm_spool_stats(q, &st);
            ck_assert_uint_eq(st.compactions, st0.compactions);
            ck_assert_uint_gt(st.journal_bytes, 4 * st0.journal_bytes + 1);
            ck_assert_int_eq(rmdir(path), 0);
        }
        for (int i = 0; i < 100; i++) {
            char repo[32];
            snprintf(repo, sizeof(repo), "acme/r%d", i % 7);
            evs[i] = make_event(repo, "refs/heads/main", (unsigned)(round * 100 + i));
        }
        ck_assert_int_eq(q->ops->append(q, evs, dks, 100, NULL, ids), CM_OK);
        for (int i = 0; i < 100; i++)
            cm_event_free(evs[i]);
        n_acked += 100;
    }
    cm_spool_stats(q, &st);
    ck_assert_uint_gt(st.compactions, st0.compactions);
    close_q(q);

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), n_acked);
    close_q(q);
}
END_TEST

/* A compaction whose rename is done but whose directory fsync fails: the renamed file is the
 * journal from then on. Commits are refused until the directory fsync works again, then go
 * to that file, and a reopen finds every acknowledged entry. Before, the spool kept writing
 * into the old, unlinked file and lost every later entry at restart. */
START_TEST(dir_fsync_failure_keeps_new_journal)
{
    struct cm_queue *q = open_q(DAY);
    struct cm_event *evs[100];
    const char *dks[100] = {NULL};
    size_t cap = 16384, n_acked = 0;
    uint64_t *acked = calloc(cap, sizeof(*acked)), ids[100], id;
    struct cm_spool_stats st;
    struct stat fst;
    char path[256];
    int round;

    ck_assert_ptr_nonnull(acked);
    cm_spool_dir_fsync = failing_dir_fsync;
    dir_fsync_fail = 1;
    for (round = 0; round < 60 && !dir_fsync_calls; round++) {
        for (int i = 0; i < 100; i++) {
            char repo[32];
            snprintf(repo, sizeof(repo), "acme/r%d", i % 7);
            evs[i] = make_event(repo, "refs/heads/main", (unsigned)(round * 100 + i));
        }
        ck_assert_int_eq(q->ops->append(q, evs, dks, 100, NULL, ids), CM_OK);
        for (int i = 0; i < 100; i++) {
            cm_event_free(evs[i]);
            acked[n_acked++] = ids[i];
        }
    }
    ck_assert_msg(dir_fsync_calls > 0, "no compaction after %d rounds", round);
    cm_spool_stats(q, &st);
    ck_assert_uint_eq(st.compactions, 2);

    /* Not durable while the rename may still be undone by a crash: nothing acknowledged. */
    ck_assert_int_eq(append1(q, "acme/late", "refs/heads/main", 1, NULL, &id), CM_EAGAIN);
    dir_fsync_fail = 0;
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(append1(q, "acme/late", "refs/heads/main", 10 + i, NULL, &id), CM_OK);
        acked[n_acked++] = id;
    }
    snprintf(path, sizeof(path), "%s/spool/journal", data_dir);
    cm_spool_stats(q, &st);
    ck_assert_int_eq(stat(path, &fst), 0);
    ck_assert_uint_eq((uint64_t)fst.st_size, st.journal_bytes);
    close_q(q);
    cm_spool_dir_fsync = fsync;

    q = open_q(DAY);
    ck_assert_uint_eq(q->ops->depth(q), n_acked);
    size_t found = 0;
    struct cm_job *job;
    unsigned char *seen = calloc(n_acked + 2, 1);
    ck_assert_ptr_nonnull(seen);
    while (q->ops->claim(q, &job, 0) == CM_OK) {
        for (size_t i = 0; i < job->n_ids; i++)
            if (job->ids[i] <= n_acked + 1 && !seen[job->ids[i]]++)
                found++;
        ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    }
    for (size_t i = 0; i < n_acked; i++)
        ck_assert_msg(acked[i] <= n_acked + 1 && seen[acked[i]], "acknowledged id %llu lost",
                      (unsigned long long)acked[i]);
    ck_assert_uint_eq(found, n_acked);
    free(seen);
    free(acked);
    close_q(q);
}
END_TEST

static Suite *spool_suite(void)
{
    Suite *s = suite_create("spool");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"reopen", reopen_keeps_pending},
        {"complete", complete_is_durable},
        {"retry", retry_waits_for_its_time},
        {"give_up", give_up_records_failure},
        {"dedupe", dedupe_window},
        {"replay", replay_covered},
        {"replay_reopen", replay_covered_after_reopen},
        {"claimed_covers_nothing", claimed_covers_nothing},
        {"covered_model", covered_model},
        {"coalesce", coalesce_while_claimed},
        {"workers", two_repos_two_workers},
        {"group_commit", group_commit_shares_syncs},
        {"coalesce_rest", coalesce_rests_after_sync},
        {"torn_tail", torn_tail_is_dropped},
        {"full_disk", full_disk_is_eagain},
        {"open_errors", open_errors_say_what},
        {"kill9", kill9_loses_nothing_acknowledged},
        {"compaction", compaction_keeps_state},
        {"limits", limits_refuse_past_depth},
        {"limits_whole", limits_whole_delivery},
        {"limits_concurrent", limits_hold_under_concurrency},
        {"queued", queued_tells_known_repositories},
        {"claim_caps_refs", claim_caps_merged_refs},
        {"poisoned_record", poisoned_record_is_given_up},
        {"dir_fsync_failure", dir_fsync_failure_keeps_new_journal},
        {"rewrite_failure", rewrite_failure_keeps_old_journal},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spool_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
