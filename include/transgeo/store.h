/*
 * store.h - the transgeo database: a SpatiaLite file with the registered
 * models, the indexed rasters and their tiles (footprint polygon + TransGeo
 * embedding), and the in-memory search over those tiles. Used by the SQL
 * extension (sql/, over the user's own connection) and by the CLI (which
 * opens the file itself). The same interface runs on PostgreSQL/PostGIS:
 * tg_store_open with a "postgresql://" URI (store_pg.h; schema
 * src/store/schema_pg.sql), where indexing may run in many processes at once
 * (pieces of tile rows claimed from tg_jobs).
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
 * Schema: src/store/schema.sql is the one source of truth (compiled in as a string,
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
/* Largest tg_store_index_opts.embed_group. */
#define TG_INDEX_EMBED_GROUP_MAX 64

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

/* Open (or create) the database file at path for the CLI and library users
 * (a PostgreSQL URI instead: store_pg.h; the errors then name the server:
 * TG_EIO cannot connect, TG_EDB PostGIS missing or a newer schema):
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
 * fails with TG_EDB), then src/store/schema.sql (idempotent). Switches a writable
 * file to WAL mode when no transaction is open. Returns 0, TG_EDB (read-only
 * database, a GeoPackage or FDO file, a SpatiaLite admin function failed:
 * the message names the statement), TG_EBUSY (locked). */
TG_API int tg_store_ensure_schema(tg_ctx *ctx, tg_store *st);

/* 1 when the tg_* tables exist, 0 when not (nothing indexed yet), negative
 * TG_EDB on a database error. */
TG_API int tg_store_has_schema(tg_ctx *ctx, tg_store *st);

/* ---- files the database names ------------------------------------------ */

/* Which files named by the database itself (tg_models.path, tg_rasters.path)
 * the store opens. Those paths are data: a database received from someone
 * else, or SQL that may UPDATE tg_models, chooses them. A store starts
 * unrestricted (it opens whatever the rows name, as a program that trusts
 * its database wants). Restricted, it opens a file the database names only
 * when
 *   - its real path (realpath: symbolic links and ".." resolved) lies under
 *     one of `dirs`, also resolved; or
 *   - for a model, the sha256 of the whole file (what sha256sum prints) is
 *     one of `models`;
 * and refuses anything else with TG_EACCES, before a byte of the file is
 * read (a trusted sha256 is checked by hashing the file, whose bytes are
 * never parsed or shown before they match). The refusal names the path as
 * the database gives it, says which rule it failed, and ends with `hint`
 * (the setting the caller's user changes, e.g. an environment variable);
 * it is the same whether the file exists or not. Only regular files are
 * opened. A model already loaded by this store (the model cache) is used
 * without opening its file again.
 *
 *     tg_store_files f = {.restricted = 1, .dirs = "/srv/models:/srv/ortho",
 *                         .hint = "set TG_SQL_TRUSTED_DIRS"};
 *     if (tg_store_set_files(ctx, st, &f)) ...;   // TG_EINVAL: names the bad entry
 *
 * The policy is about paths the database gives. tg_store_model_register and
 * tg_store_index_raster read the path their caller gives (and the SQL
 * extension refuses those calls while its file access is off).
 *
 * The threat is the database and the SQL, not the file system: whoever can
 * write into a trusted directory can put any model there. Photos and
 * rasters passed by the caller as arguments are the caller's business (the
 * SQL extension has its own switch for those, allow_files). */
typedef struct tg_store_files {
    int restricted;      /* 0 (default): open any file the database names; 1: see above */
    const char *dirs;    /* trusted directories, ':'-separated; NULL or "" = none */
    const char *models;  /* trusted model files: 64-hex-digit sha256 of the whole file,
                            separated by ',', ':' or white space; NULL or "" = none */
    const char *hint;    /* appended to refusals (what to change), or NULL */
} tg_store_files;

/* Set the store's file policy (copied: the strings may be freed after the
 * call). Every directory must exist (it is resolved now) and every sha256
 * be 64 hex digits: otherwise TG_EINVAL naming the entry, and the policy is
 * unchanged. Returns 0, TG_EINVAL, TG_ENOMEM. */
TG_API int tg_store_set_files(tg_ctx *ctx, tg_store *st, const tg_store_files *f);

/* What a file named by the database is, for tg_store_file_check. */
enum {
    TG_STORE_FILE_MODEL = 1,  /* a model (tg_models.path): trusted by directory or sha256 */
    TG_STORE_FILE_RASTER = 2  /* a raster (tg_rasters.path): trusted by directory */
};

/* The check every opening of a database-named file goes through (the model
 * loader of tg_store_model_get calls it; so must any code that opens
 * tg_rasters.path): 0 when the policy allows `path`, else TG_EACCES with a
 * message that starts with `what` (e.g. "model 'vigor'") and names the
 * rule. An unrestricted store allows everything. */
TG_API int tg_store_file_check(tg_ctx *ctx, tg_store *st, const char *path, int kind,
                               const char *what);

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

