/* search.c - exact top-k over embeddings with blocked BLAS (see search.h). */
#include "config.h"
#include "transgeo/search.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tg_index {
    int dim;            /* floats per row */
    size_t n;           /* rows in use */
    size_t cap;         /* rows allocated */
    float *data;        /* cap x dim, row-major, 64-byte aligned */
    int64_t *ids;       /* cap ids */
    int ids_sorted;     /* 1 while ids were added in strictly increasing order */
    int64_t max_id;     /* largest id (INT64_MIN when empty) */
    struct idrow {      /* (id, row) sorted by id: built lazily by find */
        int64_t id;
        size_t row;
    } *by_id;
    size_t n_by_id;     /* rows covered by by_id (== n when valid) */
};

int tg_index_create(tg_ctx *ctx, int dim, tg_index **out)
{
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_index_create: out is NULL");
    *out = NULL;
    if (dim < 1 || dim > (1 << 20))
        return tg_set_error(ctx, TG_EINVAL, "index: embedding size %d out of range 1..1048576", dim);
    tg_index *ix = calloc(1, sizeof *ix);
    if (!ix) return tg_set_error(ctx, TG_ENOMEM, "index: out of memory");
    ix->dim = dim;
    ix->ids_sorted = 1;
    ix->max_id = INT64_MIN;
    *out = ix;
    return TG_OK;
}

void tg_index_free(tg_index *ix)
{
    if (!ix) return;
    free(ix->data);
    free(ix->ids);
    free(ix->by_id);
    free(ix);
}

int tg_index_reserve(tg_ctx *ctx, tg_index *ix, size_t n_rows)
{
    if (!ix) return tg_set_error(ctx, TG_EINVAL, "tg_index_reserve: index is NULL");
    if (n_rows <= ix->cap) return TG_OK;
    size_t row_bytes = (size_t)ix->dim * sizeof(float);
    if (n_rows > (SIZE_MAX - 64) / row_bytes)
        return tg_set_error(ctx, TG_ENOMEM, "index: %zu rows of %d floats do not fit in memory",
                            n_rows, ix->dim);
    /* aligned_alloc + copy instead of realloc: keeps 64-byte alignment for BLAS. */
    size_t bytes = (n_rows * row_bytes + 63) & ~(size_t)63;
    float *data = aligned_alloc(64, bytes);
    int64_t *ids = realloc(ix->ids, n_rows * sizeof *ids);
    if (ids) ix->ids = ids;
    if (!data || !ids) {
        free(data);
        return tg_set_error(ctx, TG_ENOMEM, "index: cannot allocate %zu bytes for %zu embeddings",
                            bytes, n_rows);
    }
    if (ix->n) memcpy(data, ix->data, ix->n * row_bytes);
    free(ix->data);
    ix->data = data;
    ix->cap = n_rows;
    return TG_OK;
}

int tg_index_add(tg_ctx *ctx, tg_index *ix, int64_t id, const float *emb)
{
    if (!ix || !emb) return tg_set_error(ctx, TG_EINVAL, "tg_index_add: NULL argument");
    if (ix->n == ix->cap) {
        size_t want = ix->cap < 1024 ? 1024 : ix->cap + ix->cap / 2;
        int rc = tg_index_reserve(ctx, ix, want);
        if (rc) return rc;
    }
    memcpy(ix->data + ix->n * (size_t)ix->dim, emb, (size_t)ix->dim * sizeof(float));
    if (ix->n && id <= ix->max_id) ix->ids_sorted = 0;
    if (id > ix->max_id) ix->max_id = id;
    ix->ids[ix->n++] = id;
    return TG_OK;
}

void tg_index_clear(tg_index *ix)
{
    if (!ix) return;
    ix->n = 0;
    ix->n_by_id = 0;
    ix->ids_sorted = 1;
    ix->max_id = INT64_MIN;
}

size_t tg_index_count(const tg_index *ix) { return ix ? ix->n : 0; }
int tg_index_dim(const tg_index *ix) { return ix ? ix->dim : 0; }
int64_t tg_index_id(const tg_index *ix, size_t row) { return ix->ids[row]; }
const float *tg_index_row(const tg_index *ix, size_t row)
{
    return ix->data + row * (size_t)ix->dim;
}
int64_t tg_index_max_id(const tg_index *ix) { return ix ? ix->max_id : INT64_MIN; }

