/* SPDX-License-Identifier: MIT */
/*
 * The sync loop. Hosts send webhooks before a commit is always visible, so a fetch that does
 * not yet show a pushed id counts as a failure and is retried like a network error.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "daemon.h"
#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/repo_name.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "plugin/loader.h"
#include "sync/gone.h"
#include "sync/mirror.h"
#include "util/memtune.h"
#include "sync/rename.h"
#include "sync/resync.h"
#include "sync/shared_state.h"
#include "sync/worker.h"
#include "util/crypto.h"
#include "util/deadline.h"

struct cm_workers {
    struct cm_daemon *d;
    pthread_t *threads;
    int n;
    atomic_int alive; /* threads started and not yet returned */
};

/* Backoff after a claim failed for want of memory: short at first, at most this long. */
#define CM_WORKER_NOMEM_MAX_MS 2000

long long cm_worker_backoff(int attempt)
{
    long long delay = 1;
    unsigned r = 0;
    for (int i = 1; i < attempt && delay < 300; i++)
        delay *= 2;
    if (delay > 300)
        delay = 300;
    cm_crypto_random(&r, sizeof(r));
    return delay + (long long)(r % (unsigned)(delay / 4 + 1));
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether the fetch shows a change: the ref is where the host said. Later pushes may have moved
 * the ref on since (webhooks can arrive out of order), so a pushed id that is in the mirror
 * counts too, and a deleted ref that was created again no longer points at the old id. */
static int change_arrived(const struct cm_mirror *m, const struct cm_change *c)
{
    /* A new value the host did not send: the ref exists, whatever it points at. A delete
     * without ids needs nothing of its own: the fetch prunes the ref, then it is absent. */
    if (c->new_unknown)
        return !cm_mirror_ref_is(m, c->ref, NULL);
    if (cm_mirror_ref_is(m, c->ref, c->new_id))
        return 1;
    if (c->new_id)
        return cm_mirror_has_object(m, c->new_id);
    return c->old_id && !cm_mirror_ref_is(m, c->ref, c->old_id);
}

/* Whether the mirror already holds change c, so that a fetch for it would bring nothing: a
 * deleted ref is gone, or the ref is at the pushed id. A branch past the pushed id counts too
 * (a later push moved it on), but only after a create or a fast-forward: a ref that a push
 * moved back or aside (forced, or old not an ancestor of new) may still be where it was. */
static int change_present(const struct cm_mirror *m, const struct cm_change *c)
{
    if (c->new_unknown)
        return 0;
    if (!c->new_id)
        return cm_mirror_ref_is(m, c->ref, NULL);
    if (cm_mirror_ref_is(m, c->ref, c->new_id))
        return 1;
    if (c->forced == 1 || c->old_unknown || strncmp(c->ref, "refs/heads/", 11))
        return 0;
    if (c->old_id && !cm_mirror_descends(m, NULL, c->new_id, c->old_id))
        return 0;
    return cm_mirror_descends(m, c->ref, NULL, c->new_id);
}

/* cm_mirror_sync asks this before a fetch: an event that lists its changes, every one already
 * in the mirror, needs none. One that does not list them (resync, import, reconciliation,
 * past max_refs_per_event) must look at every ref, so it always fetches. */
static int event_present(void *arg, const struct cm_mirror *m)
{
    const struct cm_event *ev = arg;

    if (!ev->complete || !ev->n_changes)
        return 0;
    for (size_t i = 0; i < ev->n_changes; i++)
        if (!change_present(m, &ev->changes[i]))
            return 0;
    return 1;
}

/* What the sync plugins of gw would act on in m, into digest ("" when it cannot be told):
 * the refs; the repository's name, id and URL, which plugins publish too (a rename or a new
 * clone_url must reach them); and which plugins are configured, so that a plugin added by a
 * reload runs. */
static void plugins_digest(const struct cm_gateway *gw, const struct cm_mirror *m, char digest[65])
{
    const char *id = cm_mirror_get(m, CM_MIRROR_REPOSITORY_ID);
    char salt[8192];
    int n = snprintf(salt, sizeof(salt), "%s\n%s\n%s\n", cm_mirror_get(m, CM_MIRROR_REPOSITORY),
                     id ? id : "", cm_mirror_get(m, CM_MIRROR_URL));
    size_t used = n > 0 ? (size_t)n : sizeof(salt);

    digest[0] = '\0';
    for (size_t i = 0; i < gw->n_syncs && used < sizeof(salt); i++)
        used +=
            (size_t)snprintf(salt + used, sizeof(salt) - used, "%s ", gw->syncs[i].conf->plugin);
    if (used >= sizeof(salt) || cm_mirror_refs_digest(m, salt, digest) != CM_OK)
        digest[0] = '\0';
}

/* Whether the sync plugins must run for ev: always for an event that does not list its
 * changes (resync, import, reconciliation) and for an operator's replay; otherwise only when
 * the refs differ from those of their last run that all succeeded (a crash between a fetch
 * and the plugins leaves the old digest, so they run next time). */
static int plugins_due(const struct cm_event *ev, const struct cm_mirror *m, const char *digest)
{
    const char *did = cm_event_get(ev, CM_FIELD_DELIVERY_ID);

    if (!ev->complete || !digest[0] || (did && !strncmp(did, "replay-", 7)))
        return 1;
    return !cm_mirror_plugins_current(m, digest);
}

struct cm_mirror_auth cm_worker_auth(const struct cm_config *cfg, const struct cm_endpoint_conf *ec)
{
    struct cm_mirror_auth auth = {
        .user = ec->auth_user ? ec->auth_user : cfg->auth_user,
        .token = ec->auth_token ? ec->auth_token : cfg->auth_token,
        /* A passphrase belongs to its key: the endpoint's key never gets git's passphrase. */
        .ssh_key = ec->ssh_key ? ec->ssh_key : cfg->ssh_key,
        .ssh_passphrase = ec->ssh_key ? ec->ssh_passphrase : cfg->ssh_passphrase,
        .ssh_known_hosts = ec->ssh_known_hosts ? ec->ssh_known_hosts : cfg->ssh_known_hosts,
        .endpoint = ec->name,
        .own_ssh_key = ec->ssh_key != NULL,
        .own_known_hosts = ec->ssh_known_hosts != NULL,
        .ssl_ca_file = ec->ssl_ca_file ? ec->ssl_ca_file : cfg->ssl_ca_file,
    };
    return auth;
}

/* Say what cm_rename_follow did. */
static void follow_rename(struct cm_daemon *d, const char *endpoint, const char *repository,
                          const char *id, const struct cm_rename *rn)
{
    if (rn->alias)
        cm_log(CM_LOG_INFO, endpoint,
               "%s is an earlier name of %s (repository id %s): synced under %s, from its URL",
               repository, rn->name, id, rn->name);
    if (rn->dropped_id[0]) {
        cm_metrics_rename(d->metrics, CM_RENAME_REPLACED);
        cm_log(CM_LOG_WARNING, endpoint,
               "%s: the name now belongs to repository id %s; the mirror repository id %s left "
               "under it was removed (what that repository published stays its own)",
               repository, id, rn->dropped_id);
    }
    if (rn->from[0]) {
        cm_log(CM_LOG_INFO, endpoint, "%s was renamed to %s (repository id %s): mirror moved",
               rn->from, repository, id);
        cm_activity_forget(d->activity, endpoint, rn->from);
        cm_metrics_rename(d->metrics, CM_RENAME_MOVED);
    }
}

/* Whether this sync's fetch has no host's word that the name is still the mirror's
 * repository, so that it must continue the mirror's history (cm_mirror_guard_history): a
 * delivery for an earlier name (fetched by the present one), a mirror without an id taken
 * over by a signed push, or a sync carrying no id (reconcile, resync, import) of a mirror
 * that has one. */
static int unvouched(const char *id, const struct cm_rename *rn, const char *path)
{
    struct cm_mirror_identity who;

    if (rn->alias || rn->adopted)
        return 1;
    return !id && cm_mirror_identity_read(path, &who) == CM_OK && who.id[0];
}

/* Whose fetch a progress report is about. */
struct fetch_watch {
    struct cm_activity *activity;
    const char *endpoint, *repository;
};

static void on_fetch_progress(void *arg, unsigned received_objects, unsigned total_objects,
                              unsigned long long received_bytes)
{
    const struct fetch_watch *w = arg;

    cm_activity_fetch(w->activity, w->endpoint, w->repository, received_objects, total_objects,
                      received_bytes);
}

/* Whether the host's "not found" for url is about the mirror at path: url is the one its last
 * sync recorded, or, when none was recorded, one the endpoint's clone_url made from the name.
 * Without clone_url a payload's clone URL may name any path on the host, so a sender could
 * otherwise get another repository's mirror removed, and its package names released, by naming
 * it with a URL that does not exist. Else 0, and err says so. */
static int gone_is_mirrors(const struct cm_endpoint *ep, const char *path, const char *url,
                           char *err, size_t errlen)
{
    char stored[2048];
    long long synced;
    size_t len = strlen(err);

    if (cm_mirror_recorded(path, stored, sizeof(stored), &synced) == CM_OK &&
        (*stored ? !strcmp(stored, url) : ep->conf->clone_url != NULL))
        return 1;
    snprintf(err + len, errlen - len,
             "; not the URL this mirror syncs from, so it does not count toward removing it");
    return 0;
}

/* The record step of sync/gone.h: in a cluster the other nodes learn it first, or their
 * mirrors (or none) would keep the names where they are. */
static int gone_record(void *arg, const char *endpoint, const char *repository)
{
    struct cm_daemon *d = arg;
    const struct cm_queue_state_ops *s = d->queue->ops->state;

    return s && s->gone_mark ? s->gone_mark(d->queue, endpoint, repository) : CM_OK;
}

int cm_worker_settle_gone(struct cm_daemon *d, const struct cm_config *cfg, const char *endpoint,
                          const char *repository, const char *path, char *err, size_t errlen)
{
    if (!cm_gone_settle(d->gone, endpoint, repository, path, cm_host_now(),
                        cfg->gone_repository_max_age, gone_record, d, err, errlen))
        return 0;
    cm_activity_forget(d->activity, endpoint, repository);
    cm_metrics_gone(d->metrics);
    return 1;
}

/* Run one job: CM_OK when synced, else an error in err and CM_EAGAIN (retry) or CM_ERROR
 * (give up now). */
static int run_job(struct cm_daemon *d, struct cm_gateway *gw, struct cm_job *job,
                   long long *state_fence, char *err, size_t errlen)
{
    const struct cm_event *ev = job->event;
    const char *epname = cm_event_get(ev, CM_FIELD_ENDPOINT);
    const char *repo = cm_event_get(ev, CM_FIELD_REPOSITORY);
    const char *id = cm_event_get(ev, CM_FIELD_REPOSITORY_ID);
    struct cm_rename rn;
    const struct cm_endpoint *ep = epname ? cm_gateway_endpoint(gw, epname) : NULL;
    const struct cm_config *cfg = gw->config;
    char url[2048], path[4096], reason[512];
    const char *why;
    struct cm_mirror *m = NULL;
    int rc;

    /* A configuration problem is retried like a network one: fixing conf.d and sending
     * SIGHUP within sync_max_age still syncs what was accepted. */
    if (!ep || !repo) {
        snprintf(err, errlen,
                 "endpoint \"%s\" is not configured (any more): restore it in "
                 "conf.d and send SIGHUP",
                 epname ? epname : "?");
        return CM_EAGAIN;
    }
    /* Intake checked both; the spool may hold entries older than the running configuration. */
    if (cm_repo_name_check(repo, &why) != CM_OK) {
        snprintf(err, errlen, "repository name \"%.300s\" is refused: %s", repo, why);
        return CM_ERROR;
    }
    if (cm_fetch_url(ep, cm_fetch_url_ssh(cfg, ep), ev, url, sizeof(url), reason, sizeof(reason),
                     err, errlen) != CM_OK)
        return CM_EAGAIN;
    if (cm_rename_follow(cfg->data_dir, epname, repo, id, cm_host_now(), &rn, err, errlen) != CM_OK)
        return CM_EAGAIN;
    follow_rename(d, epname, repo, id, &rn);
    repo = rn.name;
    if (cm_mirror_path(path, sizeof(path), cfg->data_dir, epname, repo) != CM_OK) {
        snprintf(err, errlen, "repository name %.300s is too long for a mirror", repo);
        return CM_ERROR;
    }
    if (rn.alias && cm_sync_url_by_name(ep, cm_fetch_url_ssh(cfg, ep), repo, path, url, sizeof(url),
                                        err, errlen) != CM_OK)
        return CM_EAGAIN;
    /* The sync makes the directories, and removes them again when a first clone fails. */
    if ((rc = cm_mirror_open(&m, path, url, epname, repo)) != CM_OK ||
        cm_mirror_set_id(m, id) != CM_OK) {
        cm_mirror_free(m);
        snprintf(err, errlen, "cannot open mirror %.900s", path);
        return CM_EAGAIN;
    }
    cm_mirror_set_max_blob(m, (unsigned long long)cfg->max_blob_size);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        cm_mirror_expect_existing(m);
        if (unvouched(id, &rn, path))
            cm_mirror_guard_history(m);
    }
    struct fetch_watch watch = {d->activity, epname, repo};
    cm_mirror_set_progress(m, on_fetch_progress, &watch);
    struct cm_mirror_auth auth = cm_worker_auth(cfg, ep->conf);
    cm_mirror_set_current_check(m, event_present, (void *)ev);
    double t0 = now_seconds();
    rc = cm_mirror_sync(m, &auth, err, errlen);
    cm_activity_fetch_end(d->activity, epname, repo);
    /* Only a fetch is the host answering: a sync that found every change already present
     * contacted nobody, and a replayed delivery must not vouch for the endpoint. */
    if (rc == CM_OK && cm_mirror_fetched(m))
        cm_gone_answered(d->gone, epname, path, cm_host_now());
    if (rc == CM_OK && !cm_mirror_fetched(m))
        cm_metrics_fetch_skipped(d->metrics);
    else
        cm_metrics_fetch(d->metrics, now_seconds() - t0, rc == CM_OK);
    /* Without a fetch, event_present has just found every change there (present implies
     * arrived): only a fetch needs to be checked for what it brought. */
    if (rc == CM_OK && cm_mirror_fetched(m)) {
        for (size_t i = 0; i < ev->n_changes; i++) {
            const struct cm_change *c = &ev->changes[i];
            if (!change_arrived(m, c)) {
                snprintf(err, errlen,
                         "%s is not yet at %s after the fetch (the host may not "
                         "have published it yet)",
                         c->new_id ? c->new_id : "deletion", c->ref);
                rc = CM_EAGAIN;
                break;
            }
        }
    }
    /* A plugin that fails for good does not hold back the ones after it; one that asks for
     * a retry stops the run, and the retry runs every plugin again (they are idempotent). */
    int gave_up = 0, run = 0;
    char digest[65] = "";
    /* In a cluster the plugins' state is the cluster's, not this mirror's: another node may
     * have published since this one last ran them, so they always run, and the digest of the
     * refs (a walk of every ref) that would tell otherwise is not taken. */
    if (rc == CM_OK && gw->n_syncs && d->shared) {
        run = 1;
        if (cm_shared_state_begin(d->shared, gw, state_fence, err, errlen) != CM_OK)
            rc = CM_EAGAIN;
    } else if (rc == CM_OK && gw->n_syncs) {
        plugins_digest(gw, m, digest);
        run = plugins_due(ev, m, digest);
    }
    for (size_t i = 0; rc == CM_OK && run && i < gw->n_syncs; i++) {
        const struct cm_sync *s = &gw->syncs[i];
        double p0 = now_seconds();
        int prc = s->plugin->on_sync(s->self, ev, m);
        cm_metrics_plugin(d->metrics, s->conf->plugin, now_seconds() - p0);
        if (prc != CM_OK && cm_sync_gives_up(s->plugin, prc)) {
            snprintf(err, errlen, "sync plugin %s cannot act on this event (%d); see its log line",
                     s->conf->plugin, prc);
            gave_up = 1;
        } else if (prc != CM_OK) {
            snprintf(err, errlen, "sync plugin %s failed (%d); see its log line", s->conf->plugin,
                     prc);
            rc = CM_EAGAIN;
        }
    }
    if (rc == CM_OK && run && !gave_up && digest[0])
        cm_mirror_plugins_ran(m, digest); /* failing to record it only costs a rerun */
    if (rc == CM_OK)
        cm_rename_remember(cfg->data_dir, epname, repo, cm_mirror_get(m, CM_MIRROR_REPOSITORY_ID));
    if (rc == CM_OK && !cm_mirror_fetched(m) && !run)
        cm_activity_repository_same(d->activity, epname, repo, path, m, cm_host_now());
    else
        cm_activity_repository(d->activity, epname, repo, path, m, cm_host_now(),
                               rc == CM_OK && !gave_up ? NULL : err);
    /* A first clone's "not found" left no mirror: missing_for_good's, not gone.c's. */
    int not_found = rc != CM_OK && cm_mirror_not_found(m) && !cm_mirror_missing(m);
    if (rc != CM_OK && cm_mirror_missing(m))
        rc = CM_ENOENT;
    cm_mirror_free(m);
    if (not_found && gone_is_mirrors(ep, path, url, err, errlen) &&
        cm_worker_settle_gone(d, cfg, epname, repo, path, err, errlen))
        return CM_ERROR;
    if ((rc == CM_OK && gave_up) || rc == CM_EAUTH)
        return CM_ERROR; /* a plugin's for good, or a history the guard refused */
    return rc == CM_OK ? CM_OK : rc == CM_ERROR ? CM_EAGAIN : rc;
}

