/* tileset.c - the tiles of one model in memory (tg_tileset: embeddings,
 * centres, strides), refreshed incrementally, and matching a query against
 * them with the error radius of each match (see store.h). */
#include "config.h"
#include "matrix.h"
#include "store_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transgeo/geo.h"

/* Free the index and the per-row arrays (or the matrix they point into). */
static void tileset_release(tg_tileset *ts)
{
    tg_index_free(ts->ix); /* before the matrix it may wrap */
    ts->ix = NULL;
    if (ts->mx) {
        tgst_matrix_free(ts->mx);
        ts->mx = NULL;
    } else {
        free(ts->lon);
        free(ts->lat);
        free(ts->stride_m);
        free(ts->raster_id);
    }
    ts->lon = ts->lat = ts->stride_m = NULL;
    ts->raster_id = NULL;
    ts->cap = 0;
}

void tgst_tileset_free(tg_tileset *ts)
{
    if (!ts) return;
    tileset_release(ts);
    free(ts);
}

/* Back to an empty in-memory tileset (from a mapped one, or after an error). */
static int tileset_to_memory(tg_ctx *ctx, tg_tileset *ts)
{
    if (!ts->mx && ts->ix) {
        tg_index_clear(ts->ix);
        return TG_OK;
    }
    tileset_release(ts);
    return tg_index_create(ctx, ts->dim, &ts->ix);
}

/* ---- codecs --------------------------------------------------------------- */

/* tg_meta key of a model's codec. */
static void codec_key(const tg_store_model *m, char *key, size_t n)
{
    snprintf(key, n, "codec:%s", m->name);
}

int tg_store_model_codec(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int *codec)
{
    if (!st || !m || !codec) return tg_set_error(ctx, TG_EINVAL, "tg_store_model_codec: NULL argument");
    *codec = TG_CODEC_F32;
    char key[300];
    codec_key(m, key, sizeof key);
    if (st->pg) return tgpg_codec_get(ctx, st, key, codec); /* pg_query.c */
    sqlite3_stmt *s = NULL;
    int rc = tgst_prepare(ctx, st->db, "SELECT value FROM tg_meta WHERE key = ?1", &s);
    if (rc) return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        int c = tg_codec_parse(v);
        if (c < 0)
            rc = tg_set_error(ctx, TG_EDB,
                              "database '%s': tg_meta '%s' = '%s' is not a codec (f32, f16 or int8): "
                              "set it again with transgeo index --codec",
                              tgst_label(st->db), key, v ? v : "NULL");
        else
            *codec = c;
    } else if (step != SQLITE_DONE) {
        rc = tgst_fail(ctx, st->db, "reading the model's codec");
    }
    sqlite3_finalize(s);
    return rc;
}

int tg_store_model_set_codec(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int codec)
{
    if (!st || !m) return tg_set_error(ctx, TG_EINVAL, "tg_store_model_set_codec: NULL argument");
    if (tg_codec_parse(tg_codec_name(codec)) != codec)
        return tg_set_error(ctx, TG_EINVAL, "codec %d unknown (expected f32, f16 or int8)", codec);
    char key[300];
    codec_key(m, key, sizeof key);
    if (st->pg) return tgpg_codec_set(ctx, st, key, codec); /* pg_query.c */
    int rc = tgst_check_writable(ctx, st->db, "store the model's codec");
    if (rc) return rc;
    sqlite3_stmt *s = NULL;
    rc = tgst_prepare(ctx, st->db, "INSERT OR REPLACE INTO tg_meta (key, value) VALUES (?1, ?2)", &s);
    if (rc) return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, tg_codec_name(codec), -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) rc = tgst_fail(ctx, st->db, "storing the model's codec");
    sqlite3_finalize(s);
    return rc;
}

void tg_store_set_matrix(tg_store *st, int on)
{
    if (st) st->no_matrix = !on;
}

int tg_tileset_codec(const tg_tileset *ts) { return ts ? ts->codec : TG_CODEC_F32; }
int tg_tileset_mapped(const tg_tileset *ts) { return ts && ts->mx; }

/* ---- tilesets ----------------------------------------------------------- */

size_t tg_tileset_count(const tg_tileset *ts) { return ts ? tg_index_count(ts->ix) : 0; }
int tg_tileset_dim(const tg_tileset *ts) { return ts ? ts->dim : 0; }
const tg_index *tg_tileset_index(const tg_tileset *ts) { return ts ? ts->ix : NULL; }