static int cmp_idrow(const void *a, const void *b)
{
    const struct idrow *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

int tg_index_find(tg_ctx *ctx, tg_index *ix, int64_t id, size_t *row)
{
    if (!ix || !row) return tg_set_error(ctx, TG_EINVAL, "tg_index_find: NULL argument");
    if (ix->ids_sorted) { /* the common case (rows loaded ORDER BY id) */
        size_t lo = 0, hi = ix->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ix->ids[mid] < id) lo = mid + 1;
            else hi = mid;
        }
        if (lo < ix->n && ix->ids[lo] == id) { *row = lo; return TG_OK; }
        return TG_ENOTFOUND;
    }
    if (ix->n_by_id != ix->n) {
        struct idrow *p = realloc(ix->by_id, (ix->n ? ix->n : 1) * sizeof *p);
        if (!p) return tg_set_error(ctx, TG_ENOMEM, "index: out of memory sorting ids");
        ix->by_id = p;
        for (size_t i = 0; i < ix->n; i++) p[i] = (struct idrow){ix->ids[i], i};
        qsort(p, ix->n, sizeof *p, cmp_idrow);
        ix->n_by_id = ix->n;
    }
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->by_id[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < ix->n && ix->by_id[lo].id == id) { *row = ix->by_id[lo].row; return TG_OK; }
    return TG_ENOTFOUND;
}

/* ---- k-heap ------------------------------------------------------------
 * A min-heap of the k best hits so far; the root is the worst of them.
 * "a worse than b": lower score, or equal score and larger id (ties go to
 * the smaller id so results do not depend on the scan order). */
typedef struct heap {
    tg_hit *h;
    int n, k;
} heap;

static inline int worse(const tg_hit *a, const tg_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void heap_sift_down(heap *hp, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < hp->n && worse(&hp->h[l], &hp->h[m])) m = l;
        if (r < hp->n && worse(&hp->h[r], &hp->h[m])) m = r;
        if (m == i) return;
        tg_hit t = hp->h[i];
        hp->h[i] = hp->h[m];
        hp->h[m] = t;
        i = m;
    }
}

static void heap_push(heap *hp, tg_hit x)
{
    if (hp->n < hp->k) {
        int i = hp->n++;
        hp->h[i] = x;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!worse(&hp->h[i], &hp->h[p])) break;
            tg_hit t = hp->h[i];
            hp->h[i] = hp->h[p];
            hp->h[p] = t;
            i = p;
        }
    } else if (worse(&hp->h[0], &x)) {
        hp->h[0] = x;
        heap_sift_down(hp, 0);
    }
}

/* Merge one block of scores (rows row0 .. row0+nb-1) into the heap. The
 * threshold test keeps the common case (a score below the k-th best) to one
 * compare per row. */
static void heap_scan(heap *hp, const tg_index *ix, size_t row0, const float *s, size_t nb)
{
    size_t i = 0;
    for (; i < nb && hp->n < hp->k; i++) {
        if (isnan(s[i])) continue;
        heap_push(hp, (tg_hit){ix->ids[row0 + i], row0 + i, s[i]});
    }
    float thr = hp->n ? hp->h[0].score : -INFINITY;
    for (; i < nb; i++) {
        if (!(s[i] >= thr)) continue; /* also skips NaN */
        heap_push(hp, (tg_hit){ix->ids[row0 + i], row0 + i, s[i]});
        thr = hp->h[0].score;
    }
}

static int cmp_hit_desc(const void *a, const void *b)
{
    const tg_hit *x = a, *y = b;
    if (worse(x, y)) return 1;
    if (worse(y, x)) return -1;
    return 0;
}

static void heap_finish(heap *hp, int *n_hits)
{
    qsort(hp->h, (size_t)hp->n, sizeof *hp->h, cmp_hit_desc);
    *n_hits = hp->n;
}

static void set_blas_threads(tg_ctx *ctx)
{
#ifdef TG_HAVE_OPENBLAS
    int want = tg_ctx_threads(ctx);
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
#else
    (void)ctx;
#endif
}

static int check_args(tg_ctx *ctx, const char *fn, const tg_index *ix, const void *q, int k,
                      const void *hits, const int *n_hits)
{
    if (!ix || !q || !hits || !n_hits)
        return tg_set_error(ctx, TG_EINVAL, "%s: NULL argument", fn);
    if (k < 1) return tg_set_error(ctx, TG_EINVAL, "%s: k = %d, expected 1 or more", fn, k);
    return TG_OK;
}

