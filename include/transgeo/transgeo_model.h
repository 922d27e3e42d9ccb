/*
 * transgeo_model.h - run a TransGeo model: the ground and aerial encoders,
 * the stage-1 attention map and the attend-and-zoom-in second pass.
 *
 * Two levels:
 *  - tensor level: already-normalised float32 input [B, 3, H, W] (NCHW, C
 *    order, H x W = the branch's input size) -> the model's raw output
 *    [B, out_dim] (for parity with PyTorch: tools/reference/transgeo_ref.py);
 *  - image level: a tg_image -> an L2-normalised embedding (out_dim floats),
 *    preprocessed as the official pipeline does (image.h).
 *
 *     tg_model *m; tg_image *img; float emb[1000];
 *     tg_model_load(ctx, "cvusa.safetensors", &m);
 *     tg_image_load(ctx, "pano.jpg", &img);
 *     if (tg_model_embed_ground(ctx, m, img, emb)) fprintf(stderr, "%s\n", tg_errmsg(ctx));
 *
 * Attend-and-zoom-in (official Deit.py + train.py scan(), see vit.h and
 * tools/reference/transgeo_ref.py, which the tests compare against):
 *   1. stage 1: the 'aerial_scan' net on the tile at aerial_hw; its last block
 *      gives the map m (tg_model_scan), one value per stage-1 patch;
 *   2. u8 = (uint8)((float)(m / max m) * 255.f)  (the official PNG, truncation);
 *   3. the map u8/255.f is resized bilinearly (PyTorch, align_corners=False) to
 *      the zoom grid (zoom_hw / patch);
 *   4. a stable ascending sort of the resized map; the last n_keep =
 *      int(crop_ratio * patches) indices are kept, in that order (among equal
 *      values the higher index comes later, so it is the one kept at the cut);
 *   5. stage 2: the 'aerial' net on the tile at zoom_hw, with only the kept
 *      patch tokens (each with its own position embedding).
 * Files without 'aerial_scan' whose metadata says zoom_fallback "self" run the
 * documented self-scan instead of step 1: the 'aerial' net itself over all
 * patches at zoom_hw gives the map, already on the zoom grid.
 *
 * Threads: tg_ctx_threads(ctx) (OpenBLAS's count is set for the call and
 * restored after). Memory: activations in the context's scratch; a batch is
 * processed in chunks, so B only bounds the caller's buffers.
 * On failure outputs are unspecified and ctx holds the message.
 */
#ifndef TG_TRANSGEO_MODEL_H
#define TG_TRANSGEO_MODEL_H

#include "core.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_image tg_image; /* image.h */

/* The networks of a model file. */
enum {
    TG_BRANCH_GROUND = 0,      /* query encoder, input ground_hw */
    TG_BRANCH_AERIAL = 1,      /* reference encoder, input zoom_hw: the stage-2 net of a
                                  zoom model (tg_model_forward runs it on all patches) */
    TG_BRANCH_AERIAL_SCAN = 2, /* stage-1 net of a zoom model, input aerial_hw */
    TG_N_BRANCHES = 3
};

/* "ground", "aerial", "aerial_scan" ("?" otherwise). */
TG_API const char *tg_model_branch_name(int branch);

/* [out] input height and width (px) and patch grid of a branch's network.
 * Returns 0, or TG_EINVAL for an unknown branch, TG_EMODEL when the file has
 * no such network. ctx may be NULL. */
TG_API int tg_model_input_hw(tg_ctx *ctx, const tg_model *m, int branch, int *h, int *w);
TG_API int tg_model_grid(tg_ctx *ctx, const tg_model *m, int branch, int *gh, int *gw);

/* Plain forward of one network on all patches (Deit.py forward_features +
 * heads). x: [B, 3, H, W] at the branch's input size; out: [B, out_dim] raw.
 * For TG_BRANCH_AERIAL of a zoom model this is the stage-2 net WITHOUT zoom;
 * use tg_model_forward_zoom for the official aerial embedding. */
TG_API int tg_model_forward(tg_ctx *ctx, const tg_model *m, int branch, const float *x, int B,
                            float *out);

/* Stage 1: the 'aerial_scan' net on x_scan [B, 3, aerial_hw]. [out] att
 * [B, gh1 * gw1] float maps (gh1 x gw1 = aerial_hw / patch, row-major);
 * [out] out [B, out_dim] the stage-1 raw output, or NULL to skip the rest of
 * the last block. TG_EMODEL if the file has no 'aerial_scan'. */
TG_API int tg_model_scan(tg_ctx *ctx, const tg_model *m, const float *x_scan, int B, float *att,
                         float *out);

