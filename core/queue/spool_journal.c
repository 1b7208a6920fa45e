/* SPDX-License-Identifier: MIT */
/*
 * The local spool's state on disk and in memory: the index of entries, repositories and
 * delivery ids; the journal's record format; replay at open; the snapshot rewrite that
 * compacts the journal; and failed.log, the record of what was given up.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fdatasync */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "intake/event.h"
#include "queue/spool_journal.h"

/* --- memory state ----------------------------------------------------------------------- */

void cm_spool_entry_free(struct cm_spool_entry *e)
{
    if (!e)
        return;
    free(e->error);
    free(e->json);
    free(e->dkey);
    free(e->ckey);
    free(e);
}

static int sj_repo_is(const struct cm_spool_hnode *n, const void *key)
{
    return !strcmp(CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node)->key, key);
}

static int sj_dkey_is(const struct cm_spool_hnode *n, const void *key)
{
    return !strcmp(CM_SPOOL_CONTAINER(n, struct cm_spool_dkey, node)->key, key);
}

static int sj_entry_is(const struct cm_spool_hnode *n, const void *id)
{
    return CM_SPOOL_CONTAINER(n, struct cm_spool_entry, by_id)->id == *(const uint64_t *)id;
}

struct cm_spool_repo *cm_spool_repo_find(struct cm_spool *sp, const char *key)
{
    struct cm_spool_hnode *n =
        cm_spool_ht_find(&sp->repos, cm_spool_hash_str(key), sj_repo_is, key);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node) : NULL;
}

struct cm_spool_dkey *cm_spool_dkey_find(struct cm_spool *sp, const char *key)
{
    struct cm_spool_hnode *n =
        cm_spool_ht_find(&sp->dkeys, cm_spool_hash_str(key), sj_dkey_is, key);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_dkey, node) : NULL;
}

static struct cm_spool_entry *sj_entry_find(struct cm_spool *sp, uint64_t id)
{
    struct cm_spool_hnode *n = cm_spool_ht_find(&sp->ids, cm_spool_hash_u64(id), sj_entry_is, &id);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_entry, by_id) : NULL;
}

/* A zeroed object of size bytes followed by a copy of key, and the hash of key. */
static void *sj_keyed_new(size_t size, const char *key, size_t key_off, uint64_t *hash)
{
    size_t len = strlen(key);
    char *o = calloc(1, size + len + 1);

    if (o)
        memcpy(o + key_off, key, len + 1);
    *hash = cm_spool_hash_str(key);
    return o;
}

struct sj_name {
    const char *p;
    size_t len;
};

static int sj_ep_is(const struct cm_spool_hnode *n, const void *arg)
{
    const struct sj_name *want = arg;
    const char *name = CM_SPOOL_CONTAINER(n, struct cm_spool_ep, node)->name;
    return !strncmp(name, want->p, want->len) && !name[want->len];
}

struct cm_spool_ep *cm_spool_ep_find(struct cm_spool *sp, const char *name, size_t len)
{
    struct sj_name want = {name, len};
    struct cm_spool_hnode *n =
        cm_spool_ht_find(&sp->eps, cm_spool_hash_mem(name, len), sj_ep_is, &want);
    return n ? CM_SPOOL_CONTAINER(n, struct cm_spool_ep, node) : NULL;
}

/* The endpoint of repository key key, created when missing; NULL when out of memory. */
static struct cm_spool_ep *sj_ep_get(struct cm_spool *sp, const char *key)
{
    const char *slash = strchr(key, '/');
    size_t len = slash ? (size_t)(slash - key) : strlen(key);
    struct cm_spool_ep *ep = cm_spool_ep_find(sp, key, len);

    if (ep || !(ep = calloc(1, sizeof(*ep) + len + 1)))
        return ep;
    memcpy(ep->name, key, len);
    cm_spool_ht_add(&sp->eps, &ep->node, cm_spool_hash_mem(key, len));
    return ep;
}

void cm_spool_count(struct cm_spool *sp, struct cm_spool_repo *r, int delta)
{
    if (delta > 0) {
        sp->live++;
        r->ep->live++;
    } else {
        sp->live--;
        r->ep->live--;
    }
}

struct cm_spool_repo *cm_spool_repo_get(struct cm_spool *sp, const char *key)
{
    struct cm_spool_repo *r = cm_spool_repo_find(sp, key);
    struct cm_spool_ep *ep;
    uint64_t h;

