/* SPDX-License-Identifier: MIT */
/*
 * How Composer's VcsRepository turns git tags and branches into versions (on top of the
 * parser in version.c): which branch names it accepts, tag and branch versions, the order of
 * versions and the package name rule.
 */
#include "version.h"

#include <cargoman/plugin.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int vc_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int vc_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* PCRE's \s. */
static int vc_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* One piece of a constraint list: could parseConstraint() read it? Close to Composer for
 * what git allows in a branch name; see docs/composer.md for the exact limits. */
static int vc_constraint_ok(const char *c, size_t n)
{
    static const char *const flags[] = {"stable", "RC", "beta", "alpha", "dev"};
    char s[CMC_VERSION_MAX], norm[CMC_VERSION_MAX];
    const char *p;

    if (n >= sizeof(s))
        return 0;
    memcpy(s, c, n);
    s[n] = '\0';
    for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
        size_t fl = strlen(flags[k]);
        char *at = strrchr(s, '@');
        if (at && strlen(at + 1) == fl && vc_ieq(at + 1, flags[k]) && !strpbrk(s, ", \t")) {
            if (at == s)
                return 1;
            *at = '\0';
            break;
        }
    }
    char *hash = strchr(s, '#');
    if (hash && hash[1] != '\0' && hash > s) {
        *hash = '\0';
        if (strncasecmp(s, "dev-", 4) != 0 &&
            !(strlen(s) > 6 && vc_ieq(s + strlen(s) - 6, ".x-dev")))
            *hash = '#';
    }
    p = s;
    if (*p == 'v' || *p == 'V')
        p++;
    if (*p == 'x' || *p == 'X' || *p == '*') {
        const char *q = p + 1;
        while (q[0] == '.' && (q[1] == 'x' || q[1] == 'X' || q[1] == '*'))
            q += 2;
        if (*q == '\0')
            return 1;
    }
    p = s;
    if (*p == '~' || *p == '^') {
        if (p[0] == '~' && p[1] == '>')
            return 0;
        p++;
    } else {
        if (strncmp(p, "<>", 2) == 0 || strncmp(p, "!=", 2) == 0 || strncmp(p, ">=", 2) == 0 ||
            strncmp(p, "<=", 2) == 0 || strncmp(p, "==", 2) == 0)
            p += 2;
        else if (*p == '<' || *p == '>' || *p == '=')
            p++;
        while (vc_space(*p))
            p++;
    }
    if (cmc_normalize(norm, sizeof(norm), p) == CM_OK)
        return 1;
    size_t len = strlen(p);
    return len >= 4 && strcmp(p + len - 4, "-dev") == 0 &&
           strspn(p, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-./") == len;
}

/* Whether the comma or space at s[i] splits an AND list, per Composer's split pattern. */
static int vc_and_split(const char *s, size_t i, size_t len)
{
    if (i == 0 || strchr("=>< ,-", s[i - 1]) || (i >= 2 && strncmp(s + i - 2, "as", 2) == 0))
        return 0;
    if (i + 1 >= len || s[i + 1] == '-' || s[i + 1] == ',' || strncmp(s + i + 1, "as", 2) == 0)
        return 0;
    return 1;
}

int cmc_branch_valid(const char *branch)
{
    char norm[CMC_VERSION_MAX];
    size_t len, start = 0;

    if (cmc_normalize_branch(norm, sizeof(norm), branch) != CM_OK)
        return 0;
    len = strlen(norm);
    /* The first piece is "dev-..." or numeric and always parses; later ones must on their own. */
    for (size_t i = 0; i <= len; i++) {
        int cut = 0, skip = 0;
        if (i == len) {
            cut = 1;
        } else if (norm[i] == '|') {
            cut = 1;
            skip = norm[i + 1] == '|' ? 1 : 0;
        } else if ((norm[i] == ',' || norm[i] == ' ') && vc_and_split(norm, i, len)) {
            cut = 1;
        }
        if (!cut)
            continue;
        if (start > 0 && !vc_constraint_ok(norm + start, i - start))
            return 0;
        i += (size_t)skip;
        start = i + 1;
    }
    return 1;
}

