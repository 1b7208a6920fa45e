/* SPDX-License-Identifier: MIT */
/*
 * Routes: POST /api/webhooks/<endpoint>, GET /healthz, the operator routes (/metrics, /api/...,
 * behind server.admin_token or loopback-only), and the GET routes sync plugins serve (behind
 * their entry's tokens). The body cap is enforced from Content-Length before anything is read
 * and again while the body streams in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon.h"
#include "http/forwarded.h"
#include "http/guard.h"
#include "http/respond.h"
#include "http/server.h"
#include "intake/event.h"
#include "intake/intake.h"
#include "intake/request.h"
#include "ops/activity.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "plugin/route.h"
#include "sync/worker.h"
#include "util/buf.h"
#include "util/deadline.h"

/* Marks a non-webhook request whose body is being skipped (con_cls is otherwise an upload). */
static char skipping;

struct cm_http {
    struct MHD_Daemon *mhd;
    struct cm_daemon *d;
    struct cm_http_guard *guard;
    int stop_timeout; /* seconds a stop waits for requests in flight */
};

/* Per-connection state of one webhook POST while its body arrives. */
struct upload {
    char *buf;
    size_t len, cap;
    int too_large;
    const struct cm_endpoint *endpoint; /* borrowed from gw */
    struct cm_gateway *gw;              /* acquired for the whole request */
    struct cm_daemon *d;
    long long started_ms;       /* when its head was in, for the delivery's log line */
    struct cm_http_client from; /* who sent it, judged when its head was in */
};

/* What one webhook request came to, for its metric, log line and record. */
struct outcome {
    const char *name; /* the endpoint the URL named */
    int known;        /* it is configured (metrics count unknown ones together) */
    const struct cm_http_client *from;
    long long started_ms;
    int code;
    const char *reason; /* why it was refused or ignored, NULL for a 202 */
    uint64_t record;    /* its delivery log record, 0 when none */
};

static const char *mhd_header(void *arg, const char *name)
{
    return MHD_lookup_connection_value(arg, MHD_HEADER_KIND, name);
}

/* Every webhook answer is counted and logged on one line: what an operator greps for. req
 * may be NULL (refused before it was read), then the delivery id is read from c's headers. */
static void answered(struct MHD_Connection *c, struct cm_daemon *d, const struct outcome *o,
                     const struct cm_request *req)
{
    char repos[1024] = "", did[CM_DELIVERY_ID_ROOM];
    struct cm_log_delivery line = {.endpoint = o->name,
                                   .status = o->code,
                                   .reason = o->reason,
                                   .client = o->from->text,
                                   .via = o->from->via[0] ? o->from->via : NULL,
                                   .record = o->record};
    size_t used = 0;

    cm_metrics_request(d->metrics, o->known ? o->name : "(unknown)", o->code);
    for (size_t i = 0; req && i < req->n_events; i++) {
        const char *r = cm_event_get(req->events[i], CM_FIELD_REPOSITORY);
        int w = snprintf(repos + used, sizeof(repos) - used, "%s%s", used ? "," : "", r ? r : "");
        if (w > 0 && (size_t)w < sizeof(repos) - used)
            used += (size_t)w;
    }
    line.delivery =
        req ? cm_request_delivery_id(req, did) : cm_delivery_id_header(mhd_header, c, did);
    line.repository = used ? repos : NULL;
    line.duration_ms = cm_monotonic_ms() - o->started_ms;
    cm_log_delivery(&line);
}

/* A request refused before intake read it (unknown endpoint, method, allow_from, size,
 * content type, out of memory): recorded as a weak record with the delivery id its headers
 * carry, logged, and answered code with msg. */
static MHD_RESULT refuse_early(struct MHD_Connection *c, struct cm_daemon *d, struct outcome *o,
                               const char *msg)
{
    char did[CM_DELIVERY_ID_ROOM], name[160];
    struct cm_activity_from from = {.status = o->code,
                                    .client = o->from->known ? o->from->text : NULL,
                                    .via = o->from->via[0] ? o->from->via : NULL,
                                    .weak = 1};

    /* The URL's name may be anything: kept printable ASCII, so the record is valid JSON. */
    cm_log_escape(name, sizeof(name), o->name, 1);
    o->reason = msg;
    o->record =
        cm_activity_webhook(d->activity, 0, NULL, name, cm_delivery_id_header(mhd_header, c, did),
                            "rejected", msg, &from);
    answered(c, d, o, NULL);
    return cm_http_send_error(c, o->code, msg);
}

