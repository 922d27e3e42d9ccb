/*
 * cmd_eval.c - `transgeo eval --db DB PHOTOS...`: recall and metre-level
 * error on photos with known positions (tg_batch_eval, include/transgeo/evalmetrics.h).
 */
#include "config.h"
#include "cli.h"
#include "cli_sig.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "transgeo/batch.h"
#include "transgeo/locate.h"

static const char *const CMD = "eval";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: transgeo eval --db DB PHOTO|DIR|@LIST... [OPTIONS]\n"
            "Measure how well the model of DB locates photos whose position is known:\n"
            "from --truth, else from their GPS EXIF (photos with neither are skipped).\n"
            "Each photo is ranked against every tile of the model. Prints:\n"
            "  R@1, R@5, R@10  share of photos whose true tile (the tile whose centre is\n"
            "                  nearest the true position) is among the best 1, 5, 10\n"
            "  R@1%%            the same within the best 1%% of the tiles (at least 1)\n"
            "  hit rate        share whose true position lies in the best tile (VIGOR)\n"
            "  error           geodesic metres from the estimate (the best tile's centre,\n"
            "                  refined below the stride) to the true position: median,\n"
            "                  mean, share within 5, 10, 25, 50 m and within error_m\n"
            "                  (the stated 68 %% radius)\n"
            "  heading error   where the truth has a heading: median degrees between it\n"
            "                  and the answer's, over all photos and over those whose\n"
            "                  best tile is the true one\n"
            "  GPS             the photos' own GPS error and the share the estimate beat\n"
            "  right tile      over photos whose best tile is right: median error and the\n"
            "                  tile-centre oracle's\n"
            "\n"
            "Options:\n"
            "  -d, --db DB          the database (required): a SQLite file, or a\n"
            "                       postgresql://USER@HOST:PORT/DBNAME URI (transgeo(1))\n"
            "  -t, --truth CSV      true positions: a CSV file with the header file,lat,lon\n"
            "                       (degrees WGS84; a row matches a photo by path, else by\n"
            "                       base name) and optionally heading (degrees from north)\n"
            "      --json           print JSON instead of a table\n"
            "      --prior gps[=M]  rank each photo among the tiles within M metres of its\n"
            "                       own GPS (as transgeo locate; needs --truth)\n"
            "  --refine auto|on|off estimate below the tile stride (as transgeo locate)\n"
            "      --refine-tiles N tiles cut per photo at most (default 16)\n"
            "  -m, --model NAME     model registered in DB (default: the only one)\n"
            "  -j, --threads N      photos embedded at once (default: all cores)\n"
            CLI_BATCH_HELP
            CLI_CAMERA_HELP
            CLI_CODEC_HELP
            "  -q, --quiet          no progress bar, no per-photo warnings\n"
            "      --progress=WHEN  auto (a bar when stderr is a terminal; default), json\n"
            "                       (one JSON object per line on stderr, for programs;\n"
            "                       see transgeo(1)) or none\n"
            "  -h, --help           show this help\n"
            "\n"
            "Example:\n"
            "  transgeo eval --db town.sqlite holdout/ --truth holdout.csv --json\n"
            "\n"
            "Exit status: 0 evaluated, 1 an error (no photo with a known position,\n"
            "database missing), 2 usage error.\n");
}

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int print_json(const tg_eval_report *r)
{
    const tg_eval_stats *s = &r->stats;
    json_t *root = json_object(), *photos = json_array();
    json_object_set_new(root, "model", json_string(r->model));
    json_object_set_new(root, "n_tiles", json_integer(r->n_tiles));
    json_object_set_new(root, "n_photos", json_integer(s->n));
    json_object_set_new(root, "n_failed", json_integer(r->n_failed));
    json_object_set_new(root, "n_unlabelled", json_integer(r->n_unlabelled));
    json_object_set_new(root, "k_1pct", json_integer(s->k_1pct));
    json_object_set_new(root, "r1", jnum(s->r1));
    json_object_set_new(root, "r5", jnum(s->r5));
    json_object_set_new(root, "r10", jnum(s->r10));
    json_object_set_new(root, "r1pct", jnum(s->r1pct));
    json_object_set_new(root, "hit_rate", jnum(s->hit_rate));
    json_t *err = json_object();
    json_object_set_new(err, "median", jnum(s->err_median_m));
    json_object_set_new(err, "mean", jnum(s->err_mean_m));
    json_object_set_new(err, "within_5m", jnum(s->within_5m));
    json_object_set_new(err, "within_10m", jnum(s->within_10m));
    json_object_set_new(err, "within_25m", jnum(s->within_25m));
    json_object_set_new(err, "within_50m", jnum(s->within_50m));
    json_object_set_new(err, "within_radius", jnum(s->within_radius));
    json_object_set_new(err, "n_radius", json_integer(s->n_radius));
    json_object_set_new(root, "error_m", err);
    json_t *he = json_object();
    json_object_set_new(he, "n", json_integer(r->n_heading));
    json_object_set_new(he, "median", jnum(r->heading_err_median_deg));
    json_object_set_new(he, "n_top1", json_integer(r->n_heading_top1));
    json_object_set_new(he, "median_top1", jnum(r->heading_err_median_top1_deg));
    json_object_set_new(root, "heading_error_deg", he);
    json_t *g = json_object();
    json_object_set_new(g, "n", json_integer(s->n_gps));
    json_object_set_new(g, "median_m", jnum(s->gps_median_m));
    json_object_set_new(g, "improved", jnum(s->improved_over_gps));
    json_object_set_new(root, "gps", g);
    json_t *rt = json_object();
    json_object_set_new(rt, "n", json_integer(r->n_right));
    json_object_set_new(rt, "median_m", jnum(r->right_median_m));
    json_object_set_new(rt, "oracle_median_m", jnum(r->right_oracle_median_m));
    json_object_set_new(root, "right_tile", rt);
    json_object_set_new(root, "n_refined", json_integer(r->n_refined));
    json_object_set_new(root, "n_refine_tiles", json_integer(r->n_refine_tiles));
    for (size_t i = 0; i < r->n_photos; i++) {
        const tg_eval_photo *p = &r->photos[i];
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(p->file));
        if (p->labelled) {
            json_object_set_new(o, "truth", json_string(p->truth_from_csv ? "csv" : "gps"));
            json_object_set_new(o, "lon", jnum(p->true_lon));
            json_object_set_new(o, "lat", jnum(p->true_lat));
            json_object_set_new(o, "rank", json_integer(p->item.rank));
            json_object_set_new(o, "hit", json_boolean(p->item.hit));
            json_object_set_new(o, "error_m", jnum(p->item.error_m));
            json_object_set_new(o, "true_tile_id", json_integer(p->true_tile_id));
            json_object_set_new(o, "top1_tile_id", json_integer(p->top1_tile_id));
            json_object_set_new(o, "top1_lon", jnum(p->top1_lon));
            json_object_set_new(o, "top1_lat", jnum(p->top1_lat));
            json_object_set_new(o, "top1_score", jnum(p->top1_score));
            json_object_set_new(o, "heading_deg", jnum(p->heading_deg));
            json_object_set_new(o, "heading_source",
                                json_string(tg_heading_source_name(p->heading_source)));
            json_object_set_new(o, "heading_error_deg", jnum(p->heading_error_deg));
            json_object_set_new(o, "lon_est", jnum(p->est_lon));
            json_object_set_new(o, "lat_est", jnum(p->est_lat));
            json_object_set_new(o, "error_radius_m", jnum(p->item.radius_m));
            json_object_set_new(o, "tile_error_m", jnum(p->tile_error_m));
            json_object_set_new(o, "oracle_m", jnum(p->oracle_m));
            json_object_set_new(o, "prior", json_string(tg_prior_name(p->prior)));
            json_object_set_new(o, "refined", json_integer(p->refined));
            json_object_set_new(o, "refine_tiles", json_integer(p->refine_tiles));
            if (p->item.has_gps) json_object_set_new(o, "gps_error_m", jnum(p->item.gps_error_m));
        } else if (p->error) {
            json_object_set_new(o, "error", json_string(p->error));
        } else {
            json_object_set_new(o, "error", json_string("no known position (no GPS, no truth row)"));
        }
        json_array_append_new(photos, o);
    }
    json_object_set_new(root, "photos", photos);
    /* 17 significant digits: a fraction like 2/3 reads back as the same double */
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    fputc('\n', stdout);
    json_decref(root);
    return rc;
}

