/* SPDX-License-Identifier: MIT */
/*
 * The published commits zip requests look up (plugins/composer/published.c): what a state
 * file publishes, never stale after the file is replaced, at most four files kept, and, the
 * point of it, an unchanged file is not read again however many commits a client names.
 */
#define _GNU_SOURCE
#include "published.h"

#include <cargoman/plugin.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static struct cmc_published *c;

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define S1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define S2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cm-published-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(cmc_published_new(&c), CM_OK);
}

static void teardown(void)
{
    char cmd[512];
    cmc_published_free(c);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Write rel as a state file of pkg with the shasums given as "commit=sha" pairs, replacing
 * it by rename as the plugin does. */
static void write_state(const char *rel, const char *pkg, const char *pairs)
{
    char path[512], tmp[520], body[4096];
    int n = snprintf(body, sizeof(body),
                     "{\"package\": \"%s\", \"endpoint\": \"gh\", \"repository\": \"acme/foo\", "
                     "\"refs\": {}, \"shasums\": {%s}}",
                     pkg, pairs);
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(body, 1, (size_t)n, f), (size_t)n);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static int lookup(const char *rel, const char *pkg, const char *commit,
                  struct cmc_published_hit *hit)
{
    return cmc_published_lookup(c, tmpdir, rel, pkg, commit, hit);
}

START_TEST(test_answers)
{
    struct cmc_published_hit hit;

    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_ENOENT); /* no file */
    write_state("foo.json", "acme/foo", "\"" C1 "\": \"" S1 "\"");
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_OK);
    ck_assert_str_eq(hit.shasum, S1);
    ck_assert_str_eq(hit.package, "acme/foo");
    ck_assert_str_eq(hit.endpoint, "gh");
    ck_assert_str_eq(hit.repository, "acme/foo");
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_ENOENT); /* not published */
    ck_assert_int_eq(lookup("foo.json", "acme/bar", C1, &hit), CM_ENOENT); /* not its package */
    /* A new version: the file is replaced, and its commit is found at once. */
    write_state("foo.json", "acme/foo", "\"" C1 "\": \"" S1 "\", \"" C2 "\": \"" S2 "\"");
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_OK);
    ck_assert_str_eq(hit.shasum, S2);
    /* The package renamed: its old name publishes nothing from here. */
    write_state("foo.json", "acme/renamed", "\"" C1 "\": \"" S1 "\"");
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_ENOENT);
    /* Garbage, a short shasum, a directory: no answer, no crash. */
    write_state("foo.json", "acme/foo", "\"" C1 "\": \"abc\"");
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_ENOENT);
    char path[512];
    snprintf(path, sizeof(path), "%s/foo.json", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_ENOENT);
    snprintf(path, sizeof(path), "%s/dir.json", tmpdir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(lookup("dir.json", "acme/foo", C1, &hit), CM_ENOENT);
}
END_TEST

/* Set path's times to ago seconds before now: a file written earlier, not just now. */
static void backdate(const char *path, long ago)
{
    struct timespec times[2];

    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= ago;
    times[1] = times[0];
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* Overwrite commit from with to (the same length) in path, in place, and put back its times:
 * a change stat cannot see. */
static void swap_in_place(const char *path, const char *from, const char *to)
{
    struct stat sb;
    struct timespec times[2];
    char buf[4096];

    ck_assert_int_eq(stat(path, &sb), 0);
    FILE *f = fopen(path, "r+");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    char *at = strstr(buf, from);
    ck_assert_ptr_nonnull(at);
    memcpy(at, to, 40);
    rewind(f);
    ck_assert_int_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    times[0] = sb.st_atim;
    times[1] = sb.st_mtim;
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* The cost an unpublished commit may impose: a stat, not a read. The file (written a while
 * ago) is changed in place behind the cache's back with its size and times put back, so only
 * a re-read would see it. */
START_TEST(test_not_read_again)
{
    struct cmc_published_hit hit;
    char path[512];

    write_state("foo.json", "acme/foo", "\"" C1 "\": \"" S1 "\"");
    snprintf(path, sizeof(path), "%s/foo.json", tmpdir);
    backdate(path, 10);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_ENOENT);
    swap_in_place(path, C1, C2);
    for (int i = 0; i < 1000; i++) /* a client naming commits: none reads the file */
        ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_ENOENT);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_OK);
    /* Any real replacement is seen. */
    write_state("foo.json", "acme/foo", "\"" C2 "\": \"" S2 "\"");
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_OK);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_ENOENT);
}
END_TEST

/* More packages than kept: each still answers right, read again when evicted. */
/* The next state file renamed over a cached one within the same timestamp tick (a whole second
 * on ext4 with 128-byte inodes, a jiffy elsewhere), with the freed inode number reused and the
 * same size: stat sees the same identity. A commit published by it must not stay 404 until the
 * file changes again (nor one it unpublished stay served). Injected here as an in-place change
 * with the times put back, right after the write. */
START_TEST(test_same_tick)
{
    struct cmc_published_hit hit;
    char path[512];

    write_state("foo.json", "acme/foo", "\"" C1 "\": \"" S1 "\"");
    snprintf(path, sizeof(path), "%s/foo.json", tmpdir);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_ENOENT);
    swap_in_place(path, C1, C2);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C2, &hit), CM_OK);
    ck_assert_str_eq(hit.shasum, S1);
    ck_assert_int_eq(lookup("foo.json", "acme/foo", C1, &hit), CM_ENOENT);
}
END_TEST

START_TEST(test_many_files)
{
    struct cmc_published_hit hit;
    char rel[64], pkg[64];

    for (int i = 0; i < 9; i++) {
        snprintf(rel, sizeof(rel), "p%d.json", i);
        snprintf(pkg, sizeof(pkg), "acme/p%d", i);
        write_state(rel, pkg, i % 2 ? "\"" C1 "\": \"" S1 "\"" : "\"" C2 "\": \"" S2 "\"");
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 9; i++) {
            snprintf(rel, sizeof(rel), "p%d.json", i);
            snprintf(pkg, sizeof(pkg), "acme/p%d", i);
            ck_assert_int_eq(lookup(rel, pkg, i % 2 ? C1 : C2, &hit), CM_OK);
            ck_assert_str_eq(hit.shasum, i % 2 ? S1 : S2);
            ck_assert_int_eq(lookup(rel, pkg, i % 2 ? C2 : C1, &hit), CM_ENOENT);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("published");
    TCase *tc = tcase_create("published");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_answers);
    tcase_add_test(tc, test_not_read_again);
    tcase_add_test(tc, test_many_files);
    tcase_add_test(tc, test_same_tick);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
