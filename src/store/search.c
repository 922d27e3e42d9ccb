/* search.c - exact top-k over embeddings with blocked BLAS (see search.h). */
#include "config.h"
#include "transgeo/search.h"
#include "qscan.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tg_index {
    int dim;            /* floats per row */
    size_t n;           /* rows in use */
    size_t cap;         /* rows allocated in the owned arrays (0 while borrowed) */
    const float *data;  /* n x dim float32, row-major: own_data, or borrowed (wrap) */
    const int64_t *ids; /* n ids: own_ids or borrowed */
    float *own_data;    /* cap x dim, 64-byte aligned, or NULL */
    int64_t *own_ids;   /* cap ids, or NULL */
    int borrowed;       /* 1: data/ids (and codes/scales when given) belong to the wrapper */
    int codec;          /* TG_CODEC_* */
    const void *codes;  /* n x dim compact rows (int8_t or uint16_t), NULL for F32 */
    const float *scales; /* n per-row int8 scales, NULL otherwise */
    void *own_codes;    /* cap (or n, after set_codec on a borrowed index) rows of codes */
    float *own_scales;
    size_t code_cap;    /* rows allocated in own_codes / own_scales */
    int rerank_mult, rerank_min; /* R = max(mult k, min) candidates re-ranked */
    int ids_sorted;     /* 1 while ids were added in strictly increasing order */
    int64_t max_id;     /* largest id (INT64_MIN when empty) */
    struct idrow {      /* (id, row) sorted by id: built lazily by find */
        int64_t id;
        size_t row;
    } *by_id;
    size_t n_by_id;     /* rows covered by by_id (== n when valid) */
};

/* ---- codecs ------------------------------------------------------------- */

const char *tg_codec_name(int codec)
{
    switch (codec) {
    case TG_CODEC_F32: return "f32";
    case TG_CODEC_F16: return "f16";
    case TG_CODEC_I8: return "int8";
    default: return "?";
    }
}

int tg_codec_parse(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "f32") || !strcmp(s, "float32")) return TG_CODEC_F32;
    if (!strcmp(s, "f16") || !strcmp(s, "float16")) return TG_CODEC_F16;
    if (!strcmp(s, "int8") || !strcmp(s, "i8")) return TG_CODEC_I8;
    return -1;
}

size_t tg_codec_row_bytes(int codec, int dim)
{
    switch (codec) {
    case TG_CODEC_F16: return (size_t)dim * 2;
    case TG_CODEC_I8: return (size_t)dim;
    default: return 0;
    }
}

float tg_i8_encode(const float *v, int dim, int8_t *codes)
{
    if (dim < 1) return 0.0f;
    float maxabs = 0;
    int finite = 1;
    for (int j = 0; j < dim; j++) {
        float a = fabsf(v[j]);
        if (!(a <= FLT_MAX)) finite = 0; /* inf or NaN */
        else if (a > maxabs) maxabs = a;
    }
    if (!finite || maxabs == 0) {
        /* a zero row scores 0; a row with inf/NaN scores NaN in float32 and
         * is never returned: a NaN scale keeps that true of the scan */
        for (int j = 0; j < dim; j++) codes[j] = 0;
        return finite ? 0.0f : NAN;
    }
    float scale = maxabs / 127.0f;
    for (int j = 0; j < dim; j++) {
        /* x / scale (not x * (1/scale)): the same float division numpy does;
         * rint rounds half to even as numpy.rint does */
        float c = rintf(v[j] / scale);
        codes[j] = (int8_t)(c > 127 ? 127 : c < -127 ? -127 : c);
    }
    return scale;
}

static void encode_row(int codec, int dim, const float *v, void *codes, float *scale)
{
    if (codec == TG_CODEC_F16) {
        uint16_t *h = codes;
        for (int j = 0; j < dim; j++) h[j] = tg_f16_from_f32(v[j]);
    } else if (codec == TG_CODEC_I8) {
        *scale = tg_i8_encode(v, dim, codes);
    }
}

/* ---- lifetime ------------------------------------------------------------ */

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
    ix->rerank_mult = TG_INDEX_RERANK_MULT;
    ix->rerank_min = TG_INDEX_RERANK_MIN;
    *out = ix;
    return TG_OK;
}

