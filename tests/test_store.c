/* test_store.c - the SpatiaLite store (include/transgeo/store.h) through its C API, on a
 * real raster (NAIP 2009, 5 m, EPSG:26914) and the tiny golden model:
 * schema, model registry, indexing (tiles vs tilecache, footprints, resume
 * after a cancel, re-index adds nothing), in-memory tiles and their refresh,
 * search (an aerial tile finds itself), spatial prior, error estimate, and
 * every error path with its message. */
#define _GNU_SOURCE /* memmem */
#include "config.h"
#include "transgeo/store.h"
#include "tap.h"
#include "locate_path.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transgeo/canvas.h"
#include "transgeo/geo.h"
#include "transgeo/locate.h"
#include "transgeo/model.h"
#include "transgeo/tilecache.h"
#include "transgeo/transgeo_model.h"

/* Tiles of 640 m at 10 m per pixel: 64 px, the tiny model's input scale. */
#define TILE_M 640.0
#define GSD_M 10.0

static char raster[1024], model_path[1024], tmpdir[1024];

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/test_store_%s", tmpdir, name);
}

static void remove_db(const char *p)
{
    char x[1200];
    unlink(p);
    snprintf(x, sizeof x, "%s-wal", p);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", p);
    unlink(x);
}

static long long sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        printf("# sql failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

static int has(const char *hay, const char *needle)
{
    int ok = hay && strstr(hay, needle) != NULL;
    if (!ok) printf("#   message: %s\n#   expected to contain: %s\n", hay ? hay : "(null)", needle);
    return ok;
}

/* What tilecache makes of the raster with the same options (the reference). */
typedef struct ref_tile {
    int col, row;
    double corners[4][2], lon, lat;
    int win[4];
    float *emb;
} ref_tile;

typedef struct ref_run {
    tg_ctx *ctx;
    const tg_model *model;
    int dim;
    ref_tile *t;
    int n, cap;
} ref_run;

static int collect(const tg_tile *tile, void *user)
{
    ref_run *r = user;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->t = realloc(r->t, (size_t)r->cap * sizeof *r->t);
    }
    ref_tile *t = &r->t[r->n++];
    t->col = tile->col;
    t->row = tile->row;
    memcpy(t->corners, tile->corners_lonlat, sizeof t->corners);
    t->lon = tile->center_lon;
    t->lat = tile->center_lat;
    t->win[0] = tile->src_xoff;
    t->win[1] = tile->src_yoff;
    t->win[2] = tile->src_xsize;
    t->win[3] = tile->src_ysize;
    t->emb = malloc((size_t)r->dim * sizeof(float));
    tg_image *img = NULL;
    int rc = tg_image_from_rgb8(r->ctx, tile->rgb, tile->width, tile->height, &img);
    if (!rc) rc = tg_model_embed_aerial(r->ctx, r->model, img, t->emb);
    tg_image_free(img);
    return rc;
}

/* Progress callback that cancels after `limit` calls with a message. */
typedef struct cancel_after {
    int calls, limit;
} cancel_after;

static int cancel_cb(double done, double total, const char *msg, void *user)
{
    (void)done;
    (void)total;
    cancel_after *c = user;
    if (msg && strstr(msg, "tiles added")) c->calls++;
    return c->calls < c->limit;
}

