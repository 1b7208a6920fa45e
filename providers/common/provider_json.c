/* SPDX-License-Identifier: MIT */
/*
 * Typed access to a delivery's JSON payload with jansson for the provider plugins
 * (provider_json.h), and the helpers built on it: sniffing a body, a repository object, an
 * event from a list of changes. Every reason names the member by its JSON path.
 */
#include "provider_json.h"

#include <stdio.h>
#include <string.h>

static int cmp_reject_member(const struct cmp_json *j, const char *parent, const char *key,
                             const char *what)
{
    return j->host->reject(j->req, CM_EINVAL, "%s%s%s is %s%s", parent, parent[0] ? "." : "", key,
                           what, j->tail);
}

static int cmp_has_type(const json_t *v, json_type type)
{
    return type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type;
}

static const char *cmp_type_name(json_type type)
{
    return type == JSON_STRING   ? "not a string"
           : type == JSON_OBJECT ? "not an object"
           : type == JSON_ARRAY  ? "not an array"
                                 : "not a boolean";
}

/* *out = obj.key when it is of type (JSON_TRUE: either boolean), NULL when absent or null
 * (rejected as missing unless need allows it). */
static int cmp_member(const struct cmp_json *j, const json_t *obj, const char *parent,
                      const char *key, enum cmp_need need, json_type type, json_t **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    *out = NULL;
    if (!v || json_is_null(v))
        return need == CMP_OPTIONAL ? CM_OK : cmp_reject_member(j, parent, key, "missing");
    if (!cmp_has_type(v, type))
        return cmp_reject_member(j, parent, key, cmp_type_name(type));
    *out = v;
    return CM_OK;
}

int cmp_json_load(const struct cmp_json *j, const struct cmp_load *how, json_t **out)
{
    const struct cm_host *host = j->host;
    json_error_t err;
    const char *text;
    size_t len = 0;

    *out = NULL;
    if (!(text = host->payload(j->req, &len)))
        return host->reject(j->req, CM_EINVAL, "%s", how->no_payload);
    if (!(*out = json_loadb(text, len, how->flags, &err))) {
        if (!how->syntax_hint)
            return host->reject(j->req, CM_EINVAL, "the body is not valid JSON: %.80s (line %d)",
                                err.text, err.line);
        return host->reject(j->req, CM_EINVAL, "the body is not JSON (line %d: %s)%s", err.line,
                            err.text, how->syntax_hint);
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return host->reject(j->req, CM_EINVAL, "%s", how->not_object);
    }
    return CM_OK;
}

int cmp_json_string(const struct cmp_json *j, const json_t *obj, const char *parent,
                    const char *key, enum cmp_need need, const char **out)
{
    json_t *v;
    int rc = cmp_member(j, obj, parent, key, need, JSON_STRING, &v);

    *out = v ? json_string_value(v) : NULL;
    if (rc == CM_OK && need == CMP_NONEMPTY && *out && !**out)
        return cmp_reject_member(j, parent, key, "empty");
    return rc;
}

int cmp_json_object(const struct cmp_json *j, const json_t *obj, const char *parent,
                    const char *key, enum cmp_need need, json_t **out)
{
    return cmp_member(j, obj, parent, key, need, JSON_OBJECT, out);
}

int cmp_json_array(const struct cmp_json *j, const json_t *obj, const char *parent, const char *key,
                   enum cmp_need need, json_t **out)
{
    return cmp_member(j, obj, parent, key, need, JSON_ARRAY, out);
}

int cmp_json_bool(const struct cmp_json *j, const json_t *obj, const char *parent, const char *key,
                  int *out)
{
    json_t *v;
    int rc = cmp_member(j, obj, parent, key, CMP_OPTIONAL, JSON_TRUE, &v);

    *out = v ? json_is_true(v) : -1;
    return rc;
}

/* Hosts send numeric ids; some (GitHub's, GitLab's) may come as text. */
static int cmp_id_text(const struct cmp_json *j, const json_t *obj, const char *parent,
                       const char *key, int text_ok, char *buf, size_t size, const char **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    *out = NULL;
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = buf;
    } else if (text_ok && json_is_string(v)) {
        *out = json_string_value(v);
    } else if (v && !json_is_null(v)) {
        return cmp_reject_member(j, parent, key, text_ok ? "not a number" : "not an integer");
    }
    return CM_OK;
}

