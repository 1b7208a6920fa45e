/* SPDX-License-Identifier: MIT */
/*
 * Coalescing pushes: merging the changes of several events of one repository into one, capping
 * how many an event lists, and the key that tells two events describe the same push.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/event.h"
#include "intake/event_index.h"

void cm_event_drop_changes(struct cm_event *ev)
{
    for (size_t i = 0; i < ev->n_changes; i++)
        cm_change_clear(&ev->changes[i]);
    free(ev->changes);
    ev->changes = NULL;
    ev->n_changes = ev->cap_changes = 0;
    cm_ref_index_free(ev->index);
    ev->index = NULL;
    ev->complete = 0;
    cm_event_invalidate(ev);
}

int cm_event_cap_changes(struct cm_event *ev, size_t max_changes)
{
    if (!max_changes || ev->n_changes <= max_changes)
        return 0;
    cm_event_drop_changes(ev);
    return 1;
}

/* Fold src's change s into dst's change d: the oldest "old" stays, the newest "new" wins, and
 * with it whether that new value is known. */
static int merge_one(struct cm_change *d, const struct cm_change *s)
{
    char *new_id = NULL;

    if (s->new_id && !(new_id = strdup(s->new_id)))
        return CM_ENOMEM;
    free(d->new_id);
    d->new_id = new_id;
    d->new_unknown = s->new_unknown;
    d->action = cm_change_action(d);
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
        if (!dst->index && (rc = cm_ref_index_build(dst, dst->n_changes + src->n_changes)) != CM_OK)
            return rc;
        const struct cm_change *s = &src->changes[i];
        struct cm_change *d = cm_ref_index_find(dst, s->ref);
        if (d) {
            if ((rc = merge_one(d, s)) != CM_OK)
                return rc;
            continue;
        }
        if ((rc = cm_event_add_change(dst, s->ref, s->old_unknown ? CM_ID_UNKNOWN : s->old_id,
                                      s->new_unknown ? CM_ID_UNKNOWN : s->new_id, s->forced)) !=
            CM_OK)
            return rc;
        if (cm_event_cap_changes(dst, max_changes))
            return CM_OK; /* past the cap: incomplete, the sync looks at every ref */
    }
    cm_event_cap_changes(dst, max_changes);
    cm_event_invalidate(dst);
    return CM_OK;
}

/* An id in a changes key: the hex, "?" when the host did not send it, "-" when there is none. */
static const char *id_text(const char *id, int unknown)
{
    return id ? id : unknown ? "?" : "-";
}

char *cm_event_changes_key(const struct cm_event *ev)
{
    size_t len = 2;
    char *key, *p;

    for (size_t i = 0; i < ev->n_changes; i++) {
        const struct cm_change *c = &ev->changes[i];
        /* A missing id is written as "-", an unknown one as "?": one byte, not none. */
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
                      id_text(c->old_id, c->old_unknown), id_text(c->new_id, c->new_unknown));
    }
    return key;
}
