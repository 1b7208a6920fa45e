/* SPDX-License-Identifier: MIT */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, PATH_MAX, inet_pton */
#endif

/*
 * ${VAR} and ${VAR:-default} in configuration strings, replaced from the environment so the
 * variables users already export (BITBUCKET_WEBHOOK_SECRET, GIT_AUTH_TOKEN, ...) keep working.
 * "$$" is a literal "$"; a "$" followed by anything but "{" or "$" is kept as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "config/config.h"
#include "util/buf.h"

/* ${A:-${B:-${C:-x}}} is plenty; the limit only stops runaway recursion. */
#define EE_MAX_DEPTH 8

static int ee_is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int ee_is_name(char c)
{
    return ee_is_name_start(c) || (c >= '0' && c <= '9');
}

/* The length of a ${...} default starting at s (after ":-"), up to the "}" that closes it;
 * nested ${...} and $$ are skipped whole. -1 when nothing closes it. */
static long ee_default_len(const char *s, size_t n)
{
    int depth = 1;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '$' && i + 1 < n && (s[i + 1] == '$' || s[i + 1] == '{')) {
            if (s[i + 1] == '{')
                depth++;
            i++;
        } else if (s[i] == '}' && --depth == 0) {
            return (long)i;
        }
    }
    return -1;
}

static int ee_expand(const char *s, size_t n, struct cm_buf *b, int depth, char *err,
                     size_t errlen);

/* One reference at s (which starts with "${"); *used is set to how much of s it spans. */
static int ee_ref(const char *s, size_t n, struct cm_buf *b, int depth, size_t *used, char *err,
                  size_t errlen)
{
    size_t i = 2;
    char name[256];

    while (i < n && ee_is_name(s[i]))
        i++;
    size_t nlen = i - 2;
    if (i >= n) {
        snprintf(err, errlen,
                 "unterminated \"${\" in \"%.*s\": close it with \"}\", or write "
                 "\"$$\" for a literal \"$\"",
                 (int)n, s);
        return CM_EINVAL;
    }
    if (nlen == 0 || !ee_is_name_start(s[2]) || nlen >= sizeof(name)) {
        snprintf(err, errlen,
                 "bad variable name in \"%.*s\": names are letters, digits and _, "
                 "not starting with a digit (write \"$$\" for a literal \"$\")",
                 (int)(i + 1 < n ? i + 1 : n), s);
        return CM_EINVAL;
    }
    memcpy(name, s + 2, nlen);
    name[nlen] = '\0';
    const char *value = getenv(name);

    if (s[i] == '}') {
        *used = i + 1;
        if (!value) {
            snprintf(err, errlen, "${%s} is not set: export it or write ${%s:-default}", name,
                     name);
            return CM_EINVAL;
        }
        return cm_buf_append(b, value, strlen(value));
    }
    if (s[i] != ':' || i + 1 >= n || s[i + 1] != '-') {
        snprintf(err, errlen, "bad variable reference \"%.*s\": write ${%s} or ${%s:-default}",
                 (int)(i + 1), s, name, name);
        return CM_EINVAL;
    }
    const char *def = s + i + 2;
    long dlen = ee_default_len(def, n - i - 2);
    if (dlen < 0) {
        snprintf(err, errlen, "unterminated \"${%s:-\": close it with \"}\"", name);
        return CM_EINVAL;
    }
    *used = i + 2 + (size_t)dlen + 1;
    /* As in the shell, ":-" also replaces an empty value. */
    if (value && *value)
        return cm_buf_append(b, value, strlen(value));
    return ee_expand(def, (size_t)dlen, b, depth + 1, err, errlen);
}

static int ee_expand(const char *s, size_t n, struct cm_buf *b, int depth, char *err, size_t errlen)
{
    int rc = CM_OK;

    if (depth > EE_MAX_DEPTH) {
        snprintf(err, errlen, "${...:-...} defaults nested more than %d deep", EE_MAX_DEPTH);
        return CM_EINVAL;
    }
    for (size_t i = 0; i < n && rc == CM_OK;) {
        size_t start = i;
        while (i < n && s[i] != '$')
            i++;
        rc = cm_buf_append(b, s + start, i - start);
        if (rc != CM_OK || i >= n)
            break;
        if (i + 1 < n && s[i + 1] == '{') {
            size_t used = 0;
            rc = ee_ref(s + i, n - i, b, depth, &used, err, errlen);
            i += used;
        } else {
            /* "$$" stands for one "$"; a lone "$" is kept. */
            rc = cm_buf_append(b, "$", 1);
            i += i + 1 < n && s[i + 1] == '$' ? 2 : 1;
        }
    }
    return rc;
}

int cm_expand_env(const char *in, char **out, char *err, size_t errlen)
{
    struct cm_buf b = {0};
    int rc;

    *out = NULL;
    rc = cm_buf_append(&b, "", 0);
    if (rc == CM_OK)
        rc = ee_expand(in, strlen(in), &b, 0, err, errlen);
    if (rc == CM_ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (rc != CM_OK) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    return CM_OK;
}
