/* SPDX-License-Identifier: MIT */
/*
 * The common push event: the normalisation every provider would otherwise repeat (zero ids,
 * kind from the ref, action from the ids) and the JSON form that is the contract.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "event.h"

static const char *const field_names[CM_FIELD_COUNT_] = {
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
    return (unsigned)field < CM_FIELD_COUNT_ ? field_names[field] : NULL;
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
    for (size_t i = 0; i < CM_FIELD_COUNT_; i++)
        free(ev->fields[i]);
    for (size_t i = 0; i < ev->n_changes; i++)
        change_clear(&ev->changes[i]);
    free(ev->changes);
    free(ev->json);
    free(ev);
}

static void invalidate(struct cm_event *ev)
{
    free(ev->json);
    ev->json = NULL;
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

    if ((unsigned)field >= CM_FIELD_COUNT_ || (value && !valid_text(value)))
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
    return (unsigned)field < CM_FIELD_COUNT_ ? ev->fields[field] : NULL;
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
    if ((rc = grow_changes(ev)) != CM_OK)
        goto fail;
    if (!(c.ref = strdup(ref))) {
        rc = CM_ENOMEM;
        goto fail;
    }
    c.kind = kind_of(ref);
    c.action = action_of(c.old_id, c.new_id);
    c.forced = forced < 0 ? -1 : !!forced;
    ev->changes[ev->n_changes++] = c;
    invalidate(ev);
    return CM_OK;
fail:
    change_clear(&c);
    return rc;
}

static struct cm_change *find_change(struct cm_event *ev, const char *ref)
{
    for (size_t i = 0; i < ev->n_changes; i++)
        if (!strcmp(ev->changes[i].ref, ref))
            return &ev->changes[i];
    return NULL;
}

int cm_event_merge(struct cm_event *dst, const struct cm_event *src)
{
    int rc;

    if (!src->complete)
        dst->complete = 0;
    for (size_t i = 0; i < src->n_changes; i++) {
        const struct cm_change *s = &src->changes[i];
        struct cm_change *d = find_change(dst, s->ref);
        if (!d) {
            if ((rc = cm_event_add_change(dst, s->ref, s->old_id, s->new_id, s->forced)) != CM_OK)
                return rc;
            continue;
        }
        /* Keep the oldest "old" already in dst; take the newest "new" from src. */
        char *new_id = NULL;
        if (s->new_id && !(new_id = strdup(s->new_id)))
            return CM_ENOMEM;
        free(d->new_id);
        d->new_id = new_id;
        d->action = action_of(d->old_id, d->new_id);
        if (s->forced == 1 || d->forced != s->forced)
            d->forced = s->forced == 1 ? 1 : -1;
    }
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
    for (size_t i = 0; i < CM_FIELD_COUNT_; i++)
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
    /* The cache is a memo of an immutable-at-that-moment event; the cast keeps the accessor
     * const for plugins, which never see the event change under them. */
    struct cm_event *mut = (struct cm_event *)ev;
    if (!mut->json) {
        json_t *o = event_to_json(ev);
        if (!o)
            return NULL;
        mut->json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
    }
    return mut->json;
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
    for (size_t i = 0; i < CM_FIELD_COUNT_; i++)
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
