/* SPDX-License-Identifier: MIT */
/*
 * SipHash-1-3 with a per-process random key (keyed_hash.h), for the hash tables whose keys a
 * sender chooses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrandom */
#endif
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/keyed_hash.h"

static uint64_t kh_key[2];
static pthread_once_t kh_key_once = PTHREAD_ONCE_INIT;

static void kh_key_init(void)
{
    if (getrandom(kh_key, sizeof(kh_key), 0) != (ssize_t)sizeof(kh_key)) {
        /* No entropy yet: still correct, only predictable. */
        kh_key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
        kh_key[1] = (uint64_t)getpid() * 0xc2b2ae3d27d4eb4fULL;
    }
}

#define KH_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define KH_SIPROUND                                                                                \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = KH_ROTL(v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = KH_ROTL(v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = KH_ROTL(v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = KH_ROTL(v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = KH_ROTL(v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = KH_ROTL(v2, 32);                                                                      \
    } while (0)

uint64_t cm_keyed_hash(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t v0, v1, v2, v3, m, b = (uint64_t)len << 56;
    size_t i;

    pthread_once(&kh_key_once, kh_key_init);
    v0 = kh_key[0] ^ 0x736f6d6570736575ULL;
    v1 = kh_key[1] ^ 0x646f72616e646f6dULL;
    v2 = kh_key[0] ^ 0x6c7967656e657261ULL;
    v3 = kh_key[1] ^ 0x7465646279746573ULL;
    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&m, s + i, 8);
        v3 ^= m;
        KH_SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < len; k++)
        b |= (uint64_t)s[i + k] << (8 * k);
    v3 ^= b;
    KH_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    KH_SIPROUND;
    KH_SIPROUND;
    KH_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
