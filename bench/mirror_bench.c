/* SPDX-License-Identifier: MIT */
/*
 * The gateway's mirror code (cm_mirror_open + cm_mirror_sync, as the worker runs it, and
 * cm_mirror_archive) against git on the same URL: first mirror vs `git clone --mirror`,
 * incremental push vs `git fetch`, a dist zip vs `git archive`. Each run is a child process,
 * timed and measured with wait4 (peak RSS). Driven by bench/mirror.sh; see bench/README.md.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include "sync/mirror.h"

struct mb_run {
    double secs;
    double rss_mib; /* ru_maxrss: the largest process of the run (git's index-pack counts) */
};

typedef int (*mb_child_fn)(void *arg);

static double mb_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run fn(arg) in a child and measure it; exits on failure, since a figure would be a lie. */
static struct mb_run mb_measure(const char *what, mb_child_fn fn, void *arg)
{
    struct mb_run r;
    struct rusage ru;
    int status = 0;
    double t0 = mb_now();
    pid_t pid = fork();

    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0)
        exit(fn(arg) == 0 ? 0 : 1); /* not _exit: LeakSanitizer checks at exit */
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "mirror_bench: %s failed\n", what);
        exit(1);
    }
    r.secs = mb_now() - t0;
    r.rss_mib = (double)ru.ru_maxrss / 1024.0;
    return r;
}

static int mb_exec(void *arg)
{
    char **argv = arg;

    execvp(argv[0], argv);
    perror(argv[0]);
    return 1;
}

/* Run argv to completion outside any measurement; exits when it fails. */
static void mb_run(char **argv)
{
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "mirror_bench: %s %s failed\n", argv[0], argv[1]);
        exit(1);
    }
}

static void mb_rm(const char *path)
{
    char lock[4200];
    char *argv[] = {"rm", "-rf", (char *)path, lock, NULL};

    snprintf(lock, sizeof(lock), "%s.lock", path);
    mb_run(argv);
}

static void mb_cp(const char *from, const char *to)
{
    char *argv[] = {"cp", "-a", (char *)from, (char *)to, NULL};

    mb_run(argv);
}

/* When the gateway's child had the whole pack (received == total objects), seconds after it
 * started: the rest of the run is resolving deltas, writing the index, refs and fsyncs. In
 * shared memory so the parent reads what the child saw. */
static double *mb_received_at;
static double mb_child_t0;

static void mb_progress(void *arg, unsigned received, unsigned total, unsigned long long bytes)
{
    (void)arg;
    (void)bytes;
    if (total && received == total && *mb_received_at == 0)
        *mb_received_at = mb_now() - mb_child_t0;
}

struct mb_gateway {
    const char *path, *url, *commit, *zip; /* commit/zip set: archive instead of sync */
};

/* What the worker does for one job: open the mirror, sync it (clone or fetch). */
static int mb_gateway_child(void *arg)
{
    struct mb_gateway *g = arg;
    struct cm_mirror *m = NULL;
    char err[1024];
    int rc;

    if (cm_mirror_global_init(0) != CM_OK)
        return 1;
    if (getenv("MB_MWINDOW_MB") && *getenv("MB_MWINDOW_MB"))
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)atoi(getenv("MB_MWINDOW_MB")) << 20);
    if (getenv("MB_MWINDOW_LIMIT_MB") && *getenv("MB_MWINDOW_LIMIT_MB"))
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT,
                         (size_t)atoi(getenv("MB_MWINDOW_LIMIT_MB")) << 20);
    mb_child_t0 = mb_now();
    *mb_received_at = 0;
    rc = cm_mirror_open(&m, g->path, g->url, "bench", "bench/repo");
    if (rc == CM_OK)
        cm_mirror_set_progress(m, mb_progress, NULL); /* the worker reports progress too */
    if (rc == CM_OK && g->zip) {
        cm_mirror_set_max_blob(m, 1ULL << 40);
        rc = cm_mirror_archive(m, g->commit, "pkg", g->zip);
        snprintf(err, sizeof(err), "cm_mirror_archive: %d", rc);
    } else if (rc == CM_OK) {
        rc = cm_mirror_sync(m, NULL, err, sizeof(err));
    }
    if (rc != CM_OK)
        fprintf(stderr, "mirror_bench: %s\n", err);
    cm_mirror_free(m);
    cm_mirror_global_shutdown();
    return rc == CM_OK ? 0 : 1;
}

static int mb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double mb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), mb_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct mb_side {
    double secs[64], rss[64];
};

/* Round i of one side: what mb_measure gave. */
static void mb_keep(struct mb_side *side, int i, struct mb_run r)
{
    side->secs[i] = r.secs;
    side->rss[i] = r.rss_mib;
}

static void mb_print(const char *title, const char *peer, struct mb_side *p, const char *gw,
                     struct mb_side *g, int rounds)
{
    double pt, gt, pr, gr;

    printf("%s (median of %d, alternating)\n", title, rounds);
    printf("  each round (s, peer/gateway):");
    for (int i = 0; i < rounds; i++) /* before mb_median sorts them */
        printf(" %.2f/%.2f", p->secs[i], g->secs[i]);
    printf("\n");
    pt = mb_median(p->secs, rounds);
    gt = mb_median(g->secs, rounds);
    pr = mb_median(p->rss, rounds);
    gr = mb_median(g->rss, rounds);
    printf("  %-38s %8.3f s   peak RSS %7.1f MiB\n", peer, pt, pr);
    printf("  %-38s %8.3f s   peak RSS %7.1f MiB\n", gw, gt, gr);
    printf("  ratio: %.2fx the time, %.2fx the memory\n", gt / pt, gr / pr);
    fflush(stdout);
}

