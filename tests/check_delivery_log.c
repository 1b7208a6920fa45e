/* SPDX-License-Identifier: MIT */
/*
 * The delivery log's journal and the payload store, on real files: replay after a clean stop,
 * a torn tail and a corrupt record, the bounds, pagination and filters, what a payload keeps
 * of its headers, state changes that come before their record, and a checksum that stays
 * the one logs were written with.
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "ops/activity.h"
#include "ops/delivery_log.h"
#include "ops/payload_store.h"
#include "util/fsutil.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_dlog.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/deliveries/log", dir);
}

static void teardown(void)
{
    cm_fs_rm_rf(dir);
}

static const struct cm_dlog_limits big = {1000000, 1000};

static struct cm_dlog *open_log(const struct cm_dlog_limits *lim, struct cm_dlog_report *rep)
{
    struct cm_dlog *dl = NULL;
    char err[256] = "";
    ck_assert_msg(cm_dlog_open(&dl, path, lim, 50, rep, err, sizeof(err)) == CM_OK, "%s", err);
    return dl;
}

static uint64_t add(struct cm_dlog *dl, uint64_t qid, const char *ep, const char *repo,
                    const char *state, long long now)
{
    json_t *doc = json_pack("{s:I, s:s, s:s, s:s, s:i}", "id", (json_int_t)qid, "endpoint", ep,
                            "repository", repo, "state", state, "attempts", 0);
    return cm_dlog_add(dl, doc, qid, now);
}

static const char *state_of(struct cm_dlog *dl, uint64_t rec)
{
    static char buf[32];
    uint64_t p = 0;
    json_t *doc = cm_dlog_get(dl, rec, &p);
    snprintf(buf, sizeof(buf), "%s", doc ? json_string_value(json_object_get(doc, "state")) : "-");
    json_decref(doc);
    return buf;
}

static void append_raw(const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(cm_fs_write_all(fd, text, strlen(text)), 0);
    close(fd);
}

START_TEST(test_restart)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_report rep;
    struct cm_dlog *dl = open_log(&big, &rep);
    uint64_t a = add(dl, 7, "gh", "o/r", "queued", now),
             b = add(dl, 0, "gh", "o/x", "ignored", now);
    ck_assert(a && b && b > a);
    cm_dlog_update(dl, 7, "syncing", NULL, 1, now);
    cm_dlog_update(dl, 7, "done", NULL, 0, now);
    cm_dlog_set_payload(dl, b, b);
    cm_dlog_free(dl);

    dl = open_log(&big, &rep);
    ck_assert_uint_eq(rep.loaded, 2);
    ck_assert_uint_eq(rep.skipped, 0);
    ck_assert_str_eq(state_of(dl, a), "done");
    ck_assert_str_eq(state_of(dl, b), "ignored");
    uint64_t p = 0;
    json_t *doc = cm_dlog_get(dl, a, &p);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "attempts")), 1);
    json_decref(doc);
    json_decref(cm_dlog_get(dl, b, &p));
    ck_assert_uint_eq(p, b);
    /* Record ids go on from the last one, never reused. */
    ck_assert_uint_gt(add(dl, 8, "gh", "o/r", "queued", now), b);
    cm_dlog_free(dl);
}
END_TEST

START_TEST(test_torn_and_corrupt)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_report rep;
    struct cm_dlog *dl = open_log(&big, &rep);
    uint64_t a = add(dl, 1, "gh", "o/a", "queued", now);
    cm_dlog_free(dl);
    /* A record whose bytes changed (the checksum no longer matches), then a good one written
     * by hand, then half a record: the crash while it was written. */
    append_raw("20 00000000 {\"t\":1,\"q\":0,\"p\":0}\n");
    dl = open_log(&big, &rep);
    uint64_t b = add(dl, 2, "gh", "o/b", "queued", now);
    cm_dlog_free(dl);
    append_raw("300 deadbeef {\"t\":1,\"q\":9,\"d\":{\"record_");

    dl = open_log(&big, &rep);
    ck_assert_int_eq(rep.torn, 1);
    ck_assert_uint_eq(rep.loaded, 2);
    ck_assert_str_eq(state_of(dl, a), "queued");
    ck_assert_str_eq(state_of(dl, b), "queued");
    /* Written after the cut tail, a record is read back whole. */
    uint64_t c = add(dl, 3, "gh", "o/c", "queued", now);
    cm_dlog_free(dl);
    dl = open_log(&big, &rep);
    ck_assert_int_eq(rep.torn, 0);
    ck_assert_str_eq(state_of(dl, c), "queued");
    cm_dlog_free(dl);

    /* A corrupt line in the middle of a file is skipped and counted, the rest replayed. */
    cm_fs_rm_rf(path);
    dl = open_log(&big, &rep);
    a = add(dl, 1, "gh", "o/a", "queued", now);
    cm_dlog_free(dl);
    append_raw("17 0badc0de {\"garbage\": true}\n");
    dl = open_log(&big, &rep);
    b = add(dl, 2, "gh", "o/b", "queued", now);
    cm_dlog_free(dl);
    /* Compaction at open rewrote the file: corrupt it again, between two good records. */
    {
        FILE *f = fopen(path, "r");
        char lines[8][4096];
        size_t n = 0;
        while (n < 8 && fgets(lines[n], sizeof(lines[n]), f))
            n++;
        fclose(f);
        ck_assert_uint_ge(n, 3);
        char *brace = strchr(lines[1], '{');
        brace[2] ^= 0x01; /* one bit flipped in the first record */
        f = fopen(path, "w");
        for (size_t i = 0; i < n; i++)
            fputs(lines[i], f);
        fclose(f);
    }
    dl = open_log(&big, &rep);
    ck_assert_uint_eq(rep.skipped, 1);
    ck_assert_uint_eq(rep.first_skipped, 2);
    ck_assert_str_eq(state_of(dl, a), "-");
    ck_assert_str_eq(state_of(dl, b), "queued");
    cm_dlog_free(dl);
}
END_TEST

