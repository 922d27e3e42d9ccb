/*
 * store.h - the transgeo database: a SpatiaLite file with the registered
 * models, the indexed rasters and their tiles (footprint polygon + TransGeo
 * embedding), and the in-memory search over those tiles. Used by the SQL
 * extension (sql/, over the user's own connection) and by the CLI (which
 * opens the file itself).
 *
 *     tg_store *st = NULL;
 *     if (tg_store_open(ctx, "town.sqlite", TG_STORE_CREATE, &st)) goto fail;
 *     tg_store_model m;
 *     tg_store_model_register(ctx, st, "vigor", "vigor.safetensors", &m);
 *     tg_store_index_opts o;
 *     tg_store_index_opts_default(&o);                  // model tile size, half-tile stride
 *     tg_store_index_result r;
 *     tg_store_index_raster(ctx, st, "ortho.tif", &o, &r);   // r.n_added tiles
 *     tg_store_close(st);           // locating a photo: see locate.h (tg_locator)
 *
 * Schema: sql/schema.sql is the one source of truth (compiled in as a string,
 * run by tg_store_ensure_schema): tg_models, tg_rasters, tg_tiles (geometry
 * column `geom` POLYGON EPSG:4326 with a SpatiaLite spatial index), tg_meta.
 * Embeddings are BLOBs of out_dim little-endian float32, L2-normalised, made
 * by the model of the tile's model_id; they never mix: every search uses the
 * tiles of one model and that model's ground encoder.
 *
 * Indexing (tg_store_index_raster) is resumable and safe to kill: tiles are
 * embedded outside any transaction and inserted in batches (opts.batch_tiles,
 * default 64), each batch in its own short write transaction (a SAVEPOINT
 * when the caller already has a transaction open), with INSERT OR IGNORE on
 * UNIQUE(raster_id, col, row). A rerun skips the tiles already present and
 * embeds only the missing ones; when every tile is in, the raster is marked
 * complete and re-indexing it (same file bytes, model, tile and stride) adds
 * nothing without warping a pixel (the file is read once for its sha256).
 * In WAL mode other connections read while a raster is being indexed.
 *
 * Search: the embeddings of one model are loaded into a tg_tileset (a
 * tg_index plus each tile's centre and stride), kept by the store and
 * refreshed when tiles change: triggers count inserts and deletions per
 * model in tg_models (n_inserted, n_removed), so a refresh after indexing
 * loads only the new rows, and any deletion or update reloads the model.
 *
 * Error estimate (error_m of a tg_match), documented in transgeo-sql(7):
 * with S the best E = TG_STORE_ERROR_K (10) matches (fewer if fewer
 * candidates), scores s_j, centres c_j, and the match's own centre c:
 *     w_j = exp(TG_STORE_ERROR_ALPHA (s_j - s_1)),      j in S
 *     error_m(c) = TG_STORE_ERROR_SCALE max( stride_m / 2,
 *                                          sqrt( sum_j w_j d(c, c_j)^2 / sum_j w_j ) )
 * a 68 % radius: the true position is within error_m of the estimate for 68 %
 * of photos (calibrated below; with a per-photo GPS prior, locate.h, s_j
 * is the posterior score s_j + log N(d_j) / alpha and the scale
 * TG_STORE_ERROR_SCALE_GPS).
 * d = geodesic distance on WGS84 (metres), stride_m = the match's raster
 * stride. TG_STORE_ERROR_ALPHA = 20 is the scale of the loss TransGeo is
 * trained with: log(1 + exp(20 (s_neg - s_pos))) on cosine similarities
 * (official code, criterion/soft_triplet.py, SoftTripletBiLoss alpha=20,
 * "equivalent to the loss function in CVM-Net with alpha=10" on squared
 * distances); under it exp(20 (s_j - s_1)) is the odds that tile j rather
 * than the best one is the true match.
 *
 * Ownership: the caller owns the tg_store (tg_store_close, NULL ok). Models
 * and tilesets returned by the store belong to it. A store, like a sqlite3
 * connection, is used by one thread at a time; tg_tileset_match on a
 * tileset nobody refreshes may run in many threads at once (one tg_ctx
 * each), e.g. batch workers.
 */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "image.h"
