/* SPDX-License-Identifier: MIT */
/*
 * Repositories gone from their host (sync/gone.c), on real bare repositories made by git: a
 * mirror is removed only after the host said "not found" for the whole window while the same
 * endpoint answered for another repository; a credential that lost access to everything, a
 * window of 0, a busy mirror and a tampered record keep it. The gateway end to end (the name a
 * gone repository published goes to the next publisher) is tests/integration/composer_gone.sh.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror_servers.h"
#include "sync/gone.h"
#include "sync/mirror.h"
#include "util/fsutil.h"

#define DAY 86400LL
#define T0 1700000000LL /* the first "not found" */

static char tdir[256];
static char path[4096], other[4096];
static struct cm_gone *g;

static void setup(void)
{
    ck_assert_int_eq(ms_sandbox_enter(tdir, sizeof(tdir), "gone"), 0);
    ck_assert_int_eq(cm_mirror_path(path, sizeof(path), tdir, "dc", "PLAT/billing"), CM_OK);
    ck_assert_int_eq(cm_mirror_path(other, sizeof(other), tdir, "dc", "PLAT/other"), CM_OK);
    ck_assert_int_eq(ms_sh("git init -q --bare '%s' && git init -q --bare '%s'", path, other), 0);
    ck_assert_int_eq(cm_gone_new(&g), CM_OK);
}

