/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the bitbucket-cloud provider's verify, sniff and translate through its
 * descriptor, unsigned and signed (X-Hub-Signature: sha256=...) with the endpoint's secret.
 * Its clone URLs are made from the endpoint's url, so a self-hosted url is fuzzed too.
 */
#include <stdio.h>

#include "fuzz.h"
#include "provider_harness.h"
#include "util/crypto.h"

static int bbc_sign(struct cm_request *req, const void *body, size_t len)
{
    char hex[160], value[200];

    if (cm_crypto_hmac_hex("sha256", PH_SECRET, body, len, hex) < 0)
        return CM_ERROR;
    snprintf(value, sizeof(value), "sha256=%s", hex);
    return cm_request_add_header(req, "X-Hub-Signature", value);
}

static const char *const bbc_drop[] = {"X-Hub-Signature", NULL};
static const char *const bbc_secrets[] = {PH_SECRET, NULL};

static const struct ph_endpoint bbc_endpoints[] = {
    {"open", NULL, NULL},
    {"locked", bbc_sign, bbc_drop},
};

static const struct ph_spec bbc_spec = {
    .config = "endpoints = (\n"
              "  { name = \"open\"; provider = \"bitbucket-cloud\";\n"
              "    ssh_url = \"ssh://git@bitbucket.org\"; },\n"
              "  { name = \"locked\"; provider = \"bitbucket-cloud\"; secret = \"" PH_SECRET "\";\n"
              "    url = \"https://bitbucket.example.com:8443\"; }\n"
              ");\n",
    .endpoints = bbc_endpoints,
    .n_endpoints = sizeof(bbc_endpoints) / sizeof(bbc_endpoints[0]),
    .secrets = bbc_secrets,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ph_run(&bbc_spec, data, size);
}
