/* SPDX-License-Identifier: MIT */
/*
 * What the composer plugin remembers per repository between syncs and restarts:
 * state_dir/repos/<endpoint>/<repository>.json with the package name it owns and, per ref,
 * the commit and its composer.json (or why it was skipped), plus the shasum of each dist zip.
 */
#ifndef CMC_STATE_H
#define CMC_STATE_H

#include "index.h"
#include "policy.h"

#include <jansson.h>

/* The state file of one repository, relative to the state directory ("repos/<endpoint>/
 * <repository>.json"); names are %-encoded into single path components. Newly allocated,
 * freed by the caller; NULL when out of memory. */
char *cmc_state_path(const char *endpoint, const char *repository);

/* The state at state_dir/rel: a new object {"refs": {}, "shasums": {}} when the file is
 * missing or unreadable (then everything is read again, which is always safe). New reference
 * or NULL. */
json_t *cmc_state_load(const char *state_dir, const char *rel);

/* Write st to rel atomically (the host's write_file). CM_OK, CM_ENOMEM or CM_ERROR. */
int cmc_state_save(const struct cmc_files *f, const char *rel, json_t *st);

/* The owner key of a repository, as stored and logged: "endpoint:repository". Newly allocated. */
char *cmc_owner_key(const char *endpoint, const char *repository);

/* Fill owners (name -> owner key) from every state file under state_dir/repos, so ownership
 * survives restarts. A name claimed twice on disk (a takeover or a rename not yet saved by the
 * other repository when the process stopped) goes to the claimant whose endpoint pol reserves
 * it for, else to the first in name order. CM_OK or CM_ENOMEM. */
int cmc_owners_scan(const char *state_dir, json_t *owners, const struct cmc_policy *pol);

#endif /* CMC_STATE_H */
