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
 * the PostgreSQL/PostGIS backend: pg.c (executor, connection, schema),
 * pg_registry.c, pg_query.c, pg_index.c, reached from the public functions
 * by `if (st->pg)`; src/index/index.c (the raster indexer) builds on them. */
#ifndef TG_STORE_INT_H
#define TG_STORE_INT_H

#include <stdint.h>

#include <sqlite3.h>

#include "transgeo/model.h"
#include "transgeo/search.h"
#include "transgeo/store.h"
#include "transgeo/store_pg.h"

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
    long long seen_inserted;  /* tg_models.n_inserted when last loaded (PostgreSQL:
                                 the model's tile count) */
    long long seen_removed;   /* tg_models.n_removed when last loaded (PostgreSQL:
                                 tg_meta 'tiles_removed') */
    struct tg_tileset *next;
};

/* The PostgreSQL side of a store (pg.c). */
typedef struct tgpg {
    tg_pg_executor ex;        /* what runs the SQL (libpq, or the extension's SPI) */
    char label[512];          /* "user@host:port/db" for messages: never a password */
    int readonly;             /* opened TG_STORE_READONLY */
    int owned;                /* ex.conn is a libpq connection of ours (tgpg_close frees it) */
} tgpg;

struct tg_store {
    sqlite3 *db;              /* NULL on PostgreSQL */
    tgpg *pg;                 /* non-NULL on PostgreSQL: every public call dispatches to pg*.c */
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

/* The store's tileset of model m (dim floats a row), made empty when there is
 * none or its size differs (a model registered again); both backends then
 * load rows into it. [out] *out, owned by the store. Returns 0, TG_ENOMEM. */
int tgst_tileset_slot(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                      tg_tileset **out);
/* Room for n rows in the tileset's own arrays and index. Returns 0, TG_ENOMEM. */
int tgst_tileset_grow(tg_ctx *ctx, tg_tileset *ts, size_t n);
/* A new empty tileset of its own (not the store's): [out] *out. Returns 0,
 * TG_ENOMEM. */
int tgst_tileset_new(tg_ctx *ctx, int64_t model_id, int dim, tg_tileset **out);
/* Append one tile row to ts (ids ascending): its embedding (nb bytes of
 * little-endian float32, checked against ts->dim: TG_EMODEL) swapped through
 * tmp (dim floats; NULL on a little-endian host). Both backends' loaders
 * call it. Returns 0, TG_EMODEL, TG_ENOMEM. */
int tgst_tileset_append(tg_ctx *ctx, tg_tileset *ts, int64_t id, double lon, double lat,
                        int64_t raster_id, double stride_m, const void *emb, size_t nb,
                        float *tmp);
/* Free a tileset (its index and arrays). */
void tgst_tileset_free(tg_tileset *ts);

/* Registry helpers shared by both backends (registry.c). */
void tgst_parse_config(const char *json, tg_store_model *m);
int tgst_config_diff(const char *old_json, const char *new_json, char *buf, size_t cap);
/* The search frame of a prior (prior.c): the geometry's box grown by
 * radius_m, [xlo, xhi] x [lat_lo, lat_hi], plus a wrapped longitude range
 * [wlo, whi] across the antimeridian (empty when wlo > whi). */
void tgst_prior_frame(double minx, double miny, double maxx, double maxy, double radius_m,
                      double *xlo, double *xhi, double *lat_lo, double *lat_hi, double *wlo,
                      double *whi);

/* ---- PostgreSQL (pg.c and the pg_*.c files) ---------------------------- */

int tgpg_open_uri(tg_ctx *ctx, const char *uri, int flags, tg_store **out);
void tgpg_close(tg_store *st);
int tgpg_run(tg_ctx *ctx, tg_store *st, const char *sql, int n, const tg_pg_value *p,
             tg_pg_rows **rows);
long tgpg_n(const tg_store *st, const tg_pg_rows *r);
int64_t tgpg_i(const tg_store *st, const tg_pg_rows *r, long row, int col);
double tgpg_d(const tg_store *st, const tg_pg_rows *r, long row, int col);
const char *tgpg_s(const tg_store *st, const tg_pg_rows *r, long row, int col); /* NULL: null */
const void *tgpg_b(const tg_store *st, const tg_pg_rows *r, long row, int col, size_t *n);
int tgpg_null(const tg_store *st, const tg_pg_rows *r, long row, int col);
void tgpg_free(const tg_store *st, tg_pg_rows *r);
/* BEGIN [mode] / COMMIT / ROLLBACK; nothing when the executor runs inside
 * the caller's transaction. */
int tgpg_begin(tg_ctx *ctx, tg_store *st, const char *mode);
int tgpg_commit(tg_ctx *ctx, tg_store *st);
void tgpg_rollback(tg_store *st);
int tgpg_check_writable(tg_ctx *ctx, tg_store *st, const char *what);
int tgpg_has_schema(tg_ctx *ctx, tg_store *st);
int tgpg_ensure_schema(tg_ctx *ctx, tg_store *st);
/* Parameter constructors. */
#define PG_I(x) ((tg_pg_value){.kind = TG_PG_INT64, .i = (x)})
#define PG_D(x) ((tg_pg_value){.kind = TG_PG_DOUBLE, .d = (x)})
#define PG_T(x) ((tg_pg_value){.kind = TG_PG_TEXT, .s = (x)})
#define PG_B(p, len) ((tg_pg_value){.kind = TG_PG_BYTES, .b = (p), .n = (len)})

/* One embedded tile waiting to be written (src/index/index.c). */
typedef struct tgst_pending {
    int col, row;
    double lon, lat;          /* centre, degrees */
    int win[4];               /* source window x, y, w, h, pixels */
    double corners[4][2];     /* UL, UR, LR, LL lon/lat (PostgreSQL footprint) */
    unsigned char *geom;      /* SpatiaLite footprint BLOB (SQLite only) */
    int geom_size;
    float *emb;               /* out_dim floats, already little-endian */
} tgst_pending;

/* pg_index.c: the PostgreSQL steps of tg_store_index_raster (index.c
 * drives them; see schema_pg.sql, "Parallel indexing"). */
/* Bytes of the model's stored embeddings (-1: no tile yet). */
int tgpg_embedding_bytes(tg_ctx *ctx, tg_store *st, int64_t model_id, long long *bytes);
/* Find the raster row, or insert it with its pieces (rows_per_piece rows
 * each) in one transaction. [out] *id, *complete, *gsd_m, *n_tiles. */
int tgpg_raster_row(tg_ctx *ctx, tg_store *st, const char *path, const char *sha,
                    const char *crs, double tile_m, double stride_m, double gsd_m,
                    int64_t model_id, int n_cols, int n_rows, int rows_per_piece, int64_t *id,
                    int *complete, double *gsd_out, long long *n_tiles);
/* Open a transaction and claim a piece not done: first one nobody holds
 * (SKIP LOCKED); when all left are held, wait (wait = 1) for the first.
 * Returns 1 with the transaction open and [out] *row_begin, *row_end; 0 when
 * every piece is done or (wait = 0) held by others (no transaction open);
 * negative on error (rolled back). [out] *n_left: pieces not done. */
int tgpg_claim(tg_ctx *ctx, tg_store *st, int64_t raster_id, int wait, int *row_begin,
               int *row_end, long long *n_left);
/* The tiles already stored in rows [row_begin, row_end): calls set(col, row). */
int tgpg_present(tg_ctx *ctx, tg_store *st, int64_t raster_id, int row_begin, int row_end,
                 void (*set)(void *user, int col, int row), void *user);
/* INSERT ... ON CONFLICT DO NOTHING of n tiles, in the open transaction.
 * [out] *added. */
int tgpg_insert_tiles(tg_ctx *ctx, tg_store *st, int64_t raster_id, int64_t model_id,
                      const char *crs, int out_dim, const tgst_pending *t, int n,
                      long long *added);
/* Mark the claimed piece done and COMMIT. */
int tgpg_piece_done(tg_ctx *ctx, tg_store *st, int64_t raster_id, int row_begin,
                    long long n_added);
int tgpg_raster_complete(tg_ctx *ctx, tg_store *st, int64_t raster_id);
int tgpg_raster_count(tg_ctx *ctx, tg_store *st, int64_t raster_id, long long *n);

/* pg_registry.c: the registry rows (the model loading is registry.c's). */
int tgpg_model_write(tg_ctx *ctx, tg_store *st, const char *name, const char *path,
                     const char *sha, const char *json, int check_only, int64_t *id);
int tgpg_model_find(tg_ctx *ctx, tg_store *st, const char *name, tg_store_model *out);
int tgpg_model_list(tg_ctx *ctx, tg_store *st, tg_store_model **list, size_t *n);
/* pg_query.c: the read side. */
/* A model's codec in tg_meta (key 'codec:<name>'), as tg_store_model_codec /
 * tg_store_model_set_codec on SQLite. */
int tgpg_codec_get(tg_ctx *ctx, tg_store *st, const char *key, int *codec);
int tgpg_codec_set(tg_ctx *ctx, tg_store *st, const char *key, int codec);
int tgpg_tileset(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                 const tg_tileset **out);
/* The number of tg_tiles rows where cond holds (SQL over the alias t, may
 * name outer columns), as an SQL expression: one count per leaf partition,
 * which postgres_fdw runs on each shard. malloc'ed; NULL on an error (set in
 * ctx). */
char *tgpg_count_expr(tg_ctx *ctx, tg_store *st, const char *cond);
/* Ranking on the server (store.h tg_store_server_ranking, tg_store_top_hits,
 * tg_store_tileset_ids). */
int tgpg_server_ranking(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                        tg_store_ranking *out);
int tgpg_top_hits(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const float *q, int n_q,
                  int dim, int k, tg_hit *hits, int *n_hits);
int tgpg_tileset_ids(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                     const int64_t *ids, size_t n, tg_tileset **out);
int tgpg_candidates(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const void *wkb,
                    size_t wkb_size, const double frame[6], double radius_m, int64_t **ids,
                    size_t *n);
int tgpg_rasters(tg_ctx *ctx, tg_store *st, const tg_store_model *m, tg_store_raster **out,
                 size_t *n);
int tgpg_raster_list(tg_ctx *ctx, tg_store *st, tg_store_raster **list, size_t *n);
int tgpg_extent(tg_ctx *ctx, tg_store *st, long long *n_tiles, double *min_lon, double *min_lat,
                double *max_lon, double *max_lat);
int tgpg_tile_wkt(tg_ctx *ctx, tg_store *st, int64_t tile_id, char **wkt);
int tgpg_tile_geom(tg_ctx *ctx, tg_store *st, int64_t tile_id, void **blob, int *size);
int tgpg_tile_covers(tg_ctx *ctx, tg_store *st, int64_t tile_id, double lon, double lat, int *hit);

#endif /* TG_STORE_INT_H */
