/* SPDX-License-Identifier: MIT */
/*
 * The daemon's one log sink: lines on stderr with a level and a source, so systemd's journal
 * or a terminal shows them as they are.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdarg.h>
#include "cargoman/plugin.h"

/* Lines above this level are dropped (CM_LOG_INFO by default). */
void cm_log_set_level(int level);
void cm_log(int level, const char *source, const char *fmt, ...) CM_PRINTF(3, 4);
void cm_logv(int level, const char *source, const char *fmt, va_list ap);

#endif
