/* SPDX-License-Identifier: MIT */
/*
 * The first mirror's packed-refs (mirror_refbatch.c) written to a disk that fills, for real: a
 * tmpfs mounted in a mount namespace of this program's own, filled with a file. The write fails
 * cleanly, a first mirror that cannot write its refs leaves nothing and succeeds once there is
 * room, and one is never published without its URL and repository id in its config. Needs root
 * (skips, 77, otherwise); `make check-faults` runs it.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mirror_servers.h"
#include "sync/mirror.h"
#include "sync/mirror_refbatch.h"
#include "util/fsutil.h"

/* Refs of the repository cm_refbatch_write gets: their packed-refs spans several pages. */
#define BATCH_REFS 400
/* Tags of the first mirror's source, on three commits: a packed-refs of about 280 KB beside a
 * pack of a few KB. */
#define MIRROR_TAGS 5000
/* Tags of the repository the identity sweep mirrors again and again: few, so each of its syncs
 * is quick (a packed-refs of two pages). */
#define SWEEP_TAGS 100
/* The repository id the sweep's mirrors record (cargoman.id). */
#define SWEEP_ID "4242"

static char tdir[256];   /* this test's temp dir; each test runs in its own process */
static char disk[300];   /* tdir/disk, where the tmpfs goes */
static char filler[320]; /* disk/filler */

static void setup(void)
{
    ck_assert_int_eq(ms_sandbox_enter(tdir, sizeof(tdir), "mfaults"), 0);
    snprintf(disk, sizeof(disk), "%s/disk", tdir);
    snprintf(filler, sizeof(filler), "%s/filler", disk);
    ck_assert_int_eq(mkdir(disk, 0755), 0);
}

static void teardown(void)
{
    umount2(disk, MNT_DETACH); /* when the test did not get to it; EINVAL otherwise */
    ms_sandbox_leave(tdir);
}

static void mount_disk(unsigned long long size)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%llu,mode=0755", size);
    ck_assert_msg(mount("tmpfs", disk, "tmpfs", MS_NOSUID | MS_NODEV, opts) == 0,
                  "cannot mount a tmpfs on %s: %s", disk, strerror(errno));
}

/* Unmounting also proves that nothing the code under test opened there is still open. */
static void umount_disk(void)
{
    ck_assert_msg(umount2(disk, 0) == 0, "cannot unmount %s: %s", disk, strerror(errno));
}

/* Bytes the tmpfs can still take (page by page: a file's last page counts whole). */
static unsigned long long disk_free(void)
{
    struct statvfs v;

    ck_assert_int_eq(statvfs(disk, &v), 0);
    return (unsigned long long)v.f_bavail * v.f_frsize;
}

/* Write zeros to the filler until the tmpfs has keep bytes left; with keep 0, until a write
 * fails with ENOSPC. */
static void fill(unsigned long long keep)
{
    static const char zeros[65536];
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    unsigned long long left = 0;
    ssize_t w = 1;

    ck_assert_int_ge(fd, 0);
    while (w > 0 && (keep == 0 || (left = disk_free()) > keep))
        w = write(fd, zeros, keep && left - keep < sizeof(zeros) ? left - keep : sizeof(zeros));
    ck_assert_msg(keep || (w < 0 && errno == ENOSPC), "the filler ended with %zd (%s)", w,
                  strerror(errno));
    ck_assert_int_eq(close(fd), 0);
    ck_assert_uint_eq(disk_free(), keep);
}

/* The whole of path into a malloc'd buffer (*len bytes). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    ck_assert_int_ge(n = ftell(f), 0);
    rewind(f);
    ck_assert_ptr_nonnull(buf = malloc((size_t)n + 1));
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 || errno != ENOENT;
}

/* git fast-import's commands for commits commits on main, each with a VERSION file, and tags
 * lightweight tags t<i> spread over them, piped into the bare repository at repo. */
