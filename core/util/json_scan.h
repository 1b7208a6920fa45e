/* SPDX-License-Identifier: MIT */
/*
 * A JSON document read in one pass into a flat array of tokens, with no allocation per value:
 * what a reader that looks up a few paths needs, where a tree costs a malloc and a free for
 * every value of the document. Strict by design: it accepts only what a full parser (jansson,
 * with duplicate keys rejected) accepts and reads alike; what it does not handle (reals,
 * integers of 19 digits or more, \u0000, deep nesting, objects with so many members that its
 * pairwise duplicate check would cost more than a hash table) is CM_EINVAL, for that parser to
 * judge.
 */
#ifndef CM_JSON_SCAN_H
#define CM_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum cm_jscan_type {
    CM_JSCAN_OBJECT,
    CM_JSCAN_ARRAY,
    CM_JSCAN_STRING,
    CM_JSCAN_INTEGER,
    CM_JSCAN_TRUE,
    CM_JSCAN_FALSE,
    CM_JSCAN_NULL,
};

/* One value. An object's members follow it as key (a string token), value; an array's
 * elements follow it; next is the index just past its last descendant. */
struct cm_jscan_tok {
    unsigned char type;
    uint32_t next, n; /* n: members or elements */
    uint32_t off;     /* a string's decoded text in doc->text, NUL-terminated */
    long long ival;   /* an integer's value */
};

struct cm_jscan {
    char *text;               /* owned: a copy of the input, strings decoded in place */
    struct cm_jscan_tok *tok; /* owned; tok[0] is the root */
    size_t n_tok, cap_tok;
};

/* Scan len bytes at text into *doc (the caller's; cm_jscan_free it, also after a failure).
 * CM_OK; CM_EINVAL when the text is not JSON or not JSON this scanner takes (see above);
 * CM_ENOMEM. */
int cm_jscan_parse(struct cm_jscan *doc, const char *text, size_t len);
void cm_jscan_free(struct cm_jscan *doc);

/* The value of member key (len bytes) of object token obj, or -1. */
long cm_jscan_member(const struct cm_jscan *doc, size_t obj, const char *key, size_t len);
/* Element i of array token arr, or -1. */
long cm_jscan_element(const struct cm_jscan *doc, size_t arr, size_t i);

#endif
