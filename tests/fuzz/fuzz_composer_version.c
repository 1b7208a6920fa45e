/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: Composer's version rules (plugins/composer/version.c, vcs.c). The input is up
 * to three lines: a tag or branch name, a composer.json "version" (absent: none), and a second
 * name to order against. Outputs go to buffers of every small size, so a write one past the
 * end is caught, and the order of versions must be antisymmetric.
 */
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "fuzz.h"
#include "version.h"

static int fv_sign(int x)
{
    return (x > 0) - (x < 0);
}

/* fn into a heap buffer of exactly outlen bytes, for each outlen up to a full one. */
static void fv_sizes(int (*fn)(char *, size_t, const char *), const char *in, const char *what)
{
    char full[CMC_VERSION_MAX];
    int want = fn(full, sizeof(full), in);

    FUZZ_CHECK(want == CM_OK || want == CM_EINVAL, "%s: status %d", what, want);
    if (want == CM_OK)
        FUZZ_CHECK(strlen(full) < sizeof(full), "%s", what);
    for (size_t n = 1; n <= 24; n++) {
        char *small = malloc(n);
        FUZZ_CHECK(small, "out of memory");
        int rc = fn(small, n, in);
        if (rc == CM_OK) {
            FUZZ_CHECK(want == CM_OK && memchr(small, '\0', n) && !strcmp(small, full),
                       "%s of \"%s\" into %zu bytes", what, in, n);
        }
        free(small);
    }
}

static const char *fv_version(const char *name, const char *json_version, struct cmc_version *v)
{
    char why[256] = "";
    int rc = cmc_tag_version(v, name, json_version, why, sizeof(why));

    FUZZ_CHECK(rc == CM_OK || rc == CM_EINVAL, "tag status %d", rc);
    if (rc == CM_OK) {
        FUZZ_CHECK(v->version[0] && v->normalized[0], "tag \"%s\" gives an empty version", name);
        return v->normalized;
    }
    FUZZ_CHECK(why[0], "tag \"%s\" refused without a reason", name);
    why[0] = '\0';
    rc = cmc_branch_version(v, name, why, sizeof(why));
    FUZZ_CHECK(rc == CM_OK || rc == CM_EINVAL, "branch status %d", rc);
    if (rc == CM_OK) {
        FUZZ_CHECK(v->version[0] && v->normalized[0], "branch \"%s\" gives an empty version", name);
        return v->normalized;
    }
    FUZZ_CHECK(why[0], "branch \"%s\" refused without a reason", name);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *name, *json = NULL, *other = NULL, *nl;
    struct cmc_version va, vb;
    const char *a, *b;
    int r;

    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    name = text;
    if ((nl = strchr(name, '\n'))) {
        *nl = '\0';
        json = nl + 1;
        if ((nl = strchr(json, '\n'))) {
            *nl = '\0';
            other = nl + 1;
        }
        if (!*json)
            json = NULL;
    }

    fv_sizes(cmc_normalize, name, "normalize");
    fv_sizes(cmc_normalize_branch, name, "normalize_branch");
    r = cmc_branch_valid(name);
    FUZZ_CHECK(r == 0 || r == 1, "branch_valid %d", r);
    r = cmc_valid_package_name(name);
    FUZZ_CHECK(r == 0 || r == 1, "valid_package_name %d", r);

    a = fv_version(name, json, &va);
    b = other ? fv_version(other, NULL, &vb) : NULL;
    if (a)
        FUZZ_CHECK(cmc_version_compare(a, a) == 0, "%s differs from itself", a);
    if (a && b)
        FUZZ_CHECK(fv_sign(cmc_version_compare(a, b)) == -fv_sign(cmc_version_compare(b, a)),
                   "order of %s and %s is not antisymmetric", a, b);
    free(text);
    return 0;
}
