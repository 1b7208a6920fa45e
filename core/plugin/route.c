/* SPDX-License-Identifier: MIT */
/*
 * Routes sync plugins serve (SDK 1.2): a descriptor's list is checked when the module loads,
 * a gateway's entries may not share a path, and a serve hook answers through the services
 * here. A file answer is opened under the instance's state_dir, never outside it by name.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, O_CLOEXEC */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/gateway.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "plugin/route.h"
#include "util/fsutil.h"

void cm_http_response_init(struct cm_http_response *rs, struct cm_ctx *ctx)
{
    memset(rs, 0, sizeof(*rs));
    rs->ctx = ctx;
    rs->fd = -1;
}

void cm_http_response_clear(struct cm_http_response *rs)
{
    free(rs->content_type);
    free(rs->body);
    if (rs->fd >= 0)
        close(rs->fd);
    cm_http_response_init(rs, rs->ctx);
}

const struct cm_route *cm_route_declared(const struct cm_sync_plugin *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 2 ? p->routes : NULL;
}

const struct cm_route *cm_route_list(const struct cm_sync *s)
{
    return s->conf->no_routes ? NULL : cm_route_declared(s->plugin);
}

int cm_route_path_unsafe(const char *path)
{
    return strstr(path, "..") || strstr(path, "//") || strchr(path, '\\');
}

static int is_prefix_route(const char *path)
{
    size_t n = strlen(path);
    return n > 0 && path[n - 1] == '/';
}

/* 1 when a request path could match both routes. */
static int overlap(const char *a, const char *b)
{
    if (!strcmp(a, b))
        return 1;
    if (is_prefix_route(a) && !strncmp(b, a, strlen(a)))
        return 1;
    return is_prefix_route(b) && !strncmp(a, b, strlen(b));
}

static int core_route(const char *path)
{
    static const char *const core[] = {"/api", "/api/", "/healthz", "/metrics"};
    for (size_t i = 0; i < sizeof(core) / sizeof(*core); i++)
        if (overlap(path, core[i]))
            return 1;
    return 0;
}

/* Check one list of routes; admin: operator routes, relative to /api/<instance>. */
static int check_list(const struct cm_sync_plugin *p, const struct cm_route *r, int admin,
                      const char *file, char *err, size_t errlen)
{
    if (!r)
        return CM_OK;
    if (!p->serve) {
        snprintf(err, errlen, "%s: declares routes but its serve hook is NULL", file);
        return CM_EINVAL;
    }
    for (; r->path; r++) {
        const char *why = r->path[0] != '/'               ? "does not start with '/'"
                          : !strcmp(r->path, "/")         ? "would serve every path"
                          : cm_route_path_unsafe(r->path) ? "holds \"..\", \"//\" or a backslash"
                          : !admin && core_route(r->path) ? "is one of the core's routes"
                                                          : NULL;
        if (why) {
            snprintf(err, errlen, "%s: %sroute \"%.200s\" %s", file, admin ? "operator " : "",
                     r->path, why);
            return CM_EINVAL;
        }
    }
    return CM_OK;
}

int cm_route_check(const struct cm_sync_plugin *p, const char *file, char *err, size_t errlen)
{
    int rc = check_list(p, cm_route_declared(p), 0, file, err, errlen);
    return rc == CM_OK ? check_list(p, cm_sync_admin_routes(p), 1, file, err, errlen) : rc;
}

int cm_route_check_gateway(const struct cm_gateway *gw, char *err, size_t errlen)
{
    for (size_t i = 0; i < gw->n_syncs; i++) {
        for (const struct cm_route *a = cm_route_list(&gw->syncs[i]); a && a->path; a++) {
            for (size_t j = 0; j < i; j++) {
                const struct cm_route *b = cm_route_list(&gw->syncs[j]);
                for (; b && b->path; b++) {
                    if (!overlap(a->path, b->path))
                        continue;
                    snprintf(err, errlen,
                             "%s:%d: sync plugin %s would serve %s, which the sync entry at "
                             "%s:%d serves already: keep one of the two entries",
                             gw->syncs[i].conf->file, gw->syncs[i].conf->line,
                             gw->syncs[i].conf->plugin, a->path, gw->syncs[j].conf->file,
                             gw->syncs[j].conf->line);
                    return CM_EINVAL;
                }
            }
        }
    }
    return CM_OK;
}

const struct cm_sync *cm_route_find(const struct cm_gateway *gw, const char *path,
                                    const struct cm_route **route)
{
    for (size_t i = 0; i < gw->n_syncs; i++) {
        const struct cm_route *r = cm_route_list(&gw->syncs[i]);
        for (; r && r->path; r++) {
            size_t n = strlen(r->path);
            if (is_prefix_route(r->path) ? !strncmp(path, r->path, n) : !strcmp(path, r->path)) {
                *route = r;
                return &gw->syncs[i];
            }
        }
    }
    return NULL;
}

const char *cm_route_method(const struct cm_http_request *rq)
{
    return rq->method;
}

const char *cm_route_path(const struct cm_http_request *rq)
{
    return rq->path;
}

