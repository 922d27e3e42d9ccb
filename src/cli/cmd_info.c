/*
 * cmd_info.c - `transgeo info FILE...`: describe a model file (and, once the
 * database module adds its entry to `kinds` below, a database).
 *
 * Each file is recognised from its first bytes, then handed to the
 * describer of its kind. To add a kind, write a sniff function (first bytes
 * -> 1 if it is yours) and a show function, and add a row to `kinds`.
 */
#include "config.h"
#include "cli.h"
#include "transgeo/model.h"
#include "transgeo/transgeo_model.h"
#include "transgeo/store.h"
#include "transgeo/store_pg.h"


#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CMD = "info";

struct info_opts {
    int json;   /* --json: one JSON object per file */
    int verify; /* --verify: recompute the sha256 of the tensor data */
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: transgeo info [--json] [--verify] FILE...\n"
               "\n"
               "Describe transgeo files. A model file (.safetensors): its config, networks and\n"
               "their input sizes, zoom mode, parameter count, sha256 and source.\n"
               "\n"
               "Options:\n"
               "      --json     one JSON object per file (one per line)\n"
               "      --verify   recompute the sha256 of the tensor data and compare it with the\n"
               "                 file's (reads the whole file; a mismatch is an error)\n"
               "  -h, --help     show this help\n"
               "\n"
               "Exit status: 0 ok, 1 error (unreadable, not a transgeo file, corrupt), 2 usage.\n");
}

/* ---- models ------------------------------------------------------------------ */

static const char *zoom_mode(const tg_model_config *c)
{
    return c->zoom ? "attend-and-zoom-in"
           : c->has_zoom ? "self-scan fallback (stage-2 network scans itself)"
                         : "none";
}

/* A float config value as the short decimal it was written as (0.485, not
 * 0.4850000143). */
static double f2d(float v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)v);
    return strtod(buf, NULL);
}

