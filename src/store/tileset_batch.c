/* tileset_batch.c - every tile's score for many queries in one pass over a
 * tileset's matrix (see tg_tileset_scores_batch in store.h). Kept apart from
 * search.c and tileset.c: it reads the matrix through the public tg_index
 * calls only, so it does not depend on how the index stores its rows. */
#include "config.h"
#include "transgeo/store.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

int tg_tileset_scores_batch(tg_ctx *ctx, const tg_tileset *ts, const float *queries, int n_q,
                            tg_tileset_block_fn fn, void *user)
{
    if (!ts || !queries || !fn || n_q < 1)
        return tg_set_error(ctx, TG_EINVAL, "tg_tileset_scores_batch: NULL argument or %d queries",
                            n_q);
    const tg_index *ix = tg_tileset_index(ts);
    size_t n = tg_index_count(ix);
    int dim = tg_index_dim(ix);
    if (n == 0) return TG_OK;
    /* As tg_index_search_batch: the score block stays about 1 MiB, so it is
     * consumed from cache by fn while the matrix streams through once. */
    size_t block = TG_INDEX_BLOCK;
    while (block > 256 && block * (size_t)n_q > (1u << 18)) block /= 2;
    float *scores = malloc(block * (size_t)n_q * sizeof *scores);
    float *gather = NULL; /* rows copied together when a block is not contiguous */
    if (!scores)
        return tg_set_error(ctx, TG_ENOMEM, "scores: out of memory for %d queries", n_q);
#ifdef TG_HAVE_OPENBLAS
    int want = tg_ctx_threads(ctx);
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
#endif
    int rc = TG_OK;
    for (size_t r0 = 0; r0 < n && !rc; r0 += block) {
        size_t nb = n - r0 < block ? n - r0 : block;
        const float *m = tg_index_row(ix, r0);
        if (tg_index_row(ix, r0 + nb - 1) != m + (nb - 1) * (size_t)dim) {
            if (!gather && !(gather = malloc(block * (size_t)dim * sizeof *gather))) {
                rc = tg_set_error(ctx, TG_ENOMEM, "scores: out of memory");
                break;
            }
            for (size_t i = 0; i < nb; i++)
                memcpy(gather + i * (size_t)dim, tg_index_row(ix, r0 + i),
                       (size_t)dim * sizeof *gather);
            m = gather;
        }
        /* S (n_q x nb) = Q (n_q x dim) M_blk^T, row-major */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_q, (int)nb, dim, 1.0f, queries,
                    dim, m, dim, 0.0f, scores, (int)nb);
        rc = fn(user, r0, nb, scores);
    }
    free(scores);
    free(gather);
    return rc;
}