int cmp_json_int_text(const struct cmp_json *j, const json_t *obj, const char *parent,
                      const char *key, char *buf, size_t size, const char **out)
{
    return cmp_id_text(j, obj, parent, key, 0, buf, size, out);
}

int cmp_json_id(const struct cmp_json *j, const json_t *obj, const char *parent, const char *key,
                char *buf, size_t size, const char **out)
{
    return cmp_id_text(j, obj, parent, key, 1, buf, size, out);
}

int cmp_json_each_object(const struct cmp_json *j, const json_t *array, const char *path,
                         cmp_each_fn fn, void *arg)
{
    char where[128];
    json_t *elem;
    int rc;

    for (size_t i = 0; i < json_array_size(array); i++) {
        snprintf(where, sizeof(where), "%s[%zu]", path, i);
        if (!json_is_object(elem = json_array_get(array, i)))
            return j->host->reject(j->req, CM_EINVAL, "%s is not an object%s", where, j->tail);
        if ((rc = fn(j, elem, where, i, arg)) != CM_OK)
            return rc;
    }
    return CM_OK;
}

int cmp_sniff_body(const struct cm_host *host, const struct cm_request *req,
                   int (*looks_like)(const json_t *root))
{
    const char *text;
    json_t *root;
    size_t len = 0;
    int mine;

    if (!(text = host->payload(req, &len)) || !(root = json_loadb(text, len, 0, NULL)))
        return 0;
    mine = json_is_object(root) && looks_like(root);
    json_decref(root);
    return mine;
}

int cmp_sniff(const struct cm_host *host, const struct cm_request *req, const char *const *vetoes,
              const char *own, const char *const *others, int (*looks_like)(const json_t *root))
{
    int verdict = cmp_sniff_headers(host, req, vetoes, own, others);
    return verdict >= 0 ? verdict : cmp_sniff_body(host, req, looks_like);
}

int cmp_json_repository(const struct cmp_json *j, const json_t *root, const char *key,
                        const struct cmp_repo_keys *keys, struct cmp_fields *f, char *id_buf,
                        size_t size)
{
    char label[64];
    json_t *repo;
    int rc;

    snprintf(label, sizeof(label), "%s.%s", key, keys->repository);
    if ((rc = cmp_json_object(j, root, "", key, CMP_PRESENT, &repo)) ||
        (rc = cmp_json_string(j, repo, key, keys->repository, CMP_NONEMPTY, &f->repository)) ||
        (rc = cmp_check_repository(j, label, f->repository, keys->rule)) ||
        (rc = cmp_json_string(j, repo, key, keys->clone_http, CMP_OPTIONAL, &f->clone_http)) ||
        (rc = cmp_json_string(j, repo, key, keys->clone_ssh, CMP_OPTIONAL, &f->clone_ssh)) ||
        (rc = cmp_json_string(j, repo, key, keys->html_url, CMP_OPTIONAL, &f->html_url)))
        return rc;
    return cmp_json_id(j, repo, key, keys->id, id_buf, size, &f->repository_id);
}

int cmp_event_from_changes(const struct cmp_json *j, const json_t *changes, const char *path,
                           cmp_each_fn fn, const struct cmp_fields *f, int incomplete)
{
    struct cm_event *ev;
    int rc;

    if ((rc = cmp_json_each_object(j, changes, path, fn, NULL)))
        return rc;
    if ((rc = cmp_event_start(j->host, j->req, f, &ev)) == CM_EINVAL)
        return j->host->reject(j->req, rc,
                               "a repository field or the delivery id header is not UTF-8 text%s",
                               j->tail);
    if (rc != CM_OK)
        return rc;
    /* The host said refs changed without listing them all: the sync looks at every ref. */
    if (incomplete || json_array_size(changes) == 0)
        j->host->event_set_incomplete(ev);
    return cmp_json_each_object(j, changes, path, fn, ev);
}
