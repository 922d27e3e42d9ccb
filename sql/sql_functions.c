/*
 * sql_functions.c - the scalar SQL functions of mod_transgeo:
 *
 *   tg_version()                          -> TEXT  library version
 *   tg_set(name, value)                   -> INTEGER the value now in effect (TEXT for codec)
 *   tg_host_files(pointer)                -> INTEGER allow_files (C hosts only, sql.h)
 *   tg_model_register(name, path)         -> INTEGER tg_models.id
 *   tg_index_raster(path [, model [, tile_m [, stride_m]]]) -> INTEGER tiles added
 *   tg_embed_ground(photo [, model])      -> BLOB  out_dim float32, unit length
 *   tg_embed_aerial(image [, model])      -> BLOB
 *   tg_photo_gps(photo)                   -> POINT (SpatiaLite BLOB, EPSG:4326) or NULL
 *   tg_distance_m(geom_a, geom_b)         -> REAL  geodesic metres (WGS84)
 *   tg_locate(photo [, model [, fov_deg [, heading_search]]]) -> TEXT JSON
 *
 * See man/transgeo-sql.7 for each function's contract, errors and examples.
 * Flags: only tg_version and tg_distance_m are pure (DETERMINISTIC |
 * INNOCUOUS). Every other function may read files or the database and write
 * (tg_index_raster, tg_model_register): SQLITE_DIRECTONLY, so that a view,
 * trigger or CHECK constraint in a database someone else made cannot call
 * them behind the user's back (the reasoning of ext/misc/fileio.c and csv.c).
 */
#include "config.h"
#include "tgsql.h"
#include "transgeo/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>
#include <spatialite/gaiageo.h> /* after sqlite3.h: it uses sqlite3_int64 */

#include "transgeo/geo.h"
#include "transgeo/model.h"
#include "transgeo/sql.h"
#include "transgeo/transgeo_model.h"

static tgsql_conn *conn_of(sqlite3_context *ctx) { return sqlite3_user_data(ctx); }

/* Optional model-name argument: TEXT or NULL ("the only model"). Returns 0,
 * or -1 after setting the error. */
static int model_arg(sqlite3_context *ctx, const char *fn, int argc, sqlite3_value **argv, int i,
                     const char **name)
{
    *name = NULL;
    if (argc <= i) return 0;
    int t = sqlite3_value_type(argv[i]);
    if (t == SQLITE_NULL) return 0;
    if (t != SQLITE_TEXT) {
        tgsql_error(ctx, fn, "argument %d: TEXT (model name) or NULL expected, got %s", i + 1,
                    tgsql_type_name(t));
        return -1;
    }
    *name = (const char *)sqlite3_value_text(argv[i]);
    return 0;
}

