/*
 * cmd_embed.c - `transgeo embed`: run a model's ground or aerial encoder on
 * image files (L2-normalised embeddings) or on a .npy tensor (raw outputs,
 * for parity checks against PyTorch).
 */
#include "config.h"
#include "cli.h"
#include "transgeo/image.h"
#include "transgeo/model.h"
#include "transgeo/npy.h"
#include "transgeo/transgeo_model.h"

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CMD = "embed";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: transgeo embed --model M --branch ground|aerial IMAGE... [-o OUT.npy]\n"
            "       transgeo embed --model M --branch ground|aerial --npy IN.npy\n"
            "                      [--scan-npy STAGE1.npy | --keep-npy KEEP.npy | --no-zoom]\n"
            "                      [--dump-attention ATT.npy] -o OUT.npy\n"
            "\n"
            "Run the ground (query) or aerial (reference) encoder of a TransGeo model.\n"
            "\n"
            "Images: each IMAGE is resized and normalised as the official pipeline does and\n"
            "embedded; the L2-normalised embeddings go to OUT.npy (float32 [N, out_dim]) or,\n"
            "without -o, to standard output as JSON lines\n"
            "  {\"file\": ..., \"branch\": ..., \"dim\": D, \"embedding\": [...]}.\n"
            "The aerial branch of a zoom model runs attend-and-zoom-in (stage 1 at aerial_hw,\n"
            "stage 2 on the kept patches at zoom_hw).\n"
            "\n"
            "Tensors (--npy): IN.npy is an already normalised float32 [B,3,H,W] array (C order)\n"
            "at the network's input size; OUT.npy gets the RAW output float32 [B, out_dim] (no\n"
            "L2 normalisation), to compare with PyTorch. For --branch aerial:\n"
            "  model without zoom     the 'aerial' network on IN.npy (aerial_hw);\n"
            "  zoom model             IN.npy is the stage-2 input (zoom_hw) and the patches are\n"
            "                         chosen by --scan-npy STAGE1.npy (the same tiles at\n"
            "                         aerial_hw, run through 'aerial_scan') or by --keep-npy\n"
            "                         KEEP.npy (int64 [B, n_keep] zoom-grid patch indices);\n"
            "  self-scan model        (zoom_fallback 'self') the 'aerial' network's own map, or\n"
            "                         --keep-npy;\n"
            "  --no-zoom              the stage-1 network ('aerial_scan', or 'aerial' when the\n"
            "                         file has none) plainly on IN.npy.\n"
            "\n"
            "Options:\n"
            "  -m, --model FILE          model file (.safetensors), required\n"
            "  -b, --branch NAME         ground or aerial, required\n"
            "      --npy FILE            input tensor instead of images\n"
            "      --scan-npy FILE       stage-1 input tensor [B,3,aerial_hw] (zoom models)\n"
            "      --keep-npy FILE       kept patch indices, int64 [B, n_keep]\n"
            "      --no-zoom             stage-1 output without the zoom pass\n"
            "      --dump-attention FILE write the stage-1 attention map, float32 [B, gh, gw]\n"
            "  -t, --threads N           threads (default: all cores)\n"
            "  -o, --output FILE         output .npy (required with --npy)\n"
            "  -h, --help                show this help\n"
            "\n"
            "Exit status: 0 ok, 1 error (bad file or data), 2 usage error.\n");
}

struct opts {
    const char *model, *branch, *npy, *scan_npy, *keep_npy, *dump, *out;
    int no_zoom, threads;
};

/* Check that a tensor is float32 [B,3,h,w]. */
static int check_input(const tg_npy *a, const char *path, int h, int w, const char *net,
                       const char *size_key)
{
    if (a->dtype != TG_NPY_F32 || a->ndim != 4 || a->shape[1] != 3 || a->shape[2] != h ||
        a->shape[3] != w || a->shape[0] < 1 || a->shape[0] > 1000000) {
        char got[128];
        int len = snprintf(got, sizeof got, "%s [", tg_npy_dtype_name(a->dtype));
        for (int i = 0; i < a->ndim && len < (int)sizeof got; i++)
            len += snprintf(got + len, sizeof got - (size_t)len, "%s%lld", i ? "," : "",
                            (long long)a->shape[i]);
        if (len < (int)sizeof got) snprintf(got + len, sizeof got - (size_t)len, "]");
        cli_error(CMD, "'%s' is %s, expected float32 [B,3,%d,%d] for the '%s' network (%s)", path,
                  got, h, w, net, size_key);
        return -1;
    }
    return 0;
}

