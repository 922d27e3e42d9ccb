/* test_engine.c - the engine against the golden vectors of
 * tests/golden/tiny (tools/make_golden.py, PyTorch reference
 * tools/reference/transgeo_ref.py), every error path of the model API, the
 * .npy reader/writer and the `transgeo embed` / `transgeo info` commands.
 *
 * Tolerance per output (DESIGN.md section 4): max |c - ref| <= 1e-4 * max |ref|
 * and cosine(c, ref) >= 0.99999 for every image; the zoom pass's kept patch
 * indices must be exactly the reference's (same set, same order). */
#define _GNU_SOURCE /* memmem */
#include "config.h"
#include "transgeo/image.h"
#include "transgeo/model.h"
#include "transgeo/npy.h"
#include "engine/safetensors.h"
#include "transgeo/transgeo_model.h"
#include "st_edit.h"
#include "engine/tensor.h"
#include "tap.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char golden[1024];
static char tmpdir[1024];

static const char *gpath(const char *name)
{
    static char buf[8][1200];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", golden, name);
    return p;
}

static const char *tpath(const char *name)
{
    static char buf[8][1200];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static tg_npy load(tg_ctx *ctx, const char *name)
{
    tg_npy a;
    if (tg_npy_read(ctx, gpath(name), &a)) {
        printf("# cannot read %s: %s\n", name, tg_errmsg(ctx));
        memset(&a, 0, sizeof a);
    }
    return a;
}

/* Compare B rows of n values: max|diff| <= 1e-4 max|ref|, cosine >= 0.99999. */
static int parity(const char *what, const float *got, const float *ref, int B, int n)
{
    int ok = got && ref;
    double worst_rel = 0, worst_cos = 1;
    for (int b = 0; ok && b < B; b++) {
        const float *g = got + (size_t)b * n, *r = ref + (size_t)b * n;
        double mr = 0, md = 0, gg = 0, rr = 0, gr = 0;
        for (int i = 0; i < n; i++) {
            double d = fabs((double)g[i] - r[i]);
            md = d > md ? d : md;
            mr = fabs(r[i]) > mr ? fabs(r[i]) : mr;
            gg += (double)g[i] * g[i];
            rr += (double)r[i] * r[i];
            gr += (double)g[i] * r[i];
        }
        double rel = mr > 0 ? md / mr : md, cosv = gr / sqrt(gg * rr);
        if (rel > worst_rel) worst_rel = rel;
        if (cosv < worst_cos) worst_cos = cosv;
        if (!(rel <= 1e-4 && cosv >= 0.99999)) ok = 0;
    }
    TAP_OK(ok, "%s: max|diff|/max|ref| %.2e, cosine %.9f", what, worst_rel, worst_cos);
    return ok;
}

/* ---- parity with the golden vectors ------------------------------------------ */

static void test_golden(tg_ctx *ctx, int threads)
{
    tg_ctx_set_threads(ctx, threads);
    tap_diag("golden parity with %d thread(s)", threads);
    tg_model *m = NULL;
    int rc = tg_model_load(ctx, gpath("model.safetensors"), &m);
    TAP_EQ(rc, 0, "load tiny golden model");
    if (rc) {
        printf("# %s\n", tg_errmsg(ctx));
        return;
    }
    const tg_model_config *c = tg_model_config_get(m);
    int O = c->out_dim;
    tg_npy gi = load(ctx, "ground_in.npy"), go = load(ctx, "ground_out.npy");
    tg_npy si = load(ctx, "aerial_scan_in.npy"), att = load(ctx, "attention.npy");
    tg_npy au8 = load(ctx, "attention_u8.npy"), zi = load(ctx, "aerial_zoom_in.npy");
    tg_npy keep = load(ctx, "keep.npy"), ao = load(ctx, "aerial_out.npy");
    tg_npy nzo = load(ctx, "aerial_nozoom_out.npy");
    int B = (int)gi.shape[0];
    float *out = calloc((size_t)B * O, sizeof(float));
    int G1 = (int)(att.n_elems / (size_t)B), K = c->n_keep;
    float *m1 = calloc((size_t)B * G1, sizeof(float));
    int *kp = calloc((size_t)B * K, sizeof(int));

    /* ground */
    rc = tg_model_forward(ctx, m, TG_BRANCH_GROUND, gi.data, B, out);
    TAP_EQ(rc, 0, "ground forward");
    parity("ground output vs PyTorch", out, go.data, B, O);

    /* stage 1: map and plain output */
    rc = tg_model_scan(ctx, m, si.data, B, m1, out);
    TAP_EQ(rc, 0, "scan (stage 1)");
    parity("stage-1 attention map vs PyTorch", m1, att.data, B, G1);
    parity("stage-1 (no zoom) output vs PyTorch", out, nzo.data, B, O);
    memset(out, 0, sizeof(float) * (size_t)B * O);
    rc = tg_model_forward(ctx, m, TG_BRANCH_AERIAL_SCAN, si.data, B, out);
    parity("aerial_scan plain forward = the no-zoom output", out, nzo.data, B, O);
    float *m1b = calloc((size_t)B * G1, sizeof(float));
    tg_model_scan(ctx, m, si.data, B, m1b, NULL);
    TAP_OK(!memcmp(m1, m1b, sizeof(float) * (size_t)B * G1), "scan without output gives the same map");
    free(m1b);

    /* quantisation of the reference map is bit-exact */
    unsigned char *q = calloc((size_t)B * G1, 1);
    for (int b = 0; b < B; b++)
        tg_attention_quantize((const float *)att.data + (size_t)b * G1, G1, q + (size_t)b * G1);
    TAP_OK(!memcmp(q, au8.data, (size_t)B * G1), "quantise(reference map) == attention_u8 exactly");
    /* and of our own map (same values here: no map value sits on a u8 boundary) */
    int same_u8 = 1;
    for (int b = 0; b < B; b++) {
        unsigned char qq[4096];
        tg_attention_quantize(m1 + (size_t)b * G1, G1, qq);
        same_u8 &= !memcmp(qq, (unsigned char *)au8.data + (size_t)b * G1, (size_t)G1);
    }
    TAP_OK(same_u8, "quantise(our map) == attention_u8");

    /* keep from the u8 map: exact indices and order */
    tg_zoom_guide g = {0};
    g.att_u8 = au8.data;
    rc = tg_model_zoom_keep(ctx, m, &g, B, kp);
    int kok = rc == 0;
    for (int i = 0; kok && i < B * K; i++) kok = kp[i] == (int)((int64_t *)keep.data)[i];
    TAP_OK(kok, "keep indices from attention_u8 == keep.npy (set and order)");

    /* zoom pass from the u8 map, from the float map, from keep */
    int *kout = calloc((size_t)B * K, sizeof(int));
    rc = tg_model_forward_zoom(ctx, m, zi.data, B, &g, out, kout);
    TAP_EQ(rc, 0, "zoom pass from the u8 map");
    parity("zoom output (u8 map) vs PyTorch", out, ao.data, B, O);
    TAP_OK(!memcmp(kout, kp, sizeof(int) * (size_t)B * K), "zoom pass reports the keep it used");
    memset(&g, 0, sizeof g);
    g.att = m1;
    rc = tg_model_forward_zoom(ctx, m, zi.data, B, &g, out, NULL);
    TAP_EQ(rc, 0, "zoom pass from our float map");
    parity("full pipeline (scan -> quantise -> zoom) vs PyTorch", out, ao.data, B, O);
    memset(&g, 0, sizeof g);
    g.keep = kp;
    rc = tg_model_forward_zoom(ctx, m, zi.data, B, &g, out, NULL);
    parity("zoom pass from keep indices vs PyTorch", out, ao.data, B, O);

    free(kout);
    free(q);
    free(out);
    free(m1);
    free(kp);
    tg_npy *all[] = {&gi, &go, &si, &att, &au8, &zi, &keep, &ao, &nzo};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tg_npy_free(all[i]);
    tg_model_free(m);
}

/* rc == code and the message contains every needle ('|'-separated). */
static void expect(tg_ctx *ctx, int rc, int code, const char *needles, const char *what)
{
    const char *msg = tg_errmsg(ctx);
    int ok = rc == code;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", needles);
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save))
        ok &= strstr(msg, t) != NULL;
    TAP_OK(ok, "%s", what);
    if (!ok) printf("#   rc %d (want %d), message: %s\n#   want words: %s\n", rc, code, msg, needles);
}

