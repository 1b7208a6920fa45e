/* SPDX-License-Identifier: MIT */
/*
 * The p2 documents in Composer's minified format (MetadataMinifier), byte for byte what its
 * minify() makes of the same versions. Each element depends only on its version, the one
 * before it and the keys the minifier remembers at that point, so a document rendered before
 * keeps the text of every element whose three are unchanged.
 */
#include "p2.h"
#include "version.h"

#include <cargoman/plugin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PHP's isset(): present and not null. */
static int p2_isset(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

/* The keys the minifier remembers after a version ($lastKnownVersionData), in its order: the
 * diff of the next version is taken against them. Borrowed from the versions being rendered. */
struct p2_order {
    const char **key;
    size_t n, cap;
};

static int p2_order_push(struct p2_order *o, const char *key)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 32;
        const char **k = realloc(o->key, cap * sizeof(*k));
        if (!k)
            return CM_ENOMEM;
        o->key = k;
        o->cap = cap;
    }
    o->key[o->n++] = key;
    return CM_OK;
}

/* Whether the minifier remembers key after prev: every key of the first version (it is kept
 * whole, nulls included), only the set ones of a later one. */
static int p2_remembers(json_t *prev, int prev_first, const char *key)
{
    json_t *v = json_object_get(prev, key);
    return prev_first ? v != NULL : v && !json_is_null(v);
}

/* After the first version: all its keys. */
static int p2_order_first(struct p2_order *o, json_t *v)
{
    const char *key;
    json_t *val;

    o->n = 0;
    json_object_foreach (v, key, val) {
        if (p2_order_push(o, key) != CM_OK)
            return CM_ENOMEM;
    }
    return CM_OK;
}

/* After v, which follows prev: remembered keys still set in v keep their places (PHP arrays
 * keep a key's position when its value changes), keys v newly sets follow in v's order. */
static int p2_order_next(const struct p2_order *in, struct p2_order *out, json_t *prev,
                         int prev_first, json_t *v)
{
    const char *key;
    json_t *val;

    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (p2_isset(v, in->key[i]) && p2_order_push(out, in->key[i]) != CM_OK)
            return CM_ENOMEM;
    }
    json_object_foreach (v, key, val) {
        if (!json_is_null(val) && !p2_remembers(prev, prev_first, key) &&
            p2_order_push(out, key) != CM_OK)
            return CM_ENOMEM;
    }
    return CM_OK;
}

/* FNV-1a over the remembered keys in order: equal signatures, equal minifier state (the
 * values are those of the version before, compared by identity). */
static uint64_t p2_order_sig(const struct p2_order *o)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < o->n; i++) {
        for (const unsigned char *c = (const unsigned char *)o->key[i];; c++) {
            h = (h ^ *c) * 1099511628211ULL;
            if (!*c)
                break;
        }
    }
    return h;
}

/* The element of v, which follows prev: v's keys whose remembered value is unset or differs,
 * then "__unset" for each remembered key v does not set, then for keys v sets to null that
 * were not remembered (the minifier adds them, then finds them unset). */
static json_t *p2_diff(json_t *prev, int prev_first, json_t *v, const struct p2_order *in)
{
    json_t *diff = json_object(), *val;
    const char *key;

    if (!diff)
        return NULL;
    json_object_foreach (v, key, val) {
        json_t *was = p2_remembers(prev, prev_first, key) ? json_object_get(prev, key) : NULL;
        if ((!was || json_is_null(was) || !json_equal(was, val)) &&
            json_object_set(diff, key, val) != 0)
            goto fail;
    }
    for (size_t i = 0; i < in->n; i++) {
        if (!p2_isset(v, in->key[i]) &&
            json_object_set_new(diff, in->key[i], json_string("__unset")) != 0)
            goto fail;
    }
    json_object_foreach (v, key, val) {
        if (json_is_null(val) && !p2_remembers(prev, prev_first, key) &&
            json_object_set_new(diff, key, json_string("__unset")) != 0)
            goto fail;
    }
    return diff;
fail:
    json_decref(diff);
    return NULL;
}

/* Composer's minifier going down a list of versions: the element of each, and the state it
 * remembers from one to the next (two orders, swapped at each step). */
struct p2_walk {
    struct p2_order a, b, *in, *next;
};

static void p2_walk_init(struct p2_walk *w)
{
    memset(w, 0, sizeof(*w));
    w->in = &w->a;
    w->next = &w->b;
}

static void p2_walk_free(struct p2_walk *w)
{
    free(w->a.key);
    free(w->b.key);
}

/* The signature of the state the minifier comes to element i with. */
static uint64_t p2_walk_sig(const struct p2_walk *w, size_t i)
{
    return i ? p2_order_sig(w->in) : 0;
}

/* Element i of versions (the first whole, the others as diffs): a new reference, NULL on
 * ENOMEM. */
