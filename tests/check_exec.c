/* SPDX-License-Identifier: MIT */
/*
 * The exec sync plugin, loaded through the real loader and host services: the event JSON on
 * stdin, CARGOMAN_* variables, non-zero exit and timeouts asking for a retry, bad settings
 * refused at start; a command that never reads a large event cannot hold the worker past the
 * timeout, and the command starts with no signal blocked or ignored whatever the daemon's.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "intake/event.h"
#include "plugin/gateway.h"
#include "test_paths.h"

static char dir[] = "/tmp/cargoman-exec.XXXXXX";

/* A gateway whose only sync plugin is exec with the given settings; NULL when refused. */
static struct cm_gateway *open_exec(const char *settings)
{
    char text[2048], err[1024];
    struct cm_config *cfg;
    struct cm_gateway *gw = NULL;
    snprintf(text, sizeof(text), "sync = ( { plugin = \"exec\"; %s } );\n", settings);
    ck_assert_msg(cm_config_load_text(&cfg, "exec.conf", text, err, sizeof(err)) == CM_OK, "%s",
                  err);
    if (cm_gateway_open(&gw, cfg, cm_test_module_dir(), err, sizeof(err)) != CM_OK)
        return NULL;
    return gw;
}

static struct cm_event *push_event(void)
{
    struct cm_event *ev;
    ck_assert_int_eq(cm_event_new(&ev), CM_OK);
    cm_event_set(ev, CM_FIELD_PROVIDER, "github");
    cm_event_set(ev, CM_FIELD_ENDPOINT, "gh");
    cm_event_set(ev, CM_FIELD_REPOSITORY, "acme/foo");
    cm_event_set(ev, CM_FIELD_DELIVERY_ID, "d-42");
    ck_assert_int_eq(cm_event_add_change(ev, "refs/heads/main", NULL,
                                         "1234567890123456789012345678901234567890", 0),
                     CM_OK);
    return ev;
}

static int run(struct cm_gateway *gw, const struct cm_event *ev)
{
    const struct cm_sync *s = &gw->syncs[0];
    return s->plugin->on_sync(s->self, ev, NULL);
}

/* What on_sync answers for a push with exec configured by settings. */
static int outcome(const char *settings)
{
    struct cm_gateway *gw = open_exec(settings);
    struct cm_event *ev = push_event();
    ck_assert_ptr_nonnull(gw);
    int rc = run(gw, ev);
    cm_event_free(ev);
    cm_gateway_free(gw);
    return rc;
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_event_on_stdin_and_env)
{
    char settings[1024], path[256];
    snprintf(path, sizeof(path), "%s/out", dir);
    snprintf(settings, sizeof(settings),
             "command = \"cat > %s; echo \\\"$CARGOMAN_REPOSITORY $CARGOMAN_ENDPOINT "
             "$CARGOMAN_DELIVERY_ID\\\" >> %s\";",
             path, path);
    struct cm_gateway *gw = open_exec(settings);
    ck_assert_ptr_nonnull(gw);
    struct cm_event *ev = push_event();
    ck_assert_int_eq(run(gw, ev), CM_OK);
    const char *out = slurp(path);
    ck_assert_msg(strstr(out, cm_event_json(ev)), "stdin was not the event JSON: %s", out);
    ck_assert_msg(strstr(out, "acme/foo gh d-42"), "variables missing: %s", out);
    cm_event_free(ev);
    cm_gateway_free(gw);
}
END_TEST

START_TEST(test_failure_is_retried)
{
    ck_assert_int_eq(outcome("command = \"exit 3\";"), CM_EAGAIN);
}
END_TEST

START_TEST(test_not_reading_stdin_is_fine)
{
    ck_assert_int_eq(outcome("command = \"true\";"), CM_OK);
}
END_TEST

START_TEST(test_timeout_kills_and_retries)
{
    time_t t0 = time(NULL);
    ck_assert_int_eq(outcome("command = \"sleep 30\"; timeout = 1;"), CM_EAGAIN);
    ck_assert_msg(time(NULL) - t0 < 10, "the timeout did not stop the command");
}
END_TEST

