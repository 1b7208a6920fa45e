/* SPDX-License-Identifier: MIT */
/*
 * A delivery record's compact JSON text split in two (dlog_text.c): its keys, shared by every
 * record of the same shape, and its values, the record's own. Most of a record's text is its
 * key names; kept once per shape they cost nothing per record.
 */
#ifndef CM_DLOG_TEXT_H
#define CM_DLOG_TEXT_H

#include "util/buf.h"

/* Split json, an object as json_dumps writes it with JSON_COMPACT, into keys ("key": after
 * "key":, as written) and values (comma-separated, as written), both appended to. CM_OK,
 * CM_ENOMEM, or CM_EINVAL when json is not such an object. */
int cm_dlog_text_split(const char *json, struct cm_buf *keys, struct cm_buf *values);
/* Append to out the object text that keys and values were split from. */
int cm_dlog_text_join(const char *keys, const char *values, struct cm_buf *out);

#endif
