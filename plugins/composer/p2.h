/* SPDX-License-Identifier: MIT */
/*
 * A package's p2 documents (p2/<vendor>/<name>.json and ~dev.json) in Composer's minified
 * format, rendered so that a sync which adds one version to thousands re-renders only the
 * elements that version touches: the text of the others is kept from the last write.
 */
#ifndef CMC_P2_H
#define CMC_P2_H

#include "index.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One p2 document as last written: its sorted complete versions (a reference each), the
 * minified text of each element, and a signature of the keys the minifier remembered when it
 * came to that element. Zeroed is empty; emptied with cmc_p2_text_clear. */
struct cmc_p2_text {
    json_t **versions;
    char **texts;
    uint64_t *order_sig;
    size_t n;
};

/* Drop what t holds and leave it empty. */
void cmc_p2_text_clear(struct cmc_p2_text *t);

/* Composer's minified form of a list of versions (MetadataMinifier::minify): the first whole,
 * each later one only the keys that changed from the one before, "__unset" for keys it lacks.
 * New reference, NULL on ENOMEM. */
json_t *cmc_minify(json_t *versions);

/* The inverse of cmc_minify (what Composer does when it reads the file). New reference. */
json_t *cmc_expand(json_t *minified);

/* Sort versions newest first by "version_normalized". */
void cmc_sort_versions(json_t *versions);

/* Write p2/<name>.json from tags and p2/<name>~dev.json from devs (both arrays of complete
 * versions, sorted here), each only when its content changes. tag_text and dev_text (NULL for
 * none) hold the documents as last written: an element whose version object, predecessor and
 * minifier state are the same as then keeps its text, and both are updated to what is written
 * now (emptied on failure). A version object must not change once it has been written through
 * a cache. *changed (may be NULL) counts the files replaced. CM_OK, CM_ENOMEM or CM_ERROR. */
int cmc_write_p2(const struct cmc_files *f, const char *name, json_t *tags, json_t *devs,
                 struct cmc_p2_text *tag_text, struct cmc_p2_text *dev_text, int *changed);

#endif /* CMC_P2_H */