int tg_index_search(tg_ctx *ctx, const tg_index *ix, const float *query, int k, tg_hit *hits,
                    int *n_hits)
{
    int rc = check_args(ctx, "tg_index_search", ix, query, k, hits, n_hits);
    if (rc) {
        if (n_hits) *n_hits = 0;
        return rc;
    }
    *n_hits = 0;
    if (ix->n == 0) return TG_OK;
    float *scores = malloc(TG_INDEX_BLOCK * sizeof *scores);
    if (!scores) return tg_set_error(ctx, TG_ENOMEM, "index search: out of memory");
    set_blas_threads(ctx);
    heap hp = {hits, 0, k};
    for (size_t r0 = 0; r0 < ix->n; r0 += TG_INDEX_BLOCK) {
        size_t nb = ix->n - r0 < TG_INDEX_BLOCK ? ix->n - r0 : TG_INDEX_BLOCK;
        /* scores[0..nb) = M[r0..r0+nb) . query (row-major, no transpose) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, ix->dim, 1.0f,
                    ix->data + r0 * (size_t)ix->dim, ix->dim, query, 1, 0.0f, scores, 1);
        heap_scan(&hp, ix, r0, scores, nb);
    }
    free(scores);
    heap_finish(&hp, n_hits);
    return TG_OK;
}

int tg_index_scores(tg_ctx *ctx, const tg_index *ix, const float *query, float *scores)
{
    if (!ix || !query || !scores) return tg_set_error(ctx, TG_EINVAL, "tg_index_scores: NULL argument");
    set_blas_threads(ctx);
    for (size_t r0 = 0; r0 < ix->n; r0 += TG_INDEX_BLOCK) {
        size_t nb = ix->n - r0 < TG_INDEX_BLOCK ? ix->n - r0 : TG_INDEX_BLOCK;
        /* the same call, on the same blocks, as tg_index_search */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, ix->dim, 1.0f,
                    ix->data + r0 * (size_t)ix->dim, ix->dim, query, 1, 0.0f, scores + r0, 1);
    }
    return TG_OK;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int tg_index_search_subset(tg_ctx *ctx, tg_index *ix, const float *query, const int64_t *ids,
                           size_t n_ids, int k, tg_hit *hits, int *n_hits)
{
    int rc = check_args(ctx, "tg_index_search_subset", ix, query, k, hits, n_hits);
    if (rc) {
        if (n_hits) *n_hits = 0;
        return rc;
    }
    *n_hits = 0;
    if (n_ids == 0 || ix->n == 0) return TG_OK;
    if (!ids) return tg_set_error(ctx, TG_EINVAL, "tg_index_search_subset: ids is NULL");
    size_t *rows = malloc(n_ids * sizeof *rows);
    if (!rows) return tg_set_error(ctx, TG_ENOMEM, "index search: out of memory");
    size_t n_rows = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t row;
        rc = tg_index_find(ctx, ix, ids[i], &row);
        if (rc == TG_ENOTFOUND) continue;
        if (rc) goto fail;
        rows[n_rows++] = row;
    }
    rc = TG_OK;
    /* Ascending rows: unique, and a forward scan of memory. */
    qsort(rows, n_rows, sizeof *rows, cmp_size);
    set_blas_threads(ctx);
    heap hp = {hits, 0, k};
    for (size_t i = 0; i < n_rows; i++) {
        if (i && rows[i] == rows[i - 1]) continue;
        float s = cblas_sdot(ix->dim, ix->data + rows[i] * (size_t)ix->dim, 1, query, 1);
        if (isnan(s)) continue;
        heap_push(&hp, (tg_hit){ix->ids[rows[i]], rows[i], s});
    }
    heap_finish(&hp, n_hits);
fail:
    free(rows);
    return rc;
}

int tg_index_search_batch(tg_ctx *ctx, const tg_index *ix, const float *queries, int n_queries,
                          int k, tg_hit *hits, int *n_hits)
{
    int rc = check_args(ctx, "tg_index_search_batch", ix, queries, k, hits, n_hits);
    if (rc) return rc;
    if (n_queries < 1)
        return tg_set_error(ctx, TG_EINVAL, "tg_index_search_batch: %d queries, expected 1 or more",
                            n_queries);
    for (int q = 0; q < n_queries; q++) n_hits[q] = 0;
    if (ix->n == 0) return TG_OK;
    /* Fewer rows per block with many queries: the score block stays ~1 MiB. */
    size_t block = TG_INDEX_BLOCK;
    while (block > 256 && block * (size_t)n_queries > (1u << 18)) block /= 2;
    float *scores = malloc(block * (size_t)n_queries * sizeof *scores);
    heap *hp = calloc((size_t)n_queries, sizeof *hp);
    if (!scores || !hp) {
        free(scores);
        free(hp);
        return tg_set_error(ctx, TG_ENOMEM, "index search: out of memory for %d queries", n_queries);
    }
    for (int q = 0; q < n_queries; q++) hp[q] = (heap){hits + (size_t)q * k, 0, k};
    set_blas_threads(ctx);
    for (size_t r0 = 0; r0 < ix->n; r0 += block) {
        size_t nb = ix->n - r0 < block ? ix->n - r0 : block;
        /* S[q][i] = Q[q] . M[r0+i]: S (n_queries x nb) = Q (n_queries x dim) M_blk^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_queries, (int)nb, ix->dim, 1.0f,
                    queries, ix->dim, ix->data + r0 * (size_t)ix->dim, ix->dim, 0.0f, scores,
                    (int)nb);
        for (int q = 0; q < n_queries; q++) heap_scan(&hp[q], ix, r0, scores + (size_t)q * nb, nb);
    }
    for (int q = 0; q < n_queries; q++) heap_finish(&hp[q], &n_hits[q]);
    free(scores);
    free(hp);
    return TG_OK;
}
