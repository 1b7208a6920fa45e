/* SPDX-License-Identifier: MIT */
/*
 * The one mapping from the SDK's enum cm_status to an HTTP code and to a short name.
 */
#ifndef CM_STATUS_CODE_H
#define CM_STATUS_CODE_H

/* The HTTP status for a dispatch result: 202, 200, 400, 401, 500, 503. */
int cm_status_http(int status);

/* Short word for a status, as used in logs and test cases: "ok", "ignore", "einval"... */
const char *cm_status_name(int status);

#endif
