/* test_evalmetrics.c - R@k, R@1%, hit rate and metre error against hand arithmetic. */
#include "config.h"
#include "transgeo/evalmetrics.h"
#include "tap.h"

#include <math.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void test_rank(void)
{
    /* scores of 6 tiles; rank = 1 + count strictly greater (train.py) */
    const float s[6] = {0.5f, 0.9f, 0.1f, 0.9f, 0.7f, 0.5f};
    struct { size_t truth; long want; } cases[] = {
        {1, 1}, /* 0.9: nothing greater (tie with tile 3 favours the truth) */
        {3, 1}, /* the other 0.9 */
        {4, 3}, /* 0.7: two 0.9 above */
        {0, 4}, /* 0.5: 0.9, 0.9, 0.7 above; the other 0.5 does not count */
        {5, 4},
        {2, 6}, /* 0.1: five above */
        {6, 0}, /* out of range */
    };
    for (size_t i = 0; i < N_OF(cases); i++)
        TAP_EQ(tg_eval_rank(s, 6, cases[i].truth), cases[i].want, "rank of tile %zu", cases[i].truth);
    TAP_EQ(tg_eval_rank(NULL, 6, 0), 0, "rank of NULL scores is 0");
}

static void test_k_1pct(void)
{
    struct { long n_tiles, want; } cases[] = {
        {1, 1}, {99, 1}, {100, 1}, {199, 1}, {200, 2}, {8884, 88}, {90618, 906},
    };
    for (size_t i = 0; i < N_OF(cases); i++)
        TAP_EQ(tg_eval_k_1pct(cases[i].n_tiles), cases[i].want, "k of R@1%% for %ld tiles",
               cases[i].n_tiles);
}

/* A labelled set of 8 photos against 250 tiles, so k_1pct = floor(250/100) = 2.
 *
 *   photo  rank  hit  error_m
 *     1      1    1     2.0
 *     2      1    1     5.0
 *     3      2    0    10.0
 *     4      3    0    17.5
 *     5      5    0    25.0
 *     6      6    0    49.9
 *     7     10    0    50.0
 *     8     11    0   120.0
 *
 * R@1   = #{rank<=1}  = 2 -> 2/8 = 0.25
 * R@5   = #{rank<=5}  = 5 -> 5/8 = 0.625
 * R@10  = #{rank<=10} = 7 -> 7/8 = 0.875
 * R@1%  = #{rank<=2}  = 3 -> 3/8 = 0.375
 * hit   = 2/8 = 0.25
 * errors sorted: 2, 5, 10, 17.5, 25, 49.9, 50, 120
 * median = (17.5 + 25) / 2 = 21.25
 * mean   = (2+5+10+17.5+25+49.9+50+120)/8 = 279.4/8 = 34.925
 * <=5 m: 2, 5          -> 2/8 = 0.25
 * <=10 m: + 10         -> 3/8 = 0.375
 * <=25 m: + 17.5, 25   -> 5/8 = 0.625
 * <=50 m: + 49.9, 50   -> 7/8 = 0.875
 */
