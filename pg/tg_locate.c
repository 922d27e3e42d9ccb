/*
 * tg_locate.c - tg_locate(): the one locator (include/transgeo/locate.h)
 * running inside the server, over a tg_store whose SQL goes through SPI
 * (include/transgeo/store_pg.h, the executor interface of the store's
 * PostgreSQL backend). The same pipeline as mod_transgeo's tg_locate and
 * `transgeo locate`: the photo's camera and heading (a perspective photo is
 * placed in the panorama canvas at the headings it needs), a per-photo GPS
 * prior, refinement below the tile stride, the calibrated error radius.
 *
 *   => SELECT tg_locate(pg_read_binary_file('/srv/photos/street.jpg'))->>'tile_id';
 *
 * The store lives as long as the backend: it keeps the models and the tiles
 * of each model in memory (loaded with one SELECT over tg_tiles, refreshed
 * when tiles change: store.h), as mod_transgeo's connection does. On a
 * coordinator that SELECT reads every shard; tg_matches instead sends each
 * shard its own top-k (transgeo-pg(7), SHARDING).
 *
 * Errors inside the store's statements: each statement runs in a
 * subtransaction, so a failing one (a shard down, a missing table) is rolled
 * back and comes back to the store as TG_EDB with PostgreSQL's message,
 * instead of unwinding through libtransgeo's frames (ereport does not
 * return) and leaking what they hold.
 */
#include "tgpg.h"

#include "transgeo/locate.h"
#include "transgeo/store_pg.h"

#include <math.h>
#include <string.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/* ---- the SPI executor ------------------------------------------------------ */

struct tg_pg_rows {
    SPITupleTable *tt;
    uint64 n;
    MemoryContext mc; /* the values get() detoasts or converts */
};

static int spi_run(tg_ctx *ctx, void *conn, const char *sql, int n_params,
                   const tg_pg_value *params, tg_pg_rows **rows)
{
    (void)conn;
    if (rows) *rows = NULL;
    MemoryContext oldcxt = CurrentMemoryContext;
    ResourceOwner oldowner = CurrentResourceOwner;
    Oid *types = n_params ? palloc(sizeof(Oid) * n_params) : NULL;
    Datum *vals = n_params ? palloc(sizeof(Datum) * n_params) : NULL;
    char *nulls = n_params ? palloc(n_params + 1) : NULL;
    for (int i = 0; i < n_params; i++) {
        const tg_pg_value *p = &params[i];
        nulls[i] = ' ';
        switch (p->kind) {
        case TG_PG_INT64: types[i] = INT8OID; vals[i] = Int64GetDatum(p->i); break;
        case TG_PG_DOUBLE: types[i] = FLOAT8OID; vals[i] = Float8GetDatum(p->d); break;
        case TG_PG_TEXT: types[i] = TEXTOID; vals[i] = CStringGetTextDatum(p->s ? p->s : ""); break;
        case TG_PG_BYTES: {
            bytea *b = palloc(VARHDRSZ + p->n);
            SET_VARSIZE(b, VARHDRSZ + p->n);
            if (p->n) memcpy(VARDATA(b), p->b, p->n);
            types[i] = BYTEAOID;
            vals[i] = PointerGetDatum(b);
            break;
        }
        default: types[i] = TEXTOID; vals[i] = (Datum)0; nulls[i] = 'n'; break;
        }
    }
    int ret = 0;
    char msg[1024] = "";
    BeginInternalSubTransaction(NULL);
    MemoryContextSwitchTo(oldcxt);
    PG_TRY();
    {
        ret = n_params || rows ? SPI_execute_with_args(sql, n_params, types, vals, nulls, false, 0)
                               : SPI_execute(sql, false, 0);
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(oldcxt);
        CurrentResourceOwner = oldowner;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcxt);
        ErrorData *ed = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(oldcxt);
        CurrentResourceOwner = oldowner;
        snprintf(msg, sizeof msg, "%s", ed->message ? ed->message : "error");
        FreeErrorData(ed);
        ret = -1;
    }
    PG_END_TRY();
    if (ret < 0) {
        tg_set_error(ctx, TG_EDB, "database '%s': %s", get_database_name(MyDatabaseId),
                     msg[0] ? msg : SPI_result_code_string(ret));
        return TG_EDB;
    }
    if (rows) {
        tg_pg_rows *r = palloc0(sizeof *r);
        r->tt = SPI_tuptable;
        r->n = SPI_tuptable ? SPI_processed : 0;
        r->mc = AllocSetContextCreate(CurrentMemoryContext, "transgeo rows", ALLOCSET_DEFAULT_SIZES);
        *rows = r;
    } else if (SPI_tuptable) {
        SPI_freetuptable(SPI_tuptable);
    }
    return 0;
}