START_TEST(test_bounds)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_limits lim = {3600, 3};
    struct cm_dlog_report rep;
    struct cm_dlog *dl = open_log(&lim, &rep);
    uint64_t old = add(dl, 0, "gh", "o/r", "ignored", now - 7200);
    uint64_t r[4];
    for (int i = 0; i < 4; i++)
        r[i] = add(dl, (uint64_t)(10 + i), "gh", "o/r", "queued", now);
    ck_assert_str_eq(state_of(dl, r[0]), "-"); /* past max_entries */
    ck_assert_str_eq(state_of(dl, r[3]), "queued");
    cm_dlog_free(dl);
    dl = open_log(&lim, &rep);
    ck_assert_uint_eq(rep.loaded, 3);
    ck_assert_str_eq(state_of(dl, old), "-");
    cm_dlog_free(dl);

    /* Past max_age at replay. */
    cm_fs_rm_rf(path);
    dl = open_log(&lim, &rep);
    old = add(dl, 0, "gh", "o/r", "ignored", now - 7200);
    cm_dlog_free(dl);
    dl = open_log(&lim, &rep);
    ck_assert_uint_eq(rep.loaded, 0);
    ck_assert_uint_gt(add(dl, 0, "gh", "o/r", "ignored", now), old);
    cm_dlog_free(dl);
}
END_TEST

/* A flood of refusals nobody vouches for fills its quarter of the log and no more: the
 * pushes' records stay, also after a restart (the journal says which records are weak). */
START_TEST(test_weak_share)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_limits lim = {3600, 8};
    struct cm_dlog_report rep;
    struct cm_dlog *dl = open_log(&lim, &rep);
    uint64_t pushes[4], weak[3];
    int more = 0;
    json_t *a;

    for (int i = 0; i < 4; i++)
        pushes[i] = add(dl, (uint64_t)(10 + i), "gh", "o/r", "queued", now);
    for (int i = 0; i < 3; i++)
        weak[i] = cm_dlog_add_weak(
            dl, json_pack("{s:s, s:s}", "endpoint", "gh", "state", "rejected"), now);
    ck_assert_uint_gt(weak[0], pushes[3]);
    ck_assert_uint_gt(weak[1], weak[0]);
    ck_assert_uint_eq(weak[2], 0); /* 2 of 8 is the share: the third is left out */
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(state_of(dl, pushes[i]), "queued");
    cm_dlog_free(dl);

    dl = open_log(&lim, &rep);
    ck_assert_uint_eq(rep.loaded, 6);
    ck_assert_uint_eq(cm_dlog_add_weak(dl, json_pack("{s:s}", "state", "rejected"), now), 0);
    /* Pushes still push the oldest out, weak ones included, which makes room again. */
    for (int i = 0; i < 7; i++) /* 6 + 7 past 8: the 4 pushes and weak[0] go */
        add(dl, (uint64_t)(20 + i), "gh", "o/r", "queued", now);
    ck_assert_str_eq(state_of(dl, weak[0]), "-");
    ck_assert_uint_gt(cm_dlog_add_weak(dl, json_pack("{s:s}", "state", "rejected"), now), 0);
    a = cm_dlog_list(dl, 0, 100, NULL, NULL, "rejected", &more);
    ck_assert_uint_eq(json_array_size(a), 1); /* weak[1] was the oldest then */
    json_decref(a);
    cm_dlog_free(dl);
}
END_TEST

