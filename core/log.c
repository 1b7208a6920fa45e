/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per call, written with a single write() so threads never interleave.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

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

void cm_logv(int level, const char *source, const char *fmt, va_list ap)
{
    char line[2048];
    int n;
    if (level > max_level)
        return;
    n = snprintf(line, sizeof(line), "cargoman[%s] %s: ", level_name(level),
                 source ? source : "core");
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    n = (int)strnlen(line, sizeof(line) - 2);
    /* Keep each record on one line whatever a plugin put into it. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
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