/* Plain forward of any network that also returns its last-block map
 * (same definition as tg_model_scan): att [B, gh * gw] of that network's
 * grid; out may be NULL. tg_model_scan(m, x, ...) is
 * tg_model_forward_map(m, TG_BRANCH_AERIAL_SCAN, x, ...); on TG_BRANCH_AERIAL
 * it gives the self-scan map. */
TG_API int tg_model_forward_map(tg_ctx *ctx, const tg_model *m, int branch, const float *x, int B,
                                float *att, float *out);

/* Step 2 on one map of n values: u8[i] = (uint8)((float)(att[i] / max) * 255.f)
 * with float arithmetic (matplotlib's imsave of m / max(m)). A map whose max
 * is not positive gives zeros. */
TG_API void tg_attention_quantize(const float *att, int n, unsigned char *u8);

/* What chooses the patches of the zoom pass: exactly one of att_u8, att,
 * keep is non-NULL. */
typedef struct tg_zoom_guide {
    const unsigned char *att_u8; /* [B][gh * gw] quantised maps (the official PNG values) */
    const float *att;            /* [B][gh * gw] raw maps (tg_model_scan); quantised here */
    int gh, gw;                  /* grid of att_u8 / att; 0, 0 = the stage-1 grid
                                    (aerial_hw / patch) */
    const int *keep;             /* [B][n_keep] zoom-grid patch indices, token order */
} tg_zoom_guide;

/* Steps 2-4: [out] keep [B][n_keep] (tg_model_config_get(m)->n_keep) from a
 * guide with att_u8 or att. TG_EINVAL if the guide has neither. */
TG_API int tg_model_zoom_keep(tg_ctx *ctx, const tg_model *m, const tg_zoom_guide *g, int B,
                              int *keep);

/* Stage 2: the 'aerial' net on x_zoom [B, 3, zoom_hw] over the patches the
 * guide selects. guide NULL: the self-scan fallback (allowed only when the
 * file's zoom_fallback is "self"). [out] out [B, out_dim] raw; [out]
 * keep_out [B][n_keep] the indices used, or NULL. */
TG_API int tg_model_forward_zoom(tg_ctx *ctx, const tg_model *m, const float *x_zoom, int B,
                                 const tg_zoom_guide *guide, float *out, int *keep_out);

/* Image level: resize + normalise (image.h tg_image_to_tensor, the model's
 * mean/std), forward, L2-normalise (x / max(|x|, 1e-12), as F.normalize).
 * emb: out_dim floats. The aerial embedding runs the full attend-and-zoom-in
 * pipeline when the model zooms (stage 1 at aerial_hw and stage 2 at zoom_hw,
 * both resized from the same image), else the 'aerial' net at aerial_hw. */
TG_API int tg_model_embed_ground(tg_ctx *ctx, const tg_model *m, const tg_image *img, float *emb);
TG_API int tg_model_embed_aerial(tg_ctx *ctx, const tg_model *m, const tg_image *img, float *emb);
/* The aerial embeddings of B >= 1 images in one pass of each network (the
 * products run on B times the rows: faster per image on small images).
 * emb: B x out_dim floats, image b's at emb + b * out_dim. A batch's results
 * equal one-at-a-time results to float rounding (about 1e-7), and the same
 * batch gives the same bits every time. */
TG_API int tg_model_embed_aerial_batch(tg_ctx *ctx, const tg_model *m, const tg_image *const *imgs,
                                       int B, float *emb);

/* ---- the engine's BLAS ------------------------------------------------ */

/* Name of the OpenBLAS kernel set in use ("Haswell", "SkylakeX", ...) or
 * "unknown" (another CBLAS). */
TG_API const char *tg_blas_corename(void);
/* Set OpenBLAS's process-wide thread count to n (n >= 1; 0 only reads it).
 * Returns the count before the call (0 without OpenBLAS). */
TG_API int tg_blas_set_threads(int n);
/* The kernel set OpenBLAS should load on this CPU when the loaded one is
 * slower (policy and TRANSGEO_BLAS_CORETYPE: transgeo(1), libtransgeo(3)):
 * returns 1 and *suggest = its name, else 0. OpenBLAS fixes its kernels
 * when it is loaded, so only a program can act on it, by setting
 * OPENBLAS_CORETYPE and executing itself again (the transgeo command does);
 * the library never does. */
TG_API int tg_blas_suggest_coretype(const char **suggest);

/* The ground embedding of B inputs already made (normalised [B, 3, ground_hw],
 * e.g. canvas.h's canvases of one photo at B headings): one batched forward,
 * then L2-normalised. emb: [B, out_dim]. tg_model_embed_ground is this with
 * B = 1 on the resized photo, so both give the same bits for the same input. */
TG_API int tg_model_embed_ground_batch(tg_ctx *ctx, const tg_model *m, const float *x, int B,
                                       float *emb);

#ifdef __cplusplus
}
#endif
#endif /* TG_TRANSGEO_MODEL_H */
