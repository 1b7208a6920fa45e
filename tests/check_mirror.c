/* SPDX-License-Identifier: MIT */
/*
 * Mirrors against real servers on 127.0.0.1: git daemon (clone, fetch, prune, HEAD), lighttpd
 * with git http-backend behind basic auth over HTTP and over HTTPS with a private CA, a
 * private sshd with known_hosts checks; zips, notes, and syncs killed with SIGKILL halfway.
 * Missing tools skip their cases (exit 77).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mirror_servers.h"
#include "sync/known_hosts.h"
#include "sync/mirror.h"
#include "sync/mirror_url.h"
#include "util/crypto.h"
#include "util/fsutil.h"
#include "util/url.h"

/* Under -fsanitize=address: libgit2 1.5.1's SSH transport leaks a few bytes per connection
 * (its known_hosts path, libssh2's host list and auth list); nothing of ours is allocated
 * under these frames. Only LeakSanitizer calls this. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libssh2_knownhost_init\nleak:libssh2_userauth_list\n"
           "leak:git_remote_connect_ext\n";
}

/* Those libraries have no frame pointers: full unwinding lets the suppressions see the frames. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static char tdir[256]; /* this test's temp dir; each test runs in its own process */

static void setup(void)
{
    ck_assert_int_eq(ms_sandbox_enter(tdir, sizeof(tdir), "mirror"), 0);
}

static void teardown(void)
{
    ms_sandbox_leave(tdir);
}

/* srv/repo.git: main and dev at one commit (composer.json, src/A.php, executable bin/run, a
 * symlink, a non-ASCII name), annotated tag v1; work/ is the clone to push more from. */
static void make_source(void)
{
    ck_assert_int_eq(
        ms_sh("cd '%s' && git init -q --bare -b main srv/repo.git && git init -q -b main work && "
              "cd work && printf '{\"name\": \"acme/lib\"}\\n' > composer.json && "
              "mkdir src bin && echo '<?php' > src/A.php && printf '#!/bin/sh\\n' > bin/run && "
              "chmod +x bin/run && ln -s composer.json link && echo hi > 'na\303\257ve.txt' && "
              "git add -A && git commit -q -m one && git branch dev && "
              "git tag -a v1 -m 'version 1' && git remote add origin ../srv/repo.git && "
              "git push -q origin main dev v1",
              tdir),
        0);
}

static void rev(char *out, const char *spec)
{
    ck_assert_int_eq(ms_capture(out, 64, "git -C '%s/srv/repo.git' rev-parse '%s'", tdir, spec), 0);
}

/* Where the tests keep the mirror of name: tdir/mirrors/ep/<name>.git. */
static const char *mirror_path(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/mirrors/ep/%s.git", tdir, name);
    return out;
}

/* Open the mirror of name (see mirror_path) fetched from url and sync it; returns the rc. */
static int sync_new(struct cm_mirror **m, const char *name, const char *url,
                    const struct cm_mirror_auth *auth, char *err, size_t errlen)
{
    char path[512];

    ck_assert_int_eq(cm_mirror_open(m, mirror_path(path, sizeof(path), name), url, "ep", name),
                     CM_OK);
    return cm_mirror_sync(*m, auth, err, errlen);
}

static int mirror_exists(const char *name)
{
    char path[512];

    return access(mirror_path(path, sizeof(path), name), F_OK) == 0;
}

/* Text the callbacks below collect, one formatted piece after the other. */
struct refs {
    char buf[2048];
};

static void append(struct refs *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(struct refs *r, const char *fmt, ...)
{
    size_t n = strlen(r->buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->buf + n, sizeof(r->buf) - n, fmt, ap);
    va_end(ap);
}

static int collect_ref(void *arg, const char *ref, const char *id)
{
    append(arg, "%s=%s\n", ref, id);
    return 0;
}

struct data {
    char buf[256];
    size_t len;
};

static int collect_data(void *arg, const void *p, size_t len)
{
    struct data *d = arg;

    d->len = len < sizeof(d->buf) - 1 ? len : sizeof(d->buf) - 1;
    memcpy(d->buf, p, d->len);
    d->buf[d->len] = '\0';
    return 0;
}

START_TEST(test_daemon_sync)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    char url[600], err[512], main1[64], main2[64], tag1[64], tag1c[64], want[1024];
    struct refs refs = {""};
    struct data d = {"", 0};

    make_source();
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_msg(sync_new(&m, "acme/lib", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_IS_NEW), "true");
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), "main");
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_URL), url);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_REPOSITORY), "acme/lib");

    rev(main1, "main");
    rev(tag1, "v1");
    rev(tag1c, "v1^{commit}");
    ck_assert_str_ne(tag1, tag1c);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1", tag1), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1", tag1c), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1", "0123456789abcdef0123456789abcdef0123"),
                     0);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", NULL), 0);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/nope", NULL), 1);
    ck_assert_int_eq(cm_mirror_refs(m, collect_ref, &refs), 0);
    snprintf(want, sizeof(want), "refs/heads/dev=%s\nrefs/heads/main=%s\nrefs/tags/v1=%s\n", main1,
             main1, tag1c);
    ck_assert_str_eq(refs.buf, want);

    ck_assert_int_eq(cm_mirror_read(m, main1, "composer.json", collect_data, &d), CM_OK);
    ck_assert_str_eq(d.buf, "{\"name\": \"acme/lib\"}\n");
    ck_assert_int_eq(cm_mirror_read(m, tag1, "/src/A.php", collect_data, &d), CM_OK);
    ck_assert_str_eq(d.buf, "<?php\n");
    ck_assert_int_eq(cm_mirror_read(m, main1, "missing.json", collect_data, &d), CM_ENOENT);
    ck_assert_int_eq(cm_mirror_read(m, main1, "src", collect_data, &d), CM_ENOENT);
    ck_assert_int_eq(cm_mirror_read(m, "0123456789012345678901234567890123456789", "composer.json",
                                    collect_data, &d),
                     CM_ENOENT);
    ck_assert_int_eq(cm_mirror_read(m, "not-an-id", "composer.json", collect_data, &d), CM_EINVAL);
    cm_mirror_free(m);

    /* A new commit and tag, a deleted branch, and the remote's HEAD moved to a new branch. */
    ck_assert_int_eq(ms_sh("cd '%s/work' && echo 2 > two && git add two && git commit -q -m two && "
                           "git tag v2 && git push -q '%s' main v2 main:trunk :dev && "
                           "git -C ../srv/repo.git symbolic-ref HEAD refs/heads/trunk",
                           tdir, url),
                     0);
    rev(main2, "main");
    ck_assert_msg(sync_new(&m, "acme/lib", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_IS_NEW), "false");
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), "trunk");
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/dev", NULL), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main2), 1);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v2", main2), 1);
    ck_assert_int_eq(cm_mirror_read(m, main2, "two", collect_data, &d), CM_OK);
    refs.buf[0] = '\0';
    ck_assert_int_eq(cm_mirror_refs(m, collect_ref, &refs), 0);
    snprintf(want, sizeof(want),
             "refs/heads/main=%s\nrefs/heads/trunk=%s\nrefs/tags/v1=%s\n"
             "refs/tags/v2=%s\n",
             main2, main2, tag1c, main2);
    ck_assert_str_eq(refs.buf, want);

    /* Tags deleted upstream go too. */
    ck_assert_int_eq(ms_sh("git -C '%s/work' push -q '%s' :v1", tdir, url), 0);
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/tags/v1", NULL), 1);
    cm_mirror_free(m);
    ms_stop(&srv);

    /* A server that went away is worth retrying, and says which URL failed. */
    ck_assert_int_eq(sync_new(&m, "acme/lib", url, &auth, err, sizeof(err)), CM_EAGAIN);
    ck_assert_ptr_nonnull(strstr(err, url));
    cm_mirror_free(m);
}
END_TEST

