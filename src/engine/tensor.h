/*
 * tensor.h - the engine's building blocks: a bump arena for activations, a
 * tiny thread pool, the floating-point environment of a forward pass, BLAS
 * thread control and the few row-wise kernels a ViT needs besides sgemm
 * (LayerNorm, exact-erf GELU, softmax) plus PyTorch's bilinear resize.
 *
 * Internal to libtransgeo (not installed); used by vit.c and transgeo_model.c.
 *
 * Tensor layout (the one convention of the whole engine)
 * ------------------------------------------------------
 * A tensor is a row-major block of float32. A matrix [rows, cols] has a
 * leading dimension `ld` (elements, >= cols): element (r, c) is at
 * p[r * ld + c]. Images are [B, 3, H, W] (PyTorch NCHW, C order). Token
 * activations of a batch are [B * T, D]: image b's token t is row b * T + t.
 *
 * sgemm convention
 * ----------------
 * All products use cblas_sgemm(CblasRowMajor, ...). A PyTorch Linear layer
 * y = x W^T + b with W stored [out, in] (as in the model file) is
 *     cblas_sgemm(RowMajor, NoTrans, Trans, rows, out, in, 1, x, ld_x, W, in, beta, y, ld_y)
 * i.e. the weight is passed as B with transB = Trans. Attention scores
 * S = scale * Q K^T use (NoTrans, Trans) on slices of the qkv matrix, and
 * O = S V uses (NoTrans, NoTrans); see vit.c.
 *
 *     tg_arena a;
 *     tg_arena_init(&a, NULL, 0);            // dry run: only counts bytes
 *     plan(&a); size_t need = tg_arena_used(&a);
 *     tg_arena_init(&a, tg_ctx_scratch(ctx, need), need);
 *     plan(&a);                              // the same allocations, real now
 */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stddef.h>
#include "transgeo/core.h"
#include "transgeo/transgeo_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arena ----------------------------------------------------------- */

/* A bump allocator over one caller-owned block (ggml_new_object style).
 * With base == NULL it is a dry run that only counts what would be used, so
 * the same planning code sizes the scratch and then carves it. */
typedef struct tg_arena {
    unsigned char *base; /* block start (64-byte aligned) or NULL for a dry run */
    size_t size;         /* block size in bytes (ignored in a dry run) */
    size_t used;         /* bytes handed out so far, including alignment padding */
    size_t failed;       /* bytes of the first request that did not fit, 0 if none */
} tg_arena;

#define TG_ARENA_ALIGN 64

void tg_arena_init(tg_arena *a, void *base, size_t size);
/* 64-byte aligned block of n bytes; NULL when it does not fit (a->failed
 * then records the request) and, in a dry run, a non-NULL dummy pointer that
 * must not be dereferenced. */
void *tg_arena_alloc(tg_arena *a, size_t n);
/* Convenience: n floats. */
float *tg_arena_floats(tg_arena *a, size_t n);
size_t tg_arena_used(const tg_arena *a);
void tg_arena_reset(tg_arena *a);

/* ---- thread pool ----------------------------------------------------- */

/* n_threads - 1 worker threads that sleep on a condition variable between
 * jobs (they never spin, so they do not steal cycles from OpenBLAS's own
 * threads during sgemm); the calling thread takes part in every job. Workers
 * run with denormals flushed (FTZ/DAZ), like the forward pass. */
typedef struct tg_pool tg_pool;
typedef void (*tg_pool_fn)(void *arg, int task, int thread);

/* [out] *out: NULL (no pool, everything runs on the caller) when
 * n_threads <= 1. Returns 0 or TG_ENOMEM / TG_EINTERNAL (message in ctx). */
int tg_pool_create(tg_ctx *ctx, int n_threads, tg_pool **out);
void tg_pool_free(tg_pool *pool);
/* Threads taking part in jobs (1 for a NULL pool). */
int tg_pool_threads(const tg_pool *pool);
/* Run fn(arg, task, thread) for task = 0 .. n_tasks-1, thread in
 * [0, tg_pool_threads) identifying the thread (for per-thread scratch).
 * Returns when all tasks are done. pool NULL: runs serially. */
