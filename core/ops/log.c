/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per call, written with a single write() so threads never interleave;
 * as text for a terminal or the journal, or as one JSON object per line (--log-format=json).
 * Values a sender chose are escaped so they can never split a line or forge a field.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* gmtime_r, clock_gettime */
#endif
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops/log.h"
#include "util/hex.h"

#define LOG_LINE_MAX 4096
#define LOG_VALUE_MAX 256 /* bytes of one delivery field kept: a URL segment can be long */

static int max_level = CM_LOG_INFO;
static int log_format = CM_LOG_TEXT;
static int text_time = -1; /* text lines start with the time; -1: not decided yet */
static pthread_once_t text_time_once = PTHREAD_ONCE_INIT;

/* systemd sets JOURNAL_STREAM for a unit whose stderr is the journal, which stamps each line
 * itself; anywhere else (a terminal, a file, another supervisor) a line needs its own time. */
static void text_time_init(void)
{
    if (text_time < 0)
        text_time = getenv("JOURNAL_STREAM") == NULL;
}

void cm_log_set_time(int on)
{
    text_time = on;
}

void cm_log_set_level(int level)
{
    max_level = level;
}

int cm_log_set_format(const char *name)
{
    if (!strcmp(name, "text"))
        log_format = CM_LOG_TEXT;
    else if (!strcmp(name, "json"))
        log_format = CM_LOG_JSON;
    else
        return CM_EINVAL;
    return CM_OK;
}

int cm_log_json(void)
{
    return log_format == CM_LOG_JSON;
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

/* The length of text's first n bytes, less a UTF-8 character that the cut at n would split. */
static size_t utf8_cut(const char *text, size_t n)
{
    size_t keep = n;

    if (!text[n] || ((unsigned char)text[n] & 0xc0) != 0x80)
        return n; /* the cut falls between characters */
    while (keep > 0 && ((unsigned char)text[keep - 1] & 0xc0) == 0x80)
        keep--;
    return keep > 0 && ((unsigned char)text[keep - 1] & 0xc0) == 0xc0 ? keep - 1 : n;
}

size_t cm_log_quote(char *out, size_t room, const char *text)
{
    size_t n = 0, max = LOG_VALUE_MAX + 1, len = strlen(text);
    char esc[5];

    if (room < 3)
        return 0;
    if (room > max + 2)
        room = max + 2; /* LOG_VALUE_MAX bytes between the quotes, escapes included */
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        const char *c = text + i;
        size_t w = 1;
        esc[0] = *c;
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = *c;
            w = 2;
        } else if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            char one[2] = {*c, '\0'};
            w = cm_log_escape(esc, sizeof(esc), one, 0);
        }
        if (n + w + 2 > room) {
            /* Cut between characters: drop the bytes of one this cut would split. */
            n -= i - utf8_cut(text, i);
            break;
        }
        memcpy(out + n, esc, w);
        n += w;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

json_t *cm_log_json_string(const char *text)
{
    char buf[LOG_LINE_MAX];
    json_t *s = json_string(text);

    if (s)
        return s;
    cm_log_escape(buf, sizeof(buf), text, 1);
    return json_string(buf);
}

static void log_time(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Write o as one line, consuming it; fields added to it in order. */
static void log_write_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    size_t n = s ? strlen(s) : 0;

    if (s) {
        s[n] = '\n'; /* json_dumps's NUL becomes the newline: one write */
        if (write(STDERR_FILENO, s, n + 1) < 0)
            n = 0;
    }
    free(s);
    json_decref(o);
}

/* The head every JSON line starts with. */
static json_t *log_json_head(int level, const char *source, const char *message)
{
    char when[40];
    json_t *o = json_object();

    log_time(when, sizeof(when));
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "level", json_string(level_name(level)));
    json_object_set_new(o, "source", cm_log_json_string(source));
    json_object_set_new(o, "message", cm_log_json_string(message));
    return o;
}

