/* SPDX-License-Identifier: MIT */
/*
 * The growable byte string (buf.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static int buf_reserve(struct cm_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return CM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return CM_ENOMEM;
    b->p = p;
    b->cap = cap;
    return CM_OK;
}

int cm_buf_append(struct cm_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != CM_OK)
        return CM_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return CM_OK;
}

int cm_buf_vprintf(struct cm_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CM_ERROR;
    if (buf_reserve(b, (size_t)n) != CM_OK)
        return CM_ENOMEM;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CM_OK;
}

int cm_buf_printf(struct cm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cm_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int cm_buf_json_str(struct cm_buf *b, const char *s)
{
    int rc = cm_buf_append(b, "\"", 1);
    for (; rc == CM_OK && s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = cm_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = cm_buf_printf(b, "\\u%04x", c);
        else
            rc = cm_buf_append(b, s, 1);
    }
    return rc == CM_OK ? cm_buf_append(b, "\"", 1) : rc;
}
