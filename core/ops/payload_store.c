/* SPDX-License-Identifier: MIT */
/*
 * The raw payloads behind the delivery log, appended to segment files ("seg-<n>") that are
 * dropped whole, oldest first. A file per delivery cost an inode created and, once the store
 * was full, one unlinked per request: at intake rates that was most of the gateway's CPU.
 * Each record is a line "<id> <received> <length>" and then length bytes: one JSON line of
 * the headers kept, then the body as received. Files "<id>-<received>" (one payload each, no
 * record line) from before segments are still read, and dropped like segments.
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
#include <sys/uio.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "ops/payload_store.h"
#include "util/fsutil.h"

/* A segment is closed once it holds this much (or a sixteenth of max_bytes, if less), so the
 * total bound is kept to within one segment and a drop unlinks one file per many payloads. */
#define PS_SEG_MAX (8LL * 1024 * 1024)

struct ps_seg {
    unsigned long long no; /* seg-<no>; for a file of one payload, its id */
    long long at;          /* when its newest payload was received */
    long long bytes;       /* its size on disk */
    int single;            /* a "<id>-<received>" file from before segments */
};

struct ps_file {
    uint64_t id;
    long long at;
    unsigned long long seg; /* its segment's no */
    int single;             /* in a "<id>-<received>" file */
    off_t off;              /* where its headers line starts */
    size_t len;             /* headers line, newline and body */
};

struct cm_payloads {
    pthread_mutex_t mu;
    char *dir;             /* owned */
    struct ps_file *files; /* owned; ascending id */
    size_t n, cap;
    struct ps_seg *segs; /* owned; oldest first, the last one open for appends when fd >= 0 */
    size_t n_segs, cap_segs;
    int fd; /* the open segment's, or -1 */
    long long total, retention, max_bytes, seg_max;
    /* Everything received before it has expired under the retention of its time, whether or
     * not its segment is gone yet (a segment goes when its newest payload expires): kept in
     * PS_FLOOR_FILE, so a restart with a longer payload_retention does not bring back payloads
     * that had expired. floor_saved: what the file holds. */
    long long floor, floor_saved;
};

int cm_payloads_header_kept(const char *name)
{
    static const char *const words[] = {"token", "secret", "password", "auth", "cookie"};
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        if (strcasestr(name, words[i]))
            return 0;
    return 1;
}

static void ps_seg_name(const struct cm_payloads *p, const struct ps_seg *s, char *out, size_t len)
{
    if (s->single)
        snprintf(out, len, "%s/%llu-%lld", p->dir, s->no, s->at);
    else
        snprintf(out, len, "%s/seg-%llu", p->dir, s->no);
}

static int ps_file_cmp(const void *a, const void *b)
{
    const struct ps_file *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Files of one payload first (they are older than any segment), then segments in order. */
static int ps_seg_cmp(const void *a, const void *b)
{
    const struct ps_seg *x = a, *y = b;
    if (x->single != y->single)
        return x->single ? -1 : 1;
    return x->no < y->no ? -1 : x->no > y->no;
}

static int ps_grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return CM_OK;
    size_t c = *cap ? *cap * 2 : 64;
    void *a = realloc(*arr, c * size);
    if (!a)
        return CM_ENOMEM;
    *arr = a;
    *cap = c;
    return CM_OK;
}

/* Index f, keeping ids ascending: puts from several threads may arrive slightly out of order. */
static int ps_add_file(struct cm_payloads *p, const struct ps_file *f)
{
    size_t i = p->n;
    if (ps_grow((void **)&p->files, &p->cap, p->n, sizeof(*p->files)) != CM_OK)
        return CM_ENOMEM;
    while (i > 0 && p->files[i - 1].id > f->id)
        i--;
    memmove(p->files + i + 1, p->files + i, (p->n - i) * sizeof(*p->files));
    p->files[i] = *f;
    p->n++;
    return CM_OK;
}

static int ps_add_seg(struct cm_payloads *p, const struct ps_seg *s)
{
    if (ps_grow((void **)&p->segs, &p->cap_segs, p->n_segs, sizeof(*p->segs)) != CM_OK)
        return CM_ENOMEM;
    p->segs[p->n_segs++] = *s;
    p->total += s->bytes;
    return CM_OK;
}

