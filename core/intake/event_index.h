/* SPDX-License-Identifier: MIT */
/*
 * The ref index of a common push event: ref name -> change, so merging coalesced pushes is
 * linear in their changes. Private to the event files (event.c, event_merge.c).
 */
#ifndef CM_EVENT_INDEX_H
#define CM_EVENT_INDEX_H

#include <stddef.h>

struct cm_event;
struct cm_change;
struct cm_ref_index;

void cm_ref_index_free(struct cm_ref_index *ix);

/* The change of ev named ref (its first, when a payload listed it twice), or NULL. ev must
 * keep an index (cm_ref_index_build). */
struct cm_change *cm_ref_index_find(const struct cm_event *ev, const char *ref);

/* (Re)build ev's index with room for at least want changes. CM_OK or CM_ENOMEM. */
int cm_ref_index_build(struct cm_event *ev, size_t want);

/* Room in ev's index, when it keeps one, for one more change. CM_OK or CM_ENOMEM. */
int cm_ref_index_reserve(struct cm_event *ev);

/* Record the change just appended at the end of ev, when ev keeps an index (room reserved). */
void cm_ref_index_note_last(struct cm_event *ev);

#endif
