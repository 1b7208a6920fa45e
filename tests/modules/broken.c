/* SPDX-License-Identifier: MIT */
/*
 * One provider module source, built several times with -D switches into the deliberately
 * broken modules the loader must refuse (tests/check_loader.c), t_thread, which records
 * its lifecycle (the order of its hooks and the thread start, stop and destroy run on), and
 * t_keys, whose declared config key is checked.
 */
#include <cargoman/plugin.h>

#ifndef T_NAME
#define T_NAME "t_good"
#endif
#ifndef T_ABI
#define T_ABI CM_ABI_VERSION
#endif

#ifdef T_UNDEFINED
void cm_test_no_such_function(void);
#endif

#ifdef T_RECORD_DESTROY
#include <pthread.h>
#include <string.h>
/* Which thread ran destroy, and how often: read by the daemon test through dlsym. */
CM_EXPORT pthread_t t_destroy_thread;
CM_EXPORT int t_destroy_calls;
/* The hooks in the order they ran: c(reate) s(tart) x (stop) d(estroy); the threads of the
 * last start and stop; a start that refuses while t_start_fail is set. */
CM_EXPORT char t_events[256];
CM_EXPORT pthread_t t_start_thread, t_stop_thread;
CM_EXPORT int t_start_fail;
static void t_event(char c)
{
    size_t n = strlen(t_events);
    if (n + 1 < sizeof(t_events))
        t_events[n] = c;
}
#else
#define t_event(c) ((void)0)
#endif

static int t_create(const struct cm_host *host, struct cm_ctx *ctx, void **self)
{
    (void)host;
    (void)ctx;
#ifdef T_UNDEFINED
    cm_test_no_such_function();
#endif
    t_event('c');
    *self = (void *)1;
    return CM_OK;
}

static void t_destroy(void *self)
{
    (void)self;
#ifdef T_RECORD_DESTROY
    t_destroy_thread = pthread_self();
    t_destroy_calls++;
#endif
    t_event('d');
}

static int t_start(void *self)
{
    (void)self;
#ifdef T_RECORD_DESTROY
    t_start_thread = pthread_self();
    if (t_start_fail)
        return CM_ERROR;
#endif
    t_event('s');
    return CM_OK;
}

static void t_stop(void *self)
{
    (void)self;
#ifdef T_RECORD_DESTROY
    t_stop_thread = pthread_self();
#endif
    t_event('x');
}

#ifndef T_NO_VERIFY
static int t_verify(void *self, struct cm_request *req)
{
    (void)self;
    (void)req;
    return CM_OK;
}
#endif

static int t_translate(void *self, struct cm_request *req)
{
    (void)self;
    (void)req;
    return CM_EIGNORE;
}

static const struct cm_conf_key t_keys[] = {{"t_option", CM_CONF_STRING}, {NULL, 0}};

/* Without a descriptor the same table is exported under a name the loader does not seek. */
#ifdef T_NO_DESCRIPTOR
#define T_SYMBOL cargoman_not_a_provider
#else
#define T_SYMBOL cargoman_provider
#endif

CM_EXPORT const struct cm_provider T_SYMBOL = {
    .abi_version = T_ABI,
    .name = T_NAME,
    .version = "0",
    .description = "loader test module",
    .create = t_create,
    .destroy = t_destroy,
#ifndef T_NO_VERIFY
    .verify = t_verify,
#endif
    .translate = t_translate,
    /* 1.1 fields: a module that declares 1.0 must have them ignored (T_V10). */
    .flags = CM_PROVIDER_FORM_PAYLOAD,
    .default_url = "https://t.example",
    /* 1.2: the one key of its own it takes; ignored from a module that declares 1.0. */
    .config_keys = t_keys,
    /* 1.2 hooks: never called in a module that declares 1.0 or 1.1. */
    .start = t_start,
    .stop = t_stop,
};
