/* SPDX-License-Identifier: MIT */
/*
 * Each mirror as GET /api/repositories shows it: its last sync, the fetch under way, its
 * heads, the notes sync plugins left, its repository id and earlier names. Kept in memory and
 * rebuilt at start from the mirrors on disk.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "intake/event.h"
#include "ops/activity.h"
#include "ops/activity_internal.h"
#include "sync/mirror.h"

static int add_head(void *arg, const char *ref, const char *commit)
{
    if (!strncmp(ref, "refs/heads/", 11))
        json_object_set_new(arg, ref + 11, json_string(commit));
    return 0;
}

struct notes {
    const struct cm_activity *st;
    json_t *obj;
};

static int add_note(void *arg, const char *ref, const char *message)
{
    struct notes *n = arg;
    json_object_set_new(n->obj, ref, cm_activity_relative(n->st, message));
    return 0;
}

/* Under the lock: the entry of endpoint/repository in st->repos, made (with no sync yet) when
 * there is none; NULL when out of memory. */
static json_t *repo_entry(struct cm_activity *st, const char *endpoint, const char *repository)
{
    char key[1024];
    json_t *r;

    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    if ((r = json_object_get(st->repos, key)))
        return r;
    r = json_pack("{s:s, s:s, s:n, s:n, s:n, s:n}", "endpoint", endpoint, "repository", repository,
                  "mirror", "last_attempt", "last_sync", "last_error");
    if (r && json_object_set_new(st->repos, key, r) != 0)
        r = NULL;
    return r;
}

void cm_activity_fetch(struct cm_activity *st, const char *endpoint, const char *repository,
                       unsigned received_objects, unsigned total_objects,
                       unsigned long long received_bytes)
{
    json_t *f = json_pack("{s:I, s:I, s:I}", "received_objects", (json_int_t)received_objects,
                          "total_objects", (json_int_t)total_objects, "received_bytes",
                          (json_int_t)received_bytes);
    json_t *r;

    pthread_mutex_lock(&st->lock);
    if (f && (r = repo_entry(st, endpoint, repository)))
        json_object_set(r, "fetch", f);
    pthread_mutex_unlock(&st->lock);
    json_decref(f);
}

void cm_activity_fetch_end(struct cm_activity *st, const char *endpoint, const char *repository)
{
    char key[1024];

    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    pthread_mutex_lock(&st->lock);
    json_object_del(json_object_get(st->repos, key), "fetch");
    pthread_mutex_unlock(&st->lock);
}

/* Whether endpoint/repository has its heads recorded. */
static int has_heads(struct cm_activity *st, const char *endpoint, const char *repository)
{
    char key[1024];
    int found;
    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    pthread_mutex_lock(&st->lock);
    found = json_object_get(json_object_get(st->repos, key), "heads") != NULL;
    pthread_mutex_unlock(&st->lock);
    return found;
}

/* read_refs: whether m's heads and notes are read again (else those recorded stand). */
static void record(struct cm_activity *st, const char *endpoint, const char *repository,
                   const char *mirror_path, const struct cm_mirror *m, long long when,
                   const char *error, int read_refs)
{
    char ts[32];
    json_t *heads = json_object(), *notes = json_object();
    struct notes nt = {st, notes};
    cm_format_time(when, ts, sizeof(ts));
    json_t *aliases = json_array();
    struct cm_mirror_identity who;
    if (m && read_refs) {
        cm_mirror_refs(m, add_head, heads);
        cm_mirror_notes(m, add_note, &nt);
    }
    if (!m || cm_mirror_identity_read(mirror_path, &who) != CM_OK)
        memset(&who, 0, sizeof(who));
    for (char *p = who.aliases, *next; *p; p = next) {
        next = p + strcspn(p, " ");
        if (*next)
            *next++ = '\0';
        json_array_append_new(aliases, json_string(p));
    }
    pthread_mutex_lock(&st->lock);
    json_t *r = repo_entry(st, endpoint, repository);
    if (!r) {
        pthread_mutex_unlock(&st->lock);
        json_decref(heads);
        json_decref(notes);
        json_decref(aliases);
        return;
    }
    json_object_set_new(r, "repository_id", who.id[0] ? json_string(who.id) : json_null());
    json_object_set_new(r, "aliases", aliases);
    /* Relative to the data directory ("mirrors/<endpoint>/<repository>.git"), not dropped:
     * it tells an operator on the host where to look, and nobody else where the disk is. */
    json_object_set_new(r, "mirror", cm_activity_relative(st, mirror_path));
    json_object_set_new(r, "last_attempt", json_string(ts));
    if (!error)
        json_object_set_new(r, "last_sync", json_string(ts));
    else if (!json_object_get(r, "last_sync"))
        json_object_set_new(r, "last_sync", json_null());
    json_object_set_new(r, "last_error", cm_activity_relative(st, error));
    if (m && read_refs) {
        json_object_set_new(r, "heads", heads);
        json_object_set_new(r, "notes", notes);
    } else {
        json_decref(heads);
        json_decref(notes);
    }
    /* A copy for the cluster, without the fetch under way: that is this node's, of now. */
    json_t *shared = st->cluster ? json_deep_copy(r) : NULL;
    pthread_mutex_unlock(&st->lock);
    if (shared) {
        json_object_del(shared, "fetch");
        st->cluster->repository(st->cluster->arg, endpoint, repository, when, shared);
    }
}

void cm_activity_repository(struct cm_activity *st, const char *endpoint, const char *repository,
                            const char *mirror_path, const struct cm_mirror *m, long long when,
                            const char *error)
{
    record(st, endpoint, repository, mirror_path, m, when, error, 1);
}