#include "model.h"
#include "search.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sqlite3; /* <sqlite3.h>: not needed to use the store */
typedef struct tg_store tg_store;
typedef struct tg_tileset tg_tileset;

/* Matches that define error_m, and the similarity scale of their weights
 * (see above). */
#define TG_STORE_ERROR_K 10
#define TG_STORE_ERROR_ALPHA 20.0
/* The factor that makes error_m a 68 % radius: the 0.68 quantile of
 * (true error / unscaled radius) over 390 panoramas of training-seed worlds
 * (seeds 1000-1002, 640 m; 1.27, 1.13, 1.18 each) located without a prior.
 * With a GPS prior (locate.h) the spread is the posterior's over the whole
 * window (weights exp(alpha (p_j - p_1)), p the posterior score), scaled by
 * TG_STORE_ERROR_SCALE_GPS: the pooled 0.68 quantile over 500 panoramas of
 * the same seeds with 50 m city GPS noise (0.73, 1.01, 1.06 each).
 * Held out (transgeo demo's default town, seed 20261125, 100 panoramas):
 * 68 % within without a prior, 67 % with the GPS prior, 75 % refined; a
 * small 640 m town (seed 777001, 40 panoramas): 65 %, 50 % and 55 %.
 * transgeo eval reports it. */
#define TG_STORE_ERROR_SCALE 1.19
#define TG_STORE_ERROR_SCALE_GPS 0.99
/* Schema version written to tg_meta('schema_version'). */
#define TG_STORE_SCHEMA_VERSION 1

/* ---- opening ------------------------------------------------------------ */

/* tg_store_open flags. */
enum {
    TG_STORE_READONLY = 1, /* open read-only (no schema creation, no writes) */
    TG_STORE_CREATE = 2    /* create the file if missing and the schema if absent */
};

/* Open (or create) the database file at path for the CLI and library users:
 * opens it with SQLite, loads SpatiaLite (sqlite3_load_extension of
 * "mod_spatialite", or of $TG_MOD_SPATIALITE when set), sets a 10 s busy
 * timeout and WAL mode (when writable), and with TG_STORE_CREATE creates the
 * schema (tg_store_ensure_schema). [out] *out. Returns 0, TG_EIO (cannot
 * open/create: message names the file), TG_EDB (SpatiaLite cannot be loaded,
 * not a database, a newer schema), TG_ENOMEM. */
TG_API int tg_store_open(tg_ctx *ctx, const char *path, int flags, tg_store **out);

/* Use an existing connection (the SQL extension's): nothing is loaded or
 * changed; SpatiaLite must already be loaded in it (checked with
 * `SELECT spatialite_version()`: TG_EDB "SpatiaLite is not loaded..."). The
 * connection stays the caller's: tg_store_close does not close it. */
TG_API int tg_store_wrap(tg_ctx *ctx, struct sqlite3 *db, tg_store **out);

/* Free the store (its models and tilesets); closes the connection when
 * tg_store_open made it. NULL is accepted. */
TG_API void tg_store_close(tg_store *st);

/* The connection (for queries of your own). */
TG_API struct sqlite3 *tg_store_db(const tg_store *st);
/* The database's file name (for messages), or ":memory:". Never NULL. */
TG_API const char *tg_store_label(const tg_store *st);

/* Create what is missing of the schema: spatial metadata
 * (InitSpatialMetadata(1, 'WGS84') when the file has none; never inside a
 * transaction: if the caller has one open and the metadata is missing this
 * fails with TG_EDB), then sql/schema.sql (idempotent). Switches a writable
 * file to WAL mode when no transaction is open. Returns 0, TG_EDB (read-only
 * database, a GeoPackage or FDO file, a SpatiaLite admin function failed:
 * the message names the statement), TG_EBUSY (locked). */