/* Optional number argument (metres): INTEGER/REAL > 0, or NULL (= 0: default). */
static int metres_arg(sqlite3_context *ctx, const char *fn, int argc, sqlite3_value **argv, int i,
                      const char *what, double *out)
{
    *out = 0;
    if (argc <= i) return 0;
    int t = sqlite3_value_type(argv[i]);
    if (t == SQLITE_NULL) return 0;
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
        tgsql_error(ctx, fn, "argument %d (%s): a number of metres or NULL expected, got %s", i + 1,
                    what, tgsql_type_name(t));
        return -1;
    }
    double v = sqlite3_value_double(argv[i]);
    if (!(v > 0) || !isfinite(v)) {
        tgsql_error(ctx, fn, "argument %d (%s): %g m, expected a positive number of metres", i + 1,
                    what, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- tg_version, tg_set ------------------------------------------------- */

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_text(ctx, tg_version(), -1, SQLITE_STATIC);
}

static void fn_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *fn = "tg_set";
    tgsql_conn *c = conn_of(ctx);
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        tgsql_error(ctx, fn, "argument 1: TEXT (a setting name) expected, got %s",
                    tgsql_type_name(sqlite3_value_type(argv[0])));
        return;
    }
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    int t = sqlite3_value_type(argv[1]);
    if (strcmp(name, "codec") == 0) {
        /* TEXT: the codec searches of this connection use (search.h), or
         * 'model' for each model's stored one (transgeo index --codec) */
        const char *v = t == SQLITE_TEXT ? (const char *)sqlite3_value_text(argv[1]) : NULL;
        int codec = !v ? -2 : strcmp(v, "model") == 0 ? -1 : tg_codec_parse(v);
        if (v && codec == -1 && strcmp(v, "model") != 0) codec = -2; /* not a codec name */
        if (codec < -1) {
            tgsql_error(ctx, fn, "'codec' is 'f32', 'f16', 'int8' or 'model' (each model's own), "
                        "not %s", v ? v : tgsql_type_name(t));
            return;
        }
        tg_ctx_set_codec(c->ctx, codec);
        sqlite3_result_text(ctx, codec < 0 ? "model" : tg_codec_name(codec), -1, SQLITE_STATIC);
        return;
    }
    if (t != SQLITE_INTEGER) {
        tgsql_error(ctx, fn, "argument 2: INTEGER expected for '%s', got %s", name,
                    tgsql_type_name(t));
        return;
    }
    sqlite3_int64 v = sqlite3_value_int64(argv[1]);
    if (strcmp(name, "allow_files") == 0) {
        if (v != 0 && v != 1) {
            tgsql_error(ctx, fn, "'allow_files' is 0 (off) or 1 (on), not %lld", (long long)v);
            return;
        }
        /* One way: SQL may close, never reopen (the host decides that:
         * TG_SQL_ALLOW_FILES at load, or tg_host_files from C). */
        if (v == 1 && !c->allow_files) {
            tgsql_error(ctx, fn,
                        "'allow_files' cannot be turned on from SQL: file access is off for this "
                        "connection, and only the program that loaded mod_transgeo can turn it on "
                        "(TG_SQL_ALLOW_FILES=1 in its environment when loading, or "
                        "tg_sql_set_files() of <transgeo/sql.h>; see transgeo-sql(7))");
            return;
        }
        if (v == 0 && c->allow_files) {
            c->allow_files = 0;
            int rc = tgsql_apply_files(c);
            if (rc) { /* cannot happen for lists that were applied before */
                tgsql_error_tg(ctx, fn, c, rc);
                return;
            }
        }
    } else if (strcmp(name, "threads") == 0) {
        if (v < 0 || v > 4096) {
            tgsql_error(ctx, fn, "'threads' is 0 (all cores) or a thread count up to 4096, not %lld",
                        (long long)v);
            return;
        }
        tg_ctx_set_threads(c->ctx, (int)v);
    } else if (strcmp(name, "batch_tiles") == 0) {
        if (v < 1 || v > 100000) {
            tgsql_error(ctx, fn, "'batch_tiles' is 1 to 100000 tiles per transaction, not %lld",
                        (long long)v);
            return;
        }
        c->batch_tiles = (int)v;
    } else {
        tgsql_error(ctx, fn, "unknown setting '%s' (settings: allow_files, threads, batch_tiles, "
                    "codec)",
                    name);
        return;
    }
    sqlite3_result_int64(ctx, v);
}

/* tg_host_files(pointer): the host program's file settings (a tg_sql_files
 * passed with sqlite3_bind_pointer; include/transgeo/sql.h). SQL text
 * cannot make a pointer value, so from SQL this only fails. Returns the
 * allow_files now in effect. */
