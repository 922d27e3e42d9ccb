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
#include "transgeo/model.h"

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

/* The schema version this extension reads (src/store/schema_pg.sql). */
#define TG_PG_SCHEMA_VERSION 1

/* Embedding bytes <-> floats: little-endian float32 (as in SQLite). */
void tgpg_floats_from_le(const void *bytes, int n, float *out);
void tgpg_floats_to_le(const float *v, int n, void *out);

#endif /* TGPG_H */
