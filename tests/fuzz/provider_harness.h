/* SPDX-License-Identifier: MIT */
/*
 * The harness every provider target shares: one input is a delivery written as
 * "Name: value" header lines, an empty line, then the raw body; it is dispatched to each
 * endpoint the target configures, as sent and, where the endpoint has a signer, signed with
 * the endpoint's own secret so that the fuzzer reaches translate past verify.
 */
#ifndef CM_FUZZ_PROVIDER_HARNESS_H
#define CM_FUZZ_PROVIDER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "cargoman/plugin.h"
#include "intake/request.h"

/* The provider under test, linked in from providers/<name>/<name>.c. */
extern const struct cm_provider cargoman_provider;

/* The clock host->now() returns while fuzzing, so signed timestamps and events are stable. */
#define PH_NOW 1714000000LL

/* The secret of every endpoint that has one. */
#define PH_SECRET "fuzz-secret"

struct ph_endpoint {
    const char *name; /* an endpoint of ph_spec.config */
    /* Add to req the headers the host would sign body with (req holds the input's other
     * headers already). NULL: the endpoint only gets the input as it is. */
    int (*sign)(struct cm_request *req, const void *body, size_t len);
    const char *const *drop; /* headers sign sets, removed from the input first; NULL-ended */
};

struct ph_spec {
    const char *config; /* libconfig text defining the endpoints, all of this provider */
    const struct ph_endpoint *endpoints;
    size_t n_endpoints;
    const char *const *secrets; /* what no answer may contain (unless the input does); NULL-ended */
};

/* Run one input through spec's endpoints; aborts when an invariant breaks. Returns 0. */
int ph_run(const struct ph_spec *spec, const uint8_t *data, size_t size);

#endif