static MHD_RESULT collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    struct cm_buf *b = cls;
    (void)kind;
    if (strcasecmp(key, "X-Forwarded-For") || !value)
        return MHD_YES;
    return cm_buf_printf(b, "%s%s", b->len ? ", " : "", value) == CM_OK ? MHD_YES : MHD_NO;
}

/* Who sent c's request: the peer, or the client X-Forwarded-For names when the peer is one of
 * server.trusted_proxies (every such header, in order, as one list). */
static void judge_client(struct MHD_Connection *c, const struct cm_config *cfg,
                         struct cm_http_client *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct cm_buf xff = {0};

    if (cfg->n_trusted_proxies)
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_xff, &xff);
    cm_http_client_judge(out, ci ? ci->client_addr : NULL, xff.p, cfg->trusted_proxies,
                         cfg->n_trusted_proxies);
    free(xff.p);
}

/* Every answer goes through here: once answered, the request is no longer under the deadline
 * (MHD reads no more of it), and sending the answer is left to connection_timeout. While the
 * front stops, the answer closes its connection, so no client sends a next request on it
 * that the stop would cut. */
/* MHD_get_connection_values only counts what it iterated: a copy that failed must be
 * recorded here, or the request would go on with some of its headers missing. */
struct header_copy {
    struct cm_request *req;
    int rc; /* CM_OK, or the first failure */
};

static MHD_RESULT collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct header_copy *hc = cls;
    (void)kind;
    hc->rc = cm_request_add_header(hc->req, key, value ? value : "");
    return hc->rc == CM_OK ? MHD_YES : MHD_NO;
}

static int allowed_source(const struct cm_http_client *from, const struct cm_endpoint_conf *ec)
{
    return !ec->n_allow_from ||
           (from->known && cm_cidr_match(ec->allow_from, ec->n_allow_from, &from->addr.sa));
}

/* The 403 names the address it judged, and how, so the operator sees what to list. */
static void not_allowed(char *msg, size_t len, const struct cm_http_client *from, const char *name)
{
    if (!from->via[0])
        snprintf(msg, len,
                 "the source address %s is not in allow_from of endpoint \"%s\"; behind a "
                 "proxy set server.trusted_proxies",
                 from->text, name);
    else if (from->known)
        snprintf(msg, len,
                 "the client address %s (forwarded by %s) is not in allow_from of endpoint "
                 "\"%s\"",
                 from->text, from->via, name);
    else
        snprintf(msg, len,
                 "X-Forwarded-For from %s holds an entry that is not an address, so the client "
                 "is unknown and not in allow_from of endpoint \"%s\"",
                 from->via, name);
}

static int content_type_ok(const char *ct)
{
    static const char *const ok[] = {"application/json", "application/x-www-form-urlencoded"};
    if (!ct)
        return 1; /* some hosts omit it for JSON; the provider judges the body */
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
        if (cm_media_type_is(ct, ok[i]))
            return 1;
    return 0;
}

static MHD_RESULT finish_webhook(struct MHD_Connection *c, struct upload *u)
{
    struct cm_request *req = NULL;
    int code = 500, retry_after = 0;
    char *body = NULL;
    MHD_RESULT ret;

    struct header_copy hc = {NULL, CM_ENOMEM};
    if (cm_request_new(&req, u->endpoint) == CM_OK) {
        hc = (struct header_copy){req, CM_OK};
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &hc);
    }
    struct outcome o = {u->endpoint->conf->name, 1, &u->from, u->started_ms, 500, NULL, 0};
    if (hc.rc != CM_OK) {
        cm_log(CM_LOG_ERR, u->endpoint->conf->name, "out of memory copying a request's headers");
        cm_request_free(req);
        return refuse_early(c, u->d, &o, "out of memory");
    }
    if (cm_request_set_body(req, u->buf ? u->buf : "", u->len) != CM_OK) {
        cm_request_free(req);
        return refuse_early(c, u->d, &o, "out of memory");
    }
    memcpy(req->client, u->from.known ? u->from.text : "", sizeof(req->client));
    memcpy(req->via, u->from.via, sizeof(req->via));
    cm_intake(u->d, u->gw, req, &code, &body, &retry_after);
    o.code = code;
    o.reason = req->detail[0] ? req->detail : req->reason[0] ? req->reason : NULL;
    o.record = req->n_records ? req->records[0] : 0;
    answered(c, u->d, &o, req);
    ret = body ? cm_http_send_text(c, code, "application/json", body, retry_after, NULL)
               : cm_http_send_error(c, 500, "out of memory");
    free(body);
    cm_request_free(req);
    return ret;
}

