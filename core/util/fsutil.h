/* SPDX-License-Identifier: MIT */
/*
 * Small file-system helpers the core needs in several places: creating directory chains,
 * removing trees, making a rename or a new file durable by syncing its directory, and the one
 * atomic file write (temp file beside the target, fsync, rename, fsync of the directory).
 */
#ifndef CM_FSUTIL_H
#define CM_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Create path and every missing parent (mode 0755). 0, also when path is a directory
 * already, or -1 with errno (EEXIST when path is something else). */
int cm_fs_mkdir_p(const char *path);
/* Remove path and everything below it; a missing path is success. 0 or -1 with errno. */
int cm_fs_rm_rf(const char *path);
/* fsync the directory dir, so entries created or renamed in it survive a crash. 0 or -1. */
int cm_fs_fsync_dir(const char *dir);
/* fsync the directory holding path, so path's creation or rename there survives a crash. 0 or
 * -1 with errno. */
int cm_fs_fsync_parent(const char *path);
/* 1 when the entry name of the directory open as dirfd, of readdir type d_type, is a directory
 * (not a symlink to one), else 0. Some file systems (XFS without ftype, many network and
 * FUSE ones) report DT_UNKNOWN for every entry: then the entry itself is asked. */
int cm_fs_entry_is_dir(int dirfd, const char *name, unsigned char d_type);
/* 1 when rel is a relative path that stays below its base: not empty, not absolute, no
 * empty, "." or ".." component. */
int cm_fs_path_is_inside(const char *rel);
/* cm_fs_write_atomic of dir/rel, creating the directories above it; rel must pass
 * cm_fs_path_is_inside (else -1, errno EINVAL). No symlink below dir is followed, so a link
 * planted there cannot send the write elsewhere (-1, errno ELOOP or ENOTDIR); one at rel itself
 * is replaced, not written through. 0 or -1 with errno. */
int cm_fs_write_under(const char *dir, const char *rel, const void *data, size_t len, mode_t mode);
/* Open dir/rel read-only (close-on-exec) without following a symlink in any component below
 * dir; rel must pass cm_fs_path_is_inside (else errno EINVAL). The descriptor (the caller's),
 * or -1 with errno (ELOOP or ENOTDIR for a link). */
int cm_fs_open_under(const char *dir, const char *rel);
/* Remove the file dir/rel without following a symlink in any component below dir (a link at
 * rel itself is removed, not what it points at); rel must pass cm_fs_path_is_inside (else
 * errno EINVAL). 0, or -1 with errno (ENOENT when there is no such file; ELOOP or ENOTDIR for
 * a link, or a file where a directory should be). */
int cm_fs_unlink_under(const char *dir, const char *rel);

/* Write all n bytes at p to fd, again after a short write or EINTR. 0, or -1 with errno (EIO
 * when the file takes no more). */
int cm_fs_write_all(int fd, const void *p, size_t n);
/* Create a temp file beside dest (dest.tmp-XXXXXX, permissions mode, close-on-exec) for a
 * content that will replace dest: *fd is open for writing, *tmp its path (the caller's; free
 * it after cm_fs_tmp_commit or cm_fs_tmp_discard). 0, or -1 with errno. */
int cm_fs_tmp_open(const char *dest, mode_t mode, char **tmp, int *fd);
/* Make the temp file durable and put it in dest's place: fsync fd, close it, rename tmp to
 * dest, fsync dest's directory. Readers, and a crash at any moment, see the old content or
 * the new one, never a part. fd is closed, and tmp removed unless it became dest, either way.
 * 0, or -1 with errno (the rename may then be done but not yet durable). */
int cm_fs_tmp_commit(int fd, const char *tmp, const char *dest);
/* Give up a temp file: close fd (when >= 0) and remove tmp; errno is kept. */
void cm_fs_tmp_discard(int fd, const char *tmp);
/* Replace the file at path with the len bytes at data in one durable step (as above), mode
 * being the new file's permissions. 0, or -1 with errno; path is then unchanged (or, when only
 * the directory's fsync failed, replaced but maybe not durable). */
int cm_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
