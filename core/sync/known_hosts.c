/* SPDX-License-Identifier: MIT */
/*
 * OpenSSH known_hosts lookups for SSH fetches: the same rules ssh applies (host patterns with
 * wildcards and negation, hashed names, [host]:port for other ports, @revoked), so a file
 * made with ssh-keyscan or copied from ~/.ssh works unchanged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "sync/known_hosts.h"
#include "util/crypto.h"

/* ssh's own pattern rules: only '*' and '?' are special (so "[host]:port" is literal), and
 * case does not matter. */
static int kh_glob(const char *pat, const char *s)
{
    for (; *pat; pat++, s++) {
        if (*pat == '*') {
            for (pat++;; s++) {
                if (kh_glob(pat, s))
                    return 1;
                if (!*s)
                    return 0;
            }
        }
        if (!*s || (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s)))
            return 0;
    }
    return *s == '\0';
}

/* 1 when the comma-separated host patterns of a known_hosts line name `name`. */
static int kh_names(char *patterns, const char *name)
{
    int hit = 0;

    for (char *save = NULL, *pat = strtok_r(patterns, ",", &save); pat;
         pat = strtok_r(NULL, ",", &save)) {
        if (!strncmp(pat, "|1|", 3)) {
            char *salt64 = pat + 3, *hash64 = strchr(salt64, '|');
            unsigned char salt[64], hash[64], mac[64];
            long sl, hl;

            if (!hash64 || (size_t)(hash64 - salt64) > 80 || strlen(hash64 + 1) > 80)
                continue;
            *hash64++ = '\0';
            sl = cm_crypto_base64_decode(salt64, strlen(salt64), salt);
            hl = cm_crypto_base64_decode(hash64, strlen(hash64), hash);
            if (sl > 0 && hl == 20 &&
                cm_crypto_hmac("sha1", salt, (size_t)sl, name, strlen(name), mac) == 20 &&
                cm_crypto_mem_equal(mac, hash, 20))
                hit = 1;
        } else if (*pat == '!') {
            if (kh_glob(pat + 1, name))
                return 0;
        } else if (kh_glob(pat, name)) {
            hit = 1;
        }
    }
    return hit;
}

/* The key type at the start of an SSH public key blob ("ssh-ed25519"...). */
static int kh_key_type(const unsigned char *blob, size_t len, char *out, size_t outlen)
{
    size_t n;

    if (len < 4)
        return -1;
    n = (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3];
    if (n + 4 > len || n >= outlen)
        return -1;
    memcpy(out, blob + 4, n);
    out[n] = '\0';
    return 0;
}

enum cm_kh_result cm_known_hosts_check(const char *file, const char *name, const unsigned char *key,
                                       size_t keylen)
{
    FILE *f = fopen(file, "re");
    char *line = NULL, type[64];
    size_t cap = 0;
    enum cm_kh_result why = CM_KH_UNKNOWN;
    int matched = 0;

    if (!f)
        return CM_KH_NOFILE;
    if (kh_key_type(key, keylen, type, sizeof(type)) != 0) {
        fclose(f);
        return CM_KH_UNKNOWN;
    }
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save), *kt, *k64;
        int revoked = 0;
        unsigned char *blob;
        long bl;

        if (!tok || *tok == '#')
            continue;
        if (*tok == '@') {
            revoked = !strcmp(tok, "@revoked");
            if (!revoked) /* @cert-authority: host certificates are not used here */
                continue;
            tok = strtok_r(NULL, " \t\r\n", &save);
        }
        kt = strtok_r(NULL, " \t\r\n", &save);
        k64 = strtok_r(NULL, " \t\r\n", &save);
        if (!tok || !kt || !k64 || !kh_names(tok, name) || strcmp(kt, type) != 0)
            continue;
        blob = malloc(3 * (strlen(k64) / 4) + 3);
        if (!blob)
            break;
        bl = cm_crypto_base64_decode(k64, strlen(k64), blob);
        if (bl == (long)keylen && !memcmp(blob, key, keylen)) {
            if (revoked)
                why = CM_KH_REVOKED;
            else if (!matched)
                matched = 1;
        } else if (!revoked && why == CM_KH_UNKNOWN) {
            why = CM_KH_CHANGED;
        }
        free(blob);
        if (why == CM_KH_REVOKED)
            break;
    }
    free(line);
    fclose(f);
    if (why == CM_KH_REVOKED)
        return why;
    return matched ? CM_KH_MATCH : why;
}

void cm_known_hosts_name(const char *host, int port, char *out, size_t outlen)
{
    if (port == 22)
        snprintf(out, outlen, "%s", host);
    else
        snprintf(out, outlen, "[%s]:%d", host, port);
}

void cm_known_hosts_fingerprint(const unsigned char sha256[32], char *out, size_t outlen)
{
    char b64[48];

    cm_crypto_base64_encode(sha256, 32, b64);
    b64[strcspn(b64, "=")] = '\0';
    snprintf(out, outlen, "SHA256:%s", b64);
}