/* Every registered model, by name. [out] *list (malloc'ed, free() it; NULL
 * when *n == 0), *n. Returns 0, TG_EDB, TG_ENOMEM. */
TG_API int tg_store_model_list(tg_ctx *ctx, tg_store *st, tg_store_model **list, size_t *n);

/* The loaded model for m (cached in the store: loaded once per store, and
 * again when the registry row no longer describes the cached one: another
 * connection registered the name again). Its sha256 must still match the
 * registered one (TG_EMODEL: the file changed), and so must its out_dim,
 * aerial_tile_m and aerial_gsd_m (TG_EMODEL: the row was edited), so that
 * buffers sized from m->out_dim fit what the model writes. The file is
 * opened only if the store's file policy allows it (tg_store_set_files:
 * TG_EACCES otherwise). [out] *out, owned by the store, valid until
 * tg_store_close (also after a reload). */
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
    int embed_group;       /* tiles per aerial-encoder call, 1..TG_INDEX_EMBED_GROUP_MAX;
                              default 1 (bench/index.sh measured no gain from larger
                              groups with the demo model on 2 cores). A fixed group (consecutive tiles of a grid row,
                              col / embed_group), so a rerun after an interruption stores
                              the same bits as one uninterrupted run with the same value */
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

/* An indexed raster (a row of tg_rasters), for inventories. */
typedef struct tg_store_raster tg_store_raster; /* defined below, with tg_store_rasters */
/* Every indexed raster, in indexing order. [out] *list (malloc'ed, free()
 * it; NULL when *n == 0), *n. Returns 0, TG_EDB, TG_ENOMEM. */
TG_API int tg_store_raster_list(tg_ctx *ctx, tg_store *st, tg_store_raster **list, size_t *n);

/* Number of tiles (all models) and the box of their centres, degrees
 * (undefined when *n_tiles == 0). Any output may be NULL. Returns 0, TG_EDB. */
TG_API int tg_store_extent(tg_ctx *ctx, tg_store *st, long long *n_tiles, double *min_lon,
                           double *min_lat, double *max_lon, double *max_lat);

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
    double heading_deg;    /* the heading (degrees clockwise from true north) of the
                              photo's canvas that gave this score (tg_locator); NaN
                              when none (tg_tileset_match, an embedding query) */
} tg_match;

/* A spatial prior: only tiles whose centre is within radius_m metres
 * (geodesic; 0 inside a polygon) of a geometry are candidates. */
typedef struct tg_store_prior {
    const void *geom;      /* SpatiaLite geometry BLOB in EPSG:4326 (any type), or NULL: */
    size_t geom_size;      /*   then wkb, else the point (lon, lat) below is used */
    double lon, lat;       /* degrees WGS84, when geom and wkb are NULL */
    double radius_m;       /* metres, >= 0 */
    const void *wkb;       /* OGC WKB of a geometry in EPSG:4326 (PostGIS ST_AsBinary), */
    size_t wkb_size;       /*   when geom is NULL, or NULL */
} tg_store_prior;

/* The tiles of model_id (mapped from the matrix file, or in memory),
 * refreshed if tiles changed since the last call (incrementally after
 * inserts), searched with tg_ctx_codec(ctx) or else the model's codec. [out] *out owned by the store: valid
 * until the next tg_store_tileset call for the same model or tg_store_close.
 * Returns 0, TG_EMODEL (a tile's embedding has the wrong size: made by
 * another model), TG_ENOMEM, TG_EDB. An empty tileset is not an error. */
TG_API int tg_store_tileset(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                            const tg_tileset **out);

/* Stored embeddings, compact codecs and the matrix file (wave 2):
 * a model's tiles are kept, besides their SQLite BLOBs, in a matrix file
 * beside the database ("<db>-tg<model id>.mat": src/store/matrix.h has the
 * layout), mapped read-only so that processes on one store share one copy
 * in the page cache and a cold open reads the bytes once. tg_store_tileset
 * checks the file against the database (model sha256, the n_inserted /
 * n_removed counters, tile count, max tile id, header checksum) and
 * extends or rebuilds it atomically when they differ; where it cannot be
 * written (read-only directory) and no valid one exists, the tiles are
 * loaded into memory as before. The file also holds the compact copy of
 * the model's codec (search.h: f32, f16, int8); searches scan it and
 * re-rank in float32. */

/* The model's stored codec: tg_meta 'codec:<model name>' (f32 when unset).
 * [out] *codec. Returns 0, TG_EDB (an unreadable value: says how to fix). */
TG_API int tg_store_model_codec(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int *codec);
/* Store the model's codec (TG_CODEC_*); the next tg_store_tileset builds
 * the matrix file with it. Returns 0, TG_EINVAL, TG_EDB (read-only). */
TG_API int tg_store_model_set_codec(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int codec);
/* on = 0: this store never maps nor writes matrix files (in-memory tilesets,
 * as before them); 1 (default): it does. */
TG_API void tg_store_set_matrix(tg_store *st, int on);
/* The codec the tileset searches with, and 1 when it is mapped from a matrix
 * file (0: in memory). */
