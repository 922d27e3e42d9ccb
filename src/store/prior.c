/* prior.c - the spatial prior: tiles whose centre lies within a distance of
 * a geometry (tg_store_candidates, see store.h). */
#include "config.h"
#include "store_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spatialite/gaiageo.h> /* after sqlite3.h: it uses sqlite3_int64 */

/* ---- spatial prior ------------------------------------------------------ */

void tgst_prior_frame(double minx, double miny, double maxx, double maxy, double radius_m,
                      double *xlo_out, double *xhi_out, double *lat_lo_out, double *lat_hi_out,
                      double *wlo_out, double *whi_out)
{
    /* Search frame: the geometry's box grown by radius_m. A degree of
     * latitude is >= 110574 m and a degree of longitude >= 111319 m * cos(lat)
     * on WGS84, so these margins (with 0.1 % to spare) contain the circle. */
    double r = radius_m * 1.001;
    double dlat = r / 110574.0;
    double lat_lo = miny - dlat, lat_hi = maxy + dlat;
    double maxlat = fmax(fabs(lat_lo), fabs(lat_hi));
    double xlo = -180, xhi = 180;
    if (maxlat < 89.9) {
        double dlon = r / (111319.0 * cos(maxlat * M_PI / 180));
        xlo = minx - dlon;
        xhi = maxx + dlon;
    }
    /* Across the antimeridian the box wraps: a box past 180 E also holds
     * [-180, xhi - 360], one past 180 W also [xlo + 360, 180] (footprints
     * are stored in [-180, 180]; ST_Distance measures across the line). */
    double wlo = 1, whi = 0; /* the wrapped part, empty unless set */
    if (xhi - xlo >= 360) {
        xlo = -180;
        xhi = 180;
    } else if (xhi > 180) {
        wlo = -180;
        whi = xhi - 360;
    } else if (xlo < -180) {
        wlo = xlo + 360;
        whi = 180;
    }
    *xlo_out = xlo;
    *xhi_out = xhi;
    *lat_lo_out = lat_lo;
    *lat_hi_out = lat_hi;
    *wlo_out = wlo;
    *whi_out = whi;
}

