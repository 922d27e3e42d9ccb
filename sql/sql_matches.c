/*
 * sql_matches.c - tg_matches, the table-valued function of mod_transgeo:
 *
 *   SELECT rank, tile_id, score, lon, lat, error_m, geom, heading_deg, heading_source
 *     FROM tg_matches(photo, k [, near_geom [, radius_m [, model [, fov_deg
 *                     [, heading_search [, prior]]]]]]);
 *
 * k rows, best first (rank 1..k): the tiles whose embeddings are most
 * similar to the photo's, with their centre, footprint and error radius.
 * With near_geom (a SpatiaLite geometry in EPSG:4326, e.g. a rough GPS fix)
 * only tiles whose centre is within radius_m metres of it are candidates.
 * heading_deg is the heading (degrees clockwise from true north) of the
 * photo's canvas that gave the row its score, heading_source where the
 * photo's heading came from (exif, searched, ...; tg_locate's JSON and
 * locate.h); fov_deg and heading_search as tg_locate's arguments 3 and 4.
 *
 * An eponymous-only virtual table (no CREATE VIRTUAL TABLE needed, none
 * allowed), after ext/misc/series.c: the arguments are HIDDEN columns
 * constrained by equality; xBestIndex refuses a plan where photo or k is not
 * given, through zErrMsg, and returns SQLITE_CONSTRAINT for a plan where an
 * argument is there but not usable yet (a join order that would evaluate it
 * too early), so that SQLite picks the order that works. The module is
 * DIRECTONLY (it may read files and runs the model): schema objects of an
 * untrusted database cannot use it.
 *
 *   sqlite> SELECT rank, tile_id, round(score, 3), round(error_m) FROM tg_matches('street.jpg', 3);
 *   1|63|0.111|816.0
 *   2|64|0.099|960.0
 *   3|62|0.099|784.0
 * (real output with the tiny test model, see sql/mod_transgeo.c)
 */
#include "config.h"
#include "tgsql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns; the HIDDEN ones are the arguments, in this order. */
enum {
    COL_RANK, COL_TILE_ID, COL_SCORE, COL_LON, COL_LAT, COL_ERROR_M, COL_GEOM,
    COL_HEADING, COL_HEADING_SOURCE,
    COL_PHOTO, COL_K, COL_NEAR, COL_RADIUS, COL_MODEL, COL_FOV, COL_HSEARCH, COL_PRIOR,
    N_ARGS = 8
};
#define ARG_PHOTO 0
#define ARG_K 1
/* Largest k: rows are held in memory. */
#define MAX_K 100000

typedef struct matches_vtab {
    sqlite3_vtab base;
    tgsql_conn *c;
} matches_vtab;

typedef struct match_row {
    tg_match m;
    int heading_source;  /* TG_HEADING_* of the answer */
    void *geom;
    int geom_size;
} match_row;

typedef struct matches_cursor {
    sqlite3_vtab_cursor base;
    match_row *rows;
    int n, i;
} matches_cursor;

static int m_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(rank INTEGER, tile_id INTEGER, score REAL, "
                                      "lon REAL, lat REAL, error_m REAL, geom BLOB, heading_deg REAL, "
                                      "heading_source TEXT, photo HIDDEN, k HIDDEN, "
                                      "near_geom HIDDEN, radius_m HIDDEN, model HIDDEN, "
                                      "fov_deg HIDDEN, heading_search HIDDEN, prior HIDDEN)");
    if (rc != SQLITE_OK) return rc;
    matches_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->c = aux;
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    *out = &v->base;
    return SQLITE_OK;
}

