/* SPDX-License-Identifier: MIT */
/*
 * Making a sync plugin's lost state again from the mirrors on disk (SDK 1.4,
 * CM_SYNC_FROM_MIRRORS): at start, before workers and the HTTP front, without any fetch.
 */
#ifndef CM_REBUILD_H
#define CM_REBUILD_H

#include <stddef.h>

struct cm_daemon;
struct cm_gateway;

/* Before cm_gateway_start (which makes the state directories): mark in due (gw->n_syncs
 * entries) the instances that declare CM_SYNC_FROM_MIRRORS and lost their state directory
 * (a start recorded it, data_dir/rebuild/<state dir name>.seen: a new entry starts empty), or
 * have one a rebuild did not finish. Each gets a marker, data_dir/rebuild/<state dir name>,
 * so a crash during the rebuild starts it again next time. Returns how many are due. */
size_t cm_rebuild_plan(const struct cm_gateway *gw, const char *data_dir, unsigned char *due);

/* After cm_gateway_start, before any worker or request: record that each CM_SYNC_FROM_MIRRORS
 * instance has a state now, and run on_sync of each due one over every mirror of a configured
 * endpoint, in name order, without contacting a host; the marker goes when every mirror
 * succeeded. Logs what it did. */
void cm_rebuild_run(struct cm_daemon *d, struct cm_gateway *gw, const unsigned char *due);

#endif