static int write_out(tg_ctx *ctx, const char *path, const float *data, int B, int d)
{
    int64_t shape[2] = {B, d};
    if (tg_npy_write(ctx, path, TG_NPY_F32, 2, shape, data)) return cli_fail(CMD, ctx);
    return TG_EXIT_OK;
}

static int run_npy(tg_ctx *ctx, const tg_model *m, const struct opts *o, int is_ground)
{
    const tg_model_config *c = tg_model_config_get(m);
    tg_npy x = {0}, xs = {0}, kp = {0};
    float *out = NULL, *att = NULL;
    int *keep = NULL, rc = TG_EXIT_ERROR;
    int h, w, B, O = c->out_dim;
    if (tg_npy_read(ctx, o->npy, &x)) {
        rc = cli_fail(CMD, ctx);
        goto done;
    }
    if (is_ground) {
        tg_model_input_hw(ctx, m, TG_BRANCH_GROUND, &h, &w);
        if (check_input(&x, o->npy, h, w, "ground", "ground_hw")) goto done;
        B = (int)x.shape[0];
        out = malloc(sizeof(float) * (size_t)B * O);
        if (!out) goto oom;
        if (tg_model_forward(ctx, m, TG_BRANCH_GROUND, x.data, B, out)) goto fail;
        rc = write_out(ctx, o->out, out, B, O);
        goto done;
    }
    int no_zoom = o->no_zoom || !c->has_zoom;
    /* which network runs plainly / first */
    int plain = !c->has_zoom ? TG_BRANCH_AERIAL : c->zoom ? TG_BRANCH_AERIAL_SCAN : TG_BRANCH_AERIAL;
    if (no_zoom) {
        tg_model_input_hw(ctx, m, plain, &h, &w);
        if (check_input(&x, o->npy, h, w, tg_model_branch_name(plain),
                        plain == TG_BRANCH_AERIAL_SCAN ? "aerial_hw" : "zoom_hw"))
            goto done;
        B = (int)x.shape[0];
        out = malloc(sizeof(float) * (size_t)B * O);
        if (!out) goto oom;
        if (o->dump) {
            int gh, gw;
            tg_model_grid(ctx, m, plain, &gh, &gw);
            att = malloc(sizeof(float) * (size_t)B * gh * gw);
            if (!att) goto oom;
            if (tg_model_forward_map(ctx, m, plain, x.data, B, att, out)) goto fail;
            int64_t shape[3] = {B, gh, gw};
            if (tg_npy_write(ctx, o->dump, TG_NPY_F32, 3, shape, att)) goto fail;
        } else if (tg_model_forward(ctx, m, plain, x.data, B, out)) {
            goto fail;
        }
        rc = write_out(ctx, o->out, out, B, O);
        goto done;
    }
    /* zoom pass: IN.npy at zoom_hw */
    tg_model_input_hw(ctx, m, TG_BRANCH_AERIAL, &h, &w);
    if (check_input(&x, o->npy, h, w, "aerial", "zoom_hw")) goto done;
    B = (int)x.shape[0];
    int K = c->n_keep;
    out = malloc(sizeof(float) * (size_t)B * O);
    if (!out) goto oom;
    tg_zoom_guide g = {0};
    int gh = 0, gw = 0;
    if (o->keep_npy) {
        if (tg_npy_read(ctx, o->keep_npy, &kp)) goto fail;
        if (kp.dtype != TG_NPY_I64 || kp.ndim != 2 || kp.shape[0] != B || kp.shape[1] != K) {
            cli_error(CMD, "'%s' must be int64 [%d,%d] (B images x n_keep = int(crop_ratio %g x "
                      "patches)), got %s with %d dims", o->keep_npy, B, K, c->crop_ratio,
                      tg_npy_dtype_name(kp.dtype), kp.ndim);
            goto done;
        }
        keep = malloc(sizeof(int) * (size_t)B * K);
        if (!keep) goto oom;
        int zh = 0, zw = 0;
        tg_model_grid(ctx, m, TG_BRANCH_AERIAL, &zh, &zw);
        for (size_t i = 0; i < (size_t)B * K; i++) {
            int64_t v = ((const int64_t *)kp.data)[i];
            if (v < 0 || v >= (int64_t)zh * zw) {
                cli_error(CMD, "'%s': index %lld (image %zu) is outside the %dx%d zoom grid "
                          "(0..%d)", o->keep_npy, (long long)v, i / (size_t)K, zh, zw, zh * zw - 1);
                goto done;
            }
            keep[i] = (int)v; /* duplicates are refused by the library */
        }
        g.keep = keep;
    } else if (c->zoom) { /* stage 1 on --scan-npy */
        if (tg_npy_read(ctx, o->scan_npy, &xs)) goto fail;
        tg_model_input_hw(ctx, m, TG_BRANCH_AERIAL_SCAN, &h, &w);
        if (check_input(&xs, o->scan_npy, h, w, "aerial_scan", "aerial_hw")) goto done;
        if (xs.shape[0] != B) {
            cli_error(CMD, "'%s' has %lld images but '%s' has %d: give the same tiles to both",
                      o->scan_npy, (long long)xs.shape[0], o->npy, B);
            goto done;
        }
        tg_model_grid(ctx, m, TG_BRANCH_AERIAL_SCAN, &gh, &gw);
        att = malloc(sizeof(float) * (size_t)B * gh * gw);
        if (!att) goto oom;
        if (tg_model_scan(ctx, m, xs.data, B, att, NULL)) goto fail;
        g.att = att;
        g.gh = gh;
        g.gw = gw;
    } else { /* self-scan fallback: the aerial net's own map on the zoom grid */
        tg_model_grid(ctx, m, TG_BRANCH_AERIAL, &gh, &gw);
        att = malloc(sizeof(float) * (size_t)B * gh * gw);
        if (!att) goto oom;
        if (tg_model_forward_map(ctx, m, TG_BRANCH_AERIAL, x.data, B, att, NULL)) goto fail;
        g.att = att;
        g.gh = gh;
        g.gw = gw;
    }
    if (tg_model_forward_zoom(ctx, m, x.data, B, &g, out, NULL)) goto fail;
    if (o->dump && att) {
        int64_t shape[3] = {B, gh, gw};
        if (tg_npy_write(ctx, o->dump, TG_NPY_F32, 3, shape, att)) goto fail;
    }
    rc = write_out(ctx, o->out, out, B, O);
    goto done;
oom:
    tg_set_error(ctx, TG_ENOMEM, "out of memory");
fail:
    rc = cli_fail(CMD, ctx);
done:
    tg_npy_free(&x);
    tg_npy_free(&xs);
    tg_npy_free(&kp);
    free(out);
    free(att);
    free(keep);
    return rc;
}

