/* geo.c - geodesics, UTM zones and CRS transformations with PROJ (see geo.h). */
#include "config.h"
#include "transgeo/geo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <geodesic.h>
#include <proj.h>

/* WGS84 (NIMA TR8350.2): a = 6378137 m, f = 1/298.257223563. */
#define WGS84_A 6378137.0
#define WGS84_F (1.0 / 298.257223563)

static int check_point(tg_ctx *ctx, const char *fn, int i, double lon, double lat)
{
    if (!isfinite(lon) || !isfinite(lat) || lat < -90.0 || lat > 90.0)
        return tg_set_error(ctx, TG_EINVAL, "%s: point %d (lon %g, lat %g): expected finite values "
                            "with lat in [-90, 90]", fn, i, lon, lat);
    return TG_OK;
}

int tg_geo_inverse(tg_ctx *ctx, double lon1, double lat1, double lon2, double lat2,
                   double *dist_m, double *azi1_deg, double *azi2_deg)
{
    int rc;
    if ((rc = check_point(ctx, "tg_geo_inverse", 1, lon1, lat1)) ||
        (rc = check_point(ctx, "tg_geo_inverse", 2, lon2, lat2)))
        return rc;
    struct geod_geodesic g;
    geod_init(&g, WGS84_A, WGS84_F);
    double s12 = 0, a1 = 0, a2 = 0;
    geod_inverse(&g, lat1, lon1, lat2, lon2, &s12, &a1, &a2);
    if (dist_m) *dist_m = s12;
    if (azi1_deg) *azi1_deg = a1;
    if (azi2_deg) *azi2_deg = a2;
    return TG_OK;
}

int tg_geo_distance_m(tg_ctx *ctx, double lon1, double lat1, double lon2, double lat2, double *dist_m)
{
    if (!dist_m) return tg_set_error(ctx, TG_EINVAL, "tg_geo_distance_m: dist_m is NULL");
    int rc;
    if ((rc = check_point(ctx, "tg_geo_distance_m", 1, lon1, lat1)) ||
        (rc = check_point(ctx, "tg_geo_distance_m", 2, lon2, lat2)))
        return rc;
    return tg_geo_inverse(ctx, lon1, lat1, lon2, lat2, dist_m, NULL, NULL);
}

int tg_geo_direct(tg_ctx *ctx, double lon1, double lat1, double azi1_deg, double dist_m,
                  double *lon2, double *lat2)
{
    if (!lon2 || !lat2) return tg_set_error(ctx, TG_EINVAL, "tg_geo_direct: NULL output");
    int rc = check_point(ctx, "tg_geo_direct", 1, lon1, lat1);
    if (rc) return rc;
    if (!isfinite(azi1_deg) || !isfinite(dist_m))
        return tg_set_error(ctx, TG_EINVAL, "tg_geo_direct: azimuth %g deg, distance %g m: expected finite values",
                            azi1_deg, dist_m);
    struct geod_geodesic g;
    geod_init(&g, WGS84_A, WGS84_F);
    geod_direct(&g, lat1, lon1, azi1_deg, dist_m, lat2, lon2, NULL);
    return TG_OK;
}

int tg_geo_utm_epsg(double lon, double lat)
{
    if (!isfinite(lon) || !isfinite(lat) || lat < -90.0 || lat > 90.0) return TG_EINVAL;
    if (lat > 84.0) return 32661;  /* UPS North */
    if (lat < -80.0) return 32761; /* UPS South */
    lon = fmod(lon + 180.0, 360.0);
    if (lon < 0) lon += 360.0;
    lon -= 180.0; /* [-180, 180) */
    int zone = (int)floor((lon + 180.0) / 6.0) + 1;
    if (zone > 60) zone = 60;
    if (zone < 1) zone = 1;
    /* Exceptions of the UTM grid (as in MGRS): band V (56..64 N) zone 32
     * covers 3..12 E; band X (72..84 N) has zones 31 (0..9 E), 33 (9..21 E),
     * 35 (21..33 E), 37 (33..42 E) only. */
    if (lat >= 56.0 && lat < 64.0 && lon >= 3.0 && lon < 12.0) zone = 32;
    if (lat >= 72.0 && lon >= 0.0 && lon < 42.0) {
        if (lon < 9.0) zone = 31;
        else if (lon < 21.0) zone = 33;
        else if (lon < 33.0) zone = 35;
        else zone = 37;
    }
    return (lat >= 0.0 ? 32600 : 32700) + zone;
}

/* ---- CRS transformations ------------------------------------------------ */

struct tg_geo_transform {
    PJ_CONTEXT *pj_ctx;  /* own context: one transform per thread at a time */
    PJ *pj;              /* normalised (x = lon/easting) operation */
    char log[512];       /* last message PROJ logged on pj_ctx */
    char src[128], dst[128]; /* CRS strings (shortened) for messages */
};

static void proj_logger(void *app, int level, const char *msg)
{
    (void)level;
    struct tg_geo_transform *t = app;
    if (t && msg) snprintf(t->log, sizeof t->log, "%s", msg);
}