static long spi_n_rows(const tg_pg_rows *r) { return r ? (long)r->n : 0; }

static int spi_get(const tg_pg_rows *r, long row, int col, tg_pg_value *out)
{
    memset(out, 0, sizeof *out);
    if (!r || !r->tt || row < 0 || (uint64)row >= r->n || col < 0 || col >= r->tt->tupdesc->natts)
        return TG_EINVAL;
    HeapTuple t = r->tt->vals[row];
    TupleDesc td = r->tt->tupdesc;
    bool isnull;
    Datum d = SPI_getbinval(t, td, col + 1, &isnull);
    if (isnull) {
        out->kind = TG_PG_NULL;
        return 0;
    }
    MemoryContext old = MemoryContextSwitchTo(r->mc);
    Oid type = SPI_gettypeid(td, col + 1);
    switch (type) {
    case INT2OID: out->kind = TG_PG_INT64; out->i = DatumGetInt16(d); break;
    case INT4OID: out->kind = TG_PG_INT64; out->i = DatumGetInt32(d); break;
    case INT8OID: out->kind = TG_PG_INT64; out->i = DatumGetInt64(d); break;
    case BOOLOID: out->kind = TG_PG_INT64; out->i = DatumGetBool(d) ? 1 : 0; break;
    case FLOAT4OID: out->kind = TG_PG_DOUBLE; out->d = DatumGetFloat4(d); break;
    case FLOAT8OID: out->kind = TG_PG_DOUBLE; out->d = DatumGetFloat8(d); break;
    case NUMERICOID:
        out->kind = TG_PG_DOUBLE;
        out->d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
        break;
    case BYTEAOID: {
        bytea *b = DatumGetByteaPP(d); /* detoasted into r->mc when needed */
        out->kind = TG_PG_BYTES;
        out->b = VARDATA_ANY(b);
        out->n = VARSIZE_ANY_EXHDR(b);
        break;
    }
    default: /* text, varchar, name and anything else: its text form */
        out->kind = TG_PG_TEXT;
        out->s = SPI_getvalue(t, td, col + 1);
        break;
    }
    MemoryContextSwitchTo(old);
    return 0;
}

static void spi_free_rows(tg_pg_rows *r)
{
    if (!r) return;
    if (r->tt) SPI_freetuptable(r->tt);
    MemoryContextDelete(r->mc);
    pfree(r);
}

/* The backend's store over SPI (made on first use; the caller is connected
 * to SPI). */
static tg_store *spi_store;

static tg_store *store_get(const char *fn)
{
    if (spi_store) return spi_store;
    char label[NAMEDATALEN + 32];
    snprintf(label, sizeof label, "database '%s' (SPI)", get_database_name(MyDatabaseId));
    tg_pg_executor ex = {.conn = NULL, .run = spi_run, .n_rows = spi_n_rows, .get = spi_get,
                         .free_rows = spi_free_rows, .in_transaction = 1, .label = label};
    tg_ctx *ctx = tgpg_ctx();
    int rc = tg_store_open_pg(ctx, &ex, TG_STORE_READONLY, &spi_store);
    if (rc) {
        spi_store = NULL;
        tgpg_error_tg(fn, rc);
    }
    return spi_store;
}

