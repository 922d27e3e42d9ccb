/*
 * cmd_locate.c - `transgeo locate PHOTO|DIR|@LIST... --db DB -o OUT`: where
 * were these photos taken? One point per photo plus the matched tiles, in a
 * GeoPackage or CSV (tg_batch_locate in src/batch/batch.c).
 */
#include "config.h"
#include "cli.h"
#include "cli_sig.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "transgeo/batch.h"

static const char *const CMD = "locate";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: transgeo locate PHOTO|DIR|@LIST... --db DB -o OUT [OPTIONS]\n"
            "Find where photos were taken by matching them against the aerial tiles of a\n"
            "database made by 'transgeo index'. DIR is walked recursively; @LIST is a text\n"
            "file with one path per line (@- reads standard input).\n"
            "\n"
            "OUT is a GeoPackage (*.gpkg) with the layers\n"
            "  photos         one point per photo: file, model, lon, lat, score, error_m,\n"
            "                 tile_id, gps_lon, gps_lat, gps_error_m, heading (degrees\n"
            "                 from true north: the photo's or the searched one),\n"
            "                 heading_source, fov_deg, camera_source, tile_lon,\n"
            "                 tile_lat, prior, refined, refine_tiles\n"
            "  matched_tiles  the footprints of the K best tiles of each photo\n"
            "  failures       photos that could not be read (file, error)\n"
            "or a CSV file (*.csv, or - for standard output) with the photos fields and\n"
            "an error column. A rerun skips the photos already in OUT (resume).\n"
            "\n"
            "Options:\n"
            "  -d, --db DB            the database (required): a SQLite file, or a\n"
            "                         postgresql://USER@HOST:PORT/DBNAME URI (transgeo(1))\n"
            "  -o, --output OUT       OUT.gpkg, OUT.csv or - (required)\n"
            "  -k, --top K            matched tiles kept per photo (default 5)\n"
            "      --near LON,LAT     only consider tiles whose centre is within --radius\n"
            "      --radius M           metres of this point (degrees WGS84)\n"
            "      --prior gps[=M]    search each photo only within M metres of its own GPS\n"
            "                         position (default M: 3 x its GPSHPositioningError, or\n"
            "                         15 x its GPSDOP, at least 30; else 150); photos without\n"
            "                         GPS, or whose window holds no tile, use --near or all\n"
            "  --refine auto|on|off   estimate below the tile stride from tiles cut from the\n"
            "                         indexed raster (auto: on for a cheap model, the demo's)\n"
            "      --refine-tiles N   tiles cut per photo at most (default 16)\n"
            "      --ranking WHERE    auto, local or server: where every tile is scored; server:\n"
            "                         a PostgreSQL database with the transgeo extension ranks\n"
            "                         (each shard its own top k) and only the tiles an answer\n"
            "                         needs are read (auto: server on shards, else local)\n"
            "  -m, --model NAME       model registered in DB (default: the only one)\n"
            "  -j, --threads N        photos embedded at once (default: all cores)\n"
            CLI_BATCH_HELP
            CLI_CAMERA_HELP
            CLI_CODEC_HELP
            "  -q, --quiet            no progress bar and no summary\n"
            "      --progress=WHEN    auto (a bar when stderr is a terminal; default), json\n"
            "                         (one JSON object per line on stderr, for programs;\n"
            "                         see transgeo(1)) or none\n"
            "  -h, --help             show this help\n"
            "\n"
            "Examples:\n"
            "  transgeo locate photos/ --db town.sqlite -o located.gpkg\n"
            "  transgeo locate IMG_0001.jpg --db town.sqlite -k 1 -o -\n"
            "\n"
            "Exit status: 0 the batch completed (even if some photos failed: see the layer\n"
            "failures), 1 a fatal error (database missing, model mismatch, output not\n"
            "writable), 2 usage error.\n");
}

