/* transgeo_model.c - the two TransGeo branches and attend-and-zoom-in (see
 * transgeo_model.h). */
#include "config.h"
#include "transgeo/transgeo_model.h"
#include "transgeo/image.h"
#include "vit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static const tg_vit *need_net(tg_ctx *ctx, const tg_model *m, int branch, int *rc)
{
    *rc = TG_OK;
    if (!m) {
        *rc = tg_set_error(ctx, TG_EINVAL, "model is NULL");
        return NULL;
    }
    if (branch < 0 || branch >= TG_N_BRANCHES) {
        *rc = tg_set_error(ctx, TG_EINVAL, "unknown branch %d (expected TG_BRANCH_GROUND, "
                           "TG_BRANCH_AERIAL or TG_BRANCH_AERIAL_SCAN)", branch);
        return NULL;
    }
    const tg_vit *v = tg_model_vit(m, branch);
    if (!v)
        *rc = tg_set_error(ctx, TG_EMODEL, "model '%s' has no '%s' network", tg_model_path(m),
                           tg_model_branch_name(branch));
    return v;
}

int tg_model_grid(tg_ctx *ctx, const tg_model *m, int branch, int *gh, int *gw)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, branch, &rc);
    if (!v) return rc;
    if (gh) *gh = v->gh;
    if (gw) *gw = v->gw;
    return TG_OK;
}

int tg_model_input_hw(tg_ctx *ctx, const tg_model *m, int branch, int *h, int *w)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, branch, &rc);
    if (!v) return rc;
    if (h) *h = v->H;
    if (w) *w = v->W;
    return TG_OK;
}

static int check_batch(tg_ctx *ctx, const void *x, int B, const void *out, const char *what)
{
    if (!x || !out)
        return tg_set_error(ctx, TG_EINVAL, "%s: input or output is NULL", what);
    if (B < 1) return tg_set_error(ctx, TG_EINVAL, "%s: batch size %d, expected >= 1", what, B);
    return TG_OK;
}

/* ---- tensor level -------------------------------------------------------------- */

static int run_net(tg_engine *e, const tg_vit *v, const float *x, int B, const int *keep,
                   int n_keep, float *out, float *att)
{
    tg_vit_job job = {x, B, keep, n_keep, out, att};
    return tg_vit_forward(e, v, &job);
}

int tg_model_forward(tg_ctx *ctx, const tg_model *m, int branch, const float *x, int B, float *out)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, branch, &rc);
    if (!v) return rc;
    if ((rc = check_batch(ctx, x, B, out, "forward"))) return rc;
    tg_engine e;
    if ((rc = tg_engine_begin(ctx, &e))) return rc;
    rc = run_net(&e, v, x, B, NULL, 0, out, NULL);
    tg_engine_end(&e);
    return rc;
}

int tg_model_forward_map(tg_ctx *ctx, const tg_model *m, int branch, const float *x, int B,
                         float *att, float *out)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, branch, &rc);
    if (!v) return rc;
    if ((rc = check_batch(ctx, x, B, att, "attention map"))) return rc;
    tg_engine e;
    if ((rc = tg_engine_begin(ctx, &e))) return rc;
    rc = run_net(&e, v, x, B, NULL, 0, out, att);
    tg_engine_end(&e);
    return rc;
}

int tg_model_scan(tg_ctx *ctx, const tg_model *m, const float *x_scan, int B, float *att, float *out)
{
    return tg_model_forward_map(ctx, m, TG_BRANCH_AERIAL_SCAN, x_scan, B, att, out);
}

void tg_attention_quantize(const float *att, int n, unsigned char *u8)
{
    float mx = 0.0f;
    for (int i = 0; i < n; i++)
        if (att[i] > mx) mx = att[i];
    for (int i = 0; i < n; i++) {
        /* float32 m / max, * 255 in float32, truncated (matplotlib's
         * to_rgba(bytes=True): (x * 255).astype(uint8)) */
        float r = mx > 0.0f ? att[i] / mx : 0.0f;
        float s = r * 255.0f;
        u8[i] = s >= 255.0f ? 255 : s > 0.0f ? (unsigned char)s : 0;
    }
}

struct keyed {
    float v;
    int i;
};

static int keyed_cmp(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i); /* stable: equal values keep index order */
}

/* Steps 3-4 for one map u8 [gh*gw] -> keep [n_keep] on the zoom grid.
 * tmp: (gh*gw + zh*zw) floats, order: zh*zw keyed. */