/* First mirror: peer and gateway alternate, each into a fresh directory. */
static void mb_first(const char *url, const char *work, int rounds)
{
    char gpath[4096], ppath[4096];
    char *argv[] = {"git", "clone", "--mirror", "--quiet", (char *)url, ppath, NULL};
    struct mb_gateway g = {.path = gpath, .url = url};
    struct mb_side p, gw;
    double recv[64], rest[64];

    snprintf(gpath, sizeof(gpath), "%s/gw-first.git", work);
    snprintf(ppath, sizeof(ppath), "%s/git-first.git", work);
    for (int i = 0; i < rounds; i++) {
        mb_rm(ppath);
        mb_keep(&p, i, mb_measure("git clone --mirror", mb_exec, argv));
        mb_rm(gpath);
        mb_keep(&gw, i, mb_measure("cm_mirror_sync (first mirror)", mb_gateway_child, &g));
        recv[i] = *mb_received_at;
        rest[i] = gw.secs[i] - *mb_received_at;
    }
    mb_print("first mirror", "git clone --mirror (the peer):", &p, "gateway cm_mirror_sync:", &gw,
             rounds);
    printf("  gateway: whole pack received after %.3f s, then %.3f s resolving deltas, writing "
           "the index and refs\n",
           mb_median(recv, rounds), mb_median(rest, rounds));
}

/* Incremental push: a copy of each side's mirror of base, then fetch from next (base + 1). */
static void mb_incremental(const char *base, const char *next, const char *work, int rounds)
{
    char gbase[4096], pbase[4096], gpath[4096], ppath[4096];
    char *clone[] = {"git", "clone", "--mirror", "--quiet", (char *)base, pbase, NULL};
    char *fetch[] = {"git", "-C", ppath, "fetch", "--prune", "--quiet", "origin", NULL};
    char *seturl[] = {"git", "-C", ppath, "remote", "set-url", "origin", (char *)next, NULL};
    struct mb_gateway gb = {.path = gbase, .url = base}, g = {.path = gpath, .url = next};
    struct mb_side p, gw;

    snprintf(gbase, sizeof(gbase), "%s/gw-base.git", work);
    snprintf(pbase, sizeof(pbase), "%s/git-base.git", work);
    snprintf(gpath, sizeof(gpath), "%s/gw-inc.git", work);
    snprintf(ppath, sizeof(ppath), "%s/git-inc.git", work);
    mb_rm(gbase);
    mb_rm(pbase);
    mb_measure("git clone --mirror", mb_exec, clone);
    mb_measure("cm_mirror_sync (first mirror)", mb_gateway_child, &gb);
    for (int i = 0; i < rounds; i++) {
        mb_rm(ppath);
        mb_cp(pbase, ppath);
        mb_run(seturl);
        mb_keep(&p, i, mb_measure("git fetch", mb_exec, fetch));
        mb_rm(gpath);
        mb_cp(gbase, gpath);
        mb_keep(&gw, i, mb_measure("cm_mirror_sync (incremental)", mb_gateway_child, &g));
    }
    mb_print("incremental push (one new commit)", "git fetch into a mirror (the peer):", &p,
             "gateway cm_mirror_sync:", &gw, rounds);
}

/* A dist zip of commit: cm_mirror_archive against git archive, both from the gateway's mirror. */
static void mb_zip(const char *url, const char *commit, const char *work, int rounds)
{
    char path[4096], pzip[4096], gzip[4096], opt[4200];
    char *archive[] = {"git",           "-C", path,           "archive", "--format=zip",
                       "--prefix=pkg/", opt,  (char *)commit, NULL};
    struct mb_gateway clone = {.path = path, .url = url};
    struct mb_gateway g = {.path = path, .url = url, .commit = commit, .zip = gzip};
    struct mb_side p, gw;

    snprintf(path, sizeof(path), "%s/gw-zip.git", work);
    snprintf(pzip, sizeof(pzip), "%s/git.zip", work);
    snprintf(gzip, sizeof(gzip), "%s/gw.zip", work);
    snprintf(opt, sizeof(opt), "--output=%s", pzip);
    mb_rm(path);
    mb_measure("cm_mirror_sync (first mirror)", mb_gateway_child, &clone);
    for (int i = 0; i < rounds; i++) {
        mb_keep(&p, i, mb_measure("git archive", mb_exec, archive));
        mb_keep(&gw, i, mb_measure("cm_mirror_archive", mb_gateway_child, &g));
    }
    mb_print("dist zip", "git archive --format=zip (the peer):", &p,
             "gateway cm_mirror_archive:", &gw, rounds);
}

static int mb_usage(void)
{
    fprintf(stderr, "usage: mirror_bench first URL WORKDIR [ROUNDS]\n"
                    "       mirror_bench incremental BASE_URL NEXT_URL WORKDIR [ROUNDS]\n"
                    "       mirror_bench zip URL COMMIT WORKDIR [ROUNDS]\n");
    return 2;
}

static int mb_rounds(const char *s)
{
    int n = s ? atoi(s) : 3;

    return n < 1 ? 1 : n > 64 ? 64 : n;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mb_received_at =
        mmap(NULL, sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mb_received_at == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (argc >= 4 && !strcmp(argv[1], "first"))
        mb_first(argv[2], argv[3], mb_rounds(argv[4]));
    else if (argc >= 5 && !strcmp(argv[1], "incremental"))
        mb_incremental(argv[2], argv[3], argv[4], mb_rounds(argv[5]));
    else if (argc >= 5 && !strcmp(argv[1], "zip"))
        mb_zip(argv[2], argv[3], argv[4], mb_rounds(argv[5]));
    else
        return mb_usage();
    return 0;
}
