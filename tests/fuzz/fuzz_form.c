/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the form decoder. The input is a request body, decoded on its own
 * (cm_form_payload) and through a request under three Content-Types, for a provider that
 * reads forms and for one that does not (cm_request_read_form).
 */
#include <string.h>

#include "fuzz.h"
#include "intake/form.h"
#include "intake/request.h"

#define FF_KEY "payload="

static int ff_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Decoding what was decoded, once percent-encoded again, gives it back. */
static void ff_round_trip(const char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = sizeof(FF_KEY) - 1;
    char *enc = malloc(n + 3 * outlen + 1), *again = NULL;
    size_t againlen = 0;
    const char *why = NULL;

    FUZZ_CHECK(enc, "out of memory");
    memcpy(enc, FF_KEY, n);
    for (size_t i = 0; i < outlen; i++) {
        unsigned char c = (unsigned char)out[i];
        if (ff_unreserved(c)) {
            enc[n++] = (char)c;
        } else {
            enc[n++] = '%';
            enc[n++] = hex[c >> 4];
            enc[n++] = hex[c & 15];
        }
    }
    FUZZ_CHECK(cm_form_payload(enc, n, &again, &againlen, &why) == CM_OK, "re-encoded: %s", why);
    FUZZ_CHECK(againlen == outlen && !memcmp(again, out, outlen), "round trip differs");
    free(again);
    free(enc);
}

static void ff_direct(const char *in, size_t size, char **out, size_t *outlen, int *rc)
{
    const char *why = NULL;

    *out = NULL;
    *rc = cm_form_payload(in, size, out, outlen, &why);
    FUZZ_CHECK(*rc == CM_OK || *rc == CM_EINVAL, "status %d", *rc);
    if (*rc != CM_OK) {
        FUZZ_CHECK(why && why[0] && !*out, "refused without a reason");
        return;
    }
    FUZZ_CHECK(size >= sizeof(FF_KEY) - 1 && !memcmp(in, FF_KEY, sizeof(FF_KEY) - 1),
               "accepted a body that does not start with payload=");
    FUZZ_CHECK(!memchr(in, '&', size), "accepted a second field");
    FUZZ_CHECK(*outlen <= size - (sizeof(FF_KEY) - 1), "decoded is longer than encoded");
    FUZZ_CHECK((*out)[*outlen] == '\0', "decoded is not NUL-terminated");
    if (!memchr(in, '%', size) && !memchr(in, '+', size))
        FUZZ_CHECK(*outlen == size - (sizeof(FF_KEY) - 1) &&
                       !memcmp(*out, in + sizeof(FF_KEY) - 1, *outlen),
                   "plain text changed by decoding");
    ff_round_trip(*out, *outlen);
}

static void ff_request(const char *in, size_t size, const char *ctype, unsigned flags, int want,
                       const char *decoded, size_t decoded_len)
{
    struct cm_request *req;
    const char *payload;
    size_t len = 0;
    int is_form = strncmp(ctype, "application/json", 16) != 0, rc;

    FUZZ_CHECK(cm_request_new(&req, NULL) == CM_OK, "out of memory");
    FUZZ_CHECK(cm_request_add_header(req, "Content-Type", ctype) == CM_OK, "out of memory");
    FUZZ_CHECK(cm_request_set_body(req, in, size) == CM_OK, "out of memory");
    FUZZ_CHECK(req->body_len == size && !memcmp(req->body, in, size), "body changed");
    rc = cm_request_read_form(req, flags);
    payload = cm_request_payload(req, &len);
    if (!is_form) {
        FUZZ_CHECK(rc == CM_OK && payload == req->body && len == size, "a JSON body was changed");
    } else if (!(flags & CM_PROVIDER_FORM_PAYLOAD)) {
        FUZZ_CHECK(rc == CM_EINVAL && req->reason[0] && !payload, "a form reached a JSON-only "
                                                                  "provider");
    } else {
        FUZZ_CHECK(rc == want, "read_form says %d, cm_form_payload %d", rc, want);
        if (rc == CM_OK)
            FUZZ_CHECK(payload && len == decoded_len && !memcmp(payload, decoded, len),
                       "payload differs from the decoded form");
        else
            FUZZ_CHECK(!payload && len == 0 && req->reason[0], "refused form left a payload");
        /* A second call (dispatch may read the form again) changes nothing. */
        FUZZ_CHECK(cm_request_read_form(req, flags) == rc, "not stable");
    }
    cm_request_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ctypes[] = {"application/x-www-form-urlencoded",
                                         "Application/X-WWW-Form-Urlencoded; charset=utf-8",
                                         "application/json"};
    const char *in = (const char *)data;
    char *out;
    size_t outlen = 0;
    int rc;

    ff_direct(in, size, &out, &outlen, &rc);
    for (size_t i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++) {
        ff_request(in, size, ctypes[i], 0, rc, out, outlen);
        ff_request(in, size, ctypes[i], CM_PROVIDER_FORM_PAYLOAD, rc, out, outlen);
    }
    free(out);
    return 0;
}
