/*
 * transgeo.c - the PostgreSQL extension `transgeo`: module entry, the
 * backend's libtransgeo context, and the pure functions.
 *
 *   => SELECT tg_version();
 *    tg_version
 *    0.1.0
 *   => SELECT round(tg_distance_m(13.4002944, 52.5189167, 13.4003889, 52.518925)::numeric, 3);
 *    round
 *    6.481
 *   => SELECT tg__error_m('{-97.1,-97.1001}', '{47.1,47.1}', '{0.9,0.8}', '{320,320}');
 *
 * SQL declarations: pg/transgeo_functions.sql; the reference: man transgeo-pg(7).
 * tg_score and the exact top-k aggregate: transgeo_scan.c (a module of its
 * own, for parallel workers and shards); models and embeddings:
 * tg_embed.c.
 */
#include "tgpg.h"

#include <math.h>
#include <string.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "transgeo/geo.h"
#include "transgeo/store.h"

PG_MODULE_MAGIC;

/* transgeo.threads: threads of the encoder inside a backend. 1 by default:
 * a server runs many backends at once, and PostgreSQL's own parallel
 * workers split the scans. */
static int guc_threads = 1;
static tg_ctx *backend_ctx;

void _PG_init(void);
void _PG_init(void)
{
    DefineCustomIntVariable("transgeo.threads",
                            "Threads libtransgeo's encoder may use in one backend (0 = all cores).",
                            NULL, &guc_threads, 1, 0, 1024, PGC_USERSET, 0, NULL, NULL, NULL);
    MarkGUCPrefixReserved("transgeo");
}

tg_ctx *tgpg_ctx(void)
{
    if (!backend_ctx && tg_ctx_create(&backend_ctx) != 0)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
                        errmsg("transgeo: out of memory creating the library context")));
    if (tg_ctx_threads(backend_ctx) != guc_threads || guc_threads == 0)
        tg_ctx_set_threads(backend_ctx, guc_threads);
    tg_clear_error(backend_ctx);
    return backend_ctx;
}

void tgpg_error_tg(const char *fn, int rc)
{
    int code;
    switch (rc) {
    case TG_ENOMEM: code = ERRCODE_OUT_OF_MEMORY; break;
    case TG_EINVAL:
    case TG_EFORMAT:
    case TG_EIMAGE:
    case TG_EMODEL: code = ERRCODE_INVALID_PARAMETER_VALUE; break;
    case TG_ENOTFOUND: code = ERRCODE_UNDEFINED_OBJECT; break;
    case TG_EACCES: code = ERRCODE_INSUFFICIENT_PRIVILEGE; break;
    case TG_EIO: code = ERRCODE_IO_ERROR; break;
    default: code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION; break;
    }
    const char *msg = backend_ctx ? tg_errmsg(backend_ctx) : "";
    ereport(ERROR, (errcode(code), errmsg("%s(): %s", fn, *msg ? msg : tg_strerror(rc))));
}

void tgpg_floats_from_le(const void *bytes, int n, float *out)
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

void tgpg_floats_to_le(const float *v, int n, void *out)
{
    memcpy(out, v, (size_t)n * sizeof(float));
#ifdef WORDS_BIGENDIAN
    uint32 *u = out;
    for (int i = 0; i < n; i++) u[i] = pg_bswap32(u[i]);
#endif
}

/* tg_version() -> text */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_version_pg);
Datum tg_version_pg(PG_FUNCTION_ARGS)
{
    PG_RETURN_TEXT_P(cstring_to_text(tg_version()));
}

/* tg_distance_m(lon1, lat1, lon2, lat2) -> float8: geodesic metres on WGS84
 * (Karney, through PROJ: the same function as mod_transgeo's). STRICT. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_distance_m_pg);
Datum tg_distance_m_pg(PG_FUNCTION_ARGS)
{
    double d;
    int rc = tg_geo_distance_m(tgpg_ctx(), PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1),
                               PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3), &d);
    if (rc) tgpg_error_tg("tg_distance_m", rc);
    PG_RETURN_FLOAT8(d);
}

/* The float8[] argument argno as a C array of exactly n values (no NULLs). */
static const double *float8_array(ArrayType *a, const char *fn, int argno, int *n)
{
    if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): argument %d: a one-dimensional float8[] without NULLs expected",
                               fn, argno)));
    *n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
    return (const double *)ARR_DATA_PTR(a);
}

/* tg__error_m(lon float8[], lat float8[], score float8[], stride_m float8[])
 * -> float8[]: the error radius of each match, from the matches given best
 * first (score descending). The formula is store.h's (and transgeo-sql(7)'s
 * ERROR ESTIMATE), with its constants TG_STORE_ERROR_K, _ALPHA and _SCALE:
 * S = the first min(n, TG_STORE_ERROR_K) matches,
 *   w_j = exp(alpha (s_j - s_1)),
 *   error_m(c) = scale max(stride / 2, sqrt(sum_j w_j d(c, c_j)^2 / sum_j w_j)),
 * d geodesic (tg_geo_distance_m). The caller passes at least the best
 * TG_STORE_ERROR_K candidates for the radii to equal mod_transgeo's. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_error_m_pg);
Datum tg_error_m_pg(PG_FUNCTION_ARGS)
{
    const char *fn = "tg__error_m";
    int n, n1, n2, n3;
    const double *lon = float8_array(PG_GETARG_ARRAYTYPE_P(0), fn, 1, &n);
    const double *lat = float8_array(PG_GETARG_ARRAYTYPE_P(1), fn, 2, &n1);
    const double *score = float8_array(PG_GETARG_ARRAYTYPE_P(2), fn, 3, &n2);
    const double *stride = float8_array(PG_GETARG_ARRAYTYPE_P(3), fn, 4, &n3);
    if (n1 != n || n2 != n || n3 != n)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): the four arrays differ in length (%d, %d, %d, %d)", fn, n,
                               n1, n2, n3)));
    for (int i = 1; i < n; i++)
        if (!(score[i] <= score[i - 1]))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("%s(): scores must be in descending order (element %d: %g after %g)",
                                   fn, i + 1, score[i], score[i - 1])));
    Datum *out = palloc(sizeof(Datum) * (n > 0 ? n : 1));
    int ns = n < TG_STORE_ERROR_K ? n : TG_STORE_ERROR_K;
    tg_ctx *ctx = tgpg_ctx();
    for (int i = 0; i < n; i++) {
        double sw = 0, swd = 0;
        for (int j = 0; j < ns; j++) {
            double w = exp(TG_STORE_ERROR_ALPHA * (score[j] - score[0])), d;
            int rc = tg_geo_distance_m(ctx, lon[i], lat[i], lon[j], lat[j], &d);
            if (rc) tgpg_error_tg(fn, rc);
            sw += w;
            swd += w * d * d;
        }
        double spread = sw > 0 ? sqrt(swd / sw) : 0;
        double half = stride[i] / 2;
        out[i] = Float8GetDatum(TG_STORE_ERROR_SCALE * (spread > half ? spread : half));
    }
    PG_RETURN_ARRAYTYPE_P(construct_array(out, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
