/* registry.c - the model registry: tg_models rows, loading and caching the
 * model files they name, checking the two agree (see store.h, "models"). */
#include "config.h"
#include "store_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_vsi.h>
#include <jansson.h>

#include "transgeo/transgeo_model.h"

/* ---- models ------------------------------------------------------------- */

/* The model file's own metadata: safetensors header __metadata__ (all values
 * are strings). We keep it verbatim as config_json, and read out_dim, the
 * aerial tile and gsd and sha256 from it. */
static int read_model_metadata(tg_ctx *ctx, const char *path, char **json_out)
{
    *json_out = NULL;
    VSILFILE *f = VSIFOpenL(path, "rb");
    if (!f) return tg_set_error(ctx, TG_EIO, "model '%s': cannot open", path);
    unsigned char len8[8];
    char *hdr = NULL;
    json_t *root = NULL;
    int rc = TG_OK;
    if (VSIFReadL(len8, 1, 8, f) != 8) {
        rc = tg_set_error(ctx, TG_EFORMAT, "model '%s': too short for a safetensors file", path);
        goto done;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n == 0 || n > (100u << 20)) { /* the length itself is not shown: file bytes */
        rc = tg_set_error(ctx, TG_EFORMAT,
                          "model '%s': its first 8 bytes are not a safetensors header length "
                          "(1 byte to 100 MB)", path);
        goto done;
    }
    hdr = malloc(n + 1);
    if (!hdr || VSIFReadL(hdr, 1, n, f) != n) {
        rc = tg_set_error(ctx, hdr ? TG_EFORMAT : TG_ENOMEM, "model '%s': cannot read its header",
                          path);
        goto done;
    }
    hdr[n] = 0;
    json_error_t jerr;
    root = json_loads(hdr, 0, &jerr);
    json_t *meta = root ? json_object_get(root, "__metadata__") : NULL;
    if (!json_is_object(meta)) {
        rc = tg_set_error(ctx, TG_EFORMAT, "model '%s': no __metadata__ in its header", path);
        goto done;
    }
    *json_out = json_dumps(meta, JSON_SORT_KEYS | JSON_COMPACT);
    if (!*json_out) rc = tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", path);
done:
    json_decref(root);
    free(hdr);
    VSIFCloseL(f);
    return rc;
}

/* Numbers of interest from config_json. */
void tgst_parse_config(const char *json, tg_store_model *m)
{
    json_error_t jerr;
    json_t *o = json ? json_loads(json, 0, &jerr) : NULL;
    const char *v;
    m->out_dim = 0;
    m->tile_m = m->gsd_m = 0;
    if ((v = json_string_value(json_object_get(o, "out_dim")))) m->out_dim = atoi(v);
    if ((v = json_string_value(json_object_get(o, "aerial_tile_m")))) m->tile_m = atof(v);
    if ((v = json_string_value(json_object_get(o, "aerial_gsd_m")))) m->gsd_m = atof(v);
    json_decref(o);
}

