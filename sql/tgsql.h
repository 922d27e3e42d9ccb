/*
 * tgsql.h - what the files of mod_transgeo (the SQLite extension) share: the
 * per-connection state and the argument helpers. Not installed.
 *
 * One tgsql_conn per connection that loaded the extension: it holds the
 * tg_ctx (threads, error messages), the tg_store over the connection (the
 * model cache and the in-memory tiles: loaded once per connection and kept
 * up to date, see store.h) and the tg_set() settings. Every function and the
 * tg_matches module get it as user data; it is freed by the destructor of
 * the last of them (reference count), i.e. when the connection closes.
 */
#ifndef TG_SQL_H
#define TG_SQL_H

#include <sqlite3.h>

#include "transgeo/core.h"
#include "transgeo/exif.h"
#include "transgeo/image.h"
#include "transgeo/locate.h"
#include "transgeo/store.h"

/* Whether a connection starts with file access on, unless the host's
 * environment says otherwise when loading (TG_SQL_ALLOW_FILES). Build with
 * CPPFLAGS=-DTG_SQL_ALLOW_FILES_DEFAULT=0 to start with files off. */
#ifndef TG_SQL_ALLOW_FILES_DEFAULT
#define TG_SQL_ALLOW_FILES_DEFAULT 1
#endif

/* File access of a connection (transgeo-sql(7), "UNTRUSTED SQL AND
 * DATABASES"). allow_files 1: TEXT arguments name files to read, and the
 * files the database names (tg_models.path) are opened wherever they are.
 * allow_files 0: no TEXT path is read, and the store opens database-named
 * files only under trusted_dirs or with a sha256 in trusted_models. SQL can
 * only lower allow_files (tg_set); the host sets all three, at load from
 * its environment or later through tg_host_files (include/transgeo/sql.h). */
typedef struct tgsql_conn {
    sqlite3 *db;
    tg_ctx *ctx;
    tg_store *store;      /* created at load (tg_store_wrap) */
    int allow_files;      /* see above */
    char *trusted_dirs;   /* sqlite3_malloc'ed, or NULL */
    char *trusted_models; /* sqlite3_malloc'ed, or NULL */
    int batch_tiles;      /* tg_set('batch_tiles'): tiles per write transaction */
    int refs;             /* registrations holding this struct */
} tgsql_conn;

/* Destructor for the user data of functions and the module. */
void tgsql_conn_unref(void *p);

/* The store of the connection (made on first call, with the connection's
 * file policy). On failure, an error "fn(): <message>" is set on ctx (when
 * ctx is not NULL) and NULL returned. */
tg_store *tgsql_store(tgsql_conn *c, sqlite3_context *ctx, const char *fn);

/* Give the store the file policy of allow_files, trusted_dirs and
 * trusted_models (tg_store_set_files). Returns 0 or a TG_E* code with the
 * message in c->ctx (a trusted directory that does not exist...). */
int tgsql_apply_files(tgsql_conn *c);

/* The message of a refused path argument or path-taking function. */
#define TGSQL_FILES_OFF                                                                           \
    "reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only "  \
    "the program that loaded mod_transgeo can)"

/* sqlite3_result_error with "fn(): " + printf message. */
void tgsql_error(sqlite3_context *ctx, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with the tg_ctx message; TG_ENOMEM becomes sqlite3_result_error_nomem. */
void tgsql_error_tg(sqlite3_context *ctx, const char *fn, tgsql_conn *c, int rc);

/* "INTEGER", "REAL", "TEXT", "BLOB", "NULL". */
const char *tgsql_type_name(int type);

/* A photo argument: image bytes (BLOB), a path (TEXT), or an embedding BLOB
 * (out_dim float32 of unit length, as tg_embed_ground/aerial return). */
typedef struct tgsql_photo {
    tg_image *img;      /* decoded image, or NULL for an embedding */
    float *emb;         /* embedding (malloc'ed), or NULL for an image */
    int emb_dim;        /* floats in emb */
    const void *bytes;  /* BLOB argument (valid during the call), or NULL */
    size_t n_bytes;
    const char *path;   /* TEXT argument (valid during the call), or NULL */
} tgsql_photo;

enum {
    TGSQL_PHOTO_IMAGE = 1,     /* accept image bytes and paths */
    TGSQL_PHOTO_EMBEDDING = 2, /* accept embeddings too */
    TGSQL_PHOTO_NO_DECODE = 4  /* only check the type and access; don't decode */
};

/* Read argument argno (1-based, for messages) of fn into *ph. Returns 1 when
 * the argument is NULL (the caller returns NULL), 0 on success, -1 after
 * reporting an error (on ctx, or into *errmsg when ctx is NULL: the vtab). */
int tgsql_photo_get(tgsql_conn *c, sqlite3_context *ctx, char **errmsg, const char *fn, int argno,
                    sqlite3_value *v, int accept, tgsql_photo *ph);
void tgsql_photo_free(tgsql_photo *ph);

/* Registration of the functions (sql/sql_functions.c) and of the tg_matches
 * module (sql/sql_matches.c); each takes one reference per registration. */
int tgsql_register_functions(sqlite3 *db, tgsql_conn *c);

/* A prior argument: 'gps' (the photo's own GPS, its accuracy sets the
 * window) or 'gps=RADIUS_M' (> 0) into o->gps_prior / gps_radius_m.
 * Returns 0, or -1 with a message in msg (cap bytes). */
int tgsql_parse_prior(const char *s, tg_locate_opts *o, char *msg, size_t cap);
int tgsql_register_matches(sqlite3 *db, tgsql_conn *c);

#endif /* TG_SQL_H */
