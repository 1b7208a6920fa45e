/* SPDX-License-Identifier: MIT */
/*
 * The history guard of a fetch no host vouched for (mirror_git.h): a mirror that knows its
 * repository's id is fetched by name, and a host may have given that name to another
 * repository since. Such a fetch must continue the mirror's history: no tag moves or
 * vanishes, a branch that stays only moves forward, and something of the old history is
 * still there. Otherwise every ref is put back as it was (the objects stay, unreferenced) and
 * nothing is published.
 */
#define _GNU_SOURCE
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/mirror.h"
#include "sync/mirror_git.h"

struct cm_mirror_refsnap {
    size_t n;
    char **names; /* refs/heads/... and refs/tags/..., owned */
    git_oid *ids; /* their direct targets */
    char *head;   /* HEAD's symbolic target, owned, or NULL */
};

void cm_mirror_refsnap_free(struct cm_mirror_refsnap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    free(s->ids);
    free(s->head);
    free(s);
}

static int mg_kept(const char *name)
{
    return !strncmp(name, "refs/heads/", 11) || !strncmp(name, "refs/tags/", 10);
}

int cm_mirror_refsnap_take(git_repository *repo, struct cm_mirror_refsnap **out)
{
    struct cm_mirror_refsnap *s = calloc(1, sizeof(*s));
    git_strarray names = {0};
    git_reference *head = NULL;
    int rc = CM_ENOMEM;

    *out = NULL;
    if (!s)
        return CM_ENOMEM;
    if (git_reference_list(&names, repo) != 0) {
        rc = CM_ERROR;
        goto out;
    }
    if (!(s->names = calloc(names.count + 1, sizeof(*s->names))) ||
        !(s->ids = calloc(names.count + 1, sizeof(*s->ids))))
        goto out;
    for (size_t i = 0; i < names.count; i++) {
        git_reference *r = NULL;
        if (!mg_kept(names.strings[i]) || git_reference_lookup(&r, repo, names.strings[i]) != 0 ||
            git_reference_type(r) != GIT_REFERENCE_DIRECT) {
            git_reference_free(r);
            continue;
        }
        git_oid_cpy(&s->ids[s->n], git_reference_target(r));
        git_reference_free(r);
        if (!(s->names[s->n] = strdup(names.strings[i])))
            goto out;
        s->n++;
    }
    if (git_reference_lookup(&head, repo, "HEAD") == 0 &&
        git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
        !(s->head = strdup(git_reference_symbolic_target(head))))
        goto out;
    *out = s;
    s = NULL;
    rc = CM_OK;
out:
    git_reference_free(head);
    git_strarray_dispose(&names);
    cm_mirror_refsnap_free(s);
    return rc;
}

/* The commit a ref's target leads to (through annotated tags), into *commit. */
static int mg_peel(git_repository *repo, const git_oid *id, git_oid *commit)
{
    git_object *o = NULL, *c = NULL;
    int rc = -1;

    if (git_object_lookup(&o, repo, id, GIT_OBJECT_ANY) == 0 &&
        git_object_peel(&c, o, GIT_OBJECT_COMMIT) == 0) {
        git_oid_cpy(commit, git_object_id(c));
        rc = 0;
    }
    git_object_free(c);
    git_object_free(o);
    return rc;
}

int cm_mirror_refsnap_check(git_repository *repo, const struct cm_mirror_refsnap *s, char *why,
                            size_t whylen)
{
    size_t survived = 0;

    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->names[i];
        int is_tag = !strncmp(name, "refs/tags/", 10);
        git_reference *r = NULL;
        git_oid now, was_c, now_c;

        if (git_reference_name_to_id(&now, repo, name) != 0) {
            if (is_tag) {
                snprintf(why, whylen, "tag %s is gone", name + 10);
                return CM_EAUTH;
            }
            continue; /* a deleted branch is ordinary */
        }
        git_reference_free(r);
        if (git_oid_equal(&now, &s->ids[i])) {
            survived++;
            continue;
        }
        if (is_tag) {
            snprintf(why, whylen, "tag %s points elsewhere", name + 10);
            return CM_EAUTH;
        }
        if (mg_peel(repo, &s->ids[i], &was_c) != 0 || mg_peel(repo, &now, &now_c) != 0 ||
            git_graph_descendant_of(repo, &now_c, &was_c) != 1) {
            snprintf(why, whylen, "branch %s was rewritten, not moved forward", name + 11);
            return CM_EAUTH;
        }
        survived++;
    }
    if (s->n > 0 && survived == 0) {
        snprintf(why, whylen, "none of its branches or tags is left");
        return CM_EAUTH;
    }
    return CM_OK;
}

int cm_mirror_refsnap_restore(git_repository *repo, const struct cm_mirror_refsnap *s)
{
    git_strarray names = {0};
    int rc = CM_OK;

    if (git_reference_list(&names, repo) != 0)
        return CM_ERROR;
    for (size_t i = 0; i < names.count; i++) {
        size_t j;
        if (!mg_kept(names.strings[i]))
            continue;
        for (j = 0; j < s->n && strcmp(s->names[j], names.strings[i]); j++)
            ;
        if (j == s->n && git_reference_remove(repo, names.strings[i]) != 0)
            rc = CM_ERROR;
    }
    for (size_t i = 0; i < s->n; i++) {
        git_reference *r = NULL;
        if (git_reference_create(&r, repo, s->names[i], &s->ids[i], 1, "cargoman: restored") != 0)
            rc = CM_ERROR;
        git_reference_free(r);
    }
    if (s->head) {
        git_reference *r = NULL;
        if (git_reference_symbolic_create(&r, repo, "HEAD", s->head, 1, "cargoman: restored") != 0)
            rc = CM_ERROR;
        git_reference_free(r);
    }
    git_strarray_dispose(&names);
    return rc;
}
