/* SPDX-License-Identifier: MIT */
/*
 * Typed members of a payload on the host's dotted paths (provider_path.h). The host parses the
 * payload once per request; these only ask it for one value at a time and word the reasons.
 */
#include "provider_path.h"

#include <stdio.h>
#include <string.h>

static int cmp_path_reject(const struct cmp_json *j, const char *path, const char *what)
{
    return j->host->reject(j->req, CM_EINVAL, "%s is %s%s", path, what, j->tail);
}

int cmp_path_load(const struct cmp_json *j, const struct cmp_load *how)
{
    const struct cm_host *host = j->host;
    int type;

    if (!host->payload(j->req, NULL))
        return host->reject(j->req, CM_EINVAL, "%s", how->no_payload);
    type = host->json_type(j->req, "");
    if (type < 0 && !how->syntax_hint)
        return host->reject(j->req, CM_EINVAL, "the body is not valid JSON: %.80s",
                            host->json_error(j->req));
    if (type < 0)
        return host->reject(j->req, CM_EINVAL, "the body is not JSON (%s)%s",
                            host->json_error(j->req), how->syntax_hint);
    if (type != CM_JSON_OBJECT)
        return host->reject(j->req, CM_EINVAL, "%s", how->not_object);
    return CM_OK;
}

int cmp_path_has(const struct cmp_json *j, const char *path)
{
    return j->host->json_type(j->req, path) > CM_JSON_ABSENT;
}

/* CM_OK when path is absent or null and need allows it (*absent = 1), or present (0). */
static int cmp_path_need(const struct cmp_json *j, const char *path, enum cmp_need need,
                         int *absent)
{
    int type = j->host->json_type(j->req, path);

    *absent = type == CM_JSON_ABSENT || type == CM_JSON_NULL;
    if (*absent && need != CMP_OPTIONAL)
        return cmp_path_reject(j, path, "missing");
    return type < 0 ? type : CM_OK;
}

int cmp_path_string(const struct cmp_json *j, const char *path, enum cmp_need need,
                    const char **out)
{
    int absent, rc = cmp_path_need(j, path, need, &absent);

    *out = NULL;
    if (rc != CM_OK || absent)
        return rc;
    if (j->host->json_string(j->req, path, out) != CM_OK)
        return cmp_path_reject(j, path, "not a string");
    if (need == CMP_NONEMPTY && !**out)
        return cmp_path_reject(j, path, "empty");
    return CM_OK;
}

int cmp_path_object(const struct cmp_json *j, const char *path, enum cmp_need need, int *present)
{
    int absent, rc = cmp_path_need(j, path, need, &absent);

    *present = 0;
    if (rc != CM_OK || absent)
        return rc;
    if (j->host->json_type(j->req, path) != CM_JSON_OBJECT)
        return cmp_path_reject(j, path, "not an object");
    *present = 1;
    return CM_OK;
}

int cmp_path_bool(const struct cmp_json *j, const char *path, int *out)
{
    int type = j->host->json_type(j->req, path);

    *out = type == CM_JSON_TRUE ? 1 : type == CM_JSON_FALSE ? 0 : -1;
    if (type == CM_JSON_ABSENT || type == CM_JSON_NULL || *out >= 0)
        return CM_OK;
    return type < 0 ? type : cmp_path_reject(j, path, "not a boolean");
}

int cmp_path_id(const struct cmp_json *j, const char *path, char *buf, size_t size,
                const char **out)
{
    const struct cm_host *host = j->host;
    int type = host->json_type(j->req, path);

    *out = NULL;
    if (type == CM_JSON_INTEGER) {
        if (host->json_int_text(j->req, path, buf, size) != CM_OK)
            return cmp_path_reject(j, path, "too long a number");
        *out = buf;
        return CM_OK;
    }
    if (type == CM_JSON_STRING)
        return host->json_string(j->req, path, out) == CM_OK ? CM_OK
                                                             : cmp_path_reject(j, path, "not text");
    if (type == CM_JSON_ABSENT || type == CM_JSON_NULL)
        return CM_OK;
    return type < 0 ? type : cmp_path_reject(j, path, "not a number");
}

int cmp_path_repository(const struct cmp_json *j, const char *key, const struct cmp_repo_keys *keys,
                        struct cmp_fields *f, char *id_buf, size_t size)
{
    char name[64], http[64], ssh[64], html[64], id[64];
    int present, rc;

    snprintf(name, sizeof(name), "%s.%s", key, keys->repository);
    snprintf(http, sizeof(http), "%s.%s", key, keys->clone_http);
    snprintf(ssh, sizeof(ssh), "%s.%s", key, keys->clone_ssh);
    snprintf(html, sizeof(html), "%s.%s", key, keys->html_url);
    snprintf(id, sizeof(id), "%s.%s", key, keys->id);
    if ((rc = cmp_path_object(j, key, CMP_PRESENT, &present)) ||
        (rc = cmp_path_string(j, name, CMP_NONEMPTY, &f->repository)) ||
        (rc = cmp_check_repository(j, name, f->repository, keys->rule)) ||
        (rc = cmp_path_string(j, http, CMP_OPTIONAL, &f->clone_http)) ||
        (rc = cmp_path_string(j, ssh, CMP_OPTIONAL, &f->clone_ssh)) ||
        (rc = cmp_path_string(j, html, CMP_OPTIONAL, &f->html_url)))
        return rc;
    return cmp_path_id(j, id, id_buf, size, &f->repository_id);
}

int cmp_path_sniff(const struct cm_host *host, const struct cm_request *req,
                   const char *const *vetoes, const char *own, const char *const *others,
                   int (*looks_like)(const struct cm_host *host, const struct cm_request *req))
{
    int verdict = cmp_sniff_headers(host, req, vetoes, own, others);
    if (verdict >= 0)
        return verdict;
    return host->json_type(req, "") == CM_JSON_OBJECT && looks_like(host, req);
}
