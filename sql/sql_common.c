/* sql_common.c - per-connection state and argument helpers of mod_transgeo
 * (see tgsql.h). */
#include "config.h"
#include "tgsql.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transgeo/model.h"
#include "transgeo/transgeo_model.h"

void tgsql_conn_unref(void *p)
{
    tgsql_conn *c = p;
    if (!c || --c->refs > 0) return;
    tg_store_close(c->store);
    tg_ctx_free(c->ctx);
    sqlite3_free(c->trusted_dirs);
    sqlite3_free(c->trusted_models);
    sqlite3_free(c);
}

int tgsql_apply_files(tgsql_conn *c)
{
    if (!c->store) return TG_OK; /* applied when the store is made */
    tg_store_files f = {
        .restricted = !c->allow_files,
        .dirs = c->trusted_dirs,
        .models = c->trusted_models,
        .hint = "file access is off for this connection (allow_files 0): the program that loads "
                "mod_transgeo names the trusted locations (TG_SQL_TRUSTED_DIRS, "
                "TG_SQL_TRUSTED_MODELS; see transgeo-sql(7), UNTRUSTED SQL AND DATABASES)",
    };
    return tg_store_set_files(c->ctx, c->store, &f);
}

tg_store *tgsql_store(tgsql_conn *c, sqlite3_context *ctx, const char *fn)
{
    if (c->store) return c->store;
    int rc = tg_store_wrap(c->ctx, c->db, &c->store);
    if (!rc && (rc = tgsql_apply_files(c))) {
        tg_store_close(c->store);
        c->store = NULL;
    }
    if (rc) {
        if (ctx) tgsql_error_tg(ctx, fn, c, rc);
        return NULL;
    }
    return c->store;
}

void tgsql_error(sqlite3_context *ctx, const char *fn, const char *fmt, ...)
{
    char msg[1400];
    int n = snprintf(msg, sizeof msg, "%s(): ", fn);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    sqlite3_result_error(ctx, msg, -1);
}

void tgsql_error_tg(sqlite3_context *ctx, const char *fn, tgsql_conn *c, int rc)
{
    const char *m = tg_errmsg(c->ctx);
    /* TG_ENOMEM mostly means an input that asked for too much (a huge grid,
     * image or BLOB): the library's message says which and what to do. A
     * bare SQLITE_NOMEM ("out of memory") only when there is no message. */
    if (rc == TG_ENOMEM && !(m && *m)) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    tgsql_error(ctx, fn, "%s", m && *m ? m : tg_strerror(rc));
}

const char *tgsql_type_name(int type)
{
    switch (type) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
    }
}

/* Report an error either on the function context or into *errmsg (vtab). */
static int photo_fail(sqlite3_context *ctx, char **errmsg, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int photo_fail(sqlite3_context *ctx, char **errmsg, const char *fn, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx) tgsql_error(ctx, fn, "%s", msg);
    else if (errmsg) {
        sqlite3_free(*errmsg);
        *errmsg = sqlite3_mprintf("%s(): %s", fn, msg);
    }
    return -1;
}

/* An embedding BLOB: a whole number of float32, all finite, unit length
 * (tg_embed_* return L2-normalised vectors). Image files never look like
 * that: their first bytes (JPEG FF D8 FF, PNG 89 'PNG', ...) are NaN or
 * huge as float32. */
static int blob_is_embedding(const void *b, size_t n, float **out, int *dim)
{
    if (n < 4 || n % 4 || n > (1u << 24)) return 0;
    size_t d = n / 4;
    float *v = malloc(n);
    if (!v) return 0;
    memcpy(v, b, n);
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1) { /* stored little-endian */
        for (size_t i = 0; i < d; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
            memcpy(&v[i], &u, 4);
        }
    }
    double ss = 0;
    for (size_t i = 0; i < d; i++) {
        if (!isfinite(v[i])) {
            free(v);
            return 0;
        }
        ss += (double)v[i] * v[i];
    }
    if (fabs(ss - 1) > 1e-3) {
        free(v);
        return 0;
    }
    *out = v;
    *dim = (int)d;
    return 1;
}

