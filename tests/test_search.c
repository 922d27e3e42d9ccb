/* test_search.c - tg_index: exact top-k against a brute-force reference. */
#include "config.h"
#include "transgeo/search.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fixed-seed generator (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void unit_vector(float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) {
        v[i] = (float)(rnd() * 2 - 1);
        s += (double)v[i] * v[i];
    }
    for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(s));
}

/* Reference: score every row in double, pick the best k by selection. */
static void brute_force(const float *m, const int64_t *ids, size_t n, int dim, const float *q,
                        const char *allowed, int k, int64_t *out_ids, double *out_s, int *n_out)
{
    char *taken = calloc(n, 1);
    double *s = malloc(n * sizeof *s);
    for (size_t r = 0; r < n; r++) {
        double acc = 0;
        for (int j = 0; j < dim; j++) acc += (double)m[r * dim + j] * q[j];
        s[r] = acc;
    }
    int c = 0;
    for (; c < k; c++) {
        size_t best = SIZE_MAX;
        for (size_t r = 0; r < n; r++) {
            if (taken[r] || (allowed && !allowed[r]) || isnan(s[r])) continue;
            if (best == SIZE_MAX || s[r] > s[best] || (s[r] == s[best] && ids[r] < ids[best]))
                best = r;
        }
        if (best == SIZE_MAX) break;
        taken[best] = 1;
        out_ids[c] = ids[best];
        out_s[c] = s[best];
    }
    *n_out = c;
    free(taken);
    free(s);
}

/* The results agree when the ids match, or where scores are within float
 * rounding of each other (then the order of near-ties may legitimately differ). */
static int same_hits(const tg_hit *h, int n, const int64_t *ids, const double *s, int n_ref)
{
    if (n != n_ref) return 0;
    for (int i = 0; i < n; i++) {
        if (fabs(h[i].score - s[i]) > 1e-5) return 0;
        if (h[i].id != ids[i] && fabs(s[i] - (i + 1 < n ? s[i + 1] : s[i])) > 1e-5 &&
            fabs(s[i] - (i ? s[i - 1] : s[i])) > 1e-5)
            return 0;
    }
    return 1;
}

