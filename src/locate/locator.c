/* locator.c - tg_locator, the one pipeline from a photo to an answer (see
 * include/transgeo/locate.h). SQL, the CLI's workers and eval all come
 * through tg_locator_run; nothing here is composed anywhere else. */
#include "config.h"
#include "transgeo/locate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "transgeo/canvas.h"
#include "transgeo/geo.h"
#include "transgeo/search.h"
#include "transgeo/store_pg.h"
#include "transgeo/transgeo_model.h"
#include "metre.h"

struct tg_locator {
    tg_store *st;              /* not owned */
    tg_store_model m;          /* the registry row */
    const tg_model *model;     /* owned by the store's cache */
    const tg_tileset *ts;      /* owned by the store's cache; NULL when the server ranks */
    int server;                /* 1: every tile is ranked on the server (locate.h "Ranking") */
    long long n_server_tiles;  /* server: the model's tiles there */
    int dim;                   /* embedding size, floats */
    int k;
    int has_prior;             /* 1: only cand[0..n_cand) are candidates */
    int64_t *cand;             /* the prior's tile ids, ascending (malloc'ed; NULL when none) */
    size_t n_cand;
    double fov_deg;            /* opts.fov_deg (NAN: none) */
    int heading_search;        /* opts.heading_search */
    int ignore_heading;        /* opts.ignore_heading */
    tg_canvas_spec spec;       /* the model's ground canvas */
    int gps_prior;             /* opts.gps_prior */
    double gps_radius_m;       /* opts.gps_radius_m */
    int refine;                /* 1: refine below the stride (opts.refine resolved) */
    tg_store_raster *rasters;  /* refine: the model's rasters, checked at open (malloc'ed) */
    size_t n_rasters;
    int refine_max_tiles;
};

/* The candidates of one run: the locator's global prior, or a photo's GPS
 * window. */
typedef struct cands {
    int has;                   /* 0: every tile */
    const int64_t *ids;        /* ascending */
    size_t n;
} cands;

/* The model's tiles, wherever they are ranked. */
static size_t n_tiles(const tg_locator *loc)
{
    return loc->server ? (size_t)loc->n_server_tiles : tg_tileset_count(loc->ts);
}

const char *tg_ranking_name(int ranking)
{
    switch (ranking) {
    case TG_RANKING_AUTO: return "auto";
    case TG_RANKING_LOCAL: return "local";
    case TG_RANKING_SERVER: return "server";
    default: return "?";
    }
}

int tg_ranking_parse(const char *name)
{
    for (int r = TG_RANKING_AUTO; name && r <= TG_RANKING_SERVER; r++)
        if (!strcmp(name, tg_ranking_name(r))) return r;
    return -1;
}

int tg_locator_ranks_on_server(const tg_locator *loc) { return loc ? loc->server : 0; }

/* Where the tiles are ranked (locate.h "Ranking"). */
static int ranking_open(tg_locator *loc, tg_ctx *ctx, const tg_locate_opts *o)
{
    if (o->ranking < TG_RANKING_AUTO || o->ranking > TG_RANKING_SERVER)
        return tg_set_error(ctx, TG_EINVAL,
                            "ranking = %d: expected auto, local or server", o->ranking);
    if (o->ranking == TG_RANKING_LOCAL) return TG_OK;
    tg_store_ranking r;
    int rc = tg_store_server_ranking(ctx, loc->st, &loc->m, &r);
    if (rc) return rc;
    if (o->ranking == TG_RANKING_SERVER && !r.available)
        return tg_set_error(ctx, TG_EINVAL,
                            "ranking on the server: '%s' %s: rank locally (ranking local), or "
                            "use a PostgreSQL database with the transgeo extension (CREATE "
                            "EXTENSION transgeo; transgeo-pg(7))",
                            tg_store_label(loc->st),
                            tg_store_on_pg(loc->st) ? "has no transgeo extension"
                                                    : "is a SQLite file, ranked in this process");
    loc->server = r.available && (o->ranking == TG_RANKING_SERVER || r.n_shards > 0);
    loc->n_server_tiles = r.n_tiles;
    return TG_OK;
}

void tg_locate_opts_default(tg_locate_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->k = 5;
    o->fov_deg = NAN;
}

const char *tg_heading_source_name(int source)
{
    switch (source) {
    case TG_HEADING_NONE: return "none";
    case TG_HEADING_EXIF: return "exif";
    case TG_HEADING_XMP: return "xmp";
    case TG_HEADING_GPANO: return "gpano";
    case TG_HEADING_MAPILLARY: return "mapillary";
    case TG_HEADING_MAGNETIC: return "magnetic-searched";
    case TG_HEADING_SEARCHED: return "searched";
    case TG_HEADING_NORTH: return "assumed-north";
    default: return "?";
    }
}

/* The camera and heading options, and the model's canvas (locate.h "Heading"). */
static int heading_open(tg_locator *loc, tg_ctx *ctx, const tg_locate_opts *o)
{
    int rc = tg_camera_check_fov(ctx, o->fov_deg);
    if (rc) return rc;
    if (o->heading_search < 0 || o->heading_search > 360)
        return tg_set_error(ctx, TG_EINVAL,
                            "heading search over %d headings: expected 0 (from the field of "
                            "view), 1 (no search) or 2..360",
                            o->heading_search);
    loc->fov_deg = o->fov_deg;
    loc->heading_search = o->heading_search;
    loc->ignore_heading = o->ignore_heading != 0;
    const tg_model_config *c = tg_model_config_get(loc->model);
    tg_canvas_spec *s = &loc->spec;
    s->H = c->ground_hw[0];
    s->W = c->ground_hw[1];
    s->fov_deg = c->ground_fov_deg;
    s->elev_top_deg = c->ground_elev_deg[0];
    s->elev_bottom_deg = c->ground_elev_deg[1];
    memcpy(s->mean, c->mean, sizeof s->mean);
    memcpy(s->std, c->std, sizeof s->std);
    return TG_OK;
}

const char *tg_prior_name(int prior)
{
    switch (prior) {
    case TG_PRIOR_NONE: return "none";
    case TG_PRIOR_NEAR: return "near";
    case TG_PRIOR_GPS: return "gps";
    default: return "?";
    }
}

int tg_locator_refine_cheap(const tg_model *model)
{
    /* Multiply-adds of one aerial embedding (every network it runs): per
     * block tokens * (4 D^2 + 2 D mlp + 2 tokens D). The demo model needs
     * about 2e7, a ViT-S TransGeo about 7e9. */
    const tg_model_config *c = tg_model_config_get(model);
    double cost = 0;
    int hw[2][2] = {{c->aerial_hw[0], c->aerial_hw[1]}, {c->zoom_hw[0], c->zoom_hw[1]}};
    for (int i = 0; i < (c->zoom ? 2 : 1); i++) {
        double tok = (double)(hw[i][0] / c->patch) * (hw[i][1] / c->patch) + c->n_prefix;
        if (i == 1 || (!c->zoom && c->has_zoom)) tok = c->n_keep + c->n_prefix;
        double d = c->embed_dim;
        cost += c->depth * tok * (4 * d * d + 2 * d * c->mlp_dim + 2 * tok * d);
    }
    return cost <= TG_REFINE_CHEAP_MACS;
}

