/* SPDX-License-Identifier: MIT */
/*
 * The spool's generic tools (see spool_util.h): buffers, lists, hash tables, CRC32, field
 * encoding and whole-file reads and writes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fdatasync */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/spool_util.h"
#include "util/fsutil.h"
#include "util/hex.h"
#include "util/keyed_hash.h"

size_t cm_spool_list_len(const struct cm_spool_link *h)
{
    size_t n = 0;
    for (const struct cm_spool_link *l = h->next; l != h; l = l->next)
        n++;
    return n;
}

void cm_spool_list_splice(struct cm_spool_link *dst, struct cm_spool_link *src, int front)
{
    if (cm_spool_list_empty(src))
        return;
    struct cm_spool_link *first = src->next, *last = src->prev;
    struct cm_spool_link *before = front ? dst : dst->prev, *after = before->next;
    before->next = first;
    first->prev = before;
    last->next = after;
    after->prev = last;
    cm_spool_list_init(src);
}

static int su_ht_grow(struct cm_spool_htab *t, size_t nb)
{
    struct cm_spool_hnode **b = calloc(nb, sizeof(*b));
    if (!b)
        return CM_ENOMEM;
    for (size_t i = 0; i < t->nb; i++)
        for (struct cm_spool_hnode *n = t->b[i], *nx; n; n = nx) {
            nx = n->next;
            n->next = b[n->h & (nb - 1)];
            b[n->h & (nb - 1)] = n;
        }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return CM_OK;
}

int cm_spool_ht_init(struct cm_spool_htab *t)
{
    *t = (struct cm_spool_htab){0};
    return su_ht_grow(t, 64);
}

void cm_spool_ht_add(struct cm_spool_htab *t, struct cm_spool_hnode *n, uint64_t h)
{
    if (t->n >= t->nb)
        su_ht_grow(t, t->nb * 2); /* a full table only gets slower */
    n->h = h;
    n->next = t->b[h & (t->nb - 1)];
    t->b[h & (t->nb - 1)] = n;
    t->n++;
}

struct cm_spool_hnode *cm_spool_ht_find(const struct cm_spool_htab *t, uint64_t h,
                                        cm_spool_ht_match_fn match, const void *arg)
{
    for (struct cm_spool_hnode *n = t->b[h & (t->nb - 1)]; n; n = n->next)
        if (n->h == h && match(n, arg))
            return n;
    return NULL;
}

void cm_spool_ht_del(struct cm_spool_htab *t, struct cm_spool_hnode *n)
{
    struct cm_spool_hnode **pp = &t->b[n->h & (t->nb - 1)];
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    t->n--;
}

/* Delivery ids, repository and endpoint names come from senders: keyed, so none can make
 * the spool's tables walk one long chain (util/keyed_hash.h). */
uint64_t cm_spool_hash_str(const char *s)
{
    return cm_keyed_hash(s, strlen(s));
}

uint64_t cm_spool_hash_mem(const char *s, size_t n)
{
    return cm_keyed_hash(s, n);
}

uint64_t cm_spool_hash_u64(uint64_t v)
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

uint32_t cm_spool_crc32(const char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    pthread_once(&su_crc_once, su_crc_init);
    for (size_t i = 0; i < n; i++)
        c = su_crc_table[(c ^ (unsigned char)p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

char *cm_spool_encode(const char *s)
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

char *cm_spool_decode(char *s)
{
    char *o = s;
    if (!strcmp(s, "-"))
        return NULL;
    for (char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = cm_hex_digit((unsigned char)p[1])) >= 0 &&
            (lo = cm_hex_digit((unsigned char)p[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return s;
}

char *cm_spool_join(const char *a, const char *b)
{
    size_t len = strlen(a) + strlen(b) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", a, b);
    return p;
}

int cm_spool_write(int fd, const char *p, size_t n, int sync)
{
    if (cm_fs_write_all(fd, p, n) != 0)
        return CM_EAGAIN;
    return sync && fdatasync(fd) != 0 ? CM_EAGAIN : CM_OK;
}

int cm_spool_read_file(const char *path, char **out, size_t *len)
{
    struct cm_buf b = {0};
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
        if ((rc = cm_buf_append(&b, chunk, (size_t)n)) != CM_OK)
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
