/* SPDX-License-Identifier: MIT */
/*
 * The fake host behind the composer plugin's tests (see composer_fake_host.h). Everything is
 * kept in small fixed tables guarded by one mutex, since the plugin may call from two threads.
 */
#include "composer_fake_host.h"
#include "util/crypto.h"
#include "util/fsutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_MAX 128

struct cm_ctx {
    char *state_dir;
    char *base_url;
    int base_url_bad;
    char *packages[FAKE_MAX]; /* NULL-terminated */
    int packages_scalar;      /* 1: packages[0] is a string value, or a number when NULL */
    char last_warn[1024];
    char last_info[1024];
};

struct fake_ref {
    char *ref;
    char commit[41];
    char *note;
};

struct fake_file {
    char commit[41];
    char *path;
    char *content;
};

struct cm_mirror {
    char *endpoint, *repository, *url, *default_branch;
    int is_new;
    struct fake_ref refs[FAKE_MAX];
    size_t n_refs;
    struct fake_file files[FAKE_MAX];
    size_t n_files;
    int reads, archives;
    int archive_fails;
    size_t max_blob;
    void (*on_archive)(void *arg);
    void *on_archive_arg;
};

struct fake_change {
    char *ref, *old_id, *new_id;
};

struct cm_event {
    int complete;
    struct fake_change changes[FAKE_MAX];
    size_t n;
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

static char *fake_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char fake_ids[64][41];
static pthread_once_t fake_ids_once = PTHREAD_ONCE_INIT;

static void fake_ids_init(void)
{
    for (int i = 0; i < 64; i++)
        snprintf(fake_ids[i], sizeof(fake_ids[i]), "%02x%038x", i + 0xa0, (unsigned)i * 7919u);
}

const char *fake_id(int n)
{
    pthread_once(&fake_ids_once, fake_ids_init);
    return fake_ids[n & 63];
}

static void fake_log(struct cm_ctx *ctx, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fake_lock);
    snprintf(level <= CM_LOG_WARNING ? ctx->last_warn : ctx->last_info, sizeof(ctx->last_warn),
             "%s", line);
    pthread_mutex_unlock(&fake_lock);
    if (getenv("FAKE_HOST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", level, line);
}

static int fake_conf_list(struct cm_ctx *ctx, const char *key, size_t index, const char **out)
{
    if (strcmp(key, "packages") != 0)
        return CM_ENOENT;
    if (ctx->packages_scalar)
        return CM_EINVAL;
    for (size_t i = 0; i < FAKE_MAX && ctx->packages[i]; i++) {
        if (i == index) {
            *out = ctx->packages[i];
            return CM_OK;
        }
    }
    return CM_ENOENT;
}

static int fake_conf_string(struct cm_ctx *ctx, const char *key, const char **out)
{
    if (strcmp(key, "packages") == 0) {
        if (!ctx->packages_scalar)
            return ctx->packages[0] ? CM_EINVAL : CM_ENOENT;
        if (!ctx->packages[0])
            return CM_EINVAL;
        *out = ctx->packages[0];
        return CM_OK;
    }
    if (strcmp(key, "base_url") != 0)
        return CM_ENOENT;
    if (ctx->base_url_bad)
        return CM_EINVAL;
    if (!ctx->base_url)
        return CM_ENOENT;
    *out = ctx->base_url;
    return CM_OK;
}

static int fake_event_complete(const struct cm_event *ev)
{
    return ev->complete;
}

static size_t fake_event_change_count(const struct cm_event *ev)
{
    return ev->n;
}

static const char *fake_event_change_get(const struct cm_event *ev, size_t i,
                                         enum cm_change_field f)
{
    if (i >= ev->n)
        return NULL;
    switch (f) {
    case CM_CHANGE_REF: return ev->changes[i].ref;
    case CM_CHANGE_OLD: return ev->changes[i].old_id;
    case CM_CHANGE_NEW: return ev->changes[i].new_id;
    case CM_CHANGE_KIND:
        return strncmp(ev->changes[i].ref, "refs/tags/", 10) == 0 ? "tag" : "branch";
    case CM_CHANGE_ACTION:
        return !ev->changes[i].old_id ? "create" : !ev->changes[i].new_id ? "delete" : "update";
    default: return NULL;
    }
}

static const char *fake_mirror_get(const struct cm_mirror *m, enum cm_mirror_field f)
{
    switch (f) {
    case CM_MIRROR_PATH: return "/nonexistent/fake.git";
    case CM_MIRROR_URL: return m->url;
    case CM_MIRROR_ENDPOINT: return m->endpoint;
    case CM_MIRROR_REPOSITORY: return m->repository;
    case CM_MIRROR_DEFAULT_BRANCH: return m->default_branch;
    case CM_MIRROR_IS_NEW: return m->is_new ? "true" : "false";
    default: return NULL;
    }
}

static int fake_ref_order(const void *a, const void *b)
{
    return strcmp(((const struct fake_ref *)a)->ref, ((const struct fake_ref *)b)->ref);
}

static int fake_mirror_refs(const struct cm_mirror *m, cm_ref_cb cb, void *arg)
{
    struct fake_ref copy[FAKE_MAX];
    size_t n;
    pthread_mutex_lock(&fake_lock);
    n = m->n_refs;
    memcpy(copy, m->refs, n * sizeof(copy[0]));
    pthread_mutex_unlock(&fake_lock);
    qsort(copy, n, sizeof(copy[0]), fake_ref_order);
    for (size_t i = 0; i < n; i++) {
        int rc = cb(arg, copy[i].ref, copy[i].commit);
        if (rc)
            return rc;
    }
    return CM_OK;
}

static const struct fake_file *fake_find(const struct cm_mirror *m, const char *commit,
                                         const char *path)
{
    for (size_t i = 0; i < m->n_files; i++) {
        if (strcmp(m->files[i].commit, commit) == 0 &&
            (!path || strcmp(m->files[i].path, path) == 0))
            return &m->files[i];
    }
    return NULL;
}

static int fake_mirror_read(const struct cm_mirror *m, const char *commit, const char *path,
                            cm_data_cb cb, void *arg)
{
    const struct fake_file *f;
    pthread_mutex_lock(&fake_lock);
    ((struct cm_mirror *)m)->reads++;
    f = fake_find(m, commit, path);
    pthread_mutex_unlock(&fake_lock);
    if (!f)
        return CM_ENOENT;
    if (m->max_blob && strlen(f->content) > m->max_blob)
        return CM_EINVAL;
    return cb(arg, f->content, strlen(f->content));
}

/* Not a real zip: tests only need a file whose bytes depend on the commit. */
static int fake_mirror_archive(const struct cm_mirror *m, const char *commit, const char *prefix,
                               const char *dest_path)
{
    struct cm_mirror *mm = (struct cm_mirror *)m;
    void (*hook)(void *);
    char tmp[4096], note[512];
    FILE *f;
    pthread_mutex_lock(&fake_lock);
    mm->archives++;
    hook = mm->on_archive;
    mm->on_archive = NULL;
    pthread_mutex_unlock(&fake_lock);
    if (hook)
        hook(mm->on_archive_arg);
    if (m->archive_fails)
        return CM_ERROR;
    pthread_mutex_lock(&fake_lock);
    for (size_t i = 0; m->max_blob && i < m->n_files; i++) {
        const struct fake_file *ff = &m->files[i];
        if (strcmp(ff->commit, commit) != 0 || strlen(ff->content) <= m->max_blob)
            continue;
        snprintf(note, sizeof(note),
                 "dist archive skipped: %s is %zu bytes, over git.max_blob_size (%zu): remove "
                 "the file or raise the limit",
                 ff->path, strlen(ff->content), m->max_blob);
        for (size_t r = 0; r < m->n_refs; r++) {
            if (strcmp(m->refs[r].commit, commit) == 0) {
                free(mm->refs[r].note);
                mm->refs[r].note = fake_dup(note);
            }
        }
        pthread_mutex_unlock(&fake_lock);
        return CM_EINVAL;
    }
    pthread_mutex_unlock(&fake_lock);
    snprintf(tmp, sizeof(tmp), "%s.fake-tmp", dest_path);
    if (!(f = fopen(tmp, "w")))
        return CM_ERROR;
    fprintf(f, "PK fake zip of %s prefix %s\n", commit, prefix ? prefix : "(none)");
    if (fclose(f) != 0 || rename(tmp, dest_path) != 0)
        return CM_ERROR;
    return CM_OK;
}

static int fake_mirror_note_set(const struct cm_mirror *cm, const char *ref, const char *message)
{
    struct cm_mirror *m = (struct cm_mirror *)cm;
    pthread_mutex_lock(&fake_lock);
    for (size_t i = 0; i < m->n_refs; i++) {
        if (strcmp(m->refs[i].ref, ref) == 0) {
            free(m->refs[i].note);
            m->refs[i].note = fake_dup(message);
        }
    }
    pthread_mutex_unlock(&fake_lock);
    return CM_OK;
}

static const char *fake_state_dir(struct cm_ctx *ctx)
{
    return ctx->state_dir;
}

/* The real services behind the SDK's digest and write_file (util/), on the fake state_dir. */
static int fake_write_file(struct cm_ctx *ctx, const char *path, const void *data, size_t len)
{
    if (!cm_fs_path_is_inside(path))
        return CM_EINVAL;
    return cm_fs_write_under(ctx->state_dir, path, data, len, 0644) == 0 ? CM_OK : CM_ERROR;
}

/* A fixed clock: the package_since the plugin records is the same on every run. */
static long long fake_now(void)
{
    return 1700000000;
}

static const struct cm_host fake_table = {
    .abi_version = CM_ABI_VERSION,
    .log = fake_log,
    .conf_string = fake_conf_string,
    .conf_list = fake_conf_list,
    .event_complete = fake_event_complete,
    .event_change_count = fake_event_change_count,
    .event_change_get = fake_event_change_get,
    .mirror_get = fake_mirror_get,
    .mirror_refs = fake_mirror_refs,
    .mirror_read = fake_mirror_read,
    .mirror_archive = fake_mirror_archive,
    .mirror_note = fake_mirror_note_set,
    .state_dir = fake_state_dir,
    .digest = cm_crypto_digest_hex,
    .digest_file = cm_crypto_digest_file_hex,
    .write_file = fake_write_file,
    .now = fake_now,
};

const struct cm_host *fake_host(void)
{
    return &fake_table;
}

struct cm_ctx *fake_ctx_new(const char *state_dir, const char *base_url)
{
    struct cm_ctx *ctx = calloc(1, sizeof(*ctx));
    ctx->state_dir = fake_dup(state_dir);
    ctx->base_url = fake_dup(base_url);
    return ctx;
}

static void fake_ctx_clear_packages(struct cm_ctx *ctx)
{
    for (size_t i = 0; i < FAKE_MAX && ctx->packages[i]; i++) {
        free(ctx->packages[i]);
        ctx->packages[i] = NULL;
    }
    ctx->packages_scalar = 0;
}

void fake_ctx_set_packages(struct cm_ctx *ctx, const char *const *items)
{
    fake_ctx_clear_packages(ctx);
    for (size_t i = 0; i + 1 < FAKE_MAX && items[i]; i++)
        ctx->packages[i] = fake_dup(items[i]);
}

void fake_ctx_set_packages_scalar(struct cm_ctx *ctx, const char *value)
{
    fake_ctx_clear_packages(ctx);
    ctx->packages[0] = fake_dup(value);
    ctx->packages_scalar = 1;
}

void fake_ctx_free(struct cm_ctx *ctx)
{
    fake_ctx_clear_packages(ctx);
    free(ctx->state_dir);
    free(ctx->base_url);
    free(ctx);
}

void fake_ctx_base_url_not_string(struct cm_ctx *ctx)
{
    ctx->base_url_bad = 1;
}

const char *fake_ctx_last_log(struct cm_ctx *ctx, int level)
{
    return level <= CM_LOG_WARNING ? ctx->last_warn : ctx->last_info;
}

struct cm_mirror *fake_mirror_new(const char *endpoint, const char *repository, const char *url,
                                  const char *default_branch)
{
    struct cm_mirror *m = calloc(1, sizeof(*m));
    m->endpoint = fake_dup(endpoint);
    m->repository = fake_dup(repository);
    m->url = fake_dup(url);
    m->default_branch = fake_dup(default_branch);
    return m;
}

void fake_mirror_free(struct cm_mirror *m)
{
    for (size_t i = 0; i < m->n_refs; i++) {
        free(m->refs[i].ref);
        free(m->refs[i].note);
    }
    for (size_t i = 0; i < m->n_files; i++) {
        free(m->files[i].path);
        free(m->files[i].content);
    }
    free(m->endpoint);
    free(m->repository);
    free(m->url);
    free(m->default_branch);
    free(m);
}

void fake_mirror_set_ref(struct cm_mirror *m, const char *ref, const char *commit)
{
    pthread_mutex_lock(&fake_lock);
    for (size_t i = 0; i < m->n_refs; i++) {
        if (strcmp(m->refs[i].ref, ref) != 0)
            continue;
        if (commit) {
            snprintf(m->refs[i].commit, sizeof(m->refs[i].commit), "%s", commit);
        } else {
            free(m->refs[i].ref);
            free(m->refs[i].note);
            m->refs[i] = m->refs[--m->n_refs];
        }
        goto out;
    }
    if (commit && m->n_refs < FAKE_MAX) {
        struct fake_ref *r = &m->refs[m->n_refs++];
        r->ref = fake_dup(ref);
        r->note = NULL;
        snprintf(r->commit, sizeof(r->commit), "%s", commit);
    }
out:
    pthread_mutex_unlock(&fake_lock);
}

void fake_mirror_add_file(struct cm_mirror *m, const char *commit, const char *path,
                          const char *content)
{
    pthread_mutex_lock(&fake_lock);
    if (m->n_files < FAKE_MAX) {
        struct fake_file *f = &m->files[m->n_files++];
        snprintf(f->commit, sizeof(f->commit), "%s", commit);
        f->path = fake_dup(path);
        f->content = fake_dup(content);
    }
    pthread_mutex_unlock(&fake_lock);
}

void fake_mirror_set_new(struct cm_mirror *m, int is_new)
{
    m->is_new = is_new;
}

void fake_mirror_fail_archives(struct cm_mirror *m, int fail)
{
    m->archive_fails = fail;
}

void fake_mirror_set_max_blob(struct cm_mirror *m, size_t max)
{
    m->max_blob = max;
}

void fake_mirror_on_archive(struct cm_mirror *m, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&fake_lock);
    m->on_archive = fn;
    m->on_archive_arg = arg;
    pthread_mutex_unlock(&fake_lock);
}

