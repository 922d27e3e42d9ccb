/*
 * locate.h - tg_locator: the one pipeline from a photo to an answer.
 *
 * Every front-end locates through this: SQL tg_locate() and tg_matches(),
 * `transgeo locate` (each worker thread) and `transgeo eval`. A feature of
 * locating (the photo's camera and heading, a per-photo GPS prior, refinement
 * below the tile stride) is written here once and every front-end gets it.
 *
 *     tg_locate_opts o;
 *     tg_locate_opts_default(&o);
 *     o.k = 5;
 *     tg_locator *loc = NULL;
 *     if (tg_locator_open(ctx, store, &o, &loc)) goto fail;     // model + tiles, once
 *     tg_locate_input in = {.path = "IMG_0001.jpg"};
 *     tg_locate_answer ans;
 *     if (tg_locator_run(loc, ctx, &in, &ans) == 0 && ans.n_matches > 0)
 *         printf("%.6f %.6f +- %.0f m\n", ans.matches[0].lon, ans.matches[0].lat,
 *                ans.matches[0].error_m);
 *     tg_locate_answer_clear(&ans);
 *     tg_locator_free(loc);
 *
 * The steps, in order (each is one function below or in the layers beneath):
 *   1. open: the model (tg_store_model_find + tg_store_model_get: loaded once
 *      and checked against the registry), its tiles (tg_store_tileset), the
 *      checks every front-end needs ("model has no tiles", embedding sizes),
 *      and the candidates of a global spatial prior (tg_store_candidates);
 *   2. run: decode the photo (unless given decoded or as an embedding), read
 *      its metadata (GPS, heading: optional, a photo without is located),
 *      embed it with the model's ground encoder, choose its candidates (the
 *      photo's own GPS window with opts.gps_prior, else the global prior,
 *      else every tile: answer.prior), rank them (exact search, cosine
 *      similarity; in a GPS window by the posterior exp(20 s) N(d)), the
 *      error radius of each match (a 68 % radius, formula in store.h), the
 *      estimate (the best tile's centre, refined below the stride: see
 *      "Refinement"), the GPS error of the estimate, and for evaluation the
 *      rank of the tile nearest a true position.
 *
 * Refinement (opts.refine): the best tile's centre is off by up to half a
 * stride. Around it, tiles of the model's size are cut from the indexed
 * raster (tg_rasters.path, when the file's sha256 still equals the indexed
 * one; checked once at open) at offsets of stride/2 (8 tiles), then stride/4
 * around the best of those (8 more), each embedded with the aerial encoder as
 * the index embeds (tg_model_embed_aerial, so the scores compare); the
 * estimate is the score-weighted mean (weights exp(5 (s - s_max)), measured
 * in src/locate/metre.c) of the best tile, every offset scored and the
 * stored candidate tiles within 1.5 strides (scored already). Without a
 * usable raster the same weighted mean runs over the stored candidate tiles
 * within 1.5 strides of the best (nothing embedded: refined =
 * TG_REFINED_STORED, refine_note says why). The answer keeps the tile
 * (matches[0]) and adds the point (lon, lat); n_refine_tiles counts the
 * tiles embedded, the cost: each is one index tile's encoder time (the demo
 * model: 16 tiles, about 0.2 s a photo on 2 cores; a photo's own embedding
 * is a few times cheaper). Hook for the found heading: tiles are scored
 * against the photo's embedding as made by the ground encoder, so a
 * heading-aware embedding refines with no change here.
 *
 * Heading (docs/ground-canvas.md): the photo's camera (camera.h: EXIF,
 * GPano, opts.fov_deg, a default) places it in the model's ground canvas
 * (canvas.h). A 360-degree model sees the world north-aligned, so:
 *   - a known true heading (EXIF/XMP GPSImgDirection, GPano pose, Mapillary)
 *     -> one canvas at that heading;
 *   - a magnetic one (GPSImgDirectionRef 'M') -> the headings within
 *     +-TG_LOCATE_MAGNETIC_WINDOW of it, every hfov / 3 degrees;
 *   - none -> N canvases at 360 k / N: N = ceil(3 * 360 / hfov) clamped to
 *     [4, 72] for a photo (a third of its width apart), or opts.heading_search;
 *     panoramas are assumed north-aligned (as CVUSA, VIGOR and TransGeo's
 *     official input) unless opts.heading_search >= 2: then N rolls.
 * The canvases go through the encoder in one batched call
 * (tg_model_embed_ground_batch) and are scored against the tiles in one
 * matrix product (rows of the pass, "many photos per pass" below, then
 * tg_tileset_match_n exactly); a tile's score is its best over the
 * headings, and the best (tile, heading) wins: the answer's heading_deg. A
 * limited-view model (ground_fov_deg < 360, TransGeo's --fov path, trained
 * at random azimuths) gets one canvas centred on the photo: the heading is
 * not used. A north-aligned 360-degree panorama on a 360-degree model is
 * today's official input, bit for bit.
 *
 * Threads: tg_locator_run only reads the locator: run it from any number of
 * threads at once, each with its own tg_ctx. tg_locator_open,
 * tg_locator_tile_wkt and tg_locator_free use the store's connection: one
 * thread at a time, as the store itself.
 *
 * Ownership: the caller owns the locator (tg_locator_free, NULL ok) and each
 * answer (tg_locate_answer_clear). The store must outlive the locator; the
 * locator's model and tiles belong to the store (its caches), so the store
 * must not refresh the same model's tiles (another tg_store_tileset call)
 * while runs are in flight.
 */
