/* pg_query.c - the read side of the store on PostgreSQL: a model's tiles in
 * memory (tg_store_tileset), the spatial prior (tg_store_candidates), the
 * rasters, footprints and extent. Same answers as the SQLite files
 * (tileset.c, prior.c, rasters.c, db.c), from the tables of schema_pg.sql. */
#include "config.h"
#include "store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per SELECT when loading tiles: memory stays bounded (one page of
 * embeddings in the result) whatever the tileset's size. */
enum { LOAD_PAGE = 16384 };

/* The columns every tile query below selects, in this order. */
#define TILE_COLUMNS                                                                           \
    "SELECT t.id, t.center_lon, t.center_lat, t.raster_id, r.stride_m, t.embedding "          \
    "FROM tg_tiles t JOIN tg_rasters r ON r.id = t.raster_id "

/* Append the rows of r (TILE_COLUMNS, ascending ids above the tileset's)
 * to ts. [out] *n_added, *last_id (unchanged when r is empty). */
static int append_rows(tg_ctx *ctx, tg_store *st, tg_tileset *ts, tg_pg_rows *r,
                       long long *n_added, int64_t *last_id)
{
    long n = tgpg_n(st, r);
    float *tmp = tgst_little_endian() ? NULL : malloc((size_t)ts->dim * sizeof(float));
    int rc = tgst_tileset_grow(ctx, ts, tg_index_count(ts->ix) + (size_t)n);
    for (long i = 0; !rc && i < n; i++) {
        int64_t id = tgpg_i(st, r, i, 0);
        size_t nb = 0;
        const void *emb = tgpg_b(st, r, i, 5, &nb);
        rc = tgst_tileset_append(ctx, ts, id, tgpg_d(st, r, i, 1), tgpg_d(st, r, i, 2),
                                 tgpg_i(st, r, i, 3), tgpg_d(st, r, i, 4), emb, nb, tmp);
        if (rc) break;
        (*n_added)++;
        *last_id = id;
    }
    free(tmp);
    return rc;
}

/* Append the model's tiles with id > after_id, ascending. [out] *n_loaded. */
static int load_after(tg_ctx *ctx, tg_store *st, tg_tileset *ts, int64_t after_id,
                      long long *n_loaded)
{
    *n_loaded = 0;
    int rc = TG_OK;
    for (;;) {
        tg_pg_rows *r = NULL;
        tg_pg_value p[3] = {PG_I(ts->model_id), PG_I(after_id), PG_I(LOAD_PAGE)};
        rc = tgpg_run(ctx, st, TILE_COLUMNS "WHERE t.model_id = $1 AND t.id > $2 ORDER BY t.id LIMIT $3",
                      3, p, &r);
        if (rc) break;
        long n = tgpg_n(st, r);
        rc = append_rows(ctx, st, ts, r, n_loaded, &after_id);
        tgpg_free(st, r);
        if (rc || n < LOAD_PAGE) break;
    }
    return rc;
}

int tgpg_codec_get(tg_ctx *ctx, tg_store *st, const char *key, int *codec)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_T(key)};
    int rc = tgpg_run(ctx, st, "SELECT value FROM tg_meta WHERE key = $1", 1, p, &r);
    if (rc) return rc;
    *codec = TG_CODEC_F32;
    if (tgpg_n(st, r) > 0) {
        const char *v = tgpg_s(st, r, 0, 0);
        int c = tg_codec_parse(v);
        if (c < 0)
            rc = tg_set_error(ctx, TG_EDB,
                              "database '%s': tg_meta '%s' = '%s' is not a codec (f32, f16 or "
                              "int8): set it again with transgeo index --codec",
                              st->pg->label, key, v ? v : "NULL");
        else
            *codec = c;
    }
    tgpg_free(st, r);
    return rc;
}