/* Model variants made from the golden file. */
static void e_selfscan(json_t *root, void *user)
{
    (void)user;
    st_drop_prefix(root, "aerial_scan.");
    st_meta_set(root, "zoom", "0");
    st_meta_set(root, "zoom_fallback", "self");
    st_meta_set(root, "aerial_hw", "80,80");
}

static void e_nozoom(json_t *root, void *user) /* stage-2 net on all patches */
{
    e_selfscan(root, user);
    st_meta_set(root, "zoom_fallback", "none");
    st_meta_set(root, "crop_ratio", "1");
}

static void e_ground_only(json_t *root, void *user)
{
    (void)user;
    st_drop_prefix(root, "aerial");
}

static tg_model *variant(tg_ctx *ctx, const char *name, st_edit_fn fn)
{
    tg_model *m = NULL;
    if (st_rewrite(gpath("model.safetensors"), tpath(name), fn, NULL) ||
        tg_model_load(ctx, tpath(name), &m))
        printf("# variant %s: %s\n", name, tg_errmsg(ctx));
    return m;
}

/* The documented self-scan fallback against the reference's. */
static void test_selfscan(tg_ctx *ctx)
{
    tg_ctx_set_threads(ctx, 2);
    tg_model *m = variant(ctx, "selfscan.safetensors", e_selfscan);
    TAP_OK(m != NULL, "self-scan model (zoom 0, zoom_fallback self) loads");
    if (!m) return;
    tg_npy zi = load(ctx, "aerial_zoom_in.npy"), so = load(ctx, "selfscan_out.npy");
    tg_npy sa = load(ctx, "selfscan_attention.npy"), su8 = load(ctx, "selfscan_attention_u8.npy");
    tg_npy sk = load(ctx, "selfscan_keep.npy");
    int B = (int)zi.shape[0], O = tg_model_config_get(m)->out_dim, K = tg_model_config_get(m)->n_keep;
    int G = (int)(sa.n_elems / (size_t)B);
    float *out = calloc((size_t)B * O, sizeof(float)), *att = calloc((size_t)B * G, sizeof(float));
    int *keep = calloc((size_t)B * K, sizeof(int));
    int rc = tg_model_forward_zoom(ctx, m, zi.data, B, NULL, out, keep);
    TAP_EQ(rc, 0, "self-scan zoom pass (guide NULL)");
    parity("self-scan output vs PyTorch", out, so.data, B, O);
    int kok = 1;
    for (int i = 0; i < B * K; i++) kok &= keep[i] == (int)((int64_t *)sk.data)[i];
    TAP_OK(kok, "self-scan keep == selfscan_keep.npy");
    rc = tg_model_forward_map(ctx, m, TG_BRANCH_AERIAL, zi.data, B, att, NULL);
    parity("self-scan map vs PyTorch", att, sa.data, B, G);
    unsigned char u8[64];
    int qok = 1;
    for (int b = 0; b < B; b++) {
        tg_attention_quantize(att + (size_t)b * G, G, u8);
        qok &= !memcmp(u8, (unsigned char *)su8.data + (size_t)b * G, (size_t)G);
    }
    TAP_OK(qok, "self-scan map quantises to selfscan_attention_u8");
    expect(ctx, tg_model_scan(ctx, m, zi.data, B, att, NULL), TG_EMODEL, "has no 'aerial_scan' network",
           "scan on a file without aerial_scan -> TG_EMODEL");
    free(out);
    free(att);
    free(keep);
    tg_npy *all[] = {&zi, &so, &sa, &su8, &sk};
    for (size_t i = 0; i < 5; i++) tg_npy_free(all[i]);
    tg_model_free(m);
}

