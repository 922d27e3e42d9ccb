/*
 * transgeo_scan.c - scoring and the exact top-k over stored embeddings, in a
 * form PostgreSQL can split over parallel workers and ship to shards: the
 * module transgeo_scan, beside the module transgeo.
 *
 * Why a module of its own, linked to nothing but PostgreSQL: a parallel
 * worker is a new process for each query, and it loads the library of every
 * function it runs. Loading transgeo.so loads libtransgeo and with it GDAL,
 * PROJ, SpatiaLite and OpenBLAS: measured about 250 ms a worker on this
 * machine, longer than the whole scan of 10^5 tiles (the workers started
 * after the leader had scanned every block alone). This file loads in well
 * under a millisecond; a shard running ORDER BY tg_score(...) for
 * postgres_fdw loads only it too.
 *
 *   tg_score(embedding bytea, query bytea) -> float4
 *       the inner product <embedding, query> of two little-endian float32
 *       vectors of the same length (the cosine similarity of unit vectors,
 *       as tg_index scores them: search.h). IMMUTABLE, STRICT, PARALLEL SAFE,
 *       part of the extension: postgres_fdw ships it to a shard whose server
 *       lists the extension (OPTIONS (extensions 'transgeo')), so
 *       ORDER BY tg_score(...) DESC LIMIT k runs there.
 *
 *   tg_topk(id bigint, embedding bytea, query bytea, k int) -> tg_hit[]
 *       aggregate: the k rows of highest tg_score, best first, ties by id
 *       ascending (tg_index_search's order), rows with a NaN score left out.
 *       Its state is a bounded min-heap of (id, score); the combine function
 *       merges two heaps, serialfunc/deserialfunc move a heap between
 *       processes, so with PARALLEL = SAFE the planner runs Partial
 *       Aggregate in each worker over its share of a Parallel Seq Scan and a
 *       Finalize Aggregate above the Gather:
 *
 *   => EXPLAIN (COSTS OFF) SELECT tg_topk(id, embedding, :'q', 10) FROM tg_tiles;
 *    Finalize Aggregate
 *      ->  Gather
 *            Workers Planned: 2
 *            ->  Partial Aggregate
 *                  ->  Parallel Append
 *                        ->  Parallel Seq Scan on tg_tiles_local tg_tiles_1
 *
 * Why an aggregate and not ORDER BY tg_score(...) LIMIT k: a parallel top-N
 * sort also works (Gather Merge over per-worker top-N sorts), but it carries
 * every row's score through the sort node; the aggregate keeps k entries
 * per worker and reads each embedding once, in place (no detoasted copy for
 * inline values). Both are exact and give the same rows.
 *
 * query and k must be the same for every row of a group (constants or
 * parameters): the first row's are used, a row of another length is an error.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "fmgr.h"
#include "port/pg_bswap.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

PG_MODULE_MAGIC;

/* Largest k the aggregate accepts (as tg_matches in mod_transgeo). */
#define TOPK_MAX 100000

/* n little-endian float32 (an embedding's bytes) -> native floats. */
static void floats_from_le(const void *bytes, int n, float *out)
{
    memcpy(out, bytes, (size_t)n * sizeof(float));
#ifdef WORDS_BIGENDIAN
    for (int i = 0; i < n; i++) {
        uint32 u;
        memcpy(&u, &out[i], 4);
        u = pg_bswap32(u);
        memcpy(&out[i], &u, 4);
    }
#endif
}

/* Inner product of n floats stored little-endian at a (unaligned) and q. */
static double dot_le(const char *a, const float *q, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        float v;
        memcpy(&v, a + 4 * (size_t)i, 4);
#ifdef WORDS_BIGENDIAN
        uint32 u;
        memcpy(&u, &v, 4);
        u = pg_bswap32(u);
        memcpy(&v, &u, 4);
#endif
        s += (double)v * q[i];
    }
    return s;
}

static void check_embedding(const char *fn, int argno, const bytea *b)
{
    Size n = VARSIZE_ANY_EXHDR(b);
    if (n == 0 || n % 4)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): argument %d: an embedding is a whole number of float32 "
                               "(4-byte) values, got %zu bytes", fn, argno, (size_t)n)));
}