static MHD_RESULT on_webhook(struct MHD_Connection *c, struct cm_daemon *d, const char *name,
                             const char *method, const char *data, size_t *size, void **con_cls)
{
    struct upload *u = *con_cls;
    char msg[512];

    if (!u) {
        long long started_ms = cm_monotonic_ms();
        struct cm_gateway *gw = cm_daemon_acquire(d);
        const struct cm_endpoint *ep = cm_gateway_endpoint(gw, name);
        struct cm_http_client from;
        int code = 0;
        const char *len_hdr, *ct;
        judge_client(c, gw->config, &from);
        if (!ep) {
            snprintf(msg, sizeof(msg),
                     "no endpoint \"%s\": the configured endpoints are listed by "
                     "`cargoman check`",
                     name);
            code = 404;
        } else if (strcmp(method, "POST")) {
            snprintf(msg, sizeof(msg), "webhooks are delivered with POST, not %s", method);
            code = 405;
        } else if (!allowed_source(&from, ep->conf)) {
            not_allowed(msg, sizeof(msg), &from, name);
            code = 403;
        } else if ((len_hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length")) &&
                   strtoll(len_hdr, NULL, 10) > d->max_body) {
            snprintf(msg, sizeof(msg), "body of %.20s bytes is larger than server.max_body (%lld)",
                     len_hdr, d->max_body);
            code = 413;
        } else if (!content_type_ok(
                       ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"))) {
            snprintf(msg, sizeof(msg),
                     "content type \"%s\" is not accepted: configure the hook "
                     "to send application/json",
                     ct);
            code = 415;
        }
        if (code) {
            struct outcome o = {name, ep != NULL, &from, started_ms, code, NULL, 0};
            MHD_RESULT ret = refuse_early(c, d, &o, msg);
            cm_daemon_release(d, gw);
            return ret;
        }
        if (!(u = calloc(1, sizeof(*u)))) {
            cm_daemon_release(d, gw);
            return MHD_NO;
        }
        u->gw = gw;
        u->endpoint = ep;
        u->d = d;
        u->started_ms = started_ms;
        u->from = from;
        *con_cls = u;
        return MHD_YES;
    }
    if (*size) {
        if (!u->too_large && u->len + *size > (size_t)d->max_body)
            u->too_large = 1;
        if (!u->too_large) {
            if (u->len + *size > u->cap) {
                size_t cap = u->cap ? u->cap : 8192;
                while (cap < u->len + *size)
                    cap *= 2;
                char *p = realloc(u->buf, cap);
                if (!p)
                    return MHD_NO;
                u->buf = p;
                u->cap = cap;
            }
            memcpy(u->buf + u->len, data, *size);
            u->len += *size;
        }
        *size = 0; /* consumed (or discarded once over the cap) */
        return MHD_YES;
    }
    cm_http_guard_request_in(c); /* the body is in: intake's fsync is not the client's delay */
    if (u->too_large) {
        struct outcome o = {name, 1, &u->from, u->started_ms, 413, NULL, 0};
        snprintf(msg, sizeof(msg), "body is larger than server.max_body (%lld bytes)", d->max_body);
        return refuse_early(c, d, &o, msg);
    }
    return finish_webhook(c, u);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct cm_daemon *d = cls;
    struct upload *u = *con_cls;
    (void)toe;
    cm_http_guard_request_done(c);
    if (!u || *con_cls == (void *)&skipping)
        return;
    cm_daemon_release(d, u->gw);
    free(u->buf);
    free(u);
    *con_cls = NULL;
}

/* /metrics and /api/ but the webhooks: the operator's view of deliveries and mirrors. */
static int admin_route(const char *url)
{
    if (!strcmp(url, "/metrics"))
        return 1;
    return !strncmp(url, "/api/", 5) &&
           !(!strncmp(url, "/api/webhooks", 13) && (url[13] == '\0' || url[13] == '/'));
}

/* 1 when a web page made a browser send c's request: any page the operator opens on this
 * host could otherwise use the loopback trust, by a cross-site form POST (no preflight) or a
 * DNS name rebound to 127.0.0.1. Sec-Fetch-Site "none" is the operator's own address bar. */
static int from_a_page(struct MHD_Connection *c)
{
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") ||
           (site && strcmp(site, "none"));
}

/* 0 when c may use an operator route, else the refusal has been queued into *ret. */
static int admin_refused(struct MHD_Connection *c, struct cm_daemon *d, MHD_RESULT *ret)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    /* A proxy on this host connects from loopback for every client it forwards: its requests
     * get no loopback trust (no address counts as loopback then), nor do a page's. */
    int forwarded = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Forwarded") ||
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For") ||
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP");
    int page = from_a_page(c);
    struct cm_gateway *gw = cm_daemon_acquire(d);
    int code = cm_http_admin_access(gw->config->admin_token, auth,
                                    ci && !forwarded && !page ? ci->client_addr : NULL);
    cm_daemon_release(d, gw);
    if (!code)
        return 0;
    if (code == 403) {
        *ret = cm_http_send_error(
            c, 403,
            forwarded ? "without server.admin_token the operator routes answer only "
                        "loopback clients, and not through a proxy: set "
                        "server.admin_token and send Authorization: Bearer <token>"
            : page    ? "without server.admin_token the operator routes answer only loopback "
                        "clients, and not a request a web page made a browser send: use curl or "
                        "cargoman, or set server.admin_token"
                      : "without server.admin_token the operator routes answer only "
                        "loopback clients: set server.admin_token and send "
                        "Authorization: Bearer <token>");
        return 1;
    }
    static const char need[] = "{\"status\":\"error\",\"error\":\"this route needs the admin "
                               "token: send Authorization: Bearer <server.admin_token>\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(need) - 1, (void *)need, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        *ret = MHD_NO;
        return 1;
    }
    /* RFC 6750: a token that was sent but is not right is an invalid_token. */
    MHD_add_response_header(r, "WWW-Authenticate",
                            auth ? "Bearer realm=\"cargoman\", error=\"invalid_token\""
                                 : "Bearer realm=\"cargoman\"");
    MHD_add_response_header(r, "Content-Type", "application/json");
    *ret = cm_http_queue(c, 401, r);
    MHD_destroy_response(r);
    return 1;
}