static void fn_host_files(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *fn = "tg_host_files";
    tgsql_conn *c = conn_of(ctx);
    (void)argc;
    const tg_sql_files *f = sqlite3_value_pointer(argv[0], TG_SQL_FILES_POINTER);
    if (!f) {
        tgsql_error(ctx, fn,
                    "only the program that loaded mod_transgeo calls this, from C "
                    "(tg_sql_set_files() of <transgeo/sql.h>): SQL cannot change file access "
                    "beyond tg_set('allow_files', 0)");
        return;
    }
    char *dirs = f->trusted_dirs && *f->trusted_dirs ? sqlite3_mprintf("%s", f->trusted_dirs) : NULL;
    char *models =
        f->trusted_models && *f->trusted_models ? sqlite3_mprintf("%s", f->trusted_models) : NULL;
    if ((f->trusted_dirs && *f->trusted_dirs && !dirs) ||
        (f->trusted_models && *f->trusted_models && !models)) {
        sqlite3_free(dirs);
        sqlite3_free(models);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    /* Validate on the store first: a bad entry leaves everything as it was. */
    tg_store *st = tgsql_store(c, ctx, fn);
    tg_store_files sf = {.restricted = !f->allow_files, .dirs = dirs, .models = models};
    int rc = st ? tg_store_set_files(c->ctx, st, &sf) : TG_EDB;
    if (rc) {
        if (st) tgsql_error_tg(ctx, fn, c, rc);
        sqlite3_free(dirs);
        sqlite3_free(models);
        return;
    }
    sqlite3_free(c->trusted_dirs);
    sqlite3_free(c->trusted_models);
    c->trusted_dirs = dirs;
    c->trusted_models = models;
    c->allow_files = f->allow_files != 0;
    rc = tgsql_apply_files(c); /* again, with the message hint */
    if (rc) tgsql_error_tg(ctx, fn, c, rc);
    else sqlite3_result_int(ctx, c->allow_files);
}

/* ---- models and indexing ------------------------------------------------ */

static void fn_model_register(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *fn = "tg_model_register";
    tgsql_conn *c = conn_of(ctx);
    (void)argc;
    for (int i = 0; i < 2; i++) {
        int t = sqlite3_value_type(argv[i]);
        if (t == SQLITE_NULL) return;
        if (t != SQLITE_TEXT) {
            tgsql_error(ctx, fn, "argument %d: TEXT (%s) expected, got %s", i + 1,
                        i ? "model file path" : "model name", tgsql_type_name(t));
            return;
        }
    }
    if (!c->allow_files) {
        tgsql_error(ctx, fn, TGSQL_FILES_OFF);
        return;
    }
    tg_store *st = tgsql_store(c, ctx, fn);
    if (!st) return;
    tg_store_model m;
    int rc = tg_store_model_register(c->ctx, st, (const char *)sqlite3_value_text(argv[0]),
                                     (const char *)sqlite3_value_text(argv[1]), &m);
    if (rc) tgsql_error_tg(ctx, fn, c, rc);
    else sqlite3_result_int64(ctx, m.id);
}

static void fn_index_raster(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *fn = "tg_index_raster";
    tgsql_conn *c = conn_of(ctx);
    int t = sqlite3_value_type(argv[0]);
    if (t == SQLITE_NULL) return;
    if (t != SQLITE_TEXT) {
        tgsql_error(ctx, fn, "argument 1: TEXT (raster path) expected, got %s", tgsql_type_name(t));
        return;
    }
    tg_store_index_opts o;
    tg_store_index_opts_default(&o);
    if (model_arg(ctx, fn, argc, argv, 1, &o.model) ||
        metres_arg(ctx, fn, argc, argv, 2, "tile_m", &o.tile_m) ||
        metres_arg(ctx, fn, argc, argv, 3, "stride_m", &o.stride_m))
        return;
    if (!c->allow_files) {
        tgsql_error(ctx, fn, TGSQL_FILES_OFF);
        return;
    }
    o.batch_tiles = c->batch_tiles;
    tg_store *st = tgsql_store(c, ctx, fn);
    if (!st) return;
    const char *path = (const char *)sqlite3_value_text(argv[0]);
    tg_store_index_result r;
    int rc = tg_store_index_raster(c->ctx, st, path, &o, &r);
    if (rc) tgsql_error_tg(ctx, fn, c, rc);
    else sqlite3_result_int64(ctx, r.n_added);
}

/* ---- embeddings --------------------------------------------------------- */

static void embed(sqlite3_context *ctx, int argc, sqlite3_value **argv, int aerial)
{
    const char *fn = aerial ? "tg_embed_aerial" : "tg_embed_ground";
    tgsql_conn *c = conn_of(ctx);
    const char *model_name;
    if (model_arg(ctx, fn, argc, argv, 1, &model_name)) return;
    tgsql_photo ph;
    int got = tgsql_photo_get(c, ctx, NULL, fn, 1, argv[0], TGSQL_PHOTO_IMAGE, &ph);
    if (got) return; /* NULL, or the error is set */
    tg_store *st = tgsql_store(c, ctx, fn);
    float *emb = NULL;
    tg_store_model m;
    const tg_model *model = NULL;
    int rc;
    if (!st) goto done;
    if ((rc = tg_store_model_find(c->ctx, st, model_name, &m)) ||
        (rc = tg_store_model_get(c->ctx, st, &m, &model))) {
        tgsql_error_tg(ctx, fn, c, rc);
        goto done;
    }
    int dim = tg_model_config_get(model)->out_dim;
    emb = malloc((size_t)dim * sizeof *emb);
    if (!emb) {
        sqlite3_result_error_nomem(ctx);
        goto done;
    }
    rc = aerial ? tg_model_embed_aerial(c->ctx, model, ph.img, emb)
                : tg_model_embed_ground(c->ctx, model, ph.img, emb);
    if (rc) {
        tgsql_error_tg(ctx, fn, c, rc);
        goto done;
    }
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1) { /* BLOBs are little-endian float32 */
        for (int i = 0; i < dim; i++) {
            uint32_t u;
            memcpy(&u, &emb[i], 4);
            u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
            memcpy(&emb[i], &u, 4);
        }
    }
    sqlite3_result_blob(ctx, emb, dim * (int)sizeof *emb, free);
    emb = NULL;
done:
    free(emb);
    tgsql_photo_free(&ph);
}