START_TEST(test_pages)
{
    long long now = (long long)time(NULL);
    struct cm_dlog *dl = open_log(&big, NULL);
    int more = 0;
    for (int i = 0; i < 5; i++)
        add(dl, (uint64_t)(i + 1), i % 2 ? "gl" : "gh", i < 3 ? "o/a" : "o/b",
            i == 4 ? "failed" : "done", now);
    json_t *a = cm_dlog_list(dl, 0, 2, NULL, NULL, NULL, &more);
    ck_assert_uint_eq(json_array_size(a), 2);
    ck_assert_int_eq(more, 1);
    json_int_t last = json_integer_value(json_object_get(json_array_get(a, 1), "record_id"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(a, 0), "record_id")), 5);
    json_decref(a);
    a = cm_dlog_list(dl, (uint64_t)last, 10, NULL, NULL, NULL, &more);
    ck_assert_uint_eq(json_array_size(a), 3);
    ck_assert_int_eq(more, 0);
    json_decref(a);
    a = cm_dlog_list(dl, 0, 10, "gl", NULL, NULL, &more);
    ck_assert_uint_eq(json_array_size(a), 2);
    json_decref(a);
    a = cm_dlog_list(dl, 0, 10, "gh", "o/a", NULL, &more);
    ck_assert_uint_eq(json_array_size(a), 2);
    json_decref(a);
    a = cm_dlog_list(dl, 0, 10, NULL, NULL, "failed", &more);
    ck_assert_uint_eq(json_array_size(a), 1);
    json_decref(a);
    cm_dlog_free(dl);
}
END_TEST

START_TEST(test_payloads)
{
    char pdir[160];
    struct cm_payloads *p = NULL;
    const char *names[] = {"Authorization", "X-Gitlab-Token", "X-Hub-Signature-256",
                           "X-GitHub-Event", "Cookie"};
    const char *values[] = {"Bearer s3cret", "s3cret", "sha256=ab", "push", "a=s3cret"};
    json_t *h = NULL;
    char *body = NULL;
    size_t len = 0;
    long long now = 1000000;

    snprintf(pdir, sizeof(pdir), "%s/payloads", dir);
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 60, 200), CM_OK);
    ck_assert_int_eq(cm_payloads_put(p, 1, now, names, values, 5, "{\"a\":1}", 7), CM_OK);
    ck_assert_int_eq(cm_payloads_get(p, 1, now + 60, &h, &body, &len), CM_OK);
    ck_assert_uint_eq(len, 7);
    ck_assert_str_eq(body, "{\"a\":1}");
    char *hs = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(hs, "{\"X-GitHub-Event\":\"push\",\"X-Hub-Signature-256\":\"sha256=ab\"}");
    free(hs);
    json_decref(h);
    free(body);
    /* Past retention it is gone, even before the expiry ran. */
    ck_assert_int_eq(cm_payloads_get(p, 1, now + 61, &h, &body, &len), CM_ENOENT);
    cm_payloads_free(p);

    /* Reopened: the index comes back from the file names; the total bound drops the oldest,
     * and a payload larger than the bound alone is not kept. */
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 60, 200), CM_OK);
    char big_body[150];
    memset(big_body, 'x', sizeof(big_body));
    ck_assert_int_eq(cm_payloads_put(p, 2, now, NULL, NULL, 0, big_body, sizeof(big_body)), CM_OK);
    ck_assert_int_eq(cm_payloads_get(p, 1, now, &h, &body, &len), CM_ENOENT);
    ck_assert_int_eq(cm_payloads_get(p, 2, now, &h, &body, &len), CM_OK);
    json_decref(h);
    free(body);
    ck_assert_int_eq(cm_payloads_put(p, 3, now, NULL, NULL, 0, big_body, 300), CM_EINVAL);
    cm_payloads_expire(p, now + 61);
    ck_assert_int_eq(cm_payloads_get(p, 2, now, &h, &body, &len), CM_ENOENT);
    cm_payloads_free(p);
}
END_TEST

/* A payload that expired stays gone after a restart with a longer payload_retention, though
 * its segment is still on disk (a newer payload keeps it): retention is a promise about what
 * is kept, not only about what is shown now. */