/* The metre-level settings of open: the GPS prior's id table and the
 * rasters refinement cuts from (their files checked once, here). */
static int metre_open(tg_ctx *ctx, tg_locator *loc, const tg_locate_opts *o)
{
    loc->gps_prior = o->gps_prior;
    loc->gps_radius_m = o->gps_radius_m;
    loc->refine = o->refine == TG_REFINE_ON ||
                  (o->refine == TG_REFINE_AUTO && tg_locator_refine_cheap(loc->model));
    loc->refine_max_tiles = o->refine_max_tiles > 0 ? o->refine_max_tiles : TG_REFINE_TILES;
    if (loc->ts) {
        /* tg_index_search_subset builds the index's id table on first use (a
         * write): do it now, while one thread holds the locator. Every run
         * uses it (exact scores of the narrowed tiles, the GPS window). */
        size_t row;
        int64_t id;
        tg_tileset_tile(loc->ts, 0, &id, NULL, NULL, NULL);
        tg_index_find(ctx, (tg_index *)tg_tileset_index(loc->ts), id, &row);
        tg_clear_error(ctx);
    }
    if (!loc->refine) return TG_OK;
    return tg_store_rasters(ctx, loc->st, &loc->m, 1, &loc->rasters, &loc->n_rasters);
}

int tg_locator_open(tg_ctx *ctx, tg_store *st, const tg_locate_opts *o, tg_locator **out)
{
    tg_locate_opts def;
    if (!o) {
        tg_locate_opts_default(&def);
        o = &def;
    }
    if (!st || !out) return tg_set_error(ctx, TG_EINVAL, "tg_locator_open: NULL argument");
    *out = NULL;
    if (o->k < 1) return tg_set_error(ctx, TG_EINVAL, "k = %d: expected 1 or more matches", o->k);
    if (o->gps_prior && !(o->gps_radius_m >= 0 && isfinite(o->gps_radius_m)))
        return tg_set_error(ctx, TG_EINVAL,
                            "GPS prior radius %g m: expected a distance > 0 metres, or 0 for the "
                            "photo's own accuracy",
                            o->gps_radius_m);
    if (o->refine < TG_REFINE_AUTO || o->refine > TG_REFINE_ON || o->refine_max_tiles < 0)
        return tg_set_error(ctx, TG_EINVAL, "refine = %d, max tiles %d: not a refinement setting",
                            o->refine, o->refine_max_tiles);
    tg_locator *loc = calloc(1, sizeof *loc);
    if (!loc) return tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    loc->st = st;
    loc->k = o->k;
    int rc = tg_store_model_find(ctx, st, o->model, &loc->m);
    if (!rc) rc = tg_store_model_get(ctx, st, &loc->m, &loc->model);
    if (!rc) rc = heading_open(loc, ctx, o);
    if (!rc) rc = ranking_open(loc, ctx, o);
    if (!rc && !loc->server) rc = tg_store_tileset(ctx, st, &loc->m, &loc->ts);
    if (rc) goto fail;
    const char *db = tg_store_label(st);
    if (n_tiles(loc) == 0) {
        rc = tg_set_error(ctx, TG_ENOTFOUND,
                          "model '%s' has no tiles: index a raster with it first (transgeo "
                          "index RASTER --model %s, or in SQL tg_index_raster('ortho.tif', '%s'))",
                          loc->m.name, loc->m.name, loc->m.name);
        goto fail;
    }
    /* The photo's embedding has the model's size; the tiles' must be the same
     * (tg_store_model_get checked the model against the registry row the
     * tileset is sized from: this is the last line of defence). */
    loc->dim = tg_model_config_get(loc->model)->out_dim;
    if (loc->ts && tg_tileset_dim(loc->ts) != loc->dim) {
        rc = tg_set_error(ctx, TG_EMODEL,
                          "model '%s' makes %d-float embeddings but its tiles in '%s' have %d: "
                          "they were made with another configuration; register the model file "
                          "under another name and index with it",
                          loc->m.name, loc->dim, db, tg_tileset_dim(loc->ts));
        goto fail;
    }
    rc = metre_open(ctx, loc, o);
    if (rc) goto fail;
    if (o->prior) {
        loc->has_prior = 1;
        rc = tg_store_candidates(ctx, st, &loc->m, o->prior, &loc->cand, &loc->n_cand);
        if (rc) goto fail;
        /* tg_index_search_subset builds the index's id table on first use (a
         * write): do it now, while one thread holds the locator. */
        if (loc->n_cand > 0 && !loc->gps_prior && loc->ts) {
            size_t row;
            tg_index_find(ctx, (tg_index *)tg_tileset_index(loc->ts), loc->cand[0], &row);
            tg_clear_error(ctx);
        }
    }
    *out = loc;
    return TG_OK;
fail:
    tg_locator_free(loc);
    return rc;
}

void tg_locator_free(tg_locator *loc)
{
    if (!loc) return;
    free(loc->rasters);
    free(loc->cand);
    free(loc);
}

const tg_store_model *tg_locator_model(const tg_locator *loc) { return loc ? &loc->m : NULL; }
int tg_locator_dim(const tg_locator *loc) { return loc ? loc->dim : 0; }
size_t tg_locator_n_tiles(const tg_locator *loc) { return loc ? n_tiles(loc) : 0; }
size_t tg_locator_n_candidates(const tg_locator *loc)
{
    if (!loc) return 0;
    return loc->has_prior ? loc->n_cand : n_tiles(loc);
}

void tg_locate_answer_clear(tg_locate_answer *ans)
{
    if (!ans) return;
    free(ans->matches);
    memset(ans, 0, sizeof *ans);
    ans->gps_error_m = NAN;
    ans->truth_score = NAN;
    ans->truth_error_m = NAN;
    ans->heading_deg = NAN;
    ans->heading_error_deg = NAN;
    ans->truth_tile_error_m = NAN;
    ans->prior_radius_m = NAN;
    ans->lon = ans->lat = ans->error_m = NAN;
}