static int m_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int m_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    int use[N_ARGS], unusable = 0, present = 0;
    for (int a = 0; a < N_ARGS; a++) use[a] = -1;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn < COL_PHOTO || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        int a = c->iColumn - COL_PHOTO;
        if (!c->usable) {
            unusable |= 1 << a;
            continue;
        }
        if (use[a] < 0) {
            use[a] = i;
            present |= 1 << a;
        }
    }
    /* An argument given but not usable in this plan: not this plan. */
    if (unusable & ~present) return SQLITE_CONSTRAINT;
    if (!(present & (1 << ARG_PHOTO)) || !(present & (1 << ARG_K))) {
        sqlite3_free(vt->zErrMsg);
        vt->zErrMsg = sqlite3_mprintf(
            "tg_matches(): the arguments photo and k are required: SELECT * FROM "
            "tg_matches(photo, k [, near_geom, radius_m [, model [, fov_deg [, "
            "heading_search [, prior]]]]])");
        return SQLITE_ERROR;
    }
    int argv_i = 1;
    for (int a = 0; a < N_ARGS; a++) {
        if (use[a] < 0) continue;
        info->aConstraintUsage[use[a]].argvIndex = argv_i++;
        info->aConstraintUsage[use[a]].omit = 1;
    }
    info->idxNum = present;
    info->estimatedCost = 1000;
    info->estimatedRows = 10;
    /* Rows come in rank order (= descending score). */
    if (info->nOrderBy == 1 &&
        ((info->aOrderBy[0].iColumn == COL_RANK && !info->aOrderBy[0].desc) ||
         (info->aOrderBy[0].iColumn == COL_SCORE && info->aOrderBy[0].desc)))
        info->orderByConsumed = 1;
    return SQLITE_OK;
}

static int m_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    matches_cursor *cur = sqlite3_malloc(sizeof *cur);
    if (!cur) return SQLITE_NOMEM;
    memset(cur, 0, sizeof *cur);
    *out = &cur->base;
    return SQLITE_OK;
}

static void cursor_reset(matches_cursor *cur)
{
    for (int i = 0; i < cur->n; i++) sqlite3_free(cur->rows[i].geom);
    sqlite3_free(cur->rows);
    cur->rows = NULL;
    cur->n = cur->i = 0;
}

