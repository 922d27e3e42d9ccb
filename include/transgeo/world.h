/*
 * world/world.h - the deterministic demo world: a generated town seen from
 * above (an aerial GeoTIFF) and from its streets (360-degree panoramas and
 * ordinary photos with GPS EXIF), for the demo and for training the demo model.
 *
 * No pretrained TransGeo weights or datasets can be downloaded where transgeo
 * is built, so the project trains a small model on many generated worlds and
 * `transgeo demo` runs the real pipeline on a world the model has not seen.
 *
 *     tg_world_options o;
 *     tg_world_options_default(&o);
 *     o.seed = 7; o.size_m = 300; o.n_panos = 20; o.out_dir = "w7";
 *     if (tg_world_generate(ctx, &o)) fprintf(stderr, "%s\n", tg_errmsg(ctx));
 *
 * writes into out_dir:
 *   aerial.tif      RGB Byte GeoTIFF (tiled 256x256, DEFLATE), north-up, in
 *                   EPSG:utm_epsg, gsd_m metres per pixel, covering the square
 *                   [center_e +- size_m/2] x [center_n +- size_m/2] exactly.
 *   (GPS: see gps_noise_m below)
 *   panos/NNNN.jpg  equirectangular 360x180-degree panoramas, pano_w x pano_h,
 *                   taken on streets 2.0 m above the ground; EXIF GPS
 *                   (latitude, longitude, altitude, GPSImgDirection) and a GPano
 *                   XMP packet (ProjectionType "equirectangular").
 *   photos/NNNN.jpg perspective photos (photo_fov_deg horizontally, level, a
 *                   random heading) from sidewalks 1.7 m above the ground; EXIF
 *                   GPS with GPSImgDirection, FocalLengthIn35mmFilm; no GPano.
 *   truth.csv       file,lon,lat,easting,northing,heading: one row per photo,
 *                   panoramas first (paths relative to out_dir, lon/lat WGS84
 *                   degrees, easting/northing in utm_epsg metres, heading in
 *                   degrees clockwise from true north of the image centre).
 *   pairs/          only when n_pairs > 0: training pairs (see below).
 *   world.json      seed, size, CRS, geotransform, sun, conventions, counts,
 *                   generator version.
 *
 * Panorama convention (the CVUSA/VIGOR one, used by TransGeo): north-aligned,
 * NORTH IN THE CENTRE COLUMN. Continuous image coordinate u in [0, W) (pixel
 * column c covers [c, c+1)) looks at grid azimuth 360*u/W - 180 degrees,
 * clockwise from north: the left edge looks south, W/4 west, W/2 north, 3W/4
 * east. Row coordinate v in [0, H) looks at elevation 90 - 180*v/H degrees:
 * the horizon is the line between rows H/2-1 and H/2. "North" is grid north
 * of the UTM CRS (the aerial raster's up), so a panorama and its north-up
 * aerial tile agree; EXIF/XMP/truth headings are converted to true north
 * (GPano PoseHeadingDegrees = true heading of the centre column, within a few
 * hundredths of a degree of 0 near the zone's central meridian).
 *
 * Pairs (training data): n_pairs random street points, each written as
 * pairs/ground/NNNNNN.jpg (a panorama as above, without EXIF) and
 * pairs/aerial/NNNNNN.png (the north-up aerial crop centred on the point,
 * tile_m metres square, tile_px x tile_px, rendered by the same function as
 * aerial.tif on the crop's own pixel grid: one sample per pixel plus edge
 * anti-aliasing where tile_m / tile_px <= gsd_m, else k x k samples at
 * gsd_m or finer, box averaged, as `gdalwarp -r average` would), listed in
 * pairs.csv: id,ground,aerial,lon,lat,easting,northing.
 *
 * Determinism: the same options give the same scene and the same pixels on
 * every machine: the layout and the renderers use their own PRNG
 * (xoshiro256** seeded by splitmix64), their own sine/cosine/exp, and only
 * IEEE-exact arithmetic (+ - * / sqrt, built with -ffp-contract=off). File
 * bytes are identical for the same GDAL/libjpeg/zlib builds; the longitudes
 * and latitudes come from PROJ. Changing a count (n_panos, n_pairs, ...)
 * never changes the scene or the other outputs' positions.
 *
 * Ownership: options and out_dir belong to the caller; nothing is retained.
 */
