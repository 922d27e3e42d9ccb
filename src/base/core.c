/* core.c - error state, context and version (see core.h). */
#include "config.h"
#include "transgeo/core.h"
#include "base/ctx_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Messages are bounded: a message longer than this is cut, never overflowed. */
#define TG_ERRMSG_MAX 1024

struct tg_ctx {
    int n_threads;             /* 0 = all online cores */
    int codec_plus1;           /* searched codec + 1 (tg_ctx_set_codec); 0 = each model's own */
    int errcode;               /* last TG_E* code, 0 if none */
    char errmsg[TG_ERRMSG_MAX];/* last message, NUL-terminated */
    void *scratch;             /* 64-byte aligned scratch block */
    size_t scratch_bytes;      /* its size */
    void *engine;              /* the engine's runtime state (its thread pool), made on
                                  first use and kept for the context's life */
    void (*engine_free)(void *);
};

void *tg_ctx_engine(const tg_ctx *ctx) { return ctx ? ctx->engine : NULL; }

void tg_ctx_set_engine(tg_ctx *ctx, void *state, void (*free_fn)(void *))
{
    if (!ctx) return;
    if (ctx->engine && ctx->engine_free) ctx->engine_free(ctx->engine);
    ctx->engine = state;
    ctx->engine_free = free_fn;
}

int tg_ctx_create(tg_ctx **out)
{
    if (!out) return TG_EINVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? TG_OK : TG_ENOMEM;
}

void tg_ctx_free(tg_ctx *ctx)
{
    if (!ctx) return;
    tg_ctx_set_engine(ctx, NULL, NULL);
    free(ctx->scratch);
    free(ctx);
}

int tg_ctx_set_threads(tg_ctx *ctx, int n)
{
    if (!ctx) return TG_EINVAL;
    if (n < 0) return tg_set_error(ctx, TG_EINVAL, "thread count %d: expected 0 (all cores) or more", n);
    ctx->n_threads = n;
    return TG_OK;
}

int tg_ctx_set_codec(tg_ctx *ctx, int codec)
{
    if (!ctx) return TG_EINVAL;
    /* the codecs of search.h: TG_CODEC_F32 0, F16 1, I8 2 */
    if (codec < -1 || codec > 2)
        return tg_set_error(ctx, TG_EINVAL, "codec %d: expected -1 (each model's own), 0 (f32), "
                            "1 (f16) or 2 (int8)", codec);
    ctx->codec_plus1 = codec + 1;
    return TG_OK;
}

int tg_ctx_codec(const tg_ctx *ctx) { return ctx ? ctx->codec_plus1 - 1 : -1; }

int tg_ctx_threads(const tg_ctx *ctx)
{
    if (ctx && ctx->n_threads > 0) return ctx->n_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

const char *tg_errmsg(const tg_ctx *ctx)
{
    if (!ctx) return "no context (tg_ctx is NULL)";
    return ctx->errmsg;
}

int tg_errcode(const tg_ctx *ctx) { return ctx ? ctx->errcode : TG_EINVAL; }

const char *tg_strerror(int code)
{
    switch (code) {
    case TG_OK: return "ok";
    case TG_ENOMEM: return "out of memory";
    case TG_EINVAL: return "invalid argument";
    case TG_EIO: return "input/output error";
    case TG_EFORMAT: return "bad file format";
    case TG_EMODEL: return "model mismatch";
    case TG_EGEO: return "georeferencing error";
    case TG_EIMAGE: return "image error";
    case TG_EDB: return "database error";
    case TG_ENOTFOUND: return "not found";
    case TG_ECANCEL: return "cancelled";
    case TG_EBUSY: return "busy";
    case TG_EINTERNAL: return "internal error";
    case TG_EACCES: return "not allowed by the file policy";
    default: return "unknown error";
    }
}

const char *tg_version(void) { return PACKAGE_VERSION; }

int tg_set_error(tg_ctx *ctx, int code, const char *fmt, ...)
{
    if (!ctx) return code;
    ctx->errcode = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

void tg_append_error(tg_ctx *ctx, const char *fmt, ...)
{
    if (!ctx) return;
    size_t len = strlen(ctx->errmsg);
    if (len + 3 >= sizeof ctx->errmsg) return;
    if (len) {
        memcpy(ctx->errmsg + len, ": ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg + len, sizeof ctx->errmsg - len, fmt, ap);
    va_end(ap);
}

void tg_clear_error(tg_ctx *ctx)
{
    if (!ctx) return;
    ctx->errcode = 0;
    ctx->errmsg[0] = '\0';
}

void *tg_ctx_scratch(tg_ctx *ctx, size_t bytes)
{
    if (!ctx) return NULL;
    if (bytes <= ctx->scratch_bytes) return ctx->scratch;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, rounded) != 0) {
        tg_set_error(ctx, TG_ENOMEM, "scratch memory: cannot allocate %zu bytes", rounded);
        return NULL;
    }
    free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_bytes = rounded;
    return p;
}
