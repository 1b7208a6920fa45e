/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front's decisions that loopback cannot show: who may use the operator routes (a
 * client address off loopback cannot be made on this machine), the operator answers' paths,
 * shown relative to the data directory and never absolute, and the routes sync plugins serve:
 * their read tokens, the checks on a descriptor's routes, and files kept inside the state dir.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "config/config.h"
#include "http/forwarded.h"
#include "http/server.h"
#include "ops/activity.h"
#include "plugin/gateway.h"
#include "plugin/route.h"

#define TOKEN "0123456789abcdef-token"

static const struct {
    const char *token, *authorization, *addr; /* addr NULL: no address known */
    int want;                                 /* 0 allowed, else the status */
} access_cases[] = {
    /* No token: loopback only, every spelling of it. */
    {NULL, NULL, "127.0.0.1", 0},
    {NULL, NULL, "127.255.255.254", 0},
    {NULL, NULL, "::1", 0},
    {NULL, NULL, "::ffff:127.0.0.1", 0},
    {NULL, NULL, "::ffff:127.9.8.7", 0},
    {NULL, NULL, "10.0.0.1", 403},
    {NULL, NULL, "128.0.0.1", 403},
    {NULL, NULL, "126.255.255.255", 403},
    {NULL, NULL, "0.0.0.0", 403},
    {NULL, NULL, "192.0.2.1", 403},
    {NULL, NULL, "::ffff:10.0.0.1", 403},
    {NULL, NULL, "::2", 403},
    {NULL, NULL, "::", 403},
    {NULL, NULL, "::127.0.0.1", 403}, /* IPv4-compatible is not mapped: not loopback */
    {NULL, NULL, "2001:db8::1", 403},
    {NULL, NULL, "fe80::1", 403},
    {NULL, NULL, NULL, 403},
    /* A header changes nothing without a token: nothing to compare it with. */
    {NULL, "Bearer " TOKEN, "10.0.0.1", 403},
    /* With a token: the token, from anywhere, and loopback is no exception. */
    {TOKEN, "Bearer " TOKEN, "10.0.0.1", 0},
    {TOKEN, "Bearer " TOKEN, "2001:db8::1", 0},
    {TOKEN, "Bearer " TOKEN, "127.0.0.1", 0},
    {TOKEN, "bearer " TOKEN, "127.0.0.1", 0},
    {TOKEN, "BEARER   " TOKEN, "127.0.0.1", 0},
    {TOKEN, "Bearer " TOKEN, NULL, 0},
    {TOKEN, NULL, "127.0.0.1", 401},
    {TOKEN, NULL, "10.0.0.1", 401},
    {TOKEN, "", "127.0.0.1", 401},
    {TOKEN, "Bearer", "127.0.0.1", 401},
    {TOKEN, "Bearer ", "127.0.0.1", 401},
    {TOKEN, "Bearer 0123456789abcdef-tokeX", "127.0.0.1", 401},
    {TOKEN, "Bearer 0123456789abcdef-toke", "127.0.0.1", 401},
    {TOKEN, "Bearer " TOKEN "x", "127.0.0.1", 401},
    {TOKEN, "Bearer " TOKEN " ", "127.0.0.1", 401},
    {TOKEN, "Bearer" TOKEN, "127.0.0.1", 401},
    {TOKEN, TOKEN, "127.0.0.1", 401},
    {TOKEN, "Basic " TOKEN, "127.0.0.1", 401},
    {TOKEN, "Token " TOKEN, "127.0.0.1", 401},
};

START_TEST(test_admin_access)
{
    struct sockaddr_storage ss;
    const struct sockaddr *sa = NULL;
    const char *addr = access_cases[_i].addr;

    memset(&ss, 0, sizeof(ss));
    if (addr && strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
        sa = (const struct sockaddr *)&ss;
    } else if (addr) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
        sa = (const struct sockaddr *)&ss;
    }
    ck_assert_msg(cm_http_admin_access(access_cases[_i].token, access_cases[_i].authorization,
                                       sa) == access_cases[_i].want,
                  "token %s, Authorization %s, client %s: want %d", access_cases[_i].token,
                  access_cases[_i].authorization, addr, access_cases[_i].want);
}
END_TEST

/* A family that is neither IPv4 nor IPv6 is not loopback. */
START_TEST(test_admin_access_unix)
{
    struct sockaddr sa = {.sa_family = AF_UNIX};
    ck_assert_int_eq(cm_http_admin_access(NULL, NULL, &sa), 403);
}
END_TEST