static void print_table(const tg_eval_report *r)
{
    const tg_eval_stats *s = &r->stats;
    printf("model            %s (%ld tiles)\n", r->model, r->n_tiles);
    printf("photos           %ld evaluated", s->n);
    if (r->n_unlabelled) printf(", %ld without a known position", r->n_unlabelled);
    if (r->n_failed) printf(", %ld unreadable", r->n_failed);
    printf("\n");
    printf("R@1              %6.2f %%\n", 100 * s->r1);
    printf("R@5              %6.2f %%\n", 100 * s->r5);
    printf("R@10             %6.2f %%\n", 100 * s->r10);
    char label[64];
    snprintf(label, sizeof label, "R@1%% (k=%ld)", s->k_1pct);
    printf("%-17s%6.2f %%\n", label, 100 * s->r1pct);
    printf("hit rate         %6.2f %%\n", 100 * s->hit_rate);
    printf("error median     %9.2f m\n", s->err_median_m);
    printf("error mean       %9.2f m\n", s->err_mean_m);
    printf("within 5 m       %6.2f %%\n", 100 * s->within_5m);
    printf("within 10 m      %6.2f %%\n", 100 * s->within_10m);
    printf("within 25 m      %6.2f %%\n", 100 * s->within_25m);
    printf("within 50 m      %6.2f %%\n", 100 * s->within_50m);
    if (r->n_heading) {
        printf("heading error    %9.2f deg median (%ld photos)\n", r->heading_err_median_deg,
               r->n_heading);
        if (r->n_heading_top1)
            printf("  at true tile   %9.2f deg median (%ld photos)\n",
                   r->heading_err_median_top1_deg, r->n_heading_top1);
    }
    if (s->n_radius)
        printf("within error_m   %6.2f %%  (the stated 68 %% radius holds for this share)\n",
               100 * s->within_radius);
    if (s->n_gps) {
        printf("GPS error median %9.2f m  (%ld photos' own GPS to the truth)\n", s->gps_median_m,
               s->n_gps);
        printf("better than GPS  %6.2f %%\n", 100 * s->improved_over_gps);
    }
    if (r->n_right)
        printf("right tile       %ld photos: median %.2f m, tile-centre oracle %.2f m (%.2f x)\n",
               r->n_right, r->right_median_m, r->right_oracle_median_m,
               r->right_median_m / r->right_oracle_median_m);
    if (r->n_refined)
        printf("refined          %ld photos from %ld raster tiles (%.1f per photo)\n",
               r->n_refined, r->n_refine_tiles, (double)r->n_refine_tiles / (double)r->n_refined);
}