/* 1 when the tile is a candidate (ids are sorted ascending). */
static int is_candidate(const cands *c, int64_t id)
{
    if (!c->has) return 1;
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n && c->ids[lo] == id;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Degrees to a rough metric distance, squared: picks the few candidate
 * centres near a point before the exact geodesic check (equirectangular,
 * within a few percent at these scales). */
static double approx_d2(double lon1, double lat1, double lon2, double lat2)
{
    double k = cos((lat1 + lat2) * 0.5 * M_PI / 180.0);
    double dlon = fabs(lon2 - lon1);
    if (dlon > 180) dlon = 360 - dlon; /* across the antimeridian */
    double dx = dlon * k, dy = lat2 - lat1;
    return dx * dx + dy * dy;
}

/* The candidate whose centre is nearest (lon, lat), geodesically; ties go
 * to the lowest tile id. [out] *row. */
static int nearest_candidate(const tg_locator *loc, const cands *cs, tg_ctx *ctx, double lon,
                             double lat, size_t *row)
{
    size_t n = tg_tileset_count(loc->ts);
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        int64_t id;
        double clon, clat;
        tg_tileset_tile(loc->ts, i, &id, &clon, &clat, NULL);
        if (!is_candidate(cs, id)) continue;
        double d = approx_d2(lon, lat, clon, clat);
        if (d < best) best = d;
    }
    if (!isfinite(best))
        return tg_set_error(ctx, TG_ENOTFOUND, "evaluation: no candidate tile to rank");
    /* exact among those within 2 % (+1e-12 deg^2 for coincident points) of the best */
    double lim = best * 1.0404 + 1e-12, dmin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        int64_t id;
        double clon, clat, d;
        tg_tileset_tile(loc->ts, i, &id, &clon, &clat, NULL);
        if (!is_candidate(cs, id) || approx_d2(lon, lat, clon, clat) > lim) continue;
        int rc = tg_geo_distance_m(ctx, lon, lat, clon, clat, &d);
        if (rc) return rc;
        if (d < dmin) { /* rows are in ascending id order: ties keep the lowest id */
            dmin = d;
            *row = i;
        }
    }
    return TG_OK;
}

/* ---- camera and heading (locate.h "Heading") ----------------------------- */

/* The photo's known heading and its source, or 0 when it has none usable. */
static int known_heading(const tg_locator *loc, const tg_locate_answer *ans, double *h,
                         int *magnetic)
{
    *magnetic = 0;
    if (loc->ignore_heading || !ans->has_meta || !ans->meta.has_heading) return TG_HEADING_NONE;
    *h = ans->meta.heading_deg;
    *magnetic = ans->meta.heading_ref == 'M';
    switch (ans->meta.heading_source) {
    case TG_META_EXIF: return TG_HEADING_EXIF;
    case TG_META_XMP: return TG_HEADING_XMP;
    case TG_META_GPANO: return TG_HEADING_GPANO;
    case TG_META_MAPILLARY: return TG_HEADING_MAPILLARY;
    default: return TG_HEADING_NONE;
    }
}

static double wrap360(double a)
{
    a = fmod(a, 360.0);
    return a < 0 ? a + 360.0 : a;
}

/* The headings to embed the photo at ([out] h[0..*n), at most 360) and the
 * canvas centres; sets the answer's heading fields but heading_deg. */
static void plan_headings(const tg_locator *loc, tg_locate_answer *ans, double *h, double *centre,
                          int *n)
{
    const tg_camera *cam = &ans->camera;
    int pano = cam->projection == TG_PROJ_EQUIRECT && cam->hfov_deg == 360.0;
    double known = 0;
    int magnetic, src = known_heading(loc, ans, &known, &magnetic);
    *n = 1;
    ans->heading_step_deg = 0;
    if (loc->spec.fov_deg < 360.0) {
        /* a limited-view model never saw north: one canvas centred on the photo */
        h[0] = centre[0] = src ? known : 0.0;
        ans->heading_source = src;
    } else if (src && !magnetic) {
        h[0] = known;
        ans->heading_source = src;
    } else {
        int W = loc->spec.W;
        double step = (pano ? 360.0 : cam->hfov_deg) / 3.0;
        if (src) { /* magnetic: within the window around it */
            int k = (int)ceil(TG_LOCATE_MAGNETIC_WINDOW / step - 1e-9);
            if (k > 179) k = 179; /* at most 359 headings */
            step = TG_LOCATE_MAGNETIC_WINDOW / k;
            *n = 2 * k + 1;
            for (int i = 0; i < *n; i++) h[i] = known + (i - k) * step;
            ans->heading_source = TG_HEADING_MAGNETIC;
        } else {
            int N = loc->heading_search;
            if (N == 0) N = pano ? 1 : (int)ceil(3 * 360.0 / cam->hfov_deg - 1e-9);
            if (loc->heading_search == 0 && !pano) N = N < 4 ? 4 : N > 72 ? 72 : N;
            if (N > W && pano) N = W; /* a panorama has W distinct rolls */
            *n = N;
            step = 360.0 / N;
            for (int i = 0; i < N; i++)
                /* rolls by whole columns: the heading a roll stands for */
                h[i] = pano ? 360.0 * lround((double)i * W / N) / W : i * step;
            ans->heading_source = N == 1 ? TG_HEADING_NORTH : TG_HEADING_SEARCHED;
        }
        if (*n > 1) ans->heading_step_deg = step;
    }
    for (int i = 0; i < *n; i++) {
        h[i] = wrap360(h[i]);
        if (loc->spec.fov_deg >= 360.0) centre[i] = 0.0;
        else centre[i] = h[i];
    }
    ans->n_headings = *n;
}

/* The photo's camera, its canvases at the planned headings, and their
 * embeddings in one batched call. [out] *emb (malloc'ed, *n_q x dim), h[0..*n_q):
 * the heading of each canvas (360 entries). */
static int embed_photo(const tg_locator *loc, tg_ctx *ctx, const tg_image *img,
                       tg_locate_answer *ans, float **emb, int *n_q, double *h)
{
    double centre[360];
    int n, rc = tg_camera_from_meta(ctx, ans->has_meta ? &ans->meta : NULL, tg_image_width(img),
                                    tg_image_height(img), loc->fov_deg, &ans->camera);
    if (rc) return rc;
    ans->has_camera = 1;
    plan_headings(loc, ans, h, centre, &n);
    size_t one = 3 * (size_t)loc->spec.H * (size_t)loc->spec.W;
    float *x = malloc(one * (size_t)n * sizeof *x);
    *emb = malloc((size_t)n * (size_t)loc->dim * sizeof **emb);
    if (!x || !*emb) {
        rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory for %d canvases", n);
        goto done;
    }
    rc = tg_canvas_make_n(ctx, &loc->spec, img, &ans->camera, n, h, centre, x);
    if (!rc) rc = tg_model_embed_ground_batch(ctx, loc->model, x, n, *emb);
    if (rc) goto done;
    *n_q = n;
    /* the heading each match reports is its canvas's (filled after matching) */
    ans->heading_deg = h[0];
done:
    free(x);
    if (rc) {
        free(*emb);
        *emb = NULL;
    }
    return rc;
}

/* After matching: each match's heading, the answer's (the best match's) and
 * its error against a true heading. h: the headings embed_photo planned. */
