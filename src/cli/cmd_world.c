/* cmd_world.c - `transgeo world`: generate a deterministic demo world
 * (aerial GeoTIFF, street panoramas and photos with GPS EXIF, training
 * pairs); see src/world/world.h for the files and conventions. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "world";

static void help(void)
{
    tg_world_options d;
    tg_world_options_default(&d);
    printf("Usage: transgeo world --out DIR [OPTIONS]\n\n"
           "Generate a demo world: a town with roads, a river, parks, parking lots,\n"
           "buildings, trees and cars; its aerial orthophoto (DIR/aerial.tif, GeoTIFF in\n"
           "a UTM CRS) and 360-degree street panoramas (DIR/panos/*.jpg, north in the\n"
           "centre column) and photos (DIR/photos/*.jpg) with GPS EXIF, their true\n"
           "positions (DIR/truth.csv), and optionally training pairs (DIR/pairs/,\n"
           "DIR/pairs.csv). The same seed and options give the same world everywhere.\n\n"
           "Options:\n"
           "  -o, --out DIR          output directory (created; its parent must exist)\n"
           "  -s, --seed N           world seed (default %llu)\n"
           "      --size-m M         side of the square world in metres (default %g)\n"
           "      --gsd-m G          aerial metres per pixel (default %g)\n"
           "      --epsg N           WGS 84 / UTM zone EPSG code (default %d)\n"
           "      --center-e E       easting of the world's centre (default %.0f)\n"
           "      --center-n N       northing of the world's centre (default %.0f)\n"
           "      --panos N          panoramas (default %d)\n"
           "      --pano-w W         panorama width in pixels (default %d)\n"
           "      --pano-h H         panorama height, W/2 (default %d)\n"
           "      --pano-rotate      panoramas at a random rotation, without heading in\n"
           "                         EXIF/XMP (truth.csv keeps it)\n"
           "      --photos N         perspective photos (default %d)\n"
           "      --photo-w W        photo width (default %d)\n"
           "      --photo-h H        photo height (default %d)\n"
           "      --photo-fov DEG    photo horizontal field of view (default %g)\n"
           "      --gps-noise-m M    noise the photos' EXIF GPS as a city's: heavy-tailed,\n"
           "                         median M metres, with GPSHPositioningError (default 0:\n"
           "                         exact; truth.csv always holds the true positions)\n"
           "      --pairs N          training pairs: panorama + aerial crop (default %d)\n"
           "      --tile-m M         pairs: aerial crop side in metres (default %g)\n"
           "      --tile-px P        pairs: aerial crop side in pixels (default %d)\n"
           "      --margin-m M       cameras keep this far from the edge (default\n"
           "                         max(10, tile-m / 2))\n"
           "      --supersample K    K x K rays per ground-view pixel, 1..4 (default %d)\n"
           "      --quality Q        JPEG quality (default %d)\n"
           "      --sun-azimuth DEG  sun azimuth from north (default: from the seed)\n"
           "      --sun-elevation DEG sun elevation (default: from the seed)\n"
           "      --no-aerial        do not write aerial.tif\n"
           "  -j, --threads N        threads (default: all cores)\n"
           "  -q, --quiet            no progress bar\n"
           "  -h, --help             show this help\n\n"
           "Example: transgeo world --seed 7 --size-m 600 --panos 50 --out world7\n"
           "Exit status: 0 ok, 1 error, 2 usage error.\n",
           (unsigned long long)d.seed, d.size_m, d.gsd_m, d.utm_epsg, d.center_e, d.center_n, d.n_panos, d.pano_w,
           d.pano_h, d.n_photos, d.photo_w, d.photo_h, d.photo_fov_deg, d.n_pairs, d.tile_m, d.tile_px,
           d.supersample, d.jpeg_quality);
}

enum {
    O_SIZE = 256, O_GSD, O_EPSG, O_CE, O_CN, O_PANOS, O_PW, O_PH, O_PHOTOS, O_FW, O_FH, O_FOV, O_PAIRS, O_TM, O_TP,
    O_MARGIN, O_SS, O_Q, O_SAZ, O_SEL, O_NOAER, O_PROT, O_GPSN
};

int cmd_world(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},         {"seed", required_argument, NULL, 's'},
        {"size-m", required_argument, NULL, O_SIZE},   {"gsd-m", required_argument, NULL, O_GSD},
        {"epsg", required_argument, NULL, O_EPSG},     {"center-e", required_argument, NULL, O_CE},
        {"center-n", required_argument, NULL, O_CN},   {"panos", required_argument, NULL, O_PANOS},
        {"pano-w", required_argument, NULL, O_PW},     {"pano-h", required_argument, NULL, O_PH},
        {"pano-rotate", no_argument, NULL, O_PROT},
        {"photos", required_argument, NULL, O_PHOTOS}, {"photo-w", required_argument, NULL, O_FW},
        {"photo-h", required_argument, NULL, O_FH},    {"photo-fov", required_argument, NULL, O_FOV},
        {"pairs", required_argument, NULL, O_PAIRS},   {"tile-m", required_argument, NULL, O_TM},
        {"tile-px", required_argument, NULL, O_TP},    {"margin-m", required_argument, NULL, O_MARGIN},
        {"supersample", required_argument, NULL, O_SS}, {"quality", required_argument, NULL, O_Q},
        {"sun-azimuth", required_argument, NULL, O_SAZ}, {"sun-elevation", required_argument, NULL, O_SEL},
        {"no-aerial", no_argument, NULL, O_NOAER},     {"gps-noise-m", required_argument, NULL, O_GPSN},     {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    tg_world_options o;
    tg_world_options_default(&o);
    int quiet = 0, c, pano_h_set = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:j:qh", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o': o.out_dir = optarg; break;
        case 's': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return cli_usage_error(CMD, "--seed: '%s' is not a non-negative integer", optarg);
            o.seed = v;
            break;
        }
        case O_SIZE: bad = cli_parse_double(CMD, "--size-m", optarg, &o.size_m); break;
        case O_GSD: bad = cli_parse_double(CMD, "--gsd-m", optarg, &o.gsd_m); break;
        case O_EPSG: bad = cli_parse_int(CMD, "--epsg", optarg, &o.utm_epsg); break;
        case O_CE: bad = cli_parse_double(CMD, "--center-e", optarg, &o.center_e); break;
        case O_CN: bad = cli_parse_double(CMD, "--center-n", optarg, &o.center_n); break;
        case O_PANOS: bad = cli_parse_int(CMD, "--panos", optarg, &o.n_panos); break;
        case O_PW: bad = cli_parse_int(CMD, "--pano-w", optarg, &o.pano_w); break;
        case O_PH: bad = cli_parse_int(CMD, "--pano-h", optarg, &o.pano_h); pano_h_set = 1; break;
        case O_PROT: o.pano_rotate = 1; break;
        case O_PHOTOS: bad = cli_parse_int(CMD, "--photos", optarg, &o.n_photos); break;
        case O_FW: bad = cli_parse_int(CMD, "--photo-w", optarg, &o.photo_w); break;
        case O_FH: bad = cli_parse_int(CMD, "--photo-h", optarg, &o.photo_h); break;
        case O_FOV: bad = cli_parse_double(CMD, "--photo-fov", optarg, &o.photo_fov_deg); break;
        case O_PAIRS: bad = cli_parse_int(CMD, "--pairs", optarg, &o.n_pairs); break;
        case O_TM: bad = cli_parse_double(CMD, "--tile-m", optarg, &o.tile_m); break;
        case O_TP: bad = cli_parse_int(CMD, "--tile-px", optarg, &o.tile_px); break;
        case O_MARGIN: bad = cli_parse_double(CMD, "--margin-m", optarg, &o.edge_margin_m); break;
        case O_SS: bad = cli_parse_int(CMD, "--supersample", optarg, &o.supersample); break;
        case O_Q: bad = cli_parse_int(CMD, "--quality", optarg, &o.jpeg_quality); break;
        case O_SAZ: bad = cli_parse_double(CMD, "--sun-azimuth", optarg, &o.sun_azimuth_deg); break;
        case O_SEL: bad = cli_parse_double(CMD, "--sun-elevation", optarg, &o.sun_elevation_deg); break;
        case O_NOAER: o.write_aerial = 0; break;
        case O_GPSN: bad = cli_parse_double(CMD, "--gps-noise-m", optarg, &o.gps_noise_m); break;
        case 'j': bad = cli_parse_int(CMD, "--threads", optarg, &o.n_threads); break;
        case 'q': quiet = 1; break;
        case 'h': help(); return TG_EXIT_OK;
        default: return cli_usage_error(CMD, "unknown option");
        }
        if (bad) return TG_EXIT_USAGE;
    }
    if (optind < argc) return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o.out_dir) return cli_usage_error(CMD, "--out DIR is required");
    if (!pano_h_set) o.pano_h = o.pano_w / 2;
    if (o.n_threads < 0) return cli_usage_error(CMD, "--threads: %d is negative", o.n_threads);

    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx)) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    cli_progress prog;
    cli_progress_init(&prog, "items", quiet);
    o.progress = cli_progress_cb;
    o.progress_user = &prog;
    double t0 = cli_now();
    int rc = tg_world_generate(ctx, &o);
    cli_progress_end(&prog);
    if (rc) {
        /* a bad option value is the caller's mistake: usage error */
        int code = tg_errcode(ctx) == TG_EINVAL ? TG_EXIT_USAGE : TG_EXIT_ERROR;
        if (code == TG_EXIT_USAGE) cli_usage_error(CMD, "%s", tg_errmsg(ctx));
        else cli_fail(CMD, ctx);
        tg_ctx_free(ctx);
        return code;
    }
    double dt = cli_now() - t0;
    if (!quiet)
        printf("world seed %llu: %g m x %g m in EPSG:%d, aerial %s, %d panoramas, %d photos, %d pairs -> %s "
               "(%.1f s)\n",
               (unsigned long long)o.seed, o.size_m, o.size_m, o.utm_epsg, o.write_aerial ? "aerial.tif" : "skipped",
               o.n_panos, o.n_photos, o.n_pairs, o.out_dir, dt);
    tg_ctx_free(ctx);
    return TG_EXIT_OK;
}
