/* SPDX-License-Identifier: MIT */
/*
 * Deterministic zip files (libarchive) for Composer dist downloads: entries are added in the
 * caller's order with fixed metadata, the file appears at its destination only when complete.
 */
#ifndef CM_ZIP_H
#define CM_ZIP_H

#include <stddef.h>

struct cm_zip;

/* Start a zip that will replace dest_path. It is written to a temp file in the same
 * directory; *out is the caller's and ends with cm_zip_close or cm_zip_abort.
 * CM_OK, CM_ERROR (with errno set) when the temp file cannot be made, CM_ENOMEM. */
int cm_zip_open(struct cm_zip **out, const char *dest_path);

/* Add a regular file; mode is its permission bits (0644 or 0755 from git). */
int cm_zip_add_file(struct cm_zip *z, const char *path, unsigned mode, const void *data,
                    size_t len);
/* Add a symbolic link to target (len bytes, not NUL-terminated). */
int cm_zip_add_symlink(struct cm_zip *z, const char *path, const char *target, size_t len);

/* Finish the archive, fsync it and rename it over dest_path; frees z either way.
 * CM_OK or CM_ERROR (the temp file is removed). */
int cm_zip_close(struct cm_zip *z);
/* Drop the archive and its temp file; frees z. NULL is fine. */
void cm_zip_abort(struct cm_zip *z);

#endif
