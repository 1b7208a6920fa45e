/* SPDX-License-Identifier: MIT */
/*
 * The small core helpers no area test reaches all of: the log line (escaping, levels,
 * truncation), the crypto services as a plugin sees them (RFC 4231 vectors, malformed input),
 * file-system helpers and zips whose writes the kernel refuses (RLIMIT_FSIZE), and the status
 * words and HTTP codes.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "util/crypto.h"
#include "intake/dispatch.h"
#include "util/fsutil.h"
#include "util/hex.h"
#include "util/json_scan.h"
#include "util/keyed_hash.h"
#include "plugin/gateway.h"
#include "plugin/host.h"
#include "ops/log.h"
#include "sync/zip.h"

static char tdir[256]; /* each test runs in its own process, with its own directory */
static struct rlimit fsize_before;

static void setup(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/cm-core-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &fsize_before), 0);
}

static void teardown(void)
{
    /* The coverage counts are written at exit: give back what file_size_limit took. */
    setrlimit(RLIMIT_FSIZE, &fsize_before);
    cm_fs_rm_rf(tdir);
}

/* ---- log ---- */

static int saved_stderr = -1, log_pipe = -1;

/* Send stderr into a pipe until log_take reads what was written. */
static void log_capture(void)
{
    int p[2];

    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    log_pipe = p[0];
}

/* What was logged since log_capture ("" for nothing); stderr is itself again. */
static char *log_take(void)
{
    static char got[16384];
    ssize_t n;

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    n = read(log_pipe, got, sizeof(got) - 1);
    close(log_pipe);
    got[n > 0 ? n : 0] = '\0';
    return got;
}

START_TEST(test_log_escape)
{
    cm_log_set_time(0);
    log_capture();
    cm_log(CM_LOG_WARNING, "http", "a\nforged: line\tb\x7f\x1b[31m \xc3\xa9");
    /* Control bytes cannot split or colour a line; UTF-8 stays readable in the log. */
    ck_assert_str_eq(log_take(),
                     "cargoman[warning] http: a\\x0aforged: line\\x09b\\x7f\\x1b[31m \xc3\xa9\n");
    log_capture();
    cm_log(CM_LOG_ERR, NULL, "%s=%d", "n", 7);
    ck_assert_str_eq(log_take(), "cargoman[error] core: n=7\n");
}
END_TEST

START_TEST(test_log_levels)
{
    cm_log_set_time(0);
    log_capture();
    cm_log(CM_LOG_DEBUG, "t", "hidden by default");
    cm_log(CM_LOG_INFO, "t", "shown");
    ck_assert_str_eq(log_take(), "cargoman[info] t: shown\n");

    cm_log_set_level(CM_LOG_DEBUG); /* serve -v */
    log_capture();
    cm_log(CM_LOG_DEBUG, "t", "now shown");
    ck_assert_str_eq(log_take(), "cargoman[debug] t: now shown\n");

    cm_log_set_level(CM_LOG_WARNING);
    log_capture();
    cm_log(CM_LOG_INFO, "t", "dropped");
    cm_log(CM_LOG_WARNING, "t", "kept");
    ck_assert_str_eq(log_take(), "cargoman[warning] t: kept\n");
    cm_log_set_level(CM_LOG_INFO);
}
END_TEST

START_TEST(test_log_truncation)
{
    static char big[3000], ctl[2100], source[5000];
    const char *prefix = "cargoman[info] t: ";
    char *got;
    size_t body;

    /* A message longer than 2047 bytes keeps its first 2047, on one line. */
    cm_log_set_time(0);
    memset(big, 'a', sizeof(big) - 1);
    log_capture();
    cm_log(CM_LOG_INFO, "t", "%s", big);
    got = log_take();
    ck_assert_uint_eq(strlen(got), strlen(prefix) + 2047 + 1);
    ck_assert_int_eq(strncmp(got, prefix, strlen(prefix)), 0);
    ck_assert_int_eq(got[strlen(got) - 1], '\n');
    ck_assert_ptr_eq(strchr(got, '\n'), got + strlen(got) - 1);

    /* Escaped, the message outgrows the 4096-byte line: it is cut between escapes, never
     * inside one, and the line still ends with its newline. */
    memset(ctl, '\n', sizeof(ctl) - 1);
    log_capture();
    cm_log(CM_LOG_INFO, "t", "%s", ctl);
    got = log_take();
    ck_assert_uint_le(strlen(got), 4096);
    ck_assert_int_eq(got[strlen(got) - 1], '\n');
    ck_assert_ptr_eq(strchr(got, '\n'), got + strlen(got) - 1);
    body = strlen(got) - strlen(prefix) - 1;
    ck_assert_uint_eq(body % 4, 0);
    ck_assert_uint_gt(body, 4000);
    ck_assert_int_eq(strncmp(got + strlen(got) - 5, "\\x0a\n", 5), 0);

    /* A source name that does not leave room for a message: no line rather than half a one. */
    memset(source, 's', sizeof(source) - 1);
    log_capture();
    cm_log(CM_LOG_INFO, source, "lost");
    ck_assert_str_eq(log_take(), "");

    /* A closed stderr does not stop the caller. */
    saved_stderr = dup(STDERR_FILENO);
    close(STDERR_FILENO);
    cm_log(CM_LOG_ERR, "t", "nowhere to go");
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
}
END_TEST