static int select_one(const unsigned char *u8, int gh, int gw, int zh, int zw, int n_keep,
                      float *tmp, struct keyed *order, int *keep)
{
    int n = gh * gw, nz = zh * zw;
    float *v = tmp, *vz = tmp + n;
    for (int i = 0; i < n; i++) v[i] = (float)u8[i] / 255.0f; /* ToTensor: float32 u8 / 255 */
    int rc = tg_resize_bilinear(v, gh, gw, vz, zh, zw);
    if (rc) return rc;
    for (int i = 0; i < nz; i++) order[i] = (struct keyed){vz[i], i};
    qsort(order, (size_t)nz, sizeof *order, keyed_cmp);
    for (int i = 0; i < n_keep; i++) keep[i] = order[nz - n_keep + i].i;
    return TG_OK;
}

/* keep [B][n_keep] from quantised maps u8 [B][gh*gw] */
static int select_keep(tg_ctx *ctx, const tg_model *m, const unsigned char *u8, int gh, int gw,
                       int B, int *keep)
{
    const tg_model_config *c = tg_model_config_get(m);
    const tg_vit *v = tg_model_vit(m, TG_BRANCH_AERIAL);
    int zh = v->gh, zw = v->gw, n = gh * gw, nz = zh * zw, K = c->n_keep;
    float *tmp = malloc(sizeof(float) * ((size_t)n + (size_t)nz));
    struct keyed *order = malloc(sizeof *order * (size_t)nz);
    int rc = TG_OK;
    if (!tmp || !order) {
        rc = tg_set_error(ctx, TG_ENOMEM, "zoom: out of memory");
        goto done;
    }
    for (int b = 0; b < B && !rc; b++)
        rc = select_one(u8 + (size_t)b * n, gh, gw, zh, zw, K, tmp, order, keep + (size_t)b * K);
    if (rc) tg_set_error(ctx, rc, "zoom: cannot resize a %dx%d map to %dx%d", gh, gw, zh, zw);
done:
    free(tmp);
    free(order);
    return rc;
}

int tg_model_zoom_keep(tg_ctx *ctx, const tg_model *m, const tg_zoom_guide *g, int B, int *keep)
{
    int rc;
    if (!need_net(ctx, m, TG_BRANCH_AERIAL, &rc)) return rc;
    if (!g || (!g->att_u8 && !g->att) || (g->att_u8 && g->att) || !keep || B < 1)
        return tg_set_error(ctx, TG_EINVAL,
                            "zoom: give exactly one attention map (att_u8 or att), an output and "
                            "B >= 1");
    int gh = g->gh, gw = g->gw;
    if (!gh && !gw) {
        const tg_model_config *c = tg_model_config_get(m);
        gh = c->aerial_hw[0] / c->patch;
        gw = c->aerial_hw[1] / c->patch;
    }
    if (gh < 1 || gw < 1 || gh > 4096 || gw > 4096)
        return tg_set_error(ctx, TG_EINVAL, "zoom: attention grid %dx%d out of range", gh, gw);
    size_t n = (size_t)gh * (size_t)gw;
    if (g->att_u8) return select_keep(ctx, m, g->att_u8, gh, gw, B, keep);
    unsigned char *u8 = malloc(n * (size_t)B);
    if (!u8) return tg_set_error(ctx, TG_ENOMEM, "zoom: out of memory");
    for (int b = 0; b < B; b++) tg_attention_quantize(g->att + (size_t)b * n, (int)n, u8 + (size_t)b * n);
    rc = select_keep(ctx, m, u8, gh, gw, B, keep);
    free(u8);
    return rc;
}

/* Stage 2 with keep chosen (or the self-scan when guide == NULL), inside an
 * engine session. */
