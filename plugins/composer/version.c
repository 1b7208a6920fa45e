/* SPDX-License-Identifier: MIT */
/*
 * composer/semver's VersionParser in C, as small hand-made matchers for its patterns:
 * normalize() and normalizeBranch(). vcs.c builds tag and branch versions on top of them.
 * tests/check_composer_version.c holds the tables and compares with PHP when it is installed.
 */
#include "version.h"

#include <cargoman/plugin.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cmc_buf_put(struct cmc_buf *b, const char *s, size_t n)
{
    if (b->len + n >= b->cap) {
        b->overflow = 1;
        return;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void cmc_buf_puts(struct cmc_buf *b, const char *s)
{
    cmc_buf_put(b, s, strlen(s));
}

/* PHP's trim() set: no \f, unlike isspace(). */
static int vp_trimchar(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\v';
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
    static const char *const stabs[] = {"stable", "beta",  "b",  "RC", "alpha",
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
static int vp_classical(const char *s, struct cmc_buf *b, struct vp_mod *mod)
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
    cmc_buf_put(b, start, (size_t)(p - start));
    for (; groups < 3; groups++)
        cmc_buf_puts(b, ".0");
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
static int vp_date(const char *s, struct cmc_buf *b, struct vp_mod *mod)
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
    cmc_buf_puts(b, date);
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
static void vp_put_modifier(struct cmc_buf *b, const struct vp_mod *mod)
{
    char tmp[16];
    if (mod->stab_len > 0) {
        /* Composer compares with 'stable' case-sensitively: "1.0-STABLE" keeps "-stable". */
        if (mod->stab_len == 6 && strncmp(mod->stab, "stable", 6) == 0)
            return;
        cmc_buf_puts(b, "-");
        cmc_buf_puts(b, vp_expand_stability(mod->stab, mod->stab_len, tmp, sizeof(tmp)));
        const char *num = mod->num;
        size_t len = mod->num_len;
        while (len > 0 && (*num == '.' || *num == '-')) {
            num++;
            len--;
        }
        cmc_buf_put(b, num, len);
    }
    if (mod->dev)
        cmc_buf_puts(b, "-dev");
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
    struct cmc_buf b = {out, outlen, 0, 0};
    struct vp_mod mod;

    if (outlen == 0 || vp_trim(v, sizeof(v), version) != CM_OK)
        return CM_EINVAL;
    out[0] = '\0';
    vp_strip_flags(v);
    if (strcmp(v, "master") == 0 || strcmp(v, "trunk") == 0 || strcmp(v, "default") == 0) {
        cmc_buf_puts(&b, "dev-");
        cmc_buf_puts(&b, v);
        return b.overflow ? CM_EINVAL : CM_OK;
    }
    if (strncasecmp(v, "dev-", 4) == 0) {
        cmc_buf_puts(&b, "dev-");
        cmc_buf_puts(&b, v + 4);
        return b.overflow ? CM_EINVAL : CM_OK;
    }
    size_t i = strcspn(v, ",+ \t\n\r\f\v");
    /* Build metadata: "1.0.0+build.5" compares as "1.0.0". */
    if (i > 0 && v[i] == '+' && v[i + 1] != '\0' &&
        v[i + 1 + strcspn(v + i + 1, " \t\n\r\f\v")] == '\0')
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
            cmc_buf_puts(&b, norm);
            return b.overflow ? CM_EINVAL : CM_OK;
        }
    }
    out[0] = '\0';
    return CM_EINVAL;
}

int cmc_normalize_branch(char *out, size_t outlen, const char *name)
{
    char n[CMC_VERSION_MAX];
    struct cmc_buf b = {out, outlen, 0, 0};
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
        struct cmc_buf nb = {num, sizeof(num), 0, 0};
        num[0] = '\0';
        while (vp_digit(*p))
            cmc_buf_put(&nb, p++, 1);
        while (groups < 3 && p[0] == '.' &&
               (vp_digit(p[1]) || p[1] == 'x' || p[1] == 'X' || p[1] == '*')) {
            cmc_buf_put(&nb, ".", 1);
            p++;
            if (vp_digit(*p)) {
                while (vp_digit(*p))
                    cmc_buf_put(&nb, p++, 1);
            } else {
                cmc_buf_put(&nb, "x", 1);
                p++;
            }
            groups++;
        }
        if (*p == '\0') {
            for (; groups < 3; groups++)
                cmc_buf_put(&nb, ".x", 2);
            for (const char *c = num; *c; c++)
                cmc_buf_puts(&b, *c == 'x' ? "9999999" : (char[2]){*c, '\0'});
            cmc_buf_puts(&b, "-dev");
            return b.overflow || nb.overflow ? CM_EINVAL : CM_OK;
        }
    }
    cmc_buf_puts(&b, "dev-");
    cmc_buf_puts(&b, n);
    return b.overflow ? CM_EINVAL : CM_OK;
}
