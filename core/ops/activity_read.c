/* SPDX-License-Identifier: MIT */
/*
 * Deliveries as the API reads them: from the cluster's store when one is set (any node
 * answers for all), else from this node's delivery log; with the payload when this node keeps
 * it. A cluster store that cannot be read is an error, never this node's part passed off as
 * the whole.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cargoman/plugin.h>

#include "ops/activity.h"
#include "ops/activity_internal.h"
#include "ops/delivery_log.h"
#include "ops/payload_store.h"
#include "util/crypto.h"

/* Deliveries the whole list shows: what /api/deliveries showed when it was a ring. */
#define RECENT 256

int cm_activity_deliveries_page(struct cm_activity *st, uint64_t before, size_t limit,
                                const char *endpoint, const char *repository, const char *state,
                                char **out, uint64_t *next_cursor, char *err, size_t errlen)
{
    int more = 0, rc = CM_OK;
    json_t *a = NULL, *last;

    *out = NULL;
    *next_cursor = 0;
    if (st->cluster)
        rc = st->cluster->list(st->cluster->arg, before, limit, endpoint, repository, state, &a,
                               &more, err, errlen);
    else if (!(a = cm_dlog_list(st->dlog, before, limit, endpoint, repository, state, &more)))
        rc = CM_ENOMEM;
    if (rc != CM_OK)
        return rc;
    last = json_array_get(a, json_array_size(a) - 1);
    *next_cursor =
        more && last ? (uint64_t)json_integer_value(json_object_get(last, "record_id")) : 0;
    *out = cm_activity_dump(json_pack("{s:o}", "deliveries", a));
    return *out ? CM_OK : CM_ENOMEM;
}

char *cm_activity_deliveries_json(struct cm_activity *st)
{
    uint64_t next;
    char *out, err[256];
    cm_activity_deliveries_page(st, 0, RECENT, NULL, NULL, NULL, &out, &next, err, sizeof(err));
    return out;
}

/* Record's document (*doc, the caller's) and where its payload is: *payload, this node's
 * payload id (0: none here), and *node, the other gateway that keeps it (NULL: this one;
 * borrowed from *doc). */
static int find_record(struct cm_activity *st, uint64_t record, json_t **doc, uint64_t *payload,
                       const char **node, char *err, size_t errlen)
{
    int rc;

    *payload = 0;
    *node = NULL;
    if (!st->cluster)
        return (*doc = cm_dlog_get(st->dlog, record, payload)) ? CM_OK : CM_ENOENT;
    if ((rc = st->cluster->get(st->cluster->arg, record, doc, err, errlen)) != CM_OK)
        return rc;
    const char *held_by = json_string_value(json_object_get(*doc, "node"));
    json_int_t here = json_integer_value(json_object_get(*doc, "node_record_id"));
    if (held_by && strcmp(held_by, st->cluster->node) != 0) {
        *node = held_by;
        return CM_OK;
    }
    json_decref(here > 0 ? cm_dlog_get(st->dlog, (uint64_t)here, payload) : NULL);
    return CM_OK;
}

int cm_activity_delivery_payload(struct cm_activity *st, uint64_t record, json_t **headers,
                                 char **body, size_t *len)
{
    uint64_t payload = 0;
    const char *node;
    json_t *doc = NULL;
    char err[256];
    int rc = find_record(st, record, &doc, &payload, &node, err, sizeof(err));

    json_decref(doc);
    if (rc != CM_OK)
        return rc;
    if (!payload || !st->payloads)
        return CM_ENOENT;
    return cm_payloads_get(st->payloads, payload, (long long)time(NULL), headers, body, len);
}

/* The payload as the API shows it: JSON inline when the body is JSON, else base64. */
static void add_payload(json_t *doc, json_t *headers, const char *body, size_t len)
{
    json_t *inline_doc = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    json_object_set_new(doc, "payload_headers", headers);
    if (inline_doc) {
        json_object_set_new(doc, "payload", inline_doc);
        json_object_set_new(doc, "payload_encoding", json_string("json"));
        return;
    }
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64)
        cm_crypto_base64_encode(body, len, b64);
    json_object_set_new(doc, "payload", b64 ? json_string(b64) : json_null());
    json_object_set_new(doc, "payload_encoding", json_string("base64"));
    free(b64);
}

const char *cm_activity_node(const struct cm_activity *st)
{
    return st->cluster ? st->cluster->node : NULL;
}

int cm_activity_record_of(struct cm_activity *st, const char *node, uint64_t node_record,
                          uint64_t *record, char *err, size_t errlen)
{
    *record = node_record;
    if (!st->cluster)
        return CM_OK;
    if (!st->cluster->find)
        return CM_ENOENT;
    return st->cluster->find(st->cluster->arg, node ? node : st->cluster->node, node_record, record,
                             err, errlen);
}

int cm_activity_delivery_json(struct cm_activity *st, uint64_t record, char **out, char *err,
                              size_t errlen)
{
    uint64_t payload = 0;
    json_t *doc = NULL, *headers = NULL;
    const char *node;
    char *body = NULL;
    size_t len = 0;
    int rc = find_record(st, record, &doc, &payload, &node, err, errlen);

    *out = NULL;
    if (rc != CM_OK)
        return rc;
    if (payload && st->payloads &&
        cm_payloads_get(st->payloads, payload, (long long)time(NULL), &headers, &body, &len) ==
            CM_OK) {
        add_payload(doc, headers, body, len);
        json_object_set_new(doc, "payload_expired", json_false());
    } else if (node) {
        /* Only that gateway can show it (or replay it): its data directory holds it. */
        json_object_set_new(doc, "payload", json_null());
        json_object_set_new(doc, "payload_node", json_string(node));
        json_object_set_new(doc, "payload_expired", json_false());
    } else {
        json_object_set_new(doc, "payload", json_null());
        /* Never kept (a refused signature, or no log) reads the same as dropped: not here. */
        json_object_set_new(doc, "payload_expired", json_true());
    }
    free(body);
    *out = cm_activity_dump(doc);
    return *out ? CM_OK : CM_ENOMEM;
}
