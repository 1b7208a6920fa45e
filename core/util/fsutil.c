/* SPDX-License-Identifier: MIT */
/*
 * File-system helpers shared by the daemon, the mirrors, the notes and the zip writer, among
 * them the core's one way to replace a file atomically and durably.
 */
#define _GNU_SOURCE /* mkostemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

int cm_fs_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int cm_fs_tmp_open(const char *dest, mode_t mode, char **tmp, int *fd)
{
    size_t n = strlen(dest) + sizeof(".tmp-XXXXXX");

    *fd = -1;
    if (!(*tmp = malloc(n))) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(*tmp, n, "%s.tmp-XXXXXX", dest);
    if ((*fd = mkostemp(*tmp, O_CLOEXEC)) < 0) {
        int saved = errno;

        free(*tmp); /* nothing on disk to remove */
        *tmp = NULL;
        errno = saved;
        return -1;
    }
    /* mkstemp makes 0600, whatever the file is for. */
    if (fchmod(*fd, mode) != 0) {
        cm_fs_tmp_discard(*fd, *tmp);
        *fd = -1;
        return -1;
    }
    return 0;
}

void cm_fs_tmp_discard(int fd, const char *tmp)
{
    int saved = errno;

    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    errno = saved;
}

int cm_fs_tmp_commit(int fd, const char *tmp, const char *dest)
{
    if (fsync(fd) != 0) {
        cm_fs_tmp_discard(fd, tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, dest) != 0) {
        cm_fs_tmp_discard(-1, tmp);
        return -1;
    }
    return cm_fs_fsync_parent(dest); /* so the rename survives a power loss */
}

int cm_fs_fsync_parent(const char *path)
{
    char *dir = strdup(path);
    int rc;

    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    rc = cm_fs_fsync_dir(dirname(dir));
    free(dir);
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

/* Open the directory dir, then each of the first n bytes' components of rel below it (made,
 * 0755, when create and missing), never through a symlink: a link planted anywhere below dir
 * cannot lead the caller out of it. 0 and *out the last directory's descriptor, or -1 with
 * errno (ELOOP or ENOTDIR for a link or a file where a directory should be). */
static int open_dir_under(const char *dir, const char *rel, size_t n, int create, int *out)
{
    char comp[NAME_MAX + 1];
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next;

    while (fd >= 0 && n > 0) {
        size_t len = strcspn(rel, "/");

        if (len > n)
            len = n;
        if (len > NAME_MAX) {
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, rel, len);
        comp[len] = '\0';
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create &&
            (mkdirat(fd, comp, 0755) == 0 || errno == EEXIST))
            next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int saved = errno;

            close(fd);
            errno = saved;
            return -1;
        }
        close(fd);
        fd = next;
        rel += len;
        n -= len;
        if (n > 0) {
            rel++; /* the '/' */
            n--;
        }
    }
    if (fd < 0)
        return -1;
    *out = fd;
    return 0;
}

/* The directory holding rel under dir (*dfd, no link followed on the way) and rel's last
 * component (*name). 0, or -1 with errno (EINVAL for a path that leaves dir). */
static int parent_under(const char *dir, const char *rel, int *dfd, const char **name)
{
    const char *slash;

    if (!cm_fs_path_is_inside(rel)) {
        errno = EINVAL;
        return -1;
    }
    slash = strrchr(rel, '/');
    *name = slash ? slash + 1 : rel;
    return open_dir_under(dir, rel, slash ? (size_t)(slash - rel) : 0, 0, dfd);
}

int cm_fs_open_under(const char *dir, const char *rel)
{
    const char *name;
    int dfd, fd, saved;

    if (parent_under(dir, rel, &dfd, &name) != 0)
        return -1;
    /* O_NONBLOCK: a FIFO planted there is not waited on (it is no regular file either). */
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    saved = errno;
    close(dfd);
    errno = saved;
    return fd;
}

int cm_fs_unlink_under(const char *dir, const char *rel)
{
    const char *name;
    int dfd, rc, saved;

    if (parent_under(dir, rel, &dfd, &name) != 0)
        return -1;
    rc = unlinkat(dfd, name, 0);
    saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

/* A new temp file for name in the directory dirfd: *tmp (tmplen bytes) its name. The name
 * need not be unpredictable: O_EXCL | O_NOFOLLOW make a file of ours, whatever lies there. */
static int tmp_open_at(int dirfd, const char *name, mode_t mode, char *tmp, size_t tmplen)
{
    static atomic_uint seq;

    for (int i = 0; i < 100; i++) {
        struct timespec ts;
        unsigned r;
        int fd;

        clock_gettime(CLOCK_REALTIME, &ts);
        r = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec ^
            atomic_fetch_add(&seq, 1) * 40503u;
        if ((size_t)snprintf(tmp, tmplen, "%s.tmp-%06x", name, r & 0xffffffu) >= tmplen) {
            errno = ENAMETOOLONG;
            return -1;
        }
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (fchmod(fd, mode) == 0) /* as cm_fs_tmp_open: mode, whatever the umask */
                return fd;
            close(fd);
            unlinkat(dirfd, tmp, 0);
            return -1;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* cm_fs_write_atomic of name in the directory dirfd. */
static int write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
    char tmp[NAME_MAX + 16];
    int fd = tmp_open_at(dirfd, name, mode, tmp, sizeof(tmp)), saved;

    if (fd < 0)
        return -1;
    if (cm_fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        errno = saved;
        return -1;
    }
    if (close(fd) != 0 || renameat(dirfd, tmp, dirfd, name) != 0) {
        saved = errno;
        unlinkat(dirfd, tmp, 0);
        errno = saved;
        return -1;
    }
    return fsync(dirfd); /* so the rename survives a power loss */
}

int cm_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    int dfd, rc, saved;

    /* The directory part: "/" for a file at the root, "." for a bare name. */
    if ((size_t)snprintf(dir, sizeof(dir), "%.*s",
                         slash ? (int)(slash == path ? 1 : slash - path) : 1,
                         slash ? path : ".") >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    rc = write_atomic_at(dfd, slash ? slash + 1 : path, data, len, mode);
    saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

int cm_fs_write_under(const char *dir, const char *rel, const void *data, size_t len, mode_t mode)
{
    const char *slash;
    int dfd, rc, saved;

    if (!cm_fs_path_is_inside(rel)) {
        errno = EINVAL;
        return -1;
    }
    slash = strrchr(rel, '/');
    if (open_dir_under(dir, rel, slash ? (size_t)(slash - rel) : 0, 1, &dfd) != 0)
        return -1;
    rc = write_atomic_at(dfd, slash ? slash + 1 : rel, data, len, mode);
    saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}
