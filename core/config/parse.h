/* SPDX-License-Identifier: MIT */
/*
 * Private to core/config/: the state of one configuration load and the helpers its parts share
 * (config.c: files and the top level; settings.c: server and git; endpoint.c; sync_entry.c).
 * Only these files include libconfig. Every helper that fails has written its one line,
 * "file:line: what to change", into st->err.
 */
#ifndef CM_CONFIG_PARSE_H
#define CM_CONFIG_PARSE_H

#include <stddef.h>

#include <libconfig.h>

#include "config/config.h"
#include "config/section.h"

/* More than the server and git keys settings.c knows (checked there at compile time). */
#define CF_MAX_KEYS 64

struct cf_state {
    struct cm_config *cfg;
    const char *file; /* the file being read, as messages name it */
    const char *dir;  /* relative secret_file, ssl_ca_file and @include paths start here */
    char *err;
    size_t errlen;
    char *key_file[CF_MAX_KEYS]; /* where each server/git key was set (settings.c's order) */
    int key_line[CF_MAX_KEYS];
    /* The entry being read: where it was first defined, which messages about a key it lacks
     * name (borrowed from the entry). */
    const char *at_file;
    int at_line;
};

/* Where s was written: its file (st->file when libconfig does not know) and line (0). */
const char *cf_file(const struct cf_state *st, const config_setting_t *s);
int cf_line(const config_setting_t *s);

/* Write "file:line: <fmt>" for s into st->err; returns CM_EINVAL. */
__attribute__((format(printf, 3, 4))) int cf_fail(struct cf_state *st, const config_setting_t *s,
                                                  const char *fmt, ...);
/* The same placed where key of an entry's section was set, or where the entry was first
 * defined (st->at_file, st->at_line) when it has no such key. */
__attribute__((format(printf, 4, 5))) int cf_fail_key(struct cf_state *st,
                                                      const struct cm_section *sec, const char *key,
                                                      const char *fmt, ...);
/* "file: out of memory"; returns CM_ENOMEM. */
int cf_oom(struct cf_state *st);
/* The outcome rc of a helper that knows no file or line, its message msg placed at s. */
int cf_relay(struct cf_state *st, const config_setting_t *s, int rc, const char *what,
             const char *msg);
/* cf_relay placed like cf_fail_key. */
int cf_relay_key(struct cf_state *st, const struct cm_section *sec, const char *key, int rc,
                 const char *what, const char *msg);
int cf_strdup(struct cf_state *st, const char *s, char **out);

/* The ${VAR}-expanded copy of string setting s (the caller's); what names it in messages. */
int cf_expand(struct cf_state *st, const config_setting_t *s, const char *what, char **out);
/* *path (expanded, may be "") replaced by the CA bundle it names, resolved and checked, or by
 * NULL when empty. */
int cf_ca_file(struct cf_state *st, const config_setting_t *s, const char *what, char **path);
/* A list or array of strings, each expanded, into *out (n of them, then NULL; the caller's,
 * also on failure); a single string is a list of one. */
int cf_string_list(struct cf_state *st, const config_setting_t *s, const char *what, char ***out,
                   size_t *n);

/* ---- entries: an endpoint or a sync entry, kept whole as a section for its plugin ----
 * An entry is read in two steps: each group into a section (cf_entry_start), merged with the
 * groups of later files that name the same entry (cf_refine); then, once every file is read,
 * its keys from that section, so a key means the same whichever file set it. Messages about
 * a key name the file and line that set it. */

/* Where grp is written, into *file (the caller's) and *line, and every key it holds. */
int cf_entry_start(struct cf_state *st, const config_setting_t *grp, const char *ctx, char **file,
                   int *line, struct cm_section **sec);
/* The keys of over (a later group naming the entry) moved into base, replacing the ones set
 * there, except the keys in ids (NULL-terminated), which name the entry. A key already set in
 * base by over's own file is an error naming both lines: a file sets each key of an entry
 * once. So is a value of the key fixed (NULL: none) that differs from base's. */
int cf_refine(struct cf_state *st, struct cm_section *base, struct cm_section *over,
              const char *ctx, const char *const *ids, const char *fixed);
/* A string key of the entry: *out NULL when absent or empty; an error when not a string. */
int cf_entry_string(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                    const char *key, char **out);
/* A mandatory plain name (letters, digits, '.', '_', '-'); example goes into the message. */
int cf_entry_name(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                  const char *key, const char *example, char **out);
/* An optional whole number of at least min; *out keeps its value when absent. */
int cf_entry_int(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                 const char *key, long long min, const char *hint, long long *out);
/* An optional true or false; *out keeps its value when absent. */
int cf_entry_bool(struct cf_state *st, const struct cm_section *sec, const char *ctx,
                  const char *key, int *out);
/* Grow *arr of n elements of size by one zeroed element. */
int cf_grow(struct cf_state *st, void **arr, size_t n, size_t size);
/* The n entries of arr (each size bytes) once every file is read: one(st, entry, &on) reads
 * an entry's keys or clears *on for one switched off, which drop(entry) frees; the others
 * close up and *n becomes their count. On failure every entry is still in arr, as
 * cm_config_free expects. */
int cf_entries_finish(struct cf_state *st, void *arr, size_t *n, size_t size,
                      int (*one)(struct cf_state *, void *, int *), void (*drop)(void *));
/* An entry switched off (enabled = false, at file:line) noted in st->cfg->disabled. */
int cf_disabled_add(struct cf_state *st, const char *what, const char *file, int line);

/* ---- the parts ---- */

/* server = { ... } or git = { ... } (settings.c). */
int cf_settings_group(struct cf_state *st, const config_setting_t *grp, const char *group);
/* 1 when group is one settings.c reads. */
int cf_settings_known(const char *group);
/* One endpoint group (endpoint.c): a new endpoint, or a refinement of one named earlier. */
int cf_endpoint(struct cf_state *st, const config_setting_t *grp);
/* Once every file is read: each endpoint's keys, the disabled ones moved to cfg->disabled. */
int cf_endpoints_finish(struct cf_state *st);
/* One sync entry group (sync_entry.c), and the same two steps for the sync entries. */
int cf_sync(struct cf_state *st, const config_setting_t *grp);
int cf_syncs_finish(struct cf_state *st);

#endif
