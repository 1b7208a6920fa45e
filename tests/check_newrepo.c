/* SPDX-License-Identifier: MIT */
/*
 * The new-repositories rate limit: a full bucket per endpoint, refused with the seconds until
 * the next token, refilled with time, given back, no limit at 0, and exact when many threads
 * spend from one bucket at once.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include "cargoman/plugin.h"
#include "intake/newrepo.h"

START_TEST(test_bucket)
{
    struct cm_newrepo *nr;
    int wait;

    ck_assert_int_eq(cm_newrepo_new(&nr), CM_OK);
    /* Three an hour: three at once, then one every 20 minutes. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 100.0, &wait), CM_OK);
    ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 100.0, &wait), CM_EAGAIN);
    ck_assert_int_eq(wait, 1200);
    ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 700.0, &wait), CM_EAGAIN);
    ck_assert_int_eq(wait, 600);
    /* Another endpoint has its own bucket. */
    ck_assert_int_eq(cm_newrepo_take(nr, "gl", 3, 700.0, &wait), CM_OK);
    ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 1300.0, &wait), CM_OK);
    ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 1300.0, &wait), CM_EAGAIN);
    /* A token given back (the delivery was not queued after all) is there again. */
    cm_newrepo_give_back(nr, "gh", 3);
    ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 1300.0, &wait), CM_OK);
    /* A long pause refills no more than an hour's worth. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 1e6, &wait), CM_OK);
    ck_assert_int_eq(cm_newrepo_take(nr, "gh", 3, 1e6, &wait), CM_EAGAIN);
    /* A lower limit after a reload caps what is in hand. */
    ck_assert_int_eq(cm_newrepo_take(nr, "gl", 100, 1e6, &wait), CM_OK);
    ck_assert_int_eq(cm_newrepo_take(nr, "gl", 1, 1e6 + 1, &wait), CM_OK);
    ck_assert_int_eq(cm_newrepo_take(nr, "gl", 1, 1e6 + 1, &wait), CM_EAGAIN);
    /* 0: no limit. */
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(cm_newrepo_take(nr, "gh", 0, 1e6, &wait), CM_OK);
    ck_assert_int_eq(wait, 0);
    cm_newrepo_free(nr);
    cm_newrepo_free(NULL);
}
END_TEST

#define NR_THREADS 8
#define NR_EACH 50

struct taker {
    struct cm_newrepo *nr;
    int ok;
};

static void *take_thread(void *arg)
{
    struct taker *t = arg;
    int wait;

    for (int i = 0; i < NR_EACH; i++)
        t->ok += cm_newrepo_take(t->nr, "gh", 100, 5.0, &wait) == CM_OK;
    return NULL;
}

START_TEST(test_threads)
{
    struct cm_newrepo *nr;
    struct taker t[NR_THREADS];
    pthread_t th[NR_THREADS];
    int ok = 0;

    ck_assert_int_eq(cm_newrepo_new(&nr), CM_OK);
    for (int i = 0; i < NR_THREADS; i++) {
        t[i] = (struct taker){.nr = nr};
        ck_assert_int_eq(pthread_create(&th[i], NULL, take_thread, &t[i]), 0);
    }
    for (int i = 0; i < NR_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += t[i].ok;
    }
    ck_assert_int_eq(ok, 100);
    cm_newrepo_free(nr);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("newrepo");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bucket);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
