/* index.c - the raster indexer: raster -> tiles (tilecache) -> embeddings
 * (the aerial encoder) -> the store, in batches, resumable after a kill
 * (tg_store_index_raster, see include/transgeo/store.h "indexing"). Built on
 * the store's primitives (src/store/store_int.h). */
#include "config.h"
#include "../store/store_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transgeo/geo.h"
#include "transgeo/tilecache.h"
#include "transgeo/transgeo_model.h"

/* ---- indexing ----------------------------------------------------------- */

void tg_store_index_opts_default(tg_store_index_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_nodata_share = 0.5;
    o->batch_tiles = 64;
    o->embed_group = 1;
}

/* One embedded tile waiting for its batch to be written (store_int.h). */
typedef tgst_pending pending_tile;

/* Tiles embedded together: consecutive tiles of one grid row with the same
 * col / embed_group (a fixed group, whatever a previous run stored), so a
 * tile is always embedded in the same batch and a resumed run stores the
 * same bits as an uninterrupted one. rgb is our copy (the tiler's buffer
 * lives for one callback). */
typedef struct group_tile {
    tg_tile t;
    unsigned char *rgb;
    size_t rgb_cap;
    int present;              /* already in the database: embedded for the batch only */
} group_tile;

typedef struct index_run {
    tg_ctx *ctx;
    tg_store *st;
    const tg_model *model;
    const tg_store_index_opts *opts;
    int out_dim;
    int64_t raster_id, model_id;
    int n_cols, n_rows;
    unsigned char *present;   /* bit per grid tile: already in the database */
    pending_tile *pending;
    int n_pending;
    sqlite3_stmt *insert;
    long long n_added, n_present;
    char crs[64];             /* "EPSG:n" or "" (then crs_wkt) */
    const char *crs_wkt;
    double grid_done, grid_total;
    int group_n;              /* embed_group */
    group_tile *group;        /* group_n slots */
    int n_group;              /* tiles in the current group */
    int group_row, group_key; /* its grid row and col / group_n */
    float *group_emb;         /* group_n x out_dim */
    long long piece_added;    /* PostgreSQL: tiles inserted in the open piece */
    int row_min;              /* tiles of rows above it are warm-up, not kept (index_pg) */
} index_run;

static int present_get(const index_run *r, int col, int row)
{
    size_t i = (size_t)row * (size_t)r->n_cols + (size_t)col;
    return (r->present[i >> 3] >> (i & 7)) & 1;
}

static void present_set(index_run *r, int col, int row)
{
    size_t i = (size_t)row * (size_t)r->n_cols + (size_t)col;
    r->present[i >> 3] |= (unsigned char)(1u << (i & 7));
}

static void pending_clear(index_run *r)
{
    for (int i = 0; i < r->n_pending; i++) {
        free(r->pending[i].geom);
        r->pending[i].geom = NULL;
    }
    r->n_pending = 0;
}

/* Write the pending tiles in one transaction (PostgreSQL: into the open
 * transaction of the claimed piece, committed with it: index_pg). */
