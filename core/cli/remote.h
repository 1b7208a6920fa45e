/* SPDX-License-Identifier: MIT */
/*
 * The client the commands that talk to the running daemon share (remote.c): where the gateway
 * is and its admin token, one request at a time over HTTP/1.1, and its refusals turned into
 * one line that says what to change.
 */
#ifndef CM_CLI_REMOTE_H
#define CM_CLI_REMOTE_H

#include <stddef.h>

struct cm_config;

struct cm_remote {
    char host[256], port[8], url[300]; /* url: for messages */
    const char *token;                 /* borrowed; NULL: none */
    struct cm_config *cfg;             /* owned when loaded (cm_config_free) */
};

struct cm_remote_reply {
    int code;   /* HTTP status, 0 when the gateway could not be reached */
    char *body; /* the caller's (free), NUL-terminated; NULL when code is 0 */
};

/* The options of replay, resync and import: -c, -u, --help, and --all / --from FILE where
 * all / from are not NULL. optind is left at the first operand. 0, 2 on a usage error (usage
 * printed), 3 after --help. */
int cm_remote_options(int argc, char **argv, const char *usage, const char **conf, const char **url,
                      int *all, const char **from);

/* The gateway's address and token from -u and -c (or the default configuration) into *t. 0,
 * or 1 after saying what is wrong. */
int cm_remote_open(struct cm_remote *t, const char *url, const char *conf_dir);

/* One request with an empty body; out->code 0 (with why) when nothing came back. */
void cm_remote_request(const struct cm_remote *t, const char *method, const char *path,
                       struct cm_remote_reply *out, char *why, size_t whylen);

/* One request that must answer want: 0 with its reply in *r (the caller frees r->body), or 1
 * after saying on stderr why not (the gateway unreachable, or its error). */
int cm_remote_call(const struct cm_remote *t, const char *method, const char *path, int want,
                   struct cm_remote_reply *r);

/* The message of an error answer into out: its "error", else its body. */
void cm_remote_error(const struct cm_remote_reply *r, char *out, size_t len);

/* Say on stderr why r is not the answer wanted: the gateway unreachable (code 0; why says how),
 * a refused token (naming the settings to use), or the answer's error. Frees r->body; 1. */
int cm_remote_fail(const struct cm_remote *t, struct cm_remote_reply *r, const char *why);

/* "/api/repositories/<endpoint>/<repository>/<action>" (no "/<action>" for NULL) into out,
 * the names' unsafe bytes percent-encoded (a repository keeps its slashes). 0, or -1 when it
 * does not fit. */
int cm_remote_repo_path(char *out, size_t len, const char *endpoint, const char *repository,
                        const char *action);

#endif
