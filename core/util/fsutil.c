/* SPDX-License-Identifier: MIT */
/*
 * File-system helpers shared by the daemon, the mirrors and the zip writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

int cm_fs_mkdir_p(const char *path)
{
    char buf[4096];
    struct stat st;
    size_t n = strlen(path);
    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    /* A file (or a dangling link) under that name is not the directory asked for: say so
     * now rather than let the caller fail later on a path inside it. */
    if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    errno = EEXIST;
    return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int cm_fs_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) && errno == ENOENT)
        return 0;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int cm_fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int cm_fs_entry_is_dir(int dirfd, const char *name, unsigned char d_type)
{
    struct stat st;

    if (d_type != DT_UNKNOWN)
        return d_type == DT_DIR;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}
