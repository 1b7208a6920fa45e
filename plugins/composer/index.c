/* SPDX-License-Identifier: MIT */
/*
 * The Composer v2 repository on disk: packages.json, and the writes every file of it goes
 * through (p2.c renders the p2 documents). Files are served as they are, so every write is the
 * host's atomic write_file: a reader sees the old or the new file, never a mix.
 */
#include "index.h"

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

static int ix_write_doc(const struct cmc_files *f, const char *rel, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    int rc;

    if (!text)
        return CM_ENOMEM;
    rc = cmc_write_if_changed(f, rel, text, strlen(text), NULL);
    free(text);
    return rc;
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
    rc = ix_write_doc(f, "packages.json", doc);
out:
    free(names);
    json_decref(list);
    json_decref(doc);
    return rc;
}
