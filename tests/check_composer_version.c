/* SPDX-License-Identifier: MIT */
/*
 * Composer's version rules as the composer plugin applies them: normalize(), normalizeBranch(),
 * tag and branch versions as VcsRepository makes them, ordering and package names. The oracle
 * case runs Composer's own PHP parser over tests/fixtures/composer/version-names.txt.
 */
#include "version.h"

#include <cargoman/plugin.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CMC_FIXTURES
#define CMC_FIXTURES "tests/fixtures/composer"
#endif

#define COMPOSER_SEMVER "/usr/share/php/Composer/Semver"

static const struct {
    const char *in, *out; /* out NULL: Composer throws */
} normalize_cases[] = {
    {"1.2.3", "1.2.3.0"},
    {"v1.2.3", "1.2.3.0"},
    {"1", "1.0.0.0"},
    {"1.2", "1.2.0.0"},
    {"1.2.3.4", "1.2.3.4"},
    {"1.2.3.4.5", NULL},
    {"1.1.0-RC2", "1.1.0.0-RC2"},
    {"1.0.0-rc2", "1.0.0.0-RC2"},
    {"1.0.0-beta1", "1.0.0.0-beta1"},
    {"1.0.0-beta.1", "1.0.0.0-beta1"},
    {"1.0.0b2", "1.0.0.0-beta2"},
    {"1.0.0-a1", "1.0.0.0-alpha1"},
    {"1.0.0-pl3", "1.0.0.0-patch3"},
    {"1.0.0-stable", "1.0.0.0"},
    {"1.0.0-dev", "1.0.0.0-dev"},
    {"1.0.0-beta2-dev", "1.0.0.0-beta2-dev"},
    {"1.0.0+build.5", "1.0.0.0"},
    {"1.0@dev", "1.0.0.0"},
    {"1.0 as 2.0", "1.0.0.0"},
    {"dev-main", "dev-main"},
    {"master", "dev-master"},
    {"main", NULL},
    {"1.x-dev", "1.9999999.9999999.9999999-dev"},
    {"2010-01-02", "2010.01.02"},
    {"20100102", "20100102"},
    {"123456", "123456"},
    {"12345", "12345.0.0.0"},
    {"foo", NULL},
    {"1.0.0-gamma", NULL},
    {"", NULL},
};

START_TEST(test_normalize)
{
    const char *in = normalize_cases[_i].in, *want = normalize_cases[_i].out;
    char out[CMC_VERSION_MAX];
    int rc = cmc_normalize(out, sizeof(out), in);
    if (!want) {
        ck_assert_msg(rc == CM_EINVAL, "\"%s\" should be refused, got \"%s\"", in, out);
    } else {
        ck_assert_msg(rc == CM_OK, "\"%s\" refused", in);
        ck_assert_str_eq(out, want);
    }
}
END_TEST

static const struct {
    const char *in, *out;
} branch_norm_cases[] = {
    {"main", "dev-main"},
    {"1.x", "1.9999999.9999999.9999999-dev"},
    {"2.0", "2.0.9999999.9999999-dev"},
    {"v7.x", "7.9999999.9999999.9999999-dev"},
    {"1.2.*", "1.2.9999999.9999999-dev"},
    {"1.2.3.4", "1.2.3.4-dev"},
    {"feature/x", "dev-feature/x"},
};

START_TEST(test_normalize_branch)
{
    char out[CMC_VERSION_MAX];
    ck_assert_int_eq(cmc_normalize_branch(out, sizeof(out), branch_norm_cases[_i].in), CM_OK);
    ck_assert_str_eq(out, branch_norm_cases[_i].out);
}
END_TEST

