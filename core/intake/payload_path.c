/* SPDX-License-Identifier: MIT */
/*
 * The json_* host services (payload_path.h): the payload is parsed once per request, on first
 * use, and published with one compare-and-swap (like an event's JSON form), then values are
 * found by walking a dotted path through objects and arrays.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/payload_path.h"
#include "intake/request.h"

struct cm_payload_doc {
    json_t *root;    /* NULL when the payload is not readable JSON */
    char error[192]; /* why not, when root is NULL */
};

static void doc_free(struct cm_payload_doc *doc)
{
    if (doc) {
        json_decref(doc->root);
        free(doc);
    }
}

void cm_payload_forget(struct cm_request *req)
{
    doc_free(atomic_exchange(&req->doc, NULL));
}

static struct cm_payload_doc *doc_parse(const struct cm_request *req)
{
    struct cm_payload_doc *doc = calloc(1, sizeof(*doc));
    json_error_t err;
    const char *text;
    size_t len = 0;

    if (!doc)
        return NULL;
    if (!(text = cm_request_payload(req, &len)))
        snprintf(doc->error, sizeof(doc->error), "the form body has no payload field");
    else if (!(doc->root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err)))
        snprintf(doc->error, sizeof(doc->error), "line %d: %.160s", err.line, err.text);
    return doc;
}

/* The parsed payload, NULL only when out of memory. */
static const struct cm_payload_doc *doc_of(const struct cm_request *req)
{
    struct cm_request *mut = (struct cm_request *)req;
    struct cm_payload_doc *doc = atomic_load_explicit(&mut->doc, memory_order_acquire), *seen;

    if (doc)
        return doc;
    if (!(doc = doc_parse(req)))
        return NULL;
    seen = NULL;
    if (!atomic_compare_exchange_strong_explicit(&mut->doc, &seen, doc, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        doc_free(doc);
        doc = seen;
    }
    return doc;
}

/* An array index: decimal digits, no sign, no leading zero. */
static int seg_index(const char *seg, size_t n, size_t *out)
{
    size_t v = 0;

    if (n == 0 || (n > 1 && seg[0] == '0') || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return 0;
        v = v * 10 + (size_t)(seg[i] - '0');
    }
    *out = v;
    return 1;
}

/* The value at path under root, NULL when there is none. */
static json_t *walk(json_t *v, const char *path)
{
    char key[256];

    if (!*path)
        return v;
    for (const char *p = path; v;) {
        size_t n = strcspn(p, "."), idx;
        if (json_is_object(v)) {
            if (n == 0 || n >= sizeof(key))
                return NULL;
            memcpy(key, p, n);
            key[n] = '\0';
            v = json_object_get(v, key);
        } else if (json_is_array(v) && seg_index(p, n, &idx)) {
            v = json_array_get(v, idx);
        } else {
            return NULL;
        }
        if (!p[n])
            return v;
        p += n + 1;
    }
    return NULL;
}

/* *out = the value at path (NULL when absent). CM_OK, CM_EINVAL when the payload is not
 * readable, CM_ENOMEM. */
static int lookup(const struct cm_request *req, const char *path, json_t **out)
{
    const struct cm_payload_doc *doc = doc_of(req);

    *out = NULL;
    if (!doc)
        return CM_ENOMEM;
    if (!doc->root)
        return CM_EINVAL;
    *out = walk(doc->root, path ? path : "");
    return CM_OK;
}

int cm_payload_type(const struct cm_request *req, const char *path)
{
    json_t *v;
    int rc = lookup(req, path, &v);

    if (rc != CM_OK)
        return rc;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: return CM_JSON_OBJECT;
    case JSON_ARRAY: return CM_JSON_ARRAY;
    case JSON_STRING: return CM_JSON_STRING;
    case JSON_INTEGER: return CM_JSON_INTEGER;
    case JSON_REAL: return CM_JSON_REAL;
    case JSON_TRUE: return CM_JSON_TRUE;
    case JSON_FALSE: return CM_JSON_FALSE;
    default: return v ? CM_JSON_NULL : CM_JSON_ABSENT;
    }
}

int cm_payload_string(const struct cm_request *req, const char *path, const char **out)
{
    json_t *v;
    int rc = lookup(req, path, &v);

    *out = NULL;
    if (rc != CM_OK)
        return rc;
    if (!v || json_is_null(v))
        return CM_ENOENT;
    if (!json_is_string(v))
        return CM_EINVAL;
    *out = json_string_value(v);
    return CM_OK;
}

int cm_payload_int_text(const struct cm_request *req, const char *path, char *buf, size_t size)
{
    json_t *v;
    int rc = lookup(req, path, &v), n;

    if (size)
        buf[0] = '\0';
    if (rc != CM_OK)
        return rc;
    if (!v || json_is_null(v))
        return CM_ENOENT;
    if (!json_is_integer(v))
        return CM_EINVAL;
    n = snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (n < 0 || (size_t)n >= size) {
        if (size)
            buf[0] = '\0';
        return CM_EINVAL;
    }
    return CM_OK;
}

const char *cm_payload_error(const struct cm_request *req)
{
    const struct cm_payload_doc *doc = doc_of(req);

    if (!doc)
        return "out of memory";
    return doc->root ? NULL : doc->error;
}
