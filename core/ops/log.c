/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per call, written with a single write() so threads never interleave.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ops/log.h"
#include "util/hex.h"

static int max_level = CM_LOG_INFO;

void cm_log_set_level(int level)
{
    max_level = level;
}

static const char *level_name(int level)
{
    switch (level) {
    case CM_LOG_ERR: return "error";
    case CM_LOG_WARNING: return "warning";
    case CM_LOG_INFO: return "info";
    default: return "debug";
    }
}

size_t cm_log_escape(char *out, size_t room, const char *text, int ascii_only)
{
    size_t n = 0;

    if (!room)
        return 0;
    for (const unsigned char *c = (const unsigned char *)text; *c && n + 5 <= room; c++) {
        if (*c >= 0x20 && *c != 0x7f && (*c < 0x80 || !ascii_only)) {
            out[n++] = (char)*c;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            cm_hex_encode(c, 1, out + n); /* room for its NUL: n + 5 <= room */
            n += 2;
        }
    }
    out[n] = '\0';
    return n;
}

void cm_logv(int level, const char *source, const char *fmt, va_list ap)
{
    char msg[2048], line[4096];
    int n;

    if (level > max_level)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = snprintf(line, sizeof(line), "cargoman[%s] %s: ", level_name(level),
                 source ? source : "core");
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    n += (int)cm_log_escape(line + n, sizeof(line) - (size_t)n - 1, msg, 0);
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

void cm_log(int level, const char *source, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cm_logv(level, source, fmt, ap);
    va_end(ap);
}