static int run_images(tg_ctx *ctx, const tg_model *m, const struct opts *o, int is_ground,
                      int n_files, char **files)
{
    const tg_model_config *c = tg_model_config_get(m);
    int D = c->out_dim, rc = TG_EXIT_OK;
    float *all = calloc((size_t)n_files * D, sizeof(float));
    if (!all) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    for (int i = 0; i < n_files; i++) {
        tg_image *img = NULL;
        float *emb = all + (size_t)i * D;
        int e = tg_image_load(ctx, files[i], &img);
        if (!e) e = is_ground ? tg_model_embed_ground(ctx, m, img, emb)
                              : tg_model_embed_aerial(ctx, m, img, emb);
        tg_image_free(img);
        if (e) {
            rc = cli_fail(CMD, ctx);
            goto done;
        }
        if (!o->out) {
            json_t *arr = json_array();
            for (int k = 0; k < D; k++) json_array_append_new(arr, json_real(emb[k]));
            json_t *obj = json_pack("{s:s, s:s, s:i, s:o}", "file", files[i], "branch",
                                    is_ground ? "ground" : "aerial", "dim", D, "embedding", arr);
            char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
            json_decref(obj);
            if (!s) {
                cli_error(CMD, "out of memory");
                rc = TG_EXIT_ERROR;
                goto done;
            }
            printf("%s\n", s);
            free(s);
        }
    }
    if (o->out) rc = write_out(ctx, o->out, all, n_files, D);
    if (fflush(stdout) != 0) {
        cli_error(CMD, "cannot write to standard output");
        rc = TG_EXIT_ERROR;
    }
done:
    free(all);
    return rc;
}