int tg_tileset_tile(const tg_tileset *ts, size_t row, int64_t *id, double *lon, double *lat,
                    double *stride_m)
{
    if (!ts || row >= tg_index_count(ts->ix)) return TG_EINVAL;
    if (id) *id = tg_index_id(ts->ix, row);
    if (lon) *lon = ts->lon[row];
    if (lat) *lat = ts->lat[row];
    if (stride_m) *stride_m = ts->stride_m[row];
    return TG_OK;
}

int64_t tg_tileset_raster_id(const tg_tileset *ts, size_t row)
{
    return ts && row < tg_index_count(ts->ix) ? ts->raster_id[row] : 0;
}

int tgst_tileset_grow(tg_ctx *ctx, tg_tileset *ts, size_t n)
{
    if (n <= ts->cap) return TG_OK;
    size_t cap = ts->cap ? ts->cap : 1024;
    while (cap < n) cap += cap / 2;
    double *lon = realloc(ts->lon, cap * sizeof *lon);
    if (lon) ts->lon = lon;
    double *lat = realloc(ts->lat, cap * sizeof *lat);
    if (lat) ts->lat = lat;
    double *stride = realloc(ts->stride_m, cap * sizeof *stride);
    if (stride) ts->stride_m = stride;
    int64_t *rid = realloc(ts->raster_id, cap * sizeof *rid);
    if (rid) ts->raster_id = rid;
    if (!lon || !lat || !stride || !rid)
        return tg_set_error(ctx, TG_ENOMEM, "tiles: out of memory for %zu tiles", n);
    ts->cap = cap;
    return tg_index_reserve(ctx, ts->ix, cap);
}

int tgst_tileset_new(tg_ctx *ctx, int64_t model_id, int dim, tg_tileset **out)
{
    tg_tileset *ts = calloc(1, sizeof *ts);
    if (!ts) return tg_set_error(ctx, TG_ENOMEM, "tiles: out of memory");
    ts->model_id = model_id;
    ts->dim = dim;
    ts->seen_inserted = ts->seen_removed = -1;
    int rc = tg_index_create(ctx, dim, &ts->ix);
    if (rc) {
        free(ts);
        return rc;
    }
    *out = ts;
    return TG_OK;
}

int tgst_tileset_slot(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                      tg_tileset **out)
{
    tg_tileset *ts = st->tilesets;
    while (ts && ts->model_id != m->id) ts = ts->next;
    if (ts && ts->dim != dim) { /* the model was re-registered with another size */
        tg_tileset **p = &st->tilesets;
        while (*p != ts) p = &(*p)->next;
        *p = ts->next;
        tgst_tileset_free(ts);
        ts = NULL;
    }
    if (!ts) {
        int rc = tgst_tileset_new(ctx, m->id, dim, &ts);
        if (rc) return rc;
        ts->next = st->tilesets;
        st->tilesets = ts;
    }
    *out = ts;
    return TG_OK;
}

int tgst_tileset_append(tg_ctx *ctx, tg_tileset *ts, int64_t id, double lon, double lat,
                        int64_t raster_id, double stride_m, const void *emb, size_t nb,
                        float *tmp)
{
    size_t bytes = (size_t)ts->dim * sizeof(float);
    if (nb != bytes || !emb)
        return tg_set_error(ctx, TG_EMODEL,
                            "tile %lld: its embedding has %zu bytes, the model makes %d floats "
                            "(%zu bytes): the tile was made by another model or is damaged; "
                            "delete it and index its raster again",
                            (long long)id, nb, ts->dim, bytes);
    size_t row = tg_index_count(ts->ix);
    int rc = tgst_tileset_grow(ctx, ts, row + 1);
    if (rc) return rc;
    if (tmp) { /* stored little-endian */
        memcpy(tmp, emb, bytes);
        tgst_swap_floats(tmp, ts->dim);
        emb = tmp;
    }
    rc = tg_index_add(ctx, ts->ix, id, emb);
    if (rc) return rc;
    ts->lon[row] = lon;
    ts->lat[row] = lat;
    ts->raster_id[row] = raster_id;
    ts->stride_m[row] = stride_m;
    return TG_OK;
}

/* Load rows of the model with id > after_id (all rows: after_id = INT64_MIN).
 * [out] *n_loaded. The caller holds a read transaction. */
