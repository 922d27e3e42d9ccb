/*
 * core.h - error codes, the per-caller context and library version.
 *
 * Every fallible libtransgeo call returns an int: 0 on success or a negative
 * TG_E* code grouped by cause, and leaves a message in the context that says
 * what failed, on which input, and what to do:
 *
 *     tg_ctx *ctx = NULL;
 *     if (tg_ctx_create(&ctx) != 0) return 1;          // only fails on OOM
 *     int rc = tg_model_load(ctx, "m.safetensors", &model);
 *     if (rc) fprintf(stderr, "transgeo: %s\n", tg_errmsg(ctx));
 *     tg_ctx_free(ctx);
 *
 * Ownership: the caller owns the tg_ctx and frees it with tg_ctx_free (NULL ok).
 * A context is used by one thread at a time; make one per thread.
 */
#ifndef TG_CORE_H
#define TG_CORE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TG_BUILDING) && defined(__GNUC__)
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

#if defined(__GNUC__)
#define TG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TG_PRINTF(a, b)
#endif

/* Error codes, grouped by cause (cf. PROJ's PROJ_ERR_*). */
enum {
    TG_OK = 0,
    TG_ENOMEM = -1,    /* out of memory (or arena too small: message says how much) */
    TG_EINVAL = -2,    /* bad argument from the caller (NULL, out of range, wrong size) */
    TG_EIO = -3,       /* a file could not be opened, read or written */
    TG_EFORMAT = -4,   /* input is not in the expected format (corrupt, truncated) */
    TG_EMODEL = -5,    /* model file does not match its config / this engine */
    TG_EGEO = -6,      /* georeferencing or CRS problem (GDAL/PROJ) */
    TG_EIMAGE = -7,    /* image cannot be decoded or is too large */
    TG_EDB = -8,       /* database error (SQLite/SpatiaLite) */
    TG_ENOTFOUND = -9, /* a requested item (model, tile, GPS tag) does not exist */
    TG_ECANCEL = -10,  /* cancelled by a progress callback */
    TG_EBUSY = -11,    /* resource busy/locked; retrying later may succeed */
    TG_EINTERNAL = -12, /* a bug: please report with the message */
    TG_EACCES = -13    /* refused by a file policy (a file the database names is
                          outside the trusted locations: see store.h) */
};

typedef struct tg_ctx tg_ctx;

/* Progress callback for long operations: done/total in the operation's units,
 * msg may be NULL. Return 0 to cancel (the operation then fails with TG_ECANCEL). */
typedef int (*tg_progress_fn)(double done, double total, const char *msg, void *user);

/* Create a context: threads = all online cores, scratch arena empty (grown on
 * first use by the engine). [out] *out. Returns 0 or TG_ENOMEM. */
TG_API int tg_ctx_create(tg_ctx **out);
/* Free a context and its scratch memory. NULL is accepted. */
TG_API void tg_ctx_free(tg_ctx *ctx);

/* Number of threads the library may use for this context's calls (>= 1).
 * 0 means all online cores. Returns TG_EINVAL on n < 0. */
TG_API int tg_ctx_set_threads(tg_ctx *ctx, int n);
TG_API int tg_ctx_threads(const tg_ctx *ctx);

/* The embedding codec searches made with this context use (TG_CODEC_* of
 * search.h: 0 f32, 1 f16, 2 int8), whatever the model's stored codec
 * (tg_store_model_set_codec); -1 (the default) = each model's own. Read when
 * a tileset is opened or refreshed (tg_store_tileset, tg_locator_create).
 * Returns 0 or TG_EINVAL. */
TG_API int tg_ctx_set_codec(tg_ctx *ctx, int codec);
TG_API int tg_ctx_codec(const tg_ctx *ctx);

/* Last error message of this context ("" when none). Valid until the next
 * call that uses ctx. Never NULL (a NULL ctx gives a fixed text). */
TG_API const char *tg_errmsg(const tg_ctx *ctx);
/* Last error code of this context (0 when none; TG_EINVAL for a NULL ctx). */
TG_API int tg_errcode(const tg_ctx *ctx);
/* Short English name of an error code, e.g. "out of memory". */
TG_API const char *tg_strerror(int code);

/* Library version, "MAJOR.MINOR.PATCH". */
TG_API const char *tg_version(void);

/* ---- for library modules (not part of the stable API) ------------------ */

/* Set ctx's error: code and printf-style message. Returns code so that
 * callers can write `return tg_set_error(ctx, TG_EIO, "...", ...)`.
 * ctx may be NULL (then only the code is returned). */
TG_API int tg_set_error(tg_ctx *ctx, int code, const char *fmt, ...) TG_PRINTF(3, 4);
/* Append ": <text>" to ctx's current message (e.g. CPLGetLastErrorMsg()). */
TG_API void tg_append_error(tg_ctx *ctx, const char *fmt, ...) TG_PRINTF(2, 3);
/* Clear ctx's error. */
TG_API void tg_clear_error(tg_ctx *ctx);

/* Scratch memory owned by the context, for per-call temporaries (the engine's
 * activations). Grows only between forward passes: tg_ctx_scratch returns a
 * block of at least `bytes` (64-byte aligned), reallocating if needed, and
 * the previous contents are not kept. NULL + TG_ENOMEM message on failure. */
TG_API void *tg_ctx_scratch(tg_ctx *ctx, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* TG_CORE_H */
