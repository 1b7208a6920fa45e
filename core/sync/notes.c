/* SPDX-License-Identifier: MIT */
/*
 * Notes about refs: a small sorted map behind a mutex, written to its file with
 * cm_fs_write_atomic so a crash leaves the old notes or the new ones, never half of them.
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cargoman/plugin.h"
#include "sync/notes.h"
#include "util/buf.h"
#include "util/fsutil.h"

struct nt_note {
    char *ref; /* owned */
    char *msg; /* owned, one line */
};

struct cm_notes {
    pthread_mutex_t lock;  /* guards notes */
    char *file;            /* owned */
    struct nt_note *notes; /* owned, sorted by ref */
    size_t n;
};

/* Rewrite the file; nothing to do while its directory (the mirror) does not exist yet. */
static int nt_save(const struct cm_notes *n)
{
    char *dir = strdup(n->file);
    struct cm_buf b = {0};
    struct stat st;
    int ok, rc = CM_OK;

    if (!dir)
        return CM_ENOMEM;
    ok = stat(dirname(dir), &st) == 0;
    free(dir);
    if (!ok)
        return CM_OK;
    for (size_t i = 0; rc == CM_OK && i < n->n; i++)
        rc = cm_buf_printf(&b, "%s\t%s\n", n->notes[i].ref, n->notes[i].msg);
    if (rc == CM_OK && cm_fs_write_atomic(n->file, b.len ? b.p : "", b.len, 0644) != 0)
        rc = CM_ERROR;
    free(b.p);
    return rc;
}

/* Set or remove ref's note in memory; the caller holds the lock. *changed (may be NULL) is set
 * when the notes differ afterwards. */
static int nt_put(struct cm_notes *n, const char *ref, const char *msg, int *changed)
{
    size_t i = 0;
    char *r = NULL, *v = NULL;

    while (i < n->n && strcmp(n->notes[i].ref, ref) < 0)
        i++;
    if (msg && !(v = strdup(msg)))
        return CM_ENOMEM;
    for (char *p = v; p && *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    int found = i < n->n && !strcmp(n->notes[i].ref, ref);
    /* A sync plugin says so for every ref at every sync, most often "no note": only a change
     * is worth a durable rewrite of the file. */
    if ((!found && !v) || (found && v && !strcmp(n->notes[i].msg, v))) {
        free(v);
        return CM_OK;
    }
    if (changed)
        *changed = 1;
    if (found) {
        free(n->notes[i].msg);
        n->notes[i].msg = v;
        if (!v) {
            free(n->notes[i].ref);
            memmove(n->notes + i, n->notes + i + 1, (n->n - i - 1) * sizeof(*n->notes));
            n->n--;
        }
    } else if (v) {
        struct nt_note *grown = realloc(n->notes, (n->n + 1) * sizeof(*grown));

        if (grown)
            n->notes = grown;
        if (!grown || !(r = strdup(ref))) {
            free(v);
            return CM_ENOMEM;
        }
        memmove(n->notes + i + 1, n->notes + i, (n->n - i) * sizeof(*n->notes));
        n->notes[i] = (struct nt_note){r, v};
        n->n++;
    }
    return CM_OK;
}

static int nt_load(struct cm_notes *n)
{
    FILE *f = fopen(n->file, "re");
    char *line = NULL, *tab;
    size_t cap = 0;
    int rc = CM_OK;

    if (!f)
        return CM_OK;
    while (rc == CM_OK && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if ((tab = strchr(line, '\t'))) {
            *tab = '\0';
            rc = nt_put(n, line, tab + 1, NULL);
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int cm_notes_open(struct cm_notes **out, const char *file)
{
    struct cm_notes *n = calloc(1, sizeof(*n));

    *out = NULL;
    if (!n)
        return CM_ENOMEM;
    pthread_mutex_init(&n->lock, NULL);
    if (!(n->file = strdup(file)) || nt_load(n) != CM_OK) {
        cm_notes_free(n);
        return CM_ENOMEM;
    }
    *out = n;
    return CM_OK;
}

void cm_notes_free(struct cm_notes *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        free(n->notes[i].ref);
        free(n->notes[i].msg);
    }
    free(n->notes);
    free(n->file);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

int cm_notes_set(struct cm_notes *n, const char *ref, const char *message)
{
    int rc;

    if (!ref || !*ref || strpbrk(ref, "\t\n\r"))
        return CM_EINVAL;
    int changed = 0;

    pthread_mutex_lock(&n->lock);
    rc = nt_put(n, ref, message, &changed);
    if (rc == CM_OK && changed)
        rc = nt_save(n);
    pthread_mutex_unlock(&n->lock);
    return rc;
}

int cm_notes_each(struct cm_notes *n, int (*cb)(void *arg, const char *ref, const char *message),
                  void *arg)
{
    int rc = 0;

    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < n->n && rc == 0; i++)
        rc = cb(arg, n->notes[i].ref, n->notes[i].msg);
    pthread_mutex_unlock(&n->lock);
    return rc;
}
