/* SPDX-License-Identifier: MIT */
/*
 * Local bare mirrors of remote repositories (libgit2): clone or fetch with prune, check that
 * a push's ids arrived, and the read services sync plugins use. The only libgit2 user.
 */
#ifndef CM_MIRROR_H
#define CM_MIRROR_H

#include <stddef.h>
#include "cargoman/plugin.h"

struct cm_mirror;

/* Credentials for fetching; any field may be NULL. Never logged, never put into messages. */
struct cm_mirror_auth {
    const char *user;            /* HTTPS basic user (GIT_AUTH_USER) */
    const char *token;           /* HTTPS basic password / token (GIT_AUTH_TOKEN) */
    const char *ssh_key;         /* path of a private key file for ssh:// and scp-like URLs */
    const char *ssh_passphrase;  /* its passphrase, or NULL */
    const char *ssh_known_hosts; /* OpenSSH known_hosts file; an unknown host key is refused */
    /* For messages: the endpoint whose own ssh_key / ssh_known_hosts these are (when the flag
     * is set), so an error names the setting to change; else git.ssh_key / git.ssh_known_hosts. */
    const char *endpoint;
    int own_ssh_key, own_known_hosts;
    int timeout; /* seconds without progress before the fetch is abandoned; 0: the global one */
    const char *ssl_ca_file; /* PEM CA bundle trusted besides the system's (git.ssl_ca_file
                              * or the endpoint's), or NULL. Process-wide: once a sync has
                              * loaded it, every later HTTPS fetch trusts it too. */
};

/* Where the mirror of endpoint's repository lives: data_dir/mirrors/<endpoint>/<repository>.git,
 * into out. CM_OK, or CM_EINVAL when it does not fit in len. */
/* Call fn for every mirror under data_dir/mirrors/<endpoint>/<repository>.git: repository
 * names nest (up to 8 levels); first clones still being built (*.tmp) are skipped. */
typedef void (*cm_mirror_each_fn)(void *arg, const char *endpoint, const char *repository,
                                  const char *path);
void cm_mirror_each(const char *data_dir, cm_mirror_each_fn fn, void *arg);

int cm_mirror_path(char *out, size_t len, const char *data_dir, const char *endpoint,
                   const char *repository);

/* Initialise and shut down libgit2 once per process. timeout: seconds a fetch may go without
 * progress (git.timeout; 0: 120), also libgit2's process-wide socket timeout, so it is set
 * here once rather than by each sync. */
int cm_mirror_global_init(int timeout);
void cm_mirror_global_shutdown(void);

/* Open (without touching the network) the mirror at path (a bare repository, created by the
 * first cm_mirror_sync), fetched from url. endpoint/repository are for messages and
 * mirror_get. *out is the caller's, freed with cm_mirror_free. */
int cm_mirror_open(struct cm_mirror **out, const char *path, const char *url, const char *endpoint,
                   const char *repository);
void cm_mirror_free(struct cm_mirror *m);

/* Clone (first time) or fetch every branch and tag with prune, then point HEAD at
 * the remote's default branch. A crash at any moment leaves a usable repository (clone into a
 * temp dir + rename; fetch is libgit2's own ref transaction). On failure writes one line into
 * err without credentials (e.g. "authentication failed for https://host/x.git: check
 * git.auth_user/auth_token", "unknown SSH host key for host:port (SHA256:...): add it to
 * git.ssh_known_hosts", "TLS certificate of host:port is not trusted: set git.ssl_ca_file to
 * your CA's PEM bundle") and returns CM_EAGAIN (worth retrying) or CM_ERROR; CM_EAUTH when
 * the history guard (cm_mirror_guard_history) refused the fetch. An existing mirror that the
 * check set with cm_mirror_set_current_check finds current is not fetched: the sync is
 * recorded and answers CM_OK without contacting the host (cm_mirror_fetched tells). */
int cm_mirror_sync(struct cm_mirror *m, const struct cm_mirror_auth *auth, char *err,
                   size_t errlen);

/* 1 when the last cm_mirror_sync of m was a first clone that failed because the host says the
 * repository does not exist (HTTP 404, "does not appear to be a git repository", git daemon's
 * "repository not exported"), else 0. Such a failed first clone leaves nothing on disk: no
 * mirror, no lock file, no empty directory made for the name. */
int cm_mirror_missing(const struct cm_mirror *m);

/* 1 when the last cm_mirror_sync of m failed because the host says the repository does not
 * exist, a first clone or a fetch into an existing mirror (sync/gone.h decides what that
 * proves), else 0. */