    if (r)
        return r;
    if (!(ep = sj_ep_get(sp, key)) ||
        !(r = sj_keyed_new(sizeof(*r), key, offsetof(struct cm_spool_repo, key), &h)))
        return NULL;
    r->ep = ep;
    cm_spool_list_init(&r->pending);
    cm_spool_list_init(&r->claimed);
    cm_spool_ht_add(&sp->repos, &r->node, h);
    return r;
}

void cm_spool_repo_settle(struct cm_spool *sp, struct cm_spool_repo *r)
{
    int want = r->n_pending && !r->held;

    if (want && !r->in_ready)
        cm_spool_list_add_tail(&sp->ready, &r->ready);
    else if (!want && r->in_ready)
        cm_spool_list_del(&r->ready);
    r->in_ready = want;
    if (!r->n_pending && !r->held && !r->n_inflight) {
        cm_spool_ht_del(&sp->repos, &r->node);
        free(r);
    }
}

void cm_spool_publish(struct cm_spool *sp, struct cm_spool_entry *e)
{
    free(e->dkey);
    e->dkey = NULL;
    cm_spool_ht_add(&sp->ids, &e->by_id, cm_spool_hash_u64(e->id));
    cm_spool_list_add_tail(&e->repo->pending, &e->link);
    e->repo->n_pending++;
    sp->depth++;
    if (e->id >= sp->next_id)
        sp->next_id = e->id + 1;
}

void cm_spool_entry_drop(struct cm_spool *sp, struct cm_spool_entry *e, int was_pending)
{
    cm_spool_count(sp, e->repo, -1);
    cm_spool_list_del(&e->link);
    cm_spool_ht_del(&sp->ids, &e->by_id);
    if (was_pending)
        e->repo->n_pending--;
    sp->depth--;
    cm_spool_entry_free(e);
}

void cm_spool_dkey_del(struct cm_spool *sp, struct cm_spool_dkey *d)
{
    cm_spool_ht_del(&sp->dkeys, &d->node);
    cm_spool_list_del(&d->fifo);
    free(d);
}

int cm_spool_dkey_add(struct cm_spool *sp, const char *key, long long at, uint64_t batch)
{
    uint64_t h;
    struct cm_spool_dkey *d =
        sj_keyed_new(sizeof(*d), key, offsetof(struct cm_spool_dkey, key), &h);

    if (!d)
        return CM_ENOMEM;
    d->at = at;
    d->batch = batch;
    cm_spool_ht_add(&sp->dkeys, &d->node, h);
    cm_spool_list_add_tail(&sp->fifo, &d->fifo);
    return CM_OK;
}

void cm_spool_dkey_expire(struct cm_spool *sp, long long now)
{
    while (!cm_spool_list_empty(&sp->fifo)) {
        struct cm_spool_dkey *d = CM_SPOOL_CONTAINER(sp->fifo.next, struct cm_spool_dkey, fifo);
        if (now - d->at <= sp->max_age && sp->dkeys.n <= CM_SPOOL_DEDUPE_MAX)
            break;
        cm_spool_dkey_del(sp, d);
    }
}

int cm_spool_state_init(struct cm_spool *sp)
{
    cm_spool_list_init(&sp->ready);
    cm_spool_list_init(&sp->fifo);
    cm_spool_list_init(&sp->open.entries);
    if (cm_spool_ht_init(&sp->repos) || cm_spool_ht_init(&sp->ids) ||
        cm_spool_ht_init(&sp->dkeys) || cm_spool_ht_init(&sp->eps))
        return CM_ENOMEM;
    return CM_OK;
}

static void sj_free_list(struct cm_spool_link *h)
{
    struct cm_spool_link *l;
    while ((l = cm_spool_list_pop(h)))
        cm_spool_entry_free(CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link));
}

void cm_spool_state_free(struct cm_spool *sp)
{
    for (size_t i = 0; i < sp->repos.nb; i++)
        for (struct cm_spool_hnode *n = sp->repos.b[i], *nx; n; n = nx) {
            struct cm_spool_repo *r = CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node);
            nx = n->next;
            sj_free_list(&r->pending);
            sj_free_list(&r->claimed);
            free(r);
        }
    for (size_t i = 0; i < sp->eps.nb; i++)
        for (struct cm_spool_hnode *n = sp->eps.b[i], *nx; n; n = nx) {
            nx = n->next;
            free(CM_SPOOL_CONTAINER(n, struct cm_spool_ep, node));
        }
    while (!cm_spool_list_empty(&sp->fifo))
        cm_spool_dkey_del(sp, CM_SPOOL_CONTAINER(sp->fifo.next, struct cm_spool_dkey, fifo));
    sj_free_list(&sp->open.entries);
    free(sp->open.buf.p);
    free(sp->repos.b);
    free(sp->ids.b);
    free(sp->dkeys.b);
    free(sp->eps.b);
}

