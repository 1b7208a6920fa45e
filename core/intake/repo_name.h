/* SPDX-License-Identifier: MIT */
/*
 * Which repository names the core accepts from any provider, before a name becomes a mirror
 * path, a URL or a log line. Providers check their host's own character set first; this is
 * the floor under every provider, third parties' included.
 */
#ifndef CM_REPO_NAME_H
#define CM_REPO_NAME_H

#include <stddef.h>

/* Longest repository name accepted, in bytes, and longest segment (a file name). */
#define CM_REPO_NAME_MAX 1024
#define CM_REPO_SEGMENT_MAX 250 /* 255 less the ".git" the mirror adds and a spare byte */

/* Check name: segments separated by single '/', none empty, "." or "..", none but the last
 * ending in ".git" (so no mirror can lie inside another), each at most CM_REPO_SEGMENT_MAX
 * bytes and the whole at most CM_REPO_NAME_MAX, made of letters, digits, '.', '_', '-', '~'
 * and '+' only. CM_OK, or CM_EINVAL with why (a static text) saying which rule it breaks. */
int cm_repo_name_check(const char *name, const char **why);

/* Longest repository id kept, in bytes: the hosts' ids are numbers or a braced UUID. */
#define CM_REPO_ID_MAX 100

/* 1 when id can key a mirror across renames: 1..CM_REPO_ID_MAX letters, digits, '-', '_',
 * '{' and '}' (a number, or Bitbucket's "{uuid}"), which is also a safe file name. */
int cm_repo_id_usable(const char *id);

#endif