static void copy_str(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static const char *const model_select =
    "SELECT m.id, m.name, m.path, m.sha256, m.config_json, "
    "(SELECT count(*) FROM tg_tiles t WHERE t.model_id = m.id) FROM tg_models m ";

static void model_from_row(sqlite3_stmt *s, tg_store_model *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(s, 0);
    copy_str(m->name, sizeof m->name, sqlite3_column_text(s, 1));
    copy_str(m->path, sizeof m->path, sqlite3_column_text(s, 2));
    copy_str(m->sha256, sizeof m->sha256, sqlite3_column_text(s, 3));
    tgst_parse_config((const char *)sqlite3_column_text(s, 4), m);
    m->n_tiles = sqlite3_column_int64(s, 5);
}

static int model_cache_put(tg_ctx *ctx, tg_store *st, int64_t id, const char *sha, tg_model *model)
{
    model_entry *e = calloc(1, sizeof *e);
    if (!e) return tg_set_error(ctx, TG_ENOMEM, "model cache: out of memory");
    e->id = id;
    snprintf(e->sha256, sizeof e->sha256, "%s", sha);
    e->model = model;
    e->next = st->models;
    st->models = e;
    return TG_OK;
}

/* Take the models cached under id out of the cache (re-registered, or the
 * registry no longer describes them). They are not freed: a caller may still
 * use a model tg_store_model_get returned ("valid until tg_store_close"). */
static void model_cache_drop(tg_store *st, int64_t id)
{
    for (model_entry **p = &st->models; *p;) {
        if ((*p)->id == id) {
            model_entry *e = *p;
            *p = e->next;
            e->next = st->retired;
            st->retired = e;
        } else {
            p = &(*p)->next;
        }
    }
}

/* 1 when the loaded model is the one the registry row m describes: the
 * embedding size (out_dim: every buffer of a tile or photo embedding is sized
 * from it), the aerial tile and gsd. A value the row lacks (0) is not
 * compared. */
static int model_fits_row(const tg_store_model *m, const tg_model *model)
{
    const tg_model_config *c = tg_model_config_get(model);
    return (m->out_dim <= 0 || c->out_dim == m->out_dim) &&
           (!(m->tile_m > 0) || c->aerial_tile_m == m->tile_m) &&
           (!(m->gsd_m > 0) || c->aerial_gsd_m == m->gsd_m);
}

int tgst_model_row_mismatch(tg_ctx *ctx, tg_store *st, const tg_store_model *m,
                            const tg_model *model)
{
    const tg_model_config *c = tg_model_config_get(model);
    return tg_set_error(ctx, TG_EMODEL,
                        "model '%s': database '%s' registers it with out_dim %d, aerial_tile_m %g, "
                        "aerial_gsd_m %g, but the model file '%s' has out_dim %d, aerial_tile_m %g, "
                        "aerial_gsd_m %g (the name was registered again by another connection, or "
                        "tg_models was edited): register the file again (tg_model_register('%s', "
                        "'%s')), or under a new name if its tiles were made with another "
                        "configuration",
                        m->name, tg_store_label(st), m->out_dim, m->tile_m, m->gsd_m, m->path,
                        c->out_dim, c->aerial_tile_m, c->aerial_gsd_m, m->name, m->path);
}

/* Keys of two metadata objects (config_json) that differ, ignoring the
 * descriptive ones (source, preset) and sha256 (compared by the caller), as
 * "key 'a' -> 'b', ..." in buf. Returns how many differ. */
int tgst_config_diff(const char *old_json, const char *new_json, char *buf, size_t cap)
{
    static const char *const ignored[] = {"source", "preset", "sha256"};
    json_error_t jerr;
    json_t *a = old_json ? json_loads(old_json, 0, &jerr) : NULL;
    json_t *b = new_json ? json_loads(new_json, 0, &jerr) : NULL;
    size_t len = 0;
    int n = 0;
    buf[0] = 0;
    for (int pass = 0; pass < 2; pass++) {
        json_t *x = pass ? b : a, *y = pass ? a : b;
        const char *k;
        json_t *v;
        json_object_foreach(x, k, v) {
            int skip = 0;
            for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) skip |= !strcmp(k, ignored[i]);
            json_t *w = json_object_get(y, k);
            if (skip || (pass && w) || json_equal(v, w)) continue; /* pass 1: keys only in b */
            const char *sv = json_string_value(v), *sw = json_string_value(w);
            const char *from = pass ? sw : sv, *to = pass ? sv : sw;
            n++;
            if (len + 16 < cap) {
                int wrote = snprintf(buf + len, cap - len, "%s%s '%s' -> '%s'", len ? ", " : "", k,
                                     from ? from : "(none)", to ? to : "(none)");
                if (wrote > 0) len = (size_t)wrote < cap - len ? len + (size_t)wrote : cap - 1;
            }
        }
    }
    json_decref(a);
    json_decref(b);
    return n;
}

/* The row registered under name, if any: [out] *id (0 when none). Refuses
 * (TG_EMODEL) a model that is not the one the name's tiles were made with:
 * other weights (sha256), or the same weights under another configuration
 * (json: the new file's metadata). */