TG_API int tg_store_ensure_schema(tg_ctx *ctx, tg_store *st);

/* 1 when the tg_* tables exist, 0 when not (nothing indexed yet), negative
 * TG_EDB on a database error. */
TG_API int tg_store_has_schema(tg_ctx *ctx, tg_store *st);

/* ---- models ------------------------------------------------------------- */

/* A registered model (a row of tg_models). */
typedef struct tg_store_model {
    int64_t id;           /* tg_models.id */
    char name[256];       /* unique name */
    char path[4096];      /* the file it was registered from */
    char sha256[65];      /* hex sha256 of its tensor data (the safetensors "sha256") */
    int out_dim;          /* embedding size (floats) */
    double tile_m, gsd_m; /* the model's aerial_tile_m and aerial_gsd_m, metres */
    long long n_tiles;    /* tiles indexed with it */
} tg_store_model;

/* Register the model file at path under name (1..255 bytes): loads and
 * validates it (tg_model_load), checks its tensor data against the sha256 of
 * its metadata (tg_model_verify: a corrupt file is refused with TG_EMODEL),
 * then inserts it into tg_models. Registering the same name again with the
 * same model data (sha256) and configuration (the metadata but for source
 * and preset) only updates the path and succeeds; with other data or another
 * configuration (e.g. out_dim) it fails with TG_EMODEL unless no tile uses
 * the old one. [out] *out (may be NULL). Returns 0, the errors of
 * tg_model_load, TG_EDB (read-only database), TG_EMODEL. */
TG_API int tg_store_model_register(tg_ctx *ctx, tg_store *st, const char *name, const char *path,
                                   tg_store_model *out);

/* Find a registered model by name; name NULL or "" picks the only model that
 * has tiles (or the only registered model): several -> TG_ENOTFOUND with
 * their names. [out] *out. Returns 0, TG_ENOTFOUND (message lists the
 * registered models, or says how to register one), TG_EDB. */
TG_API int tg_store_model_find(tg_ctx *ctx, tg_store *st, const char *name, tg_store_model *out);

/* The loaded model for m (cached in the store: loaded once per store, and
 * again when the registry row no longer describes the cached one: another
 * connection registered the name again). Its sha256 must still match the
 * registered one (TG_EMODEL: the file changed), and so must its out_dim,
 * aerial_tile_m and aerial_gsd_m (TG_EMODEL: the row was edited), so that
 * buffers sized from m->out_dim fit what the model writes. [out] *out, owned
 * by the store, valid until tg_store_close (also after a reload). */
TG_API int tg_store_model_get(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                              const tg_model **out);

/* ---- indexing ----------------------------------------------------------- */

typedef struct tg_store_index_opts {
    const char *model;     /* model name; NULL (default) = the only registered model */
    double tile_m;         /* tile size, metres; 0 (default) = the model's aerial_tile_m */
    double gsd_m;          /* metres per pixel; 0 (default) = the model's aerial_gsd_m, or
                              with tile_m given, tile_m / (the model's pixels per tile) */
    double stride_m;       /* metres between tiles; 0 (default) = tile_m / 2 */
    double max_nodata_share; /* skip tiles with more no-data than this, 0..1; default 0.5 */
    int batch_tiles;       /* tiles per write transaction, >= 1; default 64 */
    tg_progress_fn progress; /* NULL, or called after each batch/strip with (grid tiles
                                visited, grid tiles, message); return 0 to cancel */
    void *progress_user;
} tg_store_index_opts;

TG_API void tg_store_index_opts_default(tg_store_index_opts *o);

typedef struct tg_store_index_result {
    int64_t raster_id;     /* tg_rasters.id */
    long long n_added;     /* tiles inserted by this call */
    long long n_present;   /* tiles that were already there (skipped) */
    long long n_tiles;     /* tiles of the raster in the database after the call */
    int complete;          /* 1 when the raster is fully indexed */
    double tile_m, stride_m, gsd_m; /* effective values (see tilecache.h) */
} tg_store_index_result;

