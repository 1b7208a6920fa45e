/* SPDX-License-Identifier: MIT */
/*
 * The composer plugin's repository files: SHA-1, the minified format, atomic writes, and the
 * plugin driven through its descriptor with a fake host (composer_fake_host.c): publishing,
 * skipped refs with notes, deleted refs, name conflicts across restarts, incremental syncs,
 * the packages patterns and ownership against an endpoint without a secret, oversize files,
 * and state files a cluster's host replaced (state_changed).
 */
#include "composer_fake_host.h"
#include "index.h"
#include "p2.h"
#include "state.h"

#include <cargoman/plugin.h>

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct cm_sync_plugin cargoman_sync_plugin;

static const struct cm_sync_plugin *plug = &cargoman_sync_plugin;

/* ---- helpers ---------------------------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmc-check-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tmpdir(void)
{
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int temp_found;

static int find_temp(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (strstr(path + ftw->base, ".tmp.") || strstr(path + ftw->base, "fake-tmp"))
        temp_found++;
    return 0;
}

/* No temp file anywhere, and packages.json names only packages whose p2 files exist. */
static void check_tree_consistent(const char *dir)
{
    char path[1024];
    json_t *doc, *name;
    size_t i;

    temp_found = 0;
    nftw(dir, find_temp, 16, FTW_PHYS);
    ck_assert_int_eq(temp_found, 0);
    snprintf(path, sizeof(path), "%s/packages.json", dir);
    doc = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "metadata-url")), "/p2/%package%.json");
    json_array_foreach (json_object_get(doc, "available-packages"), i, name) {
        snprintf(path, sizeof(path), "%s/p2/%s.json", dir, json_string_value(name));
        ck_assert_msg(access(path, R_OK) == 0, "%s listed but missing", path);
        snprintf(path, sizeof(path), "%s/p2/%s~dev.json", dir, json_string_value(name));
        ck_assert_msg(access(path, R_OK) == 0, "%s listed but missing", path);
    }
    json_decref(doc);
}

static json_t *load(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    return json_load_file(path, 0, NULL);
}

/* The expanded versions of a p2 file, checked to be in the minified format. */
static json_t *load_versions(const char *name, int dev)
{
    char rel[256];
    json_t *doc, *out;
    snprintf(rel, sizeof(rel), "p2/%s%s.json", name, dev ? "~dev" : "");
    doc = load(rel);
    ck_assert_msg(doc != NULL, "%s missing", rel);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "minified")), "composer/2.0");
    out = cmc_expand(json_object_get(json_object_get(doc, "packages"), name));
    ck_assert_ptr_nonnull(out);
    json_decref(doc);
    return out;
}

#ifndef CMC_FIXTURES
#define CMC_FIXTURES "tests/fixtures/composer"
#endif
#define COMPOSER_MINIFIER "/usr/share/php/Composer/MetadataMinifier/MetadataMinifier.php"

/* Set by main() before the tests fork: whether php and Composer's MetadataMinifier are here. */
static int have_minifier;

/* When PHP and Composer are installed, Composer's own MetadataMinifier must expand the p2 file
 * to what we expand, and minify that back to exactly the bytes we wrote. */
static void php_roundtrip(const char *name, int dev)
{
    const char *dir = getenv("CMC_FIXTURES") ? getenv("CMC_FIXTURES") : CMC_FIXTURES;
    char cmd[2048], *line = NULL;
    size_t cap = 0;
    FILE *php;
    json_t *theirs, *ours;

    if (!have_minifier)
        return; /* main() said SKIP */
    snprintf(cmd, sizeof(cmd), "php '%s/minify.php' '" COMPOSER_MINIFIER "' '%s/p2/%s%s.json' '%s'",
             dir, tmpdir, name, dev ? "~dev" : "", name);
    php = popen(cmd, "r");
    ck_assert_ptr_nonnull(php);
    ck_assert_int_gt(getline(&line, &cap, php), 0);
    theirs = json_loads(line, 0, NULL);
    ours = load_versions(name, dev);
    ck_assert_msg(json_equal(theirs, ours), "Composer expands %s differently", name);
    ck_assert_int_gt(getline(&line, &cap, php), 0);
    ck_assert_str_eq(line, "same\n");
    ck_assert_int_eq(pclose(php), 0);
    json_decref(theirs);
    json_decref(ours);
    free(line);
}

static int has_version(json_t *versions, const char *version)
{
    size_t i;
    json_t *v;
    json_array_foreach (versions, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "version")), version) == 0)
            return 1;
    }
    return 0;
}

static ino_t inode_of(const char *rel)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static int exists(const char *rel)
{
    return inode_of(rel) != 0;
}

static void *make_plugin(struct cm_ctx **ctx)
{
    void *self = NULL;
    *ctx = fake_ctx_new(tmpdir, "http://127.0.0.1:8080/");
    ck_assert_int_eq(plug->create(fake_host(), *ctx, &self), CM_OK);
    ck_assert_int_eq(plug->start(self), CM_OK);
    return self;
}

/* What the host does at shutdown or when a SIGHUP retired the instance. */
static void end_plugin(void *self)
{
    plug->stop(self);
    plug->destroy(self);
}

static int sync_full(void *self, struct cm_mirror *m)
{
    struct cm_event *ev = fake_event_new(0);
    int rc = plug->on_sync(self, ev, m);
    fake_event_free(ev);
    return rc;
}

/* Keys deliberately not in sorted order: a sync that reloads state must not reorder them. */
#define FOO_MAIN "{\"require\":{\"php\":\">=8.1\"},\"name\":\"acme/foo\",\"description\":\"Foo\"}"
#define FOO_V1 "{\"name\":\"acme/foo\",\"description\":\"Foo\",\"require\":{\"php\":\">=7.4\"}}"

/* acme/foo from github: main, 1.x, docs (no composer.json), v1.0.0, v1.1.0-RC2, and two
 * broken tags: v0.9 (bad JSON) and v0.8.0 (no name). */
static struct cm_mirror *repo_foo(void)
{
    struct cm_mirror *m =
        fake_mirror_new("github", "acme/foo", "https://git.example.com/acme/foo.git", "main");
    fake_mirror_add_file(m, fake_id(0), "composer.json", FOO_MAIN);
    fake_mirror_add_file(m, fake_id(1), "composer.json", FOO_V1);
    fake_mirror_add_file(m, fake_id(2), "composer.json",
                         "{\"name\":\"acme/foo\",\"description\":\"Foo\",\"license\":\"MIT\"}");
    fake_mirror_add_file(m, fake_id(3), "composer.json", "{\"name\":\"acme/foo\"}");
    fake_mirror_add_file(m, fake_id(4), "composer.json", "{name: broken");
    fake_mirror_add_file(m, fake_id(5), "README.md", "docs only");
    fake_mirror_add_file(m, fake_id(6), "composer.json", "{\"description\":\"no name\"}");
    fake_mirror_set_ref(m, "refs/heads/main", fake_id(0));
    fake_mirror_set_ref(m, "refs/tags/v1.0.0", fake_id(1));
    fake_mirror_set_ref(m, "refs/tags/v1.1.0-RC2", fake_id(2));
    fake_mirror_set_ref(m, "refs/heads/1.x", fake_id(3));
    fake_mirror_set_ref(m, "refs/tags/v0.9", fake_id(4));
    fake_mirror_set_ref(m, "refs/heads/docs", fake_id(5));
    fake_mirror_set_ref(m, "refs/tags/v0.8.0", fake_id(6));
    return m;
}