/* Batch results equal single-image results; chunks (B > 8) too. */
static void test_batching(tg_ctx *ctx)
{
    tg_model *m = NULL;
    tg_model_load(ctx, gpath("model.safetensors"), &m);
    if (!m) return;
    tg_npy gi = load(ctx, "ground_in.npy"), go = load(ctx, "ground_out.npy");
    tg_npy zi = load(ctx, "aerial_zoom_in.npy"), ao = load(ctx, "aerial_out.npy"), kp = load(ctx, "keep.npy");
    int O = tg_model_config_get(m)->out_dim, K = tg_model_config_get(m)->n_keep;
    enum { NB = 11 };
    size_t gsz = gi.n_elems / 2, zsz = zi.n_elems / 2;
    float *x = malloc(sizeof(float) * gsz * NB), *xz = malloc(sizeof(float) * zsz * NB);
    float *ref = malloc(sizeof(float) * (size_t)O * NB), *refz = malloc(sizeof(float) * (size_t)O * NB);
    int *keep = malloc(sizeof(int) * (size_t)K * NB);
    for (int i = 0; i < NB; i++) { /* images 0,1,0,1,... */
        memcpy(x + (size_t)i * gsz, (float *)gi.data + (size_t)(i % 2) * gsz, sizeof(float) * gsz);
        memcpy(xz + (size_t)i * zsz, (float *)zi.data + (size_t)(i % 2) * zsz, sizeof(float) * zsz);
        memcpy(ref + (size_t)i * O, (float *)go.data + (size_t)(i % 2) * O, sizeof(float) * O);
        memcpy(refz + (size_t)i * O, (float *)ao.data + (size_t)(i % 2) * O, sizeof(float) * O);
        for (int k = 0; k < K; k++) keep[i * K + k] = (int)((int64_t *)kp.data)[(i % 2) * K + k];
    }
    float *out = calloc((size_t)O * NB, sizeof(float));
    /* one thread's results, to check that more threads give the same bits
     * (the work split must not change any sum's order) */
    float *one_g = calloc((size_t)O * NB, sizeof(float)), *one_z = calloc((size_t)O * NB, sizeof(float));
    for (int t = 1; t <= 3; t += 2) {
        tg_ctx_set_threads(ctx, t);
        TAP_EQ(tg_model_forward(ctx, m, TG_BRANCH_GROUND, x, NB, out), 0, "ground, batch of %d (chunks), %d threads", NB, t);
        parity("batch of 11 vs PyTorch (each image)", out, ref, NB, O);
        if (t == 1) memcpy(one_g, out, sizeof(float) * (size_t)O * NB);
        else TAP_OK(!memcmp(one_g, out, sizeof(float) * (size_t)O * NB), "ground: %d threads give 1 thread's bits", t);
        tg_zoom_guide g = {0};
        g.keep = keep;
        TAP_EQ(tg_model_forward_zoom(ctx, m, xz, NB, &g, out, NULL), 0, "zoom, batch of %d, %d threads", NB, t);
        parity("zoom batch of 11 vs PyTorch (each image)", out, refz, NB, O);
        if (t == 1) memcpy(one_z, out, sizeof(float) * (size_t)O * NB);
        else TAP_OK(!memcmp(one_z, out, sizeof(float) * (size_t)O * NB), "zoom: %d threads give 1 thread's bits", t);
    }
    free(one_g);
    free(one_z);
    tg_ctx_set_threads(ctx, 0);
    TAP_EQ(tg_model_forward(ctx, m, TG_BRANCH_GROUND, x, 1, out), 0, "all cores (threads 0)");
    parity("single image, default threads", out, ref, 1, O);
    free(x);
    free(xz);
    free(ref);
    free(refz);
    free(keep);
    free(out);
    tg_npy *all[] = {&gi, &go, &zi, &ao, &kp};
    for (size_t i = 0; i < 5; i++) tg_npy_free(all[i]);
    tg_model_free(m);
}

