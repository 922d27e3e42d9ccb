/*
 * vit.h - the DeiT/ViT encoder of TransGeo (Zhu, Shah & Chen, CVPR 2022; the
 * official model/Deit.py subclasses timm's VisionTransformer) on float32
 * tensors, with the two extras TransGeo needs: the stage-1 attention map and
 * the stage-2 pass over a chosen subset of patches.
 *
 * Internal to libtransgeo; transgeo_model.c is its user.
 *
 * Forward pass of one network (D = embed_dim, P = patch, T tokens):
 *   tokens   patch k (row-major over the gh x gw grid of the H x W input,
 *            gh = H / P, gw = W / P rounded down, or keep[i] in a zoom
 *            pass) -> W_pe . im2col(patch) + b_pe            (the stride-P conv)
 *   x        [cls, dist, tokens] + pos_embed[0, 1, 2 + k]     [T, D]
 *   block i  x += proj(MHA(LN1(x)));  x += fc2(GELU(fc1(LN2(x))))   (pre-norm)
 *   out      (head(LN(x)[0]) + head_dist(LN(x)[1])) / 2   ("cls": head(LN(x)[0]))
 * The last block only needs the cls/dist rows after attention, so only those
 * rows go through its projection and MLP (identical results, ~6% less work).
 *
 * Attention of head h on token rows (qkv = LN1(x) W_qkv^T + b, [T, 3D]):
 *   Q = qkv[:, h*dh : (h+1)*dh], K = qkv[:, D + h*dh ...], V = qkv[:, 2D + h*dh ...]
 *   S = softmax_rows(scale * Q K^T)  [T, T], scale = dh^-0.5 (float)
 *   O[:, h*dh ...] = S V
 * per block of up to 64 query rows q (so that S stays in L2), as
 *   cblas_sgemm(RowMajor, NoTrans, Trans, q, T, dh, scale, Q, 3D, K, 3D, 0, S, T)
 *   cblas_sgemm(RowMajor, NoTrans, NoTrans, q, dh, T, 1, S, T, V, 3D, 0, O, D):
 * Q, K, V are read in place from the qkv matrix through its leading dimension.
 * Heads (and images) are spread over the thread pool, each with a
 * single-threaded sgemm; the big products (qkv, proj, fc1, fc2, patch
 * embedding) have their rows split over the pool, each part a
 * single-threaded sgemm (TG_GEMM=blas lets OpenBLAS thread them instead;
 * see vit.c for the measurements behind the default).
 *
 * Stage-1 map (train.py scan(), Deit.py forward_features_save): in the last
 * block, m[p] = sum over rows r < n_prefix of (sum over heads h of S_h[r, n_prefix + p]),
 * summed in that order (heads first, as numpy's .sum(axis=1).sum(axis=1)).
 *
 * Memory: all activations live in the context's scratch (tg_ctx_scratch),
 * sized once per call from the batch; nothing is allocated inside a pass.
 * A batch is processed in chunks of images so that scratch stays bounded.
 */
#ifndef TG_VIT_H
#define TG_VIT_H

#include "transgeo/core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_vit_block {
    const float *ln1_w, *ln1_b;   /* [D] */
    const float *qkv_w, *qkv_b;   /* [3D, D], [3D] */
    const float *proj_w, *proj_b; /* [D, D], [D] */
    const float *ln2_w, *ln2_b;   /* [D] */
    const float *fc1_w, *fc1_b;   /* [M, D], [M] */
    const float *fc2_w, *fc2_b;   /* [D, M], [D] */
} tg_vit_block;

/* One network's shape and weights (pointers into the model file). */
typedef struct tg_vit {
    int D, depth, heads, M, P;   /* embed_dim, blocks, heads, mlp_dim, patch */
    int n_prefix;                /* 2 (cls, dist) or 1 (cls) */
    int out_dim;                 /* head output size */
    int H, W;                    /* input size in px (may exceed gh*P, gw*P: the stride-P
                                    conv ignores the remainder, as timm's PatchEmbed) */
    int gh, gw;                  /* patch grid: H / P, W / P (rounded down) */
    float eps;                   /* LayerNorm epsilon */
    const float *cls, *dist;     /* [D] each; dist NULL when n_prefix == 1 */
    const float *pos;            /* [n_prefix + gh*gw, D] */
    const float *pe_w, *pe_b;    /* [D, 3*P*P] (conv weight [D,3,P,P] flattened), [D] */
    tg_vit_block *blocks;        /* depth blocks */
    const float *norm_w, *norm_b;/* [D] */
    const float *head_w, *head_b;/* [out_dim, D], [out_dim] */
    const float *hd_w, *hd_b;    /* head_dist, NULL when n_prefix == 1 */
} tg_vit;

/* The execution state of one library call: the context, its threads and
 * the floating-point/BLAS settings in force until tg_engine_end. */
typedef struct tg_engine {
    tg_ctx *ctx;
    tg_pool *pool;        /* NULL when single-threaded */
    int n_threads;        /* tg_ctx_threads(ctx) */
    unsigned fpenv;       /* saved MXCSR */
    int blas_prev;        /* OpenBLAS thread count before the call */
} tg_engine;

int tg_engine_begin(tg_ctx *ctx, tg_engine *e);
void tg_engine_end(tg_engine *e);

/* One forward request. */
typedef struct tg_vit_job {
    const float *x;   /* [B, 3, H, W], normalised */
    int B;            /* images, >= 1 */
    const int *keep;  /* [B][n_keep] patch indices into the gh x gw grid, in token
                         order, distinct, or NULL for all patches in grid order */
    int n_keep;       /* 1 .. gh*gw when keep != NULL */
    float *out;       /* [B][out_dim] raw head output, or NULL */
    float *att;       /* [B][gh*gw] stage-1 map (needs keep == NULL), or NULL */
} tg_vit_job;

/* Run the network. At least one of out/att. Errors: TG_EINVAL (bad job,
 * message says which field), TG_ENOMEM (scratch). */
int tg_vit_forward(tg_engine *e, const tg_vit *net, const tg_vit_job *job);

/* The network of a branch (TG_BRANCH_*) of a loaded model, or NULL when the
 * file has none (implemented in model.c). */
typedef struct tg_model tg_model;
const tg_vit *tg_model_vit(const tg_model *m, int branch);

/* Scratch bytes a forward of B images with T tokens each would use (for
 * tests and the bench). */
size_t tg_vit_scratch_bytes(const tg_vit *net, int B, int n_tokens, int n_threads);

#ifdef __cplusplus
}
#endif
#endif /* TG_VIT_H */
