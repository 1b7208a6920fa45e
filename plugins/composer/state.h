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

/* The state file of one repository, relative to the state directory: "repos/<endpoint>/
 * <repository>.json", or "repos/<endpoint>/id=<id>.json" when the host's immutable id is known
 * (id not NULL), so a renamed repository keeps its state. Names are %-encoded into single path
 * components. Newly allocated, freed by the caller; NULL when out of memory. */
char *cmc_state_path(const char *endpoint, const char *repository, const char *id);

/* The state at state_dir/rel: a new object {"refs": {}, "shasums": {}} when the file is
 * missing or unreadable (then everything is read again, which is always safe). New reference
 * or NULL. */
json_t *cmc_state_load(const char *state_dir, const char *rel);

/* The lines of a state file as last saved, one per ref, so the next save renders only the
 * refs whose entry changed. Zeroed is empty. */
struct cmc_state_text {
    char **name;    /* owned: the ref */
    json_t **entry; /* a reference each: the entry the line was made from */
    char **line;    /* owned: "name":{entry}, compact */
    size_t n;
};

/* Drop what t holds and leave it empty. */
void cmc_state_text_clear(struct cmc_state_text *t);

/* Write st to rel atomically (the host's write_file): its small keys, then one line per ref.
 * t (NULL for none) holds the lines of the last save: an entry object saved then keeps its
 * line, so entries must not change in place once saved (refresh replaces them). t is updated
 * to this save, or emptied when it fails. CM_OK, CM_ENOMEM or CM_ERROR. */
int cmc_state_save(const struct cmc_files *f, const char *rel, json_t *st,
                   struct cmc_state_text *t);

/* The owner key of a repository, as stored and logged: "endpoint:repository", with "#id" after
 * it when the id is known: a repository that later takes the name of one renamed away has
 * another id, so it cannot publish that one's packages. Newly allocated. */
char *cmc_owner_key(const char *endpoint, const char *repository, const char *id);

/* The endpoint and repository of the owner key owner into ep and repo; returns its id (""
 * when it has none), borrowed from owner, or NULL when owner is malformed or too long. */
const char *cmc_owner_split(const char *owner, char *ep, size_t eplen, char *repo, size_t repolen);

/* The state file (as cmc_state_path) of the repository whose owner key is owner; NULL when
 * owner is malformed or out of memory. */
char *cmc_owner_state_path(const char *owner);

/* Fill owners (name -> owner key) from every state file under state_dir/repos, so ownership
 * survives restarts. A name claimed twice on disk (a takeover or a rename not yet saved by the
 * other repository when the process stopped, or a release racing the holder's save) goes to
 * the claimant whose endpoint pol reserves it for, else to the later claim (package_since),
 * else to the first in name order. CM_OK or CM_ENOMEM. */
int cmc_owners_scan(const char *state_dir, json_t *owners, const struct cmc_policy *pol);

/* 1 when rel (relative to the state directory) is a state file's path as cmc_state_path makes
 * it: "repos/<endpoint>/<file>.json", each part one component. */
int cmc_is_state_path(const char *rel);

/* Apply the claim of the state file state_dir/rel, when it exists, to owners as the scan does
 * (a name already held goes to it when pol reserves it for its endpoint and not for the
 * holder's, or when neither or both are reserved and its claim is the later). The caller
 * holds the lock that guards owners. CM_OK or CM_ENOMEM. */
int cmc_owners_apply(const char *state_dir, const char *rel, json_t *owners,
                     const struct cmc_policy *pol);

struct cmc_plugin;

/* Before a sync of endpoint's repository whose host id is id (owner its key, *st loaded from
 * its id's state file): a repository renamed since its last sync hands its package claims to
 * owner and sets *full (every version names the repository, so all are made again); a state
 * kept by name before the id was known is adopted, with its claims, unless the mirror is new
 * (*st replaced). Records the id in *st. CM_OK or CM_ENOMEM. */
int cmc_state_follow(struct cmc_plugin *p, const char *endpoint, const char *repository,
                     const char *id, const char *owner, int mirror_is_new, json_t **st, int *full);

#endif /* CMC_STATE_H */