int cmd_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},      {"truth", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'J'},          {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"progress", required_argument, NULL, 'P'},
        {"prior", required_argument, NULL, OPT_PRIOR}, {"refine", required_argument, NULL, OPT_REFINE},
        {"refine-tiles", required_argument, NULL, OPT_REFINE_TILES}, CLI_BATCH_LONGOPT,
        {"codec", required_argument, NULL, OPT_CODEC},
        {"help", no_argument, NULL, 'h'},          CLI_CAMERA_LONGOPTS,
        {NULL, 0, NULL, 0}};
    const char *db = NULL, *truth = NULL;
    int json = 0, quiet = 0, progress = CLI_PROGRESS_AUTO, c;
    int codec = -1; /* --codec: -1 = the model's own */
    tg_batch_opts o;
    tg_batch_opts_default(&o);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:t:m:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 't': truth = optarg; break;
        case 'J': json = 1; break;
        case 'm': o.model = optarg; break;
        case 'j':
            if (cli_parse_int(CMD, "--threads", optarg, &o.threads)) return TG_EXIT_USAGE;
            if (o.threads < 1) return cli_usage_error(CMD, "--threads: expected 1 or more");
            break;
        case 'q': quiet = 1; break;
        case 'P':
            if (cli_parse_progress(CMD, optarg, &progress)) return TG_EXIT_USAGE;
            break;
        case 'F': case 'H': case 'I': case OPT_PRIOR: case OPT_REFINE: case OPT_REFINE_TILES:
        case OPT_BATCH:
            if (cli_locate_option(CMD, c, optarg, &o)) return TG_EXIT_USAGE;
            break;
        case OPT_CODEC:
            if (cli_parse_codec(CMD, optarg, &codec)) return TG_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return TG_EXIT_OK;
        case ':': return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!db) return cli_usage_error(CMD, "no database: give --db DB");
    if (optind >= argc) return cli_usage_error(CMD, "no photo given (PHOTO, DIR or @LIST)");
    if (o.gps_prior && !truth)
        return cli_usage_error(CMD, "--prior gps needs --truth CSV: the photos' GPS is the prior, "
                                    "it cannot also be their true position");

    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx) != 0) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    tg_ctx_set_codec(ctx, codec);
    cli_progress bar;
    cli_progress_init_mode(&bar, "photos", quiet, progress);
    cli_sig_install();
    o.progress = cli_sig_progress;
    o.progress_user = &bar;
    tg_eval_report *rep = NULL;
    int rc = tg_batch_eval(ctx, db, (const char *const *)argv + optind, (size_t)(argc - optind),
                           truth, &o, &rep);
    cli_progress_end(&bar);
    int status = TG_EXIT_OK;
    if (rc) {
        status = cli_fail(CMD, ctx);
    } else {
        for (size_t i = 0; i < rep->n_photos && !quiet; i++)
            if (rep->photos[i].error)
                cli_error(CMD, "skipped: %s", rep->photos[i].error);
            else if (!rep->photos[i].labelled)
                cli_error(CMD, "skipped: '%s' has no known position (no GPS%s)",
                          rep->photos[i].file, truth ? ", no row in the truth file" : "");
        if (json) {
            if (print_json(rep) != 0) {
                cli_error(CMD, "cannot write the JSON");
                status = TG_EXIT_ERROR;
            }
        } else {
            print_table(rep);
        }
    }
    fflush(stdout);
    tg_eval_report_free(rep);
    tg_ctx_free(ctx);
    return status;
}
