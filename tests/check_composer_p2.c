/* SPDX-License-Identifier: MIT */
/*
 * Files rendered from the texts of the last write. The p2 documents (plugins/composer/p2.c):
 * over hundreds of random edits (versions added at any place, removed, replaced; keys
 * reordered, set to null, dropped), a document written through the cache must be byte for byte
 * the one written from nothing, and both what Composer's minifier makes of the versions. The
 * state files (state_save.c): the same for refs added, moved and deleted, and they load back.
 */
#include "composer_fake_host.h"
#include "index.h"
#include "p2.h"
#include "state.h"

#include <cargoman/plugin.h>

#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *slurp(const char *rel)
{
    char path[1024];
    FILE *f;
    char *buf;
    long len;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s missing", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = malloc((size_t)len + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Composer's MetadataMinifier::minify as PHP runs it, one remembered array carried from
 * version to version: the reference the incremental renderer must match byte for byte. */
static json_t *php_minify(json_t *versions)
{
    json_t *out = json_array(), *last = NULL, *v;
    size_t i;

    json_array_foreach (versions, i, v) {
        const char *key;
        json_t *val, *diff;
        void *tmp;
        if (!last) {
            last = json_deep_copy(v);
            json_array_append(out, v);
            continue;
        }
        diff = json_object();
        json_array_append_new(out, diff);
        json_object_foreach (v, key, val) {
            json_t *prev = json_object_get(last, key);
            if (!prev || json_is_null(prev) || !json_equal(prev, val)) {
                json_object_set(diff, key, val);
                json_object_set(last, key, val);
            }
        }
        json_object_foreach_safe (last, tmp, key, val) {
            json_t *now = json_object_get(v, key);
            if (!now || json_is_null(now)) {
                json_object_set_new(diff, key, json_string("__unset"));
                json_object_del(last, key);
            }
        }
    }
    json_decref(last);
    return out;
}

static const char *const keys[] = {"description", "require", "license", "autoload",
                                   "extra",       "type",    "homepage"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* A new version object: name, version, normalized, then some keys in a random order, some
 * null, values drawn from few so that neighbours often share them. */
static json_t *random_version(int major, int minor)
{
    char version[32], normalized[40];
    size_t order[NKEYS];
    json_t *v;

    snprintf(version, sizeof(version), "%d.%d.0", major, minor);
    snprintf(normalized, sizeof(normalized), "%d.%d.0.0", major, minor);
    v = json_pack("{s:s, s:s, s:s}", "name", "acme/x", "version", version, "version_normalized",
                  normalized);
    for (size_t i = 0; i < NKEYS; i++)
        order[i] = i;
    for (size_t i = NKEYS - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        int pick = rand() % 5;
        if (pick == 0)
            continue;
        json_object_set_new(v, keys[order[i]],
                            pick == 1   ? json_null()
                            : pick == 2 ? json_pack("{s:s}", "php", rand() % 2 ? "^8" : "^7")
                                        : json_integer(rand() % 2));
    }
    return v;
}

/* Write name's p2 file from versions (copied into a fresh array, so sorting is the writer's),
 * through cache (NULL: from nothing); the file's bytes. */
static char *write_p2(const struct cmc_files *f, const char *name, json_t *versions,
                      struct cmc_p2_text *cache)
{
    json_t *tags = json_array(), *devs = json_array();
    char rel[256];

    for (size_t i = 0; i < json_array_size(versions); i++)
        json_array_append(tags, json_array_get(versions, i));
    ck_assert_int_eq(cmc_write_p2(f, name, tags, devs, cache, NULL, NULL), CM_OK);
    json_decref(tags);
    json_decref(devs);
    snprintf(rel, sizeof(rel), "p2/%s.json", name);
    return slurp(rel);
}

START_TEST(test_incremental_same_bytes)
{
    struct cmc_p2_text cache = {NULL, NULL, NULL, 0};
    json_t *versions = json_array();
    struct cm_ctx *ctx;
    struct cmc_files f;
    int reused_somewhere = 0;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmc-p2-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ctx = fake_ctx_new(tmpdir, NULL);
    f = (struct cmc_files){fake_host(), ctx, tmpdir};
    srand(20261201 + (unsigned)_i);
    for (int round = 0; round < 300; round++) {
        size_t n = json_array_size(versions);
        int op = n < 3 ? 0 : rand() % 4;
        if (op == 0 || op == 3) { /* a new version anywhere in the order */
            json_array_append_new(versions, random_version(rand() % 50, round));
        } else if (op == 1) {
            json_array_remove(versions, (size_t)rand() % n);
        } else { /* the same version made again with other content */
            size_t at = (size_t)rand() % n;
            json_t *old = json_array_get(versions, at), *v;
            int major, minor;
            sscanf(json_string_value(json_object_get(old, "version")), "%d.%d", &major, &minor);
            v = random_version(major, minor);
            json_array_set_new(versions, at, v);
        }
        char *cached = write_p2(&f, "acme/x", versions, &cache);
        char *cold = write_p2(&f, "acme/y", versions, NULL);
        json_t *doc = json_loads(cached, 0, NULL), *sorted = json_array(), *want;
        char *got_text, *want_text, *at;

        /* Same bytes but the package name. */
        at = strstr(cold, "acme/y");
        ck_assert_ptr_nonnull(at);
        at[5] = 'x';
        ck_assert_str_eq(cached, cold);
        /* And Composer's own minify, key order included, of the sorted versions. */
        for (size_t i = 0; i < json_array_size(versions); i++)
            json_array_append(sorted, json_array_get(versions, i));
        cmc_sort_versions(sorted);
        want = php_minify(sorted);
        got_text =
            json_dumps(json_object_get(json_object_get(doc, "packages"), "acme/x"), JSON_COMPACT);
        want_text = json_dumps(want, JSON_COMPACT);
        ck_assert_str_eq(got_text, want_text);
        reused_somewhere |= cache.n > 2;
        free(got_text);
        free(want_text);
        json_decref(want);
        json_decref(sorted);
        json_decref(doc);
        free(cached);
        free(cold);
    }
    ck_assert(reused_somewhere);
    cmc_p2_text_clear(&cache);
    json_decref(versions);
    fake_ctx_free(ctx);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

/* A failed write leaves the cache empty, never half-updated: the next write starts over. */
START_TEST(test_failed_write_empties_cache)
{
    struct cmc_p2_text cache = {NULL, NULL, NULL, 0};
    json_t *versions = json_array();
    struct cm_ctx *ctx;
    struct cmc_files f;
    char *text;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmc-p2-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ctx = fake_ctx_new(tmpdir, NULL);
    f = (struct cmc_files){fake_host(), ctx, tmpdir};
    json_array_append_new(versions, random_version(1, 0));
    json_array_append_new(versions, random_version(1, 1));
    text = write_p2(&f, "acme/x", versions, &cache);
    free(text);
    ck_assert_uint_eq(cache.n, 2);
    /* p2/bad is a file, so p2/bad/x.json cannot be written. */
    char path[512];
    snprintf(path, sizeof(path), "%s/p2/bad", tmpdir);
    FILE *blocker = fopen(path, "w");
    ck_assert_ptr_nonnull(blocker);
    fclose(blocker);
    json_t *tags = json_array(), *devs = json_array();
    json_array_append(tags, json_array_get(versions, 0));
    ck_assert_int_ne(cmc_write_p2(&f, "bad/x", tags, devs, &cache, NULL, NULL), CM_OK);
    ck_assert_uint_eq(cache.n, 0);
    json_decref(tags);
    json_decref(devs);
    json_decref(versions);
    cmc_p2_text_clear(&cache);
    fake_ctx_free(ctx);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

/* A state entry as refresh makes one: a new object whenever the ref moves. */
static json_t *random_entry(int round)
{
    char commit[41];
    snprintf(commit, sizeof(commit), "%040d", round);
    return rand() % 4 == 0
               ? json_pack("{s:s, s:s, s:b}", "commit", commit, "skip", "no composer.json",
                           "silent", 1)
               : json_pack("{s:s, s:{s:s, s:s}}", "commit", commit, "composer", "name", "acme/x",
                           "description", rand() % 2 ? "a \"quoted\" one" : "plain");
}

START_TEST(test_state_save_same_bytes)
{
    struct cmc_state_text cache = {NULL, NULL, NULL, 0};
    json_t *st = json_pack("{s:{}, s:{}, s:s}", "refs", "shasums", "package", "acme/x");
    json_t *refs = json_object_get(st, "refs");
    struct cm_ctx *ctx;
    struct cmc_files f;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmc-p2-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ctx = fake_ctx_new(tmpdir, NULL);
    f = (struct cmc_files){fake_host(), ctx, tmpdir};
    srand(4242);
    for (int round = 0; round < 300; round++) {
        char ref[64];
        int op = rand() % 4;
        snprintf(ref, sizeof(ref), "refs/tags/v%d", rand() % 60);
        if (op == 0 || op == 3) /* deleted, or deleted and made again: it moves to the end */
            json_object_del(refs, ref);
        if (op != 0)
            json_object_set_new(refs, ref, random_entry(round));
        if (op == 2)
            json_object_set_new(json_object_get(st, "shasums"), ref + 10, json_string("x"));
        ck_assert_int_eq(cmc_state_save(&f, "cached.json", st, &cache), CM_OK);
        ck_assert_int_eq(cmc_state_save(&f, "cold.json", st, NULL), CM_OK);
        char *cached = slurp("cached.json"), *cold = slurp("cold.json");
        json_t *back = json_loads(cached, 0, NULL);
        ck_assert_str_eq(cached, cold);
        ck_assert_msg(json_equal(back, st), "round %d does not load back", round);
        ck_assert_uint_eq(cache.n, json_object_size(refs));
        json_decref(back);
        free(cached);
        free(cold);
    }
    cmc_state_text_clear(&cache);
    json_decref(st);
    fake_ctx_free(ctx);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static Suite *p2_suite(void)
{
    Suite *s = suite_create("composer_p2");
    TCase *tc = tcase_create("p2");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_incremental_same_bytes, 0, 4);
    tcase_add_test(tc, test_failed_write_empties_cache);
    tcase_add_test(tc, test_state_save_same_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(p2_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