static const struct {
    const char *tag, *json_version;   /* json_version: composer.json's "version" or NULL */
    const char *version, *normalized; /* NULL: the tag is skipped */
} tag_cases[] = {
    {"v1.2.3", NULL, "v1.2.3", "1.2.3.0"},
    {"1.2.3", NULL, "1.2.3", "1.2.3.0"},
    {"release-1.0.0", NULL, "1.0.0", "1.0.0.0"},
    {"1.1.0-RC2", NULL, "1.1.0-RC2", "1.1.0.0-RC2"},
    {"1.0.0-beta1", NULL, "1.0.0-beta1", "1.0.0.0-beta1"},
    {"v2.0.0-alpha.3", NULL, "v2.0.0-alpha.3", "2.0.0.0-alpha3"},
    {"1.0.0+build5", NULL, "1.0.0+build5", "1.0.0.0"},
    {"2010-01-02", NULL, "2010-01-02", "2010.01.02"},
    {"v1.0.0", "1.0.0", "1.0.0", "1.0.0.0"},
    {"1.0", "1.0.0-dev", "1.0.0", "1.0.0.0"},
    {"v1.0.0", "1.1.0", NULL, NULL},
    {"v1.0.0", "banana", NULL, NULL},
    {"1.0.0-dev", NULL, NULL, NULL},
    {"dev-foo", NULL, NULL, NULL},
    {"latest", NULL, NULL, NULL},
};

START_TEST(test_tag_version)
{
    struct cmc_version v;
    char why[256] = "";
    int rc = cmc_tag_version(&v, tag_cases[_i].tag, tag_cases[_i].json_version, why, sizeof(why));
    if (!tag_cases[_i].version) {
        ck_assert_msg(rc == CM_EINVAL, "tag %s should be skipped", tag_cases[_i].tag);
        ck_assert_msg(why[0] != '\0', "a skipped tag says why");
        return;
    }
    ck_assert_msg(rc == CM_OK, "tag %s: %s", tag_cases[_i].tag, why);
    ck_assert_str_eq(v.version, tag_cases[_i].version);
    ck_assert_str_eq(v.normalized, tag_cases[_i].normalized);
}
END_TEST

static const struct {
    const char *branch, *version, *normalized;
} branch_cases[] = {
    {"main", "dev-main", "dev-main"},
    {"master", "dev-master", "dev-master"},
    {"1.x", "1.x-dev", "1.9999999.9999999.9999999-dev"},
    {"2.0", "2.0.x-dev", "2.0.9999999.9999999-dev"},
    {"v7.x", "v7.x-dev", "7.9999999.9999999.9999999-dev"},
    {"V2.x", "2.x-dev", "2.9999999.9999999.9999999-dev"},
    {"1.2.3", "1.2.3.x-dev", "1.2.3.9999999-dev"},
    {"1.2.3.4", "1.2.3.4-dev", "1.2.3.4-dev"},
    {"1.*", "1.x-dev", "1.9999999.9999999.9999999-dev"},
    {"feature/foo", "dev-feature/foo", "dev-feature/foo"},
    {"1.x-dev", "dev-1.x-dev", "dev-1.x-dev"},
    {"a|b", NULL, NULL},
    {"topic,y", NULL, NULL},
};

START_TEST(test_branch_version)
{
    struct cmc_version v;
    char why[256] = "";
    int rc = cmc_branch_version(&v, branch_cases[_i].branch, why, sizeof(why));
    if (!branch_cases[_i].version) {
        ck_assert_msg(rc == CM_EINVAL, "branch %s should be skipped", branch_cases[_i].branch);
        return;
    }
    ck_assert_msg(rc == CM_OK, "branch %s: %s", branch_cases[_i].branch, why);
    ck_assert_str_eq(v.version, branch_cases[_i].version);
    ck_assert_str_eq(v.normalized, branch_cases[_i].normalized);
}
END_TEST

/* Oldest to newest. */
static const char *const ordered[] = {
    "dev-zeta",      "dev-alpha",      "0.9.0.0",
    "1.0.0.0-dev",   "1.0.0.0-alpha1", "1.0.0.0-alpha2",
    "1.0.0.0-beta1", "1.0.0.0-RC1",    "1.0.0.0-RC2",
    "1.0.0.0",       "1.0.0.0-patch1", "1.0.1.0",
    "1.10.0.0",      "2.0.0.0",        "2.9999999.9999999.9999999-dev",
};

START_TEST(test_compare)
{
    size_t n = sizeof(ordered) / sizeof(ordered[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int r = cmc_version_compare(ordered[i], ordered[j]);
            int want = i < j ? -1 : i > j;
            ck_assert_msg((r > 0) - (r < 0) == want, "compare(%s, %s) = %d", ordered[i], ordered[j],
                          r);
        }
    }
}
END_TEST

