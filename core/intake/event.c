/* SPDX-License-Identifier: MIT */
/*
 * The common push event: the normalisation every provider would otherwise repeat (zero ids,
 * kind from the ref, action from the ids) and the JSON form that is the contract.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrandom */
#endif
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "intake/event.h"

static const char *const field_names[CM_EVENT_N_FIELDS] = {
    [CM_FIELD_PROVIDER] = "provider",
    [CM_FIELD_ENDPOINT] = "endpoint",
    [CM_FIELD_EVENT] = "event",
    [CM_FIELD_DELIVERY_ID] = "delivery_id",
    [CM_FIELD_RECEIVED_AT] = "received_at",
    [CM_FIELD_REPOSITORY] = "repository",
    [CM_FIELD_REPOSITORY_ID] = "repository_id",
    [CM_FIELD_CLONE_URL_HTTP] = "clone_url_http",
    [CM_FIELD_CLONE_URL_SSH] = "clone_url_ssh",
    [CM_FIELD_HTML_URL] = "html_url",
    [CM_FIELD_ACTOR] = "actor",
};

const char *cm_event_field_name(enum cm_field field)
{
    return (unsigned)field < CM_EVENT_N_FIELDS ? field_names[field] : NULL;
}

/* --- the ref index: ref name -> change, so a merge is linear ----------------------------- */

/* Ref names come from payloads, so the hash is keyed (SipHash-1-3 with a per-process random
 * key): a sender cannot pick names that all land in one slot and make a merge quadratic. */
static uint64_t ev_key[2];
static pthread_once_t ev_key_once = PTHREAD_ONCE_INIT;

static void ev_key_init(void)
{
    if (getrandom(ev_key, sizeof(ev_key), 0) != (ssize_t)sizeof(ev_key)) {
        /* No entropy yet: still correct, only predictable. */
        ev_key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
        ev_key[1] = (uint64_t)getpid() * 0xc2b2ae3d27d4eb4fULL;
    }
}

#define EV_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define EV_SIPROUND                                                                                \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = EV_ROTL(v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = EV_ROTL(v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = EV_ROTL(v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = EV_ROTL(v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = EV_ROTL(v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = EV_ROTL(v2, 32);                                                                      \
    } while (0)

static uint64_t ev_hash(const char *s)
{
    size_t len = strlen(s), i;
    uint64_t v0 = ev_key[0] ^ 0x736f6d6570736575ULL, v1 = ev_key[1] ^ 0x646f72616e646f6dULL;
    uint64_t v2 = ev_key[0] ^ 0x6c7967656e657261ULL, v3 = ev_key[1] ^ 0x7465646279746573ULL;
    uint64_t m, b = (uint64_t)len << 56;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&m, s + i, 8);
        v3 ^= m;
        EV_SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < len; k++)
        b |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
    v3 ^= b;
    EV_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    EV_SIPROUND;
    EV_SIPROUND;
    EV_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Open addressing with linear probing; a slot holds a change's index + 1 (0: empty). Indexes,
 * not pointers, because the changes array moves when it grows. */
struct cm_ref_index {
    uint64_t *hash;
    size_t *slot;
    size_t cap; /* a power of two, at least twice the entries */
};

static void index_free(struct cm_ref_index *ix)
{
    if (!ix)
        return;
    free(ix->hash);
    free(ix->slot);
    free(ix);
}

/* The change of ev named ref (its first, when a payload listed it twice), or NULL. */
static struct cm_change *index_find(const struct cm_event *ev, const char *ref, uint64_t h)
{
    const struct cm_ref_index *ix = ev->index;

    for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        if (!ix->slot[i])
            return NULL;
        if (ix->hash[i] == h && !strcmp(ev->changes[ix->slot[i] - 1].ref, ref))
            return &ev->changes[ix->slot[i] - 1];
    }
}

/* Put change idx under h; the caller made room and knows the ref is not there yet. */
static void index_put(struct cm_ref_index *ix, size_t idx, uint64_t h)
{
    size_t i = h & (ix->cap - 1);

    while (ix->slot[i])
        i = (i + 1) & (ix->cap - 1);
    ix->hash[i] = h;
    ix->slot[i] = idx + 1;
}