/* What the operator API shows of paths, for a data directory given absolute and relative. */
START_TEST(test_status_paths)
{
    struct cm_activity *st = NULL;
    char *s, err[256];

    ck_assert_int_eq(cm_activity_new(&st, "/srv/cargoman/"), CM_OK);
    cm_activity_repository(st, "gh", "o/r", "/srv/cargoman/mirrors/gh/o/r.git", NULL, 0,
                           "cannot read ssl_ca_file /etc/ssl/private/company-ca.pem: No such file");
    cm_activity_delivery(st, 1, NULL, "gh", "d-1", "queued", NULL);
    cm_activity_delivery_state(st, 1, "retrying",
                               "cannot open mirror /srv/cargoman/mirrors/gh/o/r.git (\"/tmp/x\"); "
                               "fetching https://github.com/o/r.git failed: 404 /o/r");
    ck_assert_int_eq(cm_activity_repositories_json(st, &s, err, sizeof(err)), CM_OK);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "\"mirror\": \"mirrors/gh/o/r.git\""), "%s", s);
    ck_assert_msg(strstr(s, "ssl_ca_file .../company-ca.pem: No such file"), "%s", s);
    ck_assert_msg(!strstr(s, "/srv") && !strstr(s, "/etc"), "%s", s);
    free(s);
    s = cm_activity_deliveries_json(st);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "cannot open mirror mirrors/gh/o/r.git (\\\".../x\\\"); fetching "
                            "https://github.com/o/r.git failed: 404 .../r"),
                  "%s", s);
    free(s);
    cm_activity_free(st);

    /* Relative, as shipped ("var"): its paths lose the prefix, other words keep theirs. */
    ck_assert_int_eq(cm_activity_new(&st, "var"), CM_OK);
    cm_activity_repository(st, "gh", "o/r", "var/mirrors/gh/o/r.git", NULL, 0,
                           "var/mirrors/x and navar/x and var");
    ck_assert_int_eq(cm_activity_repositories_json(st, &s, err, sizeof(err)), CM_OK);
    ck_assert_msg(strstr(s, "\"mirror\": \"mirrors/gh/o/r.git\""), "%s", s);
    ck_assert_msg(strstr(s, "\"last_error\": \"mirrors/x and navar/x and var\""), "%s", s);
    free(s);
    cm_activity_free(st);
}
END_TEST

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The /healthz verdict, including the case a fixed daemon cannot reach: every worker gone. */
START_TEST(test_health)
{
    char reason[256];

    ck_assert_int_eq(cm_http_health(2, 0, 3600, reason, sizeof(reason)), 0);
    ck_assert_int_eq(cm_http_health(-1, 0, 3600, reason, sizeof(reason)), 0);
    ck_assert_int_eq(cm_http_health(2, 3600, 3600, reason, sizeof(reason)), 0);
    ck_assert_int_eq(cm_http_health(0, 0, 3600, reason, sizeof(reason)), 503);
    ck_assert_str_eq(reason, "no sync worker is alive; restart the gateway\n");
    ck_assert_int_eq(cm_http_health(1, 3601, 3600, reason, sizeof(reason)), 503);
    ck_assert(strstr(reason, "waited 3601s, past server.healthz_max_due_age = 3600s"));
    ck_assert_ptr_eq(strchr(reason, '\n'), reason + strlen(reason) - 1);
}
END_TEST

/* ---- routes sync plugins serve ---- */

static char *const read_tokens[] = {"ci:t0ken", "dev:other"};

static const struct {
    size_t n;                  /* tokens configured: 0 or 2 */
    const char *authorization; /* the header, or NULL */
    int want;
} token_cases[] = {
    {0, NULL, 1},
    {0, "Basic Y2k6d3Jvbmc=", 1}, /* no tokens: the header is not looked at */
    {2, "Basic Y2k6dDBrZW4=", 1}, /* ci:t0ken */
    {2, "basic Y2k6dDBrZW4=", 1},
    {2, "Basic ZGV2Om90aGVy", 1}, /* dev:other */
    {2, "Bearer t0ken", 1},
    {2, "bearer  other", 1},
    {2, NULL, 0},
    {2, "", 0},
    {2, "Basic Y2k6d3Jvbmc=", 0}, /* ci:wrong */
    {2, "Basic Y2k6dDBrZW4", 1},  /* unpadded base64 is accepted */
    {2, "Basic !!!!", 0},
    {2, "Basic Y2k6dDBrZW4AanVuaw==", 0}, /* ci:t0ken, a NUL and more */
    {2, "Basic Y2k6dDBrZW4A", 0},         /* ci:t0ken and a NUL */
    {2, "Basic ", 0},
    {2, "Bearer ci:t0ken", 0}, /* Bearer carries the token alone */
    {2, "Bearer ", 0},
    {2, "Bearer t0ke", 0},
    {2, "Bearer t0kenx", 0},
    {2, "Token t0ken", 0},
    {2, "t0ken", 0},
};