static int tileset_load(tg_ctx *ctx, sqlite3 *db, tg_tileset *ts, int64_t after_id,
                        long long *n_loaded)
{
    *n_loaded = 0;
    sqlite3_stmt *s = NULL;
    int rc = tgst_prepare(ctx, db,
                     "SELECT count(*) FROM tg_tiles WHERE model_id = ?1 AND id > ?2", &s);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, ts->model_id);
    sqlite3_bind_int64(s, 2, after_id);
    long long n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    rc = tgst_tileset_grow(ctx, ts, tg_index_count(ts->ix) + (size_t)n);
    if (rc) return rc;
    rc = tgst_prepare(ctx, db,
                 "SELECT t.id, t.center_lon, t.center_lat, t.raster_id, r.stride_m, t.embedding "
                 "FROM tg_tiles t JOIN tg_rasters r ON r.id = t.raster_id "
                 "WHERE t.model_id = ?1 AND t.id > ?2 ORDER BY t.id",
                 &s);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, ts->model_id);
    sqlite3_bind_int64(s, 2, after_id);
    float *tmp = tgst_little_endian() ? NULL : malloc((size_t)ts->dim * sizeof(float));
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        rc = tgst_tileset_append(ctx, ts, sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1),
                                 sqlite3_column_double(s, 2), sqlite3_column_int64(s, 3),
                                 sqlite3_column_double(s, 4), sqlite3_column_blob(s, 5),
                                 (size_t)sqlite3_column_bytes(s, 5), tmp);
        if (rc) break;
        (*n_loaded)++;
    }
    if (!rc && step != SQLITE_DONE) rc = tgst_fail(ctx, db, "reading the tiles");
    free(tmp);
    sqlite3_finalize(s);
    return rc;
}

int tg_store_tileset(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const tg_tileset **out)
{
    if (!st || !m || !out) return tg_set_error(ctx, TG_EINVAL, "tg_store_tileset: NULL argument");
    *out = NULL;
    sqlite3 *db = st->db;
    int dim = m->out_dim;
    if (dim <= 0) {
        const tg_model *model = NULL;
        int rc = tg_store_model_get(ctx, st, m, &model);
        if (rc) return rc;
        dim = tg_model_config_get(model)->out_dim;
    }
    if (st->pg) return tgpg_tileset(ctx, st, m, dim, out); /* pg_query.c */
    tg_tileset *ts = NULL;
    int rc = tgst_tileset_slot(ctx, st, m, dim, &ts);
    if (rc) return rc;
    /* One read transaction: the counters and the rows come from one snapshot. */
    int own_txn = sqlite3_get_autocommit(db) && !tgst_writer_busy(db);
    rc = own_txn ? tgst_exec(ctx, db, "SAVEPOINT tg_refresh") : TG_OK;
    if (rc) return rc;
    sqlite3_stmt *s = NULL;
    rc = tgst_prepare(ctx, db, "SELECT n_inserted, n_removed FROM tg_models WHERE id = ?1", &s);
    if (rc) goto done;
    sqlite3_bind_int64(s, 1, m->id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        rc = tg_set_error(ctx, TG_ENOTFOUND, "model '%s' is no longer registered", m->name);
        goto done;
    }
    long long n_ins = sqlite3_column_int64(s, 0), n_rem = sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    /* The model's stored codec (the matrix file's), and the one searched:
     * the context's choice when it has one (tg_ctx_set_codec). */
    int stored = TG_CODEC_F32;
    rc = tg_store_model_codec(ctx, st, m, &stored);
    if (rc) goto done;
    int codec = tg_ctx_codec(ctx) >= 0 ? tg_ctx_codec(ctx) : stored;
    if (n_ins == ts->seen_inserted && n_rem == ts->seen_removed && codec == ts->codec)
        goto done; /* up to date */
    if (!st->no_matrix) {
        tgst_matrix *mx = NULL;
        rc = tgst_matrix_load(ctx, db, m, dim, stored, n_ins, n_rem, &mx);
        if (rc) goto reset;
        if (mx) {
            tg_index *nix = NULL;
            int same = mx->codec == codec;
            rc = tg_index_wrap(ctx, dim, mx->n, mx->ids, mx->rows, codec, same ? mx->codes : NULL,
                               same ? mx->scales : NULL, &nix);
            if (rc) {
                tgst_matrix_free(mx);
                goto reset;
            }
            tileset_release(ts);
            ts->ix = nix;
            ts->mx = mx;
            /* read-only: a mapped tileset is never grown (tileset_to_memory first) */
            ts->lon = (double *)mx->lon;
            ts->lat = (double *)mx->lat;
            ts->stride_m = (double *)mx->stride_m;
            ts->raster_id = (int64_t *)mx->raster_id;
            ts->codec = codec;
            ts->seen_inserted = n_ins;
            ts->seen_removed = n_rem;
            goto done;
        }
    }
    /* In memory, as before matrix files: incrementally after inserts. */
    int incremental = !ts->mx && codec == ts->codec;
    if (ts->mx) {
        rc = tileset_to_memory(ctx, ts);
        if (rc) goto reset;
    }
    rc = tg_index_set_codec(ctx, ts->ix, codec);
    if (rc) goto reset;
    ts->codec = codec;
    long long loaded = 0;
    if (incremental && ts->seen_inserted >= 0 && n_rem == ts->seen_removed &&
        n_ins >= ts->seen_inserted) {
        rc = tileset_load(ctx, db, ts, tg_index_max_id(ts->ix), &loaded);
        if (rc) goto reset;
        if (loaded == n_ins - ts->seen_inserted) {
            ts->seen_inserted = n_ins;
            goto done;
        }
        /* rows were inserted below the largest id: reload everything */
    }
    tg_index_clear(ts->ix);
    rc = tileset_load(ctx, db, ts, INT64_MIN, &loaded);
    if (rc) goto reset;
    ts->seen_inserted = n_ins;
    ts->seen_removed = n_rem;
    goto done;
reset:
    if (tileset_to_memory(NULL, ts)) { /* out of memory: drop the tileset from the store */
        tg_tileset **p = &st->tilesets;
        while (*p != ts) p = &(*p)->next;
        *p = ts->next;
        tgst_tileset_free(ts);
        ts = NULL;
    } else {
        ts->seen_inserted = ts->seen_removed = -1;
    }
done:
    if (own_txn) tgst_exec(NULL, db, "RELEASE tg_refresh");
    if (!rc) *out = ts;
    return rc;
}

