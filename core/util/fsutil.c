/* SPDX-License-Identifier: MIT */
/*
 * File-system helpers shared by the daemon, the mirrors and the zip writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
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

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cm_fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096], dir[4096];
    const char *slash = strrchr(path, '/');
    int fd, rc = -1, saved;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp) ||
        snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
                 slash ? (slash == path ? "/" : path) : ".") >= (int)sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((fd = mkstemp(tmp)) < 0)
        return -1;
    if (fchmod(fd, (mode_t)mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0) {
        rc = close(fd);
        fd = -1;
    }
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc == 0)
        rc = cm_fs_fsync_dir(dir);
    saved = errno;
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp); /* after a rename that worked this is a no-op: tmp is gone */
    errno = saved;
    return rc;
}

int cm_fs_path_is_inside(const char *rel)
{
    const char *p = rel;
    if (!rel || !*rel || *rel == '/')
        return 0;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!p[n])
            return 1;
        p += n + 1;
    }
}

int cm_fs_write_under(const char *dir, const char *rel, const void *data, size_t len, unsigned mode)
{
    char full[4096], *slash;

    if (!cm_fs_path_is_inside(rel)) {
        errno = EINVAL;
        return -1;
    }
    if (snprintf(full, sizeof(full), "%s/%s", dir, rel) >= (int)sizeof(full)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    slash = strrchr(full, '/');
    *slash = '\0';
    if (cm_fs_mkdir_p(full) != 0)
        return -1;
    *slash = '/';
    return cm_fs_write_atomic(full, data, len, mode);
}
