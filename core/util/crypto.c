/* SPDX-License-Identifier: MIT */
/*
 * HMAC, constant-time comparison and base64 on top of OpenSSL's libcrypto.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "util/crypto.h"
#include "util/hex.h"

static const EVP_MD *md_of(const char *algo)
{
    if (!algo)
        return NULL;
    if (!strcmp(algo, "sha256"))
        return EVP_sha256();
    if (!strcmp(algo, "sha1"))
        return EVP_sha1();
    if (!strcmp(algo, "sha512"))
        return EVP_sha512();
    if (!strcmp(algo, "sha384"))
        return EVP_sha384();
    return NULL;
}

int cm_crypto_hmac(const char *algo, const void *key, size_t keylen, const void *msg, size_t len,
                   unsigned char *out)
{
    const EVP_MD *md = md_of(algo);
    unsigned int n = 0;
    if (!md)
        return CM_EINVAL;
    if (!HMAC(md, key, (int)keylen, msg, len, out, &n))
        return CM_ERROR;
    return (int)n;
}

int cm_crypto_hmac_hex(const char *algo, const char *secret, const void *msg, size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    int n = cm_crypto_hmac(algo, secret, strlen(secret), msg, len, mac);
    if (n < 0)
        return n;
    cm_hex_encode(mac, (size_t)n, out);
    return CM_OK;
}

int cm_crypto_hmac_verify(const char *algo, const char *secret, const void *msg, size_t len,
                          const char *hex)
{
    unsigned char mac[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
    int n = cm_crypto_hmac(algo, secret, strlen(secret), msg, len, mac);
    if (n < 0)
        return n;
    if (!hex || strlen(hex) != (size_t)n * 2)
        return CM_EAUTH;
    if (cm_hex_decode(hex, (size_t)n, got) != CM_OK)
        return CM_EAUTH;
    return CRYPTO_memcmp(mac, got, (size_t)n) == 0 ? CM_OK : CM_EAUTH;
}

int cm_crypto_mem_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int cm_crypto_str_equal(const char *secret, const char *presented)
{
    /* Compare digests, so the time depends on neither the secret's length nor content. */
    unsigned char a[32], b[32];
    unsigned int n;
    static const unsigned char key[] = "cargoman-compare";
    if (!secret || !presented)
        return 0;
    HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)secret, strlen(secret), a, &n);
    HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)presented, strlen(presented), b,
         &n);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

long cm_crypto_base64_decode(const char *in, size_t inlen, unsigned char *out)
{
    /* EVP_DecodeBlock wants whole, padded quads: decode the whole quads where they lie and
     * pad a copy of the last few characters only, so input of any length decodes without a
     * buffer of guessed size (an RSA-8192 known_hosts key is about 1,400 characters). */
    size_t whole = inlen - inlen % 4, rest = inlen % 4, pad = (4 - rest) % 4, eq = pad;
    char tail[4];
    long n = 0;
    int m;

    if (rest == 1 || whole > INT_MAX)
        return CM_EINVAL;
    if (whole) {
        if ((m = EVP_DecodeBlock(out, (const unsigned char *)in, (int)whole)) < 0)
            return CM_EINVAL;
        n = m;
    }
    if (rest) {
        memcpy(tail, in + whole, rest);
        memset(tail + rest, '=', pad);
        if ((m = EVP_DecodeBlock(out + n, (const unsigned char *)tail, 4)) < 0)
            return CM_EINVAL;
        n += m;
    }
    /* EVP_DecodeBlock counts padding as zero bytes; drop them. */
    for (size_t i = inlen; i > 0 && in[i - 1] == '='; i--)
        eq++;
    return n - (long)eq;
}

void cm_crypto_base64_encode(const void *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int cm_crypto_random(void *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? CM_OK : CM_ERROR;
}

/* The digests plugins may ask for: sha1 (Composer's dist shasum) and sha256. */
static const EVP_MD *digest_md(const char *algo)
{
    return algo && (!strcmp(algo, "sha1") || !strcmp(algo, "sha256")) ? md_of(algo) : NULL;
}

static void to_hex(const unsigned char *in, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int cm_crypto_digest_hex(const char *algo, const void *data, size_t len, char *out)
{
    const EVP_MD *md = digest_md(algo);
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned n = 0;

    if (!md)
        return CM_EINVAL;
    if (!EVP_Digest(data, len, sum, &n, md, NULL))
        return CM_ERROR;
    to_hex(sum, n, out);
    return CM_OK;
}

int cm_crypto_digest_file_hex(const char *algo, const char *path, char *out)
{
    const EVP_MD *md = digest_md(algo);
    EVP_MD_CTX *ctx = NULL;
    unsigned char buf[65536], sum[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int fd = -1, rc = CM_ERROR;
    ssize_t got;

    if (!md)
        return CM_EINVAL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? CM_ENOENT : CM_ERROR;
    if (!(ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(ctx, md, NULL))
        goto out;
    while ((got = read(fd, buf, sizeof(buf))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 || !EVP_DigestUpdate(ctx, buf, (size_t)got))
            goto out;
    }
    if (!EVP_DigestFinal_ex(ctx, sum, &n))
        goto out;
    to_hex(sum, n, out);
    rc = CM_OK;
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}
