/* SPDX-License-Identifier: MIT */
/*
 * The provider harness (provider_harness.h). The endpoints are built from a real
 * configuration with the real host services and dispatched with cm_dispatch, as the HTTP
 * front does; only the loader is left out, the provider being linked in.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strndup */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "intake/dispatch.h"
#include "intake/event.h"
#include "intake/fetch_url.h"
#include "intake/repo_name.h"
#include "plugin/gateway.h"
#include "provider_harness.h"
#include "util/url.h"

/* The configuration's file name, which no answer may name. It starts with a letter that is
 * no hex digit: an answer shows a byte that is not UTF-8 as "\xHH", and "\xff" followed by
 * "uzz.conf" from the input would read as "fuzz.conf" without the input holding it. */
#define PH_CONF_NAME "gw-fuzz.conf"

#define PH_MAX_HEADERS 64
#define PH_MAX_ENDPOINTS 8

struct ph_header {
    char *name, *value; /* owned */
};

struct ph_input {
    struct ph_header headers[PH_MAX_HEADERS];
    size_t n_headers;
    const char *body; /* borrowed from the input */
    size_t body_len;
    const uint8_t *data; /* the whole input */
    size_t size;
};

static struct cm_gateway ph_gw;
static struct cm_endpoint ph_eps[PH_MAX_ENDPOINTS];
static const struct cm_provider *ph_providers[1];

/* The gateway cm_gateway_open would make for spec, but with the linked-in provider. */
static void ph_setup(const struct ph_spec *spec)
{
    const struct cm_provider *p = &cargoman_provider;
    struct cm_config *cfg;
    char err[1024];

    if (ph_gw.config)
        return;
    cm_host_set_clock(PH_NOW);
    FUZZ_CHECK(cm_config_load_text(&cfg, PH_CONF_NAME, spec->config, err, sizeof(err)) == CM_OK,
               "%s", err);
    FUZZ_CHECK(cfg->n_endpoints <= PH_MAX_ENDPOINTS, "too many endpoints");
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        const struct cm_endpoint_conf *ec = &cfg->endpoints[i];
        struct cm_endpoint *ep = &ph_eps[i];
        ep->conf = ec;
        ep->provider = p;
        ep->url = ec->url ? ec->url : p->default_url;
        cm_ctx_init(&ep->ctx, ec->provider, ec->name, ec->section, ec->secrets, ec->n_secrets,
                    NULL);
        FUZZ_CHECK(p->create(&cm_host_services, &ep->ctx, &ep->self) == CM_OK,
                   "endpoint %s refused its settings", ec->name);
    }
    ph_providers[0] = p;
    ph_gw.endpoints = ph_eps;
    ph_gw.n_endpoints = cfg->n_endpoints;
    ph_gw.providers = ph_providers;
    ph_gw.n_providers = 1;
    ph_gw.config = cfg;
}

/* Header lines up to the first empty line, then the body; without an empty line the whole
 * input is the body. Lines without ':' are skipped; a trailing '\r' is dropped. */
static void ph_parse(const uint8_t *data, size_t size, struct ph_input *in)
{
    const char *s = (const char *)data, *end = s + size, *hdr_end = NULL;

    memset(in, 0, sizeof(*in));
    in->data = data;
    in->size = size;
    in->body = s;
    in->body_len = size;
    for (const char *line = s, *nl; line < end && (nl = memchr(line, '\n', (size_t)(end - line)));
         line = nl + 1) {
        if (nl == line || (nl == line + 1 && *line == '\r')) {
            hdr_end = line;
            in->body = nl + 1;
            in->body_len = (size_t)(end - nl - 1);
            break;
        }
    }
    for (const char *line = s; hdr_end && line < hdr_end && in->n_headers < PH_MAX_HEADERS;) {
        const char *eol = memchr(line, '\n', (size_t)(hdr_end - line));
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            const char *v = colon + 1, *vend = eol;
            while (v < vend && (*v == ' ' || *v == '\t'))
                v++;
            if (vend > v && vend[-1] == '\r')
                vend--;
            struct ph_header *h = &in->headers[in->n_headers++];
            h->name = strndup(line, (size_t)(colon - line));
            h->value = strndup(v, (size_t)(vend - v));
            FUZZ_CHECK(h->name && h->value, "out of memory");
        }
        line = eol + 1;
    }
}