int tgpg_codec_set(tg_ctx *ctx, tg_store *st, const char *key, int codec)
{
    int rc = tgpg_check_writable(ctx, st, "store the model's codec");
    if (rc) return rc;
    tg_pg_value p[2] = {PG_T(key), PG_T(tg_codec_name(codec))};
    return tgpg_run(ctx, st,
                    "INSERT INTO tg_meta (key, value) VALUES ($1, $2) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    2, p, NULL);
}

/* The codec the tileset is searched with: the context's (tg_ctx_set_codec),
 * else the model's stored one. On PostgreSQL there is no matrix file: the
 * compact copy is built in memory from the float32 rows (tg_index_set_codec;
 * rows loaded later are encoded as they are added). */
static int apply_codec(tg_ctx *ctx, tg_store *st, const tg_store_model *m, tg_tileset *ts)
{
    int codec = tg_ctx_codec(ctx);
    if (codec < 0) {
        int rc = tg_store_model_codec(ctx, st, m, &codec);
        if (rc) return rc;
    }
    ts->codec = codec;
    if (tg_index_codec(ts->ix) == codec) return TG_OK;
    return tg_index_set_codec(ctx, ts->ix, codec);
}

int tgpg_tileset(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                 const tg_tileset **out)
{
    tg_tileset *ts = NULL;
    int rc = tgst_tileset_slot(ctx, st, m, dim, &ts);
    if (rc) return rc;
    /* One snapshot for the counters and the rows (REPEATABLE READ). Rows of
     * concurrent writers commit out of id order, so the count decides
     * whether loading the ids above ours was enough (schema_pg.sql). */
    rc = tgpg_begin(ctx, st, "ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc) return rc;
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(m->id)};
    rc = tgpg_run(ctx, st,
                  "SELECT (SELECT count(*) FROM tg_models WHERE id = $1), "
                  "(SELECT value::bigint FROM tg_meta WHERE key = 'tiles_removed'), "
                  "(SELECT count(*) FROM tg_tiles WHERE model_id = $1)",
                  1, p, &r);
    if (rc) goto done;
    int exists = tgpg_i(st, r, 0, 0) > 0;
    long long n_removed = tgpg_i(st, r, 0, 1), n_tiles = tgpg_i(st, r, 0, 2);
    tgpg_free(st, r);
    if (!exists) {
        rc = tg_set_error(ctx, TG_ENOTFOUND, "model '%s' is no longer registered", m->name);
        goto done;
    }
    if (n_removed == ts->seen_removed && n_tiles == ts->seen_inserted) goto done; /* up to date */
    long long loaded = 0;
    if (ts->seen_inserted >= 0 && n_removed == ts->seen_removed && n_tiles > ts->seen_inserted) {
        rc = load_after(ctx, st, ts, tg_index_max_id(ts->ix), &loaded);
        if (rc) goto reset;
        if (loaded == n_tiles - ts->seen_inserted) {
            ts->seen_inserted = n_tiles;
            goto done;
        }
        /* rows committed below the largest id: reload everything */
    }
    tg_index_clear(ts->ix);
    rc = load_after(ctx, st, ts, INT64_MIN, &loaded);
    if (rc) goto reset;
    ts->seen_inserted = n_tiles; /* tiles without a raster row are not loaded */
    ts->seen_removed = n_removed;
    goto done;
reset:
    tg_index_clear(ts->ix);
    ts->seen_inserted = ts->seen_removed = -1;
done:
    if (!rc) rc = apply_codec(ctx, st, m, ts);
    if (rc) tgpg_rollback(st);
    else rc = tgpg_commit(ctx, st);
    if (!rc) *out = ts;
    return rc;
}

int tgpg_candidates(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const void *wkb,
                    size_t wkb_size, const double f[6], double radius_m, int64_t **ids, size_t *n)
{
    /* The same rule as SQLite (prior.c): footprints meeting the search frame
     * (the GiST index), then the centre within radius_m of the geometry,
     * geodesic on the WGS 84 ellipsoid (geography, use_spheroid). */
    tg_pg_rows *r = NULL;
    tg_pg_value p[9] = {PG_I(m->id), PG_D(f[0]), PG_D(f[1]), PG_D(f[2]), PG_D(f[3]),
                        PG_D(f[4]), PG_D(f[5]), PG_B(wkb, wkb_size), PG_D(radius_m)};
    int rc = tgpg_run(ctx, st,
                      "SELECT t.id FROM tg_tiles t WHERE t.model_id = $1 AND "
                      "(t.geom && ST_MakeEnvelope($2, $4, $3, $5, 4326) OR "
                      "($6 <= $7 AND t.geom && ST_MakeEnvelope($6, $4, $7, $5, 4326))) AND "
                      "ST_DWithin(ST_SetSRID(ST_MakePoint(t.center_lon, t.center_lat), "
                      "4326)::geography, ST_GeomFromWKB($8, 4326)::geography, $9, true) "
                      "ORDER BY t.id",
                      9, p, &r);
    if (rc) return rc;
    long cnt = tgpg_n(st, r);
    int64_t *out = cnt > 0 ? malloc((size_t)cnt * sizeof *out) : NULL;
    if (cnt > 0 && !out) {
        tgpg_free(st, r);
        return tg_set_error(ctx, TG_ENOMEM, "prior: out of memory");
    }
    for (long i = 0; i < cnt; i++) out[i] = tgpg_i(st, r, i, 0);
    tgpg_free(st, r);
    *ids = out;
    *n = (size_t)cnt;
    return TG_OK;
}

static void copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

int tgpg_rasters(tg_ctx *ctx, tg_store *st, const tg_store_model *m, tg_store_raster **out,
                 size_t *n)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(m->id)};
    int rc = tgpg_run(ctx, st,
                      "SELECT id, path, sha256, crs, tile_m, stride_m, gsd_m FROM tg_rasters "
                      "WHERE model_id = $1 ORDER BY id",
                      1, p, &r);
    if (rc) return rc;
    long cnt = tgpg_n(st, r);
    tg_store_raster *arr = cnt > 0 ? calloc((size_t)cnt, sizeof *arr) : NULL;
    if (cnt > 0 && !arr) {
        tgpg_free(st, r);
        return tg_set_error(ctx, TG_ENOMEM, "rasters: out of memory");
    }
    for (long i = 0; i < cnt; i++) {
        tg_store_raster *x = &arr[i];
        x->id = tgpg_i(st, r, i, 0);
        copy(x->path, sizeof x->path, tgpg_s(st, r, i, 1));
        copy(x->sha256, sizeof x->sha256, tgpg_s(st, r, i, 2));
        copy(x->crs, sizeof x->crs, tgpg_s(st, r, i, 3));
        x->tile_m = tgpg_d(st, r, i, 4);
        x->stride_m = tgpg_d(st, r, i, 5);
        x->gsd_m = tgpg_d(st, r, i, 6);
        x->status = TG_RASTER_UNCHECKED;
    }
    tgpg_free(st, r);
    *out = arr;
    *n = (size_t)cnt;
    return TG_OK;
}

