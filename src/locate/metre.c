/* metre.c - the per-photo GPS window and the refinement below the tile
 * stride (see metre.h and locate.h). Thread-safe: reads the tileset, the
 * model and the raster files, never the store's connection. */
#include "config.h"
#include "metre.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transgeo/geo.h"
#include "transgeo/search.h"
#include "transgeo/tilecache.h"
#include "transgeo/transgeo_model.h"

/* Sharpness of the score-weighted mean of refinement: weights
 * exp(alpha (s - s_max)). Measured on a training world (seed 1001, 640 m,
 * 150 panoramas, 38 with the right best tile; right-tile median error over
 * the tile-centre oracle's): alpha 0 0.69, 2 0.64, 5 0.59, 10 0.62, 20 0.68,
 * 60 0.71; the mean over the last 3 x 3 only (alpha 20) 0.74, and a third
 * round at stride/8 did not help (0.75). */
#define REFINE_ALPHA 5.0
/* The fine grid: stride / REFINE_DIV; rounds halve the step from stride/2. */
#define REFINE_DIV 4
#define REFINE_ROUNDS 2

double tg_metre_gps_radius(double fixed_m, const tg_photo_meta *m)
{
    if (fixed_m > 0) return fixed_m;
    double r = TG_GPS_PRIOR_DEFAULT_M;
    if (m && m->has_hpe) r = TG_GPS_PRIOR_SIGMAS * m->hpe_m;
    else if (m && m->has_dop) r = TG_GPS_PRIOR_SIGMAS * TG_GPS_PRIOR_DOP_M * m->dop;
    return r > TG_GPS_PRIOR_MIN_M ? r : TG_GPS_PRIOR_MIN_M;
}

/* Great-circle distance on the mean-radius sphere (haversine: well
 * conditioned for small distances, across the antimeridian and at the
 * poles). Within 0.6 % of the WGS84 geodesic, so it only preselects. */
static double sphere_m(double lon1, double lat1, double lon2, double lat2)
{
    const double d2r = M_PI / 180.0;
    double sl = sin((lat2 - lat1) * d2r / 2), so = sin((lon2 - lon1) * d2r / 2);
    double h = sl * sl + cos(lat1 * d2r) * cos(lat2 * d2r) * so * so;
    if (h > 1) h = 1;
    return 2 * 6371008.8 * asin(sqrt(h));
}

int tg_metre_window(tg_ctx *ctx, const tg_tileset *ts, double lon, double lat, double r_m,
                    int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!isfinite(lon) || !isfinite(lat) || fabs(lat) > 90 || !(r_m >= 0) || !isfinite(r_m))
        return tg_set_error(ctx, TG_EINVAL, "GPS window (%g, %g) radius %g m: not a position",
                            lon, lat, r_m);
    size_t cnt = tg_tileset_count(ts), m = 0, cap = 0;
    int64_t *out = NULL;
    for (size_t i = 0; i < cnt; i++) {
        int64_t id;
        double clon, clat, d;
        tg_tileset_tile(ts, i, &id, &clon, &clat, NULL);
        if (sphere_m(lon, lat, clon, clat) > r_m * 1.01 + 1.0) continue;
        int rc = tg_geo_distance_m(ctx, lon, lat, clon, clat, &d);
        if (rc) {
            free(out);
            return rc;
        }
        if (d > r_m) continue;
        if (m == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *p = realloc(out, cap * sizeof *p);
            if (!p) {
                free(out);
                return tg_set_error(ctx, TG_ENOMEM, "GPS window: out of memory");
            }
            out = p;
        }
        out[m++] = id; /* rows are in ascending id order */
    }
    *ids = out;
    *n = m;
    return TG_OK;
}

/* ---- refinement ---------------------------------------------------------- */

typedef struct pt {
    int dc, dr;        /* offset from the best tile, fine-grid steps */
    double lon, lat;
    double score;
} pt;