TG_API int tg_tileset_codec(const tg_tileset *ts);
TG_API int tg_tileset_mapped(const tg_tileset *ts);

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

/* The same for n_q queries of one photo (embs: n_q x dim, e.g. one per
 * heading): a tile's score is its best over the queries, the k best tiles by
 * that score are returned (error_m from them), and [out] query_of[i] (k
 * entries, or NULL) says which query gave match i. Without cand the tiles are
 * scored in one pass for all queries (tg_index_search_batch); n_q = 1 is
 * tg_tileset_match exactly. */
TG_API int tg_tileset_match_n(tg_ctx *ctx, const tg_tileset *ts, const float *embs, int n_q,
                              int k, const int64_t *cand, size_t n_cand, tg_match *out,
                              int *n_out, int *query_of);

/* Every tile's score for n_q queries (queries: n_q x dim, row-major), in one
 * pass over the matrix: rows are taken in blocks and each block's scores
 * S (n_q x nb, row-major: S[q * nb + i] = <query q, row row0 + i>, float32
 * sgemm) are handed to fn(user, row0, nb, S) before the next block is
 * computed (S is valid during the call only). Rows come in ascending order,
 * row0 = 0 first. The scores are float32 products: within
 * n u ||q|| ||row|| (u = 2^-24, n = dim) of the exact inner product, not
 * bit-equal to tg_index_search's (use them to bound, then compare exact
 * scores: the locator's batched evaluation does). A non-zero return of fn
 * stops the pass and is returned. Read-only on ts: thread-safe. Returns 0,
 * TG_EINVAL, TG_ENOMEM, or fn's code. (src/store/tileset_batch.c) */
typedef int (*tg_tileset_block_fn)(void *user, size_t row0, size_t nb, const float *scores);
TG_API int tg_tileset_scores_batch(tg_ctx *ctx, const tg_tileset *ts, const float *queries, int n_q,
                                   tg_tileset_block_fn fn, void *user);

/* ---- ranking on the server (PostgreSQL shards) --------------------------
 * A PostgreSQL store whose tg_tiles has foreign partitions (postgres_fdw
 * shards: transgeo-pg(7), SHARDING) and the transgeo extension installed
 * can rank on the servers: each shard computes its own exact top-k
 * (tg__topk_sql, ORDER BY tg_score(...) LIMIT k in its Remote SQL) and only
 * those rows cross the network. The locator (locate.h, tg_locate_opts.ranking)
 * then loads just the tiles it needs (tg_store_tileset_ids) instead of
 * every shard's (tg_store_tileset). */
typedef struct tg_store_ranking {
    int n_shards;          /* foreign partitions of tg_tiles (0: SQLite, or one server) */
    int available;         /* 1: the server can rank (the transgeo extension is installed) */
    long long n_tiles;     /* the model's tiles: m->n_tiles, as tg_store_model_find
                              counted them (0 on SQLite) */
} tg_store_ranking;
/* What the store's server offers for model m. Returns 0, TG_EDB, TG_EIO. */
TG_API int tg_store_server_ranking(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                                   tg_store_ranking *out);
/* The k best tiles of model m for each of n_q queries (q: n_q x dim,
 * L2-normalised), ranked by the server: [out] hits[qi * k .. + n_hits[qi]),
 * best first, scores as the server computes them (tg_score: float32 of a
 * double sum; within float rounding of tg_index_search's). One statement per
 * query. PostgreSQL only (TG_EINVAL on SQLite). Returns 0, TG_EDB, TG_EIO
 * (a shard down: the message names it), TG_ENOTFOUND. */
TG_API int tg_store_top_hits(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const float *q,
                             int n_q, int dim, int k, tg_hit *hits, int *n_hits);
/* A tileset of only the tiles ids[0..n) of model m (ascending; ids that are
 * not there are left out), owned by the caller (tg_tileset_free). PostgreSQL
 * only. Returns 0, TG_EMODEL (an embedding of another size), TG_ENOMEM,
 * TG_EDB, TG_EIO. */
TG_API int tg_store_tileset_ids(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                                const int64_t *ids, size_t n, tg_tileset **out);
/* Free a tileset of tg_store_tileset_ids (never the store's own). NULL ok. */
TG_API void tg_tileset_free(tg_tileset *ts);

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
    int status;             /* TG_RASTER_* (tg_store_rasters) */
    char note[256];         /* status != OK: what is wrong, for messages */
    /* filled by tg_store_raster_list (the inventory): */
    char model[256];        /* the model's name, "" when the model row is gone */
    int complete;           /* 1 when every tile is in */
    long long n_tiles;      /* its tiles in the database */
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

/* The SQL of src/store/schema.sql. */
TG_API const char *tg_store_schema_sql(void);

/* Address of sqlite3_libversion_number as linked into libtransgeo: the
 * extension compares it with the host's API table to refuse a host that
 * runs another copy of SQLite (its handles would be foreign to ours). */
TG_API void *tg_store_sqlite_symbol(void);

#ifdef __cplusplus
}
#endif
#endif /* TG_STORE_H */
