/* SPDX-License-Identifier: MIT */
/*
 * Host and port of a git URL (url.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "url.h"

int cm_url_host(const char *url, char *host, size_t hostlen, int *port, int *scp)
{
    const char *p = strstr(url, "://"), *end, *at, *close, *colon;
    size_t n;

    *port = 0;
    *scp = !p;
    if (p) {
        p += 3;
        end = p + strcspn(p, "/?#");
    } else {
        /* scp-like: the host ends at the first ':' that follows it */
        if (!(end = strchr(url, ':')))
            return CM_EINVAL;
        p = url;
    }
    if ((at = memchr(p, '@', (size_t)(end - p))) != NULL)
        p = at + 1;
    if (*p == '[') {
        if (!(close = memchr(p, ']', (size_t)(end - p))))
            return CM_EINVAL;
        colon = close[1] == ':' ? close + 1 : NULL;
        n = (size_t)(close - p - 1);
        p++;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        n = (size_t)((colon ? colon : end) - p);
    }
    if (colon && colon + 1 < end)
        *port = atoi(colon + 1);
    if (n == 0 || n >= hostlen)
        return CM_EINVAL;
    memcpy(host, p, n);
    host[n] = '\0';
    return CM_OK;
}
