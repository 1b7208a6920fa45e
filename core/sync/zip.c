/* SPDX-License-Identifier: MIT */
/*
 * Zip writing with libarchive, the only file that includes it. Entries carry no timestamps,
 * owners or host details, so one tree always gives the same bytes (and Composer shasum).
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "sync/zip.h"
#include "util/fsutil.h"

struct cm_zip {
    struct archive *a;
    struct archive_entry *entry; /* reused for every member */
    int fd;
    char *dest;
    char *tmp;
    int werr;                /* errno of the first write that failed, 0 while none did */
    int open;                /* a member begun with cm_zip_begin_file is being written */
    int broken;              /* that member got a failed or oversize write */
    int failed;              /* a streamed member failed: cm_zip_close refuses */
    unsigned long long left; /* bytes that member still expects */
};

/* libarchive's own fd writer makes a failed write fatal, and an archive freed in that state
 * keeps its deflate stream (libarchive 3.6: some 270 KB lost per zip a full disk refused).
 * So the bytes go out here: a failure is remembered, not reported, every step checks it, and
 * libarchive still ends its entries and frees what they hold. */
static la_ssize_t zip_write(struct archive *a, void *arg, const void *buf, size_t len)
{
    struct cm_zip *z = arg;

    (void)a;
    if (!z->werr && cm_fs_write_all(z->fd, buf, len) != 0)
        z->werr = errno ? errno : EIO;
    return (la_ssize_t)len;
}

/* CM_ERROR with errno set when a write failed, else rc. */
static int zip_status(const struct cm_zip *z, int rc)
{
    if (!z->werr)
        return rc;
    errno = z->werr;
    return CM_ERROR;
}

int cm_zip_open(struct cm_zip **out, const char *dest_path)
{
    struct cm_zip *z = calloc(1, sizeof(*z));
    int rc = CM_ENOMEM;

    *out = NULL;
    if (!z)
        return CM_ENOMEM;
    z->fd = -1;
    z->dest = strdup(dest_path);
    z->a = archive_write_new();
    z->entry = archive_entry_new();
    if (!z->dest || !z->a || !z->entry)
        goto out;
    rc = CM_ERROR;
    /* Dist files are served to anyone who may read the index. */
    if (cm_fs_tmp_open(dest_path, 0644, &z->tmp, &z->fd) != 0)
        goto out;
    if (archive_write_set_format_zip(z->a) != ARCHIVE_OK ||
        archive_write_set_options(z->a, "zip:hdrcharset=UTF-8") != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(z->a, 1) != ARCHIVE_OK ||
        archive_write_open(z->a, z, NULL, zip_write, NULL) != ARCHIVE_OK)
        goto out;
    *out = z;
    rc = CM_OK;
out:
    if (rc != CM_OK)
        cm_zip_abort(z);
    return rc;
}

/* Start the member whose header is in z->entry; its body follows in zip_body calls. */
static int zip_begin(struct cm_zip *z)
{
    if (z->werr || archive_write_header(z->a, z->entry) != ARCHIVE_OK)
        return zip_status(z, CM_ERROR);
    return CM_OK;
}

static int zip_body(struct cm_zip *z, const void *data, size_t len)
{
    while (len > 0 && !z->werr) {
        la_ssize_t w = archive_write_data(z->a, data, len);

        if (w <= 0)
            return CM_ERROR;
        data = (const char *)data + w;
        len -= (size_t)w;
    }
    return zip_status(z, CM_OK);
}

/* Also after a failure: finishing the entry is what frees its deflate stream. */
static int zip_end(struct cm_zip *z, int rc)
{
    if (archive_write_finish_entry(z->a) != ARCHIVE_OK)
        rc = CM_ERROR;
    return zip_status(z, rc);
}

/* Write one member whose header is already in z->entry, then its body (NULL for links). */
static int zip_put(struct cm_zip *z, const void *data, size_t len)
{
    int rc = zip_begin(z);

    if (rc != CM_OK)
        return rc;
    if (data)
        rc = zip_body(z, data, len);
    return zip_end(z, rc);
}

