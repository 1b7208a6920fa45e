/* SPDX-License-Identifier: MIT */
/*
 * The plugin loader. Modules are opened RTLD_NOW | RTLD_LOCAL so a missing symbol fails at
 * load and plugins cannot see each other; the descriptor is validated before any of its hooks
 * is called, and modules stay loaded until exit so no pointer into them ever dangles.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---- the plugin path ---- */

static const char *kind_noun(enum cm_plugin_kind kind)
{
    return kind == CM_KIND_PROVIDER ? "provider" : "sync plugin";
}

int cm_loader_check_dir(const char *dir, const char *origin, char *err, size_t errlen)
{
    struct stat st;
    if (!*dir) {
        snprintf(err, errlen, "%s: an empty plugin directory name", origin);
        return CM_EINVAL;
    }
    if (strchr(dir, ':')) {
        snprintf(err, errlen,
                 "%s %s: a plugin directory may not contain ':', which separates "
                 "the directories of the plugin path",
                 origin, dir);
        return CM_EINVAL;
    }
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen,
                 "%s %s: %s: give an existing directory holding providers/ or "
                 "plugins/",
                 origin, dir, strerror(errno));
        return CM_EINVAL;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a directory: give one holding providers/ or plugins/",
                 origin, dir);
        return CM_EINVAL;
    }
    return CM_OK;
}

int cm_loader_path_add(char *path, size_t len, const char *dir, const char *origin, char *err,
                       size_t errlen)
{
    size_t used = strlen(path), n = strlen(dir), dirs = used > 0;
    int rc = cm_loader_check_dir(dir, origin, err, errlen);
    if (rc != CM_OK)
        return rc;
    for (const char *p = path; (p = strchr(p, ':')); p++)
        dirs++;
    /* cm_loader_path_dirs reads no more: one past them would be dropped without a word. */
    if (dirs >= CM_PLUGIN_PATH_DIRS) {
        snprintf(err, errlen, "%s %s: the plugin path would have more than %d directories", origin,
                 dir, CM_PLUGIN_PATH_DIRS);
        return CM_EINVAL;
    }
    if (used + (used > 0) + n + 1 > len) {
        snprintf(err, errlen, "%s %s: the plugin path is longer than %zu bytes", origin, dir,
                 len - 1);
        return CM_EINVAL;
    }
    if (used)
        path[used++] = ':';
    memcpy(path + used, dir, n + 1);
    return CM_OK;
}

int cm_loader_path_add_list(char *path, size_t len, const char *list, const char *origin, char *err,
                            size_t errlen)
{
    char dir[PATH_MAX];
    const char *p = list;
    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n >= sizeof(dir)) {
            snprintf(err, errlen, "%s: a directory longer than %zu bytes", origin, sizeof(dir));
            return CM_EINVAL;
        }
        memcpy(dir, p, n);
        dir[n] = '\0';
        /* Empty elements ("a::b", a trailing ':') are skipped, as a shell's PATH edits leave. */
        int rc = n ? cm_loader_path_add(path, len, dir, origin, err, errlen) : CM_OK;
        if (rc != CM_OK)
            return rc;
        p = colon ? colon + 1 : NULL;
    }
    return CM_OK;
}

/* The built-in directory: CM_PLUGIN_DIR once installed. Before that, a cargoman run from the
 * build tree it was built in uses that tree's modules, so `_build/cargoman check` needs no -P;
 * any other binary (an installed one, a test program) never does, whatever the tree holds.
 * NULL when there is none. */
static const char *ld_builtin(void)
{
    char self[PATH_MAX], built[PATH_MAX];
    struct stat st;

    if (stat(CM_PLUGIN_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return CM_PLUGIN_DIR;
#ifdef CM_BUILD_DIR
    if (realpath("/proc/self/exe", self) && realpath(CM_BUILD_DIR "/cargoman", built) &&
        !strcmp(self, built) && stat(CM_BUILD_DIR "/modules", &st) == 0 && S_ISDIR(st.st_mode))
        return CM_BUILD_DIR "/modules";
#endif
    return NULL;
}

int cm_loader_search_path(char *out, size_t len, const char *base, char *const *conf_dirs,
                          size_t n_conf, char *err, size_t errlen)
{
    const char *builtin = ld_builtin();
    if (strlen(base) >= len) {
        snprintf(err, errlen, "the plugin path is longer than %zu bytes", len - 1);
        return CM_EINVAL;
    }
    snprintf(out, len, "%s", base);
    for (size_t i = 0; i < n_conf; i++) {
        int rc = cm_loader_path_add(out, len, conf_dirs[i], "server.plugin_path", err, errlen);
        if (rc != CM_OK)
            return rc;
    }
    /* Last, and only when installed (or run from its build tree: ld_builtin). */
    if (builtin)
        return cm_loader_path_add(out, len, builtin, "built-in", err, errlen);
    return CM_OK;
}

size_t cm_loader_path_dirs(const char *path, char dirs[][PATH_MAX], size_t max)
{
    struct stat seen[CM_PLUGIN_PATH_DIRS], st;
    size_t n = 0;
    const char *p = path;
    while (p && *p && n < max && n < CM_PLUGIN_PATH_DIRS) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len && len < PATH_MAX) {
            memcpy(dirs[n], p, len);
            dirs[n][len] = '\0';
            /* One directory named twice (-P of the built-in one) is searched once, or every
             * plugin in it would be its own duplicate. */
            int again = 0;
            if (stat(dirs[n], &st) == 0)
                for (size_t i = 0; i < n && !again; i++)
                    again = seen[i].st_dev == st.st_dev && seen[i].st_ino == st.st_ino;
            else
                st.st_dev = 0, st.st_ino = 0;
            if (!again)
                seen[n++] = st;
        }
        p = colon ? colon + 1 : NULL;
    }
    return n;
}

