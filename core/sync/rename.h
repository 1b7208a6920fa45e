/* SPDX-License-Identifier: MIT */
/*
 * Renamed and transferred repositories. A delivery the endpoint authenticated names the
 * repository by its present name and by the host's immutable id; the id finds the mirror an
 * older name left behind, which is moved to the new name before the fetch, so the fetch stays
 * incremental and what plugins keep per id carries on.
 */
#ifndef CM_RENAME_H
#define CM_RENAME_H

#include <stddef.h>

#include "intake/repo_name.h"

/* What cm_rename_follow decided for one sync. */
struct cm_rename {
    char name[CM_REPO_NAME_MAX + 1];     /* the name to sync under: the delivery's, or (stale) the
                                          * present one */
    char from[CM_REPO_NAME_MAX + 1];     /* the name the mirror was moved from; "" when not moved */
    char dropped_id[CM_REPO_ID_MAX + 1]; /* the id of another repository's mirror that held
                                          * the name and was removed; "" for none */
    int alias;   /* 1: the delivery names one of the mirror's earlier names: it is synced under
                  * the present one (name), fetched from the present name's URL, never moved
                  * back: the old name may belong to another repository by now */
    int adopted; /* 1: the name's mirror had no id recorded (made before ids were kept, or
                  * while the endpoint had no secret): this repository takes it over */
};

/* Make the mirror of endpoint's repository (id: the host's id, NULL or "" for none) the one
 * that id's mirror is, before a sync: move it from an older name (now: the time recorded for
 * the move), point a delivery for an earlier name at the present one, or drop another
 * repository's mirror that holds the name (the host gave the name to a new repository).
 * CM_OK with *out; CM_EAGAIN with one line in err when a mirror involved is busy or the disk
 * refused (nothing half moved is left: the mirror is under one name or the other). */
int cm_rename_follow(const char *data_dir, const char *endpoint, const char *repository,
                     const char *id, long long now, struct cm_rename *out, char *err,
                     size_t errlen);

/* After a successful sync: id's mirror is now endpoint/repository (data_dir/mirror-ids/). A
 * failure costs only the next rename's move (the mirror is then cloned afresh). */
void cm_rename_remember(const char *data_dir, const char *endpoint, const char *repository,
                        const char *id);

#endif
