/*
 * search.h - exact top-k search over L2-normalised embeddings (tg_index).
 *
 * A tg_index holds n rows of `dim` float32 values (one aerial tile embedding
 * per row, L2-normalised by the engine) and one 64-bit id per row (the
 * tg_tiles.id of the database). A query is one more embedding of the same
 * dimension; the score of a row is the inner product <row, query>, i.e. the
 * cosine similarity when both are unit vectors (TransGeo ranks by it: Zhu
 * et al. 2022, Sec. 3.4). Search is exact: every row is scored.
 *
 *     tg_index *ix = NULL;
 *     tg_index_create(ctx, 1000, &ix);
 *     tg_index_reserve(ctx, ix, n);                 // optional, avoids regrowth
 *     for (i = 0; i < n; i++) tg_index_add(ctx, ix, ids[i], emb + i * 1000);
 *     tg_hit best[10]; int n_best;
 *     tg_index_search(ctx, ix, query, 10, best, &n_best);   // best[0] = top match
 *     tg_index_free(ix);
 *
 * How: the rows are one contiguous, 64-byte aligned, row-major matrix. A
 * query is scored by cblas_sgemv over blocks of TG_INDEX_BLOCK rows (the
 * scores of a block stay in L1/L2) and each block is merged into a size-k
 * min-heap, so a search reads the matrix once and writes nothing of size n:
 * it is memory-bandwidth bound (see bench/search.sh). Batches of queries use
 * cblas_sgemm over the same blocks (the matrix is read once per batch).
 * OpenBLAS threads are set from tg_ctx_threads(ctx) at each call, when they
 * differ (openblas_set_num_threads is process-wide: threads that search at
 * the same time should all use contexts with the same thread count, e.g. 1
 * each for one search per worker thread).
 *
 * Compact codecs (tg_index_set_codec, tg_index_wrap): besides the float32
 * rows an index may keep a compact copy, float16 (IEEE binary16, round to
 * nearest even: 2 bytes per value) or int8 (per row: scale = max|x| / 127,
 * codes = rint(x / scale) in -127..127, so x ~ scale * code: 1 byte per
 * value + 4 per row). A search then scans the compact copy (2x / 4x fewer
 * bytes than float32; int8 with integer dot products, the query quantised
 * the same way; AVX-512 VNNI or AVX2 kernels picked at run time) for the
 * best R = max(TG_INDEX_RERANK_MULT k, TG_INDEX_RERANK_MIN) rows, scores
 * those R rows exactly in float32 and returns the best k of them: hits and
 * scores are the float32 ones (to float rounding: cblas_sdot per row rather
 * than the blocked sgemv); only a row that R others outscore in the compact
 * copy can be missed (see the agreement measured below). The float32 rows
 * are read only for the R candidates, so they may live in a mapped file
 * that is mostly not in memory (tg_index_wrap; src/store/matrix.c).
 *
 * Agreement with exact float32 search, R = max(4k, 64), k = 10: the top-1
 * and the top-10 set were identical for every query measured, f16 and int8:
 * bench/store.sh on synthetic 1000-d unit vectors (1000 queries at 10^4 and
 * at 10^5 tiles, 100 at 10^6; 3/4 a stored tile + noise, 1/4 noise),
 * tests/search_codec.py (200 queries, 20000 x 1000) and every view of the
 * demo town (100 panoramas, 200 rotated panoramas, 220 photos: 2209 tiles of
 * the 128-d demo model). R is a margin, not tuned down to the smallest value
 * that kept this: re-ranking 64 rows (256 KB of float32 read) costs about
 * 1 % of an int8 scan of 10^5 rows. Speed (bench/store.sh, 1 thread, CPU
 * time, numpy in the same run): int8 3.4x / 3.3x / 2.6x faster than numpy's
 * float32 matvec + argpartition at 10^4 / 10^5 / 10^6 x 1000, f16 2.0x /
 * 2.0x / 1.6x, f32 1.11x / 1.14x / 1.03x. At 10^6 the int8 scan reads at
 * 1.33x of its bytes' read floor (1.06x at 10^5): short of 3x there.
 *
 *     tg_index_set_codec(ctx, ix, TG_CODEC_I8);     // builds the int8 copy
 *     tg_index_search(ctx, ix, query, 10, best, &n_best);   // scan int8, re-rank f32
 *
 * Ordering: hits are sorted by score, descending; equal scores by id,
 * ascending, so results are deterministic. Rows whose score is NaN are never
 * returned.
 *
 * Ownership: the caller owns the index (tg_index_free, NULL ok) and every
 * buffer it passes in. An index is not thread-safe for writes; concurrent
 * searches on an index nobody modifies are fine (with one tg_ctx each),
 * except the first tg_index_find / tg_index_search_subset on an index whose
 * ids were added out of order: it builds the id table (a write), so call one
 * of them once before sharing such an index between threads.
 */
