/*
 * tgpg.h - what the files of the PostgreSQL extension `transgeo` share: the
 * per-backend libtransgeo context and the model cache. Not installed.
 *
 * A backend (one PostgreSQL session, or a parallel worker) has one tg_ctx,
 * made on first use and kept for the backend's life: libtransgeo's
 * messages land in it and are passed on with ereport. Models are loaded
 * from the file tg_models.path names (only a superuser can write that
 * table: see transgeo-pg(7), SECURITY), cached by name and checked against
 * the row's sha256 on every use.
 *
 * Memory: libtransgeo allocates with malloc; the C functions free what it
 * returns before they ereport (ereport does not return), so an error never
 * leaks library memory. Results are palloc'ed copies.
 */
#ifndef TGPG_H
#define TGPG_H

#include "postgres.h"

#include "fmgr.h"

#include "transgeo/core.h"
#include "transgeo/geo.h"
#include "transgeo/image.h"
#include "transgeo/model.h"
#include "transgeo/transgeo_model.h"
#include "transgeo/camera.h"
#include "transgeo/locate.h"
#include "transgeo/store_pg.h"

/* libtransgeo's functions this extension calls, opened on first use
 * (tg_lib.c says why). tgpg_lib() loads the library the first time and
 * ereports when it cannot; the macros below make the calls read as the
 * public API's. */
#define TGPG_LIBNAME "libtransgeo.so.0"
typedef struct tgpg_api {
    int (*ctx_create)(tg_ctx **out);
    int (*ctx_threads)(const tg_ctx *ctx);
    int (*ctx_set_threads)(tg_ctx *ctx, int n);
    void (*clear_error)(tg_ctx *ctx);
    const char *(*errmsg)(const tg_ctx *ctx);
    const char *(*strerror)(int code);
    const char *(*version)(void);
    int (*geo_distance_m)(tg_ctx *ctx, double lon1, double lat1, double lon2, double lat2,
                          double *dist_m);
    int (*model_load)(tg_ctx *ctx, const char *path, tg_model **out);
    int (*model_verify)(tg_ctx *ctx, const tg_model *model, char hex[65]);
    void (*model_free)(tg_model *model);
    const tg_model_config *(*model_config_get)(const tg_model *model);
    int (*image_load_mem)(tg_ctx *ctx, const void *buf, size_t n, tg_image **out);
    void (*image_free)(tg_image *img);
    int (*model_embed_ground)(tg_ctx *ctx, const tg_model *m, const tg_image *img, float *emb);
    int (*model_embed_aerial)(tg_ctx *ctx, const tg_model *m, const tg_image *img, float *emb);
    int (*set_error)(tg_ctx *ctx, int code, const char *fmt, ...);
    int (*store_open_pg)(tg_ctx *ctx, const tg_pg_executor *ex, int flags, tg_store **out);
    void (*locate_opts_default)(tg_locate_opts *o);
    int (*locator_open)(tg_ctx *ctx, tg_store *st, const tg_locate_opts *o, tg_locator **out);
    int (*locator_run)(const tg_locator *loc, tg_ctx *ctx, const tg_locate_input *in,
                       tg_locate_answer *ans);
    void (*locator_free)(tg_locator *loc);
    int (*locator_dim)(const tg_locator *loc);
    int (*locator_tile_wkt)(const tg_locator *loc, tg_ctx *ctx, int64_t tile_id, char **wkt);
    const tg_store_model *(*locator_model)(const tg_locator *loc);
    void (*locate_answer_clear)(tg_locate_answer *ans);
    const char *(*prior_name)(int prior);
    const char *(*heading_source_name)(int source);
    const char *(*camera_source_name)(int source);
} tgpg_api;
const tgpg_api *tgpg_lib(void);

