/* SPDX-License-Identifier: MIT */
/*
 * The Composer v2 repository on disk: the minified p2 documents (Composer's MetadataMinifier
 * format) and packages.json. They are served as they are, so every write goes through the
 * host's atomic write_file: a reader sees the old or the new file, never a mix.
 */
#include "index.h"
#include "version.h"

#include <cargoman/plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmc_mkdirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len >= sizeof(buf))
        return CM_ERROR;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return CM_ERROR;
        *p = '/';
    }
    return CM_OK;
}

/* 1 when the file at path holds exactly data. */
static int ix_same_content(const char *path, const void *data, size_t len)
{
    struct stat st;
    char buf[65536];
    const char *p = data;
    int fd, same = 0;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len)
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            same = n == 0 && len == 0;
            break;
        }
        if ((size_t)n > len || memcmp(buf, p, (size_t)n) != 0)
            break;
        p += n;
        len -= (size_t)n;
    }
    close(fd);
    return same;
}

int cmc_write_file(const struct cmc_files *f, const char *rel, const void *data, size_t len)
{
    return f->host->write_file(f->ctx, rel, data, len);
}

int cmc_write_if_changed(const struct cmc_files *f, const char *rel, const void *data, size_t len,
                         int *written)
{
    char path[4096];

    if (written)
        *written = 0;
    if (snprintf(path, sizeof(path), "%s/%s", f->dir, rel) >= (int)sizeof(path))
        return CM_ERROR;
    if (ix_same_content(path, data, len))
        return CM_OK;
    if (cmc_write_file(f, rel, data, len) != CM_OK)
        return CM_ERROR;
    if (written)
        *written = 1;
    return CM_OK;
}

/* PHP's isset(): present and not null. */
static int ix_isset(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

json_t *cmc_minify(json_t *versions)
{
    json_t *out = json_array(), *last = NULL;
    size_t i;
    json_t *v;

    if (!out)
        return NULL;
    json_array_foreach (versions, i, v) {
        const char *key;
        json_t *val, *diff;
        void *tmp;

        if (!last) {
            last = json_deep_copy(v);
            if (!last || json_array_append(out, v) != 0)
                goto fail;
            continue;
        }
        diff = json_object();
        if (!diff || json_array_append_new(out, diff) != 0)
            goto fail;
        json_object_foreach (v, key, val) {
            json_t *prev = json_object_get(last, key);
            if (!prev || json_is_null(prev) || !json_equal(prev, val)) {
                if (json_object_set(diff, key, val) != 0 || json_object_set(last, key, val) != 0)
                    goto fail;
            }
        }
        json_object_foreach_safe (last, tmp, key, val) {
            if (!ix_isset(v, key)) {
                if (json_object_set_new(diff, key, json_string("__unset")) != 0)
                    goto fail;
                json_object_del(last, key);
            }
        }
    }
    json_decref(last);
    return out;
fail:
    json_decref(last);
    json_decref(out);
    return NULL;
}

json_t *cmc_expand(json_t *minified)
{
    json_t *out = json_array(), *cur = NULL, *v;
    size_t i;

    if (!out)
        return NULL;
    json_array_foreach (minified, i, v) {
        const char *key;
        json_t *val;
        if (!cur) {
            cur = json_deep_copy(v);
        } else {
            json_object_foreach (v, key, val) {
                if (json_is_string(val) && strcmp(json_string_value(val), "__unset") == 0)
                    json_object_del(cur, key);
                else
                    json_object_set(cur, key, val);
            }
        }
        if (!cur || json_array_append_new(out, json_deep_copy(cur)) != 0)
            goto fail;
    }
    json_decref(cur);
    return out;
fail:
    json_decref(cur);
    json_decref(out);
    return NULL;
}

static const char *ix_str(json_t *v, const char *key)
{
    const char *s = json_string_value(json_object_get(v, key));
    return s ? s : "";
}

static int ix_newest_first(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int r = cmc_version_compare(ix_str(y, "version_normalized"), ix_str(x, "version_normalized"));
    return r ? r : strcmp(ix_str(x, "version"), ix_str(y, "version"));
}

void cmc_sort_versions(json_t *versions)
{
    size_t n = json_array_size(versions);
    json_t **items;

    if (n < 2 || !(items = calloc(n, sizeof(*items))))
        return;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(versions, i));
    qsort(items, n, sizeof(*items), ix_newest_first);
    json_array_clear(versions);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(versions, items[i]);
    free(items);
}

