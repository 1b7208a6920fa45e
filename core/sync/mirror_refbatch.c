/* SPDX-License-Identifier: MIT */
/*
 * Refs kept in memory and written as one packed-refs file (mirror_refbatch.h). Why: libgit2's
 * files backend writes each ref a fetch brings as a loose file with two fsyncs (file and
 * directory) when GIT_OPT_ENABLE_FSYNC_GITDIR is on; the first mirror of a repository with
 * 20,000 tags spent 35 s of 36 in them. A new mirror needs its refs durable only once, all
 * together, before it is published.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "sync/mirror_refbatch.h"
#include "util/fsutil.h"

/* git's own header: every ref that leads to a tag object is followed by its peeled id, and
 * the lines are sorted, which lets readers (libgit2 too) search the file. */
#define RB_HEADER "# pack-refs with: peeled fully-peeled sorted \n"

struct rb_ref {
    char *name; /* owned */
    git_oid id;
};

struct cm_refbatch {
    void *root; /* tsearch tree of struct rb_ref, by name */
    size_t n;
};

static int rb_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rb_ref *)a)->name, ((const struct rb_ref *)b)->name);
}

static void rb_ref_free(void *p)
{
    struct rb_ref *r = p;

    free(r->name);
    free(r);
}

int cm_refbatch_new(struct cm_refbatch **out)
{
    if (!(*out = calloc(1, sizeof(**out)))) {
        git_error_set_oom();
        return -1;
    }
    return 0;
}

void cm_refbatch_free(struct cm_refbatch *b)
{
    if (!b)
        return;
    tdestroy(b->root, rb_ref_free);
    free(b);
}

static struct rb_ref *rb_find(const struct cm_refbatch *b, const char *name)
{
    struct rb_ref key = {.name = (char *)name};
    void *found = tfind(&key, &b->root, rb_cmp);

    return found ? *(struct rb_ref **)found : NULL;
}

const git_oid *cm_refbatch_get(const struct cm_refbatch *b, const char *name)
{
    struct rb_ref *r = rb_find(b, name);

    return r ? &r->id : NULL;
}

int cm_refbatch_set(struct cm_refbatch *b, const char *name, const git_oid *id)
{
    struct rb_ref *r = rb_find(b, name);
    void *slot;

    if (r) {
        git_oid_cpy(&r->id, id);
        return 0;
    }
    if (!(r = calloc(1, sizeof(*r))) || !(r->name = strdup(name)))
        goto oom;
    git_oid_cpy(&r->id, id);
    if (!(slot = tsearch(r, &b->root, rb_cmp)))
        goto oom;
    b->n++;
    return 0;
oom:
    if (r)
        free(r->name);
    free(r);
    git_error_set_oom();
    return -1;
}

int cm_refbatch_del(struct cm_refbatch *b, const char *name)
{
    struct rb_ref *r = rb_find(b, name);

    if (!r)
        return GIT_ENOTFOUND;
    tdelete(r, &b->root, rb_cmp);
    rb_ref_free(r);
    b->n--;
    return 0;
}

struct rb_walk {
    const char *glob;
    struct cm_refbatch_ref *out;
    size_t n, cap;
    int failed;
};

static void rb_collect(const void *node, VISIT v, void *arg)
{
    const struct rb_ref *r = *(const struct rb_ref *const *)node;
    struct rb_walk *w = arg;

    if ((v != postorder && v != leaf) || w->failed)
        return; /* in order: each inner node once, after its left subtree */
    if (w->glob && fnmatch(w->glob, r->name, 0) != 0)
        return;
    if (w->n == w->cap || !(w->out[w->n].name = strdup(r->name))) {
        w->failed = 1;
        return;
    }
    git_oid_cpy(&w->out[w->n++].id, &r->id);
}

