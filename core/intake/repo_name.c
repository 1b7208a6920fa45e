/* SPDX-License-Identifier: MIT */
/*
 * The repository-name floor (repo_name.h). The name becomes data_dir/mirrors/<endpoint>/
 * <name>.git and is put into clone_url templates, so everything that could climb out of that
 * directory, nest one mirror in another, or change a URL's meaning is refused here.
 */
#include <string.h>
#include <strings.h>

#include "cargoman/plugin.h"
#include "intake/repo_name.h"

/* Bytes a name may hold: what the four hosts allow, and '~' for Data Center's personal
 * projects; nothing a path, a URL or a shell gives meaning to. */
static int rn_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '~' || c == '+';
}

static int rn_segment(const char *s, size_t n, int last, const char **why)
{
    if (n == 0) {
        *why = "it has an empty path segment (a leading, trailing or doubled '/')";
        return CM_EINVAL;
    }
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
        *why = "it has a \".\" or \"..\" path segment";
        return CM_EINVAL;
    }
    if (n > CM_REPO_SEGMENT_MAX) {
        *why = "a path segment is longer than 250 bytes";
        return CM_EINVAL;
    }
    /* In any case: on a case-insensitive file system "a.GIT" is the directory "a.git". */
    if (!last && n >= 4 && !strncasecmp(s + n - 4, ".git", 4)) {
        *why = "a segment before the last ends in \".git\", which would put one mirror inside "
               "another";
        return CM_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            *why = "it holds a control character";
            return CM_EINVAL;
        }
        if (!rn_char(c)) {
            *why = "it holds a character other than letters, digits, '.', '_', '-', '~', '+' "
                   "and '/'";
            return CM_EINVAL;
        }
    }
    return CM_OK;
}

int cm_repo_name_check(const char *name, const char **why)
{
    size_t len = name ? strlen(name) : 0;
    const char *p = name;

    if (len == 0) {
        *why = "the repository name is empty";
        return CM_EINVAL;
    }
    if (len > CM_REPO_NAME_MAX) {
        *why = "it is longer than 1024 bytes";
        return CM_EINVAL;
    }
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (rn_segment(p, n, !slash, why) != CM_OK)
            return CM_EINVAL;
        if (!slash)
            return CM_OK;
        p = slash + 1;
    }
}

int cm_repo_id_usable(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > CM_REPO_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '{' || c == '}'))
            return 0;
    }
    return 1;
}