static struct cm_mirror *repo_named(const char *endpoint, const char *repo, const char *pkg, int id)
{
    char json[256];
    struct cm_mirror *m = fake_mirror_new(endpoint, repo, "https://git.example.com/x.git", "main");
    snprintf(json, sizeof(json), "{\"name\":\"%s\"}", pkg);
    fake_mirror_add_file(m, fake_id(id), "composer.json", json);
    fake_mirror_set_ref(m, "refs/heads/main", fake_id(id));
    fake_mirror_set_ref(m, "refs/tags/2.0.0", fake_id(id));
    return m;
}

/* ---- pure functions --------------------------------------------------------------------- */

static const struct {
    const char *in, *hex;
} sha1_cases[] = {
    {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
};

/* The host's digest service, which the plugin's dist shasums rely on. */
START_TEST(test_sha1)
{
    char hex[129];
    ck_assert_int_eq(fake_host()->digest("sha1", sha1_cases[_i].in, strlen(sha1_cases[_i].in), hex),
                     CM_OK);
    ck_assert_str_eq(hex, sha1_cases[_i].hex);
}
END_TEST

START_TEST(test_sha1_file)
{
    char path[512], hex[129];
    char *big = malloc(1000000);
    struct cm_ctx *ctx;
    struct cmc_files f;
    make_tmpdir();
    ctx = fake_ctx_new(tmpdir, NULL);
    f = (struct cmc_files){fake_host(), ctx, tmpdir};
    memset(big, 'a', 1000000);
    snprintf(path, sizeof(path), "%s/a.bin", tmpdir);
    ck_assert_int_eq(cmc_write_file(&f, "a.bin", big, 1000000), CM_OK);
    ck_assert_int_eq(fake_host()->digest_file("sha1", path, hex), CM_OK);
    ck_assert_str_eq(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(big);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

static const struct {
    const char *full, *minified;
} minify_cases[] = {
    {"[]", "[]"},
    {"[{\"a\":1}]", "[{\"a\":1}]"},
    {"[{\"a\":1,\"b\":2,\"c\":3},{\"a\":1,\"b\":5,\"c\":3},{\"a\":1,\"b\":5},"
     "{\"a\":1,\"b\":5,\"c\":null},{\"a\":2,\"b\":5,\"d\":[1]}]",
     "[{\"a\":1,\"b\":2,\"c\":3},{\"b\":5},{\"c\":\"__unset\"},{\"c\":\"__unset\"},"
     "{\"a\":2,\"d\":[1]}]"},
    {"[{\"r\":{\"php\":\"^8\"},\"v\":\"2\"},{\"r\":{\"php\":\"^8\"},\"v\":\"1\"},"
     "{\"r\":{\"php\":\"^7\"},\"v\":\"0\"}]",
     "[{\"r\":{\"php\":\"^8\"},\"v\":\"2\"},{\"v\":\"1\"},{\"r\":{\"php\":\"^7\"},\"v\":\"0\"}]"},
};

START_TEST(test_minify)
{
    json_t *full = json_loads(minify_cases[_i].full, 0, NULL);
    json_t *want = json_loads(minify_cases[_i].minified, 0, NULL);
    json_t *got = cmc_minify(full), *back;
    ck_assert_msg(json_equal(got, want), "minify %s", minify_cases[_i].full);
    back = cmc_expand(got);
    /* null values expand as missing, as Composer's own round trip does; the others come back. */
    if (!strstr(minify_cases[_i].full, "null"))
        ck_assert(json_equal(back, full));
    json_decref(full);
    json_decref(want);
    json_decref(got);
    json_decref(back);
}
END_TEST

START_TEST(test_atomic_write)
{
    const char *path = "deep/er/file.json";
    int written = -1;
    ino_t before;
    struct cm_ctx *ctx;
    struct cmc_files f;

    make_tmpdir();
    ctx = fake_ctx_new(tmpdir, NULL);
    f = (struct cmc_files){fake_host(), ctx, tmpdir};
    ck_assert_int_eq(cmc_write_file(&f, path, "{}", 2), CM_OK);
    ck_assert_int_eq(cmc_write_file(&f, path, "{\"a\":1}", 7), CM_OK);
    json_t *doc = load("deep/er/file.json");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "a")), 1);
    json_decref(doc);
    before = inode_of("deep/er/file.json");
    ck_assert_int_eq(cmc_write_if_changed(&f, path, "{\"a\":1}", 7, &written), CM_OK);
    ck_assert_int_eq(written, 0);
    ck_assert(inode_of("deep/er/file.json") == before);
    ck_assert_int_eq(cmc_write_if_changed(&f, path, "{\"a\":2}", 7, &written), CM_OK);
    ck_assert_int_eq(written, 1);
    /* A directory in the way makes the rename fail: the temp file must still go. */
    ck_assert_int_ne(cmc_write_file(&f, "deep", "x", 1), CM_OK);
    temp_found = 0;
    nftw(tmpdir, find_temp, 16, FTW_PHYS);
    ck_assert_int_eq(temp_found, 0);
    /* Nothing outside the state directory. */
    ck_assert_int_eq(cmc_write_file(&f, "../escape", "x", 1), CM_EINVAL);
    ck_assert_int_eq(cmc_write_file(&f, "/tmp/escape", "x", 1), CM_EINVAL);
    ck_assert_int_eq(cmc_write_file(&f, "a/./b", "x", 1), CM_EINVAL);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* ---- the plugin through its descriptor -------------------------------------------------- */

static const struct {
    const char *base_url;
    int not_string, rc;
} config_cases[] = {
    {NULL, 0, CM_EINVAL},
    {"", 0, CM_EINVAL},
    {"ftp://x.example", 0, CM_EINVAL},
    {"http://", 0, CM_EINVAL},
    {"http://x", 1, CM_EINVAL},
    {"https://packages.example.com", 0, CM_OK},
    {"http://127.0.0.1:8080/", 0, CM_OK},
};

START_TEST(test_config)
{
    void *self = NULL;
    struct cm_ctx *ctx;
    make_tmpdir();
    ctx = fake_ctx_new(tmpdir, config_cases[_i].base_url);
    if (config_cases[_i].not_string)
        fake_ctx_base_url_not_string(ctx);
    ck_assert_int_eq(plug->create(fake_host(), ctx, &self), config_cases[_i].rc);
    if (config_cases[_i].rc != CM_OK)
        ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_ERR), "base_url"));
    else
        plug->destroy(self);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* create runs for `cargoman check` too: it reads settings and writes nothing; start (serve
 * only) makes the repository, an empty one being valid. */
START_TEST(test_create_writes_nothing)
{
    struct cm_ctx *ctx;
    void *self = NULL;
    DIR *d;
    struct dirent *e;
    int entries = 0;

    make_tmpdir();
    ctx = fake_ctx_new(tmpdir, "http://127.0.0.1:8080/");
    ck_assert_int_eq(plug->create(fake_host(), ctx, &self), CM_OK);
    ck_assert_ptr_nonnull(d = opendir(tmpdir));
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 0);
    ck_assert_int_eq(plug->start(self), CM_OK);
    ck_assert(exists("packages.json"));
    end_plugin(self);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

