/*
 * cmd_tiles.c - `transgeo tiles RASTER -o DIR`: cut a raster into north-up
 * aerial tiles (tilecache.h) and write them as GeoTIFF, or PNG with a world
 * file (.pgw) and a .aux.xml holding the CRS, plus a footprint layer
 * (GeoPackage, or GeoJSON) in EPSG:4326 with one polygon per tile.
 */
#define _GNU_SOURCE /* struct stat64 for GDAL's VSIStatBufL */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

static const char *CMD = "tiles";

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: transgeo tiles [OPTIONS] RASTER -o DIR\n"
        "\n"
        "Cut RASTER (any raster GDAL reads) into north-up square tiles of TILE_M metres\n"
        "at GSD_M metres per pixel, in the raster's CRS when it is projected in metres,\n"
        "else in the UTM zone of its centre (Norway/Svalbard exceptions; UPS beyond 84N\n"
        "and 80S, where only rasters near 0E/180E are north-up), and write them to DIR\n"
        "with a footprint layer.\n"
        "Tiles with more than --max-nodata of nodata/masked/transparent pixels are skipped.\n"
        "\n"
        "Options:\n"
        "  -o, --output DIR        directory for the tiles (created if missing)\n"
        "      --tile-m M          tile width and height in metres (default 64)\n"
        "      --gsd-m M           metres per pixel (default 0.5: 64 m = 128 px)\n"
        "      --stride-m M        distance between tiles in metres (default tile-m / 2)\n"
        "  -f, --format FMT        tif: GeoTIFF with CRS (default); png: PNG + .pgw world\n"
        "                          file + .aux.xml (CRS); none: footprints only\n"
        "  -r, --resampling R      bilinear (default), cubic, lanczos, near, average\n"
        "      --max-nodata S      skip tiles with a larger invalid share, 0..1 (default 0.5)\n"
        "  -b, --bands R,G,B       source bands for red, green, blue (1-based), or one\n"
        "                          band B for grey (default: from colour interpretation)\n"
        "      --stretch MODE      auto (default: none for Byte, else percent), none,\n"
        "                          minmax, percent[:LO,HI] (default 2,98), range:MIN,MAX\n"
        "      --t-srs CRS         working CRS instead of the automatic one (projected,\n"
        "                          metres; e.g. EPSG:32613)\n"
        "      --footprints FILE   footprint layer (default DIR/footprints.gpkg; a name\n"
        "                          ending in .geojson or .json writes GeoJSON)\n"
        "      --max-mem MB        strip buffer budget in MiB (default 256)\n"
        "      --threads N         warper threads (default: all cores)\n"
        "  -n, --dry-run           print the plan (CRS, bands, stretch, grid) and stop\n"
        "  -q, --quiet             no plan, no summary, no progress bar\n"
        "  -h, --help              show this help\n"
        "\n"
        "Tiles are named rROW_cCOL.tif/.png; the grid is anchored at multiples of the\n"
        "stride in the working CRS, so the same raster always gives the same tiles.\n"
        "Footprint attributes: col, row, center_lon, center_lat, file, win_xoff,\n"
        "win_yoff, win_xsize, win_ysize (source pixel window), valid_share, work_epsg.\n"
        "Exit status: 0 ok, 1 error, 2 usage error.\n");
}

/* "1,2,3" or "4" -> bands. */
static int parse_bands(const char *s, int bands[3])
{
    int v[3], n = 0;
    const char *p = s;
    while (n < 3) {
        char *end = NULL;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > 65535) return -1;
        v[n++] = (int)x;
        if (*end == '\0') break;
        if (*end != ',') return -1;
        p = end + 1;
    }
    if (n == 1) v[1] = v[2] = v[0];
    else if (n != 3 || strchr(p, ',')) return -1;
    memcpy(bands, v, sizeof v);
    return 0;
}

/* "A,B" -> two doubles. */
static int parse_pair(const char *s, double *a, double *b)
{
    char *end = NULL;
    *a = strtod(s, &end);
    if (end == s || *end != ',') return -1;
    const char *p = end + 1;
    *b = strtod(p, &end);
    if (end == p || *end || !isfinite(*a) || !isfinite(*b)) return -1;
    return 0;
}

