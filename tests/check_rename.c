/* SPDX-License-Identifier: MIT */
/*
 * Following renames on disk (sync/rename.c, sync/mirror_identity.c), with real bare
 * repositories made by git: the move, a stale delivery for the old name, a name taken by a new
 * repository, a busy mirror, an index left stale by a crash, and what is never trusted (no id,
 * an id that is not one). The end-to-end cases per provider are tests/integration/rename.sh.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror_servers.h"
#include "sync/mirror.h"
#include "sync/rename.h"
#include "util/fsutil.h"

static char tdir[256];

static void setup(void)
{
    ck_assert_int_eq(ms_sandbox_enter(tdir, sizeof(tdir), "rename"), 0);
}

static void teardown(void)
{
    ms_sandbox_leave(tdir);
}

/* A bare mirror of ep/name under tdir, with id recorded (NULL: none). */
static void make_mirror(const char *name, const char *id)
{
    char path[4096];
    ck_assert_int_eq(cm_mirror_path(path, sizeof(path), tdir, "gh", name), CM_OK);
    ck_assert_int_eq(ms_sh("git init -q --bare '%s'", path), 0);
    if (id)
        ck_assert_int_eq(ms_sh("git --git-dir='%s' config cargoman.id '%s'", path, id), 0);
}

static int exists(const char *name)
{
    char path[4096];
    struct stat st;
    cm_mirror_path(path, sizeof(path), tdir, "gh", name);
    return stat(path, &st) == 0;
}

static struct cm_mirror_identity identity(const char *name)
{
    struct cm_mirror_identity who;
    char path[4096];
    cm_mirror_path(path, sizeof(path), tdir, "gh", name);
    ck_assert_int_eq(cm_mirror_identity_read(path, &who), CM_OK);
    return who;
}

static int follow(const char *name, const char *id, long long now, struct cm_rename *rn)
{
    char err[512] = "";
    int rc = cm_rename_follow(tdir, "gh", name, id, now, rn, err, sizeof(err));
    if (rc != CM_OK)
        ck_assert_msg(err[0], "an error without a message");
    return rc;
}

START_TEST(test_move)
{
    struct cm_rename rn;

    make_mirror("acme/old", "42");
    cm_rename_remember(tdir, "gh", "acme/old", "42");
    ck_assert_int_eq(follow("team/new", "42", 2000, &rn), CM_OK);
    ck_assert_str_eq(rn.name, "team/new");
    ck_assert_str_eq(rn.from, "acme/old");
    ck_assert_str_eq(rn.dropped_id, "");
    ck_assert(exists("team/new") && !exists("acme/old"));
    /* The old name's directories and lock file are gone with it. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/mirrors/gh/acme", tdir);
    ck_assert_int_ne(access(dir, F_OK), 0);
    struct cm_mirror_identity who = identity("team/new");
    ck_assert_str_eq(who.id, "42");
    ck_assert_str_eq(who.aliases, "acme/old");
    ck_assert_int_eq(who.renamed_at, 2000);
    /* Renamed again: the names pile up, oldest first. */
    ck_assert_int_eq(follow("team/newer", "42", 3000, &rn), CM_OK);
    ck_assert_str_eq(identity("team/newer").aliases, "acme/old team/new");
    /* The usual case afterwards: nothing to do. */
    ck_assert_int_eq(follow("team/newer", "42", 5000, &rn), CM_OK);
    ck_assert_str_eq(rn.from, "");
    ck_assert_int_eq(rn.alias, 0);
    ck_assert_str_eq(rn.name, "team/newer");
}
END_TEST

/* A delivery for an earlier name (late, replayed, a host's retry, or a rename back) never
 * moves the mirror back: that name may be another repository's by now. It is synced under the
 * present name. */
START_TEST(test_alias)
{
    struct cm_rename rn;

    make_mirror("acme/old", "42");
    cm_rename_remember(tdir, "gh", "acme/old", "42");
    ck_assert_int_eq(follow("acme/new", "42", 2000, &rn), CM_OK);
    ck_assert_int_eq(follow("acme/old", "42", 999, &rn), CM_OK);
    ck_assert_int_eq(rn.alias, 1);
    ck_assert_str_eq(rn.name, "acme/new");
    ck_assert_int_eq(follow("acme/old", "42", 5000, &rn), CM_OK);
    ck_assert_int_eq(rn.alias, 1);
    ck_assert(exists("acme/new") && !exists("acme/old"));
    /* The move dropped the URL the old name was fetched from. */
    char path[4096], url[256];
    long long synced;
    cm_mirror_path(path, sizeof(path), tdir, "gh", "acme/new");
    ck_assert_int_eq(ms_sh("git --git-dir='%s' config cargoman.url git://h/acme/old.git", path), 0);
    ck_assert_int_eq(follow("acme/newer", "42", 6000, &rn), CM_OK);
    cm_mirror_path(path, sizeof(path), tdir, "gh", "acme/newer");
    ck_assert_int_eq(cm_mirror_recorded(path, url, sizeof(url), &synced), CM_OK);
    ck_assert_str_eq(url, "");
}
END_TEST

/* The host gave a renamed repository's old name to a new one (another id) before the renamed
 * one pushed again: the old mirror is not the new repository's; it is dropped, and the renamed
 * repository's next push clones afresh. */
