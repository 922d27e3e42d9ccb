/*
 * cmd_index.c - `transgeo index RASTER... --db DB`: tile, embed and store
 * aerial rasters (tg_store_index_raster), resumably.
 */
#include "config.h"
#include "cli.h"
#include "cli_sig.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "transgeo/model.h"
#include "transgeo/store.h"
#include "transgeo/store_pg.h"

static const char *const CMD = "index";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: transgeo index RASTER... --db DB [OPTIONS]\n"
            "Cut aerial rasters into tiles, embed each tile with the model's aerial\n"
            "encoder and store footprints and embeddings in the database DB (a SpatiaLite\n"
            "file, created if missing, or a PostgreSQL/PostGIS database, where any number\n"
            "of index commands may work on the same rasters at once). Interrupted runs\n"
            "resume: a rerun adds only the missing tiles, and a finished raster is\n"
            "skipped without reading a pixel.\n"
            "\n"
            "Options:\n"
            "  -d, --db DB          the database (required): a SQLite file, or a\n"
            "                       postgresql://USER@HOST:PORT/DBNAME URI (transgeo(1))\n"
            "  -m, --model M        a model file (.safetensors, registered under its base\n"
            "                       name) or the name of a model registered in DB; default:\n"
            "                       the model registered in DB when there is exactly one,\n"
            "                       else $TG_MODEL, else the installed demo model\n"
            "                       %s,\n"
            "                       else the source tree's\n"
            "                       %s\n"
            "      --tile-m M       tile width in metres (default: the model's aerial_tile_m)\n"
            "      --stride-m M     metres between neighbouring tiles (default: half a tile)\n"
            "      --gsd-m M        metres per tile pixel (default: the model's aerial_gsd_m)\n"
            "      --embed-group N  tiles per encoder pass, 1-64 (default 1; a resumed run\n"
            "                       stores the same bits as an uninterrupted one)\n"
            "      --codec C        store the model's embeddings also as f16 or int8 (searched\n"
            "                       compactly, re-ranked in f32) or f32 only (the default);\n"
            "                       kept for the model, with its matrix file beside DB\n"
            "  -j, --threads N      threads for the encoder and the warper (default: all cores)\n"
            "  -q, --quiet          no progress bar and no per-raster summary\n"
            "      --progress=WHEN  auto (a bar when stderr is a terminal; default), json\n"
            "                       (one JSON object per line on stderr, for programs;\n"
            "                       see transgeo(1)) or none\n"
            "  -h, --help           show this help\n"
            "\n"
            "Example:\n"
            "  transgeo index ortho_2018.tif ortho_2020.tif --db town.sqlite\n"
            "\n"
            "Exit status: 0 all rasters indexed, 1 an error (the others are still indexed),\n"
            "2 usage error.\n",
            cli_demo_model_installed() ? cli_demo_model_installed() : "(none built in)",
            cli_demo_model_source() ? cli_demo_model_source() : "(none built in)");
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Number of registered models, or -1 (message set) on a database error. */
static int n_models(tg_ctx *ctx, tg_store *st)
{
    tg_store_model *list = NULL;
    size_t n = 0;
    if (tg_store_model_list(ctx, st, &list, &n)) return -1;
    free(list);
    return (int)n;
}

/* The registered model whose tensor data has this sha256, if any (the first
 * registered, as ids go). [out] name (cap bytes). Returns 1 found, 0 not, -1
 * error. */
static int model_by_sha(tg_ctx *ctx, tg_store *st, const char *sha, char *name, size_t cap)
{
    tg_store_model *list = NULL;
    size_t n = 0;
    if (tg_store_model_list(ctx, st, &list, &n)) return -1;
    const tg_store_model *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].sha256, sha) == 0 && (!best || list[i].id < best->id)) best = &list[i];
    if (best) snprintf(name, cap, "%s", best->name);
    free(list);
    return best ? 1 : 0;
}

/* Register the model file at path (unless the same model data is registered
 * already, under any name). [out] name: the registered name. */
