/* SPDX-License-Identifier: MIT */
/*
 * Queueing an answer on a libmicrohttpd connection: text and JSON errors with the headers every
 * route shares (Retry-After, Allow, and Connection: close once a request ran too long).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/guard.h"
#include "http/respond.h"
#include "ops/log.h"

MHD_RESULT cm_http_queue(struct MHD_Connection *c, int code, struct MHD_Response *r)
{
    if (cm_http_guard_request_in(c))
        MHD_add_response_header(r, "Connection", "close");
    return MHD_queue_response(c, (unsigned)code, r);
}

MHD_RESULT cm_http_send_text(struct MHD_Connection *c, int code, const char *type, const char *body,
                             int retry_after, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_RESULT ret;
    char num[16];
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after > 0) {
        snprintf(num, sizeof(num), "%d", retry_after);
        MHD_add_response_header(r, "Retry-After", num);
    }
    if (allow)
        MHD_add_response_header(r, "Allow", allow);
    ret = cm_http_queue(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

MHD_RESULT cm_http_send_error(struct MHD_Connection *c, int code, const char *msg)
{
    /* msg may quote a header's bytes that are not UTF-8: kept as \xNN, not lost. */
    json_t *o = json_pack("{s:s, s:o}", "status", "error", "error", cm_log_json_string(msg));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    MHD_RESULT r = cm_http_send_text(c, code, "application/json", s ? s : "{}", code == 503 ? 5 : 0,
                                     code == 405 ? "POST" : NULL);
    free(s);
    json_decref(o);
    return r;
}

MHD_RESULT cm_http_send_owned(struct MHD_Connection *c, int code, const char *type, char *body)
{
    MHD_RESULT r;
    if (!body)
        return cm_http_send_error(c, 500, "out of memory");
    r = cm_http_send_text(c, code, type, body, 0, NULL);
    free(body);
    return r;
}