START_TEST(test_publish)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m;
    json_t *tags, *devs, *v, *raw, *pk;
    char path[512], hex[129];

    make_tmpdir();
    self = make_plugin(&ctx);
    m = repo_foo();
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    check_tree_consistent(tmpdir);

    pk = load("packages.json");
    ck_assert_int_eq(json_array_size(json_object_get(pk, "available-packages")), 1);
    v = json_array_get(json_object_get(pk, "available-packages"), 0);
    ck_assert_str_eq(json_string_value(v), "acme/foo");
    json_decref(pk);

    tags = load_versions("acme/foo", 0);
    ck_assert_int_eq(json_array_size(tags), 2);
    v = json_array_get(tags, 0); /* newest first */
    ck_assert_str_eq(json_string_value(json_object_get(v, "version")), "v1.1.0-RC2");
    ck_assert_str_eq(json_string_value(json_object_get(v, "version_normalized")), "1.1.0.0-RC2");
    ck_assert_str_eq(json_string_value(json_object_get(v, "license")), "MIT");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "source"), "type")),
                     "git");
    v = json_array_get(tags, 1);
    ck_assert_str_eq(json_string_value(json_object_get(v, "version")), "v1.0.0");
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "acme/foo");
    ck_assert_ptr_null(json_object_get(v, "license"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "source"), "url")),
                     "https://git.example.com/acme/foo.git");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "source"), "reference")),
                     fake_id(1));
    json_t *dist = json_object_get(v, "dist");
    snprintf(path, sizeof(path), "http://127.0.0.1:8080/dist/acme/foo/%s.zip", fake_id(1));
    ck_assert_str_eq(json_string_value(json_object_get(dist, "url")), path);
    ck_assert_str_eq(json_string_value(json_object_get(dist, "type")), "zip");
    snprintf(path, sizeof(path), "%s/dist/acme/foo/%s.zip", tmpdir, fake_id(1));
    ck_assert_int_eq(fake_host()->digest_file("sha1", path, hex), CM_OK);
    ck_assert_str_eq(json_string_value(json_object_get(dist, "shasum")), hex);
    json_decref(tags);

    /* The stored form is minified: the second version repeats neither name nor source type. */
    raw = load("p2/acme/foo.json");
    v = json_array_get(json_object_get(json_object_get(raw, "packages"), "acme/foo"), 1);
    ck_assert_ptr_null(json_object_get(v, "name"));
    ck_assert_str_eq(json_string_value(json_object_get(v, "license")), "__unset");
    json_decref(raw);

    devs = load_versions("acme/foo", 1);
    ck_assert_int_eq(json_array_size(devs), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(devs, 0), "version")),
                     "1.x-dev");
    ck_assert_ptr_null(json_object_get(json_array_get(devs, 0), "default-branch"));
    v = json_array_get(devs, 1);
    ck_assert_str_eq(json_string_value(json_object_get(v, "version")), "dev-main");
    ck_assert(json_is_true(json_object_get(v, "default-branch")));
    json_decref(devs);

    ck_assert_ptr_null(fake_mirror_note(m, "refs/tags/v1.0.0"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(m, "refs/tags/v0.9"), "not valid JSON"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(m, "refs/tags/v0.8.0"), "\"name\""));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(m, "refs/heads/docs"), "no composer.json"));
    ck_assert_int_eq(fake_mirror_archives(m), 4);
    php_roundtrip("acme/foo", 0);
    php_roundtrip("acme/foo", 1);

    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* Push tag v1.2.0 of acme/foo (FOO_V1 at commit 7) and sync it, as its webhook would. */
static void push_v120(void *self, struct cm_mirror *m)
{
    struct cm_event *ev = fake_event_new(1);

    fake_mirror_add_file(m, fake_id(7), "composer.json", FOO_V1);
    fake_mirror_set_ref(m, "refs/tags/v1.2.0", fake_id(7));
    fake_event_add(ev, "refs/tags/v1.2.0", NULL, fake_id(7));
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);
}

START_TEST(test_incremental)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_foo(), *bar = repo_named("github", "acme/bar", "acme/bar", 20);
    struct cm_event *ev;
    ino_t tags_ino, dev_ino, bar_ino, bar_dev_ino;
    json_t *tags;

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, bar), CM_OK);
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    tags_ino = inode_of("p2/acme/foo.json");
    dev_ino = inode_of("p2/acme/foo~dev.json");
    bar_ino = inode_of("p2/acme/bar.json");
    bar_dev_ino = inode_of("p2/acme/bar~dev.json");
    fake_mirror_reset_counts(m);

    push_v120(self, m);

    ck_assert_int_eq(fake_mirror_reads(m), 1);
    ck_assert_int_eq(fake_mirror_archives(m), 1);
    ck_assert(inode_of("p2/acme/foo.json") != tags_ino);
    ck_assert(inode_of("p2/acme/foo~dev.json") == dev_ino);
    ck_assert(inode_of("p2/acme/bar.json") == bar_ino);
    ck_assert(inode_of("p2/acme/bar~dev.json") == bar_dev_ino);
    tags = load_versions("acme/foo", 0);
    ck_assert_int_eq(json_array_size(tags), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tags, 0), "version")),
                     "v1.2.0");
    json_decref(tags);
    check_tree_consistent(tmpdir);

    /* Nothing changed: nothing read, nothing written. */
    fake_mirror_reset_counts(m);
    tags_ino = inode_of("p2/acme/foo.json");
    ev = fake_event_new(1);
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);
    ck_assert_int_eq(fake_mirror_reads(m), 0);
    ck_assert_int_eq(fake_mirror_archives(m), 0);
    ck_assert(inode_of("p2/acme/foo.json") == tags_ino);

    /* A new mirror (re-cloned) reads every ref again. */
    fake_mirror_set_new(m, 1);
    ev = fake_event_new(1);
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);
    ck_assert_int_eq(fake_mirror_reads(m), 8);

    plug->destroy(self);
    fake_mirror_free(m);
    fake_mirror_free(bar);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

static char state_file[1024];

static int find_state(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (flag == FTW_F && strstr(path, "/repos/") && strstr(path + ftw->base, "foo"))
        snprintf(state_file, sizeof(state_file), "%s", path);
    return 0;
}

/* What the plugin keeps in memory between syncs serves only while the state file is the one
 * it saved: a state written by anyone else (another instance, a takeover, an operator) is read
 * again, so the output is what a cold start would publish. */
START_TEST(test_cache_follows_state_file)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_foo();
    json_t *st, *composer, *tags;
    size_t i;

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    state_file[0] = '\0';
    nftw(tmpdir, find_state, 16, FTW_PHYS);
    ck_assert_str_ne(state_file, "");
    st = json_load_file(state_file, 0, NULL);
    composer = json_object_get(json_object_get(json_object_get(st, "refs"), "refs/tags/v1.0.0"),
                               "composer");
    ck_assert_ptr_nonnull(composer);
    json_object_set_new(composer, "description", json_string("written by someone else"));
    ck_assert_int_eq(json_dump_file(st, state_file, 0), 0);
    json_decref(st);

    push_v120(self, m);
    tags = load_versions("acme/foo", 0);
    ck_assert_int_eq(json_array_size(tags), 3);
    json_array_foreach (tags, i, composer) {
        const char *d = json_string_value(json_object_get(composer, "description"));
        int tampered = d && strcmp(d, "written by someone else") == 0;
        ck_assert_int_eq(tampered, strcmp(json_string_value(json_object_get(composer, "version")),
                                          "v1.0.0") == 0);
    }
    json_decref(tags);
    check_tree_consistent(tmpdir);
    php_roundtrip("acme/foo", 0);

    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* A zip removed from dist/ by hand is made again at the next publish, though the plugin
 * remembers that version as published (the directory changed, so nothing is taken on trust). */