#ifndef TG_LOCATE_H
#define TG_LOCATE_H

#include <stddef.h>
#include <stdint.h>

#include "camera.h"
#include "core.h"
#include "exif.h"
#include "image.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_locator tg_locator;

/* Which spatial prior chose an answer's candidates (tg_locate_answer.prior). */
enum {
    TG_PRIOR_NONE = 0, /* every tile of the model */
    TG_PRIOR_NEAR = 1, /* the global prior of tg_locate_opts.prior */
    TG_PRIOR_GPS = 2   /* the photo's own GPS position (tg_locate_opts.gps_prior) */
};
/* "none", "near", "gps" ("?" otherwise). */
TG_API const char *tg_prior_name(int prior);

/* tg_locate_opts.refine. */
enum {
    TG_REFINE_AUTO = 0, /* on when the model's aerial encoder is cheap (tg_locator_refine_cheap) */
    TG_REFINE_OFF = 1,
    TG_REFINE_ON = 2
};
/* How an answer's estimate was refined (tg_locate_answer.refined). */
enum {
    TG_REFINED_NONE = 0,   /* the estimate is matches[0]'s centre */
    TG_REFINED_RASTER = 1, /* tiles cut from the source raster below the stride */
    TG_REFINED_STORED = 2  /* the stored tiles only (the raster is missing or changed, or
                              cannot be cut: refine_note says why) */
};

/* Per-photo GPS prior: the window radius when tg_locate_opts.gps_radius_m is 0
 * and the photo states no accuracy (metres), the factor on its stated 1-sigma
 * accuracy, the metres per unit of GPSDOP, and the smallest window. */
#define TG_GPS_PRIOR_DEFAULT_M 150.0
#define TG_GPS_PRIOR_SIGMAS 3.0
#define TG_GPS_PRIOR_DOP_M 5.0
#define TG_GPS_PRIOR_MIN_M 30.0