/* Drop the oldest segment and the payloads in it. With the lock held. */
static void ps_drop_oldest(struct cm_payloads *p)
{
    struct ps_seg s = p->segs[0];
    char path[4200];
    size_t k = 0;

    if (p->n_segs == 1 && p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    ps_seg_name(p, &s, path, sizeof(path));
    unlink(path);
    p->total -= s.bytes;
    memmove(p->segs, p->segs + 1, (p->n_segs - 1) * sizeof(*p->segs));
    p->n_segs--;
    for (size_t i = 0; i < p->n; i++)
        if (p->files[i].seg != s.no || p->files[i].single != s.single)
            p->files[k++] = p->files[i];
    p->n = k;
}

/* Index the records of segment s, open as fd, up to the first that is cut short or does not
 * read (a crash while it was written: the rest of that segment is lost, nothing else). */
static int ps_scan_seg(struct cm_payloads *p, int fd, struct ps_seg *s)
{
    off_t off = 0;
    char line[96];
    ssize_t got;

    while (off < s->bytes && (got = pread(fd, line, sizeof(line) - 1, off)) > 0) {
        unsigned long long id, len;
        long long at;
        char *nl = memchr(line, '\n', (size_t)got);
        off_t used;
        if (!nl)
            break;
        *nl = '\0';
        used = nl + 1 - line;
        if (sscanf(line, "%llu %lld %llu", &id, &at, &len) != 3 ||
            (unsigned long long)(s->bytes - off - used) < len)
            break;
        struct ps_file f = {(uint64_t)id, at, s->no, 0, off + used, (size_t)len};
        if (ps_add_file(p, &f) != CM_OK)
            return CM_ENOMEM;
        if (at > s->at)
            s->at = at;
        off += used + (off_t)len;
    }
    return CM_OK;
}

static int ps_index_entry(struct cm_payloads *p, int dirfd, const char *name)
{
    unsigned long long no;
    long long at;
    char tail;
    struct stat sb;
    struct ps_seg s = {0};
    int rc = CM_OK, fd;

    if (sscanf(name, "%llu-%lld%c", &no, &at, &tail) == 2) {
        if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            return CM_OK;
        s = (struct ps_seg){no, at, (long long)sb.st_size, 1};
        struct ps_file f = {(uint64_t)no, at, no, 1, 0, (size_t)sb.st_size};
        rc = ps_add_file(p, &f);
    } else if (sscanf(name, "seg-%llu%c", &no, &tail) == 1) {
        if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
            return CM_OK;
        if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
            s = (struct ps_seg){no, 0, (long long)sb.st_size, 0};
            rc = ps_scan_seg(p, fd, &s);
        }
        close(fd);
        if (!s.bytes)
            return rc;
    } else {
        return CM_OK;
    }
    return rc == CM_OK ? ps_add_seg(p, &s) : rc;
}

static int ps_index(struct cm_payloads *p)
{
    DIR *d = opendir(p->dir);
    struct dirent *e;
    int rc = CM_OK;
    if (!d)
        return CM_ERROR;
    while (rc == CM_OK && (e = readdir(d)))
        rc = ps_index_entry(p, dirfd(d), e->d_name);
    closedir(d);
    if (p->n_segs)
        qsort(p->segs, p->n_segs, sizeof(*p->segs), ps_seg_cmp);
    return rc;
}

#define PS_FLOOR_FILE "expired-before"
/* The floor is written when it moved this far (seconds), and when the store is freed: a crash
 * forgets at most this much of it. */
#define PS_FLOOR_EVERY 60

