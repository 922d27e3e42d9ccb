/*
 * cmd_demo.c - `transgeo demo`: the whole pipeline on a generated town the
 * shipped model never saw: world generator -> orthophoto -> tilecache + aerial
 * encoder -> SpatiaLite database -> ground encoder + search -> GeoPackage,
 * evaluation table and a PNG map. Nothing here is special-cased for the demo:
 * each step is the library call `transgeo world/index/locate/eval` makes.
 */
#include "config.h"
#include "cli.h"
#include "demo_map.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transgeo/batch.h"
#include "transgeo/locate.h"
#include "transgeo/model.h"
#include "transgeo/store.h"
#include "transgeo/world.h"

static const char *const CMD = "demo";

/* The default world: a seed the shipped model was not trained on (see
 * models/MODEL_CARD.md for the training seeds). */
#define DEMO_SEED 20261125u
#define DEMO_SIZE_M 1500.0
#define DEMO_PANOS 100
#define DEMO_PHOTOS 20
/* Headings tried for the panoramas of unknown rotation: 15 degrees apart. */
#define DEMO_PANO_HEADINGS 24
#define DEMO_GPS_NOISE_M 50.0 /* a city's GPS (issue 18) */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: transgeo demo [OPTIONS]\n"
            "Generate a town the shipped model never saw (orthophoto, street panoramas and\n"
            "photos with GPS), index the orthophoto, locate every panorama and photo, and\n"
            "print recall, metre error and heading error, for four kinds of ground view:\n"
            "north-aligned panoramas; the same panoramas at a random rotation, heading\n"
            "searched over %d rolls; 90-degree photos with their EXIF heading; the same\n"
            "photos with the heading searched. Writes into DIR:\n"
            "  world/         the generated town (aerial.tif, panos/, photos/, truth.csv)\n"
            "  world_rot/     the same panoramas rotated, without heading (panos/, truth.csv)\n"
            "  demo.sqlite    the SpatiaLite database (tiles, footprints, embeddings)\n"
            "  located.gpkg   one point per panorama + matched tiles + failures\n"
            "  map.png        the orthophoto with true positions (yellow), estimates (blue)\n"
            "                 and error lines (green: right tile, red: wrong tile)\n"
            "\n"
            "Options:\n"
            "  -o, --out DIR        output directory (default: transgeo-demo)\n"
            "  -s, --seed S         world seed (default: %u, not used in training)\n"
            "      --size-m M       side of the town, metres (default: %.0f)\n"
            "      --panos N        panoramas to locate (default: %d)\n"
            "      --photos N       90-degree perspective photos to locate (default: %d)\n"
            "      --gps-noise-m M  the photos' GPS is noised as in a city, median M metres\n"
            "                       (default: 50; 0: exact); the truth comes from truth.csv\n"
            "  -m, --model FILE     model file (default: the shipped demo model)\n"
            "  -j, --threads N      threads (default: all cores)\n"
            "  -q, --quiet          no progress bars\n"
            "  -h, --help           show this help\n"
            "\n"
            "Example:\n"
            "  transgeo demo --seed 7 --size-m 600 --panos 30 --out demo7\n"
            "\n"
            "Exit status: 0 ok, 1 error, 2 usage error.\n",
            DEMO_PANO_HEADINGS, DEMO_SEED, DEMO_SIZE_M, DEMO_PANOS, DEMO_PHOTOS);
}

static void print_stats(const char *what, const tg_eval_report *r)
{
    const tg_eval_stats *s = &r->stats;
    printf("%s: %ld located against %ld tiles", what, s->n, r->n_tiles);
    if (r->n_failed) printf(" (%ld unreadable)", r->n_failed);
    printf("\n  R@1 %5.1f%%   R@5 %5.1f%%   R@10 %5.1f%%   R@1%% (top %ld) %5.1f%%   hit rate %5.1f%%\n",
           100 * s->r1, 100 * s->r5, 100 * s->r10, s->k_1pct, 100 * s->r1pct, 100 * s->hit_rate);
    printf("  error: median %.1f m, mean %.1f m; within 5 m %.0f%%, 10 m %.0f%%, 25 m %.0f%%, "
           "50 m %.0f%%\n",
           s->err_median_m, s->err_mean_m, 100 * s->within_5m, 100 * s->within_10m,
           100 * s->within_25m, 100 * s->within_50m);
    /* the heading: its source and error against truth.csv, over all photos and
     * over those whose best tile is the true one */
    int src = -1, mixed = 0;
    for (size_t i = 0; i < r->n_photos; i++)
        if (r->photos[i].labelled) {
            if (src >= 0 && src != r->photos[i].heading_source) mixed = 1;
            src = r->photos[i].heading_source;
        }
    printf("  heading (%s): median error %.1f deg over %ld", mixed ? "mixed" : tg_heading_source_name(src),
           r->heading_err_median_deg, r->n_heading);
    if (r->n_heading_top1)
        printf(", %.1f deg over the %ld at the true tile", r->heading_err_median_top1_deg,
               r->n_heading_top1);
    printf("\n");
}