START_TEST(test_cache_sees_removed_zip)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_foo();
    char zip[1024];

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    snprintf(zip, sizeof(zip), "%s/dist/acme/foo/%s.zip", tmpdir, fake_id(1));
    ck_assert_int_eq(access(zip, R_OK), 0);
    ck_assert_int_eq(unlink(zip), 0);
    fake_mirror_reset_counts(m);
    push_v120(self, m);
    ck_assert_int_eq(access(zip, R_OK), 0);
    ck_assert_int_eq(fake_mirror_archives(m), 2); /* v1.2.0's and the one put back */
    check_tree_consistent(tmpdir);

    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

START_TEST(test_deleted_ref)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_foo();
    struct cm_event *ev;
    json_t *tags, *devs;
    char rel[256];

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    fake_mirror_set_ref(m, "refs/tags/v1.0.0", NULL);
    fake_mirror_set_ref(m, "refs/heads/1.x", NULL);
    ev = fake_event_new(1);
    fake_event_add(ev, "refs/tags/v1.0.0", fake_id(1), NULL);
    fake_event_add(ev, "refs/heads/1.x", fake_id(3), NULL);
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);

    tags = load_versions("acme/foo", 0);
    devs = load_versions("acme/foo", 1);
    ck_assert(!has_version(tags, "v1.0.0") && has_version(tags, "v1.1.0-RC2"));
    ck_assert(!has_version(devs, "1.x-dev") && has_version(devs, "dev-main"));
    snprintf(rel, sizeof(rel), "dist/acme/foo/%s.zip", fake_id(1));
    ck_assert_msg(!exists(rel), "zip of a deleted tag is removed");
    json_decref(tags);
    json_decref(devs);
    check_tree_consistent(tmpdir);
    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

START_TEST(test_conflict_and_rename)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *owner = repo_named("github", "acme/foo", "acme/foo", 10);
    struct cm_mirror *rival = repo_named("gitlab", "other/foo", "acme/foo", 11);
    json_t *tags, *pk;
    ino_t ino;

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, owner), CM_OK);
    ino = inode_of("p2/acme/foo.json");
    ck_assert_int_eq(sync_full(self, rival), CM_OK);
    ck_assert(inode_of("p2/acme/foo.json") == ino);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(rival, "refs/tags/2.0.0"), "github:acme/foo"));
    ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING), "github:acme/foo"));
    ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING), "gitlab:other/foo"));

    /* After a restart the first owner still wins. */
    plug->destroy(self);
    fake_ctx_free(ctx);
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, rival), CM_OK);
    ck_assert(inode_of("p2/acme/foo.json") == ino);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(rival, "refs/heads/main"), "already published"));

    /* The owner renames its package: the old name is released and the rival may take it. */
    fake_mirror_add_file(owner, fake_id(12), "composer.json", "{\"name\":\"acme/foo2\"}");
    fake_mirror_set_ref(owner, "refs/heads/main", fake_id(12));
    fake_mirror_set_ref(owner, "refs/tags/2.0.0", fake_id(12));
    ck_assert_int_eq(sync_full(self, owner), CM_OK);
    ck_assert(!exists("p2/acme/foo.json") && exists("p2/acme/foo2.json"));
    pk = load("packages.json");
    ck_assert_int_eq(json_array_size(json_object_get(pk, "available-packages")), 1);
    json_decref(pk);
    check_tree_consistent(tmpdir);

    ck_assert_int_eq(sync_full(self, rival), CM_OK);
    ck_assert_ptr_null(fake_mirror_note(rival, "refs/heads/main"));
    tags = load_versions("acme/foo", 0);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(tags, 0), "source"), "reference")),
                     fake_id(11));
    json_decref(tags);
    pk = load("packages.json");
    ck_assert_int_eq(json_array_size(json_object_get(pk, "available-packages")), 2);
    json_decref(pk);
    check_tree_consistent(tmpdir);

    plug->destroy(self);
    fake_mirror_free(owner);
    fake_mirror_free(rival);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* A SIGHUP creates a new instance while the old one may still be publishing: both must see
 * one ownership map and one packages.json, or the old one would overwrite the new one's list. */
START_TEST(test_reload_overlap)
{
    struct cm_ctx *ctx_old, *ctx_new;
    void *old_self, *new_self;
    struct cm_mirror *a = repo_named("github", "acme/a", "acme/a", 20);
    struct cm_mirror *b = repo_named("github", "acme/b", "acme/b", 21);
    struct cm_mirror *rival = repo_named("gitlab", "other/a", "acme/a", 22);
    json_t *pk;

    make_tmpdir();
    old_self = make_plugin(&ctx_old);
    new_self = make_plugin(&ctx_new);
    ck_assert_int_eq(sync_full(new_self, a), CM_OK);
    /* The old instance, still finishing a sync, knows what the new one published. */
    ck_assert_int_eq(sync_full(old_self, b), CM_OK);
    pk = load("packages.json");
    ck_assert_int_eq(json_array_size(json_object_get(pk, "available-packages")), 2);
    json_decref(pk);
    ck_assert_int_eq(sync_full(old_self, rival), CM_OK);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(rival, "refs/heads/main"), "already published"));
    end_plugin(old_self); /* the old generation goes once its last sync returned */
    fake_ctx_free(ctx_old);
    check_tree_consistent(tmpdir);
    ck_assert_int_eq(sync_full(new_self, b), CM_OK); /* the new one's map outlives the old */
    end_plugin(new_self);
    fake_ctx_free(ctx_new);
    fake_mirror_free(a);
    fake_mirror_free(b);
    fake_mirror_free(rival);
    remove_tmpdir();
}
END_TEST

/* A zip that cannot be made: the version is published without dist, the sync asks for a retry,
 * and the retry adds the dist without reading composer.json again. */
START_TEST(test_archive_retry)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_named("github", "acme/zip", "acme/zip", 40);
    struct cm_event *ev;
    json_t *tags;

    make_tmpdir();
    self = make_plugin(&ctx);
    fake_mirror_fail_archives(m, 1);
    ck_assert_int_eq(sync_full(self, m), CM_EAGAIN);
    tags = load_versions("acme/zip", 0);
    ck_assert_int_eq(json_array_size(tags), 1);
    ck_assert_ptr_null(json_object_get(json_array_get(tags, 0), "dist"));
    json_decref(tags);
    check_tree_consistent(tmpdir);

    fake_mirror_fail_archives(m, 0);
    fake_mirror_reset_counts(m);
    ev = fake_event_new(1);
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);
    ck_assert_int_eq(fake_mirror_reads(m), 0);
    ck_assert_int_eq(fake_mirror_archives(m), 1);
    tags = load_versions("acme/zip", 0);
    ck_assert_ptr_nonnull(json_object_get(json_array_get(tags, 0), "dist"));
    json_decref(tags);
    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* ---- who may publish which name: packages patterns and ownership ------------------------ */

static void *make_plugin_with(struct cm_ctx **ctx, const char *const *packages)
{
    void *self = NULL;
    *ctx = fake_ctx_new(tmpdir, "http://127.0.0.1:8080/");
    if (packages)
        fake_ctx_set_packages(*ctx, packages);
    ck_assert_int_eq(plug->create(fake_host(), *ctx, &self), CM_OK);
    ck_assert_int_eq(plug->start(self), CM_OK);
    return self;
}