static int register_file(tg_ctx *ctx, tg_store *st, const char *path, char *name, size_t cap)
{
    tg_model *m = NULL;
    int rc = tg_model_load(ctx, path, &m);
    if (rc) return rc;
    const char *sha = tg_model_config_get(m)->sha256;
    int found = sha && *sha ? model_by_sha(ctx, st, sha, name, cap) : 0;
    /* A file recognised by the sha256 its metadata claims must have those
     * weights: a corrupt copy of a registered model is refused, not quietly
     * replaced by the registered file (a new file is verified when
     * tg_store_model_register registers it). */
    if (found > 0 && (rc = tg_model_verify(ctx, m, NULL)) != 0)
        tg_append_error(ctx, "refusing to use it (model '%s' in the database has the weights it "
                             "should have): copy, download or convert the model again", name);
    tg_model_free(m);
    if (rc) return rc;
    if (found < 0) return TG_EDB;
    if (found) return 0;
    /* the name: the file's base name without .safetensors */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(name, cap, "%s", base);
    size_t n = strlen(name);
    if (n > 12 && !strcmp(name + n - 12, ".safetensors")) name[n - 12] = '\0';
    if (!*name) snprintf(name, cap, "model");
    /* store an absolute path: the database is used from other directories */
    char *abs = realpath(path, NULL);
    rc = tg_store_model_register(ctx, st, name, abs ? abs : path, NULL);
    free(abs);
    return rc;
}

/* The model to index with: --model, else the only registered one, else the
 * file of the one default-model resolver (cli_default_model). [out] name. */
static int choose_model(tg_ctx *ctx, tg_store *st, const char *opt, char *name, size_t cap)
{
    if (opt) {
        if (is_file(opt)) return register_file(ctx, st, opt, name, cap);
        tg_store_model m;
        int rc = tg_store_model_find(ctx, st, opt, &m);
        if (rc == TG_ENOTFOUND)
            return tg_set_error(ctx, TG_ENOTFOUND,
                                "--model '%s' is neither a model file nor a model registered in "
                                "the database (%s)",
                                opt, tg_errmsg(ctx));
        if (rc) return rc;
        snprintf(name, cap, "%s", m.name);
        return 0;
    }
    int n = n_models(ctx, st);
    if (n < 0) return TG_EDB;
    if (n == 1) {
        tg_store_model m;
        int rc = tg_store_model_find(ctx, st, NULL, &m);
        if (rc) return rc;
        snprintf(name, cap, "%s", m.name);
        return 0;
    }
    if (n > 1) {
        tg_store_model m;
        int rc = tg_store_model_find(ctx, st, NULL, &m); /* its message lists the names */
        if (rc) return tg_set_error(ctx, rc, "%s; choose one with --model NAME", tg_errmsg(ctx));
        snprintf(name, cap, "%s", m.name);
        return 0;
    }
    char why[1200];
    const char *path = cli_default_model(why, sizeof why);
    if (!path)
        return tg_set_error(ctx, TG_ENOTFOUND, "no model: the database has none registered and %s; give one "
                            "with --model FILE.safetensors", why);
    return register_file(ctx, st, path, name, cap);
}