void tg_index_free(tg_index *ix)
{
    if (!ix) return;
    free(ix->own_data);
    free(ix->own_ids);
    free(ix->own_codes);
    free(ix->own_scales);
    free(ix->by_id);
    free(ix);
}

static int check_codec(tg_ctx *ctx, int codec, int dim)
{
    if (codec != TG_CODEC_F32 && codec != TG_CODEC_F16 && codec != TG_CODEC_I8)
        return tg_set_error(ctx, TG_EINVAL, "index: codec %d unknown (expected f32 0, f16 1, int8 2)",
                            codec);
    /* int8 sums are exact in int32 up to 2^31 / 127^2 = 133143 elements */
    if (codec == TG_CODEC_I8 && dim > (1 << 17))
        return tg_set_error(ctx, TG_EINVAL,
                            "index: int8 codec needs embeddings of at most 131072 floats, not %d", dim);
    return TG_OK;
}

int tg_index_wrap(tg_ctx *ctx, int dim, size_t n, const int64_t *ids, const float *rows, int codec,
                  const void *codes, const float *scales, tg_index **out)
{
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_index_wrap: out is NULL");
    *out = NULL;
    if (n && (!ids || !rows)) return tg_set_error(ctx, TG_EINVAL, "tg_index_wrap: NULL rows or ids");
    int rc = check_codec(ctx, codec, dim);
    if (rc) return rc;
    if (codec == TG_CODEC_I8 && codes && !scales)
        return tg_set_error(ctx, TG_EINVAL, "tg_index_wrap: int8 codes without their scales");
    for (size_t i = 1; i < n; i++)
        if (ids[i] <= ids[i - 1])
            return tg_set_error(ctx, TG_EINVAL,
                                "tg_index_wrap: ids must be strictly ascending (row %zu: %lld after %lld)",
                                i, (long long)ids[i], (long long)ids[i - 1]);
    tg_index *ix = NULL;
    rc = tg_index_create(ctx, dim, &ix);
    if (rc) return rc;
    ix->borrowed = 1;
    ix->n = n;
    ix->data = rows;
    ix->ids = ids;
    ix->max_id = n ? ids[n - 1] : INT64_MIN;
    if (codec != TG_CODEC_F32 && codes) {
        ix->codec = codec;
        ix->codes = codes;
        ix->scales = scales;
    } else if (codec != TG_CODEC_F32) {
        rc = tg_index_set_codec(ctx, ix, codec);
        if (rc) {
            tg_index_free(ix);
            return rc;
        }
    }
    *out = ix;
    return TG_OK;
}

/* Copy borrowed arrays into owned ones of capacity cap (>= n): the first
 * write to a wrapped index. */
static int own_arrays(tg_ctx *ctx, tg_index *ix, size_t cap)
{
    size_t row_bytes = (size_t)ix->dim * sizeof(float);
    if (cap < 1) cap = 1;
    if (cap > (SIZE_MAX - 64) / row_bytes)
        return tg_set_error(ctx, TG_ENOMEM, "index: %zu rows of %d floats do not fit in memory",
                            cap, ix->dim);
    size_t bytes = (cap * row_bytes + 63) & ~(size_t)63;
    /* aligned_alloc + copy instead of realloc: keeps 64-byte alignment for BLAS. */
    float *data = aligned_alloc(64, bytes);
    int64_t *ids = malloc(cap * sizeof *ids);
    size_t cb = tg_codec_row_bytes(ix->codec, ix->dim);
    void *codes = cb ? malloc(cap * cb) : NULL;
    float *scales = ix->codec == TG_CODEC_I8 ? malloc(cap * sizeof *scales) : NULL;
    if (!data || !ids || (cb && !codes) || (ix->codec == TG_CODEC_I8 && !scales)) {
        free(data);
        free(ids);
        free(codes);
        free(scales);
        return tg_set_error(ctx, TG_ENOMEM, "index: cannot allocate %zu bytes for %zu embeddings",
                            bytes, cap);
    }
    if (ix->n) {
        memcpy(data, ix->data, ix->n * row_bytes);
        memcpy(ids, ix->ids, ix->n * sizeof *ids);
        if (cb) memcpy(codes, ix->codes, ix->n * cb);
        if (scales) memcpy(scales, ix->scales, ix->n * sizeof *scales);
    }
    free(ix->own_data);
    free(ix->own_ids);
    free(ix->own_codes);
    free(ix->own_scales);
    ix->data = ix->own_data = data;
    ix->ids = ix->own_ids = ids;
    ix->codes = ix->own_codes = codes;
    ix->scales = ix->own_scales = scales;
    ix->cap = ix->code_cap = cap;
    ix->borrowed = 0;
    return TG_OK;
}

