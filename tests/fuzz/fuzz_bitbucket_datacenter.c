/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the bitbucket-datacenter provider's verify, sniff and translate through its
 * descriptor, unsigned and signed (X-Hub-Signature: sha256=...) with the endpoint's secret.
 */
#include <stdio.h>

#include "fuzz.h"
#include "provider_harness.h"
#include "util/crypto.h"

static int bbdc_sign(struct cm_request *req, const void *body, size_t len)
{
    char hex[160], value[200];

    if (cm_crypto_hmac_hex("sha256", PH_SECRET, body, len, hex) < 0)
        return CM_ERROR;
    snprintf(value, sizeof(value), "sha256=%s", hex);
    return cm_request_add_header(req, "X-Hub-Signature", value);
}

static const char *const bbdc_drop[] = {"X-Hub-Signature", NULL};
static const char *const bbdc_secrets[] = {PH_SECRET, NULL};

static const struct ph_endpoint bbdc_endpoints[] = {
    {"open", NULL, NULL},
    {"locked", bbdc_sign, bbdc_drop},
};

static const struct ph_spec bbdc_spec = {
    .config =
        "endpoints = (\n"
        "  { name = \"open\"; provider = \"bitbucket-datacenter\";\n"
        "    url = \"https://git.example.com\"; ssh_url = \"ssh://git@git.example.com:7999\"; },\n"
        "  { name = \"locked\"; provider = \"bitbucket-datacenter\"; secret = \"" PH_SECRET "\";\n"
        "    url = \"https://bitbucket.example.com/scm\";\n"
        "    clone_url = \"https://mirror.example.com/scm/{repository}.git\"; }\n"
        ");\n",
    .endpoints = bbdc_endpoints,
    .n_endpoints = sizeof(bbdc_endpoints) / sizeof(bbdc_endpoints[0]),
    .secrets = bbdc_secrets,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ph_run(&bbdc_spec, data, size);
}