static int m_close(sqlite3_vtab_cursor *base)
{
    cursor_reset((matches_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static int fail(matches_vtab *v, const char *fmt, const char *a, const char *b)
{
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = sqlite3_mprintf(fmt, a, b);
    return SQLITE_ERROR;
}

static int fail_tg(matches_vtab *v, int rc)
{
    const char *m = tg_errmsg(v->c->ctx);
    if (rc == TG_ENOMEM && !(m && *m)) return SQLITE_NOMEM; /* else the library's message */
    return fail(v, "tg_matches(): %s%s", m && *m ? m : tg_strerror(rc), "");
}

static int m_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                    sqlite3_value **argv)
{
    (void)idx_str;
    matches_cursor *cur = (matches_cursor *)base;
    matches_vtab *v = (matches_vtab *)base->pVtab;
    tgsql_conn *c = v->c;
    cursor_reset(cur);
    sqlite3_value *arg[N_ARGS] = {0};
    for (int a = 0, j = 0; a < N_ARGS && j < argc; a++)
        if (idx_num & (1 << a)) arg[a] = argv[j++];

    /* k: INTEGER 1..MAX_K; NULL gives no rows. */
    int t = sqlite3_value_type(arg[ARG_K]);
    if (t == SQLITE_NULL) return SQLITE_OK;
    if (t != SQLITE_INTEGER)
        return fail(v, "tg_matches(): argument 2 (k): INTEGER expected, got %s%s",
                    tgsql_type_name(t), "");
    sqlite3_int64 k = sqlite3_value_int64(arg[ARG_K]);
    if (k < 1 || k > MAX_K) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)k);
        return fail(v, "tg_matches(): argument 2 (k): %s, expected 1 to %s", num, "100000");
    }
    /* prior */
    tg_store_prior prior = {0};
    int has_prior = 0;
    if (arg[2] && (t = sqlite3_value_type(arg[2])) != SQLITE_NULL) {
        if (t != SQLITE_BLOB)
            return fail(v, "tg_matches(): argument 3 (near_geom): BLOB (SpatiaLite geometry) or "
                           "NULL expected, got %s%s", tgsql_type_name(t), "");
        prior.geom = sqlite3_value_blob(arg[2]);
        prior.geom_size = (size_t)sqlite3_value_bytes(arg[2]);
        has_prior = 1;
    }
    if (arg[3] && (t = sqlite3_value_type(arg[3])) != SQLITE_NULL) {
        if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
            return fail(v, "tg_matches(): argument 4 (radius_m): a number of metres or NULL "
                           "expected, got %s%s", tgsql_type_name(t), "");
        prior.radius_m = sqlite3_value_double(arg[3]);
        if (!(prior.radius_m >= 0) || !isfinite(prior.radius_m))
            return fail(v, "tg_matches(): argument 4 (radius_m): expected a distance >= 0 "
                           "metres%s%s", "", "");
    }
    const char *model_name = NULL;
    if (arg[4] && (t = sqlite3_value_type(arg[4])) != SQLITE_NULL) {
        if (t != SQLITE_TEXT)
            return fail(v, "tg_matches(): argument 5 (model): TEXT (model name) or NULL expected, "
                           "got %s%s", tgsql_type_name(t), "");
        model_name = (const char *)sqlite3_value_text(arg[4]);
    }
    double fov_deg = NAN; /* checked by the locator */
    if (arg[5] && (t = sqlite3_value_type(arg[5])) != SQLITE_NULL) {
        if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
            return fail(v, "tg_matches(): argument 6 (fov_deg): a number of degrees or NULL "
                           "expected, got %s%s", tgsql_type_name(t), "");
        fov_deg = sqlite3_value_double(arg[5]);
    }
    int heading_search = 0;
    if (arg[6] && (t = sqlite3_value_type(arg[6])) != SQLITE_NULL) {
        sqlite3_int64 hn = sqlite3_value_int64(arg[6]);
        if (t != SQLITE_INTEGER || hn < 0 || hn > 360)
            return fail(v, "tg_matches(): argument 7 (heading_search): INTEGER 0..360 or NULL "
                           "expected%s%s", "", "");
        heading_search = (int)hn;
    }

    const char *prior_text = NULL;
    if (arg[7] && (t = sqlite3_value_type(arg[7])) != SQLITE_NULL) {
        if (t != SQLITE_TEXT)
            return fail(v, "tg_matches(): argument 8 (prior): TEXT ('gps' or 'gps=RADIUS_M') or "
                           "NULL expected, got %s%s", tgsql_type_name(t), "");
        prior_text = (const char *)sqlite3_value_text(arg[7]);
    }
    tg_locate_opts opts;
    tg_locate_opts_default(&opts);
    if (prior_text) {
        char msg[200];
        if (tgsql_parse_prior(prior_text, &opts, msg, sizeof msg))
            return fail(v, "tg_matches(): argument 8: %s%s", msg, "");
    }

    tgsql_photo ph;
    int got = tgsql_photo_get(c, NULL, &v->base.zErrMsg, "tg_matches", 1, arg[ARG_PHOTO],
                              TGSQL_PHOTO_IMAGE | TGSQL_PHOTO_EMBEDDING, &ph);
    if (got < 0) return SQLITE_ERROR;
    if (got > 0) return SQLITE_OK; /* NULL photo: no rows */
    int rc = SQLITE_OK, trc;
    tg_locator *loc = NULL;
    tg_locate_answer ans = {0};
    tg_store *st = tgsql_store(c, NULL, "tg_matches");
    if (!st) {
        rc = fail_tg(v, TG_EDB);
        goto done;
    }
    opts.model = model_name;
    opts.k = (int)k;
    opts.prior = has_prior ? &prior : NULL;
    opts.fov_deg = fov_deg;
    opts.heading_search = heading_search;
    tg_locate_input in = {.image = ph.img, .path = ph.path, .bytes = ph.emb ? NULL : ph.bytes,
                          .n_bytes = ph.n_bytes, .embedding = ph.emb, .embedding_dim = ph.emb_dim};
    if ((trc = tg_locator_open(c->ctx, st, &opts, &loc)) ||
        (trc = tg_locator_run(loc, c->ctx, &in, &ans))) {
        rc = fail_tg(v, trc);
        goto done;
    }
    int n = ans.n_matches;
    cur->rows = sqlite3_malloc64((sqlite3_uint64)(n ? n : 1) * sizeof *cur->rows);
    if (!cur->rows) {
        rc = SQLITE_NOMEM;
        goto done;
    }
    memset(cur->rows, 0, (size_t)(n ? n : 1) * sizeof *cur->rows);
    /* Footprints of the k rows, from the store. */
    for (int i = 0; i < n; i++) {
        cur->rows[i].m = ans.matches[i];
        cur->rows[i].heading_source = ans.heading_source;
        void *blob = NULL;
        int size = 0;
        trc = tg_store_tile_geom(c->ctx, st, ans.matches[i].tile_id, &blob, &size);
        if (trc == TG_ENOTFOUND) continue; /* no footprint: NULL geom */
        if (!trc) {
            cur->rows[i].geom = sqlite3_malloc(size > 0 ? size : 1);
            if (cur->rows[i].geom) {
                memcpy(cur->rows[i].geom, blob, (size_t)size);
                cur->rows[i].geom_size = size;
            }
        }
        free(blob);
        if (trc) {
            cur->n = i;
            rc = fail_tg(v, trc);
            break;
        }
        if (!cur->rows[i].geom) {
            cur->n = i;
            rc = SQLITE_NOMEM;
            break;
        }
    }
    if (rc == SQLITE_OK) cur->n = n;
