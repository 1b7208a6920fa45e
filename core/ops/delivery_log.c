/* SPDX-License-Identifier: MIT */
/*
 * The delivery log: records in a ring (oldest dropped past max_entries or max_age) and their
 * journal. Each change appends the record whole, written before the caller goes on (so a
 * killed process loses nothing) and fdatasync'd by a background thread every flush_ms (so a
 * 202 never waits for it: only a power loss can take the last flush_ms of changes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fdatasync */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "intake/event.h" /* cm_format_time */
#include "ops/delivery_log.h"
#include "ops/log.h"
#include "ops/payload_store.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define DL_COMPACT_MIN (1024 * 1024)

struct dl_rec {
    uint64_t id, queue_id, payload;
    long long at; /* when recorded, for max_age */
    json_t *doc;  /* owned */
};

struct cm_dlog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_on, stopping, flush_ms;
    struct dl_rec *recs; /* ring of cap, n from head, ascending id */
    size_t cap, head, n;
    uint64_t next_id;
    json_t *by_queue; /* "<queue id>" -> record id */
    struct cm_dlog_limits lim;
    struct cm_payloads *payloads; /* borrowed, may be NULL */
    char *path, *path_new;        /* owned; NULL in memory */
    char *dir;                    /* owned: the file's directory */
    int fd, dirty, torn, compacting;
    uint64_t file_bytes, compact_at;
    struct cm_buf pending; /* appended while a compaction writes the new file */
};

/* ---- records in memory ---- */

static struct dl_rec *dl_at(struct cm_dlog *dl, size_t i)
{
    return &dl->recs[(dl->head + i) % dl->cap];
}