static void report_headings(const tg_locate_input *in, tg_locate_answer *ans, const double *h,
                            const int *query_of)
{
    if (!ans->has_camera) return; /* an embedding query */
    int used = ans->heading_source != TG_HEADING_NONE;
    for (int i = 0; i < ans->n_matches; i++)
        ans->matches[i].heading_deg = used ? h[query_of[i]] : NAN;
    ans->heading_deg = used && ans->n_matches > 0 ? ans->matches[0].heading_deg : NAN;
    if (in->has_truth_heading && isfinite(in->truth_heading_deg) && isfinite(ans->heading_deg)) {
        double d = fabs(wrap360(ans->heading_deg - in->truth_heading_deg));
        ans->heading_error_deg = d > 180 ? 360 - d : d;
    }
}

/* [out] *r, the radius of the photo's GPS window, and 1 when the run has
 * one (gps_prior and a photo with a position), else 0. */
static int gps_window(const tg_locator *loc, const tg_locate_answer *ans, double *r)
{
    if (!loc->gps_prior || !ans->has_meta || !ans->meta.has_gps) return 0;
    *r = tg_metre_gps_radius(loc->gps_radius_m, &ans->meta);
    return 1;
}

/* The window's tiles ids[0..n) of radius r become the run's candidates; none
 * (outside every raster) leaves the documented fallback. */
static void take_window(tg_locate_answer *ans, cands *cs, const int64_t *ids, size_t n, double r)
{
    if (n == 0) {
        ans->gps_outside = 1;
        return;
    }
    cs->has = 1;
    cs->ids = ids;
    cs->n = n;
    ans->prior = TG_PRIOR_GPS;
    ans->prior_radius_m = r;
    ans->n_candidates = n;
}

/* The candidates of this run: the photo's GPS window (gps_prior, a photo
 * with a position whose window holds a tile), else the global prior, else
 * every tile. [out] *own: the window's ids (malloc'ed) or NULL. When the
 * server ranks, the window is asked of the store later, in server_jobs
 * (tg_locator_score: the only stage that uses the connection). */
static int choose_candidates(const tg_locator *loc, tg_ctx *ctx, tg_locate_answer *ans,
                             cands *cs, int64_t **own)
{
    ans->prior = loc->has_prior ? TG_PRIOR_NEAR : TG_PRIOR_NONE;
    ans->n_candidates = loc->has_prior ? loc->n_cand : n_tiles(loc);
    double r;
    if (loc->server || !gps_window(loc, ans, &r)) return TG_OK;
    size_t n = 0;
    int rc = tg_metre_window(ctx, loc->ts, ans->meta.lon_deg, ans->meta.lat_deg, r, own, &n);
    if (!rc) take_window(ans, cs, *own, n, r);
    return rc;
}

/* The estimate: matches[0]'s centre, refined below the stride when the
 * locator refines, and its 68 % error radius. */
static int estimate(const tg_locator *loc, const tg_tileset *ts, tg_ctx *ctx, const float *q,
                    const cands *cs, tg_locate_answer *ans)
{
    const tg_match *b = &ans->matches[0];
    ans->lon = b->lon;
    ans->lat = b->lat;
    ans->error_m = b->error_m;
    if (!loc->refine) return TG_OK;
    tg_metre_refine rf = {loc->model, ts, loc->rasters, loc->n_rasters, loc->refine_max_tiles};
    return tg_metre_refine_run(ctx, &rf, q, b, cs->has ? cs->ids : NULL, cs->n, ans);
}

/* ---- the stages: prepare, score (many photos per pass), finish ------------
 *
 * Scores. A tile's score in an answer is the exact float32 inner product of
 * tg_index_search_subset (the same call, on the same two vectors, whatever
 * else is located with the photo), so an answer does not depend on the
 * batch. The pass over every tile (one sgemm for all the photos of a batch)
 * only narrows: float32 products in any summation order are within
 * gamma_n ||q|| ||row|| of the exact value (gamma_n = n u / (1 - n u),
 * u = 2^-24, n = dim: Higham, Accuracy and Stability of Numerical
 * Algorithms, 2nd ed., eq. 3.5), so two products of the same vectors differ
 * by at most SCORE_TOL below; the narrowed set is checked to hold every
 * tile that can be in the exact top k (else it is widened), and a rank is
 * counted exactly on the tiles whose approximate score is within SCORE_TOL
 * of the truth's. */

/* Hits kept per query in the narrowing pass beyond the max(k, E) needed. */
#define NARROW_EXTRA 22

/* Largest difference of two float32 products of the same rows and queries:
 * 2 gamma_dim ||q|| ||row||, with ||q|| ||row|| <= 2 (both are unit vectors:
 * store.h; the factor leaves room for their rounding and more). */
static double score_tol(int dim)
{
    double nu = dim * ldexp(1.0, -24);
    return 2.0 * (nu / (1.0 - nu)) * 2.0;
}

struct tg_locate_job {
    tg_locate_answer ans;      /* the answer being built (moved out by finish) */
    int done;                  /* 1: nothing to score (unlabelled in evaluation, the prior
                                  selects no tile): ans is final */
    float *emb;                /* n_q x dim: the canvases' embeddings, or the input's copy */
    int n_q;
    double headings[360];      /* the heading of each canvas */
    int is_embedding;          /* the input was an embedding */
    int has_truth_heading;
    double truth_heading_deg;
    cands cs;                  /* the candidates (cs.ids: the locator's or own_cand) */
    int64_t *own_cand;         /* the GPS window's ids (malloc'ed) */
    tg_tileset *ts;            /* server ranking: the tiles this photo needs (owned), else NULL */
    /* filled by tg_locator_score: */
    int64_t *narrow;           /* every tile (cs.has = 0): ids that can be in the top k */
    size_t n_narrow;
    size_t truth_row;          /* has_truth: the candidate nearest the truth */
    double truth_s;            /* its score (best over the queries; NaN: none) */
    long above;                /* candidates whose score is surely above truth_s */
    size_t *band, n_band, cap_band; /* rows to compare with truth_s exactly (ascending) */
};

void tg_locate_job_free(tg_locate_job *job)
{
    if (!job) return;
    tg_locate_answer_clear(&job->ans);
    free(job->emb);
    free(job->own_cand);
    free(job->narrow);
    free(job->band);
    tg_tileset_free(job->ts);
    free(job);
}

/* 1 when the score stage ranks job's truth in the pass over every tile (the
 * GPS window is ranked on its own, in finish). */
static int ranks_in_pass(const tg_locate_job *j)
{
    return !j->done && j->ans.has_truth && j->ans.prior != TG_PRIOR_GPS;
}