/* tg_score(embedding bytea, query bytea) -> float4 */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_score_pg);
Datum tg_score_pg(PG_FUNCTION_ARGS)
{
    bytea *e = PG_GETARG_BYTEA_PP(0), *q = PG_GETARG_BYTEA_PP(1);
    check_embedding("tg_score", 1, e);
    check_embedding("tg_score", 2, q);
    Size ne = VARSIZE_ANY_EXHDR(e), nq = VARSIZE_ANY_EXHDR(q);
    if (ne != nq)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("tg_score(): the embeddings differ in size (%zu and %zu floats): "
                               "they were made by different models", ne / 4, nq / 4)));
    int n = (int)(nq / 4);
    float *qv = palloc(nq);
    floats_from_le(VARDATA_ANY(q), n, qv);
    double s = dot_le(VARDATA_ANY(e), qv, n);
    pfree(qv);
    PG_RETURN_FLOAT4((float4)s);
}

/* ---- the aggregate -------------------------------------------------------- */

typedef struct topk_hit {
    int64 id;
    float4 score;
} topk_hit;

typedef struct topk_state {
    int k;         /* capacity */
    int n;         /* entries in heap */
    int dim;       /* floats of the query (0 before the first row, and in a
                      deserialised state, which takes no more rows) */
    float *q;      /* the query, native floats */
    topk_hit *heap; /* min-heap: heap[0] is the worst kept hit */
} topk_state;

/* a ranks below b: lower score, or equal score and larger id. */
static inline bool worse(const topk_hit *a, const topk_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void sift_down(topk_hit *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        topk_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(topk_hit *h, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(&h[i], &h[p])) return;
        topk_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void heap_offer(topk_state *st, int64 id, float4 score)
{
    topk_hit x = {id, score};
    if (isnan(score)) return;
    if (st->n < st->k) {
        st->heap[st->n] = x;
        sift_up(st->heap, st->n++);
    } else if (worse(&st->heap[0], &x)) {
        st->heap[0] = x;
        sift_down(st->heap, st->n, 0);
    }
}

static topk_state *state_new(MemoryContext mc, int k)
{
    topk_state *st = MemoryContextAllocZero(mc, sizeof *st);
    st->k = k;
    st->heap = MemoryContextAlloc(mc, sizeof(topk_hit) * (Size)k);
    return st;
}

static MemoryContext agg_context(FunctionCallInfo fcinfo, const char *fn)
{
    MemoryContext mc;
    if (!AggCheckCallContext(fcinfo, &mc))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("%s called outside an aggregate", fn)));
    return mc;
}

/* tg_topk_step(state internal, id bigint, embedding bytea, query bytea, k int) */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_topk_step);
Datum tg_topk_step(PG_FUNCTION_ARGS)
{
    MemoryContext mc = agg_context(fcinfo, "tg_topk_step");
    topk_state *st = PG_ARGISNULL(0) ? NULL : (topk_state *)PG_GETARG_POINTER(0);
    if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4)) {
        if (st) PG_RETURN_POINTER(st);
        PG_RETURN_NULL();
    }
    if (!st) {
        int k = PG_GETARG_INT32(4);
        if (k < 1 || k > TOPK_MAX)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("tg_topk(): k = %d: expected 1 to %d", k, TOPK_MAX)));
        bytea *q = PG_GETARG_BYTEA_PP(3);
        check_embedding("tg_topk", 3, q);
        st = state_new(mc, k);
        st->dim = (int)(VARSIZE_ANY_EXHDR(q) / 4);
        st->q = MemoryContextAlloc(mc, sizeof(float) * (Size)st->dim);
        floats_from_le(VARDATA_ANY(q), st->dim, st->q);
    }
    bytea *e = PG_GETARG_BYTEA_PP(2);
    Size ne = VARSIZE_ANY_EXHDR(e);
    if (ne != (Size)st->dim * 4)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("tg_topk(): tile %lld: its embedding has %zu floats, the query %d: "
                               "made by another model (filter on model_id)",
                               (long long)PG_GETARG_INT64(1), ne / 4, st->dim)));
    heap_offer(st, PG_GETARG_INT64(1), (float4)dot_le(VARDATA_ANY(e), st->q, st->dim));
    PG_RETURN_POINTER(st);
}

