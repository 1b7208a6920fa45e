/* SPDX-License-Identifier: MIT */
/*
 * The files of the Composer v2 repository under the plugin's state_dir: packages.json, the
 * minified p2/<vendor>/<name>.json and ~dev.json documents, and the atomic writes that keep a
 * reader from ever seeing half a file. Also SHA-1 of a dist zip, for its "shasum".
 */
#ifndef CMC_INDEX_H
#define CMC_INDEX_H

#include <jansson.h>
#include <stddef.h>

/* Create every missing directory above path (not path itself), mode 0755. CM_OK or CM_ERROR. */
int cmc_mkdirs(const char *path);

/* Replace path with data: a temp file in the same directory, fsync, rename, fsync of the
 * directory. CM_OK or CM_ERROR (errno kept); no temp file is left behind either way. */
int cmc_write_atomic(const char *path, const void *data, size_t len);

/* As cmc_write_atomic, but leaves the file alone (and its mtime) when it already holds data.
 * *written (may be NULL) tells whether it was replaced. */
int cmc_write_if_changed(const char *path, const void *data, size_t len, int *written);

/* Composer's minified form of a list of versions: the first whole, each later one only the keys
 * that changed from the one before, "__unset" for keys it lacks. New reference, NULL on ENOMEM. */
json_t *cmc_minify(json_t *versions);

/* The inverse of cmc_minify (what Composer does when it reads the file). New reference. */
json_t *cmc_expand(json_t *minified);

/* Sort versions newest first by "version_normalized". */
void cmc_sort_versions(json_t *versions);

/* Write p2/<name>.json from tags and p2/<name>~dev.json from devs (both arrays of complete
 * versions, sorted here), each only when its content changes. *changed (may be NULL) counts
 * the files replaced. CM_OK, CM_ENOMEM or CM_ERROR. */
int cmc_write_p2(const char *state_dir, const char *name, json_t *tags, json_t *devs, int *changed);

/* Remove p2/<name>.json, p2/<name>~dev.json and dist/<name>/ of a package no longer served. */
void cmc_remove_package(const char *state_dir, const char *name);

/* Write packages.json (when its content changes) naming as available-packages the keys of
 * owners (an object name -> owner) whose p2 file exists. CM_OK, CM_ENOMEM or CM_ERROR. */
int cmc_write_packages_json(const char *state_dir, json_t *owners);

/* SHA-1 of a file's content as 40 lowercase hex digits and a NUL. CM_OK or CM_ERROR. */
int cmc_sha1_file(const char *path, char hex[41]);

/* SHA-1 of a buffer, same output. */
void cmc_sha1_hex(const void *data, size_t len, char hex[41]);

#endif /* CMC_INDEX_H */
