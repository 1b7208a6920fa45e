/* SPDX-License-Identifier: MIT */
/*
 * A growable byte string, the one the core builds text in: spool records, expanded config
 * strings, the metrics page.
 */
#ifndef CM_BUF_H
#define CM_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "cargoman/plugin.h"

/* Zero-initialise before use; free(p) after. p is NUL-terminated once anything was added. */
struct cm_buf {
    char *p; /* owned */
    size_t len, cap;
};

/* Append n bytes of s. CM_OK or CM_ENOMEM. */
int cm_buf_append(struct cm_buf *b, const char *s, size_t n);
/* Append formatted text. CM_OK, CM_ENOMEM, or CM_ERROR for a bad format. */
int cm_buf_vprintf(struct cm_buf *b, const char *fmt, va_list ap) CM_PRINTF(2, 0);
int cm_buf_printf(struct cm_buf *b, const char *fmt, ...) CM_PRINTF(2, 3);
/* Append s (NULL as "") as a quoted JSON string. CM_OK or CM_ENOMEM. */
int cm_buf_json_str(struct cm_buf *b, const char *s);

#endif
