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
    struct cm_mirror_ref *refs; /* branches and tags with their targets, sorted by name */
    size_t n;
    char *head; /* HEAD's symbolic target, owned, or NULL */
};

void cm_mirror_refsnap_free(struct cm_mirror_refsnap *s)
{
    if (!s)
        return;
    cm_mirror_ref_list_free(s->refs, s->n);
    free(s->head);
    free(s);
}

int cm_mirror_refsnap_take(git_repository *repo, struct cm_mirror_refsnap **out)
{
    struct cm_mirror_refsnap *s = calloc(1, sizeof(*s));
    git_reference *head = NULL;
    int rc;

    *out = NULL;
    if (!s)
        return CM_ENOMEM;
    if ((rc = cm_mirror_ref_list(repo, 0, &s->refs, &s->n)) != CM_OK)
        goto out;
    if (git_reference_lookup(&head, repo, "HEAD") == 0 &&
        git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
        !(s->head = strdup(git_reference_symbolic_target(head)))) {
        rc = CM_ENOMEM;
        goto out;
    }
    *out = s;
    s = NULL;
out:
    git_reference_free(head);
    cm_mirror_refsnap_free(s);
    return rc;
}

static int mg_by_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cm_mirror_ref *)elem)->name);
}

/* The entry of refs[0..n) (sorted by name) named name, or NULL. */
static const struct cm_mirror_ref *mg_find(const struct cm_mirror_ref *refs, size_t n,
                                           const char *name)
{
    return n ? bsearch(name, refs, n, sizeof(*refs), mg_by_name) : NULL;
}

/* Whether branch was, now moved to now, went forward: now's commit descends from was's. */
static int mg_forward(git_repository *repo, const char *was, const char *now)
{
    git_oid was_id, now_id, was_c, now_c;

    return git_oid_fromstr(&was_id, was) == 0 && git_oid_fromstr(&now_id, now) == 0 &&
           cm_mirror_peel_oid(repo, &was_id, &was_c) == CM_OK &&
           cm_mirror_peel_oid(repo, &now_id, &now_c) == CM_OK &&
           git_graph_descendant_of(repo, &now_c, &was_c) == 1;
}

int cm_mirror_refsnap_check(git_repository *repo, const struct cm_mirror_refsnap *s, char *why,
                            size_t whylen)
{
    struct cm_mirror_ref *refs = NULL;
    size_t n = 0, survived = 0;
    int rc = cm_mirror_ref_list(repo, 0, &refs, &n);

    for (size_t i = 0; rc == CM_OK && i < s->n; i++) {
        const char *name = s->refs[i].name;
        int is_tag = !strncmp(name, "refs/tags/", 10);
        const struct cm_mirror_ref *now = mg_find(refs, n, name);

        if (!now) {
            if (is_tag) {
                snprintf(why, whylen, "tag %s is gone", name + 10);
                rc = CM_EAUTH;
            }
            continue; /* a deleted branch is ordinary */
        }
        if (!strcmp(now->hex, s->refs[i].hex)) {
            survived++;
        } else if (is_tag) {
            snprintf(why, whylen, "tag %s points elsewhere", name + 10);
            rc = CM_EAUTH;
        } else if (!mg_forward(repo, s->refs[i].hex, now->hex)) {
            snprintf(why, whylen, "branch %s was rewritten, not moved forward", name + 11);
            rc = CM_EAUTH;
        } else {
            survived++;
        }
    }
    if (rc == CM_OK && s->n > 0 && survived == 0) {
        snprintf(why, whylen, "none of its branches or tags is left");
        rc = CM_EAUTH;
    }
    cm_mirror_ref_list_free(refs, n);
    return rc;
}

int cm_mirror_refsnap_restore(git_repository *repo, const struct cm_mirror_refsnap *s)
{
    struct cm_mirror_ref *refs = NULL;
    size_t n = 0;
    int rc = cm_mirror_ref_list(repo, 0, &refs, &n);

    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        if (!mg_find(s->refs, s->n, refs[i].name) && git_reference_remove(repo, refs[i].name) != 0)
            rc = CM_ERROR;
    }
    cm_mirror_ref_list_free(refs, n);
    for (size_t i = 0; i < s->n; i++) {
        git_reference *r = NULL;
        git_oid id;
        if (git_oid_fromstr(&id, s->refs[i].hex) != 0 ||
            git_reference_create(&r, repo, s->refs[i].name, &id, 1, "cargoman: restored") != 0)
            rc = CM_ERROR;
        git_reference_free(r);
    }
    if (s->head) {
        git_reference *r = NULL;
        if (git_reference_symbolic_create(&r, repo, "HEAD", s->head, 1, "cargoman: restored") != 0)
            rc = CM_ERROR;
        git_reference_free(r);
    }
    return rc;
}
