/* SPDX-License-Identifier: MIT */
/*
 * Splitting a record's JSON text into keys and values and joining them back. The text is
 * jansson's own compact output, so a value ends at the first ',' or '}' outside strings and
 * brackets: no parse tree is built either way.
 */
#include <string.h>

#include "cargoman/plugin.h"
#include "ops/dlog_text.h"

/* The length of the JSON value (or string) at p, 0 when it does not end. */
static size_t text_value_len(const char *p)
{
    size_t i = 0;
    int depth = 0, in_str = 0;
    for (; p[i]; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\' && p[i + 1])
                i++;
            else if (c == '"')
                in_str = 0;
            else
                continue;
            if (!in_str && !depth)
                return i + 1;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (!depth)
                return i;
            if (!--depth)
                return i + 1;
        } else if (c == ',' && !depth) {
            return i;
        }
    }
    return depth || in_str ? 0 : i;
}

int cm_dlog_text_split(const char *json, struct cm_buf *keys, struct cm_buf *values)
{
    const char *p = json;
    int rc = CM_OK;

    if (*p++ != '{')
        return CM_EINVAL;
    while (rc == CM_OK && *p != '}') {
        size_t k = *p == '"' ? text_value_len(p) : 0, v;
        if (!k || p[k] != ':' || !(v = text_value_len(p + k + 1)))
            return CM_EINVAL;
        rc = cm_buf_append(keys, p, k + 1);
        if (rc == CM_OK && p != json + 1)
            rc = cm_buf_append(values, ",", 1);
        if (rc == CM_OK)
            rc = cm_buf_append(values, p + k + 1, v);
        p += k + 1 + v;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return CM_EINVAL;
    }
    if (rc == CM_OK && p[1])
        return CM_EINVAL;
    /* An empty object still leaves both NUL-terminated. */
    if (rc == CM_OK && !keys->p)
        rc = cm_buf_append(keys, "", 0);
    if (rc == CM_OK && !values->p)
        rc = cm_buf_append(values, "", 0);
    return rc;
}

int cm_dlog_text_join(const char *keys, const char *values, struct cm_buf *out)
{
    int rc = cm_buf_append(out, "{", 1);
    while (rc == CM_OK && *keys) {
        size_t k = text_value_len(keys) + 1, v = text_value_len(values);
        rc = cm_buf_append(out, keys, k);
        if (rc == CM_OK)
            rc = cm_buf_append(out, values, v);
        keys += k;
        values += v;
        if (rc == CM_OK && *keys)
            rc = cm_buf_append(out, ",", 1);
        if (*values == ',')
            values++;
    }
    return rc == CM_OK ? cm_buf_append(out, "}", 1) : rc;
}
