/* SPDX-License-Identifier: MIT */
/*
 * The `packages` patterns of the composer sync entry (policy.h). '*' stands only for a whole
 * name part (acme, a slash, a star): a vendor is the unit Composer users think in, and such
 * patterns make an overlap between two endpoints' reservations exact to detect, so it is
 * refused at start instead of being settled by an order nobody sees.
 */
#include "policy.h"
#include "version.h"

#include <cargoman/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What config.c accepts as an endpoint name. */
static int po_endpoint_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static char *po_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void po_rule_free(struct cmc_rule *r)
{
    free(r->endpoint);
    free(r->vendor);
    free(r->name);
    free(r->text);
}

/* Why rest (a name, or a vendor and a star for its every name) is no pattern, or NULL when it
 * is one. */
static const char *po_bad_name(const char *rest)
{
    const char *slash = strchr(rest, '/');
    char probe[CMC_VERSION_MAX];

    if (!slash)
        return "write \"vendor/name\" or \"vendor/*\"";
    if (strcmp(slash + 1, "*") == 0) {
        /* The vendor with any valid name part checks the vendor alone. */
        if ((size_t)snprintf(probe, sizeof(probe), "%.*s/x", (int)(slash - rest), rest) <
                sizeof(probe) &&
            cmc_valid_package_name(probe))
            return NULL;
    } else if (cmc_valid_package_name(rest)) {
        return NULL;
    }
    for (const char *p = rest; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return "Composer package names are lowercase";
    if (strchr(rest, '*'))
        return "'*' stands only for a whole name part, as in \"acme/*\"";
    return "not a Composer package name (lowercase vendor/name: letters and digits, with - . _ "
           "between them)";
}

/* Whether two rules of different endpoints could both match one name. */
static int po_overlap(const struct cmc_rule *a, const struct cmc_rule *b)
{
    return strcmp(a->vendor, b->vendor) == 0 &&
           (!a->name || !b->name || strcmp(a->name, b->name) == 0);
}

int cmc_policy_add(struct cmc_policy *pol, const char *pattern, char *why, size_t whylen)
{
    const char *colon = strchr(pattern, ':'), *rest = colon ? colon + 1 : pattern, *slash, *bad;
    struct cmc_rule r = {0}, *grown;

    if (colon && !po_endpoint_ok(pattern, (size_t)(colon - pattern))) {
        snprintf(why, whylen,
                 "\"%.200s\": before ':' comes an endpoint name (letters, digits, '.', '_', "
                 "'-'), as in \"github:acme/*\"",
                 pattern);
        return CM_EINVAL;
    }
    if ((bad = po_bad_name(rest)) != NULL) {
        snprintf(why, whylen, "\"%.200s\" is not a package pattern: %s", pattern, bad);
        return CM_EINVAL;
    }
    slash = strchr(rest, '/');
    if ((colon && !(r.endpoint = po_strndup(pattern, (size_t)(colon - pattern)))) ||
        !(r.vendor = po_strndup(rest, (size_t)(slash - rest))) ||
        (strcmp(slash + 1, "*") != 0 && !(r.name = po_strndup(slash + 1, strlen(slash + 1)))) ||
        !(r.text = po_strndup(pattern, strlen(pattern))))
        goto oom;
    for (size_t i = 0; r.endpoint && i < pol->n; i++) {
        const struct cmc_rule *o = &pol->rules[i];
        if (o->endpoint && strcmp(o->endpoint, r.endpoint) != 0 && po_overlap(o, &r)) {
            snprintf(why, whylen,
                     "\"%.200s\" and \"%.200s\" reserve the same names for two endpoints; a name "
                     "can be reserved for one endpoint only",
                     o->text, r.text);
            po_rule_free(&r);
            return CM_EINVAL;
        }
    }
    if (!(grown = realloc(pol->rules, (pol->n + 1) * sizeof(*grown))))
        goto oom;
    pol->rules = grown;
    pol->rules[pol->n++] = r;
    return CM_OK;
oom:
    po_rule_free(&r);
    snprintf(why, whylen, "out of memory");
    return CM_ENOMEM;
}

void cmc_policy_free(struct cmc_policy *pol)
{
    for (size_t i = 0; i < pol->n; i++)
        po_rule_free(&pol->rules[i]);
    free(pol->rules);
    pol->rules = NULL;
    pol->n = 0;
}

static int po_match(const struct cmc_rule *r, const char *name)
{
    const char *slash = strchr(name, '/');
    size_t vlen = slash ? (size_t)(slash - name) : 0;

    return slash && strlen(r->vendor) == vlen && strncmp(r->vendor, name, vlen) == 0 &&
           (!r->name || strcmp(r->name, slash + 1) == 0);
}

/* The patterns that apply to endpoint, quoted and comma-separated, "..." when cut. */
static size_t po_applicable(const struct cmc_policy *pol, const char *endpoint, char *out,
                            size_t outlen)
{
    size_t n = 0, len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < pol->n; i++) {
        const struct cmc_rule *r = &pol->rules[i];
        if (r->endpoint && strcmp(r->endpoint, endpoint) != 0)
            continue;
        if (len < outlen) {
            int w = snprintf(out + len, outlen - len, "%s\"%s\"", n ? ", " : "", r->text);
            len += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    if (len >= outlen && outlen > 4)
        memcpy(out + outlen - 4, "...", 4);
    return n;
}

int cmc_policy_check(const struct cmc_policy *pol, const char *endpoint, const char *name,
                     char *why, size_t whylen)
{
    char list[200];

    for (size_t i = 0; i < pol->n; i++) {
        const struct cmc_rule *r = &pol->rules[i];
        if (r->endpoint && strcmp(r->endpoint, endpoint) != 0 && po_match(r, name)) {
            snprintf(why, whylen,
                     "package %.100s is reserved for endpoint %.60s by the packages pattern "
                     "\"%.100s\"; rename the package, or change packages in the composer sync "
                     "entry",
                     name, r->endpoint, r->text);
            return CM_EINVAL;
        }
    }
    for (size_t i = 0; i < pol->n; i++) {
        const struct cmc_rule *r = &pol->rules[i];
        if ((!r->endpoint || strcmp(r->endpoint, endpoint) == 0) && po_match(r, name))
            return CM_OK;
    }
    if (po_applicable(pol, endpoint, list, sizeof(list)) == 0)
        return CM_OK;
    snprintf(why, whylen,
             "package %.100s matches none of the packages patterns for endpoint %.60s (%s); add "
             "one to packages in the composer sync entry, or rename the package",
             name, endpoint, list);
    return CM_EINVAL;
}

int cmc_policy_reserves(const struct cmc_policy *pol, const char *endpoint, const char *name)
{
    for (size_t i = 0; i < pol->n; i++) {
        const struct cmc_rule *r = &pol->rules[i];
        if (r->endpoint && strcmp(r->endpoint, endpoint) == 0 && po_match(r, name))
            return 1;
    }
    return 0;
}

void cmc_owner_endpoint(const char *owner, char *out, size_t outlen)
{
    const char *colon = strchr(owner, ':');
    size_t n = colon ? (size_t)(colon - owner) : 0;

    snprintf(out, outlen, "%.*s", (int)n, owner);
}
