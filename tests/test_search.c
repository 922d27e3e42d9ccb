/* test_search.c - tg_index: exact top-k against a brute-force reference. */
#include "config.h"
#include "transgeo/search.h"
#include "tap.h"
#include "../src/store/qscan.h"

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

        /* Every compact codec: the same hits as brute force (random unit
         * vectors have no near ties a quantised scan could reorder beyond R),
         * for the plain, subset and batch searches, on an owned index and on
         * one wrapping the same arrays. */
        for (int codec = TG_CODEC_F16; codec <= TG_CODEC_I8; codec++) {
            const char *cn = tg_codec_name(codec);
            TAP_EQ(tg_index_set_codec(ctx, ix, codec), 0, "%s: set codec", cn);
            tg_index *wx = NULL;
            TAP_EQ(tg_index_wrap(ctx, dim, n, ids, m, codec, NULL, NULL, &wx), 0, "%s: wrap", cn);
            for (int w = 0; w < 2; w++) {
                tg_index *x = w ? wx : ix;
                const char *how = w ? "wrapped" : "owned";
                TAP_EQ(tg_index_codec(x), codec, "%s %s: codec kept", cn, how);
                TAP_EQ(tg_index_search(ctx, x, q, k, hits, &nh), 0, "%s %s: search", cn, how);
                brute_force(m, ids, n, dim, q, NULL, k, rid, rs, &nref);
                TAP_OK(same_hits(hits, nh, rid, rs, nref), "%s %s n=%zu dim=%d k=%d: brute force",
                       cn, how, n, dim, k);
                TAP_EQ(tg_index_search_subset(ctx, x, q, sub, n_sub, k, hits, &nh), 0,
                       "%s %s: subset", cn, how);
                brute_force(m, ids, n, dim, q, allowed, k, rid, rs, &nref);
                TAP_OK(same_hits(hits, nh, rid, rs, nref), "%s %s subset n=%zu: brute force", cn,
                       how, n);
                TAP_EQ(tg_index_search_batch(ctx, x, qs, 3, k, bh, bn), 0, "%s %s: batch", cn, how);
                same = 1;
                for (int b = 0; b < 3; b++) {
                    brute_force(m, ids, n, dim, qs + b * dim, NULL, k, rid, rs, &nref);
                    same &= same_hits(bh + b * k, bn[b], rid, rs, nref);
                }
                TAP_OK(same, "%s %s batch n=%zu: brute force per query", cn, how, n);
            }
            tg_index_free(wx);
        }
        tg_index_set_codec(ctx, ix, TG_CODEC_F32);
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

    /* The scan kernels against hand arithmetic: int8 sums are exact integers
     * (scale * qscale * sum of code products), float16 sums are the float
     * sum of decoded halves times the query, to float rounding. Dims around
     * the 16/64-value vector widths and their tails. */
    {
        static const int dims[] = {1, 15, 16, 17, 63, 64, 65, 127, 1000};
        int ok8 = 1, ok16 = 1;
        for (size_t c = 0; c < sizeof dims / sizeof *dims; c++) {
            int dim = dims[c];
            enum { NB = 5 };
            float v[NB * 1000], q[1000], sc[NB], out[NB], qs;
            int8_t codes[NB * 1000], q8[1000];
            uint16_t h[NB * 1000];
            for (int r = 0; r < NB; r++) {
                unit_vector(v + r * dim, dim);
                sc[r] = tg_i8_encode(v + r * dim, dim, codes + r * dim);
                for (int j = 0; j < dim; j++) h[r * dim + j] = tg_f16_from_f32(v[r * dim + j]);
            }
            unit_vector(q, dim);
            /* extremes: -127 against -127 in every lane of row 0 */
            for (int j = 0; j < dim; j++) codes[j] = -127;
            qs = tg_i8_encode(q, dim, q8);
            int8_t q8x[1000];
            memcpy(q8x, q8, sizeof q8x);
            for (int j = 0; j < dim; j++) q8x[j] = (int8_t)(j % 2 ? -127 : q8[j]);
            tgq_i8_scores(codes, sc, NB, dim, q8x, qs, out);
            for (int r = 0; r < NB; r++) {
                int32_t acc = 0;
                for (int j = 0; j < dim; j++) acc += codes[r * dim + j] * q8x[j];
                ok8 &= out[r] == sc[r] * qs * (float)acc;
            }
            tgq_f16_scores(h, NB, dim, q, out);
            for (int r = 0; r < NB; r++) {
                double acc = 0, mag = 0;
                for (int j = 0; j < dim; j++) {
                    acc += (double)tg_f32_from_f16(h[r * dim + j]) * q[j];
                    mag += fabs((double)tg_f32_from_f16(h[r * dim + j]) * q[j]);
                }
                ok16 &= fabs(out[r] - acc) <= 1e-6 * (mag + 1e-30) * dim;
            }
        }
        TAP_OK(ok8, "int8 kernel (%s) equals integer arithmetic, dims 1..1000", tgq_kernels_name());
        TAP_OK(ok16, "float16 kernel (%s) equals the decoded sum to float rounding",
               tgq_kernels_name());
        /* Hand values: 0.1 -> 0x2e66 (numpy.float16(0.1).view('u2')), 65520 -> inf,
         * 2^-25 -> 0, 3 * 2^-25 -> subnormal 2 (ties to even). */
        TAP_EQ(tg_f16_from_f32(0.1f), 0x2e66, "f16(0.1) = 0x2e66");
        TAP_EQ(tg_f16_from_f32(65520.0f), 0x7c00, "f16(65520) = inf");
        TAP_EQ(tg_f16_from_f32(65519.0f), 0x7bff, "f16(65519) = 65504");
        TAP_EQ(tg_f16_from_f32(0x1p-25f), 0, "f16(2^-25) = 0");
        TAP_EQ(tg_f16_from_f32(3 * 0x1p-25f), 2, "f16(3 2^-25) = 2 2^-24");
        TAP_EQ(tg_f16_from_f32(-1.0f), 0xbc00, "f16(-1) = 0xbc00");
        TAP_NEAR(tg_f32_from_f16(0x0001), 0x1p-24, 0, "smallest subnormal decodes");
        /* int8: v = (0.5, -0.25, 0.1): scale 0.5/127, codes 127, rint(-63.5) = -64, rint(25.4) = 25 */
        const float v3[3] = {0.5f, -0.25f, 0.1f};
        int8_t c3[3];
        float s3 = tg_i8_encode(v3, 3, c3);
        TAP_NEAR(s3, 0.5f / 127.0f, 0, "int8 scale = max|v| / 127");
        TAP_OK(c3[0] == 127 && c3[1] == -64 && c3[2] == 25, "int8 codes 127 -64 25 (half to even): %d %d %d",
               c3[0], c3[1], c3[2]);
    }

    /* Codec errors; R. */
    {
        tg_index *ix = NULL;
        tg_index_create(ctx, 4, &ix);
        TAP_EQ(tg_index_set_codec(ctx, ix, 7), TG_EINVAL, "unknown codec refused");
        TAP_OK(strstr(tg_errmsg(ctx), "codec 7") != NULL, "message names the codec: %s",
               tg_errmsg(ctx));
        TAP_EQ(tg_index_rerank_count(ix, 1), TG_INDEX_RERANK_MIN, "R for k=1 is the minimum");
        TAP_EQ(tg_index_rerank_count(ix, 100), 100 * TG_INDEX_RERANK_MULT, "R for k=100 is mult k");
        TAP_EQ(tg_codec_parse("int8"), TG_CODEC_I8, "parse int8");
        TAP_EQ(tg_codec_parse("float16"), TG_CODEC_F16, "parse float16");
        TAP_EQ(tg_codec_parse("f64"), -1, "parse f64: unknown");
        const int64_t bad_ids[2] = {5, 5};
        const float rows[8] = {1, 0, 0, 0, 0, 1, 0, 0};
        tg_index *wx = NULL;
        TAP_EQ(tg_index_wrap(ctx, 4, 2, bad_ids, rows, TG_CODEC_F32, NULL, NULL, &wx), TG_EINVAL,
               "wrap refuses ids not ascending");
        TAP_OK(strstr(tg_errmsg(ctx), "ascending") != NULL, "message says ascending: %s",
               tg_errmsg(ctx));
        /* A wrapped index copies its arrays on the first add. */
        const int64_t good_ids[2] = {1, 2};
        TAP_EQ(tg_index_wrap(ctx, 4, 2, good_ids, rows, TG_CODEC_I8, NULL, NULL, &wx), 0, "wrap");
        const float r3[4] = {0, 0, 1, 0};
        TAP_EQ(tg_index_add(ctx, wx, 3, r3), 0, "add to a wrapped index");
        tg_hit h[3];
        int nh;
        tg_index_search(ctx, wx, r3, 3, h, &nh);
        TAP_OK(nh == 3 && h[0].id == 3 && tg_index_row(wx, 0) != rows, "added row found, arrays copied");
        tg_index_free(wx);
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
