/* SPDX-License-Identifier: MIT */
/*
 * A fake struct cm_host for the composer plugin's tests: a mirror is an in-memory table of
 * refs -> commit ids and (commit, path) -> file contents; it counts reads and archives and
 * keeps the last note per ref and the last log line, so tests can see what the plugin did.
 */
#ifndef COMPOSER_FAKE_HOST_H
#define COMPOSER_FAKE_HOST_H

#include <cargoman/plugin.h>

/* The host table; its functions accept only objects made below. */
const struct cm_host *fake_host(void);

/* A plugin context: state_dir is used as given (created by the caller), base_url NULL leaves
 * the key unset. Both strings are copied. */
struct cm_ctx *fake_ctx_new(const char *state_dir, const char *base_url);
void fake_ctx_free(struct cm_ctx *ctx);
/* Make conf_string("base_url") answer CM_EINVAL (a value that is not a string). */
void fake_ctx_base_url_not_string(struct cm_ctx *ctx);
/* conf_list("packages") answers items (NULL-terminated; copied). */
void fake_ctx_set_packages(struct cm_ctx *ctx, const char *const *items);
/* packages is not a list: one string value (conf_string answers it), or for NULL a number. */
void fake_ctx_set_packages_scalar(struct cm_ctx *ctx, const char *value);
/* The last line logged at level or more severe (CM_LOG_WARNING...), "" when none. */
const char *fake_ctx_last_log(struct cm_ctx *ctx, int level);

/* A mirror of endpoint/repository fetched from url, HEAD on default_branch (may be NULL). */
struct cm_mirror *fake_mirror_new(const char *endpoint, const char *repository, const char *url,
                                  const char *default_branch);
void fake_mirror_free(struct cm_mirror *m);
/* Point ref (full name) at commit; commit NULL deletes the ref. */
void fake_mirror_set_ref(struct cm_mirror *m, const char *ref, const char *commit);
/* Put content at path in the tree of commit (commit exists once it has any file). */
void fake_mirror_add_file(struct cm_mirror *m, const char *commit, const char *path,
                          const char *content);
void fake_mirror_set_new(struct cm_mirror *m, int is_new);
/* Make mirror_archive fail (CM_ERROR, no file) while fail is set. */
void fake_mirror_fail_archives(struct cm_mirror *m, int fail);
void fake_mirror_set_default_branch(struct cm_mirror *m, const char *branch);
/* Act as git.max_blob_size = max (0: no limit): mirror_read refuses a larger file with
 * CM_EINVAL, mirror_archive a commit holding one, noting every ref at that commit as the real
 * host does ("dist archive skipped: <path> is N bytes, over git.max_blob_size (max): ..."). */
void fake_mirror_set_max_blob(struct cm_mirror *m, size_t max);
/* Call fn(arg) inside the next mirror_archive, before it writes: what happens meanwhile. */
void fake_mirror_on_archive(struct cm_mirror *m, void (*fn)(void *arg), void *arg);
/* How many mirror_read / mirror_archive calls were made since the last reset. */
int fake_mirror_reads(const struct cm_mirror *m);
int fake_mirror_archives(const struct cm_mirror *m);
void fake_mirror_reset_counts(struct cm_mirror *m);
/* The current note of ref, NULL when none or cleared. */
const char *fake_mirror_note(const struct cm_mirror *m, const char *ref);

/* A push event; complete 0 means the host did not list every change. */
struct cm_event *fake_event_new(int complete);
/* old/new NULL for create/delete. */
void fake_event_add(struct cm_event *ev, const char *ref, const char *old_id, const char *new_id);
void fake_event_free(struct cm_event *ev);

/* A 40-hex commit id made from n, in a static table (n < 64). */
const char *fake_id(int n);

#endif /* COMPOSER_FAKE_HOST_H */
