/* SPDX-License-Identifier: MIT */
/*
 * libpq connections driven through its asynchronous API: every wait is a poll() with a
 * deadline, so a database that stops answering costs a request its timeout (answered 503),
 * never a thread parked for good.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cargoman/plugin.h>

#include "queue/pg_conn.h"
#include "util/deadline.h"

/* Statements with parameters are prepared once per connection: the server then parses and
 * plans each once instead of on every webhook (bench/cluster.sh: parsing and planning were
 * some 40% of PostgreSQL's time). */
#define PC_MAX_PREPARED 32

struct cm_pg_conn {
    PGconn *pg;
    int broken;
    char *prepared[PC_MAX_PREPARED]; /* the text of statement "cm<i>", owned */
    int n_prepared;
};

/* Copy libpq's message without its trailing newline. */
static void pc_message(char *err, size_t errlen, const char *what, const char *msg)
{
    size_t n = msg ? strcspn(msg, "\n") : 0;
    snprintf(err, errlen, "%s%s%.*s", what, n ? ": " : "", (int)n, msg ? msg : "");
}

/* Wait until the socket is ready for events or the deadline passes: 1 ready, 0 timed out,
 * -1 error. */
static int pc_wait(PGconn *pg, short events, long long deadline)
{
    struct pollfd p = {.fd = PQsocket(pg), .events = events};
    int rc;

    if (p.fd < 0)
        return -1;
    do {
        long long left = deadline - cm_monotonic_ms();
        if (left <= 0)
            return 0;
        rc = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -1 : rc > 0;
}

static void pc_quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

int cm_pg_connect(struct cm_pg_conn **out, const char *conninfo, int timeout_ms, char *err,
                  size_t errlen)
{
    /* Defaults first: the expanded conninfo that follows overrides any of them. */
    static const char *const keys[] = {"keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "target_session_attrs",
                                       "application_name",
                                       "options",
                                       "dbname",
                                       NULL};
    /* The server ends, by itself, what this side stopped waiting for: libpq 15 has no cancel
     * that keeps a deadline (PQcancel waits as long as a hung server does), so a connection
     * that ran out of time is dropped, and the server's own timeouts end its statement and
     * any transaction it held open. */
    char options[128];
    const char *values[] = {"1",        "30",    "10",     "3", "read-write",
                            "cargoman", options, conninfo, NULL};
    long long deadline = cm_monotonic_ms() + timeout_ms;
    struct cm_pg_conn *c = calloc(1, sizeof(*c));
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    snprintf(options, sizeof(options),
             "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d", timeout_ms,
             timeout_ms > 5000 ? 2 * timeout_ms : 10000);
    *out = NULL;
    if (!c)
        return CM_ENOMEM;
    if (!(c->pg = PQconnectStartParams(keys, values, 1)) || PQstatus(c->pg) == CONNECTION_BAD) {
        pc_message(err, errlen, "cannot connect to PostgreSQL",
                   c->pg ? PQerrorMessage(c->pg) : "out of memory");
        cm_pg_close(c);
        return CM_EAGAIN;
    }
    while (st != PGRES_POLLING_OK) {
        int w;
        if (st == PGRES_POLLING_FAILED) {
            pc_message(err, errlen, "cannot connect to PostgreSQL", PQerrorMessage(c->pg));
            cm_pg_close(c);
            return CM_EAGAIN;
        }
        w = pc_wait(c->pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (w <= 0) {
            snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                     w == 0 ? "no answer in time" : strerror(errno));
            cm_pg_close(c);
            return CM_EAGAIN;
        }
        st = PQconnectPoll(c->pg);
    }
    /* Notices ("already exists, skipping") are the server talking to itself: libpq would
     * print them on stderr. */
    PQsetNoticeProcessor(c->pg, pc_quiet, NULL);
    if (PQsetnonblocking(c->pg, 1) != 0) {
        pc_message(err, errlen, "cannot use PostgreSQL without blocking", PQerrorMessage(c->pg));
        cm_pg_close(c);
        return CM_EAGAIN;
    }
    *out = c;
    return CM_OK;
}

static void pc_forget_prepared(struct cm_pg_conn *c)
{
    for (int i = 0; i < c->n_prepared; i++)
        free(c->prepared[i]);
    c->n_prepared = 0;
}

void cm_pg_close(struct cm_pg_conn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    pc_forget_prepared(c);
    free(c);
}

PGconn *cm_pg_raw(struct cm_pg_conn *c)
{
    return c->pg;
}

int cm_pg_broken(const struct cm_pg_conn *c)
{
    return c->broken;
}

/* The connection can no longer be trusted: drop it (the server's statement_timeout ends what
 * it still runs, cm_pg_connect). CM_EAGAIN, for the caller to return. */
static int pc_break(struct cm_pg_conn *c, char *err, size_t errlen, const char *why)
{
    pc_message(err, errlen, "PostgreSQL", why);
    PQfinish(c->pg);
    c->pg = NULL;
    c->broken = 1;
    return CM_EAGAIN;
}

/* What pc_run sends. */
enum pc_kind { PC_SIMPLE, PC_PARAMS, PC_PREPARE, PC_PREPARED };

/* Send one request of kind (name: the prepared statement's) and wait until deadline for its
 * last result: cm_pg_exec's answers. */
static int pc_run(struct cm_pg_conn *c, enum pc_kind kind, const char *name, const char *sql,
                  int nparams, const char *const *params, const int *lengths, long long deadline,
                  PGresult **res, char *err, size_t errlen)
{
    int formats[CM_PG_MAX_PARAMS];
    PGresult *last = NULL, *r;
    int flushed, sent = 0;

    if (res)
        *res = NULL;
    if (c->broken || !c->pg)
        return pc_break(c, err, errlen, "connection lost");
    for (int i = 0; lengths && i < nparams; i++)
        formats[i] = lengths[i] >= 0; /* a length makes the parameter binary */
    switch (kind) {
    /* The simple protocol takes several statements in one string. */
    case PC_SIMPLE: sent = PQsendQuery(c->pg, sql); break;
    case PC_PARAMS:
        sent = PQsendQueryParams(c->pg, sql, nparams, NULL, params, lengths,
                                 lengths ? formats : NULL, 0);
        break;
    case PC_PREPARE: sent = PQsendPrepare(c->pg, name, sql, nparams, NULL); break;
    case PC_PREPARED:
        sent =
            PQsendQueryPrepared(c->pg, name, nparams, params, lengths, lengths ? formats : NULL, 0);
        break;
    }
    if (!sent)
        return pc_break(c, err, errlen, PQerrorMessage(c->pg));
    while ((flushed = PQflush(c->pg)) == 1) {
        if (pc_wait(c->pg, POLLOUT | POLLIN, deadline) <= 0)
            return pc_break(c, err, errlen, "no answer in time");
        if (!PQconsumeInput(c->pg))
            return pc_break(c, err, errlen, PQerrorMessage(c->pg));
    }
    if (flushed < 0)
        return pc_break(c, err, errlen, PQerrorMessage(c->pg));
    for (;;) {
        while (PQisBusy(c->pg)) {
            if (pc_wait(c->pg, POLLIN, deadline) <= 0) {
                PQclear(last);
                return pc_break(c, err, errlen, "no answer in time");
            }
            if (!PQconsumeInput(c->pg)) {
                PQclear(last);
                return pc_break(c, err, errlen, PQerrorMessage(c->pg));
            }
        }
        if (!(r = PQgetResult(c->pg)))
            break;
        PQclear(last);
        last = r;
    }
    if (!last)
        return pc_break(c, err, errlen, "no result");
    if (PQresultStatus(last) != PGRES_COMMAND_OK && PQresultStatus(last) != PGRES_TUPLES_OK) {
        int lost = PQstatus(c->pg) == CONNECTION_BAD;
        const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);
        /* A prepared statement the server no longer has (DISCARD ALL, a pooler between us):
         * forget them all, to be prepared again. */
        if (state && !strcmp(state, "26000"))
            pc_forget_prepared(c);
        pc_message(err, errlen, "PostgreSQL", PQresultErrorMessage(last));
        PQclear(last);
        if (lost) {
            PQfinish(c->pg);
            c->pg = NULL;
            c->broken = 1;
            return CM_EAGAIN;
        }
        return CM_ERROR;
    }
    if (res)
        *res = last;
    else
        PQclear(last);
    return CM_OK;
}