int tg_index_reserve(tg_ctx *ctx, tg_index *ix, size_t n_rows)
{
    if (!ix) return tg_set_error(ctx, TG_EINVAL, "tg_index_reserve: index is NULL");
    if (!ix->borrowed && n_rows <= ix->cap) return TG_OK;
    return own_arrays(ctx, ix, n_rows > ix->n ? n_rows : ix->n);
}

int tg_index_add(tg_ctx *ctx, tg_index *ix, int64_t id, const float *emb)
{
    if (!ix || !emb) return tg_set_error(ctx, TG_EINVAL, "tg_index_add: NULL argument");
    if (ix->borrowed || ix->n == ix->cap) {
        size_t want = ix->n < 1024 ? 1024 : ix->n + ix->n / 2;
        int rc = own_arrays(ctx, ix, want);
        if (rc) return rc;
    }
    memcpy(ix->own_data + ix->n * (size_t)ix->dim, emb, (size_t)ix->dim * sizeof(float));
    size_t cb = tg_codec_row_bytes(ix->codec, ix->dim);
    if (cb)
        encode_row(ix->codec, ix->dim, emb, (char *)ix->own_codes + ix->n * cb,
                   ix->own_scales ? ix->own_scales + ix->n : NULL);
    if (ix->n && id <= ix->max_id) ix->ids_sorted = 0;
    if (id > ix->max_id) ix->max_id = id;
    ix->own_ids[ix->n++] = id;
    return TG_OK;
}

void tg_index_clear(tg_index *ix)
{
    if (!ix) return;
    if (ix->borrowed) { /* forget the wrapper's arrays */
        ix->data = NULL;
        ix->ids = NULL;
        ix->codes = NULL;
        ix->scales = NULL;
        ix->borrowed = 0;
        ix->cap = 0;
    }
    ix->n = 0;
    ix->n_by_id = 0;
    ix->ids_sorted = 1;
    ix->max_id = INT64_MIN;
}

int tg_index_set_codec(tg_ctx *ctx, tg_index *ix, int codec)
{
    if (!ix) return tg_set_error(ctx, TG_EINVAL, "tg_index_set_codec: index is NULL");
    int rc = check_codec(ctx, codec, ix->dim);
    if (rc) return rc;
    if (codec == ix->codec) return TG_OK;
    size_t cb = tg_codec_row_bytes(codec, ix->dim);
    size_t cap = ix->borrowed ? ix->n : ix->cap;
    void *codes = NULL;
    float *scales = NULL;
    if (cb && cap) {
        codes = malloc(cap * cb);
        scales = codec == TG_CODEC_I8 ? malloc(cap * sizeof *scales) : NULL;
        if (!codes || (codec == TG_CODEC_I8 && !scales)) {
            free(codes);
            free(scales);
            return tg_set_error(ctx, TG_ENOMEM, "index: cannot allocate %s codes for %zu rows",
                                tg_codec_name(codec), cap);
        }
        for (size_t r = 0; r < ix->n; r++)
            encode_row(codec, ix->dim, ix->data + r * (size_t)ix->dim, (char *)codes + r * cb,
                       scales ? scales + r : NULL);
    }
    /* codes that belonged to a wrapper are simply forgotten */
    free(ix->own_codes);
    free(ix->own_scales);
    ix->codes = ix->own_codes = codes;
    ix->scales = ix->own_scales = scales;
    ix->code_cap = cap;
    ix->codec = codec;
    return TG_OK;
}

int tg_index_codec(const tg_index *ix) { return ix ? ix->codec : TG_CODEC_F32; }

void tg_index_set_rerank(tg_index *ix, int mult, int min)
{
    if (!ix) return;
    ix->rerank_mult = mult < 1 ? 1 : mult;
    ix->rerank_min = min < 1 ? 1 : min;
}

int tg_index_rerank_count(const tg_index *ix, int k)
{
    if (!ix || k < 1) return 0;
    long long r = (long long)ix->rerank_mult * k;
    if (r < ix->rerank_min) r = ix->rerank_min;
    if (r < k) r = k;
    return r > INT32_MAX / 2 ? INT32_MAX / 2 : (int)r;
}

