/* SPDX-License-Identifier: MIT */
/*
 * Private to core/config/: what reading the configuration needs besides the parser. The
 * storage behind struct cm_section, struct cm_config's defaults and freeing, the conf.d listing
 * and secret and CA files. Nothing here knows libconfig (parse.h and its users do).
 */
#ifndef CM_CONFIG_SECTION_H
#define CM_CONFIG_SECTION_H

#include <stddef.h>

#include "config/config.h"

enum cm_section_type { CM_SV_STRING, CM_SV_INT, CM_SV_FLOAT, CM_SV_BOOL, CM_SV_LIST };

struct cm_section_value {
    char *key;
    enum cm_section_type type;
    char *str;     /* CM_SV_STRING, expanded */
    long long num; /* CM_SV_INT; CM_SV_BOOL as 0/1 */
    double real;   /* CM_SV_FLOAT */
    char **list;   /* CM_SV_LIST: n_list expanded strings, then NULL */
    size_t n_list;
    char *file; /* where the key is written, for messages (cm_section_set_origin) */
    int line;
};

struct cm_section {
    struct cm_section_value *v;
    size_t n;
};

/* An empty section with room for cap values, in *out (the caller's, freed with
 * cm_section_free; NULL on failure). CM_OK or CM_ENOMEM. */
int cm_section_new(struct cm_section **out, size_t cap);

/* The next free value of s, named key (copied), all else zero; *out is borrowed from s.
 * At most cap of cm_section_new. CM_OK or CM_ENOMEM. */
int cm_section_add(struct cm_section *s, const char *key, struct cm_section_value **out);

/* Note that v is written at file:line (file copied). CM_OK or CM_ENOMEM. */
int cm_section_set_origin(struct cm_section_value *v, const char *file, int line);

/* The value called key, or NULL (also when s is NULL). Borrowed from s. */
const struct cm_section_value *cm_section_find(const struct cm_section *s, const char *key);

void cm_section_free(struct cm_section *s);

/* Every value of from moved into s, replacing the value of the same key there (its origin
 * too) or appended after s's own, except the keys in keep (NULL-terminated; may be NULL),
 * which s keeps as they are. from is left empty, for cm_section_free. CM_OK or CM_ENOMEM (then
 * s holds what was moved so far and from the rest, both still freed as usual). */
int cm_section_override(struct cm_section *s, struct cm_section *from, const char *const *keep);

/* Frees the first n strings of list, then list. */
void cm_config_strings_free(char **list, size_t n);

/* A struct cm_config read from dir, holding the defaults of every server setting; the
 * caller's, freed with cm_config_free. NULL when out of memory. */
struct cm_config *cm_config_new(const char *dir);

/* The names of the *.conf files in dir (not hidden, regular files), sorted, in *out (the
 * caller's: each name and the array freed with cm_config_strings_free). CM_EINVAL or
 * CM_ENOMEM with one line in err, saying what to change. */
int cm_config_list(const char *dir, char ***out, size_t *n, char *err, size_t errlen);

/* The secret held by file (relative to dir when dir is not NULL and file is not absolute),
 * trailing newlines dropped, in *out (the caller's, freed with free). CM_ENOMEM, or CM_EINVAL
 * with msg saying what is wrong with the file, naming it but not where it was configured. */
int cm_config_read_secret(const char *dir, const char *file, char **out, char *msg, size_t msglen);

/* The CA bundle file (relative to dir like a secret file) as an absolute path in *out (the
 * caller's, freed with free), once it is readable and holds a PEM certificate: it is read
 * again at every HTTPS sync, after the daemon may have changed its directory. CM_ENOMEM, or
 * CM_EINVAL with msg saying what is wrong with the file. */
int cm_config_ca_file(const char *dir, const char *file, char **out, char *msg, size_t msglen);

#endif
