/* base/ctx_int.h - internal to libtransgeo (not installed): runtime state that
 * a higher layer keeps in a tg_ctx without the base layer knowing its type.
 * The engine keeps its thread pool here (src/engine/vit.c), so that a
 * context made once runs every forward pass on the same threads instead of
 * starting and joining a pool per call.
 *
 * Ownership: the context owns the state from tg_ctx_set_engine on, and frees
 * it with free_fn when it is replaced or the context is freed. Like the rest
 * of a tg_ctx, one thread at a time. */
#ifndef TG_BASE_CTX_INT_H
#define TG_BASE_CTX_INT_H

#include "transgeo/core.h"

/* The state set last, or NULL. */
void *tg_ctx_engine(const tg_ctx *ctx);
/* Replace the state (the old one is freed with its free_fn). NULL clears it. */
void tg_ctx_set_engine(tg_ctx *ctx, void *state, void (*free_fn)(void *));

#endif /* TG_BASE_CTX_INT_H */