START_TEST(test_expired_stays_expired)
{
    char pdir[160], *body = NULL;
    struct cm_payloads *p = NULL;
    json_t *h = NULL;
    size_t len = 0;
    long long now = 1000000;

    snprintf(pdir, sizeof(pdir), "%s/payloads", dir);
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 1, 1 << 20), CM_OK);
    ck_assert_int_eq(cm_payloads_put(p, 1, now, NULL, NULL, 0, "old", 3), CM_OK);
    ck_assert_int_eq(cm_payloads_put(p, 2, now + 5, NULL, NULL, 0, "new", 3), CM_OK);
    cm_payloads_expire(p, now + 5); /* 1 expired; its segment stays for 2 */
    ck_assert_int_eq(cm_payloads_get(p, 1, now + 5, &h, &body, &len), CM_ENOENT);
    cm_payloads_free(p);

    ck_assert_int_eq(cm_payloads_open(&p, pdir, 86400, 1 << 20), CM_OK);
    ck_assert_int_eq(cm_payloads_get(p, 1, now + 6, &h, &body, &len), CM_ENOENT);
    ck_assert_int_eq(cm_payloads_get(p, 2, now + 6, &h, &body, &len), CM_OK);
    ck_assert_str_eq(body, "new");
    json_decref(h);
    free(body);
    cm_payloads_free(p);
}
END_TEST

/* Payloads share segment files: many come back after a reopen, in any order they were put; a
 * segment cut short loses only its torn record; a file of one payload from before segments is
 * still read; the total bound drops whole segments, oldest first. */
START_TEST(test_payload_segments)
{
    char pdir[160], seg[200], body[64], *got = NULL;
    struct cm_payloads *p = NULL;
    json_t *h = NULL;
    size_t len = 0;
    long long now = 1000000;
    const char *names[] = {"X-GitHub-Event"}, *values[] = {"push"};

    snprintf(pdir, sizeof(pdir), "%s/payloads", dir);
    ck_assert_int_eq(cm_fs_mkdir_p(pdir), 0);
    snprintf(seg, sizeof(seg), "%s/7-%lld", pdir, now);
    ck_assert_int_eq(cm_fs_write_atomic(seg, "{\"X-A\":\"b\"}\nold", 16, 0600), 0);
    /* 16 MiB bound: segments of 1 MiB, so these 300 share one. */
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 60, 16 << 20), CM_OK);
    for (uint64_t id = 10; id < 310; id++) {
        uint64_t put = id ^ 1; /* slightly out of order, as threads are */
        snprintf(body, sizeof(body), "body %llu", (unsigned long long)put);
        ck_assert_int_eq(cm_payloads_put(p, put, now, names, values, 1, body, strlen(body)), CM_OK);
    }
    cm_payloads_free(p);
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 60, 16 << 20), CM_OK);
    for (uint64_t id = 10; id < 310; id++) {
        snprintf(body, sizeof(body), "body %llu", (unsigned long long)id);
        ck_assert_int_eq(cm_payloads_get(p, id, now, &h, &got, &len), CM_OK);
        ck_assert_str_eq(got, body);
        ck_assert_str_eq(json_string_value(json_object_get(h, "X-GitHub-Event")), "push");
        json_decref(h);
        free(got);
    }
    ck_assert_int_eq(cm_payloads_get(p, 7, now, &h, &got, &len), CM_OK);
    ck_assert_str_eq(got, "old");
    ck_assert_str_eq(json_string_value(json_object_get(h, "X-A")), "b");
    json_decref(h);
    free(got);
    cm_payloads_free(p);

    /* A crash in the middle of the last record: the ones before it are kept. */
    snprintf(seg, sizeof(seg), "%s/seg-1", pdir);
    int fd = open(seg, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "311 1000000 500\n{}\nshort", 25), 25);
    close(fd);
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 60, 16 << 20), CM_OK);
    ck_assert_int_eq(cm_payloads_get(p, 311, now, &h, &got, &len), CM_ENOENT);
    ck_assert_int_eq(cm_payloads_get(p, 309, now, &h, &got, &len), CM_OK);
    json_decref(h);
    free(got);
    cm_payloads_free(p);

    /* Reopened with a bound of 64 KiB (segments of 4 KiB): filling it drops the oldest
     * segments, the file of one payload first, and keeps the newest. */
    ck_assert_int_eq(cm_payloads_open(&p, pdir, 60, 64 << 10), CM_OK);
    char blob[1000];
    memset(blob, 'y', sizeof(blob));
    for (uint64_t id = 400; id < 600; id++)
        ck_assert_int_eq(cm_payloads_put(p, id, now, NULL, NULL, 0, blob, sizeof(blob)), CM_OK);
    ck_assert_int_eq(cm_payloads_get(p, 7, now, &h, &got, &len), CM_ENOENT);
    ck_assert_int_eq(cm_payloads_get(p, 10, now, &h, &got, &len), CM_ENOENT);
    ck_assert_int_eq(cm_payloads_get(p, 400, now, &h, &got, &len), CM_ENOENT);
    ck_assert_int_eq(cm_payloads_get(p, 599, now, &h, &got, &len), CM_OK);
    ck_assert_uint_eq(len, sizeof(blob));
    json_decref(h);
    free(got);
    cm_payloads_free(p);
}
END_TEST

