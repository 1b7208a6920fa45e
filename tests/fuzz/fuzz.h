/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz harness shares: libFuzzer's entry point, which the same harness source
 * offers to clang's libFuzzer (make fuzz) and to replay.c (make check, any compiler), and the
 * check that turns a broken invariant into a crash the fuzzer records.
 */
#ifndef CM_FUZZ_H
#define CM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test must keep, whatever the input: abort() when it does not,
 * so libFuzzer saves the input as a crash and replay.c fails. Never compiled out. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