static void fn_embed_ground(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    embed(ctx, argc, argv, 0);
}

static void fn_embed_aerial(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    embed(ctx, argc, argv, 1);
}

/* ---- geometry ----------------------------------------------------------- */

/* A SpatiaLite POINT blob (EPSG:4326) made with libspatialite's gaia API. */
static void result_point(sqlite3_context *ctx, double lon, double lat)
{
    gaiaGeomCollPtr g = gaiaAllocGeomColl();
    if (!g) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    g->Srid = 4326;
    g->DeclaredType = GAIA_POINT;
    gaiaAddPointToGeomColl(g, lon, lat);
    gaiaMbrGeometry(g);
    unsigned char *blob = NULL;
    int size = 0;
    gaiaToSpatiaLiteBlobWkb(g, &blob, &size);
    gaiaFreeGeomColl(g);
    if (!blob) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_blob(ctx, blob, size, free);
}

static void fn_photo_gps(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *fn = "tg_photo_gps";
    tgsql_conn *c = conn_of(ctx);
    (void)argc;
    tgsql_photo ph;
    int got = tgsql_photo_get(c, ctx, NULL, fn, 1, argv[0], TGSQL_PHOTO_IMAGE | TGSQL_PHOTO_NO_DECODE,
                              &ph);
    if (got) return;
    tg_photo_meta meta;
    int rc = ph.path ? tg_photo_meta_read(c->ctx, ph.path, &meta)
                     : tg_photo_meta_read_mem(c->ctx, ph.bytes, ph.n_bytes, &meta);
    if (rc) tgsql_error(ctx, fn, "argument 1: %s", tg_errmsg(c->ctx));
    else if (meta.has_gps) result_point(ctx, meta.lon_deg, meta.lat_deg);
    /* else NULL: the photo has no position */
    tgsql_photo_free(&ph);
}

/* Area centroid of a closed ring in its own coordinates (here lon/lat
 * degrees), with the signed area, so either orientation works (the usual
 * shoelace formula: P. Bourke, "Calculating the area and centroid of a
 * polygon", 1988). libspatialite's gaiaRingCentroid gave wrong results for
 * our counter-clockwise footprints. A degenerate ring (zero area) gives the
 * mean of its vertices. */
