/* SPDX-License-Identifier: MIT */
/*
 * Loading plugin modules with dlopen and checking their descriptors before using them.
 */
#ifndef CM_LOADER_H
#define CM_LOADER_H

#include <limits.h>
#include <stddef.h>

#include "cargoman/plugin.h"

enum cm_plugin_kind { CM_KIND_PROVIDER, CM_KIND_SYNC };

/* The plugin path: directories joined with ':' like PATH, each holding providers/ and
 * plugins/. Searched in order: -P, CARGOMAN_PLUGIN_PATH, server.plugin_path, then the
 * built-in CM_PLUGIN_DIR (before an install, for the cargoman binary of a build tree only,
 * that tree's modules/ instead); a name found in two added directories is an error, so their order
 * never decides which module runs. The built-in directory is the fallback: a module in an
 * added directory shadows the built-in one of that name. */
#define CM_PLUGIN_PATH_LEN 8192
#define CM_PLUGIN_PATH_DIRS 32

/* CM_OK when dir can join the plugin path: an existing directory without ':'. Else
 * CM_EINVAL and one line in err that starts with origin ("-P", "server.plugin_path"...). */
int cm_loader_check_dir(const char *dir, const char *origin, char *err, size_t errlen);

/* Append dir (checked as above) to the plugin path in path (len bytes, NUL-terminated). */
int cm_loader_path_add(char *path, size_t len, const char *dir, const char *origin, char *err,
                       size_t errlen);

/* Append each directory of a ':'-separated list (CARGOMAN_PLUGIN_PATH); empty ones skipped. */
int cm_loader_path_add_list(char *path, size_t len, const char *list, const char *origin, char *err,
                            size_t errlen);

/* The whole search path into out: base (from the command line and the environment), the
 * n_conf directories of server.plugin_path, and the built-in directory when it exists. */
int cm_loader_search_path(char *out, size_t len, const char *base, char *const *conf_dirs,
                          size_t n_conf, char *err, size_t errlen);

/* Split path into at most max directories, a directory named twice kept once; the count. */
size_t cm_loader_path_dirs(const char *path, char dirs[][PATH_MAX], size_t max);

/* The file of plugin name along search_path into out. CM_EINVAL with err naming every
 * directory searched when none has it, or both files when two have it. */
int cm_loader_find(const char *search_path, enum cm_plugin_kind kind, const char *name, char *out,
                   size_t outlen, char *err, size_t errlen);

/* Find name along search_path (above) and check its descriptor: ABI major equal, minor not
 * newer than ours, mandatory hooks set, name equal to the file's, not a second module of
 * that name. A module already loaded is returned again. *out is a struct cm_provider or
 * struct cm_sync_plugin, valid until exit (modules are never unloaded).
 * On refusal: CM_EINVAL and one line in err naming the file and the reason. */
int cm_loader_load(const char *search_path, enum cm_plugin_kind kind, const char *name,
                   const void **out, char *err, size_t errlen);

/* The same for an explicit file; the expected name is the file's base name without ".so". */
int cm_loader_load_file(const char *path, enum cm_plugin_kind kind, const void **out, char *err,
                        size_t errlen);

struct cm_provider;

/* A provider's flags and default_url (@since 1.1); 0 and NULL for a module built against 1.0,
 * whose descriptor ends before those fields. */
unsigned cm_provider_flags(const struct cm_provider *p);
const char *cm_provider_default_url(const struct cm_provider *p);

struct cm_sync_plugin;
struct cm_conf_key;

/* The config keys a provider or sync plugin declares (@since 1.2); NULL when it declares
 * none, as every module built against 1.0 or 1.1, whose descriptor ends before the field. */
const struct cm_conf_key *cm_provider_config_keys(const struct cm_provider *p);
const struct cm_conf_key *cm_sync_config_keys(const struct cm_sync_plugin *s);
typedef int (*cm_start_fn)(void *self);
typedef void (*cm_stop_fn)(void *self);

/* The optional start and stop hooks (@since 1.2), or NULL: also for a module built against
 * 1.0 or 1.1, whose descriptor ends before them. */
cm_start_fn cm_provider_start_hook(const struct cm_provider *p);
cm_stop_fn cm_provider_stop_hook(const struct cm_provider *p);
cm_start_fn cm_sync_start_hook(const struct cm_sync_plugin *s);
cm_stop_fn cm_sync_stop_hook(const struct cm_sync_plugin *s);
/* The 1.3 members of a sync plugin (NULL for an older plugin): what it keeps per node, and
 * its hook for files the cluster replaced. */
typedef void (*cm_state_changed_fn)(void *self, const char *path);
const char *const *cm_sync_node_local(const struct cm_sync_plugin *s);
cm_state_changed_fn cm_sync_state_changed_hook(const struct cm_sync_plugin *s);
/* The 1.4 members of a sync plugin (NULL and 0 for an older plugin): its operator routes and
 * its CM_SYNC_* flags. */
const struct cm_route *cm_sync_admin_routes(const struct cm_sync_plugin *s);
uint32_t cm_sync_flags(const struct cm_sync_plugin *s);
/* A provider's sign hook (@since 1.2); NULL when it has none or was built before 1.2. */
typedef int (*cm_sign_fn)(const struct cm_host *host, struct cm_request *req, const char *secret,
                          const char *id, long long timestamp, cm_header_cb emit, void *arg);
cm_sign_fn cm_provider_sign(const struct cm_provider *p);
/* A provider's clone_path (@since 1.2); NULL when it has none or was built before 1.2. */
const char *cm_provider_clone_path(const struct cm_provider *p);

/* 1 when on_sync's rc means "never, for this event" (CM_EINVAL from a plugin of minor >= 2),
 * so the sync is given up rather than retried; 0 for a retry. */
int cm_sync_gives_up(const struct cm_sync_plugin *s, int rc);

/* The directory of one kind under plugin_dir, into buf. */
void cm_loader_kind_dir(const char *plugin_dir, enum cm_plugin_kind kind, char *buf, size_t len);

#endif
