/* SPDX-License-Identifier: MIT */
/*
 * What a sync may leave out: whether the mirror already holds a push (commit ancestry), so
 * cm_mirror_sync need not contact the host, and whether its branches and tags are what they
 * were when the sync plugins last succeeded (cargoman.pluginrefs in the mirror's git config).
 */
#include <git2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"
#include "util/buf.h"
#include "util/crypto.h"

/* The digest of the refs at the last run of the sync plugins that all succeeded. */
#define MC_KEY_PLUGINREFS "cargoman.pluginrefs"

void cm_mirror_set_current_check(struct cm_mirror *m, cm_mirror_current_fn fn, void *arg)
{
    m->current = fn;
    m->current_arg = arg;
}

/* The commit that hex id (a commit or an annotated tag) leads to into *out. 0 on success. */
static int mc_commit_of(git_repository *repo, const char *id, git_oid *out)
{
    git_oid oid;

    return id && git_oid_fromstr(&oid, id) == 0 && cm_mirror_peel_oid(repo, &oid, out) == CM_OK
               ? 0
               : -1;
}

/* The commit ref leads to into *out. 0 on success. */
static int mc_commit_of_ref(git_repository *repo, const char *ref, git_oid *out)
{
    git_reference *r = NULL;
    git_object *commit = NULL;
    int rc = -1;

    if (git_reference_lookup(&r, repo, ref) == 0 &&
        git_reference_peel(&commit, r, GIT_OBJECT_COMMIT) == 0) {
        git_oid_cpy(out, git_object_id(commit));
        rc = 0;
    }
    git_object_free(commit);
    git_reference_free(r);
    return rc;
}

int cm_mirror_descends(const struct cm_mirror *m, const char *ref, const char *id,
                       const char *ancestor)
{
    git_repository *repo = NULL;
    git_oid tip, base;
    int res = 0;

    if (cm_mirror_open_repo(m, &repo) != CM_OK)
        return 0;
    if ((ref ? mc_commit_of_ref(repo, ref, &tip) : mc_commit_of(repo, id, &tip)) == 0 &&
        mc_commit_of(repo, ancestor, &base) == 0)
        res = git_oid_equal(&tip, &base) || git_graph_descendant_of(repo, &tip, &base) == 1;
    git_repository_free(repo);
    return res;
}

/* "name target\n" for each branch and tag, sorted by name: git_reference_list is not sorted
 * on every backend, and equal refs must digest equal. */
static int mc_refs_text(git_repository *repo, struct cm_buf *b)
{
    struct cm_mirror_ref *refs = NULL;
    size_t n = 0;
    int rc = cm_mirror_ref_list(repo, 0, &refs, &n);

    for (size_t i = 0; i < n && rc == CM_OK; i++)
        rc = cm_buf_printf(b, "%s %s\n", refs[i].name, refs[i].hex);
    cm_mirror_ref_list_free(refs, n);
    return rc;
}

int cm_mirror_refs_digest(const struct cm_mirror *m, const char *salt, char out[65])
{
    git_repository *repo = NULL;
    struct cm_buf b = {0};
    char hex[129];
    int rc;

    if ((rc = cm_mirror_open_repo(m, &repo)) != CM_OK)
        return rc;
    if ((rc = cm_buf_printf(&b, "%s\n", salt ? salt : "")) == CM_OK &&
        (rc = mc_refs_text(repo, &b)) == CM_OK &&
        (rc = cm_crypto_digest_hex("sha256", b.p, b.len, hex)) == CM_OK)
        memcpy(out, hex, 65);
    free(b.p);
    git_repository_free(repo);
    return rc;
}

int cm_mirror_plugins_current(const struct cm_mirror *m, const char *digest)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL, *snap = NULL;
    const char *s = NULL;
    int res = 0;

    if (cm_mirror_open_repo(m, &repo) != CM_OK)
        return 0;
    if (git_repository_config(&cfg, repo) == 0 && git_config_snapshot(&snap, cfg) == 0 &&
        git_config_get_string(&s, snap, MC_KEY_PLUGINREFS) == 0)
        res = !strcmp(s, digest);
    git_config_free(snap);
    git_config_free(cfg);
    git_repository_free(repo);
    return res;
}

int cm_mirror_plugins_ran(const struct cm_mirror *m, const char *digest)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    int rc = CM_ERROR;

    if (cm_mirror_open_repo(m, &repo) != CM_OK)
        return CM_ENOENT;
    if (git_repository_config(&cfg, repo) == 0 &&
        git_config_set_string(cfg, MC_KEY_PLUGINREFS, digest) == 0)
        rc = CM_OK;
    git_config_free(cfg);
    git_repository_free(repo);
    return rc;
}