static void ph_free(struct ph_input *in)
{
    for (size_t i = 0; i < in->n_headers; i++) {
        free(in->headers[i].name);
        free(in->headers[i].value);
    }
}

static int ph_dropped(const char *name, const char *const *drop)
{
    for (size_t i = 0; drop && drop[i]; i++)
        if (!strcasecmp(name, drop[i]))
            return 1;
    return 0;
}

/* Nothing the sender is told names a secret, a config file or a clone_url template, unless
 * the input itself holds that text (it may come back quoted). */
static void ph_check_text(const struct ph_spec *spec, const struct ph_input *in, const char *text)
{
    static const char *const internal[] = {PH_CONF_NAME, "{repository}", NULL};

    for (size_t i = 0; spec->secrets && spec->secrets[i]; i++)
        if (!memmem(in->data, in->size, spec->secrets[i], strlen(spec->secrets[i])))
            FUZZ_CHECK(!strstr(text, spec->secrets[i]), "an answer holds a secret: %s", text);
    for (size_t i = 0; internal[i]; i++)
        if (!memmem(in->data, in->size, internal[i], strlen(internal[i])))
            FUZZ_CHECK(!strstr(text, internal[i]), "an answer names internals: %s", text);
}

static int ph_one_of(const char *s, const char *a, const char *b, const char *c)
{
    return s && (!strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c));
}

/* The URL a fetch would go to is on the endpoint's host, whatever the payload said. */
static void ph_check_fetch(const struct ph_spec *spec, const struct ph_input *in,
                           const struct cm_endpoint *ep, const struct cm_event *ev)
{
    char url[2048], why[512], detail[1024];
    struct cm_url got, want, ssh;

    for (int prefer_ssh = 0; prefer_ssh <= 1; prefer_ssh++) {
        if (cm_fetch_url(ep, prefer_ssh, ev, url, sizeof(url), why, sizeof(why), detail,
                         sizeof(detail)) != CM_OK) {
            FUZZ_CHECK(why[0], "a refused fetch URL has no reason");
            ph_check_text(spec, in, why);
            continue;
        }
        FUZZ_CHECK(cm_url_parse(url, &got) == CM_OK, "fetch URL %s does not parse", url);
        if (ep->conf->clone_url) {
            char probe[2048];
            FUZZ_CHECK(cm_url_expand(ep->conf->clone_url, "o/r", probe, sizeof(probe)) == CM_OK &&
                           cm_url_parse(probe, &want) == CM_OK,
                       "template");
            FUZZ_CHECK(cm_url_same_origin(&got, &want), "fetch URL %s left the template's host",
                       url);
            continue;
        }
        FUZZ_CHECK(ep->url && cm_url_parse(ep->url, &want) == CM_OK, "no url, yet %s", url);
        int on_ssh = ep->conf->ssh_url && cm_url_parse(ep->conf->ssh_url, &ssh) == CM_OK &&
                     cm_url_same_origin(&got, &ssh);
        FUZZ_CHECK(cm_url_same_origin(&got, &want) || on_ssh,
                   "fetch URL %s is not on the endpoint's host", url);
    }
}

/* What an accepted delivery must have made: named, storable events with sane changes. */
static void ph_check_events(const struct ph_spec *spec, const struct ph_input *in,
                            const struct cm_request *req)
{
    const struct cm_endpoint *ep = req->endpoint;
    char err[256];
    const char *why;

    FUZZ_CHECK(req->n_events > 0, "CM_OK without an event");
    for (size_t i = 0; i < req->n_events; i++) {
        const struct cm_event *ev = req->events[i];
        const char *repo = cm_event_get(ev, CM_FIELD_REPOSITORY), *json;
        struct cm_event *back = NULL;

        FUZZ_CHECK(repo && cm_repo_name_check(repo, &why) == CM_OK, "repository %s accepted",
                   repo ? repo : "(none)");
        FUZZ_CHECK(!strcmp(cm_event_get(ev, CM_FIELD_ENDPOINT), ep->conf->name), "endpoint");
        FUZZ_CHECK(ev->n_changes > 0 || !ev->complete,
                   "an event without changes is marked complete: the sync would look at nothing");
        for (size_t c = 0; c < ev->n_changes; c++) {
            const struct cm_change *ch = &ev->changes[c];
            FUZZ_CHECK(ch->ref && ch->ref[0], "change without ref");
            FUZZ_CHECK(ph_one_of(ch->kind, "branch", "tag", "other"), "kind");
            FUZZ_CHECK(ph_one_of(ch->action, "create", "update", "delete"), "action");
            /* A side may be unknown (CM_ID_UNKNOWN), never both absent: that is no change. */
            FUZZ_CHECK(ch->old_id || ch->new_id || ch->old_unknown || ch->new_unknown,
                       "change %s has neither id", ch->ref);
            FUZZ_CHECK(!ch->old_id || cm_id_is_valid(ch->old_id), "old id %s", ch->old_id);
            FUZZ_CHECK(!ch->new_id || cm_id_is_valid(ch->new_id), "new id %s", ch->new_id);
        }
        /* The spool stores the JSON form and workers read it back: it must exist and
         * round-trip, or an accepted delivery is lost after its 202. */
        json = cm_event_json(ev);
        FUZZ_CHECK(json, "an accepted event has no JSON form");
        FUZZ_CHECK(cm_event_from_json(&back, json, err, sizeof(err)) == CM_OK, "%s: %s", err, json);
        FUZZ_CHECK(!strcmp(cm_event_json(back), json), "JSON form does not round-trip: %s", json);
        cm_event_free(back);
        ph_check_fetch(spec, in, ep, ev);
    }
}