int cm_pg_exec(struct cm_pg_conn *c, const char *sql, int nparams, const char *const *params,
               int timeout_ms, PGresult **res, char *err, size_t errlen)
{
    return cm_pg_exec_bin(c, sql, nparams, params, NULL, timeout_ms, res, err, errlen);
}

int cm_pg_exec_bin(struct cm_pg_conn *c, const char *sql, int nparams, const char *const *params,
                   const int *lengths, int timeout_ms, PGresult **res, char *err, size_t errlen)
{
    long long deadline = cm_monotonic_ms() + timeout_ms;
    char name[16];
    int i, rc;

    if (nparams > CM_PG_MAX_PARAMS) {
        snprintf(err, errlen, "too many parameters");
        return CM_ERROR;
    }
    if (!nparams)
        return pc_run(c, PC_SIMPLE, NULL, sql, 0, NULL, NULL, deadline, res, err, errlen);
    for (i = 0; i < c->n_prepared && strcmp(c->prepared[i], sql) != 0; i++)
        ;
    snprintf(name, sizeof(name), "cm%d", i);
    if (i == c->n_prepared) {
        /* More statements than the cache holds: sent whole, as before. */
        if (i == PC_MAX_PREPARED || !(c->prepared[i] = strdup(sql)))
            return pc_run(c, PC_PARAMS, NULL, sql, nparams, params, lengths, deadline, res, err,
                          errlen);
        if ((rc = pc_run(c, PC_PREPARE, name, sql, nparams, NULL, NULL, deadline, NULL, err,
                         errlen)) != CM_OK) {
            free(c->prepared[i]);
            return rc;
        }
        c->n_prepared++;
    }
    return pc_run(c, PC_PREPARED, name, sql, nparams, params, lengths, deadline, res, err, errlen);
}