static struct dl_rec *dl_find(struct cm_dlog *dl, uint64_t id)
{
    size_t lo = 0, hi = dl->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct dl_rec *r = dl_at(dl, mid);
        if (r->id == id)
            return r;
        if (r->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void dl_queue_key(uint64_t queue_id, char *key, size_t len)
{
    snprintf(key, len, "%" PRIu64, queue_id);
}

static void dl_drop_oldest(struct cm_dlog *dl)
{
    struct dl_rec *r = dl_at(dl, 0);
    char key[32];
    if (r->queue_id) {
        dl_queue_key(r->queue_id, key, sizeof(key));
        json_t *v = json_object_get(dl->by_queue, key);
        if (v && (uint64_t)json_integer_value(v) == r->id)
            json_object_del(dl->by_queue, key);
    }
    json_decref(r->doc);
    dl->head = (dl->head + 1) % dl->cap;
    dl->n--;
}

static int dl_push(struct cm_dlog *dl, const struct dl_rec *rec)
{
    char key[32];
    while (dl->n && dl->n >= dl->lim.max_entries)
        dl_drop_oldest(dl);
    if (dl->n == dl->cap) {
        size_t cap = dl->cap ? dl->cap * 2 : 256;
        struct dl_rec *a = malloc(cap * sizeof(*a));
        if (!a)
            return CM_ENOMEM;
        for (size_t i = 0; i < dl->n; i++)
            a[i] = *dl_at(dl, i);
        free(dl->recs);
        dl->recs = a;
        dl->cap = cap;
        dl->head = 0;
    }
    *dl_at(dl, dl->n++) = *rec;
    if (rec->queue_id) {
        dl_queue_key(rec->queue_id, key, sizeof(key));
        json_object_set_new(dl->by_queue, key, json_integer((json_int_t)rec->id));
    }
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

/* CRC-32 (IEEE), bitwise: records are short and written one at a time. */
static uint32_t dl_crc32(const char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
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

static int dl_frame_rec(struct cm_buf *b, const struct dl_rec *r)
{
    json_t *line = json_pack("{s:I, s:I, s:I, s:O}", "t", (json_int_t)r->at, "q",
                             (json_int_t)r->queue_id, "p", (json_int_t)r->payload, "d", r->doc);
    int rc = line ? dl_frame(b, line) : CM_ENOMEM;
    json_decref(line);
    return rc;
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
    if (dl->fd >= 0 && dl_frame_rec(&b, r) == CM_OK)
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
        rec = (struct dl_rec){(uint64_t)id, (uint64_t)q, (uint64_t)p, (long long)at,
                              json_incref(doc)};
        rc = CM_OK;
        if ((old = dl_find(dl, rec.id))) { /* a later state of a record */
            json_decref(old->doc);
            *old = rec;
        } else if (!dl->n || rec.id > dl_at(dl, dl->n - 1)->id) {
            if ((rc = dl_push(dl, &rec)) != CM_OK)
                json_decref(rec.doc);
        } else {
            json_decref(rec.doc); /* dropped already, and changed since: stays dropped */
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

static int dl_snapshot(struct cm_dlog *dl, struct cm_buf *b)
{
    json_t *head = json_pack("{s:I}", "next", (json_int_t)dl->next_id);
    int rc = head ? dl_frame(b, head) : CM_ENOMEM;
    json_decref(head);
    for (size_t i = 0; rc == CM_OK && i < dl->n; i++)
        rc = dl_frame_rec(b, dl_at(dl, i));
    return rc;
}

/* Rewrite the file from the records in memory. With the lock held, dropped while the new file
 * is written; what is appended meanwhile goes to the old file and to pending, which is copied
 * into the new one before the rename: a crash at any point finds one whole file. */
static void dl_compact(struct cm_dlog *dl)
{
    struct cm_buf snap = {0};
    int fd = -1, ok;

    if (dl_snapshot(dl, &snap) != CM_OK) {
        free(snap.p);
        return;
    }
    dl->compacting = 1;
    dl->pending.len = 0;
    pthread_mutex_unlock(&dl->mu);
    fd = open(dl->path_new, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0 && cm_fs_write_all(fd, snap.p, snap.len) == 0 && fdatasync(fd) == 0;
    pthread_mutex_lock(&dl->mu);
    dl->compacting = 0;
    ok = ok && cm_fs_write_all(fd, dl->pending.p ? dl->pending.p : "", dl->pending.len) == 0 &&
         rename(dl->path_new, dl->path) == 0;
    if (ok) {
        close(dl->fd);
        dl->fd = fd;
        dl->file_bytes = snap.len + dl->pending.len;
        dl->torn = 0;
        dl->dirty = 1; /* pending is not synced yet */
        dl->compact_at = snap.len * 4 > DL_COMPACT_MIN ? snap.len * 4 : DL_COMPACT_MIN;
    } else {
        if (fd >= 0)
            close(fd);
        unlink(dl->path_new);
        cm_log(CM_LOG_WARNING, "deliveries", "cannot compact %s: %s; trying again later", dl->path,
               strerror(errno));
        dl->compact_at = dl->file_bytes + DL_COMPACT_MIN;
    }
    free(snap.p);
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
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += dl->flush_ms / 1000;
        ts.tv_nsec += (long)(dl->flush_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
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
    if (!dl || !(dl->by_queue = json_object())) {
        free(dl);
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
    json_decref(dl->by_queue);
    free(dl->recs);
    free(dl->pending.p);
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

uint64_t cm_dlog_add(struct cm_dlog *dl, json_t *doc, uint64_t queue_id, long long now)
{
    struct dl_rec rec = {0, queue_id, 0, now, doc};
    uint64_t id = 0;

    if (!doc)
        return 0;
    pthread_mutex_lock(&dl->mu);
    rec.id = dl->next_id;
    json_object_set_new(doc, "record_id", json_integer((json_int_t)rec.id));
    if (dl_push(dl, &rec) == CM_OK) {
        id = rec.id;
        dl_journal(dl, &rec);
    } else {
        json_decref(doc);
    }
    pthread_mutex_unlock(&dl->mu);
    return id;
}

int cm_dlog_update(struct cm_dlog *dl, uint64_t queue_id, const char *state, json_t *error,
                   int attempt, long long now)
{
    char key[32], ts[32];
    struct dl_rec *r = NULL;
    json_t *v;

    dl_queue_key(queue_id, key, sizeof(key));
    pthread_mutex_lock(&dl->mu);
    if ((v = json_object_get(dl->by_queue, key)))
        r = dl_find(dl, (uint64_t)json_integer_value(v));
    if (r) {
        json_object_set_new(r->doc, "state", json_string(state));
        json_object_set_new(r->doc, "error", error ? error : json_null());
        error = NULL;
        if (attempt)
            json_object_set_new(
                r->doc, "attempts",
                json_integer(json_integer_value(json_object_get(r->doc, "attempts")) + 1));
        cm_format_time(now, ts, sizeof(ts));
        json_object_set_new(r->doc, "updated_at", json_string(ts));
        dl_journal(dl, r);
    }
    pthread_mutex_unlock(&dl->mu);
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

static int dl_field_is(const json_t *doc, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(doc, key));
    return !want || (v && !strcmp(v, want));
}

json_t *cm_dlog_list(struct cm_dlog *dl, uint64_t before, size_t limit, const char *endpoint,
                     const char *repository, const char *state, int *more)
{
    json_t *a = json_array();
    *more = 0;
    if (!a)
        return NULL;
    pthread_mutex_lock(&dl->mu);
    for (size_t k = dl->n; k-- > 0;) {
        struct dl_rec *r = dl_at(dl, k);
        if ((before && r->id >= before) || !dl_field_is(r->doc, "endpoint", endpoint) ||
            !dl_field_is(r->doc, "repository", repository) || !dl_field_is(r->doc, "state", state))
            continue;
        if (json_array_size(a) == limit) {
            *more = 1;
            break;
        }
        json_array_append_new(a, json_deep_copy(r->doc));
    }
    pthread_mutex_unlock(&dl->mu);
    return a;
}

json_t *cm_dlog_get(struct cm_dlog *dl, uint64_t record, uint64_t *payload)
{
    struct dl_rec *r;
    json_t *doc = NULL;
    pthread_mutex_lock(&dl->mu);
    if ((r = dl_find(dl, record))) {
        doc = json_deep_copy(r->doc);
        *payload = r->payload;
    }
    pthread_mutex_unlock(&dl->mu);
    return doc;
}
