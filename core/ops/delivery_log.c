/* SPDX-License-Identifier: MIT */
/*
 * The delivery log: records in a ring (oldest dropped past max_entries or max_age) and their
 * journal. Each change appends the record whole, written before the caller goes on (so a
 * killed process loses nothing) and fdatasync'd by a background thread every flush_ms (so a
 * 202 never waits for it: only a power loss can take the last flush_ms of changes). A record
 * is held as the values of its compact JSON text, its keys shared (dlog_text.h), and parsed
 * only when it is read or changed: as a jansson tree it took about 2 KiB, which at 20,000
 * records was most of the daemon's memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fdatasync */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cargoman/plugin.h"
#include "intake/event.h" /* cm_format_time */
#include "ops/delivery_log.h"
#include "ops/dlog_index.h"
#include "ops/dlog_text.h"
#include "ops/log.h"
#include "ops/payload_store.h"
#include "util/buf.h"
#include "util/deadline.h"
#include "util/fsutil.h"

#define DL_COMPACT_MIN (1024 * 1024)
#define DL_CHUNK (64 * 1024) /* bytes of records framed at a time when compacting */
/* Weak records (cm_dlog_add_weak) hold at most 1/DL_WEAK_SHARE of max_entries: a flood of
 * 401s can fill that part, never the records of the pushes the hosts sent. */
#define DL_WEAK_SHARE 4

struct dl_rec {
    uint64_t id, queue_id, payload;
    long long at; /* when recorded, for max_age */
    int weak;     /* a refusal anyone could cause: held to DL_WEAK_SHARE of the log */
    char *text;   /* owned: the document's values (dlog_text.h), or all of it when keys is NULL */
    const char *keys; /* the document's keys, interned in the log's names */
    /* What the filters compare, interned too (NULL: not a string). */
    const char *endpoint, *repository, *state;
};

struct cm_dlog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_on, stopping, flush_ms;
    struct dl_rec *recs; /* ring of cap, n from head, ascending id */
    size_t cap, head, n;
    size_t n_weak;                 /* weak records in the ring */
    unsigned long long unrecorded; /* weak records refused since the share filled */
    uint64_t next_id;
    struct cm_dlog_qmap by_queue; /* queue id -> record id */
    struct cm_dlog_names names;   /* the records' endpoints, repositories and states */
    struct cm_dlog_limits lim;
    struct cm_payloads *payloads; /* borrowed, may be NULL */
    char *path, *path_new;        /* owned; NULL in memory */
    char *dir;                    /* owned: the file's directory */
    int fd, dirty, torn, compacting;
    uint64_t file_bytes, compact_at;
    struct cm_buf pending;            /* appended while a compaction writes the new file */
    struct cm_buf keys, values, text; /* scratch, under the lock */
};

/* ---- records in memory ---- */

static struct dl_rec *dl_at(struct cm_dlog *dl, size_t i)
{
    return &dl->recs[(dl->head + i) % dl->cap];
}