/* A sender's values cannot push the fields the gateway chose (status, client) off the line,
 * nor leave half a character where a value is cut, in text or in JSON. */
START_TEST(test_log_delivery_budget)
{
    static char ctl[400], utf8[300], quoted[600];
    struct cm_log_delivery d = {.delivery = ctl,
                                .endpoint = ctl,
                                .repository = ctl,
                                .status = 202,
                                .duration_ms = 3,
                                .client = "192.0.2.7"};
    char *got;

    memset(ctl, '\x01', sizeof(ctl) - 1); /* 4 bytes each once escaped */
    log_capture();
    cm_log_delivery(&d);
    got = log_take();
    ck_assert_ptr_eq(strchr(got, '\n'), got + strlen(got) - 1);
    ck_assert_msg(
        strstr(got, " status=202 reason=- duration_ms=3 client=\"192.0.2.7\" via=- record=-\n"),
        "%s", got);

    memset(utf8, 'a', 255);
    strcpy(utf8 + 255, "\xc3\xa9"); /* é across the 256th byte */
    ck_assert_uint_le(cm_log_quote(quoted, sizeof(quoted), utf8), 256 + 2);
    ck_assert_str_eq(quoted + strlen(quoted) - 3, "aa\"");
    ck_assert_uint_le(cm_log_quote(quoted, sizeof(quoted), ctl), 256 + 2);

    ck_assert_int_eq(cm_log_set_format("json"), CM_OK);
    d = (struct cm_log_delivery){.delivery = utf8, .status = 200};
    log_capture();
    cm_log_delivery(&d);
    got = log_take();
    cm_log_set_format("text");
    ck_assert_msg(!strstr(got, "\\\\x"), "the whole value was escaped: %s", got);
    ck_assert_msg(strstr(got, "aaa\",\"endpoint\":null"), "%s", got);
}
END_TEST

/* Off the journal a text line starts with its UTC time, to the millisecond; a delivery's line
 * carries why it was refused, the proxy it came through and its record. */
START_TEST(test_log_time_and_trace)
{
    struct cm_log_delivery d = {.delivery = "d-1",
                                .endpoint = "gh",
                                .status = 403,
                                .reason = "not in allow_from",
                                .client = "203.0.113.7",
                                .via = "127.0.0.1",
                                .record = 12};
    char *got;
    int y, mo, da, h, mi, se, ms, end = 0;

    cm_log_set_time(1);
    log_capture();
    cm_log_delivery(&d);
    got = log_take();
    cm_log_set_time(0);
    ck_assert_int_eq(
        sscanf(got, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &y, &mo, &da, &h, &mi, &se, &ms, &end), 7);
    ck_assert_int_eq(end, 25);
    ck_assert_str_eq(got + end,
                     "cargoman[info] delivery: delivery=\"d-1\" endpoint=\"gh\" repository=- "
                     "status=403 reason=\"not in allow_from\" duration_ms=0 "
                     "client=\"203.0.113.7\" via=\"127.0.0.1\" record=12\n");

    ck_assert_int_eq(cm_log_set_format("json"), CM_OK);
    log_capture();
    cm_log_delivery(&d);
    got = log_take();
    cm_log_set_format("text");
    ck_assert_msg(strstr(got, "\"status\":403,\"reason\":\"not in allow_from\",\"duration_ms\":0,"
                              "\"client\":\"203.0.113.7\",\"via\":\"127.0.0.1\",\"record\":12}"),
                  "%s", got);
}
END_TEST