START_TEST(test_token_access)
{
    ck_assert_msg(cm_http_token_access(read_tokens, token_cases[_i].n,
                                       token_cases[_i].authorization) == token_cases[_i].want,
                  "%zu tokens, Authorization %s: want %d", token_cases[_i].n,
                  token_cases[_i].authorization, token_cases[_i].want);
}
END_TEST

static int serve_nothing(void *self, const struct cm_http_request *rq, struct cm_http_response *rs)
{
    (void)self, (void)rq, (void)rs;
    return CM_ENOENT;
}

static int route_check(const char *path, int minor, int with_serve)
{
    struct cm_route routes[] = {{"/ok.json", NULL}, {path, NULL}, {NULL, NULL}};
    struct cm_sync_plugin p = {.abi_version = (uint32_t)CM_ABI_MAJOR << 16 | (uint32_t)minor,
                               .name = "p",
                               .routes = routes,
                               .serve = with_serve ? serve_nothing : NULL};
    char err[512] = "";
    int rc = cm_route_check(&p, "plugins/p.so", err, sizeof(err));
    ck_assert(rc == CM_OK || strncmp(err, "plugins/p.so: ", 14) == 0);
    return rc;
}

/* A descriptor's routes are checked before any of its code runs. */
START_TEST(test_route_check)
{
    ck_assert_int_eq(route_check("/p2/", 2, 1), CM_OK);
    ck_assert_int_eq(route_check("/dist/a.zip", 2, 1), CM_OK);
    ck_assert_int_eq(route_check("/p2/", 2, 0), CM_EINVAL); /* routes need serve */
    ck_assert_int_eq(route_check("p2/", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/a/../b", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/a//b", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/a\\b", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/api/x", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/api", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/api/webhooks/", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/healthz", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/metrics", 2, 1), CM_EINVAL);
    ck_assert_int_eq(route_check("/metrics/", 2, 1), CM_OK); /* a prefix the core never serves */
    /* A 1.1 descriptor ends before routes: whatever lies there is not read. */
    ck_assert_int_eq(route_check("/api/x", 1, 0), CM_OK);
}
END_TEST

static const struct cm_route repo_routes[] = {
    {"/packages.json", "hint"}, {"/p2/", NULL}, {NULL, NULL}};
static const struct cm_route other_routes[] = {{"/other/", NULL}, {NULL, NULL}};
static const struct cm_route clash_routes[] = {{"/p2/acme/", NULL}, {NULL, NULL}};

static void fake_gateway(struct cm_gateway *gw, struct cm_sync *syncs, struct cm_sync_conf *confs,
                         struct cm_sync_plugin *plugins, const struct cm_route *second)
{
    memset(gw, 0, sizeof(*gw));
    for (int i = 0; i < 2; i++) {
        memset(&syncs[i], 0, sizeof(syncs[i]));
        plugins[i] = (struct cm_sync_plugin){.abi_version = CM_ABI_VERSION,
                                             .name = i ? "b" : "a",
                                             .routes = i ? second : repo_routes,
                                             .serve = serve_nothing};
        confs[i] = (struct cm_sync_conf){.plugin = i ? "b" : "a", .file = "s.conf", .line = i + 1};
        syncs[i].conf = &confs[i];
        syncs[i].plugin = &plugins[i];
    }
    gw->syncs = syncs;
    gw->n_syncs = 2;
}

