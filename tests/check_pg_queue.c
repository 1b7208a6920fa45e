/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL queue against a real server this test starts (tests/pg_server.sh: initdb,
 * Unix socket only): migrations, accept and dedupe, coalescing, the fence that stops a node
 * whose lease was taken over, retry and give-up, limits, unreadable entries, two nodes
 * sharing one burst, and a database that goes away and comes back.
 */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cargoman/plugin.h>

#include "intake/event.h"
#include "plugin/gateway.h"
#include "plugin/shared_dir.h"
#include "queue/pg_conn.h"
#include "queue/pg_queue.h"
#include "queue/queue.h"
#include "sync/shared_state.h"
#include "test_paths.h"
#include "util/fsutil.h"

static char pg_dir[128];
static char conninfo[512];
static pid_t server_owner; /* check forks per test: only the process that started it stops it */

static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message; /* "drop cascades to ...": the reset's notices, not news */
}

/* Run sql on a connection of the test's own; the first value of the first row into out. */
static void sql(const char *q, char *out, size_t outlen)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r;

    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    r = PQexec(c, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", q, PQresultErrorMessage(r));
    if (out)
        snprintf(out, outlen, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

static long long sql_int(const char *q)
{
    char v[64];
    sql(q, v, sizeof(v));
    return atoll(v);
}

static void pg_ctl(const char *cmd)
{
    char line[512];
    snprintf(line, sizeof(line), "%s/tests/pg_server.sh %s %s >/dev/null", cm_test_srcdir(), cmd,
             pg_dir);
    ck_assert_int_eq(system(line), 0);
}

/* Every test starts from an empty database with the schema migrated. */
static void setup(void)
{
    char err[256];
    int from, to;

    sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public", NULL, 0);
    ck_assert_int_eq(cm_pg_queue_migrate(conninfo, 5000, &from, &to, err, sizeof(err)), CM_OK);
}

static struct cm_queue *open_q(int lease, int coalesce_ms)
{
    struct cm_pg_options o = {.conninfo = conninfo,
                              .connections = 4,
                              .timeout_ms = 3000,
                              .lease_seconds = lease,
                              .coalesce_ms = coalesce_ms,
                              .dedupe_max_age = 86400,
                              .failed_max_age = 86400,
                              .max_refs = 100};
    struct cm_queue *q;
    char err[256];

    ck_assert_msg(cm_pg_queue_open(&q, &o, err, sizeof(err)) == CM_OK, "open: %s", err);
    return q;
}

static void close_q(struct cm_queue *q)
{
    q->ops->shutdown(q);
    q->ops->close(q);
}

static struct cm_event *make_event(const char *repo, const char *ref, unsigned long long n)
{
    struct cm_event *ev;
    char old_id[41], new_id[41];

    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    cm_event_set(ev, CM_FIELD_PROVIDER, "github");
    cm_event_set(ev, CM_FIELD_ENDPOINT, "gh");
    cm_event_set(ev, CM_FIELD_REPOSITORY, repo);
    cm_event_set(ev, CM_FIELD_CLONE_URL_HTTP, "https://github.com/acme/lib.git");
    snprintf(old_id, sizeof(old_id), "%040llx", n * 2 + 1);
    snprintf(new_id, sizeof(new_id), "%040llx", n * 2 + 2);
    ck_assert_int_eq(cm_event_add_change(ev, ref, old_id, new_id, 0), CM_OK);
    return ev;
}

static int append1(struct cm_queue *q, const char *repo, unsigned long long n, const char *dkey,
                   const struct cm_queue_limits *lim, uint64_t *id)
{
    struct cm_event *ev = make_event(repo, "refs/heads/main", n);
    const char *dk[1] = {dkey};
    uint64_t tmp;
    int rc = q->ops->append(q, &ev, dk, 1, lim, id ? id : &tmp);
    cm_event_free(ev);
    return rc;
}

START_TEST(migrate_is_versioned)
{
    char err[256];
    int from, to;
    struct cm_queue *q;
    struct cm_pg_options o = {.conninfo = conninfo, .timeout_ms = 3000, .lease_seconds = 5};

    ck_assert_int_eq(cm_pg_queue_migrate(conninfo, 5000, &from, &to, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(from, to); /* setup migrated: nothing left to do */
    sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public", NULL, 0);
    /* A gateway refuses a database without its schema, and says what to run. */
    ck_assert_int_eq(cm_pg_queue_open(&q, &o, err, sizeof(err)), CM_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "cargoman db migrate"));
    ck_assert_int_eq(cm_pg_queue_migrate(conninfo, 5000, &from, &to, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(from, 0);
    ck_assert_int_gt(to, 0);
    /* A database migrated by a newer gateway is refused too. */
    sql("INSERT INTO cargoman_schema (version) VALUES (999)", NULL, 0);
    ck_assert_int_eq(cm_pg_queue_open(&q, &o, err, sizeof(err)), CM_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "newer"));
    ck_assert_int_eq(cm_pg_queue_migrate(conninfo, 5000, &from, &to, err, sizeof(err)), CM_EINVAL);
}
END_TEST

START_TEST(accept_claim_complete)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job;
    uint64_t id;

    ck_assert_int_eq(append1(q, "acme/a", 1, "gh/d1#0", NULL, &id), CM_OK);
    ck_assert_uint_gt(id, 0);
    /* The same delivery again is a duplicate, and stores nothing. */
    ck_assert_int_eq(append1(q, "acme/a", 2, "gh/d1#0", NULL, &id), CM_EIGNORE);
    ck_assert_uint_eq(id, 0);
    /* The same push under another delivery id while the first waits: covered. */
    ck_assert_int_eq(append1(q, "acme/a", 1, "gh/d2#0", NULL, &id), CM_EIGNORE);
    ck_assert_uint_eq(q->ops->depth(q), 1);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/a"), 1);
    ck_assert_int_eq(q->ops->queued(q, "gh", "acme/b"), 0);

    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_str_eq(job->key, "gh/acme/a");
    ck_assert_uint_eq(job->n_ids, 1);
    ck_assert_ptr_nonnull(job->event);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_jobs WHERE state = 'claimed'"), 1);
    /* Nothing else is due: a claim waits out its timeout. */
    struct cm_job *none;
    ck_assert_int_eq(q->ops->claim(q, &none, 100), CM_EAGAIN);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_entries"), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_jobs WHERE state = 'idle'"), 1);
    /* The delivery id outlives its entry: a late redelivery is still a duplicate. */
    ck_assert_int_eq(append1(q, "acme/a", 3, "gh/d1#0", NULL, &id), CM_EIGNORE);
    close_q(q);
}
END_TEST

START_TEST(coalesce_while_claimed)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job, *next;

    for (unsigned i = 0; i < 5; i++)
        ck_assert_int_eq(append1(q, "acme/a", i, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_uint_eq(job->n_ids, 5);
    /* Arrives during the sync: not in this job, and the row is pending again after it. */
    ck_assert_int_eq(append1(q, "acme/a", 10, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &next, 100), CM_EAGAIN); /* one sync per repository */
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &next, 2000), CM_OK);
    ck_assert_uint_eq(next->n_ids, 1);
    ck_assert_int_eq(q->ops->complete(q, next), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

START_TEST(fence_stops_a_node_that_lost_its_lease)
{
    struct cm_queue *a = open_q(3, 0), *b = open_q(3, 0);
    struct cm_job *ja, *jb;

    ck_assert_int_eq(append1(a, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(a->ops->claim(a, &ja, 2000), CM_OK);
    /* Node a stalls past its lease (cut off from the database, its renewals do not arrive):
     * a reaper returns the row, as here, and b claims it under a new fence. */
    sql("UPDATE cargoman_jobs SET state = 'pending', lease_until = NULL, node = NULL", NULL, 0);
    ck_assert_int_eq(b->ops->claim(b, &jb, 10000), CM_OK);
    ck_assert_str_eq(jb->key, "gh/acme/a");
    /* a comes back and completes: refused, and nothing it did sticks. */
    ck_assert_int_eq(a->ops->complete(a, ja), CM_EAGAIN);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_entries"), 1);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_jobs WHERE state = 'claimed'"), 1);
    ck_assert_int_eq(b->ops->complete(b, jb), CM_OK);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_entries"), 0);
    close_q(a);
    close_q(b);
}
END_TEST

START_TEST(lease_is_renewed_while_held)
{
    struct cm_queue *a = open_q(2, 0), *b = open_q(2, 0);
    struct cm_job *ja, *jb;

    ck_assert_int_eq(append1(a, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(a->ops->claim(a, &ja, 2000), CM_OK);
    /* Longer than the lease: a's keeper renews it, so b gets nothing. */
    ck_assert_int_eq(b->ops->claim(b, &jb, 4000), CM_EAGAIN);
    ck_assert_int_eq(a->ops->complete(a, ja), CM_OK);
    close_q(a);
    close_q(b);
}
END_TEST

START_TEST(dead_node_is_taken_over)
{
    struct cm_queue *a = open_q(2, 0), *b = open_q(2, 0);
    struct cm_job *ja, *jb;

    ck_assert_int_eq(append1(a, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(a->ops->claim(a, &ja, 2000), CM_OK);
    /* a dies holding the job: no hand-back, no more renewals. */
    close_q(a);
    cm_job_free(ja);
    ck_assert_int_eq(b->ops->claim(b, &jb, 10000), CM_OK);
    ck_assert_uint_eq(jb->n_ids, 1);
    ck_assert_int_eq(b->ops->complete(b, jb), CM_OK);
    close_q(b);
}
END_TEST

START_TEST(retry_and_give_up)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job;

    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_int_eq(q->ops->retry(q, job, (long long)time(NULL) + 2, "host down"), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 200), CM_EAGAIN); /* not before its time */
    ck_assert_int_eq(q->ops->claim(q, &job, 5000), CM_OK);
    ck_assert_int_eq(job->attempts, 1);
    ck_assert_str_eq(job->last_error, "host down");
    ck_assert_int_eq(q->ops->give_up(q, job, "gone for good"), CM_OK);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_entries"), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_failed WHERE error = 'gone for good'"),
                     1);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

START_TEST(limits_refuse_past_depth)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_queue_limits lim = {.max_queued = 3, .max_queued_endpoint = 2};

    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, &lim, NULL), CM_OK);
    ck_assert_int_eq(append1(q, "acme/b", 2, NULL, &lim, NULL), CM_OK);
    ck_assert_int_eq(append1(q, "acme/c", 3, NULL, &lim, NULL), CM_QUEUE_EFULL_ENDPOINT);
    lim.max_queued_endpoint = 0;
    lim.max_queued = 2;
    ck_assert_int_eq(append1(q, "acme/c", 3, "gh/x#0", &lim, NULL), CM_QUEUE_EFULL);
    /* Refused whole: its delivery id was not kept either. */
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_deliveries"), 0);
    ck_assert_uint_eq(q->ops->depth(q), 2);
    close_q(q);
}
END_TEST

