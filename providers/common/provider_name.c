/* SPDX-License-Identifier: MIT */
/*
 * Host rules for repository full names (provider_name.h). A name refused here never reaches
 * an event. The reason quotes the name with everything but printable ASCII replaced, so a
 * hostile name cannot forge a log line or break the JSON answer.
 */
#include "provider_name.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CMP_QUOTE_MAX 80 /* bytes of the name quoted in a reason */
#define CMP_WHY_MAX 320

/* buf = s for quoting in a reason: bytes other than printable ASCII, '"' and '\\' become '?',
 * and a name longer than CMP_QUOTE_MAX is cut and ends in "...". */
static void cmp_quote(char *buf, size_t size, const char *s)
{
    size_t i, n = strlen(s);

    for (i = 0; i < n && i + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    if (i < n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
}

/* buf = c in words, as a reason shows it. */
static void cmp_byte_words(char *buf, size_t size, unsigned char c)
{
    if (c < 0x20 || c == 0x7f)
        snprintf(buf, size, "a control character (byte 0x%02x)", c);
    else if (c >= 0x80)
        snprintf(buf, size, "a byte outside ASCII (0x%02x)", c);
    else if (c == ' ')
        snprintf(buf, size, "a space");
    else
        snprintf(buf, size, "'%c'", c);
}

/* buf = "letters, digits, '.', '_' and '-'" for extra "._-". */
static void cmp_allowed_words(char *buf, size_t size, const char *extra)
{
    size_t n = strlen(extra);
    int len = snprintf(buf, size, "letters%s digits", n ? "," : " and");

    for (size_t i = 0; i < n && len > 0 && (size_t)len < size; i++)
        len +=
            snprintf(buf + len, size - (size_t)len, "%s'%c'", i + 1 < n ? ", " : " and ", extra[i]);
}

static int cmp_allowed_byte(unsigned char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(extra, c) != NULL);
}

/* The bytes of segment s (n bytes, which names it in why) under r. */
static int cmp_segment_bytes(const char *s, size_t n, const struct cmp_segment_rule *r,
                             const char *which, char *why, size_t size)
{
    char byte[48], allowed[80];

    for (size_t i = 0; i < n; i++) {
        if (!cmp_allowed_byte((unsigned char)s[i], r->extra)) {
            cmp_byte_words(byte, sizeof(byte), (unsigned char)s[i]);
            cmp_allowed_words(allowed, sizeof(allowed), r->extra);
            snprintf(why, size, "%s holds %s; it may hold only %s", which, byte, allowed);
            return CM_EINVAL;
        }
    }
    if (r->no_start && strchr(r->no_start, s[0])) {
        snprintf(why, size, "%s starts with '%c'", which, s[0]);
        return CM_EINVAL;
    }
    for (size_t k = 0; r->no_end && r->no_end[k]; k++) {
        size_t m = strlen(r->no_end[k]);
        if (n >= m && memcmp(s + n - m, r->no_end[k], m) == 0) {
            snprintf(why, size, "%s ends in \"%s\"", which, r->no_end[k]);
            return CM_EINVAL;
        }
    }
    return CM_OK;
}

/* Segment s (n bytes) under r; last says whether no '/' follows it. why names it which. */
static int cmp_segment(const char *s, size_t n, const struct cmp_segment_rule *r, int last,
                       const char *which, char *why, size_t size)
{
    if (n == 0)
        snprintf(why, size, "%s is empty (a leading, trailing or doubled '/')", which);
    else if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        snprintf(why, size, "%s is \"%.*s\"", which, (int)n, s);
    else if (n > CMP_SEGMENT_MAX)
        snprintf(why, size, "%s is longer than %d bytes", which, CMP_SEGMENT_MAX);
    /* The mirror of "a.git/b" would lie inside the mirror of "a". */
    else if (!last && n >= 4 && strncasecmp(s + n - 4, ".git", 4) == 0) /* any case: macOS */
        snprintf(why, size, "%s ends in \".git\" and is not the last segment", which);
    else
        return cmp_segment_bytes(s, n, r, which, why, size);
    return CM_EINVAL;
}

/* A first segment "~user" (n bytes): '~' then user under rule->personal. */
static int cmp_personal(const char *s, size_t n, const struct cmp_name_rule *rule, int last,
                        char *why, size_t size)
{
    char which[64];

    snprintf(which, sizeof(which), "the %s", rule->personal.what);
    if (n == 1) {
        snprintf(why, size, "%s has no user name after '~'", which);
        return CM_EINVAL;
    }
    if (n > CMP_SEGMENT_MAX) {
        snprintf(why, size, "%s is longer than %d bytes", which, CMP_SEGMENT_MAX);
        return CM_EINVAL;
    }
    return cmp_segment(s + 1, n - 1, &rule->personal, last, which, why, size);
}

static int cmp_count(const char *name, const struct cmp_name_rule *rule, char *why, size_t size)
{
    unsigned count = 1;

    for (const char *p = name; *p; p++)
        count += *p == '/';
    if (count >= rule->min_segments && count <= rule->max_segments)
        return CM_OK;
    if (rule->min_segments == rule->max_segments)
        snprintf(why, size, "it has %u '/'-separated segment%s, not %u", count,
                 count == 1 ? "" : "s", rule->min_segments);
    else
        snprintf(why, size, "it has %u '/'-separated segment%s, not %u to %u", count,
                 count == 1 ? "" : "s", rule->min_segments, rule->max_segments);
    return CM_EINVAL;
}

/* why = what is wrong with name under rule; CM_OK when nothing is. */
static int cmp_name(const char *name, const struct cmp_name_rule *rule, char *why, size_t size)
{
    /* Where every segment has the same name, which one is told by its place. */
    int numbered = strcmp(rule->first.what, rule->rest.what) == 0;
    const char *s = name;
    char which[64];

    if (!*name) {
        snprintf(why, size, "it is empty");
        return CM_EINVAL;
    }
    if (cmp_count(name, rule, why, size))
        return CM_EINVAL;
    for (unsigned i = 1;; i++) {
        const struct cmp_segment_rule *r = i == 1 ? &rule->first : &rule->rest;
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        int rc;

        if (numbered)
            snprintf(which, sizeof(which), "%s %u", r->what, i);
        else
            snprintf(which, sizeof(which), "the %s", r->what);
        if (i == 1 && rule->personal.what && s[0] == '~')
            rc = cmp_personal(s, n, rule, !slash, why, size);
        else
            rc = cmp_segment(s, n, r, !slash, which, why, size);
        if (rc != CM_OK || !slash)
            return rc;
        s = slash + 1;
    }
}

int cmp_check_repository(const struct cmp_json *j, const char *label, const char *name,
                         const struct cmp_name_rule *rule)
{
    char why[CMP_WHY_MAX], quoted[CMP_QUOTE_MAX + 4];

    if (cmp_name(name, rule, why, sizeof(why)) == CM_OK)
        return CM_OK;
    cmp_quote(quoted, sizeof(quoted), name);
    return j->host->reject(j->req, CM_EINVAL, "%s \"%s\" is not %s: %s", label, quoted, rule->form,
                           why);
}
