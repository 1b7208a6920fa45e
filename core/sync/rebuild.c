/* SPDX-License-Identifier: MIT */
/*
 * The start-time rebuild of a sync plugin's lost state from the mirrors (SDK 1.4,
 * CM_SYNC_FROM_MIRRORS). Mirrors are caches of the hosts and the plugin's state a function of
 * them, so an operator backs up the spool and the plugin state, and a lost state directory
 * costs one pass over the disk, not a fetch from every host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "sync/mirror.h"
#include "sync/rebuild.h"
#include "sync/resync.h"
#include "util/fsutil.h"

/* data_dir/rebuild/<the last part of s's state directory><suffix>, into buf: with "" the
 * marker of a rebuild under way, with ".seen" the record that the instance had a state once
 * (so a missing one was lost, not never made: a new entry starts empty, as before). */
static void marker_path(const struct cm_sync *s, const char *data_dir, const char *suffix,
                        char *buf, size_t len)
{
    char state[4096];
    const char *base;

    cm_ctx_state_path(&s->ctx, state, sizeof(state));
    base = strrchr(state, '/');
    snprintf(buf, len, "%s/rebuild/%s%s", data_dir, base ? base + 1 : state, suffix);
}

/* Make the file path (empty), with data_dir/rebuild. 0, or -1 with errno. */
static int touch(const char *data_dir, const char *path)
{
    char dir[4200];

    snprintf(dir, sizeof(dir), "%s/rebuild", data_dir);
    return cm_fs_mkdir_p(dir) != 0 || cm_fs_write_atomic(path, "", 0, 0644) != 0 ? -1 : 0;
}

size_t cm_rebuild_plan(const struct cm_gateway *gw, const char *data_dir, unsigned char *due)
{
    size_t n = 0;

    for (size_t i = 0; i < gw->n_syncs; i++) {
        const struct cm_sync *s = &gw->syncs[i];
        char state[4096], marker[4200], seen[4200];
        struct stat sb;
        int has_state, under_way;

        due[i] = 0;
        if (!(cm_sync_flags(s->plugin) & CM_SYNC_FROM_MIRRORS))
            continue;
        cm_ctx_state_path(&s->ctx, state, sizeof(state));
        marker_path(s, data_dir, "", marker, sizeof(marker));
        marker_path(s, data_dir, ".seen", seen, sizeof(seen));
        has_state = stat(state, &sb) == 0;
        under_way = stat(marker, &sb) == 0;
        if (has_state ? !under_way : stat(seen, &sb) != 0)
            continue;
        /* Without the marker a crash would leave a half-made state that looks whole. */
        if (!under_way && touch(data_dir, marker) != 0) {
            cm_log(CM_LOG_ERR, s->conf->plugin,
                   "cannot write %s (%s): its state is not rebuilt from the mirrors; make "
                   "data_dir writable",
                   marker, strerror(errno));
            continue;
        }
        due[i] = 1;
        n++;
    }
    return n;
}

/* Every mirror on disk, sorted so that the rebuild claims names in one fixed order. */
struct mirror_list {
    char **endpoint, **repository, **path; /* owned, n of each */
    size_t n, cap;
    int oom;
};

static void list_add(void *arg, const char *endpoint, const char *repository, const char *path)
{
    struct mirror_list *l = arg;

    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **e = realloc(l->endpoint, cap * sizeof(*e));
        if (e)
            l->endpoint = e;
        char **r = realloc(l->repository, cap * sizeof(*r));
        if (r)
            l->repository = r;
        char **p = realloc(l->path, cap * sizeof(*p));
        if (p)
            l->path = p;
        if (!e || !r || !p) {
            l->oom = 1;
            return;
        }
        l->cap = cap;
    }
    l->endpoint[l->n] = strdup(endpoint);
    l->repository[l->n] = strdup(repository);
    l->path[l->n] = strdup(path);
    if (!l->endpoint[l->n] || !l->repository[l->n] || !l->path[l->n])
        l->oom = 1;
    l->n++;
}

static void list_free(struct mirror_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->endpoint[i]);
        free(l->repository[i]);
        free(l->path[i]);
    }
    free(l->endpoint);
    free(l->repository);
    free(l->path);
}

/* The event a resync would make for the mirror at path, with the URL it would fetch from
 * (the one the mirror recorded, else the import's), which its versions name: no host is
 * asked, and no fetch follows. CM_OK, or CM_EINVAL with err. */
static int rebuild_event(const struct cm_gateway *gw, const struct cm_endpoint *ep,
                         const char *repository, const char *path, const char *id,
                         struct cm_event **out, char *url, size_t urllen, char *err, size_t errlen)
{
    char stored[2048], why[512], did[64];
    long long synced = 0;
    int rc;

    if ((cm_mirror_recorded(path, stored, sizeof(stored), &synced) != CM_OK || !*stored) &&
        cm_fetch_url_import(ep, repository, stored, sizeof(stored), err, errlen) != CM_OK)
        return CM_EINVAL;
    snprintf(did, sizeof(did), "rebuild-%lld", cm_host_now());
    rc = cm_sync_event_new(ep, gw->config->ssh_key != NULL, repository, stored, "rebuild", did, out,
                           url, urllen, why, sizeof(why), err, errlen);
    if (rc == CM_EINVAL && *why)
        snprintf(err, errlen, "%s", why);
    if (rc == CM_OK && *id && (rc = cm_event_set(*out, CM_FIELD_REPOSITORY_ID, id)) != CM_OK) {
        cm_event_free(*out);
        *out = NULL;
    }
    if (rc == CM_OK)
        cm_event_drop_changes(*out);
    return rc;
}

