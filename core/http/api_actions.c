/* SPDX-License-Identifier: MIT */
/*
 * The operator's POST routes: /api/deliveries/<record id>/replay (the stored payload through
 * intake again, or a resync when it expired), /api/repositories/<endpoint>/<repository>/resync
 * (every ref fetched, every sync plugin run again) and .../import (the same for a repository
 * that may not be mirrored yet); and GET /api/repositories/<endpoint>/<repository>, which an
 * import is followed with. The caller has applied the operator routes' access policy.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http/respond.h"
#include "intake/intake.h"
#include "intake/repo_name.h"
#include "intake/request.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "plugin/gateway.h"
#include "sync/resync.h"

static MHD_RESULT send_json(struct MHD_Connection *c, int code, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return cm_http_send_error(c, 500, "out of memory");
    return cm_http_send_owned(c, code, "application/json", s);
}

/* The refusals cm_resync_queue and cm_import_queue share (rc not CM_OK nor CM_ENOENT). */
static MHD_RESULT queue_refused(struct MHD_Connection *c, int rc, const char *err)
{
    if (rc == CM_EAGAIN || rc == CM_ERROR)
        return cm_http_send_text(c, 503, "application/json",
                                 "{\"status\":\"error\",\"error\":\"the gateway cannot queue "
                                 "this now (queue full or not writable); retry later\"}",
                                 30, NULL);
    if (rc == CM_EINVAL)
        return cm_http_send_error(c, 409, err);
    return cm_http_send_error(c, 500, "out of memory");
}

/* In a cluster a record id this node hands out is its own: "node" names it, and
 * GET /api/deliveries/<record_id>?node=<node> finds the record on any node. */
static json_t *with_node(struct cm_daemon *d, json_t *doc)
{
    const char *node = cm_activity_node(d->activity);
    if (doc && node)
        json_object_set_new(doc, "node", json_string(node));
    return doc;
}

/* 202 for a sync of every ref of ep/repo queued as queue_id (0: the same one was queued
 * already) and recorded as record. */
static json_t *queued_doc(struct cm_daemon *d, const char *action, const char *ep, const char *repo,
                          uint64_t queue_id, uint64_t record)
{
    /* "id" is the queue id as resync answered it first; "queue_id" says so. */
    return with_node(d,
                     json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "status",
                               queue_id ? "queued" : "already_queued", "action", action, "endpoint",
                               ep, "repository", repo, "id", (json_int_t)queue_id, "queue_id",
                               (json_int_t)queue_id, "record_id", (json_int_t)record));
}

/* The answer to a resync; replay_of 0 when asked for directly. */
static MHD_RESULT resync_answer(struct MHD_Connection *c, struct cm_daemon *d, const char *ep,
                                const char *repo, uint64_t replay_of)
{
    uint64_t queue_id = 0, record = 0;
    char err[512], why[64] = "resync";
    int rc;

    if (replay_of)
        snprintf(why, sizeof(why), "replay-%llu-resync", (unsigned long long)replay_of);
    rc = cm_resync_queue(d, ep, repo, why, &queue_id, &record, err, sizeof(err));
    if (rc == CM_ENOENT && !replay_of)
        return cm_http_send_error(c, 404,
                                  "no such mirror: the endpoint is not configured or the "
                                  "repository was never mirrored (GET /api/repositories lists "
                                  "them)");
    if (rc == CM_ENOENT)
        return cm_http_send_error(c, 409,
                                  "the payload of this delivery has expired and its repository "
                                  "has no mirror (or its endpoint is gone) to resync");
    if (rc != CM_OK)
        return queue_refused(c, rc, err);
    json_t *o = queued_doc(d, "resync", ep, repo, queue_id, record);
    if (o && replay_of) {
        json_object_set_new(o, "replay_of", json_integer((json_int_t)replay_of));
        json_object_set_new(o, "note",
                            json_string("the payload has expired: every ref of the "
                                        "repository is synced instead"));
    }
    return send_json(c, 202, o);
}

static MHD_RESULT import_answer(struct MHD_Connection *c, struct cm_daemon *d, const char *ep,
                                const char *repo)
{
    uint64_t queue_id = 0, record = 0;
    char err[512];
    const char *why;
    int rc;

    if (cm_repo_name_check(repo, &why) != CM_OK) {
        snprintf(err, sizeof(err), "repository name refused: %s", why);
        return cm_http_send_error(c, 400, err);
    }
    rc = cm_import_queue(d, ep, repo, &queue_id, &record, err, sizeof(err));
    if (rc == CM_ENOENT)
        return cm_http_send_error(c, 404,
                                  "no such endpoint: name one the gateway's configuration "
                                  "defines (`cargoman check` lists them)");
    if (rc != CM_OK)
        return queue_refused(c, rc, err);
    return send_json(c, 202, queued_doc(d, "import", ep, repo, queue_id, record));
}

