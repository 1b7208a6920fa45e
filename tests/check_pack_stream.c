/* SPDX-License-Identifier: MIT */
/*
 * Big files streamed from git packs into dist zips (sync/pack_stream.c, sync/zip.c), with real
 * repositories packed by git: a blob stored whole streams and zips to the same bytes as when
 * read whole, a delta or a version-1 index falls back, and a corrupt, truncated or lying pack
 * is an error, never a wrong zip. No server: the mirror is a bare clone made by git.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror_servers.h"
#include "sync/mirror.h"
#include "sync/pack_stream.h"
#include "util/fsutil.h"
#include "util/hex.h"

#define BIG (3 * 1024 * 1024)

static char tdir[256]; /* this test's temp dir; each test runs in its own process */
static char objects[512];

static void setup(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/cm-pack-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
    snprintf(objects, sizeof(objects), "%s/m.git/objects", tdir);
    setenv("HOME", tdir, 1);
}

static void teardown(void)
{
    cm_fs_rm_rf(tdir);
}

/* work/: big.bin (random, executable: deflate cannot shrink it, so many input pieces),
 * text.txt (5 MiB of one line: a few packed bytes make many output pieces), two small files;
 * m.git: its bare clone, objects still loose. */
static void make_repo(void)
{
    ck_assert_int_eq(ms_sh("cd '%s' && git init -q -b main work && cd work && "
                           "head -c %d /dev/urandom > big.bin && chmod +x big.bin && "
                           "yes 'the same line again' | head -c 5242880 > text.txt && "
                           "echo '{}' > composer.json && mkdir src && echo x > src/a.php && "
                           "git add -A && git commit -q -m one && "
                           "git clone -q --bare . ../m.git && "
                           "test -z \"$(ls ../m.git/objects/pack)\"",
                           tdir, BIG),
                     0);
}

static void repack(const char *opts)
{
    ck_assert_int_eq(ms_sh("git -C '%s/m.git' %s repack -q -a -d -f", tdir, opts), 0);
}

/* The raw id of spec (git rev-parse in work/). */
static void raw_id(unsigned char id[20], const char *spec)
{
    char hex[64];

    ck_assert_int_eq(ms_capture(hex, sizeof(hex), "git -C '%s/work' rev-parse '%s'", tdir, spec),
                     0);
    ck_assert_int_eq(cm_hex_decode(hex, 20, id), CM_OK);
}

/* Zip the commit at spec to tdir/name, with prefix pkg. */
static int archive(const char *spec, const char *name)
{
    struct cm_mirror *m = NULL;
    char path[600], commit[64];
    int rc;

    snprintf(path, sizeof(path), "%s/m.git", tdir);
    ck_assert_int_eq(cm_mirror_open(&m, path, "git://127.0.0.1/x.git", "ep", "x"), CM_OK);
    ck_assert_int_eq(
        ms_capture(commit, sizeof(commit), "git -C '%s/work' rev-parse '%s'", tdir, spec), 0);
    snprintf(path, sizeof(path), "%s/%s", tdir, name);
    rc = cm_mirror_archive(m, commit, "pkg", path);
    cm_mirror_free(m);
    return rc;
}

/* What a sink saw: the bytes go to a file, the largest piece is kept. */
struct seen {
    FILE *f;
    size_t largest;
};

static int seen_sink(void *arg, const void *buf, size_t len)
{
    struct seen *s = arg;

    if (len > s->largest)
        s->largest = len;
    return fwrite(buf, 1, len, s->f) == len ? 0 : -1;
}