START_TEST(unreadable_entry_is_given_up_alone)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job;

    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    sql("INSERT INTO cargoman_entries (repo_key, seq, changes, event) "
        "VALUES ('gh/acme/a', 1, 'x', '{not json')",
        NULL, 0);
    sql("UPDATE cargoman_jobs SET queued = queued + 1", NULL, 0);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_QUEUE_EUNREADABLE);
    ck_assert_ptr_null(job->event);
    ck_assert_uint_eq(job->n_ids, 1);
    ck_assert_ptr_nonnull(strstr(job->last_error, "does not read back"));
    ck_assert_int_eq(q->ops->give_up(q, job, job->last_error), CM_OK);
    /* The good entry is claimed next. */
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_ptr_nonnull(job->event);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_uint_eq(q->ops->depth(q), 0);
    close_q(q);
}
END_TEST

/* --- two nodes, one burst --------------------------------------------------------------- */

struct node_worker {
    struct cm_queue *q;
    int claims;
    size_t ids;
    volatile int *stop;
};

static void *worker(void *arg)
{
    struct node_worker *w = arg;
    struct cm_job *job;

    while (!*w->stop) {
        if (w->q->ops->claim(w->q, &job, 200) != CM_OK)
            continue;
        w->claims++;
        w->ids += job->n_ids;
        usleep(20000); /* a fetch */
        ck_assert_int_eq(w->q->ops->complete(w->q, job), CM_OK);
    }
    return NULL;
}

START_TEST(two_nodes_share_a_burst)
{
    struct cm_queue *a = open_q(10, 200), *b = open_q(10, 200);
    volatile int stop = 0;
    struct node_worker wa = {a, 0, 0, &stop}, wb = {b, 0, 0, &stop};
    pthread_t ta, tb;
    char dk[64];

    pthread_create(&ta, NULL, worker, &wa);
    pthread_create(&tb, NULL, worker, &wb);
    for (unsigned i = 0; i < 200; i++) {
        snprintf(dk, sizeof(dk), "gh/burst-%u#0", i);
        ck_assert_int_eq(append1(i % 2 ? a : b, "acme/burst", i, dk, NULL, NULL), CM_OK);
    }
    for (int i = 0; i < 100 && (a->ops->depth(a) > 0); i++)
        usleep(100000);
    stop = 1;
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_uint_eq(a->ops->depth(a), 0);
    /* Every entry synced exactly once, in a few coalesced jobs. */
    ck_assert_uint_eq(wa.ids + wb.ids, 200);
    ck_assert_int_le(wa.claims + wb.claims, 20);
    close_q(a);
    close_q(b);
}
END_TEST