static int parse_record(const char *s, size_t len, uint64_t *out)
{
    char buf[24], *end;
    if (!len || len > 19)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtoull(buf, &end, 10);
    return *out != 0;
}

/* Build a request for endpoint from a kept payload: its headers (an object) and body. */
static int replay_request(struct cm_request **out, const struct cm_endpoint *ep, json_t *headers,
                          const char *body, size_t len, uint64_t record)
{
    struct cm_request *req = NULL;
    const char *name;
    json_t *v;
    int rc = cm_request_new(&req, ep);

    json_object_foreach (headers, name, v) {
        if (rc == CM_OK && json_is_string(v))
            rc = cm_request_add_header(req, name, json_string_value(v));
    }
    if (rc == CM_OK)
        rc = cm_request_set_body(req, body, len);
    if (rc != CM_OK) {
        cm_request_free(req);
        return rc;
    }
    req->replay_of = record;
    *out = req;
    return CM_OK;
}

/* Intake's answer body with the record ids and what was replayed added. */
static MHD_RESULT replay_answer(struct MHD_Connection *c, struct cm_daemon *d, int code, char *body,
                                const struct cm_request *req, uint64_t record)
{
    json_t *o = body ? json_loads(body, 0, NULL) : NULL, *recs = json_array();
    free(body);
    for (size_t i = 0; i < req->n_records; i++)
        json_array_append_new(recs, json_integer((json_int_t)req->records[i]));
    if (!o) {
        json_decref(recs);
        return cm_http_send_error(c, 500, "out of memory");
    }
    json_object_set_new(o, "action", json_string("replay"));
    json_object_set_new(o, "replay_of", json_integer((json_int_t)record));
    json_object_set_new(o, "record_ids", recs);
    return send_json(c, code, with_node(d, o));
}

static MHD_RESULT on_replay(struct MHD_Connection *c, struct cm_daemon *d, uint64_t record)
{
    int code = 500, retry = 0;
    char *doc = NULL, *body = NULL, err[512];
    int rc = cm_activity_delivery_json(d->activity, record, &doc, err, sizeof(err));
    json_t *o = doc ? json_loads(doc, 0, NULL) : NULL, *headers = NULL;
    const char *ep = json_string_value(json_object_get(o, "endpoint"));
    const char *repo = json_string_value(json_object_get(o, "repository"));
    const char *node = json_string_value(json_object_get(o, "payload_node"));
    struct cm_request *req = NULL;
    struct cm_gateway *gw = NULL;
    size_t len = 0;
    MHD_RESULT ret;

    free(doc);
    if (!o) {
        if (rc == CM_EAGAIN)
            ret = cm_http_send_error(c, 503, err);
        else if (rc == CM_ENOENT)
            ret = cm_http_send_error(c, 404,
                                     "no delivery with this record_id: it was never recorded "
                                     "or is past server.delivery_log_max_age");
        else
            ret = cm_http_send_error(c, 500, "out of memory");
        goto out;
    }
    if (node) {
        /* Its payload is in that gateway's data directory: a resync here would not be the
         * replay asked for. */
        snprintf(err, sizeof(err),
                 "this delivery was received by gateway %s, which keeps its payload: replay it "
                 "there (or resync the repository)",
                 node);
        ret = cm_http_send_error(c, 409, err);
        goto out;
    }
    if (!ep || cm_activity_delivery_payload(d->activity, record, &headers, &body, &len) != CM_OK) {
        if (ep && repo)
            ret = resync_answer(c, d, ep, repo, record);
        else
            ret = cm_http_send_error(c, 409,
                                     "nothing to replay: the payload of this delivery has "
                                     "expired (or was never kept) and it names no repository "
                                     "to resync");
        goto out;
    }
    gw = cm_daemon_acquire(d);
    const struct cm_endpoint *endpoint = cm_gateway_endpoint(gw, ep);
    if (!endpoint) {
        ret = cm_http_send_error(c, 409,
                                 "the endpoint this delivery came to is no longer configured");
        goto out;
    }
    if (replay_request(&req, endpoint, headers, body, len, record) != CM_OK) {
        ret = cm_http_send_error(c, 500, "out of memory");
        goto out;
    }
    free(body);
    body = NULL;
    cm_intake(d, gw, req, &code, &body, &retry);
    cm_log(CM_LOG_INFO, ep, "replay of delivery record %llu: %d", (unsigned long long)record, code);
    if (code == 401) {
        json_t *why = body ? json_loads(body, 0, NULL) : NULL;
        char msg[768];
        snprintf(msg, sizeof(msg),
                 "the stored delivery no longer passes the endpoint's check (%s): its secret "
                 "was rotated since, or the host authenticates with a token, which is not "
                 "kept; resync the repository instead",
                 json_string_value(json_object_get(why, "error"))
                     ? json_string_value(json_object_get(why, "error"))
                     : "refused");
        json_decref(why);
        ret = cm_http_send_error(c, 409, msg);
        goto out;
    }
    if (code == 202) {
        ret = replay_answer(c, d, code, body, req, record);
        body = NULL; /* freed there */
    } else
        ret = body ? cm_http_send_text(c, code, "application/json", body, retry, NULL)
                   : cm_http_send_error(c, 500, "out of memory");
out:
    if (gw)
        cm_daemon_release(d, gw);
    cm_request_free(req);
    json_decref(headers);
    json_decref(o);
    free(body);
    return ret;
}

