/* SPDX-License-Identifier: MIT */
/*
 * Loading plugin modules with dlopen and checking their descriptors before using them.
 */
#ifndef CM_LOADER_H
#define CM_LOADER_H

#include <stddef.h>

#include "cargoman/plugin.h"

enum cm_plugin_kind { CM_KIND_PROVIDER, CM_KIND_SYNC };

/* Load plugin_dir/providers/<name>.so (or plugins/<name>.so) and check its descriptor: ABI
 * major equal, minor not newer than ours, mandatory hooks set, name equal to the file's,
 * not a second module of that name. A module already loaded is returned again. *out is a
 * struct cm_provider or struct cm_sync_plugin, valid until exit (modules are never unloaded).
 * On refusal: CM_EINVAL and one line in err naming the file and the reason. */
int cm_loader_load(const char *plugin_dir, enum cm_plugin_kind kind, const char *name,
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
/* A provider's sign hook (@since 1.2); NULL when it has none or was built before 1.2. */
typedef int (*cm_sign_fn)(const struct cm_host *host, struct cm_request *req, const char *secret,
                          const char *id, long long timestamp, cm_header_cb emit, void *arg);
cm_sign_fn cm_provider_sign(const struct cm_provider *p);

/* The directory of one kind under plugin_dir, into buf. */
void cm_loader_kind_dir(const char *plugin_dir, enum cm_plugin_kind kind, char *buf, size_t len);

#endif
