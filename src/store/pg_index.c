/* pg_index.c - the PostgreSQL steps of indexing a raster (driven by
 * src/index/index.c): the raster row and its pieces (tg_jobs), claiming a
 * piece with FOR UPDATE SKIP LOCKED, inserting its tiles and marking it done
 * in the same transaction. Why pieces of whole tile rows: the tiler warps a
 * strip of rows at a time (tg_tiles_run_rows), and a row is the unit a
 * killed worker loses (schema_pg.sql, "Parallel indexing"). */
#define _GNU_SOURCE 1 /* gethostname */
#include "config.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tgpg_embedding_bytes(tg_ctx *ctx, tg_store *st, int64_t model_id, long long *bytes)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(model_id)};
    int rc = tgpg_run(ctx, st, "SELECT length(embedding) FROM tg_tiles WHERE model_id = $1 LIMIT 1",
                      1, p, &r);
    if (rc) return rc;
    *bytes = tgpg_n(st, r) > 0 ? tgpg_i(st, r, 0, 0) : -1;
    tgpg_free(st, r);
    return TG_OK;
}

static int raster_find(tg_ctx *ctx, tg_store *st, const char *sha, int64_t model_id,
                       double tile_m, double stride_m, int64_t *id, int *complete,
                       double *gsd, long long *n_tiles)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[4] = {PG_T(sha), PG_I(model_id), PG_D(tile_m), PG_D(stride_m)};
    int rc = tgpg_run(ctx, st,
                      "SELECT id, complete, gsd_m, coalesce(n_tiles, 0) FROM tg_rasters WHERE "
                      "sha256 = $1 AND model_id = $2 AND tile_m = $3 AND stride_m = $4",
                      4, p, &r);
    if (rc) return rc;
    *id = 0;
    if (tgpg_n(st, r) == 1) {
        *id = tgpg_i(st, r, 0, 0);
        *complete = (int)tgpg_i(st, r, 0, 1);
        *gsd = tgpg_d(st, r, 0, 2);
        *n_tiles = tgpg_i(st, r, 0, 3);
    }
    tgpg_free(st, r);
    return TG_OK;
}

int tgpg_raster_row(tg_ctx *ctx, tg_store *st, const char *path, const char *sha,
                    const char *crs, double tile_m, double stride_m, double gsd_m,
                    int64_t model_id, int n_cols, int n_rows, int rows_per_piece, int64_t *id,
                    int *complete, double *gsd_out, long long *n_tiles)
{
    *complete = 0;
    *n_tiles = 0;
    *gsd_out = gsd_m;
    int rc = raster_find(ctx, st, sha, model_id, tile_m, stride_m, id, complete, gsd_out, n_tiles);
    if (rc || *id) return rc;
    /* Insert the raster and its pieces together: whoever sees the raster
     * sees its pieces. Two workers starting at once: ON CONFLICT leaves one
     * row, and the loser reads it back. */
    rc = tgpg_begin(ctx, st, NULL);
    if (rc) return rc;
    tg_pg_rows *r = NULL;
    tg_pg_value p[9] = {PG_T(path), PG_T(sha), PG_T(crs), PG_D(tile_m), PG_D(stride_m),
                        PG_D(gsd_m), PG_I(model_id), PG_I(n_cols), PG_I(n_rows)};
    rc = tgpg_run(ctx, st,
                  "INSERT INTO tg_rasters (path, sha256, crs, tile_m, stride_m, gsd_m, model_id, "
                  "n_cols, n_rows) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                  "ON CONFLICT (sha256, model_id, tile_m, stride_m) DO NOTHING RETURNING id",
                  9, p, &r);
    if (!rc && tgpg_n(st, r) == 1) {
        int64_t new_id = tgpg_i(st, r, 0, 0);
        tg_pg_value q[3] = {PG_I(new_id), PG_I(n_rows), PG_I(rows_per_piece)};
        rc = tgpg_run(ctx, st,
                      "INSERT INTO tg_jobs (raster_id, row_begin, row_end) SELECT $1, b, "
                      "least(b + $3, $2) FROM generate_series(0, $2 - 1, $3) AS b",
                      3, q, NULL);
    }
    tgpg_free(st, r);
    if (!rc) rc = tgpg_commit(ctx, st);
    if (rc) {
        tgpg_rollback(st);
        return rc;
    }
    rc = raster_find(ctx, st, sha, model_id, tile_m, stride_m, id, complete, gsd_out, n_tiles);
    if (!rc && !*id)
        rc = tg_set_error(ctx, TG_EINTERNAL, "raster '%s': row not found after insertion", path);
    return rc;
}