int tg_locator_prepare(const tg_locator *loc, tg_ctx *ctx, const tg_locate_input *in,
                       tg_locate_job **out)
{
    if (out) *out = NULL;
    if (!loc || !in || !out)
        return tg_set_error(ctx, TG_EINVAL, "tg_locator_prepare: NULL argument");
    if (!in->image && !in->path && !in->bytes && !in->embedding)
        return tg_set_error(ctx, TG_EINVAL, "locate: no photo and no embedding given");
    if (in->has_truth && (!isfinite(in->truth_lon) || !isfinite(in->truth_lat) ||
                          fabs(in->truth_lat) > 90 || fabs(in->truth_lon) > 360))
        return tg_set_error(ctx, TG_EINVAL, "true position (%g, %g): not a lon/lat position",
                            in->truth_lon, in->truth_lat);
    if (in->embedding && in->embedding_dim != loc->dim)
        return tg_set_error(ctx, TG_EMODEL,
                            "the embedding has %d floats but model '%s' makes %d: it was made "
                            "by another model (embeddings of different models cannot be "
                            "compared)",
                            in->embedding_dim, loc->m.name, loc->dim);
    tg_locate_job *job = calloc(1, sizeof *job);
    if (!job) return tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    tg_locate_answer *ans = &job->ans;
    tg_locate_answer_clear(ans);
    job->truth_s = NAN;
    job->n_q = 1;
    job->is_embedding = in->embedding != NULL;
    job->has_truth_heading = in->has_truth_heading;
    job->truth_heading_deg = in->truth_heading_deg;
    tg_image *own = NULL;
    int rc = TG_OK;
    if (!in->embedding) {
        const tg_image *img = in->image;
        if (!img) {
            rc = in->path ? tg_image_load(ctx, in->path, &own)
                          : tg_image_load_mem(ctx, in->bytes, in->n_bytes, &own);
            if (rc) goto fail;
            img = own;
        }
        /* Metadata is optional: a photo without readable EXIF is still located. */
        if (in->path || in->bytes) {
            int mrc = in->path ? tg_photo_meta_read(ctx, in->path, &ans->meta)
                               : tg_photo_meta_read_mem(ctx, in->bytes, in->n_bytes, &ans->meta);
            if (mrc == 0) ans->has_meta = 1;
            else memset(&ans->meta, 0, sizeof ans->meta);
            tg_clear_error(ctx);
        }
        if (in->has_truth) {
            ans->has_truth = 1;
            ans->truth_lon = in->truth_lon;
            ans->truth_lat = in->truth_lat;
        } else if (in->truth_from_gps && ans->has_meta && ans->meta.has_gps) {
            ans->has_truth = 1;
            ans->truth_lon = ans->meta.lon_deg;
            ans->truth_lat = ans->meta.lat_deg;
        } else if (in->truth_from_gps) {
            job->done = 1; /* evaluation, and nothing to compare with: not embedded */
            goto ok;
        }
        rc = embed_photo(loc, ctx, img, ans, &job->emb, &job->n_q, job->headings);
        if (rc) goto fail;
    } else {
        job->emb = malloc((size_t)loc->dim * sizeof *job->emb);
        if (!job->emb) {
            rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
            goto fail;
        }
        memcpy(job->emb, in->embedding, (size_t)loc->dim * sizeof *job->emb);
        if (in->has_truth) {
            ans->has_truth = 1;
            ans->truth_lon = in->truth_lon;
            ans->truth_lat = in->truth_lat;
        }
    }
    if (ans->has_truth && loc->server) {
        rc = tg_set_error(ctx, TG_EINVAL,
                          "evaluation ranks the true position among every tile: it needs the "
                          "tiles in this process (ranking local), not ranked on the server");
        goto fail;
    }
    ans->matches = calloc((size_t)loc->k, sizeof *ans->matches);
    if (!ans->matches) {
        rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory for %d matches", loc->k);
        goto fail;
    }
    job->cs = (cands){loc->has_prior, loc->cand, loc->n_cand};
    rc = choose_candidates(loc, ctx, ans, &job->cs, &job->own_cand);
    if (rc) goto fail;
    if (job->cs.has && job->cs.n == 0) { /* the prior selects nothing */
        job->done = 1;
        goto ok;
    }
    if (ans->has_truth) {
        rc = nearest_candidate(loc, &job->cs, ctx, ans->truth_lon, ans->truth_lat,
                               &job->truth_row);
        if (rc) goto fail;
    }
ok:
    tg_image_free(own);
    *out = job;
    return TG_OK;
fail:
    tg_image_free(own);
    tg_locate_job_free(job);
    return rc;
}

/* ---- score: narrowing every-tile searches --------------------------------- */

/* After a pass that kept the kk best (approximate) hits of each of job's
 * queries (hits: n_q x kk, nh: n_q): [out] *ok = 1 and job->narrow = the
 * union of the hits when it surely holds the exact top `want` (see above),
 * else *ok = 0 (widen). */
static int narrow_take(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *job,
                       const tg_hit *hits, const int *nh, int kk, int want, int *ok)
{
    size_t n_all = n_tiles(loc);
    double lim = -INFINITY;
    for (int q = 0; q < job->n_q; q++)
        if (nh[q] >= want && hits[(size_t)q * kk + want - 1].score > lim)
            lim = hits[(size_t)q * kk + want - 1].score;
    /* a tile of the exact top `want` has an approximate score >= lim - 2 tol */
    lim -= 2 * score_tol(loc->dim);
    *ok = 1;
    for (int q = 0; q < job->n_q && (size_t)kk < n_all; q++)
        if (nh[q] == kk && !(hits[(size_t)q * kk + kk - 1].score < lim)) *ok = 0;
    if (!*ok) return TG_OK;
    size_t m = 0;
    for (int q = 0; q < job->n_q; q++) m += (size_t)nh[q];
    free(job->narrow);
    job->narrow = malloc((m ? m : 1) * sizeof *job->narrow);
    if (!job->narrow) return tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    m = 0;
    for (int q = 0; q < job->n_q; q++)
        for (int i = 0; i < nh[q]; i++) job->narrow[m++] = hits[(size_t)q * kk + i].id;
    qsort(job->narrow, m, sizeof *job->narrow, cmp_id);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || job->narrow[u - 1] != job->narrow[i]) job->narrow[u++] = job->narrow[i];
    job->n_narrow = u;
    return TG_OK;
}

/* The every-tile photos of the batch: one tg_index_search_batch for all
 * their queries, then narrow_take each; a photo whose set may miss a tile
 * searches again alone, with 4 times as many hits. */