static int register_lookup(tg_ctx *ctx, tg_store *st, const char *name, const char *path,
                           const char *sha, const char *json, int64_t *id)
{
    *id = 0;
    char sql[512];
    sqlite3_stmt *s = NULL;
    snprintf(sql, sizeof sql, "%s WHERE m.name = ?1", model_select);
    int rc = tgst_prepare(ctx, st->db, sql, &s);
    if (rc) return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        tg_store_model old;
        model_from_row(s, &old);
        *id = old.id;
        char diff[512];
        if (strcmp(old.sha256, sha) != 0 && old.n_tiles > 0) {
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model name '%s' is already registered for another model (sha256 "
                              "%.12s..., %lld tiles); '%s' has sha256 %.12s...: register it under "
                              "another name",
                              name, old.sha256, old.n_tiles, path, sha);
        } else if (old.n_tiles > 0 &&
                   tgst_config_diff((const char *)sqlite3_column_text(s, 4), json, diff, sizeof diff) > 0) {
            /* The same weights under another configuration (out_dim, input
             * sizes, tile geometry...) make other embeddings: the stored
             * tiles would no longer match the model, or not even have its
             * size. */
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model name '%s' is already registered with the same weights "
                              "(sha256 %.12s...) but another configuration (%s), and its %lld "
                              "tiles were made with the registered one: register '%s' under "
                              "another name",
                              name, old.sha256, diff, old.n_tiles, path);
        }
    } else if (step != SQLITE_DONE) {
        rc = tgst_fail(ctx, st->db, "looking up the model");
    }
    sqlite3_finalize(s);
    return rc;
}

int tg_store_model_register(tg_ctx *ctx, tg_store *st, const char *name, const char *path,
                            tg_store_model *out)
{
    if (!st || !name || !path) return tg_set_error(ctx, TG_EINVAL, "tg_store_model_register: NULL argument");
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 255)
        return tg_set_error(ctx, TG_EINVAL, "model name '%s': expected 1 to 255 bytes", name);
    if (!*path) return tg_set_error(ctx, TG_EINVAL, "model '%s': empty path", name);
    tg_model *model = NULL;
    char *json = NULL;
    sqlite3_stmt *s = NULL;
    txn t = {0, 0, NULL};
    int in_txn = 0;
    int64_t id = 0;
    int rc = st->pg ? tgpg_check_writable(ctx, st, "register a model")
                    : tgst_check_writable(ctx, st->db, "register a model");
    if (rc) return rc;
    rc = tg_model_load(ctx, path, &model);
    if (rc) return rc;
    rc = read_model_metadata(ctx, path, &json);
    if (rc) goto fail;
    tg_store_model m;
    memset(&m, 0, sizeof m);
    const char *cfg_sha = tg_model_config_get(model)->sha256;
    if (cfg_sha && *cfg_sha) snprintf(m.sha256, sizeof m.sha256, "%s", cfg_sha);
    else if ((rc = tg_store_file_sha256(ctx, path, m.sha256))) /* none in the metadata: the file's */
        goto fail;
    rc = tg_store_ensure_schema(ctx, st);
    if (rc) goto fail;
    /* A name taken by another model is refused before the data are hashed
     * (and again below, inside the write transaction). */
    rc = st->pg ? tgpg_model_write(ctx, st, name, path, m.sha256, json, 1, &id)
                : register_lookup(ctx, st, name, path, m.sha256, json, &id);
    if (rc) goto fail;
    if (cfg_sha && *cfg_sha) {
        /* The weights must be the ones the file says: a flipped bit in the
         * data section passes every structural check and would make every
         * tile and photo embedding wrong. Hashed outside the transaction. */
        rc = tg_model_verify(ctx, model, NULL);
        if (rc) {
            tg_append_error(ctx, "not registered as '%s' (copy, download or convert the model "
                                 "again)", name);
            goto fail;
        }
    }
    if (st->pg) {
        rc = tgpg_model_write(ctx, st, name, path, m.sha256, json, 0, &id);
        if (rc) goto fail;
        goto registered;
    }
    rc = tgst_txn_begin(ctx, st->db, &t, "tg_register");
    if (rc) goto fail;
    in_txn = 1;
    rc = register_lookup(ctx, st, name, path, m.sha256, json, &id);
    if (rc) goto fail;
    if (id) {
        rc = tgst_prepare(ctx, st->db,
                     "UPDATE tg_models SET path = ?2, sha256 = ?3, config_json = ?4 WHERE id = ?1",
                     &s);
        if (rc) goto fail;
        sqlite3_bind_int64(s, 1, id);
    } else {
        rc = tgst_prepare(ctx, st->db,
                     "INSERT INTO tg_models (name, path, sha256, config_json) VALUES (?1, ?2, ?3, ?4)",
                     &s);
        if (rc) goto fail;
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m.sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, json, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) {
        rc = tgst_fail(ctx, st->db, "registering the model");
        goto fail;
    }
    if (!id) id = sqlite3_last_insert_rowid(st->db);
    sqlite3_finalize(s);
    s = NULL;
    rc = tgst_txn_commit(ctx, st->db, &t);
    if (rc) goto fail;
    in_txn = 0;