const void *tg_index_codes(const tg_index *ix) { return ix ? ix->codes : NULL; }
const float *tg_index_scales(const tg_index *ix) { return ix ? ix->scales : NULL; }

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

/* ---- compact scans --------------------------------------------------------
 * With a compact codec a search keeps the best R = tg_index_rerank_count(k)
 * rows by their approximate score (a heap of R, as the exact search keeps
 * k), then scores those R rows exactly in float32 and keeps the best k: the
 * hits and scores returned are exact; only the candidate set is approximate
 * (a true top-k row is lost when R rows score above it in the compact
 * copy: bench/store.sh and tests/test_search.c measure how often). */

/* A query in the index's compact form (int8 needs it quantised too). */
typedef struct cquery {
    const float *q;   /* float32 query (f16 scan and the re-rank) */
    int8_t *q8;       /* int8 codes of q (int8 codec) */
    float qscale;
} cquery;

static int cquery_make(tg_ctx *ctx, const tg_index *ix, const float *q, cquery *cq)
{
    cq->q = q;
    cq->q8 = NULL;
    cq->qscale = 0;
    if (ix->codec != TG_CODEC_I8) return TG_OK;
    cq->q8 = malloc((size_t)ix->dim);
    if (!cq->q8) return tg_set_error(ctx, TG_ENOMEM, "index search: out of memory");
    cq->qscale = tg_i8_encode(q, ix->dim, cq->q8);
    return TG_OK;
}

/* Approximate scores of rows r0 .. r0+nb-1. */
static void approx_scores(const tg_index *ix, size_t r0, size_t nb, const cquery *cq, float *out)
{
    size_t d = (size_t)ix->dim;
    if (ix->codec == TG_CODEC_I8)
        tgq_i8_scores((const int8_t *)ix->codes + r0 * d, ix->scales + r0, nb, ix->dim, cq->q8,
                      cq->qscale, out);
    else
        tgq_f16_scores((const uint16_t *)ix->codes + r0 * d, nb, ix->dim, cq->q, out);
}