static int narrow_jobs(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *const *jobs, size_t n)
{
    size_t nq = 0, n_tiles = tg_tileset_count(loc->ts);
    for (size_t i = 0; i < n; i++)
        if (jobs[i] && !jobs[i]->done && !jobs[i]->cs.has) nq += (size_t)jobs[i]->n_q;
    if (nq == 0) return TG_OK;
    int want = loc->k > TG_STORE_ERROR_K ? loc->k : TG_STORE_ERROR_K;
    size_t kk = (size_t)want + NARROW_EXTRA;
    if (kk > n_tiles) kk = n_tiles;
    int rc = TG_OK;
    float *q = malloc(nq * (size_t)loc->dim * sizeof *q);
    tg_hit *hits = malloc(nq * kk * sizeof *hits);
    int *nh = malloc(nq * sizeof *nh);
    if (!q || !hits || !nh) {
        rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory for %zu queries", nq);
        goto done;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const tg_locate_job *j = jobs[i];
        if (!j || j->done || j->cs.has) continue;
        memcpy(q + o * (size_t)loc->dim, j->emb, (size_t)j->n_q * (size_t)loc->dim * sizeof *q);
        o += (size_t)j->n_q;
    }
    rc = tg_index_search_batch(ctx, tg_tileset_index(loc->ts), q, (int)nq, (int)kk, hits, nh);
    o = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        tg_locate_job *j = jobs[i];
        if (!j || j->done || j->cs.has) continue;
        int ok = 0;
        rc = narrow_take(loc, ctx, j, hits + o * kk, nh + o, (int)kk, want, &ok);
        for (size_t k2 = kk; !rc && !ok;) { /* rare: many tiles within the tolerance */
            k2 = k2 * 4 < n_tiles ? k2 * 4 : n_tiles;
            tg_hit *h2 = malloc((size_t)j->n_q * k2 * sizeof *h2);
            int *n2 = malloc((size_t)j->n_q * sizeof *n2);
            if (!h2 || !n2) rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
            if (!rc)
                rc = tg_index_search_batch(ctx, tg_tileset_index(loc->ts), j->emb, j->n_q,
                                           (int)k2, h2, n2);
            if (!rc) rc = narrow_take(loc, ctx, j, h2, n2, (int)k2, want, &ok);
            free(h2);
            free(n2);
        }
        o += (size_t)j->n_q;
    }
done:
    free(q);
    free(hits);
    free(nh);
    return rc;
}

/* ---- score: ranks of the truth (evaluation) --------------------------------- */

/* The exact score of row (the best over the job's queries; NaN when none is
 * finite), as the answer's matches are scored. */
static int exact_best(const tg_locator *loc, tg_ctx *ctx, const tg_locate_job *j,
                      const int64_t *ids, size_t n_ids, double *best)
{
    /* scores of ids[0..n_ids) into best[0..n_ids) (by position: ids are
     * distinct, rows ascending) */
    tg_index *ix = (tg_index *)tg_tileset_index(loc->ts); /* id table built at open */
    tg_hit *h = malloc((n_ids ? n_ids : 1) * sizeof *h);
    if (!h) return tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
    for (size_t i = 0; i < n_ids; i++) best[i] = NAN;
    int rc = TG_OK;
    for (int q = 0; !rc && q < j->n_q && n_ids > 0; q++) {
        int nh = 0;
        rc = tg_index_search_subset(ctx, ix, j->emb + (size_t)q * loc->dim, ids, n_ids,
                                    (int)n_ids, h, &nh);
        for (int i = 0; !rc && i < nh; i++) {
            /* h[i].id is one of ids: find its position */
            size_t lo = 0, hi = n_ids;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (ids[mid] < h[i].id) lo = mid + 1;
                else hi = mid;
            }
            if (lo < n_ids && ids[lo] == h[i].id && !(best[lo] >= h[i].score))
                best[lo] = h[i].score;
        }
    }
    free(h);
    return rc;
}

typedef struct rank_pass {
    const tg_locator *loc;
    tg_locate_job **jobs;      /* the jobs ranked in this pass */
    size_t n;
    double tol;
    tg_ctx *ctx;
} rank_pass;

/* One block of the pass: each job's candidates above its truth, surely
 * (counted) or within the tolerance (kept for an exact comparison). */
static int rank_block(void *user, size_t row0, size_t nb, const float *s)
{
    rank_pass *p = user;
    size_t o = 0;
    for (size_t jj = 0; jj < p->n; jj++) {
        tg_locate_job *j = p->jobs[jj];
        const float *sj = s + o * nb;
        o += (size_t)j->n_q;
        double t = j->truth_s;
        for (size_t i = 0; i < nb; i++) {
            float b = sj[i];
            for (int q = 1; q < j->n_q; q++) { /* a tile's score is its best over the headings */
                float v = sj[(size_t)q * nb + i];
                if (v > b || (isnan(b) && !isnan(v))) b = v;
            }
            if (isnan(b) || (!isnan(t) && b < t - p->tol)) continue;
            size_t row = row0 + i;
            if (row == j->truth_row) continue;
            if (j->cs.has) {
                int64_t id;
                tg_tileset_tile(p->loc->ts, row, &id, NULL, NULL, NULL);
                if (!is_candidate(&j->cs, id)) continue;
            }
            if (isnan(t) || b > t + p->tol) { /* a NaN truth ranks after every scored tile */
                j->above++;
                continue;
            }
            if (j->n_band == j->cap_band) {
                size_t nc = j->cap_band ? 2 * j->cap_band : 64;
                size_t *nbd = realloc(j->band, nc * sizeof *nbd);
                if (!nbd) return tg_set_error(p->ctx, TG_ENOMEM, "evaluation: out of memory");
                j->band = nbd;
                j->cap_band = nc;
            }
            j->band[j->n_band++] = row;
        }
    }
    return TG_OK;
}

/* The truth's exact score, then one pass over every tile for all the jobs
 * ranked here (tg_tileset_scores_batch). */
static int rank_jobs(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *const *jobs, size_t n)
{
    size_t nj = 0, nq = 0;
    for (size_t i = 0; i < n; i++)
        if (jobs[i] && ranks_in_pass(jobs[i])) nj++, nq += (size_t)jobs[i]->n_q;
    if (nj == 0) return TG_OK;
    tg_locate_job **rj = malloc(nj * sizeof *rj);
    float *q = malloc(nq * (size_t)loc->dim * sizeof *q);
    int rc = TG_OK;
    if (!rj || !q) {
        rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory for %zu queries", nq);
        goto done;
    }
    size_t a = 0, o = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        tg_locate_job *j = jobs[i];
        if (!j || !ranks_in_pass(j)) continue;
        rj[a++] = j;
        memcpy(q + o * (size_t)loc->dim, j->emb, (size_t)j->n_q * (size_t)loc->dim * sizeof *q);
        o += (size_t)j->n_q;
        int64_t id;
        tg_tileset_tile(loc->ts, j->truth_row, &id, NULL, NULL, NULL);
        rc = exact_best(loc, ctx, j, &id, 1, &j->truth_s);
        j->above = 0;
        j->n_band = 0;
    }
    if (rc) goto done;
    rank_pass p = {loc, rj, nj, score_tol(loc->dim), ctx};
    rc = tg_tileset_scores_batch(ctx, loc->ts, q, (int)nq, rank_block, &p);
done:
    free(rj);
    free(q);
    return rc;
}

/* ---- score: ranking on the server ------------------------------------------ */

/* ids[0..n) and add[0..na) (both ascending), merged without repeats into
 * *out (malloc'ed). [out] *n_out. */