typedef struct tg_locate_opts {
    const char *model;     /* registered model name; NULL or "" (default) = the only
                              model with tiles (see tg_store_model_find) */
    int k;                 /* matches returned per photo, >= 1; default 5 */
    const tg_store_prior *prior; /* a global spatial prior (copied at open), or NULL
                              (default): every tile of the model is a candidate */
    /* the photo's camera and heading (see "Heading" above): */
    double fov_deg;        /* horizontal field of view, degrees, of photos whose metadata
                              gives none (camera.h source "user"; 360 = panorama); NAN
                              (default): none, camera.h's default applies */
    int heading_search;    /* headings tried when a photo's heading is unknown: 0
                              (default) auto: N from the field of view for photos,
                              panoramas assumed north-aligned; 1: never search (assume
                              north); N = 2..360: N headings for every photo of unknown
                              heading, panoramas included */
    int ignore_heading;    /* 1: treat every photo's own heading as unknown (evaluate
                              the search on photos that have one); default 0 */
    int gps_prior;         /* 1: a photo with a GPS position (EXIF/XMP/Mapillary) is
                              searched only among the tiles whose centre lies within
                              the window below of it (geodesic; across the antimeridian
                              and the poles); a photo without one, or whose window holds
                              no tile (answer.gps_outside), falls back to `prior` or to
                              every tile. Default 0 */
    double gps_radius_m;   /* the window: > 0 a fixed radius in metres; 0 (default): from
                              the photo's stated accuracy: max(TG_GPS_PRIOR_MIN_M,
                              TG_GPS_PRIOR_SIGMAS * GPSHPositioningError), else with
                              GPSDOP TG_GPS_PRIOR_DOP_M * DOP in its place, else
                              TG_GPS_PRIOR_DEFAULT_M. Negative or NaN: TG_EINVAL */
    int refine;            /* TG_REFINE_AUTO (default), TG_REFINE_OFF, TG_REFINE_ON: the
                              estimate below the tile stride (see "Refinement") */
    int refine_max_tiles;  /* at most this many tiles cut and embedded per photo; 0
                              (default) = TG_REFINE_TILES */
    int ranking;           /* where every tile is scored: TG_RANKING_AUTO (default),
                              TG_RANKING_LOCAL, TG_RANKING_SERVER (see "Ranking") */
} tg_locate_opts;

/* Ranking (tg_locate_opts.ranking). LOCAL: the model's tiles are loaded into
 * this process (tg_store_tileset) and scored here. SERVER: a PostgreSQL
 * store with the transgeo extension scores them (store.h
 * tg_store_top_hits: on a coordinator each shard its own top-k), and the
 * locator loads only the tiles an answer needs (tg_store_tileset_ids): the
 * servers' best 32+ per canvas, the tiles of a prior or GPS window, and
 * the neighbours refinement reads. The answers are the same (a match's
 * score is the same exact float32 product either way; the servers' ranking
 * is checked to hold the exact top k under its rounding, else widened).
 * Evaluation (an input with a true position) ranks the truth among every
 * tile and needs LOCAL. AUTO: SERVER when the store's tiles are on shards
 * (foreign partitions) and the extension is installed, else LOCAL. */
enum {
    TG_RANKING_AUTO = 0,
    TG_RANKING_LOCAL = 1,
    TG_RANKING_SERVER = 2
};
/* "auto", "local", "server" ("?" otherwise); tg_ranking_parse: the number,
 * or -1. */
TG_API const char *tg_ranking_name(int ranking);
TG_API int tg_ranking_parse(const char *name);
/* 1 when the locator ranks on the server (TG_RANKING_SERVER, or AUTO
 * resolved to it at open). */
TG_API int tg_locator_ranks_on_server(const tg_locator *loc);

/* Tiles a refinement cuts and embeds per photo at most (two rounds of 8). */
#define TG_REFINE_TILES 16

