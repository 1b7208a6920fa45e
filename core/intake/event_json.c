/* SPDX-License-Identifier: MIT */
/*
 * The common push event's JSON form (docs/events.md): the contract the
 * spool stores, exec plugins read on stdin and `cargoman parse` prints, and its parser.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A change's ids for cm_event_add_change. A null id is "none" where the action says there is
 * none (old of a create, new of a delete) and unknown anywhere else; records without a valid
 * action keep null as "none", as before ids could be unknown. */
static void change_ids(json_t *c, const char *action, const char **old_id, const char **new_id)
{
    int known = action && (!strcmp(action, "create") || !strcmp(action, "update") ||
                           !strcmp(action, "delete"));

    *old_id = opt_string(c, "old");
    *new_id = opt_string(c, "new");
    if (!known)
        return;
    if (!*old_id && strcmp(action, "create"))
        *old_id = CM_ID_UNKNOWN;
    if (!*new_id && strcmp(action, "delete"))
        *new_id = CM_ID_UNKNOWN;
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
        const char *action = opt_string(c, "action"), *old_id, *new_id;
        change_ids(c, action, &old_id, &new_id);
        rc = cm_event_add_change(ev, opt_string(c, "ref"), old_id, new_id,
                                 json_is_boolean(f) ? json_is_true(f) : -1);
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
