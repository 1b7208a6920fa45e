/* SPDX-License-Identifier: MIT */
/*
 * The local spool on disk: the journal's record format, writing a batch durably, replay at
 * open, the snapshot rewrite that compacts the journal, and failed.log, the record of what
 * was given up.
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
        !(key = cm_spool_decode(key)) || cm_spool_entry_find(sp, (uint64_t)id))
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
    e->accepted_ms = at * 1000;
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
    if (!(e = cm_spool_entry_find(sp, (uint64_t)a)))
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
        if (sj_num(f1, &a) && (e = cm_spool_entry_find(sp, (uint64_t)a))) {
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
