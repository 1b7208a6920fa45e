/* SPDX-License-Identifier: MIT */
/*
 * Glob patterns over slash-separated names (path_glob.h). Both levels, '*' in a segment and
 * "**" over segments, match greedily and back up only to their last wildcard, so a match
 * costs at most pattern times name steps whatever the sender names.
 */
#include <stdio.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "util/path_glob.h"

#define PG_MAX 1024 /* bytes a pattern may have */

struct pg_seg {
    const char *s;
    size_t n;
};

/* The segment at *at into seg, and *at moved past it (NULL after the last). 0 when *at is
 * NULL: no segment left. */
static int pg_next(const char **at, struct pg_seg *seg)
{
    if (!*at)
        return 0;
    seg->s = *at;
    seg->n = strcspn(*at, "/");
    *at = (*at)[seg->n] ? *at + seg->n + 1 : NULL;
    return 1;
}

static int pg_globstar(const struct pg_seg *seg)
{
    return seg->n == 2 && seg->s[0] == '*' && seg->s[1] == '*';
}

static int pg_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* One segment of the name against one segment of the pattern, '*' matching any run. */
static int pg_segment(const struct pg_seg *p, const struct pg_seg *n)
{
    size_t i = 0, j = 0, star = 0, mark = 0;
    int starred = 0;

    while (j < n->n) {
        if (i < p->n && p->s[i] == '*') {
            star = i++;
            mark = j;
            starred = 1;
        } else if (i < p->n &&
                   pg_lower((unsigned char)p->s[i]) == pg_lower((unsigned char)n->s[j])) {
            i++;
            j++;
        } else if (starred) {
            i = star + 1;
            j = ++mark;
        } else {
            return 0;
        }
    }
    while (i < p->n && p->s[i] == '*')
        i++;
    return i == p->n;
}

int cm_path_glob_match(const char *pattern, const char *name)
{
    const char *p = pattern, *n = name, *star_p = NULL, *star_n = NULL;
    struct pg_seg ps, ns;
    int starred = 0;

    while (n) {
        const char *p2 = p, *n2 = n;
        int have = pg_next(&p2, &ps);

        if (have && pg_globstar(&ps)) {
            star_p = p = p2;
            star_n = n;
            starred = 1;
            continue;
        }
        pg_next(&n2, &ns);
        if (have && pg_segment(&ps, &ns)) {
            p = p2;
            n = n2;
            continue;
        }
        if (!starred)
            return 0;
        /* The last "**" takes one more segment of the name, and the rest is tried again. */
        pg_next(&star_n, &ns);
        p = star_p;
        n = star_n;
    }
    while (pg_next(&p, &ps))
        if (!pg_globstar(&ps))
            return 0;
    return 1;
}

static int pg_has_double_star(const struct pg_seg *seg)
{
    for (size_t i = 0; i + 1 < seg->n; i++)
        if (seg->s[i] == '*' && seg->s[i + 1] == '*')
            return 1;
    return 0;
}

/* What is wrong with one segment of a pattern, or NULL. */
static const char *pg_segment_error(const struct pg_seg *seg)
{
    if (seg->n == 0)
        return "has an empty segment (a leading, trailing or doubled '/'): write e.g. "
               "\"acme/*\"";
    if (!pg_globstar(seg) && pg_has_double_star(seg))
        return "uses ** inside a segment: ** stands for whole segments (\"acme/**\"), * for "
               "part of one (\"acme/web-*\")";
    for (size_t i = 0; i < seg->n; i++) {
        unsigned char c = (unsigned char)seg->s[i];
        if (c <= 0x20 || c == 0x7f)
            return "holds a space or a control character: repository names have none";
        if (c == '?' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\\')
            return "uses ? [ ] { } or \\: only * (within a segment) and ** (whole segments) "
                   "are wildcards";
    }
    return NULL;
}

int cm_path_glob_check(const char *pattern, char *why, size_t whylen)
{
    const char *at = pattern, *err = NULL;
    struct pg_seg seg;
    size_t count = 0;

    if (!*pattern)
        err = "is empty: write a repository name (\"acme/widgets\") or a pattern (\"acme/*\")";
    else if (strlen(pattern) > PG_MAX)
        err = "is longer than 1024 bytes";
    while (!err && pg_next(&at, &seg)) {
        if (++count > CM_PATH_GLOB_SEGMENTS)
            err = "has more than 64 segments";
        else
            err = pg_segment_error(&seg);
    }
    if (!err)
        return CM_OK;
    snprintf(why, whylen, "%s", err);
    return CM_EINVAL;
}
