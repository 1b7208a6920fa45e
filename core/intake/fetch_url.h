/* SPDX-License-Identifier: MIT */
/*
 * Where a push is fetched from. A payload names its clone URLs, but only the configuration
 * decides the scheme, host and port a fetch (and its credentials) goes to: intake refuses a
 * push that points elsewhere, and the worker asks again before every fetch.
 */
#ifndef CM_FETCH_URL_H
#define CM_FETCH_URL_H

#include <stddef.h>

struct cm_config;
struct cm_endpoint;
struct cm_event;

/*
 * Whether ep prefers SSH, the prefer_ssh of cm_fetch_url: 1 when it has an SSH key, its own
 * ssh_key or else git.ssh_key. Only an endpoint with ssh_url fetches a payload's SSH URL; a
 * clone_url template's own scheme always decides. Borrows both; any thread.
 */
int cm_fetch_url_ssh(const struct cm_config *cfg, const struct cm_endpoint *ep);

/*
 * The form of the URLs ep fetches from, as cm_fetch_url will choose them, for `cargoman check`:
 * the clone_url template; with prefer_ssh and an ssh_url, "<ssh_url>/..." (the payload's SSH
 * URL); else the provider's clone path under url ("https://github.com/{repository}.git"), or
 * "<url>/..." when the provider has none. *ssh is 1 when it is an SSH URL. CM_OK, or
 * CM_EINVAL when the endpoint has neither url nor clone_url (out then says so).
 */
int cm_fetch_url_form(const struct cm_endpoint *ep, int prefer_ssh, char *out, size_t outlen,
                      int *ssh);

/*
 * The URL to fetch ev's repository from, for endpoint ep:
 *   - with clone_url: the template with {repository} put in (the name passed intake's check);
 *   - else the event's clone URL whose scheme, host and port are those of the endpoint's url
 *     (an SSH URL: of its ssh_url), and whose path lies under url's path. With prefer_ssh
 *     (cm_fetch_url_ssh) an SSH URL is taken when the endpoint has an ssh_url.
 * CM_OK with the URL in out. CM_EINVAL with why, the reason for the sender (it names no URL
 * or file of ours), and detail, the same with everything an operator needs, for the log.
 */
int cm_fetch_url(const struct cm_endpoint *ep, int prefer_ssh, const struct cm_event *ev, char *out,
                 size_t outlen, char *why, size_t whylen, char *detail, size_t detaillen);

/*
 * The clone URL of an import, an event the gateway makes for a repository no push has named
 * (no payload, no URL recorded by a sync), for endpoint ep:
 *   - with clone_url: the template with repository put in;
 *   - else the provider's clone_path (SDK 1.2) with repository put in, under the endpoint's url.
 * Only offered as the event's clone URL: cm_fetch_url still decides on it. CM_OK with the URL
 * in out; CM_EINVAL with why, one line for the operator naming the key to set.
 */
int cm_fetch_url_import(const struct cm_endpoint *ep, const char *repository, char *out,
                        size_t outlen, char *why, size_t whylen);

#endif
