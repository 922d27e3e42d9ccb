/* pg_registry.c - the model registry's rows on PostgreSQL (tg_models): the
 * write of tg_store_model_register, tg_store_model_find, tg_store_model_list.
 * Loading, verifying and caching the model files stays in registry.c, the
 * same for both backends. */
#include "config.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "SELECT <a model row> FROM tg_models m " + tail (printf-style, one %s:
 * arg), malloc'ed; NULL on an error (set in ctx). The tile count is summed
 * over the partitions (tgpg_count_expr: on shards each counts its own). */
static char *model_select(tg_ctx *ctx, tg_store *st, const char *tail, const char *arg)
{
    char *count = tgpg_count_expr(ctx, st, "t.model_id = m.id");
    if (!count) return NULL;
    size_t cap = strlen(count) + strlen(tail) + (arg ? strlen(arg) : 0) + 160;
    char *sql = malloc(cap);
    if (!sql) {
        free(count);
        tg_set_error(ctx, TG_ENOMEM, "PostgreSQL: out of memory");
        return NULL;
    }
    int n = snprintf(sql, cap, "SELECT m.id, m.name, m.path, m.sha256, m.config_json, %s AS count "
                               "FROM tg_models m ", count);
    snprintf(sql + n, cap - (size_t)n, tail, arg ? arg : "");
    free(count);
    return sql;
}

static void model_from_row(const tg_store *st, const tg_pg_rows *r, long i, tg_store_model *m)
{
    memset(m, 0, sizeof *m);
    const char *v;
    m->id = tgpg_i(st, r, i, 0);
    snprintf(m->name, sizeof m->name, "%s", (v = tgpg_s(st, r, i, 1)) ? v : "");
    snprintf(m->path, sizeof m->path, "%s", (v = tgpg_s(st, r, i, 2)) ? v : "");
    snprintf(m->sha256, sizeof m->sha256, "%s", (v = tgpg_s(st, r, i, 3)) ? v : "");
    tgst_parse_config(tgpg_s(st, r, i, 4), m);
    m->n_tiles = tgpg_i(st, r, i, 5);
}

/* "'a', 'b'" of the registered names (for messages). */
static void model_names(tg_store *st, char *buf, size_t cap)
{
    buf[0] = 0;
    tg_pg_rows *r = NULL;
    if (tgpg_run(NULL, st, "SELECT name FROM tg_models ORDER BY name", 0, NULL, &r)) return;
    size_t len = 0;
    for (long i = 0; i < tgpg_n(st, r) && len + 8 < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s'%s'", len ? ", " : "", tgpg_s(st, r, i, 0));
        if (w < 0) break;
        len = (size_t)w < cap - len ? len + (size_t)w : cap - 1;
    }
    tgpg_free(st, r);
}

int tgpg_model_write(tg_ctx *ctx, tg_store *st, const char *name, const char *path,
                     const char *sha, const char *json, int check_only, int64_t *id)
{
    *id = 0;
    int rc = TG_OK, in_txn = 0;
    tg_pg_rows *r = NULL;
    if (!check_only) {
        rc = tgpg_begin(ctx, st, NULL);
        if (rc) return rc;
        in_txn = 1;
        /* Registrations one at a time (a name registered twice at once). */
        rc = tgpg_run(ctx, st, "LOCK TABLE tg_models IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL);
        if (rc) goto done;
    }
    char *sql = model_select(ctx, st, "WHERE m.name = $1", NULL);
    if (!sql) {
        rc = tg_errcode(ctx) ? tg_errcode(ctx) : TG_ENOMEM;
        goto done;
    }
    tg_pg_value p[4] = {PG_T(name)};
    rc = tgpg_run(ctx, st, sql, 1, p, &r);
    free(sql);
    if (rc) goto done;
    if (tgpg_n(st, r) == 1) {
        tg_store_model old;
        model_from_row(st, r, 0, &old);
        *id = old.id;
        char diff[512];
        if (strcmp(old.sha256, sha) != 0 && old.n_tiles > 0) {
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model name '%s' is already registered for another model (sha256 "
                              "%.12s..., %lld tiles); '%s' has sha256 %.12s...: register it under "
                              "another name",
                              name, old.sha256, old.n_tiles, path, sha);
        } else if (old.n_tiles > 0 && tgst_config_diff(tgpg_s(st, r, 0, 4), json, diff, sizeof diff) > 0) {
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model name '%s' is already registered with the same weights "
                              "(sha256 %.12s...) but another configuration (%s), and its %lld "
                              "tiles were made with the registered one: register '%s' under "
                              "another name",
                              name, old.sha256, diff, old.n_tiles, path);
        }
    }
    tgpg_free(st, r);
    r = NULL;
    if (rc || check_only) goto done;
    if (*id) {
        tg_pg_value u[4] = {PG_I(*id), PG_T(path), PG_T(sha), PG_T(json)};
        rc = tgpg_run(ctx, st, "UPDATE tg_models SET path = $2, sha256 = $3, config_json = $4 WHERE id = $1",
                      4, u, NULL);
    } else {
        tg_pg_value u[4] = {PG_T(name), PG_T(path), PG_T(sha), PG_T(json)};
        rc = tgpg_run(ctx, st,
                      "INSERT INTO tg_models (name, path, sha256, config_json) VALUES ($1, $2, $3, "
                      "$4) RETURNING id",
                      4, u, &r);
        if (!rc) *id = tgpg_i(st, r, 0, 0);
    }
    if (!rc) {
        rc = tgpg_commit(ctx, st);
        if (!rc) in_txn = 0;
    }
done:
    tgpg_free(st, r);
    if (in_txn) tgpg_rollback(st);
    return rc;
}