registered:
    model_cache_drop(st, id);
    rc = model_cache_put(ctx, st, id, m.sha256, model);
    if (rc) goto fail;
    model = NULL;
    if (out) rc = tg_store_model_find(ctx, st, name, out);
    free(json);
    return rc;
fail:
    sqlite3_finalize(s);
    if (in_txn) tgst_txn_rollback(st->db, &t);
    tg_model_free(model);
    free(json);
    return rc;
}

/* "a, b, c" of the registered names (for messages). */
static void model_names(sqlite3 *db, char *buf, size_t cap)
{
    buf[0] = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM tg_models ORDER BY name", -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return;
    }
    size_t len = 0;
    while (sqlite3_step(s) == SQLITE_ROW && len + 8 < cap) {
        int n = snprintf(buf + len, cap - len, "%s'%s'", len ? ", " : "",
                         (const char *)sqlite3_column_text(s, 0));
        if (n < 0) break;
        len += (size_t)n;
        if (len >= cap) {
            len = cap - 1;
            break;
        }
    }
    sqlite3_finalize(s);
}

int tg_store_model_find(tg_ctx *ctx, tg_store *st, const char *name, tg_store_model *out)
{
    if (!st || !out) return tg_set_error(ctx, TG_EINVAL, "tg_store_model_find: NULL argument");
    if (st->pg) return tgpg_model_find(ctx, st, name, out);
    int has = tg_store_has_schema(ctx, st);
    if (has < 0) return has;
    if (!has)
        return tg_set_error(ctx, TG_ENOTFOUND,
                            "database '%s' has no transgeo tables: register a model and index a "
                            "raster first (SQL: SELECT tg_model_register('name', "
                            "'model.safetensors'); SELECT tg_index_raster('ortho.tif'))",
                            tgst_label(st->db));
    char sql[640];
    sqlite3_stmt *s = NULL;
    char names[1024];
    int rc;
    if (name && *name) {
        snprintf(sql, sizeof sql, "%s WHERE m.name = ?1", model_select);
        rc = tgst_prepare(ctx, st->db, sql, &s);
        if (rc) return rc;
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            model_from_row(s, out);
            sqlite3_finalize(s);
            return TG_OK;
        }
        sqlite3_finalize(s);
        if (step != SQLITE_DONE) return tgst_fail(ctx, st->db, "looking up the model");
        model_names(st->db, names, sizeof names);
        return tg_set_error(ctx, TG_ENOTFOUND,
                            "model '%s' is not registered in '%s' (registered: %s): register it "
                            "with tg_model_register('%s', 'model.safetensors')",
                            name, tgst_label(st->db), names[0] ? names : "none", name);
    }
    /* No name: the only model with tiles, else the only model. */
    for (int pass = 0; pass < 2; pass++) {
        snprintf(sql, sizeof sql,
                 "SELECT id, name, path, sha256, config_json, n FROM (SELECT m.id, m.name, m.path, "
                 "m.sha256, m.config_json, (SELECT count(*) FROM tg_tiles t WHERE t.model_id = "
                 "m.id) AS n FROM tg_models m) WHERE %s ORDER BY id LIMIT 2",
                 pass == 0 ? "n > 0" : "1");
        rc = tgst_prepare(ctx, st->db, sql, &s);
        if (rc) return rc;
        int n = 0, step;
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            if (n == 0) model_from_row(s, out);
            n++;
        }
        sqlite3_finalize(s);
        if (step != SQLITE_DONE) return tgst_fail(ctx, st->db, "looking up the models");
        if (n == 1) return TG_OK;
        if (n > 1) {
            model_names(st->db, names, sizeof names);
            return tg_set_error(ctx, TG_ENOTFOUND,
                                "database '%s' has several models (%s): name the one to use",
                                tgst_label(st->db), names);
        }
    }
    return tg_set_error(ctx, TG_ENOTFOUND,
                        "no model is registered in '%s': register one with "
                        "tg_model_register('name', 'model.safetensors')",
                        tgst_label(st->db));
}