static int flush_pending(index_run *r)
{
    if (r->n_pending == 0) return TG_OK;
    if (r->st->pg) {
        long long added = 0;
        int rc = tgpg_insert_tiles(r->ctx, r->st, r->raster_id, r->model_id,
                                   r->crs[0] ? r->crs : r->crs_wkt, r->out_dim, r->pending,
                                   r->n_pending, &added);
        if (rc) return rc;
        r->piece_added += added;
        pending_clear(r);
        return TG_OK;
    }
    sqlite3 *db = r->st->db;
    txn t;
    int rc = tgst_txn_begin(r->ctx, db, &t, "tg_index_batch");
    if (rc) return rc;
    long long added = 0;
    for (int i = 0; i < r->n_pending; i++) {
        pending_tile *p = &r->pending[i];
        sqlite3_stmt *s = r->insert;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, r->raster_id);
        sqlite3_bind_int64(s, 2, r->model_id);
        sqlite3_bind_int(s, 3, p->col);
        sqlite3_bind_int(s, 4, p->row);
        sqlite3_bind_double(s, 5, p->lon);
        sqlite3_bind_double(s, 6, p->lat);
        for (int j = 0; j < 4; j++) sqlite3_bind_int(s, 7 + j, p->win[j]);
        sqlite3_bind_text(s, 11, r->crs[0] ? r->crs : r->crs_wkt, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 12, p->emb, (int)(r->out_dim * sizeof(float)), SQLITE_STATIC);
        sqlite3_bind_blob(s, 13, p->geom, p->geom_size, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            rc = tgst_fail(r->ctx, db, "inserting tiles");
            sqlite3_reset(s);
            tgst_txn_rollback(db, &t);
            return rc;
        }
        added += sqlite3_changes(db);
    }
    sqlite3_reset(r->insert);
    rc = tgst_txn_commit(r->ctx, db, &t);
    if (rc) {
        tgst_txn_rollback(db, &t);
        return rc;
    }
    for (int i = 0; i < r->n_pending; i++) present_set(r, r->pending[i].col, r->pending[i].row);
    r->n_added += added;
    r->n_present += r->n_pending - added; /* inserted meanwhile by another connection */
    pending_clear(r);
    if (r->opts->progress) {
        char msg[96];
        snprintf(msg, sizeof msg, "%lld tiles added", r->n_added);
        if (!r->opts->progress(r->grid_done, r->grid_total, msg, r->opts->progress_user))
            return tg_set_error(r->ctx, TG_ECANCEL, "indexing cancelled");
    }
    return TG_OK;
}



/* Queue an embedded tile for the next write batch. */
static int add_pending(index_run *r, const tg_tile *tile, const float *emb)
{
    pending_tile *p = &r->pending[r->n_pending];
    memcpy(p->emb, emb, sizeof(float) * (size_t)r->out_dim);
    if (!tgst_little_endian()) tgst_swap_floats(p->emb, r->out_dim);
    memcpy(p->corners, tile->corners_lonlat, sizeof p->corners);
    if (!r->st->pg && tgst_footprint_blob(tile->corners_lonlat, &p->geom, &p->geom_size))
        return tg_set_error(r->ctx, TG_ENOMEM, "tile footprint: out of memory");
    p->col = tile->col;
    p->row = tile->row;
    p->lon = tile->center_lon;
    p->lat = tile->center_lat;
    p->win[0] = tile->src_xoff;
    p->win[1] = tile->src_yoff;
    p->win[2] = tile->src_xsize;
    p->win[3] = tile->src_ysize;
    if (!r->crs[0] && !r->crs_wkt) {
        if (tile->work_epsg > 0) snprintf(r->crs, sizeof r->crs, "EPSG:%d", tile->work_epsg);
        else r->crs_wkt = tile->work_wkt;
    }
    r->n_pending++;
    if (r->n_pending >= r->opts->batch_tiles) return flush_pending(r);
    return 0;
}

/* Embed the current group in one encoder call (unless all of it is stored
 * already) and queue its missing tiles. */
static int flush_group(index_run *r)
{
    int n = r->n_group, missing = 0, rc = 0;
    r->n_group = 0;
    for (int i = 0; i < n; i++) missing += !r->group[i].present;
    r->n_present += n - missing;
    if (missing == 0) return 0;
    tg_image *imgs[TG_INDEX_EMBED_GROUP_MAX] = {0};
    for (int i = 0; i < n && !rc; i++)
        rc = tg_image_from_rgb8(r->ctx, r->group[i].rgb, r->group[i].t.width, r->group[i].t.height,
                                &imgs[i]);
    if (!rc) rc = tg_model_embed_aerial_batch(r->ctx, r->model, (const tg_image *const *)imgs, n,
                                              r->group_emb);
    for (int i = 0; i < n; i++) tg_image_free(imgs[i]);
    if (rc) {
        tg_append_error(r->ctx, "(tiles col %d-%d row %d)", r->group[0].t.col,
                        r->group[n - 1].t.col, r->group_row);
        return rc;
    }
    for (int i = 0; i < n && !rc; i++)
        if (!r->group[i].present)
            rc = add_pending(r, &r->group[i].t, r->group_emb + (size_t)i * (size_t)r->out_dim);
    return rc;
}