static int merge_ids(tg_ctx *ctx, const int64_t *ids, size_t n, const int64_t *add, size_t na,
                     int64_t **out, size_t *n_out)
{
    int64_t *m = malloc((n + na ? n + na : 1) * sizeof *m);
    if (!m) return tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    size_t i = 0, j = 0, u = 0;
    while (i < n || j < na) {
        int64_t v = j >= na || (i < n && ids[i] <= add[j]) ? ids[i++] : add[j++];
        if (u == 0 || m[u - 1] != v) m[u++] = v;
    }
    *out = m;
    *n_out = u;
    return TG_OK;
}

/* The every-tile photo j: the servers' best kk per canvas, widened as
 * narrow_jobs widens, into j->narrow. */
static int server_narrow(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *j)
{
    int want = loc->k > TG_STORE_ERROR_K ? loc->k : TG_STORE_ERROR_K;
    size_t all = n_tiles(loc), kk = (size_t)want + NARROW_EXTRA;
    int rc = TG_OK, ok = 0;
    while (!rc && !ok) {
        if (kk > all) kk = all;
        tg_hit *h = malloc((size_t)j->n_q * kk * sizeof *h);
        int *nh = malloc((size_t)j->n_q * sizeof *nh);
        if (!h || !nh) rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
        if (!rc) rc = tg_store_top_hits(ctx, loc->st, &loc->m, j->emb, j->n_q, loc->dim, (int)kk, h, nh);
        if (!rc) rc = narrow_take(loc, ctx, j, h, nh, (int)kk, want, &ok);
        free(h);
        free(nh);
        kk *= 4; /* rare: many tiles within the rounding tolerance */
    }
    return rc;
}

/* Server ranking: each photo's tiles into j->ts. A prior or GPS window:
 * its tiles. Every tile: the servers' narrowed set, and when the locator
 * refines, the tiles around the best of them (the neighbours refinement
 * reads: within 1.5 strides, metre.c). */
static int server_jobs(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *const *jobs, size_t n)
{
    int rc = TG_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        tg_locate_job *j = jobs[i];
        if (!j || j->done) continue;
        double r;
        if (!j->own_cand && gps_window(loc, &j->ans, &r)) { /* the window, from the store */
            tg_store_prior pr = {.lon = j->ans.meta.lon_deg, .lat = j->ans.meta.lat_deg, .radius_m = r};
            size_t nw = 0;
            rc = tg_store_candidates(ctx, loc->st, &loc->m, &pr, &j->own_cand, &nw);
            if (rc) break;
            take_window(&j->ans, &j->cs, j->own_cand, nw, r);
        }
        tg_tileset_free(j->ts);
        j->ts = NULL;
        if (j->cs.has) {
            rc = tg_store_tileset_ids(ctx, loc->st, &loc->m, loc->dim, j->cs.ids, j->cs.n, &j->ts);
            continue;
        }
        rc = server_narrow(loc, ctx, j);
        if (!rc)
            rc = tg_store_tileset_ids(ctx, loc->st, &loc->m, loc->dim, j->narrow, j->n_narrow,
                                      &j->ts);
        if (rc || !loc->refine || tg_tileset_count(j->ts) == 0) continue;
        /* the best tile as finish will find it (the same exact scores) */
        tg_match best;
        int nb = 0;
        rc = tg_tileset_match_n(ctx, j->ts, j->emb, j->n_q, 1, j->narrow, j->n_narrow, &best,
                                &nb, NULL);
        if (rc || nb == 0) continue;
        /* metre.c keeps neighbours within 1.5 strides (geodesic, ours); the
         * server's geodesic may differ in the last millimetres */
        tg_store_prior pr = {.lon = best.lon, .lat = best.lat, .radius_m = 1.5 * best.stride_m + 1.0};
        int64_t *near = NULL, *all = NULL;
        size_t n_near = 0, n_all = 0;
        rc = tg_store_candidates(ctx, loc->st, &loc->m, &pr, &near, &n_near);
        if (!rc) rc = merge_ids(ctx, j->narrow, j->n_narrow, near, n_near, &all, &n_all);
        if (!rc && n_all > tg_tileset_count(j->ts)) {
            tg_tileset_free(j->ts);
            j->ts = NULL;
            rc = tg_store_tileset_ids(ctx, loc->st, &loc->m, loc->dim, all, n_all, &j->ts);
        }
        free(near);
        free(all);
    }
    return rc;
}

int tg_locator_score(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *const *jobs, size_t n)
{
    if (!loc || (!jobs && n))
        return tg_set_error(ctx, TG_EINVAL, "tg_locator_score: NULL argument");
    if (loc->server) return server_jobs(loc, ctx, jobs, n);
    int rc = narrow_jobs(loc, ctx, jobs, n);
    if (!rc) rc = rank_jobs(loc, ctx, jobs, n);
    return rc;
}

/* ---- finish ---------------------------------------------------------------- */

/* Evaluation: the rank of the candidate nearest the truth (1 + the
 * candidates scored above it: tg_eval_rank's rule). Every tile or a global
 * prior: from the pass, the tiles within the tolerance compared exactly;
 * the GPS window: by posterior, as tg_metre_gps_match ranks, with the
 * embedding qm of the heading it chose. */
static int rank_truth(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *j, const float *qm)
{
    tg_locate_answer *ans = &j->ans;
    int rc = TG_OK;
    if (ans->prior == TG_PRIOR_GPS) {
        const tg_index *ix = tg_tileset_index(loc->ts);
        double sigma = ans->prior_radius_m / TG_METRE_GPS_SIGMA_DIV, t = NAN;
        size_t n = tg_tileset_count(loc->ts), m = 0;
        double *post = malloc((j->cs.n ? j->cs.n : 1) * sizeof *post);
        if (!post) return tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
        for (size_t i = 0; i < n && m < j->cs.n; i++) {
            int64_t id;
            double clon, clat, d;
            tg_tileset_tile(loc->ts, i, &id, &clon, &clat, NULL);
            if (!is_candidate(&j->cs, id)) continue;
            double s = tg_metre_dot(qm, tg_index_row(ix, i), loc->dim);
            if (isfinite(s)) {
                rc = tg_geo_distance_m(ctx, ans->meta.lon_deg, ans->meta.lat_deg, clon, clat, &d);
                if (rc) break;
                s += tg_metre_gps_penalty(d, sigma);
            } else {
                s = NAN;
            }
            if (i == j->truth_row) t = s;
            post[m++] = s;
        }
        long above = 0;
        for (size_t i = 0; i < m; i++)
            if (isnan(t) ? !isnan(post[i]) : post[i] > t) above++;
        free(post);
        if (rc) return rc;
        ans->truth_score = t;
        ans->truth_rank = above + 1;
    } else {
        long above = j->above;
        if (j->n_band > 0) { /* compared exactly, as the matches are scored */
            int64_t *ids = malloc(j->n_band * sizeof *ids);
            double *s = malloc(j->n_band * sizeof *s);
            if (!ids || !s) rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
            for (size_t i = 0; !rc && i < j->n_band; i++)
                tg_tileset_tile(loc->ts, j->band[i], &ids[i], NULL, NULL, NULL);
            /* ids ascend with rows (the tileset loads them in id order) but
             * sort anyway: exact_best looks them up by id */
            if (!rc) qsort(ids, j->n_band, sizeof *ids, cmp_id);
            if (!rc) rc = exact_best(loc, ctx, j, ids, j->n_band, s);
            for (size_t i = 0; !rc && i < j->n_band; i++)
                if (!isnan(s[i]) && s[i] > j->truth_s) above++;
            free(ids);
            free(s);
            if (rc) return rc;
        }
        ans->truth_score = isfinite(j->truth_s) ? j->truth_s : NAN;
        ans->truth_rank = above + 1;
    }
    tg_tileset_tile(loc->ts, j->truth_row, &ans->truth_tile_id, &ans->truth_tile_lon,
                    &ans->truth_tile_lat, NULL);
    rc = tg_geo_distance_m(ctx, ans->matches[0].lon, ans->matches[0].lat, ans->truth_lon,
                           ans->truth_lat, &ans->truth_tile_error_m);
    if (!rc)
        rc = tg_geo_distance_m(ctx, ans->lon, ans->lat, ans->truth_lon, ans->truth_lat,
                               &ans->truth_error_m);
    return rc;
}

