/* SPDX-License-Identifier: MIT */
/*
 * Hex digits (hex.h). Knows nothing of what the digits name: the callers say how long an id
 * or a digest is.
 */
#include "cargoman/plugin.h"
#include "util/hex.h"

int cm_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cm_hex_check(const char *s, size_t min, size_t max)
{
    size_t n = 0;

    if (!s)
        return 0;
    while (s[n] && cm_hex_digit((unsigned char)s[n]) >= 0)
        n++;
    return s[n] == '\0' && n >= min && n <= max;
}

void cm_hex_encode(const void *bin, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = bin;

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * len] = '\0';
}

int cm_hex_decode(const char *hex, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i++) {
        int hi = cm_hex_digit((unsigned char)hex[2 * i]);
        int lo = hi < 0 ? -1 : cm_hex_digit((unsigned char)hex[2 * i + 1]);

        if (lo < 0)
            return CM_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return CM_OK;
}