static void group_free(index_run *r)
{
    for (int i = 0; r->group && i < r->group_n; i++) free(r->group[i].rgb);
    free(r->group);
    free(r->group_emb);
    r->group = NULL;
    r->group_emb = NULL;
}

static int on_tile(const tg_tile *tile, void *user)
{
    index_run *r = user;
    if (tile->row < r->row_min) return 0;
    if (tile->col < 0 || tile->row < 0 || tile->col >= r->n_cols || tile->row >= r->n_rows)
        return tg_set_error(r->ctx, TG_EINTERNAL, "tile (%d, %d) outside the %d x %d grid",
                            tile->col, tile->row, r->n_cols, r->n_rows);
    int key = tile->col / r->group_n, rc;
    if (r->n_group > 0 && (tile->row != r->group_row || key != r->group_key ||
                           r->n_group == r->group_n)) {
        if ((rc = flush_group(r))) return rc;
    }
    group_tile *g = &r->group[r->n_group];
    size_t bytes = (size_t)tile->width * (size_t)tile->height * 3;
    if (g->rgb_cap < bytes) {
        unsigned char *p = realloc(g->rgb, bytes);
        if (!p) return tg_set_error(r->ctx, TG_ENOMEM, "tile pixels: out of memory");
        g->rgb = p;
        g->rgb_cap = bytes;
    }
    memcpy(g->rgb, tile->rgb, bytes);
    g->t = *tile;
    g->t.rgb = g->rgb;
    g->t.alpha = NULL; /* not kept */
    g->present = present_get(r, tile->col, tile->row);
    r->group_row = tile->row;
    r->group_key = key;
    r->n_group++;
    return 0;
}

static int on_strip(double done, double total, const char *msg, void *user)
{
    index_run *r = user;
    r->grid_done = done;
    r->grid_total = total;
    if (r->opts->progress) return r->opts->progress(done, total, msg, r->opts->progress_user);
    return 1;
}

static void fill_crs(index_run *r, const tg_tiler_info *inf)
{
    if (inf->work_epsg > 0) snprintf(r->crs, sizeof r->crs, "EPSG:%d", inf->work_epsg);
    else r->crs_wkt = inf->work_wkt;
}

static void present_cb(void *user, int col, int row)
{
    index_run *r = user;
    if (col >= 0 && row >= 0 && col < r->n_cols && row < r->n_rows) present_set(r, col, row);
}

/* Tile rows per piece of the job table: about PIECE_TILES grid tiles, but
 * at least PIECES_MIN pieces when the raster has the rows, and at least one
 * row. Small enough that workers share even a small raster and a killed
 * worker loses little; large enough that claiming a piece and warming the
 * tiler up for it (index_pg: two extra tile rows warped at half-tile
 * stride) cost little next to embedding its tiles. */
enum { PIECE_TILES = 256, PIECES_MIN = 4 };

static int warm_rows(const tg_tiler_info *inf)
{
    return (inf->tile_px + inf->stride_px - 1) / inf->stride_px;
}

static int rows_per_piece(const tg_tiler_info *inf)
{
    int rows = (PIECE_TILES + inf->n_cols - 1) / inf->n_cols;
    if (rows < 2 * warm_rows(inf)) rows = 2 * warm_rows(inf); /* warm-up <= half the warps */
    int cap = inf->n_rows / PIECES_MIN;
    if (rows > cap) rows = cap;
    return rows < 1 ? 1 : rows;
}

/* The PostgreSQL pipeline after the raster row exists: claim pieces until
 * every piece is done (schema_pg.sql, "Parallel indexing"). Each piece is
 * one transaction: claimed, its rows tiled and embedded, its tiles inserted
 * and the piece marked done, committed together. */