/* dst = a "/" b; -1 when it does not fit. */
static int path_join(char *dst, size_t cap, const char *a, const char *b)
{
    int n = snprintf(dst, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    return -1;
}

/* Remove the outputs of an earlier demo run in DIR: the demo owns them. */
static void remove_previous(const char *dir)
{
    static const char *const names[] = {"demo.sqlite", "demo.sqlite-wal", "demo.sqlite-shm",
                                        "located.gpkg", "map.png", NULL};
    char p[4096];
    for (int i = 0; names[i]; i++)
        if (path_join(p, sizeof p, dir, names[i]) == 0) unlink(p);
}

int cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},   {"seed", required_argument, NULL, 's'},
        {"size-m", required_argument, NULL, 1},  {"panos", required_argument, NULL, 2},
        {"photos", required_argument, NULL, 3},  {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"gps-noise-m", required_argument, NULL, 4},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *out = "transgeo-demo", *model_arg = NULL;
    double size_m = DEMO_SIZE_M, seed_d = DEMO_SEED, gps_noise = DEMO_GPS_NOISE_M;
    int n_panos = DEMO_PANOS, n_photos = DEMO_PHOTOS, threads = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:m:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's':
            if (cli_parse_double(CMD, "--seed", optarg, &seed_d)) return TG_EXIT_USAGE;
            if (seed_d < 0 || seed_d != floor(seed_d) || seed_d > 9007199254740992.0)
                return cli_usage_error(CMD, "--seed: expected a whole number >= 0, got '%s'", optarg);
            break;
        case 1:
            if (cli_parse_double(CMD, "--size-m", optarg, &size_m)) return TG_EXIT_USAGE;
            break;
        case 2:
            if (cli_parse_int(CMD, "--panos", optarg, &n_panos)) return TG_EXIT_USAGE;
            if (n_panos < 1) return cli_usage_error(CMD, "--panos: expected 1 or more");
            break;
        case 3:
            if (cli_parse_int(CMD, "--photos", optarg, &n_photos)) return TG_EXIT_USAGE;
            if (n_photos < 0) return cli_usage_error(CMD, "--photos: expected 0 or more");
            break;
        case 4:
            if (cli_parse_double(CMD, "--gps-noise-m", optarg, &gps_noise)) return TG_EXIT_USAGE;
            if (gps_noise < 0 || gps_noise > 1000)
                return cli_usage_error(CMD, "--gps-noise-m: expected 0..1000 metres");
            break;
        case 'm': model_arg = optarg; break;
        case 'j':
            if (cli_parse_int(CMD, "--threads", optarg, &threads)) return TG_EXIT_USAGE;
            if (threads < 0) return cli_usage_error(CMD, "--threads: expected 0 or more");
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return TG_EXIT_OK;
        default: return cli_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);

    char why[1200];
    const char *model_path = model_arg ? model_arg : cli_default_model(why, sizeof why);
    if (!model_path) {
        cli_error(CMD, "no model: %s; give one with --model FILE.safetensors", why);
        return TG_EXIT_ERROR;
    }

    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    tg_eval_report *rep = NULL, *rep_photos = NULL, *rep_rot = NULL, *rep_search = NULL;
    demo_map_point *pts = NULL;
    int rc = TG_EXIT_ERROR;
    char world_dir[4096], aerial[4096], panos[4096], photos[4096], db[4096], gpkg[4096],
        png[4096], rot_dir[4096], rot_panos[4096], truth[4096], rot_truth[4096];
    tg_eval_report *rows[3] = {NULL, NULL, NULL};
    if (tg_ctx_create(&ctx)) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    tg_ctx_set_threads(ctx, threads);
    if (mkdir_p(out)) {
        cli_error(CMD, "cannot create '%s': %s", out, strerror(errno));
        goto done;
    }
    if (path_join(world_dir, sizeof world_dir, out, "world") ||
        path_join(aerial, sizeof aerial, world_dir, "aerial.tif") ||
        path_join(panos, sizeof panos, world_dir, "panos") ||
        path_join(photos, sizeof photos, world_dir, "photos") ||
        path_join(db, sizeof db, out, "demo.sqlite") ||
        path_join(gpkg, sizeof gpkg, out, "located.gpkg") ||
        path_join(png, sizeof png, out, "map.png") ||
        path_join(rot_dir, sizeof rot_dir, out, "world_rot") ||
        path_join(rot_panos, sizeof rot_panos, rot_dir, "panos") ||
        path_join(truth, sizeof truth, world_dir, "truth.csv") ||
        path_join(rot_truth, sizeof rot_truth, rot_dir, "truth.csv")) {
        cli_error(CMD, "--out: path too long");
        goto done;
    }
    remove_previous(out);
    double t0 = cli_now();

    /* 1. The world. */
    tg_world_options wo;
    tg_world_options_default(&wo);
    wo.seed = (uint64_t)seed_d;
    wo.size_m = size_m;
    wo.n_panos = n_panos;
    wo.n_photos = n_photos;
    wo.gps_noise_m = gps_noise;
    wo.supersample = 1; /* as the training worlds (tools/train_demo.sh), and 4x faster */
    wo.out_dir = world_dir;
    cli_progress pw;
    cli_progress_init(&pw, "world items", quiet);
    wo.progress = cli_progress_cb;
    wo.progress_user = &pw;
    if (!quiet) fprintf(stderr, "demo: generating a %.0f m town (seed %.0f) in %s\n", size_m, seed_d, world_dir);
    if (mkdir_p(world_dir) || tg_world_generate(ctx, &wo)) {
        cli_progress_end(&pw);
        if (!tg_errcode(ctx)) cli_error(CMD, "cannot create '%s': %s", world_dir, strerror(errno));
        else cli_fail(CMD, ctx);
        goto done;
    }
    /* the same panoramas at random rotations, without heading: no aerial, no photos */
    tg_world_options wr = wo;
    wr.pano_rotate = 1;
    wr.write_aerial = 0;
    wr.n_photos = 0;
    wr.out_dir = rot_dir;
    if (mkdir_p(rot_dir) || tg_world_generate(ctx, &wr)) {
        cli_progress_end(&pw);
        if (!tg_errcode(ctx)) cli_error(CMD, "cannot create '%s': %s", rot_dir, strerror(errno));
        else cli_fail(CMD, ctx);
        goto done;
    }
    cli_progress_end(&pw);
    double t_world = cli_now();

    /* 2. Index the orthophoto. */
    if (tg_store_open(ctx, db, TG_STORE_CREATE, &st)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    tg_store_model m;
    if (tg_store_model_register(ctx, st, "demo", model_path, &m)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    tg_store_index_opts io;
    tg_store_index_opts_default(&io);
    io.model = "demo";
    cli_progress pi;
    cli_progress_init(&pi, "tiles", quiet);
    io.progress = cli_progress_cb;
    io.progress_user = &pi;
    tg_store_index_result ir;
    if (!quiet) fprintf(stderr, "demo: indexing %s with %s\n", aerial, model_path);
    if (tg_store_index_raster(ctx, st, aerial, &io, &ir)) {
        cli_progress_end(&pi);
        cli_fail(CMD, ctx);
        goto done;
    }
    cli_progress_end(&pi);
    tg_store_close(st);
    st = NULL;
    double t_index = cli_now();

    /* 3. Locate the panoramas into a GeoPackage. */
    tg_batch_opts bo;
    tg_batch_opts_default(&bo);
    bo.model = "demo";
    bo.threads = threads;
    cli_progress pl;
    cli_progress_init(&pl, "photos", quiet);
    bo.progress = cli_progress_cb;
    bo.progress_user = &pl;
    tg_batch_summary sum;
    const char *in_panos[1] = {panos};
    if (tg_batch_locate(ctx, db, in_panos, 1, gpkg, &bo, &sum)) {
        cli_progress_end(&pl);
        cli_fail(CMD, ctx);
        goto done;
    }
    cli_progress_end(&pl);
    double t_locate = cli_now();

    /* 4. Evaluate against the generator's truth.csv (positions and headings). */
    bo.progress = NULL;
    if (tg_batch_eval(ctx, db, in_panos, 1, truth, &bo, &rep)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    const char *in_rot[1] = {rot_panos};
    tg_batch_opts bs = bo;
    bs.heading_search = DEMO_PANO_HEADINGS;
    if (tg_batch_eval(ctx, db, in_rot, 1, rot_truth, &bs, &rep_rot)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    const char *in_photos[1] = {photos};
    if (n_photos > 0 && tg_batch_eval(ctx, db, in_photos, 1, truth, &bo, &rep_photos)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    bs = bo;
    bs.ignore_heading = 1; /* N from the field of view */
    if (n_photos > 0 && tg_batch_eval(ctx, db, in_photos, 1, truth, &bs, &rep_search)) {
        cli_fail(CMD, ctx);
        goto done;
    }
    /* The three rows of a city's GPS: no prior, the GPS prior, and the GPS
     * prior refined below the stride (the same panoramas each time). */
    for (int i = 0; i < 3 && gps_noise > 0; i++) {
        tg_batch_opts ro = bo;
        ro.refine = i == 2 ? TG_REFINE_ON : TG_REFINE_OFF;
        ro.gps_prior = i > 0;
        if (tg_batch_eval(ctx, db, in_panos, 1, truth, &ro, &rows[i])) {
            cli_fail(CMD, ctx);
            goto done;
        }
    }
    double t_eval = cli_now();

    /* 5. The map. */
    pts = calloc(rep->n_photos ? rep->n_photos : 1, sizeof *pts);
    if (!pts) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    size_t n_pts = 0;
    for (size_t i = 0; i < rep->n_photos; i++) {
        const tg_eval_photo *p = &rep->photos[i];
        if (!p->labelled) continue;
        pts[n_pts++] = (demo_map_point){p->true_lon, p->true_lat, p->top1_lon, p->top1_lat,
                                        p->item.rank == 1};
    }
    if (demo_map_write(ctx, aerial, pts, n_pts, 1200, png)) {
        cli_fail(CMD, ctx);
        goto done;
    }

    printf("transgeo demo: seed %.0f, %.0f x %.0f m town, model %s (sha256 %.12s...)\n", seed_d,
           size_m, size_m, model_path, m.sha256);
    printf("index: %lld tiles of %.0f m every %.0f m at %.2f m/px\n", ir.n_tiles, ir.tile_m,
           ir.stride_m, ir.gsd_m);
    print_stats("panoramas (360 degrees, north-aligned)", rep);
    char what[128];
    snprintf(what, sizeof what, "panoramas (360 degrees, unknown rotation, %d headings searched)",
             DEMO_PANO_HEADINGS);
    print_stats(what, rep_rot);
    if (rep_photos) print_stats("photos (90 degrees, heading from EXIF)", rep_photos);
    if (rep_search) {
        snprintf(what, sizeof what, "photos (90 degrees, heading searched: %d headings)",
                 rep_search->n_photos ? (int)rep_search->photos[0].n_headings : 0);
        print_stats(what, rep_search);
    }
    if (rows[0]) {
        static const char *const names[3] = {"no prior", "GPS prior", "GPS prior + refinement"};
        printf("panoramas with a city's GPS (median %.0f m noise; raw GPS median error %.1f m):\n",
               gps_noise, rows[0]->stats.gps_median_m);
        printf("  %-24s %6s %12s %14s %10s %9s\n", "", "R@1", "median err", "better than GPS",
               "in error_m", "refined");
        for (int i = 0; i < 3; i++) {
            const tg_eval_stats *s = &rows[i]->stats;
            printf("  %-24s %5.1f%% %10.1f m %13.0f%% %9.0f%% %9ld\n", names[i], 100 * s->r1,
                   s->err_median_m, 100 * s->improved_over_gps, 100 * s->within_radius,
                   rows[i]->n_refined);
        }
        const tg_eval_report *g = rows[2];
        printf("  median error / raw GPS median: %.2f (GPS prior), %.2f (refined); right tile: "
               "%ld photos, median %.1f m vs tile-centre oracle %.1f m (%.2f x), %.1f tiles "
               "cut per photo\n",
               rows[1]->stats.err_median_m / rows[1]->stats.gps_median_m,
               g->stats.err_median_m / g->stats.gps_median_m, g->n_right, g->right_median_m,
               g->right_oracle_median_m, g->right_median_m / g->right_oracle_median_m,
               g->n_refined ? (double)g->n_refine_tiles / (double)g->n_refined : 0.0);
    }
    printf("time: world %.1f s, index %.1f s, locate %.1f s, eval %.1f s, total %.1f s\n",
           t_world - t0, t_index - t_world, t_locate - t_index, t_eval - t_locate,
           cli_now() - t0);
    printf("wrote %s, %s, %s\n", db, gpkg, png);
    rc = TG_EXIT_OK;
done:
    free(pts);
    tg_eval_report_free(rep);
    tg_eval_report_free(rep_photos);
    tg_eval_report_free(rep_rot);
    tg_eval_report_free(rep_search);
    for (int i = 0; i < 3; i++) tg_eval_report_free(rows[i]);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return rc;
}