/* The commit the tagged version 2.0.0 of pkg is published from, "" when it is not. */
static const char *published_from(const char *pkg)
{
    static char ref[64];
    char rel[256];
    json_t *doc, *v;

    snprintf(rel, sizeof(rel), "p2/%s.json", pkg);
    ref[0] = '\0';
    if (!(doc = load(rel)))
        return ref;
    v = cmc_expand(json_object_get(json_object_get(doc, "packages"), pkg));
    snprintf(ref, sizeof(ref), "%s",
             json_string_value(
                 json_object_get(json_object_get(json_array_get(v, 0), "source"), "reference")));
    json_decref(v);
    json_decref(doc);
    return ref;
}

static const struct {
    const char *packages[4];
    int scalar; /* packages[0] is a single string (a number when NULL), not a list */
    int rc;
    const char *log; /* what the refusal names */
} packages_cases[] = {
    {{"acme/*", "github:acme/*", "gitlab:tools/cli", NULL}, 0, CM_OK, NULL},
    {{NULL}, 0, CM_OK, NULL},
    {{"github:acme/*", "github:acme/cli", NULL}, 0, CM_OK, NULL},
    {{"github:acme/cli", "gitlab:acme/cli2", "bb.dc-1:acme/x", NULL}, 0, CM_OK, NULL},
    {{"acme/*", NULL}, 1, CM_OK, NULL},
    {{"ACME/*", NULL},
     0,
     CM_EINVAL,
     "\"ACME/*\" is not a package pattern: Composer package names "
     "are lowercase"},
    {{"acme/fo*", NULL}, 0, CM_EINVAL, "'*' stands only for a whole name part"},
    {{"*/*", NULL}, 0, CM_EINVAL, "'*' stands only for a whole name part"},
    {{"acme", NULL}, 0, CM_EINVAL, "write \"vendor/name\" or \"vendor/*\""},
    {{"", NULL}, 0, CM_EINVAL, "write \"vendor/name\""},
    {{"acme/x y", NULL}, 0, CM_EINVAL, "not a Composer package name"},
    {{"git hub:acme/*", NULL}, 0, CM_EINVAL, "before ':' comes an endpoint name"},
    {{":acme/*", NULL}, 0, CM_EINVAL, "before ':' comes an endpoint name"},
    {{"github:acme/*", "gitlab:acme/cli", NULL},
     0,
     CM_EINVAL,
     "\"github:acme/*\" and \"gitlab:acme/cli\" reserve the same names for two endpoints"},
    {{"github:acme/cli", "acme/*", "gitlab:acme/cli", NULL},
     0,
     CM_EINVAL,
     "reserve the same names"},
    {{NULL}, 1, CM_EINVAL, "packages must be a list of patterns"},
    {{"Acme/x", NULL}, 1, CM_EINVAL, "lowercase"},
};

START_TEST(test_packages_config)
{
    void *self = NULL;
    struct cm_ctx *ctx;
    make_tmpdir();
    ctx = fake_ctx_new(tmpdir, "http://127.0.0.1:8080/");
    if (packages_cases[_i].scalar)
        fake_ctx_set_packages_scalar(ctx, packages_cases[_i].packages[0]);
    else
        fake_ctx_set_packages(ctx, packages_cases[_i].packages);
    ck_assert_int_eq(plug->create(fake_host(), ctx, &self), packages_cases[_i].rc);
    if (packages_cases[_i].rc != CM_OK) {
        const char *log = fake_ctx_last_log(ctx, CM_LOG_ERR);
        ck_assert_msg(strstr(log, packages_cases[_i].log), "log: %s", log);
        ck_assert_ptr_nonnull(strstr(log, "packages"));
        ck_assert_ptr_nonnull(strstr(log, "composer sync entry"));
    } else {
        plug->destroy(self);
    }
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

#define THREE_RULES                                                                                \
    {                                                                                              \
        "lib/*", "github:acme/*", "gitlab:tools/cli", NULL                                         \
    }

static const struct {
    const char *packages[4];
    const char *endpoint, *pkg;
    const char *note; /* NULL: published */
} policy_cases[] = {
    {THREE_RULES, "github", "acme/foo", NULL},
    {THREE_RULES, "github", "lib/x", NULL},
    {THREE_RULES, "github", "other/x",
     "package other/x matches none of the packages patterns for endpoint github (\"lib/*\", "
     "\"github:acme/*\"); add one to packages in the composer sync entry"},
    {THREE_RULES, "gitlab", "acme/foo",
     "package acme/foo is reserved for endpoint github by the packages pattern \"github:acme/*\"; "
     "rename the package, or change packages in the composer sync entry"},
    {THREE_RULES, "gitlab", "tools/cli", NULL},
    {THREE_RULES, "gitlab", "tools/other", "matches none of the packages patterns for endpoint"},
    {THREE_RULES, "bitbucket", "lib/y", NULL},
    {THREE_RULES, "bitbucket", "acme/z", "reserved for endpoint github"},
    {THREE_RULES, "bitbucket", "x/y", "for endpoint bitbucket (\"lib/*\")"},
    {{"github:acme/*", NULL}, "bitbucket", "x/y", NULL},
    {{"github:acme/*", NULL}, "bitbucket", "acme/x", "reserved for endpoint github"},
    {{"github:acme/*", NULL}, "github", "x/y", "for endpoint github (\"github:acme/*\")"},
    {{"github:acme/cli", NULL}, "gitlab", "acme/cli2", NULL},
};

/* A refused name: nothing made or published, a note on each ref naming the rule and the key,
 * one warning, and CM_OK so the sync is not retried. */
START_TEST(test_packages_policy)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m;
    char rel[256];

    make_tmpdir();
    self = make_plugin_with(&ctx, policy_cases[_i].packages);
    m = repo_named(policy_cases[_i].endpoint, "team/repo", policy_cases[_i].pkg, 50);
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    snprintf(rel, sizeof(rel), "p2/%s.json", policy_cases[_i].pkg);
    if (!policy_cases[_i].note) {
        ck_assert_msg(exists(rel), "%s not published", policy_cases[_i].pkg);
        ck_assert_ptr_null(fake_mirror_note(m, "refs/heads/main"));
    } else {
        const char *note = fake_mirror_note(m, "refs/tags/2.0.0");
        ck_assert_msg(!exists(rel), "%s published", policy_cases[_i].pkg);
        ck_assert_msg(note && strstr(note, policy_cases[_i].note), "note: %s", note);
        ck_assert_ptr_nonnull(strstr(fake_mirror_note(m, "refs/heads/main"), "packages"));
        ck_assert_ptr_nonnull(
            strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING), policy_cases[_i].note));
        ck_assert_int_eq(fake_mirror_archives(m), 0);
    }
    check_tree_consistent(tmpdir);
    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* An endpoint without a secret ("anon") against one whose hooks are signed ("signed"), without
 * any packages patterns: ownership alone keeps the signed one's name on every path. */
