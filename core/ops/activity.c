/* SPDX-License-Identifier: MIT */
/*
 * Deliveries (the delivery log) as JSON for operators, and what the repositories' part
 * (activity_repos.c) shares: the store, and paths taken out of the answers. No absolute path
 * reaches them: the API may be read from another machine, and the log has every path whole.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "intake/event.h"
#include "ops/activity.h"
#include "ops/activity_internal.h"
#include "ops/delivery_log.h"
#include "ops/log.h"
#include "ops/payload_store.h"
#include "util/buf.h"

/* Deliveries kept before the log is opened (and by tests): what /api/deliveries showed
 * when it was a ring in memory. */
#define RECENT 256

/* State changes kept for a record that does not exist yet (early_keep), at most this many, for
 * at most this many seconds: an entry whose record never comes (past the log's bounds, or
 * never recorded for want of memory) must not be kept for ever. */
#define EARLY_MAX 1024
#define EARLY_MAX_AGE 60

int cm_activity_new(struct cm_activity **out, const char *data_dir)
{
    struct cm_activity *st = calloc(1, sizeof(*st));
    struct cm_dlog_limits lim = {LLONG_MAX / 2, RECENT};
    char real[PATH_MAX], err[64];
    if (!st || !(st->repos = json_object()) || !(st->early = json_object()) ||
        !(st->data_dir = strdup(data_dir)) ||
        (realpath(data_dir, real) && !(st->data_real = strdup(real))) ||
        cm_dlog_open(&st->dlog, NULL, &lim, 0, NULL, err, sizeof(err)) != CM_OK) {
        if (st) {
            json_decref(st->repos);
            json_decref(st->early);
        }
        free(st ? st->data_dir : NULL);
        free(st ? st->data_real : NULL);
        free(st);
        return CM_ENOMEM;
    }
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->early_lock, NULL);
    *out = st;
    return CM_OK;
}

void cm_activity_free(struct cm_activity *st)
{
    if (!st)
        return;
    cm_dlog_free(st->dlog); /* first: its thread expires payloads */
    cm_payloads_free(st->payloads);
    json_decref(st->repos);
    json_decref(st->early);
    free(st->data_dir);
    free(st->data_real);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->early_lock);
    free(st);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ---- paths out of the answers ---- */

/* Where a path may start: the text's start, or after a space, quote, bracket, '=' or ','. */
static int path_may_start(const char *text, const char *p)
{
    return p == text || strchr(" \t'\"(=[,", p[-1]);
}

/* The length of the path at p: up to a space, quote, bracket, ',' or ';', or a ':' that ends
 * a clause ("/etc/ca.pem: No such file"). */
static size_t path_len(const char *p)
{
    size_t n = 0;
    while (p[n] && !strchr(" \t'\"()[],;", p[n]) &&
           !(p[n] == ':' && (p[n + 1] == ' ' || !p[n + 1])))
        n++;
    return n;
}

/* The length of dir and its slash when p starts with them, else 0. */
static size_t under(const char *p, const char *dir)
{
    size_t n = dir ? strlen(dir) : 0;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return n && !strncmp(p, dir, n) && p[n] == '/' ? n + 1 : 0;
}

json_t *cm_activity_relative(const struct cm_activity *st, const char *text)
{
    struct cm_buf b = {0};
    int rc = CM_OK;
    json_t *out;

    if (!text)
        return json_null();
    for (const char *p = text; *p && rc == CM_OK;) {
        size_t n = 0;
        if (path_may_start(text, p) &&
            ((n = under(p, st->data_real)) || (n = under(p, st->data_dir)))) {
            p += n;
            continue;
        }
        if (*p == '/' && p[1] != '/' && path_may_start(text, p) && (n = path_len(p)) > 1) {
            const char *last = p + n;
            while (last[-1] != '/')
                last--;
            rc = cm_buf_append(&b, ".../", 4);
            if (rc == CM_OK)
                rc = cm_buf_append(&b, last, (size_t)(p + n - last));
            p += n;
            continue;
        }
        rc = cm_buf_append(&b, p++, 1);
    }
    /* A reason may quote what a sender chose (a content type, a method): kept when it is not
     * UTF-8, or the whole record would be lost with it. */
    out = rc == CM_OK ? cm_log_json_string(b.p ? b.p : "") : NULL;
    free(b.p);
    return out;
}