/* --- pool ------------------------------------------------------------------------------- */

struct cm_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    int size, timeout_ms;
    int out;                  /* connections handed out */
    struct cm_pg_conn **idle; /* up to size */
    int n_idle;
};

/* Whether an idle connection still has its server. A pooled connection is silent while idle
 * (it does not LISTEN), so anything to read is the server going away: its last FATAL message,
 * then the end of the stream, which libpq may only see on a later read. Such a connection is
 * dropped before reuse, so the first request after a database restart is not the one that
 * finds out. */
static int pc_alive(struct cm_pg_conn *c)
{
    struct pollfd p = {.fd = c->pg ? PQsocket(c->pg) : -1, .events = POLLIN};

    if (c->broken || p.fd < 0 || PQstatus(c->pg) != CONNECTION_OK)
        return 0;
    return poll(&p, 1, 0) == 0;
}

int cm_pg_pool_new(struct cm_pg_pool **out, const char *conninfo, int size, int timeout_ms)
{
    struct cm_pg_pool *p = calloc(1, sizeof(*p));

    if (!p || !(p->conninfo = strdup(conninfo)) ||
        !(p->idle = calloc((size_t)size, sizeof(*p->idle)))) {
        if (p)
            free(p->conninfo);
        free(p);
        return CM_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->size = size;
    p->timeout_ms = timeout_ms;
    *out = p;
    return CM_OK;
}

void cm_pg_pool_free(struct cm_pg_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_idle; i++)
        cm_pg_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->idle);
    free(p->conninfo);
    free(p);
}

int cm_pg_pool_get(struct cm_pg_pool *p, struct cm_pg_conn **out, char *err, size_t errlen)
{
    struct timespec until = cm_realtime_after_ms(p->timeout_ms);
    int rc;

    pthread_mutex_lock(&p->mu);
    /* The holders' statements end within their deadline; waiting longer than one means the
     * database is too slow for this load: the caller answers 503 rather than queue up. */
    while (!p->n_idle && p->out >= p->size) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT && !p->n_idle &&
            p->out >= p->size) {
            pthread_mutex_unlock(&p->mu);
            snprintf(err, errlen,
                     "all %d connections to PostgreSQL stayed busy for %d ms (queue.connections, "
                     "queue.timeout_ms)",
                     p->size, p->timeout_ms);
            return CM_EAGAIN;
        }
    }
    p->out++;
    while (p->n_idle) {
        struct cm_pg_conn *c = p->idle[--p->n_idle];
        if (pc_alive(c)) {
            pthread_mutex_unlock(&p->mu);
            *out = c;
            return CM_OK;
        }
        cm_pg_close(c);
    }
    pthread_mutex_unlock(&p->mu);
    /* Connecting outside the lock: the others keep using theirs meanwhile. */
    if ((rc = cm_pg_connect(out, p->conninfo, p->timeout_ms, err, errlen)) != CM_OK) {
        pthread_mutex_lock(&p->mu);
        p->out--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

void cm_pg_pool_put(struct cm_pg_pool *p, struct cm_pg_conn *c)
{
    pthread_mutex_lock(&p->mu);
    p->out--;
    /* A connection left inside a transaction (a failure between BEGIN and COMMIT) would run
     * the next caller's statements in it: it is closed instead. */
    if (c && !c->broken && c->pg && PQtransactionStatus(c->pg) == PQTRANS_IDLE &&
        p->n_idle < p->size)
        p->idle[p->n_idle++] = c;
    else
        cm_pg_close(c);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int cm_pg_pool_timeout(const struct cm_pg_pool *p)
{
    return p->timeout_ms;
}