int tgpg_raster_list(tg_ctx *ctx, tg_store *st, tg_store_raster **list, size_t *n)
{
    int has = tgpg_has_schema(ctx, st);
    if (has <= 0) return has;
    tg_pg_rows *r = NULL;
    int rc = tgpg_run(ctx, st,
                      "SELECT r.id, r.path, r.crs, m.name, r.tile_m, r.stride_m, r.gsd_m, "
                      "r.complete, (SELECT count(*) FROM tg_tiles t WHERE t.raster_id = r.id) "
                      "FROM tg_rasters r LEFT JOIN tg_models m ON m.id = r.model_id ORDER BY r.id",
                      0, NULL, &r);
    if (rc) return rc;
    long cnt = tgpg_n(st, r);
    tg_store_raster *arr = cnt > 0 ? calloc((size_t)cnt, sizeof *arr) : NULL;
    if (cnt > 0 && !arr) {
        tgpg_free(st, r);
        return tg_set_error(ctx, TG_ENOMEM, "listing rasters: out of memory");
    }
    for (long i = 0; i < cnt; i++) {
        tg_store_raster *x = &arr[i];
        x->id = tgpg_i(st, r, i, 0);
        copy(x->path, sizeof x->path, tgpg_s(st, r, i, 1));
        copy(x->crs, sizeof x->crs, tgpg_s(st, r, i, 2));
        copy(x->model, sizeof x->model, tgpg_s(st, r, i, 3));
        x->tile_m = tgpg_d(st, r, i, 4);
        x->stride_m = tgpg_d(st, r, i, 5);
        x->gsd_m = tgpg_d(st, r, i, 6);
        x->complete = (int)tgpg_i(st, r, i, 7);
        x->n_tiles = tgpg_i(st, r, i, 8);
    }
    tgpg_free(st, r);
    *list = arr;
    *n = (size_t)cnt;
    return TG_OK;
}