const char *cm_route_query(const struct cm_http_request *rq, const char *name)
{
    return rq->lookup(rq->conn, 1, name);
}

const char *cm_route_header(const struct cm_http_request *rq, const char *name)
{
    return rq->lookup(rq->conn, 0, name);
}

/* A status and content type the front may put on the wire as they are. */
static int answer_ok(int status, const char *content_type)
{
    if (status < 100 || status > 599 || !content_type || !*content_type)
        return 0;
    for (const char *p = content_type; *p; p++)
        if (*p < ' ' || *p > '~')
            return 0;
    return 1;
}

/* Replace rs's answer with status and a copy of content_type; body and fd are the caller's
 * to set. */
static int answer(struct cm_http_response *rs, int status, const char *content_type)
{
    char *type = strdup(content_type);
    struct cm_ctx *ctx = rs->ctx;

    if (!type)
        return CM_ENOMEM;
    cm_http_response_clear(rs);
    rs->ctx = ctx;
    rs->status = status;
    rs->content_type = type;
    return CM_OK;
}

/* Answer with body (malloc'd, len bytes), which the response owns from now on, also when
 * answering fails. */
static int answer_owned(struct cm_http_response *rs, int status, const char *content_type,
                        void *body, size_t len)
{
    int rc = answer(rs, status, content_type);

    if (rc != CM_OK) {
        free(body);
        return rc;
    }
    rs->body = body;
    rs->len = len;
    return CM_OK;
}

int cm_route_respond(struct cm_http_response *rs, int status, const char *content_type,
                     const void *body, size_t len)
{
    char *copy;

    if (!answer_ok(status, content_type) || (!body && len))
        return CM_EINVAL;
    if (!(copy = malloc(len ? len : 1)))
        return CM_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    return answer_owned(rs, status, content_type, copy, len);
}

/* A shared file while the cluster's database is away and this node's copy is not the
 * cluster's (it may be what a sync here wrote and could not publish). */
static const char cm_route_db_away[] =
    "{\"status\":\"error\",\"error\":\"the cluster's database cannot be reached; retry "
    "later\"}";

int cm_route_respond_file(struct cm_http_response *rs, int status, const char *content_type,
                          const char *path)
{
    const char *dir;
    struct stat st;
    int fd, rc;

    if (!answer_ok(status, content_type) || !path || !*path || path[0] == '/' ||
        cm_route_path_unsafe(path))
        return CM_EINVAL;
    if (!(dir = cm_host_services.state_dir(rs->ctx)))
        return CM_ENOENT;
    /* In a cluster the database has the file's version every node serves; when it cannot
     * answer, this node's copy is served while it is one the cluster had (composer keeps
     * installing what was published), else 503. */
    void *body;
    size_t len;
    if ((rc = cm_host_shared_open(rs->ctx, path, &fd, &body, &len)) == CM_ENOENT)
        return CM_ENOENT;
    if (rc == CM_EAGAIN) /* answered here: the plugin cannot know, nor do better */
        return cm_route_respond(rs, 503, "application/json", cm_route_db_away,
                                sizeof(cm_route_db_away) - 1);
    if (rc == CM_OK && body)
        return answer_owned(rs, status, content_type, body, len);
    /* No link is followed, at the file or in a directory above it: only what the plugin wrote
     * there, not what a link points at. */
    if ((rc != CM_OK || fd < 0) && (fd = cm_fs_open_under(dir, path)) < 0)
        return errno == EINVAL ? CM_EINVAL : CM_ENOENT;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return CM_ENOENT;
    }
    if ((rc = answer(rs, status, content_type)) != CM_OK) {
        close(fd);
        return rc;
    }
    rs->fd = fd;
    rs->len = (size_t)st.st_size;
    return CM_OK;
}

/* The name an instance's operator routes live under, /api/<name>: its state_dir's last part,
 * so that an operator finds both by one name. */
static void admin_mount(const struct cm_sync *s, char *buf, size_t len)
{
    const char *plugin = s->conf->plugin, *name = s->conf->name;

    if (!name || !strcmp(name, plugin))
        snprintf(buf, len, "/api/%s", plugin);
    else
        snprintf(buf, len, "/api/%s@%s", plugin, name);
}

const struct cm_sync *cm_route_find_admin(const struct cm_gateway *gw, const char *path,
                                          const struct cm_route **route, const char **rest)
{
    for (size_t i = 0; i < gw->n_syncs; i++) {
        const struct cm_route *r = cm_sync_admin_routes(gw->syncs[i].plugin);
        char mount[512];
        size_t m;

        if (!r)
            continue;
        admin_mount(&gw->syncs[i], mount, sizeof(mount));
        m = strlen(mount);
        if (strncmp(path, mount, m) != 0 || path[m] != '/')
            continue;
        for (; r->path; r++) {
            size_t n = strlen(r->path);
            if (is_prefix_route(r->path) ? !strncmp(path + m, r->path, n)
                                         : !strcmp(path + m, r->path)) {
                *route = r;
                *rest = path + m;
                return &gw->syncs[i];
            }
        }
    }
    return NULL;
}
