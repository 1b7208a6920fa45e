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

/* Read FILE, or standard input for NULL or "-", into *out (malloc'd, NUL-terminated). */
int cm_cli_read_input(const char *path, char **out, size_t *len);

#endif