static void make_repo(const char *repo, int commits, int tags)
{
    ck_assert_int_eq(
        ms_sh("git init -q --bare -b main '%s' && "
              "awk 'BEGIN { for (i = 1; i <= %d; i++) {"
              " printf \"commit refs/heads/main\\nmark :%%d\\n\", i;"
              " printf \"committer t <t@example.com> %%d +0000\\ndata 2\\nc\\n\", 1700000000 + i;"
              " printf \"M 644 inline VERSION\\ndata %%d\\n%%d\\n\", length(i \"\"), i }"
              " for (i = 1; i <= %d; i++)"
              "  printf \"reset refs/tags/t%%05d\\nfrom :%%d\\n\\n\", i, 1 + i %% %d"
              " }' | git -C '%s' fast-import --quiet && git -C '%s' pack-refs --all",
              repo, commits, tags, commits, repo, repo),
        0);
}

/* A batch with every tag of repo moved to main's commit (so its packed-refs differs from the
 * one git wrote), and main itself. */
static struct cm_refbatch *batch_of(git_repository *repo)
{
    struct cm_refbatch *b = NULL;
    git_reference_iterator *it = NULL;
    git_reference *ref;
    git_oid main_id;

    ck_assert_int_eq(cm_refbatch_new(&b), 0);
    ck_assert_int_eq(git_reference_name_to_id(&main_id, repo, "refs/heads/main"), 0);
    ck_assert_int_eq(cm_refbatch_set(b, "refs/heads/main", &main_id), 0);
    ck_assert_int_eq(git_reference_iterator_glob_new(&it, repo, "refs/tags/*"), 0);
    while (git_reference_next(&ref, it) == 0) {
        ck_assert_int_eq(cm_refbatch_set(b, git_reference_name(ref), &main_id), 0);
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
    return b;
}

/* cm_refbatch_write on a full disk (_i 0) and on one with room for the start of the file
 * (_i 1): an error, libgit2's message naming the cause, no lock left, the old packed-refs as
 * it was; with the filler gone the same batch is written. */
START_TEST(test_refbatch_write_disk_full)
{
    char repo_path[400], packed[450], lock[460];
    struct cm_refbatch *b;
    git_repository *repo = NULL;
    const git_error *e;
    char *before, *after;
    size_t before_len, after_len;
    int rc;

    mount_disk(4u << 20);
    snprintf(repo_path, sizeof(repo_path), "%s/repo.git", disk);
    snprintf(packed, sizeof(packed), "%s/packed-refs", repo_path);
    snprintf(lock, sizeof(lock), "%s.lock", packed);
    make_repo(repo_path, BATCH_REFS, BATCH_REFS);
    before = slurp(packed, &before_len);
    ck_assert_uint_gt(before_len, 3 * 4096); /* more than stdio buffers and one page */
    ck_assert_int_eq(git_repository_open_bare(&repo, repo_path), 0);
    b = batch_of(repo);

    fill(_i ? 2 * 4096 : 0);
    rc = cm_refbatch_write(b, repo);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(e = git_error_last());
    ck_assert_msg(strstr(e->message, strerror(ENOSPC)) && strstr(e->message, "packed-refs.lock"),
                  "%s", e->message);
    ck_assert_msg(!exists(lock), "%s was left behind", lock);
    after = slurp(packed, &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(after, before, before_len), 0);
    free(after);

    /* The disk was the only trouble. */
    ck_assert_int_eq(unlink(filler), 0);
    ck_assert_msg(cm_refbatch_write(b, repo) == 0, "%s", git_error_last()->message);
    ck_assert_int_eq(ms_sh("test \"$(git -C '%s' for-each-ref --format='%%(objectname)' | "
                           "sort -u | wc -l)\" = 1",
                           repo_path),
                     0);
    ck_assert_msg(!exists(lock), "%s was left behind", lock);
    cm_refbatch_free(b);
    git_repository_free(repo);
    free(before);
    umount_disk();
}
END_TEST

/* Every ref with its target and HEAD of the repository at path, into tdir/file. */
static void for_each_ref(const char *path, const char *file)
{
    ck_assert_int_eq(ms_sh("git -C '%s' for-each-ref --format='%%(refname) %%(objectname)' "
                           ">'%s/%s' && git -C '%s' symbolic-ref HEAD >>'%s/%s'",
                           path, tdir, file, path, tdir, file),
                     0);
}

/* A first mirror of url at disk/<dir>/mirrors/ep/acme/tags.git (into path, 512 bytes), of the
 * repository whose id is id (or NULL): its sync's status, err set when it failed. */
static int first_mirror(struct cm_mirror **m, const char *url, const char *dir, const char *id,
                        char *path, char *err, size_t errlen)
{
    struct cm_mirror_auth auth = {0};

    snprintf(path, 512, "%s/%s/mirrors/ep/acme/tags.git", disk, dir);
    ck_assert_int_eq(cm_mirror_open(m, path, url, "ep", "acme/tags"), CM_OK);
    ck_assert_int_eq(cm_mirror_set_id(*m, id), CM_OK);
    return cm_mirror_sync(*m, &auth, err, errlen);
}

/* The daemon's sync of a first mirror on a disk with room for its pack but not its
 * packed-refs: an error worth retrying, nothing at the mirror's path nor beside it, and once
 * the filler is gone the next sync makes the mirror git would. The room is measured: a first
 * mirror made on the empty disk gives what the whole takes and what its packed-refs takes. */
START_TEST(test_first_mirror_disk_full)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    char url[600], src[400], path[512], tmp[530], err[512];
    unsigned long long empty, used, refs;
    struct stat st;
    int rc;

