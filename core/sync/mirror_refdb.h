/* SPDX-License-Identifier: MIT */
/*
 * The refdb a sync installs on the mirror it fetches into (mirror_refdb.c): libgit2's own
 * files backend, except that while the fetch negotiates, listing refs stops after the first
 * CM_MIRROR_NEGOTIATE_REFS, and that the refs a mirror with none yet gets are written together
 * as one packed-refs file (a batch). Private to the libgit2 files of the mirror and their tests.
 */
#ifndef CM_MIRROR_REFDB_H
#define CM_MIRROR_REFDB_H

#include <git2.h>

/* libgit2 (1.5 and later) sends at most 256 "have" lines per fetch, and the walk that makes
 * them takes the listed refs in order: refs listed after the 256th are never sent. */
#define CM_MIRROR_NEGOTIATE_REFS 256

struct cm_mirror_refdb;

/* Put the backend on repo's refdb. *out is borrowed: it lives as long as repo (freed with
 * its refdb). libgit2's status (0 on success); on failure repo keeps its own backend. */
int cm_mirror_refdb_install(git_repository *repo, struct cm_mirror_refdb **out);

/* Turn the shortened listing on (only around git_remote_download) or off. Not thread-safe:
 * the repository and its refdb belong to one sync. */
void cm_mirror_refdb_negotiating(struct cm_mirror_refdb *db, int on);

/* Start a batch when repo has no ref yet (a first clone) and keeps no reflogs: from here the
 * refs under refs/ written through db stay in memory, seen by every lookup and listing through
 * db but by nobody else, until cm_mirror_refdb_batch_end. Otherwise nothing changes. 0, or -1
 * (out of memory, libgit2's error set). */
int cm_mirror_refdb_batch_begin(struct cm_mirror_refdb *db);
/* With keep, write the batch as repo's packed-refs, fsync'd with its directory, so the refs
 * are durable together (cm_refbatch_write); without, drop it (the fetch failed: as if it wrote
 * no ref). 0 also when there was no batch; else libgit2's status. */
int cm_mirror_refdb_batch_end(struct cm_mirror_refdb *db, int keep);

/* Refs left out of negotiations since the process started, over all mirrors: a test hook. */
unsigned long cm_mirror_refdb_withheld(void);
/* Refs under refs/ written as loose files (each with its own fsyncs) since the process
 * started, over all mirrors: a test hook. */
unsigned long cm_mirror_refdb_loose_writes(void);

#endif
