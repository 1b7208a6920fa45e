/* SPDX-License-Identifier: MIT */
/*
 * Where a push is fetched from. A payload names its clone URLs, but only the configuration
 * decides the scheme, host and port a fetch (and its credentials) goes to: intake refuses a
 * push that points elsewhere, and the worker asks again before every fetch.
 */
#ifndef CM_FETCH_URL_H
#define CM_FETCH_URL_H

#include <stddef.h>

struct cm_endpoint;
struct cm_event;

/*
 * The URL to fetch ev's repository from, for endpoint ep:
 *   - with clone_url: the template with {repository} put in (the name passed intake's check);
 *   - else the event's clone URL whose scheme, host and port are those of the endpoint's url
 *     (an SSH URL: of its ssh_url), and whose path lies under url's path. With prefer_ssh
 *     (git.ssh_key is set) an SSH URL is taken when the endpoint has an ssh_url.
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
