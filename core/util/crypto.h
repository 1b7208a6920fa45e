/* SPDX-License-Identifier: MIT */
/*
 * Signature primitives for the providers, all constant time where a secret is compared.
 * The only file that includes OpenSSL.
 */
#ifndef CM_CRYPTO_H
#define CM_CRYPTO_H

#include <stddef.h>

/* Raw HMAC into out (64 bytes at least); returns digest length, CM_EINVAL for unknown algo. */
int cm_crypto_hmac(const char *algo, const void *key, size_t keylen, const void *msg, size_t len,
                   unsigned char *out);
/* CM_OK when hex is HMAC-algo(secret, msg), compared in constant time; else CM_EAUTH. */
int cm_crypto_hmac_verify(const char *algo, const char *secret, const void *msg, size_t len,
                          const char *hex);
/* The lowercase hex HMAC into out (129 bytes at least). */
int cm_crypto_hmac_hex(const char *algo, const char *secret, const void *msg, size_t len,
                       char *out);
/* 1 when equal, in time independent of where they differ. */
int cm_crypto_mem_equal(const void *a, const void *b, size_t len);
/* 1 when the strings are equal; time depends only on the presented length. */
int cm_crypto_str_equal(const char *secret, const char *presented);
long cm_crypto_base64_decode(const char *in, size_t inlen, unsigned char *out);
void cm_crypto_base64_encode(const void *in, size_t len, char *out);
/* Lowercase hex digest ("sha1" or "sha256") of data, or of a file's content read in pieces,
 * into out (129 bytes at least). CM_OK, CM_EINVAL for another algo, CM_ENOENT for a missing
 * file, CM_ERROR when it cannot be read. */
int cm_crypto_digest_hex(const char *algo, const void *data, size_t len, char *out);
int cm_crypto_digest_file_hex(const char *algo, const char *path, char *out);
/* Fill buf with len random bytes; CM_OK or CM_ERROR. */
int cm_crypto_random(void *buf, size_t len);

#endif