/* Index the raster at path (any raster tilecache reads): cut it into tiles,
 * embed each missing tile with the model's aerial encoder and insert it (see
 * the top of this file). model: the loaded model to use, or NULL to load the
 * one opts->model names. [out] *res (may be NULL; filled also on failure
 * with what was done). Returns 0, TG_EDB (read-only or locked database),
 * TG_ENOTFOUND (no such model), the errors of tilecache and the engine,
 * TG_ECANCEL (progress returned 0; what was inserted stays). */
TG_API int tg_store_index_raster(tg_ctx *ctx, tg_store *st, const char *path,
                                 const tg_store_index_opts *opts, tg_store_index_result *res);

/* ---- search ------------------------------------------------------------- */

/* One ranked tile. */
typedef struct tg_match {
    int rank;              /* 1 = best */
    int64_t tile_id;       /* tg_tiles.id */
    int64_t raster_id;     /* tg_tiles.raster_id */
    double score;          /* cosine similarity with the query, [-1, 1] */
    double lon, lat;       /* tile centre, degrees WGS84 */
    double error_m;        /* estimated error radius around this centre, metres (see above) */
    double stride_m;       /* its raster's tile stride, metres */
} tg_match;

/* A spatial prior: only tiles whose centre is within radius_m metres
 * (geodesic; 0 inside a polygon) of a geometry are candidates. */
typedef struct tg_store_prior {
    const void *geom;      /* SpatiaLite geometry BLOB in EPSG:4326 (any type), or NULL: */
    size_t geom_size;      /*   then the point (lon, lat) below is used */
    double lon, lat;       /* degrees WGS84, when geom is NULL */
    double radius_m;       /* metres, >= 0 */
} tg_store_prior;

/* The tiles of model_id in memory, refreshed if tiles changed since the last
 * call (incrementally after inserts). [out] *out owned by the store: valid
 * until the next tg_store_tileset call for the same model or tg_store_close.
 * Returns 0, TG_EMODEL (a tile's embedding has the wrong size: made by
 * another model), TG_ENOMEM, TG_EDB. An empty tileset is not an error. */
TG_API int tg_store_tileset(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                            const tg_tileset **out);

TG_API size_t tg_tileset_count(const tg_tileset *ts);
TG_API int tg_tileset_dim(const tg_tileset *ts);
TG_API const tg_index *tg_tileset_index(const tg_tileset *ts);
/* Row `row` (0 .. count-1) of the tileset: [out] its tile id, centre (degrees)
 * and raster stride (metres); any output may be NULL. Returns 0 or TG_EINVAL
 * (row out of range). */
TG_API int tg_tileset_tile(const tg_tileset *ts, size_t row, int64_t *id, double *lon,
                           double *lat, double *stride_m);
/* The raster id of row `row` (0 when out of range). */
TG_API int64_t tg_tileset_raster_id(const tg_tileset *ts, size_t row);

/* The k best tiles for a query embedding (dim floats, L2-normalised), with
 * error_m filled for each. cand: NULL = all tiles, else only these tile ids
 * (n_cand of them; from tg_store_candidates). out holds k entries;
 * *n_out = min(k, candidates). Read-only on ts: thread-safe. Returns 0,
 * TG_EINVAL, TG_ENOMEM. */
TG_API int tg_tileset_match(tg_ctx *ctx, const tg_tileset *ts, const float *emb, int k,
                            const int64_t *cand, size_t n_cand, tg_match *out, int *n_out);

/* Tile ids of model m that satisfy the prior. [out] *ids (malloc'ed, free()
 * it; NULL when *n == 0), *n. Returns 0, TG_EINVAL (radius < 0 or not
 * finite, a BLOB that is not a SpatiaLite geometry, SRID other than 4326),
 * TG_EDB. */
TG_API int tg_store_candidates(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                               const tg_store_prior *prior, int64_t **ids, size_t *n);

/* An indexed raster of a model (a row of tg_rasters) and the state of its
 * file now. */
