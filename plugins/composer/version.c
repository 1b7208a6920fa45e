/* SPDX-License-Identifier: MIT */
/*
 * Composer's version rules written as small hand-made matchers: what composer/semver's
 * VersionParser accepts and produces, and how VcsRepository names tag and branch versions.
 * tests/check_composer_version.c holds the tables and compares with PHP when it is installed.
 */
#include "version.h"

#include <cargoman/plugin.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A growing string with a fixed capacity; any overflow makes the whole result invalid. */
struct vp_buf {
    char *s;
    size_t cap, len;
    int overflow;
};

static void vp_put(struct vp_buf *b, const char *s, size_t n)
{
    if (b->len + n >= b->cap) {
        b->overflow = 1;
        return;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void vp_puts(struct vp_buf *b, const char *s)
{
    vp_put(b, s, strlen(s));
}

/* PHP's trim() set: no \f, unlike isspace(). */
static int vp_trimchar(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\v';
}

/* PCRE's \s. */
static int vp_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int vp_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Copy s without PHP-trim characters at either end into a bounded buffer. */
static int vp_trim(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && vp_trimchar(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && vp_trimchar(s[n - 1]))
        n--;
    if (n >= outlen)
        return CM_EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return CM_OK;
}

static int vp_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static size_t vp_iprefix(const char *s, const char *p)
{
    size_t n = strlen(p);
    return strncasecmp(s, p, n) == 0 ? n : 0;
}

/* The modifier part of a version: [._-]?((stability)(numbers))?([.-]?dev)? up to the end. */
struct vp_mod {
    const char *stab;
    size_t stab_len;
    const char *num;
    size_t num_len;
    int dev;
};

static int vp_dev_tail(const char *s, int *dev)
{
    if (*s == '\0') {
        *dev = 0;
        return 1;
    }
    if ((*s == '.' || *s == '-') && vp_ieq(s + 1, "dev")) {
        *dev = 1;
        return 1;
    }
    if (vp_ieq(s, "dev")) {
        *dev = 1;
        return 1;
    }
    return 0;
}

static int vp_modifier(const char *s, struct vp_mod *mod)
{
    /* Alternatives in the order the regex tries them: the longer word first where they share
     * a start, so "beta" is never read as "b" + "eta". */
    static const char *const stabs[] = {"stable", "beta", "b",  "RC", "alpha",
                                        "a",      "patch", "pl", "p"};
    const char *p = s;
    if (*p == '.' || *p == '_' || *p == '-')
        p++;
    memset(mod, 0, sizeof(*mod));
    for (size_t i = 0; i < sizeof(stabs) / sizeof(stabs[0]); i++) {
        size_t n = vp_iprefix(p, stabs[i]);
        if (n == 0)
            continue;
        const char *q = p + n, *r = q;
        for (;;) {
            const char *t = r;
            if (*t == '.' || *t == '-')
                t++;
            if (!vp_digit(*t))
                break;
            while (vp_digit(*t))
                t++;
            r = t;
        }
        if (vp_dev_tail(r, &mod->dev)) {
            mod->stab = p;
            mod->stab_len = n;
            mod->num = q;
            mod->num_len = (size_t)(r - q);
            return 1;
        }
    }
    return vp_dev_tail(p, &mod->dev);
}

/* v?(\d{1,5})(\.\d+){0,3} then the modifier: 1 and the numeric part in b, or 0. */
static int vp_classical(const char *s, struct vp_buf *b, struct vp_mod *mod)
{
    const char *p = s;
    size_t n = 0;
    int groups = 0;

    if (*p == 'v' || *p == 'V')
        p++;
    while (vp_digit(p[n]))
        n++;
    if (n < 1 || n > 5)
        return 0;
    const char *start = p;
    p += n;
    while (groups < 3 && p[0] == '.' && vp_digit(p[1])) {
        p++;
        while (vp_digit(*p))
            p++;
        groups++;
    }
    if (!vp_modifier(p, mod))
        return 0;
    vp_put(b, start, (size_t)(p - start));
    for (; groups < 3; groups++)
        vp_puts(b, ".0");
    return 1;
}

static int vp_datesep(char c)
{
    return c == '.' || c == ':' || c == '-';
}

/* Whether s (after the leading four digits) is ([.:-]?\d\d){groups..6}([.:-]?\d{1,3})? exactly. */
static int vp_date_rest(const char *s, int groups)
{
    if (groups >= 1) {
        const char *t = s + (vp_datesep(*s) ? 1 : 0);
        size_t n = 0;
        if (*s == '\0')
            return 1;
        while (vp_digit(t[n]))
            n++;
        if (n >= 1 && n <= 3 && t[n] == '\0')
            return 1;
    }
    if (groups < 6) {
        const char *t = s + (vp_datesep(*s) ? 1 : 0);
        if (vp_digit(t[0]) && vp_digit(t[1]) && vp_date_rest(t + 2, groups + 1))
            return 1;
    }
    return 0;
}

/* Date versions: v?(\d{4}([.:-]?\d{2}){1,6}([.:-]?\d{1,3})?) then the modifier. The date part
 * must take every digit of the leading run: the modifier only takes digits after a word. */
static int vp_date(const char *s, struct vp_buf *b, struct vp_mod *mod)
{
    const char *p = s, *end, *last = NULL;
    char date[CMC_VERSION_MAX];
    size_t n;

    if (*p == 'v' || *p == 'V')
        p++;
    for (end = p; vp_digit(*end) || vp_datesep(*end); end++) {
        if (vp_digit(*end))
            last = end;
    }
    if (last == NULL || (n = (size_t)(last + 1 - p)) < 6 || n >= sizeof(date))
        return 0;
    memcpy(date, p, n);
    date[n] = '\0';
    for (size_t i = 0; i < 4; i++) {
        if (!vp_digit(date[i]))
            return 0;
    }
    if (!vp_date_rest(date + 4, 0) || !vp_modifier(last + 1, mod))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!vp_digit(date[i]))
            date[i] = '.';
    }
    vp_puts(b, date);
    return 1;
}

