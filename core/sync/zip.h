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
/* The same file with its body in pieces: begin with its full size, then cm_zip_write until
 * len bytes went in, then cm_zip_end_file, which must follow a successful begin even after a
 * failed write (it frees the member's deflate state). The bytes of the zip are those
 * cm_zip_add_file gives. CM_OK or CM_ERROR (errno set when the disk refused); a write beyond
 * len, or an end before len, is CM_ERROR and the zip can then only be aborted. */
int cm_zip_begin_file(struct cm_zip *z, const char *path, unsigned mode, unsigned long long len);
int cm_zip_write(struct cm_zip *z, const void *data, size_t len);
int cm_zip_end_file(struct cm_zip *z);
/* Add a symbolic link to target (len bytes, not NUL-terminated). */
int cm_zip_add_symlink(struct cm_zip *z, const char *path, const char *target, size_t len);

/* Finish the archive, fsync it and rename it over dest_path; frees z either way.
 * CM_OK or CM_ERROR (the temp file is removed). */
int cm_zip_close(struct cm_zip *z);
/* Drop the archive and its temp file; frees z. NULL is fine. */
void cm_zip_abort(struct cm_zip *z);

#endif