START_TEST(test_owner_kept)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *lib = repo_named("signed", "acme/lib", "acme/lib", 60);
    struct cm_mirror *evil = repo_named("anon", "evil/x", "evil/x", 61);
    ino_t ino;

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, lib), CM_OK);
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert(exists("p2/evil/x.json"));
    ino = inode_of("p2/acme/lib.json");

    /* A repository whose composer.json changes its name to the owned one: refused, and the
     * name it had is given up. */
    fake_mirror_add_file(evil, fake_id(62), "composer.json", "{\"name\":\"acme/lib\"}");
    fake_mirror_set_ref(evil, "refs/heads/main", fake_id(62));
    fake_mirror_set_ref(evil, "refs/tags/2.0.0", fake_id(62));
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert(inode_of("p2/acme/lib.json") == ino);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(60));
    ck_assert(!exists("p2/evil/x.json"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/tags/2.0.0"), "signed:acme/lib"));

    /* A tag whose composer.json names the owned package publishes under the repository's own
     * name (the default branch's), never under the one it claims. */
    fake_mirror_add_file(evil, fake_id(63), "composer.json", "{\"name\":\"evil/y\"}");
    fake_mirror_set_ref(evil, "refs/heads/main", fake_id(63));
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert(exists("p2/evil/y.json"));
    ck_assert(inode_of("p2/acme/lib.json") == ino);
    ck_assert_str_eq(published_from("evil/y"), fake_id(62));

    /* A restart reads ownership back from disk. */
    plug->destroy(self);
    fake_ctx_free(ctx);
    self = make_plugin(&ctx);
    fake_mirror_set_ref(evil, "refs/heads/main", fake_id(62));
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert(inode_of("p2/acme/lib.json") == ino);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"), "already published"));
    check_tree_consistent(tmpdir);

    plug->destroy(self);
    fake_mirror_free(lib);
    fake_mirror_free(evil);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* A released name is anyone's under ownership alone, but not when packages reserve it. */
START_TEST(test_released_name)
{
    static const char *const reserve[] = {"signed:acme/*", NULL};
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *lib = repo_named("signed", "acme/lib", "acme/lib", 64);
    struct cm_mirror *evil = repo_named("anon", "evil/x", "acme/lib", 65);

    make_tmpdir();
    self = make_plugin_with(&ctx, reserve);
    ck_assert_int_eq(sync_full(self, lib), CM_OK);
    fake_mirror_add_file(lib, fake_id(66), "composer.json", "{\"name\":\"acme/lib2\"}");
    fake_mirror_set_ref(lib, "refs/heads/main", fake_id(66));
    fake_mirror_set_ref(lib, "refs/tags/2.0.0", fake_id(66));
    ck_assert_int_eq(sync_full(self, lib), CM_OK);
    ck_assert(!exists("p2/acme/lib.json"));
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert(!exists("p2/acme/lib.json"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"), "reserved"));
    plug->destroy(self);
    fake_ctx_free(ctx);

    /* Without the pattern the first to come takes it: that is what packages is for. */
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(65));
    check_tree_consistent(tmpdir);
    plug->destroy(self);
    fake_mirror_free(lib);
    fake_mirror_free(evil);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* A name published before a pattern reserved it for another endpoint: that endpoint takes it
 * when it publishes it, the old holder is then refused without touching its files, and a
 * restart (both state files still claim it) keeps it with the reserving endpoint. */
START_TEST(test_reserved_takeover)
{
    static const char *const reserve[] = {"signed:acme/*", NULL};
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *lib = repo_named("signed", "acme/lib", "acme/lib", 67);
    struct cm_mirror *evil = repo_named("anon", "evil/x", "acme/lib", 68);
    char rel[256];

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(68));
    plug->destroy(self);
    fake_ctx_free(ctx);

    self = make_plugin_with(&ctx, reserve);
    ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING),
                                 "acme/lib is still published from anon:evil/x"));
    ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING),
                                 "taken down at that repository's next push"));
    ck_assert_int_eq(sync_full(self, lib), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(67));
    ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING), "is taken from anon"));
    snprintf(rel, sizeof(rel), "dist/acme/lib/%s.zip", fake_id(68));
    ck_assert_msg(!exists(rel), "the old holder's zip is pruned");
    plug->destroy(self);
    fake_ctx_free(ctx);

    /* The old holder's state no longer claims it: even a restart without the pattern, where
     * "anon" would come first in name order, keeps it with the signed repository. */
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(67));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"), "already published"));
    plug->destroy(self);
    fake_ctx_free(ctx);

    /* A holder that saved its state just after the takeover still claims the name on disk:
     * a restart gives it to the endpoint the pattern reserves it for. */
    char state[512];
    snprintf(state, sizeof(state), "%s/repos/anon/evil%%2Fx.json", tmpdir);
    json_t *st = json_load_file(state, 0, NULL);
    ck_assert_ptr_nonnull(st);
    json_object_set_new(st, "package", json_string("acme/lib"));
    ck_assert_int_eq(json_dump_file(st, state, 0), 0);
    json_decref(st);
    self = make_plugin_with(&ctx, reserve);
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(67));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"), "reserved"));
    check_tree_consistent(tmpdir);
    plug->destroy(self);
    fake_ctx_free(ctx);

    /* Without a pattern the reservation is gone, not the ownership: the holder keeps it. */
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, evil), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(67));
    plug->destroy(self);
    fake_mirror_free(lib);
    fake_mirror_free(evil);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* Set the claim in the state file of endpoint/repo (as st_encode names it) and when it was made. */
static void set_claim(const char *file, const char *pkg, const char *since)
{
    char state[512];
    snprintf(state, sizeof(state), "%s/repos/%s", tmpdir, file);
    json_t *st = json_load_file(state, 0, NULL);
    ck_assert_ptr_nonnull(st);
    json_object_set_new(st, "package", pkg ? json_string(pkg) : json_null());
    json_object_set_new(st, "package_since", json_string(since));
    ck_assert_int_eq(json_dump_file(st, state, 0), 0);
    json_decref(st);
}

/* A release raced the old holder's own save: both state files claim the name. A restart gives
 * it to the later claim (the name was free when it was made), not to the first in name order,
 * which would hand a released name back to the repository it was taken from. */
START_TEST(test_later_claim_wins)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *old = repo_named("anon", "old/x", "acme/lib", 68);
    struct cm_mirror *next = repo_named("signed", "lib", "acme/lib", 67);

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, old), CM_OK);
    plug->destroy(self);
    fake_ctx_free(ctx);
    /* Released (its claim dropped), then the next repository takes it. */
    set_claim("anon/old%2Fx.json", NULL, "2023-11-14T22:13:20Z");
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, next), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(67));
    plug->destroy(self);
    fake_ctx_free(ctx);
    /* The old holder's save that raced the release lands after it. */
    set_claim("anon/old%2Fx.json", "acme/lib", "2023-11-14T22:13:20Z");
    set_claim("signed/lib.json", "acme/lib", "2024-02-01T08:00:00Z");
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, old), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(67));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(old, "refs/heads/main"), "already published"));
    plug->destroy(self);
    fake_ctx_free(ctx);
    fake_mirror_free(old);
    fake_mirror_free(next);
    remove_tmpdir();
}
END_TEST

struct takeover {
    void *self;
    struct cm_mirror *m;
};

static void sync_other(void *arg)
{
    struct takeover *t = arg;
    ck_assert_int_eq(sync_full(t->self, t->m), CM_OK);
}

/* SIGHUP: the old instance (no patterns) still publishes while the new one (reserving acme)
 * runs. The unsigned repository's claim through the old instance is taken over through the
 * new one, even while the old one is still making its zips: its p2 files never land. */