int tgpg_extent(tg_ctx *ctx, tg_store *st, long long *n_tiles, double *min_lon, double *min_lat,
                double *max_lon, double *max_lat)
{
    tg_pg_rows *r = NULL;
    int rc = tgpg_run(ctx, st,
                      "SELECT count(*), min(center_lon), min(center_lat), max(center_lon), "
                      "max(center_lat) FROM tg_tiles",
                      0, NULL, &r);
    if (rc) return rc;
    if (n_tiles) *n_tiles = tgpg_i(st, r, 0, 0);
    if (min_lon) *min_lon = tgpg_d(st, r, 0, 1);
    if (min_lat) *min_lat = tgpg_d(st, r, 0, 2);
    if (max_lon) *max_lon = tgpg_d(st, r, 0, 3);
    if (max_lat) *max_lat = tgpg_d(st, r, 0, 4);
    tgpg_free(st, r);
    return TG_OK;
}

int tgpg_tile_wkt(tg_ctx *ctx, tg_store *st, int64_t tile_id, char **wkt)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(tile_id)};
    /* 6 decimals (0.1 m), as SpatiaLite's AsText gives them on SQLite. */
    int rc = tgpg_run(ctx, st, "SELECT ST_AsText(geom, 6) FROM tg_tiles WHERE id = $1", 1, p, &r);
    if (rc) return rc;
    if (tgpg_n(st, r) < 1) {
        rc = tg_set_error(ctx, TG_ENOTFOUND, "tile %lld not found", (long long)tile_id);
    } else {
        const char *t = tgpg_s(st, r, 0, 0);
        *wkt = strdup(t ? t : "");
        if (!*wkt) rc = tg_set_error(ctx, TG_ENOMEM, "out of memory");
    }
    tgpg_free(st, r);
    return rc;
}

int tgpg_tile_geom(tg_ctx *ctx, tg_store *st, int64_t tile_id, void **blob, int *size)
{
    /* The footprint's four corners (ring order UL, LL, LR, UR as stored:
     * pg_index.c), made into the SpatiaLite BLOB store.h promises. */
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(tile_id)};
    int rc = tgpg_run(ctx, st,
                      "SELECT ST_X(ST_PointN(ST_ExteriorRing(geom), i)), "
                      "ST_Y(ST_PointN(ST_ExteriorRing(geom), i)) FROM tg_tiles, "
                      "generate_series(1, 4) AS i WHERE id = $1 AND ST_NPoints(geom) = 5 ORDER BY i",
                      1, p, &r);
    if (rc) return rc;
    if (tgpg_n(st, r) != 4) {
        tgpg_free(st, r);
        return tg_set_error(ctx, TG_ENOTFOUND, "tile %lld has no footprint", (long long)tile_id);
    }
    static const int corner[4] = {0, 3, 2, 1}; /* ring point i -> corner UL, UR, LR, LL */
    double c[4][2];
    for (int i = 0; i < 4; i++) {
        c[corner[i]][0] = tgpg_d(st, r, i, 0);
        c[corner[i]][1] = tgpg_d(st, r, i, 1);
    }
    tgpg_free(st, r);
    unsigned char *b = NULL;
    if (tgst_footprint_blob(c, &b, size)) return tg_set_error(ctx, TG_ENOMEM, "out of memory");
    *blob = b;
    return TG_OK;
}

