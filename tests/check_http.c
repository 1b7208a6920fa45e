/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front's decisions that loopback cannot show: who may use the operator routes (a
 * client address off loopback cannot be made on this machine), and the operator answers'
 * paths, shown relative to the data directory and never absolute.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "http/server.h"
#include "ops/activity.h"

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
    char *s;

    ck_assert_int_eq(cm_activity_new(&st, "/srv/cargoman/"), CM_OK);
    cm_activity_repository(st, "gh", "o/r", "/srv/cargoman/mirrors/gh/o/r.git", NULL, 0,
                           "cannot read ssl_ca_file /etc/ssl/private/company-ca.pem: No such file");
    cm_activity_delivery(st, 1, NULL, "gh", "d-1", "queued", NULL);
    cm_activity_delivery_state(st, 1, "retrying",
                               "cannot open mirror /srv/cargoman/mirrors/gh/o/r.git (\"/tmp/x\"); "
                               "fetching https://github.com/o/r.git failed: 404 /o/r");
    s = cm_activity_repositories_json(st);
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
    s = cm_activity_repositories_json(st);
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

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("admin");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_admin_access, 0, NELEM(access_cases));
    tcase_add_test(tc, test_admin_access_unix);
    tcase_add_test(tc, test_health);
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