#ifndef TG_SEARCH_H
#define TG_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows scored per BLAS call. 4096 floats of scores = 16 KiB (L1/L2 sized). */
#define TG_INDEX_BLOCK 4096

/* Storage of the compact copy (tg_index_set_codec). */
enum {
    TG_CODEC_F32 = 0, /* float32 only: exact scan (sgemv) */
    TG_CODEC_F16 = 1, /* + a float16 copy: scan it, re-rank in float32 */
    TG_CODEC_I8 = 2   /* + an int8 copy with a float scale per row: integer scan, re-rank */
};
/* Rows re-ranked in float32 after a compact scan: R = max(MULT k, MIN). */
#define TG_INDEX_RERANK_MULT 4
#define TG_INDEX_RERANK_MIN 64

typedef struct tg_index tg_index;

/* One search result. */
typedef struct tg_hit {
    int64_t id;  /* the row's id as given to tg_index_add */
    size_t row;  /* the row number in the index (0-based) */
    float score; /* inner product with the query, in [-1, 1] for unit vectors */
} tg_hit;

/* Create an empty index for embeddings of `dim` floats (1 <= dim <= 1<<20).
 * [out] *out. Returns 0, TG_EINVAL or TG_ENOMEM; *out is NULL on failure. */
TG_API int tg_index_create(tg_ctx *ctx, int dim, tg_index **out);
/* Free an index and its rows. NULL is accepted. */
TG_API void tg_index_free(tg_index *ix);

/* Make room for at least n_rows rows in total (no effect if there is room).
 * Returns 0 or TG_ENOMEM (index unchanged). */
TG_API int tg_index_reserve(tg_ctx *ctx, tg_index *ix, size_t n_rows);
/* Append one row: copies `dim` floats from emb (used as given: the caller
 * normalises). Ids need not be sorted or unique, but tg_index_find and the
 * subset search find only one row per id. Returns 0, TG_EINVAL, TG_ENOMEM. */
TG_API int tg_index_add(tg_ctx *ctx, tg_index *ix, int64_t id, const float *emb);
/* Remove every row (keeps the allocation). */
TG_API void tg_index_clear(tg_index *ix);

/* Number of rows, embedding size, and the id / data of row `row` (< count). */
TG_API size_t tg_index_count(const tg_index *ix);
TG_API int tg_index_dim(const tg_index *ix);
TG_API int64_t tg_index_id(const tg_index *ix, size_t row);
TG_API const float *tg_index_row(const tg_index *ix, size_t row);
/* Largest id in the index (INT64_MIN when empty). */
TG_API int64_t tg_index_max_id(const tg_index *ix);
/* Row holding `id`: [out] *row. Returns 0 or TG_ENOTFOUND. O(log n) after
 * an O(n log n) sort the first time it is needed after an add. */
TG_API int tg_index_find(tg_ctx *ctx, tg_index *ix, int64_t id, size_t *row);

/* Top-k rows for one query of `dim` floats. [out] hits[0..*n_hits-1] with
 * *n_hits = min(k, rows with a non-NaN score). k >= 1. Returns 0, TG_EINVAL
 * (k < 1, NULL pointers) or TG_ENOMEM; *n_hits = 0 on failure. */
TG_API int tg_index_search(tg_ctx *ctx, const tg_index *ix, const float *query, int k,
                           tg_hit *hits, int *n_hits);

/* Like tg_index_search, but only rows whose id is in ids[0..n_ids-1] are
 * candidates (a spatial prior). Ids not in the index are ignored; repeated
 * ids count once. n_ids may be 0 (then *n_hits = 0). */