#ifndef TG_WORLD_H
#define TG_WORLD_H

#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Generator version, written to world.json: bumped whenever the same options
 * would give different pixels or positions. */
#define TG_WORLD_VERSION 1

typedef struct tg_world_options {
    uint64_t seed;            /* scene seed; default 1 */
    double size_m;            /* side of the square world, m; 100..6000, default 1500 */
    double gsd_m;             /* aerial metres per pixel; 0.05..5, default 0.5;
                                 size_m/gsd_m must be a whole number of pixels (1e-6) */
    int utm_epsg;             /* WGS 84 / UTM: 32601..32660 or 32701..32760; default 32633 */
    double center_e;          /* easting of the world's centre, m; default 500000 */
    double center_n;          /* northing of the world's centre, m; default 5340000
                                 (with 32633: 15.0 E, 48.2 N) */
    double sun_azimuth_deg;   /* sun azimuth, deg clockwise from grid north; <0 (default):
                                 drawn from the seed in [100, 260] */
    double sun_elevation_deg; /* sun elevation, deg; <=0 (default): drawn in [30, 65] */
    int write_aerial;         /* 1 (default): write aerial.tif; 0: skip it */
    int n_panos;              /* panoramas; default 100 */
    int pano_w, pano_h;       /* panorama size, px; default 512 x 256; w even, h = w/2 */
    int pano_rotate;          /* 1: each panorama is rotated to a random heading (a whole
                                 number of columns, its own PRNG stream: positions and
                                 pixels otherwise as with 0) and carries NO heading
                                 (no GPSImgDirection, no GPano PoseHeadingDegrees);
                                 truth.csv's heading is its centre column's. Default 0:
                                 north-aligned, heading in EXIF/XMP */
    int n_photos;             /* perspective photos; default 10 */
    int photo_w, photo_h;     /* perspective photo size, px; default 640 x 480 */
    double photo_fov_deg;     /* horizontal field of view, deg; 10..150, default 90 */
    int supersample;          /* rays per pixel along each axis for panoramas and
                                 photos; 1..4, default 2 (4 rays per pixel) */
    int jpeg_quality;         /* 1..100, default 92 */
    double gps_noise_m;       /* 0 (default): the EXIF GPS is the true position; > 0 (up
                                 to 1000): noised as a city's GPS, heavy-tailed with this
                                 median distance (80 % a 2-D normal of sigma 0.73 M, 20 %
                                 of sigma 2.5 M), with GPSHPositioningError = 1.51 sigma
                                 of the draw's component; truth.csv keeps the true
                                 positions. Its own random stream: cameras do not move */
    int n_pairs;              /* training pairs; default 0 */
    double tile_m;            /* pairs: aerial crop side, m; default 64 */
    int tile_px;              /* pairs: aerial crop side, px; default 128 */
    double edge_margin_m;     /* camera positions keep this far from the world's
                                 edge, m; <0 (default): max(10, tile_m / 2) */
    int n_threads;            /* 0 (default): tg_ctx_threads(ctx) */
    const char *out_dir;      /* output directory (created, parents must exist); required */
    tg_progress_fn progress;  /* called after each output item; NULL = none */
    void *progress_user;      /* passed to progress */
} tg_world_options;

/* Fill *o with the defaults above (out_dir NULL). */
TG_API void tg_world_options_default(tg_world_options *o);

/* Generate the world described by *o and write it to o->out_dir (see the top
 * of this file). Existing files of the same names are overwritten; others are
 * left alone. Returns 0, TG_EINVAL (a bad option: the message names it and its
 * range), TG_EIO (cannot create/write a file), TG_EGEO (CRS), TG_ENOMEM or
 * TG_ECANCEL (the progress callback returned 0; files written so far stay). */
TG_API int tg_world_generate(tg_ctx *ctx, const tg_world_options *o);

#ifdef __cplusplus
}
#endif
#endif /* TG_WORLD_H */
