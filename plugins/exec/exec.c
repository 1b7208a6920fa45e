/* SPDX-License-Identifier: MIT */
/*
 * Sync plugin `exec`: runs a configured command after each sync, with the event JSON on
 * standard input and CARGOMAN_* variables, so any script can react to a push.
 * A non-zero exit or a timeout asks the core to retry the sync later.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

static long long ex_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start /bin/sh -c command with stdin_fd as its standard input, in a process group of its
 * own (so a timeout kills the whole pipeline), with every signal at its default and none
 * blocked: the daemon blocks SIGHUP/SIGINT/SIGTERM and ignores SIGPIPE/SIGXFSZ, and a shell
 * cannot undo a disposition ignored on entry. posix_spawn does all that in the child without
 * running any code of ours between fork and exec. 0 or an errno value. */
static int ex_spawn(const char *command, char **env, int stdin_fd, pid_t *pid)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    int e;

    sigemptyset(&none);
    sigfillset(&all);
    if ((e = posix_spawnattr_init(&attr)))
        return e;
    if ((e = posix_spawn_file_actions_init(&fa))) {
        posix_spawnattr_destroy(&attr);
        return e;
    }
    if (!(e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                  POSIX_SPAWN_SETPGROUP)) &&
        !(e = posix_spawnattr_setsigmask(&attr, &none)) &&
        !(e = posix_spawnattr_setsigdefault(&attr, &all)) &&
        !(e = posix_spawnattr_setpgroup(&attr, 0)) &&
        !(e = posix_spawn_file_actions_adddup2(&fa, stdin_fd, STDIN_FILENO)))
        e = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return e;
}

/* Feed json to the child on fd (non-blocking) while waiting for it to exit, both until
 * deadline (ms, monotonic): a command that neither reads its input nor exits must not hold
 * a worker. A command that exits or closes its input without reading it all is fine. Closes
 * fd. CM_OK with *status once the child is reaped, CM_EAGAIN on timeout (the child's process
 * group killed and the child reaped), CM_ERROR when waitpid fails. */
static int ex_feed_and_wait(int fd, const char *json, size_t len, pid_t pid, long long deadline,
                            int *status)
{
    size_t off = 0;
    int rc = CM_ERROR;

    for (;;) {
        while (fd >= 0 && off < len) {
            /* MSG_NOSIGNAL: a reader gone is EPIPE here, never a process-wide SIGPIPE. */
            ssize_t w = send(fd, json + off, len - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            } else { /* EPIPE and the like: the command does not want the rest */
                off = len;
            }
        }
        if (fd >= 0 && off >= len) {
            close(fd); /* end of input for the command */
            fd = -1;
        }
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            rc = CM_OK;
            break;
        }
        if (r < 0 && errno != EINTR)
            break;
        long long left = deadline - ex_now_ms();
        if (left <= 0) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            rc = CM_EAGAIN;
            break;
        }
        /* Wake as soon as the input can take more; look at the child every 20 ms. */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, fd >= 0 ? 1 : 0, left < 20 ? (int)left : 20);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

static int ex_on_sync(void *self, const struct cm_event *ev, const struct cm_mirror *m)
{
    struct ex_self *s = self;
    const struct cm_host *h = s->host;
    const char *json = h->event_json(ev);
    char vars[6][1100];
    int fds[2], status = 0, rc, e;
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
     * EPIPE from send(MSG_NOSIGNAL) rather than a SIGPIPE. Only our end is non-blocking: the
     * command reads its stdin as usual. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) {
        free(env);
        return CM_EAGAIN;
    }
    int fl = fcntl(fds[1], F_GETFL);
    if (fl < 0 || fcntl(fds[1], F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fds[0]);
        close(fds[1]);
        free(env);
        return CM_EAGAIN;
    }
    long long deadline = ex_now_ms() + s->timeout * 1000;
    e = ex_spawn(s->command, env, fds[0], &pid);
    free(env);
    close(fds[0]);
    if (e) {
        close(fds[1]);
        h->log(s->ctx, CM_LOG_WARNING, "cannot start /bin/sh for the command (%s): %s", strerror(e),
               s->command);
        return CM_EAGAIN;
    }
    rc = ex_feed_and_wait(fds[1], json, strlen(json), pid, deadline, &status);
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

/* The sync entry keys besides plugin (SDK 1.2): a typo in one is a configuration error. */
static const struct cm_conf_key ex_config_keys[] = {
    {"command", CM_CONF_STRING}, {"timeout", CM_CONF_INT}, {NULL, 0}};

CM_EXPORT const struct cm_sync_plugin cargoman_sync_plugin = {
    .abi_version = CM_ABI_VERSION,
    .name = "exec",
    .version = "1.0",
    .description = "runs a command with the event JSON on stdin after each sync",
    .create = ex_create,
    .destroy = ex_destroy,
    .on_sync = ex_on_sync,
    .config_keys = ex_config_keys,
};