START_TEST(database_away_is_eagain_then_recovers)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job;

    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    pg_ctl("kill");
    /* Nothing can be committed: the caller answers 503. */
    ck_assert_int_eq(append1(q, "acme/a", 2, NULL, NULL, NULL), CM_EAGAIN);
    ck_assert_int_eq(q->ops->claim(q, &job, 300), CM_EAGAIN);
    pg_ctl("restart");
    ck_assert_int_eq(append1(q, "acme/a", 3, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 5000), CM_OK);
    ck_assert_uint_eq(job->n_ids, 2); /* the one accepted before, and the one after */
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

/* --- review: findings that fail today --------------------------------------------------- */

/* An event with the given change of refs/heads/main (ids are small hex numbers). */
static int append_change(struct cm_queue *q, const char *repo, unsigned old_n, unsigned new_n,
                         const char *dkey)
{
    struct cm_event *ev;
    char old_id[41], new_id[41];
    const char *dk[1] = {dkey};
    uint64_t id;
    int rc;

    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    cm_event_set(ev, CM_FIELD_PROVIDER, "github");
    cm_event_set(ev, CM_FIELD_ENDPOINT, "gh");
    cm_event_set(ev, CM_FIELD_REPOSITORY, repo);
    cm_event_set(ev, CM_FIELD_CLONE_URL_HTTP, "https://github.com/acme/lib.git");
    snprintf(old_id, sizeof(old_id), "%040x", old_n);
    snprintf(new_id, sizeof(new_id), "%040x", new_n);
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/main", old_id, new_id, 0), CM_OK);
    rc = q->ops->append(q, &ev, dk, 1, NULL, &id);
    cm_event_free(ev);
    return rc;
}

/* main goes 1 -> 2, back to 1 (a force-push), and both are claimed in one sync; then 1 -> 2
 * again. The sync may have fetched between the second and third push (main at 1), so the third
 * is not covered by the first entry any more: skipping it as a duplicate leaves the mirror at
 * 1 for good while the host has 2. Only entries no sync has claimed yet may cover an event. */
START_TEST(push_after_claim_is_not_covered_by_a_claimed_entry)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job, *next;

    ck_assert_int_eq(append_change(q, "acme/a", 1, 2, "gh/p1#0"), CM_OK);
    ck_assert_int_eq(append_change(q, "acme/a", 2, 1, "gh/p2#0"), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_uint_eq(job->n_ids, 2);
    /* The third push, during the sync (its fetch may already be done). */
    ck_assert_int_eq(append_change(q, "acme/a", 1, 2, "gh/p3#0"), CM_OK);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &next, 2000), CM_OK); /* one more sync, which sees 2 */
    ck_assert_int_eq(q->ops->complete(q, next), CM_OK);
    close_q(q);
}
END_TEST

struct racing_append {
    struct cm_queue *q;
    const char *repo;
    const struct cm_queue_limits *lim;
    int rc;
    volatile int done;
};

static void *racing_append(void *arg)
{
    struct racing_append *a = arg;
    a->rc = append1(a->q, a->repo, a->repo[5], NULL, a->lim, NULL);
    a->done = 1;
    return NULL;
}

/* queue.h: "concurrent appends cannot together pass a limit: the check and the store are one
 * step". Under READ COMMITTED each append's sum(queued) misses the other's uncommitted rows,
 * so two nodes appending at once both pass max_queued = 1. A deferred trigger holds node a's
 * COMMIT (after its check) until node b has appended. */
