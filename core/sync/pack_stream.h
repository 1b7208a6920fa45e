/* SPDX-License-Identifier: MIT */
/*
 * Reading a blob that a git pack stores whole (not as a delta) in fixed-size pieces, so a big
 * file costs a buffer, not its size, in memory (libgit2 1.5 reads packed objects whole). Packs
 * and their .idx files are treated as hostile input. Knows nothing of libgit2.
 */
#ifndef CM_PACK_STREAM_H
#define CM_PACK_STREAM_H

#include <stddef.h>

/* The most cm_pack_blob_read passes to its sink at once. */
#define CM_PACK_CHUNK (64 * 1024)

struct cm_pack_blob;

/* Called with the blob's bytes in order; a nonzero return stops the read and is returned. */
typedef int (*cm_pack_sink)(void *arg, const void *buf, size_t len);

/* Find the object id (20 raw bytes, SHA-1) in objects_dir/pack/ (the .idx files, version 2).
 * CM_OK with *out (the caller's, freed with cm_pack_blob_free) when a pack holds it as a whole
 * blob; CM_EIGNORE when it cannot be streamed from a pack (in no pack, a delta, not a blob, an
 * index of another version): read it another way; CM_ERROR when an index or pack that holds it
 * is malformed (an offset past its end, a bad header, the .idx not of that .pack); CM_ENOMEM. */
int cm_pack_blob_open(struct cm_pack_blob **out, const char *objects_dir,
                      const unsigned char id[20]);
/* The blob's size from its pack entry header. */
unsigned long long cm_pack_blob_size(const struct cm_pack_blob *b);
/* Inflate the blob to sink in pieces of at most CM_PACK_CHUNK bytes; once per blob. CM_OK when
 * exactly cm_pack_blob_size bytes went out, the zlib stream ended there and the packed bytes
 * match the CRC-32 the .idx recorded; CM_ERROR when the entry is truncated or corrupt (the
 * sink may have had part of it: discard what it wrote), CM_ENOMEM, or the sink's code. */
int cm_pack_blob_read(struct cm_pack_blob *b, cm_pack_sink sink, void *arg);
/* Close the pack; NULL is fine. */
void cm_pack_blob_free(struct cm_pack_blob *b);

#endif