static void test_api_errors(tg_ctx *ctx)
{
    tg_model *m = NULL, *g = variant(ctx, "ground.safetensors", e_ground_only);
    tg_model *nz = variant(ctx, "nozoom.safetensors", e_nozoom);
    tg_model_load(ctx, gpath("model.safetensors"), &m);
    if (!m || !g || !nz) {
        TAP_OK(0, "models for the error tests");
        return;
    }
    float x[3 * 80 * 104] = {0}, out[2 * 24], att[32];
    int keep[32];
    expect(ctx, tg_model_forward(ctx, g, TG_BRANCH_AERIAL, x, 1, out), TG_EMODEL,
           "has no 'aerial' network", "aerial forward on a ground-only file -> TG_EMODEL");
    expect(ctx, tg_model_forward(ctx, m, 7, x, 1, out), TG_EINVAL, "unknown branch 7",
           "unknown branch -> TG_EINVAL");
    expect(ctx, tg_model_forward(ctx, m, TG_BRANCH_GROUND, x, 0, out), TG_EINVAL, "batch size 0",
           "B = 0 -> TG_EINVAL");
    expect(ctx, tg_model_forward(ctx, m, TG_BRANCH_GROUND, NULL, 1, out), TG_EINVAL, "input or output is NULL",
           "NULL input -> TG_EINVAL");
    expect(ctx, tg_model_forward(ctx, NULL, TG_BRANCH_GROUND, x, 1, out), TG_EINVAL, "model is NULL",
           "NULL model -> TG_EINVAL");
    TAP_EQ(tg_model_forward(ctx, m, TG_BRANCH_AERIAL, x, 1, out), 0,
           "plain forward of the stage-2 net (all patches) runs");
    expect(ctx, tg_model_forward_zoom(ctx, m, x, 1, NULL, out, NULL), TG_EINVAL,
           "needs the stage-1 attention map or keep|zoom_fallback 'self'",
           "zoom without a guide on a zoom model -> TG_EINVAL");
    expect(ctx, tg_model_forward_zoom(ctx, nz, x, 1, NULL, out, NULL), TG_EMODEL, "does not zoom",
           "zoom on a model that does not zoom -> TG_EMODEL");
    tg_zoom_guide gd = {0};
    gd.att = att;
    gd.keep = keep;
    expect(ctx, tg_model_forward_zoom(ctx, m, x, 1, &gd, out, NULL), TG_EINVAL, "exactly one",
           "guide with two choices -> TG_EINVAL");
    memset(&gd, 0, sizeof gd);
    for (int i = 0; i < 16; i++) keep[i] = i;
    keep[3] = 25;
    gd.keep = keep;
    expect(ctx, tg_model_forward_zoom(ctx, m, x, 1, &gd, out, NULL), TG_EINVAL,
           "keep index 25 (image 0) is outside the 5x5 zoom grid", "keep out of range -> TG_EINVAL");
    keep[3] = 7;
    expect(ctx, tg_model_forward_zoom(ctx, m, x, 1, &gd, out, NULL), TG_EINVAL, "keep index 7 appears twice",
           "duplicate keep -> TG_EINVAL");
    memset(&gd, 0, sizeof gd);
    expect(ctx, tg_model_zoom_keep(ctx, m, &gd, 1, keep), TG_EINVAL, "exactly one attention map",
           "zoom_keep without a map -> TG_EINVAL");
    gd.att = att;
    gd.gh = 5000;
    gd.gw = 1;
    expect(ctx, tg_model_zoom_keep(ctx, m, &gd, 1, keep), TG_EINVAL, "grid 5000x1 out of range",
           "zoom_keep with an absurd grid -> TG_EINVAL");
    int h = 0, w = 0;
    TAP_OK(tg_model_input_hw(ctx, m, TG_BRANCH_GROUND, &h, &w) == 0 && h == 32 && w == 104,
           "ground input 32x104 (not a multiple of the patch: 2x6 grid)");
    TAP_OK(tg_model_grid(ctx, m, TG_BRANCH_GROUND, &h, &w) == 0 && h == 2 && w == 6, "ground grid 2x6");
    expect(ctx, tg_model_grid(ctx, g, TG_BRANCH_AERIAL_SCAN, &h, &w), TG_EMODEL, "no 'aerial_scan'",
           "grid of a missing network -> TG_EMODEL");
    TAP_OK(!strcmp(tg_model_branch_name(TG_BRANCH_AERIAL_SCAN), "aerial_scan") &&
               !strcmp(tg_model_branch_name(9), "?"), "branch names");
    /* quantisation edge cases */
    float zero[4] = {0, 0, 0, 0}, one[3] = {0.5f, 1.0f, 0.25f};
    unsigned char q[4];
    tg_attention_quantize(zero, 4, q);
    TAP_OK(!q[0] && !q[3], "all-zero map quantises to zeros");
    tg_attention_quantize(one, 3, q);
    TAP_OK(q[0] == 127 && q[1] == 255 && q[2] == 63, "m/max * 255 truncated: 127, 255, 63");
    tg_model_free(m);
    tg_model_free(g);
    tg_model_free(nz);
}