/* ---- tg_locate ------------------------------------------------------------ */

static void json_key(StringInfo s, const char *key)
{
    if (s->len > 1) appendStringInfoChar(s, ',');
    escape_json(s, key);
    appendStringInfoChar(s, ':');
}
static void json_num(StringInfo s, const char *key, double v)
{
    json_key(s, key);
    if (isfinite(v)) appendStringInfo(s, "%.12g", v);
    else appendStringInfoString(s, "null");
}
static void json_str(StringInfo s, const char *key, const char *v)
{
    json_key(s, key);
    escape_json(s, v);
}

/* 'gps' or 'gps=RADIUS_M' (> 0), as mod_transgeo's prior argument. */
static void parse_prior(const char *fn, const char *s, tg_locate_opts *o)
{
    char *end = NULL;
    if (strcmp(s, "gps") == 0) {
        o->gps_prior = 1;
        return;
    }
    if (strncmp(s, "gps=", 4) == 0) {
        double r = strtod(s + 4, &end);
        if (end != s + 4 && *end == '\0' && isfinite(r) && r > 0) {
            o->gps_prior = 1;
            o->gps_radius_m = r;
            return;
        }
    }
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("%s(): argument 5 (prior): 'gps' or 'gps=RADIUS_M' (metres above 0) "
                           "expected, got '%s'", fn, s)));
}