/* Where an answer's heading came from (tg_locate_answer.heading_source). */
enum {
    TG_HEADING_NONE = 0,      /* none: an embedding query, or a limited-view model that
                                 does not use it and a photo without one */
    TG_HEADING_EXIF = 1,      /* the photo's EXIF GPSImgDirection (true north) */
    TG_HEADING_XMP = 2,       /* XMP exif:GPSImgDirection */
    TG_HEADING_GPANO = 3,     /* XMP GPano:PoseHeadingDegrees */
    TG_HEADING_MAPILLARY = 4, /* Mapillary TrueHeading */
    TG_HEADING_MAGNETIC = 5,  /* a magnetic heading: searched within +-TG_LOCATE_MAGNETIC_WINDOW */
    TG_HEADING_SEARCHED = 6,  /* unknown: the best of n_headings */
    TG_HEADING_NORTH = 7      /* unknown panorama, assumed north-aligned (CVUSA, VIGOR) */
};

/* Half-width of the search around a magnetic heading, degrees: magnetic
 * declination reaches about 20 degrees where people live (NOAA WMM 2025),
 * plus a phone compass's error. */
#define TG_LOCATE_MAGNETIC_WINDOW 30.0

/* "none", "exif", "xmp", "gpano", "mapillary", "magnetic-searched",
 * "searched", "assumed-north" ("?" otherwise). */
TG_API const char *tg_heading_source_name(int source);

TG_API void tg_locate_opts_default(tg_locate_opts *o);

/* Open a locator on st (see the steps above). [out] *out. Returns 0,
 * TG_EINVAL (k < 1, a bad prior: see tg_store_candidates, a bad fov_deg: see camera.h,
 * heading_search outside 0..360), the errors of
 * tg_store_model_find / tg_store_model_get / tg_store_tileset, TG_ENOTFOUND
 * ("model 'x' has no tiles in 'db': index a raster with it first"), TG_EMODEL
 * (the model's embedding size differs from its tiles'), TG_ENOMEM. A prior
 * that selects no tile is not an error: see tg_locator_n_candidates. */
TG_API int tg_locator_open(tg_ctx *ctx, tg_store *st, const tg_locate_opts *o, tg_locator **out);

/* 1 when refinement is on by default for this model (TG_REFINE_AUTO): one
 * aerial embedding costs at most TG_REFINE_CHEAP_MACS multiply-adds (the demo
 * model: about 2e7; a ViT-S TransGeo: about 7e9, refine with TG_REFINE_ON). */
#define TG_REFINE_CHEAP_MACS 1e9
TG_API int tg_locator_refine_cheap(const tg_model *model);

/* 1 when the locator refines (opts.refine resolved). */
TG_API int tg_locator_refines(const tg_locator *loc);

/* Free the locator. NULL is accepted. */
TG_API void tg_locator_free(tg_locator *loc);

/* The registered model it locates with (valid while the locator lives). */
TG_API const tg_store_model *tg_locator_model(const tg_locator *loc);
/* Embedding size of the model (floats). */
TG_API int tg_locator_dim(const tg_locator *loc);
/* Tiles of the model in the store. */
TG_API size_t tg_locator_n_tiles(const tg_locator *loc);
/* Candidate tiles: tg_locator_n_tiles without a prior, else those the prior
 * selects (0: every run answers with no match). */
TG_API size_t tg_locator_n_candidates(const tg_locator *loc);

/* What to locate: an image (decoded, or a file, or the bytes of a file) or a
 * query embedding. Zero-initialise and set what you have. */
typedef struct tg_locate_input {
    const tg_image *image;  /* a decoded photo, or NULL: then path or bytes is decoded */
    const char *path;       /* the photo's file (a GDAL path): decoded when image is
                               NULL; its metadata is read from it */
    const void *bytes;      /* the photo's file in memory (n_bytes): decoded when image
                               and path are NULL; its metadata is read from it */
    size_t n_bytes;
    const float *embedding; /* a query embedding instead of a photo (L2-normalised, as
                               tg_model_embed_ground makes them; no metadata) */
    int embedding_dim;      /* its floats: must be tg_locator_dim (else TG_EMODEL) */
    /* Evaluation: rank the candidate tile nearest this true position. */
    int has_truth;
    double truth_lon, truth_lat; /* degrees WGS84 */
    int truth_from_gps;     /* 1: without has_truth, the photo's own GPS position is the
                               truth; a photo with neither is decoded but not embedded
                               (answer.has_truth = 0, no matches) */
    int has_truth_heading;  /* 1: truth_heading_deg is the photo's true heading */
    double truth_heading_deg; /* degrees clockwise from true north */
} tg_locate_input;

