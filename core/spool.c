/* SPDX-License-Identifier: MIT */
/*
 * The local spool, the embedded queue backend: an append-only journal under data_dir/spool
 * with group commit (one fdatasync per batch of concurrent writers), replayed and rewritten
 * on open, compacted as it grows; in memory, pending entries per repository for claim().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fdatasync, flock, O_DIRECTORY */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "queue.h"

/* --- small tools: buffers, lists, hash tables, CRC, encodings ----------------------- */

#define SU_CONTAINER(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

struct su_buf {
    char *p; /* NUL-terminated when len > 0, owned */
    size_t len, cap;
};

static int su_buf_reserve(struct su_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return CM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return CM_ENOMEM;
    b->p = p;
    b->cap = cap;
    return CM_OK;
}

static int su_buf_append(struct su_buf *b, const char *s, size_t n)
{
    if (su_buf_reserve(b, n) != CM_OK)
        return CM_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return CM_OK;
}

static int su_buf_vprintf(struct su_buf *b, const char *fmt, va_list ap) CM_PRINTF(2, 0);
static int su_buf_vprintf(struct su_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CM_ERROR;
    if (su_buf_reserve(b, (size_t)n) != CM_OK)
        return CM_ENOMEM;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CM_OK;
}

static int su_buf_printf(struct su_buf *b, const char *fmt, ...) CM_PRINTF(2, 3);
static int su_buf_printf(struct su_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = su_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Circular doubly linked lists with a sentinel. */
struct su_link {
    struct su_link *prev, *next;
};

static void su_list_init(struct su_link *h)
{
    h->prev = h->next = h;
}

static int su_list_empty(const struct su_link *h)
{
    return h->next == h;
}

static void su_list_add_tail(struct su_link *h, struct su_link *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static void su_list_del(struct su_link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Move every element of src to the end (or the front) of dst; src ends empty. */
static void su_list_splice(struct su_link *dst, struct su_link *src, int front)
{
    if (su_list_empty(src))
        return;
    struct su_link *first = src->next, *last = src->prev;
    struct su_link *before = front ? dst : dst->prev, *after = before->next;
    before->next = first;
    first->prev = before;
    last->next = after;
    after->prev = last;
    su_list_init(src);
}

static void su_list_splice_tail(struct su_link *dst, struct su_link *src)
{
    su_list_splice(dst, src, 0);
}

/* Intrusive chained hash table; never empty after su_ht_init, so adding cannot fail. */
struct su_hnode {
    struct su_hnode *next;
    uint64_t h;
};

struct su_htab {
    struct su_hnode **b;
    size_t nb, n;
};

static int su_ht_grow(struct su_htab *t, size_t nb)
{
    struct su_hnode **b = calloc(nb, sizeof(*b));
    if (!b)
        return CM_ENOMEM;
    for (size_t i = 0; i < t->nb; i++)
        for (struct su_hnode *n = t->b[i], *nx; n; n = nx) {
            nx = n->next;
            n->next = b[n->h & (nb - 1)];
            b[n->h & (nb - 1)] = n;
        }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return CM_OK;
}

static int su_ht_init(struct su_htab *t)
{
    return su_ht_grow(t, 64);
}

static int su_ht_add(struct su_htab *t, struct su_hnode *n, uint64_t h)
{
    if (t->n >= t->nb)
        su_ht_grow(t, t->nb * 2); /* a full table only gets slower */
    n->h = h;
    n->next = t->b[h & (t->nb - 1)];
    t->b[h & (t->nb - 1)] = n;
    t->n++;
    return CM_OK;
}

static struct su_hnode *su_ht_next(struct su_hnode *n, uint64_t h)
{
    while (n && n->h != h)
        n = n->next;
    return n;
}

static struct su_hnode *su_ht_first(const struct su_htab *t, uint64_t h)
{
    return su_ht_next(t->b[h & (t->nb - 1)], h);
}

static void su_ht_del(struct su_htab *t, struct su_hnode *n)
{
    struct su_hnode **pp = &t->b[n->h & (t->nb - 1)];
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    t->n--;
}

static uint64_t su_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static uint64_t su_hash_u64(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    return v ^ (v >> 33);
}

static uint32_t su_crc_table[256];
static pthread_once_t su_crc_once = PTHREAD_ONCE_INIT;

static void su_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        su_crc_table[i] = c;
    }
}

static uint32_t su_crc32(const char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    pthread_once(&su_crc_once, su_crc_init);
    for (size_t i = 0; i < n; i++)
        c = su_crc_table[(c ^ (unsigned char)p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* A journal field: NULL and "" become "-", other bytes that would split a field are %XX. */
static char *su_encode(const char *s)
{
    if (!s || !*s)
        return strdup("-");
    char *o = malloc(strlen(s) * 3 + 1), *p = o;
    if (!o)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= ' ' || *c >= 0x7f || *c == '%' || (*c == '-' && c == (const unsigned char *)s))
            p += snprintf(p, 4, "%%%02X", *c);
        else
            *p++ = (char)*c;
    }
    *p = '\0';
    return o;
}

static int su_hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Undo su_encode in place; NULL for "-". */
static char *su_decode(char *s)
{
    char *o = s;
    if (!strcmp(s, "-"))
        return NULL;
    for (char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = su_hexval(p[1])) >= 0 && (lo = su_hexval(p[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return s;
}

static int su_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return CM_EAGAIN;
        p += w;
        n -= (size_t)w;
    }
    return CM_OK;
}

/* Rewrite the journal once it is this big and four times its size after the last rewrite. */
#define SP_COMPACT_MIN (1u << 20)
/* Delivery ids remembered at most, whatever their age. */
#define SP_DEDUPE_MAX 100000

/* One accepted event. */
struct sp_entry {
    struct su_link link;   /* repo's pending or claimed list, or a batch's new entries */
    struct su_hnode by_id; /* sp->ids, once durable */
    struct sp_repo *repo;  /* borrowed */
    uint64_t id;
    long long accepted_at, not_before;
    int attempts;
    char *error; /* of the last attempt, or NULL; owned */
    char *json;  /* the event's JSON form, owned */
    char *dkey;  /* dedupe key while its batch is being written, owned */
};

/* The entries of one repository: at most one job (the claimed list) at a time. */
struct sp_repo {
    struct su_hnode node;
    struct su_link ready; /* in sp->ready: has pending entries and nobody holds it */
    struct su_link pending, claimed;
    size_t n_pending, n_inflight;
    int held, in_ready;
    long long not_before;
    char key[];
};

/* A remembered delivery id; batch is the journal batch that stores it (0: durable at open). */
struct sp_dkey {
    struct su_hnode node;
    struct su_link fifo;
    long long at;
    uint64_t batch;
    char key[];
};

/* A caller waiting for its records to be durable. */
struct sp_ticket {
    struct sp_ticket *next;
    int rc, done;
};

struct sp_batch {
    uint64_t no;
    struct su_buf buf;
    struct su_link entries;
    struct sp_ticket *tickets;
};

struct sp_spool {
    struct cm_queue q; /* first, so the ops find the spool */
    pthread_mutex_t mu;
    pthread_cond_t commit_cv, claim_cv;
    char *journal, *journal_new, *failed_log; /* paths, owned */
    int dir_fd, fd, failed_fd;
    long long max_age;
    struct su_htab repos, ids, dkeys;
    struct su_link ready, fifo;
    size_t depth;
    uint64_t next_id, done_no;
    struct sp_batch open; /* filled by callers, written by the next leader */
    int committing, closing;
    int torn; /* a failed batch may have left a partial line (leader only) */
    uint64_t compact_at;
    struct cm_spool_stats stats;
};

static struct sp_spool *sp_of(struct cm_queue *q)
{
    return (struct sp_spool *)q;
}

/* --- memory state --------------------------------------------------------------------- */

static void sp_entry_free(struct sp_entry *e)
{
    if (!e)
        return;
    free(e->error);
    free(e->json);
    free(e->dkey);
    free(e);
}

static struct sp_repo *sp_repo_find(struct sp_spool *sp, const char *key)
{
    uint64_t h = su_hash_str(key);
    for (struct su_hnode *n = su_ht_first(&sp->repos, h); n; n = su_ht_next(n, h)) {
        struct sp_repo *r = SU_CONTAINER(n, struct sp_repo, node);
        if (!strcmp(r->key, key))
            return r;
    }
    return NULL;
}

static struct sp_repo *sp_repo_get(struct sp_spool *sp, const char *key)
{
    struct sp_repo *r = sp_repo_find(sp, key);
    size_t len = strlen(key);

    if (r)
        return r;
    if (!(r = calloc(1, sizeof(*r) + len + 1)))
        return NULL;
    memcpy(r->key, key, len + 1);
    su_list_init(&r->pending);
    su_list_init(&r->claimed);
    if (su_ht_add(&sp->repos, &r->node, su_hash_str(key)) != CM_OK) {
        free(r);
        return NULL;
    }
    return r;
}

/* Put r where claim() looks, or free it when nothing refers to it any more. */
static void sp_repo_settle(struct sp_spool *sp, struct sp_repo *r)
{
    int want = r->n_pending && !r->held;

    if (want && !r->in_ready)
        su_list_add_tail(&sp->ready, &r->ready);
    else if (!want && r->in_ready)
        su_list_del(&r->ready);
    r->in_ready = want;
    if (!r->n_pending && !r->held && !r->n_inflight) {
        su_ht_del(&sp->repos, &r->node);
        free(r);
    }
}

static void sp_publish(struct sp_spool *sp, struct sp_entry *e)
{
    free(e->dkey);
    e->dkey = NULL;
    su_ht_add(&sp->ids, &e->by_id, su_hash_u64(e->id)); /* cannot fail: tables never empty */
    su_list_add_tail(&e->repo->pending, &e->link);
    e->repo->n_pending++;
    sp->depth++;
    if (e->id >= sp->next_id)
        sp->next_id = e->id + 1;
}

static struct sp_entry *sp_entry_find(struct sp_spool *sp, uint64_t id)
{
    uint64_t h = su_hash_u64(id);
    for (struct su_hnode *n = su_ht_first(&sp->ids, h); n; n = su_ht_next(n, h)) {
        struct sp_entry *e = SU_CONTAINER(n, struct sp_entry, by_id);
        if (e->id == id)
            return e;
    }
    return NULL;
}

/* Drop a durable entry: done, given up, or replayed as such. */
static void sp_entry_drop(struct sp_spool *sp, struct sp_entry *e, int was_pending)
{
    su_list_del(&e->link);
    su_ht_del(&sp->ids, &e->by_id);
    if (was_pending)
        e->repo->n_pending--;
    sp->depth--;
    sp_entry_free(e);
}

static struct sp_dkey *sp_dkey_find(struct sp_spool *sp, const char *key)
{
    uint64_t h = su_hash_str(key);
    for (struct su_hnode *n = su_ht_first(&sp->dkeys, h); n; n = su_ht_next(n, h)) {
        struct sp_dkey *d = SU_CONTAINER(n, struct sp_dkey, node);
        if (!strcmp(d->key, key))
            return d;
    }
    return NULL;
}

static void sp_dkey_del(struct sp_spool *sp, struct sp_dkey *d)
{
    su_ht_del(&sp->dkeys, &d->node);
    su_list_del(&d->fifo);
    free(d);
}

static int sp_dkey_add(struct sp_spool *sp, const char *key, long long at, uint64_t batch)
{
    size_t len = strlen(key);
    struct sp_dkey *d = calloc(1, sizeof(*d) + len + 1);

    if (!d)
        return CM_ENOMEM;
    memcpy(d->key, key, len + 1);
    d->at = at;
    d->batch = batch;
    if (su_ht_add(&sp->dkeys, &d->node, su_hash_str(key)) != CM_OK) {
        free(d);
        return CM_ENOMEM;
    }
    su_list_add_tail(&sp->fifo, &d->fifo);
    return CM_OK;
}

/* Forget delivery ids past the window, and the oldest beyond the bound. */
static void sp_dkey_expire(struct sp_spool *sp, long long now)
{
    while (!su_list_empty(&sp->fifo)) {
        struct sp_dkey *d = SU_CONTAINER(sp->fifo.next, struct sp_dkey, fifo);
        if (now - d->at <= sp->max_age && sp->dkeys.n <= SP_DEDUPE_MAX)
            break;
        sp_dkey_del(sp, d);
    }
}

/* --- journal -------------------------------------------------------------------------- */

/* Each line is "<payload length> <crc32 hex> <payload>\n", so a torn or zero-filled tail
 * is recognised on replay. Payloads:
 *   A <id> <accepted_at> <repo key> <dedupe key> <event json>   accepted
 *   K <at> <dedupe key>                                         delivery id remembered
 *   T <id> <attempts> <not_before> <error>                      retry state (absolute)
 *   D <id>  done          F <id>  given up          N <next id>
 * Keys and errors are %-encoded; "-" is none. */
static int sp_rec(struct su_buf *b, const char *fmt, ...) CM_PRINTF(2, 3);
static int sp_rec(struct su_buf *b, const char *fmt, ...)
{
    struct su_buf pl = {0};
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = su_buf_vprintf(&pl, fmt, ap);
    va_end(ap);
    if (rc == CM_OK)
        rc = su_buf_printf(b, "%zu %08" PRIx32 " %s\n", pl.len, su_crc32(pl.p, pl.len), pl.p);
    free(pl.p);
    return rc;
}

static int sp_rec_retry(struct su_buf *b, const struct sp_entry *e)
{
    char *err = su_encode(e->error);
    int rc = err ? sp_rec(b, "T %" PRIu64 " %d %lld %s", e->id, e->attempts, e->not_before, err)
                 : CM_ENOMEM;
    free(err);
    return rc;
}

static int sp_rec_accept(struct su_buf *b, uint64_t id, long long at, const char *key,
                         const char *dkey, const char *json)
{
    char *k = su_encode(key), *dk = su_encode(dkey);
    int rc = k && dk ? sp_rec(b, "A %" PRIu64 " %lld %s %s %s", id, at, k, dk, json) : CM_ENOMEM;
    free(k);
    free(dk);
    return rc;
}

/* The whole live state as a journal: what a rewrite writes. */
static int sp_snapshot(struct sp_spool *sp, struct su_buf *out)
{
    int rc = sp_rec(out, "N %" PRIu64, sp->next_id);

    sp_dkey_expire(sp, (long long)time(NULL));
    for (struct su_link *l = sp->fifo.next; rc == CM_OK && l != &sp->fifo; l = l->next) {
        struct sp_dkey *d = SU_CONTAINER(l, struct sp_dkey, fifo);
        char *k;
        if (d->batch > sp->done_no)
            continue; /* its A record is still to be written, with the key */
        if (!(k = su_encode(d->key)))
            return CM_ENOMEM;
        rc = sp_rec(out, "K %lld %s", d->at, k);
        free(k);
    }
    for (size_t i = 0; rc == CM_OK && i < sp->repos.nb; i++)
        for (struct su_hnode *n = sp->repos.b[i]; rc == CM_OK && n; n = n->next) {
            struct sp_repo *r = SU_CONTAINER(n, struct sp_repo, node);
            struct su_link *lists[2] = {&r->claimed, &r->pending};
            for (int j = 0; j < 2; j++)
                for (struct su_link *l = lists[j]->next; rc == CM_OK && l != lists[j];
                     l = l->next) {
                    struct sp_entry *e = SU_CONTAINER(l, struct sp_entry, link);
                    rc = sp_rec_accept(out, e->id, e->accepted_at, r->key, NULL, e->json);
                    if (rc == CM_OK && (e->attempts || e->not_before || e->error))
                        rc = sp_rec_retry(out, e);
                }
        }
    return rc;
}

/* Write snap to journal.new, sync it, rename it over the journal, sync the directory. */
static int sp_rewrite(struct sp_spool *sp, const struct su_buf *snap, int *fd_out, int *err_no)
{
    int fd = open(sp->journal_new, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || su_write_all(fd, snap->p, snap->len) != CM_OK || fdatasync(fd) != 0 ||
        rename(sp->journal_new, sp->journal) != 0 || fsync(sp->dir_fd) != 0) {
        *err_no = errno;
        if (fd >= 0)
            close(fd);
        unlink(sp->journal_new);
        return CM_EAGAIN;
    }
    *fd_out = fd;
    return CM_OK;
}

/* With the lock held and the writer role taken (committing). */
static int sp_compact(struct sp_spool *sp, int *err_no)
{
    struct su_buf snap = {0};
    int fd = -1, rc = sp_snapshot(sp, &snap);

    *err_no = ENOMEM;
    if (rc == CM_OK) {
        pthread_mutex_unlock(&sp->mu);
        rc = sp_rewrite(sp, &snap, &fd, err_no);
        pthread_mutex_lock(&sp->mu);
    }
    if (rc == CM_OK) {
        if (sp->fd >= 0)
            close(sp->fd);
        sp->fd = fd;
        sp->stats.journal_bytes = snap.len;
        sp->stats.syncs++;
        sp->stats.compactions++;
        sp->compact_at = snap.len * 4 > SP_COMPACT_MIN ? snap.len * 4 : SP_COMPACT_MIN;
    } else {
        sp->compact_at = sp->stats.journal_bytes + SP_COMPACT_MIN;
    }
    free(snap.p);
    return rc;
}

/* Append a batch and make it durable; on failure cut the file back so no partial record of
 * an unacknowledged batch stays in front of later ones. When even that fails, the next batch
 * starts on a new line so the leftover stays one bad line that replay skips. Leader only. */
static int sp_write_batch(struct sp_spool *sp, const struct su_buf *b, uint64_t *size)
{
    off_t start;

    if (!b->len)
        return CM_OK;
    if ((start = lseek(sp->fd, 0, SEEK_END)) < 0)
        return CM_EAGAIN;
    if ((!sp->torn || su_write_all(sp->fd, "\n", 1) == CM_OK) &&
        su_write_all(sp->fd, b->p, b->len) == CM_OK && fdatasync(sp->fd) == 0) {
        *size = (uint64_t)start + b->len + (uint64_t)sp->torn;
        sp->torn = 0;
        return CM_OK;
    }
    if (ftruncate(sp->fd, start) != 0)
        sp->torn = 1;
    return CM_EAGAIN;
}

/* Forget entries whose batch was not written (or never handed over), and their delivery ids. */
static void sp_rollback(struct sp_spool *sp, struct su_link *entries, uint64_t batch)
{
    while (!su_list_empty(entries)) {
        struct sp_entry *e = SU_CONTAINER(entries->next, struct sp_entry, link);
        struct sp_repo *r = e->repo;
        struct sp_dkey *d = e->dkey ? sp_dkey_find(sp, e->dkey) : NULL;
        su_list_del(&e->link);
        if (d && d->batch == batch)
            sp_dkey_del(sp, d);
        r->n_inflight--;
        sp_entry_free(e);
        sp_repo_settle(sp, r);
    }
}

/* Become the writer: take the open batch, write it without the lock, then wake its callers. */
static void sp_lead(struct sp_spool *sp)
{
    struct sp_batch b = sp->open;
    int rc, published = 0, err_no;

    su_list_init(&b.entries);
    su_list_splice_tail(&b.entries, &sp->open.entries);
    memset(&sp->open.buf, 0, sizeof(sp->open.buf));
    sp->open.tickets = NULL;
    sp->open.no = b.no + 1;
    sp->committing = 1;
    uint64_t size = sp->stats.journal_bytes;

    pthread_mutex_unlock(&sp->mu);
    rc = sp_write_batch(sp, &b.buf, &size);
    pthread_mutex_lock(&sp->mu);

    if (rc == CM_OK && b.buf.len) {
        sp->stats.journal_bytes = size;
        sp->stats.syncs++;
    }
    if (rc == CM_OK) {
        while (!su_list_empty(&b.entries)) {
            struct sp_entry *e = SU_CONTAINER(b.entries.next, struct sp_entry, link);
            su_list_del(&e->link);
            e->repo->n_inflight--;
            sp_publish(sp, e);
            sp_repo_settle(sp, e->repo);
            sp->stats.appended++;
            published = 1;
        }
    }
    sp_rollback(sp, &b.entries, b.no);
    sp->done_no = b.no;
    for (struct sp_ticket *t = b.tickets; t; t = t->next) {
        t->rc = rc;
        t->done = 1;
    }
    pthread_cond_broadcast(&sp->commit_cv);
    if (published)
        pthread_cond_broadcast(&sp->claim_cv);
    if (rc == CM_OK && sp->stats.journal_bytes >= sp->compact_at)
        sp_compact(sp, &err_no);
    sp->committing = 0;
    pthread_cond_broadcast(&sp->commit_cv);
    free(b.buf.p);
}

/* The ticket lives on its caller's stack until a leader has marked it done, and the leader
 * unhooks the whole list before that; kept out of line so the compiler sees no escape. */
static __attribute__((noinline)) void sp_ticket_add(struct sp_batch *b, struct sp_ticket *t)
{
    t->next = b->tickets;
    b->tickets = t;
}

/* Hand records (and the entries they accept) to the open batch and wait until written.
 * Lock held; rec is consumed. */
static int sp_commit(struct sp_spool *sp, struct su_buf *rec, struct su_link *entries)
{
    struct sp_ticket t = {0};

    if (su_buf_append(&sp->open.buf, rec->p, rec->len) != CM_OK)
        return CM_ENOMEM;
    if (entries)
        su_list_splice_tail(&sp->open.entries, entries);
    sp_ticket_add(&sp->open, &t);
    while (!t.done) {
        if (sp->committing)
            pthread_cond_wait(&sp->commit_cv, &sp->mu);
        else
            sp_lead(sp);
    }
    return t.rc;
}

/* --- replay ---------------------------------------------------------------------------- */

static char *sp_field(char **p)
{
    char *s = *p, *sp_ = s ? strchr(s, ' ') : NULL;
    if (!s)
        return NULL;
    if (sp_) {
        *sp_ = '\0';
        *p = sp_ + 1;
    } else {
        *p = NULL;
    }
    return s;
}

static int sp_num(const char *s, long long *out)
{
    char *end;
    if (!s || !*s)
        return 0;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !*end && !errno;
}

static int sp_replay_accept(struct sp_spool *sp, char *rest, long long now)
{
    long long id, at;
    char *fid = sp_field(&rest), *fat = sp_field(&rest), *key = sp_field(&rest);
    char *dkey = sp_field(&rest), *json = rest;
    struct sp_entry *e;

    if (!sp_num(fid, &id) || id <= 0 || !sp_num(fat, &at) || !key || !dkey || !json ||
        !(key = su_decode(key)) || sp_entry_find(sp, (uint64_t)id))
        return CM_EINVAL;
    if ((dkey = su_decode(dkey)) && now - at <= sp->max_age && !sp_dkey_find(sp, dkey) &&
        sp_dkey_add(sp, dkey, at, 0) != CM_OK)
        return CM_ENOMEM;
    if (!(e = calloc(1, sizeof(*e))) || !(e->json = strdup(json)) ||
        !(e->repo = sp_repo_get(sp, key))) {
        sp_entry_free(e);
        return CM_ENOMEM;
    }
    e->id = (uint64_t)id;
    e->accepted_at = at;
    sp_publish(sp, e);
    sp_repo_settle(sp, e->repo);
    return CM_OK;
}

/* Apply one checked record; CM_EINVAL for one that makes no sense (skipped). */
static int sp_replay_record(struct sp_spool *sp, char *p, long long now)
{
    char *type = sp_field(&p), *f1;
    long long a, b, c;
    struct sp_entry *e;

    if (!type || strlen(type) != 1)
        return CM_EINVAL;
    if (type[0] == 'A')
        return sp_replay_accept(sp, p, now);
    f1 = sp_field(&p);
    switch (type[0]) {
    case 'K':
        if (!sp_num(f1, &a) || !p || !(f1 = su_decode(p)))
            return CM_EINVAL;
        if (now - a > sp->max_age || sp_dkey_find(sp, f1))
            return CM_OK;
        return sp_dkey_add(sp, f1, a, 0);
    case 'N':
        if (sp_num(f1, &a) && (uint64_t)a > sp->next_id)
            sp->next_id = (uint64_t)a;
        return CM_OK;
    case 'D':
    case 'F':
        if (sp_num(f1, &a) && (e = sp_entry_find(sp, (uint64_t)a))) {
            struct sp_repo *r = e->repo;
            sp_entry_drop(sp, e, 1);
            sp_repo_settle(sp, r);
        }
        return CM_OK;
    case 'T': {
        char *fa = sp_field(&p), *fnb = sp_field(&p), *err;
        if (!sp_num(f1, &a) || !sp_num(fa, &b) || !sp_num(fnb, &c) || !p)
            return CM_EINVAL;
        if (!(e = sp_entry_find(sp, (uint64_t)a)))
            return CM_OK;
        err = su_decode(p);
        free(e->error);
        if ((e->error = err ? strdup(err) : NULL) == NULL && err)
            return CM_ENOMEM;
        e->attempts = (int)b;
        e->not_before = c;
        e->repo->not_before = c; /* the latest retry of the repository decides */
        return CM_OK;
    }
    default:
        return CM_EINVAL;
    }
}

/* Replay a journal image; lines that do not check out (a torn tail) are skipped. */
static int sp_replay(struct sp_spool *sp, char *data, size_t len)
{
    long long now = (long long)time(NULL);
    size_t pos = 0;

    while (pos < len) {
        char *line = data + pos, *nl = memchr(line, '\n', len - pos), *end;
        if (!nl)
            break;
        *nl = '\0';
        pos = (size_t)(nl - data) + 1;
        errno = 0;
        unsigned long long plen = strtoull(line, &end, 10);
        if (errno || end == line || *end != ' ' || strlen(end + 1) < 9 || end[9] != ' ')
            continue;
        char *payload = end + 10;
        unsigned long crc = strtoul(end + 1, NULL, 16);
        if (strlen(payload) != plen || crc != su_crc32(payload, (size_t)plen))
            continue;
        if (sp_replay_record(sp, payload, now) == CM_ENOMEM)
            return CM_ENOMEM;
    }
    sp_dkey_expire(sp, now);
    return CM_OK;
}

static int sp_read_file(const char *path, char **out, size_t *len)
{
    struct su_buf b = {0};
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = CM_OK;
    ssize_t n;

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return errno == ENOENT ? CM_OK : CM_ERROR;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = CM_ERROR;
            break;
        }
        if ((rc = su_buf_append(&b, chunk, (size_t)n)) != CM_OK)
            break;
    }
    close(fd);
    if (rc != CM_OK) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *len = b.len;
    return CM_OK;
}

/* --- operations ------------------------------------------------------------------------ */

/* Wait until the batches holding any of these delivery ids are settled: a redelivery is
 * only called a duplicate once the original is on disk. */
static void sp_wait_dups(struct sp_spool *sp, const char *const *dkeys, size_t n)
{
    for (;;) {
        uint64_t wait = 0;
        for (size_t i = 0; dkeys && i < n; i++) {
            struct sp_dkey *d = dkeys[i] && *dkeys[i] ? sp_dkey_find(sp, dkeys[i]) : NULL;
            if (d && d->batch > sp->done_no && d->batch > wait)
                wait = d->batch;
        }
        if (!wait)
            return;
        while (sp->done_no < wait)
            pthread_cond_wait(&sp->commit_cv, &sp->mu);
    }
}

/* Under the lock: an entry for event i, its record in rec, its delivery id remembered. */
static int sp_stage(struct sp_spool *sp, const char *key, const char *dkey, const char *json,
                    long long now, struct su_buf *rec, struct su_link *mine, uint64_t *id)
{
    struct sp_entry *e = calloc(1, sizeof(*e));

    if (!e || !(e->json = strdup(json)) || (dkey && !(e->dkey = strdup(dkey))) ||
        !(e->repo = sp_repo_get(sp, key))) {
        sp_entry_free(e);
        return CM_ENOMEM;
    }
    e->id = sp->next_id++;
    e->accepted_at = now;
    e->repo->n_inflight++;
    su_list_add_tail(mine, &e->link);
    *id = e->id;
    if (dkey && sp_dkey_add(sp, dkey, now, sp->open.no) != CM_OK)
        return CM_ENOMEM;
    return sp_rec_accept(rec, e->id, now, key, dkey, json);
}

static int sp_append(struct cm_queue *q, struct cm_event *const *events, const char *const *dkeys,
                     size_t n, uint64_t *ids_out)
{
    struct sp_spool *sp = sp_of(q);
    struct su_buf rec = {0};
    struct su_link mine;
    char **keys = calloc(n + 1, sizeof(*keys));
    const char **jsons = calloc(n + 1, sizeof(*jsons));
    long long now = (long long)time(NULL);
    size_t stored = 0;
    int rc = keys && jsons ? CM_OK : CM_ENOMEM;

    su_list_init(&mine);
    for (size_t i = 0; i < n; i++)
        ids_out[i] = 0;
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *ep = cm_event_get(events[i], CM_FIELD_ENDPOINT);
        const char *repo = cm_event_get(events[i], CM_FIELD_REPOSITORY);
        size_t len = (ep ? strlen(ep) : 0) + (repo ? strlen(repo) : 0) + 2;
        if (!ep || !repo)
            rc = CM_EINVAL; /* the dispatcher sets both on every event */
        else if (!(keys[i] = malloc(len)) || !(jsons[i] = cm_event_json(events[i])))
            rc = CM_ENOMEM;
        else
            snprintf(keys[i], len, "%s/%s", ep, repo);
    }
    if (rc != CM_OK)
        goto out;

    pthread_mutex_lock(&sp->mu);
    sp_dkey_expire(sp, now);
    sp_wait_dups(sp, dkeys, n);
    for (size_t i = 0; rc == CM_OK && i < n; i++) {
        const char *dk = dkeys && dkeys[i] && *dkeys[i] ? dkeys[i] : NULL;
        if (dk && sp_dkey_find(sp, dk))
            continue;
        rc = sp_stage(sp, keys[i], dk, jsons[i], now, &rec, &mine, &ids_out[i]);
        stored++;
    }
    if (rc == CM_OK && !stored)
        rc = n ? CM_EIGNORE : CM_OK;
    else if (rc == CM_OK)
        rc = sp_commit(sp, &rec, &mine);
    sp_rollback(sp, &mine, sp->open.no);
    pthread_mutex_unlock(&sp->mu);
    if (rc != CM_OK && rc != CM_EIGNORE)
        for (size_t i = 0; i < n; i++)
            ids_out[i] = 0;
out:
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(jsons);
    free(rec.p);
    return rc;
}

