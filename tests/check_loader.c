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
    {"t_major", "t_major", "plugin ABI 2.0, this gateway speaks 1."},
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
    ck_assert_str_eq(cm_provider_config_keys(d1)[0].name, "t_option");
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
    /* Nor the 1.2 config keys: such a module's endpoint keys go unchecked. */
    ck_assert_ptr_null(cm_provider_config_keys(d));
    ck_assert_ptr_nonnull(((const struct cm_provider *)d)->config_keys);
    /* Nor the 1.2 hooks: the module sets them, the host reads NULL. */
    ck_assert_ptr_nonnull(((const struct cm_provider *)d)->start);
    ck_assert(cm_provider_start_hook(d) == NULL);
    ck_assert(cm_provider_stop_hook(d) == NULL);
}
END_TEST

/* An endpoint key the provider does not declare stops the gateway, naming file, line and the
 * near key. (A module built against 1.0 declares none: test_minor_fields shows the loader
 * hands the check NULL for it, and check_config that NULL checks nothing.) */
START_TEST(test_declared_keys)
{
    char err[1024] = "", pdir[PATH_MAX + 8];
    struct cm_gateway *gw = NULL;
    struct cm_config *cfg;

    ck_assert_msg(load_as("k", "t_keys", "t_keys", err, sizeof(err)) == CM_OK, "%s", err);
    snprintf(pdir, sizeof(pdir), "%s/k", dir);
    ck_assert_int_eq(cm_config_load_text(&cfg, "k.conf",
                                         "endpoint = { name = \"e\"; provider = \"t_keys\";\n"
                                         "  url = \"https://t.example\"; t_opton = \"x\"; };\n",
                                         err, sizeof(err)),
                     CM_OK);
    ck_assert_int_eq(cm_gateway_open(&gw, cfg, pdir, err, sizeof(err)), CM_EINVAL);
    ck_assert_ptr_null(gw);
    ck_assert_msg(strstr(err, "k.conf:2: endpoint \"e\" (provider t_keys): unknown key "
                              "\"t_opton\": did you mean \"t_option\"?"),
                  "%s", err);
    ck_assert_int_eq(cm_config_load_text(&cfg, "k.conf",
                                         "endpoint = { name = \"e\"; provider = \"t_keys\";\n"
                                         "  url = \"https://t.example\"; t_option = \"x\"; };\n",
                                         err, sizeof(err)),
                     CM_OK);
    ck_assert_msg(cm_gateway_open(&gw, cfg, pdir, err, sizeof(err)) == CM_OK, "%s", err);
    cm_gateway_free(gw);
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

/* Copy tests/modules/.libs/<module>.so to <dir>/<sub>/<kind>/<module>.so; <dir>/<sub>. */
static void place(const char *sub, const char *kind, const char *module, char *pdir, size_t len)
{
    char cmd[PATH_MAX * 4];
    snprintf(pdir, len, "%s/%s", dir, sub);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s' && cp '%s/tests/modules/.libs/%s.so' '%s/%s/'",
             pdir, kind, cm_test_builddir(), module, pdir, kind);
    ck_assert_int_eq(system(cmd), 0);
}

/* Modules built against the 1.0 header in tests/sdk-1.0 load unchanged, and nothing past
 * their 1.0 descriptor is read. */
