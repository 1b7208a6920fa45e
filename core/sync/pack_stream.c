/* SPDX-License-Identifier: MIT */
/*
 * A blob stored whole in a git pack, found through the pack's .idx (version 2) and inflated
 * with zlib in fixed-size pieces read with pread: no mapping, so no pack pages stay in memory.
 * Every offset and length read from a file is checked against that file's size. The object id
 * is not hashed again (OpenSSL stays in util/crypto.c): the indexer hashed every object when the
 * pack arrived, and the .idx's CRC-32 of the packed bytes with zlib's Adler-32 of the inflated
 * ones catch what the disk did since. A forged pack needs write access to the mirror anyway.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cargoman/plugin.h"
#include "sync/pack_stream.h"

#define PS_SUM 20              /* a SHA-1, as pack and index trailers hold it */
#define PS_IDX_HEAD (8 + 1024) /* magic, version, 256 fanout counts */
#define PS_PACK_HEAD 12        /* "PACK", version, object count */
#define PS_HDR_MAX 10          /* entry header bytes: type and a 64-bit size */
#define PS_OBJ_BLOB 3          /* pack entry types */
#define PS_OBJ_OFS_DELTA 6
#define PS_OBJ_REF_DELTA 7

struct cm_pack_blob {
    int fd;                        /* the .pack, read with pread only */
    unsigned long long end;        /* where the entries end: the pack's size less its trailer */
    unsigned long long start;      /* the entry's first header byte */
    unsigned char hdr[PS_HDR_MAX]; /* the entry header, part of what the CRC covers */
    unsigned hdr_len;
    unsigned long long size; /* inflated size, from the header */
    uint32_t crc;            /* the .idx's CRC-32 of the packed entry (header and zlib data) */
    int used;                /* read once: the stream is not rewound */
};

/* What one .idx says of the object. */
struct ps_hit {
    unsigned long long off;
    uint32_t crc;
    unsigned char pack_sum[PS_SUM]; /* the checksum of the .pack this index describes */
};

static uint32_t ps_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* All len bytes at off, or -1 (a short read is an error: the file is shorter than it says). */
static int ps_pread(int fd, void *buf, size_t len, unsigned long long off)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (unsigned long long)n;
    }
    return 0;
}

/* The pack offset of entry i; tables start at t (n entries each), the 64-bit table has `large`
 * entries. CM_ERROR when it points outside that table. */
static int ps_idx_offset(int fd, unsigned long long t, unsigned long long n,
                         unsigned long long large, unsigned long long i, unsigned long long *off)
{
    unsigned char b[8];
    uint32_t o;

    if (ps_pread(fd, b, 4, t + 24 * n + 4 * i) != 0)
        return CM_ERROR;
    o = ps_be32(b);
    if (!(o & 0x80000000u)) {
        *off = o;
        return CM_OK;
    }
    o &= 0x7fffffffu;
    if (o >= large || ps_pread(fd, b, 8, t + 28 * n + 8ull * o) != 0)
        return CM_ERROR;
    *off = (unsigned long long)ps_be32(b) << 32 | ps_be32(b + 4);
    return CM_OK;
}

/* Look id up in one .idx. CM_OK with *hit, CM_ENOENT when not there, CM_EIGNORE for an index
 * that is not version 2, CM_ERROR when malformed. */
