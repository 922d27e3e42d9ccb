/*
 * store_pg.h - the store on PostgreSQL/PostGIS: the executor the backend
 * runs its SQL through. tg_store_open with a "postgresql://" or "postgres://"
 * URI (or a libpq "key=value" string starting with "host=", "dbname=" or
 * "service=") opens a libpq connection and uses the executor below made on
 * it; a program that already runs inside the server (the PostgreSQL
 * extension, over SPI) gives its own executor to tg_store_open_pg. Either
 * way every tg_store_* call of store.h works, with the same SQL
 * (src/store/pg*.c) and the schema of src/store/schema_pg.sql.
 *
 *     static int my_run(tg_ctx *ctx, void *conn, const char *sql, int n,
 *                       const tg_pg_value *params, tg_pg_rows **rows) { ... SPI_execute_with_args ... }
 *     tg_pg_executor ex = {.conn = NULL, .run = my_run, .n_rows = my_n_rows, .get = my_get,
 *                          .free_rows = my_free, .in_transaction = 1, .label = "spi"};
 *     tg_store *st = NULL;
 *     if (tg_store_open_pg(ctx, &ex, TG_STORE_READONLY, &st)) ...;
 *     tg_locator_open(ctx, st, &opts, &loc);      // locate.h: same locator as SQLite
 *
 * Ownership: the executor struct is copied; conn stays the caller's (the
 * store never closes it, unless it made it: tg_store_open). Results
 * (tg_pg_rows) belong to the executor until free_rows.
 */
#ifndef TG_STORE_PG_H
#define TG_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A parameter or a column value. */
enum {
    TG_PG_NULL = 0,
    TG_PG_INT64 = 1,  /* i: int2, int4, int8, bool (0/1) */
    TG_PG_DOUBLE = 2, /* d: float4, float8 */
    TG_PG_TEXT = 3,   /* s: NUL-terminated text (text, varchar, name) */
    TG_PG_BYTES = 4   /* b, n: bytea */
};

typedef struct tg_pg_value {
    int kind;         /* TG_PG_* */
    int64_t i;
    double d;
    const char *s;
    const void *b;
    size_t n;         /* bytes of b */
} tg_pg_value;

typedef struct tg_pg_rows tg_pg_rows; /* a result set, the executor's own type */

typedef struct tg_pg_executor {
    void *conn;       /* the executor's connection (passed back to run) */
    /* Run one SQL statement with parameters $1..$n_params. rows: NULL when
     * the caller wants no result, else [out] *rows (free_rows it). Returns 0,
     * or a negative TG_E* code with the message set in ctx: TG_EBUSY for
     * a lock or serialization failure (retry), TG_EIO when the server is
     * gone, TG_EDB otherwise; the message names the server (label). With
     * n_params = 0 and rows = NULL, sql may hold several statements
     * separated by ';' (the schema file). */
    int (*run)(tg_ctx *ctx, void *conn, const char *sql, int n_params,
               const tg_pg_value *params, tg_pg_rows **rows);
    long (*n_rows)(const tg_pg_rows *rows);
    /* Column col of row `row` (0-based): kind by the column's type (see the
     * enum); strings and bytes point into rows. Returns 0, or TG_EINVAL for
     * a position out of range or a type the executor does not convert. */
    int (*get)(const tg_pg_rows *rows, long row, int col, tg_pg_value *out);
    void (*free_rows)(tg_pg_rows *rows);
    /* 1: the caller already runs a transaction the store's statements join
     * (SPI): the store never sends BEGIN, COMMIT or ROLLBACK, and indexing
     * (which commits each piece) is refused. 0: a client connection. */
    int in_transaction;
    const char *label; /* the server, for messages ("user@host:port/db"); copied */
} tg_pg_executor;

/* Open a store over an executor: checks the schema version (a newer one is
 * refused, TG_EDB naming it) and, unless TG_STORE_READONLY, creates what is
 * missing of the schema (TG_STORE_CREATE; PostGIS must be installed, or the
 * user allowed to CREATE EXTENSION postgis). [out] *out. Returns 0, TG_EDB,
 * TG_EIO, TG_ENOMEM. */
TG_API int tg_store_open_pg(tg_ctx *ctx, const tg_pg_executor *ex, int flags, tg_store **out);

/* 1 when `db` names a PostgreSQL database for tg_store_open (a
 * postgresql:// or postgres:// URI, or a libpq key=value string), else 0. */
TG_API int tg_store_is_pg(const char *db);

/* 1 when the store is on PostgreSQL. */
TG_API int tg_store_on_pg(const tg_store *st);

/* The SQL of src/store/schema_pg.sql. */
TG_API const char *tg_store_schema_pg_sql(void);

#ifdef __cplusplus
}
#endif
#endif /* TG_STORE_PG_H */