static int parse_stretch(const char *s, tg_tile_options *o)
{
    double a, b;
    if (!strcmp(s, "auto")) o->stretch = TG_STRETCH_AUTO;
    else if (!strcmp(s, "none")) o->stretch = TG_STRETCH_NONE;
    else if (!strcmp(s, "minmax")) o->stretch = TG_STRETCH_MINMAX;
    else if (!strcmp(s, "percent")) o->stretch = TG_STRETCH_PERCENT;
    else if (!strncmp(s, "percent:", 8) && !parse_pair(s + 8, &a, &b) && a >= 0 && a < b && b <= 100) {
        o->stretch = TG_STRETCH_PERCENT;
        o->percent_lo = a;
        o->percent_hi = b;
    } else if (!strncmp(s, "range:", 6) && !parse_pair(s + 6, &a, &b) && a < b) {
        o->stretch = TG_STRETCH_RANGE;
        for (int c = 0; c < 3; c++) {
            o->range_lo[c] = a;
            o->range_hi[c] = b;
        }
    } else
        return -1;
    return 0;
}

static const char *epsg_str(int code, char *buf, size_t n)
{
    if (code) snprintf(buf, n, "EPSG:%d", code);
    else snprintf(buf, n, "(no EPSG code)");
    return buf;
}

static void print_plan(FILE *f, const tg_tiler_info *in)
{
    char e1[32], e2[32];
    fprintf(f, "raster: %s (%d x %d px, %d band(s), %s)\n", in->path, in->raster_width, in->raster_height,
            in->raster_bands, in->data_type);
    fprintf(f, "crs: %s %s\n", epsg_str(in->src_epsg, e1, sizeof e1), in->src_crs_name);
    fprintf(f, "working crs: %s %s\n", epsg_str(in->work_epsg, e2, sizeof e2), in->work_crs_name);
    fprintf(f, "working crs reason: %s\n", in->work_crs_reason);
    if (in->rotated) fprintf(f, "geotransform: rotated/sheared, warped to north-up\n");
    fprintf(f, "centre: lon %.7f lat %.7f\n", in->center_lon, in->center_lat);
    fprintf(f, "bands: %s\n", in->band_reason);
    fprintf(f, "validity: %s\n", in->validity);
    if (in->stretch == TG_STRETCH_NONE)
        fprintf(f, "stretch: none\n");
    else
        fprintf(f, "stretch: %s: R %.6g..%.6g, G %.6g..%.6g, B %.6g..%.6g -> 0..255\n",
                tg_stretch_name(in->stretch), in->stretch_lo[0], in->stretch_hi[0], in->stretch_lo[1],
                in->stretch_hi[1], in->stretch_lo[2], in->stretch_hi[2]);
    if (in->overview >= 0)
        fprintf(f, "source: %.4g m/px, read from overview %d\n", in->src_res_m, in->overview);
    else
        fprintf(f, "source: %.4g m/px, read at full resolution\n", in->src_res_m);
    fprintf(f, "resampling: %s, warp scale -wo XSCALE=%.17g -wo YSCALE=%.17g\n",
            tg_resampling_name(in->resampling), in->xscale, in->yscale);
    fprintf(f, "tile: %.6g m = %d px at %.6g m/px, stride %.6g m = %d px, skip above %.3g nodata\n", in->tile_m,
            in->tile_px, in->gsd_m, in->stride_m, in->stride_px, in->max_nodata_share);
    fprintf(f, "grid: %d x %d tiles from (%.3f, %.3f), %lld with their centre inside the raster\n", in->n_cols,
            in->n_rows, in->grid_x0, in->grid_y0, in->n_estimated);
    fprintf(f, "memory: %.1f MiB of buffers, %d tile column(s) per strip\n", in->buffer_bytes / 1048576.0,
            in->cols_per_strip);
}

enum { FMT_TIF, FMT_PNG, FMT_NONE };

struct writer {
    tg_ctx *ctx;
    const char *dir;
    int format;
    GDALDriverH drv;          /* GTiff or PNG */
    OGRSpatialReferenceH srs; /* working CRS, for the tile files */
    GDALDatasetH fp_ds;       /* footprint dataset */
    OGRLayerH layer;
    long long n_written;
    int in_transaction;
};