static int ps_idx_find(int fd, const unsigned char id[20], struct ps_hit *hit)
{
    static const unsigned char magic[4] = {0xff, 't', 'O', 'c'};
    unsigned char head[PS_IDX_HEAD], oid[PS_SUM], b[4];
    unsigned long long lo, hi, n, fixed, t = PS_IDX_HEAD;
    struct stat st;

    if (fstat(fd, &st) != 0 || st.st_size < PS_IDX_HEAD + 2 * PS_SUM ||
        ps_pread(fd, head, sizeof(head), 0) != 0)
        return CM_ERROR;
    if (memcmp(head, magic, 4) != 0 || ps_be32(head + 4) != 2)
        return CM_EIGNORE; /* version 1 has no magic; later ones we do not know */
    n = ps_be32(head + 8 + 4 * 255);
    lo = id[0] ? ps_be32(head + 8 + 4 * (id[0] - 1)) : 0;
    hi = ps_be32(head + 8 + 4 * id[0]);
    /* ids, CRCs and 32-bit offsets, then the two checksums: what a valid index must hold. */
    fixed = PS_IDX_HEAD + 28 * n + 2 * PS_SUM;
    if (lo > hi || hi > n || (unsigned long long)st.st_size < fixed)
        return CM_ERROR;
    while (lo < hi) {
        unsigned long long mid = lo + (hi - lo) / 2;
        int c;

        if (ps_pread(fd, oid, PS_SUM, t + PS_SUM * mid) != 0)
            return CM_ERROR;
        c = memcmp(id, oid, PS_SUM);
        if (c == 0) {
            if (ps_pread(fd, b, 4, t + PS_SUM * n + 4 * mid) != 0 ||
                ps_idx_offset(fd, t, n, ((unsigned long long)st.st_size - fixed) / 8, mid,
                              &hit->off) != CM_OK ||
                ps_pread(fd, hit->pack_sum, PS_SUM, (unsigned long long)st.st_size - 2 * PS_SUM) !=
                    0)
                return CM_ERROR;
            hit->crc = ps_be32(b);
            return CM_OK;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return CM_ENOENT;
}

/* Parse the entry header in b->hdr (as many bytes as the pack had, up to PS_HDR_MAX).
 * CM_OK for a whole blob, CM_EIGNORE for a delta or another type, CM_ERROR when malformed. */
static int ps_entry_header(struct cm_pack_blob *b, size_t avail)
{
    unsigned type = (b->hdr[0] >> 4) & 7, shift = 4, i = 0;
    unsigned long long size = b->hdr[0] & 15;

    while (b->hdr[i] & 0x80) {
        unsigned long long part;

        if (++i >= avail)
            return CM_ERROR; /* longer than a 64-bit size needs, or past the pack's end */
        part = b->hdr[i] & 0x7f;
        if (shift >= 64 || (shift > 57 && part >> (64 - shift)))
            return CM_ERROR;
        size |= part << shift;
        shift += 7;
    }
    b->hdr_len = i + 1;
    b->size = size;
    if (type == PS_OBJ_BLOB)
        return CM_OK;
    if (type == PS_OBJ_OFS_DELTA || type == PS_OBJ_REF_DELTA || (type >= 1 && type <= 4))
        return CM_EIGNORE;
    return CM_ERROR; /* 0 and 5 are no type */
}

/* Open the .pack that hit's index described and read the entry's header into b. */
static int ps_pack_open(struct cm_pack_blob *b, const char *path, const struct ps_hit *hit)
{
    unsigned char head[PS_PACK_HEAD], sum[PS_SUM];
    struct stat st;
    size_t avail;

    b->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (b->fd < 0)
        return errno == ENOENT ? CM_EIGNORE : CM_ERROR; /* removed since the index was read */
    if (fstat(b->fd, &st) != 0 || st.st_size < PS_PACK_HEAD + PS_SUM ||
        ps_pread(b->fd, head, sizeof(head), 0) != 0 || memcmp(head, "PACK", 4) != 0 ||
        (ps_be32(head + 4) != 2 && ps_be32(head + 4) != 3) ||
        ps_pread(b->fd, sum, sizeof(sum), (unsigned long long)st.st_size - PS_SUM) != 0 ||
        memcmp(sum, hit->pack_sum, PS_SUM) != 0)
        return CM_ERROR;
    b->end = (unsigned long long)st.st_size - PS_SUM;
    if (hit->off < PS_PACK_HEAD || hit->off >= b->end)
        return CM_ERROR;
    b->start = hit->off;
    b->crc = hit->crc;
    avail = b->end - b->start < PS_HDR_MAX ? (size_t)(b->end - b->start) : PS_HDR_MAX;
    if (ps_pread(b->fd, b->hdr, avail, b->start) != 0)
        return CM_ERROR;
    return ps_entry_header(b, avail);
}

/* Try one .idx (name in dir, ending in ".idx"); CM_ENOENT when it does not hold id. */
static int ps_try_index(struct cm_pack_blob *b, const char *dir, const char *name,
                        const unsigned char id[20])
{
    char path[4096];
    int base = (int)strlen(name) - 4, fd, rc;
    struct ps_hit hit;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return CM_ERROR;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CM_ENOENT : CM_ERROR;
    rc = ps_idx_find(fd, id, &hit);
    close(fd);
    if (rc != CM_OK)
        return rc;
    if ((size_t)snprintf(path, sizeof(path), "%s/%.*s.pack", dir, base, name) >= sizeof(path))
        return CM_ERROR;
    return ps_pack_open(b, path, &hit);
}

int cm_pack_blob_open(struct cm_pack_blob **out, const char *objects_dir,
                      const unsigned char id[20])
{
    struct cm_pack_blob *b = calloc(1, sizeof(*b));
    char dir[4096];
    struct dirent *d;
    DIR *dh = NULL;
    int rc = CM_EIGNORE;

    *out = NULL;
    if (!b)
        return CM_ENOMEM;
    b->fd = -1;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/pack", objects_dir) >= sizeof(dir) ||
        !(dh = opendir(dir)))
        goto out; /* no pack: every object is loose */
    while ((d = readdir(dh))) {
        size_t len = strlen(d->d_name);
        int r;

        if (len < 5 || strcmp(d->d_name + len - 4, ".idx") != 0)
            continue;
        r = ps_try_index(b, dir, d->d_name, id);
        if (r == CM_ENOENT || (r == CM_EIGNORE && b->fd < 0))
            continue; /* not here, or an index we do not read: another pack may hold it */
        rc = r;
        break;
    }
out:
    if (dh)
        closedir(dh);
    if (rc == CM_OK)
        *out = b;
    else
        cm_pack_blob_free(b);
    return rc;
}

unsigned long long cm_pack_blob_size(const struct cm_pack_blob *b)
{
    return b->size;
}

/* Feed zlib the next piece of packed bytes, never past the pack's entries. */
static int ps_fill(struct cm_pack_blob *b, z_stream *zs, unsigned char *in, unsigned long long *pos)
{
    size_t n = b->end - *pos < CM_PACK_CHUNK ? (size_t)(b->end - *pos) : CM_PACK_CHUNK;

    if (ps_pread(b->fd, in, n, *pos) != 0)
        return CM_ERROR;
    *pos += n;
    zs->next_in = in;
    zs->avail_in = (uInt)n;
    return CM_OK;
}

/* Inflate from zs (already initialised) to sink until the zlib stream ends. */
static int ps_inflate(struct cm_pack_blob *b, z_stream *zs, unsigned char *in, unsigned char *out,
                      cm_pack_sink sink, void *arg)
{
    unsigned long long pos = b->start + b->hdr_len, sent = 0;
    uLong crc = crc32(0L, b->hdr, b->hdr_len);
    int zr = Z_OK, rc;

    while (zr != Z_STREAM_END) {
        const unsigned char *before;
        size_t n;

        /* At the pack's end zlib may still hold output; it says Z_BUF_ERROR when it needs more. */
        if (zs->avail_in == 0 && pos < b->end && (rc = ps_fill(b, zs, in, &pos)) != CM_OK)
            return rc;
        before = zs->next_in;
        zs->next_out = out;
        zs->avail_out = CM_PACK_CHUNK;
        zr = inflate(zs, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END)
            return CM_ERROR; /* corrupt, or Z_BUF_ERROR: the entry runs past the pack */
        /* Only what zlib consumed is the entry's: the rest of a piece is the next entry. */
        crc = crc32(crc, before, (uInt)(zs->next_in - before));
        n = CM_PACK_CHUNK - zs->avail_out;
        if (n > b->size - sent)
            return CM_ERROR; /* more than the header said */
        if (n > 0 && (rc = sink(arg, out, n)) != 0)
            return rc;
        sent += n;
    }
    return sent == b->size && crc == b->crc ? CM_OK : CM_ERROR;
}

int cm_pack_blob_read(struct cm_pack_blob *b, cm_pack_sink sink, void *arg)
{
    unsigned char *in = malloc(CM_PACK_CHUNK), *out = malloc(CM_PACK_CHUNK);
    z_stream zs;
    int rc = CM_ENOMEM;

    memset(&zs, 0, sizeof(zs));
    if (b->used) {
        rc = CM_ERROR;
        goto out;
    }
    b->used = 1;
    if (!in || !out || inflateInit(&zs) != Z_OK)
        goto out;
    rc = ps_inflate(b, &zs, in, out, sink, arg);
    inflateEnd(&zs);
out:
    free(in);
    free(out);
    return rc;
}

void cm_pack_blob_free(struct cm_pack_blob *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}