    mount_disk(16u << 20);
    snprintf(src, sizeof(src), "%s/srv/repo.git", tdir);
    make_repo(src, 3, MIRROR_TAGS);
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);

    empty = disk_free();
    rc = first_mirror(&m, url, "probe", NULL, path, err, sizeof(err));
    ck_assert_msg(rc == CM_OK, "%s", err);
    used = empty - disk_free();
    snprintf(tmp, sizeof(tmp), "%s/packed-refs", path);
    ck_assert_int_eq(stat(tmp, &st), 0);
    refs = (unsigned long long)st.st_blocks * 512;
    ck_assert_uint_gt(refs, 64 * 1024);
    ck_assert_uint_gt(used, refs);
    cm_mirror_free(m);
    snprintf(tmp, sizeof(tmp), "%s/probe", disk);
    ck_assert_int_eq(cm_fs_rm_rf(tmp), 0);
    ck_assert_uint_eq(disk_free(), empty);

    /* Room for all but the packed-refs, with half of that to spare for what a sync writes for
     * a moment (HEAD and config through their locks). */
    fill((used - refs / 2) / 4096 * 4096);
    rc = first_mirror(&m, url, "data", NULL, path, err, sizeof(err));
    ck_assert_msg(rc == CM_EAGAIN, "sync on a full disk: %d (%s)", rc, err);
    ck_assert_msg(strstr(err, "packed-refs.lock") && strstr(err, strerror(ENOSPC)), "%s", err);
    ck_assert_msg(!exists(path), "a half mirror is at %s", path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert_msg(!exists(tmp), "%s was left behind", tmp);
    ck_assert_int_eq(ms_sh("test -z \"$(find '%s/data' -type f)\"", disk), 0);

    ck_assert_int_eq(unlink(filler), 0);
    cm_mirror_free(m);
    rc = first_mirror(&m, url, "data", NULL, path, err, sizeof(err));
    ck_assert_msg(rc == CM_OK, "sync with room again: %s", err);
    for_each_ref(path, "ours");
    for_each_ref(src, "server");
    ck_assert_int_eq(ms_sh("cmp -s '%s/ours' '%s/server'", tdir, tdir), 0);
    ck_assert_int_eq(ms_sh("test $(wc -l <'%s/ours') = %d", tdir, MIRROR_TAGS + 1 + 1), 0);
    ck_assert_int_eq(ms_sh("git -C '%s' fsck --no-progress 2>/dev/null", path), 0);
    cm_mirror_free(m);
    ms_stop(&srv);
    umount_disk();
}
END_TEST

/* A first mirror is either not published at all or published with its identity: the URL that
 * reconcile and resync fetch from, and the id renames are followed by. The free space is swept
 * page by page from well inside what the mirror needs (its pack, refs or config do not fit) to
 * a page beyond it, so some sync runs out exactly while it records them in the config. */