static void zip_list(char *out, size_t outlen, const char *zip)
{
    char list[600];
    FILE *f;
    size_t n;

    snprintf(list, sizeof(list), "%s/list", tdir);
    ck_assert_int_eq(ms_sh("unzip -Z1 '%s' > '%s'", zip, list), 0);
    ck_assert_ptr_nonnull(f = fopen(list, "r"));
    n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
}

START_TEST(test_zip)
{
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    struct ms_server srv;
    char url[600], err[512], main1[64], a[600], b[600], list[1024];

    make_source();
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_msg(sync_new(&m, "acme/lib", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    rev(main1, "main");
    snprintf(a, sizeof(a), "%s/dist/a.zip", tdir);
    snprintf(b, sizeof(b), "%s/dist/b.zip", tdir);
    snprintf(list, sizeof(list), "%s/dist", tdir);
    ck_assert_int_eq(mkdir(list, 0755), 0);

    ck_assert_int_eq(cm_mirror_archive(m, main1, "acme-lib-1", a), CM_OK);
    zip_list(list, sizeof(list), a);
    ck_assert_str_eq(list, "acme-lib-1/bin/run\nacme-lib-1/composer.json\nacme-lib-1/link\n"
                           "acme-lib-1/na\303\257ve.txt\nacme-lib-1/src/A.php\n");
    ck_assert_int_eq(ms_sh("unzip -Z '%s' | grep -q -- '-rwxr-xr-x.*bin/run'", a), 0);
    ck_assert_int_eq(ms_sh("cd '%s' && unzip -q dist/a.zip -d x && test -L x/acme-lib-1/link && "
                           "cmp -s x/acme-lib-1/composer.json work/composer.json",
                           tdir),
                     0);

    /* Same commit, same bytes: also in another time zone and from an abbreviated id. */
    setenv("TZ", "Asia/Tokyo", 1);
    tzset();
    main1[12] = '\0';
    ck_assert_int_eq(cm_mirror_archive(m, main1, "acme-lib-1/", b), CM_OK);
    ck_assert_int_eq(ms_sh("cmp -s '%s' '%s'", a, b), 0);
    ck_assert_int_eq(cm_mirror_archive(m, "v1", NULL, b), CM_EINVAL);
    rev(main1, "v1");
    ck_assert_int_eq(cm_mirror_archive(m, main1, NULL, b), CM_OK);
    zip_list(list, sizeof(list), b);
    ck_assert_str_eq(list, "bin/run\ncomposer.json\nlink\nna\303\257ve.txt\nsrc/A.php\n");

    /* Nothing half-written is ever visible: no temp files stay behind, failures leave no file. */
    ck_assert_int_eq(cm_mirror_archive(m, "0123456789abcdef0123456789abcdef01234567", NULL, a),
                     CM_ENOENT);
    snprintf(a, sizeof(a), "%s/no-such-dir/c.zip", tdir);
    ck_assert_int_eq(cm_mirror_archive(m, main1, NULL, a), CM_ERROR);
    ck_assert_int_eq(ms_sh("test \"$(ls '%s/dist')\" = \"$(printf 'a.zip\\nb.zip')\"", tdir), 0);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* Each gateway of a cluster keeps its own mirror and builds its own zips (issue 12): a node
 * that fetched a commit among many others, in several packs, and one that cloned it all at
 * once in one pack, with the big file a delta on one and whole on the other, publish the same
 * bytes, so every node's shasum is the same. */
START_TEST(test_archive_same_on_every_node)
{
    struct cm_mirror *early = NULL, *late = NULL;
    struct cm_mirror_auth auth = {0};
    struct ms_server srv;
    char url[600], err[512], commit[64], a[600], b[600];

    make_source();
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    /* The early node mirrors the first commit, then fetches each of the ones that follow. */
    ck_assert_msg(sync_new(&early, "node1/lib", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ms_sh("cd '%s/work' && seq 1 %d > src/big.txt && echo %d >> src/A.php && "
                               "git add -A && git commit -q -m c%d && git push -q origin main",
                               tdir, 20000 + i, i, i),
                         0);
        ck_assert_msg(cm_mirror_sync(early, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    }
    ck_assert_int_eq(ms_sh("git -C '%s/srv/repo.git' repack -q -a -d -f", tdir), 0);
    /* The late node clones once, at the end: one pack, deltas chosen by the server's repack. */
    ck_assert_msg(sync_new(&late, "node2/lib", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    rev(commit, "main~1");
    snprintf(a, sizeof(a), "%s/a.zip", tdir);
    snprintf(b, sizeof(b), "%s/b.zip", tdir);
    ck_assert_int_eq(cm_mirror_archive(early, commit, "acme-lib", a), CM_OK);
    ck_assert_int_eq(cm_mirror_archive(late, commit, "acme-lib", b), CM_OK);
    ck_assert_int_eq(ms_sh("cmp -s '%s' '%s'", a, b), 0);
    ck_assert_int_eq(ms_sh("test \"$(sha1sum < '%s')\" = \"$(sha1sum < '%s')\"", a, b), 0);
    cm_mirror_free(early);
    cm_mirror_free(late);
    ms_stop(&srv);
}
END_TEST

static int collect_note(void *arg, const char *ref, const char *msg)
{
    append(arg, "%s:%s|", ref, msg);
    return 0;
}

/* A blob over git.max_blob_size is refused from its object header, before it is loaded: read
 * and archive answer CM_EINVAL, no zip (or temp file) is left, and the refs at that commit get
 * a note naming the file and its size. The second big blob is a delta in the mirror's pack, so
 * its size comes from the delta's header. */
START_TEST(test_blob_cap)
{
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    struct refs notes = {""};
    struct ms_server srv;
    struct data d = {"untouched", 0};
    char url[600], err[512], big1[64], big2[64], v1[64], a[600];

    make_source();
    ck_assert_int_eq(ms_sh("cd '%s/work' && mkdir data && head -c 5000 /dev/urandom > data/b.bin "
                           "&& git add -A && git commit -q -m big && git tag big1 && "
                           "head -c 1000 /dev/urandom >> data/b.bin && git commit -qam bigger && "
                           "git push -q origin main big1 && "
                           "git -C ../srv/repo.git repack -q -a -d -f --depth=5",
                           tdir),
                     0);
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_msg(sync_new(&m, "big", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    rev(big1, "big1");
    rev(big2, "main");
    rev(v1, "v1");
    snprintf(a, sizeof(a), "%s/dist", tdir);
    ck_assert_int_eq(mkdir(a, 0755), 0);
    snprintf(a, sizeof(a), "%s/dist/a.zip", tdir);
    cm_mirror_set_max_blob(m, 4096);

    ck_assert_int_eq(cm_mirror_read(m, big2, "data/b.bin", collect_data, &d), CM_EINVAL);
    ck_assert_str_eq(d.buf, "untouched");
    ck_assert_int_eq(cm_mirror_read(m, big2, "composer.json", collect_data, &d), CM_OK);
    ck_assert_int_eq(cm_mirror_archive(m, big1, NULL, a), CM_EINVAL);
    ck_assert_int_eq(cm_mirror_archive(m, big2, "pkg", a), CM_EINVAL);
    ck_assert_int_eq(ms_sh("test -z \"$(ls -A '%s/dist')\"", tdir), 0);
    ck_assert_int_eq(cm_mirror_notes(m, collect_note, &notes), 0);
    ck_assert_str_eq(notes.buf, "refs/heads/main:dist archive skipped: data/b.bin is 6000 bytes, "
                                "over git.max_blob_size (4096): remove the file or raise the "
                                "limit|refs/tags/big1:dist archive skipped: data/b.bin is 5000 "
                                "bytes, over git.max_blob_size (4096): remove the file or raise "
                                "the limit|");

    /* Other commits are unaffected, and at the default limit the big one zips. */
    ck_assert_int_eq(cm_mirror_archive(m, v1, NULL, a), CM_OK);
    cm_mirror_set_max_blob(m, 0);
    ck_assert_int_eq(cm_mirror_archive(m, big2, NULL, a), CM_OK);
    ck_assert_int_eq(cm_mirror_read(m, big2, "data/b.bin", collect_data, &d), CM_OK);
    ck_assert_int_eq(d.len, sizeof(d.buf) - 1);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

START_TEST(test_http_auth)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth good = {.user = "alice", .token = "s3cret-Token"};
    struct cm_mirror_auth bad = {.user = "alice", .token = "wrong-Token-42"};
    struct cm_mirror_auth none = {0};
    char url[600], err[512], main1[64];

    make_source();
    ck_assert_int_eq(ms_lighttpd(&srv, tdir, "alice", "s3cret-Token"), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);

    ck_assert_int_eq(sync_new(&m, "bad", url, &bad, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "authentication failed") && strstr(err, url), "%s", err);
    ck_assert_msg(!strstr(err, "wrong-Token-42"), "%s", err);
    ck_assert_int_eq(mirror_exists("bad"), 0);
    cm_mirror_free(m);

    ck_assert_int_eq(sync_new(&m, "none", url, &none, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "authentication required"), "%s", err);
    cm_mirror_free(m);

    /* A password in the URL is not shown by mirror_get nor in errors. */
    snprintf(url, sizeof(url), "http://alice:wrong-Pass-7@127.0.0.1:%d/git/repo.git", srv.port);
    ck_assert_int_ne(sync_new(&m, "inurl", url, &bad, err, sizeof(err)), CM_OK);
    ck_assert_msg(!strstr(err, "wrong-Pass-7") && !strstr(err, "wrong-Token-42"), "%s", err);
    ck_assert_ptr_null(strstr(cm_mirror_get(m, CM_MIRROR_URL), "wrong-Pass-7"));
    cm_mirror_free(m);

    snprintf(url, sizeof(url), "%smissing.git", srv.url);
    ck_assert_int_eq(sync_new(&m, "missing", url, &good, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "repository not found") && !strstr(err, "s3cret"), "%s", err);
    cm_mirror_free(m);

    /* A first clone the host has no repository for says so, and leaves nothing behind: no
     * lock file, no directory made for the name. One that failed otherwise is not "missing". */
    char left[700];
    snprintf(url, sizeof(url), "%snested/gone.git", srv.url);
    ck_assert_int_eq(sync_new(&m, "nested/gone", url, &good, err, sizeof(err)), CM_ERROR);
    ck_assert_int_eq(cm_mirror_missing(m), 1);
    snprintf(left, sizeof(left), "%s/mirrors/ep/nested", tdir);
    ck_assert_int_eq(access(left, F_OK), -1);
    cm_mirror_free(m);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_int_eq(sync_new(&m, "bad", url, &bad, err, sizeof(err)), CM_ERROR);
    ck_assert_int_eq(cm_mirror_missing(m), 0);
    snprintf(left, sizeof(left), "%s/mirrors/ep/bad.git.lock", tdir);
    ck_assert_int_eq(access(left, F_OK), -1);
    cm_mirror_free(m);

    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_msg(sync_new(&m, "good", url, &good, err, sizeof(err)) == CM_OK, "%s", err);
    rev(main1, "main");
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), "main");
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* HTTPS to a host whose certificate a private CA signed, as Bitbucket Data Center behind a
 * company CA. libgit2's trust is process-wide, and this test has its process to itself: the
 * CA is not loaded until the first sync that names it. */
START_TEST(test_https_ca)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    char url[600], err[1024], ca[600], host[64], main1[64];
    struct cm_mirror_auth good = {.user = "alice", .token = "s3cret-Token", .ssl_ca_file = ca};
    struct cm_mirror_auth bad = {.user = "alice", .token = "wrong-Token-42", .ssl_ca_file = ca};
    struct cm_mirror_auth system_only = {.user = "alice", .token = "s3cret-Token"};

    make_source();
    ck_assert_int_eq(ms_lighttpd_tls(&srv, tdir, "alice", "s3cret-Token"), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    snprintf(ca, sizeof(ca), "%s/ca.pem", tdir);
    snprintf(host, sizeof(host), "127.0.0.1:%d", srv.port);

    /* Only the system's CAs: refused before any credential is sent, saying what to set. */
    ck_assert_int_eq(sync_new(&m, "untrusted", url, &system_only, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "TLS certificate of ") && strstr(err, host) &&
                      strstr(err, "is not trusted: set git.ssl_ca_file to your CA's PEM bundle"),
                  "%s", err);
    ck_assert_msg(!strstr(err, "s3cret"), "%s", err);
    ck_assert_int_eq(mirror_exists("untrusted"), 0);
    cm_mirror_free(m);

    ck_assert_int_eq(sync_new(&m, "bad", url, &bad, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "authentication failed") && strstr(err, url), "%s", err);
    ck_assert_msg(!strstr(err, "wrong-Token-42"), "%s", err);
    cm_mirror_free(m);

    ck_assert_msg(sync_new(&m, "good", url, &good, err, sizeof(err)) == CM_OK, "%s", err);
    rev(main1, "main");
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), "main");
    cm_mirror_free(m);

    /* As documented: once loaded, the CA is trusted by every fetch of the process. */
    ck_assert_msg(sync_new(&m, "later", url, &system_only, err, sizeof(err)) == CM_OK, "%s", err);
    cm_mirror_free(m);

    /* A CA file that went away after the configuration was checked. */
    snprintf(ca, sizeof(ca), "%s/gone.pem", tdir);
    ck_assert_int_eq(sync_new(&m, "gone", url, &good, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "cannot read ssl_ca_file") && strstr(err, "gone.pem"), "%s", err);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* What a user sees when the CA bundle for libgit2 cannot be put together, and when the CA
 * file given is not the one that signed the host's certificate. Its own process: nothing of
 * the right CA is loaded before the end. */
START_TEST(test_https_ca_errors)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    char url[600], err[1024], want[1400], ca[600], other[600], notmp[600];
    struct cm_mirror_auth auth = {.user = "alice", .token = "s3cret-Token", .ssl_ca_file = ca};
    size_t n;

    make_source();
    ck_assert_int_eq(ms_lighttpd_tls(&srv, tdir, "alice", "s3cret-Token"), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    snprintf(other, sizeof(other), "%s/other-ca.pem", tdir);
    ck_assert_int_eq(ms_sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                           "ec_paramgen_curve:prime256v1 -nodes -keyout other-ca.key -out "
                           "other-ca.pem -days 2 -subj /CN=other-ca >/dev/null 2>&1",
                           tdir),
                     0);

    /* A CA, but not the one that signed the certificate. */
    snprintf(ca, sizeof(ca), "%s", other);
    ck_assert_int_eq(sync_new(&m, "other", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want),
             "TLS certificate of 127.0.0.1:%d is not trusted by ssl_ca_file %s nor the "
             "system's CAs (",
             srv.port, other);
    ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
    static const char tail[] =
        "): check that the file holds the CA that signed it and that the certificate names "
        "the host";
    n = strlen(err);
    ck_assert_msg(n > sizeof(tail) && !strcmp(err + n - (sizeof(tail) - 1), tail), "%s", err);
    ck_assert_msg(!strstr(err, "s3cret"), "%s", err);
    cm_mirror_free(m);

    /* A directory where the CA file should be. */
    snprintf(ca, sizeof(ca), "%s", tdir);
    ck_assert_int_eq(sync_new(&m, "dir", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want), "cannot read ssl_ca_file %s: Is a directory", tdir);
    ck_assert_str_eq(err, want);
    cm_mirror_free(m);

    /* TMPDIR names no directory: no bundle can be written. */
    snprintf(ca, sizeof(ca), "%s/ca.pem", tdir);
    snprintf(notmp, sizeof(notmp), "%s/no-tmp", tdir);
    setenv("TMPDIR", notmp, 1);
    ck_assert_int_eq(sync_new(&m, "notmp", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want), "cannot create a CA bundle in %s: No such file or directory",
             notmp);
    ck_assert_str_eq(err, want);
    cm_mirror_free(m);
    unsetenv("TMPDIR");

    /* A system bundle (SSL_CERT_FILE) that cannot be read: /proc/self/mem is a regular file
     * whose read at offset 0 fails, for root too. */
    setenv("SSL_CERT_FILE", "/proc/self/mem", 1);
    ck_assert_int_eq(sync_new(&m, "sysbad", url, &auth, err, sizeof(err)), CM_ERROR);
    ck_assert_str_eq(err, "cannot read the system CA bundle /proc/self/mem: Input/output error");
    cm_mirror_free(m);

    /* Without SSL_CERT_FILE the distribution's bundle is found, and the right CA works. */
    unsetenv("SSL_CERT_FILE");
    ck_assert_msg(sync_new(&m, "good", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

START_TEST(test_ssh)
{
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    char url[600], err[512], kh[600], fp[128], main1[64], key[600];
    struct cm_mirror_auth auth = {
        .ssh_key = key, .ssh_passphrase = "pass phrase", .ssh_known_hosts = kh};

    make_source();
    ck_assert_int_eq(ms_sshd(&srv, tdir, "pass phrase"), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    snprintf(key, sizeof(key), "%s/client_key", tdir);
    snprintf(kh, sizeof(kh), "%s/known_hosts", tdir);
    ck_assert_int_eq(
        ms_capture(fp, sizeof(fp), "ssh-keygen -lf '%s/host_key.pub' | cut -d' ' -f2", tdir), 0);

    /* Unknown host: refused, with the fingerprint to compare out of band. */
    ck_assert_int_eq(ms_sh(": > '%s'", kh), 0);
    ck_assert_int_eq(sync_new(&m, "unknown", url, &auth, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "unknown SSH host key") && strstr(err, fp), "%s / %s", err, fp);
    ck_assert_int_eq(mirror_exists("unknown"), 0);
    cm_mirror_free(m);

    /* Another key of the same type for this host: refused as changed. */
    ck_assert_int_eq(ms_sh("echo \"[127.0.0.1]:%d $(cut -d' ' -f1,2 '%s/client_key.pub')\" > '%s'",
                           srv.port, tdir, kh),
                     0);
    ck_assert_int_eq(sync_new(&m, "changed", url, &auth, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "differs") && strstr(err, fp), "%s", err);
    cm_mirror_free(m);

    ck_assert_int_eq(ms_sh("echo \"[127.0.0.1]:%d $(cut -d' ' -f1,2 '%s/host_key.pub')\" > '%s'",
                           srv.port, tdir, kh),
                     0);
    ck_assert_msg(sync_new(&m, "plain", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    rev(main1, "main");
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_DEFAULT_BRANCH), "main");
    cm_mirror_free(m);

    /* Hashed host names, as ssh-keygen -H writes them. */
    ck_assert_int_eq(
        ms_sh("ssh-keygen -q -H -f '%s' >/dev/null 2>&1 && ! grep -q 127 '%s'", kh, kh), 0);
    ck_assert_msg(sync_new(&m, "hashed", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    cm_mirror_free(m);

    /* The messages that say which setting to change, word for word. */
    char want[1400], kh_gone[600];
    snprintf(kh_gone, sizeof(kh_gone), "%s/gone_known_hosts", tdir);
    auth.ssh_known_hosts = kh_gone;
    ck_assert_int_eq(sync_new(&m, "nokh", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want), "cannot read git.ssh_known_hosts %s: No such file or directory",
             kh_gone);
    ck_assert_str_eq(err, want);
    cm_mirror_free(m);
    auth.ssh_known_hosts = kh;

    auth.ssh_key = NULL;
    ck_assert_int_eq(sync_new(&m, "nokey", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want), "%s needs an SSH key: set git.ssh_key", url);
    ck_assert_str_eq(err, want);
    cm_mirror_free(m);
    char key_gone[600];
    snprintf(key_gone, sizeof(key_gone), "%s/gone_key", tdir);
    auth.ssh_key = key_gone;
    ck_assert_int_eq(sync_new(&m, "keygone", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want), "cannot read git.ssh_key %s: No such file or directory", key_gone);
    ck_assert_str_eq(err, want);
    cm_mirror_free(m);
    /* An endpoint's own key or known_hosts is named as the endpoint's setting. */
    auth.endpoint = "dc";
    auth.own_ssh_key = 1;
    ck_assert_int_eq(sync_new(&m, "keygone2", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want),
             "cannot read ssh_key of endpoint \"dc\" %s: No such file or "
             "directory",
             key_gone);
    ck_assert_str_eq(err, want);
    cm_mirror_free(m);
    auth.endpoint = NULL;
    auth.own_ssh_key = 0;
    auth.ssh_key = key;

    /* The host's own key, marked @revoked: refused although it matches. */
    ck_assert_int_eq(
        ms_sh("echo \"@revoked [127.0.0.1]:%d $(cut -d' ' -f1,2 '%s/host_key.pub')\" > '%s'",
              srv.port, tdir, kh),
        0);
    ck_assert_int_eq(sync_new(&m, "revoked", url, &auth, err, sizeof(err)), CM_ERROR);
    snprintf(want, sizeof(want),
             "SSH host key for [127.0.0.1]:%d (%s) is marked @revoked in git.ssh_known_hosts",
             srv.port, fp);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(mirror_exists("revoked"), 0);
    cm_mirror_free(m);
    ck_assert_int_eq(ms_sh("echo \"[127.0.0.1]:%d $(cut -d' ' -f1,2 '%s/host_key.pub')\" > '%s'",
                           srv.port, tdir, kh),
                     0);

    /* A wrong passphrase is an authentication failure, and the passphrase stays secret. */
    auth.ssh_passphrase = "not the passphrase";
    ck_assert_int_eq(sync_new(&m, "badpass", url, &auth, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "authentication failed") && !strstr(err, "not the passphrase"), "%s",
                  err);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* A mirror at path is either absent or a repository git itself finds sound. */
static void assert_absent_or_sound(const char *name)
{
    char path[512];

    if (!mirror_exists(name))
        return;
    ck_assert_int_eq(ms_sh("git -C '%s' fsck --no-progress >/dev/null 2>&1",
                           mirror_path(path, sizeof(path), name)),
                     0);
}

/* Bytes in the files of dir (0 when it does not exist). */
static long long dir_bytes(const char *dir)
{
    char path[1024];
    long long sum = 0;
    struct dirent *e;
    struct stat st;
    DIR *d = opendir(dir);

    while (d && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0)
            sum += st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

/* Fork a child that syncs name from url and SIGKILL it once more than `bytes` are in the
 * directory watch (the pack being received). 1 if it was killed before it finished. */
static int sync_and_kill(const char *name, const char *url, const char *watch, long long bytes)
{
    struct timespec tick = {0, 1000 * 1000};
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct cm_mirror *m = NULL;
        struct cm_mirror_auth auth = {0};
        char err[512];

        _exit(sync_new(&m, name, url, &auth, err, sizeof(err)) == CM_OK ? 0 : 1);
    }
    for (int i = 0; i < 20000 && dir_bytes(watch) <= bytes; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return 0;
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status);
}

/* mb MB of random data in a new commit on main, pushed and packed on the server so that it
 * streams out at once. */
static void add_big_commit(const char *url, int mb)
{
    ck_assert_int_eq(ms_sh("cd '%s/work' && for i in $(seq 1 %d); do "
                           "head -c 1000000 /dev/urandom > big$i-$$.bin; done && git add -A && "
                           "git commit -q -m big && git push -q '%s' main && "
                           "git -C ../srv/repo.git repack -q -a -d",
                           tdir, mb, url),
                     0);
}

START_TEST(test_crash_clone)
{
    static const long long marks[] = {0, 1000000, 6000000, 15000000};
    struct ms_server srv;
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    char url[600], err[512], watch[600], main1[64];
    long long before;
    int killed = 0;

    make_source();
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    add_big_commit(url, 24);
    snprintf(watch, sizeof(watch), "%s/mirrors/ep/big.git.tmp/objects/pack", tdir);
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]) && !mirror_exists("big"); i++) {
        killed += sync_and_kill("big", url, watch, marks[i]);
        assert_absent_or_sound("big");
    }
    ck_assert_int_gt(killed, 0);
    ck_assert_msg(sync_new(&m, "big", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    rev(main1, "main");
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1);
    cm_mirror_free(m);

    /* Killed while fetching into the existing mirror: it stays sound, and the next sync
     * clears what the dead one left and finishes the job. */
    add_big_commit(url, 16);
    snprintf(watch, sizeof(watch), "%s/mirrors/ep/big.git/objects/pack", tdir);
    before = dir_bytes(watch);
    ck_assert_int_eq(sync_and_kill("big", url, watch, before + 4000000), 1);
    assert_absent_or_sound("big");
    ck_assert_int_gt(dir_bytes(watch), before); /* a partial pack is there */
    ck_assert_int_eq(cm_mirror_open(&m, mirror_path(err, sizeof(err), "big"), url, "ep", "big"),
                     CM_OK);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1); /* refs come last */
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    rev(main1, "main");
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main1), 1);
    ck_assert_str_eq(cm_mirror_get(m, CM_MIRROR_IS_NEW), "false");
    cm_mirror_free(m);
    assert_absent_or_sound("big");
    ck_assert_int_eq(ms_sh("ls '%s' | grep -q pack_git2_", watch), 1);
    ms_stop(&srv);
}
END_TEST

START_TEST(test_stale_locks)
{
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    struct ms_server srv;
    char url[600], err[512], main2[64];
    int fd;

    make_source();
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_msg(sync_new(&m, "r", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    cm_mirror_free(m);
    /* What a sync killed during its ref updates leaves behind. */
    ck_assert_int_eq(ms_sh("cd '%s/mirrors/ep/r.git' && : > refs/heads/main.lock && "
                           ": > packed-refs.lock && : > HEAD.lock && mkdir -p ../r.git.tmp/x",
                           tdir),
                     0);
    ck_assert_int_eq(ms_sh("cd '%s/work' && echo 3 > three && git add three && "
                           "git commit -q -m three && git push -q origin main",
                           tdir),
                     0);
    rev(main2, "main");
    ck_assert_msg(sync_new(&m, "r", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(cm_mirror_ref_is(m, "refs/heads/main", main2), 1);
    snprintf(err, sizeof(err), "%s.tmp", cm_mirror_get(m, CM_MIRROR_PATH));
    ck_assert_int_eq(access(err, F_OK), -1);

    /* A live sync elsewhere holds the lock: wait for it rather than clean up under it. */
    snprintf(err, sizeof(err), "%s.lock", cm_mirror_get(m, CM_MIRROR_PATH));
    ck_assert_int_ge(fd = open(err, O_RDWR), 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    ck_assert_int_eq(cm_mirror_sync(m, &auth, err, sizeof(err)), CM_EAGAIN);
    ck_assert_msg(strstr(err, "another sync"), "%s", err);
    close(fd);
    ck_assert_msg(cm_mirror_sync(m, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* Another endpoint's mirror is on the same disk: no local path or file:// is ever fetched. */
START_TEST(test_local_refused)
{
    static const char *const urls[] = {"", "file://", "file://localhost"};
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    char url[600], err[512];

    make_source();
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        snprintf(url, sizeof(url), "%s%s/srv/repo.git", urls[i], tdir);
        ck_assert_int_eq(sync_new(&m, "local", url, &auth, err, sizeof(err)), CM_ERROR);
        ck_assert_msg(strstr(err, "not a remote git URL"), "%s", err);
        ck_assert_int_eq(mirror_exists("local"), 0);
        cm_mirror_free(m);
        m = NULL;
    }
}
END_TEST

static int stop_at_first(void *arg, const char *ref, const char *msg)
{
    return 42;
}

START_TEST(test_notes)
{
    struct cm_mirror *m = NULL;
    struct cm_mirror_auth auth = {0};
    struct refs notes = {""};
    struct ms_server srv;
    char url[600], err[512];

    make_source();
    ck_assert_int_eq(ms_git_daemon(&srv, tdir), 0);
    snprintf(url, sizeof(url), "%srepo.git", srv.url);
    ck_assert_msg(sync_new(&m, "n", url, &auth, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(cm_mirror_note(m, "refs/tags/v1", "no composer.json"), CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "refs/heads/main", "first"), CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "refs/heads/main", "two\nlines"), CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "refs/heads/dev", "gone soon"), CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "refs/heads/dev", NULL), CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "refs/heads/never", NULL), CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "", "x"), CM_EINVAL);
    ck_assert_int_eq(cm_mirror_notes(m, collect_note, &notes), 0);
    ck_assert_str_eq(notes.buf, "refs/heads/main:two lines|refs/tags/v1:no composer.json|");
    ck_assert_int_eq(cm_mirror_notes(m, stop_at_first, NULL), 42);
    cm_mirror_free(m);

    /* The worker opens a new handle per sync: notes outlive it. */
    ck_assert_int_eq(cm_mirror_open(&m, mirror_path(err, sizeof(err), "n"), url, "ep", "n"), CM_OK);
    notes.buf[0] = '\0';
    ck_assert_int_eq(cm_mirror_notes(m, collect_note, &notes), 0);
    ck_assert_str_eq(notes.buf, "refs/heads/main:two lines|refs/tags/v1:no composer.json|");
    cm_mirror_free(m);

    /* Before the first sync there is no directory to keep them in, only memory. */
    ck_assert_int_eq(cm_mirror_open(&m, mirror_path(err, sizeof(err), "later"), url, "ep", "later"),
                     CM_OK);
    ck_assert_int_eq(cm_mirror_note(m, "refs/heads/main", "kept in memory"), CM_OK);
    ck_assert_int_eq(mirror_exists("later"), 0);
    cm_mirror_free(m);
    ms_stop(&srv);
}
END_TEST

/* ---- known_hosts rules, without a server ---- */

#define KEY_A "AAAAC3NzaC1lZDI1NTE5AAAAIGnxqDnCU2DimJYZxzT/WJhA8P8vShR13xk1TgWOerJT"
#define KEY_B "AAAAC3NzaC1lZDI1NTE5AAAAIEdTvP7XCGKyQFLDYGi3jRmZoqzGm9rBf1JUVk2ZL6iO"

static const struct {
    const char *file, *name;
    enum cm_kh_result want;
} kh_cases[] = {
    {"git.example.com ssh-ed25519 " KEY_A "\n", "git.example.com", CM_KH_MATCH},
    {"# comment\n\nGIT.Example.com,10.0.0.1 ssh-ed25519 " KEY_A " c\n", "git.example.com",
     CM_KH_MATCH},
    {"git.example.com ssh-ed25519 " KEY_A "\n", "[git.example.com]:7999", CM_KH_UNKNOWN},
    {"[git.example.com]:7999 ssh-ed25519 " KEY_A "\n", "[git.example.com]:7999", CM_KH_MATCH},
    {"*.example.com ssh-ed25519 " KEY_A "\n", "git.example.com", CM_KH_MATCH},
    {"*.example.com,!git.example.com ssh-ed25519 " KEY_A "\n", "git.example.com", CM_KH_UNKNOWN},
    {"git?.example.com ssh-ed25519 " KEY_A "\n", "git2.example.com", CM_KH_MATCH},
    {"git.example.com ssh-ed25519 " KEY_B "\n", "git.example.com", CM_KH_CHANGED},
    {"git.example.com ssh-rsa " KEY_B "\n", "git.example.com", CM_KH_UNKNOWN},
    {"git.example.com ssh-ed25519 " KEY_B "\ngit.example.com ssh-ed25519 " KEY_A "\n",
     "git.example.com", CM_KH_MATCH},
    {"git.example.com ssh-ed25519 " KEY_A "\n@revoked * ssh-ed25519 " KEY_A "\n", "git.example.com",
     CM_KH_REVOKED},
    {"@cert-authority * ssh-ed25519 " KEY_A "\n", "git.example.com", CM_KH_UNKNOWN},
    {"", "git.example.com", CM_KH_UNKNOWN},
};

START_TEST(test_known_hosts)
{
    unsigned char key[64], salt[20] = "0123456789abcdefghij", mac[64];
    char file[600], salt64[40], mac64[40];
    long keylen = cm_crypto_base64_decode(KEY_A, strlen(KEY_A), key);
    FILE *f;

    snprintf(file, sizeof(file), "%s/kh", tdir);
    ck_assert_ptr_nonnull(f = fopen(file, "w"));
    fputs(kh_cases[_i].file, f);
    fclose(f);
    ck_assert_int_eq(cm_known_hosts_check(file, kh_cases[_i].name, key, (size_t)keylen),
                     kh_cases[_i].want);

    /* A hashed name, |1|base64(salt)|base64(HMAC-SHA1(salt, name)), once. */
    if (_i != 0)
        return;
    cm_crypto_hmac("sha1", salt, sizeof(salt), "[10.1.2.3]:2222", 15, mac);
    cm_crypto_base64_encode(salt, sizeof(salt), salt64);
    cm_crypto_base64_encode(mac, 20, mac64);
    ck_assert_ptr_nonnull(f = fopen(file, "w"));
    fprintf(f, "|1|%s|%s ssh-ed25519 %s\n", salt64, mac64, KEY_A);
    fclose(f);
    ck_assert_int_eq(cm_known_hosts_check(file, "[10.1.2.3]:2222", key, (size_t)keylen),
                     CM_KH_MATCH);
    ck_assert_int_eq(cm_known_hosts_check(file, "10.1.2.3", key, (size_t)keylen), CM_KH_UNKNOWN);
    snprintf(file, sizeof(file), "%s/none", tdir);
    ck_assert_int_eq(cm_known_hosts_check(file, "x", key, (size_t)keylen), CM_KH_NOFILE);
}
END_TEST

/* An ssh-rsa public key blob the size of an RSA-8192 key (string type, mpint e, mpint n of
 * 1,025 bytes): about 1,400 base64 characters, past what base64 decoding once accepted. */
static size_t rsa8192_blob(unsigned char *out, unsigned char fill)
{
    static const unsigned char head[] = {0, 0, 0, 7, 's', 's', 'h', '-', 'r', 's', 'a', 0,
                                         0, 0, 3, 1, 0,   1,   0,   0,   4,   1,   0};
    memcpy(out, head, sizeof(head));
    for (size_t i = 0; i < 1024; i++)
        out[sizeof(head) + i] = (unsigned char)(fill + i * 7);
    return sizeof(head) + 1024;
}

START_TEST(test_known_hosts_rsa8192)
{
    unsigned char key[1100], other[1100], back[1100];
    char file[600], k64[1500], o64[1500];
    size_t keylen = rsa8192_blob(key, 0x80), olen = rsa8192_blob(other, 0x81);
    FILE *f;

    cm_crypto_base64_encode(key, keylen, k64);
    cm_crypto_base64_encode(other, olen, o64);
    ck_assert_uint_gt(strlen(k64), 1024);
    ck_assert_int_eq(cm_crypto_base64_decode(k64, strlen(k64), back), (long)keylen);
    ck_assert_mem_eq(back, key, keylen);
    snprintf(file, sizeof(file), "%s/kh", tdir);
    ck_assert_ptr_nonnull(f = fopen(file, "w"));
    fprintf(f, "git.example.com ssh-rsa %s\n", k64);
    fclose(f);
    ck_assert_int_eq(cm_known_hosts_check(file, "git.example.com", key, keylen), CM_KH_MATCH);
    ck_assert_int_eq(cm_known_hosts_check(file, "git.example.com", other, olen), CM_KH_CHANGED);
    ck_assert_ptr_nonnull(f = fopen(file, "w"));
    fprintf(f, "git.example.com ssh-rsa %s\n@revoked * ssh-rsa %s\n", k64, k64);
    fclose(f);
    ck_assert_int_eq(cm_known_hosts_check(file, "git.example.com", key, keylen), CM_KH_REVOKED);
}
END_TEST

/* The mirror scan's test of "is this entry a directory": the readdir type where the file
 * system gives one, the entry itself where it says DT_UNKNOWN (XFS without ftype, NFS...). */
START_TEST(test_entry_is_dir)
{
    char path[600];
    int fd;

    ck_assert_int_eq(ms_sh("cd '%s' && mkdir d && touch f && ln -s d l", tdir), 0);
    snprintf(path, sizeof(path), "%s", tdir);
    ck_assert_int_ge(fd = open(path, O_RDONLY | O_DIRECTORY), 0);
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "d", DT_UNKNOWN), 1);
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "f", DT_UNKNOWN), 0);
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "l", DT_UNKNOWN), 0); /* not followed */
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "gone", DT_UNKNOWN), 0);
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "d", DT_DIR), 1);
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "f", DT_REG), 0);
    ck_assert_int_eq(cm_fs_entry_is_dir(fd, "l", DT_LNK), 0);
    close(fd);
}
END_TEST