int tg_store_model_get(tg_ctx *ctx, tg_store *st, const tg_store_model *m, const tg_model **out)
{
    if (!st || !m || !out) return tg_set_error(ctx, TG_EINVAL, "tg_store_model_get: NULL argument");
    *out = NULL;
    for (model_entry *e = st->models; e; e = e->next) {
        /* same id and weights; and the configuration the registry now has
         * (another connection may have re-registered the name) */
        if (e->id == m->id && strcmp(e->sha256, m->sha256) == 0 && model_fits_row(m, e->model)) {
            *out = e->model;
            return TG_OK;
        }
    }
    model_cache_drop(st, m->id); /* re-registered with another file or configuration */
    tg_model *model = NULL;
    char what[300];
    snprintf(what, sizeof what, "model '%s'", m->name);
    /* The path is the database's: the file policy decides before a byte of
     * the file is read (store.h, "files the database names"). */
    int rc = tg_store_file_check(ctx, st, m->path, TG_STORE_FILE_MODEL, what);
    if (rc) return rc;
    rc = tg_model_load(ctx, m->path, &model);
    if (rc) {
        tg_append_error(ctx, "(model '%s' as registered in '%s'; register it again with its "
                             "new path if the file moved)",
                        m->name, tg_store_label(st));
        return rc;
    }
    {
        const char *cfg_sha = tg_model_config_get(model)->sha256;
        char file_sha[65] = "";
        if (cfg_sha && strlen(cfg_sha) == 64) snprintf(file_sha, sizeof file_sha, "%s", cfg_sha);
        else if ((rc = tg_store_file_sha256(ctx, m->path, file_sha))) goto fail;
        if (strcmp(file_sha, m->sha256) != 0) {
            /* The file's own hash is not shown: it is a number taken from
             * the file (the database may name any file). */
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model '%s': the file '%s' has changed since it was registered "
                              "(its sha256 is no longer the registered %.12s...): its tiles "
                              "were made by the old weights; register the new file under "
                              "another name and index again",
                              m->name, m->path, m->sha256);
            goto fail;
        }
    }
    if (!model_fits_row(m, model)) {
        rc = tgst_model_row_mismatch(ctx, st, m, model);
        goto fail;
    }
    rc = model_cache_put(ctx, st, m->id, m->sha256, model);
    if (rc) goto fail;
    *out = model;
    return TG_OK;
fail:
    tg_model_free(model);
    return rc;
}

int tg_store_model_list(tg_ctx *ctx, tg_store *st, tg_store_model **list, size_t *n)
{
    if (!st || !list || !n) return tg_set_error(ctx, TG_EINVAL, "tg_store_model_list: NULL argument");
    if (st->pg) return tgpg_model_list(ctx, st, list, n);
    *list = NULL;
    *n = 0;
    char sql[512];
    snprintf(sql, sizeof sql, "%sORDER BY m.name", model_select);
    sqlite3_stmt *s = NULL;
    int rc = tgst_prepare(ctx, st->db, sql, &s);
    if (rc) return rc;
    tg_store_model *out = NULL;
    size_t cnt = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            tg_store_model *p = realloc(out, nc * sizeof *p);
            if (!p) {
                rc = tg_set_error(ctx, TG_ENOMEM, "listing models: out of memory");
                break;
            }
            out = p;
            cap = nc;
        }
        model_from_row(s, &out[cnt++]);
    }
    if (!rc && step != SQLITE_DONE) rc = tgst_fail(ctx, st->db, "listing the models");
    sqlite3_finalize(s);
    if (rc) {
        free(out);
        return rc;
    }
    *list = out;
    *n = cnt;
    return TG_OK;
}