static void ph_dispatch(const struct ph_spec *spec, const struct ph_input *in,
                        const struct ph_endpoint *pe, const struct cm_endpoint *ep, int sign)
{
    const struct cm_provider *p = ep->provider;
    struct cm_request *req;
    int rc;

    FUZZ_CHECK(cm_request_new(&req, ep) == CM_OK, "out of memory");
    req->received_at = PH_NOW;
    for (size_t i = 0; i < in->n_headers; i++)
        if (!sign || !ph_dropped(in->headers[i].name, pe->drop))
            FUZZ_CHECK(cm_request_add_header(req, in->headers[i].name, in->headers[i].value) ==
                           CM_OK,
                       "out of memory");
    if (sign)
        FUZZ_CHECK(pe->sign(req, in->body, in->body_len) == CM_OK, "signer failed");
    FUZZ_CHECK(cm_request_set_body(req, in->body, in->body_len) == CM_OK, "out of memory");

    /* Sniffing runs before verify's verdict and before a form is decoded (dispatch's hint). */
    rc = p->sniff ? p->sniff(&cm_host_services, req) : 0;
    FUZZ_CHECK(rc == 0 || rc == 1, "sniff returned %d", rc);

    rc = cm_dispatch(&ph_gw, req);
    if (getenv("CM_FUZZ_DEBUG")) /* what each input gets, when writing seeds */
        fprintf(stderr, "%s%s: %s, %zu events: %s\n", ep->conf->name, sign ? " (signed)" : "",
                cm_status_name(rc), req->n_events, req->reason);
    FUZZ_CHECK(rc <= CM_OK && rc >= CM_ENOENT, "status %d", rc);
    FUZZ_CHECK(req->status == rc, "req->status %d, returned %d", req->status, rc);
    FUZZ_CHECK(memchr(req->reason, '\0', sizeof(req->reason)), "reason not terminated");
    FUZZ_CHECK(memchr(req->detail, '\0', sizeof(req->detail)), "detail not terminated");
    if (rc == CM_EINVAL || rc == CM_EAUTH)
        FUZZ_CHECK(req->reason[0], "refused (%s) without a reason", cm_status_name(rc));
    if (sign)
        FUZZ_CHECK(rc != CM_EAUTH, "a delivery signed with the endpoint's secret was refused: %s",
                   req->reason);
    ph_check_text(spec, in, req->reason);
    if (rc == CM_OK)
        ph_check_events(spec, in, req);
    cm_request_free(req);
}

int ph_run(const struct ph_spec *spec, const uint8_t *data, size_t size)
{
    struct ph_input in;

    ph_setup(spec);
    ph_parse(data, size, &in);
    for (size_t i = 0; i < spec->n_endpoints; i++) {
        const struct cm_endpoint *ep = cm_gateway_endpoint(&ph_gw, spec->endpoints[i].name);
        FUZZ_CHECK(ep, "no endpoint %s in the spec's config", spec->endpoints[i].name);
        ph_dispatch(spec, &in, &spec->endpoints[i], ep, 0);
        if (spec->endpoints[i].sign)
            ph_dispatch(spec, &in, &spec->endpoints[i], ep, 1);
    }
    ph_free(&in);
    return 0;
}