/* tg_topk_combine(a internal, b internal) -> internal */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_topk_combine);
Datum tg_topk_combine(PG_FUNCTION_ARGS)
{
    MemoryContext mc = agg_context(fcinfo, "tg_topk_combine");
    topk_state *a = PG_ARGISNULL(0) ? NULL : (topk_state *)PG_GETARG_POINTER(0);
    topk_state *b = PG_ARGISNULL(1) ? NULL : (topk_state *)PG_GETARG_POINTER(1);
    if (!b) {
        if (a) PG_RETURN_POINTER(a);
        PG_RETURN_NULL();
    }
    if (!a) {
        /* a copy in the aggregate's context: b may live in a shorter one */
        a = state_new(mc, b->k);
        a->n = b->n;
        memcpy(a->heap, b->heap, sizeof(topk_hit) * (Size)b->n);
        PG_RETURN_POINTER(a);
    }
    for (int i = 0; i < b->n; i++) heap_offer(a, b->heap[i].id, b->heap[i].score);
    PG_RETURN_POINTER(a);
}

/* tg_topk_serialize(internal) -> bytea: k, n, then n (id, score), network order. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_topk_serialize);
Datum tg_topk_serialize(PG_FUNCTION_ARGS)
{
    agg_context(fcinfo, "tg_topk_serialize");
    topk_state *st = (topk_state *)PG_GETARG_POINTER(0);
    StringInfoData buf;
    pq_begintypsend(&buf);
    pq_sendint32(&buf, st->k);
    pq_sendint32(&buf, st->n);
    for (int i = 0; i < st->n; i++) {
        pq_sendint64(&buf, st->heap[i].id);
        pq_sendfloat4(&buf, st->heap[i].score);
    }
    PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* tg_topk_deserialize(bytea, internal) -> internal */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_topk_deserialize);
Datum tg_topk_deserialize(PG_FUNCTION_ARGS)
{
    MemoryContext mc = agg_context(fcinfo, "tg_topk_deserialize");
    bytea *b = PG_GETARG_BYTEA_PP(0);
    StringInfoData buf;
    buf.data = VARDATA_ANY(b); /* read-only view (PostgreSQL 15 has no initReadOnlyStringInfo) */
    buf.len = (int)VARSIZE_ANY_EXHDR(b);
    buf.maxlen = buf.len;
    buf.cursor = 0;
    int k = pq_getmsgint(&buf, 4), n = pq_getmsgint(&buf, 4);
    if (k < 1 || k > TOPK_MAX || n < 0 || n > k)
        ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                        errmsg("tg_topk(): corrupt partial state (k %d, n %d)", k, n)));
    topk_state *st = state_new(mc, k);
    for (int i = 0; i < n; i++) {
        st->heap[i].id = pq_getmsgint64(&buf);
        st->heap[i].score = pq_getmsgfloat4(&buf);
    }
    st->n = n; /* a heap serialised is still a heap */
    pq_getmsgend(&buf);
    PG_RETURN_POINTER(st);
}

static int hit_best_first(const void *pa, const void *pb)
{
    const topk_hit *a = pa, *b = pb;
    if (worse(b, a)) return -1;
    if (worse(a, b)) return 1;
    return 0;
}

/* tg_topk_final(internal) -> tg_hit[] (tile_id bigint, score float4), best first. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_topk_final);
Datum tg_topk_final(PG_FUNCTION_ARGS)
{
    agg_context(fcinfo, "tg_topk_final");
    if (PG_ARGISNULL(0)) PG_RETURN_NULL();
    topk_state *st = (topk_state *)PG_GETARG_POINTER(0);
    Oid arr_type = get_fn_expr_rettype(fcinfo->flinfo);
    Oid elem_type = get_element_type(arr_type);
    if (!OidIsValid(elem_type))
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("tg_topk_final(): cannot resolve its result type tg_hit[]")));
    TupleDesc td = lookup_rowtype_tupdesc_copy(elem_type, -1);
    td = BlessTupleDesc(td);
    /* sort a copy: the state may be finalised again (window use) */
    topk_hit *h = palloc(sizeof(topk_hit) * (Size)(st->n > 0 ? st->n : 1));
    memcpy(h, st->heap, sizeof(topk_hit) * (Size)st->n);
    qsort(h, (size_t)st->n, sizeof *h, hit_best_first);
    Datum *elems = palloc(sizeof(Datum) * (Size)(st->n > 0 ? st->n : 1));
    for (int i = 0; i < st->n; i++) {
        Datum v[2] = {Int64GetDatum(h[i].id), Float4GetDatum(h[i].score)};
        bool nulls[2] = {false, false};
        elems[i] = HeapTupleGetDatum(heap_form_tuple(td, v, nulls));
    }
    int16 typlen;
    bool typbyval;
    char typalign;
    get_typlenbyvalalign(elem_type, &typlen, &typbyval, &typalign);
    PG_RETURN_ARRAYTYPE_P(construct_array(elems, st->n, elem_type, typlen, typbyval, typalign));
}