START_TEST(test_log_escape_buffer)
{
    char out[16] = "untouched";

    ck_assert_uint_eq(cm_log_escape(out, 0, "abc", 0), 0);
    ck_assert_str_eq(out, "untouched");
    /* Room for less than one escape and its NUL: nothing but the NUL. */
    ck_assert_uint_eq(cm_log_escape(out, 4, "abc", 0), 0);
    ck_assert_str_eq(out, "");
    /* ascii_only, for JSON answers: bytes of 0x80 and more are escaped too. */
    ck_assert_uint_eq(cm_log_escape(out, sizeof(out), "\xc3\xa9!", 1), 9);
    ck_assert_str_eq(out, "\\xc3\\xa9!");
    /* Stops before an escape that would not fit whole. */
    ck_assert_uint_eq(cm_log_escape(out, 10, "ab\x01\x02", 0), 2 + 4);
    ck_assert_str_eq(out, "ab\\x01");
}
END_TEST

/* ---- crypto, through the host services a provider plugin calls ---- */

#define JEFE_MSG "what do ya want for nothing?"
/* RFC 4231, test case 2. */
#define JEFE_384                                                                                   \
    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab2" \
    "1649"
#define JEFE_512                                                                                   \
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0" \
    "e6fdcaeab1a34d4a6b4b636e070a38bce737"

START_TEST(test_hmac)
{
    const struct cm_host *h = &cm_host_services;
    size_t len = strlen(JEFE_MSG);
    unsigned char mac[64];
    char upper[sizeof(JEFE_512)], bad[sizeof(JEFE_512)];

    ck_assert_int_eq(h->hmac_verify("sha512", "Jefe", JEFE_MSG, len, JEFE_512), CM_OK);
    ck_assert_int_eq(h->hmac_verify("sha384", "Jefe", JEFE_MSG, len, JEFE_384), CM_OK);
    ck_assert_int_eq(h->hmac("sha512", "Jefe", 4, JEFE_MSG, len, mac), 64);
    ck_assert_int_eq(h->hmac("sha384", "Jefe", 4, JEFE_MSG, len, mac), 48);
    ck_assert_int_eq(mac[0], 0xaf);
    ck_assert_int_eq(mac[47], 0x49);

    /* Hex is read case-insensitively. */
    for (size_t i = 0; i < sizeof(upper); i++)
        upper[i] = (char)(JEFE_512[i] >= 'a' ? JEFE_512[i] - 32 : JEFE_512[i]);
    ck_assert_int_eq(h->hmac_verify("sha512", "Jefe", JEFE_MSG, len, upper), CM_OK);

    /* Another secret, a wrong digest length, a digest of another algorithm, no digest, and
     * right length with a non-hex character: all CM_EAUTH. */
    ck_assert_int_eq(h->hmac_verify("sha512", "jefe", JEFE_MSG, len, JEFE_512), CM_EAUTH);
    ck_assert_int_eq(h->hmac_verify("sha512", "Jefe", JEFE_MSG, len, JEFE_384), CM_EAUTH);
    ck_assert_int_eq(h->hmac_verify("sha512", "Jefe", JEFE_MSG, len, NULL), CM_EAUTH);
    memcpy(bad, JEFE_512, sizeof(bad));
    bad[100] = 'g';
    ck_assert_int_eq(h->hmac_verify("sha512", "Jefe", JEFE_MSG, len, bad), CM_EAUTH);
    bad[100] = JEFE_512[100];
    bad[101] = ' ';
    ck_assert_int_eq(h->hmac_verify("sha512", "Jefe", JEFE_MSG, len, bad), CM_EAUTH);

    /* An algorithm the host does not offer, or none, is the plugin's mistake: CM_EINVAL. */
    ck_assert_int_eq(h->hmac_verify("md5", "Jefe", JEFE_MSG, len, JEFE_512), CM_EINVAL);
    ck_assert_int_eq(h->hmac_verify(NULL, "Jefe", JEFE_MSG, len, JEFE_512), CM_EINVAL);
    ck_assert_int_eq(h->hmac("sha3-256", "Jefe", 4, JEFE_MSG, len, mac), CM_EINVAL);
}
END_TEST

START_TEST(test_hmac_hex)
{
    char out[129];

    ck_assert_int_eq(cm_crypto_hmac_hex("sha384", "Jefe", JEFE_MSG, strlen(JEFE_MSG), out), CM_OK);
    ck_assert_str_eq(out, JEFE_384);
    strcpy(out, "kept");
    ck_assert_int_eq(cm_crypto_hmac_hex("sha224", "Jefe", JEFE_MSG, strlen(JEFE_MSG), out),
                     CM_EINVAL);
    ck_assert_str_eq(out, "kept");
}
END_TEST