static int zoom_pass(tg_engine *e, const tg_model *m, const float *x_zoom, int B,
                     const tg_zoom_guide *guide, const unsigned char *att_u8, float *out,
                     int *keep_out)
{
    tg_ctx *ctx = e->ctx;
    const tg_model_config *c = tg_model_config_get(m);
    const tg_vit *v = tg_model_vit(m, TG_BRANCH_AERIAL);
    int K = c->n_keep, G = v->gh * v->gw, rc = TG_OK;
    int *keep = keep_out ? keep_out : malloc(sizeof(int) * (size_t)B * (size_t)K);
    float *att = NULL;
    unsigned char *u8 = NULL;
    if (!keep) return tg_set_error(ctx, TG_ENOMEM, "zoom: out of memory");
    if (att_u8) { /* stage-1 map from the caller's pipeline, stage-1 grid */
        rc = select_keep(ctx, m, att_u8, c->aerial_hw[0] / c->patch, c->aerial_hw[1] / c->patch,
                         B, keep);
    } else if (!guide) { /* self-scan: the stage-2 net's own map on the zoom grid */
        att = malloc(sizeof(float) * (size_t)B * (size_t)G);
        u8 = malloc((size_t)B * (size_t)G);
        if (!att || !u8) {
            rc = tg_set_error(ctx, TG_ENOMEM, "zoom: out of memory");
            goto done;
        }
        rc = run_net(e, v, x_zoom, B, NULL, 0, NULL, att);
        if (rc) goto done;
        for (int b = 0; b < B; b++)
            tg_attention_quantize(att + (size_t)b * G, G, u8 + (size_t)b * G);
        rc = select_keep(ctx, m, u8, v->gh, v->gw, B, keep);
    } else if (guide->keep) {
        if (keep != guide->keep) memcpy(keep, guide->keep, sizeof(int) * (size_t)B * (size_t)K);
        for (size_t i = 0; i < (size_t)B * (size_t)K; i++)
            if (keep[i] < 0 || keep[i] >= G) {
                rc = tg_set_error(ctx, TG_EINVAL,
                                  "zoom: keep index %d (image %zu) is outside the %dx%d zoom grid",
                                  keep[i], i / (size_t)K, v->gh, v->gw);
                goto done;
            }
        for (int b = 0; b < B && !rc; b++) { /* distinct indices */
            const int *kb = keep + (size_t)b * K;
            for (int i = 0; i < K && !rc; i++)
                for (int j = i + 1; j < K; j++)
                    if (kb[i] == kb[j]) {
                        rc = tg_set_error(ctx, TG_EINVAL,
                                          "zoom: keep index %d appears twice (image %d)", kb[i], b);
                        break;
                    }
        }
    } else {
        rc = tg_model_zoom_keep(ctx, m, guide, B, keep);
    }
    if (rc) goto done;
    rc = run_net(e, v, x_zoom, B, keep, K, out, NULL);
done:
    free(att);
    free(u8);
    if (keep != keep_out) free(keep);
    return rc;
}

int tg_model_forward_zoom(tg_ctx *ctx, const tg_model *m, const float *x_zoom, int B,
                          const tg_zoom_guide *guide, float *out, int *keep_out)
{
    int rc;
    if (!need_net(ctx, m, TG_BRANCH_AERIAL, &rc)) return rc;
    if ((rc = check_batch(ctx, x_zoom, B, out, "zoom"))) return rc;
    const tg_model_config *c = tg_model_config_get(m);
    if (!c->has_zoom)
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s' does not zoom (zoom '0', no zoom_fallback 'self'): use the "
                            "plain aerial forward", tg_model_path(m));
    if (!guide && c->zoom_fallback != TG_ZOOM_FALLBACK_SELF)
        return tg_set_error(ctx, TG_EINVAL,
                            "model '%s': the zoom pass needs the stage-1 attention map or keep "
                            "indices (the self-scan fallback is only for files with "
                            "zoom_fallback 'self')", tg_model_path(m));
    if (guide && !!guide->att_u8 + !!guide->att + !!guide->keep != 1)
        return tg_set_error(ctx, TG_EINVAL,
                            "zoom: the guide needs exactly one of att_u8, att, keep");
    tg_engine e;
    if ((rc = tg_engine_begin(ctx, &e))) return rc;
    rc = zoom_pass(&e, m, x_zoom, B, guide, NULL, out, keep_out);
    tg_engine_end(&e);
    return rc;
}

/* ---- image level ------------------------------------------------------------------ */

static void l2_normalize(const float *x, int n, float *y)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    double nrm = sqrt(s);
    float d = (float)(nrm > 1e-12 ? nrm : 1e-12);
    for (int i = 0; i < n; i++) y[i] = x[i] / d;
}

static float *image_tensor(tg_ctx *ctx, const tg_model *m, const tg_image *img, int h, int w,
                           int *rc)
{
    const tg_model_config *c = tg_model_config_get(m);
    float *x = malloc(sizeof(float) * 3 * (size_t)h * (size_t)w);
    if (!x) {
        *rc = tg_set_error(ctx, TG_ENOMEM, "embed: out of memory");
        return NULL;
    }
    *rc = tg_image_to_tensor(ctx, img, h, w, c->mean, c->std, x);
    if (*rc) {
        free(x);
        return NULL;
    }
    return x;
}

int tg_model_embed_ground_batch(tg_ctx *ctx, const tg_model *m, const float *x, int B,
                                float *emb)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, TG_BRANCH_GROUND, &rc);
    if (!v) return rc;
    if ((rc = check_batch(ctx, x, B, emb, "embed"))) return rc;
    const tg_model_config *c = tg_model_config_get(m);
    float *out = malloc(sizeof(float) * (size_t)c->out_dim * (size_t)B);
    if (!out) return tg_set_error(ctx, TG_ENOMEM, "embed: out of memory for %d inputs", B);
    tg_engine e;
    if (!(rc = tg_engine_begin(ctx, &e))) {
        rc = run_net(&e, v, x, B, NULL, 0, out, NULL);
        tg_engine_end(&e);
    }
    for (int b = 0; !rc && b < B; b++)
        l2_normalize(out + (size_t)b * c->out_dim, c->out_dim, emb + (size_t)b * c->out_dim);
    free(out);
    return rc;
}

