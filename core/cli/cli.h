/* SPDX-License-Identifier: MIT */
/*
 * The `cargoman` subcommands. Each returns the process exit status: 0 success, 1 a user
 * error (explained on stderr), 2 a usage error.
 */
#ifndef CM_CLI_H
#define CM_CLI_H

int cm_cli_serve(int argc, char **argv);
int cm_cli_check(int argc, char **argv);
int cm_cli_parse(int argc, char **argv);
int cm_cli_sign(int argc, char **argv);
int cm_cli_plugins(int argc, char **argv);
/* Ask the running daemon to replay a delivery / resync mirrors (remote.c). */
int cm_cli_replay(int argc, char **argv);
int cm_cli_resync(int argc, char **argv);
/* Ask the running daemon to import repositories and follow them (import.c). */
int cm_cli_import(int argc, char **argv);
/* `composer owners|release`: the Composer plugin's operator routes (composer.c). */
int cm_cli_composer(int argc, char **argv);
/* `db migrate`: the PostgreSQL queue's schema (db.c). */
int cm_cli_db(int argc, char **argv);

/* The plugin path (plugin/loader.h) in path, len bytes, starting "": cm_cli_plugin_dir adds
 * one -P, cm_cli_plugin_env the directories of CARGOMAN_PLUGIN_PATH after them. 0, or 1 after
 * printing which directory is wrong (a missing one is an error, not an empty directory). */
int cm_cli_plugin_dir(char *path, size_t len, const char *dir);
int cm_cli_plugin_env(char *path, size_t len);

/* `check`'s lines on the layers of a conf.d (conf_report.c): which file:line set each key of
 * section s; the entries enabled = false switched off; the NAME.dist files an upgrade left
 * in conf_dir. Printed to stdout. */
struct cm_section;
struct cm_config;
void cm_cli_print_origins(const struct cm_section *s);
void cm_cli_print_disabled(const struct cm_config *cfg);
void cm_cli_print_dist(const char *conf_dir);

/* Read FILE, or standard input for NULL or "-", into *out (malloc'd, NUL-terminated): CM_OK,
 * CM_EINVAL when it holds more than max bytes (0: no limit; reading stops there), CM_ENOENT
 * when it cannot be read, CM_ENOMEM. */
int cm_cli_read_input(const char *path, size_t max, char **out, size_t *len);

#endif