int main(void)
{
    snprintf(raster, sizeof raster, "%s/rasters/m_4709963_se_14_1_20090818.tif", tap_shared());
    /* TG_TEST_MODEL: another model file of the tiny config (default: the golden one) */
    if (getenv("TG_TEST_MODEL") && *getenv("TG_TEST_MODEL"))
        snprintf(model_path, sizeof model_path, "%s", getenv("TG_TEST_MODEL"));
    else
        snprintf(model_path, sizeof model_path, "%s/tests/golden/tiny/model.safetensors", tap_srcdir());
    snprintf(tmpdir, sizeof tmpdir, "%s", tap_env("TG_TMPDIR", "/tmp"));
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, 1);
    char db_path[1200];
    path_in_tmp(db_path, sizeof db_path, "main.sqlite");
    remove_db(db_path);

    /* ---- sha256 of a file: the value PROVENANCE.md lists */
    char hex[65];
    TAP_EQ(tg_store_file_sha256(ctx, raster, hex), 0, "sha256 of the NAIP raster");
    TAP_OK(strcmp(hex, "568f0d3dc3118d6df63510361db6c627b81541ad4c65122caf54e18030fc7100") == 0,
           "sha256 equals PROVENANCE.md (%s)", hex);
    TAP_EQ(tg_store_file_sha256(ctx, "/nonexistent/x.tif", hex), TG_EIO, "sha256 of a missing file");

    /* ---- create: schema, spatial metadata, WAL */
    tg_store *st = NULL;
    TAP_EQ(tg_store_open(ctx, db_path, TG_STORE_CREATE, &st), 0, "create a new database: %s",
           tg_errmsg(ctx));
    if (!st) return tap_done();
    sqlite3 *db = tg_store_db(st);
    TAP_EQ(tg_store_has_schema(ctx, st), 1, "schema created");
    TAP_EQ(sql_int(db, "SELECT CheckSpatialMetaData()"), 3, "SpatiaLite metadata initialised");
    TAP_EQ(sql_int(db, "SELECT count(*) FROM spatial_ref_sys WHERE srid IN (4326, 32614)"), 2,
           "WGS84 reference systems present (the 'WGS84' init)");
    TAP_EQ(sql_int(db, "SELECT count(*) FROM geometry_columns WHERE f_table_name = 'tg_tiles' AND "
                       "f_geometry_column = 'geom' AND srid = 4326 AND geometry_type = 3 AND "
                       "spatial_index_enabled = 1"),
           1, "tg_tiles.geom: POLYGON 4326 with a spatial index");
    TAP_EQ(sql_int(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1, "WAL mode");
    TAP_EQ(sql_int(db, "SELECT value FROM tg_meta WHERE key = 'schema_version'"),
           TG_STORE_SCHEMA_VERSION, "schema version recorded");
    TAP_EQ(tg_store_ensure_schema(ctx, st), 0, "ensure_schema again: idempotent");
    TAP_OK(strstr(tg_store_schema_sql(), "CREATE TABLE IF NOT EXISTS tg_tiles") != NULL,
           "the schema text is src/store/schema.sql");

    /* ---- models */
    tg_store_model m;
    TAP_EQ(tg_store_model_find(ctx, st, NULL, &m), TG_ENOTFOUND, "no model yet");
    TAP_OK(has(tg_errmsg(ctx), "no model is registered"), "message says none is registered");
    TAP_EQ(tg_store_model_register(ctx, st, "tiny", model_path, &m), 0, "register the tiny model: %s",
           tg_errmsg(ctx));
    TAP_EQ(m.id, 1, "model id 1");
    TAP_EQ(m.out_dim, 24, "out_dim from the model config");
    TAP_NEAR(m.tile_m, 32, 0, "aerial_tile_m from the config");
    TAP_NEAR(m.gsd_m, 0.5, 0, "aerial_gsd_m from the config");
    {
        tg_model *tm = NULL;
        tg_model_load(ctx, model_path, &tm);
        const char *want = tm ? tg_model_config_get(tm)->sha256 : "";
        TAP_OK(strlen(m.sha256) == 64 && strcmp(m.sha256, want) == 0,
               "sha256 is the model's own (its metadata), not the file's: %s", m.sha256);
        tg_model_free(tm);
    }
    tg_store_model m2;
    TAP_EQ(tg_store_model_register(ctx, st, "tiny", model_path, &m2), 0, "register again");
    TAP_EQ(m2.id, m.id, "same name and file: same id");
    TAP_EQ(tg_store_model_register(ctx, st, "", model_path, NULL), TG_EINVAL, "empty name refused");
    int mrc = tg_store_model_register(ctx, st, "x", "/nonexistent.safetensors", NULL);
    TAP_OK(mrc == TG_EIO || mrc == TG_ENOTFOUND, "missing model file (%d)", mrc);
    TAP_OK(has(tg_errmsg(ctx), "/nonexistent.safetensors"), "message names the file");
    TAP_EQ(sql_int(db, "SELECT count(*) FROM tg_models"), 1, "a failed registration writes nothing");
    TAP_EQ(tg_store_model_find(ctx, st, "nope", &m2), TG_ENOTFOUND, "unknown model name");
    TAP_OK(has(tg_errmsg(ctx), "model 'nope' is not registered") && has(tg_errmsg(ctx), "'tiny'"),
           "message lists the registered models");

    /* ---- index the raster */
    tg_store_index_opts o;
    tg_store_index_opts_default(&o);
    o.tile_m = TILE_M;
    tg_store_index_result res;
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &o, &res), 0, "index the NAIP raster: %s",
           tg_errmsg(ctx));
    TAP_NEAR(res.gsd_m, GSD_M, 1e-9, "tile_m without gsd keeps the model's 64 px per tile");
    TAP_NEAR(res.stride_m, TILE_M / 2, 1e-9, "default stride: half a tile");
    TAP_OK(res.complete && res.n_added > 100 && res.n_added == res.n_tiles && res.n_present == 0,
           "all %lld tiles added, raster complete", res.n_added);

    /* The reference: tilecache with the same options, embedded here. */
    const tg_model *model = NULL;
    TAP_EQ(tg_store_model_get(ctx, st, &m, &model), 0, "the cached model");
    tg_tile_options to = tg_tile_options_default();
    to.tile_m = TILE_M;
    to.gsd_m = GSD_M;
    to.stride_m = TILE_M / 2;
    tg_tiler *tiler = NULL;
    ref_run ref = {ctx, model, m.out_dim, NULL, 0, 0};
    TAP_EQ(tg_tiles_open(ctx, raster, &to, &tiler), 0, "reference tiler");
    TAP_EQ(tg_tiles_run(ctx, tiler, collect, &ref, NULL, NULL), 0, "reference run");
    tg_tiler_free(tiler);
    TAP_EQ(res.n_tiles, ref.n, "tile count equals the tiles tilecache keeps (%d)", ref.n);
    TAP_EQ(sql_int(db, "SELECT count(*) FROM tg_tiles"), ref.n, "rows in tg_tiles");
    TAP_EQ(sql_int(db, "SELECT count(DISTINCT col || ',' || row) FROM tg_tiles"), ref.n,
           "every tile once");
    TAP_EQ(sql_int(db, "SELECT sum(ST_IsValid(geom)) FROM tg_tiles"), ref.n, "every footprint valid");
    TAP_EQ(sql_int(db, "SELECT count(*) FROM tg_tiles WHERE ST_SRID(geom) = 4326 AND "
                       "ST_NumPoints(ST_ExteriorRing(geom)) = 5 AND length(embedding) = 96 AND "
                       "crs = 'EPSG:26914'"),
           ref.n, "POLYGON 4326 of 4 corners, 24-float embeddings, working CRS EPSG:26914");
    TAP_EQ(sql_int(db, "SELECT count(*) FROM tg_tiles WHERE ST_Contains(geom, MakePoint(center_lon, "
                       "center_lat, 4326))"),
           ref.n, "each centre lies in its footprint");
    TAP_EQ(sql_int(db, "SELECT complete = 1 AND n_tiles = (SELECT count(*) FROM tg_tiles) AND "
                       "crs = 'EPSG:26914' AND tile_m = 640 AND stride_m = 320 AND gsd_m = 10 AND "
                       "indexed_at IS NOT NULL FROM tg_rasters"),
           1, "tg_rasters row: complete, n_tiles, crs, effective sizes");

    /* Footprints, centres, windows and embeddings equal tilecache's. */
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT id, center_lon, center_lat, win_x, win_y, win_w, win_h, embedding, "
                       "ST_X(ST_PointN(ST_ExteriorRing(geom), 1)), ST_Y(ST_PointN(ST_ExteriorRing(geom), 1)), "
                       "ST_X(ST_PointN(ST_ExteriorRing(geom), 2)), ST_Y(ST_PointN(ST_ExteriorRing(geom), 2)), "
                       "ST_X(ST_PointN(ST_ExteriorRing(geom), 3)), ST_Y(ST_PointN(ST_ExteriorRing(geom), 3)), "
                       "ST_X(ST_PointN(ST_ExteriorRing(geom), 4)), ST_Y(ST_PointN(ST_ExteriorRing(geom), 4)) "
                       "FROM tg_tiles WHERE col = ?1 AND row = ?2",
                       -1, &q, NULL);
    double max_corner = 0, max_centre = 0, max_emb = 0;
    int win_ok = 1, found = 0;
    int64_t *ref_id = calloc((size_t)ref.n, sizeof *ref_id);
    static const int order[4] = {0, 3, 2, 1}; /* ring UL, LL, LR, UR */
    for (int i = 0; i < ref.n; i++) {
        ref_tile *t = &ref.t[i];
        sqlite3_bind_int(q, 1, t->col);
        sqlite3_bind_int(q, 2, t->row);
        if (sqlite3_step(q) == SQLITE_ROW) {
            found++;
            ref_id[i] = sqlite3_column_int64(q, 0);
            max_centre = fmax(max_centre, fabs(sqlite3_column_double(q, 1) - t->lon));
            max_centre = fmax(max_centre, fabs(sqlite3_column_double(q, 2) - t->lat));
            for (int j = 0; j < 4; j++) win_ok &= sqlite3_column_int(q, 3 + j) == t->win[j];
            const float *e = sqlite3_column_blob(q, 7);
            for (int j = 0; j < m.out_dim; j++) max_emb = fmax(max_emb, fabs(e[j] - t->emb[j]));
            for (int v = 0; v < 4; v++) {
                max_corner = fmax(max_corner, fabs(sqlite3_column_double(q, 8 + 2 * v) - t->corners[order[v]][0]));
                max_corner = fmax(max_corner, fabs(sqlite3_column_double(q, 9 + 2 * v) - t->corners[order[v]][1]));
            }
        }
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    TAP_EQ(found, ref.n, "every tilecache tile is in the database");
    TAP_NEAR(max_corner, 0, 0, "footprint corners equal tilecache's exactly (max diff %g deg)", max_corner);
    TAP_NEAR(max_centre, 0, 0, "centres equal tilecache's");
    TAP_OK(win_ok, "source pixel windows equal tilecache's");
    TAP_NEAR(max_emb, 0, 1e-6, "stored embeddings equal the aerial encoder's on the same pixels");

    /* ---- re-index: nothing to do */
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &o, &res), 0, "re-index the same raster");
    TAP_OK(res.n_added == 0 && res.n_present == ref.n && res.complete, "re-index adds 0 tiles");
    TAP_EQ(sql_int(db, "SELECT count(*) FROM tg_rasters"), 1, "still one raster row");

    /* ---- in-memory tiles and search */
    const tg_tileset *ts = NULL;
    TAP_EQ(tg_store_tileset(ctx, st, &m, &ts), 0, "load the tiles");
    TAP_EQ(tg_tileset_count(ts), ref.n, "all tiles loaded");
    TAP_EQ(tg_tileset_dim(ts), 24, "dimension 24");
    int self_first = 0;
    tg_match mt[12];
    int n;
    for (int i = 0; i < ref.n; i++) {
        if (tg_tileset_match(ctx, ts, ref.t[i].emb, 1, NULL, 0, mt, &n) == 0 && n == 1 &&
            mt[0].tile_id == ref_id[i])
            self_first++;
    }
    TAP_EQ(self_first, ref.n, "each tile's own aerial embedding ranks it first (%d of %d)",
           self_first, ref.n);
    /* error_m: at least half the stride; the formula of store.h by hand. */
    TAP_EQ(tg_tileset_match(ctx, ts, ref.t[5].emb, 12, NULL, 0, mt, &n), 0, "top 12");
    TAP_EQ(n, 12, "12 matches");
    int ranks_ok = 1;
    for (int i = 0; i < n; i++) ranks_ok &= mt[i].rank == i + 1 && (i == 0 || mt[i].score <= mt[i - 1].score);
    TAP_OK(ranks_ok, "ranks 1..12 by descending score");
    {
        double wsum = 0, acc = 0;
        for (int j = 0; j < TG_STORE_ERROR_K; j++) {
            double w = exp(20 * (mt[j].score - mt[0].score)), d; /* alpha = 20 */
            tg_geo_distance_m(ctx, mt[0].lon, mt[0].lat, mt[j].lon, mt[j].lat, &d);
            wsum += w;
            acc += w * d * d;
        }
        double want = 1.19 * fmax(sqrt(acc / wsum), 160); /* the 68 % scale of store.h */
        TAP_NEAR(mt[0].error_m, want, 1e-6 * want,
                 "error_m = 1.19 max(stride/2, weighted RMS spread)");
        int floor_ok = 1;
        for (int i = 0; i < n; i++) floor_ok &= mt[i].error_m >= 160 - 1e-9 && mt[i].stride_m == 320;
        TAP_OK(floor_ok, "error_m >= stride/2 = 160 m for every match");
    }
    /* Several queries of one photo (its headings): a tile's score is its best
     * over the queries; checked by brute force over every tile. */
    {
        enum { NQ = 3, K = 7 };
        int dim = 24;
        float qv[NQ * 24];
        for (int k = 0; k < NQ; k++) memcpy(qv + k * dim, ref.t[3 + 17 * k].emb, sizeof(float) * dim);
        int qof[K];
        tg_match mn[K];
        int nn = 0;
        TAP_EQ(tg_tileset_match_n(ctx, ts, qv, NQ, K, NULL, 0, mn, &nn, qof), 0, "match 3 queries");
        /* brute force: best score per tile over the queries, by dot products */
        const tg_index *ix = tg_tileset_index(ts);
        size_t nt = tg_tileset_count(ts);
        double *best = malloc(nt * sizeof *best);
        int *bq = malloc(nt * sizeof *bq);
        for (size_t i = 0; i < nt; i++) {
            best[i] = -INFINITY;
            for (int k = 0; k < NQ; k++) {
                double d = 0;
                for (int j = 0; j < dim; j++) d += (double)tg_index_row(ix, i)[j] * qv[k * dim + j];
                if (d > best[i]) {
                    best[i] = d;
                    bq[i] = k;
                }
            }
        }
        int ok = nn == K;
        for (int r = 0; ok && r < K; r++) {
            size_t row = 0;
            while (row < nt && tg_index_id(ix, row) != mn[r].tile_id) row++;
            int above = 0; /* tiles strictly better than this one: r of them at most */
            for (size_t i = 0; i < nt; i++) above += best[i] > best[row] + 1e-5;
            ok &= row < nt && fabs(mn[r].score - best[row]) < 1e-5 && above <= r && qof[r] == bq[row];
        }
        TAP_OK(ok, "tg_tileset_match_n: the 7 best tiles by their best score over 3 queries, and "
                   "which query gave it (brute force)");
        {
            int own = 0; /* each query is a tile's own embedding: those 3 come first */
            for (int r = 0; r < NQ; r++)
                for (int k = 0; k < NQ; k++) own += mn[r].tile_id == ref_id[3 + 17 * k] && qof[r] == k;
            TAP_EQ(own, NQ, "  ... the queries' own tiles first, each from its own query");
        }
        tg_match m1[K];
        int n1 = 0;
        tg_tileset_match(ctx, ts, qv, K, NULL, 0, m1, &n1);
        tg_tileset_match_n(ctx, ts, qv, 1, K, NULL, 0, mn, &nn, qof);
        TAP_OK(n1 == nn && !memcmp(m1, mn, sizeof(tg_match) * (size_t)K - sizeof(double)) ,
               "tg_tileset_match_n with one query = tg_tileset_match");
        free(best);
        free(bq);
    }
    /* A panorama without metadata (a CVUSA/VIGOR-shaped image) on a 360-degree
     * model: assumed north-aligned, one pass, and exactly the official input:
     * the same scores, bit for bit, as tg_model_embed_ground + tg_tileset_match
     * scoring every tile exactly (the locator's scores are those of the
     * candidate search, locate.h "many photos per pass"), and the same tiles
     * as the blocked search over every tile, scores within float32 rounding. */
    {
        int pw = 208, phh = 52;
        unsigned char *rgb = malloc((size_t)pw * phh * 3);
        for (int i = 0; i < pw * phh * 3; i++) rgb[i] = (unsigned char)((i * 2654435761u) >> 24);
        tg_image *pano = NULL;
        tg_image_from_rgb8(ctx, rgb, pw, phh, &pano);
        free(rgb);
        tg_locate_opts lo;
        tg_locate_opts_default(&lo);
        lo.k = 5;
        tg_locator *loc = NULL;
        tg_locate_answer ans = {0};
        tg_locate_input in = {.image = pano};
        int rc = tg_locator_open(ctx, st, &lo, &loc);
        if (!rc) rc = tg_locator_run(loc, ctx, &in, &ans);
        const tg_model *mdl = NULL;
        tg_store_model_get(ctx, st, tg_locator_model(loc), &mdl);
        float e[24];
        tg_match m1[5];
        int n1 = 0;
        tg_model_embed_ground(ctx, mdl, pano, e);
        size_t n_all = tg_tileset_count(ts);
        int64_t *all = malloc(n_all * sizeof *all);
        for (size_t i = 0; i < n_all; i++) tg_tileset_tile(ts, i, &all[i], NULL, NULL, NULL);
        tg_match mx[5];
        int nx = 0;
        tg_tileset_match(ctx, ts, e, 5, all, n_all, m1, &n1);
        tg_tileset_match(ctx, ts, e, 5, NULL, 0, mx, &nx);
        free(all);
        int same = rc == 0 && ans.n_matches == n1 && n1 == 5 && nx == 5;
        for (int i = 0; same && i < n1; i++)
            same = ans.matches[i].tile_id == m1[i].tile_id && ans.matches[i].score == m1[i].score &&
                   mx[i].tile_id == m1[i].tile_id && fabs(mx[i].score - m1[i].score) < 1e-6;
        TAP_OK(same && ans.n_headings == 1 && ans.heading_source == TG_HEADING_NORTH &&
                   ans.camera.source == TG_CAMERA_DEFAULT && ans.camera.hfov_deg == 360 &&
                   ans.heading_deg == 0,
               "a 4:1 image without metadata: assumed-north panorama, one pass, the official "
               "input bit for bit");
        tg_locate_answer_clear(&ans);
        tg_locator_free(loc);
        tg_image_free(pano);
    }
    /* The locator's heading search: 6 canvases in one batch; the best match's
     * score is the best of the 6 canvases embedded one at a time. */
    {
        char ph[1200];
        snprintf(ph, sizeof ph, "%s/photos/01.jpg", tap_shared());
        tg_locate_opts lo;
        tg_locate_opts_default(&lo);
        lo.k = 3;
        lo.heading_search = 6;
        lo.ignore_heading = 1;
        tg_locator *loc = NULL;
        tg_locate_answer ans = {0};
        tg_locate_input in = {.path = ph};
        int rc = tg_locator_open(ctx, st, &lo, &loc);
        if (!rc) rc = tg_locator_run(loc, ctx, &in, &ans);
        TAP_EQ(rc, 0, "locate 01.jpg with 6 headings: %s", tg_errmsg(ctx));
        TAP_OK(ans.n_headings == 6 && ans.heading_source == TG_HEADING_SEARCHED &&
                   ans.heading_step_deg == 60 && fmod(ans.heading_deg, 60) == 0 &&
                   ans.matches[0].heading_deg == ans.heading_deg,
               "6 headings searched, 60 apart; the answer's is the best match's (%g)",
               ans.heading_deg);
        const tg_model *mdl = NULL;
        tg_store_model_get(ctx, st, tg_locator_model(loc), &mdl);
        const tg_model_config *c = tg_model_config_get(mdl);
        tg_canvas_spec sp = {c->ground_hw[0], c->ground_hw[1], c->ground_fov_deg,
                             c->ground_elev_deg[0], c->ground_elev_deg[1], {0}, {0}};
        memcpy(sp.mean, c->mean, sizeof sp.mean);
        memcpy(sp.std, c->std, sizeof sp.std);
        tg_image *img = NULL;
        tg_image_load(ctx, ph, &img);
        float *x = malloc(sizeof(float) * 3 * (size_t)sp.H * sp.W), e[24], sc_best = -2;
        double h_best = -1;
        float *scores = malloc(sizeof(float) * tg_tileset_count(ts));
        for (int k = 0; k < 6; k++) {
            double h = 60.0 * k, cen = 0;
            tg_canvas_make(ctx, &sp, img, &ans.camera, h, cen, x);
            tg_model_embed_ground_batch(ctx, mdl, x, 1, e);
            tg_index_scores(ctx, tg_tileset_index(ts), e, scores);
            for (size_t i = 0; i < tg_tileset_count(ts); i++)
                if (scores[i] > sc_best) {
                    sc_best = scores[i];
                    h_best = h;
                }
        }
        TAP_NEAR(ans.matches[0].score, sc_best, 1e-5, "best score = best of the 6 canvases one by one");
        TAP_NEAR(ans.heading_deg, h_best, 0, "  ... at the same heading");
        free(x);
        free(scores);
        tg_image_free(img);
        tg_locate_answer_clear(&ans);
        tg_locator_free(loc);
    }

    /* A photo. */
    TAP_EQ(locate_path(ctx, st, NULL, "/nonexistent.jpg", 3, NULL, mt, &n, NULL), TG_EIO,
           "locate a missing photo");
    char photo[1200];
    snprintf(photo, sizeof photo, "%s/photos/01.jpg", tap_shared());
    tg_store_model used;
    TAP_EQ(locate_path(ctx, st, NULL, photo, 5, NULL, mt, &n, &used), 0, "locate 01.jpg: %s",
           tg_errmsg(ctx));
    TAP_OK(n == 5 && mt[0].rank == 1 && strcmp(used.name, "tiny") == 0, "5 matches with model tiny");

    /* ---- spatial prior: tiles whose centre is within 1000 m of a point */
    {
        double plon = ref.t[40].lon + 0.001, plat = ref.t[40].lat;
        tg_store_prior prior = {.lon = plon, .lat = plat, .radius_m = 1000};
        int64_t *ids = NULL;
        size_t n_ids = 0;
        TAP_EQ(tg_store_candidates(ctx, st, &m, &prior, &ids, &n_ids), 0, "candidates near a point");
        int want = 0, wrong = 0;
        for (int i = 0; i < ref.n; i++) {
            double d;
            tg_geo_distance_m(ctx, plon, plat, ref.t[i].lon, ref.t[i].lat, &d);
            int in = 0;
            for (size_t j = 0; j < n_ids; j++) in |= ids[j] == ref_id[i];
            if (d <= 1000) want++;
            if ((d <= 1000) != in) wrong++;
        }
        TAP_OK(n_ids > 0 && (int)n_ids == want && wrong == 0,
               "exactly the %d tiles within 1000 m (geodesic) are candidates", want);
        TAP_EQ(tg_tileset_match(ctx, ts, ref.t[0].emb, 3, ids, n_ids, mt, &n), 0, "match with prior");
        int inside = 1;
        for (int i = 0; i < n; i++) {
            int in = 0;
            for (size_t j = 0; j < n_ids; j++) in |= ids[j] == mt[i].tile_id;
            inside &= in;
        }
        TAP_OK(n == 3 && inside, "matches come from the candidates only");
        free(ids);
        prior.radius_m = -1;
        TAP_EQ(tg_store_candidates(ctx, st, &m, &prior, &ids, &n_ids), TG_EINVAL, "negative radius");
        prior.radius_m = 10;
        prior.geom = "not a geometry";
        prior.geom_size = 14;
        TAP_EQ(tg_store_candidates(ctx, st, &m, &prior, &ids, &n_ids), TG_EINVAL, "not a geometry");
        TAP_OK(has(tg_errmsg(ctx), "not a SpatiaLite geometry"), "message says so");
        /* far away: empty set, and locate with it returns nothing */
        tg_store_prior far = {.lon = 13.4, .lat = 52.5, .radius_m = 100};
        TAP_EQ(tg_store_candidates(ctx, st, &m, &far, &ids, &n_ids), 0, "prior in Berlin");
        TAP_EQ(n_ids, 0, "no tile near Berlin");
        TAP_EQ(locate_path(ctx, st, NULL, photo, 5, &far, mt, &n, NULL), 0, "locate with it");
        TAP_EQ(n, 0, "no match outside the prior");
    }

    /* ---- geometry BLOB check: a footprint passes, every truncation or a
     * flipped count fails (libspatialite would trust the counts) */
    {
        sqlite3_stmt *g = NULL;
        sqlite3_prepare_v2(db, "SELECT geom FROM tg_tiles LIMIT 1", -1, &g, NULL);
        sqlite3_step(g);
        size_t n_g = (size_t)sqlite3_column_bytes(g, 0);
        unsigned char *b = malloc(n_g);
        memcpy(b, sqlite3_column_blob(g, 0), n_g);
        sqlite3_finalize(g);
        int srid = 0, cls = 0;
        TAP_EQ(tg_store_geom_check(b, n_g, &srid, &cls), 0, "a footprint BLOB is well formed");
        TAP_OK(srid == 4326 && cls == 3, "SRID 4326, class 3 (POLYGON)");
        int bad = 0;
        for (size_t len = 0; len < n_g; len++) bad += tg_store_geom_check(b, len, NULL, NULL) == 0;
        TAP_EQ(bad, 0, "every truncation of it is refused");
        memcpy(b + 43, "\xff\xff\xff\x7f", 4); /* ring count 2^31 - 1 */
        TAP_EQ(tg_store_geom_check(b, n_g, NULL, NULL), TG_EINVAL, "a huge ring count is refused");
        free(b);
    }

    /* ---- damaged tile: wrong embedding size is refused, not read out of bounds */
    sqlite3_exec(db, "UPDATE tg_tiles SET embedding = zeroblob(8) WHERE id = 3", NULL, NULL, NULL);
    TAP_EQ(tg_store_tileset(ctx, st, &m, &ts), TG_EMODEL, "a tile of another size is refused");
    TAP_OK(has(tg_errmsg(ctx), "tile 3") && has(tg_errmsg(ctx), "another model"),
           "message names the tile and the cause");
    sqlite3_exec(db, "DELETE FROM tg_tiles WHERE id = 3", NULL, NULL, NULL);
    TAP_EQ(tg_store_tileset(ctx, st, &m, &ts), 0, "after deleting it: reload");
    TAP_EQ(tg_tileset_count(ts), ref.n - 1, "deletion seen (full reload)");
    TAP_EQ(sql_int(db, "SELECT complete FROM tg_rasters"), 1, "");
    sqlite3_exec(db, "UPDATE tg_rasters SET complete = 0", NULL, NULL, NULL);
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &o, &res), 0, "re-index an incomplete raster");
    TAP_EQ(res.n_added, 1, "only the missing tile is embedded again");
    TAP_EQ(tg_store_tileset(ctx, st, &m, &ts), 0, "refresh");
    TAP_EQ(tg_tileset_count(ts), ref.n, "the new tile is in memory (incremental load)");

    /* ---- a changed model file under a registered name */
    {
        char copy[1200], other[1200];
        path_in_tmp(copy, sizeof copy, "model_copy.safetensors");
        path_in_tmp(other, sizeof other, "model_other.safetensors");
        /* other = the model with a different sha256 in its header (same length) */
        FILE *f = fopen(model_path, "rb");
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t)len);
        TAP_EQ(fread(buf, 1, (size_t)len, f), len, "read the model");
        fclose(f);
        f = fopen(copy, "wb");
        fwrite(buf, 1, (size_t)len, f);
        fclose(f);
        char *p = memmem(buf, (size_t)len, m.sha256, 64);
        TAP_OK(p != NULL, "the model's sha256 is in its header");
        if (p) memcpy(p, p[0] == '0' ? "1111111111ff" : "0000000000ff", 12);
        f = fopen(other, "wb");
        fwrite(buf, 1, (size_t)len, f);
        fclose(f);
        free(buf);
        TAP_EQ(tg_store_model_register(ctx, st, "tiny", other, NULL), TG_EMODEL,
               "another model under a name that has tiles");
        TAP_OK(has(tg_errmsg(ctx), "already registered for another model"), "message says so");
        TAP_EQ(tg_store_model_register(ctx, st, "copy", copy, NULL), 0, "register a copy as 'copy'");
        TAP_EQ(tg_store_model_find(ctx, st, NULL, &m2), 0, "no name: the only model with tiles");
        TAP_OK(strcmp(m2.name, "tiny") == 0, "that is 'tiny'");
        /* replace the file behind 'copy': a fresh store notices */
        rename(other, copy);
        tg_store *st2 = NULL;
        TAP_EQ(tg_store_open(ctx, db_path, 0, &st2), 0, "open the database again");
        TAP_EQ(tg_store_model_find(ctx, st2, "copy", &m2), 0, "find 'copy'");
        const tg_model *mm = NULL;
        TAP_EQ(tg_store_model_get(ctx, st2, &m2, &mm), TG_EMODEL, "changed model file refused");
        TAP_OK(has(tg_errmsg(ctx), "has changed since it was registered"), "message says so");
        tg_store_close(st2);
        unlink(copy);
    }
    tg_store_close(st);

    /* ---- read-only */
    TAP_EQ(tg_store_open(ctx, db_path, TG_STORE_READONLY, &st), 0, "open read-only");
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &o, &res), TG_EDB, "indexing a read-only database");
    TAP_OK(has(tg_errmsg(ctx), "is read-only: cannot index a raster"), "message says read-only");
    TAP_EQ(tg_store_model_register(ctx, st, "x", model_path, NULL), TG_EDB, "registering read-only");
    TAP_EQ(locate_path(ctx, st, "tiny", photo, 2, NULL, mt, &n, NULL), 0,
           "locating works read-only");
    tg_store_close(st);

    /* ---- cancel half-way, then resume: every tile exactly once */
    {
        char p2[1200];
        path_in_tmp(p2, sizeof p2, "resume.sqlite");
        remove_db(p2);
        tg_store *s2 = NULL;
        TAP_EQ(tg_store_open(ctx, p2, TG_STORE_CREATE, &s2), 0, "new database");
        tg_store_model_register(ctx, s2, "tiny", model_path, &m2);
        cancel_after ca = {0, 3};
        tg_store_index_opts o2 = o;
        o2.batch_tiles = 10;
        o2.progress = cancel_cb;
        o2.progress_user = &ca;
        TAP_EQ(tg_store_index_raster(ctx, s2, raster, &o2, &res), TG_ECANCEL, "cancelled by progress");
        TAP_OK(res.n_added == 30 && !res.complete, "3 batches of 10 kept (%lld)", res.n_added);
        const tg_tileset *ts2 = NULL;
        TAP_EQ(tg_store_tileset(ctx, s2, &m2, &ts2), 0, "tiles of the partial run");
        TAP_EQ(tg_tileset_count(ts2), 30, "30 in memory");
        o2.progress = NULL;
        TAP_EQ(tg_store_index_raster(ctx, s2, raster, &o2, &res), 0, "resume");
        TAP_OK(res.n_added == ref.n - 30 && res.n_tiles == ref.n && res.complete,
               "the rest added (%lld), complete", res.n_added);
        sqlite3 *d2 = tg_store_db(s2);
        TAP_EQ(sql_int(d2, "SELECT count(*) FROM (SELECT col, row FROM tg_tiles GROUP BY col, row "
                           "HAVING count(*) = 1)"),
               ref.n, "every tile exactly once");
        TAP_EQ(tg_store_tileset(ctx, s2, &m2, &ts2), 0, "refresh after resume");
        TAP_EQ(tg_tileset_count(ts2), ref.n, "incremental refresh sees all tiles");
        int same = 0;
        for (int i = 0; i < ref.n; i++)
            if (tg_tileset_match(ctx, ts2, ref.t[i].emb, 1, NULL, 0, mt, &n) == 0 && n == 1 &&
                mt[0].score > 0.9999)
                same++;
        TAP_EQ(same, ref.n, "each tile finds itself (score 1) in the refreshed tiles");
        TAP_EQ(sql_int(d2, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1,
               "PRAGMA integrity_check: ok");
        tg_store_close(s2);
        remove_db(p2);
    }

    /* ---- a database SpatiaLite already initialised (and holding other data) */
    {
        char p3[1200];
        path_in_tmp(p3, sizeof p3, "spatialite.sqlite");
        remove_db(p3);
        sqlite3 *raw = NULL;
        sqlite3_open(p3, &raw);
        sqlite3_enable_load_extension(raw, 1);
        sqlite3_load_extension(raw, "mod_spatialite", NULL, NULL);
        sqlite3_exec(raw, "SELECT InitSpatialMetadata(1, 'WGS84'); CREATE TABLE roads(id INTEGER "
                          "PRIMARY KEY); SELECT AddGeometryColumn('roads', 'geom', 4326, "
                          "'LINESTRING', 'XY')",
                     NULL, NULL, NULL);
        tg_store *s3 = NULL;
        TAP_EQ(tg_store_wrap(ctx, raw, &s3), 0, "wrap an existing connection");
        TAP_EQ(tg_store_ensure_schema(ctx, s3), 0, "schema added to a SpatiaLite database");
        TAP_EQ(sql_int(raw, "SELECT count(*) FROM geometry_columns"), 2, "both geometry columns registered");
        tg_store_close(s3);
        TAP_EQ(sql_int(raw, "SELECT 1"), 1, "wrap does not close the connection");
        sqlite3_close(raw);
        remove_db(p3);

        /* a connection without SpatiaLite */
        sqlite3_open(":memory:", &raw);
        TAP_EQ(tg_store_wrap(ctx, raw, &s3), TG_EDB, "wrap without SpatiaLite");
        TAP_OK(has(tg_errmsg(ctx), "SpatiaLite is not loaded"), "message says load mod_spatialite");
        sqlite3_close(raw);

        /* a GeoPackage */
        path_in_tmp(p3, sizeof p3, "gpkg.gpkg");
        remove_db(p3);
        sqlite3_open(p3, &raw);
        sqlite3_enable_load_extension(raw, 1);
        sqlite3_load_extension(raw, "mod_spatialite", NULL, NULL);
        sqlite3_exec(raw, "SELECT gpkgCreateBaseTables()", NULL, NULL, NULL);
        TAP_EQ(tg_store_wrap(ctx, raw, &s3), 0, "wrap a GeoPackage");
        TAP_EQ(tg_store_ensure_schema(ctx, s3), TG_EDB, "no tables in a GeoPackage");
        TAP_OK(has(tg_errmsg(ctx), "is a GeoPackage"), "message says GeoPackage");
        tg_store_close(s3);
        sqlite3_close(raw);
        remove_db(p3);

        /* a newer schema version */
        path_in_tmp(p3, sizeof p3, "newer.sqlite");
        remove_db(p3);
        TAP_EQ(tg_store_open(ctx, p3, TG_STORE_CREATE, &s3), 0, "new database");
        sqlite3_exec(tg_store_db(s3), "UPDATE tg_meta SET value = '99' WHERE key = 'schema_version'",
                     NULL, NULL, NULL);
        tg_store_close(s3);
        TAP_EQ(tg_store_open(ctx, p3, 0, &s3), TG_EDB, "a newer schema is refused");
        TAP_OK(has(tg_errmsg(ctx), "schema version 99"), "message names the version");
        remove_db(p3);

        /* not a database */
        TAP_EQ(tg_store_open(ctx, model_path, TG_STORE_READONLY, &s3), TG_EDB, "a model file is no database");
        TAP_OK(has(tg_errmsg(ctx), "not a database"), "message: %s", tg_errmsg(ctx));
        TAP_EQ(tg_store_open(ctx, "/nonexistent/dir/x.sqlite", TG_STORE_CREATE, &s3), TG_EIO,
               "uncreatable file");
    }

    /* ---- raster errors */
    TAP_EQ(tg_store_open(ctx, db_path, 0, &st), 0, "reopen");
    TAP_EQ(tg_store_index_raster(ctx, st, "/nonexistent.tif", &o, &res), TG_EIO, "missing raster");
    TAP_EQ(tg_store_index_raster(ctx, st, model_path, &o, &res), TG_EFORMAT, "a model is no raster");
    o.model = "nope";
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &o, &res), TG_ENOTFOUND, "unknown model");
    o.model = NULL;
    o.tile_m = -5;
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &o, &res), TG_EINVAL, "negative tile size");
    TAP_EQ(sql_int(tg_store_db(st), "SELECT count(*) FROM tg_rasters"), 1, "failures add no raster");
    tg_store_close(st);
    tg_store_close(NULL);

    for (int i = 0; i < ref.n; i++) free(ref.t[i].emb);
    free(ref.t);
    free(ref_id);
    remove_db(db_path);
    tg_ctx_free(ctx);
    return tap_done();
}