int tgpg_claim(tg_ctx *ctx, tg_store *st, int64_t raster_id, int wait, int *row_begin,
               int *row_end, long long *n_left)
{
    *n_left = 0;
    int rc = tgpg_begin(ctx, st, NULL);
    if (rc) return rc;
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(raster_id)};
    /* wait = 1: the first piece not done, waiting for its holder: when the
     * holder commits, the row no longer qualifies (done) and none is
     * returned; when the holder dies, its lock goes and the piece is ours. */
    rc = tgpg_run(ctx, st,
                  wait ? "SELECT row_begin, row_end FROM tg_jobs WHERE raster_id = $1 AND NOT done "
                         "ORDER BY row_begin LIMIT 1 FOR UPDATE"
                       : "SELECT row_begin, row_end FROM tg_jobs WHERE raster_id = $1 AND NOT done "
                         "ORDER BY row_begin LIMIT 1 FOR UPDATE SKIP LOCKED",
                  1, p, &r);
    if (rc) {
        tgpg_rollback(st);
        return rc;
    }
    if (tgpg_n(st, r) == 1) {
        *row_begin = (int)tgpg_i(st, r, 0, 0);
        *row_end = (int)tgpg_i(st, r, 0, 1);
        tgpg_free(st, r);
        *n_left = 1;
        return 1;
    }
    tgpg_free(st, r);
    tgpg_rollback(st);
    rc = tgpg_run(ctx, st, "SELECT count(*) FROM tg_jobs WHERE raster_id = $1 AND NOT done", 1, p, &r);
    if (rc) return rc;
    *n_left = tgpg_i(st, r, 0, 0);
    tgpg_free(st, r);
    return 0;
}

int tgpg_present(tg_ctx *ctx, tg_store *st, int64_t raster_id, int row_begin, int row_end,
                 void (*set)(void *user, int col, int row), void *user)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[3] = {PG_I(raster_id), PG_I(row_begin), PG_I(row_end)};
    int rc = tgpg_run(ctx, st,
                      "SELECT col, \"row\" FROM tg_tiles WHERE raster_id = $1 AND \"row\" >= $2 "
                      "AND \"row\" < $3",
                      3, p, &r);
    if (rc) return rc;
    for (long i = 0; i < tgpg_n(st, r); i++)
        set(user, (int)tgpg_i(st, r, i, 0), (int)tgpg_i(st, r, i, 1));
    tgpg_free(st, r);
    return TG_OK;
}

/* WKB (little-endian) of the footprint polygon: ring UL, LL, LR, UR, UL, the
 * order of the SpatiaLite footprint (geomblob.c). 93 bytes. */
static void footprint_wkb(const double c[4][2], unsigned char out[93])
{
    static const int order[5] = {0, 3, 2, 1, 0};
    uint32_t head[3] = {3, 1, 5}; /* POLYGON, 1 ring, 5 points */
    out[0] = 1;
    size_t off = 1;
    for (int i = 0; i < 3; i++) {
        for (int b = 0; b < 4; b++) out[off++] = (unsigned char)(head[i] >> (8 * b));
    }
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            uint64_t u;
            memcpy(&u, &c[order[i]][k], 8);
            for (int b = 0; b < 8; b++) out[off++] = (unsigned char)(u >> (8 * b));
        }
}

/* Tiles per INSERT statement: one round trip for a batch (13 parameters a
 * tile; PostgreSQL takes up to 65535). */
enum { INSERT_ROWS = 64, TILE_PARAMS = 13 };