/* A worker may move an entry on before whoever queued it has recorded it: the changes wait
 * for the record. A running fetch shows in the repository's entry until it ends. */
/* Record's document through the API's reader, NULL when it fails. */
static char *delivery_doc(struct cm_activity *st, uint64_t record)
{
    char *doc = NULL, err[256];
    cm_activity_delivery_json(st, record, &doc, err, sizeof(err));
    return doc;
}

static char *repository_doc(struct cm_activity *st, const char *ep, const char *repo)
{
    char *doc = NULL, err[256];
    cm_activity_repository_json(st, ep, repo, &doc, err, sizeof(err));
    return doc;
}

START_TEST(test_early_state)
{
    struct cm_activity *st = NULL;
    char *doc, err[256];
    json_t *o;

    ck_assert_int_eq(cm_activity_new(&st, dir), CM_OK);
    cm_activity_delivery_state(st, 9, "syncing", NULL);
    cm_activity_delivery_state(st, 9, "retrying", "host down");
    cm_activity_delivery_state(st, 9, "syncing", NULL);
    uint64_t rec = cm_activity_delivery(st, 9, NULL, "gh", "import-1", "queued", NULL);
    ck_assert_uint_gt(rec, 0);
    o = json_loads(doc = delivery_doc(st, rec), 0, NULL);
    free(doc);
    ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "syncing");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 2);
    json_decref(o);
    ck_assert_uint_eq(cm_activity_pending(st, "gh", NULL), rec); /* still syncing */
    cm_activity_delivery_state(st, 9, "done", NULL);
    o = json_loads(doc = delivery_doc(st, rec), 0, NULL);
    free(doc);
    ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "done");
    json_decref(o);
    ck_assert_uint_eq(cm_activity_pending(st, "gh", NULL), 0);

    ck_assert_int_eq(cm_activity_repository_json(st, "gh", "o/r", &doc, err, sizeof(err)),
                     CM_ENOENT);
    cm_activity_fetch(st, "gh", "o/r", 3, 10, 4096);
    o = json_loads(doc = repository_doc(st, "gh", "o/r"), 0, NULL);
    free(doc);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(o, "fetch"), "total_objects")), 10);
    ck_assert(json_is_null(json_object_get(o, "last_sync")));
    json_decref(o);
    cm_activity_fetch_end(st, "gh", "o/r");
    o = json_loads(doc = repository_doc(st, "gh", "o/r"), 0, NULL);
    free(doc);
    ck_assert_ptr_null(json_object_get(o, "fetch"));
    json_decref(o);
    cm_activity_free(st);
}
END_TEST

/* Every API answer of a log, as one text: pages walked by cursor, under each filter, and every
 * record with its payload id. */
/* A cluster store for the test: counts what the writers send, answers the readers with one
 * record held by another node, or fails them all ("down"). */
struct fake_cluster {
    int deliveries, states, repos, forgets, down;
    uint64_t last_queue_id;
    char last_state[32];
};

static void fc_delivery(void *arg, uint64_t queue_id, json_t *doc)
{
    struct fake_cluster *f = arg;
    ck_assert_int_gt(json_integer_value(json_object_get(doc, "record_id")), 0);
    f->deliveries++;
    f->last_queue_id = queue_id;
    json_decref(doc);
}

static void fc_state(void *arg, uint64_t queue_id, const char *state, const char *error,
                     int attempt)
{
    struct fake_cluster *f = arg;
    (void)error;
    (void)attempt;
    f->states++;
    f->last_queue_id = queue_id;
    snprintf(f->last_state, sizeof(f->last_state), "%s", state);
}

static void fc_repository(void *arg, const char *ep, const char *repo, long long when, json_t *doc)
{
    struct fake_cluster *f = arg;
    (void)ep;
    (void)repo;
    (void)when;
    ck_assert_ptr_null(json_object_get(doc, "fetch"));
    f->repos++;
    json_decref(doc);
}

static void fc_forget(void *arg, const char *ep, const char *repo)
{
    (void)ep;
    (void)repo;
    ((struct fake_cluster *)arg)->forgets++;
}

static json_t *fc_record(void)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:I}", "id", (json_int_t)7, "endpoint", "gh",
                     "repository", "o/r", "state", "done", "record_id", (json_int_t)42, "node",
                     "other/127.0.0.1:1", "node_record_id", (json_int_t)3);
}

