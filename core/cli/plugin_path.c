/* SPDX-License-Identifier: MIT */
/*
 * The plugin path every command builds the same way: each -P in order, then the directories
 * of CARGOMAN_PLUGIN_PATH. The gateway adds server.plugin_path and the built-in directory.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cargoman/plugin.h"
#include "cli/cli.h"
#include "plugin/loader.h"

int cm_cli_plugin_dir(char *path, size_t len, const char *dir)
{
    char err[1024];
    if (cm_loader_path_add(path, len, dir, "-P", err, sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    return 0;
}

int cm_cli_plugin_env(char *path, size_t len)
{
    char err[1024];
    const char *list = getenv("CARGOMAN_PLUGIN_PATH");
    if (list && cm_loader_path_add_list(path, len, list, "CARGOMAN_PLUGIN_PATH:", err,
                                        sizeof(err)) != CM_OK) {
        fprintf(stderr, "cargoman: %s\n", err);
        return 1;
    }
    return 0;
}