static const struct {
    const char *url, *host;
    int port;
} url_cases[] = {
    {"ssh://git@bitbucket.example.com:7999/plat/api.git", "bitbucket.example.com", 7999},
    {"ssh://Git.Example.com/x.git", "git.example.com", 22},
    {"git+ssh://git@[::1]:2222/x.git", "::1", 2222},
    {"git@github.com:owner/name.git", "github.com", 22},
    {"https://github.com/owner/name.git", NULL, 0},
    {"/srv/git/x.git", NULL, 0},
};

START_TEST(test_ssh_url)
{
    char host[256];
    int port = 0, rc = cm_mirror_url_ssh_host(url_cases[_i].url, host, sizeof(host), &port);

    if (!url_cases[_i].host) {
        ck_assert_int_eq(rc, CM_EINVAL);
        return;
    }
    ck_assert_int_eq(rc, CM_OK);
    ck_assert_str_eq(host, url_cases[_i].host);
    ck_assert_int_eq(port, url_cases[_i].port);
}
END_TEST

static const struct {
    const char *url, *want; /* NULL: CM_EINVAL */
} host_port_cases[] = {
    {"https://alice:pw@git.example.com/scm/x.git", "git.example.com:443"},
    {"https://127.0.0.1:8443/git/x.git", "127.0.0.1:8443"},
    {"http://git.example.com", "git.example.com:80"},
    {"https://[::1]/x.git", "[::1]:443"},
    {"https://[2001:db8::2]:7990/x", "[2001:db8::2]:7990"},
    {"git@github.com:owner/name.git", NULL},
    {"https:///x.git", NULL},
};