static int fc_list(void *arg, uint64_t before, size_t limit, const char *ep, const char *repo,
                   const char *state, json_t **out, int *more, char *err, size_t errlen)
{
    struct fake_cluster *f = arg;
    (void)before;
    (void)limit;
    (void)ep;
    (void)repo;
    (void)state;
    if (f->down) {
        snprintf(err, errlen, "down");
        return CM_EAGAIN;
    }
    *more = 1;
    *out = json_pack("[o]", fc_record());
    return CM_OK;
}

static int fc_get(void *arg, uint64_t record, json_t **out, char *err, size_t errlen)
{
    struct fake_cluster *f = arg;
    if (f->down) {
        snprintf(err, errlen, "down");
        return CM_EAGAIN;
    }
    if (record != 42)
        return CM_ENOENT;
    *out = fc_record();
    return CM_OK;
}

static int fc_repositories(void *arg, const char *ep, const char *repo, json_t **out, char *err,
                           size_t errlen)
{
    struct fake_cluster *f = arg;
    (void)repo;
    if (f->down) {
        snprintf(err, errlen, "down");
        return CM_EAGAIN;
    }
    if (ep)
        return CM_ENOENT;
    *out = json_pack("[{s:s, s:s, s:s}]", "endpoint", "gh", "repository", "a/b", "node", "other");
    return CM_OK;
}

/* With a cluster set, every record and change goes to it too, the readers answer from it (a
 * record of another node: its payload is there), and a cluster that cannot be read is an
 * error, never this node's part alone. */
START_TEST(test_cluster)
{
    struct fake_cluster f = {0};
    struct cm_activity_cluster cl = {.arg = &f,
                                     .node = "me/127.0.0.1:2",
                                     .delivery = fc_delivery,
                                     .state = fc_state,
                                     .repository = fc_repository,
                                     .forget = fc_forget,
                                     .list = fc_list,
                                     .get = fc_get,
                                     .repositories = fc_repositories};
    struct cm_activity *st = NULL;
    uint64_t next = 0;
    char *doc, err[256];
    json_t *o;

    ck_assert_int_eq(cm_activity_new(&st, dir), CM_OK);
    cm_activity_set_cluster(st, &cl);
    ck_assert_uint_gt(cm_activity_delivery(st, 5, NULL, "gh", "d-1", "queued", NULL), 0);
    ck_assert_int_eq(f.deliveries, 1);
    ck_assert_uint_eq(f.last_queue_id, 5);
    cm_activity_delivery_state(st, 77, "syncing", NULL); /* another node's record */
    ck_assert_int_eq(f.states, 1);
    ck_assert_str_eq(f.last_state, "syncing");
    cm_activity_fetch(st, "gh", "x/y", 1, 2, 3);
    cm_activity_repository(st, "gh", "x/y", "/nowhere", NULL, 1000, NULL);
    ck_assert_int_eq(f.repos, 1);
    cm_activity_forget(st, "gh", "x/y");
    ck_assert_int_eq(f.forgets, 1);

    ck_assert_int_eq(
        cm_activity_deliveries_page(st, 0, 10, NULL, NULL, NULL, &doc, &next, err, sizeof(err)),
        CM_OK);
    ck_assert_msg(strstr(doc, "\"record_id\": 42"), "%s", doc);
    ck_assert_uint_eq(next, 42);
    free(doc);
    ck_assert_int_eq(cm_activity_delivery_json(st, 42, &doc, err, sizeof(err)), CM_OK);
    o = json_loads(doc, 0, NULL);
    free(doc);
    ck_assert_str_eq(json_string_value(json_object_get(o, "payload_node")), "other/127.0.0.1:1");
    ck_assert(json_is_null(json_object_get(o, "payload")));
    json_decref(o);
    ck_assert_int_eq(cm_activity_delivery_json(st, 43, &doc, err, sizeof(err)), CM_ENOENT);
    cm_activity_fetch(st, "gh", "new/one", 1, 2, 3); /* its first fetch: here only */
    ck_assert_int_eq(cm_activity_repositories_json(st, &doc, err, sizeof(err)), CM_OK);
    ck_assert_msg(strstr(doc, "a/b") && strstr(doc, "new/one"), "%s", doc);
    free(doc);

    f.down = 1;
    ck_assert_int_eq(
        cm_activity_deliveries_page(st, 0, 10, NULL, NULL, NULL, &doc, &next, err, sizeof(err)),
        CM_EAGAIN);
    ck_assert_ptr_null(doc);
    ck_assert_int_eq(cm_activity_delivery_json(st, 42, &doc, err, sizeof(err)), CM_EAGAIN);
    ck_assert_int_eq(cm_activity_repositories_json(st, &doc, err, sizeof(err)), CM_EAGAIN);
    ck_assert_int_eq(cm_activity_repository_json(st, "gh", "a/b", &doc, err, sizeof(err)),
                     CM_EAGAIN);
    cm_activity_set_cluster(st, NULL);
    cm_activity_free(st);
}
END_TEST

