/* SPDX-License-Identifier: MIT */
/*
 * The daemon's configuration: every conf.d/NN-name.conf read in name order into plain C structs.
 * libconfig stays inside core/config/; the rest of the core and the plugins (through
 * struct cm_section) see only what is declared here.
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

/* One allow_from entry. */
struct cm_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network order; 4 bytes used for AF_INET */
    unsigned prefix;        /* prefix length in bits */
};

/* A group of settings as the user wrote them (an endpoint, a sync entry), kept whole so a
 * plugin can read its own keys. Strings are already ${VAR}-expanded. Opaque. */
struct cm_section;

struct cm_endpoint_conf {
    char *name;        /* URL segment: POST /api/webhooks/<name> */
    char *provider;    /* provider plugin name */
    char *url;         /* the host's base URL, or NULL */
    char *secret;      /* the first of secrets (borrowed from it); NULL when none is set */
    char *clone_url;   /* template with {repository}, or NULL */
    char *ssh_url;     /* ssh://[user@]host[:port] that SSH clone URLs must be on, or NULL */
    char *auth_user;   /* per-endpoint override of git.auth_user, NULL to inherit */
    char *auth_token;  /* per-endpoint override of git.auth_token, NULL to inherit */
    char *ssl_ca_file; /* per-endpoint override of git.ssl_ca_file (absolute), NULL to inherit */
    /* Per-endpoint SSH: ssh_key with its ssh_passphrase replace git.ssh_key and its passphrase
     * together (a passphrase belongs to one key); ssh_known_hosts replaces git.ssh_known_hosts.
     * NULL to inherit. */
    char *ssh_key, *ssh_passphrase, *ssh_known_hosts;
    int allow_unsigned;         /* 1: no secret on purpose, even beyond loopback */
    struct cm_cidr *allow_from; /* NULL/0 when every source is allowed */
    size_t n_allow_from;
    struct cm_section *section; /* every key of the group, for the plugin */
    char *file;                 /* where it was defined, for messages */
    int line;
    long long max_queued;                /* override of server.max_queued_per_endpoint; -1 */
    long long new_repositories_per_hour; /* override of the server's; -1 inherits, 0 no limit */
    /* secret, secrets = [ ... ] or secret_file (one or a list; trailing newline dropped):
     * any one of them verifies a delivery. Empty values are dropped; NULL/0 when none. */
    char **secrets;
    size_t n_secrets;
    /* repositories = [ ... ]: the names or patterns this endpoint queues (util/path_glob.h),
     * each checked at load; NULL/0 when every repository is accepted */
    char **repositories;
    size_t n_repositories;
    long long reconcile_interval; /* override of server.reconcile_interval; -1 inherits */
};

struct cm_sync_conf {
    char *plugin;               /* sync plugin name */
    struct cm_section *section; /* every key of the entry */
    /* The access policy of the routes the plugin serves: tokens = [ "user:token", ... ]
     * (HTTP basic, or Bearer with the part after ':'); public = true lets them be read
     * without tokens beyond loopback. */
    char **tokens;
    size_t n_tokens;
    int public_routes;
    int no_routes; /* routes = false: the entry serves none of its plugin's routes here */
    char *file;
    int line;
    char *name; /* instance name, unique per plugin: the `name` key, else the plugin's own for
                 * the plugin's first unnamed entry, else its ordinal among them ("2"...) */
};

/* An endpoint or sync entry switched off by enabled = false: left out of struct cm_config's
 * lists (never loaded, never served), kept so `cargoman check` can say where. */
struct cm_disabled_conf {
    char *what; /* as messages name it: `endpoint "gitlab"`, `sync entry exec "2"` */
    char *file; /* where enabled = false was set */
    int line;
};

struct cm_config {
    char *dir; /* the conf.d it was read from, or a name for text configs */
    /* server = { ... } */
    char *listen;             /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080" */
    char *data_dir;           /* "var" */
    long long max_body;       /* bytes, default 1048576 */
    int workers;              /* default 4 */
    int max_connections;      /* default 256 */
    int connection_timeout;   /* seconds, default 30 */
    long long sync_max_age;   /* seconds a failing sync is retried before it is given up, 86400 */
    long long dedupe_max_age; /* seconds a delivery id is remembered, default 259200 (3 days) */

