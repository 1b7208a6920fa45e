/* SPDX-License-Identifier: MIT */
/*
 * Notes sync plugins leave about refs ("1.2.x skipped: composer.json has no name"), one line
 * per ref, kept in memory and in a file so GET /api/repositories still shows them after a
 * restart. Thread-safe.
 */
#ifndef CM_NOTES_H
#define CM_NOTES_H

struct cm_notes;

/* Notes stored in file ("ref TAB message" lines), loaded now when it exists. *out is the
 * caller's, freed with cm_notes_free. CM_OK or CM_ENOMEM. */
int cm_notes_open(struct cm_notes **out, const char *file);
void cm_notes_free(struct cm_notes *n);

/* Set ref's note to message (newlines and tabs become spaces), or remove it for NULL; the file
 * is rewritten atomically when its directory exists. CM_OK, CM_EINVAL for an empty ref or one
 * with tabs or newlines, CM_ENOMEM, CM_ERROR when the file cannot be written. */
int cm_notes_set(struct cm_notes *n, const char *ref, const char *message);

/* cb(arg, ref, message) for each note in ref order, under the lock (cb must not call
 * cm_notes_set); returns the first non-zero cb result, else 0. */
int cm_notes_each(struct cm_notes *n, int (*cb)(void *arg, const char *ref, const char *message),
                  void *arg);

#endif
