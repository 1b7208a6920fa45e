/* SPDX-License-Identifier: MIT */
/*
 * The raw payloads behind the delivery log: one file per delivery, named "<id>-<received>" so
 * the index is rebuilt at start from names alone. A file holds one JSON line of the headers
 * kept, then the body's bytes as received.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "ops/payload_store.h"
#include "util/fsutil.h"

struct ps_file {
    uint64_t id;
    long long at;
    long long size;
};

struct cm_payloads {
    pthread_mutex_t mu;
    char *dir;             /* owned */
    struct ps_file *files; /* owned; ascending id, oldest first */
    size_t n, cap;
    long long total, retention, max_bytes;
};

int cm_payloads_header_kept(const char *name)
{
    static const char *const words[] = {"token", "secret", "password", "auth", "cookie"};
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        if (strcasestr(name, words[i]))
            return 0;
    return 1;
}

static void ps_name(const struct cm_payloads *p, const struct ps_file *f, char *out, size_t len)
{
    snprintf(out, len, "%s/%" PRIu64 "-%lld", p->dir, f->id, f->at);
}

static int ps_cmp(const void *a, const void *b)
{
    const struct ps_file *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int ps_push(struct cm_payloads *p, uint64_t id, long long at, long long size)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct ps_file *f = realloc(p->files, cap * sizeof(*f));
        if (!f)
            return CM_ENOMEM;
        p->files = f;
        p->cap = cap;
    }
    p->files[p->n++] = (struct ps_file){id, at, size};
    p->total += size;
    return CM_OK;
}

/* Drop the oldest file. With the lock held. */
static void ps_drop_oldest(struct cm_payloads *p)
{
    char path[4200];
    ps_name(p, &p->files[0], path, sizeof(path));
    unlink(path);
    p->total -= p->files[0].size;
    memmove(p->files, p->files + 1, (p->n - 1) * sizeof(*p->files));
    p->n--;
}

static int ps_index(struct cm_payloads *p)
{
    DIR *d = opendir(p->dir);
    struct dirent *e;
    int rc = CM_OK;
    if (!d)
        return CM_ERROR;
    while (rc == CM_OK && (e = readdir(d))) {
        unsigned long long id;
        long long at;
        char tail;
        struct stat sb;
        if (sscanf(e->d_name, "%llu-%lld%c", &id, &at, &tail) != 2 ||
            fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        rc = ps_push(p, (uint64_t)id, at, (long long)sb.st_size);
    }
    closedir(d);
    if (p->n)
        qsort(p->files, p->n, sizeof(*p->files), ps_cmp);
    return rc;
}

int cm_payloads_open(struct cm_payloads **out, const char *dir, long long retention,
                     long long max_bytes)
{
    struct cm_payloads *p = calloc(1, sizeof(*p));
    int rc;
    if (!p || !(p->dir = strdup(dir))) {
        free(p);
        return CM_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->retention = retention;
    p->max_bytes = max_bytes;
    if (cm_fs_mkdir_p(dir) != 0)
        rc = CM_ERROR;
    else
        rc = ps_index(p);
    if (rc != CM_OK) {
        int e = errno;
        cm_payloads_free(p);
        errno = e;
        return rc;
    }
    *out = p;
    return CM_OK;
}

void cm_payloads_free(struct cm_payloads *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p->files);
    free(p->dir);
    free(p);
}

static char *ps_headers_line(const char *const *names, const char *const *values, size_t n)
{
    json_t *h = json_object();
    char *s;
    for (size_t i = 0; h && i < n; i++)
        if (cm_payloads_header_kept(names[i]))
            json_object_set_new(h, names[i], json_string(values[i]));
    s = h ? json_dumps(h, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(h);
    return s;
}

int cm_payloads_put(struct cm_payloads *p, uint64_t id, long long now, const char *const *names,
                    const char *const *values, size_t n_headers, const void *body, size_t len)
{
    char *head = ps_headers_line(names, values, n_headers), path[4200];
    struct ps_file f = {id, now, 0};
    int fd = -1, rc = CM_ERROR;

    if (!head)
        return CM_ENOMEM;
    f.size = (long long)(strlen(head) + 1 + len);
    if (f.size > p->max_bytes) {
        free(head);
        return CM_EINVAL;
    }
    ps_name(p, &f, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && cm_fs_write_all(fd, head, strlen(head)) == 0 &&
        cm_fs_write_all(fd, "\n", 1) == 0 && cm_fs_write_all(fd, body, len) == 0)
        rc = CM_OK;
    if (fd >= 0 && close(fd) != 0)
        rc = CM_ERROR;
    free(head);
    if (rc != CM_OK) {
        unlink(path);
        return rc;
    }
    pthread_mutex_lock(&p->mu);
    rc = ps_push(p, id, now, f.size);
    while (p->n > 1 && p->total > p->max_bytes)
        ps_drop_oldest(p);
    pthread_mutex_unlock(&p->mu);
    if (rc != CM_OK)
        unlink(path);
    return rc;
}

static struct ps_file *ps_find(struct cm_payloads *p, uint64_t id)
{
    struct ps_file key = {id, 0, 0};
    return p->n ? bsearch(&key, p->files, p->n, sizeof(*p->files), ps_cmp) : NULL;
}

static int ps_read(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    ssize_t r = 0;
    size_t got = 0;
    char *buf;

    if (fd < 0)
        return CM_ENOENT;
    if (fstat(fd, &sb) != 0 || !(buf = malloc((size_t)sb.st_size + 1))) {
        close(fd);
        return CM_ENOMEM;
    }
    while (got < (size_t)sb.st_size &&
           ((r = read(fd, buf + got, (size_t)sb.st_size - got)) > 0 || (r < 0 && errno == EINTR)))
        got += r > 0 ? (size_t)r : 0;
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return CM_OK;
}

int cm_payloads_get(struct cm_payloads *p, uint64_t id, long long now, json_t **headers,
                    char **body, size_t *len)
{
    char path[4200], *data = NULL, *nl;
    size_t n = 0;
    struct ps_file *f;
    int rc = CM_ENOENT;

    pthread_mutex_lock(&p->mu);
    if ((f = ps_find(p, id)) && now - f->at <= p->retention) {
        ps_name(p, f, path, sizeof(path));
        rc = CM_OK;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == CM_OK)
        rc = ps_read(path, &data, &n);
    if (rc != CM_OK)
        return rc;
    if (!(nl = memchr(data, '\n', n)) ||
        !(*headers = json_loadb(data, (size_t)(nl - data), 0, NULL))) {
        free(data);
        return CM_ENOENT; /* not one of ours, or cut short: nothing to show */
    }
    *len = n - (size_t)(nl + 1 - data);
    memmove(data, nl + 1, *len + 1);
    *body = data;
    return CM_OK;
}

void cm_payloads_expire(struct cm_payloads *p, long long now)
{
    pthread_mutex_lock(&p->mu);
    while (p->n && (now - p->files[0].at > p->retention || p->total > p->max_bytes))
        ps_drop_oldest(p);
    pthread_mutex_unlock(&p->mu);
}
