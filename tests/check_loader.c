/* SPDX-License-Identifier: MIT */
/*
 * The loader refuses every deliberately broken module with one line that names the file and
 * the reason, and accepts a good one (once per name).
 */
#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "config/config.h"
#include "daemon.h"
#include "plugin/gateway.h"
#include "plugin/loader.h"
#include "test_paths.h"

static char dir[PATH_MAX];

/* Link tests/modules/.libs/<module>.so as <dir>/<sub>/providers/<as>.so and load it. */
static int load_as(const char *sub, const char *module, const char *as, char *err, size_t len)
{
    char target[PATH_MAX], link[PATH_MAX * 2], pdir[PATH_MAX + 64];
    const void *d;
    snprintf(target, sizeof(target), "%s/tests/modules/.libs/%s.so", cm_test_builddir(), module);
    snprintf(pdir, sizeof(pdir), "%s/%s", dir, sub);
    mkdir(pdir, 0755);
    snprintf(pdir, sizeof(pdir), "%s/%s/providers", dir, sub);
    mkdir(pdir, 0755);
    snprintf(link, sizeof(link), "%s/%s.so", pdir, as);
    /* A copy, not a link, so the duplicate case really is a second file. */
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", target, link);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(pdir, sizeof(pdir), "%s/%s", dir, sub);
    return cm_loader_load(pdir, CM_KIND_PROVIDER, as, &d, err, len);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cargoman-loader.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const struct {
    const char *module, *as, *reason;
} refusals[] = {
    {"t_major", "t_major", "plugin ABI 2.0, this gateway speaks 1.2"},
    {"t_minor", "t_minor", "newer than this gateway's"},
    {"t_noverify", "t_noverify", "mandatory hook \"verify\" is NULL"},
    {"t_undef", "t_undef", "cannot load"},
    {"t_nosym", "t_nosym", "does not export \"cargoman_provider\""},
    {"t_good", "t_renamed", "names itself \"t_good\", not \"t_renamed\""},
};

START_TEST(test_refusal)
{
    char err[1024] = "";
    int rc = load_as("a", refusals[_i].module, refusals[_i].as, err, sizeof(err));
    ck_assert_int_eq(rc, CM_EINVAL);
    ck_assert_msg(strstr(err, refusals[_i].reason), "%s: \"%s\" lacks \"%s\"", refusals[_i].module,
                  err, refusals[_i].reason);
    ck_assert_msg(strstr(err, refusals[_i].as), "message names the file: %s", err);
}
END_TEST

START_TEST(test_good_and_duplicate)
{
    char err[1024] = "";
    ck_assert_int_eq(load_as("a", "t_good", "t_good", err, sizeof(err)), CM_OK);
    /* The same file again is the same module, not a duplicate. */
    const void *d1, *d2;
    char pdir[PATH_MAX + 8];
    snprintf(pdir, sizeof(pdir), "%s/a", dir);
    ck_assert_int_eq(cm_loader_load(pdir, CM_KIND_PROVIDER, "t_good", &d1, err, sizeof(err)),
                     CM_OK);
    ck_assert_int_eq(cm_loader_load(pdir, CM_KIND_PROVIDER, "t_good", &d2, err, sizeof(err)),
                     CM_OK);
    ck_assert_ptr_eq(d1, d2);
    ck_assert_int_eq(load_as("b", "t_good", "t_good", err, sizeof(err)), CM_EINVAL);
    ck_assert_msg(strstr(err, "already loaded from another file"), "%s", err);
}
END_TEST

/* A module built against 1.0 ends before the 1.1 fields: they are never read from it. */
START_TEST(test_minor_fields)
{
    char err[1024] = "", pdir[PATH_MAX + 8];
    const void *d;

    snprintf(pdir, sizeof(pdir), "%s/v", dir);
    ck_assert_int_eq(load_as("v", "t_v10", "t_v10", err, sizeof(err)), CM_OK);
    ck_assert_int_eq(cm_loader_load(pdir, CM_KIND_PROVIDER, "t_v10", &d, err, sizeof(err)), CM_OK);
    ck_assert_uint_eq(cm_provider_flags(d), 0);
    ck_assert_ptr_null(cm_provider_default_url(d));
    /* The same fields of a 1.1 module are read (the real github provider's form tests show
     * the flag at work). */
    ck_assert_uint_eq(((const struct cm_provider *)d)->flags, CM_PROVIDER_FORM_PAYLOAD);
}
END_TEST

START_TEST(test_bad_names)
{
    char err[256];
    const void *d;
    ck_assert_int_eq(cm_loader_load(dir, CM_KIND_PROVIDER, "../x", &d, err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_int_eq(cm_loader_load(dir, CM_KIND_PROVIDER, "nothere", &d, err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_msg(strstr(err, "nothere.so"), "%s", err);
}
END_TEST

/* Plugin destroy hooks run on the main thread: a request or worker thread that drops the last
 * use of a gateway a reload replaced only hands it back; cm_daemon_collect frees it. */
static struct cm_daemon *dt_daemon;
static pthread_barrier_t dt_step;

static void *use_old_gateway(void *arg)
{
    struct cm_gateway *gw = cm_daemon_acquire(dt_daemon);
    (void)arg;
    pthread_barrier_wait(&dt_step);   /* holding it */
    pthread_barrier_wait(&dt_step);   /* the main thread has reloaded */
    cm_daemon_release(dt_daemon, gw); /* the last use */
    return NULL;
}

START_TEST(test_destroy_thread)
{
    char err[1024] = "", pdir[PATH_MAX + 8], conf[PATH_MAX + 8], so[PATH_MAX + 64];
    struct cm_daemon d = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cm_config *cfg;
    pthread_t t;
    void *h;
    FILE *f;

    ck_assert_int_eq(load_as("p", "t_thread", "t_thread", err, sizeof(err)), CM_OK);
    snprintf(pdir, sizeof(pdir), "%s/p", dir);
    snprintf(conf, sizeof(conf), "%s/conf", dir);
    ck_assert_int_eq(mkdir(conf, 0755), 0);
    snprintf(so, sizeof(so), "%s/10-t.conf", conf);
    ck_assert_ptr_nonnull(f = fopen(so, "w"));
    fputs("endpoint = { name = \"t\"; provider = \"t_thread\"; url = \"https://t.example\"; };\n",
          f);
    fclose(f);
    snprintf(so, sizeof(so), "%s/providers/t_thread.so", pdir);
    ck_assert_ptr_nonnull(h = dlopen(so, RTLD_NOW | RTLD_NOLOAD));
    int *calls = dlsym(h, "t_destroy_calls");
    pthread_t *thread = dlsym(h, "t_destroy_thread");
    ck_assert(calls && thread);

    ck_assert_int_eq(cm_config_load(&cfg, conf, err, sizeof(err)), CM_OK);
    ck_assert_msg(cm_gateway_open(&d.gw, cfg, pdir, err, sizeof(err)) == CM_OK, "%s", err);
    d.conf_dir = conf;
    d.plugin_dir = pdir;
    ck_assert_ptr_nonnull(d.data_dir = strdup(cfg->data_dir));

    /* Another thread holds the gateway across a reload and drops it last. */
    dt_daemon = &d;
    ck_assert_int_eq(pthread_barrier_init(&dt_step, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, use_old_gateway, NULL), 0);
    pthread_barrier_wait(&dt_step);
    ck_assert_msg(cm_daemon_reload(&d, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(*calls, 0); /* still in use */
    pthread_barrier_wait(&dt_step);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&dt_step);
    ck_assert_msg(*calls == 0, "destroy ran on the thread that released the gateway");
    ck_assert_uint_eq(cm_daemon_collect(&d), 0);
    ck_assert_int_eq(*calls, 1);
    ck_assert(pthread_equal(*thread, pthread_self()));
    cm_gateway_free(d.gw);
    ck_assert_int_eq(*calls, 2);
    free(d.data_dir);
    dlclose(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("modules");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_refusal, 0, sizeof(refusals) / sizeof(*refusals));
    tcase_add_test(tc, test_good_and_duplicate);
    tcase_add_test(tc, test_minor_fields);
    tcase_add_test(tc, test_bad_names);
    tcase_add_test(tc, test_destroy_thread);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* One process, because the loader's registry is what the duplicate case checks. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