static char *answers(struct cm_dlog *dl, uint64_t last_id)
{
    static const char *const eps[] = {NULL, "gh", "gl", "bb", "none"};
    static const char *const repos[] = {NULL, "o/r0", "o/r7", "o/\"q\\\\", "none"};
    static const char *const states[] = {NULL, "queued", "done", "failed", "syncing"};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    for (size_t e = 0; e < 5; e++)
        for (size_t r = 0; r < 5; r++)
            for (size_t s = 0; s < 5; s++) {
                uint64_t before = 0;
                int more = 1;
                while (more) {
                    json_t *a = cm_dlog_list(dl, before, 97, eps[e], repos[r], states[s], &more);
                    char *t = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
                    fprintf(f, "%zu %zu %zu %d %s\n", e, r, s, more, t);
                    before = (uint64_t)json_integer_value(
                        json_object_get(json_array_get(a, json_array_size(a) - 1), "record_id"));
                    free(t);
                    json_decref(a);
                }
            }
    for (uint64_t id = 1; id <= last_id + 1; id++) {
        uint64_t p = 0;
        json_t *doc = cm_dlog_get(dl, id, &p);
        char *t = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        fprintf(f, "%llu %llu %s\n", (unsigned long long)id, (unsigned long long)p, t ? t : "-");
        free(t);
        json_decref(doc);
    }
    fclose(f);
    return out;
}

/* Many records, of several shapes and with text that JSON must escape, some changed, some past
 * the bound: reopened (replay, then the compaction at open, then replay of what it wrote) the
 * log answers exactly as before, and as the documents were given. */
START_TEST(test_many_replayed)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_limits lim = {1000000, 3000};
    struct cm_dlog *dl = open_log(&lim, NULL);
    const char *eps[] = {"gh", "gl", "bb"};
    uint64_t last = 0;
    json_t *want = json_object();

    for (int i = 0; i < 4000; i++) {
        char repo[32], err[64];
        uint64_t qid = i % 13 ? (uint64_t)(i + 100) : 0;
        json_t *doc;
        snprintf(repo, sizeof(repo), i % 11 ? "o/r%d" : "o/\"q\\\\", i % 50);
        if (i % 5 == 4) /* another shape: other keys, in another order, nested */
            doc = json_pack("{s:s, s:I, s:s, s:{s:[i, s, n], s:s}, s:s}", "state", "queued", "id",
                            (json_int_t)qid, "endpoint", eps[i % 3], "extra", "a", 1, "x,\"}]", "b",
                            "caf\xc3\xa9", "repository", repo);
        else
            doc = json_pack("{s:I, s:s, s:s, s:s, s:[s], s:s, s:n, s:i}", "id", (json_int_t)qid,
                            "endpoint", eps[i % 3], "repository", repo, "state", "queued", "refs",
                            "refs/heads/main", "received_at", "2026-12-01T10:00:00Z", "error",
                            "attempts", 0);
        json_t *copy = json_deep_copy(doc);
        last = cm_dlog_add(dl, doc, qid, now);
        ck_assert_uint_gt(last, 0);
        json_object_set_new(copy, "record_id", json_integer((json_int_t)last));
        char key[24];
        snprintf(key, sizeof(key), "%llu", (unsigned long long)last);
        json_object_set_new(want, key, copy);
        if (qid && i % 3 == 0) {
            snprintf(err, sizeof(err), "host \"%d\" said \\ no\n", i);
            ck_assert_int_eq(cm_dlog_update(dl, qid, "syncing", NULL, 1, now), 1);
            ck_assert_int_eq(
                cm_dlog_update(dl, qid, i % 2 ? "done" : "failed", json_string(err), 0, now), 1);
        }
        if (i % 7 == 0)
            cm_dlog_set_payload(dl, last, last - 1);
    }
    /* Past the bound, a queue id is no longer known; within it, it is. */
    ck_assert_int_eq(cm_dlog_update(dl, 101, "done", NULL, 0, now), 0);
    ck_assert_int_eq(cm_dlog_update(dl, 3999 + 100, "queued", NULL, 0, now), 1);
    /* Records never changed read back as given, key order and all. */
    for (uint64_t id = last - 2999; id <= last; id++) {
        char key[24];
        uint64_t p = 0;
        snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
        json_t *doc = cm_dlog_get(dl, id, &p), *w = json_object_get(want, key);
        ck_assert_ptr_nonnull(doc);
        /* Changed ones (an updated_at) are compared across the reopen below. */
        if (!json_object_get(doc, "updated_at")) {
            char *a = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER),
                 *b = json_dumps(w, JSON_COMPACT | JSON_PRESERVE_ORDER);
            ck_assert_str_eq(a, b);
            free(a);
            free(b);
        }
        json_decref(doc);
    }
    json_decref(want);
    char *before = answers(dl, last);
    cm_dlog_free(dl);

    for (int round = 0; round < 2; round++) {
        struct cm_dlog_report rep;
        dl = open_log(&lim, &rep);
        ck_assert_uint_eq(rep.loaded, 3000);
        ck_assert_uint_eq(rep.skipped, 0);
        char *after = answers(dl, last);
        ck_assert_str_eq(after, before);
        free(after);
        cm_dlog_free(dl);
    }
    free(before);
}
END_TEST

