/* SPDX-License-Identifier: MIT */
/*
 * Mirrors of repositories with more refs than a fetch negotiates with (mirror_refdb.c), over
 * git daemon and over HTTP: a fetch still brings new, moved and annotated tags, prunes deleted
 * ones, receives only the new objects, and the history guard still refuses a moved tag. A first
 * mirror writes its refs as one packed-refs file (mirror_refbatch.c), the same as git's.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_servers.h"
#include "sync/mirror.h"
#include "sync/mirror_refdb.h"
#include "util/fsutil.h"

/* More than CM_MIRROR_NEGOTIATE_REFS, so that tags past the cut-off move and go. */
#define TAGS 400

static char tdir[256]; /* this test's temp dir; each test runs in its own process */

static void setup(void)
{
    ck_assert_int_eq(ms_sandbox_enter(tdir, sizeof(tdir), "mtags"), 0);
}

static void teardown(void)
{
    ms_sandbox_leave(tdir);
}

/* srv/repo.git: TAGS commits on main, commit i tagged v1.<i/100>.<i%100> (git fast-import,
 * so it takes a moment), and work/, a clone to push changes from. */
static void make_source(void)
{
    ck_assert_int_eq(
        ms_sh("cd '%s' && git init -q --bare -b main srv/repo.git && "
              "awk 'BEGIN { for (i = 1; i <= %d; i++) {"
              " printf \"commit refs/heads/main\\nmark :%%d\\n\", i;"
              " printf \"committer t <t@example.com> %%d +0000\\ndata 2\\nc\\n\", 1700000000 + i;"
              " printf \"M 644 inline VERSION\\ndata %%d\\n%%d\\n\", length(i \"\"), i;"
              " printf \"reset refs/tags/v1.%%d.%%d\\nfrom :%%d\\n\\n\", int(i / 100), i %% 100, i"
              " } }' | git -C srv/repo.git fast-import --quiet && "
              "git clone -q srv/repo.git work",
              tdir, TAGS),
        0);
}

static void rev(char *out, const char *spec)
{
    ck_assert_int_eq(ms_capture(out, 64, "git -C '%s/srv/repo.git' rev-parse '%s'", tdir, spec), 0);
}

static int count_ref(void *arg, const char *ref, const char *id)
{
    (void)ref;
    (void)id;
    ++*(int *)arg;
    return 0;
}

static void note_total(void *arg, unsigned received, unsigned total, unsigned long long bytes)
{
    (void)received;
    (void)bytes;
    *(unsigned *)arg = total;
}

/* Upstream: a new commit with a new tag and a new annotated tag, a tag past the cut-off moved
 * to it, another one deleted. */
static void change_upstream(void)
{
    ck_assert_int_eq(ms_sh("cd '%s/work' && echo new > NEW && git add NEW && git commit -q -m new "
                           "&& git tag v9.0.0 && git tag -a -m 'version 9.1' v9.1.0 && "
                           "git tag -f v1.3.50 >/dev/null && git push -q origin main v9.0.0 v9.1.0 "
                           "&& git push -q -f origin v1.3.50 && git push -q origin :v1.3.90",
                           tdir),
                     0);
}

/* Each transport: 0 git daemon, 1 HTTP (smart HTTP negotiates in stateless rounds). */
static void serve(struct ms_server *srv, int http, char *url, size_t urllen,
                  struct cm_mirror_auth *auth)
{
    if (http) {
        ck_assert_int_eq(ms_lighttpd(srv, tdir, "alice", "s3cret"), 0);
        auth->user = "alice";
        auth->token = "s3cret";
    } else {
        ck_assert_int_eq(ms_git_daemon(srv, tdir), 0);
    }
    snprintf(url, urllen, "%srepo.git", srv->url);
}

START_TEST(test_many_tags)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    char url[600], path[512], err[512], head[64], moved[64], ann[64], old50[64];
    unsigned long withheld;
    unsigned total = 0;
    int refs = 0;

    make_source();
    serve(&srv, _i, url, sizeof(url), &auth);
    snprintf(path, sizeof(path), "%s/mirrors/ep/acme/tags.git", tdir);
    ck_assert_int_eq(cm_mirror_open(&m, path, url, "ep", "acme/tags"), CM_OK);
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(cm_mirror_refs(m, count_ref, &refs), 0);
    ck_assert_int_eq(refs, TAGS + 1);
    rev(old50, "v1.3.50");

    change_upstream();
    rev(head, "main");
    rev(moved, "v1.3.50");
    rev(ann, "v9.1.0");
    ck_assert_str_eq(moved, head);
    ck_assert_str_ne(ann, head);
    cm_mirror_set_progress(m, note_total, &total);
    withheld = cm_mirror_refdb_withheld();
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);

    /* Negotiation listed the local refs through our backend and stopped at the cut-off... */
    ck_assert_uint_ge(cm_mirror_refdb_withheld() - withheld, TAGS + 1 - CM_MIRROR_NEGOTIATE_REFS);
    /* ...and still told the server enough: the new commit, its tree, two blobs at most and
     * the annotated tag, not the history again. */
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_le(total, 6);

    /* The tip updates and the prune after it saw every ref. */
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", head), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v9.0.0", head), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1.3.50", head), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1.3.50", old50), 0);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v9.1.0", ann), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v9.1.0", head), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1.3.90", NULL), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1.0.1", NULL), 0);
    refs = 0;
    ck_assert_int_eq(cm_mirror_refs(m, count_ref, &refs), 0);
    ck_assert_int_eq(refs, TAGS + 1 + 2 - 1);
    ck_assert_int_eq(ms_sh("git -C '%s' fsck --connectivity-only --no-progress 2>/dev/null", path),
                     0);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

