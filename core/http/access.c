/* SPDX-License-Identifier: MIT */
/*
 * The access policy of the GET routes: the operator routes' Bearer token (or loopback), and
 * the read tokens of the routes sync plugins serve. Pure functions over header values, so the
 * policy is tested without a server; every comparison runs in constant time.
 */
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "http/server.h"
#include "util/crypto.h"

int cm_http_admin_access(const char *token, const char *authorization,
                         const struct sockaddr *client)
{
    if (!token)
        return cm_cidr_is_loopback(client) ? 0 : 403;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7))
        return 401;
    authorization += 7;
    while (*authorization == ' ')
        authorization++;
    return cm_crypto_str_equal(token, authorization) ? 0 : 401;
}

/* Every entry is compared, whichever matches, so the time says nothing about which did. */
static int basic_ok(char *const *tokens, size_t n, const char *b64)
{
    unsigned char dec[1024];
    long len;
    int ok = 0;

    if (strlen(b64) > 4 * (sizeof(dec) / 3) - 8 ||
        (len = cm_crypto_base64_decode(b64, strlen(b64), dec)) < 0 ||
        memchr(dec, '\0', (size_t)len)) /* compared as a string, "user:token\0x" would pass */
        return 0;
    dec[len] = '\0';
    for (size_t i = 0; i < n; i++)
        ok |= cm_crypto_str_equal(tokens[i], (const char *)dec);
    return ok;
}

static int bearer_ok(char *const *tokens, size_t n, const char *token)
{
    int ok = 0;

    while (*token == ' ')
        token++;
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(tokens[i], ':');
        ok |= colon && *token && cm_crypto_str_equal(colon + 1, token);
    }
    return ok;
}

int cm_http_token_access(char *const *tokens, size_t n, const char *authorization)
{
    if (!n)
        return 1;
    if (!authorization)
        return 0;
    if (!strncasecmp(authorization, "Basic ", 6))
        return basic_ok(tokens, n, authorization + 6);
    if (!strncasecmp(authorization, "Bearer ", 7))
        return bearer_ok(tokens, n, authorization + 7);
    return 0;
}
