/* SPDX-License-Identifier: MIT */
/*
 * Tests of the configuration: ${VAR} expansion, CIDR lists, listen addresses, a multi-file
 * conf.d, every error a user can make (with its exact file:line message) and the shipped
 * conf.d loaded with an empty environment.
 */
#define _GNU_SOURCE /* clearenv */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cargoman/plugin.h>

#include "config/config.h"
#include "util/path_glob.h"

#ifndef CM_TEST_SRCDIR
#define CM_TEST_SRCDIR "."
#endif
#define FIXTURES CM_TEST_SRCDIR "/tests/fixtures/config"

static void t_env(void)
{
    setenv("CM_T_A", "alpha", 1);
    setenv("CM_T_EMPTY", "", 1);
    setenv("CM_T_DOLLAR", "${CM_T_A}", 1);
    unsetenv("CM_T_UNSET");
    unsetenv("CM_T_UNSET2");
}

/* ---- ${VAR} expansion ---- */

static const struct {
    const char *in, *out, *err; /* out NULL: an error whose message contains err */
} expand_cases[] = {
    {"plain", "plain", NULL},
    {"", "", NULL},
    {"${CM_T_A}", "alpha", NULL},
    {"x-${CM_T_A}-y${CM_T_A}", "x-alpha-yalpha", NULL},
    {"${CM_T_UNSET:-def}", "def", NULL},
    {"${CM_T_UNSET:-}", "", NULL},
    {"${CM_T_EMPTY}", "", NULL},
    {"${CM_T_EMPTY:-d}", "d", NULL},
    {"${CM_T_A:-d}", "alpha", NULL},
    {"${CM_T_UNSET:-${CM_T_A}}", "alpha", NULL},
    {"${CM_T_UNSET:-${CM_T_UNSET2:-deep}}!", "deep!", NULL},
    {"${CM_T_A:-${CM_T_UNSET2}}", "alpha", NULL},
    {"${CM_T_UNSET:-http://x:80/a}", "http://x:80/a", NULL},
    {"${CM_T_UNSET:-a$$b}", "a$b", NULL},
    {"$$", "$", NULL},
    {"$${CM_T_A}", "${CM_T_A}", NULL},
    {"pa$word$", "pa$word$", NULL},
    {"${CM_T_DOLLAR}", "${CM_T_A}", NULL},
    {"${CM_T_UNSET}", NULL, "${CM_T_UNSET} is not set: export it or write ${CM_T_UNSET:-default}"},
    {"a ${CM_T_UNSET:-${CM_T_UNSET2}} b", NULL, "${CM_T_UNSET2} is not set"},
    {"${CM_T_A", NULL, "unterminated \"${\""},
    {"x${", NULL, "unterminated \"${\""},
    {"${}", NULL, "bad variable name"},
    {"${1A}", NULL, "bad variable name"},
    {"${A-B}", NULL, "bad variable reference \"${A-\": write ${A} or ${A:-default}"},
    {"${CM_T_A:x}", NULL, "bad variable reference"},
    {"${CM_T_UNSET:-abc", NULL, "unterminated \"${CM_T_UNSET:-\""},
    {"${A:-${B:-${C:-${D:-${E:-${F:-${G:-${H:-${I:-${J:-x}}}}}}}}}}", NULL, "nested"},
};

START_TEST(test_expand)
{
    char err[256] = "", *out = (char *)"unchanged";
    int rc;

    t_env();
    rc = cm_expand_env(expand_cases[_i].in, &out, err, sizeof(err));
    if (expand_cases[_i].out) {
        ck_assert_msg(rc == CM_OK, "%s: %s", expand_cases[_i].in, err);
        ck_assert_str_eq(out, expand_cases[_i].out);
        free(out);
    } else {
        ck_assert_int_eq(rc, CM_EINVAL);
        ck_assert_ptr_null(out);
        ck_assert_msg(strstr(err, expand_cases[_i].err), "%s: got \"%s\"", expand_cases[_i].in,
                      err);
    }
}
END_TEST

/* ---- CIDR ---- */

static const struct {
    const char *text;
    int ok, family;
    unsigned prefix;
    const char *net; /* the stored network, as text */
} cidr_cases[] = {
    {"10.0.0.0/8", 1, AF_INET, 8, "10.0.0.0"},
    {"192.168.1.7", 1, AF_INET, 32, "192.168.1.7"},
    {"0.0.0.0/0", 1, AF_INET, 0, "0.0.0.0"},
    {"10.1.2.3/8", 1, AF_INET, 8, "10.0.0.0"},
    {"172.31.255.1/12", 1, AF_INET, 12, "172.16.0.0"},
    {"2001:db8::/32", 1, AF_INET6, 32, "2001:db8::"},
    {"::1", 1, AF_INET6, 128, "::1"},
    {"::/0", 1, AF_INET6, 0, "::"},
    {"::ffff:10.0.0.0/104", 1, AF_INET6, 104, "::ffff:10.0.0.0"},
    {"", 0, 0, 0, NULL},
    {"10.0.0.0/33", 0, 0, 0, NULL},
    {"10.0.0/8", 0, 0, 0, NULL},
    {"10.0.0.0/", 0, 0, 0, NULL},
    {"10.0.0.0/-1", 0, 0, 0, NULL},
    {"10.0.0.0/ 8", 0, 0, 0, NULL},
    {"10.0.0.0/8/9", 0, 0, 0, NULL},
    {" 10.0.0.0", 0, 0, 0, NULL},
    {"2001:db8::/129", 0, 0, 0, NULL},
    {"2001:db8:::1", 0, 0, 0, NULL},
    {"fe80::1%eth0", 0, 0, 0, NULL},
    {"example.com", 0, 0, 0, NULL},
};

START_TEST(test_cidr_parse)
{
    struct cm_cidr c;
    char buf[INET6_ADDRSTRLEN];
    int rc = cm_cidr_parse(cidr_cases[_i].text, &c);

    if (!cidr_cases[_i].ok) {
        ck_assert_msg(rc == CM_EINVAL, "\"%s\" accepted", cidr_cases[_i].text);
        return;
    }
    ck_assert_msg(rc == CM_OK, "\"%s\" refused", cidr_cases[_i].text);
    ck_assert_int_eq(c.family, cidr_cases[_i].family);
    ck_assert_uint_eq(c.prefix, cidr_cases[_i].prefix);
    ck_assert_ptr_nonnull(inet_ntop(c.family, c.addr, buf, sizeof(buf)));
    ck_assert_str_eq(buf, cidr_cases[_i].net);
}
END_TEST

static int t_match(const char *const *texts, const char *addr)
{
    struct cm_cidr list[8];
    size_t n = 0;
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    for (; n < 8 && texts[n]; n++)
        ck_assert_int_eq(cm_cidr_parse(texts[n], &list[n]), CM_OK);
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
    }
    return cm_cidr_match(list, n, (struct sockaddr *)&ss);
}

