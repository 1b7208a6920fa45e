/* SPDX-License-Identifier: MIT */
/*
 * Starting and stopping the mirror tests' git servers. Each runs in its own process group
 * (so its CGI or session children stop with it), logs into the test's temp dir and listens
 * on 127.0.0.1 only. The HTTPS lighttpd gets a CA and a server certificate made here with the
 * openssl CLI.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mirror_servers.h"
#include "cargoman/plugin.h"
#include "sync/mirror.h"
#include "util/fsutil.h"

int ms_have(const char *tool)
{
    if (tool[0] == '/') /* a program, or a module such as lighttpd's mod_openssl.so */
        return access(tool, strstr(tool, ".so") ? R_OK : X_OK) == 0;
    return ms_sh("command -v %s >/dev/null 2>&1", tool) == 0;
}

#define MS_CMD_MAX 8192

/* The command fmt makes, into cmd (MS_CMD_MAX bytes); 0, or -1 when it does not fit. */
static int ms_format(char *cmd, const char *fmt, va_list ap)
{
    return (size_t)vsnprintf(cmd, MS_CMD_MAX, fmt, ap) < MS_CMD_MAX ? 0 : -1;
}

int ms_sandbox_enter(char *dir, size_t len, const char *name)
{
    if (snprintf(dir, len, "/tmp/cm-%s-XXXXXX", name) >= (int)len || !mkdtemp(dir))
        return -1;
    setenv("HOME", dir, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    return cm_mirror_global_init(0) == CM_OK ? 0 : -1;
}

void ms_sandbox_leave(const char *dir)
{
    cm_mirror_global_shutdown();
    cm_fs_rm_rf(dir);
}

int ms_sh(const char *fmt, ...)
{
    char cmd[MS_CMD_MAX];
    va_list ap;
    int st = -1;

    va_start(ap, fmt);
    if (ms_format(cmd, fmt, ap) == 0)
        st = system(cmd);
    va_end(ap);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

int ms_capture(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[MS_CMD_MAX];
    va_list ap;
    FILE *p;
    int ok;

    va_start(ap, fmt);
    ok = ms_format(cmd, fmt, ap) == 0;
    va_end(ap);
    if (!ok || !(p = popen(cmd, "r")))
        return -1;
    ok = fgets(out, (int)outlen, p) != NULL;
    while (ok && fgetc(p) != EOF) /* drain, so the command is not killed by SIGPIPE */
        ;
    if (pclose(p) != 0 || !ok)
        return -1;
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

/* Write the text fmt makes to path, replacing it. 0 or -1. */
static int ms_write(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ms_write(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    va_list ap;
    int ok;

    if (!f)
        return -1;
    va_start(ap, fmt);
    ok = vfprintf(f, fmt, ap) >= 0;
    va_end(ap);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int ms_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Wait up to 10 s for the port to accept connections, or for the server to die. */
static int ms_wait(struct ms_server *s)
{
    for (int i = 0; i < 200; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
        struct timespec ts = {0, 50 * 1000 * 1000};
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return 0;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Start argv in its own process group, logging into dir/name.log, and wait until s->port
 * accepts connections. */
static int ms_spawn(struct ms_server *s, const char *dir, const char *name, char *const argv[])
{
    char log[600];

    snprintf(log, sizeof(log), "%s/%s.log", dir, name);
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        setpgid(0, 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(s->pid, s->pid);
    if (ms_wait(s) != 0) {
        fprintf(stderr, "%s did not start, see %s\n", argv[0], log);
        ms_stop(s);
        return -1;
    }
    return 0;
}

void ms_stop(struct ms_server *s)
{
    if (s->pid > 0) {
        kill(-s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

int ms_git_daemon(struct ms_server *s, const char *dir)
{
    char git[256] = "", base[600], port[32];

    if (ms_capture(git, sizeof(git), "command -v git") != 0)
        return -1;
    s->port = ms_free_port();
    snprintf(base, sizeof(base), "--base-path=%s/srv", dir);
    snprintf(port, sizeof(port), "--port=%d", s->port);
    snprintf(s->url, sizeof(s->url), "git://127.0.0.1:%d/", s->port);
    char *argv[] = {git,
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    "--listen=127.0.0.1",
                    port,
                    base,
                    NULL};
    return ms_spawn(s, dir, "git-daemon", argv);
}

/* A test CA (dir/ca.pem) and a certificate for 127.0.0.1 it signed (dir/server.pem, .key).
 * The name is both an IP and a DNS entry: mbedTLS 2.28, under Debian 12's libgit2, matches
 * the host only against DNS entries, while OpenSSL and GnuTLS clients want the IP one. */
static int ms_tls_certs(const char *dir)
{
    return ms_sh("cd '%s' && exec >openssl.log 2>&1 && "
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "-days 2 -subj /CN=cargoman-test-ca -keyout ca.key -out ca.pem "
                 "-addext basicConstraints=critical,CA:TRUE "
                 "-addext keyUsage=critical,keyCertSign,cRLSign && "
                 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "-subj /CN=127.0.0.1 -keyout server.key -out server.csr && "
                 "printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\\n"
                 "basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
                 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                 "-days 2 -extfile server.ext -out server.pem",
                 dir) == 0
               ? 0
               : -1;
}

static int ms_lighttpd_start(struct ms_server *s, const char *dir, const char *user,
                             const char *password, int tls)
{
    char conf[600], users[600], tls_conf[1400] = "";
    char bin[] = "/usr/sbin/lighttpd", dflag[] = "-D", fflag[] = "-f";

    s->port = ms_free_port();
    snprintf(users, sizeof(users), "%s/lighttpd.users", dir);
    snprintf(conf, sizeof(conf), "%s/lighttpd.conf", dir);
    if (tls && ms_tls_certs(dir) != 0)
        return -1;
    if (tls)
        snprintf(tls_conf, sizeof(tls_conf),
                 "server.modules += (\"mod_openssl\")\n"
                 "ssl.engine = \"enable\"\n"
                 "ssl.pemfile = \"%s/server.pem\"\n"
                 "ssl.privkey = \"%s/server.key\"\n",
                 dir, dir);
    if (ms_write(users, "%s:%s\n", user, password) != 0)
        return -1;
    if (ms_write(conf,
                 "server.modules = (\"mod_alias\", \"mod_auth\", \"mod_authn_file\", \"mod_cgi\",\n"
                 "                  \"mod_setenv\")\n"
                 "server.document-root = \"%s/srv\"\n"
                 "server.bind = \"127.0.0.1\"\n"
                 "server.port = %d\n"
                 "server.errorlog = \"%s/lighttpd-error.log\"\n"
                 "%s"
                 "alias.url = (\"/git/\" => \"/usr/lib/git-core/git-http-backend/\")\n"
                 "$HTTP[\"url\"] =~ \"^/git/\" {\n"
                 "  cgi.assign = (\"\" => \"\")\n"
                 "  setenv.add-environment = (\"GIT_PROJECT_ROOT\" => \"%s/srv\",\n"
                 "                            \"GIT_HTTP_EXPORT_ALL\" => \"1\")\n"
                 "}\n"
                 "auth.backend = \"plain\"\n"
                 "auth.backend.plain.userfile = \"%s\"\n"
                 "auth.require = (\"/git/\" => (\"method\" => \"basic\", \"realm\" => \"git\",\n"
                 "                             \"require\" => \"valid-user\"))\n",
                 dir, s->port, dir, tls_conf, dir, users) != 0)
        return -1;
    snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d/git/", tls ? "https" : "http", s->port);
    char *argv[] = {bin, dflag, fflag, conf, NULL};
    return ms_spawn(s, dir, "lighttpd", argv);
}

int ms_lighttpd(struct ms_server *s, const char *dir, const char *user, const char *password)
{
    return ms_lighttpd_start(s, dir, user, password, 0);
}

int ms_lighttpd_tls(struct ms_server *s, const char *dir, const char *user, const char *password)
{
    return ms_lighttpd_start(s, dir, user, password, 1);
}

int ms_sshd(struct ms_server *s, const char *dir, const char *passphrase)
{
    struct passwd *pw = getpwuid(getuid());
    char conf[600];
    char bin[] = "/usr/sbin/sshd", dflag[] = "-D", eflag[] = "-e", fflag[] = "-f";

    if (!pw)
        return -1;
    /* sshd started as root insists on its privilege separation directory. */
    if (getuid() == 0)
        mkdir("/run/sshd", 0755);
    if (ms_sh("ssh-keygen -q -t ed25519 -N '' -C test-host -f %s/host_key && "
              "ssh-keygen -q -t ed25519 -N '%s' -C test-client -f %s/client_key",
              dir, passphrase, dir) != 0)
        return -1;
    s->port = ms_free_port();
    snprintf(conf, sizeof(conf), "%s/sshd_config", dir);
    if (ms_write(conf,
                 "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\nPidFile %s/sshd.pid\n"
                 "AuthorizedKeysFile %s/client_key.pub\nStrictModes no\nUsePAM no\n"
                 "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                 "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
                 s->port, dir, dir, dir) != 0)
        return -1;
    snprintf(s->url, sizeof(s->url), "ssh://%s@127.0.0.1:%d%s/srv/", pw->pw_name, s->port, dir);
    char *argv[] = {bin, dflag, eflag, fflag, conf, NULL};
    return ms_spawn(s, dir, "sshd", argv);
}