static void ps_floor_load(struct cm_payloads *p)
{
    char path[4200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/" PS_FLOOR_FILE, p->dir);
    if ((f = fopen(path, "r")) != NULL) {
        if (fscanf(f, "%lld", &p->floor) != 1 || p->floor < 0)
            p->floor = 0;
        fclose(f);
    }
    p->floor_saved = p->floor;
}

/* Best effort, in one step (cm_fs_write_atomic): a failed write leaves the old floor. */
static void ps_floor_save(struct cm_payloads *p)
{
    char path[4200], text[32];
    int len;

    if (p->floor == p->floor_saved)
        return;
    snprintf(path, sizeof(path), "%s/" PS_FLOOR_FILE, p->dir);
    len = snprintf(text, sizeof(text), "%lld\n", p->floor);
    if (cm_fs_write_atomic(path, text, (size_t)len, 0600) == 0)
        p->floor_saved = p->floor;
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
    p->fd = -1;
    p->retention = retention;
    p->max_bytes = max_bytes;
    p->seg_max = max_bytes / 16 < PS_SEG_MAX ? max_bytes / 16 : PS_SEG_MAX;
    if (cm_fs_mkdir_p(dir) != 0)
        rc = CM_ERROR;
    else
        rc = ps_index(p);
    if (rc == CM_OK)
        ps_floor_load(p);
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
    ps_floor_save(p);
    if (p->fd >= 0)
        close(p->fd);
    pthread_mutex_destroy(&p->mu);
    free(p->files);
    free(p->segs);
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

/* The segment to append to: the open one until it is full, else a new one after the last.
 * With the lock held. */
static int ps_open_seg(struct cm_payloads *p, long long now)
{
    struct ps_seg s = {1, now, 0, 0};
    char path[4200];

    if (p->fd >= 0 && p->segs[p->n_segs - 1].bytes < p->seg_max)
        return CM_OK;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    for (size_t i = 0; i < p->n_segs; i++)
        if (!p->segs[i].single && p->segs[i].no >= s.no)
            s.no = p->segs[i].no + 1;
    ps_seg_name(p, &s, path, sizeof(path));
    if (ps_add_seg(p, &s) != CM_OK)
        return CM_ENOMEM;
    p->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (p->fd < 0) {
        p->n_segs--;
        return CM_ERROR;
    }
    return CM_OK;
}

/* Append one record to the open segment. With the lock held. A write that fails closes the
 * segment, so no record follows a partial one. */
static int ps_append(struct cm_payloads *p, struct ps_file *f, const char *head, const void *body,
                     size_t len)
{
    struct ps_seg *s = &p->segs[p->n_segs - 1];
    char line[96];
    int n = snprintf(line, sizeof(line), "%" PRIu64 " %lld %zu\n", f->id, f->at, f->len);
    struct iovec iov[4] = {
        {line, (size_t)n}, {(void *)head, strlen(head)}, {"\n", 1}, {(void *)body, len}};
    size_t want = (size_t)n + f->len, done = 0;
    ssize_t w;

    while (done < want) {
        w = writev(p->fd, iov, 4);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0 || (done += (size_t)w) < want) {
            /* Count what reached the file; a short write is not resumed mid-record. */
            s->bytes += done;
            p->total += (long long)done;
            close(p->fd);
            p->fd = -1;
            return CM_ERROR;
        }
    }
    f->seg = s->no;
    f->off = (off_t)s->bytes + n;
    s->bytes += (long long)want;
    s->at = f->at;
    p->total += (long long)want;
    return CM_OK;
}

int cm_payloads_put(struct cm_payloads *p, uint64_t id, long long now, const char *const *names,
                    const char *const *values, size_t n_headers, const void *body, size_t len)
{
    char *head = ps_headers_line(names, values, n_headers);
    struct ps_file f = {id, now, 0, 0, 0, 0};
    int rc;

    if (!head)
        return CM_ENOMEM;
    f.len = strlen(head) + 1 + len;
    if ((long long)f.len > p->max_bytes) {
        free(head);
        return CM_EINVAL;
    }
    pthread_mutex_lock(&p->mu);
    rc = ps_open_seg(p, now);
    if (rc == CM_OK)
        rc = ps_append(p, &f, head, body, len);
    if (rc == CM_OK)
        rc = ps_add_file(p, &f);
    while (p->n_segs > 1 && p->total > p->max_bytes)
        ps_drop_oldest(p);
    pthread_mutex_unlock(&p->mu);
    free(head);
    return rc;
}

static struct ps_file *ps_find(struct cm_payloads *p, uint64_t id)
{
    struct ps_file key = {.id = id};
    return p->n ? bsearch(&key, p->files, p->n, sizeof(*p->files), ps_file_cmp) : NULL;
}

/* len bytes at off of path, NUL added. */
static int ps_read(const char *path, off_t off, size_t len, char **data)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t got = 0;
    ssize_t r;
    char *buf;

    if (fd < 0)
        return CM_ENOENT; /* dropped since it was looked up */
    if (!(buf = malloc(len + 1))) {
        close(fd);
        return CM_ENOMEM;
    }
    while (got < len && ((r = pread(fd, buf + got, len - got, off + (off_t)got)) > 0 ||
                         (r < 0 && errno == EINTR)))
        got += r > 0 ? (size_t)r : 0;
    close(fd);
    if (got < len) {
        free(buf);
        return CM_ENOENT;
    }
    buf[got] = '\0';
    *data = buf;
    return CM_OK;
}

int cm_payloads_get(struct cm_payloads *p, uint64_t id, long long now, json_t **headers,
                    char **body, size_t *len)
{
    char path[4200], *data = NULL, *nl;
    struct ps_file *f, found = {0};
    int rc = CM_ENOENT;

    pthread_mutex_lock(&p->mu);
    if ((f = ps_find(p, id)) && now - f->at <= p->retention && f->at >= p->floor) {
        struct ps_seg s = {f->seg, f->at, 0, f->single};
        ps_seg_name(p, &s, path, sizeof(path));
        found = *f;
        rc = CM_OK;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == CM_OK)
        rc = ps_read(path, found.off, found.len, &data);
    if (rc != CM_OK)
        return rc;
    if (!(nl = memchr(data, '\n', found.len)) ||
        !(*headers = json_loadb(data, (size_t)(nl - data), 0, NULL))) {
        free(data);
        return CM_ENOENT; /* not one of ours, or cut short: nothing to show */
    }
    *len = found.len - (size_t)(nl + 1 - data);
    memmove(data, nl + 1, *len + 1);
    *body = data;
    return CM_OK;
}

void cm_payloads_expire(struct cm_payloads *p, long long now)
{
    pthread_mutex_lock(&p->mu);
    while (p->n_segs && (now - p->segs[0].at > p->retention || p->total > p->max_bytes))
        ps_drop_oldest(p);
    if (now - p->retention > p->floor)
        p->floor = now - p->retention;
    if (p->floor - p->floor_saved >= PS_FLOOR_EVERY || p->retention < PS_FLOOR_EVERY)
        ps_floor_save(p);
    pthread_mutex_unlock(&p->mu);
}