static int index_pg(index_run *r, tg_tiler *tiler)
{
    tg_ctx *ctx = r->ctx;
    int wait = 0, rc = TG_OK;
    double grid_total = (double)r->n_cols * r->n_rows;
    for (;;) {
        int b = 0, e = 0;
        long long n_left = 0;
        int got = tgpg_claim(ctx, r->st, r->raster_id, wait, &b, &e, &n_left);
        if (got < 0) return got;
        if (!got) {
            if (n_left == 0) break; /* every piece done */
            wait = 1;               /* the rest is held by other workers: wait for them */
            continue;
        }
        wait = 0;
        r->piece_added = 0;
        rc = tgpg_present(ctx, r->st, r->raster_id, b, e, present_cb, r);
        /* The tiler reuses the rows a tile row shares with the previous one
         * (tilecache.h, "Streaming"): a strip's pixels depend on the warps of
         * the ceil(tile_px / stride_px) rows before it. Warping those rows
         * first (their tiles are not kept) gives every tile the bits of one
         * uninterrupted run, whichever worker cuts it. */
        int warm = warm_rows(tg_tiler_get_info(tiler));
        r->row_min = b;
        if (!rc) rc = tg_tiles_run_rows(ctx, tiler, b > warm ? b - warm : 0, e, on_tile, r, NULL, NULL);
        if (!rc) rc = flush_group(r);
        if (!rc) rc = flush_pending(r);
        if (!rc) rc = tgpg_piece_done(ctx, r->st, r->raster_id, b, r->piece_added);
        if (rc) {
            tgpg_rollback(r->st); /* the piece goes back to the table */
            pending_clear(r);
            r->n_group = 0;
            return rc;
        }
        r->n_added += r->piece_added;
        if (r->opts->progress) {
            char msg[96];
            snprintf(msg, sizeof msg, "%lld tiles added (rows %d-%d)", r->n_added, b, e - 1);
            double done = (double)e * r->n_cols;
            if (!r->opts->progress(done, grid_total, msg, r->opts->progress_user))
                return tg_set_error(ctx, TG_ECANCEL, "indexing cancelled");
        }
    }
    return tgpg_raster_complete(ctx, r->st, r->raster_id);
}