void tg_pool_run(tg_pool *pool, int n_tasks, tg_pool_fn fn, void *arg);

/* ---- floating-point environment and BLAS threads --------------------- */

/* Flush denormals (x86 MXCSR FTZ|DAZ) for a forward pass: denormal
 * arithmetic is ~100x slower and changes no result beyond 1e-38. Returns the
 * previous state for tg_fpenv_leave (no-op off x86). */
unsigned tg_fpenv_enter(void);
void tg_fpenv_leave(unsigned saved);

/* tg_blas_set_threads, tg_blas_corename, tg_blas_suggest_coretype: public,
 * in include/transgeo/transgeo_model.h. */

/* ---- kernels (row-wise; parallel over rows when pool != NULL) -------- */

/* The kernel set these functions run, picked once per process from the CPU
 * (TG_KERNELS=base|avx2|avx512 lowers the choice, for tests and debugging):
 * "avx512", "avx2" or "base". */
const char *tg_kernels_name(void);

/* LayerNorm over the last dimension (torch.nn.LayerNorm, biased variance):
 * y[r] = (x[r] - mean) / sqrt(var + eps) * w + b for r < rows, d columns.
 * If add != NULL, first x[r] += add (in place: the bias of the sgemm that
 * just accumulated into x, fused here to save a pass). x and y may be equal. */
void tg_layernorm(tg_pool *pool, float *x, int ldx, const float *add, float *y, int ldy, int rows,
                  int d, const float *w, const float *b, float eps);
/* In place GELU with the exact error function (torch.nn.GELU(), default
 * approximate='none'): x * 0.5 * (1 + erf(x / sqrt(2))); relative error
 * < 4e-7 where |GELU(x)| > 1e-3, absolute error < 1e-9 elsewhere. */
void tg_gelu(tg_pool *pool, float *x, size_t n);
/* u[r][c] = GELU(u[r][c] + b[c]) for r < rows, c < n (fc1 bias + GELU). */
void tg_bias_gelu(tg_pool *pool, float *u, int rows, int n, int ld, const float *b);
/* y[r][c] = b[c] (bias rows before an sgemm with beta = 1). */
void tg_fill_rows(tg_pool *pool, float *y, int rows, int n, int ld, const float *b);
/* In place softmax of each of `rows` rows of n values (ld apart). */
void tg_softmax_rows(float *x, int rows, int n, int ld);
/* y[r][c] += b[c] for r < rows, c < n. */
void tg_add_bias_rows(float *y, int rows, int n, int ld, const float *b);
/* GELU of one value through the same kernel (for tests). */
float tg_gelu_ref(float x);

/* torch.nn.functional.interpolate(x, (out_h, out_w), mode='bilinear',
 * align_corners=False) of one float32 map, with PyTorch 1.13's CPU arithmetic
 * (aten/src/ATen/native/UpSample.h compute_source_index_and_lambda and
 * cpu/UpSampleKernel.cpp): scale = (float)in / out; source index
 * src = scale * (dst + 0.5) - 0.5 evaluated in double (PyTorch's acc_type)
 * and clamped at 0; i0 = (int)src, i1 = i0 + (i0 < in - 1); lambda1 =
 * (float)(src - i0), lambda0 = 1.f - lambda1; then width first, height
 * second, in float, each step fma(v0, lambda0, v1 * lambda1). Same size =
 * copy. This is the generic NCHW kernel that the official pipeline hits (its
 * map is an RGB PNG, a [B,3,h,w] tensor); bit-exact with torch 1.13 (AVX2
 * dispatch) on x86-64. (A [B,1,h,w] tensor takes torch's channels-last
 * kernel instead, which sums the four products in double.)
 * Returns 0, TG_EINVAL (a size < 1) or TG_ENOMEM (index tables). */
int tg_resize_bilinear(const float *src, int in_h, int in_w, float *dst, int out_h, int out_w);

#ifdef __cplusplus
}
#endif
#endif /* TG_TENSOR_H */