static void teardown(void)
{
    cm_gone_free(g);
    ms_sandbox_leave(tdir);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int missing(long long now, long long max_age, char *why, size_t len)
{
    return cm_gone_missing(g, "dc", path, now, max_age, why, len);
}

/* Deleted at the host: missing a whole day while its neighbour answers, then removed. */
START_TEST(test_deleted)
{
    char why[512], err[1024] = "repository not found at git://h/PLAT/billing.git";

    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_str_eq(why, ""); /* within the window: nothing to say yet */
    cm_gone_answered(g, "dc", other, T0 + 10);
    ck_assert_int_eq(missing(T0 + DAY - 1, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(
        cm_gone_settle(g, "dc", "PLAT/billing", path, T0 + DAY, DAY, NULL, NULL, err, sizeof(err)),
        1);
    ck_assert_ptr_nonnull(strstr(err, "gone from its host"));
    ck_assert_ptr_nonnull(strstr(err, "go to the next repository"));
    ck_assert(!exists(path));
    ck_assert(exists(other)); /* its neighbour, and the directories it needs, stay */
}
END_TEST

/* The attack: a credential that lost access makes the host say "not found" for everything.
 * No repository of the endpoint answered since, so nothing is removed, however long. */
START_TEST(test_lost_credentials)
{
    char why[512], err[1024] = "repository not found";

    cm_gone_answered(g, "dc", other, T0 - 5);    /* before: proves nothing about now */
    cm_gone_answered(g, "dc-us", other, T0 + 5); /* another endpoint: other credentials */
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(cm_gone_settle(g, "dc", "PLAT/billing", path, T0 + 30 * DAY, DAY, NULL, NULL,
                                    err, sizeof(err)),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "repository not found; missing at the host since"));
    ck_assert_ptr_nonnull(strstr(err, "credentials may have lost access"));
    ck_assert(exists(path));
}
END_TEST

/* The repository comes back (a restored backup, a transient 404): the record is dropped, and
 * a later "not found" starts the window again. */
START_TEST(test_back)
{
    char why[512];

    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    cm_gone_answered(g, "dc", path, T0 + 100);
    ck_assert_int_eq(missing(T0 + DAY + 200, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(missing(T0 + 2 * DAY, DAY, why, sizeof(why)), CM_OK);
    ck_assert(exists(path)); /* its own answer, not another's, is the last one seen */
    cm_gone_answered(g, "dc", other, T0 + DAY + 300);
    ck_assert_int_eq(missing(T0 + 2 * DAY + 200, DAY, why, sizeof(why)), CM_ENOENT);
}
END_TEST

/* server.gone_repository_max_age = 0: never removed, and the line says how to free a name. */
START_TEST(test_never)
{
    char why[512];

    ck_assert_int_eq(missing(T0, 0, why, sizeof(why)), CM_OK);
    cm_gone_answered(g, "dc", other, T0 + 1);
    ck_assert_int_eq(missing(T0 + 365 * DAY, 0, why, sizeof(why)), CM_OK);
    ck_assert_ptr_nonnull(strstr(why, "cargoman composer release"));
    ck_assert(exists(path));
}
END_TEST

/* No mirror: a first clone's "not found" is the worker's missing_repository_max_age's. */
START_TEST(test_no_mirror)
{
    char why[512], none[4096];

    ck_assert_int_eq(cm_mirror_path(none, sizeof(none), tdir, "dc", "PLAT/none"), CM_OK);
    ck_assert_int_eq(cm_gone_missing(g, "dc", none, T0, 1, why, sizeof(why)), CM_OK);
    ck_assert(!exists(none));
    ck_assert_int_eq(cm_gone_missing(NULL, "dc", path, T0, 1, why, sizeof(why)), CM_OK);
}
END_TEST

/* A record from the future (a clock set back, a hand edit) or garbage restarts the window from
 * now rather than counting as old: a wrong record can only delay a release. */
START_TEST(test_tampered)
{
    char why[512];

    cm_gone_answered(g, "dc", other, T0 + 10);
    ck_assert_int_eq(ms_sh("echo 12abc >'%s/cargoman-missing-since'", path), 0);
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(ms_sh("echo 0 >'%s/cargoman-missing-since'", path), 0);
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(ms_sh("echo %lld >'%s/cargoman-missing-since'", T0 + 50 * DAY, path), 0);
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(missing(T0 + DAY - 1, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(missing(T0 + DAY, DAY, why, sizeof(why)), CM_ENOENT);
    /* A link planted for the record is not followed. */
    ck_assert_int_eq(ms_sh("rm '%s/cargoman-missing-since' && echo 1 >'%s/elsewhere' && "
                           "ln -s '%s/elsewhere' '%s/cargoman-missing-since'",
                           path, tdir, tdir, path),
                     0);
    ck_assert_int_eq(missing(T0 + 3 * DAY, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(ms_sh("grep -qx 1 '%s/elsewhere'", tdir), 0);
}
END_TEST

/* A sync holding the mirror's lock keeps it: the next check removes it. */
START_TEST(test_busy)
{
    char why[512], err[1024] = "not found";
    int fd;

    cm_gone_answered(g, "dc", other, T0 + 10);
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(cm_mirror_lock(path, &fd), CM_OK);
    ck_assert_int_eq(
        cm_gone_settle(g, "dc", "PLAT/billing", path, T0 + DAY, DAY, NULL, NULL, err, sizeof(err)),
        0);
    ck_assert_ptr_nonnull(strstr(err, "a sync of it is running"));
    ck_assert(exists(path));
    close(fd);
    ck_assert_int_eq(cm_gone_remove(path, "dc", "PLAT/billing", err, sizeof(err)), CM_OK);
    ck_assert(!exists(path));
    /* A mirror alone under its project: the emptied directories go too. */
    ck_assert_int_eq(ms_sh("rm -rf '%s'", other), 0);
    ck_assert_int_eq(cm_mirror_path(other, sizeof(other), tdir, "dc", "SOLO/x"), CM_OK);
    ck_assert_int_eq(ms_sh("git init -q --bare '%s'", other), 0);
    ck_assert_int_eq(cm_gone_missing(g, "dc", other, T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(cm_gone_remove(other, "dc", "SOLO/x", err, sizeof(err)), CM_OK);
    ck_assert_int_eq(ms_sh("test ! -e '%s/mirrors/dc/SOLO'", tdir), 0);
}
END_TEST

static int refuse(void *arg, const char *endpoint, const char *repository)
{
    int *calls = arg;
    (*calls)++;
    ck_assert_str_eq(endpoint, "dc");
    ck_assert_str_eq(repository, "PLAT/billing");
    return CM_EAGAIN;
}

static int accept(void *arg, const char *endpoint, const char *repository)
{
    (void)endpoint;
    (void)repository;
    (*(int *)arg)++;
    return CM_OK;
}

/* In a cluster the other nodes are told before the mirror goes: when that fails (the
 * database away), the mirror stays and the next check tells them again. */
START_TEST(test_record_first)
{
    char why[512], err[1024] = "not found";
    int calls = 0;

    cm_gone_answered(g, "dc", other, T0 + 10);
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(cm_gone_settle(g, "dc", "PLAT/billing", path, T0 + DAY, DAY, refuse, &calls,
                                    err, sizeof(err)),
                     0);
    ck_assert_int_eq(calls, 1);
    ck_assert_ptr_nonnull(strstr(err, "the other nodes could not be told"));
    ck_assert(exists(path));
    calls = 0;
    snprintf(err, sizeof(err), "not found");
    ck_assert_int_eq(cm_gone_settle(g, "dc", "PLAT/billing", path, T0 + DAY + 5, DAY, accept,
                                    &calls, err, sizeof(err)),
                     1);
    ck_assert_int_eq(calls, 1);
    ck_assert(!exists(path));
}
END_TEST

/* A sync that succeeds between the check that found the repository gone and the removal (the
 * reconciler's ls-remote is not under the mirror's lock; the repository was restored at the
 * host) dropped the record: the removal must not go ahead on the stale verdict. */
START_TEST(test_answered_meanwhile)
{
    char why[512], err[1024];

    cm_gone_answered(g, "dc", other, T0 + 10);
    ck_assert_int_eq(missing(T0, DAY, why, sizeof(why)), CM_OK);
    ck_assert_int_eq(missing(T0 + DAY, DAY, why, sizeof(why)), CM_ENOENT);
    cm_gone_answered(g, "dc", path, T0 + DAY); /* the sync's fetch worked */
    ck_assert_int_ne(cm_gone_remove(path, "dc", "PLAT/billing", err, sizeof(err)), CM_OK);
    ck_assert_ptr_nonnull(strstr(err, "answered"));
    ck_assert(exists(path));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gone");
    TCase *tc = tcase_create("gone");
    SRunner *sr;
    int failed;

    if (system("git --version >/dev/null 2>&1") != 0) {
        printf("SKIP: git is not installed\n");
        return 77;
    }
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_deleted);
    tcase_add_test(tc, test_lost_credentials);
    tcase_add_test(tc, test_back);
    tcase_add_test(tc, test_never);
    tcase_add_test(tc, test_no_mirror);
    tcase_add_test(tc, test_tampered);
    tcase_add_test(tc, test_busy);
    tcase_add_test(tc, test_record_first);
    tcase_add_test(tc, test_answered_meanwhile);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