static void test_set(void)
{
    const tg_eval_item it[8] = {
        {.rank = 1, .hit = 1, .error_m = 2.0}, {.rank = 1, .hit = 1, .error_m = 5.0}, {.rank = 2, .hit = 0, .error_m = 10.0}, {.rank = 3, .hit = 0, .error_m = 17.5},
        {.rank = 5, .hit = 0, .error_m = 25.0}, {.rank = 6, .hit = 0, .error_m = 49.9}, {.rank = 10, .hit = 0, .error_m = 50.0}, {.rank = 11, .hit = 0, .error_m = 120.0},
    };
    tg_eval_stats st;
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    int rc = tg_eval_compute(ctx, it, 8, 250, &st);
    TAP_EQ(rc, 0, "tg_eval_compute on 8 photos");
    TAP_EQ(st.n, 8, "n");
    TAP_EQ(st.n_tiles, 250, "n_tiles");
    TAP_EQ(st.k_1pct, 2, "k_1pct = floor(250/100)");
    TAP_NEAR(st.r1, 0.25, 1e-12, "R@1 = 2/8");
    TAP_NEAR(st.r5, 0.625, 1e-12, "R@5 = 5/8");
    TAP_NEAR(st.r10, 0.875, 1e-12, "R@10 = 7/8");
    TAP_NEAR(st.r1pct, 0.375, 1e-12, "R@1%% = 3/8");
    TAP_NEAR(st.hit_rate, 0.25, 1e-12, "hit rate = 2/8");
    TAP_NEAR(st.err_median_m, 21.25, 1e-12, "median = (17.5+25)/2");
    TAP_NEAR(st.err_mean_m, 34.925, 1e-12, "mean = 279.4/8");
    TAP_NEAR(st.within_5m, 0.25, 1e-12, "within 5 m = 2/8");
    TAP_NEAR(st.within_10m, 0.375, 1e-12, "within 10 m = 3/8");
    TAP_NEAR(st.within_25m, 0.625, 1e-12, "within 25 m = 5/8");
    TAP_NEAR(st.within_50m, 0.875, 1e-12, "within 50 m = 7/8");

    TAP_EQ(st.n_radius, 0, "no item states a radius");
    TAP_EQ(st.n_gps, 0, "no item has GPS");
    TAP_OK(isnan(st.gps_median_m), "GPS median NaN without GPS");

    /* calibration and GPS, by hand: errors 2, 5, 10, 17.5 with stated radii
     * 3, 4, 0 (none), 17.5 -> within: 2 <= 3 yes, 5 <= 4 no, 17.5 <= 17.5 yes:
     * 2 of 3; GPS errors 8, (none), 10, 12 -> median of 8, 10, 12 = 10;
     * better than GPS (error < GPS error): 2 < 8 yes, 10 < 10 no, 17.5 < 12 no:
     * 1 of 3 */
    tg_eval_item cal[4] = {{1, 1, 2.0, 3.0, 1, 8.0}, {1, 1, 5.0, 4.0, 0, 0}, {2, 0, 10.0, 0, 1, 10.0},
                           {3, 0, 17.5, 17.5, 1, 12.0}};
    rc = tg_eval_compute(ctx, cal, 4, 250, &st);
    TAP_EQ(rc, 0, "tg_eval_compute with radii and GPS");
    TAP_EQ(st.n_radius, 3, "3 items state a radius");
    TAP_NEAR(st.within_radius, 2.0 / 3, 1e-12, "within the stated radius: 2/3");
    TAP_EQ(st.n_gps, 3, "3 items have GPS");
    TAP_NEAR(st.gps_median_m, 10.0, 1e-12, "GPS median = 10");
    TAP_NEAR(st.improved_over_gps, 1.0 / 3, 1e-12, "better than GPS: 1/3");

    /* odd count: the first 3 photos, 250 tiles.  median = middle of 2, 5, 10 = 5;
     * mean = 17/3; R@1 = 2/3; R@1% (k=2) = 3/3 */
    rc = tg_eval_compute(ctx, it, 3, 250, &st);
    TAP_EQ(rc, 0, "tg_eval_compute on 3 photos");
    TAP_NEAR(st.err_median_m, 5.0, 1e-12, "odd median = 5");
    TAP_NEAR(st.err_mean_m, 17.0 / 3.0, 1e-12, "mean = 17/3");
    TAP_NEAR(st.r1, 2.0 / 3.0, 1e-12, "R@1 = 2/3");
    TAP_NEAR(st.r1pct, 1.0, 1e-12, "R@1%% = 3/3");

    /* fewer than 100 tiles: k_1pct = 1 so R@1% = R@1 (photos 1-4, 20 tiles: 2/4) */
    rc = tg_eval_compute(ctx, it, 4, 20, &st);
    TAP_EQ(st.k_1pct, 1, "k_1pct = 1 below 100 tiles");
    TAP_NEAR(st.r1pct, 0.5, 1e-12, "R@1%% = R@1 = 2/4 with 20 tiles");
    tg_ctx_free(ctx);
}

static void test_errors(void)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_eval_stats st;
    const tg_eval_item ok[1] = {{.rank = 1, .hit = 1, .error_m = 0.0}};
    const tg_eval_item bad_rank[2] = {{.rank = 1, .hit = 1, .error_m = 0.0}, {.rank = 0, .hit = 0, .error_m = 3.0}};
    const tg_eval_item big_rank[1] = {{.rank = 11, .hit = 0, .error_m = 3.0}};
    const tg_eval_item bad_err[1] = {{.rank = 1, .hit = 0, .error_m = -1.0}};
    const tg_eval_item nan_err[1] = {{.rank = 1, .hit = 0, .error_m = NAN}};

    TAP_EQ(tg_eval_compute(ctx, ok, 0, 10, &st), TG_EINVAL, "no photo: TG_EINVAL");
    TAP_OK(strstr(tg_errmsg(ctx), "no labelled photo") != NULL, "message: %s", tg_errmsg(ctx));
    TAP_EQ(tg_eval_compute(ctx, ok, 1, 0, &st), TG_EINVAL, "no tile: TG_EINVAL");
    TAP_OK(strstr(tg_errmsg(ctx), "no tile") != NULL, "message: %s", tg_errmsg(ctx));
    TAP_EQ(tg_eval_compute(ctx, bad_rank, 2, 10, &st), TG_EINVAL, "rank 0: TG_EINVAL");
    TAP_OK(strstr(tg_errmsg(ctx), "photo 2 has rank 0, outside 1..10") != NULL, "message: %s",
           tg_errmsg(ctx));
    TAP_EQ(tg_eval_compute(ctx, big_rank, 1, 10, &st), TG_EINVAL, "rank > n_tiles: TG_EINVAL");
    TAP_EQ(tg_eval_compute(ctx, bad_err, 1, 10, &st), TG_EINVAL, "negative error: TG_EINVAL");
    TAP_OK(strstr(tg_errmsg(ctx), "photo 1 has error -1 m") != NULL, "message: %s", tg_errmsg(ctx));
    TAP_EQ(tg_eval_compute(ctx, nan_err, 1, 10, &st), TG_EINVAL, "NaN error: TG_EINVAL");
    TAP_EQ(st.n, 0, "stats zeroed on failure");
    TAP_EQ(tg_eval_compute(ctx, NULL, 1, 10, &st), TG_EINVAL, "NULL items: TG_EINVAL");
    TAP_EQ(tg_eval_compute(NULL, ok, 1, 10, NULL), TG_EINVAL, "NULL out, NULL ctx: TG_EINVAL");
    tg_ctx_free(ctx);
}

int main(void)
{
    test_rank();
    test_k_1pct();
    test_set();
    test_errors();
    return tap_done();
}