/* tg_locate(photo bytea, model text, fov_deg float8, heading_search int,
 * prior text) -> json. NULL photo -> NULL. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_locate_pg);
Datum tg_locate_pg(PG_FUNCTION_ARGS)
{
    const char *fn = "tg_locate";
    if (PG_ARGISNULL(0)) PG_RETURN_NULL();
    bytea *photo = PG_GETARG_BYTEA_PP(0);
    if (VARSIZE_ANY_EXHDR(photo) == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): argument 1: empty bytea (expected the bytes of an image file "
                               "or an embedding)", fn)));
    tg_locate_opts o;
    tg_locate_opts_default(&o);
    char *model = !PG_ARGISNULL(1) ? text_to_cstring(PG_GETARG_TEXT_PP(1)) : NULL;
    o.model = model;
    o.k = 1;
    if (!PG_ARGISNULL(2)) o.fov_deg = PG_GETARG_FLOAT8(2);
    if (!PG_ARGISNULL(3)) {
        int32 h = PG_GETARG_INT32(3);
        if (h < 0 || h > 360)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("%s(): argument 4 (heading_search): 0..360 expected (0: from the "
                                   "field of view, 1: no search, N: N headings), got %d", fn, h)));
        o.heading_search = h;
    }
    if (!PG_ARGISNULL(4)) parse_prior(fn, text_to_cstring(PG_GETARG_TEXT_PP(4)), &o);

    MemoryContext callerctx = CurrentMemoryContext;
    SPI_connect();
    tgpg_check_schema(fn);
    tg_store *st = store_get(fn);
    tg_ctx *ctx = tgpg_ctx();
    tg_locator *loc = NULL;
    tg_locate_answer ans;
    char *wkt = NULL;
    float *emb = NULL;
    memset(&ans, 0, sizeof ans);
    int rc = tg_locator_open(ctx, st, &o, &loc);
    if (!rc) {
        int dim = tg_locator_dim(loc);
        tg_locate_input in;
        memset(&in, 0, sizeof in);
        if (tgpg_is_embedding(photo, dim)) {
            emb = palloc(sizeof(float) * dim);
            tgpg_floats_from_le(VARDATA_ANY(photo), dim, emb);
            in.embedding = emb;
            in.embedding_dim = dim;
        } else {
            in.bytes = VARDATA_ANY(photo);
            in.n_bytes = VARSIZE_ANY_EXHDR(photo);
        }
        rc = tg_locator_run(loc, ctx, &in, &ans);
        if (!rc && ans.n_matches == 0) {
            tg_locator_free(loc);
            tg_locate_answer_clear(&ans);
            ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
                            errmsg("%s(): no candidate tile (the model has no tiles)", fn)));
        }
        if (!rc) rc = tg_locator_tile_wkt(loc, ctx, ans.matches[0].tile_id, &wkt);
    }
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tg_errmsg(ctx));
        tg_locate_answer_clear(&ans);
        tg_locator_free(loc);
        free(wkt);
        ereport(ERROR, (errcode(rc == TG_ENOMEM ? ERRCODE_OUT_OF_MEMORY
                                : rc == TG_ENOTFOUND ? ERRCODE_UNDEFINED_OBJECT
                                : rc == TG_EDB ? ERRCODE_EXTERNAL_ROUTINE_EXCEPTION
                                               : ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): %s", fn, msg)));
    }
    const tg_match *best = &ans.matches[0];
    StringInfoData s;
    MemoryContext spictx = MemoryContextSwitchTo(callerctx); /* the result outlives SPI_finish */
    initStringInfo(&s);
    MemoryContextSwitchTo(spictx);
    appendStringInfoChar(&s, '{');
    json_key(&s, "tile_id");
    appendStringInfo(&s, "%lld", (long long)best->tile_id);
    json_num(&s, "lon", ans.lon);
    json_num(&s, "lat", ans.lat);
    json_num(&s, "tile_lon", best->lon);
    json_num(&s, "tile_lat", best->lat);
    json_str(&s, "footprint_wkt", wkt);
    json_num(&s, "score", best->score);
    json_num(&s, "error_m", ans.error_m);
    json_str(&s, "prior", tg_prior_name(ans.prior));
    if (ans.gps_outside) {
        json_key(&s, "gps_outside");
        appendStringInfoString(&s, "true");
    }
    json_str(&s, "refined", ans.refined == TG_REFINED_RASTER   ? "raster"
                            : ans.refined == TG_REFINED_STORED ? "stored"
                                                               : "");
    if (ans.refine_note[0]) json_str(&s, "refine_note", ans.refine_note);
    json_key(&s, "refine_tiles");
    appendStringInfo(&s, "%d", ans.n_refine_tiles);
    if (ans.has_meta && ans.meta.has_gps) json_num(&s, "gps_error_m", ans.gps_error_m);
    if (ans.has_camera) {
        json_num(&s, "heading_deg", ans.heading_deg);
        json_str(&s, "heading_source", tg_heading_source_name(ans.heading_source));
        json_key(&s, "n_headings");
        appendStringInfo(&s, "%d", ans.n_headings);
        json_num(&s, "fov_deg", ans.camera.hfov_deg);
        json_str(&s, "camera_source", tg_camera_source_name(ans.camera.source));
        if (ans.camera.note[0]) json_str(&s, "camera_note", ans.camera.note);
    }
    json_str(&s, "model", tg_locator_model(loc)->name);
    appendStringInfoChar(&s, '}');
    free(wkt);
    tg_locate_answer_clear(&ans);
    tg_locator_free(loc);
    SPI_finish();
    PG_RETURN_TEXT_P(cstring_to_text_with_len(s.data, s.len)); /* json: text's representation */
}

/* ---- tg_matches ------------------------------------------------------------- */

/* tg__matches_locate(photo bytea, k int, near_wkb bytea, radius_m float8,
 * model text, fov_deg float8, heading_search int, prior text)
 * -> setof (rank, tile_id, raster_id, score, lon, lat, error_m, heading_deg,
 * heading_source): the k best tiles by the locator (the photo's headings,
 * its GPS prior, or the tiles whose centre is within radius_m of near_wkb).
 * tg_matches (SQL) checks the arguments and adds the footprints. */
