/*
 * tg_embed.c - models and embeddings inside the server: the model cache,
 * tg_embed_ground / tg_embed_aerial, and tg__query (a photo or an embedding
 * -> the query embedding of a model), which tg_matches and tg_locate use.
 *
 *   => SELECT length(tg_embed_ground(pg_read_binary_file('/srv/photos/a.jpg')));
 *    length
 *    96            (the tiny test model: out_dim 24)
 *
 * Which file a model is read from is tg_models.path: the table belongs to
 * the extension's owner (a superuser), so only a superuser chooses the
 * files the server opens (transgeo-pg(7), SECURITY). Photos come in as
 * bytea; the functions that take a server path (text) are thin SQL
 * wrappers over pg_read_binary_file, whose privilege (superuser or a
 * GRANT, e.g. to pg_read_server_files members) they keep.
 */
#include "tgpg.h"

#include <math.h>
#include <string.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "transgeo/image.h"
#include "transgeo/transgeo_model.h"

/* ---- the extension's schema ---------------------------------------------- */

/* The quoted schema the extension's tables live in (CREATE EXTENSION ...
 * SCHEMA s; not relocatable): queries name tables with it, so they do not
 * depend on the caller's search_path. Connected to SPI. */
static const char *ext_schema(void)
{
    static char *schema; /* TopMemoryContext: the extension does not move */
    if (schema) return schema;
    if (SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = e.extnamespace WHERE e.extname = 'transgeo'", true, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("transgeo: the extension is not installed in this database "
                               "(CREATE EXTENSION transgeo)")));
    char *n = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    schema = MemoryContextStrdup(TopMemoryContext, quote_identifier(n));
    return schema;
}

void tgpg_check_schema(const char *fn)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT value FROM %s.tg_meta WHERE key = 'schema_version'",
             ext_schema());
    if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("%s(): cannot read tg_meta", fn)));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                        errmsg("%s(): tg_meta has no schema_version: not a transgeo database", fn)));
    char *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    char *end = NULL;
    long ver = v ? strtol(v, &end, 10) : -1;
    if (!v || end == v || *end || ver < 1)
        ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                        errmsg("%s(): tg_meta schema_version '%s' is not a positive integer", fn,
                               v ? v : "NULL")));
    if (ver > TG_PG_SCHEMA_VERSION)
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("%s(): database '%s' has transgeo schema_version %ld, newer than this "
                        "extension reads (%d): update the transgeo extension (libtransgeo %s)",
                        fn, get_database_name(MyDatabaseId), ver, TG_PG_SCHEMA_VERSION,
                        tg_version())));
}

/* ---- the model cache ----------------------------------------------------- */

typedef struct cached_model {
    char name[256];
    char path[4096];
    char sha256[65];
    tg_model *model;
    struct cached_model *next;
} cached_model;

static cached_model *cache; /* malloc'ed, for the backend's life */

static const tg_model *model_load(const char *fn, const char *name, const char *path,
                                  const char *sha256)
{
    cached_model *c;
    for (c = cache; c; c = c->next)
        if (strcmp(c->name, name) == 0) break;
    if (c && strcmp(c->path, path) == 0 && strcmp(c->sha256, sha256) == 0) return c->model;
    /* new, or the row changed (registered again): load and check the file */
    tg_ctx *ctx = tgpg_ctx();
    tg_model *m = NULL;
    char hex[65];
    int rc = tg_model_load(ctx, path, &m);
    if (!rc) rc = tg_model_verify(ctx, m, hex);
    if (rc) {
        tg_model_free(m);
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): model '%s': %s", fn, name, tg_errmsg(ctx))));
    }
    if (strcmp(hex, sha256) != 0) {
        tg_model_free(m);
        ereport(ERROR,
                (errcode(ERRCODE_DATA_CORRUPTED),
                 errmsg("%s(): model '%s': the file '%s' holds weights with sha256 %.12s..., "
                        "registered with %.12s...: the file was replaced; register it again",
                        fn, name, path, hex, sha256)));
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            tg_model_free(m);
            ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("%s(): out of memory", fn)));
        }
        c->next = cache;
        cache = c;
    } else {
        /* the old model may still be referenced by a tgpg_model of this
         * statement: keep it (rare: a model registered again in-session) */
        c->model = NULL;
    }
    strlcpy(c->name, name, sizeof c->name);
    strlcpy(c->path, path, sizeof c->path);
    strlcpy(c->sha256, sha256, sizeof c->sha256);
    c->model = m;
    return m;
}