static const struct {
    const char *name;
    int valid;
} name_cases[] = {
    {"acme/foo", 1},
    {"acme/foo-bar", 1},
    {"a/b", 1},
    {"my.vendor/pkg_name", 1},
    {"acme/foo--bar", 1},
    {"acme2/x9", 1},
    {"Acme/foo", 0},
    {"acme", 0},
    {"acme/", 0},
    {"/foo", 0},
    {"acme/foo/bar", 0},
    {"acme/-foo", 0},
    {"acme--x/foo", 0},
    {"acme/foo---bar", 0},
    {"acme/foo_-bar", 0},
    {"acme/foo.", 0},
    {"", 0},
    {"acme/fo o", 0},
};

START_TEST(test_package_name)
{
    ck_assert_msg(cmc_valid_package_name(name_cases[_i].name) == name_cases[_i].valid, "%s",
                  name_cases[_i].name);
}
END_TEST

/* Whether Composer's own version parser can run here; main() decides, before any fork. */
static int have_oracle(void)
{
    return system("command -v php >/dev/null 2>&1") == 0 &&
           access(COMPOSER_SEMVER "/VersionParser.php", R_OK) == 0 &&
           access(COMPOSER_SEMVER "/autoload.php", R_OK) == 0;
}

/* Composer's own parser over ~150 odd names, line by line against ours. */
START_TEST(test_php_oracle)
{
    const char *dir = getenv("CMC_FIXTURES") ? getenv("CMC_FIXTURES") : CMC_FIXTURES;
    char cmd[4096], line[1024], names[2048];
    FILE *php;
    int lines = 0;

    snprintf(names, sizeof(names), "%s/version-names.txt", dir);
    snprintf(cmd, sizeof(cmd), "php '%s/oracle.php' '" COMPOSER_SEMVER "/autoload.php' '%s'", dir,
             names);
    php = popen(cmd, "r");
    ck_assert_ptr_nonnull(php);
    while (fgets(line, sizeof(line), php)) {
        char norm[CMC_VERSION_MAX], branch[CMC_VERSION_MAX], mine[1200];
        const char *name = line;
        line[strcspn(line, "\n")] = '\0';
        const char *tab = strchr(name, '\t');
        ck_assert_ptr_nonnull(tab);
        char key[512];
        snprintf(key, sizeof(key), "%.*s", (int)(tab - name), name);
        if (cmc_normalize(norm, sizeof(norm), key) != CM_OK)
            snprintf(norm, sizeof(norm), "!");
        cmc_normalize_branch(branch, sizeof(branch), key);
        snprintf(mine, sizeof(mine), "%s\t%s\t%s\t%d", key, norm, branch, cmc_branch_valid(key));
        ck_assert_str_eq(mine, name);
        lines++;
    }
    ck_assert_int_eq(pclose(php), 0);
    ck_assert_int_ge(lines, 80);
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("composer_version");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_normalize, 0,
                        sizeof(normalize_cases) / sizeof(normalize_cases[0]));
    tcase_add_loop_test(tc, test_normalize_branch, 0,
                        sizeof(branch_norm_cases) / sizeof(branch_norm_cases[0]));
    tcase_add_loop_test(tc, test_tag_version, 0, sizeof(tag_cases) / sizeof(tag_cases[0]));
    tcase_add_loop_test(tc, test_branch_version, 0, sizeof(branch_cases) / sizeof(branch_cases[0]));
    tcase_add_test(tc, test_compare);
    tcase_add_loop_test(tc, test_package_name, 0, sizeof(name_cases) / sizeof(name_cases[0]));
    suite_add_tcase(s, tc);
    /* Without php the oracle is not registered, so check does not count it as passed. */
    if (have_oracle()) {
        tc = tcase_create("oracle");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_php_oracle);
        suite_add_tcase(s, tc);
    } else {
        printf("SKIP: php oracle: php or " COMPOSER_SEMVER " missing "
               "(apt-get install php-cli php-composer-semver)\n");
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
