/*
 * test_locate_batch.c - many photos per scoring pass (locate.h "many photos
 * per pass"): tg_locator_prepare + one tg_locator_score + tg_locator_finish
 * give tg_locator_run's answers bit for bit, and both agree with a brute
 * force in double precision written here (every tile's inner product,
 * sorted by score then id; the truth's rank counted on it).
 *
 * Store: the NAIP raster indexed with the tiny golden model (24 floats) in
 * 320 m tiles. Queries: random unit vectors (fixed seed) as embeddings, some
 * with a true position, the fixture photo searched over 6 headings, and a
 * global prior; then 60 tiles given one embedding, so that more tiles tie
 * than the pass keeps (the narrowing must widen) and ties go to the lowest
 * id.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tap.h"
#include "transgeo/locate.h"
#include "transgeo/store.h"

#define NQ 40  /* embedding queries */
#define K 7

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2 - 1;
}

static int same_answer(const tg_locate_answer *a, const tg_locate_answer *b)
{
    if (a->n_matches != b->n_matches || a->truth_rank != b->truth_rank ||
        a->n_headings != b->n_headings || a->prior != b->prior)
        return 0;
    if (!(a->truth_score == b->truth_score || (isnan(a->truth_score) && isnan(b->truth_score))))
        return 0;
    if (!(a->heading_deg == b->heading_deg || (isnan(a->heading_deg) && isnan(b->heading_deg))))
        return 0;
    if (!(a->lon == b->lon && a->lat == b->lat && a->error_m == b->error_m)) return 0;
    for (int i = 0; i < a->n_matches; i++) {
        const tg_match *x = &a->matches[i], *y = &b->matches[i];
        if (x->tile_id != y->tile_id || x->score != y->score || x->error_m != y->error_m ||
            x->rank != y->rank)
            return 0;
    }
    return 1;
}

typedef struct bf {
    double s;
    int64_t id;
    size_t row;
} bf;

static int bf_cmp(const void *a, const void *b)
{
    const bf *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Every tile's score in double, best first. [out] v (n entries). */
static void brute(const tg_tileset *ts, const float *q, bf *v)
{
    const tg_index *ix = tg_tileset_index(ts);
    size_t n = tg_tileset_count(ts);
    int dim = tg_index_dim(ix);
    for (size_t i = 0; i < n; i++) {
        const float *r = tg_index_row(ix, i);
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)r[d] * q[d];
        v[i] = (bf){s, tg_index_id(ix, i), i};
    }
    qsort(v, n, sizeof *v, bf_cmp);
}

/* Locate in[0..n) one at a time and in one batch; [out] how many answers
 * differ. */
static int run_both(tg_ctx *ctx, const tg_locator *loc, const tg_locate_input *in, int n,
                    tg_locate_answer *one, tg_locate_answer *bat)
{
    tg_locate_job **jobs = calloc((size_t)n, sizeof *jobs);
    int bad = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        rc |= tg_locator_run(loc, ctx, &in[i], &one[i]);
        rc |= tg_locator_prepare(loc, ctx, &in[i], &jobs[i]);
    }
    rc |= tg_locator_score(loc, ctx, jobs, (size_t)n);
    for (int i = 0; i < n; i++) {
        rc |= tg_locator_finish(loc, ctx, jobs[i], &bat[i]);
        tg_locate_job_free(jobs[i]);
        bad += !same_answer(&one[i], &bat[i]);
    }
    free(jobs);
    if (rc) tap_diag("error: %s", tg_errmsg(ctx));
    return rc ? -1 : bad;
}