/* 503 when nothing would sync what is accepted: no worker left, or a due job waiting for a
 * worker past server.healthz_max_due_age (every worker stuck). One line, no names or paths:
 * anyone may ask. */
int cm_http_health(int workers_alive, long long age, long long max_age, char *reason, size_t len)
{
    if (workers_alive == 0)
        snprintf(reason, len, "no sync worker is alive; restart the gateway\n");
    else if (age > max_age)
        snprintf(reason, len,
                 "the oldest due job has waited %llds, past server.healthz_max_due_age = %llds; "
                 "see the log and /api/repositories\n",
                 age, max_age);
    else
        return 0;
    return 503;
}

static MHD_RESULT on_healthz(struct MHD_Connection *c, struct cm_daemon *d)
{
    struct cm_gateway *gw = cm_daemon_acquire(d);
    long long max_age = gw->config->healthz_max_due_age;
    long long age = d->queue->ops->oldest_age(d->queue, (long long)time(NULL));
    char reason[256];

    cm_daemon_release(d, gw);
    if (cm_http_health(d->workers ? cm_workers_alive(d->workers) : -1, age, max_age, reason,
                       sizeof(reason)) == 0)
        return cm_http_send_text(c, 200, "text/plain", "ok\n", 0, NULL);
    return cm_http_send_text(c, 503, "text/plain", reason, 0, NULL);
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **con_cls)
{
    struct cm_http *h = cls;
    struct cm_daemon *d = h->d;
    MHD_RESULT refused;
    (void)version;

    if (!*con_cls)
        cm_http_guard_request_begun(c);
    if (!strncmp(url, "/api/webhooks/", 14) && url[14])
        return on_webhook(c, d, url + 14, method, data, size, con_cls);
    /* Before the method or the route is judged, so neither a body nor a route name is
     * learnt without the token. */
    if (!*con_cls && admin_route(url) && admin_refused(c, d, &refused))
        return refused;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        if (!*con_cls) { /* answer once the request head is in */
            *con_cls = &skipping;
            return MHD_YES;
        }
        /* The body is skipped; the answer goes with the call that ends it (*size 0): one
         * queued at a chunk left that last call to begin the request again, unanswered. */
        if (*size) {
            *size = 0;
            return MHD_YES;
        }
        if (!strcmp(method, "POST") && cm_http_action_route(url)) {
            *con_cls = NULL;
            return cm_http_on_action(c, d, url);
        }
        if (!strcmp(method, "POST") && !strncmp(url, "/api/", 5)) {
            struct cm_gateway *gw = cm_daemon_acquire(d);
            const struct cm_route *route;
            const char *rest;
            const struct cm_sync *s = cm_route_find_admin(gw, url, &route, &rest);
            *con_cls = NULL;
            if (s)
                return cm_http_on_admin_route(c, d, url, method, gw, s, rest);
            cm_daemon_release(d, gw);
        }
        if (!strcmp(url, "/healthz") || !strncmp(url, "/api/", 5) || !strcmp(url, "/metrics")) {
            *con_cls = NULL;
            return cm_http_send_text(c, 405, "application/json",
                                     "{\"status\":\"error\",\"error\":\"use GET\"}", 0, "GET");
        }
        *con_cls = NULL;
        return cm_http_send_error(c, 404, "no such route");
    }
    if (!strcmp(url, "/healthz"))
        return on_healthz(c, d);
    if (!strcmp(url, "/metrics"))
        return cm_http_send_owned(c, 200, "text/plain; version=0.0.4",
                                  cm_metrics_render(d->metrics, d->queue->ops->depth(d->queue)));
    if (!strcmp(url, "/api/deliveries") || !strncmp(url, "/api/deliveries/", 16))
        return cm_http_on_deliveries(c, d, url);
    if (!strcmp(url, "/api/repositories") || !strncmp(url, "/api/repositories/", 18))
        return cm_http_on_repository(c, d, url);
    struct cm_gateway *gw = cm_daemon_acquire(d);
    const struct cm_route *route;
    const char *rest;
    const struct cm_sync *s = cm_route_find(gw, url, &route);
    if (s)
        return cm_http_on_route(c, d, url, method, gw, s, route);
    if ((s = cm_route_find_admin(gw, url, &route, &rest)) != NULL)
        return cm_http_on_admin_route(c, d, url, method, gw, s, rest);
    cm_daemon_release(d, gw);
    if (!strncmp(url, "/api/webhooks/", 14))
        return cm_http_send_error(c, 404, "name the endpoint: POST /api/webhooks/<endpoint>");
    return cm_http_send_error(c, 404, "no such route");
}