/* (Re)build ev's index with room for at least want changes. */
static int index_build(struct cm_event *ev, size_t want)
{
    struct cm_ref_index *ix = calloc(1, sizeof(*ix));
    size_t cap = 16;

    while (cap < want * 2)
        cap *= 2;
    if (!ix || !(ix->hash = calloc(cap, sizeof(*ix->hash))) ||
        !(ix->slot = calloc(cap, sizeof(*ix->slot)))) {
        index_free(ix);
        return CM_ENOMEM;
    }
    ix->cap = cap;
    index_free(ev->index);
    ev->index = ix;
    pthread_once(&ev_key_once, ev_key_init);
    for (size_t k = 0; k < ev->n_changes; k++) {
        uint64_t h = ev_hash(ev->changes[k].ref);
        if (!index_find(ev, ev->changes[k].ref, h))
            index_put(ix, k, h);
    }
    return CM_OK;
}

/* Room in ev's index (when it keeps one) for one more change. */
static int index_reserve(struct cm_event *ev)
{
    if (!ev->index || (ev->n_changes + 1) * 2 <= ev->index->cap)
        return CM_OK;
    return index_build(ev, (ev->n_changes + 1) * 2);
}

/* Record the change just appended at the end of ev, when ev keeps an index (room reserved). */
static void index_note_last(struct cm_event *ev)
{
    size_t k = ev->n_changes - 1;
    uint64_t h;

    if (!ev->index)
        return;
    h = ev_hash(ev->changes[k].ref);
    if (!index_find(ev, ev->changes[k].ref, h))
        index_put(ev->index, k, h);
}

int cm_event_new(struct cm_event **out)
{
    struct cm_event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return CM_ENOMEM;
    ev->complete = 1;
    if (cm_event_set(ev, CM_FIELD_EVENT, "push") != CM_OK) {
        free(ev);
        return CM_ENOMEM;
    }
    *out = ev;
    return CM_OK;
}

static void change_clear(struct cm_change *c)
{
    free(c->ref);
    free(c->old_id);
    free(c->new_id);
}

void cm_event_free(struct cm_event *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < CM_EVENT_N_FIELDS; i++)
        free(ev->fields[i]);
    for (size_t i = 0; i < ev->n_changes; i++)
        change_clear(&ev->changes[i]);
    free(ev->changes);
    free(atomic_load(&ev->json));
    index_free(ev->index);
    free(ev);
}

static void invalidate(struct cm_event *ev)
{
    free(atomic_exchange(&ev->json, NULL));
}

/* 1 when s is UTF-8 that the JSON form can hold (no overlong forms, surrogates or code points
 * past U+10FFFF, as jansson checks), else 0. Header values reach events unchecked: without
 * this, an event accepted with a 202 could not be written to the spool. */
static int valid_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned c = *p, n, cp;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

int cm_event_set(struct cm_event *ev, enum cm_field field, const char *value)
{
    char *copy = NULL;

    if ((unsigned)field >= CM_EVENT_N_FIELDS || (value && !valid_text(value)))
        return CM_EINVAL;
    if (value && *value && !(copy = strdup(value)))
        return CM_ENOMEM;
    free(ev->fields[field]);
    ev->fields[field] = copy;
    invalidate(ev);
    return CM_OK;
}

const char *cm_event_get(const struct cm_event *ev, enum cm_field field)
{
    return (unsigned)field < CM_EVENT_N_FIELDS ? ev->fields[field] : NULL;
}

static int is_hex(const char *s, size_t *len)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
              (s[n] >= 'A' && s[n] <= 'F')))
            return 0;
    *len = n;
    return n > 0;
}

int cm_id_is_zero(const char *s)
{
    size_t n;
    if (!s || !is_hex(s, &n) || n > 64)
        return 0;
    return strspn(s, "0") == n;
}

int cm_id_is_valid(const char *s)
{
    size_t n;
    return s && is_hex(s, &n) && (n == 40 || n == 64);
}

