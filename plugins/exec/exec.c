/* SPDX-License-Identifier: MIT */
/*
 * Sync plugin `exec`: runs a configured command after each sync, with the event JSON on
 * standard input and CARGOMAN_* variables, so any script can react to a push.
 * A non-zero exit or a timeout asks the core to retry the sync later.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cargoman/plugin.h>

extern char **environ;

struct ex_self {
    const struct cm_host *host;
    struct cm_ctx *ctx;
    const char *command; /* borrowed from the config, which outlives us */
    long long timeout;   /* seconds */
};

static int ex_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    struct ex_self *s = calloc(1, sizeof(*s));
    if (!s)
        return CM_ENOMEM;
    s->host = host;
    s->ctx = ctx;
    s->timeout = 30;
    if (host->conf_string(ctx, "command", &s->command) != CM_OK || !*s->command) {
        host->log(ctx, CM_LOG_ERR, "set command = \"/path/to/script\"; in the exec sync entry");
        free(s);
        return CM_EINVAL;
    }
    int rc = host->conf_int(ctx, "timeout", &s->timeout);
    if (rc == CM_EINVAL || (rc == CM_OK && (s->timeout < 1 || s->timeout > 86400))) {
        host->log(ctx, CM_LOG_ERR, "timeout must be a number of seconds from 1 to 86400");
        free(s);
        return CM_EINVAL;
    }
    *self = s;
    return CM_OK;
}

static void ex_destroy(void *self)
{
    free(self);
}

/* environ plus the CARGOMAN_* variables; the strings live in vars. */
static char **ex_env(char vars[][1100], size_t n_vars)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + n_vars + 1, sizeof(*env));
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CARGOMAN_", 9))
            env[k++] = environ[i];
    for (size_t i = 0; i < n_vars; i++)
        env[k++] = vars[i];
    return env;
}

static int ex_wait(struct ex_self *s, pid_t pid, int *status)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return CM_OK;
        if (r < 0 && errno != EINTR)
            return CM_ERROR;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= s->timeout) {
            kill(-pid, SIGKILL);
            waitpid(pid, status, 0);
            return CM_EAGAIN;
        }
        poll(NULL, 0, 20);
    }
}

static int ex_on_sync(void *self, const struct cm_event *ev, const struct cm_mirror *m)
{
    struct ex_self *s = self;
    const struct cm_host *h = s->host;
    const char *json = h->event_json(ev);
    char vars[6][1100];
    int fds[2], status = 0, rc;
    pid_t pid;

    if (!json)
        return CM_ENOMEM;
    snprintf(vars[0], sizeof(vars[0]), "CARGOMAN_PROVIDER=%.1000s",
             h->event_get(ev, CM_FIELD_PROVIDER) ? h->event_get(ev, CM_FIELD_PROVIDER) : "");
    snprintf(vars[1], sizeof(vars[1]), "CARGOMAN_ENDPOINT=%.1000s",
             h->event_get(ev, CM_FIELD_ENDPOINT) ? h->event_get(ev, CM_FIELD_ENDPOINT) : "");
    snprintf(vars[2], sizeof(vars[2]), "CARGOMAN_REPOSITORY=%.1000s",
             h->event_get(ev, CM_FIELD_REPOSITORY) ? h->event_get(ev, CM_FIELD_REPOSITORY) : "");
    snprintf(vars[3], sizeof(vars[3]), "CARGOMAN_DELIVERY_ID=%.1000s",
             h->event_get(ev, CM_FIELD_DELIVERY_ID) ? h->event_get(ev, CM_FIELD_DELIVERY_ID) : "");
    snprintf(vars[4], sizeof(vars[4]), "CARGOMAN_MIRROR=%.1000s",
             m && h->mirror_get(m, CM_MIRROR_PATH) ? h->mirror_get(m, CM_MIRROR_PATH) : "");
    snprintf(vars[5], sizeof(vars[5]), "CARGOMAN_MIRROR_URL=%.1000s",
             m && h->mirror_get(m, CM_MIRROR_URL) ? h->mirror_get(m, CM_MIRROR_URL) : "");
    char **env = ex_env(vars, 6);
    if (!env)
        return CM_ENOMEM;
    /* A socket, not a pipe, so a command that exits without reading its input costs us an
     * EPIPE from send(MSG_NOSIGNAL) rather than a process-wide SIGPIPE. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) {
        free(env);
        return CM_EAGAIN;
    }
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(env);
        return CM_EAGAIN;
    }
    if (pid == 0) {
        setpgid(0, 0); /* so a timeout kills the whole pipeline the shell started */
        dup2(fds[0], STDIN_FILENO);
        char *argv[] = {"/bin/sh", "-c", (char *)s->command, NULL};
        execve("/bin/sh", argv, env);
        _exit(127);
    }
    free(env);
    close(fds[0]);
    /* A command that does not read stdin must not fail the sync: stop writing on EPIPE. */
    size_t len = strlen(json), off = 0;
    while (off < len) {
        ssize_t w = send(fds[1], json + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fds[1]);
    rc = ex_wait(s, pid, &status);
    if (rc == CM_EAGAIN) {
        h->log(s->ctx, CM_LOG_WARNING, "command timed out after %llds: %s", s->timeout, s->command);
        return CM_EAGAIN;
    }
    if (rc != CM_OK || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        h->log(s->ctx, CM_LOG_WARNING, "command failed (%s %d): %s",
               WIFEXITED(status) ? "exit" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), s->command);
        return CM_EAGAIN;
    }
    return CM_OK;
}

CM_EXPORT const struct cm_sync_plugin cargoman_sync_plugin = {
    .abi_version = CM_ABI_VERSION,
    .name = "exec",
    .version = "1.0",
    .description = "runs a command with the event JSON on stdin after each sync",
    .create = ex_create,
    .destroy = ex_destroy,
    .on_sync = ex_on_sync,
};