static void ring_centroid(gaiaRingPtr ring, double *cx, double *cy)
{
    int n = ring->Points;
    int dims = ring->DimensionModel == GAIA_XY_Z_M ? 4
               : ring->DimensionModel == GAIA_XY   ? 2
                                                   : 3; /* XY, then Z and/or M */
    const double *c = ring->Coords;
    double a2 = 0, sx = 0, sy = 0, mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        double x0 = c[i * dims], y0 = c[i * dims + 1], x1 = c[j * dims], y1 = c[j * dims + 1];
        double cross = x0 * y1 - x1 * y0;
        a2 += cross;
        sx += (x0 + x1) * cross;
        sy += (y0 + y1) * cross;
        mx += x0;
        my += y0;
    }
    if (fabs(a2) > 1e-300) {
        *cx = sx / (3 * a2);
        *cy = sy / (3 * a2);
    } else {
        *cx = mx / n;
        *cy = my / n;
    }
}

/* The point a geometry stands for in tg_distance_m: a POINT itself, or the
 * centroid of a POLYGON's exterior ring (planar, in degrees: for tile-sized
 * polygons it differs from the geodesic centroid by far less than a metre).
 * Returns 0 or -1 with the error set. */
static int geom_point(sqlite3_context *ctx, sqlite3_value *v, int argno, double *lon, double *lat)
{
    const char *fn = "tg_distance_m";
    int t = sqlite3_value_type(v);
    if (t != SQLITE_BLOB) {
        tgsql_error(ctx, fn, "argument %d: BLOB (SpatiaLite geometry) expected, got %s", argno,
                    tgsql_type_name(t));
        return -1;
    }
    int n = sqlite3_value_bytes(v);
    const void *b = sqlite3_value_blob(v);
    gaiaGeomCollPtr g = n > 0 && tg_store_geom_check(b, (size_t)n, NULL, NULL) == TG_OK
                            ? gaiaFromSpatiaLiteBlobWkb(b, (unsigned)n)
                            : NULL;
    if (!g) {
        tgsql_error(ctx, fn,
                    "argument %d: not a SpatiaLite geometry BLOB (make one with MakePoint(lon, "
                    "lat, 4326) or GeomFromText(wkt, 4326))",
                    argno);
        return -1;
    }
    int n_pts = 0, n_lines = 0, n_polys = 0;
    for (gaiaPointPtr p = g->FirstPoint; p; p = p->Next) n_pts++;
    for (gaiaLinestringPtr l = g->FirstLinestring; l; l = l->Next) n_lines++;
    for (gaiaPolygonPtr p = g->FirstPolygon; p; p = p->Next) n_polys++;
    int rc = 0;
    if (g->Srid != 4326) {
        tgsql_error(ctx, fn,
                    "argument %d: geometry has SRID %d, expected 4326 (WGS 84 lon/lat): use "
                    "ST_Transform(geom, 4326)",
                    argno, g->Srid);
        rc = -1;
    } else if (n_pts == 1 && !n_lines && !n_polys) {
        *lon = g->FirstPoint->X;
        *lat = g->FirstPoint->Y;
    } else if (n_polys == 1 && !n_pts && !n_lines) {
        ring_centroid(g->FirstPolygon->Exterior, lon, lat);
    } else {
        tgsql_error(ctx, fn,
                    "argument %d: a POINT or a POLYGON expected, got a geometry of %d point(s), "
                    "%d line(s) and %d polygon(s) (use ST_Centroid(geom))",
                    argno, n_pts, n_lines, n_polys);
        rc = -1;
    }
    gaiaFreeGeomColl(g);
    return rc;
}

static void fn_distance_m(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    tgsql_conn *c = conn_of(ctx);
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return;
    double lon1, lat1, lon2, lat2, d;
    if (geom_point(ctx, argv[0], 1, &lon1, &lat1) || geom_point(ctx, argv[1], 2, &lon2, &lat2))
        return;
    int rc = tg_geo_distance_m(c->ctx, lon1, lat1, lon2, lat2, &d);
    if (rc) tgsql_error_tg(ctx, "tg_distance_m", c, rc);
    else sqlite3_result_double(ctx, d);
}