/* "<endpoint>/<repository...>" (len bytes of s) into ep and repo: endpoint names hold no
 * slash, repositories may. 0, or -1 when a part is empty or too long. */
static int split_repository(const char *s, size_t len, char *ep, size_t eplen, char *repo,
                            size_t repolen)
{
    const char *slash = memchr(s, '/', len);
    size_t e = slash ? (size_t)(slash - s) : 0, r = slash ? len - e - 1 : 0;

    if (!slash || !e || e >= eplen || !r || r >= repolen)
        return -1;
    memcpy(ep, s, e);
    ep[e] = '\0';
    memcpy(repo, slash + 1, r);
    repo[r] = '\0';
    return 0;
}

MHD_RESULT cm_http_on_repository(struct MHD_Connection *c, struct cm_daemon *d, const char *url)
{
    char ep[129], repo[1024], *doc = NULL, err[512];
    int rc;

    if (!strcmp(url, "/api/repositories"))
        rc = cm_activity_repositories_json(d->activity, &doc, err, sizeof(err));
    else if (split_repository(url + 18, strlen(url + 18), ep, sizeof(ep), repo, sizeof(repo)))
        return cm_http_send_error(c, 404,
                                  "name one: GET /api/repositories/<endpoint>/<repository>");
    else
        rc = cm_activity_repository_json(d->activity, ep, repo, &doc, err, sizeof(err));
    if (rc == CM_OK)
        return cm_http_send_owned(c, 200, "application/json", doc);
    if (rc == CM_EAGAIN)
        return cm_http_send_error(c, 503, err);
    return rc == CM_ENOENT ? cm_http_send_error(c, 404,
                                                "no such repository: it was never synced nor is "
                                                "being fetched (GET /api/repositories lists them)")
                           : cm_http_send_error(c, 500, "out of memory");
}

int cm_http_action_route(const char *url)
{
    size_t n = strlen(url);
    return (!strncmp(url, "/api/deliveries/", 16) && n > 23 && !strcmp(url + n - 7, "/replay")) ||
           (!strncmp(url, "/api/repositories/", 18) && n > 25 &&
            (!strcmp(url + n - 7, "/resync") || !strcmp(url + n - 7, "/import")));
}

MHD_RESULT cm_http_on_action(struct MHD_Connection *c, struct cm_daemon *d, const char *url)
{
    size_t n = strlen(url);
    uint64_t record;

    if (!strncmp(url, "/api/deliveries/", 16)) {
        if (!parse_record(url + 16, n - 16 - 7, &record))
            return cm_http_send_error(c, 400,
                                      "name a delivery by its record_id (a whole number), as "
                                      "GET /api/deliveries lists them");
        return on_replay(c, d, record);
    }
    /* .../(resync|import): both 7 bytes with their slash. */
    char epname[129], repo[1024];
    if (split_repository(url + 18, n - 18 - 7, epname, sizeof(epname), repo, sizeof(repo)))
        return cm_http_send_error(c, 400,
                                  "name the repository: POST /api/repositories/<endpoint>/"
                                  "<repository>/resync (or /import)");
    if (!strcmp(url + n - 7, "/import"))
        return import_answer(c, d, epname, repo);
    return resync_answer(c, d, epname, repo, 0);
}