/* --- records ---------------------------------------------------------------------------- */

/* Each line is "<payload length> <crc32 hex> <payload>\n", so a torn or zero-filled tail
 * is recognised on replay. Payloads:
 *   A <id> <accepted_at> <repo key> <dedupe key> <event json>   accepted
 *   K <at> <dedupe key>                                         delivery id remembered
 *   T <id> <attempts> <not_before> <error>                      retry state (absolute)
 *   D <id>  done          F <id>  given up          N <next id>
 * Keys and errors are %-encoded; "-" is none. */
static int sj_rec(struct cm_buf *b, const char *fmt, ...) CM_PRINTF(2, 3);
static int sj_rec(struct cm_buf *b, const char *fmt, ...)
{
    struct cm_buf pl = {0};
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = cm_buf_vprintf(&pl, fmt, ap);
    va_end(ap);
    if (rc == CM_OK)
        rc = cm_buf_printf(b, "%zu %08" PRIx32 " %s\n", pl.len, cm_spool_crc32(pl.p, pl.len), pl.p);
    free(pl.p);
    return rc;
}

int cm_spool_rec_retry(struct cm_buf *b, const struct cm_spool_entry *e)
{
    char *err = cm_spool_encode(e->error);
    int rc = err ? sj_rec(b, "T %" PRIu64 " %d %lld %s", e->id, e->attempts, e->not_before, err)
                 : CM_ENOMEM;
    free(err);
    return rc;
}

int cm_spool_rec_accept(struct cm_buf *b, uint64_t id, long long at, const char *key,
                        const char *dkey, const char *json)
{
    char *k = cm_spool_encode(key), *dk = cm_spool_encode(dkey);
    int rc = k && dk ? sj_rec(b, "A %" PRIu64 " %lld %s %s %s", id, at, k, dk, json) : CM_ENOMEM;
    free(k);
    free(dk);
    return rc;
}

int cm_spool_rec_end(struct cm_buf *b, char type, uint64_t id)
{
    return sj_rec(b, "%c %" PRIu64, type, id);
}

static int sj_rec_dkey(struct cm_buf *b, const struct cm_spool_dkey *d)
{
    char *k = cm_spool_encode(d->key);
    int rc = k ? sj_rec(b, "K %lld %s", d->at, k) : CM_ENOMEM;
    free(k);
    return rc;
}

/* --- writing ---------------------------------------------------------------------------- */

/* The whole live state as a journal: what a rewrite writes. */
static int sj_snapshot(struct cm_spool *sp, struct cm_buf *out)
{
    int rc = sj_rec(out, "N %" PRIu64, sp->next_id);

    cm_spool_dkey_expire(sp, (long long)time(NULL));
    for (struct cm_spool_link *l = sp->fifo.next; rc == CM_OK && l != &sp->fifo; l = l->next) {
        struct cm_spool_dkey *d = CM_SPOOL_CONTAINER(l, struct cm_spool_dkey, fifo);
        if (d->batch <= sp->done_no) /* else its A record is still to be written, with the key */
            rc = sj_rec_dkey(out, d);
    }
    for (size_t i = 0; rc == CM_OK && i < sp->repos.nb; i++)
        for (struct cm_spool_hnode *n = sp->repos.b[i]; rc == CM_OK && n; n = n->next) {
            struct cm_spool_repo *r = CM_SPOOL_CONTAINER(n, struct cm_spool_repo, node);
            struct cm_spool_link *lists[2] = {&r->claimed, &r->pending};
            for (int j = 0; j < 2; j++)
                for (struct cm_spool_link *l = lists[j]->next; rc == CM_OK && l != lists[j];
                     l = l->next) {
                    struct cm_spool_entry *e = CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link);
                    rc = cm_spool_rec_accept(out, e->id, e->accepted_at, r->key, NULL, e->json);
                    if (rc == CM_OK && (e->attempts || e->not_before || e->error))
                        rc = cm_spool_rec_retry(out, e);
                }
        }
    return rc;
}

int (*cm_spool_dir_fsync)(int dir_fd) = fsync;

/* Write snap to journal.new, sync it, rename it over the journal, sync the directory. Once the
 * rename is done the new file is the journal whatever follows: *fd_out is set and CM_OK
 * returned even when the directory sync fails, which only leaves *dir_unsynced for the next
 * commit to retry (the old, unlinked file must never be written again). */