static const char *vp_expand_stability(const char *s, size_t n, char *tmp, size_t tmplen)
{
    if (n >= tmplen)
        n = tmplen - 1;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (char)tolower((unsigned char)s[i]);
    tmp[n] = '\0';
    if (strcmp(tmp, "a") == 0)
        return "alpha";
    if (strcmp(tmp, "b") == 0)
        return "beta";
    if (strcmp(tmp, "p") == 0 || strcmp(tmp, "pl") == 0)
        return "patch";
    if (strcmp(tmp, "rc") == 0)
        return "RC";
    return tmp;
}

/* Append the modifier Composer keeps: "-beta2", "-RC1", "-dev"... */
static void vp_put_modifier(struct vp_buf *b, const struct vp_mod *mod)
{
    char tmp[16];
    if (mod->stab_len > 0) {
        /* Composer compares with 'stable' case-sensitively: "1.0-STABLE" keeps "-stable". */
        if (mod->stab_len == 6 && strncmp(mod->stab, "stable", 6) == 0)
            return;
        vp_puts(b, "-");
        vp_puts(b, vp_expand_stability(mod->stab, mod->stab_len, tmp, sizeof(tmp)));
        const char *num = mod->num;
        size_t len = mod->num_len;
        while (len > 0 && (*num == '.' || *num == '-')) {
            num++;
            len--;
        }
        vp_put(b, num, len);
    }
    if (mod->dev)
        vp_puts(b, "-dev");
}

/* Strip " as alias" and "@stability" the way normalize() does, in place. */
static void vp_strip_flags(char *v)
{
    static const char *const flags[] = {"stable", "RC", "beta", "alpha", "dev"};
    size_t i = strcspn(v, ", \t\n\r\f\v");
    if (i > 0 && v[i] == ' ') {
        const char *p = v + i;
        while (*p == ' ')
            p++;
        if (p[0] == 'a' && p[1] == 's' && p[2] == ' ') {
            p += 2;
            while (*p == ' ')
                p++;
            if (*p != '\0' && p[strcspn(p, ", \t\n\r\f\v")] == '\0')
                v[i] = '\0';
        }
    }
    size_t len = strlen(v);
    for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
        size_t n = strlen(flags[k]);
        if (len > n && v[len - n - 1] == '@' && vp_ieq(v + len - n, flags[k])) {
            v[len - n - 1] = '\0';
            return;
        }
    }
}