int cm_http_parse_listen(const char *listen, struct sockaddr_storage *out, char *err, size_t errlen)
{
    char host[256];
    unsigned port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;

    memset(out, 0, sizeof(*out));
    if (cm_config_split_listen(listen, host, sizeof(host), &port) == CM_OK) {
        if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons((uint16_t)port);
            return CM_OK;
        }
        if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons((uint16_t)port);
            return CM_OK;
        }
    }
    snprintf(err, errlen,
             "listen address \"%s\" is not HOST:PORT (e.g. 127.0.0.1:8080 or "
             "[::1]:8080)",
             listen);
    return CM_EINVAL;
}

int cm_http_start(struct cm_http **out, struct cm_daemon *d, const char *listen,
                  const struct cm_http_limits *lim, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    struct cm_http *h;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ITC;
    int rc = cm_http_parse_listen(listen, &sa, err, errlen);
    if (rc != CM_OK)
        return rc;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (!(h = calloc(1, sizeof(*h))))
        return CM_ENOMEM;
    h->d = d;
    h->stop_timeout = lim->stop_timeout;
    if ((rc = cm_http_guard_new(&h->guard, d->metrics, lim->max_connections_per_ip,
                                lim->request_timeout, lim->connection_timeout)) != CM_OK) {
        snprintf(err, errlen, "cannot start the HTTP connection guard: %s", strerror(errno));
        free(h);
        return rc;
    }
    /* MHD's own MHD_OPTION_PER_IP_CONNECTION_LIMIT refuses without telling anyone, so the
     * limit is the guard's accept policy: it can count and log what it refuses. */
    h->mhd = MHD_start_daemon(
        flags, 0, lim->max_connections_per_ip > 0 ? cm_http_guard_accept : NULL, h->guard,
        on_request, h, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)lim->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)lim->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)lim->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, d, MHD_OPTION_NOTIFY_CONNECTION,
        cm_http_guard_notify, h->guard, MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errlen, "cannot listen on %s: %s (is another process using the port?)",
                 listen, strerror(errno));
        cm_http_guard_free(h->guard);
        free(h);
        return CM_ERROR;
    }
    *out = h;
    return CM_OK;
}

unsigned cm_http_stop(struct cm_http *h)
{
    unsigned cut;
    if (!h)
        return 0;
    /* Quiesce first: no new connections, while the requests already in finish. MHD hands the
     * listen socket back rather than closing it; closed, it refuses the clients still in its
     * backlog at once instead of leaving them to time out. */
    MHD_socket fd = MHD_quiesce_daemon(h->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    cut = cm_http_guard_drain(h->guard, h->stop_timeout);
    MHD_stop_daemon(h->mhd);
    /* After MHD, which sends the last CLOSED notices to the guard while it stops. */
    cm_http_guard_free(h->guard);
    free(h);
    return cut;
}