static const struct {
    const char *list[4];
    const char *addr;
    int match;
} match_cases[] = {
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "10.1.2.3", 1},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "11.0.0.1", 0},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "192.168.1.7", 1},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "192.168.1.8", 0},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "2001:db8::5", 1},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "2001:db9::5", 0},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "::ffff:10.9.9.9", 1},
    {{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"}, "::ffff:11.0.0.1", 0},
    {{"10.0.0.0/8"}, "::10.0.0.1", 0}, /* IPv4-compatible, not mapped */
    {{"::ffff:0:0/96"}, "1.2.3.4", 1},
    {{"172.16.0.0/12"}, "172.31.255.255", 1},
    {{"172.16.0.0/12"}, "172.32.0.0", 0},
    {{"0.0.0.0/0"}, "203.0.113.9", 1},
    {{"0.0.0.0/0"}, "2001:db8::1", 0},
    {{"::/0"}, "2001:db8::1", 1},
    {{"::1"}, "::1", 1},
    {{"::1"}, "127.0.0.1", 0},
    {{"fd00::/7"}, "fdff::1", 1},
    {{"fd00::/7"}, "fe00::1", 0},
};

START_TEST(test_cidr_match)
{
    ck_assert_int_eq(t_match(match_cases[_i].list, match_cases[_i].addr), match_cases[_i].match);
}
END_TEST

START_TEST(test_cidr_match_edge)
{
    struct cm_cidr c;
    struct sockaddr_in sin = {.sin_family = AF_INET};

    ck_assert_int_eq(cm_cidr_parse("0.0.0.0/0", &c), CM_OK);
    ck_assert_int_eq(cm_cidr_match(&c, 0, (struct sockaddr *)&sin), 0);
    ck_assert_int_eq(cm_cidr_match(&c, 1, NULL), 0);
    ck_assert_int_eq(cm_cidr_match(&c, 1, (struct sockaddr *)&sin), 1);
}
END_TEST

static const struct {
    const char *text, *host;
    unsigned port;
} listen_cases[] = {
    {"127.0.0.1:8080", "127.0.0.1", 8080},
    {"0.0.0.0:80", "0.0.0.0", 80},
    {"0.0.0.0:0", NULL, 0},
    {"[::1]:8080", "::1", 8080},
    {"[::]:65535", "::", 65535},
    {"127.0.0.1", NULL, 0},
    {"127.0.0.1:", NULL, 0},
    {"127.0.0.1:65536", NULL, 0},
    {"127.0.0.1:80x", NULL, 0},
    {"localhost:80", NULL, 0},
    {"::1:8080", NULL, 0},
    {"[::1]8080", NULL, 0},
    {"[::1:8080", NULL, 0},
    {"[127.0.0.1]:80", NULL, 0},
    {":8080", NULL, 0},
    {"", NULL, 0},
};

START_TEST(test_listen)
{
    char host[64];
    unsigned port = 1234;
    int rc = cm_config_split_listen(listen_cases[_i].text, host, sizeof(host), &port);

    if (!listen_cases[_i].host) {
        ck_assert_msg(rc == CM_EINVAL, "\"%s\" accepted", listen_cases[_i].text);
        return;
    }
    ck_assert_msg(rc == CM_OK, "\"%s\" refused", listen_cases[_i].text);
    ck_assert_str_eq(host, listen_cases[_i].host);
    ck_assert_uint_eq(port, listen_cases[_i].port);
}
END_TEST

/* ---- loading: errors ---- */

static const struct {
    const char *text, *err; /* the exact message, for a text named t.conf */
} error_cases[] = {
    {"bogus = 1;",
     "t.conf:1: unknown setting \"bogus\": expected one of server, queue, git, endpoint, "
     "endpoints, sync (a plugin's settings go in its endpoint or sync entry)"},
    {"queue = { backend = \"postgres\"; };",
     "t.conf:1: queue.backend = \"postgres\": write \"spool\" (the default, one machine) or "
     "\"postgresql\" (several gateways sharing one database)"},
    {"queue = { backend = \"postgresql\"; };",
     "queue.backend = \"postgresql\" needs queue.conninfo, e.g. conninfo = "
     "\"${CARGOMAN_DATABASE_URL}\"; (a libpq URI or key=value string)"},
    {"queue = { lease_seconds = 1; };",
     "t.conf:1: queue.lease_seconds = 1: it must be between 2 and 86400"},
    /* The block the read tokens had before they moved to the sync entry. */
    {"\ncomposer = { tokens = [ \"ci:abc\" ]; };",
     "t.conf:2: unknown setting \"composer\": tokens and public are now keys of the sync entry "
     "whose plugin serves the routes: move them to sync = ( { plugin = \"composer\"; tokens = "
     "[ \"user:token\" ]; ... } ) (docs/configuration.md)"},
    {"composer = { public = true; };",
     "t.conf:1: unknown setting \"composer\": tokens and public are now keys of the sync entry "
     "whose plugin serves the routes: move them to sync = ( { plugin = \"composer\"; tokens = "
     "[ \"user:token\" ]; ... } ) (docs/configuration.md)"},
    {"server = {\n  listne = \"1.2.3.4:80\";\n};",
     "t.conf:2: unknown setting \"listne\" in server: did you mean \"listen\"? expected one of "
     "listen, data_dir, max_body, workers, max_connections, connection_timeout, sync_max_age, "
     "dedupe_max_age, admin_token, max_connections_per_ip, request_timeout, "
     "max_queued, max_queued_per_endpoint, new_repositories_per_hour, max_refs_per_event, "
     "missing_repository_max_age, gone_repository_max_age, stop_timeout, healthz_max_due_age, "
     "plugin_path, "
     "reconcile_interval, reconcile_per_host, reconcile_spacing_ms, http_threads, "
     "sync_coalesce_ms, "
     "delivery_log_max_age, delivery_log_max_entries, "
     "payload_retention, payload_max_bytes, trusted_proxies"},
    {"server = { trusted_proxies = [ \"127.0.0.1\", \"proxy.example\" ]; };",
     "t.conf:1: server.trusted_proxies: \"proxy.example\" is not an address or CIDR range: "
     "write the reverse proxy's address as the gateway sees it, e.g. \"127.0.0.1\" or "
     "\"10.0.0.0/8\""},
    /* The flood limits: a limit of 0 would refuse everything, so only "no limit" keys take 0. */
    {"server = { max_queued = 0; };", "t.conf:1: server.max_queued = 0: it must be at least 1"},
    {"server = { max_queued_per_endpoint = -1; };",
     "t.conf:1: server.max_queued_per_endpoint = -1: it must be at least 1"},
    {"server = { new_repositories_per_hour = -1; };",
     "t.conf:1: server.new_repositories_per_hour = -1: it must be at least 0"},
    {"server = { max_refs_per_event = \"1000\"; };",
     "t.conf:1: server.max_refs_per_event must be a whole number, without quotes"},
    {"server = { missing_repository_max_age = 0; };",
     "t.conf:1: server.missing_repository_max_age = 0: it must be at least 1"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  max_queued = 0;\n};",
     "t.conf:3: endpoint \"gh\": max_queued must be a whole number of at least 1, without "
     "quotes (entries not yet synced; unset: server.max_queued_per_endpoint)"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n"
     "  new_repositories_per_hour = \"5\";\n};",
     "t.conf:3: endpoint \"gh\": new_repositories_per_hour must be a whole number of at least 0, "
     "without quotes (0: no limit; unset: server.new_repositories_per_hour)"},
    {"git = { token = \"x\"; };",
     "t.conf:1: unknown setting \"token\" in git: expected one of auth_user, auth_token, "
     "ssh_key, ssh_passphrase, ssh_known_hosts, ssl_ca_file, max_blob_size, timeout"},
    {"git = { max_blob_size = 0; };", "t.conf:1: git.max_blob_size = 0: it must be at least 1"},
    {"git = { timeout = 0; };", "t.conf:1: git.timeout = 0: it must be between 1 and 86400"},
    {"\ngit = { ssl_ca_file = \"/nonexistent/cm-test-ca.pem\"; };",
     "t.conf:2: git.ssl_ca_file: cannot read /nonexistent/cm-test-ca.pem: No such file or "
     "directory: give the PEM file holding your CA's certificate"},
    {"git = { ssl_ca_file = 5; };", "t.conf:1: git.ssl_ca_file must be a string in double quotes"},
    {"endpoint = {\n  name = \"dc\"; provider = \"bitbucket-datacenter\";\n"
     "  ssl_ca_file = \"/nonexistent/dc-ca.pem\";\n};",
     "t.conf:3: endpoint \"dc\": ssl_ca_file: cannot read /nonexistent/dc-ca.pem: No such file "
     "or directory: give the PEM file holding your CA's certificate"},
    {"endpoint = {\n  name = \"dc\"; provider = \"bitbucket-datacenter\";\n"
     "  ssh_passphrase = \"p\";\n};",
     "t.conf:3: endpoint \"dc\": ssh_passphrase is set but ssh_key is not: the passphrase goes "
     "with the endpoint's own ssh_key (git.ssh_passphrase goes with git.ssh_key)"},
    {"server = 5;", "t.conf:1: server must be a group: server = { ... };"},
    {"server = {\n\n  workers = 100;\n};",
     "t.conf:3: server.workers = 100: it must be between 1 and 64"},
    {"server = { workers = \"4\"; };",
     "t.conf:1: server.workers must be a whole number, without quotes"},
    {"server = { max_body = 1.5; };",
     "t.conf:1: server.max_body must be a whole number, without quotes"},
    {"server = { max_body = 0; };", "t.conf:1: server.max_body = 0: it must be at least 1"},
    {"server = { request_timeout = 0; };",
     "t.conf:1: server.request_timeout = 0: it must be between 1 and 86400"},
    {"server = { stop_timeout = -1; };",
     "t.conf:1: server.stop_timeout = -1: it must be between 0 and 86400"},
    {"server = { max_connections_per_ip = -1; };",
     "t.conf:1: server.max_connections_per_ip = -1: it must be between 0 and 1000000"},
    {"server = { max_connections_per_ip = \"32\"; };",
     "t.conf:1: server.max_connections_per_ip must be a whole number, without quotes"},
    {"server = {\n  admin_token = \"short\";\n};",
     "t.conf:2: server.admin_token is 5 characters long: use at least 16 random characters, "
     "e.g. `openssl rand -hex 32`"},
    {"server = { admin_token = \"0123456789abcdef 0123\"; };",
     "t.conf:1: server.admin_token holds a space or a character that is not printable ASCII: "
     "clients send it in a header; use e.g. `openssl rand -hex 32`"},
    {"server = { admin_token = \"0123456789abcdef\\n\"; };",
     "t.conf:1: server.admin_token holds a space or a character that is not printable ASCII: "
     "clients send it in a header; use e.g. `openssl rand -hex 32`"},
    {"server = { admin_token = \"${CM_T_UNSET}\"; };",
     "t.conf:1: server.admin_token: ${CM_T_UNSET} is not set: export it or write "
     "${CM_T_UNSET:-default}"},
    {"server = { admin_token = 12345678901234567; };",
     "t.conf:1: server.admin_token must be a string in double quotes"},
    {"server = { listen = \"localhost:80\"; };",
     "t.conf:1: server.listen = \"localhost:80\" is not an address and port: write e.g. "
     "\"127.0.0.1:8080\", \"0.0.0.0:8080\" or \"[::1]:8080\""},
    {"server = { listen = 8080; };", "t.conf:1: server.listen must be a string in double quotes"},
    {"server = { data_dir = \"${CM_T_UNSET:-}\"; };",
     "t.conf:1: server.data_dir is empty: write a directory, e.g. \"var\""},
    {"\ngit = { auth_user = \"${CM_T_UNSET}\"; };",
     "t.conf:2: git.auth_user: ${CM_T_UNSET} is not set: export it or write "
     "${CM_T_UNSET:-default}"},
    {"sync = ( { plugin = \"composer\"; tokens = [ \"a:b\", \"nocolon\" ]; } );",
     "t.conf:1: sync \"composer\": tokens: entry 2 must be written \"user:token\""},
    {"sync = ( { plugin = \"composer\"; tokens = [ \":x\" ]; } );",
     "t.conf:1: sync \"composer\": tokens: entry 1 must be written \"user:token\""},
    {"sync = ( { plugin = \"composer\";\n  tokens = 5; } );",
     "t.conf:2: sync \"composer\": tokens must be a list of strings, e.g. [ \"a\", \"b\" ]"},
    {"server = {\n  workers = ;\n};",
     "t.conf:2: syntax error: check the quotes, braces, brackets and '=' there and on the line "
     "before"},
    {"server = {\n  workers = 2;\n  workers = 3;\n};",
     "t.conf:3: duplicate setting name: a name may appear only once in a group; remove or "
     "merge one"},
    {"server = { data_dir = \"var; };",
     "t.conf:1: syntax error: check the quotes, braces, brackets and '=' there and on the line "
     "before"},
    {"endpoint = {\n  provider = \"github\";\n};",
     "t.conf:1: endpoint: name is missing or empty: add name = \"my-endpoint\";"},
    {"endpoint = {\n  name = \"a/b\";\n  provider = \"github\";\n};",
     "t.conf:2: endpoint \"a/b\": name \"a/b\" may hold only letters, digits, '.', '_' and '-', "
     "and may not start with '.'"},
    {"endpoint = { name = \"..\"; provider = \"github\"; };",
     "t.conf:1: endpoint \"..\": name \"..\" may hold only letters, digits, '.', '_' and '-', "
     "and may not start with '.'"},
    {"endpoint = { name = 5; provider = \"github\"; };",
     "t.conf:1: endpoint: name must be a string in double quotes"},
    {"endpoint = { name = \"${CM_T_UNSET}\"; provider = \"github\"; };",
     "t.conf:1: endpoint \"${CM_T_UNSET}\": name: ${CM_T_UNSET} is not set: export it or write "
     "${CM_T_UNSET:-default}"},
    {"endpoint = {\n  name = \"gh\";\n};",
     "t.conf:1: endpoint \"gh\": provider is missing or empty: add provider = \"github\"; (a "
     "file that changes an endpoint defined in another file must sort after it, e.g. "
     "50-site.conf)"},
    {"endpoint = {\n  name = \"gh\";\n  provider = \"../../tmp/evil\";\n};",
     "t.conf:3: endpoint \"gh\": provider \"../../tmp/evil\" may hold only letters, digits, '.', "
     "'_' and '-', and may not start with '.'"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  url = \"ftp://x\";\n};",
     "t.conf:3: endpoint \"gh\": url \"ftp://x\" must be the host's address starting with "
     "http:// or https://, e.g. \"https://git.example.com\" (or \"\" for none)"},
    {"endpoint = { name = \"gh\"; provider = \"github\"; url = \"https://\"; };",
     "t.conf:1: endpoint \"gh\": url \"https://\" must be the host's address starting with "
     "http:// or https://, e.g. \"https://git.example.com\" (or \"\" for none)"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secret = \"x\";\n"
     "  secret_file = \"/etc/hostname\";\n};",
     "t.conf:4: endpoint \"gh\": both secret and secret_file are set: keep only one"},
    /* Secret rotation: secret, secrets or secret_file, never two of them; no empty list. */
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secret = \"x\";\n"
     "  secrets = [ \"new\", \"old\" ];\n};",
     "t.conf:4: endpoint \"gh\": both secret and secrets are set: keep only secrets = [ "
     "\"new\", \"old\" ]"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secrets = [ \"x\" ];\n"
     "  secret_file = \"/etc/hostname\";\n};",
     "t.conf:4: endpoint \"gh\": both secrets and secret_file are set: keep only one"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secrets = [ ];\n};",
     "t.conf:3: endpoint \"gh\": secrets is an empty list: give at least one, e.g. secrets = "
     "[ \"new\" ], or remove it"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secret_file = [ ];\n};",
     "t.conf:3: endpoint \"gh\": secret_file is an empty list: give at least one, e.g. "
     "secret_file = [ \"/etc/cargoman/gh.secret\" ], or remove it"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secrets = 5;\n};",
     "t.conf:3: endpoint \"gh\": secrets must be a list of strings, e.g. [ \"new\", \"old\" ]"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secret = [ \"a\", \"b\" ];\n};",
     "t.conf:3: endpoint \"gh\": secret must be a string in double quotes (for several, write "
     "secrets = [ \"new\", \"old\" ])"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secrets = ( \"a\", 7 );\n};",
     "t.conf:3: endpoint \"gh\": secrets must be a string in double quotes"},
    {"endpoint = { name = \"gh\"; provider = \"github\"; secrets = [ \"1\", \"2\", \"3\", \"4\", "
     "\"5\", \"6\", \"7\", \"8\", \"9\", \"10\", \"11\", \"12\", \"13\", \"14\", \"15\", \"16\", "
     "\"17\" ]; };",
     "t.conf:1: endpoint \"gh\": secrets holds more than 16 secrets: keep the new and the old "
     "one"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  secret_file = [ \"" FIXTURES
     "/valid/secrets/dc-eu.secret\",\n    \"/nonexistent/cm-test.old\" ];\n};",
     "t.conf:3: endpoint \"gh\": cannot read secret_file /nonexistent/cm-test.old: No such "
     "file or directory"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n"
     "  secrets = [ \"new\" ]; allow_unsigned = true;\n};",
     "t.conf:3: endpoint \"gh\": allow_unsigned = true but a secret is set: remove one of the "
     "two"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n"
     "  secret_file = \"/nonexistent/cm-test.secret\";\n};",
     "t.conf:3: endpoint \"gh\": cannot read secret_file /nonexistent/cm-test.secret: No such "
     "file or directory"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n"
     "  clone_url = \"https://m.example.com/{repo}.git\";\n};",
     "t.conf:3: endpoint \"gh\": clone_url \"https://m.example.com/{repo}.git\" has no "
     "{repository} placeholder: write e.g. \"https://mirror.example.com/scm/{repository}.git\""},
    {"endpoint = { name = \"gh\"; provider = \"github\"; clone_url = "
     "\"https://{repository}/x.git\"; };",
     "t.conf:1: endpoint \"gh\": clone_url \"https://{repository}/x.git\" must be a git URL "
     "(https://, ssh://, git:// or user@host:path) with {repository} in its path, e.g. "
     "\"https://mirror.example.com/scm/{repository}.git\""},
    {"endpoint = { name = \"gh\"; provider = \"github\"; clone_url = \"file:///srv/{repository}\"; "
     "};",
     "t.conf:1: endpoint \"gh\": clone_url \"file:///srv/{repository}\" must be a git URL "
     "(https://, ssh://, git:// or user@host:path) with {repository} in its path, e.g. "
     "\"https://mirror.example.com/scm/{repository}.git\""},
    {"endpoint = { name = \"gh\"; provider = \"github\"; url = \"https://a@b@h.example\"; };",
     "t.conf:1: endpoint \"gh\": url \"https://a@b@h.example\" must be the host's address "
     "starting with http:// or https://, e.g. \"https://git.example.com\" (or \"\" for none)"},
    {"endpoint = { name = \"dc\"; provider = \"x\"; ssh_url = \"git@h:scm\"; };",
     "t.conf:1: endpoint \"dc\": ssh_url \"git@h:scm\" must be the host's SSH address, e.g. "
     "\"ssh://git@git.example.com:7999\" (a path only where the host serves repositories "
     "under one)"},
    {"endpoint = { name = \"dc\"; provider = \"x\"; ssh_url = \"https://h\"; };",
     "t.conf:1: endpoint \"dc\": ssh_url \"https://h\" must be the host's SSH address, e.g. "
     "\"ssh://git@git.example.com:7999\" (a path only where the host serves repositories "
     "under one)"},
    {"endpoint = { name = \"gh\"; provider = \"github\"; allow_unsigned = \"yes\"; };",
     "t.conf:1: endpoint \"gh\": allow_unsigned must be true or false, without quotes"},
    {"endpoint = { name = \"gh\"; provider = \"github\"; secret = \"s\"; allow_unsigned = true; };",
     "t.conf:1: endpoint \"gh\": allow_unsigned = true but a secret is set: remove one of the "
     "two"},
    {"sync = ( { plugin = \"composer\"; public = 1; } );",
     "t.conf:1: sync \"composer\": public must be true or false, without quotes"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  allow_from = [\n"
     "    \"10.0.0.0/8\",\n    \"10.0.0.0/33\"\n  ];\n};",
     "t.conf:3: endpoint \"gh\": allow_from entry \"10.0.0.0/33\" is not an address or CIDR "
     "range: write e.g. \"10.0.0.0/8\", \"192.0.2.7\" or \"2001:db8::/32\""},
    {"endpoint = { name = \"gh\"; provider = \"github\"; allow_from = 5; };",
     "t.conf:1: endpoint \"gh\": allow_from must be a list of addresses, e.g. "
     "[ \"10.0.0.0/8\", \"2001:db8::/32\" ]"},
    {"endpoint = { name = \"gh\"; provider = \"github\"; allow_from = [ \"${CM_T_UNSET}\" ]; };",
     "t.conf:1: endpoint \"gh\": allow_from: ${CM_T_UNSET} is not set: export it or write "
     "${CM_T_UNSET:-default}"},
    {"endpoint = {\n  name = \"org\"; provider = \"github\";\n"
     "  repositories = [ \"acme/*\", \"acme//x\" ];\n};",
     "t.conf:3: endpoint \"org\": repositories entry \"acme//x\" has an empty segment (a "
     "leading, trailing or doubled '/'): write e.g. \"acme/*\""},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = [ \"/acme/*\" ]; };",
     "t.conf:1: endpoint \"org\": repositories entry \"/acme/*\" has an empty segment (a "
     "leading, trailing or doubled '/'): write e.g. \"acme/*\""},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = [ \"acme/\" ]; };",
     "t.conf:1: endpoint \"org\": repositories entry \"acme/\" has an empty segment (a "
     "leading, trailing or doubled '/'): write e.g. \"acme/*\""},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = [ \"acme/web**\" ]; };",
     "t.conf:1: endpoint \"org\": repositories entry \"acme/web**\" uses ** inside a segment: "
     "** stands for whole segments (\"acme/**\"), * for part of one (\"acme/web-*\")"},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = [ \"acme/cli?\" ]; };",
     "t.conf:1: endpoint \"org\": repositories entry \"acme/cli?\" uses ? [ ] { } or \\: only "
     "* (within a segment) and ** (whole segments) are wildcards"},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = [ \"acme/a b\" ]; };",
     "t.conf:1: endpoint \"org\": repositories entry \"acme/a b\" holds a space or a control "
     "character: repository names have none"},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = [ \"\" ]; };",
     "t.conf:1: endpoint \"org\": repositories entry \"\" is empty: write a repository name "
     "(\"acme/widgets\") or a pattern (\"acme/*\")"},
    {"endpoint = { name = \"org\"; provider = \"github\";\n repositories = [ ]; };",
     "t.conf:2: endpoint \"org\": repositories is empty, so every push would be ignored: list "
     "the repositories to accept, e.g. [ \"acme/*\" ], or remove the key to accept all"},
    {"endpoint = { name = \"org\"; provider = \"github\"; repositories = 3; };",
     "t.conf:1: endpoint \"org\": repositories must be a list of repository names or "
     "patterns, e.g. [ \"acme/*\", \"tools/cli\" ]"},
    {"endpoint = { name = \"org\"; provider = \"github\";\n"
     "  repositories = [ \"${CM_T_UNSET}\" ]; };",
     "t.conf:2: endpoint \"org\": repositories: ${CM_T_UNSET} is not set: export it or write "
     "${CM_T_UNSET:-default}"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  extra = { a = 1; };\n};",
     "t.conf:3: endpoint \"gh\": extra is a group: only values and lists of strings are "
     "allowed here"},
    {"endpoint = {\n  name = \"gh\"; provider = \"github\";\n  ports = [ 1, 2 ];\n};",
     "t.conf:3: endpoint \"gh\": ports must be a string in double quotes"},
    {"endpoint = \"gh\";",
     "t.conf:1: an endpoint must be a group: { name = \"...\"; provider = \"...\"; ... }"},
    {"endpoints = 5;",
     "t.conf:1: endpoints must be a list of groups: endpoints = ( { ... }, { ... } );"},
    {"endpoints = (\n  { name = \"gh\"; provider = \"github\"; },\n"
     "  { name = \"gh\"; provider = \"gitlab\"; }\n);",
     "t.conf:3: endpoint \"gh\": provider is already set at t.conf:2, in the same file: a file "
     "sets each key of an entry once; remove one of the two (a later file may change it)"},
    /* Two groups for one endpoint in one file may not both set a key: which would win? */
    {"endpoints = (\n  { name = \"gh\"; provider = \"github\";\n"
     "    clone_url = \"https://a.example/{repository}\"; },\n"
     "  { name = \"gh\";\n    clone_url = \"https://b.example/{repository}\"; }\n);",
     "t.conf:5: endpoint \"gh\": clone_url is already set at t.conf:3, in the same file: a file "
     "sets each key of an entry once; remove one of the two (a later file may change it)"},
    {"endpoint = { name = \"gh\"; provider = \"github\";\n  enabled = \"no\"; };",
     "t.conf:2: endpoint \"gh\": enabled must be true or false, without quotes"},
    {"sync = ( { plugin = \"exec\"; enabled = 0; } );",
     "t.conf:1: sync entry exec \"exec\": enabled must be true or false, without quotes"},
    {"sync = (\n  { base_url = \"x\"; }\n);",
     "t.conf:2: sync: plugin is missing or empty: add plugin = \"exec\";"},
    {"sync = (\n  { plugin = \"composer\";\n    base_url = \"${CM_T_UNSET}\"; }\n);",
     "t.conf:3: sync: base_url: ${CM_T_UNSET} is not set: export it or write "
     "${CM_T_UNSET:-default}"},
    {"sync = (\n  { plugin = \"composer\"; public = true; },\n  { plugin = \"exec\"; },\n"
     "  { plugin = \"composer\"; name = \"composer\";\n    public = false; }\n);",
     "t.conf:5: sync entry composer \"composer\": public is already set at t.conf:2, in the "
     "same file: a file sets each key of an entry once; remove one of the two (a later file may "
     "change it)"},
    /* An unnamed entry is a new one: the name made for it may not be taken. */
    {"sync = (\n  { plugin = \"exec\"; name = \"2\"; },\n  { plugin = \"exec\"; },\n"
     "  { plugin = \"exec\"; }\n);",
     "t.conf:4: sync entry exec named \"2\" is already defined at t.conf:2: give one of them "
     "another name = \"...\";"},
    {"sync = ( { plugin = \"exec\"; name = \"../x\"; } );",
     "t.conf:1: sync entry exec: name \"../x\" may hold only letters, digits, '.', '_' and '-', "
     "and may not start with '.'"},
    {"sync = ( { plugin = \"a/b\"; } );",
     "t.conf:1: sync: plugin \"a/b\" may hold only letters, digits, '.', '_' and '-', and may "
     "not start with '.'"},
};

/* server.trusted_proxies: a list of addresses and ranges, as allow_from reads them. */
START_TEST(test_trusted_proxies)
{
    struct cm_config *cfg = NULL;
    char err[512];

    ck_assert_int_eq(cm_config_load_text(&cfg, "t.conf",
                                         "server = { trusted_proxies = [ \"127.0.0.1\", "
                                         "\"10.0.0.0/8\", \"::1\" ]; };",
                                         err, sizeof(err)),
                     CM_OK);
    ck_assert_uint_eq(cfg->n_trusted_proxies, 3);
    ck_assert_int_eq(cfg->trusted_proxies[1].family, AF_INET);
    ck_assert_uint_eq(cfg->trusted_proxies[1].prefix, 8);
    ck_assert_int_eq(cfg->trusted_proxies[2].family, AF_INET6);
    cm_config_free(cfg);
    ck_assert_int_eq(
        cm_config_load_text(&cfg, "t.conf", "server = { workers = 1; };", err, sizeof(err)), CM_OK);
    ck_assert_uint_eq(cfg->n_trusted_proxies, 0);
    cm_config_free(cfg);
}
END_TEST

START_TEST(test_errors)
{
    struct cm_config *cfg = (struct cm_config *)1;
    char err[1024] = "";
    int rc;

    t_env();
    rc = cm_config_load_text(&cfg, "t.conf", error_cases[_i].text, err, sizeof(err));
    ck_assert_msg(rc == CM_EINVAL, "accepted: %s", error_cases[_i].text);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, error_cases[_i].err);
}
END_TEST