int tgpg_tile_covers(tg_ctx *ctx, tg_store *st, int64_t tile_id, double lon, double lat, int *hit)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[3] = {PG_I(tile_id), PG_D(lon), PG_D(lat)};
    int rc = tgpg_run(ctx, st,
                      "SELECT ST_Covers(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)) FROM "
                      "tg_tiles WHERE id = $1",
                      3, p, &r);
    if (rc) return rc;
    if (tgpg_n(st, r) != 1)
        rc = tg_set_error(ctx, TG_EDB, "hit test on tile %lld failed: no such tile in '%s'",
                          (long long)tile_id, st->pg->label);
    else
        *hit = tgpg_i(st, r, 0, 0) == 1;
    tgpg_free(st, r);
    return rc;
}

/* ---- counting tiles on shards ---------------------------------------------- */

char *tgpg_count_expr(tg_ctx *ctx, tg_store *st, const char *cond)
{
    /* count(*) over the partitioned table runs on this server, which fetches
     * a row per tile from every shard (a million rows for a million tiles);
     * over one foreign table postgres_fdw sends the count itself. So: the
     * sum of one count per leaf partition. */
    tg_pg_rows *r = NULL;
    if (tgpg_run(ctx, st,
                 "SELECT format('%s', p.relid::regclass) FROM pg_partition_tree('tg_tiles'::regclass) p "
                 "WHERE p.isleaf ORDER BY 1",
                 0, NULL, &r))
        return NULL;
    long n = tgpg_n(st, r);
    size_t cap = 64, len = 0;
    for (long i = 0; i < n; i++) cap += strlen(tgpg_s(st, r, i, 0)) + strlen(cond) + 64;
    char *e = malloc(cap);
    if (!e) {
        tgpg_free(st, r);
        tg_set_error(ctx, TG_ENOMEM, "PostgreSQL: out of memory");
        return NULL;
    }
    len += (size_t)snprintf(e + len, cap - len, "(0");
    for (long i = 0; i < n; i++)
        len += (size_t)snprintf(e + len, cap - len, " + (SELECT count(*) FROM ONLY %s t WHERE %s)",
                                tgpg_s(st, r, i, 0), cond);
    snprintf(e + len, cap - len, ")");
    tgpg_free(st, r);
    return e;
}

/* ---- ranking on the server (store.h) ----------------------------------------- */

int tgpg_server_ranking(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                        tg_store_ranking *out)
{
    /* Foreign leaves of tg_tiles are shards (postgres_fdw); the transgeo
     * extension's tg__topk_sql writes the per-partition top-k statement. The
     * tile count is the registry row's (tgpg_model_find counted it, one
     * count per partition): counting again would scan every shard. */
    tg_pg_rows *r = NULL;
    int rc = tgpg_run(ctx, st,
                      "SELECT (SELECT count(*) FROM pg_partition_tree('tg_tiles'::regclass) p "
                      "        JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf AND c.relkind = 'f'), "
                      "to_regprocedure('tg__topk_sql(integer, boolean, boolean)') IS NOT NULL",
                      0, NULL, &r);
    if (rc) return rc;
    out->n_shards = (int)tgpg_i(st, r, 0, 0);
    out->available = tgpg_i(st, r, 0, 1) != 0;
    out->n_tiles = m->n_tiles;
    tgpg_free(st, r);
    return TG_OK;
}