/* The index of the first record whose id is id or above (n: none). */
static size_t dl_lower(struct cm_dlog *dl, uint64_t id)
{
    size_t lo = 0, hi = dl->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dl_at(dl, mid)->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct dl_rec *dl_find(struct cm_dlog *dl, uint64_t id)
{
    size_t i = dl_lower(dl, id);
    return i < dl->n && dl_at(dl, i)->id == id ? dl_at(dl, i) : NULL;
}

static void dl_rec_release(struct cm_dlog *dl, struct dl_rec *r)
{
    cm_dlog_name_unref(&dl->names, r->keys);
    cm_dlog_name_unref(&dl->names, r->endpoint);
    cm_dlog_name_unref(&dl->names, r->repository);
    cm_dlog_name_unref(&dl->names, r->state);
    free(r->text);
    r->text = NULL;
    r->keys = r->endpoint = r->repository = r->state = NULL;
}

/* The values of text, split off its keys into the scratch buffers; *keys NULL when text did
 * not split (then the values are all of it). The values' copy is the caller's. */
static char *dl_split(struct cm_dlog *dl, const char *text, const char **keys, int *oom)
{
    const char *values = text;
    size_t len;
    char *copy;

    dl->keys.len = dl->values.len = 0;
    *keys = NULL;
    switch (cm_dlog_text_split(text, &dl->keys, &dl->values)) {
    case CM_OK:
        if (!(*keys = cm_dlog_name_ref(&dl->names, dl->keys.p, oom)))
            return NULL;
        values = dl->values.p;
        break;
    case CM_ENOMEM: *oom = 1; return NULL;
    default: break;
    }
    len = strlen(values);
    if ((copy = malloc(len + 1)))
        memcpy(copy, values, len + 1);
    else
        *oom = 1;
    return copy;
}

/* r's whole text, in the text scratch buffer (NULL when out of memory). */
static const char *dl_rec_text(struct cm_dlog *dl, const struct dl_rec *r)
{
    dl->text.len = 0;
    if (!r->keys)
        return r->text;
    return cm_dlog_text_join(r->keys, r->text, &dl->text) == CM_OK ? dl->text.p : NULL;
}

/* Give r (its own fields released first) doc's text and names; doc stays the caller's. */
static int dl_rec_encode(struct cm_dlog *dl, struct dl_rec *r, const json_t *doc)
{
    int oom = 0;
    char *whole = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII), *text;
    const char *keys = NULL,
               *ep = cm_dlog_name_ref(&dl->names,
                                      json_string_value(json_object_get(doc, "endpoint")), &oom),
               *repo = cm_dlog_name_ref(
                   &dl->names, json_string_value(json_object_get(doc, "repository")), &oom),
               *state = cm_dlog_name_ref(&dl->names,
                                         json_string_value(json_object_get(doc, "state")), &oom);
    struct dl_rec fresh;

    text = whole ? dl_split(dl, whole, &keys, &oom) : NULL;
    free(whole);
    fresh = (struct dl_rec){.id = r->id,
                            .queue_id = r->queue_id,
                            .payload = r->payload,
                            .at = r->at,
                            .weak = r->weak,
                            .text = text,
                            .keys = keys,
                            .endpoint = ep,
                            .repository = repo,
                            .state = state};
    if (!text || oom) {
        dl_rec_release(dl, &fresh);
        return CM_ENOMEM;
    }
    dl_rec_release(dl, r);
    *r = fresh;
    return CM_OK;
}

/* The record's document, the caller's; NULL when out of memory. */
static json_t *dl_rec_doc(struct cm_dlog *dl, const struct dl_rec *r)
{
    const char *text = dl_rec_text(dl, r);
    return text ? json_loads(text, JSON_ALLOW_NUL, NULL) : NULL;
}

static void dl_drop_oldest(struct cm_dlog *dl)
{
    struct dl_rec *r = dl_at(dl, 0);
    dl->n_weak -= r->weak ? 1 : 0;
    cm_dlog_qmap_del(&dl->by_queue, r->queue_id, r->id);
    dl_rec_release(dl, r);
    dl->head = (dl->head + 1) % dl->cap;
    dl->n--;
}