/* Image level: L2-normalised embeddings of a real photo equal the tensor path. */
static void test_images(tg_ctx *ctx)
{
    tg_ctx_set_threads(ctx, 2);
    tg_model *m = NULL;
    tg_model_load(ctx, gpath("model.safetensors"), &m);
    tg_image *img = NULL;
    char png[1200];
    snprintf(png, sizeof png, "%s/tests/golden/preprocess/photo.png", tap_srcdir());
    int rc = tg_image_load(ctx, png, &img);
    TAP_EQ(rc, 0, "load photo.png");
    if (rc || !m) {
        tg_model_free(m);
        return;
    }
    const tg_model_config *c = tg_model_config_get(m);
    int O = c->out_dim;
    float emb[24], out[24], ref[24];
    float *x = malloc(sizeof(float) * 3 * 80 * 104), *xs = malloc(sizeof(float) * 3 * 64 * 64);
    TAP_EQ(tg_model_embed_ground(ctx, m, img, emb), 0, "embed ground photo");
    tg_image_to_tensor(ctx, img, 32, 104, c->mean, c->std, x);
    tg_model_forward(ctx, m, TG_BRANCH_GROUND, x, 1, out);
    double n2 = 0, e2 = 0;
    for (int i = 0; i < O; i++) n2 += (double)out[i] * out[i];
    for (int i = 0; i < O; i++) {
        ref[i] = (float)(out[i] / sqrt(n2));
        e2 += (double)emb[i] * emb[i];
    }
    parity("ground embedding = normalise(forward(to_tensor(photo)))", emb, ref, 1, O);
    TAP_NEAR(e2, 1.0, 1e-6, "embedding has unit norm");
    TAP_EQ(tg_model_embed_aerial(ctx, m, img, emb), 0, "embed aerial photo (attend-and-zoom-in)");
    tg_image_to_tensor(ctx, img, 64, 64, c->mean, c->std, xs);
    tg_image_to_tensor(ctx, img, 80, 80, c->mean, c->std, x);
    float map[16];
    tg_model_scan(ctx, m, xs, 1, map, NULL);
    tg_zoom_guide g = {0};
    g.att = map;
    tg_model_forward_zoom(ctx, m, x, 1, &g, out, NULL);
    n2 = 0;
    for (int i = 0; i < O; i++) n2 += (double)out[i] * out[i];
    for (int i = 0; i < O; i++) ref[i] = (float)(out[i] / sqrt(n2));
    parity("aerial embedding = normalise(zoom(scan(photo @64), photo @80))", emb, ref, 1, O);
    expect(ctx, tg_model_embed_ground(ctx, m, NULL, emb), TG_EINVAL, "image or output is NULL",
           "embed NULL image -> TG_EINVAL");
    tg_model *sv = variant(ctx, "selfscan2.safetensors", e_selfscan);
    TAP_EQ(sv ? tg_model_embed_aerial(ctx, sv, img, emb) : -1, 0, "embed aerial with the self-scan fallback");
    tg_model *nz = variant(ctx, "nozoom2.safetensors", e_nozoom);
    TAP_EQ(nz ? tg_model_embed_aerial(ctx, nz, img, emb) : -1, 0, "embed aerial without zoom");
    tg_model *go = variant(ctx, "ground2.safetensors", e_ground_only);
    expect(ctx, go ? tg_model_embed_aerial(ctx, go, img, emb) : -1, TG_EMODEL, "has no 'aerial' network",
           "aerial embedding from a ground-only file -> TG_EMODEL");
    tg_model_free(sv);
    tg_model_free(nz);
    tg_model_free(go);
    free(x);
    free(xs);
    tg_image_free(img);
    tg_model_free(m);
}

