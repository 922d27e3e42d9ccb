/* store_int.h - what the store's files share and nothing outside the store
 * layer may include: the layout of tg_store and tg_tileset, and the SQLite
 * helpers (prepare, transactions, messages) every store file uses. The
 * public interface is include/transgeo/store.h.
 *
 * Files of the layer: db.c (connection, schema, sha256, footprints),
 * registry.c (models), files.c (the policy for files the database names),
 * geomblob.c (SpatiaLite geometry BLOBs), tileset.c
 * (tiles in memory, matching), matrix.c (the tileset's mapped matrix file),
 * prior.c (spatial prior), search.c + qscan.c (tg_index and its kernels);
 * src/index/index.c (the raster indexer) builds on them. */
#ifndef TG_STORE_INT_H
#define TG_STORE_INT_H

#include <stdint.h>

#include <sqlite3.h>

#include "transgeo/model.h"
#include "transgeo/search.h"
#include "transgeo/store.h"

/* A loaded model, cached by tg_models.id. */
typedef struct model_entry {
    int64_t id;
    char sha256[65];
    tg_model *model;
    struct model_entry *next;
} model_entry;

struct tgst_matrix;

struct tg_tileset {
    int64_t model_id;
    int dim;
    tg_index *ix;             /* embeddings + tile ids, ids ascending */
    double *lon, *lat;        /* tile centre per row, degrees */
    double *stride_m;         /* raster stride per row, metres */
    int64_t *raster_id;       /* per row */
    size_t cap;               /* allocated rows of the arrays above (0 while mapped) */
    struct tgst_matrix *mx;   /* the mapped matrix file (matrix.h) the index and the
                                 four arrays above point into (read-only), or NULL
                                 when they are this tileset's own memory */
    int codec;                /* TG_CODEC_* of ix */
    long long seen_inserted;  /* tg_models.n_inserted when last loaded */
    long long seen_removed;   /* tg_models.n_removed when last loaded */
    struct tg_tileset *next;
};

struct tg_store {
    sqlite3 *db;
    int owns_db;              /* 1: opened by tg_store_open, closed by tg_store_close */
    model_entry *models;
    model_entry *retired;     /* replaced in the cache: callers may still hold them
                                 (valid until tg_store_close, as store.h promises) */
    tg_tileset *tilesets;
    int no_matrix;            /* 1: never map or write matrix files (tg_store_set_matrix) */
    /* File policy (tg_store_set_files; files.c): database-named files only
     * under trusted_dirs (resolved) or, for models, with a trusted sha256. */
    int files_restricted;
    char **trusted_dirs;
    size_t n_trusted_dirs;
    char (*trusted_sha)[65];  /* lower-case hex */
    size_t n_trusted_sha;
    char *files_hint;
};

/* Write transactions: BEGIN IMMEDIATE when the connection has none open (so
 * the write lock is taken up front and the busy handler applies), else a
 * SAVEPOINT inside the caller's transaction. Inside a running statement that
 * writes, neither is possible: the writes then join that statement's
 * transaction ("joined": begin/commit do nothing, and a failure is undone by
 * the statement's own rollback when the function reports it). */
typedef struct txn {
    int nested;
    int joined;
    const char *name;
} txn;

/* Set the context's error from the connection's (TG_EBUSY for a lock, else
 * TG_EDB), naming what was being done. Returns the code. */
int tgst_fail(tg_ctx *ctx, sqlite3 *db, const char *what);
/* sqlite3_exec of sql; errors as tgst_fail. */
int tgst_exec(tg_ctx *ctx, sqlite3 *db, const char *sql);
/* sqlite3_prepare_v2; *stmt = NULL and the error set on failure. */
int tgst_prepare(tg_ctx *ctx, sqlite3 *db, const char *sql, sqlite3_stmt **stmt);
/* 1 when a statement of this connection that writes is running. */
int tgst_writer_busy(sqlite3 *db);
int tgst_txn_begin(tg_ctx *ctx, sqlite3 *db, txn *t, const char *name);
int tgst_txn_commit(tg_ctx *ctx, sqlite3 *db, txn *t);
void tgst_txn_rollback(sqlite3 *db, txn *t);
/* The database's file name for messages, or ":memory:". */
const char *tgst_label(sqlite3 *db);
/* TG_EDB "database 'x' is read-only: cannot <what>" unless writable. */
int tgst_check_writable(tg_ctx *ctx, sqlite3 *db, const char *what);
/* Embeddings are stored little-endian: 1 on a little-endian host; else the
 * floats are swapped in place with tgst_swap_floats. */
int tgst_little_endian(void);
void tgst_swap_floats(float *v, int n);
/* SpatiaLite BLOB-Geometry of a footprint polygon (4 corners, lon/lat) or a
 * point, SRID 4326; *blob is malloc'ed. Returns 0, or -1 out of memory. */
int tgst_footprint_blob(const double c[4][2], unsigned char **blob, int *size);
int tgst_point_blob(double lon, double lat, unsigned char **blob, int *size);
/* TG_EMODEL: the registry row m does not describe the loaded model (the
 * name was registered again, or tg_models edited); says how to fix it. */
int tgst_model_row_mismatch(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                            const tg_model *model);
/* Free the file policy's lists (tg_store_close). */
void tgst_files_clear(tg_store *st);

/* GDAL's SHA-256 (port/cpl_sha256.c) is exported by libgdal but its header,
 * cpl_sha256.h, is not installed; these are its declarations (GDAL >= 2.1).
 * The context is opaque to us: a buffer larger than GDAL's 112-byte struct. */
typedef struct {
    _Alignas(16) unsigned char opaque[256];
} cpl_sha256_ctx;
void CPL_SHA256Init(cpl_sha256_ctx *sc);
void CPL_SHA256Update(cpl_sha256_ctx *sc, const void *data, size_t len);
void CPL_SHA256Final(cpl_sha256_ctx *sc, unsigned char hash[32]);

/* Free a tileset (its index and arrays). */
void tgst_tileset_free(tg_tileset *ts);

#endif /* TG_STORE_INT_H */