static int dl_push(struct cm_dlog *dl, const struct dl_rec *rec)
{
    while (dl->n && dl->n >= dl->lim.max_entries)
        dl_drop_oldest(dl);
    if (dl->n == dl->cap) {
        size_t cap = dl->cap ? dl->cap * 2 : 256;
        /* Never past the bound: at 20,000 records a doubling would hold 12,768 slots idle. */
        if (cap > dl->lim.max_entries)
            cap = dl->lim.max_entries > dl->n ? dl->lim.max_entries : dl->n + 1;
        /* realloc, not a copy: a large ring is moved by remapping, never held twice. The ring
         * is full, so its first part runs from head to the old end: move it to the new end. */
        struct dl_rec *a = realloc(dl->recs, cap * sizeof(*a));
        size_t first = dl->cap - dl->head;
        if (!a)
            return CM_ENOMEM;
        if (dl->head)
            memmove(a + cap - first, a + dl->head, first * sizeof(*a));
        dl->recs = a;
        dl->head = dl->head ? cap - first : 0;
        dl->cap = cap;
    }
    if (rec->queue_id && cm_dlog_qmap_set(&dl->by_queue, rec->queue_id, rec->id) != CM_OK)
        return CM_ENOMEM;
    *dl_at(dl, dl->n++) = *rec;
    dl->n_weak += rec->weak ? 1 : 0;
    if (rec->id >= dl->next_id)
        dl->next_id = rec->id + 1;
    return CM_OK;
}

static void dl_expire(struct cm_dlog *dl, long long now)
{
    while (dl->n && now - dl_at(dl, 0)->at > dl->lim.max_age)
        dl_drop_oldest(dl);
}

/* ---- the journal ---- */

/* CRC-32 (IEEE 802.3, reflected, init and xorout 0xFFFFFFFF): zlib's crc32() is that very
 * CRC, table-driven, so logs written by the bitwise version this replaced still replay (the
 * test holds a line framed by it). Chained: pass the previous part's result as c (0 for the
 * first). Fed in pieces zlib's uInt length can hold. */