int tg_model_embed_ground(tg_ctx *ctx, const tg_model *m, const tg_image *img, float *emb)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, TG_BRANCH_GROUND, &rc);
    if (!v) return rc;
    if (!img || !emb) return tg_set_error(ctx, TG_EINVAL, "embed: image or output is NULL");
    float *x = image_tensor(ctx, m, img, v->H, v->W, &rc);
    if (!x) return rc;
    rc = tg_model_embed_ground_batch(ctx, m, x, 1, emb);
    free(x);
    return rc;
}

int tg_model_embed_aerial(tg_ctx *ctx, const tg_model *m, const tg_image *img, float *emb)
{
    if (!img) return tg_set_error(ctx, TG_EINVAL, "embed: image or output is NULL");
    return tg_model_embed_aerial_batch(ctx, m, &img, 1, emb);
}

/* B images as one [B, 3, h, w] tensor (each resized + normalised alone). */
static float *images_tensor(tg_ctx *ctx, const tg_model *m, const tg_image *const *imgs, int B,
                            int h, int w, int *rc)
{
    size_t per = 3 * (size_t)h * (size_t)w;
    float *x = malloc(sizeof(float) * per * (size_t)B);
    if (!x) {
        *rc = tg_set_error(ctx, TG_ENOMEM, "embed: out of memory for %d images", B);
        return NULL;
    }
    const tg_model_config *c = tg_model_config_get(m);
    for (int b = 0; b < B; b++) {
        *rc = tg_image_to_tensor(ctx, imgs[b], h, w, c->mean, c->std, x + per * (size_t)b);
        if (*rc) {
            free(x);
            return NULL;
        }
    }
    return x;
}

int tg_model_embed_aerial_batch(tg_ctx *ctx, const tg_model *m, const tg_image *const *imgs, int B,
                                float *emb)
{
    int rc;
    const tg_vit *v = need_net(ctx, m, TG_BRANCH_AERIAL, &rc);
    if (!v) return rc;
    if (!imgs || !emb) return tg_set_error(ctx, TG_EINVAL, "embed: image or output is NULL");
    if (B < 1) return tg_set_error(ctx, TG_EINVAL, "embed: batch size %d, expected >= 1", B);
    for (int b = 0; b < B; b++)
        if (!imgs[b]) return tg_set_error(ctx, TG_EINVAL, "embed: image %d of %d is NULL", b, B);
    const tg_model_config *c = tg_model_config_get(m);
    const tg_vit *scan = tg_model_vit(m, TG_BRANCH_AERIAL_SCAN);
    float *xz = NULL, *xs = NULL, *att = NULL;
    unsigned char *u8 = NULL;
    size_t od = (size_t)c->out_dim;
    float *out = malloc(sizeof(float) * od * (size_t)B);
    if (!out) return tg_set_error(ctx, TG_ENOMEM, "embed: out of memory");
    xz = images_tensor(ctx, m, imgs, B, v->H, v->W, &rc);
    if (!xz) goto done;
    int G1 = 0;
    if (c->zoom) {
        G1 = scan->gh * scan->gw;
        xs = images_tensor(ctx, m, imgs, B, scan->H, scan->W, &rc);
        if (!xs) goto done;
        att = malloc(sizeof(float) * (size_t)G1 * (size_t)B);
        u8 = malloc((size_t)G1 * (size_t)B);
        if (!att || !u8) {
            rc = tg_set_error(ctx, TG_ENOMEM, "embed: out of memory");
            goto done;
        }
    }
    tg_engine e;
    if ((rc = tg_engine_begin(ctx, &e))) goto done;
    if (c->zoom) {
        rc = run_net(&e, scan, xs, B, NULL, 0, NULL, att);
        if (!rc) {
            for (int b = 0; b < B; b++)
                tg_attention_quantize(att + (size_t)b * G1, G1, u8 + (size_t)b * G1);
            rc = zoom_pass(&e, m, xz, B, NULL, u8, out, NULL);
        }
    } else if (c->has_zoom) {
        rc = zoom_pass(&e, m, xz, B, NULL, NULL, out, NULL); /* self-scan */
    } else {
        rc = run_net(&e, v, xz, B, NULL, 0, out, NULL);
    }
    tg_engine_end(&e);
    if (!rc)
        for (int b = 0; b < B; b++) l2_normalize(out + od * (size_t)b, c->out_dim, emb + od * (size_t)b);
done:
    free(xz);
    free(xs);
    free(att);
    free(u8);
    free(out);
    return rc;
}