#define tg_ctx_create(...) (tgpg_lib()->ctx_create(__VA_ARGS__))
#define tg_ctx_threads(...) (tgpg_lib()->ctx_threads(__VA_ARGS__))
#define tg_ctx_set_threads(...) (tgpg_lib()->ctx_set_threads(__VA_ARGS__))
#define tg_clear_error(...) (tgpg_lib()->clear_error(__VA_ARGS__))
#define tg_errmsg(...) (tgpg_lib()->errmsg(__VA_ARGS__))
#define tg_strerror(...) (tgpg_lib()->strerror(__VA_ARGS__))
#define tg_version() (tgpg_lib()->version())
#define tg_geo_distance_m(...) (tgpg_lib()->geo_distance_m(__VA_ARGS__))
#define tg_model_load(...) (tgpg_lib()->model_load(__VA_ARGS__))
#define tg_model_verify(...) (tgpg_lib()->model_verify(__VA_ARGS__))
#define tg_model_free(...) (tgpg_lib()->model_free(__VA_ARGS__))
#define tg_model_config_get(...) (tgpg_lib()->model_config_get(__VA_ARGS__))
#define tg_image_load_mem(...) (tgpg_lib()->image_load_mem(__VA_ARGS__))
#define tg_image_free(...) (tgpg_lib()->image_free(__VA_ARGS__))
#define tg_model_embed_ground(...) (tgpg_lib()->model_embed_ground(__VA_ARGS__))
#define tg_model_embed_aerial(...) (tgpg_lib()->model_embed_aerial(__VA_ARGS__))
#define tg_set_error(...) (tgpg_lib()->set_error(__VA_ARGS__))
#define tg_store_open_pg(...) (tgpg_lib()->store_open_pg(__VA_ARGS__))
#define tg_locate_opts_default(...) (tgpg_lib()->locate_opts_default(__VA_ARGS__))
#define tg_locator_open(...) (tgpg_lib()->locator_open(__VA_ARGS__))
#define tg_locator_run(...) (tgpg_lib()->locator_run(__VA_ARGS__))
#define tg_locator_free(...) (tgpg_lib()->locator_free(__VA_ARGS__))
#define tg_locator_dim(...) (tgpg_lib()->locator_dim(__VA_ARGS__))
#define tg_locator_tile_wkt(...) (tgpg_lib()->locator_tile_wkt(__VA_ARGS__))
#define tg_locator_model(...) (tgpg_lib()->locator_model(__VA_ARGS__))
#define tg_locate_answer_clear(...) (tgpg_lib()->locate_answer_clear(__VA_ARGS__))
#define tg_prior_name(...) (tgpg_lib()->prior_name(__VA_ARGS__))
#define tg_heading_source_name(...) (tgpg_lib()->heading_source_name(__VA_ARGS__))
#define tg_camera_source_name(...) (tgpg_lib()->camera_source_name(__VA_ARGS__))

/* The backend's context (created on first call; ereport ERROR on OOM). */
tg_ctx *tgpg_ctx(void);

/* ereport(ERROR) with "fn(): " and the context's message; TG_ENOMEM becomes
 * ERRCODE_OUT_OF_MEMORY, TG_EINVAL/TG_EFORMAT/TG_EIMAGE/TG_EMODEL invalid
 * parameter, TG_ENOTFOUND undefined object, TG_EACCES insufficient privilege. */
void tgpg_error_tg(const char *fn, int rc) pg_attribute_noreturn();

/* A registered model (a row of tg_models), loaded. */
typedef struct tgpg_model {
    int64 id;              /* tg_models.id */
    char name[256];        /* tg_models.name */
    const tg_model *model; /* owned by the cache: valid for the backend's life */
    int out_dim;           /* floats per embedding */
} tgpg_model;

/* Find the model `name` (NULL: the only model with tiles, else the only
 * registered one) in tg_models over SPI and load it (cached). Checks the
 * database's schema_version first (a newer schema is refused, naming it).
 * The caller must be connected to SPI. ereports on any failure. */
void tgpg_model_get(const char *fn, const char *name, tgpg_model *out);

/* Refuse (ereport) a database whose tg_meta schema_version is newer than
 * this extension knows (TG_PG_SCHEMA_VERSION). Connected to SPI. */
void tgpg_check_schema(const char *fn);

/* 1 when b holds an embedding of dim floats: 4 dim bytes, every value
 * finite, unit length (tg_embed_* return such; an image file never looks
 * like that: its first bytes are NaN or huge as float32). mod_transgeo's rule. */
bool tgpg_is_embedding(bytea *b, int dim);

/* The schema version this extension reads (src/store/schema_pg.sql). */
#define TG_PG_SCHEMA_VERSION 1

/* Embedding bytes <-> floats: little-endian float32 (as in SQLite). */
void tgpg_floats_from_le(const void *bytes, int n, float *out);
void tgpg_floats_to_le(const float *v, int n, void *out);

#endif /* TGPG_H */