static int show_model(const char *path, const struct info_opts *o)
{
    tg_ctx *ctx = NULL;
    tg_model *m = NULL;
    int rc = TG_EXIT_OK;
    if (tg_ctx_create(&ctx)) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    if (tg_model_load(ctx, path, &m)) {
        rc = cli_fail(CMD, ctx);
        goto done;
    }
    const tg_model_config *c = tg_model_config_get(m);
    char sha[65] = "";
    int verified = 0;
    if (o->verify) {
        if (tg_model_verify(ctx, m, sha)) {
            rc = cli_fail(CMD, ctx);
            goto done;
        }
        verified = 1;
    }
    static const int branches[] = {TG_BRANCH_GROUND, TG_BRANCH_AERIAL_SCAN, TG_BRANCH_AERIAL};
    if (o->json) {
        json_t *nets = json_array();
        for (size_t i = 0; i < sizeof branches / sizeof branches[0]; i++) {
            int h, w, gh, gw, b = branches[i];
            if (tg_model_input_hw(NULL, m, b, &h, &w)) continue;
            tg_model_grid(NULL, m, b, &gh, &gw);
            json_t *n = json_pack("{s:s, s:[i,i], s:[i,i]}", "name", tg_model_branch_name(b),
                                  "input_hw", h, w, "grid", gh, gw);
            if (b == TG_BRANCH_AERIAL && c->has_zoom)
                json_object_set_new(n, "zoom_keeps", json_integer(c->n_keep));
            json_array_append_new(nets, n);
        }
        json_t *j = json_pack(
            "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:i,"
            " s:[i,i], s:[i,i], s:[i,i], s:f, s:i, s:b, s:s, s:f, s:f, s:f,"
            " s:[f,f], s:[f,f,f], s:[f,f,f], s:o, s:I, s:s, s:b}",
            "file", path, "kind", "model", "bytes", (json_int_t)c->file_bytes, "format", c->format,
            "arch", c->arch, "preset", c->preset, "source", c->source, "embed_dim", c->embed_dim,
            "depth", c->depth, "heads", c->heads, "mlp_dim", c->mlp_dim, "patch", c->patch,
            "ln_eps", c->ln_eps, "tokens", c->tokens, "out_dim", c->out_dim, "ground_hw",
            c->ground_hw[0], c->ground_hw[1], "aerial_hw", c->aerial_hw[0], c->aerial_hw[1],
            "zoom_hw", c->zoom_hw[0], c->zoom_hw[1], "crop_ratio", c->crop_ratio, "n_keep",
            c->n_keep, "zoom", c->zoom, "zoom_mode", zoom_mode(c), "aerial_gsd_m",
            c->aerial_gsd_m, "aerial_tile_m", c->aerial_tile_m, "ground_fov_deg",
            c->ground_fov_deg, "ground_elev_deg", c->ground_elev_deg[0], c->ground_elev_deg[1],
            "normalize_mean", f2d(c->mean[0]), f2d(c->mean[1]),
            f2d(c->mean[2]), "normalize_std", f2d(c->std[0]), f2d(c->std[1]), f2d(c->std[2]),
            "networks", nets, "parameters", (json_int_t)c->n_params, "sha256",
            c->sha256, "sha256_verified", verified);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(j);
        if (!s) {
            cli_error(CMD, "out of memory");
            rc = TG_EXIT_ERROR;
            goto done;
        }
        printf("%s\n", s);
        free(s);
        goto done;
    }
    printf("model:       %s (%lld bytes)\n", path, c->file_bytes);
    printf("format:      %s, arch %s, preset %s\n", c->format, c->arch,
           *c->preset ? c->preset : "(none)");
    printf("source:      %s\n", *c->source ? c->source : "(not recorded)");
    printf("encoder:     embed_dim %d, depth %d, heads %d, mlp_dim %d, patch %d, tokens %s, "
           "ln_eps %g, out_dim %d\n",
           c->embed_dim, c->depth, c->heads, c->mlp_dim, c->patch, c->tokens, c->ln_eps, c->out_dim);
    printf("networks:   ");
    for (size_t i = 0; i < sizeof branches / sizeof branches[0]; i++) {
        int h, w, gh, gw, b = branches[i];
        if (tg_model_input_hw(NULL, m, b, &h, &w)) continue;
        tg_model_grid(NULL, m, b, &gh, &gw);
        printf("%s %s %dx%d (grid %dx%d", i ? "," : "", tg_model_branch_name(b), h, w, gh, gw);
        if (b == TG_BRANCH_AERIAL && c->has_zoom) printf(", zoom pass keeps %d", c->n_keep);
        printf(")");
    }
    printf("\n");
    printf("zoom:        %s", zoom_mode(c));
    if (c->has_zoom) printf(", crop_ratio %g", c->crop_ratio);
    printf("\n");
    printf("imagery:     aerial %g m/px, tile %g m; ground field of view %g deg, elevation "
           "%g..%g deg\n",
           c->aerial_gsd_m, c->aerial_tile_m, c->ground_fov_deg, c->ground_elev_deg[0],
           c->ground_elev_deg[1]);
    printf("normalize:   mean %g,%g,%g  std %g,%g,%g\n", c->mean[0], c->mean[1], c->mean[2],
           c->std[0], c->std[1], c->std[2]);
    printf("parameters:  %lld (%.1f MB of float32)\n", c->n_params,
           (double)c->n_params * 4.0 / 1e6);
    if (verified)
        printf("sha256:      %s (verified)\n", sha);
    else
        printf("sha256:      %s\n", *c->sha256 ? c->sha256 : "(none)");
    /* what this machine runs it with (TRANSGEO_BLAS_CORETYPE, transgeo(1)) */
    printf("compute:     OpenBLAS kernels %s, %d thread(s)\n", tg_blas_corename(), tg_blas_set_threads(0));
done:
    tg_model_free(m);
    tg_ctx_free(ctx);
    return rc;
}

static int sniff_model(const unsigned char *head, size_t n) { return tg_model_sniff(head, n); }

/* ---- databases ------------------------------------------------------------------ */

static int sniff_sqlite(const unsigned char *head, size_t n)
{
    return n >= 16 && memcmp(head, "SQLite format 3", 16) == 0;
}

/* Models (name, sha256, tile counts), rasters (path, CRS, tiling, state) and the
 * extent of the tile centres, read through the store (read-only). */