START_TEST(test_str_equal)
{
    ck_assert_int_eq(cm_crypto_str_equal("s3cret", "s3cret"), 1);
    ck_assert_int_eq(cm_crypto_str_equal("s3cret", "s3cret "), 0);
    ck_assert_int_eq(cm_crypto_str_equal("s3cret", ""), 0);
    ck_assert_int_eq(cm_crypto_str_equal(NULL, "s3cret"), 0);
    ck_assert_int_eq(cm_crypto_str_equal("s3cret", NULL), 0);
}
END_TEST

static const struct {
    const char *in;
    long want; /* length, or CM_EINVAL */
    const char *bytes;
} b64_cases[] = {
    {"", 0, ""},
    {"QQ==", 1, "A"},
    {"QQ=", 1, "A"},
    {"QQ", 1, "A"},
    {"QUI", 2, "AB"},
    {"QUJD", 3, "ABC"},
    {"QUJDRA", 4, "ABCD"},
    {"Q", CM_EINVAL, NULL},      /* one character cannot hold a byte */
    {"QUJDR", CM_EINVAL, NULL},  /* nor can one after whole quads */
    {"QU*D", CM_EINVAL, NULL},   /* not base64 in a whole quad */
    {"QUJDR*", CM_EINVAL, NULL}, /* nor in the padded tail */
    {"QUJD\n", CM_EINVAL, NULL},
};

START_TEST(test_base64)
{
    const struct cm_host *h = &cm_host_services;
    unsigned char out[16];
    long n;

    memset(out, 0, sizeof(out));
    n = h->base64_decode(b64_cases[_i].in, strlen(b64_cases[_i].in), out);
    ck_assert_msg(n == b64_cases[_i].want, "\"%s\": %ld, want %ld", b64_cases[_i].in, n,
                  b64_cases[_i].want);
    if (n >= 0)
        ck_assert_int_eq(memcmp(out, b64_cases[_i].bytes, (size_t)n), 0);
}
END_TEST

START_TEST(test_base64_round_trip)
{
    const struct cm_host *h = &cm_host_services;
    unsigned char raw[256], back[256 + 3];
    char text[4 * ((256 + 2) / 3) + 1];

    for (size_t len = 0; len <= sizeof(raw); len += 37) {
        ck_assert_int_eq(cm_crypto_random(raw, len), CM_OK);
        h->base64_encode(raw, len, text);
        ck_assert_uint_eq(strlen(text), 4 * ((len + 2) / 3));
        ck_assert_int_eq(h->base64_decode(text, strlen(text), back), (long)len);
        ck_assert_int_eq(memcmp(raw, back, len), 0);
    }
}
END_TEST

/* ---- host services of SDK 1.2: digest, write_file, one state_dir per instance ---- */

START_TEST(test_digest)
{
    const struct cm_host *h = &cm_host_services;
    char hex[129], path[300];
    FILE *f;

    ck_assert_int_eq(h->digest("sha256", "abc", 3, hex), CM_OK);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(h->digest("sha1", "abc", 3, hex), CM_OK);
    ck_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    ck_assert_int_eq(h->digest("md5", "abc", 3, hex), CM_EINVAL);
    ck_assert_int_eq(h->digest("sha512", "abc", 3, hex), CM_EINVAL); /* not offered */
    snprintf(path, sizeof(path), "%s/f", tdir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    for (int i = 0; i < 100000; i++) /* 1 MB: more than one read */
        fputs("0123456789", f);
    fclose(f);
    ck_assert_int_eq(h->digest_file("sha1", path, hex), CM_OK);
    ck_assert_str_eq(hex, "7d24706d7228d63fde8291ceb345fa0c51f38aa4");
    snprintf(path, sizeof(path), "%s/missing", tdir);
    ck_assert_int_eq(h->digest_file("sha256", path, hex), CM_ENOENT);
}
END_TEST

static int t_exists(const char *rel)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", tdir, rel);
    return stat(path, &st) == 0;
}