/* Reset the reused entry to a member with nothing but a name, a type and a mode: no mtime
 * (the zip then says 1980-01-01 in every time zone), uid/gid 0. */
static void zip_entry(struct cm_zip *z, const char *path, mode_t type, unsigned perm)
{
    archive_entry_clear(z->entry);
    archive_entry_update_pathname_utf8(z->entry, path);
    archive_entry_set_filetype(z->entry, type);
    archive_entry_set_perm(z->entry, perm);
}

/* The header of a regular file of len bytes, the same whether its body comes whole or in
 * pieces: that is what keeps a streamed file's zip byte for byte the same. */
static void zip_file_entry(struct cm_zip *z, const char *path, unsigned mode,
                           unsigned long long len)
{
    zip_entry(z, path, AE_IFREG, (mode & 0111) ? 0755 : 0644);
    archive_entry_set_size(z->entry, (la_int64_t)len);
}

int cm_zip_add_file(struct cm_zip *z, const char *path, unsigned mode, const void *data, size_t len)
{
    zip_file_entry(z, path, mode, len);
    return zip_put(z, data, len);
}

int cm_zip_begin_file(struct cm_zip *z, const char *path, unsigned mode, unsigned long long len)
{
    int rc;

    assert(!z->open);
    zip_file_entry(z, path, mode, len);
    rc = zip_begin(z);
    if (rc == CM_OK) {
        z->open = 1;
        z->left = len;
    }
    return rc;
}

int cm_zip_write(struct cm_zip *z, const void *data, size_t len)
{
    assert(z->open);
    /* libarchive would cut the excess silently; more than announced is the caller's bug or a
     * lying source, and either way not a file to publish. */
    if (z->broken || len > z->left) {
        z->broken = 1;
        return CM_ERROR;
    }
    z->left -= len;
    if (zip_body(z, data, len) != CM_OK) {
        z->broken = 1;
        return zip_status(z, CM_ERROR);
    }
    return CM_OK;
}

int cm_zip_end_file(struct cm_zip *z)
{
    int rc = z->broken || z->left ? CM_ERROR : CM_OK;

    assert(z->open);
    z->open = 0;
    z->broken = 0;
    rc = zip_end(z, rc);
    /* A short or failed member cannot be taken back: the archive is not to be closed. */
    if (rc != CM_OK)
        z->failed = 1;
    return rc;
}

int cm_zip_add_symlink(struct cm_zip *z, const char *path, const char *target, size_t len)
{
    char *t = strndup(target, len);
    int rc;

    if (!t)
        return CM_ENOMEM;
    zip_entry(z, path, AE_IFLNK, 0777);
    archive_entry_update_symlink_utf8(z->entry, t);
    rc = zip_put(z, NULL, 0);
    free(t);
    return rc;
}

int cm_zip_close(struct cm_zip *z)
{
    int rc = CM_ERROR;

    if (z->failed || z->open || archive_write_close(z->a) != ARCHIVE_OK ||
        zip_status(z, CM_OK) != CM_OK)
        goto out;
    rc = cm_fs_tmp_commit(z->fd, z->tmp, z->dest) == 0 ? CM_OK : CM_ERROR;
    /* Closed, and renamed or removed: abort must touch neither. */
    z->fd = -1;
    free(z->tmp);
    z->tmp = NULL;
out:
    cm_zip_abort(z);
    return rc;
}

void cm_zip_abort(struct cm_zip *z)
{
    int saved = errno;

    if (!z)
        return;
    if (z->a)
        archive_write_free(z->a);
    archive_entry_free(z->entry);
    if (z->fd >= 0)
        close(z->fd);
    if (z->tmp)
        unlink(z->tmp);
    free(z->tmp);
    free(z->dest);
    free(z);
    errno = saved;
}