int main(void)
{
    char raster[1024], model[1024], dbp[1200];
    snprintf(raster, sizeof raster, "%s/rasters/m_4709963_se_14_1_20090818.tif", tap_shared());
    snprintf(model, sizeof model, "%s/tests/golden/tiny/model.safetensors", tap_srcdir());
    snprintf(dbp, sizeof dbp, "%s/locate_batch.sqlite", tap_env("TG_TMPDIR", "/tmp"));
    remove(dbp);
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, 1);
    tg_store *st = NULL;
    TAP_EQ(tg_store_open(ctx, dbp, TG_STORE_CREATE, &st), 0, "create %s", dbp);
    TAP_EQ(tg_store_model_register(ctx, st, "tiny", model, NULL), 0, "register the tiny model");
    tg_store_index_opts io;
    tg_store_index_opts_default(&io);
    io.tile_m = 320;
    tg_store_index_result res;
    TAP_EQ(tg_store_index_raster(ctx, st, raster, &io, &res), 0, "index the NAIP raster: %s",
           tg_errmsg(ctx));
    tg_locate_opts lo;
    tg_locate_opts_default(&lo);
    lo.k = K;
    lo.refine = TG_REFINE_OFF;
    tg_locator *loc = NULL;
    TAP_EQ(tg_locator_open(ctx, st, &lo, &loc), 0, "open a locator");
    if (!loc) return tap_done();
    const tg_tileset *ts = NULL;
    tg_store_model m;
    tg_store_model_find(ctx, st, "tiny", &m);
    tg_store_tileset(ctx, st, &m, &ts);
    size_t n_tiles = tg_tileset_count(ts);
    int dim = tg_locator_dim(loc);
    tap_diag("%zu tiles of %d floats", n_tiles, dim);
    TAP_OK(n_tiles > 300, "enough tiles to rank (%zu)", n_tiles);

    /* ---- embeddings, half of them with a true position (a tile's centre) */
    static float q[NQ + 1][64];
    tg_locate_input in[NQ + 1];
    memset(in, 0, sizeof in);
    for (int i = 0; i < NQ; i++) {
        double nn = 0;
        for (int d = 0; d < dim; d++) {
            q[i][d] = (float)rnd();
            nn += (double)q[i][d] * q[i][d];
        }
        for (int d = 0; d < dim; d++) q[i][d] = (float)(q[i][d] / sqrt(nn));
        in[i].embedding = q[i];
        in[i].embedding_dim = dim;
        if (i % 2) {
            in[i].has_truth = 1;
            tg_tileset_tile(ts, (size_t)(i * 7919) % n_tiles, NULL, &in[i].truth_lon,
                            &in[i].truth_lat, NULL);
        }
    }
    /* and the fixture photo, 6 headings, with a truth */
    char photo[1200];
    snprintf(photo, sizeof photo, "%s/photos/01.jpg", tap_shared());
    tg_locate_answer one[NQ + 1], bat[NQ + 1];
    memset(one, 0, sizeof one);
    memset(bat, 0, sizeof bat);
    int bad = run_both(ctx, loc, in, NQ, one, bat);
    TAP_EQ(bad, 0, "%d embeddings in one pass = one at a time, bit for bit (tiles, scores, "
                   "error_m, truth rank)", NQ);
    /* against the brute force */
    bf *v = malloc(n_tiles * sizeof *v);
    int ids_ok = 1, score_ok = 1, rank_ok = 1, n_ranked = 0;
    double worst = 0;
    for (int i = 0; i < NQ; i++) {
        brute(ts, q[i], v);
        for (int j = 0; j < K; j++) {
            ids_ok &= bat[i].matches[j].tile_id == v[j].id;
            double e = fabs(bat[i].matches[j].score - v[j].s);
            if (e > worst) worst = e;
            score_ok &= e < 1e-6;
        }
        if (in[i].has_truth) {
            long above = 0;
            double t = NAN;
            for (size_t r = 0; r < n_tiles; r++)
                if (v[r].id == bat[i].truth_tile_id) t = v[r].s;
            for (size_t r = 0; r < n_tiles; r++) above += v[r].s > t;
            rank_ok &= bat[i].truth_rank == above + 1;
            n_ranked++;
        }
    }
    TAP_OK(ids_ok, "the %d best tiles of each are the brute force's (double precision)", K);
    TAP_OK(score_ok, "scores within 1e-6 of it (worst %.2g)", worst);
    TAP_OK(rank_ok && n_ranked == NQ / 2, "the truth's rank = 1 + tiles scored above it (%d "
                                          "queries)", n_ranked);
    for (int i = 0; i < NQ; i++) {
        tg_locate_answer_clear(&one[i]);
        tg_locate_answer_clear(&bat[i]);
    }
    tg_locator_free(loc);
    loc = NULL;

    /* ---- a photo over 6 headings among embeddings, and a global prior */
    lo.heading_search = 6;
    lo.ignore_heading = 1;
    TAP_EQ(tg_locator_open(ctx, st, &lo, &loc), 0, "open with a 6-heading search");
    memset(&in[NQ], 0, sizeof in[NQ]);
    in[NQ].path = photo;
    in[NQ].truth_from_gps = 1;
    tg_locate_input mix[5] = {in[0], in[1], in[NQ], in[3], in[5]};
    tg_locate_answer o5[5], b5[5];
    memset(o5, 0, sizeof o5);
    memset(b5, 0, sizeof b5);
    bad = run_both(ctx, loc, mix, 5, o5, b5);
    TAP_EQ(bad, 0, "a photo's 6 canvases as extra rows of the pass: the same answers");
    TAP_OK(b5[2].n_headings == 6 && b5[2].has_truth && b5[2].truth_rank >= 1,
           "the photo was searched over 6 headings and ranked (rank %ld, heading %g)",
           b5[2].truth_rank, b5[2].heading_deg);
    for (int i = 0; i < 5; i++) {
        tg_locate_answer_clear(&o5[i]);
        tg_locate_answer_clear(&b5[i]);
    }
    tg_locator_free(loc);
    loc = NULL;
    double clon, clat;
    tg_tileset_tile(ts, n_tiles / 2, NULL, &clon, &clat, NULL);
    tg_store_prior pr = {.lon = clon, .lat = clat, .radius_m = 800};
    tg_locate_opts_default(&lo);
    lo.k = K;
    lo.refine = TG_REFINE_OFF;
    lo.prior = &pr;
    TAP_EQ(tg_locator_open(ctx, st, &lo, &loc), 0, "open with a global prior (800 m)");
    bad = run_both(ctx, loc, in, 10, one, bat);
    TAP_EQ(bad, 0, "a global prior: its candidates scored per photo, the same answers");
    TAP_OK(bat[1].n_candidates == tg_locator_n_candidates(loc) && bat[1].prior == TG_PRIOR_NEAR,
           "... among its %zu candidates", tg_locator_n_candidates(loc));
    for (int i = 0; i < 10; i++) {
        tg_locate_answer_clear(&one[i]);
        tg_locate_answer_clear(&bat[i]);
    }
    tg_locator_free(loc);
    loc = NULL;

    /* ---- more tied tiles than the pass keeps: 60 tiles with tile 1's embedding */
    sqlite3 *db = tg_store_db(st);
    TAP_EQ(sqlite3_exec(db, "UPDATE tg_tiles SET embedding = (SELECT embedding FROM tg_tiles "
                            "WHERE id = 1) WHERE id BETWEEN 2 AND 60",
                        NULL, NULL, NULL),
           SQLITE_OK, "give tiles 2..60 the embedding of tile 1");
    tg_locate_opts_default(&lo);
    lo.k = K;
    lo.refine = TG_REFINE_OFF;
    TAP_EQ(tg_locator_open(ctx, st, &lo, &loc), 0, "open again (the tiles reloaded)");
    tg_tileset_tile(ts, 0, NULL, NULL, NULL, NULL);
    const tg_tileset *ts2 = NULL;
    tg_store_tileset(ctx, st, &m, &ts2);
    float e1[64];
    memcpy(e1, tg_index_row(tg_tileset_index(ts2), 0), (size_t)dim * sizeof *e1);
    tg_locate_input tie[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        tie[i].embedding = e1;
        tie[i].embedding_dim = dim;
    }
    tie[1].has_truth = 1; /* the truth at tile 30's centre: tied with the best */
    tg_tileset_tile(ts2, 29, NULL, &tie[1].truth_lon, &tie[1].truth_lat, NULL);
    tie[2] = in[2];
    bad = run_both(ctx, loc, tie, 3, one, bat);
    TAP_EQ(bad, 0, "60 tied tiles: the same answers alone and in a batch");
    int lowest = bat[0].n_matches == K;
    for (int j = 0; lowest && j < K; j++)
        lowest = bat[0].matches[j].tile_id == j + 1 && bat[0].matches[j].score == bat[0].matches[0].score;
    TAP_OK(lowest, "the best are the tied tiles with the lowest ids, 1..%d (ties go to the "
                   "lowest id)", K);
    TAP_EQ(bat[1].truth_rank, 1, "a truth tied with the best ranks 1 (none scores above it)");
    for (int i = 0; i < 3; i++) {
        tg_locate_answer_clear(&one[i]);
        tg_locate_answer_clear(&bat[i]);
    }
    tg_locator_free(loc);

    /* ---- misuse */
    TAP_EQ(tg_locator_score(NULL, ctx, NULL, 0), TG_EINVAL, "score without a locator: TG_EINVAL");
    free(v);
    tg_store_close(st);
    tg_ctx_free(ctx);
    remove(dbp);
    return tap_done();
}