START_TEST(test_write_file)
{
    const struct cm_host *h = &cm_host_services;
    struct cm_ctx first, second;
    char buf[16] = "", path[600];
    FILE *f;

    /* Two sync entries of one plugin: the one named like it keeps the 1.0 path. */
    cm_ctx_init(&first, "composer", "composer", NULL, NULL, 0, tdir);
    cm_ctx_init(&second, "composer", "eu", NULL, NULL, 0, tdir);
    ck_assert_int_eq(h->write_file(&first, "p2/acme/x.json", "one", 3), CM_OK);
    ck_assert_int_eq(h->write_file(&second, "p2/acme/x.json", "two", 3), CM_OK);
    ck_assert(t_exists("composer/p2/acme/x.json"));
    ck_assert(t_exists("composer@eu/p2/acme/x.json"));
    snprintf(path, sizeof(path), "%s/composer", tdir);
    ck_assert_str_eq(h->state_dir(&first), path);
    snprintf(path, sizeof(path), "%s/composer/p2/acme/x.json", tdir);
    ck_assert_ptr_nonnull(f = fopen(path, "r"));
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    fclose(f);
    ck_assert_str_eq(buf, "one");
    /* Only below the state directory. */
    ck_assert_int_eq(h->write_file(&first, "../escape", "x", 1), CM_EINVAL);
    ck_assert_int_eq(h->write_file(&first, "/tmp/escape", "x", 1), CM_EINVAL);
    ck_assert_int_eq(h->write_file(&first, "a//b", "x", 1), CM_EINVAL);
    ck_assert_int_eq(h->write_file(&first, "", "x", 1), CM_EINVAL);
    ck_assert(!t_exists("escape"));
    /* Nor through a directory link planted below it: the write fails, nothing lands outside,
     * no temp file is left. A link at the file itself is replaced, not written through. */
    snprintf(path, sizeof(path), "%s/outside", tdir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    char link[700];
    snprintf(link, sizeof(link), "%s/composer/p2/evil", tdir);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert_int_eq(h->write_file(&first, "p2/evil/x.json", "x", 1), CM_ERROR);
    ck_assert_int_eq(h->write_file(&first, "p2/evil/new/x.json", "x", 1), CM_ERROR);
    ck_assert(!t_exists("outside/x.json"));
    ck_assert(!t_exists("outside/new"));
    snprintf(path, sizeof(path), "%s/outside/leaf.json", tdir);
    snprintf(link, sizeof(link), "%s/composer/p2/leaf.json", tdir);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert_int_eq(h->write_file(&first, "p2/leaf.json", "y", 1), CM_OK);
    ck_assert(!t_exists("outside/leaf.json"));
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq((int)(st.st_mode & 0777), 0644);
    /* A failed write leaves no temp file: a directory stands where the file should go. */
    ck_assert_int_eq(h->write_file(&first, "p2/acme", "z", 1), CM_ERROR);
    DIR *dh;
    struct dirent *e;
    snprintf(path, sizeof(path), "%s/composer/p2", tdir);
    ck_assert_ptr_nonnull(dh = opendir(path));
    while ((e = readdir(dh)))
        ck_assert_msg(!strstr(e->d_name, ".tmp-"), "left behind: %s", e->d_name);
    closedir(dh);
    cm_ctx_clear(&first);
    cm_ctx_clear(&second);
}
END_TEST

/* ---- file-system helpers ---- */

START_TEST(test_fsutil)
{
    char path[5000], file[300];

    /* Longer than PATH_MAX: refused before any directory is made. */
    memset(path, 'd', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    errno = 0;
    ck_assert_int_eq(cm_fs_mkdir_p(path), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);

    /* A file where a parent should be. */
    snprintf(file, sizeof(file), "%s/file", tdir);
    fclose(fopen(file, "w"));
    snprintf(path, sizeof(path), "%s/file/a/b", tdir);
    errno = 0;
    ck_assert_int_eq(cm_fs_mkdir_p(path), -1);
    ck_assert_int_eq(errno, ENOTDIR);

    /* The file itself: it is not the directory asked for (this used to answer 0). */
    errno = 0;
    ck_assert_int_eq(cm_fs_mkdir_p(file), -1);
    ck_assert_int_eq(errno, EEXIST);
    /* A last name longer than the file system takes. */
    snprintf(path, sizeof(path), "%s/%0300d", tdir, 0);
    errno = 0;
    ck_assert_int_eq(cm_fs_mkdir_p(path), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);

    snprintf(path, sizeof(path), "%s/a/b/c", tdir);
    ck_assert_int_eq(cm_fs_mkdir_p(path), 0);
    ck_assert_int_eq(cm_fs_mkdir_p(path), 0); /* already there */
    snprintf(path, sizeof(path), "%s/a/b/c/", tdir);
    ck_assert_int_eq(cm_fs_mkdir_p(path), 0);
    ck_assert_int_eq(cm_fs_fsync_dir(path), 0);

    snprintf(path, sizeof(path), "%s/missing", tdir);
    errno = 0;
    ck_assert_int_eq(cm_fs_fsync_dir(path), -1);
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_int_eq(cm_fs_fsync_dir(file), -1);
    ck_assert_int_eq(errno, ENOTDIR);

    ck_assert_int_eq(cm_fs_rm_rf(path), 0); /* a missing path is success */
    snprintf(path, sizeof(path), "%s/a", tdir);
    ck_assert_int_eq(cm_fs_rm_rf(path), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* The core's one atomic write: the new content whole, the given mode, no temp file left. */
START_TEST(test_write_atomic)
{
    char path[300], buf[32], dir[300];
    struct stat st;
    struct dirent *e;
    DIR *d;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/state.json", tdir);
    ck_assert_int_eq(cm_fs_write_atomic(path, "first", 5, 0640), 0);
    ck_assert_int_eq(cm_fs_write_atomic(path, "second", 6, 0644), 0);
    ck_assert_ptr_nonnull(f = fopen(path, "r"));
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(memcmp(buf, "second", 6), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(cm_fs_write_atomic(path, "", 0, 0600), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_ptr_nonnull(d = opendir(tdir));
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(!strstr(e->d_name, ".tmp-"), "temp file %s left behind", e->d_name);
    closedir(d);

    /* A missing directory: an error, and nothing made. */
    snprintf(dir, sizeof(dir), "%s/missing/state.json", tdir);
    errno = 0;
    ck_assert_int_eq(cm_fs_write_atomic(dir, "x", 1, 0644), -1);
    ck_assert_int_eq(errno, ENOENT);
    /* A directory in the way: the rename fails and the temp file goes. */
    snprintf(dir, sizeof(dir), "%s/adir", tdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(cm_fs_write_atomic(dir, "x", 1, 0644), -1);
    ck_assert_ptr_nonnull(d = opendir(tdir));
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(!strstr(e->d_name, ".tmp-"), "temp file %s left behind", e->d_name);
    closedir(d);
}
END_TEST

/* ---- hex ---- */

START_TEST(test_hex)
{
    unsigned char bin[4];
    char out[9];

    ck_assert_int_eq(cm_hex_digit('0'), 0);
    ck_assert_int_eq(cm_hex_digit('a'), 10);
    ck_assert_int_eq(cm_hex_digit('F'), 15);
    ck_assert_int_eq(cm_hex_digit('g'), -1);
    ck_assert_int_eq(cm_hex_digit('\0'), -1);
    ck_assert_int_eq(cm_hex_check("deadBEEF", 4, 40), 1);
    ck_assert_int_eq(cm_hex_check("abc", 4, 40), 0);   /* too short */
    ck_assert_int_eq(cm_hex_check("abcdx", 4, 40), 0); /* not hex */
    ck_assert_int_eq(cm_hex_check("", 0, 40), 1);
    ck_assert_int_eq(cm_hex_check(NULL, 0, 40), 0);
    ck_assert_int_eq(cm_hex_decode("00fF7a10", 4, bin), CM_OK);
    ck_assert_int_eq(bin[1], 0xff);
    cm_hex_encode(bin, 4, out);
    ck_assert_str_eq(out, "00ff7a10");
    ck_assert_int_eq(cm_hex_decode("0g", 1, bin), CM_EINVAL);
    ck_assert_int_eq(cm_hex_decode("0", 1, bin), CM_EINVAL); /* stops at the NUL */
}
END_TEST

/* ---- zips the disk refuses ---- */

/* The names in tdir other than keep: after a failed zip, neither its destination nor a temp
 * file may be left. */
static void only_entry(const char *keep)
{
    DIR *d = opendir(tdir);
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                          (keep && !strcmp(e->d_name, keep)),
                      "left behind: %s", e->d_name);
    closedir(d);
}

/* Files may grow to limit bytes in this process until teardown; a write beyond gets EFBIG,
 * not SIGXFSZ. */
static void file_size_limit(rlim_t limit)
{
    struct rlimit rl = {limit, fsize_before.rlim_max};

    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* The scanner's pairwise duplicate check has a budget per document: a payload of thousands of
 * wide objects (a few seconds of CPU a request otherwise) goes to jansson, whose check is a
 * hash table; a push payload's widest object (GitHub's repository, ~90 keys) stays well under. */
/* Keys a sender chooses (delivery ids, repository names) go into hash tables. Under an
 * unkeyed hash (the FNV-1a those tables used) a sender finds, offline and in a moment, many
 * keys that share a bucket, and every look-up then walks all of them; under the keyed hash the
 * same keys spread like random ones. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

START_TEST(test_keyed_hash_spreads_crafted_keys)
{
    enum { WANT = 256, BUCKETS = 4096 };
    static char keys[WANT][32];
    static unsigned char used[BUCKETS];
    size_t found = 0, distinct = 0;

    /* The attack: delivery ids that all fall in bucket 0 of a 4096-bucket FNV-1a table. */
    for (unsigned long n = 0; found < WANT; n++) {
        snprintf(keys[found], sizeof(keys[found]), "delivery-%lu", n);
        if ((fnv1a(keys[found]) & (BUCKETS - 1)) == 0)
            found++;
    }
    for (size_t i = 0; i < WANT; i++) {
        size_t b = (size_t)(cm_keyed_hash(keys[i], strlen(keys[i])) & (BUCKETS - 1));
        distinct += !used[b];
        used[b] = 1;
    }
    /* 256 random keys in 4096 buckets land in about 248 distinct ones. */
    ck_assert_uint_ge(distinct, 200);
    /* Same input, same hash, within the process. */
    ck_assert_uint_eq(cm_keyed_hash("acme/lib", 8), cm_keyed_hash("acme/lib", 8));
    ck_assert_uint_ne(cm_keyed_hash("acme/lib", 8), cm_keyed_hash("acme/lic", 8));
}
END_TEST

START_TEST(test_jscan_duplicate_budget)
{
    size_t cap = 1u << 20, len = 0;
    char *doc = malloc(cap);
    struct cm_jscan d;

    ck_assert_ptr_nonnull(doc);
    doc[len++] = '[';
    for (int o = 0; o < 100; o++) {
        len += (size_t)snprintf(doc + len, cap - len, "%s{", o ? "," : "");
        for (int k = 0; k < 500; k++)
            len += (size_t)snprintf(doc + len, cap - len, "%s\"k%03d\":1", k ? "," : "", k);
        doc[len++] = '}';
    }
    doc[len++] = ']';
    ck_assert_int_eq(cm_jscan_parse(&d, doc, len), CM_EINVAL);
    cm_jscan_free(&d);

    len = 0;
    doc[len++] = '{';
    for (int k = 0; k < 90; k++)
        len += (size_t)snprintf(doc + len, cap - len, "%s\"key_%d\":\"v\"", k ? "," : "", k);
    doc[len++] = '}';
    ck_assert_int_eq(cm_jscan_parse(&d, doc, len), CM_OK);
    ck_assert_int_ge(cm_jscan_member(&d, 0, "key_89", 6), 0);
    cm_jscan_free(&d);
    free(doc);
}
END_TEST

/* Integers of more than 18 digits go to jansson; reading them must not overflow on the way
 * (undefined behaviour, which the sanitizer build turns into a failure). */
START_TEST(test_jscan_long_integer)
{
    static const char big[] = "[123456789012345678901234567890, -99999999999999999999]";
    static const char fits[] = "[999999999999999999, -999999999999999999]";
    struct cm_jscan d;

    ck_assert_int_eq(cm_jscan_parse(&d, big, strlen(big)), CM_EINVAL);
    cm_jscan_free(&d);
    ck_assert_int_eq(cm_jscan_parse(&d, fits, strlen(fits)), CM_OK);
    ck_assert(d.tok[cm_jscan_element(&d, 0, 0)].ival == 999999999999999999LL);
    ck_assert(d.tok[cm_jscan_element(&d, 0, 1)].ival == -999999999999999999LL);
    cm_jscan_free(&d);
}
END_TEST

START_TEST(test_zip_write_fails)
{
    static unsigned char noise[256 * 1024];
    struct cm_zip *z;
    char dest[300];

    ck_assert_int_eq(cm_crypto_random(noise, sizeof(noise)), CM_OK); /* does not compress */
    snprintf(dest, sizeof(dest), "%s/dist.zip", tdir);
    ck_assert_int_eq(cm_zip_open(&z, dest), CM_OK);
    ck_assert_int_eq(cm_zip_add_file(z, "README", 0644, "hello\n", 6), CM_OK);
    file_size_limit(64 * 1024);
    ck_assert_int_eq(cm_zip_add_file(z, "noise.bin", 0644, noise, sizeof(noise)), CM_ERROR);
    /* The archive is dead: later members fail at their header. */
    ck_assert_int_eq(cm_zip_add_file(z, "more", 0644, "x", 1), CM_ERROR);
    ck_assert_int_eq(cm_zip_add_symlink(z, "link", "README", 6), CM_ERROR);
    cm_zip_abort(z);
    only_entry(NULL);
}
END_TEST

START_TEST(test_zip_close_fails)
{
    static unsigned char noise[4096];
    struct cm_zip *z;
    char dest[300];

    /* Small members stay in libarchive's buffer: the disk refuses only at close. */
    ck_assert_int_eq(cm_crypto_random(noise, sizeof(noise)), CM_OK);
    snprintf(dest, sizeof(dest), "%s/dist.zip", tdir);
    ck_assert_int_eq(cm_zip_open(&z, dest), CM_OK);
    file_size_limit(1024);
    ck_assert_int_eq(cm_zip_add_file(z, "noise.bin", 0644, noise, sizeof(noise)), CM_OK);
    ck_assert_int_eq(cm_zip_close(z), CM_ERROR);
    only_entry(NULL);
}
END_TEST

START_TEST(test_zip_rename_fails)
{
    struct cm_zip *z;
    char dest[300];

    /* A directory where the zip should go: the rename fails, the directory stays. */
    snprintf(dest, sizeof(dest), "%s/dist.zip", tdir);
    ck_assert_int_eq(mkdir(dest, 0755), 0);
    ck_assert_int_eq(cm_zip_open(&z, dest), CM_OK);
    ck_assert_int_eq(cm_zip_add_file(z, "run.sh", 0755, "#!/bin/sh\n", 10), CM_OK);
    ck_assert_int_eq(cm_zip_close(z), CM_ERROR);
    only_entry("dist.zip");
    ck_assert_int_eq(rmdir(dest), 0);

    /* In a directory that does not exist there is no temp file to make. */
    snprintf(dest, sizeof(dest), "%s/none/dist.zip", tdir);
    errno = 0;
    ck_assert_int_eq(cm_zip_open(&z, dest), CM_ERROR);
    ck_assert_ptr_null(z);
    ck_assert_int_eq(errno, ENOENT);
    cm_zip_abort(NULL);
}
END_TEST

/* ---- status words and HTTP codes ---- */

static const struct {
    int status, http;
    const char *name;
} statuses[] = {
    {CM_OK, 202, "ok"},         {CM_EIGNORE, 200, "ignore"}, {CM_EINVAL, 400, "einval"},
    {CM_EAUTH, 401, "eauth"},   {CM_EAGAIN, 503, "eagain"},  {CM_ERROR, 500, "error"},
    {CM_ENOMEM, 500, "enomem"}, {CM_ENOENT, 500, "enoent"},  {-99, 500, "unknown"},
};

START_TEST(test_status)
{
    ck_assert_int_eq(cm_status_http(statuses[_i].status), statuses[_i].http);
    ck_assert_str_eq(cm_status_name(statuses[_i].status), statuses[_i].name);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("log");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_log_escape);
    tcase_add_test(tc, test_log_levels);
    tcase_add_test(tc, test_log_truncation);
    tcase_add_test(tc, test_log_escape_buffer);
    tcase_add_test(tc, test_log_delivery_budget);
    tcase_add_test(tc, test_log_time_and_trace);
    suite_add_tcase(s, tc);

    tc = tcase_create("crypto");
    tcase_add_test(tc, test_hmac);
    tcase_add_test(tc, test_hmac_hex);
    tcase_add_test(tc, test_str_equal);
    tcase_add_loop_test(tc, test_base64, 0, (int)(sizeof(b64_cases) / sizeof(b64_cases[0])));
    tcase_add_test(tc, test_base64_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fsutil);
    tcase_add_test(tc, test_digest);
    tcase_add_test(tc, test_write_file);
    tcase_add_test(tc, test_write_atomic);
    tcase_add_test(tc, test_hex);
    tcase_add_test(tc, test_jscan_duplicate_budget);
    tcase_add_test(tc, test_keyed_hash_spreads_crafted_keys);
    tcase_add_test(tc, test_jscan_long_integer);
    tcase_add_test(tc, test_zip_write_fails);
    tcase_add_test(tc, test_zip_close_fails);
    tcase_add_test(tc, test_zip_rename_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("status");
    tcase_add_loop_test(tc, test_status, 0, (int)(sizeof(statuses) / sizeof(statuses[0])));
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