static int sj_rewrite(struct cm_spool *sp, const struct cm_buf *snap, int *fd_out,
                      int *dir_unsynced, int *err_no)
{
    int fd = open(sp->journal_new, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || cm_spool_write(fd, snap->p, snap->len, 1) != CM_OK ||
        rename(sp->journal_new, sp->journal) != 0) {
        *err_no = errno;
        if (fd >= 0)
            close(fd);
        unlink(sp->journal_new);
        return CM_EAGAIN;
    }
    *dir_unsynced = cm_spool_dir_fsync(sp->dir_fd) != 0;
    *fd_out = fd;
    return CM_OK;
}

int cm_spool_journal_compact(struct cm_spool *sp, int *err_no)
{
    struct cm_buf snap = {0};
    int fd = -1, dir_unsynced = 0, rc = sj_snapshot(sp, &snap);

    *err_no = ENOMEM;
    if (rc == CM_OK) {
        pthread_mutex_unlock(&sp->mu);
        rc = sj_rewrite(sp, &snap, &fd, &dir_unsynced, err_no);
        pthread_mutex_lock(&sp->mu);
    }
    if (rc == CM_OK) {
        if (sp->fd >= 0)
            close(sp->fd);
        sp->fd = fd;
        sp->dir_unsynced = dir_unsynced;
        sp->stats.journal_bytes = snap.len;
        sp->stats.syncs++;
        sp->stats.compactions++;
        sp->compact_at = snap.len * 4 > CM_SPOOL_COMPACT_MIN ? snap.len * 4 : CM_SPOOL_COMPACT_MIN;
    } else {
        sp->compact_at = sp->stats.journal_bytes + CM_SPOOL_COMPACT_MIN;
    }
    free(snap.p);
    return rc;
}

/* On failure cut the file back so no partial record of an unacknowledged batch stays in front
 * of later ones. When even that fails, the next batch starts on a new line so the leftover
 * stays one bad line that replay skips. */
int cm_spool_journal_write(struct cm_spool *sp, const struct cm_buf *b, uint64_t *size)
{
    off_t start;

    if (!b->len)
        return CM_OK;
    /* Until the rename of the last rewrite is durable, a crash may bring back the journal
     * before it: nothing written since would be found, so nothing is acknowledged. */
    if (sp->dir_unsynced) {
        if (cm_spool_dir_fsync(sp->dir_fd) != 0)
            return CM_EAGAIN;
        sp->dir_unsynced = 0;
    }
    if ((start = lseek(sp->fd, 0, SEEK_END)) < 0)
        return CM_EAGAIN;
    if ((!sp->torn || cm_spool_write(sp->fd, "\n", 1, 0) == CM_OK) &&
        cm_spool_write(sp->fd, b->p, b->len, 1) == CM_OK) {
        *size = (uint64_t)start + b->len + (uint64_t)sp->torn;
        sp->torn = 0;
        return CM_OK;
    }
    if (ftruncate(sp->fd, start) != 0)
        sp->torn = 1;
    return CM_EAGAIN;
}

int cm_spool_log_failed(struct cm_spool *sp, struct cm_spool_repo *r, const char *error)
{
    struct cm_buf b = {0};
    char when[32], acc[32];
    int rc = CM_OK;

    cm_format_time((long long)time(NULL), when, sizeof(when));
    for (struct cm_spool_link *l = r->claimed.next; rc == CM_OK && l != &r->claimed; l = l->next) {
        struct cm_spool_entry *e = CM_SPOOL_CONTAINER(l, struct cm_spool_entry, link);
        cm_format_time(e->accepted_at, acc, sizeof(acc));
        rc = cm_buf_printf(&b, "{\"failed_at\":\"%s\",\"id\":%" PRIu64 ",\"repository\":", when,
                           e->id);
        if (rc == CM_OK)
            rc = cm_buf_json_str(&b, r->key);
        if (rc == CM_OK)
            rc = cm_buf_printf(&b, ",\"accepted_at\":\"%s\",\"attempts\":%d,\"error\":", acc,
                               e->attempts + 1);
        if (rc == CM_OK)
            rc = cm_buf_json_str(&b, error ? error : "given up");
        if (rc == CM_OK)
            rc = cm_buf_printf(&b, ",\"event\":%s}\n", e->json);
    }
    if (rc == CM_OK && cm_spool_write(sp->failed_fd, b.p, b.len, 1) != CM_OK)
        rc = CM_EAGAIN;
    free(b.p);
    return rc;
}

/* --- replay ----------------------------------------------------------------------------- */

static char *sj_field(char **p)
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

static int sj_num(const char *s, long long *out)
{
    char *end;
    if (!s || !*s)
        return 0;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !*end && !errno;
}