static void append_proj_error(tg_ctx *ctx, struct tg_geo_transform *t)
{
    int e = proj_context_errno(t->pj_ctx);
    const char *s = e ? proj_context_errno_string(t->pj_ctx, e) : NULL;
    if (t->log[0]) tg_append_error(ctx, "%s", t->log);
    else if (s) tg_append_error(ctx, "%s", s);
}

static void shorten(char *dst, size_t n, const char *s)
{
    size_t l = strlen(s);
    if (l < n) {
        memcpy(dst, s, l + 1);
    } else {
        snprintf(dst, n, "%.*s...", (int)(n - 4), s);
    }
}

void tg_geo_transform_free(tg_geo_transform *t)
{
    if (!t) return;
    if (t->pj) proj_destroy(t->pj);
    if (t->pj_ctx) proj_context_destroy(t->pj_ctx);
    free(t);
}

int tg_geo_transform_create(tg_ctx *ctx, const char *src_crs, const char *dst_crs, tg_geo_transform **out)
{
    if (out) *out = NULL;
    if (!src_crs || !dst_crs || !out)
        return tg_set_error(ctx, TG_EINVAL, "tg_geo_transform_create: NULL argument");
    tg_geo_transform *t = calloc(1, sizeof *t);
    if (!t) return tg_set_error(ctx, TG_ENOMEM, "tg_geo_transform_create: out of memory");
    shorten(t->src, sizeof t->src, src_crs);
    shorten(t->dst, sizeof t->dst, dst_crs);
    t->pj_ctx = proj_context_create();
    if (!t->pj_ctx) {
        free(t);
        return tg_set_error(ctx, TG_ENOMEM, "tg_geo_transform_create: cannot create a PROJ context");
    }
    proj_log_func(t->pj_ctx, t, proj_logger);
    proj_log_level(t->pj_ctx, PJ_LOG_ERROR);
    PJ *p = proj_create_crs_to_crs(t->pj_ctx, src_crs, dst_crs, NULL);
    if (!p) {
        tg_set_error(ctx, TG_EGEO, "transformation from CRS '%s' to '%s': cannot be created "
                     "(unknown CRS or no transformation between them; check the CRS strings, e.g. EPSG:4326)",
                     t->src, t->dst);
        append_proj_error(ctx, t);
        tg_geo_transform_free(t);
        return TG_EGEO;
    }
    t->pj = proj_normalize_for_visualization(t->pj_ctx, p);
    proj_destroy(p);
    if (!t->pj) {
        tg_set_error(ctx, TG_EGEO, "transformation from CRS '%s' to '%s': cannot normalise the axis order",
                     t->src, t->dst);
        append_proj_error(ctx, t);
        tg_geo_transform_free(t);
        return TG_EGEO;
    }
    *out = t;
    return TG_OK;
}

static int transform(tg_ctx *ctx, tg_geo_transform *t, PJ_DIRECTION dir, size_t n, double *x, double *y)
{
    if (!t || (n && (!x || !y)))
        return tg_set_error(ctx, TG_EINVAL, "tg_geo_transform_points: NULL argument");
    for (size_t i = 0; i < n; i++) {
        t->log[0] = '\0';
        proj_errno_reset(t->pj);
        PJ_COORD c = proj_coord(x[i], y[i], 0, 0);
        PJ_COORD r = proj_trans(t->pj, dir, c);
        if (!isfinite(r.xy.x) || !isfinite(r.xy.y) || r.xy.x == HUGE_VAL) {
            int e = proj_errno(t->pj);
            tg_set_error(ctx, TG_EGEO, "transforming point %zu (%.9g, %.9g) from '%s' to '%s' failed "
                         "(outside the area of the CRS?)", i, x[i], y[i],
                         dir == PJ_FWD ? t->src : t->dst, dir == PJ_FWD ? t->dst : t->src);
            if (t->log[0]) tg_append_error(ctx, "%s", t->log);
            else if (e) tg_append_error(ctx, "%s", proj_context_errno_string(t->pj_ctx, e));
            return TG_EGEO;
        }
        x[i] = r.xy.x;
        y[i] = r.xy.y;
    }
    return TG_OK;
}

int tg_geo_transform_points(tg_ctx *ctx, tg_geo_transform *t, size_t n, double *x, double *y)
{
    return transform(ctx, t, PJ_FWD, n, x, y);
}

int tg_geo_transform_points_inv(tg_ctx *ctx, tg_geo_transform *t, size_t n, double *x, double *y)
{
    return transform(ctx, t, PJ_INV, n, x, y);
}

int tg_geo_transform_point(tg_ctx *ctx, const char *src_crs, const char *dst_crs, double x, double y,
                           double *x_out, double *y_out)
{
    if (!x_out || !y_out) return tg_set_error(ctx, TG_EINVAL, "tg_geo_transform_point: NULL output");
    tg_geo_transform *t = NULL;
    int rc = tg_geo_transform_create(ctx, src_crs, dst_crs, &t);
    if (rc) return rc;
    rc = transform(ctx, t, PJ_FWD, 1, &x, &y);
    tg_geo_transform_free(t);
    if (rc) return rc;
    *x_out = x;
    *y_out = y;
    return TG_OK;
}
