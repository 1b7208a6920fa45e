/* SPDX-License-Identifier: MIT */
/*
 * The daemon's one log sink: lines on stderr with a level and a source, so systemd's journal
 * or a terminal shows them as they are.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include "cargoman/plugin.h"

/* Lines above this level are dropped (CM_LOG_INFO by default). */
void cm_log_set_level(int level);
void cm_log(int level, const char *source, const char *fmt, ...) CM_PRINTF(3, 4);
void cm_logv(int level, const char *source, const char *fmt, va_list ap);

/* Copy text into out (room bytes, NUL-terminated) with every control byte written as \xNN,
 * and with ascii_only every byte of 0x80 or more too; returns the length written. So a value
 * from a request (a repository name, a reason) cannot split or forge a log line, and with
 * ascii_only is valid JSON text for an answer. Stops early rather than cut an escape. */
size_t cm_log_escape(char *out, size_t room, const char *text, int ascii_only);

#endif