/* Remember a durable delivery id from the journal, unless it is too old or already known. */
static int sj_replay_dkey(struct cm_spool *sp, const char *key, long long at, long long now)
{
    if (now - at > sp->max_age || cm_spool_dkey_find(sp, key))
        return CM_OK;
    return cm_spool_dkey_add(sp, key, at, 0);
}

static int sj_replay_accept(struct cm_spool *sp, char *rest, long long now)
{
    long long id, at;
    char *fid = sj_field(&rest), *fat = sj_field(&rest), *key = sj_field(&rest);
    char *dkey = sj_field(&rest), *json = rest;
    struct cm_spool_entry *e;

    if (!sj_num(fid, &id) || id <= 0 || !sj_num(fat, &at) || !key || !dkey || !json ||
        !(key = cm_spool_decode(key)) || sj_entry_find(sp, (uint64_t)id))
        return CM_EINVAL;
    if ((dkey = cm_spool_decode(dkey)) && sj_replay_dkey(sp, dkey, at, now) != CM_OK)
        return CM_ENOMEM;
    if (!(e = calloc(1, sizeof(*e))) || !(e->json = strdup(json)) ||
        !(e->repo = cm_spool_repo_get(sp, key))) {
        cm_spool_entry_free(e);
        return CM_ENOMEM;
    }
    e->id = (uint64_t)id;
    e->accepted_at = at;
    cm_spool_count(sp, e->repo, 1);
    cm_spool_publish(sp, e);
    cm_spool_repo_settle(sp, e->repo);
    return CM_OK;
}

static int sj_replay_retry(struct cm_spool *sp, char *id, char *rest)
{
    char *fa = sj_field(&rest), *fnb = sj_field(&rest), *err;
    long long a, b, c;
    struct cm_spool_entry *e;

    if (!sj_num(id, &a) || !sj_num(fa, &b) || !sj_num(fnb, &c) || !rest)
        return CM_EINVAL;
    if (!(e = sj_entry_find(sp, (uint64_t)a)))
        return CM_OK;
    err = cm_spool_decode(rest);
    free(e->error);
    if ((e->error = err ? strdup(err) : NULL) == NULL && err)
        return CM_ENOMEM;
    e->attempts = (int)b;
    e->not_before = c;
    e->repo->not_before = c; /* the latest retry of the repository decides */
    return CM_OK;
}

/* Apply one checked record; CM_EINVAL for one that makes no sense (skipped). */
static int sj_replay_record(struct cm_spool *sp, char *p, long long now)
{
    char *type = sj_field(&p), *f1;
    long long a;
    struct cm_spool_entry *e;

    if (!type || strlen(type) != 1)
        return CM_EINVAL;
    if (type[0] == 'A')
        return sj_replay_accept(sp, p, now);
    f1 = sj_field(&p);
    switch (type[0]) {
    case 'K':
        if (!sj_num(f1, &a) || !p || !(f1 = cm_spool_decode(p)))
            return CM_EINVAL;
        return sj_replay_dkey(sp, f1, a, now);
    case 'N':
        if (sj_num(f1, &a) && (uint64_t)a > sp->next_id)
            sp->next_id = (uint64_t)a;
        return CM_OK;
    case 'D':
    case 'F':
        if (sj_num(f1, &a) && (e = sj_entry_find(sp, (uint64_t)a))) {
            struct cm_spool_repo *r = e->repo;
            cm_spool_entry_drop(sp, e, 1);
            cm_spool_repo_settle(sp, r);
        }
        return CM_OK;
    case 'T': return sj_replay_retry(sp, f1, p);
    default: return CM_EINVAL;
    }
}

/* Replay a journal image; lines that do not check out (a torn tail) are skipped. */
static int sj_replay(struct cm_spool *sp, char *data, size_t len)
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
        if (strlen(payload) != plen || crc != cm_spool_crc32(payload, (size_t)plen))
            continue;
        if (sj_replay_record(sp, payload, now) == CM_ENOMEM)
            return CM_ENOMEM;
    }
    cm_spool_dkey_expire(sp, now);
    return CM_OK;
}

int cm_spool_journal_load(struct cm_spool *sp, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len;
    int rc;

    if ((rc = cm_spool_read_file(sp->journal, &data, &len)) != CM_OK)
        snprintf(err, errlen, "cannot read %s: %s", sp->journal, strerror(errno));
    else if ((rc = sj_replay(sp, data, len)) != CM_OK)
        snprintf(err, errlen, "out of memory replaying %s", sp->journal);
    free(data);
    return rc;
}
