/* SPDX-License-Identifier: MIT */
/*
 * Intake: the step from a verified delivery to its answer. A 202 is a promise, so it is
 * answered only after the queue says the event is on disk; everything before that is a 4xx
 * that says what to fix.
 */
#include <jansson.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "intake/allow_list.h"
#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/intake.h"
#include "intake/newrepo.h"
#include "intake/repo_name.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "plugin/host.h"
#include "sync/mirror.h"

static char *answer(const char *status, const char *key, const char *value)
{
    json_t *o = json_pack("{s:s}", "status", status);
    char *s;
    if (o && key && value)
        json_object_set_new(o, key, json_string(value));
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static char *queued_answer(const struct cm_request *req, const uint64_t *ids)
{
    json_t *o = json_object(), *events = json_array();
    const char *delivery =
        req->n_events ? cm_event_get(req->events[0], CM_FIELD_DELIVERY_ID) : NULL;
    char *s;
    json_object_set_new(o, "status", json_string("queued"));
    json_object_set_new(o, "delivery", delivery ? json_string(delivery) : json_null());
    for (size_t i = 0; i < req->n_events; i++) {
        const struct cm_event *ev = req->events[i];
        json_t *refs = json_array();
        for (size_t k = 0; k < ev->n_changes; k++)
            json_array_append_new(refs, json_string(ev->changes[k].ref));
        json_array_append_new(events, json_pack("{s:s, s:I, s:o, s:b}", "repository",
                                                cm_event_get(ev, CM_FIELD_REPOSITORY), "id",
                                                (json_int_t)ids[i], "refs", refs, "complete",
                                                ev->complete));
    }
    json_object_set_new(o, "events", events);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Keep the request's payload for the records of its deliveries (the log drops the headers
 * that carry secrets). */
static void keep_payload(struct cm_daemon *d, const struct cm_request *req, const uint64_t *recs,
                         size_t n)
{
    const char **names = calloc(req->n_headers + 1, sizeof(*names));
    const char **values = calloc(req->n_headers + 1, sizeof(*values));
    for (size_t i = 0; names && values && i < req->n_headers; i++) {
        names[i] = req->headers[i].name;
        values[i] = req->headers[i].value;
    }
    if (names && values)
        cm_activity_payload(d->activity, recs, n, names, values, req->n_headers, req->body,
                            req->body_len);
    free(names);
    free(values);
}

/* The record of ev (NULL: the request alone) of req, queued as queue id qid (0: not queued),
 * answered status. Only a queued delivery, or a refusal of one the endpoint's secret verified,
 * is vouched for: any other record is weak, held to its share of the log (a flood of 401s
 * must not push out the pushes). Its record id, or 0. */
static uint64_t record(struct cm_daemon *d, const struct cm_request *req, const struct cm_event *ev,
                       uint64_t qid, const char *state, const char *error, int status)
{
    char did[CM_DELIVERY_ID_ROOM];
    const char *id = ev ? cm_event_get(ev, CM_FIELD_DELIVERY_ID) : NULL;
    struct cm_activity_from from = {
        .status = status,
        .client = req->client[0] ? req->client : NULL,
        .via = req->via[0] ? req->via : NULL,
        .weak = !qid && !(req->vouched && !strcmp(state, "rejected")),
    };

    return cm_activity_webhook(d->activity, qid, ev, req->endpoint->conf->name,
                               id ? id : cm_request_delivery_id(req, did), state, error, &from);
}

/* Record every event of req (or the request alone when it has none) in state, answered
 * status; keep: whether its payload is kept (not for a signature that failed: those bytes
 * are nobody's). The records go into req->records for the delivery's log line. */
static void record_all(struct cm_daemon *d, struct cm_request *req, const char *state,
                       const char *error, int keep, int status)
{
    uint64_t *recs = req->records;
    size_t n = 0;
    if (!req->n_events)
        recs[n++] = record(d, req, NULL, 0, state, error, status);
    for (size_t i = 0; i < req->n_events; i++) {
        uint64_t r = record(d, req, req->events[i], 0, state, error, status);
        if (n < 64)
            recs[n++] = r;
    }
    req->n_records = n;
    if (keep && recs[0])
        keep_payload(d, req, recs, n);
}

/* The answer to a delivery refused at intake: recorded, and a JSON error whose "limit" (may
 * be NULL) names the configuration key that refused it. The reason is on the delivery's log
 * line (the HTTP front's), with req->detail where it says more. */
static void refuse(struct cm_daemon *d, struct cm_request *req, int code, int retry,
                   const char *limit, int *http_status, char **body, int *retry_after)
{
    record_all(d, req, "rejected", req->reason, code != 401 && code != 403, code);
    *http_status = code;
    *retry_after = retry;
    *body = answer("error", "error", req->reason[0] ? req->reason : "refused");
    if (*body && limit) {
        json_t *o = json_loads(*body, 0, NULL);
        free(*body);
        json_object_set_new(o, "limit", json_string(limit));
        *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    }
}

/* Bytes libgit2 and we add under and beside a mirror's path (its own files, ".lock", ".tmp"). */
#define CM_MIRROR_PATH_ROOM 128
#define CM_MIRROR_SUFFIX_MAX (sizeof(".git.lock") - 1)

/* Whether data_dir/mirrors/<endpoint>/<repository>.git, with room for what is put in and
 * beside it, fits the file system's limits (libgit2 makes the path absolute, so the working
 * directory counts for a relative data_dir). Else CM_EINVAL with the reason in req. */
static int check_mirror_path(const struct cm_daemon *d, struct cm_request *req, const char *repo)
{
    char cwd[PATH_MAX];
    const char *ep = req->endpoint->conf->name, *last = strrchr(repo, '/');
    size_t base = strlen(d->data_dir) + strlen("/mirrors/") + strlen(ep) + 1;
    size_t room, lastlen = strlen(last ? last + 1 : repo);

    if (d->data_dir[0] != '/')
        base += getcwd(cwd, sizeof(cwd)) ? strlen(cwd) + 1 : PATH_MAX;
    room = PATH_MAX > base + CM_MIRROR_SUFFIX_MAX + CM_MIRROR_PATH_ROOM
               ? PATH_MAX - base - CM_MIRROR_SUFFIX_MAX - CM_MIRROR_PATH_ROOM
               : 0;
    if (strlen(repo) > room)
        return cm_request_reject(req, CM_EINVAL,
                                 "repository name \"%.60s...\" (%zu bytes) is too long: its "
                                 "mirror's path would pass the file system's limit of %d bytes; "
                                 "this gateway accepts names of at most %zu bytes",
                                 repo, strlen(repo), PATH_MAX, room);
    if (lastlen + CM_MIRROR_SUFFIX_MAX > NAME_MAX)
        return cm_request_reject(req, CM_EINVAL,
                                 "repository name \"%.60s...\" is too long: its last segment "
                                 "(%zu bytes) would pass the file system's limit of %d bytes "
                                 "for a file name; at most %zu bytes are accepted",
                                 repo, lastlen, NAME_MAX, (size_t)NAME_MAX - CM_MIRROR_SUFFIX_MAX);
    return CM_OK;
}

/* A repository the gateway has never seen: no mirror on disk and nothing queued for it. */
static int is_new_repository(struct cm_daemon *d, const char *ep, const char *repo)
{
    char path[PATH_MAX + 64];
    struct stat st;

    if (cm_mirror_path(path, sizeof(path), d->data_dir, ep, repo) == CM_OK && stat(path, &st) == 0)
        return 0;
    return !d->queue->ops->queued(d->queue, ep, repo);
}

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spend a new-repository token for each event whose repository is new; taken[i] says which
 * did. On refusal every token of this request is given back and req says why. */
static int take_new_repositories(struct cm_daemon *d, struct cm_request *req, long long per_hour,
                                 unsigned char *taken, int *retry_after)
{
    const char *ep = req->endpoint->conf->name;
    int rc = CM_OK;
    size_t i;

    for (i = 0; rc == CM_OK && i < req->n_events; i++) {
        const char *repo = cm_event_get(req->events[i], CM_FIELD_REPOSITORY);
        taken[i] = 0;
        if (!per_hour || !is_new_repository(d, ep, repo))
            continue;
        rc = cm_newrepo_take(d->newrepo, ep, per_hour, monotonic_now(), retry_after);
        taken[i] = rc == CM_OK;
    }
    if (rc == CM_OK)
        return CM_OK;
    while (i-- > 0)
        if (taken[i])
            cm_newrepo_give_back(d->newrepo, ep, per_hour);
    cm_request_reject(req, CM_EAGAIN,
                      "too many new repositories: this endpoint may name at most %lld "
                      "repositories the gateway has not seen yet per hour; retry later, or raise "
                      "server.new_repositories_per_hour (or the endpoint's "
                      "new_repositories_per_hour)",
                      per_hour);
    return rc == CM_EAGAIN ? CM_EAGAIN : CM_ENOMEM;
}

static void give_back_new(struct cm_daemon *d, const struct cm_request *req, long long per_hour,
                          const unsigned char *taken)
{
    for (size_t i = 0; i < req->n_events; i++)
        if (taken[i])
            cm_newrepo_give_back(d->newrepo, req->endpoint->conf->name, per_hour);
}

/* A replay is deliberate: each event gets the delivery id replay-<record>-<n>, so the dedupe
 * (keyed by delivery id) does not take it for the delivery it repeats. Only the dedupe is
 * bypassed: the signature was checked and every limit still applies. */
static int mark_replay(struct cm_request *req)
{
    static atomic_uint seq;
    char did[96];
    int rc = CM_OK;

    snprintf(did, sizeof(did), "replay-%llu-%lld-%u", (unsigned long long)req->replay_of,
             cm_host_now(), atomic_fetch_add(&seq, 1) % 1000);
    for (size_t i = 0; rc == CM_OK && i < req->n_events; i++)
        rc = cm_event_set(req->events[i], CM_FIELD_DELIVERY_ID, did);
    return rc;
}

/* Drop the change lists of events past server.max_refs_per_event: they sync every ref. */
static void cap_refs(struct cm_daemon *d, struct cm_request *req)
{
    for (size_t i = 0; i < req->n_events; i++) {
        size_t n = req->events[i]->n_changes;
        if (cm_event_cap_changes(req->events[i], d->max_refs))
            cm_log(CM_LOG_INFO, req->endpoint->conf->name,
                   "%s: %zu changed refs are more than server.max_refs_per_event (%zu); queued "
                   "as incomplete, so the sync looks at every ref",
                   cm_event_get(req->events[i], CM_FIELD_REPOSITORY), n, d->max_refs);
    }
}

/* Refuse, before anything is queued, events the fetch-URL policy gives no URL for: CM_OK, or
 * CM_EINVAL with req->reason and req->detail. */
static int check_urls(struct cm_request *req, int prefer_ssh)
{
    char url[2048];

    for (size_t i = 0; i < req->n_events; i++) {
        if (cm_fetch_url(req->endpoint, prefer_ssh, req->events[i], url, sizeof(url), req->reason,
                         sizeof(req->reason), req->detail, sizeof(req->detail)) != CM_OK)
            return req->status = CM_EINVAL;
    }
    return CM_OK;
}

/* A repository id renames are followed by (sync/rename.c): only one the host vouched for. On
 * an endpoint without a secret anyone could claim acme/billing's id for a repository of their
 * own and have its mirror, and its package, handed over; so the id is dropped there. */
static void keep_vouched_ids(struct cm_request *req)
{
    int vouched = req->endpoint->conf->secret != NULL;

    for (size_t i = 0; i < req->n_events; i++) {
        const char *id = cm_event_get(req->events[i], CM_FIELD_REPOSITORY_ID);
        if (id && (!vouched || !cm_repo_id_usable(id)))
            cm_event_set(req->events[i], CM_FIELD_REPOSITORY_ID, NULL);
    }
}

struct cm_queue_limits cm_intake_limits(const struct cm_config *cfg,
                                        const struct cm_endpoint_conf *ec)
{
    struct cm_queue_limits limits = {
        .max_queued = (size_t)cfg->max_queued,
        .max_queued_endpoint =
            (size_t)(ec->max_queued > 0 ? ec->max_queued : cfg->max_queued_per_endpoint),
    };
    return limits;
}

void cm_intake(struct cm_daemon *d, const struct cm_gateway *gw, struct cm_request *req,
               int *http_status, char **body, int *retry_after)
{
    const char *ep = req->endpoint->conf->name;
    const struct cm_config *cfg = gw->config;
    const struct cm_endpoint_conf *epc = req->endpoint->conf;
    /* Only the host can sign names, and it names real repositories: the server-wide rate is
     * for endpoints anyone can post to; a signed endpoint is limited only by its own key. */
    long long per_hour = epc->new_repositories_per_hour >= 0 ? epc->new_repositories_per_hour
                         : epc->secret                       ? 0
                                                             : cfg->new_repositories_per_hour;
    struct cm_queue_limits limits = cm_intake_limits(cfg, epc);
    unsigned char taken[64];
    int rc, wait = 0;

    *retry_after = 0;
    req->received_at = cm_host_now();
    rc = cm_dispatch(gw, req);
    if (rc == CM_OK)
        rc = cm_allow_list_apply(d, req);
    if (rc == CM_OK)
        rc = check_urls(req, cm_fetch_url_ssh(gw->config, req->endpoint));
    if (rc == CM_OK && req->replay_of)
        rc = mark_replay(req);
    if (rc == CM_OK)
        keep_vouched_ids(req);
    if (rc == CM_EIGNORE) {
        record_all(d, req, "ignored", req->reason[0] ? req->reason : NULL, 1, 200);
        *http_status = 200;
        *body = answer("ignored", "reason", req->reason[0] ? req->reason : "not a push");
        return;
    }
    if (rc != CM_OK) {
        refuse(d, req, cm_status_http(rc), 0, NULL, http_status, body, retry_after);
        return;
    }

    uint64_t ids[64];
    char keybuf[64][320];
    const char *keys[64];
    size_t n = req->n_events;
    if (n > 64) {
        cm_request_reject(req, CM_EINVAL,
                          "one delivery names %zu repositories; at most 64 are "
                          "accepted",
                          n);
        refuse(d, req, 400, 0, NULL, http_status, body, retry_after);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (check_mirror_path(d, req, cm_event_get(req->events[i], CM_FIELD_REPOSITORY)) != CM_OK) {
            refuse(d, req, 400, 0, NULL, http_status, body, retry_after);
            return;
        }
    cap_refs(d, req);
    if ((rc = take_new_repositories(d, req, per_hour, taken, &wait)) != CM_OK) {
        refuse(d, req, rc == CM_EAGAIN ? 429 : 500, wait, "new_repositories_per_hour", http_status,
               body, retry_after);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *did = cm_event_get(req->events[i], CM_FIELD_DELIVERY_ID);
        keys[i] = NULL;
        if (did) {
            /* One delivery may carry several repositories' events; each is its own key. */
            snprintf(keybuf[i], sizeof(keybuf[i]), "%s/%s#%zu", ep, did, i);
            keys[i] = keybuf[i];
        }
    }
    rc = d->queue->ops->append(d->queue, req->events, keys, n, &limits, ids);
    if (rc != CM_OK)
        give_back_new(d, req, per_hour, taken);
    if (rc == CM_EIGNORE) {
        cm_request_reject(req, CM_EIGNORE, "a delivery id already queued (duplicate)");
        record_all(d, req, "duplicate", NULL, 1, 200);
        *http_status = 200;
        *body = answer("duplicate", NULL, NULL);
        return;
    }
    if (rc == CM_QUEUE_EFULL || rc == CM_QUEUE_EFULL_ENDPOINT) {
        int total = rc == CM_QUEUE_EFULL;
        cm_request_reject(req, CM_EAGAIN,
                          "queue full: %s %zu deliveries waiting to sync; retry later (the "
                          "operator may raise %s)",
                          total ? "the gateway holds its limit of"
                                : "this endpoint holds its limit of",
                          total ? limits.max_queued : limits.max_queued_endpoint,
                          total ? "server.max_queued"
                                : "server.max_queued_per_endpoint or the endpoint's max_queued");
        refuse(d, req, 503, 60, total ? "max_queued" : "max_queued_per_endpoint", http_status, body,
               retry_after);
        return;
    }
    if (rc != CM_OK) {
        cm_log(CM_LOG_ERR, ep,
               "cannot store the event durably: the queue's storage refused it (a full or "
               "read-only disk under data_dir/spool; with queue.backend = \"postgresql\", the "
               "database: see the queue's line); answering 503");
        cm_request_reject(req, CM_ERROR, "the queue cannot store events (disk or database)");
        record_all(d, req, "rejected", req->reason, 1, 503);
        *http_status = 503;
        *retry_after = 30;
        *body = answer("error", "error", "the gateway cannot store events right now; retry later");
        return;
    }
    uint64_t *recs = req->records;
    size_t nrec = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i])
            recs[nrec++] = record(d, req, req->events[i], ids[i], "queued", NULL, 202);
    req->n_records = nrec;
    if (nrec)
        keep_payload(d, req, recs, nrec);
    *http_status = 202;
    *body = queued_answer(req, ids);
}
