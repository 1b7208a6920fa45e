/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL connections for the queue backend: opened and used through libpq's asynchronous
 * API, so no call waits longer than its deadline on a server that went away, and a small pool
 * shared by the threads that append, claim and hand back. Private to core/queue/pg_*.c.
 */
#ifndef CM_PG_CONN_H
#define CM_PG_CONN_H

#include <libpq-fe.h>
#include <stddef.h>

struct cm_pg_conn;
struct cm_pg_pool;

/* Connect to conninfo (a URI or key=value string, several hosts allowed), adding keepalives,
 * target_session_attrs=read-write and server-side statement and idle-transaction timeouts
 * (from timeout_ms) unless conninfo sets them. Waits at most timeout_ms.
 * CM_OK; CM_EAGAIN when the server cannot be reached (err says why). */
int cm_pg_connect(struct cm_pg_conn **out, const char *conninfo, int timeout_ms, char *err,
                  size_t errlen);
void cm_pg_close(struct cm_pg_conn *c);

/* libpq's connection, for LISTEN's socket and notifications. Borrowed. */
PGconn *cm_pg_raw(struct cm_pg_conn *c);

/* Run one statement with text parameters (NULL entries are SQL NULLs; without parameters sql
 * may hold several statements, and the last one's result counts; with them it is prepared
 * once per connection and run by name after), waiting at most
 * timeout_ms; its result into *res (PQclear) when res is not NULL. CM_OK; CM_ERROR when the
 * server refused the statement (err has its message; the connection stays usable); CM_EAGAIN
 * when the server is unreachable or the time ran out (the connection is closed and must be
 * replaced: cm_pg_broken says so). */
int cm_pg_exec(struct cm_pg_conn *c, const char *sql, int nparams, const char *const *params,
               int timeout_ms, PGresult **res, char *err, size_t errlen);

/* The same, where lengths[i] >= 0 sends params[i] as lengths[i] raw bytes (a bytea) and -1
 * as text; lengths NULL: all text. At most CM_PG_MAX_PARAMS parameters. */
#define CM_PG_MAX_PARAMS 16
int cm_pg_exec_bin(struct cm_pg_conn *c, const char *sql, int nparams, const char *const *params,
                   const int *lengths, int timeout_ms, PGresult **res, char *err, size_t errlen);

/* Whether c was closed by a failure and must be replaced. */
int cm_pg_broken(const struct cm_pg_conn *c);

/* A pool of at most size connections to conninfo, made when first needed. */
int cm_pg_pool_new(struct cm_pg_pool **out, const char *conninfo, int size, int timeout_ms);
void cm_pg_pool_free(struct cm_pg_pool *p);
/* A connection for the caller alone until cm_pg_pool_put; waits while all are in use, at most
 * the pool's timeout. CM_OK; CM_EAGAIN when none came free in time or a new connection cannot
 * be made (err says why). */
int cm_pg_pool_get(struct cm_pg_pool *p, struct cm_pg_conn **out, char *err, size_t errlen);
/* Give c back; a broken one is closed and replaced later. */
void cm_pg_pool_put(struct cm_pg_pool *p, struct cm_pg_conn *c);
/* The statement timeout of the pool's connections (ms). */
int cm_pg_pool_timeout(const struct cm_pg_pool *p);

#endif