/* Under the lock: the job for r, whose claimed list holds its entries oldest first. */
static int sp_job_new(struct sp_repo *r, struct cm_job **out)
{
    struct cm_job *job = calloc(1, sizeof(*job));
    size_t n = 0;

    for (struct su_link *l = r->claimed.next; l != &r->claimed; l = l->next)
        n++;
    if (!job || !(job->key = strdup(r->key)) || !(job->ids = calloc(n, sizeof(*job->ids)))) {
        cm_job_free(job);
        return CM_ENOMEM;
    }
    for (struct su_link *l = r->claimed.next; l != &r->claimed; l = l->next) {
        struct sp_entry *e = SU_CONTAINER(l, struct sp_entry, link);
        if (!job->n_ids) {
            job->attempts = e->attempts;
            job->accepted_at = e->accepted_at;
        }
        if (e->error && !job->last_error && !(job->last_error = strdup(e->error))) {
            cm_job_free(job);
            return CM_ENOMEM;
        }
        job->ids[job->n_ids++] = e->id;
    }
    *out = job;
    return CM_OK;
}

/* Without the lock: only the holder of r touches its claimed list. */
static int sp_job_event(struct sp_repo *r, struct cm_job *job)
{
    char err[128];
    int rc = CM_OK;

    for (struct su_link *l = r->claimed.next; rc == CM_OK && l != &r->claimed; l = l->next) {
        struct sp_entry *e = SU_CONTAINER(l, struct sp_entry, link);
        struct cm_event *ev = NULL;
        if ((rc = cm_event_from_json(&ev, e->json, err, sizeof(err))) != CM_OK)
            break;
        if (!job->event) {
            job->event = ev;
            continue;
        }
        rc = cm_event_merge(job->event, ev);
        cm_event_free(ev);
    }
    return rc;
}

