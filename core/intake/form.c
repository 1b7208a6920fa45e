/* SPDX-License-Identifier: MIT */
/*
 * Form bodies (application/x-www-form-urlencoded), as Bitbucket and GitHub may send them:
 * exactly one payload=<JSON> field, %-decoded, so every byte of the event comes from the field
 * the signature covered.
 */
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "intake/form.h"
#include "util/hex.h"

static int form_decode(const char *s, size_t len, char **out, size_t *outlen)
{
    char *d = malloc(len + 1);
    size_t n = 0;
    if (!d)
        return CM_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            d[n++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < len ? cm_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? cm_hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return CM_EINVAL;
            }
            d[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[n++] = s[i];
        }
    }
    d[n] = '\0';
    *out = d;
    *outlen = n;
    return CM_OK;
}

int cm_form_payload(const char *form, size_t len, char **out, size_t *outlen, const char **why)
{
    static const char key[] = "payload=";
    size_t i = 0;

    while (i < len && (form[i] == ' ' || form[i] == '\t' || form[i] == '\r' || form[i] == '\n'))
        i++;
    if (i < len && (form[i] == '{' || form[i] == '[')) {
        *why = "the body is JSON but Content-Type says application/x-www-form-urlencoded";
        return CM_EINVAL;
    }
    if (len < sizeof(key) - 1 || memcmp(form, key, sizeof(key) - 1)) {
        *why = "a form body must be exactly one payload=<JSON> field";
        return CM_EINVAL;
    }
    if (memchr(form, '&', len) || memchr(form + sizeof(key) - 1, '=', len - (sizeof(key) - 1))) {
        *why = "a form body must be exactly one payload=<JSON> field, with no other fields";
        return CM_EINVAL;
    }
    int rc = form_decode(form + sizeof(key) - 1, len - (sizeof(key) - 1), out, outlen);
    if (rc == CM_EINVAL)
        *why = "the form body has a broken %-escape";
    return rc;
}