static json_t *p2_walk_elem(const struct p2_walk *w, json_t *versions, size_t i)
{
    json_t *v = json_array_get(versions, i);
    return i == 0 ? json_incref(v) : p2_diff(json_array_get(versions, i - 1), i == 1, v, w->in);
}

/* Move the state past version i. CM_OK or CM_ENOMEM. */
static int p2_walk_step(struct p2_walk *w, json_t *versions, size_t i)
{
    json_t *v = json_array_get(versions, i);
    struct p2_order *swap;

    if (i == 0)
        return p2_order_first(w->in, v);
    if (p2_order_next(w->in, w->next, json_array_get(versions, i - 1), i == 1, v) != CM_OK)
        return CM_ENOMEM;
    swap = w->in;
    w->in = w->next;
    w->next = swap;
    return CM_OK;
}

json_t *cmc_minify(json_t *versions)
{
    json_t *out = json_array();
    struct p2_walk w;

    if (!out)
        return NULL;
    p2_walk_init(&w);
    for (size_t i = 0; i < json_array_size(versions); i++) {
        json_t *elem = p2_walk_elem(&w, versions, i);
        if (!elem || json_array_append_new(out, elem) != 0 ||
            p2_walk_step(&w, versions, i) != CM_OK) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
    p2_walk_free(&w);
    return out;
}

json_t *cmc_expand(json_t *minified)
{
    json_t *out = json_array(), *cur = NULL, *v;
    size_t i;

    if (!out)
        return NULL;
    json_array_foreach (minified, i, v) {
        const char *key;
        json_t *val;
        if (!cur) {
            cur = json_deep_copy(v);
        } else {
            json_object_foreach (v, key, val) {
                if (json_is_string(val) && strcmp(json_string_value(val), "__unset") == 0)
                    json_object_del(cur, key);
                else
                    json_object_set(cur, key, val);
            }
        }
        if (!cur || json_array_append_new(out, json_deep_copy(cur)) != 0)
            goto fail;
    }
    json_decref(cur);
    return out;
fail:
    json_decref(cur);
    json_decref(out);
    return NULL;
}

static const char *p2_str(json_t *v, const char *key)
{
    const char *s = json_string_value(json_object_get(v, key));
    return s ? s : "";
}

/* A version and its two sort keys, read once: with thousands of versions a comparator that
 * looked them up in the object each time spent more on the lookups than on comparing. */
struct p2_sortable {
    json_t *v;
    const char *normalized, *version;
};

static int p2_newest_first(const void *a, const void *b)
{
    const struct p2_sortable *x = a, *y = b;
    int r = cmc_version_compare(y->normalized, x->normalized);
    return r ? r : strcmp(x->version, y->version);
}

void cmc_sort_versions(json_t *versions)
{
    size_t n = json_array_size(versions);
    struct p2_sortable *items;

    if (n < 2 || !(items = calloc(n, sizeof(*items))))
        return;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_incref(json_array_get(versions, i));
        items[i] = (struct p2_sortable){v, p2_str(v, "version_normalized"), p2_str(v, "version")};
    }
    qsort(items, n, sizeof(*items), p2_newest_first);
    json_array_clear(versions);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(versions, items[i].v);
    free(items);
}

void cmc_p2_text_clear(struct cmc_p2_text *t)
{
    for (size_t i = 0; i < t->n; i++) {
        json_decref(t->versions[i]);
        free(t->texts[i]);
    }
    free(t->versions);
    free(t->texts);
    free(t->order_sig);
    memset(t, 0, sizeof(*t));
}

/* A version of the last write and where it stood. */
struct p2_slot {
    json_t *v;
    size_t at;
};

static int p2_by_object(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct p2_slot *)a)->v;
    uintptr_t y = (uintptr_t)((const struct p2_slot *)b)->v;
    return x < y ? -1 : x > y;
}

/* The text old has for element i of versions (whose minifier state has signature sig), taken
 * from old, or NULL when it must be rendered: the same version must have stood there after
 * the same one, with the same state. */
static char *p2_reuse(struct cmc_p2_text *old, const struct p2_slot *slots, json_t *versions,
                      size_t i, uint64_t sig)
{
    struct p2_slot key = {json_array_get(versions, i), 0}, *s;
    size_t j;
    char *text;

    if (!old->n || !(s = bsearch(&key, slots, old->n, sizeof(*slots), p2_by_object)))
        return NULL;
    j = s->at;
    if (i == 0 ? j != 0
               : j == 0 || old->versions[j - 1] != json_array_get(versions, i - 1) ||
                     (j == 1) != (i == 1) || old->order_sig[j] != sig)
        return NULL;
    text = old->texts[j];
    old->texts[j] = NULL; /* each old text serves one element */
    return text;
}