int tgpg_insert_tiles(tg_ctx *ctx, tg_store *st, int64_t raster_id, int64_t model_id,
                      const char *crs, int out_dim, const tgst_pending *t, int n,
                      long long *added)
{
    *added = 0;
    static const char head[] =
        "INSERT INTO tg_tiles (raster_id, model_id, col, \"row\", center_lon, center_lat, win_x, "
        "win_y, win_w, win_h, crs, embedding, geom) VALUES ";
    static const char tail[] = " ON CONFLICT DO NOTHING RETURNING 1";
    enum { ROW_SQL = 160 }; /* one "($1, ..., ST_GeomFromWKB($13, 4326))," is < 160 bytes */
    char *sql = malloc(sizeof head + sizeof tail + (size_t)INSERT_ROWS * ROW_SQL);
    tg_pg_value *p = malloc((size_t)INSERT_ROWS * TILE_PARAMS * sizeof *p);
    unsigned char(*wkb)[93] = malloc((size_t)INSERT_ROWS * sizeof *wkb);
    int rc = TG_OK;
    if (!sql || !p || !wkb) {
        rc = tg_set_error(ctx, TG_ENOMEM, "inserting tiles: out of memory");
        goto done;
    }
    for (int at = 0; at < n; at += INSERT_ROWS) {
        int m = n - at < INSERT_ROWS ? n - at : INSERT_ROWS;
        size_t len = 0;
        memcpy(sql, head, sizeof head - 1);
        len = sizeof head - 1;
        for (int i = 0; i < m; i++) {
            const tgst_pending *x = &t[at + i];
            int b = i * TILE_PARAMS;
            footprint_wkb(x->corners, wkb[i]);
            tg_pg_value v[TILE_PARAMS] = {
                PG_I(raster_id), PG_I(model_id), PG_I(x->col), PG_I(x->row), PG_D(x->lon),
                PG_D(x->lat), PG_I(x->win[0]), PG_I(x->win[1]), PG_I(x->win[2]), PG_I(x->win[3]),
                PG_T(crs), PG_B(x->emb, (size_t)out_dim * sizeof(float)), PG_B(wkb[i], 93)};
            memcpy(p + b, v, sizeof v);
            len += (size_t)snprintf(sql + len, ROW_SQL,
                                    "%s($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,"
                                    "ST_GeomFromWKB($%d,4326))",
                                    i ? "," : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7,
                                    b + 8, b + 9, b + 10, b + 11, b + 12, b + 13);
        }
        memcpy(sql + len, tail, sizeof tail);
        tg_pg_rows *r = NULL;
        rc = tgpg_run(ctx, st, sql, m * TILE_PARAMS, p, &r);
        if (rc) break;
        *added += tgpg_n(st, r);
        tgpg_free(st, r);
    }
done:
    free(sql);
    free(p);
    free(wkb);
    return rc;
}

int tgpg_piece_done(tg_ctx *ctx, tg_store *st, int64_t raster_id, int row_begin,
                    long long n_added)
{
    char worker[300], host[256] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(worker, sizeof worker, "%s:%ld", host, (long)getpid());
    tg_pg_value p[4] = {PG_I(raster_id), PG_I(row_begin), PG_T(worker), PG_I(n_added)};
    int rc = tgpg_run(ctx, st,
                      "UPDATE tg_jobs SET done = true, worker = $3, n_added = $4, finished_at = "
                      "now() WHERE raster_id = $1 AND row_begin = $2",
                      4, p, NULL);
    if (!rc) rc = tgpg_commit(ctx, st);
    if (rc) tgpg_rollback(st);
    return rc;
}

int tgpg_raster_complete(tg_ctx *ctx, tg_store *st, int64_t raster_id)
{
    tg_pg_value p[1] = {PG_I(raster_id)};
    return tgpg_run(ctx, st,
                    "UPDATE tg_rasters SET complete = 1, n_tiles = (SELECT count(*) FROM tg_tiles "
                    "WHERE raster_id = $1), indexed_at = coalesce(indexed_at, now()) WHERE id = $1 "
                    "AND complete = 0",
                    1, p, NULL);
}

int tgpg_raster_count(tg_ctx *ctx, tg_store *st, int64_t raster_id, long long *n)
{
    tg_pg_rows *r = NULL;
    tg_pg_value p[1] = {PG_I(raster_id)};
    int rc = tgpg_run(ctx, st, "SELECT count(*) FROM tg_tiles WHERE raster_id = $1", 1, p, &r);
    if (rc) return rc;
    *n = tgpg_i(st, r, 0, 0);
    tgpg_free(st, r);
    return TG_OK;
}