int cm_mirror_not_found(const struct cm_mirror *m);

/* 1 when the last cm_mirror_sync of m answered CM_EAGAIN because another sync (a worker, an
 * on-demand fetch) held the mirror's lock, so that waiting and trying again may do; else 0. */
int cm_mirror_busy(const struct cm_mirror *m);

/* One branch or tag that differs between the remote and the mirror: old_id is the mirror's
 * (NULL when the ref appeared), new_id the remote's (NULL when it vanished). Borrowed for the
 * call; a non-zero return stops the walk and is returned. */
typedef int (*cm_mirror_drift_cb)(void *arg, const char *ref, const char *old_id,
                                  const char *new_id);

/* List the remote's refs without fetching (ls-remote, with the fetch's credentials, host key
 * and redirect policy) and call cb for each branch or tag that differs from the mirror (which
 * must exist). CM_OK; CM_EAGAIN (worth retrying: network, host down; *throttled is set to 1
 * when the host answered HTTP 429), CM_ENOENT (the host says there is no such repository) or
 * CM_ERROR, with one line in err as cm_mirror_sync writes it. */
int cm_mirror_ls_remote(const struct cm_mirror *m, const struct cm_mirror_auth *auth,
                        cm_mirror_drift_cb cb, void *arg, int *throttled, char *err, size_t errlen);

/* What the last successful sync of the mirror at path recorded: the URL it fetched (into url;
 * "" when it was not recorded, e.g. it held a password) and when (epoch seconds into
 * *synced_at, 0 when unknown). CM_OK, or CM_ENOENT when there is no mirror at path. */
int cm_mirror_recorded(const char *path, char *url, size_t urllen, long long *synced_at);

/* What a mirror remembers of its repository's identity (sync/mirror_identity.c). */
struct cm_mirror_identity {
    char id[101];         /* the host's immutable id; "" when none was recorded */
    char aliases[2048];   /* earlier names, oldest first, one space apart; "" for none */
    long long renamed_at; /* epoch seconds it took its present name; 0: never renamed */
};

/* The identity recorded in the mirror at path. CM_OK, or CM_ENOENT when there is no mirror. */
int cm_mirror_identity_read(const char *path, struct cm_mirror_identity *out);

/* The mirror at path is now repository name, formerly old, since when: old joins its aliases
 * (name never stays among them), the oldest given up when they no longer fit.
 * CM_OK, CM_ENOENT (no mirror) or CM_ERROR. */
int cm_mirror_identity_renamed(const char *path, const char *old, const char *name, long long when);

/* 1 when name is one of aliases (as struct cm_mirror_identity holds them). */
int cm_mirror_alias_of(const char *aliases, const char *name);

/* The host's immutable id of m's repository, from a delivery its endpoint authenticated
 * (NULL: keep the one the mirror recorded, if any): recorded at the next successful sync and
 * shown to plugins as CM_MIRROR_REPOSITORY_ID. Call before sharing m. CM_OK or CM_ENOMEM. */
int cm_mirror_set_id(struct cm_mirror *m, const char *id);

/* Take the lock cm_mirror_sync holds on the mirror at path (path + ".lock", making its
 * directories), without waiting: CM_OK with *fd (close it to let go), CM_EAGAIN when a sync
 * holds it, CM_ERROR with errno. */
int cm_mirror_lock(const char *path, int *fd);

/* Remove, when empty, the directories made for endpoint/repository's mirror at path. */
void cm_mirror_prune_dirs(const char *path, const char *endpoint, const char *repository);

/* 1 when ref exists and id is its target or its peeled commit (hosts send either for
 * annotated tags); for id == NULL, 1 when ref does not exist. 0 otherwise. */
int cm_mirror_ref_is(const struct cm_mirror *m, const char *ref, const char *id);

/* 1 when the object id was fetched into the mirror (whatever ref points at it now), else 0. */
int cm_mirror_has_object(const struct cm_mirror *m, const char *id);

/* The default of git.max_blob_size (100 MiB). */
#define CM_MIRROR_MAX_BLOB_DEFAULT 104857600ULL

/* The largest file, in bytes, cm_mirror_read and cm_mirror_archive load into memory (libgit2
 * reads a blob whole); 0 restores CM_MIRROR_MAX_BLOB_DEFAULT. Call before sharing m. */
void cm_mirror_set_max_blob(struct cm_mirror *m, unsigned long long max);

