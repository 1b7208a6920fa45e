/* SPDX-License-Identifier: MIT */
/*
 * What a sync may leave out (sync/mirror_current.c): commit ancestry in a mirror, the refs
 * digest the sync plugins' last good run is recorded by, and cm_mirror_sync answering from the
 * mirror without contacting the host (its URL leads nowhere here).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_servers.h"
#include "sync/mirror.h"
#include "util/fsutil.h"

static char tdir[256];
static char a[64], b[64], side[64], tag[64];

static void rev(char *out, const char *spec)
{
    ck_assert_int_eq(ms_capture(out, 64, "git -C '%s/work' rev-parse '%s'", tdir, spec), 0);
}

/* work: a <- b on main (annotated tag t at b), side branching from a; mirror.git: its mirror. */
static void setup(void)
{
    ck_assert_int_eq(ms_sandbox_enter(tdir, sizeof(tdir), "current"), 0);
    ck_assert_int_eq(ms_sh("cd '%s' && git init -q -b main work && cd work && "
                           "git commit -q --allow-empty -m a && git branch side && "
                           "git commit -q --allow-empty -m b && git tag -a t -m t && "
                           "git checkout -q side && git commit -q --allow-empty -m s && "
                           "git checkout -q main && git clone -q --mirror . ../mirror.git",
                           tdir),
                     0);
    rev(a, "main~1");
    rev(b, "main");
    rev(side, "side");
    rev(tag, "t");
}

static void teardown(void)
{
    ms_sandbox_leave(tdir);
}

static struct cm_mirror *open_mirror(const char *name)
{
    struct cm_mirror *m = NULL;
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", tdir, name);
    /* Nothing listens on port 9: a sync that contacts the host fails. */
    ck_assert_int_eq(cm_mirror_open(&m, path, "git://127.0.0.1:9/x.git", "ep", "x"), CM_OK);
    return m;
}

START_TEST(test_descends)
{
    struct cm_mirror *m = open_mirror("mirror.git");

    ck_assert_int_eq(cm_mirror_descends(m, "refs/heads/main", NULL, b), 1);
    ck_assert_int_eq(cm_mirror_descends(m, "refs/heads/main", NULL, a), 1);
    ck_assert_int_eq(cm_mirror_descends(m, "refs/heads/side", NULL, b), 0);
    ck_assert_int_eq(cm_mirror_descends(m, "refs/heads/side", NULL, a), 1);
    ck_assert_int_eq(cm_mirror_descends(m, NULL, b, a), 1);
    ck_assert_int_eq(cm_mirror_descends(m, NULL, a, b), 0);
    ck_assert_int_eq(cm_mirror_descends(m, NULL, tag, a), 1); /* an annotated tag's commit */
    ck_assert_int_eq(cm_mirror_descends(m, "refs/heads/nope", NULL, a), 0);
    ck_assert_int_eq(
        cm_mirror_descends(m, "refs/heads/main", NULL, "0123456789abcdef0123456789abcdef01234567"),
        0);
    ck_assert_int_eq(cm_mirror_descends(m, "refs/heads/main", NULL, "not-hex"), 0);
    cm_mirror_free(m);
}
END_TEST

START_TEST(test_digest)
{
    struct cm_mirror *m = open_mirror("mirror.git");
    char d1[65], d2[65], d3[65];

    ck_assert_int_eq(cm_mirror_refs_digest(m, "composer exec ", d1), CM_OK);
    ck_assert_int_eq(strlen(d1), 64);
    ck_assert_int_eq(cm_mirror_refs_digest(m, "composer exec ", d2), CM_OK);
    ck_assert_str_eq(d1, d2);
    ck_assert_int_eq(cm_mirror_refs_digest(m, "composer ", d3), CM_OK);
    ck_assert_str_ne(d1, d3); /* another set of plugins */
    ck_assert_int_eq(cm_mirror_plugins_current(m, d1), 0);
    ck_assert_int_eq(cm_mirror_plugins_ran(m, d1), CM_OK);
    ck_assert_int_eq(cm_mirror_plugins_current(m, d1), 1);
    ck_assert_int_eq(ms_sh("git --git-dir='%s/mirror.git' update-ref refs/heads/main %s", tdir, a),
                     0);
    ck_assert_int_eq(cm_mirror_refs_digest(m, "composer exec ", d2), CM_OK);
    ck_assert_str_ne(d1, d2);
    ck_assert_int_eq(cm_mirror_plugins_current(m, d2), 0);
    cm_mirror_free(m);
    m = open_mirror("none.git");
    ck_assert_int_eq(cm_mirror_refs_digest(m, "", d1), CM_ENOENT);
    ck_assert_int_eq(cm_mirror_plugins_ran(m, d2), CM_ENOENT);
    cm_mirror_free(m);
}
END_TEST

static int calls;
static int answer(void *arg, const struct cm_mirror *m)
{
    calls++;
    return *(const int *)arg;
}

START_TEST(test_sync_without_fetch)
{
    struct cm_mirror *m = open_mirror("mirror.git");
    char err[512];
    int yes = 1, no = 0;
    long long at;

    cm_mirror_set_current_check(m, answer, &yes);
    ck_assert_msg(cm_mirror_sync(m, NULL, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(cm_mirror_fetched(m), 0);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_IS_NEW), "false");
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), "main");
    ck_assert_int_eq(cm_mirror_recorded(cm_mirror_get(m, CM_MIRROR_PATH), err, sizeof(err), &at),
                     CM_OK);
    ck_assert_int_gt(at, 0); /* recorded as synced, as a fetch would be */
    /* Not current: it contacts the host, which is not there. */
    cm_mirror_set_current_check(m, answer, &no);
    ck_assert_int_eq(cm_mirror_sync(m, NULL, err, sizeof(err)), CM_EAGAIN);
    ck_assert_int_eq(calls, 2);
    cm_mirror_free(m);
    /* No mirror yet: a first clone, without asking. */
    m = open_mirror("none.git");
    cm_mirror_set_current_check(m, answer, &yes);
    ck_assert_int_eq(cm_mirror_sync(m, NULL, err, sizeof(err)), CM_EAGAIN);
    ck_assert_int_eq(calls, 2);
    cm_mirror_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mirror_current");
    TCase *tc = tcase_create("current");
    SRunner *sr;
    int failed;

    if (!ms_have("git")) {
        printf("SKIP: git is not installed\n");
        return 77;
    }
    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_descends);
    tcase_add_test(tc, test_digest);
    tcase_add_test(tc, test_sync_without_fetch);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
