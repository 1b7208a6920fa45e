/* SPDX-License-Identifier: MIT */
/*
 * Saving a repository's state file: the small keys, then one compact line per ref. A state
 * of thousands of refs is saved after every sync, so the line of a ref whose entry is the
 * same object as at the last save is kept, and only new or moved refs are rendered.
 */
#include "state.h"

#include <cargoman/plugin.h>

#include <stdlib.h>
#include <string.h>

void cmc_state_text_clear(struct cmc_state_text *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->name[i]);
        json_decref(t->entry[i]);
        free(t->line[i]);
    }
    free(t->name);
    free(t->entry);
    free(t->line);
    memset(t, 0, sizeof(*t));
}

/* "key":value, compact. NULL on ENOMEM. */
static char *ss_member(const char *key, json_t *val)
{
    json_t *jkey = json_string(key);
    char *k = jkey ? json_dumps(jkey, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *v = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT), *out = NULL;

    json_decref(jkey);
    if (k && v && (out = malloc(strlen(k) + strlen(v) + 2)) != NULL) {
        size_t kl = strlen(k), vl = strlen(v);
        memcpy(out, k, kl);
        out[kl] = ':';
        memcpy(out + kl + 1, v, vl + 1);
    }
    free(k);
    free(v);
    return out;
}

/* The line old saved for ref at entry, taken from old, or NULL. Refs keep their order in
 * the state (a moved ref is replaced in place, a new one appended), so *k walks old once:
 * refs of old that are gone from refs are passed over. */
static char *ss_reuse(struct cmc_state_text *old, size_t *k, json_t *refs, const char *ref,
                      json_t *entry)
{
    char *line;

    while (*k < old->n && strcmp(old->name[*k], ref) != 0 && !json_object_get(refs, old->name[*k]))
        (*k)++;
    if (*k >= old->n || strcmp(old->name[*k], ref) != 0)
        return NULL; /* a ref new since then */
    if (old->entry[*k] != entry) {
        (*k)++;
        return NULL;
    }
    line = old->line[*k];
    old->line[(*k)++] = NULL;
    return line;
}

/* One line per ref of refs into out, reusing old's. */
static int ss_lines(json_t *refs, struct cmc_state_text *old, struct cmc_state_text *out)
{
    size_t n = json_object_size(refs), k = 0;
    const char *ref;
    json_t *entry;

    out->name = calloc(n ? n : 1, sizeof(*out->name));
    out->entry = calloc(n ? n : 1, sizeof(*out->entry));
    out->line = calloc(n ? n : 1, sizeof(*out->line));
    if (!out->name || !out->entry || !out->line)
        return CM_ENOMEM;
    json_object_foreach (refs, ref, entry) {
        char *line = ss_reuse(old, &k, refs, ref, entry);
        size_t i = out->n++;

        out->entry[i] = json_incref(entry);
        out->name[i] = strdup(ref);
        out->line[i] = line ? line : ss_member(ref, entry);
        if (!out->name[i] || !out->line[i])
            return CM_ENOMEM;
    }
    return CM_OK;
}

/* {small keys,\n"refs":{\nline,\nline\n}}: NULL on ENOMEM. */
static char *ss_document(json_t *st, const struct cmc_state_text *t, size_t *len)
{
    static const char refs_open[] = "\"refs\":{\n", refs_close[] = "\n}}\n";
    size_t total = 1 + sizeof(refs_open) - 1 + sizeof(refs_close) - 1, nhead = 0;
    char **head = calloc(json_object_size(st) + 1, sizeof(*head)), *doc = NULL, *p;
    const char *key;
    json_t *val;

    if (!head)
        return NULL;
    json_object_foreach (st, key, val) {
        if (strcmp(key, "refs") == 0)
            continue;
        if (!(head[nhead] = ss_member(key, val)))
            goto out;
        total += strlen(head[nhead++]) + 2;
    }
    for (size_t i = 0; i < t->n; i++)
        total += strlen(t->line[i]) + 2;
    if (!(doc = malloc(total + 1)))
        goto out;
    p = doc;
    *p++ = '{';
    for (size_t i = 0; i < nhead; i++) {
        size_t l = strlen(head[i]);
        memcpy(p, head[i], l);
        p += l;
        memcpy(p, ",\n", 2);
        p += 2;
    }
    memcpy(p, refs_open, sizeof(refs_open) - 1);
    p += sizeof(refs_open) - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t l = strlen(t->line[i]);
        if (i > 0) {
            memcpy(p, ",\n", 2);
            p += 2;
        }
        memcpy(p, t->line[i], l);
        p += l;
    }
    memcpy(p, refs_close, sizeof(refs_close));
    *len = (size_t)(p - doc) + sizeof(refs_close) - 1;
out:
    for (size_t i = 0; i < nhead; i++)
        free(head[i]);
    free(head);
    return doc;
}

int cmc_state_save(const struct cmc_files *f, const char *rel, json_t *st, struct cmc_state_text *t)
{
    struct cmc_state_text none = {NULL, NULL, NULL, 0}, out = {NULL, NULL, NULL, 0};
    struct cmc_state_text *old = t ? t : &none;
    char *doc = NULL;
    size_t len = 0;
    int rc = ss_lines(json_object_get(st, "refs"), old, &out);

    if (rc == CM_OK && !(doc = ss_document(st, &out, &len)))
        rc = CM_ENOMEM;
    if (rc == CM_OK)
        rc = cmc_write_file(f, rel, doc, len);
    free(doc);
    cmc_state_text_clear(old);
    if (rc == CM_OK && t)
        *t = out;
    else
        cmc_state_text_clear(&out);
    return rc;
}