int tg_store_candidates(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                        const tg_store_prior *prior, int64_t **ids, size_t *n)
{
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!st || !m || !prior || !ids || !n)
        return tg_set_error(ctx, TG_EINVAL, "tg_store_candidates: NULL argument");
    if (!isfinite(prior->radius_m) || prior->radius_m < 0)
        return tg_set_error(ctx, TG_EINVAL, "radius %g m: expected a finite distance >= 0 metres",
                            prior->radius_m);
    unsigned char *own = NULL;
    const unsigned char *blob = prior->geom;
    int size = (int)prior->geom_size;
    if (!blob && prior->wkb) { /* WKB (PostGIS): made a SpatiaLite BLOB, SRID 4326 */
        gaiaGeomCollPtr gw = prior->wkb_size <= INT32_MAX
                                 ? gaiaFromWkb(prior->wkb, (unsigned int)prior->wkb_size)
                                 : NULL;
        if (!gw)
            return tg_set_error(ctx, TG_EINVAL, "prior: the bytes are not a WKB geometry");
        gw->Srid = 4326;
        gaiaToSpatiaLiteBlobWkb(gw, &own, &size);
        gaiaFreeGeomColl(gw);
        if (!own) return tg_set_error(ctx, TG_ENOMEM, "prior: out of memory");
        blob = own;
    } else if (!blob) {
        if (!isfinite(prior->lon) || !isfinite(prior->lat) || fabs(prior->lat) > 90)
            return tg_set_error(ctx, TG_EINVAL, "prior point (%g, %g): not a lon/lat position",
                                prior->lon, prior->lat);
        if (tgst_point_blob(prior->lon, prior->lat, &own, &size))
            return tg_set_error(ctx, TG_ENOMEM, "prior: out of memory");
        blob = own;
    } else if (prior->geom_size > INT32_MAX) {
        return tg_set_error(ctx, TG_EINVAL, "prior geometry: BLOB too large");
    }
    gaiaGeomCollPtr g = tg_store_geom_check(blob, (size_t)size, NULL, NULL) == TG_OK
                            ? gaiaFromSpatiaLiteBlobWkb(blob, (unsigned int)size)
                            : NULL;
    if (!g) {
        free(own);
        return tg_set_error(ctx, TG_EINVAL,
                            "prior: the BLOB is not a SpatiaLite geometry (make one with "
                            "MakePoint(lon, lat, 4326) or GeomFromText(wkt, 4326))");
    }
    int srid = g->Srid;
    gaiaMbrGeometry(g);
    double minx = g->MinX, miny = g->MinY, maxx = g->MaxX, maxy = g->MaxY;
    gaiaFreeGeomColl(g);
    if (srid != 4326) {
        free(own);
        return tg_set_error(ctx, TG_EINVAL,
                            "prior geometry has SRID %d, expected 4326 (WGS 84 lon/lat): use "
                            "ST_Transform(geom, 4326)",
                            srid);
    }
    double xlo, xhi, lat_lo, lat_hi, wlo, whi;
    tgst_prior_frame(minx, miny, maxx, maxy, prior->radius_m, &xlo, &xhi, &lat_lo, &lat_hi, &wlo,
                     &whi);
    if (st->pg) { /* pg_query.c: the same rule in PostGIS, the geometry as WKB */
        gaiaGeomCollPtr gw = gaiaFromSpatiaLiteBlobWkb(blob, (unsigned int)size);
        unsigned char *wkb = NULL;
        int wkb_size = 0;
        if (gw) gaiaToWkb(gw, &wkb, &wkb_size);
        gaiaFreeGeomColl(gw);
        free(own);
        if (!wkb) return tg_set_error(ctx, TG_ENOMEM, "prior: out of memory");
        double frame[6] = {xlo, xhi, lat_lo, lat_hi, wlo, whi};
        int rc = tgpg_candidates(ctx, st, m, wkb, (size_t)wkb_size, frame, prior->radius_m, ids, n);
        free(wkb);
        return rc;
    }
    sqlite3_stmt *s = NULL;
    int64_t *out = NULL;
    size_t cnt = 0, cap = 0;
    int rc = tgst_prepare(ctx, st->db,
                     "SELECT t.id FROM tg_tiles AS t WHERE t.model_id = ?1 AND t.id IN "
                     "(SELECT pkid FROM idx_tg_tiles_geom WHERE ((xmax >= ?2 AND xmin <= ?3) OR "
                     "(xmax >= ?8 AND xmin <= ?9)) AND ymax >= ?4 AND ymin <= ?5) AND "
                     "ST_Distance(MakePoint(t.center_lon, t.center_lat, 4326), ?6, 1) <= ?7 "
                     "ORDER BY t.id",
                     &s);
    if (rc) goto done;
    sqlite3_bind_int64(s, 1, m->id);
    sqlite3_bind_double(s, 2, xlo);
    sqlite3_bind_double(s, 3, xhi);
    sqlite3_bind_double(s, 4, lat_lo);
    sqlite3_bind_double(s, 5, lat_hi);
    sqlite3_bind_blob(s, 6, blob, size, SQLITE_STATIC);
    sqlite3_bind_double(s, 7, prior->radius_m);
    sqlite3_bind_double(s, 8, wlo);
    sqlite3_bind_double(s, 9, whi);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 256;
            int64_t *p = realloc(out, cap * sizeof *p);
            if (!p) {
                rc = tg_set_error(ctx, TG_ENOMEM, "prior: out of memory");
                goto done;
            }
            out = p;
        }
        out[cnt++] = sqlite3_column_int64(s, 0);
    }
    if (step != SQLITE_DONE) rc = tgst_fail(ctx, st->db, "selecting the tiles near the prior");
done:
    sqlite3_finalize(s);
    free(own);
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = cnt;
    return TG_OK;
}
