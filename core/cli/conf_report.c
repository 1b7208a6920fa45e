/* SPDX-License-Identifier: MIT */
/*
 * What `cargoman check` says about the layers of a conf.d: which file set each key of an
 * entry (a site file may refine a shipped one), the entries switched off, and the NAME.dist
 * files an upgrade left beside changed ones for the operator to merge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cargoman/plugin.h>

#include "cli/cli.h"
#include "config/config.h"

/* 1 when the i-th key of s is the first one that file set. */
static int first_of_file(const struct cm_section *s, size_t i, const char *file)
{
    const char *k, *f;
    int l;

    for (size_t j = 0; j < i && cm_section_origin(s, j, &k, &f, &l) == CM_OK; j++)
        if (!strcmp(f, file))
            return 0;
    return 1;
}

void cm_cli_print_origins(const struct cm_section *s)
{
    const char *key, *file, *k, *f;
    int line, l;

    /* One line per file, in the order the keys were first read: the shipped file, then each
     * file that refined the entry. */
    for (size_t i = 0; cm_section_origin(s, i, &key, &file, &line) == CM_OK; i++) {
        if (!first_of_file(s, i, file))
            continue;
        printf("         keys from %s:", file);
        for (size_t j = i; cm_section_origin(s, j, &k, &f, &l) == CM_OK; j++)
            if (!strcmp(f, file))
                printf(" %s:%d", k, l);
        printf("\n");
    }
}

void cm_cli_print_disabled(const struct cm_config *cfg)
{
    for (size_t i = 0; i < cfg->n_disabled; i++)
        printf("disabled %s: enabled = false at %s:%d, so it is not loaded%s\n",
               cfg->disabled[i].what, cfg->disabled[i].file, cfg->disabled[i].line,
               strncmp(cfg->disabled[i].what, "endpoint", 8)
                   ? " and does not run"
                   : " and its webhook URL answers 404 like an unknown endpoint");
}

void cm_cli_print_dist(const char *conf_dir)
{
    char **names = NULL;
    size_t n = 0;

    if (cm_config_list_dist(conf_dir, &names, &n) != CM_OK)
        return; /* the configuration was just read from there: nothing to add */
    for (size_t i = 0; i < n; i++) {
        int len = (int)(strlen(names[i]) - 5);
        char active[4096];
        FILE *f;

        snprintf(active, sizeof(active), "%s/%.*s", conf_dir, len, names[i]);
        if ((f = fopen(active, "r")) != NULL) {
            fclose(f);
            printf("upgrade  %s/%s is the newer shipped %.*s, never loaded: compare and merge "
                   "(diff -u %s %s/%s), then remove it\n",
                   conf_dir, names[i], len, names[i], active, conf_dir, names[i]);
        } else {
            printf("upgrade  %s/%s is a shipped file, never loaded: copy it to %.*s to use it, "
                   "or remove it\n",
                   conf_dir, names[i], len, names[i]);
        }
        free(names[i]);
    }
    free(names);
}