START_TEST(test_sdk10_modules)
{
    char err[1024] = "", pdir[PATH_MAX + 64];
    const void *d;

    place("sdk10", "providers", "sdk10", pdir, sizeof(pdir));
    place("sdk10", "plugins", "sdk10sync", pdir, sizeof(pdir));
    ck_assert_msg(cm_loader_load(pdir, CM_KIND_PROVIDER, "sdk10", &d, err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_uint_eq(((const struct cm_provider *)d)->abi_version, 1u << 16);
    ck_assert_uint_eq(cm_provider_flags(d), 0);
    ck_assert_ptr_null(cm_provider_default_url(d));
    ck_assert_msg(cm_loader_load(pdir, CM_KIND_SYNC, "sdk10sync", &d, err, sizeof(err)) == CM_OK,
                  "%s", err);
    /* Before 1.2, CM_EINVAL from on_sync was retried like any failure: it still is. */
    ck_assert_int_eq(cm_sync_gives_up(d, CM_EINVAL), 0);
}
END_TEST

START_TEST(test_sync_gives_up)
{
    struct cm_sync_plugin v11 = {.abi_version = 1u << 16 | 1u},
                          v12 = {.abi_version = 1u << 16 | 2u};
    ck_assert_int_eq(cm_sync_gives_up(&v11, CM_EINVAL), 0);
    ck_assert_int_eq(cm_sync_gives_up(&v12, CM_EINVAL), 1);
    ck_assert_int_eq(cm_sync_gives_up(&v12, CM_EAGAIN), 0);
    ck_assert_int_eq(cm_sync_gives_up(&v12, CM_ERROR), 0);
    ck_assert_int_eq(cm_sync_gives_up(&v12, CM_ENOMEM), 0);
}
END_TEST

/* A name in two directories of the path is refused naming both files; one directory named
 * twice is searched once. */
START_TEST(test_path_duplicate)
{
    char err[1024] = "", a[PATH_MAX + 64], b[PATH_MAX + 64], path[3 * PATH_MAX], found[PATH_MAX];
    const void *d;

    place("a", "providers", "t_good", a, sizeof(a));
    place("b", "providers", "t_good", b, sizeof(b));
    snprintf(path, sizeof(path), "%s:%s", a, b);
    ck_assert_int_eq(cm_loader_load(path, CM_KIND_PROVIDER, "t_good", &d, err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_msg(strstr(err, a) && strstr(err, b) && strstr(err, "t_good.so"), "%s", err);
    snprintf(path, sizeof(path), "%s:%s/../a", a, dir);
    ck_assert_msg(cm_loader_find(path, CM_KIND_PROVIDER, "t_good", found, sizeof(found), err,
                                 sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert(strstr(found, "/a/providers/t_good.so"));
    /* Missing from every directory: the message lists where it looked. */
    ck_assert_int_eq(
        cm_loader_find(path, CM_KIND_SYNC, "t_good", found, sizeof(found), err, sizeof(err)),
        CM_EINVAL);
    ck_assert_msg(strstr(err, "t_good.so") && strstr(err, "/a/plugins"), "%s", err);
}
END_TEST

START_TEST(test_path_building)
{
    char path[CM_PLUGIN_PATH_LEN] = "", err[1024], list[3 * PATH_MAX], sub[PATH_MAX + 8];
    char *conf[] = {sub};

    ck_assert_int_eq(
        cm_loader_path_add(path, sizeof(path), "/nonexistent-cm", "-P", err, sizeof(err)),
        CM_EINVAL);
    ck_assert_msg(strstr(err, "-P /nonexistent-cm: No such file"), "%s", err);
    ck_assert_int_eq(cm_loader_path_add(path, sizeof(path), "/tmp:x", "-P", err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_msg(strstr(err, "may not contain ':'"), "%s", err);
    ck_assert_str_eq(path, "");
    /* Empty elements of an environment list are skipped; a missing one is an error. */
    snprintf(list, sizeof(list), ":%s::/tmp:", dir);
    ck_assert_int_eq(cm_loader_path_add_list(path, sizeof(path), list, "ENV", err, sizeof(err)),
                     CM_OK);
    snprintf(list, sizeof(list), "%s:/tmp", dir);
    ck_assert_str_eq(path, list);
    ck_assert_int_eq(cm_loader_path_add_list(path, sizeof(path), "/tmp:/nonexistent-cm", "ENV", err,
                                             sizeof(err)),
                     CM_EINVAL);
    ck_assert_msg(strstr(err, "ENV /nonexistent-cm"), "%s", err);
    /* The configuration's directories come after the command line's. */
    snprintf(sub, sizeof(sub), "%s/c", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    char full[CM_PLUGIN_PATH_LEN];
    ck_assert_int_eq(cm_loader_search_path(full, sizeof(full), list, conf, 1, err, sizeof(err)),
                     CM_OK);
    ck_assert(strncmp(full, list, strlen(list)) == 0 && strstr(full, sub));
    conf[0] = "/nonexistent-cm";
    ck_assert_int_eq(cm_loader_search_path(full, sizeof(full), list, conf, 1, err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_msg(strstr(err, "server.plugin_path /nonexistent-cm"), "%s", err);
    /* Past CM_PLUGIN_PATH_DIRS directories the search would drop the rest unseen (the
     * built-in one, which comes last, among them): the one too many is refused. */
    path[0] = '\0';
    for (int i = 0; i < CM_PLUGIN_PATH_DIRS; i++)
        ck_assert_int_eq(cm_loader_path_add(path, sizeof(path), "/tmp", "-P", err, sizeof(err)),
                         CM_OK);
    ck_assert_int_eq(cm_loader_path_add(path, sizeof(path), dir, "-P", err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_msg(strstr(err, "more than 32 directories"), "%s", err);
}
END_TEST

/* Plugin destroy hooks run on the main thread: a request or worker thread that drops the last
 * use of a gateway a reload replaced only hands it back; cm_daemon_collect frees it. */
/* The lifecycle (plugin.h): check creates and destroys only; serve starts after create; a
 * reload starts the new generation while the old one is in use; stop and destroy run on the
 * main thread: a request or worker thread that drops the last use of a gateway a reload
 * replaced only hands it back, and cm_daemon_collect stops and frees it. */
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
    const char *events = dlsym(h, "t_events");
    pthread_t *start_thread = dlsym(h, "t_start_thread"), *stop_thread = dlsym(h, "t_stop_thread");
    ck_assert(calls && thread && events && start_thread && stop_thread);

    /* What check and parse do: create and destroy, never start or stop. */
    ck_assert_int_eq(cm_config_load(&cfg, conf, err, sizeof(err)), CM_OK);
    ck_assert_msg(cm_gateway_open(&d.gw, cfg, pdir, err, sizeof(err)) == CM_OK, "%s", err);
    cm_gateway_free(d.gw);
    ck_assert_str_eq(events, "cd");
    *calls = 0;

    ck_assert_int_eq(cm_config_load(&cfg, conf, err, sizeof(err)), CM_OK);
    ck_assert_msg(cm_gateway_open(&d.gw, cfg, pdir, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_msg(cm_gateway_start(d.gw, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_str_eq(events, "cdcs");
    ck_assert(pthread_equal(*start_thread, pthread_self()));
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
    /* The new generation is created and started while the old one is still in use. */
    ck_assert_str_eq(events, "cdcscs");
    pthread_barrier_wait(&dt_step);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&dt_step);
    ck_assert_msg(*calls == 0, "destroy ran on the thread that released the gateway");
    ck_assert_uint_eq(cm_daemon_collect(&d), 0);
    ck_assert_int_eq(*calls, 1);
    ck_assert(pthread_equal(*thread, pthread_self()));
    ck_assert(pthread_equal(*stop_thread, pthread_self()));
    ck_assert_str_eq(events, "cdcscsxd"); /* the old one: stopped, then destroyed */

    /* A start that refuses: the reload fails, the running generation stays, and the refused
     * one is destroyed without a stop. */
    *(int *)dlsym(h, "t_start_fail") = 1;
    ck_assert_int_eq(cm_daemon_reload(&d, err, sizeof(err)), CM_ERROR);
    ck_assert_msg(strstr(err, "could not start") && strstr(err, "10-t.conf"), "%s", err);
    ck_assert_str_eq(events, "cdcscsxdcd");
    *(int *)dlsym(h, "t_start_fail") = 0;
    cm_gateway_free(d.gw);
    ck_assert_int_eq(*calls, 3);
    ck_assert_str_eq(events, "cdcscsxdcdxd");
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
    tcase_add_test(tc, test_declared_keys);
    tcase_add_test(tc, test_minor_fields);
    tcase_add_test(tc, test_bad_names);
    tcase_add_test(tc, test_destroy_thread);
    tcase_add_test(tc, test_sdk10_modules);
    tcase_add_test(tc, test_sync_gives_up);
    tcase_add_test(tc, test_path_duplicate);
    tcase_add_test(tc, test_path_building);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* One process, because the loader's registry is what the duplicate case checks. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
