/* SPDX-License-Identifier: MIT */
/*
 * The Composer repository's routes (SDK 1.2): /packages.json, /p2/... and /dist/..., sent as
 * the files publish.c writes under the state directory. The host has applied the sync entry's
 * tokens and refused paths with ".." before serve runs; files are renamed into place whole,
 * so whatever is opened is one consistent version.
 */
#include "composer.h"

#include <string.h>

const struct cm_route cmc_routes[] = {
    {"/packages.json", "add http-basic for this host to composer's auth.json"},
    {"/p2/", "add http-basic for this host to composer's auth.json"},
    {"/dist/", "add http-basic for this host to composer's auth.json"},
    {NULL, NULL},
};

/* What composer reads before anything is published: a valid, empty repository. */
static const char cmc_empty_index[] = "{\"packages\":[],\"metadata-url\":\"/p2/%package%.json\","
                                      "\"available-packages\":[]}";
static const char cmc_no_file[] = "{\"status\":\"error\",\"error\":\"no such package file\"}";

int cmc_serve(void *self, const struct cm_http_request *rq, struct cm_http_response *rs)
{
    struct cmc_plugin *p = self;
    const char *path = p->host->http_path(rq);
    size_t n = strlen(path);
    const char *type =
        n > 4 && !strcmp(path + n - 4, ".zip") ? "application/zip" : "application/json";
    int rc = p->host->http_respond_file(rs, 200, type, path + 1);

    if (rc != CM_ENOENT && rc != CM_EINVAL)
        return rc;
    if (!strcmp(path, "/packages.json"))
        return p->host->http_respond(rs, 200, "application/json", cmc_empty_index,
                                     sizeof(cmc_empty_index) - 1);
    return p->host->http_respond(rs, 404, "application/json", cmc_no_file, sizeof(cmc_no_file) - 1);
}
