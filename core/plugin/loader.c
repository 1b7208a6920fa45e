/* SPDX-License-Identifier: MIT */
/*
 * The plugin loader. Modules are opened RTLD_NOW | RTLD_LOCAL so a missing symbol fails at
 * load and plugins cannot see each other; the descriptor is validated before any of its hooks
 * is called, and modules stay loaded until exit so no pointer into them ever dangles.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cargoman/plugin.h"
#include "plugin/loader.h"
#include "plugin/route.h"

struct loaded {
    enum cm_plugin_kind kind;
    char name[128];
    void *handle;
    const void *descriptor;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loaded registry[256];
static size_t n_registry;

void cm_loader_kind_dir(const char *plugin_dir, enum cm_plugin_kind kind, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", plugin_dir, kind == CM_KIND_PROVIDER ? "providers" : "plugins");
}

/* The common head of both descriptor types. */
struct head {
    uint32_t abi_version;
    const char *name, *version, *description;
};

static int check_head(const struct head *h, const char *expected, const char *path, char *err,
                      size_t errlen)
{
    uint32_t major = CM_ABI_VERSION_MAJOR(h->abi_version);
    uint32_t minor = CM_ABI_VERSION_MINOR(h->abi_version);
    if (major != CM_ABI_MAJOR) {
        snprintf(err, errlen,
                 "%s: plugin ABI %u.%u, this gateway speaks %u.%u: rebuild it "
                 "against this gateway's cargoman/plugin.h",
                 path, major, minor, CM_ABI_MAJOR, CM_ABI_MINOR);
        return CM_EINVAL;
    }
    if (minor > CM_ABI_MINOR) {
        snprintf(err, errlen,
                 "%s: plugin needs ABI %u.%u, newer than this gateway's %u.%u: "
                 "upgrade the gateway",
                 path, major, minor, CM_ABI_MAJOR, CM_ABI_MINOR);
        return CM_EINVAL;
    }
    if (!h->name || !h->version || !h->description) {
        snprintf(err, errlen, "%s: descriptor lacks name, version or description", path);
        return CM_EINVAL;
    }
    if (strcmp(h->name, expected)) {
        snprintf(err, errlen, "%s: descriptor names itself \"%s\", not \"%s\" like its file", path,
                 h->name, expected);
        return CM_EINVAL;
    }
    return CM_OK;
}

static int check_hooks(const void *d, enum cm_plugin_kind kind, const char *path, char *err,
                       size_t errlen)
{
    const char *missing = NULL;
    if (kind == CM_KIND_PROVIDER) {
        const struct cm_provider *p = d;
        missing = !p->create      ? "create"
                  : !p->destroy   ? "destroy"
                  : !p->verify    ? "verify"
                  : !p->translate ? "translate"
                                  : NULL;
    } else {
        const struct cm_sync_plugin *s = d;
        missing = !s->create ? "create" : !s->destroy ? "destroy" : !s->on_sync ? "on_sync" : NULL;
        if (!missing)
            return cm_route_check(s, path, err, errlen);
    }
    if (missing) {
        snprintf(err, errlen, "%s: mandatory hook \"%s\" is NULL", path, missing);
        return CM_EINVAL;
    }
    return CM_OK;
}

static void base_name(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    size_t n = strlen(b);
    if (n > 3 && !strcmp(b + n - 3, ".so"))
        n -= 3;
    if (n >= len)
        n = len - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

static struct loaded *find(enum cm_plugin_kind kind, const char *name)
{
    for (size_t i = 0; i < n_registry; i++)
        if (registry[i].kind == kind && !strcmp(registry[i].name, name))
            return &registry[i];
    return NULL;
}

int cm_loader_load_file(const char *path, enum cm_plugin_kind kind, const void **out, char *err,
                        size_t errlen)
{
    char name[128];
    const char *sym = kind == CM_KIND_PROVIDER ? CM_PROVIDER_SYMBOL : CM_SYNC_PLUGIN_SYMBOL;
    void *handle = NULL;
    const void *d;
    int rc = CM_EINVAL;

    base_name(path, name, sizeof(name));
    pthread_mutex_lock(&registry_lock);
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
        goto out;
    }
    struct loaded *seen = find(kind, name);
    if (seen && seen->handle == handle) {
        *out = seen->descriptor;
        rc = CM_OK;
        goto out; /* dlopen's reference count keeps it as loaded as before */
    }
    if (seen) {
        snprintf(err, errlen, "%s: a %s named \"%s\" is already loaded from another file", path,
                 kind == CM_KIND_PROVIDER ? "provider" : "sync plugin", name);
        goto out; /* refused, and never dlclose()d: its constructors may have run */
    }
    d = dlsym(handle, sym);
    if (!d) {
        snprintf(err, errlen, "%s: does not export \"%s\": is it a %s?", path, sym,
                 kind == CM_KIND_PROVIDER ? "provider" : "sync plugin");
        goto out;
    }
    if ((rc = check_head(d, name, path, err, errlen)) != CM_OK ||
        (rc = check_hooks(d, kind, path, err, errlen)) != CM_OK)
        goto out;
    if (n_registry == sizeof(registry) / sizeof(registry[0])) {
        snprintf(err, errlen, "%s: too many plugins loaded", path);
        rc = CM_EINVAL;
        goto out;
    }
    struct loaded *l = &registry[n_registry++];
    l->kind = kind;
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->handle = handle;
    l->descriptor = d;
    *out = d;
    rc = CM_OK;
out:
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

int cm_loader_load(const char *plugin_dir, enum cm_plugin_kind kind, const char *name,
                   const void **out, char *err, size_t errlen)
{
    char dir[PATH_MAX - 256], path[PATH_MAX];
    if (!*name || strchr(name, '/') || name[0] == '.') {
        snprintf(err, errlen, "\"%s\" is not a plugin name", name);
        return CM_EINVAL;
    }
    cm_loader_kind_dir(plugin_dir, kind, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/%s.so", dir, name);
    return cm_loader_load_file(path, kind, out, err, errlen);
}

unsigned cm_provider_flags(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 1 ? p->flags : 0;
}

const char *cm_provider_default_url(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 1 ? p->default_url : NULL;
}

const struct cm_conf_key *cm_provider_config_keys(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 2 ? p->config_keys : NULL;
}

const struct cm_conf_key *cm_sync_config_keys(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 2 ? s->config_keys : NULL;
}

cm_start_fn cm_provider_start_hook(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 2 ? p->start : NULL;
}

cm_stop_fn cm_provider_stop_hook(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 2 ? p->stop : NULL;
}

cm_start_fn cm_sync_start_hook(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 2 ? s->start : NULL;
}

cm_stop_fn cm_sync_stop_hook(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 2 ? s->stop : NULL;
}

cm_sign_fn cm_provider_sign(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 2 ? p->sign : NULL;
}