START_TEST(test_host_port)
{
    char out[64];
    int rc = cm_url_host_port(host_port_cases[_i].url, out, sizeof(out));

    ck_assert_int_eq(rc, host_port_cases[_i].want ? CM_OK : CM_EINVAL);
    if (host_port_cases[_i].want)
        ck_assert_str_eq(out, host_port_cases[_i].want);
}
END_TEST

static const struct {
    const char *url, *shown, *password;
} split_cases[] = {
    {"https://alice:s3cret@git.example.com/x.git", "https://alice@git.example.com/x.git", "s3cret"},
    {"http://u:p%40q@127.0.0.1:8080/x.git?a=b", "http://u@127.0.0.1:8080/x.git?a=b", "p%40q"},
    {"https://alice@git.example.com/x.git", "https://alice@git.example.com/x.git", NULL},
    {"https://git.example.com/a:b@c.git", "https://git.example.com/a:b@c.git", NULL},
    {"git@github.com:owner/name.git", "git@github.com:owner/name.git", NULL},
    {"/srv/git/x.git", "/srv/git/x.git", NULL},
};

START_TEST(test_url_split)
{
    char *shown = NULL, *password = NULL, msg[] = "x s3cret y s3cret";

    ck_assert_int_eq(cm_url_split_password(split_cases[_i].url, &shown, &password), CM_OK);
    ck_assert_str_eq(shown, split_cases[_i].shown);
    if (split_cases[_i].password)
        ck_assert_str_eq(password, split_cases[_i].password);
    else
        ck_assert_ptr_null(password);
    free(shown);
    free(password);

    /* Every occurrence is masked; nothing to mask is no change. */
    cm_mirror_url_scrub(msg, split_cases[_i].password);
    ck_assert_str_eq(msg, _i == 0 ? "x ****** y ******" : "x s3cret y s3cret");
}
END_TEST