/* An event of more than 1 MB (thousands of refs), far beyond a socket's buffer. */
static struct cm_event *large_event(void)
{
    struct cm_event *ev = push_event();
    char ref[64];
    for (int i = 0; i < 12000; i++) {
        snprintf(ref, sizeof(ref), "refs/tags/release-with-a-long-name-%06d", i);
        ck_assert_int_eq(
            cm_event_add_change(ev, ref, NULL, "1234567890123456789012345678901234567890", 0),
            CM_OK);
    }
    ck_assert_uint_gt(strlen(cm_event_json(ev)), 1u << 20);
    return ev;
}

START_TEST(test_large_event_read_whole)
{
    char settings[512], path[256];
    snprintf(path, sizeof(path), "%s/size", dir);
    snprintf(settings, sizeof(settings), "command = \"wc -c > %s\"; timeout = 60;", path);
    struct cm_gateway *gw = open_exec(settings);
    ck_assert_ptr_nonnull(gw);
    struct cm_event *ev = large_event();
    ck_assert_int_eq(run(gw, ev), CM_OK);
    ck_assert_uint_eq(strtoull(slurp(path), NULL, 10), strlen(cm_event_json(ev)));
    cm_event_free(ev);
    cm_gateway_free(gw);
}
END_TEST

/* The worker used to block in the write of the event, before the timeout began, for as long
 * as such a command lived. The tcase timeout catches a worker stuck for good. */
START_TEST(test_large_event_unread_times_out)
{
    struct cm_gateway *gw = open_exec("command = \"sleep 300\"; timeout = 1;");
    ck_assert_ptr_nonnull(gw);
    struct cm_event *ev = large_event();
    time_t t0 = time(NULL);
    ck_assert_int_eq(run(gw, ev), CM_EAGAIN);
    ck_assert_msg(time(NULL) - t0 < 20, "the timeout did not cover writing the event");
    cm_event_free(ev);
    cm_gateway_free(gw);
}
END_TEST

/* The value of the "name:\t<hex>" line in text, or ~0 when absent. */
static unsigned long long status_mask(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    return p ? strtoull(p + strlen(name), NULL, 16) : ~0ULL;
}

#define SIGBIT(sig) (1ULL << ((sig)-1))

/* The daemon's signal state (core/cli/serve.c), plus SIGHUP and SIGTERM ignored as under
 * nohup: none of it may reach the command, or a shell script can neither trap nor be
 * stopped by them, and `yes | head` style pipelines misbehave without SIGPIPE. */
START_TEST(test_child_signals_clean)
{
    char settings[512], path[256];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    /* The test would prove nothing if this process did not carry the state. */
    const char *self = slurp("/proc/self/status");
    ck_assert_uint_ne(status_mask(self, "SigBlk:") & SIGBIT(SIGTERM), 0);
    ck_assert_uint_ne(status_mask(self, "SigIgn:") & SIGBIT(SIGPIPE), 0);

    snprintf(path, sizeof(path), "%s/signals", dir);
    snprintf(settings, sizeof(settings),
             "command = \"grep -E 'SigBlk|SigIgn' /proc/self/status > %s\";", path);
    ck_assert_int_eq(outcome(settings), CM_OK);
    const char *out = slurp(path);
    ck_assert_msg(status_mask(out, "SigBlk:") == 0, "signals blocked in the command: %s", out);
    unsigned long long ign = status_mask(out, "SigIgn:");
    ck_assert_msg(ign != ~0ULL, "no SigIgn line: %s", out);
    ck_assert_msg(!(ign & (SIGBIT(SIGPIPE) | SIGBIT(SIGXFSZ) | SIGBIT(SIGHUP) | SIGBIT(SIGTERM))),
                  "signals ignored in the command: %s", out);
}
END_TEST

START_TEST(test_bad_settings_refused)
{
    ck_assert_ptr_null(open_exec(""));
    ck_assert_ptr_null(open_exec("command = \"\";"));
    ck_assert_ptr_null(open_exec("command = \"true\"; timeout = 0;"));
    ck_assert_ptr_null(open_exec("command = \"true\"; timeout = \"10\";"));
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("plugin");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_event_on_stdin_and_env);
    tcase_add_test(tc, test_failure_is_retried);
    tcase_add_test(tc, test_not_reading_stdin_is_fine);
    tcase_add_test(tc, test_timeout_kills_and_retries);
    tcase_add_test(tc, test_bad_settings_refused);
    tcase_add_test(tc, test_large_event_read_whole);
    tcase_add_test(tc, test_large_event_unread_times_out);
    tcase_add_test(tc, test_child_signals_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return failed ? 1 : 0;
}