int cmd_index(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},      {"model", required_argument, NULL, 'm'},
        {"tile-m", required_argument, NULL, 'T'},  {"stride-m", required_argument, NULL, 'S'},
        {"gsd-m", required_argument, NULL, 'G'},   {"embed-group", required_argument, NULL, 'E'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"progress", required_argument, NULL, 'P'}, {"codec", required_argument, NULL, OPT_CODEC},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *db = NULL, *model = NULL;
    double tile_m = 0, stride_m = 0, gsd_m = 0;
    int threads = 0, quiet = 0, embed_group = 0, progress = CLI_PROGRESS_AUTO, c;
    int codec = -1; /* --codec: -1 = keep the model's */
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:m:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'm': model = optarg; break;
        case 'T':
            if (cli_parse_double(CMD, "--tile-m", optarg, &tile_m)) return TG_EXIT_USAGE;
            if (tile_m <= 0) return cli_usage_error(CMD, "--tile-m: expected metres > 0");
            break;
        case 'S':
            if (cli_parse_double(CMD, "--stride-m", optarg, &stride_m)) return TG_EXIT_USAGE;
            if (stride_m <= 0) return cli_usage_error(CMD, "--stride-m: expected metres > 0");
            break;
        case 'G':
            if (cli_parse_double(CMD, "--gsd-m", optarg, &gsd_m)) return TG_EXIT_USAGE;
            if (gsd_m <= 0) return cli_usage_error(CMD, "--gsd-m: expected metres > 0");
            break;
        case 'E':
            if (cli_parse_int(CMD, "--embed-group", optarg, &embed_group)) return TG_EXIT_USAGE;
            if (embed_group < 1 || embed_group > TG_INDEX_EMBED_GROUP_MAX)
                return cli_usage_error(CMD, "--embed-group: expected 1 to %d tiles",
                                       TG_INDEX_EMBED_GROUP_MAX);
            break;
        case 'j':
            if (cli_parse_int(CMD, "--threads", optarg, &threads)) return TG_EXIT_USAGE;
            if (threads < 1) return cli_usage_error(CMD, "--threads: expected 1 or more");
            break;
        case 'q': quiet = 1; break;
        case 'P':
            if (cli_parse_progress(CMD, optarg, &progress)) return TG_EXIT_USAGE;
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
    if (optind >= argc) return cli_usage_error(CMD, "no raster given");

    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    int status = TG_EXIT_OK, n_failed = 0, n_rasters = argc - optind;
    char name[256];
    if (tg_ctx_create(&ctx) != 0) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    if (threads) tg_ctx_set_threads(ctx, threads);
    cli_sig_install();
    if (tg_store_open(ctx, db, TG_STORE_CREATE, &st) != 0 ||
        choose_model(ctx, st, model, name, sizeof name) != 0) {
        status = cli_fail(CMD, ctx);
        goto done;
    }
    for (int i = optind; i < argc; i++) {
        const char *path = argv[i];
        cli_progress bar;
        cli_progress_init_mode(&bar, "tiles", quiet, progress);
        bar.item = i - optind + 1;
        bar.items = n_rasters;
        tg_store_index_opts o;
        tg_store_index_opts_default(&o);
        o.model = name;
        o.tile_m = tile_m;
        o.stride_m = stride_m;
        o.gsd_m = gsd_m;
        if (embed_group) o.embed_group = embed_group;
        o.progress = cli_sig_progress;
        o.progress_user = &bar;
        tg_store_index_result r;
        memset(&r, 0, sizeof r);
        int rc = tg_store_index_raster(ctx, st, path, &o, &r);
        cli_progress_end(&bar);
        if (rc == TG_ECANCEL && cli_sig_interrupted()) {
            cli_error(CMD, "interrupted: %lld tiles of '%s' were stored; run the same command "
                      "again to resume", r.n_added, path);
            status = TG_EXIT_ERROR;
            goto done;
        }
        if (rc) {
            cli_error(CMD, "%s", tg_errmsg(ctx));
            n_failed++;
            continue;
        }
        if (!quiet)
            printf("%s: %lld tiles added, %lld already present, %lld in the database "
                   "(model %s, tile %.2f m, stride %.2f m)\n",
                   path, r.n_added, r.n_present, r.n_tiles, name, r.tile_m, r.stride_m);
    }
    /* The tiles' matrix file (store.h) beside DB, with the model's codec, so
     * that the first locate maps it instead of building it. A PostgreSQL
     * database has no matrix file: only the codec is stored (each parallel
     * worker loading every tile here would be wasted). */
    {
        tg_store_model m;
        const tg_tileset *ts = NULL;
        if (tg_store_model_find(ctx, st, name, &m) != 0 ||
            (codec >= 0 && tg_store_model_set_codec(ctx, st, &m, codec) != 0) ||
            (!tg_store_on_pg(st) && tg_store_tileset(ctx, st, &m, &ts) != 0)) {
            cli_error(CMD, "%s", tg_errmsg(ctx));
            status = TG_EXIT_ERROR;
            goto done;
        }
    }
    if (n_failed) {
        if (n_rasters > 1) cli_error(CMD, "%d of %d rasters failed", n_failed, n_rasters);
        status = TG_EXIT_ERROR;
    }
done:
    fflush(stdout);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return status;
}
