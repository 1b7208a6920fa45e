/* SPDX-License-Identifier: MIT */
/*
 * `cargoman import`: the initial import of an estate. Each repository is queued on the running
 * gateway (POST /api/repositories/<endpoint>/<repository>/import), then followed through its
 * delivery record, and its fetch through GET /api/repositories/<endpoint>/<repository>, until
 * it is synced or failed; on a terminal one live line each, else one line as each ends.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "config/config.h"
#include "intake/repo_name.h"

/* Records polled per round: the first ones not finished, which the workers reach first. */
#define WINDOW 64

/* In the order of the delivery states they stand for (poll_record), the finished ones last. */
enum step { QUEUED, SYNCING, RETRYING, DONE, FAILED, UNFOLLOWED };

struct item {
    const char *name; /* borrowed from argv or the list file's buffer */
    uint64_t record;  /* the delivery record followed */
    enum step step;
    char *error; /* owned: why it failed, or the last retry's reason; or NULL */
    int fetching;
    unsigned received, total;
    unsigned long long bytes;
    int shown; /* its last line is out */
    int told;  /* not on a terminal: that it is retrying was said */
};

struct import {
    const char *endpoint;
    struct item *items;
    size_t n, left;            /* left: not finished */
    char *list;                /* the --from file's text, owned */
    int tty, cols, rows, live; /* live: lines of the block being redrawn */
    int width;                 /* of the name column */
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static const char import_usage[] =
    "usage: cargoman import [-c CONF_DIR | -u URL] ENDPOINT (REPOSITORY... | --from FILE)\n"
    "  Ask the running gateway to mirror repositories it has not seen a push for yet, and run\n"
    "  the sync plugins on them (POST /api/repositories/<endpoint>/<repository>/import), then\n"
    "  follow each until it is synced or failed, and sum up. --from FILE: one name a line,\n"
    "  blank lines and lines starting with # skipped, - for standard input. Exit status 0 when\n"
    "  every repository synced, 1 when any failed. Ctrl-C stops following: the queued imports\n"
    "  keep running in the gateway. -c, -u and the token as for `cargoman replay`.\n";

static int add_name(struct import *im, const char *name)
{
    struct item *p = realloc(im->items, (im->n + 1) * sizeof(*p));

    if (!p)
        return -1;
    im->items = p;
    memset(&p[im->n], 0, sizeof(*p));
    p[im->n++].name = name;
    return 0;
}

/* A name an operator gave, checked as the gateway will: 0, or 2 after saying why not. */
static int check_name(const char *where, const char *name)
{
    const char *why;

    if (cm_repo_name_check(name, &why) == CM_OK)
        return 0;
    fprintf(stderr, "cargoman: %s\"%s\" is not a repository name: %s\n", where, name, why);
    return 2;
}

/* The names of file (one a line; blanks and # comments skipped). 0, 1 (unreadable), 2. */
static int names_from_file(struct import *im, const char *file)
{
    const char *shown = strcmp(file, "-") ? file : "standard input";
    char where[600], *line, *next;
    size_t len, lineno = 0;
    int rc;

    if (cm_cli_read_input(file, 0, &im->list, &len) != CM_OK) {
        fprintf(stderr, "cargoman: cannot read %s\n", shown);
        return 1;
    }
    for (line = im->list; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        line += strspn(line, " \t");
        char *end = line + strlen(line);
        while (end > line && strchr(" \t\r", end[-1]))
            *--end = '\0';
        if (!*line || *line == '#')
            continue;
        snprintf(where, sizeof(where), "%.500s:%zu: ", shown, lineno);
        if ((rc = check_name(where, line)) != 0)
            return rc;
        if (add_name(im, line))
            return 1;
    }
    if (!im->n) {
        fprintf(stderr, "cargoman: %s names no repository\n", shown);
        return 2;
    }
    return 0;
}

static void set_error(struct item *it, const char *error)
{
    free(it->error);
    it->error = error ? strdup(error) : NULL;
}

static void finish(struct import *im, struct item *it, enum step step)
{
    it->step = step;
    it->fetching = 0;
    im->left--;
}

/* Queue every import. 0, or 1 when the gateway cannot take any (unreachable, the token, an
 * unknown endpoint): said on stderr. */
static int queue_all(struct import *im, const struct cm_remote *t)
{
    char path[4096], why[256], msg[1024];
    struct cm_remote_reply r;

    for (size_t i = 0; i < im->n && !interrupted; i++) {
        struct item *it = &im->items[i];
        if (cm_remote_repo_path(path, sizeof(path), im->endpoint, it->name, "import")) {
            set_error(it, "the name is too long");
            it->step = FAILED;
            continue;
        }
        cm_remote_request(t, "POST", path, &r, why, sizeof(why));
        if (!r.code || r.code == 401 || r.code == 403 || r.code == 404)
            return cm_remote_fail(t, &r, why);
        im->left++;
        json_t *o = r.code == 202 ? json_loads(r.body, 0, NULL) : NULL;
        it->record = (uint64_t)json_integer_value(json_object_get(o, "record_id"));
        json_decref(o);
        if (r.code != 202) {
            cm_remote_error(&r, msg, sizeof(msg));
            set_error(it, msg);
            finish(im, it, FAILED);
        } else if (!it->record) {
            finish(im, it, UNFOLLOWED); /* queued by someone else, and no record says how */
        }
        free(r.body);
    }
    return 0;
}

/* Read its delivery record. 0, or 1 when the gateway is gone (said on stderr). */
static int poll_record(struct import *im, const struct cm_remote *t, struct item *it)
{
    static const char *const names[] = {"queued", "syncing", "retrying", "done", "failed"};
    char path[64], why[256];
    struct cm_remote_reply r;
    json_t *o;

    snprintf(path, sizeof(path), "/api/deliveries/%llu", (unsigned long long)it->record);
    cm_remote_request(t, "GET", path, &r, why, sizeof(why));
    if (r.code == 404) { /* past the delivery log's bounds already */
        free(r.body);
        finish(im, it, UNFOLLOWED);
        return 0;
    }
    if (r.code != 200)
        return cm_remote_fail(t, &r, why);
    o = json_loads(r.body, 0, NULL);
    free(r.body);
    const char *state = json_string_value(json_object_get(o, "state"));
    for (size_t k = 0; state && k < sizeof(names) / sizeof(*names); k++) {
        if (strcmp(state, names[k]))
            continue;
        set_error(it, json_string_value(json_object_get(o, "error")));
        if (k == DONE || k == FAILED)
            finish(im, it, (enum step)k);
        else
            it->step = (enum step)k;
    }
    json_decref(o);
    return 0;
}

/* The fetch of a syncing repository, when one runs. */
static void poll_fetch(const struct import *im, const struct cm_remote *t, struct item *it)
{
    char path[4096], why[256];
    struct cm_remote_reply r;
    json_t *o, *f;

    it->fetching = 0;
    if (cm_remote_repo_path(path, sizeof(path), im->endpoint, it->name, NULL))
        return;
    cm_remote_request(t, "GET", path, &r, why, sizeof(why));
    o = r.code == 200 ? json_loads(r.body, 0, NULL) : NULL;
    free(r.body);
    if ((f = json_object_get(o, "fetch"))) {
        it->fetching = 1;
        it->received = (unsigned)json_integer_value(json_object_get(f, "received_objects"));
        it->total = (unsigned)json_integer_value(json_object_get(f, "total_objects"));
        it->bytes = (unsigned long long)json_integer_value(json_object_get(f, "received_bytes"));
    }
    json_decref(o);
}

static int poll_round(struct import *im, const struct cm_remote *t)
{
    size_t seen = 0;

    for (size_t i = 0; i < im->n && seen < WINDOW && !interrupted; i++) {
        struct item *it = &im->items[i];
        if (it->step >= DONE)
            continue;
        seen++;
        if (poll_record(im, t, it))
            return 1;
        if (im->tty && it->step == SYNCING)
            poll_fetch(im, t, it);
    }
    return 0;
}

static void human_bytes(unsigned long long b, char *out, size_t len)
{
    if (b < 1024)
        snprintf(out, len, "%llu B", b);
    else if (b < 1024ull * 1024)
        snprintf(out, len, "%.1f KiB", (double)b / 1024);
    else if (b < 1024ull * 1024 * 1024)
        snprintf(out, len, "%.1f MiB", (double)b / (1024 * 1024));
    else
        snprintf(out, len, "%.2f GiB", (double)b / (1024.0 * 1024 * 1024));
}

/* What its line says after its name. */
static void step_text(const struct item *it, char *out, size_t len)
{
    char bytes[32];

    switch (it->step) {
    case QUEUED: snprintf(out, len, "queued"); break;
    case SYNCING:
        human_bytes(it->bytes, bytes, sizeof(bytes));
        if (it->fetching)
            snprintf(out, len, "fetching  %u/%u objects, %s", it->received, it->total, bytes);
        else
            snprintf(out, len, "syncing");
        break;
    case RETRYING:
        snprintf(out, len, "retrying: %s", it->error ? it->error : "(no reason given)");
        break;
    case DONE: snprintf(out, len, "imported"); break;
    case FAILED:
        snprintf(out, len, "failed: %s", it->error ? it->error : "(no reason given)");
        break;
    case UNFOLLOWED:
        snprintf(out, len, "queued already by an earlier request; not followed");
        break;
    }
}

/* One terminal line for it, cut to the terminal's width so that it never wraps. */
static void put_line(const struct import *im, const struct item *it)
{
    char text[1200], line[1400];

    step_text(it, text, sizeof(text));
    snprintf(line, sizeof(line), "%-*s  %s", im->width, it->name, text);
    fprintf(stderr, "%.*s\033[K\n", im->cols > 1 ? im->cols - 1 : 79, line);
}

/* Redraw: the lines of repositories that finished since scroll up for good, then one live
 * line for each still running or waiting, as many as the terminal holds. */
static void draw_tty(struct import *im)
{
    size_t live = 0, more = 0, room = im->rows > 4 ? (size_t)im->rows - 3 : 1;

    if (im->live)
        fprintf(stderr, "\033[%dA\r", im->live);
    for (size_t i = 0; i < im->n; i++) {
        struct item *it = &im->items[i];
        if (it->step >= DONE && !it->shown) {
            put_line(im, it);
            it->shown = 1;
        }
    }
    for (size_t i = 0; i < im->n; i++) {
        const struct item *it = &im->items[i];
        if (it->step >= DONE)
            continue;
        if (live < room) {
            put_line(im, it);
            live++;
        } else {
            more++;
        }
    }
    if (more) {
        fprintf(stderr, "... and %zu more waiting\033[K\n", more);
        live++;
    }
    fputs("\033[J", stderr);
    fflush(stderr);
    im->live = (int)live;
}

/* Not on a terminal: one line for each repository that finished since, and one on stderr when
 * one first waits for a retry (a host that is down would otherwise keep the output silent
 * until server.sync_max_age). */
static void draw_lines(struct import *im)
{
    char text[1200];

    for (size_t i = 0; i < im->n; i++) {
        struct item *it = &im->items[i];
        if (it->step == RETRYING && !it->told) {
            step_text(it, text, sizeof(text));
            fprintf(stderr, "%s/%s: %s\n", im->endpoint, it->name, text);
            it->told = 1;
        }
        if (it->step < DONE || it->shown)
            continue;
        step_text(it, text, sizeof(text));
        printf("%s/%s: %s\n", im->endpoint, it->name, text);
        it->shown = 1;
    }
    fflush(stdout);
}

static void draw(struct import *im)
{
    if (im->tty)
        draw_tty(im);
    else
        draw_lines(im);
}

/* Follow until every import finished or Ctrl-C. 0, or 1 when the gateway went away. */
static int follow(struct import *im, const struct cm_remote *t)
{
    struct timespec pause = {0, im->tty ? 200000000L : 500000000L};

    draw(im);
    while (im->left && !interrupted) {
        if (poll_round(im, t))
            return 1;
        draw(im);
        if (im->left)
            nanosleep(&pause, NULL); /* cut short by Ctrl-C */
    }
    return 0;
}

/* The summary on standard output; the exit status. */
static int summary(const struct import *im)
{
    size_t done = 0, failed = 0;

    for (size_t i = 0; i < im->n; i++) {
        done += im->items[i].step == DONE;
        failed += im->items[i].step == FAILED;
    }
    printf("imported %zu of %zu repositories\n", done, im->n);
    for (size_t i = 0; i < im->n; i++) {
        const struct item *it = &im->items[i];
        if (it->step == FAILED)
            printf("failed: %s/%s: %s\n", im->endpoint, it->name,
                   it->error ? it->error : "(no reason given)");
        else if (it->step == UNFOLLOWED)
            printf("not followed: %s/%s: queued already by an earlier request (see GET "
                   "/api/repositories)\n",
                   im->endpoint, it->name);
    }
    return failed ? 1 : 0;
}

static void watch_terminal(struct import *im)
{
    struct winsize ws;
    struct sigaction sa;

    for (size_t i = 0; i < im->n; i++) {
        int len = (int)strlen(im->items[i].name);
        im->width = len > im->width ? (len < 40 ? len : 40) : im->width;
    }
    im->tty = isatty(STDERR_FILENO);
    im->cols = 80;
    im->rows = 24;
    if (im->tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
        im->cols = ws.ws_col;
        im->rows = ws.ws_row;
    }
    /* No SA_RESTART: the pause between polls ends at once. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

int cm_cli_import(int argc, char **argv)
{
    const char *conf = NULL, *url = NULL, *from = NULL;
    struct cm_remote t = {0};
    struct import im = {0};
    int rc = cm_remote_options(argc, argv, import_usage, &conf, &url, NULL, &from);

    if (rc)
        return rc == 3 ? 0 : rc;
    if (from ? optind + 1 != argc : optind + 2 > argc) {
        fputs(import_usage, stderr);
        return 2;
    }
    im.endpoint = argv[optind];
    if (from)
        rc = names_from_file(&im, from);
    for (int i = optind + 1; !from && !rc && i < argc; i++)
        rc = check_name("", argv[i]) ? 2 : add_name(&im, argv[i]) ? 1 : 0;
    if (rc || (rc = cm_remote_open(&t, url, conf)) != 0)
        goto out;
    watch_terminal(&im);
    if (im.tty)
        fprintf(stderr,
                "importing %zu repositor%s of endpoint %s (Ctrl-C stops watching; the imports "
                "keep running in the gateway)\n",
                im.n, im.n == 1 ? "y" : "ies", im.endpoint);
    if ((rc = queue_all(&im, &t)) == 0 && (rc = follow(&im, &t)) == 0 && !interrupted)
        rc = summary(&im);
    if (interrupted) {
        fprintf(stderr,
                "\ncargoman: interrupted: %zu queued import%s running in the gateway (GET "
                "/api/deliveries?endpoint=%s lists them; run this import again to follow them)\n",
                im.left, im.left == 1 ? " keeps" : "s keep", im.endpoint);
        rc = 130;
    }
out:
    for (size_t i = 0; i < im.n; i++)
        free(im.items[i].error);
    free(im.items);
    free(im.list);
    cm_config_free(t.cfg);
    return rc;
}