    /* server = { ... }: the operator routes and slow clients */
    char *admin_token; /* Bearer token of /metrics and /api/ (not webhooks); NULL when empty:
                        * those routes then answer loopback clients only */
    int max_connections_per_ip; /* from one address (IPv6: a /64), default 32; 0 = no limit */
    int request_timeout;        /* seconds from accept to a whole request, default 30 */
    /* server.trusted_proxies = [ CIDR, ... ]: the proxies whose X-Forwarded-For names the
     * client (http/forwarded.h); NULL/0: none, the peer's address is the client's */
    struct cm_cidr *trusted_proxies;
    size_t n_trusted_proxies;

    /* Limits against floods: entries not yet synced, in all (100000) and per endpoint (10000;
     * an endpoint's max_queued wins); new repositories per endpoint and hour (100, 0: no
     * limit); changes an event lists before it is incomplete (1000); seconds a first clone
     * the host answers "not found" is retried (600). */
    long long max_queued, max_queued_per_endpoint, new_repositories_per_hour;
    long long max_refs_per_event, missing_repository_max_age, gone_repository_max_age;
    int stop_timeout; /* seconds SIGTERM waits for requests in flight, default 10 */
    /* /healthz answers 503 once the oldest due job is older than this, in seconds (3600). */
    long long healthz_max_due_age;
    /* Reconciliation (sync/reconcile.h): seconds between two ls-remote of a mirror (600, 0:
     * off), ls-remote at once per git host (2), milliseconds between two starts on one host
     * (500). */
    long long reconcile_interval;
    int reconcile_per_host, reconcile_spacing_ms;
    int http_threads;     /* threads answering HTTP; each waits out its request's fdatasync */
    int sync_coalesce_ms; /* a repository's rest after a sync, merging the webhooks meanwhile */
    /* The delivery log (fixed at start): seconds a record is kept (30 days) and records at most
     * (20000); seconds a raw payload is kept (7 days) and bytes of all payloads (256 MiB). */
    long long delivery_log_max_age, delivery_log_max_entries;
    long long payload_retention, payload_max_bytes;
    /* queue = { ... }: where accepted events wait for their sync. backend "spool" (the
     * default: data_dir/spool, one machine) or "postgresql" (shared by several gateways, at
     * conninfo, a libpq URI or key=value string, NULL when empty); this node's connections
     * (8), a claim's lease (30 s), the longest wait for one statement (5000 ms). */
    char *queue_backend, *queue_conninfo;
    int queue_connections, queue_lease_seconds, queue_timeout_ms;
    /* git = { ... } */
    char *auth_user, *auth_token;   /* NULL when empty */
    char *ssh_key, *ssh_passphrase; /* NULL when empty */
    char *ssh_known_hosts;          /* NULL when empty */
    char *ssl_ca_file;              /* PEM CA bundle trusted besides the system's: an absolute
                                     * path (a relative one is resolved against dir at load),
                                     * NULL when empty */
    long long max_blob_size;        /* largest file a mirror read or dist zip loads, bytes;
                                     * default 104857600 (100 MiB) */
    int git_timeout;                /* seconds a fetch may see no progress, default 120; read
                                     * at start only (libgit2's socket timeout is process-wide) */
    /* server.plugin_path = [ "/abs/dir", ... ]: plugin directories searched after -P and
     * CARGOMAN_PLUGIN_PATH, before the built-in one (plugin/loader.h) */
    char **plugin_path;
    size_t n_plugin_path;
    /* endpoint = {...} / endpoints = ( {...}, ... ), across all files */
    struct cm_endpoint_conf *endpoints;
    size_t n_endpoints;
    /* sync = ( {...}, ... ), across all files, in order */
    struct cm_sync_conf *syncs;
    size_t n_syncs;
    /* enabled = false: the entries left out of endpoints and syncs, in the order defined */
    struct cm_disabled_conf *disabled;
    size_t n_disabled;
};

