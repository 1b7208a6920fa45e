/* SPDX-License-Identifier: MIT */
/*
 * The local spool's journal (spool_journal.c): its records, writing a batch, compaction,
 * replay at open, and failed.log. Private to the spool's files and its test.
 */
#ifndef CM_SPOOL_JOURNAL_H
#define CM_SPOOL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "queue/spool_state.h"

/* Journal records appended to b. CM_OK, CM_ENOMEM. */
int cm_spool_rec_accept(struct cm_buf *b, uint64_t id, long long at, const char *key,
                        const char *dkey, const char *json);
int cm_spool_rec_retry(struct cm_buf *b, const struct cm_spool_entry *e);
/* type 'D' (done) or 'F' (given up). */
int cm_spool_rec_end(struct cm_buf *b, char type, uint64_t id);

/* Syncs the spool directory after a rewrite's rename and before the next batch when that
 * failed: fsync. A test may point it at a function that fails, to inject the fault. */
extern int (*cm_spool_dir_fsync)(int dir_fd);

/* Append b to the journal and make it durable; *size gets the journal's new size. CM_OK or
 * CM_EAGAIN. The writer only (sp->committing), without the lock. */
int cm_spool_journal_write(struct cm_spool *sp, const struct cm_buf *b, uint64_t *size);
/* Rewrite the journal from the live state. With the lock held (dropped while writing) and the
 * writer role taken. CM_OK, CM_ENOMEM, or CM_EAGAIN with *err_no. */
int cm_spool_journal_compact(struct cm_spool *sp, int *err_no);
/* Read and replay the journal into the empty state at open. CM_OK, or an error with a reason
 * in err. */
int cm_spool_journal_load(struct cm_spool *sp, char *err, size_t errlen);

/* Append a JSON line per claimed entry of r to failed.log and sync it: the operators' record
 * of what was lost. CM_OK, CM_ENOMEM, or CM_EAGAIN when it could not be written. */
int cm_spool_log_failed(struct cm_spool *sp, struct cm_spool_repo *r, const char *error);

#endif
