/*
 * evalmetrics.h - retrieval and metre-level accuracy of a labelled photo set.
 *
 * The numbers `transgeo eval` prints, computed from one record per photo
 * (made by the caller from a search over ALL tiles of one model):
 *
 *     tg_eval_item it[3] = {{.rank = 1, .hit = 1, .error_m = 3.0},
 *                           {.rank = 7, .hit = 0, .error_m = 40.0},
 *                           {.rank = 2, .hit = 0, .error_m = 12.5}};
 *     tg_eval_stats st;
 *     tg_eval_compute(ctx, it, 3, 200, &st);   // 200 reference tiles
 *     // st.r1 = 1/3, st.r5 = 2/3, st.r10 = 1, st.k_1pct = 2, st.r1pct = 2/3,
 *     // st.hit_rate = 1/3, st.err_median_m = 12.5, st.within_10m = 1/3
 *
 * Definitions (as in the official TransGeo evaluation, train.py accuracy(),
 * and VIGOR, Zhu et al. CVPR 2021, section 5):
 *  - true tile: the reference tile whose centre is nearest the photo's true
 *    position, among all tiles of the model;
 *  - rank: 1 + the number of tiles whose similarity to the photo is STRICTLY
 *    greater than the true tile's (train.py: `ranking = sum(sim > sim[label])`,
 *    counted as a hit for k when ranking < k; so ties favour the true tile);
 *  - R@k: share of photos with rank <= k, for k = 1, 5, 10 and k_1pct;
 *  - R@1%: k_1pct = floor(n_tiles / 100) as in train.py (`M//100`), but at
 *    least 1: with fewer than 100 tiles train.py's k would be 0, a recall of
 *    0 by construction, which says nothing;
 *  - hit rate (VIGOR): share of photos whose true position lies inside the
 *    footprint of the top-1 tile;
 *  - metre error (VIGOR): geodesic distance from the top-1 tile's centre to the
 *    true position; median (mean of the two middle values for an even count),
 *    mean, and the share of photos within 5, 10, 25 and 50 m (distance <= d);
 *  - calibration: the share of photos whose error is within the radius the
 *    answer stated (error_m <= radius_m);
 *  - against the photo's own GPS: the median GPS error and the share of
 *    photos whose estimate is nearer the truth than their GPS was.
 *
 * All shares are fractions in [0, 1] (the CLI prints them as percentages).
 */
#ifndef TG_EVALMETRICS_H
#define TG_EVALMETRICS_H

#include <stddef.h>
#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One labelled photo, measured by the caller. */
typedef struct tg_eval_item {
    long rank;      /* 1-based rank of the true tile (1 = retrieved first), >= 1 */
    int hit;        /* 1: true position inside the top-1 tile's footprint, else 0 */
    double error_m; /* metres, the estimate (the top-1 tile centre, or the refined
                       point) to the true position, >= 0 */
    double radius_m; /* the answer's stated 68 % error radius, metres; 0 = none */
    int has_gps;    /* 1: gps_error_m is set */
    double gps_error_m; /* metres, the photo's own GPS position to the true position */
} tg_eval_item;

/* The summary of a set. */
typedef struct tg_eval_stats {
    long n;              /* photos evaluated */
    long n_tiles;        /* reference tiles searched (all tiles of the model) */
    long k_1pct;         /* k of R@1%: max(1, n_tiles / 100) */
    double r1;           /* R@1, fraction of photos with rank <= 1 */
    double r5;           /* R@5 */
    double r10;          /* R@10 */
    double r1pct;        /* R@1%: rank <= k_1pct */
    double hit_rate;     /* fraction with hit = 1 */
    double err_median_m; /* metres */
    double err_mean_m;   /* metres */
    double within_5m;    /* fraction with error_m <= 5 */
    double within_10m;   /* <= 10 m */
    double within_25m;   /* <= 25 m */
    double within_50m;   /* <= 50 m */
    long n_radius;       /* items with a stated radius (radius_m > 0) */
    double within_radius; /* of those, the fraction with error_m <= radius_m (a calibrated
                            68 % radius gives about 0.68); 0 when n_radius = 0 */
    long n_gps;          /* items with has_gps */
    double gps_median_m; /* median gps_error_m over them (NaN when n_gps = 0) */
    double improved_over_gps; /* of those, the fraction with error_m < gps_error_m */
} tg_eval_stats;

/* k of R@1% for a reference set of n_tiles tiles: max(1, n_tiles / 100). */
TG_API long tg_eval_k_1pct(long n_tiles);

/* Rank of element `truth` among scores[0..n): 1 + the number of scores strictly
 * greater than scores[truth] (train.py). NaN scores never rank above another;
 * a NaN scores[truth] ranks after every non-NaN score (1 + their number), as
 * the search never returns a NaN-scored tile. Returns 0 when truth >= n. The
 * one rank function: the locator ranks the true tile with it. */
TG_API long tg_eval_rank(const float *scores, size_t n, size_t truth);

/* Summarise n items against a reference set of n_tiles tiles. [out] *out.
 * Returns 0; TG_EINVAL when items/out is NULL, n == 0, n_tiles < 1, or an item
 * has rank < 1 or > n_tiles, or a negative or non-finite error_m (the message
 * names the item). *out is zeroed on failure. */
TG_API int tg_eval_compute(tg_ctx *ctx, const tg_eval_item *items, size_t n, long n_tiles,
                           tg_eval_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TG_EVALMETRICS_H */
