/* SPDX-License-Identifier: MIT */
/*
 * The core's one hex code: digit values, the check that a string is all hex, and encoding and
 * decoding bytes. Commit ids, signatures, %XX escapes and digests all go through it.
 */
#ifndef CM_HEX_H
#define CM_HEX_H

#include <stddef.h>

/* The value of hex digit c (either case), or -1 when c is none. */
int cm_hex_digit(int c);

/* 1 when s holds from min to max hex digits (either case) and nothing else, else 0 (also for
 * s NULL). */
int cm_hex_check(const char *s, size_t min, size_t max);

/* The len bytes at bin as 2 * len lowercase hex digits and a NUL into out, which holds
 * 2 * len + 1 bytes. */
void cm_hex_encode(const void *bin, size_t len, char *out);

/* The 2 * len hex digits (either case) at hex as len bytes into out. CM_OK, or CM_EINVAL
 * when one of them is not a hex digit (out is then partly written). */
int cm_hex_decode(const char *hex, size_t len, unsigned char *out);

#endif
