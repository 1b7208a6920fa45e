/* SPDX-License-Identifier: MIT */
/*
 * The daemon's one log sink: lines on stderr with a level and a source, so systemd's journal
 * or a terminal shows them as they are; or, with --log-format=json, one JSON object a line.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include "cargoman/plugin.h"

/* Lines above this level are dropped (CM_LOG_INFO by default). */
void cm_log_set_level(int level);
enum cm_log_format { CM_LOG_TEXT, CM_LOG_JSON };

/* "text" (the default: `cargoman[level] source: message`, after an ISO-8601 UTC time unless
 * JOURNAL_STREAM says stderr is the journal, which stamps every line itself) or "json" (one object
 * a line with time, level, source and message). Set before any thread logs. CM_OK, or CM_EINVAL for
 * another name. */
int cm_log_set_format(const char *name);
/* Whether text lines start with the time (by default, unless JOURNAL_STREAM is set). Set
 * before any thread logs. */
void cm_log_set_time(int on);
/* 1 when lines are JSON. */
int cm_log_json(void);

void cm_log(int level, const char *source, const char *fmt, ...) CM_PRINTF(3, 4);
void cm_logv(int level, const char *source, const char *fmt, va_list ap);

/* Copy text into out (room bytes, NUL-terminated) with every control byte written as \xNN,
 * and with ascii_only every byte of 0x80 or more too; returns the length written. So a value
 * from a request (a repository name, a reason) cannot split or forge a log line, and with
 * ascii_only is valid JSON text for an answer. Stops early rather than cut an escape. */
size_t cm_log_escape(char *out, size_t room, const char *text, int ascii_only);

/* Copy text into out (room bytes, NUL-terminated) between double quotes, with '"' and '\\'
 * escaped by a backslash and control bytes as \xNN, cut to at most 256 bytes between the quotes
 * (never inside an escape or a UTF-8 character); returns the length written. So a key="value"
 * field holds any value without ending early, and a line's few values fit in it whole. */
size_t cm_log_quote(char *out, size_t room, const char *text);

struct json_t;
/* A new JSON string of text (the caller's reference), NULL when out of memory. Text that is
 * not UTF-8 (a header value, a method: bytes a sender chose) is kept with its odd bytes as
 * \xNN, where jansson would refuse it whole; cut at 4 KiB then. */
struct json_t *cm_log_json_string(const char *text);

/* One answered webhook delivery; every string may be NULL (unknown) and is borrowed. */
struct cm_log_delivery {
    const char *delivery;      /* the host's delivery id */
    const char *endpoint;      /* the endpoint name the request named */
    const char *repository;    /* the repositories of its events, comma-separated */
    int status;                /* the HTTP status answered */
    long long duration_ms;     /* from the request's head to its answer */
    const char *client;        /* the sender's address (behind a trusted proxy, the client's) */
    const char *reason;        /* why it was refused or ignored */
    const char *via;           /* the trusted proxy it came through */
    unsigned long long record; /* its delivery log record (/api/deliveries/<record>), 0: none */
};

/* Log the one line of a delivery at info level: key=value fields after "delivery:" as text
 * (delivery="..." endpoint="..." repository="..." status=202 reason="..." duration_ms=3
 * client="..." via="..." record=12), with "-" for what is unknown; the same fields in the
 * JSON object, null for unknown. */
void cm_log_delivery(const struct cm_log_delivery *d);

#endif