START_TEST(test_reload_takeover)
{
    static const char *const reserve[] = {"signed:acme/*", NULL};
    struct cm_ctx *ctx_old, *ctx_new;
    void *old_self, *new_self;
    struct cm_mirror *lib = repo_named("signed", "acme/lib", "acme/lib", 70);
    struct cm_mirror *evil = repo_named("anon", "evil/x", "acme/lib", 71);
    struct takeover t;

    make_tmpdir();
    old_self = make_plugin(&ctx_old);
    new_self = make_plugin_with(&ctx_new, reserve);
    t.self = new_self;
    t.m = lib;
    fake_mirror_on_archive(evil, sync_other, &t);
    ck_assert_int_eq(sync_full(old_self, evil), CM_OK);
    ck_assert_str_eq(published_from("acme/lib"), fake_id(70));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"),
                                 "went to the endpoint packages reserve it for"));
    /* Through either instance, the unsigned repository stays refused. */
    ck_assert_int_eq(sync_full(old_self, evil), CM_OK);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"), "already published"));
    ck_assert_int_eq(sync_full(new_self, evil), CM_OK);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(evil, "refs/heads/main"), "reserved"));
    ck_assert_str_eq(published_from("acme/lib"), fake_id(70));
    check_tree_consistent(tmpdir);
    end_plugin(old_self);
    end_plugin(new_self);
    fake_ctx_free(ctx_old);
    fake_ctx_free(ctx_new);
    fake_mirror_free(lib);
    fake_mirror_free(evil);
    remove_tmpdir();
}
END_TEST

/* A version whose zip would hold a file over git.max_blob_size is skipped for good (the host's
 * note stays on its ref), the others are published, and the sync is not retried; an oversize
 * composer.json is a skipped ref, not a failed read. */
START_TEST(test_oversize)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_named("github", "acme/big", "acme/big", 72);
    struct cm_event *ev;
    json_t *tags;
    char rel[256];

    make_tmpdir();
    self = make_plugin(&ctx);
    fake_mirror_set_max_blob(m, 64);
    fake_mirror_add_file(m, fake_id(73), "composer.json", "{\"name\":\"acme/big\"}");
    fake_mirror_add_file(m, fake_id(73), "data/blob.bin",
                         "0123456789012345678901234567890123456789012345678901234567890123456789");
    fake_mirror_set_ref(m, "refs/tags/1.0.0", fake_id(73));
    fake_mirror_add_file(m, fake_id(74), "composer.json",
                         "{\"name\":\"acme/big\",\"description\":\"a composer.json "
                         "longer than the limit of sixty-four bytes\"}");
    fake_mirror_set_ref(m, "refs/tags/3.0.0", fake_id(74));
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    tags = load_versions("acme/big", 0);
    ck_assert_int_eq(json_array_size(tags), 1);
    ck_assert(has_version(tags, "2.0.0"));
    json_decref(tags);
    ck_assert_str_eq(fake_mirror_note(m, "refs/tags/1.0.0"),
                     "dist archive skipped: data/blob.bin is 70 bytes, over git.max_blob_size "
                     "(64): remove the file or raise the limit");
    ck_assert_ptr_nonnull(strstr(fake_ctx_last_log(ctx, CM_LOG_WARNING), "refs/tags/1.0.0"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(m, "refs/tags/3.0.0"),
                                 "composer.json is larger than git.max_blob_size"));
    ck_assert_ptr_null(fake_mirror_note(m, "refs/tags/2.0.0"));
    snprintf(rel, sizeof(rel), "dist/acme/big/%s.zip", fake_id(73));
    ck_assert(!exists(rel));

    /* The next sync tries again (the limit may have been raised) and leaves the note. */
    fake_mirror_reset_counts(m);
    ev = fake_event_new(1);
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);
    ck_assert_int_eq(fake_mirror_archives(m), 1);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(m, "refs/tags/1.0.0"), "data/blob.bin"));
    fake_mirror_set_max_blob(m, 0);
    ev = fake_event_new(1);
    ck_assert_int_eq(plug->on_sync(self, ev, m), CM_OK);
    fake_event_free(ev);
    ck_assert_ptr_null(fake_mirror_note(m, "refs/tags/1.0.0"));
    ck_assert(exists(rel));
    check_tree_consistent(tmpdir);
    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

struct sync_job {
    void *self;
    struct cm_mirror *m;
    int rc;
};

static void *sync_thread(void *arg)
{
    struct sync_job *job = arg;
    job->rc = sync_full(job->self, job->m);
    return NULL;
}