/* Errors that span files: the message names the file and line of both ("@" stands for the
 * fixture directory). */
static const struct {
    const char *dir, *err;
} dir_error_cases[] = {
    {"redefine", "@/10-b.conf:2: server.workers is already set at @/00-a.conf:2: a later "
                 "file may not redefine it; remove one of the two"},
    {"reprovider", "@/10-b.conf:4: endpoint \"gh\": provider \"gitlab\" differs from \"github\" "
                   "set at @/00-a.conf:1: a later file may change an entry's keys but not its "
                   "provider; give a new entry another name"},
    {"badsyntax", "@/10-bad.conf:3: syntax error: check the quotes, braces, brackets and '=' "
                  "there and on the line before"},
    {"secretrel", "@/00-ep.conf:4: endpoint \"gh\": cannot read secret_file "
                  "@/missing.secret: No such file or directory"},
    {"does-not-exist", "@: cannot open the configuration directory: No such file or directory "
                       "(give the directory holding the *.conf files with -c)"},
};

static void t_subst(char *out, size_t size, const char *tmpl, const char *dir)
{
    size_t used = 0;

    for (; *tmpl && used + 1 < size; tmpl++) {
        if (*tmpl == '@')
            used += (size_t)snprintf(out + used, size - used, "%s", dir);
        else
            out[used++] = *tmpl;
    }
    out[used < size ? used : size - 1] = '\0';
}