/* Read every dir/NN-name.conf in name order into *out (the caller's, freed with cm_config_free).
 * On failure returns CM_EINVAL (or CM_ENOMEM) and writes one line to err, naming the file
 * and line and what to change, e.g. `conf.d/20-github.conf:7: endpoint "github": ...`. */
int cm_config_load(struct cm_config **out, const char *dir, char *err, size_t errlen);

/* The same from one text in libconfig syntax; name stands for the file in messages. */
int cm_config_load_text(struct cm_config **out, const char *name, const char *text, char *err,
                        size_t errlen);

void cm_config_free(struct cm_config *cfg);

/* The NAME.dist files in dir, sorted, into *out (the caller's: free each name, then the
 * array): the shipped versions `make install` put beside the files an operator changed, which
 * are never loaded. CM_OK, CM_EINVAL when dir cannot be read, CM_ENOMEM. */
int cm_config_list_dist(const char *dir, char ***out, size_t *n);

/* The endpoint called name, or NULL. Borrowed from cfg. */
const struct cm_endpoint_conf *cm_config_endpoint(const struct cm_config *cfg, const char *name);

/* Section lookups, for struct cm_host's conf_* services. CM_OK; CM_ENOENT when the key is
 * absent; CM_EINVAL when it has another type. Returned strings are borrowed from the section. */
int cm_section_string(const struct cm_section *s, const char *key, const char **out);
int cm_section_int(const struct cm_section *s, const char *key, long long *out);
int cm_section_bool(const struct cm_section *s, const char *key, int *out);
int cm_section_list(const struct cm_section *s, const char *key, size_t index, const char **out);
/* The i-th key of s and the file and line that set it (a later file's refinement included):
 * CM_OK, or CM_ENOENT past the last key. All three are borrowed from s. */
int cm_section_origin(const struct cm_section *s, size_t i, const char **key, const char **file,
                      int *line);

/* The keys the core reads from every endpoint and every sync entry, NULL-terminated. A key
 * the core starts reading from an endpoint or a sync entry is added here. */
/* Edit distance of two short keys, 99 for keys of 40 characters or more: "did you mean"
 * wants only a near one. */
size_t cm_config_key_distance(const char *a, const char *b);

extern const char *const cm_config_endpoint_keys[];
extern const char *const cm_config_sync_keys[];

struct cm_conf_key;

/* Check that every key of s is one of core's (NULL-terminated) or one of declared (a plugin's
 * config keys, ended by a NULL name; NULL: not declared, nothing checked) with its declared
 * type. what names the entry and its plugin in the message: `endpoint "gh" (provider github)`.
 * CM_OK, or CM_EINVAL with one line in err: file:line, the key, the closest known key when
 * one is near, and the keys known there. */
int cm_section_check_keys(const struct cm_section *s, const char *const *core,
                          const struct cm_conf_key *declared, const char *what, char *err,
                          size_t errlen);

/* Expand ${VAR} and ${VAR:-default} in in from the environment into *out (malloc'd).
 * CM_EINVAL with a message in err naming the variable when one is unset without default. */
int cm_expand_env(const char *in, char **out, char *err, size_t errlen);

/* Parse "10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1". CM_OK or CM_EINVAL. */
int cm_cidr_parse(const char *text, struct cm_cidr *out);

/* 1 when addr (AF_INET, AF_INET6, or v4-mapped v6) is inside one of the n entries, else 0. */
int cm_cidr_match(const struct cm_cidr *list, size_t n, const struct sockaddr *addr);

/* 1 when addr is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104; else 0
 * (also for NULL and for families other than AF_INET and AF_INET6). */
int cm_cidr_is_loopback(const struct sockaddr *addr);

/* Split a listen address ("127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080") into its IP
 * literal (brackets dropped) and port, as server.listen accepts them. CM_OK, or CM_EINVAL
 * when it is not an IPv4 literal or a bracketed IPv6 literal, a colon and a port 1..65535,
 * or host does not fit in hostlen. */
int cm_config_split_listen(const char *listen, char *host, size_t hostlen, unsigned *port);

/* 1 when listen (as server.listen accepts it) binds only loopback: 127.0.0.0/8 or ::1. */
int cm_config_listen_is_loopback(const char *listen);

#endif