/* Add s to buf (len bytes), cut where it fills: only a message is made with it. */
static void append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf), n = strlen(s);
    if (used + 1 >= len)
        return;
    if (n > len - used - 1)
        n = len - used - 1;
    memcpy(buf + used, s, n);
    buf[used + n] = '\0';
}

int cm_loader_find(const char *search_path, enum cm_plugin_kind kind, const char *name, char *out,
                   size_t outlen, char *err, size_t errlen)
{
    static char dirs[CM_PLUGIN_PATH_DIRS][PATH_MAX];
    char dir[PATH_MAX], path[PATH_MAX + 256], searched[2048] = "";
    struct stat st;
    size_t n;
    const char *builtin = ld_builtin();
    int found = 0;

    if (!*name || strchr(name, '/') || name[0] == '.') {
        snprintf(err, errlen, "\"%s\" is not a plugin name", name);
        return CM_EINVAL;
    }
    pthread_mutex_lock(&registry_lock); /* dirs is shared: paths are long */
    n = cm_loader_path_dirs(search_path, dirs, CM_PLUGIN_PATH_DIRS);
    for (size_t i = 0; i < n; i++) {
        cm_loader_kind_dir(dirs[i], kind, dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/%s.so", dir, name);
        if (i)
            append(searched, sizeof(searched), ", ");
        append(searched, sizeof(searched), dir);
        if (stat(path, &st) != 0)
            continue;
        /* The built-in directory is the fallback: a directory added on purpose shadows it (a
         * build tree under test beside an installed copy, a newer build of a bundled plugin). */
        if (found && builtin && !strcmp(dirs[i], builtin))
            continue;
        if (found) {
            snprintf(err, errlen,
                     "%s \"%s\" is both %s and %s: plugin names must be unique "
                     "along the plugin path; remove one",
                     kind_noun(kind), name, out, path);
            pthread_mutex_unlock(&registry_lock);
            return CM_EINVAL;
        }
        found = 1;
        snprintf(out, outlen, "%s", path);
    }
    pthread_mutex_unlock(&registry_lock);
    if (!found) {
        snprintf(err, errlen,
                 "no %s.so in %s: add its directory with -P, CARGOMAN_PLUGIN_PATH "
                 "or server.plugin_path",
                 name, n ? searched : "(an empty plugin path)");
        return CM_EINVAL;
    }
    return CM_OK;
}

int cm_loader_load(const char *search_path, enum cm_plugin_kind kind, const char *name,
                   const void **out, char *err, size_t errlen)
{
    char path[PATH_MAX + 256];
    int rc = cm_loader_find(search_path, kind, name, path, sizeof(path), err, errlen);
    return rc == CM_OK ? cm_loader_load_file(path, kind, out, err, errlen) : rc;
}

int cm_sync_gives_up(const struct cm_sync_plugin *s, int rc)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 2 && rc == CM_EINVAL;
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

const char *cm_provider_clone_path(const struct cm_provider *p)
{
    return CM_ABI_VERSION_MINOR(p->abi_version) >= 2 ? p->clone_path : NULL;
}

const char *const *cm_sync_node_local(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 3 ? s->node_local : NULL;
}

cm_state_changed_fn cm_sync_state_changed_hook(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 3 ? s->state_changed : NULL;
}

const struct cm_route *cm_sync_admin_routes(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 4 ? s->admin_routes : NULL;
}

uint32_t cm_sync_flags(const struct cm_sync_plugin *s)
{
    return CM_ABI_VERSION_MINOR(s->abi_version) >= 4 ? s->flags : 0;
}