/* ---- tg_locate ---------------------------------------------------------- */

static void fn_locate(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *fn = "tg_locate";
    tgsql_conn *c = conn_of(ctx);
    const char *model_name;
    if (model_arg(ctx, fn, argc, argv, 1, &model_name)) return;
    /* the camera's field of view when the photo's metadata has none (degrees,
     * NULL: none) and the headings searched when unknown (NULL: 0, auto);
     * the values are checked by the locator */
    double fov_deg = NAN;
    int heading_search = 0, t;
    if (argc > 2 && (t = sqlite3_value_type(argv[2])) != SQLITE_NULL) {
        if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
            tgsql_error(ctx, fn, "argument 3 (fov_deg): a number of degrees or NULL expected, "
                                 "got %s", tgsql_type_name(t));
            return;
        }
        fov_deg = sqlite3_value_double(argv[2]);
    }
    if (argc > 3 && (t = sqlite3_value_type(argv[3])) != SQLITE_NULL) {
        sqlite3_int64 n = sqlite3_value_int64(argv[3]);
        if (t != SQLITE_INTEGER || n < 0 || n > 360) {
            tgsql_error(ctx, fn, "argument 4 (heading_search): INTEGER 0..360 or NULL expected "
                                 "(0: from the field of view, 1: no search, N: N headings)");
            return;
        }
        heading_search = (int)n;
    }
    tgsql_photo ph;
    int got = tgsql_photo_get(c, ctx, NULL, fn, 1, argv[0],
                              TGSQL_PHOTO_IMAGE | TGSQL_PHOTO_EMBEDDING, &ph);
    if (got) return;
    tg_store *st = tgsql_store(c, ctx, fn);
    tg_locator *loc = NULL;
    tg_locate_answer ans = {0};
    char *wkt = NULL, *text = NULL;
    json_t *o = NULL;
    int rc;
    if (!st) goto done;
    tg_locate_opts opts;
    tg_locate_opts_default(&opts);
    opts.model = model_name;
    opts.k = 1;
    opts.fov_deg = fov_deg;
    opts.heading_search = heading_search;
    if (argc > 4 && sqlite3_value_type(argv[4]) != SQLITE_NULL) {
        char msg[200];
        if (sqlite3_value_type(argv[4]) != SQLITE_TEXT) {
            tgsql_error(ctx, fn, "argument 5 (prior): TEXT ('gps' or 'gps=RADIUS_M') or NULL "
                                 "expected, got %s", tgsql_type_name(sqlite3_value_type(argv[4])));
            goto done;
        }
        if (tgsql_parse_prior((const char *)sqlite3_value_text(argv[4]), &opts, msg, sizeof msg)) {
            tgsql_error(ctx, fn, "argument 5: %s", msg);
            goto done;
        }
    }
    tg_locate_input in = {.image = ph.img, .path = ph.path, .bytes = ph.emb ? NULL : ph.bytes,
                          .n_bytes = ph.n_bytes, .embedding = ph.emb, .embedding_dim = ph.emb_dim};
    if ((rc = tg_locator_open(c->ctx, st, &opts, &loc)) ||
        (rc = tg_locator_run(loc, c->ctx, &in, &ans)) ||
        (rc = tg_locator_tile_wkt(loc, c->ctx, ans.matches[0].tile_id, &wkt)))
        goto fail;
    const tg_match *best = &ans.matches[0];
    o = json_object();
    json_object_set_new(o, "tile_id", json_integer(best->tile_id));
    json_object_set_new(o, "lon", json_real(ans.lon));
    json_object_set_new(o, "lat", json_real(ans.lat));
    json_object_set_new(o, "tile_lon", json_real(best->lon));
    json_object_set_new(o, "tile_lat", json_real(best->lat));
    json_object_set_new(o, "footprint_wkt", json_string(wkt));
    json_object_set_new(o, "score", json_real(best->score));
    json_object_set_new(o, "error_m", json_real(ans.error_m));
    json_object_set_new(o, "prior", json_string(tg_prior_name(ans.prior)));
    if (ans.gps_outside) json_object_set_new(o, "gps_outside", json_true());
    json_object_set_new(o, "refined", json_string(ans.refined == TG_REFINED_RASTER   ? "raster"
                                                  : ans.refined == TG_REFINED_STORED ? "stored"
                                                                                     : ""));
    if (ans.refine_note[0]) json_object_set_new(o, "refine_note", json_string(ans.refine_note));
    json_object_set_new(o, "refine_tiles", json_integer(ans.n_refine_tiles));
    if (ans.has_meta && ans.meta.has_gps) /* a photo (not an embedding) with its own GPS */
        json_object_set_new(o, "gps_error_m", json_real(ans.gps_error_m));
    if (ans.has_camera) { /* a photo: its heading and camera (locate.h) */
        json_object_set_new(o, "heading_deg", isfinite(ans.heading_deg)
                                                  ? json_real(ans.heading_deg) : json_null());
        json_object_set_new(o, "heading_source",
                            json_string(tg_heading_source_name(ans.heading_source)));
        json_object_set_new(o, "n_headings", json_integer(ans.n_headings));
        json_object_set_new(o, "fov_deg", json_real(ans.camera.hfov_deg));
        json_object_set_new(o, "camera_source",
                            json_string(tg_camera_source_name(ans.camera.source)));
        if (ans.camera.note[0]) /* what was skipped: a 35 mm focal length of 0, ... */
            json_object_set_new(o, "camera_note", json_string(ans.camera.note));
    }
    json_object_set_new(o, "model", json_string(tg_locator_model(loc)->name));
    text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(12));
    if (!text) {
        sqlite3_result_error_nomem(ctx);
        goto done;
    }
    sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
    goto done;