typedef struct tg_store_raster {
    int64_t id;             /* tg_rasters.id */
    char path[4096];        /* the file it was indexed from */
    char sha256[65];        /* hex sha256 of the file when indexed */
    char crs[1024];         /* the working CRS its tiles were cut in ("EPSG:n" or WKT,
                               truncated: informative) */
    double tile_m, stride_m, gsd_m; /* effective tile size, stride and gsd, metres */
    int status;             /* TG_RASTER_* */
    char note[256];         /* status != OK: what is wrong, for messages */
} tg_store_raster;

enum {
    TG_RASTER_UNCHECKED = 0, /* not checked (check = 0) */
    TG_RASTER_OK = 1,        /* the file's sha256 is the indexed one */
    TG_RASTER_MISSING = 2,   /* the file cannot be read (moved, deleted) */
    TG_RASTER_CHANGED = 3    /* the file's sha256 differs: rewritten since indexing */
};
/* "ok", "missing", "changed", "unchecked" ("?" otherwise). */
TG_API const char *tg_raster_status_name(int status);

/* The rasters of model m, by id; check = 1 reads each file through for its
 * sha256 (tg_store_file_sha256) and sets status and note (a missing or
 * changed file is not an error; a file's hash is remembered for the
 * process by path, size and modification time). [out] *out (malloc'ed, free() it; NULL when
 * *n == 0), *n. Returns 0, TG_EDB, TG_ENOMEM. Uses the connection: one
 * thread at a time. */
TG_API int tg_store_rasters(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int check,
                            tg_store_raster **out, size_t *n);

/* Locating a photo (model, tiles, prior, embedding, ranking) is the
 * locator's job: see locate.h (tg_locator). */

/* A tile's footprint as WKT ("POLYGON((lon lat, ...))", EPSG:4326).
 * [out] *wkt (malloc'ed, free() it). Returns 0, TG_ENOTFOUND, TG_EDB. */
TG_API int tg_store_tile_wkt(tg_ctx *ctx, tg_store *st, int64_t tile_id, char **wkt);
/* [out] *hit = 1 when (lon, lat) is in the tile's footprint (ST_Covers: the
 * boundary counts), else 0. Returns 0, TG_EDB (also for a missing tile). */
TG_API int tg_store_tile_covers(tg_ctx *ctx, tg_store *st, int64_t tile_id, double lon,
                                double lat, int *hit);
/* A tile's footprint as a SpatiaLite geometry BLOB (POLYGON, SRID 4326).
 * [out] *blob (malloc'ed, free() it), *size. Returns 0, TG_ENOTFOUND, TG_EDB. */
TG_API int tg_store_tile_geom(tg_ctx *ctx, tg_store *st, int64_t tile_id, void **blob, int *size);

/* ---- helpers shared with the SQL extension (not a stable API) ------------ */

/* sha256 of a file read through GDAL's VSI (any GDAL path), as 64 hex
 * characters + NUL in hex. Returns 0 or TG_EIO. */
TG_API int tg_store_file_sha256(tg_ctx *ctx, const char *path, char hex[65]);

/* 0 when blob[0..n) is a well-formed SpatiaLite BLOB-Geometry (every count
 * fits in the bytes that follow it; TinyPoints included), else TG_EINVAL.
 * [out] *srid, *class_type (GAIA class code, e.g. 3 POLYGON, 1001 POINT Z;
 * either may be NULL). Check before gaiaFromSpatiaLiteBlobWkb: libspatialite
 * trusts a polygon's ring count. */
TG_API int tg_store_geom_check(const void *blob, size_t n, int *srid, int *class_type);

/* The SQL of sql/schema.sql. */
TG_API const char *tg_store_schema_sql(void);

/* Address of sqlite3_libversion_number as linked into libtransgeo: the
 * extension compares it with the host's API table to refuse a host that
 * runs another copy of SQLite (its handles would be foreign to ours). */
TG_API void *tg_store_sqlite_symbol(void);

#ifdef __cplusplus
}
#endif
#endif /* TG_STORE_H */