/* A hit and the query it came from, for merging several queries' hits. */
typedef struct qhit {
    tg_hit h;
    int q;
} qhit;

/* By row, then best score first (the merge keeps the first of each row). */
static int qhit_row_cmp(const void *a, const void *b)
{
    const qhit *x = a, *y = b;
    if (x->h.row != y->h.row) return x->h.row < y->h.row ? -1 : 1;
    if (x->h.score != y->h.score) return x->h.score > y->h.score ? -1 : 1;
    return x->q - y->q;
}

/* The index's order: score descending, ties by id ascending. */
static int qhit_score_cmp(const void *a, const void *b)
{
    const qhit *x = a, *y = b;
    if (x->h.score != y->h.score) return x->h.score > y->h.score ? -1 : 1;
    return x->h.id < y->h.id ? -1 : x->h.id > y->h.id;
}

int tg_tileset_match(tg_ctx *ctx, const tg_tileset *ts, const float *emb, int k,
                     const int64_t *cand, size_t n_cand, tg_match *out, int *n_out)
{
    return tg_tileset_match_n(ctx, ts, emb, 1, k, cand, n_cand, out, n_out, NULL);
}

int tg_tileset_match_n(tg_ctx *ctx, const tg_tileset *ts, const float *embs, int n_q, int k,
                       const int64_t *cand, size_t n_cand, tg_match *out, int *n_out,
                       int *query_of)
{
    if (n_out) *n_out = 0;
    if (!ts || !embs || !out || !n_out || n_q < 1)
        return tg_set_error(ctx, TG_EINVAL, "tg_tileset_match: NULL argument");
    if (k < 1) return tg_set_error(ctx, TG_EINVAL, "k = %d: expected 1 or more matches", k);
    int want = k > TG_STORE_ERROR_K ? k : TG_STORE_ERROR_K;
    int dim = tg_index_dim(ts->ix);
    tg_hit *hits = malloc((size_t)want * (size_t)n_q * sizeof *hits);
    int *nq = malloc((size_t)n_q * sizeof *nq), *qof = NULL;
    if (!hits || !nq) {
        free(hits);
        free(nq);
        return tg_set_error(ctx, TG_ENOMEM, "search: out of memory for %d matches", want);
    }
    int nh = 0, rc = TG_OK;
    if (cand) {
        /* ids are loaded in ascending order, so tg_index_find never modifies
         * the index here: the cast keeps tg_tileset_match read-only. */
        for (int q = 0; !rc && q < n_q; q++)
            rc = tg_index_search_subset(ctx, (tg_index *)ts->ix, embs + (size_t)q * dim, cand,
                                        n_cand, want, hits + (size_t)q * want, &nq[q]);
    } else if (n_q == 1) {
        rc = tg_index_search(ctx, ts->ix, embs, want, hits, &nq[0]);
    } else {
        /* One pass over the tiles for every query (sgemm). */
        rc = tg_index_search_batch(ctx, ts->ix, embs, n_q, want, hits, nq);
    }
    if (rc) goto done;
    if (n_q == 1) {
        nh = nq[0];
    } else {
        /* The best k tiles by their best score over the queries are among
         * the union of each query's best k (a tile outside its best query's
         * top k has k tiles above it there, each at least as good over all
         * queries): merge, one entry per tile, keep the query it came from. */
        qhit *all = malloc(((size_t)want * n_q) * sizeof *all);
        qof = malloc((size_t)want * sizeof *qof);
        if (!all || !qof) {
            free(all);
            rc = tg_set_error(ctx, TG_ENOMEM, "search: out of memory");
            goto done;
        }
        size_t m = 0, u = 0;
        for (int q = 0; q < n_q; q++)
            for (int i = 0; i < nq[q]; i++) all[m++] = (qhit){hits[(size_t)q * want + i], q};
        qsort(all, m, sizeof *all, qhit_row_cmp);
        for (size_t i = 0; i < m; i++)
            if (u == 0 || all[u - 1].h.row != all[i].h.row) all[u++] = all[i];
        qsort(all, u, sizeof *all, qhit_score_cmp);
        nh = u < (size_t)want ? (int)u : want;
        for (int i = 0; i < nh; i++) {
            hits[i] = all[i].h;
            qof[i] = all[i].q;
        }
        free(all);
    }
    int n_err = nh < TG_STORE_ERROR_K ? nh : TG_STORE_ERROR_K;
    double w[TG_STORE_ERROR_K], wsum = 0;
    for (int j = 0; j < n_err; j++) {
        /* w_j = exp(alpha (s_j - s_1)): see store.h */
        w[j] = exp(TG_STORE_ERROR_ALPHA * ((double)hits[j].score - (double)hits[0].score));
        wsum += w[j];
    }
    int n = nh < k ? nh : k;
    for (int i = 0; i < n; i++) {
        size_t row = hits[i].row;
        tg_match *o = &out[i];
        o->rank = i + 1;
        o->tile_id = hits[i].id;
        o->raster_id = ts->raster_id[row];
        o->score = hits[i].score;
        o->lon = ts->lon[row];
        o->lat = ts->lat[row];
        o->stride_m = ts->stride_m[row];
        o->heading_deg = NAN;
        if (query_of) query_of[i] = qof ? qof[i] : 0;
        double acc = 0;
        for (int j = 0; j < n_err; j++) {
            size_t rj = hits[j].row;
            double d = 0;
            if (rj != row) {
                rc = tg_geo_distance_m(ctx, o->lon, o->lat, ts->lon[rj], ts->lat[rj], &d);
                if (rc) goto done;
            }
            acc += w[j] * d * d;
        }
        double spread = wsum > 0 ? sqrt(acc / wsum) : 0;
        o->error_m = TG_STORE_ERROR_SCALE * (spread > o->stride_m / 2 ? spread : o->stride_m / 2);
    }
    *n_out = n;
done:
    free(hits);
    free(nq);
    free(qof);
    return rc;
}