static int ix_write_doc(const struct cmc_files *f, const char *rel, json_t *doc, int *changed)
{
    int written = 0, rc;
    char *text = json_dumps(doc, JSON_COMPACT);

    if (!text)
        return CM_ENOMEM;
    rc = cmc_write_if_changed(f, rel, text, strlen(text), &written);
    free(text);
    if (rc == CM_OK && written && changed)
        (*changed)++;
    return rc;
}

static int ix_write_one_p2(const struct cmc_files *f, const char *rel, const char *name,
                           json_t *versions, int *changed)
{
    json_t *doc = NULL, *packages = NULL, *mini;
    int rc = CM_ENOMEM;

    cmc_sort_versions(versions);
    mini = cmc_minify(versions);
    if (!mini || !(packages = json_object()) || json_object_set_new(packages, name, mini) != 0)
        goto out;
    mini = NULL;
    doc = json_pack("{s:o, s:s}", "packages", packages, "minified", "composer/2.0");
    packages = NULL;
    if (!doc)
        goto out;
    rc = ix_write_doc(f, rel, doc, changed);
out:
    json_decref(mini);
    json_decref(packages);
    json_decref(doc);
    return rc;
}

int cmc_write_p2(const struct cmc_files *f, const char *name, json_t *tags, json_t *devs,
                 int *changed)
{
    char rel[1024];
    int rc;

    if (snprintf(rel, sizeof(rel), "p2/%s.json", name) >= (int)sizeof(rel))
        return CM_ERROR;
    rc = ix_write_one_p2(f, rel, name, tags, changed);
    if (rc != CM_OK)
        return rc;
    if (snprintf(rel, sizeof(rel), "p2/%s~dev.json", name) >= (int)sizeof(rel))
        return CM_ERROR;
    return ix_write_one_p2(f, rel, name, devs, changed);
}

void cmc_remove_package(const char *state_dir, const char *name)
{
    char path[4096];
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "%s/p2/%s.json", state_dir, name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/p2/%s~dev.json", state_dir, name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/dist/%s", state_dir, name);
    if ((d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char file[4096 + 256];
            if (e->d_name[0] == '.')
                continue;
            snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
            unlink(file);
        }
        closedir(d);
        rmdir(path);
    }
    /* The vendor directories go too once empty; rmdir refuses when they are not. */
    *strrchr(path, '/') = '\0';
    rmdir(path);
    snprintf(path, sizeof(path), "%s/p2/%s", state_dir, name);
    *strrchr(path, '/') = '\0';
    rmdir(path);
}

static int ix_by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cmc_write_packages_json(const struct cmc_files *f, json_t *owners)
{
    const char **names = NULL, *key;
    json_t *list = NULL, *doc = NULL, *val;
    size_t n = json_object_size(owners), i = 0;
    int rc = CM_ENOMEM;

    if (!(names = calloc(n + 1, sizeof(*names))) || !(list = json_array()))
        goto out;
    /* Only names whose p2 file is already there: composer must never be sent to a 404. */
    json_object_foreach (owners, key, val) {
        char p2[4096];
        struct stat st;
        snprintf(p2, sizeof(p2), "%s/p2/%s.json", f->dir, key);
        if (stat(p2, &st) == 0)
            names[i++] = key;
    }
    n = i;
    qsort(names, n, sizeof(*names), ix_by_name);
    for (i = 0; i < n; i++) {
        if (json_array_append_new(list, json_string(names[i])) != 0)
            goto out;
    }
    doc = json_pack("{s:[], s:s, s:O}", "packages", "metadata-url", "/p2/%package%.json",
                    "available-packages", list);
    if (!doc)
        goto out;
    rc = ix_write_doc(f, "packages.json", doc, NULL);
out:
    free(names);
    json_decref(list);
    json_decref(doc);
    return rc;
}
