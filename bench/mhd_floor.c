/* SPDX-License-Identifier: MIT */
/*
 * The ceiling of the server library: libmicrohttpd started as the gateway starts it (epoll,
 * internal thread pool, the same thread count) that reads each POST body and answers 202 with a
 * fixed JSON, doing no work at all. bench/intake.sh runs it beside the gateway, so the share of
 * this rate the gateway reaches is what verifying, translating and fsyncing cost, and any
 * target above this rate is out of reach for a gateway built on libmicrohttpd.
 *
 *   bench/mhd_floor PORT [THREADS]      (default 16, the gateway's server.http_threads)
 *
 * Listens on 127.0.0.1 only; runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

static const char answer[] = "{\"status\":\"queued\"}";
static char reading; /* con_cls of a request whose body is being read */

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **con_cls)
{
    struct MHD_Response *r;
    MHD_RESULT ret;
    (void)cls, (void)url, (void)method, (void)version, (void)data;

    if (!*con_cls) {
        *con_cls = &reading;
        return MHD_YES;
    }
    if (*size) {
        *size = 0; /* read and dropped, as a body the gateway copies */
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(sizeof(answer) - 1, (void *)answer, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, 202, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    unsigned port, threads = 16;
    struct MHD_Daemon *mhd;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sigset_t set;
    int sig;

    if (argc < 2 || (port = (unsigned)atoi(argv[1])) == 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
        return 2;
    }
    if (argc > 2 && (threads = (unsigned)atoi(argv[2])) == 0) {
        fprintf(stderr, "%s: THREADS must be at least 1\n", argv[0]);
        return 2;
    }
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before MHD's threads, which inherit the mask */
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ITC,
                           (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, 1024u,
                           MHD_OPTION_END);
    if (!mhd) {
        fprintf(stderr, "%s: cannot listen on port %u\n", argv[0], port);
        return 1;
    }
    sigwait(&set, &sig);
    MHD_stop_daemon(mhd);
    return 0;
}