int tgpg_model_find(tg_ctx *ctx, tg_store *st, const char *name, tg_store_model *out)
{
    int has = tgpg_has_schema(ctx, st);
    if (has < 0) return has;
    const char *label = st->pg->label;
    if (!has)
        return tg_set_error(ctx, TG_ENOTFOUND,
                            "PostgreSQL server '%s' has no transgeo tables: register a model and "
                            "index a raster first (transgeo index RASTER --db URI)",
                            label);
    char names[1024], *sql;
    tg_pg_rows *r = NULL;
    int rc;
    if (name && *name) {
        if (!(sql = model_select(ctx, st, "WHERE m.name = $1", NULL))) return tg_errcode(ctx);
        tg_pg_value p[1] = {PG_T(name)};
        rc = tgpg_run(ctx, st, sql, 1, p, &r);
        free(sql);
        if (rc) return rc;
        long n = tgpg_n(st, r);
        if (n == 1) model_from_row(st, r, 0, out);
        tgpg_free(st, r);
        if (n == 1) return TG_OK;
        model_names(st, names, sizeof names);
        return tg_set_error(ctx, TG_ENOTFOUND,
                            "model '%s' is not registered in '%s' (registered: %s): register it "
                            "(transgeo index RASTER --db URI --model FILE.safetensors)",
                            name, label, names[0] ? names : "none");
    }
    /* No name: the only model with tiles, else the only model. */
    for (int pass = 0; pass < 2; pass++) {
        /* the models with tiles first (pass 0), then any */
        char *ms = model_select(ctx, st, "", NULL);
        if (!ms) return tg_errcode(ctx);
        sql = malloc(strlen(ms) + 80);
        if (sql)
            sprintf(sql, "SELECT * FROM (%s) AS x WHERE %s ORDER BY 1 LIMIT 2", ms,
                    pass == 0 ? "x.count > 0" : "true");
        free(ms);
        if (!sql) return tg_set_error(ctx, TG_ENOMEM, "PostgreSQL: out of memory");
        rc = tgpg_run(ctx, st, sql, 0, NULL, &r);
        free(sql);
        if (rc) return rc;
        long n = tgpg_n(st, r);
        if (n >= 1) model_from_row(st, r, 0, out);
        tgpg_free(st, r);
        if (n == 1) return TG_OK;
        if (n > 1) {
            model_names(st, names, sizeof names);
            return tg_set_error(ctx, TG_ENOTFOUND,
                                "PostgreSQL server '%s' has several models (%s): name the one to use",
                                label, names);
        }
    }
    return tg_set_error(ctx, TG_ENOTFOUND,
                        "no model is registered in PostgreSQL server '%s': register one "
                        "(transgeo index RASTER --db URI --model FILE.safetensors)",
                        label);
}

int tgpg_model_list(tg_ctx *ctx, tg_store *st, tg_store_model **list, size_t *n)
{
    tg_pg_rows *r = NULL;
    int has = tgpg_has_schema(ctx, st);
    if (has <= 0) return has; /* no tables: no models */
    char *sql = model_select(ctx, st, "ORDER BY m.name", NULL);
    if (!sql) return tg_errcode(ctx);
    int rc = tgpg_run(ctx, st, sql, 0, NULL, &r);
    free(sql);
    if (rc) return rc;
    long cnt = tgpg_n(st, r);
    tg_store_model *out = cnt > 0 ? calloc((size_t)cnt, sizeof *out) : NULL;
    if (cnt > 0 && !out) {
        tgpg_free(st, r);
        return tg_set_error(ctx, TG_ENOMEM, "listing models: out of memory");
    }
    for (long i = 0; i < cnt; i++) model_from_row(st, r, i, &out[i]);
    tgpg_free(st, r);
    *list = out;
    *n = (size_t)cnt;
    return TG_OK;
}