TG_API int tg_index_search_subset(tg_ctx *ctx, tg_index *ix, const float *query,
                                  const int64_t *ids, size_t n_ids, int k, tg_hit *hits,
                                  int *n_hits);

/* The score of every row for one query: scores[0..n) (n = tg_index_count),
 * computed by the same blocked product as tg_index_search (the same values,
 * bit for bit, so a rank counted on them agrees with its order). Returns 0,
 * TG_EINVAL (NULL pointers). */
TG_API int tg_index_scores(tg_ctx *ctx, const tg_index *ix, const float *query, float *scores);

/* Top-k for n_queries queries at once (queries: n_queries x dim, row-major):
 * hits[q*k .. q*k + n_hits[q] - 1] are query q's results. One pass over the
 * matrix (sgemm) instead of n_queries passes. Returns as tg_index_search. */
TG_API int tg_index_search_batch(tg_ctx *ctx, const tg_index *ix, const float *queries,
                                 int n_queries, int k, tg_hit *hits, int *n_hits);

/* ---- compact codecs -------------------------------------------------------- */

/* "f32", "f16", "int8" ("?" for anything else). */
TG_API const char *tg_codec_name(int codec);
/* TG_CODEC_* for "f32"/"float32", "f16"/"float16", "int8"/"i8"; -1 otherwise. */
TG_API int tg_codec_parse(const char *s);
/* Bytes of one row's compact codes (dim * 2 for f16, dim for int8, 0 for f32;
 * int8 rows also have one float scale). */
TG_API size_t tg_codec_row_bytes(int codec, int dim);

/* Keep (and from now on maintain, on every add) a compact copy of the rows
 * in `codec`, built now from the float32 rows; TG_CODEC_F32 drops it.
 * Returns 0, TG_EINVAL (unknown codec; int8 with dim > 131072), TG_ENOMEM
 * (index unchanged). */
TG_API int tg_index_set_codec(tg_ctx *ctx, tg_index *ix, int codec);
/* The index's codec (TG_CODEC_F32 for NULL). */
TG_API int tg_index_codec(const tg_index *ix);
/* Re-rank max(mult k, min) rows instead of the defaults (values < 1 count as 1). */
TG_API void tg_index_set_rerank(tg_index *ix, int mult, int min);
/* R for a search of k (>= k; 0 when k < 1). */
TG_API int tg_index_rerank_count(const tg_index *ix, int k);
/* The compact rows (n x tg_codec_row_bytes, row-major) and int8 scales (n),
 * or NULL. Valid until the next add, set_codec, clear or free. */
TG_API const void *tg_index_codes(const tg_index *ix);
TG_API const float *tg_index_scales(const tg_index *ix);

/* An index over arrays the caller keeps alive and unchanged until
 * tg_index_free (e.g. a mapped matrix file, src/store/matrix.c): n rows of
 * dim float32, n strictly ascending ids (checked: TG_EINVAL), and for a
 * compact codec either its codes (+ scales for int8), used as given, or
 * NULL to have them computed now into memory the index owns. Nothing is
 * copied otherwise; the first tg_index_add or tg_index_reserve copies the
 * arrays into memory of the index's own. [out] *out. Returns 0, TG_EINVAL,
 * TG_ENOMEM. */
TG_API int tg_index_wrap(tg_ctx *ctx, int dim, size_t n, const int64_t *ids, const float *rows,
                         int codec, const void *codes, const float *scales, tg_index **out);

/* float32 -> IEEE binary16 bits, round to nearest even (as numpy.float16),
 * overflow to infinity, NaN kept; and back (exact). */
TG_API uint16_t tg_f16_from_f32(float f);
TG_API float tg_f32_from_f16(uint16_t h);
/* int8 codes of v[0..dim): returns scale = max|v| / 127 (0 for a zero
 * vector, NaN when v has inf or NaN: the row then never matches) and
 * codes[j] = rint(v[j] / scale) (all 0 when scale is 0 or NaN). */
TG_API float tg_i8_encode(const float *v, int dim, int8_t *codes);

#ifdef __cplusplus
}
#endif
#endif /* TG_SEARCH_H */