START_TEST(test_first_mirror_identity_sweep)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    char url[600], src[400], path[512], tmp[530], err[512];
    unsigned long long empty, used, keep;
    int rc, failed = 0, synced = 0;

    mount_disk(2u << 20);
    snprintf(src, sizeof(src), "%s/srv/repo.git", tdir);
    make_repo(src, 3, SWEEP_TAGS);
    for_each_ref(src, "server");
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);

    empty = disk_free();
    rc = first_mirror(&m, url, "probe", SWEEP_ID, path, err, sizeof(err));
    ck_assert_msg(rc == CM_OK, "%s", err);
    used = empty - disk_free();
    ck_assert_uint_gt(used, 8 * 4096);
    cm_mirror_free(m);
    snprintf(tmp, sizeof(tmp), "%s/probe", disk);
    ck_assert_int_eq(cm_fs_rm_rf(tmp), 0);
    ck_assert_uint_eq(disk_free(), empty);

    for (keep = used - 8 * 4096; keep <= used + 4096; keep += 4096) {
        fill(keep);
        rc = first_mirror(&m, url, "data", SWEEP_ID, path, err, sizeof(err));
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (rc != CM_OK) {
            failed++;
            /* A full disk is never the push's fault: retried, not given up. */
            ck_assert_msg(rc == CM_EAGAIN,
                          "%llu bytes free: the sync failed with %d, not CM_EAGAIN "
                          "(%s)",
                          keep, rc, err);
            ck_assert_msg(!exists(path), "%llu bytes free: %s failed (%s) but is there", keep, path,
                          err);
            ck_assert_msg(!exists(tmp), "%llu bytes free: %s was left behind", keep, tmp);
            ck_assert_int_eq(ms_sh("test -z \"$(find '%s/data' -type f 2>/dev/null)\"", disk), 0);
        } else {
            synced++;
            ck_assert_msg(
                !ms_sh("test \"$(git config --file '%s/config' cargoman.url)\" = '%s'", path, url),
                "%llu bytes free: the mirror was published without cargoman.url", keep);
            ck_assert_msg(!ms_sh("test \"$(git config --file '%s/config' cargoman.id)\" = %s", path,
                                 SWEEP_ID),
                          "%llu bytes free: the mirror was published without cargoman.id", keep);
            for_each_ref(path, "ours");
            ck_assert_msg(!ms_sh("cmp -s '%s/ours' '%s/server'", tdir, tdir),
                          "%llu bytes free: the mirror's refs are not the server's", keep);
            ck_assert_msg(!exists(tmp), "%llu bytes free: %s was left behind", keep, tmp);
        }
        cm_mirror_free(m);
        snprintf(tmp, sizeof(tmp), "%s/data", disk);
        ck_assert_int_eq(cm_fs_rm_rf(tmp), 0);
        ck_assert_int_eq(unlink(filler), 0);
        ck_assert_uint_eq(disk_free(), empty);
    }
    /* The sweep spans both sides of what the mirror needs. */
    ck_assert_int_gt(failed, 0);
    ck_assert_int_gt(synced, 0);
    ms_stop(&srv);
    umount_disk();
}
END_TEST

/* Root, a mount namespace of our own, and a tmpfs mounted in it: 0, else why not on stdout. */
static int can_mount(void)
{
    char dir[] = "/tmp/cm-mfaults-probe-XXXXXX";
    int ok;

    if (geteuid() != 0) {
        printf("SKIP: needs root to mount a tmpfs (make check-faults, as root)\n");
        return -1;
    }
    /* Private, so our mounts never reach the rest of the system, and they go with the last
     * process of this program however it ends. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("SKIP: cannot make a private mount namespace: %s\n", strerror(errno));
        return -1;
    }
    if (!mkdtemp(dir)) {
        printf("SKIP: cannot make %s: %s\n", dir, strerror(errno));
        return -1;
    }
    ok = mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0;
    if (!ok)
        printf("SKIP: cannot mount a tmpfs here: %s\n", strerror(errno));
    if (ok)
        umount2(dir, 0);
    rmdir(dir);
    return ok ? 0 : -1;
}

int main(void)
{
    Suite *s = suite_create("mirror_faults");
    SRunner *sr;
    TCase *tc;
    int failed;

    if (!ms_have("git")) {
        printf("SKIP: git is not installed (Debian: apt-get install git)\n");
        return 77;
    }
    if (can_mount() != 0)
        return 77;
    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
    tc = tcase_create("disk_full");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_refbatch_write_disk_full, 0, 2);
    tcase_add_test(tc, test_first_mirror_disk_full);
    suite_add_tcase(s, tc);
    tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_first_mirror_identity_sweep);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
