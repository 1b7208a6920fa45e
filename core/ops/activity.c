/* SPDX-License-Identifier: MIT */
/*
 * Recent deliveries (a bounded ring) and per-repository sync results, as JSON for operators.
 * No absolute path reaches these answers: the API may be read from another machine, and the
 * log has every path whole.
 */
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "intake/event.h"
#include "ops/activity.h"
#include "sync/mirror.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define RECENT 256

struct delivery {
    uint64_t id;
    json_t *doc; /* owned */
};

struct cm_activity {
    pthread_mutex_t lock;
    struct delivery ring[RECENT];
    size_t next;
    json_t *repos;   /* key -> object */
    char *data_dir;  /* as configured (owned) */
    char *data_real; /* its real path (owned), or NULL */
};

int cm_activity_new(struct cm_activity **out, const char *data_dir)
{
    struct cm_activity *st = calloc(1, sizeof(*st));
    char real[PATH_MAX];
    if (!st || !(st->repos = json_object()) || !(st->data_dir = strdup(data_dir)) ||
        (realpath(data_dir, real) && !(st->data_real = strdup(real)))) {
        if (st)
            json_decref(st->repos);
        free(st ? st->data_dir : NULL);
        free(st);
        return CM_ENOMEM;
    }
    pthread_mutex_init(&st->lock, NULL);
    *out = st;
    return CM_OK;
}

void cm_activity_free(struct cm_activity *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < RECENT; i++)
        json_decref(st->ring[i].doc);
    json_decref(st->repos);
    free(st->data_dir);
    free(st->data_real);
    pthread_mutex_destroy(&st->lock);
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

/* text as the API may show it: a path under the data directory relative to it
 * ("mirrors/gh/o/r.git"), any other absolute path as ".../<its last part>". */
static json_t *relative_json(const struct cm_activity *st, const char *text)
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
    out = rc == CM_OK ? json_string(b.p ? b.p : "") : NULL;
    free(b.p);
    return out;
}

void cm_activity_delivery(struct cm_activity *st, uint64_t id, const struct cm_event *ev,
                          const char *endpoint, const char *delivery_id, const char *state,
                          const char *error)
{
    json_t *refs = json_array();
    for (size_t i = 0; ev && i < ev->n_changes; i++)
        json_array_append_new(refs, json_string(ev->changes[i].ref));
    json_t *doc =
        json_pack("{s:I, s:o, s:s, s:o, s:o, s:o, s:s, s:o}", "id", (json_int_t)id, "delivery_id",
                  str_or_null(delivery_id), "endpoint", endpoint, "repository",
                  str_or_null(ev ? cm_event_get(ev, CM_FIELD_REPOSITORY) : NULL), "refs", refs,
                  "received_at", str_or_null(ev ? cm_event_get(ev, CM_FIELD_RECEIVED_AT) : NULL),
                  "state", state, "error", relative_json(st, error));
    if (!doc)
        return;
    pthread_mutex_lock(&st->lock);
    struct delivery *slot = &st->ring[st->next++ % RECENT];
    json_decref(slot->doc);
    slot->doc = doc;
    slot->id = id;
    pthread_mutex_unlock(&st->lock);
}

void cm_activity_delivery_state(struct cm_activity *st, uint64_t id, const char *state,
                                const char *error)
{
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < RECENT; i++) {
        if (st->ring[i].doc && st->ring[i].id == id) {
            json_object_set_new(st->ring[i].doc, "state", json_string(state));
            json_object_set_new(st->ring[i].doc, "error", relative_json(st, error));
        }
    }
    pthread_mutex_unlock(&st->lock);
}

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
    json_object_set_new(n->obj, ref, relative_json(n->st, message));
    return 0;
}