static int show_database(const char *path, const struct info_opts *o)
{
    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    tg_store_model *ml = NULL;
    tg_store_raster *rl = NULL;
    size_t n_ml = 0, n_rl = 0;
    long long n_tiles = 0;
    double ext[4] = {0, 0, 0, 0}; /* min lon, min lat, max lon, max lat */
    json_t *root = NULL, *models = NULL, *rasters = NULL;
    int rc = TG_EXIT_ERROR;
    if (tg_ctx_create(&ctx)) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    if (tg_store_open(ctx, path, TG_STORE_READONLY, &st)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    if (tg_store_has_schema(ctx, st) <= 0) {
        cli_error(CMD, "'%s' is a%s database without transgeo tables (index a raster "
                       "into it with transgeo index)", tg_store_label(st),
                  tg_store_on_pg(st) ? " PostgreSQL" : "n SQLite");
        goto done;
    }
    root = json_object();
    models = json_array();
    rasters = json_array();
    if (tg_store_model_list(ctx, st, &ml, &n_ml) || tg_store_raster_list(ctx, st, &rl, &n_rl) ||
        tg_store_extent(ctx, st, &n_tiles, &ext[0], &ext[1], &ext[2], &ext[3])) {
        cli_fail(CMD, ctx);
        goto done;
    }
    if (!o->json) printf("database:    %s\nmodels:\n", path);
    for (size_t i = 0; i < n_ml; i++) {
        const tg_store_model *m = &ml[i];
        if (o->json)
            json_array_append_new(models, json_pack("{s:s,s:s,s:s,s:I}", "name", m->name, "sha256",
                                                    m->sha256, "path", m->path, "tiles",
                                                    (json_int_t)m->n_tiles));
        else
            printf("  %-12s %lld tiles, sha256 %.16s..., from %s\n", m->name, m->n_tiles,
                   m->sha256, m->path);
    }
    if (!o->json) printf("rasters:\n");
    for (size_t i = 0; i < n_rl; i++) {
        const tg_store_raster *r = &rl[i];
        const char *model = r->model[0] ? r->model : NULL;
        if (o->json)
            json_array_append_new(rasters,
                                  json_pack("{s:s,s:s,s:f,s:f,s:b,s:s?,s:I}", "path", r->path, "crs",
                                            r->crs, "tile_m", r->tile_m, "stride_m", r->stride_m,
                                            "complete", r->complete, "model", model, "tiles",
                                            (json_int_t)r->n_tiles));
        else
            printf("  %s\n    %lld tiles of %.1f m every %.1f m in %.60s, model %s, %s\n", r->path,
                   r->n_tiles, r->tile_m, r->stride_m, r->crs, model ? model : "?",
                   r->complete ? "complete" : "INCOMPLETE (rerun index to finish)");
    }
    if (o->json) {
        json_object_set_new(root, "tiles", json_integer(n_tiles));
        if (n_tiles > 0)
            json_object_set_new(root, "extent_centres",
                                json_pack("[f,f,f,f]", ext[0], ext[1], ext[2], ext[3]));
    } else {
        printf("tiles:       %lld\n", n_tiles);
        if (n_tiles > 0)
            printf("extent:      tile centres lon %.6f .. %.6f, lat %.6f .. %.6f (EPSG:4326)\n",
                   ext[0], ext[2], ext[1], ext[3]);
    }
    if (o->json) {
        json_object_set_new(root, "database", json_string(path));
        json_object_set(root, "models", models);
        json_object_set(root, "rasters", rasters);
        char *txt = json_dumps(root, JSON_INDENT(2));
        if (txt) printf("%s\n", txt);
        free(txt);
    }
    rc = TG_EXIT_OK;
done:
    free(ml);
    free(rl);
    json_decref(models);
    json_decref(rasters);
    json_decref(root);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return rc;
}

/* ---- dispatch --------------------------------------------------------------------- */

struct kind {
    const char *name;
    int (*sniff)(const unsigned char *head, size_t n);
    int (*show)(const char *path, const struct info_opts *o);
};

static const struct kind kinds[] = {
    {"model", sniff_model, show_model},
    {"database", sniff_sqlite, show_database},
};

static int show_file(const char *path, const struct info_opts *o)
{
    if (tg_store_is_pg(path)) return show_database(path, o); /* postgresql://... */
    unsigned char head[64];
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(CMD, "cannot open '%s': %s", path, strerror(errno));
        return TG_EXIT_ERROR;
    }
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].sniff(head, n)) return kinds[i].show(path, o);
    cli_error(CMD, "'%s' is not a model file (a safetensors file made by "
                   "tools/convert_checkpoint.py), nor a transgeo database", path);
    return TG_EXIT_ERROR;
}

int cmd_info(int argc, char **argv)
{
    static const struct option lopts[] = {{"json", no_argument, NULL, 'j'},
                                          {"verify", no_argument, NULL, 'v'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    struct info_opts o = {0};
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1;) {
        switch (ch) {
        case 'j': o.json = 1; break;
        case 'v': o.verify = 1; break;
        case 'h': usage(stdout); return TG_EXIT_OK;
        default: return cli_usage_error(CMD, "unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error(CMD, "no file given");
    int rc = TG_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        if (!o.json && i > optind) printf("\n");
        int r = show_file(argv[i], &o);
        if (r) rc = r;
    }
    return rc;
}
