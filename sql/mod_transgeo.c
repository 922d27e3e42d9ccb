/*
 * mod_transgeo.c - entry point of mod_transgeo, the SQLite/SpatiaLite
 * extension of transgeo: where was this photo taken, in SQL.
 *
 *   $ sqlite3 town.sqlite          (real output: tiny test model, NAIP raster)
 *   sqlite> .load mod_spatialite
 *   sqlite> .load mod_transgeo
 *   sqlite> SELECT tg_model_register('tiny', 'tiny.safetensors');
 *   1
 *   sqlite> SELECT tg_index_raster('naip.tif', 'tiny', 640);
 *   163
 *   sqlite> SELECT tg_locate('street.jpg');
 *   {"tile_id":63,"lon":-99.1705406137,"lat":47.0225128711,"footprint_wkt":
 *   "POLYGON((-99.174761 47.025386, -99.174742 47.019627, -99.166321 47.019639,
 *   -99.166339 47.025399, -99.174761 47.025386))","score":0.111036971211,
 *   "error_m":815.710231376,"gps_error_m":7258345.08484,"model":"tiny"}
 *   sqlite> SELECT rank, tile_id, round(score, 3), round(error_m) FROM tg_matches('street.jpg', 3);
 *   1|63|0.111|816.0
 *   2|64|0.099|960.0
 *   3|62|0.099|784.0
 *
 * (street.jpg is a Berlin photo and the raster is North Dakota, hence the
 * 7258 km gps_error_m; the tiny model is random: these show the form only.)
 *
 * Functions (sql/sql_functions.c): tg_version, tg_set, tg_host_files, tg_model_register,
 * tg_index_raster, tg_embed_ground, tg_embed_aerial, tg_photo_gps,
 * tg_distance_m, tg_locate; table-valued function tg_matches
 * (sql/sql_matches.c). The tables are those of src/store/schema.sql, created on
 * first use. Reference: man/transgeo-sql.7.
 *
 * Entry point names. Without an explicit entry point, sqlite3_load_extension
 * (src/loadext.c) first looks up "sqlite3_extension_init" and only then the
 * name derived from the file name ("mod_transgeo": the letters after the last
 * '/' and before the first '.', without a "lib" prefix, lower case ->
 * sqlite3_modtransgeo_init). The first lookup is a dlsym() on our handle,
 * which also searches the libraries we depend on - and libgdal exports a
 * sqlite3_extension_init of its own (its SQLite SQL dialect functions). So
 * `.load mod_transgeo` would silently run GDAL's instead of ours: we export
 * sqlite3_extension_init as well, and dlsym finds ours first (the object
 * itself is searched before its dependencies). Both names do the same.
 *
 * Requirements checked here, each with a message naming what is missing:
 *  - SQLite >= 3.31 (SQLITE_DIRECTONLY, SQLITE_INNOCUOUS);
 *  - the host's SQLite is the shared libsqlite3 this module is linked with
 *    (transgeo's store calls SQLite directly; a host with a private copy of
 *    SQLite would hand it handles of another library);
 *  - SpatiaLite already loaded in the connection (SELECT spatialite_version()).
 */
#include "config.h"

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <stdlib.h>
#include <string.h>

#include "tgsql.h"

/* The host's file settings for this connection, from its environment, read
 * once here (SQL cannot change the environment; a later change of it does
 * not affect this connection):
 *   TG_SQL_ALLOW_FILES     0 or 1: file access at the start (default: the
 *                          build's TG_SQL_ALLOW_FILES_DEFAULT, normally 1);
 *   TG_SQL_TRUSTED_DIRS    ':'-separated directories whose files the
 *                          database may name while file access is off;
 *   TG_SQL_TRUSTED_MODELS  sha256s of model files it may name then.
 * A malformed value fails the load (a typo must not leave a connection
 * more open than intended). With trusted locations the store is made now,
 * so that a trusted directory that does not exist is reported at load. */
static int files_from_env(tgsql_conn *c, char **err)
{
    const char *v = getenv("TG_SQL_ALLOW_FILES");
    if (v) {
        if (strcmp(v, "0") && strcmp(v, "1")) {
            *err = sqlite3_mprintf("mod_transgeo: TG_SQL_ALLOW_FILES is '%s': expected 0 (file "
                                   "access off) or 1 (on)", v);
            return SQLITE_ERROR;
        }
        c->allow_files = v[0] == '1';
    }
    const char *dirs = getenv("TG_SQL_TRUSTED_DIRS"), *models = getenv("TG_SQL_TRUSTED_MODELS");
    if ((dirs && *dirs && !(c->trusted_dirs = sqlite3_mprintf("%s", dirs))) ||
        (models && *models && !(c->trusted_models = sqlite3_mprintf("%s", models)))) {
        *err = sqlite3_mprintf("mod_transgeo: out of memory");
        return SQLITE_ERROR;
    }
    if ((c->trusted_dirs || c->trusted_models) && !tgsql_store(c, NULL, NULL)) {
        *err = sqlite3_mprintf("mod_transgeo: %s (TG_SQL_TRUSTED_DIRS, TG_SQL_TRUSTED_MODELS)",
                               tg_errmsg(c->ctx));
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

TG_API int sqlite3_modtransgeo_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
TG_API int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

int sqlite3_modtransgeo_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
    SQLITE_EXTENSION_INIT2(api);
    if (sqlite3_libversion_number() < 3031000) {
        *err = sqlite3_mprintf("mod_transgeo needs SQLite 3.31 or later, this is %s",
                               sqlite3_libversion());
        return SQLITE_ERROR;
    }
    if ((void *)api->libversion_number != tg_store_sqlite_symbol()) {
        *err = sqlite3_mprintf("mod_transgeo: this program runs its own copy of SQLite (%s), not "
                               "the shared libsqlite3 mod_transgeo is linked with: load it from "
                               "a program that uses the system SQLite (sqlite3, Python, QGIS)",
                               sqlite3_libversion());
        return SQLITE_ERROR;
    }
    sqlite3_stmt *s = NULL;
    int have_spatialite = sqlite3_prepare_v2(db, "SELECT spatialite_version()", -1, &s, NULL) ==
                          SQLITE_OK;
    sqlite3_finalize(s);
    if (!have_spatialite) {
        *err = sqlite3_mprintf("mod_transgeo needs SpatiaLite: load mod_spatialite first "
                               "(sqlite3 shell: .load mod_spatialite; SQL: SELECT "
                               "load_extension('mod_spatialite'))");
        return SQLITE_ERROR;
    }

    tgsql_conn *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->db = db;
    c->allow_files = TG_SQL_ALLOW_FILES_DEFAULT;
    c->batch_tiles = 64;
    if (tg_ctx_create(&c->ctx) != TG_OK) {
        sqlite3_free(c);
        return SQLITE_NOMEM;
    }
    if (files_from_env(c, err) != SQLITE_OK) {
        tgsql_conn_unref(c); /* refs is 0: frees c */
        return SQLITE_ERROR;
    }
    /* Each registration holds a reference; the last destructor frees c. The
     * extra reference taken here is dropped at the end so that a failed
     * registration cannot free c under our feet. */
    c->refs = 1;
    int rc = tgsql_register_functions(db, c);
    if (rc == SQLITE_OK) rc = tgsql_register_matches(db, c);
    if (rc != SQLITE_OK)
        *err = sqlite3_mprintf("mod_transgeo: registering the functions failed: %s",
                               sqlite3_errmsg(db));
    tgsql_conn_unref(c);
    return rc;
}

int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
    return sqlite3_modtransgeo_init(db, err, api);
}