int main(void)
{
    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx)) return 1;
    tg_ctx_set_threads(ctx, 1);

    /* Sizes around the block boundary, dims odd and even. */
    static const struct { size_t n; int dim; int k; } cases[] = {
        {1, 8, 1},      {5, 3, 10},       {100, 16, 10},   {4095, 32, 5},
        {4096, 32, 5},  {4097, 17, 10},   {10000, 64, 25}, {9000, 1000, 10},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n = cases[c].n;
        int dim = cases[c].dim, k = cases[c].k;
        float *m = malloc(n * dim * sizeof *m);
        int64_t *ids = malloc(n * sizeof *ids);
        tg_index *ix = NULL;
        TAP_EQ(tg_index_create(ctx, dim, &ix), 0, "create n=%zu dim=%d", n, dim);
        for (size_t r = 0; r < n; r++) {
            unit_vector(m + r * dim, dim);
            ids[r] = (int64_t)(r * 3 + 7); /* sorted ids */
            tg_index_add(ctx, ix, ids[r], m + r * dim);
        }
        TAP_EQ(tg_index_count(ix), n, "count n=%zu", n);
        float q[1000];
        unit_vector(q, dim);
        tg_hit hits[32];
        int nh = -1, nref;
        int64_t rid[32];
        double rs[32];
        TAP_EQ(tg_index_search(ctx, ix, q, k, hits, &nh), 0, "search n=%zu dim=%d k=%d", n, dim, k);
        brute_force(m, ids, n, dim, q, NULL, k, rid, rs, &nref);
        TAP_OK(same_hits(hits, nh, rid, rs, nref), "search n=%zu dim=%d k=%d matches brute force", n,
               dim, k);
        int sorted = 1;
        for (int i = 1; i < nh; i++) sorted &= hits[i - 1].score >= hits[i].score;
        TAP_OK(sorted, "hits sorted by descending score");

        /* A stored row as the query ranks itself first with score ~1. */
        size_t self = n / 2;
        TAP_EQ(tg_index_search(ctx, ix, m + self * dim, 1, hits, &nh), 0, "self query");
        TAP_OK(nh == 1 && hits[0].id == ids[self] && hits[0].row == self, "row %zu finds itself",
               self);
        TAP_NEAR(hits[0].score, 1.0, 1e-5, "self score is 1");

        /* Subset: every third row plus ids that do not exist and repeats. */
        size_t n_sub = 0;
        int64_t *sub = malloc((n + 4) * sizeof *sub);
        char *allowed = calloc(n, 1);
        for (size_t r = 0; r < n; r += 3) {
            sub[n_sub++] = ids[r];
            allowed[r] = 1;
        }
        sub[n_sub++] = -5;
        sub[n_sub++] = ids[0];
        TAP_EQ(tg_index_search_subset(ctx, ix, q, sub, n_sub, k, hits, &nh), 0, "subset search");
        brute_force(m, ids, n, dim, q, allowed, k, rid, rs, &nref);
        TAP_OK(same_hits(hits, nh, rid, rs, nref), "subset n=%zu matches brute force", n);

        /* Batch of 3 queries equals 3 single searches. */
        float *qs = malloc(3 * dim * sizeof *qs);
        for (int b = 0; b < 3; b++) unit_vector(qs + b * dim, dim);
        tg_hit bh[3 * 32];
        int bn[3];
        TAP_EQ(tg_index_search_batch(ctx, ix, qs, 3, k, bh, bn), 0, "batch search");
        int same = 1;
        for (int b = 0; b < 3; b++) {
            brute_force(m, ids, n, dim, qs + b * dim, NULL, k, rid, rs, &nref);
            same &= same_hits(bh + b * k, bn[b], rid, rs, nref);
        }
        TAP_OK(same, "batch n=%zu equals brute force per query", n);
        free(qs);
        free(sub);
        free(allowed);
        free(m);
        free(ids);
        tg_index_free(ix);
    }

    /* Ties go to the smaller id, whatever the insertion order; NaN rows never
     * come back; unsorted ids are found. */
    {
        tg_index *ix = NULL;
        tg_index_create(ctx, 2, &ix);
        const float a[2] = {1, 0}, b[2] = {0, 1}, nan2[2] = {NAN, 0};
        tg_index_add(ctx, ix, 50, a);
        tg_index_add(ctx, ix, 10, a);
        tg_index_add(ctx, ix, 30, nan2);
        tg_index_add(ctx, ix, 20, b);
        tg_index_add(ctx, ix, 40, a);
        tg_hit h[5];
        int nh;
        tg_index_search(ctx, ix, a, 5, h, &nh);
        TAP_EQ(nh, 4, "NaN row skipped: 4 of 5 rows returned");
        TAP_OK(h[0].id == 10 && h[1].id == 40 && h[2].id == 50 && h[3].id == 20,
               "equal scores ordered by id (10, 40, 50), then the lower score");
        size_t row = 99;
        TAP_EQ(tg_index_find(ctx, ix, 20, &row), 0, "find id 20 in unsorted ids");
        TAP_EQ(row, 3, "id 20 is row 3");
        TAP_EQ(tg_index_find(ctx, ix, 21, &row), TG_ENOTFOUND, "missing id: TG_ENOTFOUND");
        TAP_EQ(tg_index_max_id(ix), 50, "max id");
        int64_t sub[] = {20, 50, 999};
        tg_index_search_subset(ctx, ix, a, sub, 3, 5, h, &nh);
        TAP_OK(nh == 2 && h[0].id == 50 && h[1].id == 20, "subset of unsorted ids");
        tg_index_clear(ix);
        TAP_EQ(tg_index_count(ix), 0, "clear empties");
        TAP_EQ(tg_index_search(ctx, ix, a, 3, h, &nh), 0, "search on an empty index");
        TAP_EQ(nh, 0, "no hits on an empty index");
        tg_index_free(ix);
    }

    /* Errors: code and message. */
    {
        tg_index *ix = NULL;
        TAP_EQ(tg_index_create(ctx, 0, &ix), TG_EINVAL, "dim 0 refused");
        TAP_OK(strstr(tg_errmsg(ctx), "embedding size 0") != NULL, "message names the size: %s",
               tg_errmsg(ctx));
        TAP_OK(ix == NULL, "no index on failure");
        tg_index_create(ctx, 4, &ix);
        float q[4] = {1, 0, 0, 0};
        tg_hit h[1];
        int nh = 7;
        TAP_EQ(tg_index_search(ctx, ix, q, 0, h, &nh), TG_EINVAL, "k = 0 refused");
        TAP_OK(strstr(tg_errmsg(ctx), "k = 0") != NULL, "message names k: %s", tg_errmsg(ctx));
        TAP_EQ(nh, 0, "n_hits 0 on failure");
        TAP_EQ(tg_index_search(ctx, ix, NULL, 1, h, &nh), TG_EINVAL, "NULL query refused");
        TAP_EQ(tg_index_search_batch(ctx, ix, q, 0, 1, h, &nh), TG_EINVAL, "0 queries refused");
        TAP_EQ(tg_index_add(ctx, ix, 1, NULL), TG_EINVAL, "NULL embedding refused");
        tg_index_free(ix);
        tg_index_free(NULL);
    }
    tg_ctx_free(ctx);
    return tap_done();
}