static struct sp_repo *sp_pick(struct sp_spool *sp, long long now, long long *next_due)
{
    *next_due = LLONG_MAX;
    for (struct su_link *l = sp->ready.next; l != &sp->ready; l = l->next) {
        struct sp_repo *r = SU_CONTAINER(l, struct sp_repo, ready);
        if (r->not_before <= now)
            return r;
        if (r->not_before < *next_due)
            *next_due = r->not_before;
    }
    return NULL;
}

static int sp_claim(struct cm_queue *q, struct cm_job **out, int timeout_ms)
{
    struct sp_spool *sp = sp_of(q);
    struct timespec deadline, now;
    struct sp_repo *r = NULL;
    long long next_due;
    int rc = CM_OK;

    *out = NULL;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sp->mu);
    for (;;) {
        if (sp->closing) {
            rc = CM_ERROR;
            goto out;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        if ((r = sp_pick(sp, (long long)now.tv_sec, &next_due)))
            break;
        if (timeout_ms >= 0 &&
            (now.tv_sec > deadline.tv_sec ||
             (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))) {
            rc = CM_EAGAIN;
            goto out;
        }
        struct timespec wake = deadline;
        if (timeout_ms < 0 || next_due < (long long)deadline.tv_sec)
            wake = (struct timespec){.tv_sec = (time_t)next_due, .tv_nsec = 0};
        if (timeout_ms < 0 && next_due == LLONG_MAX)
            pthread_cond_wait(&sp->claim_cv, &sp->mu);
        else
            pthread_cond_timedwait(&sp->claim_cv, &sp->mu, &wake);
    }
    r->held = 1;
    su_list_splice_tail(&r->claimed, &r->pending);
    r->n_pending = 0;
    sp_repo_settle(sp, r);
    if ((rc = sp_job_new(r, out)) == CM_OK) {
        pthread_mutex_unlock(&sp->mu);
        rc = sp_job_event(r, *out);
        pthread_mutex_lock(&sp->mu);
    }
    if (rc != CM_OK) {
        /* Hand the entries back untouched; the worker sees the error and tries later. */
        for (struct su_link *l = r->claimed.next; l != &r->claimed; l = l->next)
            r->n_pending++;
        su_list_splice(&r->pending, &r->claimed, 1);
        r->held = 0;
        sp_repo_settle(sp, r);
        cm_job_free(*out);
        *out = NULL;
    }
out:
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

static int sp_json_str(struct su_buf *b, const char *s)
{
    int rc = su_buf_append(b, "\"", 1);
    for (; rc == CM_OK && s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = su_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = su_buf_printf(b, "\\u%04x", c);
        else
            rc = su_buf_append(b, s, 1);
    }
    return rc == CM_OK ? su_buf_append(b, "\"", 1) : rc;
}

/* One JSON line per entry in failed.log, synced: the operators' record of what was lost. */
static int sp_log_failed(struct sp_spool *sp, struct sp_repo *r, const char *error)
{
    struct su_buf b = {0};
    char when[32], acc[32];
    int rc = CM_OK;

    cm_format_time((long long)time(NULL), when, sizeof(when));
    for (struct su_link *l = r->claimed.next; rc == CM_OK && l != &r->claimed; l = l->next) {
        struct sp_entry *e = SU_CONTAINER(l, struct sp_entry, link);
        cm_format_time(e->accepted_at, acc, sizeof(acc));
        rc = su_buf_printf(&b, "{\"failed_at\":\"%s\",\"id\":%" PRIu64 ",\"repository\":", when,
                           e->id);
        if (rc == CM_OK)
            rc = sp_json_str(&b, r->key);
        if (rc == CM_OK)
            rc = su_buf_printf(&b, ",\"accepted_at\":\"%s\",\"attempts\":%d,\"error\":", acc,
                               e->attempts + 1);
        if (rc == CM_OK)
            rc = sp_json_str(&b, error ? error : "given up");
        if (rc == CM_OK)
            rc = su_buf_printf(&b, ",\"event\":%s}\n", e->json);
    }
    if (rc == CM_OK &&
        (su_write_all(sp->failed_fd, b.p, b.len) != CM_OK || fdatasync(sp->failed_fd) != 0))
        rc = CM_EAGAIN;
    free(b.p);
    return rc;
}

/* The held repository of job, or NULL when the job is not one of ours. Lock held. */
static struct sp_repo *sp_holder(struct sp_spool *sp, const struct cm_job *job)
{
    struct sp_repo *r = job && job->key ? sp_repo_find(sp, job->key) : NULL;
    return r && r->held ? r : NULL;
}

/* Complete ('D') or give up ('F'): the job's entries leave the queue. */
static int sp_finish(struct sp_spool *sp, struct cm_job *job, char type)
{
    struct su_buf rec = {0};
    struct sp_repo *r;
    int rc = CM_OK;

    pthread_mutex_lock(&sp->mu);
    if (!(r = sp_holder(sp, job))) {
        rc = CM_EINVAL;
        goto out;
    }
    while (!su_list_empty(&r->claimed)) {
        struct sp_entry *e = SU_CONTAINER(r->claimed.next, struct sp_entry, link);
        if (rc == CM_OK)
            rc = sp_rec(&rec, "%c %" PRIu64, type, e->id);
        sp_entry_drop(sp, e, 0);
    }
    r->held = 0;
    r->not_before = 0;
    sp_repo_settle(sp, r);
    pthread_cond_broadcast(&sp->claim_cv);
    /* Memory is already right; a record that does not reach the disk only means a repeat
     * sync after a restart. */
    if (rc == CM_OK)
        rc = sp_commit(sp, &rec, NULL);
out:
    pthread_mutex_unlock(&sp->mu);
    free(rec.p);
    cm_job_free(job);
    return rc;
}

static int sp_complete(struct cm_queue *q, struct cm_job *job)
{
    return sp_finish(sp_of(q), job, 'D');
}

static int sp_retry(struct cm_queue *q, struct cm_job *job, long long at, const char *error)
{
    struct sp_spool *sp = sp_of(q);
    struct su_buf rec = {0};
    struct sp_repo *r;
    int rc = CM_OK;

    pthread_mutex_lock(&sp->mu);
    if (!(r = sp_holder(sp, job))) {
        rc = CM_EINVAL;
        goto out;
    }
    for (struct su_link *l = r->claimed.next; l != &r->claimed; l = l->next) {
        struct sp_entry *e = SU_CONTAINER(l, struct sp_entry, link);
        char *copy = error && *error ? strdup(error) : NULL;
        free(e->error);
        e->error = copy;
        e->attempts++;
        e->not_before = at;
        r->n_pending++;
        if (rc == CM_OK)
            rc = sp_rec_retry(&rec, e);
    }
    su_list_splice(&r->pending, &r->claimed, 1);
    r->held = 0;
    r->not_before = at;
    sp_repo_settle(sp, r);
    pthread_cond_broadcast(&sp->claim_cv);
    if (rc == CM_OK)
        rc = sp_commit(sp, &rec, NULL);
out:
    pthread_mutex_unlock(&sp->mu);
    free(rec.p);
    cm_job_free(job);
    return rc;
}

static int sp_give_up(struct cm_queue *q, struct cm_job *job, const char *error)
{
    struct sp_spool *sp = sp_of(q);
    struct sp_repo *r;
    int rc;

    pthread_mutex_lock(&sp->mu);
    r = sp_holder(sp, job);
    rc = r ? sp_log_failed(sp, r, error) : CM_EINVAL;
    pthread_mutex_unlock(&sp->mu);
    if (rc == CM_EAGAIN) {
        /* Not recorded, so not given up: keep it and try again in a minute. */
        rc = sp_retry(q, job, (long long)time(NULL) + 60, error);
        return rc == CM_OK ? CM_EAGAIN : rc;
    }
    if (rc != CM_OK) {
        cm_job_free(job);
        return rc;
    }
    return sp_finish(sp, job, 'F');
}

static size_t sp_depth(struct cm_queue *q)
{
    struct sp_spool *sp = sp_of(q);
    pthread_mutex_lock(&sp->mu);
    size_t n = sp->depth;
    pthread_mutex_unlock(&sp->mu);
    return n;
}

static void sp_shutdown(struct cm_queue *q)
{
    struct sp_spool *sp = sp_of(q);
    pthread_mutex_lock(&sp->mu);
    sp->closing = 1;
    pthread_cond_broadcast(&sp->claim_cv);
    pthread_mutex_unlock(&sp->mu);
}

static void sp_free_list(struct su_link *h)
{
    while (!su_list_empty(h)) {
        struct sp_entry *e = SU_CONTAINER(h->next, struct sp_entry, link);
        su_list_del(&e->link);
        sp_entry_free(e);
    }
}

static void sp_close(struct cm_queue *q)
{
    struct sp_spool *sp = sp_of(q);

    if (!sp)
        return;
    for (size_t i = 0; i < sp->repos.nb; i++)
        for (struct su_hnode *n = sp->repos.b[i], *nx; n; n = nx) {
            struct sp_repo *r = SU_CONTAINER(n, struct sp_repo, node);
            nx = n->next;
            sp_free_list(&r->pending);
            sp_free_list(&r->claimed);
            free(r);
        }
    while (!su_list_empty(&sp->fifo))
        sp_dkey_del(sp, SU_CONTAINER(sp->fifo.next, struct sp_dkey, fifo));
    sp_free_list(&sp->open.entries);
    free(sp->open.buf.p);
    free(sp->repos.b);
    free(sp->ids.b);
    free(sp->dkeys.b);
    if (sp->fd >= 0)
        close(sp->fd);
    if (sp->failed_fd >= 0)
        close(sp->failed_fd);
    if (sp->dir_fd >= 0)
        close(sp->dir_fd); /* releases the flock */
    free(sp->journal);
    free(sp->journal_new);
    free(sp->failed_log);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->commit_cv);
    pthread_cond_destroy(&sp->claim_cv);
    free(sp);
}

