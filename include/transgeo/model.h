/*
 * model.h - TransGeo model files: load, validate, describe.
 *
 * A model file is a safetensors file (see safetensors.h for the container)
 * written by tools/convert_checkpoint.py. Its __metadata__ holds the config
 * (all values are strings):
 *
 *   format "transgeo-safetensors-1"   arch "transgeo"
 *   embed_dim "384"  depth "12"  heads "6"  mlp_dim "1536"  patch "16"
 *   ln_eps "1e-06"   tokens "cls+dist" | "cls"   out_dim "1000"
 *   ground_hw "112,616"  aerial_hw "256,256"  zoom_hw "320,320"   (H,W in px)
 *   crop_ratio "0.64"    zoom "1" | "0"       zoom_fallback "self" | "none" (optional)
 *   aerial_gsd_m "0.114" aerial_tile_m "72.96" ground_fov_deg "360"
 *   ground_elev_deg "38.6,-26.9" (optional; "top,bottom", default "90,-90")
 *   normalize_mean "0.485,0.456,0.406"  normalize_std "0.229,0.224,0.225"
 *   preset "cvusa"|"vigor"|"tiny"|"demo"  source "..."  sha256 "<64 hex>"
 *
 * and up to three networks, tensors named "<net>.<timm name>":
 *   ground       the query encoder, input ground_hw
 *   aerial       the reference encoder, input zoom_hw (for a zoom model the
 *                stage-2 network that sees only the kept patches)
 *   aerial_scan  the stage-1 network of attend-and-zoom-in, input aerial_hw;
 *                present iff zoom = "1"
 * Every tensor of every present network is checked for name, dtype (F32) and
 * shape; missing and unexpected tensors are refused with a message naming
 * the tensor. Loading maps the file; the weights are used in place.
 *
 *     tg_model *m = NULL;
 *     if (tg_model_load(ctx, "cvusa.safetensors", &m) != 0) {
 *         fprintf(stderr, "%s\n", tg_errmsg(ctx));   // e.g. model 'x.safetensors':
 *         return 1;                                   // tensor 'ground.norm.weight' is missing
 *     }
 *     const tg_model_config *cfg = tg_model_config_get(m);
 *     ... cfg->out_dim ...
 *     tg_model_free(m);
 *
 * Ownership: the caller owns the tg_model (tg_model_free, NULL ok). A model
 * is read-only after loading and may be shared by threads, each with its own
 * tg_ctx. Strings in the config live as long as the model.
 */
#ifndef TG_MODEL_H
#define TG_MODEL_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_model tg_model;

/* What the aerial branch does when the file has no 'aerial_scan' network but
 * its 'aerial' network was trained on zoomed, cropped inputs. */
enum {
    TG_ZOOM_FALLBACK_NONE = 0, /* no zoom: the 'aerial' network sees every patch */
    TG_ZOOM_FALLBACK_SELF = 1  /* "self-scan": the 'aerial' network's own last-block
                                  attention over all patches at zoom_hw picks the
                                  patches of its cropped pass */
};

typedef struct tg_model_config {
    const char *format;      /* "transgeo-safetensors-1" */
    const char *arch;        /* "transgeo" */
    int embed_dim;           /* D, token width */
    int depth;               /* transformer blocks per network */
    int heads;               /* attention heads (D % heads == 0) */
    int mlp_dim;             /* hidden width of the MLP */
    int patch;               /* patch size P in px (square patches, stride P) */
    double ln_eps;           /* LayerNorm epsilon */
    const char *tokens;      /* "cls+dist" (DeiT distilled) or "cls" */
    int n_prefix;            /* 2 for cls+dist, 1 for cls */
    int out_dim;             /* embedding size (the heads' output) */
    int ground_hw[2];        /* ground input H, W (px) */
    int aerial_hw[2];        /* aerial input H, W of the stage-1 net (or the only aerial net) */
    int zoom_hw[2];          /* input H, W of the 'aerial' net (== aerial_hw without zoom) */
    double crop_ratio;       /* fraction of zoom-grid patches kept by the zoom pass */
    int n_keep;              /* int(crop_ratio * patches of zoom_hw) (all patches without zoom) */
    int zoom;                /* 1: the file has 'aerial_scan' and runs attend-and-zoom-in */
    int zoom_fallback;       /* TG_ZOOM_FALLBACK_* (used only when zoom == 0) */
    int has_zoom;            /* 1 when aerial embeddings use a cropped zoom pass
                                (zoom, or zoom_fallback == SELF) */
    double aerial_gsd_m;     /* ground metres per aerial pixel the model was trained at */
    double aerial_tile_m;    /* ground width of an aerial tile in metres */
    double ground_fov_deg;   /* horizontal field of view of ground images (360 = panorama) */
    float mean[3];           /* input normalisation, RGB, on [0,1] pixel values */
    float std[3];
    const char *preset;      /* "cvusa", "vigor", "tiny", "demo", ... */
    const char *source;      /* where the weights came from */
    const char *sha256;      /* hex sha256 of the data section as stored in the file ("" if none) */
    int has_ground;          /* networks present in the file */
    int has_aerial;
    int has_aerial_scan;
    long long n_params;      /* total number of parameters (all networks) */
    long long file_bytes;    /* file size */
    double ground_elev_deg[2]; /* elevation of the ground input's top and bottom rows'
                                  edges, degrees (metadata "top,bottom", default 90,-90;
                                  docs/ground-canvas.md) */
} tg_model_config;

/* Load and validate a model file. [out] *out (NULL on failure). Errors:
 * TG_ENOTFOUND / TG_EIO (cannot open), TG_EFORMAT (not a valid safetensors
 * file), TG_EMODEL (config or tensors do not match this engine). */
TG_API int tg_model_load(tg_ctx *ctx, const char *path, tg_model **out);
/* Free a model. NULL is accepted. */
TG_API void tg_model_free(tg_model *model);
/* The model's config (owned by the model). */
TG_API const tg_model_config *tg_model_config_get(const tg_model *model);
/* Path the model was loaded from. */
TG_API const char *tg_model_path(const tg_model *model);

/* Recompute the sha256 of the data section and compare it with the file's
 * "sha256" metadata (reads the whole file: ~0.5 s per 100 MB). [out] hex
 * (65 bytes, may be NULL) gets the computed digest. Returns 0 when they
 * match, TG_EMODEL when they differ or the file has no sha256. */
TG_API int tg_model_verify(tg_ctx *ctx, const tg_model *model, char hex[65]);

/* 1 if s starts like a safetensors model file (8-byte length + '{'), after
 * reading at most 9 bytes of it; used to tell model files from databases. */
TG_API int tg_model_sniff(const void *head, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* TG_MODEL_H */
