/* SPDX-License-Identifier: MIT */
/*
 * Secure by default: what a gateway may not do once it listens beyond loopback. `serve`
 * refuses to start on a fatal finding and logs the warnings; `cargoman check` prints both.
 */
#ifndef CM_EXPOSURE_H
#define CM_EXPOSURE_H

struct cm_gateway;

/* Called once per finding: fatal 1 for what stops `serve`, 0 for a warning; msg is one line
 * that names the file to change. */
typedef void (*cm_exposure_fn)(void *arg, int fatal, const char *msg);

/* Check gw served on listen (server.listen or serve -l). Returns the number of fatal
 * findings:
 *   - beyond loopback, an endpoint without a secret unless it says allow_unsigned = true
 *     (anyone who reaches the port could publish, and take over, package names);
 *   - beyond loopback, a sync entry whose plugin serves routes (a package repository...)
 *     without tokens, unless the entry says public = true.
 * Warnings: every unsigned endpoint, and an endpoint with neither url (nor a provider default)
 * nor clone_url, whose pushes are all refused. */
int cm_exposure_check(const struct cm_gateway *gw, const char *listen, cm_exposure_fn fn,
                      void *arg);

#endif
