/* SPDX-License-Identifier: MIT */
/*
 * SHA-1 (FIPS 180-4) for the "shasum" of dist zips, which Composer checks after download.
 * A plugin may link only libc, libpthread and jansson, so the digest is computed here.
 */
#include "index.h"

#include <cargoman/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct sha1_ctx {
    uint32_t h[5];
    uint64_t total;
    unsigned char block[64];
    size_t used;
};

static uint32_t sha1_rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1_ctx *c, const unsigned char *p)
{
    uint32_t w[80], a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2];

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = sha1_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & cc) | (~b & d);
            k = 0x5a827999u;
        } else if (i < 40) {
            f = b ^ cc ^ d;
            k = 0x6ed9eba1u;
        } else if (i < 60) {
            f = (b & cc) | (b & d) | (cc & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ cc ^ d;
            k = 0xca62c1d6u;
        }
        uint32_t t = sha1_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = cc;
        cc = sha1_rol(b, 30);
        b = a;
        a = t;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
}

static void sha1_init(struct sha1_ctx *c)
{
    static const uint32_t iv[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
    memcpy(c->h, iv, sizeof(iv));
    c->total = 0;
    c->used = 0;
}

static void sha1_update(struct sha1_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->total += len;
    while (len > 0) {
        size_t n = 64 - c->used;
        if (n > len)
            n = len;
        memcpy(c->block + c->used, p, n);
        c->used += n;
        p += n;
        len -= n;
        if (c->used == 64) {
            sha1_block(c, c->block);
            c->used = 0;
        }
    }
}

static void sha1_final(struct sha1_ctx *c, char hex[41])
{
    static const char digits[] = "0123456789abcdef";
    uint64_t bits = c->total * 8;
    unsigned char pad = 0x80, len[8];

    sha1_update(c, &pad, 1);
    pad = 0;
    while (c->used != 56)
        sha1_update(c, &pad, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(c, len, 8);
    for (int i = 0; i < 20; i++) {
        unsigned char byte = (unsigned char)(c->h[i / 4] >> (24 - 8 * (i % 4)));
        hex[2 * i] = digits[byte >> 4];
        hex[2 * i + 1] = digits[byte & 15];
    }
    hex[40] = '\0';
}

void cmc_sha1_hex(const void *data, size_t len, char hex[41])
{
    struct sha1_ctx c;
    sha1_init(&c);
    sha1_update(&c, data, len);
    sha1_final(&c, hex);
}

int cmc_sha1_file(const char *path, char hex[41])
{
    struct sha1_ctx c;
    unsigned char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = CM_OK;
    ssize_t n;

    if (fd < 0)
        return CM_ERROR;
    sha1_init(&c);
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = CM_ERROR;
            goto out;
        }
        sha1_update(&c, buf, (size_t)n);
    }
    sha1_final(&c, hex);
out:
    close(fd);
    return rc;
}
