/* SPDX-License-Identifier: MIT */
/*
 * The common push event (docs/events.md): the one shape every provider's webhook becomes. Its model
 * lives in event.c, its JSON form (which the spool stores, exec plugins read and `cargoman
 * parse` prints) in event_json.c, the merging of coalesced pushes in event_merge.c.
 */
#ifndef CM_EVENT_H
#define CM_EVENT_H

#include <stdatomic.h>
#include <stddef.h>
#include "cargoman/plugin.h"

struct cm_ref_index;

struct cm_change {
    char *ref;          /* full ref name, owned */
    char *old_id;       /* hex or NULL (none, or unknown when old_unknown), owned */
    char *new_id;       /* hex or NULL (none, or unknown when new_unknown), owned */
    const char *kind;   /* static: "branch", "tag", "other" */
    const char *action; /* static: "create", "update", "delete" */
    int forced;         /* 1, 0, -1 unknown */
    int old_unknown;    /* 1: the ref had a value the host did not send (CM_ID_UNKNOWN) */
    int new_unknown;    /* 1: the ref has a value the host did not send */
};

/* How many values enum cm_field has in this core: the SDK has no public count (it would be
 * compiled into plugins and go stale as the enum grows). Raise it with each new field. */
#define CM_EVENT_N_FIELDS ((size_t)CM_FIELD_ACTOR + 1)

struct cm_event {
    char *fields[CM_EVENT_N_FIELDS]; /* owned, NULL when unset */
    int complete;                    /* 0 when the host did not list every changed ref */
    struct cm_change *changes;       /* owned array */
    size_t n_changes;
    size_t cap_changes;
    _Atomic(char *) json;       /* cached JSON form, owned; set once per change by
                                   cm_event_json, from any thread; reset by every change */
    struct cm_ref_index *index; /* ref name -> change, built by the first merge, owned */
};

/* A new empty event (complete, event "push") into *out, freed with cm_event_free. */
int cm_event_new(struct cm_event **out);
void cm_event_free(struct cm_event *ev);

/* Set a string field, copied; NULL or "" clears. */
int cm_event_set(struct cm_event *ev, enum cm_field field, const char *value);
const char *cm_event_get(const struct cm_event *ev, enum cm_field field);

/* Append a change; see struct cm_host.event_add_change for the normalisation rules. An id
 * equal to CM_ID_UNKNOWN is one the host did not send: stored as NULL with its flag set, so
 * the action stays what the host said (a delete without ids is still a delete). */
int cm_event_add_change(struct cm_event *ev, const char *ref, const char *old_id,
                        const char *new_id, int forced);

/* Merge the changes of src into dst (same repository): for each ref the earliest old and the
 * latest new are kept, so coalesced pushes read as one, forced when any of them was; refs keep
 * the order they first came in. Linear in the changes of both: dst keeps an index of its refs for
 * later merges. When dst would list more than max_changes (0: no limit) it lists none and becomes
 * incomplete (cm_event_drop_changes); a later merge may list some again, as a hint only. */
int cm_event_merge(struct cm_event *dst, const struct cm_event *src, size_t max_changes);

/* Forget every change of ev and mark it incomplete: the sync then looks at every ref. */
void cm_event_drop_changes(struct cm_event *ev);
/* cm_event_drop_changes when ev lists more than max_changes (0: no limit). 1 when it did. */
int cm_event_cap_changes(struct cm_event *ev, size_t max_changes);

/* What a sync of ev would do, as one string (malloc'd, the caller's): its completeness and
 * every change's ref, old and new id. Two events with equal keys are the same push whoever
 * delivered them; NULL when out of memory. */
char *cm_event_changes_key(const struct cm_event *ev);

/* A field of change i as text, borrowed; NULL out of range. */
const char *cm_event_change_get(const struct cm_event *ev, size_t i, enum cm_change_field f);

/* Drop ev's cached JSON form: every change to ev calls it. */
void cm_event_invalidate(struct cm_event *ev);
/* Free what change c owns (not c). */
void cm_change_clear(struct cm_change *c);
/* c's action from its ids: no new value is a delete (also when neither side has one: created,
 * then deleted again), no old value a create, else an update. Static text. */
const char *cm_change_action(const struct cm_change *c);

/* The JSON form, cached in the event and borrowed; NULL when out of memory. Safe to call
 * from several threads at once (the SDK promises it); not while the event changes. */
const char *cm_event_json(const struct cm_event *ev);

/* Parse the JSON form back into *out. CM_EINVAL with a reason in err when it is not one. A null
 * id is "none" where the action says so (old of a create, new of a delete) and unknown
 * elsewhere; without a valid action, the action follows from the ids as for add_change. */
int cm_event_from_json(struct cm_event **out, const char *text, char *err, size_t errlen);

/* Name of a field in the JSON form ("clone_url_http"...). */
const char *cm_event_field_name(enum cm_field field);

/* RFC 3339 UTC form of t into buf (at least 21 bytes). */
void cm_format_time(long long t, char *buf, size_t len);

/* 1 when s is 1..64 hex digits, all zero; used to turn "no object" ids into null. */
int cm_id_is_zero(const char *s);
/* 1 when s is 40 or 64 hex digits. */
int cm_id_is_valid(const char *s);

#endif