void tgpg_model_get(const char *fn, const char *name, tgpg_model *out)
{
    tgpg_check_schema(fn);
    const char *s = ext_schema();
    char sql[1024];
    int ret;
    if (name) {
        Oid types[1] = {TEXTOID};
        Datum vals[1] = {CStringGetTextDatum(name)};
        snprintf(sql, sizeof sql, "SELECT id, name, path, sha256 FROM %s.tg_models WHERE name = $1", s);
        ret = SPI_execute_with_args(sql, 1, types, vals, NULL, true, 2);
    } else {
        /* the only model with tiles (rasters), else the only registered one */
        snprintf(sql, sizeof sql,
                 "SELECT id, name, path, sha256 FROM %s.tg_models m ORDER BY "
                 "EXISTS (SELECT 1 FROM %s.tg_rasters r WHERE r.model_id = m.id) DESC, name", s, s);
        ret = SPI_execute(sql, true, 0);
    }
    if (ret != SPI_OK_SELECT)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("%s(): cannot read tg_models", fn)));
    if (SPI_processed == 0) {
        if (name)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                            errmsg("%s(): no model named '%s' in tg_models", fn, name)));
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("%s(): no model is registered: a superuser registers one "
                               "(transgeo index --db ..., or tg_model_register)", fn)));
    }
    if (!name && SPI_processed > 1) {
        /* several: fine only if exactly one has rasters */
        snprintf(sql, sizeof sql,
                 "SELECT string_agg(name, ', ' ORDER BY name), count(*) FILTER (WHERE EXISTS "
                 "(SELECT 1 FROM %s.tg_rasters r WHERE r.model_id = m.id)) FROM %s.tg_models m", s, s);
        SPITupleTable *first = SPI_tuptable;
        if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("%s(): cannot read tg_models", fn)));
        char *names = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        char *with = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
        if (!with || strcmp(with, "1") != 0)
            ereport(ERROR, (errcode(ERRCODE_AMBIGUOUS_PARAMETER),
                            errmsg("%s(): several models are registered (%s): name one", fn, names)));
        SPI_tuptable = first;
    }
    HeapTuple t = SPI_tuptable->vals[0];
    TupleDesc td = SPI_tuptable->tupdesc;
    bool isnull;
    out->id = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
    strlcpy(out->name, SPI_getvalue(t, td, 2), sizeof out->name);
    char *path = SPI_getvalue(t, td, 3), *sha = SPI_getvalue(t, td, 4);
    out->model = model_load(fn, out->name, path ? path : "", sha ? sha : "");
    out->out_dim = tg_model_config_get(out->model)->out_dim;
}

/* ---- embeddings ---------------------------------------------------------- */