/* .npy: round trips and every refusal. */
static void test_npy(tg_ctx *ctx)
{
    tg_npy a = load(ctx, "keep.npy"), u = load(ctx, "attention_u8.npy"), f = load(ctx, "attention.npy");
    TAP_OK(a.dtype == TG_NPY_I64 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 16, "read int64 [2,16]");
    TAP_OK(u.dtype == TG_NPY_U8 && u.ndim == 3 && u.n_elems == 32, "read uint8 [2,4,4]");
    TAP_OK(f.dtype == TG_NPY_F32 && f.ndim == 3 && f.shape[2] == 4, "read float32 [2,4,4]");
    TAP_EQ(tg_npy_write(ctx, tpath("rt.npy"), TG_NPY_F32, f.ndim, f.shape, f.data), 0, "write float32");
    tg_npy r;
    TAP_EQ(tg_npy_read(ctx, tpath("rt.npy"), &r), 0, "read it back");
    TAP_OK(r.dtype == TG_NPY_F32 && r.ndim == 3 && !memcmp(r.data, f.data, f.n_elems * 4), "float32 round trip");
    tg_npy_free(&r);
    int64_t one = 5, five[5] = {1, 2, 3, 4, 5};
    TAP_EQ(tg_npy_write(ctx, tpath("v.npy"), TG_NPY_I64, 1, &one, five), 0, "write a 1-d array");
    TAP_EQ(tg_npy_read(ctx, tpath("v.npy"), &r), 0, "read the 1-d array ('shape': (5,))");
    TAP_OK(r.ndim == 1 && r.shape[0] == 5 && ((int64_t *)r.data)[4] == 5, "int64 round trip");
    tg_npy_free(&r);
    TAP_EQ(tg_npy_write(ctx, tpath("s.npy"), TG_NPY_U8, 0, NULL, "x"), 0, "write a scalar");
    TAP_EQ(tg_npy_read(ctx, tpath("s.npy"), &r), 0, "read the scalar ('shape': ())");
    TAP_OK(r.ndim == 0 && r.n_elems == 1, "scalar has one element");
    tg_npy_free(&r);
    size_t n = 0;
    unsigned char *b = st_slurp(tpath("rt.npy"), &n);
    struct {
        const char *what, *from, *to;
        int cut;
        const char *words;
    } bad[] = {
        {"bad magic", "\x93NUMPY", "\x93NUMPZ", 0, "is not a .npy file"},
        {"Fortran order", "False", "True ", 0, "Fortran order"},
        {"big-endian", "'<f4'", "'>f4'", 0, "dtype is not supported (expected little-endian float32"},
        {"float64", "'<f4'", "'<f8'", 0, "dtype is not supported (expected little-endian float32"},
        {"truncated data", NULL, NULL, 5, "(251 bytes): the data is not the size its header's dtype and shape need: truncated"},
        {"trailing data", NULL, NULL, -3, "trailing bytes"},
        {"broken header", "'shape'", "'shape!", 0, "cannot parse the .npy header"},
        {"version 9", "\x93NUMPY\x01", "\x93NUMPY\x09", 0, "format version is not 1, 2 or 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t m = n;
        unsigned char *c = malloc(n + 8);
        memcpy(c, b, n);
        if (bad[i].from) {
            unsigned char *p = memmem(c, 128, bad[i].from, strlen(bad[i].from));
            if (p) memcpy(p, bad[i].to, strlen(bad[i].to));
        } else if (bad[i].cut > 0) {
            m = n - (size_t)bad[i].cut;
        } else {
            memset(c + n, 0, 8);
            m = n + (size_t)(-bad[i].cut);
        }
        tg_npy x;
        expect(ctx, tg_npy_read_mem(ctx, c, m, "bad.npy", &x), TG_EFORMAT, bad[i].words, bad[i].what);
        TAP_OK(x.data == NULL && x.ndim == 0, "%s: nothing returned", bad[i].what);
        free(c);
    }
    free(b);
    tg_npy x;
    expect(ctx, tg_npy_read(ctx, tpath("nope.npy"), &x), TG_ENOTFOUND, "cannot open", "missing .npy -> TG_ENOTFOUND");
    expect(ctx, tg_npy_write(ctx, "/nonexistent-dir/x.npy", TG_NPY_F32, 1, &one, five), TG_EIO,
           "cannot create", "unwritable .npy -> TG_EIO");
    tg_npy_free(&a);
    tg_npy_free(&u);
    tg_npy_free(&f);
}

/* ---- the command line ------------------------------------------------------- */

static char bin[1200];

/* Run a shell command line; return its exit status; stdout/stderr in files. */
static int sh(const char *fmt, ...)
{
    char cmd[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[6400];
    snprintf(full, sizeof full, "%s >'%s' 2>'%s'", cmd, tpath("cli.out"), tpath("cli.err"));
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int file_has(const char *name, const char *needle)
{
    size_t n = 0;
    unsigned char *b = st_slurp(tpath(name), &n);
    int ok = b && memmem(b, n, needle, strlen(needle)) != NULL;
    if (!ok) printf("#   %s lacks \"%s\": %.*s\n", name, needle, b ? (int)(n > 400 ? 400 : n) : 0, b ? (char *)b : "");
    free(b);
    return ok;
}

static int file_has_quiet(const char *name, const char *needle)
{
    size_t n = 0;
    unsigned char *b = st_slurp(tpath(name), &n);
    int ok = b && memmem(b, n, needle, strlen(needle)) != NULL;
    free(b);
    return ok;
}

static void cli_parity(tg_ctx *ctx, const char *what, const char *out_npy, const char *ref_name)
{
    tg_npy o, r = load(ctx, ref_name);
    if (tg_npy_read(ctx, tpath(out_npy), &o)) {
        TAP_OK(0, "%s: %s", what, tg_errmsg(ctx));
    } else {
        int B = (int)r.shape[0];
        parity(what, o.data, r.data, B, (int)(r.n_elems / (size_t)B));
        tg_npy_free(&o);
    }
    tg_npy_free(&r);
}

static void test_cli(tg_ctx *ctx)
{
    snprintf(bin, sizeof bin, "%s/transgeo", tap_builddir());
    char M[1200];
    snprintf(M, sizeof M, "%s", gpath("model.safetensors"));
    /* tensors */
    TAP_EQ(sh("%s embed --model %s --branch ground --npy %s -o %s", bin, M, gpath("ground_in.npy"),
              tpath("g.npy")), 0, "embed --branch ground --npy");
    cli_parity(ctx, "CLI ground output vs PyTorch", "g.npy", "ground_out.npy");
    TAP_EQ(sh("%s embed -m %s -b aerial --npy %s --scan-npy %s --dump-attention %s -o %s --threads 2", bin, M,
              gpath("aerial_zoom_in.npy"), gpath("aerial_scan_in.npy"), tpath("att.npy"), tpath("a.npy")),
           0, "embed --branch aerial --scan-npy --dump-attention");
    cli_parity(ctx, "CLI zoom output vs PyTorch", "a.npy", "aerial_out.npy");
    cli_parity(ctx, "CLI attention dump vs PyTorch", "att.npy", "attention.npy");
    TAP_EQ(sh("%s embed -m %s -b aerial --npy %s --keep-npy %s -o %s", bin, M, gpath("aerial_zoom_in.npy"),
              gpath("keep.npy"), tpath("k.npy")), 0, "embed --keep-npy");
    cli_parity(ctx, "CLI zoom from keep.npy vs PyTorch", "k.npy", "aerial_out.npy");
    TAP_EQ(sh("%s embed -m %s -b aerial --no-zoom --npy %s -o %s", bin, M, gpath("aerial_scan_in.npy"),
              tpath("n.npy")), 0, "embed --no-zoom");
    cli_parity(ctx, "CLI stage-1 output vs PyTorch", "n.npy", "aerial_nozoom_out.npy");
    TAP_EQ(sh("%s embed -m %s -b aerial --npy %s --dump-attention %s -o %s", bin,
              tpath("selfscan.safetensors"), gpath("aerial_zoom_in.npy"), tpath("sa.npy"), tpath("s.npy")),
           0, "embed with the self-scan fallback");
    cli_parity(ctx, "CLI self-scan output vs PyTorch", "s.npy", "selfscan_out.npy");
    cli_parity(ctx, "CLI self-scan map vs PyTorch", "sa.npy", "selfscan_attention.npy");
    /* images */
    char png[1200];
    snprintf(png, sizeof png, "%s/tests/golden/preprocess/photo.png", tap_srcdir());
    TAP_EQ(sh("%s embed -m %s -b ground %s %s", bin, M, png, png), 0, "embed two photos to JSON lines");
    TAP_OK(file_has("cli.out", "\"branch\":\"ground\",\"dim\":24,\"embedding\":["), "JSON line per photo");
    TAP_EQ(sh("%s embed -m %s -b aerial %s -o %s", bin, M, png, tpath("img.npy")), 0, "embed a photo to .npy");
    tg_npy e;
    if (!tg_npy_read(ctx, tpath("img.npy"), &e)) {
        double s2 = 0;
        for (size_t i = 0; i < e.n_elems; i++) s2 += (double)((float *)e.data)[i] * ((float *)e.data)[i];
        TAP_OK(e.ndim == 2 && e.shape[0] == 1 && e.shape[1] == 24 && fabs(s2 - 1) < 1e-5,
               "photo embedding [1,24], unit norm");
        tg_npy_free(&e);
    } else {
        TAP_OK(0, "photo embedding written");
    }
    {   /* one stage-1 image, for the batch mismatch case */
        tg_npy si = load(ctx, "aerial_scan_in.npy");
        int64_t sh1[4] = {1, si.shape[1], si.shape[2], si.shape[3]};
        tg_npy_write(ctx, tpath("scan1.npy"), TG_NPY_F32, 4, sh1, si.data);
        tg_npy_free(&si);
        tg_npy kk = load(ctx, "keep.npy");
        ((int64_t *)kk.data)[20] = 99;
        tg_npy_write(ctx, tpath("badkeep.npy"), TG_NPY_I64, 2, kk.shape, kk.data);
        tg_npy_free(&kk);
    }
    /* errors: (args, exit status, words in stderr) */
    struct {
        const char *args;
        int status;
        const char *words;
    } bad[] = {
        {"--branch ground x.png", 2, "--model is required"},
        {"-m MODEL x.png", 2, "--branch is required"},
        {"-m MODEL -b sky x.png", 2, "--branch 'sky': expected ground or aerial"},
        {"-m MODEL -b ground", 2, "no input"},
        {"-m MODEL -b ground --npy IN", 2, "--npy needs -o"},
        {"-m MODEL -b aerial --npy ZIN -o OUT", 2, "give --scan-npy (the stage-1 input, [B,3,64,64])"},
        {"-m MODEL -b aerial --npy ZIN --scan-npy SIN --keep-npy KEEP -o OUT", 2, "exclude each other"},
        {"-m MODEL -b ground --npy IN --no-zoom -o OUT", 2, "are for --branch aerial"},
        {"-m MODEL -b aerial --npy ZIN --keep-npy KEEP --dump-attention OUT -o OUT", 2, "needs a stage-1 pass"},
        {"-m MODEL -b ground --npy ZIN -o OUT", 1, "expected float32 [B,3,32,104] for the 'ground' network"},
        {"-m MODEL -b aerial --npy ZIN --keep-npy ZIN -o OUT", 1, "must be int64 [2,16]"},
        {"-m MODEL -b aerial --npy ZIN --scan-npy ZIN -o OUT", 1, "for the 'aerial_scan' network (aerial_hw)"},
        {"-m NOPE -b ground x.png", 1, "cannot open"},
        {"-m MODEL -b ground /nonexistent.png", 1, "/nonexistent.png"},
        {"-m MODEL -b ground --threads 0 x.png", 2, "--threads: expected 1 or more"},
        {"-m MODEL -b ground --bogus x.png", 2, "Try 'transgeo embed --help'"},
        {"-m SELF -b aerial --npy ZIN --scan-npy SIN -o OUT", 2, "has no 'aerial_scan' network"},
        {"-m NOZ -b aerial --npy ZIN --keep-npy KEEP -o OUT", 2, "does not zoom"},
        {"-m GONLY -b aerial x.png", 1, "has no 'aerial' network"},
        {"-m MODEL -b aerial --npy ZIN --scan-npy SCAN1 -o OUT", 1, "has 1 images but"},
        {"-m MODEL -b aerial --npy ZIN --keep-npy BADKEEP -o OUT", 1,
         "index 99 (image 1) is outside the 5x5 zoom grid (0..24)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[2000] = "";
        const char *p = bad[i].args;
        while (*p) { /* expand MODEL, IN, ZIN, SIN, KEEP, OUT, NOPE */
            static const char *const keys[] = {"MODEL", "NOPE", "ZIN",  "SIN",   "IN",    "KEEP",
                                               "OUT",   "SELF", "NOZ",  "GONLY", "SCAN1", "BADKEEP"};
            const char *vals[] = {M, tpath("nope.safetensors"), gpath("aerial_zoom_in.npy"),
                                  gpath("aerial_scan_in.npy"), gpath("ground_in.npy"), gpath("keep.npy"),
                                  tpath("o.npy"), tpath("selfscan.safetensors"), tpath("nozoom.safetensors"),
                                  tpath("ground.safetensors"), tpath("scan1.npy"), tpath("badkeep.npy")};
            size_t k, nk = sizeof keys / sizeof keys[0], best = nk;
            for (k = 0; k < nk; k++) /* longest key first: BADKEEP before KEEP */
                if (!strncmp(p, keys[k], strlen(keys[k])) &&
                    (best == nk || strlen(keys[k]) > strlen(keys[best])))
                    best = k;
            k = best;
            if (k < nk) {
                strcat(args, vals[k]);
                p += strlen(keys[k]);
            } else {
                size_t l = strlen(args);
                args[l] = *p++;
                args[l + 1] = '\0';
            }
        }
        int st = sh("%s embed %s", bin, args);
        int ok = st == bad[i].status && file_has("cli.err", bad[i].words);
        TAP_OK(ok, "embed %s -> exit %d", bad[i].args, bad[i].status);
        if (!ok) printf("#   exit %d\n", st);
    }
    TAP_EQ(sh("%s embed --help", bin), 0, "embed --help");
    TAP_OK(file_has("cli.out", "--scan-npy"), "help describes --scan-npy");
    /* info */
    TAP_EQ(sh("%s info %s", bin, M), 0, "info MODEL");
    TAP_OK(file_has("cli.out", "attend-and-zoom-in") && file_has("cli.out", "parameters:  132112") &&
               file_has("cli.out", "aerial 80x80 (grid 5x5, zoom pass keeps 16)"),
           "info shows zoom, parameters, networks");
    TAP_EQ(sh("%s info --json --verify %s", bin, M), 0, "info --json --verify");
    json_error_t jerr;
    json_t *j = json_load_file(tpath("cli.out"), 0, &jerr);
    TAP_OK(j && json_is_true(json_object_get(j, "sha256_verified")) &&
               json_integer_value(json_object_get(j, "n_keep")) == 16 &&
               !strcmp(json_string_value(json_object_get(j, "kind")), "model"),
           "info --json is valid JSON with the config");
    json_decref(j);
    TAP_EQ(sh("%s info %s", bin, gpath("keep.npy")), 1, "info on a non-model file -> exit 1");
    TAP_OK(file_has("cli.err", "is not a model file"), "... says it is not a model file");
    TAP_EQ(sh("%s info %s", bin, tpath("flip.safetensors")), 0, "info on a model with a flipped data bit");
    TAP_EQ(sh("%s info --verify %s", bin, tpath("flip.safetensors")), 1, "info --verify catches it");
    TAP_OK(file_has("cli.err", "the file is corrupt"), "... with the sha256 message");
    TAP_EQ(sh("%s info", bin), 2, "info without a file -> usage error");
    TAP_EQ(sh("%s info %s", bin, tpath("nope.safetensors")), 1, "info on a missing file -> exit 1");
    TAP_OK(file_has("cli.err", "cannot open"), "... cannot open");
    TAP_EQ(sh("%s info --help", bin), 0, "info --help");
}

/* The golden parity again in a child process with other engine settings:
 * OpenBLAS-threaded products, each kernel set (base = SSE2, AVX2, AVX-512; a
 * set the CPU lacks is skipped), other OpenBLAS kernels. The child prints
 * the kernel set it ran ("# kernel set: NAME (...") and must have run the
 * one asked for (the others run this process's set). */
static void test_variants(const char *self)
{
    __builtin_cpu_init();
    int has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    const char *mine = tg_kernels_name();
    const struct {
        const char *env, *kernels;
        int cpu_has;
        const char *lacking;
    } v[] = {
        {"TG_GEMM=blas", mine, 1, NULL},
        {"TG_KERNELS=base", "base", 1, NULL},
        {"TG_KERNELS=avx2", "avx2", has_avx2, "CPU without AVX2 and FMA"},
        {"TG_KERNELS=avx512", "avx512", has_avx512, "CPU without AVX-512F/DQ/BW/VL"},
        {"OPENBLAS_CORETYPE=Haswell", mine, 1, NULL},
        {"OPENBLAS_CORETYPE=SkylakeX", mine, 1, NULL},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char cmd[2400], said[64];
        if (!v[i].cpu_has) {
            snprintf(cmd, sizeof cmd, "golden parity with %s", v[i].env);
            tap_skip(cmd, v[i].lacking);
            continue;
        }
        snprintf(cmd, sizeof cmd, "env %s '%s' --golden-only > '%s' 2>&1", v[i].env, self,
                 tpath("variant.log"));
        snprintf(said, sizeof said, "# kernel set: %s (", v[i].kernels);
        int st = system(cmd);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && file_has("variant.log", "\n1..") &&
                 !file_has_quiet("variant.log", "not ok") && file_has("variant.log", said);
        TAP_OK(ok, "golden parity with %s, on the %s kernels", v[i].env, v[i].kernels);
    }
}

int main(int argc, char **argv)
{
    snprintf(golden, sizeof golden, "%s/tests/golden/tiny", tap_srcdir());
    mkdir(tap_env("TG_TMPDIR", "/tmp"), 0777);
    snprintf(tmpdir, sizeof tmpdir, "%s/engine", tap_env("TG_TMPDIR", "/tmp"));
    mkdir(tmpdir, 0777);
    tap_diag("kernel set: %s (TG_KERNELS=%s); OpenBLAS kernels: %s", tg_kernels_name(),
             tap_env("TG_KERNELS", "(unset)"), tg_blas_corename());
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    test_golden(ctx, 1);
    test_golden(ctx, 2);
    if (argc > 1 && !strcmp(argv[1], "--golden-only")) {
        tg_ctx_free(ctx);
        return tap_done();
    }
    test_variants(argv[0]);
    test_selfscan(ctx);
    test_batching(ctx);
    test_api_errors(ctx);
    test_images(ctx);
    test_npy(ctx);
    {   /* a model with a flipped data bit, for `info --verify` */
        size_t n = 0;
        unsigned char *b = st_slurp(gpath("model.safetensors"), &n);
        if (b) {
            b[n - 5] ^= 0x10;
            st_spit(tpath("flip.safetensors"), b, n);
            free(b);
        }
    }
    test_cli(ctx);
    tg_ctx_free(ctx);
    return tap_done();
}
