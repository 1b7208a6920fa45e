/* SPDX-License-Identifier: MIT */
/*
 * The files of the Composer v2 repository under the plugin's state_dir (packages.json here,
 * the p2 documents in p2.h), written so that a reader never sees half a file.
 */
#ifndef CMC_INDEX_H
#define CMC_INDEX_H

#include <cargoman/plugin.h>

#include <jansson.h>
#include <stddef.h>

/* Create every missing directory above path (not path itself), mode 0755. CM_OK or CM_ERROR. */
int cmc_mkdirs(const char *path);

/* Where the repository's files live and how they are written. Borrowed for the plugin's
 * life; dir is NULL until the plugin started. */
struct cmc_files {
    const struct cm_host *host; /* its write_file and digest services */
    struct cm_ctx *ctx;
    const char *dir; /* host->state_dir(ctx): where files are read and removed */
};

/* Replace the file rel (relative to f->dir) with data through the host's atomic write_file.
 * CM_OK or CM_ERROR. */
int cmc_write_file(const struct cmc_files *f, const char *rel, const void *data, size_t len);

/* As cmc_write_file, but leaves the file alone (and its mtime) when it already holds data.
 * *written (may be NULL) tells whether it was replaced. */
int cmc_write_if_changed(const struct cmc_files *f, const char *rel, const void *data, size_t len,
                         int *written);

/* Remove p2/<name>.json, p2/<name>~dev.json and dist/<name>/ of a package no longer served. */
void cmc_remove_package(const char *state_dir, const char *name);

/* Write packages.json (when its content changes) naming as available-packages the keys of
 * owners (an object name -> owner) whose p2 file exists. CM_OK, CM_ENOMEM or CM_ERROR. */
int cmc_write_packages_json(const struct cmc_files *f, json_t *owners);

#endif /* CMC_INDEX_H */