/* Which entry serves a path; two entries may not serve one. */
START_TEST(test_route_find)
{
    struct cm_gateway gw;
    struct cm_sync syncs[2];
    struct cm_sync_conf confs[2];
    struct cm_sync_plugin plugins[2];
    const struct cm_route *r = NULL;
    char err[512] = "";

    fake_gateway(&gw, syncs, confs, plugins, other_routes);
    ck_assert_int_eq(cm_route_check_gateway(&gw, err, sizeof(err)), CM_OK);
    ck_assert_ptr_eq(cm_route_find(&gw, "/packages.json", &r), &syncs[0]);
    ck_assert_str_eq(r->auth_hint, "hint");
    ck_assert_ptr_eq(cm_route_find(&gw, "/p2/acme/foo.json", &r), &syncs[0]);
    ck_assert_ptr_eq(cm_route_find(&gw, "/p2/", &r), &syncs[0]);
    ck_assert_ptr_eq(cm_route_find(&gw, "/other/x", &r), &syncs[1]);
    ck_assert_ptr_null(cm_route_find(&gw, "/p2", &r));
    ck_assert_ptr_null(cm_route_find(&gw, "/packages.jsonx", &r));
    ck_assert_ptr_null(cm_route_find(&gw, "/packages.json/", &r));
    ck_assert_ptr_null(cm_route_find(&gw, "/", &r));

    fake_gateway(&gw, syncs, confs, plugins, clash_routes);
    ck_assert_int_eq(cm_route_check_gateway(&gw, err, sizeof(err)), CM_EINVAL);
    ck_assert_str_eq(err, "s.conf:2: sync plugin b would serve /p2/acme/, which the sync entry "
                          "at s.conf:1 serves already: keep one of the two entries");
    fake_gateway(&gw, syncs, confs, plugins, repo_routes);
    ck_assert_int_eq(cm_route_check_gateway(&gw, err, sizeof(err)), CM_EINVAL);
}
END_TEST

/* A file answer comes from the state dir and nowhere else; a bad answer is refused. */
START_TEST(test_route_respond)
{
    char dir[] = "/tmp/cm-route-XXXXXX", path[512];
    struct cm_http_response rs;
    struct cm_ctx ctx;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    cm_ctx_init(&ctx, "plug", "plug", NULL, NULL, 0, dir);
    const char *state = cm_host_services.state_dir(&ctx);
    ck_assert_ptr_nonnull(state);
    snprintf(path, sizeof(path), "%s/p2", state);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/p2/a.json", state);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("{\"a\":1}", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/outside.json", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fclose(f);
    char link[512];
    snprintf(link, sizeof(link), "%s/p2/link.json", state);
    ck_assert_int_eq(symlink(path, link), 0);
    /* A directory link and a FIFO planted in the state dir. */
    char dlink[512], fifo[512];
    snprintf(dlink, sizeof(dlink), "%s/p2/evil", state);
    ck_assert_int_eq(symlink(dir, dlink), 0);
    snprintf(fifo, sizeof(fifo), "%s/p2/fifo.json", state);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);

    cm_http_response_init(&rs, &ctx);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "application/json", "p2/a.json"), CM_OK);
    ck_assert_int_ge(rs.fd, 0);
    ck_assert_uint_eq(rs.len, 7);
    ck_assert_int_eq(rs.status, 200);
    ck_assert_str_eq(rs.content_type, "application/json");
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "../outside.json"), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2/../../outside.json"), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", path), CM_EINVAL); /* absolute */
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", ""), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2//a.json"), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2/link.json"), CM_ENOENT);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2/evil/outside.json"), CM_ENOENT);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2/fifo.json"), CM_ENOENT);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2/./a.json"), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2"), CM_ENOENT); /* a directory */
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a", "p2/none.json"), CM_ENOENT);
    ck_assert_int_eq(cm_route_respond_file(&rs, 200, "a\r\nX: y", "p2/a.json"), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond_file(&rs, 42, "a", "p2/a.json"), CM_EINVAL);
    /* Refusals leave the earlier answer; a new one replaces it. */
    ck_assert_int_ge(rs.fd, 0);
    ck_assert_int_eq(cm_route_respond(&rs, 404, "text/plain", "no", 2), CM_OK);
    ck_assert_int_eq(rs.fd, -1);
    ck_assert_int_eq(rs.status, 404);
    ck_assert_uint_eq(rs.len, 2);
    ck_assert_int_eq(memcmp(rs.body, "no", 2), 0);
    ck_assert_int_eq(cm_route_respond(&rs, 600, "text/plain", "no", 2), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond(&rs, 200, "", "no", 2), CM_EINVAL);
    ck_assert_int_eq(cm_route_respond(&rs, 204, "text/plain", NULL, 0), CM_OK);
    cm_http_response_clear(&rs);

    unlink(link);
    unlink(dlink);
    unlink(fifo);
    snprintf(path, sizeof(path), "%s/p2/a.json", state);
    unlink(path);
    snprintf(path, sizeof(path), "%s/p2", state);
    rmdir(path);
    rmdir(state);
    snprintf(path, sizeof(path), "%s/outside.json", dir);
    unlink(path);
    rmdir(dir);
    cm_ctx_clear(&ctx);
}
END_TEST