/* Records dropped by age from the front of the ring, then enough added to grow it: the ring
 * grows around its wrapped end and keeps its order. */
START_TEST(test_ring_wraps)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_limits lim = {3600, 100000};
    struct cm_dlog *dl = open_log(&lim, NULL);
    uint64_t first = 0, id = 0;
    int more = 0;

    for (int i = 0; i < 100; i++)
        first = add(dl, (uint64_t)(i + 1), "gh", "o/old", "done", now - 7200);
    while (strcmp(state_of(dl, first), "-")) /* the thread expires them every 50 ms */
        usleep(10000);
    for (int i = 0; i < 600; i++) {
        id = add(dl, (uint64_t)(i + 1000), "gh", "o/r", "queued", now);
        ck_assert_int_eq(cm_dlog_update(dl, (uint64_t)(i + 1000), "done", NULL, 0, now), 1);
    }
    json_t *a = cm_dlog_list(dl, 0, 1000, NULL, NULL, NULL, &more);
    ck_assert_uint_eq(json_array_size(a), 600);
    for (size_t i = 0; i < 600; i++)
        ck_assert_uint_eq(
            (uint64_t)json_integer_value(json_object_get(json_array_get(a, i), "record_id")),
            id - i);
    json_decref(a);
    cm_dlog_free(dl);
}
END_TEST

/* CRC-32 as the journal's first version computed it, bit by bit: the frames must keep it. */
static uint32_t crc32_bitwise(const char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* The journal's checksum is unchanged, so logs written before still replay: lines framed by
 * the bitwise CRC-32 (their checksums written down when it was replaced) are loaded, and every
 * line written now carries the CRC-32 the bitwise one gives. */
START_TEST(test_crc_unchanged)
{
    long long now = (long long)time(NULL);
    struct cm_dlog_report rep;
    struct cm_dlog *dl = open_log(&big, &rep);
    char line[4096];

    ck_assert_uint_eq(crc32_bitwise("123456789", 9), 0xcbf43926u);
    cm_dlog_free(dl);
    append_raw("13 840ebca5 {\"next\":9000}\n"
               "127 d517d898 {\"t\":4102444800,\"q\":77,\"p\":0,\"d\":{\"record_id\":8999,"
               "\"id\":77,\"endpoint\":\"gh\",\"repository\":\"o/crc\",\"state\":\"queued\","
               "\"attempts\":0}}\n");
    dl = open_log(&big, &rep);
    ck_assert_uint_eq(rep.loaded, 1);
    ck_assert_uint_eq(rep.skipped, 0);
    ck_assert_str_eq(state_of(dl, 8999), "queued");
    ck_assert_uint_gt(add(dl, 78, "gh", "o/crc", "queued", now), 8999);
    cm_dlog_update(dl, 78, "done", NULL, 0, now);
    cm_dlog_free(dl);

    FILE *f = fopen(path, "r");
    size_t n = 0;
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        char *sp1 = strchr(line, ' '), *json = sp1 ? sp1 + 10 : NULL;
        ck_assert_ptr_nonnull(sp1);
        json[strcspn(json, "\n")] = '\0';
        ck_assert_uint_eq(strtoul(sp1 + 1, NULL, 16), crc32_bitwise(json, strlen(json)));
        n++;
    }
    fclose(f);
    ck_assert_uint_ge(n, 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("delivery_log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_restart);
    tcase_add_test(tc, test_torn_and_corrupt);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_weak_share);
    tcase_add_test(tc, test_pages);
    tcase_add_test(tc, test_payloads);
    tcase_add_test(tc, test_payload_segments);
    tcase_add_test(tc, test_expired_stays_expired);
    tcase_add_test(tc, test_early_state);
    tcase_add_test(tc, test_cluster);
    tcase_add_test(tc, test_many_replayed);
    tcase_add_test(tc, test_ring_wraps);
    tcase_add_test(tc, test_crc_unchanged);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
