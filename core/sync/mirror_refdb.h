/* SPDX-License-Identifier: MIT */
/*
 * The refdb a sync installs on the mirror it fetches into (mirror_refdb.c): libgit2's own
 * files backend, except that while the fetch negotiates, listing refs stops after the first
 * CM_MIRROR_NEGOTIATE_REFS. Private to the libgit2 files of the mirror and their tests.
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

/* Refs left out of negotiations since the process started, over all mirrors: a test hook. */
unsigned long cm_mirror_refdb_withheld(void);

#endif