int tgpg_top_hits(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const float *q, int n_q,
                  int dim, int k, tg_hit *hits, int *n_hits)
{
    tg_pg_rows *r = NULL;
    tg_pg_value pk[1] = {PG_I(k)};
    int rc = tgpg_run(ctx, st, "SELECT tg__topk_sql(($1)::integer, false, false)", 1, pk, &r);
    if (rc && strstr(tg_errmsg(ctx), "tg__topk_sql") && strstr(tg_errmsg(ctx), "does not exist"))
        return tg_set_error(ctx, TG_EDB,
                            "PostgreSQL server '%s' has no transgeo extension: ranking on the "
                            "server needs it (CREATE EXTENSION transgeo; transgeo-pg(7)); or "
                            "rank in this process (transgeo locate --ranking local)",
                            st->pg->label);
    if (rc) return rc;
    const char *t = tgpg_s(st, r, 0, 0);
    char *sql = t ? strdup(t) : NULL;
    tgpg_free(st, r);
    if (!t)
        return tg_set_error(ctx, TG_ENOTFOUND, "database '%s': tg_tiles has no partition to rank",
                            st->pg->label);
    if (!sql) return tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    size_t bytes = (size_t)dim * sizeof(float);
    float *tmp = malloc(bytes);
    if (!tmp) rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    for (int qi = 0; !rc && qi < n_q; qi++) {
        /* tg_score reads little-endian float32, as the tiles are stored */
        memcpy(tmp, q + (size_t)qi * dim, bytes);
        if (!tgst_little_endian()) tgst_swap_floats(tmp, dim);
        tg_pg_value p[3] = {PG_B(tmp, bytes), PG_I(m->id), PG_I(k)};
        rc = tgpg_run(ctx, st, sql, 3, p, &r); /* rows: id, s, ...; best first */
        if (rc) break;
        long n = tgpg_n(st, r);
        if (n > k) n = k;
        for (long i = 0; i < n; i++) {
            hits[(size_t)qi * k + i].id = tgpg_i(st, r, i, 0);
            hits[(size_t)qi * k + i].score = tgpg_null(st, r, i, 1) ? NAN : (float)tgpg_d(st, r, i, 1);
        }
        n_hits[qi] = (int)n;
        tgpg_free(st, r);
    }
    free(tmp);
    free(sql);
    return rc;
}

int tgpg_tileset_ids(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                     const int64_t *ids, size_t n, tg_tileset **out)
{
    tg_tileset *ts = NULL;
    int rc = tgst_tileset_new(ctx, m->id, dim, &ts);
    if (rc) return rc;
    /* The ids go into the statement as an array constant ('{1,2}'::bigint[]),
     * made here from integers: postgres_fdw sends a constant to the shards
     * with the query, where a text parameter cast to bigint[] would stay on
     * the coordinator and have each shard send all its tiles. */
    static const char head[] = TILE_COLUMNS "WHERE t.model_id = $1 AND t.id = ANY ('{";
    static const char tail[] = "}'::bigint[]) ORDER BY t.id";
    size_t page = 4096;
    char *sql = malloc(sizeof head + page * 21 + sizeof tail);
    if (!sql) rc = tg_set_error(ctx, TG_ENOMEM, "locate: out of memory");
    int64_t last = INT64_MIN;
    long long added = 0;
    for (size_t o = 0; !rc && o < n; o += page) {
        size_t e = o + page < n ? o + page : n, len = sizeof head - 1;
        memcpy(sql, head, len);
        for (size_t i = o; i < e; i++)
            len += (size_t)snprintf(sql + len, 22, i > o ? ",%lld" : "%lld", (long long)ids[i]);
        memcpy(sql + len, tail, sizeof tail);
        tg_pg_rows *r = NULL;
        tg_pg_value p[1] = {PG_I(m->id)};
        rc = tgpg_run(ctx, st, sql, 1, p, &r);
        if (rc) break;
        rc = append_rows(ctx, st, ts, r, &added, &last);
        tgpg_free(st, r);
    }
    free(sql);
    if (rc) {
        tgst_tileset_free(ts);
        return rc;
    }
    *out = ts;
    return TG_OK;
}