void cm_activity_repository(struct cm_activity *st, const char *endpoint, const char *repository,
                            const char *mirror_path, const struct cm_mirror *m, long long when,
                            const char *error)
{
    char key[1024], ts[32];
    json_t *heads = json_object(), *notes = json_object();
    struct notes nt = {st, notes};
    snprintf(key, sizeof(key), "%s/%s", endpoint, repository);
    cm_format_time(when, ts, sizeof(ts));
    if (m) {
        cm_mirror_refs(m, add_head, heads);
        cm_mirror_notes(m, add_note, &nt);
    }
    pthread_mutex_lock(&st->lock);
    json_t *r = json_object_get(st->repos, key);
    if (!r) {
        r = json_object();
        json_object_set_new(st->repos, key, r);
    }
    json_object_set_new(r, "endpoint", json_string(endpoint));
    json_object_set_new(r, "repository", json_string(repository));
    /* Relative to the data directory ("mirrors/<endpoint>/<repository>.git"), not dropped:
     * it tells an operator on the host where to look, and nobody else where the disk is. */
    json_object_set_new(r, "mirror", relative_json(st, mirror_path));
    json_object_set_new(r, "last_attempt", json_string(ts));
    if (!error)
        json_object_set_new(r, "last_sync", json_string(ts));
    else if (!json_object_get(r, "last_sync"))
        json_object_set_new(r, "last_sync", json_null());
    json_object_set_new(r, "last_error", relative_json(st, error));
    if (m) {
        json_object_set_new(r, "heads", heads);
        json_object_set_new(r, "notes", notes);
    } else {
        json_decref(heads);
        json_decref(notes);
    }
    pthread_mutex_unlock(&st->lock);
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

/* Walk dir (relative name rel under endpoint) for *.git mirrors; depth bounds the walk,
 * since repository names nest (GitLab groups) but not without end. */
static void scan_dir(struct cm_activity *st, const char *endpoint, const char *dir, const char *rel,
                     int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[4096], name[1024];
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || !cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".git")) {
            struct cm_mirror *m = NULL;
            name[strlen(name) - 4] = '\0';
            /* A worker that already synced it since the start knows better. */
            if (!known(st, endpoint, name) && cm_mirror_open(&m, path, "", endpoint, name) == CM_OK)
                cm_activity_repository(st, endpoint, name, path, m, refs_mtime(path), NULL);
            cm_mirror_free(m);
        } else if (depth > 0) {
            scan_dir(st, endpoint, path, name, depth - 1);
        }
    }
    closedir(d);
}

void cm_activity_scan_mirrors(struct cm_activity *st, const char *data_dir)
{
    char root[4096];
    DIR *d;
    struct dirent *e;
    snprintf(root, sizeof(root), "%s/mirrors", data_dir);
    if (!(d = opendir(root)))
        return;
    while ((e = readdir(d))) {
        char path[4200];
        if (e->d_name[0] == '.' || !cm_fs_entry_is_dir(dirfd(d), e->d_name, e->d_type))
            continue;
        snprintf(path, sizeof(path), "%.3800s/%s", root, e->d_name);
        scan_dir(st, e->d_name, path, "", 8);
    }
    closedir(d);
}

char *cm_activity_deliveries_json(struct cm_activity *st)
{
    json_t *a = json_array();
    char *s;
    pthread_mutex_lock(&st->lock);
    /* Newest first. */
    for (size_t k = 0; k < RECENT; k++) {
        size_t i = (st->next + RECENT - 1 - k) % RECENT;
        if (st->ring[i].doc)
            json_array_append(a, st->ring[i].doc);
    }
    json_t *o = json_pack("{s:o}", "deliveries", a);
    s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    pthread_mutex_unlock(&st->lock);
    json_decref(o);
    return s;
}

char *cm_activity_repositories_json(struct cm_activity *st)
{
    json_t *a = json_array();
    const char *key;
    json_t *v;
    char *s;
    pthread_mutex_lock(&st->lock);
    json_object_foreach (st->repos, key, v)
        json_array_append(a, v);
    json_t *o = json_pack("{s:o}", "repositories", a);
    s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    pthread_mutex_unlock(&st->lock);
    json_decref(o);
    return s;
}
