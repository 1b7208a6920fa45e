/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the github provider's verify, sniff and translate through its descriptor. The
 * signed endpoint gets X-Hub-Signature-256, or for odd-length bodies only the legacy sha1
 * X-Hub-Signature (it allows legacy_sha1), so both verify paths lead on to translate.
 */
#include <stdio.h>

#include "fuzz.h"
#include "provider_harness.h"
#include "util/crypto.h"

static int gh_sign(struct cm_request *req, const void *body, size_t len)
{
    char hex[160], value[200];
    int sha1 = len % 2;

    if (cm_crypto_hmac_hex(sha1 ? "sha1" : "sha256", PH_SECRET, body, len, hex) < 0)
        return CM_ERROR;
    snprintf(value, sizeof(value), "%s=%s", sha1 ? "sha1" : "sha256", hex);
    return cm_request_add_header(req, sha1 ? "X-Hub-Signature" : "X-Hub-Signature-256", value);
}

static const char *const gh_drop[] = {"X-Hub-Signature", "X-Hub-Signature-256", NULL};
static const char *const gh_secrets[] = {PH_SECRET, NULL};

static const struct ph_endpoint gh_endpoints[] = {
    {"open", NULL, NULL},
    {"locked", gh_sign, gh_drop},
};

static const struct ph_spec gh_spec = {
    .config = "endpoints = (\n"
              "  { name = \"open\"; provider = \"github\"; ssh_url = \"ssh://git@github.com\"; },\n"
              "  { name = \"locked\"; provider = \"github\"; secret = \"" PH_SECRET "\";\n"
              "    legacy_sha1 = true;\n"
              "    clone_url = \"https://git.example.com/mirror/{repository}.git\"; }\n"
              ");\n",
    .endpoints = gh_endpoints,
    .n_endpoints = sizeof(gh_endpoints) / sizeof(gh_endpoints[0]),
    .secrets = gh_secrets,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ph_run(&gh_spec, data, size);
}