/* The answer for one photo. Owned by the caller: tg_locate_answer_clear. */
typedef struct tg_locate_answer {
    tg_match *matches;      /* the k best candidates, best first (malloc'ed) */
    int n_matches;          /* min(k, candidates with a score); 0 when the prior
                               selected no tile */
    int has_meta;           /* 1: meta was read from the photo (path or bytes) */
    tg_photo_meta meta;     /* its GPS position, heading, ... (zero when has_meta = 0) */
    double gps_error_m;     /* meta.has_gps and n_matches > 0: geodesic metres from
                               the photo's GPS to the estimate (lon, lat); else NaN */
    /* evaluation (input.has_truth or truth_from_gps): */
    int has_truth;          /* 1: the fields below are set */
    double truth_lon, truth_lat; /* the true position used, degrees */
    int64_t truth_tile_id;  /* the candidate whose centre is nearest the truth */
    double truth_tile_lon, truth_tile_lat; /* its centre, degrees */
    long truth_rank;        /* its rank by score among the candidates (1 = best; a
                               NaN score ranks after every scored tile) */
    double truth_score;     /* its score (NaN when not finite) */
    double truth_error_m;   /* geodesic metres from the estimate (lon, lat) to the truth */
    double truth_tile_error_m; /* ... from matches[0]'s centre to the truth */
    /* camera and heading (a photo; zero / NaN for an embedding query): */
    int has_camera;         /* 1: camera holds the photo's camera model */
    tg_camera camera;       /* field of view, projection, where it came from (camera.h) */
    double heading_deg;     /* matches[0]'s heading, degrees clockwise from true north,
                               [0, 360); NaN when none (heading_source NONE) */
    int heading_source;     /* TG_HEADING_* */
    int n_headings;         /* canvases embedded for the photo (1: one pass) */
    double heading_step_deg; /* spacing of the searched headings, degrees (0: no search) */
    double heading_error_deg; /* |heading_deg - truth_heading_deg| on the circle, [0, 180];
                               NaN without both */
    /* the prior used (every answer): */
    int prior;              /* TG_PRIOR_*: what chose the candidates */
    double prior_radius_m;  /* prior == TG_PRIOR_GPS: the window's radius, metres; else NaN */
    int gps_outside;        /* 1: gps_prior was asked, the photo has a position, but its
                               window held no tile (outside every raster): `prior` is the
                               fallback used */
    size_t n_candidates;    /* tiles the prior let through */
    /* the estimate (n_matches > 0): */
    double lon, lat;        /* degrees WGS84: refined, else matches[0]'s centre */
    double error_m;         /* 68 % radius around (lon, lat), metres (store.h) */
    int refined;            /* TG_REFINED_* */
    int n_refine_tiles;     /* tiles cut and embedded for the refinement (its cost) */
    char refine_note[160];  /* "" or why the refinement used the stored tiles only */
} tg_locate_answer;

/* Locate one photo (see the steps above). [out] *ans (cleared first; on
 * failure it holds nothing to free). Returns 0, TG_EINVAL (no input, a truth that is not
 * a lon/lat position), TG_EMODEL (an embedding of another size: made by
 * another model), the errors of decoding (TG_EIO, TG_EIMAGE, TG_EFORMAT) and of the engine,
 * TG_EIMAGE "no tile could be scored (the embedding is not finite)",
 * TG_ENOMEM. Thread-safe (see the top). */
