/* SPDX-License-Identifier: MIT */
/*
 * A keyed hash for hash tables whose keys come from senders (delivery ids, repository and ref
 * names): SipHash-1-3 under a per-process random key, so nobody outside can choose keys that
 * all land in one bucket and turn look-ups into walks.
 */
#ifndef CM_KEYED_HASH_H
#define CM_KEYED_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The hash of the n bytes at p under this process's key (thread-safe; the key is drawn once). */
uint64_t cm_keyed_hash(const void *p, size_t n);

#endif
