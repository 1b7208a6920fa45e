/* SPDX-License-Identifier: MIT */
/*
 * The common push event's model: its fields and ref changes, with the normalisation every
 * provider would otherwise repeat (zero ids, unknown ids, kind from the ref, action from the
 * ids). The JSON form is in event_json.c, merging in event_merge.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/event.h"
#include "util/hex.h"
#include "intake/event_index.h"

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

void cm_change_clear(struct cm_change *c)
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
        cm_change_clear(&ev->changes[i]);
    free(ev->changes);
    free(atomic_load(&ev->json));
    cm_ref_index_free(ev->index);
    free(ev);
}

void cm_event_invalidate(struct cm_event *ev)
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
    cm_event_invalidate(ev);
    return CM_OK;
}

const char *cm_event_get(const struct cm_event *ev, enum cm_field field)
{
    return (unsigned)field < CM_EVENT_N_FIELDS ? ev->fields[field] : NULL;
}

int cm_id_is_zero(const char *s)
{
    return s && cm_hex_check(s, 1, 64) && s[strspn(s, "0")] == '\0';
}

int cm_id_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return (n == 40 || n == 64) && cm_hex_check(s, n, n);
}

/* Ids are stored in lowercase so that two hosts' spellings of one commit compare equal. */
static int copy_id(const char *id, char **out, int *unknown)
{
    *out = NULL;
    *unknown = id && !strcmp(id, CM_ID_UNKNOWN);
    if (!id || !*id || *unknown || cm_id_is_zero(id))
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

const char *cm_change_action(const struct cm_change *c)
{
    if (!c->new_id && !c->new_unknown)
        return "delete";
    if (!c->old_id && !c->old_unknown)
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
    if ((rc = copy_id(old_id, &c.old_id, &c.old_unknown)) != CM_OK ||
        (rc = copy_id(new_id, &c.new_id, &c.new_unknown)) != CM_OK)
        goto fail;
    /* Neither a value before nor after says nothing happened: not a change. */
    if (!c.old_id && !c.old_unknown && !c.new_id && !c.new_unknown) {
        rc = CM_EINVAL;
        goto fail;
    }
    if ((rc = grow_changes(ev)) != CM_OK || (rc = cm_ref_index_reserve(ev)) != CM_OK)
        goto fail;
    if (!(c.ref = strdup(ref))) {
        rc = CM_ENOMEM;
        goto fail;
    }
    c.kind = kind_of(ref);
    c.action = cm_change_action(&c);
    c.forced = forced < 0 ? -1 : !!forced;
    ev->changes[ev->n_changes++] = c;
    cm_ref_index_note_last(ev);
    cm_event_invalidate(ev);
    return CM_OK;
fail:
    cm_change_clear(&c);
    return rc;
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

void cm_format_time(long long t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