/* "LON,LAT" in degrees. */
static int parse_lonlat(const char *s, double *lon, double *lat)
{
    const char *comma = strchr(s, ',');
    if (!comma) return -1;
    char buf[128];
    size_t n = (size_t)(comma - s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *e1, *e2;
    *lon = strtod(buf, &e1);
    *lat = strtod(comma + 1, &e2);
    if (*e1 || e1 == buf || *e2 || e2 == comma + 1) return -1;
    if (!(*lon >= -180 && *lon <= 180 && *lat >= -90 && *lat <= 90)) return -1;
    return 0;
}

int cmd_locate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},      {"output", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 'k'},     {"near", required_argument, NULL, 'N'},
        {"radius", required_argument, NULL, 'R'},  {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"progress", required_argument, NULL, 'P'},
        {"prior", required_argument, NULL, OPT_PRIOR}, {"refine", required_argument, NULL, OPT_REFINE},
        {"refine-tiles", required_argument, NULL, OPT_REFINE_TILES}, CLI_BATCH_LONGOPT,
        {"codec", required_argument, NULL, OPT_CODEC}, {"ranking", required_argument, NULL, OPT_RANKING},
        {"help", no_argument, NULL, 'h'},          CLI_CAMERA_LONGOPTS,
        {NULL, 0, NULL, 0}};
    const char *db = NULL, *out = NULL;
    int quiet = 0, has_radius = 0, progress = CLI_PROGRESS_AUTO, c;
    int codec = -1; /* --codec: -1 = the model's own */
    tg_batch_opts o;
    tg_batch_opts_default(&o);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:o:k:m:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': out = optarg; break;
        case 'k':
            if (cli_parse_int(CMD, "-k", optarg, &o.k)) return TG_EXIT_USAGE;
            if (o.k < 1 || o.k > 1000) return cli_usage_error(CMD, "-k: expected 1..1000");
            break;
        case 'N':
            if (parse_lonlat(optarg, &o.near_lon, &o.near_lat))
                return cli_usage_error(CMD, "--near '%s': expected LON,LAT in degrees "
                                       "(e.g. --near 13.4003,52.5189)", optarg);
            o.has_near = 1;
            break;
        case 'R':
            if (cli_parse_double(CMD, "--radius", optarg, &o.radius_m)) return TG_EXIT_USAGE;
            if (o.radius_m <= 0) return cli_usage_error(CMD, "--radius: expected metres > 0");
            has_radius = 1;
            break;
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
        case OPT_BATCH: case OPT_RANKING:
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
    if (!out) return cli_usage_error(CMD, "no output: give -o OUT.gpkg, -o OUT.csv or -o -");
    if (!tg_batch_format_of(out))
        return cli_usage_error(CMD, "output '%s': name it *.gpkg (GeoPackage), *.csv, or - "
                               "(CSV on standard output)", out);
    if (o.has_near != has_radius)
        return cli_usage_error(CMD, o.has_near ? "--near needs --radius M (metres)"
                                               : "--radius needs --near LON,LAT");
    if (optind >= argc) return cli_usage_error(CMD, "no photo given (PHOTO, DIR or @LIST)");

    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx) != 0) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    tg_ctx_set_codec(ctx, codec);
    int to_stdout = tg_batch_format_of(out) == TG_BATCH_STDOUT;
    cli_progress bar;
    cli_progress_init_mode(&bar, "photos", quiet, progress);
    cli_sig_install();
    o.progress = cli_sig_progress;
    o.progress_user = &bar;
    tg_batch_summary s;
    int rc = tg_batch_locate(ctx, db, (const char *const *)argv + optind, (size_t)(argc - optind),
                             out, &o, &s);
    cli_progress_end(&bar);
    int status = TG_EXIT_OK;
    if (rc) {
        cli_error(CMD, "%s", tg_errmsg(ctx));
        status = rc == TG_EINVAL ? TG_EXIT_USAGE : TG_EXIT_ERROR;
    }
    if (!quiet && (rc == 0 || s.n_located || s.n_failed)) {
        /* the summary goes where it does not mix with the data */
        FILE *f = to_stdout ? stderr : stdout;
        fprintf(f, "%ld located, %ld failed", s.n_located, s.n_failed);
        if (s.n_failed)
            fprintf(f, " (see %s)", tg_batch_format_of(out) == TG_BATCH_GPKG
                                        ? "layer failures"
                                        : "the rows with an error");
        if (s.n_skipped) fprintf(f, ", %ld already in %s", s.n_skipped, out);
        fputc('\n', f);
        fflush(f);
    }
    tg_ctx_free(ctx);
    return status;
}