/* A repository the host says does not exist, and of which no mirror was ever made, is most
 * likely a name a sender made up: retried only while the host may still be publishing a new
 * one (server.missing_repository_max_age), not for a whole sync_max_age. 1 to give up now:
 * the next attempt would come after that window. */
static int missing_for_good(const struct cm_config *cfg, const struct cm_job *job, long long now,
                            long long delay)
{
    return now + delay - job->accepted_at > cfg->missing_repository_max_age;
}

/* An import names a repository an operator chose and waits for: the host's "no such
 * repository" is the answer, not a reason to wait. */
static int is_import(const struct cm_job *job)
{
    const char *type = job->event ? cm_event_get(job->event, CM_FIELD_EVENT) : NULL;
    return type && !strcmp(type, "import");
}

static void set_state(struct cm_daemon *d, const struct cm_job *job, const char *state,
                      const char *error)
{
    for (size_t i = 0; i < job->n_ids; i++)
        cm_activity_delivery_state(d->activity, job->ids[i], state, error);
}

static void give_up(struct cm_daemon *d, struct cm_queue *q, struct cm_job *job, const char *err)
{
    set_state(d, job, "failed", err);
    q->ops->give_up(q, job, err);
}

/* Stored entries that no longer read back as events can never sync: record them as failed
 * (the queue keeps them otherwise), so the repository's other entries are claimed next. */
