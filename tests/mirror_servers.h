/* SPDX-License-Identifier: MIT */
/*
 * Real git servers for the mirror tests, each on 127.0.0.1 on a free port in a temp dir:
 * git daemon, lighttpd running git http-backend behind basic auth (over HTTP or HTTPS), and a
 * private sshd.
 */
#ifndef CM_MIRROR_SERVERS_H
#define CM_MIRROR_SERVERS_H

#include <sys/types.h>

struct ms_server {
    pid_t pid;
    int port;
    char url[512]; /* base URL, ending in '/': append "repo.git" */
};

/* 1 when path (absolute; readable is enough for a .so module) or a program of that name on
 * PATH is executable. */
int ms_have(const char *tool);
/* A test's own directory /tmp/cm-NAME-XXXXXX into dir (len bytes), made HOME and with git's
 * system configuration off so git and libgit2 keep away from the user's, and libgit2 set up
 * (cm_mirror_global_init). 0, or -1 when the directory could not be made. */
int ms_sandbox_enter(char *dir, size_t len, const char *name);
/* Shut libgit2 down and remove dir. */
void ms_sandbox_leave(const char *dir);
/* Run a shell command built from fmt; its exit status (-1 if it could not run). */
int ms_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The first line of a command's output into out (newline removed); 0 or -1. */
int ms_capture(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* git daemon serving dir/srv (push enabled). 0 or -1. */
int ms_git_daemon(struct ms_server *s, const char *dir);
/* lighttpd serving dir/srv under /git/ with basic auth user:password. */
int ms_lighttpd(struct ms_server *s, const char *dir, const char *user, const char *password);
/* The same over HTTPS (needs lighttpd-mod-openssl and the openssl CLI), with a certificate for
 * 127.0.0.1 signed by a CA made here, whose PEM file is dir/ca.pem. */
int ms_lighttpd_tls(struct ms_server *s, const char *dir, const char *user, const char *password);
/* sshd for the current user with dir/client_key.pub authorized and host key dir/host_key
 * (both made here; client_key has the passphrase given). URL: ssh://user@127.0.0.1:port/dir/srv/ */
int ms_sshd(struct ms_server *s, const char *dir, const char *passphrase);
/* Stop a server started above and wait for it. */
void ms_stop(struct ms_server *s);

#endif