PGDLLEXPORT PG_FUNCTION_INFO_V1(tg_matches_locate_pg);
Datum tg_matches_locate_pg(PG_FUNCTION_ARGS)
{
    const char *fn = "tg_matches";
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
    bytea *photo = PG_GETARG_BYTEA_PP(0);
    int k = PG_GETARG_INT32(1);
    if (VARSIZE_ANY_EXHDR(photo) == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): argument 1: empty bytea (expected the bytes of an image file "
                               "or an embedding)", fn)));
    tg_locate_opts o;
    tg_locate_opts_default(&o);
    o.k = k;
    tg_store_prior prior;
    memset(&prior, 0, sizeof prior);
    if (!PG_ARGISNULL(2)) { /* near as WKB (ST_AsBinary; EPSG:4326, checked by tg_matches) */
        bytea *wkb = PG_GETARG_BYTEA_PP(2);
        prior.wkb = VARDATA_ANY(wkb);
        prior.wkb_size = VARSIZE_ANY_EXHDR(wkb);
        prior.radius_m = PG_ARGISNULL(3) ? 0 : PG_GETARG_FLOAT8(3);
        o.prior = &prior;
    }
    o.model = !PG_ARGISNULL(4) ? text_to_cstring(PG_GETARG_TEXT_PP(4)) : NULL;
    if (!PG_ARGISNULL(5)) o.fov_deg = PG_GETARG_FLOAT8(5);
    if (!PG_ARGISNULL(6)) {
        int32 h = PG_GETARG_INT32(6);
        if (h < 0 || h > 360)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("%s(): heading_search: 0..360 expected, got %d", fn, h)));
        o.heading_search = h;
    }
    if (!PG_ARGISNULL(7)) parse_prior(fn, text_to_cstring(PG_GETARG_TEXT_PP(7)), &o);

    InitMaterializedSRF(fcinfo, 0);
    MemoryContext callerctx = CurrentMemoryContext;
    SPI_connect();
    tgpg_check_schema(fn);
    tg_store *st = store_get(fn);
    tg_ctx *ctx = tgpg_ctx();
    tg_locator *loc = NULL;
    tg_locate_answer ans;
    memset(&ans, 0, sizeof ans);
    int rc = tg_locator_open(ctx, st, &o, &loc);
    if (!rc) {
        int dim = tg_locator_dim(loc);
        tg_locate_input in;
        memset(&in, 0, sizeof in);
        if (tgpg_is_embedding(photo, dim)) {
            float *emb = palloc(sizeof(float) * dim);
            tgpg_floats_from_le(VARDATA_ANY(photo), dim, emb);
            in.embedding = emb;
            in.embedding_dim = dim;
        } else {
            in.bytes = VARDATA_ANY(photo);
            in.n_bytes = VARSIZE_ANY_EXHDR(photo);
        }
        rc = tg_locator_run(loc, ctx, &in, &ans);
    }
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tg_errmsg(ctx));
        tg_locate_answer_clear(&ans);
        tg_locator_free(loc);
        ereport(ERROR, (errcode(rc == TG_ENOMEM ? ERRCODE_OUT_OF_MEMORY
                                : rc == TG_ENOTFOUND ? ERRCODE_UNDEFINED_OBJECT
                                : rc == TG_EDB ? ERRCODE_EXTERNAL_ROUTINE_EXCEPTION
                                               : ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s(): %s", fn, msg)));
    }
    MemoryContext spictx = MemoryContextSwitchTo(callerctx);
    for (int i = 0; i < ans.n_matches; i++) {
        const tg_match *m = &ans.matches[i];
        Datum v[9];
        bool nulls[9] = {false};
        v[0] = Int32GetDatum(m->rank);
        v[1] = Int64GetDatum(m->tile_id);
        v[2] = Int64GetDatum(m->raster_id);
        v[3] = Float8GetDatum(m->score);
        v[4] = Float8GetDatum(m->lon);
        v[5] = Float8GetDatum(m->lat);
        v[6] = Float8GetDatum(m->error_m);
        v[7] = Float8GetDatum(m->heading_deg);
        nulls[7] = !isfinite(m->heading_deg);
        v[8] = CStringGetTextDatum(tg_heading_source_name(ans.heading_source));
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
    }
    MemoryContextSwitchTo(spictx);
    tg_locate_answer_clear(&ans);
    tg_locator_free(loc);
    SPI_finish();
    return (Datum)0;
}
