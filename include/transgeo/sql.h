/*
 * sql.h - for C programs that load mod_transgeo (the SQLite extension) into
 * a connection that runs SQL they did not write, or opens databases they
 * did not make: how the program, and only the program, turns file access on
 * or off and names the trusted locations for that connection.
 *
 *     sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, NULL); // C API only
 *     sqlite3_load_extension(db, "mod_spatialite", NULL, &err);
 *     sqlite3_load_extension(db, "mod_transgeo", NULL, &err);
 *     sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL); // SQL must not load
 *     tg_sql_files f = {.allow_files = 0, .trusted_dirs = "/srv/transgeo/models"};
 *     if (tg_sql_set_files(db, &f) != SQLITE_OK) fprintf(stderr, "%s\n", sqlite3_errmsg(db));
 *     // now SQL reads no file by path; tg_models rows may name only files
 *     // under /srv/transgeo/models; SELECT tg_set('allow_files', 1) fails.
 *
 * SQL can turn file access off (SELECT tg_set('allow_files', 0)) but never
 * back on. The program turns it on or off with tg_sql_set_files, which
 * passes a tg_sql_files to the SQL function tg_host_files through SQLite's
 * pointer interface (sqlite3_bind_pointer, type TG_SQL_FILES_POINTER): SQL
 * text cannot make such a value, so SQL calling tg_host_files gets an
 * error. Without C, the same settings come from the environment when the
 * extension is loaded: TG_SQL_ALLOW_FILES, TG_SQL_TRUSTED_DIRS,
 * TG_SQL_TRUSTED_MODELS (transgeo-sql(7), "UNTRUSTED SQL AND DATABASES").
 *
 * Header only: needs <sqlite3.h> and the connection's SQLite, not
 * libtransgeo. The strings are copied; the struct may be freed after the
 * call.
 */
#ifndef TG_SQL_PUBLIC_H
#define TG_SQL_PUBLIC_H

#include <stddef.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The pointer type tg_host_files accepts (sqlite3_bind_pointer's zPType). */
#define TG_SQL_FILES_POINTER "transgeo.tg_sql_files.v1"

typedef struct tg_sql_files {
    /* 1: functions read files named by TEXT arguments, and files the
     * database names are opened wherever they are; 0: neither (only BLOB
     * photos, and database-named files in the trusted locations below). */
    int allow_files;
    /* Directories whose files (symbolic links and ".." resolved) the
     * database may name while allow_files is 0, ':'-separated; NULL: none.
     * Each must exist. */
    const char *trusted_dirs;
    /* Model files the database may name while allow_files is 0, by the
     * sha256 of the whole file (as sha256sum prints it), separated by ',',
     * ':' or white space; NULL: none. */
    const char *trusted_models;
} tg_sql_files;

/* Apply f to the connection db, into which mod_transgeo is loaded. Returns
 * SQLITE_OK, or an SQLite error code with the reason in sqlite3_errmsg(db)
 * (mod_transgeo not loaded; a trusted directory that does not exist; a
 * malformed sha256: then nothing changed). */
static inline int tg_sql_set_files(sqlite3 *db, const tg_sql_files *f)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT tg_host_files(?1)", -1, &s, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_bind_pointer(s, 1, (void *)f, TG_SQL_FILES_POINTER, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) rc = SQLITE_OK;
    int frc = sqlite3_finalize(s); /* sets sqlite3_errmsg when the step failed */
    return rc == SQLITE_OK ? SQLITE_OK : (frc != SQLITE_OK ? frc : rc);
}

#ifdef __cplusplus
}
#endif
#endif /* TG_SQL_PUBLIC_H */