/* ---- ranking on the server ------------------------------------------------- */

int tg_store_server_ranking(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                            tg_store_ranking *out)
{
    if (!st || !m || !out)
        return tg_set_error(ctx, TG_EINVAL, "tg_store_server_ranking: NULL argument");
    memset(out, 0, sizeof *out);
    if (!st->pg) return TG_OK; /* SQLite: the tiles are ranked in this process */
    return tgpg_server_ranking(ctx, st, m, out);
}

static int no_server(tg_ctx *ctx, tg_store *st, const char *what)
{
    return tg_set_error(ctx, TG_EINVAL,
                        "%s: database '%s' is a SQLite file: its tiles are ranked in this "
                        "process (tg_store_tileset), not on a server",
                        what, tgst_label(st->db));
}

int tg_store_top_hits(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const float *q,
                      int n_q, int dim, int k, tg_hit *hits, int *n_hits)
{
    if (!st || !m || !q || !hits || !n_hits || n_q < 1 || dim < 1 || k < 1)
        return tg_set_error(ctx, TG_EINVAL, "tg_store_top_hits: bad argument");
    if (!st->pg) return no_server(ctx, st, "tg_store_top_hits");
    return tgpg_top_hits(ctx, st, m, q, n_q, dim, k, hits, n_hits);
}

int tg_store_tileset_ids(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int dim,
                         const int64_t *ids, size_t n, tg_tileset **out)
{
    if (out) *out = NULL;
    if (!st || !m || (!ids && n) || !out || dim < 1)
        return tg_set_error(ctx, TG_EINVAL, "tg_store_tileset_ids: bad argument");
    if (!st->pg) return no_server(ctx, st, "tg_store_tileset_ids");
    return tgpg_tileset_ids(ctx, st, m, dim, ids, n, out);
}

void tg_tileset_free(tg_tileset *ts) { tgst_tileset_free(ts); }