/* The progress of the pack a fetch receives: objects received of those it holds, and bytes
 * received. Called on the fetching thread, at most every CM_MIRROR_PROGRESS_MS and once more
 * when the last object is in; arg is the one given to cm_mirror_set_progress. */
#define CM_MIRROR_PROGRESS_MS 100
typedef void (*cm_mirror_progress_cb)(void *arg, unsigned received_objects, unsigned total_objects,
                                      unsigned long long received_bytes);
/* Report the progress of m's fetches to cb (NULL: to nobody). Call before sharing m. */
void cm_mirror_set_progress(struct cm_mirror *m, cm_mirror_progress_cb cb, void *arg);

/* The mirror was on disk when this sync began: should it be gone once cm_mirror_sync holds
 * its lock (a rename moved it away meanwhile, sync/rename.c), that sync answers CM_EAGAIN and
 * makes nothing, rather than clone the repository again under the name it left. Call before
 * sharing m. */
void cm_mirror_expect_existing(struct cm_mirror *m);

/* This sync's fetch URL comes from the mirror's name, not from a delivery the host vouched
 * for with the repository's id (a reconciliation, a resync, an import, a delivery naming an
 * earlier name, a mirror adopted by its first signed push), and a host may have given that
 * name to another repository since. cm_mirror_sync of an existing mirror then accepts only a
 * fetch that continues its history (no tag moved or gone, branches only forward, something of
 * it left); else it puts every ref back, records nothing, and answers CM_EAUTH with err saying
 * why. Call before sharing m. */
void cm_mirror_guard_history(struct cm_mirror *m);

/* The SDK's mirror read services (see struct cm_host in cargoman/plugin.h). cm_mirror_read
 * and cm_mirror_archive return CM_EINVAL, before loading it, for a file larger than the
 * limit above; cm_mirror_archive then writes nothing at dest_path and notes on every branch
 * and tag at commit_id which file it is and its size. */
const char *cm_mirror_get(const struct cm_mirror *m, enum cm_mirror_field field);
int cm_mirror_refs(const struct cm_mirror *m, cm_ref_cb cb, void *arg);
int cm_mirror_read(const struct cm_mirror *m, const char *commit_id, const char *path,
                   cm_data_cb cb, void *arg);
int cm_mirror_archive(const struct cm_mirror *m, const char *commit_id, const char *prefix,
                      const char *dest_path);

/* Notes sync plugins leave about refs (thread-safe); message NULL removes the ref's note. */
int cm_mirror_note(const struct cm_mirror *m, const char *ref, const char *message);
/* Call cb(arg, ref, message) for each note; returns the first non-zero cb result. */
int cm_mirror_notes(const struct cm_mirror *m,
                    int (*cb)(void *arg, const char *ref, const char *message), void *arg);

/* Asked by cm_mirror_sync of a mirror that exists, under its lock and before contacting the
 * host: non-zero when the mirror already holds everything this sync is for. The sync then
 * records itself as one that fetched would, without a fetch. arg is the one given to
 * cm_mirror_set_current_check. */
typedef int (*cm_mirror_current_fn)(void *arg, const struct cm_mirror *m);
/* Ask fn before each fetch of m (NULL: always fetch). Call before sharing m. */
void cm_mirror_set_current_check(struct cm_mirror *m, cm_mirror_current_fn fn, void *arg);
/* 1 when the last successful cm_mirror_sync of m contacted the host, 0 when it found the
 * mirror current (or none ran). */
int cm_mirror_fetched(const struct cm_mirror *m);

/* 1 when the commit that ref leads to (ref NULL: the commit or annotated tag id) is the
 * commit ancestor leads to or one of its descendants, all in the mirror; else 0. */
int cm_mirror_descends(const struct cm_mirror *m, const char *ref, const char *id,
                       const char *ancestor);

/* The SHA-256 (hex, into out) of salt and every branch and tag of m with its target: equal
 * digests, equal refs. CM_OK, CM_ENOENT (no mirror), CM_ENOMEM or CM_ERROR. */
int cm_mirror_refs_digest(const struct cm_mirror *m, const char *salt, char out[65]);
/* 1 when digest is the one cm_mirror_plugins_ran last recorded in m, else 0. */
int cm_mirror_plugins_current(const struct cm_mirror *m, const char *digest);
/* Record in m's git config (cargoman.pluginrefs) that every sync plugin succeeded with the
 * refs digest names. CM_OK, CM_ENOENT or CM_ERROR. */
int cm_mirror_plugins_ran(const struct cm_mirror *m, const char *digest);

#endif
