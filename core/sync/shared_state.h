/* SPDX-License-Identifier: MIT */
/*
 * The sync plugins' state directories of a cluster (a queue with state ops): before the
 * plugins run for a job, this node takes the cluster's lock and writes in what other nodes
 * published; after, what the plugins changed is published as the job completes. Serving
 * reads the cluster's version of a file. The node's own files are the cache of it.
 */
#ifndef CM_SHARED_STATE_H
#define CM_SHARED_STATE_H

#include <stddef.h>

struct cm_ctx;
struct cm_gateway;
struct cm_job;
struct cm_queue;
struct cm_shared_state;

/* For a queue whose ops have state (NULL otherwise: *out stays NULL and CM_OK). */
int cm_shared_state_new(struct cm_shared_state **out, struct cm_queue *q);
void cm_shared_state_free(struct cm_shared_state *ss);

/* Know gw's sync instances (their state directories and per-node paths), so serve finds them:
 * at start and after each reload. CM_OK or CM_ENOMEM. */
int cm_shared_state_attach(struct cm_shared_state *ss, struct cm_gateway *gw);

/* Before gw's plugins run for a job: hold this node's and the cluster's lock and bring each
 * instance's directory up to date (plugins are told what changed). CM_OK with *fence;
 * CM_EAGAIN (err says why) when the database is away, and no lock is held. */
int cm_shared_state_begin(struct cm_shared_state *ss, struct cm_gateway *gw, long long *fence,
                          char *err, size_t errlen);
/* At start, once attached: bring every instance's directory up to date with the cluster, and
 * when the cluster has nothing of an instance yet, make this node's files its first version
 * (a single gateway that becomes a cluster's first node keeps its index). CM_OK; CM_EAGAIN
 * with err (serve still starts: the first job or request tries again). */
int cm_shared_state_prime(struct cm_shared_state *ss, struct cm_gateway *gw, char *err,
                          size_t errlen);
/* The plugins ran and the job is done: publish what they changed and complete job in one
 * transaction, then let go of the locks. Frees job. CM_OK; CM_EAGAIN when the lock or the
 * job's lease was lost or the database is away (nothing published; the files this node
 * changed are compared with the cluster's again at the next begin). */
int cm_shared_state_complete(struct cm_shared_state *ss, struct cm_gateway *gw, struct cm_job *job,
                             long long fence);
/* The job is not completed (retry, give up): nothing is published, and the locks go. */
void cm_shared_state_abandon(struct cm_shared_state *ss, struct cm_gateway *gw, long long fence);

/* host->state_refresh for ctx's instance of gw: at once when this node runs the plugins now
 * (its directory is the cluster's then) or refreshed it less than 100 ms ago. */
int cm_shared_state_refresh(struct cm_shared_state *ss, struct cm_gateway *gw, struct cm_ctx *ctx);

/* For serve: the cluster's version of path in ctx's state directory (gw: the running
 * generation, told of what a catch-up pull changes). CM_OK with *fd (this node's file is that
 * version) or *body (malloc'd, *len bytes; this node then catches up for the next request);
 * CM_ENOENT when the cluster has no such file; CM_EAGAIN when the database cannot answer and
 * this node's copy is not one the cluster had (answer 503: it may be what a run here wrote
 * and could not publish); 1 when path is not shared (node-local, or no cluster). */
int cm_shared_state_open(struct cm_shared_state *ss, struct cm_gateway *gw, struct cm_ctx *ctx,
                         const char *path, int *fd, void **body, size_t *len);

#endif
