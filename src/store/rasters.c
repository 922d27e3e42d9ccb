/* rasters.c - the indexed rasters of a model and whether their files are
 * still the ones indexed (tg_store_rasters, see store.h): what refinement
 * below the tile stride cuts new tiles from. */
#include "config.h"
#include "transgeo/store.h"
#include "store_int.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tg_raster_status_name(int status)
{
    switch (status) {
    case TG_RASTER_OK: return "ok";
    case TG_RASTER_MISSING: return "missing";
    case TG_RASTER_CHANGED: return "changed";
    case TG_RASTER_UNCHECKED: return "unchecked";
    default: return "?";
    }
}

/* The sha256 of the files checked so far in this process, by path, size and
 * modification time: SQL's tg_locate opens a locator per call, and reading a
 * large raster through for every call would cost seconds. A file rewritten
 * in place within the same second with the same size is not noticed. */
typedef struct sha_entry {
    char *path;
    long long size, mtime;
    char hex[65];
    struct sha_entry *next;
} sha_entry;
static sha_entry *sha_cache;
static pthread_mutex_t sha_mu = PTHREAD_MUTEX_INITIALIZER;

static int file_sha256(tg_ctx *ctx, const char *path, char hex[65])
{
    struct stat sb;
    if (stat(path, &sb) != 0) return tg_store_file_sha256(ctx, path, hex); /* a GDAL path */
    long long size = (long long)sb.st_size, mtime = (long long)sb.st_mtime;
    pthread_mutex_lock(&sha_mu);
    for (sha_entry *e = sha_cache; e; e = e->next)
        if (!strcmp(e->path, path) && e->size == size && e->mtime == mtime) {
            memcpy(hex, e->hex, 65);
            pthread_mutex_unlock(&sha_mu);
            return TG_OK;
        }
    pthread_mutex_unlock(&sha_mu);
    int rc = tg_store_file_sha256(ctx, path, hex);
    if (rc) return rc;
    sha_entry *e = calloc(1, sizeof *e);
    if (e && (e->path = strdup(path))) {
        e->size = size;
        e->mtime = mtime;
        memcpy(e->hex, hex, 65);
        pthread_mutex_lock(&sha_mu);
        e->next = sha_cache;
        sha_cache = e;
        pthread_mutex_unlock(&sha_mu);
    } else {
        free(e); /* no memory to remember it: checked again next time */
    }
    return TG_OK;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int tg_store_rasters(tg_ctx *ctx, tg_store *st, const tg_store_model *m, int check,
                     tg_store_raster **out, size_t *n)
{
    if (out) *out = NULL;
    if (n) *n = 0;
    if (!st || !m || !out || !n) return tg_set_error(ctx, TG_EINVAL, "tg_store_rasters: NULL argument");
    tg_store_raster *arr = NULL;
    size_t cnt = 0;
    int rc = TG_OK;
    if (st->pg) {
        rc = tgpg_rasters(ctx, st, m, &arr, &cnt); /* pg_query.c */
        if (rc) return rc;
        goto check;
    }
    sqlite3 *db = tg_store_db(st);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, path, sha256, crs, tile_m, stride_m, gsd_m FROM tg_rasters "
                           "WHERE model_id = ?1 ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return tg_set_error(ctx, TG_EDB, "%s: reading the rasters: %s", tg_store_label(st),
                            sqlite3_errmsg(db));
    sqlite3_bind_int64(s, 1, m->id);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 4;
            tg_store_raster *p = realloc(arr, cap * sizeof *p);
            if (!p) {
                rc = tg_set_error(ctx, TG_ENOMEM, "rasters: out of memory");
                break;
            }
            arr = p;
        }
        tg_store_raster *r = &arr[cnt++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(s, 0);
        copy_text(r->path, sizeof r->path, sqlite3_column_text(s, 1));
        copy_text(r->sha256, sizeof r->sha256, sqlite3_column_text(s, 2));
        copy_text(r->crs, sizeof r->crs, sqlite3_column_text(s, 3));
        r->tile_m = sqlite3_column_double(s, 4);
        r->stride_m = sqlite3_column_double(s, 5);
        r->gsd_m = sqlite3_column_double(s, 6);
        r->status = TG_RASTER_UNCHECKED;
    }
    if (!rc && step != SQLITE_DONE)
        rc = tg_set_error(ctx, TG_EDB, "%s: reading the rasters: %s", tg_store_label(st),
                          sqlite3_errmsg(db));
    sqlite3_finalize(s);
check:
    for (size_t i = 0; !rc && check && i < cnt; i++) {
        /* The file as it is now: a moved (missing) or rewritten (other sha256)
         * raster would cut tiles of another place or another picture. */
        char hex[65];
        tg_store_raster *r = &arr[i];
        if (file_sha256(ctx, r->path, hex)) {
            r->status = TG_RASTER_MISSING;
            snprintf(r->note, sizeof r->note, "raster %lld '%.100s' cannot be read",
                     (long long)r->id, r->path);
            tg_clear_error(ctx);
        } else if (strcmp(hex, r->sha256) != 0) {
            r->status = TG_RASTER_CHANGED;
            snprintf(r->note, sizeof r->note,
                     "raster %lld '%.100s' changed since it was indexed (sha256 differs)",
                     (long long)r->id, r->path);
        } else {
            r->status = TG_RASTER_OK;
        }
    }
    if (rc) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return TG_OK;
}
