/* SPDX-License-Identifier: MIT */
/*
 * Decoding a form-encoded delivery body into the JSON payload it carries.
 */
#ifndef CM_FORM_H
#define CM_FORM_H

#include <stddef.h>

/* Decode a form body that is exactly one field, payload=<value>, into *out (malloc'd,
 * NUL-terminated): nothing before it, no second field, no bare text. So every byte of the
 * event comes from the field the signature covered in full. CM_OK, CM_ENOMEM, or CM_EINVAL
 * with *why (static text) saying what is wrong. */
int cm_form_payload(const char *form, size_t len, char **out, size_t *outlen, const char **why);

#endif