static int cand_has(const int64_t *cand, size_t n, int64_t id)
{
    if (!cand) return 1;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cand[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && cand[lo] == id;
}

double tg_metre_dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* The score-weighted mean of pts (longitudes taken relative to lon0 so that
 * a neighbourhood across the antimeridian averages right). */
static void weighted_mean(const pt *p, int n, double lon0, double *lon, double *lat)
{
    double smax = -INFINITY;
    for (int i = 0; i < n; i++)
        if (p[i].score > smax) smax = p[i].score;
    double w = 0, x = 0, y = 0;
    for (int i = 0; i < n; i++) {
        double wi = exp(REFINE_ALPHA * (p[i].score - smax));
        double dl = remainder(p[i].lon - lon0, 360.0);
        w += wi;
        x += wi * dl;
        y += wi * p[i].lat;
    }
    *lon = remainder(lon0 + x / w + 180.0, 360.0) - 180.0;
    if (*lon < -180) *lon += 360;
    *lat = y / w;
}

/* Stored tiles only: the weighted mean over the best tile and its candidate
 * neighbours within 1.5 strides (the 3 x 3 of the index grid). */
static int stored_points(tg_ctx *ctx, const tg_metre_refine *rf, const float *q,
                         const tg_match *best, const int64_t *cand, size_t n_cand, pt p[9],
                         int *n_out)
{
    int np = 0;
    p[np++] = (pt){0, 0, best->lon, best->lat, best->score};
    const tg_index *ix = tg_tileset_index(rf->ts);
    int dim = tg_index_dim(ix);
    size_t n = tg_tileset_count(rf->ts);
    double lim = 1.5 * best->stride_m;
    for (size_t i = 0; i < n && np < 9; i++) {
        int64_t id;
        double lon, lat, d;
        tg_tileset_tile(rf->ts, i, &id, &lon, &lat, NULL);
        if (id == best->tile_id || sphere_m(best->lon, best->lat, lon, lat) > lim * 1.01 + 1)
            continue;
        if (!cand_has(cand, n_cand, id)) continue;
        int rc = tg_geo_distance_m(ctx, best->lon, best->lat, lon, lat, &d);
        if (rc) return rc;
        if (d > lim) continue;
        p[np++] = (pt){0, 0, lon, lat, tg_metre_dot(q, tg_index_row(ix, i), dim)};
    }
    *n_out = np;
    return TG_OK;
}

static int refine_stored(tg_ctx *ctx, const tg_metre_refine *rf, const float *q,
                         const tg_match *best, const int64_t *cand, size_t n_cand,
                         tg_locate_answer *ans)
{
    pt p[9];
    int np = 0;
    int rc = stored_points(ctx, rf, q, best, cand, n_cand, p, &np);
    if (rc) return rc;
    weighted_mean(p, np, best->lon, &ans->lon, &ans->lat);
    ans->refined = TG_REFINED_STORED;
    return TG_OK;
}

/* Cut, embed and score the fine-grid tile at offset (dc, dr) from (c0, r0).
 * [out] *ok = 0 when it is outside the grid or mostly no-data.
 * Hook for the photo's heading (the camera/heading work on the embedding
 * stage): tiles are north-up, as indexed, and scored against the photo's
 * embedding q as the locator made it; a heading-aware ground embedding
 * refines with no change here. Tiles cut at the found heading instead would
 * be rotated here, before tg_model_embed_aerial, and scored against the
 * same q. */
static int cut_score(tg_ctx *ctx, const tg_metre_refine *rf, tg_tiler *t, const float *q,
                     float *emb, int c0, int r0, pt *o, int *ok)
{
    *ok = 0;
    tg_tile tile;
    int rc = tg_tiles_get(ctx, t, c0 + o->dc, r0 + o->dr, &tile);
    if (rc == TG_ENOTFOUND) {
        tg_clear_error(ctx);
        return TG_OK;
    }
    if (rc) return rc;
    if (tile.valid_share < 0.5) return TG_OK; /* the index keeps such tiles out too */
    tg_image *img = NULL;
    rc = tg_image_from_rgb8(ctx, tile.rgb, tile.width, tile.height, &img);
    if (!rc) rc = tg_model_embed_aerial(ctx, rf->model, img, emb);
    tg_image_free(img);
    if (rc) return rc;
    o->lon = tile.center_lon;
    o->lat = tile.center_lat;
    o->score = tg_metre_dot(q, emb, tg_model_config_get(rf->model)->out_dim);
    *ok = 1;
    return TG_OK;
}

/* Tiles cut from the raster: stride/2 around the best, then stride/4 around
 * the best of those. Returns 0 with *done = 0 (and a note) when the raster
 * cannot be used. */
static int refine_raster(tg_ctx *ctx, const tg_metre_refine *rf, const tg_store_raster *r,
                         const float *q, const tg_match *best, const pt *extra, int n_extra,
                         tg_locate_answer *ans, int *done)
{
    *done = 0;
    int stride_px = (int)lround(r->stride_m / r->gsd_m), step_px = stride_px / REFINE_DIV;
    if (step_px < 1) {
        snprintf(ans->refine_note, sizeof ans->refine_note,
                 "stride of %d px: too small to cut tiles between", stride_px);
        return TG_OK;
    }
    tg_tile_options to = tg_tile_options_default();
    to.tile_m = r->tile_m;
    to.gsd_m = r->gsd_m;
    to.stride_m = step_px * r->gsd_m;
    to.max_nodata_share = 1;
    to.max_buffer_mb = 16; /* one tile at a time: tg_tiles_get */
    tg_tiler *t = NULL;
    tg_geo_transform *tr = NULL;
    float *emb = NULL;
    int rc = tg_tiles_open(ctx, r->path, &to, &t);
    if (rc) {
        snprintf(ans->refine_note, sizeof ans->refine_note, "raster %lld cannot be cut: %.100s",
                 (long long)r->id, tg_errmsg(ctx));
        tg_clear_error(ctx);
        return TG_OK;
    }
    const tg_tiler_info *inf = tg_tiler_get_info(t);
    char crs[32];
    snprintf(crs, sizeof crs, "EPSG:%d", inf->work_epsg);
    rc = tg_geo_transform_create(ctx, "EPSG:4326", inf->work_epsg > 0 ? crs : inf->work_wkt, &tr);
    double x = best->lon, y = best->lat;
    if (!rc) rc = tg_geo_transform_points(ctx, tr, 1, &x, &y);
    if (rc) {
        snprintf(ans->refine_note, sizeof ans->refine_note,
                 "raster %lld: the tile centre cannot be placed in its CRS", (long long)r->id);
        tg_clear_error(ctx);
        rc = TG_OK;
        goto done;
    }
    /* The best tile on the fine grid: both grids are anchored at multiples of
     * their stride (tilecache.h), so a stored tile is a fine tile. */
    double fc = (x - inf->tile_m / 2 - inf->grid_x0) / inf->stride_m;
    double fr = (inf->grid_y0 - (y + inf->tile_m / 2)) / inf->stride_m;
    int c0 = (int)lround(fc), r0 = (int)lround(fr);
    int f = (int)lround(r->stride_m / inf->stride_m);
    if (fabs(fc - c0) > 0.1 || fabs(fr - r0) > 0.1 || f < 2) {
        snprintf(ans->refine_note, sizeof ans->refine_note,
                 "raster %lld: its tiles do not line up with a finer grid", (long long)r->id);
        goto done;
    }
    emb = malloc((size_t)tg_model_config_get(rf->model)->out_dim * sizeof *emb);
    if (!emb) {
        rc = tg_set_error(ctx, TG_ENOMEM, "refinement: out of memory");
        goto done;
    }
    pt all[1 + 8 * REFINE_ROUNDS + 8];
    int na = 0, used = 0, ok, s = f;
    all[na++] = (pt){0, 0, best->lon, best->lat, best->score};
    int win = 0; /* index of the best point so far */
    for (int round = 0; round < REFINE_ROUNDS && s > 1 && used < rf->max_tiles; round++) {
        s /= 2; /* stride/2, stride/4, ... */
        int wc = all[win].dc, wr = all[win].dr;
        for (int dr = -1; dr <= 1; dr++)
            for (int dc = -1; dc <= 1; dc++) {
                if ((!dc && !dr) || used >= rf->max_tiles) continue;
                pt p = {wc + dc * s, wr + dr * s, 0, 0, 0};
                int seen = 0;
                for (int i = 0; i < na; i++) seen |= all[i].dc == p.dc && all[i].dr == p.dr;
                if (seen || na >= 1 + 8 * REFINE_ROUNDS) continue;
                rc = cut_score(ctx, rf, t, q, emb, c0, r0, &p, &ok);
                if (rc) goto done;
                used++;
                if (ok) all[na++] = p;
            }
        for (int i = 0; i < na; i++)
            if (all[i].score > all[win].score) win = i;
    }
    /* the stored neighbours (a stride away, scored already: free) widen the
     * support: right-tile median over the oracle's on training seeds with
     * the GPS prior 0.78 -> 0.75 (1002), 0.71 -> 0.66 (1000); no prior 0.59
     * (1001) either way */
    for (int i = 1; i < n_extra; i++) all[na++] = extra[i];
    /* the score-weighted mean of every offset scored (both rounds) */
    weighted_mean(all, na, best->lon, &ans->lon, &ans->lat);
    ans->refined = TG_REFINED_RASTER;
    ans->n_refine_tiles = used;
    *done = 1;
done:
    free(emb);
    tg_geo_transform_free(tr);
    tg_tiler_free(t);
    return rc;
}

int tg_metre_refine_run(tg_ctx *ctx, const tg_metre_refine *rf, const float *q,
                        const tg_match *best, const int64_t *cand, size_t n_cand,
                        tg_locate_answer *ans)
{
    const tg_store_raster *r = NULL;
    for (size_t i = 0; i < rf->n_rasters; i++)
        if (rf->rasters[i].id == best->raster_id) r = &rf->rasters[i];
    if (!r) {
        snprintf(ans->refine_note, sizeof ans->refine_note, "raster %lld is not in the store",
                 (long long)best->raster_id);
    } else if (r->status != TG_RASTER_OK) {
        snprintf(ans->refine_note, sizeof ans->refine_note, "%.159s", r->note);
    } else if (rf->max_tiles > 0 && q) {
        int done = 0, ne = 0;
        pt extra[9];
        int rc = stored_points(ctx, rf, q, best, cand, n_cand, extra, &ne);
        if (!rc) rc = refine_raster(ctx, rf, r, q, best, extra, ne, ans, &done);
        if (rc || done) return rc;
    } else {
        snprintf(ans->refine_note, sizeof ans->refine_note, "no tile to cut (max tiles 0)");
    }
    return refine_stored(ctx, rf, q, best, cand, n_cand, ans);
}

/* ---- the GPS prior as a probability ------------------------------------- */

double tg_metre_gps_penalty(double d_m, double sigma_m)
{
    /* log N(d; sigma) / alpha: added to a cosine score, the sum ranks as
     * the posterior exp(alpha s) N(d; sigma) does */
    return -(d_m * d_m) / (2.0 * sigma_m * sigma_m) / TG_STORE_ERROR_ALPHA;
}

int tg_metre_gps_match(tg_ctx *ctx, const tg_tileset *ts, const float *q, const int64_t *cand,
                       size_t n_cand, double lon, double lat, double sigma_m, int k,
                       tg_match *out, int *n_out)
{
    *n_out = 0;
    const tg_index *ix = tg_tileset_index(ts);
    int dim = tg_index_dim(ix);
    size_t n = tg_tileset_count(ts), m = 0;
    typedef struct { size_t row; double post, score, lon, lat, stride, w; int64_t id; } cs;
    cs *c = malloc((n_cand ? n_cand : 1) * sizeof *c);
    if (!c) return tg_set_error(ctx, TG_ENOMEM, "GPS prior: out of memory");
    int rc = TG_OK;
    for (size_t i = 0; i < n && m < n_cand; i++) {
        int64_t id;
        double clon, clat, st, d;
        tg_tileset_tile(ts, i, &id, &clon, &clat, &st);
        if (!cand_has(cand, n_cand, id)) continue;
        double s = tg_metre_dot(q, tg_index_row(ix, i), dim);
        if (!isfinite(s)) continue;
        rc = tg_geo_distance_m(ctx, lon, lat, clon, clat, &d);
        if (rc) goto done;
        c[m++] = (cs){i, s + tg_metre_gps_penalty(d, sigma_m), s, clon, clat, st, 0, id};
    }
    /* partial selection of the best max(k, TG_STORE_ERROR_K) by posterior */
    int want = k > TG_STORE_ERROR_K ? k : TG_STORE_ERROR_K;
    size_t top = m < (size_t)want ? m : (size_t)want;
    for (size_t a = 0; a < top; a++) {
        size_t b = a;
        for (size_t j = a + 1; j < m; j++)
            if (c[j].post > c[b].post || (c[j].post == c[b].post && c[j].id < c[b].id)) b = j;
        cs t = c[a];
        c[a] = c[b];
        c[b] = t;
    }
    /* the spread runs over the whole window: the posterior is a proper
     * distribution over it (the top 10 alone would truncate a flat one) */
    double wsum = 0;
    for (size_t j = 0; j < m; j++) {
        c[j].w = exp(TG_STORE_ERROR_ALPHA * (c[j].post - c[0].post));
        wsum += c[j].w;
    }
    int nk = (int)(top < (size_t)k ? top : (size_t)k);
    for (int i = 0; i < nk; i++) {
        tg_match *o = &out[i];
        memset(o, 0, sizeof *o);
        o->rank = i + 1;
        o->tile_id = c[i].id;
        o->raster_id = tg_tileset_raster_id(ts, c[i].row);
        o->score = c[i].score;
        o->lon = c[i].lon;
        o->lat = c[i].lat;
        o->stride_m = c[i].stride;
        double acc = 0;
        for (size_t j = 0; j < m; j++) {
            double d = 0;
            if (j != (size_t)i && c[j].w > 1e-12) {
                rc = tg_geo_distance_m(ctx, o->lon, o->lat, c[j].lon, c[j].lat, &d);
                if (rc) goto done;
            }
            acc += c[j].w * d * d;
        }
        double spread = wsum > 0 ? sqrt(acc / wsum) : 0;
        o->error_m = TG_STORE_ERROR_SCALE_GPS * (spread > o->stride_m / 2 ? spread : o->stride_m / 2);
    }
    *n_out = nk;
done:
    free(c);
    return rc;
}
