/*
 * demo_map.h - the picture `transgeo demo` draws: the orthophoto, downsampled,
 * with each photo's true position, its estimate and the error line between.
 */
#ifndef TG_DEMO_MAP_H
#define TG_DEMO_MAP_H

#include <stddef.h>
#include "transgeo/core.h"

typedef struct demo_map_point {
    double true_lon, true_lat; /* degrees WGS84 */
    double est_lon, est_lat;   /* the top-1 tile centre */
    int correct;               /* 1: top-1 tile is the true tile (drawn green, else red) */
} demo_map_point;

/* Write out_png: aerial_path (a georeferenced raster, RGB) read at most
 * max_px wide with GDAL's bilinear overview/RasterIO resampling, points drawn
 * with GDALRasterizeGeometries (lines truth->estimate, squares for true
 * positions, crosses for estimates). Returns 0, TG_EIO, TG_EGEO, TG_ENOMEM. */
int demo_map_write(tg_ctx *ctx, const char *aerial_path, const demo_map_point *pts, size_t n,
                   int max_px, const char *out_png);

#endif
