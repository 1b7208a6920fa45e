/* SPDX-License-Identifier: MIT */
/*
 * Reconciliation: every server.reconcile_interval (or an endpoint's), list each mirror's
 * remote refs without fetching and queue a sync, like a webhook's, for what differs. Catches
 * the pushes whose webhook never came. Per-host cap, spacing and backoff keep it gentle.
 */
#ifndef CM_RECONCILE_H
#define CM_RECONCILE_H

struct cm_daemon;
struct cm_reconciler;

/* Start the reconciler's threads for d (after the queue, the metrics and the activity store
 * exist). They read the intervals from the current gateway at every step, so a SIGHUP
 * changes them. *out is the caller's, freed by cm_reconcile_stop. CM_OK, CM_ENOMEM, CM_ERROR. */
int cm_reconcile_start(struct cm_reconciler **out, struct cm_daemon *d);

/* Wake the threads so they see a reloaded configuration now rather than within a second. */
void cm_reconcile_wake(struct cm_reconciler *r);

/* Stop and free (NULL is fine): no new check starts; a check in flight ends with its
 * ls-remote, which git.timeout bounds. Before the queue is closed. */
void cm_reconcile_stop(struct cm_reconciler *r);

#endif
