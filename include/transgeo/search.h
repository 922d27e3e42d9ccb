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

#ifdef __cplusplus
}
#endif
#endif /* TG_SEARCH_H */