done:
    tg_locate_answer_clear(&ans);
    tg_locator_free(loc);
    tgsql_photo_free(&ph);
    return rc;
}

static int m_next(sqlite3_vtab_cursor *base)
{
    ((matches_cursor *)base)->i++;
    return SQLITE_OK;
}

static int m_eof(sqlite3_vtab_cursor *base)
{
    matches_cursor *cur = (matches_cursor *)base;
    return cur->i >= cur->n;
}

static int m_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    matches_cursor *cur = (matches_cursor *)base;
    const match_row *r = &cur->rows[cur->i];
    switch (col) {
    case COL_RANK: sqlite3_result_int(ctx, r->m.rank); break;
    case COL_TILE_ID: sqlite3_result_int64(ctx, r->m.tile_id); break;
    case COL_SCORE: sqlite3_result_double(ctx, r->m.score); break;
    case COL_LON: sqlite3_result_double(ctx, r->m.lon); break;
    case COL_LAT: sqlite3_result_double(ctx, r->m.lat); break;
    case COL_ERROR_M: sqlite3_result_double(ctx, r->m.error_m); break;
    case COL_HEADING: /* NULL when the photo has none (an embedding query) */
        if (isfinite(r->m.heading_deg)) sqlite3_result_double(ctx, r->m.heading_deg);
        break;
    case COL_HEADING_SOURCE:
        sqlite3_result_text(ctx, tg_heading_source_name(r->heading_source), -1, SQLITE_STATIC);
        break;
    case COL_GEOM:
        if (r->geom) sqlite3_result_blob(ctx, r->geom, r->geom_size, SQLITE_TRANSIENT);
        break;
    default: break; /* the HIDDEN arguments read back as NULL */
    }
    return SQLITE_OK;
}

static int m_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    matches_cursor *cur = (matches_cursor *)base;
    *rowid = cur->rows[cur->i].m.rank;
    return SQLITE_OK;
}

static const sqlite3_module matches_module = {
    0,                   /* iVersion */
    NULL,                /* xCreate: NULL = eponymous-only */
    m_connect,           /* xConnect */
    m_best_index,        /* xBestIndex */
    m_disconnect,        /* xDisconnect */
    NULL,                /* xDestroy */
    m_open,              /* xOpen */
    m_close,             /* xClose */
    m_filter,            /* xFilter */
    m_next,              /* xNext */
    m_eof,               /* xEof */
    m_column,            /* xColumn */
    m_rowid,             /* xRowid */
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

int tgsql_register_matches(sqlite3 *db, tgsql_conn *c)
{
    c->refs++;
    return sqlite3_create_module_v2(db, "tg_matches", &matches_module, c, tgsql_conn_unref);
}