static void drop_unreadable(struct cm_daemon *d, struct cm_queue *q, struct cm_job *job)
{
    char why[512], key[512];
    size_t n = job->n_ids;
    int rc;

    snprintf(why, sizeof(why), "%s", job->last_error ? job->last_error : "unreadable entry");
    snprintf(key, sizeof(key), "%s", job->key);
    set_state(d, job, "failed", why);
    if ((rc = q->ops->give_up(q, job, why)) == CM_OK) {
        cm_metrics_unreadable(d->metrics, n);
        cm_log(CM_LOG_ERR, "sync", "%s: %s; %zu queued entr%s recorded as failed", key, why, n,
               n == 1 ? "y" : "ies");
    } else {
        cm_log(CM_LOG_WARNING, "sync",
               "%s: %s; recording it as failed did not work (%d), trying again in a minute", key,
               why, rc);
    }
}

/* Sleep ms milliseconds; the next backoff doubles, up to CM_WORKER_NOMEM_MAX_MS. */
static void back_off(int *ms)
{
    struct timespec ts = {*ms / 1000, (long)(*ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *ms = *ms * 2 > CM_WORKER_NOMEM_MAX_MS ? CM_WORKER_NOMEM_MAX_MS : *ms * 2;
}

static void sync_job(struct cm_daemon *d, struct cm_queue *q, struct cm_job *job)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const char *name = job->key;
    char err[1024];
    long long fence = 0; /* the cluster's lock on the plugins' state, while run_job holds it */
    int rc;

    err[0] = '\0';
    set_state(d, job, "syncing", NULL);
    rc = run_job(d, gw, job, &fence, err, sizeof(err));
    long long now = cm_host_now(), delay = cm_worker_backoff(job->attempts + 1);
    if (fence && rc != CM_OK)
        cm_shared_state_abandon(d->shared, gw, fence);
    if (rc == CM_OK) {
        cm_metrics_synced(d->metrics, (double)(cm_realtime_ms() - job->accepted_ms) / 1000.0);
        set_state(d, job, "done", NULL);
        cm_log(CM_LOG_INFO, "sync", "%s synced", name);
        if (!fence)
            q->ops->complete(q, job);
        else {
            char key[512];
            snprintf(key, sizeof(key), "%s", name); /* complete frees the job */
            if (cm_shared_state_complete(d->shared, gw, job, fence) != CM_OK)
                cm_log(CM_LOG_WARNING, "sync",
                       "%s: what the sync plugins made could not be published to the cluster "
                       "(see the queue's line); the job runs again",
                       key);
        }
    } else if (rc == CM_ERROR || now - job->accepted_at >= gw->config->sync_max_age) {
        cm_log(CM_LOG_ERR, "sync", "%s: giving up: %s", name, err);
        give_up(d, q, job, err);
    } else if (rc == CM_ENOENT && is_import(job)) {
        cm_log(CM_LOG_ERR, "sync", "%s: import failed: the host has no such repository: %s", name,
               err);
        give_up(d, q, job, err);
    } else if (rc == CM_ENOENT && missing_for_good(gw->config, job, now, delay)) {
        cm_log(CM_LOG_ERR, "sync",
               "%s: giving up after %d attempts: the host has no such repository and it was "
               "never mirrored (retried for server.missing_repository_max_age = %llds): %s",
               name, job->attempts + 1, gw->config->missing_repository_max_age, err);
        give_up(d, q, job, err);
    } else {
        cm_log(CM_LOG_WARNING, "sync", "%s: %s; retrying in %llds", name, err, delay);
        set_state(d, job, "retrying", err);
        q->ops->retry(q, job, now + delay, err);
    }
    cm_daemon_release(d, gw);
}

/* Serves until the queue closes: no other answer of claim ends a worker, or one bad entry
 * or a moment without memory would stop syncing for good, without a word. */
static void *worker_main(void *arg)
{
    struct cm_workers *w = arg;
    struct cm_daemon *d = w->d;
    struct cm_queue *q = d->queue;
    int nomem_ms = 0;

    for (;;) {
        struct cm_job *job;
        int rc = q->ops->claim(q, &job, 1000);
        if (rc == CM_ERROR)
            break;
        if (rc != CM_OK && rc != CM_EAGAIN && rc != CM_QUEUE_EUNREADABLE) {
            cm_metrics_claim_failed(d->metrics);
            if (!nomem_ms) { /* once per spell, not once per attempt */
                cm_log(CM_LOG_ERR, "sync", "cannot claim a job (%s); backing off up to %d s",
                       rc == CM_ENOMEM ? "out of memory" : "queue error",
                       CM_WORKER_NOMEM_MAX_MS / 1000);
                nomem_ms = 100;
            }
            back_off(&nomem_ms);
            continue;
        }
        if (nomem_ms)
            cm_log(CM_LOG_INFO, "sync", "claiming jobs again");
        nomem_ms = 0;
        if (rc == CM_QUEUE_EUNREADABLE)
            drop_unreadable(d, q, job);
        else if (rc == CM_OK) {
            sync_job(d, q, job);
            cm_memory_release(); /* a job's peak (thousands of versions) is not kept */
        }
    }
    atomic_fetch_sub(&w->alive, 1);
    return NULL;
}

int cm_workers_start(struct cm_workers **out, struct cm_daemon *d, int n)
{
    struct cm_workers *w = calloc(1, sizeof(*w));
    if (!w || !(w->threads = calloc((size_t)n, sizeof(pthread_t)))) {
        free(w);
        return CM_ENOMEM;
    }
    w->d = d;
    atomic_init(&w->alive, 0);
    for (int i = 0; i < n; i++) {
        atomic_fetch_add(&w->alive, 1);
        if (pthread_create(&w->threads[i], NULL, worker_main, w)) {
            atomic_fetch_sub(&w->alive, 1);
            w->n = i;
            cm_workers_stop(w);
            return CM_ERROR;
        }
    }
    w->n = n;
    *out = w;
    return CM_OK;
}

int cm_workers_alive(struct cm_workers *w)
{
    return atomic_load(&w->alive);
}

void cm_workers_stop(struct cm_workers *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    free(w);
}