/* X-Forwarded-For counts only from server.trusted_proxies, read right to left. */
static const struct {
    const char *peer, *xff;   /* xff NULL: no header */
    const char *client, *via; /* client "unknown": unreadable; via "": direct */
    int known;
} xff_cases[] = {
    /* No trusted proxy listed or the peer is not one: the header is the client's own claim. */
    {"203.0.113.7", "10.1.1.1", "203.0.113.7", "", 1},
    {"127.0.0.2", "10.1.1.1", "127.0.0.2", "", 1},
    /* From a trusted proxy: the right-most address that is not trusted is the client. */
    {"127.0.0.1", "203.0.113.7", "203.0.113.7", "127.0.0.1", 1},
    {"127.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7", "127.0.0.1", 1},
    {"127.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.5", "203.0.113.7", "127.0.0.1", 1},
    {"127.0.0.1", " 2001:db8::7 ", "2001:db8::7", "127.0.0.1", 1},
    {"127.0.0.1", "[2001:db8::7]", "2001:db8::7", "127.0.0.1", 1},
    /* Every hop trusted: the left-most is the client. */
    {"127.0.0.1", "10.0.0.9, 10.0.0.5", "10.0.0.9", "127.0.0.1", 1},
    /* No header, or an empty one: the proxy itself is the client. */
    {"127.0.0.1", NULL, "127.0.0.1", "", 1},
    {"127.0.0.1", "", "127.0.0.1", "", 1},
    /* What a client wrote to the left of what the proxy saw is never read. */
    {"127.0.0.1", "not-an-address, 203.0.113.7", "203.0.113.7", "127.0.0.1", 1},
    /* The proxy forwarded something that is not an address: nobody is known. */
    {"127.0.0.1", "203.0.113.7, garbage", "unknown", "127.0.0.1", 0},
    {"127.0.0.1", "203.0.113.7,", "unknown", "127.0.0.1", 0},
};

START_TEST(test_forwarded)
{
    struct cm_cidr trusted[2];
    struct sockaddr_in peer = {.sin_family = AF_INET};
    struct cm_http_client c;

    ck_assert_int_eq(cm_cidr_parse("127.0.0.1", &trusted[0]), CM_OK);
    ck_assert_int_eq(cm_cidr_parse("10.0.0.0/8", &trusted[1]), CM_OK);
    ck_assert_int_eq(inet_pton(AF_INET, xff_cases[_i].peer, &peer.sin_addr), 1);
    cm_http_client_judge(&c, (const struct sockaddr *)&peer, xff_cases[_i].xff, trusted,
                         _i == 0 ? 0 : 2);
    ck_assert_str_eq(c.text, xff_cases[_i].client);
    ck_assert_str_eq(c.via, xff_cases[_i].via);
    ck_assert_int_eq(c.known, xff_cases[_i].known);
    /* allow_from is checked against the judged address. */
    if (c.known) {
        struct cm_cidr self;
        ck_assert_int_eq(cm_cidr_parse(xff_cases[_i].client, &self), CM_OK);
        ck_assert_int_eq(cm_cidr_match(&self, 1, &c.addr.sa), 1);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("admin");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_admin_access, 0, NELEM(access_cases));
    tcase_add_test(tc, test_admin_access_unix);
    tcase_add_loop_test(tc, test_forwarded, 0, NELEM(xff_cases));
    tcase_add_test(tc, test_health);
    suite_add_tcase(s, tc);
    tc = tcase_create("routes");
    tcase_add_loop_test(tc, test_token_access, 0, NELEM(token_cases));
    tcase_add_test(tc, test_route_check);
    tcase_add_test(tc, test_route_find);
    tcase_add_test(tc, test_route_respond);
    suite_add_tcase(s, tc);
    tc = tcase_create("status");
    tcase_add_test(tc, test_status_paths);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
