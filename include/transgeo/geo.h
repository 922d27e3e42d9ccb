/*
 * geo.h - geodesy with PROJ: geodesic distance and azimuth on the WGS84
 * ellipsoid, the UTM zone of a point, and coordinate transformation between
 * any two CRSs.
 *
 *     double d;
 *     tg_geo_distance_m(ctx, 13.4002944, 52.5189167, 13.4003889, 52.518925, &d); // 6.48 m
 *     int epsg = tg_geo_utm_epsg(13.40, 52.52);                                 // 32633
 *
 *     tg_geo_transform *t = NULL;
 *     tg_geo_transform_create(ctx, "EPSG:4326", "EPSG:32633", &t);
 *     double x = 13.40, y = 52.52;                 // lon, lat in: x is always lon/easting
 *     tg_geo_transform_points(ctx, t, 1, &x, &y);  // easting, northing out
 *     tg_geo_transform_free(t);
 *
 * Conventions: angles in degrees, distances in metres. Every function takes
 * longitude before latitude (x before y), for every CRS: transformations are
 * made with proj_normalize_for_visualization, so EPSG:4326 is lon/lat here
 * even though its official axis order is lat/lon.
 *
 * Geodesics are Karney's (PROJ's geodesic.h, C. F. F. Karney, "Algorithms
 * for geodesics", J. Geodesy 87:43-55, 2013): accurate to about 15 nm for any
 * pair of points, antipodal ones included.
 *
 * Threads: the geodesic functions and tg_geo_utm_epsg are pure and
 * thread-safe. A tg_geo_transform owns its own PJ_CONTEXT, so different
 * transforms may be used by different threads at once, but one transform by
 * one thread at a time (as a tg_ctx). PROJ's messages are captured into the
 * tg_ctx message, never printed.
 */
#ifndef TG_GEO_H
#define TG_GEO_H

#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Geodesic (shortest path on the WGS84 ellipsoid) distance between two
 * points. lat in [-90, 90], lon any finite value. [out] *dist_m >= 0.
 * TG_EINVAL (message says which value) on a bad coordinate or NULL dist_m. */
TG_API int tg_geo_distance_m(tg_ctx *ctx, double lon1, double lat1, double lon2, double lat2,
                             double *dist_m);

/* Inverse geodesic problem: distance and the forward azimuths at both ends
 * (degrees clockwise from north, in (-180, 180]). Any out pointer may be NULL. */
TG_API int tg_geo_inverse(tg_ctx *ctx, double lon1, double lat1, double lon2, double lat2,
                          double *dist_m, double *azi1_deg, double *azi2_deg);

/* Direct geodesic problem: the point dist_m metres from (lon1, lat1) along
 * azimuth azi1_deg. [out] *lon2 in [-180, 180], *lat2. */
TG_API int tg_geo_direct(tg_ctx *ctx, double lon1, double lat1, double azi1_deg, double dist_m,
                         double *lon2, double *lat2);

/* EPSG code of the WGS84 / UTM zone that contains (lon, lat): 326zz north of
 * the equator (lat >= 0), 327zz south, zz = 1..60, with the two official
 * exceptions of the UTM grid: zone 32V widened to 3..12 E for 56..64 N
 * (south-west Norway) and zones 31X/33X/35X/37X for Svalbard (72..84 N).
 * Beyond UTM's limits it returns Universal Polar Stereographic:
 * 32661 (WGS 84 / UPS North (N,E)) for lat > 84, 32761 (UPS South) for
 * lat < -80. lon is wrapped into [-180, 180) first (180 E is zone 1).
 * Returns TG_EINVAL (negative) for non-finite values or |lat| > 90. */
TG_API int tg_geo_utm_epsg(double lon, double lat);

/* A coordinate transformation between two CRSs, with its own PROJ context. */
typedef struct tg_geo_transform tg_geo_transform;

/* src_crs, dst_crs: anything proj_create accepts: "EPSG:4326", "EPSG:32633",
 * WKT, PROJJSON, a PROJ string. Axis order is normalised (x = lon or easting).
 * TG_EGEO with PROJ's message when a CRS is unknown or no transformation
 * exists. [out] *out, NULL on failure. */
TG_API int tg_geo_transform_create(tg_ctx *ctx, const char *src_crs, const char *dst_crs,
                                   tg_geo_transform **out);
/* Transform n points in place (x[i], y[i]), src -> dst (dst -> src:
 * tg_geo_transform_points_inv).
 * On failure (a point PROJ cannot transform: TG_EGEO naming its index and
 * value) x and y may be partly transformed. */
TG_API int tg_geo_transform_points(tg_ctx *ctx, tg_geo_transform *t, size_t n, double *x,
                                   double *y);
TG_API int tg_geo_transform_points_inv(tg_ctx *ctx, tg_geo_transform *t, size_t n, double *x,
                                       double *y);
/* Free a transform. NULL is accepted. */
TG_API void tg_geo_transform_free(tg_geo_transform *t);

/* One-shot convenience: transform one point (creates and frees a transform;
 * use tg_geo_transform_* for many points). */
TG_API int tg_geo_transform_point(tg_ctx *ctx, const char *src_crs, const char *dst_crs,
                                  double x, double y, double *x_out, double *y_out);

#ifdef __cplusplus
}
#endif
#endif /* TG_GEO_H */