void cm_activity_repository_same(struct cm_activity *st, const char *endpoint,
                                 const char *repository, const char *mirror_path,
                                 const struct cm_mirror *m, long long when)
{
    record(st, endpoint, repository, mirror_path, m, when, NULL,
           !has_heads(st, endpoint, repository));
}

void cm_activity_forget(struct cm_activity *st, const char *endpoint, const char *repository)
{
    char key[1024];
    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    pthread_mutex_lock(&st->lock);
    json_object_del(st->repos, key);
    pthread_mutex_unlock(&st->lock);
    if (st->cluster)
        st->cluster->forget(st->cluster->arg, endpoint, repository);
}

/* The newest modification time of the files a fetch rewrites. */
static long long refs_mtime(const char *mirror)
{
    static const char *const files[] = {"", "/packed-refs", "/FETCH_HEAD", "/refs/heads"};
    char path[4200];
    struct stat sb;
    long long t = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(path, sizeof(path), "%s%s", mirror, files[i]);
        if (stat(path, &sb) == 0 && (long long)sb.st_mtime > t)
            t = (long long)sb.st_mtime;
    }
    return t;
}

static int known(struct cm_activity *st, const char *endpoint, const char *repository)
{
    char key[1024];
    int found;
    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    pthread_mutex_lock(&st->lock);
    found = json_object_get(st->repos, key) != NULL;
    pthread_mutex_unlock(&st->lock);
    return found;
}

/* One mirror found at start: what it holds, unless a worker that synced it since knows
 * better. */
static void scan_one(void *arg, const char *endpoint, const char *repository, const char *path)
{
    struct cm_activity *st = arg;
    struct cm_mirror *m = NULL;

    if (!known(st, endpoint, repository) &&
        cm_mirror_open(&m, path, "", endpoint, repository) == CM_OK)
        cm_activity_repository(st, endpoint, repository, path, m, refs_mtime(path), NULL);
    cm_mirror_free(m);
}

void cm_activity_scan_mirrors(struct cm_activity *st, const char *data_dir)
{
    cm_mirror_each(data_dir, scan_one, st);
}

/* Under the lock: the fetch this node has under way for doc's repository, onto doc. */
static void add_fetch(struct cm_activity *st, json_t *doc)
{
    char key[1024];
    json_t *f;

    snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(doc, "endpoint")),
             json_string_value(json_object_get(doc, "repository")));
    if ((f = json_object_get(json_object_get(st->repos, key), "fetch")))
        json_object_set(doc, "fetch", f);
}

/* The cluster's list with this node's fetches under way: on it, and those of repositories the
 * cluster does not list yet (their first sync is running here). */
static void merge_fetches(struct cm_activity *st, json_t *list)
{
    const char *key;
    json_t *v, *seen = json_object();
    size_t i;

    pthread_mutex_lock(&st->lock);
    json_array_foreach (list, i, v) {
        char k[1024];
        snprintf(k, sizeof(k), "%s/%s", json_string_value(json_object_get(v, "endpoint")),
                 json_string_value(json_object_get(v, "repository")));
        json_object_set(seen, k, json_true());
        add_fetch(st, v);
    }
    json_object_foreach (st->repos, key, v) {
        if (json_object_get(v, "fetch") && !json_object_get(seen, key))
            json_array_append(list, v);
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(seen);
}

int cm_activity_repositories_json(struct cm_activity *st, char **out, char *err, size_t errlen)
{
    json_t *a = NULL, *o;
    const char *key;
    json_t *v;
    int rc;

    *out = NULL;
    if (st->cluster) {
        rc = st->cluster->repositories(st->cluster->arg, NULL, NULL, &a, err, errlen);
        if (rc != CM_OK)
            return rc;
        merge_fetches(st, a);
        *out = cm_activity_dump(json_pack("{s:o}", "repositories", a));
        return *out ? CM_OK : CM_ENOMEM;
    }
    a = json_array();
    pthread_mutex_lock(&st->lock);
    json_object_foreach (st->repos, key, v)
        json_array_append(a, v);
    o = json_pack("{s:o}", "repositories", a);
    *out = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    pthread_mutex_unlock(&st->lock);
    json_decref(o);
    return *out ? CM_OK : CM_ENOMEM;
}

int cm_activity_repository_json(struct cm_activity *st, const char *endpoint,
                                const char *repository, char **out, char *err, size_t errlen)
{
    char key[1024];
    json_t *r = NULL;
    int rc;

    *out = NULL;
    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    if (st->cluster) {
        rc = st->cluster->repositories(st->cluster->arg, endpoint, repository, &r, err, errlen);
        pthread_mutex_lock(&st->lock);
        if (rc == CM_OK)
            add_fetch(st, r);
        else if (rc == CM_ENOENT && json_object_get(json_object_get(st->repos, key), "fetch"))
            r = json_deep_copy(json_object_get(st->repos, key)); /* its first sync, here */
        pthread_mutex_unlock(&st->lock);
        if (!r)
            return rc == CM_OK ? CM_ENOMEM : rc;
        *out = cm_activity_dump(r);
        return *out ? CM_OK : CM_ENOMEM;
    }
    pthread_mutex_lock(&st->lock);
    r = json_object_get(st->repos, key);
    if (r)
        *out = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    pthread_mutex_unlock(&st->lock);
    if (!r)
        return CM_ENOENT;
    return *out ? CM_OK : CM_ENOMEM;
}