int cmc_normalize(char *out, size_t outlen, const char *version)
{
    char v[CMC_VERSION_MAX];
    struct vp_buf b = {out, outlen, 0, 0};
    struct vp_mod mod;

    if (outlen == 0 || vp_trim(v, sizeof(v), version) != CM_OK)
        return CM_EINVAL;
    out[0] = '\0';
    vp_strip_flags(v);
    if (strcmp(v, "master") == 0 || strcmp(v, "trunk") == 0 || strcmp(v, "default") == 0) {
        vp_puts(&b, "dev-");
        vp_puts(&b, v);
        return b.overflow ? CM_EINVAL : CM_OK;
    }
    if (strncasecmp(v, "dev-", 4) == 0) {
        vp_puts(&b, "dev-");
        vp_puts(&b, v + 4);
        return b.overflow ? CM_EINVAL : CM_OK;
    }
    size_t i = strcspn(v, ",+ \t\n\r\f\v");
    if (i > 0 && v[i] == '+' && v[i + 1] != '\0' && v[i + 1 + strcspn(v + i + 1, " \t\n\r\f\v")] == '\0')
        v[i] = '\0';

    if (vp_classical(v, &b, &mod) || vp_date(v, &b, &mod)) {
        vp_put_modifier(&b, &mod);
        return b.overflow ? CM_EINVAL : CM_OK;
    }

    /* "1.x-dev" style: a numeric branch name followed by dev. */
    size_t len = strlen(v);
    if (len >= 3 && vp_ieq(v + len - 3, "dev")) {
        char head[CMC_VERSION_MAX], norm[CMC_VERSION_MAX];
        len -= 3;
        if (len > 0 && (v[len - 1] == '.' || v[len - 1] == '-'))
            len--;
        memcpy(head, v, len);
        head[len] = '\0';
        if (cmc_normalize_branch(norm, sizeof(norm), head) == CM_OK && !strstr(norm, "dev-")) {
            vp_puts(&b, norm);
            return b.overflow ? CM_EINVAL : CM_OK;
        }
    }
    out[0] = '\0';
    return CM_EINVAL;
}

int cmc_normalize_branch(char *out, size_t outlen, const char *name)
{
    char n[CMC_VERSION_MAX];
    struct vp_buf b = {out, outlen, 0, 0};
    const char *p;
    int groups = 0;

    if (outlen == 0 || vp_trim(n, sizeof(n), name) != CM_OK)
        return CM_EINVAL;
    out[0] = '\0';
    p = n;
    if (*p == 'v' || *p == 'V')
        p++;
    if (vp_digit(*p)) {
        char num[CMC_VERSION_MAX];
        struct vp_buf nb = {num, sizeof(num), 0, 0};
        num[0] = '\0';
        while (vp_digit(*p))
            vp_put(&nb, p++, 1);
        while (groups < 3 && p[0] == '.' &&
               (vp_digit(p[1]) || p[1] == 'x' || p[1] == 'X' || p[1] == '*')) {
            vp_put(&nb, ".", 1);
            p++;
            if (vp_digit(*p)) {
                while (vp_digit(*p))
                    vp_put(&nb, p++, 1);
            } else {
                vp_put(&nb, "x", 1);
                p++;
            }
            groups++;
        }
        if (*p == '\0') {
            for (; groups < 3; groups++)
                vp_put(&nb, ".x", 2);
            for (const char *c = num; *c; c++)
                vp_puts(&b, *c == 'x' ? "9999999" : (char[2]){*c, '\0'});
            vp_puts(&b, "-dev");
            return b.overflow || nb.overflow ? CM_EINVAL : CM_OK;
        }
    }
    vp_puts(&b, "dev-");
    vp_puts(&b, n);
    return b.overflow ? CM_EINVAL : CM_OK;
}

