/* SPDX-License-Identifier: MIT */
/*
 * Glob patterns over slash-separated names ("tools/cli", "acme/" then a star): '*' matches
 * any run of characters within one segment, a "**" segment any number of whole segments,
 * including none. Letters compare without regard to ASCII case. Knows nothing of webhooks.
 */
#ifndef CM_PATH_GLOB_H
#define CM_PATH_GLOB_H

#include <stddef.h>

/* Most segments a pattern may have; a name with more matches only through "**". */
#define CM_PATH_GLOB_SEGMENTS 64

/* Whether pattern is well formed. CM_OK, or CM_EINVAL with why (one line saying what to
 * change, without the pattern itself) written into why. */
int cm_path_glob_check(const char *pattern, char *why, size_t whylen);

/* 1 when name matches pattern (a pattern cm_path_glob_check accepts), else 0. */
int cm_path_glob_match(const char *pattern, const char *name);

#endif