static const struct cm_queue_ops sp_ops = {
    .append = sp_append,
    .claim = sp_claim,
    .complete = sp_complete,
    .retry = sp_retry,
    .give_up = sp_give_up,
    .depth = sp_depth,
    .shutdown = sp_shutdown,
    .close = sp_close,
};

void cm_spool_stats(struct cm_queue *q, struct cm_spool_stats *out)
{
    struct sp_spool *sp = sp_of(q);
    pthread_mutex_lock(&sp->mu);
    *out = sp->stats;
    pthread_mutex_unlock(&sp->mu);
}

/* --- open ------------------------------------------------------------------------------ */

static char *sp_path(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* Make data_dir/spool exist durably and take it for this process. */
static int sp_open_dir(struct sp_spool *sp, const char *data_dir, const char *dir, char *err,
                       size_t errlen)
{
    int created, pfd;

    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s; create it or set data_dir",
                 data_dir, strerror(errno));
        return CM_ERROR;
    }
    created = mkdir(dir, 0700) == 0;
    if (!created && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s; make data_dir writable", dir, strerror(errno));
        return CM_ERROR;
    }
    if ((sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s; it must be a directory", dir, strerror(errno));
        return CM_ERROR;
    }
    if (created && (pfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(pfd);
        close(pfd);
    }
    if (flock(sp->dir_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s is in use by another cargoman; stop it or use another data_dir",
                 dir);
        return CM_ERROR;
    }
    return CM_OK;
}

int cm_spool_open(struct cm_queue **out, const char *data_dir, long long dedupe_max_age, char *err,
                  size_t errlen)
{
    struct sp_spool *sp = calloc(1, sizeof(*sp));
    char *dir = NULL, *data = NULL;
    size_t len;
    int rc = CM_ENOMEM, err_no;

    *out = NULL;
    if (!sp)
        goto out;
    sp->q.ops = &sp_ops;
    sp->fd = sp->dir_fd = sp->failed_fd = -1;
    sp->max_age = dedupe_max_age > 0 ? dedupe_max_age : 0;
    sp->next_id = 1;
    sp->open.no = 1;
    su_list_init(&sp->ready);
    su_list_init(&sp->fifo);
    su_list_init(&sp->open.entries);
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->commit_cv, NULL);
    pthread_cond_init(&sp->claim_cv, NULL);
    if (su_ht_init(&sp->repos) || su_ht_init(&sp->ids) || su_ht_init(&sp->dkeys) ||
        !(dir = sp_path(data_dir, "spool")) || !(sp->journal = sp_path(dir, "journal")) ||
        !(sp->journal_new = sp_path(dir, "journal.new")) ||
        !(sp->failed_log = sp_path(dir, "failed.log"))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rc = sp_open_dir(sp, data_dir, dir, err, errlen)) != CM_OK)
        goto out;
    if ((rc = sp_read_file(sp->journal, &data, &len)) != CM_OK) {
        snprintf(err, errlen, "cannot read %s: %s", sp->journal, strerror(errno));
        goto out;
    }
    if ((rc = sp_replay(sp, data, len)) != CM_OK) {
        snprintf(err, errlen, "out of memory replaying %s", sp->journal);
        goto out;
    }
    /* Start from a clean journal: whatever a crash left torn at the end is gone. */
    pthread_mutex_lock(&sp->mu);
    sp->committing = 1;
    rc = sp_compact(sp, &err_no);
    sp->committing = 0;
    pthread_mutex_unlock(&sp->mu);
    if (rc != CM_OK) {
        snprintf(err, errlen, "cannot write %s: %s; free space in or make writable data_dir %s",
                 sp->journal, strerror(err_no), data_dir);
        goto out;
    }
    sp->failed_fd = open(sp->failed_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (sp->failed_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s; make data_dir writable", sp->failed_log,
                 strerror(errno));
        rc = CM_ERROR;
        goto out;
    }
    *out = &sp->q;
    sp = NULL;
    rc = CM_OK;
out:
    if (sp)
        sp_close(&sp->q);
    free(dir);
    free(data);
    return rc;
}
