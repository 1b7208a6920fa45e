/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the one-pass JSON scanner against jansson, which it stands in for. What the
 * scanner takes, jansson (decoding any value, duplicate keys rejected) must take too, and
 * read alike: the same types, strings, integers, members and elements, found by the same
 * lookups. What the scanner refuses is left to jansson, so that may be anything.
 */
#include <jansson.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "fuzz.h"
#include "util/json_scan.h"

static void fj_same(const struct cm_jscan *d, size_t t, const json_t *j)
{
    const struct cm_jscan_tok *k = &d->tok[t];
    const char *s;

    switch (k->type) {
    case CM_JSCAN_OBJECT:
        FUZZ_CHECK(json_is_object(j) && json_object_size(j) == k->n, "object differs");
        for (size_t m = t + 1, i = 0; i < k->n; i++, m = d->tok[m + 1].next) {
            const char *key = d->text + d->tok[m].off;
            const json_t *v = json_object_get(j, key);
            FUZZ_CHECK(v, "member %s missing in jansson's object", key);
            FUZZ_CHECK(cm_jscan_member(d, t, key, strlen(key)) == (long)m + 1,
                       "member %s not found by lookup", key);
            fj_same(d, m + 1, v);
        }
        break;
    case CM_JSCAN_ARRAY:
        FUZZ_CHECK(json_is_array(j) && json_array_size(j) == k->n, "array differs");
        for (size_t i = 0; i < k->n; i++)
            fj_same(d, (size_t)cm_jscan_element(d, t, i), json_array_get(j, i));
        FUZZ_CHECK(cm_jscan_element(d, t, k->n) == -1, "element past the end");
        break;
    case CM_JSCAN_STRING:
        s = d->text + k->off;
        FUZZ_CHECK(json_is_string(j) && json_string_length(j) == strlen(s) &&
                       !memcmp(json_string_value(j), s, strlen(s)),
                   "string differs");
        break;
    case CM_JSCAN_INTEGER:
        FUZZ_CHECK(json_is_integer(j) && json_integer_value(j) == k->ival, "integer differs");
        break;
    case CM_JSCAN_TRUE: FUZZ_CHECK(json_is_true(j), "true differs"); break;
    case CM_JSCAN_FALSE: FUZZ_CHECK(json_is_false(j), "false differs"); break;
    case CM_JSCAN_NULL: FUZZ_CHECK(json_is_null(j), "null differs"); break;
    default: FUZZ_CHECK(0, "token type %d", k->type);
    }
    if (k->type != CM_JSCAN_OBJECT && k->type != CM_JSCAN_ARRAY)
        FUZZ_CHECK(k->next == t + 1, "a scalar with descendants");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_jscan d;
    json_error_t err;
    int rc = cm_jscan_parse(&d, (const char *)data, size);
    json_t *j =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);

    FUZZ_CHECK(rc == CM_OK || rc == CM_EINVAL, "status %d", rc);
    if (rc == CM_OK) {
        FUZZ_CHECK(j, "taken, but jansson says: %s", err.text);
        FUZZ_CHECK(d.n_tok && d.tok[0].next == d.n_tok, "the root does not span every token");
        fj_same(&d, 0, j);
    }
    cm_jscan_free(&d);
    json_decref(j);
    return 0;
}