/* Decode image bytes, or ereport naming the argument. The caller frees. */
static tg_image *image_arg(const char *fn, int argno, bytea *b)
{
    Size n = VARSIZE_ANY_EXHDR(b);
    if (n == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): argument %d: empty bytea (expected the bytes of an image file)",
                               fn, argno)));
    tg_ctx *ctx = tgpg_ctx();
    tg_image *img = NULL;
    int rc = tg_image_load_mem(ctx, VARDATA_ANY(b), n, &img);
    if (rc)
        ereport(ERROR, (errcode(rc == TG_ENOMEM ? ERRCODE_OUT_OF_MEMORY : ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): argument %d: %s", fn, argno, tg_errmsg(ctx))));
    return img;
}

/* Embed img with the model's ground (aerial = 0) or aerial encoder into a
 * new bytea of little-endian float32. Frees img in every case. */
static bytea *embed_image(const char *fn, const tgpg_model *m, tg_image *img, int aerial)
{
    tg_ctx *ctx = tgpg_ctx();
    float *emb = malloc(sizeof(float) * (size_t)m->out_dim);
    int rc = emb ? (aerial ? tg_model_embed_aerial(ctx, m->model, img, emb)
                           : tg_model_embed_ground(ctx, m->model, img, emb))
                 : TG_ENOMEM;
    tg_image_free(img);
    if (rc) {
        free(emb);
        tgpg_error_tg(fn, rc);
    }
    bytea *out = palloc(VARHDRSZ + sizeof(float) * (Size)m->out_dim);
    SET_VARSIZE(out, VARHDRSZ + sizeof(float) * m->out_dim);
    tgpg_floats_to_le(emb, m->out_dim, VARDATA(out));
    free(emb);
    return out;
}

static Datum embed(FunctionCallInfo fcinfo, int aerial)
{
    const char *fn = aerial ? "tg_embed_aerial" : "tg_embed_ground";
    if (PG_ARGISNULL(0)) PG_RETURN_NULL();
    bytea *photo = PG_GETARG_BYTEA_PP(0);
    char *name = PG_NARGS() > 1 && !PG_ARGISNULL(1) ? text_to_cstring(PG_GETARG_TEXT_PP(1)) : NULL;
    tg_image *img = image_arg(fn, 1, photo);
    tgpg_model m;
    PG_TRY();
    {
        SPI_connect();
        tgpg_model_get(fn, name, &m);
        SPI_finish();
    }
    PG_CATCH();
    {
        tg_image_free(img);
        PG_RE_THROW();
    }
    PG_END_TRY();
    PG_RETURN_BYTEA_P(embed_image(fn, &m, img, aerial));
}

/* tg_embed_ground(photo bytea [, model text]) -> bytea */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_embed_ground_pg);
Datum tg_embed_ground_pg(PG_FUNCTION_ARGS) { return embed(fcinfo, 0); }

/* tg_embed_aerial(image bytea [, model text]) -> bytea */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_embed_aerial_pg);
Datum tg_embed_aerial_pg(PG_FUNCTION_ARGS) { return embed(fcinfo, 1); }

bool tgpg_is_embedding(bytea *b, int dim)
{
    Size n = VARSIZE_ANY_EXHDR(b);
    if (n != (Size)dim * 4) return false;
    float *v = palloc(n);
    tgpg_floats_from_le(VARDATA_ANY(b), dim, v);
    double ss = 0;
    for (int i = 0; i < dim; i++) {
        if (!isfinite(v[i])) {
            pfree(v);
            return false;
        }
        ss += (double)v[i] * v[i];
    }
    pfree(v);
    return fabs(ss - 1) <= 1e-3;
}

/* tg__query(photo bytea, model text) -> record (model_id bigint, model text,
 * query bytea, is_embedding bool): the query embedding of a photo (image
 * bytes, embedded with the ground encoder) or an embedding of the model's
 * size (used as it is). NULL photo -> NULL. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_query_pg);
Datum tg_query_pg(PG_FUNCTION_ARGS)
{
    const char *fn = "tg_search";
    if (PG_ARGISNULL(0)) PG_RETURN_NULL();
    bytea *photo = PG_GETARG_BYTEA_PP(0);
    char *name = !PG_ARGISNULL(1) ? text_to_cstring(PG_GETARG_TEXT_PP(1)) : NULL;
    TupleDesc td;
    if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("tg__query: record type expected")));
    td = BlessTupleDesc(td);
    tgpg_model m;
    SPI_connect();
    tgpg_model_get(fn, name, &m);
    SPI_finish();
    bool emb = tgpg_is_embedding(photo, m.out_dim);
    bytea *q;
    if (emb) {
        q = palloc(VARHDRSZ + VARSIZE_ANY_EXHDR(photo));
        SET_VARSIZE(q, VARHDRSZ + VARSIZE_ANY_EXHDR(photo));
        memcpy(VARDATA(q), VARDATA_ANY(photo), VARSIZE_ANY_EXHDR(photo));
    } else {
        q = embed_image(fn, &m, image_arg(fn, 1, photo), 0);
    }
    Datum v[4] = {Int64GetDatum(m.id), CStringGetTextDatum(m.name), PointerGetDatum(q),
                  BoolGetDatum(emb)};
    bool nulls[4] = {false, false, false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, v, nulls)));
}