/* Stream id to tdir/out; the reader's answer (open's when it did not open). */
static int stream(const unsigned char id[20], size_t *largest)
{
    struct cm_pack_blob *b = NULL;
    struct seen s = {NULL, 0};
    char path[600];
    int rc = cm_pack_blob_open(&b, objects, id);

    if (rc != CM_OK) {
        ck_assert_ptr_null(b);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/out", tdir);
    ck_assert_ptr_nonnull(s.f = fopen(path, "w"));
    rc = cm_pack_blob_read(b, seen_sink, &s);
    ck_assert_int_eq(fclose(s.f), 0);
    if (rc == CM_OK)
        ck_assert_int_eq(cm_pack_blob_read(b, seen_sink, &s), CM_ERROR); /* once only */
    cm_pack_blob_free(b);
    if (largest)
        *largest = s.largest;
    return rc;
}

START_TEST(test_whole_blob_streams)
{
    unsigned char big[20], text[20], small[20], tree[20];
    struct cm_pack_blob *b = NULL;
    size_t largest = 0;

    make_repo();
    raw_id(big, "main:big.bin");
    raw_id(text, "main:text.txt");
    raw_id(small, "main:composer.json");
    raw_id(tree, "main^{tree}");

    /* Loose objects are not streamed: the zip is made the way it always was. */
    ck_assert_int_eq(stream(big, NULL), CM_EIGNORE);
    ck_assert_int_eq(archive("main", "loose.zip"), CM_OK);

    repack("-c pack.window=0");
    ck_assert_int_eq(cm_pack_blob_open(&b, objects, big), CM_OK);
    ck_assert_uint_eq(cm_pack_blob_size(b), BIG);
    cm_pack_blob_free(b);
    ck_assert_int_eq(stream(big, &largest), CM_OK);
    ck_assert_uint_le(largest, CM_PACK_CHUNK);
    ck_assert_int_eq(ms_sh("cmp -s '%s/out' '%s/work/big.bin'", tdir, tdir), 0);
    ck_assert_int_eq(stream(text, &largest), CM_OK);
    ck_assert_uint_eq(largest, CM_PACK_CHUNK);
    ck_assert_int_eq(ms_sh("cmp -s '%s/out' '%s/work/text.txt'", tdir, tdir), 0);
    ck_assert_int_eq(stream(small, NULL), CM_OK);
    ck_assert_int_eq(ms_sh("cmp -s '%s/out' '%s/work/composer.json'", tdir, tdir), 0);
    /* Not a blob, not there at all. */
    ck_assert_int_eq(stream(tree, NULL), CM_EIGNORE);
    memset(tree, 0x5a, sizeof(tree));
    ck_assert_int_eq(stream(tree, NULL), CM_EIGNORE);

    /* Streamed, the zip is byte for byte the one the whole-blob path made, and holds the files
     * with their modes. */
    ck_assert_int_eq(archive("main", "packed.zip"), CM_OK);
    ck_assert_int_eq(ms_sh("cmp -s '%s/loose.zip' '%s/packed.zip'", tdir, tdir), 0);
    ck_assert_int_eq(ms_sh("cd '%s' && unzip -q packed.zip -d x && test -x x/pkg/big.bin && "
                           "cmp -s x/pkg/big.bin work/big.bin && cmp -s x/pkg/text.txt "
                           "work/text.txt && cmp -s x/pkg/src/a.php work/src/a.php",
                           tdir),
                     0);
}
END_TEST

/* Two versions of a big file packed as a delta: the one stored as a delta is not streamed, both
 * zips are still right; an index of version 1 is not read either. */
START_TEST(test_delta_falls_back)
{
    unsigned char v1[20], v2[20];
    int r1, r2;

    make_repo();
    ck_assert_int_eq(ms_sh("cd '%s/work' && git tag v1 && head -c 1000 /dev/urandom >> big.bin && "
                           "git commit -q -am two && git push -q ../m.git main v1 && "
                           "git -C ../m.git repack -q -a -d -f --window=10 --depth=5 && "
                           "git verify-pack -v ../m.git/objects/pack/*.idx | grep -q ' 1 [0-9a-f]'",
                           tdir),
                     0);
    raw_id(v1, "v1:big.bin");
    raw_id(v2, "main:big.bin");
    r1 = stream(v1, NULL);
    r2 = stream(v2, NULL);
    ck_assert_msg((r1 == CM_OK && r2 == CM_EIGNORE) || (r1 == CM_EIGNORE && r2 == CM_OK),
                  "one whole, one delta: %d %d", r1, r2);
    ck_assert_int_eq(archive("v1", "v1.zip"), CM_OK);
    ck_assert_int_eq(archive("main", "v2.zip"), CM_OK);
    ck_assert_int_eq(ms_sh("cd '%s' && unzip -q v1.zip -d x1 && unzip -q v2.zip -d x2 && "
                           "git -C work show v1:big.bin | cmp -s - x1/pkg/big.bin && "
                           "cmp -s work/big.bin x2/pkg/big.bin",
                           tdir),
                     0);

    repack("-c pack.indexVersion=1");
    ck_assert_int_eq(
        ms_sh("head -c 4 %s/pack/*.idx | od -An -tx1 | grep -qv 'ff 74 4f 63'", objects), 0);
    ck_assert_int_eq(stream(v2, NULL), CM_EIGNORE);
    ck_assert_int_eq(archive("main", "v2b.zip"), CM_OK);
    ck_assert_int_eq(ms_sh("cmp -s '%s/v2.zip' '%s/v2b.zip'", tdir, tdir), 0);
}
END_TEST

/* The one pack's file with the given extension (".pack", ".idx") into out. */
static void pack_file(char *out, size_t outlen, const char *ext)
{
    ck_assert_int_eq(ms_capture(out, outlen, "ls %s/pack/*%s", objects, ext), 0);
    ck_assert_int_eq(chmod(out, 0644), 0);
}

/* Where big.bin's entry starts in the pack, and its position in the index (of n entries). */
static unsigned long long big_entry(unsigned *pos, unsigned *n)
{
    char idx[600], line[128];
    unsigned long long off;

    pack_file(idx, sizeof(idx), ".idx");
    ck_assert_int_eq(ms_capture(line, sizeof(line),
                                "git show-index < '%s' | grep -n \"$(git -C '%s/work' rev-parse "
                                "main:big.bin)\" | tr ':' ' '",
                                idx, tdir),
                     0);
    ck_assert_int_eq(sscanf(line, "%u %llu", pos, &off), 2);
    (*pos)--;
    ck_assert_int_eq(ms_capture(line, sizeof(line), "git show-index < '%s' | wc -l", idx), 0);
    ck_assert_int_eq(sscanf(line, "%u", n), 1);
    return off;
}

static void put_bytes(const char *path, unsigned long long off, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void flip_byte(const char *path, unsigned long long off)
{
    unsigned char c;
    int fd = open(path, O_RDWR);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

/* The corruption cases, each on a freshly packed mirror. */
enum damage {
    FLIP_MIDDLE,
    FLIP_END,
    TRUNCATE,
    TRUNCATE_KEEP_TRAILER,
    OFFSET_PAST_END,
    LARGE_OFFSET
};

static const char *const damage_names[] = {
    "flip a byte in the middle",  "flip a byte at the end", "truncate",
    "truncate, keep the trailer", "offset past the end",    "64-bit offset not in table"};

START_TEST(test_corrupt_pack)
{
    unsigned char id[20], be[4];
    char pack[600];
    unsigned pos, n;
    unsigned long long off;
    int opened, rc;

    make_repo();
    repack("-c pack.window=0");
    raw_id(id, "main:big.bin");
    off = big_entry(&pos, &n);
    pack_file(pack, sizeof(pack), ".pack");
    switch ((enum damage)_i) {
    case FLIP_MIDDLE: flip_byte(pack, off + BIG / 2); break;
    case FLIP_END: flip_byte(pack, off + BIG); break; /* in the last block or the checksum */
    case TRUNCATE: ck_assert_int_eq(truncate(pack, (off_t)(off + BIG / 2)), 0); break;
    case TRUNCATE_KEEP_TRAILER:
        ck_assert_int_eq(ms_sh("cd %s/pack && tail -c 20 '%s' > t && truncate -s %llu '%s' && "
                               "cat t >> '%s' && rm t",
                               objects, pack, off + BIG / 2, pack, pack),
                         0);
        break;
    case OFFSET_PAST_END:
    case LARGE_OFFSET: {
        char idx[600];
        unsigned v = _i == OFFSET_PAST_END ? 0x7fffffffu : 0x80000003u;

        be[0] = (unsigned char)(v >> 24), be[1] = (unsigned char)(v >> 16);
        be[2] = (unsigned char)(v >> 8), be[3] = (unsigned char)v;
        pack_file(idx, sizeof(idx), ".idx");
        put_bytes(idx, 8 + 1024 + 24ull * n + 4ull * pos, be, 4);
        break;
    }
    }
    /* Either the entry is refused when opened (the pack and index disagree) or its read fails. */
    {
        struct cm_pack_blob *b = NULL;

        rc = cm_pack_blob_open(&b, objects, id);
        opened = rc == CM_OK;
        ck_assert_msg(rc == CM_OK || rc == CM_ERROR, "%s: open %d", damage_names[_i], rc);
        cm_pack_blob_free(b);
    }
    if (opened)
        ck_assert_msg(stream(id, NULL) == CM_ERROR, "%s: read", damage_names[_i]);
    /* A pack cut short but with its trailer put back is read only by the reader: libgit2 1.5
     * reads past its mapping for the objects after the cut (SIGSEGV under valgrind). */
    if (_i == TRUNCATE_KEEP_TRAILER)
        return;
    /* A pack cut short is one libgit2 no longer opens: the commit is not found. */
    rc = archive("main", "bad.zip");
    ck_assert_msg(rc == (_i == TRUNCATE ? CM_ENOENT : CM_ERROR), "%s: archive %d", damage_names[_i],
                  rc);
    ck_assert_int_eq(ms_sh("test -z \"$(ls '%s' | grep zip)\"", tdir), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pack_stream");
    TCase *tc;
    SRunner *sr;
    int failed;

    if (!ms_have("git") || !ms_have("unzip")) {
        printf("SKIP pack_stream: git or unzip is not installed (Debian: apt-get install git "
               "unzip)\n");
        return 77;
    }
    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
    /* Once for the program: libgit2 1.5 frees its options twice when initialised again after a
     * shutdown, which only shows with CK_FORK=no (how valgrind is best run on this program). */
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    if (cm_mirror_global_init(0) != CM_OK)
        return EXIT_FAILURE;
    tc = tcase_create("pack_stream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_whole_blob_streams);
    tcase_add_test(tc, test_delta_falls_back);
    tcase_add_loop_test(tc, test_corrupt_pack, 0,
                        (int)(sizeof(damage_names) / sizeof(damage_names[0])));
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cm_mirror_global_shutdown();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