/* Run s over the mirror of ep at path. CM_OK or the plugin's (or the mirror's) failure. */
static int rebuild_one(const struct cm_gateway *gw, const struct cm_sync *s,
                       const struct cm_endpoint *ep, const char *repository, const char *path)
{
    const struct cm_config *cfg = gw->config;
    struct cm_mirror_identity who;
    struct cm_event *ev = NULL;
    struct cm_mirror *m = NULL;
    char url[2048], err[512];
    int rc;

    if (cm_mirror_identity_read(path, &who) != CM_OK)
        return CM_ENOENT;
    rc = rebuild_event(gw, ep, repository, path, who.id, &ev, url, sizeof(url), err, sizeof(err));
    if (rc == CM_EINVAL) {
        cm_log(CM_LOG_WARNING, s->conf->plugin, "rebuild: %s/%s skipped: %s", ep->conf->name,
               repository, err);
        return rc;
    }
    if (rc == CM_OK)
        rc = cm_mirror_open(&m, path, url, ep->conf->name, repository);
    if (rc == CM_OK)
        rc = cm_mirror_set_id(m, who.id[0] ? who.id : NULL);
    if (rc == CM_OK) {
        cm_mirror_set_max_blob(m, (unsigned long long)cfg->max_blob_size);
        rc = s->plugin->on_sync(s->self, ev, m);
    }
    cm_mirror_free(m);
    cm_event_free(ev);
    return rc;
}

/* Record that each CM_SYNC_FROM_MIRRORS instance of gw has a state now. 1 when one of them
 * is due. */
static int record_seen(const struct cm_gateway *gw, const char *data_dir, const unsigned char *due)
{
    int any = 0;

    for (size_t i = 0; i < gw->n_syncs; i++) {
        const struct cm_sync *s = &gw->syncs[i];
        char seen[4200];

        if (!(cm_sync_flags(s->plugin) & CM_SYNC_FROM_MIRRORS))
            continue;
        any |= due[i];
        marker_path(s, data_dir, ".seen", seen, sizeof(seen));
        if (access(seen, F_OK) != 0 && touch(data_dir, seen) != 0)
            cm_log(CM_LOG_WARNING, s->conf->plugin,
                   "cannot write %s (%s): should its state be lost, it is not rebuilt from the "
                   "mirrors; make data_dir writable",
                   seen, strerror(errno));
    }
    return any;
}

/* Sort order[] (indices into l) by the mirrors' paths: one order, whatever readdir gives. */
static void sort_by_path(const struct mirror_list *l, size_t *order)
{
    for (size_t i = 0; i < l->n; i++)
        order[i] = i;
    for (size_t i = 1; i < l->n; i++) /* insertion sort: once, at a start that rebuilds */
        for (size_t j = i; j > 0 && strcmp(l->path[order[j - 1]], l->path[order[j]]) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/* Run s over every mirror of l (in order) whose endpoint gw configures; log what it did. */
static void rebuild_instance(struct cm_daemon *d, const struct cm_gateway *gw,
                             const struct cm_sync *s, const struct mirror_list *l,
                             const size_t *order)
{
    size_t done = 0, failed = 0, unconfigured = 0;
    char marker[4200];

    marker_path(s, d->data_dir, "", marker, sizeof(marker));
    if (!l->n) { /* nothing was ever mirrored: nothing to rebuild, nothing to say */
        unlink(marker);
        return;
    }
    cm_log(CM_LOG_INFO, s->conf->plugin,
           "its state directory is missing: rebuilding it from %zu mirror(s) on disk, without "
           "contacting any host",
           l->n);
    for (size_t k = 0; k < l->n; k++) {
        size_t j = order[k];
        const struct cm_endpoint *ep = cm_gateway_endpoint(gw, l->endpoint[j]);
        if (!ep)
            unconfigured++;
        else if (rebuild_one(gw, s, ep, l->repository[j], l->path[j]) == CM_OK)
            done++;
        else
            failed++;
    }
    if (!failed)
        unlink(marker);
    cm_log(failed ? CM_LOG_WARNING : CM_LOG_INFO, s->conf->plugin,
           "rebuilt from %zu mirror(s); %zu failed%s; %zu skipped: their endpoint is not "
           "configured",
           done, failed,
           failed ? " (see the lines above; the rebuild runs again at the next start)" : "",
           unconfigured);
}

void cm_rebuild_run(struct cm_daemon *d, struct cm_gateway *gw, const unsigned char *due)
{
    struct mirror_list l = {0};
    size_t *order = NULL;

    if (!record_seen(gw, d->data_dir, due))
        return;
    cm_mirror_each(d->data_dir, list_add, &l);
    if (l.oom || !(order = calloc(l.n ? l.n : 1, sizeof(*order)))) {
        cm_log(CM_LOG_ERR, "core", "rebuild from the mirrors: out of memory; tried at next start");
        goto out;
    }
    sort_by_path(&l, order);
    for (size_t i = 0; i < gw->n_syncs; i++)
        if (due[i])
            rebuild_instance(d, gw, &gw->syncs[i], &l, order);
out:
    free(order);
    list_free(&l);
}