fail:
    tgsql_error_tg(ctx, fn, c, rc);
done:
    free(text);
    json_decref(o);
    free(wkt);
    tg_locate_answer_clear(&ans);
    tg_locator_free(loc);
    tgsql_photo_free(&ph);
}

/* ---- registration ------------------------------------------------------- */

int tgsql_register_functions(sqlite3 *db, tgsql_conn *c)
{
    static const struct {
        const char *name;
        int n_arg;
        int flags;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {
#define PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)
#define DIRECT (SQLITE_UTF8 | SQLITE_DIRECTONLY)
        {"tg_version", 0, PURE, fn_version},
        {"tg_distance_m", 2, PURE, fn_distance_m},
        {"tg_set", 2, DIRECT, fn_set},
        {"tg_host_files", 1, DIRECT, fn_host_files},
        {"tg_model_register", 2, DIRECT, fn_model_register},
        {"tg_index_raster", 1, DIRECT, fn_index_raster},
        {"tg_index_raster", 2, DIRECT, fn_index_raster},
        {"tg_index_raster", 3, DIRECT, fn_index_raster},
        {"tg_index_raster", 4, DIRECT, fn_index_raster},
        {"tg_embed_ground", 1, DIRECT, fn_embed_ground},
        {"tg_embed_ground", 2, DIRECT, fn_embed_ground},
        {"tg_embed_aerial", 1, DIRECT, fn_embed_aerial},
        {"tg_embed_aerial", 2, DIRECT, fn_embed_aerial},
        {"tg_photo_gps", 1, DIRECT, fn_photo_gps},
        {"tg_locate", 1, DIRECT, fn_locate},
        {"tg_locate", 2, DIRECT, fn_locate},
        {"tg_locate", 3, DIRECT, fn_locate},
        {"tg_locate", 4, DIRECT, fn_locate},
        {"tg_locate", 5, DIRECT, fn_locate},
#undef PURE
#undef DIRECT
    };
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof fns / sizeof *fns; i++) {
        c->refs++; /* released by the destructor, also when registration fails */
        rc = sqlite3_create_function_v2(db, fns[i].name, fns[i].n_arg, fns[i].flags, c, fns[i].fn,
                                        NULL, NULL, tgsql_conn_unref);
    }
    return rc;
}