int tgsql_photo_get(tgsql_conn *c, sqlite3_context *ctx, char **errmsg, const char *fn, int argno,
                    sqlite3_value *v, int accept, tgsql_photo *ph)
{
    memset(ph, 0, sizeof *ph);
    int type = sqlite3_value_type(v);
    const char *what = (accept & TGSQL_PHOTO_EMBEDDING) ? "BLOB (image or embedding) or TEXT (path)"
                                                        : "BLOB (image bytes) or TEXT (path)";
    if (type == SQLITE_NULL) return 1;
    if (type == SQLITE_BLOB) {
        ph->bytes = sqlite3_value_blob(v);
        ph->n_bytes = (size_t)sqlite3_value_bytes(v);
        if (ph->n_bytes == 0 || !ph->bytes)
            return photo_fail(ctx, errmsg, fn,
                              "argument %d: empty BLOB (expected the bytes of an image file)", argno);
        if ((accept & TGSQL_PHOTO_EMBEDDING) &&
            blob_is_embedding(ph->bytes, ph->n_bytes, &ph->emb, &ph->emb_dim))
            return 0;
        if (accept & TGSQL_PHOTO_NO_DECODE) return 0;
        int rc = tg_image_load_mem(c->ctx, ph->bytes, ph->n_bytes, &ph->img);
        if (rc == TG_ENOMEM && !*tg_errmsg(c->ctx)) {
            if (ctx) sqlite3_result_error_nomem(ctx);
            return -1;
        }
        if (rc) return photo_fail(ctx, errmsg, fn, "argument %d: %s", argno, tg_errmsg(c->ctx));
        return 0;
    }
    if (type == SQLITE_TEXT) {
        ph->path = (const char *)sqlite3_value_text(v);
        if (!ph->path || !*ph->path)
            return photo_fail(ctx, errmsg, fn, "argument %d: empty path", argno);
        if (!c->allow_files)
            return photo_fail(ctx, errmsg, fn, "argument %d: " TGSQL_FILES_OFF
                              ": pass the image bytes as a BLOB", argno);
        if (accept & TGSQL_PHOTO_NO_DECODE) return 0;
        int rc = tg_image_load(c->ctx, ph->path, &ph->img);
        if (rc == TG_ENOMEM && !*tg_errmsg(c->ctx)) {
            if (ctx) sqlite3_result_error_nomem(ctx);
            return -1;
        }
        if (rc) return photo_fail(ctx, errmsg, fn, "argument %d: %s", argno, tg_errmsg(c->ctx));
        return 0;
    }
    return photo_fail(ctx, errmsg, fn, "argument %d: %s expected, got %s", argno, what,
                      tgsql_type_name(type));
}

void tgsql_photo_free(tgsql_photo *ph)
{
    tg_image_free(ph->img);
    free(ph->emb);
    memset(ph, 0, sizeof *ph);
}

int tgsql_parse_prior(const char *s, tg_locate_opts *o, char *msg, size_t cap)
{
    if (strcmp(s, "gps") == 0) {
        o->gps_prior = 1;
        o->gps_radius_m = 0;
        return 0;
    }
    if (strncmp(s, "gps=", 4) == 0) {
        char *end = NULL;
        double r = strtod(s + 4, &end);
        if (end != s + 4 && !*end && isfinite(r) && r > 0) {
            o->gps_prior = 1;
            o->gps_radius_m = r;
            return 0;
        }
        snprintf(msg, cap, "prior '%.60s': the radius must be metres > 0 ('gps=100'), or use "
                           "'gps' for the photo's own accuracy", s);
        return -1;
    }
    snprintf(msg, cap, "prior '%.60s': expected 'gps' or 'gps=RADIUS_M'", s);
    return -1;
}