static uint32_t dl_crc32_update(uint32_t c, const char *p, size_t n)
{
    uLong crc = c;

    while (n) {
        uInt k = n > UINT_MAX ? UINT_MAX : (uInt)n;
        crc = crc32(crc, (const Bytef *)p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}

static uint32_t dl_crc32(const char *p, size_t n)
{
    return dl_crc32_update(0, p, n);
}

/* "<length> <crc32 hex> <json>\n": a torn or zero-filled tail does not check out on replay.
 * The JSON is {"t": recorded at, "q": queue id, "p": payload id, "d": the document}, or
 * {"next": id} heading a compacted file so no record id is handed out twice. */
static int dl_frame(struct cm_buf *b, json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    int rc = s ? cm_buf_printf(b, "%zu %08" PRIx32 " %s\n", strlen(s), dl_crc32(s, strlen(s)), s)
               : CM_ENOMEM;
    free(s);
    return rc;
}

/* The same line dl_frame would write for the record, put together around its text. */
static int dl_frame_rec(struct cm_dlog *dl, struct cm_buf *b, const struct dl_rec *r)
{
    char head[96];
    const char *text = dl_rec_text(dl, r);
    size_t len = text ? strlen(text) : 0;
    int n = snprintf(head, sizeof(head),
                     "{\"t\":%lld,\"q\":%" PRIu64 ",\"p\":%" PRIu64 "%s,\"d\":", r->at, r->queue_id,
                     r->payload, r->weak ? ",\"w\":1" : "");
    uint32_t crc = dl_crc32_update(dl_crc32(head, (size_t)n), text ? text : "", len);

    if (!text)
        return CM_ENOMEM;
    crc = dl_crc32_update(crc, "}", 1);
    return cm_buf_printf(b, "%zu %08" PRIx32 " %s%s}\n", (size_t)n + len + 1, crc, head, text);
}

/* Append b to the file (and to pending while a compaction runs). With the lock held. A
 * failed write leaves the next record on a line of its own, so only the partial one is lost. */
static void dl_write(struct cm_dlog *dl, const struct cm_buf *b)
{
    if (dl->fd < 0 || !b->len)
        return;
    if ((dl->torn && cm_fs_write_all(dl->fd, "\n", 1) != 0) ||
        cm_fs_write_all(dl->fd, b->p, b->len) != 0) {
        dl->torn = 1;
        return;
    }
    dl->file_bytes += b->len + (size_t)dl->torn;
    dl->torn = 0;
    dl->dirty = 1;
    if (dl->compacting)
        cm_buf_append(&dl->pending, b->p, b->len);
}

static void dl_journal(struct cm_dlog *dl, const struct dl_rec *r)
{
    struct cm_buf b = {0};
    if (dl->fd >= 0 && dl_frame_rec(dl, &b, r) == CM_OK)
        dl_write(dl, &b);
    free(b.p);
}

/* Apply one line that checked out; CM_EINVAL when it makes no sense. */
static int dl_replay_line(struct cm_dlog *dl, const char *s, size_t len)
{
    json_t *line = json_loadb(s, len, 0, NULL), *doc;
    json_int_t next = 0, id, at, q, p;
    struct dl_rec rec = {0}, *old;
    int rc = CM_EINVAL;

    if (!line)
        return CM_EINVAL;
    if (!json_unpack(line, "{s:I}", "next", &next)) {
        if (next > 0 && (uint64_t)next > dl->next_id)
            dl->next_id = (uint64_t)next;
        rc = CM_OK;
    } else if (!json_unpack(line, "{s:I, s:I, s:I, s:o}", "t", &at, "q", &q, "p", &p, "d", &doc) &&
               json_is_object(doc) &&
               (id = json_integer_value(json_object_get(doc, "record_id"))) > 0 && q >= 0 &&
               p >= 0) {
        rec = (struct dl_rec){.id = (uint64_t)id,
                              .queue_id = (uint64_t)q,
                              .payload = (uint64_t)p,
                              .at = at,
                              .weak = json_integer_value(json_object_get(line, "w")) == 1};
        if ((old = dl_find(dl, rec.id))) { /* a later state of a record */
            if ((rc = dl_rec_encode(dl, &rec, doc)) == CM_OK) {
                dl->n_weak = dl->n_weak - (old->weak ? 1 : 0) + (rec.weak ? 1 : 0);
                dl_rec_release(dl, old);
                *old = rec;
            }
        } else if (!dl->n || rec.id > dl_at(dl, dl->n - 1)->id) {
            if ((rc = dl_rec_encode(dl, &rec, doc)) == CM_OK && (rc = dl_push(dl, &rec)) != CM_OK)
                dl_rec_release(dl, &rec);
        } else {
            rc = CM_OK; /* dropped already, and changed since: stays dropped */
        }
    }
    json_decref(line);
    return rc;
}

static int dl_replay(struct cm_dlog *dl, char *data, size_t len, struct cm_dlog_report *rep)
{
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        char *line = data + pos, *nl = memchr(line, '\n', len - pos), *end;
        unsigned long long plen;
        lineno++;
        if (!nl) {
            rep->torn = 1;
            break;
        }
        pos = (size_t)(nl - data) + 1;
        errno = 0;
        plen = strtoull(line, &end, 10);
        int ok = !errno && end != line && *end == ' ' && nl - end > 10 && end[9] == ' ' &&
                 (size_t)(nl - (end + 10)) == plen &&
                 strtoul(end + 1, NULL, 16) == dl_crc32(end + 10, (size_t)plen);
        int rc = ok ? dl_replay_line(dl, end + 10, (size_t)plen) : CM_EINVAL;
        if (rc == CM_ENOMEM)
            return rc;
        if (rc != CM_OK && nl > line) { /* an empty line is the gap a failed write left */
            if (!rep->skipped++)
                rep->first_skipped = lineno;
        }
    }
    return CM_OK;
}

/* Read the file, replay it and cut a torn tail so the next record starts on its own line. */
static int dl_load(struct cm_dlog *dl, struct cm_dlog_report *rep, char *err, size_t errlen)
{
    struct stat sb;
    char *data = NULL;
    size_t got = 0;
    int rc = CM_OK;

    if (fstat(dl->fd, &sb) != 0 || !(data = malloc((size_t)sb.st_size + 1))) {
        snprintf(err, errlen, "cannot read %s: %s", dl->path, strerror(errno));
        return CM_ERROR;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = pread(dl->fd, data + got, (size_t)sb.st_size - got, (off_t)got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)r;
    }
    rc = dl_replay(dl, data, got, rep);
    if (rc == CM_OK && rep->torn) {
        char *last = got ? memrchr(data, '\n', got) : NULL;
        off_t keep = last ? (off_t)(last - data + 1) : 0;
        if (ftruncate(dl->fd, keep) != 0)
            dl->torn = 1; /* then the next record starts with a newline */
        got = (size_t)keep;
    }
    free(data);
    if (rc != CM_OK)
        snprintf(err, errlen, "out of memory replaying %s", dl->path);
    dl->file_bytes = got;
    return rc;
}

/* ---- compaction and the background thread ---- */

/* Frame the records from id *cursor up to (not with) end into b, stopping past DL_CHUNK bytes;
 * *cursor moves past the last one. With the lock held. */
static int dl_snapshot_chunk(struct cm_dlog *dl, struct cm_buf *b, uint64_t *cursor, uint64_t end)
{
    int rc = CM_OK;
    for (size_t i = dl_lower(dl, *cursor); rc == CM_OK && i < dl->n && b->len < DL_CHUNK; i++) {
        struct dl_rec *r = dl_at(dl, i);
        if (r->id >= end)
            break;
        rc = dl_frame_rec(dl, b, r);
        *cursor = r->id + 1;
    }
    return rc;
}

/* Write the records in memory to fd, a chunk at a time: the lock is held while a chunk is
 * framed, not while it is written, and the log is never copied whole (at 20,000 records that
 * copy was the daemon's peak memory). Records changed or added meanwhile also go to pending,
 * written after, so the last line of each is still its newest state; one dropped meanwhile
 * may be in a chunk, and replay drops it again by the same bounds. With the lock held. */
static int dl_write_snapshot(struct cm_dlog *dl, int fd, uint64_t *written)
{
    struct cm_buf chunk = {0};
    uint64_t cursor = 0, end = dl->next_id;
    json_t *head = json_pack("{s:I}", "next", (json_int_t)dl->next_id);
    int rc = head ? dl_frame(&chunk, head) : CM_ENOMEM;

    json_decref(head);
    while (rc == CM_OK && (rc = dl_snapshot_chunk(dl, &chunk, &cursor, end)) == CM_OK &&
           chunk.len) {
        pthread_mutex_unlock(&dl->mu);
        rc = cm_fs_write_all(fd, chunk.p, chunk.len) == 0 ? CM_OK : CM_ERROR;
        pthread_mutex_lock(&dl->mu);
        *written += chunk.len;
        chunk.len = 0;
    }
    free(chunk.p);
    return rc;
}

/* Rewrite the file from the records in memory. With the lock held, dropped while the new file
 * is written; what is appended meanwhile goes to the old file and to pending, which is copied
 * into the new one before the rename: a crash at any point finds one whole file. */
static void dl_compact(struct cm_dlog *dl)
{
    uint64_t snap = 0;
    int fd, ok;

    dl->compacting = 1;
    dl->pending.len = 0;
    pthread_mutex_unlock(&dl->mu);
    fd = open(dl->path_new, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pthread_mutex_lock(&dl->mu);
    ok = fd >= 0 && dl_write_snapshot(dl, fd, &snap) == CM_OK;
    pthread_mutex_unlock(&dl->mu);
    ok = ok && fdatasync(fd) == 0;
    pthread_mutex_lock(&dl->mu);
    dl->compacting = 0;
    ok = ok && cm_fs_write_all(fd, dl->pending.p ? dl->pending.p : "", dl->pending.len) == 0 &&
         rename(dl->path_new, dl->path) == 0;
    if (ok) {
        close(dl->fd);
        dl->fd = fd;
        dl->file_bytes = snap + dl->pending.len;
        dl->torn = 0;
        dl->dirty = 1; /* pending is not synced yet */
        dl->compact_at = snap * 4 > DL_COMPACT_MIN ? snap * 4 : DL_COMPACT_MIN;
    } else {
        if (fd >= 0)
            close(fd);
        unlink(dl->path_new);
        cm_log(CM_LOG_WARNING, "deliveries", "cannot compact %s: %s; trying again later", dl->path,
               strerror(errno));
        dl->compact_at = dl->file_bytes + DL_COMPACT_MIN;
    }
    /* Kept, it would hold what the busiest compaction saw appended for good. */
    free(dl->pending.p);
    memset(&dl->pending, 0, sizeof(dl->pending));
    if (ok) {
        pthread_mutex_unlock(&dl->mu);
        cm_fs_fsync_dir(dl->dir);
        pthread_mutex_lock(&dl->mu);
    }
}

static void *dl_thread(void *arg)
{
    struct cm_dlog *dl = arg;
    pthread_mutex_lock(&dl->mu);
    while (!dl->stopping) {
        struct timespec ts = cm_realtime_after_ms(dl->flush_ms);
        pthread_cond_timedwait(&dl->cv, &dl->mu, &ts);
        dl_expire(dl, (long long)time(NULL));
        if (dl->dirty) {
            int fd = dl->fd; /* only this thread replaces it */
            dl->dirty = 0;
            pthread_mutex_unlock(&dl->mu);
            if (fdatasync(fd) != 0)
                cm_log(CM_LOG_WARNING, "deliveries", "cannot sync %s: %s", dl->path,
                       strerror(errno));
            pthread_mutex_lock(&dl->mu);
        }
        if (dl->file_bytes > dl->compact_at)
            dl_compact(dl);
        if (dl->payloads) {
            pthread_mutex_unlock(&dl->mu);
            cm_payloads_expire(dl->payloads, (long long)time(NULL));
            pthread_mutex_lock(&dl->mu);
        }
    }
    pthread_mutex_unlock(&dl->mu);
    return NULL;
}

static int dl_open_file(struct cm_dlog *dl, const char *path, struct cm_dlog_report *rep, char *err,
                        size_t errlen)
{
    char *slash;
    size_t n = strlen(path) + 5;

    if (!(dl->path = strdup(path)) || !(dl->dir = strdup(path)) || !(dl->path_new = malloc(n))) {
        snprintf(err, errlen, "out of memory");
        return CM_ENOMEM;
    }
    snprintf(dl->path_new, n, "%s.new", path);
    if ((slash = strrchr(dl->dir, '/')))
        *slash = '\0';
    else
        snprintf(dl->dir, strlen(path) + 1, ".");
    if (cm_fs_mkdir_p(dl->dir) != 0 ||
        (dl->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return CM_ERROR;
    }
    unlink(dl->path_new); /* a compaction cut short */
    return dl_load(dl, rep, err, errlen);
}

int cm_dlog_open(struct cm_dlog **out, const char *path, const struct cm_dlog_limits *lim,
                 int flush_ms, struct cm_dlog_report *rep, char *err, size_t errlen)
{
    struct cm_dlog *dl = calloc(1, sizeof(*dl));
    struct cm_dlog_report ignored;
    int rc = CM_OK;

    if (!rep)
        rep = &ignored;
    memset(rep, 0, sizeof(*rep));
    if (!dl) {
        snprintf(err, errlen, "out of memory");
        return CM_ENOMEM;
    }
    pthread_mutex_init(&dl->mu, NULL);
    pthread_cond_init(&dl->cv, NULL);
    dl->fd = -1;
    dl->next_id = 1;
    dl->lim = *lim;
    dl->flush_ms = flush_ms > 0 ? flush_ms : 1000;
    if (path && (rc = dl_open_file(dl, path, rep, err, errlen)) == CM_OK) {
        dl_expire(dl, (long long)time(NULL));
        pthread_mutex_lock(&dl->mu);
        dl_compact(dl);
        pthread_mutex_unlock(
            &dl->mu); /* drops what replay dropped, and gives the file its "next" head */
        if (pthread_create(&dl->thread, NULL, dl_thread, dl) != 0) {
            snprintf(err, errlen, "cannot start the delivery log's thread");
            rc = CM_ERROR;
        } else {
            dl->thread_on = 1;
        }
    }
    rep->loaded = dl->n;
    if (rc != CM_OK) {
        cm_dlog_free(dl);
        return rc;
    }
    *out = dl;
    return CM_OK;
}

void cm_dlog_free(struct cm_dlog *dl)
{
    if (!dl)
        return;
    if (dl->thread_on) {
        pthread_mutex_lock(&dl->mu);
        dl->stopping = 1;
        pthread_cond_signal(&dl->cv);
        pthread_mutex_unlock(&dl->mu);
        pthread_join(dl->thread, NULL);
    }
    if (dl->fd >= 0) {
        fdatasync(dl->fd);
        close(dl->fd);
    }
    while (dl->n)
        dl_drop_oldest(dl);
    cm_dlog_qmap_free(&dl->by_queue);
    cm_dlog_names_free(&dl->names);
    free(dl->recs);
    free(dl->pending.p);
    free(dl->keys.p);
    free(dl->values.p);
    free(dl->text.p);
    free(dl->path);
    free(dl->path_new);
    free(dl->dir);
    pthread_cond_destroy(&dl->cv);
    pthread_mutex_destroy(&dl->mu);
    free(dl);
}

void cm_dlog_set_payloads(struct cm_dlog *dl, struct cm_payloads *p)
{
    pthread_mutex_lock(&dl->mu);
    dl->payloads = p;
    pthread_mutex_unlock(&dl->mu);
}

int cm_dlog_sync(struct cm_dlog *dl)
{
    int rc = CM_OK;
    pthread_mutex_lock(&dl->mu);
    if (dl->fd >= 0 && fdatasync(dl->fd) != 0)
        rc = CM_ERROR;
    pthread_mutex_unlock(&dl->mu);
    return rc;
}

/* ---- the API ---- */

/* The weak records' part of the log is full: the refusal is counted instead. With the lock
 * held; *first says it is the first of a spell, for the caller's log line. */
static int dl_weak_full(struct cm_dlog *dl, int *first)
{
    size_t share = dl->lim.max_entries / DL_WEAK_SHARE;

    if (dl->n_weak < (share ? share : 1))
        return 0;
    *first = !dl->unrecorded++;
    return 1;
}

static uint64_t dl_add(struct cm_dlog *dl, json_t *doc, uint64_t queue_id, long long now, int weak)
{
    struct dl_rec rec = {.queue_id = queue_id, .at = now, .weak = weak};
    unsigned long long resumed = 0;
    uint64_t id = 0;
    int first = 0;

    if (!doc)
        return 0;
    pthread_mutex_lock(&dl->mu);
    if (weak && dl_weak_full(dl, &first)) {
        pthread_mutex_unlock(&dl->mu);
        json_decref(doc);
        if (first)
            cm_log(CM_LOG_WARNING, "deliveries",
                   "refusals nobody vouches for (bad signature, allow_from, unknown endpoint, "
                   "size, ignored events) fill their quarter of the delivery log (%zu of "
                   "server.delivery_log_max_entries = %zu): more are logged but not recorded "
                   "until older records leave it",
                   dl->lim.max_entries / DL_WEAK_SHARE, dl->lim.max_entries);
        return 0;
    }
    if (weak && dl->unrecorded) {
        resumed = dl->unrecorded;
        dl->unrecorded = 0;
    }
    rec.id = dl->next_id;
    if (json_object_set_new(doc, "record_id", json_integer((json_int_t)rec.id)) == 0 &&
        dl_rec_encode(dl, &rec, doc) == CM_OK) {
        if (dl_push(dl, &rec) == CM_OK) {
            id = rec.id;
            dl_journal(dl, &rec);
        } else {
            dl_rec_release(dl, &rec);
        }
    }
    pthread_mutex_unlock(&dl->mu);
    json_decref(doc);
    if (resumed)
        cm_log(CM_LOG_INFO, "deliveries",
               "recording refusals again: %llu were logged but not recorded meanwhile", resumed);
    return id;
}

uint64_t cm_dlog_add(struct cm_dlog *dl, json_t *doc, uint64_t queue_id, long long now)
{
    return dl_add(dl, doc, queue_id, now, 0);
}

uint64_t cm_dlog_add_weak(struct cm_dlog *dl, json_t *doc, long long now)
{
    return dl_add(dl, doc, 0, now, 1);
}

int cm_dlog_update(struct cm_dlog *dl, uint64_t queue_id, const char *state, json_t *error,
                   int attempt, long long now)
{
    char ts[32];
    struct dl_rec *r = NULL;
    json_t *doc = NULL;
    uint64_t id;

    pthread_mutex_lock(&dl->mu);
    if ((id = cm_dlog_qmap_get(&dl->by_queue, queue_id)))
        r = dl_find(dl, id);
    if (r && (doc = dl_rec_doc(dl, r))) {
        json_object_set_new(doc, "state", json_string(state));
        json_object_set_new(doc, "error", error ? error : json_null());
        error = NULL;
        if (attempt)
            json_object_set_new(
                doc, "attempts",
                json_integer(json_integer_value(json_object_get(doc, "attempts")) + 1));
        cm_format_time(now, ts, sizeof(ts));
        json_object_set_new(doc, "updated_at", json_string(ts));
        if (dl_rec_encode(dl, r, doc) == CM_OK)
            dl_journal(dl, r);
    }
    pthread_mutex_unlock(&dl->mu);
    json_decref(doc);
    json_decref(error);
    return r != NULL;
}

void cm_dlog_set_payload(struct cm_dlog *dl, uint64_t record, uint64_t payload)
{
    struct dl_rec *r;
    pthread_mutex_lock(&dl->mu);
    if ((r = dl_find(dl, record))) {
        r->payload = payload;
        dl_journal(dl, r);
    }
    pthread_mutex_unlock(&dl->mu);
}

/* A filter on a name: want NULL matches all; a name no record holds matches none. */
static int dl_filter(const struct cm_dlog *dl, const char *want, const char **out)
{
    *out = want ? cm_dlog_name_find(&dl->names, want) : NULL;
    return !want || *out;
}

json_t *cm_dlog_list(struct cm_dlog *dl, uint64_t before, size_t limit, const char *endpoint,
                     const char *repository, const char *state, int *more)
{
    json_t *a = json_array();
    const char *ep, *repo, *st;
    *more = 0;
    if (!a)
        return NULL;
    pthread_mutex_lock(&dl->mu);
    if (!dl_filter(dl, endpoint, &ep) || !dl_filter(dl, repository, &repo) ||
        !dl_filter(dl, state, &st))
        goto out;
    for (size_t k = dl->n; k-- > 0;) {
        struct dl_rec *r = dl_at(dl, k);
        if ((before && r->id >= before) || (ep && r->endpoint != ep) ||
            (repo && r->repository != repo) || (st && r->state != st))
            continue;
        if (json_array_size(a) == limit) {
            *more = 1;
            break;
        }
        json_array_append_new(a, dl_rec_doc(dl, r));
    }
out:
    pthread_mutex_unlock(&dl->mu);
    return a;
}

json_t *cm_dlog_get(struct cm_dlog *dl, uint64_t record, uint64_t *payload)
{
    struct dl_rec *r;
    json_t *doc = NULL;
    pthread_mutex_lock(&dl->mu);
    if ((r = dl_find(dl, record))) {
        doc = dl_rec_doc(dl, r);
        *payload = r->payload;
    }
    pthread_mutex_unlock(&dl->mu);
    return doc;
}
