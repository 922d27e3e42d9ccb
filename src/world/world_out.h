/*
 * world_out.h - file output and CRS helpers of the demo world (output.c).
 * Internal; every function returns 0 or a negative TG_E* code with the
 * message in ctx, and leaves no partial GDAL state behind.
 */
#ifndef TG_WORLD_OUT_H
#define TG_WORLD_OUT_H

#include <ogr_srs_api.h>

#include "world/world_int.h"

/* UTM <-> WGS 84 (longitude, latitude order). */
typedef struct wgeo {
    int epsg;
    OGRSpatialReferenceH utm, wgs;
    OGRCoordinateTransformationH fwd, inv; /* utm->wgs, wgs->utm */
    char *wkt;                             /* the UTM CRS as WKT (CPLFree) */
} wgeo;

int wgeo_init(tg_ctx *ctx, wgeo *g, int epsg);
void wgeo_free(wgeo *g); /* zeroed or initialised g */
int wgeo_lonlat(tg_ctx *ctx, const wgeo *g, double e, double n, double *lon, double *lat);
/* Degrees to add to a grid azimuth at (e, n) to get a true azimuth. */
int wgeo_grid_to_true(tg_ctx *ctx, const wgeo *g, double e, double n, double *deg);

/* The aerial GeoTIFF, written in row strips: open, write, close (close also
 * on failure paths; it reports write-back errors). */
int waerial_open(tg_ctx *ctx, const char *path, int w, int h, const wgeo *g, const double gt[6], void **ds);
int waerial_write(tg_ctx *ctx, void *ds, const char *path, int row0, int w, int rows, const unsigned char *rgb);
int waerial_close(tg_ctx *ctx, void *ds, const char *path);

/* JPEG with EXIF items (GDAL "EXIF_*" names, NULL = none) and an XMP packet
 * (NULL = none); PNG without metadata. rgb: w*h*3 bytes. */
int wwrite_jpeg(tg_ctx *ctx, const char *path, const unsigned char *rgb, int w, int h, int quality,
                char **exif, const char *xmp);
int wwrite_png(tg_ctx *ctx, const char *path, const unsigned char *rgb, int w, int h);

/* EXIF GPS items for a photo; focal35_mm <= 0 for panoramas. NULL on OOM.
 * Free with wexif_free. */
char **wexif_items(double lon, double lat, double alt_m, double heading_deg, double focal35_mm, uint64_t seed,
                   double hpe_m);
void wexif_free(char **md);
/* GPano XMP packet (malloc'd) for a full equirectangular w x h panorama;
 * heading_deg NAN: no PoseHeadingDegrees (wexif_items: no GPSImgDirection). */
char *wgpano_xmp(int w, int h, double heading_deg);

#endif