/* ---- main: cases whose tools are missing are skipped, and then the program exits 77 ---- */

static int skipped;

static TCase *needs(const char *name, const char *const *tools)
{
    for (; *tools; tools++) {
        if (!ms_have(*tools)) {
            printf("SKIP %s: %s is not installed (Debian: apt-get install git lighttpd "
                   "lighttpd-mod-openssl openssl openssh-server openssh-client unzip)\n",
                   name, *tools);
            skipped = 1;
            return NULL;
        }
    }
    return tcase_create(name);
}

int main(void)
{
    static const char *const git[] = {"git", NULL};
    static const char *const http[] = {"git", "/usr/sbin/lighttpd",
                                       "/usr/lib/git-core/git-http-backend", NULL};
    static const char *const https[] = {"git",
                                        "/usr/sbin/lighttpd",
                                        "/usr/lib/git-core/git-http-backend",
                                        "/usr/lib/lighttpd/mod_openssl.so",
                                        "openssl",
                                        NULL};
    static const char *const ssh[] = {"git", "/usr/sbin/sshd", "ssh-keygen", NULL};
    static const char *const zip[] = {"git", "unzip", NULL};
    const struct {
        const char *name;
        const TTest *test;
        const char *const *tools;
    } cases[] = {
        {"daemon", test_daemon_sync, git},
        {"zip", test_zip, zip},
        {"zip_every_node", test_archive_same_on_every_node, zip},
        {"blob_cap", test_blob_cap, zip},
        {"http_auth", test_http_auth, http},
        {"https_ca", test_https_ca, https},
        {"https_ca_errors", test_https_ca_errors, https},
        {"ssh", test_ssh, ssh},
        {"crash", test_crash_clone, git},
        {"stale_locks", test_stale_locks, git},
        {"notes", test_notes, git},
        {"local_refused", test_local_refused, git},
    };
    Suite *s = suite_create("mirror");
    SRunner *sr;
    TCase *tc;
    int failed;

    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
    tc = tcase_create("known_hosts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_known_hosts, 0, (int)(sizeof(kh_cases) / sizeof(kh_cases[0])));
    tcase_add_test(tc, test_known_hosts_rsa8192);
    tcase_add_test(tc, test_entry_is_dir);
    tcase_add_loop_test(tc, test_ssh_url, 0, (int)(sizeof(url_cases) / sizeof(url_cases[0])));
    tcase_add_loop_test(tc, test_host_port, 0,
                        (int)(sizeof(host_port_cases) / sizeof(host_port_cases[0])));
    tcase_add_loop_test(tc, test_url_split, 0, (int)(sizeof(split_cases) / sizeof(split_cases[0])));
    suite_add_tcase(s, tc);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!(tc = needs(cases[i].name, cases[i].tools)))
            continue;
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed)
        return EXIT_FAILURE;
    return skipped ? 77 : EXIT_SUCCESS;
}