START_TEST(test_concurrent)
{
    struct cm_ctx *ctx;
    void *self;
    struct sync_job jobs[4];
    pthread_t th[4];
    json_t *pk;

    make_tmpdir();
    self = make_plugin(&ctx);
    for (int i = 0; i < 4; i++) {
        char repo[64], pkg[64];
        snprintf(repo, sizeof(repo), "team/p%d", i);
        snprintf(pkg, sizeof(pkg), "team/p%d", i);
        jobs[i].self = self;
        jobs[i].m = repo_named("github", repo, pkg, 30 + i);
        pthread_create(&th[i], NULL, sync_thread, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(jobs[i].rc, CM_OK);
        fake_mirror_free(jobs[i].m);
    }
    pk = load("packages.json");
    ck_assert_int_eq(json_array_size(json_object_get(pk, "available-packages")), 4);
    json_decref(pk);
    check_tree_consistent(tmpdir);
    plug->destroy(self);
    fake_ctx_free(ctx);
    remove_tmpdir();
}
END_TEST

/* ---- a cluster: state files the host replaced (SDK 1.3) ---------------------------------- */

/* A node of a cluster: a plugin instance on its own state directory tmpdir/name (in dir). */
static void *make_node(struct cm_ctx **ctx, const char *name, char *dir, size_t len)
{
    void *self = NULL;

    snprintf(dir, len, "%s/%s", tmpdir, name);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    *ctx = fake_ctx_new(dir, "http://127.0.0.1:8080/");
    ck_assert_int_eq(plug->create(fake_host(), *ctx, &self), CM_OK);
    ck_assert_int_eq(plug->start(self), CM_OK);
    return self;
}

/* What the host does before state_changed: dir/rel replaced with text (NULL: removed). */
static void host_replaces(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (!text) {
        ck_assert_int_eq(unlink(path), 0);
        return;
    }
    ck_assert_int_eq(cmc_mkdirs(path), CM_OK);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* The text of dir/rel (caller frees). */
static char *slurp(const char *dir, const char *rel)
{
    char path[1024], *text = malloc(1 << 16);
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    ck_assert_ptr_nonnull(f = fopen(path, "r"));
    n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* A state file that claims pkg for endpoint:repository, as another node saved it. */
static void claim(const char *dir, const char *endpoint, const char *repository, const char *pkg)
{
    char *rel = cmc_state_path(endpoint, repository, NULL), text[512];

    snprintf(text, sizeof(text),
             "{\"endpoint\":\"%s\",\"repository\":\"%s\",\"package\":\"%s\",\"refs\":{},"
             "\"shasums\":{}}",
             endpoint, repository, pkg);
    host_replaces(dir, rel, text);
    free(rel);
}

/* A package claimed on another node is owned on this one once the host hands over its state
 * file, and free again once the file is gone; other paths change nothing. */
START_TEST(test_state_changed_owner)
{
    struct cm_ctx *ctx_a, *ctx_b;
    char dir_a[512], dir_b[512], *rel = cmc_state_path("github", "acme/foo", NULL), *text;
    struct cm_mirror *owner = repo_named("github", "acme/foo", "acme/foo", 10);
    struct cm_mirror *rival = repo_named("gitlab", "other/foo", "acme/foo", 11);
    void *a, *b;

    make_tmpdir();
    a = make_node(&ctx_a, "a", dir_a, sizeof(dir_a));
    b = make_node(&ctx_b, "b", dir_b, sizeof(dir_b));
    ck_assert_ptr_nonnull(plug->node_local);
    ck_assert_str_eq(plug->node_local[0], "dist/");
    ck_assert_ptr_null(plug->node_local[1]);
    ck_assert_int_eq(sync_full(a, owner), CM_OK);
    text = slurp(dir_a, rel);
    host_replaces(dir_b, rel, text);
    plug->state_changed(b, rel);
    for (const char *const *other =
             (const char *const[]){"packages.json", "p2/acme/foo.json", "repos/../repos/x.json",
                                   "repos/x.json", "repos/github/a/b.json", NULL};
         *other; other++)
        plug->state_changed(b, *other);
    ck_assert_int_eq(sync_full(b, rival), CM_OK);
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(rival, "refs/heads/main"), "github:acme/foo"));
    ck_assert(!exists("b/p2/acme/foo.json"));

    host_replaces(dir_b, rel, NULL);
    plug->state_changed(b, rel);
    ck_assert_int_eq(sync_full(b, rival), CM_OK);
    ck_assert_ptr_null(fake_mirror_note(rival, "refs/heads/main"));
    ck_assert(exists("b/p2/acme/foo.json"));

    end_plugin(a);
    end_plugin(b);
    fake_ctx_free(ctx_a);
    fake_ctx_free(ctx_b);
    fake_mirror_free(owner);
    fake_mirror_free(rival);
    free(text);
    free(rel);
    remove_tmpdir();
}
END_TEST

/* A rename on another node: the new state file may arrive before the old one goes. While
 * both claim the name the first keeps it; once the old is gone the new one has it. */
START_TEST(test_state_changed_rename)
{
    struct cm_ctx *ctx;
    char dir[512];
    char *old_rel = cmc_state_path("github", "acme/old", NULL);
    char *new_rel = cmc_state_path("github", "acme/new", NULL);
    struct cm_mirror *rival = repo_named("gitlab", "other/foo", "acme/foo", 11);
    void *self;

    make_tmpdir();
    snprintf(dir, sizeof(dir), "%s/b", tmpdir);
    claim(dir, "github", "acme/old", "acme/foo"); /* what the node finds at start */
    ctx = fake_ctx_new(dir, "http://127.0.0.1:8080/");
    ck_assert_int_eq(plug->create(fake_host(), ctx, &self), CM_OK);
    ck_assert_int_eq(plug->start(self), CM_OK);

    claim(dir, "github", "acme/new", "acme/foo");
    plug->state_changed(self, new_rel);
    ck_assert_int_eq(sync_full(self, rival), CM_OK);
    ck_assert_ptr_nonnull(fake_mirror_note(rival, "refs/heads/main"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(rival, "refs/heads/main"), "github:acme/old"));
    host_replaces(dir, old_rel, NULL);
    plug->state_changed(self, old_rel);
    ck_assert_int_eq(sync_full(self, rival), CM_OK);
    ck_assert_ptr_nonnull(fake_mirror_note(rival, "refs/heads/main"));
    ck_assert_ptr_nonnull(strstr(fake_mirror_note(rival, "refs/heads/main"), "github:acme/new"));

    end_plugin(self);
    fake_ctx_free(ctx);
    fake_mirror_free(rival);
    free(old_rel);
    free(new_rel);
    remove_tmpdir();
}
END_TEST

/* The cache checks the state file's inode, size and mtime; a host that rewrites a file in
 * place, same size, and keeps its mtime, would slip past that. state_changed drops the entry,
 * so the next sync publishes what the file says. */
START_TEST(test_state_changed_cache)
{
    struct cm_ctx *ctx;
    void *self;
    struct cm_mirror *m = repo_foo();
    struct stat before;
    char *text, *line, *foo;
    json_t *tags, *v;
    size_t i;
    int fd;

    make_tmpdir();
    self = make_plugin(&ctx);
    ck_assert_int_eq(sync_full(self, m), CM_OK);
    state_file[0] = '\0';
    nftw(tmpdir, find_state, 16, FTW_PHYS);
    ck_assert_int_eq(stat(state_file, &before), 0);
    text = slurp(tmpdir, state_file + strlen(tmpdir) + 1);
    ck_assert_ptr_nonnull(line = strstr(text, "\"refs/tags/v1.0.0\""));
    ck_assert_ptr_nonnull(foo = strstr(line, "\"Foo\""));
    memcpy(foo, "\"Bar\"", 5);
    ck_assert_int_ge(fd = open(state_file, O_WRONLY), 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(futimens(fd, (struct timespec[]){before.st_atim, before.st_mtim}), 0);
    close(fd);
    plug->state_changed(self, state_file + strlen(tmpdir) + 1);

    push_v120(self, m);
    tags = load_versions("acme/foo", 0);
    json_array_foreach (tags, i, v) {
        if (!strcmp(json_string_value(json_object_get(v, "version")), "v1.0.0"))
            ck_assert_str_eq(json_string_value(json_object_get(v, "description")), "Bar");
    }
    json_decref(tags);
    check_tree_consistent(tmpdir);

    plug->destroy(self);
    fake_mirror_free(m);
    fake_ctx_free(ctx);
    free(text);
    remove_tmpdir();
}
END_TEST

static Suite *index_suite(void)
{
    Suite *s = suite_create("composer_index");
    TCase *tc = tcase_create("files");
    tcase_add_loop_test(tc, test_sha1, 0, sizeof(sha1_cases) / sizeof(sha1_cases[0]));
    tcase_add_test(tc, test_sha1_file);
    tcase_add_loop_test(tc, test_minify, 0, sizeof(minify_cases) / sizeof(minify_cases[0]));
    tcase_add_test(tc, test_atomic_write);
    suite_add_tcase(s, tc);
    tc = tcase_create("plugin");
    tcase_add_loop_test(tc, test_config, 0, sizeof(config_cases) / sizeof(config_cases[0]));
    tcase_add_test(tc, test_create_writes_nothing);
    tcase_add_test(tc, test_publish);
    tcase_add_test(tc, test_incremental);
    tcase_add_test(tc, test_cache_follows_state_file);
    tcase_add_test(tc, test_cache_sees_removed_zip);
    tcase_add_test(tc, test_deleted_ref);
    tcase_add_test(tc, test_conflict_and_rename);
    tcase_add_test(tc, test_reload_overlap);
    tcase_add_test(tc, test_archive_retry);
    tcase_add_test(tc, test_concurrent);
    tcase_add_loop_test(tc, test_packages_config, 0,
                        sizeof(packages_cases) / sizeof(packages_cases[0]));
    tcase_add_loop_test(tc, test_packages_policy, 0,
                        sizeof(policy_cases) / sizeof(policy_cases[0]));
    tcase_add_test(tc, test_owner_kept);
    tcase_add_test(tc, test_released_name);
    tcase_add_test(tc, test_reserved_takeover);
    tcase_add_test(tc, test_later_claim_wins);
    tcase_add_test(tc, test_reload_takeover);
    tcase_add_test(tc, test_oversize);
    tcase_add_test(tc, test_state_changed_owner);
    tcase_add_test(tc, test_state_changed_rename);
    tcase_add_test(tc, test_state_changed_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(index_suite());
    int failed;

    have_minifier =
        system("command -v php >/dev/null 2>&1") == 0 && access(COMPOSER_MINIFIER, R_OK) == 0;
    if (!have_minifier)
        printf("SKIP: publish's MetadataMinifier round trip: php or " COMPOSER_MINIFIER
               " missing (apt-get install php-cli composer); the rest of publish runs\n");
    fflush(stdout);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