TG_API int tg_locator_run(const tg_locator *loc, tg_ctx *ctx, const tg_locate_input *in,
                          tg_locate_answer *ans);

/* ---- many photos per pass -------------------------------------------------
 * tg_locator_run is three stages, run for one photo; called directly they
 * score many photos in one pass over the tiles (one matrix product instead
 * of one matrix-vector product per photo):
 *
 *     tg_locate_job *jobs[64] = {0};
 *     for (i = 0; i < n; i++)                     // any threads, one tg_ctx each
 *         tg_locator_prepare(loc, ctx_i, &in[i], &jobs[i]);  // decode, embed, window
 *     tg_locator_score(loc, ctx, jobs, n);        // one pass for the whole batch
 *     for (i = 0; i < n; i++) {                   // any threads again
 *         tg_locator_finish(loc, ctx_i, jobs[i], &ans[i]);   // rank, refine, error_m
 *         tg_locate_job_free(jobs[i]);
 *     }
 *
 * An answer is the same, bit for bit, whether its photo is located alone
 * (tg_locator_run) or in a batch of any size: a match's score is the exact
 * float32 product of tg_index_search_subset, and the pass over every tile
 * (tg_index_search_batch; for evaluation tg_tileset_scores_batch) only
 * narrows the tiles that can rank, with a bound on float32 rounding (see
 * src/locate/locator.c). Photos searched within a GPS window or a global
 * prior are scored on their own candidates in finish; heading canvases are
 * extra rows of the product.
 *
 * Ownership: the caller owns each job (tg_locate_job_free, NULL ok) and the
 * answer finish fills (tg_locate_answer_clear); a job does not keep the
 * input's pointers (an input embedding is copied). */
typedef struct tg_locate_job tg_locate_job;

/* Stage 1: everything before scoring (decoding, metadata, truth, camera,
 * headings, the embedding of each canvas, the candidates and the tile
 * nearest the truth). [out] *job. Returns as tg_locator_run; *job is NULL
 * on failure. Thread-safe. */
TG_API int tg_locator_prepare(const tg_locator *loc, tg_ctx *ctx, const tg_locate_input *in,
                              tg_locate_job **job);
/* Stage 2: score jobs[0..n) (NULL entries are skipped) in one pass over the
 * tiles, with ctx's threads. Returns 0, TG_ENOMEM, TG_EINVAL. Reads the
 * locator only, but runs one pass for all: call it from one thread per
 * batch. */
TG_API int tg_locator_score(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *const *jobs,
                            size_t n);
/* Stage 3: the answer of a scored job: matches, heading, estimate and
 * refinement, GPS error, the truth's rank. [out] *ans (cleared first; the
 * job's answer moves into it). Returns as tg_locator_run (TG_EINVAL for a
 * job tg_locator_score did not score). Thread-safe. */
TG_API int tg_locator_finish(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *job,
                             tg_locate_answer *ans);
/* Free a job. NULL is accepted. */
TG_API void tg_locate_job_free(tg_locate_job *job);

/* Free what an answer holds and zero it. NULL is accepted. */
TG_API void tg_locate_answer_clear(tg_locate_answer *ans);

/* A tile's footprint as WKT ("POLYGON((lon lat, ...))", EPSG:4326), read from
 * the store (one thread at a time). [out] *wkt (malloc'ed, free() it). */
TG_API int tg_locator_tile_wkt(const tg_locator *loc, tg_ctx *ctx, int64_t tile_id, char **wkt);

/* [out] *hit = 1 when (lon, lat) lies in the tile's footprint (its boundary
 * included), read from the store (one thread at a time): evaluation's hit
 * rate. Returns 0, TG_EDB. */
TG_API int tg_locator_tile_covers(const tg_locator *loc, tg_ctx *ctx, int64_t tile_id,
                                  double lon, double lat, int *hit);

#ifdef __cplusplus
}
#endif
#endif /* TG_LOCATE_H */