static void vc_why(char *why, size_t whylen, const char *fmt, ...) CM_PRINTF(3, 4);
static void vc_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Drop a trailing [.-]?dev (case-insensitive) and, when lead is set, a leading dev-. */
static void vc_drop_dev(char *s, int lead)
{
    size_t len;
    len = strlen(s);
    if (lead && len >= 4 && strncasecmp(s, "dev-", 4) == 0) {
        memmove(s, s + 4, len - 3);
        len -= 4;
    }
    if (len >= 3 && vc_ieq(s + len - 3, "dev")) {
        len -= 3;
        if (len > 0 && (s[len - 1] == '.' || s[len - 1] == '-'))
            len--;
        s[len] = '\0';
    }
}

int cmc_tag_version(struct cmc_version *out, const char *tag, const char *json_version, char *why,
                    size_t whylen)
{
    char name[CMC_VERSION_MAX], parsed[CMC_VERSION_MAX];
    struct cmc_buf b = {name, sizeof(name), 0, 0};
    const char *p = tag;

    name[0] = '\0';
    /* Composer removes "release-" wherever it appears, not only in front. */
    while (*p) {
        const char *hit = strstr(p, "release-");
        if (!hit) {
            cmc_buf_puts(&b, p);
            break;
        }
        cmc_buf_put(&b, p, (size_t)(hit - p));
        p = hit + 8;
    }
    if (b.overflow || cmc_normalize(parsed, sizeof(parsed), name) != CM_OK) {
        vc_why(why, whylen, "tag \"%s\" is not a version Composer understands%s", tag,
               "; name tags like 1.2.3, v1.2.3 or 1.0.0-RC1");
        return CM_EINVAL;
    }
    if (json_version) {
        if (cmc_normalize(out->normalized, sizeof(out->normalized), json_version) != CM_OK) {
            vc_why(why, whylen, "composer.json version \"%s\" is not a valid version%s",
                   json_version, "; fix it or remove the field");
            return CM_EINVAL;
        }
        snprintf(out->version, sizeof(out->version), "%s", json_version);
    } else {
        snprintf(out->version, sizeof(out->version), "%s", name);
        snprintf(out->normalized, sizeof(out->normalized), "%s", parsed);
    }
    vc_drop_dev(out->version, 0);
    vc_drop_dev(out->normalized, 1);
    if (strcmp(out->normalized, parsed) != 0) {
        if (json_version)
            vc_why(why, whylen, "composer.json version \"%s\" does not match tag \"%s\"",
                   json_version, tag);
        else
            vc_why(why, whylen, "tag \"%s\" has a dev prefix or suffix%s", tag,
                   "; tags must name releases");
        return CM_EINVAL;
    }
    return CM_OK;
}

int cmc_branch_version(struct cmc_version *out, const char *branch, char *why, size_t whylen)
{
    struct cmc_buf b = {out->version, sizeof(out->version), 0, 0};
    const char *p;

    out->version[0] = '\0';
    if (cmc_normalize_branch(out->normalized, sizeof(out->normalized), branch) != CM_OK ||
        !cmc_branch_valid(branch)) {
        vc_why(why, whylen, "branch \"%s\" is not a name Composer accepts%s", branch,
               " (it would not parse as a constraint)");
        return CM_EINVAL;
    }
    if (strncmp(out->normalized, "dev-", 4) == 0 || strcmp(out->normalized, "9999999-dev") == 0) {
        cmc_buf_puts(&b, "dev-");
        cmc_buf_puts(&b, branch);
        goto out;
    }
    if (branch[0] == 'v')
        cmc_buf_puts(&b, "v");
    /* Every run of ".9999999" becomes ".x": 1.9999999.9999999.9999999-dev is 1.x-dev. */
    for (p = out->normalized; *p;) {
        if (strncmp(p, ".9999999", 8) == 0) {
            while (strncmp(p, ".9999999", 8) == 0)
                p += 8;
            cmc_buf_puts(&b, ".x");
        } else {
            cmc_buf_put(&b, p++, 1);
        }
    }
out:
    /* The normalized name fits where the version may not: trim() shortened it, or "v" was put
     * in front. */
    if (b.overflow) {
        vc_why(why, whylen, "branch \"%s\" is too long for a Composer version", branch);
        return CM_EINVAL;
    }
    return CM_OK;
}

