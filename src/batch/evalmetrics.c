/* evalmetrics.c - R@k, R@1%, hit rate and metre error (see evalmetrics.h). */
#include "config.h"
#include "transgeo/evalmetrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long tg_eval_k_1pct(long n_tiles)
{
    long k = n_tiles / 100; /* train.py: M//100 */
    return k < 1 ? 1 : k;
}

long tg_eval_rank(const float *scores, size_t n, size_t truth)
{
    if (!scores || truth >= n) return 0;
    float s = scores[truth];
    long above = 0;
    if (isnan(s)) { /* ranked last: after every scored tile */
        for (size_t i = 0; i < n; i++)
            if (!isnan(scores[i])) above++;
    } else {
        for (size_t i = 0; i < n; i++)
            if (scores[i] > s) above++; /* a NaN is never > s */
    }
    return above + 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int tg_eval_compute(tg_ctx *ctx, const tg_eval_item *items, size_t n, long n_tiles,
                    tg_eval_stats *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!items || !out) return tg_set_error(ctx, TG_EINVAL, "tg_eval_compute: NULL argument");
    if (n == 0)
        return tg_set_error(ctx, TG_EINVAL,
                            "evaluation: no labelled photo (give photos with GPS EXIF or --truth)");
    if (n_tiles < 1)
        return tg_set_error(ctx, TG_EINVAL, "evaluation: the reference set has no tile");
    for (size_t i = 0; i < n; i++) {
        if (items[i].rank < 1 || items[i].rank > n_tiles)
            return tg_set_error(ctx, TG_EINVAL, "evaluation: photo %zu has rank %ld, outside 1..%ld",
                                i + 1, items[i].rank, n_tiles);
        if (!isfinite(items[i].error_m) || items[i].error_m < 0)
            return tg_set_error(ctx, TG_EINVAL, "evaluation: photo %zu has error %g m", i + 1,
                                items[i].error_m);
    }
    double *err = malloc(n * sizeof *err);
    if (!err) return tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory for %zu photos", n);

    long k1pct = tg_eval_k_1pct(n_tiles);
    size_t c1 = 0, c5 = 0, c10 = 0, cp = 0, hits = 0, w5 = 0, w10 = 0, w25 = 0, w50 = 0;
    double sum = 0;
    size_t nr = 0, wr = 0, ng = 0, better = 0;
    double *gerr = malloc(n * sizeof *gerr);
    if (!gerr) {
        free(err);
        return tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory for %zu photos", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].radius_m > 0) {
            nr++;
            wr += items[i].error_m <= items[i].radius_m;
        }
        if (items[i].has_gps && isfinite(items[i].gps_error_m)) {
            gerr[ng++] = items[i].gps_error_m;
            better += items[i].error_m < items[i].gps_error_m;
        }
        long r = items[i].rank;
        double e = items[i].error_m;
        c1 += r <= 1;
        c5 += r <= 5;
        c10 += r <= 10;
        cp += r <= k1pct;
        hits += items[i].hit != 0;
        w5 += e <= 5;
        w10 += e <= 10;
        w25 += e <= 25;
        w50 += e <= 50;
        sum += e;
        err[i] = e;
    }
    qsort(err, n, sizeof *err, cmp_double);
    double dn = (double)n;
    out->n = (long)n;
    out->n_tiles = n_tiles;
    out->k_1pct = k1pct;
    out->r1 = c1 / dn;
    out->r5 = c5 / dn;
    out->r10 = c10 / dn;
    out->r1pct = cp / dn;
    out->hit_rate = hits / dn;
    out->err_median_m = n % 2 ? err[n / 2] : (err[n / 2 - 1] + err[n / 2]) / 2;
    out->err_mean_m = sum / dn;
    out->within_5m = w5 / dn;
    out->within_10m = w10 / dn;
    out->within_25m = w25 / dn;
    out->within_50m = w50 / dn;
    out->n_radius = (long)nr;
    out->within_radius = nr ? (double)wr / (double)nr : 0;
    out->n_gps = (long)ng;
    out->improved_over_gps = ng ? (double)better / (double)ng : 0;
    qsort(gerr, ng, sizeof *gerr, cmp_double);
    out->gps_median_m = !ng ? NAN : ng % 2 ? gerr[ng / 2] : (gerr[ng / 2 - 1] + gerr[ng / 2]) / 2;
    free(gerr);
    free(err);
    return 0;
}