int cm_refbatch_list(const struct cm_refbatch *b, const char *glob, struct cm_refbatch_ref **out,
                     size_t *n)
{
    struct rb_walk w = {.glob = glob, .cap = b->n};

    *out = NULL;
    *n = 0;
    if (b->n && !(w.out = calloc(b->n, sizeof(*w.out)))) {
        git_error_set_oom();
        return -1;
    }
    twalk_r(b->root, rb_collect, &w);
    if (w.failed) {
        cm_refbatch_list_free(w.out, w.n);
        git_error_set_oom();
        return -1;
    }
    *out = w.out;
    *n = w.n;
    return 0;
}

void cm_refbatch_list_free(struct cm_refbatch_ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(refs[i].name);
    free(refs);
}

/* One ref's lines: "<id> <name>", then "^<id>" of what an annotated tag leads to. */
static int rb_write_ref(FILE *f, git_repository *repo, git_odb *odb,
                        const struct cm_refbatch_ref *r)
{
    char hex[GIT_OID_HEXSZ + 1], peeled[GIT_OID_HEXSZ + 1];
    git_object_t type;
    git_tag *tag = NULL;
    git_object *target = NULL;
    size_t len;
    int rc;

    if ((rc = git_odb_read_header(&len, &type, odb, &r->id)) < 0)
        return rc;
    git_oid_tostr(hex, sizeof(hex), &r->id);
    if (fprintf(f, "%s %s\n", hex, r->name) < 0)
        return -1;
    if (type != GIT_OBJECT_TAG)
        return 0;
    if ((rc = git_tag_lookup(&tag, repo, &r->id)) == 0 && (rc = git_tag_peel(&target, tag)) == 0) {
        git_oid_tostr(peeled, sizeof(peeled), git_object_id(target));
        if (fprintf(f, "^%s\n", peeled) < 0)
            rc = -1;
    }
    git_object_free(target);
    git_tag_free(tag);
    return rc;
}

static int rb_write_all(FILE *f, const struct cm_refbatch *b, git_repository *repo)
{
    struct cm_refbatch_ref *refs = NULL;
    git_odb *odb = NULL;
    size_t n = 0;
    int rc;

    if ((rc = cm_refbatch_list(b, NULL, &refs, &n)) < 0 ||
        (rc = git_repository_odb(&odb, repo)) < 0)
        goto out;
    if (fputs(RB_HEADER, f) == EOF) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = rb_write_ref(f, repo, odb, &refs[i]);
out:
    git_odb_free(odb);
    cm_refbatch_list_free(refs, n);
    return rc;
}

static int rb_os_error(const char *what, const char *path)
{
    char msg[4200];

    snprintf(msg, sizeof(msg), "cannot %s %s: %s", what, path, strerror(errno));
    git_error_set_str(GIT_ERROR_OS, msg);
    return -1;
}

int cm_refbatch_write(const struct cm_refbatch *b, git_repository *repo)
{
    const char *dir = git_repository_commondir(repo); /* ends with '/' */
    char path[4096], lock[4110];
    FILE *f = NULL;
    int fd, rc;

    git_error_clear(); /* a write error of stdio sets none: ours is set then */
    if ((size_t)snprintf(path, sizeof(path), "%spacked-refs", dir) >= sizeof(path)) {
        git_error_set_str(GIT_ERROR_REFERENCE, "the repository's path is too long");
        return -1;
    }
    snprintf(lock, sizeof(lock), "%s.lock", path);
    if ((fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
        rc = rb_os_error("create", lock);
        return errno == EEXIST ? GIT_ELOCKED : rc;
    }
    if (!(f = fdopen(fd, "w"))) {
        rc = rb_os_error("write", lock);
        close(fd);
        goto fail;
    }
    if ((rc = rb_write_all(f, b, repo)) < 0) {
        if (!git_error_last())
            rb_os_error("write", lock);
        fclose(f);
        goto fail;
    }
    if (fflush(f) != 0 || fsync(fd) != 0) {
        rc = rb_os_error("write", lock);
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0) {
        rc = rb_os_error("write", lock);
        goto fail;
    }
    if (rename(lock, path) != 0) {
        rc = rb_os_error("rename", lock);
        goto fail;
    }
    if (cm_fs_fsync_dir(dir) != 0)
        return rb_os_error("fsync", dir);
    return 0;
fail:
    unlink(lock);
    return rc;
}