void cm_logv(int level, const char *source, const char *fmt, va_list ap)
{
    char msg[2048], line[LOG_LINE_MAX], when[48];
    int n;

    if (level > max_level)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_format == CM_LOG_JSON) {
        log_write_json(log_json_head(level, source ? source : "core", msg));
        return;
    }
    pthread_once(&text_time_once, text_time_init);
    when[0] = '\0';
    if (text_time) {
        log_time(when, sizeof(when) - 1);
        size_t w = strlen(when);
        when[w] = ' ';
        when[w + 1] = '\0';
    }
    n = snprintf(line, sizeof(line), "%scargoman[%s] %s: ", when, level_name(level),
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

/* key="value" (or key=- for NULL) appended to line at *n. */
static void log_kv(char *line, size_t room, size_t *n, const char *key, const char *value)
{
    int w = snprintf(line + *n, room - *n, "%s%s=", *n ? " " : "", key);

    if (w < 0 || (size_t)w >= room - *n)
        return;
    *n += (size_t)w;
    if (!value) {
        if (*n + 1 < room)
            line[(*n)++] = '-';
        line[*n] = '\0';
        return;
    }
    *n += cm_log_quote(line + *n, room - *n, value);
}

/* text appended to line at *n when it fits whole. */
static void log_raw(char *line, size_t room, size_t *n, const char *text)
{
    size_t len = strlen(text);

    if (*n + len < room) {
        memcpy(line + *n, text, len + 1);
        *n += len;
    }
}

static json_t *log_json_value(const char *value)
{
    char cut[LOG_VALUE_MAX + 1];
    size_t n;

    if (!value)
        return json_null();
    n = strlen(value) > LOG_VALUE_MAX ? utf8_cut(value, LOG_VALUE_MAX) : strlen(value);
    memcpy(cut, value, n);
    cut[n] = '\0';
    return cm_log_json_string(cut);
}

void cm_log_delivery(const struct cm_log_delivery *d)
{
    char line[LOG_LINE_MAX], num[64];
    size_t n = 0;

    if (CM_LOG_INFO > max_level)
        return;
    if (log_format == CM_LOG_JSON) {
        json_t *o = log_json_head(CM_LOG_INFO, "delivery", "delivery answered");
        json_object_set_new(o, "delivery", log_json_value(d->delivery));
        json_object_set_new(o, "endpoint", log_json_value(d->endpoint));
        json_object_set_new(o, "repository", log_json_value(d->repository));
        json_object_set_new(o, "status", json_integer(d->status));
        json_object_set_new(o, "reason", log_json_value(d->reason));
        json_object_set_new(o, "duration_ms", json_integer(d->duration_ms));
        json_object_set_new(o, "client", log_json_value(d->client));
        json_object_set_new(o, "via", log_json_value(d->via));
        json_object_set_new(o, "record",
                            d->record ? json_integer((json_int_t)d->record) : json_null());
        log_write_json(o);
        return;
    }
    log_kv(line, sizeof(line) - 1, &n, "delivery", d->delivery);
    log_kv(line, sizeof(line) - 1, &n, "endpoint", d->endpoint);
    log_kv(line, sizeof(line) - 1, &n, "repository", d->repository);
    snprintf(num, sizeof(num), " status=%d", d->status);
    log_raw(line, sizeof(line) - 1, &n, num);
    log_kv(line, sizeof(line) - 1, &n, "reason", d->reason);
    snprintf(num, sizeof(num), " duration_ms=%lld", d->duration_ms);
    log_raw(line, sizeof(line) - 1, &n, num);
    log_kv(line, sizeof(line) - 1, &n, "client", d->client);
    log_kv(line, sizeof(line) - 1, &n, "via", d->via);
    if (d->record)
        snprintf(num, sizeof(num), " record=%llu", d->record);
    else
        snprintf(num, sizeof(num), " record=-");
    log_raw(line, sizeof(line) - 1, &n, num);
    cm_log(CM_LOG_INFO, "delivery", "%s", line);
}