static int write_tile_image(struct writer *w, const tg_tile *t, const char *path)
{
    GDALDatasetH out = NULL;
    int rc = 0;
    if (w->format == FMT_TIF) {
        /* Create + RasterIO: no intermediate dataset; the CRS handle is built once. */
        char *co[] = {"COMPRESS=DEFLATE", "PHOTOMETRIC=RGB", NULL};
        out = GDALCreate(w->drv, path, t->width, t->height, 3, GDT_Byte, co);
        if (out && (GDALSetGeoTransform(out, (double *)t->geotransform) != CE_None ||
                    GDALSetSpatialRef(out, w->srs) != CE_None ||
                    GDALDatasetRasterIO(out, GF_Write, 0, 0, t->width, t->height, (void *)t->rgb, t->width,
                                        t->height, GDT_Byte, 3, NULL, 3, t->width * 3, 1) != CE_None)) {
            GDALClose(out);
            out = NULL;
        }
    } else {
        /* PNG has CreateCopy only: wrap the tile in a MEM dataset (no copy). */
        GDALDriverH mem = GDALGetDriverByName("MEM");
        GDALDatasetH src = mem ? GDALCreate(mem, "", t->width, t->height, 0, GDT_Byte, NULL) : NULL;
        if (!src) return tg_set_error(w->ctx, TG_ENOMEM, "tile '%s': cannot create an image buffer", path);
        for (int c = 0; c < 3; c++) {
            char p[64], lo[48];
            snprintf(p, sizeof p, "DATAPOINTER=%p", (void *)(t->rgb + c));
            snprintf(lo, sizeof lo, "LINEOFFSET=%d", t->width * 3);
            char *bo[] = {p, "PIXELOFFSET=3", lo, NULL};
            GDALAddBand(src, GDT_Byte, bo);
            GDALSetRasterColorInterpretation(GDALGetRasterBand(src, c + 1), GCI_RedBand + c);
        }
        GDALSetGeoTransform(src, (double *)t->geotransform);
        GDALSetSpatialRef(src, w->srs);
        out = GDALCreateCopy(w->drv, path, src, FALSE, NULL, NULL, NULL); /* CRS goes to .aux.xml */
        GDALClose(src);
        if (out && !GDALWriteWorldFile(path, "pgw", (double *)t->geotransform)) {
            GDALClose(out);
            out = NULL;
        }
    }
    if (!out) {
        rc = tg_set_error(w->ctx, TG_EIO, "tile '%s' cannot be written (disk full? permissions?)", path);
        tg_append_error(w->ctx, "%s", CPLGetLastErrorMsg());
    } else {
        CPLErrorReset();
        GDALClose(out); /* flushes: a write error shows up as a CPL error */
        if (CPLGetLastErrorType() >= CE_Failure) {
            rc = tg_set_error(w->ctx, TG_EIO, "tile '%s' cannot be written (disk full?)", path);
            tg_append_error(w->ctx, "%s", CPLGetLastErrorMsg());
        }
    }
    return rc;
}