int cm_activity_open_log(struct cm_activity *st, const char *data_dir,
                         const struct cm_activity_retention *keep, char *note, size_t notelen,
                         char *err, size_t errlen)
{
    struct cm_dlog_limits lim = {keep->max_age, (size_t)keep->max_entries};
    struct cm_dlog_report rep;
    struct cm_dlog *dl = NULL;
    char path[4200];
    int rc;

    note[0] = '\0';
    snprintf(path, sizeof(path), "%s/deliveries/payloads", data_dir);
    if ((rc = cm_payloads_open(&st->payloads, path, keep->payload_max_age,
                               keep->payload_max_bytes)) != CM_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    snprintf(path, sizeof(path), "%s/deliveries/log", data_dir);
    if ((rc = cm_dlog_open(&dl, path, &lim, 1000, &rep, err, errlen)) != CM_OK)
        return rc;
    cm_dlog_set_payloads(dl, st->payloads);
    cm_dlog_free(st->dlog);
    st->dlog = dl;
    if (rep.skipped || rep.torn)
        snprintf(note, notelen,
                 "%s: %zu corrupt record(s) skipped (the first on line %zu)%s; %zu records kept",
                 path, rep.skipped, rep.first_skipped,
                 rep.torn ? ", and a torn last record cut off (a crash while it was written)" : "",
                 rep.loaded);
    return CM_OK;
}

/* ---- state changes that come before their record ---- */

/* Under early_lock: forget what is older than EARLY_MAX_AGE, and everything when still full. */
static void early_prune(struct cm_activity *st, long long now)
{
    const char *key;
    json_t *e;
    void *iter;

    json_object_foreach_safe (st->early, iter, key, e) {
        if (now - json_integer_value(json_object_get(e, "since")) > EARLY_MAX_AGE)
            json_object_del(st->early, key);
    }
    if (json_object_size(st->early) >= EARLY_MAX)
        json_object_clear(st->early);
}

/* Under early_lock: a worker claimed queue entry id and moved it to state (error stolen) before
 * the one who queued it recorded it; cm_activity_delivery applies it once it does. */
static void early_keep(struct cm_activity *st, uint64_t id, const char *state, json_t *error,
                       int attempt, long long now)
{
    char key[24];
    json_t *e;

    snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
    if (!(e = json_object_get(st->early, key))) {
        if (json_object_size(st->early) >= EARLY_MAX)
            early_prune(st, now);
        e = json_pack("{s:I, s:I}", "since", (json_int_t)now, "attempts", (json_int_t)0);
        if (!e || json_object_set_new(st->early, key, e) != 0) {
            json_decref(error);
            return;
        }
    }
    json_object_set_new(e, "state", json_string(state));
    json_object_set_new(e, "error", error ? error : json_null());
    json_object_set_new(e, "attempts",
                        json_integer(json_integer_value(json_object_get(e, "attempts")) + attempt));
}

/* Under early_lock: what early_keep kept for queue entry id, into its new record. */
static void early_apply(struct cm_activity *st, uint64_t id, long long now)
{
    char key[24];
    json_t *e;

    snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
    if (!(e = json_object_get(st->early, key)))
        return;
    for (json_int_t n = json_integer_value(json_object_get(e, "attempts")); n > 0; n--)
        cm_dlog_update(st->dlog, id, "syncing", NULL, 1, now);
    cm_dlog_update(st->dlog, id, json_string_value(json_object_get(e, "state")),
                   json_incref(json_object_get(e, "error")), 0, now);
    json_object_del(st->early, key);
}

uint64_t cm_activity_delivery(struct cm_activity *st, uint64_t id, const struct cm_event *ev,
                              const char *endpoint, const char *delivery_id, const char *state,
                              const char *error)
{
    return cm_activity_webhook(st, id, ev, endpoint, delivery_id, state, error, NULL);
}

uint64_t cm_activity_webhook(struct cm_activity *st, uint64_t id, const struct cm_event *ev,
                             const char *endpoint, const char *delivery_id, const char *state,
                             const char *error, const struct cm_activity_from *from)
{
    long long now = (long long)time(NULL);
    const char *received = ev ? cm_event_get(ev, CM_FIELD_RECEIVED_AT) : NULL;
    char ts[32];
    json_t *refs = json_array();
    for (size_t i = 0; ev && i < ev->n_changes; i++)
        json_array_append_new(refs, json_string(ev->changes[i].ref));
    cm_format_time(now, ts, sizeof(ts));
    json_t *doc =
        json_pack("{s:I, s:o, s:s, s:o, s:o, s:s, s:s, s:o, s:i, s:s}", "id", (json_int_t)id,
                  "delivery_id", str_or_null(delivery_id), "endpoint", endpoint, "repository",
                  str_or_null(ev ? cm_event_get(ev, CM_FIELD_REPOSITORY) : NULL), "refs", refs,
                  "received_at", received ? received : ts, "state", state, "error",
                  cm_activity_relative(st, error), "attempts", 0, "updated_at", ts);
    uint64_t record = 0;
    if (!doc)
        return 0;
    json_object_set_new(doc, "status",
                        from && from->status ? json_integer(from->status) : json_null());
    json_object_set_new(doc, "client", str_or_null(from ? from->client : NULL));
    json_object_set_new(doc, "via", str_or_null(from ? from->via : NULL));
    /* The log takes doc: the cluster gets a copy, made before it is shared. */
    json_t *copy = st->cluster ? json_deep_copy(doc) : NULL;
    pthread_mutex_lock(&st->early_lock);
    record = from && from->weak && !id ? cm_dlog_add_weak(st->dlog, doc, now)
                                       : cm_dlog_add(st->dlog, doc, id, now);
    if (record && id)
        early_apply(st, id, now);
    pthread_mutex_unlock(&st->early_lock);
    if (copy && record &&
        json_object_set_new(copy, "record_id", json_integer((json_int_t)record)) == 0) {
        st->cluster->delivery(st->cluster->arg, id, copy);
        copy = NULL;
    }
    json_decref(copy);
    return record;
}

void cm_activity_delivery_state(struct cm_activity *st, uint64_t id, const char *state,
                                const char *error)
{
    long long now = (long long)time(NULL);
    json_t *err = cm_activity_relative(st, error);
    int attempt = !strcmp(state, "syncing");

    /* The queue hands an entry to a worker as soon as it is stored, which may be before the
     * caller of append records it: the change waits for the record then. */
    pthread_mutex_lock(&st->early_lock);
    if (!cm_dlog_update(st->dlog, id, state, json_incref(err), attempt, now))
        early_keep(st, id, state, json_incref(err), attempt, now);
    pthread_mutex_unlock(&st->early_lock);
    /* Whichever node syncs the entry says so: its record may be another node's. */
    if (st->cluster && id)
        st->cluster->state(st->cluster->arg, id, state, json_string_value(err), attempt);
    json_decref(err);
}

void cm_activity_payload(struct cm_activity *st, const uint64_t *records, size_t n,
                         const char *const *names, const char *const *values, size_t n_headers,
                         const void *body, size_t len)
{
    if (!st->payloads || !n || !records[0] ||
        cm_payloads_put(st->payloads, records[0], (long long)time(NULL), names, values, n_headers,
                        body, len) != CM_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (records[i])
            cm_dlog_set_payload(st->dlog, records[i], records[0]);
}

uint64_t cm_activity_pending(struct cm_activity *st, const char *endpoint, const char *repository)
{
    int more = 0;
    json_t *a = cm_dlog_list(st->dlog, 0, 64, endpoint, repository, NULL, &more), *v;
    uint64_t found = 0;
    size_t i;

    json_array_foreach (a, i, v) {
        const char *state = json_string_value(json_object_get(v, "state"));
        if (state &&
            (!strcmp(state, "queued") || !strcmp(state, "syncing") || !strcmp(state, "retrying"))) {
            found = (uint64_t)json_integer_value(json_object_get(v, "record_id"));
            break;
        }
    }
    json_decref(a);
    return found;
}

char *cm_activity_dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

void cm_activity_set_cluster(struct cm_activity *st, const struct cm_activity_cluster *cluster)
{
    st->cluster = cluster;
}