static int cmp_hit_row(const void *a, const void *b)
{
    const tg_hit *x = a, *y = b;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* The exact float32 top k of the candidates cand[0..nc) (reordered). The
 * rows are read in ascending order: a forward walk through a mapped file. */
static void rerank(const tg_index *ix, const float *q, tg_hit *cand, int nc, int k, tg_hit *hits,
                   int *n_hits)
{
    qsort(cand, (size_t)nc, sizeof *cand, cmp_hit_row);
    heap hp = {hits, 0, k};
    for (int i = 0; i < nc; i++) {
        float s = cblas_sdot(ix->dim, ix->data + cand[i].row * (size_t)ix->dim, 1, q, 1);
        if (isnan(s)) continue;
        heap_push(&hp, (tg_hit){cand[i].id, cand[i].row, s});
    }
    heap_finish(&hp, n_hits);
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
    int R = tg_index_rerank_count(ix, k);
    int compact = ix->codec != TG_CODEC_F32 && (size_t)R < ix->n;
    float *scores = malloc(TG_INDEX_BLOCK * sizeof *scores);
    tg_hit *cand = compact ? malloc((size_t)R * sizeof *cand) : NULL;
    cquery cq = {0};
    if (!scores || (compact && !cand)) {
        rc = tg_set_error(ctx, TG_ENOMEM, "index search: out of memory");
        goto done;
    }
    set_blas_threads(ctx);
    if (compact) {
        rc = cquery_make(ctx, ix, query, &cq);
        if (rc) goto done;
        heap hp = {cand, 0, R};
        for (size_t r0 = 0; r0 < ix->n; r0 += TG_INDEX_BLOCK) {
            size_t nb = ix->n - r0 < TG_INDEX_BLOCK ? ix->n - r0 : TG_INDEX_BLOCK;
            approx_scores(ix, r0, nb, &cq, scores);
            heap_scan(&hp, ix, r0, scores, nb);
        }
        rerank(ix, query, cand, hp.n, k, hits, n_hits);
        goto done;
    }
    heap hp = {hits, 0, k};
    for (size_t r0 = 0; r0 < ix->n; r0 += TG_INDEX_BLOCK) {
        size_t nb = ix->n - r0 < TG_INDEX_BLOCK ? ix->n - r0 : TG_INDEX_BLOCK;
        /* scores[0..nb) = M[r0..r0+nb) . query (row-major, no transpose) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, ix->dim, 1.0f,
                    ix->data + r0 * (size_t)ix->dim, ix->dim, query, 1, 0.0f, scores, 1);
        heap_scan(&hp, ix, r0, scores, nb);
    }
    heap_finish(&hp, n_hits);
done:
    free(cq.q8);
    free(cand);
    free(scores);
    return rc;
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
    tg_hit *cand = NULL;
    cquery cq = {0};
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
    size_t u = 0;
    for (size_t i = 0; i < n_rows; i++)
        if (!u || rows[i] != rows[u - 1]) rows[u++] = rows[i];
    n_rows = u;
    set_blas_threads(ctx);
    int R = tg_index_rerank_count(ix, k);
    if (ix->codec != TG_CODEC_F32 && (size_t)R < n_rows) {
        cand = malloc((size_t)R * sizeof *cand);
        if (!cand) {
            rc = tg_set_error(ctx, TG_ENOMEM, "index search: out of memory");
            goto fail;
        }
        rc = cquery_make(ctx, ix, query, &cq);
        if (rc) goto fail;
        heap hp = {cand, 0, R};
        for (size_t i = 0; i < n_rows; i++) {
            float s;
            approx_scores(ix, rows[i], 1, &cq, &s);
            if (isnan(s)) continue;
            heap_push(&hp, (tg_hit){ix->ids[rows[i]], rows[i], s});
        }
        rerank(ix, query, cand, hp.n, k, hits, n_hits);
        goto fail;
    }
    heap hp = {hits, 0, k};
    for (size_t i = 0; i < n_rows; i++) {
        float s = cblas_sdot(ix->dim, ix->data + rows[i] * (size_t)ix->dim, 1, query, 1);
        if (isnan(s)) continue;
        heap_push(&hp, (tg_hit){ix->ids[rows[i]], rows[i], s});
    }
    heap_finish(&hp, n_hits);
fail:
    free(cq.q8);
    free(cand);
    free(rows);
    return rc;
}

/* Batch search over a compact copy: blocks of rows small enough to stay in
 * L2 while every query scans them, then one re-rank per query. */
static int search_batch_compact(tg_ctx *ctx, const tg_index *ix, const float *queries,
                                int n_queries, int k, int R, tg_hit *hits, int *n_hits)
{
    enum { CBLOCK = 256 };
    int rc = TG_OK;
    size_t d = (size_t)ix->dim;
    float *scores = malloc(CBLOCK * sizeof *scores);
    tg_hit *cand = malloc((size_t)R * (size_t)n_queries * sizeof *cand);
    heap *hp = calloc((size_t)n_queries, sizeof *hp);
    cquery *cq = calloc((size_t)n_queries, sizeof *cq);
    if (!scores || !cand || !hp || !cq) {
        rc = tg_set_error(ctx, TG_ENOMEM, "index search: out of memory for %d queries", n_queries);
        goto done;
    }
    for (int q = 0; q < n_queries; q++) {
        rc = cquery_make(ctx, ix, queries + (size_t)q * d, &cq[q]);
        if (rc) goto done;
        hp[q] = (heap){cand + (size_t)q * R, 0, R};
    }
    for (size_t r0 = 0; r0 < ix->n; r0 += CBLOCK) {
        size_t nb = ix->n - r0 < CBLOCK ? ix->n - r0 : CBLOCK;
        for (int q = 0; q < n_queries; q++) {
            approx_scores(ix, r0, nb, &cq[q], scores);
            heap_scan(&hp[q], ix, r0, scores, nb);
        }
    }
    for (int q = 0; q < n_queries; q++)
        rerank(ix, queries + (size_t)q * d, hp[q].h, hp[q].n, k, hits + (size_t)q * k, &n_hits[q]);
done:
    if (cq)
        for (int q = 0; q < n_queries; q++) free(cq[q].q8);
    free(cq);
    free(hp);
    free(cand);
    free(scores);
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
    int R = tg_index_rerank_count(ix, k);
    if (ix->codec != TG_CODEC_F32 && (size_t)R < ix->n) {
        set_blas_threads(ctx);
        return search_batch_compact(ctx, ix, queries, n_queries, k, R, hits, n_hits);
    }
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