/* Rank of a normalized version's pre-release word: dev < alpha < beta < RC < release < patch. */
static int vc_rank(const char *s, size_t n)
{
    static const char *const words[] = {"dev", "alpha", "beta", "RC", "", "patch"};
    for (int i = 0; i < 6; i++) {
        if (strlen(words[i]) == n && strncasecmp(s, words[i], n) == 0)
            return i;
    }
    return 4;
}

/* Compare two runs of dot-separated numbers, numerically, missing parts counting as 0. */
static int vc_cmp_numbers(const char **pa, const char **pb)
{
    const char *a = *pa, *b = *pb;
    int r = 0;
    while (r == 0 && (vc_digit(*a) || vc_digit(*b))) {
        unsigned long long x = strtoull(a, (char **)&a, 10);
        unsigned long long y = strtoull(b, (char **)&b, 10);
        r = x < y ? -1 : x > y;
        if (*a == '.' && vc_digit(a[1]))
            a++;
        if (*b == '.' && vc_digit(b[1]))
            b++;
    }
    *pa = a;
    *pb = b;
    return r;
}

/* Split "-word<num>" off a suffix: the word's rank and where its number starts. */
static int vc_suffix(const char **p)
{
    const char *s = *p, *w;
    if (*s == '-')
        s++;
    w = s;
    while (isalpha((unsigned char)*s))
        s++;
    *p = s;
    return vc_rank(w, (size_t)(s - w));
}

int cmc_version_compare(const char *a, const char *b)
{
    int deva = strncmp(a, "dev-", 4) == 0, devb = strncmp(b, "dev-", 4) == 0, r;
    if (deva || devb)
        return deva && devb ? -strcmp(a, b) : deva ? -1 : 1;
    if ((r = vc_cmp_numbers(&a, &b)) != 0)
        return r;
    /* Up to two suffixes: "-beta2" then maybe "-dev". */
    for (int k = 0; k < 2; k++) {
        if (*a == '\0' && *b == '\0')
            return 0;
        int ra = *a ? vc_suffix(&a) : 4, rb = *b ? vc_suffix(&b) : 4;
        if (ra != rb)
            return ra < rb ? -1 : 1;
        if ((r = vc_cmp_numbers(&a, &b)) != 0)
            return r;
        while (*a == '.')
            a++;
        while (*b == '.')
            b++;
    }
    return strcmp(a, b);
}

static int vc_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || vc_digit(c);
}

/* One side of vendor/name: alnum runs joined by single separators from seps; "--" is allowed
 * where double_dash is set (the package part). */
static const char *vc_name_part(const char *p, const char *seps, int double_dash)
{
    if (!vc_alnum(*p))
        return NULL;
    for (;;) {
        while (vc_alnum(*p))
            p++;
        const char *q = p;
        if (*q && strchr(seps, *q)) {
            q++;
            if (double_dash && p[0] == '-' && q[0] == '-')
                q++;
        }
        if (q == p || !vc_alnum(*q))
            return p;
        p = q;
    }
}

int cmc_valid_package_name(const char *name)
{
    const char *p = vc_name_part(name, "_.-", 0);
    if (!p || *p != '/')
        return 0;
    p = vc_name_part(p + 1, "_.-", 1);
    return p && *p == '\0';
}