int tg_locator_finish(const tg_locator *loc, tg_ctx *ctx, tg_locate_job *job,
                      tg_locate_answer *ans)
{
    if (ans) {
        memset(ans, 0, sizeof *ans);
        tg_locate_answer_clear(ans);
    }
    if (!loc || !job || !ans)
        return tg_set_error(ctx, TG_EINVAL, "tg_locator_finish: NULL argument");
    tg_locate_answer *a = &job->ans;
    int rc = TG_OK, *query_of = NULL;
    if (job->done) goto done;
    const float *q = job->emb;
    const float *qm = q; /* the queries ranked: every heading, or the chosen one */
    const cands *cs = &job->cs;
    const tg_tileset *ts = loc->server ? job->ts : loc->ts;
    if (!ts) {
        rc = tg_set_error(ctx, TG_EINVAL, "tg_locator_finish: the photo was not scored "
                                          "(tg_locator_score)");
        goto done;
    }
    query_of = calloc((size_t)loc->k, sizeof *query_of);
    if (!query_of) {
        rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
        goto done;
    }
    if (a->prior == TG_PRIOR_GPS) { /* the window, and the GPS as a probability in it */
        int best_q = 0;
        if (job->n_q > 1) {
            /* several headings: the best (tile, heading) in the window picks the
             * heading, and the posterior ranks with that heading's embedding */
            rc = tg_tileset_match_n(ctx, ts, q, job->n_q, 1, cs->ids, cs->n, a->matches,
                                    &a->n_matches, query_of);
            if (rc) goto done;
            best_q = a->n_matches > 0 ? query_of[0] : 0;
            qm = q + (size_t)best_q * (size_t)loc->dim;
        }
        rc = tg_metre_gps_match(ctx, ts, qm, cs->ids, cs->n, a->meta.lon_deg,
                                a->meta.lat_deg, a->prior_radius_m / TG_METRE_GPS_SIGMA_DIV,
                                loc->k, a->matches, &a->n_matches);
        for (int i = 0; i < loc->k; i++) query_of[i] = best_q;
    } else if (cs->has) { /* a global prior: its candidates, exactly */
        rc = tg_tileset_match_n(ctx, ts, q, job->n_q, loc->k, cs->ids, cs->n, a->matches,
                                &a->n_matches, query_of);
    } else { /* every tile: the exact scores of the set the pass narrowed them to */
        if (!job->narrow) {
            rc = tg_set_error(ctx, TG_EINVAL, "tg_locator_finish: the photo was not scored "
                                              "(tg_locator_score)");
            goto done;
        }
        rc = tg_tileset_match_n(ctx, ts, q, job->n_q, loc->k, job->narrow, job->n_narrow,
                                a->matches, &a->n_matches, query_of);
    }
    if (rc) goto done;
    tg_locate_input hin = {.has_truth_heading = job->has_truth_heading,
                           .truth_heading_deg = job->truth_heading_deg};
    report_headings(&hin, a, job->headings, query_of);
    if (a->n_matches == 0) { /* every candidate scored NaN */
        rc = tg_set_error(ctx, TG_EIMAGE, "no tile could be scored (the %sembedding is not "
                                          "finite)", job->is_embedding ? "" : "photo's ");
        goto done;
    }
    /* refined with the embedding of the best match's heading */
    rc = estimate(loc, ts, ctx, q + (size_t)query_of[0] * (size_t)loc->dim, cs, a);
    if (rc) goto done;
    if (a->has_meta && a->meta.has_gps) {
        rc = tg_geo_distance_m(ctx, a->meta.lon_deg, a->meta.lat_deg, a->lon, a->lat,
                               &a->gps_error_m);
        if (rc) goto done;
    }
    if (a->has_truth) rc = rank_truth(loc, ctx, job, qm);
done:
    free(query_of);
    if (!rc) {
        *ans = *a; /* the answer moves to the caller */
        memset(a, 0, sizeof *a);
        tg_locate_answer_clear(a);
    }
    return rc;
}

int tg_locator_run(const tg_locator *loc, tg_ctx *ctx, const tg_locate_input *in,
                   tg_locate_answer *ans)
{
    if (ans) {
        memset(ans, 0, sizeof *ans);
        tg_locate_answer_clear(ans);
    }
    if (!loc || !in || !ans) return tg_set_error(ctx, TG_EINVAL, "tg_locator_run: NULL argument");
    /* the batched stages for a batch of one: the same answer either way */
    tg_locate_job *job = NULL;
    int rc = tg_locator_prepare(loc, ctx, in, &job);
    if (!rc) rc = tg_locator_score(loc, ctx, &job, 1);
    if (!rc) rc = tg_locator_finish(loc, ctx, job, ans);
    tg_locate_job_free(job);
    return rc;
}

int tg_locator_tile_covers(const tg_locator *loc, tg_ctx *ctx, int64_t tile_id, double lon,
                           double lat, int *hit)
{
    if (!loc) return tg_set_error(ctx, TG_EINVAL, "tg_locator_tile_covers: NULL argument");
    return tg_store_tile_covers(ctx, loc->st, tile_id, lon, lat, hit);
}

int tg_locator_tile_wkt(const tg_locator *loc, tg_ctx *ctx, int64_t tile_id, char **wkt)
{
    if (!loc) return tg_set_error(ctx, TG_EINVAL, "tg_locator_tile_wkt: NULL argument");
    return tg_store_tile_wkt(ctx, loc->st, tile_id, wkt);
}

int tg_locator_refines(const tg_locator *loc) { return loc ? loc->refine : 0; }