/* Ids are stored in lowercase so that two hosts' spellings of one commit compare equal. */
static int copy_id(const char *id, char **out)
{
    *out = NULL;
    if (!id || !*id || cm_id_is_zero(id))
        return CM_OK;
    if (!cm_id_is_valid(id))
        return CM_EINVAL;
    if (!(*out = strdup(id)))
        return CM_ENOMEM;
    for (char *p = *out; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    return CM_OK;
}

static const char *kind_of(const char *ref)
{
    if (!strncmp(ref, "refs/heads/", 11) && ref[11])
        return "branch";
    if (!strncmp(ref, "refs/tags/", 10) && ref[10])
        return "tag";
    return "other";
}

/* Merged changes can have neither id (created, then deleted again): the ref is gone. */
static const char *action_of(const char *old_id, const char *new_id)
{
    if (!new_id)
        return "delete";
    if (!old_id)
        return "create";
    return "update";
}

static int grow_changes(struct cm_event *ev)
{
    if (ev->n_changes < ev->cap_changes)
        return CM_OK;
    size_t cap = ev->cap_changes ? ev->cap_changes * 2 : 4;
    struct cm_change *p = realloc(ev->changes, cap * sizeof(*p));
    if (!p)
        return CM_ENOMEM;
    ev->changes = p;
    ev->cap_changes = cap;
    return CM_OK;
}

int cm_event_add_change(struct cm_event *ev, const char *ref, const char *old_id,
                        const char *new_id, int forced)
{
    struct cm_change c = {0};
    int rc;

    if (!ref || !*ref || !valid_text(ref))
        return CM_EINVAL;
    if ((rc = copy_id(old_id, &c.old_id)) != CM_OK || (rc = copy_id(new_id, &c.new_id)) != CM_OK)
        goto fail;
    if (!c.old_id && !c.new_id) {
        rc = CM_EINVAL;
        goto fail;
    }
    if ((rc = grow_changes(ev)) != CM_OK || (rc = index_reserve(ev)) != CM_OK)
        goto fail;
    if (!(c.ref = strdup(ref))) {
        rc = CM_ENOMEM;
        goto fail;
    }
    c.kind = kind_of(ref);
    c.action = action_of(c.old_id, c.new_id);
    c.forced = forced < 0 ? -1 : !!forced;
    ev->changes[ev->n_changes++] = c;
    index_note_last(ev);
    invalidate(ev);
    return CM_OK;
fail:
    change_clear(&c);
    return rc;
}

/* --- dropping, capping and merging changes ---------------------------------------------- */

void cm_event_drop_changes(struct cm_event *ev)
{
    for (size_t i = 0; i < ev->n_changes; i++)
        change_clear(&ev->changes[i]);
    free(ev->changes);
    ev->changes = NULL;
    ev->n_changes = ev->cap_changes = 0;
    index_free(ev->index);
    ev->index = NULL;
    ev->complete = 0;
    invalidate(ev);
}

int cm_event_cap_changes(struct cm_event *ev, size_t max_changes)
{
    if (!max_changes || ev->n_changes <= max_changes)
        return 0;
    cm_event_drop_changes(ev);
    return 1;
}

/* Fold src's change s into dst's change d: the oldest "old" stays, the newest "new" wins. */
static int merge_one(struct cm_change *d, const struct cm_change *s)
{
    char *new_id = NULL;

    if (s->new_id && !(new_id = strdup(s->new_id)))
        return CM_ENOMEM;
    free(d->new_id);
    d->new_id = new_id;
    d->action = action_of(d->old_id, d->new_id);
    /* Forced if any part was: a fast-forward after a forced push does not undo the rewrite.
     * Otherwise agreeing parts keep their value and disagreeing ones are unknown. */
    if (d->forced == 1 || s->forced == 1)
        d->forced = 1;
    else if (d->forced != s->forced)
        d->forced = -1;
    return CM_OK;
}

int cm_event_merge(struct cm_event *dst, const struct cm_event *src, size_t max_changes)
{
    int rc = CM_OK;

    if (!src->complete)
        dst->complete = 0;
    for (size_t i = 0; i < src->n_changes; i++) {
        if (!dst->index && (rc = index_build(dst, dst->n_changes + src->n_changes)) != CM_OK)
            return rc;
        const struct cm_change *s = &src->changes[i];
        struct cm_change *d = index_find(dst, s->ref, ev_hash(s->ref));
        if (d) {
            if ((rc = merge_one(d, s)) != CM_OK)
                return rc;
            continue;
        }
        if ((rc = cm_event_add_change(dst, s->ref, s->old_id, s->new_id, s->forced)) != CM_OK)
            return rc;
        if (cm_event_cap_changes(dst, max_changes))
            return CM_OK; /* past the cap: incomplete, the sync looks at every ref */
    }
    cm_event_cap_changes(dst, max_changes);
    invalidate(dst);
    return CM_OK;
}

const char *cm_event_change_get(const struct cm_event *ev, size_t i, enum cm_change_field f)
{
    if (i >= ev->n_changes)
        return NULL;
    const struct cm_change *c = &ev->changes[i];
    switch (f) {
    case CM_CHANGE_REF: return c->ref;
    case CM_CHANGE_KIND: return c->kind;
    case CM_CHANGE_ACTION: return c->action;
    case CM_CHANGE_OLD: return c->old_id;
    case CM_CHANGE_NEW: return c->new_id;
    case CM_CHANGE_FORCED: return c->forced < 0 ? NULL : c->forced ? "true" : "false";
    default: return NULL;
    }
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *event_to_json(const struct cm_event *ev)
{
    json_t *o = json_object(), *changes = json_array();
    if (!o || !changes)
        goto fail;
    for (size_t i = 0; i < CM_EVENT_N_FIELDS; i++)
        if (json_object_set_new(o, field_names[i], str_or_null(ev->fields[i])))
            goto fail;
    if (json_object_set_new(o, "complete", json_boolean(ev->complete)))
        goto fail;
    for (size_t i = 0; i < ev->n_changes; i++) {
        const struct cm_change *c = &ev->changes[i];
        json_t *jc =
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "ref", c->ref, "kind", c->kind, "action",
                      c->action, "old", str_or_null(c->old_id), "new", str_or_null(c->new_id),
                      "forced", c->forced < 0 ? json_null() : json_boolean(c->forced));
        if (!jc || json_array_append_new(changes, jc))
            goto fail;
    }
    if (json_object_set_new(o, "changes", changes))
        goto fail_o;
    return o;
fail:
    json_decref(changes);
fail_o:
    json_decref(o);
    return NULL;
}

const char *cm_event_json(const struct cm_event *ev)
{
    /* A memo of the event as it stands: plugins may ask from several threads at once (the SDK
     * says every host function is thread-safe), so the first finished text is published with
     * one compare-and-swap and a thread that lost the race frees its own copy. */
    struct cm_event *mut = (struct cm_event *)ev;
    char *json = atomic_load_explicit(&mut->json, memory_order_acquire), *expected = NULL;
    if (json)
        return json;
    json_t *o = event_to_json(ev);
    if (!o)
        return NULL;
    json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!json)
        return NULL;
    if (!atomic_compare_exchange_strong_explicit(&mut->json, &expected, json, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(json);
        json = expected;
    }
    return json;
}

static const char *opt_string(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cm_event_from_json(struct cm_event **out, const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    struct cm_event *ev = NULL;
    json_t *o = json_loads(text, 0, &jerr), *changes;
    int rc = CM_EINVAL;

    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object: %s", o ? "wrong type" : jerr.text);
        goto out;
    }
    if ((rc = cm_event_new(&ev)) != CM_OK)
        goto out;
    for (size_t i = 0; i < CM_EVENT_N_FIELDS; i++)
        if ((rc = cm_event_set(ev, (enum cm_field)i, opt_string(o, field_names[i]))) != CM_OK)
            goto out;
    ev->complete = !json_is_false(json_object_get(o, "complete"));
    changes = json_object_get(o, "changes");
    if (!json_is_array(changes)) {
        snprintf(err, errlen, "\"changes\" is not an array");
        rc = CM_EINVAL;
        goto out;
    }
    size_t i;
    json_t *c;
    json_array_foreach (changes, i, c) {
        json_t *f = json_object_get(c, "forced");
        rc = cm_event_add_change(ev, opt_string(c, "ref"), opt_string(c, "old"),
                                 opt_string(c, "new"), json_is_boolean(f) ? json_is_true(f) : -1);
        if (rc != CM_OK) {
            snprintf(err, errlen, "change %zu is not valid", i);
            goto out;
        }
    }
    *out = ev;
    ev = NULL;
    rc = CM_OK;
out:
    cm_event_free(ev);
    json_decref(o);
    return rc;
}

void cm_format_time(long long t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *cm_event_changes_key(const struct cm_event *ev)
{
    size_t len = 2;
    char *key, *p;

    for (size_t i = 0; i < ev->n_changes; i++) {
        const struct cm_change *c = &ev->changes[i];
        /* A missing id is written as "-": one byte, not none. */
        len += strlen(c->ref) + (c->old_id ? strlen(c->old_id) : 1) +
               (c->new_id ? strlen(c->new_id) : 1) + 3;
    }
    if (!(p = key = malloc(len + 1)))
        return NULL;
    *p++ = ev->complete ? 'c' : 'i';
    *p = '\0';
    for (size_t i = 0; i < ev->n_changes; i++) {
        const struct cm_change *c = &ev->changes[i];
        /* '\n' cannot appear in a ref or an id, so the fields cannot run into each other. */
        p += snprintf(p, len + 1 - (size_t)(p - key), "\n%s %s %s", c->ref,
                      c->old_id ? c->old_id : "-", c->new_id ? c->new_id : "-");
    }
    return key;
}