START_TEST(test_guard_moved_tag)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    char url[600], path[512], err[512], old50[64], old_head[64];

    make_source();
    serve(&srv, 0, url, sizeof(url), &auth);
    snprintf(path, sizeof(path), "%s/mirrors/ep/acme/tags.git", tdir);
    ck_assert_int_eq(cm_mirror_open(&m, path, url, "ep", "acme/tags"), CM_OK);
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    cm_mirror_free(m);
    rev(old50, "v1.3.50");
    rev(old_head, "main");

    change_upstream();
    ck_assert_int_eq(cm_mirror_open(&m, path, url, "ep", "acme/tags"), CM_OK);
    cm_mirror_guard_history(m);
    ck_assert_int_eq(cm_mirror_sync(m, &auth, err, sizeof(err)), CM_EAUTH);
    ck_assert_msg(strstr(err, "v1.3.50"), "%s", err);
    /* Every ref put back, those past the negotiation's cut-off too. */
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1.3.50", old50), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1.3.90", NULL), 0);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v9.0.0", NULL), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", old_head), 1);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* Annotated tags (one of a tag, one of a tree), a second branch and a tag that points where a
 * lightweight one does, on top of make_source's tags. */
static void add_annotated(void)
{
    ck_assert_int_eq(ms_sh("cd '%s/work' && git tag -a -m one a1.0 v1.0.7 && "
                           "git tag -a -m two a2.0 v1.2.3 && git -c advice.nestedTag=false tag -a "
                           "-m nested a3.0 a2.0 && "
                           "git tag -a -m tree a4.0 'v1.1.1^{tree}' && git branch -q dev v1.3.1 && "
                           "git push -q origin dev a1.0 a2.0 a3.0 a4.0",
                           tdir),
                     0);
}

/* Every ref, its target and what it peels to, of the repository at path, into file. */
static void for_each_ref(const char *path, const char *file)
{
    ck_assert_int_eq(ms_sh("git -C '%s' for-each-ref --format='%%(refname) %%(objectname) "
                           "%%(*objectname)' >'%s/%s' && git -C '%s' symbolic-ref HEAD >>'%s/%s'",
                           path, tdir, file, path, tdir, file),
                     0);
}

START_TEST(test_first_mirror_packed)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    char url[600], path[512], peer[512], err[512];
    unsigned long loose;

    make_source();
    add_annotated();
    serve(&srv, 0, url, sizeof(url), &auth);
    snprintf(path, sizeof(path), "%s/mirrors/ep/acme/tags.git", tdir);
    snprintf(peer, sizeof(peer), "%s/peer.git", tdir);
    ck_assert_int_eq(cm_mirror_open(&m, path, url, "ep", "acme/tags"), CM_OK);
    loose = cm_mirror_refdb_loose_writes();
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    /* No ref went through the files backend's loose, fsync'd writes... */
    ck_assert_uint_eq(cm_mirror_refdb_loose_writes(), loose);
    ck_assert_int_eq(ms_sh("test -z \"$(find '%s/refs' -type f)\"", path), 0);

    /* ...and the mirror has git's refs, peeled values and HEAD, and git's packed-refs. */
    ck_assert_int_eq(ms_sh("git clone -q --mirror '%s' '%s'", url, peer), 0);
    for_each_ref(path, "ours");
    for_each_ref(peer, "git");
    ck_assert_int_eq(ms_sh("cmp -s '%s/ours' '%s/git'", tdir, tdir), 0);
    ck_assert_int_eq(ms_sh("test $(wc -l <'%s/ours') = %d", tdir, TAGS + 4 + 2 + 1), 0);
    ck_assert_int_eq(ms_sh("cmp -s '%s/packed-refs' '%s/packed-refs'", path, peer), 0);
    ck_assert_int_eq(ms_sh("git -C '%s' fsck --no-progress 2>/dev/null", path), 0);

    /* A fetch into the mirror, which has refs now, writes each ref durably on its own. */
    change_upstream();
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_uint_gt(cm_mirror_refdb_loose_writes(), loose);
    ck_assert_int_eq(ms_sh("git -C '%s' fetch -q --prune", peer), 0);
    for_each_ref(path, "ours");
    for_each_ref(peer, "git");
    ck_assert_int_eq(ms_sh("cmp -s '%s/ours' '%s/git'", tdir, tdir), 0);
    ck_assert_int_eq(ms_sh("git -C '%s' fsck --no-progress 2>/dev/null", path), 0);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mirror_tags");
    SRunner *sr;
    TCase *tc;
    int failed, http;

    if (!ms_have("git")) {
        printf("SKIP: git is not installed (Debian: apt-get install git)\n");
        return 77;
    }
    http = ms_have("/usr/sbin/lighttpd") && ms_have("/usr/lib/git-core/git-http-backend");
    if (!http)
        printf("SKIP many_tags over HTTP: needs lighttpd and git http-backend (Debian: apt-get "
               "install lighttpd git)\n");
    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
    tc = tcase_create("many_tags");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_many_tags, 0, http ? 2 : 1);
    tcase_add_test(tc, test_guard_moved_tag);
    tcase_add_test(tc, test_first_mirror_packed);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed)
        return EXIT_FAILURE;
    return http ? EXIT_SUCCESS : 77;
}
