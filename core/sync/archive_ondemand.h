/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of host->archive (SDK 1.3): the zip of one commit made on whichever node a
 * client asks, fetching the commit first when this node's mirror lacks it (a cluster node that
 * never synced the repository).
 */
#ifndef CM_ARCHIVE_ONDEMAND_H
#define CM_ARCHIVE_ONDEMAND_H

struct cm_ctx;

/* struct cm_host_daemon.archive, with arg the struct cm_daemon: the zip of commit_id of
 * endpoint's repository at dest (an absolute path whose directory exists), prefix as for
 * cm_mirror_archive. A mirror that holds the commit is read without touching the network;
 * otherwise the repository is fetched by its name (made when there is none), after waiting a
 * while for a sync of the same mirror that is running. Any thread. CM_OK; CM_ENOENT when the
 * host has no such repository or commit; CM_EINVAL for a refused name or as cm_mirror_archive;
 * CM_EAGAIN when the endpoint is not configured, has no fetch URL for the name, or the fetch
 * failed (worth retrying); CM_ERROR, CM_ENOMEM. */
int cm_archive_ondemand(void *arg, struct cm_ctx *ctx, const char *endpoint, const char *repository,
                        const char *commit_id, const char *prefix, const char *dest);

#endif