/* One piece of a constraint list: could parseConstraint() read it? Close to Composer for
 * what git allows in a branch name; see docs/composer.md for the exact limits. */
static int vp_constraint_ok(const char *c, size_t n)
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
        if (at && strlen(at + 1) == fl && vp_ieq(at + 1, flags[k]) && !strpbrk(s, ", \t")) {
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
            !(strlen(s) > 6 && vp_ieq(s + strlen(s) - 6, ".x-dev")))
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
        while (vp_space(*p))
            p++;
    }
    if (cmc_normalize(norm, sizeof(norm), p) == CM_OK)
        return 1;
    size_t len = strlen(p);
    return len >= 4 && strcmp(p + len - 4, "-dev") == 0 &&
           strspn(p, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-./") == len;
}

/* Whether the comma or space at s[i] splits an AND list, per Composer's split pattern. */
static int vp_and_split(const char *s, size_t i, size_t len)
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
        } else if ((norm[i] == ',' || norm[i] == ' ') && vp_and_split(norm, i, len)) {
            cut = 1;
        }
        if (!cut)
            continue;
        if (start > 0 && !vp_constraint_ok(norm + start, i - start))
            return 0;
        i += (size_t)skip;
        start = i + 1;
    }
    return 1;
}

static void vp_why(char *why, size_t whylen, const char *fmt, ...) CM_PRINTF(3, 4);
static void vp_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Drop a trailing [.-]?dev (case-insensitive) and, when lead is set, a leading dev-. */
static void vp_drop_dev(char *s, int lead)
{
    size_t len;
    if (lead && strncasecmp(s, "dev-", 4) == 0)
        memmove(s, s + 4, strlen(s + 4) + 1);
    len = strlen(s);
    if (len >= 3 && vp_ieq(s + len - 3, "dev")) {
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
    struct vp_buf b = {name, sizeof(name), 0, 0};
    const char *p = tag;

    name[0] = '\0';
    /* Composer removes "release-" wherever it appears, not only in front. */
    while (*p) {
        const char *hit = strstr(p, "release-");
        if (!hit) {
            vp_puts(&b, p);
            break;
        }
        vp_put(&b, p, (size_t)(hit - p));
        p = hit + 8;
    }
    if (b.overflow || cmc_normalize(parsed, sizeof(parsed), name) != CM_OK) {
        vp_why(why, whylen, "tag \"%s\" is not a version Composer understands%s", tag,
               "; name tags like 1.2.3, v1.2.3 or 1.0.0-RC1");
        return CM_EINVAL;
    }
    if (json_version) {
        if (cmc_normalize(out->normalized, sizeof(out->normalized), json_version) != CM_OK) {
            vp_why(why, whylen, "composer.json version \"%s\" is not a valid version%s",
                   json_version, "; fix it or remove the field");
            return CM_EINVAL;
        }
        snprintf(out->version, sizeof(out->version), "%s", json_version);
    } else {
        snprintf(out->version, sizeof(out->version), "%s", name);
        snprintf(out->normalized, sizeof(out->normalized), "%s", parsed);
    }
    vp_drop_dev(out->version, 0);
    vp_drop_dev(out->normalized, 1);
    if (strcmp(out->normalized, parsed) != 0) {
        if (json_version)
            vp_why(why, whylen, "composer.json version \"%s\" does not match tag \"%s\"",
                   json_version, tag);
        else
            vp_why(why, whylen, "tag \"%s\" has a dev prefix or suffix%s", tag,
                   "; tags must name releases");
        return CM_EINVAL;
    }
    return CM_OK;
}

int cmc_branch_version(struct cmc_version *out, const char *branch, char *why, size_t whylen)
{
    struct vp_buf b = {out->version, sizeof(out->version), 0, 0};
    const char *p;

    out->version[0] = '\0';
    if (cmc_normalize_branch(out->normalized, sizeof(out->normalized), branch) != CM_OK ||
        !cmc_branch_valid(branch)) {
        vp_why(why, whylen, "branch \"%s\" is not a name Composer accepts%s", branch,
               " (it would not parse as a constraint)");
        return CM_EINVAL;
    }
    if (strncmp(out->normalized, "dev-", 4) == 0 || strcmp(out->normalized, "9999999-dev") == 0) {
        vp_puts(&b, "dev-");
        vp_puts(&b, branch);
        return b.overflow ? CM_EINVAL : CM_OK;
    }
    if (branch[0] == 'v')
        vp_puts(&b, "v");
    /* Every run of ".9999999" becomes ".x": 1.9999999.9999999.9999999-dev is 1.x-dev. */
    for (p = out->normalized; *p;) {
        if (strncmp(p, ".9999999", 8) == 0) {
            while (strncmp(p, ".9999999", 8) == 0)
                p += 8;
            vp_puts(&b, ".x");
        } else {
            vp_put(&b, p++, 1);
        }
    }
    return b.overflow ? CM_EINVAL : CM_OK;
}

/* Rank of a normalized version's pre-release word: dev < alpha < beta < RC < release < patch. */
static int vp_rank(const char *s, size_t n)
{
    static const char *const words[] = {"dev", "alpha", "beta", "RC", "", "patch"};
    for (int i = 0; i < 6; i++) {
        if (strlen(words[i]) == n && strncasecmp(s, words[i], n) == 0)
            return i;
    }
    return 4;
}

/* Compare two runs of dot-separated numbers, numerically, missing parts counting as 0. */
static int vp_cmp_numbers(const char **pa, const char **pb)
{
    const char *a = *pa, *b = *pb;
    int r = 0;
    while (r == 0 && (vp_digit(*a) || vp_digit(*b))) {
        unsigned long long x = strtoull(a, (char **)&a, 10);
        unsigned long long y = strtoull(b, (char **)&b, 10);
        r = x < y ? -1 : x > y;
        if (*a == '.' && vp_digit(a[1]))
            a++;
        if (*b == '.' && vp_digit(b[1]))
            b++;
    }
    *pa = a;
    *pb = b;
    return r;
}

/* Split "-word<num>" off a suffix: the word's rank and where its number starts. */
static int vp_suffix(const char **p)
{
    const char *s = *p, *w;
    if (*s == '-')
        s++;
    w = s;
    while (isalpha((unsigned char)*s))
        s++;
    *p = s;
    return vp_rank(w, (size_t)(s - w));
}

int cmc_version_compare(const char *a, const char *b)
{
    int deva = strncmp(a, "dev-", 4) == 0, devb = strncmp(b, "dev-", 4) == 0, r;
    if (deva || devb)
        return deva && devb ? -strcmp(a, b) : deva ? -1 : 1;
    if ((r = vp_cmp_numbers(&a, &b)) != 0)
        return r;
    /* Up to two suffixes: "-beta2" then maybe "-dev". */
    for (int k = 0; k < 2; k++) {
        if (*a == '\0' && *b == '\0')
            return 0;
        int ra = *a ? vp_suffix(&a) : 4, rb = *b ? vp_suffix(&b) : 4;
        if (ra != rb)
            return ra < rb ? -1 : 1;
        if ((r = vp_cmp_numbers(&a, &b)) != 0)
            return r;
        while (*a == '.')
            a++;
        while (*b == '.')
            b++;
    }
    return strcmp(a, b);
}

static int vp_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || vp_digit(c);
}

/* One side of vendor/name: alnum runs joined by single separators from seps; "--" is allowed
 * where double_dash is set (the package part). */
static const char *vp_name_part(const char *p, const char *seps, int double_dash)
{
    if (!vp_alnum(*p))
        return NULL;
    for (;;) {
        while (vp_alnum(*p))
            p++;
        const char *q = p;
        if (*q && strchr(seps, *q)) {
            q++;
            if (double_dash && p[0] == '-' && q[0] == '-')
                q++;
        }
        if (q == p || !vp_alnum(*q))
            return p;
        p = q;
    }
}

int cmc_valid_package_name(const char *name)
{
    const char *p = vp_name_part(name, "_.-", 0);
    if (!p || *p != '/')
        return 0;
    p = vp_name_part(p + 1, "_.-", 1);
    return p && *p == '\0';
}
