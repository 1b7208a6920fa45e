/* SPDX-License-Identifier: MIT */
/*
 * Small file-system helpers the core needs in several places: creating directory chains,
 * removing trees, and making a rename or a new file durable by syncing its directory.
 */
#ifndef CM_FSUTIL_H
#define CM_FSUTIL_H

/* Create path and every missing parent (mode 0755). 0, also when path is a directory
 * already, or -1 with errno (EEXIST when path is something else). */
int cm_fs_mkdir_p(const char *path);
/* Remove path and everything below it; a missing path is success. 0 or -1 with errno. */
int cm_fs_rm_rf(const char *path);
/* fsync the directory dir, so entries created or renamed in it survive a crash. 0 or -1. */
int cm_fs_fsync_dir(const char *dir);
/* 1 when the entry name of the directory open as dirfd, of readdir type d_type, is a directory
 * (not a symlink to one), else 0. Some file systems (XFS without ftype, many network and
 * FUSE ones) report DT_UNKNOWN for every entry: then the entry itself is asked. */
int cm_fs_entry_is_dir(int dirfd, const char *name, unsigned char d_type);
/* Replace path with len bytes at data, mode mode: a temp file in the same directory, fsync,
 * rename, fsync of the directory, so readers and crashes see the old or the new file whole.
 * 0, or -1 with errno; no temp file is left behind. The directory must exist. */
int cm_fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* 1 when rel is a relative path that stays below its base: not empty, not absolute, no
 * empty, "." or ".." component. */
int cm_fs_path_is_inside(const char *rel);
/* cm_fs_write_atomic of dir/rel, creating the directories above it; rel must pass
 * cm_fs_path_is_inside (else -1, errno EINVAL). 0 or -1 with errno. */
int cm_fs_write_under(const char *dir, const char *rel, const void *data, size_t len,
                      unsigned mode);

#endif