static int on_tile(const tg_tile *t, void *user)
{
    struct writer *w = user;
    char name[64], path[4096];
    snprintf(name, sizeof name, "r%05d_c%05d.%s", t->row, t->col, w->format == FMT_PNG ? "png" : "tif");
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    int rc;
    if (w->format != FMT_NONE && (rc = write_tile_image(w, t, path))) return rc;

    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(w->layer));
    OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing), poly = OGR_G_CreateGeometry(wkbPolygon);
    /* Counter-clockwise exterior ring (RFC 7946): UL, LL, LR, UR, UL; x = lon, y = lat. */
    static const int order[5] = {0, 3, 2, 1, 0};
    for (int i = 0; i < 5; i++)
        OGR_G_AddPoint_2D(ring, t->corners_lonlat[order[i]][0], t->corners_lonlat[order[i]][1]);
    OGR_G_AddGeometryDirectly(poly, ring);
    OGR_F_SetGeometryDirectly(f, poly);
    OGR_F_SetFieldInteger(f, 0, t->col);
    OGR_F_SetFieldInteger(f, 1, t->row);
    OGR_F_SetFieldDouble(f, 2, t->center_lon);
    OGR_F_SetFieldDouble(f, 3, t->center_lat);
    if (w->format != FMT_NONE) OGR_F_SetFieldString(f, 4, name);
    OGR_F_SetFieldInteger(f, 5, t->src_xoff);
    OGR_F_SetFieldInteger(f, 6, t->src_yoff);
    OGR_F_SetFieldInteger(f, 7, t->src_xsize);
    OGR_F_SetFieldInteger(f, 8, t->src_ysize);
    OGR_F_SetFieldDouble(f, 9, t->valid_share);
    OGR_F_SetFieldInteger(f, 10, t->work_epsg);
    OGRErr e = OGR_L_CreateFeature(w->layer, f);
    OGR_F_Destroy(f);
    if (e != OGRERR_NONE) {
        tg_set_error(w->ctx, TG_EIO, "footprint of tile (col %d, row %d) cannot be written", t->col, t->row);
        tg_append_error(w->ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    /* Commit in batches: bounded memory for the GeoPackage writer too. */
    if (++w->n_written % 2000 == 0 && w->in_transaction) {
        GDALDatasetCommitTransaction(w->fp_ds);
        GDALDatasetStartTransaction(w->fp_ds, FALSE);
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

static int open_footprints(struct writer *w, const char *path, const tg_tiler_info *in)
{
    int geojson = ends_with(path, ".geojson") || ends_with(path, ".json");
    GDALDriverH drv = GDALGetDriverByName(geojson ? "GeoJSON" : "GPKG");
    if (!drv) return tg_set_error(w->ctx, TG_EIO, "footprints '%s': GDAL has no %s driver", path,
                                  geojson ? "GeoJSON" : "GPKG");
    VSIStatBufL st;
    if (VSIStatL(path, &st) == 0 && VSIUnlink(path) != 0)
        return tg_set_error(w->ctx, TG_EIO, "footprints '%s' exists and cannot be replaced", path);
    w->fp_ds = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
    if (!w->fp_ds) {
        tg_set_error(w->ctx, TG_EIO, "footprints '%s' cannot be created", path);
        tg_append_error(w->ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    OGRSpatialReferenceH ll = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(ll, 4326);
    OSRSetAxisMappingStrategy(ll, OAMS_TRADITIONAL_GIS_ORDER);
    char *lco[] = {geojson ? "RFC7946=YES" : "SPATIAL_INDEX=YES", NULL};
    w->layer = GDALDatasetCreateLayer(w->fp_ds, "tiles", ll, wkbPolygon, lco);
    OSRRelease(ll);
    if (!w->layer) {
        tg_set_error(w->ctx, TG_EIO, "footprints '%s': cannot create layer 'tiles'", path);
        tg_append_error(w->ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    static const struct { const char *name; OGRFieldType type; } fields[] = {
        {"col", OFTInteger},      {"row", OFTInteger},       {"center_lon", OFTReal},
        {"center_lat", OFTReal},  {"file", OFTString},       {"win_xoff", OFTInteger},
        {"win_yoff", OFTInteger}, {"win_xsize", OFTInteger}, {"win_ysize", OFTInteger},
        {"valid_share", OFTReal}, {"work_epsg", OFTInteger}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        OGRFieldDefnH fd = OGR_Fld_Create(fields[i].name, fields[i].type);
        OGRErr e = OGR_L_CreateField(w->layer, fd, TRUE);
        OGR_Fld_Destroy(fd);
        if (e != OGRERR_NONE) {
            tg_set_error(w->ctx, TG_EIO, "footprints '%s': cannot create field '%s'", path, fields[i].name);
            return TG_EIO;
        }
    }
    if (!geojson) {
        char v[64];
        GDALSetMetadataItem(w->layer, "RASTER", in->path, NULL);
        snprintf(v, sizeof v, "%d", in->work_epsg);
        GDALSetMetadataItem(w->layer, "WORK_EPSG", v, NULL);
        GDALSetMetadataItem(w->layer, "WORK_CRS_WKT", in->work_wkt, NULL);
        snprintf(v, sizeof v, "%.17g", in->tile_m);
        GDALSetMetadataItem(w->layer, "TILE_M", v, NULL);
        snprintf(v, sizeof v, "%.17g", in->gsd_m);
        GDALSetMetadataItem(w->layer, "GSD_M", v, NULL);
        snprintf(v, sizeof v, "%.17g", in->stride_m);
        GDALSetMetadataItem(w->layer, "STRIDE_M", v, NULL);
        snprintf(v, sizeof v, "%.17g,%.17g", in->grid_x0, in->grid_y0);
        GDALSetMetadataItem(w->layer, "GRID_ORIGIN", v, NULL);
    }
    w->in_transaction = GDALDatasetStartTransaction(w->fp_ds, FALSE) == OGRERR_NONE;
    return 0;
}

int cmd_tiles(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"tile-m", required_argument, NULL, 'T'},
        {"gsd-m", required_argument, NULL, 'G'},    {"stride-m", required_argument, NULL, 'S'},
        {"format", required_argument, NULL, 'f'},   {"resampling", required_argument, NULL, 'r'},
        {"max-nodata", required_argument, NULL, 'N'}, {"bands", required_argument, NULL, 'b'},
        {"stretch", required_argument, NULL, 'X'},  {"t-srs", required_argument, NULL, 'C'},
        {"footprints", required_argument, NULL, 'F'}, {"max-mem", required_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 'J'},
        {"dry-run", no_argument, NULL, 'n'},        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    tg_tile_options o = tg_tile_options_default();
    const char *outdir = NULL, *fp_path = NULL;
    int format = FMT_TIF, dry = 0, quiet = 0, threads = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:f:r:b:nqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'T': if (cli_parse_double(CMD, "--tile-m", optarg, &o.tile_m)) return TG_EXIT_USAGE; break;
        case 'G': if (cli_parse_double(CMD, "--gsd-m", optarg, &o.gsd_m)) return TG_EXIT_USAGE; break;
        case 'S': if (cli_parse_double(CMD, "--stride-m", optarg, &o.stride_m)) return TG_EXIT_USAGE; break;
        case 'N':
            if (cli_parse_double(CMD, "--max-nodata", optarg, &o.max_nodata_share)) return TG_EXIT_USAGE;
            if (o.max_nodata_share < 0 || o.max_nodata_share > 1)
                return cli_usage_error(CMD, "--max-nodata: %s is not within 0..1", optarg);
            break;
        case 'M': if (cli_parse_double(CMD, "--max-mem", optarg, &o.max_buffer_mb)) return TG_EXIT_USAGE; break;
        case 'f':
            if (!strcmp(optarg, "tif") || !strcmp(optarg, "tiff") || !strcmp(optarg, "gtiff")) format = FMT_TIF;
            else if (!strcmp(optarg, "png")) format = FMT_PNG;
            else if (!strcmp(optarg, "none")) format = FMT_NONE;
            else return cli_usage_error(CMD, "--format: '%s' is not tif, png or none", optarg);
            break;
        case 'r':
            if (tg_resampling_parse(optarg, &o.resampling))
                return cli_usage_error(CMD, "--resampling: '%s' is not bilinear, cubic, lanczos, near or "
                                       "average", optarg);
            break;
        case 'b':
            if (parse_bands(optarg, o.bands))
                return cli_usage_error(CMD, "--bands: '%s' is not R,G,B (e.g. 3,2,1) or one band number",
                                       optarg);
            break;
        case 'X':
            if (parse_stretch(optarg, &o))
                return cli_usage_error(CMD, "--stretch: '%s' is not auto, none, minmax, percent[:LO,HI] or "
                                       "range:MIN,MAX", optarg);
            break;
        case 'J':
            if (cli_parse_int(CMD, "--threads", optarg, &threads)) return TG_EXIT_USAGE;
            if (threads < 1) return cli_usage_error(CMD, "--threads: %s is not a positive number", optarg);
            break;
        case 'C': o.target_crs = optarg; break;
        case 'F': fp_path = optarg; break;
        case 'n': dry = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return TG_EXIT_OK;
        case ':': return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(CMD, optind >= argc ? "a RASTER is required" : "one RASTER only, got %d",
                               argc - optind);
    if (!outdir && !dry) return cli_usage_error(CMD, "-o DIR is required");
    const char *raster = argv[optind];

    tg_ctx *ctx = NULL;
    tg_tiler *t = NULL;
    struct writer w;
    memset(&w, 0, sizeof w);
    char *fp_default = NULL;
    int ret = TG_EXIT_ERROR, rc;
    if (tg_ctx_create(&ctx)) {
        cli_error(CMD, "out of memory");
        return TG_EXIT_ERROR;
    }
    if (threads) tg_ctx_set_threads(ctx, threads);
    if ((rc = tg_tiles_open(ctx, raster, &o, &t))) {
        /* Bad option values are usage errors; bad data is an error. */
        cli_fail(CMD, ctx);
        ret = rc == TG_EINVAL ? TG_EXIT_USAGE : TG_EXIT_ERROR;
        goto done;
    }
    const tg_tiler_info *in = tg_tiler_get_info(t);
    if (!quiet || dry) print_plan(stdout, in);
    if (dry) {
        ret = TG_EXIT_OK;
        goto done;
    }
    CPLPushErrorHandler(CPLQuietErrorHandler);
    VSIStatBufL st;
    /* VSIMkdirRecursive fails on a relative name without a '/': try VSIMkdir first. */
    if (VSIStatL(outdir, &st) != 0 && VSIMkdir(outdir, 0755) != 0 && VSIMkdirRecursive(outdir, 0755) != 0) {
        CPLPopErrorHandler();
        cli_error(CMD, "output directory '%s' cannot be created (%s)", outdir, strerror(errno));
        goto done;
    }
    if (VSIStatL(outdir, &st) != 0 || !VSI_ISDIR(st.st_mode)) {
        CPLPopErrorHandler();
        cli_error(CMD, "output '%s' is not a directory", outdir);
        goto done;
    }
    if (!fp_path) {
        size_t n = strlen(outdir) + 32;
        fp_default = malloc(n);
        if (!fp_default) {
            CPLPopErrorHandler();
            cli_error(CMD, "out of memory");
            goto done;
        }
        snprintf(fp_default, n, "%s/footprints.gpkg", outdir);
        fp_path = fp_default;
    }
    w.ctx = ctx;
    w.dir = outdir;
    w.format = format;
    w.drv = GDALGetDriverByName(format == FMT_PNG ? "PNG" : "GTiff");
    w.srs = OSRNewSpatialReference(NULL);
    if (!w.drv || !w.srs || OSRSetFromUserInput(w.srs, in->work_wkt) != OGRERR_NONE) {
        CPLPopErrorHandler();
        cli_error(CMD, "cannot set up the %s writer for %s", format == FMT_PNG ? "PNG" : "GeoTIFF",
                  in->work_crs_name);
        goto done;
    }
    OSRSetAxisMappingStrategy(w.srs, OAMS_TRADITIONAL_GIS_ORDER);
    if (open_footprints(&w, fp_path, in)) {
        CPLPopErrorHandler();
        cli_fail(CMD, ctx);
        goto done;
    }
    cli_progress p;
    cli_progress_init(&p, "tiles", quiet);
    rc = tg_tiles_run(ctx, t, on_tile, &w, cli_progress_cb, &p);
    cli_progress_end(&p);
    if (w.in_transaction) GDALDatasetCommitTransaction(w.fp_ds);
    CPLPopErrorHandler();
    if (rc) {
        cli_fail(CMD, ctx);
        goto done;
    }
    if (!quiet)
        printf("tiles: %lld written, %lld skipped (validity from %s), footprints: %s\n", w.n_written,
               in->n_grid - w.n_written, in->validity, fp_path);
    ret = TG_EXIT_OK;
done:
    if (w.fp_ds) GDALClose(w.fp_ds);
    if (w.srs) OSRRelease(w.srs);
    free(fp_default);
    tg_tiler_free(t);
    tg_ctx_free(ctx);
    return ret;
}