void fake_mirror_set_default_branch(struct cm_mirror *m, const char *branch)
{
    free(m->default_branch);
    m->default_branch = fake_dup(branch);
}

int fake_mirror_reads(const struct cm_mirror *m)
{
    return m->reads;
}

int fake_mirror_archives(const struct cm_mirror *m)
{
    return m->archives;
}

void fake_mirror_reset_counts(struct cm_mirror *m)
{
    m->reads = 0;
    m->archives = 0;
}

const char *fake_mirror_note(const struct cm_mirror *m, const char *ref)
{
    for (size_t i = 0; i < m->n_refs; i++) {
        if (strcmp(m->refs[i].ref, ref) == 0)
            return m->refs[i].note;
    }
    return NULL;
}

struct cm_event *fake_event_new(int complete)
{
    struct cm_event *ev = calloc(1, sizeof(*ev));
    ev->complete = complete;
    return ev;
}

void fake_event_add(struct cm_event *ev, const char *ref, const char *old_id, const char *new_id)
{
    if (ev->n < FAKE_MAX) {
        ev->changes[ev->n].ref = fake_dup(ref);
        ev->changes[ev->n].old_id = fake_dup(old_id);
        ev->changes[ev->n].new_id = fake_dup(new_id);
        ev->n++;
    }
}

void fake_event_free(struct cm_event *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->changes[i].ref);
        free(ev->changes[i].old_id);
        free(ev->changes[i].new_id);
    }
    free(ev);
}
