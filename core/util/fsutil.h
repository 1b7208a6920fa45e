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

#endif
