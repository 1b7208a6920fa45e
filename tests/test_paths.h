/* SPDX-License-Identifier: MIT */
/*
 * Where the tests find the source tree, the built plugin modules and the shared fixtures.
 * The Makefile passes them in the environment; the defaults fit a plain in-tree build.
 */
#ifndef CM_TEST_PATHS_H
#define CM_TEST_PATHS_H

#include <stdlib.h>
#include <sys/stat.h>

static inline const char *cm_test_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static inline const char *cm_test_srcdir(void)
{
    return cm_test_env("CM_SRCDIR", ".");
}

static inline const char *cm_test_builddir(void)
{
    return cm_test_env("CM_BUILDDIR", ".");
}

static inline const char *cm_test_module_dir(void)
{
    return cm_test_env("CM_MODULE_DIR", "./modules");
}

/* ../shared/fixtures beside the source tree, or NULL when it is not there. */
static inline const char *cm_test_shared_fixtures(void)
{
    struct stat st;
    const char *dir = cm_test_env("CM_SHARED_FIXTURES", "../shared/fixtures");
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

#endif
