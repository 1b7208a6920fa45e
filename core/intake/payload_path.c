/* SPDX-License-Identifier: MIT */
/*
 * The json_* host services (payload_path.h): the payload is parsed once per request, on first
 * use, and published with one compare-and-swap (like an event's JSON form), then values are
 * found by walking a dotted path through objects and arrays. It is read by the one-pass
 * scanner (util/json_scan.h): a jansson tree of a push payload cost a fifth of the intake's
 * CPU in mallocs and frees. What the scanner leaves to a full parser (reals, huge integers,
 * \u0000, errors, whose messages are jansson's) is parsed by jansson as before.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/payload_path.h"
#include "intake/request.h"
#include "util/json_scan.h"

struct cm_payload_doc {
    struct cm_jscan scan; /* the payload, when the scanner took it */
    int scanned;
    json_t *root;    /* else jansson's tree, NULL when the payload is not readable JSON */
    char error[192]; /* why not, when neither */
};

/* A value found, from either reader. */
struct val {
    int type; /* CM_JSON_* */
    const char *str;
    long long ival;
};

static void doc_free(struct cm_payload_doc *doc)
{
    if (doc) {
        cm_jscan_free(&doc->scan);
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
    if (!(text = cm_request_payload(req, &len))) {
        snprintf(doc->error, sizeof(doc->error), "the form body has no payload field");
        return doc;
    }
    int rc = cm_jscan_parse(&doc->scan, text, len);
    if (rc == CM_OK) {
        doc->scanned = 1;
        return doc;
    }
    cm_jscan_free(&doc->scan);
    if (rc == CM_ENOMEM) {
        free(doc);
        return NULL;
    }
    if (!(doc->root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err)))
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

/* The same walk over the scanner's tokens: the token at path, or -1. */
static long walk_scan(const struct cm_jscan *d, const char *path)
{
    long t = 0;

    if (!*path)
        return t;
    for (const char *p = path; t >= 0;) {
        size_t n = strcspn(p, "."), idx;
        if (d->tok[t].type == CM_JSCAN_OBJECT)
            t = n == 0 || n >= 256 ? -1 : cm_jscan_member(d, (size_t)t, p, n);
        else if (d->tok[t].type == CM_JSCAN_ARRAY && seg_index(p, n, &idx))
            t = cm_jscan_element(d, (size_t)t, idx);
        else
            return -1;
        if (!p[n])
            return t;
        p += n + 1;
    }
    return -1;
}

static struct val val_of_json(const json_t *v)
{
    struct val out = {CM_JSON_ABSENT, NULL, 0};
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: out.type = CM_JSON_OBJECT; break;
    case JSON_ARRAY: out.type = CM_JSON_ARRAY; break;
    case JSON_STRING:
        out.type = CM_JSON_STRING;
        out.str = json_string_value(v);
        break;
    case JSON_INTEGER:
        out.type = CM_JSON_INTEGER;
        out.ival = (long long)json_integer_value(v);
        break;
    case JSON_REAL: out.type = CM_JSON_REAL; break;
    case JSON_TRUE: out.type = CM_JSON_TRUE; break;
    case JSON_FALSE: out.type = CM_JSON_FALSE; break;
    default: out.type = v ? CM_JSON_NULL : CM_JSON_ABSENT; break;
    }
    return out;
}

static struct val val_of_scan(const struct cm_jscan *d, long t)
{
    static const int types[] = {
        [CM_JSCAN_OBJECT] = CM_JSON_OBJECT, [CM_JSCAN_ARRAY] = CM_JSON_ARRAY,
        [CM_JSCAN_STRING] = CM_JSON_STRING, [CM_JSCAN_INTEGER] = CM_JSON_INTEGER,
        [CM_JSCAN_TRUE] = CM_JSON_TRUE,     [CM_JSCAN_FALSE] = CM_JSON_FALSE,
        [CM_JSCAN_NULL] = CM_JSON_NULL,
    };
    struct val out = {CM_JSON_ABSENT, NULL, 0};
    if (t < 0)
        return out;
    out.type = types[d->tok[t].type];
    if (d->tok[t].type == CM_JSCAN_STRING)
        out.str = d->text + d->tok[t].off;
    out.ival = d->tok[t].ival;
    return out;
}

/* *out = the value at path (type CM_JSON_ABSENT when there is none). CM_OK, CM_EINVAL when
 * the payload is not readable, CM_ENOMEM. */
static int lookup(const struct cm_request *req, const char *path, struct val *out)
{
    const struct cm_payload_doc *doc = doc_of(req);

    *out = (struct val){CM_JSON_ABSENT, NULL, 0};
    if (!doc)
        return CM_ENOMEM;
    if (doc->scanned) {
        *out = val_of_scan(&doc->scan, walk_scan(&doc->scan, path ? path : ""));
        return CM_OK;
    }
    if (!doc->root)
        return CM_EINVAL;
    *out = val_of_json(walk(doc->root, path ? path : ""));
    return CM_OK;
}

int cm_payload_type(const struct cm_request *req, const char *path)
{
    struct val v;
    int rc = lookup(req, path, &v);

    return rc != CM_OK ? rc : v.type;
}

int cm_payload_string(const struct cm_request *req, const char *path, const char **out)
{
    struct val v;
    int rc = lookup(req, path, &v);

    *out = NULL;
    if (rc != CM_OK)
        return rc;
    if (v.type == CM_JSON_ABSENT || v.type == CM_JSON_NULL)
        return CM_ENOENT;
    if (v.type != CM_JSON_STRING)
        return CM_EINVAL;
    *out = v.str;
    return CM_OK;
}

int cm_payload_int_text(const struct cm_request *req, const char *path, char *buf, size_t size)
{
    struct val v;
    int rc = lookup(req, path, &v), n;

    if (size)
        buf[0] = '\0';
    if (rc != CM_OK)
        return rc;
    if (v.type == CM_JSON_ABSENT || v.type == CM_JSON_NULL)
        return CM_ENOENT;
    if (v.type != CM_JSON_INTEGER)
        return CM_EINVAL;
    n = snprintf(buf, size, "%lld", v.ival);
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
    return doc->scanned || doc->root ? NULL : doc->error;
}
