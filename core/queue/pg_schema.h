/* SPDX-License-Identifier: MIT */
/* The queue's PostgreSQL schema and its migrations (pg_schema.c). */
#ifndef CM_PG_SCHEMA_H
#define CM_PG_SCHEMA_H

#include <stddef.h>

struct cm_pg_conn;

/* The schema version this build writes and reads. */
int cm_pg_schema_latest(void);

/* CM_OK when the database has exactly that version; else CM_EINVAL with err saying what to
 * run, or the connection's failure. */
int cm_pg_schema_check(struct cm_pg_conn *c, int timeout_ms, char *err, size_t errlen);

/* Apply the migrations the database lacks, all in one transaction under an advisory lock.
 * *from and *to get the versions before and after. CM_OK, CM_EINVAL (the database is newer
 * than this build), or the connection's failure; nothing is applied unless all are. */
int cm_pg_migrate(struct cm_pg_conn *c, int timeout_ms, int *from, int *to, char *err,
                  size_t errlen);

#endif