int tg_store_index_raster(tg_ctx *ctx, tg_store *st, const char *path,
                          const tg_store_index_opts *opts_in, tg_store_index_result *res)
{
    tg_store_index_opts opts;
    if (opts_in) opts = *opts_in;
    else tg_store_index_opts_default(&opts);
    if (res) memset(res, 0, sizeof *res);
    if (!st || !path || !*path) return tg_set_error(ctx, TG_EINVAL, "tg_store_index_raster: no raster path");
    if (opts.batch_tiles < 1) opts.batch_tiles = 64;
    if (opts.embed_group < 1) opts.embed_group = 1;
    if (opts.embed_group > TG_INDEX_EMBED_GROUP_MAX) opts.embed_group = TG_INDEX_EMBED_GROUP_MAX;
    if (!(opts.tile_m >= 0) || !(opts.stride_m >= 0) || !(opts.gsd_m >= 0))
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': tile_m, stride_m and gsd_m must be positive (or 0 for the "
                            "model's values)",
                            path);
    sqlite3 *db = st->db;
    index_run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.st = st;
    r.opts = &opts;
    tg_tiler *tiler = NULL;
    sqlite3_stmt *s = NULL;
    char sha[65];
    int rc = st->pg ? tgpg_check_writable(ctx, st, "index a raster")
                    : tgst_check_writable(ctx, db, "index a raster");
    if (rc) return rc;
    if (st->pg && st->pg->ex.in_transaction)
        /* Each piece commits on its own (kill -9 loses one piece at most):
         * inside the caller's transaction that cannot be. */
        return tg_set_error(ctx, TG_EINVAL,
                            "PostgreSQL server '%s': indexing commits piece by piece and cannot "
                            "run inside a transaction (SPI): run transgeo index --db URI instead",
                            st->pg->label);
    rc = tg_store_ensure_schema(ctx, st);
    if (rc) return rc;
    tg_store_model m;
    rc = tg_store_model_find(ctx, st, opts.model, &m);
    if (rc) return rc;
    rc = tg_store_model_get(ctx, st, &m, &r.model);
    if (rc) return rc;
    r.model_id = m.id;
    /* Buffers are sized from the model that embeds (it writes out_dim
     * floats); tg_store_model_get has checked it against the registry. */
    r.out_dim = tg_model_config_get(r.model)->out_dim;
    if (m.out_dim > 0 && m.out_dim != r.out_dim) return tgst_model_row_mismatch(ctx, st, &m, r.model);
    /* Tiles of this model already stored must have its size: embeddings of
     * two sizes never mix (tg_store_tileset would refuse them all). */
    {
        long long have = -1;
        if (st->pg) {
            rc = tgpg_embedding_bytes(ctx, st, m.id, &have);
            if (rc) return rc;
        } else {
            rc = tgst_prepare(ctx, db, "SELECT length(embedding) FROM tg_tiles WHERE model_id = ?1 LIMIT 1", &s);
            if (rc) return rc;
            sqlite3_bind_int64(s, 1, m.id);
            int step = sqlite3_step(s);
            have = step == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
            sqlite3_finalize(s);
            s = NULL;
            if (step != SQLITE_ROW && step != SQLITE_DONE) return tgst_fail(ctx, db, "reading the tiles");
        }
        if (have >= 0 && have != (long long)r.out_dim * (long long)sizeof(float))
            return tg_set_error(ctx, TG_EMODEL,
                                "model '%s' makes %d-float embeddings but its tiles in '%s' have "
                                "%lld bytes (%lld floats): they were made with another "
                                "configuration; register this file under another name and index "
                                "with it",
                                m.name, r.out_dim, tg_store_label(st), have, have / 4);
    }

    tg_tile_options to = tg_tile_options_default();
    to.tile_m = opts.tile_m > 0 ? opts.tile_m : m.tile_m;
    /* A tile size without a gsd keeps the model's pixels per tile (the gsd
     * scales with the tile): the encoder sees the same input either way. */
    to.gsd_m = opts.gsd_m > 0    ? opts.gsd_m
               : opts.tile_m > 0 && m.tile_m > 0 ? opts.tile_m * m.gsd_m / m.tile_m
                                                 : m.gsd_m;
    to.stride_m = opts.stride_m > 0 ? opts.stride_m : to.tile_m / 2;
    to.max_nodata_share = opts.max_nodata_share;
    if (!(to.tile_m > 0) || !(to.gsd_m > 0))
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s' does not say its aerial tile size and gsd: give tile_m and "
                            "gsd_m",
                            m.name);
    rc = tg_tiles_open(ctx, path, &to, &tiler);
    if (rc) return rc;
    const tg_tiler_info *inf = tg_tiler_get_info(tiler);
    if (res) {
        res->tile_m = inf->tile_m;
        res->stride_m = inf->stride_m;
        res->gsd_m = inf->gsd_m;
    }
    rc = tg_store_file_sha256(ctx, path, sha);
    if (rc) goto fail;
    fill_crs(&r, inf);

    /* Everything that can fail for want of memory comes before the raster
     * row is written: a refused raster leaves the database as it was. The
     * grid is bounded by tilecache (at most TG_TILES_MAX_GRID tiles: 12.5 MB
     * of bitmap). */
    r.n_cols = inf->n_cols;
    r.n_rows = inf->n_rows;
    size_t n_grid = (size_t)inf->n_cols * (size_t)inf->n_rows;
    r.present = calloc(n_grid / 8 + 1, 1);
    r.pending = calloc((size_t)opts.batch_tiles, sizeof *r.pending);
    float *emb_store = calloc((size_t)opts.batch_tiles * (size_t)r.out_dim, sizeof(float));
    if (r.pending) r.pending[0].emb = emb_store; /* freed through r.pending[0] */
    if (!r.present || !r.pending || !emb_store) {
        if (!r.pending) free(emb_store);
        rc = tg_set_error(ctx, TG_ENOMEM,
                          "raster '%s': out of memory for a %d x %d grid of tiles (%zu KiB) and a "
                          "batch of %d embeddings: index with a larger tile_m or a smaller batch",
                          path, inf->n_cols, inf->n_rows, n_grid / 8 / 1024 + 1, opts.batch_tiles);
        goto fail;
    }
    for (int i = 0; i < opts.batch_tiles; i++) r.pending[i].emb = emb_store + (size_t)i * r.out_dim;
    r.group_n = opts.embed_group;
    r.group = calloc((size_t)r.group_n, sizeof *r.group);
    r.group_emb = calloc((size_t)r.group_n * (size_t)r.out_dim, sizeof(float));
    if (!r.group || !r.group_emb) {
        rc = tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory for a group of %d tiles",
                          path, r.group_n);
        goto fail;
    }

    if (st->pg) {
        /* The raster row and its pieces, then the pieces (index_pg). */
        int complete = 0;
        double gsd = inf->gsd_m;
        long long n_tiles = 0;
        rc = tgpg_raster_row(ctx, st, path, sha, r.crs[0] ? r.crs : r.crs_wkt, inf->tile_m,
                             inf->stride_m, inf->gsd_m, m.id, inf->n_cols, inf->n_rows,
                             rows_per_piece(inf), &r.raster_id, &complete,
                             &gsd, &n_tiles);
        if (rc) goto fail;
        if (fabs(gsd - inf->gsd_m) > 1e-9 * gsd) {
            rc = tg_set_error(ctx, TG_EINVAL,
                              "raster '%s' is already indexed with model '%s' at %g m per "
                              "pixel, not %g: use the same gsd_m, or another tile size",
                              path, m.name, gsd, inf->gsd_m);
            goto fail;
        }
        if (!complete) rc = index_pg(&r, tiler);
        goto fail; /* the common exit fills res */
    }
    /* The raster row: find it, or insert it in its own short transaction. */
    for (int attempt = 0; attempt < 2 && !r.raster_id; attempt++) {
        rc = tgst_prepare(ctx, db,
                     "SELECT id, complete, gsd_m, n_tiles FROM tg_rasters WHERE sha256 = ?1 AND "
                     "model_id = ?2 AND tile_m = ?3 AND stride_m = ?4",
                     &s);
        if (rc) goto fail;
        sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, m.id);
        sqlite3_bind_double(s, 3, inf->tile_m);
        sqlite3_bind_double(s, 4, inf->stride_m);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            r.raster_id = sqlite3_column_int64(s, 0);
            int complete = sqlite3_column_int(s, 1);
            double gsd = sqlite3_column_double(s, 2);
            long long n_tiles = sqlite3_column_int64(s, 3);
            sqlite3_finalize(s);
            s = NULL;
            if (fabs(gsd - inf->gsd_m) > 1e-9 * gsd) {
                rc = tg_set_error(ctx, TG_EINVAL,
                                  "raster '%s' is already indexed with model '%s' at %g m per "
                                  "pixel, not %g: use the same gsd_m, or another tile size",
                                  path, m.name, gsd, inf->gsd_m);
                goto fail;
            }
            if (complete) { /* nothing to do, nothing read */
                if (res) {
                    res->raster_id = r.raster_id;
                    res->n_tiles = res->n_present = n_tiles;
                    res->complete = 1;
                }
                free(r.pending[0].emb);
                free(r.pending);
                free(r.present);
                group_free(&r);
                tg_tiler_free(tiler);
                return TG_OK;
            }
            break;
        }
        sqlite3_finalize(s);
        s = NULL;
        if (step != SQLITE_DONE) {
            rc = tgst_fail(ctx, db, "looking up the raster");
            goto fail;
        }
        txn t;
        rc = tgst_txn_begin(ctx, db, &t, "tg_raster");
        if (rc) goto fail;
        rc = tgst_prepare(ctx, db,
                     "INSERT OR IGNORE INTO tg_rasters (path, sha256, crs, tile_m, stride_m, gsd_m, "
                     "model_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     &s);
        if (!rc) {
            sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, sha, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, r.crs[0] ? r.crs : r.crs_wkt, -1, SQLITE_STATIC);
            sqlite3_bind_double(s, 4, inf->tile_m);
            sqlite3_bind_double(s, 5, inf->stride_m);
            sqlite3_bind_double(s, 6, inf->gsd_m);
            sqlite3_bind_int64(s, 7, m.id);
            if (sqlite3_step(s) != SQLITE_DONE) rc = tgst_fail(ctx, db, "adding the raster");
            sqlite3_finalize(s);
            s = NULL;
        }
        if (!rc) rc = tgst_txn_commit(ctx, db, &t);
        if (rc) {
            tgst_txn_rollback(db, &t);
            goto fail;
        }
        /* loop: read back its id (also when another connection inserted it) */
    }
    if (!r.raster_id) {
        rc = tg_set_error(ctx, TG_EINTERNAL, "raster '%s': row not found after insertion", path);
        goto fail;
    }

    /* Tiles already there (an interrupted run, or tiles deleted since): a
     * bitmap over the grid (r.present, made above). The run visits every row
     * again (warping is cheap next to the encoder) and embeds only the tiles
     * missing from it. */
    rc = tgst_prepare(ctx, db, "SELECT col, row FROM tg_tiles WHERE raster_id = ?1", &s);
    if (rc) goto fail;
    sqlite3_bind_int64(s, 1, r.raster_id);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int c = sqlite3_column_int(s, 0), w = sqlite3_column_int(s, 1);
        if (c < 0 || w < 0 || c >= r.n_cols || w >= r.n_rows) continue;
        present_set(&r, c, w);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (step != SQLITE_DONE) {
        rc = tgst_fail(ctx, db, "reading the tiles already indexed");
        goto fail;
    }
    rc = tgst_prepare(ctx, db,
                 "INSERT OR IGNORE INTO tg_tiles (raster_id, model_id, col, row, center_lon, "
                 "center_lat, win_x, win_y, win_w, win_h, crs, embedding, geom) VALUES "
                 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                 &r.insert);
    if (rc) goto fail;
    r.grid_total = (double)n_grid;
    rc = tg_tiles_run(ctx, tiler, on_tile, &r, on_strip, &r);
    if (rc == TG_OK) rc = flush_group(&r); /* the last group */
    if (rc == TG_OK || rc == TG_ECANCEL) {
        /* What was embedded is good: keep it (also when cancelled). */
        int rc2 = flush_pending(&r);
        if (rc == TG_OK) rc = rc2;
    }
    if (rc) goto fail;

    /* Every tile is in: mark the raster complete. */
    {
        txn t;
        rc = tgst_txn_begin(ctx, db, &t, "tg_raster_done");
        if (rc) goto fail;
        rc = tgst_prepare(ctx, db,
                     "UPDATE tg_rasters SET complete = 1, n_tiles = (SELECT count(*) FROM tg_tiles "
                     "WHERE raster_id = ?1), indexed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
                     "WHERE id = ?1",
                     &s);
        if (!rc) {
            sqlite3_bind_int64(s, 1, r.raster_id);
            if (sqlite3_step(s) != SQLITE_DONE) rc = tgst_fail(ctx, db, "marking the raster complete");
            sqlite3_finalize(s);
            s = NULL;
        }
        if (!rc) rc = tgst_txn_commit(ctx, db, &t);
        if (rc) {
            tgst_txn_rollback(db, &t);
            goto fail;
        }
    }
fail:
    if (res) {
        res->raster_id = r.raster_id;
        res->n_added = r.n_added;
        res->n_present = r.n_present;
        res->complete = rc == TG_OK;
        if (r.raster_id && st->pg) {
            long long cnt = 0;
            if (tgpg_raster_count(NULL, st, r.raster_id, &cnt) == TG_OK) res->n_tiles = cnt;
            res->n_present = res->n_tiles - r.n_added;
        } else if (r.raster_id) {
            sqlite3_stmt *c = NULL;
            if (sqlite3_prepare_v2(db, "SELECT count(*) FROM tg_tiles WHERE raster_id = ?1", -1, &c,
                                   NULL) == SQLITE_OK) {
                sqlite3_bind_int64(c, 1, r.raster_id);
                if (sqlite3_step(c) == SQLITE_ROW) res->n_tiles = sqlite3_column_int64(c, 0);
            }
            sqlite3_finalize(c);
            res->n_present = res->n_tiles - r.n_added;
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(r.insert);
    if (r.pending) {
        pending_clear(&r);
        free(r.pending[0].emb);
    }
    free(r.pending);
    free(r.present);
    group_free(&r);
    tg_tiler_free(tiler);
    return rc;
}
