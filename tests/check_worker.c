/* SPDX-License-Identifier: MIT */
/*
 * The sync worker's error paths, driven by a scripted queue: claims that fail for want of
 * memory back off and are counted, unreadable entries are given up (and kept when that fails),
 * a refused repository name is given up, an unconfigured endpoint is retried, and only the
 * queue closing stops the worker.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/event.h"
#include "ops/activity.h"
#include "ops/metrics.h"
#include "plugin/gateway.h"
#include "queue/queue.h"
#include "sync/worker.h"
#include "test_paths.h"

enum step { S_NOMEM, S_QUEUE_ERR, S_UNREADABLE, S_UNREADABLE_STUCK, S_BADNAME, S_NOENDPOINT };

static const enum step script[] = {S_NOMEM,   S_QUEUE_ERR, S_UNREADABLE, S_UNREADABLE_STUCK,
                                   S_BADNAME, S_NOENDPOINT};
#define N_STEPS (sizeof(script) / sizeof(script[0]))

struct fake {
    struct cm_queue q;
    pthread_mutex_t lock;
    size_t next;
    int give_up_ok, give_up_refused, retried, completed;
    char last_error[512];
};

static struct cm_job *new_job(const char *endpoint, const char *repo, int with_event)
{
    struct cm_job *job = calloc(1, sizeof(*job));
    ck_assert_ptr_nonnull(job);
    ck_assert_ptr_nonnull(job->key = strdup("gh/acme/widgets"));
    ck_assert_ptr_nonnull(job->ids = calloc(1, sizeof(*job->ids)));
    job->ids[0] = 1;
    job->n_ids = 1;
    job->accepted_at = cm_host_now();
    job->accepted_ms = job->accepted_at * 1000;
    if (with_event) {
        ck_assert_int_eq(cm_event_new(&job->event), CM_OK);
        ck_assert_int_eq(cm_event_set(job->event, CM_FIELD_ENDPOINT, endpoint), CM_OK);
        ck_assert_int_eq(cm_event_set(job->event, CM_FIELD_REPOSITORY, repo), CM_OK);
    } else {
        ck_assert_ptr_nonnull(job->last_error = strdup("record 1 does not parse back"));
    }
    return job;
}

static int fake_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms)
{
    struct fake *f = (struct fake *)q;
    (void)timeout_ms;
    pthread_mutex_lock(&f->lock);
    size_t i = f->next < N_STEPS ? f->next++ : N_STEPS;
    pthread_mutex_unlock(&f->lock);
    if (i == N_STEPS)
        return CM_ERROR; /* closing: the one answer on which a worker stops */
    switch (script[i]) {
    case S_NOMEM: return CM_ENOMEM;
    case S_QUEUE_ERR: return CM_EINVAL;
    case S_UNREADABLE:
    case S_UNREADABLE_STUCK: *out = new_job(NULL, NULL, 0); return CM_QUEUE_EUNREADABLE;
    case S_BADNAME: *out = new_job("gh", "acme/../etc", 1); return CM_OK;
    case S_NOENDPOINT: *out = new_job("gone", "acme/widgets", 1); return CM_OK;
    }
    return CM_ERROR;
}

static int fake_give_up(struct cm_queue *q, struct cm_job *job, const char *error)
{
    struct fake *f = (struct fake *)q;
    int rc = CM_OK;
    pthread_mutex_lock(&f->lock);
    /* The second unreadable job meets a failed.log that cannot be written. */
    if (!job->event && f->give_up_ok == 1 && !f->give_up_refused) {
        f->give_up_refused++;
        rc = CM_EAGAIN;
    } else {
        f->give_up_ok++;
    }
    snprintf(f->last_error, sizeof(f->last_error), "%s", error);
    pthread_mutex_unlock(&f->lock);
    cm_job_free(job);
    return rc;
}

static int fake_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error)
{
    struct fake *f = (struct fake *)q;
    (void)at;
    pthread_mutex_lock(&f->lock);
    f->retried++;
    snprintf(f->last_error, sizeof(f->last_error), "%s", error);
    pthread_mutex_unlock(&f->lock);
    cm_job_free(job);
    return CM_OK;
}

static int fake_complete(struct cm_queue *q, struct cm_job *job)
{
    ((struct fake *)q)->completed++;
    cm_job_free(job);
    return CM_OK;
}

static const struct cm_queue_ops fake_ops = {
    .claim = fake_claim, .give_up = fake_give_up, .retry = fake_retry, .complete = fake_complete};

START_TEST(errors_never_stop_the_worker)
{
    struct fake f = {.q = {&fake_ops}, .lock = PTHREAD_MUTEX_INITIALIZER};
    struct cm_daemon d = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cm_config *cfg;
    struct cm_workers *w;
    char err[1024], dir[] = "/tmp/cm-worker.XXXXXX";

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(cm_config_load_text(&cfg, "(test)",
                                         "endpoint = { name = \"gh\"; provider = \"github\"; };\n",
                                         err, sizeof(err)),
                     CM_OK);
    ck_assert_msg(cm_gateway_open(&d.gw, cfg, cm_test_module_dir(), err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_int_eq(cm_activity_new(&d.activity, dir), CM_OK);
    ck_assert_int_eq(cm_metrics_new(&d.metrics), CM_OK);
    d.data_dir = dir;
    d.queue = &f.q;

    ck_assert_int_eq(cm_workers_start(&w, &d, 1), CM_OK);
    cm_workers_stop(w); /* returns once the worker saw the queue close */

    ck_assert_uint_eq(f.next, N_STEPS);
    ck_assert_int_eq(f.give_up_refused, 1);
    ck_assert_int_eq(f.give_up_ok, 2); /* one unreadable job, the refused name */
    ck_assert_int_eq(f.retried, 1);    /* the endpoint no longer configured */
    ck_assert_msg(strstr(f.last_error, "not configured"), "%s", f.last_error);
    ck_assert_int_eq(f.completed, 0);
    char *text = cm_metrics_render(d.metrics, 0);
    ck_assert_ptr_nonnull(strstr(text, "cargoman_queue_claim_errors_total 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "cargoman_queue_unreadable_total 1\n"));
    free(text);

    cm_metrics_free(d.metrics);
    cm_activity_free(d.activity);
    cm_gateway_free(d.gw);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(backoff_grows_and_caps)
{
    /* 2^(n-1) seconds plus up to a quarter of jitter, capped at 300 (+75). */
    ck_assert_int_eq(cm_worker_backoff(1), 1);
    for (int n = 2; n < 12; n++) {
        long long base = n > 9 ? 300 : 1LL << (n - 1), got = cm_worker_backoff(n);
        ck_assert_msg(got >= base && got <= base + base / 4, "attempt %d: %lld", n, got);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, errors_never_stop_the_worker);
    tcase_add_test(tc, backoff_grows_and_caps);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