int cmd_embed(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"model", required_argument, NULL, 'm'},    {"branch", required_argument, NULL, 'b'},
        {"npy", required_argument, NULL, 'N'},      {"scan-npy", required_argument, NULL, 'S'},
        {"keep-npy", required_argument, NULL, 'K'}, {"no-zoom", no_argument, NULL, 'Z'},
        {"dump-attention", required_argument, NULL, 'A'},
        {"threads", required_argument, NULL, 't'},  {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    struct opts o = {0};
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, "m:b:t:o:h", lopts, NULL)) != -1;) {
        switch (ch) {
        case 'm': o.model = optarg; break;
        case 'b': o.branch = optarg; break;
        case 'N': o.npy = optarg; break;
        case 'S': o.scan_npy = optarg; break;
        case 'K': o.keep_npy = optarg; break;
        case 'Z': o.no_zoom = 1; break;
        case 'A': o.dump = optarg; break;
        case 't':
            if (cli_parse_int(CMD, "--threads", optarg, &o.threads)) return TG_EXIT_USAGE;
            if (o.threads < 1) return cli_usage_error(CMD, "--threads: expected 1 or more");
            break;
        case 'o': o.out = optarg; break;
        case 'h': usage(stdout); return TG_EXIT_OK;
        default: return cli_usage_error(CMD, "unknown option");
        }
    }
    int n_files = argc - optind;
    char **files = argv + optind;
    if (!o.model) return cli_usage_error(CMD, "--model is required");
    if (!o.branch) return cli_usage_error(CMD, "--branch is required (ground or aerial)");
    int is_ground = !strcmp(o.branch, "ground");
    if (!is_ground && strcmp(o.branch, "aerial"))
        return cli_usage_error(CMD, "--branch '%s': expected ground or aerial", o.branch);
    if (o.npy && n_files)
        return cli_usage_error(CMD, "give either --npy or image files, not both");
    if (!o.npy && !n_files) return cli_usage_error(CMD, "no input: give image files or --npy");
    if (o.npy && !o.out) return cli_usage_error(CMD, "--npy needs -o OUT.npy");
    if (!o.npy && (o.scan_npy || o.keep_npy || o.no_zoom || o.dump))
        return cli_usage_error(CMD, "--scan-npy, --keep-npy, --no-zoom and --dump-attention go "
                                    "with --npy");
    if (is_ground && (o.scan_npy || o.keep_npy || o.no_zoom || o.dump))
        return cli_usage_error(CMD, "--scan-npy, --keep-npy, --no-zoom and --dump-attention are "
                                    "for --branch aerial");
    if (!!o.scan_npy + !!o.keep_npy + o.no_zoom > 1)
        return cli_usage_error(CMD, "--scan-npy, --keep-npy and --no-zoom exclude each other");
    if (o.keep_npy && o.dump)
        return cli_usage_error(CMD, "--dump-attention needs a stage-1 pass: use --scan-npy");

    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx)) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    tg_model *m = NULL;
    int rc;
    if (o.threads) tg_ctx_set_threads(ctx, o.threads);
    if (tg_model_load(ctx, o.model, &m)) {
        rc = cli_fail(CMD, ctx);
        goto done;
    }
    const tg_model_config *c = tg_model_config_get(m);
    if (is_ground ? !c->has_ground : !c->has_aerial) {
        cli_error(CMD, "model '%s' has no '%s' network", o.model, o.branch);
        rc = TG_EXIT_ERROR;
        goto done;
    }
    if (!is_ground && o.npy && !o.no_zoom) {
        /* what chooses the patches must fit the model */
        if (!c->has_zoom && (o.scan_npy || o.keep_npy)) {
            rc = cli_usage_error(CMD, "model '%s' does not zoom: --scan-npy/--keep-npy do not "
                                      "apply", o.model);
            goto done;
        }
        if (c->has_zoom && !c->zoom && o.scan_npy) {
            rc = cli_usage_error(CMD, "model '%s' has no 'aerial_scan' network (it zooms with "
                                      "its own map): drop --scan-npy", o.model);
            goto done;
        }
        if (c->zoom && !o.scan_npy && !o.keep_npy) {
            int h = 0, w = 0;
            tg_model_input_hw(ctx, m, TG_BRANCH_AERIAL_SCAN, &h, &w);
            rc = cli_usage_error(CMD, "zoom model: give --scan-npy (the stage-1 input, [B,3,%d,%d]) "
                                      "or --keep-npy, or --no-zoom", h, w);
            goto done;
        }
    }
    rc = o.npy ? run_npy(ctx, m, &o, is_ground) : run_images(ctx, m, &o, is_ground, n_files, files);
done:
    tg_model_free(m);
    tg_ctx_free(ctx);
    return rc;
}
