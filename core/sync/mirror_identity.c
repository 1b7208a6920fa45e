/* SPDX-License-Identifier: MIT */
/*
 * Who a mirror's repository is, kept in the mirror's git config: the host's immutable id
 * (cargoman.id), the names it had before (cargoman.aliases) and when it last took a new one
 * (cargoman.renamedat). A renamed repository's next push finds its mirror by the id
 * (sync/rename.c), and /api/repositories shows the old names.
 */
#define _GNU_SOURCE
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"

#define MI_KEY_ID "cargoman.id"
#define MI_KEY_ALIASES "cargoman.aliases"
#define MI_KEY_RENAMED "cargoman.renamedat"

int cm_mirror_record_id(git_config *cfg, struct cm_mirror *m)
{
    git_config *snap = NULL;
    const char *s = NULL;
    int rc = CM_OK, found;

    if (m->repository_id)
        return git_config_set_string(cfg, MI_KEY_ID, m->repository_id) == 0 ? CM_OK : CM_ERROR;
    /* A sync the gateway queued itself (reconcile, resync) carries no id: the mirror's own
     * tells the plugins who the repository is. Set before the mirror is shared. */
    if (git_config_snapshot(&snap, cfg) != 0)
        return CM_ERROR;
    found = git_config_get_string(&s, snap, MI_KEY_ID);
    if (found == 0 && !(m->repository_id = strdup(s)))
        rc = CM_ENOMEM;
    else if (found != 0 && found != GIT_ENOTFOUND)
        rc = CM_ERROR;
    git_config_free(snap);
    return rc;
}

int cm_mirror_identity_read(const char *path, struct cm_mirror_identity *out)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL, *snap = NULL;
    const char *s = NULL;
    int64_t t = 0;

    memset(out, 0, sizeof(*out));
    if (git_repository_open_bare(&repo, path) != 0)
        return CM_ENOENT;
    if (git_repository_config(&cfg, repo) == 0 && git_config_snapshot(&snap, cfg) == 0) {
        if (git_config_get_string(&s, snap, MI_KEY_ID) == 0 &&
            (size_t)snprintf(out->id, sizeof(out->id), "%s", s) >= sizeof(out->id))
            out->id[0] = '\0';
        if (git_config_get_string(&s, snap, MI_KEY_ALIASES) == 0 &&
            (size_t)snprintf(out->aliases, sizeof(out->aliases), "%s", s) >= sizeof(out->aliases))
            out->aliases[0] = '\0';
        if (git_config_get_int64(&t, snap, MI_KEY_RENAMED) == 0)
            out->renamed_at = (long long)t;
    }
    git_config_free(snap);
    git_config_free(cfg);
    git_repository_free(repo);
    return CM_OK;
}

int cm_mirror_alias_of(const char *aliases, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = aliases; *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

/* aliases without name, then old added last; the oldest names give way when it is full. */
static void mi_aliases_after(const char *aliases, const char *old, const char *name, char *out,
                             size_t outlen)
{
    size_t used = 0, keep = strlen(old) + 1;
    const char *p = aliases;

    out[0] = '\0';
    /* Skip the oldest until the rest and old fit. */
    while (*p && strlen(p) + 1 + keep > outlen) {
        const char *end = strchr(p, ' ');
        p = end ? end + 1 : p + strlen(p);
    }
    while (*p) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int drop = (len == strlen(name) && !strncmp(p, name, len)) ||
                   (len == strlen(old) && !strncmp(p, old, len));
        if (!drop && used + len + 2 < outlen) {
            used +=
                (size_t)snprintf(out + used, outlen - used, "%s%.*s", used ? " " : "", (int)len, p);
        }
        p += len + (end != NULL);
    }
    if (used + keep < outlen)
        snprintf(out + used, outlen - used, "%s%s", used ? " " : "", old);
}

int cm_mirror_identity_renamed(const char *path, const char *old, const char *name, long long when)
{
    struct cm_mirror_identity cur;
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    char next[sizeof(cur.aliases)];
    int rc = CM_ERROR;

    if (cm_mirror_identity_read(path, &cur) != CM_OK)
        return CM_ENOENT;
    mi_aliases_after(cur.aliases, old, name, next, sizeof(next));
    if (git_repository_open_bare(&repo, path) == 0 && git_repository_config(&cfg, repo) == 0 &&
        git_config_set_string(cfg, MI_KEY_ALIASES, next) == 0 &&
        git_config_set_int64(cfg, MI_KEY_RENAMED, (int64_t)when) == 0) {
        /* The URL of the old name: reconciling it could fetch whatever holds that name now. */
        git_config_delete_entry(cfg, CM_MIRROR_KEY_URL);
        rc = CM_OK;
    }
    git_config_free(cfg);
    git_repository_free(repo);
    return rc;
}