START_TEST(test_dir_errors)
{
    struct cm_config *cfg = (struct cm_config *)1;
    char dir[512], want[2048], err[1024] = "";

    snprintf(dir, sizeof(dir), "%s/%s", FIXTURES, dir_error_cases[_i].dir);
    t_subst(want, sizeof(want), dir_error_cases[_i].err, dir);
    ck_assert_int_eq(cm_config_load(&cfg, dir, err, sizeof(err)), CM_EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_empty_dir)
{
    struct cm_config *cfg = NULL;
    char dir[] = "/tmp/cm-check-config-XXXXXX", file[64], want[512], err[512] = "";
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(want, sizeof(want),
             "%s: no *.conf file in the configuration directory: give the "
             "directory holding them with -c",
             dir);
    ck_assert_int_eq(cm_config_load(&cfg, dir, err, sizeof(err)), CM_EINVAL);
    ck_assert_str_eq(err, want);
    /* Only hidden and non-.conf files: still empty. */
    snprintf(file, sizeof(file), "%s/.x.conf", dir);
    f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(cm_config_load(&cfg, dir, err, sizeof(err)), CM_EINVAL);
    ck_assert_str_eq(err, want);
    unlink(file);
    /* An empty .conf file is a valid (empty) configuration. */
    snprintf(file, sizeof(file), "%s/00-empty.conf", dir);
    f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(cm_config_load(&cfg, dir, err, sizeof(err)), CM_OK);
    ck_assert_int_eq(cfg->workers, 4);
    ck_assert_uint_eq(cfg->n_endpoints, 0);
    cm_config_free(cfg);
    unlink(file);
    rmdir(dir);
}
END_TEST

/* ---- secure by default: the keys that allow less ---- */

START_TEST(test_exposure_keys)
{
    struct cm_config *cfg = NULL;
    char err[1024] = "";
    const char *text = "sync = ( { plugin = \"composer\"; public = true; } );\n"
                       "endpoints = ( { name = \"a\"; provider = \"x\"; allow_unsigned = true;\n"
                       "  ssh_url = \"ssh://git@dc.example:7999\"; },\n"
                       "  { name = \"b\"; provider = \"x\"; secret = \"s\";\n"
                       "    ssh_url = \"ssh://git@srv.example/srv/git/\"; } );\n";

    ck_assert_msg(cm_config_load_text(&cfg, "t.conf", text, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_int_eq(cfg->syncs[0].public_routes, 1);
    ck_assert_uint_eq(cfg->syncs[0].n_tokens, 0);
    ck_assert_int_eq(cfg->endpoints[0].allow_unsigned, 1);
    ck_assert_str_eq(cfg->endpoints[0].ssh_url, "ssh://git@dc.example:7999");
    ck_assert_int_eq(cfg->endpoints[1].allow_unsigned, 0);
    /* A host that serves repositories under a path: its base, in one spelling. */
    ck_assert_str_eq(cfg->endpoints[1].ssh_url, "ssh://git@srv.example/srv/git");
    cm_config_free(cfg);
    ck_assert(cm_config_listen_is_loopback("127.0.0.1:8080"));
    ck_assert(cm_config_listen_is_loopback("127.3.4.5:8080"));
    ck_assert(cm_config_listen_is_loopback("[::1]:8080"));
    ck_assert(!cm_config_listen_is_loopback("0.0.0.0:8080"));
    ck_assert(!cm_config_listen_is_loopback("[::]:8080"));
    ck_assert(!cm_config_listen_is_loopback("10.1.2.3:8080"));
    ck_assert(!cm_config_listen_is_loopback("localhost:8080"));
}
END_TEST

/* ---- the keys a plugin declares (SDK 1.2) ---- */

static const struct cm_conf_key t_keys[] = {
    {"signing_token", CM_CONF_STRING}, {"legacy_sha1", CM_CONF_BOOL}, {"timeout", CM_CONF_INT},
    {"packages", CM_CONF_LIST},        {"anything", CM_CONF_ANY},     {NULL, 0}};
static const struct cm_conf_key t_none[] = {{NULL, 0}};

static const struct {
    const char *entry;              /* the keys of one endpoint besides name and provider */
    const struct cm_conf_key *keys; /* NULL: a plugin built against 1.0 or 1.1 */
    const char *err;                /* NULL: accepted */
} key_cases[] = {
    /* Every key of the core, whatever the plugin declares. */
    {"url = \"https://git.example.com\"; secret_file = \"" FIXTURES
     "/valid/secrets/dc-eu.secret\"; clone_url = "
     "\"https://m.example/{repository}.git\"; ssh_url = \"ssh://git@x:22\"; auth_user = \"u\";\n"
     "auth_token = \"t\"; allow_from = [ \"10.0.0.0/8\" ]; max_queued = 5;\n"
     "new_repositories_per_hour = 0;",
     t_none, NULL},
    {"secret = \"s\"; allow_unsigned = false;", t_none, NULL},
    /* An empty secret is none: a site's secret_file may stand beside the shipped secret. */
    {"secret = \"\"; secret_file = \"" FIXTURES "/valid/secrets/dc-eu.secret\";", t_none, NULL},
    {"signing_token = \"x\"; legacy_sha1 = true; timeout = 3; packages = [ \"a/*\" ];\n"
     "anything = 1.5;",
     t_keys, NULL},
    {"packages = \"a/*\";", t_keys, NULL}, /* a single string is a list of one */
    {"legacy_sha = true;", NULL, NULL},    /* undeclared: not checked, as before 1.2 */
    {"\nlegacy_sha = true;", t_keys,
     "t.conf:3: endpoint \"e\" (provider p): unknown key \"legacy_sha\": did you mean "
     "\"legacy_sha1\"? the keys known here are name, provider, url, "},
    {"clone_ur = \"x\";", t_none, "unknown key \"clone_ur\": did you mean \"clone_url\"?"},
    {"zzzzzzzz = 1;", t_keys, "unknown key \"zzzzzzzz\": the keys known here are name, "},
    {"zzz = 1;", t_keys,
     "new_repositories_per_hour, secrets, repositories, reconcile_interval, enabled, "
     "signing_token, legacy_sha1, "},
    {"repositories = [ \"acme/*\" ];", t_none, NULL},
    {"repositorys = [ \"acme/*\" ];", t_none, "did you mean \"repositories\"?"},
    {"\n\n legacy_sha1 = \"yes\";", t_keys,
     "t.conf:4: endpoint \"e\" (provider p): legacy_sha1 must be true or false, without "
     "quotes"},
    {"timeout = \"3\";", t_keys, "timeout must be a whole number, without quotes"},
    {"signing_token = 3;", t_keys, "signing_token must be a string in double quotes"},
    {"packages = 3;", t_keys, "packages must be a list of strings"},
};

START_TEST(test_declared_keys)
{
    struct cm_config *cfg = NULL;
    char text[2048], err[1024] = "";
    int rc;

    snprintf(text, sizeof(text), "endpoint = { name = \"e\"; provider = \"p\";\n%s };\n",
             key_cases[_i].entry);
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf", text, err, sizeof(err)) == CM_OK, "%s", err);
    rc = cm_section_check_keys(cfg->endpoints[0].section, cm_config_endpoint_keys,
                               key_cases[_i].keys, "endpoint \"e\" (provider p)", err, sizeof(err));
    if (!key_cases[_i].err)
        ck_assert_msg(rc == CM_OK, "%s", err);
    else
        ck_assert_msg(rc == CM_EINVAL && strstr(err, key_cases[_i].err), "got: %s", err);
    cm_config_free(cfg);
}
END_TEST

START_TEST(test_declared_sync_keys)
{
    static const struct cm_conf_key exec_keys[] = {{"command", CM_CONF_STRING}, {NULL, 0}};
    struct cm_config *cfg = NULL;
    char err[1024] = "";

    ck_assert_msg(cm_config_load_text(&cfg, "s.conf",
                                      "sync = ( { plugin = \"exec\"; command = \"/bin/true\"; },\n"
                                      "  { plugin = \"exec\"; comand = \"/bin/true\"; } );\n",
                                      err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_int_eq(cm_section_check_keys(cfg->syncs[0].section, cm_config_sync_keys, exec_keys,
                                           "sync plugin exec", err, sizeof(err)),
                     CM_OK);
    ck_assert_int_eq(cm_section_check_keys(cfg->syncs[1].section, cm_config_sync_keys, exec_keys,
                                           "sync plugin exec", err, sizeof(err)),
                     CM_EINVAL);
    ck_assert_str_eq(
        err, "s.conf:2: sync plugin exec: unknown key \"comand\": did you mean "
             "\"command\"? the keys known here are plugin, name, tokens, public, routes, enabled, "
             "command");
    cm_config_free(cfg);
}
END_TEST

/* ---- refinements: a later file changes an entry by naming it ---- */

/* The key's value and where it was set, as `check` shows it. */
static void t_origin(const struct cm_section *s, const char *key, const char *file, int line)
{
    const char *k, *f;
    char want[512];
    int l;

    snprintf(want, sizeof(want), "%s/refine/%s", FIXTURES, file);
    for (size_t i = 0; cm_section_origin(s, i, &k, &f, &l) == CM_OK; i++)
        if (!strcmp(k, key)) {
            ck_assert_str_eq(f, want);
            ck_assert_int_eq(l, line);
            return;
        }
    ck_abort_msg("no key %s", key);
}

START_TEST(test_refine)
{
    struct cm_config *cfg = NULL;
    const struct cm_endpoint_conf *ep;
    const char *s;
    char err[1024] = "", want[512];

    ck_assert_msg(cm_config_load(&cfg, FIXTURES "/refine", err, sizeof(err)) == CM_OK, "%s", err);
    /* Only the keys the site file sets change; a list is replaced whole. */
    ck_assert_ptr_nonnull(ep = cm_config_endpoint(cfg, "bitbucket"));
    ck_assert_str_eq(ep->provider, "bitbucket-cloud");
    ck_assert_str_eq(ep->url, "https://bitbucket.org");
    ck_assert_str_eq(ep->secret, "shipped");
    ck_assert_str_eq(ep->clone_url, "https://mirror.example.com/{repository}.git");
    ck_assert_uint_eq(ep->n_allow_from, 1);
    ck_assert_uint_eq(ep->allow_from[0].addr[0], 192);
    /* A key no part of the core knows (a provider's) is refined the same way. */
    ck_assert_int_eq(cm_section_string(ep->section, "flavour", &s), CM_OK);
    ck_assert_str_eq(s, "site");
    ck_assert_str_eq(ep->file, FIXTURES "/refine/10-bitbucket.conf");
    t_origin(ep->section, "name", "10-bitbucket.conf", 3);
    t_origin(ep->section, "url", "10-bitbucket.conf", 5);
    t_origin(ep->section, "clone_url", "50-site.conf", 4);
    t_origin(ep->section, "flavour", "50-site.conf", 6);
    /* enabled = false leaves gitlab out, unread (its secret file does not exist); a later file
     * switches github back on. */
    ck_assert_ptr_null(cm_config_endpoint(cfg, "gitlab"));
    ck_assert_ptr_nonnull(cm_config_endpoint(cfg, "github"));
    ck_assert_uint_eq(cfg->n_endpoints, 2);
    /* The sync entry named as the shipped one was (its plugin's name) is refined; exec is off. */
    ck_assert_uint_eq(cfg->n_syncs, 1);
    ck_assert_str_eq(cfg->syncs[0].name, "composer");
    ck_assert_int_eq(cm_section_string(cfg->syncs[0].section, "base_url", &s), CM_OK);
    ck_assert_str_eq(s, "https://packages.example.com");
    ck_assert_uint_eq(cfg->n_disabled, 2);
    ck_assert_str_eq(cfg->disabled[0].what, "endpoint \"gitlab\"");
    snprintf(want, sizeof(want), "%s/refine/50-site.conf", FIXTURES);
    ck_assert_str_eq(cfg->disabled[0].file, want);
    ck_assert_int_eq(cfg->disabled[0].line, 9);
    ck_assert_str_eq(cfg->disabled[1].what, "sync entry exec \"exec\"");
    cm_config_free(cfg);
}
END_TEST

/* ---- loading: a valid configuration ---- */

START_TEST(test_valid_dir)
{
    struct cm_config *cfg = NULL;
    const struct cm_endpoint_conf *ep;
    char err[1024] = "", dir[512], file[600];
    const char *s;
    long long n;
    int b;

    t_env();
    setenv("CM_T_DATA", "/srv/cm", 1);
    unsetenv("CM_T_PROJECT");
    snprintf(dir, sizeof(dir), "%s/valid", FIXTURES);
    ck_assert_msg(cm_config_load(&cfg, dir, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_str_eq(cfg->dir, dir);
    ck_assert_str_eq(cfg->listen, "[::1]:9090");
    ck_assert_str_eq(cfg->data_dir, "/srv/cm");
    ck_assert_int_eq(cfg->workers, 8);
    ck_assert_int_eq(cfg->max_body, 2097152);
    ck_assert_int_eq(cfg->max_connections, 256);
    ck_assert_int_eq(cfg->connection_timeout, 30);
    ck_assert_int_eq(cfg->sync_max_age, 86400);
    ck_assert_int_eq(cfg->dedupe_max_age, 259200);
    ck_assert_int_eq(cfg->max_queued, 100000);
    ck_assert_int_eq(cfg->max_queued_per_endpoint, 10000);
    ck_assert_int_eq(cfg->new_repositories_per_hour, 100);
    ck_assert_int_eq(cfg->max_refs_per_event, 1000);
    ck_assert_int_eq(cfg->missing_repository_max_age, 600);
    ck_assert_int_eq(cfg->gone_repository_max_age, 86400);
    ck_assert_ptr_null(cfg->auth_user);
    ck_assert_str_eq(cfg->auth_token, "tok");
    ck_assert_ptr_null(cfg->ssh_key);

    ck_assert_uint_eq(cfg->n_endpoints, 3);
    ck_assert_str_eq(cfg->endpoints[0].name, "bitbucket");
    ck_assert_str_eq(cfg->endpoints[1].name, "dc-eu");
    ck_assert_str_eq(cfg->endpoints[2].name, "dc-us");
    ep = cm_config_endpoint(cfg, "bitbucket");
    ck_assert_ptr_eq(ep, &cfg->endpoints[0]);
    ck_assert_str_eq(ep->provider, "bitbucket-cloud");
    ck_assert_str_eq(ep->url, "https://bitbucket.org"); /* trailing slash dropped */
    ck_assert_str_eq(ep->secret, "cloud-secret");
    ck_assert_ptr_null(ep->clone_url);
    ck_assert_ptr_null(ep->allow_from);
    ck_assert_uint_eq(ep->n_allow_from, 0);
    snprintf(file, sizeof(file), "%s/10-cloud.conf", dir);
    ck_assert_str_eq(ep->file, file);
    ck_assert_int_eq(ep->line, 1);

    ep = cm_config_endpoint(cfg, "dc-eu");
    ck_assert_ptr_nonnull(ep);
    ck_assert_str_eq(ep->provider, "bitbucket-datacenter");
    ck_assert_str_eq(ep->url, "https://git.eu.example.com");
    ck_assert_str_eq(ep->secret, "s3cret"); /* secret_file, newline dropped */
    ck_assert_str_eq(ep->clone_url, "https://mirror.eu.example.com/scm/{repository}.git");
    ck_assert_str_eq(ep->auth_user, "eu-bot");
    ck_assert_ptr_null(ep->auth_token);
    ck_assert_uint_eq(ep->n_allow_from, 2);
    ck_assert_int_eq(ep->allow_from[0].family, AF_INET);
    ck_assert_int_eq(ep->allow_from[1].family, AF_INET6);
    snprintf(file, sizeof(file), "%s/20-dc.conf", dir);
    ck_assert_str_eq(ep->file, file);
    ck_assert_int_eq(ep->line, 3);
    /* Every key stays readable by the plugin, with its type. */
    ck_assert_int_eq(cm_section_string(ep->section, "name", &s), CM_OK);
    ck_assert_str_eq(s, "dc-eu");
    ck_assert_int_eq(cm_section_string(ep->section, "secret_file", &s), CM_OK);
    ck_assert_str_eq(s, "secrets/dc-eu.secret");
    ck_assert_int_eq(cm_section_int(ep->section, "timeout", &n), CM_OK);
    ck_assert_int_eq(n, 15);
    ck_assert_int_eq(cm_section_bool(ep->section, "verbose", &b), CM_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(cm_section_list(ep->section, "projects", 0, &s), CM_OK);
    ck_assert_str_eq(s, "PLAT");
    ck_assert_int_eq(cm_section_list(ep->section, "projects", 1, &s), CM_OK);
    ck_assert_str_eq(s, "OPS");
    ck_assert_int_eq(cm_section_list(ep->section, "projects", 2, &s), CM_ENOENT);
    ck_assert_int_eq(cm_section_list(ep->section, "allow_from", 1, &s), CM_OK);
    ck_assert_str_eq(s, "2001:db8::/32");
    ck_assert_int_eq(cm_section_string(ep->section, "nope", &s), CM_ENOENT);
    ck_assert_int_eq(cm_section_int(ep->section, "nope", &n), CM_ENOENT);
    ck_assert_int_eq(cm_section_bool(ep->section, "nope", &b), CM_ENOENT);
    ck_assert_int_eq(cm_section_list(ep->section, "nope", 0, &s), CM_ENOENT);
    ck_assert_int_eq(cm_section_string(ep->section, "timeout", &s), CM_EINVAL);
    ck_assert_int_eq(cm_section_int(ep->section, "ratio", &n), CM_EINVAL);
    ck_assert_int_eq(cm_section_int(ep->section, "verbose", &n), CM_EINVAL);
    ck_assert_int_eq(cm_section_bool(ep->section, "timeout", &b), CM_EINVAL);
    ck_assert_int_eq(cm_section_list(ep->section, "name", 0, &s), CM_EINVAL);
    ck_assert_int_eq(cm_section_string(ep->section, "projects", &s), CM_EINVAL);

    ep = cm_config_endpoint(cfg, "dc-us");
    ck_assert_ptr_nonnull(ep);
    ck_assert_str_eq(ep->url, "http://git.us.example.com:7990");
    ck_assert_ptr_null(ep->secret); /* "" means none */
    ck_assert_int_eq(ep->line, 16);
    ck_assert_ptr_null(cm_config_endpoint(cfg, "dc"));
    ck_assert_ptr_null(cm_config_endpoint(cfg, NULL));

    ck_assert_uint_eq(cfg->n_syncs, 2);
    ck_assert_str_eq(cfg->syncs[0].plugin, "composer");
    ck_assert_int_eq(cm_section_string(cfg->syncs[0].section, "base_url", &s), CM_OK);
    ck_assert_str_eq(s, "http://127.0.0.1:8080");
    ck_assert_str_eq(cfg->syncs[0].name, "composer"); /* the first unnamed: the plugin's */
    ck_assert_uint_eq(cfg->syncs[0].n_tokens, 2);
    ck_assert_str_eq(cfg->syncs[0].tokens[0], "ci:abc123");
    ck_assert_str_eq(cfg->syncs[0].tokens[1], "dev:xyz");
    ck_assert_int_eq(cfg->syncs[0].public_routes, 0);
    ck_assert_str_eq(cfg->syncs[1].plugin, "exec");
    ck_assert_str_eq(cfg->syncs[1].name, "exec");
    ck_assert_uint_eq(cfg->syncs[1].n_tokens, 0);
    ck_assert_int_eq(cfg->syncs[1].line, 4);
    ck_assert_int_eq(cm_section_int(cfg->syncs[1].section, "timeout", &n), CM_OK);
    ck_assert_int_eq(n, 30);
    ck_assert_int_eq(cm_section_list(cfg->syncs[1].section, "args", 1, &s), CM_OK);
    ck_assert_str_eq(s, "$HOME"); /* $$ is a literal $ */
    cm_config_free(cfg);
}
END_TEST

/* ---- repositories = [ ... ]: the allow-list's patterns ---- */

static const struct {
    const char *pattern, *name;
    int match;
} glob_cases[] = {
    {"acme/*", "acme/one", 1},
    {"acme/*", "acme/two", 1},
    {"acme/*", "other/x", 0},
    {"acme/*", "acme/sub/x", 0}, /* '*' stays within a segment */
    {"acme/*", "acme", 0},
    {"acme/**", "acme/sub/x", 1},
    {"acme/**", "acme/x", 1},
    {"acme/**", "acmeco/x", 0},
    {"acme/**/cli", "acme/cli", 1}, /* "**" may stand for no segment */
    {"acme/**/cli", "acme/a/b/c/cli", 1},
    {"acme/**/cli", "acme/a/b/c/cli2", 0},
    {"acme/**/tools/**/cli", "acme/x/tools/y/tools/z/cli", 1},
    {"**", "any/thing/at/all", 1},
    {"**/cli", "group/sub/cli", 1},
    {"tools/cli", "tools/cli", 1},
    {"tools/cli", "tools/cli2", 0},
    {"tools/cli", "tools/cl", 0},
    {"ACME/Widgets", "acme/widgets", 1}, /* the hosts compare names without case */
    {"acme/*", "Acme/One", 1},
    {"PLAT/*-api", "plat/billing-api", 1},
    {"PLAT/*-api", "plat/billing-api-v2", 0},
    {"a/*b*c*", "a/xxbyyczz", 1},
    {"a/*b*c*", "a/xxcyybzz", 0},
    {"a/*", "a/", 1}, /* an empty last segment: no host names one, the core refuses it */
    {"~jdoe/*", "~JDOE/repo", 1},
    {"a/*a*a*a*a*a*a*b", "a/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
};

START_TEST(test_glob_match)
{
    char why[200];

    ck_assert_int_eq(cm_path_glob_check(glob_cases[_i].pattern, why, sizeof(why)), CM_OK);
    ck_assert_msg(cm_path_glob_match(glob_cases[_i].pattern, glob_cases[_i].name) ==
                      glob_cases[_i].match,
                  "%s vs %s", glob_cases[_i].pattern, glob_cases[_i].name);
}
END_TEST

START_TEST(test_repositories_loaded)
{
    struct cm_config *cfg = NULL;
    char err[1024] = "";

    t_env();
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf",
                                      "endpoints = (\n"
                                      "  { name = \"org\"; provider = \"github\";\n"
                                      "    repositories = [ \"acme/*\", \"${CM_T_A}/cli\" ]; },\n"
                                      "  { name = \"one\"; provider = \"github\";\n"
                                      "    repositories = \"tools/cli\"; },\n"
                                      "  { name = \"all\"; provider = \"github\"; } );\n",
                                      err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_uint_eq(cfg->endpoints[0].n_repositories, 2);
    ck_assert_str_eq(cfg->endpoints[0].repositories[0], "acme/*");
    ck_assert_str_eq(cfg->endpoints[0].repositories[1], "alpha/cli");
    ck_assert_uint_eq(cfg->endpoints[1].n_repositories, 1); /* a single string: a list of one */
    ck_assert_str_eq(cfg->endpoints[1].repositories[0], "tools/cli");
    ck_assert_uint_eq(cfg->endpoints[2].n_repositories, 0);
    ck_assert_ptr_null(cfg->endpoints[2].repositories);
    cm_config_free(cfg);
}
END_TEST

START_TEST(test_text_defaults)
{
    struct cm_config *cfg = NULL;
    char err[512] = "";

    ck_assert_int_eq(cm_config_load_text(&cfg, "empty", "", err, sizeof(err)), CM_OK);
    ck_assert_str_eq(cfg->dir, "empty");
    ck_assert_str_eq(cfg->listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg->data_dir, "var");
    ck_assert_int_eq(cfg->max_body, 1048576);
    ck_assert_int_eq(cfg->workers, 4);
    ck_assert_int_eq(cfg->max_connections, 256);
    ck_assert_int_eq(cfg->connection_timeout, 30);
    ck_assert_int_eq(cfg->sync_max_age, 86400);
    ck_assert_int_eq(cfg->dedupe_max_age, 259200);
    ck_assert_ptr_null(cfg->admin_token);
    ck_assert_int_eq(cfg->max_connections_per_ip, 32);
    ck_assert_int_eq(cfg->request_timeout, 30);
    ck_assert_int_eq(cfg->max_blob_size, 104857600);
    ck_assert_int_eq(cfg->git_timeout, 120);
    ck_assert_int_eq(cfg->max_queued, 100000);
    ck_assert_int_eq(cfg->max_queued_per_endpoint, 10000);
    ck_assert_int_eq(cfg->new_repositories_per_hour, 100);
    ck_assert_int_eq(cfg->max_refs_per_event, 1000);
    ck_assert_int_eq(cfg->missing_repository_max_age, 600);
    ck_assert_int_eq(cfg->stop_timeout, 10);
    ck_assert_ptr_null(cfg->auth_user);
    ck_assert_uint_eq(cfg->n_endpoints, 0);
    ck_assert_uint_eq(cfg->n_syncs, 0);
    cm_config_free(cfg);
    cm_config_free(NULL);

    /* A single group is accepted for endpoints and sync, a single string for allow_from. */
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf",
                                      "endpoints = { name = \"a\"; provider = \"github\"; "
                                      "allow_from = \"::1\"; };\n"
                                      "sync = { plugin = \"exec\"; };\n"
                                      "server = { listen = \"0.0.0.0:8080\"; };",
                                      err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_uint_eq(cfg->n_endpoints, 1);
    ck_assert_uint_eq(cfg->endpoints[0].n_allow_from, 1);
    ck_assert_str_eq(cfg->endpoints[0].file, "t.conf");
    ck_assert_uint_eq(cfg->n_syncs, 1);
    ck_assert_str_eq(cfg->listen, "0.0.0.0:8080");
    cm_config_free(cfg);

    /* Instance names keep two entries of one plugin apart (their state_dir): the name key,
     * else the plugin's own for its first unnamed entry, else the place among its unnamed. */
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf",
                                      "sync = ( { plugin = \"exec\"; }, { plugin = \"exec\"; },\n"
                                      "  { plugin = \"composer\"; name = \"eu\"; },\n"
                                      "  { plugin = \"composer\"; } );",
                                      err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_str_eq(cfg->syncs[0].name, "exec");
    ck_assert_str_eq(cfg->syncs[1].name, "2");
    ck_assert_str_eq(cfg->syncs[2].name, "eu");
    ck_assert_str_eq(cfg->syncs[3].name, "composer");
    cm_config_free(cfg);
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf",
                                      "endpoints = { name = \"a\"; provider = \"github\"; "
                                      "allow_from = \"::1\"; };\n"
                                      "server = { listen = \"0.0.0.0:8080\"; };",
                                      err, sizeof(err)) == CM_OK,
                  "%s", err);
    /* Unset, an endpoint's own limits inherit the server's. */
    ck_assert_int_eq(cfg->endpoints[0].max_queued, -1);
    ck_assert_int_eq(cfg->endpoints[0].new_repositories_per_hour, -1);
    cm_config_free(cfg);

    /* Set, they are the endpoint's; 0 new repositories an hour is "no limit". */
    ck_assert_msg(
        cm_config_load_text(&cfg, "t.conf",
                            "endpoint = { name = \"a\"; provider = \"github\"; "
                            "max_queued = 3; new_repositories_per_hour = 0; };\n"
                            "server = { max_queued = 7; max_queued_per_endpoint = 5; "
                            "new_repositories_per_hour = 2; max_refs_per_event = 9; "
                            "missing_repository_max_age = 60; gone_repository_max_age = 0; };",
                            err, sizeof(err)) == CM_OK,
        "%s", err);
    ck_assert_int_eq(cfg->endpoints[0].max_queued, 3);
    ck_assert_int_eq(cfg->endpoints[0].new_repositories_per_hour, 0);
    ck_assert_int_eq(cfg->max_queued, 7);
    ck_assert_int_eq(cfg->max_queued_per_endpoint, 5);
    ck_assert_int_eq(cfg->new_repositories_per_hour, 2);
    ck_assert_int_eq(cfg->max_refs_per_event, 9);
    ck_assert_int_eq(cfg->gone_repository_max_age, 0);
    ck_assert_int_eq(cfg->missing_repository_max_age, 60);
    cm_config_free(cfg);

    /* The operator token from the environment, empty meaning unset; the slow-client limits,
     * 0 switching the per-address limit off. */
    setenv("CM_T_ADMIN", "s3cr3t-0123456789abcdef", 1);
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf",
                                      "server = { admin_token = \"${CM_T_ADMIN:-}\"; "
                                      "max_connections_per_ip = 0; request_timeout = 5; };",
                                      err, sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_str_eq(cfg->admin_token, "s3cr3t-0123456789abcdef");
    ck_assert_int_eq(cfg->max_connections_per_ip, 0);
    ck_assert_int_eq(cfg->request_timeout, 5);
    cm_config_free(cfg);
    unsetenv("CM_T_ADMIN");
    ck_assert_msg(cm_config_load_text(&cfg, "t.conf",
                                      "server = { admin_token = \"${CM_T_ADMIN:-}\"; };", err,
                                      sizeof(err)) == CM_OK,
                  "%s", err);
    ck_assert_ptr_null(cfg->admin_token);
    cm_config_free(cfg);
}
END_TEST

/* What ships in conf.d loads with nothing exported. */
START_TEST(test_shipped)
{
    struct cm_config *cfg = NULL;
    const struct cm_endpoint_conf *ep;
    char err[1024] = "";
    const char *s;

    ck_assert_int_eq(clearenv(), 0);
    ck_assert_msg(cm_config_load(&cfg, CM_TEST_SRCDIR "/conf.d", err, sizeof(err)) == CM_OK, "%s",
                  err);
    ck_assert_str_eq(cfg->listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg->data_dir, "var");
    ck_assert_ptr_null(cfg->auth_user);
    ck_assert_ptr_null(cfg->auth_token);
    ck_assert_ptr_null(cfg->admin_token);
    ck_assert_int_eq(cfg->max_connections_per_ip, 32);
    ck_assert_int_eq(cfg->request_timeout, 30);
    ck_assert_uint_eq(cfg->n_endpoints, 4);
    ep = cm_config_endpoint(cfg, "bitbucket");
    ck_assert_ptr_nonnull(ep);
    ck_assert_str_eq(ep->provider, "bitbucket-cloud");
    ck_assert_str_eq(ep->url, "https://bitbucket.org");
    ck_assert_ptr_null(ep->secret);
    ep = cm_config_endpoint(cfg, "bitbucket-datacenter");
    ck_assert_ptr_nonnull(ep);
    ck_assert_str_eq(ep->provider, "bitbucket-datacenter");
    ck_assert_ptr_null(ep->url);
    ep = cm_config_endpoint(cfg, "github");
    ck_assert_ptr_nonnull(ep);
    ck_assert_str_eq(ep->url, "https://github.com");
    ep = cm_config_endpoint(cfg, "gitlab");
    ck_assert_ptr_nonnull(ep);
    ck_assert_str_eq(ep->url, "https://gitlab.com");
    ck_assert_uint_eq(cfg->n_syncs, 1);
    ck_assert_str_eq(cfg->syncs[0].plugin, "composer");
    ck_assert_int_eq(cm_section_string(cfg->syncs[0].section, "base_url", &s), CM_OK);
    ck_assert_str_eq(s, "http://127.0.0.1:8080");
    cm_config_free(cfg);

    /* The variables users already export are picked up. */
    setenv("BITBUCKET_WEBHOOK_SECRET", "bb", 1);
    setenv("BITBUCKET_URL", "https://git.example.com/", 1);
    setenv("GIT_AUTH_USER", "bot", 1);
    setenv("CARGOMAN_ADMIN_TOKEN", "0123456789abcdef0123", 1);
    ck_assert_msg(cm_config_load(&cfg, CM_TEST_SRCDIR "/conf.d", err, sizeof(err)) == CM_OK, "%s",
                  err);
    ck_assert_str_eq(cfg->auth_user, "bot");
    ck_assert_str_eq(cfg->admin_token, "0123456789abcdef0123");
    ck_assert_str_eq(cm_config_endpoint(cfg, "bitbucket")->secret, "bb");
    ep = cm_config_endpoint(cfg, "bitbucket-datacenter");
    ck_assert_str_eq(ep->secret, "bb");
    ck_assert_str_eq(ep->url, "https://git.example.com");
    cm_config_free(cfg);
    setenv("BITBUCKET_DATACENTER_WEBHOOK_SECRET", "dc", 1);
    ck_assert_msg(cm_config_load(&cfg, CM_TEST_SRCDIR "/conf.d/", err, sizeof(err)) == CM_OK, "%s",
                  err);
    ck_assert_str_eq(cm_config_endpoint(cfg, "bitbucket-datacenter")->secret, "dc");
    ck_assert_str_eq(cm_config_endpoint(cfg, "bitbucket")->secret, "bb");
    cm_config_free(cfg);
}
END_TEST

/* git.ssl_ca_file and an endpoint's: relative to the conf directory like secret_file, kept as
 * absolute paths, and checked at load. */
START_TEST(test_ssl_ca_file)
{
    struct cm_config *cfg = NULL;
    char dir[] = "/tmp/cm-check-config-XXXXXX", path[128], want[1024], err[1024] = "";
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/certs", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/certs/ca.pem", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("# company CA\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/certs/ca.der", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("0\x82\x01", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/00-a.conf", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("git = { ssl_ca_file = \"certs/ca.pem\"; };\n"
          "endpoints = ( { name = \"dc\"; provider = \"bitbucket-datacenter\";\n"
          "                ssl_ca_file = \"${CM_T_CADIR}/ca.pem\"; },\n"
          "              { name = \"gh\"; provider = \"github\"; ssl_ca_file = \"\"; } );\n",
          f);
    fclose(f);
    snprintf(want, sizeof(want), "%s/certs", dir);
    setenv("CM_T_CADIR", want, 1);
    ck_assert_msg(cm_config_load(&cfg, dir, err, sizeof(err)) == CM_OK, "%s", err);
    snprintf(want, sizeof(want), "%s/certs/ca.pem", dir);
    ck_assert_str_eq(cfg->ssl_ca_file, want);
    ck_assert_str_eq(cm_config_endpoint(cfg, "dc")->ssl_ca_file, want);
    ck_assert_ptr_null(cm_config_endpoint(cfg, "gh")->ssl_ca_file); /* "" inherits */
    cm_config_free(cfg);

    /* Not PEM: said where, and how to convert it. */
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("\ngit = { ssl_ca_file = \"certs/ca.der\"; };\n", f);
    fclose(f);
    snprintf(want, sizeof(want),
             "%s:2: git.ssl_ca_file: %s/certs/ca.der holds no "
             "\"-----BEGIN CERTIFICATE-----\" line: give the CA certificate in PEM form "
             "(convert DER with `openssl x509 -inform der`)",
             path, dir);
    ck_assert_int_eq(cm_config_load(&cfg, dir, err, sizeof(err)), CM_EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, want);

    /* Empty means the system's CAs only. */
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("git = { ssl_ca_file = \"${CM_T_UNSET:-}\"; };\n", f);
    fclose(f);
    unsetenv("CM_T_UNSET");
    ck_assert_msg(cm_config_load(&cfg, dir, err, sizeof(err)) == CM_OK, "%s", err);
    ck_assert_ptr_null(cfg->ssl_ca_file);
    cm_config_free(cfg);
    snprintf(want, sizeof(want), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(want), 0);
}
END_TEST

/* The forms of an endpoint's secrets: one, a list (rotation), files, and empty values. */
START_TEST(test_secrets)
{
    char dir[] = "/tmp/cm-secrets-XXXXXX", path[256], text[1024], err[512] = "";
    const struct cm_endpoint_conf *ep;
    struct cm_config *cfg = NULL;
    FILE *f;

    t_env();
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/gh.old", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs("old-from-file\n", f);
    fclose(f);
    snprintf(
        text, sizeof(text),
        "endpoints = (\n"
        " { name = \"one\"; provider = \"github\"; secret = \"s\"; },\n"
        " { name = \"two\"; provider = \"github\"; secrets = [ \"new\", \"old\" ]; },\n"
        " { name = \"str\"; provider = \"github\"; secrets = \"only\"; },\n"
        " { name = \"env\"; provider = \"github\"; secrets = [ \"${CM_T_UNSET:-}\", \"o\" ]; },\n"
        " { name = \"none\"; provider = \"github\"; secrets = [ \"${CM_T_EMPTY}\" ]; },\n"
        " { name = \"files\"; provider = \"github\";\n"
        "   secret_file = [ \"%s/valid/secrets/dc-eu.secret\", \"gh.old\" ]; },\n"
        " { name = \"unset\"; provider = \"github\"; } );\n",
        FIXTURES);
    snprintf(path, sizeof(path), "%s/00.conf", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    ck_assert_msg(cm_config_load(&cfg, dir, err, sizeof(err)) == CM_OK, "%s", err);
    ep = cm_config_endpoint(cfg, "one");
    ck_assert_uint_eq(ep->n_secrets, 1);
    ck_assert_str_eq(ep->secret, "s");
    ck_assert_ptr_eq(ep->secret, ep->secrets[0]);
    ep = cm_config_endpoint(cfg, "two");
    ck_assert_uint_eq(ep->n_secrets, 2);
    ck_assert_str_eq(ep->secrets[0], "new");
    ck_assert_str_eq(ep->secrets[1], "old");
    ck_assert_str_eq(ep->secret, "new"); /* what conf_secret gives a 1.0 or 1.1 provider */
    ep = cm_config_endpoint(cfg, "str");
    ck_assert_uint_eq(ep->n_secrets, 1);
    ck_assert_str_eq(ep->secret, "only");
    ep = cm_config_endpoint(cfg, "env"); /* an empty value is dropped, as secret = "" */
    ck_assert_uint_eq(ep->n_secrets, 1);
    ck_assert_str_eq(ep->secret, "o");
    ep = cm_config_endpoint(cfg, "none");
    ck_assert_uint_eq(ep->n_secrets, 0);
    ck_assert_ptr_null(ep->secret);
    ep = cm_config_endpoint(cfg, "files"); /* relative to the conf directory */
    ck_assert_uint_eq(ep->n_secrets, 2);
    ck_assert_str_eq(ep->secrets[0], "s3cret");
    ck_assert_str_eq(ep->secrets[1], "old-from-file");
    ep = cm_config_endpoint(cfg, "unset");
    ck_assert_uint_eq(ep->n_secrets, 0);
    ck_assert_ptr_null(ep->secret);
    cm_config_free(cfg);
    snprintf(text, sizeof(text), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(text), 0);
}
END_TEST

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("expand");

    tcase_add_loop_test(tc, test_expand, 0, NELEM(expand_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("address");
    tcase_add_loop_test(tc, test_cidr_parse, 0, NELEM(cidr_cases));
    tcase_add_loop_test(tc, test_cidr_match, 0, NELEM(match_cases));
    tcase_add_test(tc, test_cidr_match_edge);
    tcase_add_loop_test(tc, test_listen, 0, NELEM(listen_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("load");
    tcase_add_loop_test(tc, test_errors, 0, NELEM(error_cases));
    tcase_add_test(tc, test_trusted_proxies);
    tcase_add_loop_test(tc, test_dir_errors, 0, NELEM(dir_error_cases));
    tcase_add_test(tc, test_empty_dir);
    tcase_add_test(tc, test_valid_dir);
    tcase_add_test(tc, test_refine);
    tcase_add_test(tc, test_exposure_keys);
    tcase_add_test(tc, test_text_defaults);
    tcase_add_loop_test(tc, test_glob_match, 0, NELEM(glob_cases));
    tcase_add_test(tc, test_repositories_loaded);
    tcase_add_test(tc, test_shipped);
    tcase_add_test(tc, test_ssl_ca_file);
    tcase_add_test(tc, test_secrets);
    tcase_add_loop_test(tc, test_declared_keys, 0, NELEM(key_cases));
    tcase_add_test(tc, test_declared_sync_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
