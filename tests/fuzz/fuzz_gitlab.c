/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the gitlab provider's verify, sniff and translate through its descriptor, with
 * a Secret token endpoint (X-Gitlab-Token) and a signing token endpoint (Standard Webhooks:
 * webhook-id, webhook-timestamp at the harness's clock, webhook-signature).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "provider_harness.h"
#include "util/crypto.h"

/* The key of the signing token below, base64-decoded. */
#define GL_KEY "0123456789abcdef0123456789abcdef"
#define GL_TOKEN "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static int gl_sign_token(struct cm_request *req, const void *body, size_t len)
{
    return cm_request_add_header(req, "X-Gitlab-Token", PH_SECRET);
}

/* HMAC-SHA256(key, id "." timestamp "." body), with the input's webhook-id when it has one. */
static int gl_sign_standard(struct cm_request *req, const void *body, size_t len)
{
    const char *id = cm_request_header(req, "webhook-id");
    unsigned char mac[64];
    char ts[32], b64[96], sig[128], *msg;
    size_t idlen, tslen;
    int n, rc;

    if (id && !*id) {
        /* An empty id is refused as missing (nothing to dedupe on): sign a real one instead. */
        for (size_t i = 0; i < req->n_headers; i++) {
            if (strcasecmp(req->headers[i].name, "webhook-id"))
                continue;
            free(req->headers[i].value);
            if (!(req->headers[i].value = strdup("msg_fuzz")))
                return CM_ENOMEM;
        }
        id = "msg_fuzz";
    }
    if (!id) {
        id = "msg_fuzz";
        if ((rc = cm_request_add_header(req, "webhook-id", id)) != CM_OK)
            return rc;
    }
    snprintf(ts, sizeof(ts), "%lld", PH_NOW);
    idlen = strlen(id);
    tslen = strlen(ts);
    if (!(msg = malloc(idlen + tslen + len + 2)))
        return CM_ENOMEM;
    memcpy(msg, id, idlen);
    msg[idlen] = '.';
    memcpy(msg + idlen + 1, ts, tslen);
    msg[idlen + 1 + tslen] = '.';
    memcpy(msg + idlen + tslen + 2, body, len);
    n = cm_crypto_hmac("sha256", GL_KEY, strlen(GL_KEY), msg, idlen + tslen + len + 2, mac);
    free(msg);
    if (n < 0)
        return n;
    cm_crypto_base64_encode(mac, (size_t)n, b64);
    snprintf(sig, sizeof(sig), "v1,%s", b64);
    if ((rc = cm_request_add_header(req, "webhook-timestamp", ts)) != CM_OK)
        return rc;
    return cm_request_add_header(req, "webhook-signature", sig);
}

static const char *const gl_drop_token[] = {"X-Gitlab-Token", NULL};
static const char *const gl_drop_standard[] = {"webhook-timestamp", "webhook-signature", NULL};
static const char *const gl_secrets[] = {PH_SECRET, GL_TOKEN, GL_KEY, NULL};

static const struct ph_endpoint gl_endpoints[] = {
    {"open", NULL, NULL},
    {"locked", gl_sign_token, gl_drop_token},
    {"signed", gl_sign_standard, gl_drop_standard},
};

static const struct ph_spec gl_spec = {
    .config = "endpoints = (\n"
              "  { name = \"open\"; provider = \"gitlab\"; ssh_url = \"ssh://git@gitlab.com\"; },\n"
              "  { name = \"locked\"; provider = \"gitlab\"; secret = \"" PH_SECRET "\";\n"
              "    url = \"https://gitlab.example.com/group\"; },\n"
              "  { name = \"signed\"; provider = \"gitlab\"; signing_token = \"" GL_TOKEN "\";\n"
              "    clone_url = \"ssh://git@gitlab.example.com:2222/{repository}.git\"; }\n"
              ");\n",
    .endpoints = gl_endpoints,
    .n_endpoints = sizeof(gl_endpoints) / sizeof(gl_endpoints[0]),
    .secrets = gl_secrets,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ph_run(&gl_spec, data, size);
}
