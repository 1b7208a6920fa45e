/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front's decisions that loopback cannot show: the operator answers' paths, shown
 * relative to the data directory and never absolute.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "status.h"

/* What the operator API shows of paths, for a data directory given absolute and relative. */
START_TEST(test_status_paths)
{
    struct cm_status_store *st = NULL;
    char *s;

    ck_assert_int_eq(cm_status_new(&st, "/srv/cargoman/"), CM_OK);
    cm_status_repository(st, "gh", "o/r", "/srv/cargoman/mirrors/gh/o/r.git", NULL, 0,
                         "cannot read ssl_ca_file /etc/ssl/private/company-ca.pem: No such file");
    cm_status_delivery(st, 1, NULL, "gh", "d-1", "queued", NULL);
    cm_status_delivery_state(st, 1, "retrying",
                             "cannot open mirror /srv/cargoman/mirrors/gh/o/r.git (\"/tmp/x\"); "
                             "fetching https://github.com/o/r.git failed: 404 /o/r");
    s = cm_status_repositories_json(st);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "\"mirror\": \"mirrors/gh/o/r.git\""), "%s", s);
    ck_assert_msg(strstr(s, "ssl_ca_file .../company-ca.pem: No such file"), "%s", s);
    ck_assert_msg(!strstr(s, "/srv") && !strstr(s, "/etc"), "%s", s);
    free(s);
    s = cm_status_deliveries_json(st);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "cannot open mirror mirrors/gh/o/r.git (\\\".../x\\\"); fetching "
                            "https://github.com/o/r.git failed: 404 .../r"),
                  "%s", s);
    free(s);
    cm_status_free(st);

    /* Relative, as shipped ("var"): its paths lose the prefix, other words keep theirs. */
    ck_assert_int_eq(cm_status_new(&st, "var"), CM_OK);
    cm_status_repository(st, "gh", "o/r", "var/mirrors/gh/o/r.git", NULL, 0,
                         "var/mirrors/x and navar/x and var");
    s = cm_status_repositories_json(st);
    ck_assert_msg(strstr(s, "\"mirror\": \"mirrors/gh/o/r.git\""), "%s", s);
    ck_assert_msg(strstr(s, "\"last_error\": \"mirrors/x and navar/x and var\""), "%s", s);
    free(s);
    cm_status_free(st);
}
END_TEST

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc;
    SRunner *sr;
    int failed;

    tc = tcase_create("status");
    tcase_add_test(tc, test_status_paths);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