/* The minified text of each element of versions into out, reusing what old has. */
static int p2_render(json_t *versions, struct cmc_p2_text *old, struct cmc_p2_text *out)
{
    struct p2_slot *slots = calloc(old->n ? old->n : 1, sizeof(*slots));
    size_t n = json_array_size(versions);
    struct p2_walk w;
    int rc = CM_ENOMEM;

    p2_walk_init(&w);
    out->versions = calloc(n ? n : 1, sizeof(*out->versions));
    out->texts = calloc(n ? n : 1, sizeof(*out->texts));
    out->order_sig = calloc(n ? n : 1, sizeof(*out->order_sig));
    if (!slots || !out->versions || !out->texts || !out->order_sig)
        goto out;
    for (size_t j = 0; j < old->n; j++)
        slots[j] = (struct p2_slot){old->versions[j], j};
    qsort(slots, old->n, sizeof(*slots), p2_by_object);
    for (size_t i = 0; i < n; i++) {
        uint64_t sig = p2_walk_sig(&w, i);
        char *text = p2_reuse(old, slots, versions, i, sig);

        out->versions[out->n] = json_incref(json_array_get(versions, i));
        out->order_sig[out->n] = sig;
        out->texts[out->n++] = text;
        if (!text) {
            json_t *elem = p2_walk_elem(&w, versions, i);
            out->texts[out->n - 1] = elem ? json_dumps(elem, JSON_COMPACT) : NULL;
            json_decref(elem);
            if (!out->texts[out->n - 1])
                goto out;
        }
        if (p2_walk_step(&w, versions, i) != CM_OK)
            goto out;
    }
    rc = CM_OK;
out:
    free(slots);
    p2_walk_free(&w);
    return rc;
}

/* {"packages":{NAME:[elements]},"minified":"composer/2.0"}: what json_dumps(JSON_COMPACT)
 * makes of the document, put together from the element texts. NULL on ENOMEM. */
static char *p2_document(const char *name, const struct cmc_p2_text *t, size_t *len)
{
    static const char head[] = "{\"packages\":{", tail[] = "]},\"minified\":\"composer/2.0\"}";
    json_t *jname = json_string(name);
    char *key = jname ? json_dumps(jname, JSON_ENCODE_ANY | JSON_COMPACT) : NULL, *doc = NULL, *p;
    size_t total = sizeof(head) - 1 + (key ? strlen(key) : 0) + 2 + sizeof(tail) - 1;

    json_decref(jname);
    if (!key)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        total += strlen(t->texts[i]) + (i > 0);
    if ((doc = malloc(total + 1)) != NULL) {
        p = doc;
        memcpy(p, head, sizeof(head) - 1);
        p += sizeof(head) - 1;
        memcpy(p, key, strlen(key));
        p += strlen(key);
        *p++ = ':';
        *p++ = '[';
        for (size_t i = 0; i < t->n; i++) {
            size_t l = strlen(t->texts[i]);
            if (i > 0)
                *p++ = ',';
            memcpy(p, t->texts[i], l);
            p += l;
        }
        memcpy(p, tail, sizeof(tail));
        *len = total;
    }
    free(key);
    return doc;
}

static int p2_write_one(const struct cmc_files *f, const char *rel, const char *name,
                        json_t *versions, struct cmc_p2_text *cache, int *changed)
{
    struct cmc_p2_text none = {NULL, NULL, NULL, 0}, out = {NULL, NULL, NULL, 0};
    struct cmc_p2_text *old = cache ? cache : &none;
    char *doc = NULL;
    size_t len = 0;
    int written = 0, rc;

    cmc_sort_versions(versions);
    rc = p2_render(versions, old, &out);
    if (rc == CM_OK && !(doc = p2_document(name, &out, &len)))
        rc = CM_ENOMEM;
    if (rc == CM_OK)
        rc = cmc_write_if_changed(f, rel, doc, len, &written);
    if (rc == CM_OK && written && changed)
        (*changed)++;
    free(doc);
    cmc_p2_text_clear(old);
    if (rc == CM_OK && cache)
        *cache = out;
    else
        cmc_p2_text_clear(&out);
    return rc;
}

int cmc_write_p2(const struct cmc_files *f, const char *name, json_t *tags, json_t *devs,
                 struct cmc_p2_text *tag_text, struct cmc_p2_text *dev_text, int *changed)
{
    char rel[1024];
    int rc;

    if (snprintf(rel, sizeof(rel), "p2/%s.json", name) >= (int)sizeof(rel))
        return CM_ERROR;
    rc = p2_write_one(f, rel, name, tags, tag_text, changed);
    if (rc != CM_OK)
        return rc;
    if (snprintf(rel, sizeof(rel), "p2/%s~dev.json", name) >= (int)sizeof(rel))
        return CM_ERROR;
    return p2_write_one(f, rel, name, devs, dev_text, changed);
}
