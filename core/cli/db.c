/* SPDX-License-Identifier: MIT */
/*
 * `cargoman db migrate`: create or upgrade the PostgreSQL schema of queue.backend =
 * "postgresql" (queue/pg_schema.c). Run once per upgrade, before the new gateways start; safe
 * to run from several nodes at once (the migrations take an advisory lock).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "cli/cli.h"
#include "config/config.h"
#include "queue/pg_queue.h"

static const char db_usage[] = "usage: cargoman db migrate [-c CONF_DIR]\n"
                               "  create or upgrade the PostgreSQL schema named by queue.conninfo\n"
                               "  -c  configuration directory (default " CM_CONF_DIR ")\n";

static int db_migrate(const char *conf_dir)
{
    struct cm_config *cfg;
    char err[1024];
    int from, to, rc;

    if (cm_config_load(&cfg, conf_dir, err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    if (strcmp(cfg->queue_backend, "postgresql") != 0) {
        fprintf(stderr,
                "cargoman: queue.backend is \"%s\" in %s: the database schema is for queue = { "
                "backend = \"postgresql\"; conninfo = \"...\"; }\n",
                cfg->queue_backend, conf_dir);
        cm_config_free(cfg);
        return 1;
    }
    rc = cm_pg_queue_migrate(cfg->queue_conninfo,
                             cfg->queue_timeout_ms > 30000 ? cfg->queue_timeout_ms : 30000, &from,
                             &to, err, sizeof(err));
    cm_config_free(cfg);
    if (rc != CM_OK) {
        fprintf(stderr, "cargoman: db migrate: %s\n", err);
        return 1;
    }
    if (from == to)
        printf("queue schema is at version %d: nothing to do\n", to);
    else
        printf("queue schema migrated from version %d to %d\n", from, to);
    return 0;
}

int cm_cli_db(int argc, char **argv)
{
    const char *conf_dir = CM_CONF_DIR;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int opt;

    if (argc < 2 || strcmp(argv[1], "migrate") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(db_usage, stdout);
            return 0;
        }
        fputs(db_usage, stderr);
        return 2;
    }
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_dir = optarg; break;
        case 'h': fputs(db_usage, stdout); return 0;
        default: fputs(db_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(db_usage, stderr);
        return 2;
    }
    return db_migrate(conf_dir);
}