START_TEST(test_name_taken)
{
    struct cm_rename rn;

    make_mirror("acme/lib", "42");
    cm_rename_remember(tdir, "gh", "acme/lib", "42");
    ck_assert_int_eq(follow("acme/lib", "77", 2000, &rn), CM_OK);
    ck_assert_str_eq(rn.dropped_id, "42");
    ck_assert_str_eq(rn.from, "");
    ck_assert(!exists("acme/lib"));
    /* The renamed one, found by its id, finds no mirror of its own to move. */
    ck_assert_int_eq(follow("acme/lib2", "42", 3000, &rn), CM_OK);
    ck_assert_str_eq(rn.from, "");
    /* A rename onto a name whose mirror is another repository's: that one goes, this moves. */
    make_mirror("acme/x", "1");
    cm_rename_remember(tdir, "gh", "acme/x", "1");
    make_mirror("acme/y", "2");
    ck_assert_int_eq(follow("acme/y", "1", 3000, &rn), CM_OK);
    ck_assert_str_eq(rn.from, "acme/x");
    ck_assert_str_eq(rn.dropped_id, "2");
    ck_assert_str_eq(identity("acme/y").id, "1");
}
END_TEST

/* A sync of the old mirror holds its lock: the move waits (CM_EAGAIN, said why), nothing moved. */
START_TEST(test_busy)
{
    char path[4096];
    struct cm_rename rn;
    int fd;

    make_mirror("acme/old", "42");
    cm_rename_remember(tdir, "gh", "acme/old", "42");
    cm_mirror_path(path, sizeof(path), tdir, "gh", "acme/old");
    ck_assert_int_eq(cm_mirror_lock(path, &fd), CM_OK);
    ck_assert_int_eq(follow("acme/new", "42", 2000, &rn), CM_EAGAIN);
    ck_assert(exists("acme/old") && !exists("acme/new"));
    close(fd);
    ck_assert_int_eq(follow("acme/new", "42", 2000, &rn), CM_OK);
    ck_assert(exists("acme/new") && !exists("acme/old"));
}
END_TEST

/* The index is a hint: an entry naming a mirror of another id, or no mirror (a crash between
 * the move and the index write), misleads nothing. A mirror without an id is adopted. */
START_TEST(test_index_hint)
{
    struct cm_rename rn;
    char rel[512];

    make_mirror("acme/a", "9");
    snprintf(rel, sizeof(rel), "mirror-ids/gh/42");
    ck_assert_int_eq(cm_fs_write_under(tdir, rel, "acme/a", 6, 0644), 0);
    ck_assert_int_eq(follow("acme/b", "42", 2000, &rn), CM_OK);
    ck_assert_str_eq(rn.from, "");
    ck_assert(exists("acme/a"));
    ck_assert_int_eq(cm_fs_write_under(tdir, rel, "../../x", 7, 0644), 0);
    ck_assert_int_eq(follow("acme/b", "42", 2000, &rn), CM_OK);
    ck_assert_str_eq(rn.from, "");
    make_mirror("acme/legacy", NULL);
    ck_assert_int_eq(follow("acme/legacy", "5", 2000, &rn), CM_OK);
    ck_assert_str_eq(rn.dropped_id, "");
    ck_assert_int_eq(rn.adopted, 1);
    ck_assert(exists("acme/legacy"));
}
END_TEST

/* A sync that found the mirror, then lost it to a move before taking its lock, clones
 * nothing under the name it left: CM_EAGAIN, no directory, no lock file. The URL is never
 * contacted. */
START_TEST(test_moved_under_sync)
{
    struct cm_mirror *m = NULL;
    char path[4096], err[512], dir[4200];

    make_mirror("acme/old", "42");
    cm_mirror_path(path, sizeof(path), tdir, "gh", "acme/old");
    ck_assert_int_eq(cm_mirror_open(&m, path, "git://127.0.0.1:9/acme/old.git", "gh", "acme/old"),
                     CM_OK);
    cm_mirror_expect_existing(m);
    cm_rename_remember(tdir, "gh", "acme/old", "42");
    struct cm_rename rn;
    ck_assert_int_eq(follow("acme/new", "42", 2000, &rn), CM_OK);
    ck_assert_int_eq(cm_mirror_sync(m, NULL, err, sizeof(err)), CM_EAGAIN);
    ck_assert_msg(strstr(err, "moved to a new name"), "%s", err);
    snprintf(dir, sizeof(dir), "%s.lock", path);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert(exists("acme/new"));
    cm_mirror_free(m);
}
END_TEST

/* No id, or text that is no host's id, is never followed. */
START_TEST(test_untrusted)
{
    struct cm_rename rn;

    make_mirror("acme/old", "42");
    cm_rename_remember(tdir, "gh", "acme/old", "42");
    ck_assert_int_eq(follow("acme/new", NULL, 2000, &rn), CM_OK);
    ck_assert_int_eq(follow("acme/new", "", 2000, &rn), CM_OK);
    ck_assert_int_eq(follow("acme/new", "../42", 2000, &rn), CM_OK);
    ck_assert_str_eq(rn.from, "");
    ck_assert(exists("acme/old"));
    cm_rename_remember(tdir, "gh", "acme/old", "../../etc");
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/etc", tdir);
    ck_assert_int_ne(access(bad, F_OK), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rename");
    TCase *tc = tcase_create("rename");
    SRunner *sr;
    int failed;

    if (system("git --version >/dev/null 2>&1") != 0) {
        printf("SKIP: git is not installed\n");
        return 77;
    }
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_move);
    tcase_add_test(tc, test_alias);
    tcase_add_test(tc, test_name_taken);
    tcase_add_test(tc, test_busy);
    tcase_add_test(tc, test_index_hint);
    tcase_add_test(tc, test_untrusted);
    tcase_add_test(tc, test_moved_under_sync);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
