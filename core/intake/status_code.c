/* SPDX-License-Identifier: MIT */
/*
 * The one mapping from the SDK's enum cm_status to an HTTP code and to a short name, shared by
 * intake, `cargoman parse` and the tests.
 */
#include "cargoman/plugin.h"
#include "intake/status_code.h"

int cm_status_http(int status)
{
    switch (status) {
    case CM_OK: return 202;
    case CM_EIGNORE: return 200;
    case CM_EINVAL: return 400;
    case CM_EAUTH: return 401;
    case CM_EAGAIN: return 503;
    default: return 500;
    }
}

const char *cm_status_name(int status)
{
    switch (status) {
    case CM_OK: return "ok";
    case CM_ERROR: return "error";
    case CM_ENOMEM: return "enomem";
    case CM_EINVAL: return "einval";
    case CM_EAUTH: return "eauth";
    case CM_EIGNORE: return "ignore";
    case CM_EAGAIN: return "eagain";
    case CM_ENOENT: return "enoent";
    default: return "unknown";
    }
}