START_TEST(limits_hold_across_nodes_appending_at_once)
{
    struct cm_queue *a = open_q(10, 0), *b = open_q(10, 0);
    struct cm_queue_limits lim = {.max_queued = 1};
    struct racing_append ra = {a, "acme/a", &lim, 0, 0}, rb = {b, "acme/b", &lim, 0, 0};
    PGconn *gate = PQconnectdb(conninfo);
    pthread_t ta, tb;
    PGresult *r;

    sql("CREATE FUNCTION cm_gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.repo_key = 'gh/acme/a' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;"
        " RETURN NULL; END $$;"
        "CREATE CONSTRAINT TRIGGER cm_gate AFTER INSERT ON cargoman_entries"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cm_gate()",
        NULL, 0);
    ck_assert_int_eq(PQstatus(gate), CONNECTION_OK);
    r = PQexec(gate, "SELECT pg_advisory_lock(4242)");
    PQclear(r);
    pthread_create(&ta, NULL, racing_append, &ra);
    /* a has checked the limit and waits in its COMMIT. */
    while (!ra.done && sql_int("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                               "'Lock' AND query = 'COMMIT'") < 1)
        usleep(10000);
    pthread_create(&tb, NULL, racing_append, &rb);
    /* b is done, or waits for a (a backend that serialises the limit check). */
    while (!rb.done &&
           sql_int("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") < 2)
        usleep(10000);
    r = PQexec(gate, "SELECT pg_advisory_unlock(4242)");
    PQclear(r);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    PQfinish(gate);
    ck_assert_int_le(sql_int("SELECT coalesce(sum(queued), 0) FROM cargoman_jobs"), 1);
    ck_assert_int_le(sql_int("SELECT count(*) FROM cargoman_entries"), 1);
    ck_assert(ra.rc == CM_QUEUE_EFULL || rb.rc == CM_QUEUE_EFULL);
    close_q(a);
    close_q(b);
}
END_TEST

/* A sync that never hands back (the node died in it: a repository whose fetch crashes or
 * hangs the daemon) is not counted: the reaper returns the row with attempts unchanged and
 * run_at in the past, so every node in turn takes the poison repository at once, for ever;
 * the worker's give-up by attempts or sync_max_age never runs because no worker survives to
 * hand it back. The reaped claim must count as a failed attempt and say so. */
START_TEST(reaped_claim_counts_as_an_attempt)
{
    struct cm_queue *a = open_q(2, 0), *b = open_q(2, 0);
    struct cm_job *ja, *jb;

    ck_assert_int_eq(append1(a, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(a->ops->claim(a, &ja, 2000), CM_OK);
    close_q(a); /* dies mid-sync */
    cm_job_free(ja);
    ck_assert_int_eq(b->ops->claim(b, &jb, 20000), CM_OK);
    ck_assert_int_eq(jb->attempts, 1);
    ck_assert_ptr_nonnull(jb->last_error);
    ck_assert_int_eq(b->ops->complete(b, jb), CM_OK);
    close_q(b);
}
END_TEST

struct racing_claim {
    struct cm_queue *q;
    struct cm_job *job;
    int rc;
};

static void *racing_claim(void *arg)
{
    struct racing_claim *c = arg;
    c->rc = c->q->ops->claim(c->q, &c->job, 5000);
    return NULL;
}

static void wait_for_lock_waiter(const char *query_like)
{
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE "
             "'%s'",
             query_like);
    while (sql_int(q) < 1)
        usleep(10000);
}

/* A claimed row whose entries are gone (an operator removed a poison entry by hand) is made
 * idle/pending by pgq_idle with queued = 0, though an append that came during the claim left
 * an entry: queued now counts one less than there are entries. The next completion takes
 * queued below 0 (CHECK fails), so it is refused, the lease runs out, and the repository is
 * synced again and refused again, for ever. */
START_TEST(claim_of_a_row_without_entries_keeps_queued_true)
{
    struct cm_queue *a = open_q(10, 0);
    struct racing_claim rc = {a, NULL, 0};
    PGconn *gate = PQconnectdb(conninfo);
    pthread_t tc;
    PGresult *r;

    ck_assert_int_eq(append1(a, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    sql("CREATE TABLE saved AS SELECT * FROM cargoman_entries;"
        "DELETE FROM cargoman_entries; UPDATE cargoman_jobs SET queued = 0",
        NULL, 0);
    ck_assert_int_eq(PQstatus(gate), CONNECTION_OK);
    r = PQexec(gate, "BEGIN; LOCK TABLE cargoman_entries IN ACCESS EXCLUSIVE MODE");
    PQclear(r);
    pthread_create(&tc, NULL, racing_claim, &rc);
    wait_for_lock_waiter("SELECT id, event%"); /* claimed, reading its entries */
    /* Another node's append commits meanwhile, as pgq_append_sql does it. */
    r = PQexec(gate, "UPDATE cargoman_jobs SET dirty_seq = dirty_seq + 1, queued = queued + 1;"
                     "INSERT INTO cargoman_entries (repo_key, seq, changes, event)"
                     " SELECT repo_key, 2, changes, event FROM saved; COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    pthread_join(tc, NULL);
    PQfinish(gate);
    ck_assert_int_eq(sql_int("SELECT queued FROM cargoman_jobs"),
                     sql_int("SELECT count(*) FROM cargoman_entries"));
    ck_assert_int_eq(rc.rc, CM_OK);
    ck_assert_int_eq(a->ops->complete(a, rc.job), CM_OK);
    close_q(a);
}
END_TEST

/* How many claim statements the server has run (log_statement = 'all' in server.log). */
static long count_claims(void)
{
    char path[256], line[4096];
    long n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/server.log", pg_dir);
    ck_assert_ptr_nonnull(f = fopen(path, "r"));
    while (fgets(line, sizeof(line), f))
        n += strstr(line, "FOR UPDATE SKIP LOCKED") != NULL;
    fclose(f);
    return n;
}

/* While the only due row is locked (another node's append between its upsert and its
 * COMMIT, which may take up to timeout_ms when the database is slow), the claim finds nothing,
 * pgq_next_sql answers a negative wait (the row's run_at is past) and pgq_try_claim clamps it
 * to 1 ms: every idle worker of every node asks the database about a thousand times a second,
 * exactly when it is slow. A wait of one second should cost a few claims, not hundreds. */
START_TEST(claim_does_not_spin_on_a_locked_due_row)
{
    struct cm_queue *q = open_q(10, 0);
    PGconn *gate = PQconnectdb(conninfo);
    struct cm_job *job;
    PGresult *r;
    long before;

    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    sql("ALTER SYSTEM SET log_statement = 'all'", NULL, 0);
    sql("SELECT pg_reload_conf()", NULL, 0);
    usleep(200000); /* the reload reaches the backends at their next command */
    r = PQexec(gate, "BEGIN; SELECT 1 FROM cargoman_jobs FOR UPDATE");
    PQclear(r);
    before = count_claims();
    ck_assert_int_eq(q->ops->claim(q, &job, 1000), CM_EAGAIN);
    long claims = count_claims() - before;
    r = PQexec(gate, "ROLLBACK");
    PQclear(r);
    PQfinish(gate);
    sql("ALTER SYSTEM RESET log_statement", NULL, 0);
    sql("SELECT pg_reload_conf()", NULL, 0);
    ck_assert_int_le(claims, 20);
    close_q(q);
}
END_TEST

/* Send sig to the server and its backends (SIGSTOP: a server that hangs, or a route that
 * drops every packet; SIGCONT: back). */
static void signal_server(const char *sig)
{
    char line[512];
    snprintf(line, sizeof(line),
             "p=$(head -n1 %s/data/postmaster.pid) && kill -%s $p $(pgrep -P $p) 2>/dev/null",
             pg_dir, sig);
    ck_assert_int_eq(system(line), 0);
}

/* pg_conn.c says no call waits longer than its deadline. But when a statement runs out of
 * time, pc_break calls PQcancel, which connects to the server and waits for it to hang up
 * with no deadline at all: against a server that hangs (or a route that drops packets: the
 * kernel's connect timeout, minutes) the intake thread holding the pool connection, the
 * keeper, and shutdown wait as long as the server does. Here an append with a 1 s timeout
 * has not returned 15 s later, until the server is resumed. */
START_TEST(statement_timeout_is_a_deadline_when_the_server_hangs)
{
    struct cm_pg_options o = {.conninfo = conninfo,
                              .connections = 2,
                              .timeout_ms = 1000,
                              .lease_seconds = 10,
                              .dedupe_max_age = 86400};
    struct cm_queue *q;
    char err[256];
    struct racing_append ra = {NULL, "acme/a", NULL, 0, 0};
    pthread_t ta;
    int done;

    ck_assert_msg(cm_pg_queue_open(&q, &o, err, sizeof(err)) == CM_OK, "open: %s", err);
    ra.q = q;
    ck_assert_int_eq(append1(q, "acme/b", 1, NULL, NULL, NULL), CM_OK); /* a pooled connection */
    signal_server("STOP");
    pthread_create(&ta, NULL, racing_append, &ra);
    for (int i = 0; i < 150 && !ra.done; i++)
        usleep(100000);
    done = ra.done;
    signal_server("CONT");
    pthread_join(ta, NULL);
    ck_assert_msg(done, "append with timeout_ms = 1000 still waiting after 15 s");
    ck_assert_int_eq(ra.rc, CM_EAGAIN);
    close_q(q);
}
END_TEST

/* Statements with parameters are prepared once per connection. A server that lost them
 * (DISCARD ALL, a pooler in between) fails that statement once; the next run prepares it
 * again instead of failing for good. */
START_TEST(prepared_statements_come_back)
{
    struct cm_pg_conn *c;
    const char *params[1] = {"41"};
    char err[256];
    PGresult *r;

    ck_assert_msg(cm_pg_connect(&c, conninfo, 3000, err, sizeof(err)) == CM_OK, "%s", err);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(cm_pg_exec(c, "SELECT $1::int + 1", 1, params, 3000, &r, err, sizeof(err)),
                         CM_OK);
        ck_assert_str_eq(PQgetvalue(r, 0, 0), "42");
        PQclear(r);
    }
    ck_assert_int_eq(cm_pg_exec(c, "DEALLOCATE ALL", 0, NULL, 3000, NULL, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(cm_pg_exec(c, "SELECT $1::int + 1", 1, params, 3000, &r, err, sizeof(err)),
                     CM_ERROR);
    ck_assert_int_eq(cm_pg_exec(c, "SELECT $1::int + 1", 1, params, 3000, &r, err, sizeof(err)),
                     CM_OK);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "42");
    PQclear(r);
    cm_pg_close(c);
}
END_TEST

/* Schema 2 (fences from one sequence) applied to a database of schema 1 that holds claims
 * already: the sequence starts past every fence there is. */
START_TEST(migrate_1_to_2_keeps_fences_ahead)
{
    char err[256];
    int from, to;

    /* Back to schema 1: what every later migration made goes too. */
    sql("DROP TABLE cargoman_gone; DROP TABLE cargoman_activity, cargoman_repositories;"
        "DROP TABLE cargoman_state, cargoman_state_lock; DROP SEQUENCE cargoman_state_version;"
        "DROP SEQUENCE cargoman_fence; DROP INDEX cargoman_failed_age;"
        "DELETE FROM cargoman_schema WHERE version >= 2;"
        "INSERT INTO cargoman_jobs (repo_key, endpoint, state, fence) VALUES"
        " ('gh/acme/old', 'gh', 'idle', 41)",
        NULL, 0);
    ck_assert_int_eq(cm_pg_queue_migrate(conninfo, 5000, &from, &to, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(from, 1);
    ck_assert_int_ge(to, 2);
    ck_assert_int_gt(sql_int("SELECT nextval('cargoman_fence')"), 41);
}
END_TEST

/* A repository with nothing queued for a week loses its row; a push makes it again, and its
 * next claim's fence is still one no claim had before (a node stalled since cannot match). */
START_TEST(idle_rows_go_and_fences_stay_unique)
{
    struct cm_queue *q = open_q(10, 0);
    struct cm_job *job;
    long long first;

    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    first = sql_int("SELECT fence FROM cargoman_jobs");
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
    sql("UPDATE cargoman_jobs SET run_at = now() - interval '8 days'", NULL, 0);
    q = open_q(10, 0); /* its keeper sweeps at start */
    for (int i = 0; i < 50 && sql_int("SELECT count(*) FROM cargoman_jobs") > 0; i++)
        usleep(100000);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_jobs"), 0);
    ck_assert_int_eq(append1(q, "acme/a", 2, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_int_gt(sql_int("SELECT fence FROM cargoman_jobs"), first);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    close_q(q);
}
END_TEST

/* --- shared plugin state (pg_state.c with plugin/shared_dir.c) --- */

static int collect_doc(void *arg, const char *path, const void *body, size_t len, long long version)
{
    char *out = arg;
    size_t n = strlen(out);
    (void)version;
    snprintf(out + n, 1024 - n, "%s=%.*s;", path, body ? (int)len : 4,
             body ? (const char *)body : "GONE");
    return CM_OK;
}

/* A node whose lease on the state lock ran out and was taken over publishes nothing, and
 * what the new holder publishes is read back by version, removals included. */
START_TEST(state_publish_is_fenced)
{
    struct cm_queue *a = open_q(30, 0), *b = open_q(30, 0);
    const struct cm_queue_state_ops *st = a->ops->state;
    struct cm_state_doc doc = {"composer", "p2/acme/x.json", "one", 3, 0};
    long long fa, fb, version;
    char seen[1024] = "";
    void *body;
    size_t len;

    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(st->lock(a, &fa), CM_OK);
    /* a hangs past its lease (the keeper renews every 10 s: expire it by hand) */
    sql("UPDATE cargoman_state_lock SET lease_until = now() - interval '1 second'", NULL, 0);
    ck_assert_int_eq(st->lock(b, &fb), CM_OK);
    ck_assert_int_gt(fb, fa);
    ck_assert_int_eq(st->publish(a, NULL, fa, &doc, 1), CM_EAGAIN);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_state"), 0);
    ck_assert_int_eq(st->publish(b, NULL, fb, &doc, 1), CM_OK);
    ck_assert_int_gt(doc.version, 0);
    version = doc.version;
    /* The holder's copy is current: no body is sent; an older one gets the body. */
    ck_assert_int_eq(st->lookup(a, "composer", "p2/acme/x.json", version, &version, &body, &len),
                     CM_OK);
    ck_assert_ptr_null(body);
    ck_assert_int_eq(st->lookup(a, "composer", "p2/acme/x.json", 0, &version, &body, &len), CM_OK);
    ck_assert_int_eq(len, 3);
    ck_assert_int_eq(memcmp(body, "one", 3), 0);
    free(body);
    /* A removal is a row without a body: lookups see nothing, a pull sees it go. */
    doc.body = NULL;
    doc.len = 0;
    ck_assert_int_eq(st->publish(b, NULL, fb, &doc, 1), CM_OK);
    ck_assert_int_gt(doc.version, version);
    ck_assert_int_eq(st->lookup(a, "composer", "p2/acme/x.json", 0, &version, &body, &len), CM_OK);
    ck_assert_int_eq(version, 0);
    ck_assert_int_eq(st->pull(a, "composer", 0, collect_doc, seen), CM_OK);
    ck_assert_str_eq(seen, "p2/acme/x.json=GONE;");
    /* Another instance's files are its own. */
    seen[0] = '\0';
    ck_assert_int_eq(st->pull(a, "composer@eu", 0, collect_doc, seen), CM_OK);
    ck_assert_str_eq(seen, "");
    st->unlock(b, fb);
    /* Once let go, a is the next to have it. */
    ck_assert_int_eq(st->lock(a, &fa), CM_OK);
    st->unlock(a, fa);
    a->ops->shutdown(a);
    b->ops->shutdown(b);
    a->ops->close(a);
    b->ops->close(b);
}
END_TEST

static void put_file(const char *dir, const char *rel, const char *text)
{
    ck_assert_int_eq(cm_fs_write_under(dir, rel, text, strlen(text), 0644), 0);
}

static char *get_file(const char *dir, const char *rel)
{
    static char buf[256];
    char path[4096];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (!(f = fopen(path, "r")))
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

struct apply_arg {
    struct cm_shared_dir *sd;
    int changed;
};

static int apply_doc(void *arg, const char *path, const void *body, size_t len, long long version)
{
    struct apply_arg *a = arg;
    int changed;
    int rc = cm_shared_dir_apply(a->sd, path, body, len, version, &changed);
    a->changed += changed;
    return rc;
}

/* Two nodes' directories through the database: what node A's plugin wrote, changed and
 * removed reaches node B; node-local paths and temp files stay where they are; B's prime
 * removes a file the cluster does not have. */
START_TEST(state_dirs_follow_each_other)
{
    static const char *const local[] = {"dist/", NULL};
    struct cm_queue *q = open_q(30, 0);
    const struct cm_queue_state_ops *st = q->ops->state;
    char da[512], db[512];
    struct cm_shared_dir *a, *b;
    struct cm_state_doc *docs;
    size_t n;
    long long fence;
    struct apply_arg arg;

    snprintf(da, sizeof(da), "%s/node-a", pg_dir);
    snprintf(db, sizeof(db), "%s/node-b", pg_dir);
    ck_assert_int_eq(cm_fs_mkdir_p(da), 0);
    ck_assert_int_eq(cm_fs_mkdir_p(db), 0);
    ck_assert_int_eq(cm_shared_dir_new(&a, da, local), CM_OK);
    ck_assert_int_eq(cm_shared_dir_new(&b, db, local), CM_OK);
    /* The plugin on A writes its index, a zip and leaves a temp file behind. */
    put_file(da, "packages.json", "{1}");
    put_file(da, "p2/acme/x.json", "x1");
    put_file(da, "dist/acme/x/abc.zip", "zip");
    put_file(da, "p2/acme/y.json.tmp-AbC123", "half");
    ck_assert_int_eq(cm_shared_dir_prime_begin(a), CM_OK);
    ck_assert_int_eq(cm_shared_dir_changes(a, &docs, &n), CM_OK);
    ck_assert_int_eq(n, 2); /* packages.json and the p2 file only */
    for (size_t i = 0; i < n; i++)
        docs[i].instance = "composer";
    ck_assert_int_eq(st->lock(q, &fence), CM_OK);
    ck_assert_int_eq(st->publish(q, NULL, fence, docs, n), CM_OK);
    cm_shared_dir_published(a, docs, n);
    cm_shared_dir_docs_free(docs, n);
    ck_assert_int_eq(cm_shared_dir_prime_done(a, NULL, NULL), CM_OK);
    /* Nothing changed since: nothing to publish. */
    ck_assert_int_eq(cm_shared_dir_changes(a, &docs, &n), CM_OK);
    ck_assert_int_eq(n, 0);
    cm_shared_dir_docs_free(docs, n);

    /* B had a stale file of its own; its prime takes the cluster's and drops the rest. */
    put_file(db, "p2/acme/old.json", "stale");
    put_file(db, "dist/acme/x/keep.zip", "mine");
    arg = (struct apply_arg){b, 0};
    ck_assert_int_eq(cm_shared_dir_prime_begin(b), CM_OK);
    ck_assert_int_eq(st->pull(q, "composer", 0, apply_doc, &arg), CM_OK);
    ck_assert_int_eq(cm_shared_dir_prime_done(b, NULL, NULL), CM_OK);
    ck_assert_str_eq(get_file(db, "p2/acme/x.json"), "x1");
    ck_assert_str_eq(get_file(db, "packages.json"), "{1}");
    ck_assert_ptr_null(get_file(db, "p2/acme/old.json"));
    ck_assert_str_eq(get_file(db, "dist/acme/x/keep.zip"), "mine");
    ck_assert_ptr_null(get_file(db, "dist/acme/x/abc.zip"));

    /* A changes one file and removes another: B follows with a pull from where it was. */
    put_file(da, "p2/acme/x.json", "x2");
    char gone[4096];
    snprintf(gone, sizeof(gone), "%s/packages.json", da);
    ck_assert_int_eq(unlink(gone), 0);
    ck_assert_int_eq(cm_shared_dir_changes(a, &docs, &n), CM_OK);
    ck_assert_int_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        docs[i].instance = "composer";
    ck_assert_int_eq(st->publish(q, NULL, fence, docs, n), CM_OK);
    cm_shared_dir_published(a, docs, n);
    cm_shared_dir_docs_free(docs, n);
    arg = (struct apply_arg){b, 0};
    ck_assert_int_eq(st->pull(q, "composer", cm_shared_dir_since(b), apply_doc, &arg), CM_OK);
    ck_assert_int_eq(arg.changed, 2);
    ck_assert_str_eq(get_file(db, "p2/acme/x.json"), "x2");
    ck_assert_ptr_null(get_file(db, "packages.json"));
    /* B's copy is the cluster's version, so serve sends B's file. */
    int fd =
        cm_shared_dir_open_current(b, "p2/acme/x.json", cm_shared_dir_version(b, "p2/acme/x.json"));
    ck_assert_int_ge(fd, 0);
    close(fd);
    /* A path a hostile row could hold is refused, not written outside the directory. */
    int changed;
    ck_assert_int_eq(cm_shared_dir_apply(b, "../escape", "x", 1, 99, &changed), CM_EINVAL);
    ck_assert_int_eq(cm_shared_dir_apply(b, "dist/acme/x/keep.zip", "x", 1, 99, &changed),
                     CM_EINVAL);
    st->unlock(q, fence);
    cm_shared_dir_free(a);
    cm_shared_dir_free(b);
    q->ops->shutdown(q);
    q->ops->close(q);
}
END_TEST

/* A removal row may name a path below a directory someone replaced with a symlink, and a row
 * may name the node-local directory itself: neither reaches past the state directory, nor
 * stops every pull of the cluster. */
START_TEST(state_hostile_rows_stay_inside)
{
    static const char *const local[] = {"dist/", NULL};
    char dir[512], outside[512], link[1024];
    struct cm_shared_dir *sd;
    int changed;

    snprintf(dir, sizeof(dir), "%s/node-h", pg_dir);
    snprintf(outside, sizeof(outside), "%s/outside", pg_dir);
    ck_assert_int_eq(cm_fs_mkdir_p(dir), 0);
    ck_assert_int_eq(cm_fs_mkdir_p(outside), 0);
    put_file(outside, "victim.json", "keep me");
    snprintf(link, sizeof(link), "%s/p2", dir);
    ck_assert_int_eq(symlink(outside, link), 0);
    ck_assert_int_eq(cm_shared_dir_new(&sd, dir, local), CM_OK);
    /* "p2/victim.json" removed through the planted link would remove outside/victim.json. */
    cm_shared_dir_apply(sd, "p2/victim.json", NULL, 0, 7, &changed);
    ck_assert_int_eq(changed, 0);
    ck_assert_str_eq(get_file(outside, "victim.json"), "keep me");
    /* Nor is the file outside taken as this directory's copy of the row. */
    ck_assert_int_ne(cm_shared_dir_apply(sd, "p2/victim.json", "keep me", 7, 8, &changed), CM_OK);
    ck_assert_int_eq(cm_shared_dir_version(sd, "p2/victim.json"), 0);
    /* "dist" is the node-local directory, not a file: a row of it is skipped (EINVAL), never
     * a disk error that fails every pull, nor a file where zips go. */
    put_file(dir, "dist/acme/x/abc.zip", "zip");
    ck_assert_int_eq(cm_shared_dir_apply(sd, "dist", "x", 1, 9, &changed), CM_EINVAL);
    ck_assert_int_eq(cm_shared_dir_apply(sd, "dist", NULL, 0, 10, &changed), CM_EINVAL);
    ck_assert_int_eq(cm_shared_dir_shares(sd, "dist"), 0);
    ck_assert_str_eq(get_file(dir, "dist/acme/x/abc.zip"), "zip");
    cm_shared_dir_free(sd);
}
END_TEST

/* A sync plugin as shared_state sees it: its name, its node-local paths, no hooks. */
static const char *const fake_local[] = {"dist/", NULL};
static const struct cm_sync_plugin fake_sync = {
    .abi_version = CM_ABI_VERSION, .name = "composer", .node_local = fake_local};

/* A gateway of one composer sync entry whose data_dir is pg_dir/name. */
struct fake_gw {
    char data_dir[512];
    char state_dir[1024];
    struct cm_sync sync;
    struct cm_gateway gw;
};

static void fake_gw_init(struct fake_gw *f, const char *name)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/%s", pg_dir, name);
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/composer", f->data_dir);
    ck_assert_int_eq(cm_fs_mkdir_p(f->state_dir), 0);
    f->sync.plugin = &fake_sync;
    f->sync.ctx.plugin = "composer";
    f->sync.ctx.instance = "composer";
    f->sync.ctx.data_dir = f->data_dir;
    f->gw.syncs = &f->sync;
    f->gw.n_syncs = 1;
}

/* A begin that took the cluster's lock and then failed to pull holds nothing afterwards, and
 * says so: the worker abandons whatever fence begin leaves set (worker.c sync_job), and a
 * second abandon unlocks the node's mutex from a thread that does not hold it. */
START_TEST(state_begin_that_fails_holds_nothing)
{
    struct cm_queue *q = open_q(30, 0), *other = open_q(30, 0);
    struct cm_shared_state *ss;
    struct fake_gw f;
    long long fence = 0, theirs;
    char err[256];

    fake_gw_init(&f, "node-f");
    ck_assert_int_eq(cm_shared_state_new(&ss, q), CM_OK);
    ck_assert_int_eq(cm_shared_state_attach(ss, &f.gw), CM_OK);
    /* The cluster has p2/acme/x.json; this node's state directory is gone (a disk the
     * operator unmounted): the write fails, and not for the row's sake (a row that cannot be
     * a file here is skipped instead: cluster_composer.sh). */
    sql("INSERT INTO cargoman_state (instance, path, version, body) VALUES ('composer',"
        " 'p2/acme/x.json', nextval('cargoman_state_version'), 'x')",
        NULL, 0);
    ck_assert_int_eq(cm_fs_rm_rf(f.state_dir), 0);
    ck_assert_int_eq(cm_shared_state_begin(ss, &f.gw, &fence, err, sizeof(err)), CM_EAGAIN);
    ck_assert_msg(fence == 0, "begin failed but left fence %lld for the caller to abandon", fence);
    ck_assert_int_eq(other->ops->state->lock(other, &theirs), CM_OK);
    other->ops->state->unlock(other, theirs);
    cm_shared_state_free(ss);
    close_q(q);
    close_q(other);
}
END_TEST

/* A plugin run that failed on a cluster with nothing of the instance yet is no seed: the next
 * begin starts again from the cluster's files (none), and publishes nothing. A node that
 * starts with files of its own before anything ran does seed the cluster. */
START_TEST(state_failed_run_is_no_seed)
{
    struct cm_queue *q = open_q(30, 0);
    struct cm_shared_state *ss, *ss2;
    struct fake_gw f, f2;
    long long fence;
    char err[256];

    fake_gw_init(&f, "node-s");
    ck_assert_int_eq(cm_shared_state_new(&ss, q), CM_OK);
    ck_assert_int_eq(cm_shared_state_attach(ss, &f.gw), CM_OK);
    ck_assert_int_eq(cm_shared_state_begin(ss, &f.gw, &fence, err, sizeof(err)), CM_OK);
    /* on_sync writes half its index and fails: the worker abandons. */
    put_file(f.state_dir, "p2/acme/half.json", "half");
    cm_shared_state_abandon(ss, &f.gw, fence);
    ck_assert_int_eq(cm_shared_state_begin(ss, &f.gw, &fence, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_state"), 0);
    ck_assert_ptr_null(get_file(f.state_dir, "p2/acme/half.json"));
    cm_shared_state_abandon(ss, &f.gw, fence);
    cm_shared_state_free(ss);

    /* A gateway that joins with its index (a new process) keeps it: the seed. */
    fake_gw_init(&f2, "node-s2");
    put_file(f2.state_dir, "packages.json", "{}");
    ck_assert_int_eq(cm_shared_state_new(&ss2, q), CM_OK);
    ck_assert_int_eq(cm_shared_state_attach(ss2, &f2.gw), CM_OK);
    ck_assert_int_eq(cm_shared_state_prime(ss2, &f2.gw, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_state"), 1);
    ck_assert_str_eq(get_file(f2.state_dir, "packages.json"), "{}");
    cm_shared_state_free(ss2);
    close_q(q);
}
END_TEST

/* A run whose files cannot be read back (a link where a file goes) is not completed, and its
 * files are not kept: the next begin writes the cluster's back, so they are never published
 * by a later run either. */
START_TEST(state_unreadable_run_is_not_kept)
{
    struct cm_queue *q = open_q(30, 0);
    struct cm_shared_state *ss;
    struct cm_job *job;
    struct fake_gw f;
    long long fence;
    char err[256], link[2048];

    fake_gw_init(&f, "node-u");
    sql("INSERT INTO cargoman_state (instance, path, version, body) VALUES ('composer',"
        " 'packages.json', nextval('cargoman_state_version'), 'v1')",
        NULL, 0);
    ck_assert_int_eq(append1(q, "acme/a", 1, "gh/d1#0", NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_int_eq(cm_shared_state_new(&ss, q), CM_OK);
    ck_assert_int_eq(cm_shared_state_attach(ss, &f.gw), CM_OK);
    ck_assert_int_eq(cm_shared_state_begin(ss, &f.gw, &fence, err, sizeof(err)), CM_OK);
    ck_assert_str_eq(get_file(f.state_dir, "packages.json"), "v1");
    /* The run rewrites the index and leaves a link among its files. */
    put_file(f.state_dir, "packages.json", "bad");
    snprintf(link, sizeof(link), "%s/p2", f.state_dir);
    ck_assert_int_eq(cm_fs_mkdir_p(link), 0);
    snprintf(link, sizeof(link), "%s/p2/link.json", f.state_dir);
    ck_assert_int_eq(symlink("/dev/null", link), 0);
    ck_assert_int_eq(cm_shared_state_complete(ss, &f.gw, job, fence), CM_EAGAIN);
    ck_assert_int_eq(unlink(link), 0);
    ck_assert_int_eq(cm_shared_state_begin(ss, &f.gw, &fence, err, sizeof(err)), CM_OK);
    ck_assert_str_eq(get_file(f.state_dir, "packages.json"), "v1");
    cm_shared_state_abandon(ss, &f.gw, fence);
    cm_shared_state_free(ss);
    close_q(q);
}
END_TEST

/* Big files come in pieces: a pull reads at most 32 MB of bodies per statement (one file
 * alone may pass it), in version order, and misses none. */
static int count_big(void *arg, const char *path, const void *body, size_t len, long long version)
{
    long long *seen = arg;
    (void)path;
    ck_assert_int_eq(len, 20u << 20);
    ck_assert_int_eq(((const char *)body)[len - 1], 'z');
    ck_assert_int_gt(version, seen[1]);
    seen[1] = version;
    seen[0]++;
    return CM_OK;
}

START_TEST(state_pull_in_pieces)
{
    struct cm_queue *q = open_q(30, 0);
    const struct cm_queue_state_ops *st = q->ops->state;
    size_t big = 20u << 20;
    char *body = malloc(big);
    struct cm_state_doc docs[3] = {{"composer", "p2/a.json", body, big, 0},
                                   {"composer", "p2/b.json", body, big, 0},
                                   {"composer", "p2/c.json", body, big, 0}};
    long long fence, seen[2] = {0, 0};

    ck_assert_ptr_nonnull(body);
    memset(body, 'z', big);
    ck_assert_int_eq(st->lock(q, &fence), CM_OK);
    ck_assert_int_eq(st->publish(q, NULL, fence, docs, 3), CM_OK);
    st->unlock(q, fence);
    ck_assert_int_eq(st->pull(q, "composer", 0, count_big, seen), CM_OK);
    ck_assert_int_eq(seen[0], 3);
    free(body);
    q->ops->shutdown(q);
    q->ops->close(q);
}
END_TEST

/* A repository a node found gone from its host stays gone for every node until a sync of it
 * completes; a sync given up (what the finding node's own job ends with) keeps it gone. */
START_TEST(gone_until_a_sync_completes)
{
    struct cm_queue *q = open_q(10, 0);
    const struct cm_queue_state_ops *st = q->ops->state;
    struct cm_job *job;

    ck_assert_int_eq(st->gone_check(q, "gh", "acme/a"), CM_OK);
    ck_assert_int_eq(st->gone_mark(q, "gh", "acme/a"), CM_OK);
    ck_assert_int_eq(st->gone_mark(q, "gh", "acme/a"), CM_OK); /* a second node's finding */
    ck_assert_int_eq(st->gone_check(q, "gh", "acme/a"), CM_ENOENT);
    ck_assert_int_eq(st->gone_check(q, "gh", "acme/ab"), CM_OK);
    ck_assert_int_eq(st->gone_check(q, "other", "acme/a"), CM_OK);
    ck_assert_int_eq(append1(q, "acme/a", 1, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_int_eq(q->ops->give_up(q, job, "the repository is gone from its host"), CM_OK);
    ck_assert_int_eq(st->gone_check(q, "gh", "acme/a"), CM_ENOENT);
    ck_assert_int_eq(append1(q, "acme/a", 2, NULL, NULL, NULL), CM_OK);
    ck_assert_int_eq(q->ops->claim(q, &job, 2000), CM_OK);
    ck_assert_int_eq(q->ops->retry(q, job, 0, "not yet"), CM_OK);
    ck_assert_int_eq(st->gone_check(q, "gh", "acme/a"), CM_ENOENT);
    ck_assert_int_eq(q->ops->claim(q, &job, 5000), CM_OK);
    ck_assert_int_eq(q->ops->complete(q, job), CM_OK);
    ck_assert_int_eq(st->gone_check(q, "gh", "acme/a"), CM_OK); /* it exists again */
    ck_assert_int_eq(sql_int("SELECT count(*) FROM cargoman_gone"), 0);
    close_q(q);
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("pg_queue");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"migrate", migrate_is_versioned},
        {"prepared", prepared_statements_come_back},
        {"migrate_1_to_2", migrate_1_to_2_keeps_fences_ahead},
        {"idle_rows", idle_rows_go_and_fences_stay_unique},
        {"accept", accept_claim_complete},
        {"coalesce", coalesce_while_claimed},
        {"fence", fence_stops_a_node_that_lost_its_lease},
        {"lease", lease_is_renewed_while_held},
        {"dead_node", dead_node_is_taken_over},
        {"retry", retry_and_give_up},
        {"limits", limits_refuse_past_depth},
        {"unreadable", unreadable_entry_is_given_up_alone},
        {"two_nodes", two_nodes_share_a_burst},
        {"database_away", database_away_is_eagain_then_recovers},
        {"aba_push", push_after_claim_is_not_covered_by_a_claimed_entry},
        {"limits_race", limits_hold_across_nodes_appending_at_once},
        {"reaped_attempt", reaped_claim_counts_as_an_attempt},
        {"idle_queued", claim_of_a_row_without_entries_keeps_queued_true},
        {"claim_spin", claim_does_not_spin_on_a_locked_due_row},
        {"hung_server", statement_timeout_is_a_deadline_when_the_server_hangs},
        {"state_fence", state_publish_is_fenced},
        {"state_dirs", state_dirs_follow_each_other},
        {"state_pieces", state_pull_in_pieces},
        {"state_hostile", state_hostile_rows_stay_inside},
        {"state_begin_fails", state_begin_that_fails_holds_nothing},
        {"state_no_seed", state_failed_run_is_no_seed},
        {"state_unreadable", state_unreadable_run_is_not_kept},
        {"gone", gone_until_a_sync_completes},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

static void stop_server(void)
{
    char line[512];

    if (getpid() != server_owner)
        return;
    snprintf(line, sizeof(line), "%s/tests/pg_server.sh stop %s; rm -rf %s", cm_test_srcdir(),
             pg_dir, pg_dir);
    if (system(line) != 0)
        fprintf(stderr, "could not stop the test's PostgreSQL in %s\n", pg_dir);
}

int main(void)
{
    char line[512];
    FILE *p;
    int status;

    snprintf(pg_dir, sizeof(pg_dir), "/tmp/cm-pg.XXXXXX");
    if (!mkdtemp(pg_dir))
        return EXIT_FAILURE;
    snprintf(line, sizeof(line), "%s/tests/pg_server.sh start %s", cm_test_srcdir(), pg_dir);
    if (!(p = popen(line, "r")) || !fgets(conninfo, sizeof(conninfo), p)) {
        status = p ? pclose(p) : -1;
        rmdir(pg_dir);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            printf("SKIP: no PostgreSQL server to test against\n");
            return 77;
        }
        fprintf(stderr, "cannot start PostgreSQL (tests/pg_server.sh start)\n");
        return EXIT_FAILURE;
    }
    pclose(p);
    conninfo[strcspn(conninfo, "\n")] = '\0';
    server_owner = getpid();
    atexit(stop_server);

    SRunner *sr = srunner_create(pg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
