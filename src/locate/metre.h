/* metre.h - the locator's metre-level stages (internal to libtransgeo): the
 * per-photo GPS window over the tileset's centres and the refinement below
 * the tile stride. Both run inside tg_locator_run, in any number of threads:
 * they read the tileset and the model, never the store's connection.
 * Documented for users in locate.h ("Refinement", tg_locate_opts). */
#ifndef TG_LOCATE_METRE_H
#define TG_LOCATE_METRE_H

#include <stddef.h>
#include <stdint.h>

#include "transgeo/locate.h"

/* The window radius for a photo (opts.gps_radius_m and its accuracy, see
 * tg_locate_opts). */
double tg_metre_gps_radius(double fixed_m, const tg_photo_meta *m);

/* Tile ids (ascending, as the tileset's rows) whose centre lies within r_m
 * metres (geodesic, WGS84) of (lon, lat). [out] *ids (malloc'ed; NULL when
 * *n == 0), *n. Returns 0, TG_EINVAL (not a position), TG_ENOMEM. */
int tg_metre_window(tg_ctx *ctx, const tg_tileset *ts, double lon, double lat, double r_m,
                    int64_t **ids, size_t *n);

/* What a refinement reads (all owned by the locator). */
typedef struct tg_metre_refine {
    const tg_model *model;
    const tg_tileset *ts;
    const tg_store_raster *rasters; /* the model's rasters, checked (status) */
    size_t n_rasters;
    int max_tiles;                  /* tiles cut and embedded at most */
} tg_metre_refine;

/* Refine the estimate around best (the top match) for query q (the photo's
 * embedding). cand/n_cand: the candidate tile ids (sorted), or cand NULL for
 * every tile. Fills ans->lon, lat, refined, n_refine_tiles, refine_note.
 * Errors of the engine and TG_ENOMEM are returned; a raster that cannot be
 * cut is not an error (stored tiles only, with a note). */
int tg_metre_refine_run(tg_ctx *ctx, const tg_metre_refine *rf, const float *q,
                        const tg_match *best, const int64_t *cand, size_t n_cand,
                        tg_locate_answer *ans);

/* The GPS prior as a probability: a tile at d metres from the photo's GPS
 * has the prior N(d; sigma) (sigma = window / 4.5: the window is 3 stated
 * 68 % radii, each 1.51 sigma of a 2-D normal); its posterior is
 * exp(alpha s) N(d; sigma), alpha = TG_STORE_ERROR_ALPHA. The penalty is
 * log N / alpha, so score + penalty ranks as the posterior. */
double tg_metre_gps_penalty(double d_m, double sigma_m);
#define TG_METRE_GPS_SIGMA_DIV 4.5

/* <a, b> over n floats, accumulated in double in index order: the score
 * the GPS posterior ranks by (tg_metre_gps_match and the rank of a truth in
 * the window), the same whatever else is computed at the time. */
double tg_metre_dot(const float *a, const float *b, int n);

/* The k best candidates (cand, sorted ids) by posterior around (lon, lat),
 * as tg_tileset_match fills them (score = the cosine; error_m over the best
 * TG_STORE_ERROR_K by posterior). Returns 0, TG_ENOMEM. */
int tg_metre_gps_match(tg_ctx *ctx, const tg_tileset *ts, const float *q, const int64_t *cand,
                       size_t n_cand, double lon, double lat, double sigma_m, int k,
                       tg_match *out, int *n_out);

#endif /* TG_LOCATE_METRE_H */
